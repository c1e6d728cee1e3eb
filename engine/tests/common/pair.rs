//! A deterministic in-memory harness for resumption, in the style of
//! quinn-proto's `Pair`: one gateway responder, any number of resumption
//! initiators, a virtual clock, a fault injector on the "wire", and a
//! capture of every datagram for pcap checks.

#![allow(dead_code)]

#[path = "splitmix.rs"]
pub mod splitmix;

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use rebound_engine::child::{AddressPool, MemoryPool};
use rebound_engine::client::{ClientTicket, InitiatorConfig, InitiatorEvent, ResumeInitiator};
use rebound_engine::crypto::{Encr, IkeSuite, PrfAlg, SecretBuf};
use rebound_engine::handoff::EstablishedSa;
use rebound_engine::responder::{
    Counter, PacketMeta, ResponderConfig, ResponderShared, ResumeResponder,
};
use rebound_engine::ticket::TicketId;
use rebound_engine::ticket::format::{MAX_VALUE_TICKET_LEN, TicketKind, seal};
use rebound_engine::ticket::guard::{GuardConfig, MemoryGuard};
use rebound_engine::ticket::keyring::{KeyRingCell, KeyWindow, TicketKey, TicketKeyRing};
use rebound_engine::ticket::revocation::RevocationList;
use rebound_engine::ticket::state::{TicketIdentity, TicketState, TicketSuite};
use rebound_engine::ticket::store::MemoryTicketStore;
use rebound_engine::time::Timestamp;
use rebound_engine::wire::{AuthMethod, IdType};

/// The virtual clock starts here (2027-01-15).
pub const T0: u64 = 1_800_000_000;
pub const HOUR: u64 = 3600;

/// SplitMix64 as a `RandomSource`: deterministic per seed.
pub fn rng(seed: u64) -> impl FnMut(&mut [u8]) + Send + 'static {
    let mut g = splitmix::SplitMix(seed);
    move |out: &mut [u8]| g.fill(out)
}

/// A key issuing from an hour before T0 for 6 hours, accepted for 18.
pub fn ring_with(id: u8, secret: u8) -> TicketKeyRing {
    let key = TicketKey::new(
        [id; 8],
        [secret; 32],
        KeyWindow {
            issue_from: T0 - HOUR,
            issue_until: T0 + 6 * HOUR,
            accept_until: T0 + 18 * HOUR,
        },
    )
    .expect("valid key");
    TicketKeyRing::new(vec![key]).expect("valid ring")
}

pub fn gcm256_sha256() -> IkeSuite {
    IkeSuite::new(Encr::AES_GCM_256, PrfAlg::HmacSha256, None).unwrap()
}

/// The state a full exchange (the slow path) would have left for client
/// `n`: FQDN identities, the old SA's SK_d and SPIs.
pub fn client_state(n: u8, suite: IkeSuite) -> TicketState {
    let idi = format!("client-{n}.example.net");
    let sk_d: Vec<u8> = (0..suite.prf().output_len())
        .map(|i| (i as u8).wrapping_mul(7) ^ n)
        .collect();
    TicketState {
        ticket_id: TicketId([0; 16]),
        id_i: TicketIdentity::new(IdType::FQDN, idi.as_bytes()).unwrap(),
        id_r: TicketIdentity::new(IdType::FQDN, b"gw.example.net").unwrap(),
        peer_identity: None,
        auth_method: AuthMethod::SHARED_KEY_MIC,
        suite: TicketSuite {
            suite,
            dh_group: 31,
        },
        sk_d: SecretBuf::from_slice(&sk_d).unwrap(),
        old_spi_i: [0xa0, n, 1, 2, 3, 4, 5, 6],
        old_spi_r: [0x00, n, 9, 8, 7, 6, 5, 4],
        internal_addr: None,
        issued_at: T0 - HOUR,
        expiry: T0 + 6 * HOUR,
        reauth_deadline: T0 + 20 * HOUR,
    }
}

/// Everything a gateway's responders share, plus one responder.
pub struct Gateway {
    pub responder: ResumeResponder,
    pub cell: Arc<KeyRingCell>,
    pub guard: Arc<MemoryGuard>,
    pub revocations: Arc<RevocationList>,
    pub store: Arc<MemoryTicketStore>,
    pub pool: Option<Arc<MemoryPool>>,
    pub addr: SocketAddr,
    pub seed: u64,
}

pub fn small_guard() -> Arc<MemoryGuard> {
    let cfg = GuardConfig {
        claims_per_generation: 10_000,
        false_positive_rate: 1e-6,
        window_secs: 8 * HOUR,
        max_ticket_lifetime_secs: 24 * HOUR,
        shards: 4,
    };
    Arc::new(MemoryGuard::new(cfg, [7; 16]).unwrap())
}

impl Gateway {
    pub fn new(config: ResponderConfig) -> Self {
        Self::with(config, None, small_guard(), ring_with(1, 0x11))
    }

    pub fn with_pool(config: ResponderConfig, pool: MemoryPool) -> Self {
        Self::with(
            config,
            Some(Arc::new(pool)),
            small_guard(),
            ring_with(1, 0x11),
        )
    }

    pub fn with(
        config: ResponderConfig,
        pool: Option<Arc<MemoryPool>>,
        guard: Arc<MemoryGuard>,
        ring: TicketKeyRing,
    ) -> Self {
        let cell = Arc::new(KeyRingCell::new(ring));
        let revocations = Arc::new(RevocationList::new(1000));
        let store = Arc::new(MemoryTicketStore::new(10_000, 4));
        let seed = 0x5eed_0000 + u64::from(config.worker_id);
        let shared = ResponderShared {
            keys: cell.clone(),
            guard: guard.clone(),
            revocations: Some(revocations.clone()),
            store: Some(store.clone()),
            pool: pool.clone().map(|p| p as Arc<dyn AddressPool>),
        };
        let responder = ResumeResponder::new(
            config,
            shared,
            Box::new(rng(seed)),
            Timestamp::from_secs(T0),
        );
        Gateway {
            responder,
            cell,
            guard,
            revocations,
            store,
            pool,
            addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 500),
            seed,
        }
    }

    /// A ticket for `state` as the slow path would issue it, and the
    /// client's copy of it.
    pub fn mint(&self, kind: TicketKind, mut state: TicketState, now: u64) -> ClientTicket {
        let mut out = vec![0u8; MAX_VALUE_TICKET_LEN];
        let mut r = rng(now ^ u64::from(state.old_spi_i[1]));
        let ring = self.cell.load();
        let n = seal(
            kind,
            &mut state,
            &ring,
            Some(&*self.store as &dyn rebound_engine::ticket::store::TicketStore),
            &mut r,
            now,
            &mut out,
        )
        .expect("seal");
        out.truncate(n);
        ClientTicket {
            opaque: out,
            expires_at: state.expiry,
            state,
        }
    }

    /// The usual test ticket: by value, client `n`'s state with
    /// AES-256-GCM + PRF-HMAC-SHA256, issued at T0.
    pub fn ticket(&self, n: u8) -> ClientTicket {
        self.mint(TicketKind::ByValue, client_state(n, gcm256_sha256()), T0)
    }

    pub fn count(&self, c: Counter) -> u64 {
        self.responder.counters().get(c)
    }
}

/// Which way a datagram goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    ToGateway,
    ToClient,
}

/// What the wire does with a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    Deliver,
    Drop,
    Duplicate,
}

/// One datagram as it went over the wire (before the fault injector).
#[derive(Debug, Clone)]
pub struct Captured {
    pub dir: Dir,
    pub client: usize,
    pub at: Timestamp,
    pub bytes: Vec<u8>,
}

pub struct Client {
    pub init: ResumeInitiator,
    /// The client's own address.
    pub addr: SocketAddr,
    /// Its address as the gateway sees it (differs behind a NAT).
    pub seen_as: SocketAddr,
    pub events: Vec<InitiatorEvent>,
    rng: BoxedRng,
}

type FaultFn = Box<dyn FnMut(Dir, usize, &[u8]) -> Fate>;
type BoxedRng = Box<dyn FnMut(&mut [u8]) + Send>;

pub struct Pair {
    pub now: Timestamp,
    pub gw: Gateway,
    pub clients: Vec<Client>,
    pub established: Vec<EstablishedSa>,
    pub capture: Vec<Captured>,
    /// Called for every datagram with its direction and a running index
    /// per direction.
    pub faults: FaultFn,
    to_gw: VecDeque<(usize, Vec<u8>)>,
    to_client: VecDeque<(usize, Vec<u8>)>,
    sent: [usize; 2],
}

pub fn client_addr(i: usize) -> SocketAddr {
    SocketAddr::new(
        IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1 + (i % 250) as u8)),
        500,
    )
}

impl Pair {
    pub fn new(gw: Gateway) -> Self {
        Pair {
            now: Timestamp::from_secs(T0),
            gw,
            clients: Vec::new(),
            established: Vec::new(),
            capture: Vec::new(),
            faults: Box::new(|_, _, _| Fate::Deliver),
            to_gw: VecDeque::new(),
            to_client: VecDeque::new(),
            sent: [0, 0],
        }
    }

    /// Start a client resuming with `ticket`; returns its index, or the
    /// initiator's refusal.
    pub fn connect(
        &mut self,
        config: InitiatorConfig,
        ticket: ClientTicket,
    ) -> Result<usize, rebound_engine::client::Fallback> {
        let i = self.clients.len();
        let addr = client_addr(i);
        self.connect_from(config, ticket, addr, addr)
    }

    pub fn connect_from(
        &mut self,
        config: InitiatorConfig,
        ticket: ClientTicket,
        addr: SocketAddr,
        seen_as: SocketAddr,
    ) -> Result<usize, rebound_engine::client::Fallback> {
        let i = self.clients.len();
        let mut r = rng(0xc11e_0000 + i as u64 + self.now.millis());
        let init = ResumeInitiator::new(
            Arc::new(config),
            ticket,
            addr,
            self.gw.addr,
            self.now,
            &mut r,
        )?;
        self.clients.push(Client {
            init,
            addr,
            seen_as,
            events: Vec::new(),
            rng: Box::new(r),
        });
        Ok(i)
    }

    fn send(&mut self, dir: Dir, client: usize, bytes: Vec<u8>) {
        self.capture.push(Captured {
            dir,
            client,
            at: self.now,
            bytes: bytes.clone(),
        });
        let k = dir as usize;
        let index = self.sent[k];
        self.sent[k] += 1;
        let fate = (self.faults)(dir, index, &bytes);
        let q = match dir {
            Dir::ToGateway => &mut self.to_gw,
            Dir::ToClient => &mut self.to_client,
        };
        match fate {
            Fate::Deliver => q.push_back((client, bytes)),
            Fate::Drop => {}
            Fate::Duplicate => {
                q.push_back((client, bytes.clone()));
                q.push_back((client, bytes));
            }
        }
    }

    /// Make the `index`-th datagram in direction `dir` meet `fate`; every
    /// other one is delivered.
    pub fn fault_once(&mut self, dir: Dir, index: usize, fate: Fate) {
        self.faults = Box::new(move |d, i, _| {
            if d == dir && i == index {
                fate
            } else {
                Fate::Deliver
            }
        });
    }

    /// Inject a datagram towards the gateway as if from client `client`.
    pub fn inject(&mut self, client: usize, bytes: Vec<u8>) {
        self.to_gw.push_back((client, bytes));
    }

    /// One round: clients transmit, the gateway answers, clients read.
    /// Returns whether anything moved.
    pub fn step(&mut self) -> bool {
        let mut moved = false;
        let mut buf = vec![0u8; 4096];
        for i in 0..self.clients.len() {
            while let Some(n) = self.clients[i].init.poll_transmit(self.now, &mut buf) {
                self.send(Dir::ToGateway, i, buf[..n].to_vec());
                moved = true;
            }
        }
        while let Some((i, bytes)) = self.to_gw.pop_front() {
            moved = true;
            let meta = PacketMeta {
                peer: self
                    .clients
                    .get(i)
                    .map_or_else(|| client_addr(i), |c| c.seen_as),
                local: self.gw.addr,
            };
            let h = self.gw.responder.handle(self.now, &meta, &bytes, &mut buf);
            if let Some(sa) = h.established {
                self.established.push(*sa);
            }
            if let Some(n) = h.reply {
                self.send(Dir::ToClient, i, buf[..n].to_vec());
            }
        }
        while let Some((i, bytes)) = self.to_client.pop_front() {
            moved = true;
            if let Some(c) = self.clients.get_mut(i) {
                c.init.handle(self.now, &bytes, &mut c.rng);
            }
        }
        for c in &mut self.clients {
            while let Some(e) = c.init.poll_event() {
                c.events.push(e);
                moved = true;
            }
        }
        moved
    }

    /// Run until every client is done, advancing the clock to the next
    /// timer whenever nothing moves. Panics if it never settles.
    pub fn run(&mut self) {
        for _ in 0..100_000 {
            if self.step() {
                continue;
            }
            if self.clients.iter().all(|c| c.init.is_done()) {
                return;
            }
            let next = self
                .clients
                .iter()
                .filter_map(|c| c.init.poll_timeout())
                .min();
            match next {
                Some(t) => self.advance_to(t),
                None => return,
            }
        }
        panic!("the pair never settled");
    }

    pub fn advance_to(&mut self, t: Timestamp) {
        if t > self.now {
            self.now = t;
        }
        for c in &mut self.clients {
            c.init.handle_timeout(self.now);
        }
        self.gw.responder.handle_timeout(self.now);
    }

    pub fn advance_secs(&mut self, s: u64) {
        let t = self.now.plus_millis(s * 1000);
        self.advance_to(t);
    }

    /// The single event of client `i`.
    pub fn event(&self, i: usize) -> &InitiatorEvent {
        assert_eq!(
            self.clients[i].events.len(),
            1,
            "{:?}",
            self.clients[i].events
        );
        &self.clients[i].events[0]
    }
}
