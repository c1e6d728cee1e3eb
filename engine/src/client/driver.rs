//! What both initiators share: the driver of one exchange. It holds the
//! request awaiting its response (and its retransmission timer), the
//! outcome until it is polled, and the counters; a [`ResumeInitiator`]
//! and a [`FullInitiator`] each own one and differ only in what they do
//! with a response.
//!
//! [`ResumeInitiator`]: super::ResumeInitiator
//! [`FullInitiator`]: super::FullInitiator

use crate::rand::RandomSource;
use crate::time::Timestamp;

use super::config::{InitiatorStats, RetransmitPolicy};
use super::retransmit::{self, Outstanding};

/// One exchange's request, timer, outcome and counters; `E` is the
/// initiator's event.
pub(super) struct Driver<E> {
    /// The request awaiting its response.
    outstanding: Option<Outstanding>,
    event: Option<E>,
    pub(super) stats: InitiatorStats,
}

impl<E> Driver<E> {
    /// An exchange with nothing sent yet (see [`Driver::send`]).
    pub(super) fn new() -> Self {
        Driver {
            outstanding: None,
            event: None,
            stats: InitiatorStats::default(),
        }
    }

    /// `request` replaces the outstanding request; it is sent at the next
    /// `poll_transmit`.
    pub(super) fn send(&mut self, request: Vec<u8>, policy: &RetransmitPolicy) {
        self.outstanding = Some(Outstanding::new(request, policy));
    }

    /// The outstanding request's bytes as sent; nothing is outstanding
    /// afterwards.
    pub(super) fn take_request(&mut self) -> Vec<u8> {
        self.outstanding.take().map(|o| o.bytes).unwrap_or_default()
    }

    /// The initiators' `poll_transmit`: the outstanding request, if due.
    pub(super) fn poll_transmit(&mut self, now: Timestamp, out: &mut [u8]) -> Option<usize> {
        retransmit::transmit(&mut self.outstanding, &mut self.stats, now, out)
    }

    /// The initiators' `poll_timeout`.
    pub(super) fn poll_timeout(&self) -> Option<Timestamp> {
        self.outstanding.as_ref()?.deadline()
    }

    /// The initiators' `handle_timeout`: whether the exchange is to fail
    /// (the last transmission went unanswered).
    pub(super) fn gives_up(&mut self, now: Timestamp, policy: &RetransmitPolicy) -> bool {
        retransmit::gives_up(&mut self.outstanding, now, policy)
    }

    /// A datagram that was not the awaited response.
    pub(super) fn ignored(&mut self) {
        self.stats.ignored += 1;
    }

    /// The exchange is over with `event`: nothing more is sent.
    pub(super) fn finish(&mut self, event: E) {
        self.outstanding = None;
        self.event = Some(event);
    }

    /// The outcome, once.
    pub(super) fn poll_event(&mut self) -> Option<E> {
        self.event.take()
    }
}

/// A random SPI that is not zero (RFC 7296 §3.1, Initiator's SPI: "This
/// value MUST NOT be zero").
pub(super) fn random_spi(rng: &mut dyn RandomSource) -> [u8; 8] {
    let mut spi = [0u8; 8];
    rng.fill(&mut spi);
    if spi == [0; 8] {
        spi[7] = 1;
    }
    spi
}

/// A random ESP SPI outside 0..=255 (RFC 4303 §2.1: "The set of SPI
/// values in the range 1 through 255 are reserved" and "The SPI value of
/// zero (0) is reserved for local, implementation-specific use and MUST
/// NOT be sent on the wire").
pub(super) fn random_esp_spi(rng: &mut dyn RandomSource) -> [u8; 4] {
    let mut spi = [0u8; 4];
    rng.fill(&mut spi);
    if u32::from_be_bytes(spi) < 256 {
        spi[0] |= 0x80;
    }
    spi
}
