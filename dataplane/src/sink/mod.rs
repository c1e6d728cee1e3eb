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
//! Besides the SAs, the sinks get the SA events ([`SaChange`]: an IKE
//! SA deleted, a child SA created, rekeyed or deleted) in the same ordered
//! stream, each after the lines of the SAs it names.
//!
//! Nothing is ever dropped: while a sink refuses, the control plane stops
//! taking SAs from the workers, and the workers hold theirs
//! (backpressure).

use std::fs::File;
use std::io::{self, BufWriter};
use std::path::Path;
use std::time::Instant;

use rebound_engine::handoff::{EstablishedSa, SaChange};
use rebound_engine::keylog::KeyLogWriter;

mod line;
#[cfg(test)]
pub(crate) use line::tests as fixtures;
pub mod unix;

pub use line::{event_line, handoff_line};
pub use unix::UnixJsonSink;

/// A destination for established SAs.
pub trait HandoffSink: Send {
    /// For logs and errors.
    fn name(&self) -> &str;

    /// Take a batch of SAs. `Ok`: the sink has them and will deliver them
    /// (it may still be waiting for an acknowledgement). `Err`: the caller
    /// retries the same batch. The Unix sink took none of it; the key log,
    /// a file written line by line, may have written some lines before a
    /// write failed and writes them again (at least once).
    // The SAs travel boxed through the channels; the batch keeps the boxes.
    #[allow(clippy::vec_box)]
    fn deliver(&mut self, batch: &[Box<EstablishedSa>]) -> io::Result<()>;

    /// Take SA events, in order, after every batch that held the SAs they
    /// name. `Ok`: the sink has them all (as for [`HandoffSink::deliver`]);
    /// `Err`: the caller retries the same events (the Unix sink took none;
    /// the key log may repeat lines, as for `deliver`).
    /// Sinks that keep no SA state ignore them.
    fn deliver_events(&mut self, _events: &[SaChange]) -> io::Result<()> {
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

    /// A child SA's new keys, as its event line without `seq`
    /// (`{"child_created":{...}}`, `{"child_rekeyed":{...}}`), in the JSON
    /// key log only: Wireshark's IKEv2 decryption table holds IKE SAs.
    /// Deletes carry no keys and are not logged.
    fn deliver_events(&mut self, events: &[SaChange]) -> io::Result<()> {
        for e in events {
            match e {
                SaChange::ChildCreated { .. } | SaChange::ChildRekeyed { .. } => {
                    self.writer.log_json_line(&event_line(e))?;
                }
                SaChange::Deleted { .. } | SaChange::ChildDeleted { .. } => {}
            }
        }
        self.writer.flush()
    }

    fn flush(&mut self, _deadline: Instant) -> io::Result<()> {
        self.writer.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::line::tests::{other_child, v4};
    use super::*;
    use rebound_engine::handoff::ChildSpis;
    use rebound_engine::keylog::KeyLogEntry;

    /// The key log gets each new child SA's keys as its event line (JSON
    /// only); deletes carry no keys and leave no line.
    #[test]
    fn key_log_gets_the_new_child_keys() {
        let dir = std::env::temp_dir().join(format!("rebound-keylog-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let (json, ws) = (dir.join("keys.jsonl"), dir.join("ikev2_decryption_table"));
        let mut sink = KeyLogSink::open(&json, Some(&ws)).unwrap();
        let sa = v4();
        let ike = (sa.spi_i, sa.spi_r);
        let old = sa.child.as_ref().unwrap();
        let old = ChildSpis {
            spi_i: old.spi_i,
            spi_r: old.spi_r,
        };
        let events = [
            SaChange::ChildCreated {
                ike,
                child: other_child(&sa, 0xc1),
            },
            SaChange::ChildRekeyed {
                ike,
                old,
                child: other_child(&sa, 0xc2),
            },
            SaChange::ChildDeleted {
                ike,
                children: vec![old],
            },
            SaChange::Deleted {
                spi_i: sa.spi_i,
                spi_r: sa.spi_r,
            },
        ];
        sink.deliver(std::slice::from_ref(&sa)).unwrap();
        sink.deliver_events(&events).unwrap();
        sink.flush(Instant::now()).unwrap();
        let text = std::fs::read_to_string(&json).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert_eq!(lines[0], KeyLogEntry::from_sa(&sa).json());
        assert_eq!(lines[1], &*event_line(&events[0]));
        assert_eq!(lines[2], &*event_line(&events[1]));
        let v: serde_json::Value = serde_json::from_str(lines[2]).unwrap();
        let rekeyed = other_child(&sa, 0xc2);
        assert_eq!(
            v["child_rekeyed"]["child"]["encr_r2i"],
            serde_json::Value::from(hex::encode(rekeyed.keys.encr_r2i.as_bytes()))
        );
        // Wireshark's IKEv2 table holds the IKE SA only.
        let table = std::fs::read_to_string(&ws).unwrap();
        assert_eq!(table.lines().count(), 1, "{table}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
