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
            // CERTREQ, Vendor IDs and status notifies (INITIAL_CONTACT,
            // ...) do not change a resumption.
            _ => {}
        }
    }
    Ok(r)
}
