//! A small but real FTP server on **async-std**, driving `ftp_proto::server::Session` directly:
//! no tokio and no `ftp-server-tokio`, which proves the sans-IO core needs no particular runtime.
//!
//! Files live in memory, shared by all sessions: LIST, NLST, MLSD, MLST, RETR (with REST),
//! STOR, APPE, DELE, MKD, RMD, RNFR/RNTO, SIZE and MDTM, in passive (PASV/EPSV) and active
//! (PORT/EPRT) mode, TYPE A and I. Anonymous users may read; users given with `--user` may also
//! write.
//!
//! ```text
//! cargo run --bin ftpd-async-std -- --listen 127.0.0.1:2122 --user alice:secret
//! curl -T notes.txt ftp://alice:secret@127.0.0.1:2122/
//! curl ftp://127.0.0.1:2122/notes.txt
//! ```
//!
//! The driver follows the core's contract: feed what happened (`handle_control`,
//! `handle_data`, `respond`, `handle_timeout`), then drain `poll_output` and carry each output
//! out. Every input arrives on one channel (control reads, data-task results), so the loop
//! needs no `select!`: it waits on the channel with the session's next deadline as timeout.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a command-line program: what it prints is its interface"
)]

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_std::channel::{self, Receiver, Sender};
use async_std::future::timeout;
use async_std::io::{ReadExt, WriteExt};
use async_std::net::{TcpListener, TcpStream};
use async_std::task::{self, JoinHandle};
use clap::Parser;
use ftp_proto::ascii;
use ftp_proto::listing::Entry;
use ftp_proto::server::{
    Config, ConnectionInfo, DataAction, DataError, DataId, DataInput, Direction, Family, FsError,
    ListKind, Output, Request, Response, Session, StoreMode, Ticket, TransferError,
};
use ftp_proto::{Timestamp, VirtualPath};

/// Largest file an upload may create (the store is in memory).
const MAX_FILE: usize = 64 * 1024 * 1024;
/// Most bytes all files together may take.
const MAX_STORE: usize = 512 * 1024 * 1024;
/// Most sessions at once, and from one IP address (421 beyond).
const MAX_SESSIONS: usize = 256;
const MAX_SESSIONS_PER_IP: usize = 16;
/// Longest a reply may take to be written: a client that stops reading its control
/// connection is dropped instead of pinning the session.
const CONTROL_WRITE: Duration = Duration::from_secs(30);
/// How long a data connection may stay silent during a copy.
const DATA_IDLE: Duration = Duration::from_secs(60);
/// Control bytes read at a time.
const READ_CHUNK: usize = 4096;

#[derive(Parser, Debug)]
#[command(about = "A small FTP server on async-std with in-memory files")]
struct Args {
    /// Address to listen on (port 0 picks a free port; the chosen address is printed).
    #[arg(long, default_value = "127.0.0.1:2122")]
    listen: SocketAddr,
    /// A user who may read and write, as NAME:PASSWORD (repeatable).
    #[arg(long = "user", value_name = "NAME:PASSWORD")]
    users: Vec<String>,
    /// Refuse anonymous logins.
    #[arg(long)]
    no_anonymous: bool,
}

fn main() {
    let args = Args::parse();
    let mut users = HashMap::new();
    for spec in &args.users {
        let Some((name, password)) = spec.split_once(':') else {
            eprintln!("ftpd-async-std: --user wants NAME:PASSWORD, got {spec:?}");
            std::process::exit(2);
        };
        users.insert(name.to_owned(), password.as_bytes().to_vec());
    }
    let mut config = Config::default();
    config.anonymous = !args.no_anonymous;
    // MFMT would need a clock-independent answer; this store keeps upload times only.
    config.capabilities.set_mtime = false;
    let shared = Arc::new(Shared {
        config: Arc::new(config),
        users,
        files: Mutex::new(Store::default()),
        sessions: Mutex::new(HashMap::new()),
    });
    if let Err(e) = task::block_on(serve(args.listen, shared)) {
        eprintln!("ftpd-async-std: {e}");
        std::process::exit(1);
    }
}

async fn serve(listen: SocketAddr, shared: Arc<Shared>) -> io::Result<()> {
    let listener = TcpListener::bind(listen).await?;
    // The tests read this line to learn the port.
    println!("listening on {}", listener.local_addr()?);
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                eprintln!("ftpd-async-std: accept: {e}");
                task::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // Session caps, as the design's secure defaults ask: 421 and close beyond them.
        let Some(slot) = Slot::claim(&shared, canonical(peer.ip())) else {
            let mut stream = stream;
            let busy = b"421 Too many connections; try again later\r\n";
            let _ = timeout(CONTROL_WRITE, stream.write_all(busy)).await;
            continue;
        };
        let shared = Arc::clone(&shared);
        task::spawn(async move {
            let _slot = slot;
            if let Err(e) = Connection::run(stream, peer, shared).await {
                eprintln!("ftpd-async-std: {peer}: {e}");
            }
        });
    }
}

/// What every session shares: the configuration, the users, the files and the session
/// counts.
struct Shared {
    config: Arc<Config>,
    users: HashMap<String, Vec<u8>>,
    files: Mutex<Store>,
    sessions: Mutex<HashMap<IpAddr, usize>>,
}

/// One session's place in the counts, given back when dropped.
struct Slot {
    shared: Arc<Shared>,
    ip: IpAddr,
}

impl Slot {
    fn claim(shared: &Arc<Shared>, ip: IpAddr) -> Option<Self> {
        let mut sessions = shared
            .sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let total: usize = sessions.values().sum();
        let here = sessions.entry(ip).or_insert(0);
        if total >= MAX_SESSIONS || *here >= MAX_SESSIONS_PER_IP {
            return None;
        }
        *here += 1;
        Some(Self {
            shared: Arc::clone(shared),
            ip,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut sessions = self
            .shared
            .sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = sessions.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                sessions.remove(&self.ip);
            }
        }
    }
}

impl Shared {
    fn files(&self) -> MutexGuard<'_, Store> {
        self.files.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One object in the store.
#[derive(Clone)]
enum Node {
    File {
        data: Arc<Vec<u8>>,
        modified: Timestamp,
    },
    Dir {
        modified: Timestamp,
    },
}

/// In-memory files keyed by their absolute virtual path ("/a/b"). The root always exists.
#[derive(Default)]
struct Store {
    nodes: BTreeMap<Vec<u8>, Node>,
}

fn key(path: &VirtualPath) -> Vec<u8> {
    path.as_bytes().to_vec()
}

fn now_timestamp() -> Timestamp {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    Timestamp::from_unix(secs).unwrap_or_else(|| Timestamp::from_unix(0).expect("epoch"))
}

impl Store {
    fn get(&self, path: &VirtualPath) -> Option<Node> {
        if path.as_bytes() == b"/" {
            return Some(Node::Dir {
                modified: Timestamp::from_unix(0).expect("epoch"),
            });
        }
        self.nodes.get(path.as_bytes()).cloned()
    }

    fn is_dir(&self, path: &VirtualPath) -> bool {
        matches!(self.get(path), Some(Node::Dir { .. }))
    }

    /// The children of a directory, as (name, node).
    fn children(&self, dir: &VirtualPath) -> Vec<(Vec<u8>, Node)> {
        let mut prefix = key(dir);
        if prefix != b"/" {
            prefix.push(b'/');
        }
        self.nodes
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .filter_map(|(k, node)| {
                let name = k.get(prefix.len()..)?;
                (!name.is_empty() && !name.contains(&b'/')).then(|| (name.to_vec(), node.clone()))
            })
            .collect()
    }

    fn entry(name: &[u8], node: &Node) -> Entry {
        match node {
            Node::File { data, modified } => {
                let mut e = Entry::file(name.to_vec(), data.len() as u64);
                e.modified = Some(*modified);
                e
            }
            Node::Dir { modified } => {
                let mut e = Entry::dir(name.to_vec());
                e.modified = Some(*modified);
                e
            }
        }
    }

    /// The file or empty directory at `path` is removed; directories only when `dir`.
    fn remove(&mut self, path: &VirtualPath, dir: bool) -> Result<(), FsError> {
        match self.get(path) {
            None => Err(FsError::NotFound),
            Some(Node::Dir { .. }) if !dir => Err(FsError::IsADirectory),
            Some(Node::File { .. }) if dir => Err(FsError::NotADirectory),
            Some(Node::Dir { .. }) if path.as_bytes() == b"/" => Err(FsError::PermissionDenied),
            Some(Node::Dir { .. }) if !self.children(path).is_empty() => {
                Err(FsError::DirectoryNotEmpty)
            }
            Some(_) => {
                self.nodes.remove(path.as_bytes());
                Ok(())
            }
        }
    }

    fn rename(&mut self, from: &VirtualPath, to: &VirtualPath) -> Result<(), FsError> {
        let node = self.get(from).ok_or(FsError::NotFound)?;
        if from.as_bytes() == b"/" || to.as_bytes() == b"/" {
            return Err(FsError::PermissionDenied);
        }
        if !self.is_dir(&to.parent()) {
            return Err(FsError::NotFound);
        }
        if matches!(self.get(to), Some(Node::Dir { .. })) {
            return Err(FsError::AlreadyExists);
        }
        let mut from_prefix = key(from);
        from_prefix.push(b'/');
        if to.as_bytes().starts_with(&from_prefix) {
            return Err(FsError::PermissionDenied);
        }
        // Move the object and, for a directory, everything beneath it.
        let moved: Vec<(Vec<u8>, Node)> = self
            .nodes
            .range(from_prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&from_prefix))
            .map(|(k, n)| (k.clone(), n.clone()))
            .collect();
        self.nodes.remove(from.as_bytes());
        self.nodes.insert(key(to), node);
        for (old, n) in moved {
            self.nodes.remove(&old);
            let mut new = key(to);
            new.extend_from_slice(&old[from_prefix.len() - 1..]);
            self.nodes.insert(new, n);
        }
        Ok(())
    }
}

/// What an approved RETR or STOR opened, kept until its transfer runs.
enum Opened {
    Read {
        data: Arc<Vec<u8>>,
        offset: usize,
    },
    Write {
        path: VirtualPath,
        offset: u64,
        mode: StoreMode,
    },
}

/// An input for the session, from whichever task observed it.
enum Event {
    Control(Vec<u8>),
    ControlClosed,
    Data(DataInput),
    /// A data connection is ready for the channel (kept until its transfer action).
    Stream(DataId, TcpStream),
}

/// One control connection.
struct Connection {
    session: Session,
    shared: Arc<Shared>,
    control: TcpStream,
    events: Sender<Event>,
    /// The user may write (a named user, not anonymous).
    writable: bool,
    opened: HashMap<Ticket, Opened>,
    streams: HashMap<DataId, TcpStream>,
    tasks: HashMap<DataId, JoinHandle<()>>,
}

impl Connection {
    async fn run(control: TcpStream, peer: SocketAddr, shared: Arc<Shared>) -> io::Result<()> {
        control.set_nodelay(true)?;
        let local = control.local_addr()?;
        let info = ConnectionInfo {
            peer,
            local,
            tls: false,
        };
        let session = Session::new(Arc::clone(&shared.config), info, Instant::now());
        // Bounded: a client that floods the control connection waits for the session.
        let (events, inbox) = channel::bounded(16);
        let reader = task::spawn(read_control(control.clone(), events.clone()));
        let mut conn = Connection {
            session,
            shared,
            control,
            events,
            writable: false,
            opened: HashMap::new(),
            streams: HashMap::new(),
            tasks: HashMap::new(),
        };
        let result = conn.drive(&inbox).await;
        reader.cancel().await;
        for (_, task) in conn.tasks.drain() {
            task.cancel().await;
        }
        result
    }

    async fn drive(&mut self, inbox: &Receiver<Event>) -> io::Result<()> {
        loop {
            if self.flush().await? {
                return Ok(());
            }
            let event = match self.session.poll_timeout() {
                Some(at) => {
                    let wait = at.saturating_duration_since(Instant::now());
                    match timeout(wait, inbox.recv()).await {
                        Ok(event) => event.ok(),
                        Err(_) => {
                            self.session.handle_timeout(Instant::now());
                            continue;
                        }
                    }
                }
                None => inbox.recv().await.ok(),
            };
            let now = Instant::now();
            match event {
                Some(Event::Control(bytes)) => self.session.handle_control(now, &bytes),
                Some(Event::Data(input)) => {
                    if let DataInput::Finished { id, .. } | DataInput::Failed { id, .. } = input {
                        self.tasks.remove(&id);
                    }
                    self.session.handle_data(now, input);
                }
                Some(Event::Stream(id, stream)) => {
                    // A channel closed meanwhile (re-PASV, ABOR) has no task left: drop its
                    // connection instead of keeping it for a transfer that will never come.
                    if self.tasks.remove(&id).is_some() {
                        self.streams.insert(id, stream);
                        self.session.handle_data(now, DataInput::Connected { id });
                    }
                }
                Some(Event::ControlClosed) | None => return Ok(()),
            }
        }
    }

    /// Carries out every queued output. True when the session closed.
    async fn flush(&mut self) -> io::Result<bool> {
        while let Some(output) = self.session.poll_output() {
            match output {
                Output::Transmit(bytes) => {
                    match timeout(CONTROL_WRITE, self.control.write_all(&bytes)).await {
                        Ok(written) => written?,
                        Err(_) => return Ok(true),
                    }
                }
                Output::Request { ticket, request } => {
                    let response = self.answer(ticket, request);
                    // The ticket came from this session; a mismatch would be this program's bug
                    // and the session has already answered the client with 451.
                    if let Err(e) = self.session.respond(Instant::now(), ticket, response) {
                        eprintln!("ftpd-async-std: respond: {e}");
                    }
                }
                Output::Data(action) => self.data(action).await,
                Output::Close => return Ok(true),
                // TLS is not configured, so the session never asks for it.
                _ => return Ok(true),
            }
        }
        Ok(false)
    }

    /// The application's decisions: logins and the in-memory files.
    fn answer(&mut self, ticket: Ticket, request: Request) -> Response {
        let result = match request {
            Request::Login {
                user,
                password,
                anonymous,
                ..
            } => {
                if anonymous {
                    self.writable = false;
                    return Response::LoggedIn;
                }
                let ok = self
                    .shared
                    .users
                    .get(&user)
                    .is_some_and(|p| p == password.expose_secret());
                self.writable = ok;
                return if ok {
                    Response::LoggedIn
                } else {
                    Response::LoginRejected
                };
            }
            Request::ChangeDir { path } => match self.shared.files().get(&path) {
                Some(Node::Dir { .. }) => Ok(Response::Ok),
                Some(_) => Err(FsError::NotADirectory),
                None => Err(FsError::NotFound),
            },
            Request::Retrieve {
                path,
                offset,
                ascii,
            } => match self.shared.files().get(&path) {
                Some(Node::File { data, .. }) => {
                    let offset = usize::try_from(offset)
                        .unwrap_or(usize::MAX)
                        .min(data.len());
                    let size = (data.len() - offset) as u64;
                    self.opened.insert(ticket, Opened::Read { data, offset });
                    Ok(if ascii {
                        Response::Ok
                    } else {
                        Response::Size(size)
                    })
                }
                Some(Node::Dir { .. }) => Err(FsError::IsADirectory),
                None => Err(FsError::NotFound),
            },
            Request::Store { path, offset, mode } => self.writable().and_then(|()| {
                let files = self.shared.files();
                if !files.is_dir(&path.parent()) {
                    return Err(FsError::NotFound);
                }
                if files.is_dir(&path) {
                    return Err(FsError::IsADirectory);
                }
                drop(files);
                self.opened
                    .insert(ticket, Opened::Write { path, offset, mode });
                Ok(Response::Ok)
            }),
            Request::List { path, kind, .. } => {
                let files = self.shared.files();
                match files.get(&path) {
                    Some(Node::Dir { .. }) => {
                        let entries = files
                            .children(&path)
                            .iter()
                            .map(|(name, node)| Store::entry(name, node))
                            .collect();
                        Ok(Response::Entries {
                            entries,
                            now: now_timestamp(),
                        })
                    }
                    Some(node) => {
                        let name = match kind {
                            ListKind::Nlst => path.as_bytes().to_vec(),
                            _ => path.file_name().unwrap_or(b"/").to_vec(),
                        };
                        Ok(Response::Entries {
                            entries: vec![Store::entry(&name, &node)],
                            now: now_timestamp(),
                        })
                    }
                    None => Err(FsError::NotFound),
                }
            }
            Request::Facts { path } => match self.shared.files().get(&path) {
                Some(node) => Ok(Response::Entry(Store::entry(
                    path.file_name().unwrap_or(b"/"),
                    &node,
                ))),
                None => Err(FsError::NotFound),
            },
            Request::Size { path, ascii } => match self.shared.files().get(&path) {
                Some(Node::File { data, .. }) if ascii => {
                    // Each LF not already after a CR becomes CRLF on the wire: count, do not copy.
                    let mut after_cr = false;
                    let mut grown = 0u64;
                    for &b in data.iter() {
                        if b == b'\n' && !after_cr {
                            grown += 1;
                        }
                        after_cr = b == b'\r';
                    }
                    Ok(Response::Size(data.len() as u64 + grown))
                }
                Some(Node::File { data, .. }) => Ok(Response::Size(data.len() as u64)),
                Some(Node::Dir { .. }) => Err(FsError::IsADirectory),
                None => Err(FsError::NotFound),
            },
            Request::ModificationTime { path } => match self.shared.files().get(&path) {
                Some(Node::File { modified, .. }) => Ok(Response::Time(modified)),
                Some(Node::Dir { .. }) => Err(FsError::IsADirectory),
                None => Err(FsError::NotFound),
            },
            Request::Delete { path } => self
                .writable()
                .and_then(|()| self.shared.files().remove(&path, false))
                .map(|()| Response::Ok),
            Request::RemoveDir { path } => self
                .writable()
                .and_then(|()| self.shared.files().remove(&path, true))
                .map(|()| Response::Ok),
            Request::MakeDir { path } => self.writable().and_then(|()| {
                let mut files = self.shared.files();
                if files.get(&path).is_some() {
                    Err(FsError::AlreadyExists)
                } else if !files.is_dir(&path.parent()) {
                    Err(FsError::NotFound)
                } else {
                    let modified = now_timestamp();
                    files.nodes.insert(key(&path), Node::Dir { modified });
                    Ok(Response::Ok)
                }
            }),
            Request::RenameFrom { path } => {
                self.writable()
                    .and_then(|()| match self.shared.files().get(&path) {
                        Some(_) => Ok(Response::Ok),
                        None => Err(FsError::NotFound),
                    })
            }
            Request::Rename { from, to } => self
                .writable()
                .and_then(|()| self.shared.files().rename(&from, &to))
                .map(|()| Response::Ok),
            // STOU, SITE, checksums, HOST, AVBL, MFMT: not offered by this server.
            _ => Err(FsError::NotSupported),
        };
        result.unwrap_or_else(Response::Error)
    }

    fn writable(&self) -> Result<(), FsError> {
        if self.writable {
            Ok(())
        } else {
            Err(FsError::PermissionDenied)
        }
    }

    async fn data(&mut self, action: DataAction) {
        let events = self.events.clone();
        match action {
            DataAction::Listen { id, family } => {
                let local = self.session_local();
                let ip = match (family, local.ip()) {
                    (Family::Ipv4, IpAddr::V6(v6)) => v6
                        .to_ipv4_mapped()
                        .map_or(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), IpAddr::V4),
                    (_, ip) => ip,
                };
                let listener = match TcpListener::bind(SocketAddr::new(ip, 0)).await {
                    Ok(l) => l,
                    Err(_) => {
                        let failed = DataInput::Failed {
                            id,
                            error: DataError::Listen,
                        };
                        self.session.handle_data(Instant::now(), failed);
                        return;
                    }
                };
                let addr = match listener.local_addr() {
                    Ok(addr) => addr,
                    Err(_) => SocketAddr::new(ip, 0),
                };
                self.session
                    .handle_data(Instant::now(), DataInput::Listening { id, addr });
                let peer = self.peer_ip();
                let accept = task::spawn(async move {
                    // Only the control peer may connect; others are dropped and we wait on.
                    // The session's data timeout closes the channel if nobody comes.
                    loop {
                        match listener.accept().await {
                            Ok((stream, from)) if canonical(from.ip()) == peer => {
                                let _ = events.send(Event::Stream(id, stream)).await;
                                return;
                            }
                            Ok(_) => continue,
                            Err(_) => {
                                let error = DataError::Listen;
                                let _ = events
                                    .send(Event::Data(DataInput::Failed { id, error }))
                                    .await;
                                return;
                            }
                        }
                    }
                });
                self.tasks.insert(id, accept);
            }
            DataAction::Connect { id, to } => {
                let connect = task::spawn(async move {
                    match TcpStream::connect(to).await {
                        Ok(stream) => {
                            let _ = events.send(Event::Stream(id, stream)).await;
                        }
                        Err(_) => {
                            let error = DataError::Connect;
                            let _ = events
                                .send(Event::Data(DataInput::Failed { id, error }))
                                .await;
                        }
                    }
                });
                self.tasks.insert(id, connect);
            }
            DataAction::Transfer {
                id,
                ticket,
                direction,
                ascii,
                ..
            } => {
                let (Some(stream), Some(opened)) =
                    (self.streams.remove(&id), self.opened.remove(&ticket))
                else {
                    let result = Err(TransferError::ConnectionLost);
                    let finished = DataInput::Finished { id, result };
                    self.session.handle_data(Instant::now(), finished);
                    return;
                };
                let shared = Arc::clone(&self.shared);
                let copy = task::spawn(async move {
                    let result = match (direction, opened) {
                        (Direction::Send, Opened::Read { data, offset }) => {
                            send(stream, data.get(offset..).unwrap_or_default(), ascii).await
                        }
                        (Direction::Receive, Opened::Write { path, offset, mode }) => {
                            receive(stream, &shared, &path, offset, mode, ascii).await
                        }
                        _ => Err(TransferError::ConnectionLost),
                    };
                    let _ = events
                        .send(Event::Data(DataInput::Finished { id, result }))
                        .await;
                });
                self.tasks.insert(id, copy);
            }
            DataAction::SendListing { id, bytes, .. } => {
                let Some(stream) = self.streams.remove(&id) else {
                    let result = Err(TransferError::ConnectionLost);
                    let finished = DataInput::Finished { id, result };
                    self.session.handle_data(Instant::now(), finished);
                    return;
                };
                let copy = task::spawn(async move {
                    let result = send(stream, &bytes, false).await;
                    let _ = events
                        .send(Event::Data(DataInput::Finished { id, result }))
                        .await;
                });
                self.tasks.insert(id, copy);
            }
            DataAction::Close { id } => {
                self.streams.remove(&id);
                if let Some(task) = self.tasks.remove(&id) {
                    task.cancel().await;
                }
            }
            DataAction::Release { ticket } => {
                self.opened.remove(&ticket);
            }
            // Listings are answered with entries, so the session never asks to stream one;
            // any other action is for features this server does not enable.
            other => {
                if let DataAction::StreamListing { id, .. } = other {
                    let result = Err(TransferError::ConnectionLost);
                    let finished = DataInput::Finished { id, result };
                    self.session.handle_data(Instant::now(), finished);
                }
            }
        }
    }

    fn session_local(&self) -> SocketAddr {
        self.control
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    fn peer_ip(&self) -> IpAddr {
        self.control
            .peer_addr()
            .map_or(IpAddr::from([127, 0, 0, 1]), |a| canonical(a.ip()))
    }
}

/// IPv4-mapped IPv6 addresses compare as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Reads the control connection and forwards what arrives.
async fn read_control(mut control: TcpStream, events: Sender<Event>) {
    let mut buf = vec![0; READ_CHUNK];
    loop {
        match control.read(&mut buf).await {
            Ok(0) | Err(_) => {
                let _ = events.send(Event::ControlClosed).await;
                return;
            }
            Ok(n) => {
                let bytes = buf.get(..n).unwrap_or_default().to_vec();
                if events.send(Event::Control(bytes)).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Writes a file (or listing) to the data connection and closes it: the close marks the end.
async fn send(mut stream: TcpStream, data: &[u8], ascii: bool) -> Result<u64, TransferError> {
    // TYPE A is converted chunk by chunk, so memory stays one chunk whatever the file size.
    let mut to_wire = ascii::ToWire::new();
    let mut wire = Vec::new();
    let mut sent = 0u64;
    for chunk in data.chunks(64 * 1024) {
        let bytes = if ascii {
            wire.clear();
            to_wire.convert(chunk, &mut wire);
            &wire[..]
        } else {
            chunk
        };
        match timeout(DATA_IDLE, stream.write_all(bytes)).await {
            Ok(Ok(())) => sent += bytes.len() as u64,
            _ => return Err(TransferError::ConnectionLost),
        }
    }
    stream
        .flush()
        .await
        .map_err(|_| TransferError::ConnectionLost)?;
    let _ = stream.shutdown(std::net::Shutdown::Write);
    Ok(sent)
}

/// Reads an upload to EOF, then stores it: a file replaced from `offset`, or appended to.
async fn receive(
    mut stream: TcpStream,
    shared: &Shared,
    path: &VirtualPath,
    offset: u64,
    mode: StoreMode,
    ascii: bool,
) -> Result<u64, TransferError> {
    let mut received = Vec::new();
    let mut buf = vec![0; 64 * 1024];
    loop {
        let n = match timeout(DATA_IDLE, stream.read(&mut buf)).await {
            Ok(Ok(n)) => n,
            _ => return Err(TransferError::ConnectionLost),
        };
        if n == 0 {
            break;
        }
        received.extend_from_slice(buf.get(..n).unwrap_or_default());
        if received.len() > MAX_FILE {
            return Err(TransferError::Storage(FsError::InsufficientStorage));
        }
    }
    let count = received.len() as u64;
    let content = if ascii {
        ascii::from_wire(&received)
    } else {
        received
    };
    let mut files = shared.files();
    let mut data = match (files.get(path), mode) {
        (Some(Node::File { data, .. }), StoreMode::Append) => data.as_ref().clone(),
        (Some(Node::File { data, .. }), StoreMode::Replace) if offset > 0 => {
            let keep = usize::try_from(offset)
                .unwrap_or(usize::MAX)
                .min(data.len());
            data.get(..keep).unwrap_or_default().to_vec()
        }
        (Some(Node::Dir { .. }), _) => return Err(TransferError::Storage(FsError::IsADirectory)),
        _ => Vec::new(),
    };
    let stored: usize = files
        .nodes
        .values()
        .map(|node| match node {
            Node::File { data, .. } => data.len(),
            Node::Dir { .. } => 0,
        })
        .sum();
    if data.len() + content.len() > MAX_FILE || stored + content.len() > MAX_STORE {
        return Err(TransferError::Storage(FsError::InsufficientStorage));
    }
    data.extend_from_slice(&content);
    files.nodes.insert(
        key(path),
        Node::File {
            data: Arc::new(data),
            modified: now_timestamp(),
        },
    );
    Ok(count)
}
