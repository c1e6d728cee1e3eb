//! Shared inputs for Rebound's benchmarks (`benches/`) and the tests that
//! check those inputs are what the benchmarks claim. See docs/PERFORMANCE.md.

use rebound_engine::wire::{
    ExchangeType, Flags, HeaderRepr, Message, MessageBuilder, NotifyRepr, NotifyType, Payload,
    PayloadType, WireError,
};

/// Length of the benchmark's IKE_SESSION_RESUME request.
pub const RESUME_REQUEST_LEN: usize = 300;

/// A 300-byte IKE_SESSION_RESUME request as a client sends it (RFC 5723
/// §4.3.2): `HDR, Ni, N(TICKET_OPAQUE), N(NAT_DETECTION_SOURCE_IP),
/// N(NAT_DETECTION_DESTINATION_IP)`, with a 172-byte ticket.
pub fn resume_request() -> Vec<u8> {
    let hdr = HeaderRepr {
        spi_i: [0x5e, 0x11, 0x0f, 0x42, 0x9a, 0x03, 0x7c, 0xd1],
        spi_r: [0; 8],
        next_payload: PayloadType::NONE,
        minor_version: 0,
        exchange_type: ExchangeType::IKE_SESSION_RESUME,
        flags: Flags::new(true, false),
        message_id: 0,
    };
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
}
