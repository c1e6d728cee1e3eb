//! `rebound storm`: the load generator operators test a gateway with. N
//! simulated clients (one process, a few threads, each client a sans-IO
//! [`ResumeInitiator`](rebound_engine::client::ResumeInitiator), and
//! before it a [`FullInitiator`](rebound_engine::client::FullInitiator)
//! with `--full`) go through the life of a gateway restart:
//!
//! 1. **tickets**: every client gets a resumption ticket ([`TicketSource`]):
//!    minted with the gateway's key ring, or by a full IKEv2 exchange
//!    through the gateway (`--full`);
//! 2. **drop**: every client forgets its SA and keeps only the ticket;
//! 3. **reconnect**: every client resumes with IKE_SESSION_RESUME +
//!    IKE_AUTH, arriving as [`Arrival`] says, retransmitting on its own
//!    timers, through a [`FaultConfig`] injector and among hostile
//!    datagrams (`garbage`, made on the fly; `hostile`, precomputed, paced
//!    at a multiple of the legitimate rate or sent as a flood alongside);
//! 4. **replay** (optional): the original tickets are presented again and
//!    must all be refused (RFC 5723 §4.3.1, single use).
//!
//! Phase 1's tickets can be saved to a file (`--save-tickets`, and
//! `--tickets-only` to stop there) and loaded by a later storm instead of
//! phase 1 (`--load-tickets`), which may expect them all refused
//! (`--expect-refused`: they were used before). Phases 3 and 4 may go to
//! other gateways than phase 1 (`--resume-targets`), each client to one
//! (`--spread`) or to all at once (`--race`, which counts the gateways
//! that accept or resume a ticket another already took).
//!
//! Without a target, [`run`] starts an embedded [`Gateway`] on loopback
//! whose key ring mints the tickets (or which issues them at the end of
//! the full exchanges, with a PSK for every client), and reports the
//! gateway's own counts at the end; with one, it storms a separate gateway
//! whose key file it is given (or which has the clients' PSKs, `--full`).
//!
//! | module | concept |
//! | --- | --- |
//! | `arrival` | [`Arrival`]: when each client starts |
//! | `fault` | [`FaultInjector`]: drops and duplicates |
//! | `garbage` | hostile datagrams made on the fly (`--garbage F`) |
//! | `hostile` | precomputed hostile traffic at a multiple of the legitimate rate, or a flood (`--hostile MIX`) |
//! | `mint` | phase 1: sealing tickets with the gateway's key ring |
//! | `full` | phase 1 by full exchanges: [`FullSettings`], the PSKs |
//! | `phase` | phases 1 (`--full`), 3 and 4: the storm threads |
//! | `resume` | phases 3 and 4's gateways: [`Routes`], the tally per gateway |
//! | `ticket_file` | `--save-tickets`, `--load-tickets`: the tickets file |
//! | `client` | what the storm threads drive: the full or resumption initiator |
//! | `socket` | a storm thread's UDP socket |
//! | `pcap` | `--pcap`: the capture |
//! | `report` | [`StormReport`] and its summary |
//! | `verdict` | [`verdict`]: whether the storm went as it should |
//! | `cli` | [`cli::StormArgs`] and [`cli::run_cli`] |

#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rebound_engine::client::{Fallback, InitiatorConfig};
use rebound_engine::keylog::KeyLogWriter;
use rebound_engine::ticket::keyring::TicketKeyRing;
use rebound_engine::time::Timestamp;

use rebound_dataplane::config::GatewaySettings;
use rebound_dataplane::gateway::Gateway;

mod arrival;
pub mod cli;
mod client;
mod fault;
mod full;
mod garbage;
pub mod hostile;
pub mod mint;
mod pcap;
mod phase;
mod progress;
mod report;
mod resume;
mod rng;
mod socket;
pub mod ticket_file;
mod verdict;

pub use arrival::Arrival;
pub use fault::{FaultConfig, FaultCounts, FaultInjector};
pub use full::{
    DEFAULT_IKE, DEFAULT_IN_FLIGHT, DEFAULT_PSK, FullSettings, gateway_identity, parse_ike,
    parse_psk, psk_entries,
};
pub use garbage::{GarbageCounts, GarbageKind};
pub use hostile::{HostileKind, HostileMix, HostileReport, KindCounts};
pub use mint::{GATEWAY_ID, TICKET_LIFETIME_SECS, TicketSource, client_id};
pub use pcap::{PcapRecorder, ip_udp_packet};
pub use report::{
    ControlReport, FaultReport, FullReport, LatencyReport, PhaseReport, ReplayReport, ResumeReport,
    StormReport, TargetReport, TicketFileReport, WireCounts, WorkerCpu, WorkerRate, WorkerSummary,
};
pub use resume::Routes;
pub use verdict::verdict;

use hostile::{FloodOutcome, HostilePool, HostileSender, PoolInputs};
use phase::{
    HostilePace, PhaseOutcome, PhaseSetup, StormKeyLog, StormPcap, run_phase, run_phase_routed,
};
use progress::Progress;
use rebound_dataplane::runtime::BufferedOsRng;
use rebound_engine::client::ClientTicket;
use rebound_engine::client::ResumeInitiator;
use rebound_engine::rand::RandomSource as _;
use resume::Tally;
use std::sync::atomic::{AtomicU64, Ordering};

/// The most sockets one storm thread opens.
pub const MAX_SOCKETS: usize = 1024;
/// The most storm threads.
pub const MAX_THREADS: usize = 256;

/// Everything a storm runs with.
#[derive(Debug, Clone)]
pub struct StormConfig {
    /// Simulated clients (at least 1).
    pub clients: usize,
    /// The gateway to storm; `None` starts an embedded one on loopback.
    pub target: Option<SocketAddr>,
    /// The embedded gateway's settings (workers, cores ...); its key ring
    /// is the storm's.
    pub gateway: GatewaySettings,
    /// The gateway's ticket key file, to mint tickets it accepts: required
    /// with a target (unless `--full`: the gateway issues the tickets
    /// itself); for the embedded gateway, used instead of a fresh in-memory
    /// ring.
    pub key_file: Option<PathBuf>,
    pub tickets: TicketSource,
    /// Phase 1 by full exchanges ([`TicketSource::Full`]).
    pub full: FullSettings,
    /// Storm threads (clients are dealt round robin).
    pub threads: usize,
    /// UDP sockets per storm thread.
    pub sockets: usize,
    pub arrival: Arrival,
    pub fault: FaultConfig,
    /// Probability of a hostile datagram after each legitimate one, in
    /// `[0, 1)`.
    pub garbage: f64,
    /// Hostile traffic alongside phase 3 (`--hostile`).
    pub hostile: Option<HostileSettings>,
    /// Run phase 4: present the original tickets again.
    pub replay: bool,
    /// Write phase 1's tickets to this file (`--save-tickets`).
    pub save_tickets: Option<PathBuf>,
    /// Stop after phase 1 and its save (`--tickets-only`).
    pub tickets_only: bool,
    /// No phase 1: the clients are the tickets of a file
    /// (`--load-tickets`); [`StormConfig::clients`] is then ignored.
    pub load_tickets: Option<LoadTickets>,
    /// The gateways of phases 3 and 4 (`--resume-targets`); empty: the
    /// target (or the embedded gateway).
    pub resume_targets: Vec<SocketAddr>,
    /// With `resume_targets`: every client presents its ticket to every
    /// one at once (`--race`) instead of client `i` to gateway `i mod n`.
    pub race: bool,
    /// Phase 3 expects every ticket refused with TICKET_NACK
    /// (`--expect-refused`: they were used before).
    pub expect_refused: bool,
    pub pcap: Option<PathBuf>,
    pub keylog: Option<PathBuf>,
    /// Write the report here as JSON.
    pub json: Option<PathBuf>,
    /// Draw a progress bar on stderr (when it is a terminal).
    pub progress: bool,
    /// Seed of arrival times, faults and garbage; `None`: a random one
    /// (reported, so the run can be repeated).
    pub seed: Option<u64>,
    /// The resumption's settings; phase 1's full exchanges take their
    /// child SA offer and retransmission from it too.
    pub initiator: InitiatorConfig,
    /// How long the networked phases (1 with `--full`, reconnect, replay)
    /// may run after their last client started.
    pub phase_timeout: Duration,
    /// How long to wait for the embedded control plane to receive every
    /// established SA.
    pub settle_timeout: Duration,
}

impl Default for StormConfig {
    fn default() -> Self {
        StormConfig {
            clients: 10_000,
            target: None,
            gateway: GatewaySettings {
                drain_timeout_ms: 1_000,
                ..GatewaySettings::default()
            },
            key_file: None,
            tickets: TicketSource::Mint,
            full: FullSettings::default(),
            threads: 1,
            sockets: 16,
            arrival: Arrival::Burst,
            fault: FaultConfig::default(),
            garbage: 0.0,
            hostile: None,
            replay: false,
            save_tickets: None,
            tickets_only: false,
            load_tickets: None,
            resume_targets: Vec::new(),
            race: false,
            expect_refused: false,
            pcap: None,
            keylog: None,
            json: None,
            progress: true,
            seed: None,
            initiator: InitiatorConfig::default(),
            phase_timeout: Duration::from_secs(60),
            settle_timeout: Duration::from_secs(30),
        }
    }
}

/// `--load-tickets FILE`: the clients are the file's tickets, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadTickets {
    pub path: PathBuf,
    /// The first this many (`--clients`); `None`: all of them. More than
    /// the file holds is an error.
    pub clients: Option<usize>,
}

/// Hostile traffic alongside phase 3 (`--hostile MIX`).
#[derive(Debug, Clone, PartialEq)]
pub struct HostileSettings {
    pub mix: HostileMix,
    /// Hostile datagrams per legitimate datagram (paced), unless `flood`.
    pub rate: f64,
    /// Send this many datagrams of the mix as fast as the sockets take
    /// them, from a thread of its own, instead of pacing; phase 3 starts
    /// once a quarter of them went out.
    pub flood: Option<u64>,
    /// The flood's datagrams per second at most (`None`: as fast as the
    /// sockets take them).
    pub flood_rate: Option<f64>,
    /// Source addresses of the hostile sockets (127.0.1.1 onwards for an
    /// IPv4 loopback target).
    pub sources: usize,
    /// Valid tickets behind the `halfopen` kind.
    pub tickets: usize,
}

impl HostileSettings {
    /// The mix at its own rate (`xRATE`), or 1.
    pub fn new(mix: HostileMix) -> Self {
        HostileSettings {
            rate: mix.rate.unwrap_or(1.0),
            mix,
            flood: None,
            flood_rate: None,
            sources: 1,
            tickets: DEFAULT_HOSTILE_TICKETS,
        }
    }

    fn validate(&self) -> Result<(), String> {
        hostile::check_rate("--hostile-rate", self.rate)?;
        if !(1..=hostile::MAX_SOURCES).contains(&self.sources) {
            return Err(format!(
                "--hostile-sources {}: between 1 and {}",
                self.sources,
                hostile::MAX_SOURCES
            ));
        }
        if !(1..=MAX_HOSTILE_TICKETS).contains(&self.tickets) {
            return Err(format!(
                "--hostile-tickets {}: between 1 and {MAX_HOSTILE_TICKETS}",
                self.tickets
            ));
        }
        if self.flood == Some(0) {
            return Err("--hostile-flood 0: at least one datagram".into());
        }
        if let Some(r) = self.flood_rate {
            if self.flood.is_none() {
                return Err("--hostile-flood-rate needs --hostile-flood".into());
            }
            if !r.is_finite() || r < 1.0 {
                return Err(format!(
                    "--hostile-flood-rate {r}: datagrams per second, at least 1"
                ));
            }
        }
        Ok(())
    }
}

/// Valid tickets behind `halfopen` unless `--hostile-tickets` says.
pub const DEFAULT_HOSTILE_TICKETS: usize = 1000;
/// The most valid tickets behind `halfopen` (the pool holds a request
/// for each; SPIi carries its index in 24 bits).
pub const MAX_HOSTILE_TICKETS: usize = 1 << 20;
/// Tickets resumed before phase 3 to be replayed in it (`replayed`).
const REPLAY_TICKETS: usize = 64;
/// SAs resumed and deleted before phase 3, whose new tickets the gateway
/// revoked (`revoked`).
const REVOKED_TICKETS: usize = 16;

/// Why a storm could not run.
#[derive(Debug)]
#[non_exhaustive]
pub enum StormError {
    /// A setting that cannot work.
    Config(String),
    /// The ticket key ring: unreadable key file, no issuing key.
    KeyRing(String),
    /// A ticket could not be minted.
    Mint(String),
    /// Phase 1 by full exchanges got no ticket at all.
    Tickets(String),
    /// The tickets file could not be written or read.
    TicketFile(String),
    /// The embedded gateway did not start.
    Gateway(String),
    /// A storm socket could not be opened or used.
    Socket(String),
    /// An output file (`what`: pcap, key log, JSON) could not be written.
    Output {
        what: &'static str,
        path: PathBuf,
        error: String,
    },
    /// The OS random generator failed.
    Random,
    /// A storm thread panicked.
    Thread,
}

impl fmt::Display for StormError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StormError::Config(m) => write!(f, "storm: {m}"),
            StormError::KeyRing(m) => write!(f, "storm: {m}"),
            StormError::Mint(m) => write!(f, "storm: cannot mint a ticket: {m}"),
            StormError::Tickets(m) => write!(f, "storm: {m}"),
            StormError::TicketFile(m) => write!(f, "storm: {m}"),
            StormError::Gateway(m) => write!(f, "storm: the embedded gateway did not start: {m}"),
            StormError::Socket(m) => write!(f, "storm: socket: {m}"),
            StormError::Output { what, path, error } => {
                write!(
                    f,
                    "storm: cannot write the {what} {}: {error}",
                    path.display()
                )
            }
            StormError::Random => f.write_str("storm: the OS random generator failed"),
            StormError::Thread => f.write_str("storm: a storm thread panicked"),
        }
    }
}

impl std::error::Error for StormError {}

impl StormConfig {
    /// Checks every setting on its own and against the others.
    pub fn validate(&self) -> Result<(), StormError> {
        let bad = |m: String| Err(StormError::Config(m));
        if self.clients == 0 {
            return bad("--clients 0: at least one client is needed".into());
        }
        if !(1..=MAX_THREADS).contains(&self.threads) {
            return bad(format!(
                "--threads {}: between 1 and {MAX_THREADS}",
                self.threads
            ));
        }
        if !(1..=MAX_SOCKETS).contains(&self.sockets) {
            return bad(format!(
                "--sockets {}: between 1 and {MAX_SOCKETS} per thread",
                self.sockets
            ));
        }
        self.fault.validate().map_err(StormError::Config)?;
        fault::check_probability("--garbage", self.garbage).map_err(StormError::Config)?;
        if let Some(h) = &self.hostile {
            h.validate().map_err(StormError::Config)?;
        }
        if self.phase_timeout.is_zero() {
            return bad("--timeout 0: the phases need some time".into());
        }
        if self.tickets == TicketSource::Full {
            self.full.validate().map_err(StormError::Config)?;
        }
        self.validate_tickets_and_targets()?;
        match self.target {
            Some(t) => {
                if self.key_file.is_none()
                    && self.tickets == TicketSource::Mint
                    && self.load_tickets.is_none()
                {
                    return bad(format!(
                        "--target {t} needs --key-file: the gateway's ticket key file, to mint \
                         tickets it accepts (or --full: tickets by full exchanges)"
                    ));
                }
                if t.ip().is_unspecified() || t.port() == 0 {
                    return bad(format!("--target {t}: give the gateway's address and port"));
                }
            }
            None => {
                let w = self.gateway.workers;
                if !(1..=255).contains(&w) {
                    return bad(format!("--workers {w}: between 1 and 255"));
                }
                if !self.gateway.cores.is_empty() && self.gateway.cores.len() != w {
                    return bad(format!(
                        "--cores lists {} cores for {w} worker{}: give one core per worker",
                        self.gateway.cores.len(),
                        if w == 1 { "" } else { "s" }
                    ));
                }
            }
        }
        Ok(())
    }
}

impl StormConfig {
    /// The tickets file and resume-target settings, against each other
    /// and the rest.
    fn validate_tickets_and_targets(&self) -> Result<(), StormError> {
        let bad = |m: &str| Err(StormError::Config(m.into()));
        if let Some(l) = &self.load_tickets {
            if self.tickets == TicketSource::Full {
                return bad(
                    "--load-tickets skips phase 1: --full (tickets by full exchanges) does not apply",
                );
            }
            if self.save_tickets.is_some() {
                return bad(
                    "--load-tickets skips phase 1: there are no new tickets for --save-tickets",
                );
            }
            if l.clients == Some(0) {
                return bad("--clients 0: at least one client is needed");
            }
        }
        if self.tickets_only {
            if self.save_tickets.is_none() {
                return bad(
                    "--tickets-only stops after phase 1: give --save-tickets FILE to keep the tickets",
                );
            }
            for (on, flag) in [
                (self.load_tickets.is_some(), "--load-tickets"),
                (self.replay, "--replay"),
                (self.expect_refused, "--expect-refused"),
                (!self.resume_targets.is_empty(), "--resume-targets"),
                (self.hostile.is_some(), "--hostile"),
            ] {
                if on {
                    return Err(StormError::Config(format!(
                        "--tickets-only stops after phase 1: {flag} does not apply"
                    )));
                }
            }
        }
        if self.replay && self.expect_refused {
            return bad(
                "--replay presents again the tickets phase 3 resumed; with --expect-refused none \
                 may resume: give one or the other",
            );
        }
        if !self.resume_targets.is_empty() && self.target.is_none() {
            return bad(
                "--resume-targets needs --target (the gateway of phase 1, the hostile traffic and \
                 the garbage)",
            );
        }
        if self.race && self.resume_targets.is_empty() {
            return bad("--race needs --resume-targets: the gateways every client races to");
        }
        for (i, a) in self.resume_targets.iter().enumerate() {
            if a.ip().is_unspecified() || a.port() == 0 {
                return Err(StormError::Config(format!(
                    "--resume-targets {a}: give each gateway's address and port"
                )));
            }
            if self.resume_targets[..i].contains(a) {
                return Err(StormError::Config(format!(
                    "--resume-targets: {a} is named twice"
                )));
            }
        }
        Ok(())
    }
}

/// The engine's wall-clock time ([`rebound_dataplane::runtime::now`]) as a duration
/// since the Unix epoch (for the capture's timestamps).
fn since_epoch(t: Timestamp) -> Duration {
    Duration::from_millis(t.millis())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The address the storm's sockets bind to reach `target`: loopback of the
/// same family for a loopback target, else the source address the kernel
/// routes from.
fn local_ip_for(target: SocketAddr) -> Result<IpAddr, StormError> {
    let ip = target.ip();
    if ip.is_loopback() {
        return Ok(match ip {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
        });
    }
    let any: SocketAddr = match ip {
        IpAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        IpAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let probe = std::net::UdpSocket::bind(any)
        .and_then(|s| {
            s.connect(target)?;
            s.local_addr()
        })
        .map_err(|e| StormError::Socket(format!("no route to {target}: {e}")))?;
    Ok(probe.ip())
}

/// The embedded gateway, started on loopback.
struct Embedded {
    gateway: Gateway,
    target: SocketAddr,
    marker: bool,
}

fn start_embedded(cfg: &StormConfig, ring: TicketKeyRing) -> Result<Embedded, StormError> {
    let mut settings = cfg.gateway.clone();
    settings.ike.local_id = cfg.full.id_r(true).unwrap_or_else(gateway_identity);
    // Every client of the storm comes from one address: the per-source
    // cap, there for a flood from one address, would throttle the storm
    // itself. Its own table and memory bounds stay.
    settings.responder.half_open_per_source = settings.responder.half_open_limit;
    if cfg.tickets == TicketSource::Full {
        settings
            .psks
            .extend(psk_entries(cfg.clients, &cfg.full.psk)?);
    }
    let plain = settings.listen.len();
    let gateway =
        Gateway::start(settings, Some(ring)).map_err(|e| StormError::Gateway(e.to_string()))?;
    let addrs = gateway.local_addrs();
    let Some(&first) = addrs.first() else {
        gateway.shutdown();
        return Err(StormError::Gateway("it listens on no address".into()));
    };
    let mut target = first;
    if target.ip().is_unspecified() {
        target.set_ip(match target.ip() {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
        });
    }
    Ok(Embedded {
        gateway,
        target,
        marker: plain == 0,
    })
}

/// The capture and the key log, created before anything is sent.
#[allow(clippy::type_complexity)]
fn open_outputs(
    cfg: &StormConfig,
    marker: bool,
) -> Result<(Option<Mutex<StormPcap>>, Option<Mutex<StormKeyLog>>), StormError> {
    let pcap = match &cfg.pcap {
        Some(p) => Some(Mutex::new(open_output("capture", p, |p| {
            StormPcap::create(p, marker)
        })?)),
        None => None,
    };
    let keylog = match &cfg.keylog {
        Some(p) => Some(Mutex::new(open_output("key log", p, |p| {
            Ok(KeyLogWriter::new(BufWriter::new(File::create(p)?), None))
        })?)),
        None => None,
    };
    Ok((pcap, keylog))
}

fn open_output<T>(
    what: &'static str,
    path: &Path,
    f: impl FnOnce(&Path) -> io::Result<T>,
) -> Result<T, StormError> {
    f(path).map_err(|error| StormError::Output {
        what,
        path: path.to_path_buf(),
        error: error.to_string(),
    })
}

/// Runs the storm: every phase, then the report (also written to
/// `cfg.json`).
pub fn run(cfg: &StormConfig) -> Result<StormReport, StormError> {
    cfg.validate()?;
    // The clients of a tickets file are known before anything starts.
    let loaded = match &cfg.load_tickets {
        Some(l) => {
            let t0 = Instant::now();
            Some((load_tickets(l)?, t0.elapsed()))
        }
        None => None,
    };
    let resolved;
    let cfg = match &loaded {
        Some((t, _)) => {
            resolved = StormConfig {
                clients: t.len(),
                ..cfg.clone()
            };
            &resolved
        }
        None => cfg,
    };
    let mut os = BufferedOsRng::try_new().map_err(|_| StormError::Random)?;
    let seed = match cfg.seed {
        Some(s) => s,
        None => {
            let mut b = [0u8; 8];
            os.fill(&mut b);
            u64::from_le_bytes(b)
        }
    };
    let now_secs = rebound_dataplane::runtime::now().secs();
    // A separate gateway issues the tickets of full exchanges itself;
    // loaded tickets need the ring only if one is given (--hostile).
    let ring = if cfg.target.is_some()
        && (cfg.tickets == TicketSource::Full || (loaded.is_some() && cfg.key_file.is_none()))
    {
        None
    } else {
        Some(read_ring(cfg, now_secs)?)
    };
    let embedded = match (cfg.target, &ring) {
        (None, Some(ring)) => Some(start_embedded(cfg, ring.clone())?),
        _ => None,
    };
    let (target, marker) = match (&embedded, cfg.target) {
        (Some(e), _) => (e.target, e.marker),
        (None, Some(t)) => (t, t.port() == 4500),
        (None, None) => unreachable!("validated: a target or an embedded gateway"),
    };
    let outputs = resume_routes(cfg, target, marker)
        .and_then(|routes| Ok((routes, open_outputs(cfg, marker)?)));
    let (routes, (pcap, keylog)) = match outputs {
        Ok(o) => o,
        Err(e) => {
            if let Some(e) = embedded {
                e.gateway.shutdown();
            }
            return Err(e);
        }
    };
    let storm = Storm {
        cfg,
        seed,
        ring,
        now_secs,
        target,
        marker,
        routes,
        pcap: pcap.as_ref(),
        keylog: keylog.as_ref(),
    };
    let result = storm.phases(embedded.as_ref().map(|e| &e.gateway), loaded);
    // The gateway stops whatever happened.
    let finals = embedded.map(|e| e.gateway.shutdown());
    let mut report = result?;
    if let Some((stats, settle)) = finals.zip(report.control.map(|c| c.settle_ms)) {
        report.add_gateway(&stats, &cfg.gateway.cores, settle);
    }
    if let (Some(p), Some(path)) = (pcap, &cfg.pcap) {
        let p = p.into_inner().unwrap_or_else(PoisonError::into_inner);
        report.pcap_packets = Some(p.packets());
        open_output("capture", path, |_| p.finish().map(drop))?;
    }
    if let (Some(k), Some(path)) = (keylog, &cfg.keylog) {
        let mut k = k.into_inner().unwrap_or_else(PoisonError::into_inner);
        report.keylog_entries = Some(k.entries());
        open_output("key log", path, |_| k.flush())?;
    }
    if let Some(path) = &cfg.json {
        open_output("JSON report", path, |p| {
            let mut f = BufWriter::new(File::create(p)?);
            serde_json::to_writer_pretty(&mut f, &report).map_err(io::Error::other)?;
            f.write_all(b"\n")?;
            f.flush()
        })?;
    }
    Ok(report)
}

/// `--load-tickets`: the file's tickets, the first `--clients` of them.
fn load_tickets(l: &LoadTickets) -> Result<Vec<ClientTicket>, StormError> {
    let mut tickets =
        ticket_file::load(&l.path).map_err(|e| StormError::TicketFile(e.to_string()))?;
    let have = tickets.len();
    let p = l.path.display();
    if have == 0 {
        return Err(StormError::TicketFile(format!(
            "tickets file {p}: it holds no ticket"
        )));
    }
    if let Some(n) = l.clients {
        if n > have {
            return Err(StormError::Config(format!(
                "--clients {n}: the tickets file {p} holds {have} tickets (leave --clients out \
                 to use them all)"
            )));
        }
        tickets.truncate(n);
    }
    Ok(tickets)
}

/// Phases 3 and 4's gateways: `--resume-targets`, reached from the same
/// local address as `target` and framed the same way (the non-ESP marker
/// on port 4500), or `target` alone.
fn resume_routes(
    cfg: &StormConfig,
    target: SocketAddr,
    marker: bool,
) -> Result<Routes, StormError> {
    if cfg.resume_targets.is_empty() {
        return Ok(Routes {
            targets: vec![target],
            race: false,
        });
    }
    let local = local_ip_for(target)?;
    for &a in &cfg.resume_targets {
        if (a.port() == 4500) != marker {
            return Err(StormError::Config(format!(
                "--resume-targets {a}: port 4500 (the non-ESP marker) for all gateways or none, \
                 as --target {target}"
            )));
        }
        let ip = local_ip_for(a)?;
        if ip != local {
            return Err(StormError::Config(format!(
                "--resume-targets {a}: reached from {ip}, --target {target} from {local}; the \
                 storm's sockets have one local address"
            )));
        }
    }
    Ok(Routes {
        targets: cfg.resume_targets.clone(),
        race: cfg.race,
    })
}

/// The key file's ring, or a fresh one; it must issue now.
fn read_ring(cfg: &StormConfig, now_secs: u64) -> Result<TicketKeyRing, StormError> {
    let ring = match &cfg.key_file {
        // The gateway's own reader: owner-only mode, size cap, wiped buffer.
        Some(p) => rebound_dataplane::keys::read_key_file(p)
            .map_err(|e| StormError::KeyRing(e.to_string()))?,
        None => rebound_dataplane::gateway::ephemeral_ring()
            .map_err(|e| StormError::KeyRing(e.to_string()))?,
    };
    if ring.issuing_key(now_secs).is_none() {
        return Err(StormError::KeyRing(
            "no key in the key file issues now (rotate it: rebound keys rotate)".into(),
        ));
    }
    Ok(ring)
}

/// What phase 3's hostile traffic is sent from.
struct HostilePrep {
    pool: Arc<HostilePool>,
    sources: Vec<IpAddr>,
    /// Tickets resumed before phase 3 (their SAs reached the gateway).
    replay_tickets: u64,
    /// SAs resumed and deleted before phase 3 for `revoked`.
    revoked_tickets: u64,
}

/// One storm's fixed inputs.
struct Storm<'a> {
    cfg: &'a StormConfig,
    seed: u64,
    /// The ticket key ring (`None`: full exchanges with a separate
    /// gateway, which issues its own tickets).
    ring: Option<TicketKeyRing>,
    now_secs: u64,
    target: SocketAddr,
    marker: bool,
    /// Phases 3 and 4's gateways.
    routes: Routes,
    pcap: Option<&'a Mutex<StormPcap>>,
    keylog: Option<&'a Mutex<StormKeyLog>>,
}

impl Storm<'_> {
    fn setup<'b>(
        &'b self,
        stream: u64,
        garbage: f64,
        progress: &'b Progress,
    ) -> Result<PhaseSetup<'b>, StormError> {
        Ok(PhaseSetup {
            target: self.target,
            local_ip: local_ip_for(self.target)?,
            marker: self.marker,
            config: Arc::new(self.cfg.initiator.clone()),
            threads: self.cfg.threads,
            sockets: self.cfg.sockets,
            fault: self.cfg.fault,
            garbage,
            seed: self.seed,
            stream,
            timeout: self.cfg.phase_timeout,
            in_flight: None,
            pcap: self.pcap,
            keylog: self.keylog,
            progress,
            hostile: None,
        })
    }

    /// Phases 1 to 4, and the wait for the embedded control plane;
    /// `loaded`: the tickets of `--load-tickets` instead of phase 1, and
    /// how long reading them took.
    fn phases(
        &self,
        gateway: Option<&Gateway>,
        loaded: Option<(Vec<ClientTicket>, Duration)>,
    ) -> Result<StormReport, StormError> {
        let cfg = self.cfg;
        let n = cfg.clients;
        let mut phases = Vec::new();

        // Phase 1: tickets.
        let (tickets, full) = match (loaded, cfg.tickets, &self.ring) {
            (Some((tickets, took)), _, _) => {
                let path = cfg.load_tickets.as_ref().map(|l| l.path.display());
                phases.push(PhaseReport::new(
                    "tickets",
                    ms(took),
                    format!(
                        "loaded {} tickets from {}",
                        tickets.len(),
                        path.map(|p| p.to_string()).unwrap_or_default()
                    ),
                ));
                (tickets, None)
            }
            (None, TicketSource::Mint, Some(ring)) => {
                let t0 = Instant::now();
                let progress = Progress::new("phase 1 (tickets)", n as u64, cfg.progress)
                    .with_words("minted", "failed");
                let threads = std::thread::available_parallelism().map_or(1, |p| p.get());
                let tickets = mint::mint_all(n, ring, self.now_secs, threads, &progress)?;
                phases.push(PhaseReport::new(
                    "tickets",
                    ms(t0.elapsed()),
                    format!("minted {} tickets", tickets.len()),
                ));
                (tickets, None)
            }
            (None, TicketSource::Mint, None) => {
                return Err(StormError::KeyRing(
                    "minting needs a ticket key ring".into(),
                ));
            }
            (None, TicketSource::Full, _) => {
                let f = self.full_tickets(gateway.is_some())?;
                phases.push(f.phase);
                (f.tickets, Some(f.report))
            }
        };
        let mut saved = None;
        if let Some(path) = &cfg.save_tickets {
            let t0 = Instant::now();
            ticket_file::save(path, &tickets).map_err(|e| StormError::TicketFile(e.to_string()))?;
            phases.push(PhaseReport::new(
                "save",
                ms(t0.elapsed()),
                format!(
                    "wrote {} tickets to {} (mode 0600)",
                    tickets.len(),
                    path.display()
                ),
            ));
            saved = Some(TicketFileReport {
                path: path.display().to_string(),
                tickets: tickets.len() as u64,
            });
        }
        if cfg.tickets_only {
            let mut report = self.report(phases, &PhaseOutcome::empty(), None, None);
            report.tickets_only = true;
            report.saved_tickets = saved;
            report.full = full;
            return Ok(report);
        }

        // Phase 2: drop. The clients keep nothing but their tickets; the
        // replay phase keeps copies of the originals.
        let t0 = Instant::now();
        let originals = cfg.replay.then(|| tickets.clone());
        phases.push(PhaseReport::new(
            "drop",
            ms(t0.elapsed()),
            format!(
                "{} clients dropped their SAs and kept their tickets",
                tickets.len()
            ),
        ));

        // Phase 3: reconnect, the clients with a ticket, each to its
        // gateway (or, racing, to all).
        let m = tickets.len();
        let mut pres = self
            .routes
            .present(tickets.into_iter().enumerate().collect());
        let inputs = std::mem::take(&mut pres.inputs);
        let progress = Progress::new("phase 3 (reconnect)", inputs.len() as u64, cfg.progress)
            .with_words("resumed", "failed");
        let schedule = pres.schedule(&cfg.arrival.schedule(m, self.seed));
        let hostile = match &cfg.hostile {
            Some(h) => Some((h, self.hostile_prepare(h, n, &mut phases)?)),
            None => None,
        };
        let mut setup = self.setup(0, cfg.garbage, &progress)?;
        if let Some((h, prep)) = &hostile
            && h.flood.is_none()
        {
            setup.hostile = Some(HostilePace {
                pool: prep.pool.clone(),
                mix: h.mix,
                rate: h.rate,
                sources: prep.sources.clone(),
            });
        }
        let cpu_before = gateway.map(Gateway::stats);
        let (out, flood) = match &hostile {
            Some((h, prep)) if h.flood.is_some() => {
                self.reconnect_under_flood(h, prep, &setup, inputs, &schedule)?
            }
            _ => (
                run_phase_routed::<ResumeInitiator>(&setup, &setup.config, inputs, &schedule)?,
                None,
            ),
        };
        let tally = Tally::new(&self.routes, &pres, &out.ends, m);
        if let Some(e) = &out.write_error {
            return Err(self.write_error(e));
        }
        let reconnect_cpu = match (gateway, cpu_before) {
            (Some(gw), Some(before)) => {
                // Workers publish every 50 ms: wait for a fresh snapshot.
                std::thread::sleep(Duration::from_millis(60));
                let after = gw.stats();
                before
                    .workers
                    .iter()
                    .zip(&after.workers)
                    .map(|(b, a)| WorkerCpu::between(b, a))
                    .collect()
            }
            _ => Vec::new(),
        };
        let detail = if cfg.expect_refused {
            let (resumed, refused, presented) = tally.totals();
            format!(
                "{refused}/{presented} tickets refused with TICKET_NACK (expected), {resumed} resumed"
            )
        } else if self.routes.race {
            format!(
                "{}/{n} clients resumed, {} SAs on {} gateways",
                tally.resumed_clients(),
                out.established,
                self.routes.targets.len()
            )
        } else {
            format!("{}/{n} clients resumed", tally.resumed_clients())
        };
        phases.push(PhaseReport {
            name: "reconnect",
            duration_ms: ms(out.duration),
            detail,
            per_sec: Some(out.per_sec()),
            latency: Some(LatencyReport::from_histogram(&out.latency)),
        });

        // Phase 4: replay the tickets of the clients that resumed (those
        // are used; a ticket whose client gave up may rightly still work).
        let mut replay = None;
        if let Some(originals) = originals {
            let replayed: Vec<_> = originals
                .into_iter()
                .enumerate()
                .zip(&tally.clients)
                .filter_map(|(t, why)| why.is_none().then_some(t))
                .collect();
            let tickets = replayed.len();
            let mut pres = self.routes.present(replayed);
            let inputs = std::mem::take(&mut pres.inputs);
            let count = inputs.len();
            let progress = Progress::new("phase 4 (replay)", count as u64, cfg.progress)
                .with_words("accepted", "refused");
            let setup = self.setup(1, 0.0, &progress)?;
            let r = run_phase_routed::<ResumeInitiator>(
                &setup,
                &setup.config,
                inputs,
                &vec![0; count],
            )?;
            let per_target = Tally::new(&self.routes, &pres, &r.ends, tickets);
            if let Some(e) = &r.write_error {
                return Err(self.write_error(e));
            }
            let refused = r
                .failures
                .get(Fallback::TicketRefused.counter_label())
                .copied()
                .unwrap_or(0);
            let other = r
                .failures
                .iter()
                .filter(|(k, _)| **k != Fallback::TicketRefused.counter_label())
                .map(|(k, v)| (k.to_string(), *v))
                .collect();
            phases.push(PhaseReport::new(
                "replay",
                ms(r.duration),
                format!(
                    "{count} tickets replayed{}: {refused} refused, {} accepted",
                    if self.routes.race {
                        format!(
                            " ({tickets} to each of {} gateways)",
                            self.routes.targets.len()
                        )
                    } else {
                        String::new()
                    },
                    r.established
                ),
            ));
            replay = Some(ReplayReport {
                presented: count as u64,
                accepted: r.established,
                refused,
                other,
                duration_ms: ms(r.duration),
                targets: per_target.targets,
            });
        }

        // The control plane receives every SA the clients established.
        let mut control = None;
        if let Some(gw) = gateway {
            // The tickets resumed before phase 3 to be replayed made SAs too.
            let want = out.established
                + replay.as_ref().map_or(0, |r| r.accepted)
                + hostile
                    .as_ref()
                    .map_or(0, |(_, p)| p.replay_tickets + p.revoked_tickets);
            let t0 = Instant::now();
            let mut c = gw.stats().control;
            while c.received < want && t0.elapsed() < cfg.settle_timeout {
                std::thread::sleep(Duration::from_millis(5));
                c = gw.stats().control;
            }
            phases.push(PhaseReport::new(
                "settle",
                ms(t0.elapsed()),
                format!(
                    "the control plane received {} of {want} resumed SAs",
                    c.received
                ),
            ));
            control = Some(ControlReport {
                counts: c,
                settle_ms: ms(t0.elapsed()),
            });
        }
        if let Some(f) = &flood {
            phases.push(PhaseReport::new(
                "flood",
                ms(f.duration),
                format!(
                    "{} hostile datagrams sent by the flood thread",
                    f.counts.sent()
                ),
            ));
        }
        let mut report = self.report(phases, &out, replay, control);
        report.saved_tickets = saved;
        report.failures = tally.failures();
        report.timeouts = report.failures.get("timeout").copied().unwrap_or(0);
        report.unfinished = tally.cut.iter().filter(|&&c| c).count() as u64;
        report.resume = ResumeReport {
            clients_resumed: tally.resumed_clients(),
            clients: m as u64,
            double_accepted: tally.double_accepted,
            double_resumed: tally.double_resumed,
            targets: tally.targets,
            ..report.resume
        };
        if let Some((h, prep)) = &hostile {
            let mut counts = out.hostile;
            if let Some(f) = &flood {
                counts.add(&f.counts);
            }
            let mut r = HostileReport::new(&h.mix, &counts);
            r.rate = h.flood.is_none().then_some(h.rate);
            r.flood = flood.as_ref().map(|f| f.fresh);
            r.flood_rate = h.flood_rate;
            r.flood_secs = flood.as_ref().map(|f| f.duration.as_secs_f64());
            r.sources = prep.sources.len();
            r.tickets = if h.mix.weight(HostileKind::Halfopen) > 0 {
                h.tickets
            } else {
                0
            };
            r.replay_tickets = prep.replay_tickets;
            r.revoked_tickets = prep.revoked_tickets;
            r.legit_datagrams = out.initiators.sent;
            report.hostile = Some(r);
        }
        report.full = full.map(|mut f| {
            f.resume_speedup = (f.full_exchanges_per_sec > 0.0)
                .then(|| report.resumes_per_sec / f.full_exchanges_per_sec);
            f
        });
        report.reconnect_cpu = reconnect_cpu;
        Ok(report)
    }

    /// Before phase 3: the hostile sources, the tickets to replay
    /// (resumed now, through the gateway, by real clients) and the pool.
    fn hostile_prepare(
        &self,
        h: &HostileSettings,
        n: usize,
        phases: &mut Vec<PhaseReport>,
    ) -> Result<HostilePrep, StormError> {
        let t0 = Instant::now();
        let local = local_ip_for(self.target)?;
        let sources = hostile::source_addresses(self.target, local, h.sources)?;
        let mut replay = Vec::new();
        if h.mix.weight(HostileKind::Replayed) > 0 {
            let Some(ring) = &self.ring else {
                return Err(StormError::Config(
                    "--hostile replayed needs the gateway's key ring to mint the tickets it replays: give --key-file"
                        .into(),
                ));
            };
            let mut os = BufferedOsRng::try_new().map_err(|_| StormError::Random)?;
            let tickets = (0..REPLAY_TICKETS)
                .map(|i| mint::mint_ticket(n + i, ring, self.now_secs, &mut os))
                .collect::<Result<Vec<_>, _>>()?;
            let progress = Progress::new("hostile setup", REPLAY_TICKETS as u64, false);
            let setup = self.setup(2, 0.0, &progress)?;
            let r = run_phase::<ResumeInitiator>(
                &setup,
                &setup.config,
                tickets.clone(),
                &[0; REPLAY_TICKETS],
            )?;
            replay = tickets
                .into_iter()
                .zip(r.established_mask())
                .filter_map(|(t, ok)| ok.then_some(t))
                .collect();
        }
        let full = self
            .cfg
            .full
            .client_config(&self.cfg.initiator, self.cfg.target.is_none());
        let mut revoked = Vec::new();
        if h.mix.weight(HostileKind::Revoked) > 0 {
            let Some(ring) = &self.ring else {
                return Err(StormError::Config(
                    "--hostile revoked needs the gateway's key ring to mint the tickets it resumes first: give --key-file"
                        .into(),
                ));
            };
            let mut os = BufferedOsRng::try_new().map_err(|_| StormError::Random)?;
            let first = n + REPLAY_TICKETS;
            let tickets = (0..REVOKED_TICKETS)
                .map(|i| mint::mint_ticket(first + i, ring, self.now_secs, &mut os))
                .collect::<Result<Vec<_>, _>>()?;
            let inputs = hostile::RevokeInputs {
                config: Arc::new(self.cfg.initiator.clone()),
                full: Arc::new(full.clone()),
                local,
                target: self.target,
                now: &rebound_dataplane::runtime::now,
            };
            revoked = hostile::revoke(&inputs, tickets, &mut os)?;
        }
        let pool = HostilePool::build(&PoolInputs {
            mix: &h.mix,
            ring: self.ring.as_ref(),
            now: rebound_dataplane::runtime::now(),
            config: Arc::new(self.cfg.initiator.clone()),
            full,
            local: SocketAddr::new(sources[0], 500),
            target: self.target,
            first_id: n + REPLAY_TICKETS + REVOKED_TICKETS,
            halfopen_tickets: h.tickets,
            replay: &replay,
            revoked: &revoked,
            seed: self.seed,
        })?;
        let sizes: Vec<String> = h
            .mix
            .kinds()
            .map(|k| format!("{} {}", k.label(), pool.len(k)))
            .collect();
        phases.push(PhaseReport::new(
            "hostile",
            ms(t0.elapsed()),
            format!(
                "precomputed {}; {} tickets resumed to be replayed, {} SAs resumed and deleted for their revoked tickets",
                sizes.join(", "),
                replay.len(),
                revoked.len()
            ),
        ));
        Ok(HostilePrep {
            pool: Arc::new(pool),
            sources,
            replay_tickets: replay.len() as u64,
            revoked_tickets: revoked.len() as u64,
        })
    }

    /// Phase 3 while a thread of its own floods the gateway: the clients
    /// start once a quarter of the flood went out.
    fn reconnect_under_flood(
        &self,
        h: &HostileSettings,
        prep: &HostilePrep,
        setup: &PhaseSetup<'_>,
        inputs: Vec<(ClientTicket, SocketAddr)>,
        schedule: &[u64],
    ) -> Result<(PhaseOutcome<()>, Option<FloodOutcome>), StormError> {
        let total = h.flood.unwrap_or(0);
        let sender = HostileSender::new(
            prep.pool.clone(),
            h.mix,
            &prep.sources,
            self.marker,
            self.target,
            self.seed,
            0x7000,
        )?;
        let sent = AtomicU64::new(0);
        std::thread::scope(|s| {
            let f = s.spawn(|| hostile::flood(sender, total, h.flood_rate, &sent));
            while sent.load(Ordering::Relaxed) < total / 4 && !f.is_finished() {
                std::thread::sleep(Duration::from_millis(1));
            }
            let out = run_phase_routed::<ResumeInitiator>(setup, &setup.config, inputs, schedule);
            let flood = f.join().map_err(|_| StormError::Thread)?;
            Ok((out?, Some(flood?)))
        })
    }

    fn write_error(&self, e: &str) -> StormError {
        let (what, path) = if e.starts_with("pcap") {
            ("capture", self.cfg.pcap.clone())
        } else {
            ("key log", self.cfg.keylog.clone())
        };
        StormError::Output {
            what,
            path: path.unwrap_or_default(),
            error: e.to_string(),
        }
    }

    fn report(
        &self,
        phases: Vec<PhaseReport>,
        out: &PhaseOutcome<()>,
        replay: Option<ReplayReport>,
        control: Option<ControlReport>,
    ) -> StormReport {
        let cfg = self.cfg;
        let active = out.active.as_secs_f64();
        let rate = |k: u64| if active > 0.0 { k as f64 / active } else { 0.0 };
        let per_worker: Vec<WorkerRate> = out
            .per_worker
            .iter()
            .enumerate()
            .filter(|(_, k)| **k > 0)
            .map(|(w, &k)| WorkerRate {
                worker: w as u8,
                core: None,
                established: k,
                resumes_per_sec: rate(k),
            })
            .collect();
        let timeouts = out.failures.get("timeout").copied().unwrap_or(0);
        StormReport {
            clients: cfg.clients as u64,
            seed: self.seed,
            target: self.target.to_string(),
            embedded: cfg.target.is_none(),
            workers: if cfg.target.is_none() {
                cfg.gateway.workers
            } else {
                per_worker.len()
            },
            threads: cfg.threads,
            sockets: cfg.sockets,
            arrival: cfg.arrival.to_string(),
            ticket_source: match (&cfg.load_tickets, cfg.tickets) {
                (Some(_), _) => "file",
                (None, TicketSource::Mint) => "mint",
                (None, TicketSource::Full) => "full",
            },
            tickets_only: false,
            saved_tickets: None,
            loaded_tickets: cfg.load_tickets.as_ref().map(|l| TicketFileReport {
                path: l.path.display().to_string(),
                tickets: cfg.clients as u64,
            }),
            phases,
            full: None,
            established: out.established,
            active_secs: active,
            resumes_per_sec: rate(out.established),
            per_worker,
            reconnect_cpu: Vec::new(),
            latency: LatencyReport::from_histogram(&out.latency),
            failures: out.failure_labels(),
            timeouts,
            unfinished: out.unfinished,
            child_errors: out.child_errors,
            nacks: None,
            wire: out.wire(),
            garbage: out.garbage,
            hostile: None,
            faults: FaultReport {
                drop: cfg.fault.drop,
                dup: cfg.fault.dup,
                counts: out.faults,
            },
            resume: ResumeReport {
                mode: self.routes.mode(),
                expect_refused: cfg.expect_refused,
                clients: 0,
                clients_resumed: 0,
                double_accepted: 0,
                double_resumed: 0,
                targets: Vec::new(),
            },
            replay,
            control,
            gateway_workers: Vec::new(),
            gateway_counters: BTreeMap::new(),
            gateway_malformed: BTreeMap::new(),
            pcap_packets: None,
            keylog_entries: None,
        }
    }
}
