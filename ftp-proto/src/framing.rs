//! Control-connection framing: bytes in any split become complete lines.
//!
//! Owns the byte-level rules of the control channel (RFC 959 section 4, RFC 854 Telnet NVT):
//! line ends (CRLF, bare LF tolerated), Telnet command stripping (IAC IP, IAC DM, option
//! negotiation), IAC IAC unescaping, and the maximum line length. It knows nothing of FTP verbs
//! or reply codes; the command and reply parsers run on the lines it yields.
//!
//! Memory stays bounded by the maximum line length plus a constant whatever the peer sends: an
//! overlong line is reported once and then discarded up to its line end, never buffered.

use core::mem;

/// Default maximum line length in bytes (not counting the line end), as in vsftpd.
pub const DEFAULT_MAX_LINE: usize = 4096;

/// Telnet "interpret as command" (RFC 854).
const IAC: u8 = 255;
/// Telnet WILL, WONT, DO, DONT: option negotiation, followed by one option byte.
const WILL: u8 = 251;
const DONT: u8 = 254;
/// Telnet subnegotiation begin and end.
const SB: u8 = 250;
const SE: u8 = 240;

/// One step of a streaming decoder: how much input was used and what, if anything, it completed.
///
/// Decoders ([`LineFramer`], [`crate::ReplyParser`]) stop after each completed item so the
/// caller can act on it before more input is looked at; feed the unconsumed rest again.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "the consumed count says where to continue; the item must be handled"]
pub struct Decoded<T> {
    /// Bytes of the input that were used (`<= input.len()`).
    pub consumed: usize,
    /// The item completed by those bytes, if any. `None` means all input was used.
    pub item: Option<T>,
}

/// What the framer yields.
///
/// `Debug` shows a line as escaped text, except the argument of PASS, ACCT and ADAT lines, which
/// is redacted: framed lines are what a server logs when a command does not parse.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Frame {
    /// A complete line without its line end and with Telnet sequences removed.
    Line(Vec<u8>),
    /// A line grew past the maximum length. Reported once, as soon as the limit is crossed; the
    /// rest of that line is discarded and framing resumes after its line end.
    Overlong {
        /// The limit that was exceeded.
        limit: usize,
    },
}

impl core::fmt::Debug for Frame {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Frame::Line(line) => {
                let verb = line.get(..5).unwrap_or_default();
                let secret = [&b"PASS "[..], b"ACCT ", b"ADAT "]
                    .iter()
                    .any(|v| verb.eq_ignore_ascii_case(v));
                if secret {
                    write!(f, "Line(\"{} <redacted>\")", verb.escape_ascii())
                } else {
                    write!(f, "Line(\"{}\")", line.escape_ascii())
                }
            }
            Frame::Overlong { limit } => f.debug_struct("Overlong").field("limit", limit).finish(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Telnet {
    /// Ordinary data.
    Data,
    /// After IAC.
    Iac,
    /// After IAC WILL/WONT/DO/DONT: the option byte follows and is consumed.
    Option,
    /// Inside IAC SB ... IAC SE.
    Sub,
    /// After IAC inside a subnegotiation.
    SubIac,
}

/// Splits the control stream into lines.
///
/// - A line ends at LF; a CR right before it is removed (CRLF and bare LF both work).
/// - A CR not followed by LF stays in the line (CR NUL is a bare CR per RFC 854). Path
///   validation later refuses it; it never ends a line, so it cannot smuggle a second command.
/// - IAC IAC is one literal 0xFF byte. IAC followed by a Telnet command (IP, DM, AO, AYT, NOP,
///   ...) is removed, as are WILL/WONT/DO/DONT negotiations and subnegotiations. An IAC before
///   an ordinary byte is kept as a literal 0xFF inside a line (a non-UTF-8 name the client did
///   not double, as almost none do) and dropped at the start of a line (what remains there
///   when the urgent DM byte of a Telnet Synch was taken out of band).
///
/// ```
/// use ftp_proto::{Frame, LineFramer};
///
/// let mut framer = LineFramer::new();
/// let mut lines = Vec::new();
/// // IAC IP IAC DM before ABOR, as clients send it, split across two reads.
/// for chunk in [&b"\xff\xf4\xff\xf2AB"[..], b"OR\r\nNOOP\n"] {
///     for frame in framer.frames(chunk) {
///         lines.push(frame);
///     }
/// }
/// assert_eq!(lines, [Frame::Line(b"ABOR".to_vec()), Frame::Line(b"NOOP".to_vec())]);
/// ```
#[derive(Debug, Clone)]
pub struct LineFramer {
    line: Vec<u8>,
    max_line: usize,
    telnet: Telnet,
    /// The last data byte was a CR that may still turn out to be the first half of CRLF.
    cr_pending: bool,
    /// Inside an overlong line: drop bytes until the next LF.
    discarding: bool,
    /// The first bytes of the line being discarded (enough for a reply code and separator).
    prefix: [u8; PREFIX_LEN],
    prefix_len: usize,
}

/// How many leading bytes of an overlong line are kept for [`LineFramer::overlong_prefix`].
const PREFIX_LEN: usize = 4;

impl Default for LineFramer {
    fn default() -> Self {
        Self::new()
    }
}

impl LineFramer {
    /// A framer with the default maximum line length ([`DEFAULT_MAX_LINE`]).
    pub fn new() -> Self {
        Self::with_max_line(DEFAULT_MAX_LINE)
    }

    /// A framer with the given maximum line length in bytes, line end not counted.
    /// Limits below 4 are raised to 4 (room for a reply code and its separator).
    pub fn with_max_line(max_line: usize) -> Self {
        Self {
            line: Vec::new(),
            max_line: max_line.max(PREFIX_LEN),
            telnet: Telnet::Data,
            cr_pending: false,
            discarding: false,
            prefix: [0; PREFIX_LEN],
            prefix_len: 0,
        }
    }

    /// The maximum line length.
    pub fn max_line(&self) -> usize {
        self.max_line
    }

    /// Bytes of an unfinished line held right now (never more than `max_line() + 1`).
    pub fn buffered(&self) -> usize {
        self.line.len()
    }

    /// The first bytes (up to 4) of the most recent overlong line, e.g. `211-` when a
    /// multi-line reply's first line was too long: enough to know which reply it opened.
    pub fn overlong_prefix(&self) -> &[u8] {
        self.prefix.get(..self.prefix_len).unwrap_or_default()
    }

    /// Forgets any partial line and Telnet state, e.g. when the connection switches to TLS and
    /// plaintext received before the switch must not be interpreted.
    pub fn clear(&mut self) {
        self.line.clear();
        self.telnet = Telnet::Data;
        self.cr_pending = false;
        self.discarding = false;
    }

    /// Consumes input up to and including the byte that completes the next frame.
    ///
    /// Returns how much was consumed and the frame, or `None` once all input is used.
    pub fn push(&mut self, input: &[u8]) -> Decoded<Frame> {
        let mut i = 0;
        while i < input.len() {
            if self.telnet == Telnet::Data && !self.cr_pending {
                // Fast path: copy a run of ordinary bytes at once.
                let rest = input.get(i..).unwrap_or_default();
                let run = rest
                    .iter()
                    .position(|&b| matches!(b, b'\n' | b'\r' | IAC))
                    .unwrap_or(rest.len());
                if run > 0 {
                    i += run;
                    if let Some(frame) = self.extend(rest.get(..run).unwrap_or_default()) {
                        return Decoded {
                            consumed: i,
                            item: Some(frame),
                        };
                    }
                    continue;
                }
            }
            let Some(&b) = input.get(i) else { break };
            i += 1;
            if let Some(frame) = self.byte(b) {
                return Decoded {
                    consumed: i,
                    item: Some(frame),
                };
            }
        }
        Decoded {
            consumed: input.len(),
            item: None,
        }
    }

    /// Iterates over the frames completed by `input`, consuming all of it.
    pub fn frames<'a>(&'a mut self, input: &'a [u8]) -> Frames<'a> {
        Frames {
            framer: self,
            input,
        }
    }

    fn byte(&mut self, b: u8) -> Option<Frame> {
        match self.telnet {
            Telnet::Data => {
                if b == IAC {
                    self.telnet = Telnet::Iac;
                    None
                } else {
                    self.data(b)
                }
            }
            Telnet::Iac => {
                self.telnet = Telnet::Data;
                match b {
                    IAC => self.data(IAC),
                    WILL..=DONT => {
                        self.telnet = Telnet::Option;
                        None
                    }
                    SB => {
                        self.telnet = Telnet::Sub;
                        None
                    }
                    SE..=255 => None,
                    // Inside a line, an IAC before an ordinary byte is a literal 0xFF that the
                    // client did not double (a non-UTF-8 name: almost no client doubles it).
                    // At the start of a line it is what a Telnet Synch leaves when its DM
                    // byte was taken out of band, and it is dropped. Before a bare LF it is
                    // dropped too, so that the line end is never lost to an overlong line.
                    _ if self.line.is_empty() || self.discarding || b == b'\n' => self.data(b),
                    _ => self.data(IAC).or_else(|| self.data(b)),
                }
            }
            Telnet::Option => {
                self.telnet = Telnet::Data;
                // A truncated negotiation must not swallow the line end and merge two lines.
                if b == b'\n' { self.data(b) } else { None }
            }
            Telnet::Sub | Telnet::SubIac => {
                self.telnet = match (self.telnet, b) {
                    (Telnet::SubIac, SE) => Telnet::Data,
                    (Telnet::Sub, IAC) => Telnet::SubIac,
                    // FTP never negotiates subnegotiations; a line end ends a stray one so a
                    // lone IAC SB cannot swallow every later command.
                    (_, b'\n') => {
                        self.telnet = Telnet::Data;
                        return self.data(b'\n');
                    }
                    _ => Telnet::Sub,
                };
                None
            }
        }
    }

    fn data(&mut self, b: u8) -> Option<Frame> {
        if b == b'\n' {
            let strip_cr = mem::take(&mut self.cr_pending);
            if mem::take(&mut self.discarding) {
                self.line.clear();
                return None;
            }
            if strip_cr {
                self.line.pop();
            }
            return Some(Frame::Line(mem::take(&mut self.line)));
        }
        if b == 0 && self.cr_pending {
            // CR NUL: the CR is literal data and the NUL is dropped.
            self.cr_pending = false;
            return self.check_len();
        }
        self.cr_pending = b == b'\r';
        if self.discarding {
            return None;
        }
        self.reserve(1);
        self.line.push(b);
        self.check_len()
    }

    fn extend(&mut self, run: &[u8]) -> Option<Frame> {
        if self.discarding {
            return None;
        }
        if self.line.len() + run.len() > self.max_line {
            let missing = PREFIX_LEN.saturating_sub(self.line.len());
            self.line
                .extend_from_slice(run.get(..missing).unwrap_or(run));
            return self.overlong();
        }
        self.reserve(run.len());
        self.line.extend_from_slice(run);
        None
    }

    /// Grows the line buffer geometrically but never past `max_line + 1` bytes of capacity, so
    /// a session's framing memory is the cap plus a constant, not twice the cap.
    fn reserve(&mut self, additional: usize) {
        let needed = self.line.len() + additional;
        if needed > self.line.capacity() {
            let target = needed
                .max(self.line.capacity() * 2)
                .max(64)
                .min(self.max_line + 1)
                .max(needed);
            self.line.reserve_exact(target - self.line.len());
        }
    }

    fn check_len(&mut self) -> Option<Frame> {
        // A trailing CR may still be the first half of the line end, so it gets one byte of slack.
        let limit = self.max_line + usize::from(self.cr_pending);
        if self.line.len() > limit {
            return self.overlong();
        }
        None
    }

    fn overlong(&mut self) -> Option<Frame> {
        self.prefix_len = self.line.len().min(PREFIX_LEN);
        for (dst, src) in self.prefix.iter_mut().zip(&self.line) {
            *dst = *src;
        }
        self.discarding = true;
        self.line.clear();
        Some(Frame::Overlong {
            limit: self.max_line,
        })
    }
}

/// Iterator over the frames in one chunk of input; see [`LineFramer::frames`].
#[derive(Debug)]
pub struct Frames<'a> {
    framer: &'a mut LineFramer,
    input: &'a [u8],
}

impl Iterator for Frames<'_> {
    type Item = Frame;

    fn next(&mut self) -> Option<Frame> {
        if self.input.is_empty() {
            return None;
        }
        let step = self.framer.push(self.input);
        self.input = self.input.get(step.consumed..).unwrap_or_default();
        step.item
    }
}

/// Appends `bytes` to `out`, doubling every 0xFF (IAC) as Telnet requires on the wire.
pub(crate) fn write_telnet_escaped(out: &mut Vec<u8>, bytes: &[u8]) {
    let mut rest = bytes;
    while let Some(pos) = rest.iter().position(|&b| b == IAC) {
        let (head, tail) = rest.split_at(pos + 1);
        out.extend_from_slice(head);
        out.push(IAC);
        rest = tail;
    }
    out.extend_from_slice(rest);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(framer: &mut LineFramer, chunks: &[&[u8]]) -> Vec<Frame> {
        chunks
            .iter()
            .flat_map(|c| framer.frames(c).collect::<Vec<_>>())
            .collect()
    }

    fn line(s: &[u8]) -> Frame {
        Frame::Line(s.to_vec())
    }

    #[test]
    fn crlf_and_bare_lf() {
        let mut f = LineFramer::new();
        assert_eq!(
            lines(&mut f, &[b"USER a\r\nPASS b\nNOOP\r\n"]),
            [line(b"USER a"), line(b"PASS b"), line(b"NOOP")]
        );
        assert_eq!(f.buffered(), 0);
    }

    #[test]
    fn every_split_gives_the_same_lines() {
        let wire: &[u8] =
            b"USER x\r\n\xff\xf4\xff\xf2ABOR\r\nRETR a\xff\xffb\r\n\xff\xfb\x01NOOP\n";
        let want = [
            line(b"USER x"),
            line(b"ABOR"),
            line(b"RETR a\xffb"),
            line(b"NOOP"),
        ];
        for cut in 0..=wire.len() {
            let (a, b) = wire.split_at(cut);
            assert_eq!(lines(&mut LineFramer::new(), &[a, b]), want, "cut at {cut}");
        }
        // And byte by byte.
        let mut f = LineFramer::new();
        let singles: Vec<&[u8]> = wire.chunks(1).collect();
        assert_eq!(lines(&mut f, &singles), want);
    }

    #[test]
    fn telnet_commands_are_stripped() {
        let mut f = LineFramer::new();
        // IP, DM, NOP, AYT, GA inline; DO/DONT/WILL/WONT with their option byte; a subnegotiation.
        let got = lines(
            &mut f,
            &[b"\xff\xf4\xff\xf2\xff\xf1\xff\xf6\xff\xf9AB\xff\xfd\x18\xff\xfe\x01\xff\xfb\x03\xff\xfc\x05OR\xff\xfa\x18\x00xyz\xff\xf0\r\n"],
        );
        assert_eq!(got, [line(b"ABOR")]);
    }

    #[test]
    fn iac_iac_is_a_literal_ff() {
        let mut f = LineFramer::new();
        assert_eq!(
            lines(&mut f, &[b"STOR \xff\xff\xff\xff\r\n"]),
            [line(b"STOR \xff\xff")]
        );
    }

    #[test]
    fn iac_before_ordinary_byte_keeps_the_byte() {
        // IAC IP IAC with the DM byte taken out of band: "IAC A" must still read ABOR.
        let mut f = LineFramer::new();
        assert_eq!(lines(&mut f, &[b"\xff\xf4\xffABOR\r\n"]), [line(b"ABOR")]);
    }

    #[test]
    fn undoubled_iac_inside_a_line_is_a_literal_ff() {
        // What curl, wget and ftplib send for a name with a 0xFF byte; a trailing one too.
        let mut f = LineFramer::new();
        assert_eq!(
            lines(&mut f, &[b"SIZE bad\xff.txt\r\n", b"DELE x\xff\r\n"]),
            [line(b"SIZE bad\xff.txt"), line(b"DELE x\xff")]
        );
        // A Telnet command byte after it is still a command (IAC NOP is removed).
        assert_eq!(lines(&mut f, &[b"NO\xff\xf1OP\r\n"]), [line(b"NOOP")]);
    }

    #[test]
    fn stray_subnegotiation_ends_at_line_end() {
        let mut f = LineFramer::new();
        assert_eq!(
            lines(&mut f, &[b"NO\xff\xfaOP\r\nQUIT\r\n"]),
            [line(b"NO"), line(b"QUIT")]
        );
    }

    #[test]
    fn bare_cr_stays_in_the_line() {
        let mut f = LineFramer::new();
        assert_eq!(
            lines(&mut f, &[b"RETR a\rb\r\nRETR c\r\0\r\n"]),
            [line(b"RETR a\rb"), line(b"RETR c\r")]
        );
        // CR at a chunk boundary followed by LF is still a CRLF.
        assert_eq!(lines(&mut f, &[b"NOOP\r", b"\n"]), [line(b"NOOP")]);
        // CR CR LF: the first CR is data.
        assert_eq!(lines(&mut f, &[b"X\r\r\n"]), [line(b"X\r")]);
    }

    #[test]
    fn empty_lines_are_lines() {
        let mut f = LineFramer::new();
        assert_eq!(
            lines(&mut f, &[b"\r\n\n   \r\n"]),
            [line(b""), line(b""), line(b"   ")]
        );
    }

    #[test]
    fn nul_is_data() {
        let mut f = LineFramer::new();
        assert_eq!(lines(&mut f, &[b"RETR a\0b\r\n"]), [line(b"RETR a\0b")]);
    }

    #[test]
    fn line_of_exactly_max_is_accepted_one_more_is_not() {
        let mut f = LineFramer::with_max_line(8);
        assert_eq!(lines(&mut f, &[b"12345678\r\n"]), [line(b"12345678")]);
        assert_eq!(
            lines(&mut f, &[b"12345678", b"\r", b"\n"]),
            [line(b"12345678")]
        );
        assert_eq!(
            lines(&mut f, &[b"123456789\r\nNOOP\r\n"]),
            [Frame::Overlong { limit: 8 }, line(b"NOOP")]
        );
        assert_eq!(
            lines(&mut f, &[b"12345678\rx\r\nNOOP\r\n"]),
            [Frame::Overlong { limit: 8 }, line(b"NOOP")]
        );
        assert_eq!(
            lines(&mut f, &[b"12345678\r\0\r\nNOOP\r\n"]),
            [Frame::Overlong { limit: 8 }, line(b"NOOP")]
        );
    }

    #[test]
    fn overlong_line_reported_once_and_resynchronised() {
        let mut f = LineFramer::new();
        let big = vec![b'A'; 1 << 20];
        let mut got = Vec::new();
        for chunk in big.chunks(7919) {
            got.extend(f.frames(chunk));
            assert!(f.buffered() <= DEFAULT_MAX_LINE + 1);
        }
        assert_eq!(
            got,
            [Frame::Overlong {
                limit: DEFAULT_MAX_LINE
            }]
        );
        assert_eq!(f.overlong_prefix(), b"AAAA");
        // Still discarding until the line end, then normal again.
        assert_eq!(lines(&mut f, &[b"more\r\nPWD\r\n"]), [line(b"PWD")]);
    }

    #[test]
    fn overlong_prefix_keeps_the_first_bytes_whatever_the_split() {
        for chunks in [
            &[&b"211-abcdefgh"[..]][..],
            &[b"2", b"11-abcdefgh"],
            &[b"211-a", b"bcdefgh"],
        ] {
            let mut f = LineFramer::with_max_line(6);
            assert_eq!(lines(&mut f, chunks), [Frame::Overlong { limit: 6 }]);
            assert_eq!(f.overlong_prefix(), b"211-");
        }
        // Tiny limits are raised to 4, so the prefix never depends on the split.
        for chunks in [
            &[&b"211-abcdefgh"[..]][..],
            &[b"2", b"1", b"1", b"-", b"ab"],
        ] {
            let mut f = LineFramer::with_max_line(2);
            assert_eq!(f.max_line(), 4);
            assert_eq!(lines(&mut f, chunks), [Frame::Overlong { limit: 4 }]);
            assert_eq!(f.overlong_prefix(), b"211-");
        }
    }

    #[test]
    fn buffer_capacity_never_exceeds_the_limit() {
        let mut f = LineFramer::new();
        let line = vec![b'a'; DEFAULT_MAX_LINE];
        for chunk in line.chunks(1) {
            assert_eq!(f.push(chunk).item, None);
        }
        assert_eq!(f.push(b"\r").item, None);
        assert!(
            f.line.capacity() <= DEFAULT_MAX_LINE + 1,
            "{}",
            f.line.capacity()
        );
        assert_eq!(f.push(b"\n").item, Some(Frame::Line(line)));
    }

    #[test]
    fn line_end_inside_option_negotiation_still_ends_the_line() {
        let mut f = LineFramer::new();
        assert_eq!(
            lines(&mut f, &[b"NOOP\xff\xfd\nQUIT\r\n"]),
            [line(b"NOOP"), line(b"QUIT")]
        );
    }

    #[test]
    fn debug_redacts_secret_lines() {
        let shown = format!(
            "{:?}",
            [line(b"pass hunter2"), line(b"ACCT acc"), line(b"USER bob")]
        );
        assert!(
            !shown.contains("hunter2") && !shown.contains("acc\""),
            "{shown}"
        );
        assert!(shown.contains("USER bob"), "{shown}");
    }

    #[test]
    fn megabyte_without_newline_in_one_push_stays_bounded() {
        let mut f = LineFramer::new();
        let big = vec![b'x'; 1 << 20];
        let step = f.push(&big);
        assert_eq!(
            step.item,
            Some(Frame::Overlong {
                limit: DEFAULT_MAX_LINE
            })
        );
        assert_eq!(f.buffered(), 0);
        let rest = big.get(step.consumed..).unwrap();
        assert_eq!(
            f.push(rest),
            Decoded {
                consumed: rest.len(),
                item: None
            }
        );
        assert_eq!(f.buffered(), 0);
    }

    #[test]
    fn iac_storm_is_consumed_without_output() {
        let mut f = LineFramer::new();
        let storm: Vec<u8> = [IAC, 0xf4].repeat(100_000);
        assert_eq!(lines(&mut f, &[&storm]), []);
        let negotiations: Vec<u8> = [IAC, 0xfd, 0x01].repeat(100_000);
        assert_eq!(
            lines(&mut f, &[&negotiations, b"NOOP\r\n"]),
            [line(b"NOOP")]
        );
        // IAC IAC storm: each pair is one data byte and counts against the line limit.
        let literal: Vec<u8> = [IAC, IAC].repeat(10_000);
        assert_eq!(
            lines(&mut f, &[&literal, b"\r\n"]),
            [Frame::Overlong {
                limit: DEFAULT_MAX_LINE
            }]
        );
    }

    #[test]
    fn clear_drops_partial_input() {
        let mut f = LineFramer::new();
        assert_eq!(lines(&mut f, &[b"USER injected"]), []);
        f.clear();
        assert_eq!(
            lines(&mut f, &[b"\r\nPBSZ 0\r\n"]),
            [line(b""), line(b"PBSZ 0")]
        );
    }

    #[test]
    fn escaping_doubles_iac() {
        let mut out = Vec::new();
        write_telnet_escaped(&mut out, b"a\xffb\xff");
        assert_eq!(out, b"a\xff\xffb\xff\xff");
        let mut f = LineFramer::new();
        out.extend_from_slice(b"\r\n");
        assert_eq!(lines(&mut f, &[&out]), [line(b"a\xffb\xff")]);
    }
}
