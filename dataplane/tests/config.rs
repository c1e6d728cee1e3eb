//! The gateway's configuration: the example file, every validation error,
//! flags over the file, relative paths, SIGHUP's re-read.

mod common;
use common::TempDir;
use std::fs;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};

use clap::Parser;
use rebound_dataplane::config::{
    ConfigError, CoreList, GatewayArgs, GatewaySettings, HandoffTarget, TicketStorage, TicketsMode,
    defaults_for_file, format_identity, format_ts, load_config, parse_config, parse_identity,
    parse_ts, reload_secrets, validate,
};
use rebound_engine::child::EspProposal;
use rebound_engine::ticket::format::TicketKind;
use rebound_engine::ticket::state::TicketIdentity;
use rebound_engine::wire::IdType;

#[derive(Parser, Debug)]
struct Cli {
    #[command(flatten)]
    args: GatewayArgs,
}

fn args(argv: &[&str]) -> GatewayArgs {
    Cli::try_parse_from(std::iter::once("rebound").chain(argv.iter().copied()))
        .unwrap()
        .args
}

fn example_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/gateway.example.toml")
}

fn parse(text: &str) -> Result<GatewaySettings, ConfigError> {
    parse_config(text, Path::new("/etc/rebound"))
}

fn err(text: &str) -> ConfigError {
    match parse(text) {
        Ok(s) => panic!("accepted:\n{text}\n{s:?}"),
        Err(e) => e,
    }
}

fn id(s: &str) -> TicketIdentity {
    parse_identity(s).unwrap()
}

const PSK: &str = "0123456789abcdef";

#[test]
fn example_file_parses_and_its_values_land() {
    // It holds PSKs, so it is installed owner-only (a copy group or others
    // may read is refused).
    let dir = TempDir::new("example");
    let copy = dir.write_private("gateway.toml", &fs::read_to_string(example_path()).unwrap());
    let s = load_config(&copy).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        s.listen,
        vec![
            "0.0.0.0:500".parse::<SocketAddr>().unwrap(),
            "[::]:500".parse().unwrap()
        ]
    );
    assert_eq!(
        s.listen_natt,
        vec![
            "0.0.0.0:4500".parse::<SocketAddr>().unwrap(),
            "[::]:4500".parse().unwrap()
        ]
    );
    assert_eq!(s.workers, 2);
    assert_eq!(s.cores, vec![0, 1]);
    assert_eq!((s.idle_sleep_us, s.idle_spins), (50, 1000));
    assert_eq!(s.drain_timeout_ms, 5000);
    assert_eq!(s.handoff_queue, 65536);
    assert_eq!(s.metrics, Some("127.0.0.1:9464".parse().unwrap()));
    assert_eq!(s.key_file, Some(PathBuf::from("/etc/rebound/ticket.keys")));

    let t = &s.responder.tickets;
    assert_eq!(t.kind, Some(TicketKind::ByValue));
    assert_eq!((t.max_lifetime_secs, t.ike_lifetime_secs), (86400, 86400));
    assert_eq!(t.max_message_len, 1280);
    assert_eq!(
        s.tickets,
        TicketStorage {
            store_capacity: 1 << 20,
            revocation_list_max: 1 << 18,
            revoke_on_delete: true,
        }
    );

    let r = &s.responder;
    assert_eq!(r.half_open_timeout_ms, 30000);
    assert_eq!(r.half_open_limit, 1 << 20);
    assert_eq!(r.completed_cache_limit, 1 << 18);
    assert_eq!(r.cookie_threshold, 1 << 16);
    assert_eq!((s.ike.cookie_threshold, s.ike.max_children), (1000, 8));
    assert_eq!(r.cookie_rotate_ms, 60000);
    assert_eq!(r.max_request_len, 4096);
    assert_eq!(
        r.esp,
        vec![
            EspProposal::AES_GCM_256,
            EspProposal::AES_GCM_128,
            EspProposal::AES_CBC_256_SHA256
        ]
    );
    assert_eq!(r.ts_local.len(), 4);
    assert_eq!(r.ts_local[0].start, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 0)));
    assert_eq!(
        r.ts_local[0].end,
        IpAddr::V4(Ipv4Addr::new(10, 255, 255, 255))
    );
    assert_eq!(
        r.ts_local[1].end,
        IpAddr::V4(Ipv4Addr::new(192, 168, 10, 127))
    );
    let https = r.ts_local[3];
    assert_eq!(
        (https.ip_proto, https.start_port, https.end_port),
        (6, 443, 443)
    );
    assert_eq!(https.start, https.end);
    assert_eq!(r.ts_remote.len(), 2);

    let pool = s.pool.unwrap();
    // A prefix leaves out the network and broadcast addresses.
    assert_eq!(pool.v4, Some((Ipv4Addr::new(10, 8, 0, 1), 65534)));
    assert_eq!(
        pool.v6,
        Some(("fd00:8::1".parse::<Ipv6Addr>().unwrap(), 65535))
    );

    assert_eq!(s.guard.claims_per_generation, 10_000_000);
    assert_eq!(s.guard.false_positive_rate, 0.01);
    assert_eq!(s.guard.window_secs, 28800);
    assert_eq!(s.guard.max_ticket_lifetime_secs, 86400);
    assert_eq!(s.guard.shards, 64);
    assert_eq!(
        s.guard_state.state_file,
        Some(PathBuf::from("/var/lib/rebound/guard.state"))
    );
    assert_eq!(s.guard_state.save_interval_secs, 10);

    assert_eq!(
        s.handoff,
        vec![HandoffTarget::Unix("/run/rebound/handoff.sock".into())]
    );
    assert_eq!(
        (s.keylog.as_ref(), s.keylog_wireshark.as_ref()),
        (None, None)
    );

    assert_eq!(s.psks.len(), 3);
    assert_eq!(s.psks[0].id, id("fqdn:client1.example.net"));
    assert_eq!(
        s.psks[0].secret.as_bytes(),
        b"replace-me-with-32-random-chars!"
    );
    assert!(s.psks[0].tickets);
    assert_eq!(s.psks[1].id.id_type, IdType::RFC822_ADDR);
    assert_eq!(
        s.psks[1].secret.as_bytes(),
        hex::decode("3f9a51c27be044d8a1c602e95d73b8f4").unwrap()
    );
    assert!(!s.psks[1].tickets);
    assert_eq!(s.psks[2].id.id_type, IdType::IPV4_ADDR);
    assert_eq!(s.psks[2].id.data(), &[192, 0, 2, 7]);
}

#[test]
fn an_empty_file_means_the_file_defaults() {
    let s = parse("").unwrap();
    let d = defaults_for_file();
    assert_eq!(s.listen, vec!["0.0.0.0:500".parse::<SocketAddr>().unwrap()]);
    assert_eq!(
        s.listen_natt,
        vec!["0.0.0.0:4500".parse::<SocketAddr>().unwrap()]
    );
    assert_eq!(s.listen, d.listen);
    assert_eq!(s.workers, 1);
    assert_eq!(s.handoff_queue, d.handoff_queue);
    assert_eq!(s.guard, d.guard);
    // No state file unless one is named: the guard lives in memory.
    assert_eq!(s.guard_state, d.guard_state);
    assert_eq!(s.guard_state.state_file, None);
    assert_eq!(s.guard_state.save_interval_secs, 10);
    assert_eq!(s.responder.esp, d.responder.esp);
    assert_eq!(s.responder.ts_local, d.responder.ts_local);
    assert_eq!(s.responder.tickets, d.responder.tickets);
    assert!(s.key_file.is_none() && s.pool.is_none() && s.psks.is_empty());
    // The embedded default (loopback, port 0) is valid too.
    validate(&GatewaySettings::default()).unwrap();
}

/// Each bad setting, the key its error names and a piece of its message.
const BAD: &[(&str, &str, &str)] = &[
    ("[ike]\nproposals = []", "ike.proposals", "is empty"),
    (
        "[ike]\nproposals = [\"aes256gcm16-prfsha256-curve25519\", \"3des-sha1-modp1024\"]",
        "ike.proposals[1]",
        "unknown algorithm \"3des\"",
    ),
    (
        "[ike]\nproposals = [\"aes256-prfsha256-x25519\"]",
        "ike.proposals[0]",
        "AES-CBC needs an integrity algorithm",
    ),
    ("[ike]\nlocal_id = \"gw.example.net\"", "ike.local_id", ""),
    (
        "[ike]\nreauth_secs = 59",
        "ike.reauth_secs",
        "59 is out of range",
    ),
    (
        "[ike]\ncookie_threshold = 99999999",
        "ike.cookie_threshold",
        "out of range 0..=16777216",
    ),
    (
        "[ike]\nmax_children = 0",
        "ike.max_children",
        "0 is out of range 1..=64",
    ),
    (
        "[ike]\nsurprise = 1",
        "line 2, column 1",
        "unknown field `surprise`",
    ),
    (
        "[gateway]\nworkers = 0",
        "gateway.workers",
        "0 is out of range 1..=255",
    ),
    (
        "[gateway]\nworkers = 256",
        "gateway.workers",
        "256 is out of range 1..=255",
    ),
    (
        "[gateway]\nworkers = 3\ncores = [0, 1]",
        "gateway.cores",
        "2 entries but gateway.workers = 3",
    ),
    (
        "[gateway]\nworkers = 2\ncores = [1, 1]",
        "gateway.cores[1]",
        "core 1 is already worker 0's",
    ),
    (
        "[gateway]\nlisten = []\nlisten_natt = []",
        "gateway.listen",
        "both empty",
    ),
    (
        "[gateway]\nlisten = [\"0.0.0.0:500\", \"0.0.0.0:0\"]",
        "gateway.listen[1]",
        "port 0",
    ),
    (
        "[gateway]\nlisten = [\"10.0.0.1\"]",
        "gateway.listen[0]",
        "is not an address with a port",
    ),
    (
        "[gateway]\nlisten = [\"0.0.0.0:500\", \"0.0.0.0:500\"]",
        "gateway.listen[1]",
        "listed twice",
    ),
    (
        "[gateway]\nlisten_natt = [\"0.0.0.0:500\"]",
        "gateway.listen_natt[0]",
        "is also in gateway.listen",
    ),
    (
        "[gateway]\nmetrics = \"127.0.0.1:0\"",
        "gateway.metrics",
        "port 0",
    ),
    (
        "[gateway]\nidle_sleep_us = 2000000",
        "gateway.idle_sleep_us",
        "out of range 0..=1000000",
    ),
    (
        "[gateway]\nhandoff_queue = 0",
        "gateway.handoff_queue",
        "out of range 1..=16777216",
    ),
    (
        "[tickets]\nmax_lifetime_secs = 0",
        "tickets.max_lifetime_secs",
        "out of range",
    ),
    (
        "[tickets]\nmax_message_len = 100",
        "tickets.max_message_len",
        "100 is out of range 512..=65535",
    ),
    (
        "[tickets]\nstore_capacity = 0",
        "tickets.store_capacity",
        "0 is out of range 1..=16777216",
    ),
    (
        "[tickets]\nrevocation_list_max = 0",
        "tickets.revocation_list_max",
        "0 is out of range 1..=16777216",
    ),
    (
        "[responder]\nhalf_open_timeout_ms = 0",
        "responder.half_open_timeout_ms",
        "0 is out of range 1000..=600000",
    ),
    (
        "[responder]\nhalf_open_limit = 1000\ncookie_threshold = 2000",
        "responder.cookie_threshold",
        "above responder.half_open_limit = 1000",
    ),
    (
        "[responder]\nmax_request_len = 100000",
        "responder.max_request_len",
        "out of range 1024..=8192",
    ),
    (
        "[child]\nesp = [\"aes256gcm16\", \"aes128gcm16\", \"aes999\"]",
        "child.esp[2]",
        "unknown ESP proposal \"aes999\"; known: aes256gcm16, aes128gcm16",
    ),
    (
        "[child]\nesp = [\"aes256gcm16\", \"AES256GCM16\"]",
        "child.esp[1]",
        "listed twice",
    ),
    ("[child]\nesp = []", "child.esp", "is empty"),
    (
        "[child]\nts_local = [\"10.0.0.0/8 gre\"]",
        "child.ts_local[0]",
        "\"gre\" is not a protocol",
    ),
    (
        "[child]\nts_remote = [\"0.0.0.0/0\", \"10.0.0.0/8 443\"]",
        "child.ts_remote[1]",
        "\"443\" is not a protocol",
    ),
    (
        "[child]\nts_remote = [\"10.0.0.0/8 any 443\"]",
        "child.ts_remote[0]",
        "ports need a protocol",
    ),
    (
        "[child]\nts_local = [\"10.0.0.9-10.0.0.1\"]",
        "child.ts_local[0]",
        "ends before it starts",
    ),
    (
        "[child]\nts_local = [\"10.0.0.0-fd00::1\"]",
        "child.ts_local[0]",
        "mixes IPv4 and IPv6",
    ),
    (
        "[pool]\nv4 = \"10.8.0.0/33\"",
        "pool.v4",
        "10.8.0.0/33 is not a prefix",
    ),
    (
        "[pool]\nv4 = \"10.8.0.1/16\"",
        "pool.v4",
        "host bits set; did you mean 10.8.0.0/16?",
    ),
    (
        "[pool]\nv4 = \"fd00::/112\"",
        "pool.v4",
        "is not an IPv4 range",
    ),
    (
        "[pool]\nv6 = \"fd00::/64\"",
        "pool.v6",
        "at most 16777216 are supported",
    ),
    ("[pool]", "pool", "needs v4, v6 or both"),
    (
        "[guard]\nfalse_positive_rate = 0.9",
        "guard.false_positive_rate",
        "0.9 is out of range 1e-9..=0.5",
    ),
    (
        "[guard]\nshards = 0",
        "guard.shards",
        "0 is out of range 1..=65536",
    ),
    (
        "[guard]\nclaims_per_generation = 0",
        "guard.claims_per_generation",
        "at least 1",
    ),
    (
        "[guard]\nsave_interval_secs = 0",
        "guard.save_interval_secs",
        "0 is out of range 1..=86400",
    ),
    (
        "[guard]\nsave_interval_secs = 86401",
        "guard.save_interval_secs",
        "86401 is out of range 1..=86400",
    ),
    (
        "[guard]\nstate_file = \"/\"",
        "guard.state_file",
        "does not name a file",
    ),
    (
        "[guard]\nmax_ticket_lifetime_secs = 3600",
        "guard.max_ticket_lifetime_secs",
        "3600 is shorter than the tickets issued",
    ),
    (
        "[handoff]\nkeylog = \"k\"\nkeylog_wireshark = \"k\"",
        "handoff.keylog_wireshark",
        "is also handoff.keylog",
    ),
    (
        "[handoff]\nunix = [\"a.sock\", \"a.sock\"]",
        "handoff.unix[1]",
        "listed twice",
    ),
    (
        "[[psk]]\nid = \"fqdn:a.example\"\nsecret = \"0123456789abcdef\"\n\
         [[psk]]\nid = \"foo:bar\"\nsecret = \"0123456789abcdef\"",
        "psk[1].id",
        "unknown type \"foo\"; use fqdn:, email:, ipv4:, ipv6: or keyid:",
    ),
    (
        "[[psk]]\nid = \"client\"\nsecret = \"0123456789abcdef\"",
        "psk[0].id",
        "has no type prefix",
    ),
    (
        "[[psk]]\nid = \"ipv4:300.1.1.1\"\nsecret = \"0123456789abcdef\"",
        "psk[0].id",
        "is not an IPv4 address",
    ),
    (
        "[[psk]]\nid = \"fqdn:a.example\"\nsecret = \"0123456789abcdef\"\n\
         [[psk]]\nid = \"FQDN:a.example\"\nsecret = \"0123456789abcdeg\"",
        "psk[1].id",
        "fqdn:a.example is already psk[0]'s",
    ),
    (
        "[[psk]]\nid = \"fqdn:a.example\"\nsecret = \"short\"",
        "psk[0].secret",
        "5 bytes is too short; at least 16 are required: an attacker who gets one peer to \
         authenticate to it (posing as the gateway) can brute-force a short key offline",
    ),
    (
        "[[psk]]\nid = \"fqdn:a.example\"\nsecret_hex = \"00112233445566778899aabbccddeeff00\
         112233445566778899aabbccddeeff00112233445566778899aabbccddeeff00112233445566778899\
         aabbccddeeff00\"",
        "psk[0].secret_hex",
        "65 bytes is longer than the 64 Rebound supports",
    ),
    (
        "[[psk]]\nid = \"fqdn:a.example\"",
        "psk[0]",
        "needs one of secret, secret_hex or secret_file",
    ),
    (
        "[[psk]]\nid = \"fqdn:a.example\"\nsecret = \"0123456789abcdef\"\nsecret_hex = \"00\"",
        "psk[0]",
        "give only one of",
    ),
    (
        "[[psk]]\nid = \"fqdn:a.example\"\nsecret_file = \"/nonexistent/rebound/psk\"",
        "psk[0].secret_file",
        "cannot read /nonexistent/rebound/psk",
    ),
];

#[test]
fn every_bad_setting_names_its_key() {
    let mut keys = Vec::new();
    for &(text, key, problem) in BAD {
        let e = err(text);
        assert_eq!(e.key, key, "{text}\n=> {e}");
        assert!(
            e.problem.contains(problem),
            "{text}\n=> {e}\nwant {problem:?}"
        );
        assert_eq!(e.to_string(), format!("{key}: {}", e.problem));
        keys.push(key);
    }
    keys.sort_unstable();
    keys.dedup();
    assert!(keys.len() >= 12, "{} distinct keys", keys.len());
}

#[test]
fn a_bad_hex_secret_is_not_echoed() {
    let e = err("[[psk]]\nid = \"fqdn:a.example\"\nsecret_hex = \"secretXYZsecretXYZ\"");
    assert_eq!(e.key, "psk[0].secret_hex");
    assert!(!e.to_string().contains("secretXYZ"), "{e}");
}

#[test]
fn settings_and_arguments_never_print_a_psk() {
    let secret = "a-secret-that-must-not-print";
    let hex_secret = "c7c7c7c7c7c7c7c7c7c7c7c7c7c7c7c7";
    let s = parse_config(
        &format!(
            "[[psk]]\nid = \"fqdn:a.example\"\nsecret = \"{secret}\"\n\
             [[psk]]\nid = \"fqdn:b.example\"\nsecret_hex = \"{hex_secret}\"\n"
        ),
        Path::new("/"),
    )
    .unwrap();
    assert_eq!(s.psks.len(), 2);
    for shown in [format!("{s:?}"), format!("{s:#?}")] {
        assert!(
            shown.contains("fqdn:a.example") || shown.contains("a.example"),
            "{shown}"
        );
        for needle in [secret, "c7c7", "199, 199"] {
            assert!(!shown.contains(needle), "{needle} in {shown}");
        }
    }
    // A too-short PSK's error says how long, never what.
    let e = err("[[psk]]\nid = \"fqdn:a.example\"\nsecret = \"shortsecret\"");
    assert!(!e.to_string().contains("shortsecret"), "{e}");
}

#[test]
fn gateway_user_comes_from_the_file_or_the_flag() {
    let s = parse_config("[gateway]\nuser = \"rebound\"\n", Path::new("/")).unwrap();
    assert_eq!(s.user.as_deref(), Some("rebound"));
    assert_eq!(
        args(&["--user", "nobody"])
            .settings()
            .unwrap()
            .user
            .as_deref(),
        Some("nobody")
    );
    for bad in ["", " rebound", "a:b", "a/b"] {
        let e = err(&format!("[gateway]\nuser = {bad:?}\n"));
        assert_eq!(e.key, "gateway.user", "{e}");
    }
}

#[test]
fn unknown_keys_and_tables_are_rejected_with_their_line() {
    let e = err("[gateway]\nworkers = 2\nwrkers = 2\n");
    assert_eq!(e.key, "line 3, column 1", "{e}");
    assert!(e.problem.contains("unknown field `wrkers`"), "{e}");
    assert!(e.problem.contains("`workers`"), "expected keys listed: {e}");

    let e = err("[gateways]\nworkers = 2\n");
    assert!(e.problem.contains("unknown field `gateways`"), "{e}");

    let e =
        err("[[psk]]\nid = \"fqdn:a.example\"\nsecret = \"0123456789abcdef\"\ntickts = false\n");
    assert_eq!(e.key, "line 4, column 1", "{e}");
    assert!(e.problem.contains("unknown field `tickts`"), "{e}");

    let e = err("[tickets]\nkind = \"sometimes\"\n");
    assert_eq!(e.key, "line 2, column 8", "{e}");
    assert!(e.problem.contains("unknown variant `sometimes`"), "{e}");
    assert!(e.problem.contains("by-reference"), "{e}");
}

#[test]
fn syntax_and_type_errors_give_line_and_column() {
    let e = err("[gateway]\nworkers = \n");
    assert!(e.key.starts_with("line 2, column "), "{e}");
    let e = err("[gateway]\nworkers = \"two\"\n");
    assert_eq!(e.key, "line 2, column 11", "{e}");
    let e = err("[gateway]\nworkers = -1\n");
    assert_eq!(e.key, "line 2, column 11", "{e}");
}

#[test]
fn errors_from_a_file_name_the_file() {
    let dir = TempDir::new("file");
    let path = dir.write("gateway.toml", "[gateway]\nworkers = 0\n");
    let e = load_config(&path).unwrap_err();
    assert_eq!(e.file.as_deref(), Some(path.as_path()));
    assert_eq!(
        e.to_string(),
        format!(
            "{}: gateway.workers: 0 is out of range 1..=255",
            path.display()
        )
    );
    let e = load_config(&dir.0.join("missing.toml")).unwrap_err();
    assert!(e.to_string().contains("missing.toml: cannot read"), "{e}");
    let path = dir.write("syntax.toml", "[gateway\n");
    let e = load_config(&path).unwrap_err();
    assert!(
        e.to_string()
            .starts_with(&format!("{}: line 1, column ", path.display())),
        "{e}"
    );
}

#[test]
fn relative_paths_resolve_against_the_files_directory() {
    let dir = TempDir::new("relative");
    fs::create_dir_all(dir.0.join("psk")).unwrap();
    dir.write_private("psk/peer.key", "a-key-from-a-file-0123\n");
    let path = dir.write(
        "gateway.toml",
        "[tickets]\nkey_file = \"keys/ticket.keys\"\n\
         [handoff]\nunix = [\"run/h.sock\", \"/abs/h.sock\"]\nkeylog = \"k.jsonl\"\n\
         keylog_wireshark = \"../ws\"\n\
         [[psk]]\nid = \"keyid:0a0b\"\nsecret_file = \"psk/peer.key\"\n",
    );
    let s = load_config(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.key_file, Some(dir.0.join("keys/ticket.keys")));
    assert_eq!(
        s.handoff,
        vec![
            HandoffTarget::Unix(dir.0.join("run/h.sock")),
            HandoffTarget::Unix("/abs/h.sock".into())
        ]
    );
    assert_eq!(s.keylog, Some(dir.0.join("k.jsonl")));
    assert_eq!(s.keylog_wireshark, Some(dir.0.join("../ws")));
    // One trailing newline is not part of the key.
    assert_eq!(s.psks[0].secret.as_bytes(), b"a-key-from-a-file-0123");
    assert_eq!(s.psks[0].id, id("keyid:0A0B"));

    // parse_config takes the base directory explicitly.
    let s = parse_config("[tickets]\nkey_file = \"t.keys\"", Path::new("/srv/rb")).unwrap();
    assert_eq!(s.key_file, Some(PathBuf::from("/srv/rb/t.keys")));
}

#[test]
fn flags_override_the_file() {
    let dir = TempDir::new("flags");
    let path = dir.write(
        "gateway.toml",
        "[gateway]\nlisten = [\"0.0.0.0:500\"]\nworkers = 2\ncores = [0, 1]\n\
         idle_sleep_us = 50\nmetrics = \"127.0.0.1:9464\"\n\
         [tickets]\nkey_file = \"file.keys\"\nkind = \"by-value\"\n\
         [handoff]\nunix = [\"file.sock\"]\n\
         [guard]\nstate_file = \"file.state\"\nsave_interval_secs = 30\n",
    );
    let config = path.to_str().unwrap();
    // The file's state path is taken from its directory.
    let from_file = args(&["--config", config]).settings().unwrap();
    assert_eq!(
        from_file.guard_state.state_file,
        Some(dir.0.join("file.state"))
    );
    let a = args(&[
        "--config",
        config,
        "--listen",
        "127.0.0.1:0,[::1]:0",
        "--listen-natt",
        "127.0.0.1:4500",
        "--workers",
        "4",
        "--cores",
        "0-2,5",
        "--key-file",
        "/flag/t.keys",
        "--handoff",
        "unix:/flag/a.sock",
        "--handoff",
        "unix:/flag/b.sock",
        "--keylog",
        "/flag/k.jsonl",
        "--keylog-wireshark",
        "/flag/ws",
        "--metrics",
        "127.0.0.1:0",
        "--idle-sleep-us",
        "0",
        "--tickets",
        "off",
        "--guard-state",
        "/flag/guard.state",
    ]);
    let s = a.settings().unwrap_or_else(|e| panic!("{e}"));
    // Port 0 from a flag is fine (tests let the kernel pick).
    assert_eq!(
        s.listen,
        vec![
            "127.0.0.1:0".parse::<SocketAddr>().unwrap(),
            "[::1]:0".parse().unwrap()
        ]
    );
    assert_eq!(
        s.listen_natt,
        vec!["127.0.0.1:4500".parse::<SocketAddr>().unwrap()]
    );
    assert_eq!(s.workers, 4);
    assert_eq!(s.cores, vec![0, 1, 2, 5]);
    assert_eq!(s.key_file, Some(PathBuf::from("/flag/t.keys")));
    assert_eq!(
        s.handoff,
        vec![
            HandoffTarget::Unix("/flag/a.sock".into()),
            HandoffTarget::Unix("/flag/b.sock".into())
        ]
    );
    assert_eq!(s.keylog, Some(PathBuf::from("/flag/k.jsonl")));
    assert_eq!(s.keylog_wireshark, Some(PathBuf::from("/flag/ws")));
    assert_eq!(s.metrics, Some("127.0.0.1:0".parse().unwrap()));
    assert_eq!(
        s.guard_state.state_file,
        Some(PathBuf::from("/flag/guard.state"))
    );
    // The interval stays the file's.
    assert_eq!(s.guard_state.save_interval_secs, 30);
    assert_eq!(s.idle_sleep_us, 0);
    assert_eq!(s.responder.tickets.kind, None);

    // Without flags the file's values stand.
    let s = args(&["--config", config]).settings().unwrap();
    assert_eq!(s.workers, 2);
    assert_eq!(s.key_file, Some(dir.0.join("file.keys")));
    assert_eq!(s.responder.tickets.kind, Some(TicketKind::ByValue));

    // Validation runs after merging: --workers 3 against the file's two
    // cores names the cores key (in the file), --workers 0 the flag.
    let e = args(&["--config", config, "--workers", "3"])
        .settings()
        .unwrap_err();
    assert_eq!(e.key, "gateway.cores");
    assert_eq!(e.file.as_deref(), Some(path.as_path()));
    assert!(e.problem.contains("gateway.workers = 3"), "{e}");
    let e = args(&["--config", config, "--workers", "0", "--cores", "0"])
        .settings()
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "--workers (gateway.workers): 0 is out of range 1..=255"
    );
    assert_eq!(e.file, None);

    // No file: the file defaults, then the flags.
    let s = args(&["--workers", "2"]).settings().unwrap();
    assert_eq!(s.listen, defaults_for_file().listen);
    assert_eq!(s.workers, 2);
}

#[test]
fn bad_flags_are_refused_by_the_parser() {
    let parse = |argv: &[&str]| {
        Cli::try_parse_from(std::iter::once("rebound").chain(argv.iter().copied())).map(|_| ())
    };
    assert!(parse(&["--handoff", "/no/prefix.sock"]).is_err());
    assert!(parse(&["--tickets", "sometimes"]).is_err());
    assert!(parse(&["--cores", "3-1"]).is_err());
    assert!(parse(&["--listen", "localhost"]).is_err());
    assert!(parse(&["--tickets", "by-reference"]).is_ok());
    assert_eq!(
        args(&["--tickets", "by-reference"]).tickets,
        Some(TicketsMode::ByReference)
    );
}

#[test]
fn sighup_rereads_the_key_file_path_and_the_psks_only() {
    let dir = TempDir::new("reload");
    let path = dir.write_private(
        "gateway.toml",
        &format!(
            "[tickets]\nkey_file = \"a.keys\"\n[[psk]]\nid = \"fqdn:a.example\"\nsecret = \"{PSK}\"\n"
        ),
    );
    let (key_file, psks) = reload_secrets(&path).unwrap();
    assert_eq!(key_file, Some(dir.0.join("a.keys")));
    assert_eq!(psks.len(), 1);

    // The operator edits the PSKs, the key file and (needing a restart) the
    // workers: the reload takes the first two and ignores the third.
    dir.write_private(
        "gateway.toml",
        &format!(
            "[gateway]\nworkers = 0\n[tickets]\nkey_file = \"b.keys\"\n\
             [[psk]]\nid = \"fqdn:a.example\"\nsecret = \"{PSK}\"\n\
             [[psk]]\nid = \"email:b@example.net\"\nsecret = \"{PSK}\"\ntickets = false\n"
        ),
    );
    let (key_file, psks) = reload_secrets(&path).unwrap();
    assert_eq!(key_file, Some(dir.0.join("b.keys")));
    assert_eq!(psks.len(), 2);
    assert_eq!(psks[1].id, id("email:b@example.net"));
    assert!(!psks[1].tickets);

    // --key-file still wins over the file.
    let config = path.to_str().unwrap();
    let (key_file, _) = args(&["--config", config, "--key-file", "/flag.keys"])
        .reload_secrets()
        .unwrap();
    assert_eq!(key_file, Some(PathBuf::from("/flag.keys")));

    // A bad PSK fails the reload with its key named.
    dir.write_private(
        "gateway.toml",
        "[[psk]]\nid = \"fqdn:a.example\"\nsecret = \"short\"\n",
    );
    let e = reload_secrets(&path).unwrap_err();
    assert_eq!(e.key, "psk[0].secret");
    assert_eq!(e.file.as_deref(), Some(path.as_path()));
}

#[test]
fn identities_round_trip() {
    for s in [
        "fqdn:vpn.example.net",
        "email:alice@example.net",
        "ipv4:192.0.2.7",
        "ipv6:2001:db8::7",
        "keyid:0a1b2c",
    ] {
        assert_eq!(format_identity(&id(s)), s);
    }
    assert_eq!(id("ipv6:2001:db8::7").data().len(), 16);
    assert_eq!(id("keyid:0a1b2c").data(), &[0x0a, 0x1b, 0x2c]);
    assert!(parse_identity("fqdn:").is_err());
    assert!(parse_identity("email:no-at-sign").is_err());
    assert!(parse_identity("keyid:xyz").is_err());
}

#[test]
fn traffic_selectors_parse_and_format() {
    for s in [
        "0.0.0.0/0",
        "::/0",
        "10.1.0.0/16 tcp 443",
        "10.0.0.0-10.0.0.2",
        "10.0.0.7/32 udp 1000-2000",
        "2001:db8::/32 47",
        "fd00::1/128 icmpv6",
    ] {
        assert_eq!(format_ts(&parse_ts(s).unwrap()), s);
    }
    let t = parse_ts("10.0.0.7").unwrap();
    assert_eq!((t.start, t.end, t.ip_proto), (t.start, t.start, 0));
    assert_eq!((t.start_port, t.end_port), (0, 65535));
    assert_eq!(parse_ts("10.0.0.0/8 TCP").unwrap().ip_proto, 6);
    assert!(parse_ts("10.0.0.0/8 tcp 443 extra").is_err());
    assert!(parse_ts("10.0.0.0/8 tcp 70000").is_err());
    assert!(parse_ts("10.0.0.0/8 tcp 444-443").is_err());
    assert!(parse_ts("").is_err());
}

#[test]
fn core_lists() {
    let c = |s: &str| s.parse::<CoreList>().map(|c| c.0);
    assert_eq!(c("0,1").unwrap(), vec![0, 1]);
    assert_eq!(c("0-3").unwrap(), vec![0, 1, 2, 3]);
    assert_eq!(c("0-1, 4").unwrap(), vec![0, 1, 4]);
    assert!(c("").is_err());
    assert!(c("a").is_err());
    assert!(c("0-99999999").is_err());
}

#[test]
fn pools_by_range_are_taken_as_written() {
    let s = parse("[pool]\nv4 = \"10.8.0.10-10.8.0.19\"\nv6 = \"fd00::/127\"").unwrap();
    let p = s.pool.unwrap();
    assert_eq!(p.v4, Some((Ipv4Addr::new(10, 8, 0, 10), 10)));
    // A /127 has two addresses; both are kept.
    assert_eq!(p.v6, Some(("fd00::".parse().unwrap(), 2)));
    let s = parse("[pool]\nv4 = \"10.8.0.0/24\"").unwrap();
    assert_eq!(s.pool.unwrap().v4, Some((Ipv4Addr::new(10, 8, 0, 1), 254)));
}
