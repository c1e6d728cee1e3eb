//! What the hostile traffic is made of: [`HostileKind`] and the shares of
//! each in a [`HostileMix`] (`--hostile forged=1,stolen=2,x5`).

use std::fmt;
use std::str::FromStr;

/// The hostile kinds.
pub const KINDS: usize = 9;

/// One kind of hostile datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HostileKind {
    /// IKE_SESSION_RESUME with a forged ticket: random bytes, or a real
    /// ticket with one bit flipped. Must be refused (TICKET_NACK).
    Forged = 0,
    /// IKE_SESSION_RESUME with a ticket that already resumed an SA earlier
    /// in this storm. Must be refused (RFC 5723 §4.3.1, single use).
    Replayed = 1,
    /// 1 to 600 random bytes.
    Random = 2,
    /// A real IKE_SESSION_RESUME request cut short.
    Truncated = 3,
    /// IKE_SESSION_RESUME with one stolen valid ticket, a fresh SPIi each
    /// time, never followed by IKE_AUTH (RFC 5723 §9.3).
    Stolen = 4,
    /// IKE_SESSION_RESUME with many valid tickets (`--hostile-tickets`),
    /// never followed by IKE_AUTH: half-open state from many sources.
    Halfopen = 5,
    /// A real IKE_SESSION_RESUME exchange whose IKE_AUTH carries a wrong
    /// AUTH (the keys are right, so it passes the integrity check). Must
    /// be refused.
    WrongAuth = 6,
    /// A real IKE_SA_INIT (a fresh SPIi, a precomputed KE) at the slow path.
    Init = 7,
    /// IKE_SESSION_RESUME with a ticket the gateway revoked: issued to an
    /// SA its client then deleted (RFC 5723 §6.2, with the gateway's
    /// `revoke_on_delete`), never used. Must be refused.
    Revoked = 8,
}

impl HostileKind {
    pub const ALL: [HostileKind; KINDS] = [
        HostileKind::Forged,
        HostileKind::Replayed,
        HostileKind::Random,
        HostileKind::Truncated,
        HostileKind::Stolen,
        HostileKind::Halfopen,
        HostileKind::WrongAuth,
        HostileKind::Init,
        HostileKind::Revoked,
    ];

    pub const fn label(self) -> &'static str {
        match self {
            HostileKind::Forged => "forged",
            HostileKind::Replayed => "replayed",
            HostileKind::Random => "random",
            HostileKind::Truncated => "truncated",
            HostileKind::Stolen => "stolen",
            HostileKind::Halfopen => "halfopen",
            HostileKind::WrongAuth => "wrong_auth",
            HostileKind::Init => "init",
            HostileKind::Revoked => "revoked",
        }
    }

    /// The first byte of the SPIi of this kind's datagrams, by which an
    /// answer is matched to its kind.
    pub const fn tag(self) -> u8 {
        0xb0 + self as u8
    }

    pub fn from_tag(b: u8) -> Option<HostileKind> {
        Self::ALL.get(usize::from(b.checked_sub(0xb0)?)).copied()
    }

    /// Kinds that carry a valid ticket the gateway must be able to open:
    /// they need the key ring (or tickets from the gateway).
    pub const fn needs_valid_tickets(self) -> bool {
        matches!(
            self,
            HostileKind::Replayed
                | HostileKind::Revoked
                | HostileKind::Stolen
                | HostileKind::Halfopen
                | HostileKind::WrongAuth
        )
    }
}

/// The shares of each kind, and optionally the rate (`xRATE`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HostileMix {
    weights: [u32; KINDS],
    /// Hostile datagrams per legitimate datagram, when the mix says
    /// (`x5`); `--hostile-rate` otherwise.
    pub rate: Option<f64>,
}

/// The largest weight of one kind.
const MAX_WEIGHT: u32 = 1000;
/// The largest rate: hostile datagrams per legitimate one.
pub const MAX_RATE: f64 = 1000.0;

impl HostileMix {
    /// One kind alone.
    pub fn only(k: HostileKind) -> Self {
        let mut weights = [0; KINDS];
        weights[k as usize] = 1;
        HostileMix {
            weights,
            rate: None,
        }
    }

    pub fn weight(&self, k: HostileKind) -> u32 {
        self.weights[k as usize]
    }

    pub fn total(&self) -> u32 {
        self.weights.iter().sum()
    }

    /// The kinds with a share, in order.
    pub fn kinds(&self) -> impl Iterator<Item = HostileKind> + '_ {
        HostileKind::ALL.into_iter().filter(|&k| self.weight(k) > 0)
    }

    /// The kind whose share holds `x` (`0 <= x < total`).
    pub fn pick(&self, mut x: u32) -> HostileKind {
        for k in HostileKind::ALL {
            let w = self.weight(k);
            if x < w {
                return k;
            }
            x -= w;
        }
        HostileKind::Random
    }
}

/// Checks a hostile rate (`x5`, `--hostile-rate 5`).
pub fn check_rate(what: &str, r: f64) -> Result<f64, String> {
    if !r.is_finite() || r <= 0.0 || r > MAX_RATE {
        return Err(format!(
            "{what} {r}: hostile datagrams per legitimate one, above 0 and at most {MAX_RATE}"
        ));
    }
    Ok(r)
}

impl FromStr for HostileMix {
    type Err = String;

    /// `KIND[=WEIGHT],...[,xRATE]`, or `all` (every kind, weight 1). A kind
    /// without a weight has weight 1.
    fn from_str(s: &str) -> Result<Self, String> {
        let known = || {
            HostileKind::ALL
                .iter()
                .map(|k| k.label())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut mix = HostileMix {
            weights: [0; KINDS],
            rate: None,
        };
        for item in s.split(',').map(str::trim) {
            if item.is_empty() {
                return Err(format!("--hostile {s:?}: an empty item"));
            }
            if let Some(r) = item.strip_prefix('x') {
                let r: f64 = r.parse().map_err(|_| {
                    format!("--hostile {s:?}: {item:?} is not xRATE (e.g. x5: five hostile datagrams per legitimate one)")
                })?;
                if mix.rate.replace(check_rate("--hostile x", r)?).is_some() {
                    return Err(format!("--hostile {s:?}: the rate is given twice"));
                }
                continue;
            }
            let (name, weight) = match item.split_once('=') {
                Some((n, w)) => {
                    let w: u32 = w.trim().parse().map_err(|_| {
                        format!("--hostile {s:?}: the weight of {n} is not a whole number")
                    })?;
                    (n.trim(), w)
                }
                None => (item, 1),
            };
            if weight > MAX_WEIGHT {
                return Err(format!(
                    "--hostile {s:?}: weight {weight} of {name} is above {MAX_WEIGHT}"
                ));
            }
            if name == "all" {
                mix.weights = [weight; KINDS];
                continue;
            }
            let Some(k) = HostileKind::ALL.iter().find(|k| k.label() == name) else {
                return Err(format!(
                    "--hostile {s:?}: unknown kind {name:?}; known: {}, all",
                    known()
                ));
            };
            mix.weights[*k as usize] = weight;
        }
        if mix.total() == 0 {
            return Err(format!(
                "--hostile {s:?}: no kind has a weight above 0; known: {}",
                known()
            ));
        }
        Ok(mix)
    }
}

impl fmt::Display for HostileMix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for k in self.kinds() {
            if !first {
                f.write_str(",")?;
            }
            first = false;
            write!(f, "{}={}", k.label(), self.weight(k))?;
        }
        if let Some(r) = self.rate {
            write!(f, ",x{r}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixes_parse_and_print() {
        let m: HostileMix = "forged=1,replayed=2,stolen,x5".parse().unwrap();
        assert_eq!(m.weight(HostileKind::Forged), 1);
        assert_eq!(m.weight(HostileKind::Replayed), 2);
        assert_eq!(m.weight(HostileKind::Stolen), 1);
        assert_eq!(m.weight(HostileKind::Init), 0);
        assert_eq!(m.rate, Some(5.0));
        assert_eq!(m.to_string(), "forged=1,replayed=2,stolen=1,x5");
        assert_eq!(m.pick(0), HostileKind::Forged);
        assert_eq!(m.pick(1), HostileKind::Replayed);
        assert_eq!(m.pick(2), HostileKind::Replayed);
        assert_eq!(m.pick(3), HostileKind::Stolen);
        let all: HostileMix = "all,init=0".parse().unwrap();
        assert_eq!(all.total(), 8);
        assert_eq!(all.weight(HostileKind::Revoked), 1);
        assert_eq!(all.rate, None);
        for k in HostileKind::ALL {
            assert_eq!(HostileKind::from_tag(k.tag()), Some(k));
        }
        assert_eq!(HostileKind::from_tag(0), None);
        assert_eq!(HostileKind::from_tag(0xb9), None);
    }

    #[test]
    fn bad_mixes_say_why() {
        let cases = [
            ("", "an empty item"),
            ("forged,,stolen", "an empty item"),
            ("bogus=1", "unknown kind \"bogus\""),
            ("forged=x", "not a whole number"),
            ("forged=0", "no kind has a weight"),
            ("forged=1001", "above 1000"),
            ("forged,xfive", "not xRATE"),
            ("forged,x0", "above 0"),
            ("forged,x1e9", "at most 1000"),
            ("forged,x2,x3", "given twice"),
        ];
        for (s, want) in cases {
            let e = s.parse::<HostileMix>().unwrap_err();
            assert!(e.contains(want), "{s:?}: {e}");
        }
    }
}
