//! Child SAs from the client's side of an established IKE SA: a new one
//! (RFC 7296 §1.3.1), the rekey of one (§1.3.3), with or without PFS, and
//! their deletion (§1.4.1).

use crate::child::{EspProposal, accept_esp_pfs, esp_transforms_pfs};
use crate::crypto::{ChildKeys, DhGroup, DhPrivate, SkCipher};
use crate::handoff::{ChildSa, TsRange};
use crate::ike_auth::protected;
use crate::rand::RandomSource;
use crate::wire::{
    HeaderRepr, KeRepr, NonceRepr, NotifyRepr, NotifyType, Payload, ProtocolId, SaRepr,
    TransformRepr, TsRepr,
};

use super::super::super::auth::{narrowed, numbered_proposals, selectors};
use super::super::super::driver::random_esp_spi;
use super::super::super::request::NONCE_LEN;
use super::super::config::FullConfig;
use super::{
    Answer, ClientSession, PendingKind, SessionError, SessionResponse, invalid_ke_group, nonce,
};

/// What a CREATE_CHILD_SA for a child SA offers; the default is the
/// configuration's ESP proposals and selectors without PFS.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChildRequest {
    /// The key-exchange groups each ESP proposal lists (PFS), most
    /// preferred first; empty: no PFS.
    pub pfs: Vec<DhGroup>,
    /// The group of the KE payload; `None` takes the first of `pfs`. (A
    /// group not in `pfs` makes the responder answer INVALID_KE_PAYLOAD.)
    pub ke: Option<DhGroup>,
    /// The ESP proposals; `None` takes the configuration's.
    pub esp: Option<Vec<EspProposal>>,
    /// The TSi offered; `None` takes the configuration's.
    pub ts_i: Option<Vec<TsRange>>,
    /// The TSr offered; `None` takes the configuration's.
    pub ts_r: Option<Vec<TsRange>>,
}

impl ChildRequest {
    /// The configuration's offer with PFS in `group`.
    pub fn pfs(group: DhGroup) -> Self {
        ChildRequest {
            pfs: vec![group],
            ..ChildRequest::default()
        }
    }
}

/// A child SA request in flight.
pub(in crate::client) struct ChildState {
    offer: ChildRequest,
    /// Our inbound SPI of the child SA being rekeyed.
    rekey: Option<[u8; 4]>,
    /// Our inbound SPI of the new child SA.
    spi: [u8; 4],
    ni: [u8; NONCE_LEN],
    dh: Option<DhPrivate>,
    /// Groups the KE payload has carried.
    tried: Vec<DhGroup>,
}

impl ChildState {
    pub(super) fn new(
        offer: &ChildRequest,
        rekey: Option<[u8; 4]>,
        rng: &mut dyn RandomSource,
    ) -> Box<Self> {
        let group = offer.ke.or(offer.pfs.first().copied());
        Box::new(ChildState {
            offer: offer.clone(),
            rekey,
            spi: random_esp_spi(rng),
            ni: nonce(rng),
            dh: group.map(|g| DhPrivate::generate(g, rng)),
            tried: group.into_iter().collect(),
        })
    }

    fn esp<'a>(&'a self, cfg: &'a FullConfig) -> &'a [EspProposal] {
        self.offer.esp.as_deref().unwrap_or(&cfg.esp)
    }

    fn ts<'a>(&'a self, cfg: &'a FullConfig) -> (&'a [TsRange], &'a [TsRange]) {
        (
            self.offer.ts_i.as_deref().unwrap_or(&cfg.ts_i),
            self.offer.ts_r.as_deref().unwrap_or(&cfg.ts_r),
        )
    }

    /// `SK {[N(REKEY_SA)], SA, Ni, [KEi], TSi, TSr}` in `buf`.
    pub(super) fn build(
        &self,
        cfg: &FullConfig,
        buf: &mut [u8],
        hdr: &HeaderRepr,
        outbound: &SkCipher,
        rng: &mut dyn RandomSource,
    ) -> Option<usize> {
        let sets: Vec<Vec<TransformRepr>> = self
            .esp(cfg)
            .iter()
            .map(|p| esp_transforms_pfs(p, &self.offer.pfs))
            .collect();
        let props = numbered_proposals(ProtocolId::ESP, &self.spi, sets.iter().map(Vec::as_slice));
        let (ts_i, ts_r) = self.ts(cfg);
        let (ts_i, ts_r) = (selectors(ts_i), selectors(ts_r));
        protected(buf, hdr, outbound, rng, |b| {
            // RFC 7296 §1.3.3: the child SA being rekeyed, by the SPI we
            // expect in its inbound packets.
            if let Some(old) = &self.rekey {
                b.push(&Payload::Notify(NotifyRepr {
                    protocol: ProtocolId::ESP,
                    notify_type: NotifyType::REKEY_SA,
                    spi: old,
                    data: &[],
                }))?;
            }
            b.push(&Payload::Sa(SaRepr::new(&props)))?;
            b.push(&Payload::Nonce(NonceRepr { nonce: &self.ni }))?;
            if let Some(dh) = &self.dh {
                b.push(&Payload::Ke(KeRepr {
                    dh_group: dh.group().id(),
                    key_data: dh.public_value(),
                }))?;
            }
            b.push(&Payload::TsI(TsRepr::new(&ts_i)))?;
            b.push(&Payload::TsR(TsRepr::new(&ts_r)))
        })
    }
}

impl ClientSession {
    /// CREATE_CHILD_SA for another ESP child SA with `offer` (RFC 7296
    /// §1.3.1); the answer is a [`SessionResponse::ChildCreated`].
    ///
    /// # Errors
    /// As [`ClientSession::request`].
    pub fn create_child(
        &mut self,
        offer: &ChildRequest,
        rng: &mut dyn RandomSource,
    ) -> Result<Vec<u8>, SessionError> {
        self.ready()?;
        let st = ChildState::new(offer, None, rng);
        self.send(PendingKind::Child(st), rng)
    }

    /// CREATE_CHILD_SA rekeying the child SA whose inbound SPI (ours) is
    /// `old_spi` (RFC 7296 §1.3.3); the answer is a
    /// [`SessionResponse::ChildRekeyed`].
    ///
    /// # Errors
    /// As [`ClientSession::request`].
    pub fn rekey_child(
        &mut self,
        old_spi: [u8; 4],
        offer: &ChildRequest,
        rng: &mut dyn RandomSource,
    ) -> Result<Vec<u8>, SessionError> {
        self.ready()?;
        let st = ChildState::new(offer, Some(old_spi), rng);
        self.send(PendingKind::Child(st), rng)
    }

    /// INFORMATIONAL deleting the child SAs whose inbound SPIs (ours) are
    /// `spis` (RFC 7296 §1.4.1); the answer is a
    /// [`SessionResponse::ChildrenDeleted`].
    ///
    /// # Errors
    /// As [`ClientSession::request`]; [`SessionError::Unusable`] for no SPI.
    pub fn delete_child(
        &mut self,
        spis: &[[u8; 4]],
        rng: &mut dyn RandomSource,
    ) -> Result<Vec<u8>, SessionError> {
        self.ready()?;
        if spis.is_empty() {
            return Err(SessionError::Unusable("no child SA to delete"));
        }
        self.send(PendingKind::DeleteChildren(spis.to_vec()), rng)
    }

    /// A request may be made now.
    fn ready(&self) -> Result<(), SessionError> {
        if self.closed {
            return Err(SessionError::Closed);
        }
        if self.pending.is_some() {
            return Err(SessionError::Busy);
        }
        Ok(())
    }

    /// The answer to a child SA request.
    pub(super) fn child_answer(
        &mut self,
        mut st: Box<ChildState>,
        a: &Answer<'_>,
        rng: &mut dyn RandomSource,
    ) -> Result<SessionResponse, SessionError> {
        match a.error {
            // RFC 7296 §1.3.1: the responder names the group it wants; the
            // request is made again with a KE of it (once per group, and
            // only one we offered).
            Some((NotifyType::INVALID_KE_PAYLOAD, data)) => {
                let group = invalid_ke_group(data, |g| {
                    st.offer.pfs.contains(&g) && !st.tried.contains(&g)
                });
                let Some(group) = group else {
                    return Ok(SessionResponse::Refused(NotifyType::INVALID_KE_PAYLOAD));
                };
                st.dh = Some(DhPrivate::generate(group, rng));
                st.ni = nonce(rng);
                st.tried.push(group);
                let request = self.send(PendingKind::Child(st), rng)?;
                return Ok(SessionResponse::ChildRetry { group, request });
            }
            Some((t, _)) => return Ok(SessionResponse::Refused(t)),
            None => {}
        }
        let (Some(sa), Some(nr)) = (a.sa, a.nonce) else {
            return Err(SessionError::Protocol("child SA answer without SA or Nr"));
        };
        let group = st.dh.as_ref().map(DhPrivate::group);
        let offered = st.esp(&self.config);
        // RFC 7296 §2.7, §3.3.6: the answer is one of our proposals, with
        // the group our KE carried.
        let esp = accept_esp_pfs(offered, &sa, group)
            .map_err(|_| SessionError::Protocol("the child SA answer was not offered"))?;
        let num = usize::from(esp.proposal_num);
        if num.checked_sub(1).and_then(|i| offered.get(i)) != Some(&esp.suite()) {
            return Err(SessionError::Protocol(
                "the child SA answer's number is wrong",
            ));
        }
        let shared = match (&st.dh, a.ke) {
            (Some(dh), Some(ke)) if ke.dh_group == dh.group().id() => Some(
                dh.agree(ke.key_data)
                    .map_err(|_| SessionError::Protocol("invalid KEr public value"))?,
            ),
            (None, None) => None,
            _ => return Err(SessionError::Protocol("KEr missing or of another group")),
        };
        // RFC 7296 §2.9: the responder may narrow the selectors, never
        // widen them.
        let (ts_i, ts_r) = st.ts(&self.config);
        let bad_ts = |_| SessionError::Protocol("the answer's selectors are not a narrowing");
        let ts_i = narrowed(a.ts_i, ts_i).map_err(bad_ts)?;
        let ts_r = narrowed(a.ts_r, ts_r).map_err(bad_ts)?;
        // RFC 7296 §2.17: KEYMAT = prf+(SK_d, [g^ir (new) |] Ni | Nr).
        let keys = ChildKeys::derive(
            self.sa.suite.prf(),
            self.sa.keys.sk_d.as_bytes(),
            shared.as_ref().map(|s| s.as_bytes()),
            &st.ni,
            nr,
            esp.encr,
            esp.integ,
        )
        .map_err(|_| SessionError::Protocol("child key derivation failed"))?;
        let child = Box::new(ChildSa {
            spi_i: st.spi,
            spi_r: esp.peer_spi,
            encr: esp.encr,
            integ: esp.integ,
            esn: esp.esn,
            keys,
            ts_i: ts_i.into(),
            ts_r: ts_r.into(),
        });
        Ok(match st.rekey {
            Some(old_spi) => SessionResponse::ChildRekeyed { old_spi, child },
            None => SessionResponse::ChildCreated(child),
        })
    }
}
