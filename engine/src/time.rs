//! The engine's notion of time: whatever the caller's clock says.
//!
//! The engine never reads a clock. Every entry point takes `now` as a
//! [`Timestamp`] (milliseconds since the Unix epoch), so tests drive a
//! virtual clock and the dataplane reads the real one once per burst.

use crate::ticket::UnixSeconds;

/// Milliseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// `secs` seconds after the epoch.
    pub const fn from_secs(secs: u64) -> Self {
        Timestamp(secs.saturating_mul(1000))
    }

    /// `ms` milliseconds after the epoch.
    pub const fn from_millis(ms: u64) -> Self {
        Timestamp(ms)
    }

    /// Milliseconds since the epoch.
    pub const fn millis(self) -> u64 {
        self.0
    }

    /// Whole seconds since the epoch (tickets and key windows count in
    /// seconds).
    pub const fn secs(self) -> UnixSeconds {
        self.0 / 1000
    }

    /// This instant plus `ms` milliseconds (saturating).
    pub const fn plus_millis(self, ms: u64) -> Self {
        Timestamp(self.0.saturating_add(ms))
    }

    /// Milliseconds from `earlier` to `self`, or 0 if `earlier` is later.
    pub const fn millis_since(self, earlier: Timestamp) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions() {
        let t = Timestamp::from_secs(1_700_000_000).plus_millis(1_999);
        assert_eq!(t.secs(), 1_700_000_001);
        assert_eq!(t.millis(), 1_700_000_001_999);
        assert_eq!(t.millis_since(Timestamp::from_secs(1_700_000_000)), 1_999);
        assert_eq!(Timestamp(5).millis_since(Timestamp(9)), 0);
        assert_eq!(Timestamp(u64::MAX).plus_millis(1), Timestamp(u64::MAX));
    }
}
