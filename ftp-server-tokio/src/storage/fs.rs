//! Local-filesystem storage: the files under one directory of this machine, reached only
//! through a handle to that directory.
//!
//! Owns [`FsStorage`] (the [`Storage`] implementation), [`FsDirEntries`] (a listing read in
//! batches) and the one mapping from [`io::Error`] to [`FsError`]. It must not make path
//! policy (who sees which directory, hidden files, upload rules): it receives normalised
//! [`VirtualPath`]s and maps their segments, byte for byte, beneath its root. All blocking
//! filesystem calls run on tokio's blocking pool ([`tokio::task::spawn_blocking`]); opened
//! files are [`tokio::fs::File`]s, so transfers stream without blocking the runtime.
//!
//! # Security guarantee
//!
//! The root is opened once as a [`cap_std::fs::Dir`]; [`FsStorage::open`] is the only place
//! that uses ambient authority (a path in the host's namespace). Every operation afterwards
//! names its target *relative to that handle*, and cap-std resolves it beneath the handle: an
//! absolute path, a `..` that would climb above the root, or a symlink whose target lies
//! outside the root (absolute, like `/etc`, or relative with enough `..`) makes the operation
//! fail with [`FsError::PermissionDenied`] ("a path led outside of the filesystem"), and
//! nothing outside the root is opened, created, changed or removed. A symlink whose target
//! stays inside the root is followed, as inside a chroot. [`VirtualPath`] already cannot hold
//! `..`; this is the second layer, the one that faces the operating system.
//!
//! How cap-std enforces it:
//! - **Linux 5.6 and later:** every walk of a path (opening a file, the `O_PATH` open behind a
//!   `stat`, opening the parent directory of a `mkdir`, `unlink`, `rmdir` or `rename`) is one
//!   `openat2(2)` call with `RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS`. The kernel resolves the
//!   whole path and refuses an escape atomically (`EXDEV`, reported as permission denied), so
//!   swapping a directory for a symlink while the call runs cannot redirect it.
//! - **Elsewhere** (older kernels, seccomp filters that refuse `openat2`, other Unix systems):
//!   cap-std walks the path itself, one component at a time, with `openat(O_NOFOLLOW)` relative
//!   to directory descriptors it holds open, expanding each symlink it meets and checking that
//!   the result stays beneath the root.
//! - The last component of `unlink`, `rmdir`, `rename` and `mkdir` is handled by the `*at` call
//!   in its parent's descriptor and is never followed: deleting or renaming onto a symlink acts
//!   on the link, not on its target.
//!
//! # Limits
//!
//! - **Time of check, time of use.** Each operation resolves its path afresh. Containment holds
//!   for every single call, but two calls on the "same" path (`metadata` then `open_read`, or
//!   RNFR then RNTO) may reach different objects if something else changes the tree between
//!   them. The check that refuses FIFOs and devices before opening them (their `open` could
//!   block a worker thread forever) is best effort; the type of the opened file is checked
//!   again on its descriptor.
//! - **Hard links and mounts.** Containment is about name resolution. A hard link or a bind
//!   mount that someone with access to the host puts inside the root exposes its target. Mount
//!   points inside the root are crossed; a rename across them fails with [`FsError::Local`].
//!   A procfs mounted inside the root is still no way out: Linux's `openat2` refuses its magic
//!   links (`/proc/self/root`, `/proc/<pid>/fd/<n>`) with `ELOOP`, reported as
//!   [`FsError::NotFound`] like a symlink loop, and the component-by-component walk refuses
//!   them as the escapes they are ([`FsError::PermissionDenied`]).
//! - **Not a process sandbox.** The server process keeps its ambient authority for everything
//!   that does not go through this back-end, and the OS permissions of the user it runs as are
//!   the real access policy. Run it as an unprivileged user.
//! - **Symlink targets are shown only when they stay inside.** Listings report a link's
//!   target text as stored when it is relative and, read as text from the listed directory,
//!   does not climb above the root (or the home of a [confined](Storage::confine) view). An
//!   absolute target, or one with more `..` than that, is left out (LIST shows the link's
//!   name alone, MLSD `type=OS.unix=symlink`): it would tell a client about the host's
//!   directories, and it could not be followed anyway. The check is on the text: a target
//!   that passes through another symlinked directory is judged by its letters.
//! - **Non-Unix systems.** Names must be UTF-8 and must not hold `\` or `:`; other names are
//!   refused with [`FsError::NameNotAllowed`]. On Unix every byte but `/` and NUL is kept.

use std::collections::VecDeque;
use std::ffi::OsStr;
use std::io::{self, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cap_fs_ext::{DirExt, SystemTimeSpec};
use cap_std::fs::{Dir, Metadata, OpenOptions, ReadDir};
use ftp_proto::listing::{Entry, EntryKind};
use ftp_proto::server::FsError;
use ftp_proto::{Segments, Timestamp, VirtualPath};
use tokio::task::JoinHandle;

use super::{DirEntries, Storage, StorageFeatures, WriteMode};

/// How many directory entries [`FsDirEntries`] reads (and stats) per blocking call.
pub const READ_DIR_BATCH: usize = 1024;

/// How many names [`Storage::create_unique`] tries (`name`, `name.1`, ... `name.99`) before
/// giving up with [`FsError::AlreadyExists`].
pub const MAX_UNIQUE_ATTEMPTS: u32 = 100;

/// Files in a local directory, with every path resolved beneath it (see the [module
/// documentation](self) for the guarantee and its limits).
///
/// Behaviour beyond the [`Storage`] contract:
/// - [`metadata`](Storage::metadata) follows a symlink that stays inside the root and reports
///   its target; a symlink that leads outside gives [`FsError::PermissionDenied`].
///   [`read_dir`](Storage::read_dir) reports symlinks as [`EntryKind::Symlink`] without
///   following them.
/// - An escape attempt through `..`, an absolute path or a symlink gives
///   [`FsError::PermissionDenied`], never `NotFound`.
/// - A symlink loop (or a chain of links longer than the OS follows) gives
///   [`FsError::NotFound`]: the name leads nowhere, for good (550, not the transient 451).
/// - [`symlink_metadata`](Storage::symlink_metadata) describes a symlink at the last segment
///   without following it (a dangling one, a loop, one that leads outside), so RNFR and RNTO
///   move links as DELE removes them; what a link leads to is never touched.
/// - [`read_dir`](Storage::read_dir) puts the file type of what a symlink leads to (followed
///   beneath the root) in the type bits of its `unix_mode`, so MLSD's `perm` fact can offer
///   what works through it; a link that dangles, loops or leads outside keeps `S_IFLNK`.
/// - Only regular files are opened for reading or writing; a FIFO, socket or device gives
///   [`FsError::PermissionDenied`], a directory (the root too) [`FsError::IsADirectory`].
/// - [`open_read`](Storage::open_read) at an offset past the end yields no bytes;
///   [`open_write`](Storage::open_write) with `Replace { offset }` past the end extends the
///   file with zeros up to `offset`.
/// - The root cannot be removed or renamed ([`FsError::PermissionDenied`]); a rename into the
///   object's own subtree is refused the same way.
/// - Times are whole seconds (the mtime rounded down); [`set_modified`](Storage::set_modified)
///   keeps the milliseconds it is given.
/// - [`available_space`](Storage::available_space) is not supported (cap-std offers no
///   `statvfs`), so [`StorageFeatures::available_space`] is false.
#[derive(Debug)]
pub struct FsStorage {
    /// The directory `base` stands for.
    root: Arc<Dir>,
    /// The storage path of `root`: `/`, or the home a [confined](Storage::confine) view is
    /// limited to. Paths outside it are refused.
    base: VirtualPath,
    /// Numbers the `stou-<n>` names of STOU without a hint (shared with confined views).
    next_unique: Arc<AtomicU64>,
}

impl FsStorage {
    /// Opens the directory at `root` (a path in the host's namespace: this is the one place
    /// that uses ambient authority) as the storage root.
    ///
    /// # Errors
    ///
    /// The error from opening the directory: it does not exist, is not a directory, or is
    /// not accessible.
    ///
    /// ```
    /// use ftp_server_tokio::ftp_proto::VirtualPath;
    /// use ftp_server_tokio::storage::Storage;
    /// use ftp_server_tokio::storage::fs::FsStorage;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let tmp = tempfile::tempdir()?;
    /// std::fs::write(tmp.path().join("hello.txt"), b"hello")?;
    /// let storage = FsStorage::open(tmp.path())?;
    ///
    /// let rt = tokio::runtime::Builder::new_current_thread().build()?;
    /// let entry = rt.block_on(storage.metadata(&VirtualPath::root().join("hello.txt")?))?;
    /// assert_eq!((entry.name.as_slice(), entry.size), (&b"hello.txt"[..], 5));
    /// # Ok(())
    /// # }
    /// ```
    pub fn open(root: impl AsRef<Path>) -> io::Result<Self> {
        let dir = Dir::open_ambient_dir(root, cap_std::ambient_authority())?;
        Ok(Self::from_dir(dir))
    }

    /// Uses an already opened directory handle as the storage root (no ambient authority).
    pub fn from_dir(dir: Dir) -> Self {
        Self {
            root: Arc::new(dir),
            base: VirtualPath::root(),
            next_unique: Arc::new(AtomicU64::new(1)),
        }
    }

    /// `path` relative to the root handle; `PermissionDenied` outside `base`.
    fn relative(&self, path: &VirtualPath) -> Result<PathBuf, FsError> {
        let segments = path
            .strip_prefix(&self.base)
            .ok_or(FsError::PermissionDenied)?;
        relative_path(segments)
    }

    /// Facts about `path`: what a symlink as its last segment leads to (`follow`), or the
    /// link itself (see [`Storage::symlink_metadata`]).
    async fn stat(&self, path: &VirtualPath, follow: bool) -> Result<Entry, FsError> {
        let root = Arc::clone(&self.root);
        let rel = self.relative(path)?;
        let name = path.file_name().unwrap_or(b"/").to_vec();
        blocking(move || {
            let meta = if follow {
                root.metadata(&rel)?
            } else {
                root.symlink_metadata(&rel)?
            };
            Ok(entry_from_metadata(
                name,
                &meta,
                None,
                &mut IdNames::default(),
            ))
        })
        .await
    }

    /// The top of this view (the root, or the home it is confined to): never removed,
    /// renamed or created.
    fn is_top(&self, path: &VirtualPath) -> bool {
        *path == self.base
    }
}

impl Storage for FsStorage {
    type Reader = tokio::fs::File;
    type Writer = tokio::fs::File;
    type Dir = FsDirEntries;

    #[cfg(unix)]
    fn zero_copy_source(reader: &Self::Reader) -> Option<std::os::fd::BorrowedFd<'_>> {
        use std::os::fd::AsFd;
        Some(reader.as_fd())
    }

    #[cfg(unix)]
    fn direct_sink(writer: &Self::Writer) -> Option<std::os::fd::BorrowedFd<'_>> {
        use std::os::fd::AsFd;
        Some(writer.as_fd())
    }

    /// Opens `home` beneath this view's root as the new view's root handle: from then on
    /// cap-std resolves every path beneath the home, so a symlink in it that climbs out (even
    /// to somewhere else inside the root) is refused like any escape. The home itself may be
    /// a symlink that stays inside the root. `None` when `home` is this view's own top.
    async fn confine(&self, home: &VirtualPath) -> Result<Option<Self>, FsError> {
        if self.is_top(home) {
            return Ok(None);
        }
        let root = Arc::clone(&self.root);
        let rel = self.relative(home)?;
        let dir = blocking(move || root.open_dir(&rel)).await?;
        Ok(Some(Self {
            root: Arc::new(dir),
            base: home.clone(),
            next_unique: Arc::clone(&self.next_unique),
        }))
    }

    fn features(&self) -> StorageFeatures {
        StorageFeatures {
            set_modified: true,
            checksums: Vec::new(),
            available_space: false,
            set_permissions: cfg!(unix),
        }
    }

    async fn metadata(&self, path: &VirtualPath) -> Result<Entry, FsError> {
        self.stat(path, true).await
    }

    /// `lstat` of the last segment, in its parent resolved beneath the root: a symlink there
    /// is described (even one that dangles, loops or leads outside), never followed. Links
    /// in the parent's path are followed as everywhere else, so an escape through them is
    /// still `PermissionDenied`.
    async fn symlink_metadata(&self, path: &VirtualPath) -> Result<Entry, FsError> {
        self.stat(path, false).await
    }

    async fn read_dir(&self, path: &VirtualPath) -> Result<FsDirEntries, FsError> {
        let root = Arc::clone(&self.root);
        let rel = self.relative(path)?;
        let depth = path.strip_prefix(&self.base).map_or(0, Iterator::count);
        let cursor = blocking(move || {
            let dir = root.open_dir(&rel)?;
            let entries = dir.entries()?;
            Ok(Cursor {
                dir,
                root,
                rel,
                depth,
                entries,
                names: IdNames::default(),
            })
        })
        .await?;
        Ok(FsDirEntries {
            buffered: VecDeque::new(),
            cursor: Some(cursor),
            pending: None,
        })
    }

    async fn open_read(&self, path: &VirtualPath, offset: u64) -> Result<tokio::fs::File, FsError> {
        let root = Arc::clone(&self.root);
        let rel = self.relative(path)?;
        let file = blocking(move || {
            ensure_regular(&root.metadata(&rel)?)?;
            let file = root.open(&rel)?;
            ensure_regular(&file.metadata()?)?;
            let mut file = file.into_std();
            file.seek(SeekFrom::Start(offset))?;
            Ok(file)
        })
        .await?;
        Ok(tokio::fs::File::from_std(file))
    }

    /// One trip to the blocking pool: open (non-blocking, so a FIFO cannot hang the open),
    /// then check and describe the open file itself, so what is sent is what was checked.
    async fn open_read_entry(
        &self,
        path: &VirtualPath,
        offset: u64,
    ) -> Result<(tokio::fs::File, Entry), FsError> {
        let root = Arc::clone(&self.root);
        let rel = self.relative(path)?;
        let name = path.file_name().unwrap_or(b"/").to_vec();
        #[cfg(target_os = "linux")]
        if let Some(opened) = open_cached(&root, &rel, offset) {
            let (file, meta) = opened;
            return Ok((
                tokio::fs::File::from_std(file),
                entry_from_metadata(name, &meta, None, &mut IdNames::default()),
            ));
        }
        let (file, entry) = blocking(move || {
            let mut options = OpenOptions::new();
            options.read(true);
            #[cfg(target_os = "linux")]
            {
                use cap_std::fs::OpenOptionsExt;
                options.custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32);
            }
            #[cfg(not(target_os = "linux"))]
            ensure_regular(&root.metadata(&rel)?)?;
            let file = match root.open_with(&rel, &options) {
                Ok(file) => file,
                // A socket cannot be opened at all (ENXIO), nor can some devices: refused as
                // any special file is, not as a local error.
                Err(err) => {
                    if let Ok(meta) = root.metadata(&rel) {
                        ensure_regular(&meta)?;
                    }
                    return Err(err);
                }
            };
            let meta = file.metadata()?;
            ensure_regular(&meta)?;
            let entry = entry_from_metadata(name, &meta, None, &mut IdNames::default());
            let mut file = file.into_std();
            if offset > 0 {
                file.seek(SeekFrom::Start(offset))?;
            }
            Ok((file, entry))
        })
        .await?;
        Ok((tokio::fs::File::from_std(file), entry))
    }

    async fn open_write(
        &self,
        path: &VirtualPath,
        mode: WriteMode,
    ) -> Result<tokio::fs::File, FsError> {
        let root = Arc::clone(&self.root);
        let rel = self.relative(path)?;
        let file = blocking(move || {
            match root.metadata(&rel) {
                Ok(meta) => ensure_regular(&meta)?,
                Err(err) if err.kind() == io::ErrorKind::NotFound => {}
                Err(err) => return Err(err),
            }
            let mut options = OpenOptions::new();
            options.write(true);
            // Resuming needs the file: REST into a missing one is past its end.
            let resume = matches!(mode, WriteMode::Replace { offset } if offset > 0);
            match mode {
                WriteMode::Append => options.append(true).create(true),
                WriteMode::Replace { .. } => options.create(!resume),
                // O_EXCL: also refuses a symlink at the name, dangling or not.
                WriteMode::CreateNew => options.create_new(true),
            };
            let file = match root.open_with(&rel, &options) {
                Err(err) if resume && err.kind() == io::ErrorKind::NotFound => {
                    return Err(past_end());
                }
                opened => opened?,
            };
            let meta = file.metadata()?;
            ensure_regular(&meta)?;
            let mut file = file.into_std();
            if let WriteMode::Replace { offset } = mode {
                if offset > meta.len() {
                    return Err(past_end());
                }
                file.set_len(offset)?;
                file.seek(SeekFrom::Start(offset))?;
            }
            Ok(file)
        })
        .await?;
        Ok(tokio::fs::File::from_std(file))
    }

    async fn create_unique(
        &self,
        dir: &VirtualPath,
        hint: Option<&[u8]>,
    ) -> Result<(VirtualPath, tokio::fs::File), FsError> {
        let base = match hint {
            Some(hint) if dir.join(hint).is_ok() => hint.to_vec(),
            _ => {
                let n = self.next_unique.fetch_add(1, Ordering::Relaxed);
                format!("stou-{n}").into_bytes()
            }
        };
        let root = Arc::clone(&self.root);
        let rel_dir = self.relative(dir)?;
        let (name, file) = blocking(move || create_unique_in(&root, &rel_dir, &base)).await?;
        let path = dir.join(&name).map_err(|_| FsError::NameNotAllowed)?;
        Ok((path, tokio::fs::File::from_std(file)))
    }

    async fn remove_file(&self, path: &VirtualPath) -> Result<(), FsError> {
        if self.is_top(path) {
            return Err(FsError::IsADirectory);
        }
        let root = Arc::clone(&self.root);
        let rel = self.relative(path)?;
        blocking(move || root.remove_file(&rel)).await
    }

    async fn create_dir(&self, path: &VirtualPath) -> Result<(), FsError> {
        if self.is_top(path) {
            return Err(FsError::AlreadyExists);
        }
        let root = Arc::clone(&self.root);
        let rel = self.relative(path)?;
        blocking(move || root.create_dir(&rel)).await
    }

    async fn remove_dir(&self, path: &VirtualPath) -> Result<(), FsError> {
        if self.is_top(path) {
            return Err(FsError::PermissionDenied);
        }
        let root = Arc::clone(&self.root);
        let rel = self.relative(path)?;
        blocking(move || root.remove_dir(&rel)).await
    }

    async fn rename(&self, from: &VirtualPath, to: &VirtualPath) -> Result<(), FsError> {
        // The OS refuses these too, but with errors (EBUSY, EINVAL) that would read as local
        // failures rather than a refusal.
        if self.is_top(from) || self.is_top(to) || (to != from && to.starts_with(from)) {
            return Err(FsError::PermissionDenied);
        }
        let root = Arc::clone(&self.root);
        let (rel_from, rel_to) = (self.relative(from)?, self.relative(to)?);
        blocking(move || root.rename(&rel_from, &root, &rel_to)).await
    }

    async fn set_modified(&self, path: &VirtualPath, time: Timestamp) -> Result<(), FsError> {
        // Before 1970 is refused (504): the times API underneath (fs-set-times) cannot pass
        // such a time to the OS and panics converting it.
        if time.to_unix() < 0 {
            return Err(FsError::NotSupported);
        }
        let time = system_time(time).ok_or(FsError::NotSupported)?;
        let root = Arc::clone(&self.root);
        let rel = self.relative(path)?;
        blocking(move || {
            // Setting times opens the file, which could block on a FIFO.
            ensure_file_or_dir(&root, &rel)?;
            let mtime = SystemTimeSpec::Absolute(cap_std::time::SystemTime::from_std(time));
            root.set_times(&rel, None, Some(mtime))
        })
        .await
    }

    #[cfg(unix)]
    async fn set_permissions(&self, path: &VirtualPath, mode: u32) -> Result<(), FsError> {
        use cap_std::fs::PermissionsExt;
        if mode > 0o777 {
            return Err(FsError::NotSupported);
        }
        let root = Arc::clone(&self.root);
        let rel = self.relative(path)?;
        blocking(move || {
            // Nothing is gained by changing a FIFO or a device, and a fallback that opens the
            // object could block on a FIFO.
            ensure_file_or_dir(&root, &rel)?;
            root.set_permissions(&rel, cap_std::fs::Permissions::from_mode(mode))
        })
        .await
    }
}

/// A directory being read by [`FsStorage::read_dir`].
///
/// Entries are read and stat'ed [`READ_DIR_BATCH`] at a time in one blocking call, so memory
/// stays bounded whatever the directory's size. `.` and `..` are not reported. An entry whose
/// metadata cannot be read (removed meanwhile, or not accessible) is skipped rather than
/// failing the listing; an error reading the directory itself is yielded once and ends it.
/// Dropping a pending [`next_entry`](DirEntries::next_entry) future loses nothing: the batch
/// being read is kept and picked up by the next call.
#[derive(Debug)]
pub struct FsDirEntries {
    /// Entries read but not yet handed out.
    buffered: VecDeque<Result<Entry, FsError>>,
    /// Where reading continues; `None` once the directory is exhausted (or while a batch is
    /// being read).
    cursor: Option<Cursor>,
    /// The batch being read on the blocking pool.
    pending: Option<JoinHandle<Batch>>,
}

/// An open directory and its position.
#[derive(Debug)]
struct Cursor {
    /// The directory listed, to read symlink targets relative to it.
    dir: Dir,
    /// The view's root and the listed directory's path in it, to follow symlinks exactly as
    /// [`Storage::metadata`] does (beneath the root, not beneath the listed directory).
    #[cfg_attr(not(unix), allow(dead_code))]
    root: Arc<Dir>,
    #[cfg_attr(not(unix), allow(dead_code))]
    rel: PathBuf,
    /// How many directories deep the listed one is below the view's top: how many `..` a
    /// shown symlink target may climb.
    depth: usize,
    entries: ReadDir,
    names: IdNames,
}

/// One batch of entries, and the cursor to continue from (`None` at the end).
#[derive(Debug)]
struct Batch {
    entries: Vec<Result<Entry, FsError>>,
    cursor: Option<Cursor>,
}

impl Cursor {
    /// Reads up to [`READ_DIR_BATCH`] entries (blocking).
    fn read_batch(mut self) -> Batch {
        let mut entries = Vec::with_capacity(READ_DIR_BATCH);
        for _ in 0..READ_DIR_BATCH {
            match self.entries.next() {
                None => {
                    return Batch {
                        entries,
                        cursor: None,
                    };
                }
                Some(Err(err)) => {
                    entries.push(Err(fs_error(&err)));
                    return Batch {
                        entries,
                        cursor: None,
                    };
                }
                Some(Ok(dir_entry)) => {
                    let file_name = dir_entry.file_name();
                    let (Some(name), Ok(meta)) = (os_to_bytes(&file_name), dir_entry.metadata())
                    else {
                        continue;
                    };
                    let target = if meta.is_symlink() {
                        self.dir
                            .read_link_contents(&file_name)
                            .ok()
                            .filter(|target| stays_inside(target, self.depth))
                            .and_then(|target| os_to_bytes(target.as_os_str()))
                    } else {
                        None
                    };
                    #[cfg_attr(not(unix), allow(unused_mut))]
                    let mut entry = entry_from_metadata(name, &meta, target, &mut self.names);
                    #[cfg(unix)]
                    if meta.is_symlink() {
                        self.mark_link_type(&mut entry, &file_name);
                    }
                    entries.push(Ok(entry));
                }
            }
        }
        Batch {
            entries,
            cursor: Some(self),
        }
    }

    /// Puts the file type of what the symlink `entry` leads to (followed beneath the root, as
    /// [`Storage::metadata`] follows it) in the type bits of its `unix_mode`, keeping the
    /// link's own permission bits, so that the MLSx `perm` fact can tell what works through
    /// it (see [`Storage::read_dir`]). A link that dangles, loops or leads outside keeps
    /// `S_IFLNK`. Listings show neither: LIST's type letter comes from the entry's kind and
    /// MLSx's `UNIX.mode` from the permission bits.
    #[cfg(unix)]
    fn mark_link_type(&self, entry: &mut Entry, file_name: &OsStr) {
        use cap_std::fs::MetadataExt;
        const S_IFMT: u32 = 0o170_000;
        let Ok(followed) = self.root.metadata(self.rel.join(file_name)) else {
            return;
        };
        if let Some(mode) = &mut entry.unix_mode {
            *mode = (followed.mode() & S_IFMT) | (*mode & !S_IFMT);
        }
    }
}

impl DirEntries for FsDirEntries {
    async fn next_entry(&mut self) -> Option<Result<Entry, FsError>> {
        loop {
            if let Some(entry) = self.buffered.pop_front() {
                return Some(entry);
            }
            if self.pending.is_none() {
                let cursor = self.cursor.take()?;
                self.pending = Some(tokio::task::spawn_blocking(move || cursor.read_batch()));
            }
            let joined = self.pending.as_mut()?.await;
            self.pending = None;
            match joined {
                Ok(batch) => {
                    self.buffered = batch.entries.into();
                    self.cursor = batch.cursor;
                }
                // The blocking task panicked or was cancelled: the cursor is gone.
                Err(_) => return Some(Err(FsError::Local)),
            }
        }
    }
}

/// Opens a regular file for reading without a trip to the blocking pool, when that cannot
/// block: `openat2` with `RESOLVE_CACHED` succeeds only if every path component is in the
/// kernel's lookup cache (no I/O), and `RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS` keeps it
/// beneath the root exactly as cap-std's own `openat2` does. Anything else (not cached, not
/// a regular file, an escape attempt, an old kernel, any error) returns `None`, and the caller
/// takes the blocking path, which reports errors the usual way.
#[cfg(target_os = "linux")]
fn open_cached(root: &Dir, rel: &Path, offset: u64) -> Option<(std::fs::File, Metadata)> {
    use rustix::fs::{Mode, OFlags, ResolveFlags, openat2};
    let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC;
    let resolve = ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS | ResolveFlags::CACHED;
    let fd = openat2(root, rel, flags, Mode::empty(), resolve).ok()?;
    let mut file = std::fs::File::from(fd);
    // fstat of an open local file reads the in-memory inode.
    let meta = Metadata::from_just_metadata(file.metadata().ok()?);
    if !meta.is_file() {
        return None;
    }
    if offset > 0 {
        file.seek(SeekFrom::Start(offset)).ok()?;
    }
    Some((file, meta))
}

/// Whether symlink target `target`, read as text from a directory `depth` levels below the
/// top, stays inside: relative, and never more `..` than levels above it.
fn stays_inside(target: &Path, depth: usize) -> bool {
    use std::path::Component;
    let mut level = depth;
    for component in target.components() {
        match component {
            Component::Normal(_) => level += 1,
            Component::CurDir => {}
            Component::ParentDir => match level.checked_sub(1) {
                Some(up) => level = up,
                None => return false,
            },
            Component::RootDir | Component::Prefix(_) => return false,
        }
    }
    true
}

/// Runs a blocking filesystem call on tokio's blocking pool and maps its error.
async fn blocking<T, F>(f: F) -> Result<T, FsError>
where
    T: Send + 'static,
    F: FnOnce() -> io::Result<T> + Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        // `fs_error_of`: a refusal made here (`past_end`) travels inside the io::Error.
        Ok(result) => result.map_err(|err| super::fs_error_of(&err)),
        Err(_) => Err(FsError::Local),
    }
}

/// The one mapping from an OS error to the storage error (and so to a reply code).
///
/// cap-std reports an escape from the root (its own check, or `EXDEV` from `openat2` with
/// `RESOLVE_BENEATH`) as `PermissionDenied`, which stays `PermissionDenied`. `ENOSPC`,
/// `EDQUOT` and `ENAMETOOLONG` arrive as `StorageFull`, `QuotaExceeded` and `InvalidFilename`.
/// `ELOOP` (a symlink loop, or a chain of links longer than the OS follows) is `NotFound`: the
/// name leads to nothing, and will not until the tree changes, so the reply is a permanent 550
/// (vsftpd's too) rather than a 451 that clients retry forever. Escapes never reach that test:
/// cap-std turns `EXDEV` into its escape error, a `PermissionDenied` without an OS code.
/// (Linux's `RESOLVE_NO_MAGICLINKS` refuses a `/proc` magic link with `ELOOP` too; see the
/// module's limits.)
pub(crate) fn fs_error(err: &io::Error) -> FsError {
    use io::ErrorKind as K;
    if is_symlink_loop(err) {
        return FsError::NotFound;
    }
    match err.kind() {
        K::NotFound => FsError::NotFound,
        K::PermissionDenied | K::ReadOnlyFilesystem => FsError::PermissionDenied,
        K::AlreadyExists => FsError::AlreadyExists,
        K::NotADirectory => FsError::NotADirectory,
        K::IsADirectory => FsError::IsADirectory,
        K::DirectoryNotEmpty => FsError::DirectoryNotEmpty,
        K::StorageFull => FsError::InsufficientStorage,
        // EFBIG: the file outgrew a size limit (RLIMIT_FSIZE), an allocation in 552's sense.
        K::QuotaExceeded | K::FileTooLarge => FsError::QuotaExceeded,
        K::InvalidFilename => FsError::NameNotAllowed,
        K::ResourceBusy | K::ExecutableFileBusy => FsError::Busy,
        _ => FsError::Local,
    }
}

/// Whether `err` is the OS error `ELOOP`, matched by its raw code: its kind,
/// `io::ErrorKind::FilesystemLoop`, is not stable yet (Rust 1.95), so it cannot be named.
fn is_symlink_loop(err: &io::Error) -> bool {
    #[cfg(target_os = "linux")]
    let eloop = Some(rustix::io::Errno::LOOP.raw_os_error());
    #[cfg(any(
        target_vendor = "apple",
        target_os = "freebsd",
        target_os = "dragonfly",
        target_os = "netbsd",
        target_os = "openbsd"
    ))]
    let eloop = Some(62);
    #[cfg(any(target_os = "illumos", target_os = "solaris"))]
    let eloop = Some(90);
    #[cfg(not(any(
        target_os = "linux",
        target_vendor = "apple",
        target_os = "freebsd",
        target_os = "dragonfly",
        target_os = "netbsd",
        target_os = "openbsd",
        target_os = "illumos",
        target_os = "solaris"
    )))]
    let eloop: Option<i32> = None;
    eloop.is_some_and(|eloop| err.raw_os_error() == Some(eloop))
}

/// A REST offset past the end of the file, carried through `io::Error` to
/// [`super::fs_error_of`].
fn past_end() -> io::Error {
    io::Error::other(FsError::OffsetPastEnd)
}

/// `Ok` for a regular file; the error to report for anything else.
/// Refuses anything at `rel` but a regular file or a directory (the metadata call follows
/// links beneath the root, as the change that comes next does).
fn ensure_file_or_dir(root: &Dir, rel: &Path) -> io::Result<()> {
    let meta = root.metadata(rel)?;
    if meta.is_dir() {
        Ok(())
    } else {
        ensure_regular(&meta)
    }
}

fn ensure_regular(meta: &Metadata) -> io::Result<()> {
    if meta.is_file() {
        Ok(())
    } else if meta.is_dir() {
        Err(io::ErrorKind::IsADirectory.into())
    } else {
        Err(io::ErrorKind::PermissionDenied.into())
    }
}

/// Creates a new file named `base`, `base.1`, `base.2`, ... in `dir`, whichever is free first.
fn create_unique_in(root: &Dir, dir: &Path, base: &[u8]) -> io::Result<(Vec<u8>, std::fs::File)> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    for attempt in 0..MAX_UNIQUE_ATTEMPTS {
        let mut name = base.to_vec();
        if attempt > 0 {
            name.extend_from_slice(format!(".{attempt}").as_bytes());
        }
        let segment =
            segment_to_os(&name).map_err(|_| io::Error::from(io::ErrorKind::InvalidFilename))?;
        match root.open_with(dir.join(segment), &options) {
            Ok(file) => return Ok((name, file.into_std())),
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {}
            Err(err) => return Err(err),
        }
    }
    Err(io::ErrorKind::AlreadyExists.into())
}

/// The path of `path` relative to the root handle: its segments, or `.` for the root.
fn relative_path(segments: Segments<'_>) -> Result<PathBuf, FsError> {
    let mut rel = PathBuf::from(".");
    for segment in segments {
        // `VirtualPath` never holds these; refusing them here keeps this function safe alone.
        if matches!(segment, b"" | b"." | b"..") {
            return Err(FsError::NameNotAllowed);
        }
        rel.push(segment_to_os(segment)?);
    }
    Ok(rel)
}

/// One path segment as an OS name, byte-exact.
#[cfg(unix)]
fn segment_to_os(segment: &[u8]) -> Result<&OsStr, FsError> {
    use std::os::unix::ffi::OsStrExt;
    Ok(OsStr::from_bytes(segment))
}

/// One path segment as an OS name: UTF-8 without the separators of non-Unix systems.
#[cfg(not(unix))]
fn segment_to_os(segment: &[u8]) -> Result<&OsStr, FsError> {
    match std::str::from_utf8(segment) {
        Ok(name) if !name.contains(['\\', ':']) => Ok(OsStr::new(name)),
        _ => Err(FsError::NameNotAllowed),
    }
}

/// An OS name as bytes: exact on Unix, UTF-8 elsewhere (`None` if it is not).
fn os_to_bytes(name: &OsStr) -> Option<Vec<u8>> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        Some(name.as_bytes().to_vec())
    }
    #[cfg(not(unix))]
    {
        name.to_str().map(|name| name.as_bytes().to_vec())
    }
}

/// The last owner and group ids shown and their text: the entries of one directory mostly
/// share them, so each is formatted once per listing rather than once per entry.
#[derive(Debug, Default)]
struct IdNames {
    owner: Option<(u32, Arc<str>)>,
    group: Option<(u32, Arc<str>)>,
}

impl IdNames {
    /// The id as text, shared with the entries before it that had the same id (the common
    /// case in a directory): no copy per entry.
    #[cfg_attr(not(unix), allow(dead_code))]
    fn name(slot: &mut Option<(u32, Arc<str>)>, id: u32) -> Arc<str> {
        match slot {
            Some((last, text)) if *last == id => Arc::clone(text),
            _ => Arc::clone(&slot.insert((id, id.to_string().into())).1),
        }
    }
}

/// Describes an object for a listing or MLST.
fn entry_from_metadata(
    name: Vec<u8>,
    meta: &Metadata,
    link_target: Option<Vec<u8>>,
    names: &mut IdNames,
) -> Entry {
    let kind = if meta.is_dir() {
        EntryKind::Dir
    } else if meta.is_file() {
        EntryKind::File
    } else if meta.is_symlink() {
        EntryKind::Symlink {
            target: link_target,
        }
    } else {
        EntryKind::Other
    };
    #[cfg_attr(not(unix), allow(unused_mut))]
    let mut entry = Entry {
        name,
        kind,
        size: meta.len(),
        modified: meta
            .modified()
            .ok()
            .and_then(|time| timestamp(time.into_std())),
        ..Entry::default()
    };
    #[cfg(unix)]
    {
        use cap_std::fs::MetadataExt;
        // The full st_mode: the type bits tell FIFOs, sockets and devices apart.
        entry.unix_mode = Some(meta.mode());
        entry.nlink = Some(meta.nlink());
        entry.owner = Some(IdNames::name(&mut names.owner, meta.uid()));
        entry.group = Some(IdNames::name(&mut names.group, meta.gid()));
        entry.unique = Some(format!("{:x}g{:x}", meta.dev(), meta.ino()));
    }
    entry
}

/// A file time as a timestamp, rounded down to the second.
fn timestamp(time: SystemTime) -> Option<Timestamp> {
    let secs = match time.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).ok()?,
        Err(before) => {
            let before = before.duration();
            let whole = i64::try_from(before.as_secs()).ok()?;
            // Round towards the past: 0.5 s before the epoch is second -1.
            -whole - i64::from(before.subsec_nanos() > 0)
        }
    };
    Timestamp::from_unix(secs)
}

/// A timestamp as a file time, with its milliseconds.
fn system_time(time: Timestamp) -> Option<SystemTime> {
    let secs = time.to_unix();
    let millis = Duration::from_millis(u64::from(time.millis().unwrap_or(0)));
    let whole = Duration::from_secs(secs.unsigned_abs());
    let base = if secs >= 0 {
        UNIX_EPOCH.checked_add(whole)?
    } else {
        UNIX_EPOCH.checked_sub(whole)?
    };
    base.checked_add(millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_map_one_to_one() {
        use io::ErrorKind as K;
        let cases = [
            (K::NotFound, FsError::NotFound),
            (K::PermissionDenied, FsError::PermissionDenied),
            (K::ReadOnlyFilesystem, FsError::PermissionDenied),
            (K::AlreadyExists, FsError::AlreadyExists),
            (K::NotADirectory, FsError::NotADirectory),
            (K::IsADirectory, FsError::IsADirectory),
            (K::DirectoryNotEmpty, FsError::DirectoryNotEmpty),
            (K::StorageFull, FsError::InsufficientStorage),
            (K::QuotaExceeded, FsError::QuotaExceeded),
            (K::FileTooLarge, FsError::QuotaExceeded),
            (K::InvalidFilename, FsError::NameNotAllowed),
            (K::ResourceBusy, FsError::Busy),
            (K::Interrupted, FsError::Local),
            (K::InvalidInput, FsError::Local),
            (K::CrossesDevices, FsError::Local),
            (K::Other, FsError::Local),
        ];
        for (kind, want) in cases {
            assert_eq!(fs_error(&io::Error::from(kind)), want, "{kind:?}");
        }
        // cap-std's escape error is a PermissionDenied with a message.
        let escape = io::Error::new(K::PermissionDenied, "a path led outside of the filesystem");
        assert_eq!(fs_error(&escape), FsError::PermissionDenied);
    }

    #[test]
    #[cfg(all(
        target_os = "linux",
        any(target_arch = "x86_64", target_arch = "aarch64")
    ))]
    fn raw_errnos_map_through_their_kind() {
        let cases = [
            (2, FsError::NotFound),             // ENOENT
            (13, FsError::PermissionDenied),    // EACCES
            (17, FsError::AlreadyExists),       // EEXIST
            (20, FsError::NotADirectory),       // ENOTDIR
            (21, FsError::IsADirectory),        // EISDIR
            (28, FsError::InsufficientStorage), // ENOSPC
            (30, FsError::PermissionDenied),    // EROFS
            (36, FsError::NameNotAllowed),      // ENAMETOOLONG
            (39, FsError::DirectoryNotEmpty),   // ENOTEMPTY
            (122, FsError::QuotaExceeded),      // EDQUOT
            (40, FsError::NotFound),            // ELOOP: a symlink loop
            (18, FsError::Local),               // EXDEV from rename across mounts
            (5, FsError::Local),                // EIO
        ];
        for (errno, want) in cases {
            assert_eq!(
                fs_error(&io::Error::from_raw_os_error(errno)),
                want,
                "errno {errno}"
            );
        }
    }

    #[test]
    fn timestamps_round_trip_and_round_down() {
        let t = Timestamp::parse(b"20240229235959.250").unwrap();
        let st = system_time(t).unwrap();
        assert_eq!(timestamp(st), Timestamp::parse(b"20240229235959").ok());
        let before = UNIX_EPOCH - Duration::from_millis(500);
        assert_eq!(timestamp(before), Timestamp::from_unix(-1));
        let old = Timestamp::parse(b"19000101000000").unwrap();
        assert_eq!(timestamp(system_time(old).unwrap()), Some(old));
    }

    #[test]
    fn symlink_targets_are_shown_only_inside() {
        for (target, depth, inside) in [
            ("a.txt", 0, true),
            ("./sub/../b", 0, true),
            ("../x", 0, false),
            ("../x", 1, true),
            ("../../x", 1, false),
            ("sub/../../x", 0, false),
            ("sub/../../x", 1, true),
            ("/etc/passwd", 5, false),
            ("", 0, true),
        ] {
            assert_eq!(
                stays_inside(Path::new(target), depth),
                inside,
                "{target} at {depth}"
            );
        }
    }

    #[test]
    fn relative_paths_are_segments_beneath_dot() {
        let path = VirtualPath::root().join("a b").unwrap().join("c").unwrap();
        assert_eq!(
            relative_path(path.segments()).unwrap(),
            Path::new("./a b/c")
        );
        let root = VirtualPath::root();
        assert_eq!(relative_path(root.segments()).unwrap(), Path::new("."));
    }

    #[tokio::test]
    async fn listings_are_read_in_batches() {
        let tmp = tempfile::tempdir().unwrap();
        for i in 0..(READ_DIR_BATCH + 10) {
            std::fs::write(tmp.path().join(format!("f{i}")), b"").unwrap();
        }
        let storage = FsStorage::open(tmp.path()).unwrap();
        let mut dir = storage.read_dir(&VirtualPath::root()).await.unwrap();
        assert!(dir.buffered.is_empty() && dir.cursor.is_some());

        dir.next_entry().await.unwrap().unwrap();
        assert_eq!(dir.buffered.len(), READ_DIR_BATCH - 1);
        assert!(dir.cursor.is_some());
        for _ in 1..READ_DIR_BATCH {
            dir.next_entry().await.unwrap().unwrap();
        }
        assert!(dir.buffered.is_empty());

        dir.next_entry().await.unwrap().unwrap();
        assert_eq!(dir.buffered.len(), 9);
        assert!(dir.cursor.is_none());
        for _ in 0..9 {
            dir.next_entry().await.unwrap().unwrap();
        }
        assert!(dir.next_entry().await.is_none());
        assert!(dir.next_entry().await.is_none());
    }
}
