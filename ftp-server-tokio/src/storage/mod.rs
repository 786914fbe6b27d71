//! Storage back-ends: where the server's files live.
//!
//! Owns the [`Storage`] trait the server is generic over (no boxing on the hot path), the
//! error mapping to FTP replies (through [`FsError`]), and the capability bits that feed FEAT.
//! Back-ends: [`memory`] (tests and generated content) and [`fs`] (a local directory, opened
//! as a handle with beneath-root resolution: no `..`, absolute path or symlink leaves it). This module does no path policy of its own: every
//! path it receives is an already normalised [`VirtualPath`] relative to the storage root.

pub mod fs;
pub mod memory;
pub mod quota;

use std::future::Future;

use ftp_proto::listing::Entry;
use ftp_proto::server::{FsError, HashAlgorithm};
use ftp_proto::{Timestamp, VirtualPath};
use tokio::io::{AsyncRead, AsyncWrite};

/// How [`Storage::open_write`] opens a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// STOR: create the file, or truncate it to `offset` (0 without REST) and write from there.
    /// An offset past the file's end, or a non-zero one for a file that does not exist, is
    /// [`FsError::OffsetPastEnd`], with nothing
    /// created or changed.
    Replace {
        /// Where writing starts (REST); the file is cut there first.
        offset: u64,
    },
    /// APPE: create the file or write at its end.
    Append,
    /// STOR that may only create: a new, empty file, or [`FsError::AlreadyExists`] when the
    /// name is taken (checked and created in one step, so two uploads cannot race). The
    /// server uses it for anonymous uploads, which never replace a file.
    CreateNew,
}

/// What a back-end can do beyond the core operations; the server turns it into FEAT lines and
/// answers the rest with 502.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StorageFeatures {
    /// [`Storage::set_modified`] works (MFMT, MDTM set form).
    pub set_modified: bool,
    /// Algorithms [`Storage::checksum`] computes.
    pub checksums: Vec<HashAlgorithm>,
    /// [`Storage::available_space`] works (AVBL).
    pub available_space: bool,
    /// [`Storage::set_permissions`] works (`SITE CHMOD`).
    pub set_permissions: bool,
}

/// A directory being read, one entry at a time (so listings never hold a whole directory).
pub trait DirEntries: Send {
    /// The next entry, `None` at the end.
    fn next_entry(&mut self) -> impl Future<Output = Option<Result<Entry, FsError>>> + Send;
}

/// A place to keep files. All paths are absolute within the storage root, already normalised
/// (no `.`, `..` or empty segments) and free of CR, LF and NUL.
///
/// Errors are [`FsError`]s, which map one-to-one to reply codes (550, 450, 451, 452, 552, 553).
pub trait Storage: Send + Sync + 'static {
    /// A file opened for reading.
    type Reader: AsyncRead + Unpin + Send + 'static;
    /// A file opened for writing. Shutting it down (`AsyncWriteExt::shutdown`) commits the data.
    type Writer: AsyncWrite + Unpin + Send + 'static;
    /// A directory being read.
    type Dir: DirEntries + 'static;

    /// Optional capabilities.
    fn features(&self) -> StorageFeatures;

    /// Facts about one object (SIZE, MDTM, MLST, CWD checks). The entry's name is the last
    /// path segment (`/` for the root).
    fn metadata(&self, path: &VirtualPath) -> impl Future<Output = Result<Entry, FsError>> + Send;

    /// Facts about the object at `path` itself (RNFR, RNTO and DELE, which act on a symlink
    /// rather than on its target): like [`Storage::metadata`], except that a symlink as the
    /// last segment is described as [`EntryKind::Symlink`](ftp_proto::listing::EntryKind),
    /// whether its target exists or not. Default: [`Storage::metadata`], for back-ends without
    /// symlinks.
    fn symlink_metadata(
        &self,
        path: &VirtualPath,
    ) -> impl Future<Output = Result<Entry, FsError>> + Send {
        self.metadata(path)
    }

    /// Reads a directory (LIST, NLST, MLSD). `NotADirectory` for a file.
    ///
    /// Symlinks are listed as links. A back-end that knows what a link leads to may put that
    /// object's Unix file type (`S_IFREG`, `S_IFDIR`, ...) in the type bits of the link
    /// entry's [`Entry::unix_mode`]; the MLSx `perm` fact then offers what works through the
    /// link (reading a file, entering a directory), not only what works on the link itself
    /// (deleting and renaming it), which is all a link typed `S_IFLNK` or untyped gets.
    fn read_dir(
        &self,
        path: &VirtualPath,
    ) -> impl Future<Output = Result<Self::Dir, FsError>> + Send;

    /// Opens a file for reading from `offset` (RETR, REST). `IsADirectory` for a directory.
    fn open_read(
        &self,
        path: &VirtualPath,
        offset: u64,
    ) -> impl Future<Output = Result<Self::Reader, FsError>> + Send;

    /// Opens a file for reading from `offset` and returns its facts as well (RETR announces
    /// the size). `IsADirectory` for a directory. The default calls [`Storage::metadata`] then
    /// [`Storage::open_read`]; back-ends override it to do both in one step.
    fn open_read_entry(
        &self,
        path: &VirtualPath,
        offset: u64,
    ) -> impl Future<Output = Result<(Self::Reader, Entry), FsError>> + Send {
        async move {
            let entry = self.metadata(path).await?;
            if entry.kind.is_dir() {
                return Err(FsError::IsADirectory);
            }
            let reader = self.open_read(path, offset).await?;
            Ok((reader, entry))
        }
    }

    /// Opens a file for writing (STOR, APPE). The parent directory must exist.
    fn open_write(
        &self,
        path: &VirtualPath,
        mode: WriteMode,
    ) -> impl Future<Output = Result<Self::Writer, FsError>> + Send;

    /// Creates a new file with a name not yet used in `dir` (STOU), based on `hint` when given,
    /// and opens it for writing. Returns the path chosen.
    fn create_unique(
        &self,
        dir: &VirtualPath,
        hint: Option<&[u8]>,
    ) -> impl Future<Output = Result<(VirtualPath, Self::Writer), FsError>> + Send;

    /// Deletes a file (DELE). `IsADirectory` for a directory.
    fn remove_file(&self, path: &VirtualPath) -> impl Future<Output = Result<(), FsError>> + Send;

    /// Creates a directory (MKD). `AlreadyExists` if it exists.
    fn create_dir(&self, path: &VirtualPath) -> impl Future<Output = Result<(), FsError>> + Send;

    /// Removes an empty directory (RMD). `DirectoryNotEmpty` otherwise.
    fn remove_dir(&self, path: &VirtualPath) -> impl Future<Output = Result<(), FsError>> + Send;

    /// Renames a file or directory (RNFR/RNTO), replacing a file at `to`.
    fn rename(
        &self,
        from: &VirtualPath,
        to: &VirtualPath,
    ) -> impl Future<Output = Result<(), FsError>> + Send;

    /// For binary downloads: the open file behind `reader`, when it is a real file, so the
    /// server can hand it to the kernel (`sendfile`) instead of copying it through user
    /// space. Its current position must be where the transfer starts (the offset given to
    /// [`Storage::open_read`]); the server sends from there to the end of the file. Default:
    /// `None`, the reader is copied.
    #[cfg(unix)]
    fn zero_copy_source(reader: &Self::Reader) -> Option<std::os::fd::BorrowedFd<'_>> {
        let _ = reader;
        None
    }

    /// For binary uploads: the open file behind `writer`, when it is a plain file whose
    /// writes need no processing, so the server can write received data to it directly from
    /// a copy thread. Its position (or append mode) must be where the data goes; the server
    /// still shuts the writer down afterwards to commit. Default: `None`, data goes through
    /// the writer.
    #[cfg(unix)]
    fn direct_sink(writer: &Self::Writer) -> Option<std::os::fd::BorrowedFd<'_>> {
        let _ = writer;
        None
    }

    /// Sets the modification time (MFMT). Default: `NotSupported`.
    fn set_modified(
        &self,
        path: &VirtualPath,
        time: Timestamp,
    ) -> impl Future<Output = Result<(), FsError>> + Send {
        let _ = (path, time);
        async { Err(FsError::NotSupported) }
    }

    /// Sets the Unix permission bits of a file or directory to `mode` (`SITE CHMOD`; at most
    /// `0o777`: the server refuses set-user-ID, set-group-ID and sticky bits before asking).
    /// Default: `NotSupported`.
    fn set_permissions(
        &self,
        path: &VirtualPath,
        mode: u32,
    ) -> impl Future<Output = Result<(), FsError>> + Send {
        let _ = (path, mode);
        async { Err(FsError::NotSupported) }
    }

    /// A checksum as lower-case hex, over `range` (start, end) or the whole file, and the file
    /// size. Default: `NotSupported`.
    fn checksum(
        &self,
        path: &VirtualPath,
        algorithm: HashAlgorithm,
        range: Option<(u64, u64)>,
    ) -> impl Future<Output = Result<(String, u64), FsError>> + Send {
        let _ = (path, algorithm, range);
        async { Err(FsError::NotSupported) }
    }

    /// A view of this storage for a user whose home is `home` (a storage path), called once
    /// per login. The view takes the same storage paths (all of them under `home`), but must
    /// resolve them so that nothing outside `home` can be reached: not through a symlink, a
    /// hard-to-see mount trick or anything else the back-end knows of. Paths outside `home`
    /// fail with [`FsError::PermissionDenied`].
    ///
    /// Default: `Ok(None)`, for back-ends with no way out of a directory (no symlinks): the
    /// server then uses this storage itself, with every path already under `home`. A back-end
    /// that follows links must override it. An error refuses the login (421): without the
    /// view, the user would not be confined.
    ///
    /// ```
    /// use ftp_server_tokio::ftp_proto::VirtualPath;
    /// use ftp_server_tokio::ftp_proto::server::FsError;
    /// use ftp_server_tokio::storage::Storage;
    /// use ftp_server_tokio::storage::fs::FsStorage;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let tmp = tempfile::tempdir()?;
    /// std::fs::create_dir_all(tmp.path().join("home/alice"))?;
    /// std::fs::write(tmp.path().join("secret.txt"), b"not alice's")?;
    /// // A link inside alice's home that climbs out of it (but stays inside the root).
    /// #[cfg(unix)]
    /// std::os::unix::fs::symlink("../../secret.txt", tmp.path().join("home/alice/link"))?;
    ///
    /// let storage = FsStorage::open(tmp.path())?;
    /// let home = VirtualPath::root().join("home")?.join("alice")?;
    /// let rt = tokio::runtime::Builder::new_current_thread().build()?;
    /// let alice = rt.block_on(storage.confine(&home))?.expect("the filesystem confines");
    /// # #[cfg(unix)] {
    /// let link = home.join("link")?;
    /// assert!(rt.block_on(storage.metadata(&link)).is_ok(), "the root's view follows it");
    /// assert_eq!(rt.block_on(alice.metadata(&link)).unwrap_err(), FsError::PermissionDenied);
    /// # }
    /// let outside = VirtualPath::root().join("secret.txt")?;
    /// assert_eq!(rt.block_on(alice.metadata(&outside)).unwrap_err(), FsError::PermissionDenied);
    /// # Ok(())
    /// # }
    /// ```
    fn confine(
        &self,
        home: &VirtualPath,
    ) -> impl Future<Output = Result<Option<Self>, FsError>> + Send
    where
        Self: Sized,
    {
        let _ = home;
        async { Ok(None) }
    }

    /// Free space in bytes where `path` lives (AVBL). Default: `NotSupported`.
    fn available_space(
        &self,
        path: &VirtualPath,
    ) -> impl Future<Output = Result<u64, FsError>> + Send {
        let _ = path;
        async { Err(FsError::NotSupported) }
    }
}

/// The storage error an I/O error from a [`Storage::Reader`] or [`Storage::Writer`] stands for:
/// the [`FsError`] carried inside it (as the in-memory back-end's writer reports a full store),
/// or else the meaning of its kind (`StorageFull` is 452, `QuotaExceeded` 552, anything
/// unknown 451).
///
/// ```
/// use std::io;
/// use ftp_server_tokio::ftp_proto::server::FsError;
/// use ftp_server_tokio::storage::fs_error_of;
///
/// assert_eq!(fs_error_of(&io::ErrorKind::StorageFull.into()), FsError::InsufficientStorage);
/// assert_eq!(fs_error_of(&io::Error::other(FsError::QuotaExceeded)), FsError::QuotaExceeded);
/// assert_eq!(fs_error_of(&io::Error::other("disk on fire")), FsError::Local);
/// ```
pub fn fs_error_of(err: &std::io::Error) -> FsError {
    match err
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<FsError>())
    {
        Some(inner) => inner.clone(),
        None => fs::fs_error(err),
    }
}

/// The current UTC time, to the second, for modification times and listings (the only clock
/// read in the storage and handler layers).
pub(crate) fn system_now() -> Timestamp {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    i64::try_from(secs)
        .ok()
        .and_then(Timestamp::from_unix)
        .or_else(|| Timestamp::from_unix(0))
        .expect("the Unix epoch is a valid timestamp")
}
