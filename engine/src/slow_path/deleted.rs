//! The answers of IKE SAs deleted by their peer, kept a while for the
//! DELETE's retransmission.
//!
//! RFC 7296 §2.1 (described): a responder answers a retransmitted request
//! with the same response, and keeps the last response of each SA for
//! that. An SA deleted by its peer is gone from the table, but the answer
//! to its DELETE may be lost: the peer then retransmits the DELETE, which
//! would meet an unknown SPI and go unanswered, and the peer would wait
//! out its retransmissions. So the answer stays here, keyed by the SA's
//! SPIs, for the half-open timeout (`half_open_timeout_ms`: how long the
//! slow path waits for any peer's next message) and for at most
//! [`MAX_ENTRIES`] SAs (the oldest go first), and is sent again only for
//! the very same request bytes.

use std::collections::{HashMap, VecDeque};

use crate::time::Timestamp;

/// How many deleted SAs' answers are kept.
pub(super) const MAX_ENTRIES: usize = 4096;

/// An IKE SA's (SPIi, SPIr).
type Spis = ([u8; 8], [u8; 8]);

struct Answer {
    request: Vec<u8>,
    response: Vec<u8>,
    expires: Timestamp,
}

/// The bounded cache.
#[derive(Default)]
pub(super) struct DeletedAnswers {
    by_spis: HashMap<Spis, Answer>,
    /// Insertion order, with each entry's expiry, oldest first.
    order: VecDeque<(Spis, Timestamp)>,
}

impl DeletedAnswers {
    /// Keep the answer `response` to `request`, the DELETE that ended the
    /// SA `spis`, for `keep_ms`.
    pub(super) fn insert(
        &mut self,
        now: Timestamp,
        keep_ms: u64,
        spis: Spis,
        request: &[u8],
        response: &[u8],
    ) {
        self.purge(now);
        while self.by_spis.len() >= MAX_ENTRIES {
            let Some((k, expires)) = self.order.pop_front() else {
                break;
            };
            // As in `purge`: an older record of SPIs kept again later does
            // not take the newer answer with it.
            if self.by_spis.get(&k).is_some_and(|a| a.expires == expires) {
                self.by_spis.remove(&k);
            }
        }
        let expires = now.plus_millis(keep_ms);
        self.by_spis.insert(
            spis,
            Answer {
                request: request.to_vec(),
                response: response.to_vec(),
                expires,
            },
        );
        self.order.push_back((spis, expires));
    }

    /// The kept answer, if `request` is the DELETE of `spis` again.
    pub(super) fn answer(&self, now: Timestamp, spis: Spis, request: &[u8]) -> Option<&[u8]> {
        self.by_spis
            .get(&spis)
            .filter(|a| a.expires > now && a.request == request)
            .map(|a| a.response.as_slice())
    }

    /// Forget the answers past their time.
    pub(super) fn purge(&mut self, now: Timestamp) {
        while let Some(&(k, expires)) = self.order.front() {
            if expires > now {
                break;
            }
            self.order.pop_front();
            // A later insert for the same SPIs has its own entry.
            if self.by_spis.get(&k).is_some_and(|a| a.expires == expires) {
                self.by_spis.remove(&k);
            }
        }
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.by_spis.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spis(i: u32) -> ([u8; 8], [u8; 8]) {
        let mut a = [0u8; 8];
        a[..4].copy_from_slice(&i.to_be_bytes());
        (a, [0xff; 8])
    }

    #[test]
    fn bounded_in_count_and_time_and_answers_only_the_same_bytes() {
        let t0 = Timestamp::from_secs(1000);
        let mut d = DeletedAnswers::default();
        for i in 0..(MAX_ENTRIES as u32 + 10) {
            d.insert(t0, 30_000, spis(i), b"req", b"resp");
        }
        assert_eq!(d.len(), MAX_ENTRIES);
        // The oldest went first.
        assert!(d.answer(t0, spis(0), b"req").is_none());
        let last = spis(MAX_ENTRIES as u32 + 9);
        assert_eq!(d.answer(t0, last, b"req"), Some(&b"resp"[..]));
        assert!(d.answer(t0, last, b"other").is_none());
        let later = t0.plus_millis(30_000);
        assert!(d.answer(later, last, b"req").is_none());
        d.purge(later);
        assert_eq!(d.len(), 0);
    }
}
