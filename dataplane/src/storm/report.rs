//! What a storm reports: [`StormReport`], serialised by `--json FILE` and
//! printed as a table by [`StormReport::summary`].

use std::collections::BTreeMap;
use std::fmt::Write as _;

use hdrhistogram::Histogram;
use rebound_engine::responder::{Counter, ResponderCounters};
use serde::Serialize;

use crate::backend::BackendStats;
use crate::gateway::{ControlSnapshot, GatewayStats, WorkerIo, WorkerSnapshot};

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
        if let Some(ControlReport { counts: c, .. }) = &self.control {
            let _ = writeln!(
                w,
                "{:<22} received {} SAs, {} duplicates, {} in the SA table{}",
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

/// Whether the storm went as it should. `Err` says everything that went
/// wrong, `; `-separated:
///
/// - a client failed to resume for a reason other than a timeout;
/// - a client timed out although no fault was injected;
/// - a replayed ticket was accepted (RFC 5723 §4.3.1, single use);
/// - embedded gateway: the control plane did not receive exactly the SAs
///   the clients established (phase 3 plus accepted replays), received one
///   twice, or abandoned one at shutdown. With injected faults a client may
///   time out after the gateway established its SA (the last answer lost
///   every time), so up to `timeouts` SAs more are allowed then.
pub fn verdict(cfg: &StormConfig, report: &StormReport) -> Result<(), String> {
    let mut problems = Vec::new();
    let faults = cfg.fault.is_active();
    let timeouts = report.timeouts;
    let others: Vec<String> = report
        .failures
        .iter()
        .filter(|(k, v)| k.as_str() != "timeout" && **v > 0)
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    let failed: u64 = report
        .failures
        .iter()
        .filter(|(k, _)| k.as_str() != "timeout")
        .map(|(_, v)| v)
        .sum();
    if failed > 0 {
        problems.push(format!(
            "{failed} clients failed to resume ({})",
            others.join(", ")
        ));
    }
    if timeouts > 0 && !faults {
        problems.push(format!(
            "{timeouts} clients timed out without injected faults"
        ));
    }
    let accepted = report.replay.as_ref().map_or(0, |r| r.accepted);
    if accepted > 0 {
        problems.push(format!(
            "{accepted} replayed tickets were accepted (single use violated)"
        ));
    }
    if let Some(ControlReport { counts: c, .. }) = &report.control {
        let want = report.established + accepted;
        let slack = if faults { timeouts } else { 0 };
        if c.received < want || c.received > want + slack {
            let allowed = if slack > 0 {
                format!(" (up to {} with the timeouts)", want + slack)
            } else {
                String::new()
            };
            problems.push(format!(
                "the control plane received {} SAs, the clients established {want}{allowed}",
                c.received
            ));
        }
        if c.duplicates > 0 {
            problems.push(format!(
                "the control plane received {} SAs twice",
                c.duplicates
            ));
        }
        if c.abandoned > 0 {
            problems.push(format!(
                "the control plane abandoned {} SAs at shutdown (a hand-off sink refused them)",
                c.abandoned
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storm::FaultConfig;

    /// An embedded storm of 100 clients, all resumed, their 100 tickets
    /// replayed and refused, every SA in the control plane once.
    fn clean() -> StormReport {
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
            phases: Vec::new(),
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
            cookies: 0,
            retransmissions: 0,
            datagrams_sent: 400,
            datagrams_received: 400,
            ignored: 0,
            unmatched: 0,
            garbage: GarbageCounts::default(),
            faults: FaultReport {
                drop: 0.0,
                dup: 0.0,
                counts: FaultCounts::default(),
            },
            replay: Some(ReplayReport {
                presented: 100,
                accepted: 0,
                refused: 100,
                other: BTreeMap::new(),
                duration_ms: 1.0,
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

    fn control(r: &mut StormReport) -> &mut ControlSnapshot {
        &mut r.control.as_mut().expect("embedded").counts
    }

    /// The verdict's error, which must exist and be about `what` only.
    fn fails_with(cfg: &StormConfig, r: &StormReport, what: &str) {
        let e = verdict(cfg, r).expect_err("the verdict fails");
        assert!(e.contains(what), "{e:?} does not say {what:?}");
        assert!(!e.contains("; "), "{e:?} says more than one thing");
    }

    #[test]
    fn a_clean_storm_passes() {
        let cfg = StormConfig::default();
        assert_eq!(verdict(&cfg, &clean()), Ok(()));
        // A separate gateway: no control plane to check.
        let mut r = clean();
        r.embedded = false;
        r.control = None;
        assert_eq!(verdict(&cfg, &r), Ok(()));
    }

    #[test]
    fn a_failure_other_than_a_timeout_fails() {
        let mut r = clean();
        r.established = 97;
        control(&mut r).received = 97;
        r.failures.insert("ticket_refused".into(), 2);
        r.failures.insert("protocol_error".into(), 1);
        fails_with(
            &StormConfig::default(),
            &r,
            "3 clients failed to resume (protocol_error 1, ticket_refused 2)",
        );
    }

    #[test]
    fn timeouts_fail_only_without_faults() {
        let mut r = clean();
        r.established = 98;
        control(&mut r).received = 98;
        r.failures.insert("timeout".into(), 2);
        r.timeouts = 2;
        let mut cfg = StormConfig::default();
        fails_with(&cfg, &r, "2 clients timed out without injected faults");
        cfg.fault = FaultConfig {
            drop: 0.01,
            dup: 0.0,
        };
        assert_eq!(verdict(&cfg, &r), Ok(()));
    }

    #[test]
    fn an_accepted_replay_fails() {
        let mut r = clean();
        if let Some(p) = r.replay.as_mut() {
            p.accepted = 1;
            p.refused = 99;
        }
        // The replayed SA reached the control plane too.
        control(&mut r).received = 101;
        fails_with(
            &StormConfig::default(),
            &r,
            "1 replayed tickets were accepted",
        );
    }

    #[test]
    fn the_control_plane_must_receive_every_sa_exactly_once() {
        let cfg = StormConfig::default();
        // Fewer than the clients established (the settle wait gave up).
        let mut r = clean();
        control(&mut r).received = 99;
        fails_with(
            &cfg,
            &r,
            "the control plane received 99 SAs, the clients established 100",
        );
        // More: an SA no client knows of.
        let mut r = clean();
        control(&mut r).received = 101;
        fails_with(
            &cfg,
            &r,
            "the control plane received 101 SAs, the clients established 100",
        );
        // Accepted replays count as established SAs.
        let mut r = clean();
        if let Some(p) = r.replay.as_mut() {
            p.accepted = 1;
        }
        control(&mut r).received = 100;
        let e = verdict(&cfg, &r).unwrap_err();
        assert!(
            e.contains("received 100 SAs, the clients established 101"),
            "{e}"
        );
    }

    #[test]
    fn with_faults_a_timed_out_client_may_have_an_sa() {
        let cfg = StormConfig {
            fault: FaultConfig {
                drop: 0.05,
                dup: 0.0,
            },
            ..StormConfig::default()
        };
        let mut r = clean();
        r.established = 98;
        r.failures.insert("timeout".into(), 2);
        r.timeouts = 2;
        for received in 98..=100 {
            control(&mut r).received = received;
            assert_eq!(verdict(&cfg, &r), Ok(()), "received {received}");
        }
        control(&mut r).received = 101;
        fails_with(
            &cfg,
            &r,
            "the control plane received 101 SAs, the clients established 98 (up to 100",
        );
        control(&mut r).received = 97;
        fails_with(&cfg, &r, "received 97 SAs");
    }

    #[test]
    fn duplicates_fail() {
        let mut r = clean();
        control(&mut r).duplicates = 1;
        fails_with(
            &StormConfig::default(),
            &r,
            "the control plane received 1 SAs twice",
        );
    }

    #[test]
    fn abandoned_sas_fail() {
        let mut r = clean();
        control(&mut r).abandoned = 3;
        fails_with(
            &StormConfig::default(),
            &r,
            "the control plane abandoned 3 SAs at shutdown",
        );
        assert!(r.summary().contains("3 abandoned at shutdown"));
    }

    #[test]
    fn every_problem_is_reported() {
        let mut r = clean();
        r.failures.insert("ticket_refused".into(), 1);
        r.established = 99;
        control(&mut r).duplicates = 2;
        control(&mut r).abandoned = 1;
        let e = verdict(&StormConfig::default(), &r).unwrap_err();
        assert_eq!(e.split("; ").count(), 4, "{e}");
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
