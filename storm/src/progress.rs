//! A progress bar on stderr for the long phases: a few counters the storm
//! threads bump, drawn by the thread that waits for them. Drawn only when
//! enabled and stderr is a terminal.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How often the bar is redrawn.
pub const REDRAW: Duration = Duration::from_millis(200);
const WIDTH: usize = 30;

/// Counters of one phase, shared by its threads.
#[derive(Debug)]
pub struct Progress {
    label: &'static str,
    /// What a success and a failure are called on the bar.
    words: (&'static str, &'static str),
    total: u64,
    enabled: bool,
    started: Instant,
    /// Clients finished (any outcome).
    pub done: AtomicU64,
    /// Of those, successful.
    pub ok: AtomicU64,
}

impl Progress {
    pub fn new(label: &'static str, total: u64, enabled: bool) -> Self {
        Progress {
            label,
            words: ("ok", "failed"),
            total,
            enabled: enabled && std::io::stderr().is_terminal(),
            started: Instant::now(),
            done: AtomicU64::new(0),
            ok: AtomicU64::new(0),
        }
    }

    /// Call successes and failures `ok` and `failed` on the bar.
    pub fn with_words(mut self, ok: &'static str, failed: &'static str) -> Self {
        self.words = (ok, failed);
        self
    }

    /// One more finished client.
    pub fn finish_one(&self, ok: bool) {
        self.done.fetch_add(1, Ordering::Relaxed);
        if ok {
            self.ok.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// `n` more finished, successful items.
    pub fn add_ok(&self, n: u64) {
        self.done.fetch_add(n, Ordering::Relaxed);
        self.ok.fetch_add(n, Ordering::Relaxed);
    }

    /// Redraw the bar.
    pub fn draw(&self) {
        if !self.enabled {
            return;
        }
        let done = self.done.load(Ordering::Relaxed);
        let ok = self.ok.load(Ordering::Relaxed);
        let frac = if self.total == 0 {
            1.0
        } else {
            (done as f64 / self.total as f64).min(1.0)
        };
        let filled = (frac * WIDTH as f64) as usize;
        let secs = self.started.elapsed().as_secs_f64();
        let rate = if secs > 0.0 { ok as f64 / secs } else { 0.0 };
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r{:<20} [{}{}] {done}/{} {} {ok} {} {} {rate:.0}/s ",
            self.label,
            "#".repeat(filled),
            " ".repeat(WIDTH - filled),
            self.total,
            self.words.0,
            self.words.1,
            done - ok.min(done),
        );
        let _ = err.flush();
    }

    /// Draw the final state and end the line.
    pub fn end(&self) {
        if !self.enabled {
            return;
        }
        self.draw();
        let _ = writeln!(std::io::stderr());
    }

    /// Redraw every [`REDRAW`] until `finished` says so, then end the line.
    pub fn watch(&self, finished: impl Fn() -> bool) {
        while !finished() {
            self.draw();
            std::thread::sleep(if self.enabled {
                REDRAW
            } else {
                Duration::from_millis(20)
            });
        }
        self.end();
    }
}
