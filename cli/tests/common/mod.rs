//! Shared by the tests of the `rebound` binary: run it, scratch
//! directories, a hand-off daemon and reading Prometheus counters.

// Each test binary uses a part of this module.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::sync::mpsc;

// The gateway's tests' helpers: scratch directories, the hand-off daemon,
// the client.
pub mod redis;
#[path = "../../../dataplane/tests/common/mod.rs"]
mod shared;
#[allow(unused_imports)]
pub use shared::{TempDir, client, handoff_daemon};

/// Run `rebound` with `args`; exit code (-1 if killed), stdout, stderr.
pub fn rebound(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rebound"))
        .args(args)
        .output()
        .expect("run rebound");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Run `rebound ARGS` in `dir` (relative paths in ARGS are taken from it).
pub fn rebound_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rebound"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run rebound")
}

/// `rebound keys generate --file FILE` in `dir`, which must succeed.
pub fn generate_keys(dir: &Path, file: &str) {
    let out = rebound_in(dir, &["keys", "generate", "--file", file]);
    assert!(out.status.success(), "{out:?}");
}

/// `rebound storm ARGS --no-progress --json NAME.json` in `dir`: its exit
/// code, its report (`Null` when it wrote none), and what it printed
/// (standard output then error, also echoed for a failing test's log).
pub fn storm_report(dir: &Path, name: &str, args: &[&str]) -> (i32, serde_json::Value, String) {
    let json = format!("{name}.json");
    let _ = std::fs::remove_file(dir.join(&json));
    let mut all = vec!["storm"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--no-progress", "--json", &json]);
    let out = rebound_in(dir, &all);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("storm {name}:\n{text}");
    let report = std::fs::read_to_string(dir.join(&json))
        .map(|t| serde_json::from_str(&t).expect("the report parses"))
        .unwrap_or(serde_json::Value::Null);
    (out.status.code().unwrap_or(-1), report, text)
}

/// A process killed (and reaped) if the test ends before it exits.
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Send signal `sig` (`TERM`, `HUP`, …) to process `pid`, with the shell's
/// built-in kill (no procps package needed).
pub fn signal(pid: u32, sig: &str) {
    let ok = Command::new("sh")
        .args(["-c", &format!("kill -{sig} {pid}")])
        .status()
        .expect("sh")
        .success();
    assert!(ok, "kill -{sig} {pid}");
}

/// The sum of a Prometheus counter over its label sets (0 when absent).
pub fn metric_sum(text: &str, name: &str) -> u64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum()
}

/// The sum of a Prometheus counter over the label sets that contain
/// `label` (`reason="revoked"`).
pub fn metric_with(text: &str, name: &str, label: &str) -> u64 {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) && l.contains(label))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum()
}

/// `GET /metrics` from the endpoint at `addr`: the exposition text.
pub fn scrape(addr: SocketAddr) -> String {
    let mut s = TcpStream::connect(addr).expect("metrics endpoint");
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .expect("request");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("response");
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    out
}

/// A `rebound gateway` process on loopback: its IKE and NAT-T addresses
/// and its metrics endpoint, as it printed them, its standard output (one
/// line per SIGHUP, a summary when it stops) and its log lines (standard
/// error, read by a thread).
pub struct GatewayProcess {
    pub process: Running,
    pub ike: SocketAddr,
    pub natt: SocketAddr,
    pub metrics: SocketAddr,
    pub stdout: BufReader<ChildStdout>,
    pub log: mpsc::Receiver<String>,
}

impl GatewayProcess {
    /// `rebound gateway ARGS --listen 127.0.0.1:0 --listen-natt 127.0.0.1:0
    /// --metrics 127.0.0.1:0` run in `dir` (the ports chosen by the system;
    /// the flags override a config file's addresses).
    pub fn start(dir: &Path, args: &[&str]) -> GatewayProcess {
        Self::start_with_env(dir, args, &[])
    }

    /// As [`GatewayProcess::start`], with environment variables set.
    pub fn start_with_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> GatewayProcess {
        let child = Command::new(env!("CARGO_BIN_EXE_rebound"))
            .envs(env.iter().copied())
            .arg("gateway")
            .args(args)
            .args([
                "--listen",
                "127.0.0.1:0",
                "--listen-natt",
                "127.0.0.1:0",
                "--metrics",
                "127.0.0.1:0",
            ])
            .current_dir(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start rebound gateway");
        let mut process = Running(child);
        let stderr = process.0.stderr.take().expect("stderr");
        let (tx, log) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut stdout = BufReader::new(process.0.stdout.take().expect("stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("the listening line");
        let addrs: Vec<SocketAddr> = line
            .trim()
            .strip_prefix("listening ")
            .unwrap_or_else(|| {
                // It exits: its standard error closes within the second.
                let wait = std::time::Duration::from_secs(1);
                let log: Vec<String> = std::iter::from_fn(|| log.recv_timeout(wait).ok()).collect();
                panic!("the gateway did not start: {line:?}\n{}", log.join("\n"))
            })
            .split(' ')
            .map(|a| a.parse().expect("an address"))
            .collect();
        assert_eq!(addrs.len(), 2, "IKE and NAT-T: {line}");
        let mut m = String::new();
        stdout.read_line(&mut m).expect("the metrics line");
        let metrics = m
            .trim()
            .strip_prefix("metrics http://")
            .and_then(|r| r.strip_suffix("/metrics"))
            .unwrap_or_else(|| panic!("{m:?}"))
            .parse()
            .expect("the metrics address");
        GatewayProcess {
            process,
            ike: addrs[0],
            natt: addrs[1],
            metrics,
            stdout,
            log,
        }
    }

    /// The metrics text now.
    pub fn scrape(&self) -> String {
        scrape(self.metrics)
    }

    /// The metrics text once `ready` holds on it; the test fails, naming
    /// `what`, when it does not within 10 s (workers publish every 50 ms).
    pub fn metrics_when(&self, what: &str, ready: impl Fn(&str) -> bool) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let text = self.scrape();
            if ready(&text) {
                return text;
            }
            assert!(std::time::Instant::now() < deadline, "{what}:\n{text}");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// SIGTERM: the gateway must drain and exit 0 within 30 s; what it
    /// printed after its last answer (the `stopped: ...` summary) and the
    /// log lines not read yet.
    pub fn stop(mut self) -> (String, String) {
        signal(self.process.0.id(), "TERM");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let status = loop {
            if let Some(s) = self.process.0.try_wait().expect("wait") {
                break s;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the gateway did not exit on SIGTERM"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        assert!(status.success(), "{status:?}");
        let mut rest = String::new();
        self.stdout.read_to_string(&mut rest).expect("stdout");
        assert!(rest.starts_with("stopped: "), "{rest}");
        // The reader thread ends at the closed pipe.
        let log: Vec<String> = self.log.iter().collect();
        (rest, log.join("\n"))
    }
}
