//! Shared ticket keys through Redis, with the real binaries: gateway A
//! (`publish_keys = true`) publishes its key file's ring encrypted under
//! the cluster secret; gateway B (the same secret, its own key file)
//! follows it, so tickets sealed with A's key file resume on B, B's own
//! tickets keep resuming there, and a rotation on A (SIGHUP) reaches B
//! within seconds. A gateway with another secret never applies the ring
//! (counted once) and NACKs A's tickets; a short or open secret file stops
//! a gateway at start.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::redis::RedisServer;
use common::{GatewayProcess, TempDir, metric_sum, metric_with, rebound_in, signal};

fn ok(dir: &Path, args: &[&str]) {
    let out = rebound_in(dir, args);
    assert!(
        out.status.success(),
        "rebound {args:?}:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn write_private(path: &Path, bytes: &[u8], mode: u32) {
    fs::write(path, bytes).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// A gateway config in `dir`: one worker, a key file (or none), the
/// cluster on `redis` as `name` with `secret`.
fn config(
    dir: &Path,
    name: &str,
    redis: &str,
    key_file: Option<&str>,
    secret: &str,
    publish: bool,
) -> PathBuf {
    let keys = key_file
        .map(|k| format!("[tickets]\nkey_file = \"{k}\"\n"))
        .unwrap_or_default();
    let text = format!(
        "[gateway]\nworkers = 1\nidle_sleep_us = 100\n\n{keys}\n[cluster]\nredis = \"{redis}\"\n\
         name = \"{name}\"\nsecret_file = \"{secret}\"\npublish_keys = {publish}\n\
         key_sync_interval_secs = 1\n"
    );
    let p = dir.join(format!("{name}.toml"));
    write_private(&p, text.as_bytes(), 0o600);
    p
}

fn start(dir: &Path, cfg: &Path) -> GatewayProcess {
    GatewayProcess::start(dir, &["--config", cfg.to_str().unwrap()])
}

/// The value of a sample without labels (0 when absent).
fn value(text: &str, name: &str) -> u64 {
    metric_sum(text, name)
}

fn failures(text: &str, reason: &str) -> u64 {
    metric_with(
        text,
        "rebound_cluster_key_sync_failures_total",
        &format!("reason=\"{reason}\""),
    )
}

/// Scrape `gw` until `ready` holds (20 s at most); the last text.
fn metrics_when(gw: &GatewayProcess, ready: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = gw.scrape();
        if ready(&text) {
            return text;
        }
        assert!(Instant::now() < deadline, "not reached:\n{text}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `rebound storm` of `clients` clients whose tickets `key_file` sealed,
/// against `target`: its JSON report (written whatever the verdict).
fn storm(dir: &Path, target: &str, key_file: &str, clients: usize) -> serde_json::Value {
    let json = dir.join(format!(
        "storm-{}.json",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    let out = rebound_in(
        dir,
        &[
            "storm",
            "--target",
            target,
            "--key-file",
            key_file,
            "--clients",
            &clients.to_string(),
            "--no-progress",
            "--json",
            json.to_str().unwrap(),
        ],
    );
    let text = fs::read_to_string(&json).unwrap_or_else(|_| {
        panic!(
            "no storm report:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    serde_json::from_str(&text).expect("storm json")
}

/// The hex secrets of a key file (to look for them in Redis).
fn secrets_of(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .unwrap()
        .split_whitespace()
        .filter_map(|w| w.strip_prefix("secret=").map(str::to_owned))
        .collect()
}

#[test]
fn a_follower_opens_the_publishers_tickets_and_follows_its_rotation() {
    let dir = TempDir::new("cluster-keys");
    let d = &dir.0;
    let redis = RedisServer::start(&d.join("redis"));
    ok(d, &["keys", "generate", "--file", "a.keys"]);
    ok(d, &["keys", "generate", "--file", "b.keys"]);
    let secret = d.join("cluster.secret");
    write_private(
        &secret,
        b"an example cluster secret, 48 bytes long......\n",
        0o600,
    );
    let s = secret.to_str().unwrap();
    let a_cfg = config(d, "a", &redis.url(), Some("a.keys"), s, true);
    let b_cfg = config(d, "b", &redis.url(), Some("b.keys"), s, false);

    let mut a = start(d, &a_cfg);
    let ma = metrics_when(&a, |m| value(m, "rebound_cluster_key_publishes_total") >= 1);
    let g1 = value(&ma, "rebound_cluster_key_generation");
    assert!(g1 > 1_600_000_000_000, "a publication time in ms: {g1}");
    assert_eq!(value(&ma, "rebound_cluster_key_publish_failures_total"), 0);

    // What a Redis reader sees: an envelope, not the ring.
    let raw = redis.cli(&["--no-raw", "get", "rebound:{keys}:ring"]);
    assert!(raw.starts_with("\"RBKR\\x01"), "{raw}");
    assert!(!raw.contains("rebound-ticket-keys"), "{raw}");
    for sec in secrets_of(&d.join("a.keys")) {
        assert!(!raw.contains(&sec), "a key's secret in clear in Redis");
    }

    let b = start(d, &b_cfg);
    let mb = metrics_when(&b, |m| {
        value(m, "rebound_cluster_key_generation") == g1
            && value(m, "rebound_cluster_key_syncs_total") >= 1
    });
    assert_eq!(
        metric_sum(&mb, "rebound_cluster_key_sync_failures_total"),
        0,
        "{mb}"
    );
    let b_addr = b.ike.to_string();
    // Tickets sealed with A's key file resume on B.
    let r = storm(d, &b_addr, "a.keys", 200);
    assert_eq!(r["established"], 200, "{r}");
    // B's own tickets (its key file's key, kept opening only) too.
    let r = storm(d, &b_addr, "b.keys", 50);
    assert_eq!(r["established"], 50, "{r}");

    // A rotates and reloads: B follows within a few seconds.
    std::thread::sleep(Duration::from_millis(1100));
    ok(d, &["keys", "rotate", "--file", "a.keys"]);
    signal(a.process.0.id(), "HUP");
    let mut line = String::new();
    std::io::BufRead::read_line(&mut a.stdout, &mut line).unwrap();
    assert_eq!(line.trim(), "reloaded generation 1");
    let ma = metrics_when(&a, |m| value(m, "rebound_cluster_key_publishes_total") >= 2);
    let g2 = value(&ma, "rebound_cluster_key_generation");
    assert!(g2 > g1, "{g2} > {g1}");
    let since = Instant::now();
    let mb = metrics_when(&b, |m| value(m, "rebound_cluster_key_generation") == g2);
    assert!(
        since.elapsed() < Duration::from_secs(5),
        "{:?}",
        since.elapsed()
    );
    assert!(value(&mb, "rebound_cluster_key_syncs_total") >= 2);
    // The new key's tickets resume on B, and the old key's still do.
    let r = storm(d, &b_addr, "a.keys", 200);
    assert_eq!(r["established"], 200, "{r}");
    // Every resumption on B was accepted (once the workers published
    // their counters).
    let m = metrics_when(&b, |m| metric_sum(m, "rebound_established_total") >= 450);
    assert_eq!(metric_sum(&m, "rebound_ticket_nacks_total"), 0, "{m}");
    b.stop();
    a.stop();
}

#[test]
fn another_secret_never_applies_the_ring_and_bad_secret_files_stop_the_start() {
    let dir = TempDir::new("cluster-keys-secret");
    let d = &dir.0;
    let redis = RedisServer::start(&d.join("redis"));
    ok(d, &["keys", "generate", "--file", "a.keys"]);
    let good = d.join("good.secret");
    write_private(&good, &[0x5a; 32], 0o600);
    let other = d.join("other.secret");
    write_private(&other, &[0xa5; 32], 0o600);
    let a_cfg = config(
        d,
        "a",
        &redis.url(),
        Some("a.keys"),
        good.to_str().unwrap(),
        true,
    );
    // C: another secret, no key file.
    let c_cfg = config(d, "c", &redis.url(), None, other.to_str().unwrap(), false);

    let a = start(d, &a_cfg);
    metrics_when(&a, |m| value(m, "rebound_cluster_key_publishes_total") >= 1);
    let c = start(d, &c_cfg);
    let m = metrics_when(&c, |m| failures(m, "decrypt") >= 1);
    // Read every second, refused and counted once.
    std::thread::sleep(Duration::from_millis(2500));
    let m2 = c.scrape();
    assert_eq!(failures(&m2, "decrypt"), 1, "{m2}");
    assert_eq!(value(&m2, "rebound_cluster_key_syncs_total"), 0, "{m}");
    assert_eq!(value(&m2, "rebound_cluster_key_generation"), 0, "{m}");
    // A's tickets: TICKET_NACK unknown_key on C.
    let r = storm(d, &c.ike.to_string(), "a.keys", 20);
    assert_eq!(r["established"], 0, "{r}");
    // (The workers publish their counters every 50 ms.)
    let m = metrics_when(&c, |m| {
        metric_with(m, "rebound_ticket_nacks_total", "reason=\"unknown_key\"") >= 20
    });
    assert_eq!(
        metric_sum(&m, "rebound_ticket_nacks_total"),
        metric_with(&m, "rebound_ticket_nacks_total", "reason=\"unknown_key\""),
        "{m}"
    );
    // Logged once too, with the reason.
    let (_, log) = c.stop();
    let refusals: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("the ticket key ring in Redis was refused"))
        .collect();
    assert_eq!(refusals.len(), 1, "{log}");
    assert!(refusals[0].contains("decrypt"), "{}", refusals[0]);
    a.stop();

    // A secret file that is short, or that others may read: no start.
    let short = d.join("short.secret");
    write_private(&short, &[1; 31], 0o600);
    let open = d.join("open.secret");
    write_private(&open, &[1; 32], 0o644);
    for (file, want) in [
        (&short, "31 bytes; the cluster secret needs at least 32"),
        (&open, "chmod 600"),
    ] {
        let cfg = config(d, "d", &redis.url(), None, file.to_str().unwrap(), false);
        let out = rebound_in(
            d,
            &[
                "gateway",
                "--config",
                cfg.to_str().unwrap(),
                "--listen",
                "127.0.0.1:0",
                "--listen-natt",
                "127.0.0.1:0",
            ],
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{err}");
        assert!(out.stdout.is_empty(), "nothing listened: {err}");
        assert!(err.contains("cluster.secret_file"), "{err}");
        assert!(err.contains(want), "{want}: {err}");
    }
}
