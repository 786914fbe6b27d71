//! The vocabulary between a server [`super::Session`] and its driver: requests to the
//! application and their responses, data-channel actions and facts, outputs, errors.
//!
//! Owns plain data types only; all decisions live in the session.

use core::fmt;
use core::net::SocketAddr;

use crate::listing::Entry;
use crate::path::VirtualPath;
use crate::reply::{Reply, ReplyCode};
use crate::secret::Secret;
use crate::timestamp::Timestamp;

use super::config::HashAlgorithm;

/// Identifies one [`Request`]; pass it back to [`super::Session::respond`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ticket(pub(crate) u64);

/// Identifies one data channel (a passive listener or an active connection and what flows on it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DataId(pub(crate) u64);

/// Facts about the control connection the session runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionInfo {
    /// The client's address.
    pub peer: SocketAddr,
    /// The server's address of this connection (passive listeners bind on its IP).
    pub local: SocketAddr,
    /// The connection is already TLS (implicit FTPS).
    pub tls: bool,
}

/// What a STOR-like request wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreMode {
    /// STOR: create or replace (from `offset` when REST was given).
    Replace,
    /// APPE: append.
    Append,
}

/// Which listing a [`Request::List`] feeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListKind {
    /// LIST: `ls -l` lines over the data connection.
    List,
    /// NLST: names over the data connection.
    Nlst,
    /// MLSD: RFC 3659 facts over the data connection.
    Mlsd,
    /// STAT with a path: `ls -l` lines over the control connection.
    Stat,
}

/// A decision the session needs from the application. Answer with
/// [`super::Session::respond`] and the [`Response`] named on each variant.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Request {
    /// Check credentials. Answer `LoggedIn`, `LoginRejected`, `LoginUnavailable` or
    /// `TooManySessions`.
    Login {
        /// The name given with USER.
        user: String,
        /// The password given with PASS.
        password: Secret<Vec<u8>>,
        /// The client's address.
        peer: SocketAddr,
        /// The control connection is protected by TLS.
        tls: bool,
        /// USER was `anonymous` or `ftp` and anonymous login is enabled.
        anonymous: bool,
    },
    /// HOST (RFC 7151): select a virtual host before login. Answer `Ok` or `Error`.
    Host {
        /// The host name as sent.
        name: String,
    },
    /// CWD/CDUP: is this a directory the user may enter? Answer `Ok` or `Error`.
    ChangeDir {
        /// The directory.
        path: VirtualPath,
    },
    /// RETR: open the file for reading from `offset`. Answer `Ok` or `Size(bytes to send)`
    /// (the 150 reply then says `(N bytes)`, which curl, wget and ftplib read), keeping the open
    /// file for this ticket, or `Error`.
    Retrieve {
        /// The file.
        path: VirtualPath,
        /// Byte offset from REST (given right before RETR), 0 otherwise.
        offset: u64,
        /// TYPE A is in force (the offset and size then count transferred bytes, RFC 3659 5).
        ascii: bool,
    },
    /// STOR/APPE: open the file for writing. Answer `Ok` or `Error`.
    Store {
        /// The file.
        path: VirtualPath,
        /// Byte offset from REST (given right before STOR), 0 otherwise and for APPE.
        offset: u64,
        /// Replace or append.
        mode: StoreMode,
    },
    /// STOU: create a new file with a name the application chooses in `dir`. Answer
    /// `Created(path)` or `Error`.
    StoreUnique {
        /// The directory: the one the client's argument names (`STOU /pub/a.txt`: `/pub`),
        /// else the cwd.
        dir: VirtualPath,
        /// The last segment of the client's argument, if any (byte-exact): the name wanted.
        hint: Option<Vec<u8>>,
    },
    /// LIST/NLST/MLSD/STAT path: the entries to list. Answer `Entries` (the session formats
    /// them), or for LIST/NLST/MLSD `Ok` to stream the listing yourself
    /// ([`DataAction::StreamListing`]: memory then does not grow with the directory), or `Error`.
    List {
        /// The directory (or file) to list.
        path: VirtualPath,
        /// `ls` options the client sent (e.g. `-la`), for the application to honour or ignore.
        /// `None` on the second request of a wildcard listing (`LIST -ld *.txt`: nothing is
        /// named `*.txt`, so the session asks for the directory and filters its entries with
        /// [`ListFormat::pattern`]): the entries that match are listed themselves.
        options: Option<String>,
        /// Which listing.
        kind: ListKind,
    },
    /// MLST: the facts of one object. Answer `Entry` or `Error`.
    Facts {
        /// The object.
        path: VirtualPath,
    },
    /// SIZE. Answer `Size` or `Error`.
    Size {
        /// The file.
        path: VirtualPath,
        /// TYPE A is in force: RFC 3659 section 4 asks for the size as transferred (CRLF line
        /// ends). An application that cannot count it answers `Error(FsError::NotSupported)`,
        /// which the session sends as 550 "SIZE not available in ASCII mode" (ftp-server-tokio
        /// does so for every back-end).
        ascii: bool,
    },
    /// MDTM. Answer `Time` or `Error`.
    ModificationTime {
        /// The file.
        path: VirtualPath,
    },
    /// MFMT or the MDTM set form. Answer `Time` with the time the file has now (a file system
    /// may clamp or round the one asked for; MFMT's reply reports it), `Ok`, or `Error`.
    SetModificationTime {
        /// The file.
        path: VirtualPath,
        /// The new time (UTC).
        time: Timestamp,
    },
    /// DELE. Answer `Ok` or `Error`.
    Delete {
        /// The file.
        path: VirtualPath,
    },
    /// RMD/XRMD. Answer `Ok` or `Error`.
    RemoveDir {
        /// The directory.
        path: VirtualPath,
    },
    /// MKD/XMKD. Answer `Ok` or `Error`.
    MakeDir {
        /// The directory.
        path: VirtualPath,
    },
    /// RNFR: does the source exist and may it be renamed? Answer `Ok` or `Error`.
    RenameFrom {
        /// The source.
        path: VirtualPath,
    },
    /// RNTO: rename. Answer `Ok` or `Error`.
    Rename {
        /// The source given with RNFR.
        from: VirtualPath,
        /// The destination.
        to: VirtualPath,
    },
    /// HASH/XCRC/XMD5/XSHA1/XSHA256: compute a checksum. Answer `Checksum` or `Error`.
    Checksum {
        /// The file.
        path: VirtualPath,
        /// The algorithm.
        algorithm: HashAlgorithm,
        /// Byte range (start, end), or the whole file.
        range: Option<(u64, u64)>,
    },
    /// AVBL: free space in bytes. Answer `Size` or `Error`.
    Available {
        /// The directory.
        path: VirtualPath,
    },
    /// `SITE CHMOD <mode> <path>`, when [`Capabilities::site_commands`](super::Capabilities)
    /// holds `CHMOD`: set the permission bits of `path`. The session has checked the syntax
    /// (501 otherwise): `mode` is at most `0o777` (set-user-ID, set-group-ID and sticky bits
    /// are refused). Answer `Ok` (200) or `Error`.
    SetPermissions {
        /// The file or directory.
        path: VirtualPath,
        /// The permission bits, `0o000` to `0o777`.
        mode: u32,
    },
    /// SITE: a site command (not HELP, not CHMOD). Answer `Reply` or `Error`.
    Site {
        /// The sub-command in upper case, e.g. `UMASK`.
        command: String,
        /// The rest of the line, byte-exact.
        args: Vec<u8>,
        /// The cwd, for resolving paths in the arguments with [`VirtualPath::resolve`].
        cwd: VirtualPath,
    },
}

/// Why a file operation failed; each maps to its reply code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FsError {
    /// 550: no such file or directory.
    #[error("no such file or directory")]
    NotFound,
    /// 550: permission denied.
    #[error("permission denied")]
    PermissionDenied,
    /// 550: the target already exists.
    #[error("file exists")]
    AlreadyExists,
    /// 550: a path component is not a directory.
    #[error("not a directory")]
    NotADirectory,
    /// 550: the path is a directory where a file was expected.
    #[error("is a directory")]
    IsADirectory,
    /// 550: the directory is not empty.
    #[error("directory not empty")]
    DirectoryNotEmpty,
    /// 450: the file is busy; try later.
    #[error("file busy")]
    Busy,
    /// 452: not enough storage space.
    #[error("insufficient storage space")]
    InsufficientStorage,
    /// 552: the user's storage allocation (quota) is exceeded.
    #[error("exceeded storage allocation")]
    QuotaExceeded,
    /// 553: the name is not allowed.
    #[error("file name not allowed")]
    NameNotAllowed,
    /// 504: the operation is not supported for this object.
    #[error("operation not supported")]
    NotSupported,
    /// 554 (RFC 3659 section 5.5): the restart offset (REST) lies past the end of the file, so
    /// resuming there would send nothing or pad the file with a hole.
    #[error("restart offset past the end of the file")]
    OffsetPastEnd,
    /// 451: a local error (I/O error, back-end failure).
    #[error("local error in processing")]
    Local,
    /// 451: the file ended before the size announced for its download: it was cut or
    /// replaced while it was being sent, so what the client got is not the file.
    #[error("file changed while it was being sent")]
    Changed,
}

impl FsError {
    /// The reply code for this error (RFC 959 section 4.2).
    pub fn reply_code(&self) -> ReplyCode {
        match self {
            Self::NotFound
            | Self::PermissionDenied
            | Self::AlreadyExists
            | Self::NotADirectory
            | Self::IsADirectory
            | Self::DirectoryNotEmpty => ReplyCode::FILE_UNAVAILABLE,
            Self::Busy => ReplyCode::FILE_ACTION_NOT_TAKEN,
            Self::InsufficientStorage => ReplyCode::INSUFFICIENT_STORAGE,
            Self::QuotaExceeded => ReplyCode::EXCEEDED_STORAGE,
            Self::NameNotAllowed => ReplyCode::FILE_NAME_NOT_ALLOWED,
            Self::NotSupported => ReplyCode::PARAMETER_NOT_IMPLEMENTED,
            Self::OffsetPastEnd => ReplyCode::INVALID_REST_PARAMETER,
            Self::Local | Self::Changed => ReplyCode::LOCAL_ERROR,
        }
    }
}

/// The application's answer to a [`Request`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Response {
    /// Done / allowed.
    Ok,
    /// Login accepted (230).
    LoggedIn,
    /// Login refused (530 after the configured delay).
    LoginRejected,
    /// The authentication back-end is unavailable (421, temporary; the session closes).
    LoginUnavailable,
    /// The credentials are right but the user already has as many sessions as allowed (421,
    /// temporary; the session closes).
    TooManySessions,
    /// A size in bytes (SIZE, AVBL).
    Size(u64),
    /// A modification time (MDTM).
    Time(Timestamp),
    /// Directory entries (LIST, NLST, MLSD, STAT path) and the current UTC time, which decides
    /// whether LIST shows a time or a year for each entry.
    Entries {
        /// The entries.
        entries: Vec<Entry>,
        /// The current time (UTC), from the application's clock.
        now: Timestamp,
    },
    /// One object's facts (MLST).
    Entry(Entry),
    /// The file STOU created.
    Created(VirtualPath),
    /// A checksum as lower-case hex, and the file size (for HASH's range).
    Checksum {
        /// Hex digest.
        hex: String,
        /// File size in bytes.
        size: u64,
    },
    /// A complete reply chosen by the application (SITE).
    Reply(Reply),
    /// The operation failed.
    Error(FsError),
}

/// Address family of a passive listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// IPv4 (PASV, EPSV 1).
    Ipv4,
    /// IPv6 (EPSV 2).
    Ipv6,
}

/// How a streamed listing is written: which form, which MLSx facts, which names.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListFormat {
    /// LIST, NLST or MLSD.
    pub kind: ListKind,
    /// The MLSx facts selected with OPTS MLST (used for MLSD).
    pub facts: crate::listing::Facts,
    /// Only entries whose name matches this wildcard pattern are written
    /// ([`glob_match`](crate::listing::glob_match)): the last segment of a LIST, NLST or STAT
    /// argument such as `*.txt`. `None`: every entry.
    pub pattern: Option<std::sync::Arc<[u8]>>,
    /// NLST: written before each name. The directory as the client named it (`dir/` for
    /// `NLST dir` or `NLST dir/*.txt`), so that each line is a path the client can RETR for a
    /// multiple get, as vsftpd and proftpd answer; `None` without an argument.
    pub prefix: Option<std::sync::Arc<[u8]>>,
}

impl ListFormat {
    /// Appends one entry's line to `out`; `now` (UTC, from the application's clock) decides
    /// whether LIST shows a time or a year. Entries whose name cannot be put on a line are
    /// refused and should be skipped.
    pub fn write(
        &self,
        entry: &Entry,
        now: Timestamp,
        out: &mut Vec<u8>,
    ) -> Result<(), crate::listing::UnrepresentableName> {
        if let Some(pattern) = &self.pattern
            && !crate::listing::glob_match(pattern, &entry.name)
        {
            return Ok(());
        }
        match self.kind {
            ListKind::List | ListKind::Stat => crate::listing::list_line(entry, now, out),
            ListKind::Nlst => {
                let start = out.len();
                out.extend_from_slice(self.prefix.as_deref().unwrap_or_default());
                crate::listing::nlst_line(entry, out).inspect_err(|_| out.truncate(start))
            }
            ListKind::Mlsd => crate::listing::mlsx_line(entry, self.facts, out),
        }
    }
}

/// Direction of a file transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Server to client (RETR): read what the application opened for the ticket, write the socket.
    Send,
    /// Client to server (STOR, APPE, STOU): read the socket, write what the application opened.
    Receive,
}

/// What the driver must do with data connections.
///
/// The lifecycle of one channel: `Listen` (report `Listening` or `Failed` promptly) or
/// `Connect` (report `Connected` or `Failed`); then at most one of `Transfer`, `SendListing` or
/// `StreamListing`, after which the driver closes the data connection (for TLS with
/// close_notify; in stream mode the close marks the end of the file) and reports `Finished`
/// exactly once; or `Close` at any time, after which nothing is reported for that id. A passive
/// listener stops listening after the first connection it accepts from the control peer; a
/// connection that drops before a transfer is reported as `Failed`. The driver enforces a data
/// idle timeout while copying and reports a stalled copy as
/// `Finished(Err(TransferError::ConnectionLost))`.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DataAction {
    /// Open a passive listener on the control connection's local IP (a port from the
    /// configured range) and report [`DataInput::Listening`]. Accept only connections from the
    /// control peer's IP and report [`DataInput::Connected`] for the first one.
    Listen {
        /// The channel.
        id: DataId,
        /// The family to listen on.
        family: Family,
    },
    /// Connect to a client's address (PORT/EPRT, already checked against policy) and report
    /// [`DataInput::Connected`] or [`DataInput::Failed`].
    Connect {
        /// The channel.
        id: DataId,
        /// The client's data address.
        to: SocketAddr,
    },
    /// Copy file data for `ticket` over the connected channel, then report
    /// [`DataInput::Finished`]. Convert line ends with [`crate::ascii`] when `ascii` is set.
    Transfer {
        /// The channel.
        id: DataId,
        /// The request whose opened file to use.
        ticket: Ticket,
        /// Which way.
        direction: Direction,
        /// TYPE A is in force.
        ascii: bool,
        /// PROT P is in force: protect the data connection with TLS.
        protected: bool,
    },
    /// Send these listing bytes (already in wire form) over the connected channel, close it,
    /// then report [`DataInput::Finished`].
    SendListing {
        /// The channel.
        id: DataId,
        /// The listing.
        bytes: Vec<u8>,
        /// PROT P is in force.
        protected: bool,
    },
    /// Stream a listing for `ticket` over the connected channel: read the directory the
    /// application prepared and write each entry with [`ListFormat::write`], then close the
    /// connection and report [`DataInput::Finished`].
    StreamListing {
        /// The channel.
        id: DataId,
        /// The List request whose answer was `Ok`.
        ticket: Ticket,
        /// How to write the entries.
        format: ListFormat,
        /// PROT P is in force.
        protected: bool,
    },
    /// Close the channel (listener or connection) now, aborting any copy. Do not report it.
    Close {
        /// The channel.
        id: DataId,
    },
    /// The approved request `ticket` (RETR, STOR, APPE, STOU or a streamed listing) will not be
    /// carried out (aborted, timed out, no connection): release what was opened for it.
    Release {
        /// The request.
        ticket: Ticket,
    },
}

impl fmt::Debug for DataAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Listen { id, family } => write!(f, "Listen({id:?}, {family:?})"),
            Self::Connect { id, to } => write!(f, "Connect({id:?}, {to})"),
            Self::Transfer {
                id,
                ticket,
                direction,
                ascii,
                protected,
            } => write!(
                f,
                "Transfer({id:?}, {ticket:?}, {direction:?}, ascii={ascii}, protected={protected})"
            ),
            Self::SendListing {
                id,
                bytes,
                protected,
            } => write!(
                f,
                "SendListing({id:?}, {} bytes, protected={protected})",
                bytes.len()
            ),
            Self::StreamListing {
                id,
                ticket,
                format,
                protected,
            } => write!(
                f,
                "StreamListing({id:?}, {ticket:?}, {:?}, protected={protected})",
                format.kind
            ),
            Self::Close { id } => write!(f, "Close({id:?})"),
            Self::Release { ticket } => write!(f, "Release({ticket:?})"),
        }
    }
}

/// Why a data connection could not be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// No listener could be opened (no free port in the range, bind failed).
    #[error("cannot listen")]
    Listen,
    /// The active connection failed or was refused.
    #[error("cannot connect")]
    Connect,
    /// The TLS handshake on the data connection failed (522).
    #[error("data connection security failed")]
    Tls,
    /// The data connection's TLS handshake did not resume the control connection's TLS
    /// session, and the server requires it (522): proof that the data connection comes from
    /// the client on the control connection.
    #[error("data connection did not resume the control connection's TLS session")]
    TlsNotResumed,
}

impl DataError {
    /// A failure of the data connection's TLS (522), either kind.
    pub fn is_tls(self) -> bool {
        matches!(self, Self::Tls | Self::TlsNotResumed)
    }
}

/// How a transfer ended badly.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransferError {
    /// The data connection broke or the peer closed it early (426).
    #[error("connection closed; transfer aborted")]
    ConnectionLost,
    /// The file operation failed (its own reply code: 451, 452, 552, 553, 550).
    #[error("{0}")]
    Storage(FsError),
}

/// Facts the driver reports about data channels.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DataInput {
    /// The passive listener is ready; `addr` is what to announce (masquerade applied).
    Listening {
        /// The channel.
        id: DataId,
        /// The address clients should connect to.
        addr: SocketAddr,
    },
    /// The data connection is established (accepted from the control peer, or connected).
    Connected {
        /// The channel.
        id: DataId,
    },
    /// The channel could not be established.
    Failed {
        /// The channel.
        id: DataId,
        /// Why.
        error: DataError,
    },
    /// Bytes moved so far (optional, for STAT during a transfer).
    Progress {
        /// The channel.
        id: DataId,
        /// Bytes transferred so far.
        bytes: u64,
    },
    /// The transfer or listing ended.
    Finished {
        /// The channel.
        id: DataId,
        /// Bytes transferred, or why it failed.
        result: Result<u64, TransferError>,
    },
}

/// What the session wants done. Drain with [`super::Session::poll_output`] after every input.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "outputs must be carried out"]
#[non_exhaustive]
pub enum Output {
    /// Bytes to write to the control connection (consecutive replies are coalesced).
    Transmit(Vec<u8>),
    /// A data-channel action.
    Data(DataAction),
    /// A decision for the application; answer it with [`super::Session::respond`].
    Request {
        /// Pass it back with the response.
        ticket: Ticket,
        /// What is asked.
        request: Request,
    },
    /// Flush what was transmitted (the 234 reply), then start the TLS handshake on the control
    /// connection and call [`super::Session::handle_tls_established`] when it completes.
    UpgradeTls,
    /// Flush, then end TLS on the control connection (CCC) and continue in clear text.
    DowngradeTls,
    /// Flush, then close the control connection (and any data channels).
    Close,
}

/// A driver called the session in a way the contract does not allow (local misuse).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UsageError {
    /// No request with this ticket is waiting for an answer.
    #[error("unknown or already answered ticket")]
    UnknownTicket,
    /// The response does not fit the request (e.g. `Size` for a DELE); the client got a 451.
    #[error("response does not match the request")]
    MismatchedResponse,
}
