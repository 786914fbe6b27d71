//! Replies: the `Reply` type, its wire encoder, and the streaming reply parser (client role).
//!
//! Owns RFC 959 section 4.2 reply syntax, single- and multi-line. Reply *meaning* (which code
//! answers which command) belongs to the sessions.

mod code;
mod parse;

pub use code::{InvalidReplyCode, ReplyCategory, ReplyClass, ReplyCode};
pub use parse::{DEFAULT_MAX_REPLY, Replies, ReplyError, ReplyParser};

use core::fmt;

use crate::framing::write_telnet_escaped;

/// A reply: a code and one or more lines of text.
///
/// Lines never contain CR, LF or NUL (the constructors split on LF and blank out stray CR and
/// NUL), so encoding can never inject a second reply.
///
/// ```
/// use ftp_proto::{Reply, ReplyCode};
///
/// let r = Reply::new(ReplyCode::PATHNAME_CREATED, "\"/home\" is the current directory");
/// assert_eq!(r.to_bytes(), b"257 \"/home\" is the current directory\r\n");
///
/// let feat = Reply::multiline(ReplyCode::SYSTEM_STATUS, ["Features:", " MDTM", " SIZE", "End"]);
/// assert_eq!(feat.to_bytes(), b"211-Features:\r\n MDTM\r\n SIZE\r\n211 End\r\n");
/// assert_eq!(Reply::parse(&feat.to_bytes()).unwrap(), feat);
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Reply {
    code: ReplyCode,
    lines: Vec<Vec<u8>>,
}

/// Splits text into reply lines: on LF, dropping a CR before it, with any other CR or NUL
/// replaced by a space.
fn push_lines(lines: &mut Vec<Vec<u8>>, text: &[u8]) {
    for piece in text.split(|&b| b == b'\n') {
        let piece = piece.strip_suffix(b"\r").unwrap_or(piece);
        lines.push(
            piece
                .iter()
                .map(|&b| if b == b'\r' || b == 0 { b' ' } else { b })
                .collect(),
        );
    }
}

/// True for an inner line of a multi-line reply that begins with a 3-digit number and must be
/// padded on the wire (RFC 959 section 4.2).
pub(crate) fn needs_padding(line: &[u8]) -> bool {
    line.get(..3)
        .is_some_and(|d| d.iter().all(u8::is_ascii_digit))
}

impl Reply {
    /// A reply whose text may span several lines (split at `\n`).
    pub fn new(code: ReplyCode, text: impl AsRef<[u8]>) -> Self {
        let mut lines = Vec::new();
        push_lines(&mut lines, text.as_ref());
        Self { code, lines }
    }

    /// A reply from separate lines; a reply with no lines gets one empty line.
    pub fn multiline<I, L>(code: ReplyCode, lines: I) -> Self
    where
        I: IntoIterator<Item = L>,
        L: AsRef<[u8]>,
    {
        let mut out = Vec::new();
        for line in lines {
            push_lines(&mut out, line.as_ref());
        }
        if out.is_empty() {
            out.push(Vec::new());
        }
        Self { code, lines: out }
    }

    /// Builds a reply from lines already known to be free of CR, LF and NUL.
    pub(crate) fn from_clean_lines(code: ReplyCode, lines: Vec<Vec<u8>>) -> Self {
        debug_assert!(!lines.is_empty());
        Self { code, lines }
    }

    /// The reply code.
    pub fn code(&self) -> ReplyCode {
        self.code
    }

    /// The text lines (at least one), without codes, separators or line ends.
    pub fn lines(&self) -> &[Vec<u8>] {
        &self.lines
    }

    /// The first line's text.
    pub fn first_line(&self) -> &[u8] {
        self.lines.first().map_or(&[][..], Vec::as_slice)
    }

    /// All lines joined with `\n`, invalid UTF-8 replaced (for display and simple matching).
    pub fn text(&self) -> String {
        let joined = self.lines.join(&b'\n');
        String::from_utf8_lossy(&joined).into_owned()
    }

    /// True when the reply is sent as several lines.
    pub fn is_multiline(&self) -> bool {
        self.lines.len() > 1
    }

    /// Appends the wire form to `out`.
    ///
    /// Single line: `xyz text CRLF`. Multi-line (RFC 959 section 4.2): `xyz-first CRLF`, the
    /// inner lines, `xyz last CRLF`; an inner line that begins with a 3-digit number is padded
    /// with one space, as RFC 959 requires, so that no client can mistake it for the end line.
    /// A 0xFF byte is doubled (Telnet IAC), as the control connection requires in both
    /// directions and as [`ReplyParser`] undoes.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let digits = self.code.digits();
        let last = self.lines.len().saturating_sub(1);
        for (i, line) in self.lines.iter().enumerate() {
            if i == 0 || i == last {
                out.extend_from_slice(&digits);
                out.push(if i == last { b' ' } else { b'-' });
            } else if needs_padding(line) {
                out.push(b' ');
            }
            write_telnet_escaped(out, line);
            out.extend_from_slice(b"\r\n");
        }
    }

    /// The wire form.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + self.lines.iter().map(|l| l.len() + 2).sum::<usize>());
        self.encode(&mut out);
        out
    }

    /// Parses exactly one complete reply (strict RFC 959 rules, default size cap).
    pub fn parse(bytes: &[u8]) -> Result<Self, ReplyError> {
        let mut parser = ReplyParser::new();
        let step = parser.push(bytes);
        match step.item {
            Some(result) if step.consumed == bytes.len() => result,
            Some(Ok(_)) => Err(ReplyError::TrailingData),
            Some(Err(e)) => Err(e),
            None => Err(ReplyError::Incomplete),
        }
    }
}

impl fmt::Debug for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines: Vec<_> = self
            .lines
            .iter()
            .map(|l| l.escape_ascii().to_string())
            .collect();
        f.debug_struct("Reply")
            .field("code", &self.code.get())
            .field("lines", &lines)
            .finish()
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code, self.text())
    }
}

#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for Reply {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        let code = u.arbitrary()?;
        let lines: Vec<Vec<u8>> = u.arbitrary()?;
        Ok(Self::multiline(code, lines))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answers_single_line() {
        for (wire, code, text) in [
            (&b"200 Command okay.\r\n"[..], 200, &b"Command okay."[..]),
            (b"220 \r\n", 220, b""),
            (b"550  leading space kept\r\n", 550, b" leading space kept"),
            (b"213 19700101000000\r\n", 213, b"19700101000000"),
            (
                b"257 \"/a \"\"q\"\" b\" created\r\n",
                257,
                b"\"/a \"\"q\"\" b\" created",
            ),
        ] {
            let r = Reply::parse(wire).unwrap();
            assert_eq!(r.code().get(), code);
            assert_eq!(r.lines(), [text.to_vec()]);
            assert_eq!(r.to_bytes(), wire);
        }
    }

    #[test]
    fn known_answers_multi_line() {
        let wire = b"211-Features:\r\n MDTM\r\n REST STREAM\r\n SIZE\r\n211 End\r\n";
        let r = Reply::parse(wire).unwrap();
        assert_eq!(r.code(), ReplyCode::SYSTEM_STATUS);
        assert_eq!(r.lines().len(), 5);
        assert_eq!(r.text(), "Features:\n MDTM\n REST STREAM\n SIZE\nEnd");
        assert_eq!(r.to_bytes(), wire);

        // RFC 959 section 4.2 example: inner lines may start with the code and a hyphen.
        let wire = b"123-First line\r\nSecond line\r\n  234 A line beginning with numbers\r\n123 The last line\r\n";
        let r = Reply::parse(wire).unwrap();
        assert_eq!(r.lines().len(), 4);
        assert_eq!(r.to_bytes(), wire);
    }

    #[test]
    fn inner_lines_starting_with_digits_are_indented() {
        let r = Reply::multiline(
            ReplyCode::SYSTEM_STATUS,
            ["status", "211 not the end", "end"],
        );
        assert_eq!(
            r.to_bytes(),
            b"211-status\r\n 211 not the end\r\n211 end\r\n"
        );
        // And the parser does not stop there.
        let back = Reply::parse(&r.to_bytes()).unwrap();
        assert_eq!(back.lines()[1], b" 211 not the end");
    }

    #[test]
    fn text_with_line_breaks_cannot_inject_a_reply() {
        let r = Reply::new(
            ReplyCode::FILE_UNAVAILABLE,
            "no such file\r\n226 fake\rx\0y",
        );
        assert_eq!(
            r.lines(),
            [b"no such file".to_vec(), b"226 fake x y".to_vec()]
        );
        assert_eq!(r.to_bytes(), b"550-no such file\r\n550 226 fake x y\r\n");
        assert_eq!(Reply::parse(&r.to_bytes()).unwrap(), r);
    }

    #[test]
    fn iac_in_reply_text_is_doubled_and_parsed_back() {
        let r = Reply::new(ReplyCode::PATHNAME_CREATED, &b"\"/caf\xff\" created"[..]);
        assert_eq!(r.to_bytes(), b"257 \"/caf\xff\xff\" created\r\n");
        assert_eq!(Reply::parse(&r.to_bytes()), Ok(r));
        // The fuzzer's finding: an inner line holding 0xFF.
        let r = Reply::multiline(ReplyCode::USER_LOGGED_IN, [&b"a"[..], b"2\xff30", b""]);
        assert_eq!(Reply::parse(&r.to_bytes()), Ok(r));
    }

    #[test]
    fn empty_multiline_gets_one_line() {
        let r = Reply::multiline(ReplyCode::COMMAND_OKAY, Vec::<&str>::new());
        assert_eq!(r.to_bytes(), b"200 \r\n");
    }

    #[test]
    fn parse_errors() {
        assert_eq!(Reply::parse(b"200 ok"), Err(ReplyError::Incomplete));
        assert_eq!(
            Reply::parse(b"200 ok\r\n200 again\r\n"),
            Err(ReplyError::TrailingData)
        );
        assert!(matches!(
            Reply::parse(b"2000 ok\r\n"),
            Err(ReplyError::Malformed { .. })
        ));
    }
}
