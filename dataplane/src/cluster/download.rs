//! A standby's download of other gateways' stubs (draft-xu-ike-sa-sync
//! "Download Stub"): at start and every `download_interval_secs`, every
//! live stub listed under each gateway of `standby_for` is read, opened
//! under the shared ticket keys and kept in this gateway's own store, so
//! that it resumes those clients even while Redis is away (policy
//! `local`). The claim is still made in Redis when Redis is there.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rebound_engine::ticket::TicketId;
use rebound_engine::ticket::format::{OpenContext, open};
use rebound_engine::ticket::keyring::KeyRingCell;
use redis::Value;

use super::conn::{Conn, Credentials};
use super::io::ClusterStats;
use super::keys::Keys;
use super::settings::ClusterSettings;
use super::store::ClusterStore;

pub struct Downloader {
    pub settings: ClusterSettings,
    pub creds: Credentials,
    pub ring: Arc<KeyRingCell>,
    pub store: Option<Arc<ClusterStore>>,
    pub stop: Arc<AtomicBool>,
    pub stats: Arc<ClusterStats>,
}

/// What one download found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Downloaded {
    /// Ids listed under the gateways.
    pub listed: usize,
    /// Stubs kept in this gateway's store.
    pub kept: usize,
    /// Listed ids whose stub was gone (taken, used or expired).
    pub gone: usize,
    /// Stubs that did not open under the ticket keys.
    pub refused: usize,
}

impl Downloader {
    pub fn run(self) {
        let every = Duration::from_secs(self.settings.download_interval_secs);
        let mut next = Instant::now();
        while !self.stop.load(Ordering::Acquire) {
            if Instant::now() >= next {
                match self.once() {
                    Ok(d) => tracing::info!(
                        from = ?self.settings.standby_for,
                        listed = d.listed,
                        kept = d.kept,
                        gone = d.gone,
                        refused = d.refused,
                        "cluster: stubs downloaded"
                    ),
                    Err(e) => {
                        self.stats
                            .errors
                            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        tracing::warn!("cluster: stub download failed: {e}");
                    }
                }
                next = Instant::now() + every;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// One download of every gateway's stubs.
    pub fn once(&self) -> Result<Downloaded, String> {
        let Some(store) = &self.store else {
            return Ok(Downloaded::default());
        };
        let mut con = Conn::connect(&self.settings, &self.creds).map_err(|e| e.to_string())?;
        let keys = Keys::new(&self.settings.key_prefix);
        let now = crate::runtime::now().secs();
        let mut d = Downloaded::default();
        for gw in &self.settings.standby_for {
            let list = keys.stubs_of(gw);
            let mut trim = redis::cmd("ZREMRANGEBYSCORE");
            trim.arg(&list).arg("-inf").arg(now);
            let mut range = redis::cmd("ZRANGEBYSCORE");
            range.arg(&list).arg(format!("({now}")).arg("+inf");
            let v = con.run(vec![trim, range]).map_err(|e| e.to_string())?;
            let ids: Vec<TicketId> = match v.get(1) {
                Some(Value::Array(a)) => a
                    .iter()
                    .filter_map(|m| match m {
                        Value::BulkString(b) => hex::decode(b).ok(),
                        _ => None,
                    })
                    .filter_map(|b| <[u8; 16]>::try_from(b.as_slice()).ok().map(TicketId))
                    .collect(),
                _ => return Err(format!("unexpected reply for {list}")),
            };
            d.listed += ids.len();
            for chunk in ids.chunks(256) {
                let cmds = chunk
                    .iter()
                    .map(|id| {
                        let mut c = redis::cmd("GET");
                        c.arg(keys.stub(id));
                        c
                    })
                    .collect();
                let vals = con.run(cmds).map_err(|e| e.to_string())?;
                let ring = self.ring.load();
                let ctx = OpenContext::default();
                for (id, v) in chunk.iter().zip(vals) {
                    let Value::BulkString(bytes) = v else {
                        d.gone += 1;
                        continue;
                    };
                    match open(&bytes, &ring, &ctx, now) {
                        Ok(state) if state.ticket_id == *id => {
                            if store.put_local(id, &state, now).is_ok() {
                                d.kept += 1;
                            }
                        }
                        _ => d.refused += 1,
                    }
                }
            }
        }
        Ok(d)
    }
}
