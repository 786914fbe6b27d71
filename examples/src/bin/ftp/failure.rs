//! How the `ftp` CLI fails: the exit codes and the one-line message. Owns the mapping from
//! client errors to exit codes; it does not decide what to try next.

use std::fmt;
use std::process::ExitCode;

use ftp_client_tokio::ftp_proto::client::{CopyError, TransferError, UsageError};
use ftp_client_tokio::{Error, TlsProblem};

use crate::output::printable_text;

/// The exit codes, as `--help` lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exit {
    /// 2: bad command line or URL (clap uses 2 for its own usage errors too).
    Usage = 2,
    /// 3: the server cannot be reached, or the connection was lost or timed out.
    Connection = 3,
    /// 4: the server refused the login (530 and other negative replies to USER/PASS).
    Login = 4,
    /// 5: the server refused or failed an operation (550 no such file, 552, a broken
    /// transfer, an unsafe name in a listing ...).
    Remote = 5,
    /// 6: reading or writing a local file failed.
    Local = 6,
}

/// A failed run: the exit code and `ftp: <what>: <why>`, shown on one line with control
/// characters (from a server's reply, say) replaced, so nothing in it can drive the terminal.
#[derive(Debug)]
pub(crate) struct Failure {
    exit: Exit,
    what: String,
    why: String,
}

impl Failure {
    /// A failure of kind `exit` while doing `what`, because of `why`.
    pub(crate) fn new(exit: Exit, what: impl Into<String>, why: impl fmt::Display) -> Self {
        Self {
            exit,
            what: what.into(),
            why: why.to_string(),
        }
    }

    /// A usage error.
    pub(crate) fn usage(what: impl Into<String>, why: impl fmt::Display) -> Self {
        Self::new(Exit::Usage, what, why)
    }

    /// A local I/O failure.
    pub(crate) fn local(what: impl Into<String>, why: impl fmt::Display) -> Self {
        Self::new(Exit::Local, what, why)
    }

    /// A client error met while doing `what`, classified by [`exit_for`].
    pub(crate) fn client(what: impl Into<String>, error: &Error) -> Self {
        Self::new(exit_for(error), what, reason(error))
    }

    /// A failed connection (TLS set-up and greeting included) to `authority`, over
    /// implicit TLS (an `ftps://` URL) or not: exit code 3, and for the common TLS mistakes
    /// the flag or URL that would help.
    pub(crate) fn connect(authority: &str, error: &Error, implicit_tls: bool) -> Self {
        Self::new(
            Exit::Connection,
            format!("cannot connect to {authority}"),
            connect_reason(error, implicit_tls),
        )
    }

    /// The exit code.
    pub(crate) fn exit(&self) -> Exit {
        self.exit
    }

    /// The process exit code.
    pub(crate) fn code(&self) -> ExitCode {
        ExitCode::from(self.exit as u8)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // One line, whatever the server put in its reply, and no terminal escapes.
        let one_line = |s: &str| printable_text(&s.replace(['\r', '\n'], " "));
        write!(f, "ftp: {}: {}", one_line(&self.what), one_line(&self.why))
    }
}

/// The exit code for a client error met after login (login failures are decided by the
/// caller: see [`login_exit`]).
pub(crate) fn exit_for(error: &Error) -> Exit {
    if error.is_fatal() {
        return Exit::Connection;
    }
    match error {
        Error::Connect(_) | Error::Timeout(_) | Error::Io(_) | Error::Session(_) => {
            Exit::Connection
        }
        Error::Local { .. }
        | Error::Transfer(TransferError::Copy {
            error: CopyError::Local,
            ..
        }) => Exit::Local,
        Error::Usage(UsageError::Encode(_)) => Exit::Usage,
        _ => Exit::Remote,
    }
}

/// The exit code for a failed login: refused (4) unless the connection itself failed (3).
pub(crate) fn login_exit(error: &Error) -> Exit {
    match exit_for(error) {
        Exit::Connection => Exit::Connection,
        _ => Exit::Login,
    }
}

/// The "why" part of a message: the error without the words the "what" part already says.
fn reason(error: &Error) -> String {
    match error {
        Error::Connect(e) => e.to_string(),
        other => other.to_string(),
    }
}

/// The "why" part of a failed connection: the library's message, with this CLI's flags and
/// URL schemes in the advice for the mistakes that have one.
fn connect_reason(error: &Error, implicit_tls: bool) -> String {
    match error.tls_problem() {
        Some(problem @ TlsProblem::UntrustedCertificate) => {
            format!("TLS: {problem}: give its CA with --ca-file, or --insecure for a test server")
        }
        Some(problem @ TlsProblem::UntrustedCaCertificate) => format!(
            "TLS: {problem}: give that certificate with --ca-file, or --insecure for a test server"
        ),
        Some(problem @ TlsProblem::NotTls) if implicit_tls => format!(
            "TLS: {problem}: is this an explicit-TLS (AUTH TLS) port? use ftp:// with --tls"
        ),
        // The library's message ends by asking whether this is an implicit-TLS port.
        _ if error.suggests_implicit_tls() => {
            format!("{error} use ftps://")
        }
        _ => reason(error),
    }
}

#[cfg(test)]
mod tests {
    use std::io;

    use ftp_client_tokio::ftp_proto::client::SessionError;
    use ftp_client_tokio::ftp_proto::{Reply, ReplyCode};

    use super::*;

    #[test]
    fn exit_codes() {
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        assert_eq!(exit_for(&Error::Connect(refused)), Exit::Connection);
        assert_eq!(
            exit_for(&Error::Session(SessionError::ConnectionClosed)),
            Exit::Connection
        );
        let not_found = Reply::new(ReplyCode::FILE_UNAVAILABLE, "No such file");
        assert_eq!(exit_for(&Error::Reply(not_found.clone())), Exit::Remote);
        assert_eq!(
            exit_for(&Error::Transfer(TransferError::Refused(not_found))),
            Exit::Remote
        );
        let local = Error::Local {
            path: "out".into(),
            source: io::ErrorKind::PermissionDenied.into(),
        };
        assert_eq!(exit_for(&local), Exit::Local);
        let denied = Error::Reply(Reply::new(ReplyCode::NOT_LOGGED_IN, "Login incorrect"));
        assert_eq!(login_exit(&denied), Exit::Login);
        assert_eq!(
            login_exit(&Error::Session(SessionError::Timeout)),
            Exit::Connection
        );
    }

    #[test]
    fn no_greeting_in_clear_suggests_ftps() {
        let closed = Error::NoGreeting {
            error: SessionError::ConnectionClosed,
            in_clear: true,
        };
        let f = Failure::connect("h:21", &closed, false);
        assert_eq!(f.exit(), Exit::Connection);
        assert_eq!(
            f.to_string(),
            "ftp: cannot connect to h:21: the server closed the connection before its greeting: \
             is this an implicit-TLS port? use ftps://"
        );
        // After an implicit-TLS handshake the port was right: no advice.
        let after_tls = Error::NoGreeting {
            error: SessionError::Timeout,
            in_clear: false,
        };
        assert_eq!(
            Failure::connect("h:990", &after_tls, true).to_string(),
            "ftp: cannot connect to h:990: no greeting from the server within the timeout"
        );
        // Some text came (`220 hello` without its line end): not a TLS port, no advice.
        let incomplete = Error::NoGreeting {
            error: SessionError::IncompleteReply,
            in_clear: true,
        };
        assert_eq!(
            Failure::connect("h:21", &incomplete, false).to_string(),
            "ftp: cannot connect to h:21: incomplete greeting from the server within the timeout"
        );
    }

    #[test]
    fn message_is_one_line() {
        let f = Failure::usage("get x", "a\r\nb");
        assert_eq!(f.to_string(), "ftp: get x: a  b");
        assert_eq!(f.code(), ExitCode::from(2));
    }

    #[test]
    fn message_has_no_terminal_escapes() {
        let reply = Reply::new(
            ReplyCode::FILE_UNAVAILABLE,
            "\x1b]0;PWNED\x07\x1b[2J\x1b[31mRED\x08\u{9b}31m text",
        );
        let f = Failure::client("get \x1b[1mx", &Error::Reply(reply));
        let shown = f.to_string();
        assert_eq!(
            shown,
            "ftp: get ?[1mx: server replied 550 ?]0;PWNED??[2J?[31mRED??31m text"
        );
        assert!(!shown.chars().any(char::is_control), "{shown:?}");
    }
}
