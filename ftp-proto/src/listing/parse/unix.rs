//! Unix `ls -l` LIST lines.
//!
//! Owns the column grammar: a type letter and nine permission characters (with an optional
//! ACL or security-context mark: `+`, `@`, `.`), then link count, owner and group columns that
//! servers vary (numeric ids, no group, no link count), a size (or `major, minor` for
//! devices), a date (`Mon DD HH:MM`, `Mon DD YYYY` or `YYYY-MM-DD HH:MM`) and the name, which
//! starts after the one blank that follows the date and is kept byte-exact.
//!
//! The date is the anchor: the first `size month day time-or-year` run of columns after the
//! permissions ends the fixed part, so names with blanks and owner columns of any number parse.

use std::sync::Arc;

use super::{clock, number, small, tokens};
use crate::Timestamp;
use crate::listing::{Entry, EntryKind, S_IFBLK, S_IFCHR, S_IFIFO, S_IFSOCK};

/// The slack for a date without a year: a date up to a day after `now` is this year's.
const FUTURE_SLACK_SECS: i64 = 86_400;

/// How many years back a date without a year may be placed: only Feb 29 ever needs more
/// than one (the last leap year).
const MAX_YEARS_BACK: u16 = 8;

const MONTHS: [&[u8; 3]; 12] = [
    b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul", b"aug", b"sep", b"oct", b"nov", b"dec",
];

/// Where the fixed columns end.
struct Anchor {
    /// Index in the columns after the permissions of the size column.
    size_at: usize,
    modified: Option<Timestamp>,
    /// Offset in the line where the date's last column ends.
    end: usize,
}

pub(super) fn parse(line: &[u8], now: Timestamp) -> Option<Entry> {
    let mut toks = tokens(line);
    let (start, end) = toks.next()?;
    let (letter, mode) = mode(line.get(start..end)?)?;
    let device = matches!(letter, b'c' | b'b');
    let mut cols: Vec<(usize, usize)> = Vec::new();
    let mut anchor = None;
    for tok in toks {
        cols.push(tok);
        anchor = find_anchor(line, &cols, device, now);
        if anchor.is_some() {
            break;
        }
    }
    let Anchor {
        size_at,
        modified,
        end,
    } = anchor?;
    let text = |(s, e): (usize, usize)| line.get(s..e).unwrap_or_default();
    let size_col = text(*cols.get(size_at)?);
    let mut owners = cols.get(..size_at)?;
    let size = match number(size_col) {
        // `major, minor`: the major number (with its comma) is a column of its own.
        Some(_) if device && owners.last().is_some_and(|&c| is_major(text(c))) => {
            owners = owners.get(..owners.len() - 1)?;
            0
        }
        Some(size) => size,
        None => 0, // `major,minor` in one column
    };
    let (nlink, owner, group) = owner_columns(line, owners);

    // The name starts after the single blank that ends the date.
    let name = line.get(end + 1..).filter(|n| !n.is_empty())?;
    let kind = match letter {
        b'd' => EntryKind::Dir,
        b'-' => EntryKind::File,
        b'l' => EntryKind::Symlink { target: None },
        _ => EntryKind::Other,
    };
    let (name, kind) = match kind {
        EntryKind::Symlink { .. } => match find(name, b" -> ") {
            Some(at) => (
                name.get(..at)?,
                EntryKind::Symlink {
                    target: name.get(at + 4..).map(<[u8]>::to_vec),
                },
            ),
            None => (name, EntryKind::Symlink { target: None }),
        },
        kind => (name, kind),
    };
    let type_bits = match letter {
        b'p' => S_IFIFO,
        b's' => S_IFSOCK,
        b'c' => S_IFCHR,
        b'b' => S_IFBLK,
        _ => 0,
    };
    Some(Entry {
        name: name.to_vec(),
        kind,
        size,
        modified,
        unix_mode: Some(mode | type_bits),
        owner,
        group,
        nlink,
        perm: None,
        unique: None,
    })
}

/// The type letter and the permission bits of the first column, such as `drwxr-sr-x+`.
fn mode(col: &[u8]) -> Option<(u8, u32)> {
    let (&letter, rest) = col.split_first()?;
    if !b"-dlpscb".contains(&letter) {
        return None;
    }
    let perms = match rest {
        [p @ .., b'+' | b'@' | b'.'] if p.len() == 9 => p,
        p if p.len() == 9 => p,
        _ => return None,
    };
    let mut mode = 0;
    for (i, &c) in perms.iter().enumerate() {
        let (who, what) = (i / 3, i % 3);
        let shift = 6 - 3 * who as u32;
        let special = [0o4000, 0o2000, 0o1000].get(who).copied().unwrap_or(0);
        mode |= match (what, c) {
            (_, b'-') => 0,
            (0, b'r') => 4 << shift,
            (1, b'w') => 2 << shift,
            (2, b'x') => 1 << shift,
            (2, b's') if who < 2 => (1 << shift) | special,
            (2, b'S') if who < 2 => special,
            (2, b't') if who == 2 => 1 | special,
            (2, b'T') if who == 2 => special,
            // Solaris: mandatory locking, setgid without group execute.
            (2, b'l' | b'L') if who == 1 => special,
            _ => return None,
        };
    }
    Some((letter, mode))
}

/// Checks whether the last columns are `size month day time-or-year` or
/// `size YYYY-MM-DD HH:MM`.
fn find_anchor(
    line: &[u8],
    cols: &[(usize, usize)],
    device: bool,
    now: Timestamp,
) -> Option<Anchor> {
    let text = |i: usize| {
        cols.get(i)
            .and_then(|&(s, e)| line.get(s..e))
            .unwrap_or_default()
    };
    let n = cols.len();
    let last_end = cols.last()?.1;
    let is_size = |i: usize| {
        let t = text(i);
        number(t).is_some() || device && is_major_minor(t)
    };
    // `Mar  7 12:05` or `Mar  7  2023`.
    if n >= 4
        && let Some(month) = month(text(n - 3))
        && let Some(day) = small(text(n - 2)).filter(|d| (1..=31).contains(d))
        && is_size(n - 4)
    {
        let day = u8::try_from(day).ok()?;
        let last = text(n - 1);
        let modified = if let Some((h, m, s)) = clock(last) {
            infer_year(month, day, h, m, s, now)
        } else if last.len() == 4 {
            Timestamp::new(small(last)?, month, day, 0, 0, 0)
        } else {
            return None;
        };
        return Some(Anchor {
            size_at: n - 4,
            modified,
            end: last_end,
        });
    }
    // `2024-03-07 12:05` (`ls --time-style=long-iso`).
    if n >= 3
        && let Some((y, mo, d)) = iso_date(text(n - 2))
        && let Some((h, m, s)) = clock(text(n - 1))
        && is_size(n - 3)
    {
        return Some(Anchor {
            size_at: n - 3,
            modified: Timestamp::new(y, mo, d, h, m, s),
            end: last_end,
        });
    }
    None
}

/// Link count, owner and group from the columns between the permissions and the size.
fn owner_columns(
    line: &[u8],
    cols: &[(usize, usize)],
) -> (Option<u64>, Option<Arc<str>>, Option<Arc<str>>) {
    let span = |from: Option<&(usize, usize)>, to: Option<&(usize, usize)>| match (from, to) {
        (Some(&(s, _)), Some(&(_, e))) => line
            .get(s..e)
            .map(|t| Arc::from(String::from_utf8_lossy(t))),
        _ => None,
    };
    let first = cols.first().and_then(|&(s, e)| line.get(s..e));
    let nlink = first.and_then(number);
    let rest = if nlink.is_some() {
        cols.get(1..).unwrap_or_default()
    } else {
        cols
    };
    if nlink.is_some() && cols.len() == 1 {
        return (nlink, None, None);
    }
    // The owner is one column; the group is the rest (a group name with blanks stays whole).
    let owner = span(rest.first(), rest.first());
    let group = span(rest.get(1), rest.last());
    (nlink, owner, group)
}

fn month(col: &[u8]) -> Option<u8> {
    let pos = MONTHS
        .iter()
        .position(|m| col.eq_ignore_ascii_case(&m[..]))?;
    u8::try_from(pos + 1).ok()
}

/// `YYYY-MM-DD`.
fn iso_date(col: &[u8]) -> Option<(u16, u8, u8)> {
    match col {
        [y @ .., b'-', m1, m2, b'-', d1, d2] if y.len() == 4 => {
            let y = small(y)?;
            let m = u8::try_from(small(&[*m1, *m2])?).ok()?;
            let d = u8::try_from(small(&[*d1, *d2])?).ok()?;
            Some((y, m, d))
        }
        _ => None,
    }
}

/// `12,` as `ls` prints a device's major number before its minor.
fn is_major(col: &[u8]) -> bool {
    col.strip_suffix(b",").and_then(number).is_some()
}

/// `12,3` in one column.
fn is_major_minor(col: &[u8]) -> bool {
    let mut parts = col.splitn(2, |&b| b == b',');
    matches!(
        (parts.next().and_then(number), parts.next().and_then(number)),
        (Some(_), Some(_))
    )
}

/// The time of `month day h:m:s` in the twelve months up to `now` (plus a day of slack).
fn infer_year(month: u8, day: u8, h: u8, m: u8, s: u8, now: Timestamp) -> Option<Timestamp> {
    let limit = now.to_unix() + FUTURE_SLACK_SECS;
    let year = now.year();
    (year.saturating_sub(MAX_YEARS_BACK)..=year.saturating_add(1))
        .rev()
        .filter_map(|y| Timestamp::new(y, month, day, h, m, s))
        .find(|t| t.to_unix() <= limit)
}

/// The offset of the first `needle` in `hay` (linear for the short needles used here).
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
