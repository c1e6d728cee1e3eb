//! Stateless cookies (RFC 7296 §2.6), asked for when the half-open SAs
//! exceed a threshold.
//!
//! RFC 7296 §2.6: "a good way to do this is to set the responder cookie to
//! be:
//!
//! `Cookie = <VersionIDofSecret> | Hash(Ni | IPi | SPIi | <secret>)`
//!
//! where <secret> is a randomly generated secret known only to the
//! responder and periodically changed and | indicates concatenation.
//! <VersionIDofSecret> should be changed whenever <secret> is regenerated."
//! And: "the responder should remember the secret ... for a short time
//! after it has changed, and accept cookies computed from either the old
//! or the new secret."
//!
//! A cookie here is [`COOKIE_LEN`] bytes: the secret's one-byte version,
//! then SHA-256 over Ni, the peer's IP address (4 bytes for IPv4, 16 for
//! IPv6), SPIi and the 32-byte secret. A [`CookieJar`] holds the current
//! and the previous secret, so a cookie handed out just before a rotation
//! is still accepted for one more period. The jar reads no clock: the
//! caller passes `now` to [`CookieJar::maybe_rotate`] (the dataplane does
//! so once per burst).

use core::fmt;
use core::net::IpAddr;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::rand::RandomSource;
use crate::time::Timestamp;

/// The length of a cookie: the secret's version byte, then a SHA-256 hash.
pub const COOKIE_LEN: usize = 1 + 32;

/// The length of a cookie secret in bytes.
const SECRET_LEN: usize = 32;

/// One cookie secret and its version, wiped on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
struct CookieSecret {
    version: u8,
    key: [u8; SECRET_LEN],
}

impl CookieSecret {
    fn random(version: u8, rng: &mut dyn RandomSource) -> Self {
        let mut key = [0u8; SECRET_LEN];
        rng.fill(&mut key);
        let secret = Self { version, key };
        key.zeroize();
        secret
    }

    /// `SHA-256(Ni | peer IP | SPIi | secret)`.
    fn hash(&self, ni: &[u8], peer: IpAddr, spi_i: &[u8; 8]) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(ni);
        match peer {
            IpAddr::V4(a) => h.update(a.octets()),
            IpAddr::V6(a) => h.update(a.octets()),
        }
        h.update(spi_i);
        h.update(self.key);
        let out: [u8; 32] = h.finalize_reset().into();
        // The hasher's block buffer may still hold part of the secret, and
        // sha2 0.10 cannot zeroize itself: overwrite it with a fresh state
        // (which has an all-zero buffer) and keep the write from being
        // optimised away.
        h = Sha256::new();
        core::hint::black_box(&mut h);
        out
    }

    fn cookie(&self, ni: &[u8], peer: IpAddr, spi_i: &[u8; 8]) -> [u8; COOKIE_LEN] {
        let mut out = [0u8; COOKIE_LEN];
        out[0] = self.version;
        out[1..].copy_from_slice(&self.hash(ni, peer, spi_i));
        out
    }
}

/// The responder's cookie secrets: the current one and the one before it.
///
/// - [`CookieJar::make`] always uses the current secret.
/// - [`CookieJar::verify`] accepts the current or the previous secret, as
///   the cookie's version byte says, comparing in constant time.
/// - Secrets are wiped on drop; `Debug` shows versions, never secrets.
pub struct CookieJar {
    current: CookieSecret,
    previous: Option<CookieSecret>,
    /// When `current` was made.
    rotated_at: Timestamp,
    period_ms: u64,
}

impl CookieJar {
    /// A jar with a fresh secret (version 0) made at `now`.
    ///
    /// `period_ms`: how often the secret rotates; the previous secret stays
    /// valid for one more period. A period of 0 is taken as 1 ms.
    pub fn new(rng: &mut dyn RandomSource, now: Timestamp, period_ms: u64) -> Self {
        Self {
            current: CookieSecret::random(0, rng),
            previous: None,
            rotated_at: now,
            period_ms: period_ms.max(1),
        }
    }

    /// Rotate when a period has passed since the last rotation (version
    /// wraps around u8): the current secret becomes the previous one and
    /// the one before is forgotten. Returns whether it rotated.
    ///
    /// At most one rotation per call; when two periods or more have passed
    /// the outgoing secret is forgotten too. A clock that goes backwards
    /// causes none.
    pub fn maybe_rotate(&mut self, now: Timestamp, rng: &mut dyn RandomSource) -> bool {
        if now.millis_since(self.rotated_at) < self.period_ms {
            return false;
        }
        let idle = now.millis_since(self.rotated_at);
        let next = CookieSecret::random(self.current.version.wrapping_add(1), rng);
        // The old `previous` is dropped (and wiped) here.
        let current = core::mem::replace(&mut self.current, next);
        // A secret is good for at most two periods: after a long quiet
        // spell (no call for two periods or more) the outgoing secret is
        // stale too, and cookies made with it must not verify.
        self.previous = (idle < 2 * self.period_ms).then_some(current);
        self.rotated_at = now;
        true
    }

    /// The version byte of the current secret, which every new cookie
    /// starts with.
    pub fn version(&self) -> u8 {
        self.current.version
    }

    /// The cookie for an IKE_SA_INIT (or IKE_SESSION_RESUME) request with
    /// nonce `ni` and SPIi `spi_i` from `peer`, made with the current
    /// secret.
    pub fn make(&self, ni: &[u8], peer: IpAddr, spi_i: &[u8; 8]) -> [u8; COOKIE_LEN] {
        self.current.cookie(ni, peer, spi_i)
    }

    /// Whether `cookie` is what [`CookieJar::make`] gave for these inputs
    /// under the current or the previous secret (chosen by the version
    /// byte). Constant-time in the hash; a cookie of the wrong length or
    /// with an unknown version is refused.
    pub fn verify(&self, cookie: &[u8], ni: &[u8], peer: IpAddr, spi_i: &[u8; 8]) -> bool {
        let Some((&version, hash)) = cookie.split_first() else {
            return false;
        };
        if cookie.len() != COOKIE_LEN {
            return false;
        }
        let secret = if version == self.current.version {
            &self.current
        } else {
            match &self.previous {
                Some(p) if p.version == version => p,
                _ => return false,
            }
        };
        let mut expected = secret.hash(ni, peer, spi_i);
        let ok = bool::from(expected.as_slice().ct_eq(hash));
        expected.zeroize();
        ok
    }
}

impl fmt::Debug for CookieJar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CookieJar")
            .field("version", &self.current.version)
            .field(
                "previous_version",
                &self.previous.as_ref().map(|p| p.version),
            )
            .field("rotated_at", &self.rotated_at)
            .field("period_ms", &self.period_ms)
            .field("secrets", &"redacted")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::{Ipv4Addr, Ipv6Addr};

    /// A counter-based generator: each secret differs, runs are repeatable.
    fn rng() -> impl FnMut(&mut [u8]) {
        let mut n = 0u8;
        move |buf: &mut [u8]| {
            for b in buf {
                n = n.wrapping_add(0x3b);
                *b = n;
            }
        }
    }

    const PERIOD: u64 = 60_000;
    const NI: [u8; 32] = [0x11; 32];
    const SPI: [u8; 8] = [1, 2, 3, 4, 5, 6, 7, 8];
    const PEER: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7));

    fn jar(r: &mut dyn RandomSource) -> CookieJar {
        CookieJar::new(r, Timestamp::from_secs(1_700_000_000), PERIOD)
    }

    #[test]
    fn round_trip() {
        let mut r = rng();
        let j = jar(&mut r);
        let c = j.make(&NI, PEER, &SPI);
        assert_eq!(c.len(), COOKIE_LEN);
        assert_eq!(c[0], j.version());
        assert!(j.verify(&c, &NI, PEER, &SPI));
        // Deterministic for the same inputs.
        assert_eq!(c, j.make(&NI, PEER, &SPI));
    }

    #[test]
    fn matches_the_documented_hash() {
        let mut r = rng();
        let j = jar(&mut r);
        let peer = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 9));
        let mut h = Sha256::new();
        h.update(NI);
        h.update(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 9).octets());
        h.update(SPI);
        h.update(j.current.key);
        let mut want = vec![j.version()];
        want.extend_from_slice(&h.finalize());
        assert_eq!(j.make(&NI, peer, &SPI).as_slice(), want.as_slice());
    }

    #[test]
    fn other_inputs_refused() {
        let mut r = rng();
        let j = jar(&mut r);
        let c = j.make(&NI, PEER, &SPI);
        let mut ni = NI;
        ni[31] ^= 1;
        assert!(!j.verify(&c, &ni, PEER, &SPI));
        assert!(!j.verify(&c, &NI[..31], PEER, &SPI));
        let other = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 8));
        assert!(!j.verify(&c, &NI, other, &SPI));
        let mut spi = SPI;
        spi[0] ^= 0x80;
        assert!(!j.verify(&c, &NI, PEER, &spi));
        // The same address as an IPv4-mapped IPv6 address is another peer.
        let mapped = IpAddr::V6(Ipv4Addr::new(192, 0, 2, 7).to_ipv6_mapped());
        assert!(!j.verify(&c, &NI, mapped, &SPI));
        let c6 = j.make(&NI, mapped, &SPI);
        assert!(j.verify(&c6, &NI, mapped, &SPI));
        assert!(!j.verify(&c6, &NI, PEER, &SPI));
        // A changed hash byte or version byte.
        for at in [0, 1, COOKIE_LEN - 1] {
            let mut bad = c;
            bad[at] ^= 1;
            assert!(!j.verify(&bad, &NI, PEER, &SPI), "byte {at}");
        }
        // Another jar's secret.
        let mut r2 = |b: &mut [u8]| b.fill(0xa5);
        let other_jar = jar(&mut r2);
        assert!(!other_jar.verify(&c, &NI, PEER, &SPI));
    }

    #[test]
    fn wrong_length_refused() {
        let mut r = rng();
        let j = jar(&mut r);
        let c = j.make(&NI, PEER, &SPI);
        assert!(!j.verify(&[], &NI, PEER, &SPI));
        assert!(!j.verify(&c[..1], &NI, PEER, &SPI));
        assert!(!j.verify(&c[..COOKIE_LEN - 1], &NI, PEER, &SPI));
        let mut long = c.to_vec();
        long.push(0);
        assert!(!j.verify(&long, &NI, PEER, &SPI));
        long.truncate(COOKIE_LEN);
        assert!(j.verify(&long, &NI, PEER, &SPI));
    }

    #[test]
    fn previous_secret_valid_for_one_more_period() {
        let mut r = rng();
        let t0 = Timestamp::from_secs(1_700_000_000);
        let mut j = CookieJar::new(&mut r, t0, PERIOD);
        let c0 = j.make(&NI, PEER, &SPI);
        // Not yet a period: no rotation.
        assert!(!j.maybe_rotate(t0.plus_millis(PERIOD - 1), &mut r));
        // A clock going backwards: none either.
        assert!(!j.maybe_rotate(Timestamp::from_secs(1), &mut r));
        assert_eq!(j.version(), 0);

        assert!(j.maybe_rotate(t0.plus_millis(PERIOD), &mut r));
        assert_eq!(j.version(), 1);
        let c1 = j.make(&NI, PEER, &SPI);
        assert_ne!(c0, c1);
        assert!(j.verify(&c0, &NI, PEER, &SPI), "previous secret");
        assert!(j.verify(&c1, &NI, PEER, &SPI));
        // The next period counts from the rotation.
        assert!(!j.maybe_rotate(t0.plus_millis(2 * PERIOD - 1), &mut r));

        assert!(j.maybe_rotate(t0.plus_millis(2 * PERIOD), &mut r));
        assert!(!j.verify(&c0, &NI, PEER, &SPI), "two rotations ago");
        assert!(j.verify(&c1, &NI, PEER, &SPI));
        assert!(j.verify(&j.make(&NI, PEER, &SPI), &NI, PEER, &SPI));
    }

    #[test]
    fn a_long_quiet_spell_forgets_the_outgoing_secret_too() {
        let mut r = rng();
        let t0 = Timestamp::from_secs(1_700_000_000);
        let mut j = CookieJar::new(&mut r, t0, PERIOD);
        let c0 = j.make(&NI, PEER, &SPI);
        // One call after 2.5 periods: c0 was made more than two periods
        // ago, so it must not verify although only one rotation ran.
        assert!(j.maybe_rotate(t0.plus_millis(2 * PERIOD + PERIOD / 2), &mut r));
        assert_eq!(j.version(), 1);
        assert!(!j.verify(&c0, &NI, PEER, &SPI));
        assert!(j.verify(&j.make(&NI, PEER, &SPI), &NI, PEER, &SPI));
    }

    #[test]
    fn version_wraps() {
        let mut r = rng();
        let mut j = jar(&mut r);
        let mut t = Timestamp::from_secs(1_700_000_000);
        for _ in 0..255 {
            t = t.plus_millis(PERIOD);
            assert!(j.maybe_rotate(t, &mut r));
        }
        assert_eq!(j.version(), 255);
        let c255 = j.make(&NI, PEER, &SPI);
        t = t.plus_millis(PERIOD);
        assert!(j.maybe_rotate(t, &mut r));
        assert_eq!(j.version(), 0);
        let c0 = j.make(&NI, PEER, &SPI);
        assert_eq!((c255[0], c0[0]), (255, 0));
        assert!(j.verify(&c255, &NI, PEER, &SPI));
        assert!(j.verify(&c0, &NI, PEER, &SPI));
        // A cookie claiming version 254 (two rotations ago) is refused.
        let mut old = c255;
        old[0] = 254;
        assert!(!j.verify(&old, &NI, PEER, &SPI));
    }

    #[test]
    fn zero_period_rotates_every_millisecond() {
        let mut r = rng();
        let t0 = Timestamp::from_secs(1_700_000_000);
        let mut j = CookieJar::new(&mut r, t0, 0);
        assert!(!j.maybe_rotate(t0, &mut r));
        assert!(j.maybe_rotate(t0.plus_millis(1), &mut r));
    }

    #[test]
    fn debug_has_no_secret() {
        let mut fixed = |b: &mut [u8]| b.fill(0xab);
        let mut j = jar(&mut fixed);
        let mut r = rng();
        let t0 = Timestamp::from_secs(1_700_000_000);
        assert!(j.maybe_rotate(t0.plus_millis(PERIOD), &mut r));
        let shown = format!("{j:?} {j:#?}").to_lowercase();
        assert!(shown.contains("redacted"), "{shown}");
        for key in [&j.current.key, &j.previous.as_ref().unwrap().key] {
            let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
            assert!(!shown.contains(&hex[..8]), "{shown}");
            let dec = format!("{}, {}, {}", key[0], key[1], key[2]);
            assert!(!shown.contains(&dec), "{shown}");
        }
        assert!(!shown.contains("171"), "{shown}"); // 0xab
    }
}
