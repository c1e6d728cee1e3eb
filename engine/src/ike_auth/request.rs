//! The IKE_AUTH request's inner payloads (RFC 7296 §1.2, RFC 5723 §4.3.3).

use crate::wire::{
    AuthRepr, CpRepr, IdRepr, NotifyType, Payload, PayloadIter, PayloadType, SaRepr, TsRepr,
    WireError,
};

/// The IKE_AUTH request's inner payloads that matter here.
/// (The full exchange's IKE_AUTH carries the same payloads.)
#[derive(Default)]
pub(crate) struct AuthRequest<'a> {
    pub(crate) idi: Option<(IdRepr<'a>, &'a [u8])>,
    pub(crate) idr: Option<IdRepr<'a>>,
    pub(crate) auth: Option<AuthRepr<'a>>,
    pub(crate) cert: bool,
    pub(crate) sa: Option<SaRepr<'a>>,
    pub(crate) tsi: Option<TsRepr<'a>>,
    pub(crate) tsr: Option<TsRepr<'a>>,
    pub(crate) cp: Option<CpRepr<'a>>,
    pub(crate) ticket_request: bool,
    /// N(INITIAL_CONTACT) (RFC 7296 §2.4): the peer has no other IKE SA
    /// with us.
    pub(crate) initial_contact: bool,
}

pub(crate) fn read_inner(
    first: PayloadType,
    plaintext: &[u8],
) -> Result<AuthRequest<'_>, WireError> {
    let mut r = AuthRequest::default();
    for raw in PayloadIter::new(first, plaintext) {
        let raw = raw?;
        match raw.parse()? {
            Payload::IdI(id) => r.idi = Some((id, raw.body)),
            Payload::IdR(id) => r.idr = Some(id),
            Payload::Auth(a) => r.auth = Some(a),
            Payload::Cert(_) => r.cert = true,
            Payload::Sa(sa) => r.sa = Some(sa),
            Payload::TsI(ts) => r.tsi = Some(ts),
            Payload::TsR(ts) => r.tsr = Some(ts),
            Payload::Cp(cp) => r.cp = Some(cp),
            Payload::Notify(n) if n.notify_type == NotifyType::TICKET_REQUEST => {
                r.ticket_request = true;
            }
            Payload::Notify(n) if n.notify_type == NotifyType::INITIAL_CONTACT => {
                r.initial_contact = true;
            }
            // CERTREQ, Vendor IDs and other status notifies do not change
            // the exchange.
            _ => {}
        }
    }
    Ok(r)
}

/// An IKE_AUTH request that lacks what every IKE_AUTH carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Incomplete {
    /// IDi or AUTH is missing.
    MissingPayload,
    /// SA, TSi and TSr come together or not at all.
    PartialChildSa,
}

impl Incomplete {
    /// The malformed-message reason counted for it.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Incomplete::MissingPayload => "missing_payload",
            Incomplete::PartialChildSa => "partial_child_sa",
        }
    }
}

/// The payloads every IKE_AUTH request needs: IDi (and its body, the
/// octets AUTH signs) and AUTH.
#[derive(Clone, Copy)]
pub(crate) struct Required<'a> {
    pub(crate) idi: IdRepr<'a>,
    pub(crate) idi_body: &'a [u8],
    pub(crate) auth: AuthRepr<'a>,
}

impl<'a> AuthRequest<'a> {
    /// RFC 7296 §1.2: `IDi, [IDr,] AUTH, SAi2, TSi, TSr`: IDi and AUTH
    /// must be there, and the child SA's three payloads come together or
    /// not at all (an IKE_AUTH without them makes no child SA).
    pub(crate) fn required(&self) -> Result<Required<'a>, Incomplete> {
        let (Some((idi, idi_body)), Some(auth)) = (self.idi, self.auth) else {
            return Err(Incomplete::MissingPayload);
        };
        let child_parts = [self.sa.is_some(), self.tsi.is_some(), self.tsr.is_some()];
        if child_parts.contains(&true) && child_parts.contains(&false) {
            return Err(Incomplete::PartialChildSa);
        }
        Ok(Required {
            idi,
            idi_body,
            auth,
        })
    }

    /// SAi2, TSi and TSr, when the request asks for a child SA.
    pub(crate) fn child_request(&self) -> Option<(SaRepr<'a>, TsRepr<'a>, TsRepr<'a>)> {
        match (self.sa, self.tsi, self.tsr) {
            (Some(sa), Some(tsi), Some(tsr)) => Some((sa, tsi, tsr)),
            _ => None,
        }
    }
}
