//! JSON lines on a stream Unix socket, acknowledged.
//!
//! The gateway connects to the daemon's socket as a client and writes one
//! line per SA: the [`handoff_line`](super::handoff_line) object with a
//! leading `"seq":N` field, N counting from 1 on each gateway run. The
//! daemon writes back, on the same connection, a line holding the highest
//! N it has taken (`"42\n"`; cumulative: it acknowledges every line up to
//! and including N). It may acknowledge every line or every few; it must
//! acknowledge promptly, because the gateway keeps at most [`WINDOW`]
//! unacknowledged SAs and stops taking new ones beyond that
//! (backpressure).
//!
//! A write that does not reach the daemon's application is not lost: lines
//! sitting in the socket buffers when the daemon crashes were never
//! acknowledged, and on the next connection every unacknowledged line is
//! sent again, in order. A daemon therefore sees each SA at least once and
//! keys them by `seq` (or by `spi_i` + `spi_r`).
//!
//! SA events (an IKE SA deleted, a child SA created, rekeyed or deleted:
//! [`event_line`](super::event_line)) are lines of the same stream: they
//! take sequence numbers and window places like the SAs, and are resent
//! and acknowledged the same way.

use std::collections::VecDeque;
use std::io::{self, ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rebound_engine::handoff::EstablishedSa;
use zeroize::Zeroizing;

use super::{HandoffSink, event_line, handoff_line};
use rebound_engine::handoff::SaChange;

/// The most SAs sent and not yet acknowledged.
pub const WINDOW: usize = 8192;

/// How long one delivery may spend pushing lines into a full socket before
/// it leaves the rest for later (the control plane's loop comes back).
const SEND_BUDGET: Duration = Duration::from_millis(20);

/// The longest acknowledgement line accepted (a u64 in decimal).
const MAX_ACK_LINE: usize = 32;

/// The acknowledged JSON-lines sink.
pub struct UnixJsonSink {
    path: PathBuf,
    name: String,
    conn: Option<UnixStream>,
    /// Sequence number of the next SA.
    next_seq: u64,
    /// Lines sent (or to send) and not yet acknowledged, oldest first,
    /// each with its sequence number. Wiped when dropped: they hold keys.
    unacked: VecDeque<(u64, Zeroizing<Vec<u8>>)>,
    /// How many of `unacked` went out whole on the current connection.
    sent: usize,
    /// Bytes of line `sent` already written.
    offset: usize,
    /// A partial acknowledgement line.
    ack_buf: Vec<u8>,
    /// Connections that failed (refused, broken, timed out).
    failures: u64,
    /// The daemon is unreachable (logged once per outage).
    down: bool,
}

impl UnixJsonSink {
    /// A sink that connects to `path` when it first delivers.
    pub fn new(path: &Path) -> Self {
        UnixJsonSink {
            path: path.to_path_buf(),
            name: format!("unix:{}", path.display()),
            conn: None,
            next_seq: 1,
            unacked: VecDeque::new(),
            sent: 0,
            offset: 0,
            ack_buf: Vec::with_capacity(MAX_ACK_LINE),
            failures: 0,
            down: false,
        }
    }

    fn broken(&mut self, e: io::Error) -> io::Error {
        // Everything unacknowledged goes out again on the next connection.
        self.failures += 1;
        self.conn = None;
        self.sent = 0;
        self.offset = 0;
        self.ack_buf.clear();
        if !self.down {
            self.down = true;
            tracing::warn!(sink = %self.name, error = %e, "hand-off daemon unreachable; SAs kept for resending");
        }
        e
    }

    fn connect(&mut self) -> io::Result<()> {
        if self.conn.is_none() {
            let c = UnixStream::connect(&self.path).and_then(|c| {
                // Non-blocking both ways: the sink writes as much as the
                // socket takes and reads acknowledgements in between, so a
                // daemon blocked on writing its acknowledgements can never
                // deadlock against a gateway blocked on writing lines.
                c.set_nonblocking(true)?;
                Ok(c)
            });
            match c {
                Ok(c) => {
                    self.conn = Some(c);
                    self.sent = 0;
                    self.offset = 0;
                    self.ack_buf.clear();
                    if self.down {
                        self.down = false;
                        tracing::info!(sink = %self.name, pending = self.unacked.len(), "hand-off daemon reachable again; resending");
                    }
                }
                Err(e) => {
                    let msg = format!("connect {}: {e}", self.path.display());
                    return Err(self.broken(io::Error::new(e.kind(), msg)));
                }
            }
        }
        Ok(())
    }

    /// Send lines not yet sent on this connection, reading
    /// acknowledgements whenever the socket is full, until all are sent or
    /// `deadline` passes (then `Ok`: the rest goes out later).
    fn pump(&mut self, deadline: Instant) -> io::Result<()> {
        self.connect()?;
        loop {
            self.read_acks()?;
            let Some(conn) = self.conn.as_mut() else {
                return Ok(());
            };
            let Some((_, line)) = self.unacked.get(self.sent) else {
                return Ok(());
            };
            match conn.write(&line[self.offset..]) {
                Ok(0) => {
                    let e = io::Error::new(ErrorKind::WriteZero, "hand-off socket wrote nothing");
                    return Err(self.broken(e));
                }
                Ok(n) => {
                    self.offset += n;
                    if self.offset == line.len() {
                        self.offset = 0;
                        self.sent += 1;
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    if Instant::now() >= deadline {
                        return Ok(());
                    }
                    std::thread::sleep(Duration::from_micros(200));
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(self.broken(e)),
            }
        }
    }

    /// Read every acknowledgement waiting, without blocking.
    fn read_acks(&mut self) -> io::Result<()> {
        let Some(conn) = self.conn.as_mut() else {
            return Ok(());
        };
        let mut buf = [0u8; 512];
        let result = loop {
            match conn.read(&mut buf) {
                Ok(0) => {
                    break Err(io::Error::new(
                        ErrorKind::ConnectionAborted,
                        "the hand-off daemon closed the connection",
                    ));
                }
                Ok(n) => {
                    if let Err(e) = take_acks(
                        &buf[..n],
                        &mut self.ack_buf,
                        &mut self.unacked,
                        &mut self.sent,
                    ) {
                        break Err(e);
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break Ok(()),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => break Err(e),
            }
        };
        result.map_err(|e| self.broken(e))
    }
}

impl UnixJsonSink {
    /// Room for `n` more lines in the window, or `WouldBlock` (nothing
    /// taken).
    fn make_room(&mut self, n: usize) -> io::Result<()> {
        if self.unacked.len() + n > WINDOW {
            // Errors are counted and the lines kept; room is what matters.
            let _ = self.pump(Instant::now() + Duration::from_millis(100));
            if self.unacked.len() + n > WINDOW {
                return Err(io::Error::new(
                    ErrorKind::WouldBlock,
                    format!(
                        "{} lines await the daemon's acknowledgement (window {WINDOW})",
                        self.unacked.len()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Queue `{"seq":N,` + `rest` (a JSON object's members and its closing
    /// brace) + newline.
    fn push_line(&mut self, rest: &[u8]) {
        let mut line = Zeroizing::new(Vec::with_capacity(rest.len() + 24));
        let _ = write!(line, "{{\"seq\":{},", self.next_seq);
        line.extend_from_slice(rest);
        line.push(b'\n');
        self.unacked.push_back((self.next_seq, line));
        self.next_seq += 1;
    }
}

/// Apply acknowledgement bytes: complete lines drop every unacknowledged
/// SA up to the number they hold.
fn take_acks(
    bytes: &[u8],
    partial: &mut Vec<u8>,
    unacked: &mut VecDeque<(u64, Zeroizing<Vec<u8>>)>,
    sent: &mut usize,
) -> io::Result<()> {
    for &b in bytes {
        if b != b'\n' {
            if partial.len() >= MAX_ACK_LINE {
                return Err(io::Error::new(
                    ErrorKind::InvalidData,
                    "hand-off daemon: acknowledgement line too long",
                ));
            }
            partial.push(b);
            continue;
        }
        let text = std::str::from_utf8(partial).unwrap_or("").trim();
        let Ok(n) = text.parse::<u64>() else {
            let shown = String::from_utf8_lossy(partial).into_owned();
            partial.clear();
            return Err(io::Error::new(
                ErrorKind::InvalidData,
                format!("hand-off daemon: {shown:?} is not an acknowledgement (a sequence number)"),
            ));
        };
        partial.clear();
        while unacked.front().is_some_and(|(seq, _)| *seq <= n) && *sent > 0 {
            unacked.pop_front();
            *sent -= 1;
        }
    }
    Ok(())
}

impl HandoffSink for UnixJsonSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn deliver(&mut self, batch: &[Box<EstablishedSa>]) -> io::Result<()> {
        self.make_room(batch.len())?;
        for sa in batch {
            let body = handoff_line(sa);
            self.push_line(&body.as_bytes()[1..]);
        }
        // The batch is taken: what cannot be sent now goes out later.
        let _ = self.pump(Instant::now() + SEND_BUDGET);
        Ok(())
    }

    /// One line per event ([`event_line`](super::event_line) with the
    /// leading `"seq":N`), in the same sequence and window as the SAs.
    fn deliver_events(&mut self, events: &[SaChange]) -> io::Result<()> {
        self.make_room(events.len())?;
        for e in events {
            let body = event_line(e);
            self.push_line(&body.as_bytes()[1..]);
        }
        let _ = self.pump(Instant::now() + SEND_BUDGET);
        Ok(())
    }

    fn poll(&mut self) {
        if !self.unacked.is_empty() {
            let _ = self.pump(Instant::now() + SEND_BUDGET);
        }
    }

    fn flush(&mut self, deadline: Instant) -> io::Result<()> {
        while !self.unacked.is_empty() {
            if Instant::now() >= deadline {
                return Err(io::Error::new(
                    ErrorKind::TimedOut,
                    format!(
                        "{} SAs not acknowledged by the hand-off daemon",
                        self.unacked.len()
                    ),
                ));
            }
            if self.pump(deadline).is_err() || self.sent == self.unacked.len() {
                // Unreachable, or everything sent and not yet
                // acknowledged: wait a little.
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        Ok(())
    }

    fn pending(&self) -> usize {
        self.unacked.len()
    }

    fn failures(&self) -> u64 {
        self.failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(n: u64) -> VecDeque<(u64, Zeroizing<Vec<u8>>)> {
        (1..=n)
            .map(|s| (s, Zeroizing::new(format!("{s}\n").into_bytes())))
            .collect()
    }

    #[test]
    fn acks_are_cumulative_and_may_arrive_in_pieces() {
        let mut q = lines(5);
        let mut sent = 5;
        let mut partial = Vec::new();
        take_acks(b"2\n", &mut partial, &mut q, &mut sent).unwrap();
        assert_eq!(q.front().map(|l| l.0), Some(3));
        assert_eq!(sent, 3);
        take_acks(b"4", &mut partial, &mut q, &mut sent).unwrap();
        assert_eq!(q.len(), 3, "no newline yet");
        take_acks(b"\n", &mut partial, &mut q, &mut sent).unwrap();
        assert_eq!(q.front().map(|l| l.0), Some(5));
        // An old acknowledgement changes nothing.
        take_acks(b"1\n", &mut partial, &mut q, &mut sent).unwrap();
        assert_eq!(q.len(), 1);
    }

    #[test]
    fn only_lines_sent_on_this_connection_can_be_acknowledged() {
        let mut q = lines(5);
        let mut sent = 2;
        let mut partial = Vec::new();
        take_acks(b"5\n", &mut partial, &mut q, &mut sent).unwrap();
        assert_eq!(q.front().map(|l| l.0), Some(3));
        assert_eq!(sent, 0);
    }

    use crate::sink::line::tests::{other_child, v4};
    use rebound_engine::handoff::ChildSpis;
    use std::io::{BufRead, BufReader};
    use std::os::unix::net::UnixListener;

    /// A fresh directory and a listening socket in it.
    fn listen(tag: &str) -> (PathBuf, UnixListener) {
        let dir = std::env::temp_dir().join(format!("rebound-unix-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let listener = UnixListener::bind(dir.join("d.sock")).unwrap();
        (dir, listener)
    }

    fn read_lines(r: &mut impl BufRead, n: usize) -> Vec<serde_json::Value> {
        (0..n)
            .map(|_| {
                let mut l = String::new();
                r.read_line(&mut l).unwrap();
                assert!(l.ends_with('\n'), "{l:?}");
                serde_json::from_str(&l).unwrap()
            })
            .collect()
    }

    /// One of each event after the SA they name, as they go out.
    fn events(sa: &EstablishedSa) -> Vec<SaChange> {
        let ike = (sa.spi_i, sa.spi_r);
        let first = sa.child.as_ref().unwrap();
        let first = ChildSpis {
            spi_i: first.spi_i,
            spi_r: first.spi_r,
        };
        let second = other_child(sa, 0xc1);
        let rekeyed = other_child(sa, 0xc2);
        let second_spis = ChildSpis {
            spi_i: second.spi_i,
            spi_r: second.spi_r,
        };
        vec![
            SaChange::ChildCreated { ike, child: second },
            SaChange::ChildRekeyed {
                ike,
                old: first,
                child: rekeyed,
            },
            SaChange::ChildDeleted {
                ike,
                children: vec![first, second_spis],
            },
            SaChange::Deleted {
                spi_i: sa.spi_i,
                spi_r: sa.spi_r,
            },
        ]
    }

    #[test]
    fn events_are_lines_in_the_same_sequence_and_window() {
        let (dir, listener) = listen("events");
        let mut sink = UnixJsonSink::new(&dir.join("d.sock"));
        let sa = v4();
        let evs = events(&sa);
        sink.deliver(std::slice::from_ref(&sa)).unwrap();
        sink.deliver_events(&evs).unwrap();
        assert_eq!(sink.pending(), 5);
        let (conn, _) = listener.accept().unwrap();
        let mut r = BufReader::new(conn.try_clone().unwrap());
        let got = read_lines(&mut r, 5);
        // The SA, then its events, one sequence.
        for (i, v) in got.iter().enumerate() {
            assert_eq!(v["seq"], i as u64 + 1, "{v}");
        }
        assert_eq!(
            hex::decode(got[0]["ike"]["spi_r"].as_str().unwrap()).unwrap(),
            sa.spi_r
        );
        for (v, e) in got[1..].iter().zip(&evs) {
            let mut want: serde_json::Value = serde_json::from_str(&event_line(e)).unwrap();
            want.as_object_mut()
                .unwrap()
                .insert("seq".into(), v["seq"].clone());
            assert_eq!(*v, want);
        }
        assert_eq!(got[1]["child_created"]["child"]["spi_i"], "c1010203");
        assert_eq!(got[2]["child_rekeyed"]["child"]["spi_r"], "c2040506");
        assert_eq!(got[3]["child_deleted"]["children"][1]["spi_i"], "c1010203");
        assert_eq!(
            got[4]["deleted"]["spi_i"],
            serde_json::Value::from(hex::encode(sa.spi_i))
        );
        // Acknowledged like the SA lines, cumulatively.
        (&conn).write_all(b"3\n").unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while sink.pending() != 2 {
            assert!(Instant::now() < deadline, "pending {}", sink.pending());
            sink.poll();
            std::thread::sleep(Duration::from_millis(1));
        }
        (&conn).write_all(b"5\n").unwrap();
        sink.flush(Instant::now() + Duration::from_secs(5)).unwrap();
        assert_eq!(sink.pending(), 0);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Unacknowledged events go out again, with their numbers, on the next
    /// connection.
    #[test]
    fn unacknowledged_events_are_resent_after_a_reconnect() {
        let (dir, listener) = listen("resend");
        let mut sink = UnixJsonSink::new(&dir.join("d.sock"));
        let sa = v4();
        let evs = events(&sa);
        sink.deliver_events(&evs[..2]).unwrap();
        let (conn, _) = listener.accept().unwrap();
        let mut r = BufReader::new(conn.try_clone().unwrap());
        let first = read_lines(&mut r, 2);
        (&conn).write_all(b"1\n").unwrap();
        // Wait for the acknowledgement, then the daemon goes away.
        let deadline = Instant::now() + Duration::from_secs(5);
        while sink.pending() != 1 {
            assert!(Instant::now() < deadline);
            sink.poll();
            std::thread::sleep(Duration::from_millis(1));
        }
        drop(r);
        drop(conn);
        // Noticed on the next delivery or poll; then a new connection.
        let deadline = Instant::now() + Duration::from_secs(5);
        while sink.failures() == 0 {
            assert!(
                Instant::now() < deadline,
                "the closed connection went unnoticed"
            );
            sink.poll();
            std::thread::sleep(Duration::from_millis(1));
        }
        sink.deliver_events(&evs[2..]).unwrap();
        let (conn, _) = listener.accept().unwrap();
        let mut r = BufReader::new(conn.try_clone().unwrap());
        let again = read_lines(&mut r, 3);
        assert_eq!(again[0], first[1], "the unacknowledged line, again");
        assert_eq!(again[1]["seq"], 3);
        assert!(again[1]["child_deleted"].is_object());
        assert_eq!(again[2]["seq"], 4);
        (&conn).write_all(b"4\n").unwrap();
        sink.flush(Instant::now() + Duration::from_secs(5)).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A full window refuses events whole (backpressure) and takes them
    /// once the daemon acknowledges.
    #[test]
    fn a_full_window_refuses_events_whole() {
        let (dir, listener) = listen("window");
        let mut sink = UnixJsonSink::new(&dir.join("d.sock"));
        let del = |n: u64| SaChange::Deleted {
            spi_i: n.to_be_bytes(),
            spi_r: [0xff; 8],
        };
        let fill: Vec<SaChange> = (0..WINDOW as u64 - 1).map(del).collect();
        sink.deliver_events(&fill).unwrap();
        let (conn, _) = listener.accept().unwrap();
        // The daemon reads everything but acknowledges nothing yet.
        let reader = std::thread::spawn({
            let conn = conn.try_clone().unwrap();
            move || {
                let mut r = BufReader::new(conn);
                let mut last = 0;
                for _ in 0..WINDOW + 1 {
                    let mut l = String::new();
                    r.read_line(&mut l).unwrap();
                    let v: serde_json::Value = serde_json::from_str(&l).unwrap();
                    last = v["seq"].as_u64().unwrap();
                }
                last
            }
        });
        let two = [del(1 << 40), del(2 << 40)];
        let e = sink.deliver_events(&two).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::WouldBlock, "{e}");
        assert_eq!(
            sink.pending(),
            WINDOW - 1,
            "nothing of a refused delivery is taken"
        );
        (&conn)
            .write_all(format!("{}\n", WINDOW - 1).as_bytes())
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match sink.deliver_events(&two) {
                Ok(()) => break,
                Err(e) => assert!(
                    e.kind() == ErrorKind::WouldBlock && Instant::now() < deadline,
                    "{e}"
                ),
            }
        }
        sink.poll();
        assert_eq!(
            reader.join().unwrap(),
            WINDOW as u64 + 1,
            "in order, none lost"
        );
        (&conn)
            .write_all(format!("{}\n", WINDOW + 1).as_bytes())
            .unwrap();
        sink.flush(Instant::now() + Duration::from_secs(5)).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn garbage_acknowledgements_are_errors() {
        let mut q = lines(3);
        let mut sent = 3;
        let mut partial = Vec::new();
        let e = take_acks(b"ok\n", &mut partial, &mut q, &mut sent).unwrap_err();
        assert!(e.to_string().contains("not an acknowledgement"), "{e}");
        assert_eq!(q.len(), 3);
        let e = take_acks(&[b'7'; 40], &mut partial, &mut q, &mut sent).unwrap_err();
        assert!(e.to_string().contains("too long"), "{e}");
    }
}
