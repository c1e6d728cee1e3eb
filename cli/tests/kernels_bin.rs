//! The crypto kernels in the real process: `rebound gateway` measures
//! them at start and logs what it chose; with `REBOUND_KERNELS=portable`
//! every kernel is the portable (RustCrypto) path. Either way a storm
//! through the gateway resumes every client and the control plane
//! receives every SA.

mod common;
use common::{GatewayProcess, TempDir, metric_sum};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_rebound");
const CLIENTS: u64 = 300;

fn ok(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run rebound");
    assert!(
        out.status.success(),
        "rebound {args:?}:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The gateway's log line naming the kernels (within 10 s of start).
fn kernels_line(gw: &GatewayProcess) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = gw
            .log
            .recv_timeout(left)
            .expect("the gateway logs its crypto kernels");
        if line.contains("crypto kernels chosen by measurement") {
            return line;
        }
    }
}

/// A storm of `CLIENTS` through `gw`; every one must resume (the storm
/// exits 1 otherwise), and the gateway counts them established.
fn storm_through(dir: &Path, gw: &GatewayProcess) {
    let target = gw.ike.to_string();
    let n = CLIENTS.to_string();
    let out = ok(
        dir,
        &[
            "storm",
            "--target",
            &target,
            "--key-file",
            "ticket.keys",
            "--clients",
            &n,
            "--no-progress",
        ],
    );
    assert!(
        out.contains(&format!("{CLIENTS}/{CLIENTS} clients resumed")),
        "{out}"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while metric_sum(&gw.scrape(), "rebound_established_total") < CLIENTS {
        assert!(Instant::now() < deadline, "the SAs reach the control plane");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_gateway_measures_its_kernels_and_resumes_on_either_path() {
    let dir = TempDir::new("kernelsbin");
    let d = dir.0.as_path();
    ok(d, &["keys", "generate", "--file", "ticket.keys"]);
    let args = ["--key-file", "ticket.keys", "--workers", "1"];

    // Whatever the calibration picked on this CPU.
    let gw = GatewayProcess::start(d, &args);
    let line = kernels_line(&gw);
    assert!(line.contains("forced_portable=false"), "{line}");
    assert!(line.contains("sha256=") && line.contains("gcm="), "{line}");
    storm_through(d, &gw);
    gw.stop();

    // The portable fallback, forced: the same storm, the same outcome.
    let gw = GatewayProcess::start_with_env(d, &args, &[("REBOUND_KERNELS", "portable")]);
    let line = kernels_line(&gw);
    assert!(line.contains("forced_portable=true"), "{line}");
    assert!(line.contains("sha256=\"portable\""), "{line}");
    assert!(line.contains("gcm=\"portable\""), "{line}");
    storm_through(d, &gw);
    gw.stop();
}
