//! `rebound storm`'s command line: [`StormArgs`] to a [`StormConfig`],
//! [`run_cli`] to run it and print the summary.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use clap::ValueEnum;
use rebound_dataplane::config::{CoreList, parse_identity};
use rebound_engine::crypto::{AuthForm, SecretBuf};
use rebound_engine::slow_path::IkeProposal;
use rebound_engine::ticket::state::TicketIdentity;

use super::fault::check_probability;
use super::hostile::{HostileMix, MAX_SOURCES, check_rate};
use super::{
    Arrival, DEFAULT_HOSTILE_TICKETS, DEFAULT_IKE, DEFAULT_IN_FLIGHT, DEFAULT_PSK, FaultConfig,
    FullSettings, HostileSettings, LoadTickets, MAX_HOSTILE_TICKETS, StormConfig, TicketSource,
    parse_ike, parse_psk, run, verdict,
};

/// Clients unless `--clients` (or `--load-tickets`) says otherwise.
pub const DEFAULT_CLIENTS: usize = 10_000;

/// The AUTH octets the clients sign (`--auth-form`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuthFormArg {
    /// RFC 7296 §2.15 octets (what RFC 5723 §4.3.3 asks for).
    Rfc,
    /// The IKE_SESSION_RESUME message alone (libreswan's form).
    MessageOnly,
}

impl From<AuthFormArg> for AuthForm {
    fn from(a: AuthFormArg) -> AuthForm {
        match a {
            AuthFormArg::Rfc => AuthForm::Rfc,
            AuthFormArg::MessageOnly => AuthForm::MessageOnly,
        }
    }
}

/// Load-test a gateway: N clients get tickets, drop their SAs, and all
/// resume at once.
#[derive(clap::Args, Debug, Clone)]
pub struct StormArgs {
    /// Simulated clients [default: 10000; with --load-tickets, every
    /// ticket in the file].
    #[arg(long, value_name = "N", value_parser = parse_clients)]
    pub clients: Option<usize>,
    /// Storm a separate gateway at HOST:PORT (default: an embedded gateway
    /// on loopback). Needs --key-file, or --full.
    #[arg(long, value_name = "HOST:PORT", value_parser = parse_target)]
    pub target: Option<SocketAddr>,
    /// Phase 1 mints the tickets with the gateway's key ring (the default:
    /// fast, no network).
    #[arg(long, conflicts_with_all = ["full", "load_tickets"])]
    pub mint: bool,
    /// Phase 1 gets the tickets by real full exchanges through the gateway
    /// (IKE_SA_INIT, IKE_AUTH with a PSK, TICKET_REQUEST), client N as
    /// fqdn:client-N.storm.rebound with the --psk secret; the summary puts
    /// full exchanges/s next to resumes/s. The embedded gateway gets a PSK
    /// for every client. With --target no key file is needed, but the
    /// gateway must have a [[psk]] entry for each client-N.storm.rebound
    /// (N from 0 to --clients minus 1) with that secret and tickets on.
    #[arg(long, conflicts_with = "load_tickets")]
    pub full: bool,
    /// --full: the pre-shared key of every client (16 to 64 bytes; the
    /// default is public: pass your own to a gateway that is not a test
    /// bed).
    #[arg(long, value_name = "TEXT", default_value = DEFAULT_PSK, value_parser = parse_psk,
          requires = "full")]
    pub psk: SecretBuf,
    /// --full: the clients' IKE proposals, strongSwan syntax, separated
    /// by commas; the first group of the first one is the KE guess (e.g.
    /// aes128-sha256-modp2048, aes256gcm16-prfsha256-ecp256).
    #[arg(long, value_name = "PROPOSAL", default_value = DEFAULT_IKE, value_parser = parse_ike_arg,
          requires = "full")]
    pub ike: IkeArg,
    /// --full: at most N full exchanges under way at once (over all storm
    /// threads).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_IN_FLIGHT,
          value_parser = parse_in_flight, requires = "full")]
    pub in_flight: usize,
    /// --full: the gateway's identity (TYPE:VALUE, e.g.
    /// fqdn:vpn.example.net), sent as IDr and required of the gateway
    /// [default: fqdn:gw.storm.rebound for the embedded gateway; with
    /// --target none is sent and any accepted].
    #[arg(long, value_name = "ID", value_parser = parse_gateway_id, requires = "full")]
    pub gateway_id: Option<TicketIdentity>,
    /// The gateway's ticket key file (`rebound keys generate`): needed with
    /// --target (unless --full); with the embedded gateway, used instead of
    /// a fresh in-memory key.
    #[arg(long, value_name = "FILE")]
    pub key_file: Option<PathBuf>,
    /// Embedded gateway workers.
    #[arg(long, value_name = "N", default_value = "1", value_parser = parse_workers,
          conflicts_with = "target")]
    pub workers: usize,
    /// Pin the embedded gateway's workers to these cores, one per worker
    /// (e.g. 2,3 or 2-3).
    #[arg(long, value_name = "LIST", conflicts_with = "target")]
    pub cores: Option<CoreList>,
    /// Storm threads.
    #[arg(long, value_name = "N", default_value = "1", value_parser = parse_threads)]
    pub threads: usize,
    /// UDP sockets per storm thread (spread over the gateway's workers by
    /// SO_REUSEPORT hashing).
    #[arg(long, value_name = "N", default_value = "16", value_parser = parse_sockets)]
    pub sockets: usize,
    /// When clients reconnect: burst (all at once), ramp:SECS (spread
    /// evenly), poisson:RATE (random, RATE per second).
    #[arg(long, value_name = "PATTERN", default_value = "burst", value_parser = parse_arrival)]
    pub arrival: Arrival,
    /// Drop each datagram, either way, with probability P.
    #[arg(long, value_name = "P", default_value = "0", value_parser = parse_drop)]
    pub drop: f64,
    /// Send each outgoing datagram twice with probability P.
    #[arg(long, value_name = "P", default_value = "0", value_parser = parse_dup)]
    pub dup: f64,
    /// After each legitimate datagram, send a hostile one with probability
    /// F (random bytes, truncated requests, forged tickets, IKE_AUTH with a
    /// random SPI).
    #[arg(long, value_name = "F", default_value = "0", value_parser = parse_garbage)]
    pub garbage: f64,
    /// Hostile traffic alongside the reconnect, precomputed: KIND[=WEIGHT]
    /// items separated by commas, or all, and optionally xRATE (hostile
    /// datagrams per legitimate one). Kinds: forged, replayed, revoked
    /// (tickets of SAs deleted before phase 3), random, truncated, stolen (one valid ticket, fresh SPIs, never IKE_AUTH),
    /// halfopen (many valid tickets, never IKE_AUTH), wrong_auth (IKE_AUTH
    /// with a wrong AUTH), init (IKE_SA_INIT at the slow path). E.g.
    /// forged=1,replayed=1,random=1,truncated=1,stolen=1,wrong_auth=1,init=1,x5
    #[arg(long, value_name = "MIX", value_parser = parse_hostile)]
    pub hostile: Option<HostileMix>,
    /// Hostile datagrams per legitimate datagram (instead of the mix's
    /// xRATE) [default: 1].
    #[arg(long, value_name = "X", value_parser = parse_hostile_rate, requires = "hostile")]
    pub hostile_rate: Option<f64>,
    /// Send N hostile datagrams as fast as the sockets take them, from a
    /// thread of their own, instead of pacing them; the clients start
    /// once a quarter went out.
    #[arg(long, value_name = "N", value_parser = parse_flood, requires = "hostile")]
    pub hostile_flood: Option<u64>,
    /// The flood's datagrams per second at most [default: as fast as the
    /// sockets take them].
    #[arg(long, value_name = "R", value_parser = parse_flood_rate, requires = "hostile_flood")]
    pub hostile_flood_rate: Option<f64>,
    /// Hostile source addresses: 127.0.1.1 onwards for an IPv4 loopback
    /// target (never the clients' own address).
    #[arg(long, value_name = "N", default_value = "1", value_parser = parse_sources,
          requires = "hostile")]
    pub hostile_sources: usize,
    /// Valid tickets behind the halfopen kind.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_HOSTILE_TICKETS,
          value_parser = parse_hostile_tickets, requires = "hostile")]
    pub hostile_tickets: usize,
    /// Phase 4: present the original tickets again; all must be refused.
    #[arg(long)]
    pub replay: bool,
    /// After phase 1, write every client's ticket and resumption state
    /// (its SK_d among them) to FILE, mode 0600, for a later
    /// --load-tickets.
    #[arg(long, value_name = "FILE", conflicts_with = "load_tickets")]
    pub save_tickets: Option<PathBuf>,
    /// Stop after phase 1 and --save-tickets: report phase 1 only.
    #[arg(long, requires = "save_tickets",
          conflicts_with_all = ["replay", "expect_refused", "resume_targets", "hostile"])]
    pub tickets_only: bool,
    /// Skip phase 1: the clients are the tickets in FILE (written by
    /// --save-tickets), in order; --clients N takes the first N. No
    /// --key-file is needed with --target.
    #[arg(long, value_name = "FILE")]
    pub load_tickets: Option<PathBuf>,
    /// Phase 3 expects every ticket refused with TICKET_NACK (they were
    /// used before: on another gateway, or before a restart); it passes
    /// only when every ticket was refused and none resumed.
    #[arg(long, conflicts_with = "replay")]
    pub expect_refused: bool,
    /// Phases 3 and 4 go to these gateways (HOST:PORT,HOST:PORT,...)
    /// instead of --target, which phase 1 still uses.
    #[arg(long, value_name = "ADDR,...", value_parser = parse_resume_targets,
          requires = "target")]
    pub resume_targets: Option<ResumeTargets>,
    /// With --resume-targets: client i resumes on gateway i mod n (the
    /// default).
    #[arg(long, requires = "resume_targets", conflicts_with = "race")]
    pub spread: bool,
    /// With --resume-targets: every client sends its IKE_SESSION_RESUME to
    /// every gateway at once; each gateway that answers with Nr gets the
    /// IKE_AUTH. Counts the gateways that accept (double accepted) or
    /// resume (double resumed, a failure) a ticket another took.
    #[arg(long, requires = "resume_targets")]
    pub race: bool,
    /// Write the report as JSON.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Record every datagram both ways (raw IP pcap).
    #[arg(long, value_name = "FILE")]
    pub pcap: Option<PathBuf>,
    /// Write every established SA's keys, one JSON line each.
    #[arg(long, value_name = "FILE")]
    pub keylog: Option<PathBuf>,
    /// Seed of arrival times, faults and garbage (default: random, printed).
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Seconds the reconnect (and replay, and with --full the first)
    /// phase may run after its last client started.
    #[arg(long, value_name = "SECS", default_value = "60", value_parser = parse_timeout)]
    pub timeout: Duration,
    /// Transmissions of each request before a client gives up (the first
    /// included; waits of 0.5 s doubling up to 8 s: 6 is about 23.5 s, 10
    /// about 55 s; strongSwan's defaults retry for about 165 s).
    #[arg(long, value_name = "N", default_value = "6", value_parser = parse_max_sends)]
    pub max_sends: u32,
    /// No progress bar on stderr.
    #[arg(long)]
    pub no_progress: bool,
    /// The AUTH octets the clients sign.
    #[arg(long, value_enum, default_value_t = AuthFormArg::Rfc)]
    pub auth_form: AuthFormArg,
}

fn parse_count(s: &str, flag: &str, lo: usize, hi: usize) -> Result<usize, String> {
    let n: usize = s
        .trim()
        .parse()
        .map_err(|_| format!("{flag} {s:?}: not a whole number"))?;
    if !(lo..=hi).contains(&n) {
        return Err(format!("{flag} {n}: between {lo} and {hi}"));
    }
    Ok(n)
}

fn parse_clients(s: &str) -> Result<usize, String> {
    parse_count(s, "--clients", 1, 100_000_000)
}

fn parse_workers(s: &str) -> Result<usize, String> {
    parse_count(s, "--workers", 1, 255)
}

fn parse_threads(s: &str) -> Result<usize, String> {
    parse_count(s, "--threads", 1, super::MAX_THREADS)
}

fn parse_max_sends(s: &str) -> Result<u32, String> {
    parse_count(s, "--max-sends", 1, 32).map(|n| n as u32)
}

fn parse_sockets(s: &str) -> Result<usize, String> {
    parse_count(s, "--sockets", 1, super::MAX_SOCKETS)
}

fn parse_in_flight(s: &str) -> Result<usize, String> {
    parse_count(s, "--in-flight", 1, 1_000_000)
}

/// `--ike`'s proposals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IkeArg(pub Vec<IkeProposal>);

fn parse_ike_arg(s: &str) -> Result<IkeArg, String> {
    parse_ike(s).map(IkeArg)
}

fn parse_gateway_id(s: &str) -> Result<TicketIdentity, String> {
    parse_identity(s).map_err(|e| format!("--gateway-id {s:?}: {e}"))
}

fn parse_probability(s: &str, flag: &str) -> Result<f64, String> {
    let p: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("{flag} {s:?}: not a number (a probability, e.g. 0.01)"))?;
    check_probability(flag, p)?;
    Ok(p)
}

fn parse_drop(s: &str) -> Result<f64, String> {
    parse_probability(s, "--drop")
}

fn parse_dup(s: &str) -> Result<f64, String> {
    parse_probability(s, "--dup")
}

fn parse_garbage(s: &str) -> Result<f64, String> {
    parse_probability(s, "--garbage")
}

fn parse_hostile(s: &str) -> Result<HostileMix, String> {
    s.parse()
}

fn parse_hostile_rate(s: &str) -> Result<f64, String> {
    let r: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("--hostile-rate {s:?}: not a number (e.g. 5)"))?;
    check_rate("--hostile-rate", r)
}

fn parse_flood(s: &str) -> Result<u64, String> {
    parse_count(s, "--hostile-flood", 1, 1_000_000_000).map(|n| n as u64)
}

fn parse_flood_rate(s: &str) -> Result<f64, String> {
    let r: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("--hostile-flood-rate {s:?}: not a number of datagrams per second"))?;
    if !r.is_finite() || !(1.0..=1e9).contains(&r) {
        return Err(format!(
            "--hostile-flood-rate {s}: between 1 and 1000000000 datagrams per second"
        ));
    }
    Ok(r)
}

fn parse_sources(s: &str) -> Result<usize, String> {
    parse_count(s, "--hostile-sources", 1, MAX_SOURCES)
}

fn parse_hostile_tickets(s: &str) -> Result<usize, String> {
    parse_count(s, "--hostile-tickets", 1, MAX_HOSTILE_TICKETS)
}

fn parse_arrival(s: &str) -> Result<Arrival, String> {
    s.parse()
}

fn parse_timeout(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("--timeout {s:?}: not a number of seconds"))?;
    if !secs.is_finite() || secs <= 0.0 || secs > 86_400.0 {
        return Err(format!("--timeout {s}: between 0 and 86400 seconds"));
    }
    Ok(Duration::from_secs_f64(secs))
}

fn parse_target(s: &str) -> Result<SocketAddr, String> {
    parse_address(s, "--target")
}

fn parse_address(s: &str, flag: &str) -> Result<SocketAddr, String> {
    let mut addrs = s
        .to_socket_addrs()
        .map_err(|e| format!("{flag} {s:?}: not HOST:PORT ({e})"))?;
    let a = addrs
        .next()
        .ok_or_else(|| format!("{flag} {s:?}: the name has no address"))?;
    if a.port() == 0 {
        return Err(format!("{flag} {s}: port 0 is not a gateway's port"));
    }
    Ok(a)
}

/// The most gateways `--resume-targets` names.
pub const MAX_RESUME_TARGETS: usize = 64;

/// `--resume-targets`' gateways, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResumeTargets(pub Vec<SocketAddr>);

fn parse_resume_targets(s: &str) -> Result<ResumeTargets, String> {
    let mut v: Vec<SocketAddr> = Vec::new();
    for part in s.split(',') {
        let part = part.trim();
        if part.is_empty() {
            return Err(format!(
                "--resume-targets {s:?}: an empty address (HOST:PORT,HOST:PORT,...)"
            ));
        }
        let a = parse_address(part, "--resume-targets")?;
        if v.contains(&a) {
            return Err(format!("--resume-targets {s:?}: {a} is named twice"));
        }
        v.push(a);
    }
    if v.len() > MAX_RESUME_TARGETS {
        return Err(format!(
            "--resume-targets: {} gateways, at most {MAX_RESUME_TARGETS}",
            v.len()
        ));
    }
    Ok(ResumeTargets(v))
}

impl StormArgs {
    fn hostile_settings(&self) -> Result<Option<HostileSettings>, String> {
        let Some(mix) = self.hostile else {
            return Ok(None);
        };
        let mut h = HostileSettings::new(mix);
        if let Some(r) = self.hostile_rate {
            if mix.rate.is_some() {
                return Err(format!(
                    "--hostile-rate {r}: the mix gives its rate already (x{})",
                    h.rate
                ));
            }
            h.rate = r;
        }
        if self.hostile_flood.is_some() && (mix.rate.is_some() || self.hostile_rate.is_some()) {
            return Err(
                "--hostile-flood sends as fast as it can: a rate (xRATE, --hostile-rate) does not apply"
                    .into(),
            );
        }
        h.flood = self.hostile_flood;
        h.flood_rate = self.hostile_flood_rate;
        h.sources = self.hostile_sources;
        h.tickets = self.hostile_tickets;
        Ok(Some(h))
    }

    /// The storm these arguments describe.
    pub fn to_config(&self) -> Result<StormConfig, String> {
        let mut cfg = StormConfig {
            clients: self.clients.unwrap_or(DEFAULT_CLIENTS),
            target: self.target,
            key_file: self.key_file.clone(),
            tickets: if self.full {
                TicketSource::Full
            } else {
                TicketSource::Mint
            },
            full: FullSettings {
                psk: self.psk.clone(),
                ike: self.ike.0.clone(),
                gateway_id: self.gateway_id,
                in_flight: self.in_flight,
            },
            threads: self.threads,
            sockets: self.sockets,
            arrival: self.arrival,
            fault: FaultConfig {
                drop: self.drop,
                dup: self.dup,
            },
            garbage: self.garbage,
            hostile: self.hostile_settings()?,
            replay: self.replay,
            save_tickets: self.save_tickets.clone(),
            tickets_only: self.tickets_only,
            load_tickets: self.load_tickets.as_ref().map(|path| LoadTickets {
                path: path.clone(),
                clients: self.clients,
            }),
            resume_targets: self
                .resume_targets
                .as_ref()
                .map(|t| t.0.clone())
                .unwrap_or_default(),
            race: self.race,
            expect_refused: self.expect_refused,
            pcap: self.pcap.clone(),
            keylog: self.keylog.clone(),
            json: self.json.clone(),
            progress: !self.no_progress,
            seed: self.seed,
            phase_timeout: self.timeout,
            ..StormConfig::default()
        };
        cfg.gateway.workers = self.workers;
        if let Some(c) = &self.cores {
            cfg.gateway.cores = c.0.clone();
        }
        cfg.initiator.auth_form = self.auth_form.into();
        cfg.initiator.retransmit.max_sends = self.max_sends;
        cfg.validate().map_err(|e| e.to_string())?;
        Ok(cfg)
    }
}

/// `rebound storm`: runs, prints the summary, writes the requested files.
/// `Ok(false)` when the verdict fails ([`verdict`]): a client that should
/// have resumed did not (a timeout without injected faults, or any
/// refusal), a replayed ticket was accepted, a ticket resumed on two
/// gateways (`--race`), or one expected refused was not
/// (`--expect-refused`).
pub fn run_cli(args: &StormArgs) -> Result<bool, String> {
    let cfg = args.to_config()?;
    let report = run(&cfg).map_err(|e| e.to_string())?;
    print!("{}", report.summary());
    if let Some(p) = &cfg.json {
        println!("report: {}", p.display());
    }
    match verdict(&cfg, &report) {
        Ok(()) => Ok(true),
        Err(why) => {
            eprintln!("rebound storm: {why}");
            Ok(false)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser, Debug)]
    struct Cmd {
        #[command(flatten)]
        storm: StormArgs,
    }

    fn parse(args: &[&str]) -> Result<StormArgs, String> {
        let mut v = vec!["storm"];
        v.extend_from_slice(args);
        Cmd::try_parse_from(v)
            .map(|c| c.storm)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn defaults() {
        let a = parse(&[]).unwrap();
        assert_eq!(a.clients, None);
        assert_eq!(a.to_config().unwrap().clients, 10_000);
        assert_eq!(a.threads, 1);
        assert_eq!(a.sockets, 16);
        assert_eq!(a.workers, 1);
        assert_eq!(a.arrival, Arrival::Burst);
        assert_eq!(a.timeout, Duration::from_secs(60));
        let c = a.to_config().unwrap();
        assert!(c.target.is_none());
        assert_eq!(c.gateway.workers, 1);
        assert!(c.progress);
        assert_eq!(c.initiator.auth_form, AuthForm::Rfc);
        assert_eq!(c.initiator.retransmit.max_sends, 6);
        assert_eq!(c.tickets, TicketSource::Mint);
        assert_eq!(c.full.in_flight, DEFAULT_IN_FLIGHT);
        assert!(
            c.full
                .psk
                .ct_eq(&SecretBuf::from_slice(DEFAULT_PSK.as_bytes()).unwrap())
        );
        assert_eq!(c.full.ike_name(), DEFAULT_IKE);
    }

    #[test]
    fn full_exchange_flags() {
        let a = parse(&[
            "--full",
            "--psk",
            "a storm secret of some length",
            "--ike",
            "aes128-sha256-modp2048",
            "--in-flight",
            "32",
            "--gateway-id",
            "fqdn:vpn.example.net",
        ])
        .unwrap();
        let c = a.to_config().unwrap();
        assert_eq!(c.tickets, TicketSource::Full);
        assert_eq!(c.full.psk.as_bytes(), b"a storm secret of some length");
        assert_eq!(c.full.ike_name(), "aes128-sha256-prfsha256-modp2048");
        assert_eq!(c.full.in_flight, 32);
        assert_eq!(
            c.full.gateway_id.map(|id| id.data().to_vec()),
            Some(b"vpn.example.net".to_vec())
        );
        // The gateway issues the tickets: no key file needed.
        let a = parse(&["--full", "--target", "127.0.0.1:500"]).unwrap();
        assert_eq!(a.to_config().unwrap().tickets, TicketSource::Full);
        let cases: &[(&[&str], &str)] = &[
            (&["--full", "--mint"], "cannot be used with"),
            (&["--psk", "a storm secret of some length"], "--full"),
            (&["--ike", "aes128-sha256-modp2048"], "--full"),
            (&["--in-flight", "8"], "--full"),
            (&["--full", "--psk", "short"], "5 bytes"),
            (
                &["--full", "--ike", "aes128-sha256"],
                "no key-exchange group",
            ),
            (&["--full", "--in-flight", "0"], "--in-flight 0"),
            (&["--full", "--gateway-id", "gw"], "no type prefix"),
        ];
        for (args, want) in cases {
            let e = parse(args).unwrap_err();
            assert!(e.contains(want), "{args:?}: {e}");
        }
    }

    #[test]
    fn every_flag() {
        let a = parse(&[
            "--clients",
            "500",
            "--mint",
            "--workers",
            "2",
            "--cores",
            "0,2-3",
            "--threads",
            "3",
            "--sockets",
            "4",
            "--arrival",
            "ramp:2",
            "--drop",
            "0.01",
            "--dup",
            "0.02",
            "--garbage",
            "0.05",
            "--replay",
            "--json",
            "r.json",
            "--pcap",
            "s.pcap",
            "--keylog",
            "k.jsonl",
            "--seed",
            "7",
            "--timeout",
            "2.5",
            "--no-progress",
            "--auth-form",
            "message-only",
        ])
        .unwrap();
        assert_eq!(a.cores, Some(CoreList(vec![0, 2, 3])));
        assert_eq!(a.arrival, Arrival::Ramp { secs: 2.0 });
        assert_eq!(a.timeout, Duration::from_millis(2500));
        // Three cores for two workers.
        let e = a.to_config().unwrap_err();
        assert!(e.contains("one core per worker"), "{e}");
        let a = parse(&[
            "--workers",
            "3",
            "--cores",
            "0,2-3",
            "--auth-form",
            "message-only",
        ])
        .unwrap();
        let c = a.to_config().unwrap();
        assert_eq!(c.gateway.cores, vec![0, 2, 3]);
        assert_eq!(c.initiator.auth_form, AuthForm::MessageOnly);
    }

    #[test]
    fn bad_arguments_say_why() {
        let cases: &[(&[&str], &str)] = &[
            (&["--arrival", "ramp:x"], "not a number"),
            (&["--arrival", "wave"], "expected burst"),
            (&["--drop", "1.5"], "--drop 1.5"),
            (&["--dup=-1"], "probability"),
            (&["--garbage", "lots"], "not a number"),
            (&["--clients", "0"], "--clients 0: between 1"),
            (&["--clients", "ten"], "not a whole number"),
            (&["--workers", "0"], "--workers 0"),
            (&["--workers", "256"], "--workers 256"),
            (&["--sockets", "0"], "--sockets 0"),
            (&["--threads", "0"], "--threads 0"),
            (&["--timeout", "0"], "--timeout 0"),
            (&["--max-sends", "0"], "--max-sends 0: between 1 and 32"),
            (&["--cores", "1,x"], "is not a core id"),
            (&["--cores", "3-1"], "ends before it starts"),
            (&["--target", "nowhere"], "not HOST:PORT"),
            (&["--target", "127.0.0.1:0"], "port 0"),
            (&["--auth-form", "pkcs"], "invalid value"),
        ];
        for (args, want) in cases {
            let e = parse(args).unwrap_err();
            assert!(e.contains(want), "{args:?}: {e}");
        }
        let e = parse(&["--target", "127.0.0.1:500", "--workers", "2"]).unwrap_err();
        assert!(e.contains("cannot be used with"), "{e}");
    }

    #[test]
    fn hostile_flags() {
        let a = parse(&["--hostile", "forged,stolen=3,x5", "--hostile-sources", "8"]).unwrap();
        let h = a.to_config().unwrap().hostile.unwrap();
        assert_eq!(h.rate, 5.0);
        assert_eq!(h.flood, None);
        assert_eq!(h.sources, 8);
        assert_eq!(h.tickets, DEFAULT_HOSTILE_TICKETS);
        assert_eq!(h.mix.to_string(), "forged=1,stolen=3,x5");
        let a = parse(&[
            "--hostile",
            "halfopen",
            "--hostile-flood",
            "3000000",
            "--hostile-tickets",
            "10000",
            "--hostile-flood-rate",
            "150000",
        ])
        .unwrap();
        let h = a.to_config().unwrap().hostile.unwrap();
        assert_eq!(h.flood, Some(3_000_000));
        assert_eq!(h.flood_rate, Some(150_000.0));
        assert_eq!(h.tickets, 10_000);
        let a = parse(&["--hostile", "all", "--hostile-rate", "2.5"]).unwrap();
        assert_eq!(a.to_config().unwrap().hostile.unwrap().rate, 2.5);
        assert!(parse(&[]).unwrap().to_config().unwrap().hostile.is_none());
        let cases: &[(&[&str], &str)] = &[
            (&["--hostile", "bogus"], "unknown kind"),
            (&["--hostile-rate", "2"], "--hostile"),
            (&["--hostile", "all", "--hostile-rate", "0"], "above 0"),
            (
                &["--hostile", "all", "--hostile-sources", "0"],
                "--hostile-sources 0",
            ),
            (
                &["--hostile", "all", "--hostile-sources", "5000"],
                "between 1 and 4096",
            ),
            (
                &["--hostile", "all", "--hostile-flood", "0"],
                "--hostile-flood 0",
            ),
            (
                &["--hostile", "all", "--hostile-tickets", "0"],
                "--hostile-tickets 0",
            ),
            (
                &["--hostile", "all", "--hostile-flood-rate", "5"],
                "--hostile-flood",
            ),
            (
                &[
                    "--hostile",
                    "all",
                    "--hostile-flood",
                    "9",
                    "--hostile-flood-rate",
                    "0",
                ],
                "between 1 and",
            ),
        ];
        for (args, want) in cases {
            let e = parse(args).unwrap_err();
            assert!(e.contains(want), "{args:?}: {e}");
        }
        let cases: &[(&[&str], &str)] = &[
            (
                &["--hostile", "all,x2", "--hostile-rate", "3"],
                "gives its rate already",
            ),
            (
                &["--hostile", "all,x2", "--hostile-flood", "10"],
                "does not apply",
            ),
        ];
        for (args, want) in cases {
            let e = parse(args).unwrap().to_config().unwrap_err();
            assert!(e.contains(want), "{args:?}: {e}");
        }
    }

    #[test]
    fn tickets_file_flags() {
        let c = parse(&["--full", "--save-tickets", "t.tickets", "--tickets-only"])
            .unwrap()
            .to_config()
            .unwrap();
        assert_eq!(c.save_tickets, Some(PathBuf::from("t.tickets")));
        assert!(c.tickets_only);
        assert!(c.load_tickets.is_none());
        // Loading: every ticket unless --clients says; no key file needed
        // with --target.
        let c = parse(&["--load-tickets", "t.tickets", "--target", "127.0.0.1:500"])
            .unwrap()
            .to_config()
            .unwrap();
        let l = c.load_tickets.expect("--load-tickets");
        assert_eq!((l.path, l.clients), (PathBuf::from("t.tickets"), None));
        let c = parse(&[
            "--load-tickets",
            "t.tickets",
            "--clients",
            "7",
            "--expect-refused",
        ])
        .unwrap()
        .to_config()
        .unwrap();
        assert_eq!(c.load_tickets.and_then(|l| l.clients), Some(7));
        assert!(c.expect_refused);
        let cases: &[(&[&str], &str)] = &[
            (&["--load-tickets", "t", "--full"], "cannot be used with"),
            (&["--load-tickets", "t", "--mint"], "cannot be used with"),
            (
                &["--load-tickets", "t", "--save-tickets", "u"],
                "cannot be used with",
            ),
            (&["--tickets-only"], "--save-tickets"),
            (
                &["--save-tickets", "t", "--tickets-only", "--replay"],
                "cannot be used with",
            ),
            (&["--expect-refused", "--replay"], "cannot be used with"),
        ];
        for (args, want) in cases {
            let e = parse(args).unwrap_err();
            assert!(e.contains(want), "{args:?}: {e}");
        }
        // What clap does not see, the configuration does.
        let mut c = StormConfig {
            tickets_only: true,
            ..StormConfig::default()
        };
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("give --save-tickets FILE"), "{e}");
        c.save_tickets = Some("t".into());
        c.load_tickets = Some(LoadTickets {
            path: "u".into(),
            clients: None,
        });
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("no new tickets for --save-tickets"), "{e}");
    }

    #[test]
    fn resume_target_flags() {
        let a = parse(&[
            "--target",
            "127.0.0.1:500",
            "--key-file",
            "k",
            "--resume-targets",
            "127.0.0.1:5500, 127.0.0.2:5500",
        ])
        .unwrap();
        let c = a.to_config().unwrap();
        assert_eq!(
            c.resume_targets,
            vec![
                "127.0.0.1:5500".parse::<SocketAddr>().unwrap(),
                "127.0.0.2:5500".parse().unwrap()
            ]
        );
        assert!(!c.race);
        let base = ["--target", "127.0.0.1:500", "--key-file", "k"];
        let with = |more: &[&str]| {
            let mut v = base.to_vec();
            v.extend_from_slice(more);
            parse(&v)
        };
        let c = with(&["--resume-targets", "127.0.0.1:1,127.0.0.1:2", "--race"])
            .unwrap()
            .to_config()
            .unwrap();
        assert!(c.race);
        assert!(
            with(&["--resume-targets", "127.0.0.1:1", "--spread"])
                .unwrap()
                .to_config()
                .is_ok()
        );
        let cases: &[(Vec<&str>, &str)] = &[
            (vec!["--race"], "--resume-targets"),
            (vec!["--spread"], "--resume-targets"),
            (
                vec!["--resume-targets", "127.0.0.1:1", "--race", "--spread"],
                "cannot be used with",
            ),
            (
                vec!["--resume-targets", "127.0.0.1:1,nowhere"],
                "--resume-targets \"nowhere\": not HOST:PORT",
            ),
            (vec!["--resume-targets", "127.0.0.1:0"], "port 0"),
            (
                vec!["--resume-targets", "127.0.0.1:1,,127.0.0.1:2"],
                "an empty address",
            ),
            (
                vec!["--resume-targets", "127.0.0.1:1,127.0.0.1:1"],
                "127.0.0.1:1 is named twice",
            ),
        ];
        for (args, want) in cases {
            let e = with(args).unwrap_err();
            assert!(e.contains(want), "{args:?}: {e}");
        }
        // The phase 1 gateway is needed.
        let e = parse(&["--resume-targets", "127.0.0.1:1"]).unwrap_err();
        assert!(e.contains("--target"), "{e}");
        let many: Vec<String> = (1..=65).map(|p| format!("127.0.0.1:{p}")).collect();
        let e = with(&["--resume-targets", &many.join(",")]).unwrap_err();
        assert!(e.contains("65 gateways, at most 64"), "{e}");
        let e = with(&["--resume-targets", "0.0.0.0:500"])
            .unwrap()
            .to_config()
            .unwrap_err();
        assert!(e.contains("give each gateway's address and port"), "{e}");
    }

    #[test]
    fn target_needs_the_key_file() {
        let a = parse(&["--target", "127.0.0.1:500"]).unwrap();
        let e = a.to_config().unwrap_err();
        assert!(e.contains("needs --key-file"), "{e}");
        let a = parse(&["--target", "127.0.0.1:500", "--key-file", "keys"]).unwrap();
        assert_eq!(
            a.to_config().unwrap().target,
            Some("127.0.0.1:500".parse().unwrap())
        );
    }
}
