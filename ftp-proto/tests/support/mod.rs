//! A dialogue harness for server-session tests: lines in, replies, requests and data actions
//! out, with a simulated clock. Shared by the server test files (`mod support;`).
#![allow(dead_code, unreachable_pub)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ftp_proto::listing::Entry;
use ftp_proto::server::{
    Config, ConnectionInfo, DataAction, DataId, DataInput, Output, Request, Response, Session,
    Ticket,
};
use ftp_proto::{Reply, ReplyParser, Timestamp};

/// Client address used by the harness.
pub const PEER: &str = "192.0.2.10:40000";
/// Server address used by the harness.
pub const LOCAL: &str = "192.0.2.1:21";

/// Everything the session produced, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Reply(Reply),
    Data(DataAction),
    Request(Ticket, Request),
    UpgradeTls,
    DowngradeTls,
    Close,
}

pub struct Harness {
    pub s: Session,
    pub now: Instant,
    parser: ReplyParser,
    pub events: VecDeque<Event>,
    pub closed: bool,
}

pub fn conn(peer: &str, local: &str) -> ConnectionInfo {
    ConnectionInfo {
        peer: peer.parse().unwrap(),
        local: local.parse().unwrap(),
        tls: false,
    }
}

impl Harness {
    pub fn new(config: Config) -> Self {
        Self::with_conn(config, conn(PEER, LOCAL))
    }

    pub fn with_conn(config: Config, conn: ConnectionInfo) -> Self {
        // The simulated clock needs some starting instant; the session itself never reads one.
        #[allow(clippy::disallowed_methods)]
        let now = Instant::now();
        let s = Session::new(Arc::new(config), conn, now);
        let mut h = Self {
            s,
            now,
            parser: ReplyParser::new(),
            events: VecDeque::new(),
            closed: false,
        };
        h.drain();
        assert_eq!(h.reply_code(), 220, "greeting");
        h
    }

    /// A logged-in session with the default config.
    pub fn logged_in() -> Self {
        let mut h = Self::new(Config::default());
        h.login();
        h
    }

    pub fn drain(&mut self) {
        while let Some(out) = self.s.poll_output() {
            match out {
                Output::Transmit(bytes) => {
                    for r in self.parser.replies(&bytes) {
                        self.events
                            .push_back(Event::Reply(r.expect("session sent a valid reply")));
                    }
                }
                Output::Data(a) => self.events.push_back(Event::Data(a)),
                Output::Request { ticket, request } => {
                    self.events.push_back(Event::Request(ticket, request));
                }
                Output::UpgradeTls => self.events.push_back(Event::UpgradeTls),
                Output::DowngradeTls => self.events.push_back(Event::DowngradeTls),
                Output::Close => {
                    self.closed = true;
                    self.events.push_back(Event::Close);
                }
                other => panic!("unexpected output {other:?}"),
            }
        }
        assert!(!self.parser.in_reply(), "a reply was cut in the middle");
    }

    /// Sends raw bytes.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.s.handle_control(self.now, bytes);
        self.drain();
    }

    /// Sends one command line (CRLF added).
    pub fn send(&mut self, line: &str) {
        self.send_raw(format!("{line}\r\n").as_bytes());
    }

    /// The next event, panicking if there is none.
    pub fn next(&mut self) -> Event {
        self.events.pop_front().expect("expected another event")
    }

    /// The next event, which must be a reply.
    pub fn reply(&mut self) -> Reply {
        match self.next() {
            Event::Reply(r) => r,
            other => panic!("expected a reply, got {other:?}"),
        }
    }

    pub fn reply_code(&mut self) -> u16 {
        self.reply().code().get()
    }

    /// The prepared data channel is closed (a refused transfer drops it), then a reply.
    pub fn code_after_close(&mut self) -> u16 {
        match self.next() {
            Event::Data(DataAction::Close { .. }) => self.reply_code(),
            other => panic!("expected Close before the reply, got {other:?}"),
        }
    }

    /// Sends a line and returns the code of the one reply it produces; nothing else may follow.
    pub fn cmd(&mut self, line: &str) -> u16 {
        self.send(line);
        let code = self.reply_code();
        self.assert_quiet();
        code
    }

    /// Sends a line and returns the request it produced.
    pub fn ask(&mut self, line: &str) -> (Ticket, Request) {
        self.send(line);
        self.request()
    }

    pub fn request(&mut self) -> (Ticket, Request) {
        match self.next() {
            Event::Request(t, r) => (t, r),
            other => panic!("expected a request, got {other:?}"),
        }
    }

    pub fn data(&mut self) -> DataAction {
        match self.next() {
            Event::Data(a) => a,
            other => panic!("expected a data action, got {other:?}"),
        }
    }

    pub fn respond(&mut self, ticket: Ticket, response: Response) {
        self.s.respond(self.now, ticket, response).expect("respond");
        self.drain();
    }

    pub fn input(&mut self, input: DataInput) {
        self.s.handle_data(self.now, input);
        self.drain();
    }

    pub fn advance(&mut self, d: Duration) {
        self.now += d;
        self.s.handle_timeout(self.now);
        self.drain();
    }

    pub fn assert_quiet(&self) {
        assert!(
            self.events.is_empty(),
            "unexpected events: {:?}",
            self.events
        );
    }

    /// USER alice / PASS secret, accepted.
    pub fn login(&mut self) {
        assert_eq!(self.cmd("USER alice"), 331);
        let (t, r) = self.ask("PASS secret");
        assert!(matches!(r, Request::Login { .. }), "{r:?}");
        self.respond(t, Response::LoggedIn);
        assert_eq!(self.reply_code(), 230);
        self.assert_quiet();
    }

    /// EPSV, answered by a listener on port 50000; returns the channel id. A previously
    /// prepared listener is closed first (one data channel per session).
    pub fn epsv(&mut self) -> DataId {
        self.send("EPSV");
        let mut action = self.data();
        if let DataAction::Close { .. } = action {
            action = self.data();
        }
        let DataAction::Listen { id, .. } = action else {
            panic!("expected Listen, got {action:?}")
        };
        let addr: SocketAddr = "192.0.2.1:50000".parse().unwrap();
        self.input(DataInput::Listening { id, addr });
        let r = self.reply();
        assert_eq!(r.code().get(), 229, "{r:?}");
        id
    }
}

/// A fixed "now" for listings.
pub fn clock() -> Timestamp {
    Timestamp::parse(b"20240601120000").unwrap()
}

pub fn entries() -> Vec<Entry> {
    let mut a = Entry::file(b"a.txt".to_vec(), 10);
    a.modified = Some(Timestamp::parse(b"20240501100000").unwrap());
    vec![a, Entry::dir(b"sub".to_vec())]
}
