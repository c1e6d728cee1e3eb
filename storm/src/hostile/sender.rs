//! Sending the hostile datagrams ([`HostileSender`]) and reading the
//! answers: paced from a storm thread, or as a flood from a thread of its
//! own ([`flood`]).
//!
//! Each datagram but `random` gets an SPIi of its own: byte 0 names its
//! kind ([`HostileKind::tag`]), bytes 1 to 3 its index in the pool, bytes 4
//! to 7 a sequence number, so every IKE_SESSION_RESUME is a new exchange
//! to the gateway and every answer finds its kind and its request. An
//! N(COOKIE) answer is followed at once by the same request with the
//! cookie (RFC 7296 §2.6), from the same source. `wrong_auth` runs a real
//! `ResumeInitiator` whose request goes out with one NAT-D byte changed:
//! the gateway signs and checks the bytes it received, the initiator signs
//! the ones it made, so its IKE_AUTH passes the integrity check (the keys
//! do not depend on NAT-D) and carries a wrong AUTH.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rebound_dataplane::backend::RxBatch;
use rebound_dataplane::runtime::BufferedOsRng;
use rebound_engine::client::{Fallback, InitiatorEvent, ResumeInitiator};
use rebound_engine::rand::RandomSource as _;
use rebound_engine::time::Timestamp;
use rebound_engine::wire::NotifyType;

use super::HostileCounts;
use super::mix::{HostileKind, HostileMix};
use super::pool::HostilePool;
use crate::StormError;
use crate::rng::StormRng;
use crate::socket::Socket;

const HEADER_LEN: usize = 28;
const PAYLOAD_NOTIFY: u8 = 41;
const PAYLOAD_NONE: u8 = 0;
const EXCHANGE_IKE_SA_INIT: u8 = 34;
const EXCHANGE_IKE_AUTH: u8 = 35;
const EXCHANGE_SESSION_RESUME: u8 = 38;
/// `wrong_auth` exchanges under way per sender; the oldest unanswered one
/// is forgotten for a new one.
const WRONG_AUTH_SLOTS: usize = 1024;
/// The most source addresses (127.0.1.1 onwards).
pub const MAX_SOURCES: usize = 4096;

/// The addresses the hostile sockets bind: for an IPv4 loopback target,
/// `n` addresses from 127.0.1.1 on (never the legitimate clients'
/// 127.0.0.1, so the per-source cap sees them apart); otherwise one, the
/// legitimate clients' own.
pub fn source_addresses(
    target: SocketAddr,
    legit: IpAddr,
    n: usize,
) -> Result<Vec<IpAddr>, StormError> {
    if !(1..=MAX_SOURCES).contains(&n) {
        return Err(StormError::Config(format!(
            "--hostile-sources {n}: between 1 and {MAX_SOURCES}"
        )));
    }
    match target.ip() {
        IpAddr::V4(v4) if v4.is_loopback() => Ok((0..n)
            .map(|i| {
                IpAddr::V4(Ipv4Addr::new(
                    127,
                    0,
                    1 + (i / 254) as u8,
                    1 + (i % 254) as u8,
                ))
            })
            .collect()),
        _ if n == 1 => Ok(vec![legit]),
        _ => Err(StormError::Config(format!(
            "--hostile-sources {n}: several source addresses need an IPv4 loopback target \
             (127.0.0.0/8 is all local); {target} is not one"
        ))),
    }
}

/// Sends one storm thread's (or the flood's) hostile datagrams and reads
/// their answers.
pub struct HostileSender {
    pool: Arc<HostilePool>,
    mix: HostileMix,
    sockets: Vec<Socket>,
    target: SocketAddr,
    rng: StormRng,
    os: BufferedOsRng,
    next: [usize; super::KINDS],
    seq: u32,
    src: usize,
    buf: Vec<u8>,
    scratch: Vec<u8>,
    wrong: Vec<Option<ResumeInitiator>>,
    wrong_by_spi: HashMap<[u8; 8], usize>,
    wrong_next: usize,
    counts: HostileCounts,
    /// Datagrams chosen from the mix (cookie retries and IKE_AUTH not
    /// counted).
    fresh: u64,
}

impl HostileSender {
    pub fn new(
        pool: Arc<HostilePool>,
        mix: HostileMix,
        sources: &[IpAddr],
        marker: bool,
        target: SocketAddr,
        seed: u64,
        stream: u64,
    ) -> Result<Self, StormError> {
        let sockets = sources
            .iter()
            .map(|&ip| Socket::bind(ip, marker))
            .collect::<Result<Vec<_>, _>>()?;
        let mut rng = StormRng::new(seed, stream);
        let mut next = [0; super::KINDS];
        for (k, n) in next.iter_mut().enumerate() {
            *n = rng.below(pool.datagrams[k].len().max(1));
        }
        Ok(HostileSender {
            pool,
            mix,
            sockets,
            target,
            rng,
            os: BufferedOsRng::try_new().map_err(|_| StormError::Random)?,
            next,
            seq: 0,
            src: 0,
            buf: Vec::with_capacity(2048),
            scratch: vec![0u8; 4096],
            wrong: std::iter::repeat_with(|| None)
                .take(WRONG_AUTH_SLOTS)
                .collect(),
            wrong_by_spi: HashMap::new(),
            wrong_next: 0,
            counts: HostileCounts::default(),
            fresh: 0,
        })
    }

    pub fn counts(&self) -> HostileCounts {
        self.counts
    }

    /// One datagram of the mix, queued on the next source's socket.
    pub fn send_one(&mut self, now: Timestamp) -> Result<(), StormError> {
        let k = self
            .mix
            .pick(self.rng.below(self.mix.total() as usize) as u32);
        let s = self.src;
        self.src = (self.src + 1) % self.sockets.len();
        self.fresh += 1;
        if k == HostileKind::WrongAuth {
            return self.start_wrong_auth(s, now);
        }
        let list = &self.pool.datagrams[k as usize];
        if list.is_empty() {
            return Ok(());
        }
        let idx = self.next[k as usize] % list.len();
        self.next[k as usize] = idx + 1;
        self.buf.clear();
        self.buf.extend_from_slice(&list[idx]);
        if k == HostileKind::Random {
            // Random bytes must not look like another kind's SPIi.
            if HostileKind::from_tag(self.buf[0]).is_some() {
                self.buf[0] ^= 0x40;
            }
        } else if self.buf.len() >= 8 {
            self.seq = self.seq.wrapping_add(1);
            let spi = tagged_spi(k, idx, self.seq);
            self.buf[..8].copy_from_slice(&spi);
        }
        self.counts.get_mut(k).sent += 1;
        self.queue(s)
    }

    /// Datagrams chosen from the mix so far.
    pub fn fresh(&self) -> u64 {
        self.fresh
    }

    /// Whether socket `s`'s queue has datagrams the kernel did not take.
    fn backlogged(&self) -> bool {
        self.sockets[self.src].backlogged()
    }

    fn queue(&mut self, s: usize) -> Result<(), StormError> {
        self.sockets[s]
            .queue(self.target, &self.buf)
            .map_err(|e| StormError::Socket(e.to_string()))
    }

    fn start_wrong_auth(&mut self, s: usize, now: Timestamp) -> Result<(), StormError> {
        let slot = self.wrong_next % WRONG_AUTH_SLOTS;
        self.wrong_next += 1;
        if let Some(old) = self.wrong[slot].take() {
            self.wrong_by_spi.remove(&old.spi_i());
        }
        let tickets = &self.pool.wrong_auth;
        if tickets.is_empty() {
            return Ok(());
        }
        let t = &tickets[slot % tickets.len()];
        let os = &mut self.os;
        let mut fill = |b: &mut [u8]| os.fill(b);
        let local = self.sockets[s].local;
        // The initiator draws its SPIi: one that looks like another kind's
        // tag is drawn again, so the answer to an attempt forgotten
        // (its slot reused) is never counted as another kind's.
        let mut init = None;
        for _ in 0..16 {
            let Ok(i) = ResumeInitiator::new(
                self.pool.config.clone(),
                t.clone(),
                local,
                self.target,
                now,
                &mut fill,
            ) else {
                return Ok(());
            };
            if HostileKind::from_tag(i.spi_i()[0]).is_none() {
                init = Some(i);
                break;
            }
        }
        let Some(mut init) = init else {
            return Ok(());
        };
        let Some(n) = init.poll_transmit(now, &mut self.scratch) else {
            return Ok(());
        };
        self.buf.clear();
        self.buf.extend_from_slice(&self.scratch[..n]);
        change_nat_d(&mut self.buf);
        self.wrong_by_spi.insert(init.spi_i(), slot);
        self.wrong[slot] = Some(init);
        self.counts.get_mut(HostileKind::WrongAuth).sent += 1;
        self.queue(s)
    }

    /// Send what is queued, as far as the sockets take it.
    pub fn flush(&mut self) -> Result<(), StormError> {
        for s in &mut self.sockets {
            if s.pending() {
                s.flush().map_err(|e| StormError::Socket(e.to_string()))?;
            }
        }
        Ok(())
    }

    /// Whether anything waits to go out.
    pub fn pending(&self) -> bool {
        self.sockets.iter().any(Socket::pending)
    }

    /// Read and count every answer waiting on the hostile sockets; answer
    /// cookies, continue `wrong_auth` exchanges. Whether any came.
    pub fn poll(&mut self, rx: &mut RxBatch, now: Timestamp) -> Result<bool, StormError> {
        let mut any = false;
        for s in 0..self.sockets.len() {
            loop {
                let n = self.sockets[s]
                    .backend
                    .rx_burst(rx)
                    .map_err(|e| StormError::Socket(e.to_string()))?;
                if n == 0 {
                    break;
                }
                any = true;
                for i in 0..n {
                    self.answer(s, rx.datagram(i), now)?;
                }
            }
        }
        Ok(any)
    }

    fn answer(&mut self, s: usize, data: &[u8], now: Timestamp) -> Result<(), StormError> {
        let Some(spi) = data.get(..8).and_then(|b| <[u8; 8]>::try_from(b).ok()) else {
            self.counts.unmatched += 1;
            return Ok(());
        };
        if let Some(&slot) = self.wrong_by_spi.get(&spi) {
            return self.wrong_auth_answer(s, slot, data, now);
        }
        let Some(k) = HostileKind::from_tag(spi[0]) else {
            self.counts.unmatched += 1;
            return Ok(());
        };
        let c = self.counts.get_mut(k);
        c.answers += 1;
        match answer_form(data) {
            Answer::Cookie(cookie) => {
                c.cookies += 1;
                // The same request with the cookie, from the same source.
                let list = &self.pool.datagrams[k as usize];
                let idx =
                    usize::from(spi[1]) << 16 | usize::from(spi[2]) << 8 | usize::from(spi[3]);
                if k == HostileKind::Random || k == HostileKind::Truncated || idx >= list.len() {
                    return Ok(());
                }
                if with_cookie(&list[idx], &spi, cookie, &mut self.buf) {
                    c.cookie_retries += 1;
                    c.sent += 1;
                    self.queue(s)?;
                }
            }
            Answer::Nack => c.nacks += 1,
            Answer::Accepted(EXCHANGE_SESSION_RESUME) => c.accepted += 1,
            Answer::Accepted(EXCHANGE_IKE_SA_INIT) => c.init_answers += 1,
            Answer::Accepted(_) | Answer::Other => c.other += 1,
        }
        Ok(())
    }

    fn wrong_auth_answer(
        &mut self,
        s: usize,
        slot: usize,
        data: &[u8],
        now: Timestamp,
    ) -> Result<(), StormError> {
        let Some(init) = self.wrong[slot].as_mut() else {
            return Ok(());
        };
        let c = &mut self.counts.kinds[HostileKind::WrongAuth as usize];
        c.answers += 1;
        let exchange = data.get(18).copied();
        match answer_form(data) {
            Answer::Cookie(_) => c.cookies += 1,
            Answer::Nack => c.nacks += 1,
            Answer::Accepted(EXCHANGE_SESSION_RESUME) => c.accepted += 1,
            _ => {}
        }
        let os = &mut self.os;
        let mut fill = |b: &mut [u8]| os.fill(b);
        init.handle(now, data, &mut fill);
        if let Some(ev) = init.poll_event() {
            match ev {
                InitiatorEvent::Established { .. } => c.established += 1,
                InitiatorEvent::Failed(Fallback::TicketRefused)
                    if exchange == Some(EXCHANGE_SESSION_RESUME) => {}
                InitiatorEvent::Failed(_) => {
                    if exchange == Some(EXCHANGE_IKE_AUTH) {
                        c.auth_refused += 1;
                    } else {
                        c.other += 1;
                    }
                }
            }
            let spi = init.spi_i();
            self.wrong[slot] = None;
            self.wrong_by_spi.remove(&spi);
            return Ok(());
        }
        if let Some(n) = init.poll_transmit(now, &mut self.scratch) {
            self.buf.clear();
            self.buf.extend_from_slice(&self.scratch[..n]);
            if self.buf.get(18) == Some(&EXCHANGE_SESSION_RESUME) {
                // A cookie round: the retry must differ from what the
                // initiator signs, too.
                change_nat_d(&mut self.buf);
                c.cookie_retries += 1;
            }
            c.sent += 1;
            self.queue(s)?;
        }
        Ok(())
    }
}

/// SPIi of a hostile datagram: kind, pool index, sequence number.
fn tagged_spi(k: HostileKind, idx: usize, seq: u32) -> [u8; 8] {
    let mut spi = [0u8; 8];
    spi[0] = k.tag();
    spi[1] = (idx >> 16) as u8;
    spi[2] = (idx >> 8) as u8;
    spi[3] = idx as u8;
    spi[4..].copy_from_slice(&seq.max(1).to_be_bytes());
    spi
}

/// What the gateway answered.
enum Answer<'a> {
    /// N(COOKIE) with this cookie.
    Cookie(&'a [u8]),
    /// N(TICKET_NACK).
    Nack,
    /// A response with the responder's SPI, in this exchange.
    Accepted(u8),
    Other,
}

fn answer_form(d: &[u8]) -> Answer<'_> {
    if d.len() < HEADER_LEN {
        return Answer::Other;
    }
    if d[16] == PAYLOAD_NOTIFY
        && let Some(r) = payload_at(d, HEADER_LEN)
        && r.len() >= 8
    {
        let p = &d[r];
        let ty = u16::from_be_bytes([p[6], p[7]]);
        let spi_size = usize::from(p[5]);
        if ty == NotifyType::COOKIE.0 && p.len() > 8 + spi_size {
            return Answer::Cookie(&p[8 + spi_size..]);
        }
        if ty == NotifyType::TICKET_NACK.0 {
            return Answer::Nack;
        }
        return Answer::Other;
    }
    if d[8..16] != [0; 8] {
        return Answer::Accepted(d[18]);
    }
    Answer::Other
}

/// The payload (generic header included) at `off`, if it fits.
fn payload_at(d: &[u8], off: usize) -> Option<Range<usize>> {
    let len = usize::from(u16::from_be_bytes([*d.get(off + 2)?, *d.get(off + 3)?]));
    (len >= 4 && off + len <= d.len()).then(|| off..off + len)
}

/// The notify payload of type `ty` in a plain (unencrypted) message.
fn find_notify(d: &[u8], ty: NotifyType) -> Option<Range<usize>> {
    let mut next = *d.get(16)?;
    let mut off = HEADER_LEN;
    while next != PAYLOAD_NONE {
        let r = payload_at(d, off)?;
        if next == PAYLOAD_NOTIFY && r.len() >= 8 {
            let p = &d[r.clone()];
            if u16::from_be_bytes([p[6], p[7]]) == ty.0 {
                return Some(r);
            }
        }
        next = d[off];
        off = r.end;
    }
    None
}

/// Changes the last byte of N(NAT_DETECTION_SOURCE_IP): the gateway then
/// signs bytes the initiator did not.
fn change_nat_d(d: &mut [u8]) {
    if let Some(r) = find_notify(d, NotifyType::NAT_DETECTION_SOURCE_IP)
        && r.len() > 8
    {
        d[r.end - 1] ^= 0x01;
    }
}

/// `req` with SPIi `spi` and N(COOKIE) `cookie` as its first payload
/// (RFC 7296 §2.6) into `out`; false if it would not fit.
fn with_cookie(req: &[u8], spi: &[u8; 8], cookie: &[u8], out: &mut Vec<u8>) -> bool {
    let notify_len = 8 + cookie.len();
    let total = req.len() + notify_len;
    if req.len() < HEADER_LEN || notify_len > usize::from(u16::MAX) || total > 8192 {
        return false;
    }
    out.clear();
    out.extend_from_slice(&req[..HEADER_LEN]);
    out[..8].copy_from_slice(spi);
    let first = out[16];
    out[16] = PAYLOAD_NOTIFY;
    out[24..28].copy_from_slice(&(total as u32).to_be_bytes());
    out.extend_from_slice(&[first, 0]);
    out.extend_from_slice(&(notify_len as u16).to_be_bytes());
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&NotifyType::COOKIE.0.to_be_bytes());
    out.extend_from_slice(cookie);
    out.extend_from_slice(&req[HEADER_LEN..]);
    true
}

/// What the flood thread did.
pub struct FloodOutcome {
    pub counts: HostileCounts,
    pub duration: Duration,
    /// Datagrams chosen from the mix (cookie retries and IKE_AUTH apart).
    pub fresh: u64,
}

/// How long the flood keeps reading answers after its last datagram.
const FLOOD_LINGER: Duration = Duration::from_millis(300);

/// Sends `total` datagrams of the mix as fast as the sockets take them
/// (a socket whose queue the kernel did not take is flushed before more
/// go on it), or at most `rate` per second, reading answers between
/// bursts; `progress` counts the sent ones for whoever waits on the flood.
pub fn flood(
    mut sender: HostileSender,
    total: u64,
    rate: Option<f64>,
    progress: &AtomicU64,
) -> Result<FloodOutcome, StormError> {
    let start = Instant::now();
    let mut rx = RxBatch::new(rebound_dataplane::backend::MAX_BURST);
    let mut since_poll = 0u32;
    while sender.fresh() < total {
        let now = rebound_dataplane::runtime::now();
        if let Some(r) = rate
            && sender.fresh() as f64 >= start.elapsed().as_secs_f64() * r
        {
            sender.flush()?;
            if !sender.poll(&mut rx, now)? {
                std::thread::sleep(Duration::from_micros(100));
            }
            progress.store(sender.fresh(), Ordering::Relaxed);
            continue;
        }
        if sender.backlogged() {
            sender.flush()?;
            if sender.backlogged() {
                let any = sender.poll(&mut rx, now)?;
                if !any {
                    std::thread::sleep(Duration::from_micros(50));
                }
                continue;
            }
        }
        sender.send_one(now)?;
        since_poll += 1;
        if since_poll >= 64 {
            since_poll = 0;
            sender.flush()?;
            sender.poll(&mut rx, now)?;
            progress.store(sender.fresh(), Ordering::Relaxed);
        }
    }
    progress.store(sender.fresh(), Ordering::Relaxed);
    let duration = start.elapsed();
    let linger = Instant::now() + FLOOD_LINGER;
    while Instant::now() < linger {
        let now = rebound_dataplane::runtime::now();
        sender.flush()?;
        if !sender.poll(&mut rx, now)? {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    Ok(FloodOutcome {
        counts: sender.counts(),
        duration,
        fresh: sender.fresh(),
    })
}
