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

impl Conn {
    /// Connect within `timeout`; every later read and write is bounded by
    /// it too.
    pub fn connect(s: &ClusterSettings, creds: &Credentials) -> RedisResult<Conn> {
        let timeout = Duration::from_millis(s.timeout_ms);
        match &s.target {
            RedisTarget::Server(url) => {
                let info = url.as_str().into_connection_info()?;
                let redis = settings_with(info.redis_settings().clone(), creds);
                let info = info.set_redis_settings(redis);
                let client = match &creds.ca {
                    Some(ca) => redis::Client::build_with_tls(
                        info,
                        redis::TlsCertificates {
                            client_tls: None,
                            root_cert: Some(ca.clone()),
                        },
                    )?,
                    None => redis::Client::open(info)?,
                };
                let con = client.get_connection_with_timeout(timeout)?;
                con.set_read_timeout(Some(timeout))?;
                con.set_write_timeout(Some(timeout))?;
                Ok(Conn::Single(con))
            }
            RedisTarget::Sentinel {
                sentinels,
                master,
                tls,
            } => {
                use redis::sentinel::{
                    SentinelClient, SentinelNodeConnectionInfo, SentinelServerType,
                };
                let redis = settings_with(redis::RedisConnectionInfo::default(), creds);
                let mut node =
                    SentinelNodeConnectionInfo::default().set_redis_connection_info(redis);
                if *tls {
                    node = node.set_tls_mode(redis::TlsMode::Secure);
                }
                let mut client = SentinelClient::build(
                    sentinels.clone(),
                    master.as_str(),
                    Some(node),
                    SentinelServerType::Master,
                )?;
                let con = client.get_connection()?;
                con.set_read_timeout(Some(timeout))?;
                con.set_write_timeout(Some(timeout))?;
                Ok(Conn::Single(con))
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
