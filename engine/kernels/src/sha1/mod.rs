//! Multi-buffer SHA-1, for NAT detection (RFC 7296 §2.23: four SHA-1
//! hashes of SPIs, address and port per IKE_SA_INIT, one block each).
//!
//! SHA-NI streams interleaved by 2 or 4; the kernel is picked by a short
//! measurement at first use, as for SHA-256 ([`calibration`]).

use std::sync::OnceLock;
use std::time::Instant;

use crate::sha256::{Cursor, Msg};

#[cfg(target_arch = "x86_64")]
mod shani;

/// The initial hash value (FIPS 180-4 §5.3.1).
pub const IV: [u32; 5] = [
    0x6745_2301,
    0xefcd_ab89,
    0x98ba_dcfe,
    0x1032_5476,
    0xc3d2_e1f0,
];

const MAX_LANES: usize = 4;

/// A SHA-1 compression kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sha1Kernel {
    /// `sha1::compress`, one block at a time (the RustCrypto crate, which
    /// uses SHA-NI itself when it finds it).
    Portable,
    /// SHA-NI, one stream.
    ShaNi,
    /// SHA-NI, two streams interleaved.
    ShaNi2,
    /// SHA-NI, four streams interleaved.
    ShaNi4,
}

impl Sha1Kernel {
    /// Every kernel, whether this CPU runs it or not.
    pub const ALL: [Sha1Kernel; 4] = [
        Sha1Kernel::Portable,
        Sha1Kernel::ShaNi,
        Sha1Kernel::ShaNi2,
        Sha1Kernel::ShaNi4,
    ];

    /// How many independent blocks one call compresses.
    pub const fn width(self) -> usize {
        match self {
            Sha1Kernel::Portable | Sha1Kernel::ShaNi => 1,
            Sha1Kernel::ShaNi2 => 2,
            Sha1Kernel::ShaNi4 => 4,
        }
    }

    /// A short name for logs and benchmark ids.
    pub const fn name(self) -> &'static str {
        match self {
            Sha1Kernel::Portable => "portable",
            Sha1Kernel::ShaNi => "sha_ni",
            Sha1Kernel::ShaNi2 => "sha_ni_x2",
            Sha1Kernel::ShaNi4 => "sha_ni_x4",
        }
    }

    /// This CPU can run the kernel (only `Portable` when
    /// `REBOUND_KERNELS=portable`).
    pub fn is_available(self) -> bool {
        self == Sha1Kernel::Portable || crate::cpu::features().sha_ni
    }

    /// The kernels this CPU can run, `Portable` first.
    pub fn available() -> impl Iterator<Item = Sha1Kernel> {
        Sha1Kernel::ALL.into_iter().filter(|k| k.is_available())
    }
}

/// Compresses `blocks[i]` into `states[i]`, at most `k.width()` of them
/// (narrower groups run with dummy lanes).
fn run(k: Sha1Kernel, states: &mut [[u32; 5]], blocks: &[&[u8; 64]]) {
    debug_assert!(states.len() == blocks.len() && states.len() <= k.width());
    assert!(
        k.is_available(),
        "the {} SHA-1 kernel is not available on this CPU",
        k.name()
    );
    match k {
        Sha1Kernel::Portable => {
            for (s, b) in states.iter_mut().zip(blocks) {
                let b = ::sha1::digest::generic_array::GenericArray::from_slice(&b[..]);
                ::sha1::compress(s, core::slice::from_ref(b));
            }
        }
        #[cfg(target_arch = "x86_64")]
        Sha1Kernel::ShaNi => padded::<1>(states, blocks, |s, b| {
            // SAFETY: the assert above checked that the CPU has SHA-NI.
            unsafe { shani::compress::<1>(s, b) }
        }),
        #[cfg(target_arch = "x86_64")]
        Sha1Kernel::ShaNi2 => padded::<2>(states, blocks, |s, b| {
            // SAFETY: the assert above checked that the CPU has SHA-NI.
            unsafe { shani::compress::<2>(s, b) }
        }),
        #[cfg(target_arch = "x86_64")]
        Sha1Kernel::ShaNi4 => padded::<4>(states, blocks, |s, b| {
            // SAFETY: the assert above checked that the CPU has SHA-NI.
            unsafe { shani::compress::<4>(s, b) }
        }),
        #[cfg(not(target_arch = "x86_64"))]
        _ => unreachable!("only the portable kernel is available off x86_64"),
    }
}

static ZERO_BLOCK: [u8; 64] = [0; 64];

#[inline(always)]
fn padded<const W: usize>(
    states: &mut [[u32; 5]],
    blocks: &[&[u8; 64]],
    f: impl FnOnce(&mut [[u32; 5]; W], &[&[u8; 64]; W]),
) {
    let n = states.len();
    if n == W {
        f(states.try_into().unwrap(), blocks.try_into().unwrap());
    } else {
        let mut s = [IV; W];
        let mut b = [&ZERO_BLOCK; W];
        s[..n].copy_from_slice(states);
        b[..n].copy_from_slice(blocks);
        f(&mut s, &b);
        states.copy_from_slice(&s[..n]);
    }
}

/// ns per block of every available SHA-1 kernel at full occupancy, and
/// the kernel picked.
#[derive(Debug, Clone)]
pub struct Sha1Calibration {
    ns: [Option<f64>; 4],
    chosen: Sha1Kernel,
}

impl Sha1Calibration {
    /// The kernel with the lowest ns per block at full occupancy.
    pub fn chosen(&self) -> Sha1Kernel {
        self.chosen
    }

    /// Every available kernel with its measured ns per block.
    pub fn entries(&self) -> impl Iterator<Item = (Sha1Kernel, f64)> + '_ {
        Sha1Kernel::ALL
            .into_iter()
            .filter_map(|k| self.ns[k as usize].map(|ns| (k, ns)))
    }

    fn best_for(&self, busy: usize) -> Sha1Kernel {
        self.entries()
            .filter(|(k, _)| k.width() <= self.chosen.width())
            .map(|(k, ns)| (k, (busy.div_ceil(k.width()) * k.width()) as f64 * ns))
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map_or(Sha1Kernel::Portable, |(k, _)| k)
    }
}

fn time_kernel(k: Sha1Kernel) -> f64 {
    let w = k.width();
    let blocks: [[u8; 64]; MAX_LANES] =
        core::array::from_fn(|i| core::array::from_fn(|j| (i * 64 + j).wrapping_mul(0x9d) as u8));
    let refs: [&[u8; 64]; MAX_LANES] = core::array::from_fn(|i| &blocks[i]);
    let mut states = [IV; MAX_LANES];
    let calls = 512 / w;
    let mut best = f64::INFINITY;
    for rep in 0..4 {
        let t = Instant::now();
        for _ in 0..calls {
            run(k, &mut states[..w], &refs[..w]);
        }
        let el = t.elapsed().as_nanos() as f64 / (calls * w) as f64;
        std::hint::black_box(&states);
        if rep > 0 {
            best = best.min(el);
        }
    }
    best
}

/// The SHA-1 calibration, measured at first use (well under a
/// millisecond) and cached.
pub fn calibration() -> &'static Sha1Calibration {
    static C: OnceLock<Sha1Calibration> = OnceLock::new();
    C.get_or_init(|| {
        let mut ns = [None; 4];
        for k in Sha1Kernel::available() {
            ns[k as usize] = Some(time_kernel(k));
        }
        let chosen = Sha1Kernel::available()
            .filter_map(|k| ns[k as usize].map(|t| (k, t)))
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map_or(Sha1Kernel::Portable, |(k, _)| k);
        Sha1Calibration { ns, chosen }
    })
}

/// Hashes every message (`msgs[i]` is the concatenation of its parts)
/// into `out[i]` with SHA-1, the calibrated kernels.
///
/// # Panics
/// When `msgs` and `out` differ in length.
pub fn sha1_many(msgs: &[&[&[u8]]], out: &mut [[u8; 20]]) {
    sha1_policy(None, msgs, out);
}

/// [`sha1_many`] with kernel `k` only.
///
/// # Panics
/// When `k` is not available on this CPU, or the lengths differ.
pub fn sha1_many_with(k: Sha1Kernel, msgs: &[&[&[u8]]], out: &mut [[u8; 20]]) {
    assert!(
        k.is_available(),
        "the {} SHA-1 kernel is not available on this CPU",
        k.name()
    );
    sha1_policy(Some(k), msgs, out);
}

fn sha1_policy(fixed: Option<Sha1Kernel>, msgs: &[&[&[u8]]], out: &mut [[u8; 20]]) {
    assert_eq!(msgs.len(), out.len(), "one digest per message");
    let pool = fixed.unwrap_or_else(|| calibration().chosen()).width();
    let mut lanes: [Option<(usize, Cursor<'_>, [u32; 5])>; MAX_LANES] = [None; MAX_LANES];
    let mut next = 0;
    loop {
        let mut busy = [0usize; MAX_LANES];
        let mut nb = 0;
        for (i, slot) in lanes[..pool].iter_mut().enumerate() {
            if slot.is_none() && next < msgs.len() {
                *slot = Some((next, Cursor::new(Msg::parts(msgs[next]), 0), IV));
                next += 1;
            }
            if slot.is_some() {
                busy[nb] = i;
                nb += 1;
            }
        }
        if nb == 0 {
            return;
        }
        let k = fixed.unwrap_or_else(|| calibration().best_for(nb));
        for group in busy[..nb].chunks(k.width()) {
            let mut bufs = [[0u8; 64]; MAX_LANES];
            let mut direct = [None; MAX_LANES];
            let mut states = [IV; MAX_LANES];
            for (g, &li) in group.iter().enumerate() {
                let (_, cur, s) = lanes[li].as_mut().expect("busy lane");
                direct[g] = cur.next_block(&mut bufs[g]);
                states[g] = *s;
            }
            let refs: [&[u8; 64]; MAX_LANES] =
                core::array::from_fn(|g| direct[g].unwrap_or(&bufs[g]));
            run(k, &mut states[..group.len()], &refs[..group.len()]);
            for (g, &li) in group.iter().enumerate() {
                let (job, cur, s) = lanes[li].as_mut().expect("busy lane");
                *s = states[g];
                if cur.done() {
                    for (c, w) in out[*job].chunks_exact_mut(4).zip(s.iter()) {
                        c.copy_from_slice(&w.to_be_bytes());
                    }
                    lanes[li] = None;
                }
            }
        }
    }
}
