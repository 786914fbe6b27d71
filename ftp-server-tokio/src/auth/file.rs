//! The users file: virtual users in one TOML file.
//!
//! Owns [`FileStore`]: the file format, its validation (errors name the line), the reload
//! when the file changed, and the locked, atomic rewrite (lock, read, temporary file, rename)
//! on every change. It does not verify passwords (see [`VirtualUsers`](super::VirtualUsers)).

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::PoisonError;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

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
/// old or the new file, never half of one. Comments are not kept across a rewrite.
///
/// A change holds an exclusive `flock` on the file from its read to the rename (on Linux), so
/// changes by several processes at once (`ftpd user add` in parallel) are applied one after
/// the other and none is lost; a change waits at most 30 s for the lock.
///
/// A new file gets mode 0600. A rewritten one keeps its owner and group (when the writer may
/// give them, e.g. as root) and its mode, less every permission for others: the file holds
/// password hashes ([`FileStore::others_access`] tells whether others have any).
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
    /// One change at a time in this process (the file lock orders processes).
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
    let io_error = io_error_at(path);
    let file = match File::open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(io_error(err)),
    };
    let meta = file.metadata().map_err(&io_error)?;
    let text = read_text(path, &file, &meta)?;
    Ok(Some((Stamp::of(&meta), text)))
}

/// The text of `file` (opened from `path`, with metadata `meta`), at most [`MAX_USERS_FILE`]
/// bytes.
fn read_text(path: &Path, file: &File, meta: &fs::Metadata) -> Result<String, StoreError> {
    let io_error = io_error_at(path);
    if meta.len() > MAX_USERS_FILE {
        return Err(StoreError::Malformed(format!(
            "users file {}: larger than {MAX_USERS_FILE} bytes",
            path.display()
        )));
    }
    let mut bytes = Vec::new();
    file.take(MAX_USERS_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(&io_error)?;
    // The file may have grown between the size check and the read.
    if bytes.len() as u64 > MAX_USERS_FILE {
        return Err(StoreError::Malformed(format!(
            "users file {}: larger than {MAX_USERS_FILE} bytes",
            path.display()
        )));
    }
    String::from_utf8(bytes).map_err(|err| {
        StoreError::Malformed(format!(
            "users file {}: not UTF-8 (byte {})",
            path.display(),
            err.utf8_error().valid_up_to()
        ))
    })
}

/// The I/O errors about the users file at `path`, naming it.
fn io_error_at(path: &Path) -> impl Fn(io::Error) -> StoreError + '_ {
    move |err| StoreError::Io(format!("users file {}: {err}", path.display()))
}

/// The "missing users file" error.
fn missing(path: &Path) -> StoreError {
    StoreError::NotFound(format!(
        "users file {}: no such file (create it with `ftpd user add`)",
        path.display()
    ))
}

/// How long a change waits for the lock another process's change holds.
const LOCK_WAIT: Duration = Duration::from_secs(30);

/// How many times a change starts over because another process replaced the file while this
/// one waited for its lock (each time, that other change went through).
const MAX_REOPENS: u32 = 64;

/// The users file, opened and exclusively locked; dropping it releases the lock.
#[derive(Debug)]
struct Locked {
    file: File,
    meta: fs::Metadata,
    /// The file did not exist: this change created it empty.
    created: bool,
}

/// Opens and locks the file `path` names now, creating it empty (mode 0600) if it is missing
/// and `must_exist` is false.
///
/// Writers rename a new file over the old one, so a lock is on the inode the path named when
/// it was opened: once locked, the path must still name that inode, or another writer
/// replaced the file meanwhile and the lock is taken again on the new one.
fn lock_current(path: &Path, must_exist: bool) -> Result<Locked, StoreError> {
    let io_error = io_error_at(path);
    for _ in 0..MAX_REOPENS {
        let (file, created) = match File::open(path) {
            Ok(file) => (file, false),
            Err(err) if err.kind() == io::ErrorKind::NotFound && must_exist => {
                return Err(missing(path));
            }
            Err(err) if err.kind() == io::ErrorKind::NotFound => match create_private(path) {
                Ok(file) => (file, true),
                // Another writer created it first: lock theirs.
                Err(err) if err.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(err) => return Err(io_error(err)),
            },
            Err(err) => return Err(io_error(err)),
        };
        lock_exclusive(&file).map_err(&io_error)?;
        let meta = file.metadata().map_err(&io_error)?;
        let current = match fs::metadata(path) {
            Ok(current) => Some(current),
            Err(err) if err.kind() == io::ErrorKind::NotFound => None,
            Err(err) => return Err(io_error(err)),
        };
        if current.is_some_and(|current| same_file(&current, &meta)) {
            return Ok(Locked {
                file,
                meta,
                created,
            });
        }
    }
    Err(StoreError::Io(format!(
        "users file {}: replaced by other writers {MAX_REOPENS} times while waiting for its lock",
        path.display()
    )))
}

/// Creates `path` empty with mode 0600; fails if it exists.
fn create_private(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true).write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// Whether two metadata are of the same file (device and inode).
#[cfg(unix)]
fn same_file(a: &fs::Metadata, b: &fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    a.dev() == b.dev() && a.ino() == b.ino()
}

#[cfg(not(unix))]
fn same_file(_: &fs::Metadata, _: &fs::Metadata) -> bool {
    true
}

/// Takes an exclusive `flock` on `file`, waiting at most [`LOCK_WAIT`].
#[cfg(target_os = "linux")]
fn lock_exclusive(file: &File) -> io::Result<()> {
    use rustix::fs::{FlockOperation, flock};
    use rustix::io::Errno;
    let deadline = std::time::Instant::now() + LOCK_WAIT;
    let mut pause = Duration::from_millis(1);
    loop {
        match flock(file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => return Ok(()),
            Err(err) if err == Errno::INTR => {}
            Err(err) if err == Errno::WOULDBLOCK => {
                if std::time::Instant::now() >= deadline {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!(
                            "still locked by another writer after {} s",
                            LOCK_WAIT.as_secs()
                        ),
                    ));
                }
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            Err(err) => return Err(err.into()),
        }
    }
}

/// Elsewhere changes by several processes at once are not ordered (one may be lost).
#[cfg(not(target_os = "linux"))]
fn lock_exclusive(_: &File) -> io::Result<()> {
    let _ = LOCK_WAIT;
    Ok(())
}

/// Reads the file, applies `change` and writes the result back, all under the file's lock
/// (see [`lock_current`]), so a concurrent change by another process is never overwritten.
/// A file created for a change that then wrote nothing is removed again.
fn rewrite_locked<T>(
    path: &Path,
    must_exist: bool,
    change: impl FnOnce(&mut Vec<VirtualUser>) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let locked = lock_current(path, must_exist)?;
    let outcome = (|| {
        let text = read_text(path, &locked.file, &locked.meta)?;
        let mut users = parse(path, &text)?;
        let before = users.clone();
        let result = change(&mut users)?;
        users.sort_by(|a, b| a.name.cmp(&b.name));
        let written = users != before;
        if written {
            write_file(path, &users, &locked.meta)?;
        }
        Ok((result, written))
    })();
    if locked.created && !matches!(outcome, Ok((_, true))) {
        // Still ours: the lock is held and the path was checked to name it.
        let _ = fs::remove_file(path);
    }
    drop(locked);
    outcome.map(|(result, _)| result)
}

/// Writes `users` to `path` atomically: a temporary file beside it, with the owner and mode
/// of `original` (the file it replaces; see [`carry_over`]), synced, renamed over.
fn write_file(
    path: &Path,
    users: &[VirtualUser],
    original: &fs::Metadata,
) -> Result<(), StoreError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let io_error = io_error_at(path);
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
        carry_over(&file, original)?;
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
    result.map_err(&io_error)
}

/// Gives the new file `file` the owner, group and mode of the `original` it replaces, less
/// any permission for others (it holds password hashes). Run as root, `ftpd user` must not
/// hand a service account's file to root, or the server could no longer read it. Who may not
/// give files away keeps the new file; if its group then differs, the group loses its
/// permissions too.
#[cfg(unix)]
fn carry_over(file: &File, original: &fs::Metadata) -> io::Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let mut mode = private_mode(original.mode());
    match std::os::unix::fs::fchown(file, Some(original.uid()), Some(original.gid())) {
        Ok(()) => {}
        Err(err) if err.kind() == io::ErrorKind::PermissionDenied => {
            if file.metadata()?.gid() != original.gid() {
                mode &= 0o700;
            }
        }
        Err(err) => return Err(err),
    }
    file.set_permissions(fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn carry_over(file: &File, original: &fs::Metadata) -> io::Result<()> {
    file.set_permissions(original.permissions())
}

/// The permission bits of `mode` a rewritten users file keeps: the owner's and the group's.
fn private_mode(mode: u32) -> u32 {
    mode & 0o770
}

impl FileStore {
    /// Opens the users file at `path`, which must exist and be well-formed.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] if it does not exist, [`StoreError::Io`] if it cannot be
    /// read, [`StoreError::Malformed`] naming the line if it does not parse.
    pub async fn open(path: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let store = Self::unchecked(path.into(), true);
        store.clone().load().await?;
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

    /// The permissions others (neither the owner nor the group) have on the file, as mode
    /// bits: `0o004` read, `0o002` write, `0o001` execute; 0 if none, if the file cannot be
    /// examined, or where files have no such bits. Others should have none: the file holds
    /// password hashes (a rewrite removes them).
    pub fn others_access(&self) -> u32 {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            fs::metadata(&self.inner.path).map_or(0, |meta| meta.mode() & 0o007)
        }
        #[cfg(not(unix))]
        0
    }

    /// The users, re-read if the file changed since the last read; `true` if the file exists.
    async fn load(self) -> Result<(Arc<Vec<VirtualUser>>, bool), StoreError> {
        run_blocking(move || self.inner.load()).await
    }

    /// Reads the file fresh, applies `change`, writes it back atomically, all under the
    /// file's lock.
    async fn modify<T: Send + 'static>(
        &self,
        change: impl FnOnce(&mut Vec<VirtualUser>) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let _writer = self.inner.writer.lock().await;
        let inner = Arc::clone(&self.inner);
        run_blocking(move || {
            let result = rewrite_locked(&inner.path, inner.must_exist, change);
            // The next lookup sees the new file's stamp and re-reads it.
            if let Ok(mut cache) = inner.cache.lock() {
                *cache = None;
            }
            result
        })
        .await
    }
}

impl Inner {
    fn load(&self) -> ReadUsers {
        let io_error = io_error_at(&self.path);
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
            None if self.must_exist => Err(missing(&self.path)),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str, password: &HashedPassword) -> VirtualUser {
        let home = parse_home("/home").expect("home");
        VirtualUser::new(name, password.clone(), home).expect("user")
    }

    /// Like parallel `ftpd user add` processes: each change has its own store, so only the
    /// file lock orders them, and every one must survive.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_changes_from_separate_stores_are_all_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("users.toml");
        let password = HashedPassword::hash(b"pw").expect("hash");
        let names: Vec<String> = (0..12).map(|i| format!("user{i}")).collect();
        let adds = names.iter().map(|name| {
            let path = path.clone();
            let user = user(name, &password);
            tokio::spawn(async move {
                let store = FileStore::open_or_create(path).await?;
                store.add(user).await
            })
        });
        for add in adds.collect::<Vec<_>>() {
            add.await.expect("task").expect("add");
        }
        let store = FileStore::open(&path).await.expect("open");
        let kept: Vec<String> = store
            .list()
            .await
            .expect("list")
            .into_iter()
            .map(|u| u.name)
            .collect();
        let mut expected = names.clone();
        expected.sort();
        assert_eq!(kept, expected);
        let strays: Vec<_> = fs::read_dir(dir.path())
            .expect("read_dir")
            .map(|e| e.expect("entry").file_name())
            .filter(|n| n != "users.toml")
            .collect();
        assert!(strays.is_empty(), "{strays:?}");
    }

    /// A rewrite keeps the file's owner and group (so `ftpd user` run as root leaves the
    /// server's account able to read it) and drops every permission of others.
    #[cfg(unix)]
    #[tokio::test]
    async fn a_rewrite_keeps_the_owner_and_drops_others_permissions() {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("users.toml");
        let password = HashedPassword::hash(b"pw").expect("hash");
        let store = FileStore::open_or_create(&path).await.expect("store");
        store.add(user("alice", &password)).await.expect("add");
        assert_eq!(fs::metadata(&path).expect("meta").mode() & 0o777, 0o600);
        let root = created_as_root(&path);
        if root {
            std::os::unix::fs::chown(&path, Some(65534), Some(65534)).expect("chown");
        }
        fs::set_permissions(&path, fs::Permissions::from_mode(0o664)).expect("chmod");
        assert_eq!(store.others_access(), 0o004);
        store.add(user("bob", &password)).await.expect("add");
        let meta = fs::metadata(&path).expect("meta");
        assert_eq!(meta.mode() & 0o777, 0o660);
        assert_eq!(store.others_access(), 0);
        if root {
            assert_eq!((meta.uid(), meta.gid()), (65534, 65534));
        }
    }

    /// Whether this process may give files away (the file's owner is then root, as the test
    /// runs as root).
    #[cfg(unix)]
    fn created_as_root(created: &Path) -> bool {
        use std::os::unix::fs::MetadataExt;
        fs::metadata(created).is_ok_and(|meta| meta.uid() == 0)
    }

    /// A change that writes nothing to a users file that did not exist leaves no file.
    #[tokio::test]
    async fn a_change_that_writes_nothing_creates_no_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("users.toml");
        let store = FileStore::open_or_create(&path).await.expect("store");
        assert!(!store.remove("nobody").await.expect("remove"));
        assert!(!path.exists());
        let missing = FileStore::open(&path).await.expect_err("missing");
        assert!(matches!(missing, StoreError::NotFound(_)), "{missing:?}");
    }
}
