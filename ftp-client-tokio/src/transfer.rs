//! Transfers: opening them, the download stream, the upload copy.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use ftp_proto::ascii::{FromWire, ToWire};
use ftp_proto::client::{
    CommandHandle, CopyError, DataError, DataId, DataInput, Event, SessionError, TransferDone,
};
use ftp_proto::{Command, Reply};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep, sleep, sleep_until, timeout};

use crate::Error;
use crate::client::{Client, Data, tls_handshake};
use crate::tls::Stream;

/// How long a protected (PROT P) transfer waits for its 150/125 once the data connection is
/// up before starting the data connection's TLS handshake anyway: some servers send the
/// preliminary reply only after that handshake (lftp waits the same). At most half the reply
/// timeout, which leaves the handshake the other half. A plain transfer needs no such wait:
/// its first data bytes show that it started.
const WAIT_PRELIMINARY: Duration = Duration::from_secs(5);

/// How long an active-mode listener waits for a connection once the server has sent its
/// final reply (by then a connection it made is already in the listen queue).
const AFTER_REPLY_ACCEPT: Duration = Duration::from_millis(250);

/// Copy buffer size for uploads and whole-file downloads.
pub(crate) const COPY_BUF: usize = 256 * 1024;

/// A transfer whose data connection is open and whose copy may begin.
#[derive(Debug)]
pub(crate) struct Opened {
    pub(crate) handle: CommandHandle,
    pub(crate) id: DataId,
    pub(crate) ascii: bool,
    pub(crate) stream: Stream,
    pub(crate) size_hint: Option<u64>,
}

/// How opening a transfer ended.
#[derive(Debug)]
pub(crate) enum Open {
    /// Copy now.
    Streaming(Opened),
    /// The server finished it without a data connection (nothing to send).
    Done(TransferDone),
}

/// What ended a wait for a plain transfer to start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wake {
    /// Bytes arrived on the data connection.
    Data,
    /// The data connection ended or broke before its first byte.
    DataEnded,
    /// The control connection was read, or the deadline passed.
    Other,
}

impl Client {
    /// Starts a transfer and waits until its data may flow.
    pub(crate) async fn open_transfer(
        &mut self,
        command: Command,
        rest: Option<u64>,
    ) -> Result<Open, Error> {
        self.settle().await?;
        let handle = self.session.transfer(Self::now(), command, rest)?;
        self.open_started(handle).await
    }

    /// Waits until the transfer `handle` may copy: its data connection is open and the server
    /// has shown that the transfer started. From the moment the transfer command is out, the
    /// server has the reply timeout to show it: a 150/125 or final reply, or, from servers that
    /// skip the preliminary reply, data on a plain data connection or a finished TLS handshake
    /// on a protected one. An upload always waits for its 150 (the session gives its copy
    /// order only then), but a protected one does its TLS handshake without it when the 150
    /// is late, for servers that send it only after that handshake. A server that shows
    /// nothing in time has the transfer aborted (ABOR goes out before the next command), and
    /// the error is [`Error::Timeout`]. An active-mode server must also connect within the
    /// data timeout.
    pub(crate) async fn open_started(&mut self, handle: CommandHandle) -> Result<Open, Error> {
        self.orphan = Some(handle);
        self.copy = None;
        let reply_timeout = self.options.session.reply_timeout;
        let mut preliminary: Option<Reply> = None;
        let accept_deadline = Instant::now() + self.options.data_timeout;
        // When the server must have shown that the transfer started (set once the transfer
        // command is out: the session keeps no reply deadline of its own from then on).
        let mut start_deadline: Option<Instant> = None;
        let mut tls_fallback: Option<Instant> = None;
        // An upload's data connection, protected before its 150 came (see `early_tls`).
        let mut secured: Option<(DataId, Stream)> = None;
        // The plain data connection ended (or broke) before its first byte: only the control
        // connection can tell an empty file from a refusal now.
        let mut data_ended = false;
        loop {
            self.run_outputs().await?;
            while let Some(event) = self.events.pop_front() {
                match event {
                    Event::Preliminary { handle: h, reply } if h == handle => {
                        preliminary = Some(reply);
                    }
                    Event::Transfer { handle: h, result } if h == handle => {
                        self.orphan = None;
                        self.data = Data::None;
                        self.copy = None;
                        return result.map(Open::Done).map_err(Error::from);
                    }
                    _ => {}
                }
            }
            if start_deadline.is_none() && self.awaiting_start() {
                start_deadline = Some(Instant::now() + reply_timeout);
            }
            let started = preliminary.is_some() || self.session.transfer_replied();
            let deadline = start_deadline.filter(|_| !started);
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(self.start_timed_out());
            }
            if let Some(order) = self.copy
                && let Some((id, stream)) = secured.take_if(|(id, _)| *id == order.id)
            {
                return Ok(self.opened(handle, id, order.ascii, stream, preliminary));
            }
            let order = self.copy.filter(|c| Some(c.id) == self.data_id());
            // No copy order although the command is out and the data connection is open: an
            // upload, which the session lets copy only once its 150 has come. Some servers
            // send that 150 only after the data connection's TLS handshake, so with PROT P
            // the handshake starts without it, as a download's does; the copy still waits.
            let early_tls = order.is_none()
                && self.session.is_protected()
                && start_deadline.is_some()
                && !started;
            if (order.is_some() || early_tls)
                && let Data::Connected { .. } = &self.data
            {
                let protected = order.is_none_or(|o| o.protected);
                let mut go = started;
                if !go && protected {
                    let fallback = *tls_fallback.get_or_insert_with(|| {
                        Instant::now() + WAIT_PRELIMINARY.min(reply_timeout / 2)
                    });
                    if Instant::now() < fallback {
                        let until = deadline.map_or(fallback, |d| d.min(fallback));
                        self.control_until(Some(until)).await?;
                        continue;
                    }
                    go = true;
                }
                if !go && !data_ended {
                    match self.control_or_data(deadline).await? {
                        Wake::Data => go = true,
                        Wake::DataEnded => data_ended = true,
                        Wake::Other => {}
                    }
                }
                if !go {
                    if data_ended {
                        self.control_until(deadline).await?;
                    }
                    continue;
                }
                let Data::Connected { id, stream } = core::mem::replace(&mut self.data, Data::None)
                else {
                    unreachable!("matched above");
                };
                let stream = if protected {
                    match self.protect(handle, id, stream, deadline).await? {
                        Some(stream) => stream,
                        // The handshake failed (reported to the session): wait for the
                        // transfer's end.
                        None => continue,
                    }
                } else {
                    Stream::Plain(stream)
                };
                match order {
                    Some(order) => {
                        return Ok(self.opened(handle, id, order.ascii, stream, preliminary));
                    }
                    // The upload's 150 (and with it the copy order) is still to come, within
                    // the start deadline.
                    None => secured = Some((id, stream)),
                }
                continue;
            }
            if matches!(self.data, Data::Listening { .. }) {
                self.accept_or_control(accept_deadline, deadline).await?;
                continue;
            }
            self.control_until(deadline).await?;
        }
    }

    /// The opened transfer `handle` on data channel `id`; `preliminary`: its 150/125 if seen
    /// (one that came during a TLS handshake is still among the events).
    fn opened(
        &mut self,
        handle: CommandHandle,
        id: DataId,
        ascii: bool,
        stream: Stream,
        mut preliminary: Option<Reply>,
    ) -> Open {
        if preliminary.is_none() {
            preliminary = self.take_preliminary(handle);
        }
        Open::Streaming(Opened {
            handle,
            id,
            ascii,
            stream,
            size_hint: preliminary.as_ref().and_then(ftp_proto::client::size_hint),
        })
    }

    /// The transfer command is out and the session waits for the driver: it keeps no reply
    /// deadline while a data connection is (or is about to be) in use.
    fn awaiting_start(&self) -> bool {
        self.session.in_transfer()
            && !self.session.is_closed()
            && self.session.poll_timeout().is_none()
    }

    /// The server did not show in time that the transfer started: the transfer is aborted
    /// (ABOR goes out before the next command, see `Client::settle`) and the error returned.
    fn start_timed_out(&mut self) -> Error {
        self.data = Data::None;
        self.copy = None;
        let _ = self.session.abort(Self::now());
        self.drain_sync();
        Error::Timeout("waiting for the transfer to start (no 150 reply and no data)")
    }

    /// A preliminary reply to `handle` still among the events (it came during a TLS
    /// handshake), taken out.
    fn take_preliminary(&mut self, handle: CommandHandle) -> Option<Reply> {
        let at = self
            .events
            .iter()
            .position(|e| matches!(e, Event::Preliminary { handle: h, .. } if *h == handle))?;
        match self.events.remove(at) {
            Some(Event::Preliminary { reply, .. }) => Some(reply),
            _ => None,
        }
    }

    /// Reads the control connection once, or waits until `deadline` passes.
    async fn control_until(&mut self, deadline: Option<Instant>) -> Result<(), Error> {
        tokio::select! {
            r = self.read_control() => r,
            () = sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => Ok(()),
        }
    }

    /// Reads the control connection once, or waits for the first byte (or the end) of the
    /// plain data connection, or until `deadline` passes.
    async fn control_or_data(&mut self, deadline: Option<Instant>) -> Result<Wake, Error> {
        let Data::Connected { id, stream } = core::mem::replace(&mut self.data, Data::None) else {
            return Ok(Wake::Other);
        };
        let mut probe = [0u8; 1];
        let woke = tokio::select! {
            r = stream.peek(&mut probe) => Ok(match r {
                Ok(n) if n > 0 => Wake::Data,
                _ => Wake::DataEnded,
            }),
            r = self.read_control() => r.map(|()| Wake::Other),
            () = sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                Ok(Wake::Other)
            }
        };
        // Put back before anything else: the session may close the channel (drain_sync).
        self.data = Data::Connected { id, stream };
        woke
    }

    /// The TLS handshake on a data connection (PROT P), resuming the control connection's
    /// session, while the control connection is watched (a server that gives up ends it).
    /// `None` when it failed; the session has been told. `start_deadline`: the transfer has
    /// not been seen to start yet, and must be by then (or it is aborted with
    /// [`Error::Timeout`]).
    async fn protect(
        &mut self,
        handle: CommandHandle,
        id: DataId,
        tcp: TcpStream,
        mut start_deadline: Option<Instant>,
    ) -> Result<Option<Stream>, Error> {
        let Some(tls) = self.tls.clone() else {
            // PROT P without TLS on the control connection (sent by hand): cannot be done.
            self.session.handle_data(
                Self::now(),
                DataInput::Failed {
                    id,
                    error: DataError::Tls,
                },
            );
            return Ok(None);
        };
        let limit = self.options.data_timeout;
        let handshake = tls_handshake(&tls, tcp, limit);
        tokio::pin!(handshake);
        let result = loop {
            tokio::select! {
                r = &mut handshake => break r.ok(),
                r = self.read_control() => {
                    r?;
                    self.drain_sync();
                    let ended = self.events.iter().any(
                        |e| matches!(e, Event::Transfer { handle: h, .. } if *h == handle),
                    );
                    // The session closed the channel (an upload has no copy order yet).
                    if ended || self.closed_ids.contains(&id) {
                        break None;
                    }
                    let preliminary = self.events.iter().any(
                        |e| matches!(e, Event::Preliminary { handle: h, .. } if *h == handle),
                    );
                    if preliminary || self.session.transfer_replied() {
                        start_deadline = None;
                    }
                }
                () = sleep_until(start_deadline.unwrap_or_else(Instant::now)),
                    if start_deadline.is_some() => {
                    return Err(self.start_timed_out());
                }
            }
        };
        match result {
            Some(stream) => {
                if let Some(tls) = self.tls.as_mut() {
                    tls.stats.record_data(&stream);
                }
                Ok(Some(stream))
            }
            None => {
                self.session.handle_data(
                    Self::now(),
                    DataInput::Failed {
                        id,
                        error: DataError::Tls,
                    },
                );
                Ok(None)
            }
        }
    }

    fn data_id(&self) -> Option<DataId> {
        match &self.data {
            Data::None => None,
            Data::Connected { id, .. } | Data::Listening { id, .. } => Some(*id),
        }
    }

    /// Active mode: waits for the server's connection (only from the control peer's address)
    /// while still reading the control connection, until `deadline` (then the session hears
    /// that the server never connected) or `start_deadline` (then the caller aborts).
    async fn accept_or_control(
        &mut self,
        deadline: Instant,
        start_deadline: Option<Instant>,
    ) -> Result<(), Error> {
        let Data::Listening { id, listener } = core::mem::replace(&mut self.data, Data::None)
        else {
            return Ok(());
        };
        let peer_ip = self.peer_ip();
        // After the final reply, a connection the server made is already queued: look briefly.
        let deadline = if self.session.transfer_replied() {
            deadline.min(Instant::now() + AFTER_REPLY_ACCEPT)
        } else {
            deadline
        };
        let accepted = tokio::select! {
            r = async {
                loop {
                    match listener.accept().await {
                        // A connection from anywhere else is not the server's: drop it.
                        Ok((stream, from)) if from.ip() == peer_ip => return Some(stream),
                        Ok(_) => {}
                        Err(_) => return None,
                    }
                }
            } => Some(r),
            r = self.read_control() => { r?; None }
            () = sleep_until(deadline) => Some(None),
            () = sleep_until(start_deadline.unwrap_or(deadline)), if start_deadline.is_some() => {
                // The caller sees the deadline passed and aborts the transfer.
                self.data = Data::Listening { id, listener };
                return Ok(());
            }
        };
        match accepted {
            Some(Some(stream)) => {
                self.data = Data::Connected { id, stream };
                self.session
                    .handle_data(Self::now(), DataInput::Connected { id });
            }
            Some(None) => self.session.handle_data(
                Self::now(),
                DataInput::Failed {
                    id,
                    error: DataError::Accept,
                },
            ),
            None => {
                // Control activity: keep listening unless the session closed the channel.
                let closed_before = self.closed_ids.len();
                self.drain_sync();
                let closed = self
                    .closed_ids
                    .get(closed_before..)
                    .is_some_and(|ids| ids.contains(&id));
                if self.session.in_transfer() && self.data_id().is_none() && !closed {
                    self.data = Data::Listening { id, listener };
                }
            }
        }
        Ok(())
    }

    /// Retrieves `path`: the returned stream yields the file's bytes and completes the transfer
    /// when read to its end (the server's final reply is checked then: a 451 after the data
    /// becomes a read error). Dropping it early aborts the transfer before the next command.
    ///
    /// `retr` returns once the server has shown that the download started: a 150/125 reply,
    /// the final reply, or, from servers that send no 150, the first data bytes (on a
    /// TLS-protected data connection: a finished handshake, which the client starts without
    /// a 150 after 5 s or half the reply timeout, whichever is shorter). A refusal (550 ...)
    /// is an error of `retr` itself.
    ///
    /// How long it may wait: the reply timeout for each control step (TYPE when the type
    /// changes, EPSV/PASV or EPRT/PORT, REST); the data timeout for connecting to a passive
    /// port; then the reply timeout, counted from the RETR command, for the start. A server
    /// that shows nothing by then has the transfer aborted (ABOR goes out before the next
    /// command) and `retr` fails with [`Error::Timeout`]; the client stays usable. In active
    /// mode the server must also connect within the data timeout (counted from the start of
    /// the transfer); if it has sent its 150 and never connects, its final reply decides,
    /// within the reply timeout after that. [`Client::stor`], [`Client::append`] and the
    /// listings open their transfers the same way (an upload always waits for the 150 before
    /// it sends data, though not for its TLS handshake).
    ///
    /// Once data flows, a pause longer than the data timeout ends the read with an error of
    /// kind [`io::ErrorKind::TimedOut`] (see [`RetrStream`]).
    ///
    /// ```no_run
    /// # async fn run(client: &mut ftp_client_tokio::Client) -> Result<(), Box<dyn std::error::Error>> {
    /// use tokio::io::AsyncReadExt;
    /// let mut text = String::new();
    /// client.retr("notes.txt").await?.read_to_string(&mut text).await?;
    /// # Ok(()) }
    /// ```
    pub async fn retr(&mut self, path: &str) -> Result<RetrStream<'_>, Error> {
        self.retr_from(path, 0).await
    }

    /// Like [`Client::retr`], starting at byte `offset` (REST).
    ///
    /// A server that reports the download complete although no data connection was made
    /// (active mode: it never connected back, or only another address did, which is refused)
    /// fails it with [`Error::NoDataConnection`]: even an empty file comes over a data
    /// connection.
    pub async fn retr_from(&mut self, path: &str, offset: u64) -> Result<RetrStream<'_>, Error> {
        self.ensure_file_type().await?;
        let open = self
            .open_transfer(Command::Retr(path.into()), Some(offset))
            .await?;
        if let Open::Done(done) = open {
            return Err(Error::NoDataConnection(done.reply));
        }
        Ok(RetrStream::new(self, open))
    }

    /// Opens a receiving transfer for any command (RETR, LIST, NLST, MLSD).
    pub(crate) async fn receive(
        &mut self,
        command: Command,
        rest: Option<u64>,
    ) -> Result<RetrStream<'_>, Error> {
        let open = self.open_transfer(command, rest).await?;
        Ok(RetrStream::new(self, open))
    }

    /// Stores `reader`'s bytes as `path` (STOR); returns the bytes sent.
    ///
    /// The transfer opens as [`Client::retr`] describes (within the reply timeout of the
    /// STOR command, the server must send its 150). A server that stops reading for longer
    /// than the data timeout, and then does not reply within the reply timeout, fails it with
    /// [`Error::DataTimeout`].
    pub async fn stor<R: AsyncRead + Unpin>(
        &mut self,
        path: &str,
        reader: R,
    ) -> Result<u64, Error> {
        self.ensure_file_type().await?;
        let done = self
            .send_data(Command::Stor(path.into()), None, reader, None, &mut |_| {})
            .await?;
        Ok(done.bytes)
    }

    /// Appends `reader`'s bytes to `path` (APPE); returns the bytes sent.
    pub async fn append<R: AsyncRead + Unpin>(
        &mut self,
        path: &str,
        reader: R,
    ) -> Result<u64, Error> {
        self.ensure_file_type().await?;
        let done = self
            .send_data(Command::Appe(path.into()), None, reader, None, &mut |_| {})
            .await?;
        Ok(done.bytes)
    }

    /// Runs an upload: opens the transfer, copies `reader` while watching the control
    /// connection (a server that gives up early stops the copy), closes the data connection
    /// to mark the end, and waits for the final reply.
    ///
    /// `file`: the open local file `reader` reads (from its current position, `reader` not
    /// yet polled), for a zero-copy send with `sendfile(2)` when the data connection is plain
    /// and the type binary (Linux); otherwise `reader` is copied.
    pub(crate) async fn send_data<R: AsyncRead + Unpin>(
        &mut self,
        command: Command,
        rest: Option<u64>,
        mut reader: R,
        file: Option<std::fs::File>,
        progress: &mut (dyn FnMut(u64) + Send),
    ) -> Result<TransferDone, Error> {
        let target = match &command {
            Command::Stor(path) | Command::Appe(path) => Some(path.clone()),
            _ => None,
        };
        let opened = match self.open_transfer(command, rest).await? {
            Open::Done(done) => return Ok(done),
            Open::Streaming(opened) => opened,
        };
        let Opened {
            handle,
            id,
            ascii,
            mut stream,
            ..
        } = opened;
        let protected = stream.is_tls();
        let idle = self.options.data_timeout;
        let mut sent = 0u64;
        #[cfg(target_os = "linux")]
        if let Some(file) = file
            && !ascii
            && matches!(stream, Stream::Plain(_))
            && let Stream::Plain(tcp) = std::mem::replace(&mut stream, Stream::Upgrading)
        {
            let result = self
                .send_file(tcp, file, handle, idle, &mut sent, progress)
                .await?;
            return self.upload_ended(handle, id, sent, result, None).await;
        }
        #[cfg(not(target_os = "linux"))]
        drop(file);
        let copied = {
            let copy = copy_to_data(&mut reader, &mut stream, ascii, idle, &mut sent, progress);
            tokio::pin!(copy);
            loop {
                tokio::select! {
                    r = &mut copy => break Some(r),
                    r = self.read_control() => {
                        r?;
                        self.drain_sync();
                        if self.upload_stopped(handle) {
                            break None;
                        }
                    }
                }
            }
        };
        let result = match copied {
            // For TLS, shutdown sends close_notify first: the server can tell a complete
            // upload from a cut connection.
            Some(Ok(())) => match timeout(idle, stream.shutdown()).await {
                Ok(Ok(())) => {
                    // Only TLS 1.3 sends tickets after the handshake; a server that keeps
                    // the connection open is not waited for long.
                    if stream.is_tls() && self.tls.as_ref().is_some_and(crate::tls::Tls::is_tls13) {
                        drain_after_upload(&mut stream, idle.min(DRAIN_LIMIT)).await;
                    }
                    Ok(())
                }
                Ok(Err(_)) => Err(CopyError::ConnectionLost),
                Err(_) => Err(CopyError::TimedOut),
            },
            Some(Err(e)) => Err(e),
            None => Err(CopyError::ConnectionLost),
        };
        drop(stream);
        let target = target.filter(|_| protected);
        self.upload_ended(handle, id, sent, result, target).await
    }

    /// The server ended the upload `handle` (or the session) before the data did: the
    /// session closed the data channel or already has the transfer's result.
    fn upload_stopped(&self, handle: CommandHandle) -> bool {
        self.copy.is_none()
            || self
                .events
                .iter()
                .any(|e| matches!(e, Event::Transfer { handle: h, .. } if *h == handle))
    }

    /// Reports an upload's end to the session and waits for the final reply; `refill`: the
    /// remote path of a protected upload, listed for fresh TLS tickets when needed.
    async fn upload_ended(
        &mut self,
        handle: CommandHandle,
        id: DataId,
        sent: u64,
        result: Result<(), CopyError>,
        refill: Option<ftp_proto::FtpPath>,
    ) -> Result<TransferDone, Error> {
        self.session.handle_data(
            Self::now(),
            DataInput::Finished {
                id,
                bytes: sent,
                result,
            },
        );
        let stalled = result == Err(CopyError::TimedOut);
        let done = self
            .wait_transfer(handle)
            .await
            .map_err(|e| after_copy(e, stalled, sent));
        self.orphan = None;
        if done.is_ok()
            && let Some(path) = refill
            && self
                .tls
                .as_ref()
                .is_some_and(crate::tls::Tls::needs_tickets)
        {
            // Some servers send no TLS 1.3 tickets on upload connections; a one-line listing
            // of the file just written brings fresh ones, so the next data connection can
            // still resume the control session. Its result does not matter.
            let path = String::from_utf8_lossy(path.as_bytes()).into_owned();
            // Never a name a server could take for `ls` options or a pattern.
            if !path.contains(['*', '?', '[']) {
                let path = if path.starts_with('-') {
                    format!("./{path}")
                } else {
                    path
                };
                let _ = self.nlst(&path).await;
            }
        }
        done
    }

    /// The data half of a plain binary upload on Linux: `sendfile(2)` from `file`'s current
    /// position to its end on a blocking thread (the kernel hands the file's pages to the
    /// socket, nothing is copied through this process), then FIN, while this task watches
    /// the control connection and reports progress ten times a second. Dropping the future
    /// shuts the socket down, which ends the thread.
    #[cfg(target_os = "linux")]
    async fn send_file(
        &mut self,
        tcp: TcpStream,
        file: std::fs::File,
        handle: CommandHandle,
        idle: Duration,
        sent: &mut u64,
        progress: &mut (dyn FnMut(u64) + Send),
    ) -> Result<Result<(), CopyError>, Error> {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicU64, Ordering};

        let Ok(socket) = spliced::blocking(tcp, idle) else {
            return Ok(Err(CopyError::ConnectionLost));
        };
        let _interrupt = spliced::Interrupt(socket.try_clone().ok());
        let moved = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&moved);
        let mut copy =
            tokio::task::spawn_blocking(move || spliced::send_all(&socket, &file, &counter));
        let mut ticker = tokio::time::interval(Duration::from_millis(100));
        let mut stall = spliced::Stall::new(COPY_BUF as u64, idle, std::time::Instant::now());
        // What `moved` said at the last tick, and when: bytes seen now went out after that.
        let mut seen = (0, std::time::Instant::now());
        let result = loop {
            tokio::select! {
                r = &mut copy => break r.unwrap_or(Err(CopyError::ConnectionLost)),
                r = self.read_control() => {
                    r?;
                    self.drain_sync();
                    if self.upload_stopped(handle) {
                        break Err(CopyError::ConnectionLost);
                    }
                }
                _ = ticker.tick() => {
                    let (bytes, at) = (moved.load(Ordering::Relaxed), std::time::Instant::now());
                    progress(bytes);
                    stall.moved(bytes - seen.0, seen.1);
                    seen = (bytes, at);
                    if stall.left(at).is_none() {
                        // Returning shuts the socket down (`_interrupt`), which ends the thread.
                        break Err(CopyError::TimedOut);
                    }
                }
            }
        };
        *sent = moved.load(Ordering::Relaxed);
        progress(*sent);
        Ok(result)
    }

    /// Switches to the type chosen for file transfers ([`Client::set_type`], binary by default).
    pub(crate) async fn ensure_file_type(&mut self) -> Result<(), Error> {
        self.ensure_type(self.file_type).await
    }

    /// Switches to TYPE I unless it is already in force.
    pub(crate) async fn ensure_binary(&mut self) -> Result<(), Error> {
        self.ensure_type(ftp_proto::TransferType::Image).await
    }

    pub(crate) async fn ensure_type(&mut self, ty: ftp_proto::TransferType) -> Result<(), Error> {
        if self.transfer_type != Some(ty) {
            self.command_ok(Command::Type(ty)).await?;
            self.transfer_type = Some(ty);
        }
        Ok(())
    }
}

/// Longest wait for a server's session tickets after an upload.
const DRAIN_LIMIT: Duration = Duration::from_secs(2);

/// After an upload's close_notify, reads what the server still sends until it closes: TLS
/// 1.3 servers send session tickets on every connection, and the next data connection can
/// only resume with a fresh one (each ticket is used once). Bounded by `limit`; errors do
/// not matter any more.
async fn drain_after_upload(stream: &mut Stream, limit: Duration) {
    let mut sink = [0u8; 4096];
    let _ = timeout(limit, async {
        while let Ok(n) = stream.read(&mut sink).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
}

/// Copies `reader` to the data connection (converting line ends for TYPE A), with an idle
/// timeout on every write.
async fn copy_to_data<R: AsyncRead + Unpin>(
    reader: &mut R,
    stream: &mut Stream,
    ascii: bool,
    idle: Duration,
    sent: &mut u64,
    progress: &mut (dyn FnMut(u64) + Send),
) -> Result<(), CopyError> {
    let mut buf = vec![0u8; COPY_BUF];
    let mut wire = Vec::new();
    let mut to_wire = ToWire::new();
    loop {
        let n = reader.read(&mut buf).await.map_err(|_| CopyError::Local)?;
        if n == 0 {
            return Ok(());
        }
        let chunk = buf.get(..n).unwrap_or_default();
        let out: &[u8] = if ascii {
            wire.clear();
            to_wire.convert(chunk, &mut wire);
            &wire
        } else {
            chunk
        };
        match timeout(idle, stream.write_all(out)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return Err(CopyError::ConnectionLost),
            Err(_) => return Err(CopyError::TimedOut),
        }
        *sent += out.len() as u64;
        progress(*sent);
    }
}

/// A download in progress: read it like any [`AsyncRead`].
///
/// Reaching the end checks the server's final reply: the stream reports end-of-file only after
/// a 226, and an error if the server reports a failure. The control connection is watched
/// while data flows, so a server that gives up mid-transfer ends the read with an error
/// instead of a hang. Dropping the stream before the end aborts the transfer (ABOR) before the
/// client's next command; the client stays usable.
///
/// Read errors carry the client's [`Error`] (`get_ref()` and `downcast_ref::<Error>()`), with
/// the kind [`io::ErrorKind::TimedOut`] for every timeout. Data that stops for longer than
/// the data timeout ends the copy; the server's final reply is then awaited for up to the
/// reply timeout: a stall therefore fails after the data timeout plus the reply timeout, with
/// [`Error::DataTimeout`] when the server stays silent (the session has ended), or
/// [`Error::Transfer`] with the server's reply when it answers.
#[derive(Debug)]
pub struct RetrStream<'a> {
    client: &'a mut Client,
    handle: Option<CommandHandle>,
    id: Option<DataId>,
    stream: Option<Stream>,
    ascii: Option<FromWire>,
    raw: Vec<u8>,
    pending: Vec<u8>,
    pending_pos: usize,
    bytes: u64,
    size_hint: Option<u64>,
    idle: Duration,
    /// When data last arrived (the idle timeout counts from here).
    last_data: Instant,
    timer: Pin<Box<Sleep>>,
    /// How the transfer ended; the error is handed out once (then a generic one).
    outcome: Option<Result<TransferDone, Option<Error>>>,
    /// The data connection stalled (the data timeout ended it).
    stalled: bool,
}

impl<'a> RetrStream<'a> {
    fn new(client: &'a mut Client, open: Open) -> Self {
        let idle = client.options.data_timeout;
        let mut this = Self {
            client,
            handle: None,
            id: None,
            stream: None,
            ascii: None,
            raw: Vec::new(),
            pending: Vec::new(),
            pending_pos: 0,
            bytes: 0,
            size_hint: None,
            idle,
            last_data: Instant::now(),
            timer: Box::pin(sleep(idle)),
            outcome: None,
            stalled: false,
        };
        match open {
            Open::Done(done) => this.outcome = Some(Ok(done)),
            Open::Streaming(opened) => {
                this.handle = Some(opened.handle);
                this.id = Some(opened.id);
                this.size_hint = opened.size_hint;
                this.stream = Some(opened.stream);
                if opened.ascii {
                    this.ascii = Some(FromWire::new());
                    this.raw = vec![0; 64 * 1024];
                }
            }
        }
        this
    }

    /// The size the server announced in its 150 reply, if it did.
    pub fn size_hint(&self) -> Option<u64> {
        self.size_hint
    }

    /// Bytes received so far (as they came over the wire).
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Reads to the end and returns the transfer's summary (the final reply and byte count).
    pub async fn finish(mut self) -> Result<TransferDone, Error> {
        let mut sink = tokio::io::sink();
        if let Err(e) = tokio::io::copy(&mut self, &mut sink).await {
            return Err(unwrap_io(e));
        }
        match self.outcome.take() {
            Some(Ok(done)) => Ok(done),
            Some(Err(e)) => Err(e.unwrap_or(Error::Io(io::ErrorKind::Other.into()))),
            None => Err(Error::Io(io::ErrorKind::UnexpectedEof.into())),
        }
    }

    /// Reports the data connection's end to the session.
    fn data_ended(&mut self, result: Result<(), CopyError>) {
        self.stream = None;
        self.stalled = result == Err(CopyError::TimedOut);
        if let Some(id) = self.id {
            self.client.session.handle_data(
                Client::now(),
                DataInput::Finished {
                    id,
                    bytes: self.bytes,
                    result,
                },
            );
        }
        self.client.drain_sync();
    }

    /// Looks for the transfer's end among the client's events.
    fn check_events(&mut self) {
        let Some(handle) = self.handle else {
            return;
        };
        let mut found = None;
        self.client.events.retain(|e| match e {
            Event::Transfer { handle: h, result } if *h == handle => {
                found = Some(result.clone());
                false
            }
            _ => true,
        });
        if let Some(result) = found {
            self.client.orphan = None;
            self.stream = None;
            let (stalled, bytes) = (self.stalled, self.bytes);
            self.outcome =
                Some(result.map_err(|e| Some(after_copy(Error::from(e), stalled, bytes))));
        } else if self.client.copy.is_none() {
            // The session closed the data channel (the server failed the transfer).
            self.stream = None;
        }
        if self.client.session.is_closed() && self.outcome.is_none() {
            self.outcome = Some(Err(Some(Error::Session(SessionError::ConnectionClosed))));
        }
    }

    fn poll_data(&mut self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let Some(stream) = self.stream.as_mut() else {
            return Poll::Pending;
        };
        let result = if self.ascii.is_some() {
            let mut raw = ReadBuf::new(&mut self.raw);
            match Pin::new(stream).poll_read(cx, &mut raw) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                Poll::Ready(Ok(())) => {
                    let n = raw.filled().len();
                    self.pending.clear();
                    self.pending_pos = 0;
                    if let Some(from_wire) = self.ascii.as_mut() {
                        if n == 0 {
                            from_wire.finish(&mut self.pending);
                        } else {
                            from_wire.convert(raw.filled(), &mut self.pending);
                        }
                    }
                    Poll::Ready(Ok(n))
                }
            }
        } else {
            let before = buf.filled().len();
            match Pin::new(stream).poll_read(cx, buf) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                Poll::Ready(Ok(())) => Poll::Ready(Ok(buf.filled().len() - before)),
            }
        };
        match result {
            Poll::Pending => {
                // The timer is not moved on every read (that costs a timer-wheel update per
                // chunk); when it fires, it is re-armed from the last read that moved data.
                while self.timer.as_mut().poll(cx).is_ready() {
                    let deadline = self.last_data + self.idle;
                    if Instant::now() >= deadline {
                        self.data_ended(Err(CopyError::TimedOut));
                        self.check_events();
                        return Poll::Ready(Ok(()));
                    }
                    self.timer.as_mut().reset(deadline);
                }
                Poll::Pending
            }
            Poll::Ready(Err(_)) => {
                self.data_ended(Err(CopyError::ConnectionLost));
                self.check_events();
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Ok(0)) => {
                self.data_ended(Ok(()));
                self.check_events();
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Ok(n)) => {
                self.bytes += n as u64;
                self.last_data = Instant::now();
                Poll::Ready(Ok(()))
            }
        }
    }
}

#[cfg(target_os = "linux")]
impl RetrStream<'_> {
    /// Moves the rest of a plain binary download into `file` with `splice(2)` on a blocking
    /// thread while this task watches the control connection; `progress` hears the byte
    /// count about ten times a second. `None`: not possible here (TLS, ASCII, no pipe), read
    /// the stream instead. After `Some(Ok(_))` the data has ended and been reported; reading
    /// the stream then waits for the final reply. A failed local write is returned as
    /// `Error::Io` with the transfer left to be aborted, as when a read-and-write copy fails.
    ///
    /// With `max`, the copy stops as soon as the download (what [`RetrStream::bytes`] counts)
    /// is more than `max` bytes long, having written at most one byte past it: the result is
    /// `Some(Ok(_))` with the data connection closed, [`RetrStream::bytes`] above `max`, and
    /// the transfer left to be aborted.
    pub(crate) async fn splice_into(
        &mut self,
        file: &std::fs::File,
        progress: &mut (dyn FnMut(u64) + Send),
        max: Option<u64>,
    ) -> Option<Result<(), Error>> {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicU64, Ordering};

        if self.ascii.is_some() || self.outcome.is_some() || self.pending_pos < self.pending.len() {
            return None;
        }
        if !matches!(self.stream, Some(Stream::Plain(_))) {
            return None;
        }
        let pipe = spliced::Pipe::new()?;
        let file = file.try_clone().ok()?;
        let Some(Stream::Plain(tcp)) = self.stream.take() else {
            return None;
        };
        let socket = match spliced::blocking(tcp, self.idle) {
            Ok(socket) => socket,
            Err(_) => {
                self.data_ended(Err(CopyError::ConnectionLost));
                self.check_events();
                return Some(Ok(()));
            }
        };
        let interrupt = spliced::Interrupt(socket.try_clone().ok());
        let moved = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&moved);
        let base = self.bytes;
        let room = max.map(|max| max.saturating_sub(base));
        let mut copy = tokio::task::spawn_blocking(move || {
            spliced::copy(&socket, &file, &pipe, &counter, room)
        });
        let mut ticker = tokio::time::interval(Duration::from_millis(100));
        let ended = std::future::poll_fn(|cx| {
            // The control connection first: a failure reply ends the download.
            loop {
                match self.client.poll_control(cx) {
                    Poll::Ready(Ok(())) => self.client.drain_sync(),
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => break,
                }
                if self.client.copy.is_none() || self.client.session.is_closed() {
                    // The server ended the transfer; the thread stops when the socket does.
                    return Poll::Ready(Ok(None));
                }
            }
            while ticker.poll_tick(cx).is_ready() {
                progress(base + moved.load(Ordering::Relaxed));
            }
            match Pin::new(&mut copy).poll(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(Ok(result)) => Poll::Ready(Ok(Some(result))),
                Poll::Ready(Err(_)) => Poll::Ready(Ok(Some(Err(spliced::Failure::Net(
                    CopyError::ConnectionLost,
                ))))),
            }
        })
        .await;
        drop(interrupt);
        self.bytes = base + moved.load(Ordering::Relaxed);
        progress(self.bytes);
        match ended {
            Err(e) => {
                self.outcome = Some(Err(Some(e)));
                Some(Ok(()))
            }
            Ok(None) => {
                self.check_events();
                Some(Ok(()))
            }
            Ok(Some(Ok(()))) => {
                self.data_ended(Ok(()));
                self.check_events();
                Some(Ok(()))
            }
            Ok(Some(Err(spliced::Failure::Net(error)))) => {
                self.data_ended(Err(error));
                self.check_events();
                Some(Ok(()))
            }
            Ok(Some(Err(spliced::Failure::Local(error)))) => Some(Err(Error::Io(error))),
            // The caller sees `bytes` past `max`; its error drops the stream (abort).
            Ok(Some(Err(spliced::Failure::TooLong))) => Some(Ok(())),
        }
    }
}

/// The blocking half of [`RetrStream::splice_into`].
#[cfg(target_os = "linux")]
mod spliced {
    use std::io::{self, Read, Write};
    use std::net::{Shutdown, TcpStream};
    use std::os::fd::OwnedFd;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::{Duration, Instant};

    use ftp_proto::client::CopyError;
    use rustix::io::Errno;
    use rustix::pipe::{PipeFlags, SpliceFlags, fcntl_setpipe_size, pipe_with, splice};

    /// Bytes the pipe is asked to hold (1 MiB is what unprivileged processes may ask for).
    const PIPE_SIZE: usize = 1 << 20;

    pub(super) struct Pipe {
        read: OwnedFd,
        write: OwnedFd,
        size: usize,
    }

    impl Pipe {
        pub(super) fn new() -> Option<Self> {
            let (read, write) = pipe_with(PipeFlags::CLOEXEC).ok()?;
            let size = fcntl_setpipe_size(&write, PIPE_SIZE).unwrap_or(64 * 1024);
            Some(Self { read, write, size })
        }
    }

    /// Why a spliced download stopped early.
    pub(super) enum Failure {
        /// The data connection failed.
        Net(CopyError),
        /// Writing the local file failed.
        Local(io::Error),
        /// More than the allowed bytes arrived (one past it was written).
        TooLong,
    }

    /// How many bytes the copy may still move, `moved` moved so far: one past `max`, so that
    /// a download longer than `max` is seen as such; `Err` once that one byte is in.
    fn room(max: Option<u64>, moved: &AtomicU64, want: usize) -> Result<usize, Failure> {
        let Some(max) = max else {
            return Ok(want);
        };
        match max
            .saturating_add(1)
            .saturating_sub(moved.load(Ordering::Relaxed))
        {
            0 => Err(Failure::TooLong),
            left => Ok(usize::try_from(left).map_or(want, |left| left.min(want))),
        }
    }

    /// The data connection taken out of the runtime: blocking, every read and write bounded
    /// by the data timeout.
    pub(super) fn blocking(stream: tokio::net::TcpStream, idle: Duration) -> io::Result<TcpStream> {
        let stream = stream.into_std()?;
        stream.set_nonblocking(false)?;
        stream.set_read_timeout(Some(idle))?;
        stream.set_write_timeout(Some(idle))?;
        Ok(stream)
    }

    /// The data timeout of a blocking send, as [`super::copy_to_data`] keeps it for a
    /// stream: each [`super::COPY_BUF`] bytes must go out within `idle` of the previous ones.
    /// The socket's send timeout does not do it: a `sendfile` call that moves a few bytes
    /// (the kernel's buffers still take a little from a server that reads nothing) returns a
    /// short count after a timeout or several, and the next call starts a fresh one, so a
    /// stalled upload took five times `idle` to fail. Here the clock restarts only when a
    /// whole unit has gone out, however many calls it took.
    #[derive(Debug, Clone, Copy)]
    pub(super) struct Stall {
        unit: u64,
        idle: Duration,
        since: Instant,
        moved: u64,
    }

    impl Stall {
        pub(super) fn new(unit: u64, idle: Duration, now: Instant) -> Self {
            Self {
                unit,
                idle,
                since: now,
                moved: 0,
            }
        }

        /// `n` more bytes went out by `now`.
        pub(super) fn moved(&mut self, n: u64, now: Instant) {
            self.moved = self.moved.saturating_add(n);
            if self.moved >= self.unit {
                self.moved %= self.unit.max(1);
                self.since = now;
            }
        }

        /// How long the next send may block; `None` once the stall has lasted `idle`.
        pub(super) fn left(&self, now: Instant) -> Option<Duration> {
            let left = (self.since + self.idle).checked_duration_since(now)?;
            (!left.is_zero()).then_some(left)
        }
    }

    /// Sends `file` from its position to its end with `sendfile(2)` (copying it when the
    /// file system offers no sendfile), then FIN; `moved` counts what the socket took, at
    /// least every [`super::COPY_BUF`] bytes (the caller watches it for stalls: the socket's
    /// send timeout alone does not bound a `sendfile` call, which waits once per page).
    pub(super) fn send_all(
        socket: &TcpStream,
        mut file: &std::fs::File,
        moved: &AtomicU64,
    ) -> Result<(), CopyError> {
        let lost = |err: Errno| match err {
            // The socket's send timeout.
            Errno::AGAIN => CopyError::TimedOut,
            _ => CopyError::ConnectionLost,
        };
        loop {
            match rustix::fs::sendfile(socket, file, None, super::COPY_BUF) {
                Ok(0) => break,
                Ok(n) => {
                    moved.fetch_add(n as u64, Ordering::Relaxed);
                }
                Err(Errno::INTR) => {}
                Err(Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP) => {
                    // No sendfile from this file: copy the rest (sendfile moved nothing of it).
                    let mut buffer = vec![0u8; super::COPY_BUF];
                    let mut out = socket;
                    loop {
                        let n = match file.read(&mut buffer) {
                            Ok(0) => break,
                            Ok(n) => n,
                            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                            Err(_) => return Err(CopyError::Local),
                        };
                        out.write_all(buffer.get(..n).unwrap_or_default())
                            .map_err(|e| lost(Errno::from_io_error(&e).unwrap_or(Errno::PIPE)))?;
                        moved.fetch_add(n as u64, Ordering::Relaxed);
                    }
                    break;
                }
                // EIO and the like come from reading the file.
                Err(Errno::IO) => return Err(CopyError::Local),
                Err(err) => return Err(lost(err)),
            }
        }
        socket
            .shutdown(Shutdown::Write)
            .map_err(|_| CopyError::ConnectionLost)
    }

    /// Shuts the socket down when the download's future is dropped (cancelled), which ends
    /// the thread's blocking splice at once.
    pub(super) struct Interrupt(pub(super) Option<TcpStream>);

    impl Drop for Interrupt {
        fn drop(&mut self) {
            if let Some(stream) = &self.0 {
                let _ = stream.shutdown(Shutdown::Both);
            }
        }
    }

    /// Socket to pipe (page references move), pipe to file (the one copy), until the end of
    /// the data; `moved` counts what reached the file. More than `max` bytes stop it with
    /// [`Failure::TooLong`].
    pub(super) fn copy(
        socket: &TcpStream,
        file: &std::fs::File,
        pipe: &Pipe,
        moved: &AtomicU64,
        max: Option<u64>,
    ) -> Result<(), Failure> {
        loop {
            let want = room(max, moved, pipe.size)?;
            let n = match splice(socket, None, &pipe.write, None, want, SpliceFlags::MOVE) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(Errno::INTR) => continue,
                // The socket's receive timeout.
                Err(Errno::AGAIN) => return Err(Failure::Net(CopyError::TimedOut)),
                Err(_) => return Err(Failure::Net(CopyError::ConnectionLost)),
            };
            let mut left = n;
            while left > 0 {
                match splice(&pipe.read, None, file, None, left, SpliceFlags::MOVE) {
                    Ok(0) => return Err(Failure::Local(io::ErrorKind::WriteZero.into())),
                    Ok(k) => {
                        left -= k;
                        moved.fetch_add(k as u64, Ordering::Relaxed);
                    }
                    Err(Errno::INTR) => {}
                    // A file that takes no splice (opened for appending, or its file system
                    // does not support it): what the pipe holds and the rest are copied.
                    Err(Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP) => {
                        return copy_rest(socket, file, pipe, left, moved, max);
                    }
                    Err(err) => return Err(Failure::Local(err.into())),
                }
            }
        }
    }

    /// Empties `left` bytes from the pipe into `file`, then reads the socket to its end into
    /// it.
    fn copy_rest(
        mut socket: &TcpStream,
        mut file: &std::fs::File,
        pipe: &Pipe,
        mut left: usize,
        moved: &AtomicU64,
        max: Option<u64>,
    ) -> Result<(), Failure> {
        let mut buffer = vec![0u8; 256 * 1024];
        let mut from_pipe = std::fs::File::from(pipe.read.try_clone().map_err(Failure::Local)?);
        while left > 0 {
            let want = left.min(buffer.len());
            let chunk = buffer.get_mut(..want).unwrap_or_default();
            let got = match from_pipe.read(chunk) {
                Ok(0) => return Err(Failure::Local(io::ErrorKind::UnexpectedEof.into())),
                Ok(got) => got,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Failure::Local(e)),
            };
            file.write_all(chunk.get(..got).unwrap_or_default())
                .map_err(Failure::Local)?;
            left -= got;
            moved.fetch_add(got as u64, Ordering::Relaxed);
        }
        loop {
            let want = room(max, moved, buffer.len())?;
            let got = match socket.read(buffer.get_mut(..want).unwrap_or_default()) {
                Ok(0) => return Ok(()),
                Ok(got) => got,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Err(Failure::Net(CopyError::TimedOut));
                }
                Err(_) => return Err(Failure::Net(CopyError::ConnectionLost)),
            };
            file.write_all(buffer.get(..got).unwrap_or_default())
                .map_err(Failure::Local)?;
            moved.fetch_add(got as u64, Ordering::Relaxed);
        }
    }

    #[cfg(test)]
    mod tests {
        use std::time::{Duration, Instant};

        use super::Stall;

        const IDLE: Duration = Duration::from_secs(5);

        /// A trickle of short sends does not restart the data timeout: the stall ends `idle`
        /// after the last whole unit went out, however many bytes dribbled since.
        #[test]
        fn a_trickle_of_short_sends_is_one_stall() {
            let t0 = Instant::now();
            let mut stall = Stall::new(1000, IDLE, t0);
            for s in 1..5 {
                let now = t0 + Duration::from_secs(s);
                stall.moved(100, now);
                assert_eq!(stall.left(now), Some(IDLE - Duration::from_secs(s)));
            }
            assert_eq!(stall.left(t0 + IDLE), None);
        }

        /// A whole unit (even over several sends) restarts it: a slow but steady upload goes on.
        #[test]
        fn a_whole_unit_restarts_the_clock() {
            let t0 = Instant::now();
            let mut stall = Stall::new(1000, IDLE, t0);
            stall.moved(600, t0 + Duration::from_secs(4));
            stall.moved(600, t0 + Duration::from_secs(8));
            let now = t0 + Duration::from_secs(8);
            assert_eq!(stall.left(now), Some(IDLE));
            // The 200 bytes past the unit count towards the next one.
            stall.moved(800, now + Duration::from_secs(1));
            assert_eq!(stall.left(now + Duration::from_secs(1)), Some(IDLE));
            assert_eq!(stall.left(now + Duration::from_secs(6)), None);
        }
    }
}

impl AsyncRead for RetrStream<'_> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        // A read into a full buffer asks for nothing; passing it on would read 0 bytes from
        // the socket, which looks like the end of the data and would end the download early.
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        loop {
            // Converted bytes waiting to be handed out.
            if this.pending_pos < this.pending.len() {
                let chunk = this.pending.get(this.pending_pos..).unwrap_or_default();
                let n = chunk.len().min(buf.remaining());
                buf.put_slice(chunk.get(..n).unwrap_or_default());
                this.pending_pos += n;
                return Poll::Ready(Ok(()));
            }
            if let Some(outcome) = &mut this.outcome {
                return Poll::Ready(match outcome {
                    Ok(_) => Ok(()),
                    Err(e) => Err(match e.take() {
                        Some(e) => io::Error::from(e),
                        None => io::Error::other("the transfer failed"),
                    }),
                });
            }
            // The control connection first: a failure reply ends the download.
            match this.client.poll_control(cx) {
                Poll::Ready(Ok(())) => {
                    this.client.drain_sync();
                    this.check_events();
                    continue;
                }
                Poll::Ready(Err(e)) => {
                    this.stream = None;
                    this.outcome = Some(Err(Some(e)));
                    continue;
                }
                Poll::Pending => {}
            }
            if this.stream.is_none() {
                // Waiting for the final reply; poll_control registered the wake-up.
                return Poll::Pending;
            }
            let filled = buf.filled().len();
            match this.poll_data(cx, buf) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(())) => {
                    if buf.filled().len() > filled {
                        return Poll::Ready(Ok(()));
                    }
                    // End of data, a converted chunk or a state change: go round again.
                }
            }
        }
    }
}

impl Drop for RetrStream<'_> {
    fn drop(&mut self) {
        if self.outcome.is_none() && self.stream.is_some() {
            // Closing the data connection now; the client aborts the transfer before its next
            // command (see `Client::settle`).
            self.stream = None;
        }
    }
}

/// The error of a transfer that ended with `error` after its data connection `stalled` (the
/// data timeout ended the copy after `bytes` bytes): when the session then timed out waiting
/// for the final reply, the stall came first and is what the error names.
fn after_copy(error: Error, stalled: bool, bytes: u64) -> Error {
    match error {
        Error::Session(e) if stalled && e.is_timeout() => Error::DataTimeout { bytes },
        other => other,
    }
}

/// Recovers the client error an [`io::Error`] from [`RetrStream`] carries.
pub(crate) fn unwrap_io(e: io::Error) -> Error {
    if e.get_ref().is_some_and(|inner| inner.is::<Error>()) {
        match e.into_inner().map(|inner| inner.downcast::<Error>()) {
            Some(Ok(error)) => *error,
            Some(Err(other)) => Error::Io(io::Error::other(other)),
            None => Error::Io(io::ErrorKind::Other.into()),
        }
    } else {
        Error::Io(e)
    }
}

/// Writes everything from a download stream into `writer`, reporting progress.
pub(crate) async fn drain_into<W: AsyncWrite + Unpin>(
    stream: &mut RetrStream<'_>,
    writer: &mut W,
    target: &std::path::Path,
    progress: &mut (dyn FnMut(u64) + Send),
) -> Result<u64, Error> {
    let mut buf = vec![0u8; COPY_BUF];
    let mut total = 0u64;
    loop {
        let n = stream.read(&mut buf).await.map_err(unwrap_io)?;
        if n == 0 {
            break;
        }
        writer
            .write_all(buf.get(..n).unwrap_or_default())
            .await
            .map_err(|e| Error::Local {
                path: target.display().to_string(),
                source: e,
            })?;
        total += n as u64;
        progress(total);
    }
    Ok(total)
}
