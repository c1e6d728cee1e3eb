//! IKE_AUTH with a pre-shared key (RFC 7296 §1.2, §2.15), the first child
//! SA, and the ticket (RFC 5723 §4.1):
//!
//! ```text
//! HDR, SK {IDi, [IDr], AUTH, [CP(CFG_REQUEST)], SAi2, TSi, TSr, [N(TICKET_REQUEST)]}  -->
//!     <--  HDR, SK {IDr, AUTH, [CP(CFG_REPLY)], SAr2, TSi, TSr, [N(TICKET_LT_OPAQUE | TICKET_ACK | TICKET_NACK)]}
//! ```

use super::session::open_sk;
use super::{
    Ciphers, IkeSa, Outcome, SaEvent, SaState, Session, SlowPathCounter, SlowPathResponder,
};
use crate::crypto::{ChildKeys, PrfAlg, psk_auth, verify_psk_auth};
use crate::handoff::{EstablishedSa, NewSa, Origin};
use crate::ike_auth::{
    AuthAnswer, TicketAnswer, negotiate_child, protected, protected_notify, read_inner,
    requested_family,
};
use crate::responder::PacketMeta;
use crate::ticket::TicketId;
use crate::ticket::format::MAX_VALUE_TICKET_LEN;
use crate::ticket::state::{MAX_ID_DATA, TicketIdentity, TicketState, TicketSuite};
use crate::time::Timestamp;
use crate::wire::{AuthMethod, CfgType, ExchangeType, HeaderRepr, IdRepr, NotifyType};

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
        let outcome = self.ike_auth_open(now, meta, sa, c, datagram, &mut scratch, out);
        self.scratch = scratch;
        (outcome, true)
    }

    #[allow(clippy::too_many_arguments)]
    fn ike_auth_open(
        &mut self,
        now: Timestamp,
        meta: &PacketMeta,
        sa: &mut IkeSa,
        c: &Ciphers,
        datagram: &[u8],
        scratch: &mut Vec<u8>,
        out: &mut [u8],
    ) -> Outcome {
        // RFC 7296 §2.21.2: a message failing its integrity check is
        // dropped; the half-open SA waits for a genuine one.
        let Some((range, first)) = open_sk(&c.inbound, datagram, scratch) else {
            self.counters.bump(SlowPathCounter::IntegrityFailed);
            return Outcome::default();
        };
        let req = match read_inner(first, &scratch[range]) {
            Ok(r) => r,
            Err(_) => {
                self.counters.bump(SlowPathCounter::Malformed);
                return self.fail(sa, c, datagram, NotifyType::INVALID_SYNTAX, out);
            }
        };
        let (Some((idi, idi_body)), Some(auth)) = (req.idi, req.auth) else {
            self.counters.bump(SlowPathCounter::Malformed);
            return self.fail(sa, c, datagram, NotifyType::INVALID_SYNTAX, out);
        };
        let child_parts = [req.sa.is_some(), req.tsi.is_some(), req.tsr.is_some()];
        if child_parts.contains(&true) && child_parts.contains(&false) {
            self.counters.bump(SlowPathCounter::Malformed);
            return self.fail(sa, c, datagram, NotifyType::INVALID_SYNTAX, out);
        }
        // RFC 7296 §2.15: the PSK is looked up by the peer's identity.
        let Some(psk) = self.psks.get(idi.id_type, idi.data).cloned() else {
            self.counters.bump(SlowPathCounter::AuthUnknownIdentity);
            return self.fail(sa, c, datagram, NotifyType::AUTHENTICATION_FAILED, out);
        };
        let local_id = self.config.local_id;
        let idr_ok = req.idr.is_none_or(|r| local_id.matches(r.id_type, r.data));
        if auth.method != AuthMethod::SHARED_KEY_MIC || !idr_ok {
            self.counters.bump(SlowPathCounter::AuthRefused);
            return self.fail(sa, c, datagram, NotifyType::AUTHENTICATION_FAILED, out);
        }
        let SaState::HalfOpen {
            init_request,
            init_response,
        } = &sa.state
        else {
            return Outcome::default();
        };
        let prf = sa.suite.prf();
        // RFC 7296 §2.15: AUTH = prf( prf(Shared Secret, "Key Pad for
        // IKEv2"), <InitiatorSignedOctets>), the octets being the
        // IKE_SA_INIT request, Nr and prf(SK_pi, IDi').
        if !verify_psk_auth(
            prf,
            psk.secret.as_bytes(),
            sa.keys.sk_pi.as_bytes(),
            init_request,
            &sa.nr,
            idi_body,
            auth.data,
        ) {
            self.counters.bump(SlowPathCounter::AuthFailed);
            return self.fail(sa, c, datagram, NotifyType::AUTHENTICATION_FAILED, out);
        }
        let Some(id_i) = TicketIdentity::new(idi.id_type, idi.data) else {
            self.counters.bump(SlowPathCounter::Malformed);
            return self.fail(sa, c, datagram, NotifyType::INVALID_SYNTAX, out);
        };
        // Our AUTH over the IKE_SA_INIT response, Ni and prf(SK_pr, IDr').
        let idr = IdRepr {
            id_type: local_id.id_type,
            data: local_id.data(),
        };
        let mut idr_body = [0u8; 4 + MAX_ID_DATA];
        let idr_len = idr.body_len();
        let mut our_auth = [0u8; PrfAlg::MAX_OUTPUT_LEN];
        let auth_len = idr_body
            .get_mut(..idr_len)
            .and_then(|b| idr.emit_body(b).ok())
            .and_then(|()| {
                psk_auth(
                    prf,
                    psk.secret.as_bytes(),
                    sa.keys.sk_pr.as_bytes(),
                    init_response,
                    &sa.ni,
                    &idr_body[..idr_len],
                    &mut our_auth,
                )
                .ok()
            });
        let Some(auth_len) = auth_len else {
            return Outcome::default();
        };

        // The child SA and its internal address.
        let mut owner = [0u8; 1 + MAX_ID_DATA];
        let owner_len = id_i.revocation_key(&mut owner);
        let owner = &owner[..owner_len];
        let mut child_error = None;
        let mut address = None;
        if let (Some(cp), Some(pool)) = (req.cp, self.shared.pool.as_ref())
            && cp.cfg_type == CfgType::CFG_REQUEST
            && let Some(v6) = requested_family(&cp)
        {
            match pool.lease(owner, None, v6) {
                Ok(a) => address = Some(a),
                Err(e) => child_error = Some(e),
            }
        }
        let mut child = None;
        if child_error.is_none()
            && let (Some(sa2), Some(tsi), Some(tsr)) = (req.sa, req.tsi, req.tsr)
        {
            match negotiate_child(
                &self.config.responder,
                &mut *self.rng,
                &sa2,
                &tsi,
                &tsr,
                address,
            ) {
                Ok(c) => child = Some(c),
                Err(e) => child_error = Some(e),
            }
        }
        if child_error.is_some() {
            self.counters.bump(SlowPathCounter::ChildRefused);
            if let (Some(a), Some(pool)) = (address.take(), self.shared.pool.as_ref()) {
                pool.release(a, owner);
            }
        }
        let child_keys = match child.as_ref().map(|c| {
            ChildKeys::derive(
                prf,
                sa.keys.sk_d.as_bytes(),
                None,
                &sa.ni,
                &sa.nr,
                c.esp.encr,
                c.esp.integ,
            )
        }) {
            Some(Ok(k)) => Some(k),
            Some(Err(_)) => {
                if let (Some(a), Some(pool)) = (address, self.shared.pool.as_ref()) {
                    pool.release(a, owner);
                }
                return self.fail(sa, c, datagram, NotifyType::INVALID_SYNTAX, out);
            }
            None => None,
        };

        let now_s = now.secs();
        let reauth_deadline = now_s.saturating_add(self.config.reauth_secs);
        let ticket = TicketState {
            ticket_id: TicketId([0; 16]),
            id_i,
            id_r: local_id,
            peer_identity: None,
            auth_method: AuthMethod::SHARED_KEY_MIC,
            suite: TicketSuite {
                suite: sa.suite,
                dh_group: sa.dh_group,
            },
            sk_d: sa.keys.sk_d.clone(),
            old_spi_i: sa.spi_i,
            old_spi_r: sa.spi_r,
            internal_addr: address,
            issued_at: now_s,
            expiry: 0,
            reauth_deadline,
        };
        let mut session = Session {
            next_id: 2,
            last_request: datagram.to_vec(),
            last_response: Vec::new(),
            ticket,
            tickets_allowed: psk.tickets,
            issued: None,
            children: child.iter().map(|c| (c.esp.peer_spi, c.spi_r)).collect(),
        };
        let mut ticket_buf = [0u8; MAX_VALUE_TICKET_LEN + 4];
        let mut answer = if req.ticket_request {
            self.issue_for(now, &mut session, &mut ticket_buf)
        } else {
            TicketAnswer::None
        };
        let ack = TicketAnswer::Ack;
        let mut reply = AuthAnswer {
            idr,
            auth: &our_auth[..auth_len],
            address,
            child: child.as_ref(),
            child_error,
            ticket: &answer,
            ticket_buf: &ticket_buf,
        };
        let mut n = self.build_answer(sa, c, &reply, out);
        let mut acked = false;
        if let (Some(len), TicketAnswer::Issued { .. }) = (n, reply.ticket)
            && len > self.config.responder.tickets.max_message_len
        {
            // RFC 5723 §4.1: TICKET_ACK when the ticket is not sent now;
            // the peer asks again with an INFORMATIONAL exchange.
            if let (Some((id, _)), Some(store)) = (session.issued.take(), &self.shared.store) {
                let _ = store.remove(&id);
            }
            reply.ticket = &ack;
            n = self.build_answer(sa, c, &reply, out);
            acked = true;
        }
        if acked {
            answer = TicketAnswer::Ack;
        }
        let Some(n) = n else {
            if let (Some(a), Some(pool)) = (address, self.shared.pool.as_ref()) {
                pool.release(a, owner);
            }
            return Outcome::default();
        };
        self.counters.bump(SlowPathCounter::Established);
        match answer {
            TicketAnswer::Issued { .. } => self.counters.bump(SlowPathCounter::TicketsIssued),
            TicketAnswer::Ack => self.counters.bump(SlowPathCounter::TicketsAcked),
            TicketAnswer::Nack => self.counters.bump(SlowPathCounter::TicketsRefused),
            TicketAnswer::None => {}
        }
        session.last_response = out[..n].to_vec();
        let new_ticket = session
            .issued
            .map(|(id, expiry)| crate::handoff::IssuedTicket { id, expiry });
        let child = match (child, child_keys) {
            (Some(c), Some(keys)) => Some(c.into_child_sa(keys)),
            _ => None,
        };
        // The session's ticket state records this authentication: IDi,
        // our IDr, the PSK method, the suite, now, the re-auth deadline.
        let established = EstablishedSa::new(
            &session.ticket,
            NewSa {
                spi_i: sa.spi_i,
                spi_r: sa.spi_r,
                peer: meta.peer,
                local: meta.local,
                nat: sa.nat,
                ni: sa.ni.clone(),
                nr: sa.nr.clone(),
                keys: sa.keys.clone(),
                child,
                internal_addr: address,
                new_ticket,
            },
            Origin::Initial,
            super::CONTROL_SPI_TAG,
            now,
        );
        // The peer may have floated to port 4500 (RFC 7296 §2.23).
        sa.peer = meta.peer;
        sa.local = meta.local;
        sa.deadline = Timestamp::from_secs(reauth_deadline);
        self.schedule(sa.spi_r, sa.deadline);
        sa.state = SaState::Established(Box::new(session));
        Outcome {
            reply: Some(n),
            event: Some(SaEvent::Established(Box::new(established))),
        }
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
