//! The hand-off lines: one established SA, or one SA event (an IKE SA
//! deleted, a child SA created, rekeyed or deleted), as one JSON object.

use core::fmt::Write as _;

use rebound_engine::handoff::{ChildSa, EstablishedSa, Origin};
use rebound_engine::keylog::{KeyLogEntry, hex_field};
use zeroize::Zeroizing;

use rebound_engine::handoff::SaChange;

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
    let child = sa.child.as_ref().map_or(0, child_len_hint);
    let mut s = Zeroizing::new(String::with_capacity(ike.len() + 1024 + child));
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
            s.push_str(r#","child":"#);
            child_object(&mut s, c);
        }
    }
    s.push('}');
    s
}

/// The `child` object of an SA line and of the child event lines:
///
/// ```text
/// {"spi_i":"<hex>","spi_r":"<hex>","encr":n,"encr_key_bits":n,
///  "integ":n|null,"esn":b,"encr_i2r":"<hex>","integ_i2r":"<hex>",
///  "encr_r2i":"<hex>","integ_r2i":"<hex>",
///  "ts_i":[{"proto":n,"ports":[a,b],"start":"ip","end":"ip"}],"ts_r":[...]}
/// ```
///
/// Written straight into `s`, which must have room for
/// [`child_len_hint`] more bytes (a reallocation would free an unwiped
/// copy of the keys).
fn child_object(s: &mut String, c: &ChildSa) {
    let _ = write!(
        s,
        r#"{{"spi_i":"{}","spi_r":"{}","encr":{},"encr_key_bits":{},"integ":"#,
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
        hex_field(s, name, key.as_bytes());
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

/// Enough room for [`child_object`]: names, numbers and punctuation in
/// 256 bytes, the keys in hex, and at most 128 bytes per selector (two
/// IPv6 addresses of 39 characters and the rest).
fn child_len_hint(c: &ChildSa) -> usize {
    let k = &c.keys;
    let keys = k.encr_i2r.len() + k.integ_i2r.len() + k.encr_r2i.len() + k.integ_r2i.len();
    256 + 2 * keys + 128 * (c.ts_i.len() + c.ts_r.len())
}

/// `{"spi_i":"<hex>","spi_r":"<hex>"}`.
fn spis_object(s: &mut String, spi_i: &[u8], spi_r: &[u8]) {
    let _ = write!(
        s,
        r#"{{"spi_i":"{}","spi_r":"{}"}}"#,
        hex::encode(spi_i),
        hex::encode(spi_r)
    );
}

/// The line of one SA event, in the same stream as the SA lines (a
/// daemon tells them apart by their one member besides `seq`):
///
/// ```text
/// {"deleted":{"spi_i":"<hex>","spi_r":"<hex>"}}
/// {"child_created":{"ike":{"spi_i":"<hex>","spi_r":"<hex>"},"child":{...}}}
/// {"child_rekeyed":{"ike":{...},"old":{"spi_i":"<hex>","spi_r":"<hex>"},"child":{...}}}
/// {"child_deleted":{"ike":{...},"children":[{"spi_i":"<hex>","spi_r":"<hex>"},...]}}
/// ```
///
/// `ike` names the IKE SA (its SPIi and SPIr, as in its SA line's `ike`);
/// `child` is the object of an SA line's `child` (SPIs, transforms, keys,
/// the narrowed selectors); `old` and `children` name child SAs by their
/// `spi_i` (the initiator's inbound SPI) and `spi_r` (the responder's).
/// A rekeyed child's old SA stays until the peer deletes it (a
/// `child_deleted` line follows).
///
/// The string may hold keys; it is wiped when dropped.
pub fn event_line(event: &SaChange) -> Zeroizing<String> {
    let hint = match event {
        SaChange::ChildCreated { child, .. } | SaChange::ChildRekeyed { child, .. } => {
            child_len_hint(child)
        }
        SaChange::ChildDeleted { children, .. } => 48 * children.len(),
        SaChange::Deleted { .. } => 0,
    };
    let mut s = Zeroizing::new(String::with_capacity(256 + hint));
    match event {
        SaChange::Deleted { spi_i, spi_r } => {
            s.push_str(r#"{"deleted":"#);
            spis_object(&mut s, spi_i, spi_r);
        }
        SaChange::ChildCreated { ike, child } => {
            s.push_str(r#"{"child_created":{"ike":"#);
            spis_object(&mut s, &ike.0, &ike.1);
            s.push_str(r#","child":"#);
            child_object(&mut s, child);
            s.push('}');
        }
        SaChange::ChildRekeyed { ike, old, child } => {
            s.push_str(r#"{"child_rekeyed":{"ike":"#);
            spis_object(&mut s, &ike.0, &ike.1);
            s.push_str(r#","old":"#);
            spis_object(&mut s, &old.spi_i, &old.spi_r);
            s.push_str(r#","child":"#);
            child_object(&mut s, child);
            s.push('}');
        }
        SaChange::ChildDeleted { ike, children } => {
            s.push_str(r#"{"child_deleted":{"ike":"#);
            spis_object(&mut s, &ike.0, &ike.1);
            s.push_str(r#","children":["#);
            for (i, c) in children.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                spis_object(&mut s, &c.spi_i, &c.spi_r);
            }
            s.push_str("]}");
        }
    }
    s.push('}');
    s
}

#[cfg(test)]
pub(crate) mod tests {
    //! `handoff_line` against a real SA: one resumption run in memory
    //! (engine responder + initiator, virtual clock, seeded randomness).

    use std::net::{IpAddr, Ipv4Addr, SocketAddr};
    use std::sync::Arc;

    use rebound_engine::child::{EspProposal, MemoryPool};
    use rebound_engine::client::{ClientTicket, InitiatorConfig, ResumeInitiator};
    use rebound_engine::crypto::{Encr, IkeSuite, Integ, PrfAlg, SecretBuf};
    use rebound_engine::handoff::{ChildSa, ChildSpis, EstablishedSa, Origin, TsRange};
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

    use super::{child_len_hint, event_line, handoff_line};
    use rebound_engine::handoff::SaChange;

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

    /// A resumed SA over IPv4 with a child SA, an address and a ticket (the
    /// other sinks' tests use it too).
    pub(crate) fn v4() -> Box<EstablishedSa> {
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
        assert_eq!(hex_of(&ike["ni"]), sa.ni.to_vec());
        assert_eq!(hex_of(&ike["nr"]), sa.nr.to_vec());
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
            Some(child) => check_child(c, child),
        }
    }

    /// A `child` object against the child SA.
    fn check_child(c: &Value, child: &ChildSa) {
        let obj = c.as_object().expect("a child object");
        assert_eq!(obj.len(), 12, "{c}");
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

    /// A child SA like the fixture's, with other SPIs and keys.
    pub(crate) fn other_child(sa: &EstablishedSa, spi: u8) -> Box<ChildSa> {
        let mut c = sa.child.clone().expect("the fixture has a child SA");
        c.spi_i = [spi, 1, 2, 3];
        c.spi_r = [spi, 4, 5, 6];
        let key = |b: u8, like: &rebound_engine::crypto::SecretBuf| {
            rebound_engine::crypto::SecretBuf::from_slice(&vec![b; like.len()]).unwrap()
        };
        c.keys.encr_i2r = key(spi ^ 0x11, &c.keys.encr_i2r);
        c.keys.integ_i2r = key(spi ^ 0x22, &c.keys.integ_i2r);
        c.keys.encr_r2i = key(spi ^ 0x33, &c.keys.encr_r2i);
        c.keys.integ_r2i = key(spi ^ 0x44, &c.keys.integ_r2i);
        Box::new(c)
    }

    fn parse_event(e: &SaChange) -> Value {
        let line = event_line(e);
        assert!(!line.contains('\n'), "one line per event: {}", &*line);
        assert!(line.len() <= line.capacity());
        serde_json::from_str(&line).expect("the line is JSON")
    }

    /// The only member of an event line, by name.
    fn member<'a>(v: &'a Value, name: &str) -> &'a Value {
        let obj = v.as_object().unwrap();
        assert_eq!(obj.keys().collect::<Vec<_>>(), [name], "{v}");
        &v[name]
    }

    #[test]
    fn child_created_line_carries_the_child_as_an_sa_line_does() {
        let sa = v4();
        let child = other_child(&sa, 0xc1);
        let v = parse_event(&SaChange::ChildCreated {
            ike: (sa.spi_i, sa.spi_r),
            child: child.clone(),
        });
        let e = member(&v, "child_created");
        assert_eq!(e.as_object().unwrap().len(), 2, "{e}");
        assert_eq!(hex_of(&e["ike"]["spi_i"]), sa.spi_i);
        assert_eq!(hex_of(&e["ike"]["spi_r"]), sa.spi_r);
        assert_eq!(e["ike"].as_object().unwrap().len(), 2);
        check_child(&e["child"], &child);
        assert_eq!(e["child"]["spi_i"], "c1010203");
        assert_eq!(e["child"]["encr_i2r"].as_str().unwrap()[..4], *"d0d0");
        // The same object as an SA line's child.
        let mut with = v4();
        with.child = Some((*child).clone());
        assert_eq!(e["child"], parse(&with)["child"]);
    }

    #[test]
    fn child_rekeyed_line_names_the_old_child() {
        let sa = v4();
        let old = sa.child.as_ref().unwrap();
        let child = other_child(&sa, 0xc2);
        let v = parse_event(&SaChange::ChildRekeyed {
            ike: (sa.spi_i, sa.spi_r),
            old: ChildSpis {
                spi_i: old.spi_i,
                spi_r: old.spi_r,
            },
            child: child.clone(),
        });
        let e = member(&v, "child_rekeyed");
        assert_eq!(e.as_object().unwrap().len(), 3, "{e}");
        assert_eq!(hex_of(&e["ike"]["spi_r"]), sa.spi_r);
        assert_eq!(hex_of(&e["old"]["spi_i"]), old.spi_i);
        assert_eq!(hex_of(&e["old"]["spi_r"]), old.spi_r);
        assert_eq!(e["old"].as_object().unwrap().len(), 2);
        check_child(&e["child"], &child);
    }

    #[test]
    fn delete_lines_literally() {
        let ike = ([1; 8], [0xff, 2, 3, 4, 5, 6, 7, 8]);
        let line = event_line(&SaChange::Deleted {
            spi_i: ike.0,
            spi_r: ike.1,
        });
        assert_eq!(
            &*line,
            r#"{"deleted":{"spi_i":"0101010101010101","spi_r":"ff02030405060708"}}"#
        );
        let line = event_line(&SaChange::ChildDeleted {
            ike,
            children: vec![
                ChildSpis {
                    spi_i: [0xc1, 0, 0, 1],
                    spi_r: [0xc2, 0, 0, 2],
                },
                ChildSpis {
                    spi_i: [0xd1, 0, 0, 1],
                    spi_r: [0xd2, 0, 0, 2],
                },
            ],
        });
        assert_eq!(
            &*line,
            concat!(
                r#"{"child_deleted":{"ike":{"spi_i":"0101010101010101","spi_r":"ff02030405060708"},"#,
                r#""children":[{"spi_i":"c1000001","spi_r":"c2000002"},{"spi_i":"d1000001","spi_r":"d2000002"}]}}"#
            )
        );
    }

    /// The line is written into room reserved up front: no reallocation
    /// leaves a copy of the keys behind, even with many IPv6 selectors.
    #[test]
    fn event_lines_fit_the_room_reserved_for_them() {
        let sa = v4();
        let mut child = other_child(&sa, 0xc3);
        let wide = TsRange {
            ip_proto: 255,
            start_port: 65535,
            end_port: 65535,
            start: "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe".parse().unwrap(),
            end: "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff".parse().unwrap(),
        };
        child.ts_i = vec![wide; 20].into();
        child.ts_r = vec![wide; 3].into();
        let hint = child_len_hint(&child);
        let line = event_line(&SaChange::ChildRekeyed {
            ike: ([0xff; 8], [0xff; 8]),
            old: ChildSpis {
                spi_i: [0xff; 4],
                spi_r: [0xff; 4],
            },
            child,
        });
        assert!(line.len() <= 256 + hint, "{} > {}", line.len(), 256 + hint);
        assert_eq!(line.capacity(), 256 + hint, "reallocated");
        let mut with = v4();
        with.child = Some(*other_child(&sa, 0xc3));
        with.child.as_mut().unwrap().ts_i = vec![wide; 20].into();
        let line = handoff_line(&with);
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["child"]["ts_i"].as_array().unwrap().len(), 20);
    }
}
