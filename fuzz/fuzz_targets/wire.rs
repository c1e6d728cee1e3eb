//! The IKEv2 codec on any bytes: the header, the payload chain, every
//! payload decoded and its lists (proposals and transforms, traffic
//! selectors, configuration attributes, Delete SPIs) walked; each decoded
//! payload must emit and decode back to itself (the codec's round trip,
//! `engine/tests/wire_props.rs`).

#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;
use rebound_engine::handoff::TsRange;
use rebound_engine::responder::classify;
use rebound_engine::wire::{Message, Payload, RawPayload, strip_non_esp_marker};
use rebound_fuzz::{resume, seeds};

fuzz_target!(
    init: seeds::write_if_asked(|captured| {
        let f = resume::fixture();
        let mut s: Vec<Vec<u8>> = captured.to_vec();
        for (_, req, auth) in &f.recorded.clients {
            s.push(req.clone());
            s.push(auth.clone());
        }
        for r in rebound_fuzz::full::fixture() {
            s.push(r.init.clone());
            s.push(r.init_reply.clone());
            s.push(r.auth.clone());
        }
        // The decrypted IKE_AUTH, as a chain behind a header naming its
        // first payload: what follows decryption, seen by the codec.
        let mut plain = f.recorded.clients[0].2[..28].to_vec();
        plain[16] = f.auth_first;
        plain.extend_from_slice(&f.auth_plain);
        let len = (plain.len() as u32).to_be_bytes();
        plain[24..28].copy_from_slice(&len);
        s.push(plain);
        s
    }),
    |data: &[u8]| {
        // As received on UDP/4500 (marker first) or 500.
        let ike = strip_non_esp_marker(data).unwrap_or(data);
        let _ = classify(ike);
        let Ok(msg) = Message::parse(ike) else {
            return;
        };
        let mut chain = msg.payloads();
        for raw in chain.by_ref() {
            let Ok(raw) = raw else { break };
            check(&raw);
        }
        let _ = chain.skipped_unknown();
        // What the responders call.
        let _ = msg.parse_all(|_| Ok(()));
    }
);

fn check(raw: &RawPayload<'_>) {
    let Ok(p) = raw.parse() else { return };
    walk(&p);
    // Round trip: emit the body, decode it again, same payload.
    let mut body = vec![0u8; p.body_len()];
    p.emit_body(&mut body)
        .unwrap_or_else(|e| panic!("a decoded {p:?} does not emit: {e:?}"));
    let again = Payload::parse(raw.ptype, raw.next, &body)
        .unwrap_or_else(|e| panic!("the emitted {p:?} does not decode: {e:?}"));
    assert_eq!(p, again, "decode(emit(p)) != p");
}

fn walk(p: &Payload<'_>) {
    match p {
        Payload::Sa(sa) => {
            for prop in sa.proposals() {
                for t in prop.transforms() {
                    let _ = (t.ttype, t.id, t.key_len);
                }
            }
        }
        Payload::TsI(ts) | Payload::TsR(ts) => {
            for sel in ts.selectors() {
                let _ = TsRange::from_selector(&sel);
            }
        }
        Payload::Cp(cp) => {
            for attr in cp.attributes() {
                let _ = attr;
            }
        }
        Payload::Delete(d) => {
            assert_eq!(d.iter_spis().count(), d.num_spis());
        }
        _ => {}
    }
}
