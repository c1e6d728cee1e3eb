//! The gateway's settings: what `rebound gateway --config FILE` reads from
//! TOML, with command-line flags overriding the file ([`GatewayArgs`]), and
//! what the storm generator's embedded gateway starts from
//! ([`GatewaySettings::default`]).
//!
//! - [`parse_config`] / [`load_config`]: TOML text or file to settings.
//!   Every table refuses unknown keys, so a typo is an error that names the
//!   line, not a setting silently left at its default. Every key is
//!   optional; absent keys take [`defaults_for_file`].
//! - [`validate`]: every range and every cross-setting rule, on the merged
//!   settings, with an error that names the key (`gateway.workers`,
//!   `child.esp[2]`, `psk[1].id`) or the flag that set it.
//! - [`reload_secrets`]: what SIGHUP re-reads (the ticket key file's path
//!   and the PSKs); everything else needs a restart.
//!
//! The schema, with every default and range, is documented in
//! `docs/OPERATIONS.md` ("Configuration") and `docs/gateway.example.toml`.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::Deserialize;

use rebound_engine::child::pool::MAX_POOL_ADDRESSES;
use rebound_engine::child::{EspProposal, MAX_SELECTORS};
use rebound_engine::crypto::SecretBuf;
use rebound_engine::handoff::TsRange;
use rebound_engine::responder::ResponderConfig;
use rebound_engine::ticket::format::TicketKind;
use rebound_engine::ticket::guard::{GuardConfig, GuardConfigError, MAX_SHARDS};
use rebound_engine::ticket::state::{MAX_ID_DATA, TicketIdentity};
use rebound_engine::wire::IdType;

/// One pre-shared key, for the full exchange (the slow path) of the peer
/// with this identity.
#[derive(Clone)]
pub struct PskEntry {
    pub id: TicketIdentity,
    pub secret: SecretBuf,
    /// `tickets = off` for this identity: TICKET_REQUEST gets TICKET_NACK.
    pub tickets: bool,
}

impl std::fmt::Debug for PskEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PskEntry")
            .field("id", &self.id)
            .field("tickets", &self.tickets)
            .finish_non_exhaustive()
    }
}

/// Where established SAs are handed off to, besides the key log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandoffTarget {
    /// JSON lines written to a stream Unix socket that an external daemon
    /// listens on (`unix:PATH`).
    Unix(PathBuf),
}

impl fmt::Display for HandoffTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandoffTarget::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

impl FromStr for HandoffTarget {
    type Err = String;

    /// `unix:PATH` (the `--handoff` flag's form).
    fn from_str(s: &str) -> Result<Self, String> {
        match s.strip_prefix("unix:") {
            Some(p) if !p.is_empty() => Ok(HandoffTarget::Unix(PathBuf::from(p))),
            _ => Err(format!("{s:?} is not a hand-off target; use unix:PATH")),
        }
    }
}

/// The address pool for CP(CFG_REQUEST).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolSettings {
    pub v4: Option<(Ipv4Addr, u32)>,
    pub v6: Option<(Ipv6Addr, u32)>,
}

/// Everything the gateway runs with.
#[derive(Debug, Clone)]
pub struct GatewaySettings {
    /// IKE addresses (UDP port 500 style, no marker). Each worker binds its
    /// own SO_REUSEPORT socket to each of them.
    pub listen: Vec<SocketAddr>,
    /// NAT-T addresses (UDP port 4500 style, non-ESP marker).
    pub listen_natt: Vec<SocketAddr>,
    /// Number of workers (1..=255).
    pub workers: usize,
    /// Core ids to pin worker `i` to (`cores[i]`); empty: no pinning.
    pub cores: Vec<usize>,
    /// Microseconds a worker sleeps after this many empty polls in a row;
    /// 0: pure busy polling.
    pub idle_sleep_us: u64,
    /// Empty polls before the worker sleeps `idle_sleep_us`.
    pub idle_spins: u32,
    /// The ticket key file (`rebound keys generate`); `None`: a random
    /// in-memory ring (for the storm's embedded gateway and tests only).
    pub key_file: Option<PathBuf>,
    /// Pre-shared keys by identity (the slow path's).
    pub psks: Vec<PskEntry>,
    /// The responder's protocol settings (its `worker_id` is set per
    /// worker).
    pub responder: ResponderConfig,
    pub pool: Option<PoolSettings>,
    pub guard: GuardConfig,
    pub handoff: Vec<HandoffTarget>,
    /// JSON key log file (one line per SA); `None`: none.
    pub keylog: Option<PathBuf>,
    /// Wireshark `ikev2_decryption_table` file; `None`: none.
    pub keylog_wireshark: Option<PathBuf>,
    /// Bound of the queue from the workers to the control plane, in SAs.
    pub handoff_queue: usize,
    /// Prometheus endpoint.
    pub metrics: Option<SocketAddr>,
    /// On SIGTERM: how long in-flight exchanges may take to finish.
    pub drain_timeout_ms: u64,
}

impl Default for GatewaySettings {
    /// Loopback port 500 is not used by default: one worker on
    /// 127.0.0.1:0 (a free port), no pinning, a random in-memory key ring.
    fn default() -> Self {
        GatewaySettings {
            listen: vec![SocketAddr::from(([127, 0, 0, 1], 0))],
            listen_natt: Vec::new(),
            workers: 1,
            cores: Vec::new(),
            idle_sleep_us: 50,
            idle_spins: 1000,
            key_file: None,
            psks: Vec::new(),
            responder: ResponderConfig::default(),
            pool: None,
            guard: GuardConfig::default(),
            handoff: Vec::new(),
            keylog: None,
            keylog_wireshark: None,
            handoff_queue: 65_536,
            metrics: None,
            drain_timeout_ms: 5_000,
        }
    }
}

/// What a configuration file starts from: [`GatewaySettings::default`]
/// except that a deployed gateway listens on the standard ports,
/// `0.0.0.0:500` and (NAT-T) `0.0.0.0:4500`. Clients behind a NAT move to
/// port 4500 for the IKE_AUTH that follows IKE_SESSION_RESUME (RFC 7296
/// §2.23), so a gateway without a NAT-T address fails them halfway.
pub fn defaults_for_file() -> GatewaySettings {
    GatewaySettings {
        listen: vec![SocketAddr::from(([0, 0, 0, 0], 500))],
        listen_natt: vec![SocketAddr::from(([0, 0, 0, 0], 4500))],
        ..GatewaySettings::default()
    }
}

/// The most workers: a worker's id is the top byte of every responder SPI
/// it chooses.
pub const MAX_WORKERS: usize = 255;
/// The shortest pre-shared key accepted, in bytes.
pub const MIN_PSK_LEN: usize = 16;
/// The largest core id `--cores` expands a range to.
const MAX_CORE_ID: usize = 4095;
/// The ESP names [`EspProposal::from_name`] accepts, for error messages.
const ESP_NAMES: [&str; 8] = [
    "aes256gcm16",
    "aes128gcm16",
    "aes256-sha256",
    "aes128-sha256",
    "aes256-sha384",
    "aes256-sha512",
    "aes128-sha384",
    "aes128-sha512",
];

/// A setting that cannot be used: where it came from and why.
///
/// Displays as `FILE: KEY: PROBLEM`, `KEY: PROBLEM` when no file is
/// involved (command-line flags, settings built in code), and
/// `FILE: line L, column C: PROBLEM` for TOML syntax and type errors.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConfigError {
    /// The configuration file, if the setting came from one.
    pub file: Option<PathBuf>,
    /// The setting: a dotted TOML key with list indices (`gateway.workers`,
    /// `child.esp[2]`, `psk[1].id`), a flag (`--workers`), or the position
    /// of a TOML error (`line 4, column 1`). Empty when the whole file is
    /// concerned (it cannot be read).
    pub key: String,
    /// What is wrong.
    pub problem: String,
}

impl ConfigError {
    fn new(key: impl Into<String>, problem: impl Into<String>) -> Self {
        ConfigError {
            file: None,
            key: key.into(),
            problem: problem.into(),
        }
    }

    fn in_file(mut self, file: &Path) -> Self {
        self.file = Some(file.to_path_buf());
        self
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{}: ", file.display())?;
        }
        if !self.key.is_empty() {
            write!(f, "{}: ", self.key)?;
        }
        f.write_str(&self.problem)
    }
}

impl std::error::Error for ConfigError {}

/// `tickets.kind` and `--tickets`: which tickets the gateway issues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum TicketsMode {
    /// The state travels in the ticket, encrypted and authenticated.
    ByValue,
    /// The gateway keeps the state; the ticket names it.
    ByReference,
    /// No tickets: TICKET_REQUEST gets TICKET_NACK.
    Off,
}

impl TicketsMode {
    /// The responder's [`TicketIssuePolicy::kind`](rebound_engine::responder::TicketIssuePolicy).
    pub const fn kind(self) -> Option<TicketKind> {
        match self {
            TicketsMode::ByValue => Some(TicketKind::ByValue),
            TicketsMode::ByReference => Some(TicketKind::ByReference),
            TicketsMode::Off => None,
        }
    }
}

// ---------------------------------------------------------------------------
// The file as written. Every key is optional; defaults come from
// `defaults_for_file`, so they are written down once.

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    #[serde(default)]
    gateway: GatewaySection,
    #[serde(default)]
    tickets: TicketsSection,
    #[serde(default)]
    responder: ResponderSection,
    #[serde(default)]
    child: ChildSection,
    pool: Option<PoolSection>,
    #[serde(default)]
    guard: GuardSection,
    #[serde(default)]
    handoff: HandoffSection,
    #[serde(default)]
    psk: Vec<PskSection>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct GatewaySection {
    listen: Option<Vec<String>>,
    listen_natt: Option<Vec<String>>,
    workers: Option<usize>,
    cores: Option<Vec<usize>>,
    idle_sleep_us: Option<u64>,
    idle_spins: Option<u32>,
    drain_timeout_ms: Option<u64>,
    handoff_queue: Option<usize>,
    metrics: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct TicketsSection {
    key_file: Option<PathBuf>,
    kind: Option<TicketsMode>,
    max_lifetime_secs: Option<u64>,
    ike_lifetime_secs: Option<u64>,
    max_message_len: Option<usize>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ResponderSection {
    half_open_timeout_ms: Option<u64>,
    half_open_limit: Option<usize>,
    completed_cache_limit: Option<usize>,
    cookie_threshold: Option<usize>,
    cookie_rotate_ms: Option<u64>,
    max_request_len: Option<usize>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ChildSection {
    esp: Option<Vec<String>>,
    ts_local: Option<Vec<String>>,
    ts_remote: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PoolSection {
    v4: Option<String>,
    v6: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct GuardSection {
    claims_per_generation: Option<u64>,
    false_positive_rate: Option<f64>,
    window_secs: Option<u64>,
    max_ticket_lifetime_secs: Option<u64>,
    shards: Option<usize>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct HandoffSection {
    unix: Option<Vec<PathBuf>>,
    keylog: Option<PathBuf>,
    keylog_wireshark: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PskSection {
    id: String,
    secret: Option<String>,
    secret_hex: Option<String>,
    secret_file: Option<PathBuf>,
    tickets: Option<bool>,
}

// ---------------------------------------------------------------------------
// Parsing.

/// Parse and validate a configuration; relative paths are resolved against
/// `base_dir` (the configuration file's directory). Errors carry no file
/// name ([`load_config`] adds it).
pub fn parse_config(text: &str, base_dir: &Path) -> Result<GatewaySettings, ConfigError> {
    let settings = parse_unvalidated(text, base_dir)?;
    Checker::default().run(&settings)?;
    Ok(settings)
}

/// Read, parse and validate the configuration file at `path`.
pub fn load_config(path: &Path) -> Result<GatewaySettings, ConfigError> {
    let settings = load_unvalidated(path)?;
    Checker {
        file: Some(path.to_path_buf()),
        flags: Vec::new(),
    }
    .run(&settings)?;
    Ok(settings)
}

/// What SIGHUP re-reads from the configuration file at `path`: the ticket
/// key file's path (`tickets.key_file`) and the PSKs, checked as at start.
/// The rest of the file must still parse (syntax, unknown keys) but its
/// values are not applied: they need a restart.
pub fn reload_secrets(path: &Path) -> Result<(Option<PathBuf>, Vec<PskEntry>), ConfigError> {
    let text = read_file(path)?;
    let base = base_dir_of(path);
    let file = parse_toml(&text).map_err(|e| e.in_file(path))?;
    let key_file = file.tickets.key_file.map(|p| resolve(&base, p));
    let psks = psks_from_file(file.psk, &base).map_err(|e| e.in_file(path))?;
    let checker = Checker {
        file: Some(path.to_path_buf()),
        flags: Vec::new(),
    };
    checker.psks(&psks)?;
    Ok((key_file, psks))
}

fn read_file(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path)
        .map_err(|e| ConfigError::new("", format!("cannot read: {e}")).in_file(path))
}

fn base_dir_of(path: &Path) -> PathBuf {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::path::absolute(parent).unwrap_or_else(|_| parent.to_path_buf())
}

fn load_unvalidated(path: &Path) -> Result<GatewaySettings, ConfigError> {
    let text = read_file(path)?;
    let file = parse_toml(&text).map_err(|e| e.in_file(path))?;
    let inline = file
        .psk
        .iter()
        .any(|p| p.secret.is_some() || p.secret_hex.is_some());
    if inline {
        warn_if_readable_by_others(path, "holds pre-shared keys");
    }
    from_file(file, &base_dir_of(path)).map_err(|e| e.in_file(path))
}

fn parse_unvalidated(text: &str, base_dir: &Path) -> Result<GatewaySettings, ConfigError> {
    let file = parse_toml(text)?;
    from_file(file, base_dir)
}

fn parse_toml(text: &str) -> Result<FileConfig, ConfigError> {
    toml::from_str(text).map_err(|e| {
        let key = match e.span() {
            Some(span) => {
                let before = &text[..span.start.min(text.len())];
                let line = before.matches('\n').count() + 1;
                let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
                format!("line {line}, column {column}")
            }
            None => String::new(),
        };
        let problem = e.message().trim_end().replace('\n', "; ");
        ConfigError::new(key, problem)
    })
}

fn warn_if_readable_by_others(path: &Path, what: &str) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(
            "{} {what} but is readable by group or others (chmod 600 it)",
            path.display()
        );
    }
}

fn resolve(base: &Path, p: PathBuf) -> PathBuf {
    if p.is_absolute() { p } else { base.join(p) }
}

/// A file's `IP:PORT`; port 0 is refused (a deployment names its port).
fn file_addr(s: &str) -> Result<SocketAddr, String> {
    let a = SocketAddr::from_str(s.trim()).map_err(|_| {
        format!("{s:?} is not an address with a port (e.g. 0.0.0.0:500 or [::]:500)")
    })?;
    if a.port() == 0 {
        return Err(format!(
            "{s}: port 0 would bind a random port that no client knows; name the port \
             (the command-line flag accepts port 0, for tests)"
        ));
    }
    Ok(a)
}

fn set<T>(dst: &mut T, v: Option<T>) {
    if let Some(v) = v {
        *dst = v;
    }
}

fn list<T>(
    key: &str,
    items: &[String],
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<Vec<T>, ConfigError> {
    let item =
        |(i, s): (usize, &String)| parse(s).map_err(|e| ConfigError::new(format!("{key}[{i}]"), e));
    items.iter().enumerate().map(item).collect()
}

fn from_file(f: FileConfig, base: &Path) -> Result<GatewaySettings, ConfigError> {
    let mut s = defaults_for_file();
    let g = f.gateway;
    if let Some(v) = g.listen {
        s.listen = list("gateway.listen", &v, file_addr)?;
    }
    if let Some(v) = g.listen_natt {
        s.listen_natt = list("gateway.listen_natt", &v, file_addr)?;
    }
    if let Some(v) = g.metrics {
        s.metrics = Some(file_addr(&v).map_err(|e| ConfigError::new("gateway.metrics", e))?);
    }
    set(&mut s.workers, g.workers);
    set(&mut s.cores, g.cores);
    set(&mut s.idle_sleep_us, g.idle_sleep_us);
    set(&mut s.idle_spins, g.idle_spins);
    set(&mut s.drain_timeout_ms, g.drain_timeout_ms);
    set(&mut s.handoff_queue, g.handoff_queue);

    let t = f.tickets;
    s.key_file = t.key_file.map(|p| resolve(base, p));
    let policy = &mut s.responder.tickets;
    set(&mut policy.kind, t.kind.map(TicketsMode::kind));
    set(&mut policy.max_lifetime_secs, t.max_lifetime_secs);
    set(&mut policy.ike_lifetime_secs, t.ike_lifetime_secs);
    set(&mut policy.max_message_len, t.max_message_len);

    let (r, rc) = (f.responder, &mut s.responder);
    set(&mut rc.half_open_timeout_ms, r.half_open_timeout_ms);
    set(&mut rc.half_open_limit, r.half_open_limit);
    set(&mut rc.completed_cache_limit, r.completed_cache_limit);
    set(&mut rc.cookie_threshold, r.cookie_threshold);
    set(&mut rc.cookie_rotate_ms, r.cookie_rotate_ms);
    set(&mut rc.max_request_len, r.max_request_len);

    let c = f.child;
    if let Some(v) = c.esp {
        rc.esp = list("child.esp", &v, |name| {
            EspProposal::from_name(name.trim()).ok_or_else(|| {
                let known = ESP_NAMES.join(", ");
                format!("unknown ESP proposal {name:?}; known: {known}")
            })
        })?;
    }
    if let Some(v) = c.ts_local {
        rc.ts_local = list("child.ts_local", &v, parse_ts)?;
    }
    if let Some(v) = c.ts_remote {
        rc.ts_remote = list("child.ts_remote", &v, parse_ts)?;
    }

    if let Some(p) = f.pool {
        let v4 = p.v4.map(|v| match parse_pool(&v)? {
            (IpAddr::V4(a), n) => Ok((a, n)),
            _ => Err(format!("{v} is not an IPv4 range")),
        });
        let v6 = p.v6.map(|v| match parse_pool(&v)? {
            (IpAddr::V6(a), n) => Ok((a, n)),
            _ => Err(format!("{v} is not an IPv6 range")),
        });
        s.pool = Some(PoolSettings {
            v4: v4.transpose().map_err(|e| ConfigError::new("pool.v4", e))?,
            v6: v6.transpose().map_err(|e| ConfigError::new("pool.v6", e))?,
        });
    }

    let (gd, gc) = (f.guard, &mut s.guard);
    set(&mut gc.claims_per_generation, gd.claims_per_generation);
    set(&mut gc.false_positive_rate, gd.false_positive_rate);
    set(&mut gc.window_secs, gd.window_secs);
    set(
        &mut gc.max_ticket_lifetime_secs,
        gd.max_ticket_lifetime_secs,
    );
    set(&mut gc.shards, gd.shards);

    let h = f.handoff;
    if let Some(v) = h.unix {
        s.handoff = v
            .into_iter()
            .map(|p| HandoffTarget::Unix(resolve(base, p)))
            .collect();
    }
    s.keylog = h.keylog.map(|p| resolve(base, p));
    s.keylog_wireshark = h.keylog_wireshark.map(|p| resolve(base, p));
    s.psks = psks_from_file(f.psk, base)?;
    Ok(s)
}

fn psks_from_file(list: Vec<PskSection>, base: &Path) -> Result<Vec<PskEntry>, ConfigError> {
    list.into_iter()
        .enumerate()
        .map(|(i, p)| {
            let id =
                parse_identity(&p.id).map_err(|e| ConfigError::new(format!("psk[{i}].id"), e))?;
            let (field, bytes) = match (p.secret, p.secret_hex, p.secret_file) {
                (Some(s), None, None) => ("secret", s.into_bytes()),
                (None, Some(h), None) => {
                    let digits: String = h
                        .chars()
                        .filter(|c| !c.is_ascii_whitespace() && *c != ':')
                        .collect();
                    // The message never echoes the secret.
                    let bytes = hex::decode(digits).map_err(|_| {
                        ConfigError::new(
                            format!("psk[{i}].secret_hex"),
                            "not valid hex (an even number of digits 0-9, a-f; spaces and colons \
                             allowed)",
                        )
                    })?;
                    ("secret_hex", bytes)
                }
                (None, None, Some(f)) => {
                    let path = resolve(base, f);
                    let mut bytes = std::fs::read(&path).map_err(|e| {
                        ConfigError::new(
                            format!("psk[{i}].secret_file"),
                            format!("cannot read {}: {e}", path.display()),
                        )
                    })?;
                    warn_if_readable_by_others(&path, "is a pre-shared key");
                    if bytes.ends_with(b"\n") {
                        bytes.pop();
                        if bytes.ends_with(b"\r") {
                            bytes.pop();
                        }
                    }
                    ("secret_file", bytes)
                }
                (None, None, None) => {
                    return Err(ConfigError::new(
                        format!("psk[{i}]"),
                        "needs one of secret, secret_hex or secret_file",
                    ));
                }
                _ => {
                    return Err(ConfigError::new(
                        format!("psk[{i}]"),
                        "give only one of secret, secret_hex and secret_file",
                    ));
                }
            };
            let key = format!("psk[{i}].{field}");
            if let Some(problem) = psk_len_problem(bytes.len()) {
                return Err(ConfigError::new(key, problem));
            }
            let secret =
                SecretBuf::from_slice(&bytes).map_err(|e| ConfigError::new(key, e.to_string()))?;
            Ok(PskEntry {
                id,
                secret,
                tickets: p.tickets.unwrap_or(true),
            })
        })
        .collect()
}

fn psk_len_problem(len: usize) -> Option<String> {
    if len < MIN_PSK_LEN {
        Some(format!(
            "{len} bytes is too short; at least {MIN_PSK_LEN} are required: an attacker who \
             gets one peer to authenticate to it (posing as the gateway) can brute-force a \
             short key offline"
        ))
    } else if len > SecretBuf::CAPACITY {
        Some(format!(
            "{len} bytes is longer than the {} Rebound supports",
            SecretBuf::CAPACITY
        ))
    } else {
        None
    }
}

// ---------------------------------------------------------------------------
// Identities, selectors, prefixes and core lists.

const ID_TYPES: &str = "use fqdn:, email:, ipv4:, ipv6: or keyid:";

/// An identity written `TYPE:VALUE`: `fqdn:vpn.example.net`,
/// `email:alice@example.net` (RFC822_ADDR), `ipv4:192.0.2.7`,
/// `ipv6:2001:db8::7`, `keyid:0a1b2c` (hex). The type is case-insensitive.
pub fn parse_identity(s: &str) -> Result<TicketIdentity, String> {
    let Some((ty, value)) = s.split_once(':') else {
        return Err(format!("{s:?} has no type prefix; {ID_TYPES}"));
    };
    let (id_type, data): (IdType, Vec<u8>) = match ty.to_ascii_lowercase().as_str() {
        "fqdn" => {
            if value
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == '@')
            {
                return Err(format!("{value:?} is not a domain name"));
            }
            (IdType::FQDN, value.as_bytes().to_vec())
        }
        "email" => {
            if !value.contains('@') || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(format!("{value:?} is not an e-mail address"));
            }
            (IdType::RFC822_ADDR, value.as_bytes().to_vec())
        }
        "ipv4" => match Ipv4Addr::from_str(value) {
            Ok(a) => (IdType::IPV4_ADDR, a.octets().to_vec()),
            Err(_) => return Err(format!("{value:?} is not an IPv4 address")),
        },
        "ipv6" => match Ipv6Addr::from_str(value) {
            Ok(a) => (IdType::IPV6_ADDR, a.octets().to_vec()),
            Err(_) => return Err(format!("{value:?} is not an IPv6 address")),
        },
        "keyid" => match hex::decode(value) {
            Ok(d) => (IdType::KEY_ID, d),
            Err(_) => return Err(format!("{value:?} is not hex")),
        },
        _ => return Err(format!("unknown type {ty:?}; {ID_TYPES}")),
    };
    TicketIdentity::new(id_type, &data)
        .ok_or_else(|| format!("the identity must be 1 to {MAX_ID_DATA} bytes long"))
}

/// The `TYPE:VALUE` form of an identity, as [`parse_identity`] reads it.
pub fn format_identity(id: &TicketIdentity) -> String {
    let d = id.data();
    match id.id_type {
        IdType::FQDN => format!("fqdn:{}", String::from_utf8_lossy(d)),
        IdType::RFC822_ADDR => format!("email:{}", String::from_utf8_lossy(d)),
        IdType::IPV4_ADDR if d.len() == 4 => {
            format!("ipv4:{}", Ipv4Addr::new(d[0], d[1], d[2], d[3]))
        }
        IdType::IPV6_ADDR if d.len() == 16 => {
            let mut o = [0u8; 16];
            o.copy_from_slice(d);
            format!("ipv6:{}", Ipv6Addr::from(o))
        }
        IdType::KEY_ID => format!("keyid:{}", hex::encode(d)),
        other => format!("type{}:{}", other.0, hex::encode(d)),
    }
}

fn addr_bits(a: IpAddr) -> (u128, u32) {
    match a {
        IpAddr::V4(v) => (u128::from(u32::from(v)), 32),
        IpAddr::V6(v) => (u128::from(v), 128),
    }
}

fn addr_from_bits(n: u128, v6: bool) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::from(n))
    } else {
        IpAddr::V4(Ipv4Addr::from(u32::try_from(n).unwrap_or(u32::MAX)))
    }
}

/// `ADDR/LEN`, `START-END` or a single address: the first and last address
/// and, for a prefix, its length.
fn parse_block(s: &str) -> Result<(IpAddr, IpAddr, Option<u32>), String> {
    let bad_addr = |a: &str| format!("{a:?} is not an IP address");
    if let Some((a, len)) = s.split_once('/') {
        let addr = IpAddr::from_str(a).map_err(|_| bad_addr(a))?;
        let (n, bits) = addr_bits(addr);
        let family = if bits == 32 { "IPv4" } else { "IPv6" };
        let len: u32 = len.parse().ok().filter(|&l| l <= bits).ok_or_else(|| {
            format!("{s} is not a prefix: an {family} prefix length is 0 to {bits}")
        })?;
        let host = if len == 0 {
            u128::MAX
        } else {
            (1u128 << (bits - len)) - 1
        };
        let host = host
            & if bits == 32 {
                u128::from(u32::MAX)
            } else {
                u128::MAX
            };
        if n & host != 0 {
            let net = addr_from_bits(n & !host, bits == 128);
            return Err(format!("{s} has host bits set; did you mean {net}/{len}?"));
        }
        let v6 = bits == 128;
        return Ok((addr, addr_from_bits(n | host, v6), Some(len)));
    }
    if let Some((a, b)) = s.split_once('-') {
        let start = IpAddr::from_str(a.trim()).map_err(|_| bad_addr(a))?;
        let end = IpAddr::from_str(b.trim()).map_err(|_| bad_addr(b))?;
        if start.is_ipv4() != end.is_ipv4() {
            return Err(format!("{s} mixes IPv4 and IPv6"));
        }
        if addr_bits(start).0 > addr_bits(end).0 {
            return Err(format!("{s} ends before it starts"));
        }
        return Ok((start, end, None));
    }
    let a = IpAddr::from_str(s).map_err(|_| bad_addr(s))?;
    Ok((a, a, None))
}

const PROTOCOLS: [(&str, u8); 6] = [
    ("any", 0),
    ("icmp", 1),
    ("tcp", 6),
    ("udp", 17),
    ("icmpv6", 58),
    ("sctp", 132),
];

/// A traffic selector written `ADDRESSES [PROTOCOL [PORTS]]`:
///
/// - ADDRESSES: a prefix (`10.1.0.0/16`, `::/0`), a range
///   (`10.0.0.0-10.0.255.255`) or one address;
/// - PROTOCOL: `any` (the default), `icmp`, `tcp`, `udp`, `icmpv6`, `sctp`
///   or a number 0..=255;
/// - PORTS: `443` or `1024-65535` (all ports when absent); only with a
///   protocol other than `any`, as RFC 7296 §3.13.1 wants the full port
///   range for protocol 0.
pub fn parse_ts(s: &str) -> Result<TsRange, String> {
    let mut words = s.split_whitespace();
    let block = words.next().ok_or("empty traffic selector")?;
    let (start, end, _) = parse_block(block)?;
    let ip_proto = match words.next() {
        None => 0,
        Some(p) => PROTOCOLS
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(p))
            .map(|&(_, v)| v)
            .or_else(|| p.parse().ok())
            .ok_or_else(|| {
                format!("{p:?} is not a protocol (any, icmp, tcp, udp, icmpv6, sctp or 0..=255)")
            })?,
    };
    let (start_port, end_port) = match words.next() {
        None => (0, u16::MAX),
        Some(_) if ip_proto == 0 => {
            return Err(format!(
                "{s:?}: ports need a protocol (e.g. \"{block} tcp 443\")"
            ));
        }
        Some(p) => {
            let port = |x: &str| {
                x.parse::<u16>()
                    .map_err(|_| format!("{x:?} is not a port (0..=65535)"))
            };
            let (a, b) = match p.split_once('-') {
                Some((a, b)) => (port(a)?, port(b)?),
                None => (port(p)?, port(p)?),
            };
            if a > b {
                return Err(format!("port range {p} ends before it starts"));
            }
            (a, b)
        }
    };
    if let Some(extra) = words.next() {
        return Err(format!(
            "{extra:?} is extra; write ADDRESSES [PROTOCOL [PORTS]]"
        ));
    }
    Ok(TsRange {
        ip_proto,
        start_port,
        end_port,
        start,
        end,
    })
}

/// The form [`parse_ts`] reads: a prefix where the range is one.
pub fn format_ts(ts: &TsRange) -> String {
    let (a, bits) = addr_bits(ts.start);
    let (b, _) = addr_bits(ts.end);
    let span = b.wrapping_sub(a);
    let mut out = if ts.start.is_ipv4() != ts.end.is_ipv4() || b < a {
        format!("{}-{}", ts.start, ts.end)
    } else {
        let full = if bits == 32 {
            u128::from(u32::MAX)
        } else {
            u128::MAX
        };
        // A prefix: span + 1 is a power of two and `a` is aligned to it.
        let is_prefix = (span == full || (span.wrapping_add(1)).is_power_of_two()) && a & span == 0;
        if is_prefix {
            let host_bits = if span == full {
                bits
            } else {
                (span + 1).trailing_zeros()
            };
            format!("{}/{}", ts.start, bits - host_bits)
        } else {
            format!("{}-{}", ts.start, ts.end)
        }
    };
    if ts.ip_proto != 0 {
        match PROTOCOLS.iter().find(|(_, v)| *v == ts.ip_proto) {
            Some((n, _)) => out.push_str(&format!(" {n}")),
            None => out.push_str(&format!(" {}", ts.ip_proto)),
        }
        if (ts.start_port, ts.end_port) != (0, u16::MAX) {
            if ts.start_port == ts.end_port {
                out.push_str(&format!(" {}", ts.start_port));
            } else {
                out.push_str(&format!(" {}-{}", ts.start_port, ts.end_port));
            }
        }
    }
    out
}

/// A pool range: `ADDR/LEN` or `START-END`, as the first address and the
/// count. A prefix leaves out its first address (the IPv4 network address,
/// the IPv6 subnet-router anycast address) and, for IPv4, its last (the
/// broadcast address), when it has more than two; a range is taken as
/// written.
fn parse_pool(s: &str) -> Result<(IpAddr, u32), String> {
    let (start, end, len) = parse_block(s.trim())?;
    let (mut a, bits) = addr_bits(start);
    let (mut b, _) = addr_bits(end);
    if let Some(len) = len
        && bits - len >= 2
    {
        a += 1;
        if bits == 32 {
            b -= 1;
        }
    }
    let count = (b - a).saturating_add(1);
    if count > u128::from(MAX_POOL_ADDRESSES) {
        return Err(format!(
            "{s} holds {count} addresses; at most {MAX_POOL_ADDRESSES} are supported (an IPv4 /8, \
             an IPv6 /104)"
        ));
    }
    Ok((addr_from_bits(a, bits == 128), count as u32))
}

/// A `--cores` list: `0,1`, `0-3`, `0-1,4`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoreList(pub Vec<usize>);

impl FromStr for CoreList {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let id = |x: &str| {
            x.trim()
                .parse::<usize>()
                .ok()
                .filter(|&c| c <= MAX_CORE_ID)
                .ok_or_else(|| format!("{x:?} is not a core id (0..={MAX_CORE_ID})"))
        };
        let mut out = Vec::new();
        for part in s.split(',') {
            match part.split_once('-') {
                Some((a, b)) => {
                    let (a, b) = (id(a)?, id(b)?);
                    if a > b {
                        return Err(format!("core range {part} ends before it starts"));
                    }
                    out.extend(a..=b);
                }
                None => out.push(id(part)?),
            }
        }
        Ok(CoreList(out))
    }
}

// ---------------------------------------------------------------------------
// Validation.

/// Check every range and cross-setting rule of `settings` (built in code or
/// merged from a file and flags). Errors name the TOML key.
pub fn validate(settings: &GatewaySettings) -> Result<(), ConfigError> {
    Checker::default().run(settings)
}

/// Validation context: the file the settings came from and the keys that
/// command-line flags set (their errors name the flag, not the file).
#[derive(Default)]
struct Checker {
    file: Option<PathBuf>,
    /// (TOML key, flag)
    flags: Vec<(&'static str, &'static str)>,
}

impl Checker {
    fn err(&self, key: impl Into<String>, problem: impl Into<String>) -> ConfigError {
        let key = key.into();
        let flag = self.flags.iter().find(|(k, _)| {
            key.strip_prefix(k)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('['))
        });
        match flag {
            Some((_, flag)) => ConfigError::new(format!("{flag} ({key})"), problem),
            None => ConfigError {
                file: self.file.clone(),
                key,
                problem: problem.into(),
            },
        }
    }

    fn range<T: PartialOrd + fmt::Display>(
        &self,
        key: &str,
        v: T,
        lo: T,
        hi: T,
    ) -> Result<(), ConfigError> {
        if v < lo || v > hi {
            return Err(self.err(key, format!("{v} is out of range {lo}..={hi}")));
        }
        Ok(())
    }

    fn run(&self, s: &GatewaySettings) -> Result<(), ConfigError> {
        self.gateway(s)?;
        self.tickets(s)?;
        self.responder(&s.responder)?;
        self.child(&s.responder)?;
        if let Some(pool) = &s.pool {
            self.pool(pool)?;
        }
        self.guard(s)?;
        self.handoff(s)?;
        self.psks(&s.psks)
    }

    fn gateway(&self, s: &GatewaySettings) -> Result<(), ConfigError> {
        if s.listen.is_empty() {
            return Err(self.err(
                "gateway.listen",
                "is empty; the gateway needs at least one IKE address (e.g. 0.0.0.0:500)",
            ));
        }
        for (key, list) in [
            ("gateway.listen", &s.listen),
            ("gateway.listen_natt", &s.listen_natt),
        ] {
            for (i, a) in list.iter().enumerate() {
                if list[..i].contains(a) {
                    return Err(self.err(format!("{key}[{i}]"), format!("{a} is listed twice")));
                }
            }
        }
        for (i, a) in s.listen_natt.iter().enumerate() {
            if s.listen.contains(a) {
                return Err(self.err(
                    format!("gateway.listen_natt[{i}]"),
                    format!("{a} is also in gateway.listen; one socket cannot be both"),
                ));
            }
        }
        self.range("gateway.workers", s.workers, 1, MAX_WORKERS)?;
        if !s.cores.is_empty() {
            if s.cores.len() != s.workers {
                return Err(self.err(
                    "gateway.cores",
                    format!(
                        "{} entries but gateway.workers = {}; give one core per worker, or none",
                        s.cores.len(),
                        s.workers
                    ),
                ));
            }
            for (i, c) in s.cores.iter().enumerate() {
                if let Some(j) = s.cores[..i].iter().position(|x| x == c) {
                    return Err(self.err(
                        format!("gateway.cores[{i}]"),
                        format!("core {c} is already worker {j}'s; busy-polling workers need a core each"),
                    ));
                }
            }
        }
        self.range("gateway.idle_sleep_us", s.idle_sleep_us, 0, 1_000_000)?;
        self.range("gateway.drain_timeout_ms", s.drain_timeout_ms, 0, 3_600_000)?;
        self.range("gateway.handoff_queue", s.handoff_queue, 1, 1 << 24)?;
        Ok(())
    }

    fn tickets(&self, s: &GatewaySettings) -> Result<(), ConfigError> {
        let p = &s.responder.tickets;
        let max = u64::from(u32::MAX);
        self.range("tickets.max_lifetime_secs", p.max_lifetime_secs, 1, max)?;
        self.range("tickets.ike_lifetime_secs", p.ike_lifetime_secs, 1, max)?;
        self.range("tickets.max_message_len", p.max_message_len, 512, 65_535)?;
        Ok(())
    }

    fn responder(&self, r: &ResponderConfig) -> Result<(), ConfigError> {
        self.range(
            "responder.half_open_timeout_ms",
            r.half_open_timeout_ms,
            1_000,
            600_000,
        )?;
        self.range("responder.half_open_limit", r.half_open_limit, 1, 1 << 24)?;
        self.range(
            "responder.completed_cache_limit",
            r.completed_cache_limit,
            1,
            1 << 24,
        )?;
        if r.cookie_threshold > r.half_open_limit {
            return Err(self.err(
                "responder.cookie_threshold",
                format!(
                    "{} is above responder.half_open_limit = {}: the table would fill before \
                     cookies are asked for",
                    r.cookie_threshold, r.half_open_limit
                ),
            ));
        }
        self.range(
            "responder.cookie_rotate_ms",
            r.cookie_rotate_ms,
            1_000,
            86_400_000,
        )?;
        self.range(
            "responder.max_request_len",
            r.max_request_len,
            1_024,
            crate::backend::SLOT_LEN,
        )?;
        Ok(())
    }

    fn child(&self, r: &ResponderConfig) -> Result<(), ConfigError> {
        if r.esp.is_empty() {
            return Err(self.err("child.esp", "is empty; no child SA could be made"));
        }
        for (i, p) in r.esp.iter().enumerate() {
            let key = format!("child.esp[{i}]");
            if !p.is_valid() {
                return Err(self.err(key, format!("{p:?} is not a valid ESP suite")));
            }
            if r.esp[..i].contains(p) {
                return Err(self.err(key, format!("{p} is listed twice")));
            }
        }
        for (key, list) in [
            ("child.ts_local", &r.ts_local),
            ("child.ts_remote", &r.ts_remote),
        ] {
            if list.is_empty() {
                return Err(self.err(key, "is empty; no traffic could be selected"));
            }
            if list.len() > MAX_SELECTORS {
                return Err(self.err(
                    key,
                    format!("{} selectors; at most {MAX_SELECTORS}", list.len()),
                ));
            }
            for (i, t) in list.iter().enumerate() {
                let bad = if t.start.is_ipv4() != t.end.is_ipv4() {
                    Some("mixes IPv4 and IPv6")
                } else if addr_bits(t.start).0 > addr_bits(t.end).0 {
                    Some("ends before it starts")
                } else if t.start_port > t.end_port {
                    Some("port range ends before it starts")
                } else if t.ip_proto == 0 && (t.start_port, t.end_port) != (0, u16::MAX) {
                    Some("ports need a protocol")
                } else {
                    None
                };
                if let Some(bad) = bad {
                    return Err(self.err(format!("{key}[{i}]"), format!("{t:?} {bad}")));
                }
            }
        }
        Ok(())
    }

    fn pool(&self, p: &PoolSettings) -> Result<(), ConfigError> {
        if p.v4.is_none() && p.v6.is_none() {
            return Err(self.err("pool", "needs v4, v6 or both"));
        }
        let ranges = [
            (
                "pool.v4",
                p.v4.map(|(a, n)| (u128::from(u32::from(a)), n, u128::from(u32::MAX))),
            ),
            ("pool.v6", p.v6.map(|(a, n)| (u128::from(a), n, u128::MAX))),
        ];
        for (key, r) in ranges {
            if let Some((first, count, last)) = r {
                self.range(key, count, 1, MAX_POOL_ADDRESSES)?;
                if last - first < u128::from(count - 1) {
                    return Err(self.err(key, "runs past the end of the address space"));
                }
            }
        }
        Ok(())
    }

    fn guard(&self, s: &GatewaySettings) -> Result<(), ConfigError> {
        let g = &s.guard;
        if let Err(e) = g.memory_bytes() {
            let (key, problem) = match e {
                GuardConfigError::ZeroCapacity => (
                    "guard.claims_per_generation",
                    "must be at least 1".to_string(),
                ),
                GuardConfigError::FalsePositiveRateOutOfRange => (
                    "guard.false_positive_rate",
                    format!("{} is out of range 1e-9..=0.5", g.false_positive_rate),
                ),
                GuardConfigError::ZeroWindow => ("guard.window_secs", "must be at least 1".into()),
                GuardConfigError::ZeroLifetime => (
                    "guard.max_ticket_lifetime_secs",
                    "must be at least 1".into(),
                ),
                GuardConfigError::ShardCount => (
                    "guard.shards",
                    format!("{} is out of range 1..={MAX_SHARDS}", g.shards),
                ),
                other => ("guard", other.to_string()),
            };
            return Err(self.err(key, problem));
        }
        let p = &s.responder.tickets;
        let issued = p.max_lifetime_secs.min(p.ike_lifetime_secs);
        if p.kind.is_some() && issued > g.max_ticket_lifetime_secs {
            return Err(self.err(
                "guard.max_ticket_lifetime_secs",
                format!(
                    "{} is shorter than the tickets issued (min(tickets.max_lifetime_secs, \
                     tickets.ike_lifetime_secs) = {issued}); the guard would refuse them",
                    g.max_ticket_lifetime_secs
                ),
            ));
        }
        Ok(())
    }

    fn handoff(&self, s: &GatewaySettings) -> Result<(), ConfigError> {
        for (i, h) in s.handoff.iter().enumerate() {
            if s.handoff[..i].contains(h) {
                return Err(self.err(format!("handoff.unix[{i}]"), format!("{h} is listed twice")));
            }
        }
        if let (Some(a), Some(b)) = (&s.keylog, &s.keylog_wireshark)
            && a == b
        {
            return Err(self.err(
                "handoff.keylog_wireshark",
                format!(
                    "{} is also handoff.keylog; the two formats need two files",
                    b.display()
                ),
            ));
        }
        Ok(())
    }

    fn psks(&self, psks: &[PskEntry]) -> Result<(), ConfigError> {
        for (i, p) in psks.iter().enumerate() {
            if let Some(problem) = psk_len_problem(p.secret.len()) {
                return Err(self.err(format!("psk[{i}].secret"), problem));
            }
            if let Some(j) = psks[..i].iter().position(|q| q.id == p.id) {
                return Err(self.err(
                    format!("psk[{i}].id"),
                    format!("{} is already psk[{j}]'s", format_identity(&p.id)),
                ));
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Command line.

/// `rebound gateway`'s options: a configuration file and flags that
/// override it. Relative paths in flags are taken from the current
/// directory; relative paths in the file from the file's directory.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct GatewayArgs {
    /// The TOML configuration file (docs/OPERATIONS.md); without it the
    /// defaults apply (0.0.0.0:500 and 0.0.0.0:4500, one worker).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// IKE address; repeat or separate with commas. Replaces the file's
    /// gateway.listen. Port 0 (a free port) is accepted here, for tests.
    #[arg(long, value_name = "ADDR", value_delimiter = ',')]
    pub listen: Vec<SocketAddr>,
    /// NAT-T address (non-ESP marker); repeatable. Replaces
    /// gateway.listen_natt.
    #[arg(long, value_name = "ADDR", value_delimiter = ',')]
    pub listen_natt: Vec<SocketAddr>,
    /// Number of workers (1..=255).
    #[arg(long, value_name = "N")]
    pub workers: Option<usize>,
    /// Cores to pin the workers to, one per worker: "0,1", "0-3".
    #[arg(long, value_name = "LIST")]
    pub cores: Option<CoreList>,
    /// The ticket key file (`rebound keys generate`).
    #[arg(long, value_name = "PATH")]
    pub key_file: Option<PathBuf>,
    /// Hand-off target `unix:PATH`; repeatable. Replaces handoff.unix.
    #[arg(long, value_name = "unix:PATH")]
    pub handoff: Vec<HandoffTarget>,
    /// JSON key log file.
    #[arg(long, value_name = "PATH")]
    pub keylog: Option<PathBuf>,
    /// Wireshark ikev2_decryption_table file.
    #[arg(long, value_name = "PATH")]
    pub keylog_wireshark: Option<PathBuf>,
    /// Prometheus endpoint address (GET /metrics).
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<SocketAddr>,
    /// Microseconds an idle worker sleeps; 0: pure busy polling.
    #[arg(long, value_name = "N")]
    pub idle_sleep_us: Option<u64>,
    /// Tickets issued.
    #[arg(long, value_enum, value_name = "KIND")]
    pub tickets: Option<TicketsMode>,
}

impl GatewayArgs {
    /// The file (or [`defaults_for_file`] without `--config`), then the
    /// flags, then [`validate`]. An error names the flag when a flag set the
    /// value.
    pub fn settings(&self) -> Result<GatewaySettings, ConfigError> {
        let mut s = match &self.config {
            Some(path) => load_unvalidated(path)?,
            None => defaults_for_file(),
        };
        let mut flags = Vec::new();
        if !self.listen.is_empty() {
            s.listen = self.listen.clone();
            flags.push(("gateway.listen", "--listen"));
        }
        if !self.listen_natt.is_empty() {
            s.listen_natt = self.listen_natt.clone();
            flags.push(("gateway.listen_natt", "--listen-natt"));
        }
        if let Some(v) = self.workers {
            s.workers = v;
            flags.push(("gateway.workers", "--workers"));
        }
        if let Some(v) = &self.cores {
            s.cores = v.0.clone();
            flags.push(("gateway.cores", "--cores"));
        }
        if let Some(v) = &self.key_file {
            s.key_file = Some(v.clone());
            flags.push(("tickets.key_file", "--key-file"));
        }
        if !self.handoff.is_empty() {
            s.handoff = self.handoff.clone();
            flags.push(("handoff.unix", "--handoff"));
        }
        if let Some(v) = &self.keylog {
            s.keylog = Some(v.clone());
            flags.push(("handoff.keylog", "--keylog"));
        }
        if let Some(v) = &self.keylog_wireshark {
            s.keylog_wireshark = Some(v.clone());
            flags.push(("handoff.keylog_wireshark", "--keylog-wireshark"));
        }
        if let Some(v) = self.metrics {
            s.metrics = Some(v);
            flags.push(("gateway.metrics", "--metrics"));
        }
        if let Some(v) = self.idle_sleep_us {
            s.idle_sleep_us = v;
            flags.push(("gateway.idle_sleep_us", "--idle-sleep-us"));
        }
        if let Some(v) = self.tickets {
            s.responder.tickets.kind = v.kind();
            flags.push(("tickets.kind", "--tickets"));
        }
        Checker {
            file: self.config.clone(),
            flags,
        }
        .run(&s)?;
        if s.key_file.is_none() && s.responder.tickets.kind.is_some() {
            tracing::warn!(
                "no ticket key file (tickets.key_file / --key-file): tickets are sealed with a \
                 random in-memory key and die with this process"
            );
        }
        Ok(s)
    }

    /// [`reload_secrets`] for these arguments: `--key-file` still wins over
    /// the file; without `--config` there is nothing to re-read.
    pub fn reload_secrets(&self) -> Result<(Option<PathBuf>, Vec<PskEntry>), ConfigError> {
        let (key_file, psks) = match &self.config {
            Some(path) => reload_secrets(path)?,
            None => (None, Vec::new()),
        };
        Ok((self.key_file.clone().or(key_file), psks))
    }
}
