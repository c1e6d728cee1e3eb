//! The full-exchange initiator: IKE_SA_INIT and IKE_AUTH with a pre-shared
//! key (RFC 7296 §1.2, §2.15), asking for a ticket (RFC 5723 §4.1), sans-IO
//! and driven like [`ResumeInitiator`](super::ResumeInitiator):
//! [`FullInitiator::poll_transmit`], [`FullInitiator::handle`],
//! [`FullInitiator::poll_timeout`] / [`FullInitiator::handle_timeout`] and,
//! once, [`FullInitiator::poll_event`]. The established SA lives on as a
//! [`ClientSession`] (INFORMATIONAL, CREATE_CHILD_SA).
//!
//! ```text
//! HDR(SPIi, 0), [N(COOKIE)], SAi1, KEi, Ni, N(NAT_D_SRC), N(NAT_D_DST)  -->
//!                <--  HDR, N(COOKIE) | N(INVALID_KE_PAYLOAD) | N(error)
//!                <--  HDR(SPIi, SPIr), SAr1, KEr, Nr, [N(NAT_D)*2]
//! HDR(msg 1), SK {IDi, [IDr], AUTH, [CP(CFG_REQUEST)], SAi2, TSi, TSr,
//!   [N(TICKET_REQUEST)]}  -->
//!                <--  HDR, SK {IDr, AUTH, [CP(CFG_REPLY)], SAr2, TSi, TSr,
//!                       [N(TICKET_LT_OPAQUE | TICKET_ACK | TICKET_NACK)]}
//! ```
//!
//! | module | concept |
//! | --- | --- |
//! | `config` | [`FullConfig`], [`FullEvent`], [`FullFailure`] |
//! | `sa_init` | the IKE_SA_INIT request and its responses |
//! | `session` | [`ClientSession`]: the established SA's requests |
//!
//! The IKE_AUTH request and the checks on its response are the resumption
//! initiator's (`client::auth`), keyed with the PSK.

mod config;
mod sa_init;
mod session;

use core::fmt;
use core::net::SocketAddr;
use std::sync::Arc;

pub use config::{FullConfig, FullEvent, FullFailure};
pub use session::{
    ChildRequest, ClientSession, SessionError, SessionRequest, SessionResponse, TicketReply,
};

use crate::crypto::{DhGroup, DhPrivate, IkeKeys, Role, SkCipher};
use crate::handoff::{EstablishedSa, Hex, NatStatus, NewSa, Origin};
use crate::rand::RandomSource;
use crate::slow_path::proposal::accept_ike;
use crate::time::Timestamp;
use crate::wire::{KeRepr, NotifyType, SaRepr};

use super::auth::{AuthOutcome, AuthRequest, AuthResponseCheck, Signer};
use super::config::{ClientTicket, Fallback, InitiatorStats, check_offer};
use super::driver::{Driver, random_esp_spi, random_spi};
use super::request::{MAX_COOKIE_ROUNDS, NONCE_LEN};
use sa_init::{InitReply, InitRequest, read_init_reply};
use session::{SessionKeys, nonce};

/// Where the exchange stands.
enum Phase {
    /// Waiting for the IKE_SA_INIT response.
    Init(Box<InitPhase>),
    /// Waiting for the IKE_AUTH response.
    Auth(Box<AuthPhase>),
    /// Established or failed; the event is (or was) in `event`.
    Done,
}

/// IKE_SA_INIT in progress.
struct InitPhase {
    /// Our key-exchange secret, of the group the KE payload carries.
    dh: DhPrivate,
    /// The cookie the current request carries.
    cookie: Option<Vec<u8>>,
    /// COOKIE responses acted upon.
    cookie_rounds: u32,
    /// Groups the KE payload has carried, the current one included.
    tried: Vec<DhGroup>,
}

/// The SA between IKE_SA_INIT and IKE_AUTH. Keys wipe themselves on drop.
struct AuthPhase {
    sa: SessionKeys,
    nat: NatStatus,
    /// RealMessage2: the IKE_SA_INIT response.
    message2: Vec<u8>,
    inbound: SkCipher,
    /// Our inbound ESP SPI.
    esp_spi: [u8; 4],
}

/// The client side of one full exchange, from nothing to an
/// [`EstablishedSa`] and a [`ClientSession`], or a [`FullFailure`].
pub struct FullInitiator {
    config: Arc<FullConfig>,
    local: SocketAddr,
    remote: SocketAddr,
    spi_i: [u8; 8],
    ni: [u8; NONCE_LEN],
    phase: Phase,
    /// The request awaiting its response, the outcome, the counters.
    driver: Driver<FullEvent>,
}

impl fmt::Debug for FullInitiator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let phase = match &self.phase {
            Phase::Init(_) => "sa_init",
            Phase::Auth(_) => "auth",
            Phase::Done => "done",
        };
        f.debug_struct("FullInitiator")
            .field("spi_i", &Hex(&self.spi_i))
            .field("local", &self.local)
            .field("remote", &self.remote)
            .field("phase", &phase)
            .field("stats", &self.driver.stats)
            .finish_non_exhaustive()
    }
}

impl FullInitiator {
    /// Starts a full exchange; the IKE_SA_INIT request is ready for
    /// [`FullInitiator::poll_transmit`].
    ///
    /// # Errors
    /// [`FullFailure::Unusable`] for a configuration no request can be
    /// made from (no IKE or ESP proposal or more than 255, a KE group no
    /// IKE proposal has, no traffic selector). Nothing is sent then.
    pub fn new(
        config: Arc<FullConfig>,
        local: SocketAddr,
        remote: SocketAddr,
        rng: &mut dyn RandomSource,
    ) -> Result<Self, FullFailure> {
        check_offer(&config.offer()).map_err(FullFailure::Unusable)?;
        if !(1..=usize::from(u8::MAX)).contains(&config.ike.len()) {
            return Err(FullFailure::Unusable("1 to 255 IKE proposals are needed"));
        }
        if !config.offers_group(config.group) {
            return Err(FullFailure::Unusable("the KE group is in no IKE proposal"));
        }
        let spi_i = random_spi(rng);
        let ni = nonce(rng);
        let dh = DhPrivate::generate(config.group, rng);
        let mut me = FullInitiator {
            local,
            remote,
            spi_i,
            ni,
            phase: Phase::Done,
            driver: Driver::new(),
            config: config.clone(),
        };
        let phase = InitPhase {
            dh,
            cookie: None,
            cookie_rounds: 0,
            tried: vec![config.group],
        };
        let bytes = me.init_request(&phase).map_err(FullFailure::Unusable)?;
        me.driver.send(bytes, &config.retransmit);
        me.phase = Phase::Init(Box::new(phase));
        Ok(me)
    }

    /// The next datagram to send (an IKE message, without the non-ESP
    /// marker), written to `out`; returns its length. `None` when nothing
    /// is due, or when `out` is too small (it stays due; 2 KiB suffices).
    pub fn poll_transmit(&mut self, now: Timestamp, out: &mut [u8]) -> Option<usize> {
        self.driver.poll_transmit(now, out)
    }

    /// A received datagram. Anything that is not the awaited response is
    /// ignored and counted in [`InitiatorStats::ignored`].
    pub fn handle(&mut self, now: Timestamp, datagram: &[u8], rng: &mut dyn RandomSource) {
        let acted = match &self.phase {
            Phase::Init(_) => self.on_init_reply(datagram, rng),
            Phase::Auth(_) => self.on_auth_reply(now, datagram),
            Phase::Done => false,
        };
        if !acted {
            self.driver.ignored();
        }
    }

    /// When [`FullInitiator::handle_timeout`] is next due.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        self.driver.poll_timeout()
    }

    /// The retransmission timer (RFC 7296 §2.1): resend the outstanding
    /// request byte for byte; after the last transmission goes unanswered,
    /// fail with [`FullFailure::Timeout`].
    pub fn handle_timeout(&mut self, now: Timestamp) {
        if self.driver.gives_up(now, &self.config.retransmit) {
            self.fail(FullFailure::Timeout);
        }
    }

    /// The outcome, once.
    pub fn poll_event(&mut self) -> Option<FullEvent> {
        self.driver.poll_event()
    }

    /// Whether the exchange is over.
    pub fn is_done(&self) -> bool {
        matches!(self.phase, Phase::Done)
    }

    /// Our SPI of the IKE SA.
    pub fn spi_i(&self) -> [u8; 8] {
        self.spi_i
    }

    /// The counters.
    pub fn stats(&self) -> InitiatorStats {
        self.driver.stats
    }

    fn fail(&mut self, why: FullFailure) {
        self.phase = Phase::Done;
        self.driver.finish(FullEvent::Failed(why));
    }

    fn init_request(&self, p: &InitPhase) -> Result<Vec<u8>, &'static str> {
        InitRequest {
            spi_i: self.spi_i,
            ike: &self.config.ike,
            dh: &p.dh,
            ni: &self.ni,
            cookie: p.cookie.as_deref(),
            local: self.local,
            remote: self.remote,
        }
        .build()
    }

    /// Replaces the outstanding IKE_SA_INIT request with one made from the
    /// phase as it is now (a cookie or a group added).
    fn retry_init(&mut self) {
        let Phase::Init(p) = &self.phase else {
            return;
        };
        match self.init_request(p) {
            Ok(bytes) => {
                self.driver.send(bytes, &self.config.retransmit);
            }
            Err(e) => self.fail(FullFailure::Unusable(e)),
        }
    }

    /// A datagram while the IKE_SA_INIT request is outstanding; `false` if
    /// it was ignored.
    fn on_init_reply(&mut self, datagram: &[u8], rng: &mut dyn RandomSource) -> bool {
        let Phase::Init(p) = &mut self.phase else {
            return false;
        };
        let Ok(reply) = read_init_reply(datagram, &self.spi_i, self.local, self.remote) else {
            return false;
        };
        match reply {
            InitReply::Cookie(c) => {
                // A repeat of the cookie already sent: the request carrying
                // it is outstanding and its timer covers a loss.
                if p.cookie.as_deref() == Some(c) {
                    return false;
                }
                if p.cookie_rounds >= MAX_COOKIE_ROUNDS {
                    self.fail(FullFailure::ProtocolError("too many COOKIE rounds"));
                    return true;
                }
                p.cookie_rounds += 1;
                p.cookie = Some(c.to_vec());
                self.driver.stats.cookies_received += 1;
                // RFC 7296 §2.6: the same SPIi, KEi and Ni, with N(COOKIE)
                // first.
                self.retry_init();
            }
            InitReply::InvalidKe(id) => {
                // A late answer to a request of the group we left: ignore.
                if id != p.dh.group().id() && p.tried.iter().any(|g| g.id() == id) {
                    return false;
                }
                // RFC 7296 §1.2: the responder "will indicate the correct
                // group in the response and the initiator SHOULD pick an
                // element of that group for its KE value when retrying" --
                // a group we offered, once. The cookie, if any, stays in
                // the retries (RFC 7296 §2.6; same SPIi and Ni, so it is
                // still valid).
                let group = DhGroup::from_id(id)
                    .filter(|g| self.config.offers_group(*g) && !p.tried.contains(g));
                let Some(group) = group else {
                    self.fail(FullFailure::InvalidKe { group: id });
                    return true;
                };
                p.dh = DhPrivate::generate(group, rng);
                p.tried.push(group);
                self.retry_init();
            }
            InitReply::Error(NotifyType::NO_PROPOSAL_CHOSEN) => {
                self.fail(FullFailure::NoProposalChosen);
            }
            InitReply::Error(t) => self.fail(FullFailure::ErrorNotify(t)),
            InitReply::Accepted {
                spi_r,
                sa,
                ke,
                nr,
                nat,
            } => {
                let accepted = Accepted {
                    message2: datagram,
                    spi_r,
                    sa,
                    ke,
                    nr,
                    nat,
                };
                if let Err(why) = self.start_auth(accepted, rng) {
                    self.fail(why);
                }
            }
        }
        true
    }

    /// Checks the accepted IKE_SA_INIT, derives the SA's keys and queues
    /// the IKE_AUTH request.
    fn start_auth(
        &mut self,
        a: Accepted<'_>,
        rng: &mut dyn RandomSource,
    ) -> Result<(), FullFailure> {
        let Phase::Init(p) = &self.phase else {
            return Err(FullFailure::ProtocolError("no IKE_SA_INIT outstanding"));
        };
        let group = p.dh.group();
        // RFC 7296 §2.7: the responder accepts one of our proposals whole,
        // with the group of our KE payload (§1.2).
        let sel = accept_ike(&self.config.ike, &a.sa, 0, group).ok_or(
            FullFailure::ProtocolError("SAr1 is not one of our proposals"),
        )?;
        if a.ke.dh_group != group.id() {
            return Err(FullFailure::ProtocolError("KEr of another group"));
        }
        // RFC 7296 §5 (and RFC 8031 §2, RFC 5903 §7): the peer's public
        // value is checked before use.
        let shared =
            p.dh.agree(a.ke.key_data)
                .map_err(|_| FullFailure::ProtocolError("invalid KEr public value"))?;
        // RFC 7296 §2.14: SKEYSEED = prf(Ni | Nr, g^ir), then prf+ over
        // Ni | Nr | SPIi | SPIr.
        let keys = IkeKeys::derive_initial(
            &sel.suite,
            &self.ni,
            a.nr,
            shared.as_bytes(),
            &self.spi_i,
            &a.spi_r,
        )
        .map_err(|_| FullFailure::ProtocolError("key derivation failed"))?;
        drop(shared);
        let (outbound, inbound) = keys
            .sk_ciphers(&sel.suite, Role::Initiator)
            .map_err(|_| FullFailure::ProtocolError("SK cipher setup failed"))?;
        let esp_spi = random_esp_spi(rng);
        // RFC 7296 §2.15: RealMessage1 is our IKE_SA_INIT request exactly
        // as the responder took it (with the cookie, if one was needed).
        let message1 = self.driver.take_request();
        let bytes = AuthRequest {
            offer: self.config.offer(),
            signer: Signer::Psk(self.config.psk.as_bytes()),
            id_i: &self.config.id_i,
            id_r: self.config.id_r.as_ref(),
            internal_addr: None,
            spi_i: self.spi_i,
            spi_r: a.spi_r,
            message1: &message1,
            nr: a.nr,
            prf: sel.suite.prf(),
            keys: &keys,
            outbound: &outbound,
            esp_spi,
        }
        .build(rng)
        .map_err(FullFailure::Unusable)?;
        self.driver.send(bytes, &self.config.retransmit);
        self.phase = Phase::Auth(Box::new(AuthPhase {
            sa: SessionKeys {
                spi_i: self.spi_i,
                spi_r: a.spi_r,
                suite: sel.suite,
                group,
                ni: self.ni.to_vec(),
                nr: a.nr.to_vec(),
                keys,
            },
            nat: a.nat,
            message2: a.message2.to_vec(),
            inbound,
            esp_spi,
        }));
        Ok(())
    }

    /// A datagram while the IKE_AUTH request is outstanding; `false` if it
    /// was ignored.
    fn on_auth_reply(&mut self, now: Timestamp, datagram: &[u8]) -> bool {
        let Phase::Auth(a) = &self.phase else {
            return false;
        };
        let check = AuthResponseCheck {
            offer: self.config.offer(),
            signer: Signer::Psk(self.config.psk.as_bytes()),
            id_r: self.config.id_r.as_ref(),
            spi_i: self.spi_i,
            spi_r: a.sa.spi_r,
            prf: a.sa.suite.prf(),
            keys: &a.sa.keys,
            inbound: &a.inbound,
            message2: &a.message2,
            ni: &self.ni,
            nr: &a.sa.nr,
            esp_spi: a.esp_spi,
        };
        let outcome = match check.read(datagram) {
            Err(_) => return false,
            Ok(o) => o,
        };
        let AuthOutcome::Established {
            child,
            internal_addr,
            ticket,
            ticket_acked,
            ticket_nacked,
            id_r,
            auth_lifetime,
        } = outcome
        else {
            if let AuthOutcome::Failed(why) = outcome {
                self.fail(auth_failure(why));
            }
            return true;
        };
        let Phase::Auth(a) = core::mem::replace(&mut self.phase, Phase::Done) else {
            return false;
        };
        let AuthPhase { sa, nat, .. } = *a;
        let keys = sa.keys.clone();
        let nr = sa.nr.clone();
        let session = match ClientSession::new(self.config.clone(), sa, 2, id_r, internal_addr) {
            Ok(s) => s,
            Err(e) => {
                self.fail(FullFailure::ProtocolError(e));
                return true;
            }
        };
        let ticket = ticket.map(|(lifetime, opaque)| {
            ClientTicket::received(opaque, lifetime, now, session.ticket_state())
        });
        let (child, child_error) = match child {
            Ok(c) => (Some(c), None),
            Err(t) => (None, Some(t)),
        };
        // IDi, the gateway's IDr, the PSK method, the suite and group, as
        // the session would put them in a ticket; authenticated now.
        let mut auth = session.ticket_state();
        auth.issued_at = now.secs();
        // RFC 4478: AUTH_LIFETIME gives the gateway's re-authentication
        // deadline; without it, the ticket's expiry bounds it when there is
        // one.
        auth.reauth_deadline = match auth_lifetime {
            Some(secs) => now.secs().saturating_add(u64::from(secs)),
            None => ticket.as_ref().map_or(u64::MAX, |t| t.expires_at),
        };
        let sa = EstablishedSa::new(
            &auth,
            NewSa {
                spi_i: self.spi_i,
                spi_r: session.spi_r(),
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
            Origin::Initial,
            session.spi_r()[0],
            now,
        );
        self.driver.finish(FullEvent::Established {
            sa: Box::new(sa),
            session,
            ticket,
            ticket_acked,
            ticket_nacked,
            child_error,
            auth_lifetime,
        });
        true
    }
}

/// An accepting IKE_SA_INIT response.
struct Accepted<'a> {
    /// The response itself: RealMessage2 of the responder's AUTH.
    message2: &'a [u8],
    spi_r: [u8; 8],
    sa: SaRepr<'a>,
    ke: KeRepr<'a>,
    nr: &'a [u8],
    nat: NatStatus,
}

/// An IKE_AUTH failure in the full exchange's terms: no IKE SA was made.
fn auth_failure(f: Fallback) -> FullFailure {
    match f {
        Fallback::AuthenticationFailed => FullFailure::AuthenticationFailed,
        Fallback::ChildRefused(t) | Fallback::ErrorNotify(t) => FullFailure::ErrorNotify(t),
        Fallback::TicketRefused => FullFailure::ErrorNotify(NotifyType::TICKET_NACK),
        Fallback::Timeout => FullFailure::Timeout,
        Fallback::ProtocolError(e) => FullFailure::ProtocolError(e),
        Fallback::TicketExpired => FullFailure::ProtocolError("ticket expired"),
        Fallback::Unusable(e) => FullFailure::Unusable(e),
    }
}
