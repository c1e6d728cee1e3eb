//! The full exchange per core on the responder (the slow path's
//! `SlowPathResponder`): IKE_SA_INIT request to response (proposal choice,
//! DH generate and agree, SKEYSEED and keys, answer built) plus the
//! IKE_AUTH (SK decrypted, PSK AUTH verified, child SA, ticket issued,
//! answer protected), for curve25519, P-256 and MODP-2048. The client's
//! work between the two requests is not timed. This is the baseline the
//! resumption is measured against (`responder/resume_and_ike_auth_first_wave`).
//! Figures in docs/PERFORMANCE.md.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rebound_bench::resume::{NOW, addr, ring, seeded, shared};
use rebound_engine::client::{FullConfig, FullInitiator};
use rebound_engine::crypto::{DhGroup, SecretBuf};
use rebound_engine::responder::{PacketMeta, ResponderConfig};
use rebound_engine::slow_path::{
    IkeProposal, Psk, PskTable, SaEvent, SlowPathConfig, SlowPathResponder,
};
use rebound_engine::ticket::state::TicketIdentity;
use rebound_engine::time::Timestamp;
use rebound_engine::wire::IdType;

const PSK: &[u8] = b"the benchmark's pre-shared key, 40 bytes";

fn id(name: &[u8]) -> TicketIdentity {
    TicketIdentity::new(IdType::FQDN, name).expect("identity")
}

fn responder() -> SlowPathResponder {
    let shared = shared(ring());
    let config = SlowPathConfig {
        responder: ResponderConfig {
            half_open_limit: 1 << 22,
            cookie_threshold: 1 << 22,
            ..ResponderConfig::default()
        },
        local_id: id(b"gw.example.net"),
        ..SlowPathConfig::default()
    };
    let psks = PskTable::new([Psk {
        id: id(b"client.example.net"),
        secret: SecretBuf::from_slice(PSK).expect("psk"),
        tickets: true,
    }]);
    SlowPathResponder::new(
        config,
        shared,
        Arc::new(psks),
        Box::new(seeded(0x5eed)),
        Timestamp::from_secs(NOW),
    )
}

/// Time `iters` full exchanges on one responder (the responder's side only).
fn run(config: &Arc<FullConfig>, iters: u64) -> Duration {
    let gateway = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 500);
    let now = Timestamp::from_secs(NOW);
    let mut gw = responder();
    let mut rng = seeded(0xc1);
    let mut req = vec![0u8; 8192];
    let mut out = vec![0u8; 8192];
    let mut total = Duration::ZERO;
    for i in 0..iters as usize {
        let peer = addr(i);
        let meta = PacketMeta {
            peer,
            local: gateway,
        };
        let mut client =
            FullInitiator::new(config.clone(), peer, gateway, &mut rng).expect("client");
        let n = client.poll_transmit(now, &mut req).expect("IKE_SA_INIT");
        let start = Instant::now();
        let answer = gw.handle(now, &meta, &req[..n], &mut out);
        total += start.elapsed();
        let m = answer.reply.expect("IKE_SA_INIT answered");
        client.handle(now, &out[..m], &mut rng);
        let n = client.poll_transmit(now, &mut req).expect("IKE_AUTH");
        let start = Instant::now();
        let answer = gw.handle(now, &meta, &req[..n], &mut out);
        total += start.elapsed();
        // Anything but an established SA would measure something else.
        assert!(matches!(
            answer.events.first(),
            Some(SaEvent::Established(_))
        ));
        black_box(answer.reply);
    }
    total
}

fn full_bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("full_exchange");
    g.throughput(Throughput::Elements(1));
    for (name, proposal, group) in [
        (
            "curve25519",
            "aes256gcm16-prfsha256-curve25519",
            DhGroup::Curve25519,
        ),
        ("ecp256", "aes256gcm16-prfsha256-ecp256", DhGroup::Ecp256),
        ("modp2048", "aes128-sha256-modp2048", DhGroup::Modp2048),
    ] {
        let mut config = FullConfig::new(
            id(b"client.example.net"),
            SecretBuf::from_slice(PSK).expect("psk"),
        );
        config.ike = vec![IkeProposal::parse(proposal).expect("proposal")];
        config.group = group;
        config.id_r = Some(id(b"gw.example.net"));
        let config = Arc::new(config);
        g.bench_function(name, |b| b.iter_custom(|iters| run(&config, iters)));
    }
    g.finish();
}

criterion_group!(benches, full_bench);
criterion_main!(benches);
