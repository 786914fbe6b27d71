//! Commands: known answers for every verb (bytes -> value -> canonical bytes), the reply each
//! parse error deserves, hostile inputs, and property-based round trips.

use std::collections::HashSet;
use std::net::{SocketAddr, SocketAddrV4};

use bytes::BytesMut;
use ftp_proto::codec::{ClientCodec, LineError};
use ftp_proto::{
    AuthMechanism, ByteRange, ChecksumArgs, Command, EncodeError, EpsvMode, FileStructure,
    FormatControl, Frame, FtpPath, LineFramer, ListArgs, NOT_IMPLEMENTED_VERBS, ParseError,
    ProtectionLevel, Secret, Timestamp, TransferMode, TransferType, Verb,
};
use proptest::prelude::*;
use tokio_util::codec::Encoder;

fn p(s: &str) -> FtpPath {
    FtpPath::from(s)
}

fn ts(s: &str) -> Timestamp {
    Timestamp::parse(s.as_bytes()).unwrap()
}

fn v4(s: &str) -> SocketAddrV4 {
    s.parse().unwrap()
}

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn list(options: Option<&str>, path: Option<&str>) -> ListArgs {
    ListArgs {
        options: options.map(String::from),
        path: path.map(FtpPath::from),
    }
}

fn sum(path: &str, range: Option<(u64, u64)>) -> ChecksumArgs {
    ChecksumArgs {
        path: p(path),
        range: range.map(|(start, end)| ByteRange { start, end }),
    }
}

/// Frames wire bytes (as a peer would) and parses the one line they hold.
fn decode_wire(wire: &[u8]) -> Command {
    let mut framer = LineFramer::new();
    let frames: Vec<Frame> = framer.frames(wire).collect();
    match frames.as_slice() {
        [Frame::Line(line)] => Command::parse(line).unwrap(),
        other => panic!("expected one line, got {other:?}"),
    }
}

/// (line as received, expected value, canonical wire form without CRLF)
fn known_answers() -> Vec<(&'static [u8], Command, &'static [u8])> {
    use Command as C;
    vec![
        (
            b"USER anonymous",
            C::User("anonymous".into()),
            b"USER anonymous",
        ),
        (
            b"user Bob Smith",
            C::User("Bob Smith".into()),
            b"USER Bob Smith",
        ),
        (
            b"PASS secret",
            C::Pass(Secret::new(b"secret".to_vec())),
            b"PASS secret",
        ),
        (b"PASS", C::Pass(Secret::new(Vec::new())), b"PASS"),
        (
            b"PASS  two  spaces ",
            C::Pass(Secret::new(b" two  spaces ".to_vec())),
            b"PASS  two  spaces ",
        ),
        (
            b"ACCT billing",
            C::Acct(Secret::new(b"billing".to_vec())),
            b"ACCT billing",
        ),
        (
            b"CWD /pub/linux",
            C::Cwd(p("/pub/linux")),
            b"CWD /pub/linux",
        ),
        (
            b"CWD  leading space",
            C::Cwd(p(" leading space")),
            b"CWD  leading space",
        ),
        (b"CDUP", C::Cdup, b"CDUP"),
        (b"SMNT /mnt", C::Smnt(p("/mnt")), b"SMNT /mnt"),
        (b"QUIT", C::Quit, b"QUIT"),
        (b"quit ", C::Quit, b"QUIT"),
        // An argument does not keep the session open.
        (b"QUIT please", C::Quit, b"QUIT"),
        (b"REIN", C::Rein, b"REIN"),
        (
            b"PORT 127,0,0,1,4,1",
            C::Port(v4("127.0.0.1:1025")),
            b"PORT 127,0,0,1,4,1",
        ),
        (
            b"PORT 10,0,0,1,0,20",
            C::Port(v4("10.0.0.1:20")),
            b"PORT 10,0,0,1,0,20",
        ),
        (b"PASV", C::Pasv, b"PASV"),
        (
            b"EPRT |1|132.235.1.2|6275|",
            C::Eprt(sa("132.235.1.2:6275")),
            b"EPRT |1|132.235.1.2|6275|",
        ),
        (
            b"EPRT |2|1080::8:800:200C:417A|5282|",
            C::Eprt(sa("[1080::8:800:200c:417a]:5282")),
            b"EPRT |2|1080::8:800:200c:417a|5282|",
        ),
        (
            b"EPRT !2!::1!2121!",
            C::Eprt(sa("[::1]:2121")),
            b"EPRT |2|::1|2121|",
        ),
        (b"EPSV", C::Epsv(EpsvMode::Any), b"EPSV"),
        (b"EPSV ALL", C::Epsv(EpsvMode::All), b"EPSV ALL"),
        (b"epsv all", C::Epsv(EpsvMode::All), b"EPSV ALL"),
        (b"EPSV 1", C::Epsv(EpsvMode::Ipv4), b"EPSV 1"),
        (b"EPSV 2", C::Epsv(EpsvMode::Ipv6), b"EPSV 2"),
        (
            b"TYPE A",
            C::Type(TransferType::Ascii(FormatControl::NonPrint)),
            b"TYPE A",
        ),
        (
            b"TYPE A N",
            C::Type(TransferType::Ascii(FormatControl::NonPrint)),
            b"TYPE A",
        ),
        (
            b"type a t",
            C::Type(TransferType::Ascii(FormatControl::Telnet)),
            b"TYPE A T",
        ),
        (
            b"TYPE E C",
            C::Type(TransferType::Ebcdic(FormatControl::Asa)),
            b"TYPE E C",
        ),
        (b"TYPE I", C::Type(TransferType::Image), b"TYPE I"),
        (b"TYPE L 8", C::Type(TransferType::Local(8)), b"TYPE L 8"),
        (b"TYPE L 36", C::Type(TransferType::Local(36)), b"TYPE L 36"),
        (b"STRU F", C::Stru(FileStructure::File), b"STRU F"),
        (b"STRU r", C::Stru(FileStructure::Record), b"STRU R"),
        (b"STRU P", C::Stru(FileStructure::Page), b"STRU P"),
        (b"MODE S", C::Mode(TransferMode::Stream), b"MODE S"),
        (b"MODE B", C::Mode(TransferMode::Block), b"MODE B"),
        (b"MODE C", C::Mode(TransferMode::Compressed), b"MODE C"),
        (b"MODE Z", C::Mode(TransferMode::Deflate), b"MODE Z"),
        (
            b"RETR dir/file.txt",
            C::Retr(p("dir/file.txt")),
            b"RETR dir/file.txt",
        ),
        (
            b"RETR a file with spaces ",
            C::Retr(p("a file with spaces ")),
            b"RETR a file with spaces ",
        ),
        (
            b"RETR caf\xc3\xa9",
            C::Retr(p("caf\u{e9}")),
            b"RETR caf\xc3\xa9",
        ),
        (b"STOR up.bin", C::Stor(p("up.bin")), b"STOR up.bin"),
        (b"STOU", C::Stou(None), b"STOU"),
        (
            b"STOU hint.txt",
            C::Stou(Some(p("hint.txt"))),
            b"STOU hint.txt",
        ),
        (b"APPE log.txt", C::Appe(p("log.txt")), b"APPE log.txt"),
        (
            b"ALLO 1024",
            C::Allo {
                size: 1024,
                record_size: None,
            },
            b"ALLO 1024",
        ),
        (
            b"ALLO 1024 R 128",
            C::Allo {
                size: 1024,
                record_size: Some(128),
            },
            b"ALLO 1024 R 128",
        ),
        (b"REST 0", C::Rest(0), b"REST 0"),
        (
            b"REST 18446744073709551615",
            C::Rest(u64::MAX),
            b"REST 18446744073709551615",
        ),
        (b"RNFR old", C::Rnfr(p("old")), b"RNFR old"),
        (b"RNTO new name", C::Rnto(p("new name")), b"RNTO new name"),
        (b"ABOR", C::Abor, b"ABOR"),
        (b"DELE gone.txt", C::Dele(p("gone.txt")), b"DELE gone.txt"),
        (b"RMD dir", C::Rmd(p("dir")), b"RMD dir"),
        (b"MKD new dir", C::Mkd(p("new dir")), b"MKD new dir"),
        (b"PWD", C::Pwd, b"PWD"),
        (b"LIST", C::List(list(None, None)), b"LIST"),
        (b"LIST -la", C::List(list(Some("-la"), None)), b"LIST -la"),
        (
            b"LIST -la /pub",
            C::List(list(Some("-la"), Some("/pub"))),
            b"LIST -la /pub",
        ),
        (
            b"LIST -l -a my dir",
            C::List(list(Some("-l -a"), Some("my dir"))),
            b"LIST -l -a my dir",
        ),
        (
            b"LIST --full-time x",
            C::List(list(Some("--full-time"), Some("x"))),
            b"LIST --full-time x",
        ),
        (
            b"LIST /pub",
            C::List(list(None, Some("/pub"))),
            b"LIST /pub",
        ),
        (
            b"LIST -x.txt",
            C::List(list(None, Some("-x.txt"))),
            b"LIST -x.txt",
        ),
        (b"NLST", C::Nlst(list(None, None)), b"NLST"),
        (
            b"NLST -a *.txt",
            C::Nlst(list(Some("-a"), Some("*.txt"))),
            b"NLST -a *.txt",
        ),
        (
            b"SITE CHMOD 755 file",
            C::Site(b"CHMOD 755 file".to_vec()),
            b"SITE CHMOD 755 file",
        ),
        (b"SYST", C::Syst, b"SYST"),
        (b"STAT", C::Stat(None), b"STAT"),
        (
            b"STAT /pub",
            C::Stat(Some(list(None, Some("/pub")))),
            b"STAT /pub",
        ),
        (b"HELP", C::Help(None), b"HELP"),
        (b"HELP RETR", C::Help(Some("RETR".into())), b"HELP RETR"),
        (b"NOOP", C::Noop, b"NOOP"),
        (b"FEAT", C::Feat, b"FEAT"),
        (
            b"OPTS UTF8 ON",
            C::Opts {
                name: "UTF8".into(),
                value: Some("ON".into()),
            },
            b"OPTS UTF8 ON",
        ),
        (
            b"opts utf8 on",
            C::Opts {
                name: "UTF8".into(),
                value: Some("on".into()),
            },
            b"OPTS UTF8 on",
        ),
        (
            b"OPTS MLST type;size;modify;",
            C::Opts {
                name: "MLST".into(),
                value: Some("type;size;modify;".into()),
            },
            b"OPTS MLST type;size;modify;",
        ),
        (
            b"OPTS MLST",
            C::Opts {
                name: "MLST".into(),
                value: None,
            },
            b"OPTS MLST",
        ),
        (b"AUTH TLS", C::Auth(AuthMechanism::Tls), b"AUTH TLS"),
        (b"auth ssl", C::Auth(AuthMechanism::Ssl), b"AUTH SSL"),
        (
            b"AUTH tls-c",
            C::Auth(AuthMechanism::Other("TLS-C".into())),
            b"AUTH TLS-C",
        ),
        (
            b"ADAT Zm9vYmFy",
            C::Adat(Secret::new("Zm9vYmFy".into())),
            b"ADAT Zm9vYmFy",
        ),
        (b"PBSZ 0", C::Pbsz(0), b"PBSZ 0"),
        (b"PBSZ 4294967295", C::Pbsz(u32::MAX), b"PBSZ 4294967295"),
        (b"PROT P", C::Prot(ProtectionLevel::Private), b"PROT P"),
        (b"PROT c", C::Prot(ProtectionLevel::Clear), b"PROT C"),
        (b"PROT S", C::Prot(ProtectionLevel::Safe), b"PROT S"),
        (b"PROT E", C::Prot(ProtectionLevel::Confidential), b"PROT E"),
        (b"CCC", C::Ccc, b"CCC"),
        (
            b"MIC aGVsbG8=",
            C::Mic(Secret::new("aGVsbG8=".into())),
            b"MIC aGVsbG8=",
        ),
        (
            b"CONF aGVsbG8=",
            C::Conf(Secret::new("aGVsbG8=".into())),
            b"CONF aGVsbG8=",
        ),
        (
            b"ENC aGVsbG8=",
            C::Enc(Secret::new("aGVsbG8=".into())),
            b"ENC aGVsbG8=",
        ),
        (b"SIZE big.iso", C::Size(p("big.iso")), b"SIZE big.iso"),
        (
            b"MDTM file.txt",
            C::Mdtm {
                time: None,
                path: p("file.txt"),
            },
            b"MDTM file.txt",
        ),
        (
            b"MDTM 20240229120000 file.txt",
            C::Mdtm {
                time: Some(ts("20240229120000")),
                path: p("file.txt"),
            },
            b"MDTM 20240229120000 file.txt",
        ),
        (
            b"MDTM 20241301000000 name",
            C::Mdtm {
                time: None,
                path: p("20241301000000 name"),
            },
            b"MDTM 20241301000000 name",
        ),
        (
            b"MFMT 20240229120000 a b.txt",
            C::Mfmt {
                time: ts("20240229120000"),
                path: p("a b.txt"),
            },
            b"MFMT 20240229120000 a b.txt",
        ),
        (
            b"MFMT 20240229120000.5 a",
            C::Mfmt {
                time: ts("20240229120000.500"),
                path: p("a"),
            },
            b"MFMT 20240229120000.500 a",
        ),
        (b"MLSD", C::Mlsd(None), b"MLSD"),
        (b"MLSD /pub", C::Mlsd(Some(p("/pub"))), b"MLSD /pub"),
        (b"MLST", C::Mlst(None), b"MLST"),
        (b"MLST file", C::Mlst(Some(p("file"))), b"MLST file"),
        (
            b"HOST ftp.example.com",
            C::Host("ftp.example.com".into()),
            b"HOST ftp.example.com",
        ),
        (b"HOST [::1]", C::Host("[::1]".into()), b"HOST [::1]"),
        (b"LANG", C::Lang(None), b"LANG"),
        (b"LANG fr-CA", C::Lang(Some("fr-CA".into())), b"LANG fr-CA"),
        (
            b"CLNT FileZilla 3.66",
            C::Clnt("FileZilla 3.66".into()),
            b"CLNT FileZilla 3.66",
        ),
        (b"HASH file.iso", C::Hash(p("file.iso")), b"HASH file.iso"),
        (b"XCRC a file", C::Xcrc(sum("a file", None)), b"XCRC a file"),
        (
            b"XCRC \"a file\" 0 100",
            C::Xcrc(sum("a file", Some((0, 100)))),
            b"XCRC \"a file\" 0 100",
        ),
        (
            b"XCRC \"say \"\"hi\"\"\" 5",
            C::Xcrc(sum("say \"hi\"", Some((0, 5)))),
            b"XCRC \"say \"\"hi\"\"\" 0 5",
        ),
        (
            b"XCRC \"plain\"",
            C::Xcrc(sum("plain", None)),
            b"XCRC plain",
        ),
        (b"XMD5 f", C::Xmd5(sum("f", None)), b"XMD5 f"),
        (b"XSHA1 f", C::Xsha1(sum("f", None)), b"XSHA1 f"),
        (
            b"XSHA256 \"f\" 1 2",
            C::Xsha256(sum("f", Some((1, 2)))),
            b"XSHA256 \"f\" 1 2",
        ),
        (b"AVBL", C::Avbl(None), b"AVBL"),
        (
            b"AVBL /upload",
            C::Avbl(Some(p("/upload"))),
            b"AVBL /upload",
        ),
        (b"XPWD", C::Xpwd, b"XPWD"),
        (b"XMKD d", C::Xmkd(p("d")), b"XMKD d"),
        (b"XRMD d", C::Xrmd(p("d")), b"XRMD d"),
        (b"XCWD d", C::Xcwd(p("d")), b"XCWD d"),
        (b"XCUP", C::Xcup, b"XCUP"),
        (
            b"FROB",
            C::Other {
                verb: "FROB".into(),
                args: None,
            },
            b"FROB",
        ),
        (
            b"frob  a b",
            C::Other {
                verb: "FROB".into(),
                args: Some(b" a b".to_vec()),
            },
            b"FROB  a b",
        ),
        (
            b"BYE",
            C::Other {
                verb: "BYE".into(),
                args: None,
            },
            b"BYE",
        ),
        (
            b"STAT -la /pub",
            C::Stat(Some(list(Some("-la"), Some("/pub")))),
            b"STAT -la /pub",
        ),
        (
            b"STAT -la",
            C::Stat(Some(list(Some("-la"), None))),
            b"STAT -la",
        ),
        (
            b"HASH \"q\" 1 2",
            C::Hash(p("\"q\" 1 2")),
            b"HASH \"q\" 1 2",
        ),
        (
            b"XCRC \"/Program Files/x.exe\" 0 42575",
            C::Xcrc(sum("/Program Files/x.exe", Some((0, 42575)))),
            b"XCRC \"/Program Files/x.exe\" 0 42575",
        ),
        (
            b"XCRC \"a\" 7 7",
            C::Xcrc(sum("a", Some((7, 7)))),
            b"XCRC \"a\" 7 7",
        ),
        (b"TYPE L8", C::Type(TransferType::Local(8)), b"TYPE L 8"),
        (b"type l8", C::Type(TransferType::Local(8)), b"TYPE L 8"),
        (
            b"OPTS UTF8 ON ",
            C::Opts {
                name: "UTF8".into(),
                value: Some("ON".into()),
            },
            b"OPTS UTF8 ON",
        ),
        (
            b"OPTS  UTF8  ON",
            C::Opts {
                name: "UTF8".into(),
                value: Some("ON".into()),
            },
            b"OPTS UTF8 ON",
        ),
        (b"  NOOP", C::Noop, b"NOOP"),
    ]
}

#[test]
fn every_verb_has_a_known_answer() {
    let covered: HashSet<Verb> = known_answers()
        .iter()
        .filter_map(|(_, c, _)| c.verb())
        .collect();
    for verb in Verb::ALL {
        assert!(covered.contains(verb), "no known answer for {verb}");
    }
    assert_eq!(Verb::ALL.len(), 64);
}

#[test]
fn known_answers_bytes_to_value_to_bytes() {
    for (input, expected, canonical) in known_answers() {
        let parsed = Command::parse(input)
            .unwrap_or_else(|e| panic!("{} failed: {e}", input.escape_ascii()));
        assert_eq!(parsed, expected, "parse {}", input.escape_ascii());
        let mut wire = canonical.to_vec();
        wire.extend_from_slice(b"\r\n");
        assert_eq!(expected.to_bytes().unwrap(), wire, "encode {expected:?}");
        assert_eq!(decode_wire(&wire), expected);
    }
}

#[test]
fn verbs_are_case_insensitive() {
    for verb in Verb::ALL {
        let name = verb.as_str();
        for spelling in [name.to_lowercase(), name.to_uppercase(), mixed_case(name)] {
            assert_eq!(
                Verb::from_token(spelling.as_bytes()),
                Some(*verb),
                "{spelling}"
            );
        }
    }
    assert_eq!(Command::parse(b"ReTr x"), Ok(Command::Retr(p("x"))));
}

fn mixed_case(s: &str) -> String {
    s.chars()
        .enumerate()
        .map(|(i, c)| {
            if i % 2 == 0 {
                c.to_ascii_lowercase()
            } else {
                c
            }
        })
        .collect()
}

/// (line, reply code the server must answer with)
const ERRORS: &[(&[u8], u16)] = &[
    // 500: not a command at all.
    (b"", 500),
    (b"   ", 500),
    (b"\t", 500),
    (b"\0", 500),
    (b"\xff\xfe", 500),
    (b"1USER x", 500),
    (b"RE-TR x", 500),
    (b"RETR\tx", 500),
    (b"ABCDEFGHIJKLMNOPQ", 500),
    (b"\xc3\xa9TRE x", 500),
    // 502: known, deliberately not implemented.
    (b"LPRT 4,4,1,2,3,4,2,0,20", 502),
    (b"LPSV", 502),
    (b"mail", 502),
    // 501: missing, superfluous or malformed arguments.
    (b"USER", 501),
    (b"USER   ", 501),
    (b"USER \xff\xfe", 501),
    (b"RETR", 501),
    (b"RETR ", 501),
    (b"CWD", 501),
    (b"NOOP now", 501),
    (b"PASV 1", 501),
    (b"PORT", 501),
    (b"PORT 127,0,0,1,4", 501),
    (b"PORT 127,0,0,1,4,256", 501),
    (b"PORT 1270,0,0,1,4,1", 501),
    (b"PORT 127.0.0.1:21", 501),
    (b"EPRT |1|::1|21|", 501),
    (b"EPRT |1|1.2.3.4|65536|", 501),
    (b"EPRT 1.2.3.4", 501),
    (b"EPSV foo", 501),
    (b"REST", 501),
    (b"REST -5", 501),
    (b"REST -0", 501),
    (b"REST 1e3", 501),
    (b"REST 0x10", 501),
    (b"REST 18446744073709551616", 501),
    (b"REST 123456789012345678901234567890", 501),
    (b"REST 12 34", 501),
    (b"ALLO", 501),
    (b"ALLO -1", 501),
    (b"ALLO 10 X 5", 501),
    (b"ALLO 10 R", 501),
    (b"ALLO 10 R 5 6", 501),
    (b"ALLO 99999999999999999999999", 501),
    (b"PBSZ", 501),
    (b"PBSZ 4294967296", 501),
    (b"TYPE", 501),
    (b"TYPE AB", 501),
    (b"TYPE I N", 501),
    (b"TYPE A N X", 501),
    (b"TYPE L", 501),
    (b"TYPE L x", 501),
    (b"TYPE A 5", 501),
    (b"STRU", 501),
    (b"STRU FF", 501),
    (b"MODE", 501),
    (b"MODE 1", 501),
    (b"PROT", 501),
    (b"PROT PP", 501),
    (b"AUTH", 501),
    (b"OPTS", 501),
    (b"MFMT", 501),
    (b"MFMT 20240101000000", 501),
    (b"MFMT 20240101000000 ", 501),
    (b"MFMT 20241301000000 a", 501),
    (b"MFMT now a", 501),
    (b"MDTM", 501),
    (b"SIZE", 501),
    (b"SITE", 501),
    (b"HOST", 501),
    (b"CLNT", 501),
    (b"XCRC", 501),
    (b"XCRC \"unterminated", 501),
    (b"XCRC \"a\" x", 501),
    (b"XCRC \"a\" 1 2 3", 501),
    (b"XCRC \"a\" -1", 501),
    (b"XCRC \"\" 1", 501),
    (b"XCRC \"a\" 99999999999999999999999", 501),
    (b"XCRC \"a\" 100 0", 501),
    (b"MDTM 20020717210715-240 file", 501),
    (b"MDTM 20020717210715+060 file", 501),
    (b"HASH", 501),
    (b"STAT\t", 500),
    (b"ADAT", 501),
    (b"MIC", 501),
    // 504: well-formed but unknown parameter.
    (b"TYPE X", 504),
    (b"TYPE A X", 504),
    (b"TYPE L 0", 504),
    (b"TYPE L 256", 504),
    (b"TYPE L0", 504),
    (b"STRU X", 504),
    (b"MODE Q", 504),
    (b"PROT X", 504),
    // 522: network protocol not supported (RFC 2428).
    (b"EPRT |3|1.2.3.4|21|", 522),
    (b"EPSV 3", 522),
];

#[test]
fn parse_errors_carry_the_reply_they_deserve() {
    for (line, code) in ERRORS {
        match Command::parse(line) {
            Ok(c) => panic!("{} parsed as {c:?}", line.escape_ascii()),
            Err(e) => assert_eq!(e.reply_code().get(), *code, "{}: {e}", line.escape_ascii()),
        }
    }
}

#[test]
fn not_implemented_verbs_are_listed_and_give_502() {
    for verb in NOT_IMPLEMENTED_VERBS {
        assert!(
            matches!(Command::parse(verb.as_bytes()), Err(ParseError::NotImplemented(v)) if v == *verb)
        );
        assert!(Verb::from_token(verb.as_bytes()).is_none());
    }
}

#[test]
fn error_messages_name_the_verb_and_reason() {
    let e = Command::parse(b"REST 123456789012345678901234567890").unwrap_err();
    assert_eq!(e.to_string(), "REST: number too large");
    assert_eq!(e.verb(), Some(Verb::Rest));
    let e = Command::parse(b"PORT 1,2,3,4,5,999").unwrap_err();
    assert_eq!(e.to_string(), "PORT: address number out of range");
    assert_eq!(
        Command::parse(b"ALLO x").unwrap_err().to_string(),
        "ALLO: not a number"
    );
    assert_eq!(
        Command::parse(b"NOOP x").unwrap_err().to_string(),
        "NOOP: unexpected argument"
    );
}

#[test]
fn paths_are_byte_exact() {
    let cases: &[&[u8]] = &[
        b"  two leading spaces",
        b"trailing  ",
        b"\xe9t\xe9 latin-1",
        b"emoji \xf0\x9f\x93\x81",
        b"a\rb",
        b"nul\0inside",
        b"\xff",
    ];
    for path in cases {
        let mut line = b"RETR ".to_vec();
        line.extend_from_slice(path);
        assert_eq!(
            Command::parse(&line),
            Ok(Command::Retr(FtpPath::from(*path)))
        );
    }
}

#[test]
fn encoding_refuses_injection_and_unrepresentable_values() {
    use Command as C;
    let cases: Vec<(Command, EncodeError)> = vec![
        (C::Retr(p("a\r\nDELE b")), EncodeError::ForbiddenByte),
        (C::Retr(p("a\nb")), EncodeError::ForbiddenByte),
        (C::Retr(p("a\rb")), EncodeError::ForbiddenByte),
        (C::Retr(p("a\0b")), EncodeError::ForbiddenByte),
        (C::User("root\r\nPASS x".into()), EncodeError::ForbiddenByte),
        (
            C::Pass(Secret::new(b"x\r\nDELE y".to_vec())),
            EncodeError::ForbiddenByte,
        ),
        (
            C::Site(b"CHMOD 777 x\nRMD /".to_vec()),
            EncodeError::ForbiddenByte,
        ),
        (C::Retr(p("")), EncodeError::EmptyArgument),
        (C::Retr(p("  ")), EncodeError::EmptyArgument),
        (C::User(String::new()), EncodeError::EmptyArgument),
        (C::Stat(Some(list(None, None))), EncodeError::Ambiguous),
        (C::Xcrc(sum("a", Some((5, 1)))), EncodeError::Ambiguous),
        (
            C::Opts {
                name: "UTF8".into(),
                value: Some("ON ".into()),
            },
            EncodeError::Ambiguous,
        ),
        (C::List(list(None, Some("-la"))), EncodeError::Ambiguous),
        (C::List(list(Some("la"), None)), EncodeError::Ambiguous),
        (
            C::Mdtm {
                time: None,
                path: p("20240101000000 x"),
            },
            EncodeError::Ambiguous,
        ),
        (
            C::Opts {
                name: "utf8".into(),
                value: None,
            },
            EncodeError::Ambiguous,
        ),
        (
            C::Auth(AuthMechanism::Other("TLS".into())),
            EncodeError::Ambiguous,
        ),
        (
            C::Other {
                verb: "retr".into(),
                args: None,
            },
            EncodeError::InvalidVerb,
        ),
        (
            C::Other {
                verb: "RETR".into(),
                args: None,
            },
            EncodeError::InvalidVerb,
        ),
        (
            C::Other {
                verb: "LPSV".into(),
                args: None,
            },
            EncodeError::InvalidVerb,
        ),
        (
            C::Other {
                verb: "A B".into(),
                args: None,
            },
            EncodeError::InvalidVerb,
        ),
        (
            C::Other {
                verb: String::new(),
                args: None,
            },
            EncodeError::InvalidVerb,
        ),
        (C::Type(TransferType::Local(0)), EncodeError::OutOfRange),
    ];
    for (cmd, err) in cases {
        let mut out = b"untouched".to_vec();
        assert_eq!(cmd.encode(&mut out), Err(err), "{cmd:?}");
        assert_eq!(out, b"untouched");
    }
}

#[test]
fn iac_in_arguments_is_doubled_on_the_wire() {
    let cmd = Command::Stor(FtpPath::from(&b"\xffname\xff"[..]));
    let wire = cmd.to_bytes().unwrap();
    assert_eq!(wire, b"STOR \xff\xffname\xff\xff\r\n");
    assert_eq!(decode_wire(&wire), cmd);
}

#[test]
fn display_redacts_secrets() {
    let pass = Command::Pass(Secret::new(b"hunter2".to_vec()));
    assert_eq!(pass.to_string(), "PASS ****");
    assert!(!format!("{pass:?}").contains("hunter2"));
    let acct = Command::parse(b"ACCT topsecret").unwrap();
    assert!(!format!("{acct:?} {acct}").contains("topsecret"));
    for line in [
        &b"ADAT c2VjcmV0"[..],
        b"MIC c2VjcmV0",
        b"CONF c2VjcmV0",
        b"ENC c2VjcmV0",
    ] {
        let cmd = Command::parse(line).unwrap();
        assert!(!format!("{cmd:?} {cmd}").contains("c2VjcmV0"), "{cmd}");
    }
    assert_eq!(Command::Retr(p("x y")).to_string(), "RETR x y");
}

#[test]
fn hostile_lines() {
    // 30-digit numbers everywhere a number goes.
    let n30 = "123456789012345678901234567890";
    for line in [
        format!("REST {n30}"),
        format!("ALLO {n30}"),
        format!("ALLO 1 R {n30}"),
        format!("PBSZ {n30}"),
        format!("TYPE L {n30}"),
        format!("PORT {n30},0,0,1,4,1"),
        format!("EPRT |1|127.0.0.1|{n30}|"),
        format!("EPRT |{n30}|127.0.0.1|21|"),
        format!("EPSV {n30}"),
        format!("XCRC \"f\" {n30}"),
        format!("MFMT {n30} f"),
    ] {
        let e = Command::parse(line.as_bytes()).unwrap_err();
        assert!(
            matches!(e.reply_code().get(), 501 | 504 | 522),
            "{line}: {e}"
        );
    }
    // A maximal line of every byte value parses or errors, never panics.
    let all_bytes: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
    let _ = Command::parse(&all_bytes);
    for verb in Verb::ALL {
        let mut line = verb.as_str().as_bytes().to_vec();
        line.push(b' ');
        line.extend_from_slice(&all_bytes);
        let _ = Command::parse(&line);
        line.truncate(verb.as_str().len() + 1);
        line.extend(std::iter::repeat_n(b' ', 4000));
        let _ = Command::parse(&line);
    }
}

// ---- property tests -------------------------------------------------------------------------

/// Path bytes a client can send: anything but CR, LF and NUL; not blank.
fn arb_path() -> impl Strategy<Value = FtpPath> {
    prop::collection::vec(
        any::<u8>().prop_filter("no CR/LF/NUL", |b| !matches!(b, b'\r' | b'\n' | 0)),
        1..40,
    )
    .prop_filter("not blank", |v| !v.iter().all(|&b| b == b' ' || b == b'\t'))
    .prop_map(FtpPath::from)
}

/// Text arguments: printable UTF-8 without CR/LF/NUL, not blank.
fn arb_text() -> impl Strategy<Value = String> {
    "[^\r\n\0]{1,30}".prop_filter("not blank", |s| !s.chars().all(|c| c == ' ' || c == '\t'))
}

fn arb_token() -> impl Strategy<Value = String> {
    "[A-Z0-9][A-Z0-9._-]{0,11}"
}

fn arb_timestamp() -> impl Strategy<Value = Timestamp> {
    (
        0u16..=9999,
        1u8..=12,
        1u8..=28,
        0u8..24,
        0u8..60,
        0u8..=60,
        prop::option::of(0u16..1000),
    )
        .prop_map(|(y, mo, d, h, mi, s, ms)| {
            let t = Timestamp::new(y, mo, d, h, mi, s).unwrap();
            ms.and_then(|ms| t.with_millis(ms)).unwrap_or(t)
        })
}

fn arb_list_args() -> impl Strategy<Value = ListArgs> {
    let option = "-[a-zA-Z0-9-]{1,6}";
    (
        prop::option::of(prop::collection::vec(option, 1..3).prop_map(|v| v.join(" "))),
        prop::option::of(arb_path().prop_filter("must not look like an option", |p| {
            !p.as_bytes().starts_with(b"-")
        })),
    )
        .prop_map(|(options, path)| ListArgs { options, path })
}

fn arb_checksum() -> impl Strategy<Value = ChecksumArgs> {
    (
        arb_path(),
        prop::option::of((any::<u64>(), any::<u64>()).prop_map(|(a, b)| ByteRange {
            start: a.min(b),
            end: a.max(b),
        })),
    )
        .prop_map(|(path, range)| ChecksumArgs { path, range })
}

fn arb_socket_v4() -> impl Strategy<Value = SocketAddrV4> {
    (any::<[u8; 4]>(), any::<u16>()).prop_map(|(ip, port)| SocketAddrV4::new(ip.into(), port))
}

fn arb_socket() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![
        arb_socket_v4().prop_map(SocketAddr::V4),
        (any::<[u8; 16]>(), any::<u16>())
            .prop_map(|(ip, port)| SocketAddr::new(std::net::Ipv6Addr::from(ip).into(), port)),
    ]
}

fn arb_other() -> impl Strategy<Value = Command> {
    (
        "[A-Z][A-Z0-9]{0,15}".prop_filter("unknown verbs only", |v| {
            Verb::from_token(v.as_bytes()).is_none() && !NOT_IMPLEMENTED_VERBS.contains(&v.as_str())
        }),
        prop::option::of(arb_path().prop_map(FtpPath::into_bytes)),
    )
        .prop_map(|(verb, args)| Command::Other { verb, args })
}

/// Every valid command value.
fn arb_command() -> impl Strategy<Value = Command> {
    use Command as C;
    let secret_bytes = prop::collection::vec(
        any::<u8>().prop_filter("no CR/LF/NUL", |b| !matches!(b, b'\r' | b'\n' | 0)),
        0..20,
    );
    let form = prop_oneof![
        Just(FormatControl::NonPrint),
        Just(FormatControl::Telnet),
        Just(FormatControl::Asa)
    ];
    let transfer_type = prop_oneof![
        form.clone().prop_map(TransferType::Ascii),
        form.prop_map(TransferType::Ebcdic),
        Just(TransferType::Image),
        (1u8..=255).prop_map(TransferType::Local),
    ];
    prop_oneof![
        arb_text().prop_map(C::User),
        secret_bytes.clone().prop_map(|s| C::Pass(Secret::new(s))),
        arb_path().prop_map(|p| C::Acct(Secret::new(p.into_bytes()))),
        arb_path().prop_map(C::Cwd),
        Just(C::Cdup),
        arb_path().prop_map(C::Smnt),
        Just(C::Quit),
        Just(C::Rein),
        arb_socket_v4().prop_map(C::Port),
        Just(C::Pasv),
        arb_socket().prop_map(C::Eprt),
        prop_oneof![
            Just(EpsvMode::Any),
            Just(EpsvMode::All),
            Just(EpsvMode::Ipv4),
            Just(EpsvMode::Ipv6)
        ]
        .prop_map(C::Epsv),
        transfer_type.prop_map(C::Type),
        prop_oneof![
            Just(FileStructure::File),
            Just(FileStructure::Record),
            Just(FileStructure::Page)
        ]
        .prop_map(C::Stru),
        prop_oneof![
            Just(TransferMode::Stream),
            Just(TransferMode::Block),
            Just(TransferMode::Compressed),
            Just(TransferMode::Deflate)
        ]
        .prop_map(C::Mode),
        arb_path().prop_map(C::Retr),
        arb_path().prop_map(C::Stor),
        prop::option::of(arb_path()).prop_map(C::Stou),
        arb_path().prop_map(C::Appe),
        (any::<u64>(), prop::option::of(any::<u64>()))
            .prop_map(|(size, record_size)| C::Allo { size, record_size }),
        any::<u64>().prop_map(C::Rest),
        arb_path().prop_map(C::Rnfr),
        arb_path().prop_map(C::Rnto),
        Just(C::Abor),
        arb_path().prop_map(C::Dele),
        arb_path().prop_map(C::Rmd),
        arb_path().prop_map(C::Mkd),
        Just(C::Pwd),
        arb_list_args().prop_map(C::List),
        arb_list_args().prop_map(C::Nlst),
        arb_path().prop_map(|p| C::Site(p.into_bytes())),
        Just(C::Syst),
        prop::option::of(
            arb_list_args().prop_filter("an argument", |l| l.options.is_some() || l.path.is_some())
        )
        .prop_map(C::Stat),
        prop::option::of(arb_text()).prop_map(C::Help),
        Just(C::Noop),
        Just(C::Feat),
        (
            arb_token(),
            prop::option::of(
                arb_text().prop_filter("trimmed", |v| v.as_bytes().trim_ascii() == v.as_bytes())
            )
        )
            .prop_map(|(name, value)| C::Opts { name, value }),
        prop_oneof![
            Just(AuthMechanism::Tls),
            Just(AuthMechanism::Ssl),
            arb_token()
                .prop_filter("not TLS/SSL", |t| t != "TLS" && t != "SSL")
                .prop_map(AuthMechanism::Other),
        ]
        .prop_map(C::Auth),
        "[A-Za-z0-9+/=]{1,40}".prop_map(|s| C::Adat(Secret::new(s))),
        any::<u32>().prop_map(C::Pbsz),
        prop_oneof![
            Just(ProtectionLevel::Clear),
            Just(ProtectionLevel::Safe),
            Just(ProtectionLevel::Confidential),
            Just(ProtectionLevel::Private)
        ]
        .prop_map(C::Prot),
        Just(C::Ccc),
        "[A-Za-z0-9+/=]{1,40}".prop_map(|s| C::Mic(Secret::new(s))),
        "[A-Za-z0-9+/=]{1,40}".prop_map(|s| C::Conf(Secret::new(s))),
        "[A-Za-z0-9+/=]{1,40}".prop_map(|s| C::Enc(Secret::new(s))),
        arb_path().prop_map(C::Size),
        (prop::option::of(arb_timestamp()), arb_path())
            .prop_filter("get form must not look like the set form", |(t, path)| {
                t.is_some() || !looks_like_set_form(path.as_bytes())
            })
            .prop_map(|(time, path)| C::Mdtm { time, path }),
        (arb_timestamp(), arb_path()).prop_map(|(time, path)| C::Mfmt { time, path }),
        prop::option::of(arb_path()).prop_map(C::Mlsd),
        prop::option::of(arb_path()).prop_map(C::Mlst),
        arb_text().prop_map(C::Host),
        prop::option::of(arb_text()).prop_map(C::Lang),
        arb_text().prop_map(C::Clnt),
        arb_path().prop_map(C::Hash),
        arb_checksum().prop_map(C::Xcrc),
        arb_checksum().prop_map(C::Xmd5),
        arb_checksum().prop_map(C::Xsha1),
        arb_checksum().prop_map(C::Xsha256),
        prop::option::of(arb_path()).prop_map(C::Avbl),
        Just(C::Xpwd),
        arb_path().prop_map(C::Xmkd),
        arb_path().prop_map(C::Xrmd),
        arb_path().prop_map(C::Xcwd),
        Just(C::Xcup),
        arb_other(),
    ]
}

fn looks_like_set_form(path: &[u8]) -> bool {
    match path.iter().position(|&b| b == b' ') {
        Some(sp) => {
            Timestamp::parse(&path[..sp]).is_ok()
                && !path[sp + 1..].iter().all(|&b| b == b' ' || b == b'\t')
        }
        None => false,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn every_valid_command_encodes_and_parses_back(cmd in arb_command()) {
        let wire = cmd.to_bytes();
        prop_assert!(wire.is_ok(), "{:?} refused: {:?}", cmd, wire);
        let wire = wire.unwrap();
        prop_assert!(wire.ends_with(b"\r\n"));
        prop_assert_eq!(decode_wire(&wire), cmd);
    }

    #[test]
    fn any_bytes_give_a_command_or_a_typed_error(line in prop::collection::vec(any::<u8>(), 0..200)) {
        match Command::parse(&line) {
            Ok(cmd) => {
                // Whatever parsed re-encodes to the same command, or is refused with a reason.
                if let Ok(wire) = cmd.to_bytes() {
                    prop_assert_eq!(decode_wire(&wire), cmd);
                }
            }
            Err(e) => prop_assert!(matches!(e.reply_code().get(), 500 | 501 | 502 | 504 | 522)),
        }
    }

    #[test]
    fn verb_like_lines_give_a_command_or_a_typed_error(
        verb in prop::sample::select(Verb::ALL.to_vec()),
        arg in "[ -~\t]{0,60}",
    ) {
        let line = format!("{} {}", verb.as_str(), arg);
        match Command::parse(line.as_bytes()) {
            Ok(cmd) => {
                prop_assert_eq!(cmd.verb(), Some(verb));
                if let Ok(wire) = cmd.to_bytes() {
                    prop_assert_eq!(decode_wire(&wire), cmd);
                }
            }
            Err(e) => {
                prop_assert_eq!(e.verb(), Some(verb));
                prop_assert!(matches!(e.reply_code().get(), 501 | 504 | 522));
            }
        }
    }
}

mod codecs;

/// What the core makes of `data`: framed lines, each parsed (an overlong line is its own item).
fn core_commands(data: &[u8]) -> Vec<Result<Command, LineError>> {
    LineFramer::new()
        .frames(data)
        .map(|frame| match frame {
            Frame::Line(line) => Command::parse(&line).map_err(LineError::from),
            Frame::Overlong { limit } => Err(LineError::Overlong { limit }),
            _ => unreachable!("no other frames"),
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// The codecs (runtime-neutral, tokio-util, futures-io) decode every valid command the way
    /// the core does, however the bytes are split; the tokio encoder writes the core's bytes.
    #[test]
    fn every_valid_command_round_trips_through_the_codecs(
        cmds in prop::collection::vec(arb_command(), 1..4),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut wire = Vec::new();
        let mut encoded = BytesMut::new();
        for cmd in &cmds {
            wire.extend(cmd.to_bytes().unwrap());
            ClientCodec::new().encode(cmd, &mut encoded).unwrap();
        }
        prop_assert_eq!(&encoded[..], &wire[..]);
        let (a, b) = wire.split_at(cut.index(wire.len() + 1));
        let want: Vec<_> = cmds.into_iter().map(Ok).collect();
        for got in codecs::commands(&[a, b]) {
            prop_assert_eq!(&got, &want);
        }
    }

    /// Whatever the bytes, every codec yields exactly what the core's framer and parser yield.
    #[test]
    fn any_bytes_decode_alike_in_every_codec(
        data in prop::collection::vec(any::<u8>(), 0..600),
        long in 0usize..6000,
        cut in any::<prop::sample::Index>(),
    ) {
        let mut data = data;
        data.extend(std::iter::repeat_n(b'A', long));
        data.extend_from_slice(b"\r\nNOOP\r\n");
        let want = core_commands(&data);
        let (a, b) = data.split_at(cut.index(data.len() + 1));
        for got in codecs::commands(&[a, b]) {
            prop_assert_eq!(&got, &want);
        }
    }
}
