//! The IKE_SESSION_RESUME stage (RFC 5723 §4.3.2, §5.1), run over a burst
//! of requests in passes, so batched crypto works on the whole burst:
//!
//! 1. **Admit**: size, header and payload checks, the retransmission cache,
//!    cookies, the half-open bound. Each request either gets its answer
//!    here or goes on with its ticket.
//! 2. **Open**: every admitted ticket at once ([`open_batch`]), each
//!    straight into the half-open SA it will stay in (a [`Pending`] box
//!    taken from the table's spares: no state is moved).
//! 3. **Choose**: the re-authentication check, SPIr and Nr.
//! 4. **Derive**: SKEYSEED and the keys of every accepted request, in place.
//! 5. **NAT detection**: the four NAT-D hashes of every accepted request
//!    together (multi-buffer SHA-1).
//! 6. **Answer**: the NAT status, the response, the half-open SA.
//!
//! [`ResumeResponder::handle`] runs a burst of one, so every test of the
//! responder goes through these passes too.

use core::net::{IpAddr, Ipv4Addr, SocketAddr};

use crate::crypto::batch::{ResumedKeyInput, derive_resumed_many};
use crate::crypto::{IkeKeys, IkeSuite, NatdInput, nat_detection_hash_many};
use crate::handoff::NatStatus;
use crate::ticket::TicketReject;
use crate::ticket::format::{OpenContext, OpenTarget, open_batch};
use crate::ticket::state::TicketState;
use crate::time::Timestamp;
use crate::wire::NotifyType;

use super::halfopen::{NewEntry, Pending, SourceKey};
use super::request::MAX_NATD_SOURCES;
use super::{
    Counter, Handled, NR_LEN, PacketMeta, RequestError, ResumeRequest, ResumeResponder,
    build_resume_response, copy_reply, nack_counter, nat_status_from, parse_request, reply_notify,
    request_spi_i,
};

/// Fills the unused entries of a burst's list of senders.
const UNSPECIFIED_PEER: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0);

/// Room for the NAT-D hashes of a full burst: four per request.
pub(super) const NATD_BURST: usize = 4 * MAX_RESUME_BURST;

/// The most requests [`ResumeResponder::resume_stage`] takes at once (a
/// longer burst is processed in pieces of this size).
pub const MAX_RESUME_BURST: usize = 64;

/// One request of a burst (IKE_SESSION_RESUME for
/// [`ResumeResponder::resume_stage`], IKE_AUTH for
/// [`ResumeResponder::auth_stage`]) and where its answer goes.
#[derive(Debug)]
pub struct BurstItem<'a> {
    pub meta: PacketMeta,
    pub datagram: &'a [u8],
    /// Receives the answer; as for [`ResumeResponder::handle`].
    pub out: &'a mut [u8],
    /// Filled in by the stage.
    pub handled: Handled,
}

impl<'a> BurstItem<'a> {
    pub fn new(meta: PacketMeta, datagram: &'a [u8], out: &'a mut [u8]) -> Self {
        BurstItem {
            meta,
            datagram,
            out,
            handled: Handled::default(),
        }
    }
}

/// What pass 1 decided for a request.
enum Admitted<'a> {
    /// Answered (or dropped) already.
    Done(Handled),
    /// Its ticket is opened in pass 2. `cookie_checked`: the half-open
    /// table alone was at the cookie threshold and the request's cookie was
    /// valid; otherwise pass 3 checks the threshold again, counting the
    /// requests accepted earlier in the burst.
    Ticket {
        req: ResumeRequest<'a>,
        cookie_checked: bool,
    },
}

/// A ticket being opened into the half-open SA it will stay in.
pub(super) struct Opening {
    pending: Box<Pending>,
    result: Result<(), TicketReject>,
}

impl OpenTarget for Opening {
    fn state_mut(&mut self) -> &mut TicketState {
        &mut self.pending.ticket
    }
    fn set_result(&mut self, result: Result<(), TicketReject>) {
        self.result = result;
    }
}

/// The half-open SAs a request is admitted against (all of them, and
/// those of its source), and whether its cookie was checked already.
#[derive(Clone, Copy)]
struct Admission {
    pending: usize,
    from_source: usize,
    cookie_checked: bool,
}

/// What pass 3 knows of the burst for one request, and where its SPIr and
/// Nr go.
struct Chosen<'a> {
    /// SPIrs chosen earlier in this burst (not in the table yet).
    taken: &'a [[u8; 8]],
    /// Requests accepted earlier in this burst with the same ticket.
    same_ticket: usize,
    spi_r: &'a mut [u8; 8],
    nr: &'a mut [u8; NR_LEN],
}

/// What pass 3 decided for an opened ticket.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Choice {
    /// Answered already (a NACK) or dropped.
    Done,
    /// The same peer and SPIi as a request admitted earlier in this burst:
    /// a retransmission, answered from that one's half-open SA once it
    /// exists.
    Repeat,
    /// Accepted: keys to derive, with the SPIr and Nr chosen for it.
    Accept,
}

impl ResumeResponder {
    /// Run the resume stage over a burst of IKE_SESSION_RESUME requests
    /// (datagrams that [`classify`](super::classify) as
    /// [`Class::Resume`](super::Class::Resume)); each item's `handled`
    /// says what was answered. Equivalent to calling
    /// [`handle`](Self::handle) on each in order.
    pub fn resume_stage(&mut self, now: Timestamp, items: &mut [BurstItem<'_>]) {
        self.handle_timeout(now);
        for chunk in items.chunks_mut(MAX_RESUME_BURST) {
            self.resume_chunk(now, chunk);
        }
    }

    pub(super) fn resume_chunk(&mut self, now: Timestamp, items: &mut [BurstItem<'_>]) {
        // Pass 1: admit.
        let mut reqs: [Option<ResumeRequest<'_>>; MAX_RESUME_BURST] = [None; MAX_RESUME_BURST];
        let mut tickets: [&[u8]; MAX_RESUME_BURST] = [&[]; MAX_RESUME_BURST];
        let mut which = [0usize; MAX_RESUME_BURST];
        let mut cookie_checked = [false; MAX_RESUME_BURST];
        let mut senders = [(UNSPECIFIED_PEER, [0u8; 8]); MAX_RESUME_BURST];
        let mut n = 0;
        for (k, item) in items.iter_mut().enumerate() {
            match self.admit(&item.meta, item.datagram, item.out, &senders[..n]) {
                Admitted::Done(h) => item.handled = h,
                Admitted::Ticket {
                    req,
                    cookie_checked: checked,
                } => {
                    tickets[n] = req.ticket;
                    senders[n] = (item.meta.peer, req.spi_i);
                    reqs[n] = Some(req);
                    which[n] = k;
                    cookie_checked[n] = checked;
                    n += 1;
                }
            }
        }
        if n == 0 {
            return;
        }

        // Pass 2: open every admitted ticket into its half-open SA.
        let mut openings = core::mem::take(&mut self.openings);
        for _ in 0..n {
            openings.push(Opening {
                pending: self.table.take_pending(),
                result: Err(TicketReject::Malformed),
            });
        }
        {
            let ctx = OpenContext {
                store: self.shared.store.as_deref(),
                revocations: self.shared.revocations.as_deref(),
                guard: Some(&*self.shared.guard),
                cluster: self.cluster.as_ref(),
            };
            open_batch(
                &tickets[..n],
                self.ring.current(),
                &ctx,
                now.secs(),
                &mut openings[..n],
            );
        }

        // Pass 3: choose.
        let mut choices = [Choice::Done; MAX_RESUME_BURST];
        let mut spi_rs = [[0u8; 8]; MAX_RESUME_BURST];
        let mut nrs = [[0u8; NR_LEN]; MAX_RESUME_BURST];
        let mut repeat_of = [0usize; MAX_RESUME_BURST];
        // Requests accepted so far in this burst: half-open SAs once pass 6
        // inserts them, so they count as pending for the ones after.
        let mut accepted = 0;
        for j in 0..n {
            let Some(req) = &reqs[j] else {
                continue;
            };
            let peer = items[which[j]].meta.peer;
            // A repeat of a request accepted earlier in this burst waits for
            // that one's half-open SA; a repeat of a refused one is refused
            // the same way on its own (as one datagram at a time would be).
            let repeat = (0..j).rev().find(|&i| {
                reqs[i].is_some_and(|r| r.spi_i == req.spi_i) && items[which[i]].meta.peer == peer
            });
            choices[j] = match repeat.map(|i| choices[i]) {
                Some(Choice::Accept | Choice::Repeat) => Choice::Repeat,
                Some(Choice::Done) | None => {
                    // SPIrs chosen earlier in this burst are not in the
                    // table yet: avoided too.
                    let (taken, rest) = spi_rs.split_at_mut(j);
                    let mut spi_r = [0u8; 8];
                    // Half-open SAs this burst accepted earlier count: in
                    // all, from this source, with this ticket.
                    let accepted_before = (0..j).filter(|&i| choices[i] == Choice::Accept);
                    let source = SourceKey::of(peer.ip());
                    let id = &openings[j].pending.ticket.ticket_id;
                    let (mut from_source, mut same_ticket) = (0, 0);
                    for i in accepted_before {
                        from_source +=
                            usize::from(SourceKey::of(items[which[i]].meta.peer.ip()) == source);
                        same_ticket += usize::from(openings[i].pending.ticket.ticket_id == *id);
                    }
                    let admission = Admission {
                        pending: self.table.pending() + accepted,
                        from_source: self.table.source_pending(source) + from_source,
                        cookie_checked: cookie_checked[j],
                    };
                    let chosen = Chosen {
                        taken,
                        same_ticket,
                        spi_r: &mut spi_r,
                        nr: &mut nrs[j],
                    };
                    let item = &mut items[which[j]];
                    let c = self.choose(now, req, item, &openings[j], admission, chosen);
                    rest[0] = spi_r;
                    c
                }
            };
            if choices[j] == Choice::Accept {
                accepted += 1;
            }
            if choices[j] == Choice::Repeat {
                repeat_of[j] = repeat.unwrap_or(j);
            }
        }

        // A gateway of a cluster: a request refused before it could wait
        // (a cookie or a half-open bound) makes no claim in the cluster,
        // unless another request of the burst waits for the same ticket.
        if let Some(ledger) = &self.cluster {
            let pending = |j: usize| openings[j].result == Err(TicketReject::Pending);
            let waits = |j: usize| pending(j) && items[which[j]].handled.deferred;
            for j in (0..n).filter(|&j| pending(j) && !waits(j)) {
                let id = openings[j].pending.ticket.ticket_id;
                if !(0..n).any(|i| waits(i) && openings[i].pending.ticket.ticket_id == id) {
                    ledger.withdraw(&id);
                }
            }
        }

        let mut failed_derive = [false; MAX_RESUME_BURST];
        // Pass 4: derive the keys of every accepted request, in place, all
        // of them together (RFC 5723 §5.1: SKEYSEED = prf(SK_d (old),
        // "Resumption" | Ni | Nr), then the RFC 7296 §2.14 keys with the
        // new SPIs).
        {
            let mut lanes = [0usize; MAX_RESUME_BURST];
            let mut inputs: [Option<ResumedKeyInput<'_>>; MAX_RESUME_BURST] =
                [None; MAX_RESUME_BURST];
            let mut targets: [Option<(&IkeSuite, &mut IkeKeys)>; MAX_RESUME_BURST] =
                [const { None }; MAX_RESUME_BURST];
            let mut a = 0;
            for (j, o) in openings.iter_mut().enumerate() {
                let (Choice::Accept, Some(req)) = (choices[j], &reqs[j]) else {
                    continue;
                };
                let p = &mut *o.pending;
                inputs[a] = Some(ResumedKeyInput {
                    suite: p.ticket.suite.suite,
                    sk_d_old: p.ticket.sk_d.as_bytes(),
                    ni: req.nonce,
                    nr: &nrs[j],
                    spi_i: req.spi_i,
                    spi_r: spi_rs[j],
                });
                targets[a] = Some((&p.ticket.suite.suite, &mut p.keys));
                lanes[a] = j;
                a += 1;
            }
            let mut failed = [false; MAX_RESUME_BURST];
            if let Some(first) = inputs[0] {
                // Every input below `a` is set; `first` only satisfies the
                // type.
                derive_resumed_many(
                    a,
                    |l| inputs[l].unwrap_or(first),
                    |l, keymat| {
                        let ok = match (keymat, targets[l].as_mut()) {
                            (Ok(km), Some((suite, keys))) => keys.split_into(suite, km).is_ok(),
                            _ => false,
                        };
                        failed[l] = !ok;
                    },
                );
            }
            for (l, &j) in lanes[..a].iter().enumerate() {
                if failed[l] {
                    self.counters.bump(Counter::ResumeMalformed);
                    choices[j] = Choice::Done;
                    failed_derive[j] = true;
                }
            }
        }

        // Pass 5: NAT detection of the whole burst, four SHA-1 hashes per
        // accepted request that carried NAT_DETECTION notifies (RFC 7296
        // §2.23; RFC 5723 §4.3.2: NAT status is determined anew): ours with
        // SPIr zero to check theirs, and theirs to send with the new SPIr.
        let mut natd_in = core::mem::take(&mut self.natd_in);
        let mut natd = core::mem::take(&mut self.natd_out);
        natd_in.clear();
        let mut natd_at = [usize::MAX; MAX_RESUME_BURST];
        for j in 0..n {
            let (Choice::Accept, Some(req)) = (choices[j], &reqs[j]) else {
                continue;
            };
            if req.natd_src_count == 0 && req.natd_dst.is_none() {
                continue;
            }
            let meta = &items[which[j]].meta;
            let at = |spi_r, addr| NatdInput {
                spi_i: req.spi_i,
                spi_r,
                addr,
            };
            natd_at[j] = natd_in.len();
            natd_in.extend_from_slice(&[
                at([0; 8], meta.peer),
                at([0; 8], meta.local),
                at(spi_rs[j], meta.local),
                at(spi_rs[j], meta.peer),
            ]);
        }
        natd.clear();
        natd.resize(natd_in.len(), [0; 20]);
        nat_detection_hash_many(&natd_in, &mut natd);

        // Pass 6: answers and half-open SAs.
        for (j, opening) in openings.drain(..).enumerate() {
            let item = &mut items[which[j]];
            let Some(req) = &reqs[j] else {
                self.table.give_back(opening.pending);
                continue;
            };
            match choices[j] {
                Choice::Done => self.table.give_back(opening.pending),
                Choice::Repeat => {
                    self.table.give_back(opening.pending);
                    item.handled =
                        match self.retransmission(&item.meta, req, item.datagram, item.out) {
                            Some(h) => h,
                            // The request it repeats was accepted but made no
                            // half-open SA after all: this one meets the same
                            // end, counted as that one was (one at a time it
                            // would have been tried again and failed alike).
                            None => {
                                if failed_derive[repeat_of[j]] {
                                    self.counters.bump(Counter::ResumeMalformed);
                                } else if self.table.is_full() {
                                    self.counters.bump(Counter::HalfOpenFull);
                                }
                                Handled::default()
                            }
                        };
                }
                Choice::Accept => {
                    let hashes = natd.get(natd_at[j]..natd_at[j].saturating_add(4));
                    item.handled =
                        self.answer(now, item, req, spi_rs[j], &nrs[j], hashes, opening.pending);
                }
            }
        }
        self.openings = openings;
        self.natd_in = natd_in;
        self.natd_out = natd;
    }

    /// Pass 1 for one request. The cookie threshold and the half-open
    /// bound are checked against the table alone: the requests admitted
    /// earlier in the burst may yet be refused (their tickets are opened
    /// in pass 2) or be repeats of one another, so pass 3 checks again
    /// counting the ones it accepted, as one datagram at a time would.
    /// Once the table alone is at the threshold, no ticket is opened for
    /// a request without a valid cookie. A request from the same peer and
    /// SPIi as one admitted earlier in the burst (`senders`) is admitted
    /// without either check: pass 3 answers it as a retransmission of
    /// that one, or checks it when that one was refused.
    fn admit<'d>(
        &mut self,
        meta: &PacketMeta,
        datagram: &'d [u8],
        out: &mut [u8],
        senders: &[(SocketAddr, [u8; 8])],
    ) -> Admitted<'d> {
        use Admitted::Done;
        self.counters.bump(Counter::ResumeRequests);
        if datagram.len() > self.config.max_request_len {
            self.counters.bump(Counter::ResumeTooLong);
            return Done(Handled::default());
        }
        let req = match parse_request(datagram) {
            Ok(r) => r,
            Err(RequestError::BadHeader(_)) => {
                self.counters.bump(Counter::ResumeBadHeader);
                return Done(Handled::default());
            }
            Err(RequestError::Malformed(e)) => {
                self.counters.bump(Counter::ResumeMalformed);
                self.counters.bump_malformed(e.counter_label());
                let (Some(notify), Some(spi_i)) = (e.notify(), request_spi_i(datagram)) else {
                    return Done(Handled::default());
                };
                let data = e.notify_data();
                return Done(reply_notify(out, &spi_i, notify, data.as_slice()));
            }
        };
        if let Some(h) = self.retransmission(meta, &req, datagram, out) {
            return Done(h);
        }
        if !self.accepting {
            self.counters.bump(Counter::ResumeDraining);
            return Done(Handled::default());
        }

        if senders.contains(&(meta.peer, req.spi_i)) {
            return Admitted::Ticket {
                req,
                cookie_checked: false,
            };
        }
        let admission = Admission {
            pending: self.table.pending(),
            from_source: self.table.source_pending(SourceKey::of(meta.peer.ip())),
            cookie_checked: false,
        };
        match self.admission(meta, &req, admission, out) {
            Ok(cookie_checked) => Admitted::Ticket {
                req,
                cookie_checked,
            },
            Err(h) => Done(h),
        }
    }

    /// The cookie threshold and the half-open bound for a request, with
    /// `a.pending` half-open SAs: `Ok(true)` when its cookie was checked
    /// and valid, `Ok(false)` when none was needed, `Err` with the answer
    /// (N(COOKIE)) or the drop.
    fn admission(
        &mut self,
        meta: &PacketMeta,
        req: &ResumeRequest<'_>,
        a: Admission,
        out: &mut [u8],
    ) -> Result<bool, Handled> {
        // RFC 7296 §2.6 (allowed by RFC 5723 §4.3.2): above the threshold,
        // only requests that prove their address get state.
        let mut checked = a.cookie_checked;
        if a.pending >= self.config.cookie_threshold && !checked {
            let ip = meta.peer.ip();
            match req.cookie {
                Some(c) if self.cookies.verify(c, req.nonce, ip, &req.spi_i) => {
                    self.counters.bump(Counter::CookiesValid);
                    checked = true;
                }
                other => {
                    if other.is_some() {
                        self.counters.bump(Counter::CookiesInvalid);
                    }
                    self.counters.bump(Counter::CookiesSent);
                    let cookie = self.cookies.make(req.nonce, ip, &req.spi_i);
                    return Err(reply_notify(out, &req.spi_i, NotifyType::COOKIE, &cookie));
                }
            }
        }
        if a.pending >= self.table.capacity() {
            self.counters.bump(Counter::HalfOpenFull);
            return Err(Handled::default());
        }
        let (full, evicted) = self.table.out_of_memory();
        for _ in 0..evicted {
            self.counters.bump(Counter::AuthCacheEvicted);
        }
        if full {
            self.counters.bump(Counter::HalfOpenMemoryFull);
            return Err(Handled::default());
        }
        // One source (an address, or an IPv6 /64) holds a bounded share.
        if a.from_source >= self.config.half_open_per_source {
            self.counters.bump(Counter::HalfOpenPerSource);
            return Err(Handled::default());
        }
        Ok(checked)
    }

    /// RFC 7296 §2.1: a retransmitted request gets the same answer; no
    /// second half-open SA, no second Nr. `Some` when `req` repeats (or
    /// conflicts with) a half-open SA's request.
    fn retransmission(
        &mut self,
        meta: &PacketMeta,
        req: &ResumeRequest<'_>,
        datagram: &[u8],
        out: &mut [u8],
    ) -> Option<Handled> {
        let slot = self.table.by_peer(meta.peer, &req.spi_i)?;
        let e = self.table.entry(slot);
        if e.request == datagram {
            self.counters.bump(Counter::ResumeRetransmits);
            return Some(copy_reply(out, &e.response));
        }
        self.counters.bump(Counter::ResumeSpiConflict);
        Some(Handled::default())
    }

    /// Pass 3 for one request whose ticket pass 2 opened: the cookie
    /// threshold, the half-open bounds and the per-source cap again with
    /// the half-open SAs of `admission` (the table's and those accepted
    /// earlier in the burst), then refused (the answer written) or
    /// accepted with a fresh SPIr (not one of `chosen.taken`) and Nr.
    fn choose(
        &mut self,
        now: Timestamp,
        req: &ResumeRequest<'_>,
        item: &mut BurstItem<'_>,
        opening: &Opening,
        admission: Admission,
        chosen: Chosen<'_>,
    ) -> Choice {
        if let Err(h) = self.admission(&item.meta, req, admission, item.out) {
            item.handled = h;
            return Choice::Done;
        }
        // A gateway of a cluster: the cluster has not said yet whether the
        // ticket is this gateway's. Nothing is answered or kept; the worker
        // runs the request again when the answer is in.
        if opening.result == Err(TicketReject::Pending) {
            self.counters.bump(Counter::ResumeDeferred);
            item.handled = Handled {
                deferred: true,
                ..Handled::default()
            };
            return Choice::Done;
        }
        // The ticket (RFC 5723 §4.3.2): the responder "responds with an
        // unprotected N(TICKET_NACK) notification, if it rejects the ticket
        // for any reason."
        if let Err(reason) = opening.result {
            self.counters.bump(nack_counter(reason));
            item.handled = reply_notify(item.out, &req.spi_i, NotifyType::TICKET_NACK, &[]);
            return Choice::Done;
        }
        // Resuming never extends an SA past its re-authentication point
        // (RFC 5723 §6.2, RFC 4478).
        if opening.pending.ticket.reauth_deadline <= now.secs() {
            self.counters.bump(Counter::NackReauthDue);
            item.handled = reply_notify(item.out, &req.spi_i, NotifyType::TICKET_NACK, &[]);
            return Choice::Done;
        }
        // RFC 5723 §9.3: a stolen ticket replayed with fresh SPIs must not
        // fill the table. A ticket resumes once, so more than a few
        // exchanges at a time with one ticket is an attack or a broken
        // client; either way TICKET_NACK (the client can start afresh).
        let ticket = &opening.pending.ticket.ticket_id;
        if self.table.ticket_pending(ticket) + chosen.same_ticket
            >= self.config.half_open_per_ticket
        {
            self.counters.bump(Counter::NackTicketBusy);
            item.handled = reply_notify(item.out, &req.spi_i, NotifyType::TICKET_NACK, &[]);
            return Choice::Done;
        }
        *chosen.spi_r = self.fresh_spi_r(chosen.taken);
        self.rng.fill(chosen.nr);
        Choice::Accept
    }

    /// Pass 6 for an accepted request whose keys are in `pending`;
    /// `natd` its four NAT-D hashes (expected peer and local with SPIr
    /// zero, then our source and destination with SPIr) when it asked
    /// for NAT detection.
    #[allow(clippy::too_many_arguments)]
    fn answer(
        &mut self,
        now: Timestamp,
        item: &mut BurstItem<'_>,
        req: &ResumeRequest<'_>,
        spi_r: [u8; 8],
        nr: &[u8; NR_LEN],
        natd: Option<&[[u8; 20]]>,
        mut pending: Box<Pending>,
    ) -> Handled {
        let meta = &item.meta;
        // RFC 5723 §4.3.2: NAT status is determined anew, from this
        // request's NAT_DETECTION notifies (RFC 7296 §2.23).
        let natd = match natd {
            Some([peer, local, src, dst]) => Some((peer, local, src, dst)),
            _ => None,
        };
        let srcs = &req.natd_src[..req.natd_src_count.min(MAX_NATD_SOURCES)];
        pending.nat = match natd {
            Some((peer, local, _, _)) => nat_status_from(srcs, req.natd_dst, peer, local),
            None => NatStatus::default(),
        };
        let Some(n) = build_resume_response(
            item.out,
            &req.spi_i,
            &spi_r,
            nr,
            natd.map(|(_, _, src, dst)| (src, dst)),
        ) else {
            self.table.give_back(pending);
            return Handled::default();
        };
        // Earlier requests of this burst may have taken the table to its
        // byte bound since pass 1: make room as one datagram at a time
        // would have (dropping cached answers first).
        let (out_of_memory, evicted) = self.table.out_of_memory();
        for _ in 0..evicted {
            self.counters.bump(Counter::AuthCacheEvicted);
        }
        let inserted = self.table.insert(NewEntry {
            spi_i: req.spi_i,
            spi_r,
            peer: meta.peer,
            local: meta.local,
            ni: req.nonce,
            nr,
            request: item.datagram,
            deadline: now.plus_millis(self.config.half_open_timeout_ms),
            pending,
        });
        let Some(slot) = inserted else {
            self.counters.bump(match out_of_memory {
                true => Counter::HalfOpenMemoryFull,
                false => Counter::HalfOpenFull,
            });
            return Handled::default();
        };
        self.table.set_response(slot, &item.out[..n]);
        self.counters.bump(Counter::ResumeAccepted);
        Handled::reply(n)
    }
}
