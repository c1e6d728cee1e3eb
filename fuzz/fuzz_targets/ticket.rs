//! Ticket opening (`engine::ticket::format`) with the fixture's key ring,
//! and the ticket state codec. The first byte picks:
//!
//! - 0: the rest is a ticket: `open`, and `open_batch` over the rest split
//!   into length-prefixed tickets; both must agree.
//! - 1: the rest is an encoded ticket state (after a 16-byte ticket id):
//!   when it decodes, it must encode back to a state that decodes to the
//!   same encoding, and seal (by value and by reference) then open to it.
//! - 2: the rest is (position, xor) pairs applied to a valid ticket: a
//!   ticket changed anywhere must not open.

#![no_main]
#![forbid(unsafe_code)]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use rebound_bench::resume::{NOW, ring, seeded};
use rebound_engine::ticket::TicketId;
use rebound_engine::ticket::format::{
    MAX_VALUE_TICKET_LEN, OpenContext, OpenSlot, TicketKind, open, open_batch, seal,
};
use rebound_engine::ticket::keyring::TicketKeyRing;
use rebound_engine::ticket::state::TicketState;
use rebound_engine::ticket::store::MemoryTicketStore;
use rebound_engine::wire::{Message, NotifyType, Payload};
use rebound_fuzz::input::{Input, push_field};
use rebound_fuzz::{resume, seeds};

struct Fixture {
    ring: TicketKeyRing,
    /// Client 0's ticket, as its IKE_SESSION_RESUME carries it.
    ticket: Vec<u8>,
    /// Its state, encoded.
    state: Vec<u8>,
    id: TicketId,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let f = resume::fixture();
        let (_, req, _) = f.client(0);
        let msg = Message::parse(req).expect("the recorded request parses");
        let ticket = msg
            .payloads()
            .filter_map(|p| p.ok()?.parse().ok())
            .find_map(|p| match p {
                Payload::Notify(n) if n.notify_type == NotifyType::TICKET_OPAQUE => {
                    Some(n.data.to_vec())
                }
                _ => None,
            })
            .expect("the request carries N(TICKET_OPAQUE)");
        let ring = ring();
        let st = open(&ticket, &ring, &OpenContext::default(), NOW).expect("the ticket opens");
        let mut state = vec![0u8; st.encoded_len()];
        st.encode(&mut state).expect("the state encodes");
        Fixture {
            ring,
            ticket,
            state,
            id: st.ticket_id,
        }
    })
}

fn encoded(s: &TicketState) -> Vec<u8> {
    let mut v = vec![0u8; s.encoded_len()];
    let n = s.encode(&mut v).expect("a decoded state encodes");
    v.truncate(n);
    v
}

fuzz_target!(
    init: seeds::write_if_asked(|_| {
        let f = fixture();
        let mut batch = vec![0u8];
        push_field(&mut batch, &f.ticket);
        push_field(&mut batch, &f.ticket[..f.ticket.len() - 1]);
        let mut state = vec![1u8];
        state.extend_from_slice(&f.id.0);
        state.extend_from_slice(&f.state);
        vec![
            seeds::framed(&[0], &f.ticket),
            batch,
            state,
            vec![2, 0, 30, 0x01],
        ]
    }),
    |data: &[u8]| {
        let f = fixture();
        let mut input = Input::new(data);
        match input.u8() % 3 {
            0 => opening(f, input.rest()),
            1 => state_codec(f, &mut input),
            _ => tampered(f, &mut input),
        }
    }
);

fn opening(f: &Fixture, rest: &[u8]) {
    let store = MemoryTicketStore::new(16, 1);
    let ctx = OpenContext {
        store: Some(&store),
        ..OpenContext::default()
    };
    let one = open(rest, &f.ring, &ctx, NOW).map(|s| encoded(&s));
    let mut tickets = vec![rest];
    let mut input = Input::new(rest);
    while !input.is_empty() && tickets.len() < 70 {
        tickets.push(input.field());
    }
    let mut slots = vec![OpenSlot::default(); tickets.len()];
    assert_eq!(
        open_batch(&tickets, &f.ring, &ctx, NOW, &mut slots),
        tickets.len()
    );
    let first = slots[0].result.map(|()| encoded(&slots[0].state));
    assert_eq!(one, first, "open and open_batch disagree");
    for (t, slot) in tickets.iter().zip(&slots) {
        let alone = open(t, &f.ring, &ctx, NOW).map(|s| encoded(&s));
        assert_eq!(alone, slot.result.map(|()| encoded(&slot.state)));
    }
}

fn state_codec(f: &Fixture, input: &mut Input<'_>) {
    let mut id = [0u8; 16];
    id.copy_from_slice(&{
        let mut b = input.take(16).to_vec();
        b.resize(16, 0);
        b
    });
    let Ok(mut st) = TicketState::decode(TicketId(id), input.rest()) else {
        return;
    };
    let first = encoded(&st);
    let again = TicketState::decode(TicketId(id), &first).expect("an encoded state decodes");
    assert_eq!(
        encoded(&again),
        first,
        "encode(decode(encode(s))) != encode(s)"
    );

    let store = MemoryTicketStore::new(16, 1);
    let ctx = OpenContext {
        store: Some(&store),
        ..OpenContext::default()
    };
    let mut rng = seeded(u64::from(id[0]));
    for kind in [TicketKind::ByValue, TicketKind::ByReference] {
        let mut out = vec![0u8; MAX_VALUE_TICKET_LEN];
        let Ok(n) = seal(
            kind,
            &mut st,
            &f.ring,
            Some(&store),
            &mut rng,
            NOW,
            &mut out,
        ) else {
            continue;
        };
        let opened = open(&out[..n], &f.ring, &ctx, NOW)
            .unwrap_or_else(|e| panic!("a ticket just sealed ({kind:?}) does not open: {e:?}"));
        assert_eq!(
            encoded(&opened),
            encoded(&st),
            "seal then open changed the state"
        );
    }
}

fn tampered(f: &Fixture, input: &mut Input<'_>) {
    let mut t = f.ticket.clone();
    while !input.is_empty() {
        let pos = usize::from(input.u16()) % (t.len() + 1);
        let x = input.u8();
        match pos.checked_sub(t.len()) {
            // One past the end: drop the last byte or append one.
            Some(_) if x & 1 == 0 => {
                t.pop();
            }
            Some(_) => t.push(x),
            None => t[pos] ^= x,
        }
    }
    let r = open(&t, &f.ring, &OpenContext::default(), NOW);
    if t == f.ticket {
        assert!(r.is_ok(), "the valid ticket opens");
    } else {
        assert!(r.is_err(), "a changed ticket opened");
    }
}
