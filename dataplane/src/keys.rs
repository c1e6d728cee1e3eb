//! `rebound keys`: the ticket key file on disk, and the watcher that reloads
//! it into a running gateway.
//!
//! The engine owns the format and the rotation rules
//! ([`rebound_engine::ticket::keyring`]); this module owns what the engine
//! may not touch: files, permissions, the clock and the OS random source.
//!
//! - Every read refuses a key file that group or others may read (mode
//!   `& 0o077 != 0`), naming the path, the mode and the fix.
//! - Every write goes to a temporary file in the same directory, created
//!   with mode 0600, synced, then renamed over (or, for a first `generate`,
//!   hard-linked into place so that an existing file is never replaced
//!   without `--force`). A reader sees the old file or the new one, never
//!   half of one.
//! - Two `rotate` runs at the same moment on the same file can lose one of
//!   the two new keys (the last rename wins): rotate from one place (the
//!   host or job that distributes the file).

use std::fmt::Write as _;
use std::fs::{self, File, Metadata, OpenOptions, Permissions};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use clap::Subcommand;
use rebound_engine::ticket::UnixSeconds;
use rebound_engine::ticket::keyring::{
    KeyPolicy, TICKET_KEY_ID_LEN, TICKET_KEY_SECRET_LEN, TicketKeyId, TicketKeyRing,
    format_key_file, parse_key_file,
};
use zeroize::Zeroizing;

/// A key file is a few hundred bytes per key; anything this large is not
/// one.
const MAX_KEY_FILE_LEN: u64 = 1 << 20;

/// `rebound keys` subcommands.
#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Create a key file holding one new key that issues from now. The file
    /// is created with mode 0600; an existing file is kept unless --force.
    Generate {
        /// The key file to create.
        #[arg(long, value_name = "PATH")]
        file: PathBuf,
        /// Seconds the new key seals tickets for.
        #[arg(long, value_name = "SECS", default_value_t = KeyPolicy::DEFAULT_ROTATE_EVERY)]
        rotate_every: u64,
        /// Seconds the key keeps opening tickets after it stops sealing.
        /// At least the longest ticket lifetime the gateway grants.
        #[arg(long, value_name = "SECS", default_value_t = KeyPolicy::DEFAULT_ACCEPT_FOR)]
        accept_for: u64,
        /// Replace an existing file (every key in it is lost, and with them
        /// every outstanding ticket).
        #[arg(long)]
        force: bool,
    },
    /// Add a new key that issues from now; the previous issuing key stops
    /// issuing and keeps accepting; expired keys are dropped. The file is
    /// replaced atomically.
    Rotate {
        /// The key file to rotate.
        #[arg(long, value_name = "PATH")]
        file: PathBuf,
        /// Seconds the new key seals tickets for.
        #[arg(long, value_name = "SECS", default_value_t = KeyPolicy::DEFAULT_ROTATE_EVERY)]
        rotate_every: u64,
        /// Seconds keys keep opening tickets after they stop sealing.
        #[arg(long, value_name = "SECS", default_value_t = KeyPolicy::DEFAULT_ACCEPT_FOR)]
        accept_for: u64,
    },
    /// Print each key's id, windows (UTC) and state; never a secret.
    List {
        /// The key file to list.
        #[arg(long, value_name = "PATH")]
        file: PathBuf,
    },
}

/// Runs a `rebound keys` subcommand; `Ok(true)` on success.
pub fn run(command: KeysCommand) -> Result<bool, String> {
    match command {
        KeysCommand::Generate {
            file,
            rotate_every,
            accept_for,
            force,
        } => generate(
            &file,
            &KeyPolicy {
                rotate_every,
                accept_for,
            },
            force,
        ),
        KeysCommand::Rotate {
            file,
            rotate_every,
            accept_for,
        } => rotate(
            &file,
            &KeyPolicy {
                rotate_every,
                accept_for,
            },
        ),
        KeysCommand::List { file } => list(&file),
    }
    .map(|()| true)
}

fn generate(path: &Path, policy: &KeyPolicy, force: bool) -> Result<(), String> {
    if !force && fs::symlink_metadata(path).is_ok() {
        return Err(exists_error(path));
    }
    let now = unix_now()?;
    let ring = rotate_in_new_key(&TicketKeyRing::default(), now, policy)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    write_atomically(path, format_key_file(&ring).as_bytes(), force)?;
    if let Some(key) = ring.issuing_key(now) {
        println!(
            "{}: key {} issues {} .. {}, accepted until {}",
            path.display(),
            hex::encode(key.id()),
            utc(key.issue_from()),
            utc(key.issue_until()),
            utc(key.accept_until())
        );
    }
    Ok(())
}

fn rotate(path: &Path, policy: &KeyPolicy) -> Result<(), String> {
    let (old, _) = read_key_file(path)?;
    let now = unix_now()?;
    let ring =
        rotate_in_new_key(&old, now, policy).map_err(|e| format!("{}: {e}", path.display()))?;
    write_atomically(path, format_key_file(&ring).as_bytes(), true)?;
    let dropped = old
        .keys()
        .iter()
        .filter(|k| ring.get(k.id()).is_none())
        .count();
    if let Some(key) = ring.issuing_key(now) {
        println!(
            "{}: key {} issues {} .. {}, accepted until {}; {} key(s) in the file, {} expired key(s) dropped",
            path.display(),
            hex::encode(key.id()),
            utc(key.issue_from()),
            utc(key.issue_until()),
            utc(key.accept_until()),
            ring.len(),
            dropped
        );
    }
    Ok(())
}

fn list(path: &Path) -> Result<(), String> {
    let (ring, _) = read_key_file(path)?;
    let now = unix_now()?;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}: {} key(s) at {}",
        path.display(),
        ring.len(),
        utc(now)
    );
    let _ = writeln!(
        out,
        "{:<16}  {:<9}  {:<20}  {:<20}  ACCEPT UNTIL",
        "ID", "STATE", "ISSUE FROM", "ISSUE UNTIL"
    );
    for key in ring.keys() {
        let state = ring.state(key.id(), now).map_or("unknown", |s| s.as_str());
        let _ = writeln!(
            out,
            "{:<16}  {:<9}  {:<20}  {:<20}  {}",
            hex::encode(key.id()),
            state,
            utc(key.issue_from()),
            utc(key.issue_until()),
            utc(key.accept_until())
        );
    }
    print!("{out}");
    Ok(())
}

/// `ring` plus a fresh random key issuing from `now`.
pub fn rotate_in_new_key(
    ring: &TicketKeyRing,
    now: UnixSeconds,
    policy: &KeyPolicy,
) -> Result<TicketKeyRing, String> {
    let mut id: TicketKeyId = [0; TICKET_KEY_ID_LEN];
    // A 64-bit random id collides with a handful of others about never; the
    // loop only makes that certain.
    loop {
        os_random(&mut id)?;
        if ring.get(&id).is_none() {
            break;
        }
    }
    let mut secret = Zeroizing::new([0u8; TICKET_KEY_SECRET_LEN]);
    os_random(&mut secret[..])?;
    ring.rotate(now, *secret, id, policy)
        .map_err(|e| e.to_string())
}

fn os_random(buf: &mut [u8]) -> Result<(), String> {
    getrandom::fill(buf).map_err(|e| format!("cannot read randomness from the OS: {e}"))
}

fn exists_error(path: &Path) -> String {
    format!(
        "{} already exists; pass --force to replace it (every key in it, and every ticket they sealed, is lost), or use `rebound keys rotate`",
        path.display()
    )
}

/// Seconds since the Unix epoch from the system clock.
pub fn unix_now() -> Result<UnixSeconds, String> {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .map_err(|_| "the system clock is set before 1970".to_owned())
}

// ---------------------------------------------------------------------------
// Reading and writing
// ---------------------------------------------------------------------------

/// Checks that only the owner can read the opened key file.
fn check_private(path: &Path, meta: &Metadata) -> Result<(), String> {
    if !meta.is_file() {
        return Err(format!("{}: not a regular file", path.display()));
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "{p}: mode {mode:04o} lets group or others read the ticket keys; refusing to use it. Fix: chmod 600 {p}",
            p = path.display()
        ));
    }
    Ok(())
}

/// Reads and parses a key file, refusing one that group or others may
/// read. Also returns the metadata of the file that was read (from the open
/// descriptor, so it describes exactly those bytes' file).
pub fn read_key_file(path: &Path) -> Result<(TicketKeyRing, Metadata), String> {
    let p = path.display();
    let mut file = File::open(path).map_err(|e| format!("{p}: cannot open the key file: {e}"))?;
    let meta = file
        .metadata()
        .map_err(|e| format!("{p}: cannot stat the key file: {e}"))?;
    check_private(path, &meta)?;
    if meta.len() > MAX_KEY_FILE_LEN {
        return Err(format!(
            "{p}: {} bytes is too large for a key file (at most {MAX_KEY_FILE_LEN})",
            meta.len()
        ));
    }
    let capacity = usize::try_from(meta.len()).unwrap_or(0).saturating_add(1);
    let mut bytes = Zeroizing::new(Vec::with_capacity(capacity));
    (&mut file)
        .take(MAX_KEY_FILE_LEN + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{p}: cannot read the key file: {e}"))?;
    let text = std::str::from_utf8(&bytes).map_err(|e| {
        format!(
            "{p}: not a text file (invalid UTF-8 at byte {})",
            e.valid_up_to()
        )
    })?;
    let ring = parse_key_file(text).map_err(|e| format!("{p}: {e}"))?;
    Ok((ring, meta))
}

/// Writes `contents` to `path` through a mode-0600 temporary file in the
/// same directory: renamed over `path` if `replace`, else hard-linked into
/// place (which fails if `path` exists).
fn write_atomically(path: &Path, contents: &[u8], replace: bool) -> Result<(), String> {
    let p = path.display();
    let name = path
        .file_name()
        .ok_or_else(|| format!("{p}: not a file name"))?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut nonce = [0u8; 8];
    os_random(&mut nonce)?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}-{}",
        name.to_string_lossy(),
        std::process::id(),
        hex::encode(nonce)
    ));
    let result = write_new_private(&tmp, contents).and_then(|()| {
        if replace {
            fs::rename(&tmp, path).map_err(|e| format!("{p}: cannot replace the key file: {e}"))
        } else {
            match fs::hard_link(&tmp, path) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == ErrorKind::AlreadyExists => Err(exists_error(path)),
                Err(e) => Err(format!("{p}: cannot create the key file: {e}")),
            }
        }
    });
    // After a rename the temporary name is gone; after a link (or a failure)
    // it is removed here.
    let _ = fs::remove_file(&tmp);
    result?;
    // Make the new directory entry durable; not every filesystem allows
    // syncing a directory, and the file itself is already synced.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

fn write_new_private(tmp: &Path, contents: &[u8]) -> Result<(), String> {
    let t = tmp.display();
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(tmp)
        .map_err(|e| format!("{t}: cannot create a temporary key file: {e}"))?;
    // The umask can only clear bits of 0600; set it exactly regardless.
    file.set_permissions(Permissions::from_mode(0o600))
        .map_err(|e| format!("{t}: cannot set mode 0600: {e}"))?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("{t}: cannot write the key file: {e}"))
}

// ---------------------------------------------------------------------------
// Watching
// ---------------------------------------------------------------------------

/// What identifies one version of a file: which file (device, inode) and
/// its size, modification and change times (the change time also moves on
/// chmod, so fixing a mode is noticed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
    mode: u32,
}

impl FileStamp {
    fn of(meta: &Metadata) -> Self {
        Self {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
            mode: meta.mode(),
        }
    }
}

/// Reloads the key file when it changes, for the control plane to
/// `publish` into the workers' `KeyRingCell`.
///
/// [`KeyFileWatcher::poll`] costs one `stat` when nothing changed. File
/// times are only as fine as the kernel's coarse clock, so an in-place
/// rewrite of the same size within a few milliseconds could go unnoticed;
/// replace the file by rename (as `rebound keys` does) and every change
/// shows as a new inode. A file
/// that fails to read or parse, or whose keys have all expired, is
/// reported once and never replaces the ring in use: the caller keeps
/// publishing nothing, so the gateway never drops to no keys.
#[derive(Debug)]
// The gateway's control plane is the caller; until it lands, the tests are.
#[allow(dead_code)]
pub struct KeyFileWatcher {
    path: PathBuf,
    stamp: Option<FileStamp>,
    missing_reported: bool,
}

#[allow(dead_code)]
impl KeyFileWatcher {
    /// A watcher whose first [`KeyFileWatcher::poll`] loads the file.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            stamp: None,
            missing_reported: false,
        }
    }

    /// A watcher and the ring the file holds now (for start-up, where
    /// there is no previous ring to keep).
    pub fn load(path: impl Into<PathBuf>) -> Result<(Self, TicketKeyRing), String> {
        let mut watcher = Self::new(path);
        match watcher.poll()? {
            Some(ring) => Ok((watcher, ring)),
            None => Err(format!("{}: no key ring loaded", watcher.path.display())),
        }
    }

    /// The watched path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `Ok(Some(ring))` if the file changed and holds a usable ring,
    /// `Ok(None)` if it did not change, `Err(why)` if it changed into
    /// something unusable (keep the ring in use). An error is reported
    /// once per version of the file.
    pub fn poll(&mut self) -> Result<Option<TicketKeyRing>, String> {
        let p = self.path.display();
        let meta = match fs::metadata(&self.path) {
            Ok(m) => m,
            Err(e) => {
                // Re-read whatever appears next under this name; report the
                // disappearance once.
                self.stamp = None;
                if self.missing_reported {
                    return Ok(None);
                }
                self.missing_reported = true;
                return Err(format!(
                    "{p}: cannot stat the key file: {e}; keeping the previous key ring"
                ));
            }
        };
        self.missing_reported = false;
        if self.stamp == Some(FileStamp::of(&meta)) {
            return Ok(None);
        }
        // Record the version even when it is bad, so the error is reported
        // once; the next write changes the stamp and is read again.
        self.stamp = Some(FileStamp::of(&meta));
        let (ring, read_meta) =
            read_key_file(&self.path).map_err(|e| format!("{e}; keeping the previous key ring"))?;
        // The stamp of the bytes actually read (the file may have been
        // replaced between the stat and the open).
        self.stamp = Some(FileStamp::of(&read_meta));
        let now = unix_now()?;
        if ring.keys().iter().all(|k| now >= k.accept_until()) {
            return Err(format!(
                "{p}: every key in the file has expired; keeping the previous key ring"
            ));
        }
        Ok(Some(ring))
    }
}

// ---------------------------------------------------------------------------
// UTC
// ---------------------------------------------------------------------------

const SECS_PER_DAY: u64 = 86_400;
/// Days in 400 Gregorian years: the calendar repeats with this period.
const DAYS_PER_400_YEARS: u64 = 146_097;

fn is_leap(year: u64) -> bool {
    (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400)
}

/// `secs` since the Unix epoch as an RFC 3339 UTC timestamp,
/// e.g. `2023-11-14T22:13:20Z`.
pub fn utc(secs: UnixSeconds) -> String {
    let mut days = secs / SECS_PER_DAY;
    let rem = secs % SECS_PER_DAY;
    let mut year = 1970 + 400 * (days / DAYS_PER_400_YEARS);
    days %= DAYS_PER_400_YEARS;
    loop {
        let len = if is_leap(year) { 366 } else { 365 };
        if days < len {
            break;
        }
        days -= len;
        year += 1;
    }
    let feb = if is_leap(year) { 29 } else { 28 };
    let months = [31, feb, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let mut month = 1;
    for len in months {
        if days < len {
            break;
        }
        days -= len;
        month += 1;
    }
    format!(
        "{year:04}-{month:02}-{:02}T{:02}:{:02}:{:02}Z",
        days + 1,
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}
