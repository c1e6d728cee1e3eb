//! An independent dissector checks the codec and the SK protection.
//!
//! Messages built with `MessageBuilder`, which together use every payload
//! type and every exchange type (34-38) the codec knows, go into a pcap
//! (hand-built IPv4 + UDP, ports 500 and 4500), and Wireshark's IKEv2
//! dissector (tshark) must decode each one without a single expert-info
//! item and report back exactly the SPIs, exchange type, flags, message ID,
//! lengths, payload chain (SA proposals and transforms included), notify
//! types, nonces and payload contents that were put in. Each message is
//! then sent again once per byte, with that byte changed, and tshark must
//! tell every such copy apart: so a wrong byte anywhere in what the codec
//! writes (outside opaque SK contents) would fail this test.
//!
//! Then IKE_AUTH messages whose inner payloads the builder puts in an SK
//! payload are protected by `crypto::SkCipher` (AES-GCM-16-256, and
//! AES-CBC-256 with HMAC-SHA2-256-128) under keys of a resumed SA; tshark,
//! given those keys, must decrypt them, verify the ICV and find the inner
//! payloads as built, and must report a bad ICV when given a wrong key.
//!
//! tshark must be installed (scripts/test.sh installs it): without it the
//! tests fail, unless REBOUND_SKIP_TSHARK=1 says to skip them.

#[path = "common/tshark_capture.rs"]
mod tshark_capture;
#[path = "common/tshark_expect.rs"]
mod tshark_expect;

#[path = "common/splitmix.rs"]
mod splitmix;
use std::net::IpAddr;

use rebound_engine::crypto::{Encr, IkeKeys, IkeSuite, Integ, PrfAlg, Role, SecretBuf, SkCipher};
use rebound_engine::wire::*;
use splitmix::SplitMix;
use tshark_capture::{Datagram, Row, Scratch, have_tshark, tshark, write_pcap};
use tshark_expect::{Expect, add, expect_message, fields, mismatches};

/// One message of the capture and what tshark must report for it.
struct Packet {
    /// UDP port: 500, or 4500 with the non-ESP marker in front.
    port: u16,
    /// From the initiator, or back.
    request: bool,
    ike: Vec<u8>,
    /// tshark judges the bytes before this offset; the rest is the opaque
    /// contents of an SK or SKF payload, which no dissector can check
    /// without the keys.
    judged: usize,
    expect: Expect,
}

impl Packet {
    fn datagram(&self) -> Datagram<'_> {
        Datagram {
            port: self.port,
            request: self.request,
            ike: &self.ike,
        }
    }

    /// Where tshark's row for this packet, frame number `frame`, differs.
    fn mismatches(&self, row: &Row, frame: usize) -> Vec<String> {
        let mut expect = self.expect.clone();
        add(&mut expect, "frame.number", frame);
        mismatches(row, &expect)
    }
}

fn header(spi_i: [u8; 8], spi_r: [u8; 8], x: ExchangeType, response: bool, id: u32) -> HeaderRepr {
    HeaderRepr {
        spi_i,
        spi_r,
        next_payload: PayloadType::NONE,
        minor_version: 0,
        exchange_type: x,
        flags: Flags::new(!response, response),
        message_id: id,
    }
}

/// Build a cleartext message and what tshark must say about it.
fn packet(port: u16, hdr: HeaderRepr, payloads: &[Payload<'_>]) -> Packet {
    let mut buf = vec![0u8; 2048];
    let mut b = MessageBuilder::new(&mut buf, &hdr).unwrap();
    for p in payloads {
        b.push(p).unwrap();
    }
    let len = b.finish().unwrap();
    buf.truncate(len);
    let opaque = match payloads.last() {
        Some(Payload::Sk(s)) => s.data.len(),
        Some(Payload::Skf(s)) => s.data.len(),
        _ => 0,
    };
    let mut expect = expect_message(&hdr, len, payloads, None);
    add(&mut expect, "udp.dstport", port);
    let request = !hdr.flags.response();
    Packet {
        port,
        request,
        ike: buf,
        judged: len - opaque,
        expect,
    }
}

// Short constructors, so each message below reads as its payload list.
fn notify<'a>(t: NotifyType, data: &'a [u8]) -> Payload<'a> {
    Payload::Notify(NotifyRepr::ike(t, data))
}
/// A notify about an ESP SA: protocol 3 and the SPI (RFC 7296 §3.10).
fn notify_esp(notify_type: NotifyType, spi: &[u8]) -> Payload<'_> {
    let protocol = ProtocolId::ESP;
    Payload::Notify(NotifyRepr {
        protocol,
        notify_type,
        spi,
        data: &[],
    })
}
fn nonce(nonce: &[u8]) -> Payload<'_> {
    Payload::Nonce(NonceRepr { nonce })
}
fn ke(dh_group: u16, key_data: &[u8]) -> Payload<'_> {
    Payload::Ke(KeRepr { dh_group, key_data })
}
fn id(id_type: IdType, data: &[u8]) -> IdRepr<'_> {
    IdRepr { id_type, data }
}
fn cert(encoding: CertEncoding, data: &[u8]) -> CertRepr<'_> {
    CertRepr { encoding, data }
}
fn auth(data: &[u8]) -> Payload<'_> {
    let method = AuthMethod::SHARED_KEY_MIC;
    Payload::Auth(AuthRepr { method, data })
}
fn delete(protocol: ProtocolId, spi_size: u8, spis: &[u8]) -> Payload<'_> {
    Payload::Delete(DeleteRepr {
        protocol,
        spi_size,
        spis,
    })
}
const fn tf(ttype: TransformType, id: u16, key_len: Option<u16>) -> TransformRepr {
    TransformRepr::new(ttype, id, key_len)
}
fn prop<'a>(
    num: u8,
    protocol: ProtocolId,
    spi: &'a [u8],
    t: &'a [TransformRepr],
) -> ProposalSpec<'a> {
    ProposalSpec {
        num,
        protocol,
        spi,
        transforms: t,
    }
}

/// 2001:db8::`last`
fn v6(last: u16) -> [u8; 16] {
    let mut a = [0u8; 16];
    a[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
    a[14..].copy_from_slice(&last.to_be_bytes());
    a
}

/// An IPv4 range (any protocol and port) and an IPv6 range (UDP 500-4500).
fn selectors() -> [TrafficSelector<'static>; 2] {
    let (start, end) = (IpAddr::from([10, 0, 0, 0]), IpAddr::from([10, 0, 255, 255]));
    let v4 = TrafficSelector::Range {
        ip_proto: 0,
        start_port: 0,
        end_port: 65535,
        start,
        end,
    };
    let (start, end) = (IpAddr::from(v6(1)), IpAddr::from(v6(0xffff)));
    let v6 = TrafficSelector::Range {
        ip_proto: 17,
        start_port: 500,
        end_port: 4500,
        start,
        end,
    };
    [v4, v6]
}

/// An ESP proposal with its SPI: AES-GCM-16 with a key length, no ESN.
const ESP: [TransformRepr; 2] = [
    tf(TransformType::ENCR, 20, Some(256)),
    tf(TransformType::ESN, 0, None),
];

/// Cleartext messages that together hold every payload type, every
/// exchange type (34-38) and every notify type named in RFC 5723.
fn cleartext_packets() -> Vec<Packet> {
    use ExchangeType as X;
    use NotifyType as N;
    let mut rnd = SplitMix(0x5245_424f_554e_4401);
    let zero = [0u8; 8];
    let (spi_i, spi_r) = (rnd.take::<8>(), rnd.take::<8>());
    let mut out = Vec::new();

    // IKE_SA_INIT request: two IKE proposals (AES-GCM; AES-CBC + HMAC),
    // with key-length attributes; KE, nonce, NAT-D and a vendor ID.
    let (ni, ke_i, vid) = (rnd.take::<32>(), rnd.take::<32>(), rnd.take::<16>());
    let (nat_s, nat_d) = (rnd.take::<20>(), rnd.take::<20>());
    let gcm = [
        tf(TransformType::ENCR, 20, Some(256)),
        tf(TransformType::PRF, 5, None),
        tf(TransformType::DH, 31, None),
    ];
    let cbc = [
        tf(TransformType::ENCR, 12, Some(256)),
        tf(TransformType::INTEG, 12, None),
        tf(TransformType::PRF, 7, None),
        tf(TransformType::DH, 19, None),
    ];
    let props = [
        prop(1, ProtocolId::IKE, &[], &gcm),
        prop(2, ProtocolId::IKE, &[], &cbc),
    ];
    let init = |response| header(spi_i, zero, X::IKE_SA_INIT, response, 0);
    out.push(packet(
        500,
        init(false),
        &[
            Payload::Sa(SaRepr::new(&props)),
            ke(31, &ke_i),
            nonce(&ni),
            notify(N::NAT_DETECTION_SOURCE_IP, &nat_s),
            notify(N::NAT_DETECTION_DESTINATION_IP, &nat_d),
            Payload::VendorId(&vid),
        ],
    ));
    // The three refusals, then the full IKE_SA_INIT response with CERTREQ.
    let cookie = rnd.take::<24>();
    let refuse = |t, data: &[u8]| packet(500, init(true), &[notify(t, data)]);
    out.push(refuse(N::COOKIE, &cookie));
    out.push(refuse(N::INVALID_KE_PAYLOAD, &[0, 19]));
    out.push(refuse(N::NO_PROPOSAL_CHOSEN, &[]));
    let (nr, ke_r, cas) = (rnd.take::<40>(), rnd.take::<32>(), rnd.take::<40>());
    out.push(packet(
        500,
        header(spi_i, spi_r, X::IKE_SA_INIT, true, 0),
        &[
            Payload::Sa(SaRepr::new(&props[..1])),
            ke(31, &ke_r),
            nonce(&nr),
            notify(N::NAT_DETECTION_SOURCE_IP, &nat_d),
            notify(N::NAT_DETECTION_DESTINATION_IP, &nat_s),
            Payload::CertReq(cert(CertEncoding::X509_SIGNATURE, &cas)),
        ],
    ));

    // IKE_AUTH contents in the clear (a dissector cannot tell), on port
    // 4500: IDs of three types, CERT, AUTH, CP, an ESP SA with an SPI, TS
    // with IPv4 and IPv6 ranges, EAP, and the ticket notifies.
    let mut hash_url = rnd.take::<20>().to_vec();
    hash_url.extend_from_slice(b"http://ca.example/c.der");
    let (auth_i, auth_r, esp_spi) = (rnd.take::<32>(), rnd.take::<48>(), rnd.take::<4>());
    let child = [prop(1, ProtocolId::ESP, &esp_spi, &ESP)];
    let ts = selectors();
    let cfg = |attr_type, value| CfgAttr { attr_type, value };
    let cfg_req = [
        cfg(CfgAttrType::INTERNAL_IP4_ADDRESS, &[][..]),
        cfg(CfgAttrType::INTERNAL_IP6_ADDRESS, &[]),
        cfg(CfgAttrType::INTERNAL_IP4_DNS, &[]),
    ];
    let ip6_and_prefix = [&v6(7)[..], &[64]].concat();
    let cfg_rep = [
        cfg(CfgAttrType::INTERNAL_IP4_ADDRESS, &[10, 0, 7, 9][..]),
        cfg(CfgAttrType::INTERNAL_IP6_ADDRESS, &ip6_and_prefix),
    ];
    let ticket = rnd.take::<48>();
    let lifetime_ticket = [&86_400u32.to_be_bytes()[..], &ticket].concat();
    let x = |x, response, id| header(spi_i, spi_r, x, response, id);
    out.push(packet(
        4500,
        x(X::IKE_AUTH, false, 1),
        &[
            Payload::IdI(id(IdType::FQDN, b"client.example")),
            Payload::Cert(cert(CertEncoding::HASH_AND_URL_X509, &hash_url)),
            Payload::IdR(id(IdType::IPV4_ADDR, &[192, 0, 2, 1])),
            auth(&auth_i),
            notify(N::INITIAL_CONTACT, &[]),
            notify(N::TICKET_REQUEST, &[]),
            Payload::Cp(CpRepr::new(CfgType::CFG_REQUEST, &cfg_req)),
            Payload::Sa(SaRepr::new(&child)),
            Payload::TsI(TsRepr::new(&ts)),
            Payload::TsR(TsRepr::new(&ts[..1])),
        ],
    ));
    out.push(packet(
        4500,
        x(X::IKE_AUTH, true, 1),
        &[
            Payload::IdR(id(IdType::IPV6_ADDR, &v6(1))),
            auth(&auth_r),
            Payload::Eap(&[1, 7, 0, 5, 1]), // EAP-Request/Identity (RFC 3748)
            Payload::Cp(CpRepr::new(CfgType::CFG_REPLY, &cfg_rep)),
            notify(N::TICKET_LT_OPAQUE, &lifetime_ticket),
            notify(N::TICKET_ACK, &[]),
        ],
    ));
    let fail = notify(N::AUTHENTICATION_FAILED, &[]);
    out.push(packet(4500, x(X::IKE_AUTH, true, 2), &[fail]));

    // CREATE_CHILD_SA rekeying an ESP SA (N(REKEY_SA) carries its SPI),
    // and INFORMATIONAL deleting an ESP pair and the IKE SA.
    let (nc, ke_c, old_spis) = (rnd.take::<24>(), rnd.take::<32>(), rnd.take::<8>());
    out.push(packet(
        4500,
        x(X::CREATE_CHILD_SA, false, 3),
        &[
            notify_esp(N::REKEY_SA, &old_spis[..4]),
            Payload::Sa(SaRepr::new(&child)),
            nonce(&nc),
            ke(31, &ke_c),
            Payload::TsI(TsRepr::new(&ts[1..])),
            Payload::TsR(TsRepr::new(&ts)),
        ],
    ));
    let unacceptable = notify(N::TS_UNACCEPTABLE, &[]);
    out.push(packet(
        4500,
        x(X::CREATE_CHILD_SA, true, 3),
        &[unacceptable],
    ));
    out.push(packet(
        4500,
        x(X::INFORMATIONAL, false, 4),
        &[
            delete(ProtocolId::ESP, 4, &old_spis),
            delete(ProtocolId::IKE, 0, &[]),
        ],
    ));
    out.push(packet(
        4500,
        x(X::INFORMATIONAL, true, 4),
        &[
            notify(N::INVALID_SYNTAX, &[]),
            notify(N::INVALID_MESSAGE_ID, &7u32.to_be_bytes()),
        ],
    ));

    // IKE_SESSION_RESUME (RFC 5723 §4.3.2): a request with a cookie, the
    // answer and the unprotected refusal, with SPIs of a new IKE SA.
    let (spi_i, spi_r, ni, nr) = (
        rnd.take::<8>(),
        rnd.take::<8>(),
        rnd.take::<32>(),
        rnd.take::<32>(),
    );
    let resume = |spi_r, response| header(spi_i, spi_r, X::IKE_SESSION_RESUME, response, 0);
    out.push(packet(
        500,
        resume(zero, false),
        &[
            notify(N::COOKIE, &cookie),
            nonce(&ni),
            notify(N::TICKET_OPAQUE, &ticket),
        ],
    ));
    out.push(packet(500, resume(spi_r, true), &[nonce(&nr)]));
    out.push(packet(
        500,
        resume(zero, true),
        &[notify(N::TICKET_NACK, &[])],
    ));

    // SK and SKF (fragment 1 of 2) with opaque contents; the decryption
    // test below checks SK contents.
    let (data, first_inner) = (rnd.take::<96>(), PayloadType::IDI);
    let hdr = header(spi_i, spi_r, X::IKE_AUTH, false, 1);
    out.push(packet(
        4500,
        hdr,
        &[Payload::Sk(SkRepr {
            first_inner,
            data: &data,
        })],
    ));
    let (fragment_number, total_fragments) = (1, 2);
    let frag = SkfRepr {
        first_inner,
        fragment_number,
        total_fragments,
        data: &data,
    };
    out.push(packet(4500, hdr, &[Payload::Skf(frag)]));
    out
}

/// Every value `packets` expect in `field`.
fn listed(packets: &[Packet], field: &str) -> Vec<String> {
    let values = |p: &Packet| p.expect.get(field).cloned().unwrap_or_default();
    packets.iter().flat_map(values).collect()
}

/// Run tshark (with `prefs`) over `packets`, then over one copy of each
/// per byte it judges, with that byte changed. Every packet must decode
/// exactly as built, and every copy must be told apart from what was built:
/// so the comparison has teeth, and had the codec (or the SK protection)
/// written any one of those bytes wrong, this would fail.
fn check_with_mutants(name: &str, packets: &[Packet], prefs: &[String]) {
    let mut mutants = Vec::new();
    for (i, p) in packets.iter().enumerate() {
        for at in 0..p.judged {
            let mut ike = p.ike.clone();
            ike[at] = ike[at].wrapping_add(1);
            let expect = p.expect.clone();
            mutants.push((i + 1, at, Packet { ike, expect, ..*p }));
        }
    }
    let dir = Scratch::new(name);
    let pcap = dir.0.join("capture.pcap");
    let all = packets.iter().chain(mutants.iter().map(|m| &m.2));
    write_pcap(&pcap, all.map(Packet::datagram));
    let rows = tshark(&dir, &pcap, prefs, &fields().collect::<Vec<_>>());
    assert_eq!(
        rows.len(),
        packets.len() + mutants.len(),
        "tshark lost packets"
    );

    for (i, (row, p)) in rows.iter().zip(packets).enumerate() {
        let bad = p.mismatches(row, i + 1);
        assert!(bad.is_empty(), "packet {}: {bad:#?}", i + 1);
    }
    let unnoticed: Vec<_> = (rows[packets.len()..].iter().zip(&mutants).enumerate())
        .filter(|(j, (row, m))| m.2.mismatches(row, packets.len() + j + 1).is_empty())
        .map(|(_, (_, (i, at, _)))| format!("packet {i} byte {at}"))
        .collect();
    assert!(
        unnoticed.is_empty(),
        "changes tshark did not notice: {unnoticed:?}"
    );
}

#[test]
fn tshark_decodes_every_payload_and_exchange_type() {
    if !have_tshark() {
        return;
    }
    let packets = cleartext_packets();
    // The capture covers every payload type the codec knows, every
    // exchange type, every notify type of RFC 5723 and both ports.
    let types = listed(&packets, "isakmp.typepayload");
    for t in (0..=u8::MAX).filter(|&t| PayloadType(t).is_known()) {
        assert!(types.contains(&t.to_string()), "no payload of type {t}");
    }
    let exchanges = listed(&packets, "isakmp.exchangetype");
    for x in 34..=38 {
        assert!(exchanges.contains(&x.to_string()), "no exchange {x}");
    }
    let notifies = listed(&packets, "isakmp.notify.msgtype");
    for n in 16409..=16413 {
        assert!(notifies.contains(&n.to_string()), "no notify of type {n}");
    }
    assert!(packets.iter().any(|p| p.port == 500) && packets.iter().any(|p| p.port == 4500));
    check_with_mutants("tshark-clear", &packets, &[]);
}

/// tshark 4.0's names for the algorithms in its IKEv2 decryption table
/// (the value strings of its "Encryption algorithm" and "Integrity
/// algorithm" columns).
fn tshark_alg_names(suite: &IkeSuite) -> (&'static str, &'static str) {
    match (suite.encr(), suite.integ()) {
        (Encr::AES_GCM_256, None) => ("AES-GCM-256 with 16 octet ICV [RFC5282]", "NONE [RFC4306]"),
        (Encr::AES_CBC_256, Some(Integ::HmacSha256_128)) => {
            ("AES-CBC-256 [RFC3602]", "HMAC_SHA2_256_128 [RFC4868]")
        }
        other => panic!("no tshark name chosen for {other:?}"),
    }
}

/// One row of tshark's `ikev2_decryption_table`, as a `-o` preference:
/// SPIi, SPIr, SK_ei, SK_er, encryption, SK_ai, SK_ar, integrity. Keys are
/// bare hex (for AES-GCM, SK_e ends with the 4-byte salt; SK_a is empty)
/// and the algorithm names are quoted.
fn decryption_row(hdr: &HeaderRepr, suite: &IkeSuite, k: &IkeKeys) -> String {
    let (encr, integ) = tshark_alg_names(suite);
    let (spi_i, spi_r) = (hex::encode(hdr.spi_i), hex::encode(hdr.spi_r));
    let key = |s: &SecretBuf| hex::encode(s.as_bytes());
    let (ei, er, ai, ar) = (key(&k.sk_ei), key(&k.sk_er), key(&k.sk_ai), key(&k.sk_ar));
    format!(r#"uat:ikev2_decryption_table:{spi_i},{spi_r},{ei},{er},"{encr}",{ai},{ar},"{integ}""#)
}

/// An IKE_AUTH message on port 4500 whose `inner` payloads the builder
/// puts in an SK payload (RFC 7296 §3.14) and `cipher` protects.
fn protected(hdr: HeaderRepr, inner: &[Payload<'_>], cipher: &SkCipher, iv: &[u8]) -> Packet {
    let mut buf = vec![0u8; 2048];
    let mut b = MessageBuilder::new(&mut buf, &hdr).unwrap();
    b.begin_sk(cipher.encr().iv_len()).unwrap();
    for p in inner {
        b.push(p).unwrap();
    }
    // Padding, Pad Length and ICV follow the inner payloads.
    let sk = b.end_sk(|n| cipher.layout(n).trailer_len()).unwrap();
    let len = b.finish().unwrap();
    buf.truncate(len);
    cipher
        .protect(&mut buf, sk.sk_offset, sk.plaintext.len(), iv)
        .unwrap();
    let mut expect = expect_message(&hdr, len, &[], Some(inner));
    add(&mut expect, "udp.dstport", 4500);
    add(
        &mut expect,
        "isakmp.enc.pad_length",
        cipher.layout(sk.plaintext.len()).pad_len,
    );
    let request = !hdr.flags.response();
    Packet {
        port: 4500,
        request,
        ike: buf,
        judged: len,
        expect,
    }
}

/// The IKE_AUTH exchange after a resumption (RFC 5723 §4.3.3), protected
/// with the keys of the resumed SA, for each suite.
fn protected_packets() -> (Vec<Packet>, Vec<(HeaderRepr, IkeSuite, IkeKeys)>) {
    let mut rnd = SplitMix(0x534b_5041_594c_4f41);
    let gcm = IkeSuite::new(Encr::AES_GCM_256, PrfAlg::HmacSha256, None).unwrap();
    let hmac = Some(Integ::HmacSha256_128);
    let cbc = IkeSuite::new(Encr::AES_CBC_256, PrfAlg::HmacSha256, hmac).unwrap();
    let (mut packets, mut sas) = (Vec::new(), Vec::new());
    for suite in [gcm, cbc] {
        let (spi_i, spi_r, sk_d_old) = (rnd.take::<8>(), rnd.take::<8>(), rnd.take::<32>());
        let (ni, nr) = (rnd.take::<32>(), rnd.take::<32>());
        let keys = IkeKeys::derive_resumed(&suite, &sk_d_old, &ni, &nr, &spi_i, &spi_r).unwrap();
        let (i2r, r2i) = keys.sk_ciphers(&suite, Role::Initiator).unwrap();
        let (auth_i, auth_r, spi_esp) = (rnd.take::<32>(), rnd.take::<32>(), rnd.take::<4>());
        let (ticket, iv) = (rnd.take::<64>(), rnd.take::<16>());
        let mut lt_ticket = 3_600u32.to_be_bytes().to_vec();
        lt_ticket.extend_from_slice(&ticket);
        let child = [prop(1, ProtocolId::ESP, &spi_esp, &ESP)];
        let ts = selectors();
        let hdr = |response| header(spi_i, spi_r, ExchangeType::IKE_AUTH, response, 1);
        let iv = &iv[..suite.encr().iv_len()];
        packets.push(protected(
            hdr(false),
            &[
                Payload::IdI(id(IdType::FQDN, b"roaming.client.example")),
                auth(&auth_i),
                notify(NotifyType::TICKET_REQUEST, &[]),
                Payload::Sa(SaRepr::new(&child)),
                Payload::TsI(TsRepr::new(&ts)),
                Payload::TsR(TsRepr::new(&ts)),
            ],
            &i2r,
            iv,
        ));
        packets.push(protected(
            hdr(true),
            &[
                Payload::IdR(id(IdType::IPV4_ADDR, &[198, 51, 100, 7])),
                auth(&auth_r),
                notify(NotifyType::TICKET_LT_OPAQUE, &lt_ticket),
                Payload::Sa(SaRepr::new(&child)),
                Payload::TsI(TsRepr::new(&ts[..1])),
                Payload::TsR(TsRepr::new(&ts[1..])),
            ],
            &r2i,
            iv,
        ));
        sas.push((hdr(false), suite, keys));
    }
    (packets, sas)
}

#[test]
fn tshark_decrypts_and_verifies_sk_payloads() {
    if !have_tshark() {
        return;
    }
    let (packets, sas) = protected_packets();
    // With the keys, tshark decrypts each SK payload, finds the ICV correct
    // (it would add an expert item otherwise) and the inner payloads exactly
    // as built; and every changed byte (header, IV, ciphertext, ICV) is
    // noticed, by the ICV check or by the header fields.
    let rows: Vec<String> = sas
        .iter()
        .map(|(h, s, k)| decryption_row(h, s, k))
        .collect();
    check_with_mutants("tshark-sk", &packets, &rows);

    // With a wrong key tshark must say the ICV is wrong: so the silence
    // above does mean the ICVs were checked and found right. The key that
    // makes the ICV is changed: SK_e for AES-GCM, SK_a for AES-CBC + HMAC.
    let flip = |key: &SecretBuf| {
        let mut bytes = key.as_bytes().to_vec();
        bytes[0] ^= 1;
        SecretBuf::from_slice(&bytes).unwrap()
    };
    let mut wrong = Vec::new();
    for (hdr, suite, mut k) in sas {
        if suite.integ().is_some() {
            (k.sk_ai, k.sk_ar) = (flip(&k.sk_ai), flip(&k.sk_ar));
        } else {
            (k.sk_ei, k.sk_er) = (flip(&k.sk_ei), flip(&k.sk_er));
        }
        wrong.push(decryption_row(&hdr, &suite, &k));
    }
    let dir = Scratch::new("tshark-sk-wrong-key");
    let pcap = dir.0.join("wrong-key.pcap");
    write_pcap(&pcap, packets.iter().map(Packet::datagram));
    for (i, row) in tshark(&dir, &pcap, &wrong, &fields().collect::<Vec<_>>())
        .iter()
        .enumerate()
    {
        let experts = &row["_ws.expert.message"];
        assert!(
            experts.contains("IKEv2 Integrity Checksum Data is incorrect"),
            "packet {}: {experts:?}",
            i + 1
        );
    }
}
