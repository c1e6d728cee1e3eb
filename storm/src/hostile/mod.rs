//! Hostile traffic alongside the legitimate clients (`--hostile MIX`,
//! issue 16 item 2): forged and replayed tickets, random and truncated
//! datagrams, IKE_SESSION_RESUME floods with one stolen valid ticket or
//! with many valid tickets that never continue to IKE_AUTH, IKE_AUTH with a
//! wrong AUTH, and IKE_SA_INIT at the slow path.
//!
//! Every kind is precomputed into a [`HostilePool`] before phase 3 starts,
//! so sending one costs a copy and an 8-byte SPIi patch (the generator's
//! cost does not decide the result); only `wrong_auth`, which needs the
//! gateway's real IKE_SESSION_RESUME answer, runs a key derivation per
//! answered attempt. The datagrams go out either paced, `x RATE` of them
//! per legitimate datagram from each storm thread, or as a flood
//! (`--hostile-flood N`) from a thread of its own as fast as the sockets
//! take them. The answers are read and counted per kind
//! ([`HostileCounts`]); senders answer N(COOKIE) with the cookie, as a
//! determined attacker would.
//!
//! | module | concept |
//! | --- | --- |
//! | `mix` | [`HostileKind`], [`HostileMix`]: what is sent, in which shares |
//! | `pool` | [`HostilePool`]: the precomputed datagrams |
//! | `sender` | [`HostileSender`]: sockets, pacing, answers, cookies |

mod mix;
mod pool;
mod revoke;
mod sender;

pub use mix::{HostileKind, HostileMix, KINDS, MAX_RATE, check_rate};
pub use pool::{HostilePool, PoolInputs};
pub use revoke::{RevokeInputs, revoke};
pub use sender::{FloodOutcome, HostileSender, MAX_SOURCES, flood, source_addresses};

use std::collections::BTreeMap;

use serde::Serialize;

/// What one kind of hostile datagram got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct KindCounts {
    /// Datagrams sent (cookie retries included).
    pub sent: u64,
    /// Of those, requests resent with the cookie the gateway asked for.
    pub cookie_retries: u64,
    /// Answers from the gateway.
    pub answers: u64,
    /// TICKET_NACK answers.
    pub nacks: u64,
    /// N(COOKIE) answers.
    pub cookies: u64,
    /// IKE_SESSION_RESUME answered with a responder SPI and Nr: a
    /// half-open SA. Expected for `stolen` and `halfopen`, and for
    /// `wrong_auth` before its IKE_AUTH; **must be 0** for `forged` and
    /// `replayed`.
    pub accepted: u64,
    /// IKE_SA_INIT answered with the slow path's response (`init`).
    pub init_answers: u64,
    /// `wrong_auth`: IKE_AUTH refused (AUTHENTICATION_FAILED or another
    /// failure the initiator saw).
    pub auth_refused: u64,
    /// `wrong_auth`: IKE_AUTH accepted with a wrong AUTH. **Must be 0.**
    pub established: u64,
    /// Answers of another form.
    pub other: u64,
}

impl KindCounts {
    fn add(&mut self, o: &KindCounts) {
        self.sent += o.sent;
        self.cookie_retries += o.cookie_retries;
        self.answers += o.answers;
        self.nacks += o.nacks;
        self.cookies += o.cookies;
        self.accepted += o.accepted;
        self.init_answers += o.init_answers;
        self.auth_refused += o.auth_refused;
        self.established += o.established;
        self.other += o.other;
    }
}

/// What every hostile kind got, and the answers no kind claimed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HostileCounts {
    pub kinds: [KindCounts; KINDS],
    /// Answers whose SPIi named no hostile kind.
    pub unmatched: u64,
}

impl HostileCounts {
    pub fn add(&mut self, o: &HostileCounts) {
        for (a, b) in self.kinds.iter_mut().zip(&o.kinds) {
            a.add(b);
        }
        self.unmatched += o.unmatched;
    }

    pub fn get(&self, k: HostileKind) -> &KindCounts {
        &self.kinds[k as usize]
    }

    fn get_mut(&mut self, k: HostileKind) -> &mut KindCounts {
        &mut self.kinds[k as usize]
    }

    /// Datagrams sent, all kinds.
    pub fn sent(&self) -> u64 {
        self.kinds.iter().map(|k| k.sent).sum()
    }
}

/// The hostile traffic of a storm, for the report.
#[derive(Debug, Clone, Serialize)]
pub struct HostileReport {
    /// The mix as given (`forged=1,stolen=2,...`).
    pub mix: String,
    /// Paced: hostile datagrams per legitimate datagram.
    pub rate: Option<f64>,
    /// Flood: datagrams sent by the flood thread (without cookie retries).
    pub flood: Option<u64>,
    /// Flood: its cap in datagrams per second, if it had one.
    pub flood_rate: Option<f64>,
    /// Source addresses the hostile sockets bound.
    pub sources: usize,
    /// Valid tickets behind `halfopen`.
    pub tickets: usize,
    /// Tickets resumed before phase 3 to be replayed in it (`replayed`).
    pub replay_tickets: u64,
    /// SAs resumed and deleted before phase 3, whose new tickets
    /// `revoked` presents.
    pub revoked_tickets: u64,
    /// Seconds the flood thread sent for.
    pub flood_secs: Option<f64>,
    /// Legitimate datagrams phase 3 sent (the base of the rate).
    pub legit_datagrams: u64,
    /// Hostile datagrams sent, all kinds.
    pub sent: u64,
    /// Per kind that was in the mix.
    pub kinds: BTreeMap<String, KindCounts>,
    /// Answers on hostile sockets that named no hostile exchange.
    pub unmatched: u64,
}

impl HostileReport {
    pub fn new(mix: &HostileMix, counts: &HostileCounts) -> Self {
        HostileReport {
            mix: mix.to_string(),
            rate: None,
            flood: None,
            flood_rate: None,
            sources: 1,
            tickets: 0,
            replay_tickets: 0,
            revoked_tickets: 0,
            flood_secs: None,
            legit_datagrams: 0,
            sent: counts.sent(),
            kinds: HostileKind::ALL
                .iter()
                .filter(|&&k| mix.weight(k) > 0 || counts.get(k).sent > 0)
                .map(|&k| (k.label().to_string(), *counts.get(k)))
                .collect(),
            unmatched: counts.unmatched,
        }
    }

    /// One kind's counts (zeros when it was not in the mix).
    pub fn kind(&self, k: HostileKind) -> KindCounts {
        self.kinds.get(k.label()).copied().unwrap_or_default()
    }
}
