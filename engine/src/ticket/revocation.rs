//! The invalid ticket list: tickets revoked before their expiry.
//!
//! RFC 5723 §9.8, on a ticket presented after its IKE SA was deleted: "To
//! avoid this issue for "ticket by value", an Invalid Ticket List (ITL)
//! may be maintained by the gateway, see \[TOKENS\]. This can be a simple
//! blacklist of revoked tickets." §6.2: "when credentials associated with
//! the IKE SA are invalidated (e.g., when a user logs out), the ticket MUST
//! be deleted." A ticket by value cannot be recalled from the client, so
//! the gateway refuses it when it comes back.
//!
//! [`RevocationList`] holds two kinds of entry:
//!
//! - **by ticket id**, until the ticket's own expiry (after which it is
//!   refused as expired anyway);
//! - **by identity**: every ticket of that identity issued at or before a
//!   cutoff, until a time the caller gives (the cutoff plus the longest
//!   ticket lifetime is enough).
//!
//! Both are bounded by one configurable number of entries. When the list is
//! full, a revocation is refused with [`RevocationFull`], never dropped: a
//! revocation must not be lost silently. The caller can [`purge`] and
//! retry, raise the limit, or, as a last resort, retire the ticket key (which
//! revokes every ticket sealed with it).
//!
//! Thread safety: the entries sit behind a `RwLock`; writers (revocations,
//! purges) are rare, readers on the packet path take the read lock, which
//! never waits for another reader. Before that, [`check`](RevocationList::check)
//! reads two entry counters: while the list is empty (the usual case) a
//! check takes no lock at all, and while it holds no identity it hashes no
//! identity.
//!
//! [`purge`]: RevocationList::purge

use core::fmt;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use sha2::{Digest, Sha256};

use super::types::{TicketId, TicketReject, UnixSeconds};

/// A revocation was refused because the list already holds its maximum
/// number of entries. Nothing was recorded: call
/// [`RevocationList::purge`] and retry, or raise the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RevocationFull {
    /// The limit the list was built with.
    pub max_entries: usize,
}

impl fmt::Display for RevocationFull {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ticket revocation list full ({} entries): revocation not recorded",
            self.max_entries
        )
    }
}

impl std::error::Error for RevocationFull {}

/// SHA-256 of an identity, the key identities are stored under.
type IdentityDigest = [u8; 32];

/// Tickets of one identity issued at or before `issued_before` are revoked
/// while `now < until`.
#[derive(Debug, Clone, Copy)]
struct IdentityCutoff {
    issued_before: UnixSeconds,
    until: UnixSeconds,
}

#[derive(Default)]
struct Entries {
    /// Revoked ticket id → the ticket's expiry.
    tickets: HashMap<TicketId, UnixSeconds>,
    identities: HashMap<IdentityDigest, IdentityCutoff>,
}

/// The invalid ticket list (see the [module documentation](self)).
///
/// Identities are opaque byte strings: the list matches the bytes it was
/// given on revocation against the bytes given on check, so both sides must
/// encode an identity the same way. The ticket formats use the ID type
/// octet followed by the identification data (`TicketIdentity::
/// revocation_key`): the three RESERVED octets of the ID payload are left
/// out, since RFC 7296 §3.5 says they MUST be ignored on receipt.
///
/// Identities are stored as their SHA-256 digests, not as bytes: every
/// entry then has the same small size (so `max_entries` bounds memory at
/// roughly 100 bytes an entry), and the list never holds user names or
/// e-mail addresses in clear.
pub struct RevocationList {
    entries: RwLock<Entries>,
    /// Entry counts, written under the write lock after the maps change,
    /// read without a lock by `check`'s fast path.
    ticket_count: AtomicUsize,
    identity_count: AtomicUsize,
    max_entries: usize,
}

impl fmt::Debug for RevocationList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RevocationList")
            .field("tickets", &self.ticket_count.load(Ordering::Relaxed))
            .field("identities", &self.identity_count.load(Ordering::Relaxed))
            .field("max_entries", &self.max_entries)
            .finish()
    }
}

impl RevocationList {
    /// An empty list holding at most `max_entries` entries (ticket ids and
    /// identities together).
    pub fn new(max_entries: usize) -> Self {
        RevocationList {
            entries: RwLock::new(Entries::default()),
            ticket_count: AtomicUsize::new(0),
            identity_count: AtomicUsize::new(0),
            max_entries,
        }
    }

    /// The most entries the list holds.
    pub fn max_entries(&self) -> usize {
        self.max_entries
    }

    /// Entries held (ticket ids plus identities), expired ones included
    /// until [`purge`](Self::purge) drops them.
    pub fn len(&self) -> usize {
        let e = self.read();
        e.tickets.len() + e.identities.len()
    }

    /// Whether the list holds no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Revoke the ticket `id` until `expiry` (the ticket's own expiry).
    /// Revoking a ticket already listed keeps the later of the two times
    /// and never fails.
    pub fn revoke_ticket(&self, id: TicketId, expiry: UnixSeconds) -> Result<(), RevocationFull> {
        let mut e = self.write();
        let total = e.tickets.len() + e.identities.len();
        match e.tickets.get_mut(&id) {
            Some(until) => *until = (*until).max(expiry),
            None if total >= self.max_entries => {
                return Err(RevocationFull {
                    max_entries: self.max_entries,
                });
            }
            None => {
                e.tickets.insert(id, expiry);
            }
        }
        self.publish_counts(&e);
        Ok(())
    }

    /// Revoke every ticket of `identity` issued at or before
    /// `issued_before`, until `until` (give at least `issued_before` plus
    /// the longest ticket lifetime). A later call for the same identity
    /// keeps the later cutoff and the later `until`, so a revocation is
    /// never narrowed; it never fails for an identity already listed.
    ///
    /// The cutoff is inclusive because times are whole seconds: a ticket
    /// issued in the same second as a logout must not outlive it. A ticket
    /// a fresh login obtained in that same second is refused too, and its
    /// client falls back to a full handshake, the safe direction.
    pub fn revoke_identity(
        &self,
        identity: &[u8],
        issued_before: UnixSeconds,
        until: UnixSeconds,
    ) -> Result<(), RevocationFull> {
        let key = digest(identity);
        let mut e = self.write();
        let total = e.tickets.len() + e.identities.len();
        match e.identities.get_mut(&key) {
            Some(c) => {
                c.issued_before = c.issued_before.max(issued_before);
                c.until = c.until.max(until);
            }
            None if total >= self.max_entries => {
                return Err(RevocationFull {
                    max_entries: self.max_entries,
                });
            }
            None => {
                e.identities.insert(
                    key,
                    IdentityCutoff {
                        issued_before,
                        until,
                    },
                );
            }
        }
        self.publish_counts(&e);
        Ok(())
    }

    /// Whether a presented ticket is revoked: `id` and `issued_at` from
    /// the ticket, `identity` its IDi encoded as on revocation. An entry
    /// counts while `now` is before its `until` (or expiry), so the answer
    /// does not depend on whether [`purge`](Self::purge) has run.
    pub fn check(
        &self,
        id: &TicketId,
        identity: &[u8],
        issued_at: UnixSeconds,
        now: UnixSeconds,
    ) -> Result<(), TicketReject> {
        // Fast path: the counts are published after the maps change, under
        // the write lock, so a revocation that has returned is seen here.
        let tickets = self.ticket_count.load(Ordering::SeqCst);
        let identities = self.identity_count.load(Ordering::SeqCst);
        if tickets == 0 && identities == 0 {
            return Ok(());
        }
        // Hash before taking the lock, and only if there is an identity to
        // match. Should one be revoked between the load above and the lock
        // below, the check is ordered before that revocation, which is a
        // correct (linearizable) answer.
        let key = (identities != 0).then(|| digest(identity));
        let e = self.read();
        // RFC 5723 §9.8: the Invalid Ticket List is "a simple blacklist of
        // revoked tickets"; a ticket on it is refused.
        if let Some(&until) = e.tickets.get(id)
            && now < until
        {
            return Err(TicketReject::Revoked);
        }
        // RFC 5723 §6.2: "when credentials associated with the IKE SA are
        // invalidated (e.g., when a user logs out), the ticket MUST be
        // deleted." The client may still hold it; the gateway refuses it.
        if let Some(key) = key
            && let Some(c) = e.identities.get(&key)
            && now < c.until
            && issued_at <= c.issued_before
        {
            return Err(TicketReject::Revoked);
        }
        Ok(())
    }

    /// Whether the ticket `id` is revoked by id (identities are not
    /// looked at): for a by-reference ticket, whose identity is in the
    /// store entry that revocation removed.
    pub fn check_ticket(&self, id: &TicketId, now: UnixSeconds) -> Result<(), TicketReject> {
        if self.ticket_count.load(Ordering::SeqCst) == 0 {
            return Ok(());
        }
        match self.read().tickets.get(id) {
            Some(&until) if now < until => Err(TicketReject::Revoked),
            _ => Ok(()),
        }
    }

    /// Drop the entries that no longer matter at `now` (ticket entries whose
    /// expiry, identity entries whose `until`, is at or before `now`);
    /// returns how many were dropped.
    pub fn purge(&self, now: UnixSeconds) -> usize {
        let mut e = self.write();
        let before = e.tickets.len() + e.identities.len();
        e.tickets.retain(|_, until| *until > now);
        e.identities.retain(|_, c| c.until > now);
        self.publish_counts(&e);
        before - (e.tickets.len() + e.identities.len())
    }

    fn publish_counts(&self, e: &Entries) {
        self.ticket_count.store(e.tickets.len(), Ordering::SeqCst);
        self.identity_count
            .store(e.identities.len(), Ordering::SeqCst);
    }

    /// The entries for reading. The maps stay consistent even if a holder
    /// of the lock panicked (no operation leaves them half-changed), so a
    /// poisoned lock is used as is rather than failing every check.
    fn read(&self) -> RwLockReadGuard<'_, Entries> {
        self.entries.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Entries> {
        self.entries.write().unwrap_or_else(PoisonError::into_inner)
    }
}

fn digest(identity: &[u8]) -> IdentityDigest {
    Sha256::digest(identity).into()
}
