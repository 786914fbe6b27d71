//! Path arguments as they travel on the control connection.
//!
//! Owns [`FtpPath`], the byte-exact path argument of commands such as RETR, STOR or CWD. It
//! keeps every byte the peer sent (leading and trailing spaces, non-UTF-8 bytes); it does not
//! normalise, resolve or judge a path: that is the server session's job.

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
