//! Every GCM kernel against the `aes-gcm` crate and the GCM spec's test
//! vectors, with deterministic pseudo-random inputs.

use aes_gcm::aead::AeadInPlace;
use aes_gcm::{Aes128Gcm, Aes256Gcm, KeyInit, Nonce};
use rebound_kernels::gcm::{
    self, AesGcmKey, GcmError, GcmKernel, KeyedOpenJob, KeyedSealJob, OpenJob, SealJob,
};

mod common;
use common::Rng;

fn reference(key: &[u8], nonce: &[u8; 12], aad: &[u8], pt: &[u8]) -> (Vec<u8>, [u8; 16]) {
    let mut buf = pt.to_vec();
    let n = Nonce::from_slice(nonce);
    let tag = if key.len() == 16 {
        Aes128Gcm::new_from_slice(key)
            .unwrap()
            .encrypt_in_place_detached(n, aad, &mut buf)
    } else {
        Aes256Gcm::new_from_slice(key)
            .unwrap()
            .encrypt_in_place_detached(n, aad, &mut buf)
    }
    .unwrap();
    (buf, tag.into())
}

struct Msg {
    nonce: [u8; 12],
    aad: Vec<u8>,
    pt: Vec<u8>,
}

fn msg(rng: &mut Rng, len: usize, aad_len: usize) -> Msg {
    Msg {
        nonce: rng.bytes(12).try_into().unwrap(),
        aad: rng.bytes(aad_len),
        pt: rng.bytes(len),
    }
}

/// Seals `msgs` in one batch with `kernel`, checks against the reference,
/// opens them again in one batch and checks the plaintext comes back.
fn check_batch(kernel: GcmKernel, key_bytes: &[u8], key: &AesGcmKey, msgs: &[Msg]) {
    let mut bufs: Vec<Vec<u8>> = msgs.iter().map(|m| m.pt.clone()).collect();
    let mut jobs: Vec<SealJob<'_>> = msgs
        .iter()
        .zip(bufs.iter_mut())
        .map(|(m, b)| SealJob::new(m.nonce, &m.aad, b))
        .collect();
    gcm::seal_many_with(kernel, key, &mut jobs);
    let tags: Vec<[u8; 16]> = jobs.iter().map(|j| j.tag).collect();
    drop(jobs);
    for ((m, b), t) in msgs.iter().zip(&bufs).zip(&tags) {
        let (ct, tag) = reference(key_bytes, &m.nonce, &m.aad, &m.pt);
        assert_eq!(
            b,
            &ct,
            "{kernel:?} ciphertext, len {} aad {}",
            m.pt.len(),
            m.aad.len()
        );
        assert_eq!(
            t,
            &tag,
            "{kernel:?} tag, len {} aad {}",
            m.pt.len(),
            m.aad.len()
        );
    }
    let mut jobs: Vec<OpenJob<'_>> = msgs
        .iter()
        .zip(bufs.iter_mut())
        .zip(&tags)
        .map(|((m, b), t)| OpenJob::new(m.nonce, &m.aad, b, *t))
        .collect();
    gcm::open_many_with(kernel, key, &mut jobs);
    assert!(jobs.iter().all(|j| j.result.is_ok()), "{kernel:?} open");
    drop(jobs);
    for (m, b) in msgs.iter().zip(&bufs) {
        assert_eq!(b, &m.pt, "{kernel:?} open plaintext");
    }
}

fn kernels() -> Vec<GcmKernel> {
    let k = GcmKernel::available();
    assert!(k.contains(&GcmKernel::Portable));
    k
}

#[test]
fn every_length_0_to_300_in_one_batch() {
    let mut rng = Rng(1);
    for key_len in [16, 32] {
        let kb = rng.bytes(key_len);
        for powers in [4, 8, 16] {
            let key = AesGcmKey::with_powers(&kb, powers).unwrap();
            let msgs: Vec<Msg> = (0..=300).map(|len| msg(&mut rng, len, len % 41)).collect();
            for k in kernels() {
                check_batch(k, &kb, &key, &msgs);
                // One message per call too.
                for m in msgs.iter().step_by(7) {
                    check_batch(k, &kb, &key, std::slice::from_ref(m));
                }
            }
        }
    }
}

#[test]
fn aad_lengths_0_to_40() {
    let mut rng = Rng(2);
    for key_len in [16, 32] {
        let kb = rng.bytes(key_len);
        let key = AesGcmKey::new(&kb).unwrap();
        for len in [0, 1, 15, 16, 17, 64, 200] {
            let msgs: Vec<Msg> = (0..=40).map(|a| msg(&mut rng, len, a)).collect();
            for k in kernels() {
                check_batch(k, &kb, &key, &msgs);
            }
        }
    }
}

#[test]
fn batch_sizes_1_to_64_mixed_lengths() {
    let mut rng = Rng(3);
    let kb = rng.bytes(32);
    let key = AesGcmKey::new(&kb).unwrap();
    for n in 1..=64 {
        let msgs: Vec<Msg> = (0..n)
            .map(|_| {
                let (len, a) = (rng.below(301), rng.below(41));
                msg(&mut rng, len, a)
            })
            .collect();
        for k in kernels() {
            check_batch(k, &kb, &key, &msgs);
        }
    }
    // Longer than a few groups and chunks.
    let msgs: Vec<Msg> = (0..150).map(|i| msg(&mut rng, 150 + i, 16)).collect();
    let long = [msg(&mut rng, 5000, 20), msg(&mut rng, 1027, 3)];
    for k in kernels() {
        check_batch(k, &kb, &key, &msgs);
        check_batch(k, &kb, &key, &long);
    }
}

#[test]
fn keyed_jobs_mixed_keys() {
    let mut rng = Rng(4);
    let raw: Vec<Vec<u8>> = (0..6)
        .map(|i| rng.bytes(if i % 2 == 0 { 16 } else { 32 }))
        .collect();
    let keys: Vec<AesGcmKey> = raw
        .iter()
        .map(|k| AesGcmKey::new_once(k).unwrap())
        .collect();
    // Runs of the same key and alternating keys.
    let pick: Vec<usize> = (0..40)
        .map(|i| if i < 10 { 1 } else { rng.below(6) })
        .collect();
    let msgs: Vec<Msg> = pick
        .iter()
        .map(|_| {
            let len = 300 + rng.below(301);
            msg(&mut rng, len, 28)
        })
        .collect();
    for k in kernels() {
        let mut bufs: Vec<Vec<u8>> = msgs.iter().map(|m| m.pt.clone()).collect();
        let mut jobs: Vec<KeyedSealJob<'_>> = msgs
            .iter()
            .zip(bufs.iter_mut())
            .zip(&pick)
            .map(|((m, b), &p)| KeyedSealJob {
                key: &keys[p],
                job: SealJob::new(m.nonce, &m.aad, b),
            })
            .collect();
        gcm::seal_keyed_with(k, &mut jobs);
        let tags: Vec<[u8; 16]> = jobs.iter().map(|j| j.job.tag).collect();
        drop(jobs);
        for (((m, b), t), &p) in msgs.iter().zip(&bufs).zip(&tags).zip(&pick) {
            let (ct, tag) = reference(&raw[p], &m.nonce, &m.aad, &m.pt);
            assert_eq!((b, t), (&ct, &tag), "{k:?} keyed seal");
        }
        let mut jobs: Vec<KeyedOpenJob<'_>> = msgs
            .iter()
            .zip(bufs.iter_mut())
            .zip(&tags)
            .zip(&pick)
            .map(|(((m, b), t), &p)| KeyedOpenJob {
                key: &keys[p],
                job: OpenJob::new(m.nonce, &m.aad, b, *t),
            })
            .collect();
        gcm::open_keyed_with(k, &mut jobs);
        assert!(jobs.iter().all(|j| j.job.result.is_ok()));
        drop(jobs);
        for (m, b) in msgs.iter().zip(&bufs) {
            assert_eq!(b, &m.pt);
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Tamper {
    Tag,
    Ciphertext,
    Aad,
    Nonce,
}

#[test]
fn tampering_fails_exactly_that_job() {
    let mut rng = Rng(5);
    let kb = rng.bytes(32);
    let key = AesGcmKey::new(&kb).unwrap();
    for k in kernels() {
        for how in [Tamper::Tag, Tamper::Ciphertext, Tamper::Aad, Tamper::Nonce] {
            let bad = rng.below(12);
            let mut msgs: Vec<Msg> = (0..12).map(|i| msg(&mut rng, 100 + 9 * i, 16)).collect();
            let mut bufs: Vec<Vec<u8>> = msgs.iter().map(|m| m.pt.clone()).collect();
            let mut tags = Vec::new();
            for (m, b) in msgs.iter().zip(bufs.iter_mut()) {
                tags.push(gcm::seal(&key, &m.nonce, &m.aad, b));
            }
            match how {
                Tamper::Tag => tags[bad][rng.below(16)] ^= 1 << rng.below(8),
                Tamper::Ciphertext => {
                    let i = rng.below(bufs[bad].len());
                    bufs[bad][i] ^= 0x80;
                }
                Tamper::Aad => msgs[bad].aad[3] ^= 1,
                Tamper::Nonce => msgs[bad].nonce[11] ^= 1,
            }
            let mut jobs: Vec<OpenJob<'_>> = msgs
                .iter()
                .zip(bufs.iter_mut())
                .zip(&tags)
                .map(|((m, b), t)| OpenJob::new(m.nonce, &m.aad, b, *t))
                .collect();
            gcm::open_many_with(k, &key, &mut jobs);
            for (i, j) in jobs.iter().enumerate() {
                if i == bad {
                    assert_eq!(j.result, Err(GcmError::TagMismatch), "{k:?} {how:?}");
                    assert!(j.buf.iter().all(|&b| b == 0), "{k:?} {how:?} buffer zeroed");
                } else {
                    assert_eq!(j.result, Ok(()), "{k:?} {how:?} job {i}");
                    assert_eq!(&*j.buf, &msgs[i].pt[..]);
                }
            }
        }
    }
}

#[test]
fn single_message_convenience() {
    let key = AesGcmKey::new(&[7; 16]).unwrap();
    let mut buf = *b"hello, resumed world";
    let tag = gcm::seal(&key, &[1; 12], b"hdr", &mut buf);
    assert_ne!(&buf, b"hello, resumed world");
    assert_eq!(gcm::open(&key, &[1; 12], b"hdr", &mut buf, &tag), Ok(()));
    assert_eq!(&buf, b"hello, resumed world");
    let mut bad = tag;
    bad[0] ^= 1;
    gcm::seal(&key, &[1; 12], b"hdr", &mut buf);
    assert_eq!(
        gcm::open(&key, &[1; 12], b"hdr", &mut buf, &bad),
        Err(GcmError::TagMismatch)
    );
    assert_eq!(buf, [0; 20]);
    assert_eq!(AesGcmKey::new(&[0; 24]).unwrap_err(), GcmError::KeyLength);
}

#[test]
fn debug_hides_the_key() {
    let key = AesGcmKey::new(&[0xab; 32]).unwrap();
    let s = format!("{key:?}");
    assert!(
        s.contains("256") && !s.contains("171") && !s.to_lowercase().contains("ab, "),
        "{s}"
    );
}

#[test]
fn calibration_picks_an_available_kernel() {
    let c = gcm::calibration();
    assert!(c.chosen.is_available());
    assert_eq!(gcm::chosen(), c.chosen);
    if rebound_kernels::cpu::forced_portable() {
        assert_eq!(c.chosen, GcmKernel::Portable);
    } else {
        assert_eq!(c.ns_per_ticket.len(), GcmKernel::available().len());
    }
}

/// McGrew & Viega, "The Galois/Counter Mode of Operation", test cases 1–4
/// (AES-128) and 13–16 (AES-256): the cases with 96-bit IVs.
#[test]
fn gcm_spec_vectors() {
    let p64 = "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72\
               1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255";
    let aad = "feedfacedeadbeeffeedfacedeadbeefabaddad2";
    let k128 = "feffe9928665731c6d6a8f9467308308";
    let k256 = "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308";
    let iv = "cafebabefacedbaddecaf888";
    let c3 = "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e\
              21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985";
    let c15 = "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa\
               8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad";
    // (key, iv, plaintext, aad, ciphertext, tag)
    let cases: [(&str, &str, &str, &str, &str, &str); 8] = [
        (
            &"00".repeat(16),
            &"00".repeat(12),
            "",
            "",
            "",
            "58e2fccefa7e3061367f1d57a4e7455a",
        ),
        (
            &"00".repeat(16),
            &"00".repeat(12),
            &"00".repeat(16),
            "",
            "0388dace60b6a392f328c2b971b2fe78",
            "ab6e47d42cec13bdf53a67b21257bddf",
        ),
        (k128, iv, p64, "", c3, "4d5c2af327cd64a62cf35abd2ba6fab4"),
        (
            k128,
            iv,
            &p64[..120],
            aad,
            &c3[..120],
            "5bc94fbc3221a5db94fae95ae7121a47",
        ),
        (
            &"00".repeat(32),
            &"00".repeat(12),
            "",
            "",
            "",
            "530f8afbc74536b9a963b4f1c4cb738b",
        ),
        (
            &"00".repeat(32),
            &"00".repeat(12),
            &"00".repeat(16),
            "",
            "cea7403d4d606b6e074ec5d3baf39d18",
            "d0d1c8a799996bf0265b98b5d48ab919",
        ),
        (k256, iv, p64, "", c15, "b094dac5d93471bdec1a502270e3cc6c"),
        (
            k256,
            iv,
            &p64[..120],
            aad,
            &c15[..120],
            "76fc6ece0f4e1768cddf8853bb2d551b",
        ),
    ];
    let h = |s: &str| hex::decode(s).unwrap();
    for (i, (k, n, p, a, c, t)) in cases.iter().enumerate() {
        let (kb, nonce, pt, aad, ct, tag) = (h(k), h(n), h(p), h(a), h(c), h(t));
        let nonce: [u8; 12] = nonce.try_into().unwrap();
        // The expected values agree with the aes-gcm crate...
        let (rc, rt) = reference(&kb, &nonce, &aad, &pt);
        assert_eq!(
            (rc.as_slice(), rt.as_slice()),
            (ct.as_slice(), tag.as_slice()),
            "case {i} vs aes-gcm"
        );
        // ...and every kernel produces them.
        let key = AesGcmKey::new(&kb).unwrap();
        for kern in kernels() {
            let mut buf = pt.clone();
            let mut job = [SealJob::new(nonce, &aad, &mut buf)];
            gcm::seal_many_with(kern, &key, &mut job);
            let got = job[0].tag;
            assert_eq!(
                (buf.as_slice(), &got[..]),
                (ct.as_slice(), tag.as_slice()),
                "case {i} {kern:?}"
            );
        }
    }
}
