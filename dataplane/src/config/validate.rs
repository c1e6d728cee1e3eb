//! Validation: every range and every cross-setting rule of the merged
//! settings, with errors that name the TOML key or the flag that set it.

use std::fmt;
use std::path::PathBuf;

use rebound_engine::child::MAX_SELECTORS;
use rebound_engine::child::pool::MAX_POOL_ADDRESSES;
use rebound_engine::responder::ResponderConfig;
use rebound_engine::ticket::guard::{GuardConfigError, MAX_SHARDS};

use super::syntax::{addr_bits, format_identity, psk_len_problem};
use super::{ConfigError, GatewaySettings, MAX_WORKERS, PoolSettings, Psk};

/// Check every range and cross-setting rule of `settings` (built in code or
/// merged from a file and flags). Errors name the TOML key.
pub fn validate(settings: &GatewaySettings) -> Result<(), ConfigError> {
    Checker::default().run(settings)
}

/// Validation context: the file the settings came from and the keys that
/// command-line flags set (their errors name the flag, not the file).
#[derive(Default)]
pub(super) struct Checker {
    pub(super) file: Option<PathBuf>,
    /// (TOML key, flag)
    pub(super) flags: Vec<(&'static str, &'static str)>,
}

impl Checker {
    fn err(&self, key: impl Into<String>, problem: impl Into<String>) -> ConfigError {
        let key = key.into();
        let flag = self.flags.iter().find(|(k, _)| {
            key.strip_prefix(k)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('['))
        });
        match flag {
            Some((_, flag)) => ConfigError::new(format!("{flag} ({key})"), problem),
            None => ConfigError {
                file: self.file.clone(),
                key,
                problem: problem.into(),
            },
        }
    }

    fn range<T: PartialOrd + fmt::Display>(
        &self,
        key: &str,
        v: T,
        lo: T,
        hi: T,
    ) -> Result<(), ConfigError> {
        if v < lo || v > hi {
            return Err(self.err(key, format!("{v} is out of range {lo}..={hi}")));
        }
        Ok(())
    }

    pub(super) fn run(&self, s: &GatewaySettings) -> Result<(), ConfigError> {
        self.gateway(s)?;
        self.tickets(s)?;
        self.responder(&s.responder)?;
        self.child(&s.responder)?;
        if let Some(pool) = &s.pool {
            self.pool(pool)?;
        }
        self.guard(s)?;
        self.handoff(s)?;
        self.psks(&s.psks)?;
        self.ike(s)
    }

    fn ike(&self, s: &GatewaySettings) -> Result<(), ConfigError> {
        if s.ike.proposals.is_empty() {
            return Err(self.err(
                "ike.proposals",
                "is empty; the full exchange needs at least one (e.g. \"aes256gcm16-prfsha256-curve25519\")",
            ));
        }
        // At most ten years; at least a minute.
        self.range("ike.reauth_secs", s.ike.reauth_secs, 60, 10 * 365 * 86_400)?;
        self.range("ike.cookie_threshold", s.ike.cookie_threshold, 0, 1 << 24)?;
        self.range("ike.max_children", s.ike.max_children, 1, 64)?;
        Ok(())
    }

    fn gateway(&self, s: &GatewaySettings) -> Result<(), ConfigError> {
        if s.listen.is_empty() && s.listen_natt.is_empty() {
            return Err(self.err(
                "gateway.listen",
                "and gateway.listen_natt are both empty; the gateway needs at least one address (e.g. 0.0.0.0:500)",
            ));
        }
        for (key, list) in [
            ("gateway.listen", &s.listen),
            ("gateway.listen_natt", &s.listen_natt),
        ] {
            for (i, a) in list.iter().enumerate() {
                // Port 0 (flags only: the kernel picks a free port per
                // address) never collides.
                if a.port() != 0 && list[..i].contains(a) {
                    return Err(self.err(format!("{key}[{i}]"), format!("{a} is listed twice")));
                }
            }
        }
        for (i, a) in s.listen_natt.iter().enumerate() {
            if a.port() != 0 && s.listen.contains(a) {
                return Err(self.err(
                    format!("gateway.listen_natt[{i}]"),
                    format!("{a} is also in gateway.listen; one socket cannot be both"),
                ));
            }
        }
        self.range("gateway.workers", s.workers, 1, MAX_WORKERS)?;
        if !s.cores.is_empty() {
            if s.cores.len() != s.workers {
                return Err(self.err(
                    "gateway.cores",
                    format!(
                        "{} entries but gateway.workers = {}; give one core per worker, or none",
                        s.cores.len(),
                        s.workers
                    ),
                ));
            }
            for (i, c) in s.cores.iter().enumerate() {
                if let Some(j) = s.cores[..i].iter().position(|x| x == c) {
                    return Err(self.err(
                        format!("gateway.cores[{i}]"),
                        format!("core {c} is already worker {j}'s; busy-polling workers need a core each"),
                    ));
                }
            }
        }
        self.range("gateway.idle_sleep_us", s.idle_sleep_us, 0, 1_000_000)?;
        self.range("gateway.drain_timeout_ms", s.drain_timeout_ms, 0, 3_600_000)?;
        self.range("gateway.handoff_queue", s.handoff_queue, 1, 1 << 24)?;
        if let Some(user) = &s.user
            && (user.is_empty() || user.contains(['\0', ':', '/']) || user.trim() != user)
        {
            // Whether the user exists is asked of the user database at start.
            return Err(self.err("gateway.user", format!("{user:?} is not a user name")));
        }
        Ok(())
    }

    fn tickets(&self, s: &GatewaySettings) -> Result<(), ConfigError> {
        let p = &s.responder.tickets;
        let max = u64::from(u32::MAX);
        self.range("tickets.max_lifetime_secs", p.max_lifetime_secs, 1, max)?;
        self.range("tickets.ike_lifetime_secs", p.ike_lifetime_secs, 1, max)?;
        self.range("tickets.max_message_len", p.max_message_len, 512, 65_535)?;
        let t = &s.tickets;
        self.range("tickets.store_capacity", t.store_capacity, 1, 1 << 24)?;
        self.range(
            "tickets.revocation_list_max",
            t.revocation_list_max,
            1,
            1 << 24,
        )?;
        Ok(())
    }

    fn responder(&self, r: &ResponderConfig) -> Result<(), ConfigError> {
        self.range(
            "responder.half_open_timeout_ms",
            r.half_open_timeout_ms,
            1_000,
            600_000,
        )?;
        self.range("responder.half_open_limit", r.half_open_limit, 1, 1 << 24)?;
        self.range(
            "responder.completed_cache_limit",
            r.completed_cache_limit,
            1,
            1 << 24,
        )?;
        self.range(
            "responder.half_open_memory_mb",
            r.half_open_memory >> 20,
            16,
            1 << 20,
        )?;
        self.range(
            "responder.half_open_per_ticket",
            r.half_open_per_ticket,
            1,
            1024,
        )?;
        self.range(
            "responder.half_open_per_source",
            r.half_open_per_source,
            1,
            1 << 24,
        )?;
        if r.cookie_threshold > r.half_open_limit {
            return Err(self.err(
                "responder.cookie_threshold",
                format!(
                    "{} is above responder.half_open_limit = {}: the table would fill before \
                     cookies are asked for",
                    r.cookie_threshold, r.half_open_limit
                ),
            ));
        }
        self.range(
            "responder.cookie_rotate_ms",
            r.cookie_rotate_ms,
            1_000,
            86_400_000,
        )?;
        self.range(
            "responder.max_request_len",
            r.max_request_len,
            1_024,
            crate::backend::SLOT_LEN,
        )?;
        Ok(())
    }

    fn child(&self, r: &ResponderConfig) -> Result<(), ConfigError> {
        if r.esp.is_empty() {
            return Err(self.err("child.esp", "is empty; no child SA could be made"));
        }
        for (i, p) in r.esp.iter().enumerate() {
            let key = format!("child.esp[{i}]");
            if !p.is_valid() {
                return Err(self.err(key, format!("{p:?} is not a valid ESP suite")));
            }
            if r.esp[..i].contains(p) {
                return Err(self.err(key, format!("{p} is listed twice")));
            }
        }
        for (key, list) in [
            ("child.ts_local", &r.ts_local),
            ("child.ts_remote", &r.ts_remote),
        ] {
            if list.is_empty() {
                return Err(self.err(key, "is empty; no traffic could be selected"));
            }
            if list.len() > MAX_SELECTORS {
                return Err(self.err(
                    key,
                    format!("{} selectors; at most {MAX_SELECTORS}", list.len()),
                ));
            }
            for (i, t) in list.iter().enumerate() {
                let bad = if t.start.is_ipv4() != t.end.is_ipv4() {
                    Some("mixes IPv4 and IPv6")
                } else if addr_bits(t.start).0 > addr_bits(t.end).0 {
                    Some("ends before it starts")
                } else if t.start_port > t.end_port {
                    Some("port range ends before it starts")
                } else if t.ip_proto == 0 && (t.start_port, t.end_port) != (0, u16::MAX) {
                    Some("ports need a protocol")
                } else {
                    None
                };
                if let Some(bad) = bad {
                    return Err(self.err(format!("{key}[{i}]"), format!("{t:?} {bad}")));
                }
            }
        }
        Ok(())
    }

    fn pool(&self, p: &PoolSettings) -> Result<(), ConfigError> {
        if p.v4.is_none() && p.v6.is_none() {
            return Err(self.err("pool", "needs v4, v6 or both"));
        }
        let ranges = [
            (
                "pool.v4",
                p.v4.map(|(a, n)| (u128::from(u32::from(a)), n, u128::from(u32::MAX))),
            ),
            ("pool.v6", p.v6.map(|(a, n)| (u128::from(a), n, u128::MAX))),
        ];
        for (key, r) in ranges {
            if let Some((first, count, last)) = r {
                self.range(key, count, 1, MAX_POOL_ADDRESSES)?;
                if last - first < u128::from(count - 1) {
                    return Err(self.err(key, "runs past the end of the address space"));
                }
            }
        }
        Ok(())
    }

    fn guard(&self, s: &GatewaySettings) -> Result<(), ConfigError> {
        let g = &s.guard;
        if let Err(e) = g.memory_bytes() {
            let (key, problem) = match e {
                GuardConfigError::ZeroCapacity => (
                    "guard.claims_per_generation",
                    "must be at least 1".to_string(),
                ),
                GuardConfigError::FalsePositiveRateOutOfRange => (
                    "guard.false_positive_rate",
                    format!("{} is out of range 1e-9..=0.5", g.false_positive_rate),
                ),
                GuardConfigError::ZeroWindow => ("guard.window_secs", "must be at least 1".into()),
                GuardConfigError::ZeroLifetime => (
                    "guard.max_ticket_lifetime_secs",
                    "must be at least 1".into(),
                ),
                GuardConfigError::ShardCount => (
                    "guard.shards",
                    format!("{} is out of range 1..={MAX_SHARDS}", g.shards),
                ),
                other => ("guard", other.to_string()),
            };
            return Err(self.err(key, problem));
        }
        self.range(
            "guard.save_interval_secs",
            s.guard_state.save_interval_secs,
            1,
            86_400,
        )?;
        if let Some(path) = &s.guard_state.state_file
            && (path.as_os_str().is_empty() || path.file_name().is_none())
        {
            return Err(self.err(
                "guard.state_file",
                format!("{:?} does not name a file", path.display().to_string()),
            ));
        }
        let p = &s.responder.tickets;
        let issued = p.max_lifetime_secs.min(p.ike_lifetime_secs);
        if p.kind.is_some() && issued > g.max_ticket_lifetime_secs {
            return Err(self.err(
                "guard.max_ticket_lifetime_secs",
                format!(
                    "{} is shorter than the tickets issued (min(tickets.max_lifetime_secs, \
                     tickets.ike_lifetime_secs) = {issued}); the guard would refuse them",
                    g.max_ticket_lifetime_secs
                ),
            ));
        }
        Ok(())
    }

    fn handoff(&self, s: &GatewaySettings) -> Result<(), ConfigError> {
        for (i, h) in s.handoff.iter().enumerate() {
            if s.handoff[..i].contains(h) {
                return Err(self.err(format!("handoff.unix[{i}]"), format!("{h} is listed twice")));
            }
        }
        if let (Some(a), Some(b)) = (&s.keylog, &s.keylog_wireshark)
            && a == b
        {
            return Err(self.err(
                "handoff.keylog_wireshark",
                format!(
                    "{} is also handoff.keylog; the two formats need two files",
                    b.display()
                ),
            ));
        }
        Ok(())
    }

    pub(super) fn psks(&self, psks: &[Psk]) -> Result<(), ConfigError> {
        // By identity, to find a repeat without comparing every pair (the
        // storm's embedded gateway has one entry per client).
        let mut seen = std::collections::HashMap::with_capacity(psks.len());
        for (i, p) in psks.iter().enumerate() {
            if let Some(problem) = psk_len_problem(p.secret.len()) {
                return Err(self.err(format!("psk[{i}].secret"), problem));
            }
            if let Some(j) = seen.insert((p.id.id_type.0, p.id.data()), i) {
                return Err(self.err(
                    format!("psk[{i}].id"),
                    format!("{} is already psk[{j}]'s", format_identity(&p.id)),
                ));
            }
        }
        Ok(())
    }
}
