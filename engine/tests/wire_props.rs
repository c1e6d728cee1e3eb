//! Property tests: for every payload type and for whole messages,
//! parse(emit(x)) == x, and the emitted length is what `body_len` promised.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;
use rebound_engine::wire::*;

/// One proposal: protocol, SPI, transforms.
type ProposalModel = (u8, Vec<u8>, Vec<TransformRepr>);
/// One selector: protocol, ports, IPv6?, start and end address bytes.
type SelectorModel = (u8, u16, u16, bool, [u8; 16], [u8; 16]);

/// An owned description of a payload; `with_payload` borrows from it.
#[derive(Debug, Clone)]
enum Model {
    Sa(Vec<ProposalModel>),
    Ke(u16, Vec<u8>),
    Id(bool, u8, Vec<u8>),
    Cert(bool, u8, Vec<u8>),
    Auth(u8, Vec<u8>),
    Nonce(Vec<u8>),
    Notify(u8, u16, Vec<u8>, Vec<u8>),
    Delete(u8, u8, Vec<u8>),
    Vendor(Vec<u8>),
    Ts(bool, Vec<SelectorModel>),
    Cp(u8, Vec<(u16, Vec<u8>)>),
    Eap(Vec<u8>),
}

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..max)
}

fn transform() -> impl Strategy<Value = TransformRepr> {
    (1u8..=5, any::<u16>(), proptest::option::of(any::<u16>()))
        .prop_map(|(t, id, k)| TransformRepr::new(TransformType(t), id, k))
}

fn model() -> impl Strategy<Value = Model> {
    prop_oneof![
        proptest::collection::vec(
            (
                0u8..4,
                prop_oneof![
                    Just(vec![]),
                    bytes(9).prop_map(|mut v| {
                        v.resize(4, 0xab);
                        v
                    })
                ],
                proptest::collection::vec(transform(), 0..6)
            ),
            1..4
        )
        .prop_map(Model::Sa),
        (any::<u16>(), bytes(300)).prop_map(|(g, k)| Model::Ke(g, k)),
        (
            any::<bool>(),
            prop_oneof![Just(2u8), Just(3), Just(11), Just(9)],
            bytes(64)
        )
            .prop_map(|(i, t, mut d)| {
                if d.is_empty() {
                    d.push(b'x');
                }
                Model::Id(i, t, d)
            }),
        (any::<bool>(), any::<u8>(), bytes(100)).prop_map(|(r, e, d)| Model::Cert(r, e, d)),
        (any::<u8>(), bytes(80)).prop_map(|(m, d)| Model::Auth(m, d)),
        proptest::collection::vec(any::<u8>(), 16..=256).prop_map(Model::Nonce),
        (
            0u8..4,
            any::<u16>(),
            prop_oneof![Just(vec![]), Just(vec![1, 2, 3, 4])],
            bytes(200)
        )
            .prop_map(|(p, t, s, d)| Model::Notify(p, t, s, d)),
        // AH/ESP SPIs are 4 bytes (RFC 7296 §3.11); other protocols any size.
        (
            prop_oneof![Just(2u8), Just(3), Just(200)],
            1u8..9,
            0usize..10
        )
            .prop_map(|(p, size, n)| {
                let size = if p == 200 { size } else { 4 };
                Model::Delete(p, size, (0..size as usize * n).map(|i| i as u8).collect())
            }),
        bytes(100).prop_map(Model::Vendor),
        (
            any::<bool>(),
            proptest::collection::vec(
                (
                    any::<u8>(),
                    any::<u16>(),
                    any::<u16>(),
                    any::<bool>(),
                    any::<[u8; 16]>(),
                    any::<[u8; 16]>()
                ),
                0..5
            )
        )
            .prop_map(|(i, v)| Model::Ts(i, v)),
        (
            1u8..5,
            proptest::collection::vec((16u16..0x7fff, bytes(20)), 0..5)
        )
            .prop_map(|(t, a)| Model::Cp(t, a)),
        bytes(100).prop_map(Model::Eap),
    ]
}

fn ip(v6: bool, b: &[u8; 16]) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::from(*b))
    } else {
        IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]))
    }
}

/// Build the payload from the model and hand it to `f` (the borrowed
/// spec arrays live on this stack frame).
fn with_payload<R>(m: &Model, f: impl FnOnce(Payload<'_>) -> R) -> R {
    match m {
        Model::Sa(props) => {
            let specs: Vec<ProposalSpec<'_>> = props
                .iter()
                .enumerate()
                .map(|(i, (proto, spi, t))| ProposalSpec {
                    num: i as u8 + 1,
                    protocol: ProtocolId(*proto),
                    spi,
                    transforms: t,
                })
                .collect();
            f(Payload::Sa(SaRepr::new(&specs)))
        }
        Model::Ke(g, k) => f(Payload::Ke(KeRepr {
            dh_group: *g,
            key_data: k,
        })),
        Model::Id(i, t, d) => {
            let r = IdRepr {
                id_type: IdType(*t),
                data: d,
            };
            f(if *i { Payload::IdI(r) } else { Payload::IdR(r) })
        }
        Model::Cert(req, e, d) => {
            let r = CertRepr {
                encoding: CertEncoding(*e),
                data: d,
            };
            f(if *req {
                Payload::CertReq(r)
            } else {
                Payload::Cert(r)
            })
        }
        Model::Auth(m, d) => f(Payload::Auth(AuthRepr {
            method: AuthMethod(*m),
            data: d,
        })),
        Model::Nonce(n) => f(Payload::Nonce(NonceRepr { nonce: n })),
        Model::Notify(p, t, s, d) => f(Payload::Notify(NotifyRepr {
            protocol: ProtocolId(*p),
            notify_type: NotifyType(*t),
            spi: s,
            data: d,
        })),
        Model::Delete(p, s, spis) => f(Payload::Delete(DeleteRepr {
            protocol: ProtocolId(*p),
            spi_size: *s,
            spis,
        })),
        Model::Vendor(d) => f(Payload::VendorId(d)),
        Model::Ts(i, v) => {
            let sel: Vec<TrafficSelector<'_>> = v
                .iter()
                .map(|(proto, sp, ep, v6, a, z)| TrafficSelector::Range {
                    ip_proto: *proto,
                    start_port: *sp,
                    end_port: *ep,
                    start: ip(*v6, a),
                    end: ip(*v6, z),
                })
                .collect();
            let r = TsRepr::new(&sel);
            f(if *i { Payload::TsI(r) } else { Payload::TsR(r) })
        }
        Model::Cp(t, a) => {
            let attrs: Vec<CfgAttr<'_>> = a
                .iter()
                .map(|(ty, v)| CfgAttr {
                    attr_type: CfgAttrType(*ty),
                    value: v,
                })
                .collect();
            f(Payload::Cp(CpRepr::new(CfgType(*t), &attrs)))
        }
        Model::Eap(d) => f(Payload::Eap(d)),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn payload_body_round_trips(m in model()) {
        with_payload(&m, |p| {
            let mut buf = vec![0u8; p.body_len()];
            p.emit_body(&mut buf).unwrap();
            let back = Payload::parse(p.payload_type(), PayloadType::NONE, &buf).unwrap();
            prop_assert_eq!(back, p);
            Ok(())
        })?;
    }

    #[test]
    fn message_round_trips(
        models in proptest::collection::vec(model(), 0..8),
        spi_i in any::<[u8; 8]>(),
        spi_r in any::<[u8; 8]>(),
        exch in 34u8..=38,
        flags in any::<u8>(),
        mid in any::<u32>(),
        minor in 0u8..16,
        with_sk in any::<bool>(),
        marker in any::<bool>(),
    ) {
        let hdr = HeaderRepr {
            spi_i, spi_r,
            next_payload: PayloadType::NONE,
            minor_version: minor,
            exchange_type: ExchangeType(exch),
            flags: Flags(flags),
            message_id: mid,
        };
        let mut buf = vec![0u8; 64 * 1024];
        let off = if marker { NON_ESP_MARKER_LEN } else { 0 };
        let mut b = MessageBuilder::new(&mut buf[off..], &hdr).unwrap();
        for m in &models {
            with_payload(m, |p| b.push(&p)).unwrap();
        }
        if with_sk {
            b.push(&Payload::Sk(SkRepr { first_inner: PayloadType::IDI, data: &[9; 40] })).unwrap();
        }
        let n = b.finish().unwrap();
        if marker {
            emit_non_esp_marker(&mut buf).unwrap();
        }
        let wire = &buf[..off + n];
        let ike = if marker { strip_non_esp_marker(wire).unwrap() } else { wire };
        let msg = Message::parse(ike).unwrap();
        let mut want = hdr;
        want.next_payload = match models.first() {
            Some(m) => with_payload(m, |p| p.payload_type()),
            None if with_sk => PayloadType::SK,
            None => PayloadType::NONE,
        };
        prop_assert_eq!(msg.header, want);
        let mut got = Vec::new();
        msg.parse_all(|p| { got.push(p); Ok(()) }).unwrap();
        prop_assert_eq!(got.len(), models.len() + with_sk as usize);
        for (m, g) in models.iter().zip(&got) {
            with_payload(m, |p| assert_eq!(&p, g));
        }
        if with_sk {
            prop_assert_eq!(got.last().copied(), Some(Payload::Sk(SkRepr { first_inner: PayloadType::IDI, data: &[9; 40] })));
        }
    }
}
