//! The Prometheus endpoint: [`render`] turns a [`GatewayStats`] snapshot
//! into the text exposition format 0.0.4, and [`MetricsServer`] serves it
//! at `GET /metrics` from one thread.
//!
//! Both are written by hand rather than with a crate: the `prometheus`
//! crate's registry wants its own counter types while the workers keep
//! plain integers and we render our own snapshots, and the exporters pull
//! in an async HTTP stack for what is one request every few seconds.
//!
//! Every metric is named `rebound_*`; per-worker metrics carry a
//! `worker="N"` label. The list with what to watch for is in
//! `docs/OPERATIONS.md` ("Metrics").

use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rebound_engine::responder::Counter;

use crate::gateway::{ControlSnapshot, GatewayStats, WorkerSnapshot};

/// The `Content-Type` of [`render`]'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The longest request head (request line and headers) the server reads.
pub const MAX_REQUEST_HEAD: usize = 8 * 1024;

/// How long a client may take to send its request head.
const REQUEST_DEADLINE: Duration = Duration::from_secs(2);
/// How long writing the answer may block.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Clone, Copy)]
enum Kind {
    Counter,
    Gauge,
}

impl Kind {
    const fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
        }
    }
}

/// A worker's own metrics: name, type, help, value.
type WorkerMetric = (&'static str, Kind, &'static str, fn(&WorkerSnapshot) -> u64);

const WORKER_METRICS: &[WorkerMetric] = &[
    (
        "rebound_rx_datagrams_total",
        Kind::Counter,
        "Datagrams the worker received.",
        |w| w.io.rx_datagrams,
    ),
    (
        "rebound_tx_datagrams_total",
        Kind::Counter,
        "Datagrams the worker sent.",
        |w| w.io.tx_datagrams,
    ),
    (
        "rebound_tx_dropped_total",
        Kind::Counter,
        "Replies dropped because the socket stayed full.",
        |w| w.io.tx_dropped,
    ),
    (
        "rebound_forwarded_out_total",
        Kind::Counter,
        "IKE_AUTH requests sent to the worker that owns their SPIr.",
        |w| w.io.forwarded_out,
    ),
    (
        "rebound_forwarded_in_total",
        Kind::Counter,
        "IKE_AUTH requests received from other workers.",
        |w| w.io.forwarded_in,
    ),
    (
        "rebound_forward_dropped_total",
        Kind::Counter,
        "Forwarded datagrams dropped (owner unknown or its queue full).",
        |w| w.io.forward_dropped,
    ),
    (
        "rebound_to_control_total",
        Kind::Counter,
        "Datagrams passed to the control plane (the slow path).",
        |w| w.io.to_control,
    ),
    (
        "rebound_slow_dropped_total",
        Kind::Counter,
        "Slow-path datagrams dropped because the control plane's queue was full.",
        |w| w.io.slow_dropped,
    ),
    (
        "rebound_handoff_stalls_total",
        Kind::Counter,
        "Times the hand-off queue was full and the worker held established SAs back.",
        |w| w.io.handoff_stalls,
    ),
    (
        "rebound_handed_off_total",
        Kind::Counter,
        "Established SAs the worker passed to the control plane.",
        |w| w.io.handed_off,
    ),
    (
        "rebound_half_open",
        Kind::Gauge,
        "Half-open SAs waiting for their IKE_AUTH.",
        |w| w.half_open,
    ),
    (
        "rebound_worker_cpu_user_milliseconds_total",
        Kind::Counter,
        "CPU time of the worker thread in user mode: the engine and the poll loop (10 ms resolution).",
        |w| w.cpu_user_ms,
    ),
    (
        "rebound_worker_cpu_system_milliseconds_total",
        Kind::Counter,
        "CPU time of the worker thread in the kernel: the UDP path (10 ms resolution).",
        |w| w.cpu_system_ms,
    ),
    (
        "rebound_backend_rx_truncated_total",
        Kind::Counter,
        "Datagrams longer than the 8 KiB receive slot, received cut short.",
        |w| w.backend.rx_truncated,
    ),
    (
        "rebound_backend_rx_keepalives_total",
        Kind::Counter,
        "NAT keepalives received on a NAT-T socket (RFC 3948 section 2.3), dropped.",
        |w| w.backend.rx_keepalives,
    ),
    (
        "rebound_backend_rx_esp_total",
        Kind::Counter,
        "ESP packets received on a NAT-T socket, dropped (this gateway terminates no ESP).",
        |w| w.backend.rx_esp,
    ),
    (
        "rebound_backend_rx_runts_total",
        Kind::Counter,
        "NAT-T datagrams shorter than the non-ESP marker or with nothing after it, dropped.",
        |w| w.backend.rx_runts,
    ),
    (
        "rebound_backend_tx_errors_total",
        Kind::Counter,
        "Send errors other than a full socket buffer (the datagram is dropped).",
        |w| w.backend.tx_errors,
    ),
];

/// The control plane's metrics: name, type, help, value.
type ControlMetric = (
    &'static str,
    Kind,
    &'static str,
    fn(&ControlSnapshot) -> u64,
);

const CONTROL_METRICS: &[ControlMetric] = &[
    (
        "rebound_control_received_total",
        Kind::Counter,
        "Established SAs the control plane received from the workers.",
        |c| c.received,
    ),
    (
        "rebound_control_duplicates_total",
        Kind::Counter,
        "SAs received twice (same SPIs); must stay 0.",
        |c| c.duplicates,
    ),
    (
        "rebound_control_sa_table",
        Kind::Gauge,
        "SAs in the control plane's table.",
        |c| c.sa_table,
    ),
    (
        "rebound_control_silent_deletes_total",
        Kind::Counter,
        "Replaced SAs deleted silently (RFC 5723 section 4.3.4).",
        |c| c.silent_deletes,
    ),
    (
        "rebound_control_replaced_unknown_total",
        Kind::Counter,
        "Replaced SAs that were not in the table (established before this gateway started, or elsewhere).",
        |c| c.replaced_unknown,
    ),
    (
        "rebound_control_expired_total",
        Kind::Counter,
        "SAs dropped from the table at their re-authentication deadline.",
        |c| c.expired,
    ),
    (
        "rebound_control_handed_off_total",
        Kind::Counter,
        "SAs written to every hand-off sink.",
        |c| c.handed_off,
    ),
    (
        "rebound_control_sink_errors_total",
        Kind::Counter,
        "Hand-off sink failures: refused, broken or timed-out connections (retried; the SA is kept).",
        |c| c.sink_errors,
    ),
    (
        "rebound_control_sink_waits_total",
        Kind::Counter,
        "Times a hand-off sink's acknowledgement window was full (backpressure).",
        |c| c.sink_waits,
    ),
    (
        "rebound_control_handoff_unacked",
        Kind::Gauge,
        "SAs taken by the hand-off sinks and not yet acknowledged by their daemons.",
        |c| c.unacked,
    ),
    (
        "rebound_control_abandoned_total",
        Kind::Counter,
        "SAs given up on at a forced shutdown because a sink kept refusing. Must stay 0.",
        |c| c.abandoned,
    ),
    (
        "rebound_control_slow_path_total",
        Kind::Counter,
        "Slow-path datagrams the control plane received.",
        |c| c.slow_path,
    ),
    (
        "rebound_control_slow_replies_dropped_total",
        Kind::Counter,
        "Slow-path answers a worker's queue did not take (the peer retransmits).",
        |c| c.replies_dropped,
    ),
    (
        "rebound_control_deleted_total",
        Kind::Counter,
        "IKE SAs deleted by their peer (INFORMATIONAL with a Delete payload).",
        |c| c.deleted,
    ),
    (
        "rebound_control_adopt_failed_total",
        Kind::Counter,
        "Resumed SAs handed off but not taken into the slow path's table (SPIr taken); their later exchanges go unanswered. Should stay 0.",
        |c| c.adopt_failed,
    ),
    (
        "rebound_control_abandoned_deletes_total",
        Kind::Counter,
        "Deletes no hand-off sink took before shutdown. Should stay 0.",
        |c| c.abandoned_deletes,
    ),
    (
        "rebound_control_full_half_open",
        Kind::Gauge,
        "Full exchanges between IKE_SA_INIT and IKE_AUTH.",
        |c| c.half_open,
    ),
    (
        "rebound_control_handoff_queue_depth",
        Kind::Gauge,
        "SAs waiting in the hand-off queue from the workers to the control plane.",
        |c| c.queue_depth,
    ),
];

/// HELP texts of the responder's counters (from their documentation); the
/// `Nack*` counters are one metric, [`NACKS`].
const COUNTER_HELP: &[(Counter, &str)] = &[
    (
        Counter::NotResumption,
        "Datagrams that were neither IKE_SESSION_RESUME with SPIr zero nor IKE_AUTH with SPIr set, dropped by the responder.",
    ),
    (
        Counter::ResumeRequests,
        "IKE_SESSION_RESUME requests received (any outcome).",
    ),
    (
        Counter::ResumeAccepted,
        "IKE_SESSION_RESUME requests answered with Nr (a half-open SA was created).",
    ),
    (
        Counter::ResumeRetransmits,
        "Retransmitted IKE_SESSION_RESUME requests answered from the half-open SA.",
    ),
    (
        Counter::ResumeSpiConflict,
        "Requests with the SPIi and peer of a half-open SA but different bytes, dropped.",
    ),
    (
        Counter::ResumeDraining,
        "New IKE_SESSION_RESUME requests dropped while the gateway drains (SIGTERM); retransmissions are still answered.",
    ),
    (
        Counter::ResumeBadHeader,
        "IKE_SESSION_RESUME requests whose header checks failed (RFC 5723 section 4.3.2), dropped.",
    ),
    (
        Counter::ResumeMalformed,
        "Malformed IKE_SESSION_RESUME requests answered with an error notify.",
    ),
    (
        Counter::ResumeTooLong,
        "Requests longer than responder.max_request_len, dropped.",
    ),
    (
        Counter::HalfOpenFull,
        "Requests dropped because the half-open table was full.",
    ),
    (
        Counter::HalfOpenExpired,
        "Half-open SAs that expired before their IKE_AUTH.",
    ),
    (
        Counter::CookiesSent,
        "N(COOKIE) answers sent (no state kept).",
    ),
    (
        Counter::CookiesValid,
        "Requests with a valid cookie while cookies were required.",
    ),
    (
        Counter::CookiesInvalid,
        "Requests with a wrong or stale cookie while cookies were required (answered with a fresh cookie).",
    ),
    (
        Counter::AuthRequests,
        "IKE_AUTH requests for a half-open SA of this worker.",
    ),
    (
        Counter::AuthUnknownSpi,
        "IKE_AUTH requests for an SPIr this worker does not know, dropped.",
    ),
    (
        Counter::AuthBadHeader,
        "IKE_AUTH requests with a bad header (message id, flags, SPIi), dropped.",
    ),
    (
        Counter::AuthIntegrityFailed,
        "IKE_AUTH requests whose SK payload failed the integrity check, dropped.",
    ),
    (
        Counter::AuthRetransmits,
        "Retransmitted IKE_AUTH requests answered from the cache.",
    ),
    (
        Counter::AuthCacheEvicted,
        "Cached IKE_AUTH answers dropped to stay within responder.completed_cache_limit.",
    ),
    (
        Counter::AuthConflict,
        "IKE_AUTH requests with other bytes after the exchange completed, dropped.",
    ),
    (
        Counter::AuthMalformed,
        "IKE_AUTH requests with malformed inner payloads (INVALID_SYNTAX).",
    ),
    (
        Counter::AuthIdMismatch,
        "IKE_AUTH requests whose IDi or IDr differs from the ticket's (AUTHENTICATION_FAILED).",
    ),
    (
        Counter::AuthCertPresent,
        "IKE_AUTH requests with a CERT payload (RFC 5723 section 4.3.3; AUTHENTICATION_FAILED).",
    ),
    (
        Counter::AuthBadMethod,
        "IKE_AUTH requests with an AUTH method other than Shared Key MIC (AUTHENTICATION_FAILED).",
    ),
    (
        Counter::AuthFailed,
        "IKE_AUTH requests whose AUTH did not verify (AUTHENTICATION_FAILED).",
    ),
    (
        Counter::AuthFormRfc,
        "Resumptions completed with the RFC 7296 section 2.15 AUTH octets.",
    ),
    (
        Counter::AuthFormMessageOnly,
        "Resumptions completed with libreswan's message-only AUTH.",
    ),
    (Counter::Established, "IKE SAs resumed and handed off."),
    (
        Counter::ChildNoProposal,
        "Child SAs refused with NO_PROPOSAL_CHOSEN.",
    ),
    (
        Counter::ChildTsUnacceptable,
        "Child SAs refused with TS_UNACCEPTABLE.",
    ),
    (
        Counter::ChildAddressFailure,
        "Child SAs refused with INTERNAL_ADDRESS_FAILURE.",
    ),
    (
        Counter::AddressReassigned,
        "Internal addresses assigned again (the ticket's own address).",
    ),
    (
        Counter::AddressNew,
        "Internal addresses assigned that differ from the ticket's.",
    ),
    (
        Counter::TicketsIssued,
        "New tickets issued (N(TICKET_LT_OPAQUE)).",
    ),
    (
        Counter::TicketsAcked,
        "TICKET_REQUEST answered with TICKET_ACK (the ticket would not fit).",
    ),
    (
        Counter::TicketsRefused,
        "TICKET_REQUEST answered with TICKET_NACK by policy or failure.",
    ),
];

/// The HELP a responder counter gets when [`COUNTER_HELP`] lacks it.
const MISSING_HELP: &str = "Responder counter (undocumented).";

/// The one metric all `nack_*` counters share.
const NACKS: &str = "rebound_ticket_nacks_total";
const NACK_PREFIX: &str = "nack_";

/// Render `stats` in the Prometheus text exposition format 0.0.4. Each
/// metric appears once, with its HELP and TYPE lines before all of its
/// samples.
pub fn render(stats: &GatewayStats) -> String {
    let mut out = String::with_capacity(16 * 1024);
    family(
        &mut out,
        "rebound_build_info",
        Kind::Gauge,
        "The running Rebound version (always 1).",
    );
    let _ = writeln!(
        out,
        "rebound_build_info{{version=\"{}\"}} 1",
        escape_label(env!("CARGO_PKG_VERSION"))
    );

    for &(name, kind, help, value) in WORKER_METRICS {
        family(&mut out, name, kind, help);
        for w in &stats.workers {
            sample(&mut out, name, &[("worker", &w.id.to_string())], value(w));
        }
    }

    for &c in Counter::ALL {
        let label = c.label();
        if label.starts_with(NACK_PREFIX) {
            continue;
        }
        let name = format!("rebound_{label}_total");
        let help = COUNTER_HELP
            .iter()
            .find(|(k, _)| *k == c)
            .map_or(MISSING_HELP, |(_, h)| h);
        family(&mut out, &name, Kind::Counter, help);
        for w in &stats.workers {
            let worker = w.id.to_string();
            sample(&mut out, &name, &[("worker", &worker)], w.responder.get(c));
        }
    }

    family(
        &mut out,
        NACKS,
        Kind::Counter,
        "TICKET_NACK answers by reason: the ticket did not open (malformed, unknown_version, too_long, unknown_key, bad_tag, expired, revoked, reused, not_found), re-authentication is due, or another resumption claimed the ticket first.",
    );
    for w in &stats.workers {
        let worker = w.id.to_string();
        for (c, n) in w.responder.iter() {
            if let Some(reason) = c.label().strip_prefix(NACK_PREFIX) {
                sample(
                    &mut out,
                    NACKS,
                    &[("worker", &worker), ("reason", reason)],
                    n,
                );
            }
        }
    }

    let malformed = "rebound_malformed_total";
    family(
        &mut out,
        malformed,
        Kind::Counter,
        "Malformed messages by codec reason.",
    );
    for w in &stats.workers {
        let worker = w.id.to_string();
        for &(reason, n) in w.responder.malformed() {
            sample(
                &mut out,
                malformed,
                &[("worker", &worker), ("reason", reason)],
                n,
            );
        }
    }

    for &(name, kind, help, value) in CONTROL_METRICS {
        family(&mut out, name, kind, help);
        sample(&mut out, name, &[], value(&stats.control));
    }

    // The slow path: one metric, the outcome as a label (the labels are
    // SlowPathCounter's, documented in docs/OPERATIONS.md).
    let slow = "rebound_full_exchange_events_total";
    family(
        &mut out,
        slow,
        Kind::Counter,
        "Slow-path outcomes (full IKE_SA_INIT/IKE_AUTH, INFORMATIONAL, CREATE_CHILD_SA) by event.",
    );
    for (c, n) in stats.control.slow_path_counters.iter() {
        sample(&mut out, slow, &[("event", c.label())], n);
    }
    out
}

fn family(out: &mut String, name: &str, kind: Kind, help: &str) {
    let _ = writeln!(out, "# HELP {name} {}", escape_help(help));
    let _ = writeln!(out, "# TYPE {name} {}", kind.as_str());
}

fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: u64) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (k, v)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{k}=\"{}\"", escape_label(v));
        }
        out.push('}');
    }
    let _ = writeln!(out, " {value}");
}

/// HELP text: backslash and line feed escaped.
fn escape_help(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\n', "\\n")
}

/// Label value: backslash, double quote and line feed escaped.
fn escape_label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// What the metrics endpoint renders on each request.
pub type MetricsSource = Arc<dyn Fn() -> String + Send + Sync>;

/// A minimal HTTP/1.x server for `GET /metrics`, on one thread: one request
/// per connection, answered and closed. A client has
/// [`REQUEST_DEADLINE`] (2 s) to send a request head of at most
/// [`MAX_REQUEST_HEAD`] bytes, so a slow or hostile client holds the
/// thread for no longer than that. Stops (and joins its thread) on drop.
pub struct MetricsServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl MetricsServer {
    /// Bind `addr` and serve `source()`'s text at `/metrics`.
    pub fn start(addr: SocketAddr, source: MetricsSource) -> io::Result<MetricsServer> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("rebound-metrics".into())
            .spawn(move || serve(&listener, &flag, &*source))?;
        Ok(MetricsServer {
            addr,
            stop,
            thread: Some(thread),
        })
    }

    /// The address bound (port 0 resolved).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        // Unblock `accept` with a connection of our own.
        let ip = match self.addr.ip() {
            IpAddr::V4(a) if a.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(a) if a.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        let woke =
            TcpStream::connect_timeout(&SocketAddr::new(ip, self.addr.port()), WRITE_TIMEOUT);
        match (woke, self.thread.take()) {
            (Ok(_), Some(t)) => {
                let _ = t.join();
            }
            // The thread stays blocked in accept until some client
            // connects; joining it would hang this drop.
            (Err(e), Some(_)) => {
                tracing::warn!(
                    "metrics server on {}: could not wake it to stop: {e}",
                    self.addr
                )
            }
            (_, None) => {}
        }
    }
}

fn serve(listener: &TcpListener, stop: &AtomicBool, source: &(dyn Fn() -> String + Send + Sync)) {
    for conn in listener.incoming() {
        if stop.load(Ordering::Acquire) {
            return;
        }
        match conn {
            Ok(stream) => {
                if let Err(e) = handle(stream, source) {
                    tracing::debug!("metrics request: {e}");
                }
            }
            Err(e) => {
                tracing::debug!("metrics accept: {e}");
                // E.g. out of file descriptors: do not spin.
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

/// Read the request head within the deadline; `Err(status)` when it is too
/// long or incomplete.
fn read_head(stream: &mut TcpStream) -> io::Result<Result<Vec<u8>, u16>> {
    let deadline = Instant::now() + REQUEST_DEADLINE;
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    loop {
        if let Some(end) = find_head_end(&head) {
            head.truncate(end);
            return Ok(Ok(head));
        }
        if head.len() > MAX_REQUEST_HEAD {
            return Ok(Err(431));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(Err(408));
        }
        stream.set_read_timeout(Some(left))?;
        match stream.read(&mut buf) {
            Ok(0) => return Ok(Err(400)),
            Ok(n) => head.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Ok(Err(408));
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// The end of the head (`\r\n\r\n` or a bare `\n\n`), if it has arrived.
fn find_head_end(b: &[u8]) -> Option<usize> {
    let crlf = b.windows(4).position(|w| w == b"\r\n\r\n");
    let lf = b.windows(2).position(|w| w == b"\n\n");
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn handle(mut stream: TcpStream, source: &(dyn Fn() -> String + Send + Sync)) -> io::Result<()> {
    stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
    let (status, body, head_only) = match read_head(&mut stream)? {
        Err(status) => (status, String::new(), false),
        Ok(head) => route(&head, source),
    };
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        431 => "Request Header Fields Too Large",
        _ => "Internal Server Error",
    };
    let content_type = if status == 200 {
        CONTENT_TYPE
    } else {
        "text/plain; charset=utf-8"
    };
    let body = if status == 200 || !body.is_empty() {
        body
    } else {
        format!("{reason}\n")
    };
    let mut response = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    if status == 405 {
        response.push_str("Allow: GET, HEAD\r\n");
    }
    response.push_str("\r\n");
    if !head_only {
        response.push_str(&body);
    }
    stream.write_all(response.as_bytes())?;
    // Close gracefully: a close with unread request bytes (a POST body)
    // would reset the connection and could lose the answer.
    stream.shutdown(std::net::Shutdown::Write)?;
    stream.set_read_timeout(Some(Duration::from_millis(200)))?;
    let mut sink = [0u8; 1024];
    let mut drained = 0;
    while drained < 64 * 1024 {
        match stream.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(n) => drained += n,
        }
    }
    Ok(())
}

/// Status, body and whether to leave the body out (HEAD).
fn route(head: &[u8], source: &(dyn Fn() -> String + Send + Sync)) -> (u16, String, bool) {
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let Ok(line) = std::str::from_utf8(line) else {
        return (400, String::new(), false);
    };
    let mut parts = line.trim_end_matches('\r').split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return (400, String::new(), false);
    };
    if !version.starts_with("HTTP/1.") {
        return (400, String::new(), false);
    }
    let path = target.split('?').next().unwrap_or_default();
    if path != "/metrics" {
        return (404, String::new(), false);
    }
    let head_only = match method {
        "GET" => false,
        "HEAD" => true,
        _ => return (405, String::new(), false),
    };
    match catch_unwind(AssertUnwindSafe(source)) {
        Ok(body) => (200, body, head_only),
        Err(_) => (500, String::new(), false),
    }
}
