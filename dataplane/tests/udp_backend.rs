//! The UDP backend on real loopback sockets: bursts in and out, PKTINFO on
//! wildcard sockets, SO_REUSEPORT, the port-4500 non-ESP marker,
//! truncation, IPv6, per-datagram send errors and non-blocking receive.
//!
//! Loopback delivery is asynchronous, so receives poll for up to two
//! seconds; nothing here measures time.

use std::collections::BTreeMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use rebound_dataplane::backend::udp::{UdpBackend, UdpOptions};
use rebound_dataplane::backend::{
    Backend, BackendStats, MAX_BURST, RxBatch, RxMeta, SLOT_LEN, TxBatch,
};

const PATIENCE: Duration = Duration::from_secs(2);
const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
/// Also local on Linux (all of 127.0.0.0/8 is), and not what the kernel
/// picks by itself: proves PKTINFO is used in both directions.
const LOCALHOST_2: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

fn addr(ip: IpAddr, port: u16) -> SocketAddr {
    SocketAddr::new(ip, port)
}

fn backend(ip: IpAddr, opts: UdpOptions) -> UdpBackend {
    UdpBackend::bind(addr(ip, 0), opts).expect("bind backend")
}

fn std_socket(ip: IpAddr) -> UdpSocket {
    let s = UdpSocket::bind(addr(ip, 0)).expect("bind std socket");
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    s
}

/// Datagram `i` of a test burst: `i` then a pattern, of a length that
/// varies with `i` (1 to 1400 bytes).
fn payload(i: usize) -> Vec<u8> {
    let len = 1 + (i * 97) % 1400;
    let mut v: Vec<u8> = (0..len).map(|k| (i * 31 + k) as u8).collect();
    v[0] = i as u8;
    v
}

/// Poll `rx_burst` until `want` datagrams arrived or [`PATIENCE`] ran out;
/// copies out each datagram with its metadata, in arrival order.
fn receive(backend: &mut UdpBackend, want: usize) -> Vec<(RxMeta, Vec<u8>)> {
    receive_until(backend, |got, _| got.len() >= want)
}

fn receive_until(
    backend: &mut UdpBackend,
    mut done: impl FnMut(&[(RxMeta, Vec<u8>)], &BackendStats) -> bool,
) -> Vec<(RxMeta, Vec<u8>)> {
    let mut batch = RxBatch::new(MAX_BURST);
    let deadline = Instant::now() + PATIENCE;
    let mut got = Vec::new();
    while !done(&got, &backend.stats()) && Instant::now() < deadline {
        let n = backend.rx_burst(&mut batch).expect("rx_burst");
        assert!(n <= batch.capacity());
        for i in 0..n {
            got.push((*batch.meta(i), batch.datagram(i).to_vec()));
        }
        if n == 0 {
            thread::sleep(Duration::from_millis(1));
        }
    }
    got
}

/// `tx_burst` until the batch is empty (or [`PATIENCE`] ran out); returns
/// the total it reported as gone.
fn send_all(backend: &mut UdpBackend, batch: &mut TxBatch) -> usize {
    let deadline = Instant::now() + PATIENCE;
    let mut total = 0;
    while !batch.is_empty() && Instant::now() < deadline {
        let n = backend.tx_burst(batch).expect("tx_burst");
        assert!(n <= batch.len());
        batch.consume(n);
        total += n;
        if n == 0 {
            thread::sleep(Duration::from_millis(1));
        }
    }
    assert!(batch.is_empty(), "{} datagrams never left", batch.len());
    total
}

fn recv_from(socket: &UdpSocket) -> (Vec<u8>, SocketAddr) {
    let mut buf = vec![0u8; 65536];
    let (n, from) = socket
        .recv_from(&mut buf)
        .expect("datagram from the backend");
    buf.truncate(n);
    (buf, from)
}

#[test]
fn rx_burst_of_64_keeps_contents_peer_and_local() {
    for bound in [LOCALHOST, IpAddr::V4(Ipv4Addr::UNSPECIFIED)] {
        let mut b = backend(bound, UdpOptions::default());
        let port = b.local_addr().port();
        assert_ne!(port, 0, "getsockname reports the chosen port");
        assert_eq!(b.local_addr().ip(), bound);

        let senders: Vec<UdpSocket> = (0..4).map(|_| std_socket(LOCALHOST)).collect();
        // Half to 127.0.0.1, half to 127.0.0.2 when bound to the wildcard:
        // RxMeta::local must name the address each one was sent to.
        let dest_of = |i: usize| {
            if bound.is_unspecified() && i % 2 == 1 {
                addr(LOCALHOST_2, port)
            } else {
                addr(LOCALHOST, port)
            }
        };
        for i in 0..MAX_BURST {
            senders[i % 4].send_to(&payload(i), dest_of(i)).unwrap();
        }

        let got = receive(&mut b, MAX_BURST);
        assert_eq!(got.len(), MAX_BURST, "bound to {bound}");
        let mut seen = [false; MAX_BURST];
        for (meta, bytes) in &got {
            let i = bytes[0] as usize;
            assert!(i < MAX_BURST && !seen[i], "datagram {i} twice or unknown");
            seen[i] = true;
            assert_eq!(bytes, &payload(i), "datagram {i} contents");
            assert_eq!(meta.len, bytes.len());
            assert_eq!(meta.offset, 0);
            assert!(!meta.truncated);
            assert_eq!(
                meta.peer,
                senders[i % 4].local_addr().unwrap(),
                "datagram {i} peer"
            );
            assert_eq!(
                meta.local,
                dest_of(i),
                "datagram {i} local (bound to {bound})"
            );
        }
        let stats = b.stats();
        assert_eq!(stats.rx_datagrams, MAX_BURST as u64);
        assert_eq!(stats.rx_truncated, 0);
        assert_eq!(stats.tx_datagrams, 0);
    }
}

#[test]
fn tx_burst_of_64_reaches_every_receiver_from_the_right_source() {
    // (bound address, source asked for, source the receivers must see)
    let cases = [
        (LOCALHOST, None, LOCALHOST),
        (
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            Some(LOCALHOST),
            LOCALHOST,
        ),
        (
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            Some(LOCALHOST_2),
            LOCALHOST_2,
        ),
    ];
    for (bound, src, expected_src) in cases {
        let mut b = backend(bound, UdpOptions::default());
        let port = b.local_addr().port();
        let receivers: Vec<UdpSocket> = (0..4).map(|_| std_socket(LOCALHOST)).collect();

        let mut batch = TxBatch::new(MAX_BURST);
        for i in 0..MAX_BURST {
            let dest = receivers[i % 4].local_addr().unwrap();
            assert!(batch.push(dest, src, &payload(i)));
        }
        assert!(batch.is_full());
        assert_eq!(send_all(&mut b, &mut batch), MAX_BURST);

        for (r, receiver) in receivers.iter().enumerate() {
            // One socket pair on loopback keeps its order.
            for i in (r..MAX_BURST).step_by(4) {
                let (bytes, from) = recv_from(receiver);
                assert_eq!(bytes, payload(i), "receiver {r}, datagram {i}");
                assert_eq!(from, addr(expected_src, port), "source of datagram {i}");
            }
        }
        let stats = b.stats();
        assert_eq!(stats.tx_datagrams, MAX_BURST as u64, "{bound} {src:?}");
        assert_eq!(stats.tx_errors, 0);
    }
}

#[test]
fn reuse_port_sockets_share_the_resolved_port() {
    let opts = UdpOptions::default();
    assert!(opts.reuse_port, "SO_REUSEPORT is the default");
    let recv_opts = UdpOptions {
        recv_buffer: Some(1 << 20),
        send_buffer: Some(1 << 20),
        ..opts
    };
    let mut first = backend(LOCALHOST, recv_opts);
    let shared = first.local_addr();
    assert_ne!(shared.port(), 0);
    let mut second = UdpBackend::bind(shared, opts).expect("second SO_REUSEPORT bind");
    assert_eq!(second.local_addr(), shared);

    // Without SO_REUSEPORT the port is taken, and the error says where.
    let err = UdpBackend::bind(
        shared,
        UdpOptions {
            reuse_port: false,
            ..opts
        },
    )
    .expect_err("port in use");
    assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
    assert!(
        err.to_string().starts_with(&format!("bind {shared}: ")),
        "{err}"
    );

    // Flows from 16 source ports are spread over the two; each datagram
    // arrives exactly once, at one of them.
    let senders: Vec<UdpSocket> = (0..16).map(|_| std_socket(LOCALHOST)).collect();
    for (i, s) in senders.iter().enumerate() {
        s.send_to(&payload(i), shared).unwrap();
    }
    let mut arrived = BTreeMap::new();
    let deadline = Instant::now() + PATIENCE;
    while arrived.len() < senders.len() && Instant::now() < deadline {
        for b in [&mut first, &mut second] {
            for (meta, bytes) in receive(b, 1) {
                assert_eq!(meta.local, shared);
                let i = bytes[0] as usize;
                assert_eq!(bytes, payload(i));
                assert_eq!(meta.peer, senders[i].local_addr().unwrap());
                assert!(arrived.insert(i, meta.peer).is_none(), "datagram {i} twice");
            }
        }
    }
    assert_eq!(arrived.len(), senders.len());
    assert_eq!(
        first.stats().rx_datagrams + second.stats().rx_datagrams,
        senders.len() as u64
    );
}

#[test]
fn port_4500_strips_and_prepends_the_non_esp_marker() {
    let opts = UdpOptions {
        non_esp_marker: true,
        ..UdpOptions::default()
    };
    let mut b = backend(LOCALHOST, opts);
    assert!(b.non_esp_marker());
    let to = b.local_addr();
    let peer = std_socket(LOCALHOST);

    let ike1 = payload(7);
    let ike2 = payload(40);
    let marked = |m: &[u8]| [&[0u8; 4][..], m].concat();
    // Drops before, between and after the IKE messages, so the burst has
    // to be compacted.
    let datagrams: Vec<Vec<u8>> = vec![
        vec![0x00, 0x00, 0x12, 0x34, 0xAB, 0xCD], // ESP, SPI 0x1234
        marked(&ike1),
        vec![0xFF],                               // NAT keepalive
        vec![0xFF, 0xFF],                         // runt
        vec![0, 0, 0, 0],                         // marker and nothing else: runt
        vec![],                                   // runt
        vec![0x00],                               // runt (not a keepalive)
        vec![0xDE, 0xAD, 0xBE, 0xEF, 0, 0, 0, 1], // ESP
        marked(&ike2),
        vec![0xFF], // NAT keepalive
    ];
    for d in &datagrams {
        peer.send_to(d, to).unwrap();
    }
    let expected = BackendStats {
        rx_datagrams: 2,
        rx_keepalives: 2,
        rx_esp: 2,
        rx_runts: 4,
        ..BackendStats::default()
    };
    let got = receive_until(&mut b, |_, stats| *stats == expected);
    assert_eq!(b.stats(), expected);
    assert_eq!(got.len(), 2);
    for ((meta, bytes), ike) in got.iter().zip([&ike1, &ike2]) {
        assert_eq!(bytes, ike, "marker stripped");
        assert_eq!(meta.offset, 4);
        assert_eq!(meta.len, ike.len());
        assert_eq!(meta.peer, peer.local_addr().unwrap());
        assert_eq!(meta.local, to);
    }

    let mut batch = TxBatch::new(4);
    let reply_to = peer.local_addr().unwrap();
    for i in 0..3 {
        assert!(batch.push(reply_to, None, &payload(100 + i)));
    }
    assert_eq!(send_all(&mut b, &mut batch), 3);
    for i in 0..3 {
        let (bytes, from) = recv_from(&peer);
        assert_eq!(from, to);
        assert_eq!(&bytes[..4], &[0, 0, 0, 0], "non-ESP marker first");
        assert_eq!(&bytes[4..], &payload(100 + i)[..]);
    }
    assert_eq!(b.stats().tx_datagrams, 3);
}

#[test]
fn datagram_longer_than_a_slot_is_flagged_truncated() {
    let mut b = backend(LOCALHOST, UdpOptions::default());
    let peer = std_socket(LOCALHOST);
    let long: Vec<u8> = (0..SLOT_LEN + 808).map(|k| (k * 7) as u8).collect();
    peer.send_to(&long, b.local_addr()).unwrap();
    peer.send_to(&payload(3), b.local_addr()).unwrap();

    let got = receive(&mut b, 2);
    assert_eq!(got.len(), 2);
    let (meta, bytes) = &got[0];
    assert!(meta.truncated);
    assert_eq!(meta.len, SLOT_LEN);
    assert_eq!(bytes[..], long[..SLOT_LEN]);
    let (meta, bytes) = &got[1];
    assert!(!meta.truncated, "the next datagram is whole");
    assert_eq!(bytes, &payload(3));
    assert_eq!(b.stats().rx_truncated, 1);
    assert_eq!(b.stats().rx_datagrams, 2);
}

#[test]
fn datagrams_the_kernel_dropped_for_a_full_queue_are_counted() {
    // A small receive queue, filled while nobody reads it: the kernel drops
    // the rest and says how many with the next datagram it queues.
    let mut b = backend(
        LOCALHOST,
        UdpOptions {
            recv_buffer: Some(4096),
            ..UdpOptions::default()
        },
    );
    let peer = std_socket(LOCALHOST);
    let sent = 2_000;
    for i in 0..sent {
        peer.send_to(&payload(i), b.local_addr()).unwrap();
    }
    let first = receive_until(&mut b, |_, _| false);
    assert!(!first.is_empty() && first.len() < sent, "{}", first.len());
    // The queue drained: one more datagram carries the drop count.
    peer.send_to(&payload(7), b.local_addr()).unwrap();
    let more = receive(&mut b, 1);
    assert_eq!(more.len(), 1);
    let s = b.stats();
    assert_eq!(s.rx_datagrams as usize, first.len() + 1);
    // Everything sent is accounted for: received or dropped by the kernel.
    assert_eq!(
        s.rx_kernel_dropped as usize + first.len(),
        sent,
        "{} dropped, {} received",
        s.rx_kernel_dropped,
        first.len()
    );
}

#[test]
fn ipv6_round_trip() {
    let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
    let specific = match UdpBackend::bind(addr(v6, 0), UdpOptions::default()) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::AddrNotAvailable => {
            eprintln!("skipping ipv6_round_trip: ::1 is not available ({e})");
            return;
        }
        Err(e) => panic!("bind [::1]:0: {e}"),
    };
    let wildcard = backend(IpAddr::V6(Ipv6Addr::UNSPECIFIED), UdpOptions::default());
    for mut b in [specific, wildcard] {
        let port = b.local_addr().port();
        let to = addr(v6, port);
        let peer = std_socket(v6);
        for i in 0..8 {
            peer.send_to(&payload(i), to).unwrap();
        }
        let got = receive(&mut b, 8);
        assert_eq!(got.len(), 8, "bound to {}", b.local_addr());
        let mut batch = TxBatch::new(8);
        for (i, (meta, bytes)) in got.iter().enumerate() {
            assert_eq!(bytes, &payload(i));
            assert_eq!(meta.peer, peer.local_addr().unwrap());
            assert_eq!(meta.local, to, "PKTINFO gives ::1 with the bound port");
            // Echo back from the address it came to.
            assert!(batch.push(meta.peer, Some(meta.local.ip()), bytes));
        }
        assert_eq!(send_all(&mut b, &mut batch), 8);
        for i in 0..8 {
            let (bytes, from) = recv_from(&peer);
            assert_eq!(bytes, payload(i));
            assert_eq!(from, to);
        }
        assert_eq!(b.stats().tx_datagrams, 8);
        assert_eq!(b.stats().tx_errors, 0);

        // An IPv4 destination cannot leave an IPv6-only socket.
        let mut batch = TxBatch::new(2);
        assert!(batch.push(addr(LOCALHOST, 9), None, b"x"));
        assert!(batch.push(peer.local_addr().unwrap(), None, b"after"));
        assert_eq!(send_all(&mut b, &mut batch), 2);
        assert_eq!(recv_from(&peer).0, b"after");
        assert_eq!(b.stats().tx_errors, 1);
    }
}

#[test]
fn unsendable_datagrams_are_counted_and_the_rest_still_go() {
    let mut b = backend(LOCALHOST, UdpOptions::default());
    let receiver = std_socket(LOCALHOST);
    let to = receiver.local_addr().unwrap();
    let v6_dest = addr(IpAddr::V6(Ipv6Addr::LOCALHOST), to.port());
    let mapped_dest = addr(IpAddr::V6(Ipv4Addr::LOCALHOST.to_ipv6_mapped()), to.port());
    // 192.0.2.1 (TEST-NET-1) is not local: the kernel refuses it as a
    // source, an error only the sendmmsg call itself reports. In the middle
    // of a run, sendmmsg first returns the datagrams before it, then the
    // error when the run is retried from it.
    let foreign_src = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));

    let mut batch = TxBatch::new(12);
    let mut expect = Vec::new();
    for i in 0..12 {
        let (dest, src) = match i {
            0 => (v6_dest, None),         // family mismatch, at the front
            2 => (to, Some(foreign_src)), // kernel: EINVAL, after 1 was sent in the same call
            4 => (mapped_dest, None),     // IPv4-mapped
            5 => (to, Some(foreign_src)), // kernel: EINVAL
            6 => (to, Some(IpAddr::V6(Ipv6Addr::LOCALHOST))), // source family mismatch
            11 => (v6_dest, None),        // and at the end
            _ => {
                expect.push(i);
                (to, None)
            }
        };
        assert!(batch.push(dest, src, &payload(i)));
    }
    assert_eq!(
        b.tx_burst(&batch).expect("tx_burst"),
        12,
        "every datagram left: sent, or dropped and counted"
    );
    let stats = b.stats();
    assert_eq!(stats.tx_errors, 6);
    assert_eq!(stats.tx_datagrams, expect.len() as u64);
    for i in expect {
        assert_eq!(recv_from(&receiver).0, payload(i), "datagram {i} in order");
    }
    receiver.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(
        receiver.recv_from(&mut buf).map_err(|e| e.kind()),
        Err(io::ErrorKind::WouldBlock),
        "nothing else arrived"
    );
}

#[test]
fn rx_on_an_empty_socket_returns_zero_without_blocking() {
    let mut b = backend(LOCALHOST, UdpOptions::default());
    let (done, result) = mpsc::channel();
    let worker = thread::spawn(move || {
        let mut batch = RxBatch::new(MAX_BURST);
        let n = b.rx_burst(&mut batch).map_err(|e| e.to_string());
        done.send((n, b.stats())).unwrap();
    });
    // A blocking receive would never answer; a generous bound keeps a slow
    // machine from failing the test.
    let (n, stats) = result
        .recv_timeout(Duration::from_secs(10))
        .expect("rx_burst blocked on an empty socket");
    assert_eq!(n, Ok(0));
    assert_eq!(stats, BackendStats::default());
    worker.join().unwrap();

    let empty = backend(LOCALHOST, UdpOptions::default());
    let rendered = format!("{empty:?}");
    assert!(rendered.starts_with("UdpBackend"), "{rendered}");
    assert!(
        rendered.contains(&empty.local_addr().to_string()),
        "{rendered}"
    );
}
