//! Commands: the typed `Command` vocabulary shared by the server and client roles.
//!
//! Owns one variant per FTP verb of RFC 959, 2228, 2389, 2428, 2640, 3659, 4217, 7151 and the
//! common X-variants, the typed arguments, parsing one framed line into a `Command` (nom, in
//! `parse.rs`) and encoding a `Command` into its canonical wire form (`encode.rs`). It does not
//! decide whether a command is allowed now: that is the session's gating table.

mod encode;
mod parse;

pub(crate) use parse::is_blank;

use core::fmt;
use core::net::{SocketAddr, SocketAddrV4};

use crate::path::FtpPath;
use crate::secret::Secret;
use crate::timestamp::Timestamp;

macro_rules! verbs {
    ($($(#[$doc:meta])* $name:ident = $text:literal,)*) => {
        /// A command verb this crate knows. Verbs are case-insensitive on the wire and written
        /// in upper case.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum Verb {
            $($(#[$doc])* $name,)*
        }

        impl Verb {
            /// Every verb, in declaration order (for tables, dictionaries and tests).
            pub const ALL: &'static [Verb] = &[$(Verb::$name),*];

            /// The verb as written on the wire.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Verb::$name => $text,)*
                }
            }

            /// Looks a verb up by its upper-case spelling.
            fn from_upper(token: &[u8]) -> Option<Verb> {
                match token {
                    $(t if t == $text.as_bytes() => Some(Verb::$name),)*
                    _ => None,
                }
            }
        }
    };
}

verbs! {
    /// USER: user name (RFC 959).
    User = "USER",
    /// PASS: password (RFC 959).
    Pass = "PASS",
    /// ACCT: account (RFC 959).
    Acct = "ACCT",
    /// CWD: change working directory (RFC 959).
    Cwd = "CWD",
    /// CDUP: change to parent directory (RFC 959).
    Cdup = "CDUP",
    /// SMNT: structure mount (RFC 959).
    Smnt = "SMNT",
    /// QUIT: logout (RFC 959).
    Quit = "QUIT",
    /// REIN: reinitialize (RFC 959).
    Rein = "REIN",
    /// PORT: data port (RFC 959).
    Port = "PORT",
    /// PASV: passive (RFC 959).
    Pasv = "PASV",
    /// EPRT: extended port (RFC 2428).
    Eprt = "EPRT",
    /// EPSV: extended passive (RFC 2428).
    Epsv = "EPSV",
    /// TYPE: representation type (RFC 959).
    Type = "TYPE",
    /// STRU: file structure (RFC 959).
    Stru = "STRU",
    /// MODE: transfer mode (RFC 959).
    Mode = "MODE",
    /// RETR: retrieve (RFC 959).
    Retr = "RETR",
    /// STOR: store (RFC 959).
    Stor = "STOR",
    /// STOU: store unique (RFC 959).
    Stou = "STOU",
    /// APPE: append (RFC 959).
    Appe = "APPE",
    /// ALLO: allocate (RFC 959).
    Allo = "ALLO",
    /// REST: restart (RFC 959, RFC 3659).
    Rest = "REST",
    /// RNFR: rename from (RFC 959).
    Rnfr = "RNFR",
    /// RNTO: rename to (RFC 959).
    Rnto = "RNTO",
    /// ABOR: abort (RFC 959).
    Abor = "ABOR",
    /// DELE: delete (RFC 959).
    Dele = "DELE",
    /// RMD: remove directory (RFC 959).
    Rmd = "RMD",
    /// MKD: make directory (RFC 959).
    Mkd = "MKD",
    /// PWD: print working directory (RFC 959).
    Pwd = "PWD",
    /// LIST: list (RFC 959).
    List = "LIST",
    /// NLST: name list (RFC 959).
    Nlst = "NLST",
    /// SITE: site parameters (RFC 959).
    Site = "SITE",
    /// SYST: system (RFC 959).
    Syst = "SYST",
    /// STAT: status (RFC 959).
    Stat = "STAT",
    /// HELP: help (RFC 959).
    Help = "HELP",
    /// NOOP: no operation (RFC 959).
    Noop = "NOOP",
    /// FEAT: feature list (RFC 2389).
    Feat = "FEAT",
    /// OPTS: options (RFC 2389).
    Opts = "OPTS",
    /// AUTH: authentication/security mechanism (RFC 2228, RFC 4217).
    Auth = "AUTH",
    /// ADAT: authentication/security data (RFC 2228).
    Adat = "ADAT",
    /// PBSZ: protection buffer size (RFC 2228).
    Pbsz = "PBSZ",
    /// PROT: data channel protection level (RFC 2228).
    Prot = "PROT",
    /// CCC: clear command channel (RFC 2228).
    Ccc = "CCC",
    /// MIC: integrity protected command (RFC 2228).
    Mic = "MIC",
    /// CONF: confidentiality protected command (RFC 2228).
    Conf = "CONF",
    /// ENC: privacy protected command (RFC 2228).
    Enc = "ENC",
    /// SIZE: size of file (RFC 3659).
    Size = "SIZE",
    /// MDTM: modification time (RFC 3659; the two-argument set form is a common extension).
    Mdtm = "MDTM",
    /// MFMT: modify fact modification time (draft-somers-ftp-mfxx).
    Mfmt = "MFMT",
    /// MLSD: machine listing of a directory (RFC 3659).
    Mlsd = "MLSD",
    /// MLST: machine listing of one object (RFC 3659).
    Mlst = "MLST",
    /// HOST: virtual host (RFC 7151).
    Host = "HOST",
    /// LANG: language negotiation (RFC 2640).
    Lang = "LANG",
    /// CLNT: client name (common extension).
    Clnt = "CLNT",
    /// HASH: file hash (draft-bryan-ftpext-hash).
    Hash = "HASH",
    /// XCRC: CRC-32 of a file (common extension).
    Xcrc = "XCRC",
    /// XMD5: MD5 of a file (common extension).
    Xmd5 = "XMD5",
    /// XSHA1: SHA-1 of a file (common extension).
    Xsha1 = "XSHA1",
    /// XSHA256: SHA-256 of a file (common extension).
    Xsha256 = "XSHA256",
    /// AVBL: available space (draft-peterson-streamlined-ftp-command-extensions).
    Avbl = "AVBL",
    /// XPWD: PWD (RFC 775).
    Xpwd = "XPWD",
    /// XMKD: MKD (RFC 775).
    Xmkd = "XMKD",
    /// XRMD: RMD (RFC 775).
    Xrmd = "XRMD",
    /// XCWD: CWD (RFC 775).
    Xcwd = "XCWD",
    /// XCUP: CDUP (RFC 775).
    Xcup = "XCUP",
}

/// Verbs defined by RFCs that this crate knows and deliberately does not implement: parsing
/// them gives `502` ([`crate::ParseError::NotImplemented`]) rather than `500`.
pub const NOT_IMPLEMENTED_VERBS: &[&str] = &[
    "LPRT", "LPSV", "MAIL", "MLFL", "MSND", "MSOM", "MSAM", "MRSQ", "MRCP", "XRSQ", "XRCP", "XSEN",
    "XSEM",
];

/// Longest verb token accepted, for known and `Other` verbs alike.
pub const MAX_VERB_LEN: usize = 16;

impl Verb {
    /// Looks a verb up, ignoring case. `None` for verbs this crate does not know.
    ///
    /// ```
    /// use ftp_proto::Verb;
    /// assert_eq!(Verb::from_token(b"retr"), Some(Verb::Retr));
    /// assert_eq!(Verb::from_token(b"XSHA256"), Some(Verb::Xsha256));
    /// assert_eq!(Verb::from_token(b"FROB"), None);
    /// ```
    pub fn from_token(token: &[u8]) -> Option<Verb> {
        let mut upper = [0u8; MAX_VERB_LEN];
        let slot = upper.get_mut(..token.len())?;
        for (dst, src) in slot.iter_mut().zip(token) {
            *dst = src.to_ascii_uppercase();
        }
        Verb::from_upper(slot)
    }
}

impl fmt::Display for Verb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// EPSV's argument (RFC 2428 section 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum EpsvMode {
    /// `EPSV`: any protocol, the control connection's.
    Any,
    /// `EPSV ALL`: from now on only EPSV; PORT, PASV and EPRT are refused.
    All,
    /// `EPSV 1`.
    Ipv4,
    /// `EPSV 2`.
    Ipv6,
}

/// Format control of TYPE A and TYPE E (RFC 959 section 3.1.1.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum FormatControl {
    /// `N`: non-print (the default).
    #[default]
    NonPrint,
    /// `T`: Telnet format effectors.
    Telnet,
    /// `C`: ASA carriage control.
    Asa,
}

/// TYPE's argument (RFC 959 section 3.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum TransferType {
    /// `A [N|T|C]`: ASCII.
    Ascii(FormatControl),
    /// `E [N|T|C]`: EBCDIC.
    Ebcdic(FormatControl),
    /// `I`: image (binary).
    Image,
    /// `L n`: local byte size `n` (1..=255); `L 8` is the same as image.
    Local(u8),
}

/// STRU's argument (RFC 959 section 3.1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum FileStructure {
    /// `F`: file (no record structure).
    File,
    /// `R`: record.
    Record,
    /// `P`: page.
    Page,
}

/// MODE's argument (RFC 959 section 3.4; `Z` from the MODE Z draft).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum TransferMode {
    /// `S`: stream.
    Stream,
    /// `B`: block.
    Block,
    /// `C`: compressed.
    Compressed,
    /// `Z`: deflate.
    Deflate,
}

/// PROT's argument (RFC 2228 section 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum ProtectionLevel {
    /// `C`: clear.
    Clear,
    /// `S`: safe (integrity).
    Safe,
    /// `E`: confidential.
    Confidential,
    /// `P`: private (integrity and confidentiality; TLS).
    Private,
}

/// AUTH's mechanism name (RFC 2228, RFC 4217), case-insensitive.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum AuthMechanism {
    /// `TLS` (RFC 4217).
    Tls,
    /// `SSL`, the historical alias.
    Ssl,
    /// Any other mechanism name, in upper case (e.g. `TLS-C`, `GSSAPI`).
    Other(String),
}

/// LIST/NLST arguments: `ls`-style options kept apart from the path.
///
/// `LIST -la /pub` gives options `-la` and path `/pub`. Leading words that look like options
/// (`-` then letters, digits or `-`) are options; the rest after one space is the path, byte
/// for byte.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct ListArgs {
    /// The option words as sent, separated by single spaces (e.g. `-la` or `-l -a`).
    pub options: Option<String>,
    /// The path, if any.
    pub path: Option<FtpPath>,
}

/// A byte range for checksum commands: from `start` (inclusive) to `end`.
///
/// Parsing guarantees `start <= end`; the encoder refuses a range that violates it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct ByteRange {
    /// Starting point in bytes (0 when the client gave only the end point).
    pub start: u64,
    /// Ending point in bytes.
    pub end: u64,
}

/// XCRC/XMD5/XSHA1/XSHA256 arguments: a path and an optional byte range.
///
/// Wire forms, after GlobalSCAPE's definition of XCRC: `XCRC path with spaces` (the whole
/// argument is the path), `XCRC "path" EP` (from 0 to EP) and `XCRC "path" SP EP`, with the path
/// quoted (a `"` inside doubled) when a range follows. The encoder always writes both numbers.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct ChecksumArgs {
    /// The file.
    pub path: FtpPath,
    /// The part of the file, if not all of it.
    pub range: Option<ByteRange>,
}

/// A parsed FTP command. One variant per known verb, plus [`Command::Other`].
///
/// ```
/// use ftp_proto::{Command, FtpPath};
///
/// let cmd = Command::parse(b"retr  my file.txt").unwrap();
/// assert_eq!(cmd, Command::Retr(FtpPath::from(" my file.txt"))); // byte-exact path
/// assert_eq!(cmd.to_bytes().unwrap(), b"RETR  my file.txt\r\n");
///
/// let port = Command::parse(b"PORT 127,0,0,1,4,1").unwrap();
/// assert_eq!(port, Command::Port("127.0.0.1:1025".parse().unwrap()));
///
/// // A CR/LF in an argument can never be encoded (no command injection).
/// assert!(Command::Dele("a\r\nDELE b".into()).to_bytes().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Command {
    /// `USER name`.
    User(String),
    /// `PASS [password]` (an empty password is allowed).
    Pass(Secret<Vec<u8>>),
    /// `ACCT account`.
    Acct(Secret<Vec<u8>>),
    /// `CWD path`.
    Cwd(FtpPath),
    /// `CDUP`.
    Cdup,
    /// `SMNT path`.
    Smnt(FtpPath),
    /// `QUIT`.
    Quit,
    /// `REIN`.
    Rein,
    /// `PORT h1,h2,h3,h4,p1,p2`.
    Port(SocketAddrV4),
    /// `PASV`.
    Pasv,
    /// `EPRT |proto|addr|port|`.
    Eprt(SocketAddr),
    /// `EPSV [1|2|ALL]`.
    Epsv(EpsvMode),
    /// `TYPE A|E [N|T|C]`, `TYPE I`, `TYPE L n`.
    Type(TransferType),
    /// `STRU F|R|P`.
    Stru(FileStructure),
    /// `MODE S|B|C|Z`.
    Mode(TransferMode),
    /// `RETR path`.
    Retr(FtpPath),
    /// `STOR path`.
    Stor(FtpPath),
    /// `STOU [name hint]`.
    Stou(Option<FtpPath>),
    /// `APPE path`.
    Appe(FtpPath),
    /// `ALLO size [R record-size]`.
    Allo {
        /// Bytes to reserve.
        size: u64,
        /// Maximum record or page size.
        record_size: Option<u64>,
    },
    /// `REST offset`.
    Rest(u64),
    /// `RNFR path`.
    Rnfr(FtpPath),
    /// `RNTO path`.
    Rnto(FtpPath),
    /// `ABOR`.
    Abor,
    /// `DELE path`.
    Dele(FtpPath),
    /// `RMD path`.
    Rmd(FtpPath),
    /// `MKD path`.
    Mkd(FtpPath),
    /// `PWD`.
    Pwd,
    /// `LIST [options] [path]`.
    List(ListArgs),
    /// `NLST [options] [path]`.
    Nlst(ListArgs),
    /// `SITE text` (the site command and its arguments, raw).
    Site(Vec<u8>),
    /// `SYST`.
    Syst,
    /// `STAT [options] [path]`: with an argument, a listing over the control connection, so
    /// `ls` options are kept apart as for LIST. `None` asks for the server's status.
    Stat(Option<ListArgs>),
    /// `HELP [topic]`.
    Help(Option<String>),
    /// `NOOP`.
    Noop,
    /// `FEAT`.
    Feat,
    /// `OPTS name [value]`.
    Opts {
        /// The command or feature name, in upper case.
        name: String,
        /// The rest of the line, if any.
        value: Option<String>,
    },
    /// `AUTH mechanism`.
    Auth(AuthMechanism),
    /// `ADAT base64-data`.
    Adat(Secret<String>),
    /// `PBSZ size`.
    Pbsz(u32),
    /// `PROT C|S|E|P`.
    Prot(ProtectionLevel),
    /// `CCC`.
    Ccc,
    /// `MIC base64-command`: an integrity-protected command, which may be a PASS (redacted).
    Mic(Secret<String>),
    /// `CONF base64-command` (redacted).
    Conf(Secret<String>),
    /// `ENC base64-command` (redacted).
    Enc(Secret<String>),
    /// `SIZE path`.
    Size(FtpPath),
    /// `MDTM path`, or the set form `MDTM YYYYMMDDHHMMSS path`.
    Mdtm {
        /// The time to set (set form), or `None` to query.
        time: Option<Timestamp>,
        /// The file.
        path: FtpPath,
    },
    /// `MFMT YYYYMMDDHHMMSS path`.
    Mfmt {
        /// The new modification time.
        time: Timestamp,
        /// The file.
        path: FtpPath,
    },
    /// `MLSD [path]`.
    Mlsd(Option<FtpPath>),
    /// `MLST [path]`.
    Mlst(Option<FtpPath>),
    /// `HOST name`.
    Host(String),
    /// `LANG [tag]`.
    Lang(Option<String>),
    /// `CLNT name`.
    Clnt(String),
    /// `HASH path` (draft-bryan-ftpext-hash; ranges go through its separate RANG command).
    Hash(FtpPath),
    /// `XCRC path [start [end]]`.
    Xcrc(ChecksumArgs),
    /// `XMD5 path [start [end]]`.
    Xmd5(ChecksumArgs),
    /// `XSHA1 path [start [end]]`.
    Xsha1(ChecksumArgs),
    /// `XSHA256 path [start [end]]`.
    Xsha256(ChecksumArgs),
    /// `AVBL [path]`.
    Avbl(Option<FtpPath>),
    /// `XPWD`.
    Xpwd,
    /// `XMKD path`.
    Xmkd(FtpPath),
    /// `XRMD path`.
    Xrmd(FtpPath),
    /// `XCWD path`.
    Xcwd(FtpPath),
    /// `XCUP`.
    Xcup,
    /// A verb this crate does not know, kept so it survives a round trip.
    Other {
        /// The verb in upper case (letters and digits, starting with a letter).
        verb: String,
        /// The rest of the line after one space, if not blank.
        args: Option<Vec<u8>>,
    },
}

impl Command {
    /// The verb, or `None` for [`Command::Other`].
    pub fn verb(&self) -> Option<Verb> {
        Some(match self {
            Self::User(_) => Verb::User,
            Self::Pass(_) => Verb::Pass,
            Self::Acct(_) => Verb::Acct,
            Self::Cwd(_) => Verb::Cwd,
            Self::Cdup => Verb::Cdup,
            Self::Smnt(_) => Verb::Smnt,
            Self::Quit => Verb::Quit,
            Self::Rein => Verb::Rein,
            Self::Port(_) => Verb::Port,
            Self::Pasv => Verb::Pasv,
            Self::Eprt(_) => Verb::Eprt,
            Self::Epsv(_) => Verb::Epsv,
            Self::Type(_) => Verb::Type,
            Self::Stru(_) => Verb::Stru,
            Self::Mode(_) => Verb::Mode,
            Self::Retr(_) => Verb::Retr,
            Self::Stor(_) => Verb::Stor,
            Self::Stou(_) => Verb::Stou,
            Self::Appe(_) => Verb::Appe,
            Self::Allo { .. } => Verb::Allo,
            Self::Rest(_) => Verb::Rest,
            Self::Rnfr(_) => Verb::Rnfr,
            Self::Rnto(_) => Verb::Rnto,
            Self::Abor => Verb::Abor,
            Self::Dele(_) => Verb::Dele,
            Self::Rmd(_) => Verb::Rmd,
            Self::Mkd(_) => Verb::Mkd,
            Self::Pwd => Verb::Pwd,
            Self::List(_) => Verb::List,
            Self::Nlst(_) => Verb::Nlst,
            Self::Site(_) => Verb::Site,
            Self::Syst => Verb::Syst,
            Self::Stat(_) => Verb::Stat,
            Self::Help(_) => Verb::Help,
            Self::Noop => Verb::Noop,
            Self::Feat => Verb::Feat,
            Self::Opts { .. } => Verb::Opts,
            Self::Auth(_) => Verb::Auth,
            Self::Adat(_) => Verb::Adat,
            Self::Pbsz(_) => Verb::Pbsz,
            Self::Prot(_) => Verb::Prot,
            Self::Ccc => Verb::Ccc,
            Self::Mic(_) => Verb::Mic,
            Self::Conf(_) => Verb::Conf,
            Self::Enc(_) => Verb::Enc,
            Self::Size(_) => Verb::Size,
            Self::Mdtm { .. } => Verb::Mdtm,
            Self::Mfmt { .. } => Verb::Mfmt,
            Self::Mlsd(_) => Verb::Mlsd,
            Self::Mlst(_) => Verb::Mlst,
            Self::Host(_) => Verb::Host,
            Self::Lang(_) => Verb::Lang,
            Self::Clnt(_) => Verb::Clnt,
            Self::Hash(_) => Verb::Hash,
            Self::Xcrc(_) => Verb::Xcrc,
            Self::Xmd5(_) => Verb::Xmd5,
            Self::Xsha1(_) => Verb::Xsha1,
            Self::Xsha256(_) => Verb::Xsha256,
            Self::Avbl(_) => Verb::Avbl,
            Self::Xpwd => Verb::Xpwd,
            Self::Xmkd(_) => Verb::Xmkd,
            Self::Xrmd(_) => Verb::Xrmd,
            Self::Xcwd(_) => Verb::Xcwd,
            Self::Xcup => Verb::Xcup,
            Self::Other { .. } => return None,
        })
    }

    /// The verb as written on the wire (upper case), for logs and replies.
    pub fn verb_str(&self) -> &str {
        match self {
            Self::Other { verb, .. } => verb,
            other => other.verb().map_or("", Verb::as_str),
        }
    }
}

/// Shows the command as it would be sent, without the line end, with secrets redacted
/// (`PASS ****`): safe for logs.
impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Pass(_)
            | Self::Acct(_)
            | Self::Adat(_)
            | Self::Mic(_)
            | Self::Conf(_)
            | Self::Enc(_) => {
                write!(f, "{} ****", self.verb_str())
            }
            _ => {
                let mut out = Vec::new();
                self.write_unchecked(&mut out);
                f.write_str(&String::from_utf8_lossy(&out))
            }
        }
    }
}
