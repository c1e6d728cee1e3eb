//! What Rebound's fuzz targets (`fuzz/fuzz_targets/`) share: fixtures built
//! once per process (a key ring and recorded resumptions, a recorded full
//! exchange with the keys of its SA), a reader that splits an input into
//! fields, SK payload sealing with a fixture's keys (so fuzzed plaintext
//! reaches what runs after decryption), and the seed writer.
//!
//! docs/FUZZING.md says how to run the targets and what each one feeds.

#![forbid(unsafe_code)]

pub mod full;
pub mod guard;
pub mod input;
pub mod resume;
pub mod seeds;
pub mod sk;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use rebound_engine::responder::PacketMeta;

/// The address every target's gateway listens on.
pub const GATEWAY: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 500);

/// A peer chosen by the input: one of 256 addresses, port 500 or 4500.
pub fn peer(selector: u8) -> PacketMeta {
    let port = if selector & 0x80 == 0 { 500 } else { 4500 };
    PacketMeta {
        peer: SocketAddr::new(
            IpAddr::V4(Ipv4Addr::new(198, 51, 100, selector & 0x7f)),
            port,
        ),
        local: GATEWAY,
    }
}
