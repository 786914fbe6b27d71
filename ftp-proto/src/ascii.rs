//! TYPE A line-end transcoding for file data on the data connection.
//!
//! Owns the one rule RFC 959 section 3.1.1.1 sets for ASCII type: on the wire every line ends
//! in CRLF (the NVT-ASCII end of line), while the local file ends lines in LF. [`ToWire`] is
//! used by whichever side sends data (RETR, LIST and NLST on a server, STOR and APPE on a
//! client); [`FromWire`] by whichever side receives it. Both are streaming: file data arrives
//! in chunks split anywhere, and the output does not depend on where the splits fall.
//!
//! It must not do I/O or hold the stream: the adapter reads a chunk, converts it into a buffer
//! it owns and writes that buffer. It changes no byte other than CR and LF at line ends: no
//! character set conversion (TYPE E), no Telnet IAC escaping (the data connection is not a
//! Telnet stream), no format-control processing (under TYPE A T or A C those bytes are data).
//! Memory is constant: one bit of state per direction, whatever the input.

/// Carriage return.
const CR: u8 = b'\r';
/// Line feed.
const LF: u8 = b'\n';

/// Local line ends (LF) to wire line ends (CRLF), for sending file data in TYPE A.
///
/// - An LF not preceded by CR becomes CRLF.
/// - An existing CRLF passes through unchanged, so a file that already ends its lines in CRLF
///   is not doubled into CR CR LF. This holds across chunks: a CR that ends one chunk and an LF
///   that starts the next are one CRLF.
/// - Every other byte, including a bare CR, passes through unchanged.
///
/// Nothing is ever held back, so [`ToWire::finish`] writes nothing; call it anyway to keep the
/// adapter's copy loop the same for both directions. One [`ToWire::convert`] call appends at
/// most [`ToWire::max_output_len`]`(input.len())` bytes (twice the input, when it is all LF).
///
/// ```
/// use ftp_proto::ascii::ToWire;
///
/// let mut to_wire = ToWire::new();
/// let mut wire = Vec::new();
/// // The CR at the end of the first chunk and the LF starting the second are one CRLF.
/// for chunk in [&b"one\ntwo\r"[..], b"\nthree\n"] {
///     to_wire.convert(chunk, &mut wire);
/// }
/// to_wire.finish(&mut wire);
/// assert_eq!(wire, b"one\r\ntwo\r\nthree\r\n");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ToWire {
    /// The last byte seen was a CR, so an LF starting the next chunk completes an existing CRLF.
    after_cr: bool,
}

impl ToWire {
    /// A transcoder at the start of a stream.
    pub const fn new() -> Self {
        Self { after_cr: false }
    }

    /// The most bytes one [`ToWire::convert`] call can append for `input_len` input bytes
    /// (every byte an LF that becomes CRLF), for sizing the adapter's output buffer.
    pub const fn max_output_len(input_len: usize) -> usize {
        input_len.saturating_mul(2)
    }

    /// Converts the next chunk of local file data and appends the wire bytes to `out`.
    ///
    /// `out` is only appended to; it grows by at most [`ToWire::max_output_len`] bytes.
    pub fn convert(&mut self, input: &[u8], out: &mut Vec<u8>) {
        // `start` is where the run not yet copied to `out` begins; runs are copied whole and
        // only a bare LF interrupts one, to insert the CR before it.
        let mut start = 0;
        let mut from = 0;
        while let Some(lf) = input.get(from..).and_then(|rest| find(LF, rest)) {
            let lf = from + lf;
            let after_cr = match lf.checked_sub(1) {
                Some(prev) => input.get(prev) == Some(&CR),
                None => self.after_cr,
            };
            if !after_cr {
                out.extend_from_slice(input.get(start..lf).unwrap_or_default());
                out.push(CR);
                // The LF itself begins the next run.
                start = lf;
            }
            from = lf + 1;
        }
        out.extend_from_slice(input.get(start..).unwrap_or_default());
        if let Some(&last) = input.last() {
            self.after_cr = last == CR;
        }
    }

    /// Ends the stream. Nothing is held back in this direction, so nothing is written to
    /// `_out`; the transcoder is reset and can serve the next transfer.
    pub fn finish(&mut self, _out: &mut Vec<u8>) {
        *self = Self::new();
    }
}

/// Wire line ends (CRLF) to local line ends (LF), for receiving file data in TYPE A.
///
/// - CRLF becomes LF.
/// - A bare CR (not followed by LF) is kept as it is, as is a bare LF; every other byte passes
///   through unchanged.
/// - A CR that ends a chunk is held back until the next chunk shows whether an LF follows it;
///   [`FromWire::finish`] writes a CR still held when the stream ends.
///
/// One [`FromWire::convert`] call appends at most [`FromWire::max_output_len`]`(input.len())`
/// bytes (the input plus a CR held back from the previous chunk); `finish` appends at most one.
///
/// ```
/// use ftp_proto::ascii::FromWire;
///
/// let mut from_wire = FromWire::new();
/// let mut file = Vec::new();
/// for chunk in [&b"one\r\ntwo\r"[..], b"\nbare\rcr\r"] {
///     from_wire.convert(chunk, &mut file);
/// }
/// // The last CR is still held: only the end of the stream shows no LF follows it.
/// assert_eq!(file, b"one\ntwo\nbare\rcr");
/// from_wire.finish(&mut file);
/// assert_eq!(file, b"one\ntwo\nbare\rcr\r");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FromWire {
    /// The previous chunk ended in a CR that has not been written yet.
    cr_held: bool,
}

impl FromWire {
    /// A transcoder at the start of a stream.
    pub const fn new() -> Self {
        Self { cr_held: false }
    }

    /// The most bytes one [`FromWire::convert`] call can append for `input_len` input bytes
    /// (the input itself plus a CR held back from the previous chunk), for sizing buffers.
    pub const fn max_output_len(input_len: usize) -> usize {
        input_len.saturating_add(1)
    }

    /// Converts the next chunk of wire data and appends the local bytes to `out`.
    ///
    /// `out` is only appended to; it grows by at most [`FromWire::max_output_len`] bytes. A CR
    /// ending `input` is held back, not written, until the next call or [`FromWire::finish`].
    pub fn convert(&mut self, input: &[u8], out: &mut Vec<u8>) {
        let mut rest = input;
        if self.cr_held {
            match rest.split_first() {
                None => return,
                Some((&LF, tail)) => {
                    out.push(LF);
                    rest = tail;
                }
                // A bare CR; the byte after it is handled with the rest, and may itself be a CR.
                Some(_) => out.push(CR),
            }
            self.cr_held = false;
        }
        // As in `ToWire::convert`: copy whole runs, interrupted only where a CR is dropped.
        let mut start = 0;
        let mut from = 0;
        while let Some(cr) = rest.get(from..).and_then(|tail| find(CR, tail)) {
            let cr = from + cr;
            match rest.get(cr + 1) {
                Some(&LF) => {
                    out.extend_from_slice(rest.get(start..cr).unwrap_or_default());
                    // The LF begins the next run.
                    start = cr + 1;
                    from = cr + 2;
                }
                Some(_) => from = cr + 1,
                None => {
                    out.extend_from_slice(rest.get(start..cr).unwrap_or_default());
                    self.cr_held = true;
                    return;
                }
            }
        }
        out.extend_from_slice(rest.get(start..).unwrap_or_default());
    }

    /// Ends the stream: writes a CR still held back (no LF followed it, so it was a bare CR)
    /// and resets the transcoder so it can serve the next transfer.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if self.cr_held {
            out.push(CR);
        }
        *self = Self::new();
    }
}

/// Converts a whole buffer of local data to wire form in one go; see [`ToWire`].
///
/// ```
/// assert_eq!(ftp_proto::ascii::to_wire(b"a\nb\r\nc\rd"), b"a\r\nb\r\nc\rd");
/// ```
#[must_use]
pub fn to_wire(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut to_wire = ToWire::new();
    to_wire.convert(input, &mut out);
    to_wire.finish(&mut out);
    out
}

/// Converts a whole buffer of wire data to local form in one go; see [`FromWire`].
///
/// ```
/// assert_eq!(ftp_proto::ascii::from_wire(b"a\r\nb\nc\rd\r"), b"a\nb\nc\rd\r");
/// ```
#[must_use]
pub fn from_wire(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut from_wire = FromWire::new();
    from_wire.convert(input, &mut out);
    from_wire.finish(&mut out);
    out
}

/// The position of the first `needle` in `haystack`.
///
/// Same answer as `haystack.iter().position(|&b| b == needle)`, several times faster on long
/// lines: it tests eight bytes at a time for a match (the "has zero byte" word trick on
/// `word ^ needle`) and only looks byte by byte inside the word that has one.
fn find(needle: u8, haystack: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    let pattern = ONES * u64::from(needle);
    let mut words = haystack.chunks_exact(8);
    let mut offset = 0;
    for word in &mut words {
        let bytes = <[u8; 8]>::try_from(word).unwrap_or_default();
        let x = u64::from_ne_bytes(bytes) ^ pattern;
        // Nonzero exactly when some byte of `x` is zero, i.e. some byte equals `needle`.
        if x.wrapping_sub(ONES) & !x & HIGHS != 0 {
            return word.iter().position(|&b| b == needle).map(|i| offset + i);
        }
        offset += 8;
    }
    let tail = words.remainder();
    tail.iter().position(|&b| b == needle).map(|i| offset + i)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The streaming interface both directions share, so one harness drives either.
    trait Transcoder: Default {
        fn convert(&mut self, input: &[u8], out: &mut Vec<u8>);
        fn finish(&mut self, out: &mut Vec<u8>);
    }

    impl Transcoder for ToWire {
        fn convert(&mut self, input: &[u8], out: &mut Vec<u8>) {
            ToWire::convert(self, input, out);
        }
        fn finish(&mut self, out: &mut Vec<u8>) {
            ToWire::finish(self, out);
        }
    }

    impl Transcoder for FromWire {
        fn convert(&mut self, input: &[u8], out: &mut Vec<u8>) {
            FromWire::convert(self, input, out);
        }
        fn finish(&mut self, out: &mut Vec<u8>) {
            FromWire::finish(self, out);
        }
    }

    /// Feeds `chunks` in order through a fresh transcoder, then finishes the stream.
    fn stream<T: Transcoder>(chunks: &[&[u8]]) -> Vec<u8> {
        let mut t = T::default();
        let mut out = Vec::new();
        for chunk in chunks {
            t.convert(chunk, &mut out);
        }
        t.finish(&mut out);
        out
    }

    /// Splits `input` at the given positions (taken modulo `len + 1`, in any order).
    fn split_at_cuts<'a>(input: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
        cuts.sort_unstable();
        let mut chunks = Vec::new();
        let mut start = 0;
        for cut in cuts {
            chunks.push(input.get(start..cut).unwrap());
            start = cut;
        }
        chunks.push(input.get(start..).unwrap());
        chunks
    }

    /// Input where every split point matters: CRLF, bare LF, bare CR, CR CR LF, LF LF, CR at
    /// the very start and the very end.
    const TRICKY: &[u8] = b"\r\na\nb\r\nc\rd\r\r\n\n\n\re\r\r\r\nf\r";

    #[test]
    fn to_wire_known_answers() {
        let cases: &[(&[u8], &[u8])] = &[
            (b"", b""),
            (b"\n", b"\r\n"),
            (b"a\nb\n", b"a\r\nb\r\n"),
            (b"a\r\nb\r\n", b"a\r\nb\r\n"),
            (b"a\rb", b"a\rb"),
            (b"\r", b"\r"),
            (b"\r\r\n", b"\r\r\n"),
            (b"\n\n", b"\r\n\r\n"),
            (b"\n\r", b"\r\n\r"),
            (b"mixed\r\nends\n", b"mixed\r\nends\r\n"),
        ];
        for (file, wire) in cases {
            assert_eq!(to_wire(file), *wire, "{}", file.escape_ascii());
        }
    }

    #[test]
    fn from_wire_known_answers() {
        let cases: &[(&[u8], &[u8])] = &[
            (b"", b""),
            (b"\r\n", b"\n"),
            (b"a\r\nb\r\n", b"a\nb\n"),
            (b"a\nb\n", b"a\nb\n"),
            (b"a\rb", b"a\rb"),
            (b"\r\r\n", b"\r\n"),
            (b"\r\r", b"\r\r"),
            (b"\r\n\r\n", b"\n\n"),
            (b"\n\r", b"\n\r"),
            (b"trailing\r", b"trailing\r"),
        ];
        for (wire, file) in cases {
            assert_eq!(from_wire(wire), *file, "{}", wire.escape_ascii());
        }
    }

    #[test]
    fn crlf_split_across_chunks_is_one_line_end() {
        assert_eq!(stream::<ToWire>(&[b"a\r", b"\nb"]), b"a\r\nb");
        assert_eq!(stream::<FromWire>(&[b"a\r", b"\nb"]), b"a\nb");
        // Empty chunks in between change nothing.
        assert_eq!(stream::<ToWire>(&[b"a\r", b"", b"\nb"]), b"a\r\nb");
        assert_eq!(stream::<FromWire>(&[b"a\r", b"", b"\nb"]), b"a\nb");
    }

    #[test]
    fn trailing_cr_is_held_until_finish() {
        let mut t = FromWire::new();
        let mut out = Vec::new();
        t.convert(b"line\r", &mut out);
        assert_eq!(out, b"line");
        t.convert(b"", &mut out);
        assert_eq!(out, b"line");
        t.finish(&mut out);
        assert_eq!(out, b"line\r");
        // finish resets: the next transfer starts clean and nothing is written twice.
        assert_eq!(t, FromWire::new());
        t.finish(&mut out);
        assert_eq!(out, b"line\r");
    }

    #[test]
    fn held_cr_followed_by_cr_stays_bare() {
        assert_eq!(stream::<FromWire>(&[b"a\r", b"\r\nb"]), b"a\r\nb");
        assert_eq!(stream::<FromWire>(&[b"\r", b"\r", b"\r", b"\n"]), b"\r\r\n");
    }

    #[test]
    fn to_wire_finish_resets() {
        let mut t = ToWire::new();
        let mut out = Vec::new();
        t.convert(b"a\r", &mut out);
        t.finish(&mut out);
        assert_eq!(out, b"a\r");
        // A new transfer's leading LF is a bare LF, not the end of the old transfer's CRLF.
        t.convert(b"\n", &mut out);
        assert_eq!(out, b"a\r\r\n");
    }

    #[test]
    fn every_split_gives_the_same_output() {
        let want_wire = to_wire(TRICKY);
        let want_file = from_wire(TRICKY);
        for cut in 0..=TRICKY.len() {
            let (a, b) = TRICKY.split_at(cut);
            assert_eq!(
                stream::<ToWire>(&[a, b]),
                want_wire,
                "to wire, cut at {cut}"
            );
            assert_eq!(
                stream::<FromWire>(&[a, b]),
                want_file,
                "from wire, cut at {cut}"
            );
            for cut2 in cut..=TRICKY.len() {
                let chunks = split_at_cuts(TRICKY, &[cut, cut2]);
                assert_eq!(stream::<ToWire>(&chunks), want_wire, "cuts {cut}, {cut2}");
                assert_eq!(stream::<FromWire>(&chunks), want_file, "cuts {cut}, {cut2}");
            }
        }
        let bytes: Vec<&[u8]> = TRICKY.chunks(1).collect();
        assert_eq!(stream::<ToWire>(&bytes), want_wire, "to wire, byte by byte");
        assert_eq!(
            stream::<FromWire>(&bytes),
            want_file,
            "from wire, byte by byte"
        );
    }

    #[test]
    fn tricky_input_known_answer() {
        assert_eq!(
            to_wire(TRICKY),
            b"\r\na\r\nb\r\nc\rd\r\r\n\r\n\r\n\re\r\r\r\nf\r"
        );
        assert_eq!(from_wire(TRICKY), b"\na\nb\nc\rd\r\n\n\n\re\r\r\nf\r");
    }

    /// Only CR-free files survive the round trip: TYPE A cannot tell a CRLF that was in the
    /// file from one that `to_wire` made out of an LF, so `from_wire` turns both into LF. A file
    /// with CRLF (or CR CR LF) line ends comes back with LF (or CR LF) ones; a CR not directly
    /// before an LF does survive. Use TYPE I where bytes must come back unchanged.
    #[test]
    fn round_trip_of_cr_free_data() {
        for file in [&b""[..], b"\n", b"a", b"a\nb", b"\n\nx\n\n", b"no newline"] {
            assert_eq!(from_wire(&to_wire(file)), file, "{}", file.escape_ascii());
        }
        assert_eq!(from_wire(&to_wire(b"dos\r\n")), b"dos\n");
        assert_eq!(from_wire(&to_wire(b"bare\rcr\r")), b"bare\rcr\r");
    }

    #[test]
    fn megabyte_in_chunks_matches_one_call() {
        let mut file = Vec::new();
        while file.len() < 1 << 20 {
            file.extend_from_slice(b"the quick brown fox jumps over the lazy dog\n");
        }
        let wire = to_wire(&file);
        let lines = file.iter().filter(|&&b| b == LF).count();
        assert_eq!(wire.len(), file.len() + lines);
        assert_eq!(from_wire(&wire), file);

        // An adapter's loop: odd-sized reads, output sized by the documented bound.
        let chunks: Vec<&[u8]> = wire.chunks(8191).collect();
        assert_eq!(stream::<FromWire>(&chunks), file);
        let chunks: Vec<&[u8]> = file.chunks(8191).collect();
        let mut t = ToWire::new();
        let mut out = Vec::new();
        for chunk in chunks {
            let before = out.len();
            t.convert(chunk, &mut out);
            assert!(out.len() - before <= ToWire::max_output_len(chunk.len()));
        }
        t.finish(&mut out);
        assert_eq!(out, wire);
    }

    #[test]
    fn megabyte_worst_cases() {
        let lfs = vec![LF; 1 << 20];
        let wire = to_wire(&lfs);
        assert_eq!(wire.len(), ToWire::max_output_len(lfs.len()));
        assert_eq!(from_wire(&wire), lfs);

        let crs = vec![CR; 1 << 20];
        assert_eq!(from_wire(&crs), crs);
        assert_eq!(to_wire(&crs), crs);
    }

    #[test]
    fn find_agrees_with_position_at_every_offset() {
        let mut hay = [b'x'; 40];
        for at in 0..hay.len() {
            hay.fill(b'x');
            if let Some(b) = hay.get_mut(at) {
                *b = LF;
            }
            for start in 0..=hay.len() {
                let h = hay.get(start..).unwrap();
                assert_eq!(find(LF, h), h.iter().position(|&b| b == LF));
            }
        }
        assert_eq!(find(0x80, &[0x00, 0x7f, 0xff, 0x01, 0x81, 0x80]), Some(5));
    }

    /// Bytes with CR and LF frequent enough to make every combination of them likely. (Mapped
    /// from plain bytes: a `prop_oneof!` per element is far slower to generate.)
    fn bytes_with_line_ends() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(any::<u8>(), 0..300).prop_map(|mut v| {
            for b in &mut v {
                *b = match *b % 8 {
                    0 | 1 => CR,
                    2 | 3 => LF,
                    4 => b'a',
                    _ => *b,
                };
            }
            v
        })
    }

    /// As [`bytes_with_line_ends`], with every CR replaced by LF.
    fn cr_free_bytes() -> impl Strategy<Value = Vec<u8>> {
        bytes_with_line_ends().prop_map(|mut v| {
            for b in &mut v {
                if *b == CR {
                    *b = LF;
                }
            }
            v
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]

        #[test]
        fn split_independence(
            input in bytes_with_line_ends(),
            cuts in prop::collection::vec(any::<usize>(), 0..8),
        ) {
            let chunks = split_at_cuts(&input, &cuts);
            prop_assert_eq!(stream::<ToWire>(&chunks), to_wire(&input));
            prop_assert_eq!(stream::<FromWire>(&chunks), from_wire(&input));
        }

        #[test]
        fn round_trip_without_cr(file in cr_free_bytes()) {
            prop_assert_eq!(from_wire(&to_wire(&file)), file);
        }

        #[test]
        fn output_is_well_formed_and_bounded(input in bytes_with_line_ends()) {
            let wire = to_wire(&input);
            prop_assert!(wire.len() <= ToWire::max_output_len(input.len()));
            // Every LF on the wire ends a CRLF, so sending twice changes nothing more.
            prop_assert!(wire.windows(2).all(|w| w[1] != LF || w[0] == CR));
            prop_assert!(wire.first() != Some(&LF));
            prop_assert_eq!(to_wire(&wire), wire);
            let file = from_wire(&input);
            prop_assert!(file.len() <= input.len());
            // A CRLF survives receiving only as the tail of CR CR LF.
            prop_assert_eq!(
                file.windows(2).filter(|w| w == b"\r\n").count(),
                input.windows(3).filter(|w| w == b"\r\r\n").count()
            );
        }

        #[test]
        fn find_matches_position(hay in bytes_with_line_ends(), needle in any::<u8>()) {
            prop_assert_eq!(find(needle, &hay), hay.iter().position(|&b| b == needle));
            prop_assert_eq!(find(CR, &hay), hay.iter().position(|&b| b == CR));
        }
    }
}
