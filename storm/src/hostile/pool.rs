//! The precomputed hostile datagrams ([`HostilePool`]): built once before
//! phase 3 by real initiators (the engine's `ResumeInitiator` and
//! `FullInitiator`) around forged, replayed, stolen and valid tickets, so a
//! sender only copies one and patches its SPIi.

use std::net::SocketAddr;
use std::sync::Arc;

use rebound_dataplane::runtime::BufferedOsRng;
use rebound_engine::client::{
    ClientTicket, FullConfig, FullInitiator, InitiatorConfig, ResumeInitiator,
};
use rebound_engine::rand::RandomSource as _;
use rebound_engine::ticket::keyring::TicketKeyRing;
use rebound_engine::time::Timestamp;

use super::mix::{HostileKind, HostileMix, KINDS};
use crate::StormError;
use crate::mint::mint_ticket;
use crate::rng::StormRng;

/// Requests precomputed per kind (each sent many times, with a fresh SPIi
/// each time).
const POOL: usize = 1024;
/// IKE_SA_INIT requests precomputed (each a key-exchange key pair).
const INIT_POOL: usize = 64;
/// Tickets behind `wrong_auth` (each carries at most
/// `responder.half_open_per_ticket` attempts at once).
const WRONG_AUTH_TICKETS: usize = 1024;

/// What the pool is made from.
pub struct PoolInputs<'a> {
    pub mix: &'a HostileMix,
    /// The gateway's key ring: mints the stolen, half-open, wrong-AUTH and
    /// truncated kinds' tickets. Without it only kinds needing no valid
    /// ticket can be built.
    pub ring: Option<&'a TicketKeyRing>,
    pub now: Timestamp,
    pub config: Arc<InitiatorConfig>,
    /// `init`: the full exchange's configuration (IKE proposals, KE group).
    pub full: FullConfig,
    /// A hostile source address (the requests' NAT-D hashes; the gateway
    /// only records what they say).
    pub local: SocketAddr,
    pub target: SocketAddr,
    /// The client number of the first hostile ticket (after the storm's
    /// own clients, so every identity differs).
    pub first_id: usize,
    /// Valid tickets behind `halfopen`.
    pub halfopen_tickets: usize,
    /// Tickets that resumed an SA already (`replayed`).
    pub replay: &'a [ClientTicket],
    /// Tickets the gateway revoked (`revoked`).
    pub revoked: &'a [ClientTicket],
    pub seed: u64,
}

/// The precomputed datagrams.
pub struct HostilePool {
    /// Per kind (indexed by [`HostileKind`]); `wrong_auth`'s is empty.
    pub datagrams: [Vec<Vec<u8>>; KINDS],
    /// `wrong_auth`: the tickets its exchanges start from.
    pub wrong_auth: Vec<ClientTicket>,
    /// What `wrong_auth`'s initiators offer.
    pub config: Arc<InitiatorConfig>,
}

impl HostilePool {
    pub fn len(&self, k: HostileKind) -> usize {
        if k == HostileKind::WrongAuth {
            self.wrong_auth.len()
        } else {
            self.datagrams[k as usize].len()
        }
    }

    /// Builds every kind of the mix.
    pub fn build(i: &PoolInputs<'_>) -> Result<HostilePool, StormError> {
        let mut os = BufferedOsRng::try_new().map_err(|_| StormError::Random)?;
        let mut rng = StormRng::new(i.seed, 0x4057_11e0);
        let mut pool = HostilePool {
            datagrams: Default::default(),
            wrong_auth: Vec::new(),
            config: i.config.clone(),
        };
        let mut next_id = i.first_id;
        let mut mint = |os: &mut BufferedOsRng| -> Result<ClientTicket, StormError> {
            let ring = i.ring.ok_or_else(|| {
                StormError::Config(
                    "--hostile: kinds with valid tickets (stolen, halfopen, wrong_auth, \
                     replayed, truncated) need the gateway's key ring: give --key-file"
                        .into(),
                )
            })?;
            next_id += 1;
            mint_ticket(next_id - 1, ring, i.now.secs(), os)
        };
        for k in i.mix.kinds() {
            let d = &mut pool.datagrams[k as usize];
            match k {
                HostileKind::Forged => {
                    // Half random tickets, half a real one with a bit flipped.
                    let real = match i.ring {
                        Some(_) => Some(mint(&mut os)?),
                        None => None,
                    };
                    for n in 0..POOL {
                        let mut t = match &real {
                            Some(r) => r.clone(),
                            None => forged_shell(&mut rng),
                        };
                        if n % 2 == 0 || real.is_none() {
                            t.opaque = vec![0; rng.between(40, 200)];
                            rng.fill(&mut t.opaque);
                        } else {
                            let bit = rng.below(t.opaque.len() * 8);
                            t.opaque[bit / 8] ^= 1 << (bit % 8);
                        }
                        d.push(resume_request(i, t, &mut os)?);
                    }
                }
                HostileKind::Replayed => {
                    if i.replay.is_empty() {
                        return Err(StormError::Config(
                            "--hostile replayed: no ticket resumed before phase 3 to replay".into(),
                        ));
                    }
                    for n in 0..POOL.max(i.replay.len()) {
                        let t = i.replay[n % i.replay.len()].clone();
                        d.push(resume_request(i, t, &mut os)?);
                    }
                }
                HostileKind::Revoked => {
                    if i.revoked.is_empty() {
                        return Err(StormError::Config(
                            "--hostile revoked: no revoked ticket to present".into(),
                        ));
                    }
                    for n in 0..POOL.max(i.revoked.len()) {
                        let t = i.revoked[n % i.revoked.len()].clone();
                        d.push(resume_request(i, t, &mut os)?);
                    }
                }
                HostileKind::Random => {
                    for _ in 0..POOL {
                        let mut b = vec![0; rng.between(1, 600)];
                        rng.fill(&mut b);
                        d.push(b);
                    }
                }
                HostileKind::Truncated => {
                    let t = mint(&mut os)?;
                    for _ in 0..POOL {
                        let mut b = resume_request(i, t.clone(), &mut os)?;
                        b.truncate(rng.between(1, b.len() - 1));
                        d.push(b);
                    }
                }
                HostileKind::Stolen => {
                    let t = mint(&mut os)?;
                    for _ in 0..POOL {
                        d.push(resume_request(i, t.clone(), &mut os)?);
                    }
                }
                HostileKind::Halfopen => {
                    for _ in 0..i.halfopen_tickets.max(1) {
                        let t = mint(&mut os)?;
                        d.push(resume_request(i, t, &mut os)?);
                    }
                }
                HostileKind::WrongAuth => {
                    for _ in 0..WRONG_AUTH_TICKETS {
                        pool.wrong_auth.push(mint(&mut os)?);
                    }
                }
                HostileKind::Init => {
                    let config = Arc::new(i.full.clone());
                    let mut out = vec![0u8; 4096];
                    for _ in 0..INIT_POOL {
                        let mut fill = |b: &mut [u8]| os.fill(b);
                        let mut init =
                            FullInitiator::new(config.clone(), i.local, i.target, &mut fill)
                                .map_err(|e| {
                                    StormError::Config(format!(
                                        "--hostile init: no IKE_SA_INIT: {}",
                                        e.counter_label()
                                    ))
                                })?;
                        let n = init.poll_transmit(i.now, &mut out).ok_or_else(|| {
                            StormError::Config("--hostile init: no IKE_SA_INIT to send".into())
                        })?;
                        d.push(out[..n].to_vec());
                    }
                }
            }
        }
        Ok(pool)
    }
}

/// A ticket-shaped value with nothing valid in it (forged tickets without
/// a key ring: the separate gateway's key is not known).
fn forged_shell(rng: &mut StormRng) -> ClientTicket {
    use rebound_engine::crypto::SecretBuf;
    use rebound_engine::crypto::{Encr, IkeSuite, PrfAlg};
    use rebound_engine::ticket::TicketId;
    use rebound_engine::ticket::state::{TicketIdentity, TicketState, TicketSuite};
    use rebound_engine::wire::{AuthMethod, IdType};
    let id = TicketIdentity::new(IdType::FQDN, b"forged.storm.rebound").expect("a short identity");
    let mut sk = [0u8; 32];
    rng.fill(&mut sk);
    ClientTicket {
        opaque: Vec::new(),
        state: TicketState {
            ticket_id: TicketId([0; 16]),
            id_i: id,
            id_r: id,
            peer_identity: None,
            auth_method: AuthMethod::SHARED_KEY_MIC,
            suite: TicketSuite {
                suite: IkeSuite::new(Encr::AES_GCM_256, PrfAlg::HmacSha256, None)
                    .expect("AES-GCM-256 with HMAC-SHA-256 is a suite"),
                dh_group: 31,
            },
            sk_d: SecretBuf::from_slice(&sk).expect("32 bytes fit"),
            old_spi_i: [1; 8],
            old_spi_r: [2; 8],
            internal_addr: None,
            issued_at: 0,
            expiry: u64::MAX,
            reauth_deadline: u64::MAX,
        },
        expires_at: u64::MAX,
    }
}

/// The IKE_SESSION_RESUME request a real initiator makes with `t`.
fn resume_request(
    i: &PoolInputs<'_>,
    t: ClientTicket,
    os: &mut BufferedOsRng,
) -> Result<Vec<u8>, StormError> {
    let mut fill = |b: &mut [u8]| os.fill(b);
    let mut init = ResumeInitiator::new(i.config.clone(), t, i.local, i.target, i.now, &mut fill)
        .map_err(|e| {
        StormError::Config(format!(
            "--hostile: no request from a ticket: {}",
            e.counter_label()
        ))
    })?;
    let mut out = vec![0u8; 4096];
    let n = init
        .poll_transmit(i.now, &mut out)
        .ok_or_else(|| StormError::Config("--hostile: a request did not fit".into()))?;
    out.truncate(n);
    Ok(out)
}
