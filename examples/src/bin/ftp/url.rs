//! `ftp://` and `ftps://` URLs (RFC 1738 section 3.2), parsed into what the `ftp` CLI needs: where to
//! connect, who to log in as, the remote path and the `;type=` code. Owns the syntax only; it
//! never connects or touches a file.
//!
//! ```text
//! ftp://[user[:password]@]host[:port][/path][;type=a|i|d]
//! ftps://[user[:password]@]host[:port][/path][;type=a|i|d]
//! ```
//!
//! - The scheme is `ftp` or `ftps` (any case); any other scheme is refused. `ftps` means
//!   implicit FTPS: TLS from the first byte, port 990 by default.
//! - `user` and `password` are percent-decoded. Without them the login is `anonymous` with the
//!   password `anonymous@`.
//! - `host` is a name, an IPv4 address or an IPv6 address in brackets (`[::1]`); `port`
//!   defaults to 21 (990 for `ftps`; an empty port too).
//! - The path is split at each `/` and every segment is percent-decoded on its own; the
//!   segments are then joined with `/` into the path sent to the server. As RFC 1738 says, the
//!   path is relative to the login directory: `ftp://host/pub/f` names `pub/f` there. A first
//!   segment that starts with `/` (written `%2F`, as in `ftp://host/%2Fetc/motd`) or an empty
//!   first segment (`ftp://host//etc/motd`) makes it absolute: `/etc/motd`. A `%2F` in the
//!   middle of a segment becomes a `/` in the path (RFC 1738 leaves its meaning to the server;
//!   servers treat it as a separator).
//! - A path that ends with `/` names a directory (see [`FtpUrl::is_dir`]).
//! - `;type=a` asks for ASCII transfers, `;type=i` binary (the default) and `;type=d` a listing
//!   of names.
//!
//! Leniency and refusals: spaces and non-ASCII characters may appear unencoded (they arrive
//! that way from a shell); control characters may not appear at all, not even encoded
//! (`%0D%0A` would inject an FTP command), and neither may a raw `#` (write `%23`). Decoded
//! text must be UTF-8.

use std::fmt;
use std::net::Ipv6Addr;

use ftp_client_tokio::ftp_proto::Secret;

/// The port FTP servers listen on when a URL names none.
pub(crate) const DEFAULT_PORT: u16 = 21;

/// The port implicit-FTPS servers listen on when an `ftps://` URL names none.
pub(crate) const DEFAULT_FTPS_PORT: u16 = 990;

/// The user name of an anonymous login (a URL without `user@`).
pub(crate) const ANONYMOUS_USER: &str = "anonymous";

/// The password of an anonymous login, as RFC 1738 suggests (an e-mail-like string).
pub(crate) const ANONYMOUS_PASSWORD: &str = "anonymous@";

/// The `;type=` code at the end of an FTP URL's path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TypeCode {
    /// `a`: ASCII (text) transfers.
    Ascii,
    /// `i`: image (binary) transfers, the default.
    Image,
    /// `d`: a directory listing of names (NLST).
    Dir,
}

/// Why a string is not a usable `ftp://` URL. Every case is a usage error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum UrlError {
    /// No `scheme://` at the start.
    #[error("not a URL (expected ftp://HOST/PATH)")]
    NotAUrl,
    /// A scheme other than `ftp` or `ftps`.
    #[error("unsupported scheme {0:?}: only ftp:// and ftps:// URLs are understood")]
    Scheme(String),
    /// No host between `//` and the path.
    #[error("no host name")]
    NoHost,
    /// The host is neither a name, an IPv4 address nor a bracketed IPv6 address.
    #[error("bad host {0:?} (IPv6 addresses go in brackets: [::1])")]
    Host(String),
    /// The port is not a number from 1 to 65535.
    #[error("bad port {0:?} (expected 1-65535)")]
    Port(String),
    /// `user@` with an empty user name.
    #[error("empty user name before '@'")]
    EmptyUser,
    /// A `%` not followed by two hexadecimal digits.
    #[error("bad percent escape in {0:?} (expected %XX with two hex digits)")]
    Escape(String),
    /// Decoded text that is not UTF-8.
    #[error("{0} is not UTF-8 once decoded")]
    NotUtf8(&'static str),
    /// A control character (raw or encoded), which FTP cannot carry in a command.
    #[error("control character in the {0}")]
    ControlChar(&'static str),
    /// A raw `#`: URLs end there, FTP paths do not.
    #[error("raw '#' in the URL (write it as %23)")]
    Fragment,
    /// `;type=` with something other than `a`, `i` or `d`.
    #[error("unknown ;type={0} (expected a, i or d)")]
    TypeCode(String),
}

/// A parsed `ftp://` URL.
#[derive(Clone)]
pub(crate) struct FtpUrl {
    /// The host as a name or address, without IPv6 brackets (ready for a socket lookup).
    pub(crate) host: String,
    /// The port (21, or 990 for `ftps`, unless the URL names one).
    pub(crate) port: u16,
    /// `ftps://`: implicit TLS.
    pub(crate) implicit_tls: bool,
    user: Option<String>,
    password: Option<Secret<String>>,
    /// Decoded path segments; an empty last segment stands for a trailing `/`.
    segments: Vec<String>,
    /// The `;type=` code, if the URL has one.
    pub(crate) typecode: Option<TypeCode>,
    /// The URL as given, less its password, for messages.
    shown: String,
}

impl fmt::Debug for FtpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FtpUrl")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("implicit_tls", &self.implicit_tls)
            .field("user", &self.user)
            .field("password", &self.password)
            .field("segments", &self.segments)
            .field("typecode", &self.typecode)
            .finish()
    }
}

/// The URL without its password, for messages.
impl fmt::Display for FtpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

impl FtpUrl {
    /// Parses `text` as an `ftp://` URL (see the module documentation for the rules).
    pub(crate) fn parse(text: &str) -> Result<Self, UrlError> {
        if text.chars().any(char::is_control) {
            return Err(UrlError::ControlChar("URL"));
        }
        if text.contains('#') {
            return Err(UrlError::Fragment);
        }
        let (scheme, rest) = text.split_once("://").ok_or(UrlError::NotAUrl)?;
        if scheme.is_empty()
            || !scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        {
            return Err(UrlError::NotAUrl);
        }
        let implicit_tls = scheme.eq_ignore_ascii_case("ftps");
        if !implicit_tls && !scheme.eq_ignore_ascii_case("ftp") {
            return Err(UrlError::Scheme(scheme.to_owned()));
        }
        let (authority, raw_path) = rest.split_once('/').unwrap_or((rest, ""));
        // The last '@' ends the user information, so an unencoded '@' in a password still works.
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((userinfo, hostport)) => (Some(userinfo), hostport),
            None => (None, authority),
        };
        let (user, password) = match userinfo {
            None => (None, None),
            Some(info) => {
                let (user, password) = match info.split_once(':') {
                    Some((user, password)) => (user, Some(password)),
                    None => (info, None),
                };
                let user = decode_text(user, "user name")?;
                if user.is_empty() {
                    return Err(UrlError::EmptyUser);
                }
                let password = password
                    .map(|p| decode_text(p, "password"))
                    .transpose()?
                    .map(Secret::new);
                (Some(user), password)
            }
        };
        let default_port = if implicit_tls {
            DEFAULT_FTPS_PORT
        } else {
            DEFAULT_PORT
        };
        let (host, port) = parse_hostport(hostport, default_port)?;

        let (raw_path, typecode) = split_typecode(raw_path)?;
        let segments = if raw_path.is_empty() {
            Vec::new()
        } else {
            raw_path
                .split('/')
                .map(|s| decode_text(s, "path"))
                .collect::<Result<Vec<_>, _>>()?
        };

        let mut shown = format!("{}://", scheme.to_ascii_lowercase());
        if let Some(info) = userinfo {
            let user = info.split_once(':').map_or(info, |(user, _)| user);
            shown.push_str(user);
            shown.push('@');
        }
        shown.push_str(hostport);
        shown.push('/');
        shown.push_str(rest.split_once('/').map_or("", |(_, path)| path));
        Ok(Self {
            host,
            port,
            implicit_tls,
            user,
            password,
            segments,
            typecode,
            shown,
        })
    }

    /// The user name and password to log in with: the URL's, or `anonymous` / `anonymous@`.
    /// A user without a password logs in with an empty one.
    pub(crate) fn login(&self) -> (&str, &str) {
        match &self.user {
            None => (ANONYMOUS_USER, ANONYMOUS_PASSWORD),
            Some(user) => (
                user,
                self.password
                    .as_ref()
                    .map_or("", |p| p.expose_secret().as_str()),
            ),
        }
    }

    /// `host:port` as a socket lookup takes it (IPv6 addresses in brackets), for messages.
    pub(crate) fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The path to send to the server: the decoded segments joined with `/`. Empty for the
    /// login directory; ends with `/` when the URL does.
    pub(crate) fn path(&self) -> String {
        self.segments.join("/")
    }

    /// The path without a trailing `/` (for directory operations); empty for the login
    /// directory, `/` for the root.
    pub(crate) fn dir_path(&self) -> String {
        let path = self.path();
        let trimmed = path.trim_end_matches('/');
        if trimmed.is_empty() && path.starts_with('/') {
            "/".to_owned()
        } else {
            trimmed.to_owned()
        }
    }

    /// The path with `.` and empty segments dropped and each `..` taking away the segment
    /// before it, lexically, after percent-decoding (so `a/%2E%2E/./b/` gives `b`). Empty for
    /// the login directory, `/` for the root; a relative path that climbs above the login
    /// directory keeps its leading `..` segments, an absolute one stops at the root. The
    /// server is never asked: this is what the URL says, not what the server's links make of
    /// it.
    pub(crate) fn normalized_path(&self) -> String {
        let path = self.path();
        let absolute = path.starts_with('/');
        let mut kept: Vec<&str> = Vec::new();
        for segment in path.split('/') {
            match segment {
                "" | "." => {}
                ".." => match kept.last() {
                    Some(&last) if last != ".." => {
                        kept.pop();
                    }
                    // Above the root is the root.
                    _ if absolute => {}
                    _ => kept.push(".."),
                },
                name => kept.push(name),
            }
        }
        let joined = kept.join("/");
        if absolute {
            format!("/{joined}")
        } else {
            joined
        }
    }

    /// True when the URL's path, normalised ([`FtpUrl::normalized_path`]), is the login
    /// directory, the root, or a directory above the login directory (`..`): a tree that
    /// holds the login directory itself.
    pub(crate) fn holds_login_dir(&self) -> bool {
        let path = self.normalized_path();
        path == "/"
            || path
                .split('/')
                .all(|segment| segment.is_empty() || segment == "..")
    }

    /// True when the URL names a directory: its path is empty or ends with `/`.
    pub(crate) fn is_dir(&self) -> bool {
        self.segments.last().is_none_or(String::is_empty)
    }

    /// The last path segment, when the URL names something other than a directory.
    pub(crate) fn name(&self) -> Option<&str> {
        self.segments
            .last()
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }

    /// The path of `name` inside the directory this URL names (only meaningful when
    /// [`FtpUrl::is_dir`]).
    pub(crate) fn join(&self, name: &str) -> String {
        let dir = self.path();
        if dir.is_empty() || dir.ends_with('/') {
            format!("{dir}{name}")
        } else {
            format!("{dir}/{name}")
        }
    }
}

/// `host[:port]`, with IPv6 addresses in brackets.
fn parse_hostport(hostport: &str, default_port: u16) -> Result<(String, u16), UrlError> {
    let (host, port) = if let Some(bracketed) = hostport.strip_prefix('[') {
        let (inside, after) = bracketed
            .split_once(']')
            .ok_or_else(|| UrlError::Host(hostport.to_owned()))?;
        let ip: Ipv6Addr = inside
            .parse()
            .map_err(|_| UrlError::Host(hostport.to_owned()))?;
        let port = match after {
            "" => None,
            _ => Some(
                after
                    .strip_prefix(':')
                    .ok_or_else(|| UrlError::Host(hostport.to_owned()))?,
            ),
        };
        (ip.to_string(), port)
    } else {
        if hostport.matches(':').count() > 1 {
            return Err(UrlError::Host(hostport.to_owned()));
        }
        let (host, port) = match hostport.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (hostport, None),
        };
        if host.is_empty() {
            return Err(UrlError::NoHost);
        }
        let name_like = host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'));
        if !name_like || host.starts_with(['.', '-']) {
            return Err(UrlError::Host(host.to_owned()));
        }
        (host.to_owned(), port)
    };
    let port = match port {
        None | Some("") => default_port,
        Some(text) => text
            .parse::<u16>()
            .ok()
            .filter(|&p| p != 0 && text.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| UrlError::Port(text.to_owned()))?,
    };
    Ok((host, port))
}

/// Splits `;type=X` off the end of the raw path.
fn split_typecode(raw_path: &str) -> Result<(&str, Option<TypeCode>), UrlError> {
    const KEY: &str = ";type=";
    let last_start = raw_path.rfind('/').map_or(0, |i| i + 1);
    let last = raw_path.get(last_start..).unwrap_or_default();
    // ASCII lowercasing keeps byte offsets, so the index is valid in `last` too.
    let Some(at) = last.to_ascii_lowercase().rfind(KEY) else {
        return Ok((raw_path, None));
    };
    let code = last.get(at + KEY.len()..).unwrap_or_default();
    let typecode = match code.to_ascii_lowercase().as_str() {
        "a" => TypeCode::Ascii,
        "i" => TypeCode::Image,
        "d" => TypeCode::Dir,
        _ => return Err(UrlError::TypeCode(code.to_owned())),
    };
    let path = raw_path.get(..last_start + at).unwrap_or_default();
    Ok((path, Some(typecode)))
}

/// Percent-decodes `text` (what it is part of is `what`, for messages) into UTF-8 without
/// control characters.
fn decode_text(text: &str, what: &'static str) -> Result<String, UrlError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = |j: usize| bytes.get(j).and_then(|&h| (h as char).to_digit(16));
            match (hex(i + 1), hex(i + 2)) {
                (Some(hi), Some(lo)) => {
                    // Two hex digits: at most 0xFF.
                    out.push(u8::try_from(hi * 16 + lo).unwrap_or(u8::MAX));
                    i += 3;
                }
                _ => return Err(UrlError::Escape(text.to_owned())),
            }
        } else {
            out.push(b);
            i += 1;
        }
    }
    let decoded = String::from_utf8(out).map_err(|_| UrlError::NotUtf8(what))?;
    if decoded.chars().any(char::is_control) {
        return Err(UrlError::ControlChar(what));
    }
    Ok(decoded)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> FtpUrl {
        FtpUrl::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn full_url() {
        let url = parse("ftp://alice:s%40cret@example.net:2121/pub/a%20b.txt;type=a");
        assert_eq!(url.host, "example.net");
        assert_eq!(url.port, 2121);
        assert_eq!(url.login(), ("alice", "s@cret"));
        assert_eq!(url.path(), "pub/a b.txt");
        assert_eq!(url.name(), Some("a b.txt"));
        assert!(!url.is_dir());
        assert_eq!(url.typecode, Some(TypeCode::Ascii));
        assert_eq!(
            url.to_string(),
            "ftp://alice@example.net:2121/pub/a%20b.txt;type=a"
        );
        assert!(!format!("{url:?}").contains("s@cret"), "{url:?}");
    }

    #[test]
    fn defaults_anonymous_port_21_login_dir() {
        for text in [
            "ftp://example.net",
            "ftp://example.net/",
            "FTP://example.net:/",
        ] {
            let url = parse(text);
            assert_eq!(url.port, 21, "{text}");
            assert_eq!(url.login(), ("anonymous", "anonymous@"));
            assert_eq!(url.path(), "", "{text}");
            assert!(url.is_dir(), "{text}");
            assert_eq!(url.name(), None);
            assert_eq!(url.join("f"), "f");
        }
        assert_eq!(parse("ftp://bob@h/").login(), ("bob", ""));
        assert_eq!(parse("ftp://bob:@h/").login(), ("bob", ""));
        // A raw '@' in a password: the last '@' ends the user information.
        assert_eq!(parse("ftp://bob:a@b@h/").login(), ("bob", "a@b"));
        assert_eq!(parse("ftp://b%3Ab:x%3Ay@h/").login(), ("b:b", "x:y"));
        assert!(!parse("ftp://h/").implicit_tls);
    }

    #[test]
    fn ftps_is_implicit_tls_on_port_990() {
        for text in ["ftps://example.net/", "FTPS://example.net:/"] {
            let url = parse(text);
            assert!(url.implicit_tls, "{text}");
            assert_eq!(url.port, 990, "{text}");
        }
        let url = parse("ftps://bob:pw@example.net:2990/dir/f.txt");
        assert_eq!((url.implicit_tls, url.port), (true, 2990));
        assert_eq!(url.path(), "dir/f.txt");
        assert_eq!(url.to_string(), "ftps://bob@example.net:2990/dir/f.txt");
    }

    #[test]
    fn hosts() {
        let url = parse("ftp://[::1]:2121/x");
        assert_eq!((url.host.as_str(), url.port), ("::1", 2121));
        assert_eq!(url.authority(), "[::1]:2121");
        assert_eq!(parse("ftp://[2001:db8::7]/").port, 21);
        assert_eq!(parse("ftp://127.0.0.1:65535/").port, 65535);
        assert_eq!(
            parse("ftp://my_host.example-1.org/").host,
            "my_host.example-1.org"
        );
        assert_eq!(parse("ftp://127.0.0.1:21/").authority(), "127.0.0.1:21");
    }

    #[test]
    fn paths_are_relative_unless_slash_encoded() {
        assert_eq!(parse("ftp://h/pub/f").path(), "pub/f");
        assert_eq!(parse("ftp://h/%2Fetc/motd").path(), "/etc/motd");
        assert_eq!(parse("ftp://h//etc/motd").path(), "/etc/motd");
        assert_eq!(parse("ftp://h/a%2Fb").path(), "a/b");
        // %2F inside a segment is never a safe local name.
        assert_eq!(parse("ftp://h/a%2Fb").name(), Some("a/b"));
        let dir = parse("ftp://h/pub/sub/");
        assert!(dir.is_dir());
        assert_eq!(dir.path(), "pub/sub/");
        assert_eq!(dir.dir_path(), "pub/sub");
        assert_eq!(dir.join("f.txt"), "pub/sub/f.txt");
        let root = parse("ftp://h/%2F");
        assert_eq!((root.path().as_str(), root.dir_path().as_str()), ("/", "/"));
        assert!(parse("ftp://h//").is_dir());
        assert_eq!(parse("ftp://h//").dir_path(), "/");
        assert_eq!(parse("ftp://h/r%C3%A9sum%C3%A9").path(), "résumé");
        assert_eq!(parse("ftp://h/résumé 1.txt").path(), "résumé 1.txt");
        assert_eq!(parse("ftp://h/what?.txt").path(), "what?.txt");
        assert_eq!(parse("ftp://h/100%25").path(), "100%");
    }

    #[test]
    fn normalized_paths() {
        let cases = [
            ("ftp://h/", ""),
            ("ftp://h/.", ""),
            ("ftp://h/./", ""),
            ("ftp://h/%2E", ""),
            ("ftp://h/a/..", ""),
            ("ftp://h/a/%2E%2E/", ""),
            ("ftp://h/a%2F..", ""),
            ("ftp://h/a/./b/../c/", "a/c"),
            ("ftp://h/..", ".."),
            ("ftp://h/a/../../..", "../.."),
            ("ftp://h/../x", "../x"),
            ("ftp://h/%2F", "/"),
            ("ftp://h//", "/"),
            ("ftp://h//.", "/"),
            ("ftp://h/%2F..", "/"),
            ("ftp://h/%2F../etc/./x/", "/etc/x"),
            ("ftp://h/...", "..."),
            ("ftp://h/.hidden", ".hidden"),
        ];
        for (text, expected) in cases {
            assert_eq!(parse(text).normalized_path(), expected, "{text}");
        }
        for text in [
            "ftp://h/",
            "ftp://h/.",
            "ftp://h/%2e/",
            "ftp://h/a/%2E%2E",
            "ftp://h/..",
            "ftp://h/../..",
            "ftp://h//",
            "ftp://h/%2F.",
            "ftp://h/%2F..",
        ] {
            assert!(parse(text).holds_login_dir(), "{text}");
        }
        for text in [
            "ftp://h/a",
            "ftp://h/../x",
            "ftp://h/%2Fetc",
            "ftp://h/.../",
            "ftp://h/.x",
        ] {
            assert!(!parse(text).holds_login_dir(), "{text}");
        }
    }

    #[test]
    fn typecodes() {
        assert_eq!(parse("ftp://h/f;type=i").typecode, Some(TypeCode::Image));
        assert_eq!(parse("ftp://h/f;TYPE=A").typecode, Some(TypeCode::Ascii));
        let d = parse("ftp://h/pub/;type=d");
        assert_eq!(d.typecode, Some(TypeCode::Dir));
        assert!(d.is_dir());
        assert_eq!(d.path(), "pub/");
        assert_eq!(parse("ftp://h/;type=d").path(), "");
        assert_eq!(parse("ftp://h/f").typecode, None);
        // Only the last segment carries a type; a ';' elsewhere is part of the name.
        assert_eq!(parse("ftp://h/a;type=i/b").path(), "a;type=i/b");
        assert_eq!(parse("ftp://h/a;b").path(), "a;b");
        assert_eq!(
            FtpUrl::parse("ftp://h/f;type=x").unwrap_err(),
            UrlError::TypeCode("x".into())
        );
        assert_eq!(
            FtpUrl::parse("ftp://h/f;type=").unwrap_err(),
            UrlError::TypeCode(String::new())
        );
    }

    #[test]
    fn refusals() {
        let cases: &[(&str, UrlError)] = &[
            ("example.net/file", UrlError::NotAUrl),
            ("://h/", UrlError::NotAUrl),
            ("ft p://h/", UrlError::NotAUrl),
            ("ftpes://h/", UrlError::Scheme("ftpes".into())),
            ("http://h/", UrlError::Scheme("http".into())),
            ("sftp://h/", UrlError::Scheme("sftp".into())),
            ("ftp:///path", UrlError::NoHost),
            ("ftp://:21/", UrlError::NoHost),
            ("ftp://u@/", UrlError::NoHost),
            ("ftp://::1/", UrlError::Host("::1".into())),
            ("ftp://fe80::1/", UrlError::Host("fe80::1".into())),
            ("ftp://[::1/", UrlError::Host("[::1".into())),
            ("ftp://[nope]/", UrlError::Host("[nope]".into())),
            ("ftp://[::1]x/", UrlError::Host("[::1]x".into())),
            ("ftp://h st/", UrlError::Host("h st".into())),
            ("ftp://-h/", UrlError::Host("-h".into())),
            ("ftp://h:0/", UrlError::Port("0".into())),
            ("ftp://h:65536/", UrlError::Port("65536".into())),
            ("ftp://h:+21/", UrlError::Port("+21".into())),
            ("ftp://h:x/", UrlError::Port("x".into())),
            ("ftp://h:21:21/", UrlError::Host("h:21:21".into())),
            ("ftp://@h/", UrlError::EmptyUser),
            ("ftp://:pw@h/", UrlError::EmptyUser),
            ("ftp://h/a%2", UrlError::Escape("a%2".into())),
            ("ftp://h/a%zz", UrlError::Escape("a%zz".into())),
            ("ftp://h/%FF", UrlError::NotUtf8("path")),
            ("ftp://h/a%0D%0ADELE%20x", UrlError::ControlChar("path")),
            ("ftp://h/a%00", UrlError::ControlChar("path")),
            ("ftp://u%0A@h/", UrlError::ControlChar("user name")),
            ("ftp://h/a\nb", UrlError::ControlChar("URL")),
            ("ftp://h/a#b", UrlError::Fragment),
        ];
        for (text, expected) in cases {
            match FtpUrl::parse(text) {
                Ok(url) => panic!("{text:?} parsed as {url:?}"),
                Err(e) => assert_eq!(&e, expected, "{text:?}"),
            }
        }
    }

    /// Hostile input: any string yields a URL or an error, never a panic, and a parsed URL's
    /// path never carries a control character.
    #[test]
    fn never_panics() {
        const ALPHABET: &[&str] = &[
            "ftp://", "ftps://", "/", "%", "%2F", "%2f", "%0", "%C3", "%A9", "%FF", "%%", ":", "@",
            "[", "]", "::1", ";type=", "a", "d", "é", "日", " ", ";", "#", "?", "\r", "21",
            "65536", "h", ".", "-",
        ];
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..50_000 {
            let len = next() % 16;
            let mut text = String::new();
            for _ in 0..len {
                let pick = usize::try_from(next() % ALPHABET.len() as u64).unwrap_or(0);
                text.push_str(ALPHABET[pick]);
            }
            if let Ok(url) = FtpUrl::parse(&text) {
                let path = url.path();
                assert!(!path.chars().any(char::is_control), "{text:?}");
                let _ = (url.dir_path(), url.name(), url.join("x"), url.to_string());
                assert!(url.port != 0, "{text:?}");
            }
        }
    }
}
