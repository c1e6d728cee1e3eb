//! `rebound decode` end to end: the real binary on hex and on a pcap file.

use pcap_file::DataLink;
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};

const RESUME_HEX: &str = "0123456789abcdef000000000000000028202608000000000000007429000024404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f000000340000401d01aaaaaaaaaaaaaabbbbbbbbbbbbbbbbbbbbbbbbcccccccccccccccccccccccccccccccccccccccccccccccc";

mod common;
use common::rebound;

#[test]
fn decodes_a_resume_request_from_hex() {
    let (code, out, _) = rebound(&["decode", RESUME_HEX]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("IKE_SESSION_RESUME mid=0 Flags(I) SPIi=0123456789abcdef"));
    assert!(out.contains("Nonce 404142434445464748494a4b4c4d4e4f...(32 bytes)"));
    assert!(out.contains("N(TICKET_OPAQUE) 01aaaaaaaaaaaaaa"));
}

#[test]
fn refuses_bad_input_with_reason_and_exit_code() {
    // Wrong length field: one byte cut off the end.
    let cut = &RESUME_HEX[..RESUME_HEX.len() - 2];
    let (code, out, _) = rebound(&["decode", cut]);
    assert_eq!(code, 1);
    assert!(out.contains("IKE header length 116 does not match the 115-byte datagram"));
    // Not hex at all.
    let (code, _, err) = rebound(&["decode", "zz"]);
    assert_eq!(code, 2);
    assert!(err.contains("input is not hex"), "{err}");
    // Marker required but absent.
    let (code, _, err) = rebound(&["decode", "--marker", RESUME_HEX]);
    assert_eq!(code, 2);
    assert!(err.contains("non-ESP marker"), "{err}");
}

fn ipv4_udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let total = 20 + 8 + payload.len();
    let mut p = vec![0u8; total];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    p[8] = 64;
    p[9] = 17;
    p[12..16].copy_from_slice(&[127, 0, 0, 1]);
    p[16..20].copy_from_slice(&[127, 0, 0, 2]);
    p[20..22].copy_from_slice(&sport.to_be_bytes());
    p[22..24].copy_from_slice(&dport.to_be_bytes());
    p[24..26].copy_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    p[28..].copy_from_slice(payload);
    p
}

#[test]
fn decodes_a_pcap_on_both_ports() {
    let msg = hex::decode(RESUME_HEX).unwrap();
    let mut marked = vec![0u8; 4];
    marked.extend_from_slice(&msg);
    let esp = [0u8, 0, 0, 9, 1, 2, 3, 4]; // an ESP packet on 4500: skipped
    let dir = std::env::temp_dir().join(format!("rebound-decode-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("two.pcap");
    {
        let f = std::fs::File::create(&path).unwrap();
        let hdr = PcapHeader {
            datalink: DataLink::RAW,
            ..Default::default()
        };
        let mut w = PcapWriter::with_header(f, hdr).unwrap();
        for (sp, dp, data) in [
            (500, 500, &msg[..]),
            (4500, 4500, &marked[..]),
            (4500, 4500, &esp[..]),
        ] {
            let frame = ipv4_udp(sp, dp, data);
            w.write_packet(&PcapPacket::new(
                std::time::Duration::ZERO,
                frame.len() as u32,
                &frame,
            ))
            .unwrap();
        }
    }
    let (code, out, err) = rebound(&["decode", "--pcap", path.to_str().unwrap()]);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(out.matches("IKE_SESSION_RESUME").count(), 2, "{out}");
    assert!(out.contains("frame 1: UDP 500 -> 500"));
    assert!(out.contains("frame 2: UDP 4500 -> 4500"));
    assert!(out.contains("2 IKE message(s) in 3 frame(s)"));
}
