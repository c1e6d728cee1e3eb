//! Hand-off sinks: where the control plane passes every established SA.
//!
//! - [`UnixJsonSink`]: one JSON object per line ([`handoff_line`]) on a
//!   stream Unix socket that an external daemon listens on
//!   (`--handoff unix:PATH`); the daemon acknowledges what it has taken,
//!   and the sink resends whatever is unacknowledged on a new connection,
//!   so no SA is lost when the daemon restarts (see [`unix`]).
//! - [`KeyLogSink`]: the engine's key log (JSON lines, and optionally
//!   Wireshark's decryption table), for test beds.
//!
//! Nothing is ever dropped: while a sink refuses, the control plane stops
//! taking SAs from the workers, and the workers hold theirs
//! (backpressure).

use std::fs::File;
use std::io::{self, BufWriter};
use std::path::Path;
use std::time::Instant;

use rebound_engine::handoff::EstablishedSa;
use rebound_engine::keylog::KeyLogWriter;

mod line;
pub mod unix;

pub use line::handoff_line;
pub use unix::UnixJsonSink;

/// A destination for established SAs.
pub trait HandoffSink: Send {
    /// For logs and errors.
    fn name(&self) -> &str;

    /// Take a batch of SAs. `Ok`: the sink has them and will deliver them
    /// (it may still be waiting for an acknowledgement). `Err`: it took
    /// none of them; the caller retries the same batch.
    // The SAs travel boxed through the channels; the batch keeps the boxes.
    #[allow(clippy::vec_box)]
    fn deliver(&mut self, batch: &[Box<EstablishedSa>]) -> io::Result<()>;

    /// Take the IKE SAs their peers deleted (SPIi, SPIr), after every
    /// batch that held them. `Ok`: taken; `Err`: none taken, the caller
    /// retries. Sinks that keep no SA state ignore them.
    fn deliver_deleted(&mut self, _deleted: &[([u8; 8], [u8; 8])]) -> io::Result<()> {
        Ok(())
    }

    /// Make progress without waiting (resend, read acknowledgements): the
    /// control plane calls it when idle.
    fn poll(&mut self) {}

    /// Wait until everything taken is delivered, up to `deadline`.
    /// `Err` when it is not (the caller may retry until it gives up).
    fn flush(&mut self, deadline: Instant) -> io::Result<()>;

    /// SAs taken but not yet known to be delivered.
    fn pending(&self) -> usize {
        0
    }

    /// Failures the sink recovered from by itself (connection lost,
    /// refused, timed out), for the metrics.
    fn failures(&self) -> u64 {
        0
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
        // A failure part-way leaves some lines written; the retry writes
        // them again (at least once).
        for sa in batch {
            self.writer.log(sa)?;
        }
        self.writer.flush()
    }

    fn flush(&mut self, _deadline: Instant) -> io::Result<()> {
        self.writer.flush()
    }
}
