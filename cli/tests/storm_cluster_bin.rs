//! `rebound storm`'s features for gateway clusters, through the real
//! binaries on loopback: tickets saved by one storm and loaded by another
//! (resumed once, then refused everywhere), phases 3 and 4 spread over two
//! gateways that share a ticket key file, and a race of every client to
//! two such gateways, which, sharing no single-use state, both resume
//! every ticket: the storm must see it and fail.

mod common;
use common::{GatewayProcess, TempDir, generate_keys, metric_sum, metric_with, storm_report};
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

/// `rebound storm`'s default PSK (`--psk`), which the gateway's `[[psk]]`
/// entries hold.
const STORM_PSK: &str = "rebound storm pre-shared key";

/// The gateway's metrics once `ready` holds (workers publish every 50 ms).
fn metrics_when(gw: &GatewayProcess, ready: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = gw.scrape();
        if ready(&text) || Instant::now() >= deadline {
            return text;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn established(gw: &GatewayProcess, at_least: u64) -> u64 {
    let m = metrics_when(gw, |m| {
        metric_sum(m, "rebound_established_total") >= at_least
    });
    metric_sum(&m, "rebound_established_total")
}

fn target(report: &serde_json::Value, i: usize) -> &serde_json::Value {
    &report["resume"]["targets"][i]
}

/// (a) Phase 1 by full exchanges, saved and stopped; a second storm
/// resumes every saved ticket; a third presents them again and expects,
/// and gets, TICKET_NACK for each.
#[test]
fn saved_tickets_resume_once_and_are_then_refused() {
    const CLIENTS: usize = 40;
    let dir = TempDir::new("storm-tickets");
    let d = &dir.0;
    let mut config =
        String::from("[gateway]\nworkers = 1\nidle_sleep_us = 100\ndrain_timeout_ms = 500\n");
    for i in 0..CLIENTS {
        config.push_str(&format!(
            "\n[[psk]]\nid = \"fqdn:client-{i}.storm.rebound\"\nsecret = \"{STORM_PSK}\"\n"
        ));
    }
    dir.write_private("gateway.toml", &config);
    let gw = GatewayProcess::start(d, &["--config", "gateway.toml"]);
    let ike = gw.ike.to_string();
    let n = CLIENTS.to_string();

    let (code, r, out) = storm_report(
        d,
        "save",
        &[
            "--full",
            "--target",
            &ike,
            "--clients",
            &n,
            "--save-tickets",
            "t.tickets",
            "--tickets-only",
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert_eq!(r["tickets_only"], true);
    assert_eq!(r["full"]["tickets"], CLIENTS);
    assert_eq!(r["saved_tickets"]["tickets"], CLIENTS);
    assert_eq!(r["established"], 0, "no phase 3");
    assert!(out.contains("phases 2 to 4 skipped"), "{out}");
    let meta = std::fs::metadata(d.join("t.tickets")).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let text = std::fs::read_to_string(d.join("t.tickets")).unwrap();
    assert!(
        text.starts_with(&format!("rebound-storm-tickets 1\ncount {CLIENTS}\n")),
        "{}",
        &text[..40]
    );
    assert!(!text.contains(STORM_PSK));
    // The full exchanges made SAs on the slow path; nothing resumed yet.
    assert_eq!(metric_sum(&gw.scrape(), "rebound_established_total"), 0);

    // No key file: the gateway issued these tickets itself.
    let (code, r, out) = storm_report(
        d,
        "load",
        &["--load-tickets", "t.tickets", "--target", &ike],
    );
    assert_eq!(code, 0, "{out}");
    assert_eq!(r["ticket_source"], "file");
    assert_eq!(r["clients"], CLIENTS);
    assert_eq!(r["loaded_tickets"]["tickets"], CLIENTS);
    assert_eq!(r["established"], CLIENTS);
    assert_eq!(target(&r, 0)["resumed"], CLIENTS);
    assert_eq!(target(&r, 0)["refused"], 0);
    assert_eq!(established(&gw, CLIENTS as u64), CLIENTS as u64);

    let (code, r, out) = storm_report(
        d,
        "refused",
        &[
            "--load-tickets",
            "t.tickets",
            "--target",
            &ike,
            "--expect-refused",
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert_eq!(r["resume"]["expect_refused"], true);
    assert_eq!(r["established"], 0);
    assert_eq!(target(&r, 0)["refused"], CLIENTS);
    assert_eq!(target(&r, 0)["accepted"], 0);
    assert!(
        out.contains(&format!(
            "{CLIENTS}/{CLIENTS} tickets refused with TICKET_NACK (expected), 0 resumed"
        )),
        "{out}"
    );
    // Every refusal was for reuse: one per ticket, and one more per
    // retransmission the gateway saw before the client had its answer.
    let m = metrics_when(&gw, |m| {
        metric_with(m, "rebound_ticket_nacks_total", "reason=\"reused\"") >= CLIENTS as u64
    });
    let reused = metric_with(&m, "rebound_ticket_nacks_total", "reason=\"reused\"");
    let retransmissions = r["retransmissions"].as_u64().unwrap();
    assert!(
        (CLIENTS as u64..=CLIENTS as u64 + retransmissions).contains(&reused),
        "{reused} reused, {retransmissions} retransmissions: {m}"
    );
    assert_eq!(metric_sum(&m, "rebound_ticket_nacks_total"), reused, "{m}");

    // Expected to resume, the used tickets fail the storm; the first ten
    // only with --clients.
    let (code, r, out) = storm_report(
        d,
        "again",
        &[
            "--load-tickets",
            "t.tickets",
            "--target",
            &ike,
            "--clients",
            "10",
        ],
    );
    assert_eq!(code, 1, "{out}");
    assert_eq!(r["clients"], 10);
    assert!(
        out.contains("10 clients failed to resume (ticket_refused 10)"),
        "{out}"
    );

    // The file's problems, before anything is sent.
    let (code, _, out) = storm_report(
        d,
        "many",
        &[
            "--load-tickets",
            "t.tickets",
            "--target",
            &ike,
            "--clients",
            "41",
        ],
    );
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains(&format!(
            "--clients 41: the tickets file t.tickets holds {CLIENTS} tickets"
        )),
        "{out}"
    );
    std::fs::set_permissions(d.join("t.tickets"), std::fs::Permissions::from_mode(0o640)).unwrap();
    let (code, _, out) = storm_report(
        d,
        "open",
        &["--load-tickets", "t.tickets", "--target", &ike],
    );
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("t.tickets: mode 0640 lets group or others read the tickets' keys")
            && out.contains("chmod 600 t.tickets"),
        "{out}"
    );
    std::fs::set_permissions(d.join("t.tickets"), std::fs::Permissions::from_mode(0o600)).unwrap();
    let cut = &text[..text.len() / 2];
    dir.write_private("cut.tickets", cut);
    let (code, _, out) = storm_report(
        d,
        "cut",
        &["--load-tickets", "cut.tickets", "--target", &ike],
    );
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("tickets file cut.tickets: truncated"), "{out}");
    let (code, _, out) = storm_report(
        d,
        "none",
        &["--load-tickets", "no.tickets", "--target", &ike],
    );
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("tickets file no.tickets: no such file"),
        "{out}"
    );
    gw.stop();
}

/// Two gateways sharing one ticket key file.
fn two_gateways(dir: &TempDir) -> (GatewayProcess, GatewayProcess) {
    generate_keys(&dir.0, "ticket.keys");
    let args = ["--key-file", "ticket.keys"];
    (
        GatewayProcess::start(&dir.0, &args),
        GatewayProcess::start(&dir.0, &args),
    )
}

/// (b) Tickets minted for gateway A, resumed spread over A and B: every
/// client once, half on each, and each replay refused by the gateway that
/// took the ticket.
#[test]
fn spread_over_two_gateways_resumes_every_client_once() {
    const CLIENTS: u64 = 200;
    let dir = TempDir::new("storm-spread");
    let d = &dir.0;
    let (a, b) = two_gateways(&dir);
    let (ta, tb) = (a.ike.to_string(), b.ike.to_string());
    let n = CLIENTS.to_string();
    let (code, _, out) = storm_report(
        d,
        "mint",
        &[
            "--target",
            &ta,
            "--key-file",
            "ticket.keys",
            "--clients",
            &n,
            "--save-tickets",
            "t.tickets",
            "--tickets-only",
        ],
    );
    assert_eq!(code, 0, "{out}");

    let both = format!("{ta},{tb}");
    let (code, r, out) = storm_report(
        d,
        "spread",
        &[
            "--load-tickets",
            "t.tickets",
            "--target",
            &ta,
            "--resume-targets",
            &both,
            "--spread",
            "--replay",
        ],
    );
    assert_eq!(code, 0, "{out}");
    let res = &r["resume"];
    assert_eq!(res["mode"], "spread");
    assert_eq!(res["clients_resumed"], CLIENTS);
    assert_eq!(res["double_accepted"], 0);
    assert_eq!(res["double_resumed"], 0);
    assert_eq!(r["established"], CLIENTS);
    let mut sum = 0;
    for (i, t) in [&ta, &tb].into_iter().enumerate() {
        let x = target(&r, i);
        assert_eq!(x["target"], t.as_str());
        assert_eq!(x["presented"], CLIENTS / 2, "{x}");
        assert_eq!(x["resumed"], CLIENTS / 2, "{x}");
        assert_eq!(x["refused"], 0, "{x}");
        assert_eq!(x["no_answer"], 0, "{x}");
        sum += x["resumed"].as_u64().unwrap();
    }
    assert_eq!(sum, CLIENTS);
    // Each gateway established its half, and refused the replays of the
    // tickets it took.
    assert_eq!(established(&a, CLIENTS / 2), CLIENTS / 2);
    assert_eq!(established(&b, CLIENTS / 2), CLIENTS / 2);
    let rp = &r["replay"];
    assert_eq!(rp["presented"], CLIENTS);
    assert_eq!(rp["accepted"], 0);
    assert_eq!(rp["refused"], CLIENTS);
    assert_eq!(rp["targets"][0]["refused"], CLIENTS / 2);
    assert_eq!(rp["targets"][1]["refused"], CLIENTS / 2);
    assert!(
        out.contains("resume targets         spread over 2 gateways: 200 of 200 clients resumed"),
        "{out}"
    );
    a.stop();
    b.stop();
}

/// (c) Every client races its ticket to both gateways. They share the key
/// file but no single-use state: both accept and both resume the same
/// tickets. The storm counts it and fails.
#[test]
fn a_race_to_two_gateways_without_shared_single_use_fails_the_storm() {
    const CLIENTS: u64 = 200;
    let dir = TempDir::new("storm-race");
    let d = &dir.0;
    let (a, b) = two_gateways(&dir);
    let (ta, tb) = (a.ike.to_string(), b.ike.to_string());
    let both = format!("{ta},{tb}");
    let n = CLIENTS.to_string();
    let (code, r, out) = storm_report(
        d,
        "race",
        &[
            "--target",
            &ta,
            "--key-file",
            "ticket.keys",
            "--clients",
            &n,
            "--resume-targets",
            &both,
            "--race",
        ],
    );
    assert_eq!(code, 1, "the verdict fails: {out}");
    let res = &r["resume"];
    assert_eq!(res["mode"], "race");
    assert_eq!(res["clients_resumed"], CLIENTS, "{res}");
    let double_accepted = res["double_accepted"].as_u64().unwrap();
    let double_resumed = res["double_resumed"].as_u64().unwrap();
    assert!(double_accepted > 0, "{res}");
    assert!(double_resumed > 0, "{res}");
    // A ticket resumed twice was accepted twice.
    assert!(double_resumed <= double_accepted, "{res}");
    assert!(
        out.contains(&format!(
            "rebound storm: {double_resumed} tickets resumed (IKE_AUTH completed) on a second \
             gateway: single use across the gateways broken ({double_accepted} double accepted \
             at IKE_SESSION_RESUME)"
        )),
        "{out}"
    );
    assert!(out.contains("DOUBLE RESUMED"), "{out}");
    // Every ticket went to both; what each gateway says matches.
    let mut resumed = 0;
    for (i, gw) in [&a, &b].into_iter().enumerate() {
        let x = target(&r, i);
        assert_eq!(x["presented"], CLIENTS, "{x}");
        let k = x["resumed"].as_u64().unwrap();
        assert_eq!(established(gw, k), k, "{x}");
        resumed += k;
    }
    assert_eq!(resumed, CLIENTS + double_resumed);
    assert_eq!(r["established"], resumed);
    a.stop();
    b.stop();
}
