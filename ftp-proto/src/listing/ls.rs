//! `ls -l` lines for LIST (and STAT *path*) and bare names for NLST.
//!
//! Owns the column layout that clients' LIST parsers (FileZilla, lftp, curl, wget, Python
//! tools, ...) expect: vsftpd's columns and six-month rule, with the day of the month
//! space-padded as `ls` prints it (`%b %e`; vsftpd itself zero-pads with `%b %d`, and parsers
//! split on blanks, so both read the same). It must not decide what is listed or in what
//! order.

use std::borrow::Cow;

use super::{Entry, EntryKind, Special, UnrepresentableName, check_name};
use crate::Timestamp;

/// Locale-independent month abbreviations, as every LIST parser expects them.
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// How old a time may be and still show `HH:MM` instead of the year (vsftpd's 182 days).
const RECENT_PAST_SECS: i64 = 182 * 86_400;
/// How far in the future a time may be and still show `HH:MM`: clock skew between the host
/// that wrote the file and the server's `now`. Clients guess the year of an `HH:MM` date as
/// "within the last twelve months", so a date much further ahead would be read a year off.
const RECENT_FUTURE_SECS: i64 = 3_600;

/// Owner and group shown when the application gives none.
const DEFAULT_OWNER: &str = "ftp";

/// Appends one `ls -l` style LIST line, CRLF included:
///
/// ```text
/// -rw-r--r--    1 ftp      ftp          4096 Mar  7 14:05 notes.txt
/// drwxr-xr-x    1 ftp      ftp             0 Dec 24  2019 old
/// lrwxrwxrwx    1 ftp      ftp             7 Mar  7 14:05 latest -> v1.2.3
/// ```
///
/// The columns are vsftpd's: type letter and permissions, link count right-aligned in 4, owner
/// and group left-aligned in 8, size right-aligned in 8 (wider values push the line right, as
/// in `ls`), a 12-column date, the name. Fields the entry leaves out get defaults:
///
/// - permissions: `0o644`, `0o755` for directories, `0o777` for symlinks; setuid, setgid and
///   sticky show as `s`/`S` and `t`/`T` as in `ls`;
/// - link count 1, owner and group `ftp` (whitespace and control characters in the names
///   become `_`, so the columns stay parseable);
/// - a missing modification time shows as the Unix epoch (`Jan  1  1970`): a fixed value, so
///   mirroring clients do not see the file change from one listing to the next.
///
/// The date is `Mon DD HH:MM` (UTC) when the entry was modified at most 182 days before `now`
/// and at most an hour after it, and `Mon DD  YYYY` otherwise. A symlink with a known target
/// shows `name -> target` (a target holding CR, LF or NUL is left out).
///
/// For STAT *path* the session sends these lines, CRLF removed, inside its multi-line reply.
///
/// # Errors
///
/// [`UnrepresentableName`] when the name is empty or holds CR, LF or NUL; nothing is written.
///
/// ```
/// use ftp_proto::Timestamp;
/// use ftp_proto::listing::{Entry, list_line};
///
/// let now = Timestamp::new(2024, 6, 1, 12, 0, 0).unwrap();
/// let mut out = Vec::new();
/// let notes = Entry {
///     modified: Timestamp::new(2024, 3, 7, 14, 5, 0),
///     ..Entry::file("notes.txt", 4096)
/// };
/// list_line(&notes, now, &mut out).unwrap();
/// let old = Entry { modified: Timestamp::new(2019, 12, 24, 8, 0, 0), ..Entry::dir("old") };
/// list_line(&old, now, &mut out).unwrap();
/// assert_eq!(
///     String::from_utf8(out).unwrap(),
///     "-rw-r--r--    1 ftp      ftp          4096 Mar  7 14:05 notes.txt\r\n\
///      drwxr-xr-x    1 ftp      ftp             0 Dec 24  2019 old\r\n"
/// );
///
/// // A name that would end the line early is refused, and nothing is written.
/// let mut out = Vec::new();
/// assert!(list_line(&Entry::file("evil\r\n-rw-r--r-- forged", 0), now, &mut out).is_err());
/// assert!(out.is_empty());
/// ```
pub fn list_line(
    entry: &Entry,
    now: Timestamp,
    out: &mut Vec<u8>,
) -> Result<(), UnrepresentableName> {
    check_name(&entry.name)?;
    let default_mode = match entry.kind {
        EntryKind::Dir | EntryKind::CurrentDir | EntryKind::ParentDir => 0o755,
        EntryKind::Symlink { .. } => 0o777,
        EntryKind::File | EntryKind::Other => 0o644,
    };
    // Written straight into `out` (writing to a Vec cannot fail): no string per line, which
    // matters for directories of many thousands of entries.
    let mut letters = [0u8; 4];
    out.extend_from_slice(type_letter(entry).encode_utf8(&mut letters).as_bytes());
    out.extend_from_slice(&permissions(entry.unix_mode.unwrap_or(default_mode)));
    out.push(b' ');
    push_right(out, entry.nlink.unwrap_or(1), 4, b' ');
    out.push(b' ');
    push_left(out, &column_name(entry.owner.as_deref()), 8);
    out.push(b' ');
    push_left(out, &column_name(entry.group.as_deref()), 8);
    out.push(b' ');
    push_right(out, entry.size, 8, b' ');
    out.push(b' ');
    ls_date(entry.modified, now, out);
    out.push(b' ');
    out.extend_from_slice(&entry.name);
    if let EntryKind::Symlink {
        target: Some(target),
    } = &entry.kind
        && check_name(target).is_ok()
    {
        out.extend_from_slice(b" -> ");
        out.extend_from_slice(target);
    }
    out.extend_from_slice(b"\r\n");
    Ok(())
}

/// Appends one NLST line: the name and CRLF.
///
/// The name is sent as the entry holds it; a session answering `NLST dir` that wants to send
/// `dir/name`, as vsftpd does, puts that in [`Entry::name`].
///
/// # Errors
///
/// [`UnrepresentableName`] when the name is empty or holds CR, LF or NUL; nothing is written.
///
/// ```
/// use ftp_proto::listing::{Entry, nlst_line};
///
/// let mut out = Vec::new();
/// nlst_line(&Entry::file(" leading space.txt", 1), &mut out).unwrap();
/// nlst_line(&Entry::dir(&b"caf\xe9"[..]), &mut out).unwrap();
/// assert_eq!(out, b" leading space.txt\r\ncaf\xe9\r\n");
/// assert!(nlst_line(&Entry::file("a\nb", 1), &mut out).is_err());
/// ```
pub fn nlst_line(entry: &Entry, out: &mut Vec<u8>) -> Result<(), UnrepresentableName> {
    check_name(&entry.name)?;
    out.extend_from_slice(&entry.name);
    out.extend_from_slice(b"\r\n");
    Ok(())
}

fn type_letter(entry: &Entry) -> char {
    match entry.kind {
        EntryKind::Dir | EntryKind::CurrentDir | EntryKind::ParentDir => 'd',
        EntryKind::Symlink { .. } => 'l',
        EntryKind::File => '-',
        EntryKind::Other => match Special::of(entry.unix_mode) {
            Special::Fifo => 'p',
            Special::CharDevice => 'c',
            Special::BlockDevice => 'b',
            Special::Socket => 's',
            Special::Unknown => '-',
        },
    }
}

/// `rwxr-xr-x` from the permission bits, with setuid, setgid and sticky as `ls` shows them.
fn permissions(mode: u32) -> [u8; 9] {
    let mut s = [b'-'; 9];
    for (at, (shift, special, with_x, without_x)) in [
        (6, 0o4000, b's', b'S'),
        (3, 0o2000, b's', b'S'),
        (0, 0o1000, b't', b'T'),
    ]
    .into_iter()
    .enumerate()
    {
        let bits = mode >> shift;
        if bits & 4 != 0 {
            s[at * 3] = b'r';
        }
        if bits & 2 != 0 {
            s[at * 3 + 1] = b'w';
        }
        s[at * 3 + 2] = match (mode & special != 0, bits & 1 != 0) {
            (true, true) => with_x,
            (true, false) => without_x,
            (false, true) => b'x',
            (false, false) => b'-',
        };
    }
    s
}

/// An owner or group name that keeps LIST's whitespace-separated columns intact.
fn column_name(name: Option<&str>) -> Cow<'_, str> {
    let breaks_columns = |c: char| c.is_whitespace() || c.is_control();
    match name {
        None | Some("") => Cow::Borrowed(DEFAULT_OWNER),
        Some(n) if n.chars().any(breaks_columns) => Cow::Owned(
            n.chars()
                .map(|c| if breaks_columns(c) { '_' } else { c })
                .collect(),
        ),
        Some(n) => Cow::Borrowed(n),
    }
}

/// `Mon DD HH:MM` for recent times, `Mon DD  YYYY` for others: always 12 columns, since the
/// year is right-aligned in 5.
fn ls_date(modified: Option<Timestamp>, now: Timestamp, out: &mut Vec<u8>) {
    let (secs, year, month, day, hour, minute) = match modified {
        Some(t) => (
            t.to_unix(),
            t.year(),
            t.month(),
            t.day(),
            t.hour(),
            t.minute(),
        ),
        None => (0, 1970, 1, 1, 0, 0),
    };
    let month = MONTHS
        .get(usize::from(month).wrapping_sub(1))
        .copied()
        .unwrap_or("???");
    let now = now.to_unix();
    let recent = secs <= now + RECENT_FUTURE_SECS && now - secs <= RECENT_PAST_SECS;
    out.extend_from_slice(month.as_bytes());
    out.push(b' ');
    push_right(out, day.into(), 2, b' ');
    out.push(b' ');
    if recent {
        push_right(out, hour.into(), 2, b'0');
        out.push(b':');
        push_right(out, minute.into(), 2, b'0');
    } else {
        push_right(out, year.into(), 5, b' ');
    }
}

/// Appends `n` in decimal, right-aligned in `width` columns with `fill` (`{n:>width}`, or
/// `{n:0width}` with `b'0'`): LIST lines are built without the formatting machinery.
fn push_right(out: &mut Vec<u8>, mut n: u64, width: usize, fill: u8) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let len = digits.len() - at;
    out.extend(std::iter::repeat_n(fill, width.saturating_sub(len)));
    out.extend_from_slice(&digits[at..]);
}

/// Appends `text` left-aligned in `width` columns (`{text:<width}`: padding counts chars).
fn push_left(out: &mut Vec<u8>, text: &str, width: usize) {
    out.extend_from_slice(text.as_bytes());
    out.extend(std::iter::repeat_n(
        b' ',
        width.saturating_sub(text.chars().count()),
    ));
}

#[cfg(test)]
mod tests {
    use super::{push_left, push_right};
    use proptest::prelude::*;

    proptest! {
        /// The hand-written column writers match `format!` exactly.
        #[test]
        fn columns_match_format(n: u64, width in 0usize..24, text in "\\PC{0,12}") {
            let mut out = Vec::new();
            push_right(&mut out, n, width, b' ');
            prop_assert_eq!(out, format!("{n:>width$}").into_bytes());
            let mut out = Vec::new();
            push_right(&mut out, n, width, b'0');
            prop_assert_eq!(out, format!("{n:0width$}").into_bytes());
            let mut out = Vec::new();
            push_left(&mut out, &text, width);
            prop_assert_eq!(out, format!("{text:<width$}").into_bytes());
        }
    }
}
