//! tshark, as an independent dissector, reads the storm's `--pcap`: every
//! datagram is a well-formed IKEv2 message of the two resumption exchanges,
//! with the counts the report gives.

use std::collections::HashMap;
use std::process::Command;

use rebound_dataplane::config::GatewaySettings;
use rebound_storm::{self as storm, Arrival, StormConfig};

fn have_tshark() -> bool {
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

#[test]
fn tshark_dissects_every_datagram_of_a_storm() {
    if !have_tshark() {
        return;
    }
    const N: usize = 40;
    let dir = std::env::temp_dir().join(format!("rebound-storm-tshark-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pcap = dir.join("storm.pcap");
    let cfg = StormConfig {
        clients: N,
        arrival: Arrival::Burst,
        progress: false,
        seed: Some(7),
        pcap: Some(pcap.clone()),
        gateway: GatewaySettings {
            workers: 2,
            ..GatewaySettings::default()
        },
        ..StormConfig::default()
    };
    let r = storm::run(&cfg).expect("storm runs");
    assert_eq!(r.established, N as u64, "{}", r.summary());
    let port = r.target.rsplit(':').next().unwrap().to_string();

    let conf = dir.join("wireshark-config");
    std::fs::create_dir_all(&conf).unwrap();
    let out = Command::new("tshark")
        .env("WIRESHARK_CONFIG_DIR", &conf)
        .args(["-n", "-r"])
        .arg(&pcap)
        .args(["-d", &format!("udp.port=={port},isakmp")])
        .args(["-T", "fields", "-E", "separator=/t"])
        .args([
            "-e",
            "isakmp.exchangetype",
            "-e",
            "isakmp.flags",
            "-e",
            "isakmp.rspi",
        ])
        .output()
        .expect("run tshark");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut kinds: HashMap<(String, bool), u64> = HashMap::new();
    let mut rows = 0u64;
    for line in text.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        assert_eq!(f.len(), 3, "tshark saw no IKE header in {line:?}");
        let flags = u8::from_str_radix(f[1].trim_start_matches("0x"), 16).expect("flags");
        let response = flags & 0x20 != 0;
        *kinds.entry((f[0].to_string(), response)).or_default() += 1;
        if response && f[0] == "38" {
            // SPIr names the worker that owns the SA (its top byte).
            let owner = u8::from_str_radix(&f[2][..2], 16).unwrap();
            assert!(owner < 2, "SPIr {} names no worker", f[2]);
        }
        rows += 1;
    }
    assert_eq!(rows, r.wire.datagrams_sent + r.wire.datagrams_received);
    // Requests include retransmissions; every client got both answers.
    assert!(kinds[&("38".into(), false)] >= N as u64, "{kinds:?}");
    assert!(kinds[&("35".into(), false)] >= N as u64, "{kinds:?}");
    assert!(kinds[&("38".into(), true)] >= N as u64, "{kinds:?}");
    assert!(kinds[&("35".into(), true)] >= N as u64, "{kinds:?}");
    assert_eq!(
        kinds.len(),
        4,
        "only the two resumption exchanges: {kinds:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
