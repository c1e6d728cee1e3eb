//! The full-exchange fixture: a slow-path responder with one pre-shared
//! key, and recorded full exchanges of a client through it (IKE_SA_INIT,
//! IKE_AUTH with N(TICKET_REQUEST)), in two suites: AES-256-GCM with
//! curve25519, and AES-128-CBC + HMAC-SHA-256 with P-256. For each, the
//! client's SK cipher (to seal fuzzed IKE_AUTH or later requests) and, as
//! seeds, the plaintexts of its IKE_AUTH and of the requests that can
//! follow on the SA (liveness, ticket request, new child SA, IKE rekey).
//!
//! The responder draws seeded randomness, so a fresh one per input answers
//! the recorded IKE_SA_INIT exactly as recorded, and the recorded keys
//! protect its IKE_AUTH. The DH of that IKE_SA_INIT is the bulk of an
//! input's cost (tens of microseconds).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, OnceLock};

use rebound_bench::resume::{ring, seeded};
use rebound_engine::child::{AddressPool, MemoryPool};
use rebound_engine::client::{ChildRequest, FullConfig, FullEvent, FullInitiator};
use rebound_engine::crypto::{DhGroup, Role, SecretBuf, SkCipher};
use rebound_engine::responder::{PacketMeta, ResponderConfig, ResponderShared};
use rebound_engine::slow_path::{IkeProposal, Psk, PskTable, SlowPathConfig, SlowPathResponder};
use rebound_engine::ticket::keyring::KeyRingCell;
use rebound_engine::ticket::revocation::RevocationList;
use rebound_engine::ticket::state::TicketIdentity;
use rebound_engine::time::Timestamp;
use rebound_engine::wire::{ExchangeType, HeaderRepr, IdType, IkeHeader};

use crate::guard::SetGuard;
use crate::sk;

/// The clock (rebound-bench's: the fixture ring issues then).
pub fn now() -> Timestamp {
    Timestamp::from_secs(rebound_bench::resume::NOW)
}

/// The recorded client's address.
pub fn client_meta() -> PacketMeta {
    PacketMeta {
        peer: SocketAddr::new(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7)), 500),
        local: crate::GATEWAY,
    }
}

const CLIENT_ID: &[u8] = b"alice.example.net";
const CLIENT_PSK: &[u8] = b"alice's pre-shared key, long enough";
const GATEWAY_ID: &[u8] = b"gw.example.net";
const SLOW_SEED: u64 = 0x510e_0001;

/// The suites recorded: (client proposal, its KE group).
pub const SUITES: [(&str, DhGroup); 2] = [
    ("aes256gcm16-prfsha256-curve25519", DhGroup::Curve25519),
    ("aes128-sha256-ecp256", DhGroup::Ecp256),
];

/// A request on the established SA, as a seed: its exchange type, the SK
/// payload's first inner type and the plaintext.
#[derive(Debug, Clone)]
pub struct LaterRequest {
    pub exchange: ExchangeType,
    pub first_inner: u8,
    pub plain: Vec<u8>,
}

/// One recorded full exchange.
pub struct Recorded {
    pub init: Vec<u8>,
    pub init_reply: Vec<u8>,
    pub auth: Vec<u8>,
    pub auth_header: HeaderRepr,
    pub auth_first: u8,
    pub auth_plain: Vec<u8>,
    pub later: Vec<LaterRequest>,
    /// The client's outbound SK cipher.
    pub client_out: SkCipher,
}

impl Recorded {
    /// `HDR, SK{plaintext}` from the client on this SA: the IKE_AUTH's
    /// header with `exchange` and `message_id`.
    pub fn sealed(
        &self,
        exchange: ExchangeType,
        message_id: u32,
        first_inner: u8,
        plaintext: &[u8],
    ) -> Vec<u8> {
        let header = HeaderRepr {
            exchange_type: exchange,
            message_id,
            ..self.auth_header
        };
        sk::seal(&self.client_out, &header, first_inner, plaintext)
    }
}

fn fqdn(name: &[u8]) -> TicketIdentity {
    TicketIdentity::new(IdType::FQDN, name).expect("an identity")
}

/// The recorded exchanges, one per entry of [`SUITES`], recorded on first use.
pub fn fixture() -> &'static [Recorded] {
    static F: OnceLock<Vec<Recorded>> = OnceLock::new();
    F.get_or_init(|| SUITES.iter().map(|&(ike, g)| record(ike, g)).collect())
}

/// A fresh slow-path responder: the fixture's PSK, ring and randomness, a
/// fresh single-use guard ([`SetGuard`]), a small
/// revocation list and pool; cookies from 8 half-open SAs.
pub fn responder() -> SlowPathResponder {
    let pool = MemoryPool::new(Some((Ipv4Addr::new(10, 9, 0, 1), 16)), None).expect("pool");
    let shared = ResponderShared {
        keys: Arc::new(KeyRingCell::new(ring())),
        guard: Arc::new(SetGuard::default()),
        revocations: Some(Arc::new(RevocationList::new(64))),
        store: None,
        pool: Some(Arc::new(pool) as Arc<dyn AddressPool>),
    };
    let config = SlowPathConfig {
        responder: ResponderConfig {
            half_open_limit: 16,
            cookie_threshold: 8,
            completed_cache_limit: 16,
            ..ResponderConfig::default()
        },
        ike: IkeProposal::default_policy(),
        local_id: fqdn(GATEWAY_ID),
        reauth_secs: 20 * 3600,
        revoke_on_delete: true,
        max_children: 4,
    };
    let psks = Arc::new(PskTable::new([Psk {
        id: fqdn(CLIENT_ID),
        secret: SecretBuf::from_slice(CLIENT_PSK).expect("a PSK"),
        tickets: true,
    }]));
    SlowPathResponder::new(config, shared, psks, Box::new(seeded(SLOW_SEED)), now())
}

fn record(ike: &str, group: DhGroup) -> Recorded {
    let meta = client_meta();
    let mut config = FullConfig::new(
        fqdn(CLIENT_ID),
        SecretBuf::from_slice(CLIENT_PSK).expect("a PSK"),
    );
    config.ike = vec![IkeProposal::parse(ike).expect("a proposal")];
    config.group = group;
    config.id_r = Some(fqdn(GATEWAY_ID));
    config.request_address = true;
    let mut rng = seeded(0xc11e_0001);
    let mut client = FullInitiator::new(Arc::new(config), meta.peer, meta.local, &mut rng)
        .expect("the client starts");
    let mut slow = responder();
    let mut buf = vec![0u8; 4096];
    let mut out = vec![0u8; 4096];

    let n = client.poll_transmit(now(), &mut buf).expect("IKE_SA_INIT");
    let init = buf[..n].to_vec();
    let r = slow
        .handle(now(), &meta, &init, &mut out)
        .reply
        .expect("IKE_SA_INIT answered");
    let init_reply = out[..r].to_vec();
    client.handle(now(), &init_reply, &mut rng);
    let n = client.poll_transmit(now(), &mut buf).expect("IKE_AUTH");
    let auth = buf[..n].to_vec();
    let r = slow
        .handle(now(), &meta, &auth, &mut out)
        .reply
        .expect("IKE_AUTH answered");
    client.handle(now(), &out[..r], &mut rng);
    let Some(FullEvent::Established { mut session, .. }) = client.poll_event() else {
        panic!("the recorded full exchange ({ike}) establishes an SA");
    };
    let (client_out, _) = session
        .keys()
        .sk_ciphers(&session.suite(), Role::Initiator)
        .expect("the SA's ciphers");
    let (_, gw_in) = session
        .keys()
        .sk_ciphers(&session.suite(), Role::Responder)
        .expect("the SA's ciphers");
    let (auth_first, auth_plain) = sk::open(&gw_in, &auth).expect("the IKE_AUTH opens");
    let auth_header =
        HeaderRepr::parse(&IkeHeader::new_checked(&auth[..]).expect("header")).expect("header");
    // The plaintext sealed again (another IV) establishes the SA on a
    // fresh responder too: the sealed inputs of the target reach past AUTH.
    {
        let mut fresh = responder();
        fresh.handle(now(), &meta, &init, &mut out);
        let again = sk::seal(&client_out, &auth_header, auth_first, &auth_plain);
        fresh.handle(now(), &meta, &again, &mut out);
        assert_eq!(
            fresh.established(),
            1,
            "the IKE_AUTH plaintext, sealed again, establishes ({ike})"
        );
    }

    // Requests that can follow, each answered so the next can be made;
    // the IKE rekey last (it replaces the SA).
    let mut later = Vec::new();
    let child = ChildRequest {
        pfs: vec![group],
        ..ChildRequest::default()
    };
    for step in 0..4 {
        let req = match step {
            0 => session.informational_liveness(&mut rng),
            1 => session.request_ticket(&mut rng),
            2 => session.create_child(&child, &mut rng),
            _ => session.rekey(group, &mut rng),
        }
        .expect("a request on the SA");
        let h =
            HeaderRepr::parse(&IkeHeader::new_checked(&req[..]).expect("header")).expect("header");
        let (first_inner, plain) = sk::open(&gw_in, &req).expect("the request opens");
        later.push(LaterRequest {
            exchange: h.exchange_type,
            first_inner,
            plain,
        });
        let r = slow
            .handle(now(), &meta, &req, &mut out)
            .reply
            .expect("a request on the SA is answered");
        session
            .response(now(), &out[..r], &mut rng)
            .expect("the answer reads");
    }
    Recorded {
        init,
        init_reply,
        auth,
        auth_header,
        auth_first,
        auth_plain,
        later,
        client_out,
    }
}
