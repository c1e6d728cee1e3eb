//! Injected randomness. The engine never reaches for a global RNG: callers
//! pass a [`RandomSource`] (the dataplane's is the OS generator; tests use
//! deterministic ones).

/// A source of random bytes. Implementations used outside tests must be
/// cryptographically secure: ticket ids double as AES-GCM nonces.
pub trait RandomSource {
    /// Fill `buf` with random bytes.
    fn fill(&mut self, buf: &mut [u8]);
}

impl<F: FnMut(&mut [u8])> RandomSource for F {
    fn fill(&mut self, buf: &mut [u8]) {
        self(buf)
    }
}
