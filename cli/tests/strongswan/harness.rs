//! What the strongSwan interop tests share: the cases, the host check,
//! the gateway's config and charon's connection, and small readers.

// Each test binary uses a part of this module.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::charon::{CHARON, CLIENT_ID, Connection, GW_ID, PLUGIN_DIR, PLUGINS, PSK, SWANCTL};
use crate::netns::{CLIENT_ADDR, CLIENT_INNER_NET, GW_ADDR, GW_INNER_NET};

/// The connection's name in swanctl.conf (IKE SA and child alike).
pub const CONN: &str = "rebound";

/// One algorithm set, as charon is told it, as swanctl shows it, and as
/// Rebound's key log and hand-off line write it (IANA transform ids).
pub struct Case {
    pub tag: &'static str,
    /// IKE proposal in strongSwan syntax (the gateway's `ike.proposals`
    /// uses the same syntax).
    pub ike: &'static str,
    /// ESP proposal (the same name in `child.esp`).
    pub esp: &'static str,
    /// swanctl --list-sas's algorithm line of the IKE SA, and the child's.
    pub shown_ike: &'static str,
    pub shown_esp: &'static str,
    pub encr: u64,
    pub encr_key_bits: u64,
    pub prf: u64,
    pub integ: Option<u64>,
    pub dh_group: u64,
    pub child_encr: u64,
    pub child_key_bits: u64,
    pub child_integ: Option<u64>,
}

/// curve25519 (31) + ENCR_AES_GCM_16 (20) 256 + PRF_HMAC_SHA2_256 (5);
/// ESP AES-GCM-16 256.
pub const GCM_X25519: Case = Case {
    tag: "gcm",
    ike: "aes256gcm16-prfsha256-curve25519",
    esp: "aes256gcm16",
    shown_ike: "AES_GCM_16-256/PRF_HMAC_SHA2_256/CURVE_25519",
    shown_esp: "ESP:AES_GCM_16-256",
    encr: 20,
    encr_key_bits: 256,
    prf: 5,
    integ: None,
    dh_group: 31,
    child_encr: 20,
    child_key_bits: 256,
    child_integ: None,
};

/// MODP-2048 (14) + ENCR_AES_CBC (12) 128 + AUTH_HMAC_SHA2_256_128 (12) +
/// PRF_HMAC_SHA2_256 (5); ESP AES-CBC-128 + HMAC-SHA2-256-128.
pub const CBC_MODP: Case = Case {
    tag: "cbc",
    ike: "aes128-sha256-modp2048",
    esp: "aes128-sha256",
    shown_ike: "AES_CBC-128/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048",
    shown_esp: "ESP:AES_CBC-128/HMAC_SHA2_256_128",
    encr: 12,
    encr_key_bits: 128,
    prf: 5,
    integ: Some(12),
    dh_group: 14,
    child_encr: 12,
    child_key_bits: 128,
    child_integ: Some(12),
};

/// Fail, naming what is missing, unless this host can run the test.
pub fn require_host() {
    let mut missing = Vec::new();
    let euid = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|u| u.split_whitespace().nth(1).map(str::to_owned))
        })
        .unwrap_or_default();
    if euid != "0" {
        missing.push(format!(
            "root (network namespaces, veth, tmpfs mounts; effective uid is {euid:?})"
        ));
    }
    if !Command::new("ip")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        missing.push("`ip` (iproute2)".to_owned());
    }
    for f in [CHARON, SWANCTL, "/dev/net/tun", "/bin/bash"] {
        if !Path::new(f).exists() {
            missing.push(f.to_owned());
        }
    }
    for p in PLUGINS {
        let f = format!("{PLUGIN_DIR}/libstrongswan-{p}.so");
        if !Path::new(&f).exists() {
            missing.push(f);
        }
    }
    assert!(
        missing.is_empty(),
        "the strongSwan interop test cannot run here; missing: {}.\n\
         Run it as root after scripts/test.sh has installed strongswan-charon, \
         strongswan-swanctl, libstrongswan-standard-plugins, libcharon-extra-plugins \
         and iproute2.",
        missing.join(", ")
    );
}

/// The gateway's config file for `case`: its veth address on 500 and 4500,
/// the client's PSK, the case's ESP proposal and the tunnel's selectors,
/// the hand-off socket and the key log (paths relative to the file).
pub fn gateway_config(case: &Case) -> String {
    let mut s = format!(
        r#"[gateway]
listen = ["{GW_ADDR}:500"]
listen_natt = ["{GW_ADDR}:4500"]
workers = 1
idle_sleep_us = 100
drain_timeout_ms = 1000

[child]
esp = ["{esp}"]
ts_local = ["{GW_INNER_NET}"]
ts_remote = ["{CLIENT_INNER_NET}"]

[handoff]
unix = ["handoff.sock"]
keylog = "keys.jsonl"

[[psk]]
id = "fqdn:{CLIENT_ID}"
secret = "{PSK}"
"#,
        esp = case.esp
    );
    s.push_str(&format!(
        "\n[ike]\nlocal_id = \"fqdn:{GW_ID}\"\nproposals = [\"{}\"]\n",
        case.ike
    ));
    s
}

/// charon's side: it initiates from its veth address to the gateway's.
pub fn client_connection(case: &Case) -> Connection<'static> {
    Connection {
        name: CONN,
        local_addr: CLIENT_ADDR,
        remote_addr: Some(GW_ADDR),
        proposal: case.ike,
        esp: case.esp,
        local_id: CLIENT_ID,
        remote_id: GW_ID,
        local_ts: CLIENT_INNER_NET,
        remote_ts: GW_INNER_NET,
    }
}

/// A process runs in namespace `ns` and, for charon, with a /run of its
/// own: its pid file is in its /run, not in the host's.
pub fn assert_isolated(what: &str, pid: u32, ns: &str, private_run: bool) {
    assert_eq!(
        crate::netns::identify(pid),
        ns,
        "{what} (pid {pid}) runs in {ns}"
    );
    if private_run {
        let own = std::fs::read_to_string(format!("/proc/{pid}/root/run/charon.pid"))
            .unwrap_or_else(|e| panic!("{what}'s /run/charon.pid: {e}"));
        assert_eq!(own.trim(), pid.to_string(), "{what}'s own pid file");
        let host = std::fs::read_to_string("/run/charon.pid").unwrap_or_default();
        assert_ne!(host.trim(), pid.to_string(), "{what} wrote the host's /run");
    }
}

/// The last `n` lines of `text`.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

pub fn addr(ip: &str, port: u16) -> SocketAddr {
    format!("{ip}:{port}").parse().unwrap()
}

/// The first line of `path` once one is there.
pub fn first_line(path: &Path, limit: Duration) -> Option<String> {
    nth_line(path, 0, limit)
}

/// Line `n` (from 0) of `path` once it is there.
pub fn nth_line(path: &Path, n: usize, limit: Duration) -> Option<String> {
    let deadline = Instant::now() + limit;
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let complete = text.lines().count() > n && (text.ends_with('\n'));
        if let Some(l) = text.lines().nth(n).filter(|_| complete) {
            return Some(l.to_owned());
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
