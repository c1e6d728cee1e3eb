//! Hostile input for the codec: every truncation, random bytes, mutations,
//! lengths past the end, chains that would loop or overflow, and a message
//! of 64 KiB of payload headers. Nothing may panic, and the specific error
//! must come back where one is expected.

use std::net::{IpAddr, Ipv4Addr};

use rebound_engine::wire::*;

/// Deterministic xorshift64* so failures reproduce.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn fill(&mut self, b: &mut [u8]) {
        for x in b {
            *x = self.next() as u8;
        }
    }
}

fn header(exchange: ExchangeType, spi_r: [u8; 8]) -> HeaderRepr {
    HeaderRepr {
        spi_i: [0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88],
        spi_r,
        next_payload: PayloadType::NONE,
        minor_version: 0,
        exchange_type: exchange,
        flags: Flags::new(true, false),
        message_id: 0,
    }
}

/// A typical IKE_SESSION_RESUME request (RFC 5723 §4.3.2).
fn resume_request() -> Vec<u8> {
    let mut buf = vec![0u8; 1024];
    let mut b =
        MessageBuilder::new(&mut buf, &header(ExchangeType::IKE_SESSION_RESUME, [0; 8])).unwrap();
    b.push(&Payload::Nonce(NonceRepr { nonce: &[0xa5; 32] }))
        .unwrap();
    b.push(&Payload::Notify(NotifyRepr::ike(
        NotifyType::TICKET_OPAQUE,
        &[0x5a; 150],
    )))
    .unwrap();
    b.push(&Payload::Notify(NotifyRepr::ike(
        NotifyType::NAT_DETECTION_SOURCE_IP,
        &[1; 20],
    )))
    .unwrap();
    b.push(&Payload::Notify(NotifyRepr::ike(
        NotifyType::NAT_DETECTION_DESTINATION_IP,
        &[2; 20],
    )))
    .unwrap();
    let n = b.finish().unwrap();
    buf.truncate(n);
    buf
}

/// A message with one of every cleartext payload type.
fn kitchen_sink() -> Vec<u8> {
    let t = [
        TransformRepr::new(TransformType::ENCR, 20, Some(256)),
        TransformRepr::new(TransformType::PRF, 5, None),
        TransformRepr::new(TransformType::DH, 31, None),
    ];
    let props = [
        ProposalSpec {
            num: 1,
            protocol: ProtocolId::IKE,
            spi: &[],
            transforms: &t,
        },
        ProposalSpec {
            num: 2,
            protocol: ProtocolId::ESP,
            spi: &[9, 9, 9, 9],
            transforms: &t[..1],
        },
    ];
    let sel = [TrafficSelector::Range {
        ip_proto: 0,
        start_port: 0,
        end_port: 65535,
        start: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
        end: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 9)),
    }];
    let attrs = [CfgAttr {
        attr_type: CfgAttrType::INTERNAL_IP4_ADDRESS,
        value: &[],
    }];
    let mut buf = vec![0u8; 2048];
    let mut b = MessageBuilder::new(&mut buf, &header(ExchangeType::IKE_AUTH, [7; 8])).unwrap();
    for p in [
        Payload::Sa(SaRepr::new(&props)),
        Payload::Ke(KeRepr {
            dh_group: 31,
            key_data: &[3; 32],
        }),
        Payload::IdI(IdRepr {
            id_type: IdType::FQDN,
            data: b"client.example",
        }),
        Payload::IdR(IdRepr {
            id_type: IdType::IPV4_ADDR,
            data: &[192, 0, 2, 1],
        }),
        Payload::Cert(CertRepr {
            encoding: CertEncoding::X509_SIGNATURE,
            data: &[0x30, 0x82],
        }),
        Payload::CertReq(CertRepr {
            encoding: CertEncoding::X509_SIGNATURE,
            data: &[4; 20],
        }),
        Payload::Auth(AuthRepr {
            method: AuthMethod::SHARED_KEY_MIC,
            data: &[5; 32],
        }),
        Payload::Nonce(NonceRepr { nonce: &[6; 16] }),
        Payload::Notify(NotifyRepr {
            protocol: ProtocolId::ESP,
            notify_type: NotifyType::REKEY_SA,
            spi: &[1, 2, 3, 4],
            data: &[],
        }),
        Payload::Delete(DeleteRepr {
            protocol: ProtocolId::ESP,
            spi_size: 4,
            spis: &[1, 2, 3, 4, 5, 6, 7, 8],
        }),
        Payload::VendorId(b"rebound"),
        Payload::TsI(TsRepr::new(&sel)),
        Payload::TsR(TsRepr::new(&sel)),
        Payload::Cp(CpRepr::new(CfgType::CFG_REQUEST, &attrs)),
        Payload::Eap(&[1, 1, 0, 4]),
        Payload::Sk(SkRepr {
            first_inner: PayloadType::IDI,
            data: &[0xee; 48],
        }),
    ] {
        b.push(&p).unwrap();
    }
    let n = b.finish().unwrap();
    buf.truncate(n);
    buf
}

/// Parse everything; return the error if any. Must never panic.
fn parse_everything(bytes: &[u8]) -> Result<usize, WireError> {
    let msg = Message::parse(bytes)?;
    msg.parse_all(|_| Ok(()))
}

fn patch_len(buf: &mut [u8]) {
    let n = buf.len() as u32;
    if buf.len() >= HEADER_LEN {
        buf[24..28].copy_from_slice(&n.to_be_bytes());
    }
}

#[test]
fn valid_messages_parse_completely() {
    assert_eq!(parse_everything(&resume_request()), Ok(4));
    assert_eq!(parse_everything(&kitchen_sink()), Ok(16));
}

#[test]
fn every_truncation_is_refused() {
    for msg in [resume_request(), kitchen_sink()] {
        for cut in 0..msg.len() {
            let short = &msg[..cut];
            // As received: the header length no longer matches.
            let e = parse_everything(short).unwrap_err();
            if cut < HEADER_LEN {
                assert_eq!(
                    e,
                    WireError::Truncated {
                        need: HEADER_LEN,
                        have: cut
                    }
                );
            } else {
                assert_eq!(
                    e,
                    WireError::HeaderLength {
                        header: msg.len() as u32,
                        datagram: cut
                    }
                );
            }
            // With a consistent header length, the payload chain must still
            // refuse it (except exactly at a payload boundary, where the
            // chain's Next Payload names a payload that is not there).
            let mut fixed = short.to_vec();
            patch_len(&mut fixed);
            if cut > HEADER_LEN {
                assert!(
                    parse_everything(&fixed).is_err(),
                    "truncation at {cut} accepted"
                );
            }
        }
    }
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut buf = vec![0u8; 1500];
    let mut header_ok = 0;
    for _ in 0..200_000 {
        let len = rng.below(buf.len());
        let b = &mut buf[..len];
        rng.fill(b);
        if len >= HEADER_LEN {
            // Half the time make the header plausible so the chain is reached.
            if rng.below(2) == 0 {
                b[17] = 0x20;
                let n = len as u32;
                b[24..28].copy_from_slice(&n.to_be_bytes());
                b[16] = [33, 40, 41, 46, 53, 0, 200][rng.below(7)];
                header_ok += 1;
            }
        }
        let _ = parse_everything(b);
        let _ = strip_non_esp_marker(b).map(parse_everything);
    }
    assert!(header_ok > 50_000);
}

#[test]
fn mutations_of_valid_messages_never_panic() {
    let mut rng = Rng(42);
    for base in [resume_request(), kitchen_sink()] {
        let mut accepted = 0;
        for _ in 0..50_000 {
            let mut m = base.clone();
            for _ in 0..1 + rng.below(4) {
                let i = rng.below(m.len());
                m[i] = rng.next() as u8;
            }
            if parse_everything(&m).is_ok() {
                accepted += 1;
            }
        }
        // Mutating payload data keeps many messages valid; mutating
        // structure must not. Both outcomes occur.
        assert!(accepted > 0 && accepted < 50_000);
    }
}

#[test]
fn payload_length_past_the_end_or_below_minimum() {
    let msg = resume_request();
    for bad in [0u16, 1, 3, 0xffff, (msg.len() - HEADER_LEN + 1) as u16] {
        let mut m = msg.clone();
        m[HEADER_LEN + 2..HEADER_LEN + 4].copy_from_slice(&bad.to_be_bytes());
        assert_eq!(
            parse_everything(&m),
            Err(WireError::PayloadLength {
                payload: PayloadType::NONCE,
                length: bad
            })
        );
    }
}

#[test]
fn chains_cannot_loop_or_overflow() {
    // A payload whose Next Payload names its own type over and over: the
    // chain ends when the bytes end, with an error, after a bounded walk.
    let mut buf = vec![0u8; HEADER_LEN + 4 * 1000];
    let mut b =
        MessageBuilder::new(&mut buf, &header(ExchangeType::INFORMATIONAL, [1; 8])).unwrap();
    for _ in 0..1000 {
        b.push(&Payload::VendorId(&[])).unwrap();
    }
    let n = b.finish().unwrap();
    // Make the last payload claim a successor that does not exist.
    buf[HEADER_LEN + 4 * 999] = PayloadType::VENDOR_ID.0;
    let msg = Message::parse(&buf[..n]).unwrap();
    let mut count = 0;
    let mut err = None;
    for p in msg.payloads() {
        match p {
            Ok(_) => count += 1,
            Err(e) => err = Some(e),
        }
    }
    assert_eq!(count, 1000);
    assert_eq!(err, Some(WireError::Truncated { need: 4, have: 0 }));

    // Lengths that sum past the message: 0x8000 + 0x8000 overflows u16
    // arithmetic in a naive parser.
    let mut m = vec![0u8; HEADER_LEN + 8];
    m[..HEADER_LEN].copy_from_slice(&resume_request()[..HEADER_LEN]);
    m[16] = PayloadType::VENDOR_ID.0;
    m[HEADER_LEN..HEADER_LEN + 4].copy_from_slice(&[43, 0, 0x80, 0x00]);
    patch_len(&mut m);
    assert!(matches!(
        parse_everything(&m),
        Err(WireError::PayloadLength { length: 0x8000, .. })
    ));
}

#[test]
fn sixty_four_kib_of_payload_headers() {
    // The largest UDP payload, filled with empty Vendor ID payloads.
    let total = 65_507 - NON_ESP_MARKER_LEN;
    let count = (total - HEADER_LEN) / 4;
    let mut buf = vec![0u8; total];
    let mut b =
        MessageBuilder::new(&mut buf, &header(ExchangeType::INFORMATIONAL, [1; 8])).unwrap();
    for _ in 0..count {
        b.push(&Payload::VendorId(&[])).unwrap();
    }
    let n = b.finish().unwrap();
    assert_eq!(parse_everything(&buf[..n]), Ok(count));

    // The same count of unknown non-critical payloads: all skipped.
    for i in 0..count {
        let off = HEADER_LEN + 4 * i;
        buf[off] = if i + 1 == count { 0 } else { 200 };
    }
    buf[16] = 200;
    let msg = Message::parse(&buf[..n]).unwrap();
    let mut it = msg.payloads();
    assert!(it.next().is_none());
    assert_eq!(it.skipped_unknown(), count);

    // And one critical among them stops the walk with its type.
    buf[HEADER_LEN + 4 * 100 + 1] = 0x80;
    assert_eq!(
        parse_everything(&buf[..n]),
        Err(WireError::UnsupportedCriticalPayload(PayloadType(200)))
    );
    let e = parse_everything(&buf[..n]).unwrap_err();
    assert_eq!(e.notify(), Some(NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD));
    assert_eq!(e.notify_data(), Some(200));

    // Builder refuses to go past the buffer instead of panicking.
    let mut small = [0u8; HEADER_LEN + 6];
    let mut b =
        MessageBuilder::new(&mut small, &header(ExchangeType::INFORMATIONAL, [1; 8])).unwrap();
    b.push(&Payload::VendorId(&[])).unwrap();
    assert_eq!(
        b.push(&Payload::VendorId(&[])),
        Err(WireError::BufferTooSmall {
            need: HEADER_LEN + 8,
            have: HEADER_LEN + 6
        })
    );
}

#[test]
fn payload_level_rules() {
    // Nonce outside 16..=256 (RFC 7296 §3.9).
    for len in [0usize, 15, 257] {
        let body = vec![1u8; len];
        assert!(matches!(
            Payload::parse(PayloadType::NONCE, PayloadType::NONE, &body),
            Err(WireError::Malformed { .. })
        ));
    }
    // Notify whose SPI size runs past the body.
    assert!(NotifyRepr::parse(&[3, 8, 0x40, 0x0c, 1, 2]).is_err());
    // Delete with a count that does not match.
    assert!(DeleteRepr::parse(&[3, 4, 0, 3, 1, 2, 3, 4]).is_err());
    // ESP SPIs of a size other than 4, and SPIs counted with size 0.
    assert!(DeleteRepr::parse(&[3, 8, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8]).is_err());
    assert!(DeleteRepr::parse(&[3, 0, 0, 5]).is_err());
    assert!(DeleteRepr::parse(&[200, 0, 0, 5]).is_err());
    // Delete of the IKE SA with SPIs.
    assert!(DeleteRepr::parse(&[1, 8, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8]).is_err());
    // IPv4 identity of the wrong length.
    assert!(IdRepr::parse(PayloadType::IDI, &[1, 0, 0, 0, 1, 2, 3]).is_err());
    // SKF fragment number 0 or above the total.
    assert!(SkfRepr::parse(PayloadType::NONE, &[0, 0, 0, 2]).is_err());
    assert!(SkfRepr::parse(PayloadType::NONE, &[0, 3, 0, 2]).is_err());
    // Errors map to notifies.
    let e = IdRepr::parse(PayloadType::IDI, &[1, 0, 0, 0, 1]).unwrap_err();
    assert_eq!(e.notify(), Some(NotifyType::INVALID_SYNTAX));
    assert_eq!(e.counter_label(), "malformed_payload");
}
