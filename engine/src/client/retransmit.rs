//! The outstanding request and its retransmission timer.

use crate::time::Timestamp;

use super::config::{InitiatorStats, RetransmitPolicy};

/// One request the initiator is waiting on: its bytes, whether they are to
/// be (re)sent, and when to give up waiting for a response.
///
/// RFC 7296 §2.1: "the initiator MUST retransmit a request until it either
/// receives a corresponding response or deems the IKE SA to have failed",
/// and "A retransmission from the initiator MUST be bitwise identical to
/// the original request", which is why only the bytes are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Outstanding {
    /// The request exactly as sent (RealMessage1 for the resume request).
    pub bytes: Vec<u8>,
    /// The next `poll_transmit` hands the bytes out.
    pending: bool,
    /// Transmissions so far.
    sends: u32,
    /// The current wait after a transmission.
    rto_ms: u64,
    /// When the current wait ends (`None` until the first transmission).
    deadline: Option<Timestamp>,
}

/// What a timeout means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Expiry {
    /// Not yet (or nothing outstanding).
    NotYet,
    /// Resend the request now.
    Resend,
    /// The last transmission went unanswered.
    GiveUp,
}

impl Outstanding {
    /// A new request, to be sent at the next `poll_transmit`.
    pub fn new(bytes: Vec<u8>, policy: &RetransmitPolicy) -> Self {
        Outstanding {
            bytes,
            pending: true,
            sends: 0,
            rto_ms: policy.initial_ms,
            deadline: None,
        }
    }

    /// Hands the bytes out if a transmission is due and `out` holds them;
    /// starts the wait. Returns the length and whether it was a resend.
    pub fn transmit(&mut self, now: Timestamp, out: &mut [u8]) -> Option<(usize, bool)> {
        if !self.pending {
            return None;
        }
        let dst = out.get_mut(..self.bytes.len())?;
        dst.copy_from_slice(&self.bytes);
        let resend = self.sends > 0;
        self.pending = false;
        self.sends = self.sends.saturating_add(1);
        self.deadline = Some(now.plus_millis(self.rto_ms));
        Some((self.bytes.len(), resend))
    }

    /// When the current wait ends; `None` while a transmission is due.
    pub fn deadline(&self) -> Option<Timestamp> {
        if self.pending { None } else { self.deadline }
    }

    /// The timer at `now`: schedule a resend with the wait doubled (up to
    /// `policy.max_ms`), or give up after `policy.max_sends` transmissions.
    pub fn on_timeout(&mut self, now: Timestamp, policy: &RetransmitPolicy) -> Expiry {
        match self.deadline() {
            Some(d) if now >= d => {}
            _ => return Expiry::NotYet,
        }
        if self.sends >= policy.max_sends.max(1) {
            self.deadline = None;
            return Expiry::GiveUp;
        }
        self.rto_ms = self.rto_ms.saturating_mul(2).min(policy.max_ms);
        self.pending = true;
        Expiry::Resend
    }
}

/// `poll_transmit` of an initiator: the outstanding request, if due,
/// counted in `stats`.
pub(super) fn transmit(
    slot: &mut Option<Outstanding>,
    stats: &mut InitiatorStats,
    now: Timestamp,
    out: &mut [u8],
) -> Option<usize> {
    let (len, resend) = slot.as_mut()?.transmit(now, out)?;
    stats.sent += 1;
    if resend {
        stats.retransmissions += 1;
    }
    Some(len)
}

/// `handle_timeout` of an initiator: whether the exchange is to fail (the
/// last transmission went unanswered).
pub(super) fn gives_up(
    slot: &mut Option<Outstanding>,
    now: Timestamp,
    policy: &RetransmitPolicy,
) -> bool {
    slot.as_mut()
        .is_some_and(|o| o.on_timeout(now, policy) == Expiry::GiveUp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_caps_and_gives_up() {
        let policy = RetransmitPolicy {
            initial_ms: 100,
            max_ms: 300,
            max_sends: 4,
        };
        let mut o = Outstanding::new(vec![1, 2, 3], &policy);
        let mut out = [0u8; 2];
        assert_eq!(o.transmit(Timestamp(0), &mut out), None, "too small");
        let mut out = [0u8; 8];
        assert_eq!(o.deadline(), None);
        assert_eq!(o.transmit(Timestamp(0), &mut out), Some((3, false)));
        assert_eq!(o.transmit(Timestamp(0), &mut out), None);
        let mut at = Vec::new();
        let end = loop {
            let d = o.deadline().unwrap();
            assert_eq!(o.on_timeout(Timestamp(d.0 - 1), &policy), Expiry::NotYet);
            match o.on_timeout(d, &policy) {
                Expiry::Resend => {
                    assert_eq!(o.transmit(d, &mut out), Some((3, true)));
                    at.push(d.0);
                }
                Expiry::GiveUp => break d,
                Expiry::NotYet => unreachable!(),
            }
        };
        assert_eq!(at, [100, 300, 600]);
        assert_eq!(end, Timestamp(900));
        assert_eq!(o.deadline(), None);
    }
}
