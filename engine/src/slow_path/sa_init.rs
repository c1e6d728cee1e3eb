//! IKE_SA_INIT (RFC 7296 §1.2, §2.6–2.10, §2.14, §2.23):
//!
//! ```text
//! HDR(SPIi, 0), [N(COOKIE)], SAi1, KEi, Ni, [N(NAT_DETECTION_*)]  -->
//!                 <--  HDR(SPIi, SPIr), SAr1, KEr, Nr, [N(NAT_DETECTION_*)]
//! ```
//!
//! Refusals are unprotected answers with SPIr zero and keep no state:
//! N(COOKIE), N(INVALID_KE_PAYLOAD), N(NO_PROPOSAL_CHOSEN),
//! N(INVALID_SYNTAX).

use super::proposal::{choose_ike, selected_transforms};
use super::{IkeSa, Outcome, SaState, SlowPathCounter, SlowPathResponder};
use crate::crypto::{DhPrivate, IkeKeys, PackedKeys, Role};
use crate::responder::{NR_LEN, PacketMeta, nat_status, push_natd};
use crate::time::Timestamp;
use crate::wire::{
    ExchangeType, HeaderRepr, KeRepr, Message, MessageBuilder, NonceRepr, NotifyRepr, NotifyType,
    Payload, ProposalSpec, ProtocolId, SaRepr, WireError,
};

/// The most NAT_DETECTION_SOURCE_IP notifies looked at (RFC 7296 §2.23
/// allows several, one per address of a multihomed initiator).
const MAX_NATD_SOURCES: usize = 4;

/// The IKE_SA_INIT request's payloads that matter here.
#[derive(Default)]
struct InitRequest<'a> {
    sa: Option<SaRepr<'a>>,
    ke: Option<KeRepr<'a>>,
    nonce: Option<&'a [u8]>,
    cookie: Option<&'a [u8]>,
    natd_src: [&'a [u8]; MAX_NATD_SOURCES],
    natd_src_count: usize,
    natd_dst: Option<&'a [u8]>,
}

fn read_request(datagram: &[u8]) -> Result<InitRequest<'_>, WireError> {
    let msg = Message::parse(datagram)?;
    let mut r = InitRequest::default();
    for raw in msg.payloads() {
        match raw?.parse()? {
            Payload::Sa(sa) => r.sa = Some(sa),
            Payload::Ke(ke) => r.ke = Some(ke),
            Payload::Nonce(n) => r.nonce = Some(n.nonce),
            Payload::Notify(n) => match n.notify_type {
                NotifyType::COOKIE => r.cookie = Some(n.data),
                NotifyType::NAT_DETECTION_SOURCE_IP if r.natd_src_count < MAX_NATD_SOURCES => {
                    r.natd_src[r.natd_src_count] = n.data;
                    r.natd_src_count += 1;
                }
                NotifyType::NAT_DETECTION_DESTINATION_IP => r.natd_dst = Some(n.data),
                // Status notifies Rebound does not act on
                // (IKEV2_FRAGMENTATION_SUPPORTED, SIGNATURE_HASH_ALGORITHMS,
                // REDIRECT_SUPPORTED, ...) are ignored, as RFC 7296 §3.10.1
                // asks of unrecognised status types.
                _ => {}
            },
            // Vendor IDs, CERTREQ: nothing to do with a PSK exchange.
            _ => {}
        }
    }
    Ok(r)
}

impl SlowPathResponder {
    pub(super) fn sa_init(
        &mut self,
        now: Timestamp,
        meta: &PacketMeta,
        h: &HeaderRepr,
        datagram: &[u8],
        out: &mut [u8],
    ) -> Outcome {
        self.counters.bump(SlowPathCounter::InitRequests);
        // RFC 7296 §3.1: the first message has SPIr zero, message id 0,
        // and the Initiator flag; SPIi "MUST NOT be zero".
        if h.spi_r != [0; 8]
            || h.spi_i == [0; 8]
            || h.message_id != 0
            || !h.flags.initiator()
            || datagram.len() > self.config.responder.max_request_len
        {
            self.counters.bump(SlowPathCounter::BadHeader);
            return Outcome::default();
        }
        // RFC 7296 §2.1: a retransmitted request gets the same answer.
        if let Some(spi_r) = self.init_index.get(&(h.spi_i, meta.peer)) {
            if let Some(SaState::HalfOpen {
                init_request,
                init_response,
            }) = self.sas.get(spi_r).map(|sa| &sa.state)
                && init_request == datagram
            {
                self.counters.bump(SlowPathCounter::InitRetransmits);
                return Outcome::reply(copy_into(out, init_response));
            }
            self.counters.bump(SlowPathCounter::InitConflict);
            return Outcome::default();
        }
        // Failed exchanges keep their answer until the same deadline: they
        // count against the limit too.
        if !self.accepting || self.half_open + self.failed >= self.config.responder.half_open_limit
        {
            self.counters.bump(SlowPathCounter::InitRefused);
            return Outcome::default();
        }
        let req = match read_request(datagram) {
            Ok(r) => r,
            Err(_) => {
                self.counters.bump(SlowPathCounter::InitMalformed);
                return Outcome::reply(refuse(out, h, NotifyType::INVALID_SYNTAX, &[]));
            }
        };
        let (Some(sa), Some(ke), Some(ni)) = (req.sa, req.ke, req.nonce) else {
            self.counters.bump(SlowPathCounter::InitMalformed);
            return Outcome::reply(refuse(out, h, NotifyType::INVALID_SYNTAX, &[]));
        };
        // RFC 7296 §2.6: under load, only a request that returns our
        // cookie makes state.
        if self.half_open >= self.config.responder.cookie_threshold {
            let valid = req
                .cookie
                .is_some_and(|c| self.cookies.verify(c, ni, meta.peer.ip(), &h.spi_i));
            if !valid {
                if req.cookie.is_some() {
                    self.counters.bump(SlowPathCounter::CookiesInvalid);
                }
                self.counters.bump(SlowPathCounter::CookiesSent);
                let cookie = self.cookies.make(ni, meta.peer.ip(), &h.spi_i);
                return Outcome::reply(refuse(out, h, NotifyType::COOKIE, &cookie));
            }
        }
        // RFC 7296 §2.7: "The responder MUST accept a single proposal or
        // reject them all and return an error. The error is given in a
        // notification of type NO_PROPOSAL_CHOSEN."
        let Some(choice) = choose_ike(&self.config.ike, &sa, 0, ke.dh_group) else {
            self.counters.bump(SlowPathCounter::InitNoProposal);
            return Outcome::reply(refuse(out, h, NotifyType::NO_PROPOSAL_CHOSEN, &[]));
        };
        let sel = choice.selected;
        // RFC 7296 §1.2: "If the responder selects a proposal using a
        // different Diffie-Hellman group (other than NONE), the responder
        // will indicate the correct group in the response and the initiator
        // SHOULD pick an element of that group for its KE value when
        // retrying"; §3.10.1: the notify data is the accepted group, two
        // octets.
        if !choice.ke_matches {
            self.counters.bump(SlowPathCounter::InitInvalidKe);
            let group = sel.group.id().to_be_bytes();
            return Outcome::reply(refuse(out, h, NotifyType::INVALID_KE_PAYLOAD, &group));
        }
        // RFC 7296 §5 (and RFC 8031 §2, RFC 5903 §7): the peer's public
        // value is checked before use; the DH module refuses a wrong
        // length, a value out of range, a point off the curve and an
        // all-zero X25519 result.
        // The cheap checks first: a forged KE costs no key generation.
        let rng = &mut *self.rng;
        let keyed = sel.group.check_public(ke.key_data).and_then(|()| {
            let dh = DhPrivate::generate(sel.group, rng);
            dh.agree(ke.key_data).map(|shared| (dh, shared))
        });
        let Ok((dh, shared)) = keyed else {
            self.counters.bump(SlowPathCounter::InitBadPublicValue);
            return Outcome::reply(refuse(out, h, NotifyType::INVALID_SYNTAX, &[]));
        };
        let mut nr = [0u8; NR_LEN];
        self.rng.fill(&mut nr);
        let spi_r = self.fresh_spi_r(None);
        // RFC 7296 §2.14: SKEYSEED = prf(Ni | Nr, g^ir), then prf+.
        let keys =
            IkeKeys::derive_initial(&sel.suite, ni, &nr, shared.as_bytes(), &h.spi_i, &spi_r);
        drop(shared);
        let Ok(keys) = keys else {
            self.counters.bump(SlowPathCounter::InitMalformed);
            return Outcome::reply(refuse(out, h, NotifyType::INVALID_SYNTAX, &[]));
        };
        if keys.sk_ciphers(&sel.suite, Role::Responder).is_err() {
            return Outcome::default();
        }
        let natd_src = &req.natd_src[..req.natd_src_count];
        let nat = nat_status(&h.spi_i, natd_src, req.natd_dst, meta);

        // HDR, SAr1, KEr, Nr, [N(NAT_DETECTION_SOURCE_IP),
        // N(NAT_DETECTION_DESTINATION_IP)].
        let (tf, n_tf) = selected_transforms(&sel);
        let props = [ProposalSpec {
            num: sel.proposal_num,
            protocol: ProtocolId::IKE,
            spi: &[],
            transforms: &tf[..n_tf],
        }];
        let hdr = HeaderRepr::responder_response(h.spi_i, spi_r, ExchangeType::IKE_SA_INIT, 0);
        let built = MessageBuilder::new(out, &hdr).and_then(|mut b| {
            b.push(&Payload::Sa(SaRepr::new(&props)))?;
            b.push(&Payload::Ke(KeRepr {
                dh_group: sel.group.id(),
                key_data: dh.public_value(),
            }))?;
            b.push(&Payload::Nonce(NonceRepr { nonce: &nr }))?;
            // RFC 7296 §2.23: the responder includes its NAT_DETECTION
            // notifies when the initiator sent them.
            if nat.detection {
                push_natd(&mut b, &h.spi_i, &spi_r, meta)?;
            }
            b.finish()
        });
        let Ok(n) = built else {
            return Outcome::default();
        };
        let sa = IkeSa {
            spi_i: h.spi_i,
            spi_r,
            peer: meta.peer,
            local: meta.local,
            suite: sel.suite,
            dh_group: sel.group.id(),
            ni: ni.to_vec(),
            nr: nr.to_vec(),
            keys: PackedKeys::pack(&keys),
            nat,
            deadline: now.plus_millis(self.config.responder.half_open_timeout_ms),
            state: SaState::HalfOpen {
                init_request: datagram.to_vec(),
                init_response: out[..n].to_vec(),
            },
        };
        let deadline = sa.deadline;
        self.sas.insert(spi_r, Box::new(sa));
        self.schedule(spi_r, deadline);
        self.init_index.insert((h.spi_i, meta.peer), spi_r);
        self.half_open += 1;
        self.counters.bump(SlowPathCounter::InitAccepted);
        Outcome::reply(Some(n))
    }
}

/// An unprotected IKE_SA_INIT answer with one notify and SPIr zero.
fn refuse(out: &mut [u8], h: &HeaderRepr, notify: NotifyType, data: &[u8]) -> Option<usize> {
    let hdr = HeaderRepr::responder_response(h.spi_i, [0; 8], ExchangeType::IKE_SA_INIT, 0);
    let mut b = MessageBuilder::new(out, &hdr).ok()?;
    b.push(&Payload::Notify(NotifyRepr::ike(notify, data)))
        .ok()?;
    b.finish().ok()
}

/// Copy a cached answer into `out`.
pub(super) fn copy_into(out: &mut [u8], cached: &[u8]) -> Option<usize> {
    let o = out.get_mut(..cached.len())?;
    o.copy_from_slice(cached);
    Some(cached.len())
}
