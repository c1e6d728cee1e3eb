//! The resumed IKE_AUTH (RFC 5723 §4.3.3), the workers' second stage; what
//! it shares with the slow path's IKE_AUTH lives in [`crate::ike_auth`]:
//!
//! ```text
//! HDR, SK {IDi, [IDr,] AUTH, [CP(CFG_REQUEST),] SAi2, TSi, TSr [, N(TICKET_REQUEST)]}  -->
//!                  <--  HDR, SK {IDr, AUTH, [CP(CFG_REPLY),] SAr2, TSi, TSr [, N(TICKET_*)]}
//! ```
//!
//! [`ResumeResponder::ike_auth`] finds the half-open SA and its SK payload
//! (or answers a retransmission from the cache); `answer_ike_auth` then
//! runs the steps in order, each one passing or ending the exchange with a
//! [`Refusal`]:
//!
//! 1. `open_request`: integrity check and the inner payloads;
//! 2. `authenticate`: no CERT, IDi/IDr as in the ticket, AUTH;
//! 3. `check_not_revoked`: a revocation since the ticket was opened;
//! 4. `plan_child`: internal address and child SA (failures do not end it);
//! 5. `child_keys`, then `answer_with_ticket`: the new ticket and the protected answer;
//! 6. `claim_ticket`: the single-use guard, last;
//! 7. `established`: the [`EstablishedSa`] for the control plane.

use core::net::IpAddr;

use super::halfopen::{Entry, Pending, Slot};
use super::{Counter, Handled, PacketMeta, ResumeResponder, copy_reply};
use crate::child::ChildError;
use crate::crypto::{AuthForm, ChildKeys, PrfAlg, Role, SkCipher, resume_auth, verify_resume_auth};
use crate::handoff::{EstablishedSa, IssuedTicket, NewSa, Origin};
use crate::ike_auth::{
    AuthAnswer, AuthRequest, ChildOutcome, ChildPlan, Lease, LeaseOwner, Refusal, Required,
    SpiSpace, TicketAnswer, auth_lifetime, child_keys, fit_ticket, issue_ticket, plan_child,
    protected, protected_notify, read_inner,
};
use crate::ticket::TicketId;
use crate::ticket::format::MAX_VALUE_TICKET_LEN;
use crate::ticket::state::{MAX_ID_DATA, TicketIdentity, TicketState};
use crate::time::Timestamp;
use crate::wire::{
    AuthMethod, ExchangeType, HEADER_LEN, HeaderRepr, IdRepr, IkeHeader, Message, NotifyType,
    PayloadType,
};

/// The SA's SK ciphers for one IKE_AUTH.
#[derive(Clone, Copy)]
struct SkPair<'a> {
    /// Encrypts our answer.
    outbound: &'a SkCipher,
    /// Decrypts the initiator's request.
    inbound: &'a SkCipher,
}

/// Where the request's SK payload sits.
#[derive(Clone, Copy)]
pub(super) struct SkPayload {
    /// Its offset in the message.
    pub(super) offset: usize,
    /// The type of its first inner payload.
    pub(super) first_inner: PayloadType,
}

/// The protected answer, written to `out`, and the ticket it carries.
struct Answer {
    len: usize,
    ticket: TicketAnswer,
    /// The new ticket's state (its id and expiry when one was issued).
    new_state: TicketState,
}

impl ResumeResponder {
    pub(super) fn ike_auth(
        &mut self,
        now: Timestamp,
        meta: &PacketMeta,
        datagram: &[u8],
        out: &mut [u8],
    ) -> Handled {
        let slot = match self.find_exchange(datagram, out) {
            Ok(slot) => slot,
            Err(handled) => return handled,
        };
        self.counters.bump(Counter::AuthRequests);
        let Some(sk_payload) = find_sk(datagram) else {
            self.counters.bump(Counter::AuthIntegrityFailed);
            return Handled::default();
        };
        let ciphers = match self.table.get(slot).1 {
            Some(p) => p.keys.sk_ciphers(&p.ticket.suite.suite, Role::Responder),
            None => return Handled::default(),
        };
        let Ok((outbound, inbound)) = ciphers else {
            self.counters.bump(Counter::AuthIntegrityFailed);
            return Handled::default();
        };
        let sk = SkPair {
            outbound: &outbound,
            inbound: &inbound,
        };
        let mut scratch = core::mem::take(&mut self.scratch);
        scratch.clear();
        scratch.extend_from_slice(datagram);
        let result = match self.answer_ike_auth(sk, now, meta, slot, &mut scratch, sk_payload, out)
        {
            Ok(handled) => handled,
            Err(Refusal::Drop) => Handled::default(),
            Err(Refusal::Notify(notify)) => self.fail(slot, notify, sk.outbound, out),
        };
        self.scratch = scratch;
        if let Some(n) = result.reply {
            self.cache_answer(now, slot, datagram, &out[..n]);
        }
        result
    }

    /// The half-open SA an IKE_AUTH request is for; `Err` with what to do
    /// when there is none to work on (dropped, or a retransmission answered
    /// from the cache).
    pub(super) fn find_exchange(
        &mut self,
        datagram: &[u8],
        out: &mut [u8],
    ) -> Result<Slot, Handled> {
        // A resumed IKE_AUTH is a few hundred bytes; nothing larger is
        // decrypted or cached.
        if datagram.len() > self.config.max_request_len {
            self.counters.bump(Counter::AuthBadHeader);
            return Err(Handled::default());
        }
        let Ok(h) = IkeHeader::new_checked(datagram).and_then(|h| HeaderRepr::parse(&h)) else {
            self.counters.bump(Counter::AuthBadHeader);
            return Err(Handled::default());
        };
        let Some(slot) = self.table.by_spi_r(&h.spi_r) else {
            self.counters.bump(Counter::AuthUnknownSpi);
            return Err(Handled::default());
        };
        let e = self.table.entry(slot);
        // RFC 7296 §2.2: the IKE_AUTH request is message 1 from the
        // original initiator, with the SPIi it opened the exchange with.
        if h.spi_i != e.spi_i || h.message_id != 1 || !h.flags.initiator() || h.flags.response() {
            self.counters.bump(Counter::AuthBadHeader);
            return Err(Handled::default());
        }
        if self.table.get(slot).1.is_none() {
            // Answered already: RFC 7296 §2.1, a retransmission gets the
            // same answer; anything else for this SA is dropped.
            if e.auth_request == datagram {
                self.counters.bump(Counter::AuthRetransmits);
                return Err(copy_reply(out, &e.auth_response));
            }
            self.counters.bump(Counter::AuthConflict);
            return Err(Handled::default());
        }
        Ok(slot)
    }

    /// Keep the request and its answer for retransmissions; the exchange
    /// is complete.
    pub(super) fn cache_answer(
        &mut self,
        now: Timestamp,
        slot: Slot,
        request: &[u8],
        answer: &[u8],
    ) {
        let deadline = now.plus_millis(self.config.half_open_timeout_ms);
        self.table.set_auth_answer(slot, request, answer);
        for _ in 0..self.table.complete(slot, deadline) {
            self.counters.bump(Counter::AuthCacheEvicted);
        }
    }

    /// The steps of a resumed IKE_AUTH once its SK payload is found.
    #[allow(clippy::too_many_arguments)]
    fn answer_ike_auth(
        &mut self,
        sk: SkPair<'_>,
        now: Timestamp,
        meta: &PacketMeta,
        slot: Slot,
        scratch: &mut [u8],
        sk_payload: SkPayload,
        out: &mut [u8],
    ) -> Result<Handled, Refusal> {
        let req = self.open_request(sk.inbound, scratch, sk_payload)?;
        let form = self.authenticate(slot, &req)?;
        self.finish_ike_auth(sk.outbound, now, meta, slot, &req, form, None, out)
    }

    /// The steps after AUTH: revocation, child SA, the answer (with
    /// `auth_r`, the responder's AUTH, when it was computed already), the
    /// claim, the established SA.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn finish_ike_auth(
        &mut self,
        outbound: &SkCipher,
        now: Timestamp,
        meta: &PacketMeta,
        slot: Slot,
        req: &AuthRequest<'_>,
        form: AuthForm,
        auth_r: Option<&[u8]>,
        out: &mut [u8],
    ) -> Result<Handled, Refusal> {
        self.check_not_revoked(slot, now)?;
        let owner = LeaseOwner::new(&self.pending(slot)?.ticket.id_i);
        let plan = self.plan_child(slot, req, &owner)?;
        let keys = match self.child_keys(slot, plan.child.as_ref()) {
            Ok(keys) => keys,
            Err(refusal) => {
                self.undo(plan.address, &owner, None);
                return Err(refusal);
            }
        };
        let answer =
            self.answer_with_ticket((outbound, auth_r), now, slot, form, &plan, req, &owner, out)?;
        let issued = matches!(answer.ticket, TicketAnswer::Issued { .. })
            .then_some(answer.new_state.ticket_id);
        if let Err(refusal) = self.claim_ticket(slot, now) {
            self.undo(plan.address, &owner, issued);
            return Err(refusal);
        }
        self.counters.bump(match form {
            AuthForm::Rfc => Counter::AuthFormRfc,
            AuthForm::MessageOnly => Counter::AuthFormMessageOnly,
        });
        let new_ticket = self.count_ticket(&answer);
        let mut sa = self.established(now, meta, slot, form, plan, keys, new_ticket)?;
        // RFC 7296 §2.4: the slow path deletes the identity's other SAs
        // when it adopts this one.
        sa.initial_contact = req.initial_contact;
        self.counters.bump(Counter::Established);
        Ok(Handled {
            reply: Some(answer.len),
            established: Some(self.boxed(sa)),
            deferred: false,
        })
    }

    /// The opened ticket and keys of the exchange in `slot`.
    pub(super) fn pending(&self, slot: Slot) -> Result<&Pending, Refusal> {
        self.table.get(slot).1.ok_or(Refusal::Drop)
    }

    /// Decrypt the SK payload in `scratch` and read the inner payloads.
    fn open_request<'s>(
        &mut self,
        inbound: &SkCipher,
        scratch: &'s mut [u8],
        sk_payload: SkPayload,
    ) -> Result<AuthRequest<'s>, Refusal> {
        // RFC 7296 §2.21.2: a message that fails its integrity check is
        // dropped; the half-open SA stays for a genuine one.
        let Ok(range) = inbound.unprotect(scratch, sk_payload.offset) else {
            return Err(self.integrity_failed());
        };
        self.read_request(sk_payload.first_inner, &scratch[range])
    }

    /// A request whose SK payload fails its integrity check.
    pub(super) fn integrity_failed(&mut self) -> Refusal {
        self.counters.bump(Counter::AuthIntegrityFailed);
        Refusal::Drop
    }

    /// The inner payloads of a decrypted request.
    pub(super) fn read_request<'s>(
        &mut self,
        first_inner: PayloadType,
        plaintext: &'s [u8],
    ) -> Result<AuthRequest<'s>, Refusal> {
        read_inner(first_inner, plaintext).map_err(|err| {
            self.counters.bump(Counter::AuthMalformed);
            self.counters.bump_malformed(err.counter_label());
            Refusal::Notify(NotifyType::INVALID_SYNTAX)
        })
    }

    /// The peer proves it holds the ticket's keys: returns the AUTH form it
    /// used.
    fn authenticate(&mut self, slot: Slot, req: &AuthRequest<'_>) -> Result<AuthForm, Refusal> {
        let r = self.auth_checks(slot, req)?;
        let (e, p) = self.table.get(slot);
        let p = p.ok_or(Refusal::Drop)?;
        // RFC 5723 §4.3.3: AUTH = prf(SK_pi, <InitiatorSignedOctets>), with
        // the IKE_SESSION_RESUME request as RealMessage1; libreswan's
        // message-only form is accepted too.
        let form = verify_resume_auth(
            p.ticket.suite.suite.prf(),
            p.keys.sk_pi.as_bytes(),
            &e.request,
            &e.nr,
            r.idi_body,
            r.auth.data,
        );
        form.ok_or_else(|| self.auth_failed())
    }

    /// A wrong AUTH.
    pub(super) fn auth_failed(&mut self) -> Refusal {
        self.counters.bump(Counter::AuthFailed);
        Refusal::Notify(NotifyType::AUTHENTICATION_FAILED)
    }

    /// What is checked before the AUTH value: no CERT, the payloads
    /// required, the IDs of the ticket, the method.
    pub(super) fn auth_checks<'r>(
        &mut self,
        slot: Slot,
        req: &AuthRequest<'r>,
    ) -> Result<Required<'r>, Refusal> {
        // RFC 5723 §4.3.3: "A CERT payload MUST NOT be included in this
        // exchange" (the peer is authenticated by SK_pi).
        if req.cert {
            self.counters.bump(Counter::AuthCertPresent);
            return Err(Refusal::Notify(NotifyType::AUTHENTICATION_FAILED));
        }
        let r = req.required().map_err(|why| {
            self.counters.bump(Counter::AuthMalformed);
            self.counters.bump_malformed(why.label());
            Refusal::Notify(NotifyType::INVALID_SYNTAX)
        })?;
        let ticket = &self.pending(slot)?.ticket;
        // RFC 5723 §4.3.3: "The IDi value sent in the IKE_AUTH exchange
        // MUST be identical to the value included in the ticket" (and IDr,
        // when sent, is checked the same way).
        let id_ok = ticket.id_i.matches(r.idi.id_type, r.idi.data)
            && req
                .idr
                .is_none_or(|idr| ticket.id_r.matches(idr.id_type, idr.data));
        if !id_ok {
            self.counters.bump(Counter::AuthIdMismatch);
            return Err(Refusal::Notify(NotifyType::AUTHENTICATION_FAILED));
        }
        if r.auth.method != AuthMethod::SHARED_KEY_MIC {
            self.counters.bump(Counter::AuthBadMethod);
            return Err(Refusal::Notify(NotifyType::AUTHENTICATION_FAILED));
        }
        Ok(r)
    }

    /// The ticket was checked when the exchange began; a revocation since
    /// then (RFC 5723 §9.8) must still stop it.
    fn check_not_revoked(&mut self, slot: Slot, now: Timestamp) -> Result<(), Refusal> {
        let Some(rev) = &self.shared.revocations else {
            return Ok(());
        };
        let ticket = &self.pending(slot)?.ticket;
        let mut key = [0u8; 1 + MAX_ID_DATA];
        let ids = [Some(&ticket.id_i), ticket.peer_identity.as_ref()];
        let revoked = ids.into_iter().flatten().any(|id| {
            let n = id.revocation_key(&mut key);
            rev.check(&ticket.ticket_id, &key[..n], ticket.issued_at, now.secs())
                .is_err()
        });
        if revoked {
            self.counters.bump(Counter::NackRevoked);
            return Err(Refusal::Notify(NotifyType::TICKET_NACK));
        }
        Ok(())
    }

    /// The internal address and the child SA. A refusal of either does not
    /// end the exchange: the IKE SA is resumed and the answer says why.
    fn plan_child(
        &mut self,
        slot: Slot,
        req: &AuthRequest<'_>,
        owner: &LeaseOwner,
    ) -> Result<ChildPlan, Refusal> {
        // RFC 5723 §5 Note 5: the gateway SHOULD give the client the
        // address it had, so its sessions survive.
        let wanted = self.pending(slot)?.ticket.internal_addr;
        let plan = plan_child(
            &self.config,
            self.shared.pool.as_deref(),
            &mut *self.rng,
            SpiSpace::Worker,
            owner,
            wanted,
            req,
        );
        match plan.lease {
            Some(Lease::Reassigned) => self.counters.bump(Counter::AddressReassigned),
            Some(Lease::New) => self.counters.bump(Counter::AddressNew),
            None => {}
        }
        if let Some(err) = plan.error {
            self.counters.bump(match err {
                ChildError::NoProposalChosen => Counter::ChildNoProposal,
                ChildError::TsUnacceptable => Counter::ChildTsUnacceptable,
                _ => Counter::ChildAddressFailure,
            });
        }
        Ok(plan)
    }

    /// The child SA's keys from the new SA's SK_d and nonces.
    fn child_keys(
        &self,
        slot: Slot,
        child: Option<&ChildOutcome>,
    ) -> Result<Option<ChildKeys>, Refusal> {
        let (e, p) = self.table.get(slot);
        let p = p.ok_or(Refusal::Drop)?;
        let prf = p.ticket.suite.suite.prf();
        child_keys(child, prf, p.keys.sk_d.as_bytes(), &e.ni, &e.nr)
            .map_err(|_| Refusal::Notify(NotifyType::INVALID_SYNTAX))
    }

    /// The state the next ticket carries: the new SA's SK_d and SPIs, the
    /// address it has now.
    fn next_ticket_state(
        &self,
        slot: Slot,
        address: Option<IpAddr>,
    ) -> Result<TicketState, Refusal> {
        let (e, p) = self.table.get(slot);
        let p = p.ok_or(Refusal::Drop)?;
        let ticket = &p.ticket;
        let mut new_state = ticket.clone();
        new_state.sk_d = p.keys.sk_d.clone();
        new_state.old_spi_i = e.spi_i;
        new_state.old_spi_r = e.spi_r;
        new_state.internal_addr = address.or(ticket.internal_addr);
        // The new ticket keeps the time the peer last authenticated in
        // full: a revocation of its identity "issued before T" then covers
        // every ticket resumed from that authentication.
        new_state.issued_at = ticket.issued_at;
        Ok(new_state)
    }

    /// The new ticket, if asked for, and the protected answer in `out`.
    /// When the answer cannot be built, what was taken is given back.
    #[allow(clippy::too_many_arguments)]
    fn answer_with_ticket(
        &mut self,
        (outbound, auth_r): (&SkCipher, Option<&[u8]>),
        now: Timestamp,
        slot: Slot,
        form: AuthForm,
        plan: &ChildPlan,
        req: &AuthRequest<'_>,
        owner: &LeaseOwner,
        out: &mut [u8],
    ) -> Result<Answer, Refusal> {
        let mut new_state = self.next_ticket_state(slot, plan.address)?;
        let mut ticket_buf = [0u8; MAX_VALUE_TICKET_LEN + 4];
        let mut ticket = if req.ticket_request {
            issue_ticket(
                self.config.tickets,
                self.ring.current(),
                self.shared.store.as_deref(),
                &mut *self.rng,
                now,
                &mut new_state,
                &mut ticket_buf,
            )
        } else {
            TicketAnswer::None
        };
        let max_len = self.config.tickets.max_message_len;
        // RFC 4478: the deadline of the original authentication, which
        // resumption does not move.
        let lifetime = auth_lifetime(new_state.reauth_deadline, now.secs());
        let (n, withdrawn) = fit_ticket(&mut ticket, max_len, |t| {
            let ticket = (t, &ticket_buf[..]);
            self.build_success((outbound, auth_r), slot, form, plan, ticket, lifetime, out)
        });
        if withdrawn && let Some(store) = &self.shared.store {
            let _ = store.remove(&new_state.ticket_id);
        }
        let Some(len) = n else {
            let issued =
                matches!(ticket, TicketAnswer::Issued { .. }).then_some(new_state.ticket_id);
            self.undo(plan.address, owner, issued);
            return Err(Refusal::Notify(NotifyType::INVALID_SYNTAX));
        };
        Ok(Answer {
            len,
            ticket,
            new_state,
        })
    }

    /// RFC 5723 §4.3.1: a ticket resumes one SA. Claimed only now, when
    /// the peer has proven it holds the keys and the answer is ready
    /// (nothing can fail after the claim); a racing resumption with the
    /// same ticket loses here, and the caller undoes what was made for it.
    fn claim_ticket(&mut self, slot: Slot, now: Timestamp) -> Result<(), Refusal> {
        let ticket = &self.pending(slot)?.ticket;
        let (old_id, old_expiry) = (ticket.ticket_id, ticket.expiry);
        if self
            .shared
            .guard
            .claim(&old_id, old_expiry, now.secs())
            .is_err()
        {
            self.counters.bump(Counter::NackClaimLost);
            return Err(Refusal::Notify(NotifyType::TICKET_NACK));
        }
        if let Some(store) = &self.shared.store {
            // A by-reference ticket's state is of no further use.
            let _ = store.remove(&old_id);
        }
        Ok(())
    }

    /// Count the ticket the answer carries; the issued ticket's id and
    /// expiry, for the hand-off.
    fn count_ticket(&mut self, answer: &Answer) -> Option<IssuedTicket> {
        match answer.ticket {
            TicketAnswer::Issued { .. } => {
                self.counters.bump(Counter::TicketsIssued);
                Some(IssuedTicket {
                    id: answer.new_state.ticket_id,
                    expiry: answer.new_state.expiry,
                })
            }
            TicketAnswer::Ack => {
                self.counters.bump(Counter::TicketsAcked);
                None
            }
            TicketAnswer::Nack => {
                self.counters.bump(Counter::TicketsRefused);
                None
            }
            TicketAnswer::None => None,
        }
    }

    /// The resumed SA for the control plane.
    #[allow(clippy::too_many_arguments)]
    fn established(
        &self,
        now: Timestamp,
        meta: &PacketMeta,
        slot: Slot,
        form: AuthForm,
        plan: ChildPlan,
        keys: Option<ChildKeys>,
        new_ticket: Option<IssuedTicket>,
    ) -> Result<EstablishedSa, Refusal> {
        let (e, p) = self.table.get(slot);
        let p = p.ok_or(Refusal::Drop)?;
        let t = &p.ticket;
        let child = match (plan.child, keys) {
            (Some(c), Some(keys)) => Some(c.into_child_sa(keys)),
            _ => None,
        };
        Ok(EstablishedSa::new(
            t,
            NewSa {
                spi_i: e.spi_i,
                spi_r: e.spi_r,
                peer: meta.peer,
                local: meta.local,
                nat: p.nat,
                ni: e.ni[..].into(),
                nr: e.nr[..].into(),
                keys: p.keys.clone(),
                child,
                internal_addr: plan.address,
                new_ticket,
            },
            Origin::Resumed {
                replaces: (t.old_spi_i, t.old_spi_r),
                auth_form: form,
            },
            self.config.worker_id,
            now,
        ))
    }

    /// `HDR, SK {IDr, AUTH, [CP(CFG_REPLY),] SAr2, TSi, TSr | N(error) [, N(TICKET_*)]}`.
    #[allow(clippy::too_many_arguments)]
    fn build_success(
        &mut self,
        (outbound, auth_r): (&SkCipher, Option<&[u8]>),
        slot: Slot,
        form: AuthForm,
        plan: &ChildPlan,
        (ticket, ticket_buf): (&TicketAnswer, &[u8]),
        auth_lifetime: Option<u32>,
        out: &mut [u8],
    ) -> Option<usize> {
        let (e, p): (&Entry, _) = self.table.get(slot);
        let p = p?;
        let id_r = &p.ticket.id_r;
        let idr = IdRepr {
            id_type: id_r.id_type,
            data: id_r.data(),
        };
        let mut idr_body = [0u8; ID_BODY_MAX];
        let idr_len = id_body(id_r, &mut idr_body)?;
        // RFC 5723 §4.3.3: AUTH = prf(SK_pr, <ResponderSignedOctets>), the
        // IKE_SESSION_RESUME response as RealMessage2, in the initiator's
        // form.
        let mut auth = [0u8; PrfAlg::MAX_OUTPUT_LEN];
        let auth_len = match auth_r {
            Some(a) => {
                auth.get_mut(..a.len())?.copy_from_slice(a);
                a.len()
            }
            None => resume_auth(
                p.ticket.suite.suite.prf(),
                p.keys.sk_pr.as_bytes(),
                form,
                &e.response,
                &e.ni,
                &idr_body[..idr_len],
                &mut auth,
            )
            .ok()?,
        };
        let hdr = HeaderRepr::responder_response(e.spi_i, e.spi_r, ExchangeType::IKE_AUTH, 1);
        let answer = AuthAnswer {
            idr,
            auth: &auth[..auth_len],
            address: plan.address,
            child: plan.child.as_ref(),
            child_error: plan.error,
            ticket,
            ticket_buf,
            auth_lifetime,
        };
        protected(out, &hdr, outbound, &mut *self.rng, |b| answer.push(b))
    }

    /// Give back what an exchange that fails late had taken: its internal
    /// address lease and its new by-reference ticket's store entry.
    fn undo(&self, address: Option<IpAddr>, owner: &LeaseOwner, new_ticket: Option<TicketId>) {
        if let (Some(a), Some(pool)) = (address, self.shared.pool.as_ref()) {
            pool.release(a, owner.as_bytes());
        }
        if let (Some(id), Some(store)) = (new_ticket, self.shared.store.as_ref()) {
            let _ = store.remove(&id);
        }
    }

    /// Answer `SK {N(notify)}` and end the exchange: the half-open SA and
    /// its keys are dropped, the answer is kept for retransmissions.
    pub(super) fn fail(
        &mut self,
        slot: Slot,
        notify: NotifyType,
        outbound: &SkCipher,
        out: &mut [u8],
    ) -> Handled {
        let e = self.table.entry(slot);
        let hdr = HeaderRepr::responder_response(e.spi_i, e.spi_r, ExchangeType::IKE_AUTH, 1);
        match protected_notify(out, &hdr, outbound, &mut *self.rng, notify, &[]) {
            Some(n) => Handled::reply(n),
            None => Handled::default(),
        }
    }
}

/// The request's SK payload, its only payload.
pub(super) fn find_sk(datagram: &[u8]) -> Option<SkPayload> {
    let msg = Message::parse(datagram).ok()?;
    let sk = msg
        .payloads()
        .next()
        .and_then(Result::ok)
        .filter(|p| p.ptype == PayloadType::SK)?;
    Some(SkPayload {
        offset: HEADER_LEN + sk.offset,
        first_inner: sk.next,
    })
}

/// The longest ID payload body: type, three reserved bytes, data.
pub(super) const ID_BODY_MAX: usize = 4 + MAX_ID_DATA;

/// An ID payload's body (RFC 7296 §2.15 RestOfRespIDPayload) in `buf`;
/// returns its length.
pub(super) fn id_body(id: &TicketIdentity, buf: &mut [u8; ID_BODY_MAX]) -> Option<usize> {
    let repr = IdRepr {
        id_type: id.id_type,
        data: id.data(),
    };
    let n = repr.body_len();
    repr.emit_body(buf.get_mut(..n)?).ok()?;
    Some(n)
}
