//! `ReplyCode`: the open newtype for FTP reply codes, with named constants and digit meanings.

use core::fmt;

/// An FTP reply code, `100..=699`.
///
/// Open on purpose: servers send codes no RFC lists, and clients should act on the first digit
/// ([`ReplyCode::class`]) as RFC 959 section 4.2 advises. The constants name every code of
/// RFC 959, 2228, 2428, 3659 and 4217.
///
/// ```
/// use ftp_proto::{ReplyCategory, ReplyClass, ReplyCode};
/// let code = ReplyCode::new(226).unwrap();
/// assert_eq!(code, ReplyCode::CLOSING_DATA_CONNECTION);
/// assert_eq!(code.class(), ReplyClass::PositiveCompletion);
/// assert_eq!(code.category(), Some(ReplyCategory::Connections));
/// assert!(ReplyCode::new(99).is_none() && ReplyCode::new(700).is_none());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReplyCode(u16);

/// The first digit of a reply code (RFC 959 section 4.2.1; 6 from RFC 2228).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReplyClass {
    /// 1yz: the action is being started; expect another reply.
    PositivePreliminary,
    /// 2yz: the action completed.
    PositiveCompletion,
    /// 3yz: accepted, more information needed.
    PositiveIntermediate,
    /// 4yz: not done, the error is temporary; try again.
    TransientNegative,
    /// 5yz: not done, do not repeat as is.
    PermanentNegative,
    /// 6yz: a protected reply (RFC 2228 MIC/CONF/ENC).
    Protected,
}

/// The second digit of a reply code (RFC 959 section 4.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReplyCategory {
    /// x0z: syntax.
    Syntax,
    /// x1z: information.
    Information,
    /// x2z: connections.
    Connections,
    /// x3z: authentication and accounting.
    Authentication,
    /// x4z: unspecified.
    Unspecified,
    /// x5z: file system.
    FileSystem,
}

macro_rules! codes {
    ($($(#[$doc:meta])* $name:ident = $value:literal;)*) => {
        impl ReplyCode {
            $($(#[$doc])* pub const $name: ReplyCode = ReplyCode($value);)*

            /// Every named constant, for tables and tests.
            pub const ALL_NAMED: &'static [ReplyCode] = &[$(ReplyCode($value)),*];
        }
    };
}

codes! {
    /// 110 Restart marker reply (RFC 959).
    RESTART_MARKER = 110;
    /// 120 Service ready in nnn minutes (RFC 959).
    SERVICE_READY_SOON = 120;
    /// 125 Data connection already open; transfer starting (RFC 959).
    DATA_CONNECTION_ALREADY_OPEN = 125;
    /// 150 File status okay; about to open data connection (RFC 959).
    FILE_STATUS_OKAY = 150;
    /// 200 Command okay (RFC 959).
    COMMAND_OKAY = 200;
    /// 202 Command not implemented, superfluous at this site (RFC 959).
    COMMAND_SUPERFLUOUS = 202;
    /// 211 System status, or system help reply; FEAT (RFC 959, RFC 2389).
    SYSTEM_STATUS = 211;
    /// 212 Directory status (RFC 959).
    DIRECTORY_STATUS = 212;
    /// 213 File status; SIZE and MDTM answers (RFC 959, RFC 3659).
    FILE_STATUS = 213;
    /// 214 Help message (RFC 959).
    HELP_MESSAGE = 214;
    /// 215 NAME system type (RFC 959).
    SYSTEM_TYPE = 215;
    /// 220 Service ready for new user (RFC 959).
    SERVICE_READY = 220;
    /// 221 Service closing control connection (RFC 959).
    SERVICE_CLOSING = 221;
    /// 225 Data connection open; no transfer in progress (RFC 959).
    DATA_CONNECTION_OPEN = 225;
    /// 226 Closing data connection; requested action successful (RFC 959).
    CLOSING_DATA_CONNECTION = 226;
    /// 227 Entering Passive Mode (RFC 959).
    ENTERING_PASSIVE_MODE = 227;
    /// 229 Entering Extended Passive Mode (RFC 2428).
    ENTERING_EXTENDED_PASSIVE_MODE = 229;
    /// 230 User logged in, proceed (RFC 959).
    USER_LOGGED_IN = 230;
    /// 232 User logged in, authorized by security data exchange (RFC 2228).
    USER_LOGGED_IN_AUTHORIZED = 232;
    /// 234 Security data exchange complete; AUTH accepted (RFC 2228, RFC 4217).
    SECURITY_EXCHANGE_COMPLETE = 234;
    /// 235 Security data exchange completed successfully (RFC 2228).
    SECURITY_EXCHANGE_SUCCESSFUL = 235;
    /// 250 Requested file action okay, completed (RFC 959).
    FILE_ACTION_OKAY = 250;
    /// 257 "PATHNAME" created (RFC 959).
    PATHNAME_CREATED = 257;
    /// 331 User name okay, need password (RFC 959).
    NEED_PASSWORD = 331;
    /// 332 Need account for login (RFC 959).
    NEED_ACCOUNT = 332;
    /// 334 Security mechanism accepted; ADAT must follow (RFC 2228).
    SECURITY_MECHANISM_ACCEPTED = 334;
    /// 335 Security data acceptable; more is required (RFC 2228).
    SECURITY_DATA_ACCEPTABLE = 335;
    /// 336 Username okay, need password; challenge follows (RFC 2228).
    NEED_PASSWORD_CHALLENGE = 336;
    /// 350 Requested file action pending further information (RFC 959).
    FILE_ACTION_PENDING = 350;
    /// 421 Service not available, closing control connection (RFC 959).
    SERVICE_NOT_AVAILABLE = 421;
    /// 425 Can't open data connection (RFC 959).
    CANT_OPEN_DATA_CONNECTION = 425;
    /// 426 Connection closed; transfer aborted (RFC 959).
    CONNECTION_CLOSED = 426;
    /// 431 Need some unavailable resource to process security (RFC 2228, RFC 4217).
    NEED_UNAVAILABLE_RESOURCE = 431;
    /// 450 Requested file action not taken; file unavailable (RFC 959).
    FILE_ACTION_NOT_TAKEN = 450;
    /// 451 Requested action aborted: local error in processing (RFC 959).
    LOCAL_ERROR = 451;
    /// 452 Requested action not taken: insufficient storage space (RFC 959).
    INSUFFICIENT_STORAGE = 452;
    /// 500 Syntax error, command unrecognized (RFC 959).
    SYNTAX_ERROR = 500;
    /// 501 Syntax error in parameters or arguments (RFC 959).
    SYNTAX_ERROR_IN_ARGUMENTS = 501;
    /// 502 Command not implemented (RFC 959).
    COMMAND_NOT_IMPLEMENTED = 502;
    /// 503 Bad sequence of commands (RFC 959).
    BAD_SEQUENCE = 503;
    /// 504 Command not implemented for that parameter (RFC 959).
    PARAMETER_NOT_IMPLEMENTED = 504;
    /// 522 Network protocol not supported (RFC 2428).
    NETWORK_PROTOCOL_NOT_SUPPORTED = 522;
    /// 530 Not logged in (RFC 959).
    NOT_LOGGED_IN = 530;
    /// 532 Need account for storing files (RFC 959).
    NEED_ACCOUNT_FOR_STORING = 532;
    /// 533 Command protection level denied for policy reasons (RFC 2228).
    PROTECTION_LEVEL_DENIED = 533;
    /// 534 Request denied for policy reasons (RFC 2228, RFC 4217).
    DENIED_FOR_POLICY = 534;
    /// 535 Failed security check (RFC 2228).
    FAILED_SECURITY_CHECK = 535;
    /// 536 Requested PROT level not supported by mechanism (RFC 2228).
    PROT_LEVEL_NOT_SUPPORTED = 536;
    /// 537 Command protection level not supported by security mechanism (RFC 2228).
    COMMAND_PROTECTION_NOT_SUPPORTED = 537;
    /// 550 Requested action not taken; file unavailable (RFC 959).
    FILE_UNAVAILABLE = 550;
    /// 551 Requested action aborted: page type unknown (RFC 959).
    PAGE_TYPE_UNKNOWN = 551;
    /// 552 Requested file action aborted: exceeded storage allocation (RFC 959).
    EXCEEDED_STORAGE = 552;
    /// 553 Requested action not taken: file name not allowed (RFC 959).
    FILE_NAME_NOT_ALLOWED = 553;
    /// 554 Requested action not taken: invalid REST parameter (RFC 1123 4.1.3.4, RFC 3659).
    INVALID_REST_PARAMETER = 554;
    /// 631 Integrity protected reply (RFC 2228).
    INTEGRITY_PROTECTED = 631;
    /// 632 Confidentiality and integrity protected reply (RFC 2228).
    CONFIDENTIALITY_AND_INTEGRITY_PROTECTED = 632;
    /// 633 Confidentiality protected reply (RFC 2228).
    CONFIDENTIALITY_PROTECTED = 633;
}

impl ReplyCode {
    /// A reply code from its number, `None` outside `100..=699`.
    pub const fn new(code: u16) -> Option<Self> {
        if code >= 100 && code <= 699 {
            Some(Self(code))
        } else {
            None
        }
    }

    /// The number.
    pub const fn get(self) -> u16 {
        self.0
    }

    /// The meaning of the first digit.
    pub const fn class(self) -> ReplyClass {
        match self.0 / 100 {
            1 => ReplyClass::PositivePreliminary,
            2 => ReplyClass::PositiveCompletion,
            3 => ReplyClass::PositiveIntermediate,
            4 => ReplyClass::TransientNegative,
            5 => ReplyClass::PermanentNegative,
            _ => ReplyClass::Protected,
        }
    }

    /// The meaning of the second digit, `None` for 6..=9 (not defined by RFC 959).
    pub const fn category(self) -> Option<ReplyCategory> {
        match self.0 / 10 % 10 {
            0 => Some(ReplyCategory::Syntax),
            1 => Some(ReplyCategory::Information),
            2 => Some(ReplyCategory::Connections),
            3 => Some(ReplyCategory::Authentication),
            4 => Some(ReplyCategory::Unspecified),
            5 => Some(ReplyCategory::FileSystem),
            _ => None,
        }
    }

    /// 1yz: another reply follows.
    pub const fn is_preliminary(self) -> bool {
        self.0 / 100 == 1
    }

    /// 2yz.
    pub const fn is_completion(self) -> bool {
        self.0 / 100 == 2
    }

    /// 3yz.
    pub const fn is_intermediate(self) -> bool {
        self.0 / 100 == 3
    }

    /// 4yz or 5yz.
    pub const fn is_negative(self) -> bool {
        matches!(self.0 / 100, 4 | 5)
    }

    /// 4yz: a temporary failure.
    pub const fn is_transient_negative(self) -> bool {
        self.0 / 100 == 4
    }

    /// 5yz: a permanent failure.
    pub const fn is_permanent_negative(self) -> bool {
        self.0 / 100 == 5
    }

    /// The three ASCII digits.
    pub const fn digits(self) -> [u8; 3] {
        // `self.0` is in 100..=699, so every digit fits in one byte.
        [
            b'0' + (self.0 / 100) as u8,
            b'0' + (self.0 / 10 % 10) as u8,
            b'0' + (self.0 % 10) as u8,
        ]
    }
}

impl fmt::Debug for ReplyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ReplyCode({})", self.0)
    }
}

impl fmt::Display for ReplyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl From<ReplyCode> for u16 {
    fn from(code: ReplyCode) -> u16 {
        code.0
    }
}

impl TryFrom<u16> for ReplyCode {
    type Error = InvalidReplyCode;

    fn try_from(code: u16) -> Result<Self, InvalidReplyCode> {
        Self::new(code).ok_or(InvalidReplyCode(code))
    }
}

/// A number outside `100..=699` was offered as a reply code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0} is not a reply code (100..=699)")]
#[non_exhaustive]
pub struct InvalidReplyCode(u16);

impl InvalidReplyCode {
    /// The number that was refused.
    pub fn number(self) -> u16 {
        self.0
    }
}

#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for ReplyCode {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(Self(u.int_in_range(100..=699)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_and_category_follow_the_digits() {
        for n in 100..=699u16 {
            let code = ReplyCode::new(n).unwrap();
            let class = match n / 100 {
                1 => ReplyClass::PositivePreliminary,
                2 => ReplyClass::PositiveCompletion,
                3 => ReplyClass::PositiveIntermediate,
                4 => ReplyClass::TransientNegative,
                5 => ReplyClass::PermanentNegative,
                _ => ReplyClass::Protected,
            };
            assert_eq!(code.class(), class);
            assert_eq!(code.category().is_some(), n / 10 % 10 <= 5);
            assert_eq!(code.digits(), *n.to_string().as_bytes());
            assert_eq!(
                code.is_negative(),
                code.is_transient_negative() || code.is_permanent_negative()
            );
        }
        assert_eq!(
            ReplyCode::FILE_UNAVAILABLE.category(),
            Some(ReplyCategory::FileSystem)
        );
        assert_eq!(
            ReplyCode::NOT_LOGGED_IN.category(),
            Some(ReplyCategory::Authentication)
        );
        assert_eq!(
            ReplyCode::SYSTEM_STATUS.category(),
            Some(ReplyCategory::Information)
        );
        assert_eq!(
            ReplyCode::SYNTAX_ERROR.category(),
            Some(ReplyCategory::Syntax)
        );
        assert_eq!(
            ReplyCode::NEED_UNAVAILABLE_RESOURCE.category(),
            Some(ReplyCategory::Authentication)
        );
        assert_eq!(
            ReplyCode::LOCAL_ERROR.category(),
            Some(ReplyCategory::FileSystem)
        );
    }

    #[test]
    fn bounds() {
        assert!(ReplyCode::new(0).is_none());
        assert!(ReplyCode::new(99).is_none());
        assert_eq!(ReplyCode::new(100).map(ReplyCode::get), Some(100));
        assert_eq!(ReplyCode::new(699).map(ReplyCode::get), Some(699));
        assert!(ReplyCode::new(700).is_none());
        assert_eq!(
            ReplyCode::try_from(1000u16).map_err(InvalidReplyCode::number),
            Err(1000)
        );
    }

    #[test]
    fn named_constants_are_distinct_and_valid() {
        let mut seen = std::collections::HashSet::new();
        for &c in ReplyCode::ALL_NAMED {
            assert!(ReplyCode::new(c.get()).is_some());
            assert!(seen.insert(c), "{c} twice");
        }
        assert_eq!(ReplyCode::ALL_NAMED.len(), 57);
    }
}
