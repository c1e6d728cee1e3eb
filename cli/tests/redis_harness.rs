//! The Redis harness the cluster tests stand on: a server answers, keeps a
//! key across a restart only with persistence on, refuses without the
//! password when it has one, and a three-master cluster covers every slot.

mod common;

use common::TempDir;
use common::redis::{RedisCluster, RedisServer};

#[test]
fn server_restart_and_password() {
    let d = TempDir::new("redis-harness");
    let mut r = RedisServer::start_with(&d.0.join("a"), &["--appendonly", "yes"]);
    assert_eq!(r.cli(&["ping"]), "PONG");
    assert_eq!(r.cli(&["set", "k", "v"]), "OK");
    r.restart();
    assert_eq!(r.cli(&["get", "k"]), "v", "appendonly keeps it");
    let p = RedisServer::start_with(&d.0.join("b"), &["--requirepass", "s3cret"]);
    assert!(p.cli(&["ping"]).contains("NOAUTH"));
    assert_eq!(
        p.cli(&["-a", "s3cret", "--no-auth-warning", "ping"]),
        "PONG"
    );
}

#[test]
fn three_master_cluster() {
    let d = TempDir::new("redis-cluster");
    let c = RedisCluster::start(&d.0, 3);
    assert_eq!(c.seeds().len(), 3);
    let masters = c.nodes[0].cli(&["cluster", "nodes"]);
    assert_eq!(masters.lines().filter(|l| l.contains("master")).count(), 3);
}
