//! Protected requests: the IKE_AUTH of a half-open SA, and on an
//! established SA INFORMATIONAL (RFC 7296 §1.4; RFC 5723 §4.1 ticket
//! requests) and CREATE_CHILD_SA (§1.3.2: an IKE SA rekey here; child SAs
//! in `child_sa`).
//!
//! An IKE SA replaced by a rekey stays until its peer deletes it (RFC 7296
//! §2.18: the initiator deletes the old SA once the new one is made, and
//! that DELETE is the old SA's last request). Until then it answers that
//! DELETE, liveness checks and child deletes (which name nothing: its
//! children moved), but no request that would make state on it: a
//! CREATE_CHILD_SA (child SA or IKE rekey) or a TICKET_REQUEST. Those get
//! N(TEMPORARY_FAILURE). RFC 7296 §2.25 (described, not quoted) gives that
//! notify to a responder asked to act on an SA it is in the middle of
//! rekeying or deleting, telling the initiator the request may succeed
//! later; here it succeeds on the new SA, and no other notify fits a
//! request that is well formed and acceptable in itself.

use core::ops::Range;

use super::packed::TicketBase;
use super::proposal::{IKE_SPI_LEN, choose_ike, selected_transforms};
use super::sa_init::copy_into;
use super::{
    Ciphers, IkeSa, Outcome, SaChange, SaEvent, SaState, Session, SlowPathCounter,
    SlowPathResponder,
};
use crate::crypto::{DhPrivate, IkeKeys, PackedKeys, Role};
use crate::handoff::{ChildSpis, EstablishedSa, NewSa, Origin};
use crate::ike_auth::{
    TicketAnswer, issue_ticket, protected, protected_notify, push_ticket_answer,
};
use crate::responder::{NR_LEN, PacketMeta};
use crate::ticket::format::MAX_VALUE_TICKET_LEN;
use crate::ticket::state::TicketSuite;
use crate::time::Timestamp;
use crate::wire::{
    DeleteRepr, ExchangeType, HEADER_LEN, HeaderRepr, KeRepr, Message, NonceRepr, NotifyType,
    Payload, PayloadIter, PayloadType, ProposalSpec, ProtocolId, SaRepr, TsRepr, WireError,
};

/// Open the SK payload of `datagram` (copied into `scratch`) with
/// `inbound`: the plaintext's range in `scratch` and its first payload.
pub(super) fn open_sk(
    inbound: &crate::crypto::SkCipher,
    datagram: &[u8],
    scratch: &mut Vec<u8>,
) -> Option<(Range<usize>, PayloadType)> {
    let msg = Message::parse(datagram).ok()?;
    // RFC 7296 §3.14: the SK payload "MUST be the last payload in the
    // message"; Rebound's peers send it alone.
    let sk = msg
        .payloads()
        .next()
        .and_then(Result::ok)
        .filter(|p| p.ptype == PayloadType::SK)?;
    scratch.clear();
    scratch.extend_from_slice(datagram);
    let range = inbound.unprotect(scratch, HEADER_LEN + sk.offset).ok()?;
    Some((range, sk.next))
}

/// What an INFORMATIONAL request asks.
#[derive(Default)]
struct InfoRequest<'a> {
    delete_ike: bool,
    delete_esp: Vec<&'a [u8]>,
    ticket_request: bool,
}

fn read_info(first: PayloadType, plaintext: &[u8]) -> Result<InfoRequest<'_>, WireError> {
    let mut r = InfoRequest::default();
    for raw in PayloadIter::new(first, plaintext) {
        match raw?.parse()? {
            Payload::Delete(d) if d.protocol == ProtocolId::IKE => r.delete_ike = true,
            Payload::Delete(d) if d.protocol == ProtocolId::ESP => {
                // Every SPI named: the request's size (`max_request_len`)
                // bounds them, and each is looked up among at most
                // 2 * `max_children` children.
                r.delete_esp.extend(d.iter_spis());
            }
            Payload::Notify(n) if n.notify_type == NotifyType::TICKET_REQUEST => {
                r.ticket_request = true;
            }
            _ => {}
        }
    }
    Ok(r)
}

/// What a CREATE_CHILD_SA request carries.
#[derive(Default)]
pub(super) struct CreateRequest<'a> {
    pub(super) sa: Option<SaRepr<'a>>,
    pub(super) ke: Option<KeRepr<'a>>,
    pub(super) nonce: Option<&'a [u8]>,
    pub(super) tsi: Option<TsRepr<'a>>,
    pub(super) tsr: Option<TsRepr<'a>>,
    /// N(REKEY_SA): its protocol and SPI (RFC 7296 §1.3.3).
    pub(super) rekey: Option<(ProtocolId, &'a [u8])>,
}

fn read_create(first: PayloadType, plaintext: &[u8]) -> Result<CreateRequest<'_>, WireError> {
    let mut r = CreateRequest::default();
    for raw in PayloadIter::new(first, plaintext) {
        match raw?.parse()? {
            Payload::Sa(sa) => r.sa = Some(sa),
            Payload::Ke(ke) => r.ke = Some(ke),
            Payload::Nonce(n) => r.nonce = Some(n.nonce),
            Payload::TsI(ts) => r.tsi = Some(ts),
            Payload::TsR(ts) => r.tsr = Some(ts),
            Payload::Notify(n) if n.notify_type == NotifyType::REKEY_SA => {
                r.rekey = Some((n.protocol, n.spi));
            }
            _ => {}
        }
    }
    Ok(r)
}

impl SlowPathResponder {
    /// Every request after IKE_SA_INIT.
    pub(super) fn protected(
        &mut self,
        now: Timestamp,
        meta: &PacketMeta,
        h: &HeaderRepr,
        datagram: &[u8],
        out: &mut [u8],
    ) -> Outcome {
        // RFC 7296 §3.1: requests from the original initiator carry the
        // Initiator flag (the peer began every SA here, rekeys included).
        let known = self
            .sas
            .get(&h.spi_r)
            .is_some_and(|sa| sa.spi_i == h.spi_i && h.flags.initiator());
        // RFC 7296 §2.1: the DELETE of an SA gone since, sent again because
        // our answer was lost, gets that answer again.
        if !known && let Some(answer) = self.deleted.answer(now, (h.spi_i, h.spi_r), datagram) {
            self.counters.bump(SlowPathCounter::DeletedRetransmits);
            return Outcome::reply(copy_into(out, answer));
        }
        if !known || datagram.len() > self.config.responder.max_request_len {
            self.counters.bump(SlowPathCounter::UnknownSpi);
            return Outcome::default();
        }
        // Taken out of the table while it is worked on, put back after
        // unless the request ended it.
        let Some(mut sa) = self.sas.remove(&h.spi_r) else {
            return Outcome::default();
        };
        let Some(c) = sa.ciphers() else {
            self.sas.insert(sa.spi_r, sa);
            return Outcome::default();
        };
        let was_half_open = matches!(sa.state, SaState::HalfOpen { .. });
        // The half-open index is keyed by the address IKE_SA_INIT came
        // from; a successful IKE_AUTH moves `sa.peer` to its own source
        // (a float to port 4500, RFC 7296 §2.23), so the key is taken now.
        let init_key = (sa.spi_i, sa.peer);
        let (outcome, keep) = match &mut sa.state {
            SaState::HalfOpen { .. } => {
                if h.exchange_type == ExchangeType::IKE_AUTH && h.message_id == 1 {
                    self.ike_auth(now, meta, &mut sa, &c, datagram, out)
                } else {
                    self.counters.bump(SlowPathCounter::BadMessageId);
                    (Outcome::default(), true)
                }
            }
            SaState::Failed { request, response } => {
                if h.message_id == 1 && request == datagram {
                    self.counters.bump(SlowPathCounter::Retransmits);
                    (Outcome::reply(copy_into(out, response)), true)
                } else {
                    self.counters.bump(SlowPathCounter::BadMessageId);
                    (Outcome::default(), true)
                }
            }
            SaState::Established(s) => {
                // RFC 7296 §2.2: a retransmission of the last request gets
                // the same answer; anything but the next id is dropped.
                if h.message_id.wrapping_add(1) == s.next_id && s.last_request == datagram {
                    self.counters.bump(SlowPathCounter::Retransmits);
                    (Outcome::reply(copy_into(out, &s.last_response)), true)
                } else if h.message_id != s.next_id {
                    self.counters.bump(SlowPathCounter::BadMessageId);
                    (Outcome::default(), true)
                } else {
                    self.on_established(now, meta, h, &mut sa, &c, datagram, out)
                }
            }
        };
        let still_half_open = keep && matches!(sa.state, SaState::HalfOpen { .. });
        if was_half_open && !still_half_open {
            self.half_open -= 1;
            self.init_index.remove(&init_key);
        }
        if keep {
            self.sas.insert(sa.spi_r, sa);
        } else if let SaState::Established(s) = &sa.state {
            self.forget_established(sa.spi_r, s);
        }
        outcome
    }

    /// A new request on an established SA; returns the outcome and whether
    /// the SA stays.
    #[allow(clippy::too_many_arguments)]
    fn on_established(
        &mut self,
        now: Timestamp,
        meta: &PacketMeta,
        h: &HeaderRepr,
        sa: &mut IkeSa,
        c: &Ciphers,
        datagram: &[u8],
        out: &mut [u8],
    ) -> (Outcome, bool) {
        let mut scratch = core::mem::take(&mut self.scratch);
        let Some((range, first)) = open_sk(&c.inbound, datagram, &mut scratch) else {
            self.scratch = scratch;
            // RFC 7296 §2.21.2: a message failing its integrity check is
            // dropped.
            self.counters.bump(SlowPathCounter::IntegrityFailed);
            return (Outcome::default(), true);
        };
        let plaintext = &scratch[range];
        let (outcome, keep) = match h.exchange_type {
            ExchangeType::INFORMATIONAL => self.informational(now, h, sa, c, first, plaintext, out),
            ExchangeType::CREATE_CHILD_SA => {
                self.create_child_sa(now, meta, h, sa, c, first, plaintext, out)
            }
            _ => {
                self.counters.bump(SlowPathCounter::BadHeader);
                (Outcome::default(), true)
            }
        };
        self.scratch = scratch;
        if let (Some(n), SaState::Established(s)) = (outcome.reply, &mut sa.state) {
            s.next_id = s.next_id.wrapping_add(1);
            s.last_request.clear();
            s.last_request.extend_from_slice(datagram);
            s.last_response.clear();
            s.last_response.extend_from_slice(&out[..n]);
            if !keep {
                // The SA is gone; its DELETE's answer stays a while.
                let keep_ms = self.config.responder.half_open_timeout_ms;
                let spis = (sa.spi_i, sa.spi_r);
                self.deleted
                    .insert(now, keep_ms, spis, datagram, &s.last_response);
            }
        }
        (outcome, keep)
    }

    #[allow(clippy::too_many_arguments)]
    fn informational(
        &mut self,
        now: Timestamp,
        h: &HeaderRepr,
        sa: &mut IkeSa,
        c: &Ciphers,
        first: PayloadType,
        plaintext: &[u8],
        out: &mut [u8],
    ) -> (Outcome, bool) {
        let hdr = HeaderRepr::responder_response(sa.spi_i, sa.spi_r, h.exchange_type, h.message_id);
        let req = match read_info(first, plaintext) {
            Ok(r) => r,
            Err(_) => {
                self.counters.bump(SlowPathCounter::Malformed);
                let n = protected_notify(
                    out,
                    &hdr,
                    &c.outbound,
                    &mut *self.rng,
                    NotifyType::INVALID_SYNTAX,
                    &[],
                );
                return (Outcome::reply(n), true);
            }
        };
        let SaState::Established(session) = &mut sa.state else {
            return (Outcome::default(), true);
        };
        if req.delete_ike {
            // RFC 7296 §1.4.1: "If the Delete was for the IKE SA, the
            // response is an empty INFORMATIONAL"; RFC 5723 §6.2: its
            // ticket goes with it.
            let issued = session.issued.take();
            if self.config.revoke_on_delete {
                self.revoke(now, issued);
            } else if issued.is_some() {
                self.counters.bump(SlowPathCounter::TicketsKeptOnDelete);
            }
            self.release_address(session);
            self.counters.bump(SlowPathCounter::Deleted);
            let n = protected(out, &hdr, &c.outbound, &mut *self.rng, |_| Ok(()));
            let event = SaEvent::Changed(SaChange::Deleted {
                spi_i: sa.spi_i,
                spi_r: sa.spi_r,
            });
            return (
                Outcome {
                    reply: n,
                    events: vec![event],
                },
                false,
            );
        }
        // RFC 7296 §2.18, §2.25: a replaced SA only waits for its DELETE
        // (the module docs of `session`).
        if session.replaced && req.ticket_request {
            return (Outcome::reply(self.refuse_on_replaced(&hdr, c, out)), true);
        }
        // RFC 7296 §1.4.1: for ESP SAs, "the responder MUST ... send
        // Delete payloads for the other directions". SPIs of no child SA
        // here are ignored. The children go once the answer is built.
        let mut ours = Vec::new();
        let mut deleted: Vec<ChildSpis> = Vec::new();
        for spi in &req.delete_esp {
            if let Some(child) = session.children.iter().find(|c| c.spis.spi_i == *spi)
                && !deleted.contains(&child.spis)
            {
                ours.extend_from_slice(&child.spis.spi_r);
                deleted.push(child.spis);
            }
        }
        let mut ticket_buf = [0u8; MAX_VALUE_TICKET_LEN + 4];
        let answer = if req.ticket_request {
            // The SA's own fields (borrowed apart from its state).
            let base = TicketBase {
                sk_d: sa.keys.sk_d(),
                spi_i: sa.spi_i,
                spi_r: sa.spi_r,
                suite: TicketSuite {
                    suite: sa.suite,
                    dh_group: sa.dh_group,
                },
            };
            self.ticket_for(now, session, base, &mut ticket_buf)
        } else {
            TicketAnswer::None
        };
        if !req.ticket_request && req.delete_esp.is_empty() {
            self.counters.bump(SlowPathCounter::Liveness);
        }
        let n = protected(out, &hdr, &c.outbound, &mut *self.rng, |b| {
            if !ours.is_empty() {
                b.push(&Payload::Delete(DeleteRepr {
                    protocol: ProtocolId::ESP,
                    spi_size: 4,
                    spis: &ours,
                }))?;
            }
            push_ticket_answer(b, &answer, &ticket_buf)
        });
        let mut outcome = Outcome::reply(n);
        if n.is_some() && !deleted.is_empty() {
            session.children.retain(|c| !deleted.contains(&c.spis));
            for d in &deleted {
                self.child_spis.remove(&d.spi_r);
                self.counters.bump(SlowPathCounter::ChildDeleted);
            }
            outcome
                .events
                .push(SaEvent::Changed(SaChange::ChildDeleted {
                    ike: (sa.spi_i, sa.spi_r),
                    children: deleted,
                }));
        }
        (outcome, true)
    }

    /// N(TEMPORARY_FAILURE): a request an SA replaced by a rekey does not
    /// take (module docs).
    fn refuse_on_replaced(
        &mut self,
        hdr: &HeaderRepr,
        c: &Ciphers,
        out: &mut [u8],
    ) -> Option<usize> {
        self.counters.bump(SlowPathCounter::ReplacedSaRefused);
        protected_notify(
            out,
            hdr,
            &c.outbound,
            &mut *self.rng,
            NotifyType::TEMPORARY_FAILURE,
            &[],
        )
    }

    /// RFC 5723 §4.1: a ticket for this SA, replacing (and revoking) the
    /// one it was given before; TICKET_NACK when policy says no.
    fn ticket_for(
        &mut self,
        now: Timestamp,
        session: &mut Session,
        base: TicketBase<'_>,
        buf: &mut [u8],
    ) -> TicketAnswer {
        let answer = self.issue_for(now, session, base, buf);
        self.counters.bump(match answer {
            TicketAnswer::Issued { .. } => SlowPathCounter::TicketsIssued,
            _ => SlowPathCounter::TicketsRefused,
        });
        answer
    }

    /// The ticket of [`ticket_for`](Self::ticket_for), uncounted; `base`
    /// is what the SA of `session` holds itself.
    pub(super) fn issue_for(
        &mut self,
        now: Timestamp,
        session: &mut Session,
        base: TicketBase<'_>,
        buf: &mut [u8],
    ) -> TicketAnswer {
        let mut policy = self.config.responder.tickets;
        if !session.tickets_allowed {
            policy.kind = None;
        }
        let Some(mut state) = session.ticket.state(base) else {
            return TicketAnswer::Nack;
        };
        let answer = issue_ticket(
            policy,
            self.ring.current(),
            self.shared.store.as_deref(),
            &mut *self.rng,
            now,
            &mut state,
            buf,
        );
        if let TicketAnswer::Issued { .. } = answer {
            let previous = session.issued.replace((state.ticket_id, state.expiry));
            self.revoke(now, previous);
        }
        answer
    }

    #[allow(clippy::too_many_arguments)]
    fn create_child_sa(
        &mut self,
        now: Timestamp,
        meta: &PacketMeta,
        h: &HeaderRepr,
        sa: &mut IkeSa,
        c: &Ciphers,
        first: PayloadType,
        plaintext: &[u8],
        out: &mut [u8],
    ) -> (Outcome, bool) {
        let hdr = HeaderRepr::responder_response(sa.spi_i, sa.spi_r, h.exchange_type, h.message_id);
        let notify = |this: &mut Self, out: &mut [u8], t: NotifyType, data: &[u8]| {
            protected_notify(out, &hdr, &c.outbound, &mut *this.rng, t, data)
        };
        // A replaced SA makes no child SA and no new IKE SA (module docs).
        if matches!(&sa.state, SaState::Established(s) if s.replaced) {
            return (Outcome::reply(self.refuse_on_replaced(&hdr, c, out)), true);
        }
        let req = match read_create(first, plaintext) {
            Ok(r) => r,
            Err(_) => {
                self.counters.bump(SlowPathCounter::Malformed);
                let n = notify(self, out, NotifyType::INVALID_SYNTAX, &[]);
                return (Outcome::reply(n), true);
            }
        };
        let is_ike = req
            .sa
            .as_ref()
            .and_then(|s| s.proposals().next())
            .is_some_and(|p| p.protocol == ProtocolId::IKE);
        if !is_ike {
            return self.child_sa(&hdr, sa, c, &req, out);
        }
        let (Some(sa_payload), Some(ke), Some(ni)) = (req.sa, req.ke, req.nonce) else {
            self.counters.bump(SlowPathCounter::Malformed);
            let n = notify(self, out, NotifyType::INVALID_SYNTAX, &[]);
            return (Outcome::reply(n), true);
        };
        // RFC 7296 §1.3.2: `SA, Ni, KEi` with the new SPIi in the proposal.
        let Some(choice) = choose_ike(&self.config.ike, &sa_payload, IKE_SPI_LEN, ke.dh_group)
        else {
            self.counters.bump(SlowPathCounter::InitNoProposal);
            let n = notify(self, out, NotifyType::NO_PROPOSAL_CHOSEN, &[]);
            return (Outcome::reply(n), true);
        };
        let sel = choice.selected;
        if !choice.ke_matches {
            self.counters.bump(SlowPathCounter::InitInvalidKe);
            let g = sel.group.id().to_be_bytes();
            let n = notify(self, out, NotifyType::INVALID_KE_PAYLOAD, &g);
            return (Outcome::reply(n), true);
        }
        let Some(new_spi_i) = sel.spi else {
            return (Outcome::default(), true);
        };
        // The cheap checks first: a forged KE costs no key generation.
        let rng = &mut *self.rng;
        let keyed = sel.group.check_public(ke.key_data).and_then(|()| {
            let dh = DhPrivate::generate(sel.group, rng);
            dh.agree(ke.key_data).map(|shared| (dh, shared))
        });
        let Ok((dh, shared)) = keyed else {
            self.counters.bump(SlowPathCounter::InitBadPublicValue);
            let n = notify(self, out, NotifyType::INVALID_SYNTAX, &[]);
            return (Outcome::reply(n), true);
        };
        let mut nr = [0u8; NR_LEN];
        self.rng.fill(&mut nr);
        // The old SA is out of the table while this runs: not its SPI.
        let new_spi_r = self.fresh_spi_r(Some(sa.spi_r));
        // RFC 7296 §2.18: SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr),
        // with the old SA's prf; then prf+ of the new suite over
        // Ni | Nr | SPIi | SPIr of the new SA.
        let keys = IkeKeys::derive_rekeyed(
            sa.suite.prf(),
            sa.keys.sk_d(),
            &sel.suite,
            shared.as_bytes(),
            ni,
            &nr,
            &new_spi_i,
            &new_spi_r,
        );
        let ciphers = keys
            .as_ref()
            .ok()
            .and_then(|k| k.sk_ciphers(&sel.suite, Role::Responder).ok());
        let (Ok(keys), Some(_)) = (keys, ciphers) else {
            self.counters.bump(SlowPathCounter::Malformed);
            let n = notify(self, out, NotifyType::INVALID_SYNTAX, &[]);
            return (Outcome::reply(n), true);
        };
        let (tf, n_tf) = selected_transforms(&sel);
        let props = [ProposalSpec {
            num: sel.proposal_num,
            protocol: ProtocolId::IKE,
            spi: &new_spi_r,
            transforms: &tf[..n_tf],
        }];
        let n = protected(out, &hdr, &c.outbound, &mut *self.rng, |b| {
            b.push(&Payload::Sa(SaRepr::new(&props)))?;
            b.push(&Payload::Nonce(NonceRepr { nonce: &nr }))?;
            b.push(&Payload::Ke(KeRepr {
                dh_group: sel.group.id(),
                key_data: dh.public_value(),
            }))
        });
        if n.is_none() {
            return (Outcome::default(), true);
        }
        let SaState::Established(old) = &mut sa.state else {
            return (Outcome::default(), true);
        };
        // RFC 5723 §6.2 (and Rebound's policy): a ticket carries the SA's
        // SK_d, so a rekey invalidates it; the peer asks for a new one on
        // the new SA.
        // The new SA's ticket state: the old one's identities, method,
        // address and times; SK_d, SPIs and suite are the new SA's own.
        // Built before the old SA changes, so a failure leaves it whole.
        let ticket = old.ticket.clone();
        let base = TicketBase {
            sk_d: keys.sk_d.as_bytes(),
            spi_i: new_spi_i,
            spi_r: new_spi_r,
            suite: TicketSuite {
                suite: sel.suite,
                dh_group: sel.group.id(),
            },
        };
        let Some(state) = ticket.state(base) else {
            return (Outcome::default(), true);
        };
        let issued = old.issued.take();
        self.revoke(now, issued);
        // The internal address moves to the new SA with the child SAs;
        // deleting the old SA must not release it. The old SA answers only
        // its DELETE and liveness checks from now on.
        old.ticket.internal_addr = None;
        old.replaced = true;
        let session = Session {
            established_at: now,
            replaced: false,
            // RFC 7296 §2.18: "The new IKE SA MUST reset its message
            // counters to 0."
            next_id: 0,
            last_request: Vec::new(),
            last_response: Vec::new(),
            tickets_allowed: old.tickets_allowed,
            issued: None,
            // Child SAs move to the new IKE SA (§2.18).
            children: core::mem::take(&mut old.children),
            ticket,
        };
        // The ticket state carries the new suite and group, and the time
        // of the original authentication.
        let established = EstablishedSa::new(
            &state,
            NewSa {
                spi_i: new_spi_i,
                spi_r: new_spi_r,
                peer: meta.peer,
                local: meta.local,
                nat: sa.nat,
                ni: ni[..].into(),
                nr: nr[..].into(),
                keys: keys.clone(),
                child: None,
                internal_addr: session.ticket.internal_addr,
                new_ticket: None,
            },
            Origin::Rekeyed {
                replaces: (sa.spi_i, sa.spi_r),
            },
            super::CONTROL_SPI_TAG,
            now,
        );
        let new_sa = IkeSa {
            spi_i: new_spi_i,
            spi_r: new_spi_r,
            peer: meta.peer,
            local: meta.local,
            suite: sel.suite,
            dh_group: sel.group.id(),
            // Established: no nonces kept (see `IkeSa::ni`).
            ni: Vec::new(),
            nr: Vec::new(),
            keys: PackedKeys::pack(&keys),
            nat: sa.nat,
            deadline: sa.deadline,
            state: SaState::Established(Box::new(session)),
        };
        let deadline = new_sa.deadline;
        if let SaState::Established(s) = &new_sa.state
            && let Some(id_i) = s.ticket.id_i()
        {
            self.by_identity.insert(&id_i, new_spi_r);
        }
        self.sas.insert(new_spi_r, Box::new(new_sa));
        self.schedule(new_spi_r, deadline);
        self.counters.bump(SlowPathCounter::Rekeyed);
        (
            Outcome {
                reply: n,
                events: vec![SaEvent::Established(Box::new(established))],
            },
            true,
        )
    }
}
