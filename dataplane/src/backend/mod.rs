//! Packet I/O behind one trait, in the style of quinn-udp: a worker receives
//! a burst of datagrams into buffers it owns, with per-datagram metadata,
//! and hands a burst of replies back; the backend says how many it sent.
//!
//! The UDP backend ([`udp::UdpBackend`]) is one socket per worker with
//! SO_REUSEPORT, `recvmmsg`/`sendmmsg` bursts and non-blocking polling. A
//! socket on UDP port 4500 carries the 4-byte non-ESP marker (RFC 3948
//! §2.2): the backend strips it on receive, drops NAT keepalives and ESP
//! (this gateway terminates no ESP), and prepends it on send, so workers
//! only ever see and write bare IKE messages.

use std::io;
use std::net::SocketAddr;

pub mod udp;

/// The most datagrams one `rx_burst` or `tx_burst` moves.
pub const MAX_BURST: usize = rebound_udp_sys::MAX_BURST;

/// Bytes per datagram slot. Longer datagrams are received truncated,
/// flagged and counted; the responder refuses IKE requests above 4 KiB
/// anyway.
pub const SLOT_LEN: usize = 8192;

/// Bytes in front of every transmit slot, reserved for the non-ESP marker.
pub const HEADROOM: usize = 4;

/// What arrived with one datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RxMeta {
    /// Where it came from.
    pub peer: SocketAddr,
    /// The address and port it was sent to (from IP_PKTINFO /
    /// IPV6_PKTINFO when the socket is bound to a wildcard address).
    pub local: SocketAddr,
    /// The IKE message is `slot[offset..offset + len]` (offset 4 after a
    /// stripped non-ESP marker).
    pub offset: usize,
    pub len: usize,
    /// The datagram was longer than [`SLOT_LEN`] and was cut.
    pub truncated: bool,
}

impl RxMeta {
    const EMPTY: RxMeta = RxMeta {
        peer: SocketAddr::V4(std::net::SocketAddrV4::new(
            std::net::Ipv4Addr::UNSPECIFIED,
            0,
        )),
        local: SocketAddr::V4(std::net::SocketAddrV4::new(
            std::net::Ipv4Addr::UNSPECIFIED,
            0,
        )),
        offset: 0,
        len: 0,
        truncated: false,
    };
}

/// Receive buffers for one burst, allocated once per worker.
pub struct RxBatch {
    slots: Vec<Box<[u8]>>,
    meta: Vec<RxMeta>,
}

impl RxBatch {
    /// `n` slots (at most [`MAX_BURST`]).
    pub fn new(n: usize) -> Self {
        let n = n.clamp(1, MAX_BURST);
        RxBatch {
            slots: (0..n)
                .map(|_| vec![0u8; SLOT_LEN].into_boxed_slice())
                .collect(),
            meta: vec![RxMeta::EMPTY; n],
        }
    }

    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// The IKE message of datagram `i` (after a stripped marker).
    pub fn datagram(&self, i: usize) -> &[u8] {
        let m = &self.meta[i];
        &self.slots[i][m.offset..m.offset + m.len]
    }

    pub fn meta(&self, i: usize) -> &RxMeta {
        &self.meta[i]
    }

    /// For backends: every slot and its metadata, to fill.
    pub fn parts_mut(&mut self) -> (&mut [Box<[u8]>], &mut [RxMeta]) {
        (&mut self.slots, &mut self.meta)
    }
}

/// Where one reply goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxMeta {
    pub dest: SocketAddr,
    /// The source address to send from (the request's local address);
    /// `None` lets the kernel choose.
    pub src: Option<std::net::IpAddr>,
    /// Length of the IKE message after the [`HEADROOM`].
    pub len: usize,
}

/// Transmit buffers for one burst, allocated once per worker. Each slot
/// has [`HEADROOM`] bytes in front of the IKE message for the non-ESP
/// marker.
pub struct TxBatch {
    slots: Vec<Box<[u8]>>,
    meta: Vec<TxMeta>,
    len: usize,
}

impl TxBatch {
    pub fn new(n: usize) -> Self {
        let n = n.clamp(1, MAX_BURST);
        TxBatch {
            slots: (0..n)
                .map(|_| vec![0u8; HEADROOM + SLOT_LEN].into_boxed_slice())
                .collect(),
            meta: Vec::with_capacity(n),
            len: 0,
        }
    }

    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Queued datagrams.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn is_full(&self) -> bool {
        self.len == self.slots.len()
    }

    /// The next free slot's message area (after the headroom), or `None`
    /// when the batch is full. Write the message, then [`commit`](Self::commit).
    pub fn next_slot(&mut self) -> Option<&mut [u8]> {
        let len = self.len;
        self.slots.get_mut(len).map(|s| &mut s[HEADROOM..])
    }

    /// Queue the message just written into [`next_slot`](Self::next_slot).
    pub fn commit(&mut self, dest: SocketAddr, src: Option<std::net::IpAddr>, len: usize) {
        debug_assert!(self.len < self.slots.len() && len <= SLOT_LEN);
        if self.len < self.slots.len() {
            self.meta.push(TxMeta { dest, src, len });
            self.len += 1;
        }
    }

    /// Every free slot's message area (after the headroom), in order: a
    /// stage writes a burst of answers at once, then queues those it
    /// wrote with [`commit_slot`](Self::commit_slot). Slot `k` of this
    /// iterator is slot index `self.len() + k`.
    pub fn free_slots_mut(&mut self) -> impl Iterator<Item = &mut [u8]> {
        let len = self.len;
        self.slots[len..].iter_mut().map(|s| &mut s[HEADROOM..])
    }

    /// Queue the message written into slot `index` (as numbered by
    /// [`free_slots_mut`](Self::free_slots_mut) when it was taken: an index
    /// at or after every queued datagram). Commit in increasing `index`
    /// order; slots skipped in between are reused.
    pub fn commit_slot(
        &mut self,
        index: usize,
        dest: SocketAddr,
        src: Option<std::net::IpAddr>,
        len: usize,
    ) {
        debug_assert!(index >= self.len && index < self.slots.len() && len <= SLOT_LEN);
        if index < self.len || index >= self.slots.len() {
            return;
        }
        // The slot moves into queue order; the unused slot it replaces
        // (its headroom still zero) moves to where it was.
        self.slots.swap(self.len, index);
        self.meta.push(TxMeta { dest, src, len });
        self.len += 1;
    }

    /// Copy `msg` into the next slot and queue it; false when full or
    /// `msg` is longer than a slot.
    pub fn push(&mut self, dest: SocketAddr, src: Option<std::net::IpAddr>, msg: &[u8]) -> bool {
        if msg.len() > SLOT_LEN {
            return false;
        }
        let Some(slot) = self.next_slot() else {
            return false;
        };
        slot[..msg.len()].copy_from_slice(msg);
        self.commit(dest, src, msg.len());
        true
    }

    /// For backends: queued datagram `i` as (whole slot including the
    /// headroom, metadata).
    pub fn queued(&self, i: usize) -> (&[u8], &TxMeta) {
        (&self.slots[i], &self.meta[i])
    }

    /// Drop the first `n` queued datagrams (they were sent), keeping the
    /// rest in order.
    pub fn consume(&mut self, n: usize) {
        let n = n.min(self.len);
        if n == 0 {
            return;
        }
        self.slots[..self.len].rotate_left(n);
        self.meta.drain(..n);
        self.len -= n;
    }

    pub fn clear(&mut self) {
        self.meta.clear();
        self.len = 0;
    }
}

/// Counters a backend keeps about what it did not pass up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct BackendStats {
    pub rx_datagrams: u64,
    pub tx_datagrams: u64,
    /// Datagrams longer than [`SLOT_LEN`].
    pub rx_truncated: u64,
    /// Port 4500: one-byte NAT keepalives (RFC 3948 §2.3), dropped.
    pub rx_keepalives: u64,
    /// Port 4500: ESP packets (non-zero first four bytes), dropped.
    pub rx_esp: u64,
    /// Port 4500: shorter than the marker, or marker with nothing after it.
    pub rx_runts: u64,
    /// `sendmmsg` errors other than "would block" (the datagram is dropped
    /// and counted; IKE retransmission recovers).
    pub tx_errors: u64,
    /// Datagrams the kernel dropped on the socket, mostly because its
    /// receive queue was full: the worker did not keep up (SO_RXQ_OVFL, the
    /// socket's drop count, which also counts checksum failures; the kernel
    /// reports the running total with the next datagram it queues).
    pub rx_kernel_dropped: u64,
}

impl BackendStats {
    /// Add `o`'s counts to these (a worker's sockets, summed).
    pub fn add(&mut self, o: &BackendStats) {
        self.rx_datagrams += o.rx_datagrams;
        self.tx_datagrams += o.tx_datagrams;
        self.rx_truncated += o.rx_truncated;
        self.rx_keepalives += o.rx_keepalives;
        self.rx_esp += o.rx_esp;
        self.rx_runts += o.rx_runts;
        self.tx_errors += o.tx_errors;
        self.rx_kernel_dropped += o.rx_kernel_dropped;
    }
}

/// A source and sink of datagram bursts.
pub trait Backend: Send {
    /// Receive up to `batch.capacity()` datagrams without blocking.
    /// Returns how many arrived (0 when none were waiting).
    fn rx_burst(&mut self, batch: &mut RxBatch) -> io::Result<usize>;

    /// Send the queued datagrams in order without blocking. Returns how many
    /// from the front left (sent, or dropped after a per-datagram error that
    /// is counted in `tx_errors`); the rest could not be sent now (the
    /// socket buffer is full) and stay for the caller to retry.
    fn tx_burst(&mut self, batch: &TxBatch) -> io::Result<usize>;

    /// The address the backend is bound to.
    fn local_addr(&self) -> SocketAddr;

    /// Whether datagrams carry the non-ESP marker (port 4500).
    fn non_esp_marker(&self) -> bool;

    fn stats(&self) -> BackendStats;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_written_in_place_is_queued_in_order_without_the_gaps() {
        let dest = |p: u16| SocketAddr::from(([127, 0, 0, 1], p));
        let mut tx = TxBatch::new(8);
        assert!(tx.push(dest(1), None, b"first"));
        let base = tx.len();
        for (k, slot) in tx.free_slots_mut().enumerate().take(5) {
            slot[0] = b'a' + k as u8;
        }
        // Slots 0, 2 and 4 of the burst were answered; 1 and 3 were not.
        for k in [0usize, 2, 4] {
            tx.commit_slot(base + k, dest(10 + k as u16), None, 1);
        }
        assert_eq!(tx.len(), 4);
        let got: Vec<(u8, u16)> = (0..tx.len())
            .map(|i| {
                let (slot, meta) = tx.queued(i);
                (slot[HEADROOM], meta.dest.port())
            })
            .collect();
        assert_eq!(got, [(b'f', 1), (b'a', 10), (b'c', 12), (b'e', 14)]);
        // Every headroom is still zero (the non-ESP marker).
        assert!((0..tx.len()).all(|i| tx.queued(i).0[..HEADROOM] == [0; HEADROOM]));
        tx.consume(2);
        assert_eq!(tx.queued(0).1.dest.port(), 12);
    }
}
