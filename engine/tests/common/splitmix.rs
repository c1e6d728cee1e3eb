//! SplitMix64 (Steele, Lea and Flood, 2014): the tests' deterministic
//! generator, so a failing run reproduces. Never a key's source outside
//! tests: it is not cryptographic.

// Each test binary uses a part of this module.
#![allow(dead_code)]

/// The generator; the field is the state (the seed at first).
pub struct SplitMix(pub u64);

impl SplitMix {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// `N` "random-looking" bytes, one step per byte (its low byte).
    pub fn take<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        for b in &mut out {
            *b = self.next_u64() as u8;
        }
        out
    }

    /// Fill `out`, eight big-endian bytes per step.
    pub fn fill(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(8) {
            chunk.copy_from_slice(&self.next_u64().to_be_bytes()[..chunk.len()]);
        }
    }
}
