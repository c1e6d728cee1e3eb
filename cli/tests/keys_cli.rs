//! `rebound keys` end to end: the real binary in a temporary directory.
//! How a running gateway reloads the file (SIGHUP) is `key_reload.rs`.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::thread;
use std::time::Duration;

use rebound_dataplane::keys as keyfile;

mod common;
use common::{TempDir, rebound};

fn keys(cmd: &str, path: &Path, extra: &[&str]) -> (i32, String, String) {
    let p = path.to_str().unwrap();
    let mut args = vec!["keys", cmd, "--file", p];
    args.extend_from_slice(extra);
    rebound(&args)
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

/// The secrets in a key file, as hex.
fn secrets(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .unwrap()
        .split_whitespace()
        .filter_map(|w| w.strip_prefix("secret="))
        .map(str::to_owned)
        .collect()
}

/// (issuing, accepting) rows in `keys list` output.
fn states(list: &str) -> (usize, usize) {
    let count = |s: &str| {
        list.lines()
            .filter(|l| l.split_whitespace().nth(1) == Some(s))
            .count()
    };
    (count("issuing"), count("accepting"))
}

/// Rotation refuses to end a key in the second it started issuing.
fn next_second() {
    thread::sleep(Duration::from_millis(1100));
}

#[test]
fn generate_list_rotate_and_refusals() {
    let dir = TempDir::new("cli");
    let path = dir.file("ticket.keys");

    let (code, out, err) = keys("generate", &path, &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("issues"), "{out}");
    assert_eq!(mode(&path), 0o600);
    let first_secret = secrets(&path);
    assert_eq!(first_secret.len(), 1);
    assert_eq!(first_secret[0].len(), 64);

    let (code, list, err) = keys("list", &path, &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(states(&list), (1, 0), "{list}");
    assert!(list.contains("1 key(s)"), "{list}");
    assert!(!list.contains(&first_secret[0]), "{list}");
    assert!(!list.contains(&first_secret[0][..16]), "{list}");
    assert!(list.contains('Z'), "UTC timestamps: {list}");

    // No overwrite without --force, and the file is untouched.
    let (code, _, err) = keys("generate", &path, &[]);
    assert_ne!(code, 0);
    assert!(
        err.contains("already exists") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(secrets(&path), first_secret);

    next_second();
    let (code, out, err) = keys("rotate", &path, &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(mode(&path), 0o600);
    let (code, list, err) = keys("list", &path, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(list.contains("2 key(s)"), "{list}");
    assert_eq!(states(&list), (1, 1), "{list}");
    let both = secrets(&path);
    assert_eq!(both.len(), 2);
    assert_eq!(both[0], first_secret[0], "the old key is kept as it was");
    for s in &both {
        assert!(!list.contains(s.as_str()), "{list}");
    }
    // No temporary files left behind.
    let names: Vec<_> = fs::read_dir(&dir.0)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");

    // A group- or world-readable file is refused, with the fix.
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    let (code, out, err) = keys("list", &path, &[]);
    assert_ne!(code, 0, "{out}");
    assert!(out.is_empty(), "{out}");
    let p = path.display().to_string();
    assert!(err.contains(&p), "{err}");
    assert!(err.contains("0644"), "{err}");
    assert!(err.contains(&format!("chmod 600 {p}")), "{err}");
    let (code, _, err) = keys("rotate", &path, &[]);
    assert_ne!(code, 0);
    assert!(err.contains("chmod 600"), "{err}");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
    assert_ne!(keys("list", &path, &[]).0, 0);

    // --force replaces the file with one new key.
    let (code, _, err) = keys("generate", &path, &["--force", "--rotate-every", "60"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(mode(&path), 0o600);
    let fresh = secrets(&path);
    assert_eq!(fresh.len(), 1);
    assert!(!both.contains(&fresh[0]));
}

#[test]
fn bad_key_files_fail_with_the_line() {
    let dir = TempDir::new("bad");
    let path = dir.file("k");
    fs::write(
        &path,
        "rebound-ticket-keys v1\nid=0011 secret=00 issue_from=1 issue_until=2 accept_until=3\n",
    )
    .unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    let (code, _, err) = keys("list", &path, &[]);
    assert_ne!(code, 0);
    assert!(err.contains("line 2: `id` must be 16 hex digits"), "{err}");
    let (code, _, err) = keys("list", &dir.file("missing"), &[]);
    assert_ne!(code, 0);
    assert!(err.contains("cannot open the key file"), "{err}");
    let (code, _, err) = keys("generate", &path, &["--rotate-every", "0", "--force"]);
    assert_ne!(code, 0);
    assert!(err.contains("at least 1 second"), "{err}");
}

#[test]
fn utc_formatting() {
    assert_eq!(keyfile::utc(0), "1970-01-01T00:00:00Z");
    assert_eq!(keyfile::utc(951_782_400), "2000-02-29T00:00:00Z");
    assert_eq!(keyfile::utc(1_700_000_000), "2023-11-14T22:13:20Z");
    assert_eq!(keyfile::utc(4_107_542_399), "2100-02-28T23:59:59Z");
    assert_eq!(keyfile::utc(4_107_542_400), "2100-03-01T00:00:00Z");
    assert_eq!(keyfile::utc(253_402_300_799), "9999-12-31T23:59:59Z");
    // The end of time (a saturated accept_until) still prints.
    assert!(keyfile::utc(u64::MAX).ends_with('Z'));
}
