//! `rebound decode`: print what Rebound's codec sees in IKEv2 messages.

use std::fmt::Write as _;
use std::fs::File;
use std::io::Read;
use std::path::PathBuf;

use pcap_file::DataLink;
use pcap_file::pcap::PcapReader;
use rebound_engine::wire::{Message, Payload, PayloadIter, WireError, strip_non_esp_marker};

const IKE_PORT: u16 = 500;
const NAT_T_PORT: u16 = 4500;

/// Decode the input; `Ok(false)` when any message was refused by the codec.
pub fn run(hex: Option<String>, pcap: Option<PathBuf>, marker: bool) -> Result<bool, String> {
    if let Some(path) = pcap {
        return run_pcap(&path);
    }
    let text = match hex {
        Some(h) => h,
        None => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .map_err(|e| format!("reading stdin: {e}"))?;
            s
        }
    };
    let clean: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let bytes = hex::decode(&clean).map_err(|e| format!("input is not hex: {e}"))?;
    let ike = if marker {
        strip_non_esp_marker(&bytes).map_err(|e| e.to_string())?
    } else {
        &bytes
    };
    let (text, ok) = describe(ike);
    print!("{text}");
    Ok(ok)
}

fn run_pcap(path: &PathBuf) -> Result<bool, String> {
    let file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut reader =
        PcapReader::new(file).map_err(|e| format!("{}: not a pcap file: {e}", path.display()))?;
    let link = reader.header().datalink;
    let mut all_ok = true;
    let mut frame = 0u64;
    let mut ike_count = 0u64;
    while let Some(pkt) = reader.next_packet() {
        frame += 1;
        let pkt = pkt.map_err(|e| format!("{}: frame {frame}: {e}", path.display()))?;
        let Some((sport, dport, udp_payload)) = udp_payload(link, &pkt.data) else {
            continue;
        };
        let ike = if sport == NAT_T_PORT || dport == NAT_T_PORT {
            match strip_non_esp_marker(udp_payload) {
                Ok(b) => b,
                Err(_) => continue, // ESP or keepalive
            }
        } else if sport == IKE_PORT || dport == IKE_PORT {
            udp_payload
        } else {
            continue;
        };
        ike_count += 1;
        println!("frame {frame}: UDP {sport} -> {dport}");
        let (text, ok) = describe(ike);
        print!("{text}");
        all_ok &= ok;
    }
    println!("{ike_count} IKE message(s) in {frame} frame(s)");
    Ok(all_ok)
}

/// Find the UDP ports and payload in a captured frame.
fn udp_payload(link: DataLink, data: &[u8]) -> Option<(u16, u16, &[u8])> {
    let ip = match link {
        DataLink::ETHERNET => {
            let ethertype = u16::from_be_bytes([*data.get(12)?, *data.get(13)?]);
            if ethertype != 0x0800 && ethertype != 0x86dd {
                return None;
            }
            data.get(14..)?
        }
        DataLink::LINUX_SLL => data.get(16..)?,
        DataLink::RAW | DataLink::IPV4 | DataLink::IPV6 => data,
        _ => return None,
    };
    let udp = match ip.first()? >> 4 {
        4 => {
            let ihl = ((ip[0] & 0x0f) as usize) * 4;
            if *ip.get(9)? != 17 {
                return None;
            }
            let total = u16::from_be_bytes([*ip.get(2)?, *ip.get(3)?]) as usize;
            ip.get(ihl..total.min(ip.len()))?
        }
        6 => {
            if *ip.get(6)? != 17 {
                return None;
            }
            ip.get(40..)?
        }
        _ => return None,
    };
    let sport = u16::from_be_bytes([*udp.first()?, *udp.get(1)?]);
    let dport = u16::from_be_bytes([*udp.get(2)?, *udp.get(3)?]);
    let ulen = u16::from_be_bytes([*udp.get(4)?, *udp.get(5)?]) as usize;
    Some((sport, dport, udp.get(8..ulen.min(udp.len()))?))
}

/// A human-readable dissection, and whether the codec accepted it all.
pub fn describe(ike: &[u8]) -> (String, bool) {
    let mut out = String::new();
    let msg = match Message::parse(ike) {
        Ok(m) => m,
        Err(e) => {
            let _ = writeln!(out, "  refused: {e} [{}]", e.counter_label());
            return (out, false);
        }
    };
    let h = &msg.header;
    let _ = writeln!(
        out,
        "  {:?} mid={} {:?} SPIi={} SPIr={} length={}",
        h.exchange_type,
        h.message_id,
        h.flags,
        hex::encode(h.spi_i),
        hex::encode(h.spi_r),
        ike.len()
    );
    let ok = describe_chain(&mut out, msg.payloads(), 2);
    (out, ok)
}

fn describe_chain(out: &mut String, mut it: PayloadIter<'_>, indent: usize) -> bool {
    let pad = " ".repeat(indent + 2);
    let mut ok = true;
    for raw in it.by_ref() {
        let raw = match raw {
            Ok(r) => r,
            Err(e) => {
                report(out, &pad, &e);
                ok = false;
                break;
            }
        };
        match raw.parse() {
            Ok(p) => {
                let _ = writeln!(out, "{pad}{}", summary(&p));
            }
            Err(e) => {
                report(out, &pad, &e);
                ok = false;
            }
        }
    }
    if it.skipped_unknown() > 0 {
        let _ = writeln!(
            out,
            "{pad}({} unknown non-critical payload(s) skipped)",
            it.skipped_unknown()
        );
    }
    ok
}

fn report(out: &mut String, pad: &str, e: &WireError) {
    let notify = e
        .notify()
        .map(|n| format!(", would answer {n:?}"))
        .unwrap_or_default();
    let _ = writeln!(out, "{pad}refused: {e} [{}{notify}]", e.counter_label());
}

fn short_hex(b: &[u8]) -> String {
    if b.len() <= 24 {
        hex::encode(b)
    } else {
        format!("{}...({} bytes)", hex::encode(&b[..16]), b.len())
    }
}

fn summary(p: &Payload<'_>) -> String {
    match p {
        Payload::Sa(sa) => {
            let mut s = String::from("SA");
            for prop in sa.proposals() {
                let _ = write!(s, " [#{} {:?}", prop.num, prop.protocol);
                if !prop.spi.is_empty() {
                    let _ = write!(s, " spi={}", hex::encode(prop.spi));
                }
                for t in prop.transforms() {
                    let _ = write!(s, " {:?}:{}", t.ttype, t.id);
                    if let Some(k) = t.key_len {
                        let _ = write!(s, "/{k}");
                    }
                }
                s.push(']');
            }
            s
        }
        Payload::Ke(k) => format!("KE group={} ({} bytes)", k.dh_group, k.key_data.len()),
        Payload::IdI(i) | Payload::IdR(i) => {
            let which = if matches!(p, Payload::IdI(_)) {
                "IDi"
            } else {
                "IDr"
            };
            format!("{which} {:?} {}", i.id_type, printable(i.data))
        }
        Payload::Cert(c) => format!("CERT {:?} ({} bytes)", c.encoding, c.data.len()),
        Payload::CertReq(c) => format!("CERTREQ {:?} ({} bytes)", c.encoding, c.data.len()),
        Payload::Auth(a) => format!("AUTH {:?} ({} bytes)", a.method, a.data.len()),
        Payload::Nonce(n) => format!("Nonce {}", short_hex(n.nonce)),
        Payload::Notify(n) => {
            let mut s = format!("N({:?})", n.notify_type);
            if !n.spi.is_empty() {
                let _ = write!(s, " {:?} spi={}", n.protocol, hex::encode(n.spi));
            }
            if !n.data.is_empty() {
                let _ = write!(s, " {}", short_hex(n.data));
            }
            s
        }
        Payload::Delete(d) => format!("D {:?} {} SPI(s)", d.protocol, d.num_spis()),
        Payload::VendorId(v) => format!("V {}", short_hex(v)),
        Payload::TsI(t) | Payload::TsR(t) => {
            let which = if matches!(p, Payload::TsI(_)) {
                "TSi"
            } else {
                "TSr"
            };
            let mut s = String::from(which);
            for sel in t.selectors() {
                let _ = write!(s, " {sel:?}");
            }
            s
        }
        Payload::Sk(sk) => format!(
            "SK first-inner={:?} ({} bytes encrypted)",
            sk.first_inner,
            sk.data.len()
        ),
        Payload::Cp(c) => {
            let mut s = format!("CP {:?}", c.cfg_type);
            for a in c.attributes() {
                let _ = write!(s, " {:?}", a.attr_type);
                if !a.value.is_empty() {
                    let _ = write!(s, "={}", hex::encode(a.value));
                }
            }
            s
        }
        Payload::Eap(e) => format!("EAP ({} bytes)", e.len()),
        Payload::Skf(f) => format!(
            "SKF fragment {}/{} first-inner={:?} ({} bytes)",
            f.fragment_number,
            f.total_fragments,
            f.first_inner,
            f.data.len()
        ),
    }
}

fn printable(b: &[u8]) -> String {
    if b.iter().all(|c| c.is_ascii_graphic() || *c == b' ') {
        format!("{:?}", String::from_utf8_lossy(b))
    } else {
        hex::encode(b)
    }
}
