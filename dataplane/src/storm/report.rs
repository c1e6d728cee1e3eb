//! What a storm reports: [`StormReport`], serialised by `--json FILE` and
//! printed as a table by [`StormReport::summary`].

use std::collections::BTreeMap;
use std::fmt::Write as _;

use hdrhistogram::Histogram;
use rebound_engine::responder::{Counter, ResponderCounters};
use serde::Serialize;

use crate::gateway::GatewayStats;

use super::StormConfig;
use super::fault::FaultCounts;
use super::garbage::GarbageCounts;

/// One phase and how long it took.
#[derive(Debug, Clone, Serialize)]
pub struct PhaseReport {
    /// `tickets`, `drop`, `reconnect`, `replay` or `settle`.
    pub name: &'static str,
    pub duration_ms: f64,
    /// One line on what it did.
    pub detail: String,
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
    pub fn between(
        before: &crate::gateway::WorkerSnapshot,
        after: &crate::gateway::WorkerSnapshot,
    ) -> WorkerCpu {
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

/// Phase 4: the original tickets presented again.
#[derive(Debug, Clone, Serialize)]
pub struct ReplayReport {
    /// Tickets replayed: those of the clients that resumed in phase 3.
    pub presented: u64,
    /// Replays the gateway accepted: must be 0 (RFC 5723 §4.3.1, single
    /// use).
    pub accepted: u64,
    /// Replays refused with TICKET_NACK.
    pub refused: u64,
    /// Other outcomes by `Fallback` label (timeouts included).
    pub other: BTreeMap<String, u64>,
    pub duration_ms: f64,
}

/// The fault injector's settings and what it did.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct FaultReport {
    pub drop: f64,
    pub dup: f64,
    #[serde(flatten)]
    pub counts: FaultCounts,
}

/// The embedded gateway's control plane at the end.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ControlReport {
    /// Established SAs the control plane received.
    pub received: u64,
    /// SAs received twice: must be 0.
    pub duplicates: u64,
    pub sa_table: u64,
    pub silent_deletes: u64,
    pub replaced_unknown: u64,
    pub handed_off: u64,
    /// How long the storm waited for `received` to reach the SAs the
    /// clients established.
    pub settle_ms: f64,
}

/// One embedded gateway worker at the end.
#[derive(Debug, Clone, Serialize)]
pub struct WorkerSummary {
    pub id: u8,
    pub established: u64,
    pub rx_datagrams: u64,
    pub tx_datagrams: u64,
    pub tx_dropped: u64,
    pub forwarded_out: u64,
    pub forwarded_in: u64,
    pub forward_dropped: u64,
    pub to_control: u64,
    pub handoff_stalls: u64,
    pub handed_off: u64,
    pub half_open: u64,
    pub rx_truncated: u64,
    pub tx_errors: u64,
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
    pub ticket_source: &'static str,
    pub phases: Vec<PhaseReport>,
    /// SAs the clients established in phase 3.
    pub established: u64,
    /// Seconds from the first datagram to the last SA established.
    pub active_secs: f64,
    pub resumes_per_sec: f64,
    pub per_worker: Vec<WorkerRate>,
    /// Embedded gateway: each worker's CPU time in the reconnect phase.
    pub reconnect_cpu: Vec<WorkerCpu>,
    pub latency: LatencyReport,
    /// Phase 3 failures by `Fallback` label; clients still running at the
    /// phase timeout count as `timeout`.
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
    pub garbage: GarbageCounts,
    pub faults: FaultReport,
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

fn map_line(m: &BTreeMap<String, u64>) -> String {
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
                WorkerSummary {
                    id: w.id,
                    established: w.responder.get(Counter::Established),
                    rx_datagrams: w.io.rx_datagrams,
                    tx_datagrams: w.io.tx_datagrams,
                    tx_dropped: w.io.tx_dropped,
                    forwarded_out: w.io.forwarded_out,
                    forwarded_in: w.io.forwarded_in,
                    forward_dropped: w.io.forward_dropped,
                    to_control: w.io.to_control,
                    handoff_stalls: w.io.handoff_stalls,
                    handed_off: w.io.handed_off,
                    half_open: w.half_open,
                    rx_truncated: w.backend.rx_truncated,
                    tx_errors: w.backend.tx_errors,
                }
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
        let c = stats.control;
        report.control = Some(ControlReport {
            received: c.received,
            duplicates: c.duplicates,
            sa_table: c.sa_table,
            silent_deletes: c.silent_deletes,
            replaced_unknown: c.replaced_unknown,
            handed_off: c.handed_off,
            settle_ms,
        });
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
                _ => "control plane",
            };
            let _ = writeln!(w, "{label}: {} ({})", p.detail, secs(p.duration_ms));
        }
        let _ = writeln!(
            w,
            "{:<22} {:.0}/s overall ({} SAs in {:.2} s active)",
            "resumes per second", self.resumes_per_sec, self.established, self.active_secs
        );
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
        let _ = writeln!(w, "{:<22} {}", "cookies received", self.cookies);
        let _ = writeln!(
            w,
            "{:<22} {} (of {} datagrams sent, {} received)",
            "retransmissions", self.retransmissions, self.datagrams_sent, self.datagrams_received
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
        if let Some(c) = &self.control {
            let _ = writeln!(
                w,
                "{:<22} received {} SAs, {} duplicates, {} in the SA table",
                "control plane", c.received, c.duplicates, c.sa_table
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

/// Whether the storm went as it should: every client resumed (with faults
/// injected, a client may time out), and no replayed ticket was accepted.
/// `Err` says what went wrong.
pub fn verdict(cfg: &StormConfig, report: &StormReport) -> Result<(), String> {
    let mut problems = Vec::new();
    let timeouts = report.timeouts;
    let others: u64 = report
        .failures
        .iter()
        .filter(|(k, _)| k.as_str() != "timeout")
        .map(|(_, v)| v)
        .sum();
    if others > 0 {
        problems.push(format!(
            "{others} clients failed to resume ({})",
            report
                .failures
                .iter()
                .filter(|(k, _)| k.as_str() != "timeout")
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if timeouts > 0 && !cfg.fault.is_active() {
        problems.push(format!(
            "{timeouts} clients timed out without injected faults"
        ));
    }
    if let Some(r) = &report.replay
        && r.accepted > 0
    {
        problems.push(format!(
            "{} replayed tickets were accepted (single use violated)",
            r.accepted
        ));
    }
    if let Some(c) = &report.control
        && c.duplicates > 0
    {
        problems.push(format!(
            "the control plane received {} SAs twice",
            c.duplicates
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}
