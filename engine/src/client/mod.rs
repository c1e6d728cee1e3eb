//! The client side: the resumption initiator (IKE_SESSION_RESUME and the
//! IKE_AUTH that follows, RFC 5723 §4.2, §4.3, §5) and the full-exchange
//! initiator (IKE_SA_INIT and IKE_AUTH with a pre-shared key, RFC 7296 §1.2,
//! and the established SA's INFORMATIONAL and CREATE_CHILD_SA exchanges),
//! sans-IO in the style of quinn-proto.
//!
//! A [`ResumeInitiator`] is made from a [`ClientTicket`] and driven by its
//! caller: datagrams go out through [`ResumeInitiator::poll_transmit`] and
//! come in through [`ResumeInitiator::handle`]; the clock only through the
//! `now` arguments ([`ResumeInitiator::poll_timeout`] says when to call
//! [`ResumeInitiator::handle_timeout`]); the outcome, once, through
//! [`ResumeInitiator::poll_event`]. A [`FullInitiator`] is driven the same
//! way from a [`FullConfig`]; its [`FullEvent::Established`] carries a
//! [`ClientSession`] for the exchanges that follow, and the ticket a
//! `ResumeInitiator` resumes the SA with.
//!
//! ```text
//! Initiator                                     Responder
//! HDR(38, SPIi, 0), [N(COOKIE)], Ni,
//!   N(TICKET_OPAQUE), N(NAT_D_SRC), N(NAT_D_DST)  -->
//!                               <--  HDR(38), N(COOKIE)          retry
//!                               <--  HDR(38), N(TICKET_NACK)     Failed
//!                               <--  HDR(38, SPIi, SPIr), Nr, [N(NAT_D)*2]
//! HDR(35, msg 1), SK { IDi, [IDr], AUTH, [CP(CFG_REQUEST)],
//!   SAi2, TSi, TSr, [N(TICKET_REQUEST)] }          -->
//!                               <--  HDR(35), SK { IDr, AUTH, [CP(CFG_REPLY)],
//!                                      SAr2, TSi, TSr, [N(TICKET_LT_OPAQUE)] }
//! ```
//!
//! | module | concept |
//! | --- | --- |
//! | `config` | [`InitiatorConfig`], [`ClientTicket`], [`InitiatorEvent`], [`Fallback`] |
//! | `request` | the IKE_SESSION_RESUME request and its responses; unprotected responses and NAT-D |
//! | `auth` | the IKE_AUTH request and the checks on its response (resumed or PSK) |
//! | `retransmit` | the outstanding request and its back-off timer |
//! | `driver` | what both initiators share: the request, timer, outcome and counters of one exchange; random SPIs |
//! | `full` | [`FullInitiator`]: IKE_SA_INIT + IKE_AUTH; [`ClientSession`] |

mod auth;
mod config;
mod driver;
mod full;
mod request;
mod retransmit;
#[cfg(test)]
mod tests;

use core::fmt;
use core::net::SocketAddr;
use std::sync::Arc;

use crate::crypto::{IkeKeys, Role, SkCipher};
use crate::handoff::{EstablishedSa, Hex, NatStatus, NewSa, Origin};
use crate::rand::RandomSource;
use crate::time::Timestamp;

pub use config::{
    ClientTicket, Fallback, InitiatorConfig, InitiatorEvent, InitiatorStats, RetransmitPolicy,
};
pub use full::{
    ChildRequest, ClientSession, FullConfig, FullEvent, FullFailure, FullInitiator, SessionError,
    SessionRequest, SessionResponse, TicketReply,
};
pub use request::{MAX_COOKIE_ROUNDS, NONCE_LEN};

use auth::{AuthOutcome, AuthRequest, AuthResponseCheck, Signer};
use driver::{Driver, random_esp_spi, random_spi};
use request::{ResumeReply, read_resume_reply, resume_request};

/// Where the exchange stands.
enum Phase {
    /// Waiting for the IKE_SESSION_RESUME response.
    Resume {
        /// The cookie the current request carries.
        cookie: Option<Vec<u8>>,
        /// COOKIE responses acted upon.
        rounds: u32,
    },
    /// Waiting for the IKE_AUTH response.
    Auth(Box<AuthPhase>),
    /// Established or failed; the event is (or was) in `event`.
    Done,
}

/// The resumed SA between the two exchanges. Keys wipe themselves on drop.
struct AuthPhase {
    spi_r: [u8; 8],
    nr: Vec<u8>,
    nat: NatStatus,
    /// RealMessage2: the IKE_SESSION_RESUME response (RealMessage1 stays
    /// only inside the AUTH already sent).
    message2: Vec<u8>,
    keys: IkeKeys,
    inbound: SkCipher,
    /// Our inbound ESP SPI.
    esp_spi: [u8; 4],
}

/// The client side of one resumption, from the ticket to an
/// [`EstablishedSa`] or a [`Fallback`].
pub struct ResumeInitiator {
    config: Arc<InitiatorConfig>,
    ticket: ClientTicket,
    local: SocketAddr,
    remote: SocketAddr,
    spi_i: [u8; 8],
    ni: [u8; NONCE_LEN],
    phase: Phase,
    /// The responder answered IKE_SESSION_RESUME with Nr.
    accepted: bool,
    /// The request awaiting its response, the outcome, the counters.
    driver: Driver<InitiatorEvent>,
}

impl fmt::Debug for ResumeInitiator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let phase = match &self.phase {
            Phase::Resume { .. } => "resume",
            Phase::Auth(_) => "auth",
            Phase::Done => "done",
        };
        f.debug_struct("ResumeInitiator")
            .field("spi_i", &Hex(&self.spi_i))
            .field("local", &self.local)
            .field("remote", &self.remote)
            .field("phase", &phase)
            .field("stats", &self.driver.stats)
            .finish_non_exhaustive()
    }
}

impl ResumeInitiator {
    /// Starts a resumption with `ticket`, which is consumed: RFC 5723
    /// §4.3.1, "a client MUST NOT reuse a ticket."
    /// The IKE_SESSION_RESUME request is ready for
    /// [`ResumeInitiator::poll_transmit`].
    ///
    /// # Errors
    /// [`Fallback::TicketExpired`] for a ticket past its lifetime (RFC 5723,
    /// TICKET_LT_OPAQUE: the lifetime is how long the ticket may be used),
    /// and
    /// [`Fallback::Unusable`] for a configuration without ESP proposals or
    /// traffic selectors, or a ticket too long for a notify payload. Nothing
    /// is sent then.
    pub fn new(
        config: Arc<InitiatorConfig>,
        ticket: ClientTicket,
        local: SocketAddr,
        remote: SocketAddr,
        now: Timestamp,
        rng: &mut dyn RandomSource,
    ) -> Result<Self, Fallback> {
        if now.secs() >= ticket.expires_at {
            return Err(Fallback::TicketExpired);
        }
        check_config(&config)?;
        let spi_i = random_spi(rng);
        // RFC 7296 §2.10: "Nonces used in IKEv2 MUST be randomly chosen".
        let mut ni = [0u8; NONCE_LEN];
        rng.fill(&mut ni);
        let bytes = resume_request(&spi_i, &ni, &ticket.opaque, None, local, remote)
            .map_err(Fallback::Unusable)?;
        let mut driver = Driver::new();
        driver.send(bytes, &config.retransmit);
        Ok(ResumeInitiator {
            config,
            ticket,
            local,
            remote,
            spi_i,
            ni,
            phase: Phase::Resume {
                cookie: None,
                rounds: 0,
            },
            accepted: false,
            driver,
        })
    }

    /// The next datagram to send (an IKE message, without the non-ESP
    /// marker), written to `out`; returns its length. `None` when nothing
    /// is due, or when `out` is too small to hold it (it stays due; 2 KiB
    /// always suffices for tickets up to 1 KiB).
    pub fn poll_transmit(&mut self, now: Timestamp, out: &mut [u8]) -> Option<usize> {
        self.driver.poll_transmit(now, out)
    }

    /// A received datagram (an IKE message, without the non-ESP marker).
    /// Anything that is not the awaited response (garbled, another SA, a
    /// late duplicate, unauthentic) is ignored and counted in
    /// [`InitiatorStats::ignored`].
    pub fn handle(&mut self, now: Timestamp, datagram: &[u8], rng: &mut dyn RandomSource) {
        let acted = match &self.phase {
            Phase::Resume { .. } => self.on_resume_reply(datagram, rng),
            Phase::Auth(_) => self.on_auth_reply(now, datagram),
            Phase::Done => false,
        };
        if !acted {
            self.driver.ignored();
        }
    }

    /// When [`ResumeInitiator::handle_timeout`] is next due; `None` when
    /// the exchange is over or a datagram is waiting in `poll_transmit`.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        self.driver.poll_timeout()
    }

    /// The retransmission timer (RFC 7296 §2.1): resend the outstanding
    /// request, byte for byte, with the wait doubled up to
    /// [`RetransmitPolicy::max_ms`]; after [`RetransmitPolicy::max_sends`]
    /// transmissions go unanswered, fail with [`Fallback::Timeout`]. Early
    /// calls do nothing.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        if self.driver.gives_up(now, &self.config.retransmit) {
            self.fail(Fallback::Timeout);
        }
    }

    /// The outcome, once: [`InitiatorEvent::Established`] or
    /// [`InitiatorEvent::Failed`].
    pub fn poll_event(&mut self) -> Option<InitiatorEvent> {
        self.driver.poll_event()
    }

    /// Whether the exchange is over (its event may still wait in
    /// [`ResumeInitiator::poll_event`]).
    pub fn is_done(&self) -> bool {
        matches!(self.phase, Phase::Done)
    }

    /// Whether the responder accepted the ticket: it answered
    /// IKE_SESSION_RESUME with Nr, so the IKE_AUTH request went out (its
    /// outcome is the event). Stays true once set.
    pub fn accepted(&self) -> bool {
        self.accepted
    }

    /// Our SPI of the new IKE SA.
    pub fn spi_i(&self) -> [u8; 8] {
        self.spi_i
    }

    /// The counters.
    pub fn stats(&self) -> InitiatorStats {
        self.driver.stats
    }

    fn fail(&mut self, why: Fallback) {
        self.phase = Phase::Done;
        self.driver.finish(InitiatorEvent::Failed(why));
    }

    /// A datagram while the IKE_SESSION_RESUME request is outstanding;
    /// `false` if it was ignored.
    fn on_resume_reply(&mut self, datagram: &[u8], rng: &mut dyn RandomSource) -> bool {
        let Phase::Resume { cookie, rounds } = &mut self.phase else {
            return false;
        };
        let Ok(reply) = read_resume_reply(datagram, &self.spi_i, self.local, self.remote) else {
            return false;
        };
        match reply {
            ResumeReply::Cookie(c) => {
                // A repeat of the cookie already sent: the request carrying
                // it is outstanding and its timer covers a loss.
                if cookie.as_deref() == Some(c) {
                    return false;
                }
                if *rounds >= MAX_COOKIE_ROUNDS {
                    self.fail(Fallback::ProtocolError("too many COOKIE rounds"));
                    return true;
                }
                *rounds += 1;
                *cookie = Some(c.to_vec());
                self.driver.stats.cookies_received += 1;
                // RFC 7296 §2.6: retry with N(COOKIE) first, "all other
                // payloads unchanged" (the same SPIi and Ni).
                match resume_request(
                    &self.spi_i,
                    &self.ni,
                    &self.ticket.opaque,
                    Some(c),
                    self.local,
                    self.remote,
                ) {
                    Ok(bytes) => {
                        self.driver.send(bytes, &self.config.retransmit);
                    }
                    Err(e) => self.fail(Fallback::Unusable(e)),
                }
            }
            // RFC 5723 §4.3.2, on TICKET_NACK: "the initiator should
            // re-initiate a regular IKE exchange."
            ResumeReply::Nack => self.fail(Fallback::TicketRefused),
            ResumeReply::Error(t) => self.fail(Fallback::ErrorNotify(t)),
            ResumeReply::Accepted { spi_r, nr, nat } => {
                if let Err(why) = self.start_auth(datagram, spi_r, nr, nat, rng) {
                    self.fail(why);
                }
            }
        }
        true
    }

    /// Derives the resumed SA's keys and queues the IKE_AUTH request.
    fn start_auth(
        &mut self,
        message2: &[u8],
        spi_r: [u8; 8],
        nr: &[u8],
        nat: NatStatus,
        rng: &mut dyn RandomSource,
    ) -> Result<(), Fallback> {
        let state = &self.ticket.state;
        let suite = state.suite.suite;
        // RFC 5723 §5.1: SKEYSEED = prf(SK_d (old), "Resumption" | Ni | Nr),
        // then the keys of RFC 7296 §2.14 with the new SPIs.
        let keys = IkeKeys::derive_resumed(
            &suite,
            state.sk_d.as_bytes(),
            &self.ni,
            nr,
            &self.spi_i,
            &spi_r,
        )
        .map_err(|_| Fallback::ProtocolError("resumed key derivation failed"))?;
        let (outbound, inbound) = keys
            .sk_ciphers(&suite, Role::Initiator)
            .map_err(|_| Fallback::ProtocolError("SK cipher setup failed"))?;
        let esp_spi = random_esp_spi(rng);
        let message1 = self.driver.take_request();
        let bytes = AuthRequest {
            offer: self.config.offer(),
            signer: Signer::Resumed(self.config.auth_form),
            id_i: &state.id_i,
            id_r: self.config.send_idr.then_some(&state.id_r),
            internal_addr: state.internal_addr,
            spi_i: self.spi_i,
            spi_r,
            message1: &message1,
            nr,
            prf: suite.prf(),
            keys: &keys,
            outbound: &outbound,
            esp_spi,
        }
        .build(rng)
        .map_err(Fallback::Unusable)?;
        self.driver.send(bytes, &self.config.retransmit);
        self.phase = Phase::Auth(Box::new(AuthPhase {
            spi_r,
            nr: nr.to_vec(),
            nat,
            message2: message2.to_vec(),
            keys,
            inbound,
            esp_spi,
        }));
        self.accepted = true;
        Ok(())
    }

    /// A datagram while the IKE_AUTH request is outstanding; `false` if it
    /// was ignored.
    fn on_auth_reply(&mut self, now: Timestamp, datagram: &[u8]) -> bool {
        let Phase::Auth(a) = &self.phase else {
            return false;
        };
        let state = &self.ticket.state;
        let check = AuthResponseCheck {
            offer: self.config.offer(),
            signer: Signer::Resumed(self.config.auth_form),
            id_r: Some(&state.id_r),
            spi_i: self.spi_i,
            spi_r: a.spi_r,
            prf: state.suite.suite.prf(),
            keys: &a.keys,
            inbound: &a.inbound,
            message2: &a.message2,
            ni: &self.ni,
            nr: &a.nr,
            esp_spi: a.esp_spi,
        };
        match check.read(datagram) {
            Err(_) => false,
            Ok(AuthOutcome::Failed(why)) => {
                self.fail(why);
                true
            }
            Ok(AuthOutcome::Established {
                child,
                internal_addr,
                ticket,
                ticket_acked,
                auth_lifetime,
                ..
            }) => {
                let Phase::Auth(a) = core::mem::replace(&mut self.phase, Phase::Done) else {
                    return false;
                };
                let (child, child_error) = match child {
                    Ok(c) => (Some(c), None),
                    Err(t) => (None, Some(t)),
                };
                let new_ticket = ticket.map(|(lifetime, opaque)| {
                    self.next_ticket(now, &a, internal_addr, lifetime, opaque)
                });
                let AuthPhase {
                    spi_r,
                    nr,
                    nat,
                    keys,
                    ..
                } = *a;
                let state = &self.ticket.state;
                let sa = EstablishedSa::new(
                    state,
                    NewSa {
                        spi_i: self.spi_i,
                        spi_r,
                        peer: self.remote,
                        local: self.local,
                        nat,
                        ni: self.ni[..].into(),
                        nr: nr[..].into(),
                        keys,
                        child,
                        internal_addr,
                        // The client does not know the gateway's ticket ids.
                        new_ticket: None,
                    },
                    // RFC 5723 §4.3.4: "the old SA SHOULD be silently
                    // deleted without sending a DELETE informational
                    // exchange"; the caller finds it by these SPIs.
                    Origin::Resumed {
                        replaces: (state.old_spi_i, state.old_spi_r),
                        auth_form: self.config.auth_form,
                    },
                    spi_r[0],
                    now,
                );
                self.driver.finish(InitiatorEvent::Established {
                    sa: Box::new(sa),
                    new_ticket,
                    ticket_acked,
                    child_error,
                    auth_lifetime,
                });
                true
            }
        }
    }

    /// The ticket for the next resumption: the new SA's SK_d and SPIs, the
    /// old ticket's identities, suite and re-authentication deadline.
    fn next_ticket(
        &self,
        now: Timestamp,
        a: &AuthPhase,
        internal_addr: Option<core::net::IpAddr>,
        lifetime: u32,
        opaque: Vec<u8>,
    ) -> ClientTicket {
        let mut state = self.ticket.state.clone();
        state.sk_d = a.keys.sk_d.clone();
        state.old_spi_i = self.spi_i;
        state.old_spi_r = a.spi_r;
        state.internal_addr = internal_addr;
        ClientTicket::received(opaque, lifetime, now, state)
    }
}

/// Refuses a configuration no request can be built from.
fn check_config(c: &InitiatorConfig) -> Result<(), Fallback> {
    config::check_offer(&c.offer()).map_err(Fallback::Unusable)
}
