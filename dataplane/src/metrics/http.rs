//! The HTTP side of the metrics endpoint: [`MetricsServer`] serves a
//! [`MetricsSource`]'s text at `GET /metrics` with `hyper`'s HTTP/1 server
//! on a current-thread tokio runtime in a thread of its own.
//!
//! Bounds, so that no client (slow, idle or hostile) can stall a scrape or
//! hold resources without limit:
//!
//! - connections are served concurrently, at most [`MAX_CONNECTIONS`] at
//!   once; past that the server stops accepting (the kernel's backlog
//!   holds the rest) until one ends;
//! - a client has [`HEADER_READ_TIMEOUT`] from the moment it is accepted to
//!   send its whole request head (a client that connects and sends nothing
//!   is closed then too), and the head is at most [`MAX_REQUEST_HEAD`]
//!   bytes (431 past that);
//! - one request per connection (no keep-alive), and the whole connection,
//!   answer written included, ends after [`CONNECTION_TIMEOUT`] at the
//!   latest;
//! - a request body is never read.
//!
//! Why `hyper` rather than `tiny_http` or the former hand-written loop is
//! in `docs/ARCHITECTURE.md` ("Dependencies and why").

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, oneshot};

use super::CONTENT_TYPE;

/// The longest request head (request line and headers) the server reads.
pub const MAX_REQUEST_HEAD: usize = 8 * 1024;

/// How long a client may take, from its connection being accepted, to send
/// its request head.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// The longest a connection lives, answer included.
pub const CONNECTION_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 256;

/// hyper's read and write buffer limit per connection (its minimum is
/// 8 KiB); the head limit is [`MAX_REQUEST_HEAD`].
const MAX_BUFFER: usize = 16 * 1024;

/// What the metrics endpoint renders on each request.
pub type MetricsSource = Arc<dyn Fn() -> String + Send + Sync>;

/// The HTTP/1.x server for `GET /metrics` (and `HEAD`); other paths get
/// 404, other methods 405, a malformed request 400. Stops on drop: the
/// listener and every open connection are closed and the thread joined.
pub struct MetricsServer {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl MetricsServer {
    /// Bind `addr` and serve `source()`'s text at `/metrics`.
    pub fn start(addr: SocketAddr, source: MetricsSource) -> io::Result<MetricsServer> {
        Self::serve(Self::bind(addr)?, source)
    }

    /// Only bind `addr`, so the gateway can bind every port before it gives
    /// up its privileges and serve later ([`MetricsServer::serve`]).
    pub fn bind(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        Ok(listener)
    }

    /// Serve `source()`'s text at `/metrics` on a listener from
    /// [`MetricsServer::bind`].
    pub fn serve(
        listener: std::net::TcpListener,
        source: MetricsSource,
    ) -> io::Result<MetricsServer> {
        let addr = listener.local_addr()?;
        listener.set_nonblocking(true)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()?;
        let listener = {
            let _context = runtime.enter();
            TcpListener::from_std(listener)?
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("rebound-metrics".into())
            .spawn(move || {
                runtime.spawn(accept_loop(listener, source));
                // Runs the accept loop and the connections until `stop` is
                // sent or dropped; dropping the runtime then drops them all.
                let _ = runtime.block_on(stopped);
            })?;
        Ok(MetricsServer {
            addr,
            stop: Some(stop),
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
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn accept_loop(listener: TcpListener, source: MetricsSource) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        // Wait for a free slot before accepting: past the bound, clients
        // wait in the kernel's backlog rather than in our memory.
        let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
            return;
        };
        match listener.accept().await {
            Ok((stream, _)) => {
                let source = Arc::clone(&source);
                tokio::spawn(async move {
                    connection(stream, source).await;
                    drop(slot);
                });
            }
            Err(e) => {
                tracing::debug!("metrics accept: {e}");
                // E.g. out of file descriptors: do not spin.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

async fn connection(stream: TcpStream, source: MetricsSource) {
    let service = service_fn(move |request: Request<hyper::body::Incoming>| {
        let response = respond(&request, &*source);
        async move { Ok::<_, Infallible>(response) }
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_header_size(MAX_REQUEST_HEAD)
        .max_buf_size(MAX_BUFFER)
        .keep_alive(false)
        .serve_connection(TokioIo::new(stream), service);
    match tokio::time::timeout(CONNECTION_TIMEOUT, conn).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::debug!("metrics connection: {e}"),
        Err(_) => tracing::debug!("metrics connection: closed after {CONNECTION_TIMEOUT:?}"),
    }
}

/// The answer to one request. A panicking source gets 500 and the server
/// goes on.
fn respond<B>(
    request: &Request<B>,
    source: &(dyn Fn() -> String + Send + Sync),
) -> Response<Full<Bytes>> {
    if request.uri().path() != "/metrics" {
        return plain(StatusCode::NOT_FOUND);
    }
    // HEAD gets GET's headers, Content-Length included; hyper leaves the
    // body out.
    if !matches!(*request.method(), Method::GET | Method::HEAD) {
        let mut response = plain(StatusCode::METHOD_NOT_ALLOWED);
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    match catch_unwind(AssertUnwindSafe(source)) {
        Ok(text) => {
            let mut response = Response::new(Full::new(Bytes::from(text)));
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
            response
        }
        Err(_) => plain(StatusCode::INTERNAL_SERVER_ERROR),
    }
}

/// A status with its reason phrase as a short text body.
fn plain(status: StatusCode) -> Response<Full<Bytes>> {
    let reason = status.canonical_reason().unwrap_or("");
    let mut response = Response::new(Full::new(Bytes::from(format!("{reason}\n"))));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
