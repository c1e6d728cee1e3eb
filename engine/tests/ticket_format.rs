//! Tickets by value and by reference: round trips for every transform
//! combination, sizes, tampering, truncation, expiry, revocation, reuse,
//! foreign key rings, and random bytes.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;
use rebound_engine::crypto::{Encr, IkeSuite, Integ, PrfAlg, SecretBuf};
use rebound_engine::ticket::format::{
    MAX_VALUE_TICKET_LEN, OpenContext, OpenSlot, REFERENCE_TICKET_LEN, SealError, TicketKind, open,
    open_batch, seal,
};
use rebound_engine::ticket::guard::{GuardConfig, MemoryGuard, SingleUseGuard};
use rebound_engine::ticket::keyring::{KeyWindow, TicketKey, TicketKeyRing};
use rebound_engine::ticket::revocation::RevocationList;
use rebound_engine::ticket::state::{TicketIdentity, TicketState, TicketSuite};
use rebound_engine::ticket::store::{MemoryTicketStore, StoreError, TicketStore};
use rebound_engine::ticket::{TicketId, TicketReject};
use rebound_engine::wire::{AuthMethod, IdType};

const T0: u64 = 1_800_000_000; // 2027-01-15
const HOUR: u64 = 3600;

fn ring_with(id: u8, secret: u8) -> TicketKeyRing {
    let key = TicketKey::new(
        [id; 8],
        [secret; 32],
        KeyWindow {
            issue_from: T0 - HOUR,
            issue_until: T0 + 6 * HOUR,
            accept_until: T0 + 18 * HOUR,
        },
    )
    .expect("valid key");
    TicketKeyRing::new(vec![key]).expect("valid ring")
}

fn ring() -> TicketKeyRing {
    ring_with(1, 0x11)
}

fn suites() -> Vec<IkeSuite> {
    let mut v = Vec::new();
    for prf in [
        PrfAlg::HmacSha1,
        PrfAlg::HmacSha256,
        PrfAlg::HmacSha384,
        PrfAlg::HmacSha512,
        PrfAlg::Aes128Xcbc,
    ] {
        for encr in [Encr::AES_GCM_128, Encr::AES_GCM_256] {
            v.push(IkeSuite::new(encr, prf, None).unwrap());
        }
        for encr in [Encr::AES_CBC_128, Encr::AES_CBC_256] {
            for integ in [
                Integ::HmacSha256_128,
                Integ::HmacSha384_192,
                Integ::HmacSha512_256,
            ] {
                v.push(IkeSuite::new(encr, prf, Some(integ)).unwrap());
            }
        }
    }
    v
}

fn state(suite: IkeSuite, idi_len: usize, idr_len: usize, n: u8) -> TicketState {
    let idi: Vec<u8> = (0..idi_len).map(|i| b'a' + (i % 26) as u8).collect();
    let idr: Vec<u8> = (0..idr_len).map(|i| b'A' + (i % 26) as u8).collect();
    let sk_d: Vec<u8> = (0..suite.prf().output_len()).map(|i| i as u8 ^ n).collect();
    TicketState {
        ticket_id: TicketId([n; 16]),
        id_i: TicketIdentity::new(IdType::FQDN, &idi).unwrap(),
        id_r: TicketIdentity::new(
            if idr_len == 4 {
                IdType::IPV4_ADDR
            } else {
                IdType::FQDN
            },
            &idr,
        )
        .unwrap(),
        peer_identity: None,
        auth_method: AuthMethod::SHARED_KEY_MIC,
        suite: TicketSuite {
            suite,
            dh_group: 31,
        },
        sk_d: SecretBuf::from_slice(&sk_d).unwrap(),
        old_spi_i: [0xa0 ^ n; 8],
        old_spi_r: [0xb0 ^ n; 8],
        internal_addr: Some(IpAddr::V4(Ipv4Addr::new(10, 9, 0, n))),
        issued_at: T0,
        expiry: T0 + 8 * HOUR,
        reauth_deadline: T0 + 24 * HOUR,
    }
}

fn gcm256() -> IkeSuite {
    IkeSuite::new(Encr::AES_GCM_256, PrfAlg::HmacSha256, None).unwrap()
}

/// A deterministic id source for tests: every call yields a new id (the
/// counter's low byte first, so ids spread over store shards). Not random,
/// and only ever used here.
fn fresh(buf: &mut [u8]) {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed) + 1;
    for (i, b) in buf.iter_mut().enumerate() {
        *b = (n >> (8 * (i % 8))) as u8 ^ (i as u8).wrapping_mul(0x9d);
    }
}

/// Seal `s` (which receives its fresh ticket id) into a new Vec.
fn sealed(
    kind: TicketKind,
    s: &mut TicketState,
    r: &TicketKeyRing,
    store: Option<&dyn TicketStore>,
) -> Vec<u8> {
    let mut buf = vec![0u8; MAX_VALUE_TICKET_LEN];
    let n = seal(kind, s, r, store, &mut fresh, T0, &mut buf).expect("seal");
    buf.truncate(n);
    buf
}

#[test]
fn round_trip_every_transform_combination_and_shape() {
    let r = ring();
    let store = MemoryTicketStore::new(1000, 4);
    let ctx = OpenContext {
        store: Some(&store),
        ..Default::default()
    };
    let mut n = 0u8;
    for suite in suites() {
        for (peer, addr) in [
            (false, None),
            (true, Some(IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3)))),
            (false, Some(IpAddr::V6(Ipv6Addr::LOCALHOST))),
        ] {
            n = n.wrapping_add(1);
            let mut s = state(suite, 20, 12, n);
            s.internal_addr = addr;
            if peer {
                s.peer_identity = TicketIdentity::new(IdType::RFC822_ADDR, b"eap-user@example");
            }
            for kind in [TicketKind::ByValue, TicketKind::ByReference] {
                let t = sealed(kind, &mut s, &r, Some(&store));
                let back = open(&t, &r, &ctx, T0 + 1).expect("opens");
                assert_eq!(back, s, "{suite:?} {kind:?}");
                if kind == TicketKind::ByReference {
                    assert_eq!(t.len(), REFERENCE_TICKET_LEN);
                }
            }
        }
    }
    assert_eq!(suites().len(), 40);
}

#[test]
fn ticket_sizes() {
    let r = ring();
    for (idi, idr, want) in [(32, 32, 182), (32, 10, 160), (20, 4, 142)] {
        let t = sealed(
            TicketKind::ByValue,
            &mut state(gcm256(), idi, idr, 1),
            &r,
            None,
        );
        assert_eq!(t.len(), want, "IDi {idi} IDr {idr}");
    }
}

#[test]
fn every_bit_flip_and_truncation_is_refused() {
    let r = ring();
    let store = MemoryTicketStore::new(10, 1);
    let ctx = OpenContext {
        store: Some(&store),
        ..Default::default()
    };
    for kind in [TicketKind::ByValue, TicketKind::ByReference] {
        let t = sealed(kind, &mut state(gcm256(), 24, 8, 7), &r, Some(&store));
        assert!(open(&t, &r, &ctx, T0).is_ok());
        for bit in 0..t.len() * 8 {
            let mut m = t.clone();
            m[bit / 8] ^= 1 << (bit % 8);
            let e = open(&m, &r, &ctx, T0).expect_err("flipped ticket opened");
            let want: &[TicketReject] = match bit / 8 {
                0 => &[TicketReject::UnknownVersion],
                1..=8 => &[TicketReject::UnknownKey],
                // A changed reference under a valid MAC cannot happen; the
                // MAC fails first. Same for the tag.
                _ => &[TicketReject::BadTag],
            };
            assert!(want.contains(&e), "{kind:?} bit {bit}: {e:?}");
        }
        for cut in 0..t.len() {
            let e = open(&t[..cut], &r, &ctx, T0).expect_err("truncated ticket opened");
            assert!(
                matches!(
                    e,
                    TicketReject::Malformed | TicketReject::UnknownVersion | TicketReject::BadTag
                ),
                "{kind:?} cut {cut}: {e:?}"
            );
        }
    }
}

#[test]
fn too_long_is_refused_before_decryption() {
    let r = ring();
    let mut t = sealed(TicketKind::ByValue, &mut state(gcm256(), 8, 8, 1), &r, None);
    t.resize(MAX_VALUE_TICKET_LEN + 1, 0);
    assert_eq!(
        open(&t, &r, &OpenContext::default(), T0),
        Err(TicketReject::TooLong)
    );
}

#[test]
fn another_gateways_ring_is_refused() {
    let ours = ring();
    let t = sealed(
        TicketKind::ByValue,
        &mut state(gcm256(), 8, 8, 1),
        &ours,
        None,
    );
    // Different key id: unknown. Same key id, different secret: bad tag.
    assert_eq!(
        open(&t, &ring_with(2, 0x11), &OpenContext::default(), T0),
        Err(TicketReject::UnknownKey)
    );
    assert_eq!(
        open(&t, &ring_with(1, 0x22), &OpenContext::default(), T0),
        Err(TicketReject::BadTag)
    );
    let store = MemoryTicketStore::new(10, 1);
    let t = sealed(
        TicketKind::ByReference,
        &mut state(gcm256(), 8, 8, 2),
        &ours,
        Some(&store),
    );
    let ctx = OpenContext {
        store: Some(&store),
        ..Default::default()
    };
    assert_eq!(
        open(&t, &ring_with(1, 0x22), &ctx, T0),
        Err(TicketReject::BadTag)
    );
}

#[test]
fn expiry_revocation_and_reuse() {
    let r = ring();
    let mut s = state(gcm256(), 8, 8, 3);
    let t = sealed(TicketKind::ByValue, &mut s, &r, None);
    let ctx = OpenContext::default();
    assert!(open(&t, &r, &ctx, s.expiry - 1).is_ok());
    assert_eq!(open(&t, &r, &ctx, s.expiry), Err(TicketReject::Expired));

    let rev = RevocationList::new(100);
    let ctx = OpenContext {
        revocations: Some(&rev),
        ..Default::default()
    };
    assert!(open(&t, &r, &ctx, T0).is_ok());
    rev.revoke_ticket(s.ticket_id, s.expiry).unwrap();
    assert_eq!(open(&t, &r, &ctx, T0), Err(TicketReject::Revoked));

    let guard = MemoryGuard::new(
        GuardConfig {
            claims_per_generation: 1000,
            ..GuardConfig::default()
        },
        [7; 16],
    )
    .unwrap();
    let ctx = OpenContext {
        guard: Some(&guard),
        ..Default::default()
    };
    assert!(open(&t, &r, &ctx, T0).is_ok(), "opening does not claim");
    assert!(open(&t, &r, &ctx, T0).is_ok());
    guard.claim(&s.ticket_id, s.expiry, T0).unwrap();
    assert_eq!(open(&t, &r, &ctx, T0), Err(TicketReject::Reused));
}

#[test]
fn reference_tickets_need_their_store() {
    let r = ring();
    let store = MemoryTicketStore::new(2, 1);
    let mut s = state(gcm256(), 8, 8, 4);
    let t = sealed(TicketKind::ByReference, &mut s, &r, Some(&store));
    let with = OpenContext {
        store: Some(&store),
        ..Default::default()
    };
    assert_eq!(open(&t, &r, &with, T0).unwrap(), s);
    assert_eq!(
        open(&t, &r, &OpenContext::default(), T0),
        Err(TicketReject::NotFound)
    );
    assert!(store.remove(&s.ticket_id).unwrap());
    assert_eq!(open(&t, &r, &with, T0), Err(TicketReject::NotFound));
    // Bounded: a full store refuses to issue rather than evicting live state.
    let mut buf = [0u8; 64];
    for n in 10..12 {
        let mut short = state(gcm256(), 8, 8, n);
        short.expiry = T0 + HOUR;
        seal(
            TicketKind::ByReference,
            &mut short,
            &r,
            Some(&store),
            &mut fresh,
            T0,
            &mut buf,
        )
        .unwrap();
    }
    assert_eq!(
        seal(
            TicketKind::ByReference,
            &mut state(gcm256(), 8, 8, 12),
            &r,
            Some(&store),
            &mut fresh,
            T0,
            &mut buf
        ),
        Err(SealError::Store(StoreError::Full))
    );
    // ...but expired entries make room.
    assert!(
        seal(
            TicketKind::ByReference,
            &mut state(gcm256(), 8, 8, 13),
            &r,
            Some(&store),
            &mut fresh,
            T0 + 2 * HOUR,
            &mut buf
        )
        .is_ok()
    );
}

/// A used or revoked by-reference ticket's state has left the store; its
/// authenticated id and expiry still say why it is refused, before the
/// store is asked.
#[test]
fn a_used_or_revoked_reference_is_refused_for_that_reason_not_as_missing() {
    let r = ring();
    let store = MemoryTicketStore::new(16, 1);
    let rev = RevocationList::new(16);
    let guard = MemoryGuard::new(
        GuardConfig {
            claims_per_generation: 1000,
            ..GuardConfig::default()
        },
        [9; 16],
    )
    .unwrap();
    let ctx = OpenContext {
        store: Some(&store),
        revocations: Some(&rev),
        guard: Some(&guard),
        cluster: None,
    };
    // Used: claimed, and its state dropped (as a successful IKE_AUTH does).
    let mut used = state(gcm256(), 8, 8, 20);
    let t_used = sealed(TicketKind::ByReference, &mut used, &r, Some(&store));
    assert!(open(&t_used, &r, &ctx, T0).is_ok());
    guard.claim(&used.ticket_id, used.expiry, T0).unwrap();
    assert!(store.remove(&used.ticket_id).unwrap());
    assert_eq!(open(&t_used, &r, &ctx, T0), Err(TicketReject::Reused));
    // Revoked: listed, claimed and dropped (as a DELETE of its SA does).
    let mut deleted = state(gcm256(), 8, 8, 21);
    let t_del = sealed(TicketKind::ByReference, &mut deleted, &r, Some(&store));
    rev.revoke_ticket(deleted.ticket_id, deleted.expiry)
        .unwrap();
    guard.claim(&deleted.ticket_id, deleted.expiry, T0).unwrap();
    assert!(store.remove(&deleted.ticket_id).unwrap());
    assert_eq!(open(&t_del, &r, &ctx, T0), Err(TicketReject::Revoked));
    assert_eq!(
        rev.check_ticket(&deleted.ticket_id, T0),
        Err(TicketReject::Revoked)
    );
    assert_eq!(rev.check_ticket(&deleted.ticket_id, deleted.expiry), Ok(()));
    // Past its expiry: `expired`, from the reference alone.
    assert_eq!(
        open(&t_del, &r, &ctx, deleted.expiry),
        Err(TicketReject::Expired)
    );
    // Lost state (a restart): `not_found`.
    let mut lost = state(gcm256(), 8, 8, 22);
    let t_lost = sealed(TicketKind::ByReference, &mut lost, &r, Some(&store));
    assert!(store.remove(&lost.ticket_id).unwrap());
    assert_eq!(open(&t_lost, &r, &ctx, T0), Err(TicketReject::NotFound));
}

/// `purge_expired` drops exactly the expired states and counts them; a
/// full shard is swept on `put` at most once a second, and refuses at
/// once in between.
#[test]
fn the_memory_store_purges_expired_states_and_counts_refusals() {
    let store = MemoryTicketStore::new(3, 1);
    let put = |n: u8, expiry: u64, now: u64| {
        let mut s = state(gcm256(), 8, 8, n);
        s.ticket_id = TicketId([n; 16]);
        s.expiry = expiry;
        store.put(&s.ticket_id, &s, now)
    };
    put(1, T0 + 10, T0).unwrap();
    put(2, T0 + 10, T0).unwrap();
    put(3, T0 + HOUR, T0).unwrap();
    let st = store.stats();
    assert_eq!((st.entries, st.capacity, st.full, st.expired), (3, 3, 0, 0));
    // Full, nothing expired: refused (the put's sweep of this second ran).
    assert_eq!(put(4, T0 + HOUR, T0), Err(StoreError::Full));
    assert_eq!(put(5, T0 + HOUR, T0), Err(StoreError::Full));
    assert_eq!(store.stats().full, 2);
    // Two expire; the periodic purge drops them, and only them.
    assert_eq!(store.purge_expired(T0 + 9), 0);
    assert_eq!(store.purge_expired(T0 + 10), 2);
    let st = store.stats();
    assert_eq!((st.entries, st.expired), (1, 2));
    assert!(store.get(&TicketId([3; 16]), T0 + 10).unwrap().is_some());
    // Room again.
    put(6, T0 + HOUR, T0 + 10).unwrap();
    put(7, T0 + 20, T0 + 10).unwrap();
    assert_eq!(put(8, T0 + HOUR, T0 + 10), Err(StoreError::Full));
    // A later second: the full shard is swept once on put, making room.
    put(9, T0 + HOUR, T0 + 21).unwrap();
    let st = store.stats();
    assert_eq!((st.entries, st.full, st.expired), (3, 3, 3));
}

#[test]
fn batch_results_are_in_order() {
    let r = ring();
    let mut want = state(gcm256(), 8, 8, 5);
    let good = sealed(TicketKind::ByValue, &mut want, &r, None);
    let mut bad = good.clone();
    bad[40] ^= 1;
    let tickets: Vec<&[u8]> = vec![&good, &bad, b"short", &good];
    let mut out = vec![OpenSlot::default(); 5];
    assert_eq!(
        open_batch(&tickets, &r, &OpenContext::default(), T0, &mut out),
        4
    );
    assert_eq!(out[0].result, Ok(()));
    assert_eq!(out[0].state, want);
    assert_eq!(out[1].result, Err(TicketReject::BadTag));
    assert_eq!(out[2].result, Err(TicketReject::Malformed));
    assert_eq!(out[3].result, Ok(()));
    assert_eq!(out[3].state, want);
    // A failed slot holds no key, even when it held one before.
    let mut again = out.clone();
    open_batch(&[&bad], &r, &OpenContext::default(), T0, &mut again);
    assert_eq!(again[0].result, Err(TicketReject::BadTag));
    assert!(again[0].state.sk_d.is_empty());
    assert_eq!(again[3].result, Ok(()), "slots past the batch untouched");
}

#[test]
fn every_seal_draws_a_fresh_id() {
    // The ticket id is the GCM nonce: sealing the same state twice must
    // give two ids and two unrelated ciphertexts.
    let r = ring();
    let mut s = state(gcm256(), 8, 8, 6);
    let a = sealed(TicketKind::ByValue, &mut s, &r, None);
    let id_a = s.ticket_id;
    let b = sealed(TicketKind::ByValue, &mut s, &r, None);
    assert_ne!(id_a, s.ticket_id);
    assert_ne!(a[9..25], b[9..25]);
    assert_ne!(a[25..], b[25..]);
}

#[test]
fn seal_refuses_a_lifetime_the_key_cannot_honour() {
    let r = ring();
    let mut buf = vec![0u8; MAX_VALUE_TICKET_LEN];
    let mut s = state(gcm256(), 8, 8, 7);
    s.expiry = T0;
    assert_eq!(
        seal(
            TicketKind::ByValue,
            &mut s,
            &r,
            None,
            &mut fresh,
            T0,
            &mut buf
        ),
        Err(SealError::Lifetime)
    );
    // Beyond the key's accept-until (T0 + 18 h): could never be opened.
    s.expiry = T0 + 19 * HOUR;
    assert_eq!(
        seal(
            TicketKind::ByValue,
            &mut s,
            &r,
            None,
            &mut fresh,
            T0,
            &mut buf
        ),
        Err(SealError::Lifetime)
    );
}

#[test]
fn store_entries_are_bound_to_their_id() {
    let r = ring();
    let store = MemoryTicketStore::new(10, 1);
    let ctx = OpenContext {
        store: Some(&store),
        ..Default::default()
    };
    let mut a = state(gcm256(), 8, 8, 8);
    let t = sealed(TicketKind::ByReference, &mut a, &r, Some(&store));
    // Another state planted under a's id (a corrupted or hostile shared
    // store) is refused, not resumed.
    let mut b = state(gcm256(), 9, 9, 9);
    b.ticket_id = TicketId([0xee; 16]);
    store.remove(&a.ticket_id).unwrap();
    store.put(&a.ticket_id, &b, T0).unwrap();
    assert_eq!(open(&t, &r, &ctx, T0), Err(TicketReject::Malformed));
    // And an id is never reused for new state.
    assert_eq!(store.put(&a.ticket_id, &a, T0), Err(StoreError::Duplicate));
}

#[test]
fn revoking_the_authenticated_peer_identity_catches_its_tickets() {
    let r = ring();
    let mut s = state(gcm256(), 8, 8, 10);
    s.peer_identity = TicketIdentity::new(IdType::RFC822_ADDR, b"alice@corp.example");
    let t = sealed(TicketKind::ByValue, &mut s, &r, None);
    let rev = RevocationList::new(10);
    let ctx = OpenContext {
        revocations: Some(&rev),
        ..Default::default()
    };
    assert!(open(&t, &r, &ctx, T0).is_ok());
    let mut key = vec![IdType::RFC822_ADDR.0];
    key.extend_from_slice(b"alice@corp.example");
    rev.revoke_identity(&key, T0, T0 + 24 * HOUR).unwrap();
    assert_eq!(open(&t, &r, &ctx, T0), Err(TicketReject::Revoked));
}

#[test]
fn debug_never_prints_sk_d() {
    let s = state(gcm256(), 8, 8, 0x5a);
    let d = format!("{s:?}");
    let sk: String = s
        .sk_d
        .as_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert!(!d.contains(&sk[..16]), "{d}");
    assert!(d.contains("redacted"), "{d}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bytes_never_open(bytes in proptest::collection::vec(any::<u8>(), 0..600), keep_header in any::<bool>()) {
        let r = ring();
        let store = MemoryTicketStore::new(10, 1);
        let ctx = OpenContext { store: Some(&store), ..Default::default() };
        let mut b = bytes;
        if keep_header && b.len() >= 9 {
            // A plausible header: our version and key id.
            b[0] = 1;
            b[1..9].copy_from_slice(&[1; 8]);
        }
        prop_assert!(open(&b, &r, &ctx, T0).is_err());
    }
}

#[test]
fn a_mixed_batch_opens_exactly_as_one_at_a_time() {
    // Two keys in the ring, tickets by value under each and by
    // reference, tampered ones, an unknown key, garbage: more than one
    // chunk of the batch kernel, every outcome as open() gives it.
    let key = |id: u8, secret: u8| {
        TicketKey::new(
            [id; 8],
            [secret; 32],
            KeyWindow {
                issue_from: T0 - HOUR,
                issue_until: T0 + 6 * HOUR,
                accept_until: T0 + 18 * HOUR,
            },
        )
        .expect("valid key")
    };
    let both = TicketKeyRing::new(vec![key(1, 0x11), key(2, 0x22)]).expect("two keys");
    let (a, b, other) = (ring_with(1, 0x11), ring_with(2, 0x22), ring_with(3, 0x33));
    let store = MemoryTicketStore::new(64, 4);
    let ctx = OpenContext {
        store: Some(&store),
        ..Default::default()
    };
    let mut tickets: Vec<Vec<u8>> = Vec::new();
    for i in 0..150usize {
        let mut s = state(gcm256(), 1 + i % 40, 1 + (i * 7) % 30, i as u8);
        let t = match i % 8 {
            0..=2 => sealed(TicketKind::ByValue, &mut s, &a, None),
            3 => sealed(TicketKind::ByValue, &mut s, &b, None),
            4 => {
                let mut t = sealed(TicketKind::ByValue, &mut s, &b, None);
                let at = (i * 13) % t.len();
                t[at] ^= 1 << (i % 8);
                t
            }
            5 => sealed(TicketKind::ByReference, &mut s, &a, Some(&store)),
            6 => sealed(TicketKind::ByValue, &mut s, &other, None),
            _ => vec![1u8; i % 60],
        };
        tickets.push(t);
    }
    let refs: Vec<&[u8]> = tickets.iter().map(Vec::as_slice).collect();
    let mut slots = vec![OpenSlot::default(); refs.len()];
    assert_eq!(open_batch(&refs, &both, &ctx, T0, &mut slots), refs.len());
    let mut opened = 0;
    for (i, (t, slot)) in refs.iter().zip(&slots).enumerate() {
        match open(t, &both, &ctx, T0) {
            Ok(s) => {
                assert_eq!(slot.result, Ok(()), "ticket {i}");
                assert_eq!(slot.state, s, "ticket {i}");
                opened += 1;
            }
            Err(e) => {
                assert_eq!(slot.result, Err(e), "ticket {i}");
                assert!(slot.state.sk_d.is_empty(), "ticket {i} holds no key");
            }
        }
    }
    // Each kind really occurred: 5 of every 8 open (by value under either
    // key, by reference); tampered, foreign and garbage ones do not.
    assert_eq!(opened, 150 / 8 * 5 + 5);
    let reasons: std::collections::HashSet<_> =
        slots.iter().filter_map(|s| s.result.err()).collect();
    assert!(reasons.contains(&TicketReject::BadTag));
    assert!(reasons.contains(&TicketReject::UnknownKey));
    assert!(reasons.contains(&TicketReject::Malformed));
}
