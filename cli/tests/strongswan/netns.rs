//! Two network namespaces joined by a veth pair, made by the test and
//! removed when dropped (also when the test panics), so no packet of the
//! interop test ever leaves them: the gateway's side holds [`GW_ADDR`], the
//! client's side [`CLIENT_ADDR`]. Nothing is added to the host's own
//! namespace: both veth ends are created directly inside the namespaces.
//!
//! Names carry the test process's pid and a per-process counter, so parallel
//! tests and parallel test runs never collide; namespaces left behind by a
//! run that was killed (its pid gone) are removed by the next one.

// Each strongSwan test binary (strongswan.rs, strongswan_children.rs)
// uses a part of this module.
#![allow(dead_code)]

use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

/// The gateway's IKE address (its veth end), /24.
pub const GW_ADDR: &str = "10.77.0.1";
/// The client's IKE address (its veth end), /24.
pub const CLIENT_ADDR: &str = "10.77.0.2";
/// The tunnel's inner networks, apart from the IKE addresses (a route for
/// the remote selector must not capture the IKE traffic): the client's side
/// and the gateway's side. [`CLIENT_INNER_ADDR`] sits on the client
/// namespace's loopback so that charon's kernel-libipsec finds a source
/// address inside its local selector for the route it installs.
pub const CLIENT_INNER_NET: &str = "10.78.1.0/24";
pub const CLIENT_INNER_ADDR: &str = "10.78.1.1";
pub const GW_INNER_NET: &str = "10.78.2.0/24";
/// The gateway-side counterpart of [`CLIENT_INNER_ADDR`], for a strongSwan
/// responder standing in for the gateway (the harness self-check).
pub const GW_INNER_ADDR: &str = "10.78.2.1";

/// Prefix of every namespace this harness creates: `rbss-<pid>-<n>-gw`.
const PREFIX: &str = "rbss-";

static NEXT: AtomicU32 = AtomicU32::new(0);

/// `ip ARGS`; the output, whether or not it succeeded.
pub fn ip(args: &[&str]) -> Output {
    Command::new("ip")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run `ip` (iproute2): {e}"))
}

/// `ip ARGS`, which must succeed; its stdout.
pub fn ip_ok(args: &[&str]) -> String {
    let out = ip(args);
    assert!(
        out.status.success(),
        "ip {}: {}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The namespace names `ip netns list` shows.
pub fn list() -> Vec<String> {
    ip_ok(&["netns", "list"])
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

/// The named namespace process `pid` is in (`ip netns identify`), if any.
pub fn identify(pid: u32) -> String {
    ip_ok(&["netns", "identify", &pid.to_string()])
        .trim()
        .to_owned()
}

/// The gateway's and the client's namespace and veth ends.
pub struct NetnsPair {
    pub gw: String,
    pub client: String,
    pub gw_if: String,
    pub client_if: String,
}

impl NetnsPair {
    /// Create both namespaces, the veth pair between them, the addresses,
    /// and bring every link (loopback included) up. Panics, having removed
    /// whatever it made, if a step fails.
    pub fn new() -> NetnsPair {
        remove_stale();
        let pid = std::process::id();
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        // Interface names are at most 15 bytes: "rb" + pid (<= 7 digits)
        // + side + counter.
        let pair = NetnsPair {
            gw: format!("{PREFIX}{pid}-{n}-gw"),
            client: format!("{PREFIX}{pid}-{n}-cl"),
            gw_if: format!("rb{pid}g{n}"),
            client_if: format!("rb{pid}c{n}"),
        };
        // From here on, Drop removes what exists.
        ip_ok(&["netns", "add", &pair.gw]);
        ip_ok(&["netns", "add", &pair.client]);
        #[rustfmt::skip]
        ip_ok(&[
            "link", "add", &pair.gw_if, "netns", &pair.gw,
            "type", "veth", "peer", "name", &pair.client_if, "netns", &pair.client,
        ]);
        let sides = [
            (&pair.gw, &pair.gw_if, GW_ADDR),
            (&pair.client, &pair.client_if, CLIENT_ADDR),
        ];
        for (ns, dev, addr) in sides {
            ip_ok(&["-n", ns, "addr", "add", &format!("{addr}/24"), "dev", dev]);
            ip_ok(&["-n", ns, "link", "set", "lo", "up"]);
            ip_ok(&["-n", ns, "link", "set", dev, "up"]);
        }
        #[rustfmt::skip]
        ip_ok(&[
            "-n", &pair.client, "addr", "add", &format!("{CLIENT_INNER_ADDR}/32"), "dev", "lo",
        ]);
        // Both ends up, each with its address.
        for (ns, dev, addr) in sides {
            let shown = ip_ok(&["-n", ns, "-br", "addr", "show", "dev", dev]);
            assert!(
                shown.contains(&format!("{addr}/24")) && !shown.contains("DOWN"),
                "{dev} in {ns}: {shown}"
            );
        }
        pair
    }

    /// A command run inside namespace `ns` (`ip netns exec NS PROGRAM`).
    pub fn exec(ns: &str, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", ns, program]);
        c
    }
}

impl Drop for NetnsPair {
    /// Delete both names. A namespace lives on while a process is inside
    /// it, so the processes' guards must have run first (declare the pair
    /// before them); the veth pair goes with the namespaces.
    fn drop(&mut self) {
        for ns in [&self.gw, &self.client] {
            let out = ip(&["netns", "del", ns]);
            if !out.status.success() {
                eprintln!(
                    "removing network namespace {ns}: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                );
            }
        }
    }
}

/// Remove the namespaces a killed run of this harness left behind: names
/// with our prefix whose pid no longer exists. Processes still inside them
/// (that run's charon or gateway) are killed first.
fn remove_stale() {
    for ns in list() {
        let Some(pid) = ns
            .strip_prefix(PREFIX)
            .and_then(|r| r.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if std::path::Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        for p in ip_ok(&["netns", "pids", &ns]).split_whitespace() {
            let _ = Command::new("sh")
                .args(["-c", &format!("kill -KILL {p}")])
                .status();
        }
        eprintln!("removing stale network namespace {ns}");
        let _ = ip(&["netns", "del", &ns]);
    }
}
