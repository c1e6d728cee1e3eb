//! The invalid ticket list (RFC 5723 §9.8; §6.2 and §9.7 for logout):
//! revocation by id and by identity, purge, the size bound, concurrency.

use std::sync::Arc;

use rebound_engine::ticket::revocation::{RevocationFull, RevocationList};
use rebound_engine::ticket::{TicketId, TicketReject};

fn id(b: u8) -> TicketId {
    TicketId([b; 16])
}

/// An identity as the ticket formats encode it: ID type octet, then data.
fn ident(name: &str) -> Vec<u8> {
    let mut v = vec![3u8]; // ID_RFC822_ADDR
    v.extend_from_slice(name.as_bytes());
    v
}

#[test]
fn empty_list_accepts() {
    let l = RevocationList::new(10);
    assert!(l.is_empty());
    assert_eq!(l.check(&id(1), &ident("a@example.com"), 100, 200), Ok(()));
}

#[test]
fn revoke_by_id_until_expiry() {
    let l = RevocationList::new(10);
    let alice = ident("alice@example.com");
    l.revoke_ticket(id(1), 1000).expect("room");
    assert_eq!(l.len(), 1);
    assert_eq!(l.check(&id(1), &alice, 10, 500), Err(TicketReject::Revoked));
    assert_eq!(l.check(&id(1), &alice, 10, 999), Err(TicketReject::Revoked));
    // At its expiry the ticket is refused as expired elsewhere; the list no
    // longer needs to say anything.
    assert_eq!(l.check(&id(1), &alice, 10, 1000), Ok(()));
    // Other tickets, same identity: unaffected.
    assert_eq!(l.check(&id(2), &alice, 10, 500), Ok(()));
}

#[test]
fn revoke_ticket_again_keeps_later_expiry() {
    let l = RevocationList::new(1);
    l.revoke_ticket(id(1), 1000).expect("room");
    // Updating an existing entry works even when full.
    l.revoke_ticket(id(1), 500).expect("update");
    assert_eq!(l.check(&id(1), b"x", 0, 800), Err(TicketReject::Revoked));
    l.revoke_ticket(id(1), 2000).expect("update");
    assert_eq!(l.check(&id(1), b"x", 0, 1500), Err(TicketReject::Revoked));
    assert_eq!(l.len(), 1);
}

#[test]
fn revoke_by_identity_cutoff() {
    let l = RevocationList::new(10);
    let alice = ident("alice@example.com");
    let bob = ident("bob@example.com");
    // Alice logs out at 5000: her tickets issued up to then are revoked
    // until 5000 + 24 h.
    l.revoke_identity(&alice, 5000, 5000 + 86_400)
        .expect("room");
    let now = 6000;
    assert_eq!(
        l.check(&id(1), &alice, 4000, now),
        Err(TicketReject::Revoked)
    );
    assert_eq!(
        l.check(&id(2), &alice, 5000, now),
        Err(TicketReject::Revoked)
    );
    // Issued after the cutoff (she logged in again): accepted.
    assert_eq!(l.check(&id(3), &alice, 5001, now), Ok(()));
    // A different identity: unaffected.
    assert_eq!(l.check(&id(4), &bob, 4000, now), Ok(()));
    // The same data under another ID type is another identity.
    let mut alice_fqdn = alice.clone();
    alice_fqdn[0] = 2;
    assert_eq!(l.check(&id(5), &alice_fqdn, 4000, now), Ok(()));
    // After `until`, the entry no longer applies.
    assert_eq!(l.check(&id(1), &alice, 4000, 5000 + 86_400), Ok(()));
}

#[test]
fn identity_revocation_keeps_max_cutoff_and_until() {
    let l = RevocationList::new(1);
    let carol = ident("carol");
    l.revoke_identity(&carol, 5000, 10_000).expect("room");
    // An older, narrower call must not narrow the revocation.
    l.revoke_identity(&carol, 3000, 8000)
        .expect("update when full");
    assert_eq!(
        l.check(&id(1), &carol, 4500, 9000),
        Err(TicketReject::Revoked)
    );
    // A later logout widens it.
    l.revoke_identity(&carol, 7000, 20_000).expect("update");
    assert_eq!(
        l.check(&id(1), &carol, 6500, 15_000),
        Err(TicketReject::Revoked)
    );
    assert_eq!(l.check(&id(1), &carol, 7001, 15_000), Ok(()));
    assert_eq!(l.len(), 1);
}

#[test]
fn both_kinds_checked_together() {
    let l = RevocationList::new(10);
    let dave = ident("dave");
    l.revoke_identity(&dave, 100, 1000).expect("room");
    l.revoke_ticket(id(9), 1000).expect("room");
    // Ticket 9 belongs to someone else, issued late: revoked by id.
    assert_eq!(
        l.check(&id(9), &ident("erin"), 900, 500),
        Err(TicketReject::Revoked)
    );
    assert_eq!(l.check(&id(8), &ident("erin"), 900, 500), Ok(()));
    assert_eq!(l.check(&id(8), &dave, 50, 500), Err(TicketReject::Revoked));
}

#[test]
fn purge_drops_only_what_passed() {
    let l = RevocationList::new(10);
    l.revoke_ticket(id(1), 100).expect("room");
    l.revoke_ticket(id(2), 300).expect("room");
    l.revoke_identity(&ident("f"), 50, 200).expect("room");
    l.revoke_identity(&ident("g"), 50, 400).expect("room");
    assert_eq!(l.len(), 4);
    assert_eq!(l.purge(99), 0);
    assert_eq!(l.purge(200), 2);
    assert_eq!(l.len(), 2);
    assert_eq!(l.check(&id(2), b"", 0, 250), Err(TicketReject::Revoked));
    assert_eq!(
        l.check(&id(7), &ident("g"), 10, 250),
        Err(TicketReject::Revoked)
    );
    assert_eq!(l.purge(400), 2);
    assert!(l.is_empty());
    assert_eq!(l.check(&id(2), &ident("g"), 10, 250), Ok(()));
}

#[test]
fn full_list_refuses_never_drops() {
    let l = RevocationList::new(3);
    l.revoke_ticket(id(1), 100).expect("room");
    l.revoke_ticket(id(2), 1000).expect("room");
    l.revoke_identity(&ident("h"), 10, 1000).expect("room");
    let full = RevocationFull { max_entries: 3 };
    assert_eq!(l.revoke_ticket(id(3), 1000), Err(full));
    assert_eq!(l.revoke_identity(&ident("i"), 10, 1000), Err(full));
    assert!(full.to_string().contains("full"));
    // Nothing was recorded, nothing was evicted.
    assert_eq!(l.len(), 3);
    assert_eq!(l.check(&id(3), &ident("i"), 5, 50), Ok(()));
    assert_eq!(l.check(&id(1), b"", 5, 50), Err(TicketReject::Revoked));
    // Purging the expired entry makes room.
    assert_eq!(l.purge(100), 1);
    l.revoke_ticket(id(3), 1000).expect("room after purge");
    assert_eq!(l.check(&id(3), b"", 5, 500), Err(TicketReject::Revoked));
}

#[test]
fn zero_capacity_refuses_everything() {
    let l = RevocationList::new(0);
    assert!(l.revoke_ticket(id(1), 10).is_err());
    assert!(l.revoke_identity(b"x", 1, 10).is_err());
    assert!(l.is_empty());
}

/// Readers on several threads while a writer revokes: once a revocation
/// has returned, every later check sees it.
#[test]
fn concurrent_readers_see_completed_revocations() {
    let l = Arc::new(RevocationList::new(10_000));
    let done = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let (l, done) = (Arc::clone(&l), Arc::clone(&done));
            std::thread::spawn(move || {
                let mut checks = 0u64;
                loop {
                    // `done` is published after revoke_ticket returned.
                    let upto = done.load(std::sync::atomic::Ordering::SeqCst);
                    for i in 0..upto {
                        let mut b = [0u8; 16];
                        b[..4].copy_from_slice(&i.to_le_bytes());
                        assert_eq!(
                            l.check(&TicketId(b), b"who", 0, 10),
                            Err(TicketReject::Revoked)
                        );
                        checks += 1;
                    }
                    if upto == 2000 {
                        return checks;
                    }
                }
            })
        })
        .collect();
    for i in 0..2000u32 {
        let mut b = [0u8; 16];
        b[..4].copy_from_slice(&i.to_le_bytes());
        l.revoke_ticket(TicketId(b), 100).expect("room");
        done.store(i + 1, std::sync::atomic::Ordering::SeqCst);
    }
    for r in readers {
        assert!(r.join().expect("reader") > 0);
    }
    assert_eq!(l.len(), 2000);
}
