//! MLSD and MLST lines (RFC 3659 section 7) and the fact selection behind OPTS MLST and FEAT.
//!
//! Owns the facts this crate can send, their names and value syntax, the `OPTS MLST` argument
//! parser and the MLST feature line. It must not decide which facts a session selects (the
//! session keeps its [`Facts`]) nor invent facts the application did not give.

use core::fmt;

use super::{Entry, EntryKind, Special, UnrepresentableName, check_name};

/// One MLSx fact this crate can send (RFC 3659 section 7.5, and `UNIX.mode` as proftpd and
/// pure-ftpd send it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Fact {
    /// `type`: `file`, `dir`, `cdir`, `pdir` or `OS.unix=...` (section 7.5.1).
    Type,
    /// `size`: size in bytes, for everything but directories (section 7.5.7).
    Size,
    /// `modify`: last modification time, `YYYYMMDDHHMMSS[.sss]` UTC (section 7.5.3).
    Modify,
    /// `perm`: what the user may do with the object (section 7.5.5).
    Perm,
    /// `unique`: an identifier of the object, whatever its name (section 7.5.2).
    Unique,
    /// `UNIX.mode`: the Unix permission bits in octal, such as `0644`.
    UnixMode,
}

impl Fact {
    /// Every fact, in the order lines and the FEAT line list them.
    pub const ALL: [Fact; 6] = [
        Fact::Type,
        Fact::Size,
        Fact::Modify,
        Fact::Perm,
        Fact::Unique,
        Fact::UnixMode,
    ];

    /// The fact name as sent: `type`, `size`, `modify`, `perm`, `unique`, `UNIX.mode`.
    pub fn name(self) -> &'static str {
        match self {
            Fact::Type => "type",
            Fact::Size => "size",
            Fact::Modify => "modify",
            Fact::Perm => "perm",
            Fact::Unique => "unique",
            Fact::UnixMode => "UNIX.mode",
        }
    }

    /// The fact with this name, compared case-insensitively (RFC 3659 section 7.1).
    pub fn from_name(name: &str) -> Option<Fact> {
        Fact::ALL
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(name))
    }

    const fn bit(self) -> u16 {
        1 << self as u16
    }
}

/// The set of facts MLSD and MLST send: the session keeps one, changed by `OPTS MLST`.
///
/// [`Facts::default`] is `type`, `size`, `modify`, `perm` and `unique`, the RFC 3659 facts
/// this crate supports; `UNIX.mode` is offered but sent only on request. Whatever the set, a
/// line carries a fact only when the entry has a value for it.
///
/// ```
/// use ftp_proto::listing::{Fact, Facts};
///
/// // OPTS MLST: names are case-insensitive, unknown names are ignored (RFC 3659 section 7.9).
/// let facts = Facts::parse_opts("Size;TYPE;unix.MODE;media-type;");
/// assert_eq!(facts, Facts::NONE.with(Fact::Type).with(Fact::Size).with(Fact::UnixMode));
/// assert_eq!(facts.opts_reply_text(), "MLST OPTS type;size;UNIX.mode;");
/// assert_eq!(facts.feat_line(), "MLST type*;size*;modify;perm;unique;UNIX.mode*;");
///
/// // `OPTS MLST` with no list selects no facts at all.
/// assert_eq!(Facts::parse_opts(""), Facts::NONE);
/// assert_eq!(Facts::NONE.opts_reply_text(), "MLST OPTS");
///
/// assert_eq!(Facts::default().feat_line(), "MLST type*;size*;modify*;perm*;unique*;UNIX.mode;");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Facts(u16);

impl Facts {
    /// No facts: lines carry only the name.
    pub const NONE: Facts = Facts(0);
    /// Every fact this crate can send.
    pub const ALL: Facts = Facts(
        Fact::Type.bit()
            | Fact::Size.bit()
            | Fact::Modify.bit()
            | Fact::Perm.bit()
            | Fact::Unique.bit()
            | Fact::UnixMode.bit(),
    );
    /// The default selection: everything but `UNIX.mode`.
    const DEFAULT: Facts = Facts(Facts::ALL.0 & !Fact::UnixMode.bit());

    /// This set with `fact` added.
    #[must_use]
    pub const fn with(self, fact: Fact) -> Self {
        Facts(self.0 | fact.bit())
    }

    /// This set with `fact` removed.
    #[must_use]
    pub const fn without(self, fact: Fact) -> Self {
        Facts(self.0 & !fact.bit())
    }

    /// True when `fact` is selected.
    pub const fn contains(self, fact: Fact) -> bool {
        self.0 & fact.bit() != 0
    }

    /// True when no fact is selected.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The selected facts, in [`Fact::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = Fact> {
        Fact::ALL.into_iter().filter(move |&f| self.contains(f))
    }

    /// The facts named in an `OPTS MLST` argument (RFC 3659 section 7.9): a list of fact
    /// names, each ended by `;` (a missing last `;` and blanks around names are tolerated).
    /// Names are case-insensitive; names this crate does not know are ignored. An empty
    /// argument (`OPTS MLST` alone) selects no facts.
    ///
    /// Every input gives a set; the session replies `200` with [`Facts::opts_reply_text`].
    pub fn parse_opts(arg: &str) -> Self {
        arg.split(';')
            .filter_map(|name| Fact::from_name(name.trim()))
            .collect()
    }

    /// The text of the `200` reply to `OPTS MLST`: `MLST OPTS` and the selected facts, such as
    /// `MLST OPTS type;size;` (RFC 3659 section 7.9).
    pub fn opts_reply_text(self) -> String {
        if self.is_empty() {
            "MLST OPTS".to_owned()
        } else {
            format!("MLST OPTS {self}")
        }
    }

    /// The MLST line of the FEAT reply (RFC 3659 section 7.8): every supported fact, the
    /// selected ones marked `*`, such as `MLST type*;size*;modify*;perm*;unique*;UNIX.mode;`.
    /// The session adds the leading space that FEAT's feature lines carry.
    pub fn feat_line(self) -> String {
        let mut line = String::from("MLST ");
        for fact in Fact::ALL {
            line.push_str(fact.name());
            if self.contains(fact) {
                line.push('*');
            }
            line.push(';');
        }
        line
    }
}

impl Default for Facts {
    fn default() -> Self {
        Facts::DEFAULT
    }
}

impl FromIterator<Fact> for Facts {
    fn from_iter<I: IntoIterator<Item = Fact>>(iter: I) -> Self {
        iter.into_iter().fold(Facts::NONE, Facts::with)
    }
}

/// The selected fact names, each followed by `;`, as in `type;size;modify;`.
impl fmt::Display for Facts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for fact in self.iter() {
            write!(f, "{};", fact.name())?;
        }
        Ok(())
    }
}

impl fmt::Debug for Facts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

/// Appends one MLSD line: `fact=value;...; name` and CRLF (RFC 3659 section 7.2).
///
/// Facts come in [`Fact::ALL`] order; a selected fact is left out when the entry has no value
/// for it (no `modify` without [`Entry::modified`], no `size` for directories, ...). The
/// `type` values are:
///
/// | [`EntryKind`] | `type=` |
/// |---|---|
/// | `File` | `file` |
/// | `Dir` | `dir` |
/// | `CurrentDir`, `ParentDir` | `cdir`, `pdir` |
/// | `Symlink` with a target that is a valid fact value | `OS.unix=slink:`*target* (RFC 3659's examples; FileZilla, pure-ftpd) |
/// | `Symlink`, other | `OS.unix=symlink` (proftpd's form, RFC 3659 erratum 1500) |
/// | `Other` | `OS.unix=fifo`, `socket`, `chr`, `blk` (from the mode's type bits), else `OS.unix=other` |
///
/// `modify` has milliseconds only when the timestamp has them; `UNIX.mode` is octal with a
/// leading zero (`0644`, `04755`); `perm` keeps only the letters `acdeflmprw`.
///
/// # Errors
///
/// [`UnrepresentableName`] when the name is empty or holds CR, LF or NUL; nothing is written.
///
/// ```
/// use ftp_proto::Timestamp;
/// use ftp_proto::listing::{Entry, EntryKind, Fact, Facts, mlsx_line};
///
/// let mut out = Vec::new();
/// let file = Entry {
///     modified: Timestamp::new(2024, 3, 7, 14, 5, 9),
///     perm: Some("adfrw".into()),
///     unix_mode: Some(0o644),
///     ..Entry::file("my notes.txt", 4096)
/// };
/// mlsx_line(&file, Facts::default(), &mut out).unwrap();
/// let cdir = Entry { kind: EntryKind::CurrentDir, perm: Some("el".into()), ..Entry::dir(".") };
/// mlsx_line(&cdir, Facts::default().with(Fact::UnixMode), &mut out).unwrap();
/// assert_eq!(
///     String::from_utf8(out).unwrap(),
///     "type=file;size=4096;modify=20240307140509;perm=adfrw; my notes.txt\r\n\
///      type=cdir;perm=el; .\r\n"
/// );
/// ```
pub fn mlsx_line(
    entry: &Entry,
    facts: Facts,
    out: &mut Vec<u8>,
) -> Result<(), UnrepresentableName> {
    check_name(&entry.name)?;
    write_facts(entry, facts, out);
    out.push(b' ');
    out.extend_from_slice(&entry.name);
    out.extend_from_slice(b"\r\n");
    Ok(())
}

/// Writes the MLST form of an entry: a space, the facts, a space and the full `pathname`,
/// without a line end (RFC 3659 section 7.2).
///
/// The session sends it as the middle line of its `250` reply, e.g. `250-Listing /pub`, this
/// line, `250 End`; the reply encoder doubles any 0xFF byte for the control connection. The
/// facts are as for [`mlsx_line`]; `entry.name` is not used.
///
/// # Errors
///
/// [`UnrepresentableName`] when `pathname` is empty or holds CR, LF or NUL; nothing is
/// written.
///
/// ```
/// use ftp_proto::listing::{Entry, Facts, mlst_line};
///
/// let mut line = Vec::new();
/// mlst_line(&Entry::dir("pub"), b"/pub", Facts::default(), &mut line).unwrap();
/// assert_eq!(line, b" type=dir; /pub");
/// ```
pub fn mlst_line(
    entry: &Entry,
    pathname: &[u8],
    facts: Facts,
    out: &mut Vec<u8>,
) -> Result<(), UnrepresentableName> {
    check_name(pathname)?;
    out.push(b' ');
    write_facts(entry, facts, out);
    out.push(b' ');
    out.extend_from_slice(pathname);
    Ok(())
}

/// `fact=value;` for each selected fact the entry has a value for.
fn write_facts(entry: &Entry, facts: Facts, out: &mut Vec<u8>) {
    for fact in facts.iter() {
        let start = out.len();
        out.extend_from_slice(fact.name().as_bytes());
        out.push(b'=');
        let written = match fact {
            Fact::Type => {
                write_type(entry, out);
                true
            }
            Fact::Size if !entry.kind.is_dir() => {
                out.extend_from_slice(entry.size.to_string().as_bytes());
                true
            }
            Fact::Size => false,
            Fact::Modify => entry.modified.is_some_and(|t| {
                out.extend_from_slice(t.to_string().as_bytes());
                true
            }),
            Fact::Perm => entry.perm.as_deref().is_some_and(|perm| {
                out.extend(
                    perm.bytes()
                        .filter(|b| b"acdeflmprw".contains(&b.to_ascii_lowercase())),
                );
                true
            }),
            Fact::Unique => entry
                .unique
                .as_deref()
                .filter(|u| is_fact_value(u.as_bytes()))
                .is_some_and(|u| {
                    out.extend_from_slice(u.as_bytes());
                    true
                }),
            Fact::UnixMode => entry.unix_mode.is_some_and(|mode| {
                out.extend_from_slice(format!("0{:03o}", mode & 0o7777).as_bytes());
                true
            }),
        };
        if written {
            out.push(b';');
        } else {
            out.truncate(start);
        }
    }
}

fn write_type(entry: &Entry, out: &mut Vec<u8>) {
    let value: &[u8] = match &entry.kind {
        EntryKind::File => b"file",
        EntryKind::Dir => b"dir",
        EntryKind::CurrentDir => b"cdir",
        EntryKind::ParentDir => b"pdir",
        EntryKind::Symlink {
            target: Some(target),
        } if is_fact_value(target) => {
            out.extend_from_slice(b"OS.unix=slink:");
            target
        }
        EntryKind::Symlink { .. } => b"OS.unix=symlink",
        EntryKind::Other => match Special::of(entry.unix_mode) {
            Special::Fifo => b"OS.unix=fifo",
            Special::CharDevice => b"OS.unix=chr",
            Special::BlockDevice => b"OS.unix=blk",
            Special::Socket => b"OS.unix=socket",
            Special::Unknown => b"OS.unix=other",
        },
    };
    out.extend_from_slice(value);
}

/// True when `value` can stand after `fact=` without ending the fact (`;`), the fact list (a
/// space) or the line (control bytes). Other bytes, UTF-8 included, pass.
fn is_fact_value(value: &[u8]) -> bool {
    !value.is_empty()
        && value
            .iter()
            .all(|&b| b != b';' && b != b' ' && !b.is_ascii_control())
}
