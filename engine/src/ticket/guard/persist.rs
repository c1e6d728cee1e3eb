//! A [`MemoryGuard`] saved to a byte stream and loaded back, so that single
//! use survives a restart of a gateway that has no shared guard: the
//! gateway saves at an interval and once more when it drains, and loads
//! the file at start (docs/TICKETS.md, "Single use across restarts").
//!
//! The format, version 1, every integer big-endian:
//!
//! ```text
//! offset  length  field
//! 0       8       magic "rebguard"
//! 8       4       version = 1
//! 12      8       claims_per_generation
//! 20      8       false_positive_rate (IEEE 754 binary64)
//! 28      8       window_secs
//! 36      8       max_ticket_lifetime_secs
//! 44      4       shards (S)
//! 48      4       bits set per claim (k)
//! 52      4       generation slots (G)
//! 56      8       blocks of one generation in one shard (B)
//! 64      16      the SipHash seed
//! 80      32      SHA-256 of bytes 0..80
//! 112             S shards, each:
//!                   G slots: 1 (1 if the slot holds a generation, else 0),
//!                            8 (the generation), 8 (its claims)
//!                   G·B blocks of 64 bytes (eight 64-bit words),
//!                     slot by slot
//! end − 32  32    SHA-256 of everything before it
//! ```
//!
//! The file is as large as the guard's filters (its size is
//! `112 + S·(17·G + 64·G·B) + 32` bytes), and nothing follows the final
//! checksum.
//!
//! **Saving** takes one shard's lock at a time, copies that shard into a
//! buffer of one shard's size (reused for every shard), releases the lock
//! and only then hashes and writes the copy: claims go on in the other
//! shards meanwhile, and a slow disk never holds a lock. Every claim
//! completed before the save began is in the file; a claim made during
//! the save may or may not be.
//!
//! **Loading** checks the magic, the version and the header's checksum,
//! then compares the layout with the configured one (a guard of another
//! layout would look for ids in other places), and only then allocates the
//! guard and streams the shards into it, a 64 KiB buffer at a time; the
//! final checksum decides whether the guard is returned. Generations that
//! expired while the gateway was down are cleared lazily, as always.

use core::fmt;
use std::io::{self, Read, Write};
use std::sync::atomic::Ordering;

use sha2::{Digest, Sha256};

use super::{BLOCK_BITS, Block, GuardConfig, GuardConfigError, Layout, MemoryGuard};

/// The first eight bytes of a guard state file.
const MAGIC: [u8; 8] = *b"rebguard";
/// The format written, and the only one read.
const VERSION: u32 = 1;
/// Bytes of the header before its checksum.
const HEADER_LEN: usize = 80;
/// Bytes of a SHA-256 digest.
const DIGEST_LEN: usize = 32;
/// Bytes of one slot's record: used flag, generation, claims.
const SLOT_LEN: usize = 17;
/// Bytes of one block in the file.
const BLOCK_LEN: usize = (BLOCK_BITS / 8) as usize;
/// Blocks read at a time when loading (64 KiB).
const READ_BLOCKS: usize = 1024;

/// What [`MemoryGuard::save`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SaveStats {
    /// Bytes written, checksums included.
    pub bytes: u64,
    /// Claims counted in the slots saved (generations already expired
    /// included, until their slot is reused).
    pub claims: u64,
    /// [`MemoryGuard::changes`] as the shards were copied: a later save
    /// that finds the same number has nothing new to write.
    pub changes: u64,
}

/// Why [`MemoryGuard::load`] refused a saved guard.
#[derive(Debug)]
#[non_exhaustive]
pub enum GuardLoadError {
    /// Reading failed.
    Io(io::Error),
    /// The stream ended before the guard did.
    Truncated,
    /// Not a guard state (the first eight bytes are not `rebguard`).
    BadMagic,
    /// A format version this build does not read.
    UnsupportedVersion(u32),
    /// The header's or the whole file's SHA-256 does not match: the bytes
    /// were changed after they were written.
    ChecksumMismatch,
    /// The guard was saved with another layout than the configured one.
    LayoutMismatch {
        /// The setting that differs: a [`GuardConfig`] field
        /// (`claims_per_generation`, `false_positive_rate`, `window_secs`,
        /// `max_ticket_lifetime_secs`, `shards`), or a size worked out from
        /// them (`hashes`, `generations`, `blocks_per_slice`: another
        /// build sized the same settings differently).
        parameter: &'static str,
        /// Its value in the saved guard.
        saved: String,
        /// Its value in the configuration.
        configured: String,
    },
    /// The configuration itself cannot build a guard.
    Config(GuardConfigError),
    /// The checksums match but the content is impossible (a slot holding a
    /// generation of another slot, an unused slot with claims or bits):
    /// written by something other than [`MemoryGuard::save`].
    Inconsistent(&'static str),
    /// Bytes follow the final checksum.
    TrailingData,
}

impl fmt::Display for GuardLoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GuardLoadError::Io(e) => write!(f, "cannot read the saved guard: {e}"),
            GuardLoadError::Truncated => f.write_str(
                "truncated: the saved guard ends early (an interrupted copy, or a full disk)",
            ),
            GuardLoadError::BadMagic => f.write_str(
                "not a saved single-use guard (the file does not start with \"rebguard\")",
            ),
            GuardLoadError::UnsupportedVersion(v) => write!(
                f,
                "saved in format version {v}; this build reads version {VERSION}"
            ),
            GuardLoadError::ChecksumMismatch => f.write_str(
                "checksum mismatch: the saved guard was changed or damaged after it was written",
            ),
            GuardLoadError::LayoutMismatch {
                parameter,
                saved,
                configured,
            } => write!(
                f,
                "saved with {parameter} = {saved} but configured with {parameter} = {configured}: \
                 a guard of another layout cannot be loaded"
            ),
            GuardLoadError::Config(e) => e.fmt(f),
            GuardLoadError::Inconsistent(what) => {
                write!(f, "inconsistent content behind a valid checksum: {what}")
            }
            GuardLoadError::TrailingData => f.write_str("data follows the final checksum"),
        }
    }
}

impl std::error::Error for GuardLoadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            GuardLoadError::Io(e) => Some(e),
            GuardLoadError::Config(e) => Some(e),
            _ => None,
        }
    }
}

/// The header's fields after the magic and version.
struct Header {
    claims_per_generation: u64,
    false_positive_rate: f64,
    window_secs: u64,
    max_ticket_lifetime_secs: u64,
    shards: u32,
    hashes: u32,
    generations: u32,
    blocks_per_slice: u64,
    seed: [u8; 16],
}

impl Header {
    fn of(guard: &MemoryGuard) -> Result<Header, io::Error> {
        let c = &guard.config;
        let l = &guard.layout;
        let narrow = |v: usize| {
            u32::try_from(v).map_err(|_| io::Error::other("guard layout too large to save"))
        };
        let mut seed = [0u8; 16];
        seed[..8].copy_from_slice(&guard.k0.to_le_bytes());
        seed[8..].copy_from_slice(&guard.k1.to_le_bytes());
        Ok(Header {
            claims_per_generation: c.claims_per_generation,
            false_positive_rate: c.false_positive_rate,
            window_secs: c.window_secs,
            max_ticket_lifetime_secs: c.max_ticket_lifetime_secs,
            shards: narrow(l.shards)?,
            hashes: l.hashes,
            generations: narrow(l.generations)?,
            blocks_per_slice: l.blocks_per_slice as u64,
            seed,
        })
    }

    fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0..8].copy_from_slice(&MAGIC);
        b[8..12].copy_from_slice(&VERSION.to_be_bytes());
        b[12..20].copy_from_slice(&self.claims_per_generation.to_be_bytes());
        b[20..28].copy_from_slice(&self.false_positive_rate.to_bits().to_be_bytes());
        b[28..36].copy_from_slice(&self.window_secs.to_be_bytes());
        b[36..44].copy_from_slice(&self.max_ticket_lifetime_secs.to_be_bytes());
        b[44..48].copy_from_slice(&self.shards.to_be_bytes());
        b[48..52].copy_from_slice(&self.hashes.to_be_bytes());
        b[52..56].copy_from_slice(&self.generations.to_be_bytes());
        b[56..64].copy_from_slice(&self.blocks_per_slice.to_be_bytes());
        b[64..80].copy_from_slice(&self.seed);
        b
    }

    /// The fields of a header whose magic and version were checked.
    fn decode(b: &[u8; HEADER_LEN]) -> Header {
        let u64_at = |i: usize| u64::from_be_bytes(b[i..i + 8].try_into().unwrap_or([0; 8]));
        let u32_at = |i: usize| u32::from_be_bytes(b[i..i + 4].try_into().unwrap_or([0; 4]));
        let mut seed = [0u8; 16];
        seed.copy_from_slice(&b[64..80]);
        Header {
            claims_per_generation: u64_at(12),
            false_positive_rate: f64::from_bits(u64_at(20)),
            window_secs: u64_at(28),
            max_ticket_lifetime_secs: u64_at(36),
            shards: u32_at(44),
            hashes: u32_at(48),
            generations: u32_at(52),
            blocks_per_slice: u64_at(56),
            seed,
        }
    }

    /// The first parameter in which this saved header differs from the
    /// configured guard's.
    fn mismatch(&self, c: &GuardConfig, l: &Layout) -> Option<GuardLoadError> {
        let differ = |parameter, saved: String, configured: String| {
            Some(GuardLoadError::LayoutMismatch {
                parameter,
                saved,
                configured,
            })
        };
        if self.claims_per_generation != c.claims_per_generation {
            return differ(
                "claims_per_generation",
                self.claims_per_generation.to_string(),
                c.claims_per_generation.to_string(),
            );
        }
        if self.false_positive_rate.to_bits() != c.false_positive_rate.to_bits() {
            return differ(
                "false_positive_rate",
                self.false_positive_rate.to_string(),
                c.false_positive_rate.to_string(),
            );
        }
        if self.window_secs != c.window_secs {
            return differ(
                "window_secs",
                self.window_secs.to_string(),
                c.window_secs.to_string(),
            );
        }
        if self.max_ticket_lifetime_secs != c.max_ticket_lifetime_secs {
            return differ(
                "max_ticket_lifetime_secs",
                self.max_ticket_lifetime_secs.to_string(),
                c.max_ticket_lifetime_secs.to_string(),
            );
        }
        if u64::from(self.shards) != l.shards as u64 {
            return differ("shards", self.shards.to_string(), l.shards.to_string());
        }
        if self.hashes != l.hashes {
            return differ("hashes", self.hashes.to_string(), l.hashes.to_string());
        }
        if u64::from(self.generations) != l.generations as u64 {
            return differ(
                "generations",
                self.generations.to_string(),
                l.generations.to_string(),
            );
        }
        if self.blocks_per_slice != l.blocks_per_slice as u64 {
            return differ(
                "blocks_per_slice",
                self.blocks_per_slice.to_string(),
                l.blocks_per_slice.to_string(),
            );
        }
        None
    }
}

/// A writer that hashes and counts what goes through it.
struct Hashing<'a> {
    w: &'a mut dyn Write,
    hash: Sha256,
    bytes: u64,
}

impl Hashing<'_> {
    fn put(&mut self, b: &[u8]) -> io::Result<()> {
        self.hash.update(b);
        self.bytes += b.len() as u64;
        self.w.write_all(b)
    }
}

/// A reader that hashes what it reads; the end of the stream is
/// [`GuardLoadError::Truncated`].
struct Hashed<'a> {
    r: &'a mut dyn Read,
    hash: Sha256,
}

impl Hashed<'_> {
    fn take(&mut self, buf: &mut [u8]) -> Result<(), GuardLoadError> {
        read_all(self.r, buf)?;
        self.hash.update(&*buf);
        Ok(())
    }
}

fn read_all(r: &mut dyn Read, buf: &mut [u8]) -> Result<(), GuardLoadError> {
    r.read_exact(buf).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => GuardLoadError::Truncated,
        _ => GuardLoadError::Io(e),
    })
}

impl MemoryGuard {
    /// Successful claims since this guard was built or loaded, summed over
    /// the shards (each read under its lock). It only grows; a save whose
    /// [`SaveStats::changes`] equals it has nothing new to write.
    pub fn changes(&self) -> u64 {
        self.shards.iter().map(|s| s.lock().changes).sum()
    }

    /// Write the whole guard to `w` in the state file format (version 1,
    /// docs/TICKETS.md, "Single use across restarts"): one shard at a time, each copied under its
    /// lock, so claims continue in the other shards. Every claim that
    /// completed before the call is in the output. Needs one shard's worth
    /// of buffer (`memory_bytes / shards`). An error leaves `w` with a
    /// partial guard that [`load`](Self::load) refuses.
    pub fn save(&self, w: &mut dyn Write) -> io::Result<SaveStats> {
        let header = Header::of(self)?;
        let mut out = Hashing {
            w,
            hash: Sha256::new(),
            bytes: 0,
        };
        let head = header.encode();
        out.put(&head)?;
        let head_digest = Sha256::digest(head);
        out.put(&head_digest)?;
        let g = self.layout.generations;
        let bps = self.layout.blocks_per_slice;
        let shard_len = g * SLOT_LEN + g * bps * BLOCK_LEN;
        let mut buf: Vec<u8> = Vec::with_capacity(shard_len);
        let (mut claims, mut changes) = (0u64, 0u64);
        for shard in self.shards.iter() {
            buf.clear();
            {
                let st = shard.lock();
                for (tag, &n) in st.tags.iter().zip(st.claims.iter()) {
                    buf.push(u8::from(tag.is_some()));
                    buf.extend_from_slice(&tag.unwrap_or(0).to_be_bytes());
                    buf.extend_from_slice(&n.to_be_bytes());
                    if tag.is_some() {
                        claims += n;
                    }
                }
                changes += st.changes;
                for word in shard.blocks.iter().flat_map(|b| b.0.iter()) {
                    buf.extend_from_slice(&word.load(Ordering::Relaxed).to_be_bytes());
                }
            }
            out.put(&buf)?;
        }
        let digest = out.hash.clone().finalize();
        out.put(&digest)?;
        out.w.flush()?;
        Ok(SaveStats {
            bytes: out.bytes,
            claims,
            changes,
        })
    }

    /// A guard read from `r`, as [`save`](Self::save) wrote it, if it has
    /// the layout `config` asks for. Refused, with the reason: not a saved
    /// guard, another format version, a damaged header, another layout
    /// (naming the first setting that differs), a stream that ends early,
    /// a checksum that does not match, content no save could have made,
    /// bytes after the end. The guard is allocated only once the header
    /// has passed, and filled a 64 KiB buffer at a time.
    pub fn load(config: GuardConfig, r: &mut dyn Read) -> Result<MemoryGuard, GuardLoadError> {
        let mut head = [0u8; HEADER_LEN];
        // A stream shorter than the magic is not a guard unless it is the
        // start of one.
        let mut got = 0;
        while got < MAGIC.len() {
            match r.read(&mut head[got..MAGIC.len()]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(GuardLoadError::Io(e)),
            }
        }
        if head[..got] != MAGIC[..got] {
            return Err(GuardLoadError::BadMagic);
        }
        if got < MAGIC.len() {
            return Err(GuardLoadError::Truncated);
        }
        read_all(r, &mut head[8..])?;
        let version = u32::from_be_bytes([head[8], head[9], head[10], head[11]]);
        if version != VERSION {
            return Err(GuardLoadError::UnsupportedVersion(version));
        }
        let mut head_digest = [0u8; DIGEST_LEN];
        read_all(r, &mut head_digest)?;
        if Sha256::digest(head).as_slice() != head_digest {
            return Err(GuardLoadError::ChecksumMismatch);
        }
        let header = Header::decode(&head);
        let layout = config.layout().map_err(GuardLoadError::Config)?;
        if let Some(e) = header.mismatch(&config, &layout) {
            return Err(e);
        }
        let guard = MemoryGuard::new(config, header.seed).map_err(GuardLoadError::Config)?;
        let mut input = Hashed {
            r,
            hash: Sha256::new(),
        };
        input.hash.update(head);
        input.hash.update(head_digest);
        // Reported only once the checksum has passed: damage is a
        // checksum mismatch, not an inconsistency.
        let mut inconsistent: Option<&'static str> = None;
        let g = layout.generations;
        let bps = layout.blocks_per_slice;
        let mut slots = vec![0u8; g * SLOT_LEN];
        let mut chunk = vec![0u8; READ_BLOCKS.min(bps.max(1)) * BLOCK_LEN];
        for shard in guard.shards.iter() {
            input.take(&mut slots)?;
            let mut used = vec![false; g];
            {
                let mut st = shard.lock();
                for (slot, rec) in slots.chunks_exact(SLOT_LEN).enumerate() {
                    let tag = u64::from_be_bytes(rec[1..9].try_into().unwrap_or([0; 8]));
                    let claims = u64::from_be_bytes(rec[9..17].try_into().unwrap_or([0; 8]));
                    match rec[0] {
                        0 => {
                            if tag != 0 || claims != 0 {
                                inconsistent
                                    .get_or_insert("an unused slot with a generation or claims");
                            }
                        }
                        1 => {
                            if tag % g as u64 != slot as u64 {
                                inconsistent
                                    .get_or_insert("a slot holding another slot's generation");
                            }
                            st.tags[slot] = Some(tag);
                            st.claims[slot] = claims;
                            used[slot] = true;
                        }
                        _ => {
                            inconsistent.get_or_insert("a slot flag other than 0 or 1");
                        }
                    }
                }
            }
            // The shard's blocks, slot by slot, a chunk at a time. The
            // guard is not shared yet: plain stores, no lock needed.
            for (slot, &in_use) in used.iter().enumerate() {
                let blocks = shard.slot(slot, bps);
                for part in blocks.chunks(READ_BLOCKS) {
                    let bytes = &mut chunk[..part.len() * BLOCK_LEN];
                    input.take(bytes)?;
                    fill(part, bytes, in_use, &mut inconsistent);
                }
            }
        }
        let digest = input.hash.finalize();
        let mut want = [0u8; DIGEST_LEN];
        read_all(input.r, &mut want)?;
        if digest.as_slice() != want {
            return Err(GuardLoadError::ChecksumMismatch);
        }
        if let Some(what) = inconsistent {
            return Err(GuardLoadError::Inconsistent(what));
        }
        let mut extra = [0u8; 1];
        loop {
            match input.r.read(&mut extra) {
                Ok(0) => break,
                Ok(_) => return Err(GuardLoadError::TrailingData),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(GuardLoadError::Io(e)),
            }
        }
        Ok(guard)
    }
}

/// Store the words of `bytes` into `blocks`; an unused slot must have no
/// bit set (it is not cleared before its first generation).
fn fill(blocks: &[Block], bytes: &[u8], in_use: bool, inconsistent: &mut Option<&'static str>) {
    let words = blocks.iter().flat_map(|b| b.0.iter());
    for (word, b) in words.zip(bytes.chunks_exact(8)) {
        let v = u64::from_be_bytes(b.try_into().unwrap_or([0; 8]));
        if !in_use && v != 0 {
            inconsistent.get_or_insert("an unused slot with bits set");
        }
        word.store(v, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ticket::TicketId;
    use crate::ticket::TicketReject;
    use crate::ticket::guard::SingleUseGuard;
    use std::sync::Arc;
    use std::sync::atomic::AtomicU64;

    const NOW: u64 = 1_700_000_000;

    fn config() -> GuardConfig {
        GuardConfig {
            claims_per_generation: 20_000,
            false_positive_rate: 1e-6,
            window_secs: 3600,
            max_ticket_lifetime_secs: 4 * 3600,
            shards: 8,
        }
    }

    fn id(n: u64) -> TicketId {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&n.to_le_bytes());
        b[8..].copy_from_slice(&(!n).wrapping_mul(0x9e37_79b9_7f4a_7c15).to_le_bytes());
        TicketId(b)
    }

    /// Expiry of claim `n`: spread over every generation the lifetime
    /// allows (5 slots for 4 h in 1 h windows).
    fn expiry(n: u64) -> u64 {
        NOW + 1 + (n * 997) % (4 * 3600 - 1)
    }

    fn saved(g: &MemoryGuard) -> Vec<u8> {
        let mut out = Vec::new();
        let stats = g.save(&mut out).expect("save");
        assert_eq!(stats.bytes, out.len() as u64);
        out
    }

    fn load(cfg: GuardConfig, bytes: &[u8]) -> Result<MemoryGuard, GuardLoadError> {
        MemoryGuard::load(cfg, &mut &bytes[..])
    }

    /// A guard with claims 0..n in every generation.
    fn claimed(n: u64) -> MemoryGuard {
        let g = MemoryGuard::new(config(), [9; 16]).expect("config");
        for i in 0..n {
            assert_eq!(g.claim(&id(i), expiry(i), NOW), Ok(()), "claim {i}");
        }
        g
    }

    #[test]
    fn round_trip_keeps_every_claim_and_every_fresh_id() {
        let g = claimed(5_000);
        let bytes = saved(&g);
        // The size the module documentation gives.
        let l = g.layout;
        let want =
            112 + l.shards * (17 * l.generations + 64 * l.generations * l.blocks_per_slice) + 32;
        assert_eq!(bytes.len(), want);
        let back = load(config(), &bytes).expect("load");
        assert_eq!(back.stats(NOW), g.stats(NOW));
        let used_slots = (0..g.layout.shards)
            .flat_map(|s| g.shards[s].lock().tags.to_vec())
            .filter(Option::is_some)
            .count();
        assert!(
            used_slots >= 5 * 8,
            "every generation in every shard: {used_slots}"
        );
        // Saving the loaded guard gives the same bytes: the same state.
        assert_eq!(saved(&back), bytes);
        for i in 0..5_000 {
            assert!(back.is_claimed(&id(i), expiry(i), NOW), "claim {i} lost");
            assert_eq!(
                back.claim(&id(i), expiry(i), NOW),
                Err(TicketReject::Reused)
            );
        }
        // Fresh ids answer as in the original (no false positive made up
        // or lost), and are claimable exactly where the original would
        // have let them be claimed.
        for i in 10_000..15_000 {
            let before = g.is_claimed(&id(i), expiry(i), NOW);
            assert_eq!(back.is_claimed(&id(i), expiry(i), NOW), before);
            assert_eq!(back.claim(&id(i), expiry(i), NOW).is_ok(), !before);
        }
        // An empty guard round-trips too, and its load keeps the seed.
        let empty = MemoryGuard::new(config(), [5; 16]).expect("config");
        let e = load(config(), &saved(&empty)).expect("load");
        assert_eq!((e.k0, e.k1), (empty.k0, empty.k1));
        assert_eq!(e.stats(NOW).live_claims, 0);
    }

    #[test]
    fn changes_count_successful_claims_and_start_at_zero_after_load() {
        let g = claimed(100);
        assert_eq!(g.changes(), 100);
        let _ = g.claim(&id(0), expiry(0), NOW);
        assert_eq!(g.changes(), 100, "a refused claim changes nothing");
        let mut out = Vec::new();
        let s = g.save(&mut out).expect("save");
        assert_eq!(s.changes, 100);
        assert_eq!(s.claims, 100);
        let back = load(config(), &out).expect("load");
        assert_eq!(back.changes(), 0);
    }

    #[test]
    fn damage_is_refused_with_its_reason() {
        let g = claimed(2_000);
        let bytes = saved(&g);
        let n = bytes.len();

        let mut m = bytes.clone();
        m[0] ^= 1;
        assert!(matches!(load(config(), &m), Err(GuardLoadError::BadMagic)));
        // Shorter than the magic: another file, or the start of a guard.
        assert!(matches!(
            load(config(), b"hello"),
            Err(GuardLoadError::BadMagic)
        ));
        assert!(matches!(
            load(config(), b"rebg"),
            Err(GuardLoadError::Truncated)
        ));

        let mut m = bytes.clone();
        m[11] = 2;
        assert!(matches!(
            load(config(), &m),
            Err(GuardLoadError::UnsupportedVersion(2))
        ));

        // A flipped bit anywhere past the version: the header's checksum,
        // the body's, or the final digest itself.
        for at in [
            12,
            44,
            70,
            80,
            111,
            112,
            113,
            5_000,
            n / 2,
            n - 33,
            n - 32,
            n - 1,
        ] {
            let mut m = bytes.clone();
            m[at] ^= 0x10;
            match load(config(), &m) {
                Err(GuardLoadError::ChecksumMismatch) => {}
                other => panic!("flip at {at}: {other:?}"),
            }
        }

        for cut in [
            0,
            4,
            8,
            11,
            12,
            79,
            80,
            111,
            112,
            113,
            4_096,
            n / 2,
            n - 33,
            n - 32,
            n - 1,
        ] {
            match load(config(), &bytes[..cut]) {
                Err(GuardLoadError::Truncated) => {}
                other => panic!("cut at {cut}: {other:?}"),
            }
        }

        let mut m = bytes.clone();
        m.push(0);
        assert!(matches!(
            load(config(), &m),
            Err(GuardLoadError::TrailingData)
        ));

        // Every setting changed by the operator is named.
        let changed: [(&str, GuardConfig); 5] = [
            (
                "claims_per_generation",
                GuardConfig {
                    claims_per_generation: 20_001,
                    ..config()
                },
            ),
            (
                "false_positive_rate",
                GuardConfig {
                    false_positive_rate: 1e-5,
                    ..config()
                },
            ),
            (
                "window_secs",
                GuardConfig {
                    window_secs: 1800,
                    ..config()
                },
            ),
            (
                "max_ticket_lifetime_secs",
                GuardConfig {
                    max_ticket_lifetime_secs: 3 * 3600,
                    ..config()
                },
            ),
            (
                "shards",
                GuardConfig {
                    shards: 16,
                    ..config()
                },
            ),
        ];
        for (name, cfg) in changed {
            match load(cfg, &bytes) {
                Err(e @ GuardLoadError::LayoutMismatch { parameter, .. }) => {
                    assert_eq!(parameter, name);
                    let text = e.to_string();
                    assert!(text.contains(name), "{text}");
                }
                other => panic!("{name}: {other:?}"),
            }
        }
        let bad = GuardConfig {
            shards: 0,
            ..config()
        };
        assert!(matches!(
            load(bad, &bytes),
            Err(GuardLoadError::Config(GuardConfigError::ShardCount))
        ));

        // A read error is passed on.
        struct Failing;
        impl Read for Failing {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::other("disk on fire"))
            }
        }
        match MemoryGuard::load(config(), &mut Failing) {
            Err(GuardLoadError::Io(e)) => assert!(e.to_string().contains("disk on fire")),
            other => panic!("{other:?}"),
        }
    }

    /// Rewrite bytes and both checksums: what a tool other than `save`
    /// could write. The content checks still refuse what no save makes.
    #[test]
    fn impossible_content_behind_valid_checksums_is_refused() {
        // 200 claims, all in one generation: shard 0 has that slot in use
        // and every other slot unused.
        let g = MemoryGuard::new(config(), [9; 16]).expect("config");
        for i in 0..200 {
            g.claim(&id(i), NOW + 10, NOW).expect("a fresh id");
        }
        let bytes = saved(&g);
        assert!(load(config(), &bytes).is_ok());
        let reseal = |mut m: Vec<u8>| {
            let n = m.len();
            let d = Sha256::digest(&m[..n - 32]);
            m[n - 32..].copy_from_slice(&d);
            m
        };
        let used = ((NOW + 10) / 3600 % 5) as usize;
        let unused = (used + 1) % 5;
        {
            let st = g.shards[0].lock();
            assert!(st.tags[used].is_some() && st.tags[unused].is_none());
        }
        // Shard 0's slot records start at 112.
        let rec = |slot: usize| 112 + slot * SLOT_LEN;
        let refused = |m: Vec<u8>| match load(config(), &reseal(m)) {
            Err(GuardLoadError::Inconsistent(what)) => what,
            other => panic!("{other:?}"),
        };

        let mut m = bytes.clone();
        m[rec(used)] = 7;
        assert_eq!(refused(m), "a slot flag other than 0 or 1");

        // Generation ± 1 belongs to another slot.
        let mut m = bytes.clone();
        m[rec(used) + 8] ^= 1;
        assert_eq!(refused(m), "a slot holding another slot's generation");

        let mut m = bytes.clone();
        m[rec(unused) + 16] = 1;
        assert_eq!(refused(m), "an unused slot with a generation or claims");

        // A bit set in the unused slot's first block.
        let blocks = rec(5) + unused * g.layout.blocks_per_slice * BLOCK_LEN;
        let mut m = bytes.clone();
        m[blocks] = 0x80;
        assert_eq!(refused(m), "an unused slot with bits set");
    }

    /// Claims go on in other threads while the guard is saved; every claim
    /// that had completed when the save began is in what was saved.
    #[test]
    fn a_save_during_claims_keeps_every_claim_made_before_it() {
        let g = Arc::new(MemoryGuard::new(config(), [4; 16]).expect("config"));
        const THREADS: u64 = 3;
        let done: Arc<Vec<AtomicU64>> = Arc::new((0..THREADS).map(|_| AtomicU64::new(0)).collect());
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let (g, done, stop) = (g.clone(), done.clone(), stop.clone());
                std::thread::spawn(move || {
                    let mut i = 0u64;
                    while !stop.load(Ordering::Relaxed) && i < 30_000 {
                        let n = t * 1_000_000 + i;
                        // A false positive (Reused) leaves the id claimed
                        // all the same.
                        let _ = g.claim(&id(n), expiry(n), NOW);
                        i += 1;
                        // Claims 0..i of this thread have completed.
                        done[t as usize].store(i, Ordering::Release);
                    }
                })
            })
            .collect();
        // Let the threads get going, then save several times mid-stream.
        let mut saves = Vec::new();
        for _ in 0..4 {
            while done.iter().map(|d| d.load(Ordering::Acquire)).min()
                < Some(500 * (saves.len() as u64 + 1))
            {
                std::thread::yield_now();
            }
            let before: Vec<u64> = done.iter().map(|d| d.load(Ordering::Acquire)).collect();
            let mut out = Vec::new();
            g.save(&mut out).expect("save");
            saves.push((before, out));
        }
        stop.store(true, Ordering::Relaxed);
        for h in handles {
            h.join().expect("claimer");
        }
        for (before, bytes) in saves {
            let back = load(config(), &bytes).expect("load");
            for (t, &upto) in before.iter().enumerate() {
                for i in 0..upto {
                    let n = t as u64 * 1_000_000 + i;
                    assert!(
                        back.is_claimed(&id(n), expiry(n), NOW),
                        "thread {t} claim {i} of {upto} lost"
                    );
                }
            }
        }
    }
}
