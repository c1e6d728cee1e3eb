//! The resumption fixture: rebound-bench's recorded resumptions (tickets
//! by value sealed with its key ring, each client's IKE_SESSION_RESUME and
//! IKE_AUTH as the client sent them), a fresh responder per input that
//! answers them as recorded, and the keys of client 0's resumed SA so a
//! target can seal fuzzed IKE_AUTH plaintext.
//!
//! A responder per input keeps runs reproducible (a crash replays from its
//! input alone): its table, guard, store and pool are small, so building
//! one costs microseconds; the fixture itself is recorded once per process.

use std::net::Ipv4Addr;
use std::sync::{Arc, OnceLock};

use rebound_bench::resume::{NOW, ResumeFixture, fixture as record, responder_with};
use rebound_engine::child::{AddressPool, MemoryPool};
use rebound_engine::crypto::{Role, SkCipher};
use rebound_engine::responder::{PacketMeta, ResponderConfig, ResponderShared, ResumeResponder};
use rebound_engine::ticket::keyring::KeyRingCell;
use rebound_engine::ticket::revocation::RevocationList;
use rebound_engine::ticket::store::{MemoryTicketStore, TicketStore};
use rebound_engine::time::Timestamp;
use rebound_engine::wire::{HeaderRepr, IkeHeader};

use crate::guard::SetGuard;
use crate::sk;

/// Recorded clients (one recording burst: every request, then every
/// IKE_AUTH). A fresh responder accepts client `k`'s IKE_AUTH once it has
/// seen the requests of clients 0 to `k` in order.
pub const CLIENTS: usize = 4;

/// The fixture's clock.
pub fn now() -> Timestamp {
    Timestamp::from_secs(NOW)
}

/// What the resumption targets share.
pub struct ResumeFuzz {
    pub recorded: ResumeFixture,
    /// Client 0's IKE_AUTH: its header, the first inner payload type and
    /// the plaintext of its SK payload.
    pub auth_header: HeaderRepr,
    pub auth_first: u8,
    pub auth_plain: Vec<u8>,
    /// Client 0's outbound SK cipher (SK_ei/SK_ai of its resumed SA).
    pub client_out: SkCipher,
}

impl ResumeFuzz {
    /// Client `k`'s (meta, request, IKE_AUTH).
    pub fn client(&self, k: usize) -> (PacketMeta, &[u8], &[u8]) {
        let (peer, req, auth) = &self.recorded.clients[k % CLIENTS];
        let meta = PacketMeta {
            peer: *peer,
            local: self.recorded.gateway,
        };
        (meta, req, auth)
    }

    /// `HDR, SK{plaintext}` as client 0's IKE_AUTH, with its keys.
    pub fn sealed_auth(&self, first_inner: u8, plaintext: &[u8]) -> Vec<u8> {
        sk::seal(&self.client_out, &self.auth_header, first_inner, plaintext)
    }
}

/// The fixture, recorded on first use.
pub fn fixture() -> &'static ResumeFuzz {
    static F: OnceLock<ResumeFuzz> = OnceLock::new();
    F.get_or_init(build)
}

fn build() -> ResumeFuzz {
    let recorded = record(CLIENTS);
    let mut f = ResumeFuzz {
        recorded,
        auth_header: HeaderRepr::initiator_request(
            [0; 8],
            [0; 8],
            rebound_engine::wire::ExchangeType::IKE_AUTH,
            1,
        ),
        auth_first: 0,
        auth_plain: Vec::new(),
        client_out: placeholder_cipher(),
    };
    // Client 0 again on a fresh responder: its SA has the keys that
    // protect its IKE_AUTH.
    let mut r = responder(&f.recorded);
    let (meta, req, auth) = f.client(0);
    let mut out = vec![0u8; 4096];
    r.handle(now(), &meta, req, &mut out)
        .reply
        .expect("the fixture's request is answered");
    let sa = r
        .handle(now(), &meta, auth, &mut out)
        .established
        .expect("the fixture's IKE_AUTH resumes");
    let (client_out, _) = sa
        .keys
        .sk_ciphers(&sa.suite, Role::Initiator)
        .expect("the SA's ciphers");
    let (_, gw_in) = sa
        .keys
        .sk_ciphers(&sa.suite, Role::Responder)
        .expect("the SA's ciphers");
    let (first, plain) = sk::open(&gw_in, auth).expect("the IKE_AUTH opens");
    let hdr = IkeHeader::new_checked(auth).expect("an IKE header");
    f.auth_header = HeaderRepr::parse(&hdr).expect("an IKE header");
    f.auth_first = first;
    f.auth_plain = plain;
    f.client_out = client_out;
    // The recorded plaintext sealed again (another IV) resumes too: the
    // sealed inputs of the targets reach past AUTH.
    let mut r = responder(&f.recorded);
    let (meta, req, _) = f.client(0);
    r.handle(now(), &meta, req, &mut out);
    let again = f.sealed_auth(f.auth_first, &f.auth_plain);
    assert!(
        r.handle(now(), &meta, &again, &mut out)
            .established
            .is_some(),
        "the recorded IKE_AUTH plaintext, sealed again, resumes"
    );
    f
}

/// A cipher to fill the field until the real one is known.
fn placeholder_cipher() -> SkCipher {
    SkCipher::new(
        rebound_engine::crypto::Encr::AES_GCM_256,
        None,
        &[0; 36],
        &[],
    )
    .expect("an AES-256-GCM key with salt")
}

/// What a responder of one input shares: the fixture's ring, a fresh
/// single-use guard ([`SetGuard`]), revocation list, by-reference store and
/// address pool.
pub fn shared(f: &ResumeFixture) -> ResponderShared {
    let pool = MemoryPool::new(Some((Ipv4Addr::new(10, 9, 0, 1), 16)), None).expect("pool");
    ResponderShared {
        keys: Arc::new(KeyRingCell::new(f.ring.clone())),
        guard: Arc::new(SetGuard::default()),
        revocations: Some(Arc::new(RevocationList::new(64))),
        store: Some(Arc::new(MemoryTicketStore::new(64, 1)) as Arc<dyn TicketStore>),
        pool: Some(Arc::new(pool) as Arc<dyn AddressPool>),
    }
}

/// A fresh responder in the fixture's state, small: 16 half-open SAs,
/// cookies from 8, 16 cached answers.
pub fn responder(f: &ResumeFixture) -> ResumeResponder {
    let config = ResponderConfig {
        half_open_limit: 16,
        cookie_threshold: 8,
        completed_cache_limit: 16,
        ..ResponderConfig::default()
    };
    responder_with(config, shared(f))
}
