//! Legitimate resumptions per second against hostile load: the release
//! `rebound gateway` with its one worker pinned to a core, and `rebound
//! storm --target` pinned to the other core(s) (`taskset`), once clean and
//! then with `--hostile all,xM` (M hostile datagrams per legitimate one:
//! forged, replayed, random and truncated datagrams, a stolen ticket,
//! half-open floods, wrong AUTHs, IKE_SA_INIT), each a fresh gateway.
//! Prints a Markdown table (goodput, its ratio to the clean run of the same
//! repeat, p50/p99 latency), writes the storms' JSON reports and an SVG
//! plot into the output directory.
//!
//! ```text
//! cargo build --release
//! cargo run --release -p rebound-bench --example hostile_goodput -- \
//!     [--clients N] [--repeats R] [--multiples 0,1,2,5,10] [--mix all]
//!     [--arrival poisson:10000] [--out DIR]
//! ```
//!
//! The `rebound` binary is `target/release/rebound` (or `$REBOUND_BIN`).
//! Needs two cores at least: the gateway's worker on the last, the storm
//! on the others.

use std::fs;
use std::net::{TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::Duration;

use plotters::prelude::*;
use serde_json::Value;

struct Args {
    clients: u64,
    repeats: usize,
    multiples: Vec<u32>,
    mix: String,
    arrival: String,
    out: PathBuf,
}

fn args() -> Args {
    let mut a = Args {
        clients: 20_000,
        repeats: 3,
        multiples: vec![0, 1, 2, 5, 10],
        mix: "all".into(),
        arrival: "poisson:10000".into(),
        out: PathBuf::from("bench/results/hostile"),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let v = it
            .next()
            .unwrap_or_else(|| die(&format!("{flag} needs a value")));
        match flag.as_str() {
            "--clients" => a.clients = v.parse().unwrap_or_else(|_| die("--clients N")),
            "--repeats" => a.repeats = v.parse().unwrap_or_else(|_| die("--repeats R")),
            "--multiples" => {
                a.multiples = v
                    .split(',')
                    .map(|m| m.parse().unwrap_or_else(|_| die("--multiples 0,1,2")))
                    .collect()
            }
            "--mix" => a.mix = v,
            "--arrival" => a.arrival = v,
            "--out" => a.out = PathBuf::from(v),
            _ => die(&format!("unknown option {flag}")),
        }
    }
    a
}

fn die(msg: &str) -> ! {
    eprintln!("hostile_goodput: {msg}");
    std::process::exit(2)
}

fn rebound_bin() -> PathBuf {
    let p = std::env::var_os("REBOUND_BIN").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/rebound"),
        PathBuf::from,
    );
    if !p.exists() {
        die(&format!(
            "{} not found: run `cargo build --release` first (or set REBOUND_BIN)",
            p.display()
        ));
    }
    p
}

fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| die(&format!("no free port: {e}")))
}

fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| die(&format!("no free port: {e}")))
}

/// The gateway, its worker pinned to `core`; killed when dropped.
struct Gateway(Child);

impl Gateway {
    fn start(bin: &Path, key_file: &Path, port: u16, core: usize) -> Gateway {
        let metrics = free_tcp_port();
        let gw = Gateway(
            Command::new(bin)
                .args(["gateway", "--listen"])
                .arg(format!("127.0.0.1:{port}"))
                .arg("--listen-natt")
                .arg(format!("127.0.0.1:{}", free_port()))
                .args(["--workers", "1", "--cores"])
                .arg(core.to_string())
                .arg("--key-file")
                .arg(key_file)
                .arg("--metrics")
                .arg(format!("127.0.0.1:{metrics}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| die(&format!("starting the gateway: {e}"))),
        );
        // Up when its metrics endpoint takes connections (bound with its
        // IKE sockets; probing the IKE port itself could race the
        // gateway's own check that nobody else holds it).
        for _ in 0..200 {
            if TcpStream::connect(("127.0.0.1", metrics)).is_ok() {
                return gw;
            }
            thread::sleep(Duration::from_millis(25));
        }
        drop(gw);
        die("the gateway did not bind its port in 5 s")
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One storm's figures.
struct Run {
    goodput: f64,
    established: u64,
    p50_ms: f64,
    p99_ms: f64,
    hostile_sent: u64,
}

fn storm(a: &Args, bin: &Path, dir: &Path, m: u32, rep: usize, gen_cores: &str) -> Run {
    let key_file = dir.join("ticket.keys");
    let port = free_port();
    let cores = core_affinity_count();
    let _gw = Gateway::start(bin, &key_file, port, cores - 1);
    let json = a.out.join(format!("storm-x{m}-{rep}.json"));
    // A storm that dies before writing must not leave an older run's
    // report to be read.
    let _ = fs::remove_file(&json);
    let mut cmd = Command::new("taskset");
    cmd.args(["-c", gen_cores])
        .arg(bin)
        .args(["storm", "--no-progress", "--target"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("--key-file")
        .arg(&key_file)
        .arg("--clients")
        .arg(a.clients.to_string())
        .arg("--arrival")
        .arg(&a.arrival)
        .arg("--json")
        .arg(&json);
    if m > 0 {
        cmd.arg("--hostile").arg(format!("{},x{m}", a.mix));
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| die(&format!("running the storm: {e}")));
    let report: Value = fs::read(&json)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_else(|| {
            die(&format!(
                "storm x{m} wrote no report: {}",
                String::from_utf8_lossy(&out.stderr)
            ))
        });
    let num = |v: &Value| v.as_f64().unwrap_or(0.0);
    Run {
        goodput: num(&report["resumes_per_sec"]),
        established: report["established"].as_u64().unwrap_or(0),
        p50_ms: num(&report["latency"]["p50_us"]) / 1000.0,
        p99_ms: num(&report["latency"]["p99_us"]) / 1000.0,
        hostile_sent: report["hostile"]["sent"].as_u64().unwrap_or(0),
    }
}

fn core_affinity_count() -> usize {
    thread::available_parallelism().map_or(1, |n| n.get())
}

fn main() {
    let a = args();
    if a.multiples.first() != Some(&0) {
        die("--multiples must start with 0: the clean run each ratio is taken against");
    }
    let bin = rebound_bin();
    let cores = core_affinity_count();
    if cores < 2 {
        die("needs two cores: one for the gateway's worker, one for the storm");
    }
    let gen_cores = if cores == 2 {
        "0".to_string()
    } else {
        format!("0-{}", cores - 2)
    };
    fs::create_dir_all(&a.out).unwrap_or_else(|e| die(&format!("{}: {e}", a.out.display())));
    let dir = std::env::temp_dir().join(format!("rebound-hostile-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap_or_else(|e| die(&format!("{}: {e}", dir.display())));
    let status = Command::new(&bin)
        .args(["keys", "generate", "--file"])
        .arg(dir.join("ticket.keys"))
        .status()
        .unwrap_or_else(|e| die(&format!("rebound keys generate: {e}")));
    if !status.success() {
        die("rebound keys generate failed");
    }

    // Repeats outermost, so each repeat's clean run and hostile runs are
    // neighbours in time (the ratio is taken within a repeat).
    let mut runs: Vec<Vec<Run>> = Vec::new();
    for rep in 0..a.repeats {
        let mut row = Vec::new();
        for &m in &a.multiples {
            let r = storm(&a, &bin, &dir, m, rep, &gen_cores);
            eprintln!(
                "repeat {rep} x{m}: {:.0} resumes/s, {} of {} established, p99 {:.1} ms, {} hostile",
                r.goodput, r.established, a.clients, r.p99_ms, r.hostile_sent
            );
            row.push(r);
        }
        runs.push(row);
    }
    let _ = fs::remove_dir_all(&dir);

    println!(
        "| hostile load | legitimate resumes/s (median of {}) | vs clean, same repeat (min–max) | established | p50 ms | p99 ms |",
        a.repeats
    );
    println!("| --- | --- | --- | --- | --- | --- |");
    let mut points = Vec::new();
    for (i, &m) in a.multiples.iter().enumerate() {
        let mut rates: Vec<f64> = runs.iter().map(|row| row[i].goodput).collect();
        let ratios: Vec<f64> = runs
            .iter()
            .map(|row| row[i].goodput / row[0].goodput.max(1.0))
            .collect();
        let mut p50: Vec<f64> = runs.iter().map(|row| row[i].p50_ms).collect();
        let mut p99: Vec<f64> = runs.iter().map(|row| row[i].p99_ms).collect();
        let est_min = runs.iter().map(|row| row[i].established).min().unwrap_or(0);
        let med = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let (lo, hi) = ratios
            .iter()
            .fold((f64::MAX, f64::MIN), |(l, h), &r| (l.min(r), h.max(r)));
        let rate = med(&mut rates);
        let p99m = med(&mut p99);
        println!(
            "| {}× | {:.0} | {:.2}–{:.2} | {} of {} (least) | {:.0} | {:.0} |",
            m,
            rate,
            lo,
            hi,
            est_min,
            a.clients,
            med(&mut p50),
            p99m
        );
        points.push((m, rate, p99m));
    }
    let svg = a.out.join("hostile_goodput.svg");
    plot(&svg, &points).unwrap_or_else(|e| die(&format!("plot: {e}")));
    println!("\nplot: {}", svg.display());
}

/// Goodput (left) and p99 latency (right) against the hostile multiple.
fn plot(path: &Path, points: &[(u32, f64, f64)]) -> Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::new(path, (800, 480)).into_drawing_area();
    root.fill(&WHITE)?;
    let max_x = points.iter().map(|p| p.0).max().unwrap_or(1).max(1);
    let max_rate = points.iter().map(|p| p.1).fold(1.0, f64::max) * 1.15;
    let max_p99 = points.iter().map(|p| p.2).fold(1.0, f64::max) * 1.15;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Legitimate resumptions under hostile load (one worker core)",
            ("sans-serif", 20),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .right_y_label_area_size(70)
        .build_cartesian_2d(0u32..max_x, 0.0..max_rate)?
        .set_secondary_coord(0u32..max_x, 0.0..max_p99);
    chart
        .configure_mesh()
        .x_desc("hostile datagrams per legitimate datagram")
        .y_desc("legitimate resumes / s")
        .draw()?;
    chart
        .configure_secondary_axes()
        .y_desc("p99 latency, ms")
        .draw()?;
    chart
        .draw_series(LineSeries::new(points.iter().map(|p| (p.0, p.1)), &BLUE))?
        .label("resumes / s")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLUE));
    chart.draw_series(
        points
            .iter()
            .map(|p| Circle::new((p.0, p.1), 4, BLUE.filled())),
    )?;
    chart
        .draw_secondary_series(LineSeries::new(points.iter().map(|p| (p.0, p.2)), &RED))?
        .label("p99 latency (right)")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], RED));
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}
