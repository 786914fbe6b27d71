//! The logic of the fuzz targets, shared by `fuzz/` (cargo-fuzz) and the corpus replay test
//! that runs under stable `cargo test`.
//!
//! Each function takes arbitrary bytes and panics only when a property is violated: a parser
//! panicking, a round trip that does not give the value back, or memory growing past its bound.
//! Available with the `arbitrary` feature.

use arbitrary::{Arbitrary, Unstructured};

use std::time::Instant;

use crate::listing::{self, ListingFormat};
use crate::{Command, Frame, LineFramer, Reply, ReplyCode, ReplyParser, Timestamp, addr};

/// The fuzz target names, each a function in this module and a folder in `fuzz/corpus/`.
pub const TARGETS: &[&str] = &[
    "command",
    "reply",
    "framing",
    "addr",
    "command_to_bytes_and_back",
    "reply_to_bytes_and_back",
    "server_session",
    "list_parse",
    "client_session",
];

/// Runs the target called `name` on `data`; `origin` is the start of the simulated clock of
/// `server_session` (the caller reads its clock: this crate never does). Returns false for an
/// unknown name.
pub fn run(name: &str, data: &[u8], origin: Instant) -> bool {
    match name {
        "command" => command(data),
        "reply" => reply(data),
        "framing" => framing(data),
        "addr" => addr(data),
        "command_to_bytes_and_back" => command_to_bytes_and_back(data),
        "reply_to_bytes_and_back" => reply_to_bytes_and_back(data),
        "server_session" => server_session(data, origin),
        "list_parse" => list_parse(data),
        "client_session" => client_session(data, origin),
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

/// One server [`crate::server::Session`] driven through up to 200 steps decoded from `data`,
/// every output checked against a model of what the session must do.
///
/// The first two bytes pick the configuration (anonymous login, TLS policy, checksums, HOST,
/// AVBL, SITE, MFMT, active and passive mode, IPv4 or IPv6, small limits). Then each step is a
/// kind byte (taken modulo 16) and arguments whose length its bytes give:
///
/// | kind | step | arguments |
/// |---|---|---|
/// | 0..=4 | realistic command lines, every verb | count; per line: index, flags (line end; bit 2: junk length and bytes follow) |
/// | 5 | raw control bytes | length (240..: two more bytes, up to 8 KiB), bytes |
/// | 6..=8 | answer the pending request (right or wrong kind) | choice (0..=3: the fitting success), ticket choice, length and bytes the answer is built from |
/// | 9 | the same with a ticket nothing waits for | as 6 |
/// | 10..=11 | a data fact, in the driver's side of the channel's lifecycle (or for a bogus id) | six bytes |
/// | 12..=13 | time passes (0..=400 s, or to the next deadline) and `handle_timeout` | one byte |
/// | 14 | the TLS handshake completes | none |
/// | 15 | shutdown (or as 14) | one byte |
///
/// All output is drained after every step.
///
/// It panics when the session breaks the contract of its module docs:
/// - every `Transmit` is whole, valid replies;
/// - exactly one final reply per command line read, in order, with the code that command can
///   get (the exact one where the model knows it), never before the line was sent. The
///   exceptions: the 220 greeting; a 421 (timeouts, limits, shutdown), always followed by
///   `Close`; ABOR during a transfer or while the application decides on a transfer command
///   (426 is that command's final reply, ABOR's 226 follows at once or after the commands read
///   before it); STAT without argument during a transfer with nothing queued (answered at
///   once); lines after an accepted AUTH (discarded until the handshake) and after `Close`;
///   overlong lines count as commands answered with 500;
/// - requests, data actions, `Release`s and timers match the commands, answers and facts that
///   caused them; at most one data channel is open at a time; nothing follows `Close`;
/// - a wrong ticket is refused and changes nothing; a mismatched answer gets one 451;
/// - `poll_timeout` is what the model expects, and after `handle_timeout(now)` it is `None` or
///   later than `now`;
/// - each call outputs no more than a bound linear in its input, in the commands it runs and in
///   the answer it was given.
///
/// `origin` starts the simulated clock; only offsets from it matter.
pub fn server_session(data: &[u8], origin: Instant) {
    server_model::run(data, origin);
}

/// One step a client driver (or a hostile server) can take.
#[derive(Debug, Arbitrary)]
enum ClientStep {
    Send(Command),
    Transfer(Command, Option<u64>),
    External(Command),
    Abort,
    Server(Vec<u8>),
    ServerReply(Reply),
    Connected(u8),
    Listening(u8, u16),
    DataFailed(u8),
    Finished(u8, u32, bool),
    Advance(u16),
    Eof,
    TlsEstablished,
    Passive(bool),
}

/// Driver steps against one client `Session`.
///
/// It panics when:
/// - any call panics;
/// - a handle gets more than one final event (`Reply`, `Transfer` or `Failed`), a final event
///   names a handle never issued, or anything but data closes follows `Closed`;
/// - a call transmits more than the commands it released (plus ABOR and a NOOP);
/// - after `handle_timeout(now)`, `poll_timeout` is not `None` or later than `now`.
///
/// `origin` starts the simulated clock.
pub fn client_session(data: &[u8], origin: Instant) {
    use crate::client::{
        CommandHandle, Config, CopyError, DataAction, DataError, DataInput, Event, Output, Session,
    };
    use std::collections::HashSet;
    use std::time::Duration;

    let mut u = Unstructured::new(data);
    let config = Config {
        max_reply: 4096,
        reply_timeout: Duration::from_secs(30),
        ..Config::default()
    };
    let mut session = Session::new(config, "192.0.2.1:21".parse().expect("valid"), origin);
    let mut now = origin;
    let mut issued: HashSet<CommandHandle> = HashSet::from([CommandHandle::GREETING]);
    let mut finished: HashSet<CommandHandle> = HashSet::new();
    let mut data_ids = Vec::new();
    let mut closed = false;
    let mut released = 0usize;
    for _ in 0..64 {
        let Ok(step) = ClientStep::arbitrary(&mut u) else {
            break;
        };
        let mut allowance = 64usize;
        match step {
            ClientStep::Send(command) => {
                let len = command.to_bytes().map_or(0, |b| b.len());
                if let Ok(h) = session.send(now, command) {
                    issued.insert(h);
                    released += len;
                }
            }
            ClientStep::Transfer(command, rest) => {
                let len = command.to_bytes().map_or(0, |b| b.len());
                if let Ok(h) = session.transfer(now, command, rest) {
                    issued.insert(h);
                    released += len + 64;
                }
            }
            ClientStep::External(command) => {
                let len = command.to_bytes().map_or(0, |b| b.len());
                if let Ok(h) = session.transfer_external(now, command) {
                    issued.insert(h);
                    released += len;
                }
            }
            ClientStep::Abort => {
                let _ = session.abort(now);
            }
            ClientStep::Server(bytes) => session.handle_control(now, &bytes),
            ClientStep::ServerReply(reply) => session.handle_control(now, &reply.to_bytes()),
            ClientStep::Connected(i) => {
                if let Some(&id) = data_ids.get(usize::from(i) % data_ids.len().max(1)) {
                    session.handle_data(now, DataInput::Connected { id });
                }
            }
            ClientStep::Listening(i, port) => {
                if let Some(&id) = data_ids.get(usize::from(i) % data_ids.len().max(1)) {
                    let addr = std::net::SocketAddr::from(([192, 0, 2, 10], port));
                    session.handle_data(now, DataInput::Listening { id, addr });
                }
            }
            ClientStep::DataFailed(i) => {
                if let Some(&id) = data_ids.get(usize::from(i) % data_ids.len().max(1)) {
                    let error = DataError::Connect;
                    session.handle_data(now, DataInput::Failed { id, error });
                }
            }
            ClientStep::Finished(i, bytes, ok) => {
                if let Some(&id) = data_ids.get(usize::from(i) % data_ids.len().max(1)) {
                    let result = if ok {
                        Ok(())
                    } else {
                        Err(CopyError::ConnectionLost)
                    };
                    let bytes = u64::from(bytes);
                    session.handle_data(now, DataInput::Finished { id, bytes, result });
                }
            }
            ClientStep::Advance(secs) => {
                now += Duration::from_secs(u64::from(secs));
                session.handle_timeout(now);
                if let Some(next) = session.poll_timeout() {
                    assert!(next > now, "timeout not moved past now");
                }
            }
            ClientStep::Eof => session.handle_eof(now),
            ClientStep::TlsEstablished => session.handle_tls_established(now),
            ClientStep::Passive(on) => session.set_passive(on),
        }
        allowance += core::mem::take(&mut released);
        let mut transmitted = 0usize;
        while let Some(out) = session.poll_output() {
            match out {
                Output::Transmit(bytes) => {
                    assert!(!closed, "transmit after Closed");
                    transmitted += bytes.len();
                }
                Output::Data(DataAction::Connect { id, .. } | DataAction::Listen { id, .. }) => {
                    assert!(!closed, "data channel opened after Closed");
                    data_ids.push(id);
                }
                Output::Data(_) | Output::UpgradeTls => {}
                Output::Event(event) => {
                    assert!(!closed, "event after Closed: {event:?}");
                    let handle = match event {
                        Event::Reply { handle, .. }
                        | Event::Transfer { handle, .. }
                        | Event::Failed { handle, .. } => Some(handle),
                        Event::Closed(_) => {
                            closed = true;
                            None
                        }
                        _ => None,
                    };
                    if let Some(h) = handle {
                        assert!(issued.contains(&h), "final event for unknown {h:?}");
                        assert!(finished.insert(h), "second final event for {h:?}");
                    }
                }
            }
        }
        // Queued commands may go out later: count what was released but not yet sent.
        assert!(
            transmitted <= allowance + 4096,
            "transmitted {transmitted} bytes for an allowance of {allowance}"
        );
    }
}

/// Listing bytes through every client-side parser: [`listing::parse_listing`] auto-detecting
/// and with each format forced, [`listing::parse_mlsx_line`] and [`listing::local_name`] on each
/// line, and replies built from the lines (as 211, 213, 250 and 257) through
/// [`client::parse`](crate::client::parse). The first four bytes (big-endian Unix seconds) are
/// the caller's `now`.
///
/// It panics when:
/// - a returned entry's name is empty, `.` or `..`, or holds `/` or NUL, or an MLSD line gives a
///   `cdir`/`pdir` entry;
/// - a listing reports more entries and skipped lines than it has lines, or a format other
///   than the forced one;
/// - an MLSD entry, formatted again with every fact, does not parse back with the same name,
///   kind, size, time and mode;
/// - `local_name` accepts an empty, `.`/`..`, separator, drive-prefixed or control-character
///   name;
/// - a reply value parser accepts a reply with the wrong code, or a value it returns does not
///   come back equal from the reply a server would send for it.
pub fn list_parse(data: &[u8]) {
    let (head, body) = data.split_at(data.len().min(4));
    let secs = head.iter().fold(0i64, |acc, &b| acc << 8 | i64::from(b));
    let Some(now) = Timestamp::from_unix(secs) else {
        return;
    };
    let lines = body.split(|&b| b == b'\n').count();
    let formats = [
        ListingFormat::Unix,
        ListingFormat::Dos,
        ListingFormat::Eplf,
        ListingFormat::Mlsx,
    ];
    for format in formats.map(Some).into_iter().chain([None]) {
        let parsed = listing::parse_listing(body, format, now);
        assert!(parsed.entries.len() + parsed.skipped <= lines);
        if format.is_some() {
            assert_eq!(parsed.format, format);
        }
        for entry in &parsed.entries {
            assert_listable(entry);
        }
    }
    for line in body.split(|&b| b == b'\n') {
        if let Some(entry) = listing::parse_mlsx_line(line) {
            assert_listable(&entry);
            mlsx_round_trip(&entry);
        }
        if let Ok(name) = listing::local_name(line) {
            assert!(!matches!(name, "" | "." | ".."), "{name:?}");
            assert!(!name.contains(['/', '\\']) && !name.chars().any(char::is_control));
            assert!(!matches!(name.as_bytes(), [l, b':', ..] if l.is_ascii_alphabetic()));
        }
    }
    let reply_lines: Vec<&[u8]> = body.split(|&b| b == b'\n').take(64).collect();
    for code in [211, 213, 250, 257] {
        let code = ReplyCode::new(code).unwrap_or(ReplyCode::SYSTEM_STATUS);
        let reply = Reply::multiline(code, &reply_lines);
        reply_values(&reply);
        if let Some(first) = reply_lines.first() {
            reply_values(&Reply::new(code, first));
        }
    }
}

fn assert_listable(entry: &listing::Entry) {
    let name = entry.name.as_slice();
    assert!(
        !matches!(name, b"" | b"." | b"..") && !name.iter().any(|&b| b == b'/' || b == 0),
        "{}",
        name.escape_ascii()
    );
    assert!(!matches!(
        entry.kind,
        listing::EntryKind::CurrentDir | listing::EntryKind::ParentDir
    ));
}

/// An MLSD entry formatted with every fact parses back with what those facts carry.
fn mlsx_round_trip(entry: &listing::Entry) {
    let mut out = Vec::new();
    if listing::mlsx_line(entry, listing::Facts::ALL, &mut out).is_err() {
        return;
    }
    let line = out.strip_suffix(b"\r\n").unwrap_or(&out);
    let back = listing::parse_mlsx_line(line).expect("formatted MLSD line parses");
    assert_eq!(back.name, entry.name);
    assert_eq!(
        core::mem::discriminant(&back.kind),
        core::mem::discriminant(&entry.kind)
    );
    if !entry.kind.is_dir() {
        assert_eq!(back.size, entry.size);
    }
    assert_eq!(back.modified, entry.modified);
    assert_eq!(back.unix_mode, entry.unix_mode);
}

/// Every reply value parser on one reply: the code decides, and values round-trip.
fn reply_values(reply: &Reply) {
    use crate::client::parse::{
        Features, ValueError, parse_mdtm, parse_mlst, parse_pathname, parse_size,
    };
    let code = reply.code().get();
    let wrong = ValueError::UnexpectedCode { code: reply.code() };
    let features = Features::parse(reply);
    if code != 211 {
        assert!(features.is_empty());
    }
    for (name, _) in features.iter() {
        assert!(features.contains(name) && !name.is_empty());
    }
    let _ = (features.mlst_facts(), features.auth_mechanisms());
    match parse_pathname(reply) {
        Ok(path) => {
            assert_eq!(code, 257);
            assert!(!path.is_empty());
            let mut quoted = vec![b'"'];
            for &b in &path {
                quoted.extend_from_slice(if b == b'"' {
                    b"\"\""
                } else {
                    core::slice::from_ref(&b)
                });
            }
            quoted.extend_from_slice(b"\" ok");
            let again = Reply::new(ReplyCode::PATHNAME_CREATED, quoted);
            assert_eq!(parse_pathname(&again), Ok(path));
        }
        Err(e) => assert!(code == 257 || e == wrong),
    }
    match parse_size(reply) {
        Ok(n) => {
            assert_eq!(code, 213);
            let again = Reply::new(ReplyCode::FILE_STATUS, n.to_string());
            assert_eq!(parse_size(&again), Ok(n));
        }
        Err(e) => assert!(code == 213 || e == wrong),
    }
    match parse_mdtm(reply) {
        Ok(t) => {
            assert_eq!(code, 213);
            let again = Reply::new(ReplyCode::FILE_STATUS, t.to_string());
            assert_eq!(parse_mdtm(&again), Ok(t));
        }
        Err(e) => assert!(code == 213 || e == wrong),
    }
    match parse_mlst(reply) {
        Ok(entry) => {
            assert_eq!(code, 250);
            assert!(!entry.name.is_empty());
        }
        Err(e) => assert!(code == 250 || e == wrong),
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

/// The driver and the model behind [`server_session`].
///
/// The model mirrors what the session must have decided from what it was given: the commands
/// read but not yet answered (framed with a `LineFramer` of the same limit, so it knows which
/// lines were complete), what the first of them waits for, the login phase, the prepared data
/// channel, the timers. It reads the session's outputs as one ordered stream of events and
/// explains each one, or panics. It never looks inside the session; the session's accessors are
/// only compared with it.
mod server_model {
    use core::fmt::{self, Write as _};
    use core::time::Duration;
    use std::collections::{BTreeMap, VecDeque};
    use std::net::{IpAddr, SocketAddr};
    use std::sync::Arc;
    use std::time::Instant;

    use arbitrary::{Arbitrary, Unstructured};

    use crate::listing::{Entry, EntryKind};
    use crate::server::gating::{self, Phase};
    use crate::server::{
        Config, ConnectionInfo, DataAction, DataError, DataId, DataInput, Direction, Family,
        FsError, HashAlgorithm, ListKind, Output, Request, Response, Session, StoreMode, Ticket,
        TlsPolicy, TransferError, UsageError,
    };
    use crate::{
        AuthMechanism, Command, EpsvMode, FormatControl, Frame, FtpPath, LineFramer, ParseError,
        ProtectionLevel, Reply, ReplyCode, ReplyParser, Timestamp, TransferType, VirtualPath,
    };

    const MAX_STEPS: usize = 200;
    /// Longest raw control chunk in one step.
    const MAX_RAW: usize = 8192;
    /// Ids the driver invents; the session never issues them.
    const BOGUS_ID: u64 = 1 << 40;

    const PEER_V4: &str = "192.0.2.10:40000";
    const LOCAL_V4: &str = "192.0.2.1:21";
    const PEER_V6: &str = "[::1]:40000";
    const LOCAL_V6: &str = "[::1]:21";

    /// Realistic command lines, without line end: every verb, some arguments that work with
    /// the fixed addresses (peer 192.0.2.10 or ::1, data port 50000) and some that must fail.
    const LINES: &[&[u8]] = &[
        b"USER alice",
        b"USER anonymous",
        b"USER ftp",
        b"PASS secret",
        b"PASS ",
        b"ACCT acct",
        b"CWD pub",
        b"CWD /",
        b"CWD ..",
        b"XCWD docs",
        b"CDUP",
        b"XCUP",
        b"SMNT x",
        b"QUIT",
        b"REIN",
        b"PORT 192,0,2,10,195,80",
        b"PORT 192,0,2,99,195,80",
        b"PORT 192,0,2,10,0,21",
        b"PORT 0,0,0,0,195,80",
        b"PASV",
        b"EPRT |1|192.0.2.10|50000|",
        b"EPRT |2|::1|50000|",
        b"EPRT |2|::ffff:192.0.2.10|50000|",
        b"EPRT |1|192.0.2.10|21|",
        b"EPSV",
        b"EPSV 1",
        b"EPSV 2",
        b"EPSV ALL",
        b"TYPE A",
        b"TYPE I",
        b"TYPE L 8",
        b"TYPE E",
        b"TYPE A T",
        b"STRU F",
        b"STRU R",
        b"MODE S",
        b"MODE B",
        b"RETR a.txt",
        b"RETR /pub/file.bin",
        b"STOR b.txt",
        b"STOU",
        b"STOU hint.txt",
        b"APPE log.txt",
        b"ALLO 1000",
        b"REST 100",
        b"REST 0",
        b"RNFR a.txt",
        b"RNTO b.txt",
        b"ABOR",
        b"\xff\xf4\xff\xf2ABOR",
        b"DELE a.txt",
        b"RMD old",
        b"XRMD old",
        b"MKD new",
        b"XMKD \"q\"",
        b"PWD",
        b"XPWD",
        b"LIST",
        b"LIST -la",
        b"LIST -la /pub",
        b"NLST",
        b"NLST *.txt",
        b"MLSD",
        b"MLSD /pub",
        b"MLST",
        b"MLST a.txt",
        b"SITE HELP",
        b"SITE CHMOD 644 a.txt",
        b"SITE FROB",
        b"SYST",
        b"STAT",
        b"STAT -la /pub",
        b"STAT /",
        b"HELP",
        b"HELP RETR",
        b"HELP FROB",
        b"NOOP",
        b"FEAT",
        b"OPTS UTF8 ON",
        b"OPTS UTF8 OFF",
        b"OPTS MLST type;size;modify;",
        b"OPTS HASH",
        b"OPTS HASH SHA-256",
        b"OPTS HASH MD5",
        b"OPTS FROB",
        b"AUTH TLS",
        b"AUTH SSL",
        b"AUTH TLS-C",
        b"AUTH GSSAPI",
        b"ADAT abc",
        b"PBSZ 0",
        b"PROT P",
        b"PROT C",
        b"PROT S",
        b"CCC",
        b"MIC x",
        b"CONF x",
        b"ENC x",
        b"SIZE a.txt",
        b"MDTM a.txt",
        b"MDTM 20240101120000 a.txt",
        b"MFMT 20240101120000 a.txt",
        b"HOST ftp.example.com",
        b"LANG EN",
        b"LANG FR",
        b"CLNT curl",
        b"HASH a.txt",
        b"XCRC a.txt",
        b"XCRC a.txt 0 10",
        b"XMD5 a.txt",
        b"XSHA1 a.txt",
        b"XSHA256 a.txt",
        b"AVBL",
        b"AVBL /pub",
        b"LPRT 4,4,192,0,2,10,2,195,80",
        b"LPSV",
        b"FROB",
        b"",
        b"REST -1",
        b"RETR a\x00b",
        b"CWD a\rb",
        b"PORT 1,2,3",
        b"TYPE X",
        b"USER",
    ];

    /// The configuration knobs drawn from the first two input bytes.
    #[derive(Debug, Clone, Copy)]
    struct Knobs(u8, u8);

    impl Knobs {
        // Built as a driver outside the crate must, `Config` being `#[non_exhaustive]`.
        #[allow(clippy::field_reassign_with_default)]
        fn build(self) -> (Config, ConnectionInfo) {
            let Knobs(a, b) = self;
            let bit = |byte: u8, n: u8| byte & (1 << n) != 0;
            let mut c = Config::default();
            c.anonymous = bit(a, 0);
            c.tls = match (a >> 1) & 3 {
                0 => TlsPolicy::default(),
                1 => TlsPolicy::optional(),
                2 => TlsPolicy::required(),
                _ => {
                    let mut p = TlsPolicy::optional();
                    p.allow_ccc = true;
                    p
                }
            };
            c.capabilities.host = bit(a, 3);
            c.capabilities.avbl = bit(a, 4);
            // At least one data mode stays on: `Config::validate` refuses neither.
            c.active_mode = !bit(a, 5);
            c.passive_mode = !bit(a, 6) || bit(a, 5);
            let algorithms = [
                HashAlgorithm::Crc32,
                HashAlgorithm::Md5,
                HashAlgorithm::Sha1,
                HashAlgorithm::Sha256,
                HashAlgorithm::Sha512,
            ];
            c.capabilities.checksums = (0..5)
                .filter(|&n| bit(b, n))
                .filter_map(|n| algorithms.get(usize::from(n)).copied())
                .collect();
            c.capabilities.set_mtime = !bit(b, 5);
            // Both starting types, from two bits that are each used for something else.
            c.ascii_by_default = bit(a, 4) == bit(b, 5);
            if bit(b, 6) {
                c.capabilities.site_commands = vec!["CHMOD".to_owned()];
            }
            if bit(b, 7) {
                c.max_line = 24;
                c.max_queued_commands = 3;
                c.max_login_failures = 1;
            }
            let (peer, local) = if bit(a, 7) {
                (PEER_V6, LOCAL_V6)
            } else {
                (PEER_V4, LOCAL_V4)
            };
            debug_assert_eq!(c.validate(), Ok(()));
            let conn = ConnectionInfo {
                peer: peer.parse().unwrap_or_else(|_| unreachable!()),
                local: local.parse().unwrap_or_else(|_| unreachable!()),
                tls: false,
            };
            (c, conn)
        }
    }

    /// The input, read a byte at a time (zeros once it runs out).
    struct Input<'a>(Unstructured<'a>);

    impl<'a> Input<'a> {
        fn byte(&mut self) -> u8 {
            u8::arbitrary(&mut self.0).unwrap_or(0)
        }

        fn u16(&mut self) -> u16 {
            u16::from_le_bytes([self.byte(), self.byte()])
        }

        fn bytes(&mut self, n: usize) -> &'a [u8] {
            let n = n.min(self.0.len());
            self.0.bytes(n).unwrap_or_default()
        }

        fn is_empty(&self) -> bool {
            self.0.is_empty()
        }

        /// A length byte and that many bytes, as their own input.
        fn take(&mut self) -> Input<'a> {
            let n = usize::from(self.byte());
            Input(Unstructured::new(self.bytes(n)))
        }

        /// A few bytes as their own `Unstructured`, for types that implement `Arbitrary`.
        fn sub(&mut self) -> Unstructured<'a> {
            let n = usize::from(self.byte() % 48);
            Unstructured::new(self.bytes(n))
        }
    }

    /// What the driver did, for the failure report.
    enum Step {
        Control(Vec<u8>),
        Respond(Ticket, Response),
        Data(DataInput),
        Timeout(Duration),
        TlsEstablished,
        Shutdown,
    }

    impl fmt::Debug for Step {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self {
                Self::Control(b) => write!(f, "control \"{}\"", b.escape_ascii()),
                Self::Respond(t, r) => write!(f, "respond {t:?} {r:?}"),
                Self::Data(d) => write!(f, "data {d:?}"),
                Self::Timeout(d) => write!(f, "timeout +{d:?}"),
                Self::TlsEstablished => f.write_str("tls established"),
                Self::Shutdown => f.write_str("shutdown"),
            }
        }
    }

    /// One output, with `Transmit` split into its replies.
    #[derive(Debug)]
    enum Ev {
        Reply(Reply),
        Data(DataAction),
        Request(Ticket, Request),
        Upgrade,
        Downgrade,
        Close,
    }

    /// What waits in the session's order of replies.
    #[derive(Debug)]
    enum Line {
        Overlong,
        Parsed(Result<Command, ParseError>),
        /// The 226 of an ABOR that aborted a transfer while commands read before it still wait.
        AborReply,
        /// A transfer command already answered (426, ABOR) whose request is still open: the
        /// session waits for the application's answer to release it.
        Aborted,
    }

    /// What a transfer carries.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Carries {
        File(Direction),
        /// A listing the session formatted (no ticket: nothing to release).
        Listing,
        /// A listing the driver streams for the ticket.
        Stream(ListKind),
    }

    impl Carries {
        /// Whether the application opened something for the ticket that must be released if
        /// the transfer never starts.
        fn holds_ticket(self) -> bool {
            !matches!(self, Self::Listing)
        }
    }

    /// What the first unanswered command waits for.
    #[derive(Debug)]
    enum Wait {
        App {
            ticket: Ticket,
            request: Request,
            /// When the command asked (a failed login is answered a delay after PASS).
            at: Instant,
        },
        Listen {
            id: DataId,
            extended: bool,
        },
        LoginDelay {
            until: Instant,
            close: bool,
        },
        Transfer {
            id: DataId,
            ticket: Ticket,
            carries: Carries,
            /// The 150/125 and the data action went out.
            started: bool,
            /// The data deadline, while the data connection is not up.
            deadline: Option<Instant>,
        },
    }

    /// A command line read and not yet finally answered.
    #[derive(Debug)]
    struct Pending {
        line: Line,
        len: usize,
        wait: Option<Wait>,
    }

    /// The data channel prepared for the next transfer, as the session must see it.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Channel {
        None,
        Passive {
            id: DataId,
            connected: bool,
            /// An announced listener nobody uses is closed after the idle time.
            deadline: Option<Instant>,
        },
        Active(SocketAddr),
    }

    /// The driver's side of one data channel.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Life {
        Requested,
        Listening,
        Connected,
        Transferring,
        Done,
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Fact {
        Listening,
        Connected,
        Failed,
        Progress,
        Finished,
    }

    #[derive(Debug)]
    struct Driven {
        passive: bool,
        life: Life,
        /// After the session closed it, facts already in flight may still arrive.
        in_flight: Option<u8>,
    }

    impl Driven {
        fn facts(&self) -> &'static [Fact] {
            if self.in_flight == Some(0) {
                return &[];
            }
            match (self.life, self.passive) {
                (Life::Requested, true) => &[Fact::Listening, Fact::Failed],
                (Life::Requested, false) | (Life::Listening, _) => &[Fact::Connected, Fact::Failed],
                // A connection that drops before its transfer is reported as failed.
                (Life::Connected, _) => &[Fact::Failed],
                // After the action: progress, then Finished, or Failed (the TLS handshake on
                // the data connection can only start once `protected` is known).
                (Life::Transferring, _) => &[Fact::Progress, Fact::Finished, Fact::Failed],
                (Life::Done, _) => &[],
            }
        }
    }

    /// Session state the driver can observe, for "changes nothing".
    #[derive(Debug, PartialEq)]
    struct Snapshot {
        phase: Phase,
        user: Option<String>,
        cwd: VirtualPath,
        tls: bool,
        closed: bool,
        timeout: Option<Instant>,
    }

    impl Snapshot {
        fn of(s: &Session) -> Self {
            Self {
                phase: s.phase(),
                user: s.user().map(str::to_owned),
                cwd: s.cwd().clone(),
                tls: s.is_tls(),
                closed: s.is_closed(),
                timeout: s.poll_timeout(),
            }
        }
    }

    /// How the session must resolve an answer to a request.
    #[derive(Debug)]
    enum Outcome {
        Final(u16),
        /// An error for a transfer command: the prepared channel is dropped too.
        Refused(u16),
        LoggedIn,
        LoginDelay,
        Fatal,
        Transfer(Carries),
        Mismatch,
    }

    macro_rules! fail {
        ($m:expr, $($arg:tt)*) => { $m.fail(format_args!($($arg)*)) };
    }

    macro_rules! ensure {
        ($m:expr, $cond:expr, $($arg:tt)*) => {
            if !$cond {
                fail!($m, $($arg)*)
            }
        };
    }

    struct Model {
        knobs: Knobs,
        config: Arc<Config>,
        conn: ConnectionInfo,
        start: Instant,
        now: Instant,
        log: Vec<Step>,

        framer: LineFramer,
        parser: ReplyParser,
        events: VecDeque<Ev>,
        /// The session has output `Close` (set while collecting, before the model explains it).
        saw_close: bool,

        queue: VecDeque<Pending>,
        closed: bool,
        tls: bool,
        tls_pending: bool,
        phase: Phase,
        user: Option<String>,
        cwd: VirtualPath,
        failures: u32,
        overlong: u32,
        ascii: bool,
        protected: bool,
        rest: Option<u64>,
        rename_from: Option<VirtualPath>,
        channel: Channel,
        /// Tickets released in this step that the model has not accounted for yet.
        released: Vec<Ticket>,
        /// The one data channel open as far as the session knows, if any.
        open: Option<DataId>,
        channels: BTreeMap<DataId, Driven>,
        last_ticket: Option<Ticket>,
        answered: Vec<Ticket>,

        login_deadline: Option<Instant>,
        idle_deadline: Option<Instant>,
    }

    pub(super) fn run(data: &[u8], origin: Instant) {
        let mut input = Input(Unstructured::new(data));
        let knobs = Knobs(input.byte(), input.byte());
        let (config, conn) = knobs.build();
        let config = Arc::new(config);
        let now = origin;
        let mut s = Session::new(config.clone(), conn, now);
        let mut m = Model {
            knobs,
            framer: LineFramer::with_max_line(config.max_line),
            parser: ReplyParser::with_max_size(1 << 24),
            events: VecDeque::new(),
            saw_close: false,
            queue: VecDeque::new(),
            closed: false,
            tls: conn.tls,
            tls_pending: false,
            phase: Phase::BeforeUser,
            user: None,
            cwd: VirtualPath::root(),
            failures: 0,
            overlong: 0,
            ascii: config.ascii_by_default,
            protected: false,
            rest: None,
            rename_from: None,
            channel: Channel::None,
            released: Vec::new(),
            open: None,
            channels: BTreeMap::new(),
            last_ticket: None,
            answered: Vec::new(),
            login_deadline: Some(now + config.login_timeout),
            idle_deadline: Some(now + config.idle_timeout),
            config,
            conn,
            start: now,
            now,
            log: Vec::new(),
        };
        m.greeting(&mut s);
        for _ in 0..MAX_STEPS {
            if input.is_empty() {
                break;
            }
            let kind = input.byte() % 16;
            match kind {
                0..=4 => {
                    let bytes = realistic_lines(&mut input);
                    m.control(&mut s, &bytes);
                }
                5 => {
                    let mut len = usize::from(input.byte());
                    if len >= 240 {
                        len = usize::from(input.u16()) % (MAX_RAW + 1);
                    }
                    let bytes = input.bytes(len).to_vec();
                    m.control(&mut s, &bytes);
                }
                6..=9 => {
                    // The selector, a ticket choice, then the answer's own bytes: every step
                    // has a length known from its bytes, so structured inputs stay aligned.
                    let choice = input.byte();
                    let wrong = m.wrong_ticket(input.byte());
                    let mut args = input.take();
                    let pending = m
                        .pending_request()
                        .filter(|_| kind != 9)
                        .map(|(t, r)| (t, r.clone()));
                    let request = pending.as_ref().map(|(_, r)| r);
                    let response = response(choice, &mut args, request);
                    let ticket = pending.map_or(wrong, |(t, _)| t);
                    m.respond(&mut s, ticket, response);
                }
                10 | 11 => {
                    let fact = m.fact(&mut input);
                    m.data(&mut s, fact);
                }
                12 | 13 => {
                    let b = input.byte();
                    let to = match (b, s.poll_timeout()) {
                        (250..=252, Some(t)) => t.max(m.now),
                        (253..=255, Some(t)) => t
                            .checked_sub(Duration::from_millis(1))
                            .map_or(m.now, |t| t.max(m.now)),
                        _ => m.now + Duration::from_secs(u64::from(b.min(249)) * 400 / 249),
                    };
                    m.timeout(&mut s, to);
                }
                14 => m.tls_established(&mut s),
                _ => {
                    if input.byte() < 8 {
                        m.shutdown(&mut s);
                    } else {
                        m.tls_established(&mut s);
                    }
                }
            }
        }
    }

    /// 1..=4 lines from [`LINES`], each with optional junk and a chosen line end (or none).
    fn realistic_lines(input: &mut Input<'_>) -> Vec<u8> {
        let mut out = Vec::new();
        for _ in 0..=input.byte() % 4 {
            let line = LINES
                .get(usize::from(input.byte()) % LINES.len())
                .copied()
                .unwrap_or_default();
            out.extend_from_slice(line);
            let flags = input.byte();
            if flags & 4 != 0 {
                let n = usize::from(input.byte() % 16);
                out.extend_from_slice(input.bytes(n));
            }
            match flags & 3 {
                0 | 1 => out.extend_from_slice(b"\r\n"),
                2 => out.push(b'\n'),
                _ => {}
            }
        }
        out
    }

    fn fs_error(b: u8) -> FsError {
        const ALL: [FsError; 14] = [
            FsError::NotFound,
            FsError::PermissionDenied,
            FsError::AlreadyExists,
            FsError::NotADirectory,
            FsError::IsADirectory,
            FsError::DirectoryNotEmpty,
            FsError::Busy,
            FsError::InsufficientStorage,
            FsError::QuotaExceeded,
            FsError::NameNotAllowed,
            FsError::NotSupported,
            FsError::OffsetPastEnd,
            FsError::Local,
            FsError::Changed,
        ];
        ALL.get(usize::from(b) % ALL.len())
            .cloned()
            .unwrap_or(FsError::Local)
    }

    fn timestamp(input: &mut Input<'_>) -> Timestamp {
        Timestamp::arbitrary(&mut input.sub()).unwrap_or_else(|_| {
            Timestamp::new(2024, 6, 1, 12, 0, 0).unwrap_or_else(|| unreachable!())
        })
    }

    fn entry(input: &mut Input<'_>) -> Entry {
        const NAMES: &[&[u8]] = &[
            b"a.txt",
            b"sub",
            b"with space",
            b"250 looks like a reply",
            b"\xff\xfe",
            b"bad\r\nname",
            b"",
            b"r\xc3\xa9sum\xc3\xa9",
        ];
        let k = input.byte();
        let name = match NAMES.get(usize::from(k >> 3) % (NAMES.len() + 1)) {
            Some(n) => n.to_vec(),
            None => {
                let n = usize::from(input.byte() % 16);
                input.bytes(n).to_vec()
            }
        };
        let kind = match k % 8 {
            0 | 1 => EntryKind::File,
            2 => EntryKind::Dir,
            3 => EntryKind::CurrentDir,
            4 => EntryKind::ParentDir,
            5 => EntryKind::Symlink {
                target: Some(b"a.txt".to_vec()),
            },
            6 => EntryKind::Symlink { target: None },
            _ => EntryKind::Other,
        };
        let extras = input.byte();
        Entry {
            name,
            kind,
            size: u64::from(input.u16()) << (extras % 40),
            modified: (extras & 1 != 0).then(|| timestamp(input)),
            unix_mode: (extras & 2 != 0).then(|| u32::from(input.u16()) << 2),
            owner: (extras & 4 != 0).then(|| "alice".into()),
            group: (extras & 8 != 0).then(|| "staff ".into()),
            nlink: (extras & 16 != 0).then_some(u64::MAX),
            perm: (extras & 32 != 0).then(|| "adfrw".to_owned()),
            unique: (extras & 64 != 0).then(|| "803g1a2b".to_owned()),
        }
    }

    fn entries(input: &mut Input<'_>) -> Response {
        let n = input.byte() % 4;
        Response::Entries {
            entries: (0..n).map(|_| entry(input)).collect(),
            now: timestamp(input),
        }
    }

    fn created(input: &mut Input<'_>) -> Response {
        const PATHS: [&[u8]; 3] = [b"up/file.1", b"/a b", b"/x/\xffy"];
        let p = PATHS.get(usize::from(input.byte()) % PATHS.len()).copied();
        let path = VirtualPath::root()
            .resolve(&FtpPath::from(p.unwrap_or_default()))
            .unwrap_or_else(|_| VirtualPath::root());
        Response::Created(path)
    }

    fn checksum(input: &mut Input<'_>) -> Response {
        const HEX: [&str; 3] = ["d41d8cd98f00b204e9800998ecf8427e", "", "00"];
        Response::Checksum {
            hex: HEX
                .get(usize::from(input.byte()) % HEX.len())
                .copied()
                .unwrap_or_default()
                .to_owned(),
            size: u64::from(input.u16()),
        }
    }

    fn site_reply(input: &mut Input<'_>) -> Response {
        let r = Reply::arbitrary(&mut input.sub())
            .unwrap_or_else(|_| Reply::new(ReplyCode::COMMAND_OKAY, "SITE ok"));
        Response::Reply(r)
    }

    /// An answer: the fitting success for `pending` (most often) or any variant.
    fn response(choice: u8, input: &mut Input<'_>, pending: Option<&Request>) -> Response {
        match choice % 16 {
            0..=3 => match pending {
                Some(Request::Login { .. }) => Response::LoggedIn,
                Some(Request::StoreUnique { .. }) => created(input),
                Some(Request::List { .. }) => entries(input),
                Some(Request::Facts { .. }) => Response::Entry(entry(input)),
                Some(Request::Size { .. } | Request::Available { .. }) => {
                    Response::Size(u64::from(input.u16()))
                }
                Some(Request::ModificationTime { .. }) => Response::Time(timestamp(input)),
                Some(Request::Checksum { .. }) => checksum(input),
                Some(Request::Site { .. }) => site_reply(input),
                _ => Response::Ok,
            },
            4 => Response::Error(fs_error(input.byte())),
            5 => Response::Ok,
            6 => Response::LoggedIn,
            7 => Response::LoginRejected,
            8 => {
                if input.byte().is_multiple_of(2) {
                    Response::LoginUnavailable
                } else {
                    Response::TooManySessions
                }
            }
            9 => Response::Size(u64::from(input.u16())),
            10 => Response::Time(timestamp(input)),
            11 => entries(input),
            12 => Response::Entry(entry(input)),
            13 => created(input),
            14 => checksum(input),
            _ => site_reply(input),
        }
    }

    /// A request for a transfer command (it uses the data channel once the application agrees).
    fn is_transfer_request(r: &Request) -> bool {
        match r {
            Request::Retrieve { .. } | Request::Store { .. } | Request::StoreUnique { .. } => true,
            Request::List { kind, .. } => *kind != ListKind::Stat,
            _ => false,
        }
    }

    fn is_anonymous(user: &str) -> bool {
        user.eq_ignore_ascii_case("anonymous") || user.eq_ignore_ascii_case("ftp")
    }

    fn canonical(ip: IpAddr) -> IpAddr {
        match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        }
    }

    fn family_of(addr: SocketAddr) -> Family {
        match canonical(addr.ip()) {
            IpAddr::V4(_) => Family::Ipv4,
            IpAddr::V6(_) => Family::Ipv6,
        }
    }

    /// The final codes a command whose gate allowed it may get without asking the application
    /// (RFC 959 and the session's documented refusals).
    fn codes(cmd: &Command) -> &'static [u16] {
        use Command as C;
        match cmd {
            C::User(_) => &[331],
            C::Pass(_) | C::Cdup | C::Xcup => &[],
            C::Acct(_) | C::Allo { .. } => &[202],
            C::Quit => &[221],
            C::Rein => &[220],
            C::Noop | C::Clnt(_) | C::Epsv(EpsvMode::All) => &[200],
            C::Syst => &[215],
            C::Feat | C::Stat(None) => &[211],
            C::Help(_) => &[214, 502],
            C::Opts { .. } => &[200, 501, 502, 504],
            C::Lang(_) | C::Type(_) | C::Stru(_) | C::Mode(_) => &[200, 504],
            // 503 after USER from a session that implements HOST (RFC 7151 3.1).
            C::Host(_) => &[502, 503],
            C::Adat(_) | C::Mic(_) | C::Conf(_) | C::Enc(_) | C::Smnt(_) | C::Other { .. } => {
                &[502]
            }
            C::Auth(_) => &[234, 502, 503, 504],
            C::Pbsz(_) => &[200, 502, 503],
            C::Prot(_) => &[200, 502, 503, 534, 536],
            C::Ccc => &[200, 502, 503, 534],
            C::Cwd(_)
            | C::Xcwd(_)
            | C::Mlst(_)
            | C::Size(_)
            | C::Mdtm { time: None, .. }
            | C::Dele(_)
            | C::Rmd(_)
            | C::Xrmd(_)
            | C::Mkd(_)
            | C::Xmkd(_)
            | C::Rnfr(_)
            | C::Stat(Some(_)) => &[553],
            C::Pwd | C::Xpwd => &[257],
            C::Rest(_) => &[350],
            C::Pasv => &[425, 502, 503, 522],
            C::Epsv(_) => &[502, 522],
            C::Port(_) | C::Eprt(_) => &[200, 501, 502, 503, 522],
            C::Stor(_) => &[425, 534, 553, 554],
            C::Retr(_) | C::Appe(_) | C::List(_) | C::Nlst(_) | C::Mlsd(_) => &[425, 534, 553],
            C::Stou(_) => &[425, 534, 553],
            C::Mdtm { .. } | C::Mfmt { .. } | C::Hash(_) | C::Avbl(_) => &[502, 553],
            C::Xcrc(_) | C::Xmd5(_) | C::Xsha1(_) | C::Xsha256(_) => &[502, 553],
            C::Rnto(_) => &[503, 553],
            // SITE CHMOD's syntax (501) and path (553) are checked by the session.
            C::Site(_) => &[214, 501, 504, 553],
            C::Abor => &[225],
        }
    }

    /// Bytes one output holds, for the memory bound.
    fn output_size(o: &Output) -> usize {
        let request = |r: &Request| -> usize {
            match r {
                Request::Login { user, password, .. } => {
                    user.len() + password.expose_secret().len()
                }
                Request::Host { name } => name.len(),
                Request::StoreUnique { dir, hint } => {
                    dir.as_bytes().len() + hint.as_ref().map_or(0, Vec::len)
                }
                Request::List { path, options, .. } => {
                    path.as_bytes().len() + options.as_ref().map_or(0, String::len)
                }
                Request::Rename { from, to } => from.as_bytes().len() + to.as_bytes().len(),
                Request::Site {
                    command, args, cwd, ..
                } => command.len() + args.len() + cwd.as_bytes().len(),
                Request::ChangeDir { path }
                | Request::Retrieve { path, .. }
                | Request::Store { path, .. }
                | Request::Facts { path }
                | Request::Size { path, .. }
                | Request::ModificationTime { path }
                | Request::SetModificationTime { path, .. }
                | Request::Delete { path }
                | Request::RemoveDir { path }
                | Request::MakeDir { path }
                | Request::RenameFrom { path }
                | Request::Checksum { path, .. }
                | Request::Available { path }
                | Request::SetPermissions { path, .. } => path.as_bytes().len(),
            }
        };
        match o {
            Output::Transmit(b) => b.len(),
            Output::Request { request: r, .. } => 128 + request(r),
            Output::Data(DataAction::SendListing { bytes, .. }) => 64 + bytes.len(),
            _ => 64,
        }
    }

    /// What an answer may make the session output: each entry's line, the reply given, a path.
    fn response_size(r: &Response) -> usize {
        let opt = |s: Option<&str>| s.map_or(0, str::len);
        match r {
            Response::Entries { entries, .. } => entries
                .iter()
                .map(|e| {
                    let target = match &e.kind {
                        EntryKind::Symlink { target: Some(t) } => t.len(),
                        _ => 0,
                    };
                    let fields = e.name.len()
                        + target
                        + opt(e.owner.as_deref())
                        + opt(e.group.as_deref())
                        + opt(e.perm.as_deref())
                        + opt(e.unique.as_deref());
                    512 + 4 * fields
                })
                .sum(),
            Response::Reply(reply) => 64 + 2 * reply.to_bytes().len(),
            Response::Checksum { hex, .. } => 64 + 4 * hex.len(),
            Response::Created(p) => 64 + 4 * p.as_bytes().len(),
            _ => 0,
        }
    }

    impl Model {
        #[cold]
        fn fail(&self, msg: fmt::Arguments<'_>) -> ! {
            let mut steps = String::new();
            for (i, step) in self.log.iter().enumerate() {
                let _ = writeln!(steps, "  {i:3}: {step:?}");
            }
            panic!(
                "server_session: {msg}\n  at t+{:?}, knobs {:?}\nsteps:\n{steps}",
                self.now - self.start,
                self.knobs
            )
        }

        // ---- collecting outputs -----------------------------------------------------------

        /// Drains the session; checks the wire form and that nothing follows `Close`.
        fn collect(&mut self, s: &mut Session) -> usize {
            let mut size = 0;
            while let Some(out) = s.poll_output() {
                ensure!(self, !self.saw_close, "output after Close: {out:?}");
                size += output_size(&out);
                match out {
                    Output::Transmit(bytes) => {
                        ensure!(
                            self,
                            bytes.ends_with(b"\r\n"),
                            "Transmit does not end a line: {:?}",
                            bytes.escape_ascii().to_string()
                        );
                        for r in self.parser.replies(&bytes) {
                            match r {
                                Ok(r) => self.events.push_back(Ev::Reply(r)),
                                Err(e) => fail!(
                                    self,
                                    "invalid reply ({e}) in {:?}",
                                    bytes.escape_ascii().to_string()
                                ),
                            }
                        }
                        ensure!(
                            self,
                            !self.parser.in_reply(),
                            "reply cut at the end of a Transmit: {:?}",
                            bytes.escape_ascii().to_string()
                        );
                    }
                    Output::Data(a) => self.events.push_back(Ev::Data(a)),
                    Output::Request { ticket, request } => {
                        self.events.push_back(Ev::Request(ticket, request));
                    }
                    Output::UpgradeTls => self.events.push_back(Ev::Upgrade),
                    Output::DowngradeTls => self.events.push_back(Ev::Downgrade),
                    Output::Close => {
                        self.saw_close = true;
                        self.events.push_back(Ev::Close);
                    }
                }
            }
            size
        }

        fn pop_raw(&mut self, what: &str) -> Ev {
            match self.events.pop_front() {
                Some(ev) => ev,
                None => fail!(self, "expected {what}, got nothing"),
            }
        }

        /// The next event, after noting any data-channel `Close` and `Release` before it.
        fn next(&mut self, what: &str) -> Ev {
            loop {
                match self.pop_raw(what) {
                    Ev::Data(DataAction::Close { id }) => self.closed_by_session(id),
                    Ev::Data(DataAction::Release { ticket }) => self.released.push(ticket),
                    ev => return ev,
                }
            }
        }

        /// Notes the `Close` and `Release` actions at the front of the remaining output.
        fn absorb(&mut self) {
            while let Some(Ev::Data(DataAction::Close { .. } | DataAction::Release { .. })) =
                self.events.front()
            {
                match self.events.pop_front() {
                    Some(Ev::Data(DataAction::Close { id })) => self.closed_by_session(id),
                    Some(Ev::Data(DataAction::Release { ticket })) => self.released.push(ticket),
                    _ => {}
                }
            }
        }

        /// The approved request `ticket` will not run: the session must have said so.
        fn expect_released(&mut self, ticket: Ticket, why: &str) {
            self.absorb();
            match self.released.iter().position(|&t| t == ticket) {
                Some(i) => {
                    self.released.remove(i);
                }
                None => fail!(self, "{why}: expected Release({ticket:?})"),
            }
        }

        /// The first command's transfer, if one is approved or running.
        fn transfer(&self) -> Option<(DataId, Ticket, Carries, bool)> {
            match self.queue.front().and_then(|p| p.wait.as_ref()) {
                Some(Wait::Transfer {
                    id,
                    ticket,
                    carries,
                    started,
                    ..
                }) => Some((*id, *ticket, *carries, *started)),
                _ => None,
            }
        }

        /// An approved transfer that never started gives back what was opened for it.
        fn release_unstarted(&mut self, why: &str) {
            if let Some((_, ticket, carries, false)) = self.transfer()
                && carries.holds_ticket()
            {
                self.expect_released(ticket, why);
            }
        }

        fn closed_by_session(&mut self, id: DataId) {
            if self.open == Some(id) {
                self.open = None;
            }
            if let Some(c) = self.channels.get_mut(&id)
                && c.in_flight.is_none()
            {
                c.in_flight = Some(1);
            }
        }

        fn expect_reply(&mut self, what: &str) -> Reply {
            match self.next(what) {
                Ev::Reply(r) => r,
                other => fail!(self, "expected {what}, got {other:?}"),
            }
        }

        fn expect_code(&mut self, code: u16, what: &str) -> Reply {
            let r = self.expect_reply(what);
            ensure!(
                self,
                r.code().get() == code,
                "expected {code} ({what}), got {r:?}"
            );
            r
        }

        /// The session gives up: any data-channel closes, 421, then `Close`.
        fn expect_fatal(&mut self, why: &str) {
            self.expect_code(421, why);
            self.release_unstarted(why);
            match self.pop_raw("Close after 421") {
                Ev::Close => {}
                other => fail!(self, "421 ({why}) not followed by Close but by {other:?}"),
            }
            self.set_closed();
        }

        fn set_closed(&mut self) {
            self.closed = true;
            self.queue.clear();
            self.channel = Channel::None;
            self.open = None;
        }

        /// The first command is the session's busy one (it waits for something).
        fn head_waits(&self) -> bool {
            self.queue.front().is_some_and(|p| p.wait.is_some())
        }

        /// Entries the session holds in its queue (not the one it is busy with).
        fn queued(&self) -> usize {
            self.queue.len() - usize::from(self.head_waits())
        }

        /// A new data channel: fresh id, and no other channel open.
        fn new_channel(&mut self, id: DataId, passive: bool) {
            ensure!(
                self,
                self.open.is_none(),
                "{id:?} opened while {:?} is still open",
                self.open
            );
            ensure!(
                self,
                self.channels.keys().all(|&old| old < id),
                "data id {id:?} reused"
            );
            self.open = Some(id);
            self.channels.insert(
                id,
                Driven {
                    passive,
                    life: Life::Requested,
                    in_flight: None,
                },
            );
        }

        fn new_ticket(&mut self, t: Ticket) {
            ensure!(
                self,
                self.last_ticket.is_none_or(|last| last < t),
                "ticket {t:?} reused"
            );
            self.last_ticket = Some(t);
        }

        // ---- steps --------------------------------------------------------------------------

        fn greeting(&mut self, s: &mut Session) {
            let size = self.collect(s);
            let r = self.expect_code(220, "the greeting");
            ensure!(self, r.lines().len() == 1, "greeting {r:?}");
            self.end_step(s, size, 0, 0, 0);
        }

        /// Starts a step: the bound's part for commands waiting since before it.
        fn begin_step(&mut self, step: Step) -> usize {
            self.log.push(step);
            self.queue.iter().map(|p| p.len).sum()
        }

        /// No unexplained output; the session's accessors agree with the model; the bound.
        ///
        /// `commands` may have run, holding `line_bytes`; `answer` bounds what the application's
        /// answer (a listing, a SITE reply) adds.
        fn end_step(
            &mut self,
            s: &Session,
            size: usize,
            line_bytes: usize,
            commands: usize,
            answer: usize,
        ) {
            if let Some(ev) = self.events.pop_front() {
                fail!(self, "unexplained output {ev:?}");
            }
            if let Some(t) = self.released.first() {
                fail!(self, "Release({t:?}) of a request that was not abandoned");
            }
            ensure!(
                self,
                s.is_closed() == self.closed,
                "is_closed {} but the model says {}",
                s.is_closed(),
                self.closed
            );
            ensure!(self, self.closed == self.saw_close, "closed without Close");
            ensure!(
                self,
                s.phase() == self.phase,
                "phase {:?}, model {:?}",
                s.phase(),
                self.phase
            );
            ensure!(self, s.is_tls() == self.tls, "is_tls {}", s.is_tls());
            ensure!(
                self,
                *s.cwd() == self.cwd,
                "cwd {:?}, model {:?}",
                s.cwd(),
                self.cwd
            );
            let user = match self.phase {
                Phase::LoggedIn => self.user.as_deref(),
                _ => None,
            };
            ensure!(
                self,
                s.user() == user,
                "user {:?}, model {user:?}",
                s.user()
            );
            let expected = self.expected_timeout();
            ensure!(
                self,
                s.poll_timeout() == expected,
                "poll_timeout {:?}, model {:?} (now t+{:?})",
                s.poll_timeout().map(|t| t - self.start),
                expected.map(|t| t - self.start),
                self.now - self.start
            );
            let waiting = self.queue.front().is_none_or(|p| p.wait.is_some());
            ensure!(
                self,
                waiting || self.closed,
                "model: a command neither answered nor waiting"
            );
            // Each command the call may have run outputs at most a few KiB plus four times its
            // line and the working directory (quoting and IAC doubling); the constant covers one
            // remembered name (RNFR, USER) and the data-channel closes.
            let cwd = s.cwd().as_bytes().len().max(self.cwd.as_bytes().len());
            let bound = 8192
                + 4 * (self.config.max_line + cwd)
                + commands * (2048 + 4 * cwd)
                + 4 * line_bytes
                + answer;
            ensure!(
                self,
                size <= bound,
                "{size} bytes of output, bound {bound} ({commands} commands, {line_bytes} line bytes)"
            );
        }

        fn expected_timeout(&self) -> Option<Instant> {
            if self.closed {
                return None;
            }
            let mut next: Option<Instant> = None;
            let mut consider = |t: Option<Instant>| {
                if let Some(t) = t {
                    next = Some(next.map_or(t, |n| n.min(t)));
                }
            };
            match self.queue.front().and_then(|p| p.wait.as_ref()) {
                Some(Wait::LoginDelay { until, .. }) => consider(Some(*until)),
                Some(Wait::Transfer { deadline, .. }) => consider(*deadline),
                Some(_) => {}
                None => consider(self.idle_deadline),
            }
            if self.phase != Phase::LoggedIn {
                consider(self.login_deadline);
            }
            if let Channel::Passive { deadline, .. } = self.channel {
                consider(deadline);
            }
            next
        }

        fn control(&mut self, s: &mut Session, bytes: &[u8]) {
            let waiting_bytes = self.begin_step(Step::Control(bytes.to_vec()));
            let waiting = self.queue.len();
            s.handle_control(self.now, bytes);
            let size = self.collect(s);
            let mut rest = bytes;
            let mut frames = 0;
            let mut line_bytes = waiting_bytes;
            while !rest.is_empty() && !self.closed && !self.tls_pending {
                let step = self.framer.push(rest);
                rest = rest.get(step.consumed..).unwrap_or_default();
                let Some(frame) = step.item else { break };
                frames += 1;
                line_bytes += step.consumed;
                self.idle_deadline = Some(self.now + self.config.idle_timeout);
                match frame {
                    Frame::Overlong { .. } => {
                        self.overlong += 1;
                        if self.overlong >= self.config.max_overlong_lines {
                            self.expect_fatal("too many overlong lines");
                        } else {
                            self.enqueue(Line::Overlong, 0);
                        }
                    }
                    Frame::Line(line) => {
                        let parsed = Command::parse(&line);
                        match &parsed {
                            // RFC 959: ABOR acts at once during a transfer, also while the
                            // application still decides on the transfer command.
                            Ok(Command::Abor) if self.transfer_in_progress() => self.abort(),
                            // STAT acts at once during a transfer when no earlier command
                            // waits: its reply cannot overtake theirs.
                            Ok(Command::Stat(None))
                                if self.transfer().is_some() && self.queued() == 0 =>
                            {
                                self.expect_code(213, "STAT during a transfer");
                            }
                            _ => self.enqueue(Line::Parsed(parsed), line.len()),
                        }
                    }
                }
            }
            self.end_step(s, size, line_bytes, waiting + frames, 0);
        }

        /// A transfer is approved or running, or the application decides on a transfer command.
        fn transfer_in_progress(&self) -> bool {
            match self.queue.front() {
                Some(Pending {
                    line: Line::Parsed(_),
                    wait: Some(Wait::App { request, .. }),
                    ..
                }) => is_transfer_request(request),
                _ => self.transfer().is_some(),
            }
        }

        /// ABOR during a transfer: the data channel closes (what was opened for a transfer that
        /// never started is released), 426 ends the transfer command, then 226 answers ABOR,
        /// at once or after the commands read before it.
        fn abort(&mut self) {
            let aborted = self.transfer();
            self.expect_code(426, "the aborted transfer's final reply");
            if let Some((id, ..)) = aborted {
                ensure!(self, self.open != Some(id), "ABOR left {id:?} open");
                self.release_unstarted("ABOR");
                self.queue.pop_front();
            } else {
                // The application still decides: the prepared channel goes, and its answer is
                // awaited to release what it opens.
                self.drop_passive("ABOR before the answer");
                if let Some(head) = self.queue.front_mut() {
                    head.line = Line::Aborted;
                }
            }
            if self.queued() == 0 {
                self.expect_code(226, "ABOR's reply");
            } else {
                // Behind the commands read before it; it takes no queue slot of its own.
                self.queue.push_back(Pending {
                    line: Line::AborReply,
                    len: 0,
                    wait: None,
                });
            }
            self.pump();
        }

        fn enqueue(&mut self, line: Line, len: usize) {
            if self.queued() >= self.config.max_queued_commands {
                self.expect_fatal("too many pipelined commands");
                return;
            }
            self.queue.push_back(Pending {
                line,
                len,
                wait: None,
            });
            self.pump();
        }

        /// Runs queued commands while the session is free, as it must.
        fn pump(&mut self) {
            while !self.closed
                && !self.tls_pending
                && self.queue.front().is_some_and(|p| p.wait.is_none())
            {
                self.execute();
            }
        }

        fn tls_missing(&self) -> bool {
            self.config.tls.require_for_login && !self.tls
        }

        /// The first queued command runs: one final reply, or it starts waiting.
        fn execute(&mut self) {
            let Some(head) = self.queue.front() else {
                return;
            };
            // REST and RNFR apply to the very next entry the session takes up (RFC 959 4.1.3).
            let rest = self.rest.take();
            let rename_from = self.rename_from.take();
            let cmd = match &head.line {
                Line::AborReply => {
                    self.expect_code(226, "ABOR's reply in its turn");
                    self.queue.pop_front();
                    return;
                }
                Line::Aborted => fail!(self, "model: an aborted command has no turn"),
                Line::Overlong => {
                    self.expect_code(500, "overlong line");
                    self.queue.pop_front();
                    return;
                }
                Line::Parsed(Err(e)) => {
                    let refusal = e.verb().and_then(|v| {
                        gating::rule(v)
                            .gate(self.phase, self.tls_missing())
                            .refusal()
                    });
                    let code = refusal.map_or(e.reply_code(), |(code, _)| code).get();
                    let what = format!("reply to unparsable line ({e})");
                    self.expect_code(code, &what);
                    self.queue.pop_front();
                    return;
                }
                Line::Parsed(Ok(cmd)) => cmd.clone(),
            };
            let Some(verb) = cmd.verb() else {
                self.expect_code(500, "reply to an unknown verb");
                self.queue.pop_front();
                return;
            };
            let gate = gating::rule(verb).gate(self.phase, self.tls_missing());
            if let Some((code, _)) = gate.refusal() {
                self.expect_code(
                    code.get(),
                    &format!("{verb} refused by the gate ({gate:?})"),
                );
                self.queue.pop_front();
                return;
            }
            let offset = match cmd {
                // Clients set up the data channel and the type between REST and RETR/STOR.
                Command::Port(_)
                | Command::Eprt(_)
                | Command::Pasv
                | Command::Epsv(_)
                | Command::Type(_) => {
                    self.rest = rest;
                    0
                }
                Command::Retr(_) | Command::Stor(_) => rest.unwrap_or(0),
                Command::Rnto(_) if rename_from.is_none() => {
                    self.expect_code(503, "RNTO without RNFR right before");
                    self.queue.pop_front();
                    return;
                }
                _ => 0,
            };
            let what = format!("reply to {cmd}");
            match self.next(&what) {
                Ev::Reply(r) => {
                    let code = r.code().get();
                    ensure!(
                        self,
                        codes(&cmd).contains(&code),
                        "{cmd} answered {r:?}; it may get {:?}",
                        codes(&cmd)
                    );
                    self.queue.pop_front();
                    self.answered_now(&cmd, code);
                }
                Ev::Request(ticket, request) => {
                    self.new_ticket(ticket);
                    let fits = match (&cmd, &request) {
                        (Command::Rnto(_), Request::Rename { from, .. }) => {
                            rename_from.as_ref() == Some(from)
                        }
                        _ => self.fits(&cmd, &request, offset),
                    };
                    ensure!(self, fits, "{cmd} asked {request:?}");
                    let at = self.now;
                    if let Some(p) = self.queue.front_mut() {
                        p.wait = Some(Wait::App {
                            ticket,
                            request,
                            at,
                        });
                    }
                }
                Ev::Data(DataAction::Listen { id, family }) => {
                    let extended = match cmd {
                        Command::Pasv => false,
                        Command::Epsv(EpsvMode::Any | EpsvMode::Ipv4 | EpsvMode::Ipv6) => true,
                        _ => fail!(self, "{cmd} opened a listener"),
                    };
                    ensure!(
                        self,
                        family == family_of(self.conn.local),
                        "listener family {family:?}"
                    );
                    self.new_channel(id, true);
                    self.channel = Channel::None;
                    if let Some(p) = self.queue.front_mut() {
                        p.wait = Some(Wait::Listen { id, extended });
                    }
                }
                other => fail!(self, "{cmd} answered with {other:?}"),
            }
        }

        /// What a command's immediate final reply changes, and what must follow it.
        fn answered_now(&mut self, cmd: &Command, code: u16) {
            match (cmd, code) {
                (Command::User(name), 331) => {
                    self.phase = Phase::AfterUser;
                    self.user = Some(name.clone());
                }
                (Command::Quit, 221) => loop {
                    match self.pop_raw("Close after 221") {
                        Ev::Data(DataAction::Close { id }) => self.closed_by_session(id),
                        Ev::Close => {
                            self.set_closed();
                            break;
                        }
                        other => fail!(self, "221 followed by {other:?}"),
                    }
                },
                (Command::Rein, 220) => {
                    self.drop_passive("REIN");
                    self.phase = Phase::BeforeUser;
                    self.user = None;
                    self.cwd = VirtualPath::root();
                    self.ascii = self.config.ascii_by_default;
                    self.rest = None;
                    self.channel = Channel::None;
                    self.login_deadline = Some(self.now + self.config.login_timeout);
                }
                (Command::Auth(mechanism), 234) => {
                    // AUTH SSL protects data from the start (no PBSZ/PROT needed).
                    if *mechanism == AuthMechanism::Ssl {
                        self.protected = true;
                    }
                    match self.pop_raw("UpgradeTls after 234") {
                        Ev::Upgrade => {}
                        other => fail!(self, "234 followed by {other:?}"),
                    }
                    // Lines pipelined after AUTH are never run, nor answered.
                    self.tls_pending = true;
                    self.queue.clear();
                    self.framer.clear();
                }
                (Command::Ccc, 200) => {
                    match self.pop_raw("DowngradeTls after CCC's 200") {
                        Ev::Downgrade => {}
                        other => fail!(self, "CCC's 200 followed by {other:?}"),
                    }
                    self.tls = false;
                }
                (Command::Type(t), 200) => {
                    self.ascii = matches!(t, TransferType::Ascii(FormatControl::NonPrint));
                }
                (Command::Prot(level), 200) => {
                    self.protected = *level == ProtectionLevel::Private;
                }
                (Command::Port(a), 200) => {
                    self.drop_passive("PORT");
                    self.channel = Channel::Active(SocketAddr::V4(*a));
                }
                (Command::Eprt(a), 200) => {
                    self.drop_passive("EPRT");
                    self.channel = Channel::Active(*a);
                }
                (Command::Rest(n), 350) => self.rest = Some(*n),
                // A refused transfer command drops the prepared channel: the client sets up a
                // new one for its next try.
                (
                    Command::Retr(_)
                    | Command::Stor(_)
                    | Command::Appe(_)
                    | Command::Stou(_)
                    | Command::List(_)
                    | Command::Nlst(_)
                    | Command::Mlsd(_),
                    534 | 553,
                ) => self.drop_passive("a refused transfer command"),
                // REST + STOR in TYPE A is refused before the application is asked.
                (Command::Stor(_), 554) => self.drop_passive("REST + STOR in TYPE A"),
                _ => {}
            }
        }

        /// A command that replaces the prepared channel must have closed a passive listener.
        fn drop_passive(&mut self, by: &str) {
            // The close may follow the reply (a path refused after the channel was checked).
            self.absorb();
            if let Channel::Passive { id, .. } = self.channel {
                ensure!(
                    self,
                    self.open != Some(id),
                    "{by} left the listener {id:?} open"
                );
            }
            self.channel = Channel::None;
        }

        /// For the first request of a LIST, NLST or STAT whose argument's last segment is a
        /// wildcard pattern (MLSD takes none, RFC 3659): the directory the session lists when
        /// nothing has the pattern's name. `None` for any other request, the second one (of
        /// that directory) included.
        fn pattern_dir(&self, cmd: &Command, request: &Request) -> Option<VirtualPath> {
            let arg = match cmd {
                Command::List(args) | Command::Nlst(args) | Command::Stat(Some(args)) => {
                    args.path.as_ref()?
                }
                _ => return None,
            };
            let bytes = arg.as_bytes();
            let dir = crate::server::dir_part(bytes);
            if !crate::listing::has_wildcards(bytes.get(dir.len()..).unwrap_or_default()) {
                return None;
            }
            let Request::List { path, .. } = request else {
                return None;
            };
            if self.cwd.resolve(arg).ok().as_ref() != Some(path) {
                return None;
            }
            if dir.is_empty() {
                Some(self.cwd.clone())
            } else {
                self.cwd.resolve(&FtpPath::from(dir)).ok()
            }
        }

        /// The request is the one `cmd` calls for, with the values the model expects.
        fn fits(&self, cmd: &Command, request: &Request, offset: u64) -> bool {
            use Command as C;
            use Request as R;
            match (cmd, request) {
                (
                    C::Pass(p),
                    R::Login {
                        user,
                        password,
                        peer,
                        tls,
                        anonymous,
                    },
                ) => {
                    let want = self.user.clone().unwrap_or_default();
                    *user == want
                        && password == p
                        && *peer == self.conn.peer
                        && *tls == self.tls
                        && *anonymous == (self.config.anonymous && is_anonymous(&want))
                }
                (C::Host(n), R::Host { name }) => n == name,
                (C::Cwd(p) | C::Xcwd(p), R::ChangeDir { path }) => {
                    self.cwd.resolve(p).ok().as_ref() == Some(path)
                }
                (C::Cdup | C::Xcup, R::ChangeDir { path }) => *path == self.cwd.parent(),
                (
                    C::Retr(_),
                    R::Retrieve {
                        offset: o, ascii, ..
                    },
                ) => *o == offset && *ascii == self.ascii,
                (
                    C::Stor(_),
                    R::Store {
                        offset: o,
                        mode: StoreMode::Replace,
                        ..
                    },
                )
                | (
                    C::Appe(_),
                    R::Store {
                        offset: o,
                        mode: StoreMode::Append,
                        ..
                    },
                ) => *o == offset,
                // An argument names the directory and the name wanted in it.
                (C::Stou(arg), R::StoreUnique { dir, hint }) => match arg {
                    None => *dir == self.cwd && hint.is_none(),
                    Some(p) => match self.cwd.resolve(p) {
                        Ok(target) => match target.file_name() {
                            Some(name) => *dir == target.parent() && hint.as_deref() == Some(name),
                            None => *dir == target && hint.is_none(),
                        },
                        Err(_) => false,
                    },
                },
                (C::List(_), R::List { kind, .. }) => *kind == ListKind::List,
                (C::Nlst(_), R::List { kind, .. }) => *kind == ListKind::Nlst,
                (C::Mlsd(_), R::List { kind, .. }) => *kind == ListKind::Mlsd,
                (C::Stat(Some(_)), R::List { kind, .. }) => *kind == ListKind::Stat,
                (
                    C::Mdtm { time: Some(t), .. } | C::Mfmt { time: t, .. },
                    R::SetModificationTime { time, .. },
                ) => t == time,
                (C::Size(_), R::Size { ascii, .. }) => *ascii == self.ascii,
                (C::Mlst(_), R::Facts { .. })
                | (C::Mdtm { time: None, .. }, R::ModificationTime { .. })
                | (C::Dele(_), R::Delete { .. })
                | (C::Rmd(_) | C::Xrmd(_), R::RemoveDir { .. })
                | (C::Mkd(_) | C::Xmkd(_), R::MakeDir { .. })
                | (C::Rnfr(_), R::RenameFrom { .. })
                | (
                    C::Hash(_) | C::Xcrc(_) | C::Xmd5(_) | C::Xsha1(_) | C::Xsha256(_),
                    R::Checksum { .. },
                )
                | (C::Avbl(_), R::Available { .. })
                | (C::Site(_), R::Site { .. } | R::SetPermissions { .. }) => true,
                _ => false,
            }
        }

        fn pending_request(&self) -> Option<(Ticket, &Request)> {
            match self.queue.front().and_then(|p| p.wait.as_ref()) {
                Some(Wait::App {
                    ticket, request, ..
                }) if !self.closed => Some((*ticket, request)),
                _ => None,
            }
        }

        /// A ticket no request is waiting on: never issued, or already answered.
        fn wrong_ticket(&self, b: u8) -> Ticket {
            let next = self.last_ticket.map_or(1, |t| t.0 + 1);
            match b % 4 {
                0 => Ticket(0),
                1 => Ticket(next + u64::from(b)),
                _ => self
                    .answered
                    .get(usize::from(b) % self.answered.len().max(1))
                    .copied()
                    .unwrap_or(Ticket(u64::MAX)),
            }
        }

        /// How the session must answer `response` to `request` (the command is `cmd`).
        fn outcome(cmd: Option<&Command>, request: &Request, response: &Response) -> Outcome {
            use Request as Q;
            use Response as A;
            match (request, response) {
                (Q::Login { .. }, A::Error(_) | A::LoginRejected) => Outcome::LoginDelay,
                (Q::Host { .. }, A::Error(_)) => Outcome::Final(504),
                // SIZE in TYPE A that the application cannot count: 550 "send TYPE I first".
                (Q::Size { ascii: true, .. }, A::Error(FsError::NotSupported)) => {
                    Outcome::Final(550)
                }
                (q, A::Error(e)) if is_transfer_request(q) => {
                    Outcome::Refused(e.reply_code().get())
                }
                (_, A::Error(e)) => Outcome::Final(e.reply_code().get()),
                (Q::Login { .. }, A::LoggedIn) => Outcome::LoggedIn,
                (Q::Login { .. }, A::LoginUnavailable | A::TooManySessions) => Outcome::Fatal,
                (Q::Host { .. }, A::Ok) => Outcome::Final(220),
                (
                    Q::ChangeDir { .. } | Q::Delete { .. } | Q::RemoveDir { .. } | Q::Rename { .. },
                    A::Ok,
                ) => Outcome::Final(250),
                (Q::Retrieve { .. }, A::Ok | A::Size(_)) => {
                    Outcome::Transfer(Carries::File(Direction::Send))
                }
                (Q::Store { .. }, A::Ok) | (Q::StoreUnique { .. }, A::Created(_)) => {
                    Outcome::Transfer(Carries::File(Direction::Receive))
                }
                (
                    Q::List {
                        kind: ListKind::Stat,
                        ..
                    },
                    A::Entries { .. },
                ) => Outcome::Final(213),
                (Q::List { .. }, A::Entries { .. }) => Outcome::Transfer(Carries::Listing),
                (Q::List { kind, .. }, A::Ok) if *kind != ListKind::Stat => {
                    Outcome::Transfer(Carries::Stream(*kind))
                }
                (Q::Facts { .. }, A::Entry(_)) => Outcome::Final(250),
                (Q::Size { .. } | Q::Available { .. }, A::Size(_))
                | (Q::ModificationTime { .. }, A::Time(_))
                | (Q::SetModificationTime { .. }, A::Ok | A::Time(_)) => Outcome::Final(213),
                (Q::MakeDir { .. }, A::Ok) => Outcome::Final(257),
                (Q::RenameFrom { .. }, A::Ok) => Outcome::Final(350),
                (Q::Checksum { .. }, A::Checksum { .. }) => match cmd {
                    Some(Command::Hash(_)) => Outcome::Final(213),
                    _ => Outcome::Final(250),
                },
                (Q::Site { .. }, A::Reply(r)) if !r.code().is_preliminary() => {
                    Outcome::Final(r.code().get())
                }
                (Q::SetPermissions { .. }, A::Ok) => Outcome::Final(200),
                _ => Outcome::Mismatch,
            }
        }

        fn respond(&mut self, s: &mut Session, ticket: Ticket, response: Response) {
            let waiting_bytes = self.begin_step(Step::Respond(ticket, response.clone()));
            let waiting = self.queue.len();
            let extra = response_size(&response);
            let before = Snapshot::of(s);
            let result = s.respond(self.now, ticket, response.clone());
            let size = self.collect(s);
            let Some((_, request)) = self.pending_request().filter(|(t, _)| *t == ticket) else {
                ensure!(
                    self,
                    result == Err(UsageError::UnknownTicket),
                    "respond with unknown {ticket:?} gave {result:?}"
                );
                ensure!(
                    self,
                    self.events.is_empty(),
                    "respond with unknown ticket output {:?}",
                    self.events
                );
                let after = Snapshot::of(s);
                ensure!(
                    self,
                    after == before,
                    "respond with unknown ticket changed {before:?} to {after:?}"
                );
                self.end_step(s, size, 0, 0, 0);
                return;
            };
            let request = request.clone();
            let (cmd, asked_at) = match self.queue.front() {
                Some(Pending {
                    line,
                    wait: Some(Wait::App { at, .. }),
                    ..
                }) => match line {
                    Line::Parsed(Ok(c)) => (Some(c.clone()), *at),
                    _ => (None, *at),
                },
                _ => (None, self.now),
            };
            self.answered.push(ticket);
            if let Some(p) = self.queue.front_mut() {
                p.wait = None;
            }
            if matches!(self.queue.front(), Some(p) if matches!(p.line, Line::Aborted)) {
                // ABOR already answered: whatever the answer, only what it opened is released.
                ensure!(
                    self,
                    result == Ok(()),
                    "answer to an aborted request: {result:?}"
                );
                if matches!(
                    response,
                    Response::Ok | Response::Size(_) | Response::Created(_)
                ) {
                    self.expect_released(ticket, "answer to an aborted transfer command");
                }
                self.queue.pop_front();
                self.idle_deadline = Some(self.now + self.config.idle_timeout);
                self.pump();
                self.end_step(s, size, waiting_bytes, waiting, extra);
                return;
            }
            if let (Request::List { kind, .. }, Response::Error(FsError::NotFound)) =
                (&request, &response)
                && let Some(dir) = cmd.as_ref().and_then(|cmd| self.pattern_dir(cmd, &request))
            {
                // Nothing is named like the wildcard pattern: the session lists the pattern's
                // directory instead (without the options), and answers only after that.
                ensure!(
                    self,
                    result == Ok(()),
                    "NotFound for a pattern gave {result:?}"
                );
                match self.next("the listing of a pattern's directory") {
                    Ev::Request(t, r @ Request::List { options: None, .. })
                        if matches!(&r, Request::List { path, kind: k, .. }
                        if *path == dir && k == kind) =>
                    {
                        self.new_ticket(t);
                        let at = self.now;
                        if let Some(p) = self.queue.front_mut() {
                            p.wait = Some(Wait::App {
                                ticket: t,
                                request: r,
                                at,
                            });
                        }
                    }
                    other => fail!(
                        self,
                        "NotFound for {request:?} gave {other:?}, expected a listing of {dir:?}"
                    ),
                }
                self.end_step(s, size, waiting_bytes, waiting, extra);
                return;
            }
            let outcome = Self::outcome(cmd.as_ref(), &request, &response);
            let want = match outcome {
                Outcome::Mismatch => Err(UsageError::MismatchedResponse),
                _ => Ok(()),
            };
            ensure!(
                self,
                result == want,
                "respond {response:?} to {request:?} gave {result:?}, expected {want:?}"
            );
            match outcome {
                Outcome::Final(code) => {
                    self.expect_code(code, &format!("answer to {request:?}"));
                    self.queue.pop_front();
                    if let (Request::ChangeDir { path }, 250) = (&request, code) {
                        self.cwd = path.clone();
                    }
                }
                Outcome::Refused(code) => {
                    self.expect_code(code, &format!("error for {request:?}"));
                    self.queue.pop_front();
                    self.drop_passive("an error for a transfer command");
                }
                Outcome::Mismatch => {
                    self.expect_code(451, "answer to a mismatched response");
                    self.queue.pop_front();
                }
                Outcome::LoggedIn => {
                    self.expect_code(230, "login accepted");
                    self.queue.pop_front();
                    // Failed logins are never forgiven within a connection.
                    self.phase = Phase::LoggedIn;
                    self.login_deadline = None;
                    self.cwd = VirtualPath::root();
                }
                Outcome::LoginDelay => {
                    self.failures += 1;
                    self.phase = Phase::BeforeUser;
                    self.user = None;
                    // Counted from PASS, so the back-end's answer time does not show.
                    let wait = Wait::LoginDelay {
                        until: (asked_at + self.config.failed_login_delay).max(self.now),
                        close: self.failures >= self.config.max_login_failures,
                    };
                    if let Some(p) = self.queue.front_mut() {
                        p.wait = Some(wait);
                    }
                }
                Outcome::Fatal => self.expect_fatal("authentication unavailable"),
                Outcome::Transfer(carries) => self.start_transfer(ticket, carries),
            }
            if let (Request::RenameFrom { path }, Outcome::Final(350)) = (&request, &outcome) {
                self.rename_from = Some(path.clone());
            }
            if self.queue.front().is_none_or(|p| p.wait.is_none()) {
                self.idle_deadline = Some(self.now + self.config.idle_timeout);
            }
            self.pump();
            self.end_step(s, size, waiting_bytes, waiting, extra);
        }

        /// An approved transfer uses the prepared channel, which is then gone.
        fn start_transfer(&mut self, ticket: Ticket, carries: Carries) {
            let channel = core::mem::replace(&mut self.channel, Channel::None);
            let deadline = Some(self.now + self.config.data_timeout);
            let id = match channel {
                Channel::None => {
                    // The prepared channel failed while the application was deciding.
                    self.expect_code(425, "transfer without a data channel");
                    if carries.holds_ticket() {
                        self.expect_released(ticket, "transfer without a data channel");
                    }
                    self.queue.pop_front();
                    return;
                }
                Channel::Active(to) => match self.next("Connect for the transfer") {
                    Ev::Data(DataAction::Connect { id, to: got }) => {
                        ensure!(self, got == to, "Connect to {got}, PORT said {to}");
                        self.new_channel(id, false);
                        id
                    }
                    other => fail!(self, "expected Connect, got {other:?}"),
                },
                Channel::Passive { id, .. } => id,
            };
            if let Some(p) = self.queue.front_mut() {
                p.wait = Some(Wait::Transfer {
                    id,
                    ticket,
                    carries,
                    started: false,
                    deadline,
                });
            }
            if let Channel::Passive {
                connected: true, ..
            } = channel
            {
                self.begin(125, id);
            }
        }

        /// The data connection is up: the preliminary reply, then the action on it.
        fn begin(&mut self, code: u16, id: DataId) {
            let r = self.expect_reply("the transfer's preliminary reply");
            ensure!(
                self,
                r.code().get() == code && r.code().is_preliminary(),
                "expected {code} starting the transfer, got {r:?}"
            );
            let (ticket, carries) = match self.queue.front_mut().and_then(|p| p.wait.as_mut()) {
                Some(Wait::Transfer {
                    ticket,
                    carries,
                    started,
                    deadline,
                    ..
                }) => {
                    *started = true;
                    *deadline = None;
                    (*ticket, *carries)
                }
                _ => fail!(self, "model: begin without a transfer"),
            };
            let action = self.next("the transfer's data action");
            let fits = match (&action, carries) {
                (
                    Ev::Data(DataAction::Transfer {
                        id: i,
                        ticket: t,
                        direction,
                        ascii,
                        protected,
                    }),
                    Carries::File(d),
                ) => {
                    *i == id
                        && *t == ticket
                        && *direction == d
                        && *ascii == self.ascii
                        && *protected == self.protected
                }
                (
                    Ev::Data(DataAction::SendListing {
                        id: i, protected, ..
                    }),
                    Carries::Listing,
                ) => *i == id && *protected == self.protected,
                (
                    Ev::Data(DataAction::StreamListing {
                        id: i,
                        ticket: t,
                        format,
                        protected,
                    }),
                    Carries::Stream(kind),
                ) => {
                    *i == id && *t == ticket && format.kind == kind && *protected == self.protected
                }
                _ => false,
            };
            ensure!(
                self,
                fits,
                "transfer on {id:?} ({carries:?}, ascii {}, protected {}) started with {action:?}",
                self.ascii,
                self.protected
            );
            ensure!(
                self,
                self.open == Some(id),
                "transfer on {id:?} which is not open ({:?} is)",
                self.open
            );
            if let Some(c) = self.channels.get_mut(&id) {
                c.life = Life::Transferring;
            }
        }

        /// A data fact for an issued id, in its lifecycle, or any fact for a bogus id.
        fn fact(&self, input: &mut Input<'_>) -> DataInput {
            let [b, which, arg, lo, hi, error] = [(); 6].map(|()| input.byte());
            let n = u64::from(u16::from_le_bytes([lo, hi]));
            let live: Vec<(DataId, &Driven)> = self
                .channels
                .iter()
                .filter(|(_, c)| !c.facts().is_empty())
                .map(|(id, c)| (*id, c))
                .collect();
            let pick = (b % 8 != 7)
                .then(|| live.iter().rev().nth(usize::from(b) % live.len().max(1)))
                .flatten();
            let (id, fact) = match pick {
                Some((id, c)) => {
                    let facts = c.facts();
                    let f = facts.get(usize::from(which) % facts.len()).copied();
                    (*id, f.unwrap_or(Fact::Progress))
                }
                None => {
                    let all = [
                        Fact::Listening,
                        Fact::Connected,
                        Fact::Failed,
                        Fact::Progress,
                        Fact::Finished,
                    ];
                    let f = all.get(usize::from(which) % all.len()).copied();
                    (DataId(BOGUS_ID + u64::from(b)), f.unwrap_or(Fact::Progress))
                }
            };
            match fact {
                Fact::Listening => {
                    let addr = match arg % 3 {
                        0 => "192.0.2.1:50000",
                        1 => "[::1]:50000",
                        _ => "[::ffff:192.0.2.1]:50000",
                    };
                    DataInput::Listening {
                        id,
                        addr: addr.parse().unwrap_or_else(|_| unreachable!()),
                    }
                }
                Fact::Connected => DataInput::Connected { id },
                Fact::Failed => DataInput::Failed {
                    id,
                    error: match arg % 4 {
                        0 => DataError::Listen,
                        1 => DataError::Connect,
                        2 => DataError::Tls,
                        _ => DataError::TlsNotResumed,
                    },
                },
                Fact::Progress => DataInput::Progress { id, bytes: n },
                Fact::Finished => DataInput::Finished {
                    id,
                    result: match arg % 4 {
                        0 | 1 => Ok(n),
                        2 => Err(TransferError::ConnectionLost),
                        _ => Err(TransferError::Storage(fs_error(error))),
                    },
                },
            }
        }

        fn data(&mut self, s: &mut Session, input: DataInput) {
            let waiting_bytes = self.begin_step(Step::Data(input.clone()));
            let waiting = self.queue.len();
            s.handle_data(self.now, input.clone());
            let size = self.collect(s);
            let id = match &input {
                DataInput::Listening { id, .. }
                | DataInput::Connected { id }
                | DataInput::Failed { id, .. }
                | DataInput::Progress { id, .. }
                | DataInput::Finished { id, .. } => *id,
            };
            if let Some(c) = self.channels.get_mut(&id) {
                c.in_flight = c.in_flight.map(|n| n.saturating_sub(1));
                c.life = match &input {
                    DataInput::Listening { .. } => Life::Listening,
                    DataInput::Connected { .. } => Life::Connected,
                    DataInput::Failed { .. } | DataInput::Finished { .. } => Life::Done,
                    DataInput::Progress { .. } => c.life,
                };
            }
            if !self.closed {
                self.on_data(&input, id);
                self.pump();
            }
            self.end_step(s, size, waiting_bytes, waiting, 0);
        }

        fn on_data(&mut self, input: &DataInput, id: DataId) {
            let listening = match self.queue.front().and_then(|p| p.wait.as_ref()) {
                Some(Wait::Listen { id: want, extended }) if *want == id => Some(*extended),
                _ => None,
            };
            let transfer = self.transfer().filter(|t| t.0 == id).map(|t| t.3);
            match input {
                DataInput::Listening { addr, .. } => match listening {
                    Some(true) => self.passive_ready(id, 229),
                    Some(false) if family_of(*addr) == Family::Ipv4 => {
                        self.passive_ready(id, 227);
                    }
                    Some(false) => {
                        self.expect_code(522, "PASV with an IPv6 listener");
                        ensure!(self, self.open != Some(id), "{id:?} not closed");
                        self.queue.pop_front();
                        self.idle_deadline = Some(self.now + self.config.idle_timeout);
                    }
                    None => self.expect_close(id, "unexpected Listening"),
                },
                DataInput::Connected { .. } => match (self.channel, transfer) {
                    (
                        Channel::Passive {
                            id: p, deadline, ..
                        },
                        _,
                    ) if p == id => {
                        self.channel = Channel::Passive {
                            id,
                            connected: true,
                            deadline,
                        };
                    }
                    (_, Some(false)) => self.begin(150, id),
                    _ => self.expect_close(id, "unexpected Connected"),
                },
                DataInput::Failed { error, .. } => {
                    if listening.is_some() {
                        self.expect_code(425, "the listener failed");
                        self.queue.pop_front();
                        self.open = self.open.filter(|&o| o != id);
                        self.idle_deadline = Some(self.now + self.config.idle_timeout);
                    } else if let Some(started) = transfer {
                        // After 150 (the TLS handshake on the data connection, a drop) the
                        // transfer command still gets its final reply.
                        let code = match (*error, started) {
                            (DataError::Tls | DataError::TlsNotResumed, _) => 522,
                            (_, true) => 426,
                            (_, false) => 425,
                        };
                        self.expect_code(code, "the data channel failed");
                        self.release_unstarted("the data channel failed");
                        self.queue.pop_front();
                        self.open = self.open.filter(|&o| o != id);
                        self.idle_deadline = Some(self.now + self.config.idle_timeout);
                    } else if matches!(self.channel, Channel::Passive { id: p, .. } if p == id) {
                        self.channel = Channel::None;
                        self.open = self.open.filter(|&o| o != id);
                    }
                }
                DataInput::Progress { .. } => {}
                DataInput::Finished { result, .. } => {
                    if transfer == Some(true) {
                        let code = match result {
                            Ok(_) => 226,
                            Err(TransferError::ConnectionLost) => 426,
                            Err(TransferError::Storage(e)) => e.reply_code().get(),
                        };
                        self.expect_code(code, "the transfer's final reply");
                        self.queue.pop_front();
                        self.open = self.open.filter(|&o| o != id);
                        self.idle_deadline = Some(self.now + self.config.idle_timeout);
                    }
                }
            }
        }

        fn passive_ready(&mut self, id: DataId, code: u16) {
            self.expect_code(code, "passive listener ready");
            self.queue.pop_front();
            // Waiting for the listener was not idleness: the idle time restarts.
            self.idle_deadline = Some(self.now + self.config.idle_timeout);
            self.channel = Channel::Passive {
                id,
                connected: false,
                deadline: Some(self.now + self.config.idle_timeout),
            };
        }

        fn expect_close(&mut self, id: DataId, why: &str) {
            match self.pop_raw(why) {
                Ev::Data(DataAction::Close { id: got }) if got == id => {
                    self.closed_by_session(id);
                }
                other => fail!(self, "{why}: expected Close({id:?}), got {other:?}"),
            }
        }

        fn timeout(&mut self, s: &mut Session, to: Instant) {
            let waiting_bytes = self.begin_step(Step::Timeout(to - self.now));
            let waiting = self.queue.len();
            self.now = to;
            let now = to;
            s.handle_timeout(now);
            let size = self.collect(s);
            if !self.closed {
                self.on_timeout();
            }
            self.end_step(s, size, waiting_bytes, waiting, 0);
            let next = s.poll_timeout();
            ensure!(
                self,
                next.is_none_or(|t| t > now) || s.is_closed(),
                "after handle_timeout(t+{:?}) poll_timeout is t+{:?}",
                now - self.start,
                next.map(|t| t - self.start)
            );
        }

        fn on_timeout(&mut self) {
            let now = self.now;
            if let Some(Wait::LoginDelay { until, close }) =
                self.queue.front().and_then(|p| p.wait.as_ref())
                && now >= *until
            {
                let close = *close;
                self.expect_code(530, "failed login answered after the delay");
                self.queue.pop_front();
                if close {
                    self.expect_fatal("too many failed logins");
                    return;
                }
                self.idle_deadline = Some(now + self.config.idle_timeout);
            }
            if self.phase != Phase::LoggedIn && self.login_deadline.is_some_and(|d| now >= d) {
                self.expect_fatal("login timeout");
                return;
            }
            if let Some(Wait::Transfer {
                id,
                deadline: Some(d),
                ..
            }) = self.queue.front().and_then(|p| p.wait.as_ref())
                && now >= *d
            {
                let id = *id;
                self.expect_code(425, "data connection timeout");
                ensure!(self, self.open != Some(id), "timed-out {id:?} not closed");
                self.release_unstarted("data connection timeout");
                self.queue.pop_front();
                self.idle_deadline = Some(now + self.config.idle_timeout);
            }
            if let Channel::Passive {
                id,
                deadline: Some(d),
                ..
            } = self.channel
                && now >= d
            {
                // An announced listener sat unused for the idle time: its port is freed.
                self.expect_close(id, "unused listener timeout");
                self.channel = Channel::None;
            }
            if self.queue.is_empty() && self.idle_deadline.is_some_and(|d| now >= d) {
                self.expect_fatal("idle timeout");
                return;
            }
            self.pump();
        }

        fn tls_established(&mut self, s: &mut Session) {
            self.begin_step(Step::TlsEstablished);
            s.handle_tls_established(self.now);
            let size = self.collect(s);
            if self.tls_pending {
                self.tls_pending = false;
                self.tls = true;
                self.framer.clear();
                self.idle_deadline = Some(self.now + self.config.idle_timeout);
            }
            self.end_step(s, size, 0, 0, 0);
        }

        fn shutdown(&mut self, s: &mut Session) {
            self.begin_step(Step::Shutdown);
            s.shutdown();
            let size = self.collect(s);
            if !self.closed {
                self.expect_fatal("shutdown");
            }
            self.end_step(s, size, 0, 0, 0);
        }
    }
}
