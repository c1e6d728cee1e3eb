//! The system calls behind the gateway's UDP backend
//! (`rebound_dataplane::backend::udp::UdpBackend`), fenced in a crate of
//! their own: the only `unsafe` of the data plane lives here
//! (docs/ARCHITECTURE.md, "Where unsafe lives"): socket creation, options, `bind`,
//! `getsockname`, `recvmmsg`/`sendmmsg` over preallocated header arrays,
//! sockaddr conversion and IP_PKTINFO / IPV6_PKTINFO / SO_RXQ_OVFL control
//! messages; glibc's `malloc_trim` ([`release_free_heap`]), which a worker
//! calls after its half-open table gave memory back; and, in
//! [`privilege`], what the gateway gives up once those sockets are bound
//! (the switch to an unprivileged user, its capabilities).
//!
//! Everything here is a safe function: each wrapper checks or constructs
//! what the kernel will read or write, and each `unsafe` block says why
//! that is sound. Errors are the bare `io::Error` of the call; the caller
//! adds what it was doing.

#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

use std::io;
use std::mem::size_of;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::ptr;

use libc::{c_int, c_uint, socklen_t};

pub mod privilege;

/// Most datagrams one `recvmmsg` or `sendmmsg` moves (the backend's burst).
pub const MAX_BURST: usize = 64;

/// Bytes of control-message space per datagram: room for one
/// IPV6_PKTINFO (the larger of the two) and one SO_RXQ_OVFL count, with
/// slack for a cmsg we did not ask for, so a stray one does not push ours
/// out (MSG_CTRUNC).
const CMSG_BUF_LEN: usize = 96;

/// One datagram's control-message buffer, aligned like `cmsghdr` (its
/// `cmsg_len` is a `size_t`) so headers can be read and written in place.
#[repr(C, align(8))]
#[derive(Clone, Copy)]
struct CmsgBuf([u8; CMSG_BUF_LEN]);

const _: () = assert!(align_of::<CmsgBuf>() >= align_of::<libc::cmsghdr>());
// SAFETY: CMSG_SPACE is pure arithmetic on its argument.
const _: () = assert!(
    unsafe { libc::CMSG_SPACE(size_of::<libc::in6_pktinfo>() as c_uint) } as usize <= CMSG_BUF_LEN
);
// SAFETY: as above.
const _: () = assert!(
    unsafe { libc::CMSG_SPACE(size_of::<libc::in_pktinfo>() as c_uint) } as usize <= CMSG_BUF_LEN
);
// SAFETY: as above.
const _: () = assert!(
    unsafe {
        libc::CMSG_SPACE(size_of::<libc::in6_pktinfo>() as c_uint)
            + libc::CMSG_SPACE(size_of::<u32>() as c_uint)
    } as usize
        <= CMSG_BUF_LEN - 16
);

/// A non-blocking, close-on-exec UDP socket of the given family.
pub fn udp_socket(v6: bool) -> io::Result<OwnedFd> {
    let domain = if v6 { libc::AF_INET6 } else { libc::AF_INET };
    let ty = libc::SOCK_DGRAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
    // SAFETY: socket(2) takes no pointers; any argument values are memory-safe.
    let fd = unsafe { libc::socket(domain, ty, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by socket(2), is open, and nothing else
    // owns it; the OwnedFd closes it exactly once.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `setsockopt(fd, level, name, &value, sizeof(int))`.
pub fn set_int_option(
    fd: BorrowedFd<'_>,
    level: c_int,
    name: c_int,
    value: c_int,
) -> io::Result<()> {
    // SAFETY: `optval` points at a live `c_int` and `optlen` is its size;
    // the kernel only reads it, and checks `optlen` against what the option
    // expects.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&raw const value).cast(),
            size_of::<c_int>() as socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// bind(2) to `addr`.
pub fn bind(fd: BorrowedFd<'_>, addr: &SocketAddr) -> io::Result<()> {
    let mut storage = zeroed_storage();
    let len = encode_sockaddr(addr, &mut storage);
    // SAFETY: `storage` holds a complete sockaddr_in or sockaddr_in6 of
    // `len` bytes; the kernel only reads it.
    let rc = unsafe { libc::bind(fd.as_raw_fd(), (&raw const storage).cast(), len) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// getsockname(2): the address the socket is bound to, with the port the
/// kernel chose when bound to port 0.
pub fn local_addr(fd: BorrowedFd<'_>) -> io::Result<SocketAddr> {
    let mut storage = zeroed_storage();
    let mut len = size_of::<libc::sockaddr_storage>() as socklen_t;
    // SAFETY: `storage` is writable for `len` bytes and `len` is a live,
    // writable socklen_t; the kernel writes at most `len` bytes and stores
    // the real length in `len`.
    let rc = unsafe { libc::getsockname(fd.as_raw_fd(), (&raw mut storage).cast(), &mut len) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    decode_sockaddr(&storage, len).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "getsockname returned an address that is neither IPv4 nor IPv6",
        )
    })
}

fn zeroed_storage() -> libc::sockaddr_storage {
    // SAFETY: sockaddr_storage is a C struct of integers; all-zero bytes
    // are a valid value (family AF_UNSPEC).
    unsafe { std::mem::zeroed() }
}

/// Write `addr` as a sockaddr_in / sockaddr_in6 at the start of `storage`;
/// returns its length.
fn encode_sockaddr(addr: &SocketAddr, storage: &mut libc::sockaddr_storage) -> socklen_t {
    match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                // s_addr holds the address in network order, which is the
                // order of `octets()`.
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is, by definition, at least as large
            // and as strictly aligned as every sockaddr type, so a
            // sockaddr_in written at its start is in bounds and aligned; we
            // hold the only (mutable) reference to it.
            unsafe {
                ptr::from_mut(storage)
                    .cast::<libc::sockaddr_in>()
                    .write(sin)
            };
            size_of::<libc::sockaddr_in>() as socklen_t
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                // Host order, as std does.
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: as for sockaddr_in above.
            unsafe {
                ptr::from_mut(storage)
                    .cast::<libc::sockaddr_in6>()
                    .write(sin6)
            };
            size_of::<libc::sockaddr_in6>() as socklen_t
        }
    }
}

/// Read the IPv4 or IPv6 address the kernel wrote into `storage` (`len`
/// bytes of it); `None` for another family or a short length.
fn decode_sockaddr(storage: &libc::sockaddr_storage, len: socklen_t) -> Option<SocketAddr> {
    let len = len as usize;
    match c_int::from(storage.ss_family) {
        libc::AF_INET if len >= size_of::<libc::sockaddr_in>() => {
            // SAFETY: sockaddr_storage is large enough and aligned for a
            // sockaddr_in (see encode_sockaddr), and a sockaddr_in is plain
            // integers, so any bytes there are a valid value.
            let sin = unsafe { ptr::from_ref(storage).cast::<libc::sockaddr_in>().read() };
            Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes()),
                u16::from_be(sin.sin_port),
            )))
        }
        libc::AF_INET6 if len >= size_of::<libc::sockaddr_in6>() => {
            // SAFETY: as above, for sockaddr_in6.
            let sin6 = unsafe { ptr::from_ref(storage).cast::<libc::sockaddr_in6>().read() };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(sin6.sin6_addr.s6_addr),
                u16::from_be(sin6.sin6_port),
                sin6.sin6_flowinfo,
                sin6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

/// What the kernel reported about one received datagram.
#[derive(Debug, Clone, Copy)]
pub struct Received {
    /// The sender; `None` only if the kernel reported no IP address.
    pub peer: Option<SocketAddr>,
    /// The destination address from IP_PKTINFO / IPV6_PKTINFO, with the
    /// interface index it arrived on.
    pub dst: Option<(IpAddr, u32)>,
    /// Bytes placed in the slot.
    pub len: usize,
    /// The datagram was longer than the slot (MSG_TRUNC).
    pub truncated: bool,
    /// With SO_RXQ_OVFL set: how many datagrams the kernel had dropped on
    /// this socket (its receive queue full) by the time this one was
    /// queued, a running total that wraps at 2^32. The kernel sends it
    /// only once it is non-zero.
    pub kernel_drops: Option<u32>,
}

/// Preallocated headers for one `recvmmsg` of up to [`MAX_BURST`]
/// datagrams: per datagram an mmsghdr, one iovec, a sockaddr_storage for
/// the sender and a control buffer for PKTINFO. Lives in a `Box` so the
/// arrays never move while the kernel fills them; the pointers are rebuilt
/// on every call because the receive slots belong to the caller.
pub struct RecvScratch {
    hdrs: [libc::mmsghdr; MAX_BURST],
    iovs: [libc::iovec; MAX_BURST],
    names: [libc::sockaddr_storage; MAX_BURST],
    ctrl: [CmsgBuf; MAX_BURST],
    /// Entries the last successful call filled; [`received`](Self::received)
    /// reads only these.
    filled: usize,
}

// SAFETY: the raw pointers inside the headers are only written and used
// during `recv`, which holds `&mut self` and the mutable borrow of the
// slots they point into; between calls they are stale and never
// dereferenced (`received` reads this struct's own arrays through `&self`).
// So moving the scratch to another thread shares nothing.
unsafe impl Send for RecvScratch {}

impl RecvScratch {
    pub fn new() -> Box<Self> {
        // SAFETY: every field is an array of C structs made of integers and
        // raw pointers, or an integer; all-zero bytes (0 and null) are a
        // valid value for each.
        Box::new(unsafe { std::mem::zeroed() })
    }

    /// One `recvmmsg(MSG_DONTWAIT)` into up to [`MAX_BURST`] of `slots`,
    /// one datagram per slot. Returns how many arrived; "would block" is an
    /// error of kind `WouldBlock`, for the caller to interpret.
    pub fn recv<B: AsMut<[u8]>>(
        &mut self,
        fd: BorrowedFd<'_>,
        slots: &mut [B],
    ) -> io::Result<usize> {
        let n = slots.len().min(MAX_BURST);
        self.filled = 0;
        if n == 0 {
            return Ok(0);
        }
        for (i, slot) in slots[..n].iter_mut().enumerate() {
            let buf = slot.as_mut();
            self.iovs[i] = libc::iovec {
                iov_base: buf.as_mut_ptr().cast(),
                iov_len: buf.len(),
            };
            let hdr = &mut self.hdrs[i];
            hdr.msg_len = 0;
            hdr.msg_hdr.msg_name = (&raw mut self.names[i]).cast();
            hdr.msg_hdr.msg_namelen = size_of::<libc::sockaddr_storage>() as socklen_t;
            hdr.msg_hdr.msg_iov = &raw mut self.iovs[i];
            hdr.msg_hdr.msg_iovlen = 1;
            hdr.msg_hdr.msg_control = (&raw mut self.ctrl[i]).cast();
            hdr.msg_hdr.msg_controllen = CMSG_BUF_LEN as _;
            hdr.msg_hdr.msg_flags = 0;
        }
        // SAFETY: the first `n` headers were just built: each points at one
        // iovec covering exactly one caller slot (mutably borrowed for this
        // whole call, so nothing else reads or frees it), at this struct's
        // own sockaddr_storage and control buffer, each with its true size.
        // The kernel writes at most those sizes and only into these `n`
        // entries (vlen = n ≤ MAX_BURST). `self` is borrowed mutably and
        // boxed, so none of the arrays moves during the call. A null timeout
        // is allowed.
        let rc = unsafe {
            libc::recvmmsg(
                fd.as_raw_fd(),
                self.hdrs.as_mut_ptr(),
                n as c_uint,
                libc::MSG_DONTWAIT as _,
                ptr::null_mut(),
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        self.filled = (rc as usize).min(n);
        Ok(self.filled)
    }

    /// Datagram `i` of the last [`recv`](Self::recv) (`i` below what it
    /// returned).
    pub fn received(&self, i: usize) -> Received {
        assert!(i < self.filled, "datagram {i} of {} received", self.filled);
        let hdr = &self.hdrs[i].msg_hdr;
        // size_t on glibc, socklen_t on musl.
        #[allow(clippy::unnecessary_cast)]
        let ctrl_len = (hdr.msg_controllen as usize).min(CMSG_BUF_LEN);
        let ctrl = parse_ctrl(&self.ctrl[i], ctrl_len);
        Received {
            peer: decode_sockaddr(&self.names[i], hdr.msg_namelen),
            dst: ctrl.dst,
            len: (self.hdrs[i].msg_len as usize).min(self.iovs[i].iov_len),
            truncated: hdr.msg_flags & libc::MSG_TRUNC != 0,
            kernel_drops: ctrl.drops,
        }
    }
}

/// What the control messages of one datagram said.
#[derive(Default)]
struct Ctrl {
    dst: Option<(IpAddr, u32)>,
    drops: Option<u32>,
}

/// Read the IP_PKTINFO or IPV6_PKTINFO message, and the SO_RXQ_OVFL
/// count, among the first `len` bytes the kernel wrote into `buf`.
fn parse_ctrl(buf: &CmsgBuf, len: usize) -> Ctrl {
    let mut out = Ctrl::default();
    let base = buf.0.as_ptr();
    let len = len.min(CMSG_BUF_LEN);
    // A msghdr describing only the control buffer, for the CMSG_* walkers.
    // SAFETY: msghdr is a C struct of integers and raw pointers; all-zero
    // bytes are valid.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_control = base.cast_mut().cast();
    msg.msg_controllen = len as _;
    // SAFETY: `msg` is a live msghdr whose control fields describe `len`
    // readable bytes of `buf`; CMSG_FIRSTHDR only compares the length and
    // returns the buffer start (or null).
    let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(&msg) };
    while !cmsg.is_null() {
        // SAFETY: CMSG_FIRSTHDR / CMSG_NXTHDR return either null or a
        // pointer into `buf` with a whole cmsghdr before `base + len`;
        // `buf` is aligned for cmsghdr (CmsgBuf's alignment) and every
        // header starts at a CMSG_ALIGNed offset, so the read is in bounds
        // and aligned. The bytes are plain integers the kernel wrote.
        let hdr = unsafe { cmsg.read() };
        let offset = cmsg as usize - base as usize;
        // The header's claimed length must fit in what the kernel wrote.
        let fits = |data: usize| {
            // SAFETY: CMSG_LEN is pure arithmetic.
            let need = unsafe { libc::CMSG_LEN(data as c_uint) } as usize;
            hdr.cmsg_len as usize >= need && offset + need <= len
        };
        if hdr.cmsg_level == libc::IPPROTO_IP
            && hdr.cmsg_type == libc::IP_PKTINFO
            && fits(size_of::<libc::in_pktinfo>())
        {
            // SAFETY: `fits` checked that a whole in_pktinfo lies inside the
            // written part of `buf` after this header; CMSG_DATA is the
            // header pointer plus the aligned header size; read_unaligned
            // needs no alignment and in_pktinfo is plain integers.
            let info = unsafe {
                libc::CMSG_DATA(cmsg)
                    .cast::<libc::in_pktinfo>()
                    .read_unaligned()
            };
            // ipi_addr is the destination in the IP header (ipi_spec_dst is
            // the local address routing would pick, which differs for
            // broadcast).
            let ip = Ipv4Addr::from(info.ipi_addr.s_addr.to_ne_bytes());
            out.dst = Some((IpAddr::V4(ip), info.ipi_ifindex as u32));
        }
        if hdr.cmsg_level == libc::IPPROTO_IPV6
            && hdr.cmsg_type == libc::IPV6_PKTINFO
            && fits(size_of::<libc::in6_pktinfo>())
        {
            // SAFETY: as for in_pktinfo above.
            let info = unsafe {
                libc::CMSG_DATA(cmsg)
                    .cast::<libc::in6_pktinfo>()
                    .read_unaligned()
            };
            let ip = Ipv6Addr::from(info.ipi6_addr.s6_addr);
            out.dst = Some((IpAddr::V6(ip), info.ipi6_ifindex as u32));
        }
        if hdr.cmsg_level == libc::SOL_SOCKET
            && hdr.cmsg_type == libc::SO_RXQ_OVFL
            && fits(size_of::<u32>())
        {
            // SAFETY: as for in_pktinfo above; the data is one u32.
            let drops = unsafe { libc::CMSG_DATA(cmsg).cast::<u32>().read_unaligned() };
            out.drops = Some(drops);
        }
        // SAFETY: `msg` describes the buffer and `cmsg` is a header inside
        // it (from the walkers); CMSG_NXTHDR reads its cmsg_len and returns
        // the next header only if a whole one fits before the end, else
        // null.
        cmsg = unsafe { libc::CMSG_NXTHDR(&msg, cmsg) };
    }
    out
}

/// Build a PKTINFO control message asking the kernel to send from `src`;
/// returns the bytes used (CMSG_SPACE).
fn encode_pktinfo(src: IpAddr, buf: &mut CmsgBuf) -> usize {
    buf.0 = [0; CMSG_BUF_LEN];
    let (level, ty, data_len) = match src {
        IpAddr::V4(_) => (
            libc::IPPROTO_IP,
            libc::IP_PKTINFO,
            size_of::<libc::in_pktinfo>(),
        ),
        IpAddr::V6(_) => (
            libc::IPPROTO_IPV6,
            libc::IPV6_PKTINFO,
            size_of::<libc::in6_pktinfo>(),
        ),
    };
    // SAFETY: pure arithmetic.
    let (cmsg_len, space) = unsafe {
        (
            libc::CMSG_LEN(data_len as c_uint) as usize,
            libc::CMSG_SPACE(data_len as c_uint) as usize,
        )
    };
    // SAFETY: all-zero bytes are a valid cmsghdr (integers; on musl also
    // private padding, which is why it is built by assignment).
    let mut hdr: libc::cmsghdr = unsafe { std::mem::zeroed() };
    hdr.cmsg_len = cmsg_len as _;
    hdr.cmsg_level = level;
    hdr.cmsg_type = ty;
    let cmsg = buf.0.as_mut_ptr().cast::<libc::cmsghdr>();
    // SAFETY: `buf` is aligned for cmsghdr and CMSG_SPACE(data_len) ≤
    // CMSG_BUF_LEN (checked at compile time above), so the header at the
    // start and the data at CMSG_DATA (header + aligned header size) lie
    // inside `buf`, which we borrow mutably. The data write is unaligned-
    // safe.
    unsafe {
        cmsg.write(hdr);
        let data = libc::CMSG_DATA(cmsg);
        match src {
            IpAddr::V4(ip) => {
                // ipi_spec_dst is the source address for the reply;
                // ifindex 0 lets routing choose the interface.
                let info = libc::in_pktinfo {
                    ipi_ifindex: 0,
                    ipi_spec_dst: libc::in_addr {
                        s_addr: u32::from_ne_bytes(ip.octets()),
                    },
                    ipi_addr: libc::in_addr { s_addr: 0 },
                };
                data.cast::<libc::in_pktinfo>().write_unaligned(info);
            }
            IpAddr::V6(ip) => {
                let info = libc::in6_pktinfo {
                    ipi6_addr: libc::in6_addr {
                        s6_addr: ip.octets(),
                    },
                    ipi6_ifindex: 0,
                };
                data.cast::<libc::in6_pktinfo>().write_unaligned(info);
            }
        }
    }
    space
}

/// One datagram for [`SendScratch::send`].
#[derive(Debug, Clone, Copy)]
pub struct Outgoing<'a> {
    /// The bytes on the wire (UDP payload).
    pub payload: &'a [u8],
    pub dest: SocketAddr,
    /// Send from this address (PKTINFO); `None` lets the kernel choose.
    pub src: Option<IpAddr>,
}

/// Preallocated headers for one `sendmmsg` of up to [`MAX_BURST`]
/// datagrams, like [`RecvScratch`].
pub struct SendScratch {
    hdrs: [libc::mmsghdr; MAX_BURST],
    iovs: [libc::iovec; MAX_BURST],
    names: [libc::sockaddr_storage; MAX_BURST],
    ctrl: [CmsgBuf; MAX_BURST],
}

// SAFETY: as for RecvScratch: the pointers are built and used only inside
// `send`, while the payloads they point to are borrowed; between calls
// they are stale and never dereferenced.
unsafe impl Send for SendScratch {}

impl SendScratch {
    pub fn new() -> Box<Self> {
        // SAFETY: as for RecvScratch::new.
        Box::new(unsafe { std::mem::zeroed() })
    }

    /// One `sendmmsg(MSG_DONTWAIT)` of `msg(0) .. msg(n - 1)` (`n` at most
    /// [`MAX_BURST`]). Returns how many the kernel took from the front (it
    /// stops at the first datagram that fails or would block, and reports
    /// that datagram's error only when it is the first).
    pub fn send<'a>(
        &mut self,
        fd: BorrowedFd<'_>,
        n: usize,
        mut msg: impl FnMut(usize) -> Outgoing<'a>,
    ) -> io::Result<usize> {
        let n = n.min(MAX_BURST);
        if n == 0 {
            return Ok(0);
        }
        for i in 0..n {
            let m = msg(i);
            // The kernel only reads the iovec's bytes for a send, so the
            // const-to-mut cast is never written through.
            self.iovs[i] = libc::iovec {
                iov_base: m.payload.as_ptr().cast_mut().cast(),
                iov_len: m.payload.len(),
            };
            let namelen = encode_sockaddr(&m.dest, &mut self.names[i]);
            let ctrl_len = match m.src {
                Some(ip) => encode_pktinfo(ip, &mut self.ctrl[i]),
                None => 0,
            };
            let hdr = &mut self.hdrs[i];
            hdr.msg_len = 0;
            hdr.msg_hdr.msg_name = (&raw mut self.names[i]).cast();
            hdr.msg_hdr.msg_namelen = namelen;
            hdr.msg_hdr.msg_iov = &raw mut self.iovs[i];
            hdr.msg_hdr.msg_iovlen = 1;
            hdr.msg_hdr.msg_control = if ctrl_len == 0 {
                ptr::null_mut()
            } else {
                (&raw mut self.ctrl[i]).cast()
            };
            hdr.msg_hdr.msg_controllen = ctrl_len as _;
            hdr.msg_hdr.msg_flags = 0;
        }
        // SAFETY: the first `n` headers were just built: each points at one
        // iovec over a payload borrowed for 'a (which outlives this call, so
        // it stays allocated and unmodified), at this struct's own encoded
        // sockaddr and (optional) control message, each with its true
        // length. The kernel reads those and writes only `msg_len` of the
        // `n` headers (vlen = n ≤ MAX_BURST). `self` is borrowed mutably and
        // boxed, so nothing moves during the call.
        let rc = unsafe {
            libc::sendmmsg(
                fd.as_raw_fd(),
                self.hdrs.as_mut_ptr(),
                n as c_uint,
                libc::MSG_DONTWAIT as _,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok((rc as usize).min(n))
    }
}

/// Asks the C allocator to give the free memory of every arena back to
/// the system (glibc's `malloc_trim(0)`), after the gateway freed a large
/// part of its heap (the half-open table cut back after a flood): glibc
/// keeps freed small blocks in its arenas otherwise, and the resident size
/// stays at the flood's peak. Whether memory was released; `false` where
/// the C library is not glibc (musl returns freed pages on its own).
pub fn release_free_heap() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: malloc_trim takes a plain size and works on the
        // allocator's own state under the allocator's own locks; it frees
        // nothing that is in use, so no Rust allocation (the global
        // allocator is the system malloc) is affected.
        unsafe { libc::malloc_trim(0) != 0 }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockaddr_round_trips() {
        let addrs: [SocketAddr; 3] = [
            "192.0.2.7:4500".parse().unwrap(),
            "[2001:db8::1]:500".parse().unwrap(),
            SocketAddr::V6(SocketAddrV6::new("fe80::1".parse().unwrap(), 4500, 7, 3)),
        ];
        for addr in addrs {
            let mut storage = zeroed_storage();
            let len = encode_sockaddr(&addr, &mut storage);
            assert_eq!(decode_sockaddr(&storage, len), Some(addr));
            assert_eq!(
                decode_sockaddr(&storage, len - 1),
                None,
                "{addr}: short length"
            );
        }
        assert_eq!(decode_sockaddr(&zeroed_storage(), 128), None, "AF_UNSPEC");
    }

    #[test]
    fn pktinfo_round_trips_through_the_walker() {
        for ip in [
            "198.51.100.9".parse::<IpAddr>().unwrap(),
            "2001:db8::9".parse().unwrap(),
        ] {
            let mut buf = CmsgBuf([0; CMSG_BUF_LEN]);
            let used = encode_pktinfo(ip, &mut buf);
            // The sender writes ipi_spec_dst; the receive side reads
            // ipi_addr. For IPv6 they are the same field.
            if ip.is_ipv6() {
                assert_eq!(parse_ctrl(&buf, used).dst, Some((ip, 0)));
            } else {
                assert_eq!(
                    parse_ctrl(&buf, used).dst,
                    Some((Ipv4Addr::UNSPECIFIED.into(), 0))
                );
            }
            assert_eq!(parse_ctrl(&buf, 8).dst, None, "header cut short");
            assert_eq!(parse_ctrl(&buf, 0).dst, None);
        }
    }
}
