//! Data channels: one task per channel that opens it (passive listener or active connect),
//! reports to the session's task, waits for its job and copies.
//!
//! Owns socket set-up for data connections (port choice, peer-IP filter, connect deadline),
//! the copy loops (binary, TYPE A through the core's transcoders, listings) and the reusable
//! copy buffers. It makes no protocol decision: the session decides what runs, the connection
//! task hands jobs over and turns reports into [`ftp_proto::server::DataInput`]s.

use std::hash::{BuildHasher, RandomState};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ftp_proto::VirtualPath;
use ftp_proto::ascii::{FromWire, ToWire};
use ftp_proto::server::{DataError, DataId, ListFormat, TransferError};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_rustls::server::TlsStream;
use tracing::{Instrument, debug, info, warn};

use super::uploads::UploadClaim;
use crate::handler::PermFacts;
use crate::storage::quota::{QuotaPolicy, QuotaWriter, Usage};
use crate::storage::{DirEntries, Storage, WriteMode, fs_error_of, system_now};
use crate::tls::ConnectionTls;
use ftp_proto::listing::EntryKind;
use ftp_proto::server::FsError;

/// Size of one copy buffer.
pub(crate) const BUFFER_SIZE: usize = 256 * 1024;
/// Listing bytes are written in pieces of about this size.
const LISTING_CHUNK: usize = 64 * 1024;
/// Longest wait of a new passive channel for the end of the channel it replaces.
const REPLACED_WAIT: Duration = Duration::from_secs(1);

/// Settings every data channel of a server shares.
#[derive(Debug)]
pub(crate) struct DataSettings {
    /// Ports for passive listeners; `None`: any port the OS picks.
    pub(crate) passive_ports: Option<RangeInclusive<u16>>,
    /// Announced instead of the control connection's local IPv4 address in 227 replies.
    pub(crate) masquerade: Option<IpAddr>,
    /// Deadline for an active connect, and the idle limit of every read and write of a copy.
    pub(crate) data_timeout: Duration,
    /// Copy buffers kept for reuse.
    pub(crate) buffers: BufferPool,
    /// Binary file copies running on threads of the blocking pool (see [`ThreadSlot`]).
    pub(crate) copy_threads: AtomicUsize,
}

/// Most binary file copies that run on their own blocking-pool thread at once. A thread copies
/// with plain blocking calls (no readiness round trips, which is what bulk transfers on fast
/// links want); beyond this many, copies run on the async path so slow clients cannot take
/// every thread of the pool.
pub(crate) const MAX_COPY_THREADS: usize = 16;

/// A claimed copy thread; dropping it frees the slot.
struct ThreadSlot<'a>(&'a AtomicUsize);

impl<'a> ThreadSlot<'a> {
    fn claim(counter: &'a AtomicUsize) -> Option<Self> {
        counter
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MAX_COPY_THREADS).then_some(n + 1)
            })
            .ok()
            .map(|_| Self(counter))
    }
}

impl Drop for ThreadSlot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Copy buffers kept for reuse, so a transfer allocates nothing per chunk and, in steady
/// state, nothing at all; idle sessions hold none.
#[derive(Debug)]
pub(crate) struct BufferPool {
    free: Mutex<Vec<Box<[u8]>>>,
    keep: usize,
}

impl BufferPool {
    pub(crate) fn new(keep: usize) -> Self {
        Self {
            free: Mutex::new(Vec::new()),
            keep,
        }
    }

    fn take(&self) -> Box<[u8]> {
        let reused = self.free.lock().ok().and_then(|mut free| free.pop());
        reused.unwrap_or_else(|| vec![0; BUFFER_SIZE].into_boxed_slice())
    }

    fn give(&self, buffer: Box<[u8]>) {
        if let Ok(mut free) = self.free.lock()
            && free.len() < self.keep
        {
            free.push(buffer);
        }
    }
}

/// What a data task tells the session's task.
#[derive(Debug)]
pub(crate) enum Report {
    Listening(SocketAddr),
    Connected,
    Failed(DataError),
    Finished {
        result: Result<u64, TransferError>,
        duration: Duration,
    },
}

/// A report and the channel it is about.
pub(crate) type Reports = mpsc::UnboundedSender<(DataId, Report)>;

/// The work for a connected channel.
pub(crate) enum Job<S: Storage> {
    /// RETR: copy the reader to the socket, leaving out the first `skip` octets of what
    /// goes on the wire (a REST marker in TYPE A counts those, RFC 3659 5; 0 in binary, where
    /// the reader was opened at the offset).
    Send {
        reader: S::Reader,
        ascii: bool,
        skip: u64,
        /// The octets the 150 announced (binary only): the copy must send as many.
        size: Option<u64>,
    },
    /// STOR, APPE, STOU: copy the socket into the writer, then commit it; with a `limit`,
    /// every byte is charged to the user's quota first.
    Receive {
        writer: S::Writer,
        ascii: bool,
        limit: Option<Limit<S>>,
    },
    /// STOR, APPE: open the file once the connection is ready (and verified), then as
    /// `Receive`. Nothing is truncated for a transfer that never starts.
    ReceiveLater {
        storage: Arc<S>,
        path: VirtualPath,
        mode: WriteMode,
        ascii: bool,
        charge: Option<Charge>,
        /// Set for a new file (`WriteMode::CreateNew`) of a user who may not delete it: an
        /// upload that does not complete removes the file again (see [`Incomplete`]).
        incomplete: Option<RemoveIfIncomplete>,
    },
    /// A listing already in wire form.
    Listing(Vec<u8>),
    /// A listing streamed from a directory; `perms` fills the MLSD `perm` fact.
    Stream {
        dir: S::Dir,
        format: ListFormat,
        perms: Option<PermFacts>,
    },
}

/// What removing an incomplete upload needs beyond the job: the upload's hold on its path,
/// kept until the file is gone, so that no other upload of that name starts before.
#[derive(Debug)]
pub(crate) struct RemoveIfIncomplete {
    pub(crate) claim: Option<UploadClaim>,
}

/// A file an upload created for a user who may not delete files (an anonymous upload): if the
/// upload does not complete (the client left, the disk filled, ABOR), the partial file is
/// removed, since its user could neither finish it (no overwriting, no REST) nor remove it,
/// and the name would stay taken. Armed from the moment the file is open, so a file that was
/// there before is never touched; dropped armed (an error, or the data task aborted), it
/// removes the file on a task of its own, giving its size back to the user's quota.
struct Incomplete<S: Storage> {
    storage: Arc<S>,
    path: VirtualPath,
    usage: Option<Arc<Usage>>,
    claim: Option<UploadClaim>,
    armed: bool,
}

impl<S: Storage> Incomplete<S> {
    /// The upload ended: keep the file if it completed, or if it stopped at the user's quota
    /// (the quota policy decides about those); else remove it.
    fn settle(mut self, result: &Result<u64, TransferError>) {
        self.armed = !matches!(
            result,
            Ok(_) | Err(TransferError::Storage(FsError::QuotaExceeded))
        );
    }
}

impl<S: Storage> Drop for Incomplete<S> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let storage = Arc::clone(&self.storage);
        let path = self.path.clone();
        let usage = self.usage.take();
        let claim = self.claim.take();
        // Dropped by the data task, inside the runtime, whether it ended or was aborted.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        runtime.spawn(async move {
            let _claim = claim;
            match remove_upload(storage.as_ref(), &path, usage.as_deref()).await {
                Ok(Some(size)) => {
                    info!(%path, size, "incomplete upload removed: its user may not delete it");
                }
                Ok(None) => {}
                Err(err) => warn!(%path, error = %err, "removing an incomplete upload failed"),
            }
        });
    }
}

/// The quota an upload is charged to, and what happens when it stops there.
#[derive(Debug, Clone)]
pub(crate) struct Charge {
    pub(crate) usage: Arc<Usage>,
    pub(crate) policy: QuotaPolicy,
}

/// How [`QuotaPolicy::DeletePartial`] undoes an upload stopped at the quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Undo {
    /// STOR, STOU: remove the file.
    Remove,
    /// APPE, REST+STOR: cut the file back to the size it had when the transfer started.
    CutTo(u64),
}

/// A quota-limited upload: the charge, and the file to undo (a storage path).
pub(crate) struct Limit<S: Storage> {
    pub(crate) charge: Charge,
    pub(crate) storage: Arc<S>,
    pub(crate) path: VirtualPath,
    pub(crate) undo: Undo,
}

/// What the session's task hands a connected channel: the job, its log span, and for a
/// protected (PROT P) transfer the control connection's TLS state.
pub(crate) type JobOrder<S> = (Job<S>, tracing::Span, Option<ConnectionTls>);

/// How a channel is opened.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Open {
    /// Listen on `bind` (the control connection's local IP) and accept from `peer` only.
    Passive { bind: IpAddr, peer: IpAddr },
    /// Connect from `local` (the control connection's local IP) to `to`.
    Active { local: IpAddr, to: SocketAddr },
}

/// Everything a data task needs.
pub(crate) struct Channel<S: Storage> {
    pub(crate) id: DataId,
    pub(crate) open: Open,
    /// The aborted task of the channel this one replaces, if any: a passive listener is
    /// bound only once it has ended and closed its own listener.
    pub(crate) replaced: Option<JoinHandle<()>>,
    pub(crate) settings: Arc<DataSettings>,
    pub(crate) reports: Reports,
    pub(crate) job: oneshot::Receiver<JobOrder<S>>,
    pub(crate) progress: Arc<AtomicU64>,
}

impl<S: Storage> Channel<S> {
    /// Runs the channel to its end; the session's task aborts it on `DataAction::Close`.
    pub(crate) async fn run(self) {
        let Self {
            id,
            open,
            replaced,
            settings,
            reports,
            job,
            progress,
        } = self;
        let report = |report| {
            // The session's task is gone when this fails; the task then ends on its own.
            let _ = reports.send((id, report));
        };
        let stream = match open {
            Open::Passive { bind, peer } => {
                if let Some(task) = replaced {
                    // Aborted tasks end at their next poll; the bound only guards against
                    // the unforeseen.
                    let _ = tokio::time::timeout(REPLACED_WAIT, task).await;
                }
                let (listener, port) = match bind_passive(bind, settings.passive_ports.as_ref()) {
                    Ok(bound) => bound,
                    Err(err) => {
                        warn!(%bind, error = %err, "no passive port available");
                        report(Report::Failed(DataError::Listen));
                        return;
                    }
                };
                let announce = match (settings.masquerade, bind) {
                    (Some(ip @ IpAddr::V4(_)), IpAddr::V4(_)) => ip,
                    _ => bind,
                };
                report(Report::Listening(SocketAddr::new(announce, port)));
                match accept_from(&listener, peer).await {
                    Ok(stream) => stream,
                    Err(err) => {
                        warn!(error = %err, "passive accept failed");
                        report(Report::Failed(DataError::Listen));
                        return;
                    }
                }
            }
            Open::Active { local, to } => {
                match tokio::time::timeout(settings.data_timeout, connect(local, to)).await {
                    Ok(Ok(stream)) => stream,
                    Ok(Err(err)) => {
                        debug!(%to, error = %err, "active connect failed");
                        report(Report::Failed(DataError::Connect));
                        return;
                    }
                    Err(_) => {
                        debug!(%to, "active connect timed out");
                        report(Report::Failed(DataError::Connect));
                        return;
                    }
                }
            }
        };
        report(Report::Connected);
        // A connection that closes before its job is not watched for: the job then meets the
        // closed socket (a download fails with 426, an upload is empty), as with any peer
        // that closes early.
        let Ok((job, span, tls)) = job.await else {
            return;
        };
        let started = Instant::now();
        let announced = match &job {
            Job::Send { size, .. } => *size,
            _ => None,
        };
        let result = match tls {
            None => {
                run_job(job, stream, &settings, &progress)
                    .instrument(span)
                    .await
            }
            Some(tls) => {
                // The client starts its handshake after 150 (sent when Connected was
                // reported); no file byte moves before the handshake passed every check.
                // Boxed: a TLS stream is large, and most data tasks never hold one.
                let upload = matches!(job, Job::Receive { .. } | Job::ReceiveLater { .. });
                let protected = Box::pin(async {
                    let stream = protect(stream, &tls, upload)
                        .instrument(span.clone())
                        .await?;
                    Ok(run_protected(job, stream, &settings, &progress)
                        .instrument(span)
                        .await)
                });
                match protected.await {
                    Ok(result) => result,
                    Err(error) => {
                        report(Report::Failed(error));
                        return;
                    }
                }
            }
        };
        let result = match result {
            // The file was cut (or replaced by a shorter one) while it was sent.
            Ok(sent) if announced.is_some_and(|size| sent < size) => {
                warn!(
                    sent,
                    ?announced,
                    "download ended short of the size announced"
                );
                Err(TransferError::Storage(FsError::Changed))
            }
            result => result,
        };
        report(Report::Finished {
            result,
            duration: started.elapsed(),
        });
    }
}

/// A listener on `ip` and its port: a random free port of `range`, or without a range a
/// random port of the system's ephemeral range.
///
/// Ports are chosen here rather than with port 0: the kernel's own search walks every port
/// with lingering (TIME_WAIT) connections, which costs more than the rest of a session once a
/// busy server has tens of thousands of them; one random pick usually binds at the first try.
fn bind_passive(ip: IpAddr, range: Option<&RangeInclusive<u16>>) -> io::Result<(TcpListener, u16)> {
    let (start, end, tries) = match range {
        Some(range) => (*range.start(), *range.end(), None),
        // Without a configured range: a bounded number of random picks, then the kernel.
        None => {
            let (start, end) = ephemeral_ports();
            (start, end, Some(EPHEMERAL_TRIES))
        }
    };
    if start > end {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "empty port range",
        ));
    }
    let span = u32::from(end - start) + 1;
    // A random starting point (RandomState is seeded per process and per call), then every
    // port once: an attacker cannot predict the port, and a busy range is searched fully.
    let offset = (RandomState::new().hash_one(Instant::now()) % u64::from(span)) as u32;
    let mut last = io::Error::new(io::ErrorKind::AddrInUse, "all passive ports in use");
    for step in 0..tries.map_or(span, |t| t.min(span)) {
        let port = start + ((offset + step) % span) as u16;
        match listen_on(SocketAddr::new(ip, port)) {
            // The port is ours to name: no getsockname.
            Ok(listener) => return Ok((listener, port)),
            Err(err) if err.kind() == io::ErrorKind::AddrInUse => last = err,
            Err(err) => return Err(err),
        }
    }
    match tries {
        Some(_) => {
            let listener = listen_on(SocketAddr::new(ip, 0))?;
            let port = listener.local_addr()?.port();
            Ok((listener, port))
        }
        None => Err(last),
    }
}

/// Random picks in the ephemeral range before leaving the choice to the kernel.
const EPHEMERAL_TRIES: u32 = 16;

/// The system's ephemeral port range (Linux: `ip_local_port_range`), else IANA's dynamic
/// ports.
fn ephemeral_ports() -> (u16, u16) {
    use std::sync::OnceLock;
    static RANGE: OnceLock<(u16, u16)> = OnceLock::new();
    *RANGE.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
            .ok()
            .and_then(|text| {
                let mut ports = text.split_whitespace().map(str::parse::<u16>);
                match (ports.next(), ports.next()) {
                    (Some(Ok(low)), Some(Ok(high))) if 1024 <= low && low <= high => {
                        Some((low, high))
                    }
                    _ => None,
                }
            })
            .unwrap_or((49152, 65535))
    })
}

fn listen_on(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    // Address reuse: the accepted connection of the previous transfer may still linger on
    // this port (TIME_WAIT), which must not make the port unusable.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(8)
}

/// The first connection from `peer`'s IP; others are closed at once and the wait goes on.
async fn accept_from(listener: &TcpListener, peer: IpAddr) -> io::Result<TcpStream> {
    let peer = canonical(peer);
    loop {
        match listener.accept().await {
            Ok((stream, from)) if canonical(from.ip()) == peer => return Ok(stream),
            Ok((stream, from)) => {
                // Info, not warn: anyone who can reach the port can cause it, at will.
                info!(%from, expected = %peer, "data connection from a foreign address refused");
                drop(stream);
            }
            Err(err) if is_transient(&err) => {
                // Out of descriptors or a connection reset before accept: wait a little
                // rather than spin, and keep listening.
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(err) => return Err(err),
        }
    }
}

/// Accept errors after which accepting again may succeed.
pub(crate) fn is_transient(err: &io::Error) -> bool {
    use io::ErrorKind as K;
    matches!(
        err.kind(),
        K::ConnectionAborted | K::ConnectionReset | K::Interrupted | K::WouldBlock
    ) || matches!(err.raw_os_error(), Some(23 | 24 | 105 | 12))
}

async fn connect(local: IpAddr, to: SocketAddr) -> io::Result<TcpStream> {
    let socket = match to {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    let local = canonical(local);
    if local.is_ipv4() == to.is_ipv4() {
        socket.bind(SocketAddr::new(local, 0))?;
    }
    socket.connect(to).await
}

/// `ip` with IPv4-mapped IPv6 addresses turned into IPv4.
pub(crate) fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The TCP stream under a protected data connection. It watches the TLS record boundaries
/// in what the client sends, and reports a connection that ends inside a record as an error
/// ([`io::ErrorKind::ConnectionAborted`]) instead of as its end.
///
/// rustls reports a TCP close without close_notify as one `UnexpectedEof`, whether it came
/// between records (a client that skips close_notify, which most do, so an upload still ends
/// there) or in the middle of one, which no client does on purpose: the upload was cut (RFC
/// 8446 6.1, RFC 5246 7.2.1), and it must end with 426, not with 226 and a short file.
pub(crate) struct RecordWatch {
    inner: TcpStream,
    records: Records,
}

impl RecordWatch {
    fn new(inner: TcpStream) -> Self {
        Self {
            inner,
            records: Records::default(),
        }
    }
}

/// Where a stream of TLS records stands: the record layer's framing (a 5-octet header of
/// type, version and length, then that many octets), followed over the octets read.
#[derive(Debug, Default)]
struct Records {
    /// Octets of the current record's header seen so far (0 at a boundary).
    header: u8,
    /// The high octet of the current record's length.
    length_high: u8,
    /// Octets of the current record's body still to come.
    body: usize,
}

impl Records {
    fn observe(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            if self.body > 0 {
                let n = self.body.min(bytes.len());
                self.body -= n;
                bytes = &bytes[n..];
                continue;
            }
            let octet = bytes[0];
            bytes = &bytes[1..];
            match self.header {
                3 => self.length_high = octet,
                4 => self.body = usize::from(u16::from_be_bytes([self.length_high, octet])),
                _ => {}
            }
            self.header = (self.header + 1) % 5;
        }
    }

    fn inside_record(&self) -> bool {
        self.header > 0 || self.body > 0
    }
}

impl AsyncRead for RecordWatch {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let room = buf.remaining() > 0;
        std::task::ready!(std::pin::Pin::new(&mut this.inner).poll_read(cx, buf))?;
        let read = &buf.filled()[before..];
        if read.is_empty() && room && this.records.inside_record() {
            return std::task::Poll::Ready(Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "the connection ended inside a TLS record",
            )));
        }
        this.records.observe(read);
        std::task::Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for RecordWatch {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<io::Result<usize>> {
        std::pin::Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> std::task::Poll<io::Result<usize>> {
        std::pin::Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// The TLS handshake of a protected data connection, bounded in time. With session reuse
/// required, a handshake that did not resume a session of this control connection is
/// refused; only a data connection that passed keeps the sessions it created for later ones.
async fn protect(
    stream: TcpStream,
    tls: &ConnectionTls,
    upload: bool,
) -> Result<TlsStream<RecordWatch>, DataError> {
    let (config, sessions) = tls.data(upload);
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let stream = RecordWatch::new(stream);
    let stream = match tokio::time::timeout(tls.handshake_timeout, acceptor.accept(stream)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(err)) => {
            info!(error = %err, "data connection TLS handshake failed");
            return Err(DataError::Tls);
        }
        Err(_) => {
            info!("data connection TLS handshake timed out");
            return Err(DataError::Tls);
        }
    };
    let kind = stream.get_ref().1.handshake_kind();
    if tls.require_reuse && kind != Some(rustls::HandshakeKind::Resumed) {
        info!(
            handshake = ?kind,
            "data connection refused: it did not resume the control connection's TLS session"
        );
        return Err(DataError::TlsNotResumed);
    }
    sessions.commit();
    debug!(handshake = ?kind, "data connection protected");
    Ok(stream)
}

/// Runs `job` over a protected data connection: the buffered copy (no `sendfile` through
/// TLS). Downloads and listings end with close_notify; an upload ends at the client's
/// close_notify or at a bare TCP EOF between two records (accepted, as most servers do), then
/// gets ours. An EOF inside a record fails the upload (see [`RecordWatch`]).
async fn run_protected<S: Storage>(
    job: Job<S>,
    mut stream: TlsStream<RecordWatch>,
    settings: &DataSettings,
    progress: &Arc<AtomicU64>,
) -> Result<u64, TransferError> {
    let upload = matches!(job, Job::Receive { .. } | Job::ReceiveLater { .. });
    let result = match open_later(job).await {
        Ok((job, incomplete)) => {
            let result = run_buffered(job, &mut stream, settings, progress).await;
            if let Some(incomplete) = incomplete {
                incomplete.settle(&result);
            }
            result
        }
        Err(err) => Err(err),
    };
    if upload && result.is_ok() {
        // Courtesy close_notify; the upload is already committed.
        let _ = tokio::time::timeout(settings.data_timeout, stream.shutdown()).await;
    }
    result
}

/// Runs `job` over `stream`; the byte count is what crossed the data connection.
///
/// Only the common case, a binary download that `sendfile` finishes at once, runs in this
/// future; every other path is boxed for its duration, so the data task (spawned for every
/// data connection, moved into its task cell) stays small.
async fn run_job<S: Storage>(
    job: Job<S>,
    stream: TcpStream,
    settings: &DataSettings,
    progress: &Arc<AtomicU64>,
) -> Result<u64, TransferError> {
    let (job, incomplete) = match job {
        Job::ReceiveLater { .. } => Box::pin(open_later(job)).await?,
        job => (job, None),
    };
    let result = run_opened(job, stream, settings, progress).await;
    if let Some(incomplete) = incomplete {
        incomplete.settle(&result);
    }
    result
}

/// [`run_job`] once an upload's file is open.
async fn run_opened<S: Storage>(
    job: Job<S>,
    mut stream: TcpStream,
    settings: &DataSettings,
    progress: &Arc<AtomicU64>,
) -> Result<u64, TransferError> {
    let limit = settings.data_timeout;
    match job {
        #[cfg(target_os = "linux")]
        Job::Send {
            reader,
            ascii: false,
            skip: 0,
            ..
        } if S::zero_copy_source(&reader).is_some() => {
            let Some(file) = S::zero_copy_source(&reader) else {
                return Err(TransferError::Storage(FsError::Local));
            };
            // Corked, the socket sends only full segments: a small file leaves as one segment
            // with its FIN, a large one in fewer, larger segments (with a pacing congestion
            // control such as BBR that is a measured 10 to 20 % more throughput on loopback).
            // The FIN of `finish` flushes what is left. A failure only costs that gain.
            let _ = rustix::net::sockopt::set_tcp_cork(&stream, true);
            // What fits in the socket buffer goes at once: small files end here, with no
            // thread and no further wait.
            let mut sent = 0;
            if send_file_now(file, &stream, limit, &mut sent, progress).await? {
                finish(&mut stream, limit).await?;
                return Ok(sent);
            }
            Box::pin(send_file_rest(file, stream, settings, sent, progress)).await
        }
        #[cfg(unix)]
        Job::Receive {
            writer,
            ascii: false,
            limit,
        } if S::direct_sink(&writer).is_some() => {
            Box::pin(receive_direct(writer, limit, stream, settings, progress)).await
        }
        job => Box::pin(run_buffered(job, &mut stream, settings, progress)).await,
    }
}

/// The rest of a download that did not fit in the socket buffer: on a copy thread when one
/// is free, else from this task.
#[cfg(target_os = "linux")]
async fn send_file_rest(
    file: std::os::fd::BorrowedFd<'_>,
    mut stream: TcpStream,
    settings: &DataSettings,
    sent: u64,
    progress: &Arc<AtomicU64>,
) -> Result<u64, TransferError> {
    let limit = settings.data_timeout;
    if let Some(slot) = ThreadSlot::claim(&settings.copy_threads)
        && let Ok(file) = file.try_clone_to_owned()
    {
        use std::os::fd::AsFd;
        let copy = threaded::Copy::new(stream, limit, progress)?;
        let rest = copy.run(move |c| c.send_file(file.as_fd(), sent)).await;
        drop(slot);
        return rest.unwrap_or(Err(TransferError::ConnectionLost));
    }
    let sent = send_file(file, &stream, limit, sent, progress).await?;
    finish(&mut stream, limit).await?;
    Ok(sent)
}

/// A binary upload written straight into its file (splice on a copy thread) when a copy
/// thread is free; else the buffered copy.
#[cfg(unix)]
async fn receive_direct<S: Storage>(
    writer: S::Writer,
    limit: Option<Limit<S>>,
    mut stream: TcpStream,
    settings: &DataSettings,
    progress: &Arc<AtomicU64>,
) -> Result<u64, TransferError> {
    if let Some(sink) = S::direct_sink(&writer)
        && let Some(slot) = ThreadSlot::claim(&settings.copy_threads)
        && let Ok(sink) = sink.try_clone_to_owned()
    {
        let mut writer = writer;
        let copy = threaded::Copy::new(stream, settings.data_timeout, progress)?;
        let buffer = settings.buffers.take();
        let usage = limit.as_ref().map(|l| Arc::clone(&l.charge.usage));
        let outcome = copy
            .run(move |c| {
                let mut buffer = buffer;
                let file = std::fs::File::from(sink);
                let received = c.receive(file, &mut buffer, usage.as_deref());
                (received, buffer)
            })
            .await;
        drop(slot);
        let Some((received, buffer)) = outcome else {
            return Err(TransferError::ConnectionLost);
        };
        settings.buffers.give(buffer);
        if let Err(err) = received {
            settle(&err, writer, limit).await;
            return Err(err);
        }
        // The data went straight to the file; shutting the writer down still commits.
        writer
            .shutdown()
            .await
            .map_err(|err| TransferError::Storage(fs_error_of(&err)))?;
        return received;
    }
    let job = Job::<S>::Receive {
        writer,
        ascii: false,
        limit,
    };
    run_buffered(job, &mut stream, settings, progress).await
}

/// Opens the file of a [`Job::ReceiveLater`]: the data connection is ready now. With the
/// opened job comes, for a new file its user may not delete, the guard that removes it again
/// unless the upload completes.
async fn open_later<S: Storage>(
    job: Job<S>,
) -> Result<(Job<S>, Option<Incomplete<S>>), TransferError> {
    match job {
        Job::ReceiveLater {
            storage,
            path,
            mode,
            ascii,
            charge: None,
            incomplete,
        } => match storage.open_write(&path, mode).await {
            Ok(writer) => {
                let incomplete = incomplete.map(|i| Incomplete {
                    storage,
                    path,
                    usage: None,
                    claim: i.claim,
                    armed: true,
                });
                let job = Job::Receive {
                    writer,
                    ascii,
                    limit: None,
                };
                Ok((job, incomplete))
            }
            Err(err) => {
                debug!(%path, error = %err, "opening the upload target failed");
                Err(TransferError::Storage(err))
            }
        },
        Job::ReceiveLater {
            storage,
            path,
            mode,
            ascii,
            charge: Some(charge),
            incomplete,
        } => {
            let (writer, undo) = open_charged(storage.as_ref(), &path, mode, &charge.usage).await?;
            let incomplete = incomplete.map(|i| Incomplete {
                storage: Arc::clone(&storage),
                path: path.clone(),
                usage: Some(Arc::clone(&charge.usage)),
                claim: i.claim,
                armed: true,
            });
            let limit = Limit {
                charge,
                storage,
                path,
                undo,
            };
            let job = Job::Receive {
                writer,
                ascii,
                limit: Some(limit),
            };
            Ok((job, incomplete))
        }
        job => Ok((job, None)),
    }
}

/// Opens an upload target of a user with a quota, keeping the count right: what opening
/// truncates (STOR over a file, REST+STOR) is given back, what a REST past the end adds is
/// charged first (552 when it does not fit, and nothing is opened).
async fn open_charged<S: Storage>(
    storage: &S,
    path: &VirtualPath,
    mode: WriteMode,
    usage: &Usage,
) -> Result<(S::Writer, Undo), TransferError> {
    let _changes = usage.changes().await;
    let old = match storage.metadata(path).await {
        Ok(entry) if entry.kind == EntryKind::File => entry.size,
        Ok(_) | Err(FsError::NotFound) => 0,
        Err(err) => return Err(TransferError::Storage(err)),
    };
    let (base, undo) = match mode {
        WriteMode::Replace { offset: 0 } | WriteMode::CreateNew => (0, Undo::Remove),
        WriteMode::Replace { offset } => (offset, Undo::CutTo(offset)),
        WriteMode::Append => (old, Undo::CutTo(old)),
    };
    let grown = base.saturating_sub(old);
    if !usage.charge(grown) {
        return Err(TransferError::Storage(FsError::QuotaExceeded));
    }
    match storage.open_write(path, mode).await {
        Ok(writer) => {
            usage.release(old.saturating_sub(base));
            Ok((writer, undo))
        }
        Err(err) => {
            usage.release(grown);
            debug!(%path, error = %err, "opening the upload target failed");
            Err(TransferError::Storage(err))
        }
    }
}

/// After an upload with a quota failed with `err`: when it stopped at the quota, commits
/// what the writer holds and applies the [`QuotaPolicy`].
async fn settle<S: Storage>(err: &TransferError, mut writer: S::Writer, limit: Option<Limit<S>>) {
    let Some(limit) = limit else {
        return;
    };
    if *err != TransferError::Storage(FsError::QuotaExceeded) {
        return;
    }
    // Buffered bytes reach the file before it is measured.
    let _ = writer.shutdown().await;
    drop(writer);
    let Limit {
        charge,
        storage,
        path,
        undo,
    } = limit;
    if charge.policy == QuotaPolicy::KeepPartial {
        debug!(%path, "quota reached; the partial upload is kept");
        return;
    }
    let usage = &charge.usage;
    let keep = match undo {
        Undo::Remove => {
            match remove_upload(storage.as_ref(), &path, Some(usage)).await {
                Ok(Some(_)) => debug!(%path, "quota reached; the partial upload was removed"),
                Ok(None) => {}
                Err(err) => warn!(%path, error = %err, "quota reached; removing the upload failed"),
            }
            return;
        }
        Undo::CutTo(keep) => keep,
    };
    let _changes = usage.changes().await;
    let size = match storage.metadata(&path).await {
        Ok(entry) if entry.kind == EntryKind::File => entry.size,
        _ => return,
    };
    if keep < size {
        let cut = storage
            .open_write(&path, WriteMode::Replace { offset: keep })
            .await;
        match cut {
            Ok(mut writer) => {
                let _ = writer.shutdown().await;
                usage.release(size - keep);
                debug!(%path, keep, "quota reached; the file was cut back");
            }
            Err(err) => warn!(%path, error = %err, "quota reached; cutting the file failed"),
        }
    }
}

/// Removes the upload target `path` (a regular file) and gives its size back to `usage`,
/// under the usage's change lock: the size removed, or `None` when no file is there.
async fn remove_upload<S: Storage>(
    storage: &S,
    path: &VirtualPath,
    usage: Option<&Usage>,
) -> Result<Option<u64>, FsError> {
    let _changes = match usage {
        Some(usage) => Some(usage.changes().await),
        None => None,
    };
    let size = match storage.metadata(path).await {
        Ok(entry) if entry.kind == EntryKind::File => entry.size,
        _ => return Ok(None),
    };
    storage.remove_file(path).await?;
    if let Some(usage) = usage {
        usage.release(size);
    }
    Ok(Some(size))
}

/// Runs `job` with the buffered copy loops, over any stream (plain or TLS).
async fn run_buffered<S: Storage, IO: AsyncRead + AsyncWrite + Unpin>(
    job: Job<S>,
    stream: &mut IO,
    settings: &DataSettings,
    progress: &Arc<AtomicU64>,
) -> Result<u64, TransferError> {
    let limit = settings.data_timeout;
    match job {
        Job::Send {
            mut reader,
            ascii,
            skip,
            ..
        } => {
            let mut buffer = settings.buffers.take();
            let result = send(
                &mut reader,
                stream,
                &mut buffer,
                ascii,
                skip,
                progress,
                limit,
            )
            .await;
            settings.buffers.give(buffer);
            let sent = result?;
            finish(stream, limit).await?;
            Ok(sent)
        }
        Job::Receive {
            mut writer,
            ascii,
            limit: quota,
        } => {
            let mut buffer = settings.buffers.take();
            let result = match &quota {
                None => receive(stream, &mut writer, &mut buffer, ascii, limit, progress).await,
                Some(quota) => {
                    let usage = Arc::clone(&quota.charge.usage);
                    let mut charged = QuotaWriter::new(&mut writer, usage);
                    receive(stream, &mut charged, &mut buffer, ascii, limit, progress).await
                }
            };
            settings.buffers.give(buffer);
            if let Err(err) = &result {
                settle(err, writer, quota).await;
            }
            result
        }
        // Opened by `open_later` before this is called.
        Job::ReceiveLater { .. } => Err(TransferError::Storage(FsError::Local)),
        Job::Listing(bytes) => {
            write_data(stream, &bytes, limit).await?;
            progress.store(bytes.len() as u64, Ordering::Relaxed);
            finish(stream, limit).await?;
            Ok(bytes.len() as u64)
        }
        Job::Stream {
            mut dir,
            format,
            perms,
        } => {
            let now = system_now();
            let mut out = Vec::with_capacity(LISTING_CHUNK + 1024);
            let mut sent = 0u64;
            while let Some(entry) = dir.next_entry().await {
                let mut entry = entry.map_err(TransferError::Storage)?;
                if let Some(perms) = &perms {
                    perms.fill(&mut entry);
                }
                // Names that cannot be put on a line are left out, never injected.
                let _ = format.write(&entry, now, &mut out);
                if out.len() >= LISTING_CHUNK {
                    write_data(stream, &out, limit).await?;
                    sent += out.len() as u64;
                    progress.store(sent, Ordering::Relaxed);
                    out.clear();
                }
            }
            write_data(stream, &out, limit).await?;
            sent += out.len() as u64;
            finish(stream, limit).await?;
            Ok(sent)
        }
    }
}

/// Copies `reader` to `stream` (converted in TYPE A), leaving out the first `skip` octets of
/// what would go on the wire.
async fn send<R: AsyncRead + Unpin, IO: AsyncWrite + Unpin>(
    reader: &mut R,
    stream: &mut IO,
    buffer: &mut [u8],
    ascii: bool,
    mut skip: u64,
    progress: &AtomicU64,
    limit: Duration,
) -> Result<u64, TransferError> {
    let mut sent = 0u64;
    let mut wire = ascii.then(|| (ToWire::default(), Vec::with_capacity(buffer.len() * 2)));
    loop {
        let n = match tokio::time::timeout(limit, reader.read(buffer)).await {
            Ok(Ok(0)) => break,
            Ok(Ok(n)) => n,
            Ok(Err(err)) => return Err(TransferError::Storage(fs_error_of(&err))),
            Err(_) => return Err(TransferError::Storage(FsError::Local)),
        };
        let chunk = &buffer[..n];
        let bytes: &[u8] = match &mut wire {
            Some((encoder, out)) => {
                out.clear();
                encoder.convert(chunk, out);
                out
            }
            None => chunk,
        };
        let bytes = skip_front(bytes, &mut skip);
        if bytes.is_empty() {
            continue;
        }
        write_data(stream, bytes, limit).await?;
        sent += bytes.len() as u64;
        progress.store(sent, Ordering::Relaxed);
    }
    if let Some((encoder, out)) = &mut wire {
        out.clear();
        encoder.finish(out);
        let rest = skip_front(out, &mut skip);
        write_data(stream, rest, limit).await?;
        sent += rest.len() as u64;
    }
    Ok(sent)
}

/// Sends `file` from its current position to its end with `sendfile(2)`: the kernel moves
/// the pages to the socket, nothing is copied through this process.
#[cfg(target_os = "linux")]
async fn send_file(
    file: std::os::fd::BorrowedFd<'_>,
    stream: &TcpStream,
    limit: Duration,
    mut sent: u64,
    progress: &AtomicU64,
) -> Result<u64, TransferError> {
    loop {
        if send_file_now(file, stream, limit, &mut sent, progress).await? {
            return Ok(sent);
        }
    }
}

/// Waits until the socket takes data, then `sendfile`s until it would block (`false`) or
/// the file ends (`true`), counting into `sent`.
#[cfg(target_os = "linux")]
async fn send_file_now(
    file: std::os::fd::BorrowedFd<'_>,
    stream: &TcpStream,
    limit: Duration,
    sent: &mut u64,
    progress: &AtomicU64,
) -> Result<bool, TransferError> {
    /// Most bytes asked for per call; the kernel sends what fits in the socket buffer.
    const CHUNK: usize = 16 << 20;
    match tokio::time::timeout(limit, stream.writable()).await {
        Ok(Ok(())) => {}
        Ok(Err(_)) | Err(_) => return Err(TransferError::ConnectionLost),
    }
    loop {
        let result = stream.try_io(tokio::io::Interest::WRITABLE, || {
            rustix::fs::sendfile(stream, file, None, CHUNK).map_err(io::Error::from)
        });
        match result {
            Ok(0) => return Ok(true),
            Ok(n) => {
                *sent += n as u64;
                progress.store(*sent, Ordering::Relaxed);
            }
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(sendfile_failure(&err)),
        }
    }
}

/// `bytes` without what is left of `skip` at its front; `skip` shrinks by what was left out.
fn skip_front<'a>(bytes: &'a [u8], skip: &mut u64) -> &'a [u8] {
    let n = usize::try_from(*skip).map_or(bytes.len(), |s| s.min(bytes.len()));
    *skip -= n as u64;
    &bytes[n..]
}

/// What a failed `sendfile` means: the peer is gone or stalled (a blocking socket's send
/// timeout shows as `WouldBlock`), or else the file could not be read.
#[cfg(target_os = "linux")]
fn sendfile_failure(err: &io::Error) -> TransferError {
    use io::ErrorKind as K;
    match err.kind() {
        K::BrokenPipe
        | K::ConnectionReset
        | K::ConnectionAborted
        | K::NotConnected
        | K::WouldBlock
        | K::TimedOut => TransferError::ConnectionLost,
        _ => TransferError::Storage(fs_error_of(err)),
    }
}

async fn receive<W: AsyncWrite + Unpin, IO: AsyncRead + Unpin>(
    stream: &mut IO,
    writer: &mut W,
    buffer: &mut [u8],
    ascii: bool,
    limit: Duration,
    progress: &AtomicU64,
) -> Result<u64, TransferError> {
    let mut received = 0u64;
    let mut local = ascii.then(|| (FromWire::default(), Vec::with_capacity(buffer.len())));
    let storage = |err: io::Error| TransferError::Storage(fs_error_of(&err));
    loop {
        let n = match tokio::time::timeout(limit, stream.read(buffer)).await {
            Ok(Ok(0)) => break,
            Ok(Ok(n)) => n,
            // TLS: the client closed TCP without close_notify, between two records (inside
            // one, `RecordWatch` makes it an error). Most clients do, so the upload ends here
            // as with plain FTP (vsftpd's default, strict_ssl_read_eof=NO).
            Ok(Err(err)) if err.kind() == io::ErrorKind::UnexpectedEof => {
                debug!("upload ended without TLS close_notify");
                break;
            }
            Ok(Err(err)) => {
                debug!(error = %err, "upload: data connection failed");
                return Err(TransferError::ConnectionLost);
            }
            Err(_) => return Err(TransferError::ConnectionLost),
        };
        let chunk = &buffer[..n];
        match &mut local {
            Some((decoder, out)) => {
                out.clear();
                decoder.convert(chunk, out);
                writer.write_all(out).await.map_err(storage)?;
            }
            None => writer.write_all(chunk).await.map_err(storage)?,
        }
        received += n as u64;
        progress.store(received, Ordering::Relaxed);
    }
    if let Some((decoder, out)) = &mut local {
        out.clear();
        decoder.finish(out);
        writer.write_all(out).await.map_err(storage)?;
    }
    // Shutting the writer down commits the file; its errors (disk full on flush) count.
    writer.shutdown().await.map_err(storage)?;
    Ok(received)
}

async fn write_data<IO: AsyncWrite + Unpin>(
    stream: &mut IO,
    bytes: &[u8],
    limit: Duration,
) -> Result<(), TransferError> {
    match tokio::time::timeout(limit, stream.write_all(bytes)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) | Err(_) => Err(TransferError::ConnectionLost),
    }
}

/// Ends the data stream (FIN: in stream mode the close marks the end of the file; with TLS,
/// close_notify first).
async fn finish<IO: AsyncWrite + Unpin>(
    stream: &mut IO,
    limit: Duration,
) -> Result<(), TransferError> {
    match tokio::time::timeout(limit, stream.shutdown()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) | Err(_) => Err(TransferError::ConnectionLost),
    }
}

/// Binary file copies on a blocking-pool thread, with blocking socket calls.
#[cfg(unix)]
mod threaded {
    use std::io::{self, Read, Write};
    use std::net::{Shutdown, TcpStream};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    use ftp_proto::server::{FsError, TransferError};

    use crate::storage::fs_error_of;
    use crate::storage::quota::Usage;

    /// A data connection handed to a copy thread.
    pub(super) struct Copy {
        stream: TcpStream,
        /// The channel's progress counter, which STAT reads.
        progress: Arc<AtomicU64>,
    }

    /// Shuts the socket down when the copy's task is dropped (ABOR, session end), which ends
    /// the thread's blocking call at once.
    struct Interrupt(Option<TcpStream>);

    impl Drop for Interrupt {
        fn drop(&mut self) {
            if let Some(stream) = &self.0 {
                let _ = stream.shutdown(Shutdown::Both);
            }
        }
    }

    impl Copy {
        /// Takes the connection out of the runtime: blocking mode, with the data timeout as
        /// the limit of every read and write.
        pub(super) fn new(
            stream: tokio::net::TcpStream,
            limit: Duration,
            progress: &Arc<AtomicU64>,
        ) -> Result<Self, TransferError> {
            let lost = |_| TransferError::ConnectionLost;
            let stream = stream.into_std().map_err(lost)?;
            stream.set_nonblocking(false).map_err(lost)?;
            stream.set_read_timeout(Some(limit)).map_err(lost)?;
            stream.set_write_timeout(Some(limit)).map_err(lost)?;
            Ok(Self {
                stream,
                progress: Arc::clone(progress),
            })
        }

        /// Runs `work` on a blocking-pool thread and waits for it (`None` if the thread
        /// failed). Dropping the returned future interrupts the copy.
        pub(super) async fn run<T: Send + 'static>(
            self,
            work: impl FnOnce(&mut Self) -> T + Send + 'static,
        ) -> Option<T> {
            let interrupt = Interrupt(self.stream.try_clone().ok());
            let mut this = self;
            let result = tokio::task::spawn_blocking(move || work(&mut this)).await;
            drop(interrupt);
            result.ok()
        }

        /// `sendfile` from `file`'s position to its end, then FIN.
        #[cfg(target_os = "linux")]
        pub(super) fn send_file(
            &mut self,
            file: std::os::fd::BorrowedFd<'_>,
            already: u64,
        ) -> Result<u64, TransferError> {
            // A blocking call returns when all of it is sent: small enough that progress (STAT)
            // moves while a slow client reads, large enough that calls are few.
            const CHUNK: usize = 1 << 20;
            let mut sent = already;
            loop {
                match rustix::fs::sendfile(&self.stream, file, None, CHUNK) {
                    Ok(0) => break,
                    Ok(n) => {
                        sent += n as u64;
                        self.note(sent);
                    }
                    Err(rustix::io::Errno::INTR) => {}
                    Err(err) => return Err(super::sendfile_failure(&io::Error::from(err))),
                }
            }
            self.stream
                .shutdown(Shutdown::Write)
                .map_err(|_| TransferError::ConnectionLost)?;
            Ok(sent)
        }

        /// Reads the connection to its end into `file`. With a `usage`, every chunk is
        /// reserved from the quota before it is written; at the limit the file ends exactly
        /// there and the copy fails with `QuotaExceeded`.
        ///
        /// On Linux the bytes go through a pipe with `splice(2)` (socket to pipe moves page
        /// references, pipe to file is the only copy), else through `buffer`.
        pub(super) fn receive(
            &mut self,
            file: std::fs::File,
            buffer: &mut [u8],
            usage: Option<&Usage>,
        ) -> Result<u64, TransferError> {
            #[cfg(target_os = "linux")]
            if let Some(pipe) = spliced::Pipe::for_file(&file) {
                return match spliced::receive(self, &file, &pipe, buffer, usage)? {
                    spliced::Outcome::Done(received) => Ok(received),
                    // The file system takes no splice: the rest is copied.
                    spliced::Outcome::Unsupported(received) => {
                        self.copy_into(file, buffer, usage, received)
                    }
                };
            }
            self.copy_into(file, buffer, usage, 0)
        }

        /// [`Copy::receive`] through `buffer`, counting on from `received`.
        fn copy_into(
            &mut self,
            mut file: std::fs::File,
            buffer: &mut [u8],
            usage: Option<&Usage>,
            mut received: u64,
        ) -> Result<u64, TransferError> {
            loop {
                let n = match self.stream.read(buffer) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                    Err(_) => return Err(TransferError::ConnectionLost),
                };
                let allowed = granted(usage, n);
                if let Err(err) = file.write_all(&buffer[..allowed]) {
                    // What the failed write took is unknown: the file is measured again at
                    // the user's next first login.
                    return Err(TransferError::Storage(fs_error_of(&err)));
                }
                received += allowed as u64;
                self.note(received);
                if allowed < n {
                    return Err(TransferError::Storage(FsError::QuotaExceeded));
                }
            }
            Ok(received)
        }

        fn note(&self, bytes: u64) {
            self.progress.store(bytes, Ordering::Relaxed);
        }
    }

    /// How many of `n` received bytes may be written: all of them without a quota, else what
    /// the quota grants (reserved now; fewer than `n` means the quota is reached).
    fn granted(usage: Option<&Usage>, n: usize) -> usize {
        match usage {
            Some(usage) => usize::try_from(usage.grant(n as u64)).unwrap_or(n).min(n),
            None => n,
        }
    }

    /// Uploads through a pipe: `splice(2)` from the socket into the pipe takes the received
    /// pages without copying them, and from the pipe into the file copies once, where a
    /// `read` + `write` copies twice through this process. On a 2-core loopback this is
    /// about a quarter more upload throughput.
    #[cfg(target_os = "linux")]
    mod spliced {
        use std::io::{self, Read, Write};
        use std::os::fd::OwnedFd;

        use ftp_proto::server::{FsError, TransferError};
        use rustix::io::Errno;
        use rustix::pipe::{SpliceFlags, fcntl_setpipe_size, pipe_with, splice};

        use super::Copy;
        use crate::storage::fs_error_of;
        use crate::storage::quota::Usage;

        /// Bytes a pipe is asked to hold (the kernel's default for unprivileged processes
        /// allows up to 1 MiB; when refused the pipe keeps its 64 KiB).
        const PIPE_SIZE: usize = 1 << 20;

        pub(in super::super) struct Pipe {
            read: OwnedFd,
            write: OwnedFd,
            size: usize,
        }

        impl Pipe {
            /// A pipe for uploads into `file`; `None` when splicing cannot write there (a
            /// file opened for appending) or no pipe is to be had (descriptor limits).
            pub(in super::super) fn for_file(file: &std::fs::File) -> Option<Self> {
                let flags = rustix::fs::fcntl_getfl(file).ok()?;
                if flags.contains(rustix::fs::OFlags::APPEND) {
                    return None;
                }
                let (read, write) = pipe_with(rustix::pipe::PipeFlags::CLOEXEC).ok()?;
                let size = fcntl_setpipe_size(&write, PIPE_SIZE).unwrap_or(64 * 1024);
                Some(Self { read, write, size })
            }
        }

        /// How a spliced upload ended.
        pub(in super::super) enum Outcome {
            /// The connection ended; every byte is in the file.
            Done(u64),
            /// The file system does not splice; this many bytes are in the file and the
            /// rest is to be copied.
            Unsupported(u64),
        }

        /// Splices the connection into `file` until it ends. `buffer` is only used when the
        /// file system turns out not to take splices, to move what the pipe holds.
        pub(in super::super) fn receive(
            copy: &mut Copy,
            file: &std::fs::File,
            pipe: &Pipe,
            buffer: &mut [u8],
            usage: Option<&Usage>,
        ) -> Result<Outcome, TransferError> {
            let mut received = 0u64;
            loop {
                let n = match splice(
                    &copy.stream,
                    None,
                    &pipe.write,
                    None,
                    pipe.size,
                    SpliceFlags::MOVE,
                ) {
                    Ok(0) => return Ok(Outcome::Done(received)),
                    Ok(n) => n,
                    Err(Errno::INTR) => continue,
                    // Reset, or the data timeout (EAGAIN from the socket's receive timeout).
                    Err(_) => return Err(TransferError::ConnectionLost),
                };
                let allowed = super::granted(usage, n);
                let mut left = allowed;
                while left > 0 {
                    match splice(&pipe.read, None, file, None, left, SpliceFlags::MOVE) {
                        Ok(0) => return Err(TransferError::Storage(FsError::Local)),
                        Ok(k) => {
                            left -= k;
                            received += k as u64;
                        }
                        Err(Errno::INTR) => {}
                        Err(Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP) => {
                            // Nothing of this chunk was lost: it is still in the pipe.
                            drain(&pipe.read, file, left, buffer)?;
                            received += left as u64;
                            copy.note(received);
                            if allowed < n {
                                return Err(TransferError::Storage(FsError::QuotaExceeded));
                            }
                            return Ok(Outcome::Unsupported(received));
                        }
                        Err(err) => {
                            return Err(TransferError::Storage(fs_error_of(&io::Error::from(err))));
                        }
                    }
                }
                copy.note(received);
                if allowed < n {
                    // The file ends at the quota; what the pipe still holds is dropped.
                    return Err(TransferError::Storage(FsError::QuotaExceeded));
                }
            }
        }

        /// Moves `len` bytes from the pipe into `file` through `buffer`.
        fn drain(
            pipe: &OwnedFd,
            mut file: &std::fs::File,
            mut len: usize,
            buffer: &mut [u8],
        ) -> Result<(), TransferError> {
            let mut pipe = std::fs::File::from(
                pipe.try_clone()
                    .map_err(|err| TransferError::Storage(fs_error_of(&err)))?,
            );
            while len > 0 {
                let want = len.min(buffer.len());
                let Some(chunk) = buffer.get_mut(..want) else {
                    return Err(TransferError::Storage(FsError::Local));
                };
                let got = match pipe.read(chunk) {
                    Ok(0) => return Err(TransferError::Storage(FsError::Local)),
                    Ok(got) => got,
                    Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                    Err(err) => return Err(TransferError::Storage(fs_error_of(&err))),
                };
                file.write_all(&chunk[..got])
                    .map_err(|err| TransferError::Storage(fs_error_of(&err)))?;
                len -= got;
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Records;

    /// A record of type 23 (application data) with `len` octets of body.
    fn record(len: u16) -> Vec<u8> {
        let mut r = vec![23, 3, 3];
        r.extend_from_slice(&len.to_be_bytes());
        r.resize(5 + usize::from(len), 0xAA);
        r
    }

    #[test]
    fn record_boundaries_are_followed_across_any_split() {
        let mut wire = record(300);
        wire.extend(record(0));
        wire.extend(record(16384));
        for split in [1, 2, 4, 5, 6, 299, 305, 310, 4096, wire.len()] {
            let mut records = Records::default();
            for chunk in wire.chunks(split) {
                records.observe(chunk);
            }
            assert!(!records.inside_record(), "split {split}");
            // Every cut short of the end is inside a record, except at boundaries.
            let boundaries = [0, 305, 310, wire.len()];
            for cut in (0..wire.len())
                .step_by(97)
                .chain([4, 5, 304, 306, 309, 311])
            {
                let mut records = Records::default();
                for chunk in wire[..cut].chunks(split) {
                    records.observe(chunk);
                }
                assert_eq!(
                    records.inside_record(),
                    !boundaries.contains(&cut),
                    "split {split}, cut {cut}"
                );
            }
        }
    }
}
