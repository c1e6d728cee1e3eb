//! The resumption responder (`ResumeResponder`, a fresh one per input,
//! with the fixture's key ring) fed a sequence of datagrams, arbitrary or
//! recorded, grouped in bursts. The sequence runs twice on two fresh
//! responders: one datagram at a time through `handle`, and burst by
//! burst as a worker runs it, each run of IKE_SESSION_RESUME requests
//! through `resume_stage` and each run of IKE_AUTH through `auth_stage`.
//! Both must answer byte for byte the same, establish the same SAs and
//! count the same (`engine/tests/resume_burst.rs` and `auth_burst.rs`
//! prove that for chosen inputs; here for any). No ticket may resume
//! twice.
//!
//! The input is a list of operations, each a byte then its fields:
//!
//! | op % 7 | fields | datagram |
//! | --- | --- | --- |
//! | 0 | peer, 16-bit length, bytes | those bytes from peer (`rebound_fuzz::peer`) |
//! | 1 | client | recorded client's IKE_SESSION_RESUME |
//! | 2 | client | recorded client's IKE_AUTH |
//! | 3 | client, position (16 bits), xor | the request with one byte changed |
//! | 4 | client, position (16 bits), xor | the IKE_AUTH with one byte changed |
//! | 5 | milliseconds (16 bits) ×100 | ends the burst; the clock moves on |
//! | 6 | peer, client | the recorded request from another peer |

#![no_main]
#![forbid(unsafe_code)]

use std::collections::HashMap;

use libfuzzer_sys::fuzz_target;
use rebound_engine::responder::{BurstItem, Class, Counter, PacketMeta, ResumeResponder, classify};
use rebound_engine::time::Timestamp;
use rebound_fuzz::input::{Input, push_field};
use rebound_fuzz::resume::{self, CLIENTS, ResumeFuzz};
use rebound_fuzz::{peer, seeds};

/// At most this many datagrams per input.
const MAX_DATAGRAMS: usize = 64;
const OUT_LEN: usize = 4096;

struct Datagram {
    meta: PacketMeta,
    bytes: Vec<u8>,
}

/// Bursts, each after its clock step.
fn read(f: &ResumeFuzz, data: &[u8]) -> Vec<(u64, Vec<Datagram>)> {
    let mut input = Input::new(data);
    let mut bursts = vec![(0, Vec::new())];
    let mut count = 0;
    while !input.is_empty() && count < MAX_DATAGRAMS {
        let op = input.u8() % 7;
        let d = match op {
            0 => {
                let meta = peer(input.u8());
                Datagram {
                    meta,
                    bytes: input.field().to_vec(),
                }
            }
            1 | 2 | 3 | 4 => {
                let (meta, req, auth) = f.client(usize::from(input.u8()));
                let mut bytes = if op % 2 == 1 { req } else { auth }.to_vec();
                if op >= 3 {
                    let pos = usize::from(input.u16()) % bytes.len();
                    bytes[pos] ^= input.u8();
                }
                Datagram { meta, bytes }
            }
            5 => {
                let step = u64::from(input.u16()) * 100;
                bursts.push((step, Vec::new()));
                continue;
            }
            _ => {
                let meta = peer(input.u8());
                let (_, req, _) = f.client(usize::from(input.u8()));
                Datagram {
                    meta,
                    bytes: req.to_vec(),
                }
            }
        };
        bursts.last_mut().expect("a burst").1.push(d);
        count += 1;
    }
    bursts
}

/// What one datagram led to: the answer, and the SA established (its
/// SPIr and IDi).
type Outcome = (Option<Vec<u8>>, Option<([u8; 8], Vec<u8>)>);

fn outcome(out: &[u8], h: &rebound_engine::responder::Handled) -> Outcome {
    (
        h.reply.map(|n| out[..n].to_vec()),
        h.established
            .as_ref()
            .map(|sa| (sa.spi_r, sa.id_i.data().to_vec())),
    )
}

fn one_at_a_time(r: &mut ResumeResponder, bursts: &[(u64, Vec<Datagram>)]) -> Vec<Outcome> {
    let mut now = resume::now();
    let mut out = vec![0u8; OUT_LEN];
    let mut results = Vec::new();
    for (step, burst) in bursts {
        now = Timestamp::from_millis(now.millis() + step);
        for d in burst {
            let h = r.handle(now, &d.meta, &d.bytes, &mut out);
            results.push(outcome(&out, &h));
        }
    }
    results
}

fn in_bursts(r: &mut ResumeResponder, bursts: &[(u64, Vec<Datagram>)]) -> Vec<Outcome> {
    let mut now = resume::now();
    let mut results = Vec::new();
    for (step, burst) in bursts {
        now = Timestamp::from_millis(now.millis() + step);
        let classes: Vec<Class> = burst.iter().map(|d| classify(&d.bytes)).collect();
        let mut outs = vec![vec![0u8; OUT_LEN]; burst.len()];
        let mut start = 0;
        // Runs of one class, in order.
        while start < burst.len() {
            let kind = |c: Class| match c {
                Class::Resume => 0,
                Class::Auth { .. } => 1,
                Class::Other => 2,
            };
            let k = kind(classes[start]);
            let end = (start..burst.len())
                .find(|&j| kind(classes[j]) != k)
                .unwrap_or(burst.len());
            let mut items: Vec<BurstItem<'_>> = burst[start..end]
                .iter()
                .zip(outs[start..end].iter_mut())
                .map(|(d, out)| BurstItem::new(d.meta, &d.bytes, out))
                .collect();
            match k {
                0 => r.resume_stage(now, &mut items),
                1 => r.auth_stage(now, &mut items),
                _ => {
                    for it in &mut items {
                        it.handled = r.handle(now, &it.meta, it.datagram, it.out);
                    }
                }
            }
            for it in &items {
                results.push(outcome(it.out, &it.handled));
            }
            start = end;
        }
    }
    results
}

fuzz_target!(
    init: seeds::write_if_asked(|captured| {
        let mut s = Vec::new();
        // Every client's request, then every IKE_AUTH: all resume.
        let mut all = Vec::new();
        for k in 0..CLIENTS as u8 {
            all.extend_from_slice(&[1, k]);
        }
        all.push(5);
        all.extend_from_slice(&[0, 0]);
        for k in 0..CLIENTS as u8 {
            all.extend_from_slice(&[2, k]);
        }
        s.push(all);
        // Client 0 alone, retransmissions, a replay from another peer.
        s.push(vec![1, 0, 1, 0, 5, 0, 1, 2, 0, 2, 0, 6, 9, 0]);
        // The captured messages, a few per input.
        for chunk in captured.chunks(4) {
            let mut v = Vec::new();
            for (i, m) in chunk.iter().enumerate() {
                v.extend_from_slice(&[0, i as u8]);
                push_field(&mut v, m);
            }
            s.push(v);
        }
        s
    }),
    |data: &[u8]| {
        let f = resume::fixture();
        let bursts = read(f, data);
        let mut single = resume::responder(&f.recorded);
        let mut burst = resume::responder(&f.recorded);
        let a = one_at_a_time(&mut single, &bursts);
        let b = in_bursts(&mut burst, &bursts);
        assert_eq!(a.len(), b.len());
        for (i, (x, y)) in a.iter().zip(&b).enumerate() {
            assert_eq!(x, y, "datagram {i}: one at a time and in bursts differ");
        }
        for &c in Counter::ALL {
            assert_eq!(
                single.counters().get(c),
                burst.counters().get(c),
                "counter {} differs between one at a time and bursts",
                c.label()
            );
        }
        assert_eq!(single.half_open(), burst.half_open());
        // RFC 5723 §4.3.1: a ticket resumes one SA at most.
        let mut resumed: HashMap<&[u8], usize> = HashMap::new();
        for (_, sa) in &a {
            if let Some((_, id)) = sa {
                *resumed.entry(id).or_default() += 1;
            }
        }
        for (id, n) in resumed {
            assert_eq!(n, 1, "{:?} resumed {n} times", String::from_utf8_lossy(id));
        }
    }
);
