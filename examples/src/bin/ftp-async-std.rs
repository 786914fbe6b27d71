//! A small FTP client on **async-std**, driving `ftp_proto::client::Session` directly: no tokio
//! and no `ftp-client-tokio`, which proves the sans-IO core needs no particular runtime.
//!
//! ```text
//! ftp-async-std [--user NAME --password PW] [--active] HOST:PORT ls [DIR]
//! ftp-async-std ... HOST:PORT get REMOTE LOCAL
//! ftp-async-std ... HOST:PORT put LOCAL REMOTE
//! ftp-async-std ... HOST:PORT rm REMOTE | mkdir REMOTE | rmdir REMOTE
//! ```
//!
//! `ls` prints one line per entry: `d` or `-`, the size in bytes, the name (parsed from MLSD,
//! or from LIST when the server lacks MLSD). Exit status: 0 on success, 1 when the server
//! refused or the connection failed, 2 for usage errors.
//!
//! The driver follows the core's contract: feed what happened (`handle_control`,
//! `handle_data`, `handle_eof`, `handle_timeout`), drain `poll_output`, carry each output out.
//! Inputs from the control reader and the data tasks arrive on one channel, so the loop waits
//! on that channel with the session's next deadline as its timeout.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a command-line program: what it prints is its interface"
)]

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use async_std::channel::{self, Receiver, Sender};
use async_std::future::timeout;
use async_std::io::{ReadExt, WriteExt};
use async_std::net::{TcpListener, TcpStream};
use async_std::task::{self, JoinHandle};
use clap::{Parser, Subcommand};
use ftp_proto::client::{
    CommandHandle, Config, CopyError, DataAction, DataError, DataId, DataInput, Direction, Event,
    Output, Session, TransferDone,
};
use ftp_proto::listing::{EntryKind, ListingFormat, parse_listing};
use ftp_proto::{Command, FtpPath, ListArgs, Reply, ReplyClass, Timestamp, TransferType, ascii};

/// How long a data connection may stay silent.
const DATA_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest download or listing kept in memory.
const MAX_DATA: usize = 256 * 1024 * 1024;

#[derive(Parser, Debug)]
#[command(about = "A small FTP client on async-std, driving ftp-proto's client Session")]
struct Args {
    /// User name (default: anonymous).
    #[arg(long, default_value = "anonymous")]
    user: String,
    /// Password.
    #[arg(long, default_value = "guest@example.com")]
    password: String,
    /// Active mode (EPRT/PORT) instead of passive (EPSV/PASV).
    #[arg(long)]
    active: bool,
    /// The server, as HOST:PORT.
    server: String,
    #[command(subcommand)]
    op: Op,
}

#[derive(Subcommand, Debug)]
enum Op {
    /// List a directory.
    Ls { dir: Option<String> },
    /// Download REMOTE into LOCAL.
    Get { remote: String, local: String },
    /// Upload LOCAL as REMOTE.
    Put { local: String, remote: String },
    /// Delete a file.
    Rm { remote: String },
    /// Create a directory.
    Mkdir { remote: String },
    /// Remove an empty directory.
    Rmdir { remote: String },
}

fn main() {
    let args = Args::parse();
    match task::block_on(run(args)) {
        Ok(()) => {}
        Err(e) => {
            eprintln!("ftp-async-std: {e}");
            std::process::exit(1);
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    let config = Config {
        passive: !args.active,
        ..Config::default()
    };
    let mut client = Client::connect(&args.server, config)
        .await
        .map_err(|e| format!("connect to {}: {e}", args.server))?;
    client.greeting().await?;
    client.login(&args.user, &args.password).await?;
    client.expect_ok(Command::Type(TransferType::Image)).await?;
    match args.op {
        Op::Ls { dir } => {
            let path = dir.map(FtpPath::from);
            let (listing, format) = match client.download(Command::Mlsd(path.clone()), false).await
            {
                Ok(bytes) => (bytes, Some(ListingFormat::Mlsx)),
                Err(_) => {
                    let list = Command::List(ListArgs {
                        options: None,
                        path,
                    });
                    (client.download(list, false).await?, None)
                }
            };
            let mut out = String::new();
            for entry in parse_listing(&listing, format, now_utc()).entries {
                let kind = if entry.kind == EntryKind::Dir {
                    'd'
                } else {
                    '-'
                };
                let name = String::from_utf8_lossy(&entry.name);
                out.push_str(&format!("{kind} {:>12} {name}\n", entry.size));
            }
            print!("{out}");
        }
        Op::Get { remote, local } => {
            let bytes = client.download(Command::Retr(remote.into()), false).await?;
            std::fs::write(&local, bytes).map_err(|e| format!("{local}: {e}"))?;
        }
        Op::Put { local, remote } => {
            let bytes = std::fs::read(&local).map_err(|e| format!("{local}: {e}"))?;
            client.upload(Command::Stor(remote.into()), bytes).await?;
        }
        Op::Rm { remote } => client.expect_ok(Command::Dele(remote.into())).await?,
        Op::Mkdir { remote } => client.expect_ok(Command::Mkd(remote.into())).await?,
        Op::Rmdir { remote } => client.expect_ok(Command::Rmd(remote.into())).await?,
    }
    // QUIT's reply does not matter once the work is done.
    let _ = client.command(Command::Quit).await;
    Ok(())
}

/// An input for the session, from whichever task observed it.
enum Input {
    Control(Vec<u8>),
    ControlClosed,
    Data(DataInput),
    Stream(DataId, TcpStream),
    /// A download's bytes, then its `Finished`.
    Received(DataId, Vec<u8>, Result<(), CopyError>),
}

/// One control connection and what its data channels hold.
struct Client {
    session: Session,
    control: TcpStream,
    inbox: Receiver<Input>,
    sender: Sender<Input>,
    events: VecDeque<Event>,
    streams: HashMap<DataId, TcpStream>,
    tasks: HashMap<DataId, JoinHandle<()>>,
    /// A transfer the session asked for before its (active-mode) connection arrived.
    waiting: HashMap<DataId, (Direction, bool)>,
    /// What an upload sends.
    source: Vec<u8>,
    /// What a download received.
    received: Vec<u8>,
}

impl Drop for Client {
    fn drop(&mut self) {
        // Dropping a JoinHandle detaches the task; the reader ends when the socket closes.
        let _ = self.control.shutdown(std::net::Shutdown::Both);
    }
}

impl Client {
    async fn connect(server: &str, config: Config) -> io::Result<Self> {
        let control = timeout(Duration::from_secs(30), TcpStream::connect(server))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))??;
        control.set_nodelay(true)?;
        let peer = control.peer_addr()?;
        let session = Session::new(config, peer, Instant::now());
        let (sender, inbox) = channel::bounded(16);
        task::spawn(read_control(control.clone(), sender.clone()));
        Ok(Self {
            session,
            control,
            inbox,
            sender,
            events: VecDeque::new(),
            streams: HashMap::new(),
            tasks: HashMap::new(),
            waiting: HashMap::new(),
            source: Vec::new(),
            received: Vec::new(),
        })
    }

    async fn greeting(&mut self) -> Result<(), String> {
        let reply = self.reply_for(CommandHandle::GREETING).await?;
        if positive(&reply) {
            Ok(())
        } else {
            Err(format!("greeting: {}", show(&reply)))
        }
    }

    async fn login(&mut self, user: &str, password: &str) -> Result<(), String> {
        let reply = self.command(Command::User(user.to_owned())).await?;
        let reply = if reply.code().class() == ReplyClass::PositiveIntermediate {
            let pass = Command::Pass(password.as_bytes().to_vec().into());
            self.command(pass).await?
        } else {
            reply
        };
        if positive(&reply) {
            Ok(())
        } else {
            Err(format!("login: {}", show(&reply)))
        }
    }

    async fn expect_ok(&mut self, command: Command) -> Result<(), String> {
        let verb = command.verb().map_or("command", |v| v.as_str());
        let reply = self.command(command).await?;
        if positive(&reply) {
            Ok(())
        } else {
            Err(format!("{verb}: {}", show(&reply)))
        }
    }

    async fn command(&mut self, command: Command) -> Result<Reply, String> {
        let handle = self
            .session
            .send(Instant::now(), command)
            .map_err(|e| e.to_string())?;
        self.reply_for(handle).await
    }

    async fn reply_for(&mut self, handle: CommandHandle) -> Result<Reply, String> {
        loop {
            match self.next_event().await? {
                Event::Reply { handle: h, reply } if h == handle => return Ok(reply),
                Event::Failed { handle: h, error } if h == handle => return Err(error.to_string()),
                _ => {}
            }
        }
    }

    async fn download(&mut self, command: Command, ascii_mode: bool) -> Result<Vec<u8>, String> {
        self.received.clear();
        self.run_transfer(command).await?;
        let bytes = std::mem::take(&mut self.received);
        Ok(if ascii_mode {
            ascii::from_wire(&bytes)
        } else {
            bytes
        })
    }

    async fn upload(&mut self, command: Command, bytes: Vec<u8>) -> Result<TransferDone, String> {
        self.source = bytes;
        let done = self.run_transfer(command).await;
        self.source.clear();
        done
    }

    async fn run_transfer(&mut self, command: Command) -> Result<TransferDone, String> {
        let handle = self
            .session
            .transfer(Instant::now(), command, None)
            .map_err(|e| e.to_string())?;
        loop {
            match self.next_event().await? {
                Event::Transfer { handle: h, result } if h == handle => {
                    return result.map_err(|e| e.to_string());
                }
                Event::Failed { handle: h, error } if h == handle => return Err(error.to_string()),
                _ => {}
            }
        }
    }

    /// Drives the session until it reports an event.
    async fn next_event(&mut self) -> Result<Event, String> {
        loop {
            while let Some(output) = self.session.poll_output() {
                match output {
                    Output::Transmit(bytes) => {
                        match timeout(DATA_TIMEOUT, self.control.write_all(&bytes)).await {
                            Ok(Ok(())) => {}
                            Ok(Err(e)) => return Err(format!("control connection: {e}")),
                            Err(_) => return Err("control connection: write timed out".into()),
                        }
                    }
                    Output::Data(action) => self.data(action).await,
                    Output::Event(Event::Closed(error)) => {
                        self.events.push_back(Event::Closed(error));
                    }
                    Output::Event(event) => self.events.push_back(event),
                    // This client never sends AUTH.
                    _ => return Err("unexpected TLS upgrade".into()),
                }
            }
            if let Some(event) = self.events.pop_front() {
                if let Event::Closed(error) = &event {
                    return Err(format!("session ended: {error}"));
                }
                return Ok(event);
            }
            let input = match self.session.poll_timeout() {
                Some(at) => {
                    let wait = at.saturating_duration_since(Instant::now());
                    match timeout(wait, self.inbox.recv()).await {
                        Ok(input) => input.ok(),
                        Err(_) => {
                            self.session.handle_timeout(Instant::now());
                            continue;
                        }
                    }
                }
                None => self.inbox.recv().await.ok(),
            };
            let now = Instant::now();
            match input {
                Some(Input::Control(bytes)) => self.session.handle_control(now, &bytes),
                Some(Input::Data(input)) => self.session.handle_data(now, input),
                Some(Input::Stream(id, stream)) => {
                    // A channel closed meanwhile: its connection is dropped.
                    if self.tasks.remove(&id).is_none() {
                        continue;
                    }
                    self.session.handle_data(now, DataInput::Connected { id });
                    match self.waiting.remove(&id) {
                        Some((direction, ascii)) => self.copy(id, stream, direction, ascii),
                        None => {
                            self.streams.insert(id, stream);
                        }
                    }
                }
                Some(Input::Received(id, bytes, result)) => {
                    // The bytes of a channel closed meanwhile are not this transfer's.
                    if self.tasks.remove(&id).is_none() {
                        continue;
                    }
                    let count = bytes.len() as u64;
                    self.received = bytes;
                    let finished = DataInput::Finished {
                        id,
                        bytes: count,
                        result,
                    };
                    self.session.handle_data(now, finished);
                }
                Some(Input::ControlClosed) | None => self.session.handle_eof(now),
            }
        }
    }

    async fn data(&mut self, action: DataAction) {
        let sender = self.sender.clone();
        match action {
            DataAction::Connect { id, to } => {
                let connect = task::spawn(async move {
                    let input = match timeout(DATA_TIMEOUT, TcpStream::connect(to)).await {
                        Ok(Ok(stream)) => Input::Stream(id, stream),
                        _ => Input::Data(DataInput::Failed {
                            id,
                            error: DataError::Connect,
                        }),
                    };
                    let _ = sender.send(input).await;
                });
                self.tasks.insert(id, connect);
            }
            DataAction::Listen { id, .. } => {
                let local = self.control.local_addr().map(|a| a.ip());
                let bound = match local {
                    Ok(ip) => TcpListener::bind(SocketAddr::new(ip, 0)).await,
                    Err(e) => Err(e),
                };
                let addr = bound.as_ref().ok().and_then(|l| l.local_addr().ok());
                let (Ok(listener), Some(addr)) = (bound, addr) else {
                    let failed = DataInput::Failed {
                        id,
                        error: DataError::Listen,
                    };
                    self.session.handle_data(Instant::now(), failed);
                    return;
                };
                self.session
                    .handle_data(Instant::now(), DataInput::Listening { id, addr });
                let peer = self.session.peer().ip();
                let accept = task::spawn(async move {
                    // Only the server's address may connect; anyone else is dropped. One
                    // deadline for the whole wait: strangers connecting cannot extend it.
                    let deadline = Instant::now() + DATA_TIMEOUT;
                    let input = loop {
                        let left = deadline.saturating_duration_since(Instant::now());
                        match timeout(left, listener.accept()).await {
                            Ok(Ok((stream, from))) if canonical(from.ip()) == canonical(peer) => {
                                break Input::Stream(id, stream);
                            }
                            Ok(Ok(_)) => continue,
                            _ => {
                                break Input::Data(DataInput::Failed {
                                    id,
                                    error: DataError::Accept,
                                });
                            }
                        }
                    };
                    let _ = sender.send(input).await;
                });
                self.tasks.insert(id, accept);
            }
            DataAction::Transfer {
                id,
                direction,
                ascii,
                ..
            } => match self.streams.remove(&id) {
                Some(stream) => self.copy(id, stream, direction, ascii),
                None => {
                    self.waiting.insert(id, (direction, ascii));
                }
            },
            DataAction::Close { id } => {
                self.streams.remove(&id);
                self.waiting.remove(&id);
                if let Some(task) = self.tasks.remove(&id) {
                    task.cancel().await;
                }
            }
            _ => {}
        }
    }

    /// Starts the copy over an established data connection.
    fn copy(&mut self, id: DataId, mut stream: TcpStream, direction: Direction, ascii_mode: bool) {
        let sender = self.sender.clone();
        let copy = match direction {
            Direction::Receive => task::spawn(async move {
                let (bytes, result) = receive(&mut stream).await;
                let _ = sender.send(Input::Received(id, bytes, result)).await;
            }),
            Direction::Send => {
                let source = if ascii_mode {
                    ascii::to_wire(&self.source)
                } else {
                    self.source.clone()
                };
                task::spawn(async move {
                    let result = match timeout(DATA_TIMEOUT, stream.write_all(&source)).await {
                        Ok(Ok(())) => Ok(()),
                        Ok(Err(_)) => Err(CopyError::ConnectionLost),
                        Err(_) => Err(CopyError::TimedOut),
                    };
                    // Closing the connection marks the end of the file.
                    let _ = stream.shutdown(std::net::Shutdown::Write);
                    let bytes = if result.is_ok() {
                        source.len() as u64
                    } else {
                        0
                    };
                    let finished = DataInput::Finished { id, bytes, result };
                    let _ = sender.send(Input::Data(finished)).await;
                })
            }
        };
        self.tasks.insert(id, copy);
    }
}

/// Reads a download to the server's close.
async fn receive(stream: &mut TcpStream) -> (Vec<u8>, Result<(), CopyError>) {
    let mut bytes = Vec::new();
    let mut buf = vec![0; 64 * 1024];
    loop {
        match timeout(DATA_TIMEOUT, stream.read(&mut buf)).await {
            Ok(Ok(0)) => return (bytes, Ok(())),
            Ok(Ok(n)) => {
                bytes.extend_from_slice(buf.get(..n).unwrap_or_default());
                if bytes.len() > MAX_DATA {
                    return (bytes, Err(CopyError::TooLarge));
                }
            }
            Ok(Err(_)) => return (bytes, Err(CopyError::ConnectionLost)),
            Err(_) => return (bytes, Err(CopyError::TimedOut)),
        }
    }
}

/// Reads the control connection and forwards what arrives.
async fn read_control(mut control: TcpStream, sender: Sender<Input>) {
    let mut buf = vec![0; 4096];
    loop {
        match control.read(&mut buf).await {
            Ok(0) | Err(_) => {
                let _ = sender.send(Input::ControlClosed).await;
                return;
            }
            Ok(n) => {
                let bytes = buf.get(..n).unwrap_or_default().to_vec();
                if sender.send(Input::Control(bytes)).await.is_err() {
                    return;
                }
            }
        }
    }
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn show(reply: &Reply) -> String {
    format!("{} {}", reply.code(), reply.text())
}

fn positive(reply: &Reply) -> bool {
    reply.code().class() == ReplyClass::PositiveCompletion
}

/// The current time (UTC), which LIST year inference needs.
fn now_utc() -> Timestamp {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    Timestamp::from_unix(secs).unwrap_or_else(|| Timestamp::from_unix(0).expect("epoch"))
}
