//! Phase 1 by full exchanges (`--full`): every client makes an IKE SA with
//! the gateway the way it would before any outage, IKE_SA_INIT (with the
//! cookie and INVALID_KE retries) and IKE_AUTH with a pre-shared key,
//! asking for a ticket with N(TICKET_REQUEST) (RFC 5723 §4.1), and keeps
//! the ticket the gateway sends. The exchanges run through the same storm
//! threads as the reconnect phase (`phase`), a `FullInitiator` per client,
//! at most [`FullSettings::in_flight`] at once: the point is the gateway's
//! rate of full exchanges next to its rate of resumptions, not a flood of
//! retransmissions.
//!
//! Client `i` is [`client_id`]`(i)` with the storm's one PSK; the embedded
//! gateway gets a `[[psk]]` entry for each of them ([`psk_entries`]) and
//! the storm's gateway identity. A separate gateway must have those PSKs
//! configured; it issues the tickets itself, so no key file is needed.

use std::collections::BTreeMap;
use std::fmt;

use rebound_engine::client::{ClientTicket, FullConfig, FullInitiator, InitiatorConfig};
use rebound_engine::crypto::{DhGroup, SecretBuf};
use rebound_engine::slow_path::IkeProposal;
use rebound_engine::ticket::state::TicketIdentity;
use rebound_engine::wire::IdType;

use super::mint::{GATEWAY_ID, client_id};
use super::phase::run_phase;
use super::progress::Progress;
use super::report::{FullReport, LatencyReport, PhaseReport, map_line};
use super::{Storm, StormError, ms};
use rebound_dataplane::config::{MIN_PSK_LEN, Psk, format_identity};

/// The PSK every client shares unless `--psk` says otherwise.
pub const DEFAULT_PSK: &str = "rebound storm pre-shared key";
/// The clients' IKE proposal unless `--ike` says otherwise.
pub const DEFAULT_IKE: &str = "aes256gcm16-prfsha256-curve25519";
/// Full exchanges under way at once, over all storm threads, unless
/// `--in-flight` says otherwise.
pub const DEFAULT_IN_FLIGHT: usize = 64;

/// How phase 1's clients make their IKE SAs.
#[derive(Clone)]
pub struct FullSettings {
    /// The pre-shared key of every client (16 to 64 bytes).
    pub psk: SecretBuf,
    /// The IKE proposals of SAi1 (strongSwan syntax, `--ike`); the KE
    /// payload carries the first group of the first one.
    pub ike: Vec<IkeProposal>,
    /// The gateway's identity: sent as IDr and required of its IDr. `None`:
    /// [`GATEWAY_ID`] with the embedded gateway (its `ike.local_id`); no
    /// IDr sent, and any accepted, with `--target`.
    pub gateway_id: Option<TicketIdentity>,
    /// At most this many exchanges under way at once, over all threads.
    pub in_flight: usize,
}

impl Default for FullSettings {
    fn default() -> Self {
        FullSettings {
            psk: SecretBuf::from_slice(DEFAULT_PSK.as_bytes()).expect("a short default PSK"),
            ike: parse_ike(DEFAULT_IKE).expect("a valid default proposal"),
            gateway_id: None,
            in_flight: DEFAULT_IN_FLIGHT,
        }
    }
}

impl fmt::Debug for FullSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FullSettings")
            .field("ike", &self.ike_name())
            .field("gateway_id", &self.gateway_id.as_ref().map(format_identity))
            .field("in_flight", &self.in_flight)
            .finish_non_exhaustive()
    }
}

/// `--ike`: one proposal or several, comma-separated, in strongSwan's
/// syntax; the first must name a Diffie-Hellman group (the KE guess).
pub fn parse_ike(s: &str) -> Result<Vec<IkeProposal>, String> {
    let ike = s
        .split(',')
        .map(|p| IkeProposal::parse(p.trim()).map_err(|e| format!("--ike {p:?}: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    if ike.first().and_then(|p| p.groups.first()).is_none() {
        return Err(format!(
            "--ike {s:?}: the first proposal names no key-exchange group (add e.g. -curve25519)"
        ));
    }
    Ok(ike)
}

/// `--psk`: the shared secret's bytes, 16 to 64 of them.
pub fn parse_psk(s: &str) -> Result<SecretBuf, String> {
    let len = s.len();
    if !(MIN_PSK_LEN..=SecretBuf::CAPACITY).contains(&len) {
        return Err(format!(
            "--psk: {len} bytes; between {MIN_PSK_LEN} and {} are needed",
            SecretBuf::CAPACITY
        ));
    }
    SecretBuf::from_slice(s.as_bytes()).map_err(|e| format!("--psk: {e}"))
}

impl FullSettings {
    /// The KE payload's group: the first of the first proposal.
    pub fn group(&self) -> Option<DhGroup> {
        self.ike.first()?.groups.first().copied()
    }

    /// The proposals as `--ike` writes them.
    pub fn ike_name(&self) -> String {
        self.ike
            .iter()
            .map(IkeProposal::name)
            .collect::<Vec<_>>()
            .join(",")
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.group().is_none() {
            return Err("--ike: the first proposal names no key-exchange group".into());
        }
        if self.ike.len() > usize::from(u8::MAX) {
            return Err("--ike: at most 255 proposals".into());
        }
        if self.psk.len() < MIN_PSK_LEN {
            return Err(format!("--psk: at least {MIN_PSK_LEN} bytes are needed"));
        }
        if self.in_flight == 0 {
            return Err("--in-flight 0: at least one exchange must be under way".into());
        }
        Ok(())
    }

    /// The identity sent as IDr and required of the gateway (see
    /// [`FullSettings::gateway_id`]).
    pub fn id_r(&self, embedded: bool) -> Option<TicketIdentity> {
        self.gateway_id.or_else(|| embedded.then(gateway_identity))
    }

    /// Every client's configuration but IDi: these proposals, the storm's
    /// PSK, and the child SA, address request and retransmission of the
    /// resumption's settings; a ticket is always asked for.
    pub(crate) fn client_config(&self, resume: &InitiatorConfig, embedded: bool) -> FullConfig {
        let mut c = FullConfig::new(gateway_identity(), self.psk.clone());
        c.ike = self.ike.clone();
        c.group = self.group().unwrap_or(DhGroup::Curve25519);
        c.id_r = self.id_r(embedded);
        c.esp = resume.esp.clone();
        c.ts_i = resume.ts_i.clone();
        c.ts_r = resume.ts_r.clone();
        c.request_address = resume.request_address;
        c.request_ticket = true;
        c.retransmit = resume.retransmit;
        c
    }
}

/// [`GATEWAY_ID`] as an identity.
pub fn gateway_identity() -> TicketIdentity {
    TicketIdentity::new(IdType::FQDN, GATEWAY_ID.as_bytes()).expect("a short gateway identity")
}

/// Client `i`'s identity: [`client_id`]`(i)`, an FQDN.
fn client_identity(i: usize) -> Result<TicketIdentity, StormError> {
    TicketIdentity::new(IdType::FQDN, client_id(i).as_bytes())
        .ok_or_else(|| StormError::Config(format!("client {i}: identity too long")))
}

/// The embedded gateway's `[[psk]]` entries: one per client identity, all
/// with `psk`, tickets on.
pub fn psk_entries(clients: usize, psk: &SecretBuf) -> Result<Vec<Psk>, StormError> {
    (0..clients)
        .map(|i| {
            Ok(Psk {
                id: client_identity(i)?,
                secret: psk.clone(),
                tickets: true,
            })
        })
        .collect()
}

/// What phase 1 by full exchanges left.
pub(super) struct FullTickets {
    /// The tickets, in client order (clients without one are left out).
    pub tickets: Vec<ClientTicket>,
    pub phase: PhaseReport,
    pub report: FullReport,
}

impl Storm<'_> {
    /// Phase 1 with `--full`: a full exchange per client through the
    /// storm threads, each keeping its ticket.
    pub(super) fn full_tickets(&self, embedded: bool) -> Result<FullTickets, StormError> {
        let cfg = self.cfg;
        let n = cfg.clients;
        let full = &cfg.full;
        let progress = Progress::new("phase 1 (full)", n as u64, cfg.progress)
            .with_words("established", "failed");
        let mut setup = self.setup(2, 0.0, &progress)?;
        setup.in_flight = Some(full.in_flight);
        let template = full.client_config(&cfg.initiator, embedded);
        let ids = (0..n).map(client_identity).collect::<Result<Vec<_>, _>>()?;
        let mut out = run_phase::<FullInitiator>(&setup, &template, ids, &vec![0; n])?;
        if let Some(e) = &out.write_error {
            return Err(self.write_error(e));
        }
        let mut failures = out.failure_labels();
        let mut tickets = Vec::with_capacity(n);
        for o in std::mem::take(&mut out.outputs).into_iter().flatten() {
            match o {
                Ok(t) => tickets.push(t),
                Err(why) => *failures.entry(why.to_string()).or_default() += 1,
            }
        }
        let got = tickets.len() as u64;
        if got == 0 {
            return Err(StormError::Tickets(no_ticket_reason(
                &failures,
                cfg.target.is_none(),
            )));
        }
        let rate = out.per_sec();
        let latency = LatencyReport::from_histogram(&out.latency);
        let phase = PhaseReport {
            name: "tickets",
            duration_ms: ms(out.duration),
            detail: format!("{} full exchanges, {got} tickets", out.established),
            per_sec: Some(rate),
            latency: Some(latency),
        };
        let report = FullReport {
            ike: full.ike_name(),
            group: full.group().map_or(0, DhGroup::id),
            in_flight: full.in_flight,
            established: out.established,
            tickets: got,
            active_secs: out.active.as_secs_f64(),
            full_exchanges_per_sec: rate,
            resume_speedup: None,
            latency,
            failures,
            timeouts: out.failures.get("timeout").copied().unwrap_or(0),
            unfinished: out.unfinished,
            child_errors: out.child_errors,
            wire: out.wire(),
            faults: out.faults,
            slow_path: None,
        };
        Ok(FullTickets {
            tickets,
            phase,
            report,
        })
    }
}

/// Why no client got a ticket, and what to check.
fn no_ticket_reason(failures: &BTreeMap<String, u64>, embedded: bool) -> String {
    let why = map_line(failures);
    let hint = if embedded {
        ""
    } else {
        "; the gateway needs a [[psk]] entry for each client-N.storm.rebound with the storm's \
         --psk, tickets on, and an IKE proposal that --ike offers"
    };
    format!("phase 1: no client got a ticket by full exchange ({why}){hint}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ike_and_psk_flags() {
        let ike = parse_ike("aes128-sha256-modp2048").unwrap();
        assert_eq!(ike[0].groups, vec![DhGroup::Modp2048]);
        let ike =
            parse_ike("aes256gcm16-prfsha256-ecp256-curve25519, aes128-sha256-modp2048").unwrap();
        assert_eq!(ike.len(), 2);
        let s = FullSettings {
            ike,
            ..FullSettings::default()
        };
        assert_eq!(s.group(), Some(DhGroup::Ecp256));
        let e = parse_ike("aes256gcm16-prfsha256").unwrap_err();
        assert!(e.contains("no key-exchange group"), "{e}");
        let e = parse_ike("rot13-curve25519").unwrap_err();
        assert!(e.contains("--ike \"rot13-curve25519\""), "{e}");
        assert!(parse_psk("short").unwrap_err().contains("5 bytes"));
        assert!(parse_psk(&"x".repeat(65)).is_err());
        assert_eq!(parse_psk(DEFAULT_PSK).unwrap().len(), DEFAULT_PSK.len());
        assert!(FullSettings::default().validate().is_ok());
    }

    #[test]
    fn gateway_identity_and_psks() {
        let s = FullSettings::default();
        assert_eq!(s.id_r(true), Some(gateway_identity()));
        assert_eq!(s.id_r(false), None);
        let psks = psk_entries(3, &s.psk).unwrap();
        assert_eq!(psks.len(), 3);
        assert_eq!(psks[2].id.data(), b"client-2.storm.rebound");
        assert!(psks.iter().all(|p| p.tickets && p.secret.ct_eq(&s.psk)));
        let c = s.client_config(&InitiatorConfig::default(), true);
        assert_eq!(c.group, DhGroup::Curve25519);
        assert!(c.request_ticket);
        assert_eq!(c.id_r, Some(gateway_identity()));
    }
}
