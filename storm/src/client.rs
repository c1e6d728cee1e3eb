//! What a storm thread drives: [`StormClient`], a sans-IO initiator seen
//! through the few calls the thread loop makes, implemented by the
//! resumption initiator (phases 3 and 4) and the full-exchange initiator
//! (phase 1 with `--full`). Both take datagrams in, hand datagrams out, keep
//! their own retransmission timer and end in one event; the trait maps
//! those events to [`Done`].

use std::net::SocketAddr;
use std::sync::Arc;

use rebound_engine::client::{
    ClientTicket, FullConfig, FullEvent, FullInitiator, InitiatorConfig, InitiatorEvent,
    InitiatorStats, ResumeInitiator,
};
use rebound_engine::handoff::EstablishedSa;
use rebound_engine::rand::RandomSource;
use rebound_engine::ticket::state::TicketIdentity;
use rebound_engine::time::Timestamp;

/// How a client's exchange ended.
pub enum Done<O> {
    /// The IKE SA is up (its child SA refused when `child_error`).
    Established {
        sa: Box<EstablishedSa>,
        child_error: bool,
        /// What the client keeps for the next phase.
        output: O,
    },
    /// No SA: the failure's counter label.
    Failed(&'static str),
}

/// A sans-IO initiator a storm thread drives, one per client.
pub trait StormClient: Sized + Send {
    /// What client `i` starts from.
    type Input: Send;
    /// What every client of a phase shares.
    type Shared: Sync;
    /// What an established client leaves for the next phase.
    type Output: Send;

    /// Starts the exchange; its first request is ready for
    /// [`StormClient::poll_transmit`]. `Err`: the failure's counter label,
    /// nothing sent.
    fn start(
        shared: &Self::Shared,
        input: Self::Input,
        local: SocketAddr,
        remote: SocketAddr,
        now: Timestamp,
        rng: &mut dyn RandomSource,
    ) -> Result<Self, &'static str>;
    fn poll_transmit(&mut self, now: Timestamp, out: &mut [u8]) -> Option<usize>;
    fn handle(&mut self, now: Timestamp, datagram: &[u8], rng: &mut dyn RandomSource);
    fn poll_timeout(&self) -> Option<Timestamp>;
    fn handle_timeout(&mut self, now: Timestamp);
    /// The outcome, once.
    fn poll_done(&mut self) -> Option<Done<Self::Output>>;
    /// Our SPI: the first 8 bytes of every answer, by which the thread
    /// finds the client.
    fn spi_i(&self) -> [u8; 8];
    fn stats(&self) -> InitiatorStats;
    /// Whether the gateway accepted the client's ticket (a resumption
    /// answered with Nr); `false` for anything else.
    fn accepted(&self) -> bool {
        false
    }
    /// A real ticket in `input`, for the garbage maker to forge from.
    fn template(_input: &Self::Input) -> Option<&ClientTicket> {
        None
    }
}

/// Phases 3 and 4: a client presents its ticket.
impl StormClient for ResumeInitiator {
    type Input = ClientTicket;
    type Shared = Arc<InitiatorConfig>;
    type Output = ();

    fn start(
        shared: &Arc<InitiatorConfig>,
        ticket: ClientTicket,
        local: SocketAddr,
        remote: SocketAddr,
        now: Timestamp,
        rng: &mut dyn RandomSource,
    ) -> Result<Self, &'static str> {
        ResumeInitiator::new(shared.clone(), ticket, local, remote, now, rng)
            .map_err(|why| why.counter_label())
    }

    fn poll_transmit(&mut self, now: Timestamp, out: &mut [u8]) -> Option<usize> {
        ResumeInitiator::poll_transmit(self, now, out)
    }

    fn handle(&mut self, now: Timestamp, datagram: &[u8], rng: &mut dyn RandomSource) {
        ResumeInitiator::handle(self, now, datagram, rng);
    }

    fn poll_timeout(&self) -> Option<Timestamp> {
        ResumeInitiator::poll_timeout(self)
    }

    fn handle_timeout(&mut self, now: Timestamp) {
        ResumeInitiator::handle_timeout(self, now);
    }

    fn poll_done(&mut self) -> Option<Done<()>> {
        Some(match self.poll_event()? {
            InitiatorEvent::Established {
                sa, child_error, ..
            } => Done::Established {
                sa,
                child_error: child_error.is_some(),
                output: (),
            },
            InitiatorEvent::Failed(why) => Done::Failed(why.counter_label()),
        })
    }

    fn spi_i(&self) -> [u8; 8] {
        ResumeInitiator::spi_i(self)
    }

    fn stats(&self) -> InitiatorStats {
        ResumeInitiator::stats(self)
    }

    fn accepted(&self) -> bool {
        ResumeInitiator::accepted(self)
    }

    fn template(ticket: &ClientTicket) -> Option<&ClientTicket> {
        Some(ticket)
    }
}

/// Why an established full exchange left no ticket.
pub const NO_TICKET_ACKED: &str = "ticket_acked";
pub const NO_TICKET_NACKED: &str = "ticket_nacked";
pub const NO_TICKET: &str = "no_ticket";

/// Phase 1 with `--full`: a client makes an IKE SA with its identity and
/// the storm's PSK, and keeps the ticket the gateway sent (or why there is
/// none: [`NO_TICKET_ACKED`], [`NO_TICKET_NACKED`], [`NO_TICKET`]). The
/// session itself is dropped with the initiator: phase 2.
impl StormClient for FullInitiator {
    type Input = TicketIdentity;
    /// Every client's configuration but IDi.
    type Shared = FullConfig;
    type Output = Result<ClientTicket, &'static str>;

    fn start(
        shared: &FullConfig,
        id_i: TicketIdentity,
        local: SocketAddr,
        remote: SocketAddr,
        _now: Timestamp,
        rng: &mut dyn RandomSource,
    ) -> Result<Self, &'static str> {
        let config = Arc::new(FullConfig {
            id_i,
            ..shared.clone()
        });
        FullInitiator::new(config, local, remote, rng).map_err(|why| why.counter_label())
    }

    fn poll_transmit(&mut self, now: Timestamp, out: &mut [u8]) -> Option<usize> {
        FullInitiator::poll_transmit(self, now, out)
    }

    fn handle(&mut self, now: Timestamp, datagram: &[u8], rng: &mut dyn RandomSource) {
        FullInitiator::handle(self, now, datagram, rng);
    }

    fn poll_timeout(&self) -> Option<Timestamp> {
        FullInitiator::poll_timeout(self)
    }

    fn handle_timeout(&mut self, now: Timestamp) {
        FullInitiator::handle_timeout(self, now);
    }

    fn poll_done(&mut self) -> Option<Done<Self::Output>> {
        Some(match self.poll_event()? {
            FullEvent::Established {
                sa,
                ticket,
                ticket_acked,
                ticket_nacked,
                child_error,
                ..
            } => Done::Established {
                sa,
                child_error: child_error.is_some(),
                output: ticket.ok_or(if ticket_nacked {
                    NO_TICKET_NACKED
                } else if ticket_acked {
                    NO_TICKET_ACKED
                } else {
                    NO_TICKET
                }),
            },
            FullEvent::Failed(why) => Done::Failed(why.counter_label()),
        })
    }

    fn spi_i(&self) -> [u8; 8] {
        FullInitiator::spi_i(self)
    }

    fn stats(&self) -> InitiatorStats {
        FullInitiator::stats(self)
    }
}
