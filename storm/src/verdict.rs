//! The storm's verdict: [`verdict`] says whether a storm went as it
//! should, from its [`StormReport`] and what it was asked to do.

use super::hostile::{HostileKind, HostileReport};
use super::report::{ControlReport, FullReport, ResumeReport, StormReport, map_line};
use super::{StormConfig, TicketSource};

/// Whether the storm went as it should. `Err` says everything that went
/// wrong, `; `-separated:
///
/// - a client failed to resume for a reason other than a timeout;
/// - a client timed out although no fault was injected;
/// - `--race`: a ticket completed IKE_AUTH on more than one gateway
///   (each client must resume exactly once; a second gateway that
///   answers Nr and then refuses at IKE_AUTH is counted, not a failure);
/// - `--expect-refused` (instead of the two above): a ticket resumed, or
///   a presentation ended other than with TICKET_NACK (a timeout only
///   without injected faults);
/// - `--tickets-only`: a client got no ticket to save;
/// - a replayed ticket was accepted (RFC 5723 §4.3.1, single use);
/// - `--hostile`: a forged or replayed ticket got a half-open SA, or an
///   IKE_AUTH with a wrong AUTH was accepted;
/// - `--full`: a client got no ticket in phase 1;
/// - embedded gateway: the control plane did not receive exactly the SAs
///   the clients resumed (phase 3 plus accepted replays: `received` counts
///   the workers' SAs, not the slow path's), received one twice, or
///   abandoned one at shutdown. With injected faults a client may time out
///   after the gateway established its SA (the last answer lost every
///   time), so up to `timeouts` SAs more are allowed then;
/// - embedded gateway with `--full`: the slow path did not complete
///   exactly the full exchanges the clients completed (the same slack for
///   phase 1's timeouts with faults), or a resumed SA replaced one the
///   gateway did not know (each ticket came from its own full exchange).
pub fn verdict(cfg: &StormConfig, report: &StormReport) -> Result<(), String> {
    let mut problems = Vec::new();
    let faults = cfg.fault.is_active();
    if let Some(f) = &report.full {
        full_verdict(f, report.clients, faults, &mut problems);
    } else if cfg.tickets == TicketSource::Full {
        problems.push("phase 1 ran no full exchanges".into());
    }
    let timeouts = report.timeouts;
    if report.tickets_only {
        let saved = report.saved_tickets.as_ref().map_or(0, |s| s.tickets);
        if report.full.is_none() && saved < report.clients {
            problems.push(format!(
                "{} of {} clients got no ticket to save",
                report.clients - saved,
                report.clients
            ));
        }
    } else if cfg.expect_refused {
        refused_verdict(&report.resume, faults, &mut problems);
    } else {
        resumed_verdict(report, faults, &mut problems);
    }
    let accepted = report.replay.as_ref().map_or(0, |r| r.accepted);
    if accepted > 0 {
        problems.push(format!(
            "{accepted} replayed tickets were accepted (single use violated)"
        ));
    }
    if let Some(h) = &report.hostile {
        hostile_verdict(h, &mut problems);
    }
    if let Some(ControlReport { counts: c, .. }) = &report.control {
        // The tickets resumed before phase 3 to be replayed in it made SAs
        // too, and so would a wrong AUTH accepted (a problem of its own).
        let extra = report.hostile.as_ref().map_or(0, |h| {
            h.replay_tickets + h.revoked_tickets + h.kind(HostileKind::WrongAuth).established
        });
        let want = report.established + accepted + extra;
        let slack = if faults { timeouts } else { 0 };
        if c.received < want || c.received > want + slack {
            let allowed = if slack > 0 {
                format!(" (up to {} with the timeouts)", want + slack)
            } else {
                String::new()
            };
            problems.push(format!(
                "the control plane received {} SAs, the clients established {want}{allowed}",
                c.received
            ));
        }
        if c.duplicates > 0 {
            problems.push(format!(
                "the control plane received {} SAs twice",
                c.duplicates
            ));
        }
        // The hostile setup's tickets (`replayed`, `revoked`) are minted,
        // so their first resumptions replace SAs the gateway never had.
        let minted = report
            .hostile
            .as_ref()
            .map_or(0, |h| h.replay_tickets + h.revoked_tickets);
        if report.full.is_some() && c.replaced_unknown > accepted + minted {
            problems.push(format!(
                "{} resumed SAs replaced an SA the gateway did not know, although every ticket \
                 came from its own full exchange",
                c.replaced_unknown - accepted - minted
            ));
        }
        if c.abandoned > 0 {
            problems.push(format!(
                "the control plane abandoned {} SAs at shutdown (a hand-off sink refused them)",
                c.abandoned
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

/// Phase 3's clients: every one resumed (timeouts allowed with faults),
/// none on two gateways.
fn resumed_verdict(report: &StormReport, faults: bool, problems: &mut Vec<String>) {
    let timeouts = report.timeouts;
    let others: Vec<String> = report
        .failures
        .iter()
        .filter(|(k, v)| k.as_str() != "timeout" && **v > 0)
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    let failed: u64 = report
        .failures
        .iter()
        .filter(|(k, _)| k.as_str() != "timeout")
        .map(|(_, v)| v)
        .sum();
    if failed > 0 {
        problems.push(format!(
            "{failed} clients failed to resume ({})",
            others.join(", ")
        ));
    }
    if timeouts > 0 && !faults {
        problems.push(format!(
            "{timeouts} clients timed out without injected faults"
        ));
    }
    let r = &report.resume;
    if r.double_resumed > 0 {
        problems.push(format!(
            "{} tickets resumed (IKE_AUTH completed) on a second gateway: single use across \
             the gateways broken ({} double accepted at IKE_SESSION_RESUME)",
            r.double_resumed, r.double_accepted
        ));
    }
}

/// `--expect-refused`: every presentation refused with TICKET_NACK,
/// none resumed.
fn refused_verdict(r: &ResumeReport, faults: bool, problems: &mut Vec<String>) {
    let resumed: u64 = r.targets.iter().map(|t| t.resumed).sum();
    if resumed > 0 {
        problems.push(format!(
            "{resumed} tickets expected to be refused were resumed (IKE_AUTH completed)"
        ));
    }
    let mut others = std::collections::BTreeMap::new();
    for t in &r.targets {
        if t.no_answer > 0 && !faults {
            *others.entry("timeout".to_string()).or_default() += t.no_answer;
        }
        for (k, v) in &t.other {
            *others.entry(k.clone()).or_default() += v;
        }
    }
    let n: u64 = others.values().sum();
    if n > 0 {
        problems.push(format!(
            "{n} tickets expected to be refused got no TICKET_NACK ({})",
            map_line(&others)
        ));
    }
}

/// The hostile traffic's part of the verdict.
fn hostile_verdict(h: &HostileReport, problems: &mut Vec<String>) {
    for (k, what) in [
        (HostileKind::Forged, "forged tickets"),
        (HostileKind::Replayed, "replayed tickets"),
        (HostileKind::Revoked, "revoked tickets"),
    ] {
        let n = h.kind(k).accepted;
        if n > 0 {
            problems.push(format!(
                "{n} IKE_SESSION_RESUME requests with {what} got a half-open SA (must be refused)"
            ));
        }
    }
    let n = h.kind(HostileKind::WrongAuth).established;
    if n > 0 {
        problems.push(format!("{n} IKE_AUTH with a wrong AUTH were accepted"));
    }
}

/// Phase 1's part of the verdict (`--full`).
fn full_verdict(f: &FullReport, clients: u64, faults: bool, problems: &mut Vec<String>) {
    if f.tickets < clients {
        problems.push(format!(
            "{} of {clients} clients got no ticket in phase 1 ({})",
            clients - f.tickets,
            map_line(&f.failures)
        ));
    }
    if let Some(g) = f.gateway_established() {
        let slack = if faults { f.timeouts } else { 0 };
        if g < f.established || g > f.established + slack {
            let allowed = if slack > 0 {
                format!(" (up to {} with the timeouts)", f.established + slack)
            } else {
                String::new()
            };
            problems.push(format!(
                "the slow path completed {g} full exchanges, the clients {}{allowed}",
                f.established
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FaultConfig;
    use crate::report::tests::clean;
    use rebound_dataplane::stats::ControlSnapshot;

    fn control(r: &mut StormReport) -> &mut ControlSnapshot {
        &mut r.control.as_mut().expect("embedded").counts
    }

    /// The verdict's error, which must exist and be about `what` only.
    fn fails_with(cfg: &StormConfig, r: &StormReport, what: &str) {
        let e = verdict(cfg, r).expect_err("the verdict fails");
        assert!(e.contains(what), "{e:?} does not say {what:?}");
        assert!(!e.contains("; "), "{e:?} says more than one thing");
    }

    #[test]
    fn a_clean_storm_passes() {
        let cfg = StormConfig::default();
        assert_eq!(verdict(&cfg, &clean()), Ok(()));
        // A separate gateway: no control plane to check.
        let mut r = clean();
        r.embedded = false;
        r.control = None;
        assert_eq!(verdict(&cfg, &r), Ok(()));
    }

    #[test]
    fn a_failure_other_than_a_timeout_fails() {
        let mut r = clean();
        r.established = 97;
        control(&mut r).received = 97;
        r.failures.insert("ticket_refused".into(), 2);
        r.failures.insert("protocol_error".into(), 1);
        fails_with(
            &StormConfig::default(),
            &r,
            "3 clients failed to resume (protocol_error 1, ticket_refused 2)",
        );
    }

    #[test]
    fn timeouts_fail_only_without_faults() {
        let mut r = clean();
        r.established = 98;
        control(&mut r).received = 98;
        r.failures.insert("timeout".into(), 2);
        r.timeouts = 2;
        let mut cfg = StormConfig::default();
        fails_with(&cfg, &r, "2 clients timed out without injected faults");
        cfg.fault = FaultConfig {
            drop: 0.01,
            dup: 0.0,
        };
        assert_eq!(verdict(&cfg, &r), Ok(()));
    }

    #[test]
    fn an_accepted_replay_fails() {
        let mut r = clean();
        if let Some(p) = r.replay.as_mut() {
            p.accepted = 1;
            p.refused = 99;
        }
        // The replayed SA reached the control plane too.
        control(&mut r).received = 101;
        fails_with(
            &StormConfig::default(),
            &r,
            "1 replayed tickets were accepted",
        );
    }

    #[test]
    fn the_control_plane_must_receive_every_sa_exactly_once() {
        let cfg = StormConfig::default();
        // Fewer than the clients established (the settle wait gave up).
        let mut r = clean();
        control(&mut r).received = 99;
        fails_with(
            &cfg,
            &r,
            "the control plane received 99 SAs, the clients established 100",
        );
        // More: an SA no client knows of.
        let mut r = clean();
        control(&mut r).received = 101;
        fails_with(
            &cfg,
            &r,
            "the control plane received 101 SAs, the clients established 100",
        );
        // Accepted replays count as established SAs.
        let mut r = clean();
        if let Some(p) = r.replay.as_mut() {
            p.accepted = 1;
        }
        control(&mut r).received = 100;
        let e = verdict(&cfg, &r).unwrap_err();
        assert!(
            e.contains("received 100 SAs, the clients established 101"),
            "{e}"
        );
    }

    #[test]
    fn with_faults_a_timed_out_client_may_have_an_sa() {
        let cfg = StormConfig {
            fault: FaultConfig {
                drop: 0.05,
                dup: 0.0,
            },
            ..StormConfig::default()
        };
        let mut r = clean();
        r.established = 98;
        r.failures.insert("timeout".into(), 2);
        r.timeouts = 2;
        for received in 98..=100 {
            control(&mut r).received = received;
            assert_eq!(verdict(&cfg, &r), Ok(()), "received {received}");
        }
        control(&mut r).received = 101;
        fails_with(
            &cfg,
            &r,
            "the control plane received 101 SAs, the clients established 98 (up to 100",
        );
        control(&mut r).received = 97;
        fails_with(&cfg, &r, "received 97 SAs");
    }

    #[test]
    fn duplicates_fail() {
        let mut r = clean();
        control(&mut r).duplicates = 1;
        fails_with(
            &StormConfig::default(),
            &r,
            "the control plane received 1 SAs twice",
        );
    }

    #[test]
    fn abandoned_sas_fail() {
        let mut r = clean();
        control(&mut r).abandoned = 3;
        fails_with(
            &StormConfig::default(),
            &r,
            "the control plane abandoned 3 SAs at shutdown",
        );
        assert!(r.summary().contains("3 abandoned at shutdown"));
    }

    #[test]
    fn every_problem_is_reported() {
        let mut r = clean();
        r.failures.insert("ticket_refused".into(), 1);
        r.established = 99;
        control(&mut r).duplicates = 2;
        control(&mut r).abandoned = 1;
        let e = verdict(&StormConfig::default(), &r).unwrap_err();
        assert_eq!(e.split("; ").count(), 4, "{e}");
    }

    #[test]
    fn hostile_tickets_or_auth_accepted_fail() {
        use crate::hostile::{HostileCounts, HostileMix, HostileReport};
        let cfg = StormConfig::default();
        let mix: HostileMix = "forged,replayed,revoked,stolen,wrong_auth".parse().unwrap();
        let mut counts = HostileCounts::default();
        for k in &mut counts.kinds {
            k.sent = 10;
            k.nacks = 10;
        }
        let report = |counts: &HostileCounts| {
            let mut h = HostileReport::new(&mix, counts);
            h.replay_tickets = 5;
            h.revoked_tickets = 2;
            h
        };
        // Stolen and wrong-AUTH exchanges get half-open SAs: expected. The
        // replay tickets' own SAs and the SAs resumed for the revoked
        // tickets reached the control plane too.
        counts.kinds[HostileKind::Stolen as usize].accepted = 2;
        counts.kinds[HostileKind::WrongAuth as usize].accepted = 3;
        let mut r = clean();
        r.hostile = Some(report(&counts));
        control(&mut r).received = 107;
        assert_eq!(verdict(&cfg, &r), Ok(()));
        control(&mut r).received = 100;
        fails_with(
            &cfg,
            &r,
            "the control plane received 100 SAs, the clients established 107",
        );
        control(&mut r).received = 107;
        for (k, what) in [
            (
                HostileKind::Forged,
                "1 IKE_SESSION_RESUME requests with forged tickets got a half-open SA",
            ),
            (
                HostileKind::Replayed,
                "1 IKE_SESSION_RESUME requests with replayed tickets got a half-open SA",
            ),
            (
                HostileKind::Revoked,
                "1 IKE_SESSION_RESUME requests with revoked tickets got a half-open SA",
            ),
        ] {
            let mut c = counts;
            c.kinds[k as usize].accepted = 1;
            r.hostile = Some(report(&c));
            fails_with(&cfg, &r, what);
        }
        // A wrong AUTH accepted: its SA reached the control plane too.
        let mut c = counts;
        c.kinds[HostileKind::WrongAuth as usize].established = 1;
        r.hostile = Some(report(&c));
        control(&mut r).received = 108;
        fails_with(&cfg, &r, "1 IKE_AUTH with a wrong AUTH were accepted");
        assert!(r.summary().contains("HOSTILE ACCEPTED"), "{}", r.summary());
    }

    /// [`clean`] without the control plane (a separate gateway) and with
    /// phase 3 raced to two gateways: A resumed every client, B refused
    /// every ticket, 10 of them after answering Nr.
    fn raced() -> (StormConfig, StormReport) {
        use crate::report::TargetReport;
        let cfg = StormConfig {
            race: true,
            ..StormConfig::default()
        };
        let mut r = clean();
        r.embedded = false;
        r.control = None;
        r.replay = None;
        r.resume.mode = "race";
        r.resume.double_accepted = 10;
        r.resume.targets.push(TargetReport {
            presented: 100,
            accepted: 10,
            refused: 100,
            ..TargetReport::new("127.0.0.1:501".into())
        });
        (cfg, r)
    }

    #[test]
    fn a_race_passes_with_double_acceptances_but_not_double_resumptions() {
        let (cfg, mut r) = raced();
        assert_eq!(verdict(&cfg, &r), Ok(()));
        let s = r.summary();
        assert!(
            s.contains("race over 2 gateways: 100 of 100 clients resumed"),
            "{s}"
        );
        assert!(
            s.contains("  double accepted      10 (a second gateway"),
            "{s}"
        );
        // B completed IKE_AUTH for 4 tickets A resumed too.
        r.resume.double_resumed = 4;
        r.resume.targets[1].resumed = 4;
        r.resume.targets[1].refused = 96;
        r.established = 104;
        fails_with(
            &cfg,
            &r,
            "4 tickets resumed (IKE_AUTH completed) on a second gateway: single use across the \
             gateways broken (10 double accepted at IKE_SESSION_RESUME)",
        );
        assert!(r.summary().contains("DOUBLE RESUMED"), "{}", r.summary());
    }

    /// A storm that expected every ticket refused, and got that.
    fn refused() -> (StormConfig, StormReport) {
        let cfg = StormConfig {
            expect_refused: true,
            ..StormConfig::default()
        };
        let mut r = clean();
        r.replay = None;
        r.established = 0;
        r.failures.insert("ticket_refused".into(), 100);
        r.resume.expect_refused = true;
        r.resume.clients_resumed = 0;
        let t = &mut r.resume.targets[0];
        (t.accepted, t.resumed, t.refused) = (0, 0, 100);
        control(&mut r).received = 0;
        (cfg, r)
    }

    #[test]
    fn expect_refused_passes_only_when_every_ticket_is_refused() {
        let (mut cfg, mut r) = refused();
        assert_eq!(verdict(&cfg, &r), Ok(()));
        assert!(r.summary().contains("every ticket expected refused"));
        // The same report without --expect-refused: 100 failures.
        cfg.expect_refused = false;
        fails_with(
            &cfg,
            &r,
            "100 clients failed to resume (ticket_refused 100)",
        );
        cfg.expect_refused = true;
        // One resumed (and reached the control plane), two got no answer.
        let t = &mut r.resume.targets[0];
        (t.resumed, t.refused, t.no_answer) = (1, 97, 2);
        r.established = 1;
        control(&mut r).received = 1;
        let e = verdict(&cfg, &r).unwrap_err();
        assert!(
            e.contains("1 tickets expected to be refused were resumed (IKE_AUTH completed)"),
            "{e}"
        );
        assert!(
            e.contains("2 tickets expected to be refused got no TICKET_NACK (timeout 2)"),
            "{e}"
        );
        // With injected faults a timeout is no failure.
        cfg.fault = FaultConfig {
            drop: 0.01,
            dup: 0.0,
        };
        let t = &mut r.resume.targets[0];
        (t.resumed, t.refused) = (0, 98);
        r.established = 0;
        control(&mut r).received = 0;
        assert_eq!(verdict(&cfg, &r), Ok(()));
        r.resume.targets[0].other.insert("error_notify".into(), 1);
        fails_with(&cfg, &r, "got no TICKET_NACK (error_notify 1)");
    }

    #[test]
    fn tickets_only_needs_a_ticket_for_every_client() {
        use crate::report::TicketFileReport;
        let cfg = StormConfig::default();
        let mut r = clean();
        r.tickets_only = true;
        r.established = 0;
        r.replay = None;
        r.control = None;
        r.saved_tickets = Some(TicketFileReport {
            path: "t.tickets".into(),
            tickets: 100,
        });
        assert_eq!(verdict(&cfg, &r), Ok(()));
        assert!(
            r.summary().contains("phases 2 to 4 skipped"),
            "{}",
            r.summary()
        );
        if let Some(s) = r.saved_tickets.as_mut() {
            s.tickets = 98;
        }
        fails_with(&cfg, &r, "2 of 100 clients got no ticket to save");
    }

    /// [`clean`] with phase 1 by full exchanges: every client got a ticket,
    /// the slow path counted each exchange once, and every resumed SA
    /// replaced its client's full-exchange SA.
    fn clean_full() -> (StormConfig, StormReport) {
        let cfg = StormConfig {
            tickets: TicketSource::Full,
            ..StormConfig::default()
        };
        let mut r = clean();
        r.ticket_source = "full";
        r.full = Some(FullReport {
            ike: "aes256gcm16-prfsha256-curve25519".into(),
            group: 31,
            in_flight: 256,
            established: 100,
            tickets: 100,
            active_secs: 1.0,
            full_exchanges_per_sec: 100.0,
            resume_speedup: Some(1.0),
            latency: Default::default(),
            failures: Default::default(),
            timeouts: 0,
            unfinished: 0,
            child_errors: 0,
            wire: r.wire,
            faults: Default::default(),
            slow_path: Some([("established".to_string(), 100)].into_iter().collect()),
        });
        let c = control(&mut r);
        c.replaced_unknown = 0;
        c.silent_deletes = 100;
        (cfg, r)
    }

    fn full(r: &mut StormReport) -> &mut FullReport {
        r.full.as_mut().expect("--full")
    }

    #[test]
    fn a_clean_full_storm_passes() {
        let (cfg, r) = clean_full();
        assert_eq!(verdict(&cfg, &r), Ok(()));
        // Asked for full exchanges, reported none.
        let mut r = r;
        r.full = None;
        fails_with(&cfg, &r, "phase 1 ran no full exchanges");
    }

    #[test]
    fn every_client_needs_a_ticket_from_phase_1() {
        let (cfg, mut r) = clean_full();
        let f = full(&mut r);
        f.tickets = 97;
        f.established = 98;
        f.failures.insert("timeout".into(), 2);
        f.failures.insert("ticket_nacked".into(), 1);
        if let Some(m) = f.slow_path.as_mut() {
            m.insert("established".into(), 98);
        }
        r.established = 97;
        control(&mut r).received = 97;
        control(&mut r).silent_deletes = 97;
        fails_with(
            &cfg,
            &r,
            "3 of 100 clients got no ticket in phase 1 (ticket_nacked 1, timeout 2)",
        );
    }

    #[test]
    fn the_slow_path_counts_each_full_exchange_once() {
        let (mut cfg, mut r) = clean_full();
        if let Some(m) = full(&mut r).slow_path.as_mut() {
            m.insert("established".into(), 101);
        }
        fails_with(
            &cfg,
            &r,
            "the slow path completed 101 full exchanges, the clients 100",
        );
        // With faults, a client that timed out in phase 1 may have an SA.
        cfg.fault = FaultConfig {
            drop: 0.01,
            dup: 0.0,
        };
        let f = full(&mut r);
        f.timeouts = 1;
        f.established = 99;
        f.tickets = 99;
        f.failures.insert("timeout".into(), 1);
        let e = verdict(&cfg, &r).unwrap_err();
        assert!(
            e.contains("slow path completed 101 full exchanges, the clients 99 (up to 100"),
            "{e}"
        );
        assert!(e.contains("1 of 100 clients got no ticket"), "{e}");
    }

    #[test]
    fn a_resumed_sa_must_replace_a_full_exchange_sa() {
        let (cfg, mut r) = clean_full();
        control(&mut r).replaced_unknown = 2;
        control(&mut r).silent_deletes = 98;
        fails_with(
            &cfg,
            &r,
            "2 resumed SAs replaced an SA the gateway did not know",
        );
    }
}
