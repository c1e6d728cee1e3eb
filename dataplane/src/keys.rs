//! `rebound keys`: the ticket key file on disk, the one reader every user
//! of the file goes through, and the rule a reload must pass.
//!
//! The engine owns the format and the rotation rules
//! ([`rebound_engine::ticket::keyring`]); this module owns what the engine
//! may not touch: files, permissions, the clock and the OS random source.
//!
//! - Every read ([`read_key_file`]: `rebound keys`, the gateway's start and
//!   SIGHUP, `storm --key-file`) refuses a key file that group or others
//!   may read (mode `& 0o077 != 0`), naming the path, the mode and the fix,
//!   and one over 1 MiB; the bytes read are wiped after parsing.
//! - A reload (SIGHUP) replaces the ring in use only if
//!   [`check_replacement`] allows it. SIGHUP is the one way to reload: there
//!   is no file watcher (docs/OPERATIONS.md says why).
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
pub const MAX_KEY_FILE_LEN: u64 = 1 << 20;

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
    let old = read_key_file(path)?;
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
    let ring = read_key_file(path)?;
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

/// Why a key file was not used: at start (the gateway does not start), at
/// SIGHUP (the key ring in use stays), in `rebound keys` and in
/// `storm --key-file`. [`KeyFileRefusal::label`] is the `reason` label of
/// `rebound_key_reload_refused_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyFileRefusal {
    /// The file cannot be opened or read: missing, not a regular file, an
    /// I/O error, or it grew while being read.
    Unreadable,
    /// Group or others may read it (mode `& 0o077 != 0`).
    Permissions,
    /// Larger than [`MAX_KEY_FILE_LEN`].
    TooLarge,
    /// Not a key file: not UTF-8, a syntax error, no key, a bad window.
    Malformed,
    /// Every key in it is past its accept-until: it opens no ticket.
    Expired,
    /// No key in it issues now: every new ticket would be refused.
    NoIssuingKey,
    /// A key of the ring in use that still opens tickets is missing from
    /// it (or has another secret, or no longer accepts): the tickets it
    /// sealed would be refused.
    DropsLiveKey,
}

impl KeyFileRefusal {
    /// Every reason, in the order of [`KeyReloadStats`](crate::stats::KeyReloadStats)'s counters.
    pub const ALL: [KeyFileRefusal; 7] = [
        Self::Unreadable,
        Self::Permissions,
        Self::TooLarge,
        Self::Malformed,
        Self::Expired,
        Self::NoIssuingKey,
        Self::DropsLiveKey,
    ];

    /// The metric label.
    pub const fn label(self) -> &'static str {
        match self {
            Self::Unreadable => "unreadable",
            Self::Permissions => "permissions",
            Self::TooLarge => "too_large",
            Self::Malformed => "malformed",
            Self::Expired => "expired",
            Self::NoIssuingKey => "no_issuing_key",
            Self::DropsLiveKey => "drops_live_key",
        }
    }

    /// The position in [`KeyFileRefusal::ALL`].
    pub const fn index(self) -> usize {
        self as usize
    }
}

/// A key file refused: why (for the metric) and a message naming the path
/// and, where there is one, the fix. Never a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyFileError {
    refusal: KeyFileRefusal,
    message: String,
}

impl KeyFileError {
    fn new(refusal: KeyFileRefusal, message: String) -> Self {
        Self { refusal, message }
    }

    /// Why the file was refused.
    pub fn refusal(&self) -> KeyFileRefusal {
        self.refusal
    }
}

impl std::fmt::Display for KeyFileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for KeyFileError {}

impl From<KeyFileError> for String {
    fn from(e: KeyFileError) -> String {
        e.message
    }
}

/// Checks that only the owner can read the opened key file.
fn check_private(path: &Path, meta: &Metadata) -> Result<(), KeyFileError> {
    if !meta.is_file() {
        return Err(KeyFileError::new(
            KeyFileRefusal::Unreadable,
            format!("{}: not a regular file", path.display()),
        ));
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(KeyFileError::new(
            KeyFileRefusal::Permissions,
            format!(
                "{p}: mode {mode:04o} lets group or others read the ticket keys; refusing to use it. Fix: chmod 600 {p}",
                p = path.display()
            ),
        ));
    }
    Ok(())
}

/// Reads and parses a key file: the one reader of the ticket key file, for
/// `rebound keys`, the gateway's start and SIGHUP, and `storm --key-file`.
///
/// Refuses a file that group or others may read (checked on the open
/// descriptor, so on exactly the file whose bytes are read), one larger
/// than [`MAX_KEY_FILE_LEN`], and one that does not parse. The bytes are
/// read into one buffer sized from the file's length and wiped when
/// dropped; it never grows (a reallocation would leave a copy of the
/// secrets behind), so a file that grows while being read is refused.
pub fn read_key_file(path: &Path) -> Result<TicketKeyRing, KeyFileError> {
    use KeyFileRefusal::{Malformed, TooLarge, Unreadable};
    let p = path.display();
    // O_NONBLOCK: opening a FIFO put where the key file should be must not
    // hang the gateway's signal loop (the open would wait for a writer).
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| {
            KeyFileError::new(Unreadable, format!("{p}: cannot open the key file: {e}"))
        })?;
    let meta = file.metadata().map_err(|e| {
        KeyFileError::new(Unreadable, format!("{p}: cannot stat the key file: {e}"))
    })?;
    if !meta.is_file() {
        return Err(KeyFileError::new(
            Unreadable,
            format!("{p}: not a regular file"),
        ));
    }
    check_private(path, &meta)?;
    let too_large = || {
        KeyFileError::new(
            TooLarge,
            format!(
                "{p}: {} bytes is too large for a key file (at most {MAX_KEY_FILE_LEN})",
                meta.len()
            ),
        )
    };
    if meta.len() > MAX_KEY_FILE_LEN {
        return Err(too_large());
    }
    let len = usize::try_from(meta.len()).map_err(|_| too_large())?;
    // One byte more than the file: reading it means the file grew.
    let mut bytes = Zeroizing::new(vec![0u8; len + 1]);
    let mut filled = 0;
    loop {
        match file.read(&mut bytes[filled..]) {
            Ok(0) => break,
            Ok(n) => {
                filled += n;
                if filled == bytes.len() {
                    return Err(KeyFileError::new(
                        Unreadable,
                        format!(
                            "{p}: the key file grew while being read; replace it by rename (as `rebound keys` does)"
                        ),
                    ));
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => {
                return Err(KeyFileError::new(
                    Unreadable,
                    format!("{p}: cannot read the key file: {e}"),
                ));
            }
        }
    }
    let text = std::str::from_utf8(&bytes[..filled]).map_err(|e| {
        KeyFileError::new(
            Malformed,
            format!(
                "{p}: not a text file (invalid UTF-8 at byte {})",
                e.valid_up_to()
            ),
        )
    })?;
    parse_key_file(text).map_err(|e| KeyFileError::new(Malformed, format!("{p}: {e}")))
}

/// Whether the ring read from `path` may replace the ring in use,
/// `current`, at `now` (a reload). The rule, in order:
///
/// 1. Some key in the new ring still accepts now (`expired` otherwise).
/// 2. Some key in the new ring issues now (`no_issuing_key`): without one
///    every new ticket would be refused.
/// 3. Every key of `current` that still accepts now is in the new ring,
///    with the same secret, accepting at least until
///    `min(its accept_until, now + ticket_lifetime)` (`drops_live_key`):
///    a ticket it sealed expires by both, so tickets sealed by the ring in
///    use and not yet expired keep opening. Keys may be added, and expired
///    keys may go.
///
/// `rebound keys rotate` of the file the gateway loaded always passes.
/// Withdrawing a key that still accepts (a compromised key) takes a
/// restart: a reload never strands outstanding tickets.
pub fn check_replacement(
    path: &Path,
    current: &TicketKeyRing,
    new: &TicketKeyRing,
    now: UnixSeconds,
    ticket_lifetime: u64,
) -> Result<(), KeyFileError> {
    let p = path.display();
    if new.keys().iter().all(|k| now >= k.accept_until()) {
        return Err(KeyFileError::new(
            KeyFileRefusal::Expired,
            format!("{p}: every key in the file has expired; keeping the key ring in use"),
        ));
    }
    if new.issuing_key(now).is_none() {
        return Err(KeyFileError::new(
            KeyFileRefusal::NoIssuingKey,
            format!(
                "{p}: no key in the file issues now, so no ticket could be issued; keeping the key ring in use. Fix: rebound keys rotate --file {p}"
            ),
        ));
    }
    let dropped: Vec<String> = current
        .keys()
        .iter()
        .filter(|k| now < k.accept_until())
        .filter(|k| {
            // A ticket sealed by `k` expires by `k`'s accept-until and
            // within one ticket lifetime from now: the new key must open
            // it until then.
            let needed = k.accept_until().min(now.saturating_add(ticket_lifetime));
            new.accepting_key(k.id(), now)
                .is_none_or(|n| !n.same_secret(k) || n.accept_until() < needed)
        })
        .map(|k| hex::encode(k.id()))
        .collect();
    if !dropped.is_empty() {
        return Err(KeyFileError::new(
            KeyFileRefusal::DropsLiveKey,
            format!(
                "{p}: key(s) {} of the key ring in use still open tickets but are missing from the file (or have another secret there, or stop accepting before those tickets expire); keeping the key ring in use. Rotate the file this gateway loaded (`rebound keys rotate` keeps every key that still accepts), or restart the gateway to replace every key",
                dropped.join(", ")
            ),
        ));
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;
    use rebound_engine::ticket::keyring::{KeyWindow, TicketKey};

    const NOW: UnixSeconds = 1_700_000_000;
    /// The longest ticket the gateway issues, in these tests.
    const LIFETIME: u64 = 60;

    fn key(id: u8, secret: u8, issue_from: u64, issue_until: u64, accept_until: u64) -> TicketKey {
        TicketKey::new(
            [id; TICKET_KEY_ID_LEN],
            [secret; TICKET_KEY_SECRET_LEN],
            KeyWindow {
                issue_from,
                issue_until,
                accept_until,
            },
        )
        .unwrap()
    }

    fn ring(keys: Vec<TicketKey>) -> TicketKeyRing {
        TicketKeyRing::new(keys).unwrap()
    }

    fn check(current: &TicketKeyRing, new: &TicketKeyRing) -> Result<(), KeyFileRefusal> {
        check_replacement(Path::new("k"), current, new, NOW, LIFETIME).map_err(|e| e.refusal())
    }

    /// The ring in use: key 1 issued and still accepts, key 2 issues now,
    /// key 9 has expired.
    fn in_use() -> TicketKeyRing {
        ring(vec![
            key(9, 9, NOW - 300, NOW - 200, NOW - 100),
            key(1, 1, NOW - 100, NOW - 50, NOW + 100),
            key(2, 2, NOW - 50, NOW + 50, NOW + 200),
        ])
    }

    #[test]
    fn a_rotation_of_the_ring_in_use_is_accepted() {
        let current = in_use();
        let now = NOW;
        let mut next = current
            .rotate(now, [3; 32], [3; 8], &KeyPolicy::default())
            .unwrap();
        assert_eq!(check(&current, &next), Ok(()));
        // Keys may be added, and the expired key may stay or go.
        next = ring(vec![
            key(9, 9, NOW - 300, NOW - 200, NOW - 100),
            key(1, 1, NOW - 100, NOW - 50, NOW + 100),
            key(2, 2, NOW - 50, NOW + 50, NOW + 200),
        ]);
        assert_eq!(check(&current, &next), Ok(()));
        // An accept-until may move earlier, as long as every ticket the
        // key may have sealed (expiring within one lifetime) still opens.
        next = ring(vec![
            key(1, 1, NOW - 100, NOW - 50, NOW + LIFETIME),
            key(2, 2, NOW - 50, NOW + 50, NOW + LIFETIME),
        ]);
        assert_eq!(check(&current, &next), Ok(()));
        // Earlier than that strands tickets (`keys rotate --accept-for 1`).
        next = ring(vec![
            key(1, 1, NOW - 100, NOW - 50, NOW + 1),
            key(2, 2, NOW - 50, NOW + 50, NOW + 200),
        ]);
        assert_eq!(check(&current, &next), Err(KeyFileRefusal::DropsLiveKey));
    }

    #[test]
    fn a_file_that_strands_tickets_or_cannot_issue_is_refused() {
        let current = in_use();
        // Every key expired (whatever the ring in use holds).
        let expired = ring(vec![key(7, 7, 1, 2, 3)]);
        assert_eq!(check(&current, &expired), Err(KeyFileRefusal::Expired));
        assert_eq!(
            check(&TicketKeyRing::default(), &expired),
            Err(KeyFileRefusal::Expired)
        );
        // Keys that still accept, none issuing.
        let no_issuer = ring(vec![
            key(1, 1, NOW - 100, NOW - 50, NOW + 100),
            key(2, 2, NOW - 50, NOW - 1, NOW + 200),
        ]);
        assert_eq!(
            check(&current, &no_issuer),
            Err(KeyFileRefusal::NoIssuingKey)
        );
        // A fresh file (`generate --force`): every live key gone.
        let fresh = ring(vec![key(5, 5, NOW, NOW + 100, NOW + 200)]);
        let e = check_replacement(Path::new("k"), &current, &fresh, NOW, LIFETIME).unwrap_err();
        assert_eq!(e.refusal(), KeyFileRefusal::DropsLiveKey);
        let msg = e.to_string();
        assert!(msg.contains(&hex::encode([1u8; 8])), "{msg}");
        assert!(msg.contains(&hex::encode([2u8; 8])), "{msg}");
        assert!(!msg.contains(&hex::encode([9u8; 8])), "expired: {msg}");
        // One live key missing.
        let one_gone = ring(vec![key(2, 2, NOW - 50, NOW + 50, NOW + 200)]);
        assert_eq!(
            check(&current, &one_gone),
            Err(KeyFileRefusal::DropsLiveKey)
        );
        // Same id, another secret: its tickets would fail their tag.
        let resecreted = ring(vec![
            key(1, 0x11, NOW - 100, NOW - 50, NOW + 100),
            key(2, 2, NOW - 50, NOW + 50, NOW + 200),
        ]);
        assert_eq!(
            check(&current, &resecreted),
            Err(KeyFileRefusal::DropsLiveKey)
        );
        // Same key, but it stops accepting now.
        let cut_short = ring(vec![
            key(1, 1, NOW - 100, NOW - 50, NOW),
            key(2, 2, NOW - 50, NOW + 50, NOW + 200),
        ]);
        assert_eq!(
            check(&current, &cut_short),
            Err(KeyFileRefusal::DropsLiveKey)
        );
    }

    struct Scratch(PathBuf);

    impl Scratch {
        fn new(tag: &str) -> Self {
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos();
            let dir = std::env::temp_dir()
                .join(format!("rebound-keys-{tag}-{}-{nanos}", std::process::id()));
            fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }

        fn write(&self, name: &str, bytes: &[u8], mode: u32) -> PathBuf {
            let p = self.0.join(name);
            fs::write(&p, bytes).unwrap();
            fs::set_permissions(&p, Permissions::from_mode(mode)).unwrap();
            p
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn the_reader_refuses_open_modes_large_files_and_junk() {
        let dir = Scratch::new("read");
        let text = format_key_file(&in_use());
        let good = dir.write("good", text.as_bytes(), 0o600);
        assert_eq!(read_key_file(&good).unwrap().len(), 3);
        let owner_only = dir.write("ro", text.as_bytes(), 0o400);
        assert_eq!(read_key_file(&owner_only).unwrap().len(), 3);

        for mode in [0o644, 0o640, 0o604, 0o660] {
            let p = dir.write("open", text.as_bytes(), mode);
            let e = read_key_file(&p).unwrap_err();
            assert_eq!(e.refusal(), KeyFileRefusal::Permissions);
            let msg = e.to_string();
            let shown = p.display().to_string();
            assert!(msg.contains(&format!("mode {mode:04o}")), "{msg}");
            assert!(msg.contains(&format!("chmod 600 {shown}")), "{msg}");
        }

        let big = vec![b'#'; MAX_KEY_FILE_LEN as usize + 1];
        let p = dir.write("big", &big, 0o600);
        assert_eq!(
            read_key_file(&p).unwrap_err().refusal(),
            KeyFileRefusal::TooLarge
        );
        let p = dir.write("junk", b"rebound-ticket-keys v1\nid=zz\n", 0o600);
        let e = read_key_file(&p).unwrap_err();
        assert_eq!(e.refusal(), KeyFileRefusal::Malformed);
        assert!(e.to_string().contains("line 2"), "{e}");
        let p = dir.write("binary", &[0xff, 0xfe], 0o600);
        assert_eq!(
            read_key_file(&p).unwrap_err().refusal(),
            KeyFileRefusal::Malformed
        );
        assert_eq!(
            read_key_file(&dir.0.join("missing")).unwrap_err().refusal(),
            KeyFileRefusal::Unreadable
        );
        assert_eq!(
            read_key_file(&dir.0).unwrap_err().refusal(),
            KeyFileRefusal::Unreadable
        );
        // Secrets never appear in an error.
        let secret = hex::encode([2u8; 32]);
        let p = dir.write(
            "bad-window",
            format!("rebound-ticket-keys v1\nid=0202020202020202 secret={secret} issue_from=5 issue_until=4 accept_until=6\n").as_bytes(),
            0o600,
        );
        let e = read_key_file(&p).unwrap_err();
        assert_eq!(e.refusal(), KeyFileRefusal::Malformed);
        assert!(!e.to_string().contains(&secret), "{e}");
    }

    #[test]
    fn labels_are_distinct_and_indexed_in_order() {
        for (i, r) in KeyFileRefusal::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
            assert!(
                KeyFileRefusal::ALL[..i]
                    .iter()
                    .all(|o| o.label() != r.label())
            );
        }
    }
}
