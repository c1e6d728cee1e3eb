//! Child SA negotiation on real bytes: SA and TS payloads are emitted, then
//! parsed back as a peer's would be, and handed to `choose_esp`,
//! `accept_esp` and `narrow`; plus the internal-address pool.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use proptest::prelude::*;
use rebound_engine::child::*;
use rebound_engine::crypto::{Encr, Integ};
use rebound_engine::handoff::TsRange;
use rebound_engine::wire::{
    NotifyType, PayloadType, ProposalSpec, ProtocolId, SaRepr, TrafficSelector, TransformRepr,
    TransformType, TsRepr,
};

const SPI: [u8; 4] = [0xca, 0xfe, 0x00, 0x01];
const SPI2: [u8; 4] = [0xca, 0xfe, 0x00, 0x02];

const ENCR: TransformType = TransformType::ENCR;
const INTEG: TransformType = TransformType::INTEG;
const ESN: TransformType = TransformType::ESN;

fn tr(ttype: TransformType, id: u16, key: Option<u16>) -> TransformRepr {
    TransformRepr::new(ttype, id, key)
}
fn gcm(bits: u16) -> TransformRepr {
    tr(ENCR, 20, Some(bits))
}
fn cbc(bits: u16) -> TransformRepr {
    tr(ENCR, 12, Some(bits))
}
fn integ(id: u16) -> TransformRepr {
    tr(INTEG, id, None)
}
fn esn(id: u16) -> TransformRepr {
    tr(ESN, id, None)
}

/// An ESP proposal spec numbered `num`.
fn esp<'a>(num: u8, spi: &'a [u8], transforms: &'a [TransformRepr]) -> ProposalSpec<'a> {
    ProposalSpec {
        num,
        protocol: ProtocolId::ESP,
        spi,
        transforms,
    }
}

/// The SA payload body a peer would send.
fn sa_bytes(proposals: &[ProposalSpec<'_>]) -> Vec<u8> {
    let sa = SaRepr::new(proposals);
    let mut buf = vec![0u8; sa.body_len()];
    sa.emit_body(&mut buf).unwrap();
    buf
}

type Chosen = Result<SelectedEsp, ChildError>;

/// `choose_esp` on the parsed bytes of `proposals`.
fn choose(policy: &[EspProposal], proposals: &[ProposalSpec<'_>]) -> Chosen {
    choose_esp(policy, &SaRepr::parse(&sa_bytes(proposals)).unwrap())
}

/// `accept_esp` on the parsed bytes of `proposals`.
fn accept(offered: &[EspProposal], proposals: &[ProposalSpec<'_>]) -> Chosen {
    accept_esp(offered, &SaRepr::parse(&sa_bytes(proposals)).unwrap())
}

/// The suite `choose_esp` picks from one proposal of transforms `t`.
fn pick(policy: &[EspProposal], t: &[TransformRepr]) -> Result<EspProposal, ChildError> {
    choose(policy, &[esp(1, &SPI, t)]).map(|s| s.suite())
}

/// The suite `accept_esp` takes from an answer of transforms `t`.
fn take(offered: &[EspProposal], t: &[TransformRepr]) -> Result<EspProposal, ChildError> {
    accept(offered, &[esp(1, &SPI, t)]).map(|s| s.suite())
}

/// A raw transform: type, id, TV attributes (type, value).
type RawTransform<'a> = (u8, u16, &'a [(u16, u16)]);

/// A one-proposal ESP SA body written byte by byte, for attributes the
/// emitter cannot produce.
fn raw_esp_sa(transforms: &[RawTransform<'_>]) -> Vec<u8> {
    let mut body = Vec::new();
    for (i, (ttype, id, attrs)) in transforms.iter().enumerate() {
        let len = 8 + 4 * attrs.len();
        body.push(if i + 1 == transforms.len() { 0 } else { 3 });
        body.push(0);
        body.extend_from_slice(&(len as u16).to_be_bytes());
        body.extend_from_slice(&[*ttype, 0]);
        body.extend_from_slice(&id.to_be_bytes());
        for (atype, value) in *attrs {
            body.extend_from_slice(&(0x8000 | atype).to_be_bytes());
            body.extend_from_slice(&value.to_be_bytes());
        }
    }
    let mut out = vec![0, 0];
    out.extend_from_slice(&((8 + 4 + body.len()) as u16).to_be_bytes());
    out.extend_from_slice(&[1, ProtocolId::ESP.0, 4, transforms.len() as u8]);
    out.extend_from_slice(&SPI);
    out.extend_from_slice(&body);
    out
}

const DEF: [EspProposal; 4] = EspProposal::DEFAULT;
const G256: EspProposal = EspProposal::AES_GCM_256;
const G128: EspProposal = EspProposal::AES_GCM_128;
const C256: EspProposal = EspProposal::AES_CBC_256_SHA256;
const C128: EspProposal = EspProposal::AES_CBC_128_SHA256;
const C384: EspProposal = EspProposal::AES_CBC_256_SHA384;
const C512: EspProposal = EspProposal::AES_CBC_256_SHA512;
const NO_PROPOSAL: Result<EspProposal, ChildError> = Err(ChildError::NoProposalChosen);

// ---------------------------------------------------------------- choose_esp

#[test]
fn peer_order_across_proposals() {
    let p1 = [cbc(256), integ(12), esn(0)];
    let p2 = [gcm(256), esn(0)];
    // Policy prefers GCM, but the peer's first acceptable proposal wins.
    let got = choose(&DEF, &[esp(1, &SPI, &p1), esp(2, &SPI2, &p2)]).unwrap();
    let want = SelectedEsp {
        proposal_num: 1,
        peer_spi: SPI,
        encr: Encr::AES_CBC_256,
        integ: Some(Integ::HmacSha256_128),
        esn: false,
    };
    assert_eq!(got, want);
    // A first proposal policy refuses (SHA-512 not in DEFAULT) falls through.
    let p1 = [cbc(256), integ(14), esn(0)];
    let got = choose(&DEF, &[esp(1, &SPI, &p1), esp(2, &SPI2, &p2)]).unwrap();
    assert_eq!(
        (got.proposal_num, got.peer_spi, got.suite()),
        (2, SPI2, G256)
    );
}

#[test]
fn policy_order_within_a_proposal() {
    let p = [cbc(128), cbc(256), integ(14), integ(12), esn(0)];
    assert_eq!(pick(&[C256, C128], &p), Ok(C256));
    assert_eq!(pick(&[C128, C256], &p), Ok(C128));
    assert_eq!(pick(&[C512, C256], &p), Ok(C512));
    assert_eq!(pick(&DEF, &[gcm(128), gcm(256)]), Ok(G256));
}

#[test]
fn each_rejection_reason() {
    // Nothing policy allows: AES-192, 3DES, SHA-1; CBC without integrity.
    assert_eq!(pick(&DEF, &[gcm(192), esn(0)]), NO_PROPOSAL);
    assert_eq!(pick(&DEF, &[tr(ENCR, 3, None), integ(2)]), NO_PROPOSAL);
    assert_eq!(pick(&DEF, &[cbc(128), integ(2), esn(0)]), NO_PROPOSAL);
    assert_eq!(pick(&DEF, &[cbc(256), esn(0)]), NO_PROPOSAL);
    assert_eq!(pick(&[], &[gcm(256)]), NO_PROPOSAL);
    // Not ESP; SPI not 4 octets; SPI zero (RFC 4303 §2.1).
    let g = [gcm(256)];
    let ah = ProposalSpec {
        protocol: ProtocolId::AH,
        ..esp(1, &SPI, &g)
    };
    let no = Err(ChildError::NoProposalChosen);
    assert_eq!(choose(&DEF, &[ah]), no);
    assert_eq!(choose(&DEF, &[esp(1, &[1, 2, 3, 4, 5, 6, 7, 8], &g)]), no);
    assert_eq!(choose(&DEF, &[esp(1, &[], &g)]), no);
    assert_eq!(choose(&DEF, &[esp(1, &[0; 4], &g)]), no);
    // AES without Key Length: the whole proposal goes (RFC 7296 §3.3.5),
    // even next to a good AES transform.
    assert_eq!(pick(&DEF, &[tr(ENCR, 20, None), gcm(256)]), NO_PROPOSAL);
    // An unknown transform type rejects its proposal, not the next one.
    let bad = [gcm(256), tr(TransformType(6), 1, None)];
    let got = choose(&DEF, &[esp(1, &SPI, &bad), esp(2, &SPI2, &[gcm(128)])]);
    assert_eq!(got.map(|s| (s.proposal_num, s.suite())), Ok((2, G128)));
}

#[test]
fn unknown_attribute_makes_only_that_transform_unacceptable() {
    let pick_raw = |policy: &[EspProposal], bytes: &[u8]| {
        choose_esp(policy, &SaRepr::parse(bytes).unwrap()).map(|s| s.suite())
    };
    // GCM-256 with Key Length plus an attribute type 99, then GCM-128.
    let with_unknown: RawTransform<'_> = (1, 20, &[(14, 256), (99, 1)]);
    let bytes = raw_esp_sa(&[with_unknown, (1, 20, &[(14, 128)]), (5, 0, &[])]);
    assert_eq!(pick_raw(&DEF, &bytes), Ok(G128));
    let bytes = raw_esp_sa(&[with_unknown, (5, 0, &[])]);
    assert_eq!(pick_raw(&DEF, &bytes), NO_PROPOSAL);
    // The same on emitted bytes with the Key Length attribute type patched.
    let mut bytes = sa_bytes(&[esp(1, &SPI, &[gcm(256), gcm(128)])]);
    assert_eq!(&bytes[20..22], &[0x80, 14]);
    bytes[21] = 99;
    assert_eq!(pick_raw(&DEF, &bytes), Ok(G128));
    // An integrity transform with an unknown attribute is skipped too.
    let bytes = raw_esp_sa(&[(1, 12, &[(14, 256)]), (3, 12, &[(99, 0)]), (3, 13, &[])]);
    assert_eq!(pick_raw(&[C256, C384], &bytes), Ok(C384));
}

#[test]
fn esn_handling() {
    let esn_of = |t: &[TransformRepr]| choose(&[G256], &[esp(1, &SPI, t)]).map(|s| s.esn);
    let no: Result<bool, _> = Err(ChildError::NoProposalChosen);
    assert_eq!(esn_of(&[gcm(256), esn(0)]), Ok(false));
    assert_eq!(esn_of(&[gcm(256)]), Ok(false), "no ESN transform: liberal");
    assert_eq!(esn_of(&[gcm(256), esn(1), esn(0)]), Ok(false));
    assert_eq!(esn_of(&[gcm(256), esn(1)]), no);
    assert_eq!(esn_of(&[gcm(256), esn(7)]), no);
    let bytes = raw_esp_sa(&[(1, 20, &[(14, 256)]), (5, 0, &[(99, 0)])]);
    let sa = SaRepr::parse(&bytes).unwrap();
    assert_eq!(choose_esp(&[G256], &sa), Err(ChildError::NoProposalChosen));
}

#[test]
fn aead_with_integrity_refused() {
    assert_eq!(pick(&[G256], &[gcm(256), integ(12), esn(0)]), NO_PROPOSAL);
    // INTEG NONE is what "no integrity" looks like spelled out.
    assert_eq!(pick(&[G256], &[gcm(256), integ(0), esn(0)]), Ok(G256));
    // A mixed proposal: GCM is unusable next to SHA-256, CBC is taken.
    assert_eq!(
        pick(&DEF, &[gcm(256), cbc(256), integ(12), esn(0)]),
        Ok(C256)
    );
    // A Diffie-Hellman group in IKE_AUTH is disregarded (RFC 7296 §1.2).
    let dh = tr(TransformType::DH, 19, None);
    assert_eq!(pick(&DEF, &[gcm(128), dh, esn(0)]), Ok(G128));
}

// ---------------------------------------------------------------- accept_esp

#[test]
fn initiator_round_trip_through_both_sides() {
    // The initiator offers every default suite, one proposal each; the
    // responder chooses; its SAr2 is built with `esp_transforms` and checked.
    let offers: Vec<_> = DEF.iter().map(esp_transforms).collect();
    let specs: Vec<_> = (offers.iter().enumerate())
        .map(|(i, (t, n))| esp(i as u8 + 1, &SPI, &t[..*n]))
        .collect();
    let chosen = choose(&[C128], &specs).unwrap();
    assert_eq!(chosen.proposal_num, 4);
    let (t, n) = esp_transforms(&chosen.suite());
    let answer = accept(&DEF, &[esp(chosen.proposal_num, &SPI2, &t[..n])]);
    let want = SelectedEsp {
        peer_spi: SPI2,
        ..chosen
    };
    assert_eq!(answer, Ok(want));
}

#[test]
fn accept_esp_refusals() {
    let offered = [G256, C256];
    assert_eq!(take(&offered, &[gcm(256), esn(0)]), Ok(G256));
    assert_eq!(take(&offered, &[cbc(256), integ(12), esn(0)]), Ok(C256));
    // Lenient: ESN left out, INTEG NONE next to an AEAD, DH NONE.
    assert_eq!(take(&offered, &[gcm(256)]), Ok(G256));
    assert_eq!(take(&offered, &[gcm(256), integ(0), esn(0)]), Ok(G256));
    let dh_none = tr(TransformType::DH, 0, None);
    assert_eq!(take(&offered, &[gcm(256), dh_none]), Ok(G256));
    // Two proposals; wrong protocol; wrong SPI size.
    let g = [gcm(256), esn(0)];
    let no = Err(ChildError::NoProposalChosen);
    assert_eq!(accept(&offered, &[esp(1, &SPI, &g), esp(2, &SPI, &g)]), no);
    let ike = ProposalSpec {
        protocol: ProtocolId::IKE,
        ..esp(1, &SPI, &g)
    };
    assert_eq!(accept(&offered, &[ike]), no);
    assert_eq!(accept(&offered, &[esp(1, &[1, 2, 3], &g)]), no);
    // Wrong transforms: two ENCR, none, two INTEG, two ESN, ESN 1, DH 14,
    // PRF, key length missing, unknown INTEG.
    for t in [
        &[gcm(256), gcm(128), esn(0)][..],
        &[integ(12), esn(0)],
        &[cbc(256), integ(12), integ(13), esn(0)],
        &[gcm(256), esn(0), esn(0)],
        &[gcm(256), esn(1)],
        &[gcm(256), tr(TransformType::DH, 14, None)],
        &[gcm(256), tr(TransformType::PRF, 5, None)],
        &[tr(ENCR, 20, None), esn(0)],
        &[cbc(256), integ(99), esn(0)],
    ] {
        assert_eq!(take(&offered, t), NO_PROPOSAL, "{t:?}");
    }
    // An unknown attribute in the answer.
    let bytes = raw_esp_sa(&[(1, 20, &[(14, 256), (99, 1)]), (5, 0, &[])]);
    assert_eq!(accept_esp(&offered, &SaRepr::parse(&bytes).unwrap()), no);
    // Suites never offered: another key size, another integrity, CBC
    // without integrity, AEAD with integrity.
    assert_eq!(take(&offered, &[gcm(128), esn(0)]), NO_PROPOSAL);
    assert_eq!(take(&offered, &[cbc(256), integ(13), esn(0)]), NO_PROPOSAL);
    assert_eq!(take(&offered, &[cbc(256), esn(0)]), NO_PROPOSAL);
    assert_eq!(take(&offered, &[gcm(256), integ(12), esn(0)]), NO_PROPOSAL);
}

// ---------------------------------------------------------------- narrowing

fn r4(a: [u8; 4], z: [u8; 4], proto: u8, ports: (u16, u16)) -> TsRange {
    TsRange {
        ip_proto: proto,
        start_port: ports.0,
        end_port: ports.1,
        start: IpAddr::from(a),
        end: IpAddr::from(z),
    }
}

fn v6(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn ts_bytes(ranges: &[TsRange]) -> Vec<u8> {
    let sels: Vec<TrafficSelector<'static>> = ranges.iter().map(|r| r.selector()).collect();
    let ts = TsRepr::new(&sels);
    let mut buf = vec![0u8; ts.body_len()];
    ts.emit_body(&mut buf).unwrap();
    buf
}

fn narrow_wire(policy: &[TsRange], offered: &[TsRange]) -> Result<Vec<TsRange>, ChildError> {
    let bytes = ts_bytes(offered);
    narrow(policy, &TsRepr::parse(PayloadType::TSI, &bytes).unwrap()).map(|v| v.to_vec())
}

const ALL_PORTS: (u16, u16) = (0, 65535);
const UNACCEPTABLE: Result<Vec<TsRange>, ChildError> = Err(ChildError::TsUnacceptable);

/// IPv4 addresses `a` to `z`, any protocol and port.
fn net4(a: [u8; 4], z: [u8; 4]) -> TsRange {
    r4(a, z, 0, ALL_PORTS)
}

#[test]
fn narrows_to_policy_subset() {
    let everything = net4([0; 4], [255; 4]);
    let lan = net4([10, 1, 0, 0], [10, 1, 255, 255]);
    assert_eq!(narrow_wire(&[lan], &[everything]), Ok(vec![lan]));
    // Already inside policy: unchanged.
    let host = net4([10, 1, 2, 3], [10, 1, 2, 3]);
    assert_eq!(narrow_wire(&[lan], &[host]), Ok(vec![host]));
    // Address and port ranges intersect.
    let offered = r4([10, 0, 255, 0], [10, 1, 0, 9], 6, (1000, 3000));
    let policy = r4([10, 1, 0, 0], [10, 1, 255, 255], 0, (2000, 65535));
    assert_eq!(
        narrow_wire(&[policy], &[offered]),
        Ok(vec![r4([10, 1, 0, 0], [10, 1, 0, 9], 6, (2000, 3000))])
    );
    // Protocol wildcard on either side gives the other; a clash is nothing.
    let udp = r4([10, 1, 0, 0], [10, 1, 0, 255], 17, ALL_PORTS);
    assert_eq!(narrow_wire(&[lan], &[udp]), Ok(vec![udp]));
    assert_eq!(
        narrow_wire(&[udp], &[lan]),
        Ok(vec![r4([10, 1, 0, 0], [10, 1, 0, 255], 17, ALL_PORTS)])
    );
    let tcp = r4([10, 1, 0, 0], [10, 1, 0, 255], 6, ALL_PORTS);
    assert_eq!(narrow_wire(&[udp], &[tcp]), UNACCEPTABLE);
}

#[test]
fn ipv6_and_mixed_families() {
    let any6 = TsRange {
        start: v6("::"),
        end: v6("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
        ..net4([0; 4], [0; 4])
    };
    let net = TsRange {
        start: v6("2001:db8::"),
        end: v6("2001:db8::ffff"),
        ..any6
    };
    let v4_lan = net4([10, 1, 0, 0], [10, 1, 255, 255]);
    let everything4 = net4([0; 4], [255; 4]);
    // Both families offered, both in policy: each narrowed by its own.
    assert_eq!(
        narrow_wire(&[v4_lan, net], &[everything4, any6]),
        Ok(vec![v4_lan, net])
    );
    // Only IPv6 offered, only IPv4 served.
    assert_eq!(narrow_wire(&[v4_lan], &[any6]), UNACCEPTABLE);
}

#[test]
fn disjoint_is_ts_unacceptable() {
    let lan = net4([10, 1, 0, 0], [10, 1, 255, 255]);
    let other = net4([192, 168, 0, 0], [192, 168, 0, 255]);
    assert_eq!(narrow_wire(&[lan], &[other]), UNACCEPTABLE);
    assert_eq!(
        ChildError::TsUnacceptable.notify(),
        NotifyType::TS_UNACCEPTABLE
    );
    // Disjoint ports.
    let web = r4([10, 1, 0, 0], [10, 1, 0, 255], 0, (80, 80));
    let dns = r4([10, 1, 0, 0], [10, 1, 0, 255], 0, (53, 53));
    assert_eq!(narrow_wire(&[web], &[dns]), UNACCEPTABLE);
    // An empty TS payload.
    assert_eq!(narrow_wire(&[lan], &[]), UNACCEPTABLE);
}

#[test]
fn dedup_order_and_cap() {
    let lan = net4([10, 1, 0, 0], [10, 1, 255, 255]);
    let host = |i: u8| net4([10, 1, 0, i], [10, 1, 0, i]);
    // The same selector twice, and two that narrow to the same range.
    let wide = net4([10, 0, 0, 0], [10, 255, 255, 255]);
    assert_eq!(
        narrow_wire(&[lan], &[host(7), host(7), wide, lan]),
        Ok(vec![host(7), lan])
    );
    // The initiator's first selector stays first.
    assert_eq!(narrow_wire(&[lan], &[host(9), wide]).unwrap()[0], host(9));
    // 40 hosts offered: the first MAX_SELECTORS come back, in order.
    let offered: Vec<_> = (1..=40).map(host).collect();
    let got = narrow_wire(&[lan], &offered).unwrap();
    assert_eq!(got.len(), MAX_SELECTORS);
    assert_eq!(got, offered[..MAX_SELECTORS]);
    // Many policy ranges against one wide offer: capped too.
    let policy: Vec<_> = (1..=40).map(host).collect();
    assert_eq!(narrow_wire(&policy, &[wide]).unwrap().len(), MAX_SELECTORS);
}

#[test]
fn narrowing_check_on_answers() {
    let offered = [
        net4([10, 1, 0, 0], [10, 1, 0, 255]),
        r4([10, 2, 0, 0], [10, 2, 0, 255], 6, (80, 443)),
    ];
    let ok = [
        r4([10, 1, 0, 5], [10, 1, 0, 5], 17, (53, 53)),
        r4([10, 2, 0, 0], [10, 2, 0, 9], 6, (443, 443)),
    ];
    assert!(is_narrowing_of(&ok, &offered));
    assert!(is_narrowing_of(&offered, &offered));
    assert!(!is_narrowing_of(&[], &offered));
    // Wider addresses, wider ports, another protocol, another family, or
    // spanning two offered ranges.
    for bad in [
        net4([10, 1, 0, 0], [10, 1, 1, 0]),
        r4([10, 2, 0, 0], [10, 2, 0, 9], 6, (80, 8080)),
        r4([10, 2, 0, 0], [10, 2, 0, 9], 17, (80, 80)),
        r4([10, 2, 0, 0], [10, 2, 0, 9], 0, (80, 80)),
        single_address(v6("2001:db8::1")),
        r4([10, 1, 0, 0], [10, 2, 0, 0], 6, (80, 80)),
    ] {
        assert!(!is_narrowing_of(&[ok[0], bad], &offered), "{bad:?}");
    }
    let a = IpAddr::V4(Ipv4Addr::new(10, 1, 0, 77));
    assert!(is_narrowing_of(&[single_address(a)], &offered));
}

// ---------------------------------------------------------------- pool

const NO_ADDRESS: Result<IpAddr, ChildError> = Err(ChildError::InternalAddressFailure);

#[test]
fn pool_reassigns_wanted_address() {
    let pool = MemoryPool::new(Some((Ipv4Addr::new(10, 8, 0, 10), 5)), None).unwrap();
    let want = IpAddr::from([10, 8, 0, 13]);
    assert_eq!(pool.lease(b"alice", Some(want), false), Ok(want));
    // Already the owner's: given again (a retransmitted request).
    assert_eq!(pool.lease(b"alice", Some(want), false), Ok(want));
    assert_eq!(pool.leased(), 1);
    // Leased to someone else: another address.
    let other = pool.lease(b"bob", Some(want), false).unwrap();
    assert_ne!(other, want);
    // Outside the pool, or of the other family: ignored.
    let outside = IpAddr::from([10, 8, 1, 13]);
    assert_ne!(pool.lease(b"carol", Some(outside), false).unwrap(), outside);
    let wrong_family = v6("2001:db8::13");
    assert!(
        pool.lease(b"dave", Some(wrong_family), false)
            .unwrap()
            .is_ipv4()
    );
    // After release, the old owner's resumption gets it back.
    assert!(pool.release(want, b"alice"));
    assert_eq!(pool.lease(b"alice", Some(want), false), Ok(want));
}

#[test]
fn pool_exhaustion_and_release_rules() {
    let pool = MemoryPool::new(Some((Ipv4Addr::new(10, 8, 0, 1), 3)), None).unwrap();
    let got: HashSet<IpAddr> = (0..3u8)
        .map(|i| pool.lease(&[i], None, false).unwrap())
        .collect();
    assert_eq!(got.len(), 3);
    assert_eq!(pool.lease(b"late", None, false), NO_ADDRESS);
    assert_eq!(ChildError::InternalAddressFailure.notify().0, 36);
    let first = IpAddr::from([10, 8, 0, 1]);
    // Released by the wrong owner, or an address not leased: ignored.
    assert!(!pool.release(first, b"not-the-owner"));
    assert!(!pool.release(IpAddr::from([10, 8, 0, 99]), &[0]));
    assert_eq!(pool.leased(), 3);
    assert!(pool.release(first, &[0]));
    assert_eq!(pool.leased(), 2);
    assert_eq!(pool.lease(b"late", None, false), Ok(first));
    // IPv6 is not served by this pool.
    assert_eq!(pool.lease(b"x", None, true), NO_ADDRESS);
}

#[test]
fn pool_v6() {
    let first = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x100);
    let pool = MemoryPool::new(None, Some((first, 2))).unwrap();
    assert_eq!(pool.lease(b"a", None, true), Ok(IpAddr::V6(first)));
    let want = v6("2001:db8::101");
    assert_eq!(pool.lease(b"b", Some(want), true), Ok(want));
    assert_eq!(pool.lease(b"c", None, true), NO_ADDRESS);
    assert_eq!(pool.lease(b"c", None, false), NO_ADDRESS);
    assert!(pool.release(want, b"b"));
    assert_eq!(pool.lease(b"c", None, true), Ok(want));
}

#[test]
fn pool_bad_config() {
    use PoolConfigError::*;
    let bad = |v4, v6| MemoryPool::new(v4, v6).unwrap_err();
    let (net, top4) = (Ipv4Addr::new(10, 0, 0, 0), Ipv4Addr::new(255, 255, 255, 0));
    let top6 = Ipv6Addr::from(u128::MAX - 9);
    assert_eq!(bad(None, None), NoRange);
    assert_eq!(bad(Some((net, 0)), None), Empty { v6: false });
    assert_eq!(bad(None, Some((top6, 0))), Empty { v6: true });
    assert_eq!(bad(Some((top4, 257)), None), PastAddressSpace { v6: false });
    let e = bad(Some((net, 16)), Some((top6, 11)));
    assert_eq!(e, PastAddressSpace { v6: true });
    assert!(e.to_string().contains("IPv6"), "{e}");
    let e = bad(Some((net, u32::MAX)), None);
    assert!(
        matches!(
            e,
            TooLarge {
                v6: false,
                count: u32::MAX
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("exceeds the maximum"), "{e}");
    assert!(MemoryPool::new(Some((top4, 256)), Some((top6, 10))).is_ok());
}

#[test]
fn pool_shared_between_threads() {
    let pool: Arc<dyn AddressPool> =
        Arc::new(MemoryPool::new(Some((Ipv4Addr::new(10, 0, 0, 0), 1000)), None).unwrap());
    let handles: Vec<_> = (0..4u8)
        .map(|t| {
            let pool = Arc::clone(&pool);
            std::thread::spawn(move || {
                (0..200u16)
                    .map(|i| {
                        let owner = [t, (i >> 8) as u8, i as u8];
                        pool.lease(&owner, None, false).unwrap()
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let all: HashSet<IpAddr> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    assert_eq!(all.len(), 800);
    assert_eq!(pool.leased(), 800);
}

// ---------------------------------------------------------------- property

/// Whether two ranges select some common traffic (independent of `narrow`).
fn overlaps(a: &TsRange, b: &TsRange) -> bool {
    let n = |x: IpAddr| match x {
        IpAddr::V4(v) => (false, u128::from(u32::from(v))),
        IpAddr::V6(v) => (true, u128::from(v)),
    };
    let (af, a0) = n(a.start);
    let (_, a1) = n(a.end);
    let (bf, b0) = n(b.start);
    let (_, b1) = n(b.end);
    af == bf
        && a0.max(b0) <= a1.min(b1)
        && a.start_port.max(b.start_port) <= a.end_port.min(b.end_port)
        && (a.ip_proto == b.ip_proto || a.ip_proto == 0 || b.ip_proto == 0)
}

fn range() -> impl Strategy<Value = TsRange> {
    (
        prop_oneof![Just(0u8), Just(6), Just(17)],
        prop_oneof![Just(0u16), 0..2000u16],
        prop_oneof![Just(65535u16), 0..2000u16],
        any::<bool>(),
        any::<u8>(),
        any::<u8>(),
    )
        .prop_map(|(ip_proto, start_port, end_port, is_v6, a, z)| {
            let at = |n: u8| match is_v6 {
                true => IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, n.into())),
                false => IpAddr::from([10, 0, 0, n]),
            };
            TsRange {
                ip_proto,
                start_port,
                end_port,
                start: at(a),
                end: at(z),
            }
        })
}

proptest! {
    #[test]
    fn narrow_only_narrows(
        policy in proptest::collection::vec(range(), 0..5),
        offered in proptest::collection::vec(range(), 0..25),
    ) {
        let any_overlap = offered.iter().any(|o| policy.iter().any(|p| overlaps(o, p)));
        match narrow_wire(&policy, &offered) {
            Ok(got) => {
                prop_assert!(any_overlap);
                prop_assert!(got.len() <= MAX_SELECTORS);
                prop_assert!(is_narrowing_of(&got, &offered));
                prop_assert!(is_narrowing_of(&got, &policy));
                let distinct: HashSet<_> = got.iter().collect();
                prop_assert_eq!(distinct.len(), got.len());
            }
            Err(e) => {
                prop_assert_eq!(e, ChildError::TsUnacceptable);
                prop_assert!(!any_overlap);
            }
        }
    }
}
