//! The two ticket formats on the wire, sealing and batch opening. The byte
//! layouts are documented in docs/TICKETS.md.
//!
//! By value (RFC 5723 §6.1, Appendix A "ticket by value"):
//!
//! ```text
//! version (1) | key id (8) | ticket id (16) | AES-256-GCM(state) | tag (16)
//! \____________ clear header = AAD ________/
//! ```
//!
//! The GCM nonce is the first 96 bits of the random ticket id, so the
//! header carries the nonce and the id in 16 bytes instead of 28.
//!
//! By reference (§6.1 "ticket by reference"):
//!
//! ```text
//! version (1) | key id (8) | reference = ticket id (16) | expiry (8) | HMAC-SHA256-128 (16)
//! ```
//!
//! Both start with the same version byte and key id; the gateway tells them
//! apart by length (a reference ticket is exactly 49 bytes, a by-value
//! ticket always longer). To the client both are opaque octets.

use rebound_kernels::gcm::{self, KeyedOpenJob, OpenJob};
use subtle::ConstantTimeEq;

use crate::crypto::{GCM_NONCE_LEN, GCM_TAG_LEN};
use crate::rand::RandomSource;

use super::cluster::ClusterLedger;
use super::guard::SingleUseGuard;
use super::keyring::{TICKET_KEY_ID_LEN as KEY_ID_LEN, TicketKey, TicketKeyRing};
use super::revocation::RevocationList;
use super::state::{MAX_ENCODED_STATE, StateEncodeError, TicketState};
use super::store::{StoreError, TicketStore};
use super::types::{TICKET_ID_LEN, TicketId, TicketReject, UnixSeconds};

/// Format version of both ticket kinds.
pub const TICKET_VERSION: u8 = 1;
/// Length of the clear header (version, key id, ticket id).
pub const HEADER_LEN: usize = 1 + KEY_ID_LEN + TICKET_ID_LEN;
/// Length of a by-reference ticket.
pub const REFERENCE_TICKET_LEN: usize = HEADER_LEN + 8 + REF_MAC_LEN;
const REF_MAC_LEN: usize = 16;
/// The longest by-value ticket this gateway ever issues; anything longer is
/// refused before decryption.
pub const MAX_VALUE_TICKET_LEN: usize = HEADER_LEN + MAX_ENCODED_STATE + GCM_TAG_LEN;

/// Which kind of ticket to issue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketKind {
    /// The state travels in the ticket, encrypted and authenticated.
    ByValue,
    /// The state stays in a [`TicketStore`]; the ticket names it.
    ByReference,
}

/// Why a ticket could not be issued.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SealError {
    /// No key is inside its issuing window: the key file needs rotating.
    NoIssuingKey,
    /// The state cannot be encoded.
    State(StateEncodeError),
    /// The output buffer is smaller than the ticket.
    BufferTooSmall { need: usize },
    /// The store refused the state (by reference only).
    Store(StoreError),
    /// Encryption failed (cannot happen with a valid key; reported, not
    /// unwrapped).
    Crypto,
    /// The state's expiry is not after `now`, or lies beyond the issuing
    /// key's accept-until (the ticket could never be opened).
    Lifetime,
}

impl core::fmt::Display for SealError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SealError::NoIssuingKey => write!(f, "no ticket key is inside its issuing window"),
            SealError::State(e) => write!(f, "ticket state: {e}"),
            SealError::BufferTooSmall { need } => write!(f, "ticket buffer too small: need {need}"),
            SealError::Store(e) => write!(f, "{e}"),
            SealError::Crypto => write!(f, "ticket encryption failed"),
            SealError::Lifetime => write!(
                f,
                "ticket expiry must lie after now and before the key's accept-until"
            ),
        }
    }
}

impl std::error::Error for SealError {}

fn header(key: &TicketKey, id: &TicketId) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[0] = TICKET_VERSION;
    h[1..1 + KEY_ID_LEN].copy_from_slice(key.id());
    h[1 + KEY_ID_LEN..].copy_from_slice(id.as_bytes());
    h
}

fn nonce(id: &[u8; TICKET_ID_LEN]) -> [u8; GCM_NONCE_LEN] {
    let mut n = [0u8; GCM_NONCE_LEN];
    n.copy_from_slice(&id[..GCM_NONCE_LEN]);
    n
}

fn ref_mac(key: &TicketKey, covered: &[u8]) -> Option<[u8; REF_MAC_LEN]> {
    let mut full = [0u8; 32];
    key.ref_mac().compute(&[covered], &mut full).ok()?;
    let mut t = [0u8; REF_MAC_LEN];
    t.copy_from_slice(&full[..REF_MAC_LEN]);
    Some(t)
}

/// `state` sealed by value under `key`, with the id it carries.
fn seal_value(state: &TicketState, key: &TicketKey, out: &mut [u8]) -> Result<usize, SealError> {
    let id = &state.ticket_id;
    let need = HEADER_LEN + state.encoded_len() + GCM_TAG_LEN;
    if out.len() < need {
        return Err(SealError::BufferTooSmall { need });
    }
    let (hdr, rest) = out.split_at_mut(HEADER_LEN);
    hdr.copy_from_slice(&header(key, id));
    let n = state.encode(rest).map_err(SealError::State)?;
    let (body, tail) = rest.split_at_mut(n);
    let tag = key
        .aead()
        .seal_in_place_detached(&nonce(id.as_bytes()), hdr, body)
        .map_err(|_| SealError::Crypto)?;
    tail[..GCM_TAG_LEN].copy_from_slice(&tag);
    Ok(need)
}

/// A by-reference ticket's state as a cluster's stub bank keeps it: sealed
/// by value under the ring's issuing key *with its own id* (so the stub
/// opens only as that ticket's state, and the bank never holds SK_d in
/// clear). The by-reference ticket itself is a MAC under the key, never
/// an AES-GCM seal, so the id's nonce is used once under the key.
pub fn seal_stub(
    state: &TicketState,
    ring: &TicketKeyRing,
    now: UnixSeconds,
    out: &mut [u8],
) -> Result<usize, SealError> {
    let key = ring.issuing_key(now).ok_or(SealError::NoIssuingKey)?;
    if state.expiry <= now {
        return Err(SealError::Lifetime);
    }
    seal_value(state, key, out)
}

/// Issue a ticket for `state` into `out`; returns its length.
///
/// The ticket id is drawn here, from `rng`, and written into
/// `state.ticket_id`: it is the AES-GCM nonce, so every seal must use a
/// fresh one, and the caller cannot get that wrong. A by-reference ticket's
/// store entry is created only if the id is new.
pub fn seal(
    kind: TicketKind,
    state: &mut TicketState,
    ring: &TicketKeyRing,
    store: Option<&dyn TicketStore>,
    rng: &mut dyn RandomSource,
    now: UnixSeconds,
    out: &mut [u8],
) -> Result<usize, SealError> {
    let key = ring.issuing_key(now).ok_or(SealError::NoIssuingKey)?;
    if state.expiry <= now || state.expiry > key.accept_until() {
        return Err(SealError::Lifetime);
    }
    let mut fresh = [0u8; TICKET_ID_LEN];
    rng.fill(&mut fresh);
    state.ticket_id = TicketId(fresh);
    let state = &*state;
    let id = &state.ticket_id;
    match kind {
        TicketKind::ByValue => seal_value(state, key, out),
        TicketKind::ByReference => {
            if out.len() < REFERENCE_TICKET_LEN {
                return Err(SealError::BufferTooSmall {
                    need: REFERENCE_TICKET_LEN,
                });
            }
            let store = store.ok_or(SealError::Store(StoreError::Backend(
                "by-reference ticket without a store".into(),
            )))?;
            store.put(id, state, now).map_err(SealError::Store)?;
            out[..HEADER_LEN].copy_from_slice(&header(key, id));
            out[HEADER_LEN..HEADER_LEN + 8].copy_from_slice(&state.expiry.to_be_bytes());
            let mac = ref_mac(key, &out[..HEADER_LEN + 8]).ok_or(SealError::Crypto)?;
            out[HEADER_LEN + 8..REFERENCE_TICKET_LEN].copy_from_slice(&mac);
            Ok(REFERENCE_TICKET_LEN)
        }
    }
}

/// What opening consults besides the key ring. Every part is optional so a
/// caller can open without, say, a store when it issues only by value.
#[derive(Clone, Copy, Default)]
pub struct OpenContext<'a> {
    pub store: Option<&'a dyn TicketStore>,
    pub revocations: Option<&'a RevocationList>,
    /// Consulted read-only: a ticket is *claimed* only when the resumed
    /// IKE_AUTH succeeds (RFC 5723 §4.3.1), by the responder.
    pub guard: Option<&'a dyn SingleUseGuard>,
    /// A gateway of a cluster: after the local checks, whether the
    /// cluster gave this gateway the ticket (`Pending` until it says).
    pub cluster: Option<&'a ClusterLedger>,
}

/// A reusable output slot for [`open_batch`]: a worker allocates its slots
/// once and every burst overwrites them.
#[derive(Debug, Clone)]
pub struct OpenSlot {
    /// Meaningful only when `result` is `Ok`.
    pub state: TicketState,
    pub result: Result<(), TicketReject>,
}

impl Default for OpenSlot {
    fn default() -> Self {
        OpenSlot {
            state: TicketState::placeholder(),
            result: Err(TicketReject::Malformed),
        }
    }
}

/// Open one ticket into a fresh state.
pub fn open(
    ticket: &[u8],
    ring: &TicketKeyRing,
    ctx: &OpenContext<'_>,
    now: UnixSeconds,
) -> Result<TicketState, TicketReject> {
    let mut s = TicketState::placeholder();
    open_into(ticket, ring, ctx, now, &mut s)?;
    Ok(s)
}

/// Open one ticket into `out`, overwriting it. Scratch space for
/// decryption is on the stack; nothing is allocated. On error `out` holds
/// no key.
pub fn open_into(
    ticket: &[u8],
    ring: &TicketKeyRing,
    ctx: &OpenContext<'_>,
    now: UnixSeconds,
    out: &mut TicketState,
) -> Result<(), TicketReject> {
    let r = open_checked(ticket, ring, ctx, now, out);
    if r.is_err() {
        out.sk_d = crate::crypto::SecretBuf::empty();
    }
    r
}

/// The clear part of a ticket, checked: version, length bound, key.
struct Header<'r> {
    key: &'r TicketKey,
    id: TicketId,
}

fn check_header<'r>(
    ticket: &[u8],
    ring: &'r TicketKeyRing,
    now: UnixSeconds,
) -> Result<Header<'r>, TicketReject> {
    if ticket.len() < HEADER_LEN {
        return Err(TicketReject::Malformed);
    }
    if ticket[0] != TICKET_VERSION {
        return Err(TicketReject::UnknownVersion);
    }
    // RFC 5723 §6.1 / design.md: a ciphertext longer than the longest we
    // ever issue is refused before any decryption work.
    if ticket.len() > MAX_VALUE_TICKET_LEN {
        return Err(TicketReject::TooLong);
    }
    let mut key_id = [0u8; KEY_ID_LEN];
    key_id.copy_from_slice(&ticket[1..1 + KEY_ID_LEN]);
    let mut id = [0u8; TICKET_ID_LEN];
    id.copy_from_slice(&ticket[1 + KEY_ID_LEN..HEADER_LEN]);
    let key = ring
        .accepting_key(&key_id, now)
        .ok_or(TicketReject::UnknownKey)?;
    Ok(Header {
        key,
        id: TicketId(id),
    })
}

/// A by-value ticket split for decryption: header (the AAD), ciphertext,
/// tag.
type ValueParts<'t> = (&'t [u8], &'t [u8], [u8; GCM_TAG_LEN]);

fn split_value(ticket: &[u8]) -> Result<ValueParts<'_>, TicketReject> {
    if ticket.len() < HEADER_LEN + GCM_TAG_LEN + 1 {
        return Err(TicketReject::Malformed);
    }
    let (hdr, rest) = ticket.split_at(HEADER_LEN);
    let (ct, tag) = rest.split_at(rest.len() - GCM_TAG_LEN);
    let mut t = [0u8; GCM_TAG_LEN];
    t.copy_from_slice(tag);
    Ok((hdr, ct, t))
}

fn open_checked(
    ticket: &[u8],
    ring: &TicketKeyRing,
    ctx: &OpenContext<'_>,
    now: UnixSeconds,
    state: &mut TicketState,
) -> Result<(), TicketReject> {
    let Header { key, id } = check_header(ticket, ring, now)?;
    if ticket.len() == REFERENCE_TICKET_LEN {
        open_reference(ticket, key, id, ctx, now, state)?;
    } else {
        let (hdr, ct, tag) = split_value(ticket)?;
        let mut buf = [0u8; MAX_ENCODED_STATE];
        let pt = &mut buf[..ct.len()];
        pt.copy_from_slice(ct);
        // The tag is compared in constant time, and a forged ticket leaves
        // no plaintext behind (the buffer is zeroed).
        let opened = key
            .aead()
            .open_in_place_detached(&nonce(&id.0), hdr, pt, &tag);
        let r = opened
            .map_err(|_| TicketReject::BadTag)
            .and_then(|()| state.decode_into(id, pt));
        // The plaintext held SK_d: wipe the part of the scratch copy used.
        zeroize::Zeroize::zeroize(pt);
        r?;
    }
    check_state(state, ctx, now)
}

/// A by-reference ticket: MAC, expiry, revocation and single use by its
/// id, then the state from the store.
fn open_reference(
    ticket: &[u8],
    key: &TicketKey,
    id: TicketId,
    ctx: &OpenContext<'_>,
    now: UnixSeconds,
    state: &mut TicketState,
) -> Result<(), TicketReject> {
    let covered = &ticket[..HEADER_LEN + 8];
    let mac = ref_mac(key, covered).ok_or(TicketReject::BadTag)?;
    // Constant time: the comparison's duration does not depend on where
    // a forged MAC differs.
    if !bool::from(mac.ct_eq(&ticket[HEADER_LEN + 8..])) {
        return Err(TicketReject::BadTag);
    }
    let mut e = [0u8; 8];
    e.copy_from_slice(&ticket[HEADER_LEN..HEADER_LEN + 8]);
    let expiry = u64::from_be_bytes(e);
    if expiry <= now {
        return Err(TicketReject::Expired);
    }
    // A used or revoked ticket's state has left the store: its id and
    // expiry (authenticated by the MAC) still say why it is refused,
    // `revoked` or `reused` rather than `not_found`.
    if let Some(rev) = ctx.revocations {
        rev.check_ticket(&id, now)?;
    }
    if let Some(g) = ctx.guard
        && g.is_claimed(&id, expiry, now)
    {
        return Err(TicketReject::Reused);
    }
    let store = ctx.store.ok_or(TicketReject::NotFound)?;
    let local = store.get(&id, now).map_err(|_| TicketReject::NotFound)?;
    *state = match (local, ctx.cluster) {
        (Some(s), _) => s,
        // Not held here: the cluster's stub bank, taken with the claim.
        (None, Some(c)) => {
            // Named even while pending: the responder withdraws the
            // question of a request it refuses before it waits.
            state.ticket_id = id;
            c.check(&id, expiry, true)?;
            c.stub(&id).ok_or(TicketReject::NotFound)?
        }
        (None, None) => return Err(TicketReject::NotFound),
    };
    if state.ticket_id != id {
        return Err(TicketReject::Malformed);
    }
    Ok(())
}

/// What every opened state must pass: expiry, revocation (by id and by
/// identity), single use.
fn check_state(
    state: &TicketState,
    ctx: &OpenContext<'_>,
    now: UnixSeconds,
) -> Result<(), TicketReject> {
    if state.expiry <= now {
        return Err(TicketReject::Expired);
    }
    if let Some(rev) = ctx.revocations {
        let mut key = [0u8; 1 + super::state::MAX_ID_DATA];
        let n = state.id_i.revocation_key(&mut key);
        rev.check(&state.ticket_id, &key[..n], state.issued_at, now)?;
        // RFC 5723 §9.7 / §6.2: revoking a user must catch their tickets
        // whatever IDi they used; the authenticated identity (Note 1) is
        // the user when it differs from IDi.
        if let Some(peer) = &state.peer_identity {
            let n = peer.revocation_key(&mut key);
            rev.check(&state.ticket_id, &key[..n], state.issued_at, now)?;
        }
    }
    if let Some(g) = ctx.guard
        && g.is_claimed(&state.ticket_id, state.expiry, now)
    {
        return Err(TicketReject::Reused);
    }
    if let Some(c) = ctx.cluster {
        c.check(&state.ticket_id, state.expiry, false)?;
    }
    Ok(())
}

/// Where [`open_batch`] puts an opened ticket's state: an [`OpenSlot`], or
/// (the responder) the half-open SA the state will stay in, so it is
/// decoded in place instead of moved there.
pub trait OpenTarget {
    fn state_mut(&mut self) -> &mut TicketState;
    fn set_result(&mut self, result: Result<(), TicketReject>);
}

impl OpenTarget for OpenSlot {
    fn state_mut(&mut self) -> &mut TicketState {
        &mut self.state
    }
    fn set_result(&mut self, result: Result<(), TicketReject>) {
        self.result = result;
    }
}

/// The most tickets [`open_batch`] decrypts in one call of the batch
/// kernel (a longer batch is processed in pieces of this size).
pub const MAX_OPEN_BATCH: usize = 64;

/// Open a batch of tickets: `slots[i]` receives the result for
/// `tickets[i]`; returns how many were processed (the shorter length).
/// Equivalent to [`open_into`] on each, but the by-value tickets are
/// decrypted together: the AES-GCM batch kernel runs over the counter
/// blocks of all of them under their key (neighbours sharing a key, as
/// nearly all of a burst do, share one pass).
pub fn open_batch<T: OpenTarget>(
    tickets: &[&[u8]],
    ring: &TicketKeyRing,
    ctx: &OpenContext<'_>,
    now: UnixSeconds,
    slots: &mut [T],
) -> usize {
    let n = tickets.len().min(slots.len());
    // Scratch for the plaintexts, sized for the batch: a burst of one
    // does not set up sixty-four buffers.
    let mut base = 0;
    while base < n {
        let len = (n - base).min(MAX_OPEN_BATCH);
        let (t, s) = (&tickets[base..base + len], &mut slots[base..base + len]);
        if len <= 4 {
            open_chunk::<T, 4>(t, ring, ctx, now, s);
        } else {
            open_chunk::<T, MAX_OPEN_BATCH>(t, ring, ctx, now, s);
        }
        base += len;
    }
    n
}

/// Record a ticket's result; a refused one's state holds no key (as with
/// [`open_into`]).
fn settle<T: OpenTarget>(slot: &mut T, r: Result<(), TicketReject>) {
    if r.is_err() {
        slot.state_mut().sk_d = crate::crypto::SecretBuf::empty();
    }
    slot.set_result(r);
}

/// A by-value ticket waiting for the batch decryption.
#[derive(Clone, Copy)]
struct Queued<'t, 'r> {
    /// Its index in the chunk.
    at: usize,
    key: &'r TicketKey,
    id: TicketId,
    hdr: &'t [u8],
    ct: &'t [u8],
    tag: [u8; GCM_TAG_LEN],
}

fn open_chunk<T: OpenTarget, const N: usize>(
    tickets: &[&[u8]],
    ring: &TicketKeyRing,
    ctx: &OpenContext<'_>,
    now: UnixSeconds,
    slots: &mut [T],
) {
    // Pass 1: the clear parts. By-reference tickets are opened whole here
    // (a MAC and a store look-up); by-value ones are queued.
    let mut queue: [Option<Queued<'_, '_>>; N] = [None; N];
    let mut q = 0;
    for (at, (ticket, slot)) in tickets.iter().zip(slots.iter_mut()).enumerate() {
        let queued = check_header(ticket, ring, now).and_then(|Header { key, id }| {
            if ticket.len() == REFERENCE_TICKET_LEN {
                let state = slot.state_mut();
                let r = open_reference(ticket, key, id, ctx, now, state)
                    .and_then(|()| check_state(state, ctx, now));
                settle(slot, r);
                return Ok(None);
            }
            let (hdr, ct, tag) = split_value(ticket)?;
            Ok(Some(Queued {
                at,
                key,
                id,
                hdr,
                ct,
                tag,
            }))
        });
        match queued {
            Ok(Some(x)) if q < N => {
                queue[q] = Some(x);
                q += 1;
            }
            Ok(_) => {}
            Err(e) => settle(slot, Err(e)),
        }
    }
    let Some(first) = queue[0] else {
        return;
    };

    // Pass 2: decrypt every queued ticket in one call of the batch kernel.
    let mut bufs = [[0u8; MAX_ENCODED_STATE]; N];
    {
        let mut free = bufs.iter_mut();
        let mut jobs: [KeyedOpenJob<'_>; N] = core::array::from_fn(|l| {
            let x = queue[l].unwrap_or(first);
            let buf: &mut [u8] = match (l < q, free.next()) {
                (true, Some(b)) => {
                    let pt = &mut b[..x.ct.len()];
                    pt.copy_from_slice(x.ct);
                    pt
                }
                _ => &mut [],
            };
            KeyedOpenJob {
                key: x.key.aead().kernel(),
                job: OpenJob::new(nonce(&x.id.0), x.hdr, buf, x.tag),
            }
        });
        gcm::open_keyed(&mut jobs[..q]);
        // Pass 3: decode and check each opened state. The tag was
        // compared in constant time; a forged ticket's buffer is zeroed.
        for (job, x) in jobs[..q].iter_mut().zip(queue.iter().flatten()) {
            let slot = &mut slots[x.at];
            let r = job
                .job
                .result
                .map_err(|_| TicketReject::BadTag)
                .and_then(|()| {
                    let state = slot.state_mut();
                    state
                        .decode_into(x.id, job.job.buf)
                        .and_then(|()| check_state(state, ctx, now))
                });
            settle(slot, r);
            // The plaintext held SK_d.
            zeroize::Zeroize::zeroize(&mut *job.job.buf);
        }
    }
}
