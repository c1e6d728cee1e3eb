//! What an established SA keeps of its ticket state, packed for the table
//! of SAs the control plane holds for hours (docs/OPERATIONS.md, memory per
//! SA). A [`TicketState`] keeps three identities in 255-byte inline
//! buffers and copies of what the SA itself holds (SK_d, SPIs, suite):
//! 928 bytes. [`SessionTicket`] keeps the identities in heap blocks of
//! their own length and takes the rest from the SA when a ticket is made
//! ([`SessionTicket::state`]).

use core::net::IpAddr;

use crate::crypto::SecretBuf;
use crate::handoff::EstablishedSa;
use crate::ticket::state::{TicketIdentity, TicketState, TicketSuite};
use crate::ticket::{TicketId, UnixSeconds};
use crate::wire::{AuthMethod, IdType};

/// An identity in a heap block of its own length: the type octet, then
/// the data.
#[derive(Clone, PartialEq, Eq)]
pub(super) struct PackedId(Box<[u8]>);

impl PackedId {
    pub fn pack(id: &TicketIdentity) -> Self {
        let mut v = Vec::with_capacity(1 + id.data().len());
        v.push(id.id_type.0);
        v.extend_from_slice(id.data());
        PackedId(v.into_boxed_slice())
    }

    /// The identity again (always `Some` for one packed by
    /// [`pack`](Self::pack)).
    pub fn unpack(&self) -> Option<TicketIdentity> {
        let (&t, data) = self.0.split_first()?;
        TicketIdentity::new(IdType(t), data)
    }

    /// Whether this is `id`.
    pub fn is(&self, id: &TicketIdentity) -> bool {
        self.0.split_first() == Some((&id.id_type.0, id.data()))
    }
}

/// What a [`TicketState`] needs from the SA itself.
#[derive(Clone, Copy)]
pub(super) struct TicketBase<'a> {
    pub sk_d: &'a [u8],
    pub spi_i: [u8; 8],
    pub spi_r: [u8; 8],
    pub suite: TicketSuite,
}

/// The ticket state of an established SA, without what the SA holds.
#[derive(Clone)]
pub(super) struct SessionTicket {
    id_i: PackedId,
    id_r: PackedId,
    peer_identity: Option<PackedId>,
    auth_method: AuthMethod,
    /// The internal address assigned to the peer (Note 5).
    pub internal_addr: Option<IpAddr>,
    pub issued_at: UnixSeconds,
    /// Re-authentication deadline (RFC 4478; RFC 5723 §6.2).
    pub reauth_deadline: UnixSeconds,
}

impl SessionTicket {
    /// The state of an SA authenticated at `issued_at` (a full exchange).
    pub fn new(
        id_i: &TicketIdentity,
        id_r: &TicketIdentity,
        auth_method: AuthMethod,
        internal_addr: Option<IpAddr>,
        issued_at: UnixSeconds,
        reauth_deadline: UnixSeconds,
    ) -> Self {
        SessionTicket {
            id_i: PackedId::pack(id_i),
            id_r: PackedId::pack(id_r),
            peer_identity: None,
            auth_method,
            internal_addr,
            issued_at,
            reauth_deadline,
        }
    }

    /// Keep what `t` holds beyond `t`'s SA (its SK_d, SPIs and suite are
    /// the SA's own; its id and expiry are a ticket's, set when one is
    /// issued).
    #[cfg(test)]
    pub fn pack(t: &TicketState) -> Self {
        SessionTicket {
            id_i: PackedId::pack(&t.id_i),
            id_r: PackedId::pack(&t.id_r),
            peer_identity: t.peer_identity.as_ref().map(PackedId::pack),
            auth_method: t.auth_method,
            internal_addr: t.internal_addr,
            issued_at: t.issued_at,
            reauth_deadline: t.reauth_deadline,
        }
    }

    /// An SA a worker resumed, as the control plane adopts it.
    pub fn adopted(sa: &EstablishedSa) -> Self {
        SessionTicket {
            id_i: PackedId::pack(&sa.id_i),
            id_r: PackedId::pack(&sa.id_r),
            peer_identity: sa.peer_identity.as_ref().map(PackedId::pack),
            auth_method: sa.auth_method,
            internal_addr: sa.internal_addr,
            issued_at: sa.authenticated_at,
            reauth_deadline: sa.reauth_deadline,
        }
    }

    /// IDi's type octet and data: the key the address pool and the
    /// identity index use (`TicketIdentity::revocation_key`).
    pub fn id_i_key(&self) -> &[u8] {
        &self.id_i.0
    }

    /// IDi (`None` only if the packed form were damaged, which `pack`
    /// cannot produce).
    pub fn id_i(&self) -> Option<TicketIdentity> {
        self.id_i.unpack()
    }

    /// Whether IDi is `id`.
    pub fn is_id_i(&self, id: &TicketIdentity) -> bool {
        self.id_i.is(id)
    }

    /// The whole ticket state of the SA `base` describes (no ticket id or
    /// expiry yet: those come with the ticket).
    pub fn state(&self, base: TicketBase<'_>) -> Option<TicketState> {
        Some(TicketState {
            ticket_id: TicketId([0; 16]),
            id_i: self.id_i.unpack()?,
            id_r: self.id_r.unpack()?,
            peer_identity: match &self.peer_identity {
                Some(p) => Some(p.unpack()?),
                None => None,
            },
            auth_method: self.auth_method,
            suite: base.suite,
            sk_d: SecretBuf::from_slice(base.sk_d).ok()?,
            old_spi_i: base.spi_i,
            old_spi_r: base.spi_r,
            internal_addr: self.internal_addr,
            issued_at: self.issued_at,
            expiry: 0,
            reauth_deadline: self.reauth_deadline,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{Encr, IkeSuite, PrfAlg};

    fn state() -> TicketState {
        let id = |s: &[u8]| TicketIdentity::new(IdType::FQDN, s).unwrap();
        TicketState {
            ticket_id: TicketId([0; 16]),
            id_i: id(b"client.example.net"),
            id_r: id(b"gw.example.net"),
            peer_identity: Some(id(b"eap-user")),
            auth_method: AuthMethod::SHARED_KEY_MIC,
            suite: TicketSuite {
                suite: IkeSuite::new(Encr::AES_GCM_256, PrfAlg::HmacSha256, None).unwrap(),
                dh_group: 31,
            },
            sk_d: SecretBuf::from_slice(&[9; 32]).unwrap(),
            old_spi_i: [1; 8],
            old_spi_r: [2; 8],
            internal_addr: Some("10.0.0.7".parse().unwrap()),
            issued_at: 1_000,
            expiry: 0,
            reauth_deadline: 2_000,
        }
    }

    #[test]
    fn packed_and_rebuilt_from_the_sa_is_the_same_state() {
        let t = state();
        let p = SessionTicket::pack(&t);
        let base = TicketBase {
            sk_d: t.sk_d.as_bytes(),
            spi_i: t.old_spi_i,
            spi_r: t.old_spi_r,
            suite: t.suite,
        };
        assert!(p.state(base) == Some(t.clone()));
        assert!(p.is_id_i(&t.id_i) && !p.is_id_i(&t.id_r));
        assert_eq!(p.id_i(), Some(t.id_i));
        // Far smaller than the state it stands for.
        assert!(core::mem::size_of::<SessionTicket>() < 128);
    }
}
