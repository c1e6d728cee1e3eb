//! Criterion benchmarks for the multi-buffer SHA-256 kernels and the
//! batched HMAC-SHA256 / prf+ of rebound-kernels, against the RustCrypto
//! crates: ns per 64-byte block of each kernel at full occupancy, the MAC
//! of an 80-byte message, and the 168 bytes of prf+ a resumption derives
//! (seed Ni | Nr | SPIi | SPIr, 80 bytes), both at batch 32; and the
//! NAT-D SHA-1 (22 bytes, one padded block) per hash, alone and for a
//! burst's 128 at once.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hmac::{Hmac, Mac};
use rebound_kernels::hmac::{HmacSha256Key, hmac_many, hmac_many_raw, prf_plus_many};
use rebound_kernels::sha1::{Sha1Kernel, sha1_one_block_many, sha1_one_block_many_with};
use rebound_kernels::sha256::{self, IV, Sha256Kernel, compress_many_with};
use sha2::Sha256;

const BLOCKS: usize = 64;
const BATCH: usize = 32;

fn data(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(0x9d).wrapping_add(seed))
        .collect()
}

fn blocks() -> Vec<[u8; 64]> {
    (0..BLOCKS)
        .map(|i| data(64, i as u8).try_into().unwrap())
        .collect()
}

fn sha256_block(c: &mut Criterion) {
    for (k, ns) in sha256::calibration().entries() {
        eprintln!("calibration: {:<11} {ns:6.2} ns/block", k.name());
    }
    eprintln!("calibration: chosen {}", sha256::chosen().name());
    let blocks = blocks();
    let mut g = c.benchmark_group("sha256_block");
    g.throughput(Throughput::Elements(BLOCKS as u64));
    g.bench_function("sha2_compress256", |b| {
        let mut states = [IV; BLOCKS];
        let ga: Vec<_> = blocks
            .iter()
            .map(|b| sha2::digest::generic_array::GenericArray::clone_from_slice(b))
            .collect();
        b.iter(|| {
            for (s, blk) in states.iter_mut().zip(&ga) {
                sha2::compress256(s, core::slice::from_ref(blk));
            }
            black_box(&states);
        })
    });
    for k in Sha256Kernel::available() {
        g.bench_function(k.name(), |b| {
            let mut states = [IV; BLOCKS];
            b.iter(|| {
                compress_many_with(k, &mut states, black_box(&blocks));
                black_box(&states);
            })
        });
    }
    g.finish();

    // For the SHA-1 (NAT-D) and SHA-512 decisions: the crates' one block.
    let mut g = c.benchmark_group("other_block");
    g.throughput(Throughput::Elements(BLOCKS as u64));
    g.bench_function("sha1_compress", |b| {
        let ga: Vec<_> = blocks
            .iter()
            .map(|b| sha1::digest::generic_array::GenericArray::clone_from_slice(b))
            .collect();
        let mut states = [[
            0x6745_2301u32,
            0xefcd_ab89,
            0x98ba_dcfe,
            0x1032_5476,
            0xc3d2_e1f0,
        ]; BLOCKS];
        b.iter(|| {
            for (s, blk) in states.iter_mut().zip(&ga) {
                sha1::compress(s, core::slice::from_ref(blk));
            }
            black_box(&states);
        })
    });
    g.throughput(Throughput::Elements(BLOCKS as u64 / 2));
    g.bench_function("sha512_compress_128B", |b| {
        let flat: Vec<u8> = blocks.iter().flatten().copied().collect();
        let ga: Vec<_> = flat
            .chunks(128)
            .map(sha2::digest::generic_array::GenericArray::clone_from_slice)
            .collect();
        let mut states = [[0u64; 8]; BLOCKS / 2];
        b.iter(|| {
            for (s, blk) in states.iter_mut().zip(&ga) {
                sha2::compress512(s, core::slice::from_ref(blk));
            }
            black_box(&states);
        })
    });
    g.finish();
}

fn sha256_many_80(c: &mut Criterion) {
    // "Resumption" | Ni | Nr-like messages: three parts, 74 bytes.
    let ni: Vec<Vec<u8>> = (0..BATCH).map(|i| data(32, 50 + i as u8)).collect();
    let nr: Vec<Vec<u8>> = (0..BATCH).map(|i| data(32, 150 + i as u8)).collect();
    let mut g = c.benchmark_group("sha256_74B");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.bench_function("sha2_digest", |b| {
        b.iter(|| {
            for j in 0..BATCH {
                let mut h = <Sha256 as sha2::Digest>::new();
                sha2::Digest::update(&mut h, b"Resumption");
                sha2::Digest::update(&mut h, &ni[j]);
                sha2::Digest::update(&mut h, &nr[j]);
                black_box(sha2::Digest::finalize(h));
            }
        })
    });
    let parts: Vec<[&[u8]; 3]> = (0..BATCH)
        .map(|j| [b"Resumption".as_slice(), ni[j].as_slice(), nr[j].as_slice()])
        .collect();
    let msgs: Vec<&[&[u8]]> = parts.iter().map(|p| p.as_slice()).collect();
    let mut out = [[0u8; 32]; BATCH];
    g.bench_function("sha256_many_32", |b| {
        b.iter(|| {
            sha256::sha256_many(black_box(&msgs), &mut out);
            black_box(&out);
        })
    });
    g.finish();
}

fn hmac_80(c: &mut Criterion) {
    let keys: Vec<Vec<u8>> = (0..BATCH).map(|i| data(32, i as u8)).collect();
    let msgs: Vec<Vec<u8>> = (0..BATCH).map(|i| data(80, 100 + i as u8)).collect();
    let mut g = c.benchmark_group("hmac_sha256_80B");
    g.throughput(Throughput::Elements(BATCH as u64));
    let macs: Vec<Hmac<Sha256>> = keys
        .iter()
        .map(|k| Hmac::new_from_slice(k).unwrap())
        .collect();
    g.bench_function("hmac_crate_key_ready", |b| {
        b.iter(|| {
            for (m, msg) in macs.iter().zip(&msgs) {
                let mut m = m.clone();
                m.update(msg);
                black_box(m.finalize().into_bytes());
            }
        })
    });
    g.bench_function("hmac_crate_with_key_setup", |b| {
        b.iter(|| {
            for (k, msg) in keys.iter().zip(&msgs) {
                let mut m = Hmac::<Sha256>::new_from_slice(k).unwrap();
                m.update(msg);
                black_box(m.finalize().into_bytes());
            }
        })
    });
    let states: Vec<HmacSha256Key> = keys.iter().map(|k| HmacSha256Key::new(k)).collect();
    let state_refs: Vec<&HmacSha256Key> = states.iter().collect();
    let key_refs: Vec<&[u8]> = keys.iter().map(|k| k.as_slice()).collect();
    let parts: Vec<[&[u8]; 1]> = msgs.iter().map(|m| [m.as_slice()]).collect();
    let msg_refs: Vec<&[&[u8]]> = parts.iter().map(|p| p.as_slice()).collect();
    let mut out = [[0u8; 32]; BATCH];
    g.bench_function("hmac_many_32", |b| {
        b.iter(|| {
            hmac_many(&state_refs, black_box(&msg_refs), &mut out);
            black_box(&out);
        })
    });
    g.bench_function("hmac_many_raw_32", |b| {
        b.iter(|| {
            hmac_many_raw(&key_refs, black_box(&msg_refs), &mut out);
            black_box(&out);
        })
    });
    g.finish();
}

fn prf_plus_168(c: &mut Criterion) {
    let keys: Vec<Vec<u8>> = (0..BATCH).map(|i| data(32, i as u8)).collect();
    let ni: Vec<Vec<u8>> = (0..BATCH).map(|i| data(32, 50 + i as u8)).collect();
    let nr: Vec<Vec<u8>> = (0..BATCH).map(|i| data(32, 150 + i as u8)).collect();
    let spis = data(16, 7);
    let mut g = c.benchmark_group("prf_plus_168B");
    g.throughput(Throughput::Elements(BATCH as u64));
    let macs: Vec<Hmac<Sha256>> = keys
        .iter()
        .map(|k| Hmac::new_from_slice(k).unwrap())
        .collect();
    g.bench_function("hmac_crate_key_ready", |b| {
        let mut out = [0u8; 168];
        b.iter(|| {
            for (j, m0) in macs.iter().enumerate() {
                let mut t = [0u8; 32];
                for n in 1..=6u8 {
                    let mut m = m0.clone();
                    if n > 1 {
                        m.update(&t);
                    }
                    m.update(&ni[j]);
                    m.update(&nr[j]);
                    m.update(&spis);
                    m.update(&[n]);
                    t = m.finalize().into_bytes().into();
                    let at = 32 * (n as usize - 1);
                    let end = (at + 32).min(168);
                    out[at..end].copy_from_slice(&t[..end - at]);
                }
                black_box(&out);
            }
        })
    });
    let states: Vec<HmacSha256Key> = keys.iter().map(|k| HmacSha256Key::new(k)).collect();
    let state_refs: Vec<&HmacSha256Key> = states.iter().collect();
    let parts: Vec<[&[u8]; 3]> = (0..BATCH)
        .map(|j| [ni[j].as_slice(), nr[j].as_slice(), spis.as_slice()])
        .collect();
    let seed_refs: Vec<&[&[u8]]> = parts.iter().map(|p| p.as_slice()).collect();
    let mut bufs = [[0u8; 168]; BATCH];
    g.bench_function("prf_plus_many_32", |b| {
        b.iter(|| {
            let mut outs: [&mut [u8]; BATCH] = bufs.each_mut().map(|b| b.as_mut_slice());
            prf_plus_many(&state_refs, black_box(&seed_refs), &mut outs);
        })
    });
    g.finish();
}

/// NAT-D: SHA-1 of SPIi | SPIr | IPv4 | port (22 bytes), ns per hash.
fn sha1_nat_d(c: &mut Criterion) {
    const NATD: usize = 128;
    for (k, ns) in rebound_kernels::sha1::calibration().entries() {
        eprintln!("sha1 calibration: {:<11} {ns:6.2} ns/block", k.name());
    }
    eprintln!(
        "sha1 calibration: chosen {}",
        rebound_kernels::sha1::chosen().name()
    );
    let msgs: Vec<Vec<u8>> = (0..NATD).map(|i| data(22, i as u8)).collect();
    let blocks: Vec<[u8; 64]> = msgs
        .iter()
        .map(|m| {
            let mut b = [0u8; 64];
            b[..22].copy_from_slice(m);
            b[22] = 0x80;
            b[56..].copy_from_slice(&(22u64 * 8).to_be_bytes());
            b
        })
        .collect();
    let mut g = c.benchmark_group("sha1_nat_d");
    g.throughput(Throughput::Elements(NATD as u64));
    g.bench_function("sha1_digest_22B", |b| {
        b.iter(|| {
            for m in &msgs {
                black_box(<sha1::Sha1 as sha1::Digest>::digest(black_box(m)));
            }
        })
    });
    g.bench_function("sha1_compress_block", |b| {
        let ga: Vec<_> = blocks
            .iter()
            .map(|b| sha1::digest::generic_array::GenericArray::clone_from_slice(b))
            .collect();
        b.iter(|| {
            for blk in &ga {
                let mut s = rebound_kernels::sha1::IV;
                sha1::compress(&mut s, core::slice::from_ref(black_box(blk)));
                black_box(&s);
            }
        })
    });
    let mut out = vec![[0u8; 20]; NATD];
    g.bench_function("sha1_one_block_many_128", |b| {
        b.iter(|| {
            sha1_one_block_many(black_box(&blocks), &mut out);
            black_box(&out);
        })
    });
    for k in Sha1Kernel::available() {
        g.bench_function(format!("with_{}_128", k.name()), |b| {
            b.iter(|| {
                sha1_one_block_many_with(k, black_box(&blocks), &mut out);
                black_box(&out);
            })
        });
    }
    g.finish();
}

criterion_group!(
    benches,
    sha256_block,
    sha256_many_80,
    hmac_80,
    prf_plus_168,
    sha1_nat_d
);
criterion_main!(benches);
