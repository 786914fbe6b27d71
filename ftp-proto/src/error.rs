//! Errors of the wire layer, each with the reply code it deserves.
//!
//! Owns the error types of command, argument, address and timestamp parsing and of encoding.
//! A parse error is a *peer's* mistake and maps to a reply (`reply_code`); an encode error is
//! the *caller's* mistake (a value that cannot be put on the wire faithfully).

use crate::command::Verb;
use crate::reply::ReplyCode;

/// Why a command line was not understood. [`ParseError::reply_code`] gives the reply it deserves.
///
/// ```
/// use ftp_proto::{Command, ReplyCode};
/// let err = Command::parse(b"REST -5").unwrap_err();
/// assert_eq!(err.reply_code(), ReplyCode::SYNTAX_ERROR_IN_ARGUMENTS);
/// assert_eq!(err.to_string(), "REST: negative number");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The line was empty or held only spaces.
    #[error("empty command line")]
    Empty,
    /// The first word is not a command word at all (not letters and digits).
    #[error("unrecognised command")]
    Unrecognized,
    /// A command this crate knows of but deliberately does not support (obsolete RFC 765
    /// mail commands, RFC 1639 LPRT/LPSV).
    #[error("{0} is not implemented")]
    NotImplemented(&'static str),
    /// A known command with a missing, superfluous or malformed argument.
    #[error("{verb}: {reason}")]
    BadArgument {
        /// The command.
        verb: Verb,
        /// What is wrong with its argument.
        reason: ArgError,
    },
    /// A well-formed argument naming a parameter that does not exist (`TYPE X`, `MODE Q`).
    #[error("{verb}: unknown parameter")]
    UnsupportedParameter {
        /// The command.
        verb: Verb,
    },
}

impl ParseError {
    /// The reply code a server should answer with: 500 unknown, 502 known but not implemented,
    /// 501 bad argument, 504 unknown parameter, 522 unsupported network protocol (RFC 2428).
    pub fn reply_code(&self) -> ReplyCode {
        match self {
            Self::Empty | Self::Unrecognized => ReplyCode::SYNTAX_ERROR,
            Self::NotImplemented(_) => ReplyCode::COMMAND_NOT_IMPLEMENTED,
            Self::BadArgument { reason, .. } => reason.reply_code(),
            Self::UnsupportedParameter { .. } => ReplyCode::PARAMETER_NOT_IMPLEMENTED,
        }
    }

    /// The verb the error is about, when the line started with a known one.
    pub fn verb(&self) -> Option<Verb> {
        match self {
            Self::BadArgument { verb, .. } | Self::UnsupportedParameter { verb } => Some(*verb),
            _ => None,
        }
    }
}

/// What is wrong with a command's argument.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ArgError {
    /// The command needs an argument and got none.
    #[error("missing argument")]
    Missing,
    /// The command takes no argument (or fewer than were given).
    #[error("unexpected argument")]
    Unexpected,
    /// Not a decimal number.
    #[error("not a number")]
    NotANumber,
    /// A minus sign where only non-negative numbers are allowed.
    #[error("negative number")]
    Negative,
    /// A number too large for its field.
    #[error("number too large")]
    Overflow,
    /// Not a valid `YYYYMMDDHHMMSS[.sss]` UTC time (RFC 3659).
    #[error("invalid timestamp")]
    Timestamp,
    /// A malformed or out-of-range host-port (PORT, EPRT).
    #[error("{0}")]
    Address(#[from] AddrError),
    /// Text that must be UTF-8 (user names, option names) was not.
    #[error("invalid UTF-8")]
    Utf8,
    /// Malformed text for this command.
    #[error("malformed argument")]
    Syntax,
}

impl From<crate::timestamp::InvalidTimestamp> for ArgError {
    fn from(_: crate::timestamp::InvalidTimestamp) -> Self {
        Self::Timestamp
    }
}

impl ArgError {
    /// The reply code for this argument error (501, or 522 for an address family we do not speak).
    pub fn reply_code(&self) -> ReplyCode {
        match self {
            Self::Address(a) => a.reply_code(),
            _ => ReplyCode::SYNTAX_ERROR_IN_ARGUMENTS,
        }
    }
}

/// Why a PORT/EPRT argument or a 227/229 reply did not give an address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AddrError {
    /// The text does not have the required shape.
    #[error("malformed address")]
    Syntax,
    /// An octet above 255 or a port above 65535.
    #[error("address number out of range")]
    OutOfRange,
    /// EPRT/EPSV named a network protocol other than 1 (IPv4) or 2 (IPv6).
    #[error("network protocol not supported")]
    UnsupportedProtocol,
    /// The EPRT address does not match its protocol number or is not a valid IP literal.
    #[error("invalid IP address")]
    InvalidIp,
}

impl AddrError {
    /// 522 for an unsupported network protocol (RFC 2428), 501 otherwise.
    pub fn reply_code(&self) -> ReplyCode {
        match self {
            Self::UnsupportedProtocol => ReplyCode::NETWORK_PROTOCOL_NOT_SUPPORTED,
            _ => ReplyCode::SYNTAX_ERROR_IN_ARGUMENTS,
        }
    }
}

/// A value that cannot be encoded so that the peer parses back exactly the same value.
///
/// Encoding refuses rather than corrupt: a CR, LF or NUL in an argument would end or poison the
/// line (command injection), and some values are ambiguous on the wire.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// An argument contains CR, LF or NUL.
    #[error("argument contains CR, LF or NUL")]
    ForbiddenByte,
    /// A required argument is empty, or an optional one is present but empty or blank.
    #[error("empty argument")]
    EmptyArgument,
    /// The value would be read back differently (e.g. a LIST path that looks like an option).
    #[error("argument would be read back differently")]
    Ambiguous,
    /// `Command::Other` with a verb that is not a command word, or that this crate knows.
    #[error("invalid verb for Command::Other")]
    InvalidVerb,
    /// A field outside its valid range (e.g. `TYPE L 0`).
    #[error("value out of range")]
    OutOfRange,
}
