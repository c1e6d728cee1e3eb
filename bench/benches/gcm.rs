//! Ticket open, per ticket: 200-byte plaintext, 16-byte AAD, AES-256-GCM,
//! a batch of 1, 8, 32 or 64 tickets under one key; the `aes-gcm` crate,
//! ring, and rebound-kernels' gcm (each kernel, and the chosen one). Every
//! iteration first copies the sealed tickets back into the buffers (the
//! same cost for all three).

use aes_gcm::aead::AeadInPlace;
use aes_gcm::{Aes256Gcm, KeyInit};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rebound_kernels::gcm::{self, AesGcmKey, GcmKernel, OpenJob};
use std::hint::black_box;

const LEN: usize = 200;
const AAD: [u8; 16] = *b"rebound-tkt-key1";
const KEY: [u8; 32] = [0x42; 32];

struct Tickets<const N: usize> {
    nonces: [[u8; 12]; N],
    ct: [[u8; LEN]; N],
    tags: [[u8; 16]; N],
    bufs: [[u8; LEN]; N],
}

impl<const N: usize> Tickets<N> {
    fn new(key: &AesGcmKey) -> Box<Self> {
        let mut t = Box::new(Tickets {
            nonces: std::array::from_fn(|i| [i as u8 ^ 0x5c; 12]),
            ct: std::array::from_fn(|i| std::array::from_fn(|j| (i * 7 + j) as u8)),
            tags: [[0; 16]; N],
            bufs: [[0; LEN]; N],
        });
        for i in 0..N {
            t.tags[i] = gcm::seal(key, &t.nonces[i], &AAD, &mut t.ct[i]);
        }
        t
    }

    fn reset(&mut self) {
        self.bufs = self.ct;
    }
}

fn batch<const N: usize>(c: &mut Criterion, key: &AesGcmKey) {
    let mut g = c.benchmark_group(format!("gcm_ticket_open/batch{N}"));
    g.throughput(Throughput::Elements(N as u64));
    let mut t = Tickets::<N>::new(key);

    let rc = Aes256Gcm::new_from_slice(&KEY).unwrap();
    g.bench_function("aes-gcm", |b| {
        b.iter(|| {
            t.reset();
            for i in 0..N {
                let r = rc.decrypt_in_place_detached(
                    (&t.nonces[i]).into(),
                    &AAD,
                    &mut t.bufs[i],
                    (&t.tags[i]).into(),
                );
                black_box(r.is_ok());
            }
        })
    });

    let ring_key = ring::aead::LessSafeKey::new(
        ring::aead::UnboundKey::new(&ring::aead::AES_256_GCM, &KEY).unwrap(),
    );
    g.bench_function("ring", |b| {
        b.iter(|| {
            t.reset();
            for i in 0..N {
                let r = ring_key.open_in_place_separate_tag(
                    ring::aead::Nonce::assume_unique_for_key(t.nonces[i]),
                    ring::aead::Aad::from(AAD),
                    ring::aead::Tag::from(t.tags[i]),
                    &mut t.bufs[i],
                    0..,
                );
                black_box(r.is_ok());
            }
        })
    });

    let chosen = gcm::chosen();
    let kernels = GcmKernel::available().into_iter().map(|k| (k.name(), k));
    for (name, k) in kernels.chain([("chosen", chosen)]) {
        g.bench_function(BenchmarkId::new("rebound", name), |b| {
            b.iter(|| {
                t.reset();
                let Tickets {
                    nonces, tags, bufs, ..
                } = &mut *t;
                let mut it = bufs.iter_mut();
                let mut jobs: [OpenJob<'_>; N] = std::array::from_fn(|i| {
                    OpenJob::new(nonces[i], &AAD, it.next().unwrap(), tags[i])
                });
                gcm::open_many_with(k, key, &mut jobs);
                black_box(jobs.iter().all(|j| j.result.is_ok()));
            })
        });
    }
    g.finish();
}

fn ticket_open(c: &mut Criterion) {
    let key = AesGcmKey::new(&KEY).unwrap();
    let cal = gcm::calibration();
    eprintln!("gcm calibration: {:?}", cal);
    batch::<1>(c, &key);
    batch::<8>(c, &key);
    batch::<32>(c, &key);
    batch::<64>(c, &key);
}

criterion_group!(benches, ticket_open);
criterion_main!(benches);
