//! Shared by the tests of the `rebound` binary: run it, scratch
//! directories, a hand-off daemon and reading Prometheus counters.

// Each test binary uses a part of this module.
#![allow(dead_code)]

use std::process::{Child, Command};

#[path = "../../../dataplane/tests/common/mod.rs"]
mod tempdir;
#[allow(unused_imports)]
pub use tempdir::{TempDir, handoff_daemon};

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

/// A hand-off daemon on the Unix socket `path`: it acknowledges every line
/// by its sequence number (cumulative `N\n`, as the gateway's sink wants)
/// The sum of a Prometheus counter over its label sets (0 when absent).
pub fn metric_sum(text: &str, name: &str) -> u64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum()
}
