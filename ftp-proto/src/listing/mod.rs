//! Directory listings in both roles: LIST, NLST, MLSD and MLST lines as a server formats them
//! and as a client parses them, with one [`Entry`] type for both.
//!
//! **Server role.** The application describes directory entries as [`Entry`] values; the
//! server session turns each one into a line with a formatter from this module:
//!
//! | command | formatter | sent over | line end |
//! |---|---|---|---|
//! | LIST | [`list_line`] | data connection | CRLF |
//! | STAT *path* | [`list_line`] | control, inside a 211/212/213 reply | session strips it |
//! | NLST | [`nlst_line`] | data connection | CRLF |
//! | MLSD | [`mlsx_line`] | data connection | CRLF |
//! | MLST | [`mlst_line`] | control, inside a 250 reply | none |
//!
//! **Client role.** What a server sends back becomes [`Entry`] values again:
//! [`parse_listing`] and the streaming [`ListingParser`] read LIST data in the Unix, DOS/IIS
//! and EPLF formats (detected line by line) and MLSD data ([`ListingFormat::Mlsx`]);
//! [`parse_list_line`] and [`parse_mlsx_line`] read one line. They drop entries whose names
//! would leave the listed directory (`..`, `/etc/x`), and [`local_name`] checks a name before
//! a client uses it as a local file name. MLST replies are read by
//! [`crate::client::parse::parse_mlst`].
//!
//! For the server role it owns the byte layout of those lines, the MLSx fact selection
//! ([`Facts`]: the OPTS MLST argument and the FEAT line) and the rule for names that cannot be
//! sent; for the client role, the line grammars and the rule for names a listing may yield. It
//! must not do I/O or read a clock: LIST's choice between a time and a year, and the year of a
//! parsed LIST date without one, use the `now` the caller passes in. It does not sort or filter entries (hidden files, globs), resolve paths or check
//! permissions; and it does not double 0xFF bytes: on the data connection (not Telnet) every
//! name byte goes out raw, and on the control connection the [`crate::Reply`] encoder doubles
//! them.
//!
//! # Names a listing may yield
//!
//! A listing names entries *inside* the listed directory. A server that lists `../x`, `/etc/x`,
//! `a/b`, `.` or `..` is describing something else, and a client that joins such a name to a
//! local directory would write outside it. Every listing-level parser ([`parse_list_line`],
//! [`parse_mlsx_line`], [`ListingParser`], [`parse_listing`]) therefore drops an entry whose
//! name is empty, `.` or `..`, or holds `/` or NUL (lftp drops names with `/` for the same
//! reason). [`local_name`] is stricter still and is what a client should call before creating
//! a local file.
//!
//! # Names that cannot be sent
//!
//! A listing is a sequence of lines, so a name holding LF, CR or NUL cannot be sent safely.
//! RFC 3659 section 2.2 sends a CR in a pathname as CR NUL and admits that LF cannot be
//! represented at all; but common clients end a line at a bare CR (FileZilla's parser, Python's
//! `str.splitlines`), so CR NUL would let a crafted name start a forged entry of its own. Every
//! formatter here therefore refuses an entry whose name (for MLST: pathname) is empty or holds
//! CR, LF or NUL: it returns [`UnrepresentableName`] and writes nothing, and the session leaves
//! the entry out (and may log it). Such a name could not be used in a command anyway: the
//! session's path type refuses those bytes in path arguments.
//!
//! The other fields cannot break a line either:
//! - a symlink target holding CR, LF or NUL is left out (LIST shows the name alone, MLSx
//!   `type=OS.unix=symlink`);
//! - whitespace and control characters in owner and group names become `_` in LIST, so the
//!   columns stay where parsers look for them;
//! - the MLSx `perm` fact keeps only the RFC 3659 letters, and a `unique` value or symlink
//!   target that is not a valid fact value (empty, or holding `;`, a space or a control byte)
//!   is left out.

mod glob;
mod ls;
mod mlsx;
mod parse;

#[cfg(test)]
mod tests;

pub use glob::{glob_match, has_wildcards};
pub use ls::{list_line, nlst_line};
pub use mlsx::{Fact, Facts, mlst_line, mlsx_line};
pub(crate) use parse::parse_facts_line;
pub use parse::{
    Listing, ListingFormat, ListingParser, MAX_LIST_LINE, UnsafeName, local_name, parse_list_line,
    parse_listing, parse_mlsx_line,
};

use std::sync::Arc;

use crate::Timestamp;

/// The entry's name (or the MLST pathname) cannot be sent in a listing line: it is empty or
/// holds CR, LF or NUL. Nothing was written; leave the entry out of the listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("name is empty or contains CR, LF or NUL")]
#[non_exhaustive]
pub struct UnrepresentableName;

/// What kind of object an [`Entry`] is.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum EntryKind {
    /// A regular file (the default).
    #[default]
    File,
    /// A directory.
    Dir,
    /// The directory being listed itself, as MLSD may send it first (`type=cdir`). LIST and
    /// NLST show it as an ordinary directory.
    CurrentDir,
    /// The parent of the directory being listed (`type=pdir`). LIST and NLST show it as an
    /// ordinary directory.
    ParentDir,
    /// A symbolic link, with its target when the application knows it.
    Symlink {
        /// The link's target, byte-exact.
        target: Option<Vec<u8>>,
    },
    /// Anything else: a FIFO, socket or device. When [`Entry::unix_mode`] carries the Unix type
    /// bits (`S_IFIFO`, `S_IFSOCK`, `S_IFCHR`, `S_IFBLK`) they pick the LIST type letter and
    /// the MLSx type; otherwise LIST shows `-` (curl rejects a whole listing over an unknown
    /// letter) and MLSx `type=OS.unix=other`.
    Other,
}

impl EntryKind {
    /// True for [`EntryKind::Dir`], [`EntryKind::CurrentDir`] and [`EntryKind::ParentDir`].
    pub fn is_dir(&self) -> bool {
        matches!(self, Self::Dir | Self::CurrentDir | Self::ParentDir)
    }
}

/// One directory entry, as the application describes it (server role) or a listing parser
/// read it (client role).
///
/// Every field but `name` and `kind` may be left at its default; the formatters fill in what a
/// listing needs (see [`list_line`]) or leave the MLSx fact out. Build one with a constructor
/// and struct update syntax:
///
/// ```
/// use ftp_proto::Timestamp;
/// use ftp_proto::listing::{Entry, EntryKind};
///
/// let report = Entry {
///     modified: Timestamp::from_unix(1_709_820_300),
///     unix_mode: Some(0o640),
///     owner: Some("alice".into()),
///     ..Entry::file("report.pdf", 52_113)
/// };
/// let link = Entry {
///     kind: EntryKind::Symlink { target: Some(b"report.pdf".to_vec()) },
///     ..Entry::default()
/// };
/// assert_eq!((report.size, report.nlink), (52_113, None));
/// assert_eq!(link.name, b"");
/// assert!(Entry::dir("pub").kind.is_dir());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Entry {
    /// The file name, byte-exact (may be non-UTF-8). For LIST, NLST and MLSD this is what the
    /// client sees as the name; an empty name or one holding CR, LF or NUL is refused.
    pub name: Vec<u8>,
    /// File, directory, symlink, ...
    pub kind: EntryKind,
    /// Size in bytes. MLSx sends it (`size`) for everything but directories.
    pub size: u64,
    /// Last modification time, UTC.
    pub modified: Option<Timestamp>,
    /// Unix permission bits, such as `0o644` or `0o4755`; the file type bits (`S_IFMT`) may be
    /// present. Listings use them only for [`EntryKind::Other`]; for a
    /// [`EntryKind::Symlink`] they may say what the link leads to (see
    /// [`Entry::leads_to_dir`]).
    pub unix_mode: Option<u32>,
    /// Owner name for LIST (default `ftp`). Shared (`Arc`), so that the entries of a listing
    /// can carry the same name without a copy each; `Some("alice".into())` builds one.
    pub owner: Option<Arc<str>>,
    /// Group name for LIST (default `ftp`), shared like [`Entry::owner`].
    pub group: Option<Arc<str>>,
    /// Hard link count for LIST (default 1).
    pub nlink: Option<u64>,
    /// The MLSx `perm` fact (RFC 3659 section 7.5.5): letters from `acdeflmprw`, such as
    /// `"adfrw"` for a file the user may append to, delete, rename, read and write.
    pub perm: Option<String>,
    /// The MLSx `unique` fact (RFC 3659 section 7.5.2): an identifier that is the same for
    /// every name of the same object, such as device and inode in hex (`"803g1a2b"`).
    pub unique: Option<String>,
}

impl Entry {
    /// True for a directory, and for a symlink whose [`Entry::unix_mode`] carries the type
    /// bits `S_IFDIR`: what it leads to, which an application that followed the link may put
    /// there. Such an entry can be entered and listed.
    ///
    /// ```
    /// use ftp_proto::listing::Entry;
    /// let mut link = Entry::symlink("pub", Some(b"srv/pub".to_vec()));
    /// assert!(!link.leads_to_dir());
    /// link.unix_mode = Some(0o040_777);
    /// assert!(link.leads_to_dir() && !link.leads_to_file());
    /// assert!(Entry::dir("d").leads_to_dir());
    /// ```
    pub fn leads_to_dir(&self) -> bool {
        match &self.kind {
            kind if kind.is_dir() => true,
            EntryKind::Symlink { .. } => self.type_bits() == Some(S_IFDIR),
            _ => false,
        }
    }

    /// True for a regular file, and for a symlink whose [`Entry::unix_mode`] carries the type
    /// bits `S_IFREG` (see [`Entry::leads_to_dir`]). Such an entry can be read and written.
    pub fn leads_to_file(&self) -> bool {
        match &self.kind {
            EntryKind::File => true,
            EntryKind::Symlink { .. } => self.type_bits() == Some(S_IFREG),
            _ => false,
        }
    }

    fn type_bits(&self) -> Option<u32> {
        self.unix_mode.map(|mode| mode & S_IFMT)
    }

    /// A regular file of `size` bytes; other fields at their defaults.
    pub fn file(name: impl Into<Vec<u8>>, size: u64) -> Self {
        Self {
            name: name.into(),
            size,
            ..Self::default()
        }
    }

    /// A directory; other fields at their defaults.
    pub fn dir(name: impl Into<Vec<u8>>) -> Self {
        Self {
            name: name.into(),
            kind: EntryKind::Dir,
            ..Self::default()
        }
    }

    /// A symbolic link to `target` (if known); other fields at their defaults.
    pub fn symlink(name: impl Into<Vec<u8>>, target: Option<Vec<u8>>) -> Self {
        Self {
            name: name.into(),
            kind: EntryKind::Symlink { target },
            ..Self::default()
        }
    }

    /// True when the formatters can send this entry's name (see the module documentation).
    pub fn has_representable_name(&self) -> bool {
        check_name(&self.name).is_ok()
    }
}

/// The one rule for names and pathnames in every listing form.
fn check_name(name: &[u8]) -> Result<(), UnrepresentableName> {
    if name.is_empty() || name.iter().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
        Err(UnrepresentableName)
    } else {
        Ok(())
    }
}

/// Unix file type bits (`S_IFMT` and the special types a listing distinguishes).
const S_IFMT: u32 = 0o170_000;
const S_IFDIR: u32 = 0o040_000;
const S_IFREG: u32 = 0o100_000;
const S_IFIFO: u32 = 0o010_000;
const S_IFCHR: u32 = 0o020_000;
const S_IFBLK: u32 = 0o060_000;
const S_IFSOCK: u32 = 0o140_000;

/// The special file types an [`EntryKind::Other`] can be told apart as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Special {
    Fifo,
    CharDevice,
    BlockDevice,
    Socket,
    Unknown,
}

impl Special {
    fn of(mode: Option<u32>) -> Self {
        match mode.map(|m| m & S_IFMT) {
            Some(S_IFIFO) => Self::Fifo,
            Some(S_IFCHR) => Self::CharDevice,
            Some(S_IFBLK) => Self::BlockDevice,
            Some(S_IFSOCK) => Self::Socket,
            _ => Self::Unknown,
        }
    }
}
