//! A resumption written to a pcap with the key log's Wireshark table: an
//! independent dissector (tshark) decrypts both IKE_AUTH messages with the
//! keys the engine logged and finds the payloads RFC 5723 §4.3.3 puts in
//! them.

#[path = "common/pair.rs"]
mod pair;
#[allow(dead_code)]
#[path = "common/tshark_capture.rs"]
mod tshark_capture;

use pair::*;
use rebound_engine::client::{InitiatorConfig, InitiatorEvent};
use rebound_engine::keylog::KeyLogWriter;
use rebound_engine::responder::ResponderConfig;
use rebound_engine::ticket::format::TicketKind;
use tshark_capture::{Datagram, Scratch, have_tshark, tshark, write_pcap};

const FIELDS: [&str; 9] = [
    "isakmp.exchangetype",
    "isakmp.rspi",
    "isakmp.id.data.fqdn",
    "isakmp.auth.method",
    "isakmp.notify.msgtype",
    "isakmp.ts.start_ipv4",
    "isakmp.prop.protoid",
    "_ws.expert.message",
    "_ws.malformed",
];

#[test]
fn tshark_decrypts_the_resumed_ike_auth_with_the_key_log() {
    if !have_tshark() {
        return;
    }
    let gw = Gateway::new(ResponderConfig::default());
    let t = gw.mint(TicketKind::ByValue, client_state(1, gcm256_sha256()), T0);
    let mut p = Pair::new(gw);
    p.connect(InitiatorConfig::default(), t).unwrap();
    p.run();
    assert!(matches!(p.event(0), InitiatorEvent::Established { .. }));
    assert_eq!(p.capture.len(), 4, "request, response, IKE_AUTH, answer");

    let dir = Scratch::new("resume-tshark");
    let conf = dir.0.join("wireshark-config");
    std::fs::create_dir_all(&conf).unwrap();
    // The key log, both forms: JSON lines and Wireshark's table, written
    // where tshark reads its personal configuration.
    let mut log = KeyLogWriter::new(Vec::new(), Some(Vec::new()));
    log.log(&p.established[0]).unwrap();
    let (json, table) = log.into_inner();
    let json = String::from_utf8(json).unwrap();
    assert_eq!(json.lines().count(), 1);
    let spi_hex: String = p.established[0]
        .spi_r
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert!(
        json.contains(&spi_hex) && json.contains("\"resumed_from\":{"),
        "{json}"
    );
    std::fs::write(conf.join("ikev2_decryption_table"), table.unwrap()).unwrap();

    let pcap = dir.0.join("resume.pcap");
    write_pcap(
        &pcap,
        p.capture.iter().map(|c| Datagram {
            port: 500,
            request: c.dir == Dir::ToGateway,
            ike: &c.bytes,
        }),
    );
    let rows = tshark(&dir, &pcap, &[], &FIELDS);
    assert_eq!(rows.len(), 4);
    for row in &rows {
        assert_eq!(row["_ws.malformed"], "", "{row:?}");
        assert_eq!(row["_ws.expert.message"], "", "no ICV failure: {row:?}");
    }
    // IKE_SESSION_RESUME in the clear: the ticket notify, then NAT-D.
    assert_eq!(rows[0]["isakmp.exchangetype"], "38");
    assert!(
        rows[0]["isakmp.notify.msgtype"].starts_with("16413"),
        "{:?}",
        rows[0]
    );
    assert_eq!(rows[1]["isakmp.exchangetype"], "38");
    // IKE_AUTH request, decrypted: IDi, AUTH (Shared Key MIC), SAi2 (ESP),
    // TSi/TSr, N(TICKET_REQUEST).
    let req = &rows[2];
    assert_eq!(req["isakmp.exchangetype"], "35");
    assert!(
        req["isakmp.id.data.fqdn"].contains("client-1.example.net"),
        "{req:?}"
    );
    assert_eq!(req["isakmp.auth.method"], "2");
    assert!(req["isakmp.prop.protoid"].starts_with('3'), "{req:?}");
    assert!(req["isakmp.notify.msgtype"].contains("16410"), "{req:?}");
    assert!(req["isakmp.ts.start_ipv4"].contains("0.0.0.0"), "{req:?}");
    // The answer: IDr, AUTH, SAr2, TSi/TSr, N(TICKET_LT_OPAQUE).
    let resp = &rows[3];
    assert!(
        resp["isakmp.id.data.fqdn"].contains("gw.example.net"),
        "{resp:?}"
    );
    assert_eq!(resp["isakmp.auth.method"], "2");
    assert!(resp["isakmp.notify.msgtype"].contains("16409"), "{resp:?}");

    // Without the table the same capture shows none of the inner payloads.
    let bare = Scratch::new("resume-tshark-bare");
    let rows = tshark(&bare, &pcap, &[], &FIELDS);
    assert_eq!(rows[2]["isakmp.id.data.fqdn"], "");
    assert_eq!(rows[3]["isakmp.notify.msgtype"], "");
}
