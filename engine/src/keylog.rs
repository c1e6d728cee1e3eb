//! A key log for debugging, like TLS's `SSLKEYLOGFILE`: every established
//! IKE SA's SPIs, nonces, transforms and SK_* keys, so a capture can be
//! decrypted afterwards.
//!
//! Two formats:
//!
//! - JSON lines ([`KeyLogEntry::json`]): one object per SA with every key,
//!   for tools and for people.
//! - Wireshark's IKEv2 decryption table ([`KeyLogEntry::wireshark_uat_line`]),
//!   the `ikev2_decryption_table` file Wireshark keeps in its personal
//!   configuration directory (`$XDG_CONFIG_HOME/wireshark/`, by default
//!   `~/.config/wireshark/`, or `$WIRESHARK_CONFIG_DIR`), one line per SA:
//!
//!   ```text
//!   <SPIi>,<SPIr>,<SK_ei>,<SK_er>,"<encryption>",<SK_ai>,<SK_ar>,"<integrity>"
//!   ```
//!
//!   Bytes are bare lower-case hex, the algorithm names are Wireshark's own
//!   strings in double quotes; for AES-GCM SK_e includes the 4-byte salt
//!   and SK_a is empty. The same fields after `uat:ikev2_decryption_table:`
//!   make a tshark `-o` preference ([`KeyLogEntry::wireshark_pref`]).
//!
//! Anyone holding the log can decrypt the IKE SAs it lists (and derive
//! their child SAs' keys from SK_d): it is for test beds, never for
//! production gateways. Nothing here prints keys through `Debug`.

use core::fmt;
use core::fmt::Write as _;
use std::io::{self, Write};

use zeroize::Zeroizing;

use crate::crypto::{Encr, IkeKeys, IkeSuite, Integ, SecretBuf};
use crate::handoff::{EstablishedSa, Hex};

/// Wireshark's name for the absent integrity algorithm of an AEAD cipher.
const WS_INTEG_NONE: &str = "NONE [RFC4306]";

/// One established IKE SA's keys, borrowed.
pub struct KeyLogEntry<'a> {
    /// The initiator's SPI.
    pub spi_i: [u8; 8],
    /// The responder's SPI.
    pub spi_r: [u8; 8],
    /// The initiator's nonce.
    pub ni: &'a [u8],
    /// The responder's nonce.
    pub nr: &'a [u8],
    /// The SA's transforms.
    pub suite: IkeSuite,
    /// The SK_* keys.
    pub keys: &'a IkeKeys,
    /// For a resumed SA, the (SPIi, SPIr) of the SA it replaces.
    pub resumed_from: Option<([u8; 8], [u8; 8])>,
}

impl<'a> KeyLogEntry<'a> {
    /// The entry of an SA handed to the control plane.
    pub fn from_sa(sa: &'a EstablishedSa) -> Self {
        Self {
            spi_i: sa.spi_i,
            spi_r: sa.spi_r,
            ni: &sa.ni,
            nr: &sa.nr,
            suite: sa.suite,
            keys: &sa.keys,
            resumed_from: sa.replaces(),
        }
    }

    /// One JSON object, no trailing newline:
    ///
    /// ```text
    /// {"spi_i":"<hex>","spi_r":"<hex>","ni":"<hex>","nr":"<hex>",
    ///  "encr":<transform id>,"encr_key_bits":<n>,"prf":<id>,"integ":<id>|null,
    ///  "sk_d":"<hex>","sk_ai":"<hex>","sk_ar":"<hex>","sk_ei":"<hex>",
    ///  "sk_er":"<hex>","sk_pi":"<hex>","sk_pr":"<hex>",
    ///  "resumed_from":{"spi_i":"<hex>","spi_r":"<hex>"}|null}
    /// ```
    ///
    /// (on one line). Hex is lower-case; for AES-GCM `sk_ei`/`sk_er` end
    /// with the 4-byte salt and `sk_ai`/`sk_ar` are empty strings. The ids
    /// are IANA transform ids.
    pub fn json(&self) -> String {
        let mut s = String::with_capacity(self.json_len_hint());
        s.push('{');
        hex_field(&mut s, "spi_i", &self.spi_i);
        s.push(',');
        hex_field(&mut s, "spi_r", &self.spi_r);
        s.push(',');
        hex_field(&mut s, "ni", self.ni);
        s.push(',');
        hex_field(&mut s, "nr", self.nr);
        let encr = self.suite.encr();
        // Writing to a String cannot fail.
        let _ = write!(
            s,
            r#","encr":{},"encr_key_bits":{},"prf":{},"integ":"#,
            encr.id(),
            encr.key_bits(),
            self.suite.prf().id()
        );
        match self.suite.integ() {
            Some(i) => {
                let _ = write!(s, "{}", i.id());
            }
            None => s.push_str("null"),
        }
        let k = self.keys;
        let keys: [(&str, &SecretBuf); 7] = [
            ("sk_d", &k.sk_d),
            ("sk_ai", &k.sk_ai),
            ("sk_ar", &k.sk_ar),
            ("sk_ei", &k.sk_ei),
            ("sk_er", &k.sk_er),
            ("sk_pi", &k.sk_pi),
            ("sk_pr", &k.sk_pr),
        ];
        for (name, key) in keys {
            s.push(',');
            hex_field(&mut s, name, key.as_bytes());
        }
        s.push_str(r#","resumed_from":"#);
        match &self.resumed_from {
            Some((spi_i, spi_r)) => {
                s.push('{');
                hex_field(&mut s, "spi_i", spi_i);
                s.push(',');
                hex_field(&mut s, "spi_r", spi_r);
                s.push('}');
            }
            None => s.push_str("null"),
        }
        s.push('}');
        s
    }

    /// Enough capacity for [`KeyLogEntry::json`] to need no reallocation
    /// (which would leave copies of the keys behind in freed memory).
    fn json_len_hint(&self) -> usize {
        let k = self.keys;
        let key_bytes: usize = [
            &k.sk_d, &k.sk_ai, &k.sk_ar, &k.sk_ei, &k.sk_er, &k.sk_pi, &k.sk_pr,
        ]
        .iter()
        .map(|s| s.len())
        .sum();
        // Field names, punctuation and numbers take well under 512 bytes.
        512 + 2 * (8 * 4 + self.ni.len() + self.nr.len() + key_bytes)
    }

    /// The Wireshark algorithm names (ENCR, INTEG) for this suite, `None`
    /// when Wireshark has no name for it.
    ///
    /// These are the strings of the "Encryption algorithm" and "Integrity
    /// algorithm" columns of Wireshark's IKEv2 decryption table
    /// (`vs_ikev2_encr_algs` and `vs_ikev2_auth_algs` in
    /// epan/dissectors/packet-isakmp.c); an AEAD cipher goes with
    /// `"NONE [RFC4306]"`. The prf does not matter to Wireshark.
    pub fn wireshark_algorithms(&self) -> Option<(&'static str, &'static str)> {
        wireshark_algorithms(&self.suite)
    }

    /// A line of Wireshark's `ikev2_decryption_table` UAT file (the file
    /// Wireshark keeps in its personal configuration directory), without
    /// the newline; `None` as for [`KeyLogEntry::wireshark_algorithms`]:
    ///
    /// ```text
    /// <SPIi>,<SPIr>,<SK_ei>,<SK_er>,"<encryption>",<SK_ai>,<SK_ar>,"<integrity>"
    /// ```
    ///
    /// with bytes in bare lower-case hex (SK_a empty for AES-GCM), which is
    /// how Wireshark itself saves the table.
    pub fn wireshark_uat_line(&self) -> Option<String> {
        let (encr, integ) = self.wireshark_algorithms()?;
        let k = self.keys;
        let mut s = String::with_capacity(
            64 + 2 * (16 + k.sk_ei.len() + k.sk_er.len() + k.sk_ai.len() + k.sk_ar.len()),
        );
        push_hex(&mut s, &self.spi_i);
        s.push(',');
        push_hex(&mut s, &self.spi_r);
        s.push(',');
        push_hex(&mut s, k.sk_ei.as_bytes());
        s.push(',');
        push_hex(&mut s, k.sk_er.as_bytes());
        let _ = write!(s, r#","{encr}","#);
        push_hex(&mut s, k.sk_ai.as_bytes());
        s.push(',');
        push_hex(&mut s, k.sk_ar.as_bytes());
        let _ = write!(s, r#","{integ}""#);
        Some(s)
    }

    /// The same as a tshark `-o` preference:
    /// `uat:ikev2_decryption_table:<fields>`.
    pub fn wireshark_pref(&self) -> Option<String> {
        let line = Zeroizing::new(self.wireshark_uat_line()?);
        let mut s = String::with_capacity(line.len() + 32);
        s.push_str("uat:ikev2_decryption_table:");
        s.push_str(&line);
        Some(s)
    }
}

impl fmt::Debug for KeyLogEntry<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let resumed_from = self.resumed_from.as_ref().map(|(i, r)| (Hex(i), Hex(r)));
        f.debug_struct("KeyLogEntry")
            .field("spi_i", &Hex(&self.spi_i))
            .field("spi_r", &Hex(&self.spi_r))
            .field("suite", &self.suite)
            .field("keys", &self.keys)
            .field("resumed_from", &resumed_from)
            .finish_non_exhaustive()
    }
}

/// Wireshark's names for a suite (see [`KeyLogEntry::wireshark_algorithms`]).
fn wireshark_algorithms(suite: &IkeSuite) -> Option<(&'static str, &'static str)> {
    let encr = match suite.encr() {
        Encr::AesGcm16 { key_bits: 128 } => "AES-GCM-128 with 16 octet ICV [RFC5282]",
        Encr::AesGcm16 { key_bits: 256 } => "AES-GCM-256 with 16 octet ICV [RFC5282]",
        Encr::AesCbc { key_bits: 128 } => "AES-CBC-128 [RFC3602]",
        Encr::AesCbc { key_bits: 256 } => "AES-CBC-256 [RFC3602]",
        _ => return None,
    };
    let integ = match suite.integ() {
        None => WS_INTEG_NONE,
        Some(Integ::HmacSha256_128) => "HMAC_SHA2_256_128 [RFC4868]",
        Some(Integ::HmacSha384_192) => "HMAC_SHA2_384_192 [RFC4868]",
        Some(Integ::HmacSha512_256) => "HMAC_SHA2_512_256 [RFC4868]",
    };
    Some((encr, integ))
}

/// Appends `bytes` as lower-case hex.
fn push_hex(s: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for &b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
}

/// Appends `"name":"<hex>"` (lower-case hex), straight into `s`: no
/// intermediate string holds a copy of the bytes, so a key written into a
/// `Zeroizing<String>` leaves nothing behind. The hand-off line uses it too.
pub fn hex_field(s: &mut String, name: &str, bytes: &[u8]) {
    s.push('"');
    s.push_str(name);
    s.push_str(r#"":""#);
    push_hex(s, bytes);
    s.push('"');
}

/// Writes entries to a JSON-lines sink and optionally a Wireshark UAT sink
/// (an `ikev2_decryption_table` file, opened for appending).
///
/// Each [`KeyLogWriter::log`] writes one line to each sink. The writer
/// does no buffering of its own: wrap files in a `BufWriter` and call
/// [`KeyLogWriter::flush`], or give unbuffered files so that every line is
/// on disk before the SA carries traffic. The lines it builds are wiped
/// from memory once written.
pub struct KeyLogWriter<J: Write, W: Write> {
    json: J,
    wireshark: Option<W>,
    entries: u64,
}

impl<J: Write, W: Write> KeyLogWriter<J, W> {
    /// A writer to `json` and, if given, `wireshark`.
    pub fn new(json: J, wireshark: Option<W>) -> Self {
        Self {
            json,
            wireshark,
            entries: 0,
        }
    }

    /// Logs one SA: its JSON line, and its decryption-table line. For a
    /// suite Wireshark has no name for, the table gets a `#` comment line
    /// (which Wireshark skips) naming the SPIs instead.
    ///
    /// # Errors
    /// The first error either sink returns.
    pub fn log(&mut self, sa: &EstablishedSa) -> io::Result<()> {
        self.log_entry(&KeyLogEntry::from_sa(sa))
    }

    /// Logs one entry, as [`KeyLogWriter::log`] does for an SA.
    ///
    /// # Errors
    /// The first error either sink returns.
    pub fn log_entry(&mut self, entry: &KeyLogEntry<'_>) -> io::Result<()> {
        // The newline is written separately: pushing it could reallocate
        // and free an unwiped copy of the keys.
        let line = Zeroizing::new(entry.json());
        self.json.write_all(line.as_bytes())?;
        self.json.write_all(b"\n")?;
        if let Some(w) = &mut self.wireshark {
            let line = Zeroizing::new(match entry.wireshark_uat_line() {
                Some(l) => l,
                None => format!(
                    "# {:?},{:?}: no Wireshark name for {:?}",
                    Hex(&entry.spi_i),
                    Hex(&entry.spi_r),
                    entry.suite
                ),
            });
            w.write_all(line.as_bytes())?;
            w.write_all(b"\n")?;
        }
        self.entries = self.entries.saturating_add(1);
        Ok(())
    }

    /// Writes `line` (one JSON object, no newline) to the JSON-lines sink
    /// only: for entries that are not IKE SAs (a child SA's keys), which
    /// the Wireshark IKEv2 table cannot hold. Counted as an entry.
    ///
    /// # Errors
    /// The JSON sink's error.
    pub fn log_json_line(&mut self, line: &str) -> io::Result<()> {
        // The newline is written separately, as in `log_entry`.
        self.json.write_all(line.as_bytes())?;
        self.json.write_all(b"\n")?;
        self.entries = self.entries.saturating_add(1);
        Ok(())
    }

    /// Flushes both sinks.
    ///
    /// # Errors
    /// The first error either sink returns.
    pub fn flush(&mut self) -> io::Result<()> {
        self.json.flush()?;
        if let Some(w) = &mut self.wireshark {
            w.flush()?;
        }
        Ok(())
    }

    /// The number of entries logged so far.
    pub fn entries(&self) -> u64 {
        self.entries
    }

    /// The sinks back.
    pub fn into_inner(self) -> (J, Option<W>) {
        (self.json, self.wireshark)
    }
}

impl<J: Write, W: Write> fmt::Debug for KeyLogWriter<J, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyLogWriter")
            .field("wireshark", &self.wireshark.is_some())
            .field("entries", &self.entries)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::PrfAlg;

    fn keys(suite: &IkeSuite) -> IkeKeys {
        let skeyseed = [0x5a; 32];
        let (ni, nr) = ([0x01; 32], [0x02; 32]);
        IkeKeys::derive(suite, &skeyseed, &ni, &nr, &[0xa1; 8], &[0xb2; 8]).unwrap()
    }

    fn entry<'a>(suite: IkeSuite, keys: &'a IkeKeys) -> KeyLogEntry<'a> {
        KeyLogEntry {
            spi_i: [0xa1; 8],
            spi_r: [0xb2; 8],
            ni: &[0x01; 32],
            nr: &[0x02; 32],
            suite,
            keys,
            resumed_from: Some(([0xc3; 8], [0xd4; 8])),
        }
    }

    fn all_suites() -> Vec<IkeSuite> {
        let mut out = Vec::new();
        for encr in [Encr::AES_GCM_128, Encr::AES_GCM_256] {
            out.push(IkeSuite::new(encr, PrfAlg::HmacSha256, None).unwrap());
        }
        for encr in [Encr::AES_CBC_128, Encr::AES_CBC_256] {
            for integ in Integ::ALL {
                out.push(IkeSuite::new(encr, PrfAlg::HmacSha512, Some(integ)).unwrap());
            }
        }
        out
    }

    #[test]
    fn every_supported_suite_has_wireshark_names() {
        for suite in all_suites() {
            let k = keys(&suite);
            let e = entry(suite, &k);
            let (encr, integ) = e.wireshark_algorithms().unwrap();
            assert_eq!(encr.contains("GCM"), suite.encr().is_aead(), "{suite:?}");
            assert_eq!(integ == WS_INTEG_NONE, suite.integ().is_none());
            let bits = suite.encr().key_bits().to_string();
            assert!(encr.contains(&bits), "{encr}");
        }
    }

    #[test]
    fn uat_line_and_pref() {
        let suite = IkeSuite::new(Encr::AES_GCM_128, PrfAlg::HmacSha256, None).unwrap();
        let k = keys(&suite);
        let e = entry(suite, &k);
        let line = e.wireshark_uat_line().unwrap();
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        let want = format!(
            "a1a1a1a1a1a1a1a1,b2b2b2b2b2b2b2b2,{},{},\"AES-GCM-128 with 16 octet ICV [RFC5282]\",,,\"NONE [RFC4306]\"",
            hex(k.sk_ei.as_bytes()),
            hex(k.sk_er.as_bytes())
        );
        assert_eq!(line, want);
        assert_eq!(
            e.wireshark_pref().unwrap(),
            format!("uat:ikev2_decryption_table:{want}")
        );
    }

    #[test]
    fn json_shape() {
        let suite = IkeSuite::new(Encr::AES_GCM_256, PrfAlg::HmacSha256, None).unwrap();
        let k = keys(&suite);
        let mut e = entry(suite, &k);
        let j = e.json();
        assert!(j.starts_with(r#"{"spi_i":"a1a1a1a1a1a1a1a1","spi_r":"b2b2b2b2b2b2b2b2","#));
        assert!(j.contains(r#""encr":20,"encr_key_bits":256,"prf":5,"integ":null,"#));
        assert!(j.ends_with(
            r#","resumed_from":{"spi_i":"c3c3c3c3c3c3c3c3","spi_r":"d4d4d4d4d4d4d4d4"}}"#
        ));
        assert!(j.contains(r#""sk_ai":"","sk_ar":"","#));
        assert!(!j.contains('\n'));
        assert!(j.capacity() >= j.len() && j.len() <= e.json_len_hint());
        e.resumed_from = None;
        assert!(e.json().ends_with(r#","resumed_from":null}"#));
    }

    #[test]
    fn writer_writes_lines_and_debug_hides_keys() {
        let suite = IkeSuite::new(
            Encr::AES_CBC_256,
            PrfAlg::HmacSha256,
            Some(Integ::HmacSha256_128),
        )
        .unwrap();
        let k = keys(&suite);
        let e = entry(suite, &k);
        let mut w = KeyLogWriter::new(Vec::new(), Some(Vec::new()));
        w.log_entry(&e).unwrap();
        w.log_entry(&e).unwrap();
        w.flush().unwrap();
        assert_eq!(w.entries(), 2);
        let shown = format!("{w:?} {e:?} {e:#?}");
        let (json, uat) = w.into_inner();
        let (json, uat) = (
            String::from_utf8(json).unwrap(),
            String::from_utf8(uat.unwrap()).unwrap(),
        );
        assert_eq!(json, format!("{0}\n{0}\n", e.json()));
        assert_eq!(uat, format!("{0}\n{0}\n", e.wireshark_uat_line().unwrap()));

        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        for key in [
            &k.sk_d, &k.sk_ai, &k.sk_ar, &k.sk_ei, &k.sk_er, &k.sk_pi, &k.sk_pr,
        ] {
            let b = key.as_bytes();
            assert!(!shown.contains(&hex(&b[..6])), "{shown}");
            assert!(
                !shown.contains(&format!("{}, {}, {}", b[0], b[1], b[2])),
                "{shown}"
            );
        }
        assert!(shown.contains("a1a1a1a1a1a1a1a1"), "{shown}");
    }

    #[test]
    fn from_established_sa() {
        use crate::crypto::AuthForm;
        use crate::crypto::SecretBuf;
        use crate::handoff::{NatStatus, NewSa, Origin};
        use crate::ticket::TicketId;
        use crate::ticket::state::{TicketIdentity, TicketState, TicketSuite};
        use crate::time::Timestamp;
        use crate::wire::{AuthMethod, IdType};

        let suite = IkeSuite::new(Encr::AES_GCM_256, PrfAlg::HmacSha256, None).unwrap();
        let id = TicketIdentity::new(IdType::FQDN, b"client.example").unwrap();
        let auth = TicketState {
            ticket_id: TicketId([0; 16]),
            id_i: id,
            id_r: id,
            peer_identity: None,
            auth_method: AuthMethod::SHARED_KEY_MIC,
            suite: TicketSuite {
                suite,
                dh_group: 31,
            },
            sk_d: SecretBuf::from_slice(&[0; 32]).unwrap(),
            old_spi_i: [0xc3; 8],
            old_spi_r: [0xd4; 8],
            internal_addr: None,
            issued_at: 1_700_000_000,
            expiry: 0,
            reauth_deadline: 1_700_086_400,
        };
        let mut sa = EstablishedSa::new(
            &auth,
            NewSa {
                spi_i: [0xa1; 8],
                spi_r: [0xb2; 8],
                peer: "192.0.2.7:4500".parse().unwrap(),
                local: "198.51.100.1:4500".parse().unwrap(),
                nat: NatStatus::default(),
                ni: [0x01; 32][..].into(),
                nr: [0x02; 32][..].into(),
                keys: keys(&suite),
                child: None,
                internal_addr: None,
                new_ticket: None,
            },
            Origin::Resumed {
                replaces: ([0xc3; 8], [0xd4; 8]),
                auth_form: AuthForm::Rfc,
            },
            0,
            Timestamp::from_secs(1_700_000_000),
        );
        let from_sa = KeyLogEntry::from_sa(&sa).json();
        assert_eq!(from_sa, entry(suite, &sa.keys).json());
        let mut w = KeyLogWriter::new(Vec::new(), Some(Vec::new()));
        w.log(&sa).unwrap();
        sa.origin = Origin::Initial;
        assert_eq!(KeyLogEntry::from_sa(&sa).resumed_from, None);
        w.log(&sa).unwrap();
        let (json, uat) = w.into_inner();
        let json = String::from_utf8(json).unwrap();
        let mut lines = json.lines();
        assert_eq!(lines.next(), Some(from_sa.as_str()));
        assert!(lines.next().unwrap().ends_with(r#""resumed_from":null}"#));
        assert_eq!(uat.unwrap().iter().filter(|&&b| b == b'\n').count(), 2);
    }

    #[test]
    fn writer_without_wireshark_sink() {
        let suite = IkeSuite::new(Encr::AES_GCM_256, PrfAlg::HmacSha384, None).unwrap();
        let k = keys(&suite);
        let mut w: KeyLogWriter<Vec<u8>, Vec<u8>> = KeyLogWriter::new(Vec::new(), None);
        w.log_entry(&entry(suite, &k)).unwrap();
        let (json, uat) = w.into_inner();
        assert!(uat.is_none());
        assert_eq!(json.iter().filter(|&&b| b == b'\n').count(), 1);
    }
}
