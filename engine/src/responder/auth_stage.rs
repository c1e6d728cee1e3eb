//! The resumed IKE_AUTH over a burst (design.md, "How a packet flows"):
//! the steps of `resumed_auth`, run in passes so the crypto of the whole
//! burst goes through the batch kernels of `rebound-kernels`:
//!
//! 1. find the half-open SA of each request; set up its SK ciphers;
//! 2. decrypt every AES-GCM SK payload in one `open_keyed` call (AES-CBC
//!    one at a time, as `unprotect`);
//! 3. read the inner payloads, check CERT, IDs and method;
//! 4. both AUTHs of every SA with the multi-buffer HMAC
//!    ([`resume_auth_many`]);
//! 5. in burst order, everything that draws randomness or touches shared
//!    state (revocation, child SA and address, new ticket, answer, the
//!    single-use claim, the retransmission cache), exactly as one
//!    datagram at a time.
//!
//! Equivalence with one datagram at a time: a request is batched only if
//! its SA is half-open when the chunk starts and no earlier request of the
//! chunk names the same SPIr (a chunk ends before such a request); every
//! other request (retransmissions of completed exchanges, unknown SPIs,
//! garbage) goes through `ike_auth` at its turn in pass 5.

use core::ops::Range;

use rebound_kernels::gcm::{KeyedOpenJob, OpenJob, open_keyed};

use super::halfopen::Slot;
use super::resumed_auth::{ID_BODY_MAX, SkPayload, find_sk, id_body};
use super::{BurstItem, Counter, Handled, MAX_RESUME_BURST, ResumeResponder};
use crate::crypto::batch::{ResumeAuthInput, ResumeAuthOutcome, resume_auth_many};
use crate::crypto::{Role, SkCipher};
use crate::ike_auth::{AuthRequest, Refusal};
use crate::time::Timestamp;
use crate::wire::{HeaderRepr, IkeHeader};

const MAX: usize = MAX_RESUME_BURST;

/// The IKE_AUTH stage's scratch, kept by the responder for its capacity.
#[derive(Default)]
pub(super) struct AuthScratch {
    /// Each request of a chunk, copied to be decrypted in place.
    bufs: Vec<Vec<u8>>,
    /// Each batched request's SK ciphers: (outbound, inbound).
    ciphers: Vec<Option<(SkCipher, SkCipher)>>,
}

/// What pass 1 decided for a request.
#[derive(Clone, Copy)]
enum Route {
    /// Through `ike_auth` at its turn in pass 6.
    Plain,
    /// Answered (or dropped) already.
    Done,
    /// To be batched: its half-open SA.
    Candidate(Slot),
    /// Batched: the half-open SA and its SK payload.
    Batched(Slot, SkPayload),
}

impl ResumeResponder {
    /// Run the resumed IKE_AUTH stage over a burst of IKE_AUTH requests
    /// (datagrams that [`classify`](super::classify) as
    /// [`Class::Auth`](super::Class::Auth) for this worker); each item's
    /// `handled` says what was answered and which SA was established.
    /// Equivalent to calling [`handle`](Self::handle) on each in order.
    pub fn auth_stage(&mut self, now: Timestamp, items: &mut [BurstItem<'_>]) {
        self.handle_timeout(now);
        let mut rest = items;
        while !rest.is_empty() {
            let taken = self.auth_chunk(now, rest);
            rest = &mut rest[taken..];
        }
    }

    /// The passes over the first requests of `items` (at most
    /// [`MAX_RESUME_BURST`], ending before a second request for a batched
    /// SA); returns how many were taken (at least one).
    pub(super) fn auth_chunk(&mut self, now: Timestamp, items: &mut [BurstItem<'_>]) -> usize {
        if let [item] = items {
            // A burst of one (`handle`): straight to the plain path.
            item.handled = self.ike_auth(now, &item.meta, item.datagram, item.out);
            return 1;
        }
        // Pass 1: which requests are batched.
        let mut routes = [Route::Plain; MAX];
        let mut spis = [[0u8; 8]; MAX];
        let (mut taken, mut batched) = (0, 0);
        for (k, item) in items.iter().enumerate().take(MAX) {
            let spi_r = IkeHeader::new_checked(item.datagram).map(|h| h.spi_r());
            if let Ok(spi) = spi_r
                && spis[..batched].contains(&spi)
            {
                break;
            }
            taken = k + 1;
            if let (Ok(spi), Some(slot)) = (spi_r, self.probe_exchange(item.datagram)) {
                routes[k] = Route::Candidate(slot);
                spis[batched] = spi;
                batched += 1;
            }
        }
        // One alone gains nothing from the lanes: the plain path.
        if batched < 2 {
            for item in &mut items[..taken] {
                item.handled = self.ike_auth(now, &item.meta, item.datagram, item.out);
            }
            return taken;
        }
        let items = &mut items[..taken];

        let mut scratch = core::mem::take(&mut self.auth_scratch);
        scratch.ciphers.clear();
        while scratch.bufs.len() < taken {
            scratch.bufs.push(Vec::new());
        }
        // Pass 2: the exchange, its SK payload and ciphers (as `ike_auth`).
        for (k, item) in items.iter_mut().enumerate() {
            let mut ciphers = None;
            if let Route::Candidate(slot) = routes[k] {
                routes[k] = match self.batch_setup(slot, item, &mut scratch.bufs[k]) {
                    Some((c, sk)) => {
                        ciphers = Some(c);
                        Route::Batched(slot, sk)
                    }
                    None => Route::Done,
                };
            }
            scratch.ciphers.push(ciphers);
        }

        // Pass 3: decrypt, every AES-GCM SK payload in one kernel call.
        let opened = decrypt(&routes, &mut scratch);

        // Pass 4: the inner payloads and the checks before AUTH.
        let bufs = &scratch.bufs;
        let mut reqs: [Option<AuthRequest<'_>>; MAX] = [const { None }; MAX];
        let mut signed: [(&[u8], &[u8]); MAX] = [(&[], &[]); MAX];
        let mut pre: [Result<(), Refusal>; MAX] = [Ok(()); MAX];
        let mut idr = [[0u8; ID_BODY_MAX]; MAX];
        let mut idr_len = [0usize; MAX];
        let mut lanes = [0usize; MAX];
        let mut m = 0;
        for k in 0..taken {
            let Route::Batched(slot, sk) = routes[k] else {
                continue;
            };
            let step = match &opened[k] {
                // RFC 7296 §2.21.2: a message that fails its integrity check
                // is dropped; the half-open SA stays for a genuine one.
                Some(Ok(range)) => self.read_request(sk.first_inner, &bufs[k][range.clone()]),
                _ => Err(self.integrity_failed()),
            };
            let checked = step.and_then(|req| {
                let r = self.auth_checks(slot, &req)?;
                let p = self.pending(slot)?;
                idr_len[k] = id_body(&p.ticket.id_r, &mut idr[k]).ok_or(Refusal::Drop)?;
                Ok((req, r.idi_body, r.auth.data))
            });
            match checked {
                Ok((req, idi_body, auth)) => {
                    reqs[k] = Some(req);
                    signed[k] = (idi_body, auth);
                    lanes[m] = k;
                    m += 1;
                }
                Err(refusal) => pre[k] = Err(refusal),
            }
        }

        // Pass 5: both AUTHs of every SA (RFC 5723 §4.3.3: "AUTH =
        // prf(SK_px, <message octets>)", the octets of RFC 7296 §2.15), in
        // the batch kernels.
        let mut auths = [ResumeAuthOutcome::default(); MAX];
        let mut missing = [false; MAX];
        {
            // Lane `l` is request `lanes[l]`: the inputs stay at their lane
            // (never compacted), so a lane without its SA cannot shift its
            // neighbours' results; it is refused below.
            let mut inputs: [Option<ResumeAuthInput<'_>>; MAX] = [None; MAX];
            for (l, &k) in lanes[..m].iter().enumerate() {
                let (Route::Batched(slot, _), (idi_body, received)) = (routes[k], signed[k]) else {
                    continue;
                };
                let (e, Some(p)) = self.table.get(slot) else {
                    continue;
                };
                inputs[l] = Some(ResumeAuthInput {
                    prf: p.ticket.suite.suite.prf(),
                    sk_pi: p.keys.sk_pi.as_bytes(),
                    sk_pr: p.keys.sk_pr.as_bytes(),
                    request: &e.request,
                    nr: &e.nr,
                    idi_body,
                    received,
                    response: &e.response,
                    ni: &e.ni,
                    idr_body: &idr[k][..idr_len[k]],
                });
            }
            for (l, &k) in lanes[..m].iter().enumerate() {
                if inputs[l].is_none() {
                    missing[k] = true;
                }
            }
            // `first` only stands in for a missing lane, whose result is
            // discarded.
            if let Some(first) = inputs[..m].iter().flatten().next().copied() {
                resume_auth_many(m, |l| inputs[l].unwrap_or(first), &mut auths);
            }
        }
        let mut lane_of = [MAX; MAX];
        for (l, &k) in lanes[..m].iter().enumerate() {
            lane_of[k] = l;
            if missing[k] {
                pre[k] = Err(Refusal::Drop);
            } else if auths[l].form.is_none() {
                pre[k] = Err(self.auth_failed());
            }
        }

        // Pass 6: in burst order, the steps that draw randomness or touch
        // shared state, and the answers.
        for (k, item) in items.iter_mut().enumerate() {
            let Route::Batched(slot, _) = routes[k] else {
                if let Route::Plain = routes[k] {
                    item.handled = self.ike_auth(now, &item.meta, item.datagram, item.out);
                }
                continue;
            };
            let Some((outbound, _)) = &scratch.ciphers[k] else {
                continue;
            };
            let auth = auths.get(lane_of[k]);
            let r = match (pre[k], auth.and_then(|a| a.form.map(|f| (a, f))), &reqs[k]) {
                (Err(refusal), _, _) => Err(refusal),
                (Ok(()), Some((a, form)), Some(req)) => {
                    let auth_r = a.auth.get(..a.auth_len);
                    self.finish_ike_auth(
                        outbound, now, &item.meta, slot, req, form, auth_r, item.out,
                    )
                }
                _ => Err(Refusal::Drop),
            };
            let result = match r {
                Ok(handled) => handled,
                Err(Refusal::Drop) => Handled::default(),
                Err(Refusal::Notify(notify)) => self.fail(slot, notify, outbound, item.out),
            };
            if let Some(n) = result.reply {
                self.cache_answer(now, slot, item.datagram, &item.out[..n]);
            }
            item.handled = result;
        }
        // The SK keys are wiped as they drop.
        scratch.ciphers.clear();
        self.auth_scratch = scratch;
        taken
    }

    /// `Some(slot)` exactly when [`find_exchange`](Self::find_exchange)
    /// would return `Ok(slot)`; counts nothing.
    fn probe_exchange(&self, datagram: &[u8]) -> Option<Slot> {
        if datagram.len() > self.config.max_request_len {
            return None;
        }
        let h = IkeHeader::new_checked(datagram)
            .and_then(|h| HeaderRepr::parse(&h))
            .ok()?;
        let slot = self.table.by_spi_r(&h.spi_r)?;
        let (e, p) = self.table.get(slot);
        let first =
            h.spi_i == e.spi_i && h.message_id == 1 && h.flags.initiator() && !h.flags.response();
        (first && p.is_some()).then_some(slot)
    }

    /// Pass 2 for one request: what `ike_auth` does before the SK payload
    /// is opened (its counters and early drops), and the copy to decrypt.
    fn batch_setup(
        &mut self,
        slot: Slot,
        item: &mut BurstItem<'_>,
        buf: &mut Vec<u8>,
    ) -> Option<((SkCipher, SkCipher), SkPayload)> {
        match self.find_exchange(item.datagram, item.out) {
            Ok(s) if s == slot => {}
            Ok(_) => return None,
            Err(handled) => {
                item.handled = handled;
                return None;
            }
        }
        self.counters.bump(Counter::AuthRequests);
        let Some(sk) = find_sk(item.datagram) else {
            self.counters.bump(Counter::AuthIntegrityFailed);
            return None;
        };
        let p = self.table.get(slot).1?;
        let Ok(ciphers) = p.keys.sk_ciphers(&p.ticket.suite.suite, Role::Responder) else {
            self.counters.bump(Counter::AuthIntegrityFailed);
            return None;
        };
        buf.clear();
        buf.extend_from_slice(item.datagram);
        Some((ciphers, sk))
    }
}

/// Pass 3: the inner payloads' range of each batched request, or `Err`
/// when its integrity check failed; AES-GCM in one `open_keyed` call.
fn decrypt(
    routes: &[Route; MAX],
    scratch: &mut AuthScratch,
) -> [Option<Result<Range<usize>, ()>>; MAX] {
    let mut opened: [Option<Result<Range<usize>, ()>>; MAX] = [const { None }; MAX];
    let mut waiting = [const { None }; MAX];
    let mut jobs: [Option<KeyedOpenJob<'_>>; MAX] = [const { None }; MAX];
    for (k, (buf, c)) in scratch
        .bufs
        .iter_mut()
        .zip(scratch.ciphers.iter())
        .enumerate()
    {
        let (Route::Batched(_, sk), Some((_, inbound))) = (routes[k], c) else {
            continue;
        };
        if inbound.integ().is_some() {
            // AES-CBC: integrity then decryption, one at a time.
            opened[k] = Some(inbound.unprotect(buf, sk.offset).map_err(drop));
            continue;
        }
        match inbound.open_job(buf, sk.offset) {
            Some(Ok(j)) => {
                jobs[k] = Some(j.job);
                waiting[k] = Some(j.opened);
            }
            _ => opened[k] = Some(Err(())),
        }
    }
    let Some(key) = jobs.iter().flatten().next().map(|j| j.key) else {
        return opened;
    };
    let mut batch: [KeyedOpenJob<'_>; MAX] = core::array::from_fn(|_| KeyedOpenJob {
        key,
        job: OpenJob::new([0; 12], &[], &mut [], [0; 16]),
    });
    let mut owner = [0usize; MAX];
    let mut g = 0;
    for (k, j) in jobs.iter_mut().enumerate() {
        if let Some(j) = j.take() {
            batch[g] = j;
            owner[g] = k;
            g += 1;
        }
    }
    open_keyed(&mut batch[..g]);
    let mut ok = [false; MAX];
    for (j, &k) in batch[..g].iter().zip(&owner) {
        ok[k] = j.job.result.is_ok();
    }
    for (k, w) in waiting.iter_mut().enumerate() {
        if let Some(w) = w.take() {
            opened[k] = Some(match ok[k] {
                true => w.finish(&scratch.bufs[k]).map_err(drop),
                false => Err(()),
            });
        }
    }
    opened
}
