//! Inputs for the responder benchmarks: `n` clients' IKE_SESSION_RESUME
//! requests and the IKE_AUTH requests that follow them, recorded once
//! against a responder whose randomness is seeded, so a fresh responder
//! with the same seed, fed the same datagrams in the same order, answers
//! exactly as recorded (same SPIr, same Nr) and accepts every IKE_AUTH.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use rebound_engine::client::{ClientTicket, InitiatorConfig, ResumeInitiator};
use rebound_engine::crypto::{Encr, IkeSuite, PrfAlg, SecretBuf};
use rebound_engine::responder::{
    BurstItem, PacketMeta, ResponderConfig, ResponderShared, ResumeResponder,
};
use rebound_engine::ticket::TicketId;
use rebound_engine::ticket::format::{MAX_VALUE_TICKET_LEN, TicketKind, seal};
use rebound_engine::ticket::guard::{GuardConfig, MemoryGuard};
use rebound_engine::ticket::keyring::{KeyRingCell, KeyWindow, TicketKey, TicketKeyRing};
use rebound_engine::ticket::state::{TicketIdentity, TicketState, TicketSuite};
use rebound_engine::time::Timestamp;
use rebound_engine::wire::{AuthMethod, IdType};

/// The fixture's clock.
pub const NOW: u64 = 1_800_000_000;

/// The fixture's exchanges are recorded in bursts of this many clients:
/// the requests, then their IKE_AUTHs.
pub const RECORD_BURST: usize = 32;

/// A deterministic `RandomSource` (SplitMix64).
pub fn seeded(seed: u64) -> impl FnMut(&mut [u8]) + Send + 'static {
    let mut s = seed;
    move |out: &mut [u8]| {
        for chunk in out.chunks_mut(8) {
            s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = s;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            chunk.copy_from_slice(&z.to_be_bytes()[..chunk.len()]);
        }
    }
}

const SEED: u64 = 0x0bad_5eed;

/// Recorded datagrams for `n` resumptions.
pub struct ResumeFixture {
    pub ring: TicketKeyRing,
    pub gateway: SocketAddr,
    /// Per client: its address, its IKE_SESSION_RESUME request and its
    /// IKE_AUTH request.
    pub clients: Vec<Client>,
}

/// A recorded client: its address, its IKE_SESSION_RESUME request and its
/// IKE_AUTH request.
pub type Client = (SocketAddr, Vec<u8>, Vec<u8>);

/// Which of a client's two recorded datagrams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exchange {
    Resume,
    Auth,
}

impl ResumeFixture {
    /// A burst as a worker hands it to a stage: `chunk`'s datagrams of
    /// `exchange`, each answer going into the next of `outs`.
    pub fn items<'a>(
        &self,
        chunk: &'a [Client],
        exchange: Exchange,
        outs: &'a mut [Vec<u8>],
    ) -> Vec<BurstItem<'a>> {
        chunk
            .iter()
            .zip(outs.iter_mut())
            .map(|((peer, req, auth), out)| {
                let meta = PacketMeta {
                    peer: *peer,
                    local: self.gateway,
                };
                let datagram = match exchange {
                    Exchange::Resume => req,
                    Exchange::Auth => auth,
                };
                BurstItem::new(meta, datagram, out)
            })
            .collect()
    }
}

/// One ticket key, issuing around [`NOW`].
pub fn ring() -> TicketKeyRing {
    let key = TicketKey::new(
        [1; 8],
        [0x11; 32],
        KeyWindow {
            issue_from: NOW - 3600,
            issue_until: NOW + 6 * 3600,
            accept_until: NOW + 18 * 3600,
        },
    )
    .expect("valid key");
    TicketKeyRing::new(vec![key]).expect("valid ring")
}

/// What a benchmark's responders share: `ring`, a fresh single-use guard,
/// no pool.
pub fn shared(ring: TicketKeyRing) -> ResponderShared {
    let guard = GuardConfig {
        claims_per_generation: 1 << 20,
        false_positive_rate: 1e-4,
        window_secs: 8 * 3600,
        max_ticket_lifetime_secs: 24 * 3600,
        shards: 16,
    };
    ResponderShared {
        keys: Arc::new(KeyRingCell::new(ring)),
        guard: Arc::new(MemoryGuard::new(guard, [3; 16]).expect("guard")),
        revocations: None,
        store: None,
        pool: None,
    }
}

/// A fresh responder (fresh single-use guard) in the fixture's state.
pub fn responder(f: &ResumeFixture) -> ResumeResponder {
    let config = ResponderConfig {
        half_open_limit: 1 << 22,
        cookie_threshold: 1 << 22,
        ..ResponderConfig::default()
    };
    responder_with(config, shared(f.ring.clone()))
}

/// A fresh responder with `config` and `shared` (which must hold the
/// fixture's ring), drawing the fixture's randomness: fed the recorded
/// datagrams in order, it answers as recorded as long as `config` admits
/// them (no cookies, room in the half-open table). The fuzz targets use it
/// with a small table and guard, built per input.
pub fn responder_with(config: ResponderConfig, shared: ResponderShared) -> ResumeResponder {
    ResumeResponder::new(
        config,
        shared,
        Box::new(seeded(SEED)),
        Timestamp::from_secs(NOW),
    )
}

/// The ticket state of client `i`: AES-256-GCM, PRF-HMAC-SHA256.
fn state(i: usize) -> TicketState {
    let suite = IkeSuite::new(Encr::AES_GCM_256, PrfAlg::HmacSha256, None).expect("suite");
    let idi = format!("client-{i}.example.net");
    TicketState {
        ticket_id: TicketId([0; 16]),
        id_i: TicketIdentity::new(IdType::FQDN, idi.as_bytes()).expect("id"),
        id_r: TicketIdentity::new(IdType::FQDN, b"gw.example.net").expect("id"),
        peer_identity: None,
        auth_method: AuthMethod::SHARED_KEY_MIC,
        suite: TicketSuite {
            suite,
            dh_group: 31,
        },
        sk_d: SecretBuf::from_slice(&[(i % 251) as u8; 32]).expect("sk_d"),
        old_spi_i: (i as u64 + 1).to_be_bytes(),
        old_spi_r: (i as u64 + 7).to_be_bytes(),
        internal_addr: None,
        issued_at: NOW - 3600,
        expiry: NOW + 6 * 3600,
        reauth_deadline: NOW + 20 * 3600,
    }
}

/// Client `i`'s address: distinct per client.
pub fn addr(i: usize) -> SocketAddr {
    let [a, b, c, d] = (0x0a00_0000u32 + i as u32).to_be_bytes();
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(a, b, c, d)), 500)
}

/// Record `n` complete resumptions (tickets by value, a child SA, a new
/// ticket requested). Panics if any fails: the benchmark would then
/// measure something else.
pub fn fixture(n: usize) -> ResumeFixture {
    let mut f = ResumeFixture {
        ring: ring(),
        gateway: SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 500),
        clients: Vec::with_capacity(n),
    };
    let mut gw = responder(&f);
    let now = Timestamp::from_secs(NOW);
    let config = Arc::new(InitiatorConfig::default());
    let mut rng = seeded(7);
    let mut buf = vec![0u8; 4096];
    let mut out = vec![0u8; 4096];
    // Recorded a burst at a time, as the gateway's workers run them: the
    // requests of a burst, then their IKE_AUTHs. A responder replaying the
    // datagrams in that order (one by one or in bursts of `RECORD_BURST`)
    // draws the same randomness and accepts every IKE_AUTH.
    let mut pending = Vec::with_capacity(RECORD_BURST);
    for start in (0..n).step_by(RECORD_BURST) {
        for i in start..(start + RECORD_BURST).min(n) {
            let mut st = state(i);
            let mut t = vec![0u8; MAX_VALUE_TICKET_LEN];
            let len = seal(
                TicketKind::ByValue,
                &mut st,
                &f.ring,
                None,
                &mut rng,
                NOW,
                &mut t,
            )
            .expect("seal");
            t.truncate(len);
            let ticket = ClientTicket {
                opaque: t,
                expires_at: st.expiry,
                state: st,
            };
            let peer = addr(i);
            let mut c =
                ResumeInitiator::new(config.clone(), ticket, peer, f.gateway, now, &mut rng)
                    .expect("initiator");
            let meta = PacketMeta {
                peer,
                local: f.gateway,
            };
            let q = c.poll_transmit(now, &mut buf).expect("request");
            let req = buf[..q].to_vec();
            let r = gw.handle(now, &meta, &req, &mut out).reply.expect("answer");
            c.handle(now, &out[..r], &mut rng);
            pending.push((c, meta, req));
        }
        for (mut c, meta, req) in pending.drain(..) {
            let q = c.poll_transmit(now, &mut buf).expect("IKE_AUTH");
            let auth = buf[..q].to_vec();
            let h = gw.handle(now, &meta, &auth, &mut out);
            assert!(
                h.established.is_some(),
                "client {} resumed",
                f.clients.len()
            );
            f.clients.push((meta.peer, req, auth));
        }
    }
    f
}
