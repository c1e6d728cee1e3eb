//! Writing IKE messages into a pcap and reading tshark's verdict on it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use pcap_file::DataLink;
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use rebound_engine::wire::{NON_ESP_MARKER_LEN, emit_non_esp_marker};

/// What tshark printed for one packet, field by field (occurrences joined
/// with ',').
pub type Row = BTreeMap<&'static str, String>;

/// One IKE message on the wire.
pub struct Datagram<'a> {
    /// UDP port: 500, or 4500 with the non-ESP marker in front.
    pub port: u16,
    /// From the initiator (127.0.0.1 -> 127.0.0.2) or back.
    pub request: bool,
    pub ike: &'a [u8],
}

/// A scratch directory for one test, removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Self {
        let pid = std::process::id();
        let dir = std::env::temp_dir().join(format!("rebound-{name}-{pid}"));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Hand-built IPv4 + UDP around the IKE message (after the non-ESP marker
/// on port 4500). The IPv4 header checksum is real and tshark is told to
/// verify it; UDP checksum 0 means "none", which IPv4 allows (RFC 768).
fn ipv4_udp(id: u16, d: &Datagram<'_>) -> Vec<u8> {
    let marker = if d.port == 4500 {
        NON_ESP_MARKER_LEN
    } else {
        0
    };
    let udp_len = (8 + marker + d.ike.len()) as u16;
    let (a, b) = ([127, 0, 0, 1], [127, 0, 0, 2]);
    let (src, dst) = if d.request { (a, b) } else { (b, a) };
    let mut p = vec![0x45, 0];
    p.extend_from_slice(&(20 + udp_len).to_be_bytes());
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&[0x40, 0, 64, 17, 0, 0]); // DF, TTL 64, UDP, checksum
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    let sum: u32 = p
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
        .sum();
    let sum = (sum & 0xffff) + (sum >> 16);
    let sum = !(((sum & 0xffff) + (sum >> 16)) as u16);
    p[10..12].copy_from_slice(&sum.to_be_bytes());
    for v in [d.port, d.port, udp_len, 0] {
        p.extend_from_slice(&v.to_be_bytes());
    }
    let at = p.len();
    p.resize(at + marker, 0xff);
    if marker > 0 {
        emit_non_esp_marker(&mut p[at..]).unwrap();
    }
    p.extend_from_slice(d.ike);
    p
}

/// Write the datagrams as raw IPv4 packets (LINKTYPE_RAW), one a second.
pub fn write_pcap<'a>(path: &Path, datagrams: impl IntoIterator<Item = Datagram<'a>>) {
    let file = std::fs::File::create(path).unwrap();
    let header = PcapHeader {
        datalink: DataLink::RAW,
        ..PcapHeader::default()
    };
    let mut w = PcapWriter::with_header(file, header).unwrap();
    for (i, d) in datagrams.into_iter().enumerate() {
        let ip = ipv4_udp(i as u16, &d);
        let ts = std::time::Duration::from_secs(1_700_000_000 + i as u64);
        w.write_packet(&PcapPacket::new(ts, ip.len() as u32, &ip))
            .unwrap();
    }
}

/// Whether tshark is there. Without it the test fails, unless
/// REBOUND_SKIP_TSHARK=1 says to skip.
pub fn have_tshark() -> bool {
    match Command::new("tshark").arg("-v").output() {
        Ok(o) if o.status.success() => true,
        _ if std::env::var("REBOUND_SKIP_TSHARK").as_deref() == Ok("1") => {
            eprintln!("tshark not found; skipped because REBOUND_SKIP_TSHARK=1");
            false
        }
        r => panic!(
            "this test needs tshark (apt-get install tshark, as scripts/test.sh does); \
             set REBOUND_SKIP_TSHARK=1 to skip it. Running `tshark -v` gave: {r:?}"
        ),
    }
}

/// Run tshark over `pcap` with extra `-o` preferences and return one row of
/// `fields` per packet. tshark gets an empty configuration directory of its
/// own, so no personal preference (a saved decryption table, say) changes
/// what it reports; it also verifies IPv4 header checksums.
pub fn tshark(dir: &Scratch, pcap: &Path, prefs: &[String], fields: &[&'static str]) -> Vec<Row> {
    let conf = dir.0.join("wireshark-config");
    std::fs::create_dir_all(&conf).unwrap();
    let configure = |cmd: &mut Command| {
        cmd.env("WIRESHARK_CONFIG_DIR", &conf);
        cmd.args(["-o", "ip.check_checksum:TRUE"]);
    };
    tshark_with(configure, pcap, prefs, fields).0
}

/// Run tshark over `pcap`, `configure` choosing where its configuration
/// comes from (environment, extra options); returns one row of `fields` per
/// packet and what tshark wrote to stderr. Fails the test if tshark fails.
pub fn tshark_with(
    configure: impl FnOnce(&mut Command),
    pcap: &Path,
    prefs: &[String],
    fields: &[&'static str],
) -> (Vec<Row>, String) {
    let mut cmd = Command::new("tshark");
    configure(&mut cmd);
    cmd.arg("-n").arg("-r").arg(pcap).args(["-T", "fields"]);
    cmd.args([
        "-E",
        "separator=/t",
        "-E",
        "occurrence=a",
        "-E",
        "aggregator=,",
    ]);
    for p in prefs {
        cmd.args(["-o", p]);
    }
    for f in fields {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().expect("run tshark");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "tshark failed: {stderr}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let row = |line: &str| {
        fields
            .iter()
            .copied()
            .zip(line.split('\t').map(String::from))
            .collect()
    };
    (stdout.lines().map(row).collect(), stderr)
}
