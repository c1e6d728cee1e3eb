//! Real `redis-server` processes for the cluster tests: each on loopback,
//! on a free port, in its own temporary directory, stopped (SIGKILL) when
//! dropped. `scripts/test.sh` installs redis-server and redis-tools.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::Running;

/// A free TCP port on 127.0.0.1 (and its +10000 cluster bus port is
/// checked free too, for cluster nodes).
pub fn free_port() -> u16 {
    loop {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let p = l.local_addr().unwrap().port();
        if p < 55_000 && TcpListener::bind(("127.0.0.1", p + 10_000)).is_ok() {
            return p;
        }
    }
}

/// `redis-cli -p PORT ARGS...`: its standard output (trimmed).
pub fn cli(port: u16, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .output()
        .expect("redis-cli (scripts/test.sh installs redis-tools)");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// One redis-server.
pub struct RedisServer {
    pub port: u16,
    pub dir: PathBuf,
    process: Option<Running>,
    extra: Vec<String>,
    tls: bool,
}

impl RedisServer {
    /// A server with persistence off, in `dir`.
    pub fn start(dir: &Path) -> RedisServer {
        Self::start_with(dir, &[])
    }

    /// A server with extra `--option value` arguments
    /// (`--requirepass`, `--appendonly yes`, `--cluster-enabled yes`).
    pub fn start_with(dir: &Path, extra: &[&str]) -> RedisServer {
        std::fs::create_dir_all(dir).expect("redis dir");
        let mut r = RedisServer {
            port: free_port(),
            dir: dir.to_path_buf(),
            process: None,
            extra: extra.iter().map(|s| s.to_string()).collect(),
            tls: false,
        };
        r.run();
        r
    }

    /// A server that speaks TLS only, on its port, with this certificate
    /// and key (PEM files).
    pub fn start_tls(dir: &Path, cert: &Path, key: &Path, extra: &[&str]) -> RedisServer {
        let mut args = vec![
            "--tls-cert-file".to_string(),
            cert.to_str().unwrap().to_string(),
            "--tls-key-file".into(),
            key.to_str().unwrap().to_string(),
            "--tls-auth-clients".into(),
            "no".into(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        std::fs::create_dir_all(dir).expect("redis dir");
        let mut r = RedisServer {
            port: free_port(),
            dir: dir.to_path_buf(),
            process: None,
            extra: args,
            tls: false,
        };
        r.tls = true;
        r.run();
        r
    }

    fn run(&mut self) {
        let port = self.port.to_string();
        let (plain, tls) = match self.tls {
            true => ("0", port.as_str()),
            false => (port.as_str(), "0"),
        };
        let mut args: Vec<String> = [
            "--port",
            plain,
            "--tls-port",
            tls,
            "--bind",
            "127.0.0.1",
            "--dir",
            self.dir.to_str().unwrap(),
            "--save",
            "",
            "--daemonize",
            "no",
            "--logfile",
            "redis.log",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(self.extra.iter().cloned());
        let child = Command::new("redis-server")
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (scripts/test.sh installs redis-server)");
        self.process = Some(Running(child));
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "redis-server on {} did not start: {}",
                self.port,
                std::fs::read_to_string(self.dir.join("redis.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// SIGKILL: no shutdown save.
    pub fn kill(&mut self) {
        if let Some(mut p) = self.process.take() {
            let _ = p.0.kill();
            let _ = p.0.wait();
        }
    }

    /// Start again on the same port and directory (what it persisted, if
    /// anything, is loaded).
    pub fn restart(&mut self) {
        self.kill();
        self.run();
    }

    pub fn cli(&self, args: &[&str]) -> String {
        cli(self.port, args)
    }
}

/// A Redis Cluster of `n` masters (no replicas) on loopback, made with
/// `redis-cli --cluster create`.
pub struct RedisCluster {
    pub nodes: Vec<RedisServer>,
}

impl RedisCluster {
    pub fn start(dir: &Path, n: usize) -> RedisCluster {
        let nodes: Vec<RedisServer> = (0..n)
            .map(|i| {
                RedisServer::start_with(
                    &dir.join(format!("node{i}")),
                    &[
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        "nodes.conf",
                        "--cluster-node-timeout",
                        "2000",
                        "--appendonly",
                        "no",
                    ],
                )
            })
            .collect();
        let addrs: Vec<String> = nodes
            .iter()
            .map(|r| format!("127.0.0.1:{}", r.port))
            .collect();
        let mut args = vec!["--cluster", "create"];
        args.extend(addrs.iter().map(String::as_str));
        args.extend(["--cluster-replicas", "0", "--cluster-yes"]);
        let out = Command::new("redis-cli")
            .args(&args)
            .output()
            .expect("redis-cli --cluster create");
        assert!(
            out.status.success(),
            "cluster create: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        // Every node sees every slot assigned.
        let deadline = Instant::now() + Duration::from_secs(20);
        for r in &nodes {
            loop {
                let info = r.cli(&["cluster", "info"]);
                if info.contains("cluster_state:ok")
                    && info.contains("cluster_slots_assigned:16384")
                {
                    break;
                }
                assert!(Instant::now() < deadline, "cluster not ready: {info}");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        RedisCluster { nodes }
    }

    /// The seed list, as `cluster.nodes` takes it.
    pub fn seeds(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }
}

/// A Redis Sentinel (`redis-server CONF --sentinel`) watching `master`
/// under the name `name`.
pub struct RedisSentinel {
    pub port: u16,
    _process: Running,
}

impl RedisSentinel {
    pub fn start(dir: &Path, master: &RedisServer, name: &str) -> RedisSentinel {
        std::fs::create_dir_all(dir).expect("sentinel dir");
        let port = free_port();
        let conf = dir.join("sentinel.conf");
        std::fs::write(
            &conf,
            format!(
                "port {port}\nbind 127.0.0.1\ndir {}\n\
                 sentinel monitor {name} 127.0.0.1 {} 1\n\
                 sentinel down-after-milliseconds {name} 1000\n",
                dir.display(),
                master.port
            ),
        )
        .expect("sentinel.conf");
        let child = Command::new("redis-server")
            .arg(&conf)
            .arg("--sentinel")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server --sentinel");
        let s = RedisSentinel {
            port,
            _process: Running(child),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let m = cli(port, &["sentinel", "get-master-addr-by-name", name]);
            if m.contains(&master.port.to_string()) {
                return s;
            }
            assert!(Instant::now() < deadline, "sentinel not ready: {m}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
