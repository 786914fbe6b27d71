//! One control connection: the task that drives a [`Session`] over a socket.
//!
//! Owns the control socket, the session, the [`RequestHandler`], the data channels of this
//! session and the events it emits. The loop follows the session's contract: mutate once,
//! drain every output, write the replies of that input in one syscall, then wait for control
//! input, a data report or the session's next timer. The control connection is read
//! throughout transfers, so ABOR, STAT and QUIT work while data flows.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ftp_proto::VirtualPath;
use ftp_proto::listing::Fact;
use ftp_proto::server::{
    ConnectionInfo, DataAction, DataId, DataInput, Direction, ListKind, Output, Request, Response,
    Session, StoreMode, Ticket, TransferError,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio_rustls::server::TlsStream;
use tracing::{Instrument, debug, info, info_span, warn};

use super::Shared;
use super::accounts::UserSlot;
use super::data::{Channel, Charge, Job, JobOrder, Limit, Open, RemoveIfIncomplete, Report, Undo};
use super::uploads::UploadClaim;
use crate::auth::{Authenticator, Operation};
use crate::events::{Event, TransferDirection};
use crate::handler::{Opened, RequestHandler};
use crate::storage::{Storage, WriteMode};
use crate::tls::ConnectionTls;

/// Bytes read from the control socket at a time.
const READ_CHUNK: usize = 4096;
/// After the last reply, input is drained for at most this long (and this many bytes) before
/// the socket closes, so the client reads the reply instead of a reset.
const LINGER: Duration = Duration::from_secs(1);
const LINGER_BYTES: usize = 1 << 20;

/// A data channel of this session, as the control task sees it.
struct ChannelState<S: Storage> {
    id: DataId,
    task: JoinHandle<()>,
    job: Option<oneshot::Sender<JobOrder<S>>>,
    progress: Arc<AtomicU64>,
    /// The file transfer running on it, for events.
    transfer: Option<TransferInfo>,
    /// A job was handed over and has not finished.
    busy: bool,
}

/// Both ends of a session's report channel.
type ReportChannel = (
    mpsc::UnboundedSender<(DataId, Report)>,
    mpsc::UnboundedReceiver<(DataId, Report)>,
);

/// What events need to know about a file transfer.
#[derive(Debug)]
struct TransferInfo {
    path: VirtualPath,
    direction: TransferDirection,
    /// Octets of the converted (TYPE A) stream a download leaves out: its REST marker (the
    /// handler opened the file at its start, see `Opened::Reader`).
    skip: u64,
    /// The octets a binary download's 150 announced (`Response::Size`): it must send as
    /// many, or the file changed while it was sent.
    size: Option<u64>,
    /// The user may delete the file (else a new file an upload leaves incomplete is removed).
    may_delete: bool,
    /// An upload's hold on its file (STOR, APPE), released when the transfer ends (dropped
    /// with this).
    claim: Option<UploadClaim>,
}

/// Runs one control connection to its end; `local`: its local address when the listener
/// already knows it; `implicit`: TLS from the first byte (implicit FTPS), else plain until
/// AUTH TLS.
pub(crate) async fn serve<S: Storage, A: Authenticator>(
    stream: TcpStream,
    peer: SocketAddr,
    local: Option<SocketAddr>,
    shared: Arc<Shared<S, A>>,
    implicit: bool,
) {
    let span = info_span!("session", %peer);
    async move {
        let local = match local.map_or_else(|| stream.local_addr(), Ok) {
            Ok(local) => local,
            Err(err) => {
                debug!(error = %err, "connection gone before it started");
                return;
            }
        };
        // Replies must not wait for Nagle's algorithm (with delayed ACKs that costs ~40 ms
        // per reply); urgent data (ftplib sends ABOR that way) stays in line.
        let _ = stream.set_nodelay(true);
        let _ = socket2::SockRef::from(&stream).set_out_of_band_inline(true);
        debug!(%local, implicit_tls = implicit, "connected");
        let mut tls = None;
        let stream = if implicit {
            let Some(config) = &shared.tls else {
                warn!("implicit TLS listener without a TLS configuration");
                return;
            };
            let state = config.connection();
            let Some(protected) = Box::pin(handshake(stream, &state)).await else {
                return;
            };
            tls = Some(state);
            Control::Tls(Box::new(protected))
        } else {
            Control::Plain(stream)
        };
        let info = ConnectionInfo {
            peer,
            local,
            tls: implicit,
        };
        let now = Instant::now();
        let session = Session::new(Arc::clone(&shared.config), info, now);
        let handler = RequestHandler::new(Arc::clone(&shared.storage), Arc::clone(&shared.auth));
        let shutdown = shared.shutdown.clone();
        let mut conn = Connection {
            stream,
            tls,
            read_buffer: if implicit {
                vec![0; READ_CHUNK]
            } else {
                Vec::new()
            },
            peer,
            local,
            session,
            handler,
            shared,
            channels: Vec::new(),
            replaced: None,
            reports: None,
            pending: Vec::new(),
            listings: Vec::new(),
            out: Vec::new(),
            user: None,
            user_slot: None,
            shutdown,
            drain_until: None,
        };
        conn.run().await;
        Box::pin(conn.finish()).await;
    }
    .instrument(span)
    .await;
}

struct Connection<S: Storage, A: Authenticator> {
    stream: Control,
    /// The TLS state of this connection once protected (kept after CCC: data connections
    /// still resume its sessions).
    tls: Option<ConnectionTls>,
    /// Read buffer for TLS (rustls decrypts into it); plain connections read on the stack.
    read_buffer: Vec<u8>,
    peer: SocketAddr,
    local: SocketAddr,
    session: Session,
    handler: RequestHandler<S, A>,
    shared: Arc<Shared<S, A>>,
    channels: Vec<ChannelState<S>>,
    /// The task of the channel closed last, aborted but perhaps not yet ended: the next
    /// passive channel binds only once it has ended, so that a re-PASV finds the port of the
    /// listener it replaces free again (with a narrow port range it may be the only one).
    replaced: Option<JoinHandle<()>>,
    /// Reports from data tasks; created with the first channel (idle sessions hold none).
    reports: Option<ReportChannel>,
    /// Approved transfer requests not yet started: what events will name.
    pending: Vec<(Ticket, TransferInfo)>,
    /// Directories of approved streamed listings not yet started (for MLSD `perm` facts).
    listings: Vec<(Ticket, VirtualPath)>,
    /// Replies produced by one input, written together.
    out: Vec<u8>,
    /// The logged-in user, for events.
    user: Option<String>,
    /// The logged-in user's counted session (session limit and quota); freed when the
    /// connection ends in any way, or at the next login.
    user_slot: Option<UserSlot>,
    shutdown: watch::Receiver<Option<Instant>>,
    /// The server is shutting down; running transfers may go on until this time.
    drain_until: Option<Instant>,
}

/// Why the loop stopped.
enum End {
    /// The session closed (QUIT, 421) or the peer went away.
    Closed,
}

impl<S: Storage, A: Authenticator> Connection<S, A> {
    async fn run(&mut self) {
        loop {
            if let Err(End::Closed) = self.drain().await {
                return;
            }
            if !self.flush().await || self.session.is_closed() {
                return;
            }
            let timer = self.session.poll_timeout();
            let shutting_down = self.drain_until.is_some();
            tokio::select! {
                report = next_report(&mut self.reports) => self.report(report),
                input = self.stream.input(&mut self.read_buffer) => {
                    let open = match input {
                        Ok(Input::Ready) => self.read_control(),
                        Ok(Input::Read(n)) => self.feed_control(n),
                        Ok(Input::Closed) => false,
                        Err(err) => {
                            debug!(error = %err, "control read failed");
                            false
                        }
                    };
                    if !open {
                        debug!("control connection closed by the client");
                        return;
                    }
                }
                () = sleep_until(timer), if timer.is_some() => {
                    self.session.handle_timeout(Instant::now());
                }
                changed = self.shutdown.changed(), if !shutting_down => {
                    let deadline = match changed {
                        Ok(()) => *self.shutdown.borrow_and_update(),
                        // The server is gone: stop now.
                        Err(_) => Some(Instant::now()),
                    };
                    if let Some(deadline) = deadline {
                        self.drain_until = Some(deadline);
                        if !self.transferring() {
                            self.session.shutdown();
                        }
                    }
                }
                () = sleep_until(self.drain_until), if shutting_down => {
                    self.session.shutdown();
                }
            }
        }
    }

    /// Feeds `n` bytes read through TLS into `read_buffer` to the session.
    fn feed_control(&mut self, n: usize) -> bool {
        let now = Instant::now();
        self.note_progress(now);
        let buffer = std::mem::take(&mut self.read_buffer);
        if let Some(bytes) = buffer.get(..n) {
            self.session.handle_control(now, bytes);
        }
        self.read_buffer = buffer;
        self.note_logout();
        true
    }

    /// REIN (or a new USER) ended the login inside the session: the user's counted session,
    /// quota counter and identity end now, not when the connection closes.
    fn note_logout(&mut self) {
        if self.user.is_some() && self.session.user().is_none() {
            self.user_slot = None;
            self.handler.logout();
            if let Some(user) = self.user.take() {
                info!(%user, "logged out (REIN)");
                self.emit(|peer| Event::Logout { peer, user });
            }
        }
    }

    /// Progress first, so a STAT in this input reports the bytes moved so far.
    fn note_progress(&mut self, now: Instant) {
        for channel in self.channels.iter().filter(|c| c.busy) {
            let bytes = channel.progress.load(Ordering::Relaxed);
            self.session.handle_data(
                now,
                DataInput::Progress {
                    id: channel.id,
                    bytes,
                },
            );
        }
    }

    /// Reads what the plain control socket has and feeds it to the session; false at EOF or
    /// error.
    fn read_control(&mut self) -> bool {
        let now = Instant::now();
        self.note_progress(now);
        let Control::Plain(stream) = &self.stream else {
            return true;
        };
        // The buffer lives on this function's stack, not in the connection's future: an idle
        // session holds no read buffer. Every byte read goes to the session, so nothing sent
        // in clear after AUTH TLS can linger in a buffer of ours (the session discards it).
        let mut buffer = [0u8; READ_CHUNK];
        match read_drained(stream, &mut buffer) {
            Ok(0) => false,
            Ok(n) => {
                self.session.handle_control(now, &buffer[..n]);
                self.note_logout();
                true
            }
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => true,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => true,
            Err(err) => {
                debug!(error = %err, "control read failed");
                false
            }
        }
    }

    /// Carries out every queued output of the session.
    async fn drain(&mut self) -> Result<(), End> {
        while let Some(output) = self.session.poll_output() {
            match output {
                Output::Transmit(bytes) => {
                    if self.out.is_empty() {
                        self.out = bytes;
                    } else {
                        self.out.extend_from_slice(&bytes);
                    }
                }
                Output::Data(action) => self.data_action(action),
                Output::Request { ticket, request } => {
                    // Replies so far go out before the application is asked (it may be slow).
                    if !self.out.is_empty() && !self.flush().await {
                        return Err(End::Closed);
                    }
                    // Boxed, like every rarely taken and large await below: the connection's
                    // future is as large as its largest await point, and an idle session
                    // should not carry the space of a request, a handshake or the close.
                    Box::pin(self.request(ticket, request)).await?;
                }
                Output::UpgradeTls => {
                    // The 234 goes out in clear, then the handshake.
                    if !self.flush().await || !Box::pin(self.upgrade()).await {
                        return Err(End::Closed);
                    }
                    self.session.handle_tls_established(Instant::now());
                }
                Output::DowngradeTls => {
                    // The 200 to CCC goes out protected, then close_notify.
                    let downgraded = self.flush().await && Box::pin(self.downgrade()).await;
                    if !downgraded {
                        return Err(End::Closed);
                    }
                }
                Output::Close => {
                    let _ = self.flush().await;
                    return Err(End::Closed);
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Writes the collected replies; false when the client is gone or does not read.
    async fn flush(&mut self) -> bool {
        if self.out.is_empty() {
            return true;
        }
        let limit = self.shared.config.idle_timeout;
        let write = async {
            self.stream.write_all(&self.out).await?;
            self.stream.flush().await
        };
        let written = tokio::time::timeout(limit, write).await;
        // Large replies (HELP, FEAT, STAT listings) are not kept around once sent.
        self.out = Vec::new();
        matches!(written, Ok(Ok(())))
    }

    /// AUTH TLS: the handshake on the plain socket; false when it failed (then the
    /// connection ends).
    async fn upgrade(&mut self) -> bool {
        let (Control::Plain(_), Some(config)) = (&self.stream, &self.shared.tls) else {
            warn!("TLS requested but not possible on this connection; closing");
            return false;
        };
        let state = self.tls.clone().unwrap_or_else(|| config.connection());
        let Control::Plain(stream) = std::mem::replace(&mut self.stream, Control::Closed) else {
            return false;
        };
        let Some(protected) = handshake(stream, &state).await else {
            return false;
        };
        self.stream = Control::Tls(Box::new(protected));
        self.tls = Some(state);
        self.read_buffer = vec![0; READ_CHUNK];
        true
    }

    /// CCC: close_notify, then clear text on the same socket. The client answers with its
    /// own close_notify, which is read (bounded in time) so that it is not taken for a
    /// command.
    async fn downgrade(&mut self) -> bool {
        let Control::Tls(mut stream) = std::mem::replace(&mut self.stream, Control::Closed) else {
            return false;
        };
        let limit = self
            .tls
            .as_ref()
            .map_or(crate::tls::DEFAULT_HANDSHAKE_TIMEOUT, |t| {
                t.handshake_timeout
            });
        let close = async {
            stream.get_mut().1.send_close_notify();
            stream.flush().await?;
            // Anything before the client's close_notify was sent under TLS after CCC's reply
            // had been requested; it is not executed.
            let mut scratch = [0u8; 512];
            while stream.read(&mut scratch).await? > 0 {}
            io::Result::Ok(())
        };
        match tokio::time::timeout(limit, close).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => {
                debug!(error = %err, "CCC: TLS close failed; closing");
                return false;
            }
            Err(_) => {
                debug!("CCC: no close_notify from the client; closing");
                return false;
            }
        }
        let (tcp, _) = stream.into_inner();
        info!("control connection back in clear text (CCC)");
        self.stream = Control::Plain(tcp);
        self.read_buffer = Vec::new();
        true
    }

    async fn request(&mut self, ticket: Ticket, request: Request) -> Result<(), End> {
        let hooks = self.shared.events.is_some();
        let noted = note(&request);
        let login = matches!(noted, Noted::Login);
        if login {
            // A new login ends the old identity, and with it its counted session.
            self.user_slot = None;
        }
        let peer_ip = super::data::canonical(self.peer.ip());
        let blocked = login && self.shared.login_failures.blocked(peer_ip, Instant::now());
        let login_user = match &request {
            Request::Login { user, .. } => Some(user.clone()),
            _ => None,
        };
        // One upload per file at a time: a second STOR or APPE to a file being uploaded waits
        // its turn (450), since opening it would already cut the first one's data. A download
        // of it waits too (450): it would send a partial file as if it were whole.
        let mut claim = None;
        if let Request::Store { path, .. } = &request
            && let Some(target) = self.handler.storage_path(path)
        {
            claim = self.shared.uploads.claim(&target);
            if claim.is_none() {
                debug!(path = %target, "upload refused: another upload to this file is running");
                return self.answer(ticket, Response::Error(ftp_proto::server::FsError::Busy));
            }
        }
        // Nor is a file being uploaded deleted, renamed or renamed over: the upload would go
        // on under another name, or into nothing, and still end with 226.
        let held = match &request {
            Request::Retrieve { path, .. }
            | Request::Delete { path }
            | Request::RenameFrom { path } => [Some(path), None],
            Request::Rename { from, to } => [Some(from), Some(to)],
            _ => [None, None],
        };
        if self.shared.uploads.any()
            && held.into_iter().flatten().any(|path| {
                self.handler
                    .storage_path(path)
                    .is_some_and(|target| self.shared.uploads.holds(&target))
            })
        {
            debug!(?request, "refused: the file is being uploaded");
            return self.answer(ticket, Response::Error(ftp_proto::server::FsError::Busy));
        }
        let mut response = if blocked {
            // The address used up its failed logins: no guess is checked, right or wrong.
            info!("login refused unchecked: too many failed logins from this address");
            self.handler.logout();
            Response::LoginRejected
        } else {
            self.handler.handle(ticket, request).await
        };
        if let (Some(user), Response::LoginRejected) = (login_user, &response) {
            if !blocked {
                self.shared.login_failures.record(peer_ip, Instant::now());
            }
            // Info, not warn: any client can cause it; the per-address limit bounds the rate.
            info!(user = %user.escape_debug(), "login failed");
            self.emit(|peer| Event::LoginFailed { peer, user });
        }
        if login && matches!(response, Response::LoggedIn) && !self.admit_user().await {
            let user = self.handler.principal().map(|p| p.name.clone());
            self.handler.logout();
            info!(?user, "login refused: the user has too many sessions");
            // The session answers 421 and closes.
            response = Response::TooManySessions;
        }
        self.after(ticket, noted, &response, hooks, claim);
        self.answer(ticket, response)
    }

    /// Hands the application's answer to the session.
    fn answer(&mut self, ticket: Ticket, response: Response) -> Result<(), End> {
        if let Err(err) = self.session.respond(Instant::now(), ticket, response) {
            if self.session.is_closed() {
                // The session ended while the application worked (the client closed, or
                // its input broke a limit): the answer has no one to go to.
                debug!(error = %err, "answer after the session closed, dropped");
            } else {
                warn!(error = %err, "the session refused the application's answer");
            }
        }
        Ok(())
    }

    /// Counts the session just logged in against its user's session limit and gives the
    /// handler the user's quota counter (measuring the home at the user's first session);
    /// false when the user already has as many sessions as allowed.
    async fn admit_user(&mut self) -> bool {
        let Some(principal) = self.handler.principal().cloned() else {
            return true;
        };
        let Some(slot) = self.shared.accounts.admit(&principal) else {
            return false;
        };
        let usage = match principal.quota {
            Some(limit) => slot.usage(self.handler.storage().as_ref(), limit).await,
            None => None,
        };
        if let Some(usage) = &usage {
            debug!(used = usage.used(), limit = ?principal.quota, "quota counted");
        }
        self.handler.set_usage(usage);
        self.user_slot = Some(slot);
        true
    }

    /// The quota the logged-in user's uploads are charged to, if any.
    fn charge(&self) -> Option<Charge> {
        self.handler.usage().map(|usage| Charge {
            usage: Arc::clone(usage),
            policy: self.shared.quota_policy,
        })
    }

    /// Remembers what events and transfers need from an answered request.
    fn after(
        &mut self,
        ticket: Ticket,
        noted: Noted,
        response: &Response,
        hooks: bool,
        claim: Option<UploadClaim>,
    ) {
        let ok = !matches!(response, Response::Error(_) | Response::LoginRejected);
        match noted {
            Noted::Login if matches!(response, Response::LoggedIn) => {
                let user = self
                    .handler
                    .principal()
                    .map_or_else(String::new, |p| p.name.clone());
                info!(%user, "logged in");
                self.emit(|peer| Event::Login {
                    peer,
                    user: user.clone(),
                });
                self.user = Some(user);
            }
            Noted::Listing(dir) if matches!(response, Response::Ok) => {
                self.listings.push((ticket, dir));
            }
            Noted::Transfer(path, direction, skip) if ok => {
                let path = match response {
                    Response::Created(created) => created.clone(),
                    _ => path,
                };
                let size = match response {
                    Response::Size(size) => Some(*size),
                    _ => None,
                };
                let may_delete = self
                    .handler
                    .principal()
                    .is_some_and(|p| p.allows(Operation::Delete, &path));
                if let Some(path) = self.handler.storage_path(&path) {
                    self.pending.push((
                        ticket,
                        TransferInfo {
                            path,
                            direction,
                            skip,
                            size,
                            may_delete,
                            claim,
                        },
                    ));
                }
            }
            Noted::Done(kind, path, to) if ok && hooks => {
                let (Some(user), Some(path)) =
                    (self.user.clone(), self.handler.storage_path(&path))
                else {
                    return;
                };
                let to = to.and_then(|to| self.handler.storage_path(&to));
                let event = match (kind, to) {
                    (DoneKind::Deleted, _) => Event::FileDeleted {
                        peer: self.peer,
                        user,
                        path,
                    },
                    (DoneKind::Renamed, Some(to)) => Event::Renamed {
                        peer: self.peer,
                        user,
                        from: path,
                        to,
                    },
                    (DoneKind::Renamed, None) => return,
                    (DoneKind::DirCreated, _) => Event::DirectoryCreated {
                        peer: self.peer,
                        user,
                        path,
                    },
                    (DoneKind::DirRemoved, _) => Event::DirectoryRemoved {
                        peer: self.peer,
                        user,
                        path,
                    },
                };
                self.emit(|_| event);
            }
            _ => {}
        }
    }

    fn emit(&self, event: impl FnOnce(SocketAddr) -> Event) {
        if let Some(hook) = &self.shared.events {
            hook.call(&event(self.peer));
        }
    }

    fn data_action(&mut self, action: DataAction) {
        match action {
            DataAction::Listen { id, .. } => {
                let open = Open::Passive {
                    bind: super::data::canonical(self.local.ip()),
                    peer: self.peer.ip(),
                };
                self.open_channel(id, open);
            }
            DataAction::Connect { id, to } => {
                let open = Open::Active {
                    local: self.local.ip(),
                    to,
                };
                self.open_channel(id, open);
            }
            DataAction::Transfer {
                id,
                ticket,
                direction,
                ascii,
                protected,
            } => {
                let mut info = self
                    .pending
                    .iter()
                    .position(|(t, _)| *t == ticket)
                    .map(|at| self.pending.swap_remove(at).1);
                let job = match (self.handler.take(ticket), direction) {
                    (Some(Opened::Reader(reader)), Direction::Send) => Job::Send {
                        reader,
                        ascii,
                        skip: info.as_ref().map_or(0, |info| info.skip),
                        size: info.as_ref().and_then(|info| info.size),
                    },
                    (Some(Opened::Writer(writer)), Direction::Receive) => {
                        // STOU: a new, empty file; undone by removing it.
                        let limit = self
                            .charge()
                            .zip(info.as_ref())
                            .map(|(charge, info)| Limit {
                                charge,
                                storage: Arc::clone(self.handler.storage()),
                                path: info.path.clone(),
                                undo: Undo::Remove,
                            });
                        Job::Receive {
                            writer,
                            ascii,
                            limit,
                        }
                    }
                    (Some(Opened::Write { path, mode }), Direction::Receive) => {
                        // A new file its user may not delete: removed again unless the upload
                        // completes, under the upload's hold on the name.
                        let incomplete = (mode == WriteMode::CreateNew)
                            .then_some(info.as_mut())
                            .flatten()
                            .filter(|info| !info.may_delete)
                            .map(|info| RemoveIfIncomplete {
                                claim: info.claim.take(),
                            });
                        Job::ReceiveLater {
                            storage: Arc::clone(self.handler.storage()),
                            path,
                            mode,
                            ascii,
                            charge: self.charge(),
                            incomplete,
                        }
                    }
                    _ => {
                        warn!(?ticket, "nothing was opened for this transfer");
                        self.fail_unopened(id);
                        return;
                    }
                };
                let span = match &info {
                    Some(info) => {
                        info_span!("transfer", path = %info.path, direction = ?info.direction)
                    }
                    None => info_span!("transfer"),
                };
                self.start_job(id, job, span, info, protected);
            }
            DataAction::SendListing {
                id,
                bytes,
                protected,
            } => {
                let span = info_span!("listing");
                self.start_job(id, Job::Listing(bytes), span, None, protected);
            }
            DataAction::StreamListing {
                id,
                ticket,
                format,
                protected,
            } => {
                let Some(Opened::Dir(dir)) = self.handler.take(ticket) else {
                    warn!(?ticket, "no directory was opened for this listing");
                    self.fail_unopened(id);
                    return;
                };
                let listed = self
                    .listings
                    .iter()
                    .position(|(t, _)| *t == ticket)
                    .map(|at| self.listings.swap_remove(at).1);
                let perms = listed
                    .filter(|_| format.kind == ListKind::Mlsd && format.facts.contains(Fact::Perm))
                    .and_then(|dir| self.handler.perm_facts(&dir));
                let job = Job::Stream { dir, format, perms };
                self.start_job(id, job, info_span!("listing"), None, protected);
            }
            DataAction::Close { id } => self.close_channel(id),
            DataAction::Release { ticket } => {
                self.handler.release(ticket);
                self.pending.retain(|(t, _)| *t != ticket);
                self.listings.retain(|(t, _)| *t != ticket);
            }
            _ => {}
        }
    }

    /// A job whose request left nothing opened (an application bug, not the client's): the
    /// transfer ends with 451 and its channel closes.
    fn fail_unopened(&mut self, id: DataId) {
        let result = Err(TransferError::Storage(ftp_proto::server::FsError::Local));
        self.session
            .handle_data(Instant::now(), DataInput::Finished { id, result });
        self.close_channel(id);
    }

    fn open_channel(&mut self, id: DataId, open: Open) {
        let reports = self
            .reports
            .get_or_insert_with(mpsc::unbounded_channel)
            .0
            .clone();
        let (job_tx, job_rx) = oneshot::channel();
        let progress = Arc::new(AtomicU64::new(0));
        let replaced = self.replaced.take();
        let channel = Channel::<S> {
            id,
            open,
            replaced,
            settings: Arc::clone(&self.shared.data),
            reports,
            job: job_rx,
            progress: Arc::clone(&progress),
        };
        let task = tokio::spawn(channel.run().in_current_span());
        self.channels.push(ChannelState {
            id,
            task,
            job: Some(job_tx),
            progress,
            transfer: None,
            busy: false,
        });
    }

    fn start_job(
        &mut self,
        id: DataId,
        job: Job<S>,
        span: tracing::Span,
        info: Option<TransferInfo>,
        protected: bool,
    ) {
        let tls = match (protected, &self.tls) {
            (false, _) => None,
            (true, Some(tls)) => Some(tls.clone()),
            (true, None) => {
                // PROT P is only accepted on a protected control connection; never reached.
                warn!(
                    ?id,
                    "protected transfer without TLS on the control connection"
                );
                self.session.handle_data(
                    Instant::now(),
                    DataInput::Failed {
                        id,
                        error: ftp_proto::server::DataError::Tls,
                    },
                );
                self.close_channel(id);
                return;
            }
        };
        let Some(channel) = self.channels.iter_mut().find(|c| c.id == id) else {
            warn!(?id, "a job for a channel that does not exist");
            return;
        };
        channel.progress.store(0, Ordering::Relaxed);
        channel.transfer = info;
        channel.busy = true;
        if let Some(sender) = channel.job.take() {
            // If the task already ended it reported why; the session hears that instead.
            let _ = sender.send((job, span, tls));
        }
    }

    fn close_channel(&mut self, id: DataId) {
        let Some(at) = self.channels.iter().position(|c| c.id == id) else {
            return;
        };
        let channel = self.channels.swap_remove(at);
        channel.task.abort();
        if channel.busy {
            let bytes = channel.progress.load(Ordering::Relaxed);
            self.transfer_ended(channel.transfer, bytes, Duration::ZERO, Err(None));
        }
        self.replaced = Some(channel.task);
    }

    fn report(&mut self, report: Option<(DataId, Report)>) {
        let Some((id, report)) = report else {
            return;
        };
        // Reports queued before a Close are stale: nothing is reported for a closed channel.
        let Some(at) = self.channels.iter().position(|c| c.id == id) else {
            return;
        };
        let now = Instant::now();
        let input = match report {
            Report::Listening(addr) => DataInput::Listening { id, addr },
            Report::Connected => DataInput::Connected { id },
            Report::Failed(error) => {
                self.channels.swap_remove(at);
                DataInput::Failed { id, error }
            }
            Report::Finished { result, duration } => {
                let channel = self.channels.swap_remove(at);
                match &result {
                    Ok(bytes) => self.transfer_ended(channel.transfer, *bytes, duration, Ok(())),
                    Err(err) => {
                        let bytes = channel.progress.load(Ordering::Relaxed);
                        self.transfer_ended(
                            channel.transfer,
                            bytes,
                            duration,
                            Err(Some(err.clone())),
                        );
                    }
                }
                DataInput::Finished { id, result }
            }
        };
        self.session.handle_data(now, input);
        if self.drain_until.is_some() && !self.transferring() {
            self.session.shutdown();
        }
    }

    /// Logs a file transfer's end and emits its event: `Ok` when every byte moved, else why
    /// not (`None`: aborted).
    fn transfer_ended(
        &self,
        info: Option<TransferInfo>,
        bytes: u64,
        duration: Duration,
        outcome: Result<(), Option<TransferError>>,
    ) {
        let Some(TransferInfo {
            path, direction, ..
        }) = info
        else {
            return;
        };
        let user = self.user.clone().unwrap_or_default();
        match outcome {
            Ok(()) => {
                info!(%path, ?direction, bytes, ?duration, "transfer complete");
                self.emit(|peer| Event::TransferFinished {
                    peer,
                    user,
                    path,
                    direction,
                    bytes,
                    duration,
                });
            }
            Err(error) => {
                info!(%path, ?direction, bytes, ?error, "transfer incomplete");
                self.emit(|peer| Event::TransferIncomplete {
                    peer,
                    user,
                    path,
                    direction,
                    bytes,
                    duration,
                    error,
                });
            }
        }
    }

    fn transferring(&self) -> bool {
        self.channels.iter().any(|c| c.busy)
    }

    /// Ends the connection: stops data tasks, emits the logout, closes the socket gently.
    async fn finish(&mut self) {
        // The user's session ends now, not after the lingering close below.
        self.user_slot = None;
        for channel in std::mem::take(&mut self.channels) {
            channel.task.abort();
            if channel.busy {
                let bytes = channel.progress.load(Ordering::Relaxed);
                self.transfer_ended(channel.transfer, bytes, Duration::ZERO, Err(None));
            }
        }
        if let Some(user) = self.user.take() {
            info!(%user, "logged out");
            self.emit(|peer| Event::Logout { peer, user });
        }
        // Half-close, then read what the client still sends for a moment: closing with unread
        // input would reset the connection and could destroy the last reply in flight.
        let _ = self.stream.shutdown().await;
        let linger = async {
            let mut scratch = [0u8; 512];
            let mut total = 0;
            while total < LINGER_BYTES {
                match self.stream.read(&mut scratch).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => total += n,
                }
            }
        };
        let _ = tokio::time::timeout(LINGER, linger).await;
        debug!("closed");
    }
}

/// What a request means for events and transfers, noted before the handler consumes it.
enum Noted {
    Login,
    /// A transfer: the path, the direction, and the octets a TYPE A download skips (REST).
    Transfer(VirtualPath, TransferDirection, u64),
    Listing(VirtualPath),
    Done(DoneKind, VirtualPath, Option<VirtualPath>),
    Nothing,
}

#[derive(Clone, Copy)]
enum DoneKind {
    Deleted,
    Renamed,
    DirCreated,
    DirRemoved,
}

fn note(request: &Request) -> Noted {
    match request {
        Request::Login { .. } => Noted::Login,
        Request::Retrieve {
            path,
            offset,
            ascii,
        } => Noted::Transfer(
            path.clone(),
            TransferDirection::Download,
            if *ascii { *offset } else { 0 },
        ),
        Request::Store { path, mode, .. } => Noted::Transfer(
            path.clone(),
            match mode {
                StoreMode::Replace => TransferDirection::Upload,
                StoreMode::Append => TransferDirection::Append,
            },
            0,
        ),
        Request::StoreUnique { dir, .. } => {
            Noted::Transfer(dir.clone(), TransferDirection::Upload, 0)
        }
        Request::List {
            path,
            kind: ListKind::Mlsd,
            ..
        } => Noted::Listing(path.clone()),
        Request::Delete { path } => Noted::Done(DoneKind::Deleted, path.clone(), None),
        Request::RemoveDir { path } => Noted::Done(DoneKind::DirRemoved, path.clone(), None),
        Request::MakeDir { path } => Noted::Done(DoneKind::DirCreated, path.clone(), None),
        Request::Rename { from, to } => {
            Noted::Done(DoneKind::Renamed, from.clone(), Some(to.clone()))
        }
        _ => Noted::Nothing,
    }
}

async fn next_report(reports: &mut Option<ReportChannel>) -> Option<(DataId, Report)> {
    match reports {
        Some((_, receiver)) => receiver.recv().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// The TLS handshake of a control connection, bounded in time; `None` (logged) on failure.
async fn handshake(stream: TcpStream, tls: &ConnectionTls) -> Option<TlsStream<TcpStream>> {
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::clone(&tls.control));
    match tokio::time::timeout(tls.handshake_timeout, acceptor.accept(stream)).await {
        Ok(Ok(stream)) => {
            let (_, conn) = stream.get_ref();
            debug!(
                version = ?conn.protocol_version(),
                sni = conn.server_name().unwrap_or(""),
                "control connection protected"
            );
            Some(stream)
        }
        Ok(Err(err)) => {
            info!(error = %err, "TLS handshake failed; closing");
            None
        }
        Err(_) => {
            info!("TLS handshake timed out; closing");
            None
        }
    }
}

/// The control connection: plain TCP, or TLS after AUTH TLS (or from the start, implicit).
enum Control {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
    /// Between states (a failed upgrade): reads end, writes fail.
    Closed,
}

/// What waiting on the control connection gave.
enum Input {
    /// Plain: the socket is readable (read it with `try_read`).
    Ready,
    /// TLS: this many bytes were decrypted into the read buffer.
    Read(usize),
    /// End of input.
    Closed,
}

/// One read of the plain control socket. A read that ends a line and leaves room in
/// `buffer` has taken everything queued: the socket's readiness is cleared then, so the next
/// wait sleeps at once instead of costing a read that fails with EAGAIN (one system call per
/// command). Any other read keeps the readiness, and the next read runs before sleeping.
///
/// Not tokio's `poll_read`, which clears the readiness after *every* short read: a read also
/// stops short at the urgent-data mark, and Python's ftplib sends its ABOR with MSG_OOB (the
/// final LF is the urgent byte, inline here). That read ends in CR, not LF, so it keeps the
/// readiness and the LF behind the mark is read next; with `poll_read` it never was.
fn read_drained(stream: &TcpStream, buffer: &mut [u8]) -> io::Result<usize> {
    use std::io::Read;
    let mut taken = None;
    let result = stream.try_io(tokio::io::Interest::READABLE, || {
        let n = (&*socket2::SockRef::from(stream)).read(buffer)?;
        if n > 0 && n < buffer.len() && buffer[n - 1] == b'\n' {
            // Reported as EAGAIN so that tokio clears the readiness (unless an event came in
            // meanwhile); the bytes are returned below.
            taken = Some(n);
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(n)
    });
    match (taken, result) {
        (Some(n), _) => Ok(n),
        (None, result) => result,
    }
}

impl Control {
    /// Waits for input. Cancel-safe: a plain socket is only polled for readiness, and TLS
    /// reads keep what they did not return inside rustls.
    async fn input(&mut self, buffer: &mut [u8]) -> io::Result<Input> {
        match self {
            Self::Plain(stream) => stream.readable().await.map(|()| Input::Ready),
            Self::Tls(stream) => {
                let n = std::future::poll_fn(|cx| {
                    let mut read = ReadBuf::new(buffer);
                    match std::pin::Pin::new(&mut **stream).poll_read(cx, &mut read) {
                        std::task::Poll::Ready(done) => {
                            std::task::Poll::Ready(done.map(|()| read.filled().len()))
                        }
                        std::task::Poll::Pending => {
                            // Records rustls queued on its own while reading (the alert that
                            // refuses a TLS 1.2 renegotiation, the answer to a TLS 1.3
                            // KeyUpdate) go out now, not with the next reply.
                            if stream.get_ref().1.wants_write() {
                                let _ = std::pin::Pin::new(&mut **stream).poll_flush(cx);
                            }
                            std::task::Poll::Pending
                        }
                    }
                })
                .await?;
                Ok(if n == 0 {
                    Input::Closed
                } else {
                    Input::Read(n)
                })
            }
            Self::Closed => Ok(Input::Closed),
        }
    }
}

impl AsyncRead for Control {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(stream) => std::pin::Pin::new(stream).poll_read(cx, buf),
            Self::Tls(stream) => std::pin::Pin::new(stream).poll_read(cx, buf),
            Self::Closed => std::task::Poll::Ready(Ok(())),
        }
    }
}

impl AsyncWrite for Control {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(stream) => std::pin::Pin::new(stream).poll_write(cx, buf),
            Self::Tls(stream) => std::pin::Pin::new(stream).poll_write(cx, buf),
            Self::Closed => std::task::Poll::Ready(Err(io::ErrorKind::NotConnected.into())),
        }
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(stream) => std::pin::Pin::new(stream).poll_flush(cx),
            Self::Tls(stream) => std::pin::Pin::new(stream).poll_flush(cx),
            Self::Closed => std::task::Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(stream) => std::pin::Pin::new(stream).poll_shutdown(cx),
            Self::Tls(stream) => std::pin::Pin::new(stream).poll_shutdown(cx),
            Self::Closed => std::task::Poll::Ready(Ok(())),
        }
    }
}
