//! Batched HMAC-SHA256 and prf+ against the hmac crate, kernel by kernel.

use hmac::{Hmac, Mac};
use rebound_kernels::hmac::{
    HmacSha256Key, PRF_PLUS_MAX, hmac_many, hmac_many_raw, hmac_many_raw_with, hmac_many_with,
    prf_plus_many, prf_plus_many_with,
};
use rebound_kernels::sha256::Sha256Kernel;
use sha2::Sha256;

mod common;
use common::Rng;

/// Cuts `m` into 1 to 3 parts at random places.
fn split<'a>(rng: &mut Rng, m: &'a [u8]) -> Vec<&'a [u8]> {
    let mut at = [rng.below(m.len() + 1), rng.below(m.len() + 1)];
    at.sort_unstable();
    match rng.below(3) {
        0 => vec![m],
        1 => vec![&m[..at[0]], &m[at[0]..]],
        _ => vec![&m[..at[0]], &m[at[0]..at[1]], &m[at[1]..]],
    }
}

fn reference(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(msg);
    mac.finalize().into_bytes().into()
}

/// All the kernels, then None: the calibrated choice.
fn kernels() -> Vec<Option<Sha256Kernel>> {
    Sha256Kernel::available().map(Some).chain([None]).collect()
}

/// MACs of `keys[i]`, `msgs[i]` by the precomputed-key and the raw forms,
/// checked against the hmac crate.
fn check(rng: &mut Rng, k: Option<Sha256Kernel>, keys: &[Vec<u8>], msgs: &[Vec<u8>]) {
    let key_refs: Vec<&[u8]> = keys.iter().map(|k| k.as_slice()).collect();
    let mut states = vec![HmacSha256Key::default(); keys.len()];
    match k {
        Some(k) => HmacSha256Key::new_many_with(k, &key_refs, &mut states),
        None => HmacSha256Key::new_many(&key_refs, &mut states),
    }
    let state_refs: Vec<&HmacSha256Key> = states.iter().collect();
    let parts: Vec<Vec<&[u8]>> = msgs.iter().map(|m| split(rng, m)).collect();
    let msg_refs: Vec<&[&[u8]]> = parts.iter().map(|p| p.as_slice()).collect();
    let mut out = vec![[0u8; 32]; msgs.len()];
    let mut raw = vec![[0u8; 32]; msgs.len()];
    match k {
        Some(k) => {
            hmac_many_with(k, &state_refs, &msg_refs, &mut out);
            hmac_many_raw_with(k, &key_refs, &msg_refs, &mut raw);
        }
        None => {
            hmac_many(&state_refs, &msg_refs, &mut out);
            hmac_many_raw(&key_refs, &msg_refs, &mut raw);
        }
    }
    for i in 0..msgs.len() {
        let want = reference(&keys[i], &msgs[i]);
        let what = format!(
            "kernel {k:?}, key {} bytes, message {} bytes",
            keys[i].len(),
            msgs[i].len()
        );
        assert_eq!(out[i], want, "{what}");
        assert_eq!(raw[i], want, "raw, {what}");
        assert_eq!(
            HmacSha256Key::new(&keys[i]).mac(&parts[i]),
            want,
            "single, {what}"
        );
    }
}

#[test]
fn every_key_length_0_to_130_and_message_length_0_to_300() {
    let mut rng = Rng(11);
    for k in kernels() {
        // Every key length, the message lengths spread over 0..=300.
        let keys: Vec<Vec<u8>> = (0..=130).map(|l| rng.bytes(l)).collect();
        let msgs: Vec<Vec<u8>> = (0..=130).map(|i| rng.bytes(i * 7 % 301)).collect();
        check(&mut rng, k, &keys, &msgs);
        // Every message length, the key lengths spread over 0..=130.
        let keys: Vec<Vec<u8>> = (0..=300).map(|i| rng.bytes(i * 13 % 131)).collect();
        let msgs: Vec<Vec<u8>> = (0..=300).map(|l| rng.bytes(l)).collect();
        check(&mut rng, k, &keys, &msgs);
    }
}

#[test]
fn batch_sizes_1_to_70_mixed_keys() {
    let mut rng = Rng(12);
    for k in kernels() {
        for n in 1..=70 {
            let keys: Vec<Vec<u8>> = (0..n)
                .map(|_| {
                    let l = rng.below(131);
                    rng.bytes(l)
                })
                .collect();
            let msgs: Vec<Vec<u8>> = (0..n)
                .map(|_| {
                    let l = rng.below(301);
                    rng.bytes(l)
                })
                .collect();
            check(&mut rng, k, &keys, &msgs);
        }
    }
}

#[test]
fn rfc4231_test_cases_1_to_7() {
    let tc4_key: Vec<u8> = (1..=25).collect();
    let cases: [(Vec<u8>, Vec<u8>, &str); 7] = [
        (vec![0x0b; 20], b"Hi There".to_vec(), "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
        (b"Jefe".to_vec(), b"what do ya want for nothing?".to_vec(), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
        (vec![0xaa; 20], vec![0xdd; 50], "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"),
        (tc4_key, vec![0xcd; 50], "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"),
        // Test case 5 gives the output truncated to 128 bits.
        (vec![0x0c; 20], b"Test With Truncation".to_vec(), "a3b6167473100ee06e0c796c2955552b"),
        (vec![0xaa; 131], b"Test Using Larger Than Block-Size Key - Hash Key First".to_vec(), "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
        (
            vec![0xaa; 131],
            b"This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.".to_vec(),
            "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
        ),
    ];
    let key_refs: Vec<&[u8]> = cases.iter().map(|c| c.0.as_slice()).collect();
    let parts: Vec<[&[u8]; 1]> = cases.iter().map(|c| [c.1.as_slice()]).collect();
    let msg_refs: Vec<&[&[u8]]> = parts.iter().map(|p| p.as_slice()).collect();
    for (key, msg, want) in &cases {
        let want = hex::decode(want).unwrap();
        assert_eq!(reference(key, msg)[..want.len()], want[..]);
    }
    for k in kernels() {
        let mut out = [[0u8; 32]; 7];
        match k {
            Some(k) => hmac_many_raw_with(k, &key_refs, &msg_refs, &mut out),
            None => hmac_many_raw(&key_refs, &msg_refs, &mut out),
        }
        for (o, (_, _, want)) in out.iter().zip(&cases) {
            let want = hex::decode(want).unwrap();
            assert_eq!(o[..want.len()], want[..], "kernel {k:?}");
        }
    }
}

/// prf+ as RFC 7296 §2.13 writes it, with the hmac crate.
fn prf_plus_reference(key: &[u8], seed: &[u8], len: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut t: Vec<u8> = Vec::new();
    let mut n = 1u8;
    while out.len() < len {
        let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
        mac.update(&t);
        mac.update(seed);
        mac.update(&[n]);
        t = mac.finalize().into_bytes().to_vec();
        out.extend_from_slice(&t);
        n = n.wrapping_add(1);
    }
    out.truncate(len);
    out
}

#[test]
fn prf_plus_matches_the_rfc_7296_construction() {
    let mut rng = Rng(13);
    for k in kernels() {
        let n = 45;
        let keys: Vec<Vec<u8>> = (0..n)
            .map(|_| {
                let l = rng.below(131);
                rng.bytes(l)
            })
            .collect();
        let seeds: Vec<Vec<u8>> = (0..n)
            .map(|_| {
                let l = rng.below(200);
                rng.bytes(l)
            })
            .collect();
        let mut lens: Vec<usize> = (0..n).map(|_| rng.below(300)).collect();
        lens[0] = 0;
        lens[1] = 32;
        lens[2] = 168;
        lens[3] = PRF_PLUS_MAX;
        let states: Vec<HmacSha256Key> = keys.iter().map(|k| HmacSha256Key::new(k)).collect();
        let state_refs: Vec<&HmacSha256Key> = states.iter().collect();
        let parts: Vec<Vec<&[u8]>> = seeds.iter().map(|s| split(&mut rng, s)).collect();
        let seed_refs: Vec<&[&[u8]]> = parts.iter().map(|p| p.as_slice()).collect();
        let mut bufs: Vec<Vec<u8>> = lens.iter().map(|&l| vec![0u8; l]).collect();
        let mut outs: Vec<&mut [u8]> = bufs.iter_mut().map(|b| b.as_mut_slice()).collect();
        match k {
            Some(k) => prf_plus_many_with(k, &state_refs, &seed_refs, &mut outs),
            None => prf_plus_many(&state_refs, &seed_refs, &mut outs),
        }
        for i in 0..n {
            assert_eq!(
                bufs[i],
                prf_plus_reference(&keys[i], &seeds[i], lens[i]),
                "kernel {k:?}, job {i}"
            );
        }
    }
}

#[test]
fn prf_plus_batches_larger_than_a_chunk() {
    let mut rng = Rng(14);
    let n = 150;
    let keys: Vec<Vec<u8>> = (0..n).map(|_| rng.bytes(32)).collect();
    let seeds: Vec<Vec<u8>> = (0..n).map(|_| rng.bytes(80)).collect();
    let states: Vec<HmacSha256Key> = keys.iter().map(|k| HmacSha256Key::new(k)).collect();
    let state_refs: Vec<&HmacSha256Key> = states.iter().collect();
    let parts: Vec<[&[u8]; 1]> = seeds.iter().map(|s| [s.as_slice()]).collect();
    let seed_refs: Vec<&[&[u8]]> = parts.iter().map(|p| p.as_slice()).collect();
    let mut bufs: Vec<Vec<u8>> = (0..n).map(|i| vec![0u8; 100 + i]).collect();
    let mut outs: Vec<&mut [u8]> = bufs.iter_mut().map(|b| b.as_mut_slice()).collect();
    prf_plus_many(&state_refs, &seed_refs, &mut outs);
    for i in 0..n {
        assert_eq!(
            bufs[i],
            prf_plus_reference(&keys[i], &seeds[i], 100 + i),
            "job {i}"
        );
    }
}

#[test]
fn debug_shows_no_key_material() {
    let key = HmacSha256Key::new(&[0x41; 20]);
    let s = format!("{key:?} {key:#?}");
    assert_eq!(format!("{key:?}"), "HmacSha256Key { .. }");
    let rest = s.replace("HmacSha256Key", "");
    assert!(!rest.chars().any(|c| c.is_ascii_digit()), "{s}");
}
