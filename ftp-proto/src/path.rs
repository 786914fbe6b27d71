//! Path arguments as they travel on the control connection, and the paths they resolve to.
//!
//! Owns [`FtpPath`], the byte-exact path argument of commands such as RETR, STOR or CWD. It
//! keeps every byte the peer sent (leading and trailing spaces, non-UTF-8 bytes); it does not
//! normalise, resolve or judge a path.
//!
//! Owns [`VirtualPath`] too: the absolute, normalised path inside the user's virtual root that
//! a server session resolves every argument to ([`VirtualPath::resolve`]), and [`PathError`].
//! This module never touches a file system and never maps a path onto storage: that is the
//! storage back end's job.

use core::fmt;
use std::borrow::Cow;

/// A path argument, kept byte for byte as it appeared on the wire (after Telnet unescaping).
///
/// RFC 2640 makes UTF-8 the default encoding, so [`FtpPath::to_str`] usually succeeds, but
/// nothing is lost when a legacy client sends Latin-1 or other bytes.
///
/// ```
/// use ftp_proto::FtpPath;
/// let p = FtpPath::from(" dir/na\u{ef}ve.txt");
/// assert_eq!(p.as_bytes(), " dir/na\u{ef}ve.txt".as_bytes());
/// assert_eq!(p.to_str(), Some(" dir/na\u{ef}ve.txt"));
///
/// let latin1 = FtpPath::from(&b"caf\xe9"[..]);
/// assert_eq!(latin1.to_str(), None);
/// assert_eq!(latin1.to_string_lossy(), "caf\u{fffd}");
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct FtpPath(Vec<u8>);

impl FtpPath {
    /// Wraps raw bytes.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self(bytes.into())
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Consumes the path, returning its bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }

    /// The path as UTF-8, if it is valid UTF-8.
    pub fn to_str(&self) -> Option<&str> {
        core::str::from_utf8(&self.0).ok()
    }

    /// The path as text, with invalid UTF-8 replaced by U+FFFD (for display only).
    pub fn to_string_lossy(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.0)
    }

    /// Number of bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when the path has no bytes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for FtpPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FtpPath(\"{}\")", self.0.escape_ascii())
    }
}

impl fmt::Display for FtpPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_string_lossy())
    }
}

impl From<&str> for FtpPath {
    fn from(s: &str) -> Self {
        Self(s.as_bytes().to_vec())
    }
}

impl From<String> for FtpPath {
    fn from(s: String) -> Self {
        Self(s.into_bytes())
    }
}

impl From<&[u8]> for FtpPath {
    fn from(b: &[u8]) -> Self {
        Self(b.to_vec())
    }
}

impl From<Vec<u8>> for FtpPath {
    fn from(b: Vec<u8>) -> Self {
        Self(b)
    }
}

impl AsRef<[u8]> for FtpPath {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// An absolute, normalised path inside the user's virtual root `/`, as bytes.
///
/// The server session keeps its working directory as a `VirtualPath` and resolves every path
/// argument against it ([`VirtualPath::resolve`]) before the application sees a request. Every
/// value of this type, however it was built, upholds:
///
/// - it starts with `/`, and the root is exactly `/`;
/// - it has no empty segments (`//`), no `.` or `..` segments and no trailing slash;
/// - no segment contains `/`, NUL, CR or LF (any other byte, including non-UTF-8, is kept).
///
/// So a `VirtualPath` can never name anything above its root: `..` is resolved here, once, and a
/// storage back end that maps the path under a user's home directory cannot be walked out of it
/// by `../../etc/passwd` (path traversal).
///
/// A backslash is an ordinary byte, not a separator, as on the Unix servers FTP grew up on:
/// `..\etc` is one file name. A back end that stores files on Windows, or anywhere else where
/// `\`, `:` or other bytes have a meaning, must reject or escape them when it maps the
/// segments ([`VirtualPath::segments`]) onto its storage. Nothing is percent-decoded or
/// tilde-expanded either: `%2e%2e` and `~` are names.
///
/// Paths order by segments, so a directory sorts right before everything below it.
///
/// ```
/// use ftp_proto::{FtpPath, VirtualPath};
/// let cwd = VirtualPath::root().resolve(&FtpPath::from("/pub/incoming")).unwrap();
/// let file = cwd.resolve(&FtpPath::from("../docs/./README")).unwrap();
/// assert_eq!(file.as_bytes(), b"/pub/docs/README");
/// assert!(file.starts_with(&cwd.parent()));
/// assert_eq!(file.quoted(), b"\"/pub/docs/README\"");
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct VirtualPath(Vec<u8>);

/// Why a path or file name was refused. Every variant deserves 553, "file name not allowed"
/// ([`PathError::reply_code`]).
///
/// [`VirtualPath::resolve`] only fails with [`PathError::ForbiddenByte`]: that is the peer's
/// doing. The other variants come from [`VirtualPath::join`], whose name usually comes from the
/// application (or from a peer, when the application passes one on).
///
/// ```
/// use ftp_proto::{FtpPath, PathError, ReplyCode, VirtualPath};
/// let err = VirtualPath::root().resolve(&FtpPath::from("a\r\nDELE b")).unwrap_err();
/// assert_eq!(err, PathError::ForbiddenByte(b'\r'));
/// assert_eq!(err.reply_code(), ReplyCode::FILE_NAME_NOT_ALLOWED);
/// assert_eq!(err.to_string(), "forbidden byte 0x0d in path");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PathError {
    /// The path holds CR, LF or NUL, which no file name may contain.
    #[error("forbidden byte {0:#04x} in path")]
    ForbiddenByte(u8),
    /// A file name to join was empty.
    #[error("empty file name")]
    EmptyName,
    /// A file name to join was `.` or `..`.
    #[error("dot segment as file name")]
    DotName,
    /// A file name to join held a `/`.
    #[error("slash in file name")]
    SlashInName,
}

impl PathError {
    /// The reply code a server should answer with: always 553, file name not allowed.
    pub fn reply_code(&self) -> crate::ReplyCode {
        crate::ReplyCode::FILE_NAME_NOT_ALLOWED
    }
}

/// The first CR, LF or NUL in `bytes`, as an error.
fn check_forbidden(bytes: &[u8]) -> Result<(), PathError> {
    match bytes.iter().find(|&&b| matches!(b, b'\r' | b'\n' | 0)) {
        Some(&b) => Err(PathError::ForbiddenByte(b)),
        None => Ok(()),
    }
}

impl VirtualPath {
    /// The virtual root, `/`.
    pub fn root() -> Self {
        Self(b"/".to_vec())
    }

    /// Resolves a path argument against `self` (the working directory), in time linear in the
    /// lengths of both.
    ///
    /// An argument starting with `/` starts from the root, any other from `self`. Empty
    /// segments (repeated or trailing slashes) and `.` are dropped; `..` removes the segment
    /// before it and does nothing at the root, so the result never leaves `/`. A blank argument
    /// (empty, or only spaces and tabs, which [`crate::Command::parse`] treats as absent too)
    /// resolves to `self`; reach a file whose name is all spaces as `./   `. Spaces elsewhere,
    /// backslashes, `...`, `%2e%2e` and non-UTF-8 bytes are parts of names.
    ///
    /// # Errors
    ///
    /// [`PathError::ForbiddenByte`] if the argument holds CR, LF or NUL anywhere.
    ///
    /// ```
    /// use ftp_proto::{FtpPath, VirtualPath};
    /// let cwd = VirtualPath::root().resolve(&FtpPath::from("/home/alice")).unwrap();
    /// let resolve = |arg: &str| cwd.resolve(&FtpPath::from(arg)).unwrap().to_string();
    /// assert_eq!(resolve("notes.txt"), "/home/alice/notes.txt");
    /// assert_eq!(resolve("./a//b/"), "/home/alice/a/b");
    /// assert_eq!(resolve(".."), "/home");
    /// assert_eq!(resolve("/pub"), "/pub");
    /// // A traversal attempt stops at the virtual root.
    /// assert_eq!(resolve("../../../../etc/passwd"), "/etc/passwd");
    /// // A backslash is not a separator.
    /// assert_eq!(resolve("..\\..\\etc"), "/home/alice/..\\..\\etc");
    /// assert!(cwd.resolve(&FtpPath::from("a\0b")).is_err());
    /// ```
    pub fn resolve(&self, arg: &FtpPath) -> Result<Self, PathError> {
        let arg = arg.as_bytes();
        check_forbidden(arg)?;
        if crate::command::is_blank(arg) {
            return Ok(self.clone());
        }
        // `out` holds `/segment` pairs; the root is the empty vector until the end. Each byte
        // is pushed once and scanned at most once more by a `..`, so the whole is linear.
        let mut out = Vec::with_capacity(self.0.len() + arg.len() + 1);
        if !arg.starts_with(b"/") && !self.is_root() {
            out.extend_from_slice(&self.0);
        }
        for segment in arg.split(|&b| b == b'/') {
            match segment {
                b"" | b"." => {}
                b".." => {
                    let cut = out.iter().rposition(|&b| b == b'/').unwrap_or(0);
                    out.truncate(cut);
                }
                name => {
                    out.push(b'/');
                    out.extend_from_slice(name);
                }
            }
        }
        if out.is_empty() {
            out.push(b'/');
        }
        Ok(Self(out))
    }

    /// The path one level below `self`, named `name`.
    ///
    /// # Errors
    ///
    /// If `name` is not exactly one file name: empty, `.`, `..`, or holding `/`, CR, LF or NUL.
    ///
    /// ```
    /// use ftp_proto::{PathError, VirtualPath};
    /// let dir = VirtualPath::root().join("pub").unwrap();
    /// assert_eq!(dir.join("a b").unwrap().as_bytes(), b"/pub/a b");
    /// assert_eq!(dir.join(".."), Err(PathError::DotName));
    /// assert_eq!(dir.join("a/b"), Err(PathError::SlashInName));
    /// ```
    pub fn join(&self, name: impl AsRef<[u8]>) -> Result<Self, PathError> {
        let name = name.as_ref();
        check_forbidden(name)?;
        match name {
            b"" => return Err(PathError::EmptyName),
            b"." | b".." => return Err(PathError::DotName),
            _ if name.contains(&b'/') => return Err(PathError::SlashInName),
            _ => {}
        }
        let mut out = Vec::with_capacity(self.0.len() + name.len() + 1);
        if !self.is_root() {
            out.extend_from_slice(&self.0);
        }
        out.push(b'/');
        out.extend_from_slice(name);
        Ok(Self(out))
    }

    /// True for the root, `/`.
    pub fn is_root(&self) -> bool {
        self.0 == b"/"
    }

    /// The raw bytes, starting with `/`.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Consumes the path, returning its bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }

    /// The path as UTF-8, if it is valid UTF-8.
    pub fn to_str(&self) -> Option<&str> {
        core::str::from_utf8(&self.0).ok()
    }

    /// The path as text, with invalid UTF-8 replaced by U+FFFD (for display only).
    pub fn to_string_lossy(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.0)
    }

    /// The segments (file names) from the root down; none for the root.
    pub fn segments(&self) -> Segments<'_> {
        Segments {
            rest: self.0.get(1..).unwrap_or_default(),
        }
    }

    /// The directory containing `self`; the root is its own parent.
    pub fn parent(&self) -> Self {
        match self.0.iter().rposition(|&b| b == b'/') {
            Some(cut) if cut > 0 => {
                let mut out = self.0.clone();
                out.truncate(cut);
                Self(out)
            }
            _ => Self::root(),
        }
    }

    /// The last segment; `None` for the root.
    pub fn file_name(&self) -> Option<&[u8]> {
        self.segments().next_back()
    }

    /// True if `base` is `self` or one of its ancestors, comparing whole segments.
    ///
    /// ```
    /// use ftp_proto::{FtpPath, VirtualPath};
    /// let path = |s: &str| VirtualPath::root().resolve(&FtpPath::from(s)).unwrap();
    /// assert!(path("/a/b").starts_with(&path("/a")));
    /// assert!(path("/a").starts_with(&path("/a")));
    /// assert!(path("/a").starts_with(&VirtualPath::root()));
    /// assert!(!path("/ab").starts_with(&path("/a")));
    /// ```
    pub fn starts_with(&self, base: &Self) -> bool {
        self.strip_prefix(base).is_some()
    }

    /// The segments of `self` below `base`, or `None` if `self` is not under `base` (see
    /// [`VirtualPath::starts_with`]). Empty when `self == base`.
    ///
    /// A storage back end maps a path under a user's home onto its own namespace with it:
    ///
    /// ```
    /// use ftp_proto::{FtpPath, VirtualPath};
    /// let path = |s: &str| VirtualPath::root().resolve(&FtpPath::from(s)).unwrap();
    /// let (file, home) = (path("/home/alice/docs/a.txt"), path("/home/alice"));
    /// let rel = file.strip_prefix(&home).unwrap();
    /// assert_eq!(rel.as_bytes(), b"docs/a.txt");
    /// assert_eq!(rel.collect::<Vec<_>>(), [&b"docs"[..], b"a.txt"]);
    /// assert!(path("/home/alicex").strip_prefix(&path("/home/alice")).is_none());
    /// ```
    pub fn strip_prefix(&self, base: &Self) -> Option<Segments<'_>> {
        if base.is_root() {
            return Some(self.segments());
        }
        let rest = self.0.strip_prefix(base.0.as_slice())?;
        let rest = match rest {
            [] => rest,
            [b'/', rest @ ..] => rest,
            _ => return None,
        };
        Some(Segments { rest })
    }

    /// The path as RFC 959 puts it in a 257 reply: in double quotes, each `"` inside doubled
    /// (Appendix II).
    ///
    /// ```
    /// use ftp_proto::{FtpPath, VirtualPath};
    /// let dir = VirtualPath::root().resolve(&FtpPath::from("a\"b")).unwrap();
    /// assert_eq!(dir.quoted(), b"\"/a\"\"b\"");
    /// assert_eq!(VirtualPath::root().quoted(), b"\"/\"");
    /// ```
    pub fn quoted(&self) -> Vec<u8> {
        let quotes = self.0.iter().filter(|&&b| b == b'"').count();
        let mut out = Vec::with_capacity(self.0.len() + quotes + 2);
        out.push(b'"');
        for &b in &self.0 {
            out.push(b);
            if b == b'"' {
                out.push(b'"');
            }
        }
        out.push(b'"');
        out
    }
}

impl Default for VirtualPath {
    /// The root.
    fn default() -> Self {
        Self::root()
    }
}

impl PartialOrd for VirtualPath {
    fn partial_cmp(&self, other: &Self) -> Option<core::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for VirtualPath {
    /// By segments, so `/a` < `/a/b` < `/a b` (a plain byte order would put `/a b` first).
    fn cmp(&self, other: &Self) -> core::cmp::Ordering {
        self.segments().cmp(other.segments())
    }
}

impl fmt::Debug for VirtualPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VirtualPath(\"{}\")", self.0.escape_ascii())
    }
}

impl fmt::Display for VirtualPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_string_lossy())
    }
}

impl AsRef<[u8]> for VirtualPath {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl From<VirtualPath> for FtpPath {
    /// The absolute path as an argument, e.g. for a client command; it resolves to itself.
    fn from(path: VirtualPath) -> Self {
        Self(path.0)
    }
}

/// The segments of a [`VirtualPath`], from either end: see [`VirtualPath::segments`] and
/// [`VirtualPath::strip_prefix`]. Each is a non-empty file name without `/`, NUL, CR or LF,
/// and never `.` or `..`.
#[derive(Debug, Clone)]
pub struct Segments<'a> {
    /// Segments joined by single slashes; no leading or trailing slash; empty when done.
    rest: &'a [u8],
}

impl<'a> Segments<'a> {
    /// The segments not yet iterated, joined by `/` (no leading slash; empty when none).
    pub fn as_bytes(&self) -> &'a [u8] {
        self.rest
    }
}

impl<'a> Iterator for Segments<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.rest.is_empty() {
            return None;
        }
        let (segment, rest) = match self.rest.iter().position(|&b| b == b'/') {
            Some(i) => (self.rest.get(..i)?, self.rest.get(i + 1..)?),
            None => (self.rest, &b""[..]),
        };
        self.rest = rest;
        Some(segment)
    }
}

impl<'a> DoubleEndedIterator for Segments<'a> {
    fn next_back(&mut self) -> Option<&'a [u8]> {
        if self.rest.is_empty() {
            return None;
        }
        let (rest, segment) = match self.rest.iter().rposition(|&b| b == b'/') {
            Some(i) => (self.rest.get(..i)?, self.rest.get(i + 1..)?),
            None => (&b""[..], self.rest),
        };
        self.rest = rest;
        Some(segment)
    }
}

impl core::iter::FusedIterator for Segments<'_> {}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Builds a path from bytes the test vouches for (bypassing `resolve`).
    fn vp(bytes: &[u8]) -> VirtualPath {
        assert!(
            invariant_holds(bytes),
            "bad test path {:?}",
            bytes.escape_ascii()
        );
        VirtualPath(bytes.to_vec())
    }

    fn resolve(cwd: &[u8], arg: &[u8]) -> Result<VirtualPath, PathError> {
        vp(cwd).resolve(&FtpPath::from(arg))
    }

    /// The type's invariant, checked independently of how `resolve` builds paths.
    fn invariant_holds(bytes: &[u8]) -> bool {
        if bytes == b"/" {
            return true;
        }
        let Some(rest) = bytes.strip_prefix(b"/") else {
            return false;
        };
        rest.split(|&b| b == b'/').all(|segment| {
            !segment.is_empty()
                && segment != b"."
                && segment != b".."
                && !segment.iter().any(|&b| matches!(b, b'\r' | b'\n' | 0))
        })
    }

    #[test]
    fn resolve_known_answers() {
        let cases: &[(&[u8], &[u8], &[u8])] = &[
            // (cwd, argument, expected)
            (b"/", b"a", b"/a"),
            (b"/a", b"b", b"/a/b"),
            (b"/a", b"/b", b"/b"),
            (b"/a/b", b"/", b"/"),
            (b"/a/b", b"..", b"/a"),
            (b"/a/b", b"../..", b"/"),
            (b"/a/b", b"../../../..", b"/"),
            (b"/", b"..", b"/"),
            (b"/", b"/../../etc", b"/etc"),
            (b"/home/u", b"../../../../etc/passwd", b"/etc/passwd"),
            (b"/a", b"b/../../../c", b"/c"),
            (b"/a", b".", b"/a"),
            (b"/a", b"./", b"/a"),
            (b"/a", b"./b", b"/a/b"),
            (b"/a", b"b/.", b"/a/b"),
            (b"/a", b"b/./c", b"/a/b/c"),
            (b"/a", b"//b//c//", b"/b/c"),
            (b"/a", b"b//c", b"/a/b/c"),
            (b"/a", b"b/", b"/a/b"),
            (b"/a", b"b///", b"/a/b"),
            (b"/a", b"//", b"/"),
            (b"/a", b"...", b"/a/..."),
            (b"/a", b"..foo", b"/a/..foo"),
            (b"/a", b"foo..", b"/a/foo.."),
            (b"/a", b".hidden", b"/a/.hidden"),
            (b"/a", b"my file.txt", b"/a/my file.txt"),
            (b"/a", b" lead", b"/a/ lead"),
            (b"/a", b"trail ", b"/a/trail "),
            (b"/a", b"./   ", b"/a/   "),
            (b"/a", b" /b", b"/a/ /b"),
            (b"/a", b"caf\xe9", b"/a/caf\xe9"),
            (b"/\xff", b"\xfe/..", b"/\xff"),
            (b"/a", b"..\\..\\etc", b"/a/..\\..\\etc"),
            (b"/a", b"b\\c", b"/a/b\\c"),
            (b"/a", b"%2e%2e/%2E%2E", b"/a/%2e%2e/%2E%2E"),
            (b"/a", b"~", b"/a/~"),
            (b"/a", b"C:", b"/a/C:"),
            (b"/a", b"a\"b", b"/a/a\"b"),
            (b"/a", b"\tx", b"/a/\tx"),
            // Blank arguments mean "here", as `Command::parse` treats them as absent.
            (b"/a", b"", b"/a"),
            (b"/a", b"   ", b"/a"),
            (b"/a", b" \t", b"/a"),
            (b"/", b"", b"/"),
        ];
        for &(cwd, arg, expected) in cases {
            let got = resolve(cwd, arg).unwrap();
            assert_eq!(
                got.as_bytes(),
                expected,
                "{:?} + {:?}",
                cwd.escape_ascii(),
                arg.escape_ascii()
            );
        }
    }

    #[test]
    fn resolve_rejects_cr_lf_nul() {
        for (arg, byte) in [
            (&b"a\rb"[..], b'\r'),
            (b"a\nb", b'\n'),
            (b"a\0b", 0),
            (b"\r\n", b'\r'),
            (b"../\0", 0),
            (b"\n", b'\n'),
            (b" \0 ", 0),
            (b"ok/\r", b'\r'),
        ] {
            let err = resolve(b"/a", arg).unwrap_err();
            assert_eq!(err, PathError::ForbiddenByte(byte));
            assert_eq!(err.reply_code(), crate::ReplyCode::FILE_NAME_NOT_ALLOWED);
        }
        assert_eq!(
            PathError::ForbiddenByte(0).to_string(),
            "forbidden byte 0x00 in path"
        );
    }

    #[test]
    fn long_traversal_is_linear_and_stays_inside() {
        // A full control line of `../` from a deep cwd: each byte is handled a bounded number
        // of times, so this is linear by construction (see `resolve`).
        let cwd = vp(&b"/x".repeat(1024));
        let arg = b"../".repeat(4096 / 3);
        assert!(cwd.resolve(&FtpPath::from(arg)).unwrap().is_root());
        // Down 800 levels and back up 801: one level above the cwd.
        let mut arg = b"a/".repeat(800);
        arg.extend(b"../".repeat(801));
        assert_eq!(cwd.resolve(&FtpPath::from(arg)).unwrap(), cwd.parent());
    }

    #[test]
    fn accessors() {
        let root = VirtualPath::root();
        assert!(root.is_root() && root == VirtualPath::default());
        assert_eq!(root.parent(), root);
        assert_eq!(root.file_name(), None);
        assert_eq!(root.segments().count(), 0);
        assert_eq!(root.to_string(), "/");

        let p = vp(b"/a/b c/\xff");
        assert!(!p.is_root());
        assert_eq!(p.parent(), vp(b"/a/b c"));
        assert_eq!(p.parent().parent(), vp(b"/a"));
        assert_eq!(p.parent().parent().parent(), root);
        assert_eq!(p.file_name(), Some(&b"\xff"[..]));
        assert_eq!(
            p.segments().collect::<Vec<_>>(),
            [&b"a"[..], b"b c", b"\xff"]
        );
        assert_eq!(
            p.segments().rev().collect::<Vec<_>>(),
            [&b"\xff"[..], b"b c", b"a"]
        );
        let mut both = p.segments();
        assert_eq!(
            (both.next(), both.next_back()),
            (Some(&b"a"[..]), Some(&b"\xff"[..]))
        );
        assert_eq!(both.as_bytes(), b"b c");
        assert_eq!(
            (both.next(), both.next(), both.next_back()),
            (Some(&b"b c"[..]), None, None)
        );
        assert_eq!(p.to_string_lossy(), "/a/b c/\u{fffd}");
        assert_eq!(p.to_str(), None);
        assert_eq!(format!("{p:?}"), r#"VirtualPath("/a/b c/\xff")"#);
        assert_eq!(p.as_ref(), p.as_bytes());
        assert_eq!(FtpPath::from(p.clone()).as_bytes(), p.as_bytes());
        assert_eq!(p.clone().into_bytes(), b"/a/b c/\xff");
    }

    #[test]
    fn join_is_checked() {
        let a = vp(b"/a");
        assert_eq!(a.join("b").unwrap(), vp(b"/a/b"));
        assert_eq!(VirtualPath::root().join(b"...").unwrap(), vp(b"/..."));
        assert_eq!(a.join(" ").unwrap(), vp(b"/a/ "));
        assert_eq!(a.join("x\\..").unwrap(), vp(b"/a/x\\.."));
        for (name, err) in [
            (&b""[..], PathError::EmptyName),
            (b".", PathError::DotName),
            (b"..", PathError::DotName),
            (b"b/c", PathError::SlashInName),
            (b"/", PathError::SlashInName),
            (b"b\0", PathError::ForbiddenByte(0)),
            (b"b\r", PathError::ForbiddenByte(b'\r')),
            (b"\n", PathError::ForbiddenByte(b'\n')),
        ] {
            assert_eq!(a.join(name), Err(err));
        }
    }

    #[test]
    fn prefixes_compare_whole_segments() {
        let (root, a, ab, a_b, a_b_c) = (
            VirtualPath::root(),
            vp(b"/a"),
            vp(b"/ab"),
            vp(b"/a/b"),
            vp(b"/a/b/c"),
        );
        assert!(a_b_c.starts_with(&a) && a_b_c.starts_with(&a_b) && a_b_c.starts_with(&root));
        assert!(a.starts_with(&a) && root.starts_with(&root));
        assert!(!ab.starts_with(&a) && !a.starts_with(&a_b) && !root.starts_with(&a));
        assert_eq!(a_b_c.strip_prefix(&a).unwrap().as_bytes(), b"b/c");
        assert_eq!(a_b_c.strip_prefix(&root).unwrap().as_bytes(), b"a/b/c");
        assert_eq!(a_b_c.strip_prefix(&a_b_c).unwrap().count(), 0);
        assert!(ab.strip_prefix(&a).is_none());
    }

    #[test]
    fn order_is_by_segments() {
        let mut paths = [vp(b"/a b"), vp(b"/a/b"), vp(b"/"), vp(b"/a"), vp(b"/a/a")];
        paths.sort();
        assert_eq!(
            paths,
            [vp(b"/"), vp(b"/a"), vp(b"/a/a"), vp(b"/a/b"), vp(b"/a b")]
        );
    }

    #[test]
    fn quoted_doubles_quotes() {
        assert_eq!(vp(b"/a\"b").quoted(), b"\"/a\"\"b\"");
        assert_eq!(vp(b"/\"\"").quoted(), b"\"/\"\"\"\"\"");
        assert_eq!(VirtualPath::root().quoted(), b"\"/\"");
    }

    /// Removes the outer quotes and undoubles inner ones; `None` if not RFC 959 quoting.
    fn unquote(q: &[u8]) -> Option<Vec<u8>> {
        let mut inner = q.strip_prefix(b"\"")?.strip_suffix(b"\"")?.iter();
        let mut out = Vec::new();
        while let Some(&b) = inner.next() {
            if b == b'"' && inner.next() != Some(&b'"') {
                return None;
            }
            out.push(b);
        }
        Some(out)
    }

    /// Argument bytes rich in separators and dots, with an occasional forbidden byte.
    fn arg_bytes() -> impl Strategy<Value = Vec<u8>> {
        let piece = prop_oneof![
            8 => Just(b"/".to_vec()),
            8 => Just(b"..".to_vec()),
            6 => Just(b".".to_vec()),
            4 => Just(b"a".to_vec()),
            2 => Just(b"...".to_vec()),
            2 => Just(b" ".to_vec()),
            2 => Just(b"\\".to_vec()),
            2 => Just(b"\"".to_vec()),
            2 => Just(vec![0xff]),
            4 => prop::collection::vec(any::<u8>(), 1..4),
            1 => prop::sample::select(vec![b"\r".to_vec(), b"\n".to_vec(), b"\0".to_vec()]),
        ];
        prop::collection::vec(piece, 0..40).prop_map(|pieces| pieces.concat())
    }

    /// Valid paths built segment by segment, independent of `resolve`.
    fn virtual_path() -> impl Strategy<Value = VirtualPath> {
        let segment = prop::collection::vec(any::<u8>(), 1..6)
            .prop_map(|s| {
                s.into_iter()
                    .filter(|b| !matches!(b, b'/' | b'\r' | b'\n' | 0))
                    .collect::<Vec<_>>()
            })
            .prop_filter("a file name", |s| !s.is_empty() && s != b"." && s != b"..");
        let named = prop_oneof![segment, Just(b"a".to_vec()), Just(b"...".to_vec())];
        prop::collection::vec(named, 0..6).prop_map(|segments| {
            let bytes: Vec<u8> = segments
                .iter()
                .flat_map(|s| [&b"/"[..], s].concat())
                .collect();
            if bytes.is_empty() {
                VirtualPath::root()
            } else {
                vp(&bytes)
            }
        })
    }

    /// The obvious stack model of resolution, to compare the in-place algorithm against.
    fn model(cwd: &VirtualPath, arg: &[u8]) -> Vec<Vec<u8>> {
        if arg.iter().all(|&b| b == b' ' || b == b'\t') {
            return cwd.segments().map(<[u8]>::to_vec).collect();
        }
        let mut stack: Vec<Vec<u8>> = if arg.starts_with(b"/") {
            Vec::new()
        } else {
            cwd.segments().map(<[u8]>::to_vec).collect()
        };
        for segment in arg.split(|&b| b == b'/') {
            match segment {
                b"" | b"." => {}
                b".." => {
                    stack.pop();
                }
                name => stack.push(name.to_vec()),
            }
        }
        stack
    }

    proptest! {
        #[test]
        fn resolve_keeps_the_invariant(cwd in virtual_path(), arg in arg_bytes()) {
            let forbidden = arg.iter().any(|&b| matches!(b, b'\r' | b'\n' | 0));
            match cwd.resolve(&FtpPath::from(arg.clone())) {
                Err(e) => {
                    prop_assert!(forbidden);
                    prop_assert!(matches!(e, PathError::ForbiddenByte(_)));
                }
                Ok(path) => {
                    prop_assert!(!forbidden);
                    prop_assert!(invariant_holds(path.as_bytes()), "{:?}", path);
                    prop_assert_eq!(path.segments().map(<[u8]>::to_vec).collect::<Vec<_>>(), model(&cwd, &arg));
                }
            }
        }

        #[test]
        fn resolved_paths_resolve_to_themselves(cwd in virtual_path(), other in virtual_path(), arg in arg_bytes()) {
            if let Ok(path) = cwd.resolve(&FtpPath::from(arg)) {
                prop_assert_eq!(&other.resolve(&FtpPath::from(path.clone())).unwrap(), &path);
                prop_assert_eq!(&path.resolve(&FtpPath::from("")).unwrap(), &path);
                prop_assert_eq!(&path.resolve(&FtpPath::from(".")).unwrap(), &path);
            }
        }

        #[test]
        fn quoted_round_trips(path in virtual_path(), arg in arg_bytes()) {
            let path = path.resolve(&FtpPath::from(arg)).unwrap_or(path);
            prop_assert_eq!(unquote(&path.quoted()), Some(path.into_bytes()));
        }

        #[test]
        fn structure_is_consistent(path in virtual_path(), base in virtual_path()) {
            // parent + file_name rebuild the path; strip_prefix + join rebuild it from a base.
            match path.file_name() {
                None => prop_assert!(path.is_root()),
                Some(name) => prop_assert_eq!(&path.parent().join(name).unwrap(), &path),
            }
            prop_assert!(path.parent() <= path && path.starts_with(&path.parent()));
            prop_assert_eq!(path.starts_with(&base), path.strip_prefix(&base).is_some());
            if let Some(rest) = path.strip_prefix(&base) {
                prop_assert!(base <= path);
                let rebuilt = rest.into_iter().try_fold(base.clone(), |p, s| p.join(s)).unwrap();
                prop_assert_eq!(&rebuilt, &path);
            }
            prop_assert_eq!(path.cmp(&base).is_eq(), path == base);
        }
    }
}
