//! Established SAs by the peer's authenticated identity, and INITIAL_CONTACT
//! (RFC 7296 §2.4): a new IKE SA whose IKE_AUTH carries it ends the
//! identity's other SAs here.
//!
//! RFC 7296 §2.4 (described, not quoted): INITIAL_CONTACT tells the
//! recipient that the sender keeps no other IKE SA with it, so the
//! recipient may delete every other SA it holds with the same
//! authenticated identity; the sender lost their state (a reboot). Rebound
//! does so, and treats each as a delete by the peer: its ticket is revoked
//! (whatever `revoke_on_delete` says: the peer has lost the SA, so a
//! ticket for it has no keeper to resume it), its internal address given
//! back, and a [`SaChange::Deleted`] handed off.

use core::net::IpAddr;
use std::collections::HashMap;

use smallvec::SmallVec;

use super::{SaChange, SaEvent, SaState, SlowPathCounter, SlowPathResponder};
use crate::ticket::state::{MAX_ID_DATA, TicketIdentity};
use crate::time::Timestamp;

/// SPIrs of established SAs by identity (the revocation key of IDi).
/// Entries are removed with their SA; a look-up checks each SA still is
/// what the index says, so a missed removal costs nothing but memory.
///
/// An identity commonly has one SA: its SPIr is kept inline, and the key
/// is exactly as long as the identity (the index holds an entry per
/// established SA, for hours).
#[derive(Default)]
pub(super) struct IdentityIndex {
    by_id: HashMap<Box<[u8]>, SmallVec<[[u8; 8]; 1]>>,
}

/// Call `f` with the identity's type octet and data
/// (`TicketIdentity::revocation_key`), on the stack.
fn with_key<R>(id: &TicketIdentity, f: impl FnOnce(&[u8]) -> R) -> R {
    let mut k = [0u8; 1 + MAX_ID_DATA];
    let n = id.revocation_key(&mut k);
    f(k.get(..n).unwrap_or_default())
}

impl IdentityIndex {
    pub(super) fn insert(&mut self, id: &TicketIdentity, spi_r: [u8; 8]) {
        with_key(id, |k| match self.by_id.get_mut(k) {
            Some(v) if v.contains(&spi_r) => {}
            Some(v) => v.push(spi_r),
            None => {
                self.by_id.insert(k.into(), SmallVec::from_buf([spi_r]));
            }
        });
    }

    pub(super) fn remove(&mut self, id: &TicketIdentity, spi_r: [u8; 8]) {
        with_key(id, |k| {
            if let Some(v) = self.by_id.get_mut(k) {
                v.retain(|s| *s != spi_r);
                if v.is_empty() {
                    self.by_id.remove(k);
                }
            }
        });
    }

    fn of(&self, id: &TicketIdentity) -> Vec<[u8; 8]> {
        with_key(id, |k| {
            self.by_id.get(k).map(|v| v.to_vec()).unwrap_or_default()
        })
    }
}

impl SlowPathResponder {
    /// RFC 7296 §2.4: the new SA `keep` of `id` carried INITIAL_CONTACT;
    /// the other established SAs of `id` are deleted as by their peer, and
    /// revoked. `keep_addr` is the new SA's internal address: the pool
    /// lease of that address stays.
    ///
    /// `by`: `None` for an SA just made here (every other SA is
    /// older); for an SA a worker established at `t` and adopted now,
    /// `Some(t)`, and only the SAs established by `t` go: one made here
    /// after `t` (while the hand-off was under way) is the peer's newer SA,
    /// not a stale one. Within the clock's millisecond the order is
    /// unknown and the peer is taken at its word, as before.
    pub(super) fn initial_contact(
        &mut self,
        now: Timestamp,
        id: &TicketIdentity,
        keep: [u8; 8],
        keep_addr: Option<IpAddr>,
        by: Option<Timestamp>,
    ) -> Vec<SaEvent> {
        let mut events = Vec::new();
        for spi_r in self.by_identity.of(id) {
            if spi_r == keep {
                continue;
            }
            // `Some(older)`: an SA of `id` still (`older`: established by
            // `by`); `None`: a stale index entry.
            let found = self.sas.get(&spi_r).and_then(|sa| match &sa.state {
                SaState::Established(s) if s.ticket.is_id_i(id) => {
                    Some(by.is_none_or(|t| s.established_at <= t))
                }
                _ => None,
            });
            match found {
                None => {
                    self.by_identity.remove(id, spi_r);
                    continue;
                }
                Some(false) => continue,
                Some(true) => {}
            }
            let Some(sa) = self.remove(&spi_r) else {
                continue;
            };
            let SaState::Established(mut session) = sa.state else {
                continue;
            };
            let issued = session.issued.take();
            self.revoke(now, issued);
            if session.ticket.internal_addr != keep_addr {
                self.release_address(&session);
            }
            self.counters.bump(SlowPathCounter::InitialContactDeleted);
            events.push(SaEvent::Changed(SaChange::Deleted {
                spi_i: sa.spi_i,
                spi_r: sa.spi_r,
            }));
        }
        events
    }
}
