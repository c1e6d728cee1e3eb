//! Interoperability with strongSwan: a real charon initiates a full IKEv2
//! exchange (IKE_SA_INIT + IKE_AUTH with a pre-shared key, and a CHILD_SA)
//! against the real `rebound gateway`, each in a network namespace of its
//! own, joined by a veth pair the test creates and always removes.
//!
//! For each case — (1) curve25519 + AES-256-GCM-16 + PRF-HMAC-SHA256,
//! (2) MODP-2048 + AES-CBC-128 + HMAC-SHA2-256-128 + PRF-HMAC-SHA256 —
//! fresh namespaces, a fresh gateway and a fresh charon, and:
//!
//! - charon's IKE_SA_INIT reaches the gateway (its slow-path counter);
//! - strongSwan reports the IKE SA ESTABLISHED with the algorithms
//!   configured, and the CHILD_SA INSTALLED;
//! - Rebound's control plane holds the same SA: the line the hand-off daemon
//!   (this test) receives and the key log line carry swanctl's SPIs, and
//!   every SK_* key charon logs equals the key log's, as do the CHILD_SA's
//!   SPIs and keys.
//!
//! The child SA cases (`strongswan_child_sas_*`, once with PFS and once
//! without): charon's child rekeys every few seconds and must survive at
//! least two rekeys, charon adds a second child SA and deletes it, charon
//! sees AUTH_LIFETIME, and a charon that crashed and comes back
//! (INITIAL_CONTACT) has its old IKE SA deleted; every child event is
//! handed off with charon's keys (see [`child_sas`]).
//!
//! `harness_self_check_charon_against_charon` runs the same harness with a
//! strongSwan responder in the gateway's place, so a failure of the interop
//! tests is Rebound's, not the harness's; `harness_self_check_child_sas_*`
//! does the same for the child SA cases.
//!
//! Needs root (namespaces, mounts), iproute2, charon, swanctl and the
//! plugins in `charon::PLUGINS` (scripts/test.sh installs the packages);
//! without them the tests fail and say what is missing.

#[path = "strongswan/charon.rs"]
mod charon;
mod common;
#[path = "strongswan/gateway.rs"]
mod gateway;
#[path = "strongswan/netns.rs"]
mod netns;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use charon::{
    CHARON, CLIENT_ID, Charon, ChildConf, ChildListing, Connection, GW_ID, PLUGIN_DIR, PLUGINS,
    PSK, SWANCTL, child_keys, child_keys_by_spis, finish, ike_keys, list_children, parse_list_sas,
    swanctl_conf, swanctl_conf_with,
};
use common::{TempDir, handoff_daemon};
use gateway::Gateway;
use netns::{
    CLIENT_ADDR, CLIENT_INNER_NET, GW_ADDR, GW_INNER_ADDR, GW_INNER_NET, NetnsPair, ip_ok,
};
use serde_json::{Value, json};

/// The connection's name in swanctl.conf (IKE SA and child alike).
const CONN: &str = "rebound";

/// One algorithm set, as charon is told it, as swanctl shows it, and as
/// Rebound's key log and hand-off line write it (IANA transform ids).
struct Case {
    tag: &'static str,
    /// IKE proposal in strongSwan syntax (the gateway's `ike.proposals`
    /// uses the same syntax).
    ike: &'static str,
    /// ESP proposal (the same name in `child.esp`).
    esp: &'static str,
    /// swanctl --list-sas's algorithm line of the IKE SA, and the child's.
    shown_ike: &'static str,
    shown_esp: &'static str,
    encr: u64,
    encr_key_bits: u64,
    prf: u64,
    integ: Option<u64>,
    dh_group: u64,
    child_encr: u64,
    child_key_bits: u64,
    child_integ: Option<u64>,
}

/// curve25519 (31) + ENCR_AES_GCM_16 (20) 256 + PRF_HMAC_SHA2_256 (5);
/// ESP AES-GCM-16 256.
const GCM_X25519: Case = Case {
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
const CBC_MODP: Case = Case {
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
fn require_host() {
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
fn gateway_config(case: &Case) -> String {
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
fn client_connection(case: &Case) -> Connection<'static> {
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
fn assert_isolated(what: &str, pid: u32, ns: &str, private_run: bool) {
    assert_eq!(netns::identify(pid), ns, "{what} (pid {pid}) runs in {ns}");
    if private_run {
        let own = std::fs::read_to_string(format!("/proc/{pid}/root/run/charon.pid"))
            .unwrap_or_else(|e| panic!("{what}'s /run/charon.pid: {e}"));
        assert_eq!(own.trim(), pid.to_string(), "{what}'s own pid file");
        let host = std::fs::read_to_string("/run/charon.pid").unwrap_or_default();
        assert_ne!(host.trim(), pid.to_string(), "{what} wrote the host's /run");
    }
}

/// The last `n` lines of `text`.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn addr(ip: &str, port: u16) -> SocketAddr {
    format!("{ip}:{port}").parse().unwrap()
}

/// The first line of `path` once one is there.
fn first_line(path: &Path, limit: Duration) -> Option<String> {
    nth_line(path, 0, limit)
}

/// Line `n` (from 0) of `path` once it is there.
fn nth_line(path: &Path, n: usize, limit: Duration) -> Option<String> {
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

/// The interop run of one case; see the module documentation.
fn interop(case: &Case) {
    require_host();
    // Drop order (reverse of declaration): charon, gateway, hand-off
    // daemon's socket, namespaces, then the directory.
    let dir = TempDir::new(&format!("ss-{}", case.tag));
    let net = NetnsPair::new();
    let handoff = handoff_daemon(&dir.file("handoff.sock"));

    let gw = Gateway::start(&net.gw, &dir.0, &gateway_config(case));
    assert_eq!(
        gw.listening,
        [addr(GW_ADDR, 500), addr(GW_ADDR, 4500)],
        "the gateway listens on its veth address"
    );
    assert_isolated("the gateway", gw.pid(), &net.gw, false);

    let charon = Charon::start(&net.client, &dir.file("charon"));
    assert_isolated("charon", charon.pid(), &net.client, true);
    charon.load(&swanctl_conf(&client_connection(case)));
    let initiate = charon.initiate(CONN, 40);

    // charon's IKE_SA_INIT reaches the gateway, which passes it to the slow
    // path (exchange 34 never goes to the resumption stages).
    let slow = gw.wait_counter(
        "rebound_control_slow_path_total",
        1,
        Duration::from_secs(15),
    );
    let log = charon.log();
    assert!(
        log.contains("generating IKE_SA_INIT request 0")
            && log.contains(&format!(
                "sending packet: from {CLIENT_ADDR}[500] to {GW_ADDR}[500]"
            )),
        "charon sent no IKE_SA_INIT to the gateway:\n{}",
        tail(&log, 40)
    );
    // Workers publish their counters every 50 ms: wait for the receive
    // count rather than read it once.
    let rx = gw.wait_counter("rebound_rx_datagrams_total", 1, Duration::from_secs(5));
    assert!(
        slow >= 1 && rx >= 1,
        "the gateway did not receive charon's IKE_SA_INIT:\n{}\n{}",
        gw.metrics(),
        tail(&gw.log(), 20)
    );

    // strongSwan: the IKE SA is ESTABLISHED.
    let initiated = finish(initiate, Duration::from_secs(50));
    let listed = charon.list_sas();
    let sa = match parse_list_sas(&listed, CONN) {
        Some(sa) if sa.state == "ESTABLISHED" => sa,
        other => panic!(
            "strongSwan did not establish the IKE SA with Rebound: {other:?}\n\
             --- swanctl --initiate:\n{initiated}\n--- swanctl --list-sas:\n{listed}\n\
             --- gateway: {slow} slow-path datagrams; its log:\n{}\n--- charon's log:\n{}",
            tail(&gw.log(), 20),
            tail(&charon.log(), 60)
        ),
    };
    assert!(
        initiated.contains("initiate completed successfully"),
        "{initiated}"
    );
    assert_eq!(sa.algorithms, case.shown_ike, "{listed}");
    let child = sa
        .child
        .as_ref()
        .unwrap_or_else(|| panic!("no CHILD_SA: {listed}"));
    assert_eq!(child.state, "INSTALLED", "{listed}");
    assert_eq!(child.algorithms, case.shown_esp, "{listed}");
    // charon's kernel-libipsec does ESP in UDP only (so it fakes its NAT-D
    // hash to make both ends encapsulate): the tunnel runs over port 4500.
    assert_eq!(child.mode, "TUNNEL-in-UDP", "{listed}");
    assert_eq!(child.local_ts, CLIENT_INNER_NET, "{listed}");
    assert_eq!(child.remote_ts, GW_INNER_NET, "{listed}");

    // Rebound's control plane: the hand-off line and the key log line.
    let line = handoff
        .recv_timeout(Duration::from_secs(10))
        .unwrap_or_else(|_| panic!("no hand-off line:\n{}", tail(&gw.log(), 20)));
    let v: Value = serde_json::from_str(&line).expect("the hand-off line is JSON");
    let keylog = first_line(&dir.file("keys.jsonl"), Duration::from_secs(10))
        .unwrap_or_else(|| panic!("no key log line:\n{}", tail(&gw.log(), 20)));
    let k: Value = serde_json::from_str(&keylog).expect("the key log line is JSON");
    let ike = &v["ike"];
    for (what, obj) in [("hand-off line", ike), ("key log line", &k)] {
        assert_eq!(obj["spi_i"], sa.spi_i.as_str(), "{what}: {line}");
        assert_eq!(obj["spi_r"], sa.spi_r.as_str(), "{what}: {line}");
    }
    assert_eq!(*ike, k, "the hand-off line's keys are the key log's");

    // Every SK_* key charon derived equals Rebound's.
    let log = charon.log();
    let keys = ike_keys(&log);
    for (name, hex) in &keys {
        assert_eq!(
            k[*name],
            hex.as_str(),
            "{name}: charon's vs Rebound's key log"
        );
    }
    for name in ["sk_d", "sk_ei", "sk_er", "sk_pi", "sk_pr"] {
        assert!(!keys[name].is_empty(), "charon logged no {name}");
    }
    assert_eq!(keys["sk_ai"].is_empty(), case.integ.is_none());

    // The algorithms Rebound negotiated, by transform id.
    assert_eq!(k["encr"], case.encr);
    assert_eq!(k["encr_key_bits"], case.encr_key_bits);
    assert_eq!(k["prf"], case.prf);
    assert_eq!(k["integ"], json!(case.integ));
    assert_eq!(v["dh_group"], case.dh_group);

    // Who and where.
    assert_eq!(
        v["id_i"],
        json!({"type": 2, "data": hex::encode(CLIENT_ID)}),
        "IDi is charon's FQDN"
    );
    assert_eq!(v["id_r"], json!({"type": 2, "data": hex::encode(GW_ID)}));
    assert_eq!(v["auth_method"], 2, "shared key MIC");
    assert_eq!(v["peer"], addr(CLIENT_ADDR, 4500).to_string());
    assert_eq!(v["local"], addr(GW_ADDR, 4500).to_string());
    // charon's faked NAT_DETECTION_SOURCE_IP (see above) must read as a
    // peer behind a NAT; the gateway's own address is as seen.
    assert_eq!(
        v["nat"],
        json!({"peer_behind_nat": true, "local_behind_nat": false})
    );

    // The CHILD_SA: charon's inbound SPI is the initiator's, its outbound
    // one the responder's; the keys are those charon derived.
    let c = &v["child"];
    assert_eq!(c["spi_i"], child.spi_in.as_str(), "{line}");
    assert_eq!(c["spi_r"], child.spi_out.as_str(), "{line}");
    assert_eq!(c["encr"], case.child_encr);
    assert_eq!(c["encr_key_bits"], case.child_key_bits);
    assert_eq!(c["integ"], json!(case.child_integ));
    for (name, hex) in child_keys(&log) {
        assert_eq!(c[name], hex.as_str(), "child {name}: charon's vs Rebound's");
    }
    let ts = |net: &str| {
        let (a, _) = net.split_once('/').unwrap();
        let base: std::net::Ipv4Addr = a.parse().unwrap();
        let end = std::net::Ipv4Addr::from(u32::from(base) | 0xff);
        json!([{"proto": 0, "ports": [0, 65535], "start": base.to_string(), "end": end.to_string()}])
    };
    assert_eq!(c["ts_i"], ts(CLIENT_INNER_NET));
    assert_eq!(c["ts_r"], ts(GW_INNER_NET));

    assert!(
        gw.wait_counter(
            "rebound_control_handed_off_total",
            1,
            Duration::from_secs(5)
        ) >= 1
    );

    // strongSwan rekeys the IKE SA (CREATE_CHILD_SA, RFC 7296 §2.18), then
    // deletes the old one; Rebound hands off the new SA as `rekeyed` and
    // the old one's delete, and both ends derive the same new keys.
    let mark = charon.log().len();
    let out = charon.swanctl(&["--rekey", "--ike", CONN]);
    assert!(out.status.success(), "swanctl --rekey: {out:?}");
    let deadline = Instant::now() + Duration::from_secs(20);
    let new = loop {
        let listed = charon.list_sas();
        match parse_list_sas(&listed, CONN) {
            Some(n) if n.state == "ESTABLISHED" && n.spi_i != sa.spi_i => break n,
            other => assert!(
                Instant::now() < deadline,
                "no rekeyed IKE SA: {other:?}\n{listed}\n{}",
                tail(&charon.log(), 40)
            ),
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let line = handoff
        .recv_timeout(Duration::from_secs(10))
        .expect("the rekeyed SA's hand-off line");
    let v: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["origin"], "rekeyed", "{line}");
    assert_eq!(v["ike"]["spi_i"], new.spi_i.as_str(), "{line}");
    assert_eq!(v["ike"]["spi_r"], new.spi_r.as_str(), "{line}");
    assert_eq!(v["rekeyed_from"]["spi_i"], sa.spi_i.as_str(), "{line}");
    assert_eq!(v["rekeyed_from"]["spi_r"], sa.spi_r.as_str(), "{line}");
    let log = charon.log();
    for (name, hex) in ike_keys(&log[mark..]) {
        assert_eq!(
            v["ike"][name],
            hex.as_str(),
            "rekeyed {name}: charon's vs Rebound's"
        );
    }
    let line = handoff
        .recv_timeout(Duration::from_secs(10))
        .expect("the old SA's delete");
    let v: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["deleted"]["spi_i"], sa.spi_i.as_str(), "{line}");
    assert_eq!(v["deleted"]["spi_r"], sa.spi_r.as_str(), "{line}");
    assert!(nth_line(&dir.file("keys.jsonl"), 1, Duration::from_secs(5)).is_some());

    // swanctl --terminate: DELETE of the new IKE SA, answered and handed off.
    let out = charon.swanctl(&["--terminate", "--ike", CONN, "--timeout", "10"]);
    assert!(
        out.status.success(),
        "swanctl --terminate: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let line = handoff
        .recv_timeout(Duration::from_secs(10))
        .expect("the delete's hand-off line");
    let v: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["deleted"]["spi_i"], new.spi_i.as_str(), "{line}");
    assert_eq!(v["deleted"]["spi_r"], new.spi_r.as_str(), "{line}");
    assert!(parse_list_sas(&charon.list_sas(), CONN).is_none());
    // The counters as published (the control plane publishes when idle).
    let event = |m: &str, e: &str| {
        m.lines()
            .find(|l| {
                l.starts_with(&format!(
                    "rebound_full_exchange_events_total{{event=\"{e}\"}}"
                ))
            })
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<u64>().ok())
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    let m = loop {
        let m = gw.metrics();
        if event(&m, "deleted") == Some(2) || Instant::now() > deadline {
            break m;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(event(&m, "rekeyed"), Some(1), "{m}");
    assert_eq!(event(&m, "deleted"), Some(2), "{m}");
}

#[test]
fn strongswan_curve25519_aes256gcm16_prfsha256() {
    interop(&GCM_X25519);
}

#[test]
fn strongswan_modp2048_aes128cbc_hmacsha256() {
    interop(&CBC_MODP);
}

/// The harness against a strongSwan responder in the gateway's place:
/// namespaces, two charons with private /run, swanctl over vici, the
/// list-sas and key-dump readers. Both ends must report the same SPIs and
/// the same SK_* and CHILD_SA keys; every namespace is gone afterwards.
#[test]
fn harness_self_check_charon_against_charon() {
    require_host();
    let mut made = Vec::new();
    for case in [&GCM_X25519, &CBC_MODP] {
        let dir = TempDir::new(&format!("ss-self-{}", case.tag));
        let net = NetnsPair::new();
        made.push(net.gw.clone());
        made.push(net.client.clone());
        // The responder's kernel-libipsec routes the client's network from
        // an address inside its own selector, as the client does.
        #[rustfmt::skip]
        ip_ok(&["-n", &net.gw, "addr", "add", &format!("{GW_INNER_ADDR}/32"), "dev", "lo"]);

        let responder = Charon::start(&net.gw, &dir.file("responder"));
        let initiator = Charon::start(&net.client, &dir.file("initiator"));
        assert_isolated("the responder", responder.pid(), &net.gw, true);
        assert_isolated("the initiator", initiator.pid(), &net.client, true);
        responder.load(&swanctl_conf(&Connection {
            name: CONN,
            local_addr: GW_ADDR,
            remote_addr: None,
            proposal: case.ike,
            esp: case.esp,
            local_id: GW_ID,
            remote_id: CLIENT_ID,
            local_ts: GW_INNER_NET,
            remote_ts: CLIENT_INNER_NET,
        }));
        initiator.load(&swanctl_conf(&client_connection(case)));

        let out = finish(initiator.initiate(CONN, 20), Duration::from_secs(30));
        assert!(
            out.contains("initiate completed successfully"),
            "{out}\n{}",
            tail(&responder.log(), 40)
        );
        let i_list = initiator.list_sas();
        let r_list = responder.list_sas();
        let i = parse_list_sas(&i_list, CONN).unwrap_or_else(|| panic!("{i_list}"));
        let r = parse_list_sas(&r_list, CONN).unwrap_or_else(|| panic!("{r_list}"));
        for (sa, list) in [(&i, &i_list), (&r, &r_list)] {
            assert_eq!(sa.state, "ESTABLISHED", "{list}");
            assert_eq!(sa.algorithms, case.shown_ike, "{list}");
            let c = sa.child.as_ref().unwrap_or_else(|| panic!("{list}"));
            assert_eq!(c.state, "INSTALLED", "{list}");
            assert_eq!(c.algorithms, case.shown_esp, "{list}");
        }
        assert_eq!((&i.spi_i, &i.spi_r), (&r.spi_i, &r.spi_r));
        assert_eq!(i.spi_i.len(), 16);
        let (ic, rc) = (i.child.as_ref().unwrap(), r.child.as_ref().unwrap());
        assert_eq!((&ic.spi_in, &ic.spi_out), (&rc.spi_out, &rc.spi_in));

        // Both logs hold the same keys, of the lengths the algorithms take.
        let (ik, rk) = (ike_keys(&initiator.log()), ike_keys(&responder.log()));
        assert_eq!(ik, rk, "SK_* keys");
        let integ_len = if case.integ.is_some() { 32 } else { 0 };
        let encr_len = (case.encr_key_bits / 8) as usize + if case.integ.is_some() { 0 } else { 4 };
        let want = [
            ("sk_d", 32),
            ("sk_ai", integ_len),
            ("sk_ar", integ_len),
            ("sk_ei", encr_len),
            ("sk_er", encr_len),
            ("sk_pi", 32),
            ("sk_pr", 32),
        ];
        for (name, len) in want {
            assert_eq!(ik[name].len(), 2 * len, "{name}: {}", ik[name]);
        }
        let (ick, rck) = (child_keys(&initiator.log()), child_keys(&responder.log()));
        assert_eq!(ick, rck, "CHILD_SA keys");
        assert_eq!(ick["encr_i2r"].len(), 2 * encr_len);
        assert_eq!(ick["integ_i2r"].len(), 2 * integ_len);
        assert_ne!(ick["encr_i2r"], ick["encr_r2i"]);
    }
    let left: Vec<String> = netns::list()
        .into_iter()
        .filter(|n| made.contains(n))
        .collect();
    assert!(left.is_empty(), "namespaces left behind: {left:?}");
}

/// The readers on charon's own output (captured from charon 5.9.8 runs).
#[test]
fn charon_output_readers() {
    let log = "\
05[IKE] <rebound|1> Sk_d secret => 32 bytes @ 0x7fb11800d060
05[IKE] <rebound|1>    0: E5 57 3E 8B FA 1E 8D 61 67 99 33 9B 5E BA A4 3A  .W>....ag.3.^..:
05[IKE] <rebound|1>   16: 93 01 ED AD 9B 9C DB 40 D1 95 E7 E4 07 2E 47 10  .......@......G.
05[IKE] <rebound|1> Sk_ei secret => 16 bytes @ 0x7fb140001bc0
05[IKE] <rebound|1>    0: 4D F9 AA 86 2C 2C 6E 49 F5 23 61 AF 8F D0 4A E9  M...,,nI.#a...J.
07[NET] <rebound|1> sending packet: from 10.77.0.2[500] to 10.77.0.1[500] (232 bytes)
06[IKE] Sk_er secret => 36 bytes @ 0x7fce7c00a674
06[IKE]    0: D2 D7 10 68 CD 09 FD 1E C2 C2 66 52 BD 04 15 77  ...h......fR...w
06[IKE]   16: 05 F7 B0 30 60 78 0C 80 37 7B CA 5C 5C 1C DB 95  ...0`x..7{.\\\\...
06[IKE]   32: 72 94 37 19                                      r.7.
06[IKE] Sk_pi secret => 32 bytes @ 0x7fce7c00a980
06[IKE]    0: 81 72 57 F1 10 B4 34 AD B6 2F A1 D2 3B 4C 27 F5  .rW...4../..;L'.
01[CHD] <rebound|1> encryption initiator key => 16 bytes @ 0x7fb120003c90
01[CHD] <rebound|1>    0: 7F A7 F5 78 F0 6A C4 E7 24 3B B6 23 97 04 4C 8E  ...x.j..$;.#..L.
";
    let keys = ike_keys(log);
    assert_eq!(
        keys["sk_d"],
        "e5573e8bfa1e8d616799339b5ebaa43a9301edad9b9cdb40d195e7e4072e4710"
    );
    // With or without the SA name after the subsystem.
    assert_eq!(keys["sk_ei"], "4df9aa862c2c6e49f52361af8fd04ae9");
    assert_eq!(
        keys["sk_er"],
        "d2d71068cd09fd1ec2c26652bd04157705f7b03060780c80377bca5c5c1cdb9572943719"
    );
    // Cut short (the next line is another thread's): left out, not half
    // read.
    assert_eq!(keys["sk_pi"], "");
    assert_eq!(keys["sk_ai"], "");
    assert_eq!(
        child_keys(log)["encr_i2r"],
        "7fa7f578f06ac4e7243bb62397044c8e"
    );

    let listed = "\
rebound: #1, ESTABLISHED, IKEv2, 0eeea4018cf32caa_i* 0b42c00d3338be64_r
  local  'client.rebound.test' @ 10.77.0.2[4500]
  remote 'gw.rebound.test' @ 10.77.0.1[4500]
  AES_CBC-128/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048
  established 0s ago, rekeying in 13603s
  rebound: #1, reqid 1, INSTALLED, TUNNEL-in-UDP, ESP:AES_CBC-128/HMAC_SHA2_256_128
    installed 0s ago, rekeying in 3371s, expires in 3960s
    in  5017315f,      0 bytes,     0 packets
    out 0ea51fcc,      0 bytes,     0 packets
    local  10.78.1.0/24
    remote 10.78.2.0/24
";
    let sa = parse_list_sas(listed, "rebound").expect("the SA is listed");
    assert_eq!(sa.state, "ESTABLISHED");
    assert_eq!(
        (sa.spi_i.as_str(), sa.spi_r.as_str()),
        ("0eeea4018cf32caa", "0b42c00d3338be64")
    );
    assert_eq!(sa.algorithms, CBC_MODP.shown_ike);
    let c = sa.child.expect("the child is listed");
    assert_eq!(c.state, "INSTALLED");
    assert_eq!(c.mode, "TUNNEL-in-UDP");
    assert_eq!(c.algorithms, CBC_MODP.shown_esp);
    assert_eq!(
        (c.spi_in.as_str(), c.spi_out.as_str()),
        ("5017315f", "0ea51fcc")
    );
    assert_eq!(
        (c.local_ts.as_str(), c.remote_ts.as_str()),
        ("10.78.1.0/24", "10.78.2.0/24")
    );
    assert_eq!(parse_list_sas(listed, "other"), None);
}

// ---------------------------------------------------------------------------
// Child SAs: CREATE_CHILD_SA (new and rekey), child deletes, AUTH_LIFETIME,
// INITIAL_CONTACT.

/// The second child's name in swanctl.conf.
const SECOND: &str = "second";

/// The first child's lifetimes: charon rekeys it every 4 s (`rand_time =
/// 0`) and it would expire 3 s later.
const REKEY_S: u32 = 4;
const LIFE_S: u32 = 7;

/// The gateway's `ike.reauth_secs` in the child cases: charon must learn it
/// from AUTH_LIFETIME.
const REAUTH_S: u64 = 3600;

/// The hand-off lines received so far, searched by content (child events
/// interleave with the steps that cause them: the first child rekeys
/// while the test does the rest).
struct Lines {
    rx: std::sync::mpsc::Receiver<String>,
    all: Vec<Value>,
}

impl Lines {
    /// The first line (in stream order) that `pred` accepts, waiting up to
    /// `limit` for it.
    fn find(&mut self, limit: Duration, pred: impl Fn(&Value) -> bool) -> Option<Value> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(v) = self.all.iter().find(|v| pred(v)) {
                return Some(v.clone());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left.max(Duration::from_millis(1))) {
                Ok(l) => self
                    .all
                    .push(serde_json::from_str(&l).expect("a JSON line")),
                Err(_) if Instant::now() >= deadline => return None,
                Err(_) => {}
            }
        }
    }

    fn dump(&self) -> String {
        self.all
            .iter()
            .map(Value::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// `{"spi_i":..,"spi_r":..}` of an IKE SA as swanctl lists it.
fn ike_spis(sa: &charon::IkeSaStatus) -> Value {
    json!({"spi_i": sa.spi_i, "spi_r": sa.spi_r})
}

/// A child SA by Rebound's names: charon (the initiator) lists its
/// inbound SPI, the initiator's (`spi_i`), and its outbound one, the
/// responder's (`spi_r`).
fn child_spis(c: &ChildListing) -> Value {
    json!({"spi_i": c.spi_in, "spi_r": c.spi_out})
}

/// The child object of an event line carries `c`'s SPIs and the keys
/// charon derived for it.
fn assert_child_keys(child: &Value, c: &ChildListing, log: &str, what: &str) {
    assert_eq!(child["spi_i"], c.spi_in.as_str(), "{what}: {child}");
    assert_eq!(child["spi_r"], c.spi_out.as_str(), "{what}: {child}");
    let dumps = child_keys_by_spis(log);
    let (_, _, keys) = dumps
        .iter()
        .find(|(i, o, _)| *i == c.spi_in && *o == c.spi_out)
        .unwrap_or_else(|| panic!("{what}: charon logged no keys for {c:?}"));
    assert!(!keys["encr_i2r"].is_empty(), "{what}: {keys:?}");
    for (name, hex) in keys {
        assert_eq!(
            child[*name],
            hex.as_str(),
            "{what} {name}: charon's vs Rebound's"
        );
    }
}

/// The installed children named `name`, from a fresh `--list-sas`.
fn installed(charon: &Charon, name: &str) -> Vec<ChildListing> {
    list_children(&charon.list_sas(), CONN)
        .into_iter()
        .filter(|c| c.name == name && c.state == "INSTALLED")
        .collect()
}

/// The responder in a child SA case: Rebound (with its hand-off stream and
/// key log), or a charon standing in for it (the harness self-check).
enum Responder {
    Rebound {
        gw: Gateway,
        lines: Lines,
        keylog: std::path::PathBuf,
    },
    Charon(Charon),
}

/// A child SA case; see the module documentation. `pfs` puts a DH group
/// in the client's ESP proposal (charon then rekeys children with a KE
/// payload). With `rebound` false a charon responder takes the gateway's
/// place and only charon's side is checked.
///
/// Against Rebound every step runs and is checked, those after the first
/// SA line included (AUTH_LIFETIME, the second child, the rekeys, the
/// child delete, INITIAL_CONTACT), now that the engine answers
/// CREATE_CHILD_SA (issue 17).
fn child_sas(pfs: bool, rebound: bool) {
    require_host();
    let case = &GCM_X25519;
    let tag = format!(
        "ss-child-{}-{}",
        if pfs { "pfs" } else { "nopfs" },
        if rebound { "rb" } else { "self" }
    );
    let dir = TempDir::new(&tag);
    let net = NetnsPair::new();
    let esp = if pfs {
        "aes256gcm16-curve25519"
    } else {
        "aes256gcm16"
    };
    let mut responder = if rebound {
        let rx = handoff_daemon(&dir.file("handoff.sock"));
        let config = format!("{}reauth_secs = {REAUTH_S}\n", gateway_config(case));
        let gw = Gateway::start(&net.gw, &dir.0, &config);
        Responder::Rebound {
            gw,
            lines: Lines {
                rx,
                all: Vec::new(),
            },
            keylog: dir.file("keys.jsonl"),
        }
    } else {
        #[rustfmt::skip]
        ip_ok(&["-n", &net.gw, "addr", "add", &format!("{GW_INNER_ADDR}/32"), "dev", "lo"]);
        let r = Charon::start(&net.gw, &dir.file("responder"));
        let conn = Connection {
            name: CONN,
            local_addr: GW_ADDR,
            remote_addr: None,
            proposal: case.ike,
            esp,
            local_id: GW_ID,
            remote_id: CLIENT_ID,
            local_ts: GW_INNER_NET,
            remote_ts: CLIENT_INNER_NET,
        };
        let child = ChildConf {
            name: CONN,
            esp,
            lifetimes: None,
        };
        r.load(&swanctl_conf_with(&conn, &[child], Some(REAUTH_S as u32)));
        Responder::Charon(r)
    };
    let client_conf = {
        let conn = Connection {
            esp,
            ..client_connection(case)
        };
        let children = [
            ChildConf {
                name: CONN,
                esp,
                lifetimes: Some((REKEY_S, LIFE_S)),
            },
            ChildConf {
                name: SECOND,
                esp,
                lifetimes: None,
            },
        ];
        swanctl_conf_with(&conn, &children, None)
    };
    let start_client = |name: &str| {
        let c = Charon::start(&net.client, &dir.file(name));
        c.load(&client_conf);
        c
    };
    let established = |charon: &Charon, not: Option<&str>| {
        let out = finish(charon.initiate(CONN, 20), Duration::from_secs(30));
        let listed = charon.list_sas();
        match parse_list_sas(&listed, CONN) {
            Some(sa) if sa.state == "ESTABLISHED" && Some(sa.spi_i.as_str()) != not => sa,
            other => panic!(
                "no IKE SA: {other:?}\n{out}\n{listed}\n{}",
                tail(&charon.log(), 60)
            ),
        }
    };

    // 1. The IKE SA and its first child (IKE_AUTH), with INITIAL_CONTACT
    // (charon's first IKE_AUTH to a peer carries it).
    let client = start_client("charon");
    let sa = established(&client, None);
    let log = client.log();
    assert!(
        log.contains("N(INIT_CONTACT)"),
        "charon sent no INITIAL_CONTACT:\n{}",
        tail(&log, 60)
    );
    let first = installed(&client, CONN);
    assert_eq!(first.len(), 1, "{}", client.list_sas());
    if let Responder::Rebound { gw, lines, .. } = &mut responder {
        let line = lines
            .find(Duration::from_secs(10), |v| {
                v["ike"]["spi_i"] == sa.spi_i.as_str()
            })
            .unwrap_or_else(|| panic!("no SA line:\n{}", tail(&gw.log(), 20)));
        assert_eq!(line["child"]["spi_i"], first[0].spi_in.as_str());
        assert_eq!(
            line["reauth_deadline"].as_u64().unwrap()
                - line["established_at_ms"].as_u64().unwrap() / 1000,
            REAUTH_S
        );
    }

    // 2. AUTH_LIFETIME (RFC 4478) in the IKE_AUTH answer: charon logs
    // "received AUTH_LIFETIME of 3600s, scheduling reauthentication in
    // 3060s" (the wording in libcharon 5.9.8; the delay is the lifetime less
    // its margin). A charon responder does not send it when it
    // reauthenticates by itself, so the self-check skips this step.
    if let Responder::Rebound { gw, .. } = &responder {
        let got = log
            .lines()
            .find_map(|l| {
                l.split_once("received AUTH_LIFETIME of ")
                    .map(|(_, r)| r.to_owned())
            })
            .unwrap_or_else(|| {
                panic!(
                    "charon received no AUTH_LIFETIME:\n{}\n--- the gateway:\n{}",
                    tail(&log, 60),
                    tail(&gw.log(), 20)
                )
            });
        let secs: u64 = got.split('s').next().unwrap().parse().unwrap();
        assert!(
            (REAUTH_S - 10..=REAUTH_S).contains(&secs),
            "AUTH_LIFETIME of {secs} s, the gateway's reauth_secs is {REAUTH_S}: {got}"
        );
        assert!(got.contains("reauthentication"), "{got}");
    }

    // 3. A second child on the same IKE SA (CREATE_CHILD_SA without
    // REKEY_SA), handed off as `child_created` with charon's keys.
    let out = finish(client.initiate_child(SECOND, 20), Duration::from_secs(30));
    assert!(
        out.contains("initiate completed successfully"),
        "the second child: {out}\n{}",
        tail(&client.log(), 60)
    );
    let second = installed(&client, SECOND);
    assert_eq!(second.len(), 1, "{}", client.list_sas());
    let second = second.into_iter().next().unwrap();
    assert_eq!(
        parse_list_sas(&client.list_sas(), CONN).unwrap().spi_i,
        sa.spi_i,
        "on the same IKE SA"
    );
    if let Responder::Rebound { lines, keylog, .. } = &mut responder {
        let spi = second.spi_in.clone();
        let v = lines
            .find(Duration::from_secs(10), |v| {
                v["child_created"]["child"]["spi_i"] == spi.as_str()
            })
            .unwrap_or_else(|| panic!("no child_created line:\n{}", lines.dump()));
        let e = &v["child_created"];
        assert_eq!(e["ike"], ike_spis(&sa), "{v}");
        assert_child_keys(&e["child"], &second, &client.log(), "child_created");
        let key_log = std::fs::read_to_string(&*keylog).unwrap_or_default();
        let logged = key_log
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|k| k["child_created"]["child"]["spi_i"] == spi.as_str())
            .unwrap_or_else(|| panic!("no child_created in the key log:\n{key_log}"));
        assert_eq!(
            logged["child_created"], *e,
            "the key log's keys are the hand-off's"
        );
    }

    // 4. The first child rekeys every REKEY_S seconds: at least two rekeys,
    // each with new SPIs in swanctl --list-sas, and the tunnel stays up.
    let mut seen: Vec<ChildListing> = first.clone();
    let deadline = Instant::now() + Duration::from_secs(u64::from(3 * REKEY_S + 8));
    while seen.len() < 3 {
        for c in installed(&client, CONN) {
            if !seen.iter().any(|s| s.spi_in == c.spi_in) {
                seen.push(c);
            }
        }
        assert!(
            Instant::now() < deadline,
            "the child did not survive two rekeys: SPIs seen {seen:?}\n{}\n{}",
            client.list_sas(),
            tail(&client.log(), 80)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    if pfs {
        assert!(
            seen[1].algorithms.ends_with("/CURVE_25519"),
            "a PFS rekey: {:?}",
            seen[1]
        );
    }
    assert_eq!(
        parse_list_sas(&client.list_sas(), CONN).map(|s| s.spi_i),
        Some(sa.spi_i.clone()),
        "the IKE SA is the same"
    );
    if let Responder::Rebound { gw, lines, keylog } = &mut responder {
        let log = client.log();
        let key_log = std::fs::read_to_string(&*keylog).unwrap_or_default();
        for pair in seen.windows(2).take(2) {
            let (old, new) = (&pair[0], &pair[1]);
            let v = lines
                .find(Duration::from_secs(10), |v| {
                    v["child_rekeyed"]["child"]["spi_i"] == new.spi_in.as_str()
                })
                .unwrap_or_else(|| panic!("no child_rekeyed for {new:?}:\n{}", lines.dump()));
            let e = &v["child_rekeyed"];
            assert_eq!(e["ike"], ike_spis(&sa), "{v}");
            assert_eq!(e["old"], child_spis(old), "{v}");
            assert_child_keys(&e["child"], new, &log, "child_rekeyed");
            assert!(
                key_log
                    .lines()
                    .any(|l| serde_json::from_str::<Value>(l)
                        .is_ok_and(|k| k["child_rekeyed"] == *e)),
                "no child_rekeyed in the key log for {new:?}:\n{key_log}"
            );
            // charon deletes the old child after the rekey: handed off
            // after the rekey.
            let old_spis = child_spis(old);
            let d = lines
                .find(Duration::from_secs(10), |v| {
                    v["child_deleted"]["children"]
                        .as_array()
                        .is_some_and(|a| a.contains(&old_spis))
                })
                .unwrap_or_else(|| panic!("no child_deleted for {old:?}:\n{}", lines.dump()));
            assert_eq!(d["child_deleted"]["ike"], ike_spis(&sa), "{d}");
            assert!(d["seq"].as_u64() > v["seq"].as_u64(), "{d} before {v}");
        }
        assert!(
            gw.wait_counter(
                "rebound_control_child_rekeyed_total",
                2,
                Duration::from_secs(5)
            ) >= 2
        );
        assert!(
            gw.wait_counter(
                "rebound_control_child_created_total",
                1,
                Duration::from_secs(5)
            ) >= 1
        );
    }

    // 5. charon deletes the second child: handed off as `child_deleted`.
    let out = client.swanctl(&["--terminate", "--child", SECOND, "--timeout", "10"]);
    assert!(
        out.status.success(),
        "swanctl --terminate --child: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        installed(&client, SECOND).is_empty(),
        "{}",
        client.list_sas()
    );
    if let Responder::Rebound { lines, .. } = &mut responder {
        let spis = child_spis(&second);
        let d = lines
            .find(Duration::from_secs(10), |v| {
                v["child_deleted"]["children"]
                    .as_array()
                    .is_some_and(|a| a.contains(&spis))
            })
            .unwrap_or_else(|| panic!("no child_deleted for the second child:\n{}", lines.dump()));
        assert_eq!(d["child_deleted"]["ike"], ike_spis(&sa), "{d}");
    }

    // 6. INITIAL_CONTACT: charon crashes (SIGKILL: no DELETE) and comes
    // back with a full exchange; its first IKE_AUTH carries
    // INITIAL_CONTACT, and the responder deletes the old IKE SA.
    client.kill();
    let client = start_client("charon-again");
    let again = established(&client, Some(&sa.spi_i));
    assert!(
        client.log().contains("N(INIT_CONTACT)"),
        "{}",
        tail(&client.log(), 60)
    );
    match &mut responder {
        Responder::Rebound { lines, gw, .. } => {
            let old = ike_spis(&sa);
            lines
                .find(Duration::from_secs(10), |v| {
                    v["ike"]["spi_i"] == again.spi_i.as_str()
                })
                .unwrap_or_else(|| panic!("no SA line for the new SA:\n{}", lines.dump()));
            lines
                .find(Duration::from_secs(10), |v| v["deleted"] == old)
                .unwrap_or_else(|| {
                    panic!(
                        "INITIAL_CONTACT did not delete the old SA:\n{}\n{}",
                        lines.dump(),
                        tail(&gw.log(), 20)
                    )
                });
        }
        Responder::Charon(r) => {
            let deadline = Instant::now() + Duration::from_secs(10);
            while !r.log().contains("received INITIAL_CONTACT") {
                assert!(Instant::now() < deadline, "{}", tail(&r.log(), 60));
                std::thread::sleep(Duration::from_millis(50));
            }
            let listed = r.list_sas();
            assert!(!listed.contains(&sa.spi_i), "the old SA is gone: {listed}");
        }
    }
}

#[test]
fn strongswan_child_sas_with_pfs() {
    child_sas(true, true);
}

#[test]
fn strongswan_child_sas_without_pfs() {
    child_sas(false, true);
}

#[test]
fn harness_self_check_child_sas_with_pfs() {
    child_sas(true, false);
}

#[test]
fn harness_self_check_child_sas_without_pfs() {
    child_sas(false, false);
}

/// The readers of several child SAs: `--list-sas` with two children and a
/// rekey in progress, and key dumps matched to SPIs.
#[test]
fn charon_child_readers() {
    let listed = "\
rebound: #1, ESTABLISHED, IKEv2, 0eeea4018cf32caa_i* 0b42c00d3338be64_r
  local  'client.rebound.test' @ 10.77.0.2[4500]
  AES_GCM_16-256/PRF_HMAC_SHA2_256/CURVE_25519
  rebound: #3, reqid 1, INSTALLED, TUNNEL-in-UDP, ESP:AES_GCM_16-256/CURVE_25519
    installed 1s ago, rekeying in 3s, expires in 6s
    in  c5c5c5c5,      0 bytes,     0 packets
    out c6c6c6c6,      0 bytes,     0 packets
    local  10.78.1.0/24
  rebound: #1, reqid 1, REKEYED, TUNNEL-in-UDP, ESP:AES_GCM_16-256
    in  c1c1c1c1,      0 bytes,     0 packets
    out c2c2c2c2,      0 bytes,     0 packets
  second: #2, reqid 2, INSTALLED, TUNNEL-in-UDP, ESP:AES_GCM_16-256
    in  d1d1d1d1,      0 bytes,     0 packets
    out d2d2d2d2,      0 bytes,     0 packets
other: #2, ESTABLISHED, IKEv2, 1111111111111111_i* 2222222222222222_r
  other: #9, reqid 9, INSTALLED, TUNNEL, ESP:AES_GCM_16-256
";
    let c = list_children(listed, "rebound");
    let got: Vec<(&str, &str, &str, &str)> = c
        .iter()
        .map(|c| {
            (
                c.name.as_str(),
                c.state.as_str(),
                c.spi_in.as_str(),
                c.spi_out.as_str(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("rebound", "INSTALLED", "c5c5c5c5", "c6c6c6c6"),
            ("rebound", "REKEYED", "c1c1c1c1", "c2c2c2c2"),
            ("second", "INSTALLED", "d1d1d1d1", "d2d2d2d2"),
        ]
    );
    assert_eq!(c[0].algorithms, "ESP:AES_GCM_16-256/CURVE_25519");
    assert!(list_children(listed, "none").is_empty());

    let log = "\
01[CHD] <rebound|1> encryption initiator key => 4 bytes @ 0x7fb120003c90
01[CHD] <rebound|1>    0: 01 02 03 04                                      ....
01[CHD] <rebound|1> encryption responder key => 4 bytes @ 0x7fb120003c90
01[CHD] <rebound|1>    0: 05 06 07 08                                      ....
01[IKE] <rebound|1> CHILD_SA rebound{1} established with SPIs c1c1c1c1_i c2c2c2c2_o and TS 10.78.1.0/24 === 10.78.2.0/24
02[CHD] <rebound|1> encryption initiator key => 4 bytes @ 0x7fb120003c90
02[CHD] <rebound|1>    0: 0A 0B 0C 0D                                      ....
02[IKE] <rebound|1> CHILD_SA rebound{3} established with SPIs c5c5c5c5_i c6c6c6c6_o and TS 10.78.1.0/24 === 10.78.2.0/24
";
    let k = child_keys_by_spis(log);
    assert_eq!(k.len(), 2);
    assert_eq!((k[0].0.as_str(), k[0].1.as_str()), ("c1c1c1c1", "c2c2c2c2"));
    assert_eq!(k[0].2["encr_i2r"], "01020304");
    assert_eq!(k[0].2["encr_r2i"], "05060708");
    assert_eq!(k[0].2["integ_i2r"], "");
    assert_eq!(
        (k[1].0.as_str(), k[1].2["encr_i2r"].as_str()),
        ("c5c5c5c5", "0a0b0c0d")
    );
    assert_eq!(k[1].2["encr_r2i"], "");
}
