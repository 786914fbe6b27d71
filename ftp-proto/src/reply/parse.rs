//! The streaming reply parser for the client role.
//!
//! Turns control-channel bytes from a server, in any split, into [`Reply`] values. It reuses the
//! [`LineFramer`] for line ends and Telnet handling and adds the multi-line rules of RFC 959
//! section 4.2 and a cap on the size of one reply.

use crate::framing::{Decoded, Frame, LineFramer};

use super::{Reply, ReplyCode};

/// Default cap on the size of one reply, all its lines counted: 64 KiB.
pub const DEFAULT_MAX_REPLY: usize = 64 * 1024;

/// What one line costs against the cap beyond its bytes: the line end and the bookkeeping of
/// storing it, so that a reply cut into many tiny lines cannot hold many times the cap in memory.
const LINE_OVERHEAD: usize = 2 + 32;

fn cost(line: &[u8]) -> usize {
    line.len() + LINE_OVERHEAD
}

/// Why bytes from a server did not make a reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReplyError {
    /// A reply's first line does not start with a three-digit code (100..=699) followed by a
    /// space, a hyphen or the line end.
    #[error("malformed reply line")]
    Malformed {
        /// The offending line (at most the size cap).
        line: Vec<u8>,
    },
    /// The reply grew past the size cap; the rest of it is skipped.
    #[error("reply larger than {limit} bytes")]
    TooLarge {
        /// The cap that was exceeded.
        limit: usize,
    },
    /// [`Reply::parse`] was given bytes that end before the reply does.
    #[error("incomplete reply")]
    Incomplete,
    /// [`Reply::parse`] was given more than one reply.
    #[error("bytes after the end of the reply")]
    TrailingData,
}

#[derive(Debug, Clone)]
enum State {
    /// Between replies.
    Idle,
    /// Inside a multi-line reply opened by `code-`.
    Multi {
        code: ReplyCode,
        lines: Vec<Vec<u8>>,
    },
    /// Skipping the rest of an oversized multi-line reply.
    Skipping { code: ReplyCode },
}

/// Streaming reply parser: feed bytes as they arrive, get whole replies.
///
/// Strict by default: a multi-line reply ends only at a line starting with the opener's code
/// and a space. [`ReplyParser::lenient`] also accepts an end line with a different code (as
/// glftpd sends), and that code becomes the reply's code.
///
/// A reply larger than the cap is reported once as [`ReplyError::TooLarge`] and skipped to its
/// end line, so later replies stay matched to their commands. The cap counts each line's bytes
/// plus 34 (its line end and the cost of storing it).
///
/// ```
/// use ftp_proto::{ReplyCode, ReplyParser};
/// let mut parser = ReplyParser::new();
/// let mut replies = Vec::new();
/// for chunk in [&b"150 Opening\r\n226-Transfer"[..], b" complete\r\n226 Bye\r\n"] {
///     replies.extend(parser.replies(chunk));
/// }
/// let codes: Vec<_> = replies.into_iter().map(|r| r.unwrap().code()).collect();
/// assert_eq!(codes, [ReplyCode::FILE_STATUS_OKAY, ReplyCode::CLOSING_DATA_CONNECTION]);
/// ```
#[derive(Debug, Clone)]
pub struct ReplyParser {
    framer: LineFramer,
    max_size: usize,
    lenient: bool,
    state: State,
    size: usize,
}

impl Default for ReplyParser {
    fn default() -> Self {
        Self::new()
    }
}

/// Splits `DDD` + separator off a line: the code, the separator byte (None at line end), the text.
fn split_code(line: &[u8]) -> Option<(ReplyCode, Option<u8>, &[u8])> {
    let (digits, rest) = line.split_at_checked(3)?;
    if !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = digits
        .iter()
        .fold(0u16, |acc, d| acc * 10 + u16::from(d - b'0'));
    let code = ReplyCode::new(n)?;
    match rest.split_first() {
        None => Some((code, None, rest)),
        Some((&sep, text)) => Some((code, Some(sep), text)),
    }
}

impl ReplyParser {
    /// A strict parser with the default size cap.
    pub fn new() -> Self {
        Self::with_max_size(DEFAULT_MAX_REPLY)
    }

    /// A strict parser capping one reply at `max_size` bytes (see the type docs for how lines
    /// are counted).
    pub fn with_max_size(max_size: usize) -> Self {
        Self {
            framer: LineFramer::with_max_line(max_size),
            max_size: max_size.max(1),
            lenient: false,
            state: State::Idle,
            size: 0,
        }
    }

    /// Accept a multi-line reply's end line even when its code differs from the opener's.
    pub fn lenient(mut self, lenient: bool) -> Self {
        self.lenient = lenient;
        self
    }

    /// True while a multi-line reply has started but not ended.
    pub fn in_reply(&self) -> bool {
        !matches!(self.state, State::Idle)
    }

    /// Consumes input up to the end of the next complete reply (or error).
    pub fn push(&mut self, input: &[u8]) -> Decoded<Result<Reply, ReplyError>> {
        let mut consumed = 0;
        loop {
            let rest = input.get(consumed..).unwrap_or_default();
            let step = self.framer.push(rest);
            consumed += step.consumed;
            let item = match step.item {
                None => None,
                Some(Frame::Line(line)) => self.line(line),
                Some(Frame::Overlong { .. }) => self.overlong(),
            };
            if item.is_some() || consumed >= input.len() {
                return Decoded { consumed, item };
            }
        }
    }

    /// Iterates over the replies (and errors) completed by `input`, consuming all of it.
    pub fn replies<'a>(&'a mut self, input: &'a [u8]) -> Replies<'a> {
        Replies {
            parser: self,
            input,
        }
    }

    fn too_large(&self) -> Option<Result<Reply, ReplyError>> {
        Some(Err(ReplyError::TooLarge {
            limit: self.max_size,
        }))
    }

    /// A line longer than the cap: only its first bytes are known.
    fn overlong(&mut self) -> Option<Result<Reply, ReplyError>> {
        let prefix = split_code(self.framer.overlong_prefix()).map(|(code, sep, _)| (code, sep));
        let lenient = self.lenient;
        let ends = |code: ReplyCode| matches!(prefix, Some((c, None | Some(b' '))) if c == code || lenient);
        match core::mem::replace(&mut self.state, State::Idle) {
            State::Idle => {
                // If it opened a multi-line reply, skip to that reply's end line.
                if let Some((code, Some(b'-'))) = prefix {
                    self.state = State::Skipping { code };
                }
                self.too_large()
            }
            State::Multi { code, .. } => {
                if !ends(code) {
                    self.state = State::Skipping { code };
                }
                self.too_large()
            }
            State::Skipping { code } => {
                // Already reported; an overlong end line still ends the reply.
                if !ends(code) {
                    self.state = State::Skipping { code };
                }
                None
            }
        }
    }

    fn is_end_line(&self, opener: ReplyCode, line: &[u8]) -> Option<ReplyCode> {
        match split_code(line) {
            Some((code, None | Some(b' '), _)) if code == opener || self.lenient => Some(code),
            _ => None,
        }
    }

    fn line(&mut self, line: Vec<u8>) -> Option<Result<Reply, ReplyError>> {
        match core::mem::replace(&mut self.state, State::Idle) {
            State::Idle => {
                self.size = cost(&line);
                let parsed = split_code(&line);
                if self.size > self.max_size {
                    if let Some((code, Some(b'-'), _)) = parsed {
                        self.state = State::Skipping { code };
                    }
                    return self.too_large();
                }
                match parsed {
                    Some((code, None | Some(b' '), _)) => {
                        Some(Ok(Reply::from_clean_lines(code, vec![text_of(line)])))
                    }
                    Some((code, Some(b'-'), _)) => {
                        self.state = State::Multi {
                            code,
                            lines: vec![text_of(line)],
                        };
                        None
                    }
                    _ => Some(Err(ReplyError::Malformed { line })),
                }
            }
            State::Skipping { code } => {
                if self.is_end_line(code, &line).is_none() {
                    self.state = State::Skipping { code };
                }
                None
            }
            State::Multi { code, mut lines } => {
                let end = self.is_end_line(code, &line);
                self.size += cost(&line);
                if self.size > self.max_size {
                    if end.is_none() {
                        self.state = State::Skipping { code };
                    }
                    return self.too_large();
                }
                if let Some(end) = end {
                    lines.push(text_of(line));
                    return Some(Ok(Reply::from_clean_lines(end, lines)));
                }
                lines.push(clean(line));
                self.state = State::Multi { code, lines };
                None
            }
        }
    }
}

/// The text after `DDD` and its separator, cleaned, reusing the line's buffer.
fn text_of(mut line: Vec<u8>) -> Vec<u8> {
    line.drain(..line.len().min(4));
    clean(line)
}

/// Lines from the framer hold no LF but may hold a bare CR or NUL; blank them as
/// [`Reply::new`] does so every `Reply` satisfies the same invariant.
fn clean(mut line: Vec<u8>) -> Vec<u8> {
    for b in &mut line {
        if *b == b'\r' || *b == 0 {
            *b = b' ';
        }
    }
    line
}

/// Iterator over the replies in one chunk of input; see [`ReplyParser::replies`].
#[derive(Debug)]
pub struct Replies<'a> {
    parser: &'a mut ReplyParser,
    input: &'a [u8],
}

impl Iterator for Replies<'_> {
    type Item = Result<Reply, ReplyError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.input.is_empty() {
            return None;
        }
        let step = self.parser.push(self.input);
        self.input = self.input.get(step.consumed..).unwrap_or_default();
        step.item
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(parser: &mut ReplyParser, chunks: &[&[u8]]) -> Vec<Result<Reply, ReplyError>> {
        chunks
            .iter()
            .flat_map(|c| parser.replies(c).collect::<Vec<_>>())
            .collect()
    }

    #[test]
    fn any_split_gives_the_same_replies() {
        let wire: &[u8] =
            b"220-Welcome\r\n220-  to the server\r\n220 ready\r\n331 Password\nPASS\r\n230 ok\r\n";
        let want = all(&mut ReplyParser::new(), &[wire]);
        assert_eq!(want.len(), 4);
        assert!(matches!(want[2], Err(ReplyError::Malformed { .. })));
        for cut in 0..=wire.len() {
            let (a, b) = wire.split_at(cut);
            assert_eq!(all(&mut ReplyParser::new(), &[a, b]), want, "cut {cut}");
        }
    }

    #[test]
    fn bare_code_line_is_a_reply_and_an_end_line() {
        let got = all(&mut ReplyParser::new(), &[b"200\r\n211-a\r\n211\r\n"]);
        assert_eq!(got[0].as_ref().unwrap().lines(), [Vec::<u8>::new()]);
        assert_eq!(
            got[1].as_ref().unwrap().lines(),
            [b"a".to_vec(), Vec::new()]
        );
    }

    #[test]
    fn strict_mode_needs_the_same_code() {
        let wire: &[u8] = b"553-Not allowed\r\n150 Opening\r\n553 end\r\n";
        let strict = all(&mut ReplyParser::new(), &[wire]);
        assert_eq!(strict.len(), 1);
        let r = strict[0].as_ref().unwrap();
        assert_eq!(r.code().get(), 553);
        assert_eq!(r.lines().len(), 3);

        let lenient = all(&mut ReplyParser::new().lenient(true), &[wire]);
        assert_eq!(lenient.len(), 2);
        let first = lenient[0].as_ref().unwrap();
        assert_eq!(first.code(), ReplyCode::FILE_STATUS_OKAY);
        assert_eq!(
            first.lines(),
            [b"Not allowed".to_vec(), b"Opening".to_vec()]
        );
        // The old end line is now a reply of its own.
        assert_eq!(
            lenient[1].as_ref().unwrap().code(),
            ReplyCode::FILE_NAME_NOT_ALLOWED
        );
    }

    #[test]
    fn hyphenated_inner_lines_do_not_end_the_reply() {
        let got = all(&mut ReplyParser::new(), &[b"211-a\r\n211-b\r\n211 c\r\n"]);
        assert_eq!(got.len(), 1);
        assert_eq!(
            got[0].as_ref().unwrap().lines(),
            [b"a".to_vec(), b"211-b".to_vec(), b"c".to_vec()]
        );
    }

    #[test]
    fn size_cap_errors_and_resynchronises() {
        let mut p = ReplyParser::with_max_size(64);
        let mut wire = b"211-start\r\n".to_vec();
        for _ in 0..100 {
            wire.extend_from_slice(b" a feature line\r\n");
        }
        wire.extend_from_slice(b"211 End\r\n200 next\r\n");
        let got = all(&mut p, &[&wire]);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0], Err(ReplyError::TooLarge { limit: 64 }));
        assert_eq!(got[1].as_ref().unwrap().code(), ReplyCode::COMMAND_OKAY);
        assert!(!p.in_reply());
    }

    #[test]
    fn overlong_first_line_of_a_multiline_reply_skips_the_whole_reply() {
        // The banner line is longer than the cap, so the framer discards it: only its first bytes
        // (`220-`) tell which reply it opened.
        let mut p = ReplyParser::with_max_size(48);
        let mut wire = b"220-".to_vec();
        wire.extend([b'b'; 100]);
        wire.extend_from_slice(b"\r\n220-more\r\n220 ready\r\n331 next\r\n");
        let got = all(&mut p, &[&wire]);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0], Err(ReplyError::TooLarge { limit: 48 }));
        assert_eq!(got[1].as_ref().unwrap().code(), ReplyCode::NEED_PASSWORD);
    }

    #[test]
    fn end_line_crossing_the_cap_ends_the_reply() {
        // The end line itself pushes the reply over the cap.
        let mut p = ReplyParser::with_max_size(80);
        let got = all(
            &mut p,
            &[b"211-0123456789\r\n211 0123456789012345\r\n200 ok\r\n331 next\r\n"],
        );
        assert_eq!(got.len(), 3, "{got:?}");
        assert_eq!(got[0], Err(ReplyError::TooLarge { limit: 80 }));
        assert_eq!(got[1].as_ref().unwrap().code(), ReplyCode::COMMAND_OKAY);
        assert!(!p.in_reply());
        // The end line is itself longer than the cap.
        let mut p = ReplyParser::with_max_size(40);
        let mut wire = b"211-a\r\n211 ".to_vec();
        wire.extend([b'x'; 60]);
        wire.extend_from_slice(b"\r\n200 ok\r\n");
        let got = all(&mut p, &[&wire]);
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(got[1].as_ref().unwrap().code(), ReplyCode::COMMAND_OKAY);
    }

    #[test]
    fn too_large_is_reported_once_per_reply() {
        let mut p = ReplyParser::with_max_size(40);
        let long = [b'x'; 60];
        let mut wire = b"220-".to_vec();
        wire.extend(long);
        wire.extend_from_slice(b"\r\n220-");
        wire.extend(long);
        wire.extend_from_slice(b"\r\n 0123456789\r\n220 ok\r\n331 x\r\n");
        let got = all(&mut p, &[&wire]);
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(got[0], Err(ReplyError::TooLarge { limit: 40 }));
        assert_eq!(got[1].as_ref().unwrap().code(), ReplyCode::NEED_PASSWORD);
    }

    #[test]
    fn many_tiny_lines_count_against_the_cap() {
        let mut wire = b"211-x\r\n".to_vec();
        for _ in 0..21_000 {
            wire.extend_from_slice(b"a\n");
        }
        wire.extend_from_slice(b"211 end\r\n");
        let got = all(&mut ReplyParser::new(), &[&wire]);
        assert_eq!(
            got,
            [Err(ReplyError::TooLarge {
                limit: DEFAULT_MAX_REPLY
            })]
        );
    }

    #[test]
    fn megabyte_line_is_too_large_not_buffered() {
        let mut p = ReplyParser::new();
        let mut wire = b"200 ".to_vec();
        wire.resize(1 << 20, b'x');
        let got = all(&mut p, &[&wire, b"\r\n226 ok\r\n"]);
        assert_eq!(got.len(), 2);
        assert_eq!(
            got[0],
            Err(ReplyError::TooLarge {
                limit: DEFAULT_MAX_REPLY
            })
        );
        assert_eq!(got[1].as_ref().unwrap().code().get(), 226);
    }

    #[test]
    fn malformed_first_lines() {
        for bad in [
            &b"\r\n"[..],
            b"   \r\n",
            b"20 ok\r\n",
            b"099 low\r\n",
            b"700 high\r\n",
            b"2x0 ok\r\n",
            b"200x\r\n",
            b"\xff\xfe\r\n",
            b"123456789012345678901234567890 big\r\n",
        ] {
            let got = all(&mut ReplyParser::new(), &[bad]);
            assert!(
                matches!(got.as_slice(), [Err(ReplyError::Malformed { .. })]),
                "{}",
                bad.escape_ascii()
            );
        }
    }
}
