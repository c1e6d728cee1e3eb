//! The resumed IKE_AUTH (RFC 5723 §4.3.3):
//!
//! ```text
//! HDR, SK {IDi, [IDr,] AUTH, [CP(CFG_REQUEST),] SAi2, TSi, TSr [, N(TICKET_REQUEST)]}  -->
//!                  <--  HDR, SK {IDr, AUTH, [CP(CFG_REPLY),] SAr2, TSi, TSr [, N(TICKET_*)]}
//! ```

use core::net::IpAddr;

use super::halfopen::{Entry, Slot};
use super::{
    Counter, Handled, PacketMeta, ResponderConfig, ResumeResponder, TicketIssuePolicy, copy_reply,
};
use crate::child::{self, ChildError, SelectedEsp, esp_transforms, single_address};
use crate::crypto::{AuthForm, ChildKeys, PrfAlg, Role, SkCipher, resume_auth, verify_resume_auth};
use crate::handoff::{ChildSa, EstablishedSa, IssuedTicket, Origin, TsRange};
use crate::rand::RandomSource;
use crate::ticket::TicketId;
use crate::ticket::format::{MAX_VALUE_TICKET_LEN, TicketKind, seal};
use crate::ticket::keyring::TicketKeyRing;
use crate::ticket::state::{MAX_ID_DATA, TicketState};
use crate::ticket::store::TicketStore;
use crate::time::Timestamp;
use crate::wire::{
    AuthMethod, AuthRepr, CfgAttr, CfgAttrType, CfgType, CpRepr, ExchangeType, HEADER_LEN,
    HeaderRepr, IdRepr, IkeHeader, Message, MessageBuilder, NotifyRepr, NotifyType, Payload,
    PayloadIter, PayloadType, ProposalSpec, ProtocolId, SaRepr, TrafficSelector, TsRepr, WireError,
};

/// The IKE_AUTH request's inner payloads that matter here.
/// (The full exchange's IKE_AUTH carries the same payloads.)
#[derive(Default)]
pub(crate) struct AuthRequest<'a> {
    pub(crate) idi: Option<(IdRepr<'a>, &'a [u8])>,
    pub(crate) idr: Option<IdRepr<'a>>,
    pub(crate) auth: Option<AuthRepr<'a>>,
    pub(crate) cert: bool,
    pub(crate) sa: Option<SaRepr<'a>>,
    pub(crate) tsi: Option<TsRepr<'a>>,
    pub(crate) tsr: Option<TsRepr<'a>>,
    pub(crate) cp: Option<CpRepr<'a>>,
    pub(crate) ticket_request: bool,
}

pub(crate) fn read_inner(
    first: PayloadType,
    plaintext: &[u8],
) -> Result<AuthRequest<'_>, WireError> {
    let mut r = AuthRequest::default();
    for raw in PayloadIter::new(first, plaintext) {
        let raw = raw?;
        match raw.parse()? {
            Payload::IdI(id) => r.idi = Some((id, raw.body)),
            Payload::IdR(id) => r.idr = Some(id),
            Payload::Auth(a) => r.auth = Some(a),
            Payload::Cert(_) => r.cert = true,
            Payload::Sa(sa) => r.sa = Some(sa),
            Payload::TsI(ts) => r.tsi = Some(ts),
            Payload::TsR(ts) => r.tsr = Some(ts),
            Payload::Cp(cp) => r.cp = Some(cp),
            Payload::Notify(n) if n.notify_type == NotifyType::TICKET_REQUEST => {
                r.ticket_request = true;
            }
            // CERTREQ, Vendor IDs and status notifies (INITIAL_CONTACT,
            // ...) do not change a resumption.
            _ => {}
        }
    }
    Ok(r)
}

/// The SA's SK ciphers for one IKE_AUTH.
#[derive(Clone, Copy)]
struct SkPair<'a> {
    /// Encrypts our answer.
    outbound: &'a SkCipher,
    /// Decrypts the initiator's request.
    inbound: &'a SkCipher,
}

/// What the answer carries besides IDr and AUTH.
pub(crate) enum TicketAnswer {
    None,
    Issued { len: usize },
    Ack,
    Nack,
}

/// The child SA the answer describes.
pub(crate) struct ChildOutcome {
    pub(crate) esp: SelectedEsp,
    pub(crate) spi_r: [u8; 4],
    pub(crate) ts_i: Vec<TsRange>,
    pub(crate) ts_r: Vec<TsRange>,
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
        let sa = EstablishedSa {
            spi_i: e.spi_i,
            spi_r: e.spi_r,
            peer: meta.peer,
            local: meta.local,
            nat: p.nat,
            id_i: t.id_i,
            id_r: t.id_r,
            peer_identity: t.peer_identity,
            auth_method: t.auth_method,
            suite: t.suite.suite,
            dh_group: t.suite.dh_group,
            ni: e.ni.clone(),
            nr: e.nr.clone(),
            keys: p.keys.clone(),
            child,
            internal_addr: address,
            new_ticket,
            origin: Origin::Resumed {
                replaces: (t.old_spi_i, t.old_spi_r),
                auth_form: form,
            },
            worker: self.config.worker_id,
            established_at: now,
            authenticated_at: t.issued_at,
            reauth_deadline: t.reauth_deadline,
        };
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

/// Which address family a CP(CFG_REQUEST) asks for, if any.
pub(crate) fn requested_family(cp: &CpRepr<'_>) -> Option<bool> {
    cp.attributes().find_map(|a| match a.attr_type {
        CfgAttrType::INTERNAL_IP4_ADDRESS => Some(false),
        CfgAttrType::INTERNAL_IP6_ADDRESS => Some(true),
        _ => None,
    })
}

/// The value of CP(CFG_REPLY)'s address attribute: INTERNAL_IP4_ADDRESS,
/// or INTERNAL_IP6_ADDRESS with its prefix length (RFC 7296 §3.15.1).
enum CpReplyValue {
    V4([u8; 4]),
    V6([u8; 17]),
}

impl CpReplyValue {
    fn new(address: IpAddr) -> Self {
        match address {
            IpAddr::V4(a) => CpReplyValue::V4(a.octets()),
            IpAddr::V6(a) => {
                let mut v = [0u8; 17];
                v[..16].copy_from_slice(&a.octets());
                v[16] = 128;
                CpReplyValue::V6(v)
            }
        }
    }

    fn attr(&self) -> CfgAttr<'_> {
        match self {
            CpReplyValue::V4(a) => CfgAttr {
                attr_type: CfgAttrType::INTERNAL_IP4_ADDRESS,
                value: a,
            },
            CpReplyValue::V6(a) => CfgAttr {
                attr_type: CfgAttrType::INTERNAL_IP6_ADDRESS,
                value: a,
            },
        }
    }
}

impl ChildOutcome {
    /// The child SA as handed off, with its keys.
    pub(crate) fn into_child_sa(self, keys: ChildKeys) -> ChildSa {
        ChildSa {
            spi_i: self.esp.peer_spi,
            spi_r: self.spi_r,
            encr: self.esp.encr,
            integ: self.esp.integ,
            esn: self.esp.esn,
            keys,
            ts_i: self.ts_i,
            ts_r: self.ts_r,
        }
    }
}

/// RFC 7296 §2.7, §2.9: the child SA's ESP suite, narrowed selectors and
/// our SPI; a client given an internal address gets exactly that address
/// as TSi.
pub(crate) fn negotiate_child(
    config: &ResponderConfig,
    rng: &mut dyn RandomSource,
    sa: &SaRepr<'_>,
    tsi: &TsRepr<'_>,
    tsr: &TsRepr<'_>,
    address: Option<IpAddr>,
) -> Result<ChildOutcome, ChildError> {
    // RFC 7296 §2.7: one proposal chosen, from the peer's in its order.
    let esp = child::choose_esp(&config.esp, sa)?;
    // RFC 7296 §2.9: the responder narrows the selectors to its policy.
    let ts_i = match address {
        Some(a) => child::narrow(&[single_address(a)], tsi)?,
        None => child::narrow(&config.ts_remote, tsi)?,
    };
    let ts_r = child::narrow(&config.ts_local, tsr)?;
    let mut spi_r = [0u8; 4];
    // SPI values 1..=255 are reserved (RFC 4303 §2.1) and 0 is invalid.
    while u32::from_be_bytes(spi_r) < 256 {
        rng.fill(&mut spi_r);
    }
    Ok(ChildOutcome {
        esp,
        spi_r,
        ts_i,
        ts_r,
    })
}

/// RFC 5723 §4.1 with §6.2: a ticket for `state`, living no longer than
/// the SA, its re-authentication deadline, the issuing key, or the policy
/// maximum. The 4-byte lifetime and the ticket are written to `buf`.
pub(crate) fn issue_ticket(
    policy: TicketIssuePolicy,
    ring: &TicketKeyRing,
    store: Option<&dyn TicketStore>,
    rng: &mut dyn RandomSource,
    now: Timestamp,
    state: &mut TicketState,
    buf: &mut [u8],
) -> TicketAnswer {
    let Some(kind) = policy.kind else {
        return TicketAnswer::Nack;
    };
    let now_s = now.secs();
    let Some(key) = ring.issuing_key(now_s) else {
        return TicketAnswer::Nack;
    };
    let lifetime = policy
        .ike_lifetime_secs
        .min(policy.max_lifetime_secs)
        .min(state.reauth_deadline.saturating_sub(now_s))
        .min(key.accept_until().saturating_sub(now_s))
        .min(u64::from(u32::MAX));
    if lifetime == 0 {
        return TicketAnswer::Nack;
    }
    state.expiry = now_s + lifetime;
    let store = if kind == TicketKind::ByReference {
        store
    } else {
        None
    };
    if buf.len() < 4 {
        return TicketAnswer::Nack;
    }
    let (lt, body) = buf.split_at_mut(4);
    match seal(kind, state, ring, store, rng, now_s, body) {
        Ok(len) => {
            // Bounded by u32::MAX above.
            let lifetime = u32::try_from(lifetime).unwrap_or(u32::MAX);
            lt.copy_from_slice(&lifetime.to_be_bytes());
            TicketAnswer::Issued { len }
        }
        Err(_) => TicketAnswer::Nack,
    }
}

/// The payloads of a successful IKE_AUTH answer, resumed or full:
/// `IDr, AUTH, [CP(CFG_REPLY),] SAr2, TSi, TSr | N(child error) [, N(TICKET_*)]`.
pub(crate) struct AuthAnswer<'a> {
    pub(crate) idr: IdRepr<'a>,
    pub(crate) auth: &'a [u8],
    /// The internal address given with CP(CFG_REPLY).
    pub(crate) address: Option<IpAddr>,
    pub(crate) child: Option<&'a ChildOutcome>,
    pub(crate) child_error: Option<ChildError>,
    pub(crate) ticket: &'a TicketAnswer,
    /// Lifetime and ticket, as [`issue_ticket`] wrote them.
    pub(crate) ticket_buf: &'a [u8],
}

impl AuthAnswer<'_> {
    /// Push the payloads into an SK section.
    pub(crate) fn push(&self, b: &mut MessageBuilder<'_>) -> Result<(), WireError> {
        let cp_value = self.address.map(CpReplyValue::new);
        let cp_attr = cp_value.as_ref().map(|v| [v.attr()]);
        let cp = cp_attr.as_ref().map(|a| CpRepr::new(CfgType::CFG_REPLY, a));
        let tf = self.child.map(|c| esp_transforms(&c.esp.suite()));
        let child_spi = self.child.map(|c| c.spi_r).unwrap_or_default();
        let selectors = |ts: fn(&ChildOutcome) -> &[TsRange]| -> Vec<TrafficSelector<'static>> {
            self.child
                .map(|c| ts(c).iter().map(TsRange::selector).collect())
                .unwrap_or_default()
        };
        let sel_i = selectors(|c| &c.ts_i);
        let sel_r = selectors(|c| &c.ts_r);
        let proposals = self.child.zip(tf.as_ref()).map(|(c, (t, n))| {
            [ProposalSpec {
                num: c.esp.proposal_num,
                protocol: ProtocolId::ESP,
                spi: &child_spi,
                transforms: &t[..*n],
            }]
        });
        b.push(&Payload::IdR(self.idr))?;
        b.push(&Payload::Auth(AuthRepr {
            method: AuthMethod::SHARED_KEY_MIC,
            data: self.auth,
        }))?;
        if let Some(cp) = &cp {
            b.push(&Payload::Cp(*cp))?;
        }
        match (&proposals, self.child_error) {
            (Some(props), None) => {
                b.push(&Payload::Sa(SaRepr::new(props)))?;
                b.push(&Payload::TsI(TsRepr::new(&sel_i)))?;
                b.push(&Payload::TsR(TsRepr::new(&sel_r)))?;
            }
            // RFC 7296 §2.21.1: the IKE SA is up; the child SA's failure
            // is reported with its error notify.
            (_, Some(err)) => b.push(&Payload::Notify(NotifyRepr::ike(err.notify(), &[])))?,
            (None, None) => {}
        }
        push_ticket_answer(b, self.ticket, self.ticket_buf)
    }
}

/// N(TICKET_LT_OPAQUE), N(TICKET_ACK) or N(TICKET_NACK), if any.
pub(crate) fn push_ticket_answer(
    b: &mut MessageBuilder<'_>,
    answer: &TicketAnswer,
    ticket_buf: &[u8],
) -> Result<(), WireError> {
    let n = match answer {
        TicketAnswer::Issued { len } => NotifyRepr::ike(
            NotifyType::TICKET_LT_OPAQUE,
            ticket_buf
                .get(..4 + len)
                .ok_or(WireError::Unrepresentable("ticket"))?,
        ),
        TicketAnswer::Ack => NotifyRepr::ike(NotifyType::TICKET_ACK, &[]),
        TicketAnswer::Nack => NotifyRepr::ike(NotifyType::TICKET_NACK, &[]),
        TicketAnswer::None => return Ok(()),
    };
    b.push(&Payload::Notify(n))
}

/// A protected message carrying one notify about the IKE SA (an error
/// answer, or a refusal).
pub(crate) fn protected_notify(
    out: &mut [u8],
    hdr: &HeaderRepr,
    outbound: &SkCipher,
    rng: &mut dyn RandomSource,
    notify: NotifyType,
    data: &[u8],
) -> Option<usize> {
    protected(out, hdr, outbound, rng, |b| {
        b.push(&Payload::Notify(NotifyRepr::ike(notify, data)))
    })
}

/// Build a message whose payloads all sit in one SK payload, and protect
/// it with a fresh IV.
pub(crate) fn protected(
    out: &mut [u8],
    hdr: &HeaderRepr,
    outbound: &SkCipher,
    rng: &mut dyn RandomSource,
    push: impl FnOnce(&mut MessageBuilder<'_>) -> Result<(), WireError>,
) -> Option<usize> {
    let iv_len = outbound.layout(0).iv_len;
    let mut b = MessageBuilder::new(out, hdr).ok()?;
    b.begin_sk(iv_len).ok()?;
    push(&mut b).ok()?;
    let sec = b.end_sk(|pt| outbound.layout(pt).trailer_len()).ok()?;
    let n = b.finish().ok()?;
    let mut iv = [0u8; 16];
    let iv = iv.get_mut(..iv_len)?;
    rng.fill(iv);
    outbound
        .protect(out.get_mut(..n)?, sec.sk_offset, sec.plaintext.len(), iv)
        .ok()?;
    Some(n)
}
