//! The resumption responder (RFC 5723 §4.3, §5): IKE_SESSION_RESUME and the
//! IKE_AUTH that follows, sans-IO.
//!
//! A worker owns one [`ResumeResponder`] and feeds it datagrams:
//! [`ResumeResponder::handle`] takes `now`, the addresses and the IKE
//! message (non-ESP marker already stripped), writes the answer, if any,
//! into the caller's buffer and returns an [`EstablishedSa`] when an IKE SA
//! has been resumed. Shared state (ticket keys, single-use guard,
//! revocations, by-reference store, address pool) comes in
//! [`ResponderShared`]; everything per exchange (half-open table, cookies,
//! counters, randomness) is the responder's own.
//!
//! | module | concept |
//! | --- | --- |
//! | `request` | the IKE_SESSION_RESUME request, checked |
//! | `halfopen` | half-open SAs and the retransmission caches |
//! | `resume` | the IKE_SESSION_RESUME stage, over a burst |
//! | `resumed_auth` | the resumed IKE_AUTH (what it shares with the slow path: `crate::ike_auth`) |
//! | `auth_stage` | the resumed IKE_AUTH over a burst, its crypto in the batch kernels |
//! | `counters` | [`ResponderCounters`] |

mod auth_stage;
mod counters;
mod halfopen;
mod request;
mod resume;
mod resumed_auth;

use core::net::SocketAddr;
use std::sync::Arc;

pub use counters::{Counter, ResponderCounters, nack_counter};
pub use request::{MAX_NATD_SOURCES, RequestError, ResumeRequest, parse_request};
pub use resume::{BurstItem, MAX_RESUME_BURST};

use crate::child::{AddressPool, EspProposal};
use crate::cookie::CookieJar;
use crate::crypto::nat_detection_hash;
use crate::handoff::{EstablishedSa, NatStatus, TsRange};
use crate::rand::RandomSource;
use crate::ticket::TicketId;
use crate::ticket::cluster::{ClusterLedger, Outcome};
use crate::ticket::format::{OpenContext, TicketKind};
use crate::ticket::guard::SingleUseGuard;
use crate::ticket::keyring::{KeyRingCell, KeyRingReader};
use crate::ticket::revocation::RevocationList;
use crate::ticket::store::TicketStore;
use crate::time::Timestamp;
use crate::wire::{
    ExchangeType, HEADER_LEN, HeaderRepr, IkeHeader, MessageBuilder, NonceRepr, NotifyRepr,
    NotifyType, Payload,
};
use halfopen::{HalfOpenTable, TableLimits};

/// Length of the responder's nonce. RFC 7296 §2.10: nonces "MUST be at
/// least 128 bits in size, and MUST be at least half the key size of the
/// negotiated pseudorandom function"; 32 bytes is at least half of every
/// supported prf's key.
pub const NR_LEN: usize = 32;

/// The most SA boxes a responder keeps for reuse (about 1.8 KB each):
/// a burst's worth and then some.
pub const MAX_SPARE_SAS: usize = 256;

/// How the responder answers N(TICKET_REQUEST) (RFC 5723 §4.3.3 with §4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TicketIssuePolicy {
    /// The kind of ticket issued; `None` answers TICKET_NACK.
    pub kind: Option<TicketKind>,
    /// No ticket lives longer than this (seconds).
    pub max_lifetime_secs: u64,
    /// The lifetime of a resumed IKE SA (seconds): a ticket never outlives
    /// its SA's re-keying point (RFC 5723 §6.2).
    pub ike_lifetime_secs: u64,
    /// An IKE_AUTH response that would grow past this many bytes with the
    /// ticket carries TICKET_ACK instead.
    pub max_message_len: usize,
}

impl Default for TicketIssuePolicy {
    fn default() -> Self {
        TicketIssuePolicy {
            kind: Some(TicketKind::ByValue),
            max_lifetime_secs: 24 * 3600,
            ike_lifetime_secs: 24 * 3600,
            max_message_len: 1280,
        }
    }
}

/// A responder's settings.
#[derive(Debug, Clone)]
pub struct ResponderConfig {
    /// The worker this responder runs on: the top byte of every SPIr it
    /// chooses, so an IKE_AUTH finds its way back without a shared table.
    pub worker_id: u8,
    /// How long a half-open SA waits for its IKE_AUTH, and how long a
    /// completed exchange's answer is kept for retransmissions.
    pub half_open_timeout_ms: u64,
    /// Bound on the half-open SAs (exchanges waiting for their IKE_AUTH);
    /// requests beyond it are dropped and counted.
    pub half_open_limit: usize,
    /// Bound on the cached IKE_AUTH answers kept for retransmissions
    /// (about 1.5 KB each); beyond it the oldest is dropped first.
    pub completed_cache_limit: usize,
    /// Bound on the memory of the half-open table (half-open SAs and
    /// cached answers, with their keys and messages), in bytes: cached
    /// answers are dropped, oldest first, to stay under it, then new
    /// exchanges are refused.
    pub half_open_memory: usize,
    /// At most this many half-open SAs per ticket: a request whose ticket
    /// has that many already gets TICKET_NACK (one stolen ticket cannot
    /// fill the table).
    pub half_open_per_ticket: usize,
    /// At most this many half-open SAs per source (an IPv4 address or an
    /// IPv6 /64): requests beyond are dropped.
    pub half_open_per_source: usize,
    /// At this many pending half-open SAs, requests without a valid cookie
    /// get N(COOKIE) (RFC 7296 §2.6).
    pub cookie_threshold: usize,
    /// How often the cookie secret rotates.
    pub cookie_rotate_ms: u64,
    /// Longer IKE_SESSION_RESUME and IKE_AUTH requests are dropped (the
    /// largest ticket Rebound issues fits with plenty to spare); this also
    /// bounds what each cached exchange holds.
    pub max_request_len: usize,
    /// ESP proposals for the child SA, in order of preference.
    pub esp: Vec<EspProposal>,
    /// What the initiators may put in TSi.
    pub ts_remote: Vec<TsRange>,
    /// What the gateway protects (TSr).
    pub ts_local: Vec<TsRange>,
    pub tickets: TicketIssuePolicy,
}

impl Default for ResponderConfig {
    fn default() -> Self {
        use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
        let any = vec![
            TsRange {
                ip_proto: 0,
                start_port: 0,
                end_port: 65535,
                start: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                end: IpAddr::V4(Ipv4Addr::BROADCAST),
            },
            TsRange {
                ip_proto: 0,
                start_port: 0,
                end_port: 65535,
                start: IpAddr::V6(Ipv6Addr::UNSPECIFIED),
                end: IpAddr::V6(Ipv6Addr::from([0xff; 16])),
            },
        ];
        ResponderConfig {
            worker_id: 0,
            half_open_timeout_ms: 30_000,
            half_open_limit: 1 << 20,
            completed_cache_limit: 1 << 18,
            half_open_memory: 256 << 20,
            half_open_per_ticket: 2,
            half_open_per_source: 4096,
            cookie_threshold: 1 << 16,
            cookie_rotate_ms: 60_000,
            max_request_len: 4096,
            esp: EspProposal::DEFAULT.to_vec(),
            ts_remote: any.clone(),
            ts_local: any,
            tickets: TicketIssuePolicy::default(),
        }
    }
}

/// What all workers share.
#[derive(Clone)]
pub struct ResponderShared {
    pub keys: Arc<KeyRingCell>,
    pub guard: Arc<dyn SingleUseGuard>,
    pub revocations: Option<Arc<RevocationList>>,
    /// Required to open and issue by-reference tickets.
    pub store: Option<Arc<dyn TicketStore>>,
    /// Internal addresses for CP(CFG_REQUEST); without one CP is ignored.
    pub pool: Option<Arc<dyn AddressPool>>,
}

/// Where a datagram came from and went to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketMeta {
    pub peer: SocketAddr,
    pub local: SocketAddr,
}

/// The result of [`ResumeResponder::handle`].
#[derive(Debug, Default)]
pub struct Handled {
    /// Length of the answer written to the output buffer.
    pub reply: Option<usize>,
    /// An IKE SA resumed by this datagram.
    pub established: Option<Box<EstablishedSa>>,
    /// Neither answered nor refused: the cluster has not yet said whose
    /// the ticket is. The caller keeps the datagram and runs it again once
    /// [`ResumeResponder::resolve_cluster`] has the answer
    /// (`ticket::cluster`). Only with a cluster ledger.
    pub deferred: bool,
}

impl Handled {
    fn reply(n: usize) -> Self {
        Handled {
            reply: Some(n),
            established: None,
            deferred: false,
        }
    }
}

/// Which stage a datagram belongs to, decided on the IKE header alone
/// (design.md, "How a packet flows").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// IKE_SESSION_RESUME with SPIr zero.
    Resume,
    /// IKE_AUTH for the SA whose SPIr names worker `owner`.
    Auth { owner: u8 },
    /// Anything else: the control plane's.
    Other,
}

/// Classify a datagram (IKE message, no non-ESP marker).
pub fn classify(datagram: &[u8]) -> Class {
    let Ok(h) = IkeHeader::new_checked(datagram) else {
        return Class::Other;
    };
    let spi_r = h.spi_r();
    match h.exchange_type() {
        ExchangeType::IKE_SESSION_RESUME if spi_r == [0; 8] => Class::Resume,
        ExchangeType::IKE_AUTH if spi_r != [0; 8] => Class::Auth { owner: spi_r[0] },
        _ => Class::Other,
    }
}

/// The responder of one worker.
pub struct ResumeResponder {
    config: ResponderConfig,
    shared: ResponderShared,
    ring: KeyRingReader,
    table: HalfOpenTable,
    cookies: CookieJar,
    counters: ResponderCounters,
    rng: Box<dyn RandomSource + Send>,
    /// Scratch for decrypting an IKE_AUTH in place.
    scratch: Vec<u8>,
    /// New IKE_SESSION_RESUME exchanges are taken (false while draining).
    accepting: bool,
    /// The resume stage's tickets being opened, one per admitted request
    /// of a burst (empty between bursts; kept for its capacity).
    openings: Vec<resume::Opening>,
    /// The resume stage's NAT-D inputs and hashes (scratch, kept for its
    /// capacity: a full burst's fit without allocating).
    natd_in: Vec<crate::crypto::NatdInput>,
    natd_out: Vec<[u8; 20]>,
    /// Boxes of SAs the control plane has finished with, wiped, for the
    /// next established SA ([`ResumeResponder::recycle`]).
    #[allow(clippy::vec_box)]
    spare_sas: Vec<Box<EstablishedSa>>,
    /// The IKE_AUTH stage's scratch (kept for its capacity).
    auth_scratch: auth_stage::AuthScratch,
    /// A gateway of a cluster: the cluster's answers this worker has, and
    /// the questions it has for it.
    cluster: Option<ClusterLedger>,
}

impl core::fmt::Debug for ResumeResponder {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ResumeResponder")
            .field("worker_id", &self.config.worker_id)
            .field("half_open", &self.table.pending())
            .finish_non_exhaustive()
    }
}

impl ResumeResponder {
    pub fn new(
        config: ResponderConfig,
        shared: ResponderShared,
        mut rng: Box<dyn RandomSource + Send>,
        now: Timestamp,
    ) -> Self {
        let cookies = CookieJar::new(&mut *rng, now, config.cookie_rotate_ms);
        ResumeResponder {
            table: HalfOpenTable::new(TableLimits {
                pending: config.half_open_limit,
                completed: config.completed_cache_limit,
                bytes: config.half_open_memory,
                // Two timeouts: a half-open SA and then its cached answer.
                trim_after_ms: config.half_open_timeout_ms.saturating_mul(2),
            }),
            ring: KeyRingReader::new(shared.keys.clone()),
            config,
            shared,
            cookies,
            counters: ResponderCounters::default(),
            rng,
            scratch: Vec::new(),
            accepting: true,
            openings: Vec::with_capacity(MAX_RESUME_BURST),
            natd_in: Vec::with_capacity(resume::NATD_BURST),
            natd_out: Vec::with_capacity(resume::NATD_BURST),
            spare_sas: Vec::with_capacity(MAX_SPARE_SAS),
            auth_scratch: auth_stage::AuthScratch::default(),
            cluster: None,
        }
    }

    /// Make this a gateway of a cluster: from now on a ticket that opens
    /// resumes only once the cluster gave it to this gateway; until then
    /// its requests are deferred ([`Handled::deferred`]).
    pub fn enable_cluster(&mut self) {
        self.cluster = Some(ClusterLedger::new());
    }

    /// The cluster ledger, when [`enable_cluster`](Self::enable_cluster)
    /// was called: the worker takes its wants and forgets answered tickets.
    pub fn cluster_mut(&mut self) -> Option<&mut ClusterLedger> {
        self.cluster.as_mut()
    }

    /// Record the cluster's answer for `id`. `stub`, when the cluster
    /// handed over a by-reference ticket's state, is that state sealed as a
    /// by-value ticket under the shared ticket keys: it is opened here
    /// (tag, expiry, revocation; not single use, which the claim just
    /// decided) and must carry `id`, or the answer becomes
    /// [`Outcome::Mine`] without a state (the request then gets
    /// `not_found`). Whether the stub opened.
    pub fn resolve_cluster(
        &mut self,
        id: TicketId,
        outcome: Outcome,
        stub: Option<&[u8]>,
        now: Timestamp,
    ) -> bool {
        let mut opened = None;
        if let (Outcome::Mine, Some(bytes)) = (outcome, stub) {
            let ctx = OpenContext {
                revocations: self.shared.revocations.as_deref(),
                ..OpenContext::default()
            };
            opened = crate::ticket::format::open(bytes, self.ring.current(), &ctx, now.secs())
                .ok()
                .filter(|s| s.ticket_id == id);
        }
        let ok = opened.is_some() || stub.is_none();
        // Kept in the store too: a request with the ticket that comes
        // after this answer is forgotten (a retransmission the first run
        // did not turn into a half-open SA) still finds the state here.
        if let (Some(state), Some(store)) = (&opened, &self.shared.store) {
            let _ = store.adopt(&id, state, now.secs());
        }
        if let Some(c) = self.cluster.as_mut() {
            c.resolve(id, outcome, opened);
        }
        ok
    }

    /// Take new IKE_SESSION_RESUME exchanges or not. While not (a gateway
    /// draining before it stops), new requests are dropped and counted, and
    /// everything in flight carries on: retransmitted requests get their
    /// cached answer and the IKE_AUTH of every half-open SA is answered.
    pub fn set_accepting(&mut self, accepting: bool) {
        self.accepting = accepting;
    }

    pub fn config(&self) -> &ResponderConfig {
        &self.config
    }

    pub fn counters(&self) -> &ResponderCounters {
        &self.counters
    }

    /// Exchanges waiting for their IKE_AUTH.
    pub fn half_open(&self) -> usize {
        self.table.pending()
    }

    /// The memory the half-open table holds (see
    /// [`ResponderConfig::half_open_memory`]) and its slots (in use or
    /// free), for the gauges and the tests of the bound.
    pub fn half_open_memory(&self) -> (usize, usize) {
        (self.table.bytes(), self.table.slots())
    }

    /// How many times the half-open table gave memory back after a flood
    /// (spare buffers freed or its slab cut back; at most once every two
    /// `half_open_timeout_ms`). The worker asks the allocator to return
    /// freed pages to the system when this changes.
    pub fn half_open_trims(&self) -> u64 {
        self.table.trims()
    }

    /// When [`handle_timeout`](Self::handle_timeout) next has work.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        self.table.next_deadline()
    }

    /// Take back the box of an SA handed off earlier (the control plane has
    /// copied what it keeps): its keys are wiped now, and the next
    /// established SA is written into it instead of a new allocation. At
    /// most [`MAX_SPARE_SAS`] are kept; more are freed.
    pub fn recycle(&mut self, mut sa: Box<EstablishedSa>) {
        if self.spare_sas.len() >= MAX_SPARE_SAS {
            return;
        }
        zeroize::Zeroize::zeroize(&mut sa.keys);
        sa.child = None;
        sa.new_ticket = None;
        self.spare_sas.push(sa);
    }

    /// `sa` in a box: a recycled one when there is one.
    pub(crate) fn boxed(&mut self, sa: EstablishedSa) -> Box<EstablishedSa> {
        match self.spare_sas.pop() {
            Some(mut b) => {
                *b = sa;
                b
            }
            None => Box::new(sa),
        }
    }

    /// Expire half-open SAs and cached answers; rotate the cookie secret.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        let expired = self.table.expire(now);
        for _ in 0..expired {
            self.counters.bump(Counter::HalfOpenExpired);
        }
        self.cookies.maybe_rotate(now, &mut *self.rng);
    }

    /// Process one datagram. `out` receives the answer, if any; it must
    /// hold at least the largest answer (2 KiB is plenty).
    pub fn handle(
        &mut self,
        now: Timestamp,
        meta: &PacketMeta,
        datagram: &[u8],
        out: &mut [u8],
    ) -> Handled {
        self.handle_timeout(now);
        match classify(datagram) {
            Class::Resume => {
                let mut item = [BurstItem::new(*meta, datagram, out)];
                // Timers already ran above: straight to the passes.
                self.resume_chunk(now, &mut item);
                let [item] = item;
                item.handled
            }
            Class::Auth { .. } => {
                let mut item = [BurstItem::new(*meta, datagram, out)];
                // A burst of one: the plain path (timers ran above).
                self.auth_chunk(now, &mut item);
                let [item] = item;
                item.handled
            }
            Class::Other => {
                self.counters.bump(Counter::NotResumption);
                Handled::default()
            }
        }
    }

    /// A random SPIr whose top byte is this worker's id, not in use here
    /// and not one of `taken` (the SPIrs chosen earlier in a burst, not in
    /// the table yet).
    fn fresh_spi_r(&mut self, taken: &[[u8; 8]]) -> [u8; 8] {
        let table = &self.table;
        tagged_spi(&mut *self.rng, self.config.worker_id, |s| {
            table.contains_spi_r(s) || taken.contains(s)
        })
    }
}

/// A random responder SPI whose top byte is `tag` (the owner: a worker id,
/// or the control plane's), not all zeros past it, and not `in_use`.
pub(crate) fn tagged_spi(
    rng: &mut dyn RandomSource,
    tag: u8,
    in_use: impl Fn(&[u8; 8]) -> bool,
) -> [u8; 8] {
    loop {
        let mut spi = [0u8; 8];
        rng.fill(&mut spi);
        spi[0] = tag;
        if spi[1..] != [0; 7] && !in_use(&spi) {
            return spi;
        }
    }
}

/// SPIi of a request whose payloads could not be parsed but whose header
/// could, when the header says it is a request.
fn request_spi_i(datagram: &[u8]) -> Option<[u8; 8]> {
    let h = IkeHeader::new_checked(datagram).ok()?;
    (!h.flags().response() && h.spi_i() != [0; 8]).then(|| h.spi_i())
}

/// The NAT status from a request's NAT_DETECTION_* notifies (RFC 7296
/// §2.23), hashed with SPIr zero as the initiator did.
pub(crate) fn nat_status(
    spi_i: &[u8; 8],
    natd_src: &[&[u8]],
    natd_dst: Option<&[u8]>,
    meta: &PacketMeta,
) -> NatStatus {
    let zero = [0u8; 8];
    let peer_hash = nat_detection_hash(spi_i, &zero, meta.peer.ip(), meta.peer.port());
    let local_hash = nat_detection_hash(spi_i, &zero, meta.local.ip(), meta.local.port());
    nat_status_from(natd_src, natd_dst, &peer_hash, &local_hash)
}

/// [`nat_status`] with the two expected hashes already computed (the
/// resume stage hashes a whole burst at once): `peer_hash` of the peer's
/// address and `local_hash` of ours, both with SPIr zero.
pub(crate) fn nat_status_from(
    natd_src: &[&[u8]],
    natd_dst: Option<&[u8]>,
    peer_hash: &[u8; 20],
    local_hash: &[u8; 20],
) -> NatStatus {
    let detection = !natd_src.is_empty() || natd_dst.is_some();
    NatStatus {
        detection,
        // RFC 7296 §2.23: "If none of the NAT_DETECTION_SOURCE_IP payload(s)
        // received matches the expected value..., it means that the system
        // on the other end is behind a NAT".
        peer_behind_nat: !natd_src.is_empty() && !natd_src.iter().any(|s| *s == peer_hash),
        local_behind_nat: natd_dst.is_some_and(|d| d != local_hash),
    }
}

/// Our N(NAT_DETECTION_SOURCE_IP) and N(NAT_DETECTION_DESTINATION_IP):
/// our source is the local address, the destination the peer; the hashes
/// cover the SPIs as they appear in the answer's header.
pub(crate) fn push_natd(
    b: &mut MessageBuilder<'_>,
    spi_i: &[u8; 8],
    spi_r: &[u8; 8],
    meta: &PacketMeta,
) -> Result<(), crate::wire::WireError> {
    let src = nat_detection_hash(spi_i, spi_r, meta.local.ip(), meta.local.port());
    let dst = nat_detection_hash(spi_i, spi_r, meta.peer.ip(), meta.peer.port());
    push_natd_hashes(b, &src, &dst)
}

/// [`push_natd`] with the hashes already computed.
pub(crate) fn push_natd_hashes(
    b: &mut MessageBuilder<'_>,
    src: &[u8; 20],
    dst: &[u8; 20],
) -> Result<(), crate::wire::WireError> {
    b.push(&Payload::Notify(NotifyRepr::ike(
        NotifyType::NAT_DETECTION_SOURCE_IP,
        src,
    )))?;
    b.push(&Payload::Notify(NotifyRepr::ike(
        NotifyType::NAT_DETECTION_DESTINATION_IP,
        dst,
    )))
}

/// `HDR, Nr [, N(NAT_DETECTION_SOURCE_IP), N(NAT_DETECTION_DESTINATION_IP)]`,
/// the NAT-D hashes (source, destination) given when the request had
/// NAT detection.
fn build_resume_response(
    out: &mut [u8],
    spi_i: &[u8; 8],
    spi_r: &[u8; 8],
    nr: &[u8],
    natd: Option<(&[u8; 20], &[u8; 20])>,
) -> Option<usize> {
    let hdr = HeaderRepr::responder_response(*spi_i, *spi_r, ExchangeType::IKE_SESSION_RESUME, 0);
    let mut b = MessageBuilder::new(out, &hdr).ok()?;
    b.push(&Payload::Nonce(NonceRepr { nonce: nr })).ok()?;
    if let Some((src, dst)) = natd {
        push_natd_hashes(&mut b, src, dst).ok()?;
    }
    b.finish().ok()
}

/// An unprotected IKE_SESSION_RESUME answer carrying one notify (error,
/// TICKET_NACK or COOKIE), SPIr zero: no state is kept.
fn reply_notify(out: &mut [u8], spi_i: &[u8; 8], notify: NotifyType, data: &[u8]) -> Handled {
    let hdr = HeaderRepr::responder_response(*spi_i, [0; 8], ExchangeType::IKE_SESSION_RESUME, 0);
    let built = MessageBuilder::new(out, &hdr).and_then(|mut b| {
        b.push(&Payload::Notify(NotifyRepr::ike(notify, data)))?;
        b.finish()
    });
    match built {
        Ok(n) => Handled::reply(n),
        Err(_) => Handled::default(),
    }
}

fn copy_reply(out: &mut [u8], cached: &[u8]) -> Handled {
    match out.get_mut(..cached.len()) {
        Some(o) if cached.len() >= HEADER_LEN => {
            o.copy_from_slice(cached);
            Handled::reply(cached.len())
        }
        _ => Handled::default(),
    }
}
