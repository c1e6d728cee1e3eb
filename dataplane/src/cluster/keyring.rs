//! The ticket key ring shared through Redis (docs/OPERATIONS.md, "Shared
//! ticket keys"; docs/TICKETS.md, "A cluster"):
//!
//! - **one publisher**: the gateway with `publish_keys = true` (the one
//!   that rotates; its key file stays the source of truth) writes its ring
//!   to `P{keys}:ring` at start, after every SIGHUP reload that took a new
//!   file, and again whenever the value there is not the one it wrote (a
//!   Redis restarted empty); a failure is logged, counted and retried at
//!   `key_sync_interval_secs`;
//! - **followers**: every other gateway with a `secret_file` reads it every
//!   `key_sync_interval_secs` (and once at start, before the workers take
//!   traffic) and, when its generation is newer than the last applied,
//!   opens it, checks it with the rule of a SIGHUP reload
//!   ([`crate::keys::check_replacement`]) and publishes it to the workers
//!   through the gateway's [`KeyRingCell`], as a reload does. Keys of the
//!   ring in use that the cluster's ring lacks and that still open tickets
//!   (the follower's own key file, an older cluster ring) are kept, opening
//!   only ([`TicketKey::retired_at`]): a ticket this gateway sealed keeps
//!   resuming here, and every new ticket is sealed with the cluster's key;
//! - **never in clear**: the value is an envelope ([`ClusterSecret::seal`])
//!   under an AES-256-GCM key derived from the cluster secret (a 0600 file
//!   of at least 32 bytes). A Redis reader sees the envelope's header (the
//!   generation) and the ring's length, nothing else; a value that does
//!   not open (another secret, altered, truncated, another version) is
//!   refused, counted and logged once.
//!
//! Everything here runs on its own thread (`rebound-keysync`), never on a
//! worker: workers only ever see a new ring through their
//! [`rebound_engine::ticket::keyring::KeyRingReader`].
//!
//! The envelope (every integer big-endian):
//!
//! | bytes | field |
//! | --- | --- |
//! | 4 | magic `RBKR` |
//! | 1 | version, 1 |
//! | 8 | generation: the publisher's counter (Unix time of publication in ms, and always above the one it replaces) |
//! | 12 | nonce, random |
//! | n | AES-256-GCM ciphertext of the key file text ([`format_key_file`]) |
//! | 16 | tag |
//!
//! The first 25 bytes (magic to nonce) are the additional authenticated
//! data, so a generation cannot be changed without the tag failing. The
//! key is `HMAC-SHA256(secret, "rebound cluster key ring v1")`.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use hmac::{Hmac, Mac};
use rebound_engine::ticket::UnixSeconds;
use rebound_engine::ticket::keyring::{
    KeyRingCell, KeyRingError, TicketKey, TicketKeyRing, format_key_file, parse_key_file,
};
use redis::Value;
use sha2::Sha256;
use zeroize::{Zeroize, Zeroizing};

use super::conn::{Conn, Credentials};
use super::io::ClusterStats;
use super::keys::Keys;
use super::settings::ClusterSettings;

/// The label the envelope key is derived with.
pub const KDF_LABEL: &[u8] = b"rebound cluster key ring v1";
/// The envelope's first bytes.
pub const MAGIC: [u8; 4] = *b"RBKR";
/// The envelope version this gateway writes and reads.
pub const VERSION: u8 = 1;
pub const NONCE_LEN: usize = 12;
pub const TAG_LEN: usize = 16;
/// Magic, version, generation, nonce: the authenticated header.
pub const HEADER_LEN: usize = MAGIC.len() + 1 + 8 + NONCE_LEN;
/// The shortest cluster secret taken.
pub const MIN_SECRET_LEN: usize = 32;
/// A ring is a few hundred bytes per key; a value larger than a key file
/// may be is not one.
pub const MAX_ENVELOPE_LEN: usize = crate::keys::MAX_KEY_FILE_LEN as usize + HEADER_LEN + TAG_LEN;

/// Why a follower did not apply the ring in Redis: the `reason` label of
/// `rebound_cluster_key_sync_failures_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeySyncFailure {
    /// Redis did not answer (connect or GET failed).
    Unreachable,
    /// The value is not an envelope this gateway opens: another cluster
    /// secret, altered, truncated, or an unknown version.
    Decrypt,
    /// It opened, but the plaintext is not a key ring.
    Parse,
    /// A key ring the rule of a SIGHUP reload refuses
    /// ([`crate::keys::check_replacement`]): every key expired, none
    /// issues now, or a key that still opens tickets here would change.
    RefusedByRule,
}

impl KeySyncFailure {
    pub const ALL: [KeySyncFailure; 4] = [
        Self::Unreachable,
        Self::Decrypt,
        Self::Parse,
        Self::RefusedByRule,
    ];

    pub const fn label(self) -> &'static str {
        match self {
            Self::Unreachable => "unreachable",
            Self::Decrypt => "decrypt",
            Self::Parse => "parse",
            Self::RefusedByRule => "refused_by_rule",
        }
    }

    /// The position in [`KeySyncFailure::ALL`].
    pub const fn index(self) -> usize {
        self as usize
    }
}

/// Why an envelope did not open. Never shows a byte of the plaintext.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvelopeError {
    /// Shorter than a header and a tag.
    Truncated { len: usize },
    /// Larger than any key ring.
    TooLarge { len: usize },
    /// Does not start with the magic.
    NotAnEnvelope,
    /// A version this gateway does not read.
    UnknownVersion(u8),
    /// The tag did not verify: another cluster secret, or altered.
    Decrypt,
    /// Opened, but not a key ring (the key file parser's reason).
    Parse(String),
}

impl EnvelopeError {
    /// The metric label it is counted under.
    pub fn failure(&self) -> KeySyncFailure {
        match self {
            EnvelopeError::Parse(_) => KeySyncFailure::Parse,
            _ => KeySyncFailure::Decrypt,
        }
    }
}

impl std::fmt::Display for EnvelopeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EnvelopeError::Truncated { len } => write!(
                f,
                "{len} bytes is shorter than any key ring envelope (at least {})",
                HEADER_LEN + TAG_LEN
            ),
            EnvelopeError::TooLarge { len } => write!(
                f,
                "{len} bytes is larger than any key ring envelope (at most {MAX_ENVELOPE_LEN})"
            ),
            EnvelopeError::NotAnEnvelope => {
                f.write_str("not a key ring envelope (it does not start with RBKR)")
            }
            EnvelopeError::UnknownVersion(v) => write!(
                f,
                "envelope version {v}, this gateway reads version {VERSION} (published by another Rebound version?)"
            ),
            EnvelopeError::Decrypt => f.write_str(
                "does not open under this gateway's cluster secret: the publisher has another secret_file, or the value was altered",
            ),
            EnvelopeError::Parse(e) => write!(f, "opened, but is not a key ring: {e}"),
        }
    }
}

impl std::error::Error for EnvelopeError {}

/// The envelope key, derived from the cluster secret. `Debug` shows
/// nothing of it; the cipher's key schedule is wiped on drop (the
/// `zeroize` feature of `aes`/`aes-gcm`).
pub struct ClusterSecret {
    aead: Aes256Gcm,
}

impl std::fmt::Debug for ClusterSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClusterSecret(redacted)")
    }
}

/// A ring opened from an envelope.
#[derive(Debug)]
pub struct Opened {
    pub generation: u64,
    pub ring: TicketKeyRing,
}

impl ClusterSecret {
    /// The envelope key of `secret` (at least [`MIN_SECRET_LEN`] bytes).
    pub fn from_bytes(secret: &[u8]) -> Result<Self, String> {
        if secret.len() < MIN_SECRET_LEN {
            return Err(format!(
                "{} bytes; the cluster secret needs at least {MIN_SECRET_LEN} \
                 (make one with: head -c 32 /dev/urandom > FILE && chmod 600 FILE, \
                 and give every gateway of the cluster the same file)",
                secret.len()
            ));
        }
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret)
            .map_err(|_| "the cluster secret cannot key HMAC-SHA256".to_string())?;
        mac.update(KDF_LABEL);
        let mut key = mac.finalize().into_bytes();
        let aead = Aes256Gcm::new_from_slice(&key);
        key.as_mut_slice().zeroize();
        Ok(ClusterSecret {
            aead: aead.map_err(|_| "the derived key is not 32 bytes".to_string())?,
        })
    }

    /// Read `[cluster] secret_file`: owner-only (0600), at most 4 KiB, at
    /// least [`MIN_SECRET_LEN`] bytes once a final line break is dropped
    /// (a secret written as text, `openssl rand -hex 32 > FILE`, is its
    /// characters). The bytes read are wiped.
    pub fn read(path: &Path) -> Result<Self, String> {
        let bytes = crate::config::read_secret_file(path, "the cluster secret")?;
        let mut s: &[u8] = &bytes;
        while let [rest @ .., b'\n' | b'\r'] = s {
            s = rest;
        }
        Self::from_bytes(s).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// `ring` sealed for Redis under this secret with a random nonce.
    pub fn seal(&self, ring: &TicketKeyRing, generation: u64) -> Result<Vec<u8>, String> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce)
            .map_err(|e| format!("cannot read randomness from the OS: {e}"))?;
        self.seal_with(ring, generation, nonce)
    }

    fn seal_with(
        &self,
        ring: &TicketKeyRing,
        generation: u64,
        nonce: [u8; NONCE_LEN],
    ) -> Result<Vec<u8>, String> {
        let text = format_key_file(ring);
        // Sized once: the plaintext is never left behind by a reallocation.
        let mut out = Vec::with_capacity(HEADER_LEN + text.len() + TAG_LEN);
        out.extend_from_slice(&MAGIC);
        out.push(VERSION);
        out.extend_from_slice(&generation.to_be_bytes());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(text.as_bytes());
        let (header, body) = out.split_at_mut(HEADER_LEN);
        match self
            .aead
            .encrypt_in_place_detached(Nonce::from_slice(&nonce), header, body)
        {
            Ok(tag) => {
                out.extend_from_slice(&tag);
                Ok(out)
            }
            Err(_) => {
                out.zeroize();
                Err("the key ring is too large to seal".into())
            }
        }
    }

    /// Open an envelope: its generation and ring. The plaintext lives only
    /// in a buffer wiped on drop.
    pub fn open(&self, envelope: &[u8]) -> Result<Opened, EnvelopeError> {
        let generation = header(envelope)?;
        let (head, rest) = envelope.split_at(HEADER_LEN);
        let (ciphertext, tag) = rest.split_at(rest.len() - TAG_LEN);
        let mut buf = Zeroizing::new(ciphertext.to_vec());
        self.aead
            .decrypt_in_place_detached(
                Nonce::from_slice(&head[HEADER_LEN - NONCE_LEN..]),
                head,
                &mut buf,
                Tag::from_slice(tag),
            )
            .map_err(|_| EnvelopeError::Decrypt)?;
        let text = std::str::from_utf8(&buf).map_err(|e| {
            EnvelopeError::Parse(format!(
                "not text (invalid UTF-8 at byte {})",
                e.valid_up_to()
            ))
        })?;
        let ring = parse_key_file(text).map_err(|e| EnvelopeError::Parse(e.to_string()))?;
        Ok(Opened { generation, ring })
    }
}

/// The generation an envelope's header names, after the checks that need
/// no key (length, magic, version). Not authenticated: [`ClusterSecret::open`]
/// is.
pub fn header(envelope: &[u8]) -> Result<u64, EnvelopeError> {
    let len = envelope.len();
    if len < HEADER_LEN + TAG_LEN {
        if len >= MAGIC.len() && envelope[..MAGIC.len()] != MAGIC {
            return Err(EnvelopeError::NotAnEnvelope);
        }
        return Err(EnvelopeError::Truncated { len });
    }
    if len > MAX_ENVELOPE_LEN {
        return Err(EnvelopeError::TooLarge { len });
    }
    if envelope[..MAGIC.len()] != MAGIC {
        return Err(EnvelopeError::NotAnEnvelope);
    }
    if envelope[MAGIC.len()] != VERSION {
        return Err(EnvelopeError::UnknownVersion(envelope[MAGIC.len()]));
    }
    let mut g = [0u8; 8];
    g.copy_from_slice(&envelope[MAGIC.len() + 1..MAGIC.len() + 9]);
    Ok(u64::from_be_bytes(g))
}

/// The ring a follower installs: the cluster's keys, then every key of
/// `current` the cluster's ring lacks that still opens tickets at `now`,
/// retired (opening only). A key id in both keeps the cluster's copy (the
/// rule then refuses it if its secret differs).
pub fn merged(
    cluster: TicketKeyRing,
    current: &TicketKeyRing,
    now: UnixSeconds,
) -> Result<(TicketKeyRing, usize), KeyRingError> {
    let mut keys: Vec<TicketKey> = cluster.keys().to_vec();
    let mut kept = 0;
    for k in current.keys() {
        if k.window().accepts_at(now) && cluster.get(k.id()).is_none() {
            keys.push(k.retired_at(now)?);
            kept += 1;
        }
    }
    Ok((TicketKeyRing::new(keys)?, kept))
}

/// What a follower did with one value read from Redis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Installed: its generation, the keys now in use, and how many of
    /// them are this gateway's own kept for their tickets.
    Applied {
        generation: u64,
        keys: usize,
        kept: usize,
    },
    /// Not newer than the ring last applied.
    Current,
    /// Nothing published yet.
    Nothing,
    Refused(KeySyncFailure),
}

/// A follower's state: what it applied last and what it refused last.
pub struct Follower {
    secret: Arc<ClusterSecret>,
    ring: Arc<KeyRingCell>,
    stats: Arc<ClusterStats>,
    ticket_lifetime: u64,
    /// The generation of the ring last applied (0: none yet).
    applied: u64,
    /// The last value refused: the same value again is checked again
    /// (a ring with no key issuing yet may pass later) but neither logged
    /// nor counted again.
    refused: Option<Vec<u8>>,
    waiting_logged: bool,
}

impl Follower {
    pub fn new(
        secret: Arc<ClusterSecret>,
        ring: Arc<KeyRingCell>,
        stats: Arc<ClusterStats>,
        ticket_lifetime: u64,
    ) -> Self {
        Follower {
            secret,
            ring,
            stats,
            ticket_lifetime,
            applied: 0,
            refused: None,
            waiting_logged: false,
        }
    }

    /// The generation of the ring last applied.
    pub fn applied(&self) -> u64 {
        self.applied
    }

    /// The value of `P{keys}:ring` (`None`: absent), at `now`. `fresh`: the
    /// ring in use has sealed nothing yet (an ephemeral ring before the
    /// workers start), so none of its keys is kept.
    pub fn consider(&mut self, value: Option<&[u8]>, now: UnixSeconds, fresh: bool) -> Step {
        let Some(v) = value else {
            if !self.waiting_logged {
                tracing::warn!(
                    "cluster: no ticket key ring in Redis yet; waiting for the gateway with publish_keys = true"
                );
                self.waiting_logged = true;
            }
            return Step::Nothing;
        };
        self.waiting_logged = false;
        // The header's generation is not authenticated yet: it only spares
        // opening a value already applied (a lower one written by someone
        // without the secret is no worse than a deleted key).
        match header(v) {
            Ok(g) if g <= self.applied => return Step::Current,
            Ok(_) => {}
            Err(e) => return self.refuse(v, e.failure(), &e.to_string()),
        }
        let opened = match self.secret.open(v) {
            Ok(o) => o,
            Err(e) => return self.refuse(v, e.failure(), &e.to_string()),
        };
        let current = if fresh {
            TicketKeyRing::default()
        } else {
            (*self.ring.load()).clone()
        };
        let (ring, kept) = match merged(opened.ring, &current, now) {
            Ok(r) => r,
            Err(e) => return self.refuse(v, KeySyncFailure::RefusedByRule, &e.to_string()),
        };
        if let Err(e) = crate::keys::check_replacement(
            Path::new("the cluster's key ring"),
            &current,
            &ring,
            now,
            self.ticket_lifetime,
        ) {
            let msg = format!("{} ({})", e, e.refusal().label());
            return self.refuse(v, KeySyncFailure::RefusedByRule, &msg);
        }
        let keys = ring.len();
        let cell_generation = self.ring.publish(ring);
        self.applied = opened.generation;
        self.refused = None;
        self.stats.key_syncs.fetch_add(1, Ordering::Relaxed);
        self.stats
            .key_generation
            .store(opened.generation, Ordering::Relaxed);
        tracing::info!(
            generation = opened.generation,
            keys,
            own_keys_kept = kept,
            ring_generation = cell_generation,
            "cluster: ticket key ring applied"
        );
        Step::Applied {
            generation: opened.generation,
            keys,
            kept,
        }
    }

    fn refuse(&mut self, v: &[u8], why: KeySyncFailure, msg: &str) -> Step {
        if self.refused.as_deref() != Some(v) {
            self.stats.key_sync_failures[why.index()].fetch_add(1, Ordering::Relaxed);
            tracing::error!(
                reason = why.label(),
                error = msg,
                "cluster: the ticket key ring in Redis was refused; keeping the key ring in use"
            );
            self.refused = Some(v.to_vec());
        }
        Step::Refused(why)
    }
}

/// What the gateway keeps of the key sync: a nudge (a SIGHUP: publish or
/// fetch now) and its role.
#[derive(Debug, Clone)]
pub struct KeySyncHandle {
    nudge: Arc<AtomicBool>,
    follows: bool,
}

impl KeySyncHandle {
    /// Publish (a publisher) or fetch (a follower) at the thread's next
    /// tick, within 100 ms.
    pub fn nudge(&self) {
        self.nudge.store(true, Ordering::Release);
    }

    /// This gateway takes its keys from the cluster (a follower).
    pub fn follows(&self) -> bool {
        self.follows
    }
}

enum Role {
    Publisher {
        /// The generation last written (0: none yet).
        published: u64,
        /// A publication is owed (start, a reload, a failure).
        owed: bool,
    },
    Follower(Follower),
}

/// The key sync thread (`rebound-keysync`).
pub struct KeySync {
    settings: ClusterSettings,
    creds: Credentials,
    keys: Keys,
    secret: Arc<ClusterSecret>,
    ring: Arc<KeyRingCell>,
    stats: Arc<ClusterStats>,
    stop: Arc<AtomicBool>,
    nudge: Arc<AtomicBool>,
    role: Role,
    conn: Option<Conn>,
    /// Redis was unreachable at the last try (logged once per outage).
    down: bool,
}

impl KeySync {
    /// The publisher (`publish_keys = true`) or a follower.
    pub fn new(
        settings: ClusterSettings,
        creds: Credentials,
        secret: Arc<ClusterSecret>,
        ring: Arc<KeyRingCell>,
        stats: Arc<ClusterStats>,
        stop: Arc<AtomicBool>,
        ticket_lifetime: u64,
    ) -> Self {
        let role = if settings.publish_keys {
            Role::Publisher {
                published: 0,
                owed: true,
            }
        } else {
            Role::Follower(Follower::new(
                secret.clone(),
                ring.clone(),
                stats.clone(),
                ticket_lifetime,
            ))
        };
        KeySync {
            keys: Keys::new(&settings.key_prefix),
            settings,
            creds,
            secret,
            ring,
            stats,
            stop,
            nudge: Arc::new(AtomicBool::new(false)),
            role,
            conn: None,
            down: false,
        }
    }

    pub fn handle(&self) -> KeySyncHandle {
        KeySyncHandle {
            nudge: self.nudge.clone(),
            follows: matches!(self.role, Role::Follower(_)),
        }
    }

    /// A follower's fetch at start, before the workers take traffic
    /// (bounded by `timeout_ms` per step). `fresh`: the ring in use is an
    /// ephemeral one that sealed nothing. Whether a ring was applied.
    pub fn fetch_at_start(&mut self, fresh: bool) -> bool {
        if !matches!(self.role, Role::Follower(_)) {
            return false;
        }
        let got = self.get();
        let now = crate::runtime::now().secs();
        let step = match (&mut self.role, got) {
            (Role::Follower(f), Ok(v)) => f.consider(v.as_deref(), now, fresh),
            (_, Err(e)) => {
                self.unreachable(&e);
                Step::Refused(KeySyncFailure::Unreachable)
            }
            _ => Step::Nothing,
        };
        let applied = matches!(step, Step::Applied { .. });
        if !applied {
            let every = self.settings.key_sync_interval_secs;
            if fresh {
                tracing::warn!(
                    retry_secs = every,
                    "cluster: starting WITHOUT the cluster's ticket keys: this gateway has no key file and \
                     the cluster's key ring could not be applied; it seals tickets with an ephemeral key \
                     that no other gateway opens, and tickets sealed elsewhere get TICKET_NACK \
                     (unknown_key) until the ring arrives"
                );
            } else {
                tracing::warn!(
                    retry_secs = every,
                    "cluster: starting with this gateway's key file, not the cluster's key ring (it could \
                     not be applied): tickets sealed by the publisher get TICKET_NACK (unknown_key) until \
                     the ring arrives"
                );
            }
        }
        applied
    }

    /// Until the gateway stops: every `key_sync_interval_secs`, or at once
    /// when nudged.
    pub fn run(mut self) {
        let every = Duration::from_secs(self.settings.key_sync_interval_secs);
        // The publisher publishes at once; a follower fetched at start.
        let mut next = match self.role {
            Role::Publisher { .. } => Instant::now(),
            Role::Follower(_) => Instant::now() + every,
        };
        while !self.stop.load(Ordering::Acquire) {
            let nudged = self.nudge.swap(false, Ordering::AcqRel);
            if nudged || Instant::now() >= next {
                self.tick(nudged);
                next = Instant::now() + every;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn tick(&mut self, nudged: bool) {
        let got = self.get();
        let now_ms = crate::runtime::now().millis();
        let got = match got {
            Ok(v) => v,
            Err(e) => {
                match &mut self.role {
                    Role::Publisher { owed, .. } => {
                        *owed |= nudged;
                        self.publish_failed(&e);
                    }
                    Role::Follower(_) => self.unreachable(&e),
                }
                return;
            }
        };
        match &mut self.role {
            Role::Follower(f) => {
                f.consider(got.as_deref(), now_ms / 1000, false);
            }
            Role::Publisher { published, owed } => {
                let published = *published;
                let force = *owed || nudged;
                match self.publish(got.as_deref(), published, force, now_ms) {
                    Ok(Some(g)) => {
                        self.role = Role::Publisher {
                            published: g,
                            owed: false,
                        }
                    }
                    Ok(None) => {}
                    Err(e) => {
                        if let Role::Publisher { owed, .. } = &mut self.role {
                            *owed = true;
                        }
                        self.publish_failed(&e);
                    }
                }
            }
        }
    }

    /// Write the ring in use when owed, or when the value in Redis is not
    /// the one last written; the generation written, if any.
    fn publish(
        &mut self,
        in_redis: Option<&[u8]>,
        published: u64,
        force: bool,
        now_ms: u64,
    ) -> Result<Option<u64>, String> {
        let there = in_redis
            .and_then(|v| self.secret.open(v).ok())
            .map(|o| o.generation);
        if !force && published != 0 && there == Some(published) {
            return Ok(None);
        }
        match there {
            Some(g) if published != 0 && g > published => tracing::warn!(
                generation = g,
                "cluster: another gateway published the ticket key ring; only one gateway of a cluster \
                 should have publish_keys = true (publishing this one's again)"
            ),
            _ if !force => tracing::warn!(
                "cluster: the ticket key ring in Redis is missing or is not the one this gateway \
                 published (Redis restarted?); publishing it again"
            ),
            _ => {}
        }
        let generation = now_ms
            .max(there.unwrap_or(0).saturating_add(1))
            .max(published.saturating_add(1));
        let ring = self.ring.load();
        let envelope = self.secret.seal(&ring, generation)?;
        let mut set = redis::cmd("SET");
        set.arg(self.keys.ring()).arg(envelope);
        self.query(vec![set])?;
        self.stats.key_publishes.fetch_add(1, Ordering::Relaxed);
        self.stats
            .key_generation
            .store(generation, Ordering::Relaxed);
        tracing::info!(
            generation,
            keys = ring.len(),
            "cluster: ticket key ring published"
        );
        Ok(Some(generation))
    }

    fn publish_failed(&mut self, e: &str) {
        self.stats
            .key_publish_failures
            .fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            error = e,
            retry_secs = self.settings.key_sync_interval_secs,
            "cluster: publishing the ticket key ring failed; retrying"
        );
    }

    fn unreachable(&mut self, e: &str) {
        self.stats.key_sync_failures[KeySyncFailure::Unreachable.index()]
            .fetch_add(1, Ordering::Relaxed);
        if !self.down {
            tracing::warn!(
                error = e,
                "cluster: cannot read the ticket key ring from Redis; keeping the key ring in use"
            );
            self.down = true;
        }
    }

    /// `GET P{keys}:ring`.
    fn get(&mut self) -> Result<Option<Vec<u8>>, String> {
        let mut get = redis::cmd("GET");
        get.arg(self.keys.ring());
        let v = self.query(vec![get])?;
        if self.down {
            tracing::info!("cluster: the ticket key ring is readable in Redis again");
            self.down = false;
        }
        match v.into_iter().next() {
            Some(Value::Nil) | None => Ok(None),
            Some(Value::BulkString(b)) => Ok(Some(b)),
            // Not a string: refused as not an envelope.
            Some(_) => Ok(Some(Vec::new())),
        }
    }

    fn query(&mut self, cmds: Vec<redis::Cmd>) -> Result<Vec<Value>, String> {
        if self.conn.is_none() {
            self.conn =
                Some(Conn::connect(&self.settings, &self.creds).map_err(|e| e.to_string())?);
        }
        let conn = self.conn.as_mut().expect("connected above");
        conn.run(cmds).map_err(|e| {
            self.conn = None;
            e.to_string()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rebound_engine::ticket::keyring::{KeyPolicy, KeyWindow};

    const NOW: u64 = 1_700_000_000;

    fn secret(b: u8) -> ClusterSecret {
        ClusterSecret::from_bytes(&[b; 32]).unwrap()
    }

    fn ring_at(now: u64, id: u8) -> TicketKeyRing {
        TicketKeyRing::default()
            .rotate(now - 10, [id; 32], [id; 8], &KeyPolicy::default())
            .unwrap()
    }

    fn follower(s: ClusterSecret, cell: Arc<KeyRingCell>) -> (Follower, Arc<ClusterStats>) {
        let stats = Arc::new(ClusterStats::default());
        (Follower::new(Arc::new(s), cell, stats.clone(), 3600), stats)
    }

    fn failures(stats: &ClusterStats, why: KeySyncFailure) -> u64 {
        stats.key_sync_failures[why.index()].load(Ordering::Relaxed)
    }

    #[test]
    fn the_envelope_round_trips_and_hides_the_ring() {
        let s = secret(7);
        let ring = ring_at(NOW, 1);
        let e = s.seal(&ring, 42).unwrap();
        assert_eq!(&e[..4], b"RBKR");
        assert_eq!(e[4], VERSION);
        assert_eq!(header(&e), Ok(42));
        let text = format_key_file(&ring);
        assert_eq!(e.len(), HEADER_LEN + text.len() + TAG_LEN);
        // Neither the key file's text nor the key's secret in hex appear.
        let hex_secret = hex::encode([1u8; 32]);
        assert!(!e.windows(16).any(|w| text.as_bytes()[..16] == *w));
        assert!(!String::from_utf8_lossy(&e).contains(&hex_secret));
        let o = s.open(&e).unwrap();
        assert_eq!(o.generation, 42);
        assert_eq!(format_key_file(&o.ring), text);
        // Two seals of the same ring differ (random nonce).
        assert_ne!(s.seal(&ring, 42).unwrap(), e);
    }

    #[test]
    fn every_bad_envelope_is_refused_with_its_own_error() {
        let s = secret(7);
        let e = s.seal(&ring_at(NOW, 1), 42).unwrap();
        // Another secret.
        assert_eq!(secret(8).open(&e).unwrap_err(), EnvelopeError::Decrypt);
        // A flipped byte: in the ciphertext, the tag, the nonce and the
        // generation (the header is authenticated).
        for at in [HEADER_LEN + 3, e.len() - 1, HEADER_LEN - 1, 6] {
            let mut bad = e.clone();
            bad[at] ^= 1;
            assert_eq!(s.open(&bad).unwrap_err(), EnvelopeError::Decrypt, "{at}");
        }
        // Truncated: short of a header and tag, or short of its tag.
        assert_eq!(
            s.open(&e[..10]).unwrap_err(),
            EnvelopeError::Truncated { len: 10 }
        );
        assert_eq!(
            s.open(&e[..e.len() - 1]).unwrap_err(),
            EnvelopeError::Decrypt
        );
        assert_eq!(
            s.open(&[]).unwrap_err(),
            EnvelopeError::Truncated { len: 0 }
        );
        // Unknown version, not an envelope, too large.
        let mut v2 = e.clone();
        v2[4] = 2;
        assert_eq!(s.open(&v2).unwrap_err(), EnvelopeError::UnknownVersion(2));
        let mut junk = e.clone();
        junk[0] = b'X';
        assert_eq!(s.open(&junk).unwrap_err(), EnvelopeError::NotAnEnvelope);
        let big = vec![0u8; MAX_ENVELOPE_LEN + 1];
        assert!(matches!(
            s.open(&big).unwrap_err(),
            EnvelopeError::TooLarge { .. }
        ));
        // Sealed right, but not a key ring inside.
        let nonce = [3u8; NONCE_LEN];
        let mut raw = Vec::new();
        raw.extend_from_slice(&MAGIC);
        raw.push(VERSION);
        raw.extend_from_slice(&9u64.to_be_bytes());
        raw.extend_from_slice(&nonce);
        let mut body = b"not a key file".to_vec();
        let tag = s
            .aead
            .encrypt_in_place_detached(Nonce::from_slice(&nonce), &raw, &mut body)
            .unwrap();
        raw.extend_from_slice(&body);
        raw.extend_from_slice(&tag);
        let err = s.open(&raw).unwrap_err();
        assert!(matches!(err, EnvelopeError::Parse(_)), "{err}");
        assert_eq!(err.failure(), KeySyncFailure::Parse);
        assert_eq!(EnvelopeError::Decrypt.failure(), KeySyncFailure::Decrypt);
    }

    #[test]
    fn a_short_secret_is_refused() {
        let e = ClusterSecret::from_bytes(&[1; 31]).unwrap_err();
        assert!(e.contains("31 bytes") && e.contains("at least 32"), "{e}");
        // Derivation is a function of the secret: same bytes, same key.
        let a = secret(5).seal(&ring_at(NOW, 1), 1).unwrap();
        assert!(secret(5).open(&a).is_ok());
    }

    #[test]
    fn a_follower_applies_newer_rings_only_and_refuses_bad_ones_once() {
        let ours = ring_at(NOW, 1);
        let cell = Arc::new(KeyRingCell::new(ours.clone()));
        let (mut f, stats) = follower(secret(7), cell.clone());
        let cluster = ring_at(NOW, 2);
        let s = secret(7);
        let g10 = s.seal(&cluster, 10).unwrap();
        let step = f.consider(Some(&g10), NOW, false);
        assert_eq!(
            step,
            Step::Applied {
                generation: 10,
                keys: 2,
                kept: 1
            }
        );
        assert_eq!(cell.generation(), 1);
        let live = cell.load();
        // The cluster's key seals; ours only opens.
        assert_eq!(live.issuing_key(NOW).unwrap().id(), &[2; 8]);
        assert!(live.accepting_key(&[1; 8], NOW).is_some());
        assert_eq!(stats.key_syncs.load(Ordering::Relaxed), 1);
        assert_eq!(stats.key_generation.load(Ordering::Relaxed), 10);

        // An older generation (even another ring) is not applied; the same
        // one neither.
        let g5 = s.seal(&ring_at(NOW, 3), 5).unwrap();
        assert_eq!(f.consider(Some(&g5), NOW, false), Step::Current);
        assert_eq!(f.consider(Some(&g10), NOW, false), Step::Current);
        assert_eq!(cell.generation(), 1);
        assert_eq!(f.applied(), 10);

        // Another secret: refused, counted once however often it is read.
        let other = secret(8).seal(&cluster, 11).unwrap();
        for _ in 0..3 {
            assert_eq!(
                f.consider(Some(&other), NOW, false),
                Step::Refused(KeySyncFailure::Decrypt)
            );
        }
        assert_eq!(failures(&stats, KeySyncFailure::Decrypt), 1);
        assert_eq!(cell.generation(), 1);

        // A ring with no key issuing now: refused by the reload rule.
        let idle = TicketKeyRing::new(vec![
            TicketKey::new(
                [4; 8],
                [4; 32],
                KeyWindow {
                    issue_from: NOW - 100,
                    issue_until: NOW - 50,
                    accept_until: NOW + 100,
                },
            )
            .unwrap(),
        ])
        .unwrap();
        let g12 = s.seal(&idle, 12).unwrap();
        assert_eq!(
            f.consider(Some(&g12), NOW, false),
            Step::Refused(KeySyncFailure::RefusedByRule)
        );
        assert_eq!(failures(&stats, KeySyncFailure::RefusedByRule), 1);

        // A key this gateway uses, with another secret: refused too.
        let clash = TicketKeyRing::default()
            .rotate(NOW - 5, [9; 32], [2; 8], &KeyPolicy::default())
            .unwrap();
        let g13 = s.seal(&clash, 13).unwrap();
        assert_eq!(
            f.consider(Some(&g13), NOW, false),
            Step::Refused(KeySyncFailure::RefusedByRule)
        );
        assert_eq!(failures(&stats, KeySyncFailure::RefusedByRule), 2);
        assert_eq!(cell.generation(), 1, "nothing refused was installed");

        // Nothing published: nothing done, nothing counted.
        assert_eq!(f.consider(None, NOW, false), Step::Nothing);
        // A newer good ring (a rotation of the cluster's) is applied.
        let rotated = cluster
            .rotate(NOW, [5; 32], [5; 8], &KeyPolicy::default())
            .unwrap();
        let g20 = s.seal(&rotated, 20).unwrap();
        assert!(matches!(
            f.consider(Some(&g20), NOW, false),
            Step::Applied { generation: 20, .. }
        ));
        assert_eq!(cell.load().issuing_key(NOW).unwrap().id(), &[5; 8]);
        assert!(cell.load().accepting_key(&[1; 8], NOW).is_some());
    }

    #[test]
    fn a_fresh_follower_keeps_nothing_of_its_ephemeral_ring() {
        let cell = Arc::new(KeyRingCell::new(ring_at(NOW, 1)));
        let (mut f, _) = follower(secret(7), cell.clone());
        let e = secret(7).seal(&ring_at(NOW, 2), 1).unwrap();
        assert_eq!(
            f.consider(Some(&e), NOW, true),
            Step::Applied {
                generation: 1,
                keys: 1,
                kept: 0
            }
        );
        assert!(cell.load().get(&[1; 8]).is_none());
    }

    #[test]
    fn labels_are_distinct_and_indexed_in_order() {
        for (i, r) in KeySyncFailure::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
            assert!(
                KeySyncFailure::ALL[..i]
                    .iter()
                    .all(|o| o.label() != r.label())
            );
        }
    }
}
