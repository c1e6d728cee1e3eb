//! The single-use guard kept across restarts (`[guard] state_file`): a
//! gateway without a shared guard loads its [`MemoryGuard`] from the file
//! at start, saves it from a thread of its own every
//! `guard.save_interval_secs` (when a claim was made since the last save),
//! and once more when it drains, after the workers and the control plane
//! have stopped. A crash loses at most the claims of the last interval
//! (docs/TICKETS.md, "Single use across restarts").
//!
//! A save is atomic: the guard is written to a temporary file in the
//! state file's directory (mode 0600), synced, renamed over the state
//! file, and the directory is synced, so the file is always the last
//! complete save. A failed save is logged and counted
//! (`rebound_guard_save_failures_total`); the gateway runs on.

use std::fs::{File, OpenOptions};
use std::io::{BufReader, BufWriter, ErrorKind};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use rebound_engine::ticket::guard::{GuardConfig, GuardLoadError, MemoryGuard, SaveStats};

use crate::gateway::GatewayError;
use crate::stats::GuardSaveStats;

/// A guard that is saved to a file: the gateway's part for it
/// ([`GatewayParts::guard_state`](crate::parts::GatewayParts::guard_state)).
/// `guard` must be the same guard the workers claim in
/// ([`GatewayParts::guard`](crate::parts::GatewayParts::guard)).
#[derive(Debug)]
pub struct GuardPersistence {
    pub guard: Arc<MemoryGuard>,
    /// The state file.
    pub path: PathBuf,
    /// Time between two saves.
    pub interval: Duration,
    /// What the guard held when it was loaded: [`MemoryGuard::changes`]
    /// then, so that a guard nothing has claimed in since is not written
    /// again. `None` for a fresh guard, which the first interval writes.
    pub loaded_changes: Option<u64>,
}

impl GuardPersistence {
    /// The guard of `config` from the state file at `path`: loaded when
    /// the file exists, fresh (seeded with `seed`) when it does not. A
    /// file that cannot be loaded stops the gateway with an error naming
    /// it; so does a missing file whose directory does not exist (no save
    /// could succeed).
    pub fn open(
        config: GuardConfig,
        seed: [u8; 16],
        path: &Path,
        interval: Duration,
    ) -> Result<GuardPersistence, GatewayError> {
        let started = Instant::now();
        let file = match File::open(path) {
            Ok(f) => Some(f),
            Err(e) if e.kind() == ErrorKind::NotFound => None,
            Err(e) => {
                return Err(GatewayError(format!(
                    "guard state file {}: cannot open: {e}",
                    path.display()
                )));
            }
        };
        let Some(file) = file else {
            let dir = directory_of(path);
            if !dir.is_dir() {
                return Err(GatewayError(format!(
                    "guard state file {}: its directory {} does not exist; create it (owned by \
                     the gateway's user) or set guard.state_file elsewhere",
                    path.display(),
                    dir.display()
                )));
            }
            let guard =
                MemoryGuard::new(config, seed).map_err(|e| GatewayError(format!("guard: {e}")))?;
            tracing::info!(
                path = %path.display(),
                "no guard state file: starting with an empty single-use guard (first start, or the file was moved away)"
            );
            return Ok(GuardPersistence {
                guard: Arc::new(guard),
                path: path.to_path_buf(),
                interval,
                loaded_changes: None,
            });
        };
        let is_file = file.metadata().map(|m| m.is_file()).unwrap_or(false);
        if !is_file {
            return Err(GatewayError(format!(
                "guard state file {}: not a regular file",
                path.display()
            )));
        }
        let guard = MemoryGuard::load(config, &mut BufReader::with_capacity(1 << 20, file))
            .map_err(|e| load_error(path, &e))?;
        let now = crate::runtime::now().secs();
        tracing::info!(
            path = %path.display(),
            live_claims = guard.stats(now).live_claims,
            bytes = guard.memory_bytes(),
            ms = started.elapsed().as_millis() as u64,
            "single-use guard loaded from its state file: tickets used before the restart stay refused"
        );
        Ok(GuardPersistence {
            guard: Arc::new(guard),
            path: path.to_path_buf(),
            interval,
            loaded_changes: Some(0),
        })
    }
}

/// The start-up error for a state file that cannot be loaded: the file,
/// the reason, and what the operator can do.
fn load_error(path: &Path, e: &GuardLoadError) -> GatewayError {
    let p = path.display();
    let fix = match e {
        GuardLoadError::LayoutMismatch { .. } => format!(
            "the [guard] settings changed since it was saved: restore them, or move {p} away to \
             start with an empty guard"
        ),
        _ => format!("move {p} away to start with an empty guard"),
    };
    GatewayError(format!(
        "guard state file {p}: {e}. Refusing to start: {fix}, accepting that tickets used before \
         the restart can then be replayed until they expire"
    ))
}

/// The directory a save writes its temporary file in.
fn directory_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Write `guard` to `path` atomically: a temporary file in the same
/// directory (mode 0600), synced, renamed over `path`, the directory
/// synced. On an error the temporary file is removed and `path` keeps the
/// previous save.
pub fn save_atomically(guard: &MemoryGuard, path: &Path) -> std::io::Result<SaveStats> {
    let dir = directory_of(path);
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("the state file path has no file name"))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".{}.tmp", std::process::id()));
    let tmp = dir.join(tmp_name);
    let written = (|| {
        // A temporary file left by a crash of a process with our pid.
        let _ = std::fs::remove_file(&tmp);
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        let mut w = BufWriter::with_capacity(1 << 20, file);
        let stats = guard.save(&mut w)?;
        let file = w.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&tmp, path)?;
        File::open(&dir)?.sync_all()?;
        Ok(stats)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// Saves the guard: the interval thread, and the last save at drain.
pub(crate) struct GuardSaver {
    persist: Arc<GuardPersistence>,
    stats: Arc<Mutex<GuardSaveStats>>,
    /// Dropped to stop the thread.
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl GuardSaver {
    /// Start the thread that saves every interval.
    pub(crate) fn start(persist: GuardPersistence) -> Result<GuardSaver, GatewayError> {
        let stats = Arc::new(Mutex::new(GuardSaveStats {
            saved_changes: persist.loaded_changes,
            ..GuardSaveStats::default()
        }));
        let persist = Arc::new(persist);
        let (stop, stopped) = crossbeam_channel::bounded::<()>(0);
        let thread = {
            let (persist, stats) = (persist.clone(), stats.clone());
            std::thread::Builder::new()
                .name("rebound-guard-save".into())
                .spawn(move || every_interval(&persist, &stats, &stopped))
                .map_err(|e| GatewayError(format!("spawn the guard saver: {e}")))?
        };
        tracing::info!(
            path = %persist.path.display(),
            interval_secs = persist.interval.as_secs(),
            "single-use guard saved to its state file at an interval and at drain"
        );
        Ok(GuardSaver {
            persist,
            stats,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The counters, for the metrics.
    pub(crate) fn stats(&self) -> Arc<Mutex<GuardSaveStats>> {
        self.stats.clone()
    }

    /// Stop the interval thread (a save under way finishes first), then
    /// save once more if anything was claimed since the last save: called
    /// once the workers and the control plane have stopped, so the file
    /// holds every claim.
    pub(crate) fn finish(&mut self) {
        self.stop.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        match save_if_changed(&self.persist, &self.stats) {
            Some(Ok(s)) => tracing::info!(
                path = %self.persist.path.display(),
                claims = s.claims,
                bytes = s.bytes,
                "single-use guard saved at drain"
            ),
            Some(Err(_)) => {}
            None => tracing::info!(
                path = %self.persist.path.display(),
                "single-use guard unchanged since its last save"
            ),
        }
    }
}

impl Drop for GuardSaver {
    fn drop(&mut self) {
        // Only stops the thread; the gateway calls `finish` to save.
        self.stop.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn every_interval(
    persist: &GuardPersistence,
    stats: &Mutex<GuardSaveStats>,
    stopped: &Receiver<()>,
) {
    loop {
        match stopped.recv_timeout(persist.interval) {
            Err(RecvTimeoutError::Timeout) => {
                if let Some(Ok(s)) = save_if_changed(persist, stats) {
                    tracing::debug!(
                        path = %persist.path.display(),
                        claims = s.claims,
                        bytes = s.bytes,
                        "single-use guard saved"
                    );
                }
            }
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// Save the guard unless nothing was claimed since the last successful
/// save; count and log the outcome. `None`: nothing to save.
fn save_if_changed(
    persist: &GuardPersistence,
    stats: &Mutex<GuardSaveStats>,
) -> Option<std::io::Result<SaveStats>> {
    let lock = || stats.lock().unwrap_or_else(|p| p.into_inner());
    let last = lock().saved_changes;
    if last == Some(persist.guard.changes()) {
        return None;
    }
    let started = Instant::now();
    let result = save_atomically(&persist.guard, &persist.path);
    let ms = started.elapsed().as_millis() as u64;
    let mut st = lock();
    st.last_duration_ms = ms;
    match &result {
        Ok(s) => {
            st.saves += 1;
            st.saved_changes = Some(s.changes);
            st.last_success_unix = crate::runtime::now().secs();
            st.bytes = s.bytes;
        }
        Err(e) => {
            st.failures += 1;
            tracing::error!(
                path = %persist.path.display(),
                error = %e,
                "could not save the single-use guard (the previous save is kept; claims since it \
                 would be forgotten by a restart); retrying at the next interval"
            );
        }
    }
    Some(result)
}
