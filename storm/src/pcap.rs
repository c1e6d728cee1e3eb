//! `--pcap FILE`: every datagram the storm sends and receives, as it sends
//! and receives it (after fault injection on the way out: what actually
//! left; on the way in: what arrived), in a LINKTYPE_RAW capture with
//! synthesized IPv4 or IPv6 and UDP headers, so Wireshark and `rebound
//! decode --pcap` read it like a real capture.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::{DataLink, Endianness, TsResolution};

/// The non-ESP marker of UDP port 4500 (RFC 3948 §2.2).
const NON_ESP_MARKER: [u8; 4] = [0; 4];
const IPV4_HEADER: usize = 20;
const IPV6_HEADER: usize = 40;
const UDP_HEADER: usize = 8;
const PROTO_UDP: u8 = 17;

/// A capture being written.
pub struct PcapRecorder<W: Write> {
    writer: PcapWriter<W>,
    /// Datagrams carry the non-ESP marker on the wire (port 4500): it is
    /// put back in front of the IKE message.
    marker: bool,
    packets: u64,
    /// Datagrams that could not be framed (mixed address families).
    skipped: u64,
    scratch: Vec<u8>,
}

impl PcapRecorder<BufWriter<File>> {
    /// Creates (or truncates) `path`.
    pub fn create(path: &Path, marker: bool) -> io::Result<Self> {
        let file = File::create(path)?;
        PcapRecorder::new(BufWriter::new(file), marker)
    }
}

impl<W: Write> PcapRecorder<W> {
    /// A capture writing to `w` (the global header is written now).
    pub fn new(w: W, marker: bool) -> io::Result<Self> {
        let header = PcapHeader {
            datalink: DataLink::RAW,
            ts_resolution: TsResolution::MicroSecond,
            endianness: Endianness::native(),
            ..PcapHeader::default()
        };
        let writer = PcapWriter::with_header(w, header).map_err(pcap_error)?;
        Ok(PcapRecorder {
            writer,
            marker,
            packets: 0,
            skipped: 0,
            scratch: Vec::with_capacity(2048),
        })
    }

    /// Records one datagram (the bare IKE message) from `src` to `dst` at
    /// `ts` (since the Unix epoch).
    pub fn record(
        &mut self,
        ts: Duration,
        src: SocketAddr,
        dst: SocketAddr,
        ike: &[u8],
    ) -> io::Result<()> {
        let payload: &[u8] = if self.marker {
            self.scratch.clear();
            self.scratch.extend_from_slice(&NON_ESP_MARKER);
            self.scratch.extend_from_slice(ike);
            &self.scratch
        } else {
            ike
        };
        let Some(packet) = ip_udp_packet(src, dst, payload) else {
            self.skipped += 1;
            return Ok(());
        };
        let len = packet.len() as u32;
        self.writer
            .write_packet(&PcapPacket::new(ts, len, &packet))
            .map_err(pcap_error)?;
        self.packets += 1;
        Ok(())
    }

    /// Packets written so far.
    pub fn packets(&self) -> u64 {
        self.packets
    }

    /// Flushes and returns the writer.
    pub fn finish(self) -> io::Result<W> {
        let mut w = self.writer.into_writer();
        w.flush()?;
        Ok(w)
    }
}

fn pcap_error(e: pcap_file::PcapError) -> io::Error {
    io::Error::other(e.to_string())
}

/// The one's-complement sum of `data` (as 16-bit big-endian words) added to
/// `sum`, not folded.
fn sum16(mut sum: u32, data: &[u8]) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u32::from(*last) << 8;
    }
    sum
}

fn fold(mut sum: u32) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// A UDP datagram from `src` to `dst` carrying `payload`, with an IPv4 or
/// IPv6 header in front: what LINKTYPE_RAW expects. `None` when the two
/// addresses are of different families or the payload does not fit one
/// IP packet.
pub fn ip_udp_packet(src: SocketAddr, dst: SocketAddr, payload: &[u8]) -> Option<Vec<u8>> {
    let udp_len = UDP_HEADER + payload.len();
    let udp_len16 = u16::try_from(udp_len).ok()?;
    let mut udp = Vec::with_capacity(udp_len);
    udp.extend_from_slice(&src.port().to_be_bytes());
    udp.extend_from_slice(&dst.port().to_be_bytes());
    udp.extend_from_slice(&udp_len16.to_be_bytes());
    udp.extend_from_slice(&[0, 0]);
    udp.extend_from_slice(payload);
    match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let total = u16::try_from(IPV4_HEADER + udp_len).ok()?;
            let mut out = Vec::with_capacity(IPV4_HEADER + udp_len);
            out.extend_from_slice(&[0x45, 0]);
            out.extend_from_slice(&total.to_be_bytes());
            // Identification 0, DF set, TTL 64, UDP, checksum later.
            out.extend_from_slice(&[0, 0, 0x40, 0, 64, PROTO_UDP, 0, 0]);
            out.extend_from_slice(&s.octets());
            out.extend_from_slice(&d.octets());
            let c = fold(sum16(0, &out)).to_be_bytes();
            out[10..12].copy_from_slice(&c);
            // The UDP checksum is optional over IPv4 (RFC 768), but a
            // correct one keeps analysers quiet.
            let mut pseudo = sum16(0, &s.octets());
            pseudo = sum16(pseudo, &d.octets());
            pseudo += u32::from(PROTO_UDP) + udp_len as u32;
            set_udp_checksum(&mut udp, pseudo);
            out.extend_from_slice(&udp);
            Some(out)
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let mut out = Vec::with_capacity(IPV6_HEADER + udp_len);
            out.extend_from_slice(&[0x60, 0, 0, 0]);
            out.extend_from_slice(&udp_len16.to_be_bytes());
            out.extend_from_slice(&[PROTO_UDP, 64]);
            out.extend_from_slice(&s.octets());
            out.extend_from_slice(&d.octets());
            // RFC 8200 §8.1: the UDP checksum is mandatory over IPv6, on
            // the pseudo-header (addresses, upper-layer length, next
            // header).
            let mut pseudo = sum16(0, &s.octets());
            pseudo = sum16(pseudo, &d.octets());
            pseudo += udp_len as u32 + u32::from(PROTO_UDP);
            set_udp_checksum(&mut udp, pseudo);
            out.extend_from_slice(&udp);
            Some(out)
        }
        _ => None,
    }
}

fn set_udp_checksum(udp: &mut [u8], pseudo: u32) {
    let mut c = fold(sum16(pseudo, udp));
    // RFC 768: a computed zero is sent as all ones.
    if c == 0 {
        c = 0xffff;
    }
    udp[6..8].copy_from_slice(&c.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use pcap_file::pcap::PcapReader;

    fn verify(sum: u32) -> bool {
        fold(sum) == 0
    }

    #[test]
    fn ipv4_headers_have_the_right_lengths_and_checksums() {
        let src: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        let dst: SocketAddr = "127.0.0.2:500".parse().unwrap();
        let payload = [0xabu8; 101];
        let p = ip_udp_packet(src, dst, &payload).unwrap();
        assert_eq!(p.len(), 20 + 8 + 101);
        assert_eq!(p[0], 0x45);
        assert_eq!(u16::from_be_bytes([p[2], p[3]]) as usize, p.len());
        assert_eq!(p[9], 17);
        assert!(verify(sum16(0, &p[..20])), "IPv4 header checksum");
        let udp = &p[20..];
        assert_eq!(u16::from_be_bytes([udp[0], udp[1]]), 40000);
        assert_eq!(u16::from_be_bytes([udp[2], udp[3]]), 500);
        assert_eq!(u16::from_be_bytes([udp[4], udp[5]]), 8 + 101);
        let mut pseudo = sum16(0, &p[12..20]);
        pseudo += 17 + udp.len() as u32;
        assert!(verify(sum16(pseudo, udp)), "UDP checksum");
        assert_eq!(&udp[8..], &payload[..]);
    }

    #[test]
    fn ipv6_headers_have_the_right_lengths_and_checksum() {
        let src: SocketAddr = "[::1]:40000".parse().unwrap();
        let dst: SocketAddr = "[2001:db8::1]:4500".parse().unwrap();
        let payload = [0x5au8; 77];
        let p = ip_udp_packet(src, dst, &payload).unwrap();
        assert_eq!(p.len(), 40 + 8 + 77);
        assert_eq!(p[0] >> 4, 6);
        assert_eq!(u16::from_be_bytes([p[4], p[5]]) as usize, 8 + 77);
        assert_eq!(p[6], 17);
        let udp = &p[40..];
        assert_eq!(u16::from_be_bytes([udp[4], udp[5]]) as usize, udp.len());
        assert_ne!(u16::from_be_bytes([udp[6], udp[7]]), 0);
        let mut pseudo = sum16(0, &p[8..40]);
        pseudo += udp.len() as u32 + 17;
        assert!(verify(sum16(pseudo, udp)), "UDP checksum");
        assert!(ip_udp_packet(src, "127.0.0.1:1".parse().unwrap(), &payload).is_none());
    }

    #[test]
    fn a_capture_reads_back() {
        let gw: SocketAddr = "[::1]:4500".parse().unwrap();
        let me: SocketAddr = "[::1]:50123".parse().unwrap();
        let mut rec = PcapRecorder::new(Vec::new(), true).unwrap();
        let ts = Duration::from_micros(1_800_000_000_123_456);
        rec.record(ts, me, gw, &[1u8; 300]).unwrap();
        rec.record(ts + Duration::from_millis(1), gw, me, &[2u8; 40])
            .unwrap();
        assert_eq!(rec.packets(), 2);
        let bytes = rec.finish().unwrap();
        let mut r = PcapReader::new(&bytes[..]).unwrap();
        assert_eq!(r.header().datalink, DataLink::RAW);
        let a = r.next_packet().unwrap().unwrap();
        assert_eq!(a.timestamp, ts);
        assert_eq!(a.orig_len as usize, a.data.len());
        assert_eq!(a.data.len(), 40 + 8 + 4 + 300);
        assert_eq!(
            u16::from_be_bytes([a.data[4], a.data[5]]) as usize,
            8 + 4 + 300
        );
        // The marker is back in front of the IKE message.
        assert_eq!(&a.data[48..52], &[0, 0, 0, 0]);
        assert_eq!(a.data[52], 1);
        let b = r.next_packet().unwrap().unwrap();
        assert_eq!(b.data.len(), 40 + 8 + 4 + 40);
        assert_eq!(
            &b.data[8..24],
            &gw.ip()
                .to_string()
                .parse::<std::net::Ipv6Addr>()
                .unwrap()
                .octets()
        );
        assert!(r.next_packet().is_none());
    }
}
