//! A real strongSwan charon in a network namespace, driven through swanctl
//! over its own vici socket, and readers for what it reports: the IKE SA in
//! `swanctl --list-sas` and the keys its file log dumps.
//!
//! charon runs without systemd, from its own strongswan.conf
//! (`STRONGSWAN_CONF`) with an explicit plugin list. Its pid file path is
//! fixed (`/run/charon.pid`), so each charon gets a private /run: a tmpfs
//! mounted in a mount namespace of its own,
//! `ip netns exec NS unshare --mount --propagation private sh -c
//! 'mount -t tmpfs tmpfs /run && exec charon'`. The kernels the tests run on
//! have no ESP, so charon installs its CHILD_SAs with kernel-libipsec
//! (userspace ESP over a TUN device); kernel-netlink does the routes.

// Each strongSwan test binary (strongswan.rs, strongswan_children.rs)
// uses a part of this module.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::netns::NetnsPair;

pub const CHARON: &str = "/usr/lib/ipsec/charon";
pub const SWANCTL: &str = "/usr/sbin/swanctl";
pub const PLUGIN_DIR: &str = "/usr/lib/ipsec/plugins";

/// The plugins charon loads, in order. openssl brings curve25519, MODP,
/// AES (CBC and GCM) and SHA-2; kdf the prf+ of strongSwan 5.9.6 and later
/// (without it key derivation fails: "KDF_PRF with PRF_HMAC_SHA2_256 not
/// supported"); kernel-libipsec the userspace ESP; kernel-netlink the
/// addresses and routes; socket-default the UDP sockets (500 and 4500);
/// vici the control socket swanctl talks to. The rest are charon's own
/// fallbacks for the same algorithms.
pub const PLUGINS: &[&str] = &[
    "random",
    "nonce",
    "openssl",
    "aes",
    "sha1",
    "sha2",
    "hmac",
    "gcm",
    "gmp",
    "kdf",
    "kernel-libipsec",
    "kernel-netlink",
    "socket-default",
    "vici",
];

/// The pre-shared key both ends use (the gateway's `[[psk]] secret`).
pub const PSK: &str = "rebound-interop-psk-0123456789abcdef";
/// The identities: the client's IDi and the gateway's IDr.
pub const CLIENT_ID: &str = "client.rebound.test";
pub const GW_ID: &str = "gw.rebound.test";

/// strongswan.conf for a charon whose files live in `dir`: the plugin list,
/// the vici socket, short retransmissions (the peer is one veth away), and
/// a file log at `ike = 4` / `chd = 4`, the levels at which charon dumps the
/// IKE SA's SK_* keys and the CHILD_SA's keys.
pub fn strongswan_conf(dir: &Path) -> String {
    let d = dir.display();
    format!(
        r#"charon {{
  load_modular = no
  load = {plugins}
  # An IKE SA lives one test: short retransmissions (the peer is one veth
  # away) so a lost or unanswered request ends the attempt in seconds
  # (2 + 3 + 4.5 + 6.75 s), and none of charon's own timers interfere.
  retransmit_tries = 3
  retransmit_timeout = 2.0
  retransmit_base = 1.5
  filelog {{
    charon {{
      path = {d}/charon.log
      append = no
      flush_line = yes
      default = 1
      ike = 4
      chd = 4
      cfg = 2
      knl = 2
      net = 2
    }}
  }}
  plugins {{
    vici {{
      socket = unix://{d}/charon.vici
    }}
  }}
}}
swanctl {{
  load = random openssl
}}
"#,
        plugins = PLUGINS.join(" ")
    )
}

/// One swanctl connection: an IKE SA with PSK authentication and one
/// tunnel-mode CHILD_SA, named `name` (the child too).
pub struct Connection<'a> {
    pub name: &'a str,
    pub local_addr: &'a str,
    /// `None` for a responder that accepts any peer.
    pub remote_addr: Option<&'a str>,
    /// IKE proposal in strongSwan syntax (`aes256gcm16-prfsha256-curve25519`).
    pub proposal: &'a str,
    /// ESP proposal in strongSwan syntax (`aes256gcm16`, `aes128-sha256`).
    pub esp: &'a str,
    pub local_id: &'a str,
    pub remote_id: &'a str,
    pub local_ts: &'a str,
    pub remote_ts: &'a str,
}

/// A child section of swanctl.conf beyond the connection's own child:
/// its name, ESP proposal and lifetimes.
pub struct ChildConf<'a> {
    pub name: &'a str,
    /// `esp_proposals`; with a DH group (`aes256gcm16-curve25519`) charon
    /// rekeys the child with PFS (a KE payload in CREATE_CHILD_SA).
    pub esp: &'a str,
    /// `rekey_time` and `life_time` in seconds (`rand_time = 0`, so charon
    /// rekeys exactly then); `None`: charon's defaults (an hour).
    pub lifetimes: Option<(u32, u32)>,
}

/// swanctl.conf holding `conn` and the PSK shared by the two identities.
/// MOBIKE is off (Rebound does not do it); the child is not started by
/// charon itself (the test initiates it).
pub fn swanctl_conf(conn: &Connection<'_>) -> String {
    let child = ChildConf {
        name: conn.name,
        esp: conn.esp,
        lifetimes: None,
    };
    swanctl_conf_with(conn, &[child], None)
}

/// swanctl.conf holding `conn` with the child sections `children` (all
/// with the connection's selectors) instead of its one child, and
/// `reauth_time` for the IKE SA when given (a responder then sends
/// AUTH_LIFETIME).
pub fn swanctl_conf_with(
    conn: &Connection<'_>,
    children: &[ChildConf<'_>],
    reauth_time: Option<u32>,
) -> String {
    let mut s = String::new();
    let c = conn;
    let _ = write!(
        s,
        r#"connections {{
  {name} {{
    version = 2
    local_addrs = {local}
"#,
        name = c.name,
        local = c.local_addr
    );
    if let Some(r) = c.remote_addr {
        let _ = writeln!(s, "    remote_addrs = {r}");
    }
    if let Some(t) = reauth_time {
        let _ = writeln!(s, "    reauth_time = {t}s");
    }
    let _ = write!(
        s,
        r#"    proposals = {proposal}
    mobike = no
    local {{
      auth = psk
      id = {local_id}
    }}
    remote {{
      auth = psk
      id = {remote_id}
    }}
    children {{
"#,
        proposal = c.proposal,
        local_id = c.local_id,
        remote_id = c.remote_id,
    );
    for child in children {
        let _ = write!(
            s,
            r#"      {name} {{
        mode = tunnel
        local_ts = {local_ts}
        remote_ts = {remote_ts}
        esp_proposals = {esp}
        start_action = none
"#,
            name = child.name,
            local_ts = c.local_ts,
            remote_ts = c.remote_ts,
            esp = child.esp,
        );
        if let Some((rekey, life)) = child.lifetimes {
            let _ = writeln!(
                s,
                "        rekey_time = {rekey}s\n        life_time = {life}s\n        rand_time = 0"
            );
        }
        s.push_str("      }\n");
    }
    let _ = write!(
        s,
        r#"    }}
  }}
}}
secrets {{
  ike-rebound {{
    id-local = {local_id}
    id-remote = {remote_id}
    secret = "{PSK}"
  }}
}}
"#,
        local_id = c.local_id,
        remote_id = c.remote_id,
    );
    s
}

/// A running charon; stopped (SIGTERM, then SIGKILL) when dropped.
pub struct Charon {
    child: Child,
    pub dir: PathBuf,
    conf: PathBuf,
    uri: String,
}

impl Charon {
    /// Start charon inside namespace `ns` with its files in `dir` (made if
    /// missing), and wait until its vici socket answers.
    pub fn start(ns: &str, dir: &Path) -> Charon {
        std::fs::create_dir_all(dir).unwrap();
        let conf = dir.join("strongswan.conf");
        std::fs::write(&conf, strongswan_conf(dir)).unwrap();
        let out = std::fs::File::create(dir.join("charon.out")).unwrap();
        let child = NetnsPair::exec(ns, "unshare")
            .args(["--mount", "--propagation", "private", "sh", "-c"])
            .arg(format!("mount -t tmpfs tmpfs /run && exec {CHARON}"))
            .env("STRONGSWAN_CONF", &conf)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("start charon");
        let mut charon = Charon {
            child,
            dir: dir.to_path_buf(),
            conf,
            uri: format!("unix://{}", dir.join("charon.vici").display()),
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok(Some(status)) = charon.child.try_wait() {
                panic!(
                    "charon exited at start ({status}):\n{}\n{}",
                    charon.file("charon.out"),
                    charon.log()
                );
            }
            if dir.join("charon.vici").exists() && charon.swanctl(&["--stats"]).status.success() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "charon's vici socket did not answer:\n{}\n{}",
                charon.file("charon.out"),
                charon.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        charon
    }

    /// charon's pid (`ip netns exec`, `unshare` and `sh` each exec the next).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn file(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join(name)).unwrap_or_default()
    }

    /// charon's file log so far.
    pub fn log(&self) -> String {
        self.file("charon.log")
    }

    fn swanctl_cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(SWANCTL);
        c.args(args)
            .args(["--uri", &self.uri])
            .env("STRONGSWAN_CONF", &self.conf)
            .stdin(Stdio::null());
        c
    }

    /// `swanctl ARGS --uri <this charon's vici socket>`.
    pub fn swanctl(&self, args: &[&str]) -> Output {
        self.swanctl_cmd(args).output().expect("run swanctl")
    }

    /// Load `conf` (written to `swanctl.conf` in the directory) with
    /// `swanctl --load-all`; panics unless charon took the connection.
    pub fn load(&self, conf: &str) {
        let path = self.dir.join("swanctl.conf");
        std::fs::write(&path, conf).unwrap();
        let out = self.swanctl(&["--load-all", "--file", path.to_str().unwrap()]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("successfully loaded 1 connections"),
            "swanctl --load-all: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `swanctl --initiate` of connection `name` and its child, in the
    /// background (it returns when the exchange ends, or after
    /// `timeout_s`).
    pub fn initiate(&self, name: &str, timeout_s: u32) -> Child {
        self.swanctl_cmd(&[
            "--initiate",
            "--ike",
            name,
            "--child",
            name,
            "--timeout",
            &timeout_s.to_string(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run swanctl --initiate")
    }

    /// `swanctl --initiate --child CHILD` in the background: a further
    /// child SA on the IKE SA that is up (CREATE_CHILD_SA).
    pub fn initiate_child(&self, child: &str, timeout_s: u32) -> Child {
        self.swanctl_cmd(&[
            "--initiate",
            "--child",
            child,
            "--timeout",
            &timeout_s.to_string(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run swanctl --initiate --child")
    }

    /// SIGKILL, as a crash or a power cut: charon sends nothing (no
    /// DELETE), and its next start knows nothing of its old SAs.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// `swanctl --list-sas`.
    pub fn list_sas(&self) -> String {
        let out = self.swanctl(&["--list-sas"]);
        assert!(out.status.success(), "swanctl --list-sas: {out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Charon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = Command::new("sh")
                .args(["-c", &format!("kill -TERM {}", self.child.id())])
                .status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Wait for a background swanctl (or any child) to exit, killing it after
/// `limit`; its stdout and stderr.
pub fn finish(mut child: Child, limit: Duration) -> String {
    let deadline = Instant::now() + limit;
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("swanctl output");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

// ---------------------------------------------------------------------------
// What charon reports.

/// An IKE SA as `swanctl --list-sas` shows it:
///
/// ```text
/// rebound: #1, ESTABLISHED, IKEv2, a862864accc09a32_i* 1b090164caeccb0f_r
///   local  'client.rebound.test' @ 10.77.0.2[4500]
///   remote 'gw.rebound.test' @ 10.77.0.1[4500]
///   AES_GCM_16-256/PRF_HMAC_SHA2_256/CURVE_25519
///   established 0s ago, rekeying in 13970s
///   rebound: #1, reqid 1, INSTALLED, TUNNEL-in-UDP, ESP:AES_GCM_16-256
///     installed 0s ago, rekeying in 3254s, expires in 3960s
///     in  33b016ef,      0 bytes,     0 packets
///     out 955824c1,      0 bytes,     0 packets
///     local  10.78.1.0/24
///     remote 10.78.2.0/24
/// ```
///
/// (`*` marks the local side's SPI).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct IkeSaStatus {
    pub state: String,
    /// SPIs as lower-case hex, initiator's and responder's.
    pub spi_i: String,
    pub spi_r: String,
    /// The algorithm line: `AES_GCM_16-256/PRF_HMAC_SHA2_256/CURVE_25519`.
    pub algorithms: String,
    pub child: Option<ChildSaStatus>,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct ChildSaStatus {
    /// `INSTALLED` once the SA is in (userspace) ESP.
    pub state: String,
    /// `TUNNEL-in-UDP` and the like.
    pub mode: String,
    /// `ESP:AES_GCM_16-256`.
    pub algorithms: String,
    /// The inbound SPI (the local side's, here the initiator's) and the
    /// outbound one, lower-case hex.
    pub spi_in: String,
    pub spi_out: String,
    pub local_ts: String,
    pub remote_ts: String,
}

/// The IKE SA named `name` in `swanctl --list-sas` output, if listed.
pub fn parse_list_sas(text: &str, name: &str) -> Option<IkeSaStatus> {
    let mut lines = text.lines().peekable();
    let head = format!("{name}: #");
    while let Some(l) = lines.next() {
        if !l.starts_with(&head) {
            continue;
        }
        // "rebound: #1, ESTABLISHED, IKEv2, <spi>_i* <spi>_r"
        let parts: Vec<&str> = l.split(", ").collect();
        let mut sa = IkeSaStatus {
            state: parts.get(1)?.to_string(),
            ..IkeSaStatus::default()
        };
        let mut spis = parts.get(3)?.split_whitespace();
        sa.spi_i = spis
            .next()?
            .trim_end_matches('*')
            .strip_suffix("_i")?
            .into();
        sa.spi_r = spis
            .next()?
            .trim_end_matches('*')
            .strip_suffix("_r")?
            .into();
        // The indented lines that follow belong to this SA.
        while let Some(l) = lines.next_if(|l| l.starts_with("  ")) {
            let t = l.trim();
            if l.starts_with("    ") {
                let Some(child) = sa.child.as_mut() else {
                    continue;
                };
                if let Some(r) = t.strip_prefix("in ") {
                    child.spi_in = r.trim().split(',').next()?.into();
                } else if let Some(r) = t.strip_prefix("out ") {
                    child.spi_out = r.trim().split(',').next()?.into();
                } else if let Some(r) = t.strip_prefix("local ") {
                    child.local_ts = r.trim().into();
                } else if let Some(r) = t.strip_prefix("remote ") {
                    child.remote_ts = r.trim().into();
                }
            } else if t.starts_with(&format!("{name}: #")) {
                // "rebound: #1, reqid 1, INSTALLED, TUNNEL-in-UDP, ESP:..."
                let p: Vec<&str> = t.split(", ").collect();
                sa.child = Some(ChildSaStatus {
                    state: p.get(2)?.to_string(),
                    mode: p.get(3)?.to_string(),
                    algorithms: p.get(4)?.to_string(),
                    ..ChildSaStatus::default()
                });
            } else if !t.contains(' ') && t.contains('/') {
                sa.algorithms = t.into();
            }
        }
        return Some(sa);
    }
    None
}

/// Every labelled hex dump in a charon log: charon prints a chunk at log
/// level 4 as a header line and rows of up to 16 bytes,
///
/// ```text
/// 06[IKE] Sk_d secret => 32 bytes @ 0x7fce7c00a6e0
/// 06[IKE]    0: C9 C7 70 0F 9C 02 1E 06 6B 57 CE EA 7B 1A EC 7F  ..p.....kW..{...
/// 06[IKE]   16: DE 89 CC 40 BA 94 87 3F 8E 71 E3 6C BD E7 DD 67  ...@...?.q.l...g
/// ```
///
/// (a `<conn|n>` after the subsystem when `ike_name = yes`). Returns
/// (label, bytes) in log order; a dump cut short is left out.
pub fn hex_dumps(log: &str) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut lines = log.lines().peekable();
    while let Some(line) = lines.next() {
        let Some((prefix, rest)) = split_prefix(line) else {
            continue;
        };
        let Some((label, tail)) = rest.split_once(" => ") else {
            continue;
        };
        let Some(len) = tail
            .split_once(" bytes @ 0x")
            .and_then(|(n, _)| n.parse::<usize>().ok())
        else {
            continue;
        };
        let mut bytes = Vec::with_capacity(len);
        while bytes.len() < len {
            // The rows come from the same thread, right after the header.
            let Some(row) = lines.next_if(|l| split_prefix(l).is_some_and(|(p, _)| p == prefix))
            else {
                break;
            };
            let (_, r) = split_prefix(row).unwrap();
            let Some((offset, hex)) = r.trim_start().split_once(": ") else {
                break;
            };
            if offset.parse::<usize>().ok() != Some(bytes.len()) {
                break;
            }
            let n = (len - bytes.len()).min(16);
            for tok in hex.split_whitespace().take(n) {
                match u8::from_str_radix(tok, 16) {
                    Ok(b) if tok.len() == 2 => bytes.push(b),
                    _ => break,
                }
            }
        }
        if bytes.len() == len {
            out.push((label.to_owned(), bytes));
        }
    }
    out
}

/// `06[IKE] <conn|1> rest` → (`06[IKE] <conn|1>`, `rest`): the thread,
/// subsystem and optional SA name; `None` for a line without one.
fn split_prefix(line: &str) -> Option<(&str, &str)> {
    let close = line.find("] ")?;
    let head = &line[..close];
    let open = head.find('[')?;
    if open == 0 || !head[..open].bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut end = close + 2;
    if line[end..].starts_with('<')
        && let Some(gt) = line[end..].find("> ")
    {
        end += gt + 2;
    }
    Some((line[..end].trim_end(), &line[end..]))
}

/// The dump labelled `label`: its bytes, `None` when charon printed none
/// (an AEAD cipher has no SK_a keys); panics if it printed more than one
/// (the log must hold one IKE SA's keys).
fn single(dumps: &[(String, Vec<u8>)], label: &str) -> Option<Vec<u8>> {
    let found: Vec<&Vec<u8>> = dumps
        .iter()
        .filter(|(l, _)| l == label)
        .map(|(_, b)| b)
        .collect();
    assert!(
        found.len() <= 1,
        "charon logged {} dumps labelled {label:?}: more than one SA in the log",
        found.len()
    );
    found.first().map(|b| b.to_vec())
}

/// The IKE SA's keys charon logged (`Sk_d secret` … `Sk_pr secret`, at
/// `ike = 4`), keyed like Rebound's key log (`sk_d` … `sk_pr`), as
/// lower-case hex; an absent dump (SK_ai/SK_ar with AES-GCM) is "".
pub fn ike_keys(log: &str) -> BTreeMap<&'static str, String> {
    let dumps = hex_dumps(log);
    [
        ("sk_d", "Sk_d secret"),
        ("sk_ai", "Sk_ai secret"),
        ("sk_ar", "Sk_ar secret"),
        ("sk_ei", "Sk_ei secret"),
        ("sk_er", "Sk_er secret"),
        ("sk_pi", "Sk_pi secret"),
        ("sk_pr", "Sk_pr secret"),
    ]
    .into_iter()
    .map(|(k, label)| (k, hex::encode(single(&dumps, label).unwrap_or_default())))
    .collect()
}

/// The CHILD_SA's keys charon logged (at `chd = 4`), keyed like the
/// hand-off line's `child` object: `encr_i2r` is "encryption initiator key"
/// (with the 4-byte salt for AES-GCM), `integ_i2r` "integrity initiator
/// key" ("" for AES-GCM), and the responder's for `*_r2i`.
pub fn child_keys(log: &str) -> BTreeMap<&'static str, String> {
    let dumps = hex_dumps(log);
    [
        ("encr_i2r", "encryption initiator key"),
        ("integ_i2r", "integrity initiator key"),
        ("encr_r2i", "encryption responder key"),
        ("integ_r2i", "integrity responder key"),
    ]
    .into_iter()
    .map(|(k, label)| (k, hex::encode(single(&dumps, label).unwrap_or_default())))
    .collect()
}

/// One child SA of an IKE SA in `swanctl --list-sas`, by its own name
/// (`second: #3, reqid 2, INSTALLED, TUNNEL-in-UDP, ESP:AES_GCM_16-256`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChildListing {
    pub name: String,
    /// `INSTALLED`, `REKEYED`, `DELETING`, ...
    pub state: String,
    /// The algorithm field (`ESP:AES_GCM_16-256/CURVE_25519` after a PFS
    /// rekey).
    pub algorithms: String,
    pub spi_in: String,
    pub spi_out: String,
}

/// Every child SA of the IKE SA named `ike` (the first listed), in the
/// order listed.
pub fn list_children(text: &str, ike: &str) -> Vec<ChildListing> {
    let head = format!("{ike}: #");
    let mut out: Vec<ChildListing> = Vec::new();
    let mut lines = text.lines().skip_while(|l| !l.starts_with(&head));
    if lines.next().is_none() {
        return out;
    }
    for l in lines.take_while(|l| l.starts_with("  ")) {
        let t = l.trim();
        if !l.starts_with("    ") {
            // "name: #N, reqid R, STATE, MODE, ALGORITHMS"
            let p: Vec<&str> = t.split(", ").collect();
            if p.len() >= 5
                && p[1].starts_with("reqid ")
                && let Some((name, _)) = p[0].split_once(": #")
            {
                out.push(ChildListing {
                    name: name.to_owned(),
                    state: p[2].to_owned(),
                    algorithms: p[4].to_owned(),
                    ..ChildListing::default()
                });
            }
        } else if let Some(c) = out.last_mut() {
            if let Some(r) = t.strip_prefix("in ") {
                c.spi_in = r.trim().split(',').next().unwrap_or("").into();
            } else if let Some(r) = t.strip_prefix("out ") {
                c.spi_out = r.trim().split(',').next().unwrap_or("").into();
            }
        }
    }
    out
}

/// The keys of every CHILD_SA charon established, in log order, with its
/// SPIs: charon dumps a child's keys (at `chd = 4`) just before
/// `CHILD_SA NAME{N} established with SPIs <in>_i <out>_o and TS ...`,
/// so each such line takes the last key dumps before it. Returns
/// (inbound SPI, outbound SPI, keys as [`child_keys`] names them).
pub fn child_keys_by_spis(log: &str) -> Vec<(String, String, BTreeMap<&'static str, String>)> {
    let mut out = Vec::new();
    let mut segment = String::new();
    for line in log.lines() {
        if let Some((_, rest)) = line.split_once(" established with SPIs ") {
            let mut spis = rest.split_whitespace();
            let spi_in = spis.next().and_then(|s| s.strip_suffix("_i"));
            let spi_out = spis.next().and_then(|s| s.strip_suffix("_o"));
            if let (Some(i), Some(o)) = (spi_in, spi_out) {
                let dumps = hex_dumps(&segment);
                let keys = [
                    ("encr_i2r", "encryption initiator key"),
                    ("integ_i2r", "integrity initiator key"),
                    ("encr_r2i", "encryption responder key"),
                    ("integ_r2i", "integrity responder key"),
                ]
                .into_iter()
                .map(|(k, label)| {
                    let last = dumps.iter().rev().find(|(l, _)| l == label);
                    (k, last.map(|(_, b)| hex::encode(b)).unwrap_or_default())
                })
                .collect();
                out.push((i.to_owned(), o.to_owned(), keys));
            }
            segment.clear();
            continue;
        }
        segment.push_str(line);
        segment.push('\n');
    }
    out
}
