//! Pre-shared key files through the real `rebound gateway` (issue 16, item
//! 4): a PSK file, or a configuration that holds PSKs itself, that group or
//! others may read stops the gateway at start (exit 2, the file, its mode
//! and `chmod 600` named, nothing bound, the key never printed) and is
//! refused at SIGHUP with the PSKs in use kept. (The ticket key file's same
//! rule is tested in key_reload.rs and keys_cli.rs.)

mod common;
use common::client::{client_socket, fqdn, full_exchange};
use common::{GatewayProcess, TempDir, signal};
use rebound_engine::client::{FullConfig, FullEvent};
use rebound_engine::crypto::SecretBuf;
use std::io::BufRead;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_rebound");
const PSK: &str = "a-psk-nobody-may-see-0123456789";

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// `rebound gateway --config gateway.toml` on loopback ports in `dir`,
/// expected to stop at start: its standard error.
fn refused_start(dir: &Path) -> String {
    let out = Command::new(BIN)
        .args([
            "gateway",
            "--config",
            "gateway.toml",
            "--listen",
            "127.0.0.1:0",
            "--listen-natt",
            "127.0.0.1:0",
        ])
        .current_dir(dir)
        .output()
        .expect("run rebound");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(out.stdout.is_empty(), "nothing may listen: {err}");
    assert!(!err.contains(PSK), "the key printed: {err}");
    err
}

/// A full exchange with the PSK succeeds through the gateway at `gw`.
fn authenticates(gw: std::net::SocketAddr) {
    let config = Arc::new(FullConfig::new(
        fqdn("peer.example.net"),
        SecretBuf::from_slice(PSK.as_bytes()).unwrap(),
    ));
    let event = full_exchange(&client_socket(), gw, &config);
    assert!(matches!(event, FullEvent::Established { .. }), "{event:?}");
}

#[test]
fn a_config_holding_psks_that_others_may_read_stops_the_gateway() {
    let dir = TempDir::new("secret-inline");
    let d = &dir.0;
    dir.write(
        "gateway.toml",
        &format!("[[psk]]\nid = \"fqdn:peer.example.net\"\nsecret = \"{PSK}\"\n"),
    );
    for mode in [0o644, 0o640, 0o604] {
        chmod(&d.join("gateway.toml"), mode);
        let err = refused_start(d);
        let want = format!(
            "gateway.toml: mode {mode:04o} lets group or others read the pre-shared keys it holds"
        );
        assert!(err.contains(&want), "{err}");
        assert!(err.contains("Fix: chmod 600 gateway.toml"), "{err}");
    }
    // Without PSKs in it, the same open mode is fine: it holds no secret.
    dir.write("plain.toml", "[gateway]\nworkers = 1\n");
    chmod(&d.join("plain.toml"), 0o644);
    let gw = GatewayProcess::start(d, &["--config", "plain.toml"]);
    gw.stop();
}

#[test]
fn a_psk_file_that_others_may_read_is_refused_at_start_and_at_sighup() {
    let dir = TempDir::new("secret-file");
    let d = &dir.0;
    let key = d.join("peer.psk");
    std::fs::write(&key, format!("{PSK}\n")).unwrap();
    // The configuration names the file; it holds no key itself, so its
    // own mode does not matter.
    dir.write(
        "gateway.toml",
        "[[psk]]\nid = \"fqdn:peer.example.net\"\nsecret_file = \"peer.psk\"\n",
    );
    chmod(&d.join("gateway.toml"), 0o644);
    for mode in [0o644, 0o640, 0o660, 0o604] {
        chmod(&key, mode);
        let err = refused_start(d);
        assert!(err.contains("psk[0].secret_file"), "{err}");
        let want = format!(
            "{}: mode {mode:04o} lets group or others read the pre-shared key",
            key.display()
        );
        assert!(err.contains(&want), "{err}");
        assert!(
            err.contains(&format!("Fix: chmod 600 {}", key.display())),
            "{err}"
        );
    }

    // Owner-only: the gateway starts and the key authenticates.
    chmod(&key, 0o600);
    let mut gw = GatewayProcess::start(d, &["--config", "gateway.toml"]);
    authenticates(gw.ike);

    // Opened up while running: SIGHUP refuses it, says why, and the key in
    // use still authenticates.
    chmod(&key, 0o644);
    signal(gw.process.0.id(), "HUP");
    let deadline = Instant::now() + Duration::from_secs(10);
    let line = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match gw.log.recv_timeout(left) {
            Ok(l) if l.contains("reload failed") => break l,
            Ok(_) => {}
            Err(_) => panic!("no `reload failed` log line"),
        }
    };
    assert!(line.contains("mode 0644"), "{line}");
    assert!(line.contains("chmod 600"), "{line}");
    assert!(!line.contains(PSK), "{line}");
    authenticates(gw.ike);

    // Closed again: the reload is taken.
    chmod(&key, 0o600);
    signal(gw.process.0.id(), "HUP");
    let mut out = String::new();
    gw.stdout.read_line(&mut out).unwrap();
    assert!(out.starts_with("reloaded generation "), "{out}");
    authenticates(gw.ike);
    gw.stop();
}
