//! The ticket key ring: which key seals new tickets, which keys still open
//! old ones, how the ring rotates, the key file that carries it between
//! gateways, and how workers read it without locks.
//!
//! | item | concept |
//! | --- | --- |
//! | [`TicketKey`] | one key: id, secret, time windows, derived AEAD and MAC keys |
//! | [`TicketKeyRing`] | an immutable snapshot of keys; [`TicketKeyRing::issuing_key`], [`TicketKeyRing::accepting_key`], [`TicketKeyRing::rotate`] |
//! | [`KeyPolicy`] | how often keys rotate and how long they stay accepted |
//! | [`parse_key_file`], [`format_key_file`] | the `rebound-ticket-keys v1` text format |
//! | [`KeyRingCell`], [`KeyRingReader`] | publication to workers: one atomic load per packet burst |
//!
//! # Time windows
//!
//! Every key has three instants (seconds since the Unix epoch, always
//! passed in as `now`):
//!
//! ```text
//!             issue_from        issue_until            accept_until
//!  accepting ─────┼──── issuing ───────┼──── accepting ──────┼── expired
//! ```
//!
//! - The key **issues** (may seal new tickets) while
//!   `issue_from <= now < issue_until`. When several keys issue at once, the
//!   newest one (latest `issue_from`) seals.
//! - The key **accepts** (opens tickets) while `now < accept_until`, with
//!   no lower bound: a key opens tickets from the moment it is in the ring.
//!   Gateways that share a key file do not load it at the same instant; a
//!   gateway that has the key but whose clock says it is not issuing yet
//!   must still open tickets that a faster peer already sealed with it.
//!   There is nothing to protect by refusing: only holders of the secret can
//!   produce a ticket that verifies.
//! - Validation requires `issue_from < issue_until <= accept_until`.
//!
//! # Derived keys
//!
//! The 32-byte secret is never used directly. At construction it is
//! expanded once, with domain separation, into
//!
//! - the AES-256-GCM key for tickets by value:
//!   `prf(HMAC-SHA-256, secret, "rebound ticket aead v1")`, and
//! - the HMAC-SHA-256 key for the MAC on tickets by reference:
//!   `prf(HMAC-SHA-256, secret, "rebound ticket ref-mac v1")`,
//!
//! so that one compromised use does not reveal the other, and the per-ticket
//! path does no key setup.

use core::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use zeroize::Zeroizing;

use super::UnixSeconds;
use crate::crypto::{AesGcmKey, CryptoError, PrfAlg, PrfKey, SecretBuf, prf};

/// Length of a ticket key id in bytes.
pub const TICKET_KEY_ID_LEN: usize = 8;

/// Length of a ticket key secret in bytes.
pub const TICKET_KEY_SECRET_LEN: usize = 32;

/// A ticket key id: not secret, it travels in every ticket (and in the
/// AEAD's associated data) so that the gateway knows which key to try.
pub type TicketKeyId = [u8; TICKET_KEY_ID_LEN];

/// Label of the AES-256-GCM subkey (tickets by value).
const AEAD_LABEL: &[u8] = b"rebound ticket aead v1";
/// Label of the HMAC-SHA-256 subkey (tickets by reference).
const REF_MAC_LABEL: &[u8] = b"rebound ticket ref-mac v1";

/// Formats a key id as 16 lowercase hex digits.
pub(super) struct IdHex<'a>(pub(super) &'a TicketKeyId);

impl fmt::Display for IdHex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

// --- Errors ---

/// Why a key, a ring or a rotation was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyRingError {
    /// `issue_from >= issue_until`: the key would never seal anything.
    EmptyIssueWindow {
        id: TicketKeyId,
        issue_from: UnixSeconds,
        issue_until: UnixSeconds,
    },
    /// `accept_until < issue_until`: tickets sealed near the end of the
    /// issue window could not be opened.
    AcceptEndsBeforeIssueEnds {
        id: TicketKeyId,
        issue_until: UnixSeconds,
        accept_until: UnixSeconds,
    },
    /// Two keys with one id: a ticket would not name its key.
    DuplicateKeyId { id: TicketKeyId },
    /// A [`KeyPolicy`] whose `rotate_every` is zero.
    ZeroRotationPeriod,
    /// A rotation in the same second that the current issuing key started
    /// issuing: its issue window would become empty.
    RotatedTooSoon {
        id: TicketKeyId,
        issue_from: UnixSeconds,
    },
    /// Deriving the AEAD or MAC subkey failed (not expected with a 32-byte
    /// secret; reported rather than unwrapped).
    Derivation(CryptoError),
}

impl fmt::Display for KeyRingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::EmptyIssueWindow {
                id,
                issue_from,
                issue_until,
            } => write!(
                f,
                "key {}: issue_from ({issue_from}) must be before issue_until ({issue_until})",
                IdHex(id)
            ),
            Self::AcceptEndsBeforeIssueEnds {
                id,
                issue_until,
                accept_until,
            } => write!(
                f,
                "key {}: accept_until ({accept_until}) must not be before issue_until ({issue_until})",
                IdHex(id)
            ),
            Self::DuplicateKeyId { id } => {
                write!(f, "key id {} appears more than once", IdHex(id))
            }
            Self::ZeroRotationPeriod => {
                f.write_str("the rotation period must be at least 1 second")
            }
            Self::RotatedTooSoon { id, issue_from } => write!(
                f,
                "key {} started issuing at {issue_from}, this same second; rotate again in a second",
                IdHex(id)
            ),
            Self::Derivation(e) => write!(f, "deriving the ticket subkeys failed: {e}"),
        }
    }
}

impl std::error::Error for KeyRingError {}

impl From<CryptoError> for KeyRingError {
    fn from(e: CryptoError) -> Self {
        Self::Derivation(e)
    }
}

// --- One key ---

/// The three instants of a key's life (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyWindow {
    /// First second at which the key may seal.
    pub issue_from: UnixSeconds,
    /// First second at which the key no longer seals.
    pub issue_until: UnixSeconds,
    /// First second at which the key no longer opens tickets.
    pub accept_until: UnixSeconds,
}

impl KeyWindow {
    /// Checks `issue_from < issue_until <= accept_until`; `id` names the key
    /// in the error.
    ///
    /// # Errors
    /// [`KeyRingError::EmptyIssueWindow`] or
    /// [`KeyRingError::AcceptEndsBeforeIssueEnds`].
    pub fn check(&self, id: &TicketKeyId) -> Result<(), KeyRingError> {
        if self.issue_from >= self.issue_until {
            return Err(KeyRingError::EmptyIssueWindow {
                id: *id,
                issue_from: self.issue_from,
                issue_until: self.issue_until,
            });
        }
        if self.accept_until < self.issue_until {
            return Err(KeyRingError::AcceptEndsBeforeIssueEnds {
                id: *id,
                issue_until: self.issue_until,
                accept_until: self.accept_until,
            });
        }
        Ok(())
    }

    /// Whether `now` is inside the issue window.
    pub fn issues_at(&self, now: UnixSeconds) -> bool {
        self.issue_from <= now && now < self.issue_until
    }

    /// Whether a key with this window still opens tickets at `now` (no
    /// lower bound: see the module docs).
    pub fn accepts_at(&self, now: UnixSeconds) -> bool {
        now < self.accept_until
    }
}

/// The secret and what is derived from it, shared by every copy of a key
/// (rotation changes windows, never material).
pub(super) struct KeyMaterial {
    pub(super) secret: SecretBuf,
    aead: AesGcmKey,
    ref_mac: PrfKey,
    ref_mac_key: SecretBuf,
}

impl KeyMaterial {
    fn derive(secret: &[u8; TICKET_KEY_SECRET_LEN]) -> Result<Self, KeyRingError> {
        let mut aead_key = Zeroizing::new([0u8; 32]);
        prf(PrfAlg::HmacSha256, secret, &[AEAD_LABEL], &mut aead_key[..])?;
        let aead = AesGcmKey::new(&aead_key[..])?;
        let mut mac_key = Zeroizing::new([0u8; 32]);
        prf(
            PrfAlg::HmacSha256,
            secret,
            &[REF_MAC_LABEL],
            &mut mac_key[..],
        )?;
        Ok(Self {
            secret: SecretBuf::from_slice(secret)?,
            aead,
            ref_mac: PrfKey::new(PrfAlg::HmacSha256, &mac_key[..]),
            ref_mac_key: SecretBuf::from_slice(&mac_key[..])?,
        })
    }
}

/// One ticket key: an id, a 32-byte secret, its [`KeyWindow`] and the
/// subkeys derived from the secret once, at construction.
///
/// Cloning is cheap (the key material is shared, never copied). The secret
/// and the subkeys are wiped when the last copy is dropped. `Debug` shows
/// the id and the window, never a key.
#[derive(Clone)]
pub struct TicketKey {
    pub(super) id: TicketKeyId,
    pub(super) window: KeyWindow,
    pub(super) material: Arc<KeyMaterial>,
}

impl TicketKey {
    /// Builds a key and derives its AES-256-GCM and HMAC-SHA-256 subkeys.
    ///
    /// The `secret` argument is wiped before returning; the caller's own
    /// copies are the caller's to wipe.
    ///
    /// # Errors
    /// An invalid window ([`KeyWindow::check`]), or
    /// [`KeyRingError::Derivation`].
    pub fn new(
        id: TicketKeyId,
        secret: [u8; TICKET_KEY_SECRET_LEN],
        window: KeyWindow,
    ) -> Result<Self, KeyRingError> {
        let secret = Zeroizing::new(secret);
        window.check(&id)?;
        let material = KeyMaterial::derive(&secret)?;
        Ok(Self {
            id,
            window,
            material: Arc::new(material),
        })
    }

    /// The same key (same material) with another window.
    fn with_window(&self, window: KeyWindow) -> Result<Self, KeyRingError> {
        window.check(&self.id)?;
        Ok(Self {
            id: self.id,
            window,
            material: Arc::clone(&self.material),
        })
    }

    /// The same key (same material) that seals nothing from `now` on and
    /// opens tickets exactly as before: a key kept only for the tickets it
    /// may have sealed (a cluster follower keeps its own keys this way
    /// beside the cluster's ring). A key that already stopped issuing is
    /// returned as it is; one whose issue window had not started by `now`
    /// gets the window `[now - 1, now)`, so it never seals.
    ///
    /// # Errors
    /// [`KeyRingError::EmptyIssueWindow`] only at `now == 0`.
    pub fn retired_at(&self, now: UnixSeconds) -> Result<Self, KeyRingError> {
        if self.window.issue_until <= now {
            return Ok(self.clone());
        }
        self.with_window(KeyWindow {
            issue_from: self.window.issue_from.min(now.saturating_sub(1)),
            issue_until: now,
            accept_until: self.window.accept_until,
        })
    }

    /// The key id.
    pub fn id(&self) -> &TicketKeyId {
        &self.id
    }

    /// The key's time windows.
    pub fn window(&self) -> KeyWindow {
        self.window
    }

    /// First second at which the key may seal.
    pub fn issue_from(&self) -> UnixSeconds {
        self.window.issue_from
    }

    /// First second at which the key no longer seals.
    pub fn issue_until(&self) -> UnixSeconds {
        self.window.issue_until
    }

    /// First second at which the key no longer opens tickets.
    pub fn accept_until(&self) -> UnixSeconds {
        self.window.accept_until
    }

    /// The AES-256-GCM key that seals and opens tickets by value.
    pub fn aead(&self) -> &AesGcmKey {
        &self.material.aead
    }

    /// The HMAC-SHA-256 key for the MAC on tickets by reference, keyed
    /// once (`compute` writes the 32-byte MAC).
    pub fn ref_mac(&self) -> &PrfKey {
        &self.material.ref_mac
    }

    /// The raw 32 bytes of the by-reference MAC key, for callers that key
    /// their own HMAC (e.g. a multi-buffer kernel). Prefer
    /// [`TicketKey::ref_mac`].
    pub fn ref_mac_key(&self) -> &[u8] {
        self.material.ref_mac_key.as_bytes()
    }

    /// Whether `other` has the same secret, compared in constant time.
    pub fn same_secret(&self, other: &TicketKey) -> bool {
        self.material.secret.ct_eq(&other.material.secret)
    }
}

impl fmt::Debug for TicketKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TicketKey")
            .field("id", &format_args!("{}", IdHex(&self.id)))
            .field("issue_from", &self.window.issue_from)
            .field("issue_until", &self.window.issue_until)
            .field("accept_until", &self.window.accept_until)
            .field("secret", &"redacted")
            .finish()
    }
}

// --- Policy ---

/// How a ring rotates: a new key every `rotate_every` seconds, each key
/// accepted for `accept_for` seconds after it stops issuing.
///
/// RFC 5723 §6.2: "The key that is used to protect the ticket MUST have a
/// lifetime that is significantly longer than the lifetime of an IKE SA."
/// §9.5, among its RECOMMENDED practices: "The keys should be changed
/// regularly."
///
/// Every key therefore gets a finite `accept_until`, and the defaults
/// (rotate every 6 h, accept for 12 h more: 18 h of life) are well above the
/// usual IKE SA lifetimes of 1 to 8 hours. `accept_for` must also be at least
/// the longest ticket lifetime the gateway grants, or a ticket sealed just
/// before its key stopped issuing would outlive the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyPolicy {
    /// Seconds a new key issues for.
    pub rotate_every: u64,
    /// Seconds a key keeps opening tickets after it stops issuing.
    pub accept_for: u64,
}

impl KeyPolicy {
    /// The default rotation period: 6 hours.
    pub const DEFAULT_ROTATE_EVERY: u64 = 6 * 3600;
    /// The default acceptance after issuing ends: 12 hours.
    pub const DEFAULT_ACCEPT_FOR: u64 = 12 * 3600;

    /// The window of a key that starts issuing at `now`: issue for
    /// `rotate_every`, then accept for `accept_for` more (saturating at the
    /// end of time).
    ///
    /// # Errors
    /// [`KeyRingError::ZeroRotationPeriod`].
    pub fn window_from(&self, now: UnixSeconds) -> Result<KeyWindow, KeyRingError> {
        if self.rotate_every == 0 {
            return Err(KeyRingError::ZeroRotationPeriod);
        }
        let issue_until = now.saturating_add(self.rotate_every);
        Ok(KeyWindow {
            issue_from: now,
            issue_until,
            accept_until: issue_until.saturating_add(self.accept_for),
        })
    }
}

impl Default for KeyPolicy {
    fn default() -> Self {
        Self {
            rotate_every: Self::DEFAULT_ROTATE_EVERY,
            accept_for: Self::DEFAULT_ACCEPT_FOR,
        }
    }
}

// --- The ring ---

/// What a key does at a given instant, as seen by its ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyState {
    /// The ring's issuing key: it seals new tickets.
    Issuing,
    /// Opens tickets but does not seal (its issue window is over, or a
    /// newer key took over).
    Accepting,
    /// Opens tickets and will start issuing later (`issue_from > now`).
    Pending,
    /// Past `accept_until`: opens nothing.
    Expired,
}

impl KeyState {
    /// A lowercase name for listings.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Issuing => "issuing",
            Self::Accepting => "accepting",
            Self::Pending => "pending",
            Self::Expired => "expired",
        }
    }
}

/// An immutable snapshot of ticket keys, in file order.
///
/// A ring holds a handful of keys, so lookups are linear scans over a small
/// contiguous `Vec`: no hashing, no allocation. `Default` is the empty ring
/// (no tickets issued or accepted), the starting point of the first
/// [`TicketKeyRing::rotate`].
#[derive(Clone, Default)]
pub struct TicketKeyRing {
    pub(super) keys: Vec<TicketKey>,
}

impl TicketKeyRing {
    /// A ring of `keys`, kept in the given order.
    ///
    /// # Errors
    /// [`KeyRingError::DuplicateKeyId`] if two keys share an id.
    pub fn new(keys: Vec<TicketKey>) -> Result<Self, KeyRingError> {
        for (i, key) in keys.iter().enumerate() {
            if keys.iter().skip(i + 1).any(|k| k.id == key.id) {
                return Err(KeyRingError::DuplicateKeyId { id: key.id });
            }
        }
        Ok(Self { keys })
    }

    /// Every key, in order (including expired ones not yet dropped).
    pub fn keys(&self) -> &[TicketKey] {
        &self.keys
    }

    /// The number of keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the ring has no key at all.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The key with this id, whatever its window.
    pub fn get(&self, id: &TicketKeyId) -> Option<&TicketKey> {
        self.keys.iter().find(|k| k.id == *id)
    }

    /// The key that seals tickets at `now`: among the keys whose issue
    /// window contains `now`, the newest (latest `issue_from`; on a tie, the
    /// later in the ring). `None` if no key issues now: the gateway then
    /// grants no ticket.
    pub fn issuing_key(&self, now: UnixSeconds) -> Option<&TicketKey> {
        let mut best: Option<&TicketKey> = None;
        for key in self.keys.iter().filter(|k| k.window.issues_at(now)) {
            if best.is_none_or(|b| key.window.issue_from >= b.window.issue_from) {
                best = Some(key);
            }
        }
        best
    }

    /// The key that opens a ticket naming `id` at `now`: that key if
    /// `now < accept_until` (no lower bound, see the module docs). `None`
    /// answers TICKET_NACK (`TicketReject::UnknownKey`).
    pub fn accepting_key(&self, id: &TicketKeyId, now: UnixSeconds) -> Option<&TicketKey> {
        self.get(id).filter(|k| k.window.accepts_at(now))
    }

    /// What the key with this id does at `now`; `None` if no such key.
    pub fn state(&self, id: &TicketKeyId, now: UnixSeconds) -> Option<KeyState> {
        let key = self.get(id)?;
        let state = if !key.window.accepts_at(now) {
            KeyState::Expired
        } else if self.issuing_key(now).is_some_and(|k| k.id == *id) {
            KeyState::Issuing
        } else if key.window.issue_from > now {
            KeyState::Pending
        } else {
            KeyState::Accepting
        };
        Some(state)
    }

    /// The ring without the keys that no longer accept at `now`.
    pub fn without_expired(&self, now: UnixSeconds) -> TicketKeyRing {
        TicketKeyRing {
            keys: self
                .keys
                .iter()
                .filter(|k| k.window.accepts_at(now))
                .cloned()
                .collect(),
        }
    }

    /// The next ring: a new key that issues from `now` for
    /// `policy.rotate_every` and accepts `policy.accept_for` longer.
    ///
    /// - The new key issues **from `now`**, not from the end of the current
    ///   key's window: rotation is the operator's (or cron's) decision and
    ///   takes effect when made, and there is never a gap with no issuing
    ///   key. Gateways sharing the file should load it promptly; one that
    ///   has not yet loaded it answers tickets under the new key with
    ///   TICKET_NACK and the client falls back to a full exchange, which is
    ///   safe.
    /// - Every key issuing at `now` stops issuing at `now`, and keeps
    ///   accepting until its own accept_until: a ticket it sealed may live
    ///   until then (a ticket's lifetime is bounded by its key's
    ///   accept_until, not by `accept_for`), so an earlier end would strand
    ///   live tickets. (Ending a key's acceptance early, for a compromised
    ///   key, is a new key file and a restart, not a rotation.)
    /// - Keys whose `accept_until <= now` are dropped; pending keys (issuing
    ///   later) are kept unchanged.
    /// - The new key goes last. `new_secret` is wiped before returning.
    ///
    /// # Errors
    /// [`KeyRingError::ZeroRotationPeriod`], [`KeyRingError::DuplicateKeyId`]
    /// if `new_id` is already in the ring, [`KeyRingError::RotatedTooSoon`]
    /// if the issuing key started issuing at `now`.
    pub fn rotate(
        &self,
        now: UnixSeconds,
        new_secret: [u8; TICKET_KEY_SECRET_LEN],
        new_id: TicketKeyId,
        policy: &KeyPolicy,
    ) -> Result<TicketKeyRing, KeyRingError> {
        let new_secret = Zeroizing::new(new_secret);
        let new_window = policy.window_from(now)?;
        let mut keys = Vec::with_capacity(self.keys.len() + 1);
        for key in self.keys.iter().filter(|k| k.window.accepts_at(now)) {
            if key.window.issues_at(now) {
                if key.window.issue_from == now {
                    return Err(KeyRingError::RotatedTooSoon {
                        id: key.id,
                        issue_from: key.window.issue_from,
                    });
                }
                let ended = KeyWindow {
                    issue_from: key.window.issue_from,
                    issue_until: now,
                    accept_until: key.window.accept_until,
                };
                keys.push(key.with_window(ended)?);
            } else {
                keys.push(key.clone());
            }
        }
        keys.push(TicketKey::new(new_id, *new_secret, new_window)?);
        TicketKeyRing::new(keys)
    }
}

impl fmt::Debug for TicketKeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TicketKeyRing")
            .field("keys", &self.keys)
            .finish()
    }
}

// The key file codec lives in `keyfile.rs`; re-exported here so existing
// paths keep working.
pub use super::keyfile::{
    HexProblem, KEY_FILE_HEADER, KeyFileError, KeyFileProblem, format_key_file, parse_key_file,
};

// --- Publication to workers ---

/// The current ring, shared between the control plane (which publishes)
/// and the workers (which read through a [`KeyRingReader`]).
///
/// Publishing takes a lock; reading it in steady state does not: a reader
/// compares a generation counter with one atomic load and only locks, once,
/// after a publish.
#[derive(Debug)]
pub struct KeyRingCell {
    ring: Mutex<Arc<TicketKeyRing>>,
    generation: AtomicU64,
}

impl KeyRingCell {
    /// A cell holding `ring`, at generation 0.
    pub fn new(ring: TicketKeyRing) -> Self {
        Self {
            ring: Mutex::new(Arc::new(ring)),
            generation: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Arc<TicketKeyRing>> {
        // The guarded value is a single `Arc`, replaced by one assignment:
        // a panic elsewhere cannot leave it half-written, so a poisoned lock
        // still holds a valid ring.
        self.ring.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Replaces the ring; readers see it at their next
    /// [`KeyRingReader::current`]. Returns the new generation.
    pub fn publish(&self, ring: TicketKeyRing) -> u64 {
        let ring = Arc::new(ring);
        let mut guard = self.lock();
        *guard = ring;
        // Bumped under the lock, so a reader that reads the generation under
        // the lock gets the one that goes with the ring it sees.
        self.generation.fetch_add(1, Ordering::Release) + 1
    }

    /// The current ring.
    pub fn load(&self) -> Arc<TicketKeyRing> {
        Arc::clone(&*self.lock())
    }

    /// How many times a ring was published.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }
}

/// A worker's view of a [`KeyRingCell`]: a cached snapshot refreshed only
/// when the cell's generation changed.
#[derive(Debug)]
pub struct KeyRingReader {
    cell: Arc<KeyRingCell>,
    cached: Arc<TicketKeyRing>,
    seen_generation: u64,
}

impl KeyRingReader {
    /// A reader that starts with the cell's current ring.
    pub fn new(cell: Arc<KeyRingCell>) -> Self {
        let (cached, seen_generation) = {
            let guard = cell.lock();
            (Arc::clone(&*guard), cell.generation.load(Ordering::Acquire))
        };
        Self {
            cell,
            cached,
            seen_generation,
        }
    }

    /// The latest published ring. Steady state: one atomic load; after a
    /// publish, one lock to take the new snapshot.
    pub fn current(&mut self) -> &TicketKeyRing {
        if self.cell.generation.load(Ordering::Acquire) != self.seen_generation {
            let guard = self.cell.lock();
            self.cached = Arc::clone(&*guard);
            self.seen_generation = self.cell.generation.load(Ordering::Acquire);
        }
        &self.cached
    }

    /// The generation of the snapshot last returned by
    /// [`KeyRingReader::current`].
    pub fn seen_generation(&self) -> u64 {
        self.seen_generation
    }
}
