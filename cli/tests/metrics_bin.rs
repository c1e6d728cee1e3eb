//! The metrics endpoint of the real `rebound gateway` under idle and slow
//! clients: a scrape is answered while 50 connections sit idle and a few
//! more hang after half a request line, the server closes those hangers-on
//! itself, and the gateway still stops cleanly on SIGTERM with connections
//! open.

mod common;
use common::{GatewayProcess, TempDir, metric_sum};
use rebound_dataplane::metrics::{CONTENT_TYPE, HEADER_READ_TIMEOUT};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// How long a test client waits for an answer: generous so it cannot
/// flake on a loaded machine, far below the tens of seconds a scrape took
/// when the endpoint served one connection at a time.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);

/// `GET /metrics` with a read timeout of [`CLIENT_TIMEOUT`]: the head and
/// the body of a 200 answer.
fn scrape(addr: SocketAddr) -> (String, String) {
    let mut s = TcpStream::connect(addr).expect("metrics endpoint");
    s.set_read_timeout(Some(CLIENT_TIMEOUT)).unwrap();
    s.set_write_timeout(Some(CLIENT_TIMEOUT)).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("request");
    let mut raw = String::new();
    s.read_to_string(&mut raw)
        .expect("the whole answer within the client's read timeout");
    let (head, body) = raw.split_once("\r\n\r\n").expect("head and body");
    assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
    (head.to_string(), body.to_string())
}

/// Wait until the server closes `s`: end of stream (or a reset), never an
/// answer.
fn closed_by_server(s: &mut TcpStream, within: Duration) {
    s.set_read_timeout(Some(within)).unwrap();
    let mut got = Vec::new();
    match s.read_to_end(&mut got) {
        Ok(_) => assert!(got.is_empty(), "unexpected answer {got:?}"),
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        Err(e) => panic!("the connection stayed open ({e})"),
    }
}

#[test]
fn a_scrape_is_answered_while_idle_and_slow_clients_hold_connections() {
    let dir = TempDir::new("metricsbin");
    let gw = GatewayProcess::start(&dir.0, &[]);
    let addr = gw.metrics;

    // 50 connections that send nothing, 5 that send half a request line.
    let mut idle: Vec<TcpStream> = (0..50)
        .map(|_| TcpStream::connect(addr).expect("idle connection"))
        .collect();
    let mut slow: Vec<TcpStream> = (0..5)
        .map(|_| {
            let mut s = TcpStream::connect(addr).expect("slow connection");
            s.write_all(b"GET /metr").unwrap();
            s
        })
        .collect();

    let (head, body) = scrape(addr);
    assert!(
        head.to_ascii_lowercase()
            .contains(&format!("content-type: {CONTENT_TYPE}")),
        "{head}"
    );
    assert!(body.contains("# TYPE rebound_build_info gauge\n"), "{body}");
    assert_eq!(metric_sum(&body, "rebound_control_sa_table"), 0);
    assert!(body.contains("rebound_rx_datagrams_total{worker=\"0\"}"));

    // The server closes every one of them once its header read timeout
    // has passed (the bound here is four times that timeout).
    for s in idle.iter_mut().chain(slow.iter_mut()) {
        closed_by_server(s, HEADER_READ_TIMEOUT * 4);
    }
    drop((idle, slow));
    scrape(addr);

    // Connections still open do not keep the gateway from stopping.
    let _open: Vec<TcpStream> = (0..10)
        .map(|_| TcpStream::connect(addr).expect("connection"))
        .collect();
    gw.stop();
}
