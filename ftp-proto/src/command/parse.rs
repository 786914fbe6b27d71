//! Parsing one framed control line into a [`Command`].
//!
//! The grammar follows RFC 959 section 5.3 and the extension RFCs. Parsers are named after the
//! productions they implement, with the ABNF in their doc comment. Everything is total: any byte
//! string gives a `Command` or a [`ParseError`] carrying the reply it deserves.

use nom::bytes::complete::take_while1;
use nom::character::complete::digit1;
use nom::combinator::{all_consuming, opt};
use nom::sequence::preceded;
use nom::{IResult, Parser};

use super::{
    AuthMechanism, ByteRange, ChecksumArgs, Command, EpsvMode, FileStructure, FormatControl,
    ListArgs, MAX_VERB_LEN, NOT_IMPLEMENTED_VERBS, ProtectionLevel, TransferMode, TransferType,
    Verb,
};
use crate::addr::{parse_eprt, parse_host_port};
use crate::error::{ArgError, ParseError};
use crate::path::FtpPath;
use crate::secret::Secret;
use crate::timestamp::Timestamp;

/// True for an argument that is absent in substance: only spaces and tabs. One rule for the
/// parser and for path resolution.
pub(crate) fn is_blank(bytes: &[u8]) -> bool {
    bytes.iter().all(|&b| b == b' ' || b == b'\t')
}

/// `verb = ALPHA *(ALPHA / DIGIT)`, at most [`MAX_VERB_LEN`] characters.
fn verb_token(i: &[u8]) -> IResult<&[u8], &[u8]> {
    take_while1(|b: u8| b.is_ascii_alphanumeric()).parse(i)
}

/// An `Other` verb must look like a verb: a letter first, then letters and digits.
pub(super) fn is_verb_like(token: &[u8]) -> bool {
    token.len() <= MAX_VERB_LEN
        && token.first().is_some_and(u8::is_ascii_alphabetic)
        && token.iter().all(u8::is_ascii_alphanumeric)
}

/// `decimal = 1*DIGIT`, parsed into a `u64` with typed errors for sign, overflow and junk.
///
/// Surrounding spaces are tolerated.
pub(super) fn decimal_u64(text: &[u8]) -> Result<u64, ArgError> {
    let text = text.trim_ascii();
    if text.is_empty() {
        return Err(ArgError::Missing);
    }
    let digits = match text.split_first() {
        Some((b'-', rest)) if !rest.is_empty() && rest.iter().all(u8::is_ascii_digit) => {
            return Err(ArgError::Negative);
        }
        _ => all_consuming(digit1)
            .parse(text)
            .map(|(_, d): (&[u8], &[u8])| d)
            .map_err(|_: nom::Err<nom::error::Error<&[u8]>>| ArgError::NotANumber)?,
    };
    digits.iter().try_fold(0u64, |acc, d| {
        acc.checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(d - b'0')))
            .ok_or(ArgError::Overflow)
    })
}

/// Splits a line into its verb token and the argument after exactly one space.
///
/// `command-line = verb [SP argument]`. Leading spaces before the verb are tolerated.
fn command_line(line: &[u8]) -> Result<(&[u8], Option<&[u8]>), ParseError> {
    let line = line.trim_ascii_start();
    if line.is_empty() {
        return Err(ParseError::Empty);
    }
    let (rest, verb) = verb_token(line).map_err(|_| ParseError::Unrecognized)?;
    if verb.len() > MAX_VERB_LEN {
        return Err(ParseError::Unrecognized);
    }
    match rest.split_first() {
        None => Ok((verb, None)),
        Some((b' ', arg)) => Ok((verb, Some(arg))),
        Some(_) => Err(ParseError::Unrecognized),
    }
}

/// Context for argument parsers: which verb, so errors can say so.
struct Args<'a> {
    verb: Verb,
    raw: Option<&'a [u8]>,
}

impl<'a> Args<'a> {
    fn bad(&self, reason: ArgError) -> ParseError {
        ParseError::BadArgument {
            verb: self.verb,
            reason,
        }
    }

    fn unsupported(&self) -> ParseError {
        ParseError::UnsupportedParameter { verb: self.verb }
    }

    /// The argument if present and not blank.
    fn optional(&self) -> Option<&'a [u8]> {
        self.raw.filter(|a| !is_blank(a))
    }

    fn required(&self) -> Result<&'a [u8], ParseError> {
        self.optional().ok_or_else(|| self.bad(ArgError::Missing))
    }

    fn none(&self) -> Result<(), ParseError> {
        match self.optional() {
            None => Ok(()),
            Some(_) => Err(self.bad(ArgError::Unexpected)),
        }
    }

    fn path(&self) -> Result<FtpPath, ParseError> {
        self.required().map(FtpPath::from)
    }

    fn optional_path(&self) -> Option<FtpPath> {
        self.optional().map(FtpPath::from)
    }

    fn text(&self) -> Result<String, ParseError> {
        self.utf8(self.required()?)
    }

    fn optional_text(&self) -> Result<Option<String>, ParseError> {
        self.optional().map(|a| self.utf8(a)).transpose()
    }

    fn utf8(&self, bytes: &[u8]) -> Result<String, ParseError> {
        String::from_utf8(bytes.to_vec()).map_err(|_| self.bad(ArgError::Utf8))
    }

    fn number(&self) -> Result<u64, ParseError> {
        decimal_u64(self.required()?).map_err(|e| self.bad(e))
    }

    /// A single-letter parameter (TYPE, STRU, MODE, PROT), upper-cased; 501 if it is not one letter.
    fn letter(&self) -> Result<u8, ParseError> {
        match self.required()?.trim_ascii() {
            [c] if c.is_ascii_alphabetic() => Ok(c.to_ascii_uppercase()),
            _ => Err(self.bad(ArgError::Syntax)),
        }
    }
}

impl Command {
    /// Parses one control line (without its line end; see [`crate::LineFramer`]).
    ///
    /// ```
    /// use ftp_proto::{Command, ReplyCode, TransferType};
    /// assert_eq!(Command::parse(b"type i"), Ok(Command::Type(TransferType::Image)));
    /// assert_eq!(Command::parse(b"TYPE X").unwrap_err().reply_code(), ReplyCode::PARAMETER_NOT_IMPLEMENTED);
    /// assert_eq!(Command::parse(b"LPSV").unwrap_err().reply_code(), ReplyCode::COMMAND_NOT_IMPLEMENTED);
    /// assert!(matches!(Command::parse(b"FROB x"), Ok(Command::Other { .. })));
    /// ```
    pub fn parse(line: &[u8]) -> Result<Command, ParseError> {
        let (token, raw) = command_line(line)?;
        let Some(verb) = Verb::from_token(token) else {
            return other(token, raw);
        };
        let a = Args { verb, raw };
        Ok(match verb {
            Verb::User => Command::User(a.text()?),
            Verb::Pass => Command::Pass(Secret::new(a.raw.unwrap_or_default().to_vec())),
            Verb::Acct => Command::Acct(Secret::new(a.required()?.to_vec())),
            Verb::Cwd => Command::Cwd(a.path()?),
            Verb::Cdup => a.none().map(|()| Command::Cdup)?,
            Verb::Smnt => Command::Smnt(a.path()?),
            // RFC 959's QUIT takes no argument, but one ("QUIT bye") must not keep a session
            // open that the client means to end: it is ignored, as vsftpd and proftpd do.
            Verb::Quit => Command::Quit,
            Verb::Rein => a.none().map(|()| Command::Rein)?,
            Verb::Port => {
                Command::Port(parse_host_port(a.required()?).map_err(|e| a.bad(e.into()))?)
            }
            Verb::Pasv => a.none().map(|()| Command::Pasv)?,
            Verb::Eprt => Command::Eprt(parse_eprt(a.required()?).map_err(|e| a.bad(e.into()))?),
            Verb::Epsv => Command::Epsv(epsv_arg(&a)?),
            Verb::Type => Command::Type(type_code(&a)?),
            Verb::Stru => Command::Stru(match a.letter()? {
                b'F' => FileStructure::File,
                b'R' => FileStructure::Record,
                b'P' => FileStructure::Page,
                _ => return Err(a.unsupported()),
            }),
            Verb::Mode => Command::Mode(match a.letter()? {
                b'S' => TransferMode::Stream,
                b'B' => TransferMode::Block,
                b'C' => TransferMode::Compressed,
                b'Z' => TransferMode::Deflate,
                _ => return Err(a.unsupported()),
            }),
            Verb::Retr => Command::Retr(a.path()?),
            Verb::Stor => Command::Stor(a.path()?),
            Verb::Stou => Command::Stou(a.optional_path()),
            Verb::Appe => Command::Appe(a.path()?),
            Verb::Allo => allo(&a)?,
            Verb::Rest => Command::Rest(a.number()?),
            Verb::Rnfr => Command::Rnfr(a.path()?),
            Verb::Rnto => Command::Rnto(a.path()?),
            Verb::Abor => a.none().map(|()| Command::Abor)?,
            Verb::Dele => Command::Dele(a.path()?),
            Verb::Rmd => Command::Rmd(a.path()?),
            Verb::Mkd => Command::Mkd(a.path()?),
            Verb::Pwd => a.none().map(|()| Command::Pwd)?,
            Verb::List => Command::List(list_args(a.optional())),
            Verb::Nlst => Command::Nlst(list_args(a.optional())),
            Verb::Site => Command::Site(a.required()?.to_vec()),
            Verb::Syst => a.none().map(|()| Command::Syst)?,
            Verb::Stat => Command::Stat(a.optional().map(|arg| list_args(Some(arg)))),
            Verb::Help => Command::Help(a.optional_text()?),
            Verb::Noop => a.none().map(|()| Command::Noop)?,
            Verb::Feat => a.none().map(|()| Command::Feat)?,
            Verb::Opts => opts(&a)?,
            Verb::Auth => Command::Auth(auth_mechanism(&a)?),
            Verb::Adat => Command::Adat(Secret::new(a.text()?)),
            Verb::Pbsz => {
                let n = a.number()?;
                Command::Pbsz(u32::try_from(n).map_err(|_| a.bad(ArgError::Overflow))?)
            }
            Verb::Prot => Command::Prot(match a.letter()? {
                b'C' => ProtectionLevel::Clear,
                b'S' => ProtectionLevel::Safe,
                b'E' => ProtectionLevel::Confidential,
                b'P' => ProtectionLevel::Private,
                _ => return Err(a.unsupported()),
            }),
            Verb::Ccc => a.none().map(|()| Command::Ccc)?,
            Verb::Mic => Command::Mic(Secret::new(a.text()?)),
            Verb::Conf => Command::Conf(Secret::new(a.text()?)),
            Verb::Enc => Command::Enc(Secret::new(a.text()?)),
            Verb::Size => Command::Size(a.path()?),
            Verb::Mdtm => mdtm(&a)?,
            Verb::Mfmt => mfmt(&a)?,
            Verb::Mlsd => Command::Mlsd(a.optional_path()),
            Verb::Mlst => Command::Mlst(a.optional_path()),
            Verb::Host => Command::Host(a.text()?),
            Verb::Lang => Command::Lang(a.optional_text()?),
            Verb::Clnt => Command::Clnt(a.text()?),
            Verb::Hash => Command::Hash(a.path()?),
            Verb::Xcrc => Command::Xcrc(checksum_args(&a)?),
            Verb::Xmd5 => Command::Xmd5(checksum_args(&a)?),
            Verb::Xsha1 => Command::Xsha1(checksum_args(&a)?),
            Verb::Xsha256 => Command::Xsha256(checksum_args(&a)?),
            Verb::Avbl => Command::Avbl(a.optional_path()),
            Verb::Xpwd => a.none().map(|()| Command::Xpwd)?,
            Verb::Xmkd => Command::Xmkd(a.path()?),
            Verb::Xrmd => Command::Xrmd(a.path()?),
            Verb::Xcwd => Command::Xcwd(a.path()?),
            Verb::Xcup => a.none().map(|()| Command::Xcup)?,
        })
    }
}

/// A verb we do not have a variant for: 502 if an RFC defines it and we refuse it on purpose,
/// otherwise kept as `Other`.
fn other(token: &[u8], raw: Option<&[u8]>) -> Result<Command, ParseError> {
    if !is_verb_like(token) {
        return Err(ParseError::Unrecognized);
    }
    let verb = token.to_ascii_uppercase();
    if let Some(known) = NOT_IMPLEMENTED_VERBS.iter().find(|v| v.as_bytes() == verb) {
        return Err(ParseError::NotImplemented(known));
    }
    Ok(Command::Other {
        // `is_verb_like` checked for ASCII alphanumerics, so this is valid UTF-8.
        verb: String::from_utf8_lossy(&verb).into_owned(),
        args: raw.filter(|a| !is_blank(a)).map(<[u8]>::to_vec),
    })
}

/// `EPSV [SP (net-prt / "ALL")]` (RFC 2428 section 3). Unknown protocol numbers get 522.
fn epsv_arg(a: &Args<'_>) -> Result<EpsvMode, ParseError> {
    let Some(arg) = a.optional() else {
        return Ok(EpsvMode::Any);
    };
    match arg.trim_ascii() {
        b"1" => Ok(EpsvMode::Ipv4),
        b"2" => Ok(EpsvMode::Ipv6),
        t if t.eq_ignore_ascii_case(b"ALL") => Ok(EpsvMode::All),
        t if t.iter().all(u8::is_ascii_digit) => {
            Err(a.bad(crate::AddrError::UnsupportedProtocol.into()))
        }
        _ => Err(a.bad(ArgError::Syntax)),
    }
}

/// `type-code = "A" [SP form-code] / "E" [SP form-code] / "I" / "L" SP byte-size`
/// (RFC 959 section 5.3.2), plus `L` directly followed by the byte size.
fn type_code(a: &Args<'_>) -> Result<TransferType, ParseError> {
    let mut words = a
        .required()?
        .split(|&b| b == b' ')
        .filter(|w| !w.is_empty());
    let first = words.next().unwrap_or_default();
    let second = words.next();
    if words.next().is_some() {
        return Err(a.bad(ArgError::Unexpected));
    }
    let form = |w: Option<&[u8]>| -> Result<FormatControl, ParseError> {
        match w.map(<[u8]>::to_ascii_uppercase).as_deref() {
            None | Some(b"N") => Ok(FormatControl::NonPrint),
            Some(b"T") => Ok(FormatControl::Telnet),
            Some(b"C") => Ok(FormatControl::Asa),
            Some([c]) if c.is_ascii_alphabetic() => Err(a.unsupported()),
            Some(_) => Err(a.bad(ArgError::Syntax)),
        }
    };
    let local = |size: &[u8]| -> Result<TransferType, ParseError> {
        match decimal_u64(size).map_err(|e| a.bad(e))? {
            // A well-formed byte size we cannot represent is an unsupported parameter.
            0 | 256.. => Err(a.unsupported()),
            n => Ok(TransferType::Local(
                u8::try_from(n).map_err(|_| a.unsupported())?,
            )),
        }
    };
    match first.to_ascii_uppercase().as_slice() {
        b"A" => Ok(TransferType::Ascii(form(second)?)),
        b"E" => Ok(TransferType::Ebcdic(form(second)?)),
        b"I" if second.is_none() => Ok(TransferType::Image),
        b"I" => Err(a.bad(ArgError::Unexpected)),
        b"L" => local(second.unwrap_or_default()),
        // `TYPE L8`, as vsftpd accepts and some clients send.
        [b'L', size @ ..] if second.is_none() && size.iter().all(u8::is_ascii_digit) => local(size),
        [c] if c.is_ascii_alphabetic() => Err(a.unsupported()),
        _ => Err(a.bad(ArgError::Syntax)),
    }
}

/// `ALLO SP decimal [SP "R" SP decimal]` (RFC 959 section 5.3.1).
fn allo(a: &Args<'_>) -> Result<Command, ParseError> {
    let mut words = a
        .required()?
        .split(|&b| b == b' ')
        .filter(|w| !w.is_empty());
    let size = decimal_u64(words.next().unwrap_or_default()).map_err(|e| a.bad(e))?;
    let record_size = match words.next() {
        None => None,
        Some(r) if r.eq_ignore_ascii_case(b"R") => {
            Some(decimal_u64(words.next().unwrap_or_default()).map_err(|e| a.bad(e))?)
        }
        Some(_) => return Err(a.bad(ArgError::Syntax)),
    };
    if words.next().is_some() {
        return Err(a.bad(ArgError::Unexpected));
    }
    Ok(Command::Allo { size, record_size })
}

/// `option = "-" 1*(ALPHA / DIGIT / "-")`, an `ls` option word.
fn option_word(i: &[u8]) -> IResult<&[u8], &[u8]> {
    let (rest, word) = nom::combinator::recognize((
        nom::bytes::complete::tag(&b"-"[..]),
        take_while1(|b: u8| b.is_ascii_alphanumeric() || b == b'-'),
    ))
    .parse(i)?;
    // The word must end at a space or the end of the argument.
    match rest.first() {
        None | Some(b' ') => Ok((rest, word)),
        Some(_) => Err(nom::Err::Error(nom::error::Error::new(
            i,
            nom::error::ErrorKind::Verify,
        ))),
    }
}

/// `list-args = [option *(SP option)] [SP pathname]`: leading `-x` words are options.
pub(super) fn list_args(arg: Option<&[u8]>) -> ListArgs {
    let Some(arg) = arg else {
        return ListArgs::default();
    };
    let mut rest = arg;
    let mut options_end = 0;
    while let Ok((after, _)) = option_word(rest) {
        options_end = arg.len() - after.len();
        match after.split_first() {
            Some((b' ', next)) => rest = next,
            _ => break,
        }
    }
    let options = (options_end > 0)
        .then(|| String::from_utf8_lossy(arg.get(..options_end).unwrap_or_default()).into_owned());
    let path_part = if options_end > 0 {
        arg.get(options_end..).and_then(|r| r.strip_prefix(b" "))
    } else {
        Some(arg)
    };
    ListArgs {
        options,
        path: path_part.filter(|p| !is_blank(p)).map(FtpPath::from),
    }
}

/// `OPTS SP command-name [SP command-options]` (RFC 2389 section 4).
fn opts(a: &Args<'_>) -> Result<Command, ParseError> {
    let arg = a.required()?.trim_ascii_start();
    let (name, value) = match arg.iter().position(|&b| b == b' ') {
        Some(sp) => (arg.get(..sp).unwrap_or_default(), arg.get(sp + 1..)),
        None => (arg, None),
    };
    if name.is_empty() || !name.iter().all(|b| b.is_ascii_graphic()) {
        return Err(a.bad(ArgError::Syntax));
    }
    Ok(Command::Opts {
        name: a.utf8(&name.to_ascii_uppercase())?,
        // `OPTS UTF8 ON ` means ON: the value's surrounding blanks carry no meaning.
        value: value
            .map(<[u8]>::trim_ascii)
            .filter(|v| !v.is_empty())
            .map(|v| a.utf8(v))
            .transpose()?,
    })
}

/// `AUTH SP mechanism-name` (RFC 2228 section 3), case-insensitive.
fn auth_mechanism(a: &Args<'_>) -> Result<AuthMechanism, ParseError> {
    let name = a.required()?.trim_ascii();
    if name.is_empty() || !name.iter().all(|b| b.is_ascii_graphic()) {
        return Err(a.bad(ArgError::Syntax));
    }
    let upper = name.to_ascii_uppercase();
    Ok(match upper.as_slice() {
        b"TLS" => AuthMechanism::Tls,
        b"SSL" => AuthMechanism::Ssl,
        _ => AuthMechanism::Other(a.utf8(&upper)?),
    })
}

/// `time-val SP` at the start of an argument, if the argument starts with a valid time.
fn leading_timestamp(arg: &[u8]) -> Option<(Timestamp, &[u8])> {
    let sp = arg.iter().position(|&b| b == b' ')?;
    let (word, rest) = arg.split_at(sp);
    let time = Timestamp::parse(word).ok()?;
    Some((time, rest.get(1..).unwrap_or_default()))
}

/// `MDTM SP pathname` (RFC 3659 section 3), or the set form `MDTM SP time-val SP pathname`.
///
/// The set form is recognised only when the first word is a valid time and a path follows.
fn mdtm(a: &Args<'_>) -> Result<Command, ParseError> {
    let arg = a.required()?;
    if let Some((time, path)) = leading_timestamp(arg).filter(|(_, p)| !is_blank(p)) {
        return Ok(Command::Mdtm {
            time: Some(time),
            path: FtpPath::from(path),
        });
    }
    if has_zoned_timestamp(arg) {
        // `MDTM 20020717210715-240 file`: a set form with a time zone offset, which RFC 3659
        // times (always UTC) do not have. Refuse it rather than look up a strange file name.
        return Err(a.bad(ArgError::Timestamp));
    }
    Ok(Command::Mdtm {
        time: None,
        path: FtpPath::from(arg),
    })
}

/// `14DIGIT ("+" / "-") 1*DIGIT SP`: a time with a zone offset at the start of an argument.
fn has_zoned_timestamp(arg: &[u8]) -> bool {
    let Some((digits, rest)) = arg.split_at_checked(14) else {
        return false;
    };
    let Some((&sign, rest)) = rest.split_first() else {
        return false;
    };
    let zone_len = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    digits.iter().all(u8::is_ascii_digit)
        && matches!(sign, b'+' | b'-')
        && zone_len > 0
        && rest.get(zone_len) == Some(&b' ')
}

/// `MFMT SP time-val SP pathname` (draft-somers-ftp-mfxx section 3).
fn mfmt(a: &Args<'_>) -> Result<Command, ParseError> {
    let arg = a.required()?;
    let sp = arg
        .iter()
        .position(|&b| b == b' ')
        .ok_or_else(|| a.bad(ArgError::Missing))?;
    let (word, rest) = arg.split_at(sp);
    let time = Timestamp::parse(word).map_err(|e| a.bad(e.into()))?;
    let path = rest.get(1..).unwrap_or_default();
    if is_blank(path) {
        return Err(a.bad(ArgError::Missing));
    }
    Ok(Command::Mfmt {
        time,
        path: FtpPath::from(path),
    })
}

/// `quoted-path = DQUOTE *(%x01-21 / %x23-FF / DQUOTE DQUOTE) DQUOTE`
fn quoted_path(i: &[u8]) -> Option<(Vec<u8>, &[u8])> {
    let mut rest = i.strip_prefix(b"\"")?;
    let mut path = Vec::new();
    loop {
        let quote = rest.iter().position(|&b| b == b'"')?;
        let (chunk, after) = rest.split_at(quote);
        path.extend_from_slice(chunk);
        match after.strip_prefix(b"\"\"") {
            Some(more) => {
                path.push(b'"');
                rest = more;
            }
            None => return Some((path, after.get(1..)?)),
        }
    }
}

/// `checksum-args = pathname / quoted-path [SP [start-point SP] end-point]`
fn checksum_args(a: &Args<'_>) -> Result<ChecksumArgs, ParseError> {
    let arg = a.required()?;
    if !arg.starts_with(b"\"") {
        return Ok(ChecksumArgs {
            path: FtpPath::from(arg),
            range: None,
        });
    }
    let (path, rest) = quoted_path(arg).ok_or_else(|| a.bad(ArgError::Syntax))?;
    if path.is_empty() {
        return Err(a.bad(ArgError::Missing));
    }
    let range = if is_blank(rest) {
        None
    } else {
        let number =
            |i| -> IResult<&[u8], &[u8]> { preceded(take_while1(|b| b == b' '), digit1).parse(i) };
        let (tail, (first, second)) = (number, opt(number))
            .parse(rest)
            .map_err(|_| a.bad(ArgError::Syntax))?;
        if !is_blank(tail) {
            return Err(a.bad(ArgError::Unexpected));
        }
        let first = decimal_u64(first).map_err(|e| a.bad(e))?;
        // One number is the ending point; two are starting and ending points.
        let (start, end) = match second {
            None => (0, first),
            Some(second) => (first, decimal_u64(second).map_err(|e| a.bad(e))?),
        };
        if start > end {
            return Err(a.bad(ArgError::Syntax));
        }
        Some(ByteRange { start, end })
    };
    Ok(ChecksumArgs {
        path: FtpPath::from(path),
        range,
    })
}
