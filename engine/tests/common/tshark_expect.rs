//! What Wireshark's IKEv2 dissector must report for a message built from a
//! list of `Payload`s, in tshark's field names. The expectation comes from
//! the values the builder was given, never from the bytes it wrote; only a
//! top-level payload's length is taken from `Payload::body_len`, which
//! tshark then confirms by finding every payload and value where it should.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use rebound_engine::wire::*;

use super::tshark_capture::Row;

/// Every field asked of tshark. For each packet, each field must print
/// exactly the expected occurrences (joined with ','), and nothing when none
/// are expected: so an extra or a missing payload, value or expert item fails.
pub const FIELDS: &str = "\
    frame.number udp.dstport _ws.malformed _ws.expert.severity _ws.expert.message \
    isakmp.ispi isakmp.rspi isakmp.exchangetype isakmp.flags isakmp.messageid \
    isakmp.length isakmp.version isakmp.criticalpayload isakmp.reserved7 isakmp.reserved \
    isakmp.payloadlength isakmp.typepayload isakmp.nextpayload isakmp.spisize \
    isakmp.prop.number isakmp.prop.protoid isakmp.spi isakmp.tf.type isakmp.tf.id.encr \
    isakmp.tf.id.prf isakmp.tf.id.integ isakmp.tf.id.dh isakmp.tf.id.esn \
    isakmp.ike2.attr.key_length isakmp.key_exchange.dh_group isakmp.key_exchange.data \
    isakmp.id.type isakmp.id.data.fqdn isakmp.id.data.ipv4_addr isakmp.id.data.ipv6_addr \
    isakmp.cert.encoding isakmp.cert.x509.hash isakmp.cert.x509.url isakmp.certreq.type \
    isakmp.ike.certreq.authority isakmp.auth.method isakmp.auth.data isakmp.nonce \
    isakmp.notify.protoid isakmp.notify.msgtype isakmp.notify.data \
    isakmp.notify.data.accepted_dh_group isakmp.notify.data.ticket_opaque.lifetime \
    isakmp.notify.data.ticket_opaque.data isakmp.delete.protoid isakmp.spinum \
    isakmp.delete.spi isakmp.vid_bytes isakmp.ts.number isakmp.ts.type isakmp.ts.protoid \
    isakmp.ts.selector_length isakmp.ts.start_port isakmp.ts.end_port isakmp.ts.start_ipv4 \
    isakmp.ts.end_ipv4 isakmp.ts.start_ipv6 isakmp.ts.end_ipv6 isakmp.cfg.type \
    isakmp.cfg.attr.type isakmp.cfg.attr.length isakmp.cfg.attr.value eap.code eap.id \
    eap.type isakmp.frag.number isakmp.frag.total isakmp.enc.pad_length";

/// Expected field values of one packet, in the order tshark lists them.
pub type Expect = BTreeMap<&'static str, Vec<String>>;

pub fn fields() -> impl Iterator<Item = &'static str> {
    FIELDS.split_whitespace()
}

pub fn add(e: &mut Expect, field: &'static str, value: impl ToString) {
    assert!(fields().any(|f| f == field), "{field} is not in FIELDS");
    e.entry(field).or_default().push(value.to_string());
}

/// The header fields and the payload chain tshark must report for a
/// message of `len` bytes holding `outer`, then an SK payload around
/// `inner` if given (which tshark decrypts).
pub fn expect_message(
    hdr: &HeaderRepr,
    len: usize,
    outer: &[Payload<'_>],
    inner: Option<&[Payload<'_>]>,
) -> Expect {
    let mut e = Expect::new();
    add(&mut e, "isakmp.ispi", hex::encode(hdr.spi_i));
    add(&mut e, "isakmp.rspi", hex::encode(hdr.spi_r));
    add(
        &mut e,
        "isakmp.version",
        format!("0x{:02x}", 0x20 | hdr.minor_version),
    );
    add(&mut e, "isakmp.exchangetype", hdr.exchange_type.0);
    add(&mut e, "isakmp.flags", format!("0x{:02x}", hdr.flags.0));
    add(
        &mut e,
        "isakmp.messageid",
        format!("0x{:08x}", hdr.message_id),
    );
    add(&mut e, "isakmp.length", len);
    let sk = inner.map_or(0, |_| PayloadType::SK.0);
    let first = outer.first().map_or(sk, |p| p.payload_type().0);
    add(&mut e, "isakmp.nextpayload", first);
    expect_payloads(&mut e, outer, sk);
    if let Some(inner) = inner {
        // The SK payload runs to the end of the message (RFC 7296 §3.14).
        let outer_len: usize = outer.iter().map(|p| 4 + p.body_len()).sum();
        generic(
            &mut e,
            sk,
            inner[0].payload_type().0,
            len - HEADER_LEN - outer_len,
            true,
        );
        expect_payloads(&mut e, inner, 0);
    }
    e
}

/// What tshark lists for a generic payload header (RFC 7296 §3.2); only
/// top-level payloads have the critical bit and reserved bits.
fn generic(e: &mut Expect, ptype: u8, next: u8, len: usize, top: bool) {
    add(e, "isakmp.typepayload", ptype);
    add(e, "isakmp.nextpayload", next);
    if top {
        add(e, "isakmp.criticalpayload", 0);
        add(e, "isakmp.reserved7", "0x00");
    }
    add(e, "isakmp.payloadlength", len);
}

const TICKET: &str = "isakmp.notify.data.ticket_opaque.data";

/// Each payload's header and contents, as tshark lists them: depth first,
/// so an SA's proposals (type 2) and transforms (type 3) follow the SA,
/// with their own "more follow" values and lengths (RFC 7296 §3.3).
fn expect_payloads(e: &mut Expect, payloads: &[Payload<'_>], last_next: u8) {
    for (i, p) in payloads.iter().enumerate() {
        let next = match p {
            Payload::Sk(s) => s.first_inner.0,
            Payload::Skf(s) => s.first_inner.0,
            _ => payloads
                .get(i + 1)
                .map_or(last_next, |n| n.payload_type().0),
        };
        generic(e, p.payload_type().0, next, 4 + p.body_len(), true);
        match p {
            Payload::Sa(sa) => {
                let props: Vec<_> = sa.proposals().collect();
                for (j, prop) in props.iter().enumerate() {
                    let ts: Vec<_> = prop.transforms().collect();
                    let tlen = |t: &TransformRepr| if t.key_len.is_some() { 12 } else { 8 };
                    let plen = 8 + prop.spi.len() + ts.iter().map(tlen).sum::<usize>();
                    generic(e, 2, if j + 1 < props.len() { 2 } else { 0 }, plen, false);
                    add(e, "isakmp.prop.number", prop.num);
                    add(e, "isakmp.prop.protoid", prop.protocol.0);
                    add(e, "isakmp.spisize", prop.spi.len());
                    if !prop.spi.is_empty() {
                        add(e, "isakmp.spi", hex::encode(prop.spi));
                    }
                    for (k, t) in ts.iter().enumerate() {
                        generic(e, 3, if k + 1 < ts.len() { 3 } else { 0 }, tlen(t), false);
                        add(e, "isakmp.tf.type", t.ttype.0);
                        let id_field = match t.ttype {
                            TransformType::ENCR => "isakmp.tf.id.encr",
                            TransformType::PRF => "isakmp.tf.id.prf",
                            TransformType::INTEG => "isakmp.tf.id.integ",
                            TransformType::DH => "isakmp.tf.id.dh",
                            _ => "isakmp.tf.id.esn",
                        };
                        add(e, id_field, t.id);
                        if let Some(k) = t.key_len {
                            add(e, "isakmp.ike2.attr.key_length", k);
                        }
                    }
                }
            }
            Payload::Ke(k) => {
                add(e, "isakmp.key_exchange.dh_group", k.dh_group);
                add(e, "isakmp.key_exchange.data", hex::encode(k.key_data));
            }
            Payload::IdI(id) | Payload::IdR(id) => {
                add(e, "isakmp.id.type", id.id_type.0);
                match id.id_type {
                    IdType::FQDN => add(e, "isakmp.id.data.fqdn", str(id.data)),
                    IdType::IPV4_ADDR => {
                        let a: [u8; 4] = id.data.try_into().unwrap();
                        add(e, "isakmp.id.data.ipv4_addr", Ipv4Addr::from(a));
                    }
                    IdType::IPV6_ADDR => {
                        let a: [u8; 16] = id.data.try_into().unwrap();
                        add(e, "isakmp.id.data.ipv6_addr", Ipv6Addr::from(a));
                    }
                    other => panic!("no tshark field chosen for {other:?}"),
                }
            }
            Payload::Cert(c) => {
                // Hash and URL (RFC 7296 §3.6): a 20-byte SHA-1 hash, then the URL.
                assert_eq!(c.encoding, CertEncoding::HASH_AND_URL_X509);
                add(e, "isakmp.cert.encoding", c.encoding.0);
                add(e, "isakmp.cert.x509.hash", hex::encode(&c.data[..20]));
                add(e, "isakmp.cert.x509.url", str(&c.data[20..]));
            }
            Payload::CertReq(c) => {
                add(e, "isakmp.certreq.type", c.encoding.0);
                for ca in c.data.chunks(20) {
                    add(e, "isakmp.ike.certreq.authority", hex::encode(ca));
                }
            }
            Payload::Auth(a) => {
                add(e, "isakmp.auth.method", a.method.0);
                add(e, "isakmp.auth.data", hex::encode(a.data));
            }
            Payload::Nonce(n) => add(e, "isakmp.nonce", hex::encode(n.nonce)),
            Payload::Notify(n) => {
                add(e, "isakmp.notify.protoid", n.protocol.0);
                add(e, "isakmp.spisize", n.spi.len());
                if !n.spi.is_empty() {
                    add(e, "isakmp.spi", hex::encode(n.spi));
                }
                add(e, "isakmp.notify.msgtype", n.notify_type.0);
                // tshark prints an empty notification data as "<MISSING>".
                let data = if n.data.is_empty() {
                    "<MISSING>".into()
                } else {
                    hex::encode(n.data)
                };
                add(e, "isakmp.notify.data", data);
                match n.notify_type {
                    NotifyType::INVALID_KE_PAYLOAD => {
                        let g = u16::from_be_bytes([n.data[0], n.data[1]]);
                        add(e, "isakmp.notify.data.accepted_dh_group", g);
                    }
                    // RFC 5723 §7: a 4-octet lifetime, then the ticket.
                    NotifyType::TICKET_LT_OPAQUE => {
                        let (lt, ticket) = n.data.split_at(4);
                        let lt = u32::from_be_bytes(lt.try_into().unwrap());
                        add(e, "isakmp.notify.data.ticket_opaque.lifetime", lt);
                        add(e, TICKET, hex::encode(ticket));
                    }
                    NotifyType::TICKET_OPAQUE => add(e, TICKET, hex::encode(n.data)),
                    _ => {}
                }
            }
            Payload::Delete(d) => {
                add(e, "isakmp.delete.protoid", d.protocol.0);
                add(e, "isakmp.spisize", d.spi_size);
                add(e, "isakmp.spinum", d.num_spis());
                for spi in d.iter_spis() {
                    add(e, "isakmp.delete.spi", hex::encode(spi));
                }
            }
            Payload::VendorId(v) => add(e, "isakmp.vid_bytes", hex::encode(v)),
            Payload::TsI(ts) | Payload::TsR(ts) => {
                add(e, "isakmp.ts.number", ts.selectors().count());
                for s in ts.selectors() {
                    let TrafficSelector::Range {
                        ip_proto,
                        start_port,
                        end_port,
                        start,
                        end,
                    } = s
                    else {
                        panic!("only address ranges are built here");
                    };
                    // RFC 7296 §3.13.1: TS_IPV4_ADDR_RANGE is 16 octets,
                    // TS_IPV6_ADDR_RANGE 40.
                    let (ty, len, a, z) = match start {
                        IpAddr::V4(_) => (7, 16, "isakmp.ts.start_ipv4", "isakmp.ts.end_ipv4"),
                        IpAddr::V6(_) => (8, 40, "isakmp.ts.start_ipv6", "isakmp.ts.end_ipv6"),
                    };
                    add(e, "isakmp.ts.type", ty);
                    add(e, "isakmp.ts.protoid", ip_proto);
                    add(e, "isakmp.ts.selector_length", len);
                    add(e, "isakmp.ts.start_port", start_port);
                    add(e, "isakmp.ts.end_port", end_port);
                    add(e, a, start);
                    add(e, z, end);
                }
            }
            Payload::Cp(cp) => {
                add(e, "isakmp.cfg.type", cp.cfg_type.0);
                for a in cp.attributes() {
                    add(e, "isakmp.cfg.attr.type", a.attr_type.0);
                    add(e, "isakmp.cfg.attr.length", a.value.len());
                    if !a.value.is_empty() {
                        add(e, "isakmp.cfg.attr.value", hex::encode(a.value));
                    }
                }
            }
            // EAP (RFC 3748 §4): code, identifier, length, type.
            Payload::Eap(m) => {
                add(e, "eap.code", m[0]);
                add(e, "eap.id", m[1]);
                add(e, "eap.type", m[4]);
            }
            Payload::Sk(_) => {}
            Payload::Skf(f) => {
                add(e, "isakmp.frag.number", f.fragment_number);
                add(e, "isakmp.frag.total", f.total_fragments);
            }
        }
    }
}

fn str(b: &[u8]) -> &str {
    std::str::from_utf8(b).unwrap()
}

/// The fields of tshark's row that differ from what was built.
pub fn mismatches(row: &Row, expect: &Expect) -> Vec<String> {
    let differs = |f: &'static str| {
        let want = expect.get(f).map(|v| v.join(",")).unwrap_or_default();
        let got = row.get(f).map(String::as_str).unwrap_or_default();
        let ok = match f {
            // RFC 7296 §3: every RESERVED field "MUST be sent as zero".
            "isakmp.reserved" => got.split(',').all(|v| v.bytes().all(|c| c == b'0')),
            _ => got == want,
        };
        (!ok).then(|| format!("{f}: tshark says {got:?}, built {want:?}"))
    };
    fields().filter_map(differs).collect()
}
