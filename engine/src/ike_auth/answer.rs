//! The payloads of a successful IKE_AUTH answer and its ticket notify.

use core::net::IpAddr;

use super::child::ChildOutcome;
use crate::child::{ChildError, esp_transforms};
use crate::handoff::TsRange;
use crate::wire::{
    AuthMethod, AuthRepr, CfgAttr, CfgAttrType, CfgType, CpRepr, IdRepr, MessageBuilder,
    NotifyRepr, NotifyType, Payload, ProposalSpec, ProtocolId, SaRepr, TrafficSelector, TsRepr,
    WireError,
};

/// What the answer carries besides IDr and AUTH.
pub(crate) enum TicketAnswer {
    None,
    Issued { len: usize },
    Ack,
    Nack,
}

/// The payloads of a successful IKE_AUTH answer, resumed or full:
/// `IDr, AUTH, [CP(CFG_REPLY),] SAr2, TSi, TSr | N(child error) [, N(TICKET_*)]`.
pub(crate) struct AuthAnswer<'a> {
    pub(crate) idr: IdRepr<'a>,
    pub(crate) auth: &'a [u8],
    /// The internal address given with CP(CFG_REPLY).
    pub(crate) address: Option<IpAddr>,
    pub(crate) child: Option<&'a ChildOutcome>,
    pub(crate) child_error: Option<ChildError>,
    pub(crate) ticket: &'a TicketAnswer,
    /// Lifetime and ticket, as [`issue_ticket`] wrote them.
    pub(crate) ticket_buf: &'a [u8],
    /// N(AUTH_LIFETIME) (RFC 4478): seconds until the peer must
    /// re-authenticate.
    pub(crate) auth_lifetime: Option<u32>,
}

impl AuthAnswer<'_> {
    /// Push the payloads into an SK section.
    pub(crate) fn push(&self, b: &mut MessageBuilder<'_>) -> Result<(), WireError> {
        let cp_value = self.address.map(CpReplyValue::new);
        let cp_attr = cp_value.as_ref().map(|v| [v.attr()]);
        let cp = cp_attr.as_ref().map(|a| CpRepr::new(CfgType::CFG_REPLY, a));
        let tf = self.child.map(|c| esp_transforms(&c.esp.suite()));
        let child_spi = self.child.map(|c| c.spi_r).unwrap_or_default();
        // Inline for the common one or two selectors: no allocation.
        let selectors = |ts: fn(&ChildOutcome) -> &[TsRange]| -> smallvec::SmallVec<[TrafficSelector<'static>; 2]> {
            self.child
                .map(|c| ts(c).iter().map(TsRange::selector).collect())
                .unwrap_or_default()
        };
        let sel_i = selectors(|c| &c.ts_i);
        let sel_r = selectors(|c| &c.ts_r);
        let proposals = self.child.zip(tf.as_ref()).map(|(c, (t, n))| {
            [ProposalSpec {
                num: c.esp.proposal_num,
                protocol: ProtocolId::ESP,
                spi: &child_spi,
                transforms: &t[..*n],
            }]
        });
        b.push(&Payload::IdR(self.idr))?;
        b.push(&Payload::Auth(AuthRepr {
            method: AuthMethod::SHARED_KEY_MIC,
            data: self.auth,
        }))?;
        if let Some(cp) = &cp {
            b.push(&Payload::Cp(*cp))?;
        }
        match (&proposals, self.child_error) {
            (Some(props), None) => {
                b.push(&Payload::Sa(SaRepr::new(props)))?;
                b.push(&Payload::TsI(TsRepr::new(&sel_i)))?;
                b.push(&Payload::TsR(TsRepr::new(&sel_r)))?;
            }
            // RFC 7296 §2.21.1: the IKE SA is up; the child SA's failure
            // is reported with its error notify.
            (_, Some(err)) => b.push(&Payload::Notify(NotifyRepr::ike(err.notify(), &[])))?,
            (None, None) => {}
        }
        // RFC 4478 §3 (described): the responder tells the initiator, in
        // the IKE_AUTH answer, how many seconds remain until it must
        // re-authenticate; a 4-octet value in an AUTH_LIFETIME notify.
        if let Some(secs) = self.auth_lifetime {
            let v = secs.to_be_bytes();
            b.push(&Payload::Notify(NotifyRepr::ike(
                NotifyType::AUTH_LIFETIME,
                &v,
            )))?;
        }
        push_ticket_answer(b, self.ticket, self.ticket_buf)
    }
}

/// The AUTH_LIFETIME value of an SA whose re-authentication deadline is
/// `deadline` (Unix seconds): the seconds left, at most `u32::MAX`; `None`
/// for no deadline (0 or `u64::MAX`) or one already passed.
pub(crate) fn auth_lifetime(deadline: u64, now_secs: u64) -> Option<u32> {
    if deadline == 0 || deadline == u64::MAX || deadline <= now_secs {
        return None;
    }
    Some(u32::try_from(deadline - now_secs).unwrap_or(u32::MAX))
}

/// N(TICKET_LT_OPAQUE), N(TICKET_ACK) or N(TICKET_NACK), if any.
pub(crate) fn push_ticket_answer(
    b: &mut MessageBuilder<'_>,
    answer: &TicketAnswer,
    ticket_buf: &[u8],
) -> Result<(), WireError> {
    let n = match answer {
        TicketAnswer::Issued { len } => NotifyRepr::ike(
            NotifyType::TICKET_LT_OPAQUE,
            ticket_buf
                .get(..4 + len)
                .ok_or(WireError::Unrepresentable("ticket"))?,
        ),
        TicketAnswer::Ack => NotifyRepr::ike(NotifyType::TICKET_ACK, &[]),
        TicketAnswer::Nack => NotifyRepr::ike(NotifyType::TICKET_NACK, &[]),
        TicketAnswer::None => return Ok(()),
    };
    b.push(&Payload::Notify(n))
}

/// The value of CP(CFG_REPLY)'s address attribute: INTERNAL_IP4_ADDRESS,
/// or INTERNAL_IP6_ADDRESS with its prefix length (RFC 7296 §3.15.1).
enum CpReplyValue {
    V4([u8; 4]),
    V6([u8; 17]),
}

impl CpReplyValue {
    fn new(address: IpAddr) -> Self {
        match address {
            IpAddr::V4(a) => CpReplyValue::V4(a.octets()),
            IpAddr::V6(a) => {
                let mut v = [0u8; 17];
                v[..16].copy_from_slice(&a.octets());
                v[16] = 128;
                CpReplyValue::V6(v)
            }
        }
    }

    fn attr(&self) -> CfgAttr<'_> {
        match self {
            CpReplyValue::V4(a) => CfgAttr {
                attr_type: CfgAttrType::INTERNAL_IP4_ADDRESS,
                value: a,
            },
            CpReplyValue::V6(a) => CfgAttr {
                attr_type: CfgAttrType::INTERNAL_IP6_ADDRESS,
                value: a,
            },
        }
    }
}

/// RFC 5723 §4.1: an answer that the issued ticket would make longer than
/// `max_len` carries TICKET_ACK instead, and the peer asks for the ticket
/// later. `build` writes the answer with the ticket notify it is given;
/// returns its length (`None`: it could not be built) and whether the
/// issued ticket was withdrawn (the caller forgets it).
pub(crate) fn fit_ticket(
    answer: &mut TicketAnswer,
    max_len: usize,
    mut build: impl FnMut(&TicketAnswer) -> Option<usize>,
) -> (Option<usize>, bool) {
    let n = build(answer);
    if let (Some(len), TicketAnswer::Issued { .. }) = (n, &*answer)
        && len > max_len
    {
        *answer = TicketAnswer::Ack;
        return (build(answer), true);
    }
    (n, false)
}
