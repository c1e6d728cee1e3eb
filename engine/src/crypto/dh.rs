//! IKEv2 key exchange: the Diffie-Hellman groups of IKE_SA_INIT (RFC 7296
//! §1.2, §2.10, §3.4; IANA "Transform Type 4 - Key Exchange Method").
//!
//! | group | id | KE data | g^ir | wire format |
//! | --- | --- | --- | --- | --- |
//! | `modp2048` | 14 | 256 | 256 | RFC 3526 §3: y = 2^x mod p, big-endian, zero-padded |
//! | `ecp256` | 19 | 64 | 32 | RFC 5903 §7: x \| y; g^ir is x alone (§7, §9) |
//! | `ecp384` | 20 | 96 | 48 | RFC 5903 §7: x \| y; g^ir is x alone (§7, §9) |
//! | `curve25519` | 31 | 32 | 32 | RFC 8031 §2: the little-endian u-coordinate |
//!
//! - A private value comes from the injected [`RandomSource`], never from a
//!   global generator, and is wiped when the [`DhPrivate`] is dropped; its
//!   public value is computed once, at generation.
//! - Every public value from a peer is validated before use, and a bad one
//!   is refused with its own [`CryptoError`] variant.
//! - Generation and agreement run in time independent of the private value
//!   and of the shared secret: the curve crates' scalar multiplications and
//!   crypto-bigint's fixed-window exponentiation with a fixed exponent
//!   length; no comparison on a secret exits early.
//!
//! Nothing here allocates.

use core::fmt;

use crypto_bigint::modular::runtime_mod::{DynResidue, DynResidueParams};
use crypto_bigint::{Encoding, U256, U2048};
use p256::elliptic_curve::sec1::{FromEncodedPoint, ModulusSize, ToEncodedPoint};
use p256::elliptic_curve::{AffinePoint, CurveArithmetic, FieldBytesSize, PublicKey, SecretKey};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::CryptoError;
use crate::rand::RandomSource;

/// IKEv2 Transform Type 4 (Key Exchange Method) groups Rebound supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DhGroup {
    /// 2048-bit MODP Group (14), RFC 3526 §3.
    Modp2048,
    /// 256-bit Random ECP Group (19), NIST P-256, RFC 5903 §3.1.
    Ecp256,
    /// 384-bit Random ECP Group (20), NIST P-384, RFC 5903 §3.2.
    Ecp384,
    /// Curve25519 (31), X25519, RFC 8031.
    Curve25519,
}

impl DhGroup {
    /// Every supported group, most preferred first: the fastest, then the
    /// NIST curves, then MODP for peers that offer nothing else.
    pub const ALL: [DhGroup; 4] = [
        DhGroup::Curve25519,
        DhGroup::Ecp256,
        DhGroup::Ecp384,
        DhGroup::Modp2048,
    ];

    /// The IANA transform id.
    pub const fn id(self) -> u16 {
        match self {
            DhGroup::Modp2048 => 14,
            DhGroup::Ecp256 => 19,
            DhGroup::Ecp384 => 20,
            DhGroup::Curve25519 => 31,
        }
    }

    /// The group for an IANA transform id, if Rebound supports it.
    pub const fn from_id(id: u16) -> Option<Self> {
        match id {
            14 => Some(DhGroup::Modp2048),
            19 => Some(DhGroup::Ecp256),
            20 => Some(DhGroup::Ecp384),
            31 => Some(DhGroup::Curve25519),
            _ => None,
        }
    }

    /// The length of the KE payload's Key Exchange Data, in bytes.
    pub const fn public_len(self) -> usize {
        match self {
            DhGroup::Modp2048 => 256,
            DhGroup::Ecp256 => 64,
            DhGroup::Ecp384 => 96,
            DhGroup::Curve25519 => 32,
        }
    }

    /// The length of the shared secret g^ir, in bytes.
    pub const fn shared_len(self) -> usize {
        match self {
            DhGroup::Modp2048 => 256,
            DhGroup::Ecp256 => 32,
            DhGroup::Ecp384 => 48,
            DhGroup::Curve25519 => 32,
        }
    }

    /// The name used in configuration, metrics and logs (strongSwan's
    /// proposal keywords).
    pub const fn name(self) -> &'static str {
        match self {
            DhGroup::Modp2048 => "modp2048",
            DhGroup::Ecp256 => "ecp256",
            DhGroup::Ecp384 => "ecp384",
            DhGroup::Curve25519 => "curve25519",
        }
    }

    /// Parse a configuration value: a [`DhGroup::name`], or `x25519` for
    /// [`DhGroup::Curve25519`].
    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "modp2048" => Some(DhGroup::Modp2048),
            "ecp256" => Some(DhGroup::Ecp256),
            "ecp384" => Some(DhGroup::Ecp384),
            "curve25519" | "x25519" => Some(DhGroup::Curve25519),
            _ => None,
        }
    }

    /// The length of the random input to a private value, in bytes.
    const fn secret_len(self) -> usize {
        match self {
            DhGroup::Modp2048 => MODP_EXPONENT_LEN,
            DhGroup::Ecp256 => 32,
            DhGroup::Ecp384 => 48,
            DhGroup::Curve25519 => 32,
        }
    }
}

/// The longest public value and shared secret (MODP-2048), in bytes.
const MAX_LEN: usize = 256;

/// The longest random input to a private value (a P-384 scalar), in bytes.
const MAX_SECRET_LEN: usize = 48;

/// How many private values [`DhPrivate::generate`] draws before it decides
/// the random source is broken. A working source needs more than one draw
/// only for P-256, about once in 2^32 keys.
const GENERATE_ATTEMPTS: usize = 64;

/// The 2048-bit MODP prime, RFC 3526 §3:
/// p = 2^2048 - 2^1984 - 1 + 2^64 * { [2^1918 pi] + 124476 }.
const MODP2048_P: U2048 = U2048::from_be_hex(concat!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74",
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437",
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED",
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05",
    "98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB",
    "9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B",
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718",
    "3995497CEA956AE515D2261898FA051015728E5A8AACAA68FFFFFFFFFFFFFFFF",
));

/// p - 1, the largest value a peer's public value must stay below.
const MODP2048_P_MINUS_1: U2048 = MODP2048_P.wrapping_sub(&U2048::ONE);

/// Montgomery parameters for p, computed at compile time.
const MODP2048_PARAMS: DynResidueParams<{ U2048::LIMBS }> = DynResidueParams::new(&MODP2048_P);

/// The generator of group 14 (RFC 3526 §3: "The generator is: 2.").
const MODP2048_G: U2048 = U2048::from_u8(2);

/// Bits in a MODP private exponent.
///
/// RFC 3526 §8 estimates group 14 at 110 to 160 bits of strength and
/// gives exponents of 220 to 320 bits for those estimates; NIST SP 800-56A
/// rev. 3 §5.6.1.1 (FFC key pairs) asks for a private key of at least
/// twice the group's security strength, 2 × 112 = 224 bits, for a
/// safe-prime group. 256 bits satisfies both, matches the
/// 128-bit strength of the rest of a typical group-14 suite, and costs an
/// eighth of a full 2048-bit exponent: exponentiation time is linear in the
/// exponent length. The exponent is always processed as exactly 256 bits,
/// so its time does not depend on its value.
const MODP_EXPONENT_BITS: usize = 256;

/// Bytes in a MODP private exponent.
const MODP_EXPONENT_LEN: usize = MODP_EXPONENT_BITS / 8;

// The exponent is held in a U256.
const _: () = assert!(MODP_EXPONENT_BITS == U256::BITS);

/// The secret half of a private value.
enum Secret {
    /// The exponent x, non-zero.
    Modp2048(U256),
    Ecp256(p256::SecretKey),
    Ecp384(p384::SecretKey),
    Curve25519(x25519_dalek::StaticSecret),
}

impl Drop for Secret {
    fn drop(&mut self) {
        // The curve crates' key types zeroize themselves on drop.
        if let Secret::Modp2048(x) = self {
            x.zeroize();
        }
    }
}

impl DhGroup {
    /// The checks [`DhPrivate::agree`] makes on a peer's public value that
    /// need no private value: its length, the MODP range 1 < y < p-1, an
    /// uncompressed point on the curve (ECP). A responder runs them before
    /// it generates its own value, so a forged KE payload costs no key
    /// generation. The X25519 all-zero check needs the result and stays in
    /// `agree`.
    ///
    /// # Errors
    /// As [`DhPrivate::agree`].
    pub fn check_public(self, peer_public: &[u8]) -> Result<(), CryptoError> {
        if peer_public.len() != self.public_len() {
            return Err(CryptoError::DhPublicLength {
                group: self.id(),
                expected: self.public_len(),
                actual: peer_public.len(),
            });
        }
        let invalid = CryptoError::DhPublicInvalid { group: self.id() };
        match self {
            DhGroup::Modp2048 => {
                let y = <[u8; MAX_LEN]>::try_from(peer_public)
                    .map(U2048::from_be_bytes)
                    .map_err(|_| invalid)?;
                if y > U2048::ONE && y < MODP2048_P_MINUS_1 {
                    Ok(())
                } else {
                    Err(invalid)
                }
            }
            DhGroup::Ecp256 => ecp_point::<p256::NistP256>(peer_public, invalid).map(|_| ()),
            DhGroup::Ecp384 => ecp_point::<p384::NistP384>(peer_public, invalid).map(|_| ()),
            DhGroup::Curve25519 => Ok(()),
        }
    }
}

/// An ephemeral private value; zeroized on drop; `Debug` shows only the
/// group.
pub struct DhPrivate {
    group: DhGroup,
    secret: Secret,
    /// The public value in its first `group.public_len()` bytes.
    public: [u8; MAX_LEN],
}

impl DhPrivate {
    /// A fresh private value from the injected generator (never a global
    /// one), with its public value.
    ///
    /// - curve25519: 32 random bytes, clamped by X25519 itself (RFC 7748 §5).
    /// - ecp256 / ecp384: a random big-endian scalar, drawn again while it
    ///   is 0 or not below the group order: uniform over [1, n-1], as NIST
    ///   SP 800-56A rev. 3 §5.6.1.2.2 (testing candidates) gets it.
    /// - modp2048: a random 256-bit exponent (see `MODP_EXPONENT_BITS`),
    ///   drawn again while it is 0.
    ///
    /// # Panics
    /// If `rng` returns 64 unusable values in a row (for a working
    /// generator, less likely than 2^-2000): a broken generator is reported,
    /// not turned into a predictable key.
    pub fn generate(group: DhGroup, rng: &mut dyn RandomSource) -> Self {
        let mut buf = [0u8; MAX_SECRET_LEN];
        for _ in 0..GENERATE_ATTEMPTS {
            let Some(candidate) = buf.get_mut(..group.secret_len()) else {
                break;
            };
            rng.fill(candidate);
            let key = Self::from_secret(group, candidate);
            if let Some(key) = key {
                buf.zeroize();
                return key;
            }
        }
        buf.zeroize();
        panic!(
            "the random source returned {GENERATE_ATTEMPTS} unusable {} private values in a row",
            group.name()
        );
    }

    /// The private value for `secret` (`group.secret_len()` bytes): the
    /// X25519 scalar, the big-endian ECP scalar, or the big-endian MODP
    /// exponent. `None` when `secret` has the wrong length or is out of
    /// range (0, or an ECP scalar not below the group order). The range
    /// checks run in constant time; only their verdict is branched on.
    fn from_secret(group: DhGroup, secret: &[u8]) -> Option<Self> {
        if secret.len() != group.secret_len() {
            return None;
        }
        let mut public = [0u8; MAX_LEN];
        let secret = match group {
            DhGroup::Modp2048 => {
                let mut bytes = <[u8; MODP_EXPONENT_LEN]>::try_from(secret).ok()?;
                let mut x = U256::from_be_bytes(bytes);
                bytes.zeroize();
                if bool::from(x.ct_eq(&U256::ZERO)) {
                    x.zeroize();
                    return None;
                }
                let g = DynResidue::new(&MODP2048_G, MODP2048_PARAMS);
                // g^x is public: no need to wipe it.
                let y = g.pow_bounded_exp(&x, MODP_EXPONENT_BITS).retrieve();
                public.copy_from_slice(&y.to_be_bytes());
                Secret::Modp2048(x)
            }
            DhGroup::Ecp256 => {
                let sk = p256::SecretKey::from_slice(secret).ok()?;
                ecp_public(&sk, &mut public)?;
                Secret::Ecp256(sk)
            }
            DhGroup::Ecp384 => {
                let sk = p384::SecretKey::from_slice(secret).ok()?;
                ecp_public(&sk, &mut public)?;
                Secret::Ecp384(sk)
            }
            DhGroup::Curve25519 => {
                let mut bytes = <[u8; 32]>::try_from(secret).ok()?;
                let sk = x25519_dalek::StaticSecret::from(bytes);
                bytes.zeroize();
                let pk = x25519_dalek::PublicKey::from(&sk);
                public.get_mut(..32)?.copy_from_slice(pk.as_bytes());
                Secret::Curve25519(sk)
            }
        };
        Some(Self {
            group,
            secret,
            public,
        })
    }

    /// The group this value belongs to.
    pub fn group(&self) -> DhGroup {
        self.group
    }

    /// The KE payload's Key Exchange Data: exactly
    /// [`DhGroup::public_len`] bytes.
    pub fn public_value(&self) -> &[u8] {
        // public_len() <= MAX_LEN for every group.
        self.public.get(..self.group.public_len()).unwrap_or(&[])
    }

    /// g^ir from the peer's Key Exchange Data, which is validated first.
    ///
    /// # Errors
    /// - [`CryptoError::DhPublicLength`] if `peer_public` is not exactly
    ///   [`DhGroup::public_len`] bytes.
    /// - [`CryptoError::DhPublicInvalid`] if it is not a valid public value
    ///   of the group: outside 1 < y < p-1 (MODP), not an uncompressed
    ///   point on the curve (ECP), or a low-order point that makes the
    ///   X25519 output all zeros (curve25519).
    pub fn agree(&self, peer_public: &[u8]) -> Result<DhShared, CryptoError> {
        let group = self.group;
        // RFC 7296 §3.4: "The length of the Diffie-Hellman public value for
        // MODP groups MUST be equal to the length of the prime modulus over
        // which the exponentiation was performed, prepending zero bits to
        // the value if necessary." RFC 5903 §7 and RFC 8031 §2 fix the
        // ECP (x | y, each field-size) and curve25519 (32-byte) lengths.
        // RFC 6989 §2.1 (Sophie Germain prime MODP groups, group 14 among
        // them): the recipient MUST check that the peer's public value r
        // satisfies 1 < r < p-1. p is a safe prime, so every other r has
        // order q or 2q (q = (p-1)/2 prime, far above 2^256): no small
        // subgroup to confine g^ir to, and g^ir is never 1. Both checks are
        // in `check_public`, which touches the public value only.
        group.check_public(peer_public)?;
        let invalid = CryptoError::DhPublicInvalid { group: group.id() };
        let mut shared = DhShared {
            len: 0,
            bytes: [0; MAX_LEN],
        };
        match &self.secret {
            Secret::Modp2048(x) => {
                let y = <[u8; MAX_LEN]>::try_from(peer_public)
                    .map(U2048::from_be_bytes)
                    .map_err(|_| invalid)?;
                let mut z =
                    DynResidue::new(&y, MODP2048_PARAMS).pow_bounded_exp(x, MODP_EXPONENT_BITS);
                let mut z_int = z.retrieve();
                let mut z_bytes = z_int.to_be_bytes();
                // RFC 7296 §2.14: "g^ir is represented as a string of
                // octets in big endian order padded with zeros if necessary
                // to make it the length of the modulus." to_be_bytes() is
                // always the modulus's 256 bytes.
                shared.bytes.copy_from_slice(&z_bytes);
                z.zeroize();
                z_int.zeroize();
                z_bytes.zeroize();
            }
            Secret::Ecp256(sk) => ecp_agree(sk, peer_public, invalid, &mut shared.bytes)?,
            Secret::Ecp384(sk) => ecp_agree(sk, peer_public, invalid, &mut shared.bytes)?,
            Secret::Curve25519(sk) => {
                let u = <[u8; 32]>::try_from(peer_public).map_err(|_| invalid)?;
                let k = sk.diffie_hellman(&x25519_dalek::PublicKey::from(u));
                // RFC 8031 §2 (after RFC 7748 §6.1): the recipient MUST
                // check whether the computed shared secret is the all-zero
                // value and abort if so; a low-order peer point produces
                // it. The check runs in constant time; the branch reveals
                // only that the output was all zeros.
                if bool::from(k.as_bytes().ct_eq(&[0u8; 32])) {
                    return Err(invalid);
                }
                shared
                    .bytes
                    .get_mut(..32)
                    .ok_or(invalid)?
                    .copy_from_slice(k.as_bytes());
            }
        }
        shared.len = group.shared_len();
        Ok(shared)
    }
}

impl fmt::Debug for DhPrivate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DhPrivate({:?}, redacted)", self.group)
    }
}

/// Writes x | y of the public point of `sk` (RFC 5903 §7) to the front of
/// `out`; `None` only if `out` is too short.
fn ecp_public<C>(sk: &SecretKey<C>, out: &mut [u8]) -> Option<()>
where
    C: CurveArithmetic,
    AffinePoint<C>: FromEncodedPoint<C> + ToEncodedPoint<C>,
    FieldBytesSize<C>: ModulusSize,
{
    let point = sk.public_key().to_encoded_point(false);
    // SEC1 uncompressed: 0x04 | x | y.
    let xy = point.as_bytes().get(1..)?;
    out.get_mut(..xy.len())?.copy_from_slice(xy);
    Some(())
}

/// The x-coordinate of `sk` times the peer's point written to the front of
/// `out`, after checking the point. RFC 5903 §7: the shared secret is the x
/// value of the Diffie-Hellman common value alone (§9: RFC 4753 had x | y).
fn ecp_agree<C>(
    sk: &SecretKey<C>,
    peer_public: &[u8],
    invalid: CryptoError,
    out: &mut [u8],
) -> Result<(), CryptoError>
where
    C: CurveArithmetic,
    AffinePoint<C>: FromEncodedPoint<C> + ToEncodedPoint<C>,
    FieldBytesSize<C>: ModulusSize,
{
    // RFC 6989 §2.3 (ECP groups): the recipient MUST verify that the peer's
    // public value is a point on the curve, and not the point at infinity. SEC1 decoding
    // of the uncompressed form (RFC 5903 §7's x | y behind a 0x04 tag)
    // checks that each coordinate is below the field prime and that the
    // point satisfies the curve equation; a 0x04 encoding can never be the
    // point at infinity, and the crate refuses it anyway. The curves have
    // cofactor 1, so every such point is in the prime-order group and the
    // product with a non-zero scalar below the order is never the identity.
    let peer = ecp_point::<C>(peer_public, invalid)?;
    let shared =
        p256::elliptic_curve::ecdh::diffie_hellman(sk.to_nonzero_scalar(), peer.as_affine());
    // SharedSecret zeroizes itself on drop.
    let x = shared.raw_secret_bytes();
    out.get_mut(..x.len()).ok_or(invalid)?.copy_from_slice(x);
    Ok(())
}

/// The peer's point from RFC 5903 §7's x | y, decoded as SEC1's
/// uncompressed form (which checks the coordinates and the curve
/// equation).
fn ecp_point<C>(peer_public: &[u8], invalid: CryptoError) -> Result<PublicKey<C>, CryptoError>
where
    C: CurveArithmetic,
    AffinePoint<C>: FromEncodedPoint<C> + ToEncodedPoint<C>,
    FieldBytesSize<C>: ModulusSize,
{
    let mut sec1 = [0u8; 1 + 96];
    let tagged = sec1.get_mut(..1 + peer_public.len()).ok_or(invalid)?;
    let (tag, xy) = tagged.split_at_mut(1);
    tag.copy_from_slice(&[0x04]);
    xy.copy_from_slice(peer_public);
    PublicKey::<C>::from_sec1_bytes(tagged).map_err(|_| invalid)
}

/// The shared secret g^ir (up to 256 bytes), zeroized on drop; `Debug`
/// shows only its length.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct DhShared {
    len: usize,
    bytes: [u8; MAX_LEN],
}

impl DhShared {
    /// The shared secret: [`DhGroup::shared_len`] bytes.
    pub fn as_bytes(&self) -> &[u8] {
        // len <= MAX_LEN: set only from shared_len().
        self.bytes.get(..self.len).unwrap_or(&[])
    }
}

impl fmt::Debug for DhShared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DhShared({} bytes, redacted)", self.len)
    }
}

#[cfg(test)]
mod tests;
