//! The key-exchange groups against public vectors (RFC 7748 §6.1,
//! RFC 5903 §8.1 and §8.2) and known answers computed outside Rebound.

use super::*;

fn h(s: &str) -> Vec<u8> {
    hex::decode(s).expect("test hex")
}

fn key(group: DhGroup, secret: &[u8]) -> DhPrivate {
    DhPrivate::from_secret(group, secret).expect("test secret in range")
}

/// SplitMix64 as a [`RandomSource`].
fn rng(seed: u64) -> impl FnMut(&mut [u8]) {
    let mut s = seed;
    move |buf: &mut [u8]| {
        for chunk in buf.chunks_mut(8) {
            s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = s;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            chunk.copy_from_slice(&z.to_le_bytes()[..chunk.len()]);
        }
    }
}

fn invalid(group: DhGroup) -> Result<(), CryptoError> {
    Err(CryptoError::DhPublicInvalid { group: group.id() })
}

/// The outcome of `agree`, without the secret (`DhShared` has no `PartialEq`).
fn verdict(k: &DhPrivate, peer: &[u8]) -> Result<(), CryptoError> {
    k.agree(peer).map(|_| ())
}

#[test]
fn ids_names_and_lengths() {
    for g in DhGroup::ALL {
        assert_eq!(DhGroup::from_id(g.id()), Some(g));
        assert_eq!(DhGroup::from_name(g.name()), Some(g));
        assert!(g.public_len() <= MAX_LEN && g.shared_len() <= MAX_LEN);
        assert!(g.secret_len() <= MAX_SECRET_LEN);
    }
    let table = DhGroup::ALL.map(|g| (g.id(), g.name(), g.public_len(), g.shared_len()));
    assert_eq!(
        table,
        [
            (31, "curve25519", 32, 32),
            (19, "ecp256", 64, 32),
            (20, "ecp384", 96, 48),
            (14, "modp2048", 256, 256),
        ]
    );
    assert_eq!(DhGroup::from_name("x25519"), Some(DhGroup::Curve25519));
    for bad in ["MODP2048", "modp1024", "ecp521", "", "curve448"] {
        assert_eq!(DhGroup::from_name(bad), None, "{bad}");
    }
    for id in [0, 1, 2, 5, 15, 21, 32, u16::MAX] {
        assert_eq!(DhGroup::from_id(id), None, "{id}");
    }
}

// ---- curve25519 --------------------------------------------------------

#[test]
fn x25519_rfc7748_section_6_1() {
    // RFC 7748 §6.1.
    let alice_priv = h("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
    let alice_pub = h("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
    let bob_priv = h("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
    let bob_pub = h("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
    let k = h("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");

    let alice = key(DhGroup::Curve25519, &alice_priv);
    let bob = key(DhGroup::Curve25519, &bob_priv);
    assert_eq!(alice.public_value(), &alice_pub[..]);
    assert_eq!(bob.public_value(), &bob_pub[..]);
    assert_eq!(alice.agree(&bob_pub).unwrap().as_bytes(), &k[..]);
    assert_eq!(bob.agree(&alice_pub).unwrap().as_bytes(), &k[..]);
}

#[test]
fn x25519_low_order_points_refused() {
    let g = DhGroup::Curve25519;
    let k = key(g, &[0x42; 32]);
    // The points of order 1, 2, 4 and 8 (u = 0, 1, p-1 and the two of
    // order 8), and p and p+1 (non-canonical 0 and 1): X25519 of a clamped
    // scalar (a multiple of 8) with any of them is all zeros.
    for u in [
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0100000000000000000000000000000000000000000000000000000000000000",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
        "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    ] {
        assert_eq!(verdict(&k, &h(u)), invalid(g), "u = {u}");
    }
    for len in [0, 31, 33, 64] {
        assert_eq!(
            verdict(&k, &vec![9; len]),
            Err(CryptoError::DhPublicLength {
                group: 31,
                expected: 32,
                actual: len
            })
        );
    }
    // The base point itself is fine.
    let mut nine = [0u8; 32];
    nine[0] = 9;
    assert_eq!(verdict(&k, &nine), Ok(()));
}

// ---- ECP (RFC 5903) ----------------------------------------------------

struct EcpVector {
    group: DhGroup,
    i: &'static str,
    gi: [&'static str; 2],
    r: &'static str,
    gr: [&'static str; 2],
    gir_x: &'static str,
}

fn check_ecp_vector(v: &EcpVector) {
    let gi = h(&v.gi.concat());
    let gr = h(&v.gr.concat());
    let gir = h(v.gir_x);
    let i = key(v.group, &h(v.i));
    let r = key(v.group, &h(v.r));
    assert_eq!(i.public_value(), &gi[..]);
    assert_eq!(r.public_value(), &gr[..]);
    assert_eq!(i.agree(&gr).unwrap().as_bytes(), &gir[..]);
    assert_eq!(r.agree(&gi).unwrap().as_bytes(), &gir[..]);
    assert_eq!(gir.len(), v.group.shared_len());
}

#[test]
fn ecp256_rfc5903_section_8_1() {
    // RFC 5903 §8.1, 256-bit Random ECP Group.
    check_ecp_vector(&EcpVector {
        group: DhGroup::Ecp256,
        i: "C88F01F510D9AC3F70A292DAA2316DE544E9AAB8AFE84049C62A9C57862D1433",
        gi: [
            "DAD0B65394221CF9B051E1FECA5787D098DFE637FC90B9EF945D0C3772581180",
            "5271A0461CDB8252D61F1C456FA3E59AB1F45B33ACCF5F58389E0577B8990BB3",
        ],
        r: "C6EF9C5D78AE012A011164ACB397CE2088685D8F06BF9BE0B283AB46476BEE53",
        gr: [
            "D12DFB5289C8D4F81208B70270398C342296970A0BCCB74C736FC7554494BF63",
            "56FBF3CA366CC23E8157854C13C58D6AAC23F046ADA30F8353E74F33039872AB",
        ],
        gir_x: "D6840F6B42F6EDAFD13116E0E12565202FEF8E9ECE7DCE03812464D04B9442DE",
    });
}

#[test]
fn ecp384_rfc5903_section_8_2() {
    // RFC 5903 §8.2, 384-bit Random ECP Group.
    check_ecp_vector(&EcpVector {
        group: DhGroup::Ecp384,
        i: "099F3C7034D4A2C699884D73A375A67F7624EF7C6B3C0F160647B67414DCE655\
            E35B538041E649EE3FAEF896783AB194",
        gi: [
            "667842D7D180AC2CDE6F74F37551F55755C7645C20EF73E31634FE72B4C55EE6\
             DE3AC808ACB4BDB4C88732AEE95F41AA",
            "9482ED1FC0EEB9CAFC4984625CCFC23F65032149E0E144ADA024181535A0F38E\
             EB9FCFF3C2C947DAE69B4C634573A81C",
        ],
        r: "41CB0779B4BDB85D47846725FBEC3C9430FAB46CC8DC5060855CC9BDA0AA2942\
            E0308312916B8ED2960E4BD55A7448FC",
        gr: [
            "E558DBEF53EECDE3D3FCCFC1AEA08A89A987475D12FD950D83CFA41732BC509D\
             0D1AC43A0336DEF96FDA41D0774A3571",
            "DCFBEC7AACF3196472169E838430367F66EEBE3C6E70C416DD5F0C68759DD1FF\
             F83FA40142209DFF5EAAD96DB9E6386C",
        ],
        gir_x: "11187331C279962D93D604243FD592CB9D0A926F422E47187521287E7156C5C4\
                D603135569B9E9D09CF5D4A270F59746",
    });
}

/// The field primes, big-endian (SEC 2 §2.4.2, §2.5.1).
const P256_P: &str = "FFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF";
const P384_P: &str = "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFE\
                      FFFFFFFF0000000000000000FFFFFFFF";
/// The group orders, big-endian.
const P256_N: &str = "FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551";
const P384_N: &str = "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF\
                      581A0DB248B0A77AECEC196ACCC52973";

#[test]
fn ecp_invalid_points_refused() {
    for (g, p) in [(DhGroup::Ecp256, P256_P), (DhGroup::Ecp384, P384_P)] {
        let k = DhPrivate::generate(g, &mut rng(7));
        let peer = DhPrivate::generate(g, &mut rng(8));
        let good = peer.public_value().to_vec();
        assert_eq!(verdict(&k, &good), Ok(()));
        let n = g.public_len() / 2;

        // Off the curve: y with its last bit flipped.
        let mut off = good.clone();
        off[2 * n - 1] ^= 1;
        assert_eq!(verdict(&k, &off), invalid(g), "{g:?} off-curve");
        // (0, 0), all 0xff (coordinates above p), and x = p with the
        // original y (a non-canonical coordinate).
        assert_eq!(verdict(&k, &vec![0; 2 * n]), invalid(g));
        assert_eq!(verdict(&k, &vec![0xff; 2 * n]), invalid(g));
        let mut x_is_p = good.clone();
        x_is_p[..n].copy_from_slice(&h(p));
        assert_eq!(verdict(&k, &x_is_p), invalid(g));
        // The SEC1 form with its 0x04 tag is one byte too long; the
        // compressed form's length (n + 1) is not accepted either.
        let mut tagged = vec![0x04];
        tagged.extend_from_slice(&good);
        assert_eq!(
            verdict(&k, &tagged),
            Err(CryptoError::DhPublicLength {
                group: g.id(),
                expected: 2 * n,
                actual: 2 * n + 1
            })
        );
        let lengths = [0, n, n + 1, 2 * n - 1, 2 * n + 1];
        for len in lengths {
            assert_eq!(
                verdict(&k, &vec![4; len]),
                Err(CryptoError::DhPublicLength {
                    group: g.id(),
                    expected: 2 * n,
                    actual: len
                })
            );
        }
    }
}

#[test]
fn ecp_scalars_outside_one_to_n_minus_one_are_not_keys() {
    for (g, n) in [(DhGroup::Ecp256, P256_N), (DhGroup::Ecp384, P384_N)] {
        let n = h(n);
        assert!(DhPrivate::from_secret(g, &vec![0; n.len()]).is_none());
        assert!(DhPrivate::from_secret(g, &n).is_none());
        assert!(DhPrivate::from_secret(g, &vec![0xff; n.len()]).is_none());
        let mut n_minus_1 = n.clone();
        *n_minus_1.last_mut().unwrap() -= 1;
        assert!(DhPrivate::from_secret(g, &n_minus_1).is_some());
        let mut one = vec![0; n.len()];
        *one.last_mut().unwrap() = 1;
        assert!(DhPrivate::from_secret(g, &one).is_some());
        // Wrong lengths.
        assert!(DhPrivate::from_secret(g, &n[1..]).is_none());
    }
}

#[test]
fn generate_draws_again_after_an_out_of_range_scalar() {
    // First draw all 0xff (above the P-256 order), then 32 bytes of 0x11.
    let mut draws = 0;
    let mut src = |buf: &mut [u8]| {
        buf.fill(if draws == 0 { 0xff } else { 0x11 });
        draws += 1;
    };
    let k = DhPrivate::generate(DhGroup::Ecp256, &mut src);
    assert_eq!(draws, 2);
    assert_eq!(
        k.public_value(),
        key(DhGroup::Ecp256, &[0x11; 32]).public_value()
    );
}

#[test]
#[should_panic(expected = "unusable ecp384 private values")]
fn generate_refuses_a_broken_random_source() {
    let _ = DhPrivate::generate(DhGroup::Ecp384, &mut |buf: &mut [u8]| buf.fill(0));
}

// ---- MODP-2048 ---------------------------------------------------------

fn modp_exponent(x: u64) -> [u8; MODP_EXPONENT_LEN] {
    let mut e = [0u8; MODP_EXPONENT_LEN];
    e[MODP_EXPONENT_LEN - 8..].copy_from_slice(&x.to_be_bytes());
    e
}

fn p_bytes() -> [u8; 256] {
    MODP2048_P.to_be_bytes()
}

/// `v` as 256 big-endian bytes.
fn be256(v: &[u8]) -> [u8; 256] {
    let mut out = [0u8; 256];
    out[256 - v.len()..].copy_from_slice(v);
    out
}

#[test]
fn modp_prime_is_rfc3526_group_14() {
    // The first and last 64 bits are ones by construction (RFC 3526 §3);
    // the whole value was checked against 2^2048 - 2^1984 - 1 +
    // 2^64 * ([2^1918 pi] + 124476) when it was written, and the known
    // answers below were computed from it independently.
    let p = p_bytes();
    assert!(p[..8].iter().chain(&p[248..]).all(|&b| b == 0xff));
    // [2^1918 pi] starts 0xC90FDAA2: pi = 3.243F6A88... in hex, shifted.
    assert_eq!(&p[8..12], &[0xc9, 0x0f, 0xda, 0xa2]);
    // p is a safe prime with p = 7 mod 8, so 2 is a quadratic residue and
    // generates the subgroup of prime order q = (p-1)/2: 2^q = 1 (mod p).
    // A mistyped digit would fail this (Euler's criterion) with
    // overwhelming probability.
    assert_eq!(p[255] & 7, 7);
    let q = MODP2048_P.shr_vartime(1);
    let two_q = DynResidue::new(&MODP2048_G, MODP2048_PARAMS).pow(&q);
    assert_eq!(two_q.retrieve(), U2048::ONE);
    assert_eq!(MODP2048_P_MINUS_1.shr_vartime(1), q);
}

#[test]
fn modp_small_exponents() {
    let g = DhGroup::Modp2048;
    // 2^1 = 2, 2^2 = 4, 2^11 = 2048, 2^2047 = 0x80 00..00 (still below p).
    for (x, want) in [
        (1u64, be256(&[2])),
        (2, be256(&[4])),
        (11, be256(&[0x08, 0x00])),
        (2047, {
            let mut v = [0u8; 256];
            v[0] = 0x80;
            v
        }),
    ] {
        assert_eq!(
            key(g, &modp_exponent(x)).public_value(),
            &want[..],
            "x = {x}"
        );
    }
    // 2^2048 mod p = 2^2048 - p: the two's complement of p in 2048 bits.
    let mut two_2048 = p_bytes().map(|b| !b);
    for b in two_2048.iter_mut().rev() {
        let (v, carry) = b.overflowing_add(1);
        *b = v;
        if !carry {
            break;
        }
    }
    assert_eq!(key(g, &modp_exponent(2048)).public_value(), &two_2048[..]);
    // Shared secret with small exponents: (2^3)^5 = 2^15.
    let a = key(g, &modp_exponent(3));
    let b = key(g, &modp_exponent(5));
    let want = be256(&[0x80, 0x00]);
    assert_eq!(a.agree(b.public_value()).unwrap().as_bytes(), &want[..]);
    assert_eq!(b.agree(a.public_value()).unwrap().as_bytes(), &want[..]);
}

#[test]
fn modp_known_answer_full_width_exponents() {
    // Computed independently with CPython 3 `pow(2, x, p)` and
    // `pow(g^y, x, p)` over the RFC 3526 prime.
    let x = h("6c1a37d26c1a37d26c1a37d26c1a37d26c1a37d26c1a37d26c1a37d26c1a37d2");
    let y = h("3f9e0b513f9e0b513f9e0b513f9e0b513f9e0b513f9e0b513f9e0b513f9e0b51");
    let gx = h(concat!(
        "8b38ef69f66b4633dafbdb198c523e2304d0994721ddca47c9e4aaabdca64d3d",
        "00e726685bab4532f9759ecd0fdef175d0c19ec89f4a3e53a563f8f210c76b6e",
        "e6d525f0d4693bded67c172c8475a1569f58e5d513720229c0fb19b5c3f38d15",
        "44d18dfc3d7847d6a8411630c1bc393b6ab67cd8f71e9515ad2ed9845482de3a",
        "8f70be180894734f81e725bb07fca28c61e3386fa36632cebc1e892cb2f7c19c",
        "3b5de316616d835c5d2977dc1cda514c09015f6102128a5beca5922ae7d726e4",
        "22dd8246e7dd15c18fef7a31bfad914b613e8ee01e4be269f379b157a26729f5",
        "8f9334d9a8a2a78f037f7b0cfc615d4aa40e955e8dd3a777aec66cd7e28d3dcd",
    ));
    let gy = h(concat!(
        "72fe57d76f36b6a829de958501245ee8dbe5191670dc439247db4dff13e3c2df",
        "8884844811bf2161cd2f007dc03aa4d27e2bf13a5e5c8df0bd0dbef1a2f55619",
        "dfc02a3a196d9f4ebd073ad564b0c8199dd1a4a7935b348d848288af849c84b7",
        "26977196b00576dc159569de319bda474411a49eb77472c9c14867efa1fa5fc7",
        "c46855d33334a807efeaa29dc9786205de4d73e904401cde2f9d0e645f0ce236",
        "dde448d4d111bf51eb76e485c875f682050e08d952f8e03a6b98751a84a89a03",
        "f7dae2297666cde7907830980e67463898b26b3b126bed6c4be5649172a078ab",
        "42b325b0dd6f0eaab4a2d5fe2e92048904ecc977c94f1bfeaaf2742522f3471b",
    ));
    let z = h(concat!(
        "4c7ed82f9b71346ab1c02924cab5d2a2d4680cf3c6d025bba261b6bcaf484f6e",
        "d88d9aa5d38d2424e372c367d11a3c1cfd65f5640ac430c641cf4e8aee6a168f",
        "b167420a7bc1e03ded41b92a8ab37f9d15b1fd06c2f1e85d5e763c460c298a93",
        "4532be662b15624050d667a1b17f8d2f967dcf08d5db2e1d5760681b546942cb",
        "adcf84c58659cf5dc96216947d34d795e0ebc3009a88ea060312f4b60aadb541",
        "7264e527b7cf4454e49ea11309b82b046ea77b1c7c672de34e34796aa1c2ba4e",
        "0f0681d9185ed8e5a3c9f6de09f09b1dde39763f547db50ab9798a098d9c2e81",
        "f67ff857b1c61753b7c31b84377afbd04db48079b57367644a61f8f02cf8e446",
    ));
    let i = key(DhGroup::Modp2048, &x);
    let r = key(DhGroup::Modp2048, &y);
    assert_eq!(i.public_value(), &gx[..]);
    assert_eq!(r.public_value(), &gy[..]);
    assert_eq!(i.agree(&gy).unwrap().as_bytes(), &z[..]);
    assert_eq!(r.agree(&gx).unwrap().as_bytes(), &z[..]);
}

#[test]
fn modp_out_of_range_values_refused() {
    let g = DhGroup::Modp2048;
    let k = key(g, &modp_exponent(0x1234_5678_9abc_def1));
    let p = p_bytes();
    let minus = |d: u8| {
        let mut v = p;
        v[255] -= d; // p ends in 0xff: no borrow
        v
    };
    let plus_one = {
        let mut v = p;
        // p ends in 64 one bits: p + 1 = ...aa68 0000000000000000 + carry.
        for b in v.iter_mut().rev() {
            let (s, carry) = b.overflowing_add(1);
            *b = s;
            if !carry {
                break;
            }
        }
        v
    };
    for (what, v) in [
        ("0", [0u8; 256]),
        ("1", be256(&[1])),
        ("p - 1", minus(1)),
        ("p", p),
        ("p + 1", plus_one),
        ("2^2048 - 1", [0xff; 256]),
    ] {
        assert_eq!(verdict(&k, &v), invalid(g), "{what}");
        // The same refusal without a private value (before generating).
        assert_eq!(g.check_public(&v), invalid(g).map(|_| ()), "{what}");
    }
    assert_eq!(g.check_public(&be256(&[2])), Ok(()));
    assert!(g.check_public(&[2; 255]).is_err());
    assert!(
        DhGroup::Ecp256.check_public(&[0; 64]).is_err(),
        "(0,0) is not on P-256"
    );
    assert!(
        DhGroup::Curve25519.check_public(&[0; 32]).is_ok(),
        "left to agree()"
    );
    assert_eq!(verdict(&k, &be256(&[2])), Ok(()));
    assert_eq!(verdict(&k, &minus(2)), Ok(()));
    for len in [0, 1, 255, 257, 512] {
        assert_eq!(
            verdict(&k, &vec![2; len]),
            Err(CryptoError::DhPublicLength {
                group: 14,
                expected: 256,
                actual: len
            })
        );
    }
    // A zero exponent is not a key.
    assert!(DhPrivate::from_secret(g, &[0; MODP_EXPONENT_LEN]).is_none());
    assert!(DhPrivate::from_secret(g, &[1; MODP_EXPONENT_LEN + 1]).is_none());
}

// ---- every group -------------------------------------------------------

#[test]
fn generated_keys_agree_in_every_group() {
    for (n, g) in DhGroup::ALL.into_iter().enumerate() {
        let seed = n as u64 * 2;
        let a = DhPrivate::generate(g, &mut rng(seed));
        let b = DhPrivate::generate(g, &mut rng(seed + 1));
        assert_eq!(a.group(), g);
        assert_eq!(a.public_value().len(), g.public_len());
        assert_ne!(a.public_value(), b.public_value());
        let ab = a.agree(b.public_value()).unwrap();
        let ba = b.agree(a.public_value()).unwrap();
        assert_eq!(ab.as_bytes().len(), g.shared_len(), "{g:?}");
        assert_eq!(ab.as_bytes(), ba.as_bytes(), "{g:?}");
        assert!(ab.as_bytes().iter().any(|&x| x != 0));
        // The injected generator decides the key: same seed, same value.
        let again = DhPrivate::generate(g, &mut rng(seed));
        assert_eq!(again.public_value(), a.public_value());
        // A value from another group has the wrong length (every group's
        // length differs).
        let other = DhGroup::ALL[(n + 1) % 4];
        let c = DhPrivate::generate(other, &mut rng(seed));
        assert!(matches!(
            a.agree(c.public_value()),
            Err(CryptoError::DhPublicLength { .. })
        ));
    }
}

#[test]
fn debug_never_prints_secrets() {
    for g in DhGroup::ALL {
        let k = DhPrivate::generate(g, &mut rng(99));
        let peer = DhPrivate::generate(g, &mut rng(100));
        let s = k.agree(peer.public_value()).unwrap();
        assert_eq!(format!("{k:?}"), format!("DhPrivate({g:?}, redacted)"));
        assert_eq!(
            format!("{s:?}"),
            format!("DhShared({} bytes, redacted)", g.shared_len())
        );
    }
}
