//! The NAT detection hash (RFC 7296 §2.23).

use std::net::IpAddr;

use sha1::{Digest, Sha1};

/// The data of a NAT_DETECTION_SOURCE_IP or NAT_DETECTION_DESTINATION_IP
/// notification: `SHA-1(SPIi | SPIr | IP | Port)`.
///
/// RFC 7296 §2.23: "The data associated with these notifications is a SHA-1
/// digest of the SPIs (in the order they appear in the header), IP address,
/// and port on which this packet was sent." The address is 4 bytes for IPv4
/// and 16 for IPv6, in network order, exactly as it appears on the wire (an
/// IPv4-mapped IPv6 address is hashed as IPv6; the caller passes the family
/// the packet used); the port is 2 bytes, big-endian.
///
/// For IKE_SESSION_RESUME, RFC 5723 §4.3.1 has NAT status determined anew,
/// so these payloads are computed with the new SPIs.
pub fn nat_detection_hash(spii: &[u8; 8], spir: &[u8; 8], ip: IpAddr, port: u16) -> [u8; 20] {
    let mut h = Sha1::new();
    h.update(spii);
    h.update(spir);
    match ip {
        IpAddr::V4(v4) => h.update(v4.octets()),
        IpAddr::V6(v6) => h.update(v6.octets()),
    }
    h.update(port.to_be_bytes());
    h.finalize().into()
}
