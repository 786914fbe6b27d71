//! Authentication: who may log in, where their files are, and what they may do.
//!
//! Owns the [`Authenticator`] trait the server is generic over, the [`Principal`] a login
//! produces (home directory and [`Permissions`]), and the back-ends that need no database:
//! anonymous access and a static set of users (the stores and PAM, behind features, live in
//! their own files). It does not decide *when* a login happens (the session does) and never
//! logs or stores passwords.

#[cfg(feature = "users-file")]
mod file;
mod network;
#[cfg(all(target_os = "linux", feature = "pam"))]
mod pam;
#[cfg(feature = "users-file")]
mod password;
mod permission_names;
#[cfg(any(feature = "sqlite", feature = "mysql", feature = "postgres"))]
mod sql;
mod users;
#[cfg(feature = "users-file")]
mod virtual_users;

#[cfg(feature = "users-file")]
pub use file::{FileStore, MAX_USERS_FILE};
pub use network::{IpNetwork, IpNetworkError};
#[cfg(all(target_os = "linux", feature = "pam"))]
pub use pam::{
    DEFAULT_MAX_CONCURRENT_PAM_LOGINS, DEFAULT_PAM_TIMEOUT, MAX_PAM_USER_NAME, PamServiceError,
    PamUsers,
};
#[cfg(feature = "users-file")]
pub use password::{HashedPassword, PasswordError};
pub use permission_names::{PERMISSION_NAMES, UnknownPermission};
#[cfg(any(feature = "sqlite", feature = "mysql", feature = "postgres"))]
pub use sql::{SQL_ACQUIRE_TIMEOUT, SQL_MAX_CONNECTIONS, SQL_SCHEMA_VERSION, SqlStore};
pub use users::{AnonymousPolicy, DuplicateUser, StaticUsers, UserEntry};
#[cfg(feature = "users-file")]
pub use virtual_users::{
    DEFAULT_MAX_CONCURRENT_VERIFICATIONS, DEFAULT_STORE_TIMEOUT, InvalidUserName, MAX_USER_NAME,
    StoreError, UserStore, VirtualUser, VirtualUsers, check_user_name, parse_home,
};

use std::future::Future;
use std::net::SocketAddr;

use ftp_proto::{Secret, VirtualPath};

/// What a client presented at login.
#[derive(Debug, Clone, Copy)]
pub struct Credentials<'a> {
    /// The USER name.
    pub user: &'a str,
    /// The PASS argument.
    pub password: &'a Secret<Vec<u8>>,
    /// The client's address.
    pub peer: SocketAddr,
    /// The control connection is protected by TLS.
    pub tls: bool,
    /// The session recognised `anonymous`/`ftp` and anonymous access is enabled.
    pub anonymous: bool,
}

/// One operation a user may or may not perform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Operation {
    /// LIST, NLST, MLSD, MLST, STAT, CWD, SIZE, MDTM.
    List,
    /// RETR and checksums.
    Read,
    /// STOR, STOU (create or replace a file), MFMT. An [anonymous](Principal::anonymous)
    /// principal only creates: its STOR onto an existing name, its REST+STOR and its MFMT are
    /// refused (550), whatever its permissions.
    Write,
    /// APPE to an existing file (APPE of a new name creates a file, which takes
    /// [`Operation::Write`]).
    Append,
    /// DELE, RMD, and RNTO onto an existing name (which replaces what was there).
    Delete,
    /// RNFR/RNTO (onto an existing name, [`Operation::Delete`] as well).
    Rename,
    /// MKD.
    MakeDir,
}

/// What a user may do, one flag per [`Operation`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub struct Permissions {
    /// See [`Operation::List`].
    pub list: bool,
    /// See [`Operation::Read`].
    pub read: bool,
    /// See [`Operation::Write`].
    pub write: bool,
    /// See [`Operation::Append`].
    pub append: bool,
    /// See [`Operation::Delete`].
    pub delete: bool,
    /// See [`Operation::Rename`].
    pub rename: bool,
    /// See [`Operation::MakeDir`].
    pub mkdir: bool,
}

impl Permissions {
    /// Nothing allowed.
    pub const NONE: Permissions = Permissions {
        list: false,
        read: false,
        write: false,
        append: false,
        delete: false,
        rename: false,
        mkdir: false,
    };
    /// List and read.
    pub const READ_ONLY: Permissions = Permissions {
        list: true,
        read: true,
        ..Permissions::NONE
    };
    /// Everything.
    pub const ALL: Permissions = Permissions {
        list: true,
        read: true,
        write: true,
        append: true,
        delete: true,
        rename: true,
        mkdir: true,
    };

    /// Whether `op` is allowed.
    pub fn allows(&self, op: Operation) -> bool {
        match op {
            Operation::List => self.list,
            Operation::Read => self.read,
            Operation::Write => self.write,
            Operation::Append => self.append,
            Operation::Delete => self.delete,
            Operation::Rename => self.rename,
            Operation::MakeDir => self.mkdir,
        }
    }
}

/// A logged-in user: the result of a successful [`Authenticator::authenticate`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Principal {
    /// The user name (for logs and events).
    pub name: String,
    /// The user's root within the storage: the session's `/` maps here.
    pub home: VirtualPath,
    /// What the user may do everywhere under `home`.
    pub permissions: Permissions,
    /// Extra rights below one directory (the anonymous upload directory): a path relative to
    /// the user's `/` and the permissions that apply at or under it.
    pub grant: Option<(VirtualPath, Permissions)>,
    /// Logged in anonymously.
    pub anonymous: bool,
    /// Most bytes the user's files under `home` may take together (uploads beyond it get 552),
    /// counted across all of the user's sessions. `None`: no quota.
    pub quota: Option<u64>,
    /// Most sessions the user may have at once (a login beyond it is refused). `None`: only
    /// the server's limits apply.
    pub max_sessions: Option<u32>,
}

impl Principal {
    /// A principal with `permissions` everywhere under `home`.
    pub fn new(name: impl Into<String>, home: VirtualPath, permissions: Permissions) -> Self {
        Self {
            name: name.into(),
            home,
            permissions,
            grant: None,
            anonymous: false,
            quota: None,
            max_sessions: None,
        }
    }

    /// The same principal with a storage quota in bytes.
    ///
    /// ```
    /// use ftp_server_tokio::auth::{Permissions, Principal};
    /// use ftp_server_tokio::ftp_proto::VirtualPath;
    /// let p = Principal::new("carol", VirtualPath::root(), Permissions::ALL)
    ///     .with_quota(10 << 20)
    ///     .with_max_sessions(2);
    /// assert_eq!((p.quota, p.max_sessions), (Some(10 << 20), Some(2)));
    /// ```
    #[must_use]
    pub fn with_quota(mut self, bytes: u64) -> Self {
        self.quota = Some(bytes);
        self
    }

    /// The same principal limited to `sessions` concurrent sessions.
    #[must_use]
    pub fn with_max_sessions(mut self, sessions: u32) -> Self {
        self.max_sessions = Some(sessions);
        self
    }

    /// Whether `op` is allowed on `path` (a session path, relative to the user's `/`).
    pub fn allows(&self, op: Operation, path: &VirtualPath) -> bool {
        if self.permissions.allows(op) {
            return true;
        }
        match &self.grant {
            Some((dir, extra)) => extra.allows(op) && path.starts_with(dir) && path != dir,
            None => false,
        }
    }
}

/// Why a login did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// Wrong user or password, disabled user, not allowed from this address (530).
    #[error("login incorrect")]
    Rejected,
    /// The back-end cannot answer now (database down): 421, try later.
    #[error("authentication service unavailable")]
    Unavailable,
}

/// Runs one slow credential check (argon2, PAM) on a blocking thread, at most as many at once
/// as `slots` has permits. The permit moves into the blocking job: a login future that is
/// dropped (the session ended, a timeout) cannot free its slot before the work is done, so
/// the cap really bounds the checks running at once. A failed job is logged and answers 421.
#[cfg(any(feature = "users-file", all(target_os = "linux", feature = "pam")))]
pub(crate) async fn run_limited<T: Send + 'static>(
    slots: &std::sync::Arc<tokio::sync::Semaphore>,
    what: &'static str,
    job: impl FnOnce() -> T + Send + 'static,
) -> Result<T, AuthError> {
    let Ok(permit) = std::sync::Arc::clone(slots).acquire_owned().await else {
        return Err(AuthError::Unavailable);
    };
    let job = move || {
        let done = job();
        drop(permit);
        done
    };
    tokio::task::spawn_blocking(job).await.map_err(|err| {
        tracing::error!(error = %err, "{what} task failed");
        AuthError::Unavailable
    })
}

/// Checks credentials. Implementations must take the same time for an unknown user as for a
/// wrong password, and compare secrets in constant time.
pub trait Authenticator: Send + Sync + 'static {
    /// Checks `credentials` and returns who logged in.
    fn authenticate(
        &self,
        credentials: Credentials<'_>,
    ) -> impl Future<Output = Result<Principal, AuthError>> + Send;
}
