//! The multi-buffer SHA-1 against the sha1 crate, kernel by kernel.

use rebound_kernels::sha1::{self as mb, Sha1Kernel, sha1_many, sha1_many_with};
use sha1::{Digest, Sha1};

fn msg(len: usize, seed: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i.wrapping_mul(31) ^ seed.wrapping_mul(0x9d)) as u8)
        .collect()
}

fn check(k: Option<Sha1Kernel>, msgs: &[Vec<u8>]) {
    // Split each message in two at a point that depends on its length.
    let parts: Vec<[&[u8]; 2]> = msgs
        .iter()
        .map(|m| {
            let c = (m.len() * 5 / 7).min(m.len());
            [&m[..c], &m[c..]]
        })
        .collect();
    let refs: Vec<&[&[u8]]> = parts.iter().map(|p| p.as_slice()).collect();
    let mut out = vec![[0u8; 20]; msgs.len()];
    match k {
        Some(k) => sha1_many_with(k, &refs, &mut out),
        None => sha1_many(&refs, &mut out),
    }
    for (i, m) in msgs.iter().enumerate() {
        let want: [u8; 20] = Sha1::digest(m).into();
        assert_eq!(
            out[i],
            want,
            "kernel {k:?}, message {i} of {} bytes",
            m.len()
        );
    }
}

#[test]
fn every_length_0_to_300_and_batch_sizes() {
    for k in Sha1Kernel::available().map(Some).chain([None]) {
        let msgs: Vec<Vec<u8>> = (0..=300).map(|l| msg(l, l)).collect();
        check(k, &msgs);
        for n in 1..=20 {
            let msgs: Vec<Vec<u8>> = (0..n).map(|i| msg((i * 37 + n) % 150, i)).collect();
            check(k, &msgs);
        }
    }
}

#[test]
fn fips_examples() {
    let abc: &[&[u8]] = &[b"abc"];
    let two: &[&[u8]] = &[b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"];
    let want = [
        "a9993e364706816aba3e25717850c26c9cd0d89d",
        "84983e441c3bd26ebaae4aa1f95129e5e54670f1",
    ];
    for k in Sha1Kernel::available() {
        let mut out = [[0u8; 20]; 2];
        sha1_many_with(k, &[abc, two], &mut out);
        assert_eq!(hex::encode(out[0]), want[0], "{k:?}");
        assert_eq!(hex::encode(out[1]), want[1], "{k:?}");
    }
}

#[test]
fn print_sha1_calibration() {
    for (k, ns) in mb::calibration().entries() {
        println!("sha1 {:<10} {ns:7.2} ns/block", k.name());
    }
}
