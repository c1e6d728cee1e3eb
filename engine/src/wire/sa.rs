//! Security Association payload: proposals, transforms and transform
//! attributes (RFC 7296 §3.3).
//!
//! A parsed `SaRepr` keeps the validated wire bytes and iterates them without
//! allocating; one built for emission points at caller-owned
//! [`ProposalSpec`]s. Both compare equal when they describe the same SA.

use super::consts::{ATTR_KEY_LENGTH, PayloadType, ProtocolId, TransformType};
use super::error::WireError;
use super::header::be16;

const PROPOSAL_HDR: usize = 8;
const TRANSFORM_HDR: usize = 8;
const MORE_PROPOSALS: u8 = 2;
const MORE_TRANSFORMS: u8 = 3;
const ATTR_TV: u16 = 0x8000;

/// One transform (RFC 7296 §3.3.2) with its key length (§3.3.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TransformRepr {
    pub ttype: TransformType,
    pub id: u16,
    /// The Key Length attribute in bits, when present.
    pub key_len: Option<u16>,
    /// An attribute other than Key Length was present. RFC 7296 §3.3.6:
    /// such a transform MUST be rejected as a whole (it is still parsed so
    /// the other transforms of the proposal can be considered).
    pub unknown_attribute: bool,
}

impl TransformRepr {
    pub const fn new(ttype: TransformType, id: u16, key_len: Option<u16>) -> Self {
        TransformRepr {
            ttype,
            id,
            key_len,
            unknown_attribute: false,
        }
    }
    fn wire_len(&self) -> usize {
        TRANSFORM_HDR + if self.key_len.is_some() { 4 } else { 0 }
    }
}

/// A proposal to emit: caller-owned transforms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProposalSpec<'a> {
    pub num: u8,
    pub protocol: ProtocolId,
    pub spi: &'a [u8],
    pub transforms: &'a [TransformRepr],
}

/// A proposal, from the wire or from a spec.
#[derive(Debug, Clone, Copy)]
pub struct Proposal<'a> {
    pub num: u8,
    pub protocol: ProtocolId,
    pub spi: &'a [u8],
    transforms: TransformList<'a>,
}

#[derive(Debug, Clone, Copy)]
enum TransformList<'a> {
    Wire(&'a [u8]),
    Spec(&'a [TransformRepr]),
}

impl<'a> Proposal<'a> {
    /// The proposal's transforms in order.
    pub fn transforms(&self) -> Transforms<'a> {
        Transforms {
            list: self.transforms,
        }
    }
}

impl PartialEq for Proposal<'_> {
    fn eq(&self, o: &Self) -> bool {
        self.num == o.num
            && self.protocol == o.protocol
            && self.spi == o.spi
            && self.transforms().eq(o.transforms())
    }
}

/// Iterator over the transforms of a proposal.
#[derive(Debug, Clone)]
pub struct Transforms<'a> {
    list: TransformList<'a>,
}

impl Iterator for Transforms<'_> {
    type Item = TransformRepr;
    fn next(&mut self) -> Option<TransformRepr> {
        match &mut self.list {
            TransformList::Spec(s) => {
                let (first, rest) = s.split_first()?;
                *s = rest;
                Some(*first)
            }
            TransformList::Wire(b) => {
                // Validated at parse time; a failure here just ends iteration.
                let (t, len) = parse_transform(b).ok()?;
                *b = b.get(len..)?;
                Some(t)
            }
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum ProposalList<'a> {
    Wire(&'a [u8]),
    Spec(&'a [ProposalSpec<'a>]),
}

/// The SA payload body.
#[derive(Debug, Clone, Copy)]
pub struct SaRepr<'a> {
    list: ProposalList<'a>,
}

impl PartialEq for SaRepr<'_> {
    fn eq(&self, o: &Self) -> bool {
        self.proposals().eq(o.proposals())
    }
}

/// Iterator over the proposals of an SA payload.
#[derive(Debug, Clone)]
pub struct Proposals<'a> {
    list: ProposalList<'a>,
}

impl<'a> Iterator for Proposals<'a> {
    type Item = Proposal<'a>;
    fn next(&mut self) -> Option<Proposal<'a>> {
        match &mut self.list {
            ProposalList::Spec(s) => {
                let (p, rest) = s.split_first()?;
                *s = rest;
                Some(Proposal {
                    num: p.num,
                    protocol: p.protocol,
                    spi: p.spi,
                    transforms: TransformList::Spec(p.transforms),
                })
            }
            ProposalList::Wire(b) => {
                let (p, len) = parse_proposal(b).ok()?;
                *b = b.get(len..)?;
                Some(p)
            }
        }
    }
}

fn bad(what: &'static str) -> WireError {
    WireError::malformed(PayloadType::SA, what)
}

/// Parse one transform substructure at the start of `b`; returns it and its
/// length.
fn parse_transform(b: &[u8]) -> Result<(TransformRepr, usize), WireError> {
    if b.len() < TRANSFORM_HDR {
        return Err(bad("truncated transform"));
    }
    let len = be16(&b[2..4]) as usize;
    if len < TRANSFORM_HDR || len > b.len() {
        return Err(bad("transform length out of range"));
    }
    let mut t = TransformRepr::new(TransformType(b[4]), be16(&b[6..8]), None);
    let mut attrs = &b[TRANSFORM_HDR..len];
    while !attrs.is_empty() {
        if attrs.len() < 4 {
            return Err(bad("truncated transform attribute"));
        }
        let af_type = be16(&attrs[0..2]);
        let attr_type = af_type & !ATTR_TV;
        let (value, used) = if af_type & ATTR_TV != 0 {
            (&attrs[2..4], 4)
        } else {
            let vlen = be16(&attrs[2..4]) as usize;
            let end = 4 + vlen;
            if end > attrs.len() {
                return Err(bad("transform attribute runs past the transform"));
            }
            (&attrs[4..end], end)
        };
        if attr_type == ATTR_KEY_LENGTH && af_type & ATTR_TV != 0 {
            if t.key_len.is_some() {
                return Err(bad("duplicate key length attribute"));
            }
            t.key_len = Some(be16(value));
        } else {
            t.unknown_attribute = true;
        }
        attrs = &attrs[used..];
    }
    Ok((t, len))
}

/// Parse one proposal substructure at the start of `b`, validating all its
/// transforms; returns it and its length.
fn parse_proposal(b: &[u8]) -> Result<(Proposal<'_>, usize), WireError> {
    if b.len() < PROPOSAL_HDR {
        return Err(bad("truncated proposal"));
    }
    let len = be16(&b[2..4]) as usize;
    let spi_size = b[6] as usize;
    let num_transforms = b[7] as usize;
    if len < PROPOSAL_HDR + spi_size || len > b.len() {
        return Err(bad("proposal length out of range"));
    }
    let spi = &b[PROPOSAL_HDR..PROPOSAL_HDR + spi_size];
    let tbytes = &b[PROPOSAL_HDR + spi_size..len];
    let mut rest = tbytes;
    let mut count = 0usize;
    while !rest.is_empty() {
        let (_, tlen) = parse_transform(rest)?;
        let last = rest[0];
        rest = &rest[tlen..];
        count += 1;
        // RFC 7296 §3.3.2: Last Substruc "MUST be 0 if this was the last
        // Transform Substructure, and a 3 if there are more".
        let want = if rest.is_empty() { 0 } else { MORE_TRANSFORMS };
        if last != want {
            return Err(bad("transform Last Substruc inconsistent"));
        }
    }
    if count != num_transforms {
        return Err(bad("transform count does not match # Transforms"));
    }
    Ok((
        Proposal {
            num: b[4],
            protocol: ProtocolId(b[5]),
            spi,
            transforms: TransformList::Wire(tbytes),
        },
        len,
    ))
}

impl<'a> SaRepr<'a> {
    /// An SA payload to emit.
    pub const fn new(proposals: &'a [ProposalSpec<'a>]) -> Self {
        SaRepr {
            list: ProposalList::Spec(proposals),
        }
    }

    /// Parse and fully validate an SA payload body.
    pub fn parse(body: &'a [u8]) -> Result<Self, WireError> {
        if body.is_empty() {
            // RFC 7296 §3.3: an SA payload "consists of one or more Proposal
            // substructures".
            return Err(bad("no proposals"));
        }
        let mut rest = body;
        let mut prev_num: Option<u8> = None;
        while !rest.is_empty() {
            let (p, len) = parse_proposal(rest)?;
            let last = rest[0];
            rest = &rest[len..];
            let want = if rest.is_empty() { 0 } else { MORE_PROPOSALS };
            if last != want {
                return Err(bad("proposal Last Substruc inconsistent"));
            }
            // RFC 7296 §3.3.1: "each subsequent Proposal MUST be one more
            // than the previous Proposal". (A response carries one proposal
            // with the number it accepted, so the first is not forced to 1.)
            if let Some(prev) = prev_num
                && Some(p.num) != prev.checked_add(1)
            {
                return Err(bad("proposal numbers not consecutive"));
            }
            prev_num = Some(p.num);
        }
        Ok(SaRepr {
            list: ProposalList::Wire(body),
        })
    }

    pub fn proposals(&self) -> Proposals<'a> {
        Proposals { list: self.list }
    }

    pub fn body_len(&self) -> usize {
        match self.list {
            ProposalList::Wire(b) => b.len(),
            ProposalList::Spec(s) => s
                .iter()
                .map(|p| {
                    PROPOSAL_HDR
                        + p.spi.len()
                        + p.transforms.iter().map(|t| t.wire_len()).sum::<usize>()
                })
                .sum(),
        }
    }

    pub fn emit_body(&self, buf: &mut [u8]) -> Result<(), WireError> {
        if buf.len() != self.body_len() {
            return Err(WireError::BufferTooSmall {
                need: self.body_len(),
                have: buf.len(),
            });
        }
        let specs = match self.list {
            ProposalList::Wire(b) => {
                buf.copy_from_slice(b);
                return Ok(());
            }
            ProposalList::Spec(s) => s,
        };
        if specs.is_empty() {
            return Err(WireError::Unrepresentable("SA without proposals"));
        }
        let mut pos = 0;
        for (i, p) in specs.iter().enumerate() {
            let plen = PROPOSAL_HDR
                + p.spi.len()
                + p.transforms.iter().map(|t| t.wire_len()).sum::<usize>();
            let plen16 =
                u16::try_from(plen).map_err(|_| WireError::Unrepresentable("proposal length"))?;
            let spi_size =
                u8::try_from(p.spi.len()).map_err(|_| WireError::Unrepresentable("SPI size"))?;
            let nt = u8::try_from(p.transforms.len())
                .map_err(|_| WireError::Unrepresentable("more than 255 transforms"))?;
            let out = &mut buf[pos..pos + plen];
            out[0] = if i + 1 == specs.len() {
                0
            } else {
                MORE_PROPOSALS
            };
            out[1] = 0;
            out[2..4].copy_from_slice(&plen16.to_be_bytes());
            out[4] = p.num;
            out[5] = p.protocol.0;
            out[6] = spi_size;
            out[7] = nt;
            out[8..8 + p.spi.len()].copy_from_slice(p.spi);
            let mut tpos = PROPOSAL_HDR + p.spi.len();
            for (j, t) in p.transforms.iter().enumerate() {
                let tlen = t.wire_len();
                let o = &mut out[tpos..tpos + tlen];
                o[0] = if j + 1 == p.transforms.len() {
                    0
                } else {
                    MORE_TRANSFORMS
                };
                o[1] = 0;
                o[2..4].copy_from_slice(&(tlen as u16).to_be_bytes());
                o[4] = t.ttype.0;
                o[5] = 0;
                o[6..8].copy_from_slice(&t.id.to_be_bytes());
                if let Some(k) = t.key_len {
                    o[8..10].copy_from_slice(&(ATTR_TV | ATTR_KEY_LENGTH).to_be_bytes());
                    o[10..12].copy_from_slice(&k.to_be_bytes());
                }
                tpos += tlen;
            }
            pos += plen;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GCM256: TransformRepr = TransformRepr::new(TransformType::ENCR, 20, Some(256));
    const PRF256: TransformRepr = TransformRepr::new(TransformType::PRF, 5, None);
    const X25519: TransformRepr = TransformRepr::new(TransformType::DH, 31, None);

    #[test]
    fn known_bytes_and_round_trip() {
        let t = [GCM256, PRF256, X25519];
        let p = [ProposalSpec {
            num: 1,
            protocol: ProtocolId::IKE,
            spi: &[],
            transforms: &t,
        }];
        let sa = SaRepr::new(&p);
        let mut buf = vec![0u8; sa.body_len()];
        sa.emit_body(&mut buf).unwrap();
        assert_eq!(
            buf,
            [
                0, 0, 0, 36, 1, 1, 0, 3, // proposal header
                3, 0, 0, 12, 1, 0, 0, 20, 0x80, 14, 1, 0, // ENCR 20, key 256
                3, 0, 0, 8, 2, 0, 0, 5, // PRF 5
                0, 0, 0, 8, 4, 0, 0, 31, // DH 31
            ]
        );
        let parsed = SaRepr::parse(&buf).unwrap();
        assert_eq!(parsed, sa);
        let pr: Vec<_> = parsed.proposals().collect();
        assert_eq!(pr.len(), 1);
        assert_eq!(pr[0].transforms().collect::<Vec<_>>(), t);
    }

    #[test]
    fn rejects_inconsistencies() {
        let t = [GCM256, PRF256];
        let p = [ProposalSpec {
            num: 1,
            protocol: ProtocolId::IKE,
            spi: &[],
            transforms: &t,
        }];
        let sa = SaRepr::new(&p);
        let mut good = vec![0u8; sa.body_len()];
        sa.emit_body(&mut good).unwrap();

        let mut b = good.clone();
        b[7] = 3; // # transforms
        assert!(SaRepr::parse(&b).is_err());
        let mut b = good.clone();
        b[8] = 0; // first transform claims to be last
        assert!(SaRepr::parse(&b).is_err());
        let mut b = good.clone();
        b[0] = 2; // proposal claims more follow
        assert!(SaRepr::parse(&b).is_err());
        let mut b = good.clone();
        b[3] = 200; // proposal length past the end
        assert!(SaRepr::parse(&b).is_err());
        assert!(SaRepr::parse(&[]).is_err());
        // Unknown attribute: parsed, flagged.
        let mut b = good.clone();
        b[16] = 0x80;
        b[17] = 99;
        let sa = SaRepr::parse(&b).unwrap();
        let first = sa.proposals().next().unwrap().transforms().next().unwrap();
        assert!(first.unknown_attribute);
        assert_eq!(first.key_len, None);
    }
}
