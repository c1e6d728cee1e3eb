//! The key log, checked against serde_json and against Wireshark.
//!
//! - `json()` parses as JSON and every field equals the SA's SPIs, nonces,
//!   transform ids and keys.
//! - For every suite Rebound supports (AES-GCM-16-128/256; AES-CBC-128/256
//!   with HMAC-SHA2-256-128, -384-192, -512-256), an IKE_AUTH exchange is
//!   protected with `SkCipher` under keys from `IkeKeys::derive` and written
//!   to a pcap. tshark must then decrypt both messages, verify their ICVs
//!   and show the inner IDi, IDr and notifies, given the keys
//!   (a) as `-o` preferences from `wireshark_pref()`, and as an
//!   `ikev2_decryption_table` file written by `KeyLogWriter` into a
//!   Wireshark personal configuration directory found through
//!   (b) `WIRESHARK_CONFIG_DIR` and (c) `XDG_CONFIG_HOME/wireshark`.
//!   Without the keys it must show none of the inner payloads, so it is the
//!   key log that makes them visible; so each algorithm name is one
//!   Wireshark knows.
//!
//! tshark must be installed (scripts/test.sh installs it): without it the
//! tshark test fails, unless REBOUND_SKIP_TSHARK=1 says to skip it (the
//! convention of tshark_dissector.rs).

// This test runs tshark through `tshark_with`, with a configuration
// directory of its choosing, so `tshark` itself goes unused here.
#[allow(dead_code)]
#[path = "common/tshark_capture.rs"]
mod tshark_capture;

#[path = "common/splitmix.rs"]
mod splitmix;
use std::path::Path;
use std::process::Command;

use rebound_engine::crypto::{Encr, IkeKeys, IkeSuite, Integ, PrfAlg, Role, SkCipher};
use rebound_engine::keylog::{KeyLogEntry, KeyLogWriter};
use rebound_engine::wire::*;
use splitmix::SplitMix;
use tshark_capture::{Datagram, Row, Scratch, have_tshark, tshark_with, write_pcap};

/// One IKE SA: its SPIs, nonces, suite and keys.
struct Sa {
    spi_i: [u8; 8],
    spi_r: [u8; 8],
    ni: [u8; 32],
    nr: [u8; 32],
    suite: IkeSuite,
    keys: IkeKeys,
    resumed_from: Option<([u8; 8], [u8; 8])>,
}

impl Sa {
    fn new(rnd: &mut SplitMix, suite: IkeSuite, resumed: bool) -> Self {
        let (spi_i, spi_r) = (rnd.take::<8>(), rnd.take::<8>());
        let (ni, nr, skeyseed) = (rnd.take::<32>(), rnd.take::<32>(), rnd.take::<32>());
        let keys = IkeKeys::derive(&suite, &skeyseed, &ni, &nr, &spi_i, &spi_r).unwrap();
        let resumed_from = resumed.then(|| (rnd.take::<8>(), rnd.take::<8>()));
        Sa {
            spi_i,
            spi_r,
            ni,
            nr,
            suite,
            keys,
            resumed_from,
        }
    }

    fn entry(&self) -> KeyLogEntry<'_> {
        KeyLogEntry {
            spi_i: self.spi_i,
            spi_r: self.spi_r,
            ni: &self.ni,
            nr: &self.nr,
            suite: self.suite,
            keys: &self.keys,
            resumed_from: self.resumed_from,
        }
    }
}

/// Every suite Rebound supports, the two named in the task first.
fn suites() -> Vec<IkeSuite> {
    let s = |e, p, i| IkeSuite::new(e, p, i).unwrap();
    let mut out = vec![
        s(Encr::AES_GCM_256, PrfAlg::HmacSha256, None),
        s(
            Encr::AES_CBC_256,
            PrfAlg::HmacSha256,
            Some(Integ::HmacSha256_128),
        ),
        s(Encr::AES_GCM_128, PrfAlg::HmacSha384, None),
    ];
    for encr in [Encr::AES_CBC_128, Encr::AES_CBC_256] {
        for integ in Integ::ALL {
            let suite = s(encr, PrfAlg::HmacSha512, Some(integ));
            if !out.contains(&suite) {
                out.push(suite);
            }
        }
    }
    out
}

#[test]
fn json_has_every_field() {
    let mut rnd = SplitMix(0x4b45_594c_4f47_4a53);
    for (n, suite) in suites().into_iter().enumerate() {
        let sa = Sa::new(&mut rnd, suite, n % 2 == 0);
        let text = sa.entry().json();
        assert!(!text.contains('\n'), "{text}");
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let obj = v.as_object().unwrap();
        assert_eq!(obj.len(), 16, "{text}");
        let s = |name: &str| obj[name].as_str().unwrap().to_owned();
        let u = |name: &str| obj[name].as_u64().unwrap();
        assert_eq!(s("spi_i"), hex::encode(sa.spi_i));
        assert_eq!(s("spi_r"), hex::encode(sa.spi_r));
        assert_eq!(s("ni"), hex::encode(sa.ni));
        assert_eq!(s("nr"), hex::encode(sa.nr));
        assert_eq!(u("encr"), u64::from(suite.encr().id()));
        assert_eq!(u("encr_key_bits"), u64::from(suite.encr().key_bits()));
        assert_eq!(u("prf"), u64::from(suite.prf().id()));
        match suite.integ() {
            Some(i) => assert_eq!(u("integ"), u64::from(i.id())),
            None => assert!(obj["integ"].is_null()),
        }
        let k = &sa.keys;
        for (name, key) in [
            ("sk_d", &k.sk_d),
            ("sk_ai", &k.sk_ai),
            ("sk_ar", &k.sk_ar),
            ("sk_ei", &k.sk_ei),
            ("sk_er", &k.sk_er),
            ("sk_pi", &k.sk_pi),
            ("sk_pr", &k.sk_pr),
        ] {
            assert_eq!(s(name), hex::encode(key.as_bytes()), "{name}");
        }
        assert_eq!(k.sk_ai.is_empty(), suite.encr().is_aead());
        match sa.resumed_from {
            Some((i, r)) => {
                let from = obj["resumed_from"].as_object().unwrap();
                assert_eq!(from.len(), 2);
                assert_eq!(from["spi_i"].as_str().unwrap(), hex::encode(i));
                assert_eq!(from["spi_r"].as_str().unwrap(), hex::encode(r));
            }
            None => assert!(obj["resumed_from"].is_null()),
        }
        // Lower-case hex throughout.
        assert_eq!(text, text.to_lowercase());
    }
}

#[test]
fn uat_line_format() {
    let mut rnd = SplitMix(0x5541_544c_494e_4531);
    let suite = IkeSuite::new(
        Encr::AES_CBC_256,
        PrfAlg::HmacSha256,
        Some(Integ::HmacSha256_128),
    )
    .unwrap();
    let sa = Sa::new(&mut rnd, suite, false);
    let k = &sa.keys;
    let want = format!(
        r#"{},{},{},{},"AES-CBC-256 [RFC3602]",{},{},"HMAC_SHA2_256_128 [RFC4868]""#,
        hex::encode(sa.spi_i),
        hex::encode(sa.spi_r),
        hex::encode(k.sk_ei.as_bytes()),
        hex::encode(k.sk_er.as_bytes()),
        hex::encode(k.sk_ai.as_bytes()),
        hex::encode(k.sk_ar.as_bytes()),
    );
    assert_eq!(sa.entry().wireshark_uat_line().unwrap(), want);
    assert_eq!(
        sa.entry().wireshark_pref().unwrap(),
        format!("uat:ikev2_decryption_table:{want}")
    );
}

/// An IKE_AUTH message (port 4500) whose `inner` payloads go in an SK
/// payload protected by `cipher`.
fn protected(hdr: &HeaderRepr, inner: &[Payload<'_>], cipher: &SkCipher, iv: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; 2048];
    let mut b = MessageBuilder::new(&mut buf, hdr).unwrap();
    b.begin_sk(cipher.encr().iv_len()).unwrap();
    for p in inner {
        b.push(p).unwrap();
    }
    let sk = b.end_sk(|n| cipher.layout(n).trailer_len()).unwrap();
    let len = b.finish().unwrap();
    buf.truncate(len);
    cipher
        .protect(&mut buf, sk.sk_offset, sk.plaintext.len(), iv)
        .unwrap();
    buf
}

/// What tshark must show of one message once decrypted.
#[derive(Clone)]
struct Expected {
    spi_i: String,
    fqdn: String,
    ipv4: String,
    notify: String,
}

/// The IKE_AUTH request and response of `sa` (SKEYSEED-derived keys, so
/// any SA will do), and what tshark must find inside them.
fn ike_auth(sa: &Sa, rnd: &mut SplitMix, n: usize) -> Vec<(Vec<u8>, bool, Expected)> {
    let (i2r, r2i) = sa.keys.sk_ciphers(&sa.suite, Role::Initiator).unwrap();
    let hdr = |response: bool| HeaderRepr {
        spi_i: sa.spi_i,
        spi_r: sa.spi_r,
        next_payload: PayloadType::NONE,
        minor_version: 0,
        exchange_type: ExchangeType::IKE_AUTH,
        flags: Flags::new(!response, response),
        message_id: 1,
    };
    let auth = rnd.take::<32>();
    let auth = Payload::Auth(AuthRepr {
        method: AuthMethod::SHARED_KEY_MIC,
        data: &auth,
    });
    let iv = rnd.take::<16>();
    let iv = &iv[..sa.suite.encr().iv_len()];
    let fqdn = format!("keylog-{n}.client.example");
    let addr = [198, 51, 100, n as u8];
    let notify = |t| Payload::Notify(NotifyRepr::ike(t, &[]));
    let request = protected(
        &hdr(false),
        &[
            Payload::IdI(IdRepr {
                id_type: IdType::FQDN,
                data: fqdn.as_bytes(),
            }),
            auth,
            notify(NotifyType::TICKET_REQUEST),
        ],
        &i2r,
        iv,
    );
    let response = protected(
        &hdr(true),
        &[
            Payload::IdR(IdRepr {
                id_type: IdType::IPV4_ADDR,
                data: &addr,
            }),
            auth,
            notify(NotifyType::TICKET_ACK),
        ],
        &r2i,
        iv,
    );
    let spi_i = hex::encode(sa.spi_i);
    let expect = |fqdn: &str, ipv4: &str, notify: NotifyType| Expected {
        spi_i: spi_i.clone(),
        fqdn: fqdn.to_owned(),
        ipv4: ipv4.to_owned(),
        notify: notify.0.to_string(),
    };
    let ipv4 = format!("198.51.100.{n}");
    vec![
        (request, true, expect(&fqdn, "", NotifyType::TICKET_REQUEST)),
        (response, false, expect("", &ipv4, NotifyType::TICKET_ACK)),
    ]
}

const FIELDS: [&str; 7] = [
    "isakmp.ispi",
    "isakmp.exchangetype",
    "isakmp.id.data.fqdn",
    "isakmp.id.data.ipv4_addr",
    "isakmp.notify.msgtype",
    "_ws.expert.message",
    "_ws.malformed",
];

/// Where tshark reads its personal configuration from.
enum ConfigDir<'a> {
    /// `WIRESHARK_CONFIG_DIR=<dir>` (the tshark_capture convention).
    WiresharkConfigDir(&'a Path),
    /// `XDG_CONFIG_HOME=<dir>`, so `<dir>/wireshark`; HOME points at an
    /// empty directory so no `~/.wireshark` is found first.
    XdgConfigHome { xdg: &'a Path, home: &'a Path },
}

/// Runs tshark over `pcap` and returns one row of [`FIELDS`] per packet.
fn tshark(pcap: &Path, config: ConfigDir<'_>, prefs: &[String]) -> Vec<Row> {
    let configure = |cmd: &mut Command| {
        cmd.env_remove("WIRESHARK_CONFIG_DIR");
        match config {
            ConfigDir::WiresharkConfigDir(dir) => {
                cmd.env("WIRESHARK_CONFIG_DIR", dir);
            }
            ConfigDir::XdgConfigHome { xdg, home } => {
                cmd.env("XDG_CONFIG_HOME", xdg).env("HOME", home);
            }
        }
    };
    let (rows, stderr) = tshark_with(configure, pcap, prefs, &FIELDS);
    // A UAT file tshark cannot parse is reported on stderr, not as failure.
    assert!(
        !stderr.contains("ikev2_decryption_table"),
        "tshark complained about the table: {stderr}"
    );
    rows
}

/// Every message decrypted, its ICV accepted and its inner payloads shown.
fn assert_decrypted(how: &str, rows: &[Row], expected: &[Expected]) {
    assert_eq!(rows.len(), expected.len(), "{how}: tshark lost packets");
    for (i, (row, e)) in rows.iter().zip(expected).enumerate() {
        let at = format!("{how}, packet {}", i + 1);
        assert_eq!(row["isakmp.ispi"], e.spi_i, "{at}");
        assert_eq!(row["isakmp.exchangetype"], "35", "{at}");
        assert_eq!(row["isakmp.id.data.fqdn"], e.fqdn, "{at}: {row:?}");
        assert_eq!(row["isakmp.id.data.ipv4_addr"], e.ipv4, "{at}: {row:?}");
        assert_eq!(row["isakmp.notify.msgtype"], e.notify, "{at}: {row:?}");
        // No expert item: in particular no "Integrity Checksum Data is
        // incorrect" and no failed decryption.
        assert_eq!(row["_ws.expert.message"], "", "{at}: {row:?}");
        assert_eq!(row["_ws.malformed"], "", "{at}: {row:?}");
    }
}

#[test]
fn tshark_decrypts_with_the_key_log() {
    if !have_tshark() {
        return;
    }
    let mut rnd = SplitMix(0x4b45_594c_4f47_5453);
    let sas: Vec<Sa> = suites()
        .into_iter()
        .enumerate()
        .map(|(n, s)| Sa::new(&mut rnd, s, n % 2 == 1))
        .collect();
    let mut packets = Vec::new();
    for (n, sa) in sas.iter().enumerate() {
        packets.extend(ike_auth(sa, &mut rnd, n + 1));
    }
    let expected: Vec<Expected> = packets.iter().map(|p| p.2.clone()).collect();
    let dir = Scratch::new("keylog-tshark");
    let pcap = dir.0.join("ike-auth.pcap");
    write_pcap(
        &pcap,
        packets.iter().map(|(ike, request, _)| Datagram {
            port: 4500,
            request: *request,
            ike,
        }),
    );

    // Without keys: the SK payloads stay opaque.
    let empty = dir.0.join("empty-config");
    std::fs::create_dir_all(&empty).unwrap();
    let rows = tshark(&pcap, ConfigDir::WiresharkConfigDir(&empty), &[]);
    assert_eq!(rows.len(), packets.len());
    for (i, row) in rows.iter().enumerate() {
        for f in [
            "isakmp.id.data.fqdn",
            "isakmp.id.data.ipv4_addr",
            "isakmp.notify.msgtype",
        ] {
            assert_eq!(row[f], "", "packet {}: {f} seen without keys", i + 1);
        }
    }

    // (a) The `-o` preferences.
    let prefs: Vec<String> = sas
        .iter()
        .map(|sa| sa.entry().wireshark_pref().unwrap())
        .collect();
    let rows = tshark(&pcap, ConfigDir::WiresharkConfigDir(&empty), &prefs);
    assert_decrypted("-o uat:ikev2_decryption_table", &rows, &expected);

    // The table file as KeyLogWriter writes it, after a comment line.
    let mut w = KeyLogWriter::new(Vec::new(), Some(b"# Rebound key log\n".to_vec()));
    for sa in &sas {
        w.log_entry(&sa.entry()).unwrap();
    }
    let (json, table) = w.into_inner();
    let table = table.unwrap();
    assert_eq!(String::from_utf8(json).unwrap().lines().count(), sas.len());
    assert_eq!(
        String::from_utf8(table.clone()).unwrap().lines().count(),
        sas.len() + 1
    );

    // (b) $WIRESHARK_CONFIG_DIR/ikev2_decryption_table.
    let conf = dir.0.join("wireshark-config-dir");
    std::fs::create_dir_all(&conf).unwrap();
    std::fs::write(conf.join("ikev2_decryption_table"), &table).unwrap();
    let rows = tshark(&pcap, ConfigDir::WiresharkConfigDir(&conf), &[]);
    assert_decrypted("WIRESHARK_CONFIG_DIR table", &rows, &expected);

    // (c) $XDG_CONFIG_HOME/wireshark/ikev2_decryption_table.
    let (xdg, home) = (dir.0.join("xdg"), dir.0.join("home"));
    std::fs::create_dir_all(xdg.join("wireshark")).unwrap();
    std::fs::create_dir_all(&home).unwrap();
    std::fs::write(xdg.join("wireshark").join("ikev2_decryption_table"), &table).unwrap();
    let rows = tshark(
        &pcap,
        ConfigDir::XdgConfigHome {
            xdg: &xdg,
            home: &home,
        },
        &[],
    );
    assert_decrypted("XDG_CONFIG_HOME table", &rows, &expected);
}
