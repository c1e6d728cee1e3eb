//! The UDP backend: one non-blocking socket per worker, bound with
//! SO_REUSEPORT so every worker of a port gets its own share of the flows,
//! moving datagrams in bursts with one `recvmmsg` / `sendmmsg` per call.
//!
//! The socket asks for IP_PKTINFO / IPV6_RECVPKTINFO, so a socket bound to
//! a wildcard address still reports the address each request came to
//! ([`RxMeta::local`]), and a reply can be sent from that same address
//! ([`TxMeta::src`]).
//!
//! On a port that carries the non-ESP marker (4500), receive strips it and
//! drops what is not IKE, send prepends it. The system calls themselves
//! live in [`super::sys`]; this file is safe code.

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr, SocketAddrV6};
use std::os::fd::{AsFd, OwnedFd};

use super::{Backend, BackendStats, HEADROOM, MAX_BURST, RxBatch, RxMeta, TxBatch, TxMeta};
use rebound_udp_sys::{self as sys, Outgoing, RecvScratch, SendScratch};

/// RFC 3948 §2.2: "The Non-ESP Marker is 4 bytes of zero aligned with the
/// SPI field of an ESP packet."
const MARKER_LEN: usize = 4;

const _: () = assert!(HEADROOM >= MARKER_LEN);

/// How to set up a [`UdpBackend`] socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpOptions {
    /// SO_REUSEPORT, so several workers can bind the same address and port
    /// and the kernel spreads flows across them.
    pub reuse_port: bool,
    /// Datagrams carry the 4-byte non-ESP marker (RFC 3948 §2.2): set for
    /// port 4500.
    pub non_esp_marker: bool,
    /// SO_RCVBUF in bytes (the kernel doubles it and caps it at
    /// `net.core.rmem_max`); `None` keeps the system default.
    pub recv_buffer: Option<usize>,
    /// SO_SNDBUF in bytes (doubled, capped at `net.core.wmem_max`).
    pub send_buffer: Option<usize>,
}

impl Default for UdpOptions {
    fn default() -> Self {
        UdpOptions {
            reuse_port: true,
            non_esp_marker: false,
            recv_buffer: None,
            send_buffer: None,
        }
    }
}

/// One UDP socket moving bursts of datagrams with `recvmmsg` / `sendmmsg`.
///
/// Receive and send headers are allocated once, at [`bind`](Self::bind);
/// bursts allocate nothing.
pub struct UdpBackend {
    fd: OwnedFd,
    /// From getsockname: the real port when bound to port 0.
    local: SocketAddr,
    non_esp_marker: bool,
    stats: BackendStats,
    /// The kernel's last reported drop total for this socket.
    kernel_drops_seen: u32,
    rx: Box<RecvScratch>,
    tx: Box<SendScratch>,
}

impl UdpBackend {
    /// Open a non-blocking UDP socket on `addr` (IPv4, or IPv6 only — an
    /// IPv6 socket does not take IPv4-mapped traffic). Port 0 picks a free
    /// port; [`Backend::local_addr`] then says which, for further
    /// SO_REUSEPORT sockets to bind.
    ///
    /// Errors keep the kind of the failing call and say what failed, e.g.
    /// `bind 127.0.0.1:500: Address already in use (os error 98)`.
    pub fn bind(addr: SocketAddr, opts: UdpOptions) -> io::Result<UdpBackend> {
        let v6 = addr.is_ipv6();
        let fd =
            sys::udp_socket(v6).map_err(|e| context(e, format_args!("UDP socket for {addr}")))?;
        let set = |name: &str, level, option, value| {
            sys::set_int_option(fd.as_fd(), level, option, value)
                .map_err(|e| context(e, format_args!("setsockopt {name} for {addr}")))
        };
        if v6 {
            set("IPV6_V6ONLY", libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, 1)?;
            set(
                "IPV6_RECVPKTINFO",
                libc::IPPROTO_IPV6,
                libc::IPV6_RECVPKTINFO,
                1,
            )?;
        } else {
            set("IP_PKTINFO", libc::IPPROTO_IP, libc::IP_PKTINFO, 1)?;
        }
        // The kernel's count of datagrams dropped for a full receive queue
        // comes with each datagram (`BackendStats::rx_kernel_dropped`).
        set("SO_RXQ_OVFL", libc::SOL_SOCKET, libc::SO_RXQ_OVFL, 1)?;
        if opts.reuse_port {
            set("SO_REUSEPORT", libc::SOL_SOCKET, libc::SO_REUSEPORT, 1)?;
        }
        if let Some(bytes) = opts.recv_buffer {
            let bytes = buffer_size("SO_RCVBUF", addr, bytes)?;
            set("SO_RCVBUF", libc::SOL_SOCKET, libc::SO_RCVBUF, bytes)?;
        }
        if let Some(bytes) = opts.send_buffer {
            let bytes = buffer_size("SO_SNDBUF", addr, bytes)?;
            set("SO_SNDBUF", libc::SOL_SOCKET, libc::SO_SNDBUF, bytes)?;
        }
        sys::bind(fd.as_fd(), &addr).map_err(|e| context(e, format_args!("bind {addr}")))?;
        let local = sys::local_addr(fd.as_fd())
            .map_err(|e| context(e, format_args!("getsockname after bind {addr}")))?;
        Ok(UdpBackend {
            fd,
            local,
            non_esp_marker: opts.non_esp_marker,
            stats: BackendStats::default(),
            kernel_drops_seen: 0,
            rx: RecvScratch::new(),
            tx: SendScratch::new(),
        })
    }

    /// One `recvmmsg` into `slots`; "would block" is 0, and an interrupted
    /// call is retried once.
    fn recv(&mut self, slots: &mut [Box<[u8]>]) -> io::Result<usize> {
        for _ in 0..2 {
            match self.rx.recv(self.fd.as_fd(), slots) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(0),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(context(e, format_args!("recvmmsg on {}", self.local))),
            }
        }
        Ok(0)
    }

    /// The address datagram `dst` (from PKTINFO) was sent to, with the
    /// bound port; the bound address when the kernel did not say.
    fn local_for(&self, dst: Option<(IpAddr, u32)>) -> SocketAddr {
        match dst {
            Some((IpAddr::V6(ip), ifindex)) => {
                // A link-local address means nothing without its interface.
                let scope = if ip.is_unicast_link_local() {
                    ifindex
                } else {
                    0
                };
                SocketAddr::V6(SocketAddrV6::new(ip, self.local.port(), 0, scope))
            }
            Some((ip, _)) => SocketAddr::new(ip, self.local.port()),
            None => self.local,
        }
    }
}

/// What a datagram on a non-ESP-marker port is (RFC 3948 §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Port4500 {
    /// Marker then an IKE message: pass up what follows the marker.
    Ike,
    /// RFC 3948 §2.3: a NAT-keepalive is one octet, 0xFF.
    Keepalive,
    /// RFC 3948 §2.1: a non-zero SPI where the marker would be is ESP.
    Esp,
    /// Shorter than the marker, or the marker with nothing after it.
    Runt,
}

fn classify_4500(datagram: &[u8]) -> Port4500 {
    match datagram {
        [0xFF] => Port4500::Keepalive,
        d if d.len() < MARKER_LEN => Port4500::Runt,
        [0, 0, 0, 0] => Port4500::Runt,
        [0, 0, 0, 0, ..] => Port4500::Ike,
        _ => Port4500::Esp,
    }
}

/// The bytes that go on the wire for a queued datagram: the IKE message,
/// with the 4 bytes in front of it when the port carries the marker.
/// `None` when the length does not fit the slot.
fn frame(slot: &[u8], len: usize, marker: bool) -> Option<&[u8]> {
    let start = if marker {
        HEADROOM - MARKER_LEN
    } else {
        HEADROOM
    };
    slot.get(start..HEADROOM.checked_add(len)?)
}

/// Whether queued datagram (`slot`, `meta`) can go out of a socket of this
/// family at all; when not, it is counted in `tx_errors` and skipped
/// without a system call.
fn sendable(slot: &[u8], meta: &TxMeta, v6_socket: bool, marker: bool) -> bool {
    let family_ok = |ip: IpAddr| match ip {
        IpAddr::V4(_) => !v6_socket,
        // The socket is IPV6_V6ONLY: IPv4-mapped addresses do not work.
        IpAddr::V6(v6) => v6_socket && v6.to_ipv4_mapped().is_none(),
    };
    if !family_ok(meta.dest.ip()) || !meta.src.is_none_or(family_ok) {
        return false;
    }
    let Some(bytes) = frame(slot, meta.len, marker) else {
        return false;
    };
    if marker {
        // Invariant: TxBatch allocates its slots zeroed and writes only
        // after HEADROOM (`next_slot` and `push` start there), so the
        // headroom — and with it the non-ESP marker — is always four zero
        // bytes. A non-zero marker would turn the message into ESP with a
        // bogus SPI, so a broken invariant drops the datagram in release.
        let zero = bytes[..MARKER_LEN] == [0; MARKER_LEN];
        debug_assert!(zero, "TxBatch headroom must stay zero (the non-ESP marker)");
        return zero;
    }
    true
}

/// Errors from `sendmmsg` that mean "the socket buffer is full, try later"
/// rather than "this datagram cannot be sent".
fn is_backpressure(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock || e.raw_os_error() == Some(libc::ENOBUFS)
}

/// Errors that are about the socket, not the datagram: not counted against
/// one datagram but reported.
fn is_socket_fault(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EBADF | libc::ENOTSOCK | libc::EFAULT)
    )
}

impl Backend for UdpBackend {
    fn rx_burst(&mut self, batch: &mut RxBatch) -> io::Result<usize> {
        let (slots, meta) = batch.parts_mut();
        let got = self.recv(slots)?;
        // slots[..kept] hold the messages passed up so far; slots[kept..i]
        // the buffers of dropped datagrams, swapped back as messages move
        // forward (pointer swaps, no copies).
        let mut kept = 0;
        for i in 0..got {
            let r = self.rx.received(i);
            if r.truncated {
                self.stats.rx_truncated += 1;
            }
            if let Some(total) = r.kernel_drops {
                // A running total per socket (wrapping at 2^32): count
                // what it moved by.
                let moved = total.wrapping_sub(self.kernel_drops_seen);
                self.stats.rx_kernel_dropped += u64::from(moved);
                self.kernel_drops_seen = total;
            }
            let Some(peer) = r.peer else {
                // The kernel always reports a UDP sender; without one there
                // is nobody to answer.
                debug_assert!(false, "recvmmsg gave no IP sender");
                continue;
            };
            let (offset, len) = if self.non_esp_marker {
                match classify_4500(&slots[i][..r.len]) {
                    Port4500::Ike => (MARKER_LEN, r.len - MARKER_LEN),
                    Port4500::Keepalive => {
                        self.stats.rx_keepalives += 1;
                        continue;
                    }
                    Port4500::Esp => {
                        self.stats.rx_esp += 1;
                        continue;
                    }
                    Port4500::Runt => {
                        self.stats.rx_runts += 1;
                        continue;
                    }
                }
            } else {
                (0, r.len)
            };
            if kept != i {
                slots.swap(kept, i);
            }
            meta[kept] = RxMeta {
                peer,
                local: self.local_for(r.dst),
                offset,
                len,
                truncated: r.truncated,
            };
            kept += 1;
        }
        self.stats.rx_datagrams += kept as u64;
        Ok(kept)
    }

    fn tx_burst(&mut self, batch: &TxBatch) -> io::Result<usize> {
        let n = batch.len();
        let v6 = self.local.is_ipv6();
        let marker = self.non_esp_marker;
        let mut done = 0;
        let mut interrupted = false;
        while done < n {
            let (slot, meta) = batch.queued(done);
            if !sendable(slot, meta, v6, marker) {
                self.stats.tx_errors += 1;
                done += 1;
                continue;
            }
            // The longest run of sendable datagrams from here: one syscall.
            let start = done;
            let run = (start..n)
                .take(MAX_BURST)
                .take_while(|&i| {
                    let (slot, meta) = batch.queued(i);
                    sendable(slot, meta, v6, marker)
                })
                .count();
            let sent = self.tx.send(self.fd.as_fd(), run, |j| {
                let (slot, meta) = batch.queued(start + j);
                Outgoing {
                    // `sendable` checked that the frame fits.
                    payload: frame(slot, meta.len, marker).unwrap_or_default(),
                    dest: meta.dest,
                    src: meta.src,
                }
            });
            match sent {
                // sendmmsg stops at the first datagram that fails or would
                // block; the next round retries it alone and learns which.
                Ok(k) if k > 0 => {
                    self.stats.tx_datagrams += k as u64;
                    done += k;
                }
                Ok(_) => break,
                Err(e) if is_backpressure(&e) => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                    if interrupted {
                        break;
                    }
                    interrupted = true;
                }
                Err(e) if is_socket_fault(&e) => {
                    if done > 0 {
                        // Report what left; the fault recurs on the next call.
                        break;
                    }
                    return Err(context(e, format_args!("sendmmsg on {}", self.local)));
                }
                Err(_) => {
                    // This datagram cannot be sent (no route, bad source
                    // address, too long, ...): drop it, IKE retransmits.
                    self.stats.tx_errors += 1;
                    done += 1;
                }
            }
        }
        Ok(done)
    }

    fn local_addr(&self) -> SocketAddr {
        self.local
    }

    fn non_esp_marker(&self) -> bool {
        self.non_esp_marker
    }

    fn stats(&self) -> BackendStats {
        self.stats
    }
}

impl fmt::Debug for UdpBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UdpBackend")
            .field("fd", &self.fd)
            .field("local", &self.local)
            .field("non_esp_marker", &self.non_esp_marker)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

/// `err` with what was being done in front of its message, same kind.
fn context(err: io::Error, what: fmt::Arguments<'_>) -> io::Error {
    io::Error::new(err.kind(), format!("{what}: {err}"))
}

fn buffer_size(name: &str, addr: SocketAddr, bytes: usize) -> io::Result<libc::c_int> {
    libc::c_int::try_from(bytes).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{name} of {bytes} bytes for {addr}: larger than the kernel accepts"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_4500_classification() {
        assert_eq!(classify_4500(&[0xFF]), Port4500::Keepalive);
        assert_eq!(classify_4500(&[]), Port4500::Runt);
        assert_eq!(classify_4500(&[0]), Port4500::Runt);
        assert_eq!(classify_4500(&[0xFF, 0xFF]), Port4500::Runt);
        assert_eq!(classify_4500(&[0, 0, 0]), Port4500::Runt);
        assert_eq!(classify_4500(&[0, 0, 0, 0]), Port4500::Runt);
        assert_eq!(classify_4500(&[0, 0, 0, 0, 1]), Port4500::Ike);
        assert_eq!(classify_4500(&[0, 0, 0, 1]), Port4500::Esp);
        assert_eq!(classify_4500(&[0, 0, 1, 0, 9, 9]), Port4500::Esp);
    }

    #[test]
    fn frame_with_and_without_marker() {
        let mut slot = vec![0u8; HEADROOM + 8];
        slot[HEADROOM..HEADROOM + 3].copy_from_slice(b"ike");
        assert_eq!(frame(&slot, 3, false), Some(&b"ike"[..]));
        assert_eq!(frame(&slot, 3, true), Some(&b"\0\0\0\0ike"[..]));
        assert_eq!(frame(&slot, 9, false), None);
        assert_eq!(frame(&slot, usize::MAX, true), None);
    }
}
