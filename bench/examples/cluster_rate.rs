//! Resumptions per second per worker core, a gateway alone next to a
//! gateway of a cluster on a loopback Redis (claims in Redis, parked
//! requests, the resume stage run twice), measured in the same run: the
//! release `rebound gateway` with its one worker pinned to the last core,
//! `rebound storm --target` (tickets minted from the key file) and
//! `redis-server` on the others, each mode a fresh gateway, alternating,
//! `--repeats` times.
//!
//! The per-core rate is resumptions (both exchanges) divided by the
//! worker thread's CPU time (user and system, from the gateway's metrics):
//! what one worker core sustains, the kernel's UDP path included. The
//! cluster thread's own CPU time (from /proc) is reported beside it: it
//! runs on another core, and a gateway of a cluster needs it.
//!
//! ```text
//! cargo build --release
//! cargo run --release -p rebound-bench --example cluster_rate -- \
//!     [--clients N] [--repeats R] [--arrival poisson:20000] [--out DIR]
//! ```
//!
//! Needs `redis-server` on PATH (Debian: redis-server) and two cores.

use std::fs;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::Duration;

fn die(msg: &str) -> ! {
    eprintln!("cluster_rate: {msg}");
    std::process::exit(2)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| die(&format!("no free port: {e}")))
}

/// A child process killed when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_port(port: u16, what: &str) {
    for _ in 0..400 {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        thread::sleep(Duration::from_millis(25));
    }
    die(&format!("{what} did not start in 10 s"))
}

fn metrics(port: u16) -> String {
    use std::io::{Read, Write};
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap_or_else(|e| die(&e.to_string()));
    let _ = s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

fn sum(text: &str, name: &str) -> u64 {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// The CPU time of process `pid` (all its threads), in milliseconds.
fn process_cpu_ms(pid: u32) -> u64 {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0;
    };
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ut: u64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0);
    let st: u64 = f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
    (ut + st) * 10
}

/// The CPU time of `pid`'s thread named `name`, in milliseconds.
fn thread_cpu_ms(pid: u32, name: &str) -> u64 {
    let tick = 100; // USER_HZ on Linux
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    let mut total = 0;
    for t in tasks.flatten() {
        let Ok(stat) = fs::read_to_string(t.path().join("stat")) else {
            continue;
        };
        let Some((comm, rest)) = stat.split_once(')') else {
            continue;
        };
        if !comm.contains(name) {
            continue;
        }
        let f: Vec<&str> = rest.split_whitespace().collect();
        // After the comm: state is field 3, utime 14 and stime 15.
        let ut: u64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0);
        let st: u64 = f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
        total += (ut + st) * 1000 / tick;
    }
    total
}

struct Run {
    resumed: u64,
    worker_ms: u64,
    cluster_ms: u64,
    redis_ms: u64,
    wall_rate: f64,
}

fn run(bin: &Path, dir: &Path, redis: Option<(u16, u32)>, a: &Args, cores: (usize, &str)) -> Run {
    let port = free_port();
    let mport = free_port();
    // An idle worker sleeps after one empty poll, so its CPU time is the
    // work (and the kernel's UDP path), not spinning between arrivals.
    let cfg = dir.join("gateway.toml");
    fs::write(&cfg, "[gateway]\nidle_spins = 1\nidle_sleep_us = 100\n")
        .unwrap_or_else(|e| die(&e.to_string()));
    let mut cmd = Command::new(bin);
    cmd.arg("gateway")
        .arg("--config")
        .arg(&cfg)
        .args(["--workers", "1", "--cores"])
        .arg(cores.0.to_string())
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--listen-natt")
        .arg(format!("127.0.0.1:{}", free_port()))
        .arg("--key-file")
        .arg(dir.join("ticket.keys"))
        .arg("--metrics")
        .arg(format!("127.0.0.1:{mport}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some((r, _)) = redis {
        cmd.arg("--cluster-redis")
            .arg(format!("redis://127.0.0.1:{r}"))
            .args(["--cluster-name", "bench"]);
    }
    let gw = Proc(
        cmd.spawn()
            .unwrap_or_else(|e| die(&format!("gateway: {e}"))),
    );
    wait_port(mport, "the gateway");
    thread::sleep(Duration::from_millis(300));
    let before = metrics(mport);
    let cpu = |m: &str| {
        sum(m, "rebound_worker_cpu_user_milliseconds_total")
            + sum(m, "rebound_worker_cpu_system_milliseconds_total")
    };
    let cluster_before = thread_cpu_ms(gw.0.id(), "rebound-cluster");
    let redis_cpu = || redis.map_or(0, |(_, pid)| process_cpu_ms(pid));
    let redis_before = redis_cpu();
    let json = dir.join("storm.json");
    let out = Command::new("taskset")
        .args(["-c", cores.1])
        .arg(bin)
        .args([
            "storm",
            "--target",
            &format!("127.0.0.1:{port}"),
            "--key-file",
        ])
        .arg(dir.join("ticket.keys"))
        .args(["--clients", &a.clients.to_string(), "--arrival", &a.arrival])
        .args(["--no-progress", "--json"])
        .arg(&json)
        .output()
        .unwrap_or_else(|e| die(&format!("storm: {e}")));
    if !out.status.success() {
        // Reported, not fatal: the figures say how many resumed.
        eprintln!(
            "cluster_rate: the storm did not resume every client:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    // The workers publish every 50 ms.
    thread::sleep(Duration::from_millis(200));
    let after = metrics(mport);
    let report: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&json).unwrap_or_default()).unwrap_or_default();
    let wall_rate = report["resumes_per_sec"].as_f64().unwrap_or(0.0);
    Run {
        resumed: sum(&after, "rebound_established_total")
            - sum(&before, "rebound_established_total"),
        worker_ms: cpu(&after) - cpu(&before),
        cluster_ms: thread_cpu_ms(gw.0.id(), "rebound-cluster") - cluster_before,
        redis_ms: redis_cpu() - redis_before,
        wall_rate,
    }
}

struct Args {
    clients: u64,
    repeats: usize,
    arrival: String,
    out: PathBuf,
}

fn main() {
    let mut a = Args {
        clients: 100_000,
        repeats: 3,
        arrival: "poisson:20000".into(),
        out: PathBuf::from("bench/results/cluster"),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let v = it
            .next()
            .unwrap_or_else(|| die(&format!("{flag} needs a value")));
        match flag.as_str() {
            "--clients" => a.clients = v.parse().unwrap_or_else(|_| die("--clients N")),
            "--repeats" => a.repeats = v.parse().unwrap_or_else(|_| die("--repeats R")),
            "--arrival" => a.arrival = v,
            "--out" => a.out = PathBuf::from(v),
            _ => die(&format!("unknown flag {flag}")),
        }
    }
    let bin = std::env::var_os("REBOUND_BIN").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/rebound"),
        PathBuf::from,
    );
    if !bin.exists() {
        die("target/release/rebound not found: run `cargo build --release` first");
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cores < 2 {
        die("needs two cores");
    }
    let worker_core = cores - 1;
    let others = if cores == 2 {
        "0".to_string()
    } else {
        format!("0-{}", cores - 2)
    };
    let dir = std::env::temp_dir().join(format!("rebound-cluster-rate-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap_or_else(|e| die(&e.to_string()));
    let st = Command::new(&bin)
        .args(["keys", "generate", "--file"])
        .arg(dir.join("ticket.keys"))
        .stdout(Stdio::null())
        .status()
        .unwrap_or_else(|e| die(&e.to_string()));
    if !st.success() {
        die("rebound keys generate failed");
    }
    let rport = free_port();
    let _redis = Proc(
        Command::new("taskset")
            .args(["-c", &others, "redis-server", "--port", &rport.to_string()])
            .args([
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
            ])
            .arg(&dir)
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| die(&format!("redis-server: {e}"))),
    );
    wait_port(rport, "redis-server");
    let redis_pid = _redis.0.id();

    println!(
        "| repeat | gateway | resumed | worker CPU µs / resumption | per worker core /s | ratio to alone | cluster thread CPU µs / resumption | redis-server CPU µs / resumption | storm rate /s |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    let mut rows = Vec::new();
    for rep in 1..=a.repeats {
        let mut alone_rate = 0.0;
        for (label, redis) in [
            ("alone", None),
            ("cluster (Redis)", Some((rport, redis_pid))),
        ] {
            let r = run(&bin, &dir, redis, &a, (worker_core, &others));
            let us = r.worker_ms as f64 * 1000.0 / r.resumed.max(1) as f64;
            let rate = 1e6 / us;
            if redis.is_none() {
                alone_rate = rate;
            }
            let cl = r.cluster_ms as f64 * 1000.0 / r.resumed.max(1) as f64;
            let rd = r.redis_ms as f64 * 1000.0 / r.resumed.max(1) as f64;
            println!(
                "| {rep} | {label} | {} | {us:.2} | {rate:.0} | {:.2} | {cl:.2} | {rd:.2} | {:.0} |",
                r.resumed,
                rate / alone_rate,
                r.wall_rate
            );
            rows.push(serde_json::json!({
                "repeat": rep, "gateway": label, "resumed": r.resumed,
                "worker_cpu_ms": r.worker_ms, "cluster_thread_cpu_ms": r.cluster_ms,
                "redis_server_cpu_ms": r.redis_ms,
                "per_core_rate": rate, "ratio_to_alone": rate / alone_rate,
                "storm_rate": r.wall_rate,
            }));
        }
    }
    let _ = fs::create_dir_all(&a.out);
    let cpu = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.to_string())
        })
        .unwrap_or_default();
    let doc = serde_json::json!({
        "cpu": cpu, "cores": cores, "clients": a.clients, "arrival": a.arrival, "runs": rows,
    });
    let path = a.out.join("cluster_rate.json");
    fs::write(
        &path,
        serde_json::to_string_pretty(&doc).unwrap_or_default(),
    )
    .unwrap_or_else(|e| die(&format!("{}: {e}", path.display())));
    println!("\n{}", path.display());
    let _ = fs::remove_dir_all(&dir);
}
