//! What a ticket carries: every item RFC 5723 §5 marks "from the ticket",
//! and its compact binary encoding (the plaintext of a by-value ticket, and
//! the value a ticket store keeps for a by-reference one). The byte layout is
//! documented in docs/TICKETS.md.

use core::fmt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::crypto::{Encr, IkeSuite, Integ, PrfAlg, SecretBuf};
use crate::wire::{AuthMethod, IdType};

use super::types::{TicketId, TicketReject, UnixSeconds};

/// Longest identification data a ticket holds (RFC 7296 §3.5 puts no bound;
/// an FQDN is at most 253 octets, so 255 covers every PSK identity).
pub const MAX_ID_DATA: usize = 255;

/// An identity as the ticket keeps it: the ID payload's type and data.
/// The three RESERVED octets are not kept: RFC 7296 §3.5 says they "MUST be
/// sent as zero; MUST be ignored on receipt".
#[derive(Clone, Copy)]
pub struct TicketIdentity {
    pub id_type: IdType,
    len: u8,
    data: [u8; MAX_ID_DATA],
}

impl TicketIdentity {
    /// An identity from an ID payload's type and data; `None` when the data
    /// is empty or longer than [`MAX_ID_DATA`].
    pub fn new(id_type: IdType, data: &[u8]) -> Option<Self> {
        if data.is_empty() || data.len() > MAX_ID_DATA {
            return None;
        }
        let mut d = [0u8; MAX_ID_DATA];
        d[..data.len()].copy_from_slice(data);
        Some(TicketIdentity {
            id_type,
            len: data.len() as u8,
            data: d,
        })
    }

    /// Overwrite in place (no 255-byte temporary); `false` when the data is
    /// empty or too long, leaving `self` unchanged.
    pub fn set(&mut self, id_type: IdType, data: &[u8]) -> bool {
        if data.is_empty() || data.len() > MAX_ID_DATA {
            return false;
        }
        self.id_type = id_type;
        self.len = data.len() as u8;
        self.data[..data.len()].copy_from_slice(data);
        true
    }

    /// The identification data.
    pub fn data(&self) -> &[u8] {
        &self.data[..self.len as usize]
    }

    /// Whether an ID payload (type and data) names this identity.
    pub fn matches(&self, id_type: IdType, data: &[u8]) -> bool {
        self.id_type == id_type && self.data() == data
    }

    /// The key the revocation list uses: type octet followed by the data.
    pub fn revocation_key(&self, out: &mut [u8; 1 + MAX_ID_DATA]) -> usize {
        out[0] = self.id_type.0;
        out[1..1 + self.len as usize].copy_from_slice(self.data());
        1 + self.len as usize
    }

    fn encoded_len(&self) -> usize {
        2 + self.len as usize
    }
}

impl PartialEq for TicketIdentity {
    /// Type and data only: bytes past the length are not part of the value.
    fn eq(&self, o: &Self) -> bool {
        self.id_type == o.id_type && self.data() == o.data()
    }
}

impl Eq for TicketIdentity {}

impl fmt::Debug for TicketIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.data();
        if d.iter().all(|c| c.is_ascii_graphic()) {
            write!(f, "{:?}:{}", self.id_type, String::from_utf8_lossy(d))
        } else {
            write!(f, "{:?}:", self.id_type)?;
            d.iter().try_for_each(|b| write!(f, "{b:02x}"))
        }
    }
}

/// The IKE SA transforms the ticket restores (RFC 5723 §5, the table's
/// "IKE SA algorithms (SAr)": "From the ticket.").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TicketSuite {
    pub suite: IkeSuite,
    /// The Diffie-Hellman group of the original SA (kept for the rekey
    /// after resumption; resumption itself does no DH).
    pub dh_group: u16,
}

/// The whole state a gateway needs to resume an IKE SA.
///
/// Deliberately absent (RFC 5723 §5): NAT state (determined anew, §4.3.2),
/// child SAs, the window size and message ids.
#[derive(Clone)]
pub struct TicketState {
    /// Random 128-bit id for single use and revocation.
    pub ticket_id: TicketId,
    /// The initiator's identity (IDi of the original SA).
    pub id_i: TicketIdentity,
    /// The responder's identity (IDr).
    pub id_r: TicketIdentity,
    /// The authenticated peer identity when it differs from IDi (Note 1,
    /// e.g. an EAP identity).
    pub peer_identity: Option<TicketIdentity>,
    /// How the peer authenticated originally.
    pub auth_method: AuthMethod,
    pub suite: TicketSuite,
    /// SK_d of the old SA; SKEYSEED for the resumed SA derives from it
    /// (§5.1). Wiped on drop, never printed.
    pub sk_d: SecretBuf,
    /// The old SA's SPIs, only to find and silently delete it (Note 4,
    /// §4.3.4).
    pub old_spi_i: [u8; 8],
    pub old_spi_r: [u8; 8],
    /// The internal address assigned to the peer (Note 5).
    pub internal_addr: Option<IpAddr>,
    /// When the ticket was issued (for revocation by identity, §9.7).
    pub issued_at: UnixSeconds,
    /// Absolute expiry (§6.1).
    pub expiry: UnixSeconds,
    /// Re-authentication deadline: resuming never extends the SA past it
    /// (RFC 4478; RFC 5723 §6.2).
    pub reauth_deadline: UnixSeconds,
}

impl PartialEq for TicketState {
    /// Field by field; SK_d in constant time.
    fn eq(&self, o: &Self) -> bool {
        self.sk_d.ct_eq(&o.sk_d)
            && self.ticket_id == o.ticket_id
            && self.id_i == o.id_i
            && self.id_r == o.id_r
            && self.peer_identity == o.peer_identity
            && self.auth_method == o.auth_method
            && self.suite == o.suite
            && self.old_spi_i == o.old_spi_i
            && self.old_spi_r == o.old_spi_r
            && self.internal_addr == o.internal_addr
            && self.issued_at == o.issued_at
            && self.expiry == o.expiry
            && self.reauth_deadline == o.reauth_deadline
    }
}

impl Eq for TicketState {}

impl fmt::Debug for TicketState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TicketState")
            .field("ticket_id", &self.ticket_id)
            .field("id_i", &self.id_i)
            .field("id_r", &self.id_r)
            .field("peer_identity", &self.peer_identity)
            .field("auth_method", &self.auth_method)
            .field("suite", &self.suite)
            .field("sk_d", &self.sk_d)
            .field("old_spi_i", &self.old_spi_i)
            .field("old_spi_r", &self.old_spi_r)
            .field("internal_addr", &self.internal_addr)
            .field("issued_at", &self.issued_at)
            .field("expiry", &self.expiry)
            .field("reauth_deadline", &self.reauth_deadline)
            .finish()
    }
}

/// The suite of [`TicketState::placeholder`], checked at compile time.
const PLACEHOLDER_SUITE: IkeSuite = match IkeSuite::new(Encr::AES_GCM_256, PrfAlg::HmacSha256, None)
{
    Ok(s) => s,
    Err(_) => panic!("AES-GCM-256 + HMAC-SHA256 is a valid suite"),
};

/// Encoding format version of [`TicketState`].
const STATE_V1: u8 = 1;
const FLAG_PEER: u8 = 0x01;
const ADDR_SHIFT: u8 = 1;
const ADDR_MASK: u8 = 0x06;
/// version, flags, three times, auth method, suite (6), old SPIs.
const FIXED_LEN: usize = 1 + 1 + 12 + 1 + 6 + 16;

/// The longest encoding of any state: the bound on what a by-value ticket's
/// ciphertext can be.
pub const MAX_ENCODED_STATE: usize =
    FIXED_LEN + PrfAlg::MAX_OUTPUT_LEN + 3 * (2 + MAX_ID_DATA) + 16;

/// Why a state cannot be encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StateEncodeError {
    /// A time beyond the year 2106 (times are 32-bit on the wire).
    TimeOutOfRange,
    /// A transform id that does not fit the compact encoding.
    TransformOutOfRange,
    /// SK_d is not the prf's output length.
    SkDLength,
    /// The output buffer is too small.
    BufferTooSmall { need: usize },
}

impl fmt::Display for StateEncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TimeOutOfRange => write!(f, "ticket time beyond 2106"),
            Self::TransformOutOfRange => write!(f, "transform id does not fit the ticket"),
            Self::SkDLength => write!(f, "SK_d length differs from the prf output length"),
            Self::BufferTooSmall { need } => write!(f, "ticket buffer too small: need {need}"),
        }
    }
}

impl std::error::Error for StateEncodeError {}

fn time32(t: UnixSeconds) -> Result<[u8; 4], StateEncodeError> {
    u32::try_from(t)
        .map(u32::to_be_bytes)
        .map_err(|_| StateEncodeError::TimeOutOfRange)
}

fn u8_id(v: u16) -> Result<u8, StateEncodeError> {
    u8::try_from(v).map_err(|_| StateEncodeError::TransformOutOfRange)
}

/// A bounds-checked reader; every failure is `Malformed`.
struct Reader<'a> {
    b: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], TicketReject> {
        if self.b.len() < n {
            return Err(TicketReject::Malformed);
        }
        let (h, t) = self.b.split_at(n);
        self.b = t;
        Ok(h)
    }
    fn u8(&mut self) -> Result<u8, TicketReject> {
        Ok(self.take(1)?[0])
    }
    fn arr<const N: usize>(&mut self) -> Result<[u8; N], TicketReject> {
        self.take(N)?
            .try_into()
            .map_err(|_| TicketReject::Malformed)
    }
    fn identity_into(&mut self, dst: &mut TicketIdentity) -> Result<(), TicketReject> {
        let t = IdType(self.u8()?);
        let n = self.u8()? as usize;
        if dst.set(t, self.take(n)?) {
            Ok(())
        } else {
            Err(TicketReject::Malformed)
        }
    }
}

impl TicketState {
    /// Length of [`TicketState::encode`]'s output.
    pub fn encoded_len(&self) -> usize {
        FIXED_LEN
            + self.sk_d.len()
            + self.id_i.encoded_len()
            + self.id_r.encoded_len()
            + self.peer_identity.map_or(0, |p| p.encoded_len())
            + match self.internal_addr {
                None => 0,
                Some(IpAddr::V4(_)) => 4,
                Some(IpAddr::V6(_)) => 16,
            }
    }

    /// Write the compact encoding into `out`; returns its length. The ticket
    /// id is not part of it: it is the ticket's clear header (by value) or
    /// the store's key (by reference), and [`TicketState::decode`] takes it
    /// back from there.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, StateEncodeError> {
        let need = self.encoded_len();
        if out.len() < need {
            return Err(StateEncodeError::BufferTooSmall { need });
        }
        let suite = &self.suite.suite;
        if self.sk_d.len() != suite.prf().output_len() {
            return Err(StateEncodeError::SkDLength);
        }
        let key_bytes = u8_id(suite.encr().key_bits() / 8)?;
        let mut flags = 0u8;
        if self.peer_identity.is_some() {
            flags |= FLAG_PEER;
        }
        flags |= match self.internal_addr {
            None => 0,
            Some(IpAddr::V4(_)) => 1 << ADDR_SHIFT,
            Some(IpAddr::V6(_)) => 2 << ADDR_SHIFT,
        };
        let mut w = 0usize;
        let mut put = |b: &[u8]| {
            out[w..w + b.len()].copy_from_slice(b);
            w += b.len();
        };
        put(&[STATE_V1, flags]);
        put(&time32(self.issued_at)?);
        put(&time32(self.expiry)?);
        put(&time32(self.reauth_deadline)?);
        put(&[self.auth_method.0]);
        put(&[
            u8_id(suite.encr().id())?,
            key_bytes,
            u8_id(suite.prf().id())?,
            suite.integ().map_or(Ok(0), |i| u8_id(i.id()))?,
        ]);
        put(&self.suite.dh_group.to_be_bytes());
        put(&self.old_spi_i);
        put(&self.old_spi_r);
        put(self.sk_d.as_bytes());
        for id in [
            Some(&self.id_i),
            Some(&self.id_r),
            self.peer_identity.as_ref(),
        ]
        .into_iter()
        .flatten()
        {
            put(&[id.id_type.0, id.len]);
            put(id.data());
        }
        match self.internal_addr {
            None => {}
            Some(IpAddr::V4(a)) => put(&a.octets()),
            Some(IpAddr::V6(a)) => put(&a.octets()),
        }
        debug_assert_eq!(w, need);
        Ok(w)
    }

    /// A valid placeholder state (all-zero keys and ids), for
    /// preallocated [`super::format::OpenSlot`]s that
    /// [`TicketState::decode_into`] overwrites.
    pub fn placeholder() -> TicketState {
        let suite = PLACEHOLDER_SUITE;
        let id = TicketIdentity {
            id_type: IdType::KEY_ID,
            len: 1,
            data: [0; MAX_ID_DATA],
        };
        TicketState {
            ticket_id: TicketId([0; 16]),
            id_i: id,
            id_r: id,
            peer_identity: None,
            auth_method: AuthMethod::SHARED_KEY_MIC,
            suite: TicketSuite { suite, dh_group: 0 },
            sk_d: SecretBuf::empty(),
            old_spi_i: [0; 8],
            old_spi_r: [0; 8],
            internal_addr: None,
            issued_at: 0,
            expiry: 0,
            reauth_deadline: 0,
        }
    }

    /// Decode a state encoded for `ticket_id`. Every inconsistency is
    /// `Malformed`; trailing bytes are refused.
    pub fn decode(ticket_id: TicketId, b: &[u8]) -> Result<TicketState, TicketReject> {
        let mut s = Self::placeholder();
        s.decode_into(ticket_id, b)?;
        Ok(s)
    }

    /// Decode into `self`, overwriting it without building temporaries (the
    /// state is ~850 bytes; the hot path reuses slots). On error `self`
    /// holds no key: SK_d is cleared.
    pub fn decode_into(&mut self, ticket_id: TicketId, b: &[u8]) -> Result<(), TicketReject> {
        let r = self.decode_fields(ticket_id, b);
        if r.is_err() {
            self.sk_d = SecretBuf::empty();
        }
        r
    }

    fn decode_fields(&mut self, ticket_id: TicketId, b: &[u8]) -> Result<(), TicketReject> {
        let mut r = Reader { b };
        if r.u8()? != STATE_V1 {
            return Err(TicketReject::UnknownVersion);
        }
        let flags = r.u8()?;
        if flags & !(FLAG_PEER | ADDR_MASK) != 0 {
            return Err(TicketReject::Malformed);
        }
        let issued_at = u32::from_be_bytes(r.arr()?) as u64;
        let expiry = u32::from_be_bytes(r.arr()?) as u64;
        let reauth_deadline = u32::from_be_bytes(r.arr()?) as u64;
        let auth_method = AuthMethod(r.u8()?);
        let [encr, key_bytes, prf, integ] = r.arr::<4>()?;
        let dh_group = u16::from_be_bytes(r.arr()?);
        let encr = Encr::from_transform(encr as u16, key_bytes as u16 * 8)
            .ok_or(TicketReject::Malformed)?;
        let prf = PrfAlg::from_id(prf as u16).ok_or(TicketReject::Malformed)?;
        let integ = match integ {
            0 => None,
            i => Some(Integ::from_id(i as u16).ok_or(TicketReject::Malformed)?),
        };
        let suite = IkeSuite::new(encr, prf, integ).map_err(|_| TicketReject::Malformed)?;
        self.old_spi_i = r.arr()?;
        self.old_spi_r = r.arr()?;
        self.sk_d = SecretBuf::from_slice(r.take(prf.output_len())?)
            .map_err(|_| TicketReject::Malformed)?;
        r.identity_into(&mut self.id_i)?;
        r.identity_into(&mut self.id_r)?;
        if flags & FLAG_PEER != 0 {
            let mut p = self.peer_identity.unwrap_or(self.id_i);
            r.identity_into(&mut p)?;
            self.peer_identity = Some(p);
        } else {
            self.peer_identity = None;
        }
        self.internal_addr = match (flags & ADDR_MASK) >> ADDR_SHIFT {
            0 => None,
            1 => Some(IpAddr::V4(Ipv4Addr::from(r.arr::<4>()?))),
            2 => Some(IpAddr::V6(Ipv6Addr::from(r.arr::<16>()?))),
            _ => return Err(TicketReject::Malformed),
        };
        if !r.b.is_empty() || issued_at > expiry {
            return Err(TicketReject::Malformed);
        }
        self.ticket_id = ticket_id;
        self.auth_method = auth_method;
        self.suite = TicketSuite { suite, dh_group };
        self.issued_at = issued_at;
        self.expiry = expiry;
        self.reauth_deadline = reauth_deadline;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(prf: PrfAlg, addr: Option<IpAddr>, peer: bool) -> TicketState {
        let suite = IkeSuite::new(Encr::AES_CBC_256, prf, Some(Integ::HmacSha512_256)).unwrap();
        let sk: Vec<u8> = (0..prf.output_len() as u8).collect();
        TicketState {
            ticket_id: TicketId([9; 16]),
            id_i: TicketIdentity::new(IdType::RFC822_ADDR, b"alice@example.org").unwrap(),
            id_r: TicketIdentity::new(IdType::IPV4_ADDR, &[192, 0, 2, 1]).unwrap(),
            peer_identity: peer.then(|| TicketIdentity::new(IdType::KEY_ID, &[0xee; 40]).unwrap()),
            auth_method: AuthMethod::SHARED_KEY_MIC,
            suite: TicketSuite {
                suite,
                dh_group: 14,
            },
            sk_d: SecretBuf::from_slice(&sk).unwrap(),
            old_spi_i: [1; 8],
            old_spi_r: [2; 8],
            internal_addr: addr,
            issued_at: 1_700_000_000,
            expiry: 1_700_028_800,
            reauth_deadline: 1_700_086_400,
        }
    }

    #[test]
    fn round_trip_and_exact_length() {
        for prf in PrfAlg::ALL {
            for addr in [
                None,
                Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))),
                Some(IpAddr::V6(Ipv6Addr::LOCALHOST)),
            ] {
                for peer in [false, true] {
                    let s = sample(prf, addr, peer);
                    let mut buf = [0u8; MAX_ENCODED_STATE];
                    let n = s.encode(&mut buf).unwrap();
                    assert_eq!(n, s.encoded_len());
                    assert_eq!(TicketState::decode(s.ticket_id, &buf[..n]).unwrap(), s);
                    // Every strict prefix and one extra byte are refused.
                    for cut in 0..n {
                        assert!(TicketState::decode(s.ticket_id, &buf[..cut]).is_err());
                    }
                    assert_eq!(
                        TicketState::decode(s.ticket_id, &buf[..n + 1]),
                        Err(TicketReject::Malformed)
                    );
                }
            }
        }
    }

    #[test]
    fn refuses_what_it_cannot_represent() {
        let mut s = sample(PrfAlg::HmacSha256, None, false);
        let mut buf = [0u8; MAX_ENCODED_STATE];
        assert_eq!(
            s.encode(&mut buf[..10]),
            Err(StateEncodeError::BufferTooSmall {
                need: s.encoded_len()
            })
        );
        s.expiry = u64::from(u32::MAX) + 1;
        assert_eq!(s.encode(&mut buf), Err(StateEncodeError::TimeOutOfRange));
        let mut s = sample(PrfAlg::HmacSha256, None, false);
        s.sk_d = SecretBuf::from_slice(&[1; 20]).unwrap();
        assert_eq!(s.encode(&mut buf), Err(StateEncodeError::SkDLength));
        assert!(TicketIdentity::new(IdType::FQDN, &[]).is_none());
        assert!(TicketIdentity::new(IdType::FQDN, &[b'x'; 256]).is_none());
    }

    #[test]
    fn decode_checks_fields() {
        let s = sample(PrfAlg::HmacSha256, None, false);
        let mut buf = [0u8; MAX_ENCODED_STATE];
        let n = s.encode(&mut buf).unwrap();
        let bad = |i: usize, v: u8| {
            let mut b = buf;
            b[i] = v;
            TicketState::decode(s.ticket_id, &b[..n])
        };
        assert_eq!(bad(0, 2), Err(TicketReject::UnknownVersion));
        assert_eq!(bad(1, 0x80), Err(TicketReject::Malformed)); // unknown flag
        assert_eq!(bad(1, 0x06), Err(TicketReject::Malformed)); // address kind 3
        assert_eq!(bad(15, 99), Err(TicketReject::Malformed)); // unknown ENCR
        assert_eq!(bad(17, 99), Err(TicketReject::Malformed)); // unknown PRF
        assert_eq!(bad(18, 0), Err(TicketReject::Malformed)); // CBC without INTEG
        // Issued after it expires.
        assert_eq!(bad(2, 0xff), Err(TicketReject::Malformed));
    }
}
