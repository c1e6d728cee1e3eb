//! The ticket key file codec (`engine::ticket::keyfile`) on any text: a
//! file that parses must format and parse back to the same keys.

#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;
use rebound_engine::ticket::keyfile::{format_key_file, parse_key_file};
use rebound_fuzz::seeds;

fuzz_target!(
    init: seeds::write_if_asked(|_| {
        let ring = rebound_bench::resume::ring();
        vec![format_key_file(&ring).as_bytes().to_vec()]
    }),
    |data: &[u8]| {
        let Ok(text) = std::str::from_utf8(data) else {
            return;
        };
        let Ok(ring) = parse_key_file(text) else {
            return;
        };
        let formatted = format_key_file(&ring);
        let again = parse_key_file(&formatted)
            .unwrap_or_else(|e| panic!("a formatted key file does not parse: {e}"));
        assert_eq!(
            *format_key_file(&again),
            *formatted,
            "format(parse(format(ring))) != format(ring)"
        );
    }
);
