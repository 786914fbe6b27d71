//! The client's error type.

use std::io;

use ftp_proto::client::{SessionError, TransferError, UsageError};
use ftp_proto::{Reply, ReplyCode};

/// Why a client operation failed.
///
/// [`Error::code`] gives the server's reply code when there is one, so callers can tell a
/// missing file (550) from a full disk (552) without matching every variant.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Connecting to the server failed.
    #[error("cannot connect: {0}")]
    Connect(#[source] io::Error),
    /// A step did not finish within its timeout (`what` names the step).
    #[error("timed out: {0}")]
    Timeout(&'static str),
    /// The control connection failed.
    #[error("control connection: {0}")]
    Io(#[from] io::Error),
    /// The server answered with a negative (or otherwise unexpected) reply.
    #[error("server replied {}", show(.0))]
    Reply(Reply),
    /// A transfer failed (see [`TransferError`] for the cases).
    #[error("transfer: {0}")]
    Transfer(TransferError),
    /// The session ended (the server closed the connection, sent 421, stopped answering, or
    /// sent something that is not FTP).
    #[error("session: {0}")]
    Session(#[from] SessionError),
    /// The command cannot be sent (a CR, LF or NUL in an argument, for instance).
    #[error("{0}")]
    Usage(#[from] UsageError),
    /// A raw command line given to [`crate::Client::quote_line`] is not valid FTP; nothing
    /// was sent.
    #[error("invalid command line: {0}")]
    InvalidCommand(#[source] ftp_proto::ParseError),
    /// A reply could not be understood (a SIZE without a number, a 257 without a path).
    #[error("cannot understand the reply {}: {reason}", show(.reply))]
    BadReply {
        /// The reply.
        reply: Reply,
        /// What is wrong with it.
        reason: String,
    },
    /// A local file operation failed.
    #[error("{path}: {source}")]
    Local {
        /// The local path.
        path: String,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// A name from a server listing is not safe to use as a local file name (`..`, a path
    /// separator, a control character); the entry was not written.
    #[error("unsafe name in listing: {0:?}")]
    UnsafeName(String),
    /// A binary download ended with a length other than the size the server announced with
    /// SIZE, although the server reported success: the data connection was cut short (or
    /// carried more than the file). `got` counts a resumed download's local part too. A
    /// resumed download's local file has been cut back to its length before the resume.
    #[error("partial file: expected {expected} bytes, got {got}")]
    PartialFile {
        /// The size SIZE announced.
        expected: u64,
        /// The size the local copy would have had.
        got: u64,
    },
    /// A resumed download (REST `offset`) came back as the whole file: the server accepted
    /// REST but sent from the file's start. The local file has been cut back to `offset`
    /// bytes, its length before the resume, so nothing corrupt is left.
    #[error(
        "the server ignored REST {offset} and sent the whole file; the local file was cut back to \
         {offset} bytes"
    )]
    RestIgnored {
        /// The resume offset, the local file's length before and after.
        offset: u64,
    },
    /// The server reported a download complete but no data connection was ever made (active
    /// mode: nothing connected back, or only a foreign address, which is refused).
    #[error("no data connection: the server replied {} but never connected", show(.0))]
    NoDataConnection(Reply),
    /// A directory tree being downloaded is deeper than the limit (see
    /// [`crate::Client::download_dir`]): most likely a cycle of links on the server.
    #[error("directory tree deeper than {0} levels (a cycle on the server?)")]
    TooDeep(usize),
    /// The operation was cancelled; the transfer was aborted and the session is usable.
    #[error("cancelled")]
    Cancelled,
    /// A listing was larger than the configured cap.
    #[error("listing larger than {0} bytes")]
    ListingTooLarge(usize),
    /// The TLS handshake on the control connection failed (an untrusted certificate, a name
    /// that does not match, no common protocol version, plaintext where TLS was due ...), or
    /// the server accepted AUTH while no TLS configuration was given. The connection is
    /// closed.
    #[error("TLS: {0}")]
    Tls(#[source] io::Error),
    /// The TLS settings cannot be used (a PEM file without certificates, an invalid server
    /// name).
    #[error("TLS configuration: {0}")]
    TlsConfig(String),
    /// The server refused `AUTH TLS` (or PBSZ/PROT P) while TLS was required: nothing else,
    /// in particular no user name or password, was sent.
    #[error("the server refused TLS: {}", show(.0))]
    TlsRefused(Reply),
    /// The operation would send credentials in clear on a client configured to require TLS.
    #[error("TLS is required but the control connection is not protected")]
    TlsRequired,
}

fn show(reply: &Reply) -> String {
    format!("{} {}", reply.code(), reply.text())
}

impl Error {
    /// The server's reply code, when the error carries a reply.
    pub fn code(&self) -> Option<ReplyCode> {
        self.reply().map(Reply::code)
    }

    /// The server's reply, when the error carries one.
    pub fn reply(&self) -> Option<&Reply> {
        match self {
            Self::Reply(reply)
            | Self::BadReply { reply, .. }
            | Self::TlsRefused(reply)
            | Self::NoDataConnection(reply) => Some(reply),
            Self::Transfer(
                TransferError::Refused(reply)
                | TransferError::Failed { reply, .. }
                | TransferError::UnexpectedReply(reply)
                | TransferError::Copy {
                    reply: Some(reply), ..
                },
            ) => Some(reply),
            Self::Session(SessionError::ServiceClosing(reply))
            | Self::Transfer(TransferError::Session(SessionError::ServiceClosing(reply))) => {
                Some(reply)
            }
            _ => None,
        }
    }

    /// True when the server said the file or directory does not exist or is not accessible
    /// (550).
    pub fn is_not_found(&self) -> bool {
        self.code() == Some(ReplyCode::FILE_UNAVAILABLE)
    }

    /// True when the control connection can no longer be used: reconnect.
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            Self::Connect(_)
                | Self::Io(_)
                | Self::Tls(_)
                | Self::Session(_)
                | Self::Transfer(TransferError::Session(_))
        ) || matches!(self, Self::Usage(UsageError::Closed))
    }
}

impl From<TransferError> for Error {
    fn from(error: TransferError) -> Self {
        match error {
            TransferError::Session(e) => Self::Session(e),
            other => Self::Transfer(other),
        }
    }
}

impl From<Error> for io::Error {
    fn from(error: Error) -> Self {
        match error {
            Error::Io(e) => e,
            Error::Timeout(_) => io::Error::new(io::ErrorKind::TimedOut, error),
            other => io::Error::other(other),
        }
    }
}
