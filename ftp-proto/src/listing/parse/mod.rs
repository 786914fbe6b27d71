//! Directory listings as a client receives them: LIST lines (Unix `ls -l`, DOS/IIS, EPLF) and
//! MLSD lines, parsed into the same [`Entry`] type the server formatters take.
//!
//! Owns the syntax of those line formats, the per-line auto-detection between them, the rule
//! for names a listing may yield and the check a name must pass before it is used as a local
//! file name ([`local_name`]). It must not do I/O or read a clock: the year of a Unix date
//! without one is inferred from the `now` the caller passes in. It does not decode names
//! (they stay bytes), follow links or sort.
//!
//! Every parser here is total and linear: any bytes give entries or nothing, never a panic, and
//! a line longer than [`MAX_LIST_LINE`] is skipped without being looked at.
//!
//! The rule for names a listing may yield is in the documentation of [`crate::listing`].

mod dos;
mod eplf;
mod mlsx;
mod unix;

#[cfg(test)]
mod tests;

pub(crate) use mlsx::parse_facts_line;
pub use mlsx::parse_mlsx_line;

use super::{Entry, EntryKind};
use crate::Timestamp;

/// Longest listing line the parsers look at: 64 KiB. A longer line is skipped (counted in
/// [`Listing::skipped`]) unread; no real server sends names near this long (Linux allows 255
/// bytes per name), so such a line is garbage or an attack on the client's memory or time.
pub const MAX_LIST_LINE: usize = 64 * 1024;

/// A directory listing line format.
///
/// ```
/// use ftp_proto::listing::ListingFormat;
/// assert_ne!(ListingFormat::Unix, ListingFormat::Dos);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ListingFormat {
    /// `ls -l` lines, as vsftpd, proftpd, pure-ftpd, busybox and most others send for LIST:
    /// `drwxr-xr-x 2 owner group 4096 Mar  7 12:05 name`.
    Unix,
    /// DOS/Windows lines, as IIS sends for LIST by default:
    /// `03-07-24  12:05PM       <DIR>          name`.
    Dos,
    /// Easily Parsed LIST Format (D. J. Bernstein; publicfile, some embedded servers):
    /// `+i8388621.29609,m824255902,/,\tname`.
    Eplf,
    /// MLSD lines (RFC 3659 section 7): `type=file;size=52113;modify=20240307120500; name`.
    Mlsx,
}

impl ListingFormat {
    /// Every format, in the order auto-detection tries them.
    const ALL: [ListingFormat; 4] = [Self::Unix, Self::Dos, Self::Eplf, Self::Mlsx];

    fn index(self) -> usize {
        match self {
            Self::Unix => 0,
            Self::Dos => 1,
            Self::Eplf => 2,
            Self::Mlsx => 3,
        }
    }
}

/// Parses one listing line (without its line end) in the given format.
///
/// `now` is the caller's current time (UTC); only Unix dates without a year use it (see
/// [`ListingParser`]). Returns `None` when the line is not an entry in that format, is longer
/// than [`MAX_LIST_LINE`], is an MLSD `cdir`/`pdir` line, or names something other than an entry
/// of the listed directory (see [names a listing may yield](crate::listing#names-a-listing-may-yield)).
///
/// ```
/// use ftp_proto::Timestamp;
/// use ftp_proto::listing::{EntryKind, ListingFormat, parse_list_line};
///
/// let now = Timestamp::new(2024, 6, 1, 12, 0, 0).unwrap();
/// let e = parse_list_line(
///     b"drwxr-xr-x    2 alice    staff        4096 Mar  7 12:05 my  docs",
///     ListingFormat::Unix,
///     now,
/// )
/// .unwrap();
/// assert_eq!((e.name.as_slice(), &e.kind), (&b"my  docs"[..], &EntryKind::Dir));
/// assert_eq!(e.unix_mode, Some(0o755));
/// assert_eq!(e.modified, Timestamp::new(2024, 3, 7, 12, 5, 0));
///
/// let e = parse_list_line(b"03-07-24  12:05PM  52113 report.pdf", ListingFormat::Dos, now).unwrap();
/// assert_eq!((e.name.as_slice(), e.size), (&b"report.pdf"[..], 52113));
///
/// // A hostile name is dropped.
/// assert!(parse_list_line(b"-rw-r--r-- 1 u g 1 Mar 7 2023 ../evil", ListingFormat::Unix, now).is_none());
/// ```
pub fn parse_list_line(line: &[u8], format: ListingFormat, now: Timestamp) -> Option<Entry> {
    match parse_any(line, format, now) {
        Parsed::Entry(entry) => Some(entry),
        Parsed::Dropped | Parsed::NotThisFormat => None,
    }
}

/// What one line gave under one format.
enum Parsed {
    /// An entry to hand out.
    Entry(Entry),
    /// The line is in this format but is not an entry to hand out (a `cdir`/`pdir` line or a
    /// name that is not safe).
    Dropped,
    /// The line is not in this format.
    NotThisFormat,
}

fn parse_any(line: &[u8], format: ListingFormat, now: Timestamp) -> Parsed {
    if line.len() > MAX_LIST_LINE {
        return Parsed::NotThisFormat;
    }
    screen(match format {
        ListingFormat::Unix => unix::parse(line, now),
        ListingFormat::Dos => dos::parse(line),
        ListingFormat::Eplf => eplf::parse(line),
        ListingFormat::Mlsx => parse_facts_line(line),
    })
}

/// Sorts a syntactically parsed line into an entry to hand out or one to drop.
fn screen(entry: Option<Entry>) -> Parsed {
    match entry {
        None => Parsed::NotThisFormat,
        // MLSD's `cdir` and `pdir` describe the listed directory and its parent, not entries
        // in it.
        Some(e) if matches!(e.kind, EntryKind::CurrentDir | EntryKind::ParentDir) => {
            Parsed::Dropped
        }
        Some(e) if !is_listable_name(&e.name) => Parsed::Dropped,
        Some(e) => Parsed::Entry(e),
    }
}

/// The rule every listing-level parser applies: a name a listing may yield is not empty, `.`
/// or `..`, and holds no `/` and no NUL.
pub(crate) fn is_listable_name(name: &[u8]) -> bool {
    !matches!(name, b"" | b"." | b"..") && !name.iter().any(|&b| b == b'/' || b == 0)
}

/// Why [`local_name`] refused a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UnsafeName {
    /// The name is empty.
    #[error("empty name")]
    Empty,
    /// The name is `.` or `..`.
    #[error("name is . or ..")]
    Dots,
    /// The name holds `/` or `\`, a path separator on Unix or Windows.
    #[error("name contains a path separator")]
    Separator,
    /// The name starts with a Windows drive prefix such as `C:`, which makes a joined path
    /// leave its directory on Windows.
    #[error("name starts with a drive prefix")]
    DrivePrefix,
    /// The name holds NUL or another control character.
    #[error("name contains a control character")]
    ControlChar,
    /// The name is not valid UTF-8.
    #[error("name is not valid UTF-8")]
    NotUtf8,
}

/// Checks that a name from a listing is safe to use as one local file name, inside the
/// directory the client is writing to, and returns it as text.
///
/// It refuses, whatever the platform the client runs on:
/// - an empty name, `.` and `..`: they name the directory itself or leave it;
/// - `/` and `\`: a separator turns one name into a path (`../../.bashrc`, `/etc/x`,
///   `..\x` on Windows);
/// - a drive prefix (`C:x`), which Windows resolves outside the directory;
/// - NUL and other control characters (C0, DEL, C1): NUL truncates names in C APIs, and
///   escape sequences in a name can rewrite a terminal that shows it;
/// - non-UTF-8 bytes: their meaning depends on a charset the server did not state, and on
///   Windows they cannot be a file name without a guess. A client that wants them anyway can
///   transcode the bytes itself and check the result.
///
/// It does not refuse names that are merely awkward: leading or trailing spaces, a leading
/// `-` or `.`, Windows reserved device names (`CON`, `NUL.txt`) or `:` elsewhere in the name.
///
/// # Errors
///
/// [`UnsafeName`] saying the first rule the name breaks.
///
/// ```
/// use ftp_proto::listing::{UnsafeName, local_name};
///
/// assert_eq!(local_name(b"report 2024.pdf"), Ok("report 2024.pdf"));
/// assert_eq!(local_name(b" .hidden "), Ok(" .hidden "));
/// assert_eq!(local_name(b".."), Err(UnsafeName::Dots));
/// assert_eq!(local_name(b"../etc/passwd"), Err(UnsafeName::Separator));
/// assert_eq!(local_name(b"..\\boot.ini"), Err(UnsafeName::Separator));
/// assert_eq!(local_name(b"C:evil"), Err(UnsafeName::DrivePrefix));
/// assert_eq!(local_name(b"bell\x07"), Err(UnsafeName::ControlChar));
/// assert_eq!(local_name(b"caf\xe9"), Err(UnsafeName::NotUtf8));
/// ```
pub fn local_name(name: &[u8]) -> Result<&str, UnsafeName> {
    match name {
        b"" => return Err(UnsafeName::Empty),
        b"." | b".." => return Err(UnsafeName::Dots),
        _ => {}
    }
    if name.iter().any(|&b| b == b'/' || b == b'\\') {
        return Err(UnsafeName::Separator);
    }
    if let [letter, b':', ..] = name
        && letter.is_ascii_alphabetic()
    {
        return Err(UnsafeName::DrivePrefix);
    }
    let text = core::str::from_utf8(name).map_err(|_| UnsafeName::NotUtf8)?;
    if text.chars().any(char::is_control) {
        return Err(UnsafeName::ControlChar);
    }
    Ok(text)
}

/// A parsed listing: what [`parse_listing`] and [`ListingParser::parse`] return.
///
/// ```
/// use ftp_proto::Timestamp;
/// use ftp_proto::listing::{Listing, ListingFormat, parse_listing};
///
/// let now = Timestamp::new(2024, 6, 1, 12, 0, 0).unwrap();
/// let listing: Listing = parse_listing(b"total 0\r\n", None, now);
/// assert!(listing.entries.is_empty());
/// assert_eq!((listing.format, listing.skipped), (None, 1));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Listing {
    /// The entries, in the order the lines came.
    pub entries: Vec<Entry>,
    /// The format forced by the caller, or else the one most lines parsed as (`None` when no
    /// line parsed).
    pub format: Option<ListingFormat>,
    /// Lines that gave no entry: blank lines, `total N` lines, lines in no known format, lines
    /// longer than [`MAX_LIST_LINE`], MLSD `cdir`/`pdir` lines and entries whose names were
    /// dropped (see [names a listing may yield](crate::listing#names-a-listing-may-yield)).
    pub skipped: usize,
}

/// A streaming listing parser: feed it lines as they arrive on the data connection.
///
/// Unless a format is forced with [`ListingParser::with_format`] (do so with
/// [`ListingFormat::Mlsx`] for MLSD data), each line is tried in every format, starting with
/// the one most earlier lines parsed as, so a listing that mixes formats (a proxy in front of
/// several servers) still parses. Lines in the formats cannot be confused with one another:
/// Unix lines start with a type letter and permissions, DOS lines with a digit, EPLF lines with
/// `+`; an MLSD line is recognised in auto mode only when it has a `type` fact.
///
/// Unix dates without a year (`Mar  7 12:05`) are placed in the twelve months up to `now`, with
/// a day of slack for clock and time zone differences: the year is `now`'s, or the year before
/// when that date would be more than a day after `now`. Times in LIST have no zone; they are
/// taken as UTC, as curl does. Dates with a year get midnight.
///
/// ```
/// use ftp_proto::Timestamp;
/// use ftp_proto::listing::{ListingFormat, ListingParser};
///
/// let now = Timestamp::new(2024, 1, 15, 12, 0, 0).unwrap();
/// let mut parser = ListingParser::new(now);
/// assert!(parser.push_line(b"total 8").is_none());
/// let e = parser.push_line(b"-rw-r--r-- 1 ftp ftp 100 Dec 31 23:59 old.txt\r").unwrap();
/// assert_eq!(e.modified, Timestamp::new(2023, 12, 31, 23, 59, 0)); // last year's December
/// assert_eq!(e.name, b"old.txt");
/// assert_eq!((parser.format(), parser.skipped()), (Some(ListingFormat::Unix), 1));
/// ```
#[derive(Debug, Clone)]
pub struct ListingParser {
    now: Timestamp,
    forced: Option<ListingFormat>,
    /// How many lines parsed as each format, by [`ListingFormat::index`].
    votes: [usize; 4],
    skipped: usize,
}

impl ListingParser {
    /// A parser that detects the format line by line; `now` is the caller's current time.
    pub fn new(now: Timestamp) -> Self {
        Self {
            now,
            forced: None,
            votes: [0; 4],
            skipped: 0,
        }
    }

    /// The same parser, reading every line in `format` only.
    ///
    /// ```
    /// use ftp_proto::Timestamp;
    /// use ftp_proto::listing::{ListingFormat, ListingParser};
    ///
    /// let mut parser = ListingParser::new(Timestamp::from_unix(0).unwrap()).with_format(ListingFormat::Mlsx);
    /// assert!(parser.push_line(b"type=cdir; /pub").is_none()); // the listed directory itself
    /// assert_eq!(parser.push_line(b"type=file;size=3; a b").unwrap().name, b"a b");
    /// assert!(parser.push_line(b"-rw-r--r-- 1 u g 1 Jan 1 2020 unix").is_none());
    /// ```
    #[must_use]
    pub fn with_format(self, format: ListingFormat) -> Self {
        Self {
            forced: Some(format),
            ..self
        }
    }

    /// Parses one line (a trailing CR is removed; LF must not be included). Returns the entry,
    /// or `None` for a line that is skipped (see [`Listing::skipped`]).
    pub fn push_line(&mut self, line: &[u8]) -> Option<Entry> {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.len() > MAX_LIST_LINE || is_blank(line) || is_total_line(line) {
            self.skipped += 1;
            return None;
        }
        let result = match self.forced {
            Some(format) => match parse_any(line, format, self.now) {
                Parsed::NotThisFormat => None,
                parsed => Some((format, parsed)),
            },
            None => self.detect(line),
        };
        match result {
            Some((format, parsed)) => {
                if let Some(v) = self.votes.get_mut(format.index()) {
                    *v += 1;
                }
                match parsed {
                    Parsed::Entry(entry) => Some(entry),
                    Parsed::Dropped | Parsed::NotThisFormat => {
                        self.skipped += 1;
                        None
                    }
                }
            }
            None => {
                self.skipped += 1;
                None
            }
        }
    }

    /// Tries the leading format first, then the others.
    fn detect(&self, line: &[u8]) -> Option<(ListingFormat, Parsed)> {
        let leading = self.leading();
        leading
            .into_iter()
            .chain(
                ListingFormat::ALL
                    .into_iter()
                    .filter(|&f| Some(f) != leading),
            )
            .find_map(|format| {
                if format == ListingFormat::Mlsx && !mlsx::has_type_fact(line) {
                    return None;
                }
                match parse_any(line, format, self.now) {
                    Parsed::NotThisFormat => None,
                    parsed => Some((format, parsed)),
                }
            })
    }

    /// The format most lines parsed as so far (the earlier in [`ListingFormat::ALL`] on a tie).
    fn leading(&self) -> Option<ListingFormat> {
        let mut best: Option<(ListingFormat, usize)> = None;
        for format in ListingFormat::ALL {
            let votes = self.votes.get(format.index()).copied().unwrap_or(0);
            if votes > 0 && best.is_none_or(|(_, b)| votes > b) {
                best = Some((format, votes));
            }
        }
        best.map(|(f, _)| f)
    }

    /// The forced format, or else the one most lines parsed as so far.
    pub fn format(&self) -> Option<ListingFormat> {
        self.forced.or_else(|| self.leading())
    }

    /// How many lines were skipped so far (see [`Listing::skipped`]).
    pub fn skipped(&self) -> usize {
        self.skipped
    }

    /// Parses a whole listing: splits `bytes` on LF, removes a CR before it, and pushes every
    /// line. A last line without LF counts too.
    ///
    /// ```
    /// use ftp_proto::Timestamp;
    /// use ftp_proto::listing::{ListingFormat, ListingParser};
    ///
    /// let now = Timestamp::new(2024, 6, 1, 12, 0, 0).unwrap();
    /// let listing = ListingParser::new(now).parse(
    ///     b"+i8388621.29609,m824255902,/,\tdev\r\n+i8388621.44468,m839956783,r,s10376,\tRFCEPLF\r\n",
    /// );
    /// assert_eq!(listing.format, Some(ListingFormat::Eplf));
    /// assert_eq!(listing.entries.len(), 2);
    /// assert_eq!(listing.entries[1].size, 10376);
    /// ```
    pub fn parse(mut self, bytes: &[u8]) -> Listing {
        let mut entries = Vec::new();
        let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
        if !bytes.is_empty() {
            for line in body.split(|&b| b == b'\n') {
                entries.extend(self.push_line(line));
            }
        }
        Listing {
            entries,
            format: self.format(),
            skipped: self.skipped,
        }
    }
}

/// Parses a whole listing from the data connection: in `format` when given (pass
/// [`ListingFormat::Mlsx`] for MLSD data), else auto-detected line by line. See
/// [`ListingParser`] for the rules and [`Listing`] for the result.
///
/// ```
/// use ftp_proto::Timestamp;
/// use ftp_proto::listing::{EntryKind, ListingFormat, parse_listing};
///
/// let now = Timestamp::new(2024, 6, 1, 12, 0, 0).unwrap();
/// let iis = b"03-07-24  12:05PM       <DIR>          Windows Folder\r\n\
///             03-07-24  01:15AM                52113 report.pdf\r\n";
/// let listing = parse_listing(iis, None, now);
/// assert_eq!(listing.format, Some(ListingFormat::Dos));
/// assert_eq!(listing.entries[0].name, b"Windows Folder");
/// assert_eq!(listing.entries[0].kind, EntryKind::Dir);
/// assert_eq!(listing.entries[1].modified, Timestamp::new(2024, 3, 7, 1, 15, 0));
/// ```
pub fn parse_listing(bytes: &[u8], format: Option<ListingFormat>, now: Timestamp) -> Listing {
    let parser = ListingParser::new(now);
    match format {
        Some(f) => parser.with_format(f),
        None => parser,
    }
    .parse(bytes)
}

fn is_blank(line: &[u8]) -> bool {
    line.iter().all(u8::is_ascii_whitespace)
}

/// `total 1234`, as `ls -l` starts a listing (any case; busybox and some servers add text).
fn is_total_line(line: &[u8]) -> bool {
    line.get(..6)
        .is_some_and(|w| w.eq_ignore_ascii_case(b"total "))
}

/// Splits `line` into blank-separated tokens, yielding each token's start and end offsets.
fn tokens(line: &[u8]) -> impl Iterator<Item = (usize, usize)> + '_ {
    let mut at = 0;
    core::iter::from_fn(move || {
        let rest = line.get(at..)?;
        let start = at + rest.iter().position(|&b| !is_sep(b))?;
        let len = line
            .get(start..)
            .unwrap_or_default()
            .iter()
            .position(|&b| is_sep(b))
            .unwrap_or(line.len() - start);
        at = start + len;
        Some((start, start + len))
    })
}

fn is_sep(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// A decimal number of at most 20 digits, or `None`.
fn number(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 20 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    digits.iter().try_fold(0u64, |acc, &d| {
        acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

/// A small decimal number (1 to 4 digits) that fits in a `u16`.
fn small(digits: &[u8]) -> Option<u16> {
    if digits.len() > 4 {
        return None;
    }
    number(digits).and_then(|n| u16::try_from(n).ok())
}

/// `HH:MM` (hour in one or two digits), optionally `:SS`: hour, minute, second.
fn clock(text: &[u8]) -> Option<(u8, u8, u8)> {
    let mut parts = text.split(|&b| b == b':');
    let hour = parts.next().filter(|h| (1..=2).contains(&h.len()))?;
    let minute = parts.next().filter(|m| m.len() == 2)?;
    let second = match parts.next() {
        Some(s) if s.len() == 2 => small(s)?,
        Some(_) => return None,
        None => 0,
    };
    if parts.next().is_some() {
        return None;
    }
    let (hour, minute) = (small(hour)?, small(minute)?);
    (hour < 24 && minute < 60 && second < 60).then(|| {
        (
            u8::try_from(hour).unwrap_or(0),
            u8::try_from(minute).unwrap_or(0),
            u8::try_from(second).unwrap_or(0),
        )
    })
}
