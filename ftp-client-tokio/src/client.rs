//! `Client`: drives one `ftp_proto::client::Session` over a control socket and its data
//! connections.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use ftp_proto::client::{
    CommandHandle, Config, DataAction, DataError, DataId, DataInput, Event, Output,
    PasvAddressPolicy, Session, TransferDone,
};
use ftp_proto::{Command, Reply, ReplyCode, TransferType};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream, lookup_host};
use tokio::time::{Instant, Sleep, sleep_until, timeout};

use crate::Error;

/// Size of the control connection's read buffer.
const CONTROL_READ: usize = 8 * 1024;

/// Settings for new connections; build a [`Client`] with [`ClientBuilder::connect`].
///
/// ```no_run
/// use std::time::Duration;
/// use ftp_client_tokio::Client;
/// # async fn run() -> Result<(), ftp_client_tokio::Error> {
/// let mut client = Client::builder()
///     .connect_timeout(Duration::from_secs(5))
///     .reply_timeout(Duration::from_secs(20))
///     .passive(false)
///     .connect("ftp.example.net:21")
///     .await?;
/// client.login("anonymous", "guest@").await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    pub(crate) session: Config,
    pub(crate) connect_timeout: Duration,
    pub(crate) data_timeout: Duration,
    pub(crate) max_listing: usize,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        Self {
            session: Config::default(),
            connect_timeout: Duration::from_secs(30),
            data_timeout: Duration::from_secs(30),
            max_listing: 64 * 1024 * 1024,
        }
    }
}

impl ClientBuilder {
    /// How long to wait for the TCP connection (default 30 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long the server may take to answer a command or send its greeting (default 60 s).
    pub fn reply_timeout(mut self, timeout: Duration) -> Self {
        self.session.reply_timeout = timeout;
        self
    }

    /// How long opening a data connection, and any pause in its data, may take (default 30 s).
    pub fn data_timeout(mut self, timeout: Duration) -> Self {
        self.data_timeout = timeout;
        self
    }

    /// Passive mode (the default: the client connects to the server for data) or active mode
    /// (the server connects to a listener on the control connection's local address).
    pub fn passive(mut self, passive: bool) -> Self {
        self.session.passive = passive;
        self
    }

    /// Try EPSV/EPRT first (the default), falling back to PASV/PORT when refused.
    pub fn use_epsv(mut self, use_epsv: bool) -> Self {
        self.session.use_epsv = use_epsv;
        self
    }

    /// What to do with the address a 227 reply names. By default it is ignored and the data
    /// connection goes to the control connection's peer.
    pub fn pasv_address(mut self, policy: PasvAddressPolicy) -> Self {
        self.session.pasv_address = policy;
        self
    }

    /// Cap on one reply's size (default 64 KiB).
    pub fn max_reply(mut self, bytes: usize) -> Self {
        self.session.max_reply = bytes;
        self
    }

    /// Cap on a listing's size in bytes (default 64 MiB).
    pub fn max_listing(mut self, bytes: usize) -> Self {
        self.max_listing = bytes;
        self
    }

    /// Connects to `addr` (every address it resolves to is tried in turn) and reads the
    /// greeting.
    pub async fn connect(self, addr: impl tokio::net::ToSocketAddrs) -> Result<Client, Error> {
        let deadline = Instant::now() + self.connect_timeout;
        let addrs: Vec<SocketAddr> = timeout(self.connect_timeout, lookup_host(addr))
            .await
            .map_err(|_| Error::Timeout("resolving the server's name"))?
            .map_err(Error::Connect)?
            .collect();
        let mut last = io::Error::new(io::ErrorKind::NotFound, "name resolved to no address");
        for addr in addrs {
            match tokio::time::timeout_at(deadline, TcpStream::connect(addr)).await {
                Err(_) => return Err(Error::Timeout("connecting")),
                Ok(Err(e)) => last = e,
                Ok(Ok(stream)) => return Client::with_stream(stream, self).await,
            }
        }
        Err(Error::Connect(last))
    }
}

/// The data channel of the running transfer.
#[derive(Debug)]
pub(crate) enum Data {
    None,
    Connected { id: DataId, stream: TcpStream },
    Listening { id: DataId, listener: TcpListener },
}

impl Data {
    fn id(&self) -> Option<DataId> {
        match self {
            Self::None => None,
            Self::Connected { id, .. } | Self::Listening { id, .. } => Some(*id),
        }
    }
}

/// What the session asked the driver to copy.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CopyOrder {
    pub(crate) id: DataId,
    pub(crate) ascii: bool,
}

/// An FTP client connection.
///
/// One control connection, driven by the sans-IO [`ftp_proto::client::Session`]; data
/// connections are opened per transfer. Methods take `&mut self`: one operation at a time, as
/// FTP itself allows. After an error that is not [`Error::is_fatal`], the client stays usable.
///
/// ```no_run
/// use ftp_client_tokio::Client;
/// # async fn run() -> Result<(), ftp_client_tokio::Error> {
/// let mut client = Client::connect("127.0.0.1:2121").await?;
/// client.login("anonymous", "").await?;
/// for entry in client.list("/").await? {
///     println!("{} {}", entry.size, String::from_utf8_lossy(&entry.name));
/// }
/// let bytes = client.download_to_vec("README.md").await?;
/// client.quit().await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Client {
    pub(crate) control: TcpStream,
    pub(crate) session: Session,
    pub(crate) options: ClientBuilder,
    rbuf: Box<[u8]>,
    tx: Vec<u8>,
    pub(crate) events: VecDeque<Event>,
    pub(crate) data: Data,
    pub(crate) copy: Option<CopyOrder>,
    /// The data channels the session closed most recently (a listener taken out of `data`
    /// while accepting is not put back if its id is here).
    pub(crate) closed_ids: Vec<DataId>,
    /// A data action that needs I/O, taken from the session and not yet carried out.
    pending_io: Option<DataAction>,
    /// A transfer whose stream was dropped before it finished: settled before the next command.
    pub(crate) orphan: Option<CommandHandle>,
    timer: Pin<Box<Sleep>>,
    welcome: Reply,
    pub(crate) local: SocketAddr,
    pub(crate) peer: SocketAddr,
    pub(crate) transfer_type: Option<TransferType>,
    /// The type file transfers use.
    pub(crate) file_type: TransferType,
    pub(crate) features: Option<ftp_proto::client::parse::Features>,
}

impl Client {
    /// Settings for a new connection.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// Connects with the default settings and reads the greeting.
    pub async fn connect(addr: impl tokio::net::ToSocketAddrs) -> Result<Self, Error> {
        ClientBuilder::default().connect(addr).await
    }

    /// Runs the session over an already connected control stream.
    pub async fn with_stream(control: TcpStream, options: ClientBuilder) -> Result<Self, Error> {
        let local = control.local_addr()?;
        let peer = control.peer_addr()?;
        control.set_nodelay(true)?;
        let now = Instant::now();
        let session = Session::new(options.session.clone(), peer, now.into_std());
        let mut client = Self {
            control,
            session,
            options,
            rbuf: vec![0; CONTROL_READ].into_boxed_slice(),
            tx: Vec::new(),
            events: VecDeque::new(),
            data: Data::None,
            copy: None,
            pending_io: None,
            closed_ids: Vec::new(),
            orphan: None,
            timer: Box::pin(sleep_until(now)),
            welcome: Reply::new(ReplyCode::SERVICE_READY, ""),
            local,
            peer,
            transfer_type: None,
            file_type: TransferType::Image,
            features: None,
        };
        let reply = client.wait_reply(CommandHandle::GREETING).await?;
        if reply.code() != ReplyCode::SERVICE_READY {
            return Err(Error::Reply(reply));
        }
        client.welcome = reply;
        Ok(client)
    }

    /// The server's greeting (220).
    pub fn welcome(&self) -> &Reply {
        &self.welcome
    }

    /// The control connection's peer (the server).
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer
    }

    /// The control connection's local address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Switches between passive and active mode for later transfers.
    pub fn set_passive(&mut self, passive: bool) {
        self.session.set_passive(passive);
    }

    pub(crate) fn now() -> std::time::Instant {
        Instant::now().into_std()
    }

    // ---- the driving core ----

    /// Carries out everything the session has queued; data actions that need I/O are awaited.
    pub(crate) async fn run_outputs(&mut self) -> Result<(), Error> {
        loop {
            self.drain_sync();
            if !self.tx.is_empty() {
                let tx = core::mem::take(&mut self.tx);
                self.control.write_all(&tx).await?;
                continue;
            }
            match self.pending_io.take() {
                Some(action) => self.data_io(action).await,
                None => return Ok(()),
            }
        }
    }

    /// Handles the outputs that need no waiting; stops at the first one that does.
    pub(crate) fn drain_sync(&mut self) {
        if self.pending_io.is_some() {
            return;
        }
        while let Some(out) = self.session.poll_output() {
            match out {
                Output::Transmit(bytes) => self.tx.extend_from_slice(&bytes),
                Output::Event(event) => self.events.push_back(event),
                Output::Data(DataAction::Transfer { id, ascii, .. }) => {
                    self.copy = Some(CopyOrder { id, ascii });
                }
                Output::Data(DataAction::Close { id }) => {
                    self.closed_ids.push(id);
                    if self.closed_ids.len() > 16 {
                        self.closed_ids.remove(0);
                    }
                    if self.data.id() == Some(id) {
                        self.data = Data::None;
                    }
                    if self.copy.is_some_and(|c| c.id == id) {
                        self.copy = None;
                    }
                }
                Output::Data(action) => {
                    self.pending_io = Some(action);
                    return;
                }
                Output::UpgradeTls => {
                    // TLS arrives with FTPS support; until then AUTH cannot be completed.
                    self.events
                        .push_back(Event::Closed(ftp_proto::client::SessionError::Closed));
                }
                _ => {}
            }
        }
    }

    async fn data_io(&mut self, action: DataAction) {
        let now = Self::now;
        match action {
            DataAction::Connect { id, to } => {
                let input = match timeout(self.options.data_timeout, TcpStream::connect(to)).await {
                    Ok(Ok(stream)) => {
                        self.data = Data::Connected { id, stream };
                        DataInput::Connected { id }
                    }
                    _ => DataInput::Failed {
                        id,
                        error: DataError::Connect,
                    },
                };
                self.session.handle_data(now(), input);
            }
            DataAction::Listen { id, .. } => {
                let input = match TcpListener::bind(SocketAddr::new(self.local.ip(), 0)).await {
                    Ok(listener) => match listener.local_addr() {
                        Ok(addr) => {
                            self.data = Data::Listening { id, listener };
                            DataInput::Listening { id, addr }
                        }
                        Err(_) => DataInput::Failed {
                            id,
                            error: DataError::Listen,
                        },
                    },
                    Err(_) => DataInput::Failed {
                        id,
                        error: DataError::Listen,
                    },
                };
                self.session.handle_data(now(), input);
            }
            _ => {}
        }
    }

    /// Reads the control connection once (or handles the reply deadline), feeding the session.
    pub(crate) fn poll_control(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if !self.tx.is_empty() {
            // Bytes the session queued while a stream was being polled (ABOR).
            while !self.tx.is_empty() {
                let n = ready!(Pin::new(&mut self.control).poll_write(cx, &self.tx))?;
                if n == 0 {
                    return Poll::Ready(Err(Error::Io(io::ErrorKind::WriteZero.into())));
                }
                self.tx.drain(..n);
            }
        }
        if let Some(deadline) = self.session.poll_timeout() {
            let deadline = Instant::from_std(deadline);
            if self.timer.deadline() != deadline {
                self.timer.as_mut().reset(deadline);
            }
            if self.timer.as_mut().poll(cx).is_ready() {
                self.session.handle_timeout(Self::now());
                return Poll::Ready(Ok(()));
            }
        }
        let mut buf = ReadBuf::new(&mut self.rbuf);
        match ready!(Pin::new(&mut self.control).poll_read(cx, &mut buf)) {
            Ok(()) if buf.filled().is_empty() => self.session.handle_eof(Self::now()),
            Ok(()) => self.session.handle_control(Self::now(), buf.filled()),
            Err(e) => {
                self.session.handle_eof(Self::now());
                return Poll::Ready(Err(Error::Io(e)));
            }
        }
        Poll::Ready(Ok(()))
    }

    pub(crate) async fn read_control(&mut self) -> Result<(), Error> {
        poll_fn(|cx| self.poll_control(cx)).await
    }

    /// The next event, reading the control connection as needed.
    pub(crate) async fn next_event(&mut self) -> Result<Event, Error> {
        loop {
            self.run_outputs().await?;
            if let Some(event) = self.events.pop_front() {
                return Ok(event);
            }
            self.read_control().await?;
        }
    }

    /// Waits for the final reply to `handle`.
    pub(crate) async fn wait_reply(&mut self, handle: CommandHandle) -> Result<Reply, Error> {
        loop {
            match self.next_event().await? {
                Event::Reply { handle: h, reply } if h == handle => return Ok(reply),
                Event::Failed { handle: h, error } if h == handle => {
                    return Err(Error::Session(error));
                }
                _ => {}
            }
        }
    }

    /// Waits for the end of the transfer `handle`.
    pub(crate) async fn wait_transfer(
        &mut self,
        handle: CommandHandle,
    ) -> Result<TransferDone, Error> {
        loop {
            match self.next_event().await? {
                Event::Transfer { handle: h, result } if h == handle => {
                    return result.map_err(Error::from);
                }
                _ => {}
            }
        }
    }

    /// Finishes what a dropped stream left behind: a transfer still running is aborted (ABOR,
    /// then the 426/226 dance), a finished one has its final reply read.
    pub(crate) async fn settle(&mut self) -> Result<(), Error> {
        let Some(handle) = self.orphan.take() else {
            return Ok(());
        };
        if self.session.in_transfer() {
            let data_open = !matches!(self.data, Data::None);
            self.data = Data::None;
            self.copy = None;
            if data_open || self.session.in_transfer() {
                // Closing our end first makes the server's copy fail fast; ABOR tells it why.
                let _ = self.session.abort(Self::now());
            }
            // The outcome is not the caller's concern any more: only the session's state is.
            match self.wait_transfer(handle).await {
                Ok(_) | Err(Error::Transfer(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Sends one command and returns its final reply, whatever the code.
    pub async fn quote(&mut self, command: Command) -> Result<Reply, Error> {
        self.settle().await?;
        let handle = self.session.send(Self::now(), command)?;
        self.wait_reply(handle).await
    }

    /// Sends one command and returns its reply if it is positive (2yz), an error otherwise.
    pub(crate) async fn command_ok(&mut self, command: Command) -> Result<Reply, Error> {
        let reply = self.quote(command).await?;
        if reply.code().is_completion() {
            Ok(reply)
        } else {
            Err(Error::Reply(reply))
        }
    }

    /// Sends a raw command line (for example `SITE CHMOD 644 f`); the reply comes back whatever
    /// its code. Data-transfer commands are refused: use the transfer methods.
    pub async fn quote_line(&mut self, line: &str) -> Result<Reply, Error> {
        let command = Command::parse(line.as_bytes()).map_err(Error::InvalidCommand)?;
        self.quote(command).await
    }

    pub(crate) fn peer_ip(&self) -> IpAddr {
        self.peer.ip()
    }
}
