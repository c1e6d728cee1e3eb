//! The NAT detection hash (RFC 7296 §2.23).

use std::net::{IpAddr, SocketAddr};

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
    // One padded block through the kernels' SHA-1 (for a single block it
    // is the sha1 crate's compression: no streaming hasher).
    let mut out = [[0u8; 20]];
    rebound_kernels::sha1::sha1_one_block_many(&[padded_block(spii, spir, ip, port)], &mut out);
    out[0]
}

/// What one NAT-D hash covers: the SPIs as in the message's header, and
/// the address and port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NatdInput {
    pub spi_i: [u8; 8],
    pub spi_r: [u8; 8],
    pub addr: SocketAddr,
}

/// [`nat_detection_hash`] of every input of a burst, into `out[i]`: the
/// padded blocks go through the multi-buffer SHA-1 of `rebound-kernels`
/// (sixteen hashes at once with AVX-512, where the CPU has it; the `sha1`
/// crate otherwise). Allocates nothing.
///
/// `inputs` and `out` should have the same length; when they do not, the
/// first `min` of each are paired and the rest of `out` is left as it was.
pub fn nat_detection_hash_many(inputs: &[NatdInput], out: &mut [[u8; 20]]) {
    let n = inputs.len().min(out.len());
    // Scratch sized for the batch: a request's four hashes do not set up
    // sixty-four blocks.
    if n <= 16 {
        hash_chunks::<16>(&inputs[..n], &mut out[..n]);
    } else {
        hash_chunks::<NATD_CHUNK>(&inputs[..n], &mut out[..n]);
    }
}

fn hash_chunks<const N: usize>(inputs: &[NatdInput], out: &mut [[u8; 20]]) {
    let mut blocks = [[0u8; 64]; N];
    for (ins, outs) in inputs.chunks(N).zip(out.chunks_mut(N)) {
        for (b, x) in blocks.iter_mut().zip(ins) {
            *b = padded_block(&x.spi_i, &x.spi_r, x.addr.ip(), x.addr.port());
        }
        rebound_kernels::sha1::sha1_one_block_many(&blocks[..ins.len()], outs);
    }
}

/// How many blocks [`nat_detection_hash_many`] pads at a time (a multiple
/// of the kernels' sixteen lanes; 4 KiB of stack).
const NATD_CHUNK: usize = 64;

/// `SPIi | SPIr | IP | port`, at most 8 + 8 + 16 + 2 = 34 bytes, padded
/// to one SHA-1 block (FIPS 180-4 §5.1.1), to be compressed once without
/// the streaming hasher's buffering.
fn padded_block(spii: &[u8; 8], spir: &[u8; 8], ip: IpAddr, port: u16) -> [u8; 64] {
    let mut block = [0u8; 64];
    block[..8].copy_from_slice(spii);
    block[8..16].copy_from_slice(spir);
    let mut len = 16;
    match ip {
        IpAddr::V4(v4) => {
            block[16..20].copy_from_slice(&v4.octets());
            len += 4;
        }
        IpAddr::V6(v6) => {
            block[16..32].copy_from_slice(&v6.octets());
            len += 16;
        }
    }
    block[len..len + 2].copy_from_slice(&port.to_be_bytes());
    len += 2;
    block[len] = 0x80;
    block[56..].copy_from_slice(&((len as u64) * 8).to_be_bytes());
    block
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha1::{Digest, Sha1};

    /// The one-block shortcut is SHA-1 for both address families.
    #[test]
    fn equals_streaming_sha1() {
        for (ip, port) in [
            (IpAddr::from([192, 0, 2, 1]), 500u16),
            (IpAddr::from([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1]), 4500),
            (IpAddr::from([0u8, 0, 0, 0]), 0),
        ] {
            for seed in 0u8..8 {
                let spii = [seed.wrapping_mul(37); 8];
                let spir = [seed ^ 0x5a; 8];
                let mut h = Sha1::new();
                h.update(spii);
                h.update(spir);
                match ip {
                    IpAddr::V4(v4) => h.update(v4.octets()),
                    IpAddr::V6(v6) => h.update(v6.octets()),
                }
                h.update(port.to_be_bytes());
                let want: [u8; 20] = h.finalize().into();
                assert_eq!(nat_detection_hash(&spii, &spir, ip, port), want);
            }
        }
    }

    /// The batch equals the one-at-a-time hash, both families mixed, at
    /// every batch size 1 to 64 (and past one chunk).
    #[test]
    fn many_equals_one_at_a_time() {
        let mut x = 0x1234_5678_9abc_def0u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for n in (1..=64).chain([65, 130]) {
            let keys: Vec<([u8; 8], [u8; 8], IpAddr, u16)> = (0..n)
                .map(|_| {
                    let r = next();
                    let ip = if r & 1 == 0 {
                        IpAddr::from(((r >> 32) as u32).to_be_bytes())
                    } else {
                        IpAddr::from((u128::from(next()) << 64 | u128::from(r)).to_be_bytes())
                    };
                    (next().to_le_bytes(), next().to_le_bytes(), ip, r as u16)
                })
                .collect();
            let inputs: Vec<NatdInput> = keys
                .iter()
                .map(|(a, b, ip, p)| NatdInput {
                    spi_i: *a,
                    spi_r: *b,
                    addr: SocketAddr::new(*ip, *p),
                })
                .collect();
            let mut out = vec![[0u8; 20]; n];
            nat_detection_hash_many(&inputs, &mut out);
            for (i, (a, b, ip, p)) in keys.iter().enumerate() {
                assert_eq!(out[i], nat_detection_hash(a, b, *ip, *p), "{n}: {i} ({ip})");
            }
        }
    }

    #[test]
    fn many_with_mismatched_lengths_pairs_the_first() {
        let (a, b) = ([1u8; 8], [2u8; 8]);
        let v4 = IpAddr::from([192, 0, 2, 1]);
        let mut out = [[0xaau8; 20]; 3];
        let at = |port| NatdInput {
            spi_i: a,
            spi_r: b,
            addr: SocketAddr::new(v4, port),
        };
        nat_detection_hash_many(&[at(500), at(4500)], &mut out);
        assert_eq!(out[0], nat_detection_hash(&a, &b, v4, 500));
        assert_eq!(out[1], nat_detection_hash(&a, &b, v4, 4500));
        assert_eq!(out[2], [0xaa; 20]);
        nat_detection_hash_many(&[at(500)], &mut []);
    }
}
