//! Reloading the ticket key file into a running `rebound gateway` (the real
//! binary) with SIGHUP, and the checks the one key file reader makes at
//! start.
//!
//! A reload is refused, and the key ring in use kept, when the file cannot
//! be read (a mode that lets group or others read it, junk), when its keys
//! have all expired, when no key in it issues now, or when it lacks a key
//! of the ring in use that still opens tickets. After every refusal a storm
//! of clients whose tickets were sealed with the original key still
//! resumes; a rotated file is accepted and its new key's tickets resume.
//! Each outcome is one stdout line, one log line and a metric.

mod common;
use common::{GatewayProcess, TempDir, signal};
use std::fs;
use std::io::{BufRead, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_rebound");

/// `rebound ARGS` in `dir`.
fn rebound(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run rebound")
}

fn ok(dir: &Path, args: &[&str]) {
    let out = rebound(dir, args);
    assert!(
        out.status.success(),
        "rebound {args:?}:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// Copy `from` over `to` (by rename, as a distribution job would), keeping
/// the owner-only mode.
fn install(dir: &Path, from: &str, to: &str) {
    let tmp = dir.join(format!(".{to}.tmp"));
    fs::copy(dir.join(from), &tmp).unwrap();
    chmod(&tmp, 0o600);
    fs::rename(&tmp, dir.join(to)).unwrap();
}

/// Rotation refuses to end a key in the second it started issuing, and
/// short windows need the clock to move on.
fn wait_secs(s: f64) {
    std::thread::sleep(Duration::from_secs_f64(s));
}

/// A running gateway (see [`GatewayProcess`]) and the address the storms
/// target.
struct Gateway {
    proc: GatewayProcess,
    target: String,
}

impl Gateway {
    fn start(dir: &Path, key_file: &str) -> Gateway {
        let proc = GatewayProcess::start(
            dir,
            &[
                "--key-file",
                key_file,
                "--workers",
                "2",
                "--idle-sleep-us",
                "100",
            ],
        );
        let target = proc.ike.to_string();
        Gateway { proc, target }
    }

    /// SIGHUP; the gateway's one-line answer.
    fn hup(&mut self) -> String {
        signal(self.proc.process.0.id(), "HUP");
        let mut line = String::new();
        self.proc.stdout.read_line(&mut line).expect("reload line");
        line.trim().to_owned()
    }

    /// The first log line containing every one of `words` (waiting up to
    /// 10 s for it).
    fn log_line(&self, words: &[&str]) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.proc.log.recv_timeout(left) {
                Ok(l) if words.iter().all(|w| l.contains(w)) => return l,
                Ok(_) => {}
                Err(_) => panic!("no log line with {words:?}"),
            }
        }
    }

    fn metrics(&self) -> String {
        let mut s = TcpStream::connect(self.proc.metrics).expect("metrics endpoint");
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .expect("request");
        let mut out = String::new();
        s.read_to_string(&mut out).expect("response");
        assert!(out.starts_with("HTTP/1.1 200"), "{out}");
        out
    }

    /// `rebound_key_reload_refused_total` by reason, and
    /// `rebound_key_reloads_total`.
    fn refused(&self, reason: &str) -> u64 {
        sample(
            &self.metrics(),
            &format!("rebound_key_reload_refused_total{{reason=\"{reason}\"}}"),
        )
    }

    fn reloads(&self) -> u64 {
        sample(&self.metrics(), "rebound_key_reloads_total")
    }

    /// `clients` clients with tickets sealed by `key_file`'s issuing key
    /// resume through the gateway; the storm's JSON report.
    fn storm(&self, dir: &Path, key_file: &str, clients: usize) -> serde_json::Value {
        let json = format!("storm-{}.json", rand_suffix());
        let clients = clients.to_string();
        let out = rebound(
            dir,
            &[
                "storm",
                "--target",
                &self.target,
                "--key-file",
                key_file,
                "--clients",
                &clients,
                "--no-progress",
                "--json",
                &json,
            ],
        );
        assert!(
            out.status.success(),
            "storm failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let text = fs::read_to_string(dir.join(&json)).expect("storm json");
        serde_json::from_str(&text).expect("storm json parses")
    }

    /// SIGTERM: drained, exit 0.
    fn stop(self) {
        self.proc.stop();
    }
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// The value of the one sample whose name and labels are exactly `series`.
fn sample(text: &str, series: &str) -> u64 {
    let prefix = format!("{series} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no sample {series} in\n{text}"))
        .trim()
        .parse()
        .unwrap()
}

/// Every reload that leaves the gateway unable to open today's tickets, or
/// to issue new ones, is refused with the old ring kept; a rotation is
/// taken.
#[test]
fn sighup_refuses_bad_key_files_keeps_the_ring_and_takes_a_rotation() {
    let dir = TempDir::new("keyreload");
    let d = &dir.0;
    ok(d, &["keys", "generate", "--file", "ticket.keys"]);
    // The file the gateway starts with, kept aside: its key seals the
    // storms' tickets while ticket.keys holds something else.
    install(d, "ticket.keys", "started.keys");
    // Stale files, made with the same tool and short windows: one whose
    // only key issues for 1 s and accepts 1 s longer (expired 2 s from
    // now), one whose key issues for 1 s and accepts for an hour (no key
    // issues 1 s from now).
    ok(
        d,
        &[
            "keys",
            "generate",
            "--file",
            "expired.keys",
            "--rotate-every",
            "1",
            "--accept-for",
            "1",
        ],
    );
    ok(
        d,
        &[
            "keys",
            "generate",
            "--file",
            "idle.keys",
            "--rotate-every",
            "1",
            "--accept-for",
            "3600",
        ],
    );
    // A fresh file with no key in common with the gateway's.
    ok(d, &["keys", "generate", "--file", "fresh.keys"]);

    let mut gw = Gateway::start(d, "ticket.keys");
    assert_eq!(gw.reloads(), 0);
    let r = gw.storm(d, "started.keys", 200);
    assert_eq!(r["established"], 200, "{r}");

    // 1. Group- and world-readable: refused, with the fix in the log.
    for (mode, shown) in [(0o644, "0644"), (0o640, "0640")] {
        chmod(&d.join("ticket.keys"), mode);
        assert_eq!(gw.hup(), "reload refused reason=permissions");
        let line = gw.log_line(&["key reload refused", "permissions"]);
        assert!(line.contains(shown), "{line}");
        assert!(line.contains("chmod 600 ticket.keys"), "{line}");
    }
    assert_eq!(gw.refused("permissions"), 2);
    chmod(&d.join("ticket.keys"), 0o600);
    let r = gw.storm(d, "started.keys", 200);
    assert_eq!(r["established"], 200, "{r}");

    // 2. Corrupt: refused, naming the line.
    install(d, "started.keys", "ticket.keys");
    let junk = d.join("ticket.keys");
    fs::write(&junk, "rebound-ticket-keys v1\nid=zz secret=00\n").unwrap();
    chmod(&junk, 0o600);
    assert_eq!(gw.hup(), "reload refused reason=malformed");
    let line = gw.log_line(&["key reload refused", "malformed"]);
    assert!(line.contains("line 2"), "{line}");
    assert_eq!(gw.refused("malformed"), 1);
    let r = gw.storm(d, "started.keys", 200);
    assert_eq!(r["established"], 200, "{r}");

    // 3. Every key expired (the reported bug: it used to be taken, and
    // every resumption after it was NACKed unknown_key).
    wait_secs(2.2);
    install(d, "expired.keys", "ticket.keys");
    assert_eq!(gw.hup(), "reload refused reason=expired");
    let line = gw.log_line(&["key reload refused", "expired"]);
    assert!(line.contains("every key in the file has expired"), "{line}");
    assert_eq!(gw.refused("expired"), 1);
    let r = gw.storm(d, "started.keys", 200);
    assert_eq!(r["established"], 200, "{r}");

    // 4. Keys that still accept but none that issues.
    install(d, "idle.keys", "ticket.keys");
    assert_eq!(gw.hup(), "reload refused reason=no_issuing_key");
    gw.log_line(&["key reload refused", "no key in the file issues now"]);
    assert_eq!(gw.refused("no_issuing_key"), 1);

    // 5. A fresh file that issues, but drops the key today's tickets were
    // sealed with (`keys generate --force` on the distribution host).
    install(d, "fresh.keys", "ticket.keys");
    assert_eq!(gw.hup(), "reload refused reason=drops_live_key");
    let id = fs::read_to_string(d.join("started.keys"))
        .unwrap()
        .split_whitespace()
        .find_map(|w| w.strip_prefix("id=").map(str::to_owned))
        .unwrap();
    let line = gw.log_line(&["key reload refused", "drops_live_key"]);
    assert!(line.contains(&id), "names the key {id}: {line}");
    assert_eq!(gw.refused("drops_live_key"), 1);
    let r = gw.storm(d, "started.keys", 200);
    assert_eq!(r["established"], 200, "{r}");
    assert_eq!(gw.reloads(), 0, "nothing was published");

    // 6. The file the gateway loaded, rotated: taken (generation 1), and
    // tickets sealed by the new key resume, as do the old key's.
    install(d, "started.keys", "ticket.keys");
    ok(d, &["keys", "rotate", "--file", "ticket.keys"]);
    assert_eq!(gw.hup(), "reloaded generation 1");
    gw.log_line(&["ticket keys reloaded", "generation=1"]);
    assert_eq!(gw.reloads(), 1);
    let r = gw.storm(d, "ticket.keys", 200);
    assert_eq!(r["established"], 200, "{r}");
    let r = gw.storm(d, "started.keys", 200);
    assert_eq!(r["established"], 200, "{r}");

    // The same file again is a valid reload too (generation 2).
    assert_eq!(gw.hup(), "reloaded generation 2");
    assert_eq!(gw.reloads(), 2);

    // No resumption was refused over the whole run, and every refusal was
    // counted once.
    let m = gw.metrics();
    assert_eq!(
        common::metric_sum(&m, "rebound_ticket_nacks_total"),
        0,
        "{m}"
    );
    assert_eq!(
        common::metric_sum(&m, "rebound_key_reload_refused_total"),
        6,
        "{m}"
    );
    gw.stop();
}

/// At start the reader's refusals stop the gateway before it binds
/// anything: a group- or world-readable key file, with the fix named.
#[test]
fn a_readable_key_file_stops_the_gateway_at_start() {
    let dir = TempDir::new("keystart");
    let d = &dir.0;
    ok(d, &["keys", "generate", "--file", "ticket.keys"]);
    for (mode, shown) in [(0o644, "0644"), (0o640, "0640"), (0o604, "0604")] {
        chmod(&d.join("ticket.keys"), mode);
        let out = rebound(
            d,
            &[
                "gateway",
                "--key-file",
                "ticket.keys",
                "--listen",
                "127.0.0.1:0",
                "--listen-natt",
                "127.0.0.1:0",
            ],
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(out.stdout.is_empty(), "nothing listened: {err}");
        assert!(err.contains(&format!("mode {shown}")), "{err}");
        assert!(err.contains("chmod 600 ticket.keys"), "{err}");
    }
    // The storm reads the file the same way.
    let out = rebound(
        d,
        &[
            "storm",
            "--target",
            "127.0.0.1:9",
            "--key-file",
            "ticket.keys",
            "--clients",
            "1",
            "--no-progress",
        ],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("chmod 600 ticket.keys"), "{err}");

    // Fixed: the gateway starts.
    chmod(&d.join("ticket.keys"), 0o600);
    let gw = Gateway::start(d, "ticket.keys");
    gw.stop();
}
