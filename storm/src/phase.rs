//! The networked phases: phase 1 with `--full` (every client makes an IKE
//! SA by a full exchange and keeps its ticket), 3 (reconnect) and 4
//! (replay: every client resumes with IKE_SESSION_RESUME + IKE_AUTH). One
//! loop drives them all, generic over the [`StormClient`] it runs per
//! client (a `FullInitiator` or a `ResumeInitiator`).
//!
//! Each storm thread owns a slice of the clients (client `i` belongs to
//! thread `i % threads`), `K` UDP sockets on ephemeral ports (its `j`-th
//! client uses socket `j % K`, so SO_REUSEPORT hashing spreads the clients
//! over the gateway's workers), a map from SPIi to client, a timer heap for
//! the initiators' retransmissions, a fault injector and, with garbage, one
//! more socket for hostile datagrams. It loops: start the clients that are
//! due, fire due timers, send, receive a burst on every socket and hand
//! each datagram to its initiator, send what that produced. A phase with an
//! in-flight bound (phase 1) starts a client only while fewer than its
//! share of that bound are running, so the gateway is kept busy rather
//! than flooded.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::fs::File;
use std::io::{self, BufWriter};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use rebound_engine::client::{ClientTicket, InitiatorConfig, InitiatorStats};
use rebound_engine::keylog::KeyLogWriter;
use rebound_engine::time::Timestamp;

use rebound_dataplane::backend::RxBatch;

use super::StormError;
use super::client::{Done, StormClient};
use super::fault::{FaultConfig, FaultCounts, FaultInjector};
use super::garbage::{GarbageCounts, GarbageMaker};
use super::hostile::{HostileCounts, HostileMix, HostilePool, HostileSender};
use super::pcap::PcapRecorder;
use super::progress::Progress;
use super::report::WireCounts;
use super::socket::Socket;
use rebound_dataplane::runtime::BufferedOsRng;
use rebound_engine::rand::RandomSource as _;

/// The key log the storm writes (JSON lines only).
pub type StormKeyLog = KeyLogWriter<BufWriter<File>, io::Sink>;
/// The capture the storm writes.
pub type StormPcap = PcapRecorder<BufWriter<File>>;

/// Clients a thread starts per loop iteration at most, so a burst of a
/// million does not starve the receive side.
const START_BUDGET: usize = 256;
/// Empty loop iterations before the thread naps.
const IDLE_SPINS: u32 = 32;
/// The longest nap.
const IDLE_NAP: Duration = Duration::from_micros(200);
/// Real tickets each thread keeps to forge garbage from.
const GARBAGE_TEMPLATES: usize = 16;
/// Latency histogram range: 1 µs to 10 minutes.
const LATENCY_MAX_US: u64 = 600_000_000;

/// How a phase runs.
pub struct PhaseSetup<'a> {
    /// Where the clients' datagrams go unless [`run_phase_routed`] names
    /// a gateway per client, and where garbage and hostile datagrams go.
    pub target: SocketAddr,
    /// The address the storm's sockets bind (port 0).
    pub local_ip: IpAddr,
    /// Datagrams carry the non-ESP marker (target port 4500).
    pub marker: bool,
    /// The resumption's settings: what the garbage's forged requests
    /// offer.
    pub config: Arc<InitiatorConfig>,
    pub threads: usize,
    pub sockets: usize,
    pub fault: FaultConfig,
    /// Probability of a hostile datagram after each legitimate one.
    pub garbage: f64,
    pub seed: u64,
    /// Separates this phase's random streams from another's.
    pub stream: u64,
    /// How long after the last start stragglers may take.
    pub timeout: Duration,
    /// At most this many clients running at once, over all threads;
    /// `None`: clients start on their schedule alone.
    pub in_flight: Option<usize>,
    pub pcap: Option<&'a Mutex<StormPcap>>,
    pub keylog: Option<&'a Mutex<StormKeyLog>>,
    pub progress: &'a Progress,
    /// Hostile datagrams paced by the legitimate ones (`--hostile`
    /// without `--hostile-flood`).
    pub hostile: Option<HostilePace>,
}

/// Paced hostile traffic: `rate` datagrams of `mix` per legitimate
/// datagram, from each storm thread's own sockets on `sources`.
#[derive(Clone)]
pub struct HostilePace {
    pub pool: Arc<HostilePool>,
    pub mix: HostileMix,
    pub rate: f64,
    pub sources: Vec<IpAddr>,
}

/// What a phase did.
pub struct PhaseOutcome<O> {
    /// From the phase start until every thread stopped.
    pub duration: Duration,
    /// From the first datagram sent to the last SA established (the span
    /// resumes per second are computed over).
    pub active: Duration,
    pub established: u64,
    /// What each client (by index in the input list) that established an
    /// SA left.
    pub outputs: Vec<Option<O>>,
    /// How each client (by index in the input list) ended.
    pub ends: Vec<ClientEnd>,
    /// Established SAs by responder worker (SPIr's top byte).
    pub per_worker: Vec<u64>,
    /// IKE SAs up but their child SA refused.
    pub child_errors: u64,
    /// Failures by counter label (`Fallback`'s or `FullFailure`'s),
    /// unfinished clients included as "timeout".
    pub failures: BTreeMap<&'static str, u64>,
    /// Clients still running when the phase timed out.
    pub unfinished: u64,
    pub latency: Histogram<u64>,
    pub initiators: InitiatorStats,
    /// Datagrams received on the clients' sockets.
    pub received: u64,
    /// Received datagrams no running client was waiting for.
    pub unmatched: u64,
    pub faults: FaultCounts,
    pub garbage: GarbageCounts,
    pub hostile: HostileCounts,
    /// The first pcap or key log write error.
    pub write_error: Option<String>,
}

impl<O> PhaseOutcome<O> {
    /// Which clients established an SA.
    pub fn established_mask(&self) -> impl Iterator<Item = bool> + '_ {
        self.outputs.iter().map(Option::is_some)
    }

    /// The clients' datagrams, for the report.
    pub fn wire(&self) -> WireCounts {
        WireCounts {
            cookies: self.initiators.cookies_received,
            retransmissions: self.initiators.retransmissions,
            datagrams_sent: self.initiators.sent,
            datagrams_received: self.received,
            ignored: self.initiators.ignored,
            unmatched: self.unmatched,
        }
    }

    /// SAs established per second of the active span.
    pub fn per_sec(&self) -> f64 {
        let active = self.active.as_secs_f64();
        if active > 0.0 {
            self.established as f64 / active
        } else {
            0.0
        }
    }

    /// The failures by label, for the report.
    pub fn failure_labels(&self) -> BTreeMap<String, u64> {
        self.failures
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect()
    }
}

/// How one client of a phase ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientEnd {
    /// `None`: established; else the failure's counter label (`timeout`
    /// for a client cut by the phase timeout, or never started).
    pub failure: Option<&'static str>,
    /// The gateway accepted its ticket (answered IKE_SESSION_RESUME with
    /// Nr), whatever IKE_AUTH brought.
    pub accepted: bool,
    /// Cut by the phase timeout (or never started).
    pub cut: bool,
}

/// A client of one thread.
struct Client<C: StormClient> {
    /// Index in the phase's input list.
    global: usize,
    start_us: u64,
    socket: usize,
    /// The gateway it talks to.
    remote: SocketAddr,
    /// What it starts from, until it starts.
    input: Option<C::Input>,
    init: Option<C>,
    first_send: Option<Instant>,
}

fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, LATENCY_MAX_US, 3).expect("valid histogram bounds")
}

/// Everything one thread owns.
struct StormThread<'a, C: StormClient> {
    setup: &'a PhaseSetup<'a>,
    shared: &'a C::Shared,
    /// The phase start every thread's schedule counts from.
    start: Instant,
    /// The wall clock at `start`, since the Unix epoch: the capture's
    /// timestamps are this plus the monotonic time since (microsecond
    /// resolution; the engine's clock counts milliseconds).
    wall_start: Duration,
    deadline: Instant,
    /// This thread's share of the in-flight bound.
    in_flight: usize,
    clients: Vec<Client<C>>,
    sockets: Vec<Socket>,
    next_start: usize,
    running: HashMap<[u8; 8], u32>,
    timers: BinaryHeap<Reverse<(Timestamp, u32)>>,
    finished: usize,
    fault: FaultInjector,
    garbage: Option<(Socket, GarbageMaker)>,
    hostile: Option<HostileSender>,
    /// Hostile datagrams owed to the legitimate ones sent (pacing).
    hostile_owed: f64,
    rng: BufferedOsRng,
    scratch: Vec<u8>,
    garbage_buf: Vec<u8>,
    /// (timestamp, src, dst, bytes) waiting for the capture lock.
    captured: Vec<(Duration, SocketAddr, SocketAddr, Vec<u8>)>,
    out: ThreadOutcome<C::Output>,
}

struct ThreadOutcome<O> {
    established: Vec<(usize, O)>,
    ends: Vec<(usize, ClientEnd)>,
    per_worker: Vec<u64>,
    child_errors: u64,
    failures: BTreeMap<&'static str, u64>,
    unfinished: u64,
    latency: Option<Histogram<u64>>,
    initiators: InitiatorStats,
    received: u64,
    unmatched: u64,
    faults: FaultCounts,
    garbage: GarbageCounts,
    hostile: HostileCounts,
    first_send: Option<Instant>,
    last_established: Option<Instant>,
    write_error: Option<String>,
    io_error: Option<String>,
}

impl<O> Default for ThreadOutcome<O> {
    fn default() -> Self {
        ThreadOutcome {
            established: Vec::new(),
            ends: Vec::new(),
            per_worker: Vec::new(),
            child_errors: 0,
            failures: BTreeMap::new(),
            unfinished: 0,
            latency: None,
            initiators: InitiatorStats::default(),
            received: 0,
            unmatched: 0,
            faults: FaultCounts::default(),
            garbage: GarbageCounts::default(),
            hostile: HostileCounts::default(),
            first_send: None,
            last_established: None,
            write_error: None,
            io_error: None,
        }
    }
}

fn add_stats(a: &mut InitiatorStats, b: &InitiatorStats) {
    a.sent += b.sent;
    a.retransmissions += b.retransmissions;
    a.cookies_received += b.cookies_received;
    a.ignored += b.ignored;
}

impl<C: StormClient> StormThread<'_, C> {
    fn run(mut self) -> ThreadOutcome<C::Output> {
        let start = self.start;
        let mut idle = 0u32;
        let mut rx = RxBatch::new(rebound_dataplane::backend::MAX_BURST);
        while self.finished < self.clients.len() && Instant::now() < self.deadline {
            let inst = Instant::now();
            let now = rebound_dataplane::runtime::now();
            let w = self.wall_start + inst.duration_since(start);
            let elapsed_us = inst.duration_since(start).as_micros() as u64;
            let mut work = self.start_due(elapsed_us, now, inst, w);
            work |= self.fire_timers(now, inst, w);
            self.flush_all();
            work |= self.receive(&mut rx, now, inst, w);
            self.flush_all();
            self.drain_garbage_answers(&mut rx, w);
            work |= self.hostile_answers(&mut rx, now);
            self.flush_capture();
            if self.out.io_error.is_some() {
                break;
            }
            if work {
                idle = 0;
            } else {
                idle += 1;
                if idle > IDLE_SPINS {
                    std::thread::sleep(self.nap(elapsed_us, now));
                }
            }
        }
        self.flush_all();
        self.flush_capture();
        self.wind_up()
    }

    /// How long to sleep when idle: until the next start or timer, at most
    /// [`IDLE_NAP`].
    fn nap(&self, elapsed_us: u64, now: Timestamp) -> Duration {
        let mut nap = IDLE_NAP;
        if self.running.len() < self.in_flight
            && let Some(c) = self.clients.get(self.next_start)
        {
            nap = nap.min(Duration::from_micros(c.start_us.saturating_sub(elapsed_us)));
        }
        if let Some(Reverse((d, _))) = self.timers.peek() {
            nap = nap.min(Duration::from_millis(d.millis_since(now)));
        }
        nap.max(Duration::from_micros(20))
    }

    fn start_due(&mut self, elapsed_us: u64, now: Timestamp, inst: Instant, w: Duration) -> bool {
        let mut started = 0;
        while started < START_BUDGET
            && self.running.len() < self.in_flight
            && let Some(c) = self.clients.get_mut(self.next_start)
            && c.start_us <= elapsed_us
        {
            let idx = self.next_start;
            self.next_start += 1;
            started += 1;
            let Some(input) = c.input.take() else {
                continue;
            };
            let local = self.sockets[c.socket].local;
            let mut fill = |b: &mut [u8]| self.rng.fill(b);
            match C::start(self.shared, input, local, c.remote, now, &mut fill) {
                Ok(init) => {
                    self.running.insert(init.spi_i(), idx as u32);
                    c.init = Some(init);
                    if self.setup.in_flight.is_some() {
                        // Paced starts: stragglers get the timeout after
                        // the last one.
                        self.deadline = self.deadline.max(inst + self.setup.timeout);
                    }
                    self.transmit(idx, now, inst, w);
                }
                Err(why) => {
                    *self.out.failures.entry(why).or_default() += 1;
                    self.out.ends.push((
                        c.global,
                        ClientEnd {
                            failure: Some(why),
                            accepted: false,
                            cut: false,
                        },
                    ));
                    self.finished += 1;
                    self.setup.progress.finish_one(false);
                }
            }
        }
        started > 0
    }

    fn fire_timers(&mut self, now: Timestamp, inst: Instant, w: Duration) -> bool {
        let mut fired = false;
        while let Some(&Reverse((deadline, idx))) = self.timers.peek()
            && deadline <= now
        {
            self.timers.pop();
            let idx = idx as usize;
            let Some(init) = self.clients[idx].init.as_mut() else {
                continue;
            };
            // A stale entry: the client's timer moved since.
            if init.poll_timeout() != Some(deadline) {
                continue;
            }
            init.handle_timeout(now);
            fired = true;
            self.after_input(idx, now, inst, w);
        }
        fired
    }

    /// After the initiator took input: its event, or what it sends.
    fn after_input(&mut self, idx: usize, now: Timestamp, inst: Instant, w: Duration) {
        let Some(init) = self.clients[idx].init.as_mut() else {
            return;
        };
        if let Some(done) = init.poll_done() {
            self.finish(idx, done, inst);
            return;
        }
        self.transmit(idx, now, inst, w);
    }

    /// Send whatever the initiator has due and arm its timer.
    fn transmit(&mut self, idx: usize, now: Timestamp, inst: Instant, w: Duration) {
        let c = &mut self.clients[idx];
        let Some(init) = c.init.as_mut() else {
            return;
        };
        let mut sent = false;
        while let Some(n) = init.poll_transmit(now, &mut self.scratch) {
            sent = true;
            if c.first_send.is_none() {
                c.first_send = Some(inst);
                if self.out.first_send.is_none() {
                    self.out.first_send = Some(inst);
                }
            }
            let sock = &mut self.sockets[c.socket];
            for _ in 0..self.fault.outgoing() {
                if let Err(e) = sock.queue(c.remote, &self.scratch[..n]) {
                    self.out.io_error.get_or_insert(e.to_string());
                }
                if self.setup.pcap.is_some() {
                    self.captured
                        .push((w, sock.local, c.remote, self.scratch[..n].to_vec()));
                }
            }
            if let Some(h) = self.hostile.as_mut()
                && let Some(pace) = &self.setup.hostile
            {
                self.hostile_owed += pace.rate;
                while self.hostile_owed >= 1.0 {
                    self.hostile_owed -= 1.0;
                    if let Err(e) = h.send_one(now) {
                        self.out.io_error.get_or_insert(e.to_string());
                    }
                }
            }
            if let Some((gsock, maker)) = self.garbage.as_mut()
                && maker.roll(self.setup.garbage)
            {
                maker.make(now, &self.scratch[..n], &mut self.garbage_buf);
                if let Err(e) = gsock.queue(self.setup.target, &self.garbage_buf) {
                    self.out.io_error.get_or_insert(e.to_string());
                }
                if self.setup.pcap.is_some() {
                    self.captured.push((
                        w,
                        gsock.local,
                        self.setup.target,
                        self.garbage_buf.clone(),
                    ));
                }
            }
        }
        if sent && let Some(d) = init.poll_timeout() {
            self.timers.push(Reverse((d, idx as u32)));
        }
    }

    fn finish(&mut self, idx: usize, done: Done<C::Output>, inst: Instant) {
        let c = &mut self.clients[idx];
        let Some(init) = c.init.take() else {
            return;
        };
        self.running.remove(&init.spi_i());
        add_stats(&mut self.out.initiators, &init.stats());
        self.finished += 1;
        let accepted = init.accepted();
        self.out.ends.push((
            c.global,
            ClientEnd {
                failure: match &done {
                    Done::Established { .. } => None,
                    Done::Failed(why) => Some(*why),
                },
                accepted,
                cut: false,
            },
        ));
        match done {
            Done::Established {
                sa,
                child_error,
                output,
            } => {
                self.out.established.push((c.global, output));
                self.out.per_worker[usize::from(sa.spi_r[0])] += 1;
                if child_error {
                    self.out.child_errors += 1;
                }
                if let Some(t0) = c.first_send
                    && let Some(h) = self.out.latency.as_mut()
                {
                    let us = inst.duration_since(t0).as_micros() as u64;
                    h.saturating_record(us.max(1));
                }
                self.out.last_established = Some(inst);
                if let Some(k) = self.setup.keylog
                    && self.out.write_error.is_none()
                {
                    let mut k = k.lock().unwrap_or_else(PoisonError::into_inner);
                    if let Err(e) = k.log(&sa) {
                        self.out.write_error = Some(format!("key log: {e}"));
                    }
                }
                self.setup.progress.finish_one(true);
            }
            Done::Failed(why) => {
                *self.out.failures.entry(why).or_default() += 1;
                self.setup.progress.finish_one(false);
            }
        }
    }

    fn flush_all(&mut self) {
        let socks = self
            .sockets
            .iter_mut()
            .chain(self.garbage.as_mut().map(|(s, _)| s));
        for s in socks {
            if s.pending()
                && let Err(e) = s.flush()
            {
                self.out.io_error.get_or_insert(e.to_string());
            }
        }
    }

    fn receive(&mut self, rx: &mut RxBatch, now: Timestamp, inst: Instant, w: Duration) -> bool {
        let mut any = false;
        for s in 0..self.sockets.len() {
            let n = match self.sockets[s].backend.rx_burst(rx) {
                Ok(n) => n,
                Err(e) => {
                    self.out.io_error.get_or_insert(e.to_string());
                    0
                }
            };
            any |= n > 0;
            for i in 0..n {
                self.out.received += 1;
                let data = rx.datagram(i);
                if self.setup.pcap.is_some() {
                    let from = rx.meta(i).peer;
                    self.captured
                        .push((w, from, self.sockets[s].local, data.to_vec()));
                }
                if !self.fault.incoming() {
                    continue;
                }
                let Some(&idx) = data
                    .get(..8)
                    .and_then(|spi| self.running.get(<&[u8; 8]>::try_from(spi).ok()?))
                else {
                    self.out.unmatched += 1;
                    continue;
                };
                let idx = idx as usize;
                let Some(init) = self.clients[idx].init.as_mut() else {
                    self.out.unmatched += 1;
                    continue;
                };
                let mut fill = |b: &mut [u8]| self.rng.fill(b);
                init.handle(now, data, &mut fill);
                self.after_input(idx, now, inst, w);
            }
        }
        any
    }

    fn drain_garbage_answers(&mut self, rx: &mut RxBatch, w: Duration) {
        let Some((sock, maker)) = self.garbage.as_mut() else {
            return;
        };
        while let Ok(n) = sock.backend.rx_burst(rx) {
            if n == 0 {
                break;
            }
            for i in 0..n {
                maker.answered();
                if self.setup.pcap.is_some() {
                    self.captured
                        .push((w, rx.meta(i).peer, sock.local, rx.datagram(i).to_vec()));
                }
            }
        }
    }

    /// Read the answers to the hostile datagrams (cookies are answered),
    /// and send what is queued.
    fn hostile_answers(&mut self, rx: &mut RxBatch, now: Timestamp) -> bool {
        let Some(h) = self.hostile.as_mut() else {
            return false;
        };
        let r = h.poll(rx, now).and_then(|any| h.flush().map(|()| any));
        match r {
            Ok(any) => any,
            Err(e) => {
                self.out.io_error.get_or_insert(e.to_string());
                false
            }
        }
    }

    fn flush_capture(&mut self) {
        let Some(p) = self.setup.pcap else {
            return;
        };
        if self.captured.is_empty() {
            return;
        }
        let mut p = p.lock().unwrap_or_else(PoisonError::into_inner);
        for (ts, src, dst, bytes) in self.captured.drain(..) {
            if self.out.write_error.is_none()
                && let Err(e) = p.record(ts, src, dst, &bytes)
            {
                self.out.write_error = Some(format!("pcap: {e}"));
            }
        }
    }

    /// The phase is over: count the clients still running as timeouts.
    fn wind_up(mut self) -> ThreadOutcome<C::Output> {
        for c in &mut self.clients {
            let accepted = if let Some(init) = c.init.take() {
                add_stats(&mut self.out.initiators, &init.stats());
                init.accepted()
            } else if c.input.take().is_some() {
                false
            } else {
                continue;
            };
            self.out.unfinished += 1;
            self.out.ends.push((
                c.global,
                ClientEnd {
                    failure: Some("timeout"),
                    accepted,
                    cut: true,
                },
            ));
        }
        if self.out.unfinished > 0 {
            *self.out.failures.entry("timeout").or_default() += self.out.unfinished;
        }
        self.out.faults = self.fault.counts();
        if let Some((_, maker)) = &self.garbage {
            self.out.garbage = maker.counts();
        }
        if let Some(h) = &self.hostile {
            self.out.hostile = h.counts();
        }
        self.out
    }
}

/// Runs one phase: client `i` starts from `inputs[i]` (and `shared`)
/// `schedule[i]` microseconds after the phase start (or later, waiting for
/// room under `setup.in_flight`), with `setup.target`.
pub fn run_phase<C: StormClient>(
    setup: &PhaseSetup<'_>,
    shared: &C::Shared,
    inputs: Vec<C::Input>,
    schedule: &[u64],
) -> Result<PhaseOutcome<C::Output>, StormError> {
    let routed = inputs.into_iter().map(|i| (i, setup.target)).collect();
    run_phase_routed::<C>(setup, shared, routed, schedule)
}

/// [`run_phase`] with a gateway per client: client `i` talks to
/// `inputs[i].1`.
pub fn run_phase_routed<C: StormClient>(
    setup: &PhaseSetup<'_>,
    shared: &C::Shared,
    inputs: Vec<(C::Input, SocketAddr)>,
    schedule: &[u64],
) -> Result<PhaseOutcome<C::Output>, StormError> {
    let n = inputs.len();
    let threads = setup.threads.clamp(1, n.max(1));
    let k = setup.sockets.max(1);
    let in_flight = setup
        .in_flight
        .map_or(usize::MAX, |f| f.div_ceil(threads).max(1));
    let mut slices: Vec<Vec<Client<C>>> = (0..threads)
        .map(|_| Vec::with_capacity(n / threads + 1))
        .collect();
    let mut templates: Vec<Vec<ClientTicket>> = vec![Vec::new(); threads];
    for (i, (input, remote)) in inputs.into_iter().enumerate() {
        let th = i % threads;
        let j = slices[th].len();
        if setup.garbage > 0.0
            && templates[th].len() < GARBAGE_TEMPLATES
            && let Some(t) = C::template(&input)
        {
            templates[th].push(t.clone());
        }
        slices[th].push(Client {
            global: i,
            start_us: schedule.get(i).copied().unwrap_or(0),
            socket: j % k,
            remote,
            input: Some(input),
            init: None,
            first_send: None,
        });
    }
    let last_start = schedule.iter().copied().max().unwrap_or(0);
    let mut workers = Vec::with_capacity(threads);
    for (th, (clients, templates)) in slices.into_iter().zip(templates).enumerate() {
        let sockets = (0..k.min(clients.len()).max(1))
            .map(|_| Socket::bind(setup.local_ip, setup.marker))
            .collect::<Result<Vec<_>, _>>()?;
        let garbage = if setup.garbage > 0.0 {
            let sock = Socket::bind(setup.local_ip, setup.marker)?;
            let maker = GarbageMaker::new(
                setup.seed,
                setup.stream.wrapping_mul(1 << 16) + 0x8000 + th as u64,
                templates,
                setup.config.clone(),
                sock.local,
                setup.target,
            );
            Some((sock, maker))
        } else {
            None
        };
        let hostile = match &setup.hostile {
            Some(p) => Some(HostileSender::new(
                p.pool.clone(),
                p.mix,
                &p.sources,
                setup.marker,
                setup.target,
                setup.seed,
                setup.stream.wrapping_mul(1 << 16) + 0x4000 + th as u64,
            )?),
            None => None,
        };
        workers.push((clients, sockets, garbage, hostile, th as u64));
    }
    let start = Instant::now();
    let wall_start = super::since_epoch(rebound_dataplane::runtime::now());
    let deadline = start + Duration::from_micros(last_start) + setup.timeout;
    let results: Vec<std::thread::Result<ThreadOutcome<C::Output>>> = std::thread::scope(|s| {
        let handles: Vec<_> = workers
            .into_iter()
            .map(|(clients, sockets, garbage, hostile, th)| {
                let rng = BufferedOsRng::try_new();
                s.spawn(move || {
                    let Ok(rng) = rng else {
                        return ThreadOutcome {
                            io_error: Some("the OS random generator failed".into()),
                            ..ThreadOutcome::default()
                        };
                    };
                    StormThread {
                        setup,
                        shared,
                        start,
                        wall_start,
                        deadline,
                        in_flight,
                        running: HashMap::with_capacity(clients.len()),
                        clients,
                        sockets,
                        next_start: 0,
                        timers: BinaryHeap::new(),
                        finished: 0,
                        fault: FaultInjector::new(
                            setup.fault,
                            setup.seed,
                            setup.stream.wrapping_mul(1 << 16) + th,
                        ),
                        garbage,
                        hostile,
                        hostile_owed: 0.0,
                        rng,
                        scratch: vec![0u8; rebound_dataplane::backend::SLOT_LEN],
                        garbage_buf: Vec::with_capacity(1024),
                        captured: Vec::new(),
                        out: ThreadOutcome {
                            per_worker: vec![0; 256],
                            latency: Some(new_histogram()),
                            ..ThreadOutcome::default()
                        },
                    }
                    .run()
                })
            })
            .collect();
        setup
            .progress
            .watch(|| handles.iter().all(|h| h.is_finished()));
        handles.into_iter().map(|h| h.join()).collect()
    });
    let duration = start.elapsed();
    merge(results, n, duration)
}

impl<O> PhaseOutcome<O> {
    /// A phase that did not run (`--tickets-only`).
    pub fn empty() -> Self {
        merge(Vec::new(), 0, Duration::ZERO).expect("nothing to fail")
    }
}

fn merge<O>(
    results: Vec<std::thread::Result<ThreadOutcome<O>>>,
    n: usize,
    duration: Duration,
) -> Result<PhaseOutcome<O>, StormError> {
    let mut o = PhaseOutcome {
        duration,
        active: Duration::ZERO,
        established: 0,
        outputs: std::iter::repeat_with(|| None).take(n).collect(),
        ends: vec![
            ClientEnd {
                failure: Some("timeout"),
                accepted: false,
                cut: true,
            };
            n
        ],
        per_worker: vec![0; 256],
        child_errors: 0,
        failures: BTreeMap::new(),
        unfinished: 0,
        latency: new_histogram(),
        initiators: InitiatorStats::default(),
        received: 0,
        unmatched: 0,
        faults: FaultCounts::default(),
        garbage: GarbageCounts::default(),
        hostile: HostileCounts::default(),
        write_error: None,
    };
    let mut first: Option<Instant> = None;
    let mut last: Option<Instant> = None;
    for r in results {
        let t = r.map_err(|_| StormError::Thread)?;
        if let Some(e) = t.io_error {
            return Err(StormError::Socket(e));
        }
        for (i, output) in t.established {
            o.established += 1;
            if let Some(m) = o.outputs.get_mut(i) {
                *m = Some(output);
            }
        }
        for (i, end) in t.ends {
            if let Some(e) = o.ends.get_mut(i) {
                *e = end;
            }
        }
        for (a, b) in o.per_worker.iter_mut().zip(&t.per_worker) {
            *a += b;
        }
        o.child_errors += t.child_errors;
        for (k, v) in t.failures {
            *o.failures.entry(k).or_default() += v;
        }
        o.unfinished += t.unfinished;
        if let Some(h) = &t.latency {
            // Same bounds on both sides: cannot fail.
            let _ = o.latency.add(h);
        }
        add_stats(&mut o.initiators, &t.initiators);
        o.received += t.received;
        o.unmatched += t.unmatched;
        o.faults.add(&t.faults);
        o.garbage.add(&t.garbage);
        o.hostile.add(&t.hostile);
        if o.write_error.is_none() {
            o.write_error = t.write_error;
        }
        first = match (first, t.first_send) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        last = match (last, t.last_established) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }
    if let (Some(f), Some(l)) = (first, last) {
        o.active = l.saturating_duration_since(f);
    }
    Ok(o)
}
