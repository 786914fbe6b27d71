//! The values a client [`super::Session`] takes and gives: configuration, handles, outputs,
//! events, data actions and errors.

use core::fmt;
use core::time::Duration;
use std::net::SocketAddr;

use crate::{DEFAULT_MAX_REPLY, Reply};

/// Identifies one command (or one whole transfer) given to [`super::Session::send`] or
/// [`super::Session::transfer`]; every [`Event`] about it carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CommandHandle(pub(crate) u64);

impl CommandHandle {
    /// The handle of the server's greeting, which the session awaits from its creation.
    pub const GREETING: CommandHandle = CommandHandle(0);
}

/// Identifies one data channel (a connection to a passive port, or an active listener and the
/// connection it accepts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DataId(pub(crate) u64);

/// What to do with the address in a 227 (PASV) reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum PasvAddressPolicy {
    /// Ignore it and connect to the control connection's peer, on the port the reply names.
    /// This is the default: a server (or whoever forged its reply) cannot send the client's data
    /// connection to a third host, and a server behind NAT that announces its private address
    /// still works.
    #[default]
    UseControlPeer,
    /// Connect to the address the server names (for setups where data really comes from
    /// another host).
    Trust,
}

/// Client session settings. Every field has a sensible default.
///
/// ```
/// use std::time::Duration;
/// use ftp_proto::client::Config;
/// let config = Config { passive: false, reply_timeout: Duration::from_secs(10), ..Config::default() };
/// assert!(config.use_epsv);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Passive mode (the client connects to the server; the default) or active mode (the
    /// server connects to a listener of the client's).
    pub passive: bool,
    /// Try EPSV (passive) and EPRT (active) first, falling back to PASV and PORT on 500, 501 or
    /// 502 and remembering the fallback for the session. When false, IPv4 sessions go straight
    /// to PASV and PORT. IPv6 sessions always need EPSV/EPRT.
    pub use_epsv: bool,
    /// What to do with the address in a 227 reply.
    pub pasv_address: PasvAddressPolicy,
    /// How long the server may take to answer a command (and to send its greeting). A transfer
    /// whose data is flowing is not limited by it: the driver's data timeout applies then.
    /// Preliminary (1yz) replies do not extend it: the final reply is due within this time of
    /// the command (or of the end of the transfer's data).
    pub reply_timeout: Duration,
    /// Cap on the size of one reply (see [`crate::ReplyParser`]).
    pub max_reply: usize,
    /// Accept a multi-line reply ending with a different code than it opened with (glftpd).
    pub lenient_multiline: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            passive: true,
            use_epsv: true,
            pasv_address: PasvAddressPolicy::default(),
            reply_timeout: Duration::from_secs(60),
            max_reply: DEFAULT_MAX_REPLY,
            lenient_multiline: false,
        }
    }
}

/// Which way file bytes flow in a transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From the server to the client (RETR, LIST, NLST, MLSD).
    Receive,
    /// From the client to the server (STOR, APPE, STOU).
    Send,
}

/// The address family of an active-mode listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

/// What the driver must do with data connections.
///
/// The lifecycle of one channel: `Connect` (report [`DataInput::Connected`] or
/// [`DataInput::Failed`]) or `Listen` (report [`DataInput::Listening`] or `Failed`, then
/// accept one connection, only from the control peer's IP, and report `Connected`); then at
/// most one `Transfer`, after which the driver copies and reports [`DataInput::Finished`]
/// exactly once; or `Close` at any time, after which nothing more is reported for that id.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DataAction {
    /// Connect to the server's passive port.
    Connect {
        /// The channel.
        id: DataId,
        /// Where to connect.
        to: SocketAddr,
    },
    /// Listen for the server's connection (active mode) on the control connection's local IP,
    /// any free port, and report [`DataInput::Listening`] with the bound address.
    Listen {
        /// The channel.
        id: DataId,
        /// Which family (the control connection's).
        family: Family,
    },
    /// Copy the file over the channel: for [`Direction::Receive`] read until the server closes
    /// the connection; for [`Direction::Send`] write the whole source, then close (for TLS with
    /// close_notify). In active mode this may come before the server has connected: accept
    /// first (within the data timeout). Then report [`DataInput::Finished`].
    Transfer {
        /// The channel.
        id: DataId,
        /// Which way.
        direction: Direction,
        /// TYPE A is in force: convert line ends with [`crate::ascii`].
        ascii: bool,
        /// PROT P is in force: protect the data connection with TLS.
        protected: bool,
    },
    /// Close the channel now (listener or connection), abandoning any copy. Do not report it.
    Close {
        /// The channel.
        id: DataId,
    },
}

/// Why a data channel could not be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// Connecting to the passive port failed or timed out.
    #[error("could not connect to the server's data port")]
    Connect,
    /// No listener could be opened for active mode.
    #[error("could not open a listener for active mode")]
    Listen,
    /// The server did not connect to the active-mode listener in time.
    #[error("the server did not connect for the data transfer")]
    Accept,
    /// The TLS handshake on the data connection failed.
    #[error("TLS handshake on the data connection failed")]
    Tls,
}

/// How the copy over a data connection went wrong, as the driver saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CopyError {
    /// The connection broke (reset, or closed without TLS close_notify).
    #[error("data connection lost")]
    ConnectionLost,
    /// No bytes moved for longer than the data timeout.
    #[error("data connection timed out")]
    TimedOut,
    /// Reading the local source or writing the local sink failed.
    #[error("local I/O error")]
    Local,
    /// The transfer was larger than the caller allowed (for example a listing cap).
    #[error("transfer larger than allowed")]
    TooLarge,
}

/// Facts the driver reports about data channels.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DataInput {
    /// The connection is established (passive) or was accepted from the control peer (active).
    Connected {
        /// The channel.
        id: DataId,
    },
    /// The active-mode listener is bound.
    Listening {
        /// The channel.
        id: DataId,
        /// The address to announce with EPRT or PORT.
        addr: SocketAddr,
    },
    /// The channel could not be opened.
    Failed {
        /// The channel.
        id: DataId,
        /// Why.
        error: DataError,
    },
    /// The copy ended: all bytes received up to the server's close, or all bytes sent and the
    /// connection closed (`Ok`), or the copy failed.
    Finished {
        /// The channel.
        id: DataId,
        /// Bytes moved over the connection (before the failure, if any).
        bytes: u64,
        /// How the copy ended.
        result: Result<(), CopyError>,
    },
}

/// Why the session ended or a command got no reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The server closed the control connection.
    #[error("the server closed the connection")]
    ConnectionClosed,
    /// The server sent 421: service not available, closing.
    #[error("service closing: {}", .0.text())]
    ServiceClosing(Reply),
    /// The server did not answer within the reply timeout.
    #[error("no reply from the server within the timeout")]
    Timeout,
    /// The server sent only preliminary (1yz) replies within the reply timeout: they do not
    /// extend it (see [`super::Session::poll_timeout`]).
    #[error("no final reply from the server within the timeout (only 1yz preliminary replies)")]
    NoFinalReply,
    /// The server sent part of a reply (a line without its end, or a multi-line reply that
    /// did not end) and then nothing more within the reply timeout.
    #[error("incomplete reply from the server within the timeout")]
    IncompleteReply,
    /// A reply line was not a reply at all; the connection cannot be trusted.
    #[error("malformed reply from the server")]
    MalformedReply,
    /// A reply grew beyond the size cap (`Config::max_reply`).
    #[error("reply larger than {limit} bytes")]
    ReplyTooLarge {
        /// The cap.
        limit: usize,
    },
    /// The session was closed on purpose (`QUIT` answered).
    #[error("session closed")]
    Closed,
}

impl SessionError {
    /// True for the errors of the reply timeout: [`SessionError::Timeout`],
    /// [`SessionError::NoFinalReply`] and [`SessionError::IncompleteReply`].
    ///
    /// ```
    /// use ftp_proto::client::SessionError;
    /// assert!(SessionError::NoFinalReply.is_timeout());
    /// assert!(!SessionError::ConnectionClosed.is_timeout());
    /// ```
    pub fn is_timeout(&self) -> bool {
        matches!(
            self,
            Self::Timeout | Self::NoFinalReply | Self::IncompleteReply
        )
    }
}

/// A transfer that ended well.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TransferDone {
    /// The server's final reply (226 or 250).
    pub reply: Reply,
    /// The bytes the data connection carried, as the driver counted them.
    pub bytes: u64,
    /// The size the server announced in its preliminary reply (`150 ... (1234 bytes)`).
    pub size_hint: Option<u64>,
}

/// Why a transfer did not complete.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransferError {
    /// The server refused before any data moved: a negative reply to EPSV/PASV/EPRT/PORT, REST
    /// or the transfer command itself.
    #[error("refused: {}", reply_text(.0))]
    Refused(Reply),
    /// The server reported failure after the transfer started (426, 451, 552, ...).
    #[error("transfer failed after {bytes} bytes: {}", reply_text(.reply))]
    Failed {
        /// The final reply.
        reply: Reply,
        /// Bytes moved before the failure.
        bytes: u64,
    },
    /// The data channel could not be opened.
    #[error("data channel: {0}")]
    Data(DataError),
    /// The copy broke, whatever the server replied afterwards.
    #[error("data copy failed after {bytes} bytes: {error}")]
    Copy {
        /// What the driver saw.
        error: CopyError,
        /// Bytes moved before it.
        bytes: u64,
        /// The server's final reply, if one came.
        reply: Option<Reply>,
    },
    /// A reply that makes no sense at this point (for example a 227 without an address).
    #[error("unexpected reply: {}", reply_text(.0))]
    UnexpectedReply(Reply),
    /// PASV cannot be used on an IPv6 connection and the server refused EPSV (or EPRT/PORT
    /// likewise).
    #[error("the server supports no data-connection command usable on this address family")]
    NoUsableDataCommand,
    /// The caller aborted the transfer ([`super::Session::abort`]).
    #[error("aborted after {bytes} bytes")]
    Aborted {
        /// Bytes moved before the abort.
        bytes: u64,
    },
    /// The session ended before the transfer did.
    #[error(transparent)]
    Session(#[from] SessionError),
}

fn reply_text(reply: &Reply) -> String {
    format!("{} {}", reply.code(), reply.text())
}

/// What the session reports. Every command's handle gets exactly one final event:
/// [`Event::Reply`] (plain commands), [`Event::Transfer`] (transfers) or [`Event::Failed`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A 1yz preliminary reply (150 or 125 for a transfer, 120 for a delayed greeting).
    Preliminary {
        /// The command (or transfer, or [`CommandHandle::GREETING`]).
        handle: CommandHandle,
        /// The reply.
        reply: Reply,
    },
    /// The final reply (2yz, 3yz, 4yz or 5yz) to a command given to
    /// [`super::Session::send`], or the greeting.
    Reply {
        /// The command.
        handle: CommandHandle,
        /// The reply.
        reply: Reply,
    },
    /// A transfer given to [`super::Session::transfer`] ended.
    Transfer {
        /// The transfer.
        handle: CommandHandle,
        /// How it ended.
        result: Result<TransferDone, TransferError>,
    },
    /// The command will get no reply (the session ended first).
    Failed {
        /// The command.
        handle: CommandHandle,
        /// Why.
        error: SessionError,
    },
    /// A reply arrived while no command was waiting for one; it is otherwise ignored.
    Unsolicited(Reply),
    /// The session is over; close the control connection. Nothing follows.
    Closed(SessionError),
}

/// What the session wants done. Drain with [`super::Session::poll_output`] after every input.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Output {
    /// Write these bytes to the control connection.
    Transmit(Vec<u8>),
    /// Do something with a data channel.
    Data(DataAction),
    /// Something happened.
    Event(Event),
    /// AUTH was accepted: start the TLS handshake on the control connection now, then call
    /// [`super::Session::handle_tls_established`]. Nothing is transmitted until then, and any
    /// bytes the server sent after its 234 reply were discarded (they were not encrypted).
    UpgradeTls,
}

impl fmt::Debug for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // Transmitted bytes may hold a password: show only their size.
            Self::Transmit(bytes) => write!(f, "Transmit({} bytes)", bytes.len()),
            Self::Data(action) => write!(f, "Data({action:?})"),
            Self::Event(event) => write!(f, "Event({event:?})"),
            Self::UpgradeTls => f.write_str("UpgradeTls"),
        }
    }
}

/// The caller used the session in a way it does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UsageError {
    /// The command cannot be encoded (a CR, LF or NUL in an argument, an invalid verb).
    #[error("command cannot be sent: {0}")]
    Encode(#[from] crate::EncodeError),
    /// [`super::Session::transfer`] was given a command that moves no data, or
    /// [`super::Session::send`] one that does (or a data-port command, REST or ABOR, which the
    /// session issues itself).
    #[error("{0} must go through {1}")]
    WrongMethod(&'static str, &'static str),
    /// [`super::Session::abort`] was called with no transfer running.
    #[error("no transfer to abort")]
    NoTransfer,
    /// The session has ended.
    #[error("the session has ended")]
    Closed,
}
