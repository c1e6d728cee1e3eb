//! Hostile storms against the real `rebound gateway` process (issue 16,
//! Tests), driven by the real `rebound storm --target ... --hostile MIX`:
//!
//! - a hostile mix at five times the legitimate rate: no forged,
//!   replayed or revoked ticket gets a half-open SA, no wrong AUTH an SA, the gateway
//!   establishes exactly the legitimate SAs, and every legitimate client
//!   resumes;
//! - half-open floods, one with one stolen valid ticket from one address
//!   (the sender answers cookies), one with 10,000 valid tickets from 64
//!   source addresses (127.0.1.x), none ever sending IKE_AUTH: the
//!   gateway's half-open table stays under `half_open_memory_mb`, its
//!   resident size (VmRSS) rises at most 1.5 times that bound over its
//!   baseline and comes back near the baseline after the flood, and the
//!   legitimate clients started during the flood all resume.
//!
//! The floods are 50,000 datagrams each in the normal (debug) suite; the
//! issue's 3,000,000 run in release (`#[ignore]`, scripts/test.sh). Each
//! flood is capped (`--hostile-flood-rate`) below what the one worker
//! receives on this machine class, so the test is about half-open state
//! and memory, not about the kernel dropping datagrams of everyone on a
//! full socket: unpaced, a 3,000,000 flood at about 300,000/s left 37 % of
//! the datagrams to kernel drops, and legitimate clients whose IKE_AUTH
//! was dropped until their half-open SA expired (2 s here) could not
//! finish (38 of 5,000). That is packet-rate overload, for the benchmarks.
//! The 10,000-ticket flood needs 20,000 half-open SAs (two per ticket),
//! more than the 32 MiB bound holds (about 12,000): it keeps the table
//! full while it lasts and legitimate requests are refused
//! (`memory_full`) until it ends, so the clients get the patience to
//! outlast it (`--max-sends`; strongSwan's defaults retry for about 165 s).
//! Assertions only: no timing goal. The tests run one at a time.

mod common;
use common::{GatewayProcess, TempDir, metric_sum, metric_with, rebound};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_rebound");

/// Each test runs a gateway and a storm flat out: one at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The gateway's resident set size now, in KiB.
fn vm_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in kB")
}

fn keys(d: &Path) {
    let (code, out, err) = rebound(&[
        "keys",
        "generate",
        "--file",
        d.join("ticket.keys").to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
}

/// What a storm run as a process left, and the gateway samples taken
/// while it ran.
struct Run {
    report: serde_json::Value,
    summary: String,
    /// The largest VmRSS seen, KiB.
    max_rss: u64,
    /// The largest `rebound_half_open_bytes` (summed over the workers).
    max_half_open_bytes: u64,
}

/// `rebound storm --target GW --key-file ticket.keys ARGS --json FILE`,
/// sampling the gateway's VmRSS and metrics every 50 ms until it exits;
/// it must exit 0 (its verdict passed).
fn storm(d: &Path, gw: &GatewayProcess, name: &str, args: &[&str]) -> Run {
    let json = format!("{name}.json");
    let out = std::fs::File::create(d.join(format!("{name}.out"))).unwrap();
    let err = std::fs::File::create(d.join(format!("{name}.err"))).unwrap();
    let mut child = Command::new(BIN)
        .args(["storm", "--target", &gw.ike.to_string()])
        .args([
            "--key-file",
            "ticket.keys",
            "--no-progress",
            "--json",
            &json,
        ])
        .args(args)
        .current_dir(d)
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .spawn()
        .expect("start rebound storm");
    let pid = gw.process.0.id();
    let (mut max_rss, mut max_bytes) = (0, 0);
    let status = loop {
        max_rss = max_rss.max(vm_rss_kib(pid));
        max_bytes = max_bytes.max(metric_sum(&gw.scrape(), "rebound_half_open_bytes"));
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let summary = std::fs::read_to_string(d.join(format!("{name}.out"))).unwrap();
    let errors = std::fs::read_to_string(d.join(format!("{name}.err"))).unwrap();
    eprintln!("{summary}{errors}");
    assert!(status.success(), "storm {name} failed: {errors}\n{summary}");
    let text = std::fs::read_to_string(d.join(&json)).expect("storm json");
    Run {
        report: serde_json::from_str(&text).expect("storm json parses"),
        summary,
        max_rss,
        max_half_open_bytes: max_bytes,
    }
}

fn kind<'a>(r: &'a serde_json::Value, k: &str) -> &'a serde_json::Value {
    &r["hostile"]["kinds"][k]
}

fn count(r: &serde_json::Value, k: &str, what: &str) -> u64 {
    kind(r, k)[what]
        .as_u64()
        .unwrap_or_else(|| panic!("hostile.kinds.{k}.{what} in {r}"))
}

/// Every legitimate client resumed.
fn all_resumed(run: &Run, clients: u64) {
    let r = &run.report;
    assert_eq!(r["established"], clients, "{}", run.summary);
    assert_eq!(r["failures"], serde_json::json!({}), "{}", run.summary);
    assert_eq!(r["timeouts"], 0, "{}", run.summary);
}

#[test]
fn a_hostile_mix_at_five_times_the_legitimate_rate_gets_nothing() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = TempDir::new("hostilemix");
    let d = &dir.0;
    keys(d);
    std::fs::write(
        d.join("gateway.toml"),
        "[gateway]\nworkers = 1\nidle_sleep_us = 100\n\n[tickets]\nkey_file = \"ticket.keys\"\n",
    )
    .unwrap();
    let gw = GatewayProcess::start(d, &["--config", "gateway.toml"]);
    const CLIENTS: u64 = 1000;
    let run = storm(
        d,
        &gw,
        "mix",
        &[
            "--clients",
            "1000",
            "--hostile",
            "forged=1,replayed=1,revoked=1,random=1,truncated=1,stolen=1,wrong_auth=1,init=1,x5",
            // Ten sends (about 55 s) before a debug-build client gives up.
            "--timeout",
            "120",
            // Patient clients (about 55 s, strongSwan's defaults about
            // 165 s): the flood may hold the table full while it lasts.
            "--max-sends",
            "10",
        ],
    );
    all_resumed(&run, CLIENTS);
    let r = &run.report;
    let h = &r["hostile"];
    // Five hostile datagrams per legitimate one, at least (cookie retries
    // and the wrong AUTHs' IKE_AUTH come on top).
    let legit = h["legit_datagrams"].as_u64().unwrap();
    let sent = h["sent"].as_u64().unwrap();
    assert!(legit >= 2 * CLIENTS, "{h}");
    assert!(
        sent >= 5 * legit,
        "{sent} hostile for {legit} legitimate: {h}"
    );
    for k in [
        "forged",
        "replayed",
        "revoked",
        "random",
        "truncated",
        "stolen",
        "wrong_auth",
        "init",
    ] {
        assert!(count(r, k, "sent") > 0, "{k}: {h}");
    }
    // Nothing forged, replayed or revoked got state; every answer to them
    // is a NACK.
    for k in ["forged", "replayed", "revoked"] {
        assert_eq!(count(r, k, "accepted"), 0, "{k}: {}", run.summary);
        assert!(count(r, k, "nacks") > 0, "{k}: {h}");
        assert_eq!(count(r, k, "nacks"), count(r, k, "answers"), "{k}: {h}");
    }
    // Wrong AUTHs reached the gateway's check and were all refused.
    assert_eq!(count(r, "wrong_auth", "established"), 0, "{}", run.summary);
    assert!(count(r, "wrong_auth", "auth_refused") > 0, "{h}");
    // The stolen ticket: at most `half_open_per_ticket` (2) at a time, the
    // rest refused as busy.
    assert!(
        count(r, "stolen", "nacks") > count(r, "stolen", "accepted"),
        "{h}"
    );
    // The slow path answered IKE_SA_INIT.
    assert!(count(r, "init", "init_answers") > 0, "{h}");

    // The gateway's own counts: exactly the legitimate SAs, the replay
    // tickets' first (legitimate) use and the SAs resumed and deleted for
    // the revoked tickets were established.
    let replay_tickets =
        h["replay_tickets"].as_u64().unwrap() + h["revoked_tickets"].as_u64().unwrap();
    assert!(h["revoked_tickets"].as_u64().unwrap() > 0, "{h}");
    let deadline = Instant::now() + Duration::from_secs(10);
    let m = loop {
        let m = gw.scrape();
        if metric_sum(&m, "rebound_established_total") >= CLIENTS + replay_tickets
            || Instant::now() > deadline
        {
            break m;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(
        metric_sum(&m, "rebound_established_total"),
        CLIENTS + replay_tickets,
        "{m}"
    );
    assert!(metric_with(&m, "rebound_ticket_nacks_total", "reason=\"reused\"") > 0);
    // The revoked tickets were refused as revoked (not as reused: they
    // were never used).
    assert!(metric_with(&m, "rebound_ticket_nacks_total", "reason=\"revoked\"") > 0);
    assert!(metric_with(&m, "rebound_ticket_nacks_total", "reason=\"bad_tag\"") > 0);
    assert!(metric_with(&m, "rebound_ticket_nacks_total", "reason=\"ticket_busy\"") > 0);
    assert!(metric_sum(&m, "rebound_auth_failed_total") > 0, "{m}");
    assert_eq!(metric_sum(&m, "rebound_auth_integrity_failed_total"), 0);
    gw.stop();
}

/// The gateway of the flood tests: one worker, a 32 MiB half-open table,
/// half-open SAs that expire after four seconds (the table is cut back
/// within a few timeouts after the peak; the one-second minimum leaves a
/// legitimate client whose IKE_AUTH was dropped twice by a loaded kernel
/// no third try), cookies from 2,000 half-open SAs on.
const FLOOD_GATEWAY: &str = "[gateway]
workers = 1
idle_sleep_us = 100

[tickets]
key_file = \"ticket.keys\"

[responder]
half_open_memory_mb = 32
half_open_timeout_ms = 4000
cookie_threshold = 2000
";
const BOUND_KIB: u64 = 32 * 1024;
/// The bound is checked before an exchange is admitted; the answers the
/// exchanges of a burst keep afterwards (64 at most, a few KiB each) may
/// take the table over it until the next request makes room (the engine's
/// `the_byte_bound_drops_cached_answers_first_then_refuses`). Seen: 832
/// bytes over.
const BURST_OVERSHOOT: u64 = 64 * 4096;
/// How far VmRSS may rise over its baseline during a flood: the table's
/// bound, plus a half for what the bound does not count (the table's
/// indexes by SPI, peer, ticket and source; the allocator's own overhead;
/// the sockets' queues).
const RSS_SLACK_KIB: u64 = BOUND_KIB + BOUND_KIB / 2;

/// VmRSS and `rebound_half_open_bytes` (KiB, bytes) once both are back
/// within `rss_limit` and `bytes_limit`, or the smallest seen in 40 s: the
/// table is cut back at most every two half-open timeouts, once the flood
/// is out of its memory (up to three periods after the peak), and the
/// worker publishes every 50 ms.
fn settled(gw: &GatewayProcess, rss_limit: u64, bytes_limit: u64) -> (u64, u64) {
    let pid = gw.process.0.id();
    let end = Instant::now() + Duration::from_secs(40);
    let (mut rss, mut bytes) = (u64::MAX, u64::MAX);
    while Instant::now() < end {
        rss = rss.min(vm_rss_kib(pid));
        bytes = bytes.min(metric_sum(&gw.scrape(), "rebound_half_open_bytes"));
        if rss <= rss_limit && bytes <= bytes_limit {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    (rss, bytes)
}

/// What an established SA held by the control plane may cost, at most
/// (issue 16 measured 2.5 to 3.8 KB): the legitimate clients' SAs stay in
/// the gateway's table after the flood.
const SA_KIB: u64 = 4;

/// The gateway before a flood: VmRSS (KiB) and the SAs its control plane
/// held.
#[derive(Clone, Copy)]
struct Baseline {
    rss: u64,
    sas: u64,
}

/// During the flood: the table within its bound, VmRSS within
/// [`RSS_SLACK_KIB`] of the baseline; after it, both back near where they
/// were. The legitimate SAs the control plane took since the baseline are
/// allowed [`SA_KIB`] each on top.
fn bounded_and_back(what: &str, run: &Run, gw: &GatewayProcess, base: Baseline) {
    let sas = metric_sum(&gw.scrape(), "rebound_control_sa_table").saturating_sub(base.sas);
    let baseline = base.rss + sas * SA_KIB;
    // Back near the baseline: within a quarter of the table's bound (the
    // table keeps a floor of slots, and the allocator some pages).
    let (rss_near, bytes_near) = (baseline + BOUND_KIB / 4, BOUND_KIB * 1024 / 8);
    let (after, bytes) = settled(gw, rss_near, bytes_near);
    let m = gw.scrape();
    eprintln!(
        "{what}: VmRSS baseline {} KiB (+{sas} SAs: {baseline} KiB), max {} KiB, after {after} KiB; half-open bytes \
         max {}, after {bytes}; memory_full {}, per_source {}, cookies sent {}, valid {}",
        base.rss,
        run.max_rss,
        run.max_half_open_bytes,
        metric_sum(&m, "rebound_half_open_memory_full_total"),
        metric_sum(&m, "rebound_half_open_per_source_total"),
        metric_sum(&m, "rebound_cookies_sent_total"),
        metric_sum(&m, "rebound_cookies_valid_total"),
    );
    assert!(
        run.max_half_open_bytes <= BOUND_KIB * 1024 + BURST_OVERSHOOT,
        "{what}: half-open bytes {}",
        run.max_half_open_bytes
    );
    assert!(
        run.max_rss <= baseline + RSS_SLACK_KIB,
        "{what}: VmRSS max {} KiB, baseline {baseline} KiB",
        run.max_rss
    );
    assert!(
        bytes <= bytes_near,
        "{what}: half-open bytes after: {bytes}"
    );
    assert!(
        after <= rss_near,
        "{what}: VmRSS after {after} KiB, baseline {baseline} KiB (max {})",
        run.max_rss
    );
}

/// Both floods of `n` IKE_SESSION_RESUME requests at `rate` per second,
/// `clients` legitimate clients started during each (`arrival`).
/// The two floods of the issue.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Flood {
    /// One stolen valid ticket from one address; cookies answered.
    Stolen,
    /// 10,000 valid tickets from 64 source addresses.
    ManyTickets,
    /// Random bytes, truncated requests and forged tickets (the issue's
    /// "random and mutated datagrams").
    Garbage,
}

/// How the legitimate clients and a flood run.
struct Params {
    /// Datagrams per flood, and per second at most.
    n: u64,
    rate: u32,
    clients: u64,
    /// When they start (`--arrival`).
    arrival: &'static str,
    /// Their patience (`--max-sends`): the many-ticket flood holds the
    /// table full while it lasts, so they must outlast it.
    max_sends: u32,
}

fn half_open_floods(floods: &[Flood], p: Params) {
    let Params {
        n,
        rate,
        clients,
        arrival,
        max_sends,
    } = p;
    let max_sends = max_sends.to_string();
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let rate = rate.to_string();
    let dir = TempDir::new("hostileflood");
    let d = &dir.0;
    keys(d);
    std::fs::write(d.join("gateway.toml"), FLOOD_GATEWAY).unwrap();
    let gw = GatewayProcess::start(d, &["--config", "gateway.toml"]);
    let pid = gw.process.0.id();
    let flood = n.to_string();
    let clients_arg = clients.to_string();
    // The baseline: after a small legitimate storm, once its half-open
    // SAs and cached answers are gone.
    let warm = storm(d, &gw, "warm", &["--clients", "200"]);
    all_resumed(&warm, 200);
    std::thread::sleep(Duration::from_secs(5));
    let baseline = Baseline {
        rss: vm_rss_kib(pid),
        sas: metric_sum(&gw.scrape(), "rebound_control_sa_table"),
    };

    let args = [&*clients_arg, arrival, &flood, &rate, &max_sends];
    for &f in floods {
        let run_flood = match f {
            Flood::Stolen => stolen_flood,
            Flood::ManyTickets => many_tickets_flood,
            Flood::Garbage => garbage_flood,
        };
        run_flood(d, &gw, baseline, args);
    }
    // And after the floods, a legitimate storm resumes every client.
    let after = storm(d, &gw, "after", &["--clients", "2000"]);
    all_resumed(&after, 2000);
    gw.stop();
}

/// A flood of `hostile` (the `--hostile` mix and any flags of its own)
/// at the gateway while the legitimate clients start; `args`: clients,
/// arrival, flood size, flood rate, max sends. Every client must resume.
/// Returns the run and the flood size.
fn flood_storm(
    d: &Path,
    gw: &GatewayProcess,
    name: &str,
    hostile: &[&str],
    args: [&str; 5],
) -> (Run, u64) {
    let [clients_arg, arrival, flood, rate, max_sends] = args;
    let clients: u64 = clients_arg.parse().unwrap();
    let n: u64 = flood.parse().unwrap();
    let mut all = vec!["--clients", clients_arg, "--arrival", arrival];
    all.extend_from_slice(hostile);
    all.extend_from_slice(&[
        "--hostile-flood",
        flood,
        "--hostile-flood-rate",
        rate,
        "--timeout",
        "120",
        // Patient clients (strongSwan's defaults retry for about 165 s):
        // a flood may hold the table full while it lasts.
        "--max-sends",
        max_sends,
    ]);
    let run = storm(d, gw, name, &all);
    all_resumed(&run, clients);
    assert_eq!(run.report["hostile"]["flood"], n, "{}", run.summary);
    (run, n)
}

/// Random bytes, truncated requests and forged tickets, never state.
/// `args`: clients, arrival, flood size, flood rate, max sends.
fn garbage_flood(d: &Path, gw: &GatewayProcess, baseline: Baseline, args: [&str; 5]) {
    let hostile = ["--hostile", "random,truncated,forged"];
    let (run, n) = flood_storm(d, gw, "garbage", &hostile, args);
    let r = &run.report;
    for k in ["random", "truncated", "forged"] {
        assert!(count(r, k, "sent") > 0, "{k}: {}", run.summary);
    }
    // No forged ticket got state; the rest got nothing but NACKs, if any
    // answer at all.
    assert_eq!(count(r, "forged", "accepted"), 0, "{}", run.summary);
    assert!(count(r, "forged", "nacks") > 0, "{}", run.summary);
    bounded_and_back(&format!("garbage flood of {n}"), &run, gw, baseline);
}

/// One stolen valid ticket from one address; cookies answered.
/// `args`: clients, arrival, flood size, flood rate, max sends.
fn stolen_flood(d: &Path, gw: &GatewayProcess, baseline: Baseline, args: [&str; 5]) {
    let (run, n) = flood_storm(d, gw, "stolen", &["--hostile", "stolen"], args);
    let r = &run.report;
    assert_eq!(r["hostile"]["sources"], 1);
    // The stolen ticket held at most two half-open SAs at a time: nearly
    // every answered request was refused as busy.
    let accepted = count(r, "stolen", "accepted");
    let nacks = count(r, "stolen", "nacks");
    assert!(nacks > 0 && accepted < nacks, "{}", run.summary);
    bounded_and_back(&format!("stolen flood of {n}"), &run, gw, baseline);
}

/// 10,000 valid tickets from 64 source addresses, never IKE_AUTH.
/// `args`: clients, arrival, flood size, flood rate, max sends.
fn many_tickets_flood(d: &Path, gw: &GatewayProcess, baseline: Baseline, args: [&str; 5]) {
    let hostile = [
        "--hostile",
        "halfopen",
        "--hostile-tickets",
        "10000",
        "--hostile-sources",
        "64",
    ];
    let (run, n) = flood_storm(d, gw, "halfopen", &hostile, args);
    let r = &run.report;
    assert_eq!(r["hostile"]["sources"], 64);
    assert_eq!(r["hostile"]["tickets"], 10_000);
    // The flood made half-open SAs past the cookie threshold, and answered
    // the cookies; so did the legitimate clients.
    assert!(count(r, "halfopen", "accepted") > 2000, "{}", run.summary);
    assert!(
        count(r, "halfopen", "cookie_retries") > 0,
        "{}",
        run.summary
    );
    assert!(r["cookies"].as_u64().unwrap() > 0, "{}", run.summary);
    bounded_and_back(
        &format!("half-open flood of {n} (10,000 tickets, 64 sources)"),
        &run,
        gw,
        baseline,
    );
}

#[test]
fn half_open_floods_stay_bounded_and_legitimate_clients_resume() {
    half_open_floods(
        &[Flood::Stolen, Flood::ManyTickets],
        // A debug gateway took the 10,000-ticket flood at 5,000/s without
        // a kernel drop; at 10,000/s the kernel dropped about a quarter of
        // everything, and a few clients lost their exchange.
        Params {
            n: 50_000,
            rate: 5_000,
            clients: 500,
            arrival: "ramp:5",
            // About 55 s for a 10 s flood.
            max_sends: 10,
        },
    );
}

/// The size: 3,000,000 requests per flood, at 50,000/s (a minute
/// each: at 120,000/s the one worker, sharing two cores with the storm and
/// whatever else runs, received as few as 62 % of them, and a client lost
/// its exchange to kernel drops). The clients wait up to about 104 s
/// (`--max-sends 16`): the 10,000-ticket flood keeps them out for its
/// whole minute (with 55 s, the first fifth of them gave up). Release only
/// (scripts/test.sh).
const THREE_MILLION: Params = Params {
    n: 3_000_000,
    rate: 50_000,
    clients: 1000,
    arrival: "ramp:30",
    max_sends: 16,
};

#[test]
#[ignore = "3 million datagrams: release build, run by scripts/test.sh"]
fn three_million_requests_with_one_stolen_ticket() {
    half_open_floods(&[Flood::Stolen], THREE_MILLION);
}

#[test]
#[ignore = "3 million datagrams: release build, run by scripts/test.sh"]
fn three_million_requests_with_10000_tickets_from_64_addresses() {
    half_open_floods(&[Flood::ManyTickets], THREE_MILLION);
}

/// The issue's "1,000,000 random and mutated datagrams at a running
/// gateway": it stays up, its memory comes back to its baseline, the
/// clients started during the flood resume, and a legitimate storm
/// afterwards resumes every client (`half_open_floods` runs it after
/// every flood). Release only (scripts/test.sh), 20 s at 50,000/s.
#[test]
#[ignore = "a million datagrams: release build, run by scripts/test.sh"]
fn a_million_random_and_mutated_datagrams_leave_the_gateway_as_it_was() {
    half_open_floods(
        &[Flood::Garbage],
        Params {
            n: 1_000_000,
            ..THREE_MILLION
        },
    );
}
