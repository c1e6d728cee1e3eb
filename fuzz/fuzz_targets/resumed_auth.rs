//! The resumed IKE_AUTH with a valid half-open SA: per input, a fresh
//! responder answers client 0's recorded IKE_SESSION_RESUME, so its SA
//! waits for the IKE_AUTH, which the input then is. The first byte picks:
//!
//! - 0: the rest is the datagram as received (header, SK payload, ...).
//! - 1: the next byte is the SK payload's first inner payload type and the
//!   rest its plaintext, sealed with the SA's keys under client 0's
//!   IKE_AUTH header, so the fuzzed payloads get past the ICV to IDi,
//!   AUTH, SA, TS, CP and the notifies. The recorded plaintext's AUTH
//!   covers the request and IDi, not the other payloads: mutations of
//!   those are authenticated and reach the child SA, the address pool and
//!   the new ticket.
//!
//! Each datagram is sent twice (a retransmission) to a responder taking
//! one datagram at a time, and as a burst of the two to `auth_stage` of a
//! second responder: both must answer the same, and when the first
//! established the SA the retransmission must get the same answer and
//! establish nothing.

#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;
use rebound_engine::responder::{BurstItem, Class, Handled, ResumeResponder, classify};
use rebound_fuzz::input::Input;
use rebound_fuzz::resume::{self, ResumeFuzz};
use rebound_fuzz::seeds;

const OUT_LEN: usize = 4096;

fn ready(f: &ResumeFuzz) -> ResumeResponder {
    let mut r = resume::responder(&f.recorded);
    let (meta, req, _) = f.client(0);
    let mut out = vec![0u8; OUT_LEN];
    r.handle(resume::now(), &meta, req, &mut out)
        .reply
        .expect("the recorded request is answered");
    assert_eq!(r.half_open(), 1);
    r
}

fn reply(out: &[u8], h: &Handled) -> (Option<Vec<u8>>, bool) {
    (h.reply.map(|n| out[..n].to_vec()), h.established.is_some())
}

fuzz_target!(
    init: seeds::write_if_asked(|captured| {
        let f = resume::fixture();
        let mut s = vec![seeds::framed(&[0], f.client(0).2)];
        s.push(seeds::framed(&[1, f.auth_first], &f.auth_plain));
        // Captured IKE_AUTH requests (exchange 35, initiator's).
        s.extend(
            captured
                .iter()
                .filter(|m| m[18] == 35 && m[19] & 0x20 == 0)
                .map(|m| seeds::framed(&[0], m)),
        );
        s
    }),
    |data: &[u8]| {
        let f = resume::fixture();
        let mut input = Input::new(data);
        let datagram = match input.u8() % 2 {
            0 => input.rest().to_vec(),
            _ => {
                let first = input.u8();
                f.sealed_auth(first, input.rest())
            }
        };
        let (meta, _, _) = f.client(0);
        let now = resume::now();

        let mut single = ready(f);
        let mut out = vec![0u8; OUT_LEN];
        let h = single.handle(now, &meta, &datagram, &mut out);
        let first = reply(&out, &h);
        let h = single.handle(now, &meta, &datagram, &mut out);
        let second = reply(&out, &h);
        if first.1 {
            assert!(first.0.is_some(), "an SA established without an answer");
            assert_eq!(second.0, first.0, "a retransmission got another answer");
            assert!(!second.1, "a retransmission established a second SA");
        }

        // The stage takes what `classify` sends it: IKE_AUTH with SPIr set
        // (the worker hands IKE_SESSION_RESUME to the resume stage and
        // anything else to the control plane). `handle` above took any
        // datagram.
        if !matches!(classify(&datagram), Class::Auth { .. }) {
            return;
        }
        let mut burst = ready(f);
        let mut outs = [vec![0u8; OUT_LEN], vec![0u8; OUT_LEN]];
        let [o1, o2] = &mut outs;
        let mut items = [
            BurstItem::new(meta, &datagram, o1),
            BurstItem::new(meta, &datagram, o2),
        ];
        burst.auth_stage(now, &mut items);
        let [i1, i2] = &items;
        assert_eq!(reply(i1.out, &i1.handled), first, "auth_stage differs from handle");
        assert_eq!(reply(i2.out, &i2.handled), second, "auth_stage differs from handle");
        assert_eq!(single.half_open(), burst.half_open());
    }
);
