//! Shared inputs for Rebound's benchmarks (`benches/`) and the tests that
//! check those inputs are what the benchmarks claim. See docs/PERFORMANCE.md.

#![forbid(unsafe_code)]

use rebound_engine::crypto::{Encr, IkeKeys, IkeSuite, PrfAlg, Role, SkCipher};
use rebound_engine::wire::{
    AuthMethod, AuthRepr, ExchangeType, Flags, HEADER_LEN, HeaderRepr, IdRepr, IdType, Message,
    MessageBuilder, NotifyRepr, NotifyType, Payload, PayloadType, WireError,
};

/// Length of the benchmark's IKE_SESSION_RESUME request.
pub const RESUME_REQUEST_LEN: usize = 300;

/// A 300-byte IKE_SESSION_RESUME request as a client sends it (RFC 5723
/// §4.3.2): `HDR, Ni, N(TICKET_OPAQUE), N(NAT_DETECTION_SOURCE_IP),
/// N(NAT_DETECTION_DESTINATION_IP)`, with a 172-byte ticket.
pub fn resume_request() -> Vec<u8> {
    let hdr = HeaderRepr::initiator_request(
        [0x5e, 0x11, 0x0f, 0x42, 0x9a, 0x03, 0x7c, 0xd1],
        [0; 8],
        ExchangeType::IKE_SESSION_RESUME,
        0,
    );
    let nonce = [0x6b; 32];
    let ticket = [0xa7; 172];
    let mut buf = vec![0u8; 512];
    let mut b = MessageBuilder::new(&mut buf, &hdr).expect("header fits");
    let payloads = [
        Payload::Nonce(rebound_engine::wire::NonceRepr { nonce: &nonce }),
        Payload::Notify(NotifyRepr::ike(NotifyType::TICKET_OPAQUE, &ticket)),
        Payload::Notify(NotifyRepr::ike(
            NotifyType::NAT_DETECTION_SOURCE_IP,
            &[1; 20],
        )),
        Payload::Notify(NotifyRepr::ike(
            NotifyType::NAT_DETECTION_DESTINATION_IP,
            &[2; 20],
        )),
    ];
    for p in &payloads {
        b.push(p).expect("payload fits");
    }
    let n = b.finish().expect("finish");
    buf.truncate(n);
    buf
}

/// What the resume stage needs from a request, borrowed from it.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ResumeFields<'a> {
    pub spi_i: [u8; 8],
    pub nonce: &'a [u8],
    pub ticket: &'a [u8],
    pub natd_src: &'a [u8],
    pub natd_dst: &'a [u8],
}

/// The parse the benchmark measures: header checks, the whole payload chain,
/// every payload decoded, and the fields the resume stage uses picked out.
pub fn parse_resume_request(bytes: &[u8]) -> Result<ResumeFields<'_>, WireError> {
    let msg = Message::parse(bytes)?;
    let mut f = ResumeFields {
        spi_i: msg.header.spi_i,
        ..Default::default()
    };
    msg.parse_all(|p| {
        match p {
            Payload::Nonce(n) => f.nonce = n.nonce,
            Payload::Notify(n) => match n.notify_type {
                NotifyType::TICKET_OPAQUE => f.ticket = n.data,
                NotifyType::NAT_DETECTION_SOURCE_IP => f.natd_src = n.data,
                NotifyType::NAT_DETECTION_DESTINATION_IP => f.natd_dst = n.data,
                _ => {}
            },
            _ => {}
        }
        Ok(())
    })?;
    Ok(f)
}

/// Length of the benchmark's protected IKE_AUTH message.
pub const PROTECTED_LEN: usize = 400;

/// A 400-byte IKE_AUTH request protected with AES-256-GCM-16 (PRF-SHA256),
/// as the resumed IKE_AUTH arrives: `HDR, SK {IDi, AUTH, N(TICKET_REQUEST),
/// V}`, the Vendor ID sized so the message is exactly 400 bytes. Returns the
/// message, the SK payload offset and the responder's inbound cipher.
pub fn protected_ike_auth() -> Result<(Vec<u8>, usize, SkCipher), Box<dyn std::error::Error>> {
    let suite = IkeSuite::new(Encr::AES_GCM_256, PrfAlg::HmacSha256, None)?;
    let spi_i = [0x5e, 0x11, 0x0f, 0x42, 0x9a, 0x03, 0x7c, 0xd1];
    let spi_r = [0x01, 0x77, 0x23, 0x9c, 0x4e, 0x10, 0xfa, 0x08];
    let keys = IkeKeys::derive(
        &suite,
        &[0x42; 32],
        &[0x6b; 32],
        &[0x9d; 32],
        &spi_i,
        &spi_r,
    )?;
    let (initiator_send, _) = keys.sk_ciphers(&suite, Role::Initiator)?;
    let (_, responder_recv) = keys.sk_ciphers(&suite, Role::Responder)?;
    let hdr = HeaderRepr {
        spi_i,
        spi_r,
        next_payload: PayloadType::NONE,
        minor_version: 0,
        exchange_type: ExchangeType::IKE_AUTH,
        flags: Flags::new(true, false),
        message_id: 1,
    };
    // Fixed part: header, SK header, IV (8), IDi (4+4+18), AUTH (4+4+32),
    // N (8), V header (4), pad length (1), ICV (16).
    let fixed = HEADER_LEN + 4 + 8 + 26 + 40 + 8 + 4 + 1 + 16;
    let vendor = vec![0x56u8; PROTECTED_LEN - fixed];
    let mut buf = vec![0u8; 1024];
    let mut b = MessageBuilder::new(&mut buf, &hdr)?;
    b.begin_sk(initiator_send.layout(0).iv_len)?;
    for p in [
        Payload::IdI(IdRepr {
            id_type: IdType::FQDN,
            data: b"client.example.net",
        }),
        Payload::Auth(AuthRepr {
            method: AuthMethod::SHARED_KEY_MIC,
            data: &[0xa0; 32],
        }),
        Payload::Notify(NotifyRepr::ike(NotifyType::TICKET_REQUEST, &[])),
        Payload::VendorId(&vendor),
    ] {
        b.push(&p)?;
    }
    let sec = b.end_sk(|pt| initiator_send.layout(pt).trailer_len())?;
    let n = b.finish()?;
    buf.truncate(n);
    initiator_send.protect(
        &mut buf,
        sec.sk_offset,
        sec.plaintext.len(),
        &1u64.to_be_bytes(),
    )?;
    Ok((buf, sec.sk_offset, responder_recv))
}

/// Length of the benchmark ticket: AES-256-GCM + PRF-SHA256 state, an
/// 22-byte IDi, a 10-byte IDr and an IPv4 address.
pub const TICKET_LEN: usize = 150;

/// A key ring, a ticket state that seals to [`TICKET_LEN`] bytes, and a
/// time inside the key's windows.
pub fn ticket_fixture() -> (
    rebound_engine::ticket::keyring::TicketKeyRing,
    rebound_engine::ticket::state::TicketState,
    u64,
) {
    use rebound_engine::crypto::SecretBuf;
    use rebound_engine::ticket::TicketId;
    use rebound_engine::ticket::keyring::{KeyWindow, TicketKey, TicketKeyRing};
    use rebound_engine::ticket::state::{TicketIdentity, TicketState, TicketSuite};
    let now = 1_800_000_000u64;
    let key = TicketKey::new(
        [1; 8],
        [0x11; 32],
        KeyWindow {
            issue_from: now - 60,
            issue_until: now + 6 * 3600,
            accept_until: now + 18 * 3600,
        },
    )
    .expect("valid key");
    let ring = TicketKeyRing::new(vec![key]).expect("valid ring");
    let suite = IkeSuite::new(Encr::AES_GCM_256, PrfAlg::HmacSha256, None).expect("suite");
    let state = TicketState {
        ticket_id: TicketId([0x3c; 16]),
        id_i: TicketIdentity::new(IdType::FQDN, b"client-042.example.net").expect("id"),
        id_r: TicketIdentity::new(IdType::FQDN, b"vpn.gw.net").expect("id"),
        peer_identity: None,
        auth_method: AuthMethod::SHARED_KEY_MIC,
        suite: TicketSuite {
            suite,
            dh_group: 31,
        },
        sk_d: SecretBuf::from_slice(&[0x5d; 32]).expect("sk_d"),
        old_spi_i: [1; 8],
        old_spi_r: [2; 8],
        internal_addr: Some(std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 8, 0, 7))),
        issued_at: now,
        expiry: now + 8 * 3600,
        reauth_deadline: now + 24 * 3600,
    };
    (ring, state, now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_is_300_bytes_and_parses() {
        let r = resume_request();
        assert_eq!(r.len(), RESUME_REQUEST_LEN);
        let f = parse_resume_request(&r).unwrap();
        assert_eq!(f.nonce, &[0x6b; 32]);
        assert_eq!(f.ticket.len(), 172);
        assert_eq!(f.natd_src, &[1; 20]);
        assert_eq!(f.natd_dst, &[2; 20]);
    }

    #[test]
    fn protected_message_is_400_bytes_and_opens() {
        let (mut m, off, cipher) = protected_ike_auth().unwrap();
        assert_eq!(m.len(), PROTECTED_LEN);
        let pt = cipher.unprotect(&mut m, off).unwrap();
        let inner: Vec<_> = rebound_engine::wire::PayloadIter::new(PayloadType::IDI, &m[pt])
            .map(|p| p.unwrap().ptype)
            .collect();
        assert_eq!(
            inner,
            [
                PayloadType::IDI,
                PayloadType::AUTH,
                PayloadType::NOTIFY,
                PayloadType::VENDOR_ID
            ]
        );
    }
}

pub mod memory;
pub mod resume;
