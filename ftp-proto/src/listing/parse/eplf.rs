//! EPLF lines (D. J. Bernstein's Easily Parsed LIST Format, <https://cr.yp.to/ftp/list/eplf.html>).
//!
//! Owns `+facts,TAB name`, where facts are comma-separated and each starts with a letter:
//! `/` (a directory: CWD works), `r` (RETR works), `s` size, `m` modification time in Unix
//! seconds, `i` an identifier that is the same for every name of the same file, and `up`
//! Unix permissions in octal. Unknown facts are ignored, as the format requires.

use super::number;
use crate::Timestamp;
use crate::listing::{Entry, EntryKind};

pub(super) fn parse(line: &[u8]) -> Option<Entry> {
    let rest = line.strip_prefix(b"+")?;
    let tab = rest.iter().position(|&b| b == b'\t')?;
    let (facts, name) = (rest.get(..tab)?, rest.get(tab + 1..)?);
    if name.is_empty() {
        return None;
    }
    let mut entry = Entry {
        name: name.to_vec(),
        ..Entry::default()
    };
    for fact in facts.split(|&b| b == b',') {
        match fact {
            [b'/', ..] => entry.kind = EntryKind::Dir,
            [b's', size @ ..] => entry.size = number(size).unwrap_or(entry.size),
            [b'm', secs @ ..] => {
                entry.modified = number(secs)
                    .and_then(|s| i64::try_from(s).ok())
                    .and_then(Timestamp::from_unix);
            }
            [b'i', id @ ..] if !id.is_empty() => {
                entry.unique = core::str::from_utf8(id).ok().map(str::to_owned);
            }
            [b'u', b'p', mode @ ..] => entry.unix_mode = octal(mode),
            _ => {}
        }
    }
    Some(entry)
}

/// Up to seven octal digits; only the permission bits (`0o7777`) are kept.
pub(super) fn octal(digits: &[u8]) -> Option<u32> {
    if digits.is_empty() || digits.len() > 7 {
        return None;
    }
    digits
        .iter()
        .try_fold(0u32, |acc, &d| {
            matches!(d, b'0'..=b'7').then(|| acc * 8 + u32::from(d - b'0'))
        })
        .map(|m| m & 0o7777)
}
