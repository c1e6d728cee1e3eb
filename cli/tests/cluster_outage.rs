//! A gateway of a cluster when its Redis goes away mid-storm and comes
//! back: policy `local` keeps resuming (counted), policy `fail-closed`
//! answers TICKET_NACK (`cluster_unavailable`), a Redis that stops
//! answering (SIGSTOP) is treated the same within the timeout, nothing
//! panics, the worker keeps answering, and resumptions go through the
//! cluster again once Redis is back. Real redis-server and gateway
//! processes on loopback.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::redis::RedisServer;
use common::{GatewayProcess, TempDir, generate_keys, metric_sum, metric_with, rebound_in, signal};

fn gateway(dir: &TempDir, redis: &RedisServer, name: &str, policy: &str) -> GatewayProcess {
    let cfg = format!(
        "[gateway]\nworkers = 1\nidle_sleep_us = 100\ndrain_timeout_ms = 500\n\n\
         [tickets]\nkey_file = \"t.keys\"\n\n\
         [cluster]\nredis = \"{}\"\nname = \"{name}\"\npolicy = \"{policy}\"\ntimeout_ms = 100\n",
        redis.url()
    );
    let file = format!("{name}.toml");
    dir.write_private(&file, &cfg);
    GatewayProcess::start(&dir.0, &["--config", &file])
}

/// `rebound storm` against `gw` with tickets minted from the key file:
/// (success, the clients resumed, stdout).
fn storm(dir: &TempDir, gw: &GatewayProcess, extra: &[&str]) -> (bool, u64, String) {
    let target = gw.ike.to_string();
    let mut args = vec![
        "storm",
        "--target",
        &target,
        "--key-file",
        "t.keys",
        "--no-progress",
    ];
    args.extend_from_slice(extra);
    let out = rebound_in(&dir.0, &args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let resumed = stdout
        .lines()
        .find(|l| l.starts_with("phase 3"))
        .and_then(|l| l.split(": ").nth(1))
        .and_then(|l| l.split('/').next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    (out.status.success(), resumed, stdout)
}

#[test]
fn policy_local_keeps_resuming_through_an_outage() {
    let d = TempDir::new("cluster-outage-local");
    generate_keys(&d.0, "t.keys");
    let mut redis = RedisServer::start(&d.0.join("redis"));
    let gw = gateway(&d, &redis, "a", "local");
    gw.metrics_when("connected", |m| metric_sum(m, "rebound_cluster_up") == 1);

    // Redis is killed a second into a four-second storm and back 1.5 s
    // later; every client resumes.
    let storm_thread = {
        let dir = d.0.clone();
        let target = gw.ike.to_string();
        std::thread::spawn(move || {
            rebound_in(
                &dir,
                &[
                    "storm",
                    "--target",
                    &target,
                    "--key-file",
                    "t.keys",
                    "--clients",
                    "8000",
                    "--arrival",
                    "ramp:4",
                    "--no-progress",
                ],
            )
        })
    };
    std::thread::sleep(Duration::from_secs(1));
    redis.kill();
    std::thread::sleep(Duration::from_millis(1500));
    redis.restart();
    let out = storm_thread.join().expect("storm thread");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("8000/8000 clients resumed"), "{text}");

    // Back: the tickets resumed on the gateway's own word are claimed in
    // Redis too (written back), so no other gateway could take them now.
    let m = gw.metrics_when("reconnected, local decisions written back", |m| {
        metric_sum(m, "rebound_cluster_up") == 1
            && metric_sum(m, "rebound_cluster_reconciled_total") > 0
    });
    let mine = metric_sum(&m, "rebound_cluster_claims_mine_total");
    let local = metric_sum(&m, "rebound_cluster_local_decisions_total");
    let reconciled = metric_sum(&m, "rebound_cluster_reconciled_total");
    assert!(reconciled <= local, "{reconciled} of {local}");
    assert_eq!(
        metric_sum(&m, "rebound_cluster_reconcile_conflicts_total"),
        0
    );
    assert_eq!(metric_sum(&m, "rebound_cluster_reconcile_dropped_total"), 0);
    let claims: u64 = redis.cli(&["dbsize"]).parse().unwrap();
    assert!(
        claims >= reconciled,
        "{claims} keys, {reconciled} written back"
    );
    assert!(local > 0, "the outage was decided locally:\n{m}");
    assert!(
        mine > 0 && mine + local >= 8000,
        "mine {mine} local {local}"
    );
    assert!(metric_sum(&m, "rebound_cluster_errors_total") > 0);
    assert_eq!(
        metric_with(
            &m,
            "rebound_ticket_nacks_total",
            "reason=\"cluster_unavailable\""
        ),
        0
    );

    // Back: claims go through Redis again.
    let (ok, resumed, text) = storm(&d, &gw, &["--clients", "1000"]);
    assert!(ok && resumed == 1000, "{text}");
    let after = gw.scrape();
    assert!(metric_sum(&after, "rebound_cluster_claims_mine_total") >= mine + 1000);
    assert_eq!(
        metric_sum(&after, "rebound_cluster_local_decisions_total"),
        local
    );
    assert!(redis.cli(&["dbsize"]).parse::<u64>().unwrap() >= 1000);
    gw.stop();
}

#[test]
fn policy_fail_closed_refuses_while_redis_is_away_or_silent() {
    let d = TempDir::new("cluster-outage-closed");
    generate_keys(&d.0, "t.keys");
    let mut redis = RedisServer::start(&d.0.join("redis"));
    let gw = gateway(&d, &redis, "a", "fail-closed");
    gw.metrics_when("connected", |m| metric_sum(m, "rebound_cluster_up") == 1);
    let (ok, resumed, text) = storm(&d, &gw, &["--clients", "300"]);
    assert!(ok && resumed == 300, "{text}");

    // Silent (SIGSTOP): every claim waits at most the deadline, then
    // TICKET_NACK; the worker keeps answering.
    let pid = redis_pid(&redis);
    signal(pid, "STOP");
    let (ok, resumed, text) = storm(
        &d,
        &gw,
        &["--clients", "200", "--max-sends", "1", "--timeout", "5"],
    );
    signal(pid, "CONT");
    assert!(!ok && resumed == 0, "nothing resumes: {text}");
    let unavailable = |m: &str| {
        metric_with(
            m,
            "rebound_ticket_nacks_total",
            "reason=\"cluster_unavailable\"",
        )
    };
    let m = gw.metrics_when("refusals published", |m| unavailable(m) >= 200);
    assert_eq!(
        metric_with(
            &m,
            "rebound_ticket_nacks_total",
            "reason=\"cluster_unavailable\""
        ),
        200,
        "{m}"
    );
    assert!(metric_sum(&m, "rebound_cluster_batch_timeouts_total") > 0);
    assert_eq!(metric_sum(&m, "rebound_cluster_local_decisions_total"), 0);

    // Gone (killed): refused at once.
    redis.kill();
    let (ok, resumed, _) = storm(
        &d,
        &gw,
        &["--clients", "200", "--max-sends", "1", "--timeout", "5"],
    );
    assert!(!ok && resumed == 0);
    let m = gw.metrics_when("down, refusals published", |m| {
        metric_sum(m, "rebound_cluster_up") == 0 && unavailable(m) >= 400
    });
    assert_eq!(
        metric_with(
            &m,
            "rebound_ticket_nacks_total",
            "reason=\"cluster_unavailable\""
        ),
        400
    );
    assert_eq!(metric_sum(&m, "rebound_established_total"), 300);

    // Back: it reconnects by itself and resumes again.
    redis.restart();
    gw.metrics_when("reconnected", |m| metric_sum(m, "rebound_cluster_up") == 1);
    let (ok, resumed, text) = storm(&d, &gw, &["--clients", "300"]);
    assert!(ok && resumed == 300, "{text}");
    gw.stop();
}

/// The redis-server's pid, from INFO.
fn redis_pid(r: &RedisServer) -> u32 {
    r.cli(&["info", "server"])
        .lines()
        .find_map(|l| l.strip_prefix("process_id:"))
        .and_then(|p| p.trim().parse().ok())
        .expect("process_id")
}

/// A CA and a certificate for 127.0.0.1 signed by it (openssl), in `dir`.
fn certificates(dir: &Path) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl");
        assert!(out.status.success(), "openssl {args:?}: {out:?}");
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=rebound test CA",
    ]);
    run(&[
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        "redis.key",
        "-out",
        "redis.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    std::fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "redis.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "redis.pem",
        "-days",
        "2",
        "-extfile",
        "san.ext",
    ]);
}

#[test]
fn tls_and_a_password_from_a_file() {
    let d = TempDir::new("cluster-tls");
    generate_keys(&d.0, "t.keys");
    certificates(&d.0);
    let redis = RedisServer::start_tls(
        &d.0.join("redis"),
        &d.0.join("redis.pem"),
        &d.0.join("redis.key"),
        &["--requirepass", "a redis password"],
    );
    let url = format!("rediss://127.0.0.1:{}", redis.port);
    let start = |name: &str, password: &str| {
        d.write_private(&format!("{name}.password"), password);
        let cfg = format!(
            "[gateway]\nworkers = 1\nidle_sleep_us = 100\ndrain_timeout_ms = 500\n\n\
             [tickets]\nkey_file = \"t.keys\"\n\n\
             [cluster]\nredis = \"{url}\"\nname = \"{name}\"\ntimeout_ms = 200\n\
             password_file = \"{name}.password\"\ntls_ca_file = \"ca.pem\"\n"
        );
        d.write_private(&format!("{name}.toml"), &cfg);
        GatewayProcess::start(&d.0, &["--config", &format!("{name}.toml")])
    };
    let gw = start("a", "a redis password\n");
    gw.metrics_when("connected over TLS", |m| {
        metric_sum(m, "rebound_cluster_up") == 1
    });
    let (ok, resumed, text) = storm(&d, &gw, &["--clients", "300"]);
    assert!(ok && resumed == 300, "{text}");
    assert_eq!(
        metric_sum(&gw.scrape(), "rebound_cluster_claims_mine_total"),
        300
    );
    gw.stop();

    // The wrong password: never connected, every resumption refused
    // (fail-closed), the refusals counted.
    let wrong = start("b", "not the password");
    std::thread::sleep(Duration::from_millis(500));
    let (ok, resumed, _) = storm(
        &d,
        &wrong,
        &["--clients", "50", "--max-sends", "1", "--timeout", "5"],
    );
    assert!(!ok && resumed == 0);
    let m = wrong.metrics_when("refused", |m| {
        metric_with(
            m,
            "rebound_ticket_nacks_total",
            "reason=\"cluster_unavailable\"",
        ) == 50
    });
    assert_eq!(metric_sum(&m, "rebound_cluster_up"), 0);
    assert!(metric_sum(&m, "rebound_cluster_errors_total") > 0);
    wrong.stop();

    // A password file others may read is refused at start, by name.
    d.write_private("c.password", "a redis password");
    std::fs::set_permissions(
        d.0.join("c.password"),
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .unwrap();
    let cfg = format!(
        "[tickets]\nkey_file = \"t.keys\"\n[cluster]\nredis = \"{url}\"\nname = \"c\"\npassword_file = \"c.password\"\n"
    );
    d.write_private("c.toml", &cfg);
    let out = rebound_in(
        &d.0,
        &[
            "gateway",
            "--config",
            "c.toml",
            "--listen",
            "127.0.0.1:0",
            "--listen-natt",
            "127.0.0.1:0",
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("cluster.password_file") && err.contains("chmod 600"),
        "{err}"
    );
}
