//! A hand-built responder for the initiator's unit tests: the crypto calls a
//! gateway makes, written out message by message, with knobs to make every
//! kind of answer.

use core::net::{IpAddr, Ipv4Addr, SocketAddr};

use crate::child::{EspProposal, choose_esp, esp_transforms};
use crate::client::ClientTicket;
use crate::crypto::{
    AuthForm, Encr, IkeKeys, IkeSuite, PrfAlg, Role, SecretBuf, nat_detection_hash, resume_auth,
    verify_resume_auth,
};
use crate::rand::RandomSource;
use crate::ticket::TicketId;
use crate::ticket::state::{TicketIdentity, TicketState, TicketSuite};
use crate::wire::{
    AuthMethod, AuthRepr, CfgAttr, CfgAttrType, CfgType, CpRepr, ExchangeType, Flags, HEADER_LEN,
    HeaderRepr, IdRepr, IdType, Message, MessageBuilder, NonceRepr, NotifyRepr, NotifyType,
    Payload, PayloadIter, PayloadType, ProposalSpec, ProtocolId, SaRepr, TrafficSelector, TsRepr,
};

/// A deterministic generator (xorshift64*).
pub struct TestRng(pub u64);

impl RandomSource for TestRng {
    fn fill(&mut self, buf: &mut [u8]) {
        for b in buf {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            *b = (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8;
        }
    }
}

/// The responder's ESP SPI in SAr2.
pub const PEER_ESP_SPI: [u8; 4] = [0xc0, 0x01, 0x02, 0x03];

/// A ticket as a client holds it.
pub fn client_ticket(suite: IkeSuite, now_secs: u64) -> ClientTicket {
    let sk_d: Vec<u8> = (0..suite.prf().output_len() as u8).collect();
    ClientTicket {
        opaque: vec![0xa7; 150],
        state: TicketState {
            ticket_id: TicketId([7; 16]),
            id_i: TicketIdentity::new(IdType::FQDN, b"client.example.net").unwrap(),
            id_r: TicketIdentity::new(IdType::FQDN, b"vpn.example.com").unwrap(),
            peer_identity: None,
            auth_method: AuthMethod::SHARED_KEY_MIC,
            suite: TicketSuite {
                suite,
                dh_group: 31,
            },
            sk_d: SecretBuf::from_slice(&sk_d).unwrap(),
            old_spi_i: [1; 8],
            old_spi_r: [2; 8],
            internal_addr: Some(IpAddr::V4(Ipv4Addr::new(10, 8, 0, 7))),
            issued_at: now_secs - 3600,
            expiry: now_secs + 3600,
            reauth_deadline: now_secs + 86_400,
        },
        expires_at: now_secs + 3600,
    }
}

/// How the IKE_AUTH response looks.
#[derive(Debug, Clone, Default)]
pub struct AuthReply {
    /// `SK { N(x) }` and nothing else.
    pub only_notify: Option<NotifyType>,
    /// `SK { IDr, AUTH, N(x) }` instead of SAr2/TSi/TSr.
    pub child_error: Option<NotifyType>,
    /// N(TICKET_LT_OPAQUE) with this lifetime and ticket.
    pub ticket: Option<(u32, Vec<u8>)>,
    pub ticket_ack: bool,
    /// CP(CFG_REPLY) with this address.
    pub address: Option<IpAddr>,
    /// Send this IDr instead of the ticket's.
    pub idr: Option<TicketIdentity>,
    /// Flip a bit of the AUTH value.
    pub corrupt_auth: bool,
    /// Answer TSi with these selectors instead of echoing the offer.
    pub ts_i: Option<Vec<TrafficSelector<'static>>>,
}

/// A configuration attribute as seen.
pub type Attr = (CfgAttrType, Vec<u8>);

/// What the peer saw in the IKE_AUTH request.
#[derive(Debug, Clone, Default)]
pub struct Seen {
    pub form: Option<AuthForm>,
    pub idi: Option<(IdType, Vec<u8>)>,
    pub idr: Option<(IdType, Vec<u8>)>,
    pub cp: Option<(CfgType, Vec<Attr>)>,
    pub proposals: Vec<(u8, Vec<u8>)>,
    pub ticket_request: bool,
    pub inner: Vec<PayloadType>,
}

/// The responder side of one resumption.
pub struct Peer {
    pub suite: IkeSuite,
    pub sk_d: Vec<u8>,
    pub id_r: TicketIdentity,
    pub spi_r: [u8; 8],
    pub nr: [u8; 32],
    /// The responder's address.
    pub addr: SocketAddr,
    /// The client's address as the responder sees it.
    pub client_seen: SocketAddr,
    pub spi_i: [u8; 8],
    pub ni: Vec<u8>,
    pub message1: Vec<u8>,
    pub message2: Vec<u8>,
    pub keys: Option<IkeKeys>,
    pub seen: Seen,
}

fn header(spi_i: [u8; 8], spi_r: [u8; 8], exchange: ExchangeType, id: u32) -> HeaderRepr {
    HeaderRepr::responder_response(spi_i, spi_r, exchange, id)
}

/// An unprotected IKE_SESSION_RESUME response made of `payloads`.
pub fn plain_response(spi_i: [u8; 8], spi_r: [u8; 8], payloads: &[Payload<'_>]) -> Vec<u8> {
    let mut buf = vec![0u8; 2048];
    let hdr = header(spi_i, spi_r, ExchangeType::IKE_SESSION_RESUME, 0);
    let mut b = MessageBuilder::new(&mut buf, &hdr).unwrap();
    for p in payloads {
        b.push(p).unwrap();
    }
    let n = b.finish().unwrap();
    buf.truncate(n);
    buf
}

impl Peer {
    /// A peer for a client ticket, at `addr`, seeing the client at
    /// `client_seen`.
    pub fn new(ticket: &ClientTicket, addr: SocketAddr, client_seen: SocketAddr) -> Self {
        Peer {
            suite: ticket.state.suite.suite,
            sk_d: ticket.state.sk_d.as_bytes().to_vec(),
            id_r: ticket.state.id_r,
            spi_r: [0x03, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x11],
            nr: [0x9d; 32],
            addr,
            client_seen,
            spi_i: [0; 8],
            ni: Vec::new(),
            message1: Vec::new(),
            message2: Vec::new(),
            keys: None,
            seen: Seen::default(),
        }
    }

    /// Accepts the ticket: `HDR(SPIr), Nr, N(NAT_D_SRC), N(NAT_D_DST)`.
    pub fn accept(&mut self, request: &[u8]) -> Vec<u8> {
        let msg = Message::parse(request).unwrap();
        self.spi_i = msg.header.spi_i;
        msg.parse_all(|p| {
            if let Payload::Nonce(n) = p {
                self.ni = n.nonce.to_vec();
            }
            Ok(())
        })
        .unwrap();
        self.message1 = request.to_vec();
        let src = nat_detection_hash(&self.spi_i, &self.spi_r, self.addr.ip(), self.addr.port());
        let dst = nat_detection_hash(
            &self.spi_i,
            &self.spi_r,
            self.client_seen.ip(),
            self.client_seen.port(),
        );
        let nr = self.nr;
        let resp = plain_response(
            self.spi_i,
            self.spi_r,
            &[
                Payload::Nonce(NonceRepr { nonce: &nr }),
                Payload::Notify(NotifyRepr::ike(NotifyType::NAT_DETECTION_SOURCE_IP, &src)),
                Payload::Notify(NotifyRepr::ike(
                    NotifyType::NAT_DETECTION_DESTINATION_IP,
                    &dst,
                )),
            ],
        );
        self.message2 = resp.clone();
        self.keys = Some(
            IkeKeys::derive_resumed(
                &self.suite,
                &self.sk_d,
                &self.ni,
                &self.nr,
                &self.spi_i,
                &self.spi_r,
            )
            .unwrap(),
        );
        resp
    }

    fn prf(&self) -> PrfAlg {
        self.suite.prf()
    }

    /// Opens the IKE_AUTH request, checks the initiator's AUTH and answers
    /// as `reply` says.
    pub fn auth(&mut self, request: &[u8], reply: &AuthReply) -> Vec<u8> {
        let keys = self.keys.clone().unwrap();
        let (out, inb) = keys.sk_ciphers(&self.suite, Role::Responder).unwrap();
        let msg = Message::parse(request).unwrap();
        assert_eq!(msg.header.exchange_type, ExchangeType::IKE_AUTH);
        assert_eq!(msg.header.message_id, 1);
        assert_eq!(msg.header.flags, Flags::new(true, false));
        assert_eq!(
            (msg.header.spi_i, msg.header.spi_r),
            (self.spi_i, self.spi_r)
        );
        let raw = msg.payloads().next().unwrap().unwrap();
        assert_eq!(raw.ptype, PayloadType::SK);
        let mut copy = request.to_vec();
        let range = inb.unprotect(&mut copy, HEADER_LEN + raw.offset).unwrap();
        let plain = &copy[range];

        let mut seen = Seen::default();
        let mut idi_body = Vec::new();
        let mut auth_data = Vec::new();
        let mut sa = None;
        let (mut ts_i, mut ts_r) = (Vec::new(), Vec::new());
        for r in PayloadIter::new(raw.next, plain) {
            let r = r.unwrap();
            seen.inner.push(r.ptype);
            match r.parse().unwrap() {
                Payload::IdI(id) => {
                    idi_body = r.body.to_vec();
                    seen.idi = Some((id.id_type, id.data.to_vec()));
                }
                Payload::IdR(id) => seen.idr = Some((id.id_type, id.data.to_vec())),
                Payload::Auth(a) => {
                    assert_eq!(a.method, AuthMethod::SHARED_KEY_MIC);
                    auth_data = a.data.to_vec();
                }
                Payload::Cp(c) => {
                    let attrs = c
                        .attributes()
                        .map(|a| (a.attr_type, a.value.to_vec()))
                        .collect();
                    seen.cp = Some((c.cfg_type, attrs));
                }
                Payload::Sa(s) => {
                    seen.proposals = s.proposals().map(|p| (p.num, p.spi.to_vec())).collect();
                    sa = Some(s);
                }
                Payload::TsI(t) => ts_i = t.selectors().collect(),
                Payload::TsR(t) => ts_r = t.selectors().collect(),
                Payload::Notify(n) if n.notify_type == NotifyType::TICKET_REQUEST => {
                    seen.ticket_request = true;
                }
                other => panic!("unexpected payload {other:?}"),
            }
        }
        seen.form = verify_resume_auth(
            self.prf(),
            keys.sk_pi.as_bytes(),
            &self.message1,
            &self.nr,
            &idi_body,
            &auth_data,
        );
        let form = seen.form.expect("the initiator's AUTH verifies");
        self.seen = seen;

        let hdr = header(self.spi_i, self.spi_r, ExchangeType::IKE_AUTH, 1);
        let idr = reply.idr.unwrap_or(self.id_r);
        let mut idr_body = vec![idr.id_type.0, 0, 0, 0];
        idr_body.extend_from_slice(idr.data());
        let mut auth = [0u8; 64];
        let n = resume_auth(
            self.prf(),
            keys.sk_pr.as_bytes(),
            form,
            &self.message2,
            &self.ni,
            &idr_body,
            &mut auth,
        )
        .unwrap();
        if reply.corrupt_auth {
            auth[0] ^= 1;
        }
        let chosen = sa.map(|sa| choose_esp(&EspProposal::DEFAULT, &sa).unwrap());
        let (transforms, tn) =
            esp_transforms(&chosen.map_or(EspProposal::AES_GCM_256, |c| c.suite()));
        let proposal = [ProposalSpec {
            num: chosen.map_or(1, |c| c.proposal_num),
            protocol: ProtocolId::ESP,
            spi: &PEER_ESP_SPI,
            transforms: &transforms[..tn],
        }];
        let ts_i = reply.ts_i.clone().unwrap_or(ts_i);
        let (v4, v6);
        let cp_attr = match reply.address {
            Some(IpAddr::V4(a)) => {
                v4 = a.octets();
                Some(CfgAttr {
                    attr_type: CfgAttrType::INTERNAL_IP4_ADDRESS,
                    value: &v4[..],
                })
            }
            Some(IpAddr::V6(a)) => {
                let mut v = [64u8; 17];
                v[..16].copy_from_slice(&a.octets());
                v6 = v;
                Some(CfgAttr {
                    attr_type: CfgAttrType::INTERNAL_IP6_ADDRESS,
                    value: &v6[..],
                })
            }
            None => None,
        };
        let lt_data = reply.ticket.as_ref().map(|(lt, t)| {
            let mut d = lt.to_be_bytes().to_vec();
            d.extend_from_slice(t);
            d
        });

        let mut buf = vec![0u8; 4096];
        let mut b = MessageBuilder::new(&mut buf, &hdr).unwrap();
        b.begin_sk(out.layout(0).iv_len).unwrap();
        let mut push = |p: Payload<'_>| b.push(&p).unwrap();
        if let Some(t) = reply.only_notify {
            push(Payload::Notify(NotifyRepr::ike(t, &[])));
        } else {
            push(Payload::IdR(IdRepr {
                id_type: idr.id_type,
                data: idr.data(),
            }));
            push(Payload::Auth(AuthRepr {
                method: AuthMethod::SHARED_KEY_MIC,
                data: &auth[..n],
            }));
            if let Some(a) = cp_attr {
                let attrs = [a];
                push(Payload::Cp(CpRepr::new(CfgType::CFG_REPLY, &attrs)));
            }
            match reply.child_error {
                Some(t) => push(Payload::Notify(NotifyRepr::ike(t, &[]))),
                None => {
                    push(Payload::Sa(SaRepr::new(&proposal)));
                    push(Payload::TsI(TsRepr::new(&ts_i)));
                    push(Payload::TsR(TsRepr::new(&ts_r)));
                }
            }
            if let Some(d) = &lt_data {
                push(Payload::Notify(NotifyRepr::ike(
                    NotifyType::TICKET_LT_OPAQUE,
                    d,
                )));
            }
            if reply.ticket_ack {
                push(Payload::Notify(NotifyRepr::ike(
                    NotifyType::TICKET_ACK,
                    &[],
                )));
            }
        }
        let sk = b.end_sk(|pt| out.layout(pt).trailer_len()).unwrap();
        let len = b.finish().unwrap();
        buf.truncate(len);
        let iv = [0x42u8; 16];
        out.protect(
            &mut buf,
            sk.sk_offset,
            sk.plaintext.len(),
            &iv[..out.layout(0).iv_len],
        )
        .unwrap();
        buf
    }
}

/// The suites the tests run with: AEAD and CBC, three prfs.
pub fn suites() -> [IkeSuite; 3] {
    use crate::crypto::Integ;
    [
        IkeSuite::new(Encr::AES_GCM_256, PrfAlg::HmacSha256, None).unwrap(),
        IkeSuite::new(
            Encr::AES_CBC_256,
            PrfAlg::HmacSha384,
            Some(Integ::HmacSha256_128),
        )
        .unwrap(),
        IkeSuite::new(
            Encr::AES_CBC_128,
            PrfAlg::HmacSha512,
            Some(Integ::HmacSha512_256),
        )
        .unwrap(),
    ]
}
