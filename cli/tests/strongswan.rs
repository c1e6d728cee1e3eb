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
//! The child SA cases (child rekeys with and without PFS, a second child,
//! AUTH_LIFETIME, INITIAL_CONTACT) are in strongswan_children.rs, on the
//! same harness (strongswan/harness.rs).
//!
//! `harness_self_check_charon_against_charon` runs the same harness with a
//! strongSwan responder in the gateway's place, so a failure of the interop
//! tests is Rebound's, not the harness's.
//!
//! Needs root (namespaces, mounts), iproute2, charon, swanctl and the
//! plugins in `charon::PLUGINS` (scripts/test.sh installs the packages);
//! without them the tests fail and say what is missing.

#[path = "strongswan/charon.rs"]
mod charon;
mod common;
#[path = "strongswan/gateway.rs"]
mod gateway;
#[path = "strongswan/harness.rs"]
mod harness;
#[path = "strongswan/netns.rs"]
mod netns;

use std::time::{Duration, Instant};

use charon::{
    CLIENT_ID, Charon, Connection, GW_ID, child_keys, finish, ike_keys, parse_list_sas,
    swanctl_conf,
};
use common::{TempDir, handoff_daemon};
use gateway::Gateway;
use netns::{
    CLIENT_ADDR, CLIENT_INNER_NET, GW_ADDR, GW_INNER_ADDR, GW_INNER_NET, NetnsPair, ip_ok,
};
use serde_json::{Value, json};

use harness::*;

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
