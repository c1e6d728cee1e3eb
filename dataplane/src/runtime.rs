//! What the gateway's threads share besides their queues: the run state,
//! the clock as the engine sees it, the buffered OS generator and the
//! thread CPU-time reading.

use std::time::{SystemTime, UNIX_EPOCH};

use rebound_engine::rand::RandomSource;
use rebound_engine::time::Timestamp;
use zeroize::Zeroize;

/// Run state shared by the gateway and its workers.
pub const RUN: u8 = 0;
/// Finish in-flight exchanges, take no new ones, then exit.
pub const DRAIN: u8 = 1;
/// Exit now (after handing off every SA already established).
pub const STOP: u8 = 2;

/// The wall clock as the engine sees it.
pub fn now() -> Timestamp {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    Timestamp::from_millis(ms)
}

/// The OS generator, read 4 KiB at a time: one `getrandom` call per few
/// dozen exchanges instead of several per exchange. Bytes are wiped as
/// they are handed out.
pub struct BufferedOsRng {
    buf: Box<[u8; 4096]>,
    pos: usize,
}

impl BufferedOsRng {
    pub fn new() -> Self {
        BufferedOsRng {
            buf: Box::new([0; 4096]),
            pos: 4096,
        }
    }

    /// A generator whose first buffer is already read: fails here, with an
    /// error, rather than later with a panic, when the OS generator does
    /// not work at all.
    pub fn try_new() -> Result<Self, getrandom::Error> {
        let mut r = Self::new();
        getrandom::fill(&mut r.buf[..])?;
        r.pos = 0;
        Ok(r)
    }
}

impl Default for BufferedOsRng {
    fn default() -> Self {
        Self::new()
    }
}

impl RandomSource for BufferedOsRng {
    fn fill(&mut self, out: &mut [u8]) {
        let mut done = 0;
        while done < out.len() {
            if self.pos == self.buf.len() {
                // The OS generator failing is not recoverable: without
                // randomness no nonce, SPI or ticket id is safe.
                getrandom::fill(&mut self.buf[..]).expect("the OS random generator failed");
                self.pos = 0;
            }
            let n = (out.len() - done).min(self.buf.len() - self.pos);
            let src = &mut self.buf[self.pos..self.pos + n];
            out[done..done + n].copy_from_slice(src);
            src.zeroize();
            self.pos += n;
            done += n;
        }
    }
}

impl Drop for BufferedOsRng {
    fn drop(&mut self) {
        self.buf.zeroize();
    }
}

/// This thread's CPU time in user and in kernel mode, in milliseconds,
/// from /proc/thread-self/stat (fields 14 and 15, `utime` and `stime`, in
/// clock ticks of 1/100 s: USER_HZ is 100 on every Linux architecture
/// Rebound runs on). The kernel time is the UDP path (recvmmsg, sendmmsg)
/// plus the rare sleep; the user time is the engine and the poll loop.
///
/// Read into a stack buffer: the workers call this every 50 ms and
/// allocate nothing in steady state.
pub fn thread_cpu_ms() -> Option<(u64, u64)> {
    use std::io::Read;
    let mut buf = [0u8; 1024];
    let mut f = std::fs::File::open("/proc/thread-self/stat").ok()?;
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(_) => return None,
        }
    }
    let stat = std::str::from_utf8(&buf[..n]).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime * 10, stime * 10))
}
