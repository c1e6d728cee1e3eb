//! The resumed IKE_AUTH (RFC 5723 §4.3.3), the workers' second stage; what
//! it shares with the slow path's IKE_AUTH lives in [`crate::ike_auth`]:
//!
//! ```text
//! HDR, SK {IDi, [IDr,] AUTH, [CP(CFG_REQUEST),] SAi2, TSi, TSr [, N(TICKET_REQUEST)]}  -->
//!                  <--  HDR, SK {IDr, AUTH, [CP(CFG_REPLY),] SAr2, TSi, TSr [, N(TICKET_*)]}
//! ```

use core::net::IpAddr;

use super::halfopen::{Entry, Slot};
use super::{Counter, Handled, PacketMeta, ResumeResponder, copy_reply};
use crate::child::ChildError;
use crate::crypto::{AuthForm, ChildKeys, PrfAlg, Role, SkCipher, resume_auth, verify_resume_auth};
use crate::handoff::{EstablishedSa, IssuedTicket, NewSa, Origin};
use crate::ike_auth::{
    AuthAnswer, ChildOutcome, TicketAnswer, issue_ticket, negotiate_child, protected,
    protected_notify, read_inner, requested_family,
};
use crate::ticket::TicketId;
use crate::ticket::format::MAX_VALUE_TICKET_LEN;
use crate::ticket::state::MAX_ID_DATA;
use crate::time::Timestamp;
use crate::wire::{
    AuthMethod, CfgType, ExchangeType, HEADER_LEN, HeaderRepr, IdRepr, IkeHeader, Message,
    NotifyType, PayloadType,
};

/// The SA's SK ciphers for one IKE_AUTH.
#[derive(Clone, Copy)]
struct SkPair<'a> {
    /// Encrypts our answer.
    outbound: &'a SkCipher,
    /// Decrypts the initiator's request.
    inbound: &'a SkCipher,
}

impl ResumeResponder {
    pub(super) fn ike_auth(
        &mut self,
        now: Timestamp,
        meta: &PacketMeta,
        datagram: &[u8],
        out: &mut [u8],
    ) -> Handled {
        // A resumed IKE_AUTH is a few hundred bytes; nothing larger is
        // decrypted or cached.
        if datagram.len() > self.config.max_request_len {
            self.counters.bump(Counter::AuthBadHeader);
            return Handled::default();
        }
        let Ok(h) = IkeHeader::new_checked(datagram).and_then(|h| HeaderRepr::parse(&h)) else {
            self.counters.bump(Counter::AuthBadHeader);
            return Handled::default();
        };
        let Some(slot) = self.table.by_spi_r(&h.spi_r) else {
            self.counters.bump(Counter::AuthUnknownSpi);
            return Handled::default();
        };
        let e = self.table.entry(slot);
        // RFC 7296 §2.2: the IKE_AUTH request is message 1 from the
        // original initiator, with the SPIi it opened the exchange with.
        if h.spi_i != e.spi_i || h.message_id != 1 || !h.flags.initiator() || h.flags.response() {
            self.counters.bump(Counter::AuthBadHeader);
            return Handled::default();
        }
        if self.table.get(slot).1.is_none() {
            // Answered already: RFC 7296 §2.1, a retransmission gets the
            // same answer; anything else for this SA is dropped.
            if e.auth_request == datagram {
                self.counters.bump(Counter::AuthRetransmits);
                return copy_reply(out, &e.auth_response);
            }
            self.counters.bump(Counter::AuthConflict);
            return Handled::default();
        }
        self.counters.bump(Counter::AuthRequests);

        // Find the SK payload (the only payload of the request).
        let Ok(msg) = Message::parse(datagram) else {
            self.counters.bump(Counter::AuthIntegrityFailed);
            return Handled::default();
        };
        let sk = msg
            .payloads()
            .next()
            .and_then(Result::ok)
            .filter(|p| p.ptype == PayloadType::SK);
        let Some(sk) = sk else {
            self.counters.bump(Counter::AuthIntegrityFailed);
            return Handled::default();
        };
        let sk_offset = HEADER_LEN + sk.offset;
        let first_inner = sk.next;

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
        let result = self.ike_auth_decrypted(
            sk,
            now,
            meta,
            slot,
            &mut scratch,
            sk_offset,
            first_inner,
            out,
        );
        self.scratch = scratch;
        if result.reply.is_some() {
            let deadline = now.plus_millis(self.config.half_open_timeout_ms);
            let n = result.reply.unwrap_or(0);
            let e = self.table.entry_mut(slot);
            e.auth_request.clear();
            e.auth_request.extend_from_slice(datagram);
            e.auth_response.clear();
            e.auth_response.extend_from_slice(&out[..n]);
            for _ in 0..self.table.complete(slot, deadline) {
                self.counters.bump(Counter::AuthCacheEvicted);
            }
        }
        result
    }

    #[allow(clippy::too_many_arguments)]
    fn ike_auth_decrypted(
        &mut self,
        sk: SkPair<'_>,
        now: Timestamp,
        meta: &PacketMeta,
        slot: Slot,
        scratch: &mut [u8],
        sk_offset: usize,
        first_inner: PayloadType,
        out: &mut [u8],
    ) -> Handled {
        let (e, p) = self.table.get(slot);
        let Some(p) = p else {
            return Handled::default();
        };
        // RFC 7296 §2.21.2: a message that fails its integrity check is
        // dropped; the half-open SA stays for a genuine one.
        let Ok(range) = sk.inbound.unprotect(scratch, sk_offset) else {
            self.counters.bump(Counter::AuthIntegrityFailed);
            return Handled::default();
        };
        let plaintext = &scratch[range];
        let req = match read_inner(first_inner, plaintext) {
            Ok(r) => r,
            Err(err) => {
                self.counters.bump(Counter::AuthMalformed);
                self.counters.bump_malformed(err.counter_label());
                return self.fail(slot, NotifyType::INVALID_SYNTAX, sk.outbound, out);
            }
        };
        // RFC 5723 §4.3.3: "A CERT payload MUST NOT be included in this
        // exchange" (the peer is authenticated by SK_pi).
        if req.cert {
            self.counters.bump(Counter::AuthCertPresent);
            return self.fail(slot, NotifyType::AUTHENTICATION_FAILED, sk.outbound, out);
        }
        let (Some((idi, idi_body)), Some(auth)) = (req.idi, req.auth) else {
            self.counters.bump(Counter::AuthMalformed);
            self.counters.bump_malformed("missing_payload");
            return self.fail(slot, NotifyType::INVALID_SYNTAX, sk.outbound, out);
        };
        let child_parts = [req.sa.is_some(), req.tsi.is_some(), req.tsr.is_some()];
        if child_parts.contains(&true) && child_parts.contains(&false) {
            self.counters.bump(Counter::AuthMalformed);
            self.counters.bump_malformed("partial_child_sa");
            return self.fail(slot, NotifyType::INVALID_SYNTAX, sk.outbound, out);
        }
        let ticket = &p.ticket;
        // RFC 5723 §4.3.3: "The IDi value sent in the IKE_AUTH exchange
        // MUST be identical to the value included in the ticket" (and IDr,
        // when sent, is checked the same way).
        let id_ok = ticket.id_i.matches(idi.id_type, idi.data)
            && req
                .idr
                .is_none_or(|r| ticket.id_r.matches(r.id_type, r.data));
        if !id_ok {
            self.counters.bump(Counter::AuthIdMismatch);
            return self.fail(slot, NotifyType::AUTHENTICATION_FAILED, sk.outbound, out);
        }
        if auth.method != AuthMethod::SHARED_KEY_MIC {
            self.counters.bump(Counter::AuthBadMethod);
            return self.fail(slot, NotifyType::AUTHENTICATION_FAILED, sk.outbound, out);
        }
        let suite = ticket.suite.suite;
        let prf = suite.prf();
        // RFC 5723 §4.3.3: AUTH = prf(SK_pi, <InitiatorSignedOctets>), with
        // the IKE_SESSION_RESUME request as RealMessage1; libreswan's
        // message-only form is accepted too.
        let Some(form) = verify_resume_auth(
            prf,
            p.keys.sk_pi.as_bytes(),
            &e.request,
            &e.nr,
            idi_body,
            auth.data,
        ) else {
            self.counters.bump(Counter::AuthFailed);
            return self.fail(slot, NotifyType::AUTHENTICATION_FAILED, sk.outbound, out);
        };

        // The ticket was checked when the exchange began; a revocation
        // since then (RFC 5723 §9.8) must still stop it.
        if let Some(rev) = &self.shared.revocations {
            let mut key = [0u8; 1 + MAX_ID_DATA];
            let ids = [Some(&ticket.id_i), ticket.peer_identity.as_ref()];
            let revoked = ids.into_iter().flatten().any(|id| {
                let n = id.revocation_key(&mut key);
                rev.check(&ticket.ticket_id, &key[..n], ticket.issued_at, now.secs())
                    .is_err()
            });
            if revoked {
                self.counters.bump(Counter::NackRevoked);
                return self.fail(slot, NotifyType::TICKET_NACK, sk.outbound, out);
            }
        }

        // Child SA, internal address.
        let mut owner = [0u8; 1 + MAX_ID_DATA];
        let owner_len = ticket.id_i.revocation_key(&mut owner);
        let owner = &owner[..owner_len];
        let mut child_error = None;
        let mut address = None;
        if let (Some(cp), Some(pool)) = (req.cp, self.shared.pool.as_ref())
            && cp.cfg_type == CfgType::CFG_REQUEST
            && let Some(v6) = requested_family(&cp)
        {
            // RFC 5723 §5 Note 5: the gateway SHOULD give the client the
            // address it had, so its sessions survive.
            let wanted = ticket.internal_addr.filter(|a| a.is_ipv6() == v6);
            match pool.lease(owner, wanted, v6) {
                Ok(a) => {
                    self.counters.bump(if Some(a) == wanted {
                        Counter::AddressReassigned
                    } else {
                        Counter::AddressNew
                    });
                    address = Some(a);
                }
                Err(err) => child_error = Some(err),
            }
        }
        let mut child = None;
        if child_error.is_none()
            && let (Some(sa), Some(tsi), Some(tsr)) = (req.sa, req.tsi, req.tsr)
        {
            match negotiate_child(&self.config, &mut *self.rng, &sa, &tsi, &tsr, address) {
                Ok(c) => child = Some(c),
                Err(err) => child_error = Some(err),
            }
        }
        if child_error.is_some()
            && let (Some(a), Some(pool)) = (address.take(), self.shared.pool.as_ref())
        {
            pool.release(a, owner);
        }
        if let Some(err) = child_error {
            self.counters.bump(match err {
                ChildError::NoProposalChosen => Counter::ChildNoProposal,
                ChildError::TsUnacceptable => Counter::ChildTsUnacceptable,
                _ => Counter::ChildAddressFailure,
            });
        }

        // The new SA and its ticket state.
        let (e, p) = self.table.get(slot);
        let Some(p) = p else {
            return Handled::default();
        };
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
        let child_keys = child.as_ref().map(|c| {
            ChildKeys::derive(
                prf,
                p.keys.sk_d.as_bytes(),
                None,
                &e.ni,
                &e.nr,
                c.esp.encr,
                c.esp.integ,
            )
        });
        let child_keys = match child_keys.transpose() {
            Ok(k) => k,
            Err(_) => {
                self.undo(address, owner, None);
                return self.fail(slot, NotifyType::INVALID_SYNTAX, sk.outbound, out);
            }
        };

        let mut ticket_buf = [0u8; MAX_VALUE_TICKET_LEN + 4];
        let mut answer = if req.ticket_request {
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
        let mut n = self.build_success(
            sk.outbound,
            slot,
            form,
            address,
            child.as_ref(),
            child_error,
            &answer,
            &ticket_buf,
            out,
        );
        if let (Some(len), TicketAnswer::Issued { .. }) = (n, &answer)
            && len > self.config.tickets.max_message_len
        {
            // RFC 5723 §4.1: TICKET_ACK when the ticket is not sent now.
            if let Some(store) = &self.shared.store {
                let _ = store.remove(&new_state.ticket_id);
            }
            answer = TicketAnswer::Ack;
            n = self.build_success(
                sk.outbound,
                slot,
                form,
                address,
                child.as_ref(),
                child_error,
                &answer,
                &ticket_buf,
                out,
            );
        }
        let issued = matches!(answer, TicketAnswer::Issued { .. }).then_some(new_state.ticket_id);
        let Some(n) = n else {
            self.undo(address, owner, issued);
            return self.fail(slot, NotifyType::INVALID_SYNTAX, sk.outbound, out);
        };

        // RFC 5723 §4.3.1: a ticket resumes one SA. Claimed only now, when
        // the peer has proven it holds the keys and the answer is ready
        // (nothing can fail after the claim); a racing resumption with the
        // same ticket loses here, and what was made for it is undone.
        let (old_id, old_expiry) = {
            let t = &self
                .table
                .get(slot)
                .1
                .map(|p| (p.ticket.ticket_id, p.ticket.expiry));
            match t {
                Some(x) => *x,
                None => return Handled::default(),
            }
        };
        if self
            .shared
            .guard
            .claim(&old_id, old_expiry, now.secs())
            .is_err()
        {
            self.counters.bump(Counter::NackClaimLost);
            self.undo(address, owner, issued);
            return self.fail(slot, NotifyType::TICKET_NACK, sk.outbound, out);
        }
        if let Some(store) = &self.shared.store {
            // A by-reference ticket's state is of no further use.
            let _ = store.remove(&old_id);
        }
        self.counters.bump(match form {
            AuthForm::Rfc => Counter::AuthFormRfc,
            AuthForm::MessageOnly => Counter::AuthFormMessageOnly,
        });
        let new_ticket = match answer {
            TicketAnswer::Issued { .. } => {
                self.counters.bump(Counter::TicketsIssued);
                Some(IssuedTicket {
                    id: new_state.ticket_id,
                    expiry: new_state.expiry,
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
        };

        let (e, p) = self.table.get(slot);
        let Some(p) = p else {
            return Handled::default();
        };
        let t = &p.ticket;
        let child = match (child, child_keys) {
            (Some(c), Some(keys)) => Some(c.into_child_sa(keys)),
            _ => None,
        };
        let sa = EstablishedSa::new(
            t,
            NewSa {
                spi_i: e.spi_i,
                spi_r: e.spi_r,
                peer: meta.peer,
                local: meta.local,
                nat: p.nat,
                ni: e.ni.clone(),
                nr: e.nr.clone(),
                keys: p.keys.clone(),
                child,
                internal_addr: address,
                new_ticket,
            },
            Origin::Resumed {
                replaces: (t.old_spi_i, t.old_spi_r),
                auth_form: form,
            },
            self.config.worker_id,
            now,
        );
        self.counters.bump(Counter::Established);
        Handled {
            reply: Some(n),
            established: Some(Box::new(sa)),
        }
    }

    /// `HDR, SK {IDr, AUTH, [CP(CFG_REPLY),] SAr2, TSi, TSr | N(error) [, N(TICKET_*)]}`.
    #[allow(clippy::too_many_arguments)]
    fn build_success(
        &mut self,
        outbound: &SkCipher,
        slot: Slot,
        form: AuthForm,
        address: Option<IpAddr>,
        child: Option<&ChildOutcome>,
        child_error: Option<ChildError>,
        answer: &TicketAnswer,
        ticket_buf: &[u8],
        out: &mut [u8],
    ) -> Option<usize> {
        let (e, p): (&Entry, _) = self.table.get(slot);
        let p = p?;
        let id_r = &p.ticket.id_r;
        let idr = IdRepr {
            id_type: id_r.id_type,
            data: id_r.data(),
        };
        let mut idr_body = [0u8; 4 + MAX_ID_DATA];
        let idr_len = idr.body_len();
        idr.emit_body(idr_body.get_mut(..idr_len)?).ok()?;
        // RFC 5723 §4.3.3: AUTH = prf(SK_pr, <ResponderSignedOctets>), the
        // IKE_SESSION_RESUME response as RealMessage2, in the initiator's
        // form.
        let mut auth = [0u8; PrfAlg::MAX_OUTPUT_LEN];
        let auth_len = resume_auth(
            p.ticket.suite.suite.prf(),
            p.keys.sk_pr.as_bytes(),
            form,
            &e.response,
            &e.ni,
            &idr_body[..idr_len],
            &mut auth,
        )
        .ok()?;
        let hdr = HeaderRepr::responder_response(e.spi_i, e.spi_r, ExchangeType::IKE_AUTH, 1);
        let answer = AuthAnswer {
            idr,
            auth: &auth[..auth_len],
            address,
            child,
            child_error,
            ticket: answer,
            ticket_buf,
        };
        protected(out, &hdr, outbound, &mut *self.rng, |b| answer.push(b))
    }

    /// Give back what an exchange that fails late had taken: its internal
    /// address lease and its new by-reference ticket's store entry.
    fn undo(&self, address: Option<IpAddr>, owner: &[u8], new_ticket: Option<TicketId>) {
        if let (Some(a), Some(pool)) = (address, self.shared.pool.as_ref()) {
            pool.release(a, owner);
        }
        if let (Some(id), Some(store)) = (new_ticket, self.shared.store.as_ref()) {
            let _ = store.remove(&id);
        }
    }

    /// Answer `SK {N(notify)}` and end the exchange: the half-open SA and
    /// its keys are dropped, the answer is kept for retransmissions.
    fn fail(
        &mut self,
        slot: Slot,
        notify: NotifyType,
        outbound: &SkCipher,
        out: &mut [u8],
    ) -> Handled {
        let e = self.table.entry(slot);
        let hdr = HeaderRepr::responder_response(e.spi_i, e.spi_r, ExchangeType::IKE_AUTH, 1);
        match protected_notify(out, &hdr, outbound, &mut *self.rng, notify, &[]) {
            Some(n) => Handled {
                reply: Some(n),
                established: None,
            },
            None => Handled::default(),
        }
    }
}
