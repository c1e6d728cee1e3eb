//! The fault injector: drops outgoing and incoming datagrams and duplicates
//! outgoing ones, each with its own probability, from a seeded generator,
//! so the initiators' retransmission and the gateway's retransmission
//! handling are exercised under a storm.

use serde::Serialize;

use super::rng::StormRng;

/// What the injector does, as probabilities in `[0, 1)`.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct FaultConfig {
    /// Each datagram, either way, is lost with this probability.
    pub drop: f64,
    /// Each outgoing datagram that is not lost is sent twice with this
    /// probability.
    pub dup: f64,
}

impl FaultConfig {
    /// Whether anything is injected at all.
    pub fn is_active(&self) -> bool {
        self.drop > 0.0 || self.dup > 0.0
    }

    /// Checks both probabilities.
    pub fn validate(&self) -> Result<(), String> {
        check_probability("--drop", self.drop)?;
        check_probability("--dup", self.dup)
    }
}

/// `p` must be a probability below 1 (at 1 nothing would get through).
pub fn check_probability(what: &str, p: f64) -> Result<(), String> {
    if !(0.0..1.0).contains(&p) {
        return Err(format!(
            "{what} {p}: a probability is at least 0 and below 1 (e.g. 0.01 for 1 %)"
        ));
    }
    Ok(())
}

/// What the injector did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct FaultCounts {
    /// Outgoing datagrams not sent.
    pub dropped_out: u64,
    /// Received datagrams discarded before the initiator saw them.
    pub dropped_in: u64,
    /// Outgoing datagrams sent twice.
    pub duplicated: u64,
}

impl FaultCounts {
    pub fn add(&mut self, o: &FaultCounts) {
        self.dropped_out += o.dropped_out;
        self.dropped_in += o.dropped_in;
        self.duplicated += o.duplicated;
    }
}

/// One storm thread's injector.
#[derive(Debug, Clone)]
pub struct FaultInjector {
    config: FaultConfig,
    rng: StormRng,
    counts: FaultCounts,
}

impl FaultInjector {
    pub fn new(config: FaultConfig, seed: u64, stream: u64) -> Self {
        FaultInjector {
            config,
            rng: StormRng::new(seed, stream),
            counts: FaultCounts::default(),
        }
    }

    /// How many copies of an outgoing datagram to send: 0 (lost), 1, or 2
    /// (duplicated).
    pub fn outgoing(&mut self) -> usize {
        if !self.config.is_active() {
            return 1;
        }
        if self.rng.chance(self.config.drop) {
            self.counts.dropped_out += 1;
            return 0;
        }
        if self.rng.chance(self.config.dup) {
            self.counts.duplicated += 1;
            return 2;
        }
        1
    }

    /// Whether a received datagram is delivered.
    pub fn incoming(&mut self) -> bool {
        if self.rng.chance(self.config.drop) {
            self.counts.dropped_in += 1;
            return false;
        }
        true
    }

    pub fn counts(&self) -> FaultCounts {
        self.counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inactive_injector_passes_everything() {
        let mut f = FaultInjector::new(FaultConfig::default(), 1, 0);
        for _ in 0..10_000 {
            assert_eq!(f.outgoing(), 1);
            assert!(f.incoming());
        }
        assert_eq!(f.counts(), FaultCounts::default());
    }

    #[test]
    fn rates_match_the_probabilities() {
        let n = 200_000u64;
        let cfg = FaultConfig {
            drop: 0.05,
            dup: 0.10,
        };
        let mut f = FaultInjector::new(cfg, 1234, 7);
        let mut sent = 0u64;
        let mut delivered = 0u64;
        for _ in 0..n {
            sent += f.outgoing() as u64;
            delivered += u64::from(f.incoming());
        }
        let c = f.counts();
        let rate = |k: u64, of: u64| k as f64 / of as f64;
        // Standard deviations are about 0.05 % and 0.07 %: ±0.5 % is
        // generous.
        assert!((0.045..0.055).contains(&rate(c.dropped_out, n)), "{c:?}");
        assert!((0.045..0.055).contains(&rate(c.dropped_in, n)), "{c:?}");
        let kept = n - c.dropped_out;
        assert!((0.095..0.105).contains(&rate(c.duplicated, kept)), "{c:?}");
        assert_eq!(sent, kept + c.duplicated);
        assert_eq!(delivered, n - c.dropped_in);
    }

    #[test]
    fn the_same_seed_injects_the_same_faults() {
        let cfg = FaultConfig {
            drop: 0.3,
            dup: 0.3,
        };
        let run = |seed| {
            let mut f = FaultInjector::new(cfg, seed, 0);
            (0..1000).map(|_| f.outgoing()).collect::<Vec<_>>()
        };
        assert_eq!(run(5), run(5));
        assert_ne!(run(5), run(6));
    }

    #[test]
    fn probabilities_are_checked() {
        assert!(check_probability("--drop", 0.0).is_ok());
        assert!(check_probability("--drop", 0.999).is_ok());
        let e = check_probability("--drop", 1.5).unwrap_err();
        assert!(e.contains("--drop 1.5"), "{e}");
        assert!(check_probability("--dup", -0.1).is_err());
        assert!(check_probability("--dup", 1.0).is_err());
        assert!(check_probability("--dup", f64::NAN).is_err());
    }
}
