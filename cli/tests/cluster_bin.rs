//! A gateway cluster on Redis, through the real `rebound gateway`,
//! `rebound storm` and `redis-server` processes on loopback:
//!
//! - failover: tickets (by value and by reference) from full exchanges on
//!   gateway A; A is killed (SIGKILL); every client resumes on B;
//! - single use across the cluster: a ticket used on B is refused on A;
//!   two gateways racing on the same tickets accept each exactly once;
//! - load balancing: one storm spread over two gateways, every client
//!   resumed exactly once, the per-gateway counts adding up;
//! - stub download: B pre-loads A's stubs, Redis and A go away, B still
//!   resumes A's clients (policy `local`);
//! - restart: tickets used before a SIGKILL are refused by the restarted
//!   gateway, unused ones resume;
//! - the same failover and single use against a three-master Redis
//!   Cluster.

mod common;

use std::path::Path;
use std::time::Duration;

use common::redis::{RedisCluster, RedisSentinel, RedisServer};
use common::{GatewayProcess, TempDir, generate_keys, metric_sum, metric_with, storm_report};

/// `rebound storm`'s default PSK, which the gateways' `[[psk]]` hold.
const STORM_PSK: &str = "rebound storm pre-shared key";

/// Where the cluster's Redis is, as the config file says it.
enum Backend<'a> {
    Server(&'a RedisServer),
    Cluster(&'a RedisCluster),
    Sentinel(&'a RedisSentinel, &'a str),
}

impl Backend<'_> {
    fn toml(&self) -> String {
        match self {
            Backend::Server(r) => format!("redis = \"{}\"\n", r.url()),
            Backend::Cluster(c) => {
                let seeds: Vec<String> = c.seeds().iter().map(|s| format!("\"{s}\"")).collect();
                format!("nodes = [{}]\n", seeds.join(", "))
            }
            Backend::Sentinel(s, name) => {
                format!("redis = \"redis+sentinel://127.0.0.1:{}/{name}\"\n", s.port)
            }
        }
    }
}

/// A gateway of the cluster named `name`: one worker, the shared key file,
/// tickets of `kind`, PSKs for `clients` storm clients, `[cluster]` with
/// `extra` lines.
fn gateway(
    dir: &TempDir,
    name: &str,
    backend: &Backend<'_>,
    kind: &str,
    clients: usize,
    extra: &str,
) -> GatewayProcess {
    let mut cfg = format!(
        "[gateway]\nworkers = 1\nidle_sleep_us = 100\ndrain_timeout_ms = 500\n\n\
         [tickets]\nkey_file = \"ticket.keys\"\nkind = \"{kind}\"\n\n\
         [cluster]\n{}name = \"{name}\"\ntimeout_ms = 500\n{extra}\n",
        backend.toml()
    );
    for i in 0..clients {
        cfg.push_str(&format!(
            "\n[[psk]]\nid = \"fqdn:client-{i}.storm.rebound\"\nsecret = \"{STORM_PSK}\"\n"
        ));
    }
    let file = format!("{name}.toml");
    dir.write_private(&file, &cfg);
    let gw = GatewayProcess::start(&dir.0, &["--config", &file]);
    gw.metrics_when("connected to Redis", |m| {
        metric_sum(m, "rebound_cluster_up") == 1
    });
    gw
}

/// Storm `args` and require it to pass.
fn storm_ok(dir: &Path, name: &str, args: &[&str]) -> serde_json::Value {
    let (code, r, out) = storm_report(dir, name, args);
    assert_eq!(code, 0, "storm {name}:\n{out}");
    r
}

/// SIGKILL, no drain.
fn kill(gw: GatewayProcess) {
    let mut p = gw.process;
    p.0.kill().expect("kill");
    p.0.wait().expect("reap");
}

/// Tickets for `n` clients from full exchanges on `gw`, saved to `file`;
/// waits until the gateway has written every by-reference stub.
fn full_tickets(dir: &Path, gw: &GatewayProcess, n: usize, file: &str, by_reference: bool) {
    let r = storm_ok(
        dir,
        &format!("full-{file}"),
        &[
            "--full",
            "--target",
            &gw.ike.to_string(),
            "--clients",
            &n.to_string(),
            "--save-tickets",
            file,
            "--tickets-only",
        ],
    );
    assert_eq!(r["saved_tickets"]["tickets"], n);
    if by_reference {
        gw.metrics_when("stubs written", |m| {
            metric_sum(m, "rebound_cluster_stubs_put_total") >= n as u64
                && metric_sum(m, "rebound_cluster_writes_failed_total") == 0
        });
        // Written behind: the pipeline that carries the last one has run
        // once the thread is idle again.
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Minted tickets for `n` clients, saved to `file`.
fn minted_tickets(dir: &Path, gw: &GatewayProcess, n: usize, file: &str) {
    storm_ok(
        dir,
        &format!("mint-{file}"),
        &[
            "--target",
            &gw.ike.to_string(),
            "--key-file",
            "ticket.keys",
            "--clients",
            &n.to_string(),
            "--save-tickets",
            file,
            "--tickets-only",
        ],
    );
}

fn failover(backend: &Backend<'_>, dir: &TempDir, kind: &str, clients: usize) {
    let d = &dir.0;
    let by_reference = kind == "by-reference";
    let a = gateway(dir, "a", backend, kind, clients, "");
    let b = gateway(dir, "b", backend, kind, clients, "");
    full_tickets(d, &a, clients, "a.tickets", by_reference);
    kill(a);
    let r = storm_ok(
        d,
        "on-b",
        &[
            "--load-tickets",
            "a.tickets",
            "--target",
            &b.ike.to_string(),
        ],
    );
    assert_eq!(r["established"], clients);
    let m = b.metrics_when("B resumed every client", |m| {
        metric_sum(m, "rebound_established_total") == clients as u64
    });
    assert_eq!(
        metric_sum(&m, "rebound_cluster_claims_mine_total"),
        clients as u64
    );
    assert_eq!(metric_sum(&m, "rebound_cluster_claims_taken_total"), 0);
    if by_reference {
        // Every state came from the stub bank: B held none of them.
        assert_eq!(
            metric_sum(&m, "rebound_cluster_stubs_taken_total"),
            clients as u64
        );
    }
    // Used: refused on B again.
    let r = storm_ok(
        d,
        "again-on-b",
        &[
            "--load-tickets",
            "a.tickets",
            "--target",
            &b.ike.to_string(),
            "--expect-refused",
        ],
    );
    assert_eq!(r["established"], 0);
    b.stop();
}

#[test]
fn failover_by_value() {
    let dir = TempDir::new("cluster-failover-value");
    generate_keys(&dir.0, "ticket.keys");
    let redis = RedisServer::start(&dir.0.join("redis"));
    failover(&Backend::Server(&redis), &dir, "by-value", 1000);
}

#[test]
fn failover_by_reference() {
    let dir = TempDir::new("cluster-failover-ref");
    generate_keys(&dir.0, "ticket.keys");
    let redis = RedisServer::start(&dir.0.join("redis"));
    failover(&Backend::Server(&redis), &dir, "by-reference", 1000);
    // A's stubs were taken with their claims: none is left behind (what
    // the bank holds now are the stubs of the new tickets B issued).
    let listed = redis.cli(&["zrange", "rebound:{gw:a}:stubs", "0", "-1"]);
    assert_eq!(listed.lines().count(), 1000);
    for id in listed.lines() {
        let stub = format!("rebound:{{t:{id}}}:stub");
        assert_eq!(redis.cli(&["exists", &stub]), "0", "{stub} left");
    }
    let b_stubs = redis.cli(&["zcard", "rebound:{gw:b}:stubs"]);
    assert_eq!(b_stubs, "1000", "B's new tickets");
}

fn single_use(backend: &Backend<'_>, dir: &TempDir, clients: usize) {
    let d = &dir.0;
    let a = gateway(dir, "a", backend, "by-value", 0, "");
    let b = gateway(dir, "b", backend, "by-value", 0, "");
    let (ai, bi) = (a.ike.to_string(), b.ike.to_string());

    // Used on B, refused on A.
    minted_tickets(d, &a, clients, "one.tickets");
    storm_ok(
        d,
        "use-on-b",
        &["--load-tickets", "one.tickets", "--target", &bi],
    );
    let r = storm_ok(
        d,
        "replay-on-a",
        &[
            "--load-tickets",
            "one.tickets",
            "--target",
            &ai,
            "--expect-refused",
        ],
    );
    assert_eq!(r["established"], 0);
    let m = a.metrics_when("A refused every ticket", |m| {
        metric_sum(m, "rebound_cluster_claims_taken_total") >= clients as u64
            && metric_with(m, "rebound_ticket_nacks_total", "reason=\"reused\"") >= clients as u64
    });
    assert_eq!(metric_sum(&m, "rebound_established_total"), 0);
    assert_eq!(metric_sum(&m, "rebound_cluster_claims_mine_total"), 0);
    assert!(metric_with(&m, "rebound_ticket_nacks_total", "reason=\"reused\"") >= clients as u64);

    // A race: every client sends its IKE_SESSION_RESUME to both at once.
    let est = |m: &str| metric_sum(m, "rebound_established_total");
    let mine = |m: &str| metric_sum(m, "rebound_cluster_claims_mine_total");
    b.metrics_when("B's first storm published", |m| est(m) == clients as u64);
    let (ma, mb) = (a.scrape(), b.scrape());
    let base = (est(&ma) + est(&mb), mine(&ma) + mine(&mb));
    minted_tickets(d, &a, clients, "two.tickets");
    let r = storm_ok(
        d,
        "race",
        &[
            "--load-tickets",
            "two.tickets",
            "--target",
            &ai,
            "--resume-targets",
            &format!("{ai},{bi}"),
            "--race",
        ],
    );
    assert_eq!(r["resume"]["clients_resumed"], clients);
    assert_eq!(r["resume"]["double_accepted"], 0, "one Nr per ticket");
    assert_eq!(r["resume"]["double_resumed"], 0);
    let on = |i: usize| r["resume"]["targets"][i]["resumed"].as_u64().unwrap();
    assert_eq!(on(0) + on(1), clients as u64);
    a.metrics_when("A's race published", |m| est(m) >= on(0));
    b.metrics_when("B's race published", |m| est(m) >= clients as u64 + on(1));
    // A published snapshot is at most 50 ms old: one more period.
    std::thread::sleep(Duration::from_millis(200));
    let (ma, mb) = (a.scrape(), b.scrape());
    assert_eq!(
        est(&ma) + est(&mb) - base.0,
        clients as u64,
        "each accepted once"
    );
    assert_eq!(
        mine(&ma) + mine(&mb) - base.1,
        clients as u64,
        "each claimed once"
    );
    a.stop();
    b.stop();
}

#[test]
fn single_use_across_the_cluster() {
    let dir = TempDir::new("cluster-single-use");
    generate_keys(&dir.0, "ticket.keys");
    let redis = RedisServer::start(&dir.0.join("redis"));
    single_use(&Backend::Server(&redis), &dir, 1000);
}

#[test]
fn load_balanced_storm_resumes_each_client_once() {
    let dir = TempDir::new("cluster-spread");
    let d = &dir.0;
    generate_keys(d, "ticket.keys");
    let redis = RedisServer::start(&d.join("redis"));
    let backend = Backend::Server(&redis);
    let a = gateway(&dir, "a", &backend, "by-value", 0, "");
    let b = gateway(&dir, "b", &backend, "by-value", 0, "");
    let (ai, bi) = (a.ike.to_string(), b.ike.to_string());
    minted_tickets(d, &a, 2000, "t.tickets");
    let r = storm_ok(
        d,
        "spread",
        &[
            "--load-tickets",
            "t.tickets",
            "--target",
            &ai,
            "--resume-targets",
            &format!("{ai},{bi}"),
            "--spread",
            "--replay",
        ],
    );
    assert_eq!(r["resume"]["clients_resumed"], 2000);
    let on = |i: usize| r["resume"]["targets"][i]["resumed"].as_u64().unwrap();
    assert_eq!(on(0), 1000);
    assert_eq!(on(1), 1000);
    let est = |gw: &GatewayProcess, n: u64| {
        let m = gw.metrics_when("established", |m| {
            metric_sum(m, "rebound_established_total") >= n
        });
        (
            metric_sum(&m, "rebound_established_total"),
            metric_sum(&m, "rebound_cluster_claims_mine_total"),
        )
    };
    assert_eq!(est(&a, on(0)), (on(0), on(0)));
    assert_eq!(est(&b, on(1)), (on(1), on(1)));
    a.stop();
    b.stop();
}

#[test]
fn standby_resumes_from_downloaded_stubs_without_redis() {
    let dir = TempDir::new("cluster-download");
    let d = &dir.0;
    generate_keys(d, "ticket.keys");
    let mut redis = RedisServer::start(&d.join("redis"));
    let backend = Backend::Server(&redis);
    let clients = 200;
    let a = gateway(&dir, "a", &backend, "by-reference", clients, "");
    full_tickets(d, &a, clients, "a.tickets", true);
    // The standby starts now and downloads A's stubs at once.
    let b = gateway(
        &dir,
        "b",
        &backend,
        "by-reference",
        0,
        "policy = \"local\"\nstandby_for = [\"a\"]\ndownload_interval_secs = 1\n",
    );
    b.metrics_when("A's stubs downloaded", |m| {
        metric_sum(m, "rebound_ticket_store_entries") >= clients as u64
    });
    kill(a);
    redis.kill();
    let r = storm_ok(
        d,
        "standby",
        &[
            "--load-tickets",
            "a.tickets",
            "--target",
            &b.ike.to_string(),
        ],
    );
    assert_eq!(r["established"], clients);
    let m = b.scrape();
    assert!(metric_sum(&m, "rebound_cluster_local_decisions_total") >= clients as u64);
    assert_eq!(metric_sum(&m, "rebound_cluster_stubs_taken_total"), 0);
    b.stop();
}

#[test]
fn used_tickets_stay_used_across_a_sigkill() {
    let dir = TempDir::new("cluster-restart");
    let d = &dir.0;
    generate_keys(d, "ticket.keys");
    let redis = RedisServer::start(&d.join("redis"));
    let backend = Backend::Server(&redis);
    let a = gateway(&dir, "a", &backend, "by-value", 0, "");
    minted_tickets(d, &a, 200, "used.tickets");
    minted_tickets(d, &a, 200, "unused.tickets");
    storm_ok(
        d,
        "use",
        &[
            "--load-tickets",
            "used.tickets",
            "--target",
            &a.ike.to_string(),
        ],
    );
    kill(a);
    // The same gateway, restarted: a fresh guard in memory, the claims in
    // Redis.
    let a = gateway(&dir, "a", &backend, "by-value", 0, "");
    let ai = a.ike.to_string();
    let r = storm_ok(
        d,
        "replay",
        &[
            "--load-tickets",
            "used.tickets",
            "--target",
            &ai,
            "--expect-refused",
        ],
    );
    assert_eq!(r["established"], 0);
    let r = storm_ok(
        d,
        "fresh",
        &["--load-tickets", "unused.tickets", "--target", &ai],
    );
    assert_eq!(r["established"], 200);
    a.stop();
}

#[test]
fn redis_cluster_failover_and_single_use() {
    let dir = TempDir::new("cluster-redis-cluster");
    generate_keys(&dir.0, "ticket.keys");
    let rc = RedisCluster::start(&dir.0.join("rc"), 3);
    failover(&Backend::Cluster(&rc), &dir, "by-reference", 1000);
    // The claims spread over the three masters.
    for n in &rc.nodes {
        let keys: u64 = n.cli(&["dbsize"]).parse().unwrap();
        assert!(keys > 100, "node {} holds {keys} keys", n.port);
    }
    single_use(&Backend::Cluster(&rc), &dir, 500);
}

#[test]
fn claims_survive_a_redis_restart_with_persistence() {
    // appendfsync always: no acknowledged claim is lost when Redis dies.
    let dir = TempDir::new("cluster-aof");
    let d = &dir.0;
    generate_keys(d, "ticket.keys");
    let mut redis = RedisServer::start_with(
        &d.join("redis"),
        &["--appendonly", "yes", "--appendfsync", "always"],
    );
    let backend = Backend::Server(&redis);
    let a = gateway(&dir, "a", &backend, "by-value", 0, "");
    let b = gateway(&dir, "b", &backend, "by-value", 0, "");
    minted_tickets(d, &a, 300, "t.tickets");
    storm_ok(
        d,
        "use-on-a",
        &[
            "--load-tickets",
            "t.tickets",
            "--target",
            &a.ike.to_string(),
        ],
    );
    redis.restart();
    for gw in [&a, &b] {
        gw.metrics_when("reconnected", |m| {
            metric_sum(m, "rebound_cluster_up") == 1
                && metric_sum(m, "rebound_cluster_errors_total") > 0
        });
    }
    let r = storm_ok(
        d,
        "replay-on-b",
        &[
            "--load-tickets",
            "t.tickets",
            "--target",
            &b.ike.to_string(),
            "--expect-refused",
        ],
    );
    assert_eq!(r["established"], 0);
    // Refused because Redis still knew them, not because it was away.
    let m = b.metrics_when("B's refusals published", |m| {
        metric_with(m, "rebound_ticket_nacks_total", "reason=\"reused\"") >= 300
    });
    assert_eq!(metric_sum(&m, "rebound_cluster_claims_taken_total"), 300);
    assert_eq!(
        metric_with(
            &m,
            "rebound_ticket_nacks_total",
            "reason=\"cluster_unavailable\""
        ),
        0
    );
    a.stop();
    b.stop();
}

#[test]
fn through_redis_sentinel() {
    let dir = TempDir::new("cluster-sentinel");
    generate_keys(&dir.0, "ticket.keys");
    let master = RedisServer::start(&dir.0.join("master"));
    let sentinel = RedisSentinel::start(&dir.0.join("sentinel"), &master, "rebound");
    single_use(&Backend::Sentinel(&sentinel, "rebound"), &dir, 300);
    // The claims are in the master the sentinel named.
    assert!(master.cli(&["dbsize"]).parse::<u64>().unwrap() >= 600);
}
