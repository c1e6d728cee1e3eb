//! The small value syntaxes of the gateway's settings, shared by the
//! configuration file and the command line: identities (`fqdn:…`), traffic
//! selectors, address prefixes and ranges (selectors and pools), listen
//! addresses, ESP proposal names, `--cores` lists and pre-shared key
//! secrets.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::str::FromStr;

use rebound_engine::child::EspProposal;
use rebound_engine::child::pool::MAX_POOL_ADDRESSES;
use rebound_engine::crypto::SecretBuf;
use rebound_engine::handoff::TsRange;
use rebound_engine::ticket::state::{MAX_ID_DATA, TicketIdentity};
use rebound_engine::wire::IdType;

use super::{ConfigError, MIN_PSK_LEN, Psk, PskSection, open_mode_problem, resolve};
use zeroize::Zeroizing;

const ID_TYPES: &str = "use fqdn:, email:, ipv4:, ipv6: or keyid:";

/// An identity written `TYPE:VALUE`: `fqdn:vpn.example.net`,
/// `email:alice@example.net` (RFC822_ADDR), `ipv4:192.0.2.7`,
/// `ipv6:2001:db8::7`, `keyid:0a1b2c` (hex). The type is case-insensitive.
pub fn parse_identity(s: &str) -> Result<TicketIdentity, String> {
    let Some((ty, value)) = s.split_once(':') else {
        return Err(format!("{s:?} has no type prefix; {ID_TYPES}"));
    };
    let (id_type, data): (IdType, Vec<u8>) = match ty.to_ascii_lowercase().as_str() {
        "fqdn" => {
            if value
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == '@')
            {
                return Err(format!("{value:?} is not a domain name"));
            }
            (IdType::FQDN, value.as_bytes().to_vec())
        }
        "email" => {
            if !value.contains('@') || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(format!("{value:?} is not an e-mail address"));
            }
            (IdType::RFC822_ADDR, value.as_bytes().to_vec())
        }
        "ipv4" => match Ipv4Addr::from_str(value) {
            Ok(a) => (IdType::IPV4_ADDR, a.octets().to_vec()),
            Err(_) => return Err(format!("{value:?} is not an IPv4 address")),
        },
        "ipv6" => match Ipv6Addr::from_str(value) {
            Ok(a) => (IdType::IPV6_ADDR, a.octets().to_vec()),
            Err(_) => return Err(format!("{value:?} is not an IPv6 address")),
        },
        "keyid" => match hex::decode(value) {
            Ok(d) => (IdType::KEY_ID, d),
            Err(_) => return Err(format!("{value:?} is not hex")),
        },
        _ => return Err(format!("unknown type {ty:?}; {ID_TYPES}")),
    };
    TicketIdentity::new(id_type, &data)
        .ok_or_else(|| format!("the identity must be 1 to {MAX_ID_DATA} bytes long"))
}

/// The `TYPE:VALUE` form of an identity, as [`parse_identity`] reads it.
pub fn format_identity(id: &TicketIdentity) -> String {
    let d = id.data();
    match id.id_type {
        IdType::FQDN => format!("fqdn:{}", String::from_utf8_lossy(d)),
        IdType::RFC822_ADDR => format!("email:{}", String::from_utf8_lossy(d)),
        IdType::IPV4_ADDR if d.len() == 4 => {
            format!("ipv4:{}", Ipv4Addr::new(d[0], d[1], d[2], d[3]))
        }
        IdType::IPV6_ADDR if d.len() == 16 => {
            let mut o = [0u8; 16];
            o.copy_from_slice(d);
            format!("ipv6:{}", Ipv6Addr::from(o))
        }
        IdType::KEY_ID => format!("keyid:{}", hex::encode(d)),
        other => format!("type{}:{}", other.0, hex::encode(d)),
    }
}

pub(super) fn addr_bits(a: IpAddr) -> (u128, u32) {
    match a {
        IpAddr::V4(v) => (u128::from(u32::from(v)), 32),
        IpAddr::V6(v) => (u128::from(v), 128),
    }
}

fn addr_from_bits(n: u128, v6: bool) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::from(n))
    } else {
        IpAddr::V4(Ipv4Addr::from(u32::try_from(n).unwrap_or(u32::MAX)))
    }
}

/// `ADDR/LEN`, `START-END` or a single address: the first and last address
/// and, for a prefix, its length.
fn parse_block(s: &str) -> Result<(IpAddr, IpAddr, Option<u32>), String> {
    let bad_addr = |a: &str| format!("{a:?} is not an IP address");
    if let Some((a, len)) = s.split_once('/') {
        let addr = IpAddr::from_str(a).map_err(|_| bad_addr(a))?;
        let (n, bits) = addr_bits(addr);
        let family = if bits == 32 { "IPv4" } else { "IPv6" };
        let len: u32 = len.parse().ok().filter(|&l| l <= bits).ok_or_else(|| {
            format!("{s} is not a prefix: an {family} prefix length is 0 to {bits}")
        })?;
        let host = if len == 0 {
            u128::MAX
        } else {
            (1u128 << (bits - len)) - 1
        };
        let host = host
            & if bits == 32 {
                u128::from(u32::MAX)
            } else {
                u128::MAX
            };
        if n & host != 0 {
            let net = addr_from_bits(n & !host, bits == 128);
            return Err(format!("{s} has host bits set; did you mean {net}/{len}?"));
        }
        let v6 = bits == 128;
        return Ok((addr, addr_from_bits(n | host, v6), Some(len)));
    }
    if let Some((a, b)) = s.split_once('-') {
        let start = IpAddr::from_str(a.trim()).map_err(|_| bad_addr(a))?;
        let end = IpAddr::from_str(b.trim()).map_err(|_| bad_addr(b))?;
        if start.is_ipv4() != end.is_ipv4() {
            return Err(format!("{s} mixes IPv4 and IPv6"));
        }
        if addr_bits(start).0 > addr_bits(end).0 {
            return Err(format!("{s} ends before it starts"));
        }
        return Ok((start, end, None));
    }
    let a = IpAddr::from_str(s).map_err(|_| bad_addr(s))?;
    Ok((a, a, None))
}

const PROTOCOLS: [(&str, u8); 6] = [
    ("any", 0),
    ("icmp", 1),
    ("tcp", 6),
    ("udp", 17),
    ("icmpv6", 58),
    ("sctp", 132),
];

/// A traffic selector written `ADDRESSES [PROTOCOL [PORTS]]`:
///
/// - ADDRESSES: a prefix (`10.1.0.0/16`, `::/0`), a range
///   (`10.0.0.0-10.0.255.255`) or one address;
/// - PROTOCOL: `any` (the default), `icmp`, `tcp`, `udp`, `icmpv6`, `sctp`
///   or a number 0..=255;
/// - PORTS: `443` or `1024-65535` (all ports when absent); only with a
///   protocol other than `any`, as RFC 7296 §3.13.1 wants the full port
///   range for protocol 0.
pub fn parse_ts(s: &str) -> Result<TsRange, String> {
    let mut words = s.split_whitespace();
    let block = words.next().ok_or("empty traffic selector")?;
    let (start, end, _) = parse_block(block)?;
    let ip_proto = match words.next() {
        None => 0,
        Some(p) => PROTOCOLS
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(p))
            .map(|&(_, v)| v)
            .or_else(|| p.parse().ok())
            .ok_or_else(|| {
                format!("{p:?} is not a protocol (any, icmp, tcp, udp, icmpv6, sctp or 0..=255)")
            })?,
    };
    let (start_port, end_port) = match words.next() {
        None => (0, u16::MAX),
        Some(_) if ip_proto == 0 => {
            return Err(format!(
                "{s:?}: ports need a protocol (e.g. \"{block} tcp 443\")"
            ));
        }
        Some(p) => {
            let port = |x: &str| {
                x.parse::<u16>()
                    .map_err(|_| format!("{x:?} is not a port (0..=65535)"))
            };
            let (a, b) = match p.split_once('-') {
                Some((a, b)) => (port(a)?, port(b)?),
                None => (port(p)?, port(p)?),
            };
            if a > b {
                return Err(format!("port range {p} ends before it starts"));
            }
            (a, b)
        }
    };
    if let Some(extra) = words.next() {
        return Err(format!(
            "{extra:?} is extra; write ADDRESSES [PROTOCOL [PORTS]]"
        ));
    }
    Ok(TsRange {
        ip_proto,
        start_port,
        end_port,
        start,
        end,
    })
}

/// The form [`parse_ts`] reads: a prefix where the range is one.
pub fn format_ts(ts: &TsRange) -> String {
    let (a, bits) = addr_bits(ts.start);
    let (b, _) = addr_bits(ts.end);
    let span = b.wrapping_sub(a);
    let mut out = if ts.start.is_ipv4() != ts.end.is_ipv4() || b < a {
        format!("{}-{}", ts.start, ts.end)
    } else {
        let full = if bits == 32 {
            u128::from(u32::MAX)
        } else {
            u128::MAX
        };
        // A prefix: span + 1 is a power of two and `a` is aligned to it.
        let is_prefix = (span == full || (span.wrapping_add(1)).is_power_of_two()) && a & span == 0;
        if is_prefix {
            let host_bits = if span == full {
                bits
            } else {
                (span + 1).trailing_zeros()
            };
            format!("{}/{}", ts.start, bits - host_bits)
        } else {
            format!("{}-{}", ts.start, ts.end)
        }
    };
    if ts.ip_proto != 0 {
        match PROTOCOLS.iter().find(|(_, v)| *v == ts.ip_proto) {
            Some((n, _)) => out.push_str(&format!(" {n}")),
            None => out.push_str(&format!(" {}", ts.ip_proto)),
        }
        if (ts.start_port, ts.end_port) != (0, u16::MAX) {
            if ts.start_port == ts.end_port {
                out.push_str(&format!(" {}", ts.start_port));
            } else {
                out.push_str(&format!(" {}-{}", ts.start_port, ts.end_port));
            }
        }
    }
    out
}

/// A pool range: `ADDR/LEN` or `START-END`, as the first address and the
/// count. A prefix leaves out its first address (the IPv4 network address,
/// the IPv6 subnet-router anycast address) and, for IPv4, its last (the
/// broadcast address), when it has more than two; a range is taken as
/// written.
pub(super) fn parse_pool(s: &str) -> Result<(IpAddr, u32), String> {
    let (start, end, len) = parse_block(s.trim())?;
    let (mut a, bits) = addr_bits(start);
    let (mut b, _) = addr_bits(end);
    if let Some(len) = len
        && bits - len >= 2
    {
        a += 1;
        if bits == 32 {
            b -= 1;
        }
    }
    let count = (b - a).saturating_add(1);
    if count > u128::from(MAX_POOL_ADDRESSES) {
        return Err(format!(
            "{s} holds {count} addresses; at most {MAX_POOL_ADDRESSES} are supported (an IPv4 /8, \
             an IPv6 /104)"
        ));
    }
    Ok((addr_from_bits(a, bits == 128), count as u32))
}

/// The largest core id `--cores` expands a range to.
const MAX_CORE_ID: usize = 4095;

/// A `--cores` list: `0,1`, `0-3`, `0-1,4`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoreList(pub Vec<usize>);

impl FromStr for CoreList {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let id = |x: &str| {
            x.trim()
                .parse::<usize>()
                .ok()
                .filter(|&c| c <= MAX_CORE_ID)
                .ok_or_else(|| format!("{x:?} is not a core id (0..={MAX_CORE_ID})"))
        };
        let mut out = Vec::new();
        for part in s.split(',') {
            match part.split_once('-') {
                Some((a, b)) => {
                    let (a, b) = (id(a)?, id(b)?);
                    if a > b {
                        return Err(format!("core range {part} ends before it starts"));
                    }
                    out.extend(a..=b);
                }
                None => out.push(id(part)?),
            }
        }
        Ok(CoreList(out))
    }
}

/// A file's `IP:PORT`; port 0 is refused (a deployment names its port).
pub(super) fn file_addr(s: &str) -> Result<SocketAddr, String> {
    let a = SocketAddr::from_str(s.trim()).map_err(|_| {
        format!("{s:?} is not an address with a port (e.g. 0.0.0.0:500 or [::]:500)")
    })?;
    if a.port() == 0 {
        return Err(format!(
            "{s}: port 0 would bind a random port that no client knows; name the port \
             (the command-line flag accepts port 0, for tests)"
        ));
    }
    Ok(a)
}

/// The ESP names [`EspProposal::from_name`] accepts, for error messages.
const ESP_NAMES: [&str; 8] = [
    "aes256gcm16",
    "aes128gcm16",
    "aes256-sha256",
    "aes128-sha256",
    "aes256-sha384",
    "aes256-sha512",
    "aes128-sha384",
    "aes128-sha512",
];

/// An ESP proposal by name, as [`EspProposal::from_name`] reads it; the
/// error lists the names it knows.
pub(super) fn parse_esp(name: &str) -> Result<EspProposal, String> {
    EspProposal::from_name(name.trim()).ok_or_else(|| {
        let known = ESP_NAMES.join(", ");
        format!("unknown ESP proposal {name:?}; known: {known}")
    })
}

pub(super) fn psks_from_file(list: Vec<PskSection>, base: &Path) -> Result<Vec<Psk>, ConfigError> {
    list.into_iter()
        .enumerate()
        .map(|(i, p)| {
            let id =
                parse_identity(&p.id).map_err(|e| ConfigError::new(format!("psk[{i}].id"), e))?;
            let (field, bytes) = match (p.secret, p.secret_hex, p.secret_file) {
                (Some(s), None, None) => ("secret", Zeroizing::new(s.as_bytes().to_vec())),
                (None, Some(h), None) => {
                    let digits: Zeroizing<String> = Zeroizing::new(
                        h.chars()
                            .filter(|c| !c.is_ascii_whitespace() && *c != ':')
                            .collect(),
                    );
                    // The message never echoes the secret.
                    let bytes = hex::decode(digits.as_bytes()).map_err(|_| {
                        ConfigError::new(
                            format!("psk[{i}].secret_hex"),
                            "not valid hex (an even number of digits 0-9, a-f; spaces and colons \
                             allowed)",
                        )
                    })?;
                    ("secret_hex", Zeroizing::new(bytes))
                }
                (None, None, Some(f)) => {
                    let path = resolve(base, f);
                    let mut bytes = read_psk_file(&path)
                        .map_err(|e| ConfigError::new(format!("psk[{i}].secret_file"), e))?;
                    if bytes.ends_with(b"\n") {
                        bytes.pop();
                        if bytes.ends_with(b"\r") {
                            bytes.pop();
                        }
                    }
                    ("secret_file", bytes)
                }
                (None, None, None) => {
                    return Err(ConfigError::new(
                        format!("psk[{i}]"),
                        "needs one of secret, secret_hex or secret_file",
                    ));
                }
                _ => {
                    return Err(ConfigError::new(
                        format!("psk[{i}]"),
                        "give only one of secret, secret_hex and secret_file",
                    ));
                }
            };
            let key = format!("psk[{i}].{field}");
            if let Some(problem) = psk_len_problem(bytes.len()) {
                return Err(ConfigError::new(key, problem));
            }
            let secret =
                SecretBuf::from_slice(&bytes).map_err(|e| ConfigError::new(key, e.to_string()))?;
            Ok(Psk {
                id,
                secret,
                tickets: p.tickets.unwrap_or(true),
            })
        })
        .collect()
}

/// The most bytes a PSK file may hold: a 64-byte key, as text or with
/// line endings, fits many times over.
const MAX_PSK_FILE_LEN: u64 = 4096;

/// A `secret_file`'s bytes, wiped when dropped. Refused when group or
/// others may read it (checked on the opened file, so on exactly the file
/// whose bytes are read), when it is not a regular file, or when it is
/// larger than [`MAX_PSK_FILE_LEN`]. Messages name the file, never a
/// byte of it.
fn read_psk_file(path: &Path) -> Result<Zeroizing<Vec<u8>>, String> {
    read_secret_file(path, "the pre-shared key")
}

/// A small secret file (a pre-shared key, a Redis password, the cluster
/// secret): a regular file that only its owner may read, at most
/// `MAX_PSK_FILE_LEN` bytes, read into memory that is wiped on drop.
pub(crate) fn read_secret_file(path: &Path, what: &str) -> Result<Zeroizing<Vec<u8>>, String> {
    use std::io::Read;
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let p = path.display();
    // O_NONBLOCK: a FIFO where the file should be must not hang a reload.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| format!("cannot read {p}: {e}"))?;
    let meta = file
        .metadata()
        .map_err(|e| format!("cannot stat {p}: {e}"))?;
    if !meta.is_file() {
        return Err(format!("{p} is not a regular file"));
    }
    if let Some(problem) = open_mode_problem(path, meta.mode(), what) {
        return Err(format!("{p}: {problem}"));
    }
    if meta.len() > MAX_PSK_FILE_LEN {
        return Err(format!(
            "{p}: {} bytes is too large for {what} (at most {MAX_PSK_FILE_LEN})",
            meta.len()
        ));
    }
    // Sized once, never grown (a reallocation would leave a copy behind).
    let mut bytes = Zeroizing::new(Vec::with_capacity(MAX_PSK_FILE_LEN as usize + 1));
    file.take(MAX_PSK_FILE_LEN + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read {p}: {e}"))?;
    if bytes.len() as u64 > MAX_PSK_FILE_LEN {
        return Err(format!(
            "{p}: grew past {MAX_PSK_FILE_LEN} bytes while being read"
        ));
    }
    Ok(bytes)
}

pub(super) fn psk_len_problem(len: usize) -> Option<String> {
    if len < MIN_PSK_LEN {
        Some(format!(
            "{len} bytes is too short; at least {MIN_PSK_LEN} are required: an attacker who \
             gets one peer to authenticate to it (posing as the gateway) can brute-force a \
             short key offline"
        ))
    } else if len > SecretBuf::CAPACITY {
        Some(format!(
            "{len} bytes is longer than the {} Rebound supports",
            SecretBuf::CAPACITY
        ))
    } else {
        None
    }
}
