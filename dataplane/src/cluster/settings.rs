//! `[cluster]`: the Redis a group of gateways shares (docs/OPERATIONS.md,
//! "A cluster").

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::config::{ConfigError, resolve};

/// Where the cluster's Redis is. `Debug` and `Display` never show the
/// credentials a URL may carry.
#[derive(Clone, PartialEq, Eq)]
pub enum RedisTarget {
    /// One server (or a proxy in front of several): `redis://HOST:PORT/DB`,
    /// or `rediss://` for TLS.
    Server(String),
    /// Redis Sentinel: `redis+sentinel://HOST:PORT[,HOST:PORT...]/MASTER`
    /// (`rediss+sentinel://` for TLS to the sentinels and the master).
    Sentinel {
        /// The sentinels, as `redis://HOST:PORT` (or `rediss://`).
        sentinels: Vec<String>,
        /// The monitored master's name.
        master: String,
        tls: bool,
    },
    /// Redis Cluster: seed nodes (`redis://HOST:PORT` each); the slot map
    /// is read from them.
    Cluster(Vec<String>),
}

impl std::fmt::Debug for RedisTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RedisTarget({self})")
    }
}

impl std::fmt::Display for RedisTarget {
    /// Without credentials: for logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RedisTarget::Server(u) => f.write_str(&redact(u)),
            RedisTarget::Sentinel {
                sentinels, master, ..
            } => {
                let s: Vec<_> = sentinels.iter().map(|u| redact(u)).collect();
                write!(f, "sentinel {} master {master}", s.join(","))
            }
            RedisTarget::Cluster(seeds) => {
                let s: Vec<_> = seeds.iter().map(|u| redact(u)).collect();
                write!(f, "cluster {}", s.join(","))
            }
        }
    }
}

/// A Redis URL with any `user:password@` part replaced by `***@`.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}***@{}", &url[..s + 3], &url[at + 1..]),
        _ => url.to_string(),
    }
}

/// What a worker does when the cluster cannot answer within `timeout_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Policy {
    /// TICKET_NACK (`cluster_unavailable`): the client falls back to a full
    /// exchange; no ticket is ever accepted twice across the cluster.
    #[default]
    FailClosed,
    /// This gateway's own guard and store decide alone (counted, and a
    /// warning): clients keep resuming, and a ticket could resume once on
    /// each gateway that decides alone during the outage.
    Local,
}

/// The cluster settings, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterSettings {
    pub target: RedisTarget,
    /// This gateway's name in the cluster: the owner of its claims and the
    /// key of its stub list. Letters, digits, `.`, `_`, `-`; 1 to 64.
    pub name: String,
    /// Prefix of every key (several clusters may share a Redis).
    pub key_prefix: String,
    /// Connect, read and write timeout of one round trip; a deferred
    /// request waits at most twice this before the policy decides.
    pub timeout_ms: u64,
    pub policy: Policy,
    /// Redis ACL user (`AUTH user password`); the URL may carry one too.
    pub username: Option<String>,
    /// A 0600 file holding the Redis password (`requirepass` or the ACL
    /// user's).
    pub password_file: Option<PathBuf>,
    /// `rediss://` (and `rediss+sentinel://`): the CA certificate (PEM)
    /// to verify Redis (and the sentinels) against, instead of the
    /// system's trust store.
    pub tls_ca_file: Option<PathBuf>,
    /// Gateways whose stubs this one downloads (a standby), at start and
    /// every `download_interval_secs`.
    pub standby_for: Vec<String>,
    pub download_interval_secs: u64,
    /// Deferred datagrams a worker keeps while the cluster answers;
    /// beyond, new ones are dropped and counted (the client retransmits).
    pub max_parked: usize,
    /// A 0600 file with the cluster secret (32 bytes or more) that
    /// encrypts the ticket key ring published in Redis. Absent: the ring
    /// is not shared (every gateway needs the same key file).
    pub secret_file: Option<PathBuf>,
    /// How often a gateway checks Redis for a newer key ring.
    pub key_sync_interval_secs: u64,
    /// This gateway publishes its key file's ring (the one that rotates
    /// keys); the others follow the published ring.
    pub publish_keys: bool,
}

impl ClusterSettings {
    /// A cluster on one Redis server, everything else at its default.
    pub fn new(redis: &str, name: &str) -> Self {
        ClusterSettings {
            target: RedisTarget::Server(redis.to_string()),
            name: name.to_string(),
            key_prefix: "rebound:".into(),
            timeout_ms: 250,
            policy: Policy::FailClosed,
            username: None,
            password_file: None,
            tls_ca_file: None,
            standby_for: Vec::new(),
            download_interval_secs: 60,
            max_parked: 8192,
            secret_file: None,
            key_sync_interval_secs: 10,
            publish_keys: false,
        }
    }
}

/// `[cluster]` as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct ClusterSection {
    redis: Option<String>,
    nodes: Option<Vec<String>>,
    name: Option<String>,
    key_prefix: Option<String>,
    timeout_ms: Option<u64>,
    policy: Option<Policy>,
    username: Option<String>,
    password_file: Option<PathBuf>,
    tls_ca_file: Option<PathBuf>,
    standby_for: Option<Vec<String>>,
    download_interval_secs: Option<u64>,
    max_parked: Option<usize>,
    secret_file: Option<PathBuf>,
    key_sync_interval_secs: Option<u64>,
    publish_keys: Option<bool>,
}

fn err(key: &str, problem: impl Into<String>) -> ConfigError {
    ConfigError::new(format!("cluster.{key}"), problem.into())
}

/// Parse a `redis =` value: one server or Sentinel.
pub fn parse_redis_url(url: &str) -> Result<RedisTarget, String> {
    let sentinel = |rest: &str, tls: bool| -> Result<RedisTarget, String> {
        let (hosts, master) = rest
            .split_once('/')
            .ok_or("redis+sentinel:// needs /MASTER after the sentinels")?;
        if master.is_empty() || hosts.is_empty() {
            return Err("redis+sentinel://HOST:PORT[,HOST:PORT...]/MASTER".into());
        }
        let scheme = if tls { "rediss" } else { "redis" };
        Ok(RedisTarget::Sentinel {
            sentinels: hosts
                .split(',')
                .map(|h| format!("{scheme}://{h}"))
                .collect(),
            master: master.to_string(),
            tls,
        })
    };
    if let Some(rest) = url.strip_prefix("redis+sentinel://") {
        sentinel(rest, false)
    } else if let Some(rest) = url.strip_prefix("rediss+sentinel://") {
        sentinel(rest, true)
    } else if url.starts_with("redis://") || url.starts_with("rediss://") {
        check_url(url)?;
        Ok(RedisTarget::Server(url.to_string()))
    } else {
        Err(format!(
            "{} is not a Redis URL: redis://HOST:PORT, rediss://HOST:PORT (TLS) or \
             redis+sentinel://HOST:PORT,.../MASTER",
            redact(url)
        ))
    }
}

fn check_url(url: &str) -> Result<(), String> {
    use redis::IntoConnectionInfo;
    url.into_connection_info()
        .map(|_| ())
        .map_err(|e| format!("{}: {e}", redact(url)))
}

fn valid_name(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
}

impl ClusterSection {
    pub(crate) fn into_settings(self, base: &Path) -> Result<ClusterSettings, ConfigError> {
        let target = match (self.redis, self.nodes) {
            (Some(u), None) => parse_redis_url(&u).map_err(|e| err("redis", e))?,
            (None, Some(n)) if !n.is_empty() => {
                for (i, u) in n.iter().enumerate() {
                    if !(u.starts_with("redis://") || u.starts_with("rediss://")) {
                        return Err(err(
                            &format!("nodes[{i}]"),
                            format!("{} is not redis://HOST:PORT", redact(u)),
                        ));
                    }
                    check_url(u).map_err(|e| err(&format!("nodes[{i}]"), e))?;
                }
                RedisTarget::Cluster(n)
            }
            (Some(_), Some(_)) => {
                return Err(err(
                    "nodes",
                    "give either redis (one server or Sentinel) or nodes (Redis Cluster), not both",
                ));
            }
            _ => {
                return Err(err(
                    "redis",
                    "needs redis = \"redis://HOST:PORT\" (or redis+sentinel://...) or nodes = [...]",
                ));
            }
        };
        let name = match self.name {
            Some(n) => n,
            None => default_name()?,
        };
        let mut s = ClusterSettings::new("", &name);
        s.target = target;
        if let Some(p) = self.key_prefix {
            s.key_prefix = p;
        }
        if let Some(v) = self.timeout_ms {
            s.timeout_ms = v;
        }
        if let Some(v) = self.policy {
            s.policy = v;
        }
        s.username = self.username;
        s.password_file = self.password_file.map(|p| resolve(base, p));
        s.tls_ca_file = self.tls_ca_file.map(|p| resolve(base, p));
        s.secret_file = self.secret_file.map(|p| resolve(base, p));
        if let Some(v) = self.standby_for {
            s.standby_for = v;
        }
        if let Some(v) = self.download_interval_secs {
            s.download_interval_secs = v;
        }
        if let Some(v) = self.max_parked {
            s.max_parked = v;
        }
        if let Some(v) = self.key_sync_interval_secs {
            s.key_sync_interval_secs = v;
        }
        if let Some(v) = self.publish_keys {
            s.publish_keys = v;
        }
        validate(&s)?;
        Ok(s)
    }
}

/// The host name, as the default gateway name.
fn default_name() -> Result<String, ConfigError> {
    let n = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    if valid_name(&n) {
        Ok(n)
    } else {
        Err(err(
            "name",
            "is needed: the host name cannot serve as the gateway's name in the cluster",
        ))
    }
}

/// Every range of `[cluster]`.
pub fn validate(s: &ClusterSettings) -> Result<(), ConfigError> {
    if !valid_name(&s.name) {
        return Err(err(
            "name",
            format!("{:?}: 1 to 64 letters, digits, '.', '_' or '-'", s.name),
        ));
    }
    for (i, n) in s.standby_for.iter().enumerate() {
        if !valid_name(n) {
            return Err(err(
                &format!("standby_for[{i}]"),
                format!("{n:?} is not a gateway name"),
            ));
        }
        if *n == s.name {
            return Err(err(
                &format!("standby_for[{i}]"),
                "names this gateway itself",
            ));
        }
    }
    if s.key_prefix.len() > 64 || s.key_prefix.contains(['{', '}']) {
        return Err(err(
            "key_prefix",
            "at most 64 bytes, without '{' or '}' (they are the keys' hash tags)",
        ));
    }
    if !(1..=60_000).contains(&s.timeout_ms) {
        return Err(err("timeout_ms", "must be 1..=60000"));
    }
    if !(1..=1 << 20).contains(&s.max_parked) {
        return Err(err("max_parked", "must be 1..=1048576"));
    }
    if !(1..=86_400).contains(&s.download_interval_secs) {
        return Err(err("download_interval_secs", "must be 1..=86400"));
    }
    if !(1..=86_400).contains(&s.key_sync_interval_secs) {
        return Err(err("key_sync_interval_secs", "must be 1..=86400"));
    }
    if s.publish_keys && s.secret_file.is_none() {
        return Err(err(
            "publish_keys",
            "needs secret_file: the ring is published encrypted under the cluster secret",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(toml_text: &str) -> Result<ClusterSettings, ConfigError> {
        let s: ClusterSection = toml::from_str(toml_text).expect("toml");
        s.into_settings(Path::new("/etc/rebound"))
    }

    #[test]
    fn forms_of_the_target() {
        let s = parse("redis = \"redis://127.0.0.1:6379\"\nname = \"a\"").unwrap();
        assert_eq!(
            s.target,
            RedisTarget::Server("redis://127.0.0.1:6379".into())
        );
        assert_eq!(s.policy, Policy::FailClosed);
        let s = parse(
            "redis = \"redis+sentinel://10.0.0.1:26379,10.0.0.2:26379/mymaster\"\nname = \"a\"\npolicy = \"local\"",
        )
        .unwrap();
        assert_eq!(
            s.target,
            RedisTarget::Sentinel {
                sentinels: vec![
                    "redis://10.0.0.1:26379".into(),
                    "redis://10.0.0.2:26379".into()
                ],
                master: "mymaster".into(),
                tls: false
            }
        );
        assert_eq!(s.policy, Policy::Local);
        let s = parse("nodes = [\"redis://h1:7000\", \"redis://h2:7001\"]\nname = \"a\"\npassword_file = \"pw\"").unwrap();
        assert!(matches!(s.target, RedisTarget::Cluster(ref n) if n.len() == 2));
        assert_eq!(
            s.password_file.as_deref(),
            Some(Path::new("/etc/rebound/pw"))
        );
    }

    #[test]
    fn refusals_name_the_key() {
        for (text, key) in [
            ("name = \"a\"", "cluster.redis"),
            ("redis = \"http://x\"\nname = \"a\"", "cluster.redis"),
            (
                "redis = \"redis+sentinel://h:1\"\nname = \"a\"",
                "cluster.redis",
            ),
            (
                "redis = \"redis://h:1\"\nnodes = [\"redis://h:2\"]\nname = \"a\"",
                "cluster.nodes",
            ),
            ("nodes = [\"h:2\"]\nname = \"a\"", "cluster.nodes[0]"),
            ("redis = \"redis://h:1\"\nname = \"a b\"", "cluster.name"),
            (
                "redis = \"redis://h:1\"\nname = \"a\"\ntimeout_ms = 0",
                "cluster.timeout_ms",
            ),
            (
                "redis = \"redis://h:1\"\nname = \"a\"\nkey_prefix = \"x{\"",
                "cluster.key_prefix",
            ),
            (
                "redis = \"redis://h:1\"\nname = \"a\"\nstandby_for = [\"a\"]",
                "cluster.standby_for[0]",
            ),
            (
                "redis = \"redis://h:1\"\nname = \"a\"\npublish_keys = true",
                "cluster.publish_keys",
            ),
            (
                "redis = \"redis://h:1\"\nname = \"a\"\nmax_parked = 0",
                "cluster.max_parked",
            ),
        ] {
            let e = parse(text).expect_err(text);
            assert_eq!(e.key, key, "{text}: {e}");
        }
        assert!(toml::from_str::<ClusterSection>("redis = \"redis://h:1\"\nbogus = 1").is_err());
        assert!(toml::from_str::<ClusterSection>("policy = \"maybe\"").is_err());
    }

    #[test]
    fn credentials_never_logged() {
        let t = parse_redis_url("redis://user:hunter2@10.0.0.1:6379/0").unwrap();
        assert_eq!(t.to_string(), "redis://***@10.0.0.1:6379/0");
        assert!(
            !parse_redis_url("http://user:hunter2@h")
                .unwrap_err()
                .contains("hunter2")
        );
    }
}
