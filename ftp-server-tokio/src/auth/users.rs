//! Anonymous access and a static set of users: the [`Authenticator`] that needs no database.
//!
//! Owns [`UserEntry`] (one configured user), [`AnonymousPolicy`] (what an anonymous login
//! gets) and [`StaticUsers`] (the authenticator over both), plus the constant-time password
//! comparison they rely on. It does not parse configuration (the CLI does), decide whether a
//! USER name means anonymous (the session does, through [`Credentials::anonymous`]), log, or
//! hash passwords: the set lives in memory for the life of the server, so its passwords are
//! kept as [`Secret`]s and compared in constant time.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::future::{Future, ready};
use std::hint::black_box;

use ftp_proto::{Secret, VirtualPath};

use super::{AuthError, Authenticator, Credentials, Permissions, Principal};

/// One static user: name, password, home directory and permissions.
///
/// `Debug` shows the password as `Secret(<redacted>)`.
#[derive(Debug, Clone)]
pub struct UserEntry {
    name: String,
    password: Secret<Vec<u8>>,
    home: VirtualPath,
    permissions: Permissions,
    quota: Option<u64>,
    max_sessions: Option<u32>,
}

impl UserEntry {
    /// A user `name` (case-sensitive) who logs in with `password` and gets `permissions`
    /// everywhere under `home`, a directory within the storage that becomes the session's `/`.
    ///
    /// An empty `password` is matched by an empty PASS only.
    pub fn new(
        name: impl Into<String>,
        password: impl Into<Vec<u8>>,
        home: VirtualPath,
        permissions: Permissions,
    ) -> Self {
        Self {
            name: name.into(),
            password: Secret::new(password.into()),
            home,
            permissions,
            quota: None,
            max_sessions: None,
        }
    }

    /// The same user with a storage quota: the user's files under [`UserEntry::home`] may
    /// take at most `bytes` together ([`Principal::quota`]; the server answers uploads beyond
    /// it with 552).
    ///
    /// ```
    /// use ftp_server_tokio::auth::{Permissions, UserEntry};
    /// use ftp_server_tokio::ftp_proto::VirtualPath;
    /// let bob = UserEntry::new("bob", "pw", VirtualPath::root(), Permissions::ALL)
    ///     .with_quota(1 << 20)
    ///     .with_max_sessions(2);
    /// assert_eq!((bob.quota(), bob.max_sessions()), (Some(1 << 20), Some(2)));
    /// ```
    #[must_use]
    pub fn with_quota(mut self, bytes: u64) -> Self {
        self.quota = Some(bytes);
        self
    }

    /// The same user limited to `sessions` concurrent sessions ([`Principal::max_sessions`]).
    #[must_use]
    pub fn with_max_sessions(mut self, sessions: u32) -> Self {
        self.max_sessions = Some(sessions);
        self
    }

    /// The user's storage quota in bytes, if any.
    pub fn quota(&self) -> Option<u64> {
        self.quota
    }

    /// The user's limit on concurrent sessions, if any.
    pub fn max_sessions(&self) -> Option<u32> {
        self.max_sessions
    }

    /// The user name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The user's home within the storage.
    pub fn home(&self) -> &VirtualPath {
        &self.home
    }

    /// What the user may do under [`UserEntry::home`].
    pub fn permissions(&self) -> Permissions {
        self.permissions
    }

    fn principal(&self) -> Principal {
        let mut principal = Principal::new(self.name.clone(), self.home.clone(), self.permissions);
        principal.quota = self.quota;
        principal.max_sessions = self.max_sessions;
        principal
    }
}

/// What an anonymous login gets.
///
/// Anonymous users may list and read ([`Permissions::READ_ONLY`]) everywhere under
/// [`AnonymousPolicy::home`]. With an [`AnonymousPolicy::upload_dir`] they may also store new
/// files and make directories strictly below it ([`AnonymousPolicy::UPLOAD_PERMISSIONS`], given
/// as [`Principal::grant`]), like vsftpd's `anon_upload_enable` with `anon_mkdir_write_enable`:
/// never delete, rename or append, and STOR only creates new files (no overwrite, no REST into
/// a file, no MFMT: see [`Operation::Write`](crate::auth::Operation::Write)), so one anonymous
/// user cannot destroy, change or extend another's upload.
///
/// The anonymous password is by convention an e-mail address; any password is accepted and
/// none is checked or kept.
///
/// ```
/// use ftp_proto::{FtpPath, VirtualPath};
/// use ftp_server_tokio::auth::AnonymousPolicy;
/// let path = |s: &str| VirtualPath::root().resolve(&FtpPath::from(s)).unwrap();
/// let policy = AnonymousPolicy::default()
///     .with_home(path("/srv/pub"))
///     .with_upload_dir(path("/incoming"));
/// assert_eq!(policy.upload_dir, Some(path("/incoming")));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AnonymousPolicy {
    /// The anonymous user's root within the storage (default: the storage root).
    pub home: VirtualPath,
    /// A directory relative to the anonymous user's `/` below which uploads are allowed
    /// (default: none).
    pub upload_dir: Option<VirtualPath>,
}

impl AnonymousPolicy {
    /// The extra rights below [`AnonymousPolicy::upload_dir`]: write (STOR, STOU) and mkdir.
    /// Anonymous writes only add files: an existing file is never replaced, resumed into
    /// (REST+STOR) or given a new time (MFMT), and nothing is appended to, deleted or renamed.
    pub const UPLOAD_PERMISSIONS: Permissions = Permissions {
        write: true,
        mkdir: true,
        ..Permissions::NONE
    };

    /// Sets [`AnonymousPolicy::home`].
    #[must_use]
    pub fn with_home(mut self, home: VirtualPath) -> Self {
        self.home = home;
        self
    }

    /// Sets [`AnonymousPolicy::upload_dir`].
    #[must_use]
    pub fn with_upload_dir(mut self, dir: VirtualPath) -> Self {
        self.upload_dir = Some(dir);
        self
    }

    /// The principal of an anonymous login under this policy, named `anonymous`.
    pub fn principal(&self) -> Principal {
        let mut principal = Principal::new("anonymous", self.home.clone(), Permissions::READ_ONLY);
        principal.grant = self
            .upload_dir
            .clone()
            .map(|dir| (dir, Self::UPLOAD_PERMISSIONS));
        principal.anonymous = true;
        principal
    }
}

impl Default for AnonymousPolicy {
    fn default() -> Self {
        Self {
            home: VirtualPath::root(),
            upload_dir: None,
        }
    }
}

/// Two [`UserEntry`]s given to [`StaticUsers::new`] share a name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("duplicate user name {name:?}")]
#[non_exhaustive]
pub struct DuplicateUser {
    /// The name given twice.
    pub name: String,
}

/// An [`Authenticator`] over a fixed set of users and, optionally, anonymous access.
///
/// It never answers [`AuthError::Unavailable`]: the set is in memory. A login with
/// [`Credentials::anonymous`] gets [`AnonymousPolicy::principal`] when a policy is set and is
/// rejected otherwise; any other login is looked up by name (so a configured user called
/// `anonymous` logs in with a password when the server has anonymous access off). Every
/// non-anonymous attempt makes exactly one constant-time comparison, against a dummy secret when
/// the name is unknown, so an unknown user and a wrong password cost the same and both answer
/// [`AuthError::Rejected`].
///
/// ```
/// use ftp_proto::{FtpPath, Secret, VirtualPath};
/// use ftp_server_tokio::auth::{
///     AnonymousPolicy, Authenticator, Credentials, Permissions, StaticUsers, UserEntry,
/// };
///
/// let home = VirtualPath::root().resolve(&FtpPath::from("/home/alice"))?;
/// let users = StaticUsers::new([UserEntry::new("alice", "s3cret", home.clone(), Permissions::ALL)])?
///     .with_anonymous(AnonymousPolicy::default());
///
/// let password = Secret::new(b"s3cret".to_vec());
/// let credentials = Credentials {
///     user: "alice",
///     password: &password,
///     peer: "192.0.2.7:50123".parse()?,
///     tls: true,
///     anonymous: false,
/// };
/// let runtime = tokio::runtime::Builder::new_current_thread().build()?;
/// let alice = runtime.block_on(users.authenticate(credentials))?;
/// assert_eq!((alice.name.as_str(), &alice.home), ("alice", &home));
/// assert_eq!(alice.permissions, Permissions::ALL);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct StaticUsers {
    users: HashMap<String, UserEntry>,
    anonymous: Option<AnonymousPolicy>,
}

impl StaticUsers {
    /// A set of `users`, without anonymous access.
    ///
    /// # Errors
    ///
    /// [`DuplicateUser`], naming the first name given twice, if two entries share a name.
    pub fn new(users: impl IntoIterator<Item = UserEntry>) -> Result<Self, DuplicateUser> {
        let mut map = HashMap::new();
        for user in users {
            match map.entry(user.name.clone()) {
                Entry::Occupied(_) => return Err(DuplicateUser { name: user.name }),
                Entry::Vacant(slot) => {
                    slot.insert(user);
                }
            }
        }
        Ok(Self {
            users: map,
            anonymous: None,
        })
    }

    /// Enables anonymous access with `policy`.
    #[must_use]
    pub fn with_anonymous(mut self, policy: AnonymousPolicy) -> Self {
        self.anonymous = Some(policy);
        self
    }

    fn check(&self, credentials: Credentials<'_>) -> Result<Principal, AuthError> {
        if credentials.anonymous {
            return match &self.anonymous {
                Some(policy) => Ok(policy.principal()),
                None => Err(AuthError::Rejected),
            };
        }
        let entry = self.users.get(credentials.user);
        let expected = entry.map_or(DUMMY_PASSWORD, |e| e.password.expose_secret().as_slice());
        // Compare first, decide after: the comparison runs whether or not the user exists.
        let matches = constant_time_eq(credentials.password.expose_secret(), expected);
        match entry {
            Some(entry) if matches => Ok(entry.principal()),
            _ => Err(AuthError::Rejected),
        }
    }
}

impl Authenticator for StaticUsers {
    fn authenticate(
        &self,
        credentials: Credentials<'_>,
    ) -> impl Future<Output = Result<Principal, AuthError>> + Send {
        // Nothing to wait for: decide now and hand back a ready future that borrows nothing.
        ready(self.check(credentials))
    }
}

/// What an unknown user's password is compared with. Its value and length do not matter (see
/// [`constant_time_eq`]); it only has to exist so the comparison happens.
const DUMMY_PASSWORD: &[u8] = &[0x5a; 32];

/// Whether `presented` equals `expected`, in time that depends on `presented.len()` only.
///
/// The loop runs once per presented byte, which the client already knows, never once per stored
/// byte, so neither the content nor the length of the stored secret shows in the timing (a
/// loop over the longer of the two would reveal the stored length where the time starts to
/// grow). Past the end of `expected` a presented byte is compared with 0; the length mismatch
/// is recorded up front by XOR-ing the two lengths into the accumulator, with no early return.
/// Every byte difference is OR-ed in, and `black_box` on the accumulator keeps the optimiser
/// from turning the loop into one that stops at the first difference.
fn constant_time_eq(presented: &[u8], expected: &[u8]) -> bool {
    let mut diff = presented.len() ^ expected.len();
    for (i, &byte) in presented.iter().enumerate() {
        let other = expected.get(i).copied().unwrap_or(0);
        diff = black_box(diff | usize::from(byte ^ other));
    }
    black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn equal_inputs_compare_equal() {
        assert!(constant_time_eq(b"hunter2", b"hunter2"));
        assert!(constant_time_eq(&[0xff; 300], &[0xff; 300]));
    }

    #[test]
    fn any_differing_byte_compares_unequal() {
        assert!(!constant_time_eq(b"hunter2", b"hunter3"));
        assert!(!constant_time_eq(b"hunter2", b"Hunter2"));
        assert!(!constant_time_eq(b"hunter2", b"hunt3r2"));
    }

    #[test]
    fn different_lengths_compare_unequal() {
        assert!(!constant_time_eq(b"hunter", b"hunter2"));
        assert!(!constant_time_eq(b"hunter22", b"hunter2"));
        // Trailing NULs would match the zero padding; the length term must catch them.
        assert!(!constant_time_eq(b"abc\0", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abc\0"));
    }

    #[test]
    fn empty_inputs() {
        assert!(constant_time_eq(b"", b""));
        assert!(!constant_time_eq(b"", b"x"));
        assert!(!constant_time_eq(b"x", b""));
        assert!(!constant_time_eq(b"\0", b""));
    }
}
