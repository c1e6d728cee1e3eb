//! The IKE_SESSION_RESUME request (RFC 5723 §4.3.2), parsed and checked.
//!
//! ```text
//! Initiator                Responder
//! -----------              -----------
//! HDR, [N(COOKIE),] Ni, N(TICKET_OPAQUE) [,N+]  -->
//! ```

use crate::wire::{ExchangeType, Message, NotifyType, Payload, PayloadType, WireError};

/// The most NAT_DETECTION_SOURCE_IP notifies looked at (a multi-homed
/// initiator sends one per address, RFC 7296 §2.23).
pub const MAX_NATD_SOURCES: usize = 4;

/// A checked request, borrowing the datagram.
#[derive(Debug, Clone, Copy)]
pub struct ResumeRequest<'a> {
    pub spi_i: [u8; 8],
    /// N(COOKIE) data when the request carried one first.
    pub cookie: Option<&'a [u8]>,
    pub nonce: &'a [u8],
    /// The N(TICKET_OPAQUE) data: the ticket.
    pub ticket: &'a [u8],
    /// NAT_DETECTION_SOURCE_IP data (the first [`MAX_NATD_SOURCES`]).
    pub natd_src: [&'a [u8]; MAX_NATD_SOURCES],
    pub natd_src_count: usize,
    /// NAT_DETECTION_DESTINATION_IP data.
    pub natd_dst: Option<&'a [u8]>,
}

/// Why a request was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestError {
    /// The header says this is not a new resume request: dropped silently.
    BadHeader(&'static str),
    /// The request is malformed: answered with the error notify (RFC 7296
    /// §2.21.1: errors in the first exchange are reported unprotected).
    Malformed(WireError),
}

impl RequestError {
    fn syntax(what: &'static str) -> Self {
        RequestError::Malformed(WireError::Malformed {
            payload: PayloadType::NOTIFY,
            what,
        })
    }
}

/// Parse and check a datagram classified as IKE_SESSION_RESUME.
pub fn parse_request(datagram: &[u8]) -> Result<ResumeRequest<'_>, RequestError> {
    let msg = Message::parse(datagram).map_err(|e| match e.notify() {
        Some(_) => RequestError::Malformed(e),
        None => RequestError::BadHeader("not an IKE message"),
    })?;
    let h = &msg.header;
    // RFC 5723 §4.3.2: "The exchange type in HDR is set to
    // 'IKE_SESSION_RESUME'.", "the SPIr value is set to 0", and "The SPI
    // values and Message ID fields behave similarly to IKE_SA_INIT": a
    // message id of zero (it opens a new SA), from the original initiator.
    if h.exchange_type != ExchangeType::IKE_SESSION_RESUME {
        return Err(RequestError::BadHeader("not IKE_SESSION_RESUME"));
    }
    if h.flags.response() {
        return Err(RequestError::BadHeader("a response, not a request"));
    }
    if !h.flags.initiator() {
        return Err(RequestError::BadHeader("Initiator flag clear"));
    }
    if h.spi_r != [0; 8] {
        return Err(RequestError::BadHeader("SPIr is not zero"));
    }
    if h.message_id != 0 {
        return Err(RequestError::BadHeader("message id is not zero"));
    }
    if h.spi_i == [0; 8] {
        return Err(RequestError::BadHeader("SPIi is zero"));
    }
    let mut r = ResumeRequest {
        spi_i: h.spi_i,
        cookie: None,
        nonce: &[],
        ticket: &[],
        natd_src: [&[]; MAX_NATD_SOURCES],
        natd_src_count: 0,
        natd_dst: None,
    };
    let mut nonces = 0;
    let mut tickets = 0;
    for (index, raw) in msg.payloads().enumerate() {
        let raw = raw.map_err(RequestError::Malformed)?;
        match raw.parse().map_err(RequestError::Malformed)? {
            Payload::Nonce(n) => {
                nonces += 1;
                r.nonce = n.nonce;
            }
            Payload::Notify(n) => match n.notify_type {
                NotifyType::COOKIE => {
                    // RFC 7296 §2.6: the cookie is "the first payload".
                    if index != 0 {
                        return Err(RequestError::syntax("N(COOKIE) is not the first payload"));
                    }
                    r.cookie = Some(n.data);
                }
                NotifyType::TICKET_OPAQUE => {
                    tickets += 1;
                    r.ticket = n.data;
                }
                NotifyType::NAT_DETECTION_SOURCE_IP => {
                    if let Some(slot) = r.natd_src.get_mut(r.natd_src_count) {
                        *slot = n.data;
                        r.natd_src_count += 1;
                    }
                }
                NotifyType::NAT_DETECTION_DESTINATION_IP => {
                    if r.natd_dst.is_some() {
                        return Err(RequestError::syntax(
                            "more than one NAT_DETECTION_DESTINATION_IP",
                        ));
                    }
                    r.natd_dst = Some(n.data);
                }
                // Status notifies this exchange does not define are
                // ignored (RFC 7296 §3.10.1: "MUST ignore").
                _ => {}
            },
            Payload::VendorId(_) => {}
            _ => {
                return Err(RequestError::syntax(
                    "payload not allowed in IKE_SESSION_RESUME",
                ));
            }
        }
    }
    // RFC 5723 §4.3.2: "HDR, [N(COOKIE),] Ni, N(TICKET_OPAQUE)": one nonce
    // and one ticket. Ni's length (16..=256, RFC 7296 §2.10) is checked by
    // the nonce parser.
    if nonces != 1 {
        return Err(RequestError::syntax("not exactly one Ni"));
    }
    if tickets != 1 {
        return Err(RequestError::syntax("not exactly one N(TICKET_OPAQUE)"));
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Flags, HeaderRepr, MessageBuilder, NonceRepr, NotifyRepr};

    fn build(hdr: HeaderRepr, payloads: &[Payload<'_>]) -> Vec<u8> {
        let mut buf = vec![0u8; 2048];
        let mut b = MessageBuilder::new(&mut buf, &hdr).unwrap();
        for p in payloads {
            b.push(p).unwrap();
        }
        let n = b.finish().unwrap();
        buf.truncate(n);
        buf
    }

    fn hdr() -> HeaderRepr {
        HeaderRepr::initiator_request([1; 8], [0; 8], ExchangeType::IKE_SESSION_RESUME, 0)
    }

    const NI: [u8; 32] = [7; 32];
    fn nonce() -> Payload<'static> {
        Payload::Nonce(NonceRepr { nonce: &NI })
    }
    fn ticket() -> Payload<'static> {
        Payload::Notify(NotifyRepr::ike(NotifyType::TICKET_OPAQUE, b"ticket"))
    }
    fn note(t: NotifyType, d: &'static [u8]) -> Payload<'static> {
        Payload::Notify(NotifyRepr::ike(t, d))
    }

    #[test]
    fn a_full_request_is_read() {
        let m = build(
            hdr(),
            &[
                note(NotifyType::COOKIE, b"c"),
                nonce(),
                ticket(),
                note(NotifyType::NAT_DETECTION_SOURCE_IP, &[1; 20]),
                note(NotifyType::NAT_DETECTION_SOURCE_IP, &[2; 20]),
                note(NotifyType::NAT_DETECTION_DESTINATION_IP, &[3; 20]),
                note(NotifyType::INITIAL_CONTACT, b""),
            ],
        );
        let r = parse_request(&m).unwrap();
        assert_eq!(r.spi_i, [1; 8]);
        assert_eq!(r.cookie, Some(&b"c"[..]));
        assert_eq!(r.nonce, &NI);
        assert_eq!(r.ticket, b"ticket");
        assert_eq!(r.natd_src_count, 2);
        assert_eq!(r.natd_src[1], &[2; 20]);
        assert_eq!(r.natd_dst, Some(&[3u8; 20][..]));
    }

    #[test]
    fn header_violations_are_dropped() {
        type Case = (fn(&mut HeaderRepr), &'static str);
        let cases: [Case; 6] = [
            (|h| h.spi_r = [9; 8], "SPIr is not zero"),
            (|h| h.message_id = 1, "message id is not zero"),
            (
                |h| h.flags = Flags::new(false, false),
                "Initiator flag clear",
            ),
            (
                |h| h.flags = Flags::new(true, true),
                "a response, not a request",
            ),
            (
                |h| h.exchange_type = ExchangeType::IKE_AUTH,
                "not IKE_SESSION_RESUME",
            ),
            (|h| h.spi_i = [0; 8], "SPIi is zero"),
        ];
        for (mutate, why) in cases {
            let mut h = hdr();
            mutate(&mut h);
            let m = build(h, &[nonce(), ticket()]);
            assert_eq!(parse_request(&m).unwrap_err(), RequestError::BadHeader(why));
        }
    }

    #[test]
    fn payload_violations_are_malformed() {
        let cases: Vec<Vec<Payload<'static>>> = vec![
            vec![ticket()],
            vec![nonce()],
            vec![nonce(), nonce(), ticket()],
            vec![nonce(), ticket(), ticket()],
            vec![nonce(), note(NotifyType::COOKIE, b"c"), ticket()],
            vec![
                nonce(),
                ticket(),
                note(NotifyType::NAT_DETECTION_DESTINATION_IP, &[0; 20]),
                note(NotifyType::NAT_DETECTION_DESTINATION_IP, &[0; 20]),
            ],
            vec![
                nonce(),
                ticket(),
                Payload::IdI(crate::wire::IdRepr {
                    id_type: crate::wire::IdType::FQDN,
                    data: b"x",
                }),
            ],
        ];
        for c in cases {
            let m = build(hdr(), &c);
            assert!(
                matches!(parse_request(&m), Err(RequestError::Malformed(e)) if e.notify() == Some(NotifyType::INVALID_SYNTAX)),
                "{c:?}"
            );
        }
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let m = build(hdr(), &[nonce(), ticket()]);
        for n in 0..m.len() {
            assert!(parse_request(&m[..n]).is_err());
        }
    }
}
