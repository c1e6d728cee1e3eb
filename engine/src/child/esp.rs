//! ESP proposals of a child SA (RFC 7296 §2.7, §3.3): the responder chooses
//! one from the peer's SAi2 ([`choose_esp`]), the initiator builds its offer
//! ([`esp_transforms`]) and checks the responder's SAr2 against it
//! ([`accept_esp`]).
//!
//! Rebound speaks AES-GCM-16 (RFC 4106) and AES-CBC (RFC 3602) with
//! HMAC-SHA-2 (RFC 4868), 128- or 256-bit keys, without extended sequence
//! numbers.

use core::fmt;

use super::ChildError;
use crate::crypto::{DhGroup, Encr, Integ};
use crate::wire::{Proposal, ProtocolId, SaRepr, TransformRepr, TransformType};

/// The size of an ESP SPI in octets (RFC 7296 §3.3.1).
pub const ESP_SPI_LEN: usize = 4;

/// ESN transform id "No Extended Sequence Numbers" (RFC 7296 §3.3.2).
const ESN_NONE: u16 = 0;
/// Integrity transform id NONE.
const INTEG_NONE: u16 = 0;
/// Diffie-Hellman transform id NONE.
const DH_NONE: u16 = 0;

/// One ESP suite: an encryption algorithm and, unless it is an AEAD, an
/// integrity algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EspProposal {
    /// The encryption algorithm with its key size.
    pub encr: Encr,
    /// The integrity algorithm; `None` for an AEAD cipher.
    pub integ: Option<Integ>,
}

impl EspProposal {
    /// AES-GCM with a 256-bit key and a 16-byte ICV.
    pub const AES_GCM_256: EspProposal = EspProposal {
        encr: Encr::AES_GCM_256,
        integ: None,
    };
    /// AES-GCM with a 128-bit key and a 16-byte ICV.
    pub const AES_GCM_128: EspProposal = EspProposal {
        encr: Encr::AES_GCM_128,
        integ: None,
    };
    /// AES-CBC-256 with HMAC_SHA2_256_128.
    pub const AES_CBC_256_SHA256: EspProposal = EspProposal {
        encr: Encr::AES_CBC_256,
        integ: Some(Integ::HmacSha256_128),
    };
    /// AES-CBC-128 with HMAC_SHA2_256_128.
    pub const AES_CBC_128_SHA256: EspProposal = EspProposal {
        encr: Encr::AES_CBC_128,
        integ: Some(Integ::HmacSha256_128),
    };
    /// AES-CBC-256 with HMAC_SHA2_384_192.
    pub const AES_CBC_256_SHA384: EspProposal = EspProposal {
        encr: Encr::AES_CBC_256,
        integ: Some(Integ::HmacSha384_192),
    };
    /// AES-CBC-256 with HMAC_SHA2_512_256.
    pub const AES_CBC_256_SHA512: EspProposal = EspProposal {
        encr: Encr::AES_CBC_256,
        integ: Some(Integ::HmacSha512_256),
    };

    /// The default policy, most preferred first.
    pub const DEFAULT: [EspProposal; 4] = [
        Self::AES_GCM_256,
        Self::AES_GCM_128,
        Self::AES_CBC_256_SHA256,
        Self::AES_CBC_128_SHA256,
    ];

    /// Every valid suite, with its strongSwan-style name.
    const NAMED: [(EspProposal, &'static str); 8] = [
        (Self::AES_GCM_256, "aes256gcm16"),
        (Self::AES_GCM_128, "aes128gcm16"),
        (Self::AES_CBC_256_SHA256, "aes256-sha256"),
        (Self::AES_CBC_128_SHA256, "aes128-sha256"),
        (Self::AES_CBC_256_SHA384, "aes256-sha384"),
        (Self::AES_CBC_256_SHA512, "aes256-sha512"),
        (
            EspProposal {
                encr: Encr::AES_CBC_128,
                integ: Some(Integ::HmacSha384_192),
            },
            "aes128-sha384",
        ),
        (
            EspProposal {
                encr: Encr::AES_CBC_128,
                integ: Some(Integ::HmacSha512_256),
            },
            "aes128-sha512",
        ),
    ];

    /// Whether the parts go together: a 128- or 256-bit key, and an
    /// integrity algorithm exactly when the cipher is not an AEAD. An
    /// invalid entry in a policy never matches anything.
    pub const fn is_valid(&self) -> bool {
        matches!(self.encr.validate(), Ok(())) && self.encr.is_aead() == self.integ.is_none()
    }

    /// The strongSwan-style name ("aes256gcm16", "aes256-sha256", ...), or
    /// "invalid" for a combination that [`EspProposal::is_valid`] refuses.
    pub fn name(&self) -> &'static str {
        Self::NAMED
            .iter()
            .find(|(p, _)| p == self)
            .map_or("invalid", |(_, n)| n)
    }

    /// The suite a strongSwan-style name (as [`EspProposal::name`] gives it,
    /// ASCII case ignored) stands for.
    pub fn from_name(s: &str) -> Option<Self> {
        Self::NAMED
            .iter()
            .find(|(_, n)| n.eq_ignore_ascii_case(s))
            .map(|(p, _)| *p)
    }
}

impl fmt::Display for EspProposal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The ESP suite chosen for a child SA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SelectedEsp {
    /// The number of the proposal accepted; the SAr2 carries it back
    /// (RFC 7296 §3.3.1).
    pub proposal_num: u8,
    /// The peer's SPI from that proposal: its inbound SA.
    pub peer_spi: [u8; 4],
    /// The encryption algorithm.
    pub encr: Encr,
    /// The integrity algorithm; `None` for an AEAD.
    pub integ: Option<Integ>,
    /// Extended sequence numbers; Rebound never negotiates them.
    pub esn: bool,
}

impl SelectedEsp {
    /// The suite, e.g. for [`esp_transforms`] when building the SAr2.
    pub const fn suite(&self) -> EspProposal {
        EspProposal {
            encr: self.encr,
            integ: self.integ,
        }
    }
}

/// The SPI of a proposal that can make an ESP SA, if it is one.
fn esp_spi(p: &Proposal<'_>) -> Option<[u8; ESP_SPI_LEN]> {
    // Rebound makes ESP child SAs only; AH and anything else are skipped.
    if p.protocol != ProtocolId::ESP {
        return None;
    }
    // RFC 7296 §3.3.1: the SPI Size "is equal to the size, in octets, of
    // the SPI of the corresponding protocol (8 for IKE, 4 for ESP and AH)".
    let spi: [u8; ESP_SPI_LEN] = p.spi.try_into().ok()?;
    // RFC 4303 §2.1: "The SPI value of zero (0) is reserved for local,
    // implementation-specific use and MUST NOT be sent on the wire."
    (spi != [0; ESP_SPI_LEN]).then_some(spi)
}

/// A bit per supported encryption algorithm, `None` for other key sizes.
const fn encr_bit(e: Encr) -> Option<u8> {
    match e {
        Encr::AesGcm16 { key_bits: 128 } => Some(1),
        Encr::AesGcm16 { key_bits: 256 } => Some(2),
        Encr::AesCbc { key_bits: 128 } => Some(4),
        Encr::AesCbc { key_bits: 256 } => Some(8),
        _ => None,
    }
}

/// A bit per integrity algorithm.
const fn integ_bit(i: Integ) -> u8 {
    match i {
        Integ::HmacSha256_128 => 1,
        Integ::HmacSha384_192 => 2,
        Integ::HmacSha512_256 => 4,
    }
}

/// What one received ESP proposal permits, gathered in one pass over its
/// transforms.
#[derive(Debug, Default)]
struct Offer {
    /// Acceptable encryption transforms ([`encr_bit`]).
    encr: u8,
    /// Acceptable integrity transforms ([`integ_bit`]).
    integ: u8,
    /// An integrity transform other than NONE is present.
    integ_other_than_none: bool,
}

impl Offer {
    /// Summarise `p`; `None` when the proposal as a whole is unacceptable.
    fn scan(p: &Proposal<'_>) -> Option<Self> {
        let mut offer = Offer::default();
        let mut esn_offered = false;
        let mut esn_none = false;
        for t in p.transforms() {
            match t.ttype {
                TransformType::ENCR | TransformType::INTEG | TransformType::ESN => {}
                // RFC 7296 §1.2: "the SA payloads in the IKE_AUTH exchange
                // cannot contain Transform Type 4 (Diffie-Hellman group) with
                // any value other than NONE. Implementations SHOULD omit the
                // whole transform substructure instead of sending value
                // NONE." The groups some clients list anyway are their PFS
                // policy for later rekeys; like strongSwan, Rebound
                // disregards them here and answers without a DH transform.
                TransformType::DH => continue,
                // RFC 7296 §3.3.6: "If the responder receives a proposal that
                // contains a Transform Type it does not understand ... it
                // MUST consider this proposal unacceptable; however, other
                // proposals in the same SA payload are processed as usual."
                _ => return None,
            }
            match t.ttype {
                TransformType::INTEG if t.id != INTEG_NONE => offer.integ_other_than_none = true,
                TransformType::ESN => esn_offered = true,
                _ => {}
            }
            // RFC 7296 §3.3.6: "if the responder receives a transform that
            // it does not understand, or one that contains a Transform
            // Attribute it does not understand, it MUST consider this
            // transform unacceptable; other transforms with the same
            // Transform Type are processed as usual."
            if t.unknown_attribute {
                continue;
            }
            match t.ttype {
                TransformType::ENCR => {
                    // RFC 7296 §3.3.5: "Some transforms specify that the Key
                    // Length attribute MUST be always included (omitting the
                    // attribute is not allowed, and proposals not containing
                    // it MUST be rejected). For example, this includes
                    // ENCR_AES_CBC". AES-GCM's key size has no default
                    // either, so ENCR_AES_GCM_16 is treated the same.
                    let aes = t.id == Encr::ENCR_AES_CBC || t.id == Encr::ENCR_AES_GCM_16;
                    let Some(key_bits) = t.key_len else {
                        if aes {
                            return None;
                        }
                        continue;
                    };
                    if let Some(bit) = Encr::from_transform(t.id, key_bits).and_then(encr_bit) {
                        offer.encr |= bit;
                    }
                }
                TransformType::INTEG => {
                    if let Some(i) = Integ::from_id(t.id) {
                        offer.integ |= integ_bit(i);
                    }
                }
                _ => esn_none |= t.id == ESN_NONE,
            }
        }
        // RFC 7296 §3.3.2: "A proposal containing a single ESN transform
        // with value '1' means that using normal (non-extended) sequence
        // numbers is not acceptable." A proposal without any ESN transform
        // (a mandatory type for ESP, §3.3.3) is taken liberally as "no ESN".
        if esn_offered && !esn_none {
            return None;
        }
        Some(offer)
    }

    /// Whether the proposal lets us pick `want`.
    fn permits(&self, want: &EspProposal) -> bool {
        if !want.is_valid() {
            return false;
        }
        let Some(bit) = encr_bit(want.encr) else {
            return false;
        };
        if self.encr & bit == 0 {
            return false;
        }
        match want.integ {
            // RFC 7296 §3.3: "Combined-mode ciphers include both integrity
            // and encryption in a single encryption algorithm, and MUST
            // either offer no integrity algorithm or a single integrity
            // algorithm of "NONE"".
            None => !self.integ_other_than_none,
            Some(i) => self.integ & integ_bit(i) != 0,
        }
    }
}

/// Responder (RFC 7296 §2.7, §3.3): the first of the peer's proposals, in
/// the peer's order, that policy allows.
///
/// Proposals that are not ESP, or whose SPI is not 4 non-zero octets, are
/// skipped, as are proposals with a transform type other than ENCR, INTEG,
/// ESN (and DH, which is disregarded). Transforms carrying an attribute
/// Rebound does not understand are ignored, AES transforms need their Key
/// Length. An AEAD is taken only from a proposal without an integrity
/// algorithm other than NONE, a non-AEAD only together with an integrity
/// algorithm of the policy. ESN: the proposal must offer "no ESN" (or no
/// ESN transform at all). Where a proposal lists several algorithms, the
/// first policy entry (our preference) it permits wins.
///
/// # Errors
/// [`ChildError::NoProposalChosen`] when no proposal is acceptable.
pub fn choose_esp(policy: &[EspProposal], sa: &SaRepr<'_>) -> Result<SelectedEsp, ChildError> {
    // RFC 7296 §2.7: "The responder MUST accept a single proposal or reject
    // them all and return an error. The error is given in a notification
    // of type NO_PROPOSAL_CHOSEN." The initiator's proposals are "ordered
    // from most preferred to least preferred", so the first acceptable one
    // is taken.
    sa.proposals()
        .find_map(|p| choose_in(policy, &p))
        .ok_or(ChildError::NoProposalChosen)
}

/// The suite [`choose_esp`] takes from the one proposal `p`, if any.
fn choose_in(policy: &[EspProposal], p: &Proposal<'_>) -> Option<SelectedEsp> {
    let peer_spi = esp_spi(p)?;
    let offer = Offer::scan(p)?;
    let chosen = policy.iter().find(|w| offer.permits(w))?;
    Some(SelectedEsp {
        proposal_num: p.num,
        peer_spi,
        encr: chosen.encr,
        integ: chosen.integ,
        esn: false,
    })
}

/// The ESP suite of a CREATE_CHILD_SA and its key-exchange group: `None`
/// without PFS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PfsChoice {
    pub esp: SelectedEsp,
    pub group: Option<DhGroup>,
}

/// Why [`choose_esp_pfs`] chose nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PfsRefusal {
    /// No proposal is acceptable: NO_PROPOSAL_CHOSEN.
    NoProposal,
    /// A proposal is acceptable with a KE of this group instead:
    /// INVALID_KE_PAYLOAD carrying it.
    InvalidKe(DhGroup),
}

/// The DH transforms of one proposal: whether it allows no key exchange
/// (no DH transform at all, or NONE among them) and the groups Rebound
/// speaks, in [`DhGroup::ALL`] order (our preference).
fn dh_offer(p: &Proposal<'_>) -> (bool, Vec<DhGroup>) {
    let mut any = false;
    let mut none = false;
    let mut ids = Vec::new();
    for t in p.transforms() {
        if t.ttype != TransformType::DH {
            continue;
        }
        any = true;
        if t.unknown_attribute {
            continue;
        }
        if t.id == DH_NONE {
            none = true;
        } else {
            ids.push(t.id);
        }
    }
    let groups = DhGroup::ALL
        .into_iter()
        .filter(|g| ids.contains(&g.id()))
        .collect();
    (!any || none, groups)
}

/// Responder of CREATE_CHILD_SA (RFC 7296 §1.3.1, §2.7): the first of the
/// peer's ESP proposals, in its order, whose suite the policy allows and
/// whose key-exchange transforms fit the KE payload (`ke`, its group id):
/// with a KE, the proposal must list that group (and Rebound speak it);
/// without one, it must allow no key exchange.
///
/// # Errors
/// [`PfsRefusal::InvalidKe`] with our preferred group of the first
/// proposal acceptable but for the KE payload's group (RFC 7296 §1.3.1:
/// a responder selecting a proposal with another group rejects the request
/// and names its preferred group in INVALID_KE_PAYLOAD), else
/// [`PfsRefusal::NoProposal`].
pub fn choose_esp_pfs(
    policy: &[EspProposal],
    sa: &SaRepr<'_>,
    ke: Option<u16>,
) -> Result<PfsChoice, PfsRefusal> {
    let mut fallback = None;
    for p in sa.proposals() {
        let Some(esp) = choose_in(policy, &p) else {
            continue;
        };
        let (none_ok, groups) = dh_offer(&p);
        match ke {
            None if none_ok => return Ok(PfsChoice { esp, group: None }),
            Some(id) => {
                if let Some(g) = groups.iter().find(|g| g.id() == id) {
                    return Ok(PfsChoice {
                        esp,
                        group: Some(*g),
                    });
                }
            }
            None => {}
        }
        if let Some(g) = groups.first() {
            fallback.get_or_insert(*g);
        }
    }
    Err(fallback.map_or(PfsRefusal::NoProposal, PfsRefusal::InvalidKe))
}

/// The transforms of one ESP proposal with the key-exchange groups of
/// `groups` (PFS in CREATE_CHILD_SA, RFC 7296 §1.3.1): ENCR, [INTEG], DH...,
/// ESN.
pub fn esp_transforms_pfs(p: &EspProposal, groups: &[DhGroup]) -> Vec<TransformRepr> {
    let (t, n) = esp_transforms(p);
    let mut v: Vec<TransformRepr> = t.get(..n.saturating_sub(1)).unwrap_or_default().to_vec();
    v.extend(
        groups
            .iter()
            .map(|g| TransformRepr::new(TransformType::DH, g.id(), None)),
    );
    v.push(TransformRepr::new(TransformType::ESN, ESN_NONE, None));
    v
}

/// The transforms of one ESP proposal: ENCR (with Key Length attribute),
/// INTEG for non-AEAD, ESN = 0 (no ESN). Returns the array and how many are
/// used (the unused tail repeats the ESN transform and must not be sent).
pub fn esp_transforms(p: &EspProposal) -> ([TransformRepr; 3], usize) {
    // RFC 7296 §3.3.5: for ENCR_AES_CBC (and, in Rebound, AES-GCM) "the Key
    // Length attribute MUST be always included".
    let encr = TransformRepr::new(TransformType::ENCR, p.encr.id(), Some(p.encr.key_bits()));
    // RFC 7296 §3.3.3: ESN is a mandatory transform type for ESP.
    let esn = TransformRepr::new(TransformType::ESN, ESN_NONE, None);
    match p.integ {
        Some(i) => (
            [
                encr,
                TransformRepr::new(TransformType::INTEG, i.id(), None),
                esn,
            ],
            3,
        ),
        // RFC 7296 §3.3: combined-mode ciphers "MUST either offer no
        // integrity algorithm or a single integrity algorithm of "NONE",
        // with no integrity algorithm being the RECOMMENDED method."
        None => ([encr, esn, esn], 2),
    }
}

/// Initiator: check the responder's SAr2 against what was offered: exactly
/// one proposal, protocol ESP, a 4-byte SPI, exactly one ENCR/at most one
/// INTEG/one ESN and the combination one of `offered`.
///
/// Two leniencies, both meaning "nothing": an INTEG NONE next to an AEAD,
/// and an answer without the ESN transform (taken as "no ESN"). A DH
/// transform is accepted only as NONE (RFC 7296 §1.2). The proposal number
/// is returned, not checked: the caller knows how it numbered its offer.
///
/// # Errors
/// [`ChildError::NoProposalChosen`] when the answer is anything else.
pub fn accept_esp(offered: &[EspProposal], sa: &SaRepr<'_>) -> Result<SelectedEsp, ChildError> {
    accept_esp_pfs(offered, sa, None)
}

/// As [`accept_esp`], for a CREATE_CHILD_SA answer: with PFS (`group`) the
/// answer carries exactly one DH transform, of that group; without, none
/// other than NONE.
///
/// # Errors
/// [`ChildError::NoProposalChosen`] when the answer is anything else.
pub fn accept_esp_pfs(
    offered: &[EspProposal],
    sa: &SaRepr<'_>,
    group: Option<DhGroup>,
) -> Result<SelectedEsp, ChildError> {
    const REFUSE: Result<SelectedEsp, ChildError> = Err(ChildError::NoProposalChosen);
    let mut proposals = sa.proposals();
    let Some(p) = proposals.next() else {
        return REFUSE;
    };
    // RFC 7296 §2.7: "The responder MUST accept a single proposal or reject
    // them all".
    if proposals.next().is_some() {
        return REFUSE;
    }
    let Some(peer_spi) = esp_spi(&p) else {
        return REFUSE;
    };
    let mut encr = None;
    let mut encr_count = 0usize;
    let mut integ = None;
    let mut integ_count = 0usize;
    let mut esn_count = 0usize;
    let mut dh_count = 0usize;
    for t in p.transforms() {
        // RFC 7296 §3.3.6: "Any attributes of a selected transform MUST be
        // returned unmodified"; we only ever send Key Length.
        if t.unknown_attribute {
            return REFUSE;
        }
        match t.ttype {
            TransformType::ENCR => {
                encr_count += 1;
                encr = t.key_len.and_then(|k| Encr::from_transform(t.id, k));
            }
            TransformType::INTEG if t.id == INTEG_NONE => {}
            TransformType::INTEG => {
                integ_count += 1;
                integ = Integ::from_id(t.id);
                if integ.is_none() {
                    return REFUSE;
                }
            }
            // We offer "no ESN" only.
            TransformType::ESN if t.id == ESN_NONE => esn_count += 1,
            TransformType::DH if t.id == DH_NONE => {}
            TransformType::DH if group.is_some_and(|g| g.id() == t.id) => dh_count += 1,
            _ => return REFUSE,
        }
    }
    if group.is_some() && dh_count != 1 {
        return REFUSE;
    }
    // RFC 7296 §2.7: "The accepted cryptographic suite MUST contain exactly
    // one transform of each type included in the proposal."
    if encr_count != 1 || integ_count > 1 || esn_count > 1 {
        return REFUSE;
    }
    let Some(encr) = encr else {
        return REFUSE;
    };
    let suite = EspProposal { encr, integ };
    // RFC 7296 §3.3.6: "The initiator of an exchange MUST check that the
    // accepted offer is consistent with one of its proposals, and if not
    // MUST terminate the exchange."
    if !suite.is_valid() || !offered.contains(&suite) {
        return REFUSE;
    }
    Ok(SelectedEsp {
        proposal_num: p.num,
        peer_spi,
        encr,
        integ,
        esn: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ProposalSpec;

    const SPI: [u8; 4] = [0xc0, 0xff, 0xee, 0x01];

    fn t(ttype: TransformType, id: u16, key: Option<u16>) -> TransformRepr {
        TransformRepr::new(ttype, id, key)
    }

    fn one(transforms: &[TransformRepr]) -> [ProposalSpec<'_>; 1] {
        [ProposalSpec {
            num: 1,
            protocol: ProtocolId::ESP,
            spi: &SPI,
            transforms,
        }]
    }

    #[test]
    fn pfs_choice_follows_the_ke_payload() {
        use TransformType as T;
        let gcm = t(T::ENCR, Encr::ENCR_AES_GCM_16, Some(256));
        let esn = t(T::ESN, 0, None);
        let x25519 = t(T::DH, 31, None);
        let p256 = t(T::DH, 19, None);
        let none = t(T::DH, 0, None);
        let policy = [EspProposal::AES_GCM_256];
        // Groups only: a KE of one of them is taken; none, or another
        // group, is INVALID_KE with our preference (curve25519 first).
        let tf = [gcm, p256, x25519, esn];
        let p1 = one(&tf);
        let sa = SaRepr::new(&p1);
        let c = choose_esp_pfs(&policy, &sa, Some(19)).unwrap();
        assert_eq!(c.group, Some(DhGroup::Ecp256));
        let want = Err(PfsRefusal::InvalidKe(DhGroup::Curve25519));
        assert_eq!(choose_esp_pfs(&policy, &sa, None), want);
        assert_eq!(choose_esp_pfs(&policy, &sa, Some(14)), want);
        // NONE among them: no KE is fine.
        let tf = [gcm, x25519, none, esn];
        let p2 = one(&tf);
        let sa = SaRepr::new(&p2);
        assert_eq!(choose_esp_pfs(&policy, &sa, None).unwrap().group, None);
        // No DH transform at all, and a KE: nothing to choose.
        let tf = [gcm, esn];
        let p3 = one(&tf);
        let sa = SaRepr::new(&p3);
        assert_eq!(
            choose_esp_pfs(&policy, &sa, Some(31)),
            Err(PfsRefusal::NoProposal)
        );
        // The answer's group must be the one asked for.
        let answer = [gcm, x25519, esn];
        let p4 = one(&answer);
        let sa = SaRepr::new(&p4);
        assert!(accept_esp_pfs(&policy, &sa, Some(DhGroup::Curve25519)).is_ok());
        assert!(accept_esp_pfs(&policy, &sa, Some(DhGroup::Ecp256)).is_err());
        assert!(accept_esp_pfs(&policy, &sa, None).is_err());
        let tf = esp_transforms_pfs(&EspProposal::AES_GCM_256, &[DhGroup::Ecp384]);
        assert_eq!(tf, vec![gcm, t(T::DH, 20, None), esn]);
    }

    #[test]
    fn names_round_trip() {
        for (p, n) in EspProposal::NAMED {
            assert!(p.is_valid());
            assert_eq!(p.name(), n);
            assert_eq!(p.to_string(), n);
            assert_eq!(EspProposal::from_name(n), Some(p));
            assert_eq!(EspProposal::from_name(&n.to_uppercase()), Some(p));
        }
        assert_eq!(EspProposal::from_name("aes256-sha1"), None);
        let bad = EspProposal {
            encr: Encr::AES_GCM_256,
            integ: Some(Integ::HmacSha256_128),
        };
        assert!(!bad.is_valid());
        assert_eq!(bad.name(), "invalid");
    }

    #[test]
    fn transforms_of_each_suite() {
        let (ts, n) = esp_transforms(&EspProposal::AES_GCM_256);
        assert_eq!(n, 2);
        assert_eq!(ts[0], t(TransformType::ENCR, 20, Some(256)));
        assert_eq!(ts[1], t(TransformType::ESN, 0, None));
        let (ts, n) = esp_transforms(&EspProposal::AES_CBC_256_SHA384);
        assert_eq!(n, 3);
        assert_eq!(ts[0], t(TransformType::ENCR, 12, Some(256)));
        assert_eq!(ts[1], t(TransformType::INTEG, 13, None));
        assert_eq!(ts[2], t(TransformType::ESN, 0, None));
    }

    #[test]
    fn own_offer_is_chosen_and_accepted() {
        for p in EspProposal::NAMED.map(|(p, _)| p) {
            let (ts, n) = esp_transforms(&p);
            let spec = one(&ts[..n]);
            let sa = SaRepr::new(&spec);
            let chosen = choose_esp(&[p], &sa).unwrap();
            assert_eq!(chosen.suite(), p);
            assert_eq!((chosen.peer_spi, chosen.esn), (SPI, false));
            assert_eq!(accept_esp(&[p], &sa), Ok(chosen));
        }
    }

    #[test]
    fn invalid_policy_entry_never_matches() {
        let gcm = [t(TransformType::ENCR, 20, Some(256))];
        let spec = one(&gcm);
        let bad = EspProposal {
            encr: Encr::AesGcm16 { key_bits: 192 },
            integ: None,
        };
        assert_eq!(
            choose_esp(&[bad], &SaRepr::new(&spec)),
            Err(ChildError::NoProposalChosen)
        );
    }

    #[test]
    fn zero_spi_and_wrong_protocol_skipped() {
        let gcm = [t(TransformType::ENCR, 20, Some(256))];
        let mk = |protocol, spi| ProposalSpec {
            num: 1,
            protocol,
            spi,
            transforms: &gcm,
        };
        for spec in [
            mk(ProtocolId::ESP, &[0; 4][..]),
            mk(ProtocolId::AH, &SPI[..]),
            mk(ProtocolId::ESP, &[1, 2, 3, 4, 5, 6, 7, 8][..]),
        ] {
            let spec = [spec];
            let sa = SaRepr::new(&spec);
            assert_eq!(
                choose_esp(&EspProposal::DEFAULT, &sa),
                Err(ChildError::NoProposalChosen)
            );
            assert_eq!(
                accept_esp(&EspProposal::DEFAULT, &sa),
                Err(ChildError::NoProposalChosen)
            );
        }
    }

    #[test]
    fn prf_in_esp_proposal_rejects_it() {
        let ts = [
            t(TransformType::ENCR, 20, Some(256)),
            t(TransformType::PRF, 5, None),
        ];
        let spec = one(&ts);
        assert!(choose_esp(&EspProposal::DEFAULT, &SaRepr::new(&spec)).is_err());
    }

    #[test]
    fn dh_disregarded_by_responder_only_none_by_initiator() {
        let ts = [
            t(TransformType::ENCR, 20, Some(128)),
            t(TransformType::DH, 31, None),
        ];
        let spec = one(&ts);
        let sa = SaRepr::new(&spec);
        assert_eq!(
            choose_esp(&EspProposal::DEFAULT, &sa).map(|s| s.suite()),
            Ok(EspProposal::AES_GCM_128)
        );
        assert!(accept_esp(&EspProposal::DEFAULT, &sa).is_err());
        let ts = [
            t(TransformType::ENCR, 20, Some(128)),
            t(TransformType::DH, 0, None),
        ];
        let spec = one(&ts);
        assert!(accept_esp(&EspProposal::DEFAULT, &SaRepr::new(&spec)).is_ok());
    }
}
