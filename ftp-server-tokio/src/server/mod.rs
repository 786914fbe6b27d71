//! The network server: listeners, session limits, graceful shutdown, and one task per control
//! connection driving an [`ftp_proto::server::Session`].
//!
//! Owns the [`Server`] builder (every setting with a secure default), [`BoundServer`] (bound
//! listeners, ready to run) and [`ShutdownHandle`]. Protocol decisions stay in the session;
//! file and login decisions in the [`Storage`] and [`Authenticator`].
//!
//! ```no_run
//! use ftp_server_tokio::auth::{AnonymousPolicy, StaticUsers};
//! use ftp_server_tokio::server::Server;
//! use ftp_server_tokio::storage::fs::FsStorage;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let storage = FsStorage::open("/srv/ftp")?;
//! let users = StaticUsers::new([])?.with_anonymous(AnonymousPolicy::default());
//! let server = Server::new(storage, users)
//!     .listen("127.0.0.1:2121".parse()?)
//!     .anonymous(true)
//!     .bind()
//!     .await?;
//! let stop = server.shutdown_handle();
//! tokio::spawn(async move {
//!     let _ = tokio::signal::ctrl_c().await;
//!     stop.shutdown();
//! });
//! server.run().await;
//! # Ok(())
//! # }
//! ```

mod accounts;
mod connection;
mod data;
mod failures;
mod uploads;

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ftp_proto::server::{Config, ConfigError};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;
use tracing::{Instrument, debug, info, info_span, warn};

use crate::auth::Authenticator;
use crate::events::{Event, EventHook};
use crate::storage::Storage;
use crate::storage::quota::QuotaPolicy;
use crate::tls::TlsConfig;
use data::{BufferPool, DataSettings};

/// Default cap on concurrent sessions.
pub const DEFAULT_MAX_SESSIONS: usize = 1024;
/// Default cap on concurrent sessions from one IP address.
pub const DEFAULT_MAX_SESSIONS_PER_IP: usize = 64;
/// Default time running transfers get to finish after a shutdown began.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// Default number of failed logins from one IP address, within
/// [`DEFAULT_LOGIN_FAILURE_WINDOW`], after which that address is refused.
pub const DEFAULT_LOGIN_FAILURES_PER_IP: u32 = 20;
/// Default window over which failed logins from one IP address are counted, and for which the
/// address is then refused.
pub const DEFAULT_LOGIN_FAILURE_WINDOW: Duration = Duration::from_secs(600);

/// The pause after a transient accept error (the open-file limit, typically) before the
/// listener tries again.
const ACCEPT_RETRY: Duration = Duration::from_millis(50);
/// A listener that keeps failing to accept warns at most once per this long (see
/// [`AcceptErrors`]).
const ACCEPT_WARN_INTERVAL: Duration = Duration::from_secs(10);

/// Reply to a connection over a session limit.
const TOO_MANY: &[u8] = b"421 Too many connections; try again later\r\n";
/// Reply to a connection from an address that failed to log in too often.
const BLOCKED: &[u8] = b"421 Too many failed logins from your address; try again later\r\n";

/// Why a server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The session settings cannot work together.
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
    /// No listen address was given.
    #[error("no listen address given")]
    NoListenAddress,
    /// The passive port range is empty (`start > end`) or contains port 0.
    #[error("invalid passive port range {start}-{end}")]
    PassivePorts {
        /// First port.
        start: u16,
        /// Last port.
        end: u16,
    },
    /// A session limit is 0.
    #[error("session limits must be at least 1")]
    Limits,
    /// An implicit-TLS listen address was given without a TLS configuration.
    #[error("implicit TLS listeners need a TLS configuration (Server::tls)")]
    ImplicitTlsWithoutConfig,
    /// A listen address could not be bound (in use, not local, no permission).
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

/// An FTP server under construction: storage, authenticator and settings. Every setting has a
/// secure default (see the crate README): nothing is served until [`Server::bind`].
///
/// ```
/// use std::time::Duration;
/// use ftp_server_tokio::auth::StaticUsers;
/// use ftp_server_tokio::server::Server;
/// use ftp_server_tokio::storage::memory::MemoryStorage;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let server = Server::new(MemoryStorage::new(), StaticUsers::new([])?)
///     .listen("127.0.0.1:0".parse()?)
///     .passive_ports(50000..=50099)
///     .idle_timeout(Duration::from_secs(120))
///     .max_sessions(100)
///     .bind()
///     .await?;
/// assert_eq!(server.local_addrs().len(), 1);
/// # Ok(())
/// # }
/// ```
pub struct Server<S: Storage, A: Authenticator> {
    storage: Arc<S>,
    auth: Arc<A>,
    listen: Vec<SocketAddr>,
    listen_implicit: Vec<SocketAddr>,
    tls: Option<TlsConfig>,
    config: Config,
    passive_ports: Option<RangeInclusive<u16>>,
    masquerade: Option<IpAddr>,
    max_sessions: usize,
    max_sessions_per_ip: usize,
    login_failures: (u32, Duration),
    shutdown_grace: Duration,
    events: Option<EventHook>,
    quota_policy: QuotaPolicy,
}

impl<S: Storage, A: Authenticator> fmt::Debug for Server<S, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("listen", &self.listen)
            .field("listen_implicit_tls", &self.listen_implicit)
            .field("tls", &self.tls)
            .field("config", &self.config)
            .field("passive_ports", &self.passive_ports)
            .field("masquerade", &self.masquerade)
            .field("max_sessions", &self.max_sessions)
            .field("max_sessions_per_ip", &self.max_sessions_per_ip)
            .field("login_failures", &self.login_failures)
            .field("shutdown_grace", &self.shutdown_grace)
            .field("quota_policy", &self.quota_policy)
            .finish_non_exhaustive()
    }
}

impl<S: Storage, A: Authenticator> Server<S, A> {
    /// A server for `storage` and `auth` with the secure defaults: no listen address yet,
    /// passive ports chosen by the OS, no masquerade, session timeouts of
    /// [`Config::default`], [`DEFAULT_MAX_SESSIONS`] and [`DEFAULT_MAX_SESSIONS_PER_IP`],
    /// [`DEFAULT_LOGIN_FAILURES_PER_IP`] failed logins per [`DEFAULT_LOGIN_FAILURE_WINDOW`],
    /// anonymous login off.
    pub fn new(storage: S, auth: A) -> Self {
        Self::with_shared(Arc::new(storage), Arc::new(auth))
    }

    /// Like [`Server::new`], for a storage and authenticator the application also uses.
    pub fn with_shared(storage: Arc<S>, auth: Arc<A>) -> Self {
        Self {
            storage,
            auth,
            listen: Vec::new(),
            listen_implicit: Vec::new(),
            tls: None,
            config: Config::default(),
            passive_ports: None,
            masquerade: None,
            max_sessions: DEFAULT_MAX_SESSIONS,
            max_sessions_per_ip: DEFAULT_MAX_SESSIONS_PER_IP,
            login_failures: (DEFAULT_LOGIN_FAILURES_PER_IP, DEFAULT_LOGIN_FAILURE_WINDOW),
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            events: None,
            quota_policy: QuotaPolicy::default(),
        }
    }

    /// Adds a listen address (IPv4 or IPv6; port 0 picks a free port). Repeatable.
    #[must_use]
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen.push(addr);
        self
    }

    /// Serves FTPS (RFC 4217) with `tls`: AUTH TLS on every listener, and implicit TLS on
    /// the [`Server::listen_implicit_tls`] addresses. The session's TLS policy (TLS required
    /// for login and data, CCC) comes from `tls` ([`TlsConfig::policy`]). Default: no TLS.
    ///
    /// ```
    /// use ftp_server_tokio::auth::StaticUsers;
    /// use ftp_server_tokio::server::Server;
    /// use ftp_server_tokio::storage::memory::MemoryStorage;
    /// use ftp_server_tokio::tls::TlsConfig;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])?;
    /// # let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    /// # std::fs::write(&cert_path, cert.cert.pem())?;
    /// # std::fs::write(&key_path, cert.signing_key.serialize_pem())?;
    /// let tls = TlsConfig::from_pem_files(&cert_path, &key_path).build()?;
    /// let server = Server::new(MemoryStorage::new(), StaticUsers::new([])?)
    ///     .tls(tls.clone())
    ///     .listen("127.0.0.1:0".parse()?) // explicit FTPS: AUTH TLS
    ///     .listen_implicit_tls("127.0.0.1:0".parse()?) // implicit FTPS (usually port 990)
    ///     .bind()
    ///     .await?;
    /// assert_eq!(server.local_addrs().len(), 1);
    /// assert_eq!(server.implicit_tls_addrs().len(), 1);
    /// // Renewed certificate files are picked up without a restart:
    /// tls.reload()?;
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn tls(mut self, tls: TlsConfig) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Adds an implicit-TLS listen address (FTPS where TLS starts with the connection,
    /// conventionally port 990). Needs [`Server::tls`]. Repeatable.
    #[must_use]
    pub fn listen_implicit_tls(mut self, addr: SocketAddr) -> Self {
        self.listen_implicit.push(addr);
        self
    }

    /// Passive listeners take a random free port of `ports` (default: any the OS picks).
    #[must_use]
    pub fn passive_ports(mut self, ports: RangeInclusive<u16>) -> Self {
        self.passive_ports = Some(ports);
        self
    }

    /// Announces `ip` instead of the server's own address in 227 (PASV) replies, for servers
    /// behind NAT. Only IPv4 can be announced by PASV; EPSV announces no address.
    #[must_use]
    pub fn masquerade(mut self, ip: IpAddr) -> Self {
        self.masquerade = Some(ip);
        self
    }

    /// The text of the 220 greeting.
    #[must_use]
    pub fn greeting(mut self, text: impl Into<String>) -> Self {
        self.config.greeting = text.into();
        self
    }

    /// Accept `USER anonymous` / `USER ftp` (the authenticator must accept them too, e.g.
    /// [`crate::auth::StaticUsers::with_anonymous`]). Default: off.
    #[must_use]
    pub fn anonymous(mut self, on: bool) -> Self {
        self.config.anonymous = on;
        self
    }

    /// Time without a command (and no transfer) before 421 and close. Default 300 s.
    #[must_use]
    pub fn idle_timeout(mut self, limit: Duration) -> Self {
        self.config.idle_timeout = limit;
        self
    }

    /// Time from the greeting to a successful login. Default 60 s.
    #[must_use]
    pub fn login_timeout(mut self, limit: Duration) -> Self {
        self.config.login_timeout = limit;
        self
    }

    /// Time for a data connection to be established, and the longest a copy may stall.
    /// Default 30 s.
    #[must_use]
    pub fn data_timeout(mut self, limit: Duration) -> Self {
        self.config.data_timeout = limit;
        self
    }

    /// Allow PORT/EPRT (active mode). Default: on, to the control peer's IP only.
    #[must_use]
    pub fn active_mode(mut self, on: bool) -> Self {
        self.config.active_mode = on;
        self
    }

    /// Allow PASV/EPSV (passive mode). Default: on.
    #[must_use]
    pub fn passive_mode(mut self, on: bool) -> Self {
        self.config.passive_mode = on;
        self
    }

    /// At most `n` concurrent sessions; more are answered with 421 and closed.
    #[must_use]
    pub fn max_sessions(mut self, n: usize) -> Self {
        self.max_sessions = n;
        self
    }

    /// At most `n` concurrent sessions from one IP address; more get 421.
    #[must_use]
    pub fn max_sessions_per_ip(mut self, n: usize) -> Self {
        self.max_sessions_per_ip = n;
        self
    }

    /// After `n` failed logins from one IP address within `window` (counted from the first of
    /// them), that address is refused until the window has passed: new connections get 421
    /// and are closed, and logins on connections already open fail (530, after the usual
    /// delay) without the authenticator being asked, so a right guess is not told apart.
    /// This bounds password guessing across parallel connections, which the session's own
    /// limit (421 after [`Config::max_login_failures`] on one connection) does not. `n = 0`
    /// turns it off. Default: [`DEFAULT_LOGIN_FAILURES_PER_IP`] in
    /// [`DEFAULT_LOGIN_FAILURE_WINDOW`].
    ///
    /// Behind a NAT many users share an address, and a fixed window lets an attacker start
    /// again after it; for more, put a firewall rule (fail2ban reading the login events) in
    /// front.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ftp_server_tokio::auth::StaticUsers;
    /// use ftp_server_tokio::server::Server;
    /// use ftp_server_tokio::storage::memory::MemoryStorage;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let server = Server::new(MemoryStorage::new(), StaticUsers::new([])?)
    ///     .login_failures_per_ip(5, Duration::from_secs(3600));
    /// # let _ = server;
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn login_failures_per_ip(mut self, n: u32, window: Duration) -> Self {
        self.login_failures = (n, window);
        self
    }

    /// How long running transfers may go on after a shutdown began. Default 10 s.
    #[must_use]
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = grace;
        self
    }

    /// What happens to an upload stopped at a user's quota (552): see [`QuotaPolicy`].
    /// Default: [`QuotaPolicy::DeletePartial`].
    ///
    /// Quotas ([`Principal::quota`](crate::auth::Principal::quota)) and per-user session limits
    /// ([`Principal::max_sessions`](crate::auth::Principal::max_sessions)) come from the
    /// authenticator and are enforced for every authenticator. Usage is counted per user name
    /// and home, shared by all of that user's sessions: measured when the user's first session
    /// logs in (a walk of the home, at most
    /// [`MAX_SCAN_ENTRIES`](crate::storage::quota::MAX_SCAN_ENTRIES) entries), then kept
    /// current as bytes are written, files truncated, deleted or replaced by RNTO. Every byte
    /// is reserved before it is written, so concurrent uploads of one user never together pass
    /// the quota. A login beyond the user's session limit gets `421` and the connection closes
    /// (as pure-ftpd does).
    ///
    /// ```
    /// use ftp_server_tokio::auth::StaticUsers;
    /// use ftp_server_tokio::server::Server;
    /// use ftp_server_tokio::storage::memory::MemoryStorage;
    /// use ftp_server_tokio::storage::quota::QuotaPolicy;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let server = Server::new(MemoryStorage::new(), StaticUsers::new([])?)
    ///     .quota_policy(QuotaPolicy::KeepPartial);
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn quota_policy(mut self, policy: QuotaPolicy) -> Self {
        self.quota_policy = policy;
        self
    }

    /// Calls `hook` with every [`Event`] (logins, transfers, deletions, ...).
    #[must_use]
    pub fn on_event(mut self, hook: impl Fn(&Event) + Send + Sync + 'static) -> Self {
        self.events = Some(EventHook::new(hook));
        self
    }

    /// Adjusts any other session setting of the core's [`Config`] (login failure limit and
    /// delay, line length, bounce protection, ...).
    ///
    /// ```
    /// use std::time::Duration;
    /// use ftp_server_tokio::auth::StaticUsers;
    /// use ftp_server_tokio::server::Server;
    /// use ftp_server_tokio::storage::memory::MemoryStorage;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let server = Server::new(MemoryStorage::new(), StaticUsers::new([])?)
    ///     .session_config(|c| {
    ///         c.max_login_failures = 5;
    ///         c.failed_login_delay = Duration::from_secs(2);
    ///     });
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn session_config(mut self, adjust: impl FnOnce(&mut Config)) -> Self {
        adjust(&mut self.config);
        self
    }

    /// Checks the settings and binds every listen address.
    ///
    /// # Errors
    ///
    /// [`ServerError`]: invalid settings, or an address that cannot be bound (with the
    /// address and the OS error).
    pub async fn bind(self) -> Result<BoundServer<S, A>, ServerError> {
        let mut config = self.config;
        let features = self.storage.features();
        config.capabilities.site_commands = crate::handler::site_commands(&features);
        config.capabilities.set_mtime = features.set_modified;
        config.capabilities.checksums = features.checksums;
        config.capabilities.avbl = features.available_space;
        if let Some(tls) = &self.tls {
            config.tls = tls.policy();
        }
        config.validate()?;
        if self.listen.is_empty() && self.listen_implicit.is_empty() {
            return Err(ServerError::NoListenAddress);
        }
        if !self.listen_implicit.is_empty() && self.tls.is_none() {
            return Err(ServerError::ImplicitTlsWithoutConfig);
        }
        if let Some(ports) = &self.passive_ports
            && (ports.start() > ports.end() || *ports.start() == 0)
        {
            return Err(ServerError::PassivePorts {
                start: *ports.start(),
                end: *ports.end(),
            });
        }
        if self.max_sessions == 0 || self.max_sessions_per_ip == 0 {
            return Err(ServerError::Limits);
        }
        let mut listeners = Vec::with_capacity(self.listen.len() + self.listen_implicit.len());
        let all = self.listen.iter().map(|a| (*a, false));
        for (addr, implicit) in all.chain(self.listen_implicit.iter().map(|a| (*a, true))) {
            let listener =
                listen_control(addr).map_err(|source| ServerError::Bind { addr, source })?;
            listeners.push(Listener { listener, implicit });
        }
        let (stop, shutdown) = watch::channel(None);
        let data = DataSettings {
            passive_ports: self.passive_ports,
            masquerade: self.masquerade,
            data_timeout: config.data_timeout,
            buffers: BufferPool::new(32),
            copy_threads: AtomicUsize::new(0),
        };
        let shared = Arc::new(Shared {
            storage: self.storage,
            auth: self.auth,
            config: Arc::new(config),
            tls: self.tls,
            data: Arc::new(data),
            events: self.events,
            shutdown,
            accounts: Arc::new(accounts::Accounts::default()),
            login_failures: failures::LoginFailures::new(
                self.login_failures.0,
                self.login_failures.1,
            ),
            uploads: uploads::Uploads::default(),
            quota_policy: self.quota_policy,
            limits: Limits {
                max: self.max_sessions,
                per_ip: self.max_sessions_per_ip,
                active: AtomicUsize::new(0),
                by_ip: Mutex::new(HashMap::new()),
                idle: Notify::new(),
            },
        });
        Ok(BoundServer {
            listeners,
            shared,
            handle: ShutdownHandle {
                stop: Arc::new(stop),
                grace: self.shutdown_grace,
            },
        })
    }
}

/// A control listener: address reuse (restart without waiting for TIME_WAIT), IPv6 only on
/// IPv6 addresses (so `[::]` and `0.0.0.0` can both be bound on one port), a deep backlog.
fn listen_control(addr: SocketAddr) -> io::Result<TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    socket.set_nonblocking(true)?;
    TcpListener::from_std(socket.into())
}

/// What every connection task of one server shares.
pub(crate) struct Shared<S: Storage, A: Authenticator> {
    pub(crate) storage: Arc<S>,
    pub(crate) auth: Arc<A>,
    pub(crate) config: Arc<Config>,
    pub(crate) tls: Option<TlsConfig>,
    pub(crate) data: Arc<DataSettings>,
    pub(crate) events: Option<EventHook>,
    /// `Some(deadline)` once shutting down: transfers may run until the deadline.
    pub(crate) shutdown: watch::Receiver<Option<Instant>>,
    /// Sessions and quota usage per user.
    pub(crate) accounts: Arc<accounts::Accounts>,
    /// Failed logins per client address.
    pub(crate) login_failures: failures::LoginFailures,
    /// Files with an upload under way.
    pub(crate) uploads: uploads::Uploads,
    /// What happens to an upload stopped at the quota.
    pub(crate) quota_policy: QuotaPolicy,
    limits: Limits,
}

/// Session counts against the caps.
struct Limits {
    max: usize,
    per_ip: usize,
    active: AtomicUsize,
    by_ip: Mutex<HashMap<IpAddr, usize>>,
    /// Signalled when the last session ends.
    idle: Notify,
}

/// A counted session; dropping it frees its slot.
struct Slot<S: Storage, A: Authenticator> {
    shared: Arc<Shared<S, A>>,
    ip: IpAddr,
}

impl<S: Storage, A: Authenticator> Drop for Slot<S, A> {
    fn drop(&mut self) {
        let limits = &self.shared.limits;
        if let Ok(mut by_ip) = limits.by_ip.lock()
            && let Some(count) = by_ip.get_mut(&self.ip)
        {
            *count -= 1;
            if *count == 0 {
                by_ip.remove(&self.ip);
            }
        }
        if limits.active.fetch_sub(1, Ordering::AcqRel) == 1 {
            limits.idle.notify_waiters();
        }
    }
}

/// Takes a session slot for `ip`, or `None` when a cap is reached.
fn admit<S: Storage, A: Authenticator>(
    shared: &Arc<Shared<S, A>>,
    ip: IpAddr,
) -> Option<Slot<S, A>> {
    let limits = &shared.limits;
    let ip = data::canonical(ip);
    let mut by_ip = limits.by_ip.lock().ok()?;
    if limits.active.load(Ordering::Acquire) >= limits.max {
        return None;
    }
    let count = by_ip.entry(ip).or_insert(0);
    if *count >= limits.per_ip {
        return None;
    }
    *count += 1;
    limits.active.fetch_add(1, Ordering::AcqRel);
    Some(Slot {
        shared: Arc::clone(shared),
        ip,
    })
}

/// A bound control listener; `implicit`: TLS from the first byte.
struct Listener {
    listener: TcpListener,
    implicit: bool,
}

/// A server with bound listeners; [`BoundServer::run`] serves until shut down.
pub struct BoundServer<S: Storage, A: Authenticator> {
    listeners: Vec<Listener>,
    shared: Arc<Shared<S, A>>,
    handle: ShutdownHandle,
}

impl<S: Storage, A: Authenticator> fmt::Debug for BoundServer<S, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BoundServer")
            .field("local_addrs", &self.local_addrs())
            .field("implicit_tls_addrs", &self.implicit_tls_addrs())
            .finish_non_exhaustive()
    }
}

impl<S: Storage, A: Authenticator> BoundServer<S, A> {
    /// The addresses the plain (explicit-FTPS) listeners are bound to, in the order given
    /// (with the real ports for port 0).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.addrs(false)
    }

    /// The addresses the implicit-TLS listeners are bound to ([`Server::listen_implicit_tls`]).
    pub fn implicit_tls_addrs(&self) -> Vec<SocketAddr> {
        self.addrs(true)
    }

    fn addrs(&self, implicit: bool) -> Vec<SocketAddr> {
        self.listeners
            .iter()
            .filter(|l| l.implicit == implicit)
            .filter_map(|l| l.listener.local_addr().ok())
            .collect()
    }

    /// A handle that starts a graceful shutdown from anywhere.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.handle.clone()
    }

    /// How many sessions are connected now.
    pub fn sessions(&self) -> usize {
        self.shared.limits.active.load(Ordering::Acquire)
    }

    /// Serves until `signal` completes, then shuts down gracefully (see [`BoundServer::run`]).
    pub async fn run_until(self, signal: impl Future<Output = ()>) {
        let handle = self.shutdown_handle();
        let run = self.run();
        tokio::pin!(run);
        tokio::select! {
            () = &mut run => return,
            () = signal => handle.shutdown(),
        }
        run.await;
    }

    /// Serves until [`ShutdownHandle::shutdown`]: accepts connections and runs one task per
    /// session. On shutdown it stops accepting, answers idle sessions with 421, lets running
    /// transfers finish until the grace period ends, then closes the rest with 421; it
    /// returns when every session has ended.
    pub async fn run(self) {
        let Self {
            listeners,
            shared,
            handle,
        } = self;
        let mut stop = handle.stop.subscribe();
        let mut accepting = JoinSet::new();
        for listener in listeners {
            let shared = Arc::clone(&shared);
            accepting.spawn(accept_loop(listener, shared));
        }
        if stop.borrow_and_update().is_none() {
            let _ = stop.changed().await;
        }
        accepting.shutdown().await;
        let deadline = (*stop.borrow()).unwrap_or_else(Instant::now);
        info!(
            sessions = shared.limits.active.load(Ordering::Acquire),
            "shutting down"
        );
        // Sessions close themselves (421) once their transfers end or at the deadline; the
        // extra second covers the final replies and the lingering close.
        let all_ended = async {
            loop {
                let idle = shared.limits.idle.notified();
                if shared.limits.active.load(Ordering::Acquire) == 0 {
                    return;
                }
                idle.await;
            }
        };
        let hard_stop = tokio::time::Instant::from_std(deadline) + Duration::from_secs(3);
        if tokio::time::timeout_at(hard_stop, all_ended).await.is_err() {
            warn!(
                sessions = shared.limits.active.load(Ordering::Acquire),
                "sessions still open after the shutdown deadline"
            );
        }
    }
}

async fn accept_loop<S: Storage, A: Authenticator>(
    Listener { listener, implicit }: Listener,
    shared: Arc<Shared<S, A>>,
) {
    let addr = listener.local_addr().ok();
    // On a listener bound to one address every connection's local end is that address: no
    // getsockname per connection.
    let local = addr.filter(|addr| !addr.ip().is_unspecified());
    let span = info_span!("listener", addr = ?addr, implicit_tls = implicit);
    let mut errors = AcceptErrors::default();
    async move {
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(err) if data::is_transient(&err) => {
                    errors.failed(&err, Instant::now());
                    tokio::time::sleep(ACCEPT_RETRY).await;
                    continue;
                }
                Err(err) => {
                    warn!(error = %err, "accept failed; listener stopped");
                    return;
                }
            };
            if shared
                .login_failures
                .blocked(data::canonical(peer.ip()), Instant::now())
            {
                debug!(%peer, "too many failed logins from this address; refused with 421");
                tokio::spawn(refuse(stream, BLOCKED));
                continue;
            }
            match admit(&shared, peer.ip()) {
                Some(slot) => {
                    let shared = Arc::clone(&shared);
                    tokio::spawn(async move {
                        connection::serve(stream, peer, local, shared, implicit).await;
                        drop(slot);
                    });
                }
                None => {
                    debug!(%peer, "session limit reached; refused with 421");
                    tokio::spawn(refuse(stream, TOO_MANY));
                }
            }
        }
    }
    .instrument(span)
    .await;
}

/// The warnings of one listener's transient accept errors, rate-limited: while the process is
/// at its open-file limit every retry fails, [`ACCEPT_RETRY`] apart, and a warning for each
/// would flood the log. The first error is a warning; later ones are debug events, with a
/// warning at most once per [`ACCEPT_WARN_INTERVAL`] that counts those not warned about since
/// the previous one.
#[derive(Debug, Default)]
struct AcceptErrors {
    /// When the last warning was logged.
    warned: Option<Instant>,
    /// Errors since then that were not warned about.
    suppressed: u64,
}

impl AcceptErrors {
    /// Logs one accept error that happened at `now`.
    fn failed(&mut self, err: &io::Error, now: Instant) {
        let due = self
            .warned
            .is_none_or(|at| now.saturating_duration_since(at) >= ACCEPT_WARN_INTERVAL);
        if due {
            warn!(
                error = %err,
                not_logged = self.suppressed,
                "accept failed; retrying (warned at most every {} s, with the count of the \
                 errors not logged since the last warning)",
                ACCEPT_WARN_INTERVAL.as_secs()
            );
            self.warned = Some(now);
            self.suppressed = 0;
        } else {
            debug!(error = %err, "accept failed; retrying");
            self.suppressed += 1;
        }
    }
}

/// Answers a connection over a limit with `reply` (a 421) and closes it.
async fn refuse(mut stream: TcpStream, reply: &'static [u8]) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let limit = Duration::from_secs(5);
    let _ = tokio::time::timeout(limit, stream.write_all(reply)).await;
    let _ = stream.shutdown().await;
    let mut scratch = [0u8; 256];
    let _ = tokio::time::timeout(Duration::from_millis(500), stream.read(&mut scratch)).await;
}

/// Starts a graceful shutdown of a [`BoundServer`]; cheap to clone.
#[derive(Debug, Clone)]
pub struct ShutdownHandle {
    stop: Arc<watch::Sender<Option<Instant>>>,
    grace: Duration,
}

impl ShutdownHandle {
    /// Stops accepting; idle sessions get 421 now, running transfers may finish within the
    /// grace period, then the rest get 421. Calling it again changes nothing.
    pub fn shutdown(&self) {
        let deadline = Instant::now() + self.grace;
        self.stop.send_if_modified(|state| {
            if state.is_some() {
                return false;
            }
            *state = Some(deadline);
            true
        });
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// Log lines written by the `fmt` subscriber, kept in memory.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn accept_errors_warn_at_most_once_per_interval_with_a_count() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::WARN)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        // 20 s at the open-file limit: one error per retry.
        let emfile = io::Error::from_raw_os_error(24);
        let start = Instant::now();
        let retries = 20 * 1000 / ACCEPT_RETRY.as_millis() as u32;
        tracing::subscriber::with_default(subscriber, || {
            let mut errors = AcceptErrors::default();
            for n in 0..retries {
                errors.failed(&emfile, start + ACCEPT_RETRY * n);
            }
        });
        let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        let warnings: Vec<&str> = log.lines().filter(|l| l.contains("WARN")).collect();
        assert_eq!(warnings.len(), 2, "{log}");
        assert!(warnings[0].contains("not_logged=0"), "{log}");
        // Every retry in the first 10 s but the first.
        let between = ACCEPT_WARN_INTERVAL.as_millis() / ACCEPT_RETRY.as_millis() - 1;
        assert!(
            warnings[1].contains(&format!("not_logged={between}")),
            "{log}"
        );
    }
}
