//! `Client`: drives one `ftp_proto::client::Session` over a control socket and its data
//! connections.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use ftp_proto::client::{
    CommandHandle, Config, DataAction, DataError, DataId, DataInput, Event, Output,
    PasvAddressPolicy, Session, SessionError, TransferDone,
};
use ftp_proto::{AuthMechanism, Command, Reply, ReplyCode, TransferType};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream, lookup_host};
use tokio::time::{Instant, Sleep, sleep_until, timeout};

use crate::Error;
use crate::tls::{Stream, Tls, TlsConfig, TlsInfo};

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
    pub(crate) max_listing_entries: usize,
    pub(crate) tls: Option<(TlsMode, TlsConfig)>,
}

/// How [`ClientBuilder`] secures the control connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TlsMode {
    /// `AUTH TLS` right after the greeting; refused means the connection fails.
    Explicit,
    /// TLS from the first byte.
    Implicit,
}

/// An address [`ClientBuilder::connect`] accepts: anything tokio resolves (`"host:21"`,
/// `("host", 21)`, a [`SocketAddr`] ...), which also names the host that TLS verifies and
/// sends as SNI (for an IP address, the certificate must name that address).
///
/// ```
/// use std::net::SocketAddr;
/// use ftp_client_tokio::ServerAddress;
/// assert_eq!("ftp.example.net:21".host().as_deref(), Some("ftp.example.net"));
/// assert_eq!(("ftp.example.net", 990).host().as_deref(), Some("ftp.example.net"));
/// assert_eq!("[::1]:2121".host().as_deref(), Some("::1"));
/// let addr: SocketAddr = "127.0.0.1:21".parse().unwrap();
/// assert_eq!(addr.host(), None); // TLS then verifies the peer's IP address
/// ```
pub trait ServerAddress: tokio::net::ToSocketAddrs {
    /// The host name or IP address text, without the port; `None` for socket addresses.
    fn host(&self) -> Option<String>;
}

/// The host part of `host:port`, `[v6]:port` or a bare host.
fn host_of(text: &str) -> String {
    let host = match text.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') || host.ends_with(']') => {
            let _ = port;
            host
        }
        _ => text,
    };
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned()
}

impl ServerAddress for str {
    fn host(&self) -> Option<String> {
        Some(host_of(self))
    }
}

impl ServerAddress for String {
    fn host(&self) -> Option<String> {
        Some(host_of(self))
    }
}

impl ServerAddress for (&str, u16) {
    fn host(&self) -> Option<String> {
        Some(
            self.0
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
        )
    }
}

impl ServerAddress for (String, u16) {
    fn host(&self) -> Option<String> {
        (self.0.as_str(), self.1).host()
    }
}

macro_rules! socket_addresses {
    ($($t:ty),*) => {$(
        impl ServerAddress for $t {
            fn host(&self) -> Option<String> {
                None
            }
        }
    )*};
}

socket_addresses!(
    SocketAddr,
    SocketAddrV4,
    SocketAddrV6,
    (IpAddr, u16),
    (Ipv4Addr, u16),
    (Ipv6Addr, u16)
);

impl<T: ServerAddress + ?Sized> ServerAddress for &T {
    fn host(&self) -> Option<String> {
        (**self).host()
    }
}

impl Default for ClientBuilder {
    fn default() -> Self {
        Self {
            session: Config::default(),
            connect_timeout: Duration::from_secs(30),
            data_timeout: Duration::from_secs(30),
            max_listing: 64 * 1024 * 1024,
            max_listing_entries: 1_000_000,
            tls: None,
        }
    }
}

/// The longest timeout [`ClientBuilder`] keeps (one year); longer ones are cut to it, so a
/// deadline computed from one can never overflow the clock.
///
/// ```
/// assert_eq!(ftp_client_tokio::MAX_TIMEOUT.as_secs(), 31_536_000);
/// ```
pub const MAX_TIMEOUT: Duration = Duration::from_secs(365 * 24 * 60 * 60);

impl ClientBuilder {
    /// How long to wait for the TCP connection (default 30 s; at most one year, longer is
    /// taken as one year).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout.min(MAX_TIMEOUT);
        self
    }

    /// How long the server may take to answer a command, send its greeting, or show that a
    /// transfer started (see [`Client::retr`]) (default 60 s; at most one year, longer is taken
    /// as one year).
    pub fn reply_timeout(mut self, timeout: Duration) -> Self {
        self.session.reply_timeout = timeout.min(MAX_TIMEOUT);
        self
    }

    /// How long opening a data connection (connecting to a passive port, or the server's
    /// connection to an active-mode listener), and any pause in its data, may take (default
    /// 30 s; at most one year, longer is taken as one year). After a pause that long, the
    /// server's final reply is awaited for up to the reply timeout.
    pub fn data_timeout(mut self, timeout: Duration) -> Self {
        self.data_timeout = timeout.min(MAX_TIMEOUT);
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

    /// Cap on a listing's size in bytes (default 64 MiB); a larger one fails with
    /// [`Error::ListingTooLarge`].
    pub fn max_listing(mut self, bytes: usize) -> Self {
        self.max_listing = bytes;
        self
    }

    /// Cap on the number of entries a parsed listing ([`Client::list`]) or NLST may hold
    /// (default 1 000 000); more fail with [`Error::TooManyEntries`]. An entry takes a few
    /// hundred bytes of memory, many times its listing line, so the byte cap alone does not
    /// bound the memory a listing of tiny lines takes.
    pub fn max_listing_entries(mut self, entries: usize) -> Self {
        self.max_listing_entries = entries;
        self
    }

    /// Explicit FTPS, required: right after the greeting the client sends `AUTH TLS`, does the
    /// TLS handshake on 234, then `PBSZ 0` and `PROT P` (unless
    /// [`TlsConfig::protect_data`] is off). If the server refuses any of them, or the
    /// handshake fails, [`ClientBuilder::connect`] fails and nothing else is sent: no user
    /// name or password ever goes out in clear ([`Error::TlsRefused`], [`Error::Tls`]).
    ///
    /// ```no_run
    /// use ftp_client_tokio::{Client, TlsConfig};
    /// # async fn run() -> Result<(), ftp_client_tokio::Error> {
    /// let tls = TlsConfig::new().add_root_pem_file("ca.pem".as_ref())?;
    /// let mut client = Client::builder().tls(tls).connect("ftp.example.net:21").await?;
    /// client.login("alice", "secret").await?; // over TLS
    /// let bytes = client.download_to_vec("report.pdf").await?; // PROT P: over TLS too
    /// # Ok(()) }
    /// ```
    pub fn tls(mut self, config: TlsConfig) -> Self {
        self.tls = Some((TlsMode::Explicit, config));
        self
    }

    /// Implicit FTPS: the TLS handshake starts as soon as TCP is connected, before the
    /// greeting (conventionally port 990); then `PBSZ 0` and `PROT P` as for
    /// [`ClientBuilder::tls`].
    ///
    /// ```no_run
    /// use ftp_client_tokio::{Client, TlsConfig};
    /// # async fn run() -> Result<(), ftp_client_tokio::Error> {
    /// let tls = TlsConfig::new().with_system_roots()?;
    /// let client = Client::builder().implicit_tls(tls).connect("ftp.example.net:990").await?;
    /// # Ok(()) }
    /// ```
    pub fn implicit_tls(mut self, config: TlsConfig) -> Self {
        self.tls = Some((TlsMode::Implicit, config));
        self
    }

    /// Connects to `addr` (every address it resolves to is tried in turn) and reads the
    /// greeting (with TLS as configured).
    pub async fn connect(self, addr: impl ServerAddress) -> Result<Client, Error> {
        let host = addr.host();
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
                Ok(Ok(stream)) => return Client::start(stream, self, host.as_deref()).await,
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
    /// PROT P: TLS on the data connection.
    pub(crate) protected: bool,
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
    pub(crate) control: Stream,
    /// This client's TLS state once TLS is configured (control connection protected, or
    /// about to be).
    pub(crate) tls: Option<Tls>,
    /// The session asked for the TLS handshake on the control connection.
    upgrade: bool,
    /// Credentials may only go over TLS.
    require_tls: bool,
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
    /// The host name given to `connect` (what TLS verifies by default).
    host: Option<String>,
}

impl Client {
    /// Settings for a new connection.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// Connects with the default settings and reads the greeting.
    pub async fn connect(addr: impl ServerAddress) -> Result<Self, Error> {
        ClientBuilder::default().connect(addr).await
    }

    /// Runs the session over an already connected control stream (with TLS as `options`
    /// say; the name TLS verifies is then [`TlsConfig::server_name`] or the peer's IP
    /// address).
    pub async fn with_stream(control: TcpStream, options: ClientBuilder) -> Result<Self, Error> {
        Self::start(control, options, None).await
    }

    async fn start(
        control: TcpStream,
        options: ClientBuilder,
        host: Option<&str>,
    ) -> Result<Self, Error> {
        let local = control.local_addr()?;
        let peer = control.peer_addr()?;
        control.set_nodelay(true)?;
        let mode = options.tls.as_ref().map(|(mode, _)| *mode);
        let mut tls = match &options.tls {
            Some((_, config)) => Some(config.start(host, peer.ip())?),
            None => None,
        };
        let control = match (mode, &mut tls) {
            (Some(TlsMode::Implicit), Some(tls)) => {
                let stream = tls_handshake(tls, control, options.connect_timeout)
                    .await
                    .map_err(Error::Tls)?;
                tls.stats.record_control(&stream);
                stream
            }
            _ => Stream::Plain(control),
        };
        let now = Instant::now();
        let session = Session::new(options.session.clone(), peer, now.into_std());
        let mut client = Self {
            control,
            tls: None,
            upgrade: false,
            require_tls: mode.is_some(),
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
            host: host.map(str::to_owned),
            local,
            peer,
            transfer_type: None,
            file_type: TransferType::Image,
            features: None,
        };
        // Nothing at all before a close or the timeout is worth its own error: a client
        // waiting in clear on an implicit-TLS port sees exactly that.
        let in_clear = !client.control.is_tls();
        let reply = client
            .wait_reply(CommandHandle::GREETING)
            .await
            .map_err(|e| match e {
                Error::Session(error)
                    if error == SessionError::ConnectionClosed || error.is_timeout() =>
                {
                    Error::NoGreeting { error, in_clear }
                }
                other => other,
            })?;
        if reply.code() != ReplyCode::SERVICE_READY {
            return Err(Error::Reply(reply));
        }
        client.welcome = reply;
        if let Some(tls) = tls {
            if mode == Some(TlsMode::Explicit) {
                client.secure(tls).await?;
            } else {
                client.tls = Some(tls);
                client.protect_data().await?;
            }
        }
        Ok(client)
    }

    /// Explicit FTPS on this connection: `AUTH TLS`, the handshake on 234, then `PBSZ 0` and
    /// `PROT P` (unless [`TlsConfig::protect_data`] is off). From then on every command and,
    /// with PROT P, every data connection is protected; data connections resume the control
    /// connection's TLS session (servers such as vsftpd with `require_ssl_reuse` insist).
    ///
    /// A refusal is [`Error::TlsRefused`]: the connection stays as it was (in clear), and it
    /// is the caller's choice to go on. [`ClientBuilder::tls`] does this at connect time and
    /// fails closed instead.
    ///
    /// ```no_run
    /// use ftp_client_tokio::{Client, TlsConfig};
    /// # async fn run() -> Result<(), ftp_client_tokio::Error> {
    /// let mut client = Client::connect("ftp.example.net:21").await?;
    /// client.auth_tls(&TlsConfig::new().with_system_roots()?).await?;
    /// client.login("alice", "secret").await?;
    /// # Ok(()) }
    /// ```
    pub async fn auth_tls(&mut self, config: &TlsConfig) -> Result<(), Error> {
        if self.control.is_tls() {
            return Err(Error::TlsConfig(
                "the control connection is already protected".into(),
            ));
        }
        let tls = config.start(self.host.as_deref(), self.peer.ip())?;
        self.secure(tls).await
    }

    /// `AUTH TLS` with `tls`, then PBSZ/PROT.
    async fn secure(&mut self, tls: Tls) -> Result<(), Error> {
        self.tls = Some(tls);
        let reply = match self.quote(Command::Auth(AuthMechanism::Tls)).await {
            Ok(reply) => reply,
            Err(e) => {
                if !self.control.is_tls() {
                    self.tls = None;
                }
                return Err(e);
            }
        };
        if !self.control.is_tls() {
            self.tls = None;
            return Err(if reply.code() == ReplyCode::SECURITY_EXCHANGE_COMPLETE {
                Error::Tls(io::Error::other("no TLS handshake after 234"))
            } else {
                Error::TlsRefused(reply)
            });
        }
        self.protect_data().await
    }

    /// `PBSZ 0` and `PROT P` when data is to be protected; a refusal is [`Error::TlsRefused`].
    async fn protect_data(&mut self) -> Result<(), Error> {
        if !self.tls.as_ref().is_some_and(|t| t.protect_data) {
            return Ok(());
        }
        for command in [
            Command::Pbsz(0),
            Command::Prot(ftp_proto::ProtectionLevel::Private),
        ] {
            let reply = self.quote(command).await?;
            if !reply.code().is_completion() {
                return Err(Error::TlsRefused(reply));
            }
        }
        Ok(())
    }

    /// Whether the control connection is protected by TLS.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), ftp_client_tokio::Error> {
    /// use ftp_client_tokio::{Client, TlsConfig};
    /// let tls = TlsConfig::new().with_system_roots()?;
    /// let client = Client::builder().tls(tls).connect("ftp.example.net:21").await?;
    /// assert!(client.is_tls());
    /// # Ok(()) }
    /// ```
    pub fn is_tls(&self) -> bool {
        self.control.is_tls()
    }

    /// The TLS version and ALPN of the control connection, and how many data connections
    /// resumed its session; `None` without TLS.
    ///
    /// ```no_run
    /// # async fn run(client: &mut ftp_client_tokio::Client) -> Result<(), ftp_client_tokio::Error> {
    /// client.download_to_vec("a.txt").await?;
    /// let info = client.tls_info().expect("a TLS connection");
    /// assert_eq!(info.data_full, 0, "every data connection resumed the control session");
    /// # Ok(()) }
    /// ```
    pub fn tls_info(&self) -> Option<&TlsInfo> {
        self.tls
            .as_ref()
            .filter(|_| self.control.is_tls())
            .map(|t| &t.stats)
    }

    /// Runs the TLS handshake the session asked for (after a 234).
    async fn upgrade_control(&mut self) -> Result<(), Error> {
        self.upgrade = false;
        let result = match (
            core::mem::replace(&mut self.control, Stream::Upgrading),
            &self.tls,
        ) {
            (Stream::Plain(tcp), Some(tls)) => {
                tls_handshake(tls, tcp, self.options.connect_timeout).await
            }
            (Stream::Plain(_), None) => Err(io::Error::other(
                "the server accepted AUTH, but no TLS configuration was given (use Client::auth_tls)",
            )),
            (_, _) => Err(io::Error::other("AUTH accepted on a protected connection")),
        };
        match result {
            Ok(stream) => {
                if let Some(tls) = self.tls.as_mut() {
                    tls.stats.record_control(&stream);
                }
                self.control = stream;
                self.session.handle_tls_established(Self::now());
                Ok(())
            }
            Err(e) => {
                // Nothing more can be said on this connection.
                self.session.handle_eof(Self::now());
                self.drain_sync();
                Err(Error::Tls(e))
            }
        }
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
            if self.upgrade {
                self.upgrade_control().await?;
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
                Output::Data(DataAction::Transfer {
                    id,
                    ascii,
                    protected,
                    ..
                }) => {
                    self.copy = Some(CopyOrder {
                        id,
                        ascii,
                        protected,
                    });
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
                    // Carried out by `run_outputs`; the session sends nothing until then.
                    self.upgrade = true;
                    return;
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

    /// Sends one command and returns its final reply, whatever the code. On a client that
    /// requires TLS, credentials (USER, PASS, ACCT) are refused while the control connection
    /// is not protected ([`Error::TlsRequired`]).
    pub async fn quote(&mut self, command: Command) -> Result<Reply, Error> {
        if self.require_tls
            && !self.control.is_tls()
            && matches!(
                command,
                Command::User(_) | Command::Pass(_) | Command::Acct(_)
            )
        {
            return Err(Error::TlsRequired);
        }
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

/// The client handshake on `tcp`, bounded by `limit`.
pub(crate) async fn tls_handshake(
    tls: &Tls,
    tcp: TcpStream,
    limit: Duration,
) -> io::Result<Stream> {
    match timeout(limit, tls.handshake(tcp)).await {
        Ok(result) => result,
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "TLS handshake timed out",
        )),
    }
}
