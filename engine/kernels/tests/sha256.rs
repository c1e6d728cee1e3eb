//! The multi-buffer SHA-256 against the sha2 crate, kernel by kernel.

use rebound_kernels::cpu;
use rebound_kernels::sha256::{
    self, IV, Sha256Kernel, compress_many_with, sha256_many, sha256_many_with,
};
use sha2::{Digest, Sha256};

mod common;
use common::Rng;

/// Cuts `m` into 1 to 4 parts (some possibly empty) at random places.
fn split<'a>(rng: &mut Rng, m: &'a [u8]) -> Vec<&'a [u8]> {
    let cuts = rng.below(4);
    let mut at: Vec<usize> = (0..cuts).map(|_| rng.below(m.len() + 1)).collect();
    at.sort_unstable();
    let mut parts = Vec::new();
    let mut prev = 0;
    for c in at {
        parts.push(&m[prev..c]);
        prev = c;
    }
    parts.push(&m[prev..]);
    parts
}

fn kernels() -> Vec<Sha256Kernel> {
    Sha256Kernel::available().collect()
}

/// Hashes `msgs` (split into random parts) with `k` (None: the calibrated
/// choice) and compares with the sha2 crate.
fn check(rng: &mut Rng, k: Option<Sha256Kernel>, msgs: &[Vec<u8>]) {
    let parts: Vec<Vec<&[u8]>> = msgs.iter().map(|m| split(rng, m)).collect();
    let refs: Vec<&[&[u8]]> = parts.iter().map(|p| p.as_slice()).collect();
    let mut out = vec![[0u8; 32]; msgs.len()];
    match k {
        Some(k) => sha256_many_with(k, &refs, &mut out),
        None => sha256_many(&refs, &mut out),
    }
    for (i, m) in msgs.iter().enumerate() {
        let want: [u8; 32] = Sha256::digest(m).into();
        assert_eq!(
            out[i],
            want,
            "kernel {k:?}, message {i} of {} bytes",
            m.len()
        );
    }
}

#[test]
fn every_length_0_to_300_alone_and_mixed() {
    let mut rng = Rng(1);
    for k in kernels() {
        // Every length in a batch of width + 1 messages of that length.
        for len in 0..=300 {
            let msgs: Vec<Vec<u8>> = (0..k.width() + 1).map(|_| rng.bytes(len)).collect();
            check(&mut rng, Some(k), &msgs);
        }
        // Every length in one batch, shuffled.
        let mut msgs: Vec<Vec<u8>> = (0..=300).map(|len| rng.bytes(len)).collect();
        for i in (1..msgs.len()).rev() {
            msgs.swap(i, rng.below(i + 1));
        }
        check(&mut rng, Some(k), &msgs);
    }
}

#[test]
fn every_batch_size_1_to_64_mixed_lengths() {
    let mut rng = Rng(2);
    for k in kernels().into_iter().map(Some).chain([None]) {
        for n in 1..=64 {
            let msgs: Vec<Vec<u8>> = (0..n)
                .map(|_| {
                    let l = rng.below(301);
                    rng.bytes(l)
                })
                .collect();
            check(&mut rng, k, &msgs);
        }
    }
}

#[test]
fn long_and_short_messages_together() {
    let mut rng = Rng(3);
    for k in kernels().into_iter().map(Some).chain([None]) {
        let msgs: Vec<Vec<u8>> = (0..40)
            .map(|i| {
                let l = if i % 7 == 0 {
                    2000 + rng.below(3000)
                } else {
                    rng.below(130)
                };
                rng.bytes(l)
            })
            .collect();
        check(&mut rng, k, &msgs);
    }
}

fn unhex(s: &str) -> [u8; 32] {
    hex::decode(s).unwrap().try_into().unwrap()
}

#[test]
fn nist_examples() {
    let million = vec![b'a'; 1_000_000];
    // The million 'a' in 1000 parts of 1000 bytes: blocks straddle parts.
    let million_parts: Vec<&[u8]> = million.chunks(1000).collect();
    let abc: &[&[u8]] = &[b"abc"];
    let two: &[&[u8]] = &[b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"];
    let empty: &[&[u8]] = &[];
    let cases: [(&[&[u8]], &str); 4] = [
        (
            abc,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        ),
        (
            two,
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
        ),
        (
            empty,
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ),
        (
            &million_parts,
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
        ),
    ];
    // The expected digests agree with the sha2 crate.
    for (parts, want) in &cases {
        let mut h = Sha256::new();
        for p in *parts {
            h.update(p);
        }
        assert_eq!(<[u8; 32]>::from(h.finalize()), unhex(want));
    }
    let msgs: Vec<&[&[u8]]> = cases.iter().map(|c| c.0).collect();
    for k in kernels() {
        let mut out = [[0u8; 32]; 4];
        sha256_many_with(k, &msgs, &mut out);
        for (o, (_, want)) in out.iter().zip(&cases) {
            assert_eq!(*o, unhex(want), "kernel {k:?}");
        }
    }
    let mut out = [[0u8; 32]; 4];
    sha256_many(&msgs, &mut out);
    for (o, (_, want)) in out.iter().zip(&cases) {
        assert_eq!(*o, unhex(want));
    }
}

#[test]
fn compress_many_matches_compress256() {
    let mut rng = Rng(4);
    for k in kernels() {
        for n in [1, 2, 3, 5, 8, 15, 16, 17, 33] {
            let blocks: Vec<[u8; 64]> = (0..n).map(|_| rng.bytes(64).try_into().unwrap()).collect();
            let mut states: Vec<[u32; 8]> = (0..n)
                .map(|i| {
                    if i % 2 == 0 {
                        IV
                    } else {
                        core::array::from_fn(|_| rng.next() as u32)
                    }
                })
                .collect();
            let mut want = states.clone();
            for (s, b) in want.iter_mut().zip(&blocks) {
                sha2::compress256(s, &[(*b).into()]);
            }
            compress_many_with(k, &mut states, &blocks);
            assert_eq!(states, want, "kernel {k:?}, {n} blocks");
        }
    }
}

#[test]
fn calibration_covers_the_available_kernels() {
    let c = sha256::calibration();
    let measured: Vec<Sha256Kernel> = c.entries().map(|(k, _)| k).collect();
    assert_eq!(measured, kernels());
    assert!(c.entries().all(|(_, ns)| ns.is_finite() && ns > 0.0));
    assert!(c.chosen().is_available());
    assert_eq!(sha256::chosen(), c.chosen());
}

#[test]
fn unavailable_kernels_panic_instead_of_running() {
    for k in Sha256Kernel::ALL.into_iter().filter(|k| !k.is_available()) {
        let r = std::panic::catch_unwind(|| sha256_many_with(k, &[&[b"x"]], &mut [[0; 32]]));
        assert!(r.is_err(), "{k:?}");
    }
}

/// Runs in a child process with `REBOUND_KERNELS=portable` (see
/// `override_forces_portable`); does nothing otherwise.
#[test]
fn override_child() {
    if cpu::forced_portable() {
        assert_eq!(cpu::features(), cpu::Features::NONE);
        assert_eq!(kernels(), vec![Sha256Kernel::Portable]);
        assert_eq!(sha256::chosen(), Sha256Kernel::Portable);
    }
}

#[test]
fn override_forces_portable() {
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new(exe)
        .args(["--exact", "override_child", "--test-threads", "1"])
        .env(cpu::OVERRIDE_VAR, "portable")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("1 passed"), "{stdout}");
}

#[test]
fn print_calibration() {
    let t = std::time::Instant::now();
    let c = sha256::calibration();
    println!("calibration (or its wait) took {:?}", t.elapsed());
    for (k, ns) in c.entries() {
        println!("{:<12} {ns:7.2} ns/block", k.name());
    }
    println!("chosen: {:?}", sha256::chosen());
}
