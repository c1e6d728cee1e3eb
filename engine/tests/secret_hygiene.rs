//! Secret hygiene (issue 16, item 4), over every key-holding type of the
//! engine in one place: `Debug` (plain and `{:#?}`) never shows a key byte,
//! and the types that hold keys by value wipe them on drop
//! (`ZeroizeOnDrop`, checked at compile time; the types with a hand-written
//! `Drop` are listed in docs/ARCHITECTURE.md, "Secrets").
//!
//! crypto_keys.rs, ticket_keyring.rs and ticket_format.rs check the crypto
//! types, the ticket key ring and the ticket state one by one; this file
//! adds the types that carry keys across the engine's seams: PSKs, child
//! SAs, the established SA handed to the control plane, cookie secrets,
//! Diffie-Hellman secrets.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use rebound_engine::cookie::CookieJar;
use rebound_engine::crypto::{
    ChildKeys, DhGroup, DhPrivate, DhShared, Encr, IkeKeys, IkeSuite, PackedKeys, PrfAlg, SecretBuf,
};
use rebound_engine::handoff::{ChildSa, EstablishedSa, NatStatus, NewSa, Origin};
use rebound_engine::rand::RandomSource;
use rebound_engine::slow_path::{Psk, PskTable};
use rebound_engine::ticket::TicketId;
use rebound_engine::ticket::keyring::{KeyWindow, TicketKey, TicketKeyRing};
use rebound_engine::ticket::state::{TicketIdentity, TicketState, TicketSuite};
use rebound_engine::time::Timestamp;
use rebound_engine::wire::{AuthMethod, IdType};

/// Every key in this file is this byte repeated: no rendering of a key may
/// show up in `Debug` output, and nothing else here prints it.
const K: u8 = 0xc7;

/// A PSK given as text: its characters must not show up either.
const PSK_TEXT: &[u8] = b"correct-horse-battery-staple-psk";

fn assert_redacted(what: &str, shown: &str) {
    for needle in ["c7", "C7", "199", "correct-horse", "[199"] {
        assert!(
            !shown.contains(needle),
            "{what}'s Debug shows key material ({needle:?}):\n{shown}"
        );
    }
}

fn debug_both<T: std::fmt::Debug>(what: &str, v: &T) {
    assert_redacted(what, &format!("{v:?}"));
    assert_redacted(what, &format!("{v:#?}"));
}

fn key(n: usize) -> SecretBuf {
    SecretBuf::from_slice(&vec![K; n]).unwrap()
}

fn ike_keys() -> IkeKeys {
    IkeKeys {
        sk_d: key(32),
        sk_ai: key(32),
        sk_ar: key(32),
        sk_ei: key(36),
        sk_er: key(36),
        sk_pi: key(32),
        sk_pr: key(32),
    }
}

fn child() -> ChildSa {
    ChildSa {
        spi_i: [0x11; 4],
        spi_r: [0x22; 4],
        encr: Encr::AES_GCM_256,
        integ: None,
        esn: false,
        keys: ChildKeys::split(Encr::AES_GCM_256, None, &[K; 72]).unwrap(),
        ts_i: Default::default(),
        ts_r: Default::default(),
    }
}

fn identity(name: &str) -> TicketIdentity {
    TicketIdentity::new(IdType::FQDN, name.as_bytes()).unwrap()
}

/// Fills every buffer with [`K`]: a "random" secret made of key bytes.
struct KeyBytes;

impl RandomSource for KeyBytes {
    fn fill(&mut self, dest: &mut [u8]) {
        dest.fill(K);
    }
}

#[test]
fn no_key_holding_type_prints_a_key() {
    let psk = Psk {
        id: identity("peer.example"),
        secret: SecretBuf::from_slice(PSK_TEXT).unwrap(),
        tickets: true,
    };
    debug_both("Psk", &psk);
    let psk_k = Psk {
        secret: key(32),
        ..psk.clone()
    };
    debug_both("Psk", &psk_k);
    debug_both("PskTable", &PskTable::new([psk, psk_k]));

    debug_both("IkeKeys", &ike_keys());
    debug_both("PackedKeys", &PackedKeys::pack(&ike_keys()));
    debug_both("ChildSa", &child());

    let suite = IkeSuite::new(Encr::AES_GCM_256, PrfAlg::HmacSha256, None).unwrap();
    let state = TicketState {
        ticket_id: TicketId([0x33; 16]),
        id_i: identity("client.example"),
        id_r: identity("gw.example"),
        peer_identity: None,
        auth_method: AuthMethod::SHARED_KEY_MIC,
        suite: TicketSuite {
            suite,
            dh_group: 31,
        },
        sk_d: key(32),
        old_spi_i: [0x44; 8],
        old_spi_r: [0x55; 8],
        internal_addr: Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2))),
        issued_at: 1_000,
        expiry: 2_000,
        reauth_deadline: 3_000,
    };
    debug_both("TicketState", &state);
    let peer: SocketAddr = "192.0.2.10:4500".parse().unwrap();
    let local: SocketAddr = "198.51.100.1:4500".parse().unwrap();
    let sa = EstablishedSa::new(
        &state,
        NewSa {
            spi_i: [0x66; 8],
            spi_r: [0x77; 8],
            peer,
            local,
            nat: NatStatus::default(),
            ni: [0x12; 32].into_iter().collect(),
            nr: [0x34; 32].into_iter().collect(),
            keys: ike_keys(),
            child: Some(child()),
            internal_addr: None,
            new_ticket: None,
        },
        Origin::Initial,
        0,
        Timestamp::from_millis(1_000_000),
    );
    debug_both("EstablishedSa", &sa);

    let ticket_key = TicketKey::new(
        [0x01; 8],
        [K; 32],
        KeyWindow {
            issue_from: 0,
            issue_until: 100,
            accept_until: 200,
        },
    )
    .unwrap();
    debug_both("TicketKey", &ticket_key);
    debug_both(
        "TicketKeyRing",
        &TicketKeyRing::new(vec![ticket_key]).unwrap(),
    );

    // Cookie secrets and DH private values come from the generator: here
    // every byte of them is K.
    debug_both(
        "CookieJar",
        &CookieJar::new(&mut KeyBytes, Timestamp::from_millis(0), 1_000),
    );
    debug_both(
        "DhPrivate",
        &DhPrivate::generate(DhGroup::Curve25519, &mut KeyBytes),
    );
}

/// The types that hold keys by value wipe them when dropped, through the
/// zeroize derive (the rest — SkCipher, PrfKey, AesGcmKey, the DH private
/// values, the ticket keys' shared material — have a `Drop` of their own).
#[test]
fn key_holders_zeroize_on_drop() {
    fn zeroize_on_drop<T: zeroize::ZeroizeOnDrop>() {}
    zeroize_on_drop::<SecretBuf>();
    zeroize_on_drop::<IkeKeys>();
    zeroize_on_drop::<PackedKeys>();
    zeroize_on_drop::<ChildKeys>();
    zeroize_on_drop::<DhShared>();
}
