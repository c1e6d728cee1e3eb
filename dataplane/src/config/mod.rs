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
use zeroize::Zeroizing;

use rebound_engine::responder::ResponderConfig;
use rebound_engine::slow_path::{IkeProposal, SlowPathConfig};
use rebound_engine::ticket::format::TicketKind;
use rebound_engine::ticket::guard::GuardConfig;
use rebound_engine::ticket::state::TicketIdentity;

mod syntax;
mod validate;

pub use syntax::{CoreList, format_identity, format_ts, parse_identity, parse_ts};
pub use validate::validate;

pub(crate) use syntax::read_secret_file;
use syntax::{file_addr, parse_esp, parse_pool, psks_from_file};
use validate::Checker;

/// One pre-shared key, for the full exchange (the slow path) of the peer
/// with this identity: the engine's own type, so the slow path takes the
/// configured entries as they are.
pub use rebound_engine::slow_path::Psk;

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
    pub psks: Vec<Psk>,
    /// The responder's protocol settings (its `worker_id` is set per
    /// worker).
    pub responder: ResponderConfig,
    pub pool: Option<PoolSettings>,
    pub guard: GuardConfig,
    /// Where the guard is saved across restarts (`guard.state_file`,
    /// `guard.save_interval_secs`).
    pub guard_state: GuardStateSettings,
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
    /// The user to become once every port is bound (`gateway.user`,
    /// `--user`): the process then runs with that user's uid and primary
    /// gid, no supplementary groups and no capabilities. `None`: stay who
    /// started it (a process started unprivileged with capabilities, as the
    /// systemd unit does, still gives those up once bound).
    pub user: Option<String>,
    /// Once every port is bound, give up what binding needed even without
    /// a `user`: the capabilities of a process started unprivileged, and a
    /// warning when it runs as root. Set for `rebound gateway` (from
    /// [`defaults_for_file`]); a process that embeds a gateway (the storm,
    /// tests) keeps its own privileges unless it names a `user`.
    pub drop_privileges: bool,
    /// The full exchange (slow path).
    pub ike: IkeSettings,
    /// Where ticket state and revocations are kept (`[tickets]`).
    pub tickets: TicketStorage,
    /// A gateway of a cluster on Redis (`[cluster]`); `None`: alone.
    pub cluster: Option<crate::cluster::ClusterSettings>,
}

/// How the gateway keeps by-reference tickets and revocations
/// (`[tickets]`; the issuing policy is `responder.tickets`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TicketStorage {
    /// The most by-reference tickets held at once (`kind =
    /// "by-reference"`); beyond it new tickets are refused with
    /// TICKET_NACK and counted.
    pub store_capacity: usize,
    /// The most revoked tickets remembered until their expiry.
    pub revocation_list_max: usize,
    /// Whether an IKE SA deleted by its peer revokes its ticket (RFC 5723
    /// §6.2); `false` lets the ticket resume once after a Delete.
    pub revoke_on_delete: bool,
}

impl Default for TicketStorage {
    fn default() -> Self {
        TicketStorage {
            store_capacity: 1 << 20,
            revocation_list_max: 1 << 18,
            revoke_on_delete: true,
        }
    }
}

/// Saving the single-use guard across restarts (`[guard] state_file`,
/// `save_interval_secs`; `dataplane::guard_state`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardStateSettings {
    /// The state file; `None`: the guard lives in memory only and single
    /// use does not survive a restart.
    pub state_file: Option<PathBuf>,
    /// Seconds between two saves (1..=86400): what a crash can lose.
    pub save_interval_secs: u64,
}

impl Default for GuardStateSettings {
    fn default() -> Self {
        GuardStateSettings {
            state_file: None,
            save_interval_secs: 10,
        }
    }
}

/// The full exchange's settings (`[ike]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IkeSettings {
    /// The gateway's identity, IDr.
    pub local_id: TicketIdentity,
    /// The IKE proposals accepted, most preferred first.
    pub proposals: Vec<IkeProposal>,
    /// How long a full authentication lasts (the re-authentication
    /// deadline of the SA and of every ticket resumed from it).
    pub reauth_secs: u64,
    /// At this many half-open full exchanges, IKE_SA_INIT without a valid
    /// cookie gets N(COOKIE). Lower than resumption's: each costs a DH.
    pub cookie_threshold: usize,
    /// Child SAs one IKE SA may hold (CREATE_CHILD_SA beyond it gets
    /// NO_ADDITIONAL_SAS).
    pub max_children: usize,
}

impl Default for IkeSettings {
    fn default() -> Self {
        let d = SlowPathConfig::default();
        IkeSettings {
            local_id: d.local_id,
            proposals: d.ike,
            reauth_secs: d.reauth_secs,
            cookie_threshold: 1000,
            max_children: d.max_children,
        }
    }
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
            guard_state: GuardStateSettings::default(),
            handoff: Vec::new(),
            keylog: None,
            keylog_wireshark: None,
            handoff_queue: 65_536,
            metrics: None,
            drain_timeout_ms: 5_000,
            user: None,
            drop_privileges: false,
            ike: IkeSettings::default(),
            tickets: TicketStorage::default(),
            cluster: None,
        }
    }
}

/// What a configuration file starts from: [`GatewaySettings::default`]
/// except that a deployed gateway gives up its privileges once bound
/// ([`GatewaySettings::drop_privileges`]) and listens on the standard ports,
/// `0.0.0.0:500` and (NAT-T) `0.0.0.0:4500`. Clients behind a NAT move to
/// port 4500 for the IKE_AUTH that follows IKE_SESSION_RESUME (RFC 7296
/// §2.23), so a gateway without a NAT-T address fails them halfway.
pub fn defaults_for_file() -> GatewaySettings {
    GatewaySettings {
        listen: vec![SocketAddr::from(([0, 0, 0, 0], 500))],
        listen_natt: vec![SocketAddr::from(([0, 0, 0, 0], 4500))],
        drop_privileges: true,
        ..GatewaySettings::default()
    }
}

/// The most workers: a worker's id is the top byte of every responder SPI
/// it chooses.
pub const MAX_WORKERS: usize = 255;
/// The shortest pre-shared key accepted, in bytes.
pub const MIN_PSK_LEN: usize = 16;

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
    pub(crate) fn new(key: impl Into<String>, problem: impl Into<String>) -> Self {
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
    #[serde(default)]
    ike: IkeSection,
    cluster: Option<crate::cluster::settings::ClusterSection>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct IkeSection {
    local_id: Option<String>,
    proposals: Option<Vec<String>>,
    reauth_secs: Option<u64>,
    cookie_threshold: Option<usize>,
    max_children: Option<usize>,
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
    user: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct TicketsSection {
    key_file: Option<PathBuf>,
    kind: Option<TicketsMode>,
    max_lifetime_secs: Option<u64>,
    ike_lifetime_secs: Option<u64>,
    max_message_len: Option<usize>,
    store_capacity: Option<usize>,
    revocation_list_max: Option<usize>,
    revoke_on_delete: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ResponderSection {
    half_open_timeout_ms: Option<u64>,
    half_open_limit: Option<usize>,
    completed_cache_limit: Option<usize>,
    half_open_memory_mb: Option<usize>,
    half_open_per_ticket: Option<usize>,
    half_open_per_source: Option<usize>,
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
    state_file: Option<PathBuf>,
    save_interval_secs: Option<u64>,
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
    // Wiped when dropped (the TOML parser's own transient copies are
    // beyond reach: docs/OPERATIONS.md suggests `secret_file`).
    secret: Option<Zeroizing<String>>,
    secret_hex: Option<Zeroizing<String>>,
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
pub fn reload_secrets(path: &Path) -> Result<(Option<PathBuf>, Vec<Psk>), ConfigError> {
    let text = read_file(path)?;
    let base = base_dir_of(path);
    let file = parse_toml(&text).map_err(|e| e.in_file(path))?;
    refuse_open_mode_if_inline_psks(path, &file)?;
    let key_file = file.tickets.key_file.map(|p| resolve(&base, p));
    let psks = psks_from_file(file.psk, &base).map_err(|e| e.in_file(path))?;
    let checker = Checker {
        file: Some(path.to_path_buf()),
        flags: Vec::new(),
    };
    checker.psks(&psks)?;
    Ok((key_file, psks))
}

/// The file's text, wiped when dropped (it may hold PSKs).
fn read_file(path: &Path) -> Result<Zeroizing<String>, ConfigError> {
    std::fs::read_to_string(path)
        .map(Zeroizing::new)
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
    refuse_open_mode_if_inline_psks(path, &file)?;
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

/// A configuration file that holds pre-shared keys itself (`secret`,
/// `secret_hex`) is a key file: refused when group or others may read it,
/// like a `secret_file` and the ticket key file.
fn refuse_open_mode_if_inline_psks(path: &Path, file: &FileConfig) -> Result<(), ConfigError> {
    let inline = file
        .psk
        .iter()
        .any(|p| p.secret.is_some() || p.secret_hex.is_some());
    if !inline {
        return Ok(());
    }
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path)
        .map_err(|e| ConfigError::new("", format!("cannot stat: {e}")).in_file(path))?;
    match open_mode_problem(
        path,
        meta.mode(),
        "the pre-shared keys it holds (psk[].secret, psk[].secret_hex)",
    ) {
        Some(problem) => Err(ConfigError::new("", problem).in_file(path)),
        None => Ok(()),
    }
}

/// Why a file holding `what` with this `mode` must not be used: group or
/// others may read it (`mode & 0o077 != 0`), with the fix.
pub(super) fn open_mode_problem(path: &Path, mode: u32, what: &str) -> Option<String> {
    let mode = mode & 0o7777;
    (mode & 0o077 != 0).then(|| {
        format!(
            "mode {mode:04o} lets group or others read {what}; refusing to use it. Fix: chmod 600 {}",
            path.display()
        )
    })
}

/// `p` as given, or taken from `base` when relative (a path in a file is
/// taken from the file's directory).
pub(crate) fn resolve(base: &Path, p: PathBuf) -> PathBuf {
    if p.is_absolute() { p } else { base.join(p) }
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
    s.user = g.user;

    let t = f.tickets;
    s.key_file = t.key_file.map(|p| resolve(base, p));
    let policy = &mut s.responder.tickets;
    set(&mut policy.kind, t.kind.map(TicketsMode::kind));
    set(&mut policy.max_lifetime_secs, t.max_lifetime_secs);
    set(&mut policy.ike_lifetime_secs, t.ike_lifetime_secs);
    set(&mut policy.max_message_len, t.max_message_len);
    set(&mut s.tickets.store_capacity, t.store_capacity);
    set(&mut s.tickets.revocation_list_max, t.revocation_list_max);
    set(&mut s.tickets.revoke_on_delete, t.revoke_on_delete);

    let (r, rc) = (f.responder, &mut s.responder);
    set(&mut rc.half_open_timeout_ms, r.half_open_timeout_ms);
    set(&mut rc.half_open_limit, r.half_open_limit);
    set(&mut rc.completed_cache_limit, r.completed_cache_limit);
    if let Some(mb) = r.half_open_memory_mb {
        // Out of range is refused by validation (in MiB, as written).
        rc.half_open_memory = mb.saturating_mul(1 << 20);
    }
    set(&mut rc.half_open_per_ticket, r.half_open_per_ticket);
    set(&mut rc.half_open_per_source, r.half_open_per_source);
    set(&mut rc.cookie_threshold, r.cookie_threshold);
    set(&mut rc.cookie_rotate_ms, r.cookie_rotate_ms);
    set(&mut rc.max_request_len, r.max_request_len);

    let c = f.child;
    if let Some(v) = c.esp {
        rc.esp = list("child.esp", &v, parse_esp)?;
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
    s.guard_state.state_file = gd.state_file.map(|p| resolve(base, p));
    set(&mut s.guard_state.save_interval_secs, gd.save_interval_secs);

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

    let i = f.ike;
    if let Some(v) = i.local_id {
        s.ike.local_id = parse_identity(&v).map_err(|e| ConfigError::new("ike.local_id", e))?;
    }
    if let Some(v) = i.proposals {
        s.ike.proposals = list("ike.proposals", &v, |p| {
            IkeProposal::parse(p).map_err(|e| e.to_string())
        })?;
    }
    set(&mut s.ike.reauth_secs, i.reauth_secs);
    set(&mut s.ike.cookie_threshold, i.cookie_threshold);
    set(&mut s.ike.max_children, i.max_children);
    if let Some(c) = f.cluster {
        s.cluster = Some(c.into_settings(base)?);
    }
    Ok(s)
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
    /// Become this user once every port is bound (started as root): its
    /// uid and primary group, no supplementary groups, no capabilities.
    /// Replaces gateway.user.
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
    /// Join a cluster on this Redis (redis://HOST:PORT,
    /// redis+sentinel://HOST:PORT,.../MASTER); replaces cluster.redis.
    #[arg(long, value_name = "URL")]
    pub cluster_redis: Option<String>,
    /// This gateway's name in the cluster; replaces cluster.name.
    #[arg(long, value_name = "NAME", requires = "cluster_redis")]
    pub cluster_name: Option<String>,
    /// What to do when Redis does not answer in time; replaces
    /// cluster.policy.
    #[arg(long, value_enum, value_name = "POLICY", requires = "cluster_redis")]
    pub cluster_policy: Option<ClusterPolicyArg>,
    /// The single-use guard's state file: loaded at start, saved every
    /// guard.save_interval_secs and at drain, so used tickets stay refused
    /// after a restart. Replaces guard.state_file.
    #[arg(long, value_name = "FILE")]
    pub guard_state: Option<PathBuf>,
}

/// `--cluster-policy`.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClusterPolicyArg {
    FailClosed,
    Local,
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
        if let Some(v) = &self.user {
            s.user = Some(v.clone());
            flags.push(("gateway.user", "--user"));
        }
        if let Some(url) = &self.cluster_redis {
            let target = crate::cluster::settings::parse_redis_url(url)
                .map_err(|e| ConfigError::new("--cluster-redis", e))?;
            let name = self
                .cluster_name
                .clone()
                .or_else(|| s.cluster.as_ref().map(|c| c.name.clone()))
                .ok_or_else(|| {
                    ConfigError::new(
                        "--cluster-name",
                        "is needed with --cluster-redis (or cluster.name in the file)",
                    )
                })?;
            let mut c = s
                .cluster
                .take()
                .unwrap_or_else(|| crate::cluster::ClusterSettings::new("", &name));
            c.target = target;
            c.name = name;
            if let Some(p) = self.cluster_policy {
                c.policy = match p {
                    ClusterPolicyArg::FailClosed => crate::cluster::Policy::FailClosed,
                    ClusterPolicyArg::Local => crate::cluster::Policy::Local,
                };
            }
            crate::cluster::settings::validate(&c).map_err(|mut e| {
                e.key = e.key.replace("cluster.name", "--cluster-name");
                e
            })?;
            s.cluster = Some(c);
        }
        if let Some(v) = &self.guard_state {
            s.guard_state.state_file = Some(v.clone());
            flags.push(("guard.state_file", "--guard-state"));
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
        // A cluster's gateways share single use in Redis; alone, the guard
        // is this process's memory.
        if s.key_file.is_some() && s.guard_state.state_file.is_none() && s.cluster.is_none() {
            tracing::warn!(
                "no guard state file (guard.state_file / --guard-state): single use does not \
                 survive a restart; every ticket used before it can be replayed once after it, \
                 until it expires"
            );
        }
        Ok(s)
    }

    /// [`reload_secrets`] for these arguments: `--key-file` still wins over
    /// the file; without `--config` there is nothing to re-read.
    pub fn reload_secrets(&self) -> Result<(Option<PathBuf>, Vec<Psk>), ConfigError> {
        let (key_file, psks) = match &self.config {
            Some(path) => reload_secrets(path)?,
            None => (None, Vec::new()),
        };
        Ok((self.key_file.clone().or(key_file), psks))
    }
}
