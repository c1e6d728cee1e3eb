//! IKE SA proposals (RFC 7296 §2.7, §3.3): the policy ([`IkeProposal`],
//! written in strongSwan's syntax), the responder's choice among the
//! initiator's proposals ([`choose_ike`]), the transforms either side puts
//! on the wire ([`IkeProposal::transforms`], [`selected_transforms`]) and
//! the initiator's check of the answer ([`accept_ike`]).
//!
//! Rebound speaks ENCR_AES_GCM_16 and ENCR_AES_CBC (128/256), HMAC-SHA-2
//! integrity, PRF_HMAC_SHA2_256/384/512 and the groups of [`DhGroup`].

use core::fmt;

use crate::crypto::{DhGroup, Encr, IkeSuite, Integ, PrfAlg};
use crate::wire::{Proposal, ProtocolId, SaRepr, TransformRepr, TransformType};

/// The IKE SPI size in an SA payload of a rekey (RFC 7296 §3.3.1: "8 for
/// IKE"); in IKE_SA_INIT it is 0.
pub const IKE_SPI_LEN: usize = 8;

/// Integrity transform id NONE.
const INTEG_NONE: u16 = 0;

/// One proposal of the IKE policy: the algorithms acceptable together.
/// Either every encryption algorithm is an AEAD and there is no integrity
/// algorithm, or none is and there is at least one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IkeProposal {
    /// Encryption algorithms, most preferred first.
    pub encr: Vec<Encr>,
    /// Integrity algorithms (empty for AEAD proposals).
    pub integ: Vec<Integ>,
    /// Pseudorandom functions.
    pub prf: Vec<PrfAlg>,
    /// Key-exchange groups.
    pub groups: Vec<DhGroup>,
}

/// Why a proposal string was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProposalError {
    /// A keyword that names no supported algorithm.
    UnknownKeyword(String),
    /// AEAD and non-AEAD ciphers in one proposal.
    MixedAead,
    /// An AEAD cipher with an integrity algorithm.
    AeadWithIntegrity,
    /// A non-AEAD cipher without one.
    MissingIntegrity,
    /// No prf, and none to take from an integrity algorithm.
    MissingPrf,
    /// No encryption algorithm.
    MissingEncryption,
    /// No key-exchange group.
    MissingGroup,
}

impl fmt::Display for ProposalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownKeyword(k) => write!(
                f,
                "unknown algorithm {k:?} (known: aes128gcm16 aes256gcm16 aes128 aes256 sha256 \
                 sha384 sha512 prfsha256 prfsha384 prfsha512 curve25519 x25519 ecp256 ecp384 modp2048)"
            ),
            Self::MixedAead => f.write_str("AEAD and non-AEAD ciphers in one proposal"),
            Self::AeadWithIntegrity => f.write_str("an AEAD cipher takes no integrity algorithm"),
            Self::MissingIntegrity => f.write_str("AES-CBC needs an integrity algorithm"),
            Self::MissingPrf => f.write_str("an AEAD proposal needs a prf (e.g. prfsha256)"),
            Self::MissingEncryption => f.write_str("no encryption algorithm"),
            Self::MissingGroup => f.write_str("no key-exchange group (e.g. curve25519)"),
        }
    }
}

const ENCR_NAMES: [(Encr, &str); 4] = [
    (Encr::AES_GCM_128, "aes128gcm16"),
    (Encr::AES_GCM_256, "aes256gcm16"),
    (Encr::AES_CBC_128, "aes128"),
    (Encr::AES_CBC_256, "aes256"),
];
const INTEG_NAMES: [(Integ, &str, PrfAlg); 3] = [
    (Integ::HmacSha256_128, "sha256", PrfAlg::HmacSha256),
    (Integ::HmacSha384_192, "sha384", PrfAlg::HmacSha384),
    (Integ::HmacSha512_256, "sha512", PrfAlg::HmacSha512),
];
const PRF_NAMES: [(PrfAlg, &str); 3] = [
    (PrfAlg::HmacSha256, "prfsha256"),
    (PrfAlg::HmacSha384, "prfsha384"),
    (PrfAlg::HmacSha512, "prfsha512"),
];

fn push_unique<T: PartialEq>(v: &mut Vec<T>, x: T) {
    if !v.contains(&x) {
        v.push(x);
    }
}

impl IkeProposal {
    /// The default policy: AES-GCM-256/128 with PRF-SHA-256/384/512, then
    /// AES-CBC-256/128 with HMAC-SHA-256/384/512; every group, curve25519
    /// first.
    pub fn default_policy() -> Vec<IkeProposal> {
        vec![
            IkeProposal {
                encr: vec![Encr::AES_GCM_256, Encr::AES_GCM_128],
                integ: vec![],
                prf: vec![PrfAlg::HmacSha256, PrfAlg::HmacSha384, PrfAlg::HmacSha512],
                groups: DhGroup::ALL.to_vec(),
            },
            IkeProposal {
                encr: vec![Encr::AES_CBC_256, Encr::AES_CBC_128],
                integ: vec![
                    Integ::HmacSha256_128,
                    Integ::HmacSha384_192,
                    Integ::HmacSha512_256,
                ],
                prf: vec![PrfAlg::HmacSha256, PrfAlg::HmacSha384, PrfAlg::HmacSha512],
                groups: DhGroup::ALL.to_vec(),
            },
        ]
    }

    /// Parse strongSwan's syntax: algorithm keywords joined by `-`, e.g.
    /// `aes256gcm16-prfsha256-curve25519` or `aes128-sha256-modp2048`.
    /// Without a `prf...` keyword the prfs follow the integrity algorithms
    /// (as in strongSwan).
    ///
    /// # Errors
    /// [`ProposalError`] naming what is wrong.
    pub fn parse(s: &str) -> Result<Self, ProposalError> {
        let mut p = IkeProposal {
            encr: vec![],
            integ: vec![],
            prf: vec![],
            groups: vec![],
        };
        for word in s.split('-') {
            let w = word.trim().to_ascii_lowercase();
            if let Some((e, _)) = ENCR_NAMES.iter().find(|(_, n)| *n == w) {
                push_unique(&mut p.encr, *e);
            } else if let Some((i, _, _)) = INTEG_NAMES.iter().find(|(_, n, _)| *n == w) {
                push_unique(&mut p.integ, *i);
            } else if let Some((f, _)) = PRF_NAMES.iter().find(|(_, n)| *n == w) {
                push_unique(&mut p.prf, *f);
            } else if let Some(g) = DhGroup::from_name(&w) {
                push_unique(&mut p.groups, g);
            } else {
                return Err(ProposalError::UnknownKeyword(word.to_owned()));
            }
        }
        if p.encr.is_empty() {
            return Err(ProposalError::MissingEncryption);
        }
        let aead = p.encr[0].is_aead();
        if p.encr.iter().any(|e| e.is_aead() != aead) {
            return Err(ProposalError::MixedAead);
        }
        match (aead, p.integ.is_empty()) {
            (true, false) => return Err(ProposalError::AeadWithIntegrity),
            (false, true) => return Err(ProposalError::MissingIntegrity),
            _ => {}
        }
        if p.prf.is_empty() {
            for i in &p.integ {
                if let Some((_, _, f)) = INTEG_NAMES.iter().find(|(x, _, _)| x == i) {
                    push_unique(&mut p.prf, *f);
                }
            }
        }
        if p.prf.is_empty() {
            return Err(ProposalError::MissingPrf);
        }
        if p.groups.is_empty() {
            return Err(ProposalError::MissingGroup);
        }
        Ok(p)
    }

    /// The strongSwan-style name, every algorithm listed.
    pub fn name(&self) -> String {
        let mut parts: Vec<&str> = Vec::new();
        for e in &self.encr {
            parts.extend(ENCR_NAMES.iter().filter(|(x, _)| x == e).map(|(_, n)| *n));
        }
        for i in &self.integ {
            parts.extend(
                INTEG_NAMES
                    .iter()
                    .filter(|(x, _, _)| x == i)
                    .map(|(_, n, _)| *n),
            );
        }
        for f in &self.prf {
            parts.extend(PRF_NAMES.iter().filter(|(x, _)| x == f).map(|(_, n)| *n));
        }
        parts.extend(self.groups.iter().map(|g| g.name()));
        parts.join("-")
    }

    /// Every transform of this proposal, for an initiator's offer: ENCR
    /// (with Key Length), PRF, INTEG, then the groups, `first_group` (the
    /// one the KE payload carries) first (RFC 7296 §1.2: the KE "MUST be
    /// of the first group in the first proposal" when guessing; any group
    /// listed is valid).
    pub fn transforms(&self, first_group: Option<DhGroup>) -> Vec<TransformRepr> {
        let mut t = Vec::new();
        for e in &self.encr {
            // RFC 7296 §3.3.5: the Key Length attribute "MUST be always
            // included" for ENCR_AES_CBC (and Rebound sends it for GCM too).
            t.push(TransformRepr::new(
                TransformType::ENCR,
                e.id(),
                Some(e.key_bits()),
            ));
        }
        for f in &self.prf {
            t.push(TransformRepr::new(TransformType::PRF, f.id(), None));
        }
        for i in &self.integ {
            t.push(TransformRepr::new(TransformType::INTEG, i.id(), None));
        }
        if let Some(g) = first_group.filter(|g| self.groups.contains(g)) {
            t.push(TransformRepr::new(TransformType::DH, g.id(), None));
        }
        for g in &self.groups {
            if Some(*g) != first_group {
                t.push(TransformRepr::new(TransformType::DH, g.id(), None));
            }
        }
        t
    }
}

/// The IKE suite and group the responder chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SelectedIke {
    /// The number of the peer's proposal taken (echoed in the answer).
    pub proposal_num: u8,
    pub suite: IkeSuite,
    pub group: DhGroup,
    /// The proposal's SPI (a rekey's new SPIi; absent in IKE_SA_INIT).
    pub spi: Option<[u8; IKE_SPI_LEN]>,
}

/// The responder's choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IkeChoice {
    pub selected: SelectedIke,
    /// The KE payload is of the chosen group. When false the answer is
    /// INVALID_KE_PAYLOAD naming `selected.group` (RFC 7296 §1.2).
    pub ke_matches: bool,
}

/// What one received IKE proposal offers, gathered in one pass.
#[derive(Default)]
struct Offer {
    encr: Vec<Encr>,
    prf: Vec<PrfAlg>,
    integ: Vec<Integ>,
    integ_other_than_none: bool,
    groups: Vec<DhGroup>,
}

impl Offer {
    /// Summarise `p`; `None` when the proposal as a whole is unacceptable.
    fn scan(p: &Proposal<'_>) -> Option<Self> {
        let mut o = Offer::default();
        for t in p.transforms() {
            match t.ttype {
                TransformType::ENCR | TransformType::PRF | TransformType::INTEG => {}
                TransformType::DH => {}
                // RFC 7296 §3.3.6: a proposal with a Transform Type the
                // responder does not understand is unacceptable (ESN is not
                // a type of IKE proposals, §3.3.3).
                _ => return None,
            }
            if t.ttype == TransformType::INTEG && t.id != INTEG_NONE {
                o.integ_other_than_none = true;
            }
            // RFC 7296 §3.3.6: a transform with an attribute the responder
            // does not understand is unacceptable; others of its type are
            // still considered.
            if t.unknown_attribute {
                continue;
            }
            match t.ttype {
                TransformType::ENCR => {
                    // RFC 7296 §3.3.5: "proposals not containing [the Key
                    // Length attribute] MUST be rejected" for AES-CBC (GCM
                    // has no default key size either).
                    let aes = t.id == Encr::ENCR_AES_CBC || t.id == Encr::ENCR_AES_GCM_16;
                    match t.key_len {
                        None if aes => return None,
                        None => {}
                        Some(k) => {
                            if let Some(e) = Encr::from_transform(t.id, k) {
                                o.encr.push(e);
                            }
                        }
                    }
                }
                TransformType::PRF => o.prf.extend(PrfAlg::from_id(t.id)),
                TransformType::INTEG => o.integ.extend(Integ::from_id(t.id)),
                _ => o.groups.extend(DhGroup::from_id(t.id)),
            }
        }
        Some(o)
    }

    /// Pick, by our preference, a suite of `ours` this offer allows; the
    /// group is `ke_group` when both allow it.
    fn pick(&self, ours: &IkeProposal, ke_group: Option<DhGroup>) -> Option<(IkeSuite, DhGroup)> {
        let encr = *ours.encr.iter().find(|e| self.encr.contains(e))?;
        let integ = if encr.is_aead() {
            // RFC 7296 §3.3: combined-mode ciphers "MUST either offer no
            // integrity algorithm or a single integrity algorithm of NONE".
            if self.integ_other_than_none {
                return None;
            }
            None
        } else {
            Some(*ours.integ.iter().find(|i| self.integ.contains(i))?)
        };
        let prf = *ours.prf.iter().find(|f| self.prf.contains(f))?;
        let group = match ke_group.filter(|g| ours.groups.contains(g) && self.groups.contains(g)) {
            Some(g) => g,
            None => *ours.groups.iter().find(|g| self.groups.contains(g))?,
        };
        let suite = IkeSuite::new(encr, prf, integ).ok()?;
        Some((suite, group))
    }
}

/// Responder (RFC 7296 §2.7): the first of the peer's IKE proposals, in the
/// peer's order, that the policy allows. `spi_len` is 0 in IKE_SA_INIT
/// and [`IKE_SPI_LEN`] in a rekey; `ke_group` the KE payload's group.
///
/// RFC 7296 §1.2: "If the responder selects a proposal using a different
/// Diffie-Hellman group (other than NONE), the responder will indicate the
/// correct group in the response and the initiator SHOULD pick an element
/// of that group for its KE value when retrying". A proposal that allows
/// the KE payload's group is preferred to one that would need a retry.
///
/// Returns `None` when no proposal is acceptable (NO_PROPOSAL_CHOSEN).
pub fn choose_ike(
    policy: &[IkeProposal],
    sa: &SaRepr<'_>,
    spi_len: usize,
    ke_group: u16,
) -> Option<IkeChoice> {
    let ke = DhGroup::from_id(ke_group);
    let mut fallback = None;
    for p in sa.proposals() {
        // RFC 7296 §3.3.1: Protocol ID 1 (IKE); SPI Size 0 for the initial
        // exchange, 8 in a rekey.
        if p.protocol != ProtocolId::IKE || p.spi.len() != spi_len {
            continue;
        }
        let spi = p.spi.try_into().ok();
        if spi_len == IKE_SPI_LEN && spi == Some([0u8; IKE_SPI_LEN]) {
            continue;
        }
        let Some(offer) = Offer::scan(&p) else {
            continue;
        };
        for ours in policy {
            let Some((suite, group)) = offer.pick(ours, ke) else {
                continue;
            };
            let selected = SelectedIke {
                proposal_num: p.num,
                suite,
                group,
                spi,
            };
            if Some(group) == ke {
                return Some(IkeChoice {
                    selected,
                    ke_matches: true,
                });
            }
            fallback.get_or_insert(IkeChoice {
                selected,
                ke_matches: false,
            });
        }
    }
    fallback
}

/// The transforms of the chosen suite for the answer's SA payload: ENCR,
/// PRF, INTEG (non-AEAD only), DH. Returns the array and how many are used.
pub fn selected_transforms(s: &SelectedIke) -> ([TransformRepr; 4], usize) {
    let encr = s.suite.encr();
    let e = TransformRepr::new(TransformType::ENCR, encr.id(), Some(encr.key_bits()));
    let f = TransformRepr::new(TransformType::PRF, s.suite.prf().id(), None);
    let g = TransformRepr::new(TransformType::DH, s.group.id(), None);
    match s.suite.integ() {
        Some(i) => (
            [
                e,
                f,
                TransformRepr::new(TransformType::INTEG, i.id(), None),
                g,
            ],
            4,
        ),
        None => ([e, f, g, g], 3),
    }
}

/// Initiator: check the responder's SA payload against what was offered:
/// exactly one IKE proposal with the expected SPI size, exactly one of
/// ENCR, PRF, DH, at most one INTEG (NONE with an AEAD), together one
/// suite of one offered proposal, and the group `ke_group` (the one our KE
/// carried).
///
/// Returns `None` for anything else.
pub fn accept_ike(
    offered: &[IkeProposal],
    sa: &SaRepr<'_>,
    spi_len: usize,
    ke_group: DhGroup,
) -> Option<SelectedIke> {
    let mut proposals = sa.proposals();
    let p = proposals.next()?;
    // RFC 7296 §2.7: "The responder MUST accept a single proposal".
    if proposals.next().is_some() || p.protocol != ProtocolId::IKE || p.spi.len() != spi_len {
        return None;
    }
    let (mut encr, mut prf, mut integ, mut group) = (None, None, None, None);
    let mut counts = [0usize; 4];
    for t in p.transforms() {
        if t.unknown_attribute {
            return None;
        }
        match t.ttype {
            TransformType::ENCR => {
                counts[0] += 1;
                encr = t.key_len.and_then(|k| Encr::from_transform(t.id, k));
            }
            TransformType::PRF => {
                counts[1] += 1;
                prf = PrfAlg::from_id(t.id);
            }
            TransformType::INTEG if t.id == INTEG_NONE => {}
            TransformType::INTEG => {
                counts[2] += 1;
                integ = Some(Integ::from_id(t.id)?);
            }
            TransformType::DH => {
                counts[3] += 1;
                group = DhGroup::from_id(t.id);
            }
            _ => return None,
        }
    }
    if counts[0] != 1 || counts[1] != 1 || counts[2] > 1 || counts[3] != 1 {
        return None;
    }
    let (encr, prf, group) = (encr?, prf?, group?);
    if group != ke_group {
        return None;
    }
    let allowed = offered.iter().any(|o| {
        o.encr.contains(&encr)
            && o.prf.contains(&prf)
            && o.groups.contains(&group)
            && match integ {
                Some(i) => o.integ.contains(&i),
                None => encr.is_aead(),
            }
    });
    if !allowed {
        return None;
    }
    Some(SelectedIke {
        proposal_num: p.num,
        suite: IkeSuite::new(encr, prf, integ).ok()?,
        group,
        spi: p.spi.try_into().ok(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ProposalSpec;

    fn sa_of<'a>(specs: &'a [ProposalSpec<'a>]) -> SaRepr<'a> {
        SaRepr::new(specs)
    }

    #[test]
    fn parse_strongswan_syntax() {
        let p = IkeProposal::parse("aes256gcm16-prfsha256-curve25519").unwrap();
        assert_eq!(p.encr, vec![Encr::AES_GCM_256]);
        assert!(p.integ.is_empty());
        assert_eq!(p.prf, vec![PrfAlg::HmacSha256]);
        assert_eq!(p.groups, vec![DhGroup::Curve25519]);
        let p = IkeProposal::parse("aes128-sha256-modp2048").unwrap();
        assert_eq!(p.integ, vec![Integ::HmacSha256_128]);
        assert_eq!(p.prf, vec![PrfAlg::HmacSha256], "prf follows integ");
        assert_eq!(p.name(), "aes128-sha256-prfsha256-modp2048");
        assert_eq!(IkeProposal::parse(&p.name()).unwrap(), p);
        for (bad, err) in [
            ("aes256gcm16-curve25519", ProposalError::MissingPrf),
            ("aes256-prfsha256-x25519", ProposalError::MissingIntegrity),
            (
                "aes256gcm16-sha256-x25519",
                ProposalError::AeadWithIntegrity,
            ),
            ("aes256gcm16-aes256-sha256-x25519", ProposalError::MixedAead),
            ("aes256-sha256", ProposalError::MissingGroup),
            ("sha256-x25519", ProposalError::MissingEncryption),
            (
                "3des-sha1-modp1024",
                ProposalError::UnknownKeyword("3des".into()),
            ),
        ] {
            assert_eq!(IkeProposal::parse(bad), Err(err), "{bad}");
        }
    }

    #[test]
    fn responder_prefers_the_ke_group_and_falls_back_to_invalid_ke() {
        let policy = IkeProposal::default_policy();
        let offer = IkeProposal::parse("aes128gcm16-prfsha384-ecp256-curve25519").unwrap();
        let t = offer.transforms(Some(DhGroup::Ecp256));
        let specs = [ProposalSpec {
            num: 1,
            protocol: ProtocolId::IKE,
            spi: &[],
            transforms: &t,
        }];
        let c = choose_ike(&policy, &sa_of(&specs), 0, 19).unwrap();
        assert!(c.ke_matches);
        assert_eq!(c.selected.group, DhGroup::Ecp256);
        assert_eq!(c.selected.suite.encr(), Encr::AES_GCM_128);
        assert_eq!(c.selected.suite.prf(), PrfAlg::HmacSha384);
        // A KE of a group the peer lists but we do not take: our
        // preference among the peer's groups.
        let only_ours = [IkeProposal::parse("aes128gcm16-prfsha384-curve25519").unwrap()];
        let c = choose_ike(&only_ours, &sa_of(&specs), 0, 19).unwrap();
        assert!(!c.ke_matches);
        assert_eq!(c.selected.group, DhGroup::Curve25519);
        // Nothing in common.
        let none = [IkeProposal::parse("aes256-sha512-modp2048").unwrap()];
        assert!(choose_ike(&none, &sa_of(&specs), 0, 19).is_none());
        // Wrong SPI size (a rekey's SA payload in IKE_SA_INIT).
        assert!(choose_ike(&policy, &sa_of(&specs), IKE_SPI_LEN, 19).is_none());
    }

    #[test]
    fn unknown_transform_type_or_missing_key_length_rejects_the_proposal() {
        let policy = IkeProposal::default_policy();
        let mut t = IkeProposal::parse("aes256gcm16-prfsha256-curve25519")
            .unwrap()
            .transforms(None);
        t.push(TransformRepr::new(TransformType::ESN, 0, None));
        let specs = [ProposalSpec {
            num: 1,
            protocol: ProtocolId::IKE,
            spi: &[],
            transforms: &t,
        }];
        assert!(choose_ike(&policy, &sa_of(&specs), 0, 31).is_none());
        let t = [
            TransformRepr::new(TransformType::ENCR, Encr::ENCR_AES_GCM_16, None),
            TransformRepr::new(TransformType::PRF, 5, None),
            TransformRepr::new(TransformType::DH, 31, None),
        ];
        let specs = [ProposalSpec {
            num: 1,
            protocol: ProtocolId::IKE,
            spi: &[],
            transforms: &t,
        }];
        assert!(choose_ike(&policy, &sa_of(&specs), 0, 31).is_none());
    }

    #[test]
    fn aead_with_real_integrity_is_refused_cbc_needs_integ() {
        let policy = IkeProposal::default_policy();
        let t = [
            TransformRepr::new(TransformType::ENCR, Encr::ENCR_AES_GCM_16, Some(256)),
            TransformRepr::new(TransformType::PRF, 5, None),
            TransformRepr::new(TransformType::INTEG, 12, None),
            TransformRepr::new(TransformType::DH, 31, None),
        ];
        let specs = [ProposalSpec {
            num: 1,
            protocol: ProtocolId::IKE,
            spi: &[],
            transforms: &t,
        }];
        assert!(choose_ike(&policy, &sa_of(&specs), 0, 31).is_none());
    }

    #[test]
    fn answer_round_trips_through_accept() {
        let policy = IkeProposal::default_policy();
        let offer = [IkeProposal::parse("aes128-sha256-modp2048").unwrap()];
        let t = offer[0].transforms(Some(DhGroup::Modp2048));
        let specs = [ProposalSpec {
            num: 3,
            protocol: ProtocolId::IKE,
            spi: &[],
            transforms: &t,
        }];
        let c = choose_ike(&policy, &sa_of(&specs), 0, 14).unwrap();
        let (tf, n) = selected_transforms(&c.selected);
        let answer = [ProposalSpec {
            num: c.selected.proposal_num,
            protocol: ProtocolId::IKE,
            spi: &[],
            transforms: &tf[..n],
        }];
        let got = accept_ike(&offer, &sa_of(&answer), 0, DhGroup::Modp2048).unwrap();
        assert_eq!(got, c.selected);
        assert_eq!(got.proposal_num, 3);
        // The wrong group, or a suite not offered, is refused.
        assert!(accept_ike(&offer, &sa_of(&answer), 0, DhGroup::Curve25519).is_none());
        let gcm = [IkeProposal::parse("aes128gcm16-prfsha256-modp2048").unwrap()];
        assert!(accept_ike(&gcm, &sa_of(&answer), 0, DhGroup::Modp2048).is_none());
    }
}
