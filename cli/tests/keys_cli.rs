//! `rebound keys` end to end: the real binary in a temporary directory, and
//! the `KeyFileWatcher` a gateway uses to reload the file.

use std::fs::{self, File, FileTimes};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, SystemTime};

use rebound_engine::ticket::keyring::{KeyRingCell, KeyRingReader};

use rebound_dataplane::keys::{self as keyfile, KeyFileWatcher};

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
fn watcher_reloads_changes_and_keeps_the_old_ring_on_bad_files() {
    let dir = TempDir::new("watch");
    let path = dir.file("ticket.keys");
    assert_eq!(keys("generate", &path, &[]).0, 0);

    let (mut watcher, ring1) = KeyFileWatcher::load(&path).unwrap();
    assert_eq!(ring1.len(), 1);
    let id1 = *ring1.keys()[0].id();
    let cell = Arc::new(KeyRingCell::new(ring1));
    let mut reader = KeyRingReader::new(Arc::clone(&cell));
    assert_eq!(watcher.poll().unwrap().map(|r| r.len()), None, "unchanged");

    // A rotation (a new inode by rename) is picked up.
    next_second();
    assert_eq!(keys("rotate", &path, &[]).0, 0);
    let ring2 = watcher.poll().unwrap().expect("rotated file reloaded");
    assert_eq!(ring2.len(), 2);
    cell.publish(ring2);
    assert_eq!(reader.current().len(), 2);
    assert!(watcher.poll().unwrap().is_none());

    // An in-place rewrite of the same size, with the mtime set explicitly,
    // is picked up too (the issue window of the first key ends 1 s later).
    let text = fs::read_to_string(&path).unwrap();
    let until = text
        .split_whitespace()
        .find_map(|w| w.strip_prefix("issue_until="))
        .unwrap()
        .to_owned();
    let later = (until.parse::<u64>().unwrap() + 1).to_string();
    assert_eq!(later.len(), until.len());
    let edited = text.replacen(
        &format!("issue_until={until}"),
        &format!("issue_until={later}"),
        1,
    );
    fs::write(&path, &edited).unwrap();
    File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_times(FileTimes::new().set_modified(SystemTime::now() + Duration::from_secs(3600)))
        .unwrap();
    let ring3 = watcher.poll().unwrap().expect("in-place edit reloaded");
    assert_eq!(ring3.get(&id1).unwrap().issue_until().to_string(), later);
    cell.publish(ring3);

    // A corrupted file: reported once, the ring in use stays.
    fs::write(&path, "rebound-ticket-keys v1\nid=zz\n").unwrap();
    let err = watcher.poll().unwrap_err();
    assert!(err.contains("line 2"), "{err}");
    assert!(err.contains("keeping the previous key ring"), "{err}");
    assert!(watcher.poll().unwrap().is_none(), "reported once");
    let current = reader.current();
    assert_eq!(current.len(), 2);
    assert!(current.get(&id1).is_some());

    // A file whose keys have all expired does not replace it either.
    fs::write(
        &path,
        format!(
            "rebound-ticket-keys v1\nid=00000000000000aa secret={} issue_from=1 issue_until=2 accept_until=3\n",
            "ab".repeat(32)
        ),
    )
    .unwrap();
    let err = watcher.poll().unwrap_err();
    assert!(err.contains("expired"), "{err}");

    // Fixed again: reloaded.
    fs::write(&path, &edited).unwrap();
    assert_eq!(watcher.poll().unwrap().map(|r| r.len()), Some(2));

    // Made world-readable: refused (chmod moves the change time), and the
    // fix is picked up.
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    let err = watcher.poll().unwrap_err();
    assert!(err.contains("chmod 600"), "{err}");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(watcher.poll().unwrap().map(|r| r.len()), Some(2));

    // Removed: reported once, then quiet until it comes back.
    fs::rename(&path, dir.file("aside")).unwrap();
    assert!(watcher.poll().is_err());
    assert!(watcher.poll().unwrap().is_none());
    fs::rename(dir.file("aside"), &path).unwrap();
    assert_eq!(watcher.poll().unwrap().map(|r| r.len()), Some(2));
    assert_eq!(watcher.path(), path.as_path());
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
