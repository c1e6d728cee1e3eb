//! Shared by the tests: scratch directories, a hand-off daemon and a
//! client ([`client`]). (The tests of the `rebound`
//! binary, in cli/tests, include this file too.)

// Each test binary uses a part of this module.
#![allow(dead_code)]

pub mod client;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{SystemTime, UNIX_EPOCH};

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir =
            std::env::temp_dir().join(format!("rebound-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    /// The path of `name` in the directory.
    pub fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// Write `contents` to `name` in the directory; its path.
    pub fn write(&self, name: &str, contents: &str) -> PathBuf {
        let p = self.file(name);
        std::fs::write(&p, contents).unwrap();
        p
    }

    /// As [`TempDir::write`], with mode 0600: what a file holding secrets
    /// (PSKs) needs, or the gateway refuses it.
    pub fn write_private(&self, name: &str, contents: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let p = self.write(name, contents);
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// and forwards the lines to the test.
pub fn handoff_daemon(path: &Path) -> mpsc::Receiver<String> {
    let listener = UnixListener::bind(path).expect("hand-off socket");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { return };
            let tx = tx.clone();
            std::thread::spawn(move || {
                let Ok(mut acks) = conn.try_clone() else {
                    return;
                };
                for line in BufReader::new(conn).lines() {
                    let Ok(line) = line else { return };
                    // Acknowledge the line by its sequence number.
                    let v: serde_json::Value = serde_json::from_str(&line).expect("JSON line");
                    let seq = v["seq"].as_u64().expect("seq");
                    if acks.write_all(format!("{seq}\n").as_bytes()).is_err() {
                        return;
                    }
                    if tx.send(line).is_err() {
                        return;
                    }
                }
            });
        }
    });
    rx
}
