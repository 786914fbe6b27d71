//! The client's error type.

use std::fmt;
use std::io;

use ftp_proto::client::{CopyError, DataError, SessionError, TransferError, UsageError};
use ftp_proto::{Reply, ReplyCode, Timestamp};

/// Why a client operation failed.
///
/// [`Error::code`] gives the server's reply code when there is one, so callers can tell a
/// missing file (550) from a full disk (552) without matching every variant;
/// [`Error::is_transient`] and [`Error::is_permanent`] sort replies by their first digit,
/// [`Error::is_timeout`] finds every timeout and [`Error::is_fatal`] says when to reconnect.
/// As an [`io::Error`] (what [`crate::RetrStream`] yields), every timeout has the kind
/// [`io::ErrorKind::TimedOut`].
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
    /// The server sent no greeting: right after the client connected, it closed the
    /// connection ([`SessionError::ConnectionClosed`]) or stayed silent for the reply timeout
    /// ([`SessionError::Timeout`]), or sent only part of one
    /// ([`SessionError::IncompleteReply`]) or only 1yz replies
    /// ([`SessionError::NoFinalReply`]) within it. A port that expects TLS from the first
    /// byte (implicit FTPS, conventionally 990) closes or stays silent to a client that waits
    /// for the greeting in clear (plain FTP or [`crate::ClientBuilder::tls`]), so the message
    /// then asks whether it is one ([`Error::suggests_implicit_tls`]).
    ///
    /// ```
    /// use ftp_client_tokio::Error;
    /// use ftp_client_tokio::ftp_proto::client::SessionError;
    /// let err = Error::NoGreeting { error: SessionError::ConnectionClosed, in_clear: true };
    /// assert_eq!(
    ///     err.to_string(),
    ///     "the server closed the connection before its greeting: is this an implicit-TLS port?"
    /// );
    /// assert!(err.is_fatal() && !err.is_timeout());
    /// // Some text came, just not a whole reply: not a TLS port.
    /// let err = Error::NoGreeting { error: SessionError::IncompleteReply, in_clear: true };
    /// assert_eq!(err.to_string(), "incomplete greeting from the server within the timeout");
    /// ```
    #[error("{}", no_greeting(.error, *.in_clear))]
    NoGreeting {
        /// The connection closed, or the reply timeout passed.
        #[source]
        error: SessionError,
        /// The client waited for the greeting in clear, not after an implicit-TLS handshake.
        in_clear: bool,
    },
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
    /// A binary download ended shorter than the size the server announced with SIZE,
    /// although the server reported success: the data connection was cut short. `got` counts
    /// a resumed download's local part too. A resumed download's local file has been cut back
    /// to its length before the resume.
    #[error("partial file: expected {expected} bytes, got {got}")]
    PartialFile {
        /// The size SIZE announced.
        expected: u64,
        /// The size the local copy would have had.
        got: u64,
    },
    /// A binary download carried more than the size the server announced with SIZE: it was
    /// stopped as soon as it did (the transfer is aborted before the next command). A resumed
    /// download's local file has been cut back to its length before the resume; otherwise the
    /// local file holds what arrived (a little past `expected` bytes).
    #[error("the server sent more than the {expected} bytes SIZE announced")]
    TooLong {
        /// The size SIZE announced.
        expected: u64,
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
    /// No data moved on a transfer's data connection for longer than the data timeout (after
    /// `bytes` bytes), and the server did not send its final reply within the reply timeout
    /// after that either: the server stalled, and the session has ended ([`Error::is_fatal`]).
    /// (When the server does answer, the error is [`Error::Transfer`] with
    /// [`CopyError::TimedOut`], and the session goes on.)
    #[error("data connection timed out after {bytes} bytes, and the server did not reply in time")]
    DataTimeout {
        /// Bytes moved over the data connection before it stalled.
        bytes: u64,
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
    /// A listing was larger than the configured cap
    /// ([`crate::ClientBuilder::max_listing`]).
    #[error("listing larger than {0} bytes")]
    ListingTooLarge(usize),
    /// A listing held more entries than the configured cap
    /// ([`crate::ClientBuilder::max_listing_entries`]).
    #[error("listing has more than {0} entries")]
    TooManyEntries(usize),
    /// The TLS handshake on the control connection failed (an untrusted certificate, a name
    /// that does not match, no common protocol version, plaintext where TLS was due ...), or
    /// the server accepted AUTH while no TLS configuration was given. The connection is
    /// closed. [`Error::tls_problem`] names the common causes, and the message explains them.
    #[error("TLS: {}", tls_reason(.0))]
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

/// The server sent nothing at all: what a port expecting TLS from the first byte does.
fn silent(error: &SessionError) -> bool {
    matches!(
        error,
        SessionError::ConnectionClosed | SessionError::Timeout
    )
}

fn no_greeting(error: &SessionError, in_clear: bool) -> String {
    let what = match error {
        SessionError::ConnectionClosed => {
            "the server closed the connection before its greeting".to_owned()
        }
        SessionError::Timeout => "no greeting from the server within the timeout".to_owned(),
        SessionError::IncompleteReply => {
            "incomplete greeting from the server within the timeout".to_owned()
        }
        SessionError::NoFinalReply => {
            "no greeting from the server within the timeout (only 1yz preliminary replies)"
                .to_owned()
        }
        other => format!("no greeting: {other}"),
    };
    if in_clear && silent(error) {
        format!("{what}: is this an implicit-TLS port?")
    } else {
        what
    }
}

/// [`Error::Tls`]'s message: the common causes explained, with what to do about an
/// untrusted certificate; rustls's own words for the rest.
fn tls_reason(error: &io::Error) -> String {
    match crate::tls::problem(error) {
        Some(problem @ TlsProblem::UntrustedCertificate) => {
            format!("{problem}: add its CA certificate to the trusted roots")
        }
        Some(problem @ TlsProblem::UntrustedCaCertificate) => {
            format!("{problem}: add that certificate itself to the trusted roots")
        }
        Some(problem @ TlsProblem::NotTls) => {
            format!("{problem} (what it sent is not a TLS record)")
        }
        Some(problem) => problem.to_string(),
        None => error.to_string(),
    }
}

/// The common causes of a failed TLS handshake ([`Error::tls_problem`]), the ones a user
/// can do something about. Its `Display` says what happened, without advice: [`Error`]'s
/// message adds the library's, and a program can add its own (the `ftp` CLI names its
/// flags).
///
/// ```
/// use ftp_client_tokio::TlsProblem;
/// assert_eq!(
///     TlsProblem::UntrustedCertificate.to_string(),
///     "the server's certificate is not trusted (self-signed or unknown issuer)"
/// );
/// let not_after = ftp_client_tokio::ftp_proto::Timestamp::from_unix(978_307_200);
/// assert_eq!(
///     TlsProblem::Expired { not_after }.to_string(),
///     "the server's certificate has expired (valid until 2001-01-01 00:00:00 UTC)"
/// );
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlsProblem {
    /// The server's certificate does not chain to a trusted root: it is self-signed, or
    /// signed by a CA that was not added.
    UntrustedCertificate,
    /// The server's certificate is marked as a CA certificate (basicConstraints cA=TRUE, as
    /// the self-signed certificates `openssl req -x509` makes are) and was not itself added
    /// as trusted. Adding it makes it acceptable (see [`crate::TlsConfig`]).
    UntrustedCaCertificate,
    /// The server's certificate has expired.
    Expired {
        /// The end of its validity period, when rustls said.
        not_after: Option<Timestamp>,
    },
    /// The server's certificate is not valid yet (or the local clock is behind).
    NotYetValid {
        /// The start of its validity period, when rustls said.
        not_before: Option<Timestamp>,
    },
    /// The server did not answer with TLS: its first bytes are not a TLS record. With
    /// implicit TLS ([`crate::ClientBuilder::implicit_tls`]) this is usually a port for
    /// plain FTP or explicit TLS (`AUTH TLS`), which greets in clear.
    NotTls,
}

impl fmt::Display for TlsProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let utc = |t: &Timestamp| {
            format!(
                "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
                t.year(),
                t.month(),
                t.day(),
                t.hour(),
                t.minute(),
                t.second()
            )
        };
        match self {
            Self::UntrustedCertificate => f.write_str(
                "the server's certificate is not trusted (self-signed or unknown issuer)",
            ),
            Self::UntrustedCaCertificate => f.write_str(
                "the server's certificate is not trusted (it is marked as a CA certificate, as \
                 self-signed ones often are)",
            ),
            Self::Expired { not_after: None } => {
                f.write_str("the server's certificate has expired")
            }
            Self::Expired { not_after: Some(t) } => write!(
                f,
                "the server's certificate has expired (valid until {})",
                utc(t)
            ),
            Self::NotYetValid { not_before: None } => {
                f.write_str("the server's certificate is not valid yet")
            }
            Self::NotYetValid {
                not_before: Some(t),
            } => write!(
                f,
                "the server's certificate is not valid yet (valid from {})",
                utc(t)
            ),
            Self::NotTls => f.write_str("the server did not answer with TLS"),
        }
    }
}

impl Error {
    /// True when the server sent nothing at all before closing or timing out, to a client
    /// waiting for the greeting in clear: the port may expect TLS from the first byte.
    pub fn suggests_implicit_tls(&self) -> bool {
        matches!(self, Self::NoGreeting { error, in_clear: true } if silent(error))
    }

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

    /// What went wrong in a failed TLS handshake ([`Error::Tls`]), when it is one of the
    /// common causes a user can act on; `None` for other errors and rarer causes (a name the
    /// certificate does not cover, for instance, which rustls explains itself).
    ///
    /// ```
    /// use ftp_client_tokio::Error;
    /// let timed_out = std::io::Error::new(std::io::ErrorKind::TimedOut, "TLS handshake timed out");
    /// assert_eq!(Error::Tls(timed_out).tls_problem(), None);
    /// ```
    pub fn tls_problem(&self) -> Option<TlsProblem> {
        match self {
            Self::Tls(e) => crate::tls::problem(e),
            _ => None,
        }
    }

    /// True when the server answered 550: the file or directory is **not found or not
    /// accessible**. FTP uses this one code for a path that does not exist, for one the user
    /// may not read or change ("Permission denied") and for a directory that cannot be
    /// removed ("Directory not empty"); only the reply text, which no standard fixes, tells
    /// them apart. Show [`Error::reply`]'s text to a person; do not take this as proof that
    /// the path is absent.
    ///
    /// ```
    /// use ftp_client_tokio::Error;
    /// use ftp_client_tokio::ftp_proto::{Reply, ReplyCode};
    /// let missing = Error::Reply(Reply::new(ReplyCode::FILE_UNAVAILABLE, "No such file"));
    /// let denied = Error::Reply(Reply::new(ReplyCode::FILE_UNAVAILABLE, "Permission denied"));
    /// assert!(missing.is_not_found() && denied.is_not_found());
    /// let full = Error::Reply(Reply::new(ReplyCode::EXCEEDED_STORAGE, "Quota exceeded"));
    /// assert!(!full.is_not_found());
    /// ```
    pub fn is_not_found(&self) -> bool {
        self.code() == Some(ReplyCode::FILE_UNAVAILABLE)
    }

    /// True when the server refused with a transient negative reply (4yz: 421, 425, 426,
    /// 450, 451, 452 ...): the same request may work if tried again later (after
    /// reconnecting when [`Error::is_fatal`]). Errors without a reply (a timeout, a lost
    /// connection) are neither transient nor permanent: see [`Error::is_timeout`] and
    /// [`Error::is_fatal`].
    ///
    /// ```
    /// use ftp_client_tokio::Error;
    /// use ftp_client_tokio::ftp_proto::{Reply, ReplyCode};
    /// let busy = Error::Reply(Reply::new(ReplyCode::FILE_ACTION_NOT_TAKEN, "File busy"));
    /// assert!(busy.is_transient() && !busy.is_permanent());
    /// let missing = Error::Reply(Reply::new(ReplyCode::FILE_UNAVAILABLE, "No such file"));
    /// assert!(!missing.is_transient());
    /// assert!(!Error::Timeout("connecting").is_transient());
    /// ```
    pub fn is_transient(&self) -> bool {
        self.code().is_some_and(ReplyCode::is_transient_negative)
    }

    /// True when the server refused with a permanent negative reply (5yz: 500, 530, 550,
    /// 552, 553 ...): trying the same request again will fail the same way.
    ///
    /// ```
    /// use ftp_client_tokio::Error;
    /// use ftp_client_tokio::ftp_proto::{Reply, ReplyCode};
    /// let denied = Error::Reply(Reply::new(ReplyCode::FILE_UNAVAILABLE, "Permission denied"));
    /// assert!(denied.is_permanent() && !denied.is_transient());
    /// let login = Error::Reply(Reply::new(ReplyCode::NOT_LOGGED_IN, "Login incorrect"));
    /// assert!(login.is_permanent());
    /// let aborted = Error::Reply(Reply::new(ReplyCode::CONNECTION_CLOSED, "Transfer aborted"));
    /// assert!(!aborted.is_permanent());
    /// ```
    pub fn is_permanent(&self) -> bool {
        self.code().is_some_and(ReplyCode::is_permanent_negative)
    }

    /// True when something did not happen in time: connecting, a reply (the reply timeout),
    /// data on a data connection or the server's connection to an active-mode listener (the
    /// data timeout), or the start of a transfer. Converted to an [`io::Error`], these have
    /// the kind [`io::ErrorKind::TimedOut`].
    ///
    /// ```
    /// use ftp_client_tokio::Error;
    /// use ftp_client_tokio::ftp_proto::client::SessionError;
    /// let stalled = Error::DataTimeout { bytes: 1000 };
    /// assert!(stalled.is_timeout());
    /// assert_eq!(std::io::Error::from(stalled).kind(), std::io::ErrorKind::TimedOut);
    /// // The reply timeout too (also what a stalled transfer's server ends with).
    /// let no_reply = Error::Session(SessionError::Timeout);
    /// assert!(no_reply.is_timeout());
    /// assert_eq!(std::io::Error::from(no_reply).kind(), std::io::ErrorKind::TimedOut);
    /// assert!(!Error::Session(SessionError::ConnectionClosed).is_timeout());
    /// ```
    pub fn is_timeout(&self) -> bool {
        match self {
            Self::Session(e)
            | Self::NoGreeting { error: e, .. }
            | Self::Transfer(TransferError::Session(e)) => e.is_timeout(),
            Self::Timeout(_)
            | Self::DataTimeout { .. }
            | Self::Transfer(
                TransferError::Data(DataError::Accept)
                | TransferError::Copy {
                    error: CopyError::TimedOut,
                    ..
                },
            ) => true,
            Self::Connect(e) | Self::Io(e) | Self::Tls(e) => e.kind() == io::ErrorKind::TimedOut,
            _ => false,
        }
    }

    /// True when the control connection can no longer be used: reconnect.
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            Self::Connect(_)
                | Self::Io(_)
                | Self::Tls(_)
                | Self::Session(_)
                | Self::NoGreeting { .. }
                | Self::DataTimeout { .. }
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

/// The client error inside an [`io::Error`] (get it back with [`io::Error::get_ref`] and
/// `downcast_ref::<Error>()`); its kind is [`io::ErrorKind::TimedOut`] for every timeout
/// ([`Error::is_timeout`]), [`io::ErrorKind::Other`] otherwise. [`Error::Io`] gives its own
/// error back.
impl From<Error> for io::Error {
    fn from(error: Error) -> Self {
        match error {
            Error::Io(e) => e,
            timeout if timeout.is_timeout() => io::Error::new(io::ErrorKind::TimedOut, timeout),
            other => io::Error::other(other),
        }
    }
}
