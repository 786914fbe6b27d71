//! Whole-file and whole-tree helpers: downloads and uploads with resume, progress and
//! cancellation; recursive directory transfers; server-to-server copies (FXP).

use std::path::{Component, Path, PathBuf};

use ftp_proto::Command;
use ftp_proto::client::TransferDone;
use ftp_proto::listing::local_name;
use tokio::fs::{File, OpenOptions};
use tokio::io::AsyncSeekExt;
use tokio_util::sync::CancellationToken;

use crate::transfer::drain_into;
use crate::{Client, Error};

/// Options for [`Client::download_file`] and [`Client::upload_file`].
///
/// ```
/// use ftp_client_tokio::TransferOptions;
/// use tokio_util::sync::CancellationToken;
/// let cancel = CancellationToken::new();
/// let options = TransferOptions::new()
///     .resume(true)
///     .progress(|bytes| eprintln!("{bytes} bytes"))
///     .cancel(cancel.clone());
/// # drop(options);
/// ```
#[derive(Default)]
pub struct TransferOptions {
    resume: bool,
    progress: Option<Box<dyn FnMut(u64) + Send>>,
    cancel: Option<CancellationToken>,
    remote_size: Option<u64>,
    /// A tree download's file: a symbolic link at the local path is refused, not followed.
    no_follow: bool,
}

impl std::fmt::Debug for TransferOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransferOptions")
            .field("resume", &self.resume)
            .field("progress", &self.progress.is_some())
            .field("cancel", &self.cancel)
            .field("remote_size", &self.remote_size)
            .field("no_follow", &self.no_follow)
            .finish()
    }
}

impl TransferOptions {
    /// Defaults: no resume, no progress, no cancellation.
    pub fn new() -> Self {
        Self::default()
    }

    /// Continue a partial file instead of starting over: a download appends to the local
    /// file from its current length (REST); an upload sends only what the server lacks
    /// (SIZE, then REST + STOR when the server advertises `REST STREAM`, APPE otherwise).
    ///
    /// In ASCII mode a download's REST marker counts the octets of the CRLF stream on the
    /// wire (RFC 3659 section 5), so the local file is read once to turn its length into
    /// that count (see [`Client::download_file`]).
    pub fn resume(mut self, resume: bool) -> Self {
        self.resume = resume;
        self
    }

    /// Called with the total bytes moved so far (counting from the resume point's start).
    pub fn progress(mut self, f: impl FnMut(u64) + Send + 'static) -> Self {
        self.progress = Some(Box::new(f));
        self
    }

    /// Cancelling the token aborts the transfer (ABOR), leaves the session usable and
    /// returns [`Error::Cancelled`].
    pub fn cancel(mut self, token: CancellationToken) -> Self {
        self.cancel = Some(token);
        self
    }

    /// The remote file's size, when the caller already asked the server (SIZE, in binary
    /// mode): [`Client::download_file`] then does not ask again. It is used to resume and,
    /// in binary mode, to check the download's length (see [`Client::download_file`]).
    pub fn remote_size(mut self, size: u64) -> Self {
        self.remote_size = Some(size);
        self
    }
}

/// How deep [`Client::download_dir`] goes below the directory it was given.
const MAX_TREE_DEPTH: usize = 64;

/// Refuses a local path that is a symbolic link (or, for `dir`, anything but a directory):
/// a tree download writes only inside its target and never through a link found there.
async fn refuse_link(path: &Path, dir: bool) -> Result<(), Error> {
    match tokio::fs::symlink_metadata(path).await {
        Ok(meta) if meta.file_type().is_symlink() => Err(local_err(
            path,
            std::io::Error::other("is a symbolic link: not followed"),
        )),
        Ok(meta) if dir && !meta.is_dir() => Err(local_err(
            path,
            std::io::Error::other("exists and is not a directory"),
        )),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(local_err(path, e)),
    }
}

fn local_err(path: &Path, source: std::io::Error) -> Error {
    Error::Local {
        path: path.display().to_string(),
        source,
    }
}

/// Joins remote path segments with `/`.
fn remote_join(dir: &str, name: &str) -> String {
    if dir.is_empty() || dir == "." {
        name.to_string()
    } else if dir.ends_with('/') {
        format!("{dir}{name}")
    } else {
        format!("{dir}/{name}")
    }
}

/// Runs `work` to its end, or drops it when `cancel` fires first (`None`).
async fn until_cancelled<T>(
    cancel: Option<CancellationToken>,
    work: impl Future<Output = Result<T, Error>>,
) -> Option<Result<T, Error>> {
    match cancel {
        None => Some(work.await),
        Some(token) => tokio::select! {
            result = work => Some(result),
            () = token.cancelled() => None,
        },
    }
}

impl Client {
    /// After a cancelled transfer: abort what it left running (ABOR), then report it.
    async fn after_cancel<T>(&mut self) -> Result<T, Error> {
        self.settle().await?;
        Err(Error::Cancelled)
    }

    /// Downloads a whole file into memory.
    pub async fn download_to_vec(&mut self, path: &str) -> Result<Vec<u8>, Error> {
        let mut out = Vec::new();
        let mut stream = self.retr(path).await?;
        drain_into(&mut stream, &mut out, Path::new("memory"), &mut |_| {}).await?;
        Ok(out)
    }

    /// Downloads `remote` into the local file `local` and returns the bytes received.
    ///
    /// In binary mode (the default type) the remote size is asked first (SIZE, unless given
    /// with [`TransferOptions::remote_size`]) and checked at the end, as curl does: when the
    /// local file does not end up that long (a cut data connection the server still called
    /// complete, a server that accepted REST but sent from the start) the download fails with
    /// [`Error::PartialFile`] or [`Error::RestIgnored`], and a resumed download's file is cut
    /// back to its length before the resume. A download that grows past the size is stopped
    /// (the transfer aborted) as soon as it does, and fails with [`Error::TooLong`]. A file that changes on the server while it is
    /// downloaded fails the same way. Servers without SIZE, and ASCII mode (where sizes
    /// differ by the line ends), are not checked.
    ///
    /// A resumed ASCII download restarts at the wire position of the local data: its length
    /// plus one for every LF, each of which arrived as CRLF. A local file that ends in CR may
    /// have been cut between the CR and the LF of a CRLF, so that CR is dropped and fetched
    /// again. This assumes the server ends every line in CRLF, as TYPE A requires.
    ///
    /// ```no_run
    /// use ftp_client_tokio::TransferOptions;
    /// # async fn run(client: &mut ftp_client_tokio::Client) -> Result<(), ftp_client_tokio::Error> {
    /// let n = client
    ///     .download_file("pub/big.iso", "big.iso".as_ref(), TransferOptions::new().resume(true))
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn download_file(
        &mut self,
        remote: &str,
        local: &Path,
        mut options: TransferOptions,
    ) -> Result<u64, Error> {
        let cancel = options.cancel.take();
        match until_cancelled(cancel, self.download_inner(remote, local, options)).await {
            Some(result) => result,
            None => self.after_cancel().await,
        }
    }

    async fn download_inner(
        &mut self,
        remote: &str,
        local: &Path,
        mut options: TransferOptions,
    ) -> Result<u64, Error> {
        // The remote size: to resume, and in binary mode to check the length at the end.
        // `size` asks in binary mode, so in ASCII mode too it is the file's length on the
        // server, which the local copy (CRLF made LF) can reach but never exceed.
        let binary = self.file_type == ftp_proto::TransferType::Image;
        let ascii = matches!(self.file_type, ftp_proto::TransferType::Ascii(_));
        let remote_size = match options.remote_size {
            Some(size) => Some(size),
            None if binary || options.resume => self.size(remote).await.ok(),
            None => None,
        };
        // Decide the offset from what is on disk, but open (and truncate) the local file only
        // once the server has accepted RETR: a refused download leaves the file as it was.
        // `offset`: the local bytes kept; `rest`: the REST marker, which differs in ASCII mode.
        let mut offset = 0;
        let mut rest = 0;
        let mut restart = false;
        if options.resume {
            let have = match tokio::fs::metadata(local).await {
                Ok(meta) => meta.len(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
                Err(e) => return Err(local_err(local, e)),
            };
            if have > 0 && remote_size == Some(have) {
                return Ok(0);
            }
            // A local file longer than the remote one is not a prefix of it: start over.
            restart = remote_size.is_some_and(|size| size < have);
            if !restart {
                (offset, rest) = if ascii && have > 0 {
                    ascii_resume_point(local).await?
                } else {
                    (have, have)
                };
            }
            // Nothing kept of a non-empty file (a lone CR in ASCII mode): open it truncated.
            restart |= offset == 0 && have > 0;
        }
        let mut stream = self.retr_from(remote, rest).await?;
        let mut open = OpenOptions::new();
        open.create(true)
            .write(true)
            .truncate(!options.resume || restart);
        #[cfg(target_os = "linux")]
        if options.no_follow {
            // The final component only: a link put there after the check is not followed.
            open.custom_flags(
                i32::try_from(rustix::fs::OFlags::NOFOLLOW.bits()).unwrap_or_default(),
            );
        }
        let opened = open.open(local).await;
        // On error, dropping the stream aborts the transfer before the next command.
        let mut file = opened.map_err(|e| local_err(local, e))?;
        if offset > 0 {
            if ascii {
                file.set_len(offset)
                    .await
                    .map_err(|e| local_err(local, e))?;
            }
            file.seek(std::io::SeekFrom::Start(offset))
                .await
                .map_err(|e| local_err(local, e))?;
        }
        let mut progress = options.progress.take();
        let mut report = |n: u64| {
            if let Some(p) = progress.as_mut() {
                p(n);
            }
        };
        let file = file.into_std().await;
        // Kept to cut a failed resume back (the copy takes the other handle).
        let kept = if offset > 0 {
            file.try_clone().ok()
        } else {
            None
        };
        // In binary mode the download may not grow past SIZE: a server sending endless data
        // is stopped (and the transfer aborted) at once. A resume may take the whole file,
        // to tell a server that ignored REST.
        let checked = remote_size.filter(|_| binary);
        let drained = drain_to_file(&mut stream, file, local, &mut report, checked).await;
        let cut_back = || match &kept {
            Some(kept) => kept.set_len(offset).map_err(|e| local_err(local, e)),
            None => Ok(()),
        };
        let received = match drained {
            Ok(received) => received,
            Err(Error::TooLong { .. }) => {
                cut_back()?;
                let expected = checked.unwrap_or_default();
                return Err(Error::TooLong { expected });
            }
            Err(e) => return Err(e),
        };
        match checked {
            Some(expected) if offset.saturating_add(received) != expected => {
                cut_back()?;
                let got = offset.saturating_add(received);
                if offset > 0 && received == expected {
                    Err(Error::RestIgnored { offset })
                } else if got > expected {
                    Err(Error::TooLong { expected })
                } else {
                    Err(Error::PartialFile { expected, got })
                }
            }
            _ => Ok(received),
        }
    }

    /// Uploads the local file `local` as `remote` and returns the bytes sent.
    pub async fn upload_file(
        &mut self,
        local: &Path,
        remote: &str,
        mut options: TransferOptions,
    ) -> Result<u64, Error> {
        let cancel = options.cancel.take();
        match until_cancelled(cancel, self.upload_inner(local, remote, options)).await {
            Some(result) => result,
            None => self.after_cancel().await,
        }
    }

    async fn upload_inner(
        &mut self,
        local: &Path,
        remote: &str,
        mut options: TransferOptions,
    ) -> Result<u64, Error> {
        let mut file = File::open(local).await.map_err(|e| local_err(local, e))?;
        let len = file
            .metadata()
            .await
            .map_err(|e| local_err(local, e))?
            .len();
        let mut command = Command::Stor(remote.into());
        let mut rest = None;
        if options.resume
            && let Ok(have) = self.size(remote).await
        {
            if have == len {
                return Ok(0);
            }
            if have < len {
                file.seek(std::io::SeekFrom::Start(have))
                    .await
                    .map_err(|e| local_err(local, e))?;
                if self.feat().await?.supports_rest_stream() {
                    rest = Some(have);
                } else {
                    command = Command::Appe(remote.into());
                }
            }
        }
        self.ensure_file_type().await?;
        let mut progress = options.progress.take();
        let mut report = move |n: u64| {
            if let Some(p) = progress.as_mut() {
                p(n);
            }
        };
        let file = file.into_std().await;
        // The same open file for a zero-copy send (the reader, unpolled, has not moved it).
        let zero_copy = file.try_clone().ok();
        let reader = PrefetchReader::new(file);
        let done: TransferDone = self
            .send_data(command, rest, reader, zero_copy, &mut report)
            .await?;
        Ok(done.bytes)
    }

    /// Downloads the remote directory `remote` and everything below it into `local`
    /// (created if missing). Names from the server are checked first: an entry called `..`,
    /// or holding a path separator or a control character, is refused with
    /// [`Error::UnsafeName`], so nothing is ever written outside `local`. Nor is anything
    /// written through a symbolic link already inside `local`: a link where a file or
    /// directory is to be written fails with [`Error::Local`] (`local` itself may be a link).
    /// Symbolic links on the server are followed as files. At most 64 levels of directories
    /// below `remote` are entered; a deeper tree (a cycle of links on the server, say) fails
    /// with [`Error::TooDeep`]. Each file is checked as [`Client::download_file`] describes.
    /// Returns the number of files written. The first entry that cannot be copied ends the
    /// download with its error; [`Client::download_dir_with`] can skip such entries instead.
    pub async fn download_dir(&mut self, remote: &str, local: &Path) -> Result<u64, Error> {
        self.download_dir_with(remote, local, |_, error| Err(error))
            .await
    }

    /// [`Client::download_dir`], handing every entry that cannot be copied to `failed` with
    /// its remote path: `Ok(())` skips it and carries on, an error stops the download with
    /// that error. Entries handed over: a name refused as unsafe, a file the server refuses
    /// to send (a dangling symbolic link, or a link to a directory that LIST shows as a file:
    /// 550) or sends wrongly ([`Error::PartialFile`]), a subdirectory that cannot be listed,
    /// and local failures for one entry (a symbolic link in the way). Errors that end the
    /// session ([`Error::is_fatal`]), a cancel, a tree too deep and a failure to list `remote`
    /// itself always stop it.
    ///
    /// ```no_run
    /// # async fn run(client: &mut ftp_client_tokio::Client) -> Result<(), ftp_client_tokio::Error> {
    /// let mut skipped = 0;
    /// let files = client
    ///     .download_dir_with("pub", "pub".as_ref(), |path, error| {
    ///         eprintln!("skipped {path}: {error}");
    ///         skipped += 1;
    ///         Ok(())
    ///     })
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn download_dir_with(
        &mut self,
        remote: &str,
        local: &Path,
        mut failed: impl FnMut(&str, Error) -> Result<(), Error>,
    ) -> Result<u64, Error> {
        // A failure of one entry goes to `failed`, unless it ends everything anyway.
        let mut entry_failed = |path: &str, error: Error| {
            if error.is_fatal() || matches!(error, Error::Cancelled | Error::TooDeep(_)) {
                Err(error)
            } else {
                failed(path, error)
            }
        };
        let mut files = 0;
        let mut queue = vec![(trim_dir(remote), local.to_path_buf(), 0)];
        while let Some((dir, target, depth)) = queue.pop() {
            let entries = async {
                if depth > 0 {
                    refuse_link(&target, true).await?;
                }
                tokio::fs::create_dir_all(&target)
                    .await
                    .map_err(|e| local_err(&target, e))?;
                self.list(&dir).await
            };
            let entries = match entries.await {
                Ok(entries) => entries,
                Err(error) if depth > 0 => {
                    entry_failed(&dir, error)?;
                    continue;
                }
                Err(error) => return Err(error),
            };
            for entry in entries {
                let Ok(name) = local_name(&entry.name) else {
                    let name = String::from_utf8_lossy(&entry.name);
                    entry_failed(&remote_join(&dir, &name), Error::UnsafeName(name.into()))?;
                    continue;
                };
                let child = confined(&target, name)?;
                let remote_child = remote_join(&dir, name);
                if entry.kind.is_dir() {
                    if depth >= MAX_TREE_DEPTH {
                        return Err(Error::TooDeep(MAX_TREE_DEPTH));
                    }
                    queue.push((remote_child, child, depth + 1));
                    continue;
                }
                let copied = async {
                    refuse_link(&child, false).await?;
                    let options = TransferOptions {
                        no_follow: true,
                        ..TransferOptions::new()
                    };
                    self.download_file(&remote_child, &child, options).await
                };
                match copied.await {
                    Ok(_) => files += 1,
                    Err(error) => entry_failed(&remote_child, error)?,
                }
            }
        }
        Ok(files)
    }

    /// Uploads the local directory `local` and everything below it as `remote` (created with
    /// its parents if missing). Returns the number of files sent. Local symbolic links are
    /// not followed.
    pub async fn upload_dir(&mut self, local: &Path, remote: &str) -> Result<u64, Error> {
        let mut files = 0;
        let mut queue = vec![(local.to_path_buf(), trim_dir(remote))];
        while let Some((dir, target)) = queue.pop() {
            if !target.is_empty() && target != "/" {
                self.mkdir_all(&target).await?;
            }
            let mut entries = tokio::fs::read_dir(&dir)
                .await
                .map_err(|e| local_err(&dir, e))?;
            while let Some(entry) = entries.next_entry().await.map_err(|e| local_err(&dir, e))? {
                let kind = entry.file_type().await.map_err(|e| local_err(&dir, e))?;
                let name = entry.file_name();
                let Some(name) = name.to_str() else {
                    return Err(Error::UnsafeName(name.to_string_lossy().into()));
                };
                let remote_child = remote_join(&target, name);
                if kind.is_dir() {
                    queue.push((entry.path(), remote_child));
                } else if kind.is_file() {
                    self.upload_file(&entry.path(), &remote_child, TransferOptions::new())
                        .await?;
                    files += 1;
                }
            }
        }
        Ok(files)
    }
}

/// A read-ahead's result: the file back, the buffer, how many bytes it holds.
type ChunkRead = (std::fs::File, Vec<u8>, std::io::Result<usize>);

/// Reads a local file ahead on a blocking thread, one chunk ([`READ_AHEAD`]) at a time, so the next
/// chunk is read from disk while the current one goes out on the network. Nothing is read
/// (and the file's position does not move) before the first poll.
struct PrefetchReader {
    file: Option<std::fs::File>,
    chunk: Vec<u8>,
    pos: usize,
    next: Option<tokio::task::JoinHandle<ChunkRead>>,
    eof: bool,
}

impl PrefetchReader {
    fn new(file: std::fs::File) -> Self {
        Self {
            file: Some(file),
            chunk: Vec::new(),
            pos: 0,
            next: None,
            eof: false,
        }
    }

    fn read_ahead(&mut self, mut buf: Vec<u8>) {
        let Some(mut file) = self.file.take() else {
            return;
        };
        self.next = Some(tokio::task::spawn_blocking(move || {
            buf.resize(READ_AHEAD, 0);
            let mut filled = 0;
            let result = loop {
                match std::io::Read::read(&mut file, buf.get_mut(filled..).unwrap_or_default()) {
                    Ok(0) => break Ok(filled),
                    Ok(n) => {
                        filled += n;
                        if filled == buf.len() {
                            break Ok(filled);
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => break Err(e),
                }
            };
            (file, buf, result)
        }));
    }
}

impl tokio::io::AsyncRead for PrefetchReader {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        out: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        use std::task::Poll;
        loop {
            if self.pos < self.chunk.len() {
                let available = self.chunk.get(self.pos..).unwrap_or_default();
                let n = available.len().min(out.remaining());
                out.put_slice(available.get(..n).unwrap_or_default());
                self.pos += n;
                return Poll::Ready(Ok(()));
            }
            if self.eof {
                return Poll::Ready(Ok(()));
            }
            if self.next.is_none() && self.file.is_some() {
                // The first read.
                self.read_ahead(vec![0u8; READ_AHEAD]);
            }
            let Some(next) = self.next.as_mut() else {
                return Poll::Ready(Ok(()));
            };
            let (file, buf, result) = match std::pin::Pin::new(next).poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(done)) => done,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(std::io::Error::other(e))),
            };
            self.next = None;
            self.file = Some(file);
            let n = match result {
                Ok(n) => n,
                Err(e) => return Poll::Ready(Err(e)),
            };
            let previous = core::mem::replace(&mut self.chunk, buf);
            self.chunk.truncate(n);
            self.pos = 0;
            if n < READ_AHEAD {
                self.eof = true;
            } else {
                self.read_ahead(previous);
            }
        }
    }
}

/// Where a resumed TYPE A download of `local` continues: the local bytes to keep and the
/// REST marker for them, the octets they took on the wire (RFC 3659 section 5).
///
/// The inverse of the [`ftp_proto::ascii::FromWire`] transcoder that wrote the file: it turns
/// each CRLF into LF and keeps every other byte, a bare CR included, so every local LF was
/// two wire octets (a local CR LF was CR CR LF) and every other byte one. Only a CR at the
/// very end is uncertain: it may be a bare CR or the first half of a CRLF whose LF was cut
/// off, so it is not kept; fetched again, it comes back as whichever it was. The file is
/// read in chunks: memory stays bounded whatever its size.
async fn ascii_resume_point(local: &Path) -> Result<(u64, u64), Error> {
    use tokio::io::AsyncReadExt;
    let mut file = File::open(local).await.map_err(|e| local_err(local, e))?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut len = 0u64;
    let mut line_feeds = 0u64;
    let mut last = None;
    loop {
        let n = file.read(&mut buf).await.map_err(|e| local_err(local, e))?;
        let Some(chunk) = buf.get(..n).filter(|chunk| !chunk.is_empty()) else {
            break;
        };
        len += n as u64;
        line_feeds += chunk.iter().filter(|&&b| b == b'\n').count() as u64;
        last = chunk.last().copied();
    }
    let keep = if last == Some(b'\r') { len - 1 } else { len };
    Ok((keep, keep + line_feeds))
}

/// Size of the chunks a download hands to the file-writing thread (small enough to stay in
/// cache between the socket read and the file write).
const WRITE_CHUNK: usize = 256 * 1024;

/// Size of the chunks an upload reads ahead from the local file.
const READ_AHEAD: usize = 1024 * 1024;

/// Copies a download into a local file: the socket is read on the runtime while the previous
/// chunk is written on a blocking thread (two 1 MiB buffers, moved, never copied), so the
/// disk and the network overlap and the runtime never blocks on the disk.
///
/// With `max`, a download longer than `max` bytes stops as soon as it is, with
/// [`Error::TooLong`] (its `expected` is `max`; the caller names the size), having written at
/// most a chunk past `max`; the transfer is left to be aborted.
async fn drain_to_file(
    stream: &mut crate::RetrStream<'_>,
    file: std::fs::File,
    path: &Path,
    progress: &mut (dyn FnMut(u64) + Send),
    max: Option<u64>,
) -> Result<u64, Error> {
    use tokio::io::AsyncReadExt;
    let too_long = |bytes: u64| match max {
        Some(max) if bytes > max => Err(Error::TooLong { expected: max }),
        _ => Ok(()),
    };
    #[cfg(target_os = "linux")]
    if let Some(spliced) = stream.splice_into(&file, progress, max).await {
        spliced.map_err(|e| match e {
            Error::Io(e) => local_err(path, e),
            other => other,
        })?;
        too_long(stream.bytes())?;
        // The data is in the file and its end reported: what is left is the final reply.
        let mut rest = [0u8; 512];
        while stream
            .read(&mut rest)
            .await
            .map_err(crate::transfer::unwrap_io)?
            > 0
        {}
        return Ok(stream.bytes());
    }
    type Written = (std::fs::File, Vec<u8>, std::io::Result<()>);
    let mut file = Some(file);
    let mut spare = Some(vec![0u8; WRITE_CHUNK]);
    let mut writing: Option<tokio::task::JoinHandle<Written>> = None;
    let mut total = 0u64;
    let finish_write = |handle: tokio::task::JoinHandle<Written>| async move {
        let (file, buf, result) = handle
            .await
            .map_err(|e| local_err(path, std::io::Error::other(e)))?;
        result.map_err(|e| local_err(path, e))?;
        Ok::<_, Error>((file, buf))
    };
    loop {
        let mut buf = match spare.take() {
            Some(buf) => buf,
            None => vec![0u8; WRITE_CHUNK],
        };
        buf.resize(WRITE_CHUNK, 0);
        let mut filled = 0;
        while filled < buf.len() {
            let n = stream
                .read(buf.get_mut(filled..).unwrap_or_default())
                .await
                .map_err(crate::transfer::unwrap_io)?;
            if n == 0 {
                break;
            }
            filled += n;
        }
        if let Some(handle) = writing.take() {
            let (f, used) = finish_write(handle).await?;
            file = Some(f);
            spare = Some(used);
        }
        if filled == 0 {
            let Some(f) = file.take() else {
                return Ok(total);
            };
            let synced = tokio::task::spawn_blocking(move || std::io::Write::flush(&mut &f))
                .await
                .map_err(|e| local_err(path, std::io::Error::other(e)))?;
            synced.map_err(|e| local_err(path, e))?;
            return Ok(total);
        }
        buf.truncate(filled);
        total += filled as u64;
        progress(total);
        too_long(total)?;
        let Some(mut f) = file.take() else {
            return Ok(total);
        };
        writing = Some(tokio::task::spawn_blocking(move || {
            let result = std::io::Write::write_all(&mut f, &buf);
            (f, buf, result)
        }));
    }
}

/// A remote directory path without trailing slashes, except that the root stays `/`.
pub(crate) fn trim_dir(path: &str) -> String {
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() && path.starts_with('/') {
        "/".to_string()
    } else {
        trimmed.to_string()
    }
}

/// `dir/name` when `name` is one plain path component; refused otherwise.
fn confined(dir: &Path, name: &str) -> Result<PathBuf, Error> {
    let mut components = Path::new(name).components();
    match (components.next(), components.next()) {
        (Some(Component::Normal(_)), None) => Ok(dir.join(name)),
        _ => Err(Error::UnsafeName(name.to_string())),
    }
}

/// Copies `src_path` on `src` to `dst_path` on `dst` directly between the two servers (FXP):
/// the source is put in passive mode (PASV), the destination is told to connect there
/// (PORT) and then receives (STOR) while the source sends (RETR). No file byte passes
/// through this client.
///
/// The destination must accept a data address other than this client's: most servers refuse
/// that by default (PORT to a foreign address is the "FTP bounce" attack), so FXP has to be
/// enabled there (our own server: `require_data_peer_match = false` in its session config;
/// vsftpd: `port_promiscuous=YES`; pure-ftpd and proftpd have equivalent switches).
/// Only IPv4 data addresses are used (PASV/PORT), as FXP servers expect.
pub async fn fxp_copy(
    src: &mut Client,
    src_path: &str,
    dst: &mut Client,
    dst_path: &str,
) -> Result<(), Error> {
    src.settle().await?;
    dst.settle().await?;
    src.ensure_binary().await?;
    dst.ensure_binary().await?;
    let reply = src.command_ok(Command::Pasv).await?;
    let announced =
        ftp_proto::addr::parse_pasv_reply(reply.first_line()).map_err(|e| Error::BadReply {
            reply: reply.clone(),
            reason: e.to_string(),
        })?;
    // The source's address as this client reaches it, unless it names a public one itself.
    let ip = match src.peer_addr().ip() {
        std::net::IpAddr::V4(v4)
            if announced.ip().is_unspecified()
                || announced.ip().is_private() && !v4.is_private() =>
        {
            v4
        }
        _ => *announced.ip(),
    };
    let data = std::net::SocketAddrV4::new(ip, announced.port());
    dst.command_ok(Command::Port(data)).await?;
    let store = dst
        .session
        .transfer_external(Client::now(), Command::Stor(dst_path.into()))?;
    dst.run_outputs().await?;
    let retrieve = src
        .session
        .transfer_external(Client::now(), Command::Retr(src_path.into()))?;
    src.run_outputs().await?;
    let (a, b) = tokio::join!(src.wait_transfer(retrieve), dst.wait_transfer(store));
    a?;
    b?;
    Ok(())
}
