//! One synchronous connection to the cluster's Redis, whatever its shape
//! (one server, Sentinel, Redis Cluster), and a pipeline run over it.

use std::time::Duration;

use redis::{Cmd, IntoConnectionInfo, RedisResult, Value};
use zeroize::Zeroizing;

use super::settings::{ClusterSettings, RedisTarget};

/// Credentials from the settings (they override the URL's).
#[derive(Clone, Default)]
pub struct Credentials {
    pub username: Option<String>,
    pub password: Option<Zeroizing<String>>,
    /// The CA certificate (PEM) for `rediss://`, read at start.
    pub ca: Option<Vec<u8>>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Credentials(user {:?}, password {})",
            self.username,
            if self.password.is_some() {
                "set"
            } else {
                "none"
            }
        )
    }
}

pub enum Conn {
    Single(redis::Connection),
    Cluster(Box<redis::cluster::ClusterConnection>),
}

fn settings_with(
    info: redis::RedisConnectionInfo,
    creds: &Credentials,
) -> redis::RedisConnectionInfo {
    let mut info = info;
    if let Some(u) = &creds.username {
        info = info.set_username(u);
    }
    if let Some(p) = &creds.password {
        info = info.set_password(p.as_str());
    }
    info
}

/// A client for `url` (TLS with the configured CA, when given).
fn client(url: &str, creds: &Credentials, with_creds: bool) -> RedisResult<redis::Client> {
    let info = url.into_connection_info()?;
    let info = match with_creds {
        true => {
            let redis = settings_with(info.redis_settings().clone(), creds);
            info.set_redis_settings(redis)
        }
        false => info,
    };
    match &creds.ca {
        Some(ca) => redis::Client::build_with_tls(
            info,
            redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(ca.clone()),
            },
        ),
        None => redis::Client::open(info),
    }
}

/// One server: connect, read and write within `timeout`.
fn single(url: &str, creds: &Credentials, timeout: Duration) -> RedisResult<Conn> {
    let con = client(url, creds, true)?.get_connection_with_timeout(timeout)?;
    con.set_read_timeout(Some(timeout))?;
    con.set_write_timeout(Some(timeout))?;
    Ok(Conn::Single(con))
}

/// The master `name` according to the sentinel at `url` (its own
/// credentials are in its URL), within `timeout`.
fn master_addr(
    url: &str,
    name: &str,
    creds: &Credentials,
    timeout: Duration,
) -> RedisResult<(String, u16)> {
    let mut con = client(url, creds, false)?.get_connection_with_timeout(timeout)?;
    con.set_read_timeout(Some(timeout))?;
    con.set_write_timeout(Some(timeout))?;
    let addr: Option<(String, u16)> = redis::cmd("SENTINEL")
        .arg("get-master-addr-by-name")
        .arg(name)
        .query(&mut con)?;
    addr.ok_or_else(|| {
        redis::RedisError::from((
            redis::ErrorKind::InvalidClientConfig,
            "the sentinel does not know the master",
            name.to_string(),
        ))
    })
}

impl Conn {
    /// Connect within `timeout`; every later read and write is bounded by
    /// it too.
    pub fn connect(s: &ClusterSettings, creds: &Credentials) -> RedisResult<Conn> {
        let timeout = Duration::from_millis(s.timeout_ms);
        match &s.target {
            RedisTarget::Server(url) => single(url, creds, timeout),
            RedisTarget::Sentinel {
                sentinels,
                master,
                tls,
            } => {
                // Asked one after the other, each within the timeout: the
                // first that names the master is believed.
                let mut last = None;
                for s in sentinels {
                    match master_addr(s, master, creds, timeout) {
                        Ok((host, port)) => {
                            let scheme = if *tls { "rediss" } else { "redis" };
                            return single(&format!("{scheme}://{host}:{port}"), creds, timeout);
                        }
                        Err(e) => last = Some(e),
                    }
                }
                Err(last.unwrap_or_else(|| {
                    redis::RedisError::from((
                        redis::ErrorKind::InvalidClientConfig,
                        "no sentinel given",
                    ))
                }))
            }
            RedisTarget::Cluster(seeds) => {
                let mut b = redis::cluster::ClusterClientBuilder::new(seeds.clone())
                    .connection_timeout(timeout)
                    .response_timeout(timeout)
                    .retries(1);
                if let Some(u) = &creds.username {
                    b = b.username(u);
                }
                if let Some(p) = &creds.password {
                    b = b.password(p.as_str());
                }
                if let Some(ca) = &creds.ca {
                    b = b.certs(redis::TlsCertificates {
                        client_tls: None,
                        root_cert: Some(ca.clone()),
                    });
                }
                let con = b.build()?.get_connection()?;
                Ok(Conn::Cluster(Box::new(con)))
            }
        }
    }

    /// Run `cmds` as one pipeline: one round trip per server they touch.
    /// On one server a command's error is its reply
    /// (`Value::ServerError`); in a Redis Cluster it fails the pipeline.
    pub fn run(&mut self, cmds: Vec<Cmd>) -> RedisResult<Vec<Value>> {
        if cmds.is_empty() {
            return Ok(Vec::new());
        }
        match self {
            Conn::Single(con) => {
                let mut p = redis::pipe();
                // A command's error is its own reply (the others stand).
                p.ignore_errors();
                for c in cmds {
                    p.add_command(c);
                }
                p.query(con)
            }
            Conn::Cluster(con) => {
                let mut p = redis::cluster::cluster_pipe();
                for c in cmds {
                    p.add_command(c);
                }
                p.query(con)
            }
        }
    }
}

/// Refuse a Redis older than 7.0: `SET ... NX GET`, the claim, needs it
/// (older servers answer every claim with an error, which would look like
/// an outage). Checked on one server (or the master a Sentinel names);
/// not on a Redis Cluster's nodes.
pub fn require_redis_7(c: &mut Conn) -> RedisResult<()> {
    // A Redis Cluster pipeline routes by key, and INFO has none; its
    // nodes answer `CLUSTER` commands only from Redis 3 on anyway, and a
    // node too old for SET NX GET fails its claims visibly (errors).
    if matches!(c, Conn::Cluster(_)) {
        return Ok(());
    }
    let mut info = redis::cmd("INFO");
    info.arg("server");
    let v = c.run(vec![info])?;
    let text = match v.first() {
        Some(Value::BulkString(b)) => String::from_utf8_lossy(b).into_owned(),
        Some(Value::VerbatimString { text, .. }) => text.clone(),
        _ => String::new(),
    };
    let major = text
        .lines()
        .find_map(|l| l.strip_prefix("redis_version:"))
        .and_then(|v| v.trim().split('.').next()?.parse::<u32>().ok());
    match major {
        Some(m) if m >= 7 => Ok(()),
        Some(m) => Err(redis::RedisError::from((
            redis::ErrorKind::InvalidClientConfig,
            "the cluster needs Redis 7.0 or newer (SET NX GET)",
            format!("this server is version {m}"),
        ))),
        // A server that does not say (a proxy): tried as it is.
        None => Ok(()),
    }
}
