//! The logic of the fuzz targets, shared by `fuzz/` (cargo-fuzz) and the corpus replay test
//! that runs under stable `cargo test`.
//!
//! Each function takes arbitrary bytes and panics only when a property is violated: a parser
//! panicking, a round trip that does not give the value back, or memory growing past its bound.
//! Available with the `arbitrary` feature.

use arbitrary::{Arbitrary, Unstructured};

use crate::{Command, Frame, LineFramer, Reply, ReplyParser, addr};

/// The fuzz target names, each a function in this module and a folder in `fuzz/corpus/`.
pub const TARGETS: &[&str] = &[
    "command",
    "reply",
    "framing",
    "addr",
    "command_to_bytes_and_back",
    "reply_to_bytes_and_back",
];

/// Runs the target called `name` on `data`. Returns false for an unknown name.
pub fn run(name: &str, data: &[u8]) -> bool {
    match name {
        "command" => command(data),
        "reply" => reply(data),
        "framing" => framing(data),
        "addr" => addr(data),
        "command_to_bytes_and_back" => command_to_bytes_and_back(data),
        "reply_to_bytes_and_back" => reply_to_bytes_and_back(data),
        _ => return false,
    }
    true
}

/// Frames `data`, parses every line; anything that parses must re-encode and parse back equal.
pub fn command(data: &[u8]) {
    let mut framer = LineFramer::with_max_line(1024);
    let mut rest = data;
    while !rest.is_empty() {
        let step = framer.push(rest);
        rest = rest.get(step.consumed..).unwrap_or_default();
        assert!(framer_bounded(&framer));
        let Some(Frame::Line(line)) = step.item else {
            continue;
        };
        match Command::parse(&line) {
            Ok(cmd) => {
                let _ = cmd.to_string();
                // Parsed values may not be encodable (e.g. a path with a bare CR), but anything
                // that encodes must come back the same.
                if let Ok(wire) = cmd.to_bytes() {
                    assert_eq!(decode_one_command(&wire), Some(cmd), "re-parse of {wire:?}");
                }
            }
            Err(e) => {
                let code = e.reply_code().get();
                assert!(matches!(code, 500..=504 | 522), "{e:?} -> {code}");
            }
        }
    }
}

/// Feeds `data` to a reply parser in two splits; both must give the same results, and every
/// reply must encode and parse back equal.
pub fn reply(data: &[u8]) {
    let Some((&cut, rest)) = data.split_first() else {
        return;
    };
    let whole: Vec<_> = ReplyParser::with_max_size(2048).replies(rest).collect();
    let cut = usize::from(cut).min(rest.len());
    let (a, b) = rest.split_at(cut);
    let mut parser = ReplyParser::with_max_size(2048);
    let mut split: Vec<_> = parser.replies(a).collect();
    split.extend(parser.replies(b));
    assert_eq!(whole, split);
    for r in whole.into_iter().flatten() {
        let wire = r.to_bytes();
        let back = Reply::parse(&wire).expect("encoded reply parses");
        // Inner lines beginning with a 3-digit number come back padded; the rest is identical.
        assert_eq!(back.code(), r.code());
        assert_eq!(back.lines().len(), r.lines().len());
    }
}

/// Frames `data` under every split point given by its first byte; memory stays bounded and the
/// result does not depend on the split.
pub fn framing(data: &[u8]) {
    let Some((&cut, rest)) = data.split_first() else {
        return;
    };
    let mut whole = LineFramer::with_max_line(64);
    let expected: Vec<Frame> = whole.frames(rest).collect();
    assert!(framer_bounded(&whole));
    let mut split = LineFramer::with_max_line(64);
    let cut = usize::from(cut).min(rest.len());
    let (a, b) = rest.split_at(cut);
    let mut got: Vec<Frame> = split.frames(a).collect();
    got.extend(split.frames(b));
    assert_eq!(expected, got);
    for frame in &expected {
        if let Frame::Line(line) = frame {
            assert!(line.len() <= 64);
            assert!(!line.contains(&b'\n'));
        }
    }
}

/// Every address parser on the same bytes; whatever parses formats and parses back equal.
pub fn addr(data: &[u8]) {
    if let Ok(a) = addr::parse_host_port(data) {
        assert_eq!(
            addr::parse_host_port(addr::format_host_port(a).as_bytes()),
            Ok(a)
        );
    }
    if let Ok(a) = addr::parse_eprt(data) {
        assert_eq!(addr::parse_eprt(addr::format_eprt(a).as_bytes()), Ok(a));
    }
    if let Ok(a) = addr::parse_pasv_reply(data) {
        assert_eq!(
            addr::parse_pasv_reply(addr::pasv_reply(a).first_line()),
            Ok(a)
        );
    }
    if let Ok(p) = addr::parse_epsv_reply(data) {
        assert_eq!(
            addr::parse_epsv_reply(addr::epsv_reply(p).first_line()),
            Ok(p)
        );
    }
}

/// Builds a `Command` from the bytes; if it encodes, the framed wire bytes parse back equal.
pub fn command_to_bytes_and_back(data: &[u8]) {
    let Ok(cmd) = Command::arbitrary(&mut Unstructured::new(data)) else {
        return;
    };
    if let Ok(wire) = cmd.to_bytes() {
        assert_eq!(decode_one_command(&wire), Some(cmd), "wire {wire:?}");
    }
}

/// Builds a `Reply` from the bytes; its wire form parses back to a reply with the same code and
/// lines (inner lines beginning with a 3-digit number come back with the one-space pad).
pub fn reply_to_bytes_and_back(data: &[u8]) {
    let Ok(r) = Reply::arbitrary(&mut Unstructured::new(data)) else {
        return;
    };
    let wire = r.to_bytes();
    let back = Reply::parse(&wire).expect("encoded reply parses");
    assert_eq!(back.code(), r.code());
    assert_eq!(back.lines().len(), r.lines().len());
    let last = r.lines().len() - 1;
    for (i, (got, want)) in back.lines().iter().zip(r.lines()).enumerate() {
        let indented = i != 0 && i != last && crate::reply::needs_padding(want);
        if indented {
            assert_eq!(got.get(1..), Some(want.as_slice()));
        } else {
            assert_eq!(got, want);
        }
    }
}

fn framer_bounded(f: &LineFramer) -> bool {
    f.buffered() <= f.max_line() + 1
}

/// Frames wire bytes and parses the single line they must contain.
fn decode_one_command(wire: &[u8]) -> Option<Command> {
    let mut framer = LineFramer::new();
    let frames: Vec<Frame> = framer.frames(wire).collect();
    match frames.as_slice() {
        [Frame::Line(line)] if framer.buffered() == 0 => Command::parse(line).ok(),
        _ => None,
    }
}
