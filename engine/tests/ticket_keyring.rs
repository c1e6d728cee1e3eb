//! The ticket key ring with a virtual clock: issue and accept windows,
//! rotation, keys of another gateway, the key file codec and publication to
//! worker threads.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use rebound_engine::crypto::{AesGcmKey, GCM_NONCE_LEN, PrfAlg, PrfKey, prf};
use rebound_engine::ticket::keyring::{
    KEY_FILE_HEADER, KeyFileError, KeyFileProblem, KeyPolicy, KeyRingCell, KeyRingError,
    KeyRingReader, KeyState, KeyWindow, TicketKey, TicketKeyRing, format_key_file, parse_key_file,
};

const T0: u64 = 1_700_000_000;
const HOUR: u64 = 3600;

const ID1: [u8; 8] = [1, 1, 1, 1, 1, 1, 1, 1];
const ID2: [u8; 8] = [2, 2, 2, 2, 2, 2, 2, 2];
const ID3: [u8; 8] = [3, 3, 3, 3, 3, 3, 3, 3];

fn secret(b: u8) -> [u8; 32] {
    [b; 32]
}

fn first_ring(now: u64) -> TicketKeyRing {
    TicketKeyRing::default()
        .rotate(now, secret(0xa1), ID1, &KeyPolicy::default())
        .unwrap()
}

fn id_of(key: Option<&TicketKey>) -> Option<[u8; 8]> {
    key.map(|k| *k.id())
}

/// Seals `msg` with `sealer`, opens with `opener`: true if the tag verified
/// and the plaintext came back.
fn seal_open(sealer: &AesGcmKey, opener: &AesGcmKey, aad: &[u8]) -> bool {
    let nonce = [7u8; GCM_NONCE_LEN];
    let msg = b"ticket state: SK_d, ids, expiry".to_vec();
    let mut buf = msg.clone();
    let tag = sealer
        .seal_in_place_detached(&nonce, aad, &mut buf)
        .unwrap();
    opener
        .open_in_place_detached(&nonce, aad, &mut buf, &tag)
        .is_ok()
        && buf == msg
}

#[test]
fn defaults_rotate_every_6h_accept_for_12h() {
    let p = KeyPolicy::default();
    assert_eq!(p.rotate_every, 6 * HOUR);
    assert_eq!(p.accept_for, 12 * HOUR);
    let w = p.window_from(T0).unwrap();
    assert_eq!(
        w,
        KeyWindow {
            issue_from: T0,
            issue_until: T0 + 6 * HOUR,
            accept_until: T0 + 18 * HOUR,
        }
    );
    let zero = KeyPolicy {
        rotate_every: 0,
        accept_for: 1,
    };
    assert_eq!(zero.window_from(T0), Err(KeyRingError::ZeroRotationPeriod));
}

#[test]
fn first_key_issues_and_accepts_within_its_windows() {
    let ring = first_ring(T0);
    assert_eq!(ring.len(), 1);
    assert_eq!(id_of(ring.issuing_key(T0)), Some(ID1));
    assert_eq!(id_of(ring.issuing_key(T0 + 6 * HOUR - 1)), Some(ID1));
    // Issue window over: no key seals, the key still opens.
    assert_eq!(id_of(ring.issuing_key(T0 + 6 * HOUR)), None);
    assert_eq!(id_of(ring.accepting_key(&ID1, T0 + 6 * HOUR)), Some(ID1));
    assert_eq!(
        id_of(ring.accepting_key(&ID1, T0 + 18 * HOUR - 1)),
        Some(ID1)
    );
    assert_eq!(id_of(ring.accepting_key(&ID1, T0 + 18 * HOUR)), None);
    // No lower bound on acceptance: a key in the ring opens before it issues.
    assert_eq!(id_of(ring.accepting_key(&ID1, T0 - 100)), Some(ID1));
    assert_eq!(ring.issuing_key(T0 - 1).map(|k| *k.id()), None);
    assert_eq!(ring.state(&ID1, T0 - 1), Some(KeyState::Pending));
    assert_eq!(ring.state(&ID1, T0), Some(KeyState::Issuing));
    assert_eq!(ring.state(&ID1, T0 + 6 * HOUR), Some(KeyState::Accepting));
    assert_eq!(ring.state(&ID1, T0 + 18 * HOUR), Some(KeyState::Expired));
    assert_eq!(ring.state(&ID2, T0), None);
}

#[test]
fn after_rotate_key2_issues_and_key1_still_opens_until_its_accept_until() {
    let policy = KeyPolicy::default();
    let ring1 = first_ring(T0);
    let t1 = T0 + 6 * HOUR;
    let ring2 = ring1.rotate(t1, secret(0xb2), ID2, &policy).unwrap();
    assert_eq!(ring2.len(), 2);
    assert_eq!(id_of(ring2.issuing_key(t1)), Some(ID2));
    assert_eq!(id_of(ring2.accepting_key(&ID1, t1)), Some(ID1));
    assert_eq!(id_of(ring2.accepting_key(&ID2, t1)), Some(ID2));
    assert_eq!(ring2.state(&ID1, t1), Some(KeyState::Accepting));
    assert_eq!(ring2.state(&ID2, t1), Some(KeyState::Issuing));

    let k1 = ring2.get(&ID1).unwrap();
    assert_eq!(k1.issue_until(), t1);
    assert_eq!(k1.accept_until(), T0 + 18 * HOUR);
    let k2 = ring2.get(&ID2).unwrap();
    assert_eq!(k2.window(), policy.window_from(t1).unwrap());

    // Key 1 refused from its accept_until on; key 2 still fine.
    let end1 = k1.accept_until();
    assert!(ring2.accepting_key(&ID1, end1 - 1).is_some());
    assert!(ring2.accepting_key(&ID1, end1).is_none());
    assert!(ring2.accepting_key(&ID2, end1).is_some());

    // Rotation keeps the material: the key 1 of ring 2 opens what the key
    // 1 of ring 1 sealed.
    let k1_old = ring1.get(&ID1).unwrap();
    assert!(k1.same_secret(k1_old));
    assert!(seal_open(k1_old.aead(), k1.aead(), &ID1));

    // A third rotation after key 1's acceptance ended drops it.
    let ring3 = ring2.rotate(end1, secret(0xc3), ID3, &policy).unwrap();
    assert!(ring3.get(&ID1).is_none());
    assert_eq!(id_of(ring3.issuing_key(end1)), Some(ID3));
    assert_eq!(ring3.state(&ID2, end1), Some(KeyState::Accepting));
}

/// An early rotation ends the old key's issuing now but keeps its
/// acceptance: a ticket it sealed just before may live until its original
/// accept_until (a ticket's lifetime is bounded by its key's accept_until),
/// and must still open.
#[test]
fn early_rotation_ends_issuing_and_keeps_the_old_keys_acceptance() {
    let policy = KeyPolicy::default();
    let before = first_ring(T0);
    let accept_until = before.get(&ID1).unwrap().accept_until();
    let ring = before
        .rotate(T0 + HOUR, secret(0xb2), ID2, &policy)
        .unwrap();
    let k1 = ring.get(&ID1).unwrap();
    assert_eq!(k1.issue_until(), T0 + HOUR);
    assert_eq!(k1.accept_until(), accept_until);
    assert_eq!(id_of(ring.issuing_key(T0 + HOUR)), Some(ID2));
}

#[test]
fn rotation_refusals() {
    let policy = KeyPolicy::default();
    let ring = first_ring(T0);
    assert_eq!(
        ring.rotate(T0 + 1, secret(2), ID1, &policy).unwrap_err(),
        KeyRingError::DuplicateKeyId { id: ID1 }
    );
    assert_eq!(
        ring.rotate(T0, secret(2), ID2, &policy).unwrap_err(),
        KeyRingError::RotatedTooSoon {
            id: ID1,
            issue_from: T0
        }
    );
    let zero = KeyPolicy {
        rotate_every: 0,
        accept_for: 0,
    };
    assert!(ring.rotate(T0 + 1, secret(2), ID2, &zero).is_err());
}

#[test]
fn newest_issuing_key_seals_when_windows_overlap() {
    let a = TicketKey::new(
        ID1,
        secret(1),
        KeyWindow {
            issue_from: T0,
            issue_until: T0 + 10 * HOUR,
            accept_until: T0 + 20 * HOUR,
        },
    )
    .unwrap();
    let b = TicketKey::new(
        ID2,
        secret(2),
        KeyWindow {
            issue_from: T0 + HOUR,
            issue_until: T0 + 5 * HOUR,
            accept_until: T0 + 20 * HOUR,
        },
    )
    .unwrap();
    let ring = TicketKeyRing::new(vec![b, a]).unwrap();
    assert_eq!(id_of(ring.issuing_key(T0)), Some(ID1));
    assert_eq!(id_of(ring.issuing_key(T0 + HOUR)), Some(ID2));
    assert_eq!(id_of(ring.issuing_key(T0 + 5 * HOUR)), Some(ID1));
    assert_eq!(ring.state(&ID1, T0 + HOUR), Some(KeyState::Accepting));
}

#[test]
fn invalid_windows_and_duplicate_ids_refused_with_reasons() {
    let w = |f, u, a| KeyWindow {
        issue_from: f,
        issue_until: u,
        accept_until: a,
    };
    let e = TicketKey::new(ID1, secret(1), w(T0, T0, T0 + 1)).unwrap_err();
    assert!(matches!(e, KeyRingError::EmptyIssueWindow { .. }));
    assert!(e.to_string().contains("issue_from"), "{e}");
    let e = TicketKey::new(ID1, secret(1), w(T0 + 5, T0, T0 + 9)).unwrap_err();
    assert!(matches!(e, KeyRingError::EmptyIssueWindow { .. }));
    let e = TicketKey::new(ID1, secret(1), w(T0, T0 + 10, T0 + 9)).unwrap_err();
    assert!(matches!(e, KeyRingError::AcceptEndsBeforeIssueEnds { .. }));
    assert!(e.to_string().contains("accept_until"), "{e}");
    // issue_until == accept_until is allowed.
    TicketKey::new(ID1, secret(1), w(T0, T0 + 10, T0 + 10)).unwrap();

    let k = |id| TicketKey::new(id, secret(1), w(T0, T0 + 10, T0 + 20)).unwrap();
    let e = TicketKeyRing::new(vec![k(ID1), k(ID2), k(ID1)]).unwrap_err();
    assert_eq!(e, KeyRingError::DuplicateKeyId { id: ID1 });
    assert!(e.to_string().contains("0101010101010101"), "{e}");
}

#[test]
fn another_gateways_ring_accepts_nothing_of_ours() {
    let ours = first_ring(T0);
    let theirs = TicketKeyRing::default()
        .rotate(T0, [0x5a; 32], [9; 8], &KeyPolicy::default())
        .unwrap();
    assert!(theirs.accepting_key(&ID1, T0).is_none());
    assert!(ours.accepting_key(&[9; 8], T0).is_none());
    // And had the ids collided, their key would not open our tickets.
    let ours_key = ours.issuing_key(T0).unwrap();
    let theirs_key = theirs.issuing_key(T0).unwrap();
    assert!(!seal_open(ours_key.aead(), theirs_key.aead(), &ID1));
    assert!(!ours_key.same_secret(theirs_key));
}

#[test]
fn subkeys_are_domain_separated_derivations_of_the_secret() {
    let ring = first_ring(T0);
    let key = ring.get(&ID1).unwrap();
    let s = secret(0xa1);
    let mut aead = [0u8; 32];
    prf(
        PrfAlg::HmacSha256,
        &s,
        &[b"rebound ticket aead v1"],
        &mut aead,
    )
    .unwrap();
    let mut mac = [0u8; 32];
    prf(
        PrfAlg::HmacSha256,
        &s,
        &[b"rebound ticket ref-mac v1"],
        &mut mac,
    )
    .unwrap();
    assert_ne!(aead, mac);
    assert_eq!(key.ref_mac_key(), &mac[..]);
    let expected = AesGcmKey::new(&aead).unwrap();
    assert_eq!(key.aead().key_bits(), 256);
    assert!(seal_open(&expected, key.aead(), b"aad"));
    // The keyed MAC equals HMAC-SHA-256 under the raw MAC key.
    let mut a = [0u8; 32];
    let mut b = [0u8; 32];
    key.ref_mac().compute(&[b"ref", b"erence"], &mut a).unwrap();
    PrfKey::new(PrfAlg::HmacSha256, &mac)
        .compute(&[b"reference"], &mut b)
        .unwrap();
    assert_eq!(a, b);
}

#[test]
fn debug_never_prints_secrets() {
    let ring = first_ring(T0);
    let text = format!("{ring:?}");
    assert!(text.contains("0101010101010101"), "{text}");
    assert!(text.contains("redacted"), "{text}");
    assert!(!text.contains("a1a1"), "{text}");
    let key = ring.get(&ID1).unwrap();
    let mac_hex = hex::encode(key.ref_mac_key());
    assert!(!format!("{key:?}").contains(&mac_hex[..8]));
    let cell = KeyRingCell::new(ring);
    assert!(!format!("{cell:?}").contains("a1a1"));
}

#[test]
fn key_file_round_trip_keeps_ids_windows_and_keys() {
    let ring = first_ring(T0)
        .rotate(T0 + 6 * HOUR, secret(0xb2), ID2, &KeyPolicy::default())
        .unwrap();
    let text = format_key_file(&ring);
    assert!(text.starts_with(&format!("{KEY_FILE_HEADER}\n")));
    assert!(text.contains(&format!(
        "id=0101010101010101 secret={} issue_from={} issue_until={} accept_until={}\n",
        "a1".repeat(32),
        T0,
        T0 + 6 * HOUR,
        T0 + 18 * HOUR
    )));
    let back = parse_key_file(&text).unwrap();
    assert_eq!(back.len(), ring.len());
    for (a, b) in ring.keys().iter().zip(back.keys()) {
        assert_eq!(a.id(), b.id());
        assert_eq!(a.window(), b.window());
        assert!(a.same_secret(b));
        assert_eq!(a.ref_mac_key(), b.ref_mac_key());
        assert!(seal_open(a.aead(), b.aead(), a.id()));
        assert!(seal_open(b.aead(), a.aead(), a.id()));
    }
    // Formatting the parsed ring gives the same text.
    assert_eq!(*format_key_file(&back), *text);
}

#[test]
fn key_file_accepts_comments_blank_lines_any_field_order_and_uppercase_hex() {
    let text = format!(
        "\n# leading comment\n{KEY_FILE_HEADER}   # trailing comment\n\n\
         \taccept_until=30 issue_until=20 issue_from=10 secret={} id=0A0B0C0D0E0F1011 # note\r\n",
        "AB".repeat(32)
    );
    let ring = parse_key_file(&text).unwrap();
    let key = ring
        .get(&[0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11])
        .unwrap();
    assert_eq!(
        key.window(),
        KeyWindow {
            issue_from: 10,
            issue_until: 20,
            accept_until: 30
        }
    );
}

fn line_error(text: &str) -> (usize, KeyFileProblem, String) {
    match parse_key_file(text) {
        Err(e @ KeyFileError::Line { .. }) => {
            let msg = e.to_string();
            let line = e.line().unwrap();
            let KeyFileError::Line { problem, .. } = e else {
                unreachable!()
            };
            (line, problem, msg)
        }
        other => panic!("expected a line error, got {other:?}"),
    }
}

#[test]
fn every_malformed_line_is_refused_with_its_line_number() {
    let sec = "cd".repeat(32);
    let good =
        format!("id=0000000000000001 secret={sec} issue_from=10 issue_until=20 accept_until=30");
    // (the bad line, what the message must say, a check on the problem)
    type Check = fn(&KeyFileProblem) -> bool;
    let cases: Vec<(String, &str, Check)> = vec![
        (
            format!("id=00000000000001 secret={sec} issue_from=1 issue_until=2 accept_until=3"),
            "`id` must be 16 hex digits (8 bytes), found 14",
            |p| matches!(p, KeyFileProblem::BadHex { field: "id", .. }),
        ),
        (
            format!("id=000000000000000g secret={sec} issue_from=1 issue_until=2 accept_until=3"),
            "`id` has a character that is not a hex digit at position 16",
            |p| matches!(p, KeyFileProblem::BadHex { field: "id", .. }),
        ),
        (
            format!(
                "id=0000000000000002 secret={} issue_from=1 issue_until=2 accept_until=3",
                &sec[..62]
            ),
            "`secret` must be 64 hex digits (32 bytes), found 62",
            |p| {
                matches!(
                    p,
                    KeyFileProblem::BadHex {
                        field: "secret",
                        ..
                    }
                )
            },
        ),
        (
            format!(
                "id=0000000000000002 secret=zz{} issue_from=1 issue_until=2 accept_until=3",
                &sec[..62]
            ),
            "`secret` has a character that is not a hex digit at position 1",
            |p| {
                matches!(
                    p,
                    KeyFileProblem::BadHex {
                        field: "secret",
                        ..
                    }
                )
            },
        ),
        (
            format!("id=0000000000000002 secret={sec} issue_from=-1 issue_until=2 accept_until=3"),
            "`issue_from` must be a decimal number",
            |p| {
                matches!(
                    p,
                    KeyFileProblem::BadNumber {
                        field: "issue_from"
                    }
                )
            },
        ),
        (
            format!("id=0000000000000002 secret={sec} issue_from=1 issue_until=+2 accept_until=3"),
            "`issue_until` must be a decimal number",
            |p| {
                matches!(
                    p,
                    KeyFileProblem::BadNumber {
                        field: "issue_until"
                    }
                )
            },
        ),
        (
            format!(
                "id=0000000000000002 secret={sec} issue_from=1 issue_until=2 accept_until=18446744073709551616"
            ),
            "`accept_until` must be a decimal number",
            |p| {
                matches!(
                    p,
                    KeyFileProblem::BadNumber {
                        field: "accept_until"
                    }
                )
            },
        ),
        (
            format!("id=0000000000000002 secret={sec} issue_from=1 issue_until=2"),
            "field `accept_until` is missing",
            |p| {
                matches!(
                    p,
                    KeyFileProblem::MissingField {
                        field: "accept_until"
                    }
                )
            },
        ),
        (
            format!(
                "id=0000000000000002 id=0000000000000003 secret={sec} issue_from=1 issue_until=2 accept_until=3"
            ),
            "field `id` appears twice",
            |p| matches!(p, KeyFileProblem::DuplicateField { field: "id" }),
        ),
        (
            format!(
                "id=0000000000000002 secret={sec} issue_from=1 issue_until=2 accept_until=3 lifetime=5"
            ),
            "unknown field `lifetime`",
            |p| matches!(p, KeyFileProblem::UnknownField { name: Some(_) }),
        ),
        (
            format!("id=0000000000000002 {sec} issue_from=1 issue_until=2 accept_until=3"),
            "word 2 is not name=value",
            |p| matches!(p, KeyFileProblem::NotNameValue { word: 2 }),
        ),
        (
            format!("id=0000000000000002 secret={sec} issue_from=5 issue_until=5 accept_until=9"),
            "issue_from (5) must be before issue_until (5)",
            |p| {
                matches!(
                    p,
                    KeyFileProblem::InvalidKey(KeyRingError::EmptyIssueWindow { .. })
                )
            },
        ),
        (
            format!("id=0000000000000002 secret={sec} issue_from=1 issue_until=5 accept_until=4"),
            "accept_until (4) must not be before issue_until (5)",
            |p| {
                matches!(
                    p,
                    KeyFileProblem::InvalidKey(KeyRingError::AcceptEndsBeforeIssueEnds { .. })
                )
            },
        ),
        (
            format!("id=0000000000000001 secret={sec} issue_from=1 issue_until=5 accept_until=6"),
            "key id 0000000000000001 was already used on line 3",
            |p| matches!(p, KeyFileProblem::DuplicateKeyId { first_line: 3, .. }),
        ),
    ];
    for (bad, says, check) in cases {
        // Header on line 1, a comment on line 2, a good key on line 3, the
        // bad line on line 4, another good key on line 5.
        let text = format!(
            "{KEY_FILE_HEADER}\n# keys\n{good}\n{bad}\nid=00000000000000ff secret={sec} issue_from=1 issue_until=2 accept_until=3\n"
        );
        let (line, problem, msg) = line_error(&text);
        assert_eq!(line, 4, "{bad}: {msg}");
        assert!(check(&problem), "{bad}: {problem:?}");
        assert!(msg.starts_with("line 4: "), "{msg}");
        assert!(msg.contains(says), "{bad}: {msg}");
        // No error ever echoes secret material.
        assert!(!msg.contains("cdcd"), "{msg}");
    }
}

#[test]
fn headers_and_empty_files_are_checked() {
    let sec = "cd".repeat(32);
    let key = format!("id=0000000000000001 secret={sec} issue_from=1 issue_until=2 accept_until=3");
    let (line, problem, msg) = line_error(&format!("rebound-ticket-keys v2\n{key}\n"));
    assert_eq!(line, 1);
    assert_eq!(
        problem,
        KeyFileProblem::UnsupportedVersion { found: "v2".into() }
    );
    assert!(msg.contains("version `v2` is not supported"), "{msg}");
    let (line, problem, _) = line_error(&format!("# hi\n{key}\n"));
    assert_eq!((line, problem), (2, KeyFileProblem::NotAKeyFile));
    let (line, problem, _) = line_error("rebound-ticket-keys v1 extra\n");
    assert_eq!((line, problem), (1, KeyFileProblem::NotAKeyFile));
    assert_eq!(parse_key_file("").unwrap_err(), KeyFileError::Empty);
    assert_eq!(
        parse_key_file("# nothing\n\n").unwrap_err(),
        KeyFileError::Empty
    );
    assert_eq!(
        parse_key_file(&format!("{KEY_FILE_HEADER}\n# no keys\n")).unwrap_err(),
        KeyFileError::NoKeys
    );
    assert_eq!(KeyFileError::NoKeys.line(), None);
}

#[test]
fn reader_sees_published_rings_across_threads() {
    let cell = Arc::new(KeyRingCell::new(first_ring(T0)));
    assert_eq!(cell.generation(), 0);
    let mut main_reader = KeyRingReader::new(Arc::clone(&cell));
    assert_eq!(id_of(main_reader.current().issuing_key(T0)), Some(ID1));

    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..3)
        .map(|_| {
            let mut reader = KeyRingReader::new(Arc::clone(&cell));
            let stop = Arc::clone(&stop);
            thread::spawn(move || {
                // Each worker watches the ring grow; what it sees never goes
                // backwards and always matches its generation.
                let mut last_len = 0;
                loop {
                    let done = stop.load(Ordering::Acquire);
                    let len = reader.current().len();
                    assert!(len >= last_len, "ring went backwards");
                    assert_eq!(len as u64, reader.seen_generation() + 1);
                    last_len = len;
                    if done {
                        return last_len;
                    }
                    thread::yield_now();
                }
            })
        })
        .collect();

    let policy = KeyPolicy::default();
    let mut ring = cell.load().as_ref().clone();
    for n in 1..=5u8 {
        let now = T0 + u64::from(n) * 60;
        ring = ring.rotate(now, secret(n), [n + 10; 8], &policy).unwrap();
        assert_eq!(cell.publish(ring.clone()), u64::from(n));
    }
    stop.store(true, Ordering::Release);
    for w in workers {
        assert_eq!(w.join().unwrap(), 6);
    }
    let current = main_reader.current();
    assert_eq!(current.len(), 6);
    assert_eq!(id_of(current.issuing_key(T0 + 300)), Some([15; 8]));
    assert_eq!(main_reader.seen_generation(), 5);
}

#[test]
fn a_retired_key_opens_as_before_and_never_issues() {
    let ring = first_ring(T0);
    let key = ring.issuing_key(T0 + 10).unwrap().clone();
    let retired = key.retired_at(T0 + 10).unwrap();
    assert_eq!(retired.id(), key.id());
    assert!(retired.same_secret(&key));
    assert_eq!(retired.accept_until(), key.accept_until());
    assert_eq!(retired.issue_until(), T0 + 10);
    let r = TicketKeyRing::new(vec![retired]).unwrap();
    assert!(r.issuing_key(T0 + 10).is_none());
    assert!(r.accepting_key(&ID1, T0 + 10).is_some());
    // A key that has not started issuing yet never will.
    let pending = TicketKey::new(
        ID2,
        secret(2),
        KeyWindow {
            issue_from: T0 + 100,
            issue_until: T0 + 200,
            accept_until: T0 + 300,
        },
    )
    .unwrap();
    let p = pending.retired_at(T0).unwrap();
    assert_eq!(p.window().issue_until, T0);
    assert!(!p.window().issues_at(T0) && !p.window().issues_at(T0 + 150));
    assert_eq!(p.accept_until(), T0 + 300);
    // A key already past its issue window is unchanged.
    let old = key.retired_at(key.issue_until() + 5).unwrap();
    assert_eq!(old.window(), key.window());
}
