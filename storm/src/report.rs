//! What a storm reports: [`StormReport`], serialised by `--json FILE` and
//! printed as a table by [`StormReport::summary`].

use std::collections::BTreeMap;
use std::fmt::Write as _;

use hdrhistogram::Histogram;
use rebound_engine::responder::{Counter, ResponderCounters};
use serde::Serialize;

use rebound_dataplane::backend::BackendStats;
use rebound_dataplane::stats::{ControlSnapshot, GatewayStats, WorkerIo, WorkerSnapshot};
use rebound_engine::slow_path::SlowPathCounter;

use super::fault::FaultCounts;
use super::garbage::GarbageCounts;
use super::hostile::{HostileKind, HostileReport};

/// One phase and how long it took.
#[derive(Debug, Clone, Serialize)]
pub struct PhaseReport {
    /// `tickets`, `drop`, `hostile` (its precomputation), `reconnect`,
    /// `flood` (the hostile flood thread), `replay` or `settle`.
    pub name: &'static str,
    pub duration_ms: f64,
    /// One line on what it did.
    pub detail: String,
    /// The networked phases 1 (`--full`) and 3: SAs established per
    /// second over the span from the first datagram to the last SA.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub per_sec: Option<f64>,
    /// The networked phases 1 (`--full`) and 3: from a client's first
    /// datagram to its SA.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency: Option<LatencyReport>,
}

impl PhaseReport {
    /// A phase with no rate of its own.
    pub fn new(name: &'static str, duration_ms: f64, detail: String) -> Self {
        PhaseReport {
            name,
            duration_ms,
            detail,
            per_sec: None,
            latency: None,
        }
    }
}

/// Latency from a client's first datagram to its established SA.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct LatencyReport {
    pub samples: u64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
    pub mean_us: f64,
}

impl LatencyReport {
    pub fn from_histogram(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return LatencyReport::default();
        }
        LatencyReport {
            samples: h.len(),
            p50_us: h.value_at_quantile(0.50),
            p90_us: h.value_at_quantile(0.90),
            p99_us: h.value_at_quantile(0.99),
            p999_us: h.value_at_quantile(0.999),
            max_us: h.max(),
            mean_us: h.mean(),
        }
    }
}

/// Resumes completed by one gateway worker.
#[derive(Debug, Clone, Serialize)]
pub struct WorkerRate {
    pub worker: u8,
    /// The core it is pinned to (embedded gateway with `--cores`).
    pub core: Option<usize>,
    pub established: u64,
    /// `established` over the reconnect phase's active span.
    pub resumes_per_sec: f64,
}

/// One embedded gateway worker's CPU time during the reconnect phase,
/// split into user mode (the engine and the poll loop) and the kernel (the
/// UDP path: recvmmsg, sendmmsg), from /proc with 10 ms resolution.
#[derive(Debug, Clone, Serialize)]
pub struct WorkerCpu {
    pub worker: u8,
    pub user_ms: u64,
    pub system_ms: u64,
    /// Per resume established by this worker.
    pub user_us_per_resume: f64,
    pub system_us_per_resume: f64,
}

impl WorkerCpu {
    /// The difference between two snapshots of one worker.
    pub fn between(before: &WorkerSnapshot, after: &WorkerSnapshot) -> WorkerCpu {
        let resumes = after
            .responder
            .get(Counter::Established)
            .saturating_sub(before.responder.get(Counter::Established));
        let user_ms = after.cpu_user_ms.saturating_sub(before.cpu_user_ms);
        let system_ms = after.cpu_system_ms.saturating_sub(before.cpu_system_ms);
        let per = |ms: u64| {
            if resumes == 0 {
                0.0
            } else {
                ms as f64 * 1000.0 / resumes as f64
            }
        };
        WorkerCpu {
            worker: after.id,
            user_ms,
            system_ms,
            user_us_per_resume: per(user_ms),
            system_us_per_resume: per(system_ms),
        }
    }
}

/// What one gateway did with the tickets presented to it in a resume
/// phase (3 or 4).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TargetReport {
    /// The gateway's address.
    pub target: String,
    /// IKE_SESSION_RESUME exchanges started with it.
    pub presented: u64,
    /// Answered with Nr (the ticket accepted), whatever IKE_AUTH brought.
    pub accepted: u64,
    /// IKE_AUTH completed: an SA.
    pub resumed: u64,
    /// Refused with TICKET_NACK (at IKE_SESSION_RESUME or IKE_AUTH).
    pub refused: u64,
    /// No answer before the client gave up or the phase timed out.
    pub no_answer: u64,
    /// Other outcomes by `Fallback` label.
    pub other: BTreeMap<String, u64>,
}

impl TargetReport {
    pub fn new(target: String) -> Self {
        TargetReport {
            target,
            ..TargetReport::default()
        }
    }
}

/// Phase 3 gateway by gateway (`--resume-targets`; else the one target).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResumeReport {
    /// `spread` (client i to gateway i mod n) or `race` (every client to
    /// every gateway at once).
    pub mode: &'static str,
    /// `--expect-refused`: every ticket had to be refused.
    pub expect_refused: bool,
    /// Clients that presented a ticket.
    pub clients: u64,
    /// Clients that resumed on at least one gateway.
    pub clients_resumed: u64,
    /// Answers with Nr beyond each client's first (race): gateways that
    /// accepted a ticket another gateway accepted too.
    pub double_accepted: u64,
    /// IKE_AUTH completed beyond each client's first (race): tickets used
    /// on two gateways (single use across gateways broken).
    pub double_resumed: u64,
    pub targets: Vec<TargetReport>,
}

/// `--save-tickets` or `--load-tickets`: the file and its tickets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TicketFileReport {
    pub path: String,
    pub tickets: u64,
}

/// Phase 4: the original tickets presented again.
#[derive(Debug, Clone, Serialize)]
pub struct ReplayReport {
    /// Presentations: the tickets of the clients that resumed in phase 3,
    /// once each (`--spread`) or to every gateway (`--race`).
    pub presented: u64,
    /// Replays the gateway accepted: must be 0 (RFC 5723 §4.3.1, single
    /// use).
    pub accepted: u64,
    /// Replays refused with TICKET_NACK.
    pub refused: u64,
    /// Other outcomes by `Fallback` label (timeouts included).
    pub other: BTreeMap<String, u64>,
    pub duration_ms: f64,
    /// Gateway by gateway.
    pub targets: Vec<TargetReport>,
}

/// What a networked phase's clients counted on the wire.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct WireCounts {
    /// N(COOKIE) answers the clients acted upon.
    pub cookies: u64,
    pub retransmissions: u64,
    pub datagrams_sent: u64,
    pub datagrams_received: u64,
    /// Received datagrams the initiators ignored (late duplicates,
    /// answers to retransmissions).
    pub ignored: u64,
    /// Received datagrams for no running client.
    pub unmatched: u64,
}

/// Phase 1 by full exchanges (`--full`): what the clients did, and the
/// slow path's own counts (embedded gateway).
#[derive(Debug, Clone, Serialize)]
pub struct FullReport {
    /// The IKE proposals offered (`--ike`).
    pub ike: String,
    /// The key-exchange group of the first IKE_SA_INIT (IANA number).
    pub group: u16,
    /// Exchanges under way at once at most (`--in-flight`).
    pub in_flight: usize,
    /// Full exchanges the clients completed (IKE SA up).
    pub established: u64,
    /// Of those, the ones that brought a ticket: phase 3's clients.
    pub tickets: u64,
    /// Seconds from the first datagram to the last SA established.
    pub active_secs: f64,
    pub full_exchanges_per_sec: f64,
    /// Phase 3's resumes per second over `full_exchanges_per_sec`.
    pub resume_speedup: Option<f64>,
    pub latency: LatencyReport,
    /// Clients without a ticket by reason: the exchange's failure label
    /// (`timeout` includes clients cut by the phase timeout), or
    /// `ticket_nacked`, `ticket_acked`, `no_ticket` for an SA without one.
    pub failures: BTreeMap<String, u64>,
    pub timeouts: u64,
    /// Of those, clients cut by the phase timeout.
    pub unfinished: u64,
    pub child_errors: u64,
    /// Phase 1's datagrams, flattened into the JSON object.
    #[serde(flatten)]
    pub wire: WireCounts,
    pub faults: FaultCounts,
    /// Embedded gateway: every non-zero counter of the slow path
    /// (`init_requests`, `established`, `cookies_sent` ...) at the end.
    pub slow_path: Option<BTreeMap<String, u64>>,
}

impl FullReport {
    /// Clients without a ticket.
    pub fn without_ticket(&self) -> u64 {
        self.failures.values().sum()
    }

    /// The slow path's count of completed full exchanges (embedded).
    pub fn gateway_established(&self) -> Option<u64> {
        let m = self.slow_path.as_ref()?;
        Some(
            m.get(SlowPathCounter::Established.label())
                .copied()
                .unwrap_or(0),
        )
    }
}

/// The fault injector's settings and what it did.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct FaultReport {
    pub drop: f64,
    pub dup: f64,
    #[serde(flatten)]
    pub counts: FaultCounts,
}

/// The embedded gateway's control plane at the end: its counters as the
/// gateway keeps them (flattened into the JSON object), and how long the
/// storm waited for them.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ControlReport {
    #[serde(flatten)]
    pub counts: ControlSnapshot,
    /// How long the storm waited for `received` to reach the SAs the
    /// clients established.
    pub settle_ms: f64,
}

/// One embedded gateway worker at the end: the worker's own counters
/// (flattened into the JSON object) and its backend's (under `backend`:
/// both count `rx_datagrams` and `tx_datagrams`).
#[derive(Debug, Clone, Serialize)]
pub struct WorkerSummary {
    pub id: u8,
    /// Resumes its responder established.
    pub established: u64,
    pub half_open: u64,
    #[serde(flatten)]
    pub io: WorkerIo,
    pub backend: BackendStats,
}

impl WorkerSummary {
    pub fn new(w: &WorkerSnapshot) -> Self {
        WorkerSummary {
            id: w.id,
            established: w.responder.get(Counter::Established),
            half_open: w.half_open,
            io: w.io,
            backend: w.backend,
        }
    }
}

/// Everything a storm measured.
#[derive(Debug, Clone, Serialize)]
pub struct StormReport {
    pub clients: u64,
    /// The seed of the arrival times, faults and garbage (`--seed`).
    pub seed: u64,
    pub target: String,
    /// The gateway ran in this process.
    pub embedded: bool,
    /// Gateway workers (embedded), or those seen in SPIr (separate).
    pub workers: usize,
    pub threads: usize,
    pub sockets: usize,
    pub arrival: String,
    /// `mint`, `full` or `file` (`--load-tickets`).
    pub ticket_source: &'static str,
    /// `--tickets-only`: the storm stopped after phase 1.
    pub tickets_only: bool,
    /// `--save-tickets`: where phase 1's tickets went.
    pub saved_tickets: Option<TicketFileReport>,
    /// `--load-tickets`: where the clients' tickets came from.
    pub loaded_tickets: Option<TicketFileReport>,
    pub phases: Vec<PhaseReport>,
    /// Phase 1 by full exchanges (`--full`).
    pub full: Option<FullReport>,
    /// SAs the clients established in phase 3 (over every gateway: with
    /// `--race` a ticket resumed twice counts twice).
    pub established: u64,
    /// Seconds from the first datagram to the last SA established.
    pub active_secs: f64,
    pub resumes_per_sec: f64,
    pub per_worker: Vec<WorkerRate>,
    /// Embedded gateway: each worker's CPU time in the reconnect phase.
    pub reconnect_cpu: Vec<WorkerCpu>,
    pub latency: LatencyReport,
    /// Phase 3's clients that did not resume, by `Fallback` label; clients
    /// still running at the phase timeout count as `timeout` (with
    /// `--race`, a client that resumed on any gateway is no failure).
    pub failures: BTreeMap<String, u64>,
    /// All timeouts (given up by the initiator or cut by the phase timeout).
    pub timeouts: u64,
    /// Of those, clients cut by the phase timeout.
    pub unfinished: u64,
    /// SAs up whose child SA was refused.
    pub child_errors: u64,
    /// TICKET_NACKs by reason (the gateway's `nack_*` counters; embedded
    /// only, over the whole storm, garbage and replay included).
    pub nacks: Option<BTreeMap<String, u64>>,
    /// Phase 3's datagrams, flattened into the JSON object.
    #[serde(flatten)]
    pub wire: WireCounts,
    pub garbage: GarbageCounts,
    /// `--hostile`: what each kind sent and got.
    pub hostile: Option<HostileReport>,
    pub faults: FaultReport,
    /// Phase 3 gateway by gateway.
    pub resume: ResumeReport,
    pub replay: Option<ReplayReport>,
    pub control: Option<ControlReport>,
    pub gateway_workers: Vec<WorkerSummary>,
    /// Every non-zero responder counter, summed over the workers (embedded).
    pub gateway_counters: BTreeMap<String, u64>,
    /// Malformed requests by codec reason, summed over the workers.
    pub gateway_malformed: BTreeMap<String, u64>,
    pub pcap_packets: Option<u64>,
    pub keylog_entries: Option<u64>,
}

fn secs(ms: f64) -> String {
    format!("{:.2} s", ms / 1000.0)
}

pub(super) fn map_line(m: &BTreeMap<String, u64>) -> String {
    if m.is_empty() {
        return "none".into();
    }
    m.iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl StormReport {
    /// The embedded gateway's final counts into the report: per-worker
    /// resumes from the responders' `established` counters, NACKs by
    /// reason, the control plane.
    pub fn add_gateway(&mut self, stats: &GatewayStats, cores: &[usize], settle_ms: f64) {
        let report = self;
        let active = report.active_secs;
        let mut total = ResponderCounters::default();
        report.per_worker = stats
            .workers
            .iter()
            .map(|w| {
                let k = w.responder.get(Counter::Established);
                WorkerRate {
                    worker: w.id,
                    core: cores.get(usize::from(w.id)).copied(),
                    established: k,
                    resumes_per_sec: if active > 0.0 { k as f64 / active } else { 0.0 },
                }
            })
            .collect();
        report.gateway_workers = stats
            .workers
            .iter()
            .map(|w| {
                total.merge(&w.responder);
                WorkerSummary::new(w)
            })
            .collect();
        report.gateway_counters = total
            .iter()
            .filter(|(_, v)| *v > 0)
            .map(|(c, v)| (c.label().to_string(), v))
            .collect();
        report.nacks = Some(
            total
                .iter()
                .filter(|(c, v)| *v > 0 && c.label().starts_with("nack_"))
                .map(|(c, v)| (c.label().trim_start_matches("nack_").to_string(), v))
                .collect(),
        );
        report.gateway_malformed = total
            .malformed()
            .iter()
            .map(|(l, v)| (l.to_string(), *v))
            .collect();
        report.control = Some(ControlReport {
            counts: stats.control,
            settle_ms,
        });
        if let Some(f) = report.full.as_mut() {
            f.slow_path = Some(
                stats
                    .control
                    .slow_path_counters
                    .iter()
                    .filter(|(_, v)| *v > 0)
                    .map(|(c, v)| (c.label().to_string(), v))
                    .collect(),
            );
        }
    }

    /// Clients that should have resumed and did not.
    pub fn failed(&self) -> u64 {
        self.failures.values().sum()
    }

    /// The human table `rebound storm` prints.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let w = &mut s;
        let gw = if self.embedded {
            format!(
                "embedded gateway {} ({} worker{})",
                self.target,
                self.workers,
                if self.workers == 1 { "" } else { "s" }
            )
        } else {
            format!("gateway {}", self.target)
        };
        let _ = writeln!(
            w,
            "rebound storm: {} clients against {gw}; arrival {}, {} thread{} x {} sockets, seed {}",
            self.clients,
            self.arrival,
            self.threads,
            if self.threads == 1 { "" } else { "s" },
            self.sockets,
            self.seed
        );
        for p in &self.phases {
            let label = match p.name {
                "tickets" => "phase 1 (tickets)",
                "drop" => "phase 2 (drop)",
                "reconnect" => "phase 3 (reconnect)",
                "replay" => "phase 4 (replay)",
                "save" => "tickets saved",
                "hostile" => "hostile setup",
                "flood" => "hostile flood",
                _ => "control plane",
            };
            let _ = write!(w, "{label}: {} ({})", p.detail, secs(p.duration_ms));
            if let (Some(r), Some(l)) = (p.per_sec, &p.latency) {
                let _ = write!(
                    w,
                    ": {r:.0}/s, latency p50 {} p99 {} us",
                    l.p50_us, l.p99_us
                );
            }
            let _ = writeln!(w);
        }
        if self.tickets_only {
            if let Some(f) = &self.full {
                full_summary(w, f);
            }
            let _ = writeln!(w, "tickets only: phases 2 to 4 skipped (--tickets-only)");
            return s;
        }
        let _ = writeln!(
            w,
            "{:<22} {:.0}/s overall ({} SAs in {:.2} s active)",
            "resumes per second", self.resumes_per_sec, self.established, self.active_secs
        );
        if let Some(f) = &self.full {
            full_summary(w, f);
        }
        resume_summary(w, &self.resume);
        for r in &self.per_worker {
            let core = r.core.map(|c| format!(" (core {c})")).unwrap_or_default();
            let _ = writeln!(
                w,
                "{:<22} {:>8} resumes {:>10.0}/s",
                format!("  worker {}{core}", r.worker),
                r.established,
                r.resumes_per_sec
            );
        }
        for c in &self.reconnect_cpu {
            let _ = writeln!(
                w,
                "{:<22} user {} ms, kernel {} ms in phase 3: {:.1} us + {:.1} us per resume",
                format!("  worker {} cpu", c.worker),
                c.user_ms,
                c.system_ms,
                c.user_us_per_resume,
                c.system_us_per_resume
            );
        }
        let l = &self.latency;
        let _ = writeln!(
            w,
            "{:<22} p50 {}  p90 {}  p99 {}  p99.9 {}  max {}",
            "latency (us)", l.p50_us, l.p90_us, l.p99_us, l.p999_us, l.max_us
        );
        let _ = writeln!(w, "{:<22} {}", "failures", map_line(&self.failures));
        let _ = writeln!(
            w,
            "{:<22} {} ({} cut by the phase timeout)",
            "timeouts", self.timeouts, self.unfinished
        );
        let nacks = match &self.nacks {
            Some(m) => map_line(m),
            None => "not known (separate gateway)".into(),
        };
        let _ = writeln!(w, "{:<22} {nacks}", "NACKs (gateway)");
        let _ = writeln!(w, "{:<22} {}", "cookies received", self.wire.cookies);
        let _ = writeln!(
            w,
            "{:<22} {} (of {} datagrams sent, {} received)",
            "retransmissions",
            self.wire.retransmissions,
            self.wire.datagrams_sent,
            self.wire.datagrams_received
        );
        if self.child_errors > 0 {
            let _ = writeln!(w, "{:<22} {}", "child SAs refused", self.child_errors);
        }
        let g = &self.garbage;
        if g.sent > 0 {
            let _ = writeln!(
                w,
                "{:<22} {} (random {}, truncated {}, forged ticket {}, flipped ticket {}, \
                 IKE_AUTH random SPI {}); {} answers ignored",
                "garbage sent",
                g.sent,
                g.random_bytes,
                g.truncated,
                g.forged_ticket,
                g.flipped_ticket,
                g.auth_random_spi,
                g.answers
            );
        }
        if let Some(h) = &self.hostile {
            hostile_summary(w, h);
        }
        let f = &self.faults;
        if f.drop > 0.0 || f.dup > 0.0 {
            let _ = writeln!(
                w,
                "{:<22} drop {} dup {}: {} sends dropped, {} receives dropped, {} duplicated",
                "faults injected",
                f.drop,
                f.dup,
                f.counts.dropped_out,
                f.counts.dropped_in,
                f.counts.duplicated
            );
        }
        if let Some(ControlReport { counts: c, .. }) = &self.control {
            let slow = self
                .full
                .as_ref()
                .and_then(FullReport::gateway_established)
                .map(|k| format!("{k} full exchanges and "))
                .unwrap_or_default();
            let _ = writeln!(
                w,
                "{:<22} {slow}received {} resumed SAs, {} duplicates, {} in the SA table{}",
                "control plane",
                c.received,
                c.duplicates,
                c.sa_table,
                if c.abandoned > 0 {
                    format!(", {} abandoned at shutdown", c.abandoned)
                } else {
                    String::new()
                }
            );
        }
        if let Some(n) = self.pcap_packets {
            let _ = writeln!(w, "{:<22} {n} packets", "pcap");
        }
        if let Some(n) = self.keylog_entries {
            let _ = writeln!(w, "{:<22} {n} SAs", "key log");
        }
        s
    }
}

/// Phase 1's full exchanges (`--full`).
fn full_summary(w: &mut String, f: &FullReport) {
    let speedup = f
        .resume_speedup
        .map(|x| format!("; resumption is {x:.1} times as fast"))
        .unwrap_or_default();
    let _ = writeln!(
        w,
        "{:<22} {:.0}/s in phase 1 ({} SAs in {:.2} s active, {}, {} at once){speedup}",
        "full exchanges/s",
        f.full_exchanges_per_sec,
        f.established,
        f.active_secs,
        f.ike,
        f.in_flight
    );
    let _ = writeln!(
        w,
        "{:<22} {}; {} cookies, {} retransmissions, {} timeouts",
        "  phase 1 failures",
        map_line(&f.failures),
        f.wire.cookies,
        f.wire.retransmissions,
        f.timeouts
    );
}

/// Phase 3 gateway by gateway: printed with several gateways, a race or
/// `--expect-refused`.
fn resume_summary(w: &mut String, r: &ResumeReport) {
    if r.targets.len() < 2 && r.mode != "race" && !r.expect_refused {
        return;
    }
    let expect = if r.expect_refused {
        "; every ticket expected refused"
    } else {
        ""
    };
    let _ = writeln!(
        w,
        "{:<22} {} over {} gateway{}: {} of {} clients resumed{expect}",
        "resume targets",
        r.mode,
        r.targets.len(),
        if r.targets.len() == 1 { "" } else { "s" },
        r.clients_resumed,
        r.clients
    );
    for t in &r.targets {
        let other = if t.other.is_empty() {
            String::new()
        } else {
            format!(", other: {}", map_line(&t.other))
        };
        let _ = writeln!(
            w,
            "{:<22} {} presented: {} answered Nr, {} resumed, {} refused (TICKET_NACK), {} no answer{other}",
            format!("  {}", t.target),
            t.presented,
            t.accepted,
            t.resumed,
            t.refused,
            t.no_answer
        );
    }
    if r.mode == "race" {
        let _ = writeln!(
            w,
            "{:<22} {} (a second gateway answered Nr for a ticket another had accepted)",
            "  double accepted", r.double_accepted
        );
        let label = if r.double_resumed > 0 {
            "  DOUBLE RESUMED"
        } else {
            "  double resumed"
        };
        let _ = writeln!(
            w,
            "{label:<22} {} (a ticket completed IKE_AUTH on a second gateway)",
            r.double_resumed
        );
    }
}

/// The hostile traffic's lines of the summary: how it was sent, then one
/// line per kind with what the gateway answered.
fn hostile_summary(w: &mut String, h: &HostileReport) {
    let how = match (h.rate, h.flood) {
        (Some(r), _) => format!("x{r} of {} legitimate datagrams", h.legit_datagrams),
        (None, Some(n)) => format!(
            "a flood of {n} in {:.2} s{}",
            h.flood_secs.unwrap_or(0.0),
            h.flood_rate
                .map(|r| format!(", at most {r}/s"))
                .unwrap_or_default()
        ),
        (None, None) => String::new(),
    };
    let _ = writeln!(
        w,
        "{:<22} {} sent ({how}; mix {}; {} source address{})",
        "hostile",
        h.sent,
        h.mix,
        h.sources,
        if h.sources == 1 { "" } else { "es" }
    );
    for (k, c) in &h.kinds {
        let mut parts = vec![format!("{} sent", c.sent)];
        if c.cookie_retries > 0 {
            parts.push(format!("{} with a cookie", c.cookie_retries));
        }
        parts.push(format!("{} answers", c.answers));
        for (n, what) in [
            (c.nacks, "TICKET_NACK"),
            (c.cookies, "COOKIE"),
            (c.accepted, "half-open"),
            (c.init_answers, "IKE_SA_INIT answered"),
            (c.auth_refused, "IKE_AUTH refused"),
            (c.established, "IKE_AUTH ACCEPTED"),
            (c.other, "other"),
        ] {
            if n > 0 {
                parts.push(format!("{n} {what}"));
            }
        }
        let _ = writeln!(w, "{:<22} {}", format!("  {k}"), parts.join(", "));
    }
    let wrong = [
        HostileKind::Forged,
        HostileKind::Replayed,
        HostileKind::Revoked,
    ]
    .iter()
    .map(|&k| h.kind(k).accepted)
    .sum::<u64>()
        + h.kind(HostileKind::WrongAuth).established;
    if wrong > 0 {
        let _ = writeln!(
            w,
            "{:<22} {wrong} forged, replayed, revoked or wrong-AUTH exchanges were accepted",
            "  HOSTILE ACCEPTED"
        );
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// An embedded storm of 100 clients, all resumed, their 100 tickets
    /// replayed and refused, every SA in the control plane once.
    pub(crate) fn clean() -> StormReport {
        StormReport {
            clients: 100,
            seed: 1,
            target: "127.0.0.1:500".into(),
            embedded: true,
            workers: 1,
            threads: 1,
            sockets: 1,
            arrival: "burst".into(),
            ticket_source: "mint",
            tickets_only: false,
            saved_tickets: None,
            loaded_tickets: None,
            phases: Vec::new(),
            full: None,
            established: 100,
            active_secs: 1.0,
            resumes_per_sec: 100.0,
            per_worker: Vec::new(),
            reconnect_cpu: Vec::new(),
            latency: LatencyReport::default(),
            failures: BTreeMap::new(),
            timeouts: 0,
            unfinished: 0,
            child_errors: 0,
            nacks: Some(BTreeMap::new()),
            wire: WireCounts {
                datagrams_sent: 400,
                datagrams_received: 400,
                ..WireCounts::default()
            },
            garbage: GarbageCounts::default(),
            hostile: None,
            faults: FaultReport {
                drop: 0.0,
                dup: 0.0,
                counts: FaultCounts::default(),
            },
            resume: ResumeReport {
                mode: "spread",
                expect_refused: false,
                clients: 100,
                clients_resumed: 100,
                double_accepted: 0,
                double_resumed: 0,
                targets: vec![TargetReport {
                    presented: 100,
                    accepted: 100,
                    resumed: 100,
                    ..TargetReport::new("127.0.0.1:500".into())
                }],
            },
            replay: Some(ReplayReport {
                presented: 100,
                accepted: 0,
                refused: 100,
                other: BTreeMap::new(),
                duration_ms: 1.0,
                targets: vec![TargetReport {
                    presented: 100,
                    refused: 100,
                    ..TargetReport::new("127.0.0.1:500".into())
                }],
            }),
            control: Some(ControlReport {
                counts: ControlSnapshot {
                    received: 100,
                    sa_table: 100,
                    replaced_unknown: 100,
                    handed_off: 100,
                    ..ControlSnapshot::default()
                },
                settle_ms: 0.0,
            }),
            gateway_workers: Vec::new(),
            gateway_counters: BTreeMap::new(),
            gateway_malformed: BTreeMap::new(),
            pcap_packets: None,
            keylog_entries: None,
        }
    }

    #[test]
    fn json_keeps_the_counters_flat() {
        let r = clean();
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["control"]["received"], 100);
        assert_eq!(v["control"]["replaced_unknown"], 100);
        assert_eq!(v["control"]["abandoned"], 0);
        assert!(v["control"]["settle_ms"].is_number());
        let w = WorkerSummary::new(&WorkerSnapshot {
            id: 3,
            half_open: 2,
            io: WorkerIo {
                rx_datagrams: 10,
                handed_off: 4,
                ..WorkerIo::default()
            },
            backend: BackendStats {
                rx_datagrams: 11,
                tx_errors: 1,
                ..BackendStats::default()
            },
            ..WorkerSnapshot::default()
        });
        let v = serde_json::to_value(&w).unwrap();
        assert_eq!(v["id"], 3);
        assert_eq!(v["half_open"], 2);
        assert_eq!(v["rx_datagrams"], 10);
        assert_eq!(v["handed_off"], 4);
        assert_eq!(v["backend"]["rx_datagrams"], 11);
        assert_eq!(v["backend"]["tx_errors"], 1);
    }
}
