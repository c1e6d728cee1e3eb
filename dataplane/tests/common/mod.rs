//! Shared by the dataplane's tests: run the real `rebound` binary, scratch
//! directories, a hand-off daemon and reading Prometheus counters.

// Each test binary uses a part of this module.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::mpsc;
use std::time::{SystemTime, UNIX_EPOCH};

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir =
            std::env::temp_dir().join(format!("rebound-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    /// The path of `name` in the directory.
    pub fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// Write `contents` to `name` in the directory; its path.
    pub fn write(&self, name: &str, contents: &str) -> PathBuf {
        let p = self.file(name);
        std::fs::write(&p, contents).unwrap();
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

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
/// and forwards the lines to the test.
pub fn handoff_daemon(path: &Path) -> mpsc::Receiver<String> {
    let listener = UnixListener::bind(path).expect("hand-off socket");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { return };
            let tx = tx.clone();
            std::thread::spawn(move || {
                let Ok(mut acks) = conn.try_clone() else {
                    return;
                };
                for line in BufReader::new(conn).lines() {
                    let Ok(line) = line else { return };
                    // Acknowledge the line by its sequence number.
                    let v: serde_json::Value = serde_json::from_str(&line).expect("JSON line");
                    let seq = v["seq"].as_u64().expect("seq");
                    if acks.write_all(format!("{seq}\n").as_bytes()).is_err() {
                        return;
                    }
                    if tx.send(line).is_err() {
                        return;
                    }
                }
            });
        }
    });
    rx
}

/// The sum of a Prometheus counter over its label sets (0 when absent).
pub fn metric_sum(text: &str, name: &str) -> u64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum()
}
