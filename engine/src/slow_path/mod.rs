//! The full IKEv2 exchange (RFC 7296 §1.2), sans-IO: IKE_SA_INIT and
//! IKE_AUTH with pre-shared keys, issuing tickets (RFC 5723 §4.1), and what
//! follows on an established IKE SA: INFORMATIONAL (liveness, ticket
//! requests, DELETE) and CREATE_CHILD_SA (IKE SA rekey). The slow path: the
//! control plane owns one [`SlowPathResponder`] and feeds it every datagram
//! the workers do not take.
//!
//! ```text
//! HDR(SPIi, 0), SAi1, KEi, Ni, [N(COOKIE)], [N(NAT_D)*]   -->
//!                  <--  HDR, N(COOKIE) | N(INVALID_KE_PAYLOAD) | N(NO_PROPOSAL_CHOSEN)
//!                  <--  HDR(SPIi, SPIr), SAr1, KEr, Nr, [N(NAT_D)*2]
//! HDR, SK {IDi, [IDr], AUTH, [CP], SAi2, TSi, TSr, [N(TICKET_REQUEST)]}  -->
//!                  <--  HDR, SK {IDr, AUTH, [CP], SAr2, TSi, TSr, [N(TICKET_*)]}
//! ```
//!
//! | module | concept |
//! | --- | --- |
//! | [`proposal`] | IKE proposals: policy, choice, the answer's check |
//! | `sa_init` | IKE_SA_INIT |
//! | `auth` | IKE_AUTH with a pre-shared key |
//! | `session` | the established SA: INFORMATIONAL and CREATE_CHILD_SA (IKE SA rekey); an SA a rekey replaced |
//! | `child_sa` | CREATE_CHILD_SA for child SAs: new, rekeyed (RFC 7296 §1.3.1, §1.3.3); our inbound SPIs in use (child deletes are `session`'s INFORMATIONAL) |
//! | `identity` | SAs by peer identity: INITIAL_CONTACT (RFC 7296 §2.4) |
//! | `packed` | an established SA's ticket state, packed for a table held for hours |
//! | `deleted` | the answers of recently deleted SAs, for retransmitted DELETEs (§2.1) |
//! | `counters` | [`SlowPathCounters`] |

mod auth;
mod child_sa;
mod counters;
mod deleted;
mod identity;
mod packed;
pub mod proposal;
mod sa_init;
mod session;

use core::net::SocketAddr;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;

pub use crate::handoff::SaChange;
pub use counters::{SlowPathCounter, SlowPathCounters};

pub use proposal::{IkeProposal, ProposalError};

use crate::cookie::CookieJar;
use crate::crypto::{IkeSuite, PackedKeys, Role, SecretBuf, SkCipher};
use crate::handoff::{ChildSpis, EstablishedSa, NatStatus};
use crate::rand::RandomSource;
use crate::responder::{PacketMeta, ResponderConfig, ResponderShared, tagged_spi};
use crate::ticket::keyring::KeyRingReader;
use crate::ticket::state::{TicketIdentity, TicketState, TicketSuite};
use crate::ticket::{TicketId, TicketReject, UnixSeconds};
use crate::time::Timestamp;
use crate::wire::{ExchangeType, HeaderRepr, IdType, IkeHeader};
use packed::{SessionTicket, TicketBase};

/// The top byte of every SPIr the slow path chooses. Worker ids are
/// 0..=254, so an IKE_AUTH whose SPIr starts with this byte is the
/// control plane's, and the workers pass it on without a table. The
/// inbound ESP SPIs of the slow path's child SAs start with it too, and
/// the workers' never do (`ike_auth::SpiSpace`).
pub const CONTROL_SPI_TAG: u8 = 0xff;

/// One pre-shared key and what it allows.
#[derive(Clone)]
pub struct Psk {
    /// The peer's identity (its IDi).
    pub id: TicketIdentity,
    /// The shared secret.
    pub secret: SecretBuf,
    /// `false`: N(TICKET_REQUEST) gets N(TICKET_NACK).
    pub tickets: bool,
}

impl core::fmt::Debug for Psk {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Psk")
            .field("id", &self.id)
            .field("tickets", &self.tickets)
            .finish_non_exhaustive()
    }
}

/// Pre-shared keys by identity (type and data).
#[derive(Debug, Default, Clone)]
pub struct PskTable {
    by_id: HashMap<(u8, Vec<u8>), Psk>,
}

impl PskTable {
    /// A table of `psks`; a later entry for the same identity wins.
    pub fn new(psks: impl IntoIterator<Item = Psk>) -> Self {
        let by_id = psks
            .into_iter()
            .map(|p| ((p.id.id_type.0, p.id.data().to_vec()), p))
            .collect();
        PskTable { by_id }
    }

    /// The key of the identity `id_type`/`data`.
    pub fn get(&self, id_type: IdType, data: &[u8]) -> Option<&Psk> {
        self.by_id.get(&(id_type.0, data.to_vec()))
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}

/// The slow path's settings.
#[derive(Debug, Clone)]
pub struct SlowPathConfig {
    /// Child SA, traffic selectors, ticket policy, half-open limits,
    /// cookies and the largest request taken, as for resumption. Its
    /// `worker_id` is ignored: SPIs carry [`CONTROL_SPI_TAG`].
    pub responder: ResponderConfig,
    /// The IKE proposals accepted, in order of preference.
    pub ike: Vec<IkeProposal>,
    /// Our identity (IDr).
    pub local_id: TicketIdentity,
    /// A full authentication lasts this long (RFC 4478): the SA's
    /// re-authentication deadline, which its tickets never outlive.
    pub reauth_secs: u64,
    /// Whether an IKE SA deleted by its peer takes its ticket with it
    /// (RFC 5723 §6.2). `false` keeps the ticket valid for one resumption,
    /// for clients that delete an SA and resume it later with the same
    /// ticket (libreswan's `whack --suspend`). Rekeys revoke either way:
    /// the ticket holds the old SK_d.
    pub revoke_on_delete: bool,
    /// The child SAs one IKE SA may have at a time; CREATE_CHILD_SA for
    /// one more is answered NO_ADDITIONAL_SAS (RFC 7296 §1.3). Children
    /// replaced by a rekey and not yet deleted by the peer are not
    /// counted; past as many again the oldest is forgotten and handed off
    /// as a [`SaChange::ChildDeleted`].
    pub max_children: usize,
}

/// The default [`SlowPathConfig::max_children`].
pub const DEFAULT_MAX_CHILDREN: usize = 8;

impl Default for SlowPathConfig {
    fn default() -> Self {
        SlowPathConfig {
            responder: ResponderConfig::default(),
            ike: IkeProposal::default_policy(),
            local_id: TicketIdentity::new(IdType::FQDN, b"rebound.gateway")
                .unwrap_or_else(unreachable_identity),
            reauth_secs: 24 * 3600,
            revoke_on_delete: true,
            max_children: DEFAULT_MAX_CHILDREN,
        }
    }
}

/// `TicketIdentity::new` refuses only empty or over-long data; the default
/// above is neither.
fn unreachable_identity() -> TicketIdentity {
    TicketState::placeholder().id_r
}

/// What a datagram led to, besides the answer.
#[derive(Debug)]
pub enum SaEvent {
    /// A new IKE SA: a full exchange, or a rekey (`Origin::Rekeyed`).
    Established(Box<EstablishedSa>),
    /// A change to SAs already established: a delete, a child SA made,
    /// rekeyed or deleted.
    Changed(SaChange),
}

/// Why [`SlowPathResponder::adopt`] refused an SA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AdoptError {
    /// Another SA has the same SPIr here.
    SpiTaken,
}

impl core::fmt::Display for AdoptError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("the SPIr is taken by another SA")
    }
}

impl std::error::Error for AdoptError {}

/// The result of [`SlowPathResponder::handle`].
#[derive(Debug, Default)]
pub struct Outcome {
    /// Length of the answer written to the output buffer.
    pub reply: Option<usize>,
    /// What happened to SAs, in order (one exchange can end several: an
    /// INITIAL_CONTACT deletes the identity's other SAs).
    pub events: Vec<SaEvent>,
}

impl Outcome {
    fn reply(n: Option<usize>) -> Self {
        Outcome {
            reply: n,
            events: Vec::new(),
        }
    }
}

/// An IKE SA the slow path knows: between IKE_SA_INIT and IKE_AUTH, or
/// established (by a full exchange, a rekey, or adopted after a worker
/// resumed it).
struct IkeSa {
    spi_i: [u8; 8],
    spi_r: [u8; 8],
    peer: SocketAddr,
    local: SocketAddr,
    suite: IkeSuite,
    /// The DH group of the exchange that made the SA (any number for an
    /// adopted SA: a ticket from elsewhere may name a group Rebound does
    /// not speak; only a rekey needs one it does).
    dh_group: u16,
    /// The nonces, until the IKE_AUTH is answered (its AUTH payloads sign
    /// them); an established SA no longer needs them (a rekey brings new
    /// ones) and keeps none.
    ni: Vec<u8>,
    nr: Vec<u8>,
    /// Packed: an established SA is held for hours (168 bytes for AES-GCM
    /// with PRF-HMAC-SHA256 rather than [`IkeKeys`]' 504).
    keys: PackedKeys,
    nat: NatStatus,
    /// Half-open: when it expires. Established: the re-authentication
    /// deadline.
    deadline: Timestamp,
    state: SaState,
}

/// An SA's SK ciphers, built from its keys for each request (an AES
/// key expansion: cheap next to keeping 2.7 KB of key schedules per SA).
struct Ciphers {
    /// Encrypts our answers.
    outbound: SkCipher,
    /// Decrypts the peer's requests.
    inbound: SkCipher,
}

impl IkeSa {
    fn ciphers(&self) -> Option<Ciphers> {
        let keys = self.keys.unpack().ok()?;
        let (outbound, inbound) = keys.sk_ciphers(&self.suite, Role::Responder).ok()?;
        Some(Ciphers { outbound, inbound })
    }

    /// What a ticket state takes from this SA.
    fn ticket_base(&self) -> TicketBase<'_> {
        TicketBase {
            sk_d: self.keys.sk_d(),
            spi_i: self.spi_i,
            spi_r: self.spi_r,
            suite: TicketSuite {
                suite: self.suite,
                dh_group: self.dh_group,
            },
        }
    }
}

enum SaState {
    /// IKE_SA_INIT answered; the two messages are what the AUTH payloads
    /// sign.
    HalfOpen {
        init_request: Vec<u8>,
        init_response: Vec<u8>,
    },
    /// IKE_AUTH failed; its answer is kept for retransmissions until the
    /// deadline.
    Failed {
        request: Vec<u8>,
        response: Vec<u8>,
    },
    Established(Box<Session>),
}

/// An established IKE SA's exchange state.
struct Session {
    /// When it was established (for an adopted SA, when the worker
    /// resumed it): INITIAL_CONTACT ends only the SAs established before
    /// the one carrying it.
    established_at: Timestamp,
    /// Replaced by an IKE SA rekey (RFC 7296 §2.18): the peer deletes it
    /// next. It answers DELETE and liveness checks only; its child SAs and
    /// internal address moved to the new SA.
    replaced: bool,
    /// The next request's message id (RFC 7296 §2.2, window size 1).
    next_id: u32,
    /// The last request and our answer, for retransmissions.
    last_request: Vec<u8>,
    last_response: Vec<u8>,
    /// What a ticket for this SA holds besides what the SA holds itself
    /// (identities, method, address, times).
    ticket: SessionTicket,
    /// The peer may have tickets (its PSK entry and the policy).
    tickets_allowed: bool,
    /// The ticket issued last and its expiry: revoked when the SA is
    /// deleted or rekeyed, or a new one replaces it (RFC 5723 §6.2).
    issued: Option<(TicketId, UnixSeconds)>,
    /// Child SAs, oldest first.
    children: Vec<ChildEntry>,
}

/// A child SA of an established IKE SA.
#[derive(Debug, Clone, Copy)]
struct ChildEntry {
    spis: ChildSpis,
    /// Replaced by a rekey (RFC 7296 §1.3.3): the peer deletes it next;
    /// it cannot be rekeyed again.
    rekeyed: bool,
}

impl ChildEntry {
    fn new(spi_i: [u8; 4], spi_r: [u8; 4]) -> Self {
        ChildEntry {
            spis: ChildSpis { spi_i, spi_r },
            rekeyed: false,
        }
    }
}

/// The slow-path responder.
pub struct SlowPathResponder {
    config: SlowPathConfig,
    shared: ResponderShared,
    psks: Arc<PskTable>,
    ring: KeyRingReader,
    /// Every SA by SPIr, boxed: an SA with its ciphers is a few KB, and
    /// growing the map then moves pointers, not SAs.
    sas: HashMap<[u8; 8], Box<IkeSa>>,
    /// (deadline, SPIr), earliest first: what the timers look at instead of
    /// scanning every SA. An entry is stale when its SA is gone or has
    /// another deadline now; stale entries are skipped, and the heap is
    /// rebuilt when they outnumber the SAs.
    deadlines: BinaryHeap<Reverse<(Timestamp, [u8; 8])>>,
    /// Half-open SAs by (SPIi, peer): a retransmitted IKE_SA_INIT finds
    /// its answer.
    init_index: HashMap<([u8; 8], SocketAddr), [u8; 8]>,
    half_open: usize,
    /// SAs whose IKE_AUTH failed, kept for retransmissions.
    failed: usize,
    cookies: CookieJar,
    /// Established SAs by the peer's identity (IDi), for INITIAL_CONTACT.
    by_identity: identity::IdentityIndex,
    /// The DELETE answers of SAs gone, for their retransmissions.
    deleted: deleted::DeletedAnswers,
    /// The inbound ESP SPIs (ours) of every child SA of every established
    /// SA here, so that a new child's SPI is unique on the gateway, not
    /// only within its IKE SA.
    child_spis: child_sa::InboundSpis,
    counters: SlowPathCounters,
    rng: Box<dyn RandomSource + Send>,
    scratch: Vec<u8>,
    accepting: bool,
}

impl core::fmt::Debug for SlowPathResponder {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SlowPathResponder")
            .field("sas", &self.sas.len())
            .field("half_open", &self.half_open)
            .finish_non_exhaustive()
    }
}

impl SlowPathResponder {
    pub fn new(
        config: SlowPathConfig,
        shared: ResponderShared,
        psks: Arc<PskTable>,
        mut rng: Box<dyn RandomSource + Send>,
        now: Timestamp,
    ) -> Self {
        let cookies = CookieJar::new(&mut *rng, now, config.responder.cookie_rotate_ms);
        SlowPathResponder {
            ring: KeyRingReader::new(shared.keys.clone()),
            config,
            shared,
            psks,
            sas: HashMap::new(),
            deadlines: BinaryHeap::new(),
            init_index: HashMap::new(),
            half_open: 0,
            failed: 0,
            cookies,
            by_identity: identity::IdentityIndex::default(),
            deleted: deleted::DeletedAnswers::default(),
            child_spis: child_sa::InboundSpis::default(),
            counters: SlowPathCounters::default(),
            rng,
            scratch: Vec::new(),
            accepting: true,
        }
    }

    /// Replace the pre-shared keys (a configuration reload). Exchanges in
    /// flight use the new table from their IKE_AUTH on.
    pub fn set_psks(&mut self, psks: Arc<PskTable>) {
        self.psks = psks;
    }

    /// Take new IKE_SA_INIT exchanges or not (false while draining).
    pub fn set_accepting(&mut self, accepting: bool) {
        self.accepting = accepting;
    }

    pub fn counters(&self) -> &SlowPathCounters {
        &self.counters
    }

    pub fn config(&self) -> &SlowPathConfig {
        &self.config
    }

    /// IKE_SA_INIT answered, IKE_AUTH not yet.
    pub fn half_open(&self) -> usize {
        self.half_open
    }

    /// Established IKE SAs.
    pub fn established(&self) -> usize {
        self.sas.len() - self.half_open - self.failed
    }

    /// Whether the SA with these SPIs is established here.
    pub fn contains(&self, spi_i: &[u8; 8], spi_r: &[u8; 8]) -> bool {
        self.sas
            .get(spi_r)
            .is_some_and(|s| s.spi_i == *spi_i && matches!(s.state, SaState::Established(_)))
    }

    /// Take over an SA a worker resumed, so its INFORMATIONAL and
    /// CREATE_CHILD_SA exchanges are answered here. Message ids go on
    /// after its IKE_AUTH (message 1). Cheap (no key expansion): the SK
    /// ciphers are built when a request comes.
    ///
    /// When its IKE_AUTH carried INITIAL_CONTACT
    /// ([`EstablishedSa::initial_contact`]), the other SAs of the same
    /// identity are deleted as for a full exchange (RFC 7296 §2.4): the
    /// events say which (each a [`SaChange::Deleted`]).
    ///
    /// # Errors
    /// [`AdoptError::SpiTaken`] when another SA has its SPIr here.
    pub fn adopt(
        &mut self,
        now: Timestamp,
        sa: &EstablishedSa,
    ) -> Result<Vec<SaEvent>, AdoptError> {
        if self.sas.contains_key(&sa.spi_r) {
            return Err(AdoptError::SpiTaken);
        }
        let ticket = SessionTicket::adopted(sa);
        let tickets_allowed = self
            .psks
            .get(sa.id_i.id_type, sa.id_i.data())
            .is_some_and(|p| p.tickets);
        let session = Session {
            established_at: sa.established_at,
            replaced: false,
            next_id: 2,
            last_request: Vec::new(),
            last_response: Vec::new(),
            ticket,
            tickets_allowed,
            issued: sa.new_ticket.map(|t| (t.id, t.expiry)),
            children: sa
                .child
                .iter()
                .map(|c| ChildEntry::new(c.spi_i, c.spi_r))
                .collect(),
        };
        self.sas.insert(
            sa.spi_r,
            Box::new(IkeSa {
                spi_i: sa.spi_i,
                spi_r: sa.spi_r,
                peer: sa.peer,
                local: sa.local,
                suite: sa.suite,
                dh_group: sa.dh_group,
                // Established: no nonces kept (see `IkeSa::ni`).
                ni: Vec::new(),
                nr: Vec::new(),
                keys: PackedKeys::pack(&sa.keys),
                nat: sa.nat,
                deadline: Timestamp::from_secs(sa.reauth_deadline),
                state: SaState::Established(Box::new(session)),
            }),
        );
        self.schedule(sa.spi_r, Timestamp::from_secs(sa.reauth_deadline));
        self.by_identity.insert(&sa.id_i, sa.spi_r);
        // A worker's SPI equal to one in use here: the hand-off consumer
        // refuses the second (docs/ARCHITECTURE.md).
        if let Some(c) = &sa.child
            && self.child_spis.insert(c.spi_r)
        {
            self.counters.bump(SlowPathCounter::ChildSpiCollision);
        }
        let events = if sa.initial_contact {
            // Only the SAs established by the time this one was: a newer
            // SA of the same identity made here meanwhile is not stale.
            let by = Some(sa.established_at);
            self.initial_contact(now, &sa.id_i, sa.spi_r, sa.internal_addr, by)
        } else {
            Vec::new()
        };
        Ok(events)
    }

    /// Forget an SA without a word to the peer (RFC 5723 §4.3.4: the SA a
    /// resumption replaced). `true` when it was here.
    pub fn remove_silently(&mut self, spi_i: &[u8; 8], spi_r: &[u8; 8]) -> bool {
        match self.sas.get(spi_r) {
            Some(s) if s.spi_i == *spi_i => {
                self.remove(spi_r);
                true
            }
            _ => false,
        }
    }

    fn remove(&mut self, spi_r: &[u8; 8]) -> Option<Box<IkeSa>> {
        let sa = self.sas.remove(spi_r)?;
        match sa.state {
            SaState::HalfOpen { .. } => {
                self.half_open -= 1;
                self.init_index.remove(&(sa.spi_i, sa.peer));
            }
            SaState::Failed { .. } => self.failed -= 1,
            SaState::Established(ref s) => self.forget_established(sa.spi_r, s),
        }
        Some(sa)
    }

    /// An established SA leaves the table: its identity entry and its
    /// children's SPIs go.
    fn forget_established(&mut self, spi_r: [u8; 8], session: &Session) {
        if let Some(id_i) = session.ticket.id_i() {
            self.by_identity.remove(&id_i, spi_r);
        }
        for c in &session.children {
            self.child_spis.remove(&c.spis.spi_r);
        }
    }

    /// Expire half-open SAs, failed exchanges and SAs past their
    /// re-authentication deadline; rotate the cookie secret. Returns the
    /// established SAs dropped at their deadline.
    pub fn handle_timeout(&mut self, now: Timestamp) -> usize {
        self.cookies.maybe_rotate(now, &mut *self.rng);
        if let Some(rev) = &self.shared.revocations {
            rev.purge(now.secs());
        }
        // By-reference tickets nobody presented before their expiry.
        if let Some(store) = &self.shared.store {
            store.purge_expired(now.secs());
        }
        self.deleted.purge(now);
        let mut established = 0;
        while let Some(&Reverse((deadline, spi_r))) = self.deadlines.peek() {
            if deadline > now {
                break;
            }
            self.deadlines.pop();
            // A stale entry: the SA is gone, or its deadline moved.
            if self.sas.get(&spi_r).is_none_or(|s| s.deadline != deadline) {
                continue;
            }
            if let Some(sa) = self.remove(&spi_r) {
                match sa.state {
                    SaState::HalfOpen { .. } => {
                        self.counters.bump(SlowPathCounter::HalfOpenExpired)
                    }
                    SaState::Failed { .. } => {}
                    SaState::Established(session) => {
                        established += 1;
                        self.counters.bump(SlowPathCounter::ReauthExpired);
                        self.release_address(&session);
                    }
                }
            }
        }
        if self.deadlines.len() > 2 * self.sas.len() + 1024 {
            self.deadlines = self
                .sas
                .iter()
                .map(|(k, s)| Reverse((s.deadline, *k)))
                .collect();
        }
        established
    }

    /// Give the SA's internal address back to the pool (the SA is gone:
    /// deleted, or past its re-authentication deadline). Not for an SA a
    /// resumption replaced: the resumed SA keeps the address.
    fn release_address(&self, session: &Session) {
        if let (Some(a), Some(pool)) = (session.ticket.internal_addr, &self.shared.pool) {
            pool.release(a, session.ticket.id_i_key());
        }
    }

    /// When the SA `spi_r` is due (its `deadline` field says the same).
    fn schedule(&mut self, spi_r: [u8; 8], deadline: Timestamp) {
        self.deadlines.push(Reverse((deadline, spi_r)));
    }

    /// Process one datagram; `out` receives the answer (4 KiB is plenty).
    pub fn handle(
        &mut self,
        now: Timestamp,
        meta: &PacketMeta,
        datagram: &[u8],
        out: &mut [u8],
    ) -> Outcome {
        let Ok(h) = IkeHeader::new_checked(datagram).and_then(|h| HeaderRepr::parse(&h)) else {
            self.counters.bump(SlowPathCounter::BadHeader);
            return Outcome::default();
        };
        // We never send requests, so nothing here is a response we wait
        // for (RFC 7296 §2.2).
        if h.flags.response() {
            self.counters.bump(SlowPathCounter::UnexpectedResponse);
            return Outcome::default();
        }
        if h.exchange_type == ExchangeType::IKE_SA_INIT {
            return self.sa_init(now, meta, &h, datagram, out);
        }
        self.protected(now, meta, &h, datagram, out)
    }

    /// A random SPIr tagged [`CONTROL_SPI_TAG`], not in use and not
    /// `also_taken` (an SA out of the table while it is worked on).
    fn fresh_spi_r(&mut self, also_taken: Option<[u8; 8]>) -> [u8; 8] {
        let sas = &self.sas;
        tagged_spi(&mut *self.rng, CONTROL_SPI_TAG, |s| {
            sas.contains_key(s) || also_taken == Some(*s)
        })
    }

    /// Revoke a ticket this SA was given (RFC 5723 §6.2: a ticket must not
    /// outlive its SA's deletion or rekey). The ticket is claimed in the
    /// single-use guard under its own expiry, so any later presentation
    /// loses like a replay; the revocation list (when configured) says why.
    fn revoke(&mut self, now: Timestamp, issued: Option<(TicketId, UnixSeconds)>) {
        let Some((id, expiry)) = issued else { return };
        // Expired: nothing can present it any more. Reused: it was claimed
        // already. Either way it no longer resumes.
        let gone = now.secs() >= expiry;
        // The list first: a presentation racing this revocation is then
        // refused `revoked` (its reason), not `reused` (a replay's).
        if let Some(rev) = &self.shared.revocations
            && !gone
            && rev.revoke_ticket(id, expiry).is_err()
        {
            // Full: the guard's claim below still refuses the ticket (as
            // `reused`).
            self.counters.bump(SlowPathCounter::RevocationListFull);
        }
        match self.shared.guard.revoke(&id, expiry, now.secs()) {
            Ok(()) | Err(TicketReject::Reused) => {}
            Err(_) if gone => {}
            // The guard cannot track it (an expiry beyond its memory):
            // counted, and left to the revocation list if there is one.
            Err(_) => self.counters.bump(SlowPathCounter::RevokeFailed),
        }
        if let Some(store) = &self.shared.store {
            let _ = store.remove(&id);
        }
        self.counters.bump(SlowPathCounter::TicketsRevoked);
    }
}
