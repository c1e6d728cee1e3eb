//! Hostile datagrams mixed into the reconnect phase (`--garbage F`): after
//! each legitimate datagram the storm sends, with probability F, one of
//! these goes out from a socket of its own (its answers are read and
//! ignored). None may stop a legitimate resumption.

use std::net::SocketAddr;
use std::sync::Arc;

use rebound_engine::client::{ClientTicket, InitiatorConfig, ResumeInitiator};
use rebound_engine::time::Timestamp;
use serde::Serialize;

use super::rng::StormRng;

/// What kind of hostile datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GarbageKind {
    /// 1 to 600 random bytes.
    RandomBytes,
    /// A real request (the one just sent) cut short.
    Truncated,
    /// IKE_SESSION_RESUME whose ticket is random bytes.
    ForgedTicket,
    /// IKE_SESSION_RESUME with a real ticket that has one bit flipped.
    FlippedTicket,
    /// IKE_AUTH with random SPIs and a random SK payload.
    AuthRandomSpi,
}

impl GarbageKind {
    pub const ALL: [GarbageKind; 5] = [
        GarbageKind::RandomBytes,
        GarbageKind::Truncated,
        GarbageKind::ForgedTicket,
        GarbageKind::FlippedTicket,
        GarbageKind::AuthRandomSpi,
    ];

    pub const fn label(self) -> &'static str {
        match self {
            GarbageKind::RandomBytes => "random_bytes",
            GarbageKind::Truncated => "truncated",
            GarbageKind::ForgedTicket => "forged_ticket",
            GarbageKind::FlippedTicket => "flipped_ticket",
            GarbageKind::AuthRandomSpi => "auth_random_spi",
        }
    }
}

/// What was sent, by kind, and the answers that came back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct GarbageCounts {
    pub sent: u64,
    pub random_bytes: u64,
    pub truncated: u64,
    pub forged_ticket: u64,
    pub flipped_ticket: u64,
    pub auth_random_spi: u64,
    /// Datagrams the gateway sent back to the garbage sockets (ignored).
    pub answers: u64,
}

impl GarbageCounts {
    fn bump(&mut self, k: GarbageKind) {
        self.sent += 1;
        *match k {
            GarbageKind::RandomBytes => &mut self.random_bytes,
            GarbageKind::Truncated => &mut self.truncated,
            GarbageKind::ForgedTicket => &mut self.forged_ticket,
            GarbageKind::FlippedTicket => &mut self.flipped_ticket,
            GarbageKind::AuthRandomSpi => &mut self.auth_random_spi,
        } += 1;
    }

    pub fn add(&mut self, o: &GarbageCounts) {
        self.sent += o.sent;
        self.random_bytes += o.random_bytes;
        self.truncated += o.truncated;
        self.forged_ticket += o.forged_ticket;
        self.flipped_ticket += o.flipped_ticket;
        self.auth_random_spi += o.auth_random_spi;
        self.answers += o.answers;
    }
}

const IKE_HEADER_LEN: usize = 28;
const EXCHANGE_IKE_AUTH: u8 = 35;
const PAYLOAD_SK: u8 = 46;
const PAYLOAD_IDI: u8 = 35;
/// IKEv2 version 2.0.
const VERSION: u8 = 0x20;
/// Initiator flag.
const FLAG_I: u8 = 0x08;

/// Makes hostile datagrams.
pub struct GarbageMaker {
    rng: StormRng,
    /// Real tickets to flip bits in and to borrow state from.
    templates: Vec<ClientTicket>,
    config: Arc<InitiatorConfig>,
    local: SocketAddr,
    remote: SocketAddr,
    counts: GarbageCounts,
    scratch: Vec<u8>,
}

impl GarbageMaker {
    /// `templates` must not be empty for the forged kinds (without any,
    /// those become random bytes).
    pub fn new(
        seed: u64,
        stream: u64,
        templates: Vec<ClientTicket>,
        config: Arc<InitiatorConfig>,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> Self {
        GarbageMaker {
            rng: StormRng::new(seed, stream),
            templates,
            config,
            local,
            remote,
            counts: GarbageCounts::default(),
            scratch: vec![0u8; 4096],
        }
    }

    /// Whether to send one after a legitimate datagram.
    pub fn roll(&mut self, fraction: f64) -> bool {
        self.rng.chance(fraction)
    }

    /// One hostile datagram into `out`; `real` is a legitimate request to
    /// truncate.
    pub fn make(&mut self, now: Timestamp, real: &[u8], out: &mut Vec<u8>) -> GarbageKind {
        let kind = GarbageKind::ALL[self.rng.below(GarbageKind::ALL.len())];
        let kind = match kind {
            GarbageKind::Truncated if real.len() >= 2 => {
                let n = self.rng.between(1, real.len() - 1);
                out.clear();
                out.extend_from_slice(&real[..n]);
                kind
            }
            GarbageKind::ForgedTicket | GarbageKind::FlippedTicket
                if !self.templates.is_empty() && self.forged_resume(now, kind, out) =>
            {
                kind
            }
            GarbageKind::AuthRandomSpi => {
                self.auth_random_spi(out);
                kind
            }
            _ => {
                let n = self.rng.between(1, 600);
                out.clear();
                out.resize(n, 0);
                self.rng.fill(out);
                GarbageKind::RandomBytes
            }
        };
        self.counts.bump(kind);
        kind
    }

    /// An IKE_SESSION_RESUME request built by a real initiator around a
    /// forged ticket; false if none could be built.
    fn forged_resume(&mut self, now: Timestamp, kind: GarbageKind, out: &mut Vec<u8>) -> bool {
        let t = &self.templates[self.rng.below(self.templates.len())];
        let mut forged = t.clone();
        if kind == GarbageKind::FlippedTicket {
            let bit = self.rng.below(forged.opaque.len() * 8);
            forged.opaque[bit / 8] ^= 1 << (bit % 8);
        } else {
            let n = self.rng.between(40, 200);
            forged.opaque = vec![0; n];
            self.rng.fill(&mut forged.opaque);
        }
        let mut rng = self.rng.clone();
        // Advance our own stream past what the initiator drew.
        self.rng.next_u64();
        let mut fill = |b: &mut [u8]| rng.fill(b);
        let Ok(mut init) = ResumeInitiator::new(
            self.config.clone(),
            forged,
            self.local,
            self.remote,
            now,
            &mut fill,
        ) else {
            return false;
        };
        let Some(n) = init.poll_transmit(now, &mut self.scratch) else {
            return false;
        };
        out.clear();
        out.extend_from_slice(&self.scratch[..n]);
        true
    }

    /// HDR(IKE_AUTH, random SPIi, random SPIr, message id 1), SK{random}.
    fn auth_random_spi(&mut self, out: &mut Vec<u8>) {
        let body = self.rng.between(48, 400);
        let total = IKE_HEADER_LEN + 4 + body;
        out.clear();
        out.resize(total, 0);
        self.rng.fill(&mut out[..16]);
        if out[8..16] == [0; 8] {
            out[15] = 1;
        }
        out[16] = PAYLOAD_SK;
        out[17] = VERSION;
        out[18] = EXCHANGE_IKE_AUTH;
        out[19] = FLAG_I;
        out[20..24].copy_from_slice(&1u32.to_be_bytes());
        out[24..28].copy_from_slice(&(total as u32).to_be_bytes());
        out[28] = PAYLOAD_IDI;
        out[29] = 0;
        out[30..32].copy_from_slice(&((4 + body) as u16).to_be_bytes());
        self.rng.fill(&mut out[32..]);
    }

    pub fn counts(&self) -> GarbageCounts {
        self.counts
    }

    /// One answer from the gateway arrived on the garbage socket.
    pub fn answered(&mut self) {
        self.counts.answers += 1;
    }
}
