//! Single use across a restart of the real `rebound gateway` process
//! (`--guard-state FILE`): tickets a first gateway process resumed are all
//! refused (TICKET_NACK, `reused`) by a second process started with the
//! same key file and state file, while tickets never used still resume; a
//! third process without the state file accepts the same used tickets
//! again (what the state file prevents). A state file that cannot be
//! loaded stops the gateway with an error naming it.
//!
//! `rebound storm` carries the tickets from one process to the next:
//! `--save-tickets` writes phase 1's tickets, `--tickets-only` stops there,
//! `--load-tickets` skips phase 1 and `--expect-refused` passes only when
//! every ticket is refused with TICKET_NACK.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{GatewayProcess, Running, TempDir, metric_sum, metric_with, rebound_in};

const BIN: &str = env!("CARGO_BIN_EXE_rebound");
/// Clients whose tickets the first gateway process resumes.
const USED: usize = 200;
/// Clients whose tickets no gateway sees before the restart.
const UNUSED: usize = 50;

/// `rebound storm --target GW --no-progress ARGS`, which must succeed (its
/// verdict passed).
fn storm(dir: &Path, gw: &GatewayProcess, args: &[&str]) {
    let target = gw.ike.to_string();
    let mut all = vec!["storm", "--target", &target, "--no-progress"];
    all.extend_from_slice(args);
    let out = rebound_in(dir, &all);
    assert!(
        out.status.success(),
        "rebound {}:\n{}\n{}",
        all.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The gateway's metrics once `name` has reached `want` (the workers
/// publish their counters every 50 ms).
fn metrics_when(gw: &GatewayProcess, name: &str, want: u64) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let m = gw.scrape();
        if metric_sum(&m, name) >= want || Instant::now() > deadline {
            return m;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn gateway(dir: &Path, extra: &[&str]) -> GatewayProcess {
    let mut args = vec![
        "--key-file",
        "ticket.keys",
        "--workers",
        "1",
        "--idle-sleep-us",
        "100",
    ];
    args.extend_from_slice(extra);
    GatewayProcess::start(dir, &args)
}

#[test]
fn tickets_used_before_a_restart_are_refused_after_it() {
    let dir = TempDir::new("guardbin");
    let d = &dir.0;
    let out = rebound_in(d, &["keys", "generate", "--file", "ticket.keys"]);
    assert!(out.status.success(), "{out:?}");
    let used = USED.to_string();
    let unused = UNUSED.to_string();

    // The first process: USED clients resume; their tickets are saved.
    let gw = gateway(d, &["--guard-state", "guard.state"]);
    storm(
        d,
        &gw,
        &[
            "--key-file",
            "ticket.keys",
            "--clients",
            &used,
            "--save-tickets",
            "used.tickets",
        ],
    );
    // Tickets of other clients, never presented before the restart.
    storm(
        d,
        &gw,
        &[
            "--key-file",
            "ticket.keys",
            "--clients",
            &unused,
            "--save-tickets",
            "unused.tickets",
            "--tickets-only",
        ],
    );
    let m = metrics_when(&gw, "rebound_established_total", USED as u64);
    assert_eq!(metric_sum(&m, "rebound_established_total"), USED as u64);
    assert_eq!(metric_sum(&m, "rebound_ticket_nacks_total"), 0, "{m}");
    // SIGTERM: drains, then saves the guard.
    let (_, log) = gw.stop();
    assert!(log.contains("single-use guard saved at drain"), "{log}");
    assert!(d.join("guard.state").is_file());

    // A fresh process with the same key file and state file: every used
    // ticket is refused at IKE_SESSION_RESUME, none gets Nr.
    let gw = gateway(d, &["--guard-state", "guard.state"]);
    storm(
        d,
        &gw,
        &["--load-tickets", "used.tickets", "--expect-refused"],
    );
    let m = metrics_when(&gw, "rebound_ticket_nacks_total", USED as u64);
    assert_eq!(
        metric_with(&m, "rebound_ticket_nacks_total", "reason=\"reused\""),
        USED as u64,
        "{m}"
    );
    assert_eq!(metric_sum(&m, "rebound_ticket_nacks_total"), USED as u64);
    assert_eq!(metric_sum(&m, "rebound_resume_accepted_total"), 0, "{m}");
    assert_eq!(metric_sum(&m, "rebound_established_total"), 0);
    // The tickets no one used resume.
    storm(d, &gw, &["--load-tickets", "unused.tickets"]);
    let m = metrics_when(&gw, "rebound_established_total", UNUSED as u64);
    assert_eq!(metric_sum(&m, "rebound_established_total"), UNUSED as u64);
    assert_eq!(metric_sum(&m, "rebound_ticket_nacks_total"), USED as u64);
    let (_, log) = gw.stop();
    assert!(log.contains("loaded from its state file"), "{log}");

    // The same used tickets, at a process without the state file: they
    // resume again. This is the replay the state file stops, and it shows
    // the tickets refused above were refused for being used.
    let gw = gateway(d, &[]);
    storm(d, &gw, &["--load-tickets", "used.tickets"]);
    let m = metrics_when(&gw, "rebound_established_total", USED as u64);
    assert_eq!(metric_sum(&m, "rebound_established_total"), USED as u64);
    let (_, log) = gw.stop();
    assert!(
        log.contains("single use does not survive a restart"),
        "{log}"
    );
}

/// `rebound gateway` with a state file it cannot load exits non-zero
/// before it listens, naming the file and what to do.
#[test]
fn a_corrupt_state_file_stops_the_gateway() {
    let dir = TempDir::new("guardbad");
    let d = &dir.0;
    let out = rebound_in(d, &["keys", "generate", "--file", "ticket.keys"]);
    assert!(out.status.success(), "{out:?}");
    // A real state file, from a gateway that drained.
    let gw = gateway(d, &["--guard-state", "guard.state"]);
    gw.stop();
    let mut bytes = std::fs::read(d.join("guard.state")).expect("saved at drain");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(d.join("guard.state"), &bytes).unwrap();

    let child = Command::new(BIN)
        .args([
            "gateway",
            "--key-file",
            "ticket.keys",
            "--guard-state",
            "guard.state",
            "--listen",
            "127.0.0.1:0",
            "--listen-natt",
            "127.0.0.1:0",
        ])
        .current_dir(d)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start rebound gateway");
    let mut child = Running(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = child.0.try_wait().expect("wait") {
            break s;
        }
        assert!(Instant::now() < deadline, "the gateway started anyway");
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    let mut stdout = String::new();
    use std::io::Read;
    child
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    child
        .0
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    assert!(!status.success(), "{status:?}\n{stderr}");
    assert!(!stdout.contains("listening"), "{stdout}");
    assert!(
        stderr.contains("guard state file guard.state: checksum mismatch"),
        "{stderr}"
    );
    assert!(stderr.contains("move guard.state away"), "{stderr}");
}
