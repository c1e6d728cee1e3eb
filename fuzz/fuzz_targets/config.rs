//! The gateway's configuration parser and validation
//! (`rebound_dataplane::config::parse_config`) on any text. Relative paths
//! resolve under a directory that does not exist, so nothing is read.

#![no_main]
#![forbid(unsafe_code)]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use rebound_dataplane::config::parse_config;
use rebound_fuzz::seeds;

/// The example configuration shipped in docs/, and short ones.
const EXAMPLE: &str = include_str!("../../docs/gateway.example.toml");
const SHORT: &[&str] = &[
    "[gateway]\nworkers = 2\n",
    "[[psk]]\nid = \"fqdn:client-0.storm.rebound\"\nsecret = \"0123456789abcdef0123\"\n",
    "[[psk]]\nid = \"ipv4:10.0.0.1\"\nsecret_hex = \"00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff\"\ntickets = false\n",
    "[ike]\nproposals = [\"aes256gcm16-prfsha256-curve25519\", \"aes128-sha256-modp2048\"]\n",
    "[child]\nesp = [\"aes256gcm16\", \"aes128-sha256-ecp256\"]\nts_local = [\"10.0.0.0/8\", \"0.0.0.0-255.255.255.255\"]\n",
];

fuzz_target!(
    init: seeds::write_if_asked(|_| {
        let mut s = vec![EXAMPLE.as_bytes().to_vec()];
        s.extend(SHORT.iter().map(|t| t.as_bytes().to_vec()));
        s
    }),
    |data: &[u8]| {
        let Ok(text) = std::str::from_utf8(data) else {
            return;
        };
        let _ = parse_config(text, Path::new("/nonexistent/rebound-fuzz"));
    }
);
