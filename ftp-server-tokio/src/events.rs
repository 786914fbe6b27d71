//! Event hooks: what happened in the server, for the embedding application (audit logs,
//! metrics, post-processing of uploads).
//!
//! Owns the [`Event`] vocabulary and the [`EventHook`] type. Hooks are called on the session's
//! task after the fact (the client already has its reply), so they must be quick: hand slow
//! work to a channel or a spawned task.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ftp_proto::VirtualPath;
use ftp_proto::server::TransferError;

/// Which way a file moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferDirection {
    /// RETR: server to client.
    Download,
    /// STOR, STOU: client to server.
    Upload,
    /// APPE: client to server, appended.
    Append,
}

/// Something that happened in one session. Paths are storage paths (the user's home
/// included), so they name the same file whoever logged in.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A login succeeded.
    Login {
        /// The client.
        peer: SocketAddr,
        /// The user name (`anonymous` for anonymous logins).
        user: String,
    },
    /// A login was refused: a wrong password, an unknown or disabled user, an address the
    /// user may not log in from, or an address that used up its failed logins (then no
    /// password was checked). Feed it to a ban list (fail2ban and the like).
    LoginFailed {
        /// The client.
        peer: SocketAddr,
        /// The name given with USER, as sent (it may be anything, even a mistyped password).
        user: String,
    },
    /// A logged-in session ended (QUIT, timeout, disconnect or shutdown).
    Logout {
        /// The client.
        peer: SocketAddr,
        /// The user name.
        user: String,
    },
    /// A transfer ended with 226: every byte moved.
    TransferFinished {
        /// The client.
        peer: SocketAddr,
        /// The user name.
        user: String,
        /// The file.
        path: VirtualPath,
        /// Which way.
        direction: TransferDirection,
        /// Bytes moved over the data connection.
        bytes: u64,
        /// From the start of the copy to its end.
        duration: Duration,
    },
    /// A transfer did not complete (aborted, connection lost, storage error).
    TransferIncomplete {
        /// The client.
        peer: SocketAddr,
        /// The user name.
        user: String,
        /// The file.
        path: VirtualPath,
        /// Which way.
        direction: TransferDirection,
        /// Bytes moved before it stopped.
        bytes: u64,
        /// From the start of the copy to its end.
        duration: Duration,
        /// Why, when known (`None`: aborted by ABOR, shutdown or the session ending).
        error: Option<TransferError>,
    },
    /// DELE succeeded.
    FileDeleted {
        /// The client.
        peer: SocketAddr,
        /// The user name.
        user: String,
        /// The file.
        path: VirtualPath,
    },
    /// RNFR/RNTO succeeded.
    Renamed {
        /// The client.
        peer: SocketAddr,
        /// The user name.
        user: String,
        /// The old path.
        from: VirtualPath,
        /// The new path.
        to: VirtualPath,
    },
    /// MKD succeeded.
    DirectoryCreated {
        /// The client.
        peer: SocketAddr,
        /// The user name.
        user: String,
        /// The directory.
        path: VirtualPath,
    },
    /// RMD succeeded.
    DirectoryRemoved {
        /// The client.
        peer: SocketAddr,
        /// The user name.
        user: String,
        /// The directory.
        path: VirtualPath,
    },
}

/// A function called with every [`Event`]; shared by all sessions.
#[derive(Clone)]
pub struct EventHook(Arc<dyn Fn(&Event) + Send + Sync>);

impl EventHook {
    /// Wraps `hook`.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use ftp_server_tokio::events::{Event, EventHook};
    ///
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let sink = Arc::clone(&seen);
    /// let hook = EventHook::new(move |event: &Event| sink.lock().unwrap().push(event.clone()));
    /// hook.call(&Event::Login { peer: "127.0.0.1:5000".parse().unwrap(), user: "alice".into() });
    /// assert_eq!(seen.lock().unwrap().len(), 1);
    /// ```
    pub fn new(hook: impl Fn(&Event) + Send + Sync + 'static) -> Self {
        Self(Arc::new(hook))
    }

    /// Calls the hook.
    pub fn call(&self, event: &Event) {
        (self.0)(event);
    }
}

impl fmt::Debug for EventHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EventHook")
    }
}
