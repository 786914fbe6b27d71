//! Encoding a [`Command`] into its canonical wire form.
//!
//! The encoder writes upper-case verbs, single spaces and CRLF, doubles 0xFF bytes (Telnet IAC),
//! and refuses any value the peer would read back differently: an argument with CR, LF or NUL
//! (command injection), a missing required argument, an ambiguous argument. It checks the last
//! property directly by parsing what it wrote, so `Command::parse` of an encoded command always
//! gives the same command back.

use super::parse::is_verb_like;
use super::{
    AuthMechanism, ChecksumArgs, Command, EpsvMode, FileStructure, FormatControl,
    NOT_IMPLEMENTED_VERBS, ProtectionLevel, TransferMode, TransferType, Verb,
};
use crate::addr::{format_eprt, format_host_port};
use crate::error::{ArgError, EncodeError, ParseError};
use crate::framing::write_telnet_escaped;

fn arg(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b' ');
    out.extend_from_slice(bytes);
}

fn form_letter(form: FormatControl) -> &'static str {
    match form {
        FormatControl::NonPrint => "",
        FormatControl::Telnet => " T",
        FormatControl::Asa => " C",
    }
}

fn checksum(out: &mut Vec<u8>, c: &ChecksumArgs) {
    let path = c.path.as_bytes();
    if c.range.is_none() && !path.starts_with(b"\"") {
        arg(out, path);
        return;
    }
    out.extend_from_slice(b" \"");
    for &b in path {
        out.push(b);
        if b == b'"' {
            out.push(b'"');
        }
    }
    out.push(b'"');
    if let Some(range) = c.range {
        out.extend_from_slice(format!(" {} {}", range.start, range.end).as_bytes());
    }
}

impl Command {
    /// Appends the wire form (`VERB args CRLF`, IAC doubled) to `out`.
    ///
    /// On error nothing is written.
    ///
    /// ```
    /// use ftp_proto::{Command, EncodeError, ListArgs};
    /// let mut out = Vec::new();
    /// Command::List(ListArgs { options: Some("-la".into()), path: Some("pub".into()) }).encode(&mut out)?;
    /// assert_eq!(out, b"LIST -la pub\r\n");
    /// assert_eq!(Command::Retr("".into()).encode(&mut out), Err(EncodeError::EmptyArgument));
    /// # Ok::<(), EncodeError>(())
    /// ```
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        if let Self::Other { verb, .. } = self {
            let known = Verb::from_token(verb.as_bytes()).is_some()
                || NOT_IMPLEMENTED_VERBS.contains(&verb.as_str());
            if known
                || !is_verb_like(verb.as_bytes())
                || verb.bytes().any(|b| b.is_ascii_lowercase())
            {
                return Err(EncodeError::InvalidVerb);
            }
        }
        if let Self::Type(TransferType::Local(0)) = self {
            return Err(EncodeError::OutOfRange);
        }
        let mut line = Vec::with_capacity(64);
        self.write_unchecked(&mut line);
        if line.iter().any(|&b| matches!(b, b'\r' | b'\n' | 0)) {
            return Err(EncodeError::ForbiddenByte);
        }
        match Command::parse(&line) {
            Ok(ref back) if back == self => {}
            Err(ParseError::BadArgument {
                reason: ArgError::Missing,
                ..
            }) => return Err(EncodeError::EmptyArgument),
            Ok(Command::Other { .. }) | Err(ParseError::NotImplemented(_)) => {
                return Err(EncodeError::InvalidVerb);
            }
            _ => return Err(EncodeError::Ambiguous),
        }
        write_telnet_escaped(out, &line);
        out.extend_from_slice(b"\r\n");
        Ok(())
    }

    /// The wire form as a new buffer.
    pub fn to_bytes(&self) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::new();
        self.encode(&mut out)?;
        Ok(out)
    }

    /// Writes `VERB [SP args]` without checks, Telnet escaping or line end.
    pub(super) fn write_unchecked(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.verb_str().as_bytes());
        match self {
            Self::User(s) | Self::Host(s) | Self::Clnt(s) => arg(out, s.as_bytes()),
            Self::Mic(secret) | Self::Conf(secret) | Self::Enc(secret) => {
                arg(out, secret.expose_secret().as_bytes());
            }
            Self::Pass(secret) => {
                if !secret.expose_secret().is_empty() {
                    arg(out, secret.expose_secret());
                }
            }
            Self::Acct(secret) => arg(out, secret.expose_secret()),
            Self::Adat(secret) => arg(out, secret.expose_secret().as_bytes()),
            Self::Cwd(p)
            | Self::Smnt(p)
            | Self::Retr(p)
            | Self::Stor(p)
            | Self::Appe(p)
            | Self::Rnfr(p)
            | Self::Rnto(p)
            | Self::Dele(p)
            | Self::Rmd(p)
            | Self::Mkd(p)
            | Self::Size(p)
            | Self::Xmkd(p)
            | Self::Xrmd(p)
            | Self::Xcwd(p)
            | Self::Hash(p) => arg(out, p.as_bytes()),
            Self::Stou(p) | Self::Mlsd(p) | Self::Mlst(p) | Self::Avbl(p) => {
                if let Some(p) = p {
                    arg(out, p.as_bytes());
                }
            }
            Self::Cdup
            | Self::Quit
            | Self::Rein
            | Self::Pasv
            | Self::Abor
            | Self::Pwd
            | Self::Syst
            | Self::Noop
            | Self::Feat
            | Self::Ccc
            | Self::Xpwd
            | Self::Xcup
            | Self::Stat(None) => {}
            Self::Port(a) => arg(out, format_host_port(*a).as_bytes()),
            Self::Eprt(a) => arg(out, format_eprt(*a).as_bytes()),
            Self::Epsv(mode) => match mode {
                EpsvMode::Any => {}
                EpsvMode::All => arg(out, b"ALL"),
                EpsvMode::Ipv4 => arg(out, b"1"),
                EpsvMode::Ipv6 => arg(out, b"2"),
            },
            Self::Type(t) => {
                let text = match t {
                    TransferType::Ascii(f) => format!("A{}", form_letter(*f)),
                    TransferType::Ebcdic(f) => format!("E{}", form_letter(*f)),
                    TransferType::Image => "I".to_owned(),
                    TransferType::Local(n) => format!("L {n}"),
                };
                arg(out, text.as_bytes());
            }
            Self::Stru(s) => arg(
                out,
                match s {
                    FileStructure::File => b"F",
                    FileStructure::Record => b"R",
                    FileStructure::Page => b"P",
                },
            ),
            Self::Mode(m) => arg(
                out,
                match m {
                    TransferMode::Stream => b"S",
                    TransferMode::Block => b"B",
                    TransferMode::Compressed => b"C",
                    TransferMode::Deflate => b"Z",
                },
            ),
            Self::Prot(p) => arg(
                out,
                match p {
                    ProtectionLevel::Clear => b"C",
                    ProtectionLevel::Safe => b"S",
                    ProtectionLevel::Confidential => b"E",
                    ProtectionLevel::Private => b"P",
                },
            ),
            Self::Allo { size, record_size } => {
                let text = match record_size {
                    Some(r) => format!("{size} R {r}"),
                    None => size.to_string(),
                };
                arg(out, text.as_bytes());
            }
            Self::Rest(n) => arg(out, n.to_string().as_bytes()),
            Self::Pbsz(n) => arg(out, n.to_string().as_bytes()),
            Self::List(l) | Self::Nlst(l) | Self::Stat(Some(l)) => {
                if let Some(o) = &l.options {
                    arg(out, o.as_bytes());
                }
                if let Some(p) = &l.path {
                    arg(out, p.as_bytes());
                }
            }
            Self::Site(raw) => arg(out, raw),
            Self::Help(t) | Self::Lang(t) => {
                if let Some(t) = t {
                    arg(out, t.as_bytes());
                }
            }
            Self::Opts { name, value } => {
                arg(out, name.as_bytes());
                if let Some(v) = value {
                    arg(out, v.as_bytes());
                }
            }
            Self::Auth(m) => arg(
                out,
                match m {
                    AuthMechanism::Tls => b"TLS",
                    AuthMechanism::Ssl => b"SSL",
                    AuthMechanism::Other(name) => name.as_bytes(),
                },
            ),
            Self::Mdtm { time, path } => {
                if let Some(t) = time {
                    arg(out, t.to_string().as_bytes());
                }
                arg(out, path.as_bytes());
            }
            Self::Mfmt { time, path } => {
                arg(out, time.to_string().as_bytes());
                arg(out, path.as_bytes());
            }
            Self::Xcrc(c) | Self::Xmd5(c) | Self::Xsha1(c) | Self::Xsha256(c) => {
                checksum(out, c);
            }
            Self::Other { args, .. } => {
                if let Some(a) = args {
                    arg(out, a);
                }
            }
        }
    }
}
