//! Seed corpora. Started with `REBOUND_FUZZ_SEEDS=DIR`, a target writes
//! its seeds into `DIR` and exits before fuzzing (scripts/fuzz.sh does
//! this for every target): the fixture's own messages, which decrypt with
//! the fixture's keys, and, with `REBOUND_FUZZ_PCAP=FILE`, the IKE
//! messages of a capture (`rebound storm --pcap FILE`: real exchanges),
//! each framed as that target reads its input.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use pcap_file::DataLink;
use pcap_file::pcap::PcapReader;

/// At most this many messages of one kind (exchange type, request or
/// response) are taken from a capture: a storm repeats itself.
const PER_KIND: usize = 24;

/// If `REBOUND_FUZZ_SEEDS` is set: write `make(captured messages)` into
/// that directory, one file per seed, and exit. Call it from a target's
/// `init`.
pub fn write_if_asked(make: impl FnOnce(&[Vec<u8>]) -> Vec<Vec<u8>>) {
    let Some(dir) = std::env::var_os("REBOUND_FUZZ_SEEDS") else {
        return;
    };
    let captured = match std::env::var_os("REBOUND_FUZZ_PCAP") {
        Some(p) => read_capture(Path::new(&p)),
        None => Vec::new(),
    };
    let dir = PathBuf::from(dir);
    std::fs::create_dir_all(&dir).expect("the seed directory can be made");
    let seeds = make(&captured);
    for (i, s) in seeds.iter().enumerate() {
        let path = dir.join(format!("seed-{i:04}"));
        std::fs::write(&path, s).expect("a seed can be written");
    }
    eprintln!(
        "wrote {} seeds ({} messages from the capture) to {}",
        seeds.len(),
        captured.len(),
        dir.display()
    );
    std::process::exit(0);
}

/// The UDP payloads (non-ESP marker stripped) in a LINKTYPE_RAW capture,
/// [`PER_KIND`] of each kind at most.
pub fn read_capture(path: &Path) -> Vec<Vec<u8>> {
    let file = File::open(path).expect("the capture opens");
    let mut reader = PcapReader::new(file).expect("a pcap file");
    assert_eq!(
        reader.header().datalink,
        DataLink::RAW,
        "a LINKTYPE_RAW capture, as `rebound storm --pcap` writes"
    );
    let mut kinds: HashMap<(u8, bool), usize> = HashMap::new();
    let mut out = Vec::new();
    while let Some(packet) = reader.next_packet() {
        let Ok(packet) = packet else { break };
        let Some(ike) = ike_message(&packet.data) else {
            continue;
        };
        if ike.len() < 28 {
            continue;
        }
        let kind = (ike[18], ike[19] & 0x20 != 0);
        let n = kinds.entry(kind).or_default();
        if *n < PER_KIND {
            *n += 1;
            out.push(ike.to_vec());
        }
    }
    out
}

/// The IKE message of a raw IPv4 or IPv6 packet carrying UDP. Any port:
/// the storm's embedded gateway listens on a port of its own. A payload
/// that starts with four zero octets is taken as a UDP/4500 datagram and
/// the non-ESP marker is stripped (an IKE header starts with the
/// initiator's SPI, which is never zero).
fn ike_message(ip: &[u8]) -> Option<&[u8]> {
    let udp = match ip.first()? >> 4 {
        4 => {
            let ihl = usize::from(ip[0] & 0x0f) * 4;
            (*ip.get(9)? == 17).then_some(())?;
            ip.get(ihl..)?
        }
        6 => {
            (*ip.get(6)? == 17).then_some(())?;
            ip.get(40..)?
        }
        _ => return None,
    };
    let payload = udp.get(8..)?;
    Some(payload.strip_prefix(&[0, 0, 0, 0]).unwrap_or(payload))
}

/// `prefix` then `body`.
pub fn framed(prefix: &[u8], body: &[u8]) -> Vec<u8> {
    let mut v = prefix.to_vec();
    v.extend_from_slice(body);
    v
}
