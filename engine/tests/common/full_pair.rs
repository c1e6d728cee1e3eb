//! A deterministic in-memory harness for the full exchange: the slow-path
//! responder ([`SlowPathResponder`]) and one [`FullInitiator`], a virtual
//! clock and a fault injector on the "wire", plus a resumption gateway
//! ([`Gateway`]) sharing the slow path's ticket key ring and single-use
//! guard, so that tickets the slow path issues are resumed the real
//! RFC 5723 way.
//!
//! Include it after `pair.rs`:
//!
//! ```ignore
//! #[path = "common/pair.rs"]
//! mod pair;
//! #[path = "common/full_pair.rs"]
//! mod full_pair;
//! ```

#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use rebound_engine::child::{AddressPool, MemoryPool};
use rebound_engine::client::{
    ClientSession, ClientTicket, FullConfig, FullEvent, FullFailure, FullInitiator,
    InitiatorConfig, InitiatorEvent, SessionResponse,
};
use rebound_engine::crypto::{DhGroup, IkeKeys, Role, SecretBuf};
use rebound_engine::handoff::EstablishedSa;
use rebound_engine::rand::RandomSource;
use rebound_engine::responder::{Counter, PacketMeta, ResponderConfig, ResponderShared};
use rebound_engine::slow_path::{
    IkeProposal, Psk, PskTable, SaEvent, SlowPathConfig, SlowPathCounter, SlowPathResponder,
};
use rebound_engine::ticket::state::TicketIdentity;
use rebound_engine::time::Timestamp;
use rebound_engine::wire::{
    ExchangeType, HEADER_LEN, HeaderRepr, IdType, KeRepr, Message, MessageBuilder, NonceRepr,
    NotifyRepr, NotifyType, Payload, PayloadIter, PayloadType, ProposalSpec, ProtocolId, SaRepr,
};

use crate::pair::{Dir, Fate, Gateway, HOUR, Pair, T0, rng};

/// The gateway's identity (IDr).
pub const GW_ID: &[u8] = b"gw.example.net";

pub fn fqdn(name: &[u8]) -> TicketIdentity {
    TicketIdentity::new(IdType::FQDN, name).expect("valid identity")
}

pub fn secret(s: &[u8]) -> SecretBuf {
    SecretBuf::from_slice(s).expect("a PSK of at most 64 bytes")
}

pub fn psk(id: TicketIdentity, s: &[u8]) -> Psk {
    Psk {
        id,
        secret: secret(s),
        tickets: true,
    }
}

/// Alice: the usual client, FQDN identity.
pub fn alice() -> TicketIdentity {
    fqdn(b"alice.example.net")
}

pub const ALICE_PSK: &[u8] = b"alice's pre-shared key, long enough";

/// The slow path's settings: default child and ticket policy, the default
/// IKE policy, IDr [`GW_ID`], re-authentication after 20 hours.
pub fn slow_path_config() -> SlowPathConfig {
    SlowPathConfig {
        responder: ResponderConfig::default(),
        ike: IkeProposal::default_policy(),
        local_id: fqdn(GW_ID),
        reauth_secs: 20 * HOUR,
        revoke_on_delete: true,
        max_children: 4,
    }
}

/// Alice's client: the given IKE proposal and KE group, IDr required.
pub fn client_config(ike: &str, group: DhGroup) -> FullConfig {
    let mut c = FullConfig::new(alice(), secret(ALICE_PSK));
    c.ike = vec![IkeProposal::parse(ike).expect("valid proposal")];
    c.group = group;
    c.id_r = Some(fqdn(GW_ID));
    c
}

/// The internal addresses the slow path hands out.
pub fn pool() -> Arc<MemoryPool> {
    Arc::new(MemoryPool::new(Some((Ipv4Addr::new(10, 9, 0, 1), 100)), None).expect("pool"))
}

/// What a successful full exchange left on the client.
pub struct Established {
    pub sa: Box<EstablishedSa>,
    pub session: ClientSession,
    pub ticket: Option<ClientTicket>,
    pub ticket_acked: bool,
    pub ticket_nacked: bool,
    pub child_error: Option<NotifyType>,
    pub auth_lifetime: Option<u32>,
}

type FaultFn = Box<dyn FnMut(Dir, usize, &[u8]) -> Fate>;
type BoxedRng = Box<dyn FnMut(&mut [u8]) + Send>;

pub struct FullPair {
    pub now: Timestamp,
    pub slow: SlowPathResponder,
    /// The resumption gateway (worker 0) sharing the key ring and guard;
    /// lent to a [`Pair`] by [`FullPair::resume`].
    pub gw: Option<Gateway>,
    pub client: FullInitiator,
    pub client_addr: SocketAddr,
    pub gw_addr: SocketAddr,
    pub client_rng: BoxedRng,
    /// The slow path's events, in order.
    pub gw_events: Vec<SaEvent>,
    pub client_events: Vec<FullEvent>,
    /// Every datagram as sent, before the fault injector.
    pub capture: Vec<(Dir, Vec<u8>)>,
    pub faults: FaultFn,
    to_gw: VecDeque<Vec<u8>>,
    to_client: VecDeque<Vec<u8>>,
    sent: [usize; 2],
}

impl FullPair {
    /// A slow path with `config` and `psks`, and a client with `client`.
    pub fn new(config: SlowPathConfig, psks: Vec<Psk>, client: FullConfig) -> Self {
        Self::with_slow_rng(config, psks, client, Box::new(rng(0x510e_0001)))
    }

    /// As [`FullPair::new`], the slow path drawing its randomness from
    /// `slow_rng` (see [`forcing_rng`]).
    pub fn with_slow_rng(
        config: SlowPathConfig,
        psks: Vec<Psk>,
        client: FullConfig,
        slow_rng: Box<dyn RandomSource + Send>,
    ) -> Self {
        let gw = Gateway::new(ResponderConfig::default());
        let shared = ResponderShared {
            keys: gw.cell.clone(),
            guard: gw.guard.clone(),
            revocations: None,
            store: None,
            pool: Some(pool() as Arc<dyn AddressPool>),
        };
        let now = Timestamp::from_secs(T0);
        let slow =
            SlowPathResponder::new(config, shared, Arc::new(PskTable::new(psks)), slow_rng, now);
        let mut client_rng: BoxedRng = Box::new(rng(0xc11e_0001));
        let client_addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7)), 500);
        let gw_addr = gw.addr;
        let client = FullInitiator::new(Arc::new(client), client_addr, gw_addr, &mut client_rng)
            .expect("the client starts");
        FullPair {
            now,
            slow,
            gw: Some(gw),
            client,
            client_addr,
            gw_addr,
            client_rng,
            gw_events: Vec::new(),
            client_events: Vec::new(),
            capture: Vec::new(),
            faults: Box::new(|_, _, _| Fate::Deliver),
            to_gw: VecDeque::new(),
            to_client: VecDeque::new(),
            sent: [0, 0],
        }
    }

    /// Alice with `ike`/`group` against the default slow path.
    pub fn alice(ike: &str, group: DhGroup) -> Self {
        Self::new(
            slow_path_config(),
            vec![psk(alice(), ALICE_PSK)],
            client_config(ike, group),
        )
    }

    pub fn count(&self, c: SlowPathCounter) -> u64 {
        self.slow.counters().get(c)
    }

    /// One datagram to the slow path, as from the client; its answer.
    /// Events go to `gw_events`.
    pub fn gw_handle(&mut self, bytes: &[u8]) -> Option<Vec<u8>> {
        self.gw_handle_from(self.client_addr, bytes)
    }

    /// As [`FullPair::gw_handle`], the datagram coming from `peer` (a NAT
    /// that moved the client, or a float to port 4500).
    pub fn gw_handle_from(&mut self, peer: SocketAddr, bytes: &[u8]) -> Option<Vec<u8>> {
        let meta = PacketMeta {
            peer,
            local: self.gw_addr,
        };
        let mut out = vec![0u8; 4096];
        let o = self.slow.handle(self.now, &meta, bytes, &mut out);
        for e in o.events {
            self.gw_events.push(e);
        }
        o.reply.map(|n| out[..n].to_vec())
    }

    /// The datagrams the client has due now.
    pub fn client_transmit(&mut self) -> Vec<Vec<u8>> {
        let mut buf = [0u8; 4096];
        let mut v = Vec::new();
        while let Some(n) = self.client.poll_transmit(self.now, &mut buf) {
            v.push(buf[..n].to_vec());
        }
        v
    }

    /// Hand a datagram to the client.
    pub fn client_receive(&mut self, bytes: &[u8]) {
        self.client.handle(self.now, bytes, &mut self.client_rng);
        self.collect_events();
    }

    fn collect_events(&mut self) {
        while let Some(e) = self.client.poll_event() {
            self.client_events.push(e);
        }
    }

    fn send(&mut self, dir: Dir, bytes: Vec<u8>) {
        self.capture.push((dir, bytes.clone()));
        let k = dir as usize;
        let index = self.sent[k];
        self.sent[k] += 1;
        let q = match dir {
            Dir::ToGateway => &mut self.to_gw,
            Dir::ToClient => &mut self.to_client,
        };
        match (self.faults)(dir, index, &bytes) {
            Fate::Deliver => q.push_back(bytes),
            Fate::Drop => {}
            Fate::Duplicate => {
                q.push_back(bytes.clone());
                q.push_back(bytes);
            }
        }
    }

    /// One round: the client transmits, the slow path answers, the client
    /// reads. Returns whether anything moved.
    pub fn step(&mut self) -> bool {
        let mut moved = false;
        for d in self.client_transmit() {
            self.send(Dir::ToGateway, d);
            moved = true;
        }
        while let Some(d) = self.to_gw.pop_front() {
            moved = true;
            if let Some(r) = self.gw_handle(&d) {
                self.send(Dir::ToClient, r);
            }
        }
        while let Some(d) = self.to_client.pop_front() {
            moved = true;
            self.client_receive(&d);
        }
        moved
    }

    /// Run until the client is done, advancing the clock to its next timer
    /// whenever nothing moves.
    pub fn run(&mut self) {
        for _ in 0..10_000 {
            if self.step() {
                continue;
            }
            if self.client.is_done() {
                return;
            }
            match self.client.poll_timeout() {
                Some(t) => self.advance_to(t),
                None => return,
            }
        }
        panic!("the pair never settled");
    }

    pub fn advance_to(&mut self, t: Timestamp) {
        if t > self.now {
            self.now = t;
        }
        self.client.handle_timeout(self.now);
        self.collect_events();
        self.slow.handle_timeout(self.now);
    }

    /// The client's single event, which must be `Established`.
    pub fn established(&mut self) -> Established {
        assert_eq!(self.client_events.len(), 1, "{:?}", self.client_events);
        match self.client_events.remove(0) {
            FullEvent::Established {
                sa,
                session,
                ticket,
                ticket_acked,
                ticket_nacked,
                child_error,
                auth_lifetime,
            } => Established {
                sa,
                session,
                ticket,
                ticket_acked,
                ticket_nacked,
                child_error,
                auth_lifetime,
            },
            FullEvent::Failed(f) => panic!("the full exchange failed: {f:?}"),
        }
    }

    /// The client's single event, which must be `Failed`.
    pub fn failure(&mut self) -> FullFailure {
        assert_eq!(self.client_events.len(), 1, "{:?}", self.client_events);
        match self.client_events.remove(0) {
            FullEvent::Failed(f) => f,
            other => panic!("the full exchange should have failed: {other:?}"),
        }
    }

    /// The slow path's single established SA so far (the last event).
    pub fn gw_sa(&self) -> &EstablishedSa {
        match self.gw_events.last() {
            Some(SaEvent::Established(sa)) => sa,
            other => panic!("no established SA on the gateway: {other:?}"),
        }
    }

    /// Send `request` of `session` to the slow path and read its answer.
    /// Returns the answer's bytes too, for retransmission checks.
    pub fn exchange(
        &mut self,
        session: &mut ClientSession,
        request: &[u8],
    ) -> (SessionResponse, Vec<u8>) {
        let answer = self.gw_handle(request).expect("the slow path answers");
        let r = session
            .response(self.now, &answer, &mut self.client_rng)
            .expect("the answer is the response");
        (r, answer)
    }

    /// Resume `ticket` with a [`ResumeInitiator`] against the resumption
    /// gateway; its event, and the gateway's SA when it resumed.
    pub fn resume(&mut self, ticket: ClientTicket) -> (InitiatorEvent, Option<EstablishedSa>) {
        self.resume_with(InitiatorConfig::default(), ticket)
    }

    /// As [`FullPair::resume`], the client configured with `cfg`.
    pub fn resume_with(
        &mut self,
        cfg: InitiatorConfig,
        ticket: ClientTicket,
    ) -> (InitiatorEvent, Option<EstablishedSa>) {
        let gw = self.gw.take().expect("the gateway is here");
        let mut p = Pair::new(gw);
        p.now = self.now;
        p.connect(cfg, ticket).expect("the resumption starts");
        p.run();
        let ev = p.clients[0].events.pop().expect("an event");
        let sa = p.established.pop();
        self.now = p.now;
        self.gw = Some(p.gw);
        (ev, sa)
    }

    /// A counter of the resumption gateway.
    pub fn gw_count(&self, c: Counter) -> u64 {
        self.gw.as_ref().expect("the gateway is here").count(c)
    }
}

/// Values a [`forcing_rng`] hands out for its next 4-byte draws (an ESP
/// SPI), in order, before it goes back to its seeded generator.
pub type Forced = Arc<Mutex<VecDeque<[u8; 4]>>>;

/// A seeded generator whose 4-byte draws can be forced: the slow path's
/// inbound ESP SPIs, to make one collide on purpose.
pub fn forcing_rng(seed: u64) -> (Box<dyn RandomSource + Send>, Forced) {
    let forced: Forced = Arc::default();
    let queue = forced.clone();
    let mut inner = rng(seed);
    let f = move |out: &mut [u8]| {
        let next = if out.len() == 4 {
            queue.lock().expect("not poisoned").pop_front()
        } else {
            None
        };
        match next {
            Some(v) => out.copy_from_slice(&v),
            None => inner(out),
        }
    };
    (Box::new(f), forced)
}

/// The client's next 4-byte draw (the inbound ESP SPI of its next child SA
/// request) is `spi`.
pub fn force_client_spi(p: &mut FullPair, spi: [u8; 4]) {
    let mut inner = std::mem::replace(&mut p.client_rng, Box::new(|_: &mut [u8]| {}));
    let mut forced = Some(spi);
    p.client_rng = Box::new(move |out: &mut [u8]| match forced.take() {
        Some(v) if out.len() == 4 => out.copy_from_slice(&v),
        other => {
            forced = other;
            inner(out)
        }
    });
}

/// The payloads of an unprotected message.
pub fn payloads(bytes: &[u8]) -> Vec<Payload<'_>> {
    let mut v = Vec::new();
    Message::parse(bytes)
        .expect("an IKE message")
        .parse_all(|p| {
            v.push(p);
            Ok(())
        })
        .expect("well-formed payloads");
    v
}

/// The single notify of an unprotected answer.
pub fn only_notify(bytes: &[u8]) -> (NotifyType, Vec<u8>) {
    match payloads(bytes).as_slice() {
        [Payload::Notify(n)] => (n.notify_type, n.data.to_vec()),
        other => panic!("not a lone notify: {other:?}"),
    }
}

/// All seven keys equal, and not empty where the suite has them.
pub fn assert_keys_equal(a: &IkeKeys, b: &IkeKeys) {
    for (x, y) in [
        (&a.sk_d, &b.sk_d),
        (&a.sk_ai, &b.sk_ai),
        (&a.sk_ar, &b.sk_ar),
        (&a.sk_ei, &b.sk_ei),
        (&a.sk_er, &b.sk_er),
        (&a.sk_pi, &b.sk_pi),
        (&a.sk_pr, &b.sk_pr),
    ] {
        assert!(x.ct_eq(y), "a key differs");
    }
    assert!(!a.sk_d.is_empty() && !a.sk_ei.is_empty() && !a.sk_pr.is_empty());
}

pub fn sent(p: &FullPair, dir: Dir) -> Vec<&[u8]> {
    p.capture
        .iter()
        .filter(|(d, _)| *d == dir)
        .map(|(_, b)| b.as_slice())
        .collect()
}

pub fn message_id(bytes: &[u8]) -> u32 {
    Message::parse(bytes).unwrap().header.message_id
}

/// An unprotected IKE_SA_INIT answer with one notify, as a responder
/// would send it.
pub fn refusal(spi_i: [u8; 8], t: NotifyType, data: &[u8]) -> Vec<u8> {
    let hdr = HeaderRepr::responder_response(spi_i, [0; 8], ExchangeType::IKE_SA_INIT, 0);
    let mut buf = vec![0u8; 256];
    let mut b = MessageBuilder::new(&mut buf, &hdr).unwrap();
    b.push(&Payload::Notify(NotifyRepr::ike(t, data))).unwrap();
    let n = b.finish().unwrap();
    buf.truncate(n);
    buf
}

/// An IKE_SA_INIT request made by hand, with any KE `key` (valid or not).
pub fn crafted_init(spi_i: [u8; 8], group: DhGroup, key: &[u8]) -> Vec<u8> {
    crafted_init_offering(spi_i, "aes256gcm16-prfsha256-curve25519-ecp256", group, key)
}

/// As [`crafted_init`], offering the proposal `prop`.
pub fn crafted_init_offering(spi_i: [u8; 8], prop: &str, group: DhGroup, key: &[u8]) -> Vec<u8> {
    let ike = IkeProposal::parse(prop).unwrap();
    let t = ike.transforms(Some(group));
    let props = [ProposalSpec {
        num: 1,
        protocol: ProtocolId::IKE,
        spi: &[],
        transforms: &t,
    }];
    let hdr = HeaderRepr::initiator_request(spi_i, [0; 8], ExchangeType::IKE_SA_INIT, 0);
    let mut buf = vec![0u8; 1024];
    let mut b = MessageBuilder::new(&mut buf, &hdr).unwrap();
    b.push(&Payload::Sa(SaRepr::new(&props))).unwrap();
    b.push(&Payload::Ke(KeRepr {
        dh_group: group.id(),
        key_data: key,
    }))
    .unwrap();
    b.push(&Payload::Nonce(NonceRepr { nonce: &[7; 32] }))
        .unwrap();
    let n = b.finish().unwrap();
    buf.truncate(n);
    buf
}

/// Curve25519 with AES-256-GCM and PRF-SHA256: the usual suite.
pub const CURVE: &str = "aes256gcm16-prfsha256-curve25519";

/// A full exchange of Alice in `ike` with a KE of `group`.
pub fn full(ike: &str, group: DhGroup) -> (FullPair, Established) {
    let mut p = FullPair::alice(ike, group);
    p.run();
    let e = p.established();
    (p, e)
}

/// The SA and next ticket of a resumption that succeeded.
pub fn resumed(ev: &InitiatorEvent) -> (&EstablishedSa, Option<&ClientTicket>) {
    match ev {
        InitiatorEvent::Established {
            sa,
            new_ticket,
            child_error: None,
            ..
        } => (sa, new_ticket.as_ref()),
        other => panic!("the ticket did not resume: {other:?}"),
    }
}

/// Each slow-path counter has the value wanted.
pub fn assert_counts(p: &FullPair, want: &[(SlowPathCounter, u64)]) {
    for (c, n) in want {
        assert_eq!(p.count(*c), *n, "counter {}", c.label());
    }
}

/// A CREATE_CHILD_SA request on `session`'s IKE SA made by hand: message
/// id `message_id`, `inner` in its SK payload, protected with the
/// session's outbound SK keys (SK_ei/SK_ai) as the client would. The
/// session itself knows nothing of it: its own next request keeps its
/// message id.
pub fn crafted_create_child(
    session: &ClientSession,
    message_id: u32,
    inner: &[Payload<'_>],
) -> Vec<u8> {
    let (outbound, _) = session
        .keys()
        .sk_ciphers(&session.suite(), Role::Initiator)
        .expect("the session's SK ciphers");
    let hdr = HeaderRepr::initiator_request(
        session.spi_i(),
        session.spi_r(),
        ExchangeType::CREATE_CHILD_SA,
        message_id,
    );
    let mut buf = vec![0u8; 4096];
    let mut b = MessageBuilder::new(&mut buf, &hdr).expect("room for the header");
    let iv_len = outbound.encr().iv_len();
    b.begin_sk(iv_len).expect("the SK payload starts");
    for p in inner {
        b.push(p).expect("the payload fits");
    }
    let sk = b
        .end_sk(|n| outbound.layout(n).trailer_len())
        .expect("the SK payload ends");
    let n = b.finish().expect("the message ends");
    buf.truncate(n);
    // A distinct IV per message id.
    let mut iv = [0x1f; 16];
    iv[..4].copy_from_slice(&message_id.to_be_bytes());
    outbound
        .protect(&mut buf, sk.sk_offset, sk.plaintext.len(), &iv[..iv_len])
        .expect("protected");
    buf
}

/// What a protected answer to `session` carries, opened with the
/// session's inbound SK keys (SK_er/SK_ar).
#[derive(Debug)]
pub struct Opened {
    pub message_id: u32,
    pub exchange: ExchangeType,
    /// Each payload's type, in order.
    pub types: Vec<PayloadType>,
    /// Each notify's type and data, in order.
    pub notifies: Vec<(NotifyType, Vec<u8>)>,
}

impl Opened {
    /// The answer's lone notify (a refusal).
    pub fn only_notify(&self) -> (NotifyType, Vec<u8>) {
        assert_eq!(self.types, [PayloadType::NOTIFY], "{self:?}");
        self.notifies[0].clone()
    }
}

/// Open `answer`, a response on `session`'s IKE SA.
pub fn open_answer(session: &ClientSession, answer: &[u8]) -> Opened {
    let (_, inbound) = session
        .keys()
        .sk_ciphers(&session.suite(), Role::Initiator)
        .expect("the session's SK ciphers");
    let msg = Message::parse(answer).expect("an IKE message");
    let h = msg.header;
    assert!(
        h.flags.response() && !h.flags.initiator(),
        "a responder's answer"
    );
    assert_eq!((h.spi_i, h.spi_r), (session.spi_i(), session.spi_r()));
    let sk = msg
        .payloads()
        .next()
        .and_then(Result::ok)
        .filter(|p| p.ptype == PayloadType::SK)
        .expect("an SK payload first");
    let mut copy = answer.to_vec();
    let range = inbound
        .unprotect(&mut copy, HEADER_LEN + sk.offset)
        .expect("authentic");
    let mut opened = Opened {
        message_id: h.message_id,
        exchange: h.exchange_type,
        types: Vec::new(),
        notifies: Vec::new(),
    };
    for raw in PayloadIter::new(sk.next, &copy[range]) {
        let raw = raw.expect("well-formed inner payloads");
        opened.types.push(raw.ptype);
        if let Payload::Notify(n) = raw.parse().expect("a valid payload") {
            opened.notifies.push((n.notify_type, n.data.to_vec()));
        }
    }
    opened
}
