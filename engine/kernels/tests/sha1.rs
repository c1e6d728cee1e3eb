//! SHA-1 of padded single blocks against the sha1 crate, kernel by kernel.

use ::sha1::{Digest, Sha1};
use rebound_kernels::cpu;
use rebound_kernels::sha1::{self, Sha1Kernel, sha1_one_block_many, sha1_one_block_many_with};

mod common;
use common::Rng;

/// `m` (at most 55 bytes) padded to one block (FIPS 180-4 §5.1.1).
fn pad(m: &[u8]) -> [u8; 64] {
    assert!(m.len() <= 55);
    let mut b = [0u8; 64];
    b[..m.len()].copy_from_slice(m);
    b[m.len()] = 0x80;
    b[56..].copy_from_slice(&(m.len() as u64 * 8).to_be_bytes());
    b
}

/// Hashes `msgs` with `k` (None: the calibrated choice) and compares with
/// the sha1 crate.
fn check(k: Option<Sha1Kernel>, msgs: &[Vec<u8>]) {
    let blocks: Vec<[u8; 64]> = msgs.iter().map(|m| pad(m)).collect();
    let mut out = vec![[0u8; 20]; msgs.len()];
    match k {
        Some(k) => sha1_one_block_many_with(k, &blocks, &mut out),
        None => sha1_one_block_many(&blocks, &mut out),
    }
    for (i, m) in msgs.iter().enumerate() {
        let want: [u8; 20] = Sha1::digest(m).into();
        assert_eq!(
            out[i],
            want,
            "kernel {k:?}, message {i} of {} in a batch of {}",
            m.len(),
            msgs.len()
        );
    }
}

fn kernels() -> Vec<Option<Sha1Kernel>> {
    Sha1Kernel::available().map(Some).chain([None]).collect()
}

#[test]
fn every_length_0_to_55() {
    let mut rng = Rng(1);
    for k in kernels() {
        // Each length alone, and in a full batch of 17 of that length.
        for len in 0..=55 {
            check(k, &[rng.bytes(len)]);
            let msgs: Vec<Vec<u8>> = (0..17).map(|_| rng.bytes(len)).collect();
            check(k, &msgs);
        }
        // Every length in one batch.
        let msgs: Vec<Vec<u8>> = (0..=55).map(|len| rng.bytes(len)).collect();
        check(k, &msgs);
    }
}

#[test]
fn every_batch_size_1_to_64_mixed_lengths() {
    let mut rng = Rng(2);
    for k in kernels() {
        for n in 1..=64 {
            let msgs: Vec<Vec<u8>> = (0..n)
                .map(|_| {
                    let l = rng.below(56);
                    rng.bytes(l)
                })
                .collect();
            check(k, &msgs);
        }
    }
}

#[test]
fn fips_180_abc() {
    let want: [u8; 20] = hex::decode("a9993e364706816aba3e25717850c26c9cd0d89d")
        .unwrap()
        .try_into()
        .unwrap();
    assert_eq!(<[u8; 20]>::from(Sha1::digest(b"abc")), want);
    for k in kernels() {
        for n in [1, 16, 20] {
            let blocks = vec![pad(b"abc"); n];
            let mut out = vec![[0u8; 20]; n];
            match k {
                Some(k) => sha1_one_block_many_with(k, &blocks, &mut out),
                None => sha1_one_block_many(&blocks, &mut out),
            }
            assert!(out.iter().all(|o| *o == want), "kernel {k:?}, batch {n}");
        }
    }
}

#[test]
fn empty_batch() {
    for k in kernels() {
        match k {
            Some(k) => sha1_one_block_many_with(k, &[], &mut []),
            None => sha1_one_block_many(&[], &mut []),
        }
    }
}

#[test]
fn calibration_covers_the_available_kernels() {
    let c = sha1::calibration();
    for k in Sha1Kernel::ALL {
        assert_eq!(c.ns_per_block(k).is_some(), k.is_available(), "{k:?}");
    }
    assert!(c.chosen().is_available());
    for n in 1..=sha1::MAX_LANES {
        assert!(c.best_for(n).is_available());
    }
    if cpu::forced_portable() {
        assert_eq!(c.chosen(), Sha1Kernel::Portable);
        assert_eq!(Sha1Kernel::available().count(), 1);
    }
}

#[test]
#[should_panic(expected = "one digest per block")]
fn length_mismatch_panics() {
    sha1_one_block_many(&[[0u8; 64]; 2], &mut [[0u8; 20]; 1]);
}
