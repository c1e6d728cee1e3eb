//! The stub bank's write side: a [`TicketStore`] that keeps every
//! by-reference ticket's state in this gateway's memory (the fast path
//! reads only that) and writes it behind, through the cluster thread, to
//! Redis: sealed under the shared ticket keys with its own id
//! ([`seal_stub`]), with the ticket's expiry as its TTL, indexed by this
//! gateway's name and the SA's old SPIr (draft-xu-ike-sa-sync's key), and
//! listed under this gateway for a standby's download.
//!
//! A write the cluster thread cannot make (queue full, Redis down) is
//! counted and lost: that ticket then resumes only on this gateway.

use std::sync::{Arc, OnceLock};

use rebound_engine::ticket::format::{MAX_VALUE_TICKET_LEN, seal_stub};
use rebound_engine::ticket::guard::{Claim, SingleUseGuard};
use rebound_engine::ticket::keyring::KeyRingCell;
use rebound_engine::ticket::state::TicketState;
use rebound_engine::ticket::store::{MemoryTicketStore, StoreError, StoreStats, TicketStore};
use rebound_engine::ticket::{TicketId, TicketReject, UnixSeconds};

use super::io::{ClusterTx, Request};

/// The single-use guard of a gateway of a cluster: this gateway's own
/// guard decides every claim (the cluster's claim was made before the
/// request was answered); a revocation also goes to the cluster, so that
/// the ticket of a deleted SA resumes nowhere.
pub struct ClusterGuard {
    pub local: Arc<dyn SingleUseGuard>,
    pub tx: ClusterTx,
}

impl SingleUseGuard for ClusterGuard {
    fn claim(
        &self,
        id: &TicketId,
        expiry: UnixSeconds,
        now: UnixSeconds,
    ) -> Result<(), TicketReject> {
        self.local.claim(id, expiry, now)
    }

    fn is_claimed(&self, id: &TicketId, expiry: UnixSeconds, now: UnixSeconds) -> bool {
        self.local.is_claimed(id, expiry, now)
    }

    fn revoke(
        &self,
        id: &TicketId,
        expiry: UnixSeconds,
        now: UnixSeconds,
    ) -> Result<(), TicketReject> {
        if expiry > now {
            self.tx.send(Request::Revoke { id: *id, expiry });
        }
        self.local.revoke(id, expiry, now)
    }

    fn claim_batch(
        &self,
        claims: &[Claim],
        now: UnixSeconds,
        out: &mut [Result<(), TicketReject>],
    ) {
        self.local.claim_batch(claims, now, out)
    }
}

pub struct ClusterStore {
    local: MemoryTicketStore,
    tx: ClusterTx,
    /// The live key ring, set when the gateway starts.
    ring: OnceLock<Arc<KeyRingCell>>,
}

impl std::fmt::Debug for ClusterStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ClusterStore({:?})", self.local)
    }
}

impl ClusterStore {
    pub fn new(local: MemoryTicketStore, tx: ClusterTx) -> Self {
        ClusterStore {
            local,
            tx,
            ring: OnceLock::new(),
        }
    }

    /// The ring stubs are sealed under (the gateway's live ring).
    pub fn set_ring(&self, ring: Arc<KeyRingCell>) {
        let _ = self.ring.set(ring);
    }

    /// Keep a state downloaded from the bank here, without writing it
    /// back.
    pub fn put_local(
        &self,
        id: &TicketId,
        state: &TicketState,
        now: UnixSeconds,
    ) -> Result<(), StoreError> {
        self.local.put(id, state, now)
    }
}

impl TicketStore for ClusterStore {
    fn put(&self, id: &TicketId, state: &TicketState, now: UnixSeconds) -> Result<(), StoreError> {
        self.local.put(id, state, now)?;
        let Some(cell) = self.ring.get() else {
            return Ok(());
        };
        let mut buf = vec![0u8; MAX_VALUE_TICKET_LEN];
        match seal_stub(state, &cell.load(), now, &mut buf) {
            Ok(n) => {
                buf.truncate(n);
                self.tx.send(Request::Put {
                    id: *id,
                    expiry: state.expiry,
                    spi_r: state.old_spi_r,
                    stub: buf,
                });
            }
            Err(e) => {
                self.tx
                    .stats
                    .writes_failed
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tracing::debug!(error = ?e, "cluster: stub not sealed");
            }
        }
        Ok(())
    }

    fn get(&self, id: &TicketId, now: UnixSeconds) -> Result<Option<TicketState>, StoreError> {
        self.local.get(id, now)
    }

    /// A stub taken from the bank: kept here only (it is in the bank
    /// already, until the ticket is used).
    fn adopt(
        &self,
        id: &TicketId,
        state: &TicketState,
        now: UnixSeconds,
    ) -> Result<(), StoreError> {
        self.local.put(id, state, now)
    }

    fn remove(&self, id: &TicketId) -> Result<bool, StoreError> {
        self.tx.send(Request::Remove { id: *id });
        self.local.remove(id)
    }

    fn purge_expired(&self, now: UnixSeconds) -> usize {
        self.local.purge_expired(now)
    }

    fn stats(&self) -> StoreStats {
        self.local.stats()
    }
}
