//! Rebound's crypto kernels: the work of a whole burst of resumptions done
//! at once, on the SIMD units the CPU has.
//!
//! | module | concept |
//! | --- | --- |
//! | `cpu` | which kernels this CPU can run, which one is fastest (measured at first use), and the portable override |
//! | `sha1` | SHA-1 of many already-padded single blocks (the NAT-D hashes of a burst) |
//! | `sha256` | multi-buffer SHA-256: many independent messages hashed together |
//! | `hmac` | HMAC-SHA256 with precomputed key states, prf and prf+ over a batch |
//! | `gcm` | AES-256-GCM seal and open of many messages under one key |
//!
//! Every kernel has a portable fallback built on the RustCrypto crates, and
//! every kernel is tested bit for bit against those crates. Setting
//! `REBOUND_KERNELS=portable` in the environment forces the fallback (CI
//! runs the tests once that way, so both paths are tested on every push).
//!
//! This crate is one of the three places where `unsafe` is allowed
//! (docs/ARCHITECTURE.md, "Where unsafe lives"): the intrinsics. Every
//! public function is safe; each `unsafe` block says why it is sound, which
//! is almost always "the CPU feature this function is compiled for was
//! detected at run time".

#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

mod calibrate;
pub mod cpu;
pub mod gcm;
pub mod hmac;
pub mod sha1;
pub mod sha256;
