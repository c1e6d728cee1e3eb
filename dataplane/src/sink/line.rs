//! The hand-off line: one established SA as one JSON object.

use core::fmt::Write as _;

use rebound_engine::handoff::{EstablishedSa, Origin};
use rebound_engine::keylog::{KeyLogEntry, hex_field};
use zeroize::Zeroizing;

/// The hand-off line of one SA: the key log's object (SPIs, nonces,
/// transform ids, every SK_* key, `resumed_from`) under `"ike"`, plus what
/// a daemon needs to install the SA:
///
/// ```text
/// {"ike":{...},"peer":"ip:port","local":"ip:port",
///  "nat":{"peer_behind_nat":b,"local_behind_nat":b},
///  "id_i":{"type":n,"data":"<hex>"},"id_r":{...},"auth_method":n,"dh_group":n,
///  "worker":n,"established_at_ms":n,"reauth_deadline":n,
///  "origin":"initial"|"resumed"|"rekeyed","rekeyed_from":{"spi_i":"<hex>","spi_r":"<hex>"}|null,
///  "internal_addr":"ip"|null,"new_ticket":"<hex>"|null,
///  "child":{"spi_i":"<hex>","spi_r":"<hex>","encr":n,"encr_key_bits":n,
///           "integ":n|null,"esn":b,"encr_i2r":"<hex>","integ_i2r":"<hex>",
///           "encr_r2i":"<hex>","integ_r2i":"<hex>",
///           "ts_i":[{"proto":n,"ports":[a,b],"start":"ip","end":"ip"}],
///           "ts_r":[...]}|null}
/// ```
///
/// `worker` is 255 for the slow path's SAs (full exchanges and rekeys).
/// A rekeyed SA's old SA stays until its peer deletes it; a resumed SA's
/// (`ike.resumed_from`) is gone already (RFC 5723 §4.3.4).
///
/// The string holds keys; it is wiped when dropped.
pub fn handoff_line(sa: &EstablishedSa) -> Zeroizing<String> {
    let ike = Zeroizing::new(KeyLogEntry::from_sa(sa).json());
    let mut s = Zeroizing::new(String::with_capacity(ike.len() + 1024));
    // Writing to a String cannot fail.
    let _ = write!(
        s,
        r#"{{"ike":{},"peer":"{}","local":"{}","nat":{{"peer_behind_nat":{},"local_behind_nat":{}}}"#,
        &*ike, sa.peer, sa.local, sa.nat.peer_behind_nat, sa.nat.local_behind_nat
    );
    for (name, id) in [("id_i", &sa.id_i), ("id_r", &sa.id_r)] {
        let _ = write!(
            s,
            r#","{name}":{{"type":{},"data":"{}"}}"#,
            id.id_type.0,
            hex::encode(id.data())
        );
    }
    let _ = write!(
        s,
        r#","auth_method":{},"dh_group":{},"worker":{},"established_at_ms":{},"reauth_deadline":{}"#,
        sa.auth_method.0,
        sa.dh_group,
        sa.worker,
        sa.established_at.millis(),
        sa.reauth_deadline
    );
    let origin = match sa.origin {
        Origin::Initial => "initial",
        Origin::Resumed { .. } => "resumed",
        Origin::Rekeyed { .. } => "rekeyed",
    };
    let _ = write!(s, r#","origin":"{origin}""#);
    match sa.origin {
        Origin::Rekeyed {
            replaces: (spi_i, spi_r),
        } => {
            let _ = write!(
                s,
                r#","rekeyed_from":{{"spi_i":"{}","spi_r":"{}"}}"#,
                hex::encode(spi_i),
                hex::encode(spi_r)
            );
        }
        _ => s.push_str(r#","rekeyed_from":null"#),
    }
    match sa.internal_addr {
        Some(a) => {
            let _ = write!(s, r#","internal_addr":"{a}""#);
        }
        None => s.push_str(r#","internal_addr":null"#),
    }
    match &sa.new_ticket {
        Some(t) => {
            let _ = write!(s, r#","new_ticket":"{}""#, hex::encode(t.id.as_bytes()));
        }
        None => s.push_str(r#","new_ticket":null"#),
    }
    match &sa.child {
        None => s.push_str(r#","child":null"#),
        Some(c) => {
            let _ = write!(
                s,
                r#","child":{{"spi_i":"{}","spi_r":"{}","encr":{},"encr_key_bits":{},"integ":"#,
                hex::encode(c.spi_i),
                hex::encode(c.spi_r),
                c.encr.id(),
                c.encr.key_bits()
            );
            match c.integ {
                Some(i) => {
                    let _ = write!(s, "{}", i.id());
                }
                None => s.push_str("null"),
            }
            let _ = write!(s, r#","esn":{}"#, c.esn);
            for (name, key) in [
                ("encr_i2r", &c.keys.encr_i2r),
                ("integ_i2r", &c.keys.integ_i2r),
                ("encr_r2i", &c.keys.encr_r2i),
                ("integ_r2i", &c.keys.integ_r2i),
            ] {
                s.push(',');
                hex_field(&mut s, name, key.as_bytes());
            }
            for (name, list) in [("ts_i", &c.ts_i), ("ts_r", &c.ts_r)] {
                let _ = write!(s, r#","{name}":["#);
                for (i, t) in list.iter().enumerate() {
                    if i > 0 {
                        s.push(',');
                    }
                    let _ = write!(
                        s,
                        r#"{{"proto":{},"ports":[{},{}],"start":"{}","end":"{}"}}"#,
                        t.ip_proto, t.start_port, t.end_port, t.start, t.end
                    );
                }
                s.push(']');
            }
            s.push('}');
        }
    }
    s.push('}');
    s
}

#[cfg(test)]
mod tests {
    //! `handoff_line` against a real SA: one resumption run in memory
    //! (engine responder + initiator, virtual clock, seeded randomness).

    use std::net::{IpAddr, Ipv4Addr, SocketAddr};
    use std::sync::Arc;

    use rebound_engine::child::{EspProposal, MemoryPool};
    use rebound_engine::client::{ClientTicket, InitiatorConfig, ResumeInitiator};
    use rebound_engine::crypto::{Encr, IkeSuite, Integ, PrfAlg, SecretBuf};
    use rebound_engine::handoff::{EstablishedSa, Origin, TsRange};
    use rebound_engine::responder::{
        PacketMeta, ResponderConfig, ResponderShared, ResumeResponder,
    };
    use rebound_engine::ticket::TicketId;
    use rebound_engine::ticket::format::{MAX_VALUE_TICKET_LEN, TicketKind, seal};
    use rebound_engine::ticket::guard::{GuardConfig, MemoryGuard};
    use rebound_engine::ticket::keyring::{KeyRingCell, KeyWindow, TicketKey, TicketKeyRing};
    use rebound_engine::ticket::state::{TicketIdentity, TicketState, TicketSuite};
    use rebound_engine::time::Timestamp;
    use rebound_engine::wire::{AuthMethod, IdType};
    use serde_json::Value;

    use super::handoff_line;

    /// The virtual clock.
    const NOW: u64 = 1_800_000_000;

    /// One resumption in memory: AES-CBC-256 + HMAC-SHA-256 for the IKE SA
    /// and the child SA (so every integrity key is present), an internal
    /// address from a pool, a new ticket. Returns the responder's SA.
    fn resumed_sa(peer: SocketAddr, gateway: SocketAddr) -> Box<EstablishedSa> {
        let key = TicketKey::new(
            [1; 8],
            [0x11; 32],
            KeyWindow {
                issue_from: NOW - 3600,
                issue_until: NOW + 6 * 3600,
                accept_until: NOW + 18 * 3600,
            },
        )
        .expect("key");
        let ring = TicketKeyRing::new(vec![key]).expect("ring");
        let pool = MemoryPool::new(Some((Ipv4Addr::new(10, 9, 0, 0), 256)), None).expect("pool");
        let shared = ResponderShared {
            keys: Arc::new(KeyRingCell::new(ring.clone())),
            guard: Arc::new(MemoryGuard::new(GuardConfig::default(), [3; 16]).expect("guard")),
            revocations: None,
            store: None,
            pool: Some(Arc::new(pool)),
        };
        let config = ResponderConfig {
            worker_id: 3,
            ..ResponderConfig::default()
        };
        let now = Timestamp::from_secs(NOW);
        let mut gw = ResumeResponder::new(
            config,
            shared,
            Box::new(crate::runtime::BufferedOsRng::new()),
            now,
        );

        let suite = IkeSuite::new(
            Encr::AES_CBC_256,
            PrfAlg::HmacSha256,
            Some(Integ::HmacSha256_128),
        )
        .expect("suite");
        let mut state = TicketState {
            ticket_id: TicketId([0; 16]),
            id_i: TicketIdentity::new(IdType::FQDN, b"client-7.example.net").expect("id"),
            id_r: TicketIdentity::new(IdType::KEY_ID, &[0xde, 0xad, 0x00, 0xbe, 0xef]).expect("id"),
            peer_identity: None,
            auth_method: AuthMethod::SHARED_KEY_MIC,
            suite: TicketSuite {
                suite,
                dh_group: 19,
            },
            sk_d: SecretBuf::from_slice(&[0x5d; 32]).expect("sk_d"),
            old_spi_i: [0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08],
            old_spi_r: [0x03, 0xa0, 0xb0, 0xc0, 0xd0, 0xe0, 0xf0, 0x0f],
            internal_addr: Some(IpAddr::V4(Ipv4Addr::new(10, 9, 0, 42))),
            issued_at: NOW - 3600,
            expiry: NOW + 6 * 3600,
            reauth_deadline: NOW + 20 * 3600,
        };
        let mut rng = crate::runtime::BufferedOsRng::new();
        let mut t = vec![0u8; MAX_VALUE_TICKET_LEN];
        let len = seal(
            TicketKind::ByValue,
            &mut state,
            &ring,
            None,
            &mut rng,
            NOW,
            &mut t,
        )
        .expect("seal");
        t.truncate(len);
        let ticket = ClientTicket {
            opaque: t,
            expires_at: state.expiry,
            state,
        };
        let initiator = InitiatorConfig {
            esp: vec![EspProposal::AES_CBC_256_SHA256],
            ..InitiatorConfig::default()
        };
        let mut client =
            ResumeInitiator::new(Arc::new(initiator), ticket, peer, gateway, now, &mut rng)
                .expect("initiator");
        let meta = PacketMeta {
            peer,
            local: gateway,
        };
        let mut buf = vec![0u8; 4096];
        let mut out = vec![0u8; 4096];
        let q = client
            .poll_transmit(now, &mut buf)
            .expect("IKE_SESSION_RESUME");
        let r = gw
            .handle(now, &meta, &buf[..q], &mut out)
            .reply
            .expect("answer");
        client.handle(now, &out[..r], &mut rng);
        let q = client.poll_transmit(now, &mut buf).expect("IKE_AUTH");
        let h = gw.handle(now, &meta, &buf[..q], &mut out);
        h.established.expect("resumed")
    }

    fn v4() -> Box<EstablishedSa> {
        resumed_sa(
            "198.51.100.7:4500".parse().unwrap(),
            "192.0.2.1:4500".parse().unwrap(),
        )
    }

    fn parse(sa: &EstablishedSa) -> Value {
        let line = handoff_line(sa);
        assert!(!line.contains('\n'), "one line per SA: {}", &*line);
        serde_json::from_str(&line).expect("the line is JSON")
    }

    fn hex_of(v: &Value) -> Vec<u8> {
        hex::decode(v.as_str().expect("a hex string")).expect("valid hex")
    }

    fn check_ts(json: &Value, list: &[TsRange]) {
        let arr = json.as_array().expect("a TS list");
        assert_eq!(arr.len(), list.len());
        for (j, t) in arr.iter().zip(list) {
            assert_eq!(j["proto"], u64::from(t.ip_proto));
            assert_eq!(
                j["ports"],
                serde_json::json!([u64::from(t.start_port), u64::from(t.end_port)])
            );
            let start: IpAddr = j["start"].as_str().unwrap().parse().unwrap();
            let end: IpAddr = j["end"].as_str().unwrap().parse().unwrap();
            assert_eq!((start, end), (t.start, t.end));
        }
    }

    /// Every field of the line against the struct.
    fn check_line(sa: &EstablishedSa) {
        let v = parse(sa);
        let obj = v.as_object().unwrap();
        let keys: Vec<&str> = obj.keys().map(String::as_str).collect();
        for k in [
            "ike",
            "peer",
            "local",
            "nat",
            "id_i",
            "id_r",
            "auth_method",
            "dh_group",
            "worker",
            "established_at_ms",
            "reauth_deadline",
            "origin",
            "rekeyed_from",
            "internal_addr",
            "new_ticket",
            "child",
        ] {
            assert!(obj.contains_key(k), "{k} missing from {keys:?}");
        }
        assert_eq!(obj.len(), 16, "{keys:?}");

        // The IKE SA, from the key log's object.
        let ike = &v["ike"];
        assert_eq!(hex_of(&ike["spi_i"]), sa.spi_i);
        assert_eq!(hex_of(&ike["spi_r"]), sa.spi_r);
        assert_eq!(hex_of(&ike["ni"]), sa.ni);
        assert_eq!(hex_of(&ike["nr"]), sa.nr);
        assert_eq!(ike["encr"], u64::from(sa.suite.encr().id()));
        assert_eq!(ike["encr_key_bits"], u64::from(sa.suite.encr().key_bits()));
        assert_eq!(ike["prf"], u64::from(sa.suite.prf().id()));
        match sa.suite.integ() {
            Some(i) => assert_eq!(ike["integ"], u64::from(i.id())),
            None => assert!(ike["integ"].is_null()),
        }
        let k = &sa.keys;
        for (name, key) in [
            ("sk_d", &k.sk_d),
            ("sk_ai", &k.sk_ai),
            ("sk_ar", &k.sk_ar),
            ("sk_ei", &k.sk_ei),
            ("sk_er", &k.sk_er),
            ("sk_pi", &k.sk_pi),
            ("sk_pr", &k.sk_pr),
        ] {
            assert_eq!(hex_of(&ike[name]), key.as_bytes(), "ike.{name}");
        }
        match sa.replaces() {
            Some((i, r)) => {
                assert_eq!(hex_of(&ike["resumed_from"]["spi_i"]), i);
                assert_eq!(hex_of(&ike["resumed_from"]["spi_r"]), r);
            }
            None => assert!(ike["resumed_from"].is_null()),
        }

        // Addresses and NAT status.
        let peer: SocketAddr = v["peer"].as_str().unwrap().parse().unwrap();
        let local: SocketAddr = v["local"].as_str().unwrap().parse().unwrap();
        assert_eq!((peer, local), (sa.peer, sa.local));
        assert_eq!(v["nat"]["peer_behind_nat"], sa.nat.peer_behind_nat);
        assert_eq!(v["nat"]["local_behind_nat"], sa.nat.local_behind_nat);

        // Identities, auth method, groups, worker, times.
        for (name, id) in [("id_i", &sa.id_i), ("id_r", &sa.id_r)] {
            assert_eq!(v[name]["type"], u64::from(id.id_type.0), "{name}.type");
            assert_eq!(hex_of(&v[name]["data"]), id.data(), "{name}.data");
        }
        assert_eq!(v["auth_method"], u64::from(sa.auth_method.0));
        assert_eq!(v["dh_group"], u64::from(sa.dh_group));
        assert_eq!(v["worker"], u64::from(sa.worker));
        assert_eq!(v["established_at_ms"], sa.established_at.millis());
        assert_eq!(v["reauth_deadline"], sa.reauth_deadline);

        match sa.internal_addr {
            Some(a) => {
                let got: IpAddr = v["internal_addr"].as_str().unwrap().parse().unwrap();
                assert_eq!(got, a);
            }
            None => assert!(v["internal_addr"].is_null()),
        }
        match &sa.new_ticket {
            Some(t) => assert_eq!(hex_of(&v["new_ticket"]), t.id.as_bytes()),
            None => assert!(v["new_ticket"].is_null()),
        }

        // The child SA.
        let c = &v["child"];
        match &sa.child {
            None => assert!(c.is_null()),
            Some(child) => {
                assert_eq!(hex_of(&c["spi_i"]), child.spi_i);
                assert_eq!(hex_of(&c["spi_r"]), child.spi_r);
                assert_eq!(c["encr"], u64::from(child.encr.id()));
                assert_eq!(c["encr_key_bits"], u64::from(child.encr.key_bits()));
                match child.integ {
                    Some(i) => assert_eq!(c["integ"], u64::from(i.id())),
                    None => assert!(c["integ"].is_null()),
                }
                assert_eq!(c["esn"], child.esn);
                for (name, key) in [
                    ("encr_i2r", &child.keys.encr_i2r),
                    ("integ_i2r", &child.keys.integ_i2r),
                    ("encr_r2i", &child.keys.encr_r2i),
                    ("integ_r2i", &child.keys.integ_r2i),
                ] {
                    assert_eq!(hex_of(&c[name]), key.as_bytes(), "child.{name}");
                }
                check_ts(&c["ts_i"], &child.ts_i);
                check_ts(&c["ts_r"], &child.ts_r);
            }
        }
    }

    #[test]
    fn handoff_line_carries_every_field_of_a_resumed_sa() {
        let sa = v4();
        // The fixture exercises every optional part.
        assert_eq!(
            sa.replaces(),
            Some((
                [0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08],
                [0x03, 0xa0, 0xb0, 0xc0, 0xd0, 0xe0, 0xf0, 0x0f]
            ))
        );
        assert_eq!(sa.worker, 3);
        assert_eq!(sa.spi_r[0], 3, "SPIr's top byte is the worker");
        assert!(sa.new_ticket.is_some());
        assert_eq!(
            sa.internal_addr,
            Some(IpAddr::V4(Ipv4Addr::new(10, 9, 0, 42))),
            "the ticket's address is reassigned"
        );
        let child = sa.child.as_ref().expect("a child SA");
        assert_eq!(child.integ, Some(Integ::HmacSha256_128));
        assert!(!child.keys.integ_i2r.is_empty() && !sa.keys.sk_ai.is_empty());
        assert!(!child.ts_i.is_empty() && !child.ts_r.is_empty());
        check_line(&sa);

        // Spot checks with literal values, independent of the helpers.
        let v = parse(&sa);
        assert_eq!(v["peer"], "198.51.100.7:4500");
        assert_eq!(v["local"], "192.0.2.1:4500");
        assert_eq!(v["id_i"]["type"], 2);
        assert_eq!(v["id_i"]["data"], hex::encode(b"client-7.example.net"));
        assert_eq!(v["id_r"]["type"], 11);
        assert_eq!(v["id_r"]["data"], "dead00beef");
        assert_eq!(v["ike"]["resumed_from"]["spi_i"], "0102030405060708");
        assert_eq!(v["ike"]["resumed_from"]["spi_r"], "03a0b0c0d0e0f00f");
        assert_eq!(v["origin"], "resumed");
        assert_eq!(v["internal_addr"], "10.9.0.42");
        assert_eq!(v["dh_group"], 19);
        assert_eq!(v["auth_method"], 2);
        assert_eq!(v["established_at_ms"], NOW * 1000);
        assert_eq!(v["reauth_deadline"], NOW + 20 * 3600);
        assert_eq!(v["child"]["ts_i"][0]["start"], "10.9.0.42");
    }

    #[test]
    fn handoff_line_of_an_ipv6_peer() {
        let sa = resumed_sa(
            "[2001:db8::7]:4500".parse().unwrap(),
            "[2001:db8::1]:500".parse().unwrap(),
        );
        check_line(&sa);
        let v = parse(&sa);
        assert_eq!(v["peer"], "[2001:db8::7]:4500");
        assert_eq!(v["local"], "[2001:db8::1]:500");
    }

    #[test]
    fn handoff_line_writes_null_for_what_an_sa_lacks() {
        let mut sa = v4();
        sa.child = None;
        sa.internal_addr = None;
        sa.new_ticket = None;
        sa.origin = Origin::Initial;
        sa.nat.peer_behind_nat = true;
        check_line(&sa);
        let v = parse(&sa);
        assert!(v["child"].is_null());
        assert!(v["internal_addr"].is_null());
        assert!(v["new_ticket"].is_null());
        assert!(v["ike"]["resumed_from"].is_null());
        assert_eq!(v["origin"], "initial");
        assert!(v["rekeyed_from"].is_null());
        assert_eq!(v["nat"]["peer_behind_nat"], true);
        assert_eq!(v["nat"]["local_behind_nat"], false);
    }

    #[test]
    fn handoff_line_of_a_rekeyed_sa_names_the_sa_it_replaces() {
        let mut sa = v4();
        sa.origin = Origin::Rekeyed {
            replaces: ([0x11; 8], [0xff, 2, 3, 4, 5, 6, 7, 8]),
        };
        check_line(&sa);
        let v = parse(&sa);
        assert_eq!(v["origin"], "rekeyed");
        assert_eq!(v["rekeyed_from"]["spi_i"], "1111111111111111");
        assert_eq!(v["rekeyed_from"]["spi_r"], "ff02030405060708");
        // Not a resumption: the old SA is not gone yet.
        assert!(v["ike"]["resumed_from"].is_null());
    }
}
