//! The sans-IO FTP server session: everything an FTP server decides, with no I/O.
//!
//! Owns the protocol state of one control connection: login, the gating table, the working
//! directory, representation settings, the data-channel plan, transfers, timers and the order
//! of replies. It never touches sockets, files or clocks: the driver feeds it bytes, data facts,
//! application answers and the time, and carries out what it outputs.
//!
//! # Driving a session
//!
//! Mutate once (`handle_*`, [`Session::respond`]), then drain [`Session::poll_output`] until it
//! returns `None`, then wait for I/O or [`Session::poll_timeout`]. Outputs are queued inside
//! the session, so unprompted replies (421 on timeout) come out the same way.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use ftp_proto::server::{Config, ConnectionInfo, Output, Request, Response, Session};
//!
//! // `now` is the driver's clock reading: the session never reads a clock itself.
//! # fn log_in(now: Instant) {
//! let conn = ConnectionInfo {
//!     peer: "127.0.0.1:50000".parse().unwrap(),
//!     local: "127.0.0.1:21".parse().unwrap(),
//!     tls: false,
//! };
//! let mut s = Session::new(Config::default().into(), conn, now);
//! let mut wire = Vec::new();
//! let mut drain = |s: &mut Session, wire: &mut Vec<u8>| {
//!     let mut requests = Vec::new();
//!     while let Some(out) = s.poll_output() {
//!         match out {
//!             Output::Transmit(bytes) => wire.extend(bytes),
//!             Output::Request { ticket, request } => requests.push((ticket, request)),
//!             _ => {}
//!         }
//!     }
//!     requests
//! };
//! drain(&mut s, &mut wire);
//! s.handle_control(now, b"USER alice\r\nPASS secret\r\n");
//! let requests = drain(&mut s, &mut wire);
//! let (ticket, Request::Login { user, .. }) = &requests[0] else { panic!() };
//! assert_eq!(user, "alice");
//! s.respond(now, *ticket, Response::LoggedIn).unwrap();
//! drain(&mut s, &mut wire);
//! assert_eq!(wire, b"220 Service ready\r\n331 Please specify the password\r\n230 Login successful\r\n");
//! assert_eq!(s.poll_timeout(), Some(now + Duration::from_secs(300))); // idle timeout
//! # }
//! ```
//!
//! (`tests/server_smoke.rs` runs this dialogue.)
//!
//! # What the driver must do
//!
//! - Enable `SO_OOBINLINE` on the control socket: clients such as Python's ftplib send `ABOR`
//!   as urgent data, and without it the final LF is removed from the stream.
//! - Write every [`Output::Transmit`] in order, and stop reading control input while much
//!   transmitted data is still unflushed (HELP, FEAT and STAT replies are larger than the
//!   commands that ask for them): TCP backpressure then bounds memory on both sides.
//! - After [`Output::UpgradeTls`], do the handshake and call [`Session::handle_tls_established`];
//!   the session ignores all control bytes until then, including bytes that arrived in the same
//!   read as `AUTH TLS` (they were sent in clear text and are never executed).
//! - Carry out data actions as [`DataAction`] describes, and enforce a data idle timeout while
//!   copying. Answer every [`Output::Request`] with [`Session::respond`]; a [`DataAction::Release`]
//!   names a request whose opened file will not be used.
//! - When the control connection ends (EOF, error, or after [`Output::Close`]), drop the session
//!   and close its data channels; release what was opened for requests still unanswered or whose
//!   transfers had not finished. Answers that arrive after the session closed get
//!   [`UsageError::UnknownTicket`].
//!
//! # Order of replies
//!
//! FTP answers commands in order. While a command waits for the application or a transfer
//! runs, later commands are queued (at most [`Config::max_queued_commands`]) and run when it
//! ends. The exceptions are RFC 959's: ABOR and STAT without argument act at once during a
//! transfer. So QUIT sent during a transfer answers 221 after the transfer's final reply.

pub mod config;
pub mod gating;
mod types;

pub use config::{Capabilities, Config, ConfigError, HashAlgorithm, TlsPolicy};
pub use types::{
    ConnectionInfo, DataAction, DataError, DataId, DataInput, Direction, Family, FsError,
    ListFormat, ListKind, Output, Request, Response, StoreMode, Ticket, TransferError, UsageError,
};

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::command::{
    AuthMechanism, ChecksumArgs, Command, EpsvMode, FileStructure, FormatControl, ListArgs,
    ProtectionLevel, TransferMode, TransferType, Verb,
};
use crate::error::ParseError;
use crate::framing::{Frame, LineFramer};
use crate::listing::{self, Entry, Facts};
use crate::path::{FtpPath, VirtualPath};
use crate::reply::{Reply, ReplyCode};
use crate::timestamp::Timestamp;
use gating::{DuringTransfer, Phase};

/// At most this many entries answer `STAT path`, a listing sent over the control connection
/// in one reply. When the application's [`Response::Entries`] holds more, the reply lists the
/// first this many and its last line before the end says that the listing was cut and to use
/// LIST or MLSD; so an application that stops reading a directory at the cap should read one
/// entry more, to tell a cut listing from one of exactly this many. LIST, NLST and MLSD (over
/// the data connection) have no cap.
pub const MAX_STAT_ENTRIES: usize = 10_000;

/// A command line waiting its turn.
#[derive(Debug)]
enum Queued {
    Line(Result<Command, ParseError>),
    Overlong,
    /// The 226 of an ABOR that aborted a transfer while earlier commands were still queued.
    AborReply,
}

/// The data channel prepared for the next transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Channel {
    None,
    /// A passive listener, announced; `connected` once the client connected early.
    Passive {
        id: DataId,
        connected: bool,
    },
    /// PORT/EPRT target, connected when a transfer starts.
    Active {
        to: SocketAddr,
    },
}

/// What a transfer carries.
#[derive(Debug)]
enum Payload {
    File {
        ticket: Ticket,
        direction: Direction,
    },
    Listing(Vec<u8>),
    Stream {
        ticket: Ticket,
        format: ListFormat,
    },
}

impl Payload {
    /// The request whose opened resources the application must release if this never runs.
    fn ticket(&self) -> Option<Ticket> {
        match self {
            Payload::File { ticket, .. } | Payload::Stream { ticket, .. } => Some(*ticket),
            Payload::Listing(_) => None,
        }
    }
}

/// What a command inherits from the one right before it.
#[derive(Debug, Default)]
struct Carried {
    rest: Option<u64>,
    rename_from: Option<VirtualPath>,
}

/// A transfer command that was approved.
#[derive(Debug)]
struct Transfer {
    id: DataId,
    payload: Option<Payload>,
    /// 150/125 sent and the action emitted.
    started: bool,
    bytes: u64,
    what: String,
    /// Text for the 150 reply.
    opening: String,
}

/// A command waiting for the application.
#[derive(Debug)]
enum Pending {
    /// PASS arrived at `at`: a failure is answered `failed_login_delay` after it.
    Login {
        at: Instant,
    },
    /// A transfer command aborted by ABOR before the application answered.
    Aborted,
    Host,
    ChangeDir(VirtualPath),
    Retrieve(VirtualPath),
    Store(VirtualPath),
    StoreUnique,
    List {
        kind: ListKind,
        path: VirtualPath,
        select: Select,
    },
    Facts(VirtualPath),
    Size,
    ModificationTime,
    SetModificationTime {
        time: Timestamp,
        path: VirtualPath,
        mfmt: bool,
    },
    Delete,
    RemoveDir,
    MakeDir(VirtualPath),
    RenameFrom(VirtualPath),
    Rename,
    Checksum {
        verb: Verb,
        algorithm: HashAlgorithm,
        path: VirtualPath,
        range: Option<(u64, u64)>,
    },
    Available,
    Site,
    SetPermissions,
}

impl Pending {
    /// A transfer command (it uses the data channel once the application agrees).
    fn is_transfer(&self) -> bool {
        match self {
            Pending::Retrieve(_) | Pending::Store(_) | Pending::StoreUnique => true,
            Pending::List { kind, .. } => *kind != ListKind::Stat,
            _ => false,
        }
    }
}

/// What the session is doing besides reading commands.
#[derive(Debug)]
enum Busy {
    /// Ready for the next command.
    Ready,
    /// Waiting for the application's answer to `ticket`.
    App { ticket: Ticket, pending: Pending },
    /// Waiting for the passive listener `id` to report its address (PASV/EPSV).
    Listen { id: DataId, extended: bool },
    /// A failed login is answered at `until`; `close` after it when the limit is reached.
    LoginDelay { until: Instant, close: bool },
    /// A transfer is approved or running.
    Transfer(Transfer),
}

/// One FTP server session (one control connection). See the [module docs](self).
#[derive(Debug)]
pub struct Session {
    config: Arc<Config>,
    conn: ConnectionInfo,
    framer: LineFramer,
    queue: VecDeque<Queued>,
    out: VecDeque<Output>,
    closed: bool,

    phase: Phase,
    user: Option<String>,
    failures: u32,
    overlong: u32,

    cwd: VirtualPath,
    ascii: bool,
    rest: Option<u64>,
    rename_from: Option<VirtualPath>,
    epsv_all: bool,
    facts: Facts,
    hash: Option<HashAlgorithm>,

    tls: bool,
    tls_pending: bool,
    pbsz: bool,
    prot_private: bool,

    next_id: u64,
    next_ticket: u64,
    channel: Channel,
    busy: Busy,

    login_deadline: Option<Instant>,
    idle_deadline: Option<Instant>,
    data_deadline: Option<Instant>,
    /// An announced passive listener nobody uses is closed at this time.
    channel_deadline: Option<Instant>,
}

/// `now + d`, or `None` (never) when that is beyond what `Instant` can hold.
fn after(now: Instant, d: Duration) -> Option<Instant> {
    now.checked_add(d)
}

/// `ip` with IPv4-mapped IPv6 addresses turned into IPv4, so both spellings compare equal.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn family_of(addr: SocketAddr) -> Family {
    match canonical(addr.ip()) {
        IpAddr::V4(_) => Family::Ipv4,
        IpAddr::V6(_) => Family::Ipv6,
    }
}

/// The 522 text for PASV on an IPv6 connection (PASV's reply can only carry IPv4).
const PASV_IPV4_ONLY: &str = "PASV is IPv4 only: use EPSV (2)";

impl Session {
    /// A new session; the 220 greeting is queued at once.
    pub fn new(config: Arc<Config>, conn: ConnectionInfo, now: Instant) -> Self {
        let hash = preferred_hash(&config.capabilities.checksums);
        let mut s = Self {
            framer: LineFramer::with_max_line(config.max_line),
            queue: VecDeque::new(),
            out: VecDeque::new(),
            closed: false,
            phase: Phase::BeforeUser,
            user: None,
            failures: 0,
            overlong: 0,
            cwd: VirtualPath::root(),
            ascii: config.ascii_by_default,
            rest: None,
            rename_from: None,
            epsv_all: false,
            facts: Facts::default(),
            hash,
            tls: conn.tls,
            tls_pending: false,
            pbsz: false,
            prot_private: false,
            next_id: 0,
            next_ticket: 0,
            channel: Channel::None,
            busy: Busy::Ready,
            login_deadline: after(now, config.login_timeout),
            idle_deadline: after(now, config.idle_timeout),
            data_deadline: None,
            channel_deadline: None,
            conn,
            config,
        };
        let greeting = s.config.greeting.clone();
        s.reply(ReplyCode::SERVICE_READY, greeting);
        s
    }

    /// True once the session has asked to close; it ignores further input.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// The logged-in user, if any.
    pub fn user(&self) -> Option<&str> {
        match self.phase {
            Phase::LoggedIn => self.user.as_deref(),
            _ => None,
        }
    }

    /// The current working directory.
    pub fn cwd(&self) -> &VirtualPath {
        &self.cwd
    }

    /// The login phase.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// True when the control connection is protected by TLS.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// Control-connection bytes as they arrived, in any split.
    pub fn handle_control(&mut self, now: Instant, mut bytes: &[u8]) {
        while !bytes.is_empty() && !self.closed && !self.tls_pending {
            let step = self.framer.push(bytes);
            bytes = bytes.get(step.consumed..).unwrap_or_default();
            let Some(frame) = step.item else { break };
            self.idle_deadline = after(now, self.config.idle_timeout);
            match frame {
                Frame::Overlong { .. } => {
                    self.overlong += 1;
                    if self.overlong >= self.config.max_overlong_lines {
                        self.fatal(ReplyCode::SERVICE_NOT_AVAILABLE, "Too many overlong lines");
                        return;
                    }
                    self.enqueue(Queued::Overlong);
                }
                Frame::Line(line) => {
                    let parsed = Command::parse(&line);
                    // The gating table's "during a transfer" column: ABOR and STAT act at once.
                    let immediate = matches!(&parsed, Ok(c) if is_immediate_in_transfer(c));
                    match parsed {
                        Ok(Command::Abor) if immediate && self.transfer_in_progress() => {
                            self.abort();
                        }
                        // STAT answers at once only when no earlier command waits, so its reply
                        // cannot overtake theirs.
                        Ok(Command::Stat(None))
                            if immediate
                                && matches!(self.busy, Busy::Transfer(_))
                                && self.queue.is_empty() =>
                        {
                            self.transfer_status();
                        }
                        parsed => self.enqueue(Queued::Line(parsed)),
                    }
                }
            }
            self.pump(now);
        }
    }

    /// The TLS handshake on the control connection completed (after [`Output::UpgradeTls`]).
    pub fn handle_tls_established(&mut self, now: Instant) {
        if self.tls_pending {
            self.tls_pending = false;
            self.tls = true;
            self.framer.clear();
            self.idle_deadline = after(now, self.config.idle_timeout);
        }
    }

    /// A fact about a data channel.
    pub fn handle_data(&mut self, now: Instant, input: DataInput) {
        if self.closed {
            return;
        }
        let was_ready = matches!(self.busy, Busy::Ready);
        match input {
            DataInput::Listening { id, addr } => self.on_listening(now, id, addr),
            DataInput::Connected { id } => self.on_connected(now, id),
            DataInput::Failed { id, error } => self.on_failed(now, id, error),
            DataInput::Progress { id, bytes } => {
                if let Busy::Transfer(t) = &mut self.busy
                    && t.id == id
                {
                    t.bytes = t.bytes.max(bytes);
                }
            }
            DataInput::Finished { id, result } => self.on_finished(now, id, result),
        }
        if !was_ready && matches!(self.busy, Busy::Ready) {
            // Waiting on the data channel was not idleness: the idle time starts now.
            self.idle_deadline = after(now, self.config.idle_timeout);
        }
        self.pump(now);
    }

    /// The application's answer to the request `ticket`.
    pub fn respond(
        &mut self,
        now: Instant,
        ticket: Ticket,
        response: Response,
    ) -> Result<(), UsageError> {
        let pending = match core::mem::replace(&mut self.busy, Busy::Ready) {
            Busy::App { ticket: t, pending } if t == ticket => pending,
            other => {
                self.busy = other;
                return Err(UsageError::UnknownTicket);
            }
        };
        let result = self.answer(now, ticket, pending, response);
        if matches!(self.busy, Busy::Ready) {
            self.idle_deadline = after(now, self.config.idle_timeout);
        }
        self.pump(now);
        result
    }

    /// Time passed; fires any due timer. Early calls do nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.closed {
            return;
        }
        if let Busy::LoginDelay { until, close } = self.busy
            && now >= until
        {
            self.busy = Busy::Ready;
            self.reply(ReplyCode::NOT_LOGGED_IN, "Login incorrect");
            if close {
                self.fatal(ReplyCode::SERVICE_NOT_AVAILABLE, "Too many failed logins");
                return;
            }
            self.idle_deadline = after(now, self.config.idle_timeout);
        }
        if self.login_deadline.is_some_and(|d| now >= d) && self.phase != Phase::LoggedIn {
            self.fatal(ReplyCode::SERVICE_NOT_AVAILABLE, "Login timeout");
            return;
        }
        if let Some(deadline) = self.data_deadline
            && now >= deadline
        {
            self.data_deadline = None;
            if let Busy::Transfer(t) = &self.busy
                && !t.started
            {
                let id = t.id;
                let ticket = t.payload.as_ref().and_then(Payload::ticket);
                self.busy = Busy::Ready;
                self.out.push_back(Output::Data(DataAction::Close { id }));
                if let Some(ticket) = ticket {
                    self.out
                        .push_back(Output::Data(DataAction::Release { ticket }));
                }
                self.reply(
                    ReplyCode::CANT_OPEN_DATA_CONNECTION,
                    "Data connection timed out",
                );
                self.idle_deadline = after(now, self.config.idle_timeout);
            }
        }
        if self.channel_deadline.is_some_and(|d| now >= d) {
            // An announced listener sat unused for the idle time: free its port.
            self.close_channel();
        }
        if matches!(self.busy, Busy::Ready) && self.idle_deadline.is_some_and(|d| now >= d) {
            self.fatal(
                ReplyCode::SERVICE_NOT_AVAILABLE,
                "Timeout: closing control connection",
            );
            return;
        }
        self.pump(now);
    }

    /// The server is shutting down: 421 and close.
    pub fn shutdown(&mut self) {
        if !self.closed {
            self.fatal(ReplyCode::SERVICE_NOT_AVAILABLE, "Server shutting down");
        }
    }

    /// The next output, or `None` when there is nothing to do.
    #[must_use]
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// When [`Session::handle_timeout`] should be called next.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.closed {
            return None;
        }
        let mut next: Option<Instant> = None;
        let mut consider = |t: Option<Instant>| {
            if let Some(t) = t {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        };
        if let Busy::LoginDelay { until, .. } = self.busy {
            consider(Some(until));
        }
        if self.phase != Phase::LoggedIn {
            consider(self.login_deadline);
        }
        consider(self.data_deadline);
        consider(self.channel_deadline);
        if matches!(self.busy, Busy::Ready) {
            consider(self.idle_deadline);
        }
        next
    }

    // ---- plumbing ------------------------------------------------------------------------

    fn reply(&mut self, code: ReplyCode, text: impl AsRef<[u8]>) {
        self.send(&Reply::new(code, text));
    }

    fn send(&mut self, reply: &Reply) {
        if let Some(Output::Transmit(bytes)) = self.out.back_mut() {
            reply.encode(bytes);
        } else {
            self.out.push_back(Output::Transmit(reply.to_bytes()));
        }
    }

    /// 421 (or another final word), close data channels, release approved requests, and stop.
    fn fatal(&mut self, code: ReplyCode, text: &str) {
        match core::mem::replace(&mut self.busy, Busy::Ready) {
            Busy::Transfer(t) => {
                self.out
                    .push_back(Output::Data(DataAction::Close { id: t.id }));
                if let Some(ticket) = t.payload.as_ref().and_then(Payload::ticket) {
                    self.out
                        .push_back(Output::Data(DataAction::Release { ticket }));
                }
            }
            Busy::Listen { id, .. } => self.out.push_back(Output::Data(DataAction::Close { id })),
            _ => {}
        }
        self.close_channel();
        self.reply(code, text);
        self.out.push_back(Output::Close);
        self.closed = true;
        self.queue.clear();
        self.data_deadline = None;
    }

    fn enqueue(&mut self, item: Queued) {
        if self.queue.len() >= self.config.max_queued_commands {
            self.fatal(
                ReplyCode::SERVICE_NOT_AVAILABLE,
                "Too many pipelined commands",
            );
            return;
        }
        self.queue.push_back(item);
    }

    fn pump(&mut self, now: Instant) {
        while !self.closed && !self.tls_pending && matches!(self.busy, Busy::Ready) {
            let Some(item) = self.queue.pop_front() else {
                break;
            };
            // REST and RNFR apply to the command right after them (RFC 959 4.1.3).
            let carried = Carried {
                rest: self.rest.take(),
                rename_from: self.rename_from.take(),
            };
            match item {
                Queued::Overlong => self.reply(ReplyCode::SYNTAX_ERROR, "Line too long"),
                Queued::AborReply => {
                    self.reply(ReplyCode::CLOSING_DATA_CONNECTION, "ABOR successful");
                }
                Queued::Line(Err(e)) => self.parse_error(e),
                Queued::Line(Ok(cmd)) => self.execute(now, cmd, carried),
            }
        }
    }

    fn tls_missing(&self) -> bool {
        self.config.tls.require_for_login && !self.tls
    }

    fn parse_error(&mut self, e: ParseError) {
        if let Some(verb) = e.verb()
            && let Some((code, text)) = gating::rule(verb)
                .gate(self.phase, self.tls_missing())
                .refusal()
        {
            self.reply(code, text);
            return;
        }
        let code = e.reply_code();
        if code == ReplyCode::NETWORK_PROTOCOL_NOT_SUPPORTED {
            // RFC 2428: the 522 names the protocols that can be used.
            let supported = self.supported_protocols();
            self.reply(code, format!("{e}, use {supported}"));
            return;
        }
        self.reply(code, e.to_string());
    }

    /// The RFC 2428 network protocol list of a 522: the control connection's family, the
    /// only one data connections are made in.
    fn supported_protocols(&self) -> &'static str {
        match family_of(self.conn.local) {
            Family::Ipv4 => "(1)",
            Family::Ipv6 => "(2)",
        }
    }

    fn next_ticket(&mut self) -> Ticket {
        self.next_ticket += 1;
        Ticket(self.next_ticket)
    }

    fn next_id(&mut self) -> DataId {
        self.next_id += 1;
        DataId(self.next_id)
    }

    fn ask(&mut self, request: Request, pending: Pending) {
        let ticket = self.next_ticket();
        self.out.push_back(Output::Request { ticket, request });
        self.busy = Busy::App { ticket, pending };
    }

    fn resolve(&mut self, path: &FtpPath) -> Option<VirtualPath> {
        match self.cwd.resolve(path) {
            Ok(p) => Some(p),
            Err(e) => {
                self.reply(e.reply_code(), "File name not allowed");
                None
            }
        }
    }

    /// Whether `path` may be created (MKD, STOR, APPE, STOU, RNTO): a name holding a control
    /// character (0x01 to 0x1F, 0x7F; CR, LF and NUL never get this far) is refused with 553,
    /// so that no name made here carries terminal escape sequences into replies, listings and
    /// logs. Existing names are served as they are.
    fn creatable(&mut self, path: &VirtualPath) -> bool {
        let control = path
            .file_name()
            .is_some_and(|name| name.iter().any(|&b| b < 0x20 || b == 0x7f));
        if control {
            self.reply(
                ReplyCode::FILE_NAME_NOT_ALLOWED,
                "File name not allowed (control characters)",
            );
        }
        !control
    }

    fn resolve_opt(&mut self, path: Option<&FtpPath>) -> Option<VirtualPath> {
        match path {
            Some(p) => self.resolve(p),
            None => Some(self.cwd.clone()),
        }
    }

    // ---- commands ------------------------------------------------------------------------

    fn execute(&mut self, now: Instant, cmd: Command, carried: Carried) {
        let Some(verb) = cmd.verb() else {
            let text = format!("{} not understood", cmd.verb_str());
            self.reply(ReplyCode::SYNTAX_ERROR, text);
            return;
        };
        if let Some((code, text)) = gating::rule(verb)
            .gate(self.phase, self.tls_missing())
            .refusal()
        {
            self.reply(code, text);
            return;
        }
        let Carried { rest, rename_from } = carried;
        if matches!(
            cmd,
            Command::Port(_)
                | Command::Eprt(_)
                | Command::Pasv
                | Command::Epsv(_)
                | Command::Type(_)
        ) {
            // Clients set up the data channel and the type between REST and RETR/STOR.
            self.rest = rest;
        }
        match cmd {
            Command::User(name) => self.cmd_user(name),
            Command::Pass(password) => {
                let user = self.user.clone().unwrap_or_default();
                let anonymous = self.config.anonymous && is_anonymous(&user);
                self.ask(
                    Request::Login {
                        user,
                        password,
                        peer: self.conn.peer,
                        tls: self.tls,
                        anonymous,
                    },
                    Pending::Login { at: now },
                );
            }
            Command::Acct(_) => self.reply(ReplyCode::COMMAND_SUPERFLUOUS, "ACCT not needed"),
            Command::Quit => {
                self.reply(ReplyCode::SERVICE_CLOSING, "Goodbye");
                self.close_channel();
                self.out.push_back(Output::Close);
                self.closed = true;
                self.queue.clear();
            }
            Command::Rein => self.cmd_rein(now),
            Command::Noop => self.reply(ReplyCode::COMMAND_OKAY, "NOOP ok"),
            Command::Syst => self.reply(ReplyCode::SYSTEM_TYPE, "UNIX Type: L8"),
            Command::Feat => self.cmd_feat(),
            Command::Help(topic) => self.cmd_help(topic.as_deref()),
            Command::Opts { name, value } => self.cmd_opts(&name, value.as_deref()),
            Command::Lang(tag) => match tag.as_deref() {
                None => self.reply(ReplyCode::COMMAND_OKAY, "Using language EN"),
                Some(t)
                    if t.eq_ignore_ascii_case("EN")
                        || t.to_ascii_uppercase().starts_with("EN-") =>
                {
                    self.reply(ReplyCode::COMMAND_OKAY, "Using language EN");
                }
                Some(_) => self.reply(
                    ReplyCode::PARAMETER_NOT_IMPLEMENTED,
                    "Language not supported",
                ),
            },
            Command::Clnt(_) => self.reply(ReplyCode::COMMAND_OKAY, "Noted"),
            Command::Host(name) => {
                if !self.offers(Verb::Host) {
                    self.reply(ReplyCode::COMMAND_NOT_IMPLEMENTED, "HOST not supported");
                } else if self.phase != Phase::BeforeUser {
                    self.reply(ReplyCode::BAD_SEQUENCE, "HOST must come before USER");
                } else {
                    self.ask(Request::Host { name }, Pending::Host);
                }
            }
            Command::Auth(mechanism) => self.cmd_auth(&mechanism),
            Command::Adat(_) | Command::Mic(_) | Command::Conf(_) | Command::Enc(_) => {
                self.reply(
                    ReplyCode::COMMAND_NOT_IMPLEMENTED,
                    "Only TLS security is supported",
                );
            }
            // Without TLS at all, the TLS commands are not implemented here: a 503 "use AUTH
            // TLS first" would send the client to a command that is refused too.
            Command::Pbsz(_) | Command::Prot(_) | Command::Ccc if !self.config.tls.available => {
                self.reply(ReplyCode::COMMAND_NOT_IMPLEMENTED, "TLS is not available");
            }
            Command::Pbsz(_) => {
                if self.tls {
                    self.pbsz = true;
                    self.reply(ReplyCode::COMMAND_OKAY, "PBSZ=0");
                } else {
                    self.reply(
                        ReplyCode::BAD_SEQUENCE,
                        "PBSZ needs a TLS connection (AUTH TLS)",
                    );
                }
            }
            Command::Prot(level) => self.cmd_prot(level),
            Command::Ccc => self.cmd_ccc(),
            Command::Cwd(p) | Command::Xcwd(p) => {
                if let Some(path) = self.resolve(&p) {
                    self.ask(
                        Request::ChangeDir { path: path.clone() },
                        Pending::ChangeDir(path),
                    );
                }
            }
            Command::Cdup | Command::Xcup => {
                let path = self.cwd.parent();
                self.ask(
                    Request::ChangeDir { path: path.clone() },
                    Pending::ChangeDir(path),
                );
            }
            Command::Pwd | Command::Xpwd => {
                let mut text = self.cwd.quoted();
                text.extend_from_slice(b" is the current directory");
                self.reply(ReplyCode::PATHNAME_CREATED, text);
            }
            Command::Smnt(_) => {
                self.reply(ReplyCode::COMMAND_NOT_IMPLEMENTED, "SMNT not implemented")
            }
            Command::Type(t) => self.cmd_type(t),
            Command::Stru(s) => match s {
                FileStructure::File => self.reply(ReplyCode::COMMAND_OKAY, "Structure set to F"),
                _ => self.reply(
                    ReplyCode::PARAMETER_NOT_IMPLEMENTED,
                    "Only STRU F is supported",
                ),
            },
            Command::Mode(m) => match m {
                TransferMode::Stream => self.reply(ReplyCode::COMMAND_OKAY, "Mode set to S"),
                _ => self.reply(
                    ReplyCode::PARAMETER_NOT_IMPLEMENTED,
                    "Only MODE S is supported",
                ),
            },
            Command::Allo { .. } => self.reply(ReplyCode::COMMAND_SUPERFLUOUS, "ALLO not needed"),
            Command::Rest(offset) => {
                self.rest = Some(offset);
                self.reply(
                    ReplyCode::FILE_ACTION_PENDING,
                    format!("Restarting at {offset}"),
                );
            }
            Command::Pasv => self.cmd_passive(false, None),
            Command::Epsv(mode) => match mode {
                EpsvMode::All => {
                    self.epsv_all = true;
                    self.reply(ReplyCode::COMMAND_OKAY, "EPSV ALL ok");
                }
                EpsvMode::Any => self.cmd_passive(true, None),
                EpsvMode::Ipv4 => self.cmd_passive(true, Some(Family::Ipv4)),
                EpsvMode::Ipv6 => self.cmd_passive(true, Some(Family::Ipv6)),
            },
            Command::Port(addr) => self.cmd_active(SocketAddr::V4(addr), "PORT"),
            Command::Eprt(addr) => self.cmd_active(addr, "EPRT"),
            Command::Retr(p) => self.cmd_transfer(&p, TransferCmd::Retr, rest.unwrap_or(0)),
            Command::Stor(p) => self.cmd_transfer(&p, TransferCmd::Stor, rest.unwrap_or(0)),
            Command::Appe(p) => self.cmd_transfer(&p, TransferCmd::Appe, 0),
            Command::Stou(hint) => {
                if !self.data_ready() {
                    return;
                }
                // An argument names the file wanted, in its directory (`STOU /pub/a.txt`
                // creates `a.txt`, or a free variant of it, in `/pub`).
                let (dir, hint) = match hint {
                    None => (self.cwd.clone(), None),
                    Some(p) => {
                        let Some(target) = self.resolve_for_transfer(Some(&p)) else {
                            return;
                        };
                        if !self.creatable(&target) {
                            self.close_channel();
                            return;
                        }
                        match target.file_name().map(<[u8]>::to_vec) {
                            Some(name) => (target.parent(), Some(name)),
                            None => (target, None),
                        }
                    }
                };
                self.ask(Request::StoreUnique { dir, hint }, Pending::StoreUnique);
            }
            Command::List(args) => self.cmd_list(args, ListKind::List),
            Command::Nlst(args) => self.cmd_list(args, ListKind::Nlst),
            Command::Mlsd(path) => self.cmd_list(
                ListArgs {
                    options: None,
                    path,
                },
                ListKind::Mlsd,
            ),
            Command::Stat(None) => self.cmd_status(),
            Command::Stat(Some(args)) => {
                let select = Select::of(args.path.as_ref(), ListKind::Stat);
                if let Some(path) = self.resolve_opt(args.path.as_ref()) {
                    self.ask(
                        Request::List {
                            path: path.clone(),
                            options: args.options,
                            kind: ListKind::Stat,
                        },
                        Pending::List {
                            kind: ListKind::Stat,
                            path,
                            select,
                        },
                    );
                }
            }
            Command::Mlst(p) => {
                if let Some(path) = self.resolve_opt(p.as_ref()) {
                    self.ask(Request::Facts { path: path.clone() }, Pending::Facts(path));
                }
            }
            Command::Size(p) => {
                if let Some(path) = self.resolve(&p) {
                    let ascii = self.ascii;
                    self.ask(Request::Size { path, ascii }, Pending::Size);
                }
            }
            Command::Mdtm { time: None, path } => {
                if let Some(path) = self.resolve(&path) {
                    self.ask(
                        Request::ModificationTime { path },
                        Pending::ModificationTime,
                    );
                }
            }
            Command::Mdtm {
                time: Some(time),
                path,
            } => self.cmd_set_mtime(time, &path, false),
            Command::Mfmt { time, path } => self.cmd_set_mtime(time, &path, true),
            Command::Dele(p) => {
                if let Some(path) = self.resolve(&p) {
                    self.ask(Request::Delete { path }, Pending::Delete);
                }
            }
            Command::Rmd(p) | Command::Xrmd(p) => {
                if let Some(path) = self.resolve(&p) {
                    self.ask(Request::RemoveDir { path }, Pending::RemoveDir);
                }
            }
            Command::Mkd(p) | Command::Xmkd(p) => {
                if let Some(path) = self.resolve(&p).filter(|path| self.creatable(path)) {
                    self.ask(
                        Request::MakeDir { path: path.clone() },
                        Pending::MakeDir(path),
                    );
                }
            }
            Command::Rnfr(p) => {
                if let Some(path) = self.resolve(&p) {
                    self.ask(
                        Request::RenameFrom { path: path.clone() },
                        Pending::RenameFrom(path),
                    );
                }
            }
            Command::Rnto(p) => match rename_from {
                None => self.reply(ReplyCode::BAD_SEQUENCE, "RNFR required first"),
                Some(from) => {
                    if let Some(to) = self.resolve(&p).filter(|to| self.creatable(to)) {
                        self.ask(Request::Rename { from, to }, Pending::Rename);
                    }
                }
            },
            Command::Hash(p) => match self.hash {
                Some(algorithm) => self.cmd_checksum(Verb::Hash, algorithm, &p, None),
                None => self.reply(ReplyCode::COMMAND_NOT_IMPLEMENTED, "HASH not supported"),
            },
            Command::Xcrc(a) => self.cmd_x_checksum(Verb::Xcrc, HashAlgorithm::Crc32, a),
            Command::Xmd5(a) => self.cmd_x_checksum(Verb::Xmd5, HashAlgorithm::Md5, a),
            Command::Xsha1(a) => self.cmd_x_checksum(Verb::Xsha1, HashAlgorithm::Sha1, a),
            Command::Xsha256(a) => self.cmd_x_checksum(Verb::Xsha256, HashAlgorithm::Sha256, a),
            Command::Avbl(p) => {
                if !self.offers(Verb::Avbl) {
                    self.reply(ReplyCode::COMMAND_NOT_IMPLEMENTED, "AVBL not supported");
                } else if let Some(path) = self.resolve_opt(p.as_ref()) {
                    self.ask(Request::Available { path }, Pending::Available);
                }
            }
            Command::Site(args) => self.cmd_site(&args),
            Command::Abor => {
                // No transfer is running (during one, ABOR is handled immediately).
                self.reply(ReplyCode::DATA_CONNECTION_OPEN, "No transfer to abort");
            }
            other => {
                let text = format!("{} not implemented", other.verb_str());
                self.reply(ReplyCode::COMMAND_NOT_IMPLEMENTED, text);
            }
        }
    }

    /// True while a transfer command is approved, running, or waiting for the application.
    fn transfer_in_progress(&self) -> bool {
        match &self.busy {
            Busy::Transfer(_) => true,
            Busy::App { pending, .. } => pending.is_transfer(),
            _ => false,
        }
    }

    /// ABOR during a transfer: 426 for the transfer command, then 226 for ABOR (in its turn).
    fn abort(&mut self) {
        match core::mem::replace(&mut self.busy, Busy::Ready) {
            Busy::Transfer(t) => {
                self.data_deadline = None;
                self.out
                    .push_back(Output::Data(DataAction::Close { id: t.id }));
                if let Some(ticket) = t.payload.as_ref().and_then(Payload::ticket) {
                    self.out
                        .push_back(Output::Data(DataAction::Release { ticket }));
                }
            }
            Busy::App { ticket, .. } => {
                // The application's answer is still owed; it is released when it comes.
                self.busy = Busy::App {
                    ticket,
                    pending: Pending::Aborted,
                };
                self.close_channel();
            }
            other => {
                self.busy = other;
                return;
            }
        }
        self.reply(ReplyCode::CONNECTION_CLOSED, "Transfer aborted");
        if self.queue.is_empty() {
            self.reply(ReplyCode::CLOSING_DATA_CONNECTION, "ABOR successful");
        } else {
            self.queue.push_back(Queued::AborReply);
        }
    }

    /// STAT during a transfer: progress.
    fn transfer_status(&mut self) {
        if let Busy::Transfer(t) = &self.busy {
            let text = format!("Transferring {}: {} bytes so far", t.what, t.bytes);
            self.reply(ReplyCode::FILE_STATUS, text);
        }
    }

    fn cmd_user(&mut self, name: String) {
        self.user = Some(name);
        self.phase = Phase::AfterUser;
        let anonymous = self.config.anonymous && self.user.as_deref().is_some_and(is_anonymous);
        // Same answer whether the user exists or not: no enumeration.
        if anonymous {
            self.reply(
                ReplyCode::NEED_PASSWORD,
                "Anonymous login ok, send your e-mail as password",
            );
        } else {
            self.reply(ReplyCode::NEED_PASSWORD, "Please specify the password");
        }
    }

    fn cmd_rein(&mut self, now: Instant) {
        self.close_channel();
        self.phase = Phase::BeforeUser;
        self.user = None;
        self.cwd = VirtualPath::root();
        self.ascii = self.config.ascii_by_default;
        self.rest = None;
        self.rename_from = None;
        self.facts = Facts::default();
        self.hash = preferred_hash(&self.config.capabilities.checksums);
        self.login_deadline = after(now, self.config.login_timeout);
        // TLS, PBSZ and PROT stay: REIN never drops protection. EPSV ALL stays too: a NAT
        // device that saw it has stopped translating PORT and PASV for this connection
        // (RFC 2428 section 4).
        self.reply(ReplyCode::SERVICE_READY, "Service ready for new user");
    }

    fn cmd_feat(&mut self) {
        let caps = &self.config.capabilities;
        let mut lines: Vec<Vec<u8>> = vec![b"Features:".to_vec()];
        let mut add = |s: &str| lines.push(format!(" {s}").into_bytes());
        if self.offers(Verb::Auth) {
            add("AUTH TLS");
            add("AUTH SSL");
            add("PBSZ");
            add("PROT");
        }
        if !caps.checksums.is_empty() {
            let mut names = String::new();
            for a in &caps.checksums {
                if !names.is_empty() {
                    names.push(';');
                }
                names.push_str(a.name());
                if Some(*a) == self.hash {
                    names.push('*');
                }
            }
            add(&format!("HASH {names}"));
            for verb in [Verb::Xcrc, Verb::Xmd5, Verb::Xsha1, Verb::Xsha256] {
                if self.offers(verb) {
                    add(verb.as_str());
                }
            }
        }
        // The optional commands are listed exactly when `offers` says they work.
        for verb in [Verb::Avbl, Verb::Clnt, Verb::Eprt, Verb::Epsv, Verb::Host] {
            if self.offers(verb) {
                add(verb.as_str());
            }
        }
        add("LANG EN*");
        add("MDTM");
        if self.offers(Verb::Mfmt) {
            add("MFMT");
        }
        add(&self.facts.feat_line());
        if self.offers(Verb::Pasv) {
            add("PASV");
        }
        add("REST STREAM");
        add("SIZE");
        add("TVFS");
        add("UTF8");
        lines.push(b"End".to_vec());
        self.send(&Reply::multiline(ReplyCode::SYSTEM_STATUS, lines));
    }

    /// Whether `verb` can do anything in this configuration: the one place that decides it.
    /// FEAT and HELP list only these, and the commands themselves answer the others 502.
    fn offers(&self, verb: Verb) -> bool {
        let caps = &self.config.capabilities;
        match verb {
            Verb::Smnt | Verb::Adat | Verb::Mic | Verb::Conf | Verb::Enc => false,
            Verb::Auth | Verb::Pbsz | Verb::Prot | Verb::Ccc => self.config.tls.available,
            Verb::Host => caps.host,
            Verb::Avbl => caps.avbl,
            Verb::Mfmt => caps.set_mtime,
            Verb::Hash => !caps.checksums.is_empty(),
            Verb::Xcrc => caps.checksums.contains(&HashAlgorithm::Crc32),
            Verb::Xmd5 => caps.checksums.contains(&HashAlgorithm::Md5),
            Verb::Xsha1 => caps.checksums.contains(&HashAlgorithm::Sha1),
            Verb::Xsha256 => caps.checksums.contains(&HashAlgorithm::Sha256),
            Verb::Port | Verb::Eprt => self.config.active_mode,
            Verb::Pasv | Verb::Epsv => self.config.passive_mode,
            Verb::Site => !caps.site_commands.is_empty(),
            _ => true,
        }
    }

    fn cmd_help(&mut self, topic: Option<&str>) {
        match topic {
            None => {
                let mut lines = vec!["The following commands are recognized.".to_owned()];
                let offered: Vec<Verb> = Verb::ALL
                    .iter()
                    .copied()
                    .filter(|v| self.offers(*v))
                    .collect();
                for chunk in offered.chunks(8) {
                    let names: Vec<String> =
                        chunk.iter().map(|v| format!("{:<8}", v.as_str())).collect();
                    lines.push(format!(" {}", names.join("").trim_end()));
                }
                lines.push("Help OK.".to_owned());
                self.send(&Reply::multiline(ReplyCode::HELP_MESSAGE, lines));
            }
            Some(t) => match Verb::from_token(t.trim().as_bytes()) {
                Some(v) if self.offers(v) => self.reply(
                    ReplyCode::HELP_MESSAGE,
                    format!("Syntax: {}", help_syntax(v)),
                ),
                Some(v) => self.reply(
                    ReplyCode::COMMAND_NOT_IMPLEMENTED,
                    format!("{} not implemented here", v.as_str()),
                ),
                None => self.reply(ReplyCode::COMMAND_NOT_IMPLEMENTED, "Unknown command"),
            },
        }
    }

    fn cmd_opts(&mut self, name: &str, value: Option<&str>) {
        match name {
            "UTF8" | "UTF-8" => match value.map(str::to_ascii_uppercase).as_deref() {
                None | Some("ON") => self.reply(ReplyCode::COMMAND_OKAY, "Always in UTF8 mode"),
                Some(_) => self.reply(
                    ReplyCode::PARAMETER_NOT_IMPLEMENTED,
                    "UTF8 cannot be turned off",
                ),
            },
            "MLST" => {
                self.facts = Facts::parse_opts(value.unwrap_or_default());
                let text = self.facts.opts_reply_text();
                self.reply(ReplyCode::COMMAND_OKAY, text);
            }
            "HASH" => match value {
                None => match self.hash {
                    Some(a) => self.reply(ReplyCode::COMMAND_OKAY, a.name()),
                    None => self.reply(ReplyCode::COMMAND_NOT_IMPLEMENTED, "HASH not supported"),
                },
                Some(v) => match HashAlgorithm::from_name(v.trim())
                    .filter(|a| self.config.capabilities.checksums.contains(a))
                {
                    Some(a) => {
                        self.hash = Some(a);
                        self.reply(ReplyCode::COMMAND_OKAY, a.name());
                    }
                    None => self.reply(
                        ReplyCode::SYNTAX_ERROR_IN_ARGUMENTS,
                        "Unknown or unsupported algorithm",
                    ),
                },
            },
            _ => self.reply(
                ReplyCode::SYNTAX_ERROR_IN_ARGUMENTS,
                "Option not understood",
            ),
        }
    }

    fn cmd_auth(&mut self, mechanism: &AuthMechanism) {
        if self.tls {
            self.reply(ReplyCode::BAD_SEQUENCE, "Already using TLS");
        } else if !self.offers(Verb::Auth) {
            self.reply(ReplyCode::COMMAND_NOT_IMPLEMENTED, "TLS not configured");
        } else if matches!(mechanism, AuthMechanism::Tls | AuthMechanism::Ssl)
            || matches!(mechanism, AuthMechanism::Other(m) if m == "TLS-C")
        {
            let text = if matches!(mechanism, AuthMechanism::Ssl) {
                // AUTH SSL predates RFC 4217: its clients expect protected data without PBSZ
                // and PROT (as vsftpd and proftpd give them); PROT C still turns it off.
                self.pbsz = true;
                self.prot_private = true;
                "AUTH SSL successful"
            } else {
                "AUTH TLS successful"
            };
            self.reply(ReplyCode::SECURITY_EXCHANGE_COMPLETE, text);
            self.out.push_back(Output::UpgradeTls);
            // Anything the client pipelined after AUTH in clear text is never executed.
            self.tls_pending = true;
            self.queue.clear();
            self.framer.clear();
        } else {
            self.reply(
                ReplyCode::PARAMETER_NOT_IMPLEMENTED,
                "Security mechanism not understood",
            );
        }
    }

    fn cmd_prot(&mut self, level: ProtectionLevel) {
        if !self.tls {
            self.reply(
                ReplyCode::BAD_SEQUENCE,
                "PROT needs a TLS connection (AUTH TLS)",
            );
        } else if !self.pbsz {
            self.reply(ReplyCode::BAD_SEQUENCE, "PBSZ required first");
        } else {
            match level {
                ProtectionLevel::Private => {
                    self.prot_private = true;
                    self.reply(ReplyCode::COMMAND_OKAY, "PROT now Private");
                }
                ProtectionLevel::Clear if !self.config.tls.require_for_data => {
                    self.prot_private = false;
                    self.reply(ReplyCode::COMMAND_OKAY, "PROT now Clear");
                }
                // 534 (policy), not 536: TLS supports C; this server's policy refuses it.
                ProtectionLevel::Clear => {
                    self.reply(ReplyCode::DENIED_FOR_POLICY, "Policy requires PROT P");
                }
                _ => self.reply(
                    ReplyCode::PROT_LEVEL_NOT_SUPPORTED,
                    "Only PROT C and P are supported",
                ),
            }
        }
    }

    fn cmd_ccc(&mut self) {
        if !self.tls {
            self.reply(ReplyCode::BAD_SEQUENCE, "CCC needs a TLS connection");
        } else if !self.config.tls.allow_ccc || self.phase != Phase::LoggedIn {
            self.reply(ReplyCode::DENIED_FOR_POLICY, "CCC not allowed");
        } else {
            self.reply(
                ReplyCode::COMMAND_OKAY,
                "Control connection now in clear text",
            );
            self.out.push_back(Output::DowngradeTls);
            self.tls = false;
        }
    }

    fn cmd_type(&mut self, t: TransferType) {
        match t {
            TransferType::Ascii(FormatControl::NonPrint) => {
                self.ascii = true;
                self.reply(ReplyCode::COMMAND_OKAY, "Switching to ASCII mode");
            }
            TransferType::Image | TransferType::Local(8) => {
                self.ascii = false;
                self.reply(ReplyCode::COMMAND_OKAY, "Switching to Binary mode");
            }
            _ => self.reply(
                ReplyCode::PARAMETER_NOT_IMPLEMENTED,
                "Only TYPE A, I and L 8 are supported",
            ),
        }
    }

    /// Drops the prepared data channel (a passive listener is closed).
    fn close_channel(&mut self) {
        if let Channel::Passive { id, .. } = self.channel {
            self.out.push_back(Output::Data(DataAction::Close { id }));
        }
        self.channel = Channel::None;
        self.channel_deadline = None;
    }

    fn cmd_passive(&mut self, extended: bool, family: Option<Family>) {
        let local_family = family_of(self.conn.local);
        if !self.offers(Verb::Pasv) {
            self.reply(
                ReplyCode::COMMAND_NOT_IMPLEMENTED,
                "Passive mode is disabled",
            );
        } else if !extended && self.epsv_all {
            self.reply(
                ReplyCode::BAD_SEQUENCE,
                "Only EPSV is allowed after EPSV ALL",
            );
        } else if !extended && local_family == Family::Ipv6 {
            // Permanent (5yz), not 425: retrying PASV cannot help.
            self.reply(ReplyCode::NETWORK_PROTOCOL_NOT_SUPPORTED, PASV_IPV4_ONLY);
        } else if family.is_some_and(|f| f != local_family) {
            let supported = self.supported_protocols();
            self.reply(
                ReplyCode::NETWORK_PROTOCOL_NOT_SUPPORTED,
                format!("Network protocol not supported, use {supported}"),
            );
        } else {
            self.close_channel();
            let id = self.next_id();
            self.out.push_back(Output::Data(DataAction::Listen {
                id,
                family: local_family,
            }));
            self.busy = Busy::Listen { id, extended };
        }
    }

    fn cmd_active(&mut self, to: SocketAddr, verb: &str) {
        if !self.offers(Verb::Port) {
            self.reply(
                ReplyCode::COMMAND_NOT_IMPLEMENTED,
                "Active mode is disabled",
            );
            return;
        }
        if self.epsv_all {
            self.reply(
                ReplyCode::BAD_SEQUENCE,
                "Only EPSV is allowed after EPSV ALL",
            );
            return;
        }
        let ip = canonical(to.ip());
        if self.config.require_data_peer_match && family_of(to) != family_of(self.conn.peer) {
            // RFC 2428 2: the other address family cannot be the client's own address; the
            // 522 names the one that can.
            let supported = self.supported_protocols();
            self.reply(
                ReplyCode::NETWORK_PROTOCOL_NOT_SUPPORTED,
                format!("Network protocol not supported, use {supported}"),
            );
            return;
        }
        let refusal = if ip.is_unspecified() || to.port() == 0 {
            Some("Illegal data address")
        } else if self.config.require_data_peer_match && ip != canonical(self.conn.peer.ip()) {
            Some("Data address must be the client's own address")
        } else if !self.config.allow_privileged_data_ports && to.port() < 1024 {
            Some("Data port below 1024 refused")
        } else {
            None
        };
        match refusal {
            // 501, among RFC 959's replies to PORT (504 is not), as vsftpd's 500 and
            // pyftpdlib's 501 are.
            Some(text) => self.reply(ReplyCode::SYNTAX_ERROR_IN_ARGUMENTS, text),
            None => {
                self.close_channel();
                self.channel = Channel::Active { to };
                self.reply(
                    ReplyCode::COMMAND_OKAY,
                    format!("{verb} command successful"),
                );
            }
        }
    }

    /// True when a data channel is prepared and the TLS data policy is met; replies otherwise
    /// (and drops the channel: the client will set up a new one).
    fn data_ready(&mut self) -> bool {
        if self.channel == Channel::None {
            self.reply(
                ReplyCode::CANT_OPEN_DATA_CONNECTION,
                "Use PORT or PASV first",
            );
            false
        } else if self.config.tls.require_for_data && !self.prot_private {
            self.close_channel();
            self.reply(
                ReplyCode::DENIED_FOR_POLICY,
                "Policy requires PROT P for data",
            );
            false
        } else {
            true
        }
    }

    /// Resolves the path of a transfer command; on failure the prepared channel is dropped.
    fn resolve_for_transfer(&mut self, path: Option<&FtpPath>) -> Option<VirtualPath> {
        let resolved = self.resolve_opt(path);
        if resolved.is_none() {
            self.close_channel();
        }
        resolved
    }

    fn cmd_transfer(&mut self, p: &FtpPath, which: TransferCmd, offset: u64) {
        if which == TransferCmd::Stor && offset > 0 && self.ascii {
            // In TYPE A a REST marker counts octets of the CRLF data stream (RFC 3659 5), which
            // name no position in a stored file short of reading it back: refused, not guessed.
            self.close_channel();
            self.reply(
                ReplyCode::INVALID_REST_PARAMETER,
                "Resuming an upload in ASCII mode is not supported; use TYPE I",
            );
            return;
        }
        if !self.data_ready() {
            return;
        }
        let Some(path) = self.resolve_for_transfer(Some(p)) else {
            return;
        };
        if which != TransferCmd::Retr && !self.creatable(&path) {
            self.close_channel();
            return;
        }
        let (request, pending) = match which {
            TransferCmd::Retr => (
                Request::Retrieve {
                    path: path.clone(),
                    offset,
                    ascii: self.ascii,
                },
                Pending::Retrieve(path),
            ),
            TransferCmd::Stor | TransferCmd::Appe => (
                Request::Store {
                    path: path.clone(),
                    offset,
                    mode: if which == TransferCmd::Stor {
                        StoreMode::Replace
                    } else {
                        StoreMode::Append
                    },
                },
                Pending::Store(path),
            ),
        };
        self.ask(request, pending);
    }

    fn cmd_list(&mut self, args: ListArgs, kind: ListKind) {
        if !self.data_ready() {
            return;
        }
        let select = Select::of(args.path.as_ref(), kind);
        let Some(path) = self.resolve_for_transfer(args.path.as_ref()) else {
            return;
        };
        self.ask(
            Request::List {
                path: path.clone(),
                options: args.options,
                kind,
            },
            Pending::List { kind, path, select },
        );
    }

    fn cmd_status(&mut self) {
        let user = self.user().unwrap_or("(not logged in)").to_owned();
        let lines = vec![
            "FTP server status:".to_owned(),
            format!("     Connected to {}", self.conn.peer.ip()),
            format!("     Logged in as {user}"),
            format!("     TYPE: {}", if self.ascii { "ASCII" } else { "BINARY" }),
            format!(
                "     Control connection is {}",
                if self.tls { "TLS" } else { "plain text" }
            ),
            format!(
                "     Data connections are {}",
                if self.prot_private {
                    "TLS"
                } else {
                    "plain text"
                }
            ),
            "End of status".to_owned(),
        ];
        self.send(&Reply::multiline(ReplyCode::SYSTEM_STATUS, lines));
    }

    fn cmd_set_mtime(&mut self, time: Timestamp, path: &FtpPath, mfmt: bool) {
        if !self.offers(Verb::Mfmt) {
            self.reply(
                ReplyCode::COMMAND_NOT_IMPLEMENTED,
                "Setting modification times is not supported",
            );
            return;
        }
        if let Some(path) = self.resolve(path) {
            self.ask(
                Request::SetModificationTime {
                    path: path.clone(),
                    time,
                },
                Pending::SetModificationTime { time, path, mfmt },
            );
        }
    }

    fn cmd_x_checksum(&mut self, verb: Verb, algorithm: HashAlgorithm, args: ChecksumArgs) {
        let range = args.range.map(|r| (r.start, r.end));
        self.cmd_checksum(verb, algorithm, &args.path, range);
    }

    fn cmd_checksum(
        &mut self,
        verb: Verb,
        algorithm: HashAlgorithm,
        p: &FtpPath,
        range: Option<(u64, u64)>,
    ) {
        if !self.config.capabilities.checksums.contains(&algorithm) {
            self.reply(
                ReplyCode::COMMAND_NOT_IMPLEMENTED,
                format!("{verb} not supported"),
            );
            return;
        }
        if let Some(path) = self.resolve(p) {
            self.ask(
                Request::Checksum {
                    path: path.clone(),
                    algorithm,
                    range,
                },
                Pending::Checksum {
                    verb,
                    algorithm,
                    path,
                    range,
                },
            );
        }
    }

    fn cmd_site(&mut self, args: &[u8]) {
        let args = args.trim_ascii_start();
        let (word, rest) = match args.iter().position(|&b| b == b' ') {
            Some(sp) => (
                args.get(..sp).unwrap_or_default(),
                args.get(sp + 1..).unwrap_or_default(),
            ),
            None => (args, &[][..]),
        };
        let command = String::from_utf8_lossy(word).to_ascii_uppercase();
        let known = &self.config.capabilities.site_commands;
        if command == "HELP" && known.is_empty() {
            self.reply(ReplyCode::HELP_MESSAGE, "No SITE commands are offered here");
        } else if command == "HELP" {
            let mut lines = vec!["SITE commands:".to_owned()];
            lines.extend(known.iter().map(|c| format!(" {}", c.to_ascii_uppercase())));
            lines.push("End".to_owned());
            self.send(&Reply::multiline(ReplyCode::HELP_MESSAGE, lines));
        } else if command == "CHMOD" && known.iter().any(|c| c.eq_ignore_ascii_case("CHMOD")) {
            self.cmd_site_chmod(rest);
        } else if known.iter().any(|c| c.eq_ignore_ascii_case(&command)) {
            let cwd = self.cwd.clone();
            self.ask(
                Request::Site {
                    command,
                    args: rest.to_vec(),
                    cwd,
                },
                Pending::Site,
            );
        } else {
            self.reply(ReplyCode::PARAMETER_NOT_IMPLEMENTED, "Unknown SITE command");
        }
    }

    /// `SITE CHMOD <mode> <path>`, as lftp, FileZilla and WinSCP send it: `mode` is one to four
    /// octal digits for the permission bits (`644`, `0755`).
    fn cmd_site_chmod(&mut self, args: &[u8]) {
        const USAGE: &str = "Usage: SITE CHMOD <mode> <path>, mode in octal from 000 to 777";
        let args = args.trim_ascii_start();
        let (digits, name) = match args.iter().position(|&b| b == b' ') {
            Some(space) => (
                args.get(..space).unwrap_or_default(),
                args.get(space + 1..).unwrap_or_default(),
            ),
            None => (args, &[][..]),
        };
        let octal = !digits.is_empty()
            && digits.len() <= 4
            && digits.iter().all(|d| (b'0'..=b'7').contains(d));
        if !octal || name.is_empty() {
            self.reply(ReplyCode::SYNTAX_ERROR_IN_ARGUMENTS, USAGE);
            return;
        }
        let mode = digits
            .iter()
            .fold(0u32, |mode, d| mode * 8 + u32::from(d - b'0'));
        if mode > 0o777 {
            self.reply(
                ReplyCode::SYNTAX_ERROR_IN_ARGUMENTS,
                "Only the permission bits (000 to 777) may be set",
            );
            return;
        }
        if let Some(path) = self.resolve(&FtpPath::from(name)) {
            self.ask(
                Request::SetPermissions { path, mode },
                Pending::SetPermissions,
            );
        }
    }

    // ---- answers -------------------------------------------------------------------------

    fn answer(
        &mut self,
        now: Instant,
        ticket: Ticket,
        pending: Pending,
        response: Response,
    ) -> Result<(), UsageError> {
        use Pending as P;
        use Response as R;
        if let P::Aborted = pending {
            // ABOR already answered; give back whatever the application opened.
            if matches!(response, R::Ok | R::Size(_) | R::Created(_)) {
                self.out
                    .push_back(Output::Data(DataAction::Release { ticket }));
            }
            return Ok(());
        }
        if let (P::List { kind, select, .. }, R::Error(FsError::NotFound)) = (&pending, &response)
            && let Some((dir, expanded)) = select.expanded()
            && let Ok(dir) = dir.map_or(Ok(self.cwd.clone()), |dir| self.cwd.resolve(&dir))
        {
            // Nothing is named like the pattern: list its directory, filtered by it. The
            // options are left out: `LIST -ld *.txt` lists the matching entries themselves.
            let kind = *kind;
            self.ask(
                Request::List {
                    path: dir.clone(),
                    options: None,
                    kind,
                },
                Pending::List {
                    kind,
                    path: dir,
                    select: expanded,
                },
            );
            return Ok(());
        }
        if let R::Error(e) = &response {
            if let P::Login { .. } = pending {
                return self.answer(now, ticket, pending, R::LoginRejected);
            }
            if pending.is_transfer() {
                // The client sets up a new data channel for its next try.
                self.close_channel();
            }
            let code = match pending {
                P::Host => ReplyCode::PARAMETER_NOT_IMPLEMENTED,
                P::Size if self.ascii && *e == FsError::NotSupported => {
                    // The usual reply of servers that refuse it (proftpd, pyftpdlib).
                    self.reply(
                        ReplyCode::FILE_UNAVAILABLE,
                        "SIZE not available in ASCII mode (send TYPE I first)",
                    );
                    return Ok(());
                }
                _ => e.reply_code(),
            };
            self.reply(code, capitalized(&e.to_string()));
            return Ok(());
        }
        match (pending, response) {
            (P::Login { .. }, R::LoggedIn) => {
                // The failure count is kept: REIN and a new login do not buy more attempts.
                self.phase = Phase::LoggedIn;
                self.login_deadline = None;
                self.cwd = VirtualPath::root();
                self.reply(ReplyCode::USER_LOGGED_IN, "Login successful");
            }
            (P::Login { at }, R::LoginRejected) => {
                self.failures += 1;
                self.phase = Phase::BeforeUser;
                self.user = None;
                // Counted from PASS, not from the answer: a back-end that answers unknown users
                // faster reveals nothing as long as it answers within the delay.
                let until = after(at, self.config.failed_login_delay).map_or(now, |t| t.max(now));
                self.busy = Busy::LoginDelay {
                    until,
                    close: self.failures >= self.config.max_login_failures,
                };
            }
            (P::Login { .. }, R::LoginUnavailable) => {
                self.fatal(
                    ReplyCode::SERVICE_NOT_AVAILABLE,
                    "Authentication service unavailable, try later",
                );
            }
            (P::Login { .. }, R::TooManySessions) => {
                self.fatal(
                    ReplyCode::SERVICE_NOT_AVAILABLE,
                    "Too many sessions for this user; try again later",
                );
            }
            (P::Host, R::Ok) => self.reply(ReplyCode::SERVICE_READY, "Host accepted"),
            (P::ChangeDir(path), R::Ok) => {
                self.cwd = path;
                self.reply(
                    ReplyCode::FILE_ACTION_OKAY,
                    "Directory successfully changed",
                );
            }
            (P::Retrieve(path), response @ (R::Ok | R::Size(_))) => {
                let what = path.to_string();
                let mode = if self.ascii { "ASCII" } else { "BINARY" };
                let size = match response {
                    R::Size(n) => format!(" ({n} bytes)"),
                    _ => String::new(),
                };
                self.start_transfer(
                    now,
                    Payload::File {
                        ticket,
                        direction: Direction::Send,
                    },
                    what.clone(),
                    format!("Opening {mode} mode data connection for {what}{size}"),
                );
            }
            (P::Store(path), R::Ok) => {
                let what = path.to_string();
                self.start_transfer(
                    now,
                    Payload::File {
                        ticket,
                        direction: Direction::Receive,
                    },
                    what.clone(),
                    format!("Ok to send data for {what}"),
                );
            }
            (P::StoreUnique, R::Created(path)) => {
                // RFC 1123 4.1.2.9: 150 FILE: <pathname>.
                let name = path.to_string();
                self.start_transfer(
                    now,
                    Payload::File {
                        ticket,
                        direction: Direction::Receive,
                    },
                    path.to_string(),
                    format!("FILE: {name}"),
                );
            }
            (
                P::List { kind, path, select },
                R::Entries {
                    entries,
                    now: clock,
                },
            ) => {
                // One entry named like the path: the path itself was listed (a file, or a
                // directory with `ls -d`), and NLST names it as the argument does.
                let itself = matches!(entries.as_slice(), [only]
                    if path.file_name() == Some(only.name.as_slice()));
                let format = select.format(kind, self.facts, !itself);
                self.answer_listing(now, &format, &path, &entries, clock);
            }
            (P::List { kind, path, select }, R::Ok) if kind != ListKind::Stat => {
                let format = select.format(kind, self.facts, true);
                self.start_transfer(
                    now,
                    Payload::Stream { ticket, format },
                    path.to_string(),
                    "Here comes the directory listing".to_owned(),
                );
            }
            (P::Facts(path), R::Entry(entry)) => {
                let mut line = Vec::new();
                if listing::mlst_line(&entry, path.as_bytes(), self.facts, &mut line).is_err() {
                    self.reply(ReplyCode::FILE_UNAVAILABLE, "Name cannot be represented");
                    return Ok(());
                }
                // The path byte for byte, as the fact line has it (not a lossy UTF-8 form).
                let lines: Vec<Vec<u8>> = vec![
                    [&b"Listing "[..], path.as_bytes()].concat(),
                    line,
                    b"End".to_vec(),
                ];
                self.send(&Reply::multiline(ReplyCode::FILE_ACTION_OKAY, lines));
            }
            (P::Size | P::Available, R::Size(n)) => {
                self.reply(ReplyCode::FILE_STATUS, n.to_string())
            }
            (P::ModificationTime, R::Time(t)) => self.reply(ReplyCode::FILE_STATUS, t.to_string()),
            (P::SetModificationTime { time, path, mfmt }, answer @ (R::Ok | R::Time(_))) => {
                // The time the file has now, when the application says (a file system may
                // clamp or round it), else the time asked for.
                let time = match answer {
                    R::Time(set) => set,
                    _ => time,
                };
                if mfmt {
                    let mut text = format!("Modify={time}; ").into_bytes();
                    text.extend_from_slice(path.as_bytes());
                    self.reply(ReplyCode::FILE_STATUS, text);
                } else {
                    self.reply(ReplyCode::FILE_STATUS, "File modification time set");
                }
            }
            (P::Delete, R::Ok) => self.reply(ReplyCode::FILE_ACTION_OKAY, "File deleted"),
            (P::RemoveDir, R::Ok) => self.reply(ReplyCode::FILE_ACTION_OKAY, "Directory removed"),
            (P::MakeDir(path), R::Ok) => {
                let mut text = path.quoted();
                text.extend_from_slice(b" created");
                self.reply(ReplyCode::PATHNAME_CREATED, text);
            }
            (P::RenameFrom(path), R::Ok) => {
                self.rename_from = Some(path);
                self.reply(ReplyCode::FILE_ACTION_PENDING, "Ready for RNTO");
            }
            (P::Rename, R::Ok) => self.reply(ReplyCode::FILE_ACTION_OKAY, "Rename successful"),
            (
                P::Checksum {
                    verb,
                    algorithm,
                    path,
                    range,
                },
                R::Checksum { hex, size },
            ) => {
                if verb == Verb::Hash {
                    let (start, end) = range.unwrap_or((0, size));
                    let mut text =
                        format!("{} {start}-{end} {hex} ", algorithm.name()).into_bytes();
                    text.extend_from_slice(path.as_bytes());
                    self.reply(ReplyCode::FILE_STATUS, text);
                } else {
                    self.reply(ReplyCode::FILE_ACTION_OKAY, hex);
                }
            }
            (P::Site, R::Reply(reply)) if !reply.code().is_preliminary() => self.send(&reply),
            (P::SetPermissions, R::Ok) => {
                self.reply(ReplyCode::COMMAND_OKAY, "SITE CHMOD command successful");
            }
            (_, _) => {
                self.reply(ReplyCode::LOCAL_ERROR, "Local error in processing");
                return Err(UsageError::MismatchedResponse);
            }
        }
        Ok(())
    }

    fn answer_listing(
        &mut self,
        now: Instant,
        format: &ListFormat,
        path: &VirtualPath,
        entries: &[Entry],
        clock: Timestamp,
    ) {
        let stat = format.kind == ListKind::Stat;
        let shown = match entries.get(..MAX_STAT_ENTRIES) {
            Some(first) if stat => first,
            _ => entries,
        };
        let cut = shown.len() < entries.len();
        let mut bytes = Vec::new();
        for entry in shown {
            // An entry whose name cannot be put on a line (CR, LF, NUL) is left out.
            let _ = format.write(entry, clock, &mut bytes);
        }
        if stat {
            let mut lines: Vec<Vec<u8>> =
                vec![[&b"Status of "[..], path.as_bytes(), b":"].concat()];
            lines.extend(
                bytes
                    .split(|&b| b == b'\n')
                    .map(|l| l.strip_suffix(b"\r").unwrap_or(l).to_vec())
                    .filter(|l| !l.is_empty()),
            );
            if cut {
                // Starts with a letter: it cannot be read as the reply's end line.
                lines.push(
                    format!(
                        "Listing cut at {MAX_STAT_ENTRIES} entries; \
                         use LIST or MLSD for the full listing"
                    )
                    .into_bytes(),
                );
            }
            lines.push(b"End of status".to_vec());
            self.send(&Reply::multiline(ReplyCode::FILE_STATUS, lines));
            return;
        }
        let what = path.to_string();
        self.start_transfer(
            now,
            Payload::Listing(bytes),
            what,
            "Here comes the directory listing".to_owned(),
        );
    }

    // ---- transfers -----------------------------------------------------------------------

    fn start_transfer(&mut self, now: Instant, payload: Payload, what: String, opening: String) {
        self.channel_deadline = None;
        let (id, connected) = match self.channel {
            Channel::Passive { id, connected } => (id, connected),
            Channel::Active { to } => {
                let id = self.next_id();
                self.out
                    .push_back(Output::Data(DataAction::Connect { id, to }));
                (id, false)
            }
            Channel::None => {
                // The prepared channel failed while the application was deciding.
                if let Some(ticket) = payload.ticket() {
                    self.out
                        .push_back(Output::Data(DataAction::Release { ticket }));
                }
                self.reply(
                    ReplyCode::CANT_OPEN_DATA_CONNECTION,
                    "Can't open data connection",
                );
                return;
            }
        };
        self.channel = Channel::None;
        self.busy = Busy::Transfer(Transfer {
            id,
            payload: Some(payload),
            started: false,
            bytes: 0,
            what,
            opening,
        });
        if connected {
            self.begin(ReplyCode::DATA_CONNECTION_ALREADY_OPEN);
        } else {
            self.data_deadline = after(now, self.config.data_timeout);
        }
    }

    /// The data connection is up: 150/125 and the action.
    fn begin(&mut self, code: ReplyCode) {
        let Busy::Transfer(t) = &mut self.busy else {
            return;
        };
        t.started = true;
        let id = t.id;
        let opening = core::mem::take(&mut t.opening);
        let payload = t.payload.take();
        self.data_deadline = None;
        self.reply(code, opening);
        let protected = self.prot_private;
        let action = match payload {
            Some(Payload::File { ticket, direction }) => DataAction::Transfer {
                id,
                ticket,
                direction,
                ascii: self.ascii,
                protected,
            },
            Some(Payload::Listing(bytes)) => DataAction::SendListing {
                id,
                bytes,
                protected,
            },
            Some(Payload::Stream { ticket, format }) => DataAction::StreamListing {
                id,
                ticket,
                format,
                protected,
            },
            None => return,
        };
        self.out.push_back(Output::Data(action));
    }

    fn on_listening(&mut self, now: Instant, id: DataId, addr: SocketAddr) {
        match self.busy {
            Busy::Listen { id: want, extended } if want == id => {
                self.busy = Busy::Ready;
                let reply = if extended {
                    Some(crate::addr::epsv_reply(addr.port()))
                } else {
                    match canonical(addr.ip()) {
                        IpAddr::V4(ip) => Some(crate::addr::pasv_reply(
                            std::net::SocketAddrV4::new(ip, addr.port()),
                        )),
                        IpAddr::V6(_) => None,
                    }
                };
                match reply {
                    Some(reply) => {
                        self.channel = Channel::Passive {
                            id,
                            connected: false,
                        };
                        // A listener nobody uses does not hold a port forever.
                        self.channel_deadline = after(now, self.config.idle_timeout);
                        self.send(&reply);
                    }
                    None => {
                        self.out.push_back(Output::Data(DataAction::Close { id }));
                        self.reply(ReplyCode::NETWORK_PROTOCOL_NOT_SUPPORTED, PASV_IPV4_ONLY);
                    }
                }
            }
            _ => self.out.push_back(Output::Data(DataAction::Close { id })),
        }
    }

    fn on_connected(&mut self, _now: Instant, id: DataId) {
        if let Channel::Passive {
            id: want,
            connected,
        } = &mut self.channel
            && *want == id
        {
            *connected = true;
            return;
        }
        match &self.busy {
            Busy::Transfer(t) if t.id == id && !t.started => {
                self.begin(ReplyCode::FILE_STATUS_OKAY)
            }
            _ => self.out.push_back(Output::Data(DataAction::Close { id })),
        }
    }

    fn on_failed(&mut self, now: Instant, id: DataId, error: DataError) {
        let (code, text) = if error == DataError::TlsNotResumed {
            (
                ReplyCode::NETWORK_PROTOCOL_NOT_SUPPORTED,
                "Data connection TLS must resume the control connection's TLS session",
            )
        } else if error.is_tls() {
            (
                ReplyCode::NETWORK_PROTOCOL_NOT_SUPPORTED,
                "Data connection TLS handshake failed",
            )
        } else {
            (
                ReplyCode::CANT_OPEN_DATA_CONNECTION,
                "Can't open data connection",
            )
        };
        match &self.busy {
            Busy::Listen { id: want, .. } if *want == id => {
                self.busy = Busy::Ready;
                self.reply(
                    ReplyCode::CANT_OPEN_DATA_CONNECTION,
                    "Can't open passive connection",
                );
                return;
            }
            Busy::Transfer(t) if t.id == id => {
                if let Some(ticket) = t.payload.as_ref().and_then(Payload::ticket) {
                    self.out
                        .push_back(Output::Data(DataAction::Release { ticket }));
                }
                // After 150 (e.g. the TLS handshake on the data connection failed) the transfer
                // command still needs its final reply.
                let code = if t.started && !error.is_tls() {
                    ReplyCode::CONNECTION_CLOSED
                } else {
                    code
                };
                self.busy = Busy::Ready;
                self.data_deadline = None;
                self.idle_deadline = after(now, self.config.idle_timeout);
                self.reply(code, text);
                return;
            }
            _ => {}
        }
        if matches!(self.channel, Channel::Passive { id: want, .. } if want == id) {
            self.channel = Channel::None;
            self.channel_deadline = None;
        }
    }

    fn on_finished(&mut self, now: Instant, id: DataId, result: Result<u64, TransferError>) {
        let Busy::Transfer(t) = &self.busy else {
            return;
        };
        if t.id != id || !t.started {
            return;
        }
        self.busy = Busy::Ready;
        self.idle_deadline = after(now, self.config.idle_timeout);
        match result {
            Ok(_) => self.reply(ReplyCode::CLOSING_DATA_CONNECTION, "Transfer complete"),
            Err(TransferError::ConnectionLost) => {
                self.reply(
                    ReplyCode::CONNECTION_CLOSED,
                    "Connection closed; transfer aborted",
                );
            }
            Err(TransferError::Storage(e)) => {
                self.reply(e.reply_code(), capitalized(&e.to_string()))
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TransferCmd {
    Retr,
    Stor,
    Appe,
}

/// What a LIST, NLST or STAT argument selects beyond its path: a wildcard pattern in its last
/// segment, and for NLST the argument as the client wrote it, to name entries the way it can
/// RETR them.
#[derive(Debug, Clone, Default)]
struct Select {
    /// The argument's last segment has wildcards: if the path does not exist as written, its
    /// directory is listed instead, filtered by the pattern (`dir` and `*.txt` of
    /// `NLST dir/*.txt`).
    glob: Option<(Option<FtpPath>, Arc<[u8]>)>,
    /// The pattern in force: set for the listing of the directory.
    pattern: Option<Arc<[u8]>>,
    /// NLST: the argument as given (`dir/*.txt`, `dir`); `None` without one.
    arg: Option<Vec<u8>>,
}

impl Select {
    /// The selection of a listing argument. A path is first listed as written (a directory
    /// named `q?dir` lists its contents); a last segment with wildcards (`*`, `?`, `[`) that
    /// names nothing lists its directory filtered by it. MLSD never expands them (RFC 3659
    /// section 7.1: its argument names a directory).
    fn of(path: Option<&FtpPath>, kind: ListKind) -> Self {
        let Some(path) = path else {
            return Self::default();
        };
        let bytes = path.as_bytes();
        let arg =
            (kind == ListKind::Nlst && !matches!(bytes, b"." | b"./")).then(|| bytes.to_vec());
        let dir = dir_part(bytes);
        let last = bytes.get(dir.len()..).unwrap_or_default();
        let glob = (kind != ListKind::Mlsd && listing::has_wildcards(last))
            .then(|| ((!dir.is_empty()).then(|| FtpPath::from(dir)), last.into()));
        Self {
            glob,
            pattern: None,
            arg,
        }
    }

    /// For a path that does not exist as written: the directory to list and the selection
    /// with its pattern in force; `None` without wildcards.
    fn expanded(&self) -> Option<(Option<FtpPath>, Self)> {
        let (dir, pattern) = self.glob.clone()?;
        let select = Self {
            glob: None,
            pattern: Some(pattern),
            arg: self.arg.clone(),
        };
        Some((dir, select))
    }

    /// The format for the listing. `is_dir`: the listed path is a directory (its entries
    /// are named below it), not a file (named as the argument names it).
    fn format(&self, kind: ListKind, facts: Facts, is_dir: bool) -> ListFormat {
        let prefix = self.arg.as_deref().and_then(|arg| {
            let base = if self.pattern.is_some() || !is_dir {
                dir_part(arg)
            } else {
                arg
            };
            match base {
                [] => None,
                [.., b'/'] => Some(Arc::from(base)),
                _ => Some(Arc::from([base, b"/"].concat())),
            }
        });
        ListFormat {
            kind,
            facts,
            pattern: self.pattern.clone(),
            prefix,
        }
    }
}

/// The directory part of a path argument, its last `/` included (`dir/` of `dir/*.txt` or
/// `dir/a.txt`); empty without a `/`.
pub(crate) fn dir_part(path: &[u8]) -> &[u8] {
    let end = path
        .iter()
        .rposition(|&b| b == b'/')
        .map_or(0, |slash| slash + 1);
    path.get(..end).unwrap_or_default()
}

fn is_immediate_in_transfer(cmd: &Command) -> bool {
    match cmd {
        Command::Stat(Some(_)) => false,
        c => c
            .verb()
            .is_some_and(|v| gating::rule(v).during_transfer == DuringTransfer::Immediate),
    }
}

fn is_anonymous(user: &str) -> bool {
    user.eq_ignore_ascii_case("anonymous") || user.eq_ignore_ascii_case("ftp")
}

fn preferred_hash(algorithms: &[HashAlgorithm]) -> Option<HashAlgorithm> {
    if algorithms.contains(&HashAlgorithm::Sha256) {
        Some(HashAlgorithm::Sha256)
    } else {
        algorithms.first().copied()
    }
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn help_syntax(verb: Verb) -> &'static str {
    match verb {
        Verb::User => "USER <name>",
        Verb::Pass => "PASS <password>",
        Verb::Cwd | Verb::Xcwd => "CWD <directory>",
        Verb::Retr => "RETR <file>",
        Verb::Stor => "STOR <file>",
        Verb::Appe => "APPE <file>",
        Verb::Rest => "REST <offset>",
        Verb::Type => "TYPE A|I|L 8",
        Verb::Port => "PORT h1,h2,h3,h4,p1,p2",
        Verb::Eprt => "EPRT |proto|address|port|",
        Verb::Epsv => "EPSV [1|2|ALL]",
        Verb::List | Verb::Nlst => "LIST [-options] [path]",
        Verb::Mfmt => "MFMT YYYYMMDDHHMMSS <path>",
        Verb::Mdtm => "MDTM [YYYYMMDDHHMMSS] <path>",
        Verb::Opts => "OPTS <command> [options]",
        _ => verb.as_str(),
    }
}
