//! IKE_AUTH with a pre-shared key (RFC 7296 §1.2, §2.15), the first child
//! SA, and the ticket (RFC 5723 §4.1):
//!
//! ```text
//! HDR, SK {IDi, [IDr], AUTH, [CP(CFG_REQUEST)], SAi2, TSi, TSr, [N(TICKET_REQUEST)]}  -->
//!     <--  HDR, SK {IDr, AUTH, [CP(CFG_REPLY)], SAr2, TSi, TSr, [N(TICKET_LT_OPAQUE | TICKET_ACK | TICKET_NACK)]}
//! ```
//!
//! `answer_ike_auth` runs the steps in order, each one passing or ending
//! the exchange with a [`Refusal`]: `open_request` (integrity check, inner
//! payloads), `authenticate` (the PSK by IDi, IDr, AUTH), `sign` (our
//! AUTH), [`plan_child`] (address and child SA; their failure does not end
//! it), [`child_keys`], `new_session` (the SA's state and ticket state),
//! `answer_with_ticket` (the ticket and the protected answer), then
//! `establish` (the SA moves to established and is handed off). What it
//! shares with the resumed IKE_AUTH lives in [`crate::ike_auth`].

use super::packed::SessionTicket;
use super::session::open_sk;
use super::{
    ChildEntry, Ciphers, IkeSa, Outcome, Psk, SaEvent, SaState, Session, SlowPathCounter,
    SlowPathResponder,
};
use crate::crypto::{PrfAlg, psk_auth, verify_psk_auth};
use crate::handoff::{EstablishedSa, IssuedTicket, NewSa, Origin};
use crate::ike_auth::{
    AuthAnswer, AuthRequest, ChildPlan, LeaseOwner, Refusal, Required, SpiSpace, TicketAnswer,
    auth_lifetime, child_keys, fit_ticket, plan_child, protected, protected_notify, read_inner,
};
use crate::responder::PacketMeta;
use crate::ticket::format::MAX_VALUE_TICKET_LEN;
use crate::ticket::state::{MAX_ID_DATA, TicketIdentity};
use crate::time::Timestamp;
use crate::wire::{AuthMethod, ExchangeType, HeaderRepr, IdRepr, NotifyType};

/// Our AUTH payload's data.
struct OurAuth {
    data: [u8; PrfAlg::MAX_OUTPUT_LEN],
    len: usize,
}

impl SlowPathResponder {
    /// The IKE_AUTH of a half-open SA; returns the outcome and whether the
    /// SA stays (it always does: established, failed with its answer
    /// kept, or still half-open after a message that failed its check).
    pub(super) fn ike_auth(
        &mut self,
        now: Timestamp,
        meta: &PacketMeta,
        sa: &mut IkeSa,
        c: &Ciphers,
        datagram: &[u8],
        out: &mut [u8],
    ) -> (Outcome, bool) {
        self.counters.bump(SlowPathCounter::AuthRequests);
        let mut scratch = core::mem::take(&mut self.scratch);
        let outcome = match self.answer_ike_auth(now, meta, sa, c, datagram, &mut scratch, out) {
            Ok(outcome) => outcome,
            Err(Refusal::Drop) => Outcome::default(),
            Err(Refusal::Notify(notify)) => self.fail(sa, c, datagram, notify, out),
        };
        self.scratch = scratch;
        (outcome, true)
    }

    /// The steps of the IKE_AUTH, in order.
    #[allow(clippy::too_many_arguments)]
    fn answer_ike_auth(
        &mut self,
        now: Timestamp,
        meta: &PacketMeta,
        sa: &mut IkeSa,
        c: &Ciphers,
        datagram: &[u8],
        scratch: &mut Vec<u8>,
        out: &mut [u8],
    ) -> Result<Outcome, Refusal> {
        let req = self.open_request(c, datagram, scratch)?;
        let r = req.required().map_err(|_| self.malformed())?;
        let (psk, id_i) = self.authenticate(sa, &req, r)?;
        let our_auth = self.sign(sa, &psk)?;
        let owner = LeaseOwner::new(&id_i);
        let in_use = &self.child_spis;
        let plan = plan_child(
            &self.config.responder,
            self.shared.pool.as_deref(),
            &mut *self.rng,
            SpiSpace::Control(&|s| in_use.contains(s)),
            &owner,
            None,
            &req,
        );
        if plan.error.is_some() {
            self.counters.bump(SlowPathCounter::ChildRefused);
        }
        let prf = sa.suite.prf();
        let Ok(keys) = child_keys(plan.child.as_ref(), prf, sa.keys.sk_d(), &sa.ni, &sa.nr) else {
            self.release(plan.address, &owner);
            return Err(Refusal::Notify(NotifyType::INVALID_SYNTAX));
        };
        let mut session = self.new_session(now, id_i, &psk, &plan, datagram);
        // The session's ticket state records this authentication: IDi,
        // our IDr, the PSK method, the suite, now, the re-auth deadline.
        // Built before any ticket is issued or anything counted, so a
        // failure leaves nothing behind.
        let (Some(state), Ok(sa_keys)) = (session.ticket.state(sa.ticket_base()), sa.keys.unpack())
        else {
            self.release(plan.address, &owner);
            return Err(Refusal::Drop);
        };
        let answer = self.answer_with_ticket(now, sa, c, &our_auth, &plan, &req, &mut session, out);
        let Some((n, ticket)) = answer else {
            self.release(plan.address, &owner);
            return Err(Refusal::Drop);
        };
        self.counters.bump(SlowPathCounter::Established);
        match ticket {
            TicketAnswer::Issued { .. } => self.counters.bump(SlowPathCounter::TicketsIssued),
            TicketAnswer::Ack => self.counters.bump(SlowPathCounter::TicketsAcked),
            TicketAnswer::Nack => self.counters.bump(SlowPathCounter::TicketsRefused),
            TicketAnswer::None => {}
        }
        session.last_response = out[..n].to_vec();
        let child = match (plan.child, keys) {
            (Some(c), Some(keys)) => Some(c.into_child_sa(keys)),
            _ => None,
        };
        let established = EstablishedSa::new(
            &state,
            NewSa {
                spi_i: sa.spi_i,
                spi_r: sa.spi_r,
                peer: meta.peer,
                local: meta.local,
                nat: sa.nat,
                ni: sa.ni[..].into(),
                nr: sa.nr[..].into(),
                keys: sa_keys,
                child,
                internal_addr: plan.address,
                new_ticket: session
                    .issued
                    .map(|(id, expiry)| IssuedTicket { id, expiry }),
            },
            Origin::Initial,
            super::CONTROL_SPI_TAG,
            now,
        );
        let initial_contact = req.initial_contact;
        self.establish(meta, sa, session);
        let mut events = vec![SaEvent::Established(Box::new(established))];
        // RFC 7296 §2.4: the peer keeps no other IKE SA with us; its other
        // SAs here are stale (the `identity` module).
        if initial_contact {
            events.extend(self.initial_contact(now, &id_i, sa.spi_r, plan.address, None));
        }
        Ok(Outcome {
            reply: Some(n),
            events,
        })
    }

    /// Decrypt the SK payload into `scratch` and read the inner payloads.
    fn open_request<'s>(
        &mut self,
        c: &Ciphers,
        datagram: &[u8],
        scratch: &'s mut Vec<u8>,
    ) -> Result<AuthRequest<'s>, Refusal> {
        // RFC 7296 §2.21.2: a message failing its integrity check is
        // dropped; the half-open SA waits for a genuine one.
        let Some((range, first)) = open_sk(&c.inbound, datagram, scratch) else {
            self.counters.bump(SlowPathCounter::IntegrityFailed);
            return Err(Refusal::Drop);
        };
        read_inner(first, &scratch[range]).map_err(|_| self.malformed())
    }

    /// The peer proves it holds the PSK of its identity: returns the PSK
    /// entry and IDi.
    fn authenticate(
        &mut self,
        sa: &IkeSa,
        req: &AuthRequest<'_>,
        r: Required<'_>,
    ) -> Result<(Psk, TicketIdentity), Refusal> {
        // RFC 7296 §2.15: the PSK is looked up by the peer's identity.
        let Some(psk) = self.psks.get(r.idi.id_type, r.idi.data).cloned() else {
            self.counters.bump(SlowPathCounter::AuthUnknownIdentity);
            return Err(Refusal::Notify(NotifyType::AUTHENTICATION_FAILED));
        };
        let local_id = self.config.local_id;
        let idr_ok = req.idr.is_none_or(|i| local_id.matches(i.id_type, i.data));
        if r.auth.method != AuthMethod::SHARED_KEY_MIC || !idr_ok {
            self.counters.bump(SlowPathCounter::AuthRefused);
            return Err(Refusal::Notify(NotifyType::AUTHENTICATION_FAILED));
        }
        let SaState::HalfOpen { init_request, .. } = &sa.state else {
            return Err(Refusal::Drop);
        };
        // RFC 7296 §2.15: AUTH = prf( prf(Shared Secret, "Key Pad for
        // IKEv2"), <InitiatorSignedOctets>), the octets being the
        // IKE_SA_INIT request, Nr and prf(SK_pi, IDi').
        if !verify_psk_auth(
            sa.suite.prf(),
            psk.secret.as_bytes(),
            sa.keys.sk_pi(),
            init_request,
            &sa.nr,
            r.idi_body,
            r.auth.data,
        ) {
            self.counters.bump(SlowPathCounter::AuthFailed);
            return Err(Refusal::Notify(NotifyType::AUTHENTICATION_FAILED));
        }
        let Some(id_i) = TicketIdentity::new(r.idi.id_type, r.idi.data) else {
            return Err(self.malformed());
        };
        Ok((psk, id_i))
    }

    /// Our AUTH over the IKE_SA_INIT response, Ni and prf(SK_pr, IDr')
    /// (RFC 7296 §2.15).
    fn sign(&self, sa: &IkeSa, psk: &Psk) -> Result<OurAuth, Refusal> {
        let SaState::HalfOpen { init_response, .. } = &sa.state else {
            return Err(Refusal::Drop);
        };
        let idr = self.our_id();
        let mut idr_body = [0u8; 4 + MAX_ID_DATA];
        let idr_len = idr.body_len();
        let mut our = OurAuth {
            data: [0u8; PrfAlg::MAX_OUTPUT_LEN],
            len: 0,
        };
        let len = idr_body
            .get_mut(..idr_len)
            .and_then(|b| idr.emit_body(b).ok())
            .and_then(|()| {
                psk_auth(
                    sa.suite.prf(),
                    psk.secret.as_bytes(),
                    sa.keys.sk_pr(),
                    init_response,
                    &sa.ni,
                    &idr_body[..idr_len],
                    &mut our.data,
                )
                .ok()
            });
        our.len = len.ok_or(Refusal::Drop)?;
        Ok(our)
    }

    /// IDr: the gateway's identity.
    fn our_id(&self) -> IdRepr<'_> {
        IdRepr {
            id_type: self.config.local_id.id_type,
            data: self.config.local_id.data(),
        }
    }

    /// The established SA's state: message ids, the request for
    /// retransmissions, its child SAs, and what a ticket for it holds.
    fn new_session(
        &self,
        now: Timestamp,
        id_i: TicketIdentity,
        psk: &Psk,
        plan: &ChildPlan,
        request: &[u8],
    ) -> Session {
        let now_s = now.secs();
        let ticket = SessionTicket::new(
            &id_i,
            &self.config.local_id,
            AuthMethod::SHARED_KEY_MIC,
            plan.address,
            now_s,
            now_s.saturating_add(self.config.reauth_secs),
        );
        Session {
            established_at: now,
            replaced: false,
            next_id: 2,
            last_request: request.to_vec(),
            last_response: Vec::new(),
            ticket,
            tickets_allowed: psk.tickets,
            issued: None,
            children: plan
                .child
                .iter()
                .map(|c| ChildEntry::new(c.esp.peer_spi, c.spi_r))
                .collect(),
        }
    }

    /// The ticket, if asked for, and the protected answer in `out`: its
    /// length and the ticket notify it carries; `None` if it could not be
    /// built.
    #[allow(clippy::too_many_arguments)]
    fn answer_with_ticket(
        &mut self,
        now: Timestamp,
        sa: &IkeSa,
        c: &Ciphers,
        our_auth: &OurAuth,
        plan: &ChildPlan,
        req: &AuthRequest<'_>,
        session: &mut Session,
        out: &mut [u8],
    ) -> Option<(usize, TicketAnswer)> {
        let mut ticket_buf = [0u8; MAX_VALUE_TICKET_LEN + 4];
        let mut ticket = if req.ticket_request {
            self.issue_for(now, session, sa.ticket_base(), &mut ticket_buf)
        } else {
            TicketAnswer::None
        };
        let local_id = self.config.local_id;
        let max_len = self.config.responder.tickets.max_message_len;
        let lifetime = auth_lifetime(session.ticket.reauth_deadline, now.secs());
        let (n, withdrawn) = fit_ticket(&mut ticket, max_len, |t| {
            let reply = AuthAnswer {
                idr: IdRepr {
                    id_type: local_id.id_type,
                    data: local_id.data(),
                },
                auth: &our_auth.data[..our_auth.len],
                address: plan.address,
                child: plan.child.as_ref(),
                child_error: plan.error,
                ticket: t,
                ticket_buf: &ticket_buf,
                auth_lifetime: lifetime,
            };
            self.build_answer(sa, c, &reply, out)
        });
        // RFC 5723 §4.1: TICKET_ACK when the ticket is not sent now; the
        // peer asks again with an INFORMATIONAL exchange.
        if withdrawn
            && let (Some((id, _)), Some(store)) = (session.issued.take(), &self.shared.store)
        {
            let _ = store.remove(&id);
        }
        Some((n?, ticket))
    }

    /// The SA is established: its peer may have floated (RFC 7296 §2.23),
    /// it lives until its re-authentication deadline.
    fn establish(&mut self, meta: &PacketMeta, sa: &mut IkeSa, session: Session) {
        sa.peer = meta.peer;
        sa.local = meta.local;
        sa.deadline = Timestamp::from_secs(session.ticket.reauth_deadline);
        self.schedule(sa.spi_r, sa.deadline);
        if let Some(id_i) = session.ticket.id_i() {
            self.by_identity.insert(&id_i, sa.spi_r);
        }
        for c in &session.children {
            self.child_spis.insert(c.spis.spi_r);
        }
        sa.state = SaState::Established(Box::new(session));
        // The AUTH payloads are verified: the nonces are not needed again
        // (see `IkeSa::ni`).
        sa.ni = Vec::new();
        sa.nr = Vec::new();
    }

    /// Give back the internal address of an exchange that fails late.
    fn release(&self, address: Option<core::net::IpAddr>, owner: &LeaseOwner) {
        if let (Some(a), Some(pool)) = (address, self.shared.pool.as_ref()) {
            pool.release(a, owner.as_bytes());
        }
    }

    /// A malformed request: counted, answered INVALID_SYNTAX.
    fn malformed(&mut self) -> Refusal {
        self.counters.bump(SlowPathCounter::Malformed);
        Refusal::Notify(NotifyType::INVALID_SYNTAX)
    }

    /// `HDR, SK {IDr, AUTH, [CP(CFG_REPLY)], SAr2, TSi, TSr | N(error) [, N(TICKET_*)]}`.
    fn build_answer(
        &mut self,
        sa: &IkeSa,
        c: &Ciphers,
        reply: &AuthAnswer<'_>,
        out: &mut [u8],
    ) -> Option<usize> {
        let hdr = HeaderRepr::responder_response(sa.spi_i, sa.spi_r, ExchangeType::IKE_AUTH, 1);
        protected(out, &hdr, &c.outbound, &mut *self.rng, |b| reply.push(b))
    }

    /// Answer `SK {N(notify)}`: the exchange failed (RFC 7296 §2.21.2). The
    /// answer is kept for retransmissions until the SA's deadline.
    fn fail(
        &mut self,
        sa: &mut IkeSa,
        c: &Ciphers,
        request: &[u8],
        notify: NotifyType,
        out: &mut [u8],
    ) -> Outcome {
        let hdr = HeaderRepr::responder_response(sa.spi_i, sa.spi_r, ExchangeType::IKE_AUTH, 1);
        let n = protected_notify(out, &hdr, &c.outbound, &mut *self.rng, notify, &[]);
        if let Some(n) = n {
            self.failed += 1;
            sa.state = SaState::Failed {
                request: request.to_vec(),
                response: out[..n].to_vec(),
            };
        }
        Outcome::reply(n)
    }
}
