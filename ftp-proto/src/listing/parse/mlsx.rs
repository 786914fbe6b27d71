//! MLSD and MLST lines (RFC 3659 section 7.2): `fact=value;fact=value; name`.
//!
//! Owns the facts a client reads into an [`Entry`]: `type`, `size`, `sizd`, `modify`, `perm`,
//! `unique`, `UNIX.mode` and the owner and group facts servers send (`UNIX.owner`,
//! `UNIX.ownername`, `UNIX.uid`, `UNIX.group`, `UNIX.groupname`, `UNIX.gid`). Fact names and
//! `type` values are case-insensitive (RFC 3659 section 7.1); other facts are ignored; a fact
//! whose value does not parse is left out rather than failing the line.

use std::sync::Arc;

use super::eplf::octal;
use super::{MAX_LIST_LINE, Parsed, number, screen};
use crate::Timestamp;
use crate::listing::{Entry, EntryKind, S_IFBLK, S_IFCHR, S_IFIFO, S_IFSOCK};

/// Parses one MLSD line (without its line end) into an entry.
///
/// The facts end at the first space; the name is everything after that space, byte-exact. An
/// MLST fact line, which starts with one more space (RFC 3659 section 7.2), is accepted too.
/// Returns `None` when the line is not `facts SP name`, is longer than
/// [`MAX_LIST_LINE`](super::MAX_LIST_LINE), describes the listed directory or its parent
/// (`type=cdir`, `type=pdir`: not entries of the listing), or names something other than an
/// entry of the listed directory (see [names a listing may yield](crate::listing#names-a-listing-may-yield)).
///
/// The kind comes from `type`: `file`, `dir`, `OS.unix=symlink`, `OS.unix=slink` and
/// `OS.unix=slink:target` (a [`EntryKind::Symlink`] with its target), `OS.unix=fifo`, `socket`,
/// `chr` and `blk` (an [`EntryKind::Other`] whose [`Entry::unix_mode`] carries the type bits,
/// permissions 0 unless `UNIX.mode` gives them); any other type is [`EntryKind::Other`] and no
/// `type` fact means a file. `size` (or, failing it, `sizd`) is the size; the owner is
/// `UNIX.ownername`, else `UNIX.owner`, else `UNIX.uid`, and likewise for the group.
///
/// ```
/// use ftp_proto::Timestamp;
/// use ftp_proto::listing::{EntryKind, parse_mlsx_line};
///
/// let e = parse_mlsx_line(b"Type=file;Size=52113;Modify=20240307120500.250;UNIX.mode=0644;UNIX.owner=alice; my notes.txt").unwrap();
/// assert_eq!(e.name, b"my notes.txt");
/// assert_eq!((e.kind, e.size, e.unix_mode), (EntryKind::File, 52113, Some(0o644)));
/// assert_eq!(e.modified, Timestamp::new(2024, 3, 7, 12, 5, 0).and_then(|t| t.with_millis(250)));
/// assert_eq!(e.owner.as_deref(), Some("alice"));
///
/// let link = parse_mlsx_line(b"type=OS.unix=slink:/srv/data; data").unwrap();
/// assert_eq!(link.kind, EntryKind::Symlink { target: Some(b"/srv/data".to_vec()) });
///
/// assert!(parse_mlsx_line(b"type=cdir;perm=el; /pub").is_none());
/// assert!(parse_mlsx_line(b"type=file;size=1; ../escape").is_none());
/// ```
pub fn parse_mlsx_line(line: &[u8]) -> Option<Entry> {
    if line.len() > MAX_LIST_LINE {
        return None;
    }
    match screen(parse_facts_line(line)) {
        Parsed::Entry(entry) => Some(entry),
        Parsed::Dropped | Parsed::NotThisFormat => None,
    }
}

/// True when the line's facts include `type`: how auto-detection tells an MLSD line from text
/// that merely has a `=` before its first space.
pub(super) fn has_type_fact(line: &[u8]) -> bool {
    split_line(line).is_some_and(|(facts, _)| {
        facts
            .split(|&b| b == b';')
            .any(|f| f.get(..5).is_some_and(|k| k.eq_ignore_ascii_case(b"type=")))
    })
}

/// An MLSx line or MLST fact line as it is: `cdir` and `pdir` kept, the name (or MLST pathname)
/// not checked. For the listing parsers (which screen it) and the MLST reply parser.
pub(crate) fn parse_facts_line(line: &[u8]) -> Option<Entry> {
    let (facts, name) = split_line(line)?;
    if name.is_empty() {
        return None;
    }
    let mut entry = Entry {
        name: name.to_vec(),
        ..Entry::default()
    };
    let (mut type_bits, mut size, mut sizd, mut perms) = (0, None, None, None);
    let mut owner: [Option<String>; 3] = Default::default();
    let mut group: [Option<String>; 3] = Default::default();
    for fact in facts.split(|&b| b == b';') {
        if fact.is_empty() {
            continue;
        }
        let eq = fact.iter().position(|&b| b == b'=')?;
        let (key, value) = (fact.get(..eq)?, fact.get(eq + 1..)?);
        let text = || core::str::from_utf8(value).ok().map(str::to_owned);
        let is = |name: &str| key.eq_ignore_ascii_case(name.as_bytes());
        if is("type") {
            (entry.kind, type_bits) = kind(value);
        } else if is("size") {
            size = number(value);
        } else if is("sizd") {
            sizd = number(value);
        } else if is("modify") {
            entry.modified = Timestamp::parse(value).ok();
        } else if is("perm") {
            entry.perm = text();
        } else if is("unique") {
            entry.unique = text();
        } else if is("unix.mode") {
            perms = octal(value);
        } else if let Some(slot) = rank(key, ["ownername", "owner", "uid"]) {
            owner[slot] = text().filter(|t| !t.is_empty());
        } else if let Some(slot) = rank(key, ["groupname", "group", "gid"]) {
            group[slot] = text().filter(|t| !t.is_empty());
        }
    }
    entry.size = size.or(sizd).unwrap_or(0);
    entry.unix_mode = match (perms, type_bits) {
        (None, 0) => None,
        (p, bits) => Some(p.unwrap_or(0) | bits),
    };
    let [o1, o2, o3] = owner;
    entry.owner = o1.or(o2).or(o3).map(Arc::from);
    let [g1, g2, g3] = group;
    entry.group = g1.or(g2).or(g3).map(Arc::from);
    Some(entry)
}

/// Facts and name: `facts SP name`, or ` facts SP name` for MLST. A line with no facts at all
/// is ` name`.
fn split_line(line: &[u8]) -> Option<(&[u8], &[u8])> {
    let body = match line.strip_prefix(b" ") {
        Some(rest) if looks_like_facts(rest) => rest,
        _ => line,
    };
    let space = body.iter().position(|&b| b == b' ')?;
    Some((body.get(..space)?, body.get(space + 1..)?))
}

fn looks_like_facts(text: &[u8]) -> bool {
    let first = text.split(|&b| b == b' ').next().unwrap_or_default();
    first.contains(&b'=') && first.ends_with(b";")
}

/// Which of the three owner (or group) facts this is, in order of preference: the name, the
/// `UNIX.owner` fact (a name or an id, by server), the numeric id.
fn rank(key: &[u8], names: [&str; 3]) -> Option<usize> {
    let key = key
        .get(..5)
        .filter(|p| p.eq_ignore_ascii_case(b"unix."))
        .and_then(|_| key.get(5..))?;
    names
        .iter()
        .position(|n| key.eq_ignore_ascii_case(n.as_bytes()))
}

/// The kind and Unix type bits of a `type` value.
fn kind(value: &[u8]) -> (EntryKind, u32) {
    let lower = value.to_ascii_lowercase();
    match lower.as_slice() {
        b"file" => (EntryKind::File, 0),
        b"dir" => (EntryKind::Dir, 0),
        b"cdir" => (EntryKind::CurrentDir, 0),
        b"pdir" => (EntryKind::ParentDir, 0),
        b"os.unix=symlink" | b"os.unix=slink" => (EntryKind::Symlink { target: None }, 0),
        b"os.unix=fifo" => (EntryKind::Other, S_IFIFO),
        b"os.unix=socket" => (EntryKind::Other, S_IFSOCK),
        b"os.unix=chr" => (EntryKind::Other, S_IFCHR),
        b"os.unix=blk" => (EntryKind::Other, S_IFBLK),
        l if l.starts_with(b"os.unix=slink:") => {
            // The target keeps its case: only the prefix is case-insensitive.
            let target = value
                .get(14..)
                .filter(|t| !t.is_empty())
                .map(<[u8]>::to_vec);
            (EntryKind::Symlink { target }, 0)
        }
        _ => (EntryKind::Other, 0),
    }
}
