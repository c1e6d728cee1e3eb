//! An SA written into a recycled box (`ResumeResponder::recycle`) is the
//! SA a fresh box would hold: nothing of the box's earlier SA (keys,
//! child SA, ticket, identities, nonces) survives. Two responders with
//! the same seed take the same datagrams; one of them first gets the
//! boxes of other, real SAs back.

use rebound_bench::resume::{NOW, RECORD_BURST, fixture, responder};
use rebound_engine::crypto::{IkeKeys, SecretBuf};
use rebound_engine::handoff::EstablishedSa;
use rebound_engine::responder::{PacketMeta, ResumeResponder};
use rebound_engine::time::Timestamp;

fn keys_eq(a: &IkeKeys, b: &IkeKeys) -> bool {
    let pairs: [(&SecretBuf, &SecretBuf); 7] = [
        (&a.sk_d, &b.sk_d),
        (&a.sk_ai, &b.sk_ai),
        (&a.sk_ar, &b.sk_ar),
        (&a.sk_ei, &b.sk_ei),
        (&a.sk_er, &b.sk_er),
        (&a.sk_pi, &b.sk_pi),
        (&a.sk_pr, &b.sk_pr),
    ];
    pairs.iter().all(|(x, y)| x.ct_eq(y))
}

fn same(a: &EstablishedSa, b: &EstablishedSa) {
    assert_eq!((a.spi_i, a.spi_r), (b.spi_i, b.spi_r));
    assert_eq!((a.peer, a.local, a.nat), (b.peer, b.local, b.nat));
    assert_eq!((&a.ni[..], &a.nr[..]), (&b.ni[..], &b.nr[..]));
    assert_eq!(
        format!("{:?}", (a.id_i, a.id_r)),
        format!("{:?}", (b.id_i, b.id_r))
    );
    assert_eq!(
        (a.suite, a.dh_group, a.origin),
        (b.suite, b.dh_group, b.origin)
    );
    assert_eq!(
        (a.internal_addr, a.new_ticket),
        (b.internal_addr, b.new_ticket)
    );
    assert_eq!(a.initial_contact, b.initial_contact);
    assert!(keys_eq(&a.keys, &b.keys), "IKE keys");
    match (&a.child, &b.child) {
        (Some(x), Some(y)) => {
            assert_eq!((x.spi_i, x.spi_r), (y.spi_i, y.spi_r));
            assert_eq!((&x.ts_i[..], &x.ts_r[..]), (&y.ts_i[..], &y.ts_r[..]));
            assert!(x.keys.encr_i2r.ct_eq(&y.keys.encr_i2r), "child keys");
            assert!(x.keys.encr_r2i.ct_eq(&y.keys.encr_r2i), "child keys");
            assert!(x.keys.integ_i2r.ct_eq(&y.keys.integ_i2r), "child keys");
            assert!(x.keys.integ_r2i.ct_eq(&y.keys.integ_r2i), "child keys");
        }
        (None, None) => {}
        _ => panic!("child SA in one and not the other"),
    }
}

/// Both exchanges of `clients` through `gw`, burst by burst as recorded
/// (boxed as handed off: the boxes are what is recycled).
#[allow(clippy::vec_box)]
fn run(
    gw: &mut ResumeResponder,
    f: &rebound_bench::resume::ResumeFixture,
    clients: std::ops::Range<usize>,
) -> Vec<Box<EstablishedSa>> {
    let now = Timestamp::from_secs(NOW);
    let mut out = vec![0u8; 4096];
    let mut sas = Vec::new();
    for chunk in f.clients[clients].chunks(RECORD_BURST) {
        for (peer, req, _) in chunk {
            let meta = PacketMeta {
                peer: *peer,
                local: f.gateway,
            };
            assert!(gw.handle(now, &meta, req, &mut out).reply.is_some());
        }
        for (peer, _, auth) in chunk {
            let meta = PacketMeta {
                peer: *peer,
                local: f.gateway,
            };
            let sa = gw.handle(now, &meta, auth, &mut out).established;
            sas.push(sa.expect("resumed"));
        }
    }
    sas
}

#[test]
fn an_sa_in_a_recycled_box_equals_one_in_a_new_box() {
    let f = fixture(2 * RECORD_BURST);
    // Real SAs of other exchanges (the second burst's clients, keys,
    // children and tickets of their own), handed back as spare boxes.
    let mut other = responder(&f);
    let _first = run(&mut other, &f, 0..RECORD_BURST);
    let spares = run(&mut other, &f, RECORD_BURST..2 * RECORD_BURST);
    assert!(spares.iter().all(|sa| sa.child.is_some()));

    let mut fresh = responder(&f);
    let mut reused = responder(&f);
    let addrs: Vec<usize> = spares
        .iter()
        .map(|b| &**b as *const EstablishedSa as usize)
        .collect();
    for sa in spares {
        reused.recycle(sa);
    }
    let want = run(&mut fresh, &f, 0..RECORD_BURST);
    let got = run(&mut reused, &f, 0..RECORD_BURST);
    assert_eq!(want.len(), RECORD_BURST);
    for (a, b) in want.iter().zip(&got) {
        same(a, b);
        // The SA really is in one of the recycled boxes.
        assert!(addrs.contains(&(&**b as *const EstablishedSa as usize)));
    }
}
