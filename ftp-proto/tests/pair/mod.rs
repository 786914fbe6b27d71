//! The `Pair` harness: a client Session wired to a server Session with no sockets, a simulated
//! clock and an in-memory file tree. The harness plays both drivers (it carries control bytes,
//! opens the simulated data connections and copies file bytes) and the server's application
//! (login, files, directories).
#![allow(dead_code, unreachable_pub, clippy::disallowed_methods)]

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ftp_proto::client::{
    self, CommandHandle, DataAction as CAction, DataInput as CInput, Direction as CDirection,
    Event, Output as COut, TransferDone, TransferError,
};
use ftp_proto::listing::Entry;
use ftp_proto::server::{
    self, ConnectionInfo, DataAction as SAction, DataInput as SInput, Direction as SDirection,
    FsError, Output as SOut, Request, Response, StoreMode, Ticket,
};
use ftp_proto::{Command, Reply, Timestamp};

/// The server's control address as the client sees it.
pub const SERVER: &str = "192.0.2.1:21";
/// The client's control address as the server sees it.
pub const CLIENT: &str = "192.0.2.10:40000";

/// In which order the end of a download reaches the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// The data EOF first, then the 226.
    EofFirst,
    /// The 226 first, then the data EOF.
    ReplyFirst,
}

/// What the server side opened for a ticket.
#[derive(Debug, Clone)]
enum Opened {
    Read {
        path: String,
        offset: u64,
    },
    Write {
        path: String,
        offset: u64,
        append: bool,
    },
}

/// One simulated data connection.
#[derive(Debug, Default)]
struct Link {
    client: Option<client::DataId>,
    server: Option<server::DataId>,
    client_dir: Option<CDirection>,
    server_job: Option<(SDirection, Vec<u8>, Option<Ticket>)>,
}

pub struct Pair {
    pub client: client::Session,
    pub server: server::Session,
    pub now: Instant,
    pub files: BTreeMap<String, Vec<u8>>,
    pub dirs: BTreeSet<String>,
    /// Every client event, in order.
    pub events: Vec<Event>,
    /// Every line the client transmitted.
    pub sent: Vec<String>,
    /// Bytes the client received over data connections.
    pub received: Vec<u8>,
    /// What the client sends on its next upload.
    pub upload: Vec<u8>,
    pub order: Order,
    /// When false, data connections never finish by themselves (to abort mid-transfer).
    pub data_flows: bool,
    server_listeners: HashMap<SocketAddr, server::DataId>,
    client_listeners: HashMap<SocketAddr, client::DataId>,
    next_port: u16,
    opened: HashMap<Ticket, Opened>,
    link: Option<Link>,
    server_closed: bool,
}

fn key(path: &str) -> String {
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        "/".into()
    } else {
        trimmed.into()
    }
}

impl Pair {
    /// A pair whose server starts in binary: the core client sends no TYPE of its own (the
    /// tokio client's first transfer sends TYPE I), and these tests move bytes as they are.
    pub fn new(config: client::Config) -> Self {
        let mut server = server::Config::default();
        server.ascii_by_default = false;
        Self::with_server(config, server)
    }

    pub fn with_server(config: client::Config, server_config: server::Config) -> Self {
        let now = Instant::now();
        let conn = ConnectionInfo {
            peer: CLIENT.parse().unwrap(),
            local: SERVER.parse().unwrap(),
            tls: false,
        };
        let server = server::Session::new(Arc::new(server_config), conn, now);
        let client = client::Session::new(config, SERVER.parse().unwrap(), now);
        let mut dirs = BTreeSet::new();
        dirs.insert("/".to_string());
        let mut pair = Self {
            client,
            server,
            now,
            files: BTreeMap::new(),
            dirs,
            events: Vec::new(),
            sent: Vec::new(),
            received: Vec::new(),
            upload: Vec::new(),
            order: Order::EofFirst,
            data_flows: true,
            server_listeners: HashMap::new(),
            client_listeners: HashMap::new(),
            next_port: 50000,
            opened: HashMap::new(),
            link: None,
            server_closed: false,
        };
        pair.run();
        pair
    }

    /// A pair past the greeting and logged in as alice.
    pub fn logged_in(config: client::Config) -> Self {
        let mut pair = Self::new(config);
        let user = pair.send(Command::User("alice".into()));
        let pass = pair.send(Command::Pass(b"secret".to_vec().into()));
        assert_eq!(pair.code_of(user), 331);
        assert_eq!(pair.code_of(pass), 230);
        pair.events.clear();
        pair.sent.clear();
        pair
    }

    pub fn send(&mut self, command: Command) -> CommandHandle {
        let h = self.client.send(self.now, command).expect("send");
        self.run();
        h
    }

    pub fn transfer(&mut self, command: Command, rest: Option<u64>) -> CommandHandle {
        let h = self
            .client
            .transfer(self.now, command, rest)
            .expect("transfer");
        self.run();
        h
    }

    /// The final reply code for `handle`.
    pub fn code_of(&self, handle: CommandHandle) -> u16 {
        self.events
            .iter()
            .find_map(|e| match e {
                Event::Reply { handle: h, reply } if *h == handle => Some(reply.code().get()),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no reply for {handle:?}: {:?}", self.events))
    }

    pub fn reply_of(&self, handle: CommandHandle) -> Reply {
        self.events
            .iter()
            .find_map(|e| match e {
                Event::Reply { handle: h, reply } if *h == handle => Some(reply.clone()),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no reply for {handle:?}: {:?}", self.events))
    }

    pub fn transfer_result(
        &self,
        handle: CommandHandle,
    ) -> Option<Result<TransferDone, TransferError>> {
        self.events.iter().find_map(|e| match e {
            Event::Transfer { handle: h, result } if *h == handle => Some(result.clone()),
            _ => None,
        })
    }

    pub fn closed(&self) -> Option<client::SessionError> {
        self.events.iter().find_map(|e| match e {
            Event::Closed(err) => Some(err.clone()),
            _ => None,
        })
    }

    pub fn advance(&mut self, d: Duration) {
        self.now += d;
        self.client.handle_timeout(self.now);
        self.server.handle_timeout(self.now);
        self.run();
    }

    pub fn abort(&mut self) {
        self.client.abort(self.now).expect("abort");
        self.run();
    }

    /// Carries everything both sides produce until neither has anything more to say.
    pub fn run(&mut self) {
        for _ in 0..10_000 {
            let mut progress = false;
            while let Some(out) = self.client.poll_output() {
                progress = true;
                self.client_output(out);
            }
            while let Some(out) = self.server.poll_output() {
                progress = true;
                self.server_output(out);
            }
            if self.move_data() {
                progress = true;
            }
            if !progress {
                return;
            }
        }
        panic!("the pair did not settle");
    }

    fn client_output(&mut self, out: COut) {
        match out {
            COut::Transmit(bytes) => {
                for line in String::from_utf8_lossy(&bytes).split_terminator("\r\n") {
                    self.sent.push(line.to_string());
                }
                if !self.server_closed {
                    self.server.handle_control(self.now, &bytes);
                }
            }
            COut::Data(CAction::Connect { id, to }) => match self.server_listeners.remove(&to) {
                Some(sid) => {
                    self.link = Some(Link {
                        client: Some(id),
                        server: Some(sid),
                        ..Link::default()
                    });
                    self.server
                        .handle_data(self.now, SInput::Connected { id: sid });
                    self.client.handle_data(self.now, CInput::Connected { id });
                }
                None => self.client.handle_data(
                    self.now,
                    CInput::Failed {
                        id,
                        error: client::DataError::Connect,
                    },
                ),
            },
            COut::Data(CAction::Listen { id, .. }) => {
                self.next_port += 1;
                let addr =
                    SocketAddr::new(CLIENT.parse::<SocketAddr>().unwrap().ip(), self.next_port);
                self.client_listeners.insert(addr, id);
                self.client
                    .handle_data(self.now, CInput::Listening { id, addr });
            }
            COut::Data(CAction::Transfer { id, direction, .. }) => {
                let link = self.link.get_or_insert_with(Link::default);
                link.client.get_or_insert(id);
                link.client_dir = Some(direction);
            }
            COut::Data(CAction::Close { id }) => {
                self.client_listeners.retain(|_, v| *v != id);
                if let Some(link) = &self.link
                    && link.client == Some(id)
                {
                    let link = self.link.take().unwrap();
                    // The server sees its data connection drop.
                    if let Some(sid) = link.server
                        && link.server_job.is_some()
                    {
                        self.server.handle_data(
                            self.now,
                            SInput::Finished {
                                id: sid,
                                result: Err(server::TransferError::ConnectionLost),
                            },
                        );
                    }
                }
            }
            COut::Data(other) => panic!("unexpected client data action {other:?}"),
            COut::Event(event) => self.events.push(event),
            COut::UpgradeTls => self.events.push(Event::Unsolicited(Reply::new(
                ftp_proto::ReplyCode::SECURITY_EXCHANGE_COMPLETE,
                "harness: UpgradeTls",
            ))),
            other => panic!("unexpected client output {other:?}"),
        }
    }

    fn server_output(&mut self, out: SOut) {
        match out {
            SOut::Transmit(bytes) => self.client.handle_control(self.now, &bytes),
            SOut::Data(SAction::Listen { id, .. }) => {
                self.next_port += 1;
                let addr =
                    SocketAddr::new(SERVER.parse::<SocketAddr>().unwrap().ip(), self.next_port);
                self.server_listeners.retain(|_, v| *v != id);
                self.server_listeners.insert(addr, id);
                self.server
                    .handle_data(self.now, SInput::Listening { id, addr });
            }
            SOut::Data(SAction::Connect { id, to }) => match self.client_listeners.remove(&to) {
                Some(cid) => {
                    let link = self.link.get_or_insert_with(Link::default);
                    link.client.get_or_insert(cid);
                    link.server = Some(id);
                    self.server.handle_data(self.now, SInput::Connected { id });
                    self.client
                        .handle_data(self.now, CInput::Connected { id: cid });
                }
                None => self.server.handle_data(
                    self.now,
                    SInput::Failed {
                        id,
                        error: server::DataError::Connect,
                    },
                ),
            },
            SOut::Data(SAction::Transfer {
                id,
                ticket,
                direction,
                ..
            }) => {
                let bytes = match (direction, self.opened.get(&ticket)) {
                    (SDirection::Send, Some(Opened::Read { path, offset })) => {
                        let data = self.files.get(path).cloned().unwrap_or_default();
                        data.get(*offset as usize..).unwrap_or_default().to_vec()
                    }
                    _ => Vec::new(),
                };
                self.server_job(id, direction, bytes, Some(ticket));
            }
            SOut::Data(SAction::SendListing { id, bytes, .. }) => {
                self.server_job(id, SDirection::Send, bytes, None);
            }
            SOut::Data(SAction::Close { id }) => {
                self.server_listeners.retain(|_, v| *v != id);
                if let Some(link) = &self.link
                    && link.server == Some(id)
                {
                    let link = self.link.take().unwrap();
                    if let Some(cid) = link.client
                        && link.client_dir.is_some()
                    {
                        self.client.handle_data(
                            self.now,
                            CInput::Finished {
                                id: cid,
                                bytes: 0,
                                result: Err(client::CopyError::ConnectionLost),
                            },
                        );
                    }
                }
            }
            SOut::Data(SAction::Release { ticket }) => {
                self.opened.remove(&ticket);
            }
            SOut::Data(other) => panic!("unexpected server data action {other:?}"),
            SOut::Request { ticket, request } => {
                let response = self.application(ticket, request);
                self.server
                    .respond(self.now, ticket, response)
                    .expect("respond");
            }
            SOut::Close => {
                self.server_closed = true;
                self.client.handle_eof(self.now);
            }
            other => panic!("unexpected server output {other:?}"),
        }
    }

    fn server_job(
        &mut self,
        id: server::DataId,
        direction: SDirection,
        bytes: Vec<u8>,
        ticket: Option<Ticket>,
    ) {
        let link = self.link.get_or_insert_with(Link::default);
        link.server.get_or_insert(id);
        link.server_job = Some((direction, bytes, ticket));
    }

    /// Moves the bytes of the current data connection once both ends are copying.
    fn move_data(&mut self) -> bool {
        if !self.data_flows {
            return false;
        }
        let ready = self.link.as_ref().is_some_and(|l| {
            l.client.is_some()
                && l.server.is_some()
                && l.client_dir.is_some()
                && l.server_job.is_some()
        });
        if !ready {
            return false;
        }
        let link = self.link.take().unwrap();
        let (cid, sid) = (link.client.unwrap(), link.server.unwrap());
        let (direction, bytes, ticket) = link.server_job.unwrap();
        match direction {
            SDirection::Send => {
                let n = bytes.len() as u64;
                self.received.extend_from_slice(&bytes);
                let client_done = CInput::Finished {
                    id: cid,
                    bytes: n,
                    result: Ok(()),
                };
                let server_done = SInput::Finished {
                    id: sid,
                    result: Ok(n),
                };
                match self.order {
                    Order::EofFirst => {
                        self.client.handle_data(self.now, client_done);
                        self.server.handle_data(self.now, server_done);
                    }
                    Order::ReplyFirst => {
                        self.server.handle_data(self.now, server_done);
                        while let Some(out) = self.server.poll_output() {
                            self.server_output(out);
                        }
                        self.client.handle_data(self.now, client_done);
                    }
                }
            }
            SDirection::Receive => {
                let data = core::mem::take(&mut self.upload);
                let n = data.len() as u64;
                if let Some(Opened::Write {
                    path,
                    offset,
                    append,
                }) = ticket.and_then(|t| self.opened.get(&t)).cloned()
                {
                    let file = self.files.entry(path).or_default();
                    if !append {
                        file.truncate(offset as usize);
                    }
                    file.extend_from_slice(&data);
                }
                self.client.handle_data(
                    self.now,
                    CInput::Finished {
                        id: cid,
                        bytes: n,
                        result: Ok(()),
                    },
                );
                self.server.handle_data(
                    self.now,
                    SInput::Finished {
                        id: sid,
                        result: Ok(n),
                    },
                );
            }
        }
        true
    }

    /// The server's application: alice/secret, files and directories in memory.
    fn application(&mut self, ticket: Ticket, request: Request) -> Response {
        match request {
            Request::Login { user, password, .. } => {
                if user == "alice" && password.expose_secret() == b"secret" {
                    Response::LoggedIn
                } else {
                    Response::LoginRejected
                }
            }
            Request::ChangeDir { path } => {
                if self.dirs.contains(&key(&path.to_string())) {
                    Response::Ok
                } else {
                    Response::Error(FsError::NotFound)
                }
            }
            Request::Retrieve { path, offset, .. } => {
                let path = key(&path.to_string());
                match self.files.get(&path) {
                    Some(data) => {
                        let size = (data.len() as u64).saturating_sub(offset);
                        self.opened.insert(ticket, Opened::Read { path, offset });
                        Response::Size(size)
                    }
                    None => Response::Error(FsError::NotFound),
                }
            }
            Request::Store { path, offset, mode } => {
                let path = key(&path.to_string());
                self.opened.insert(
                    ticket,
                    Opened::Write {
                        path,
                        offset,
                        append: mode == StoreMode::Append,
                    },
                );
                Response::Ok
            }
            Request::List { path, .. } => {
                let dir = key(&path.to_string());
                let prefix = if dir == "/" {
                    "/".to_string()
                } else {
                    format!("{dir}/")
                };
                let mut entries = Vec::new();
                for (name, data) in &self.files {
                    if let Some(rest) = name.strip_prefix(&prefix)
                        && !rest.contains('/')
                    {
                        let mut e = Entry::file(rest.as_bytes().to_vec(), data.len() as u64);
                        e.modified = Timestamp::parse(b"20240501100000").ok();
                        entries.push(e);
                    }
                }
                for d in &self.dirs {
                    if let Some(rest) = d.strip_prefix(&prefix)
                        && !rest.is_empty()
                        && !rest.contains('/')
                    {
                        entries.push(Entry::dir(rest.as_bytes().to_vec()));
                    }
                }
                Response::Entries {
                    entries,
                    now: Timestamp::parse(b"20240601120000").unwrap(),
                }
            }
            Request::Size { path, .. } => match self.files.get(&key(&path.to_string())) {
                Some(d) => Response::Size(d.len() as u64),
                None => Response::Error(FsError::NotFound),
            },
            Request::Delete { path } => match self.files.remove(&key(&path.to_string())) {
                Some(_) => Response::Ok,
                None => Response::Error(FsError::NotFound),
            },
            Request::MakeDir { path } => {
                self.dirs.insert(key(&path.to_string()));
                Response::Ok
            }
            Request::RemoveDir { path } => {
                if self.dirs.remove(&key(&path.to_string())) {
                    Response::Ok
                } else {
                    Response::Error(FsError::NotFound)
                }
            }
            Request::RenameFrom { path } => {
                if self.files.contains_key(&key(&path.to_string())) {
                    Response::Ok
                } else {
                    Response::Error(FsError::NotFound)
                }
            }
            Request::Rename { from, to } => match self.files.remove(&key(&from.to_string())) {
                Some(d) => {
                    self.files.insert(key(&to.to_string()), d);
                    Response::Ok
                }
                None => Response::Error(FsError::NotFound),
            },
            _ => Response::Error(FsError::NotSupported),
        }
    }
}

/// A client session driven by hand against scripted server bytes.
pub struct Scripted {
    pub s: client::Session,
    pub now: Instant,
    pub out: VecDeque<COut>,
}

impl Scripted {
    pub fn new(config: client::Config) -> Self {
        Self::with_peer(config, SERVER)
    }

    pub fn with_peer(config: client::Config, peer: &str) -> Self {
        let now = Instant::now();
        let mut s = Self {
            s: client::Session::new(config, peer.parse().unwrap(), now),
            now,
            out: VecDeque::new(),
        };
        s.server(b"220 Scripted\r\n");
        s.out.clear();
        s
    }

    fn drain(&mut self) {
        while let Some(o) = self.s.poll_output() {
            self.out.push_back(o);
        }
    }

    pub fn server(&mut self, bytes: &[u8]) {
        self.s.handle_control(self.now, bytes);
        self.drain();
    }

    pub fn data(&mut self, input: CInput) {
        self.s.handle_data(self.now, input);
        self.drain();
    }

    pub fn send(&mut self, command: Command) -> CommandHandle {
        let h = self.s.send(self.now, command).unwrap();
        self.drain();
        h
    }

    pub fn transfer(&mut self, command: Command, rest: Option<u64>) -> CommandHandle {
        let h = self.s.transfer(self.now, command, rest).unwrap();
        self.drain();
        h
    }

    /// Everything transmitted since the last call, as text.
    pub fn transmitted(&mut self) -> String {
        let mut text = String::new();
        self.out.retain(|o| match o {
            COut::Transmit(b) => {
                text.push_str(&String::from_utf8_lossy(b));
                false
            }
            _ => true,
        });
        text
    }

    /// Removes and returns the data actions queued so far.
    pub fn actions(&mut self) -> Vec<CAction> {
        let mut actions = Vec::new();
        self.out.retain(|o| match o {
            COut::Data(a) => {
                actions.push(a.clone());
                false
            }
            _ => true,
        });
        actions
    }

    /// Removes and returns the events queued so far.
    pub fn events(&mut self) -> Vec<Event> {
        let mut events = Vec::new();
        self.out.retain(|o| match o {
            COut::Event(e) => {
                events.push(e.clone());
                false
            }
            _ => true,
        });
        events
    }
}
