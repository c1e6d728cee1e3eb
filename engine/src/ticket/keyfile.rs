//! The ticket key file: a versioned, line-oriented text format, parsed and
//! written without touching the file system (the dataplane does the IO and
//! the 0600 check). Format and errors are described in docs/TICKETS.md.

use core::fmt;
use core::fmt::Write as _;

use zeroize::{Zeroize, Zeroizing};

use super::UnixSeconds;
use super::keyring::{
    IdHex, KeyRingError, KeyWindow, TICKET_KEY_ID_LEN, TICKET_KEY_SECRET_LEN, TicketKey,
    TicketKeyId, TicketKeyRing,
};

/// The first line of a key file.
pub const KEY_FILE_HEADER: &str = "rebound-ticket-keys v1";
const KEY_FILE_MAGIC: &str = "rebound-ticket-keys";
const KEY_FILE_VERSION: &str = "v1";

/// The fields of a key line, in the order they are written.
const FIELDS: [&str; 5] = ["id", "secret", "issue_from", "issue_until", "accept_until"];

/// What is wrong with hex text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HexProblem {
    /// The wrong number of hex digits.
    Length { expected: usize, found: usize },
    /// A character that is not a hex digit, at this 1-based position.
    NotHex { position: usize },
}

/// What is wrong with one line of a key file. Never contains a secret: no
/// value from the file is echoed, only field names and positions.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyFileProblem {
    /// The first line is not `rebound-ticket-keys v1`.
    NotAKeyFile,
    /// A `rebound-ticket-keys` header of another version.
    UnsupportedVersion { found: String },
    /// The n-th (1-based) word is not `name=value`.
    NotNameValue { word: usize },
    /// A field name this version does not know (shown only if it is short
    /// and made of letters and underscores).
    UnknownField { name: Option<String> },
    /// A field given twice on one line.
    DuplicateField { field: &'static str },
    /// A field missing from the line.
    MissingField { field: &'static str },
    /// `id` or `secret` is not the right amount of hex.
    BadHex {
        field: &'static str,
        problem: HexProblem,
    },
    /// A time that is not a decimal number of seconds that fits 64 bits.
    BadNumber { field: &'static str },
    /// The key's id was already used on an earlier line.
    DuplicateKeyId { id: TicketKeyId, first_line: usize },
    /// The fields parse but do not make a valid key (e.g. its windows).
    InvalidKey(KeyRingError),
}

impl fmt::Display for KeyFileProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotAKeyFile => write!(
                f,
                "not a Rebound ticket key file: the first line must be `{KEY_FILE_HEADER}`"
            ),
            Self::UnsupportedVersion { found } => write!(
                f,
                "key file version `{found}` is not supported (this build reads {KEY_FILE_VERSION})"
            ),
            Self::NotNameValue { word } => {
                write!(f, "word {word} is not name=value")
            }
            Self::UnknownField { name: Some(n) } => write!(
                f,
                "unknown field `{n}` (expected id, secret, issue_from, issue_until, accept_until)"
            ),
            Self::UnknownField { name: None } => f.write_str(
                "unknown field (expected id, secret, issue_from, issue_until, accept_until)",
            ),
            Self::DuplicateField { field } => write!(f, "field `{field}` appears twice"),
            Self::MissingField { field } => write!(f, "field `{field}` is missing"),
            Self::BadHex {
                field,
                problem: HexProblem::Length { expected, found },
            } => write!(
                f,
                "`{field}` must be {expected} hex digits ({} bytes), found {found}",
                expected / 2
            ),
            Self::BadHex {
                field,
                problem: HexProblem::NotHex { position },
            } => write!(
                f,
                "`{field}` has a character that is not a hex digit at position {position}"
            ),
            Self::BadNumber { field } => write!(
                f,
                "`{field}` must be a decimal number of seconds since the Unix epoch (fitting 64 bits)"
            ),
            Self::DuplicateKeyId { id, first_line } => write!(
                f,
                "key id {} was already used on line {first_line}",
                IdHex(id)
            ),
            Self::InvalidKey(e) => write!(f, "{e}"),
        }
    }
}

/// Why a key file was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyFileError {
    /// Nothing but blank lines and comments.
    Empty,
    /// A header and no key: a ring with no key would stop resumption.
    NoKeys,
    /// A line that is wrong, numbered from 1.
    Line {
        line: usize,
        problem: KeyFileProblem,
    },
}

impl KeyFileError {
    /// The 1-based line number the error is about, if it is about one.
    pub fn line(&self) -> Option<usize> {
        match self {
            Self::Line { line, .. } => Some(*line),
            Self::Empty | Self::NoKeys => None,
        }
    }
}

impl fmt::Display for KeyFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => write!(
                f,
                "the key file is empty (expected `{KEY_FILE_HEADER}` and at least one key line)"
            ),
            Self::NoKeys => f.write_str("the key file has a header but no key"),
            Self::Line { line, problem } => write!(f, "line {line}: {problem}"),
        }
    }
}

impl std::error::Error for KeyFileError {}

/// Decodes exactly `N` bytes of hex (either case).
fn decode_hex<const N: usize>(text: &str) -> Result<[u8; N], HexProblem> {
    let digits = text.as_bytes();
    if digits.len() != 2 * N {
        return Err(HexProblem::Length {
            expected: 2 * N,
            found: text.chars().count(),
        });
    }
    let nibble = |i: usize| -> Result<u8, HexProblem> {
        let c = digits.get(i).copied().unwrap_or(b'?');
        match c {
            b'0'..=b'9' => Ok(c - b'0'),
            b'a'..=b'f' => Ok(c - b'a' + 10),
            b'A'..=b'F' => Ok(c - b'A' + 10),
            _ => Err(HexProblem::NotHex { position: i + 1 }),
        }
    };
    let mut out = [0u8; N];
    for (i, byte) in out.iter_mut().enumerate() {
        match (nibble(2 * i), nibble(2 * i + 1)) {
            (Ok(hi), Ok(lo)) => *byte = (hi << 4) | lo,
            (Err(e), _) | (_, Err(e)) => {
                out.zeroize();
                return Err(e);
            }
        }
    }
    Ok(out)
}

fn parse_seconds(text: &str, field: &'static str) -> Result<UnixSeconds, KeyFileProblem> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(KeyFileProblem::BadNumber { field });
    }
    text.parse()
        .map_err(|_| KeyFileProblem::BadNumber { field })
}

fn parse_header(content: &str) -> Result<(), KeyFileProblem> {
    let mut words = content.split_whitespace();
    let (magic, version, rest) = (words.next(), words.next(), words.next());
    if magic != Some(KEY_FILE_MAGIC) {
        return Err(KeyFileProblem::NotAKeyFile);
    }
    match (version, rest) {
        (Some(KEY_FILE_VERSION), None) => Ok(()),
        (Some(v), None) => Err(KeyFileProblem::UnsupportedVersion {
            found: v.chars().take(16).collect(),
        }),
        _ => Err(KeyFileProblem::NotAKeyFile),
    }
}

fn parse_key_line(content: &str) -> Result<TicketKey, KeyFileProblem> {
    let mut values: [Option<&str>; 5] = [None; 5];
    for (n, word) in content.split_whitespace().enumerate() {
        let (name, value) = word
            .split_once('=')
            .ok_or(KeyFileProblem::NotNameValue { word: n + 1 })?;
        let slot =
            FIELDS
                .iter()
                .position(|f| *f == name)
                .ok_or_else(|| KeyFileProblem::UnknownField {
                    name: (name.len() <= 24
                        && !name.is_empty()
                        && name.bytes().all(|b| b.is_ascii_alphabetic() || b == b'_'))
                    .then(|| name.to_owned()),
                })?;
        let field = FIELDS.get(slot).copied().unwrap_or("?");
        match values.get_mut(slot) {
            Some(Some(_)) => return Err(KeyFileProblem::DuplicateField { field }),
            Some(v) => *v = Some(value),
            None => return Err(KeyFileProblem::UnknownField { name: None }),
        }
    }
    let get = |slot: usize| -> Result<&str, KeyFileProblem> {
        let field = FIELDS.get(slot).copied().unwrap_or("?");
        values
            .get(slot)
            .copied()
            .flatten()
            .ok_or(KeyFileProblem::MissingField { field })
    };
    let id =
        decode_hex::<TICKET_KEY_ID_LEN>(get(0)?).map_err(|problem| KeyFileProblem::BadHex {
            field: "id",
            problem,
        })?;
    let secret_text = get(1)?;
    let issue_from = parse_seconds(get(2)?, "issue_from")?;
    let issue_until = parse_seconds(get(3)?, "issue_until")?;
    let accept_until = parse_seconds(get(4)?, "accept_until")?;
    let secret = decode_hex::<TICKET_KEY_SECRET_LEN>(secret_text).map_err(|problem| {
        KeyFileProblem::BadHex {
            field: "secret",
            problem,
        }
    })?;
    let window = KeyWindow {
        issue_from,
        issue_until,
        accept_until,
    };
    TicketKey::new(id, secret, window).map_err(KeyFileProblem::InvalidKey)
}

/// Parses a key file into a ring.
///
/// The format, line by line (`#` starts a comment anywhere; blank lines are
/// ignored; words are separated by spaces or tabs):
///
/// ```text
/// rebound-ticket-keys v1
/// # optional comments
/// id=<16 hex> secret=<64 hex> issue_from=<u64> issue_until=<u64> accept_until=<u64>
/// ```
///
/// The first non-blank, non-comment line is the header; every later one is
/// a key with all five fields, in any order, each once. Times are seconds
/// since the Unix epoch. Keys keep the file's order.
///
/// # Errors
/// The first problem found, with its line number; a file with no key line
/// is refused ([`KeyFileError::NoKeys`]).
pub fn parse_key_file(text: &str) -> Result<TicketKeyRing, KeyFileError> {
    let mut header_seen = false;
    let mut keys: Vec<TicketKey> = Vec::new();
    let mut key_lines: Vec<usize> = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let at = |problem| KeyFileError::Line { line, problem };
        let content = raw.split_once('#').map_or(raw, |(before, _)| before).trim();
        if content.is_empty() {
            continue;
        }
        if !header_seen {
            parse_header(content).map_err(at)?;
            header_seen = true;
            continue;
        }
        let key = parse_key_line(content).map_err(at)?;
        if let Some(pos) = keys.iter().position(|k| k.id == key.id) {
            let first_line = key_lines.get(pos).copied().unwrap_or(0);
            return Err(at(KeyFileProblem::DuplicateKeyId {
                id: key.id,
                first_line,
            }));
        }
        keys.push(key);
        key_lines.push(line);
    }
    if !header_seen {
        return Err(KeyFileError::Empty);
    }
    if keys.is_empty() {
        return Err(KeyFileError::NoKeys);
    }
    // Ids were checked line by line above.
    Ok(TicketKeyRing { keys })
}

/// Writes a ring as a key file that [`parse_key_file`] reads back to the
/// same keys. The text holds the secrets: it is wiped when dropped, and
/// written without reallocating (so no stale copy is left behind).
pub fn format_key_file(ring: &TicketKeyRing) -> Zeroizing<String> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    const COMMENT: &str = "# Rebound ticket keys. SECRET: keep this file mode 0600.\n\
                           # Times are seconds since the Unix epoch (UTC).\n";
    // A key line is at most 211 bytes (five names, 16 + 64 hex digits, three
    // 20-digit numbers, separators).
    let capacity = KEY_FILE_HEADER.len() + 1 + COMMENT.len() + 256 * ring.len();
    let mut out = Zeroizing::new(String::with_capacity(capacity));
    out.push_str(KEY_FILE_HEADER);
    out.push('\n');
    out.push_str(COMMENT);
    for key in ring.keys() {
        let _ = write!(out, "id={} secret=", IdHex(&key.id));
        for b in key.material.secret.as_bytes() {
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
        let w = key.window;
        let _ = writeln!(
            out,
            " issue_from={} issue_until={} accept_until={}",
            w.issue_from, w.issue_until, w.accept_until
        );
    }
    out
}
