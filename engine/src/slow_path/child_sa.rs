//! CREATE_CHILD_SA for child SAs on an established IKE SA: a new ESP child
//! SA (RFC 7296 §1.3.1) or the rekey of one (§1.3.3), with or without a
//! Diffie-Hellman exchange (PFS).
//!
//! ```text
//! SK {[N(REKEY_SA)], SA, Ni, [KEi], TSi, TSr}  -->
//!        <--  SK {SA, Nr, [KEr], TSi, TSr}
//!        <--  SK {N(NO_PROPOSAL_CHOSEN | TS_UNACCEPTABLE | INVALID_KE_PAYLOAD
//!                   | CHILD_SA_NOT_FOUND | NO_ADDITIONAL_SAS | INVALID_SYNTAX)}
//! ```
//!
//! The ESP suite comes from the child policy (`ResponderConfig::esp`), the
//! selectors are narrowed to `ts_remote`/`ts_local` (or the SA's internal
//! address as TSi) as in IKE_AUTH, the SPI is fresh, and KEYMAT =
//! prf+(SK_d, [g^ir (new)] | Ni | Nr) (RFC 7296 §2.17). Each refusal is
//! counted.
//!
//! Simultaneous rekeys (RFC 7296 §2.8.1): the collision that section
//! resolves, both ends rekeying the same child SA at once, cannot arise
//! here: the gateway never sends a request (no rekey, no delete of its
//! own), so every rekey is the peer's and one at a time (window size 1).
//! What can happen is a second rekey of a child the peer already rekeyed
//! (its old SPI is no longer the current one: a confused or restarted
//! peer, or a request crossing our answer). It is answered
//! CHILD_SA_NOT_FOUND, deterministically: RFC 7296 §2.25 (described, not
//! quoted) has CHILD_SA_NOT_FOUND for a request about a child SA the
//! responder does not have, and TEMPORARY_FAILURE for one the responder is
//! itself busy rekeying or deleting, a transient state after which a retry
//! succeeds. A replaced child is neither transient nor ours to finish: it
//! only waits for the peer's DELETE and can never be rekeyed again, so no
//! retry would succeed; the peer rekeys its replacement instead.
//!
//! SPIs: ours (inbound) are drawn tagged with
//! [`CONTROL_SPI_TAG`](super::CONTROL_SPI_TAG) and
//! unlike every child SA's on the gateway ([`InboundSpis`], which holds
//! the children of the SAs adopted from the workers too). The peer's must
//! differ from every one it has for a child SA of this IKE SA, replaced
//! ones included: N(REKEY_SA) and the Delete payload name a child by it.
//! A request reusing one is refused INVALID_SYNTAX, not
//! NO_PROPOSAL_CHOSEN: RFC 7296 §3.10.1 (described) has INVALID_SYNTAX for
//! a request with a value out of range, while NO_PROPOSAL_CHOSEN says none
//! of the offered transforms would do, which would send the peer looking
//! at its crypto policy instead of its SPI allocation.
//!
//! A replaced child the peer never deletes is forgotten once more than
//! `max_children` wait (the oldest first), and handed off as a
//! [`SaChange::ChildDeleted`] so the consumer removes it too.

use std::collections::HashMap;

use super::session::CreateRequest;
use super::{
    ChildEntry, Ciphers, IkeSa, Outcome, SaChange, SaEvent, SaState, SlowPathCounter,
    SlowPathResponder,
};
use crate::child::{PfsRefusal, choose_esp_pfs, esp_transforms_pfs};
use crate::crypto::{ChildKeys, DhPrivate};
use crate::handoff::{ChildSa, TsRange};
use crate::ike_auth::{SpiSpace, fresh_child_spi, narrow_selectors, protected, protected_notify};
use crate::responder::NR_LEN;
use crate::wire::{
    HeaderRepr, KeRepr, NonceRepr, NotifyType, Payload, ProposalSpec, ProtocolId, SaRepr,
    TrafficSelector, TsRepr,
};

/// RFC 7296 §2.10: nonces are at least 128 bits; §3.9: at most 256
/// octets.
const NONCE_LEN: core::ops::RangeInclusive<usize> = 16..=256;

/// A refused request: what is counted and the notify (with its data) that
/// answers it.
struct Refusal {
    counter: SlowPathCounter,
    notify: NotifyType,
    /// INVALID_KE_PAYLOAD's data: the group wanted.
    group: Option<[u8; 2]>,
}

const fn refuse(counter: SlowPathCounter, notify: NotifyType) -> Refusal {
    Refusal {
        counter,
        notify,
        group: None,
    }
}

/// Our inbound ESP SPIs in use, each with the number of child SAs that
/// have it (more than one only for a worker's SPI equal to another: the
/// workers draw theirs without knowing these).
#[derive(Default)]
pub(super) struct InboundSpis {
    uses: HashMap<[u8; 4], u32>,
}

impl InboundSpis {
    /// One more child SA has `spi`; `true` when another had it already.
    pub(super) fn insert(&mut self, spi: [u8; 4]) -> bool {
        let n = self.uses.entry(spi).or_insert(0);
        *n += 1;
        *n > 1
    }

    /// A child SA with `spi` is gone.
    pub(super) fn remove(&mut self, spi: &[u8; 4]) {
        if let Some(n) = self.uses.get_mut(spi) {
            *n -= 1;
            if *n == 0 {
                self.uses.remove(spi);
            }
        }
    }

    pub(super) fn contains(&self, spi: &[u8; 4]) -> bool {
        self.uses.contains_key(spi)
    }
}

impl SlowPathResponder {
    /// A CREATE_CHILD_SA request that is not an IKE SA rekey: a new child
    /// SA or a child rekey; returns the outcome and that the IKE SA stays.
    pub(super) fn child_sa(
        &mut self,
        hdr: &HeaderRepr,
        sa: &mut IkeSa,
        c: &Ciphers,
        req: &CreateRequest<'_>,
        out: &mut [u8],
    ) -> (Outcome, bool) {
        match self.answer_child(hdr, sa, c, req, out) {
            Ok(outcome) => (outcome, true),
            Err(r) => {
                self.counters.bump(r.counter);
                let data = r.group.as_ref().map_or(&[][..], |g| &g[..]);
                let n = protected_notify(out, hdr, &c.outbound, &mut *self.rng, r.notify, data);
                (Outcome::reply(n), true)
            }
        }
    }

    fn answer_child(
        &mut self,
        hdr: &HeaderRepr,
        sa: &mut IkeSa,
        c: &Ciphers,
        req: &CreateRequest<'_>,
        out: &mut [u8],
    ) -> Result<Outcome, Refusal> {
        use SlowPathCounter as C;
        let invalid = || refuse(C::ChildInvalidSyntax, NotifyType::INVALID_SYNTAX);
        // RFC 7296 §1.3.1: `SA, Ni, [KEi], TSi, TSr`.
        let (Some(offer), Some(ni), Some(tsi), Some(tsr)) = (req.sa, req.nonce, req.tsi, req.tsr)
        else {
            return Err(invalid());
        };
        if !NONCE_LEN.contains(&ni.len()) {
            return Err(invalid());
        }
        let ike = (sa.spi_i, sa.spi_r);
        let SaState::Established(session) = &mut sa.state else {
            return Err(invalid());
        };
        // RFC 7296 §1.3.3: the child SA being rekeyed is named by N(REKEY_SA)
        // with its protocol and the SPI the exchange initiator expects in
        // its inbound packets: the peer's SPI of the pair.
        let rekeyed = match req.rekey {
            None => {
                let live = session.children.iter().filter(|e| !e.rekeyed).count();
                // RFC 7296 §1.3: a responder that will not make another
                // child SA answers NO_ADDITIONAL_SAS.
                if live >= self.config.max_children {
                    return Err(refuse(C::NoAdditionalSas, NotifyType::NO_ADDITIONAL_SAS));
                }
                None
            }
            Some((protocol, spi)) => {
                if protocol == ProtocolId::ESP && spi.len() != 4 {
                    return Err(invalid());
                }
                // Rebound makes ESP child SAs only: another protocol names
                // none of them.
                let i = session
                    .children
                    .iter()
                    .position(|e| protocol == ProtocolId::ESP && e.spis.spi_i == spi)
                    .ok_or(refuse(C::ChildNotFound, NotifyType::CHILD_SA_NOT_FOUND))?;
                // Replaced by an earlier rekey (module docs: §2.8.1, §2.25).
                if session.children[i].rekeyed {
                    return Err(refuse(
                        C::ChildAlreadyRekeyed,
                        NotifyType::CHILD_SA_NOT_FOUND,
                    ));
                }
                Some(i)
            }
        };
        // RFC 7296 §2.7: one proposal, the peer's first we accept; §1.3.1:
        // with a KE of another group than the chosen proposal's, the
        // request is refused with INVALID_KE_PAYLOAD naming ours.
        let choice = choose_esp_pfs(
            &self.config.responder.esp,
            &offer,
            req.ke.map(|k| k.dh_group),
        )
        .map_err(|e| match e {
            PfsRefusal::NoProposal => refuse(C::ChildNoProposal, NotifyType::NO_PROPOSAL_CHOSEN),
            PfsRefusal::InvalidKe(g) => Refusal {
                counter: C::ChildInvalidKe,
                notify: NotifyType::INVALID_KE_PAYLOAD,
                group: Some(g.id().to_be_bytes()),
            },
        })?;
        // RFC 7296 §2.9: the responder narrows the selectors to its policy.
        let (ts_i, ts_r) = narrow_selectors(
            &self.config.responder,
            &tsi,
            &tsr,
            session.ticket.internal_addr,
        )
        .map_err(|_| refuse(C::ChildTsUnacceptable, NotifyType::TS_UNACCEPTABLE))?;
        // The peer's SPI names the child in N(REKEY_SA) and in its Delete:
        // two children with one would be ambiguous (module docs).
        if session
            .children
            .iter()
            .any(|e| e.spis.spi_i == choice.esp.peer_spi)
        {
            return Err(refuse(C::ChildSpiReused, NotifyType::INVALID_SYNTAX));
        }
        // PFS: the peer's public value is checked before ours is generated,
        // so a forged KE costs no key generation.
        let dh = match (choice.group, req.ke) {
            (Some(group), Some(ke)) => {
                let bad = |_| refuse(C::ChildBadPublicValue, NotifyType::INVALID_SYNTAX);
                group.check_public(ke.key_data).map_err(bad)?;
                let dh = DhPrivate::generate(group, &mut *self.rng);
                let shared = dh.agree(ke.key_data).map_err(bad)?;
                Some((dh, shared))
            }
            _ => None,
        };
        let mut nr = [0u8; NR_LEN];
        self.rng.fill(&mut nr);
        let esp = choice.esp;
        // RFC 7296 §2.17: KEYMAT = prf+(SK_d, Ni | Nr), or with the new
        // Diffie-Hellman exchange prf+(SK_d, g^ir (new) | Ni | Nr).
        let keys = ChildKeys::derive(
            sa.suite.prf(),
            sa.keys.sk_d(),
            dh.as_ref().map(|(_, s)| s.as_bytes()),
            ni,
            &nr,
            esp.encr,
            esp.integ,
        )
        .map_err(|_| invalid())?;
        let in_use = &self.child_spis;
        let spi_r = fresh_child_spi(&mut *self.rng, SpiSpace::Control(&|s| in_use.contains(s)));
        let tf = esp_transforms_pfs(&esp.suite(), choice.group.as_slice());
        let props = [ProposalSpec {
            num: esp.proposal_num,
            protocol: ProtocolId::ESP,
            spi: &spi_r,
            transforms: &tf,
        }];
        let sel = |r: &[TsRange]| -> Vec<TrafficSelector<'static>> {
            r.iter().map(TsRange::selector).collect()
        };
        let (sel_i, sel_r) = (sel(&ts_i), sel(&ts_r));
        let n = protected(out, hdr, &c.outbound, &mut *self.rng, |b| {
            b.push(&Payload::Sa(SaRepr::new(&props)))?;
            b.push(&Payload::Nonce(NonceRepr { nonce: &nr }))?;
            if let Some((dh, _)) = &dh {
                b.push(&Payload::Ke(KeRepr {
                    dh_group: dh.group().id(),
                    key_data: dh.public_value(),
                }))?;
            }
            b.push(&Payload::TsI(TsRepr::new(&sel_i)))?;
            b.push(&Payload::TsR(TsRepr::new(&sel_r)))
        });
        let Some(n) = n else {
            return Ok(Outcome::default());
        };
        let child = Box::new(ChildSa {
            spi_i: esp.peer_spi,
            spi_r,
            encr: esp.encr,
            integ: esp.integ,
            esn: esp.esn,
            keys,
            ts_i,
            ts_r,
        });
        session.children.push(ChildEntry::new(esp.peer_spi, spi_r));
        self.child_spis.insert(spi_r);
        let mut events = Vec::new();
        let event = match rekeyed {
            Some(i) => {
                session.children[i].rekeyed = true;
                let old = session.children[i].spis;
                // Replaced children wait for the peer's DELETE; a peer that
                // never sends it leaves at most `max_children` of them: the
                // oldest go, handed off as deleted.
                let max = self.config.max_children;
                let mut evicted = Vec::new();
                while session.children.iter().filter(|e| e.rekeyed).count() > max {
                    if let Some(j) = session.children.iter().position(|e| e.rekeyed) {
                        let gone = session.children.remove(j);
                        self.child_spis.remove(&gone.spis.spi_r);
                        self.counters.bump(C::ChildEvicted);
                        evicted.push(gone.spis);
                    }
                }
                if !evicted.is_empty() {
                    events.push(SaEvent::Changed(SaChange::ChildDeleted {
                        ike,
                        children: evicted,
                    }));
                }
                self.counters.bump(C::ChildRekeyed);
                SaEvent::Changed(SaChange::ChildRekeyed { ike, old, child })
            }
            None => {
                self.counters.bump(C::ChildCreated);
                SaEvent::Changed(SaChange::ChildCreated { ike, child })
            }
        };
        events.push(event);
        Ok(Outcome {
            reply: Some(n),
            events,
        })
    }
}
