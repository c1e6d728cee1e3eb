//! A single-use guard for one input: an exact set of the ticket ids
//! claimed. The gateway's `MemoryGuard` sizes its Bloom filters at
//! construction (a search in floating point that costs more than the rest
//! of an input), so it is not built per input; what the targets check is
//! the responders' use of a guard, which this one answers exactly.

use std::collections::HashSet;
use std::sync::Mutex;

use rebound_engine::ticket::guard::SingleUseGuard;
use rebound_engine::ticket::{TicketId, TicketReject, UnixSeconds};

#[derive(Debug, Default)]
pub struct SetGuard {
    claimed: Mutex<HashSet<TicketId>>,
}

impl SingleUseGuard for SetGuard {
    fn claim(
        &self,
        id: &TicketId,
        _expiry: UnixSeconds,
        _now: UnixSeconds,
    ) -> Result<(), TicketReject> {
        let mut set = self.claimed.lock().unwrap_or_else(|e| e.into_inner());
        if set.insert(*id) {
            Ok(())
        } else {
            Err(TicketReject::Reused)
        }
    }

    fn is_claimed(&self, id: &TicketId, _expiry: UnixSeconds, _now: UnixSeconds) -> bool {
        let set = self.claimed.lock().unwrap_or_else(|e| e.into_inner());
        set.contains(id)
    }
}
