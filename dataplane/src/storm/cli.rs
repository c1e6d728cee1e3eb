//! `rebound storm`'s command line: [`StormArgs`] to a [`StormConfig`],
//! [`run_cli`] to run it and print the summary.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use crate::config::CoreList;
use clap::ValueEnum;
use rebound_engine::crypto::AuthForm;

use super::fault::check_probability;
use super::{Arrival, FaultConfig, StormConfig, TicketSource, run, verdict};

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
    /// Simulated clients.
    #[arg(long, value_name = "N", default_value = "10000", value_parser = parse_clients)]
    pub clients: usize,
    /// Storm a separate gateway at HOST:PORT (default: an embedded gateway
    /// on loopback). Needs --key-file.
    #[arg(long, value_name = "HOST:PORT", value_parser = parse_target)]
    pub target: Option<SocketAddr>,
    /// Phase 1 mints the tickets with the gateway's key ring (the only
    /// ticket source today; the flag is accepted for clarity).
    #[arg(long)]
    pub mint: bool,
    /// The gateway's ticket key file (`rebound keys generate`): needed with
    /// --target; with the embedded gateway, used instead of a fresh
    /// in-memory key.
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
    /// Phase 4: present the original tickets again; all must be refused.
    #[arg(long)]
    pub replay: bool,
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
    /// Seconds the reconnect (and replay) phase may run after its last
    /// client started.
    #[arg(long, value_name = "SECS", default_value = "60", value_parser = parse_timeout)]
    pub timeout: Duration,
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

fn parse_sockets(s: &str) -> Result<usize, String> {
    parse_count(s, "--sockets", 1, super::MAX_SOCKETS)
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
    let mut addrs = s
        .to_socket_addrs()
        .map_err(|e| format!("--target {s:?}: not HOST:PORT ({e})"))?;
    let a = addrs
        .next()
        .ok_or_else(|| format!("--target {s:?}: the name has no address"))?;
    if a.port() == 0 {
        return Err(format!("--target {s}: port 0 is not a gateway's port"));
    }
    Ok(a)
}

impl StormArgs {
    /// The storm these arguments describe.
    pub fn to_config(&self) -> Result<StormConfig, String> {
        let mut cfg = StormConfig {
            clients: self.clients,
            target: self.target,
            key_file: self.key_file.clone(),
            tickets: TicketSource::Mint,
            threads: self.threads,
            sockets: self.sockets,
            arrival: self.arrival,
            fault: FaultConfig {
                drop: self.drop,
                dup: self.dup,
            },
            garbage: self.garbage,
            replay: self.replay,
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
        cfg.validate().map_err(|e| e.to_string())?;
        Ok(cfg)
    }
}

/// `rebound storm`: runs, prints the summary, writes the requested files.
/// `Ok(false)` when a client that should have resumed did not (a timeout
/// without injected faults, or any refusal) or a replayed ticket was
/// accepted.
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
        assert_eq!(a.clients, 10_000);
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
