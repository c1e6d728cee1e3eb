//! The full exchange (the slow path's `SlowPathResponder`, a fresh one per
//! input, with one pre-shared key). The first byte picks the recorded
//! exchange (AES-GCM with curve25519, or AES-CBC + HMAC with P-256) and
//! what the input is:
//!
//! - 0: the rest is an IKE_SA_INIT (or anything) sent first.
//! - 1: the recorded IKE_SA_INIT first, then the rest as received.
//! - 2: the recorded IKE_SA_INIT first, then the next byte (first inner
//!   payload type) and the rest (plaintext) sealed as the IKE_AUTH.
//! - 3: the recorded IKE_SA_INIT and IKE_AUTH (the SA is up), then the
//!   next byte as exchange type, the next as first inner payload type and
//!   the rest as plaintext, sealed as the SA's next request
//!   (INFORMATIONAL, CREATE_CHILD_SA, ...).
//!
//! The last datagram is sent twice: a retransmission must get the same
//! answer.

#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;
use rebound_engine::slow_path::SlowPathResponder;
use rebound_engine::wire::ExchangeType;
use rebound_fuzz::full::{self, Recorded, client_meta, now};
use rebound_fuzz::input::Input;
use rebound_fuzz::seeds;

const OUT_LEN: usize = 8192;

fn send(slow: &mut SlowPathResponder, datagram: &[u8]) -> Option<Vec<u8>> {
    let mut out = vec![0u8; OUT_LEN];
    let o = slow.handle(now(), &client_meta(), datagram, &mut out);
    o.reply.map(|n| out[..n].to_vec())
}

fn after_init(r: &Recorded) -> SlowPathResponder {
    let mut slow = full::responder();
    let reply = send(&mut slow, &r.init);
    assert_eq!(
        reply.as_ref(),
        Some(&r.init_reply),
        "the recorded IKE_SA_INIT answers as recorded"
    );
    slow
}

fuzz_target!(
    init: seeds::write_if_asked(|captured| {
        let mut s = Vec::new();
        for (i, r) in full::fixture().iter().enumerate() {
            let i = i as u8;
            s.push(seeds::framed(&[i * 4], &r.init));
            s.push(seeds::framed(&[i * 4 + 1], &r.auth));
            s.push(seeds::framed(&[i * 4 + 2, r.auth_first], &r.auth_plain));
            for l in &r.later {
                s.push(seeds::framed(&[i * 4 + 3, l.exchange.0, l.first_inner], &l.plain));
            }
        }
        for m in captured {
            // IKE_SA_INIT requests as mode 0, other requests as mode 1.
            if m[19] & 0x20 == 0 {
                s.push(seeds::framed(&[if m[18] == 34 { 0 } else { 1 }], m));
            }
        }
        s
    }),
    |data: &[u8]| {
        let mut input = Input::new(data);
        let sel = input.u8();
        let recorded = full::fixture();
        let r = &recorded[usize::from(sel / 4) % recorded.len()];
        let (mut slow, datagram) = match sel % 4 {
            0 => (full::responder(), input.rest().to_vec()),
            1 => (after_init(r), input.rest().to_vec()),
            2 => {
                let first = input.u8();
                let d = r.sealed(ExchangeType::IKE_AUTH, 1, first, input.rest());
                (after_init(r), d)
            }
            _ => {
                let mut slow = after_init(r);
                assert!(send(&mut slow, &r.auth).is_some(), "the recorded IKE_AUTH is answered");
                assert_eq!(slow.established(), 1, "the recorded IKE_AUTH establishes the SA");
                let exchange = ExchangeType(input.u8());
                let first = input.u8();
                (slow, r.sealed(exchange, 2, first, input.rest()))
            }
        };
        let first = send(&mut slow, &datagram);
        let second = send(&mut slow, &datagram);
        if first.is_some() && sel % 4 != 0 {
            // A request on an SA (IKE_AUTH or later) is answered from the
            // SA's last answer when retransmitted (RFC 7296 §2.1).
            assert_eq!(second, first, "a retransmission got another answer");
        }
    }
);
