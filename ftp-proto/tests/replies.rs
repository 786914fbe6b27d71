//! Replies and framing: known answers for every reply form, streaming in any split, and
//! property-based round trips.

use bytes::BytesMut;
use ftp_proto::addr::{self, epsv_reply, pasv_reply};
use ftp_proto::codec::ServerCodec;
use ftp_proto::{Frame, LineFramer, Reply, ReplyCode, ReplyError, ReplyParser};
use proptest::prelude::*;
use tokio_util::codec::Encoder;

fn code(n: u16) -> ReplyCode {
    ReplyCode::new(n).unwrap()
}

/// A known answer: wire bytes, reply code, text lines.
type KnownReply = (&'static [u8], u16, Vec<&'static [u8]>);

/// Known answers covering each reply form servers send.
fn known_replies() -> Vec<KnownReply> {
    vec![
        (b"220 Service ready\r\n", 220, vec![b"Service ready"]),
        (b"220-vsFTPd 3.0.3\r\n220-Welcome\r\n220 Ready\r\n", 220, vec![b"vsFTPd 3.0.3", b"220-Welcome", b"Ready"]),
        (b"230 \r\n", 230, vec![b""]),
        (b"331 Please specify the password.\r\n", 331, vec![b"Please specify the password."]),
        (b"227 Entering Passive Mode (127,0,0,1,195,80).\r\n", 227, vec![b"Entering Passive Mode (127,0,0,1,195,80)."]),
        (b"229 Entering Extended Passive Mode (|||50000|)\r\n", 229, vec![b"Entering Extended Passive Mode (|||50000|)"]),
        (b"257 \"/dir with \"\"quotes\"\"\" is current directory\r\n", 257, vec![b"\"/dir with \"\"quotes\"\"\" is current directory"]),
        (b"211-Features:\r\n EPRT\r\n EPSV\r\n MDTM\r\n MLST type*;size*;modify*;\r\n PASV\r\n REST STREAM\r\n SIZE\r\n TVFS\r\n UTF8\r\n211 End\r\n", 211,
            vec![b"Features:", b" EPRT", b" EPSV", b" MDTM", b" MLST type*;size*;modify*;", b" PASV", b" REST STREAM", b" SIZE", b" TVFS", b" UTF8", b"End"]),
        (b"250-Listing /pub\r\n type=dir;modify=20240101000000; pub\r\n250 End\r\n", 250, vec![b"Listing /pub", b" type=dir;modify=20240101000000; pub", b"End"]),
        (b"213 20240229120000\r\n", 213, vec![b"20240229120000"]),
        (b"213 1048576\r\n", 213, vec![b"1048576"]),
        (b"150 Opening BINARY mode data connection for file (10 bytes).\r\n", 150, vec![b"Opening BINARY mode data connection for file (10 bytes)."]),
        (b"226 Transfer complete.\r\n", 226, vec![b"Transfer complete."]),
        (b"426 Connection closed; transfer aborted.\r\n", 426, vec![b"Connection closed; transfer aborted."]),
        (b"421 Timeout.\r\n", 421, vec![b"Timeout."]),
        (b"500 Unknown command.\r\n", 500, vec![b"Unknown command."]),
        (b"534 Policy requires SSL.\r\n", 534, vec![b"Policy requires SSL."]),
        (b"631 Zm9vYmFy\r\n", 631, vec![b"Zm9vYmFy"]),
        (b"214-The following commands are recognized.\r\n ABOR ACCT ALLO APPE\r\n CDUP CWD  DELE EPRT\r\n214 Help OK.\r\n", 214,
            vec![b"The following commands are recognized.", b" ABOR ACCT ALLO APPE", b" CDUP CWD  DELE EPRT", b"Help OK."]),
    ]
}

#[test]
fn known_replies_bytes_to_value_to_bytes() {
    for (wire, n, lines) in known_replies() {
        let r = Reply::parse(wire).unwrap_or_else(|e| panic!("{}: {e}", wire.escape_ascii()));
        assert_eq!(r.code(), code(n));
        let want: Vec<Vec<u8>> = lines.iter().map(|l| l.to_vec()).collect();
        assert_eq!(r.lines(), want.as_slice());
        assert_eq!(Reply::multiline(code(n), &lines), r);
        // The canonical form pads inner lines that begin with a 3-digit number (RFC 959 4.2).
        let canonical = r.to_bytes();
        if wire.starts_with(b"220-vsFTPd") {
            assert_eq!(
                canonical,
                b"220-vsFTPd 3.0.3\r\n 220-Welcome\r\n220 Ready\r\n"
            );
        } else {
            assert_eq!(canonical, wire);
        }
        assert_eq!(Reply::parse(&canonical).unwrap().code(), r.code());
    }
}

#[test]
fn passive_replies_format_and_parse_back() {
    let a = "192.0.2.7:65535".parse().unwrap();
    let r = pasv_reply(a);
    let back = Reply::parse(&r.to_bytes()).unwrap();
    assert_eq!(back.code(), ReplyCode::ENTERING_PASSIVE_MODE);
    assert_eq!(addr::parse_pasv_reply(back.first_line()), Ok(a));
    let r = epsv_reply(2121);
    assert_eq!(
        addr::parse_epsv_reply(Reply::parse(&r.to_bytes()).unwrap().first_line()),
        Ok(2121)
    );
}

#[test]
fn bare_lf_and_mixed_line_ends_from_servers() {
    let got: Vec<_> = ReplyParser::new()
        .replies(b"220-a\n220 b\r\n331 c\n")
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].lines(), [b"a".to_vec(), b"b".to_vec()]);
}

#[test]
fn hostile_server_output() {
    // A megabyte without a newline, an IAC storm, NULs, invalid UTF-8, 30-digit codes.
    let mut p = ReplyParser::new();
    let mut wire = b"220-".to_vec();
    wire.extend(std::iter::repeat_n(b'x', 1 << 20));
    wire.extend_from_slice(b"\r\n220 ok\r\n");
    wire.extend([0xff, 0xf4].repeat(50_000));
    wire.extend_from_slice(b"200 \xff\xff\xfe\0nul\r\n");
    wire.extend_from_slice(b"123456789012345678901234567890 big\r\n");
    wire.extend_from_slice(b"\r\n   \r\n226 done\r\n");
    let got: Vec<_> = wire
        .chunks(1000)
        .flat_map(|c| p.replies(c).collect::<Vec<_>>())
        .collect();
    let summary: Vec<String> = got
        .iter()
        .map(|r| match r {
            Ok(r) => r.code().to_string(),
            Err(ReplyError::TooLarge { .. }) => "too-large".into(),
            Err(ReplyError::Malformed { .. }) => "malformed".into(),
            Err(e) => panic!("{e:?}"),
        })
        .collect();
    // The overlong first line opened a `220-` reply: its end line `220 ok` is skipped with it.
    assert_eq!(
        summary,
        [
            "too-large",
            "200",
            "malformed",
            "malformed",
            "malformed",
            "226"
        ]
    );
    // The 200 reply kept the IAC-escaped 0xFF and blanked the NUL.
    let r200 = got[1].as_ref().unwrap();
    assert_eq!(r200.first_line(), b"\xff\xfe nul");
}

fn arb_line() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        any::<u8>().prop_filter("no CR/LF/NUL", |b| !matches!(b, b'\r' | b'\n' | 0 | 0xff)),
        0..40,
    )
}

fn arb_reply() -> impl Strategy<Value = Reply> {
    (100u16..=699, prop::collection::vec(arb_line(), 1..6)).prop_map(|(n, mut lines)| {
        // Inner lines beginning with a 3-digit number are padded on the wire; generate them padded.
        let last = lines.len() - 1;
        for (i, line) in lines.iter_mut().enumerate() {
            if i != 0 && i != last && line.len() >= 3 && line[..3].iter().all(u8::is_ascii_digit) {
                line.insert(0, b' ');
            }
        }
        Reply::multiline(code(n), lines)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn reply_encode_then_parse_is_identity(r in arb_reply()) {
        prop_assert_eq!(Reply::parse(&r.to_bytes()), Ok(r));
    }

    #[test]
    fn reply_stream_in_any_split(rs in prop::collection::vec(arb_reply(), 1..5), cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..4)) {
        let wire: Vec<u8> = rs.iter().flat_map(Reply::to_bytes).collect();
        let mut points: Vec<usize> = cuts.iter().map(|c| c.index(wire.len() + 1)).collect();
        points.sort_unstable();
        let mut parser = ReplyParser::new();
        let mut got = Vec::new();
        let mut start = 0;
        for end in points.into_iter().chain([wire.len()]) {
            got.extend(parser.replies(&wire[start..end]));
            start = end;
        }
        let want: Vec<Result<Reply, ReplyError>> = rs.into_iter().map(Ok).collect();
        prop_assert_eq!(got, want);
        prop_assert!(!parser.in_reply());
    }

    #[test]
    fn any_bytes_give_replies_or_typed_errors(data in prop::collection::vec(any::<u8>(), 0..400), max in 8usize..256) {
        let mut parser = ReplyParser::with_max_size(max);
        for item in parser.replies(&data) {
            match item {
                Ok(r) => prop_assert!((100..=699).contains(&r.code().get())),
                Err(ReplyError::Malformed { line }) => prop_assert!(line.len() <= max),
                Err(ReplyError::TooLarge { limit }) => prop_assert_eq!(limit, max),
                Err(e) => prop_assert!(false, "unexpected {:?}", e),
            }
        }
    }

    #[test]
    fn framing_is_split_independent_and_bounded(data in prop::collection::vec(any::<u8>(), 0..600), cut in any::<prop::sample::Index>(), max in 1usize..100) {
        let mut whole = LineFramer::with_max_line(max);
        let max = whole.max_line(); // tiny limits are raised to 4
        let want: Vec<Frame> = whole.frames(&data).collect();
        let (a, b) = data.split_at(cut.index(data.len() + 1));
        let mut split = LineFramer::with_max_line(max);
        let mut got: Vec<Frame> = Vec::new();
        for chunk in [a, b] {
            let mut rest = chunk;
            while !rest.is_empty() {
                let step = split.push(rest);
                prop_assert!(split.buffered() <= max + 1);
                rest = &rest[step.consumed..];
                got.extend(step.item);
            }
        }
        prop_assert_eq!(&got, &want);
        for f in want {
            if let Frame::Line(l) = f {
                prop_assert!(l.len() <= max && !l.contains(&b'\n'));
            }
        }
    }

    #[test]
    fn framing_recovers_every_line_sent_with_crlf(lines in prop::collection::vec(prop::collection::vec(any::<u8>().prop_filter("no CR/LF", |b| *b != b'\r' && *b != b'\n'), 0..50), 0..10)) {
        // Sender side: Telnet-escape each line and end it with CRLF.
        let mut wire = Vec::new();
        for l in &lines {
            for &b in l {
                wire.push(b);
                if b == 0xff {
                    wire.push(0xff);
                }
            }
            wire.extend_from_slice(b"\r\n");
        }
        let mut framer = LineFramer::new();
        let got: Vec<Frame> = framer.frames(&wire).collect();
        let want: Vec<Frame> = lines.into_iter().map(Frame::Line).collect();
        prop_assert_eq!(got, want);
    }
}

mod codecs;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// The codecs (runtime-neutral, tokio-util, futures-io) decode every reply the way the
    /// core's parser does, however the bytes are split; the tokio encoder writes the core's bytes.
    #[test]
    fn replies_round_trip_through_the_codecs(
        rs in prop::collection::vec(arb_reply(), 1..5),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut wire = Vec::new();
        let mut encoded = BytesMut::new();
        for r in &rs {
            wire.extend(r.to_bytes());
            ServerCodec::new().encode(r, &mut encoded).unwrap();
        }
        prop_assert_eq!(&encoded[..], &wire[..]);
        let (a, b) = wire.split_at(cut.index(wire.len() + 1));
        let want: Vec<Result<Reply, ReplyError>> = rs.into_iter().map(Ok).collect();
        for got in codecs::replies(&[a, b]) {
            prop_assert_eq!(&got, &want);
        }
    }

    /// Whatever the bytes, every codec yields exactly what `ReplyParser` yields.
    #[test]
    fn any_server_bytes_decode_alike_in_every_codec(
        data in prop::collection::vec(any::<u8>(), 0..600),
        cut in any::<prop::sample::Index>(),
    ) {
        let want: Vec<_> = ReplyParser::new().replies(&data).collect();
        let (a, b) = data.split_at(cut.index(data.len() + 1));
        for got in codecs::replies(&[a, b]) {
            prop_assert_eq!(&got, &want);
        }
    }
}
