//! When each client starts its resumption: `--arrival burst|ramp:SECS|poisson:RATE`.

use core::fmt;
use core::str::FromStr;

use super::rng::StormRng;

/// The arrival pattern of the reconnect phase.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Arrival {
    /// Every client at the start of the phase (a gateway restart).
    Burst,
    /// Start times spread evenly over `secs` seconds.
    Ramp { secs: f64 },
    /// A Poisson process: exponential inter-arrival times at `rate`
    /// clients per second (seeded).
    Poisson { rate: f64 },
}

/// The longest ramp or schedule accepted: a day.
const MAX_SECS: f64 = 86_400.0;

impl FromStr for Arrival {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s == "burst" {
            return Ok(Arrival::Burst);
        }
        let (kind, value) = s.split_once(':').ok_or_else(|| {
            format!("unknown arrival pattern {s:?}: expected burst, ramp:SECS or poisson:RATE")
        })?;
        let number = |what: &str| -> Result<f64, String> {
            let v: f64 = value
                .parse()
                .map_err(|_| format!("{kind}:{value}: {what} {value:?} is not a number"))?;
            if !v.is_finite() || v <= 0.0 {
                return Err(format!("{kind}:{value}: {what} must be greater than 0"));
            }
            Ok(v)
        };
        match kind {
            "ramp" => {
                let secs = number("the ramp length in seconds")?;
                if secs > MAX_SECS {
                    return Err(format!("ramp:{value}: at most {MAX_SECS} seconds"));
                }
                Ok(Arrival::Ramp { secs })
            }
            "poisson" => Ok(Arrival::Poisson {
                rate: number("the rate in clients per second")?,
            }),
            _ => Err(format!(
                "unknown arrival pattern {kind:?}: expected burst, ramp:SECS or poisson:RATE"
            )),
        }
    }
}

impl fmt::Display for Arrival {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Arrival::Burst => f.write_str("burst"),
            Arrival::Ramp { secs } => write!(f, "ramp:{secs}"),
            Arrival::Poisson { rate } => write!(f, "poisson:{rate}"),
        }
    }
}

impl Arrival {
    /// Each client's start offset from the phase start, in microseconds,
    /// in client order and non-decreasing.
    pub fn schedule(&self, clients: usize, seed: u64) -> Vec<u64> {
        match *self {
            Arrival::Burst => vec![0; clients],
            Arrival::Ramp { secs } => {
                let span = secs * 1e6;
                (0..clients)
                    .map(|i| (span * i as f64 / clients as f64) as u64)
                    .collect()
            }
            Arrival::Poisson { rate } => {
                let mut rng = StormRng::new(seed, 0x0a77_17a1);
                let mut t = 0.0f64;
                (0..clients)
                    .map(|_| {
                        // Inverse transform: -ln(U)/rate with U in (0, 1].
                        let u = 1.0 - rng.next_f64();
                        t += -u.ln() / rate * 1e6;
                        t.min(MAX_SECS * 1e6) as u64
                    })
                    .collect()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_displays() {
        assert_eq!("burst".parse::<Arrival>(), Ok(Arrival::Burst));
        assert_eq!(
            "ramp:2.5".parse::<Arrival>(),
            Ok(Arrival::Ramp { secs: 2.5 })
        );
        assert_eq!(
            "poisson:1000".parse::<Arrival>(),
            Ok(Arrival::Poisson { rate: 1000.0 })
        );
        for s in ["burst", "ramp:3", "poisson:250.5"] {
            assert_eq!(s.parse::<Arrival>().unwrap().to_string(), s);
        }
    }

    #[test]
    fn refuses_bad_patterns_with_a_reason() {
        let e = "ramp:x".parse::<Arrival>().unwrap_err();
        assert!(e.contains("not a number"), "{e}");
        let e = "ramp:0".parse::<Arrival>().unwrap_err();
        assert!(e.contains("greater than 0"), "{e}");
        let e = "poisson:-3".parse::<Arrival>().unwrap_err();
        assert!(e.contains("greater than 0"), "{e}");
        let e = "poisson:inf".parse::<Arrival>().unwrap_err();
        assert!(e.contains("greater than 0"), "{e}");
        let e = "storm".parse::<Arrival>().unwrap_err();
        assert!(e.contains("expected burst"), "{e}");
        let e = "wave:3".parse::<Arrival>().unwrap_err();
        assert!(e.contains("\"wave\""), "{e}");
        assert!("ramp:100000".parse::<Arrival>().is_err());
    }

    #[test]
    fn burst_starts_everyone_at_once() {
        let s = Arrival::Burst.schedule(1000, 1);
        assert_eq!(s.len(), 1000);
        assert!(s.iter().all(|&t| t == 0));
    }

    #[test]
    fn ramp_is_linear_over_its_span() {
        let s = Arrival::Ramp { secs: 2.0 }.schedule(1000, 1);
        assert_eq!(s.len(), 1000);
        assert_eq!(s[0], 0);
        assert!(s.windows(2).all(|w| w[0] <= w[1]));
        assert!(*s.last().unwrap() < 2_000_000);
        assert!(s[500].abs_diff(1_000_000) <= 1);
        // Evenly spaced: every gap is 2 ms (± rounding).
        assert!(s.windows(2).all(|w| (w[1] - w[0]).abs_diff(2000) <= 1));
    }

    #[test]
    fn poisson_is_seeded_and_has_the_right_rate() {
        let rate = 5000.0;
        let n = 20_000;
        let a = Arrival::Poisson { rate }.schedule(n, 9);
        let b = Arrival::Poisson { rate }.schedule(n, 9);
        let c = Arrival::Poisson { rate }.schedule(n, 10);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.len(), n);
        assert!(a.windows(2).all(|w| w[0] <= w[1]));
        // n arrivals at `rate` take n / rate = 4 s on average; the sum of
        // 20,000 exponentials has a relative standard deviation of 0.7 %.
        let end = *a.last().unwrap() as f64 / 1e6;
        assert!((3.8..4.2).contains(&end), "{end}");
        // Exponential gaps: about e^-1 of them exceed the mean gap.
        let mean_gap = 1e6 / rate;
        let long = a
            .windows(2)
            .filter(|w| (w[1] - w[0]) as f64 > mean_gap)
            .count() as f64
            / (n - 1) as f64;
        assert!((0.33..0.41).contains(&long), "{long}");
    }
}
