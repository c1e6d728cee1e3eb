//! The HTTP side of the metrics endpoint: [`MetricsServer`] serves a
//! [`MetricsSource`]'s text at `GET /metrics`.

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::CONTENT_TYPE;

/// The longest request head (request line and headers) the server reads.
pub const MAX_REQUEST_HEAD: usize = 8 * 1024;

/// How long a client may take to send its request head.
const REQUEST_DEADLINE: Duration = Duration::from_secs(2);
/// How long writing the answer may block.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

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
