//! What the control plane receives for every IKE SA the engine establishes.
//!
//! An [`EstablishedSa`] carries everything an IPsec stack needs to take the
//! SA over: SPIs, addresses, NAT status, identities, transforms, every SK_*
//! key, the child SA with its keys and selectors, the internal address, the
//! new ticket's id, and for a resumed SA the SPIs of the SA it replaces
//! (RFC 5723 §4.3.4: "the old SA SHOULD be silently deleted"). Keys are
//! wiped on drop and never printed.

use crate::child::TsList;
use core::fmt;
use core::net::{IpAddr, SocketAddr};

use crate::crypto::{AuthForm, ChildKeys, Encr, IkeKeys, IkeSuite, Integ};
use crate::ticket::state::{TicketIdentity, TicketState};
use crate::ticket::{TicketId, UnixSeconds};
use crate::time::Timestamp;
use crate::wire::{AuthMethod, TrafficSelector};

/// NAT status as determined from the NAT_DETECTION notifies of the
/// exchange that established the SA (RFC 7296 §2.23; RFC 5723 §4.3.2: "The
/// client's NAT traversal status SHOULD be determined anew in
/// IKE_SESSION_RESUME.").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct NatStatus {
    /// The peer sent NAT_DETECTION notifies at all.
    pub detection: bool,
    /// The peer's NAT_DETECTION_SOURCE_IP did not match the address the
    /// packet came from: the peer is behind a NAT.
    pub peer_behind_nat: bool,
    /// The peer's NAT_DETECTION_DESTINATION_IP did not match the address the
    /// packet was sent to: this gateway is behind a NAT.
    pub local_behind_nat: bool,
}

impl NatStatus {
    /// Whether either side is behind a NAT (the IKE SA then moves to UDP
    /// encapsulation on port 4500).
    pub const fn any(self) -> bool {
        self.peer_behind_nat || self.local_behind_nat
    }
}

/// One IP address range with protocol and ports: an owned traffic
/// selector (RFC 7296 §3.13.1) of type TS_IPV4_ADDR_RANGE or
/// TS_IPV6_ADDR_RANGE, `start` and `end` always of the same family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TsRange {
    /// IP protocol, 0 for any.
    pub ip_proto: u8,
    pub start_port: u16,
    pub end_port: u16,
    pub start: IpAddr,
    pub end: IpAddr,
}

impl TsRange {
    /// The wire form.
    pub const fn selector(&self) -> TrafficSelector<'static> {
        TrafficSelector::Range {
            ip_proto: self.ip_proto,
            start_port: self.start_port,
            end_port: self.end_port,
            start: self.start,
            end: self.end,
        }
    }

    /// The owned form of a received range selector; `None` for selector
    /// types Rebound does not interpret or a range whose addresses mix
    /// families.
    pub fn from_selector(ts: &TrafficSelector<'_>) -> Option<Self> {
        match *ts {
            TrafficSelector::Range {
                ip_proto,
                start_port,
                end_port,
                start,
                end,
            } if start.is_ipv4() == end.is_ipv4() => Some(TsRange {
                ip_proto,
                start_port,
                end_port,
                start,
                end,
            }),
            _ => None,
        }
    }
}

/// The two SPIs that name a child SA: the initiator's inbound SPI and the
/// responder's (as in [`ChildSa`]).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChildSpis {
    pub spi_i: [u8; 4],
    pub spi_r: [u8; 4],
}

impl fmt::Debug for ChildSpis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ChildSpis({:?}/{:?})",
            Hex(&self.spi_i),
            Hex(&self.spi_r)
        )
    }
}

/// A change to SAs already handed off, in the order the slow path made
/// it: one hand-off line each, after the lines of the SAs it names.
#[derive(Debug, Clone)]
pub enum SaChange {
    /// The peer deleted this IKE SA (its ticket is revoked unless
    /// `revoke_on_delete` is off), or INITIAL_CONTACT from a new SA of the
    /// same identity ended it.
    Deleted { spi_i: [u8; 8], spi_r: [u8; 8] },
    /// CREATE_CHILD_SA made a new child SA on the IKE SA `ike` (SPIi,
    /// SPIr).
    ChildCreated {
        ike: ([u8; 8], [u8; 8]),
        child: Box<ChildSa>,
    },
    /// CREATE_CHILD_SA rekeyed the child SA `old` of `ike` into `child`
    /// (RFC 7296 §1.3.3); the old one is deleted by the peer afterwards
    /// (a [`SaChange::ChildDeleted`]).
    ChildRekeyed {
        ike: ([u8; 8], [u8; 8]),
        old: ChildSpis,
        child: Box<ChildSa>,
    },
    /// The peer deleted these child SAs of `ike` (INFORMATIONAL with an ESP
    /// Delete payload).
    ChildDeleted {
        ike: ([u8; 8], [u8; 8]),
        children: Vec<ChildSpis>,
    },
}

/// An ESP child SA pair: created with the IKE SA (RFC 7296 §1.2), or by
/// CREATE_CHILD_SA (§1.3.1, §1.3.3).
#[derive(Clone)]
pub struct ChildSa {
    /// The initiator's inbound SPI (from SAi2): ESP towards the initiator
    /// carries it.
    pub spi_i: [u8; 4],
    /// The responder's inbound SPI (SAr2): ESP towards the responder carries
    /// it.
    pub spi_r: [u8; 4],
    pub encr: Encr,
    pub integ: Option<Integ>,
    /// Extended sequence numbers negotiated.
    pub esn: bool,
    /// KEYMAT = prf+(SK_d, Ni | Nr) split (RFC 7296 §2.17).
    pub keys: ChildKeys,
    /// The narrowed TSi: the initiator's side of the tunnel.
    pub ts_i: TsList,
    /// The narrowed TSr: the responder's side.
    pub ts_r: TsList,
}

impl fmt::Debug for ChildSa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildSa")
            .field("spi_i", &Hex(&self.spi_i))
            .field("spi_r", &Hex(&self.spi_r))
            .field("encr", &self.encr)
            .field("integ", &self.integ)
            .field("esn", &self.esn)
            .field("keys", &self.keys)
            .field("ts_i", &self.ts_i)
            .field("ts_r", &self.ts_r)
            .finish()
    }
}

/// A ticket the gateway issued with an SA: its id and absolute expiry (what
/// revoking it in the single-use guard needs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IssuedTicket {
    pub id: TicketId,
    pub expiry: UnixSeconds,
}

/// How an SA came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Origin {
    /// RFC 5723 resumption; `replaces` is the old SA (SPIi, SPIr) to delete
    /// silently, `auth_form` the AUTH form the initiator used.
    Resumed {
        replaces: ([u8; 8], [u8; 8]),
        auth_form: AuthForm,
    },
    /// A full IKE_SA_INIT + IKE_AUTH.
    Initial,
    /// A rekey of the IKE SA `replaces` (CREATE_CHILD_SA, RFC 7296 §2.18);
    /// the old SA stays until the peer deletes it.
    Rekeyed { replaces: ([u8; 8], [u8; 8]) },
}

/// An IKE SA (and its first child SA) ready for the control plane.
#[derive(Clone)]
pub struct EstablishedSa {
    pub spi_i: [u8; 8],
    pub spi_r: [u8; 8],
    /// The peer's address and port as the packets came from it.
    pub peer: SocketAddr,
    /// This gateway's address and port the peer sent to.
    pub local: SocketAddr,
    pub nat: NatStatus,
    pub id_i: TicketIdentity,
    pub id_r: TicketIdentity,
    /// The authenticated peer identity when it differs from IDi.
    pub peer_identity: Option<TicketIdentity>,
    /// How the peer originally authenticated.
    pub auth_method: AuthMethod,
    pub suite: IkeSuite,
    /// The Diffie-Hellman group of the original exchange.
    pub dh_group: u16,
    pub ni: NonceBytes,
    pub nr: NonceBytes,
    pub keys: IkeKeys,
    /// The first child SA; `None` when the exchange created none.
    pub child: Option<ChildSa>,
    /// The internal address assigned with CP(CFG_REPLY).
    pub internal_addr: Option<IpAddr>,
    /// The id of the ticket issued with this SA (N(TICKET_LT_OPAQUE)).
    pub new_ticket: Option<IssuedTicket>,
    pub origin: Origin,
    /// Which worker established it (the top byte of SPIr).
    pub worker: u8,
    pub established_at: Timestamp,
    /// When the peer last authenticated in full (a resumed or rekeyed SA
    /// keeps its original exchange's time): tickets issued for the SA
    /// carry it, so revoking an identity "before T" covers them.
    pub authenticated_at: UnixSeconds,
    /// The SA must be re-authenticated (a full exchange) by then.
    pub reauth_deadline: UnixSeconds,
    /// Its IKE_AUTH carried N(INITIAL_CONTACT) (RFC 7296 §2.4): the peer
    /// keeps no other IKE SA with the gateway, so the other SAs of its
    /// identity are stale. Set by the workers' resumed IKE_AUTH; the slow
    /// path acts on it when it adopts the SA (a full exchange's own SA
    /// has acted already).
    pub initial_contact: bool,
}

/// A nonce as an SA keeps it: up to 32 bytes (what Rebound and the
/// common initiators send) inline, longer ones (up to 256, RFC 7296 §2.10)
/// on the heap; so a resumed SA's hand-off does not allocate for them.
pub type NonceBytes = smallvec::SmallVec<[u8; 32]>;

/// What one exchange made, for [`EstablishedSa::new`]: the new IKE SA's
/// SPIs, nonces and keys, where its packets flow, and what its IKE_AUTH
/// gave (child SA, internal address, the gateway's new ticket).
pub struct NewSa {
    pub spi_i: [u8; 8],
    pub spi_r: [u8; 8],
    pub peer: SocketAddr,
    pub local: SocketAddr,
    pub nat: NatStatus,
    pub ni: NonceBytes,
    pub nr: NonceBytes,
    pub keys: IkeKeys,
    pub child: Option<ChildSa>,
    pub internal_addr: Option<IpAddr>,
    pub new_ticket: Option<IssuedTicket>,
}

impl EstablishedSa {
    /// The one way an [`EstablishedSa`] is made, by every exchange that
    /// establishes one: the SA `sa` made, established `now` by `worker`,
    /// with what `auth` records about how its peer authenticated: IDi, IDr,
    /// the peer identity, the method, the suite and DH group, when the peer
    /// last authenticated in full (`issued_at`) and the re-authentication
    /// deadline. A resumed SA passes the ticket it resumed; a full exchange,
    /// a rekey or a client the state it would put in a ticket now.
    pub fn new(auth: &TicketState, sa: NewSa, origin: Origin, worker: u8, now: Timestamp) -> Self {
        let NewSa {
            spi_i,
            spi_r,
            peer,
            local,
            nat,
            ni,
            nr,
            keys,
            child,
            internal_addr,
            new_ticket,
        } = sa;
        EstablishedSa {
            spi_i,
            spi_r,
            peer,
            local,
            nat,
            id_i: auth.id_i,
            id_r: auth.id_r,
            peer_identity: auth.peer_identity,
            auth_method: auth.auth_method,
            suite: auth.suite.suite,
            dh_group: auth.suite.dh_group,
            ni,
            nr,
            keys,
            child,
            internal_addr,
            new_ticket,
            origin,
            worker,
            established_at: now,
            authenticated_at: auth.issued_at,
            reauth_deadline: auth.reauth_deadline,
            initial_contact: false,
        }
    }

    /// The SPIs of the SA this one replaces, for a resumed SA.
    pub fn replaces(&self) -> Option<([u8; 8], [u8; 8])> {
        match self.origin {
            Origin::Resumed { replaces, .. } => Some(replaces),
            Origin::Initial | Origin::Rekeyed { .. } => None,
        }
    }
}

impl fmt::Debug for EstablishedSa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EstablishedSa")
            .field("spi_i", &Hex(&self.spi_i))
            .field("spi_r", &Hex(&self.spi_r))
            .field("peer", &self.peer)
            .field("local", &self.local)
            .field("nat", &self.nat)
            .field("id_i", &self.id_i)
            .field("id_r", &self.id_r)
            .field("suite", &self.suite)
            .field("keys", &self.keys)
            .field("child", &self.child)
            .field("internal_addr", &self.internal_addr)
            .field("new_ticket", &self.new_ticket)
            .field("origin", &self.origin)
            .field("worker", &self.worker)
            .finish_non_exhaustive()
    }
}

/// Lower-case hex for SPIs in `Debug` output.
pub(crate) struct Hex<'a>(pub &'a [u8]);

impl fmt::Debug for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}
