//! Feeding the kernels: messages of different lengths, given in parts,
//! are padded and cut into blocks lane by lane; a lane whose message ends
//! takes the next one; the last stragglers run on the kernel the
//! calibration found cheapest for that many lanes.

use super::{MAX_LANES, Sha256Kernel, calibration, run};
use zeroize::Zeroize;

/// Which kernels a batch may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Policy {
    /// This one only.
    Fixed(Sha256Kernel),
    /// The calibrated choice, narrower kernels for the stragglers.
    Auto,
}

impl Policy {
    fn pool(self) -> usize {
        match self {
            Policy::Fixed(k) => k.width(),
            Policy::Auto => calibration().chosen().width(),
        }
    }

    fn kernel_for(self, busy: usize) -> Sha256Kernel {
        match self {
            Policy::Fixed(k) => k,
            Policy::Auto => calibration().best_for(busy),
        }
    }
}

/// A message: `head`, then every part, then `tail`, concatenated.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Msg<'a> {
    pub head: &'a [u8],
    pub parts: &'a [&'a [u8]],
    pub tail: &'a [u8],
}

impl<'a> Msg<'a> {
    pub fn parts(parts: &'a [&'a [u8]]) -> Msg<'a> {
        Msg {
            head: &[],
            parts,
            tail: &[],
        }
    }

    fn segment(&self, i: usize) -> Option<&'a [u8]> {
        match i {
            0 => Some(self.head),
            i if i <= self.parts.len() => Some(self.parts[i - 1]),
            i if i == self.parts.len() + 1 => Some(self.tail),
            _ => None,
        }
    }

    fn len(&self) -> u64 {
        let parts: usize = self.parts.iter().map(|p| p.len()).sum();
        (self.head.len() + parts + self.tail.len()) as u64
    }
}

/// Where a message stands: the blocks of its padded form, one by one.
#[derive(Clone, Copy)]
pub(crate) struct Cursor<'a> {
    msg: Msg<'a>,
    seg: usize,
    off: usize,
    blocks_left: u64,
    bit_len: u64,
    padded: bool,
}

impl<'a> Cursor<'a> {
    /// The message after `prefix` bytes already compressed (counted in
    /// the length padding). SHA-1 and SHA-256 pad alike.
    pub fn new(msg: Msg<'a>, prefix: u64) -> Cursor<'a> {
        let len = msg.len();
        Cursor {
            msg,
            seg: 0,
            off: 0,
            blocks_left: (len + 9).div_ceil(64),
            bit_len: (prefix + len) * 8,
            padded: false,
        }
    }

    /// The last block has been handed out.
    pub fn done(&self) -> bool {
        self.blocks_left == 0
    }

    /// The next block of the padded message: a reference into the
    /// message when 64 bytes are contiguous in one part, else gathered
    /// into `buf` (None).
    pub fn next_block(&mut self, buf: &mut [u8; 64]) -> Option<&'a [u8; 64]> {
        self.blocks_left -= 1;
        while let Some(s) = self.msg.segment(self.seg) {
            if self.off < s.len() {
                break;
            }
            self.seg += 1;
            self.off = 0;
        }
        if let Some(s) = self.msg.segment(self.seg)
            && let Some(b) = s.get(self.off..self.off + 64)
        {
            self.off += 64;
            return Some(b.try_into().unwrap());
        }
        let mut n = 0;
        while n < 64
            && let Some(s) = self.msg.segment(self.seg)
        {
            let avail = &s[self.off..];
            let take = avail.len().min(64 - n);
            buf[n..n + take].copy_from_slice(&avail[..take]);
            n += take;
            self.off += take;
            if self.off == s.len() {
                self.seg += 1;
                self.off = 0;
            }
        }
        if n < 64 {
            if !self.padded {
                buf[n] = 0x80;
                n += 1;
                self.padded = true;
            }
            buf[n..].fill(0);
            if self.blocks_left == 0 {
                buf[56..].copy_from_slice(&self.bit_len.to_be_bytes());
            }
        }
        None
    }
}

/// One lane: a message being hashed.
#[derive(Clone, Copy)]
struct Lane<'a> {
    cur: Cursor<'a>,
    job: usize,
    state: [u32; 8],
}

/// Hashes `n` jobs: job `i` is message `msg(i)` continued from state
/// `init(i)` after `prefix` bytes already compressed (a multiple of 64;
/// it counts in the length padding). `out(i, state)` gets each final
/// state, in the order the jobs finish.
pub(crate) fn hash_jobs<'a>(
    p: Policy,
    n: usize,
    msg: impl Fn(usize) -> Msg<'a>,
    init: impl Fn(usize) -> [u32; 8],
    prefix: u64,
    mut out: impl FnMut(usize, &[u32; 8]),
) {
    let pool = p.pool();
    let mut lanes: [Option<Lane<'a>>; MAX_LANES] = [None; MAX_LANES];
    let mut next = 0;
    // Scratch for gathered blocks and the states of a group, written
    // before every read.
    let mut bufs = [[0u8; 64]; MAX_LANES];
    let mut states = [[0u32; 8]; MAX_LANES];
    // The widest group run: how much scratch to wipe at the end. The
    // gathered blocks hold message bytes (for prf+ the previous output
    // block, key material) and the states start from HMAC key states.
    let mut used = 0;
    loop {
        let mut busy = [0usize; MAX_LANES];
        let mut nb = 0;
        for (i, slot) in lanes[..pool].iter_mut().enumerate() {
            if slot.is_none() && next < n {
                *slot = Some(Lane {
                    cur: Cursor::new(msg(next), prefix),
                    job: next,
                    state: init(next),
                });
                next += 1;
            }
            if slot.is_some() {
                busy[nb] = i;
                nb += 1;
            }
        }
        if nb == 0 {
            for b in &mut bufs[..used] {
                b.zeroize();
            }
            for st in &mut states[..used] {
                st.zeroize();
            }
            return;
        }
        let k = p.kernel_for(nb);
        for group in busy[..nb].chunks(k.width()) {
            let mut direct: [Option<&'a [u8; 64]>; MAX_LANES] = [None; MAX_LANES];
            for (g, &li) in group.iter().enumerate() {
                let lane = lanes[li].as_mut().expect("busy lane");
                direct[g] = lane.cur.next_block(&mut bufs[g]);
                states[g] = lane.state;
            }
            let refs: [&[u8; 64]; MAX_LANES] =
                core::array::from_fn(|g| direct[g].unwrap_or(&bufs[g]));
            run(k, &mut states[..group.len()], &refs[..group.len()]);
            used = used.max(group.len());
            for (g, &li) in group.iter().enumerate() {
                let lane = lanes[li].as_mut().expect("busy lane");
                lane.state = states[g];
                if lane.cur.done() {
                    out(lane.job, &lane.state);
                    lane.state.zeroize();
                    lanes[li] = None;
                }
            }
        }
    }
}

/// Compresses `blocks[i]` into `states[i]` (at most `MAX_LANES`), the
/// kernel chosen by the policy for each group.
pub(crate) fn compress_refs(p: Policy, states: &mut [[u32; 8]], blocks: &[&[u8; 64]]) {
    debug_assert_eq!(states.len(), blocks.len());
    let mut done = 0;
    while done < states.len() {
        let left = states.len() - done;
        let k = p.kernel_for(left.min(MAX_LANES));
        let take = left.min(k.width());
        run(
            k,
            &mut states[done..done + take],
            &blocks[done..done + take],
        );
        done += take;
    }
}
