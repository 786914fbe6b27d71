//! The users file: virtual users in one TOML file.
//!
//! Owns [`FileStore`]: the file format, its validation (errors name the line), the reload
//! when the file changed, and the atomic rewrite (temporary file, then rename) on every change.
//! It does not verify passwords (see [`VirtualUsers`](super::VirtualUsers)).

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::PoisonError;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::virtual_users::{StoreError, UserStore, VirtualUser, check_user_name, parse_home};
use super::{HashedPassword, IpNetwork, Permissions};

/// The largest users file read (16 MiB, about 50,000 users); a bigger one is an error.
pub const MAX_USERS_FILE: u64 = 16 << 20;

/// Virtual users in a TOML file.
///
/// # Format
///
/// One `[[user]]` table per user:
///
/// ```toml
/// [[user]]
/// name = "alice"                      # login name, case-sensitive, unique
/// password = "$argon2id$v=19$m=19456,t=2,p=1$...$..."   # argon2 PHC string (ftpd user add)
/// home = "/alice"                     # the user's / : a directory inside the served tree
/// permissions = ["list", "read", "write", "append", "delete", "rename", "mkdir"]
/// quota = 104857600                   # optional: most bytes under home
/// max_sessions = 2                    # optional: most concurrent sessions
/// enabled = true                      # optional, default true
/// allow_from = ["192.0.2.0/24", "2001:db8::/32"]  # optional: login only from these networks
/// ```
///
/// Unknown keys are errors (a misspelt `enabled` must not pass silently); so are duplicate
/// names, a password that is not an argon2 hash, a home that does not start with `/`, an
/// unknown permission and a malformed network. Every error names the file and the line.
///
/// # Reloading and writing
///
/// The file is read when the store is opened and re-read at the next lookup whenever its
/// modification time, size or inode changed, so edits (by hand or by `ftpd user`) take effect
/// for the next login without a restart; a file that became unreadable or malformed makes
/// logins answer 421 until it is fixed. Every change rewrites the whole file: a temporary file
/// in the same directory, flushed to disk, then renamed over the old one, so a reader sees the
/// old or the new file, never half of one. A new file gets mode 0600, a rewritten one keeps
/// its mode. Comments are not kept across a rewrite. Changes through one `FileStore` are
/// serialised; two processes changing the file at the same moment can lose one change.
///
/// ```
/// use ftp_server_tokio::auth::{FileStore, HashedPassword, UserStore, VirtualUser, parse_home};
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join("users.toml");
/// let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
/// runtime.block_on(async {
///     let store = FileStore::open_or_create(&path).await?;
///     let bob = VirtualUser::new("bob", HashedPassword::hash(b"pw")?, parse_home("/bob")?)?;
///     store.add(bob).await?;
///     let text = std::fs::read_to_string(&path)?;
///     assert!(text.contains("name = \"bob\""));
///     assert_eq!(store.find("bob").await?.map(|u| u.home.to_string()), Some("/bob".into()));
///     Ok::<(), Box<dyn std::error::Error>>(())
/// })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct FileStore {
    inner: Arc<Inner>,
}

/// The users a read of the file gave, or why it gave none.
type Loaded = Result<Arc<Vec<VirtualUser>>, StoreError>;

/// The users and whether the file exists, or why they could not be read.
type ReadUsers = Result<(Arc<Vec<VirtualUser>>, bool), StoreError>;

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    /// Opened with [`FileStore::open`]: the file must exist, and one that disappears while the
    /// server runs is a store failure (421), not an empty user list (530 for everyone).
    must_exist: bool,
    /// The last read, good or bad, by the file's stamp: a malformed file is not parsed again
    /// for every login attempt.
    cache: Mutex<Option<(Stamp, Loaded)>>,
    /// One re-read at a time: concurrent logins after an edit wait for it instead of each
    /// parsing the file.
    reload: Mutex<()>,
    writer: tokio::sync::Mutex<()>,
}

/// What tells a changed file from an unchanged one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

impl Stamp {
    fn of(meta: &fs::Metadata) -> Self {
        #[cfg(unix)]
        let inode = std::os::unix::fs::MetadataExt::ino(meta);
        #[cfg(not(unix))]
        let inode = 0;
        Self {
            modified: meta.modified().ok(),
            len: meta.len(),
            inode,
        }
    }
}

/// The file as serde sees it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDoc {
    #[serde(default)]
    user: Vec<Spanned<FileUser>>,
}

#[derive(Debug, Serialize)]
struct FileDocOut {
    user: Vec<FileUser>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct FileUser {
    name: String,
    password: String,
    home: String,
    permissions: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    quota: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_sessions: Option<u32>,
    #[serde(default = "enabled_by_default")]
    enabled: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    allow_from: Vec<String>,
}

fn enabled_by_default() -> bool {
    true
}

impl FileUser {
    fn from_user(user: &VirtualUser) -> Self {
        Self {
            name: user.name.clone(),
            password: user.password.as_str().to_owned(),
            home: user.home.to_string(),
            permissions: user
                .permissions
                .names()
                .into_iter()
                .map(str::to_owned)
                .collect(),
            quota: user.quota,
            max_sessions: user.max_sessions,
            enabled: user.enabled,
            allow_from: user.allow_from.iter().map(ToString::to_string).collect(),
        }
    }

    fn into_user(self) -> Result<VirtualUser, String> {
        check_user_name(&self.name).map_err(|e| e.to_string())?;
        let password: HashedPassword = self
            .password
            .parse()
            .map_err(|e| format!("user {:?}: password: {e}", self.name))?;
        let home = parse_home(&self.home).map_err(|e| format!("user {:?}: {e}", self.name))?;
        let permissions = Permissions::from_names(self.permissions.iter().map(String::as_str))
            .map_err(|e| format!("user {:?}: {e}", self.name))?;
        let allow_from = self
            .allow_from
            .iter()
            .map(|net| net.parse::<IpNetwork>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("user {:?}: allow_from: {e}", self.name))?;
        let user = VirtualUser::new(self.name, password, home)
            .map_err(|e| e.to_string())?
            .with_permissions(permissions)
            .with_quota(self.quota)
            .with_max_sessions(self.max_sessions)
            .with_enabled(self.enabled)
            .with_allow_from(allow_from);
        Ok(user)
    }
}

/// Parses the users file's text; errors name `path` and the line.
fn parse(path: &Path, text: &str) -> Result<Vec<VirtualUser>, StoreError> {
    let doc: FileDoc = toml::from_str(text).map_err(|err| {
        let line = err
            .span()
            .map(|span| format!(", line {}", line_of(text, span.start)))
            .unwrap_or_default();
        let message = err.message().trim().to_owned();
        StoreError::Malformed(format!("users file {}{line}: {message}", path.display()))
    })?;
    let mut seen = HashSet::new();
    let mut users = Vec::with_capacity(doc.user.len());
    for entry in doc.user {
        let line = line_of(text, entry.span().start);
        let user = entry.into_inner().into_user().map_err(|problem| {
            StoreError::Malformed(format!(
                "users file {}, line {line}: {problem}",
                path.display()
            ))
        })?;
        if !seen.insert(user.name.clone()) {
            return Err(StoreError::Malformed(format!(
                "users file {}, line {line}: user {:?} appears twice",
                path.display(),
                user.name
            )));
        }
        users.push(user);
    }
    users.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(users)
}

/// The 1-based line of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The file's text (at most [`MAX_USERS_FILE`] bytes) and stamp; `None` if it does not exist.
fn read_file(path: &Path) -> Result<Option<(Stamp, String)>, StoreError> {
    let io_error = |err: io::Error| StoreError::Io(format!("users file {}: {err}", path.display()));
    let file = match File::open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(io_error(err)),
    };
    let meta = file.metadata().map_err(io_error)?;
    if meta.len() > MAX_USERS_FILE {
        return Err(StoreError::Malformed(format!(
            "users file {}: larger than {MAX_USERS_FILE} bytes",
            path.display()
        )));
    }
    let mut bytes = Vec::new();
    file.take(MAX_USERS_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(io_error)?;
    // The file may have grown between the size check and the read.
    if bytes.len() as u64 > MAX_USERS_FILE {
        return Err(StoreError::Malformed(format!(
            "users file {}: larger than {MAX_USERS_FILE} bytes",
            path.display()
        )));
    }
    let text = String::from_utf8(bytes).map_err(|err| {
        StoreError::Malformed(format!(
            "users file {}: not UTF-8 (byte {})",
            path.display(),
            err.utf8_error().valid_up_to()
        ))
    })?;
    Ok(Some((Stamp::of(&meta), text)))
}

/// Writes `users` to `path` atomically: a temporary file beside it, synced, renamed over.
fn write_file(path: &Path, users: &[VirtualUser]) -> Result<(), StoreError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let io_error = |err: io::Error| StoreError::Io(format!("users file {}: {err}", path.display()));
    let doc = FileDocOut {
        user: users.iter().map(FileUser::from_user).collect(),
    };
    let body = toml::to_string(&doc)
        .map_err(|err| StoreError::Invalid(format!("users file {}: {err}", path.display())))?;
    let text = format!(
        "# Virtual users for ftpd (format: ftp_server_tokio::auth::FileStore).\n\
         # Rewritten by `ftpd user ...`: comments are not kept.\n\n{body}"
    );
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "users".into());
    let temp = dir.join(format!(
        ".{file_name}.tmp-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let result = (|| {
        let mut file = options.open(&temp)?;
        // A rewrite keeps the mode the administrator gave the file.
        if let Ok(meta) = fs::metadata(path) {
            file.set_permissions(meta.permissions())?;
        }
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        drop(file);
        fs::rename(&temp, path)?;
        // The rename itself reaches the disk with the directory.
        if let Ok(dir) = File::open(&dir) {
            let _ = dir.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result.map_err(io_error)
}

impl FileStore {
    /// Opens the users file at `path`, which must exist and be well-formed.
    ///
    /// # Errors
    ///
    /// [`StoreError::Io`] if it cannot be read (or does not exist), [`StoreError::Malformed`]
    /// naming the line if it does not parse.
    pub async fn open(path: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let store = Self::unchecked(path.into(), true);
        let path = store.inner.path.clone();
        if !store.clone().load().await?.1 {
            return Err(StoreError::Io(format!(
                "users file {}: no such file (create it with `ftpd user add`)",
                path.display()
            )));
        }
        Ok(store)
    }

    /// Opens the users file at `path`, or starts an empty one there that is written on the
    /// first change (for `ftpd user add`).
    ///
    /// # Errors
    ///
    /// As [`FileStore::open`], except that a missing file is not one.
    pub async fn open_or_create(path: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let store = Self::unchecked(path.into(), false);
        store.clone().load().await?;
        Ok(store)
    }

    fn unchecked(path: PathBuf, must_exist: bool) -> Self {
        Self {
            inner: Arc::new(Inner {
                path,
                must_exist,
                cache: Mutex::new(None),
                reload: Mutex::new(()),
                writer: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The users, re-read if the file changed since the last read; `true` if the file exists.
    async fn load(self) -> Result<(Arc<Vec<VirtualUser>>, bool), StoreError> {
        run_blocking(move || self.inner.load()).await
    }

    /// Reads the file fresh, applies `change`, writes it back atomically.
    async fn modify<T: Send + 'static>(
        &self,
        change: impl FnOnce(&mut Vec<VirtualUser>) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let _writer = self.inner.writer.lock().await;
        let inner = Arc::clone(&self.inner);
        run_blocking(move || {
            let mut users = match read_file(&inner.path)? {
                Some((_, text)) => parse(&inner.path, &text)?,
                None => Vec::new(),
            };
            let before = users.clone();
            let result = change(&mut users)?;
            users.sort_by(|a, b| a.name.cmp(&b.name));
            if users != before {
                write_file(&inner.path, &users)?;
            }
            // The next lookup sees the new file's stamp and re-reads it.
            if let Ok(mut cache) = inner.cache.lock() {
                *cache = None;
            }
            Ok(result)
        })
        .await
    }
}

impl Inner {
    fn load(&self) -> ReadUsers {
        let io_error =
            |err: io::Error| StoreError::Io(format!("users file {}: {err}", self.path.display()));
        let cached = |stamp: Stamp| -> Option<ReadUsers> {
            let cache = self.cache.lock().ok()?;
            let (at, result) = cache.as_ref()?;
            (*at == stamp).then(|| result.clone().map(|users| (users, true)))
        };
        let stamp = match fs::metadata(&self.path) {
            Ok(meta) => Some(Stamp::of(&meta)),
            Err(err) if err.kind() == io::ErrorKind::NotFound => None,
            Err(err) => return Err(io_error(err)),
        };
        if let Some(hit) = stamp.and_then(cached) {
            return hit;
        }
        let _one_reload = self.reload.lock().unwrap_or_else(PoisonError::into_inner);
        // Another login may have re-read the file while this one waited.
        if let Some(hit) = stamp.and_then(cached) {
            return hit;
        }
        match read_file(&self.path)? {
            Some((stamp, text)) => {
                let result = parse(&self.path, &text).map(Arc::new);
                if let Ok(mut cache) = self.cache.lock() {
                    *cache = Some((stamp, result.clone()));
                }
                result.map(|users| (users, true))
            }
            None if self.must_exist => Err(StoreError::Io(format!(
                "users file {}: no such file (create it with `ftpd user add`)",
                self.path.display()
            ))),
            None => Ok((Arc::new(Vec::new()), false)),
        }
    }
}

/// Runs blocking file work off the runtime's worker threads.
async fn run_blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|err| StoreError::Io(format!("users file task failed: {err}")))?
}

impl UserStore for FileStore {
    fn describe(&self) -> String {
        format!("users file {}", self.inner.path.display())
    }

    async fn find(&self, name: &str) -> Result<Option<VirtualUser>, StoreError> {
        let (users, _) = self.clone().load().await?;
        Ok(users.iter().find(|u| u.name == name).cloned())
    }

    async fn list(&self) -> Result<Vec<VirtualUser>, StoreError> {
        let (users, _) = self.clone().load().await?;
        Ok(users.as_ref().clone())
    }

    async fn add(&self, user: VirtualUser) -> Result<(), StoreError> {
        self.modify(move |users| {
            if users.iter().any(|u| u.name == user.name) {
                return Err(StoreError::Exists(user.name));
            }
            users.push(user);
            Ok(())
        })
        .await
    }

    async fn replace(&self, user: VirtualUser) -> Result<bool, StoreError> {
        self.modify(
            move |users| match users.iter_mut().find(|u| u.name == user.name) {
                Some(slot) => {
                    *slot = user;
                    Ok(true)
                }
                None => Ok(false),
            },
        )
        .await
    }

    async fn remove(&self, name: &str) -> Result<bool, StoreError> {
        let name = name.to_owned();
        self.modify(move |users| {
            let before = users.len();
            users.retain(|u| u.name != name);
            Ok(users.len() != before)
        })
        .await
    }

    async fn set_password(&self, name: &str, password: HashedPassword) -> Result<bool, StoreError> {
        let name = name.to_owned();
        self.modify(
            move |users| match users.iter_mut().find(|u| u.name == name) {
                Some(user) => {
                    user.password = password;
                    Ok(true)
                }
                None => Ok(false),
            },
        )
        .await
    }
}
