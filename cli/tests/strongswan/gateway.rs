//! The real `rebound gateway` inside the gateway's network namespace, from
//! a config file, with its Prometheus endpoint on that namespace's
//! loopback (read from inside the namespace with bash's /dev/tcp: the test
//! itself stays in the host's namespace).

// Each strongSwan test binary (strongswan.rs, strongswan_children.rs)
// uses a part of this module.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::netns::NetnsPair;
use crate::common::{Running, metric_sum};

const BIN: &str = env!("CARGO_BIN_EXE_rebound");

/// A running gateway; killed when dropped.
pub struct Gateway {
    pub proc: Running,
    pub ns: String,
    /// What `listening …` named: the IKE and NAT-T addresses.
    pub listening: Vec<SocketAddr>,
    /// The metrics endpoint, inside the namespace.
    pub metrics_port: u16,
    stderr: PathBuf,
}

impl Gateway {
    /// Write `config` to `gateway.toml` in `dir` (mode 0600: it holds a
    /// PSK) and start `rebound gateway --config gateway.toml --metrics
    /// 127.0.0.1:0` in namespace `ns`, with `dir` as its working directory
    /// (relative paths in the file are taken from there). Debug logs of the
    /// control plane go to `gateway.err`. Waits for the `listening` and
    /// `metrics` lines.
    pub fn start(ns: &str, dir: &Path, config: &str) -> Gateway {
        let path = dir.join("gateway.toml");
        std::fs::write(&path, config).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let stderr = dir.join("gateway.err");
        let err = std::fs::File::create(&stderr).unwrap();
        let child = NetnsPair::exec(ns, BIN)
            .args(["gateway", "--config", "gateway.toml"])
            .args(["--metrics", "127.0.0.1:0"])
            .env("RUST_LOG", "info,rebound_dataplane::control=debug")
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(err)
            .spawn()
            .expect("start rebound gateway");
        let mut proc = Running(child);
        // Its stdout on a thread, so that a gateway that never says
        // anything fails the test instead of hanging it.
        let stdout = proc.0.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let next_line = |what: &str| -> String {
            rx.recv_timeout(Duration::from_secs(20))
                .unwrap_or_else(|_| {
                    panic!(
                        "the gateway printed no {what} line:\n{}",
                        std::fs::read_to_string(&stderr).unwrap_or_default()
                    )
                })
        };
        let first = next_line("listening");
        let listening: Vec<SocketAddr> = first
            .strip_prefix("listening ")
            .unwrap_or_else(|| panic!("{first}"))
            .split(' ')
            .map(|a| a.parse().expect("an address"))
            .collect();
        let second = next_line("metrics");
        let metrics: SocketAddr = second
            .strip_prefix("metrics http://")
            .and_then(|r| r.strip_suffix("/metrics"))
            .unwrap_or_else(|| panic!("{second}"))
            .parse()
            .expect("metrics address");
        Gateway {
            proc,
            ns: ns.to_owned(),
            listening,
            metrics_port: metrics.port(),
            stderr,
        }
    }

    pub fn pid(&self) -> u32 {
        self.proc.0.id()
    }

    /// The gateway's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// `GET /metrics`, from inside the namespace.
    pub fn metrics(&self) -> String {
        let script = "exec 3<>/dev/tcp/127.0.0.1/$1 || exit 1; \
                      printf 'GET /metrics HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n' >&3; \
                      cat <&3";
        let out = NetnsPair::exec(&self.ns, "bash")
            .args(["-c", script, "metrics", &self.metrics_port.to_string()])
            .output()
            .expect("run bash in the gateway's namespace");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success() && text.starts_with("HTTP/1.1 200"),
            "metrics: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        text
    }

    /// Poll the metrics (workers and the control plane publish them every
    /// few tens of milliseconds) until counter `name` reaches `at_least`
    /// or `limit` passes; its last value.
    pub fn wait_counter(&self, name: &str, at_least: u64, limit: Duration) -> u64 {
        let deadline = Instant::now() + limit;
        loop {
            let v = metric_sum(&self.metrics(), name);
            if v >= at_least || Instant::now() > deadline {
                return v;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
