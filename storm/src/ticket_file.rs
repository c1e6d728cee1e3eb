//! `--save-tickets FILE` and `--load-tickets FILE`: the clients'
//! resumption state between two storms (phase 1 in one, the reconnect in
//! another, perhaps against another gateway). It holds every client's
//! SK_d, so it is written owner-only (mode 0600, by rename from a fresh
//! file) and refused when group or others may read it, like the
//! gateway's key and PSK files.
//!
//! The format, version 1, text, one line each:
//!
//! ```text
//! rebound-storm-tickets 1
//! count N
//! EXPIRES OPAQUE STATE          (N lines, one per client, in client order)
//! end
//! ```
//!
//! `EXPIRES` is the ticket's absolute expiry (Unix seconds, decimal);
//! `OPAQUE` the ticket as the gateway gave it (N(TICKET_OPAQUE) data) and
//! `STATE` the client's side of the SA ([`TicketState::encode`]: IDi, IDr,
//! suite, SK_d, the old SPIs, the internal address, the times), both in
//! lowercase hex. The ticket id is not written: a client never learns it.
//! The count and the `end` line tell a truncated file from a short one.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rebound_engine::client::ClientTicket;
use rebound_engine::ticket::TicketId;
use rebound_engine::ticket::format::MAX_VALUE_TICKET_LEN;
use rebound_engine::ticket::state::{MAX_ENCODED_STATE, TicketState};
use zeroize::Zeroizing;

/// The first line's word.
pub const MAGIC: &str = "rebound-storm-tickets";
/// The format written, and the only one read.
pub const VERSION: u32 = 1;
/// The longest line: expiry, both hex fields, separators.
const MAX_LINE: usize = 20 + 2 * MAX_VALUE_TICKET_LEN + 2 * MAX_ENCODED_STATE + 3;
/// Lines are gathered into a buffer of this size before each write.
const CHUNK: usize = 64 << 10;

/// Why a tickets file could not be written or read: the path and what is
/// wrong with it (never a secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketFileError(pub String);

impl std::fmt::Display for TicketFileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn err(path: &Path, what: impl std::fmt::Display) -> TicketFileError {
    TicketFileError(format!("tickets file {}: {what}", path.display()))
}

/// Writes `tickets` to `path`: a new file beside it (mode 0600, created
/// exclusively), synced, then renamed over `path`, so a reader never sees
/// half a file and the mode is 0600 whatever was there before.
pub fn save(path: &Path, tickets: &[ClientTicket]) -> Result<(), TicketFileError> {
    let tmp = temp_path(path);
    let r = write_new(&tmp, path, tickets)
        .and_then(|()| std::fs::rename(&tmp, path).map_err(|e| err(path, e)));
    if r.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    r
}

fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp-{}", std::process::id()));
    path.with_file_name(name)
}

fn write_new(tmp: &Path, path: &Path, tickets: &[ClientTicket]) -> Result<(), TicketFileError> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(tmp)
        .map_err(|e| err(path, format!("cannot create {}: {e}", tmp.display())))?;
    // The umask cannot widen 0600, but a narrower one would leave the
    // owner unable to read it back.
    f.set_permissions(std::fs::Permissions::from_mode(0o600))
        .map_err(|e| err(path, e))?;
    // Lines hold SK_d: they are built in one buffer that never grows (it
    // is flushed before a line could overflow it) and is wiped on drop.
    let mut buf = Zeroizing::new(Vec::with_capacity(CHUNK + MAX_LINE));
    let mut hex = Zeroizing::new(vec![0u8; 2 * MAX_VALUE_TICKET_LEN.max(MAX_ENCODED_STATE)]);
    let mut state = Zeroizing::new(vec![0u8; MAX_ENCODED_STATE]);
    buf.extend_from_slice(format!("{MAGIC} {VERSION}\ncount {}\n", tickets.len()).as_bytes());
    for (i, t) in tickets.iter().enumerate() {
        let n = t
            .state
            .encode(&mut state)
            .map_err(|e| err(path, format!("ticket {i}: {e}")))?;
        if t.opaque.len() > MAX_VALUE_TICKET_LEN {
            return Err(err(
                path,
                format!(
                    "ticket {i}: {} bytes is longer than any ticket",
                    t.opaque.len()
                ),
            ));
        }
        buf.extend_from_slice(t.expires_at.to_string().as_bytes());
        for bytes in [&t.opaque[..], &state[..n]] {
            let h = &mut hex[..2 * bytes.len()];
            hex_encode(bytes, h);
            buf.push(b' ');
            buf.extend_from_slice(h);
        }
        buf.push(b'\n');
        if buf.len() >= CHUNK {
            f.write_all(&buf).map_err(|e| err(path, e))?;
            buf.clear();
        }
    }
    buf.extend_from_slice(b"end\n");
    f.write_all(&buf).map_err(|e| err(path, e))?;
    f.sync_all().map_err(|e| err(path, e))
}

fn hex_encode(bytes: &[u8], out: &mut [u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (b, o) in bytes.iter().zip(out.chunks_exact_mut(2)) {
        o[0] = DIGITS[usize::from(b >> 4)];
        o[1] = DIGITS[usize::from(b & 15)];
    }
}

fn hex_decode(hex: &[u8], out: &mut Vec<u8>) -> Result<(), &'static str> {
    if !hex.len().is_multiple_of(2) {
        return Err("an odd number of hex digits");
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        b'A'..=b'F' => Ok(c - b'A' + 10),
        _ => Err("not a hex digit"),
    };
    out.clear();
    for pair in hex.chunks_exact(2) {
        out.push(digit(pair[0])? << 4 | digit(pair[1])?);
    }
    Ok(())
}

/// Reads the tickets in `path`, in order. Refuses a file that is not a
/// regular file, that group or others may read, of another format or
/// version, truncated (fewer tickets than its count, no `end`), or with a
/// line that does not parse (named by its number).
pub fn load(path: &Path) -> Result<Vec<ClientTicket>, TicketFileError> {
    let mut f = File::open(path).map_err(|e| {
        if e.kind() == ErrorKind::NotFound {
            err(path, "no such file (write one with --save-tickets)")
        } else {
            err(path, format!("cannot open: {e}"))
        }
    })?;
    let meta = f.metadata().map_err(|e| err(path, e))?;
    if !meta.is_file() {
        return Err(err(path, "not a regular file"));
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(err(
            path,
            format!(
                "mode {mode:04o} lets group or others read the tickets' keys; refusing to use \
                 it. Fix: chmod 600 {}",
                path.display()
            ),
        ));
    }
    // The whole file in one buffer sized from its length, wiped on drop.
    let len = usize::try_from(meta.len()).map_err(|_| err(path, "too large"))?;
    let mut bytes = Zeroizing::new(Vec::with_capacity(len));
    f.read_to_end(&mut bytes)
        .map_err(|e| err(path, format!("cannot read: {e}")))?;
    parse(&bytes).map_err(|m| err(path, m))
}

/// The tickets in a file's bytes.
fn parse(bytes: &[u8]) -> Result<Vec<ClientTicket>, String> {
    let mut lines = bytes.split_inclusive(|&b| b == b'\n').enumerate();
    let mut line = |want: &str| -> Result<(usize, &[u8]), String> {
        match lines.next() {
            Some((i, l)) => match l.strip_suffix(b"\n") {
                Some(l) => Ok((i + 1, l)),
                None => Err(format!("truncated: line {} ends without a newline", i + 1)),
            },
            None => Err(format!("truncated: it ends before {want}")),
        }
    };
    let (_, first) = line("its first line")?;
    let first = std::str::from_utf8(first).unwrap_or("");
    let Some(version) = first.strip_prefix(MAGIC).map(str::trim) else {
        return Err(format!(
            "not a tickets file (its first line is not \"{MAGIC} {VERSION}\")"
        ));
    };
    if version != VERSION.to_string() {
        return Err(format!(
            "version {version:?}; this storm reads version {VERSION} only"
        ));
    }
    let (_, count) = line("the count")?;
    let count: usize = std::str::from_utf8(count)
        .ok()
        .and_then(|c| c.strip_prefix("count "))
        .and_then(|c| c.parse().ok())
        .ok_or("line 2 is not \"count N\"")?;
    // Trust the count only as far as the file is long.
    let mut tickets = Vec::with_capacity(count.min(bytes.len() / 64));
    let mut opaque = Vec::with_capacity(MAX_VALUE_TICKET_LEN);
    let mut state = Zeroizing::new(Vec::with_capacity(MAX_ENCODED_STATE));
    for k in 0..count {
        let (n, l) = line("its last ticket").map_err(|e| {
            if e.contains("ends before") {
                format!("truncated: {k} of {count} tickets")
            } else {
                e
            }
        })?;
        let bad = |what: &str| format!("line {n} (ticket {k}): {what}");
        let mut fields = l.split(|&b| b == b' ');
        let (Some(exp), Some(op), Some(st), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err(bad("not \"EXPIRES OPAQUE STATE\""));
        };
        let expires_at: u64 = std::str::from_utf8(exp)
            .ok()
            .and_then(|e| e.parse().ok())
            .ok_or_else(|| bad("the expiry is not a number"))?;
        if op.len() > 2 * MAX_VALUE_TICKET_LEN || st.len() > 2 * MAX_ENCODED_STATE {
            return Err(bad("longer than any ticket"));
        }
        hex_decode(op, &mut opaque).map_err(|e| bad(&format!("the ticket: {e}")))?;
        hex_decode(st, &mut state).map_err(|e| bad(&format!("the state: {e}")))?;
        if opaque.is_empty() {
            return Err(bad("an empty ticket"));
        }
        let decoded = TicketState::decode(TicketId([0; 16]), &state)
            .map_err(|e| bad(&format!("the state does not decode ({e:?})")))?;
        tickets.push(ClientTicket {
            opaque: opaque.clone(),
            state: decoded,
            expires_at,
        });
    }
    let (n, end) = line("its end line")?;
    if end != b"end" {
        return Err(format!(
            "line {n}: \"end\" expected after {count} tickets (the count is wrong)"
        ));
    }
    if lines.next().is_some() {
        return Err(format!("line {}: something after \"end\"", n + 1));
    }
    Ok(tickets)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mint::mint_all;
    use crate::progress::Progress;

    struct Dir(PathBuf);

    impl Dir {
        fn new(name: &str) -> Dir {
            let d = std::env::temp_dir().join(format!(
                "rebound-storm-{name}-{}-{:?}",
                std::process::id(),
                std::thread::current().id()
            ));
            let _ = std::fs::remove_dir_all(&d);
            std::fs::create_dir_all(&d).unwrap();
            Dir(d)
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn tickets(n: usize) -> Vec<ClientTicket> {
        let now = rebound_dataplane::runtime::now().secs();
        let ring = rebound_dataplane::gateway::ephemeral_ring().unwrap();
        mint_all(n, &ring, now, 1, &Progress::new("test", n as u64, false)).unwrap()
    }

    fn same(a: &ClientTicket, b: &ClientTicket) -> bool {
        a.opaque == b.opaque && a.expires_at == b.expires_at && a.state == b.state
    }

    #[test]
    fn saved_tickets_load_back_the_same_and_owner_only() {
        let d = Dir::new("roundtrip");
        let p = d.0.join("t.tickets");
        let t = tickets(5);
        save(&p, &t).unwrap();
        let meta = std::fs::metadata(&p).unwrap();
        assert_eq!(meta.mode() & 0o777, 0o600);
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(
            text.starts_with("rebound-storm-tickets 1\ncount 5\n"),
            "{text}"
        );
        assert!(text.ends_with("\nend\n"));
        assert_eq!(text.lines().count(), 5 + 3);
        let back = load(&p).unwrap();
        assert_eq!(back.len(), 5);
        assert!(t.iter().zip(&back).all(|(a, b)| same(a, b)));
        // Overwriting an open-mode file leaves an owner-only one; no
        // temporary file stays behind.
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        save(&p, &t[..2]).unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().mode() & 0o777, 0o600);
        assert_eq!(load(&p).unwrap().len(), 2);
        assert_eq!(std::fs::read_dir(&d.0).unwrap().count(), 1);
        // An empty list is a valid file.
        save(&p, &[]).unwrap();
        assert!(load(&p).unwrap().is_empty());
    }

    #[test]
    fn bad_files_are_refused_with_the_reason() {
        let d = Dir::new("bad");
        let p = d.0.join("t.tickets");
        let e = load(&p).unwrap_err().0;
        assert!(e.contains("t.tickets: no such file"), "{e}");
        save(&p, &tickets(3)).unwrap();
        let good = std::fs::read(&p).unwrap();
        let write = |bytes: &[u8]| {
            std::fs::write(&p, bytes).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        };
        let text = String::from_utf8(good.clone()).unwrap();
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (
                text.replace("tickets 1\n", "tickets 2\n").into_bytes(),
                "version \"2\"; this storm reads version 1 only",
            ),
            (b"hello\n".to_vec(), "not a tickets file"),
            (
                good[..good.len() - 4].to_vec(),
                "truncated: it ends before its end line",
            ),
            (good[..good.len() - 40].to_vec(), "ends without a newline"),
            (
                text.lines()
                    .take(3)
                    .map(|l| format!("{l}\n"))
                    .collect::<String>()
                    .into_bytes(),
                "truncated: 1 of 3 tickets",
            ),
            (
                text.replace("count 3", "count 2").into_bytes(),
                "\"end\" expected after 2 tickets",
            ),
            (
                text.replace("count 3", "count x").into_bytes(),
                "line 2 is not",
            ),
            (format!("{text}more\n").into_bytes(), "something after"),
            (
                {
                    let mut l: Vec<String> = text.lines().map(String::from).collect();
                    l[3] = l[3].replacen(' ', " z", 1);
                    (l.join("\n") + "\n").into_bytes()
                },
                "line 4 (ticket 1): the ticket: an odd number",
            ),
            (
                {
                    let mut l: Vec<String> = text.lines().map(String::from).collect();
                    let cut = l[2].len() - 2;
                    l[2].truncate(cut);
                    (l.join("\n") + "\n").into_bytes()
                },
                "line 3 (ticket 0): the state does not decode",
            ),
        ];
        for (bytes, want) in cases {
            write(&bytes);
            let e = load(&p).unwrap_err().0;
            assert!(e.contains(want), "want {want:?}: {e}");
            assert!(
                e.starts_with(&format!("tickets file {}", p.display())),
                "{e}"
            );
        }
        write(&good);
        assert_eq!(load(&p).unwrap().len(), 3);
        for mode in [0o640, 0o604, 0o644] {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
            let e = load(&p).unwrap_err().0;
            assert!(
                e.contains(&format!("mode {mode:04o} lets group or others read"))
                    && e.contains("chmod 600"),
                "{e}"
            );
        }
        let e = load(&d.0).unwrap_err().0;
        assert!(e.contains("not a regular file"), "{e}");
    }
}
