//! Virtual users: accounts kept in a store (a users file, an SQL database) rather than in the
//! operating system.
//!
//! Owns the record ([`VirtualUser`]), the store abstraction ([`UserStore`], [`StoreError`]) and
//! the [`Authenticator`] over any store ([`VirtualUsers`]): argon2 verification on a blocking
//! thread with a bounded number at once, the same work for unknown users as for wrong
//! passwords, and the mapping of store failures to [`AuthError::Unavailable`]. The back-ends
//! live in their own files (`file.rs`, `sql.rs`). It never logs a password.

use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ftp_proto::{FtpPath, VirtualPath};
use tokio::sync::Semaphore;

use super::{
    AnonymousPolicy, AuthError, Authenticator, Credentials, HashedPassword, IpNetwork, Permissions,
    Principal,
};

/// Longest user name a store accepts, in bytes (vsftpd's `VSFTP_USERNAME_MAX`).
pub const MAX_USER_NAME: usize = 128;

/// One virtual user: what a store keeps per account.
///
/// ```
/// use ftp_server_tokio::auth::{HashedPassword, Permissions, VirtualUser, parse_home};
/// let user = VirtualUser::new("alice", HashedPassword::hash(b"s3cret")?, parse_home("/alice")?)?
///     .with_permissions(Permissions::READ_ONLY)
///     .with_quota(Some(10 << 20))
///     .with_allow_from(vec!["192.0.2.0/24".parse()?]);
/// assert!(user.allows_peer("192.0.2.9".parse()?));
/// assert!(!user.allows_peer("198.51.100.1".parse()?));
/// let principal = user.principal();
/// assert_eq!(principal.home.to_string(), "/alice");
/// assert_eq!(principal.quota, Some(10 << 20));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct VirtualUser {
    /// The login name (case-sensitive, 1 to [`MAX_USER_NAME`] bytes, no control characters).
    pub name: String,
    /// The argon2 password hash.
    pub password: HashedPassword,
    /// The user's root within the served tree: the session's `/` maps here.
    pub home: VirtualPath,
    /// What the user may do under `home`.
    pub permissions: Permissions,
    /// Most bytes the user's files may take ([`Principal::quota`]); `None`: no quota.
    pub quota: Option<u64>,
    /// Most concurrent sessions ([`Principal::max_sessions`]); `None`: server limits only.
    pub max_sessions: Option<u32>,
    /// A disabled user cannot log in (the answer is the same 530 as a wrong password).
    pub enabled: bool,
    /// The networks the user may log in from; empty: anywhere.
    pub allow_from: Vec<IpNetwork>,
}

/// A user name a store does not accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid user name {0:?}: 1 to 128 bytes, no control characters")]
#[non_exhaustive]
pub struct InvalidUserName(pub String);

/// Checks a user name: 1 to [`MAX_USER_NAME`] bytes, no control characters.
pub fn check_user_name(name: &str) -> Result<(), InvalidUserName> {
    // Leading or trailing white space is refused: MySQL's collations ignore trailing spaces
    // when comparing, so "alice " would otherwise name alice's row there.
    if name.is_empty()
        || name.len() > MAX_USER_NAME
        || name.chars().any(char::is_control)
        || name.trim() != name
    {
        return Err(InvalidUserName(name.to_owned()));
    }
    Ok(())
}

/// A home path as stored (`/alice`): absolute, normalised within the served tree.
///
/// ```
/// use ftp_server_tokio::auth::parse_home;
/// assert_eq!(parse_home("/srv/../alice/").unwrap().to_string(), "/alice");
/// assert!(parse_home("alice").is_err());
/// ```
pub fn parse_home(text: &str) -> Result<VirtualPath, String> {
    if !text.starts_with('/') {
        return Err(format!("home {text:?} must start with /"));
    }
    VirtualPath::root()
        .resolve(&FtpPath::from(text))
        .map_err(|err| format!("home {text:?}: {err}"))
}

impl VirtualUser {
    /// An enabled user with full permissions everywhere under `home`, no quota, no session
    /// limit and no network restriction.
    ///
    /// # Errors
    ///
    /// [`InvalidUserName`] (see [`check_user_name`]).
    pub fn new(
        name: impl Into<String>,
        password: HashedPassword,
        home: VirtualPath,
    ) -> Result<Self, InvalidUserName> {
        let name = name.into();
        check_user_name(&name)?;
        Ok(Self {
            name,
            password,
            home,
            permissions: Permissions::ALL,
            quota: None,
            max_sessions: None,
            enabled: true,
            allow_from: Vec::new(),
        })
    }

    /// Sets [`VirtualUser::permissions`].
    #[must_use]
    pub fn with_permissions(mut self, permissions: Permissions) -> Self {
        self.permissions = permissions;
        self
    }

    /// Sets [`VirtualUser::quota`].
    #[must_use]
    pub fn with_quota(mut self, quota: Option<u64>) -> Self {
        self.quota = quota;
        self
    }

    /// Sets [`VirtualUser::max_sessions`].
    #[must_use]
    pub fn with_max_sessions(mut self, max_sessions: Option<u32>) -> Self {
        self.max_sessions = max_sessions;
        self
    }

    /// Sets [`VirtualUser::enabled`].
    #[must_use]
    pub fn with_enabled(mut self, enabled: bool) -> Self {
        self.enabled = enabled;
        self
    }

    /// Sets [`VirtualUser::allow_from`].
    #[must_use]
    pub fn with_allow_from(mut self, networks: Vec<IpNetwork>) -> Self {
        self.allow_from = networks;
        self
    }

    /// Whether a client at `peer` may log in as this user (IPv4-mapped IPv6 peers match IPv4
    /// networks).
    pub fn allows_peer(&self, peer: IpAddr) -> bool {
        self.allow_from.is_empty() || self.allow_from.iter().any(|net| net.contains(peer))
    }

    /// The [`Principal`] a successful login as this user produces.
    pub fn principal(&self) -> Principal {
        let mut principal = Principal::new(self.name.clone(), self.home.clone(), self.permissions);
        principal.quota = self.quota;
        principal.max_sessions = self.max_sessions;
        principal
    }
}

/// Why a store could not answer.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Reading or writing the store failed (file system, network, database).
    #[error("{0}")]
    Io(String),
    /// The store does not exist: a users file or SQLite database file that is missing (and
    /// that was not to be created).
    #[error("{0}")]
    NotFound(String),
    /// The store's content is malformed (a users file that does not parse, a bad row).
    #[error("{0}")]
    Malformed(String),
    /// [`UserStore::add`] for a name that exists.
    #[error("user {0:?} exists")]
    Exists(String),
    /// A value the store cannot keep (a quota beyond the column's range).
    #[error("{0}")]
    Invalid(String),
}

/// Where virtual users are kept. Implemented by [`FileStore`](super::FileStore) and, with an
/// SQL feature, [`SqlStore`](super::SqlStore).
///
/// Every method may fail with a [`StoreError`]; [`VirtualUsers`] answers a failed lookup
/// with [`AuthError::Unavailable`] (421), never with a rejection.
pub trait UserStore: Send + Sync + 'static {
    /// What the store is, for log lines and messages, e.g. `users file /etc/ftpd/users.toml`
    /// or `sqlite database` (never a password inside a URL).
    fn describe(&self) -> String;

    /// The user called exactly `name` (case-sensitive), if any.
    fn find(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<VirtualUser>, StoreError>> + Send;

    /// Every user, sorted by name.
    fn list(&self) -> impl Future<Output = Result<Vec<VirtualUser>, StoreError>> + Send;

    /// Adds `user`; [`StoreError::Exists`] if the name is taken.
    fn add(&self, user: VirtualUser) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Replaces the user of the same name; `false` if there is none.
    fn replace(&self, user: VirtualUser) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Removes the user `name`; `false` if there is none.
    fn remove(&self, name: &str) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Sets the password hash of `name`; `false` if there is no such user.
    fn set_password(
        &self,
        name: &str,
        password: HashedPassword,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// How long a store lookup may take before the login answers 421.
pub const DEFAULT_STORE_TIMEOUT: Duration = Duration::from_secs(5);

/// How many argon2 verifications may run at once by default (each takes about 19 MiB).
pub const DEFAULT_MAX_CONCURRENT_VERIFICATIONS: usize = 8;

/// The [`Authenticator`] over a [`UserStore`].
///
/// For every password login it looks the name up, then runs exactly one argon2 verification
/// on a blocking thread: against the user's hash, or against [`HashedPassword::dummy`] (same
/// parameters) when the user is unknown, so an unknown user costs the same as a wrong
/// password. Only then does it decide: unknown user, wrong password, disabled user and a peer
/// outside [`VirtualUser::allow_from`] all answer [`AuthError::Rejected`] (530). A store that
/// fails or takes longer than the store timeout answers [`AuthError::Unavailable`] (421) with
/// a `tracing` error naming the store. At most [`DEFAULT_MAX_CONCURRENT_VERIFICATIONS`]
/// verifications run at once (each needs about 19 MiB), so a login flood queues instead of
/// exhausting memory.
///
/// It runs on the tokio runtime with the timer enabled (as [`Server`](crate::server::Server)
/// needs anyway) and uses its blocking thread pool.
///
/// Anonymous logins (when the session recognised one) get the [`AnonymousPolicy`] set with
/// [`VirtualUsers::with_anonymous`], or are rejected.
///
/// ```
/// use ftp_proto::Secret;
/// use ftp_server_tokio::auth::{
///     AuthError, Authenticator, Credentials, FileStore, HashedPassword, UserStore,
///     VirtualUser, VirtualUsers, parse_home,
/// };
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join("users.toml");
/// let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
/// runtime.block_on(async {
///     let store = FileStore::open_or_create(&path).await?;
///     let alice = VirtualUser::new("alice", HashedPassword::hash(b"s3cret")?, parse_home("/alice")?)?;
///     store.add(alice).await?;
///     let users = VirtualUsers::new(store);
///     let password = Secret::new(b"s3cret".to_vec());
///     let login = Credentials {
///         user: "alice",
///         password: &password,
///         peer: "192.0.2.7:50123".parse()?,
///         tls: true,
///         anonymous: false,
///     };
///     let principal = users.authenticate(login).await?;
///     assert_eq!(principal.home.to_string(), "/alice");
///     let wrong = Secret::new(b"guess".to_vec());
///     let guess = Credentials { password: &wrong, ..login };
///     assert_eq!(users.authenticate(guess).await, Err(AuthError::Rejected));
///     Ok::<(), Box<dyn std::error::Error>>(())
/// })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct VirtualUsers<S> {
    store: S,
    anonymous: Option<AnonymousPolicy>,
    store_timeout: Duration,
    verifiers: Arc<Semaphore>,
    verifications: Arc<AtomicU64>,
}

impl<S: UserStore> VirtualUsers<S> {
    /// The authenticator over `store`, without anonymous access.
    pub fn new(store: S) -> Self {
        Self {
            store,
            anonymous: None,
            store_timeout: DEFAULT_STORE_TIMEOUT,
            verifiers: Arc::new(Semaphore::new(DEFAULT_MAX_CONCURRENT_VERIFICATIONS)),
            verifications: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Enables anonymous access with `policy`.
    #[must_use]
    pub fn with_anonymous(mut self, policy: AnonymousPolicy) -> Self {
        self.anonymous = Some(policy);
        self
    }

    /// How long a lookup may take before the login answers 421 (default
    /// [`DEFAULT_STORE_TIMEOUT`]).
    #[must_use]
    pub fn with_store_timeout(mut self, timeout: Duration) -> Self {
        self.store_timeout = timeout;
        self
    }

    /// How many argon2 verifications may run at once (default
    /// [`DEFAULT_MAX_CONCURRENT_VERIFICATIONS`]; at least 1).
    #[must_use]
    pub fn with_max_concurrent_verifications(mut self, n: usize) -> Self {
        self.verifiers = Arc::new(Semaphore::new(n.max(1)));
        self
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// How many argon2 verifications this authenticator has run: one per password login,
    /// whatever its outcome, none for anonymous logins and store failures. For monitoring,
    /// and for tests that check an unknown user costs the same work as a wrong password.
    pub fn verifications(&self) -> u64 {
        self.verifications.load(Ordering::Relaxed)
    }

    async fn check(&self, credentials: Credentials<'_>) -> Result<Principal, AuthError> {
        if credentials.anonymous {
            return match &self.anonymous {
                Some(policy) => Ok(policy.principal()),
                None => Err(AuthError::Rejected),
            };
        }
        let name = credentials.user;
        // A name no store can hold is looked up nowhere; it still costs one verification.
        let found = if check_user_name(name).is_err() {
            None
        } else {
            match tokio::time::timeout(self.store_timeout, self.store.find(name)).await {
                Ok(Ok(found)) => found.filter(|user| user.name == name),
                Ok(Err(err)) => {
                    tracing::error!(
                        store = %self.store.describe(),
                        error = %err,
                        user = name,
                        "user store failed; answering 421"
                    );
                    return Err(AuthError::Unavailable);
                }
                Err(_) => {
                    tracing::error!(
                        store = %self.store.describe(),
                        timeout = ?self.store_timeout,
                        user = name,
                        "user store did not answer in time; answering 421"
                    );
                    return Err(AuthError::Unavailable);
                }
            }
        };
        let hash = found
            .as_ref()
            .map_or_else(HashedPassword::dummy, |user| user.password.clone());
        let password = credentials.password.expose_secret().clone();
        let matches = self.verify(hash, password).await?;
        match found {
            Some(user) if matches && user.enabled && user.allows_peer(credentials.peer.ip()) => {
                Ok(user.principal())
            }
            Some(user) if matches => {
                tracing::info!(
                    user = name,
                    peer = %credentials.peer.ip(),
                    reason = if user.enabled { "address not allowed" } else { "disabled" },
                    "login refused"
                );
                Err(AuthError::Rejected)
            }
            _ => Err(AuthError::Rejected),
        }
    }

    /// One argon2 verification on a blocking thread, at most `verifiers` at once.
    async fn verify(&self, hash: HashedPassword, password: Vec<u8>) -> Result<bool, AuthError> {
        self.verifications.fetch_add(1, Ordering::Relaxed);
        let password = ftp_proto::Secret::new(password);
        super::run_limited(&self.verifiers, "password verification", move || {
            hash.verify(password.expose_secret())
        })
        .await
    }
}

impl<S: UserStore> Authenticator for VirtualUsers<S> {
    fn authenticate(
        &self,
        credentials: Credentials<'_>,
    ) -> impl Future<Output = Result<Principal, AuthError>> + Send {
        self.check(credentials)
    }
}
