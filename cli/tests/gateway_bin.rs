//! `rebound gateway` as an operator runs it: the real binary, from a config
//! file, on loopback. `rebound storm --target` resumes clients through it;
//! a hand-off daemon (this test) receives every SA on a Unix socket; the
//! metrics endpoint counts them; SIGHUP reloads a rotated key file; SIGTERM
//! drains and exits cleanly. Bad settings stop it before it binds anything.

mod common;
use common::{GatewayProcess, TempDir, handoff_daemon, metric_sum, scrape, signal};
use std::collections::HashSet;
use std::io::BufRead;
use std::path::Path;
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_rebound");

fn rebound(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run rebound")
}

fn storm(dir: &Path, target: &str, clients: &str, json: &str) -> serde_json::Value {
    let out = rebound(
        dir,
        &[
            "storm",
            "--target",
            target,
            "--key-file",
            "ticket.keys",
            "--clients",
            clients,
            "--no-progress",
            "--json",
            json,
        ],
    );
    assert!(
        out.status.success(),
        "storm failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(dir.join(json)).expect("storm json");
    serde_json::from_str(&text).expect("storm json parses")
}

fn collect(rx: &mpsc::Receiver<String>, n: usize, seen: &mut Vec<serde_json::Value>) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while seen.len() < n {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(l) => seen.push(serde_json::from_str(&l).expect("hand-off line is JSON")),
            Err(_) => panic!("only {} of {n} hand-off lines arrived", seen.len()),
        }
    }
}

#[test]
fn gateway_from_config_answers_reloads_and_drains() {
    let dir = TempDir::new("gwbin");
    let d = &dir.0;
    let out = rebound(d, &["keys", "generate", "--file", "ticket.keys"]);
    assert!(out.status.success(), "{out:?}");

    // Everything from the file but the addresses: the flags override
    // those with port 0 (a file refuses port 0), and the gateway says which
    // ports it got.
    std::fs::write(
        d.join("gateway.toml"),
        r#"
[gateway]
workers = 2
idle_sleep_us = 100
drain_timeout_ms = 2000

[tickets]
key_file = "ticket.keys"

[handoff]
unix = ["handoff.sock"]
keylog = "keys.jsonl"
"#,
    )
    .unwrap();
    let lines = handoff_daemon(&d.join("handoff.sock"));

    let mut gw = GatewayProcess::start(d, &["--config", "gateway.toml"]);
    let addrs = [gw.ike, gw.natt];
    assert!(addrs.iter().all(|a| a.ip().is_loopback() && a.port() != 0));
    assert_ne!(addrs[0].port(), addrs[1].port());
    let prom = gw.metrics;

    // 300 clients resume through the real gateway.
    let target = addrs[0].to_string();
    let r1 = storm(d, &target, "300", "one.json");
    assert_eq!(r1["established"], 300, "{r1}");
    let mut seen = Vec::new();
    collect(&lines, 300, &mut seen);

    // Workers publish their counters every 50 ms: poll until they have.
    let deadline = Instant::now() + Duration::from_secs(10);
    let m = loop {
        let m = scrape(prom);
        if metric_sum(&m, "rebound_established_total") == 300 || Instant::now() > deadline {
            break m;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(metric_sum(&m, "rebound_established_total"), 300, "{m}");
    assert_eq!(metric_sum(&m, "rebound_ticket_nacks_total"), 0);

    // SIGHUP after a rotation: the gateway publishes the new ring and new
    // tickets (sealed by the new key) resume.
    // A key file holds one key per second of issue time: rotating in the
    // same second as `generate` is refused by design.
    std::thread::sleep(Duration::from_millis(1100));
    let out = rebound(d, &["keys", "rotate", "--file", "ticket.keys"]);
    assert!(out.status.success(), "{out:?}");
    signal(gw.process.0.id(), "HUP");
    let mut line = String::new();
    gw.stdout.read_line(&mut line).expect("reload line");
    assert_eq!(line.trim(), "reloaded generation 1");
    let r2 = storm(d, &target, "200", "two.json");
    assert_eq!(r2["established"], 200, "{r2}");
    collect(&lines, 500, &mut seen);

    // Every SA reached the daemon once, with its keys.
    let spis: HashSet<(String, String)> = seen
        .iter()
        .map(|v| {
            assert!(v["ike"]["sk_d"].as_str().is_some_and(|k| k.len() == 64));
            assert!(v["child"]["spi_r"].is_string());
            (
                v["ike"]["spi_i"].as_str().unwrap().to_owned(),
                v["ike"]["spi_r"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(spis.len(), 500);
    let workers: HashSet<u64> = seen.iter().map(|v| v["worker"].as_u64().unwrap()).collect();
    assert!(workers.iter().all(|w| *w < 2), "{workers:?}");

    // SIGTERM: drain and exit 0 with the final counts.
    let (rest, err) = gw.stop();
    assert!(
        rest.contains("stopped: 500 SAs established, 500 received and 500 handed off"),
        "{rest}"
    );
    let keylog = std::fs::read_to_string(d.join("keys.jsonl")).unwrap();
    assert_eq!(keylog.lines().count(), 500);
    assert!(err.contains("draining"), "{err}");
}

#[test]
fn bad_settings_stop_the_gateway_with_the_key_named() {
    let dir = TempDir::new("gwbad");
    let d = &dir.0;
    let cases = [
        ("[gateway]\nworkers = 0\n", "gateway.workers"),
        ("[gateway]\nlisten = [\"nonsense\"]\n", "listen"),
        ("[tickets]\nkey_file = \"missing.keys\"\n", "missing.keys"),
        ("[gateway]\nwrkers = 2\n", "wrkers"),
    ];
    for (text, want) in cases {
        std::fs::write(d.join("bad.toml"), text).unwrap();
        let out = rebound(
            d,
            &["gateway", "--config", "bad.toml", "--listen", "127.0.0.1:0"],
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{text}: {err}");
        assert!(err.contains(want), "{text}: {err}");
        assert!(out.stdout.is_empty(), "nothing listened: {text}");
    }
}
