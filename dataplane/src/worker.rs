//! One poll-mode worker: owns its sockets (one SO_REUSEPORT socket per
//! listening address), its responder (half-open table, SPI space, RNG, key
//! ring snapshot) and its burst buffers, and shares nothing on the
//! per-packet path.
//!
//! Each turn of the loop: take forwarded IKE_AUTH from other workers, then
//! per socket receive a burst, classify every datagram on its IKE header
//! (design.md, "How a packet flows"), run the resume and IKE_AUTH stages,
//! and send the burst of answers. Established SAs go to the control plane
//! over a bounded queue; when it is full the worker holds them and stops
//! receiving until they are taken (backpressure, never a drop).

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError};
use rebound_engine::handoff::EstablishedSa;
use rebound_engine::responder::{BurstItem, Class, PacketMeta, ResumeResponder, classify};
use rebound_engine::time::Timestamp;

use crate::backend::{Backend, BackendStats, MAX_BURST, RxBatch, TxBatch};
use crate::channels::{Forwarded, Reply, SlowPacket};
use crate::cluster::{Parked, WorkerCluster};
use crate::runtime::{DRAIN, STOP, now, thread_cpu_ms};
use crate::stats::{SharedSnapshot, WorkerIo};
use rebound_engine::ticket::TicketId;

pub struct Worker {
    pub id: u8,
    pub sockets: Vec<Box<dyn Backend>>,
    pub responder: ResumeResponder,
    /// Forwarded IKE_AUTH for this worker.
    pub inbox: Receiver<Forwarded>,
    /// Every worker's inbox, by worker id.
    pub peers: Arc<[Sender<Forwarded>]>,
    pub handoff: Sender<Box<EstablishedSa>>,
    pub slow: Sender<SlowPacket>,
    /// The control plane's answers to slow-path requests this worker
    /// received.
    pub replies: Receiver<Reply>,
    /// The boxes of this worker's SAs the control plane has finished with.
    pub returns: Receiver<Box<EstablishedSa>>,
    pub state: Arc<AtomicU8>,
    pub snapshot: SharedSnapshot,
    pub idle_spins: u32,
    pub idle_sleep: Duration,
    /// How long a drain may last.
    pub drain_timeout: Duration,
    /// A gateway of a cluster: claims out, answers in, deferred requests
    /// parked meanwhile.
    pub cluster: Option<WorkerCluster>,
}

/// Per-loop state of a worker.
struct Io {
    rx: RxBatch,
    tx: Vec<TxBatch>,
    held: VecDeque<Box<EstablishedSa>>,
    stats: WorkerIo,
    /// The burst's IKE_SESSION_RESUME requests and IKE_AUTH for this
    /// worker, by slot (a burst is at most 64).
    resume: Vec<u8>,
    auth: Vec<u8>,
    /// The control plane's queue is disconnected (it crashed).
    control_gone: bool,
    /// The resume stage's answers: (transmit slot, addresses, length).
    answers: Vec<(usize, PacketMeta, usize)>,
    /// Cluster: parked datagrams whose answer came, and the tickets it
    /// was for (forgotten once they ran again).
    ready: Vec<Parked>,
    resolved: Vec<TicketId>,
}

impl Worker {
    pub fn run(mut self) {
        let mut io = Io {
            rx: RxBatch::new(MAX_BURST),
            tx: (0..self.sockets.len())
                .map(|_| TxBatch::new(MAX_BURST))
                .collect(),
            held: VecDeque::new(),
            stats: WorkerIo::default(),
            resume: Vec::with_capacity(MAX_BURST),
            auth: Vec::with_capacity(MAX_BURST),
            control_gone: false,
            answers: Vec::with_capacity(MAX_BURST),
            ready: Vec::new(),
            resolved: Vec::new(),
        };
        let mut idle = 0u32;
        let mut last_publish = Instant::now();
        let mut trims_seen = self.responder.half_open_trims();
        let mut drain_started: Option<Instant> = None;
        tracing::info!(
            worker = self.id,
            sockets = self.sockets.len(),
            "worker started"
        );
        loop {
            let state = self.state.load(Ordering::Acquire);
            if state == STOP {
                break;
            }
            if state == DRAIN {
                if drain_started.is_none() {
                    // No new exchanges; those in flight (retransmitted
                    // requests, IKE_AUTH of half-open SAs) carry on. New
                    // requests are dropped, not refused: the client
                    // retries and reaches the gateway that replaces this
                    // one.
                    self.responder.set_accepting(false);
                }
                let started = *drain_started.get_or_insert_with(Instant::now);
                if (self.responder.half_open() == 0 && io.held.is_empty())
                    || started.elapsed() >= self.drain_timeout
                {
                    break;
                }
            }
            let now = now();
            // SA boxes back from the control plane, for the next SAs: the
            // IKE_AUTH stage then allocates nothing.
            for _ in 0..MAX_BURST {
                let Ok(b) = self.returns.try_recv() else {
                    break;
                };
                self.responder.recycle(b);
            }
            let mut work = self.flush_held(&mut io);
            work += self.cluster_answers(now, &mut io);
            work += self.take_forwarded(now, &mut io);
            work += self.send_replies(&mut io);
            // Backpressure: while SAs wait for the control plane, receive
            // nothing new (the kernel queues, then drops; clients
            // retransmit).
            if io.held.is_empty() {
                for s in 0..self.sockets.len() {
                    work += self.poll_socket(now, s, &mut io);
                }
            }
            if work == 0 {
                self.responder.handle_timeout(now);
                // The half-open table gave memory back after a flood:
                // let the allocator return the freed pages too, or the
                // resident size stays at the flood's peak. Rare (at most
                // once every two half-open timeouts) and only when idle.
                let trims = self.responder.half_open_trims();
                if trims != trims_seen {
                    trims_seen = trims;
                    let released = rebound_udp_sys::release_free_heap();
                    tracing::debug!(worker = self.id, released, "half-open table trimmed");
                }
                idle = idle.saturating_add(1);
                if idle >= self.idle_spins && !self.idle_sleep.is_zero() {
                    std::thread::sleep(self.idle_sleep);
                } else {
                    std::hint::spin_loop();
                }
            } else {
                idle = 0;
            }
            if last_publish.elapsed() >= PUBLISH_EVERY {
                self.publish(&io.stats);
                last_publish = Instant::now();
            }
        }
        // Every SA established here reaches the control plane, waiting if
        // need be: the control plane runs until every worker is gone.
        for sa in io.held.drain(..) {
            if self.handoff.send(sa).is_err() {
                tracing::error!(worker = self.id, "control plane gone: SA not handed off");
            } else {
                io.stats.handed_off += 1;
            }
        }
        self.publish(&io.stats);
        tracing::info!(
            worker = self.id,
            half_open = self.responder.half_open(),
            "worker stopped"
        );
    }

    fn publish(&self, io: &WorkerIo) {
        let mut backend = BackendStats::default();
        for s in &self.sockets {
            backend.add(&s.stats());
        }
        let mut snap = self.snapshot.lock().unwrap_or_else(|p| p.into_inner());
        snap.id = self.id;
        snap.responder.clone_from(self.responder.counters());
        snap.half_open = self.responder.half_open() as u64;
        snap.half_open_bytes = self.responder.half_open_memory().0 as u64;
        snap.backend = backend;
        snap.io = *io;
        if let Some(c) = &self.cluster {
            snap.cluster = c.counters;
            snap.parked_now = c.parked.len() as u64;
        }
        if let Some((user, system)) = thread_cpu_ms() {
            snap.cpu_user_ms = user;
            snap.cpu_system_ms = system;
        }
    }

    /// Hand held SAs to the control plane while it takes them.
    fn flush_held(&mut self, io: &mut Io) -> usize {
        let mut n = 0;
        while let Some(sa) = io.held.pop_front() {
            match self.handoff.try_send(sa) {
                Ok(()) => {
                    io.stats.handed_off += 1;
                    n += 1;
                }
                Err(TrySendError::Full(sa)) => {
                    io.held.push_front(sa);
                    break;
                }
                Err(TrySendError::Disconnected(sa)) => {
                    // Only a crashed control plane gets here. The SAs stay
                    // held (never dropped) and the worker receives nothing
                    // more: say so once, loudly.
                    if !io.control_gone {
                        io.control_gone = true;
                        tracing::error!(
                            worker = self.id,
                            held = io.held.len() + 1,
                            "the control plane is gone: holding established SAs, receiving nothing"
                        );
                    }
                    io.held.push_front(sa);
                    break;
                }
            }
        }
        n
    }

    /// Queue and send the control plane's answers.
    fn send_replies(&mut self, io: &mut Io) -> usize {
        let mut n = 0;
        while n < MAX_BURST {
            let Ok(r) = self.replies.try_recv() else {
                break;
            };
            n += 1;
            let Some(tx) = io.tx.get_mut(r.socket) else {
                io.stats.tx_dropped += 1;
                continue;
            };
            if tx.is_full() {
                send_batch(&mut *self.sockets[r.socket], tx, &mut io.stats, self.id);
            }
            match tx.next_slot() {
                Some(slot) if slot.len() >= r.data.len() => {
                    slot[..r.data.len()].copy_from_slice(&r.data);
                    tx.commit(r.peer, Some(r.local), r.data.len());
                }
                _ => io.stats.tx_dropped += 1,
            }
        }
        if n > 0 {
            for s in 0..self.sockets.len() {
                self.send(s, io);
            }
        }
        n
    }

    fn take_forwarded(&mut self, now: Timestamp, io: &mut Io) -> usize {
        let mut n = 0;
        while n < MAX_BURST {
            let Ok(f) = self.inbox.try_recv() else { break };
            n += 1;
            io.stats.forwarded_in += 1;
            if f.socket >= self.sockets.len() {
                io.stats.forward_dropped += 1;
                continue;
            }
            self.answer(now, f.socket, &f.meta, &f.data, io);
        }
        for s in 0..self.sockets.len() {
            self.send(s, io);
        }
        n
    }

    /// One burst from socket `s`, stage by stage: classify every datagram
    /// on its IKE header (forwarding other workers' IKE_AUTH and passing
    /// the slow path on as it goes), then run the resume stage over the
    /// burst's IKE_SESSION_RESUME requests, then the IKE_AUTH stage, then
    /// send the burst of answers. Batched crypto (multi-buffer ticket
    /// opening and key derivation) plugs in at the two stages.
    fn poll_socket(&mut self, now: Timestamp, s: usize, io: &mut Io) -> usize {
        let n = match self.sockets[s].rx_burst(&mut io.rx) {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(worker = self.id, socket = s, error = %e, "receive failed");
                return 0;
            }
        };
        io.stats.rx_datagrams += n as u64;
        io.resume.clear();
        io.auth.clear();
        // Stage 1: classification.
        for i in 0..n {
            let m = *io.rx.meta(i);
            let data = io.rx.datagram(i);
            match classify(data) {
                Class::Resume => io.resume.push(i as u8),
                Class::Auth { owner }
                    if owner != self.id && (owner as usize) < self.peers.len() =>
                {
                    let f = Forwarded {
                        socket: s,
                        meta: PacketMeta {
                            peer: m.peer,
                            local: m.local,
                        },
                        data: data.to_vec(),
                    };
                    match self.peers[owner as usize].try_send(f) {
                        Ok(()) => io.stats.forwarded_out += 1,
                        Err(_) => io.stats.forward_dropped += 1,
                    }
                }
                Class::Auth { owner } if owner == self.id => io.auth.push(i as u8),
                // SPIr tagged for the control plane (the full exchange's
                // IKE_AUTH), or naming no worker: the slow path's.
                Class::Auth { .. } | Class::Other => {
                    let p = SlowPacket {
                        worker: self.id,
                        socket: s,
                        peer: m.peer,
                        local: m.local,
                        data: data.to_vec(),
                    };
                    match self.slow.try_send(p) {
                        Ok(()) => io.stats.to_control += 1,
                        Err(_) => io.stats.slow_dropped += 1,
                    }
                }
            }
        }
        // Stage 2: IKE_SESSION_RESUME, the whole burst at once, answers
        // written straight into the transmit slots.
        let Io {
            rx,
            tx,
            held,
            stats,
            resume,
            auth,
            answers,
            ..
        } = io;
        if !resume.is_empty() {
            if tx[s].capacity() - tx[s].len() < resume.len() {
                send_batch(&mut *self.sockets[s], &mut tx[s], stats, self.id);
            }
            let base = tx[s].len();
            let mut items = no_items();
            let m = fill_items(rx, resume, &mut tx[s], &mut items);
            // Requests beyond the free slots (the socket would not take the
            // queued answers) are dropped and counted; the peers retransmit.
            stats.tx_dropped += (resume.len() - m) as u64;
            self.responder.resume_stage(now, &mut items[..m]);
            answers.clear();
            answers.extend(
                items[..m]
                    .iter()
                    .enumerate()
                    .filter_map(|(k, it)| it.handled.reply.map(|len| (base + k, it.meta, len))),
            );
            if let (Some(c), Some(ledger)) = (self.cluster.as_mut(), self.responder.cluster_mut()) {
                // The burst's claims go out as one batch; the requests
                // that wait for them are parked.
                c.send_wants(ledger);
                for it in items[..m].iter().filter(|it| it.handled.deferred) {
                    c.park(s, it.meta, it.datagram, None);
                }
            }
            drop(items);
            for &(index, meta, len) in answers.iter() {
                tx[s].commit_slot(index, meta.peer, Some(meta.local.ip()), len);
            }
        }
        // Stage 3: the resumed IKE_AUTH, the whole burst at once (its SK
        // payloads and AUTHs in the batch kernels), answers written into
        // the transmit slots and SAs handed off as `answer_into` does.
        if !auth.is_empty() {
            if tx[s].capacity() - tx[s].len() < auth.len() {
                send_batch(&mut *self.sockets[s], &mut tx[s], stats, self.id);
            }
            let base = tx[s].len();
            let mut items = no_items();
            let m = fill_items(rx, auth, &mut tx[s], &mut items);
            stats.tx_dropped += (auth.len() - m) as u64;
            self.responder.auth_stage(now, &mut items[..m]);
            answers.clear();
            for (k, it) in items[..m].iter_mut().enumerate() {
                if let Some(len) = it.handled.reply {
                    answers.push((base + k, it.meta, len));
                }
                if let Some(sa) = it.handled.established.take() {
                    hand_off(sa, held, &self.handoff, stats);
                }
            }
            drop(items);
            for &(index, meta, len) in answers.iter() {
                tx[s].commit_slot(index, meta.peer, Some(meta.local.ip()), len);
            }
        }
        self.send(s, io);
        n
    }

    /// Cluster: take the answers that came back (or that the policy gave
    /// at the deadline), then run the datagrams that waited for them
    /// through the resume stage again, socket by socket, in bursts.
    fn cluster_answers(&mut self, now: Timestamp, io: &mut Io) -> usize {
        let Some(c) = self.cluster.as_mut() else {
            return 0;
        };
        let responder = &mut self.responder;
        // Kept across polls until the datagrams parked behind them ran
        // again (a poll may settle tickets before the batches before them).
        let resolved = &mut io.resolved;
        let done = c.poll(|id, outcome, stub| {
            if !responder.resolve_cluster(id, outcome, stub, now) {
                tracing::debug!(
                    worker = responder.config().worker_id,
                    "cluster: a stub did not open"
                );
            }
            resolved.push(id);
        });
        if done == 0 {
            return 0;
        }
        io.ready.clear();
        c.take_ready(done, &mut io.ready);
        let n = io.ready.len();
        for s in 0..self.sockets.len() {
            let mut start = 0;
            while start < io.ready.len() {
                let tx = &mut io.tx[s];
                if tx.capacity() - tx.len() < MAX_BURST {
                    send_batch(&mut *self.sockets[s], tx, &mut io.stats, self.id);
                }
                let base = tx.len();
                let mut items = no_items();
                let mut m = 0;
                let mut from = [0usize; MAX_BURST];
                let mut k = start;
                {
                    let mut free = tx.free_slots_mut();
                    while k < io.ready.len() && m < MAX_BURST {
                        let p = &io.ready[k];
                        if p.socket != s {
                            k += 1;
                            continue;
                        }
                        // The batch was flushed above: a burst's slots are
                        // free.
                        let Some(out) = free.next() else { break };
                        items[m] = BurstItem::new(p.meta, &p.data, out);
                        from[m] = k;
                        k += 1;
                        m += 1;
                    }
                }
                start = k;
                if m == 0 {
                    continue;
                }
                self.responder.resume_stage(now, &mut items[..m]);
                io.answers.clear();
                let mut again = [false; MAX_BURST];
                for (j, it) in items[..m].iter().enumerate() {
                    if let Some(len) = it.handled.reply {
                        io.answers.push((base + j, it.meta, len));
                    }
                    again[j] = it.handled.deferred;
                }
                drop(items);
                for &(index, meta, len) in io.answers.iter() {
                    io.tx[s].commit_slot(index, meta.peer, Some(meta.local.ip()), len);
                }
                if let (Some(c), Some(ledger)) =
                    (self.cluster.as_mut(), self.responder.cluster_mut())
                {
                    c.send_wants(ledger);
                    for (j, &f) in from[..m].iter().enumerate() {
                        let p = &io.ready[f];
                        // Deferred again (its ticket's claim went out after
                        // it was parked): it waits once more, unless it has
                        // waited longer than a client would.
                        if !again[j] {
                            continue;
                        }
                        if p.since.elapsed() < MAX_PARKED_WAIT {
                            c.park(p.socket, p.meta, &p.data, Some(p.since));
                        } else {
                            c.counters.park_expired += 1;
                        }
                    }
                }
            }
            self.send(s, io);
        }
        if let (Some(c), Some(ledger)) = (self.cluster.as_mut(), self.responder.cluster_mut()) {
            for p in io.ready.drain(..) {
                c.recycle(p.data);
            }
            for id in io.resolved.drain(..) {
                ledger.forget(&id);
            }
        }
        n.max(1)
    }

    fn answer(&mut self, now: Timestamp, s: usize, meta: &PacketMeta, data: &[u8], io: &mut Io) {
        answer_into(
            &mut self.responder,
            &mut self.sockets,
            now,
            s,
            meta,
            data,
            &mut io.tx,
            &mut io.stats,
            &mut io.held,
            &self.handoff,
        );
    }

    /// Send socket `s`'s queued answers. What the socket does not take
    /// after a few tries is dropped and counted: the peer retransmits and
    /// gets the cached answer.
    fn send(&mut self, s: usize, io: &mut Io) {
        send_batch(&mut *self.sockets[s], &mut io.tx[s], &mut io.stats, self.id);
    }
}

/// The longest a datagram waits for the cluster in all: past it, it is
/// dropped (the client has retransmitted by then).
const MAX_PARKED_WAIT: Duration = Duration::from_secs(5);

/// How often a worker publishes its counters (and reads its CPU times).
const PUBLISH_EVERY: Duration = Duration::from_millis(50);

fn send_batch(sock: &mut dyn Backend, tx: &mut TxBatch, stats: &mut WorkerIo, id: u8) {
    let mut stuck = 0;
    while !tx.is_empty() {
        match sock.tx_burst(tx) {
            Ok(0) => {
                stuck += 1;
                if stuck >= 16 {
                    stats.tx_dropped += tx.len() as u64;
                    tx.clear();
                    return;
                }
                std::hint::spin_loop();
            }
            Ok(k) => {
                stats.tx_datagrams += k as u64;
                tx.consume(k);
                stuck = 0;
            }
            Err(e) => {
                tracing::warn!(worker = id, error = %e, "send failed");
                stats.tx_dropped += tx.len() as u64;
                tx.clear();
                return;
            }
        }
    }
}

/// Run one datagram through the responder; queue its answer and hand off
/// the SA it established. A free function so the receive batch can stay
/// borrowed while the answer is written into the transmit batch.
#[allow(clippy::too_many_arguments)]
fn answer_into(
    responder: &mut ResumeResponder,
    sockets: &mut [Box<dyn Backend>],
    now: Timestamp,
    s: usize,
    meta: &PacketMeta,
    data: &[u8],
    tx: &mut [TxBatch],
    stats: &mut WorkerIo,
    held: &mut VecDeque<Box<EstablishedSa>>,
    handoff: &Sender<Box<EstablishedSa>>,
) {
    if tx[s].is_full() {
        send_batch(
            &mut *sockets[s],
            &mut tx[s],
            stats,
            responder.config().worker_id,
        );
    }
    let Some(slot) = tx[s].next_slot() else {
        stats.tx_dropped += 1;
        return;
    };
    let handled = responder.handle(now, meta, data, slot);
    if let Some(len) = handled.reply {
        tx[s].commit(meta.peer, Some(meta.local.ip()), len);
    }
    if let Some(sa) = handled.established {
        hand_off(sa, held, handoff, stats);
    }
}

/// Hand an established SA to the control plane; behind SAs already held,
/// or when the queue is full, it is held (never dropped).
fn hand_off(
    sa: Box<EstablishedSa>,
    held: &mut VecDeque<Box<EstablishedSa>>,
    handoff: &Sender<Box<EstablishedSa>>,
    stats: &mut WorkerIo,
) {
    if !held.is_empty() {
        held.push_back(sa);
        return;
    }
    match handoff.try_send(sa) {
        Ok(()) => stats.handed_off += 1,
        Err(TrySendError::Full(sa)) | Err(TrySendError::Disconnected(sa)) => {
            stats.handoff_stalls += 1;
            held.push_back(sa);
        }
    }
}

/// A stage's burst items, empty: an array on the stack, no allocation per
/// burst.
fn no_items<'a>() -> [BurstItem<'a>; MAX_BURST] {
    const NOWHERE: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0));
    let meta = PacketMeta {
        peer: NOWHERE,
        local: NOWHERE,
    };
    core::array::from_fn(|_| BurstItem::new(meta, &[], &mut []))
}

/// The items of the datagrams `which` of `rx`, their answers going into
/// `tx`'s free slots in order; returns how many got a slot.
fn fill_items<'a>(
    rx: &'a RxBatch,
    which: &[u8],
    tx: &'a mut TxBatch,
    items: &mut [BurstItem<'a>; MAX_BURST],
) -> usize {
    let mut m = 0;
    for ((&i, out), item) in which.iter().zip(tx.free_slots_mut()).zip(items.iter_mut()) {
        let r = rx.meta(i as usize);
        let meta = PacketMeta {
            peer: r.peer,
            local: r.local,
        };
        *item = BurstItem::new(meta, rx.datagram(i as usize), out);
        m += 1;
    }
    m
}
