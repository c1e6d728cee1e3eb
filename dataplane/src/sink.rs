//! Hand-off sinks: where the control plane passes every established SA.
//!
//! - [`UnixJsonSink`]: one JSON object per line on a stream Unix socket
//!   that an external daemon listens on (`--handoff unix:PATH`). The
//!   gateway connects (and reconnects) as the client.
//! - [`KeyLogSink`]: the engine's key log (JSON lines, and optionally
//!   Wireshark's decryption table), for test beds.
//!
//! Delivery is at least once: the control plane hands a sink a batch of
//! lines and retries the whole batch, on a new connection, until the sink
//! takes it. A daemon that saw part of a batch before the connection broke
//! sees those SAs again, so it keys them by `spi_i` + `spi_r`. Nothing is
//! ever dropped: while a sink refuses, the control plane stops taking SAs
//! from the workers, and the workers hold theirs (backpressure).

use core::fmt::Write as _;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rebound_engine::handoff::EstablishedSa;
use rebound_engine::keylog::{KeyLogEntry, KeyLogWriter};
use zeroize::Zeroizing;

/// A destination for established SAs.
pub trait HandoffSink: Send {
    /// For logs and errors.
    fn name(&self) -> &str;

    /// Take a batch of SAs. On error nothing may be assumed delivered: the
    /// caller retries the same batch.
    fn deliver(&mut self, batch: &[Box<EstablishedSa>]) -> io::Result<()>;
}

/// The hand-off line of one SA: the key log's object (SPIs, nonces,
/// transform ids, every SK_* key, `resumed_from`) under `"ike"`, plus what
/// a daemon needs to install the SA:
///
/// ```text
/// {"ike":{...},"peer":"ip:port","local":"ip:port",
///  "nat":{"peer_behind_nat":b,"local_behind_nat":b},
///  "id_i":{"type":n,"data":"<hex>"},"id_r":{...},"auth_method":n,"dh_group":n,
///  "worker":n,"established_at_ms":n,"reauth_deadline":n,
///  "internal_addr":"ip"|null,"new_ticket":"<hex>"|null,
///  "child":{"spi_i":"<hex>","spi_r":"<hex>","encr":n,"encr_key_bits":n,
///           "integ":n|null,"esn":b,"encr_i2r":"<hex>","integ_i2r":"<hex>",
///           "encr_r2i":"<hex>","integ_r2i":"<hex>",
///           "ts_i":[{"proto":n,"ports":[a,b],"start":"ip","end":"ip"}],
///           "ts_r":[...]}|null}
/// ```
///
/// The string holds keys; it is wiped when dropped.
pub fn handoff_line(sa: &EstablishedSa) -> Zeroizing<String> {
    let ike = Zeroizing::new(KeyLogEntry::from_sa(sa).json());
    let mut s = Zeroizing::new(String::with_capacity(ike.len() + 1024));
    // Writing to a String cannot fail.
    let _ = write!(
        s,
        r#"{{"ike":{},"peer":"{}","local":"{}","nat":{{"peer_behind_nat":{},"local_behind_nat":{}}}"#,
        &*ike, sa.peer, sa.local, sa.nat.peer_behind_nat, sa.nat.local_behind_nat
    );
    for (name, id) in [("id_i", &sa.id_i), ("id_r", &sa.id_r)] {
        let _ = write!(
            s,
            r#","{name}":{{"type":{},"data":"{}"}}"#,
            id.id_type.0,
            hex::encode(id.data())
        );
    }
    let _ = write!(
        s,
        r#","auth_method":{},"dh_group":{},"worker":{},"established_at_ms":{},"reauth_deadline":{}"#,
        sa.auth_method.0,
        sa.dh_group,
        sa.worker,
        sa.established_at.millis(),
        sa.reauth_deadline
    );
    match sa.internal_addr {
        Some(a) => {
            let _ = write!(s, r#","internal_addr":"{a}""#);
        }
        None => s.push_str(r#","internal_addr":null"#),
    }
    match &sa.new_ticket {
        Some(t) => {
            let _ = write!(s, r#","new_ticket":"{}""#, hex::encode(t.as_bytes()));
        }
        None => s.push_str(r#","new_ticket":null"#),
    }
    match &sa.child {
        None => s.push_str(r#","child":null"#),
        Some(c) => {
            let _ = write!(
                s,
                r#","child":{{"spi_i":"{}","spi_r":"{}","encr":{},"encr_key_bits":{},"integ":"#,
                hex::encode(c.spi_i),
                hex::encode(c.spi_r),
                c.encr.id(),
                c.encr.key_bits()
            );
            match c.integ {
                Some(i) => {
                    let _ = write!(s, "{}", i.id());
                }
                None => s.push_str("null"),
            }
            let _ = write!(s, r#","esn":{}"#, c.esn);
            for (name, key) in [
                ("encr_i2r", &c.keys.encr_i2r),
                ("integ_i2r", &c.keys.integ_i2r),
                ("encr_r2i", &c.keys.encr_r2i),
                ("integ_r2i", &c.keys.integ_r2i),
            ] {
                let _ = write!(s, r#","{name}":""#);
                for b in key.as_bytes() {
                    let _ = write!(s, "{b:02x}");
                }
                s.push('"');
            }
            for (name, list) in [("ts_i", &c.ts_i), ("ts_r", &c.ts_r)] {
                let _ = write!(s, r#","{name}":["#);
                for (i, t) in list.iter().enumerate() {
                    if i > 0 {
                        s.push(',');
                    }
                    let _ = write!(
                        s,
                        r#"{{"proto":{},"ports":[{},{}],"start":"{}","end":"{}"}}"#,
                        t.ip_proto, t.start_port, t.end_port, t.start, t.end
                    );
                }
                s.push(']');
            }
            s.push('}');
        }
    }
    s.push('}');
    s
}

/// JSON lines on a stream Unix socket.
pub struct UnixJsonSink {
    path: PathBuf,
    name: String,
    conn: Option<UnixStream>,
    /// The batch being written, reused.
    buf: Zeroizing<Vec<u8>>,
    write_timeout: Duration,
}

impl UnixJsonSink {
    /// A sink that connects to `path` when it first delivers.
    pub fn new(path: &Path) -> Self {
        UnixJsonSink {
            path: path.to_path_buf(),
            name: format!("unix:{}", path.display()),
            conn: None,
            buf: Zeroizing::new(Vec::new()),
            write_timeout: Duration::from_secs(5),
        }
    }

    fn connect(&mut self) -> io::Result<&mut UnixStream> {
        if self.conn.is_none() {
            let c = UnixStream::connect(&self.path).map_err(|e| {
                io::Error::new(e.kind(), format!("connect {}: {e}", self.path.display()))
            })?;
            c.set_write_timeout(Some(self.write_timeout))?;
            self.conn = Some(c);
        }
        Ok(self.conn.as_mut().expect("connected above"))
    }
}

impl HandoffSink for UnixJsonSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn deliver(&mut self, batch: &[Box<EstablishedSa>]) -> io::Result<()> {
        self.buf.clear();
        for sa in batch {
            self.buf.extend_from_slice(handoff_line(sa).as_bytes());
            self.buf.push(b'\n');
        }
        let buf = std::mem::take(&mut *self.buf);
        let result = self.connect().and_then(|c| c.write_all(&buf));
        *self.buf = buf;
        if result.is_err() {
            // The daemon may have read part of the batch; the retry resends
            // all of it on a new connection (at least once).
            self.conn = None;
        }
        result
    }
}

/// The key log, as a sink.
pub struct KeyLogSink {
    name: String,
    writer: KeyLogWriter<BufWriter<File>, BufWriter<File>>,
}

impl KeyLogSink {
    /// Append to `json` (and `wireshark`), creating them (mode 0600: they
    /// hold keys).
    pub fn open(json: &Path, wireshark: Option<&Path>) -> io::Result<Self> {
        let open = |p: &Path| -> io::Result<BufWriter<File>> {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(p)
                .map(BufWriter::new)
                .map_err(|e| io::Error::new(e.kind(), format!("open {}: {e}", p.display())))
        };
        Ok(KeyLogSink {
            name: format!("keylog:{}", json.display()),
            writer: KeyLogWriter::new(open(json)?, wireshark.map(open).transpose()?),
        })
    }
}

impl HandoffSink for KeyLogSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn deliver(&mut self, batch: &[Box<EstablishedSa>]) -> io::Result<()> {
        for sa in batch {
            self.writer.log(sa)?;
        }
        self.writer.flush()
    }
}
