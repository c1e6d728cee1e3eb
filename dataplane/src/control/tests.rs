//! The control plane's unit tests: the slow path served under backpressure,
//! the ordered hand-off of SAs and events, the backlog bound.

use super::*;
use crate::runtime::BufferedOsRng;
use rebound_engine::client::{FullConfig, FullInitiator};
use rebound_engine::crypto::SecretBuf;
use rebound_engine::responder::ResponderShared;
use rebound_engine::slow_path::{Psk, SlowPathConfig};
use rebound_engine::ticket::guard::{GuardConfig, MemoryGuard};
use rebound_engine::ticket::keyring::KeyRingCell;
use rebound_engine::ticket::state::TicketIdentity;
use rebound_engine::wire::IdType;
use std::net::SocketAddr;
use std::sync::atomic::AtomicUsize;

/// A sink whose daemon's window stays full until `open`.
struct Full {
    refused: Arc<AtomicUsize>,
    open: Arc<AtomicBool>,
}

impl HandoffSink for Full {
    fn name(&self) -> &str {
        "full"
    }
    fn deliver(&mut self, _batch: &[Box<EstablishedSa>]) -> std::io::Result<()> {
        if self.open.load(Ordering::SeqCst) {
            return Ok(());
        }
        self.refused.fetch_add(1, Ordering::SeqCst);
        Err(std::io::ErrorKind::WouldBlock.into())
    }
    fn flush(&mut self, _deadline: Instant) -> std::io::Result<()> {
        Ok(())
    }
}

const PSK: &[u8] = b"a pre-shared key for this unit test";

fn id(n: &str) -> TicketIdentity {
    TicketIdentity::new(IdType::FQDN, n.as_bytes()).unwrap()
}

/// The first full exchange's SA waits on a refusing sink; the second
/// client's IKE_SA_INIT is answered meanwhile.
#[test]
fn the_slow_path_is_served_while_a_sink_refuses() {
    let now = crate::runtime::now();
    let ring = crate::gateway::ephemeral_ring().unwrap();
    let shared = ResponderShared {
        keys: Arc::new(KeyRingCell::new(ring)),
        guard: Arc::new(MemoryGuard::new(GuardConfig::default(), [1; 16]).unwrap()),
        revocations: None,
        store: None,
        pool: None,
    };
    let psks = PskTable::new(["a.example", "b.example"].map(|n| Psk {
        id: id(n),
        secret: SecretBuf::from_slice(PSK).unwrap(),
        tickets: true,
    }));
    let slow_path = SlowPathResponder::new(
        SlowPathConfig::default(),
        shared,
        Arc::new(psks),
        Box::new(BufferedOsRng::new()),
        now,
    );
    let (sa_tx, sa_rx) = crossbeam_channel::bounded(4);
    let (slow_tx, slow_rx) = crossbeam_channel::bounded(16);
    let (reply_tx, reply_rx) = crossbeam_channel::bounded(16);
    let refused = Arc::new(AtomicUsize::new(0));
    let open = Arc::new(AtomicBool::new(false));
    let plane = ControlPlane {
        sas: sa_rx,
        slow: slow_rx,
        sinks: vec![Box::new(Full {
            refused: refused.clone(),
            open: open.clone(),
        })],
        snapshot: Arc::new(Mutex::new(ControlSnapshot::default())),
        abort: Arc::new(AtomicBool::new(false)),
        slow_path,
        replies: vec![reply_tx],
        returns: Vec::new(),
        psk_reload: Arc::new(Mutex::new(None)),
        state: Arc::new(AtomicU8::new(RUN)),
        store: None,
    };
    let thread = std::thread::spawn(move || plane.run());
    let gw: SocketAddr = "192.0.2.1:500".parse().unwrap();
    let mut rng = BufferedOsRng::new();
    let mut buf = vec![0u8; 8192];
    let client = |name: &str, port: u16, rng: &mut BufferedOsRng| {
        let cfg = FullConfig::new(id(name), SecretBuf::from_slice(PSK).unwrap());
        let peer: SocketAddr = format!("198.51.100.7:{port}").parse().unwrap();
        (
            peer,
            FullInitiator::new(Arc::new(cfg), peer, gw, rng).unwrap(),
        )
    };
    let ask = |peer: SocketAddr, data: &[u8]| {
        slow_tx
            .send(SlowPacket {
                worker: 0,
                socket: 0,
                peer,
                local: gw,
                data: data.to_vec(),
            })
            .unwrap();
        reply_rx
            .recv_timeout(Duration::from_secs(5))
            .expect("the slow path answers")
    };
    // Client A: a whole full exchange; its SA then waits on the sink.
    let (peer_a, mut a) = client("a.example", 1000, &mut rng);
    for _ in 0..2 {
        let n = a.poll_transmit(now, &mut buf).unwrap();
        let reply = ask(peer_a, &buf[..n]);
        a.handle(now, &reply.data, &mut rng);
    }
    assert!(a.poll_event().is_some());
    let deadline = Instant::now() + Duration::from_secs(5);
    while refused.load(Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "the sink was never asked");
        std::thread::sleep(Duration::from_millis(5));
    }
    // Client B is answered while A's SA is still refused.
    let (peer_b, mut b) = client("b.example", 1001, &mut rng);
    let n = b.poll_transmit(now, &mut buf).unwrap();
    let reply = ask(peer_b, &buf[..n]);
    assert_eq!(reply.peer, peer_b);
    assert!(!open.load(Ordering::SeqCst));
    open.store(true, Ordering::SeqCst);
    drop(sa_tx);
    drop(slow_tx);
    thread.join().unwrap();
}

/// A sink that records what it takes, in order (`sa:<SPIr>` for an SA,
/// the event line for an event), and refuses events while `refuse`.
struct Recorder {
    got: Arc<Mutex<Vec<String>>>,
    refuse: Arc<AtomicBool>,
}

impl HandoffSink for Recorder {
    fn name(&self) -> &str {
        "recorder"
    }
    fn deliver(&mut self, batch: &[Box<EstablishedSa>]) -> std::io::Result<()> {
        let mut got = self.got.lock().unwrap();
        got.extend(
            batch
                .iter()
                .map(|sa| format!("sa:{}", hex::encode(sa.spi_r))),
        );
        Ok(())
    }
    fn deliver_events(&mut self, events: &[SaChange]) -> std::io::Result<()> {
        if self.refuse.load(Ordering::SeqCst) {
            return Err(std::io::ErrorKind::WouldBlock.into());
        }
        let mut got = self.got.lock().unwrap();
        got.extend(
            events
                .iter()
                .map(|e| crate::sink::event_line(e).to_string()),
        );
        Ok(())
    }
    fn flush(&mut self, _deadline: Instant) -> std::io::Result<()> {
        Ok(())
    }
}

struct Bench {
    plane: ControlPlane,
    work: Work,
    got: Vec<Arc<Mutex<Vec<String>>>>,
    refuse: Vec<Arc<AtomicBool>>,
}

/// A control plane with `n` recording sinks, driven by hand.
fn bench(n: usize) -> Bench {
    let now = crate::runtime::now();
    let ring = crate::gateway::ephemeral_ring().unwrap();
    let shared = ResponderShared {
        keys: Arc::new(KeyRingCell::new(ring)),
        guard: Arc::new(MemoryGuard::new(GuardConfig::default(), [1; 16]).unwrap()),
        revocations: None,
        store: None,
        pool: None,
    };
    let slow_path = SlowPathResponder::new(
        SlowPathConfig::default(),
        shared,
        Arc::new(PskTable::new([])),
        Box::new(BufferedOsRng::new()),
        now,
    );
    let got: Vec<_> = (0..n).map(|_| Arc::new(Mutex::new(Vec::new()))).collect();
    let refuse: Vec<_> = (0..n).map(|_| Arc::new(AtomicBool::new(false))).collect();
    let sinks: Vec<Box<dyn HandoffSink>> = got
        .iter()
        .zip(&refuse)
        .map(|(g, r)| {
            Box::new(Recorder {
                got: g.clone(),
                refuse: r.clone(),
            }) as Box<dyn HandoffSink>
        })
        .collect();
    // The queues' other ends are dropped: the bench never waits on them.
    let (_, sa_rx) = crossbeam_channel::bounded(4);
    let (_, slow_rx) = crossbeam_channel::bounded(4);
    let plane = ControlPlane {
        sas: sa_rx,
        slow: slow_rx,
        sinks,
        snapshot: Arc::new(Mutex::new(ControlSnapshot::default())),
        abort: Arc::new(AtomicBool::new(false)),
        slow_path,
        replies: Vec::new(),
        returns: Vec::new(),
        psk_reload: Arc::new(Mutex::new(None)),
        state: Arc::new(AtomicU8::new(RUN)),
        store: None,
    };
    let work = Work {
        stats: ControlSnapshot::default(),
        pending: VecDeque::new(),
        taken: vec![0; n],
        out: Vec::new(),
    };
    Bench {
        plane,
        work,
        got,
        refuse,
    }
}

impl Bench {
    fn run(&mut self) -> bool {
        let mut batch = Vec::new();
        let done = self.plane.hand_off_pending(&mut batch, &mut self.work);
        assert!(batch.is_empty());
        done
    }
    fn got(&self, i: usize) -> Vec<String> {
        self.got[i].lock().unwrap().clone()
    }
}

/// A slow-path SA (in the slow path's table already: `take` only hands
/// it off) with SPIr ending in `n`.
fn slow_sa(n: u8) -> Box<EstablishedSa> {
    let mut sa = crate::sink::fixtures::v4();
    sa.worker = CONTROL_SPI_TAG;
    sa.spi_r = [CONTROL_SPI_TAG, 0, 0, 0, 0, 0, 0, n];
    sa
}

fn sa_tag(n: u8) -> String {
    format!("sa:{}", hex::encode([CONTROL_SPI_TAG, 0, 0, 0, 0, 0, 0, n]))
}

/// Created, rekeyed and deleted children of `sa`, and its delete.
fn child_events(sa: &EstablishedSa) -> Vec<SaChange> {
    use crate::sink::fixtures::other_child;
    use rebound_engine::handoff::ChildSpis;
    let ike = (sa.spi_i, sa.spi_r);
    let spis = |c: &rebound_engine::handoff::ChildSa| ChildSpis {
        spi_i: c.spi_i,
        spi_r: c.spi_r,
    };
    let second = other_child(sa, 0xc1);
    let old = spis(sa.child.as_ref().unwrap());
    vec![
        SaChange::ChildCreated {
            ike,
            child: second.clone(),
        },
        SaChange::ChildRekeyed {
            ike,
            old,
            child: other_child(sa, 0xc2),
        },
        SaChange::ChildDeleted {
            ike,
            children: vec![old, spis(&second)],
        },
        SaChange::Deleted {
            spi_i: sa.spi_i,
            spi_r: sa.spi_r,
        },
    ]
}

fn lines(events: &[SaChange]) -> Vec<String> {
    events
        .iter()
        .map(|e| crate::sink::event_line(e).to_string())
        .collect()
}

/// SAs and events reach every sink in the order the slow path made
/// them, and are counted once every sink has them.
#[test]
fn slow_path_output_reaches_every_sink_in_order() {
    let mut b = bench(2);
    let (a, c) = (slow_sa(1), slow_sa(2));
    let (ea, ec) = (child_events(&a), child_events(&c));
    b.work.push_sa(a);
    for e in &ea[..2] {
        b.work.push_event(e.clone());
    }
    b.work.push_sa(c);
    b.work.push_event(ec[0].clone());
    for e in &ea[2..] {
        b.work.push_event(e.clone());
    }
    assert!(b.run());
    let mut want = vec![sa_tag(1)];
    want.extend(lines(&ea[..2]));
    want.push(sa_tag(2));
    want.extend(lines(&ec[..1]));
    want.extend(lines(&ea[2..]));
    assert_eq!(b.got(0), want);
    assert_eq!(b.got(1), want);
    assert!(b.work.pending.is_empty());
    let s = &b.work.stats;
    assert_eq!(s.handed_off, 2);
    assert_eq!(
        (s.child_created, s.child_rekeyed, s.child_deleted),
        (2, 1, 2)
    );
    assert_eq!((s.abandoned_deletes, s.abandoned_child_events), (0, 0));
    assert!(want[1].starts_with(r#"{"child_created":"#));
}

/// A sink refusing events keeps them (the other sink gets each once),
/// and nothing behind them moves until it takes them.
#[test]
fn a_refusing_sink_holds_the_events_and_what_follows() {
    let mut b = bench(2);
    let (a, c) = (slow_sa(1), slow_sa(2));
    let ea = child_events(&a);
    b.work.push_sa(a);
    for e in &ea {
        b.work.push_event(e.clone());
    }
    b.work.push_sa(c);
    b.refuse[1].store(true, Ordering::SeqCst);
    for _ in 0..3 {
        assert!(!b.run(), "the second sink refuses");
    }
    let mut before = vec![sa_tag(1)];
    before.extend(lines(&ea));
    assert_eq!(b.got(0), before, "each event once, and not the SA behind");
    assert_eq!(b.got(1), [sa_tag(1)]);
    assert_eq!(b.work.stats.handed_off, 1);
    assert_eq!(
        b.work.stats.child_created, 0,
        "not counted until every sink has it"
    );
    assert_eq!(b.work.stats.sink_waits, 3);
    assert_eq!(b.work.pending.len(), 2, "the events and the SA behind them");
    b.refuse[1].store(false, Ordering::SeqCst);
    assert!(b.run());
    before.push(sa_tag(2));
    assert_eq!(b.got(0), before);
    assert_eq!(b.got(1), before);
    let s = &b.work.stats;
    assert_eq!(
        (s.child_created, s.child_rekeyed, s.child_deleted),
        (1, 1, 2)
    );
    assert_eq!(s.handed_off, 2);
    assert!(b.work.pending.is_empty());
    assert_eq!(b.work.taken, [0, 0]);
}

/// Refused events are given up only at a forced stop, and counted.
#[test]
fn events_are_abandoned_only_at_a_forced_stop() {
    let mut b = bench(1);
    let a = slow_sa(1);
    let ea = child_events(&a);
    for e in &ea {
        b.work.push_event(e.clone());
    }
    b.refuse[0].store(true, Ordering::SeqCst);
    assert!(!b.run());
    assert_eq!(b.work.stats.abandoned_child_events, 0);
    b.plane.abort.store(true, Ordering::SeqCst);
    assert!(b.run());
    let s = &b.work.stats;
    assert_eq!((s.abandoned_child_events, s.abandoned_deletes), (3, 1));
    assert_eq!(
        (s.child_created, s.child_rekeyed, s.child_deleted),
        (0, 0, 0)
    );
    assert!(b.work.pending.is_empty());
    assert!(b.got(0).is_empty());
}

/// Without sinks, events are counted as handed off at once.
#[test]
fn events_without_sinks_are_not_held() {
    let mut b = bench(0);
    let a = slow_sa(1);
    for e in child_events(&a) {
        b.work.push_event(e);
    }
    assert!(b.run());
    assert_eq!(b.work.stats.child_deleted, 2);
}

/// The slow path waits once its untaken output reaches the bound, and
/// goes on once the sinks have taken it.
#[test]
fn a_full_backlog_holds_the_slow_path() {
    let mut b = bench(0);
    for n in 0..SLOW_BACKLOG - 1 {
        let spi = (n as u64).to_be_bytes();
        b.work.push_event(SaChange::Deleted {
            spi_i: spi,
            spi_r: spi,
        });
    }
    assert_eq!(b.work.backlog(), SLOW_BACKLOG - 1);
    assert!(!b.work.slow_held());
    b.work.push_sa(slow_sa(1));
    assert!(b.work.slow_held());
    assert!(b.work.slow_held());
    assert_eq!(b.work.stats.slow_held, 2);
    // Without sinks the backlog is taken at once.
    assert!(b.run());
    assert_eq!(b.work.backlog(), 0);
    assert!(!b.work.slow_held());
    assert_eq!(b.work.stats.slow_held, 2);
}

/// A worker's SA, once every sink has it, goes back to that worker as an
/// empty box for its next SA (the slow path's own SAs do not); a full
/// return queue frees the box instead.
#[test]
fn handed_off_boxes_go_back_to_their_worker() {
    let mut b = bench(1);
    let (tx, rx) = crossbeam_channel::bounded(1);
    b.plane.returns = vec![tx];
    let mut ours = crate::sink::fixtures::v4();
    ours.worker = 0;
    let theirs = slow_sa(7);
    let mut again = crate::sink::fixtures::v4();
    again.worker = 0;
    again.spi_r[7] ^= 0x55;
    again.spi_i[7] ^= 0x55;
    b.work
        .pending
        .push_back(Run::Sas(vec![ours.clone(), theirs, again]));
    assert!(b.run());
    assert_eq!(b.got(0).len(), 3, "every SA reached the sink");
    let back = rx.try_recv().expect("the worker's box came back");
    assert_eq!((back.spi_i, back.spi_r), (ours.spi_i, ours.spi_r));
    // The queue held one: the second box was freed, and the slow path's
    // SA never goes to a worker.
    assert!(rx.try_recv().is_err());
}
