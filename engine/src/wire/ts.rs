//! Traffic Selector payloads, TSi and TSr (RFC 7296 §3.13).

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::consts::{PayloadType, TsType};
use super::error::WireError;
use super::header::be16;

const TS_V4_LEN: usize = 16;
const TS_V6_LEN: usize = 40;

/// One traffic selector (RFC 7296 §3.13.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrafficSelector<'a> {
    /// TS_IPV4_ADDR_RANGE or TS_IPV6_ADDR_RANGE (the family of the addresses
    /// decides which).
    Range {
        ip_proto: u8,
        start_port: u16,
        end_port: u16,
        start: IpAddr,
        end: IpAddr,
    },
    /// A selector type Rebound does not interpret, kept as bytes.
    Other {
        ts_type: TsType,
        ip_proto: u8,
        /// Everything after the selector-length field.
        data: &'a [u8],
    },
}

impl TrafficSelector<'_> {
    fn wire_len(&self) -> Result<usize, WireError> {
        match self {
            TrafficSelector::Range { start, end, .. } => match (start, end) {
                (IpAddr::V4(_), IpAddr::V4(_)) => Ok(TS_V4_LEN),
                (IpAddr::V6(_), IpAddr::V6(_)) => Ok(TS_V6_LEN),
                _ => Err(WireError::Unrepresentable(
                    "traffic selector mixes IPv4 and IPv6",
                )),
            },
            TrafficSelector::Other { data, .. } => Ok(4 + data.len()),
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum List<'a> {
    Wire(&'a [u8]),
    Spec(&'a [TrafficSelector<'a>]),
}

/// A TSi or TSr payload body.
#[derive(Debug, Clone, Copy)]
pub struct TsRepr<'a> {
    list: List<'a>,
}

impl PartialEq for TsRepr<'_> {
    fn eq(&self, o: &Self) -> bool {
        self.selectors().eq(o.selectors())
    }
}

fn bad(ptype: PayloadType, what: &'static str) -> WireError {
    WireError::malformed(ptype, what)
}

fn parse_selector(b: &[u8]) -> Option<(TrafficSelector<'_>, usize)> {
    let len = be16(b.get(2..4)?) as usize;
    if len < 4 {
        return None;
    }
    let s = b.get(..len)?;
    let ts_type = TsType(s[0]);
    let ip_proto = s[1];
    let ts = match ts_type {
        TsType::IPV4_ADDR_RANGE if len == TS_V4_LEN => {
            let a: [u8; 4] = s[8..12].try_into().ok()?;
            let z: [u8; 4] = s[12..16].try_into().ok()?;
            TrafficSelector::Range {
                ip_proto,
                start_port: be16(&s[4..6]),
                end_port: be16(&s[6..8]),
                start: IpAddr::V4(Ipv4Addr::from(a)),
                end: IpAddr::V4(Ipv4Addr::from(z)),
            }
        }
        TsType::IPV6_ADDR_RANGE if len == TS_V6_LEN => {
            let a: [u8; 16] = s[8..24].try_into().ok()?;
            let z: [u8; 16] = s[24..40].try_into().ok()?;
            TrafficSelector::Range {
                ip_proto,
                start_port: be16(&s[4..6]),
                end_port: be16(&s[6..8]),
                start: IpAddr::V6(Ipv6Addr::from(a)),
                end: IpAddr::V6(Ipv6Addr::from(z)),
            }
        }
        TsType::IPV4_ADDR_RANGE | TsType::IPV6_ADDR_RANGE => return None,
        _ => TrafficSelector::Other {
            ts_type,
            ip_proto,
            data: &s[4..],
        },
    };
    Some((ts, len))
}

/// Iterator over the selectors of a TS payload.
#[derive(Debug, Clone)]
pub struct Selectors<'a> {
    list: List<'a>,
}

impl<'a> Iterator for Selectors<'a> {
    type Item = TrafficSelector<'a>;
    fn next(&mut self) -> Option<TrafficSelector<'a>> {
        match &mut self.list {
            List::Spec(s) => {
                let (t, rest) = s.split_first()?;
                *s = rest;
                Some(*t)
            }
            List::Wire(b) => {
                let (t, len) = parse_selector(b)?;
                *b = b.get(len..)?;
                Some(t)
            }
        }
    }
}

impl<'a> TsRepr<'a> {
    pub const fn new(selectors: &'a [TrafficSelector<'a>]) -> Self {
        TsRepr {
            list: List::Spec(selectors),
        }
    }

    /// Parse and validate a TS payload body; `ptype` is TSi or TSr.
    pub fn parse(ptype: PayloadType, body: &'a [u8]) -> Result<Self, WireError> {
        if body.len() < 4 {
            return Err(bad(ptype, "shorter than 4 bytes"));
        }
        let count = body[0] as usize;
        let sel = &body[4..];
        let mut rest = sel;
        let mut n = 0;
        while !rest.is_empty() {
            // RFC 7296 §3.13.1: TS_IPV4_ADDR_RANGE selectors are 16 octets,
            // TS_IPV6_ADDR_RANGE 40; the Selector Length says so.
            let (_, len) = parse_selector(rest)
                .ok_or_else(|| bad(ptype, "traffic selector length invalid"))?;
            rest = &rest[len..];
            n += 1;
        }
        if n != count {
            return Err(bad(ptype, "selector count does not match Number of TSs"));
        }
        Ok(TsRepr {
            list: List::Wire(sel),
        })
    }

    pub fn selectors(&self) -> Selectors<'a> {
        Selectors { list: self.list }
    }

    pub fn body_len(&self) -> usize {
        4 + match self.list {
            List::Wire(b) => b.len(),
            List::Spec(s) => s.iter().map(|t| t.wire_len().unwrap_or(0)).sum(),
        }
    }

    pub fn emit_body(&self, buf: &mut [u8]) -> Result<(), WireError> {
        if buf.len() != self.body_len() {
            return Err(WireError::BufferTooSmall {
                need: self.body_len(),
                have: buf.len(),
            });
        }
        let count = self.selectors().count();
        buf[0] =
            u8::try_from(count).map_err(|_| WireError::Unrepresentable("more than 255 TSs"))?;
        buf[1..4].fill(0);
        let specs = match self.list {
            List::Wire(b) => {
                buf[4..].copy_from_slice(b);
                return Ok(());
            }
            List::Spec(s) => s,
        };
        let mut pos = 4;
        for t in specs {
            let len = t.wire_len()?;
            let o = &mut buf[pos..pos + len];
            match *t {
                TrafficSelector::Range {
                    ip_proto,
                    start_port,
                    end_port,
                    start,
                    end,
                } => {
                    o[0] = match start {
                        IpAddr::V4(_) => TsType::IPV4_ADDR_RANGE.0,
                        IpAddr::V6(_) => TsType::IPV6_ADDR_RANGE.0,
                    };
                    o[1] = ip_proto;
                    o[2..4].copy_from_slice(&(len as u16).to_be_bytes());
                    o[4..6].copy_from_slice(&start_port.to_be_bytes());
                    o[6..8].copy_from_slice(&end_port.to_be_bytes());
                    match (start, end) {
                        (IpAddr::V4(a), IpAddr::V4(z)) => {
                            o[8..12].copy_from_slice(&a.octets());
                            o[12..16].copy_from_slice(&z.octets());
                        }
                        (IpAddr::V6(a), IpAddr::V6(z)) => {
                            o[8..24].copy_from_slice(&a.octets());
                            o[24..40].copy_from_slice(&z.octets());
                        }
                        _ => return Err(WireError::Unrepresentable("mixed address families")),
                    }
                }
                TrafficSelector::Other {
                    ts_type,
                    ip_proto,
                    data,
                } => {
                    let l = u16::try_from(len)
                        .map_err(|_| WireError::Unrepresentable("selector length"))?;
                    o[0] = ts_type.0;
                    o[1] = ip_proto;
                    o[2..4].copy_from_slice(&l.to_be_bytes());
                    o[4..].copy_from_slice(data);
                }
            }
            pos += len;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v4_v6_round_trip_and_errors() {
        let sel = [
            TrafficSelector::Range {
                ip_proto: 0,
                start_port: 0,
                end_port: 65535,
                start: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 0)),
                end: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 255)),
            },
            TrafficSelector::Range {
                ip_proto: 17,
                start_port: 500,
                end_port: 500,
                start: IpAddr::V6(Ipv6Addr::LOCALHOST),
                end: IpAddr::V6(Ipv6Addr::LOCALHOST),
            },
        ];
        let ts = TsRepr::new(&sel);
        let mut buf = vec![0u8; ts.body_len()];
        ts.emit_body(&mut buf).unwrap();
        assert_eq!(buf.len(), 4 + 16 + 40);
        assert_eq!(&buf[..8], &[2, 0, 0, 0, 7, 0, 0, 16]);
        let p = TsRepr::parse(PayloadType::TSI, &buf).unwrap();
        assert_eq!(p, ts);
        let mut b = buf.clone();
        b[0] = 3;
        assert!(TsRepr::parse(PayloadType::TSI, &b).is_err());
        let mut b = buf.clone();
        b[7] = 17; // IPv4 selector claiming 17 bytes
        assert!(TsRepr::parse(PayloadType::TSI, &b).is_err());
        assert!(TsRepr::parse(PayloadType::TSR, &buf[..30]).is_err());
    }
}
