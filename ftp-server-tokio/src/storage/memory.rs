//! In-memory storage back-end: a tree of directories and files held in the process.
//!
//! Owns [`MemoryStorage`] and the reader, writer and directory types it hands out. It serves
//! tests, examples and generated content. It must not touch the local file system or the
//! network, and it does no path policy: paths arrive as normalised [`VirtualPath`]s.
//!
//! # Behaviour
//!
//! - **Reads** see a snapshot of the file taken when it is opened; later writes do not show.
//!   An offset at or past the end reads nothing, as vsftpd sends no data for `REST` past the
//!   end of the file followed by `RETR`.
//! - **Writes** go straight into the tree: each successful write is visible at once to
//!   [`Storage::metadata`], [`MemoryStorage::read_file`] and readers opened afterwards, as on a
//!   local file system. Shutting the writer down is the commit point the server reports
//!   success at; later writes fail. A writer dropped without shutdown keeps what it wrote: an
//!   interrupted upload stays as a partial file, as FTP servers keep them.
//! - [`WriteMode::Replace`] cuts the file to `offset` when opened (so a `REST`+`STOR` that
//!   sends nothing still leaves the file cut there). An offset past the end zero-fills up to
//!   it, as a local file system reads a hole as zeros. [`WriteMode::Append`] writes every chunk
//!   at the end the file has at that moment, like `O_APPEND`.
//! - A writer follows its file across renames. If the file is removed or replaced while the
//!   writer is open, its later writes succeed and are discarded, as writes to an unlinked file
//!   on Unix are.
//! - [`Storage::create_unique`] uses the hint when it is a plain file name (not empty, `.`,
//!   `..`, and free of `/`, CR, LF and NUL) and `stou-1`, `stou-2`, ... otherwise. A hint that
//!   is taken gets `.1`, `.2`, ... appended, as vsftpd does.
//! - Creating, removing or renaming an entry sets its directory's modification time; writing
//!   or cutting a file sets the file's. Renaming keeps the moved object's own time.
//! - Listings ([`Storage::read_dir`]) are sorted by name (byte order) and are a snapshot
//!   taken when the directory is opened.
//! - Files are reported with mode `0o644`, directories with `0o755`.
//!
//! # Errors
//!
//! | case | error |
//! |---|---|
//! | the path, or a directory on the way, is missing | [`FsError::NotFound`] |
//! | a file is on the way where a directory is needed | [`FsError::NotADirectory`] |
//! | reading, writing or removing a directory as a file (the root included) | [`FsError::IsADirectory`] |
//! | listing or removing a file as a directory | [`FsError::NotADirectory`] |
//! | creating a directory that exists (any kind of object, the root included) | [`FsError::AlreadyExists`] |
//! | removing a directory that has entries | [`FsError::DirectoryNotEmpty`] |
//! | removing the root, renaming it or renaming onto it | [`FsError::PermissionDenied`] |
//! | renaming a directory into its own subtree | [`FsError::PermissionDenied`] (550, as vsftpd answers any failed `RNTO`) |
//! | renaming anything onto an existing directory | [`FsError::AlreadyExists`] |
//! | renaming a directory onto an existing file | [`FsError::NotADirectory`] |
//! | a file onto an existing file | replaces it |
//! | a write past the space limit, or one memory cannot hold | [`FsError::InsufficientStorage`] |
//!
//! Renaming an object to its own path succeeds and changes nothing. Writer errors are
//! [`io::Error`]s that carry the [`FsError`] inside (`get_ref()` and `downcast_ref`); the kind is
//! [`io::ErrorKind::StorageFull`] for [`FsError::InsufficientStorage`].
//!
//! # Memory
//!
//! Everything lives in memory, so bounding it is the caller's business. Without
//! [`MemoryStorage::with_space_limit`] an upload can grow until the process runs out of
//! memory, and a `REST` offset far past the end of a file allocates that many zero bytes.
//! Offsets that no buffer can hold fail with [`FsError::InsufficientStorage`] instead of
//! aborting. Serve untrusted peers with a space limit (or the quotas that come later).
//!
//! # Concurrency
//!
//! The tree sits behind one [`std::sync::Mutex`], locked for the duration of a single
//! operation and never across an `.await`. Clones of a [`MemoryStorage`] share the tree.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::future::{Future, ready};
use std::io::{self, Cursor};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use ftp_proto::listing::Entry;
use ftp_proto::server::FsError;
use ftp_proto::{FtpPath, Timestamp, VirtualPath};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::{DirEntries, Storage, StorageFeatures, WriteMode};

/// Permission bits reported for every file.
const FILE_MODE: u32 = 0o644;
/// Permission bits reported for every directory.
const DIR_MODE: u32 = 0o755;

/// Where modification times come from.
type Clock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

/// Files and directories kept in memory, for tests, examples and generated content.
///
/// Cloning is cheap and the clones share one tree, so a test can keep a clone to inspect what
/// a server did. See the [module documentation](self) for the exact behaviour and errors.
///
/// ```
/// use ftp_server_tokio::ftp_proto::{FtpPath, VirtualPath};
/// use ftp_server_tokio::storage::Storage;
/// use ftp_server_tokio::storage::memory::MemoryStorage;
///
/// let storage = MemoryStorage::new()
///     .with_dir("/incoming")
///     .with_file("/pub/README", "hello\n");
/// assert_eq!(storage.read_file("/pub/README").as_deref(), Some(&b"hello\n"[..]));
/// assert!(storage.exists("/incoming"));
///
/// let path = VirtualPath::root().resolve(&FtpPath::from("/pub/README")).unwrap();
/// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// let entry = rt.block_on(storage.metadata(&path)).unwrap();
/// assert_eq!((entry.name.as_slice(), entry.size), (&b"README"[..], 6));
/// ```
#[derive(Clone)]
pub struct MemoryStorage {
    shared: Arc<Shared>,
}

/// What every clone of a [`MemoryStorage`] and every open writer share.
struct Shared {
    tree: Mutex<Tree>,
    clock: Clock,
}

impl Shared {
    fn now(&self) -> Timestamp {
        (self.clock)()
    }

    fn lock(&self) -> MutexGuard<'_, Tree> {
        // Operations check before they change anything and nothing in them panics by design,
        // so a poisoned lock still guards a consistent tree: carry on rather than fail forever.
        self.tree.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The directory tree and the files its entries name.
struct Tree {
    root: Dir,
    files: Files,
}

/// A directory: its entries by name, sorted (byte order) so listings are stable.
struct Dir {
    children: BTreeMap<Vec<u8>, Node>,
    modified: Timestamp,
}

/// A directory entry.
enum Node {
    File(FileId),
    Dir(Dir),
}

/// Names a file in [`Files`], like an inode number: writers hold it, so they follow renames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct FileId(u64);

/// A file's contents and time. The contents are shared with the readers holding a snapshot;
/// a write copies them only while such a snapshot is alive.
struct File {
    contents: Arc<Vec<u8>>,
    modified: Timestamp,
}

/// Every file in the tree, and the bytes they hold against the space limit.
struct Files {
    map: HashMap<FileId, File>,
    next_id: u64,
    used: u64,
    space_limit: Option<u64>,
}

/// An object found at a path.
enum Found<'a> {
    Dir(&'a mut Dir),
    File(FileId),
}

/// Where a writer puts its next chunk.
#[derive(Debug, Clone, Copy)]
enum Position {
    At(u64),
    End,
}

/// A byte count as `u64` (lossless: `usize` is at most 64 bits on every supported target).
fn len64(len: usize) -> u64 {
    len as u64
}

fn storage_full<E>(_: E) -> FsError {
    FsError::InsufficientStorage
}

impl Dir {
    fn new(modified: Timestamp) -> Self {
        Self {
            children: BTreeMap::new(),
            modified,
        }
    }

    /// The directory at `path`, `self` being the root.
    fn walk(&mut self, path: &VirtualPath) -> Result<&mut Dir, FsError> {
        let mut dir = self;
        for name in path.segments() {
            dir = match dir.children.get_mut(name) {
                Some(Node::Dir(child)) => child,
                Some(Node::File(_)) => return Err(FsError::NotADirectory),
                None => return Err(FsError::NotFound),
            };
        }
        Ok(dir)
    }

    /// The object at `path`, `self` being the root.
    fn find(&mut self, path: &VirtualPath) -> Result<Found<'_>, FsError> {
        let Some(name) = path.file_name() else {
            return Ok(Found::Dir(self));
        };
        match self.walk(&path.parent())?.children.get_mut(name) {
            Some(Node::Dir(dir)) => Ok(Found::Dir(dir)),
            Some(Node::File(id)) => Ok(Found::File(*id)),
            None => Err(FsError::NotFound),
        }
    }

    /// Like `mkdir -p`: the directory at `path`, creating what is missing.
    fn make_dirs(&mut self, path: &VirtualPath, now: Timestamp) -> Result<&mut Dir, FsError> {
        let mut dir = self;
        for name in path.segments() {
            let node = dir
                .children
                .entry(name.to_vec())
                .or_insert_with(|| Node::Dir(Dir::new(now)));
            dir = match node {
                Node::Dir(child) => child,
                Node::File(_) => return Err(FsError::NotADirectory),
            };
        }
        Ok(dir)
    }

    /// The first free name here for STOU: among `hint`, `hint.1`, ... or `stou-1`, ...
    /// (there are fewer entries than candidates tried, so one is always free).
    fn unique_name(&self, dir_path: &VirtualPath, hint: Option<&[u8]>) -> Option<Vec<u8>> {
        let hint = hint.filter(|hint| dir_path.join(hint).is_ok());
        (0..=self.children.len())
            .map(|n| match hint {
                Some(hint) if n == 0 => hint.to_vec(),
                Some(hint) => [hint, format!(".{n}").as_bytes()].concat(),
                None => format!("stou-{}", n + 1).into_bytes(),
            })
            .find(|name| !self.children.contains_key(name))
    }

    fn entry(&self, name: &[u8]) -> Entry {
        Entry {
            modified: Some(self.modified),
            unix_mode: Some(DIR_MODE),
            ..Entry::dir(name)
        }
    }
}

impl File {
    fn entry(&self, name: &[u8]) -> Entry {
        Entry {
            modified: Some(self.modified),
            unix_mode: Some(FILE_MODE),
            ..Entry::file(name, len64(self.contents.len()))
        }
    }
}

impl Files {
    fn get(&self, id: FileId) -> Result<&File, FsError> {
        // Every id in the tree is in the map; a miss would be a bug here, not the caller's.
        self.map.get(&id).ok_or(FsError::Local)
    }

    fn entry(&self, name: &[u8], node: &Node) -> Result<Entry, FsError> {
        match node {
            Node::Dir(dir) => Ok(dir.entry(name)),
            Node::File(id) => Ok(self.get(*id)?.entry(name)),
        }
    }

    /// Adds an empty file to `dir` under `name` (which must be free).
    fn create(&mut self, dir: &mut Dir, name: &[u8], now: Timestamp) -> FileId {
        let id = FileId(self.next_id);
        self.next_id += 1;
        let file = File {
            contents: Arc::new(Vec::new()),
            modified: now,
        };
        self.map.insert(id, file);
        dir.children.insert(name.to_vec(), Node::File(id));
        dir.modified = now;
        id
    }

    /// Forgets a file taken out of the tree; its open writers write into nothing from now on.
    fn remove(&mut self, id: FileId) {
        if let Some(file) = self.map.remove(&id) {
            self.used -= len64(file.contents.len());
        }
    }

    /// The file's size; 0 once it is removed.
    fn len(&self, id: FileId) -> u64 {
        self.map.get(&id).map_or(0, |f| len64(f.contents.len()))
    }

    /// Writes `bytes` at `at`, zero-filling any gap before it, and cuts the file right after
    /// them when `truncate` is set. Returns the position after the bytes. A removed file
    /// swallows the bytes.
    fn splice(
        &mut self,
        id: FileId,
        at: u64,
        bytes: &[u8],
        truncate: bool,
        now: Timestamp,
    ) -> Result<u64, FsError> {
        let after = at
            .checked_add(len64(bytes.len()))
            .ok_or(FsError::InsufficientStorage)?;
        let Some(file) = self.map.get_mut(&id) else {
            return Ok(after);
        };
        let start = usize::try_from(at).map_err(storage_full)?;
        let end = usize::try_from(after).map_err(storage_full)?;
        let old_len = file.contents.len();
        let new_len = if truncate { end } else { old_len.max(end) };
        let growth = new_len.saturating_sub(old_len);
        if let Some(limit) = self.space_limit
            && self.used.saturating_add(len64(growth)) > limit
        {
            return Err(FsError::InsufficientStorage);
        }
        let contents = Arc::make_mut(&mut file.contents);
        contents.try_reserve(growth).map_err(storage_full)?;
        if contents.len() < start {
            contents.resize(start, 0);
        }
        let overwritten = end.min(contents.len());
        contents.splice(start..overwritten, bytes.iter().copied());
        if truncate {
            contents.truncate(end);
        }
        self.used = self.used - len64(old_len) + len64(contents.len());
        file.modified = now;
        Ok(after)
    }
}

impl Tree {
    fn metadata(&mut self, path: &VirtualPath) -> Result<Entry, FsError> {
        let name = path.file_name().unwrap_or(b"/");
        match self.root.find(path)? {
            Found::Dir(dir) => Ok(dir.entry(name)),
            Found::File(id) => Ok(self.files.get(id)?.entry(name)),
        }
    }

    fn read_dir(&mut self, path: &VirtualPath) -> Result<Vec<Entry>, FsError> {
        let Found::Dir(dir) = self.root.find(path)? else {
            return Err(FsError::NotADirectory);
        };
        let files = &self.files;
        dir.children
            .iter()
            .map(|(name, node)| files.entry(name, node))
            .collect()
    }

    fn contents(&mut self, path: &VirtualPath) -> Result<Arc<Vec<u8>>, FsError> {
        match self.root.find(path)? {
            Found::Dir(_) => Err(FsError::IsADirectory),
            Found::File(id) => Ok(Arc::clone(&self.files.get(id)?.contents)),
        }
    }

    fn open_write(
        &mut self,
        path: &VirtualPath,
        mode: WriteMode,
        now: Timestamp,
    ) -> Result<(FileId, Position), FsError> {
        let Some(name) = path.file_name() else {
            return Err(FsError::IsADirectory);
        };
        let dir = self.root.walk(&path.parent())?;
        let id = match dir.children.get(name) {
            Some(Node::Dir(_)) => return Err(FsError::IsADirectory),
            Some(Node::File(_)) if mode == WriteMode::CreateNew => {
                return Err(FsError::AlreadyExists);
            }
            Some(Node::File(id)) => *id,
            None if matches!(mode, WriteMode::Replace { offset } if offset > 0) => {
                return Err(FsError::OffsetPastEnd);
            }
            None => self.files.create(dir, name, now),
        };
        match mode {
            WriteMode::Replace { offset } if offset > self.files.len(id) => {
                Err(FsError::OffsetPastEnd)
            }
            WriteMode::Replace { offset } => {
                self.files.splice(id, offset, &[], true, now)?;
                Ok((id, Position::At(offset)))
            }
            WriteMode::CreateNew => Ok((id, Position::At(0))),
            WriteMode::Append => Ok((id, Position::End)),
        }
    }

    fn create_unique(
        &mut self,
        dir_path: &VirtualPath,
        hint: Option<&[u8]>,
        now: Timestamp,
    ) -> Result<(VirtualPath, FileId), FsError> {
        let dir = self.root.walk(dir_path)?;
        let name = dir.unique_name(dir_path, hint).ok_or(FsError::Local)?;
        let path = dir_path.join(&name).map_err(|_| FsError::Local)?;
        let id = self.files.create(dir, &name, now);
        Ok((path, id))
    }

    fn remove_file(&mut self, path: &VirtualPath, now: Timestamp) -> Result<(), FsError> {
        let Some(name) = path.file_name() else {
            return Err(FsError::IsADirectory);
        };
        let dir = self.root.walk(&path.parent())?;
        match dir.children.get(name) {
            None => Err(FsError::NotFound),
            Some(Node::Dir(_)) => Err(FsError::IsADirectory),
            Some(&Node::File(id)) => {
                dir.children.remove(name);
                dir.modified = now;
                self.files.remove(id);
                Ok(())
            }
        }
    }

    fn create_dir(&mut self, path: &VirtualPath, now: Timestamp) -> Result<(), FsError> {
        let Some(name) = path.file_name() else {
            return Err(FsError::AlreadyExists);
        };
        let dir = self.root.walk(&path.parent())?;
        if dir.children.contains_key(name) {
            return Err(FsError::AlreadyExists);
        }
        dir.children.insert(name.to_vec(), Node::Dir(Dir::new(now)));
        dir.modified = now;
        Ok(())
    }

    fn remove_dir(&mut self, path: &VirtualPath, now: Timestamp) -> Result<(), FsError> {
        let Some(name) = path.file_name() else {
            return Err(FsError::PermissionDenied);
        };
        let dir = self.root.walk(&path.parent())?;
        match dir.children.get(name) {
            None => Err(FsError::NotFound),
            Some(Node::File(_)) => Err(FsError::NotADirectory),
            Some(Node::Dir(child)) if !child.children.is_empty() => Err(FsError::DirectoryNotEmpty),
            Some(Node::Dir(_)) => {
                dir.children.remove(name);
                dir.modified = now;
                Ok(())
            }
        }
    }

    fn rename(
        &mut self,
        from: &VirtualPath,
        to: &VirtualPath,
        now: Timestamp,
    ) -> Result<(), FsError> {
        let (Some(from_name), Some(to_name)) = (from.file_name(), to.file_name()) else {
            return Err(FsError::PermissionDenied);
        };
        let (from_parent, to_parent) = (from.parent(), to.parent());
        let moving_dir = match self.root.walk(&from_parent)?.children.get(from_name) {
            None => return Err(FsError::NotFound),
            Some(node) => matches!(node, Node::Dir(_)),
        };
        if from == to {
            return Ok(());
        }
        if to.starts_with(from) {
            return Err(FsError::PermissionDenied);
        }
        match self.root.walk(&to_parent)?.children.get(to_name) {
            Some(Node::Dir(_)) => return Err(FsError::AlreadyExists),
            Some(Node::File(_)) if moving_dir => return Err(FsError::NotADirectory),
            Some(Node::File(_)) | None => {}
        }

        // Both parents exist and `to` is not below `from`, so taking `from` out of the tree
        // leaves `to`'s parent where it was.
        let from_dir = self.root.walk(&from_parent)?;
        let node = from_dir
            .children
            .remove(from_name)
            .ok_or(FsError::NotFound)?;
        from_dir.modified = now;
        let to_dir = match self.root.walk(&to_parent) {
            Ok(dir) => dir,
            Err(err) => {
                // Unreachable after the checks above; never lose the object if it were not.
                if let Ok(dir) = self.root.walk(&from_parent) {
                    dir.children.insert(from_name.to_vec(), node);
                }
                return Err(err);
            }
        };
        let replaced = to_dir.children.insert(to_name.to_vec(), node);
        to_dir.modified = now;
        if let Some(Node::File(id)) = replaced {
            self.files.remove(id);
        }
        Ok(())
    }

    /// Stores a whole file, creating the directories above it.
    fn put_file(
        &mut self,
        path: &VirtualPath,
        contents: &[u8],
        now: Timestamp,
    ) -> Result<(), FsError> {
        self.root.make_dirs(&path.parent(), now)?;
        let (id, _) = self.open_write(path, WriteMode::Replace { offset: 0 }, now)?;
        self.files.splice(id, 0, contents, false, now)?;
        Ok(())
    }

    fn set_modified(&mut self, path: &VirtualPath, time: Timestamp) -> Result<(), FsError> {
        match self.root.find(path)? {
            Found::Dir(dir) => dir.modified = time,
            Found::File(id) => {
                self.files.map.get_mut(&id).ok_or(FsError::Local)?.modified = time;
            }
        }
        Ok(())
    }

    fn available_space(&mut self, path: &VirtualPath) -> Result<u64, FsError> {
        self.root.find(path)?;
        let limit = self.files.space_limit.ok_or(FsError::NotSupported)?;
        Ok(limit.saturating_sub(self.files.used))
    }
}

/// `path` as the root-based path the helpers take (a relative path starts at the root).
fn parse(path: &str) -> Option<VirtualPath> {
    VirtualPath::root().resolve(&FtpPath::from(path)).ok()
}

impl MemoryStorage {
    /// An empty storage (only the root directory) whose new and changed objects take their
    /// modification time from the system clock.
    pub fn new() -> Self {
        Self::with_clock(super::system_now)
    }

    /// An empty storage whose modification times come from `clock`, so tests can fix them.
    ///
    /// The clock is called outside the storage's lock, once per operation that creates or
    /// changes something.
    pub fn with_clock(clock: impl Fn() -> Timestamp + Send + Sync + 'static) -> Self {
        let now = clock();
        let tree = Tree {
            root: Dir::new(now),
            files: Files {
                map: HashMap::new(),
                next_id: 0,
                used: 0,
                space_limit: None,
            },
        };
        Self {
            shared: Arc::new(Shared {
                tree: Mutex::new(tree),
                clock: Arc::new(clock),
            }),
        }
    }

    /// Caps the bytes all files together may hold: a write past it fails with
    /// [`FsError::InsufficientStorage`], and [`Storage::available_space`] (AVBL) reports what
    /// is left. Files already stored count, even when they exceed the cap.
    pub fn with_space_limit(self, bytes: u64) -> Self {
        self.shared.lock().files.space_limit = Some(bytes);
        self
    }

    /// Adds a file holding `contents`, replacing any file at `path` and creating missing
    /// directories above it. A relative `path` starts at the root.
    ///
    /// # Panics
    ///
    /// If `path` holds CR, LF or NUL, names the root or a directory, has a file where a
    /// directory is needed, or exceeds the space limit. This is a builder for tests and
    /// embedding: its input is the program's own, never a peer's.
    pub fn with_file(self, path: &str, contents: impl Into<Vec<u8>>) -> Self {
        let path = parse(path).expect("with_file: path holds CR, LF or NUL");
        let now = self.shared.now();
        if let Err(err) = self.shared.lock().put_file(&path, &contents.into(), now) {
            panic!("with_file({path}): {err}");
        }
        self
    }

    /// Adds a directory at `path` and any missing directories above it (like `mkdir -p`). A
    /// relative `path` starts at the root.
    ///
    /// # Panics
    ///
    /// If `path` holds CR, LF or NUL, or a file is where a directory is needed.
    pub fn with_dir(self, path: &str) -> Self {
        let path = parse(path).expect("with_dir: path holds CR, LF or NUL");
        let now = self.shared.now();
        if let Err(err) = self.shared.lock().root.make_dirs(&path, now) {
            panic!("with_dir({path}): {err}");
        }
        self
    }

    /// A copy of the file at `path`, or `None` if there is no file there (or `path` holds CR,
    /// LF or NUL). A relative `path` starts at the root.
    pub fn read_file(&self, path: &str) -> Option<Vec<u8>> {
        let path = parse(path)?;
        let contents = self.shared.lock().contents(&path).ok()?;
        Some(contents.to_vec())
    }

    /// True if a file or directory is at `path`. A relative `path` starts at the root.
    pub fn exists(&self, path: &str) -> bool {
        parse(path).is_some_and(|path| self.shared.lock().root.find(&path).is_ok())
    }
}

impl Default for MemoryStorage {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for MemoryStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tree = self.shared.lock();
        f.debug_struct("MemoryStorage")
            .field("files", &tree.files.map.len())
            .field("used", &tree.files.used)
            .field("space_limit", &tree.files.space_limit)
            .finish_non_exhaustive()
    }
}

impl Storage for MemoryStorage {
    type Reader = MemoryReader;
    type Writer = MemoryWriter;
    type Dir = MemoryDir;

    fn features(&self) -> StorageFeatures {
        StorageFeatures {
            set_modified: true,
            checksums: Vec::new(),
            available_space: self.shared.lock().files.space_limit.is_some(),
            // Modes are fixed (0o644 files, 0o755 directories).
            set_permissions: false,
        }
    }

    async fn metadata(&self, path: &VirtualPath) -> Result<Entry, FsError> {
        self.shared.lock().metadata(path)
    }

    async fn read_dir(&self, path: &VirtualPath) -> Result<MemoryDir, FsError> {
        let entries = self.shared.lock().read_dir(path)?;
        Ok(MemoryDir {
            entries: entries.into_iter(),
        })
    }

    async fn open_read(&self, path: &VirtualPath, offset: u64) -> Result<MemoryReader, FsError> {
        let contents = self.shared.lock().contents(path)?;
        let mut cursor = Cursor::new(Snapshot(contents));
        cursor.set_position(offset);
        Ok(MemoryReader { cursor })
    }

    async fn open_write(
        &self,
        path: &VirtualPath,
        mode: WriteMode,
    ) -> Result<MemoryWriter, FsError> {
        let now = self.shared.now();
        let (file, position) = self.shared.lock().open_write(path, mode, now)?;
        Ok(MemoryWriter::new(&self.shared, file, position))
    }

    async fn create_unique(
        &self,
        dir: &VirtualPath,
        hint: Option<&[u8]>,
    ) -> Result<(VirtualPath, MemoryWriter), FsError> {
        let now = self.shared.now();
        let (path, file) = self.shared.lock().create_unique(dir, hint, now)?;
        Ok((path, MemoryWriter::new(&self.shared, file, Position::At(0))))
    }

    async fn remove_file(&self, path: &VirtualPath) -> Result<(), FsError> {
        let now = self.shared.now();
        self.shared.lock().remove_file(path, now)
    }

    async fn create_dir(&self, path: &VirtualPath) -> Result<(), FsError> {
        let now = self.shared.now();
        self.shared.lock().create_dir(path, now)
    }

    async fn remove_dir(&self, path: &VirtualPath) -> Result<(), FsError> {
        let now = self.shared.now();
        self.shared.lock().remove_dir(path, now)
    }

    async fn rename(&self, from: &VirtualPath, to: &VirtualPath) -> Result<(), FsError> {
        let now = self.shared.now();
        self.shared.lock().rename(from, to, now)
    }

    async fn set_modified(&self, path: &VirtualPath, time: Timestamp) -> Result<(), FsError> {
        self.shared.lock().set_modified(path, time)
    }

    async fn available_space(&self, path: &VirtualPath) -> Result<u64, FsError> {
        self.shared.lock().available_space(path)
    }
}

/// A reader's view of a file: the contents when it was opened.
struct Snapshot(Arc<Vec<u8>>);

impl AsRef<[u8]> for Snapshot {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// A file opened for reading: a snapshot of its contents taken at open, read from the offset
/// given (nothing if that is at or past the end).
pub struct MemoryReader {
    cursor: Cursor<Snapshot>,
}

impl fmt::Debug for MemoryReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryReader")
            .field("len", &self.cursor.get_ref().0.len())
            .field("position", &self.cursor.position())
            .finish()
    }
}

impl AsyncRead for MemoryReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.cursor).poll_read(cx, buf)
    }
}

/// A file opened for writing. Each write lands in the storage at once; shutting down ends the
/// writer, and dropping it without shutdown keeps what was written (see the
/// [module documentation](self)).
pub struct MemoryWriter {
    shared: Arc<Shared>,
    file: FileId,
    position: Position,
    shut_down: bool,
}

impl MemoryWriter {
    fn new(shared: &Arc<Shared>, file: FileId, position: Position) -> Self {
        Self {
            shared: Arc::clone(shared),
            file,
            position,
            shut_down: false,
        }
    }
}

impl fmt::Debug for MemoryWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryWriter")
            .field("file", &self.file)
            .field("position", &self.position)
            .field("shut_down", &self.shut_down)
            .finish_non_exhaustive()
    }
}

/// An [`FsError`] as the `io::Error` a writer reports, with the `FsError` inside.
fn io_error(err: FsError) -> io::Error {
    let kind = match err {
        FsError::InsufficientStorage => io::ErrorKind::StorageFull,
        _ => io::ErrorKind::Other,
    };
    io::Error::new(kind, err)
}

impl AsyncWrite for MemoryWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.shut_down {
            return Poll::Ready(Err(io::Error::other("write after shutdown")));
        }
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let now = this.shared.now();
        let mut tree = this.shared.lock();
        let at = match this.position {
            Position::At(at) => at,
            Position::End => tree.files.len(this.file),
        };
        let written = tree.files.splice(this.file, at, buf, false, now);
        drop(tree);
        Poll::Ready(match written {
            Ok(after) => {
                if let Position::At(at) = &mut this.position {
                    *at = after;
                }
                Ok(buf.len())
            }
            Err(err) => Err(io_error(err)),
        })
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().shut_down = true;
        Poll::Ready(Ok(()))
    }
}

/// A directory being read: the entries, sorted by name, as they were when it was opened.
#[derive(Debug)]
pub struct MemoryDir {
    entries: std::vec::IntoIter<Entry>,
}

impl DirEntries for MemoryDir {
    fn next_entry(&mut self) -> impl Future<Output = Option<Result<Entry, FsError>>> + Send {
        ready(self.entries.next().map(Ok))
    }
}
