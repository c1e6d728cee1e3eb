//! Configuration payload (RFC 7296 §3.15).

use super::consts::{CfgAttrType, CfgType, PayloadType};
use super::error::WireError;
use super::header::be16;

const ATTR_HDR: usize = 4;

/// One configuration attribute (§3.15.1). An empty value in a CFG_REQUEST
/// asks for any value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CfgAttr<'a> {
    pub attr_type: CfgAttrType,
    pub value: &'a [u8],
}

#[derive(Debug, Clone, Copy)]
enum List<'a> {
    Wire(&'a [u8]),
    Spec(&'a [CfgAttr<'a>]),
}

/// The CP payload body.
#[derive(Debug, Clone, Copy)]
pub struct CpRepr<'a> {
    pub cfg_type: CfgType,
    list: List<'a>,
}

impl PartialEq for CpRepr<'_> {
    fn eq(&self, o: &Self) -> bool {
        self.cfg_type == o.cfg_type && self.attributes().eq(o.attributes())
    }
}

/// Iterator over configuration attributes.
#[derive(Debug, Clone)]
pub struct CfgAttrs<'a> {
    list: List<'a>,
}

fn parse_attr(b: &[u8]) -> Option<(CfgAttr<'_>, usize)> {
    let hdr = b.get(..ATTR_HDR)?;
    let len = be16(&hdr[2..4]) as usize;
    let value = b.get(ATTR_HDR..ATTR_HDR + len)?;
    Some((
        CfgAttr {
            attr_type: CfgAttrType(be16(&hdr[0..2]) & 0x7fff),
            value,
        },
        ATTR_HDR + len,
    ))
}

impl<'a> Iterator for CfgAttrs<'a> {
    type Item = CfgAttr<'a>;
    fn next(&mut self) -> Option<CfgAttr<'a>> {
        match &mut self.list {
            List::Spec(s) => {
                let (a, rest) = s.split_first()?;
                *s = rest;
                Some(*a)
            }
            List::Wire(b) => {
                let (a, len) = parse_attr(b)?;
                *b = b.get(len..)?;
                Some(a)
            }
        }
    }
}

fn bad(what: &'static str) -> WireError {
    WireError::malformed(PayloadType::CP, what)
}

impl<'a> CpRepr<'a> {
    pub const fn new(cfg_type: CfgType, attrs: &'a [CfgAttr<'a>]) -> Self {
        CpRepr {
            cfg_type,
            list: List::Spec(attrs),
        }
    }

    pub fn parse(body: &'a [u8]) -> Result<Self, WireError> {
        if body.len() < 4 {
            return Err(bad("shorter than 4 bytes"));
        }
        let attrs = &body[4..];
        let mut rest = attrs;
        while !rest.is_empty() {
            let (a, len) = parse_attr(rest).ok_or_else(|| bad("attribute runs past the end"))?;
            // RFC 7296 §3.15.1: INTERNAL_IP4_ADDRESS is 0 or 4 octets,
            // INTERNAL_IP6_ADDRESS 0 or 17 (address + prefix length).
            let ok = match a.attr_type {
                CfgAttrType::INTERNAL_IP4_ADDRESS
                | CfgAttrType::INTERNAL_IP4_NETMASK
                | CfgAttrType::INTERNAL_IP4_DNS => matches!(a.value.len(), 0 | 4),
                CfgAttrType::INTERNAL_IP6_ADDRESS => matches!(a.value.len(), 0 | 17),
                CfgAttrType::INTERNAL_IP6_DNS => matches!(a.value.len(), 0 | 16),
                _ => true,
            };
            if !ok {
                return Err(bad("attribute value has the wrong length"));
            }
            rest = &rest[len..];
        }
        Ok(CpRepr {
            cfg_type: CfgType(body[0]),
            list: List::Wire(attrs),
        })
    }

    pub fn attributes(&self) -> CfgAttrs<'a> {
        CfgAttrs { list: self.list }
    }

    pub fn body_len(&self) -> usize {
        4 + match self.list {
            List::Wire(b) => b.len(),
            List::Spec(s) => s.iter().map(|a| ATTR_HDR + a.value.len()).sum(),
        }
    }

    pub fn emit_body(&self, buf: &mut [u8]) -> Result<(), WireError> {
        if buf.len() != self.body_len() {
            return Err(WireError::BufferTooSmall {
                need: self.body_len(),
                have: buf.len(),
            });
        }
        buf[..4].copy_from_slice(&[self.cfg_type.0, 0, 0, 0]);
        match self.list {
            List::Wire(b) => buf[4..].copy_from_slice(b),
            List::Spec(s) => {
                let mut pos = 4;
                for a in s {
                    if a.attr_type.0 & 0x8000 != 0 {
                        return Err(WireError::Unrepresentable("attribute type above 32767"));
                    }
                    let l = u16::try_from(a.value.len())
                        .map_err(|_| WireError::Unrepresentable("attribute length"))?;
                    buf[pos..pos + 2].copy_from_slice(&a.attr_type.0.to_be_bytes());
                    buf[pos + 2..pos + 4].copy_from_slice(&l.to_be_bytes());
                    buf[pos + 4..pos + 4 + a.value.len()].copy_from_slice(a.value);
                    pos += ATTR_HDR + a.value.len();
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_round_trip_and_bad_length() {
        let attrs = [
            CfgAttr {
                attr_type: CfgAttrType::INTERNAL_IP4_ADDRESS,
                value: &[],
            },
            CfgAttr {
                attr_type: CfgAttrType::INTERNAL_IP4_DNS,
                value: &[],
            },
        ];
        let cp = CpRepr::new(CfgType::CFG_REQUEST, &attrs);
        let mut buf = vec![0u8; cp.body_len()];
        cp.emit_body(&mut buf).unwrap();
        assert_eq!(buf, [1, 0, 0, 0, 0, 1, 0, 0, 0, 3, 0, 0]);
        assert_eq!(CpRepr::parse(&buf).unwrap(), cp);
        let bad = [2, 0, 0, 0, 0, 1, 0, 3, 10, 0, 0];
        assert!(CpRepr::parse(&bad).is_err());
        let past = [2, 0, 0, 0, 0, 1, 0, 4, 10, 0];
        assert!(CpRepr::parse(&past).is_err());
    }
}
