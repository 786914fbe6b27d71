//! `RequestHandler` over `MemoryStorage` and `StaticUsers`: login, the home-directory mapping,
//! what is opened for the data side (read, written and listed through it), permission refusals
//! that leave storage untouched, the anonymous upload grant, and release; STAT's entry cap
//! through a real session; and, over `FsStorage` on Unix, symlinks (loops, dangling links)
//! and special files (SIZE, the MLSx `perm` fact, RNFR).
//!
//! Tickets can only come from a session, so a small [`Tickets`] harness drives one to mint them.

use std::sync::Arc;
use std::time::Instant;

use ftp_server_tokio::auth::{
    AnonymousPolicy, AuthError, Authenticator, Credentials, Permissions, Principal, StaticUsers,
    UserEntry,
};
use ftp_server_tokio::ftp_proto::server::{
    Config, ConnectionInfo, FsError, ListKind, Output, Request, Response, Session, StoreMode,
    Ticket,
};
use ftp_server_tokio::ftp_proto::{FtpPath, Secret, Timestamp, VirtualPath};
use ftp_server_tokio::handler::{Opened, RequestHandler};
use ftp_server_tokio::storage::memory::MemoryStorage;
use ftp_server_tokio::storage::{DirEntries, Storage};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn p(s: &str) -> VirtualPath {
    VirtualPath::root().resolve(&FtpPath::from(s)).unwrap()
}

fn conn() -> ConnectionInfo {
    ConnectionInfo {
        peer: "192.0.2.7:50123".parse().unwrap(),
        local: "192.0.2.1:21".parse().unwrap(),
        tls: false,
    }
}

/// Mints distinct tickets from a real session: each is the ticket of an MDTM request that is
/// answered at once, so the next command runs.
struct Tickets {
    session: Session,
    now: Instant,
}

impl Tickets {
    fn new() -> Self {
        let now = Instant::now();
        let mut tickets = Self {
            session: Session::new(Config::default().into(), conn(), now),
            now,
        };
        tickets.session.handle_control(now, b"USER t\r\nPASS t\r\n");
        let login = tickets.pending();
        tickets
            .session
            .respond(now, login, Response::LoggedIn)
            .unwrap();
        tickets
    }

    fn pending(&mut self) -> Ticket {
        while let Some(output) = self.session.poll_output() {
            if let Output::Request { ticket, .. } = output {
                return ticket;
            }
        }
        panic!("the session asked nothing");
    }

    fn next(&mut self) -> Ticket {
        self.session.handle_control(self.now, b"MDTM x\r\n");
        let ticket = self.pending();
        let answer = Response::Error(FsError::NotFound);
        self.session.respond(self.now, ticket, answer).unwrap();
        ticket
    }
}

type Handler = RequestHandler<MemoryStorage, StaticUsers>;

struct Fixture {
    storage: MemoryStorage,
    handler: Handler,
    tickets: Tickets,
}

fn users() -> StaticUsers {
    StaticUsers::new([
        UserEntry::new("alice", "s3cret", p("/home/alice"), Permissions::ALL),
        UserEntry::new("bob", "b0b", p("/home/bob"), Permissions::READ_ONLY),
    ])
    .unwrap()
    .with_anonymous(
        AnonymousPolicy::default()
            .with_home(p("/srv/pub"))
            .with_upload_dir(p("/upload")),
    )
}

fn fixture() -> Fixture {
    let storage = MemoryStorage::new()
        .with_file("/a.txt", "outside the home")
        .with_file("/home/alice/a.txt", "hello world")
        .with_file("/home/alice/docs/b.txt", "b")
        .with_file("/home/bob/r.txt", "r")
        .with_dir("/home/bob/sub")
        .with_file("/srv/pub/readme", "x")
        .with_dir("/srv/pub/upload");
    let handler = RequestHandler::new(Arc::new(storage.clone()), Arc::new(users()));
    Fixture {
        storage,
        handler,
        tickets: Tickets::new(),
    }
}

fn login_request(user: &str, password: &str, anonymous: bool) -> Request {
    Request::Login {
        user: user.to_owned(),
        password: Secret::new(password.as_bytes().to_vec()),
        peer: conn().peer,
        tls: false,
        anonymous,
    }
}

impl Fixture {
    async fn ask(&mut self, request: Request) -> (Ticket, Response) {
        let ticket = self.tickets.next();
        (ticket, self.handler.handle(ticket, request).await)
    }

    async fn answer(&mut self, request: Request) -> Response {
        self.ask(request).await.1
    }

    async fn logged_in(user: &str, password: &str, anonymous: bool) -> Self {
        let mut f = fixture();
        let response = f.answer(login_request(user, password, anonymous)).await;
        assert_eq!(response, Response::LoggedIn);
        f
    }

    async fn reader(&mut self, ticket: Ticket) -> Vec<u8> {
        let Some(Opened::Reader(mut reader)) = self.handler.take(ticket) else {
            panic!("no reader for {ticket:?}");
        };
        let mut bytes = Vec::new();
        reader.read_to_end(&mut bytes).await.unwrap();
        bytes
    }

    async fn write(&mut self, ticket: Ticket, bytes: &[u8]) {
        let mut writer = match self.handler.take(ticket) {
            Some(Opened::Writer(writer)) => writer,
            // STOR/APPE: opened by the data side once its connection is ready.
            Some(Opened::Write { path, mode }) => {
                self.storage.open_write(&path, mode).await.unwrap()
            }
            other => panic!("nothing to write for {ticket:?}: {other:?}"),
        };
        writer.write_all(bytes).await.unwrap();
        writer.shutdown().await.unwrap();
    }
}

fn store(path: &str, mode: StoreMode) -> Request {
    Request::Store {
        path: p(path),
        offset: 0,
        mode,
    }
}

fn list(path: &str, kind: ListKind) -> Request {
    Request::List {
        path: p(path),
        options: None,
        kind,
    }
}

fn names(response: &Response) -> Vec<&[u8]> {
    let Response::Entries { entries, .. } = response else {
        panic!("not entries: {response:?}");
    };
    entries.iter().map(|e| e.name.as_slice()).collect()
}

#[tokio::test]
async fn login_accepts_the_right_password_and_rejects_a_wrong_one() {
    let mut f = fixture();
    assert_eq!(
        f.answer(login_request("alice", "wrong", false)).await,
        Response::LoginRejected
    );
    assert!(f.handler.principal().is_none());

    assert_eq!(
        f.answer(login_request("alice", "s3cret", false)).await,
        Response::LoggedIn
    );
    let alice = f.handler.principal().unwrap();
    assert_eq!(
        (alice.name.as_str(), &alice.home),
        ("alice", &p("/home/alice"))
    );

    // A failed new attempt leaves no one logged in.
    f.answer(login_request("bob", "wrong", false)).await;
    assert!(f.handler.principal().is_none());
}

/// An authenticator whose back-end is down.
struct Down;

impl Authenticator for Down {
    async fn authenticate(&self, _: Credentials<'_>) -> Result<Principal, AuthError> {
        Err(AuthError::Unavailable)
    }
}

#[tokio::test]
async fn an_unavailable_back_end_answers_login_unavailable() {
    let mut handler = RequestHandler::new(Arc::new(MemoryStorage::new()), Arc::new(Down));
    let ticket = Tickets::new().next();
    let response = handler
        .handle(ticket, login_request("alice", "s3cret", false))
        .await;
    assert_eq!(response, Response::LoginUnavailable);
}

#[tokio::test]
async fn requests_before_login_are_denied() {
    let mut f = fixture();
    let retrieve = Request::Retrieve {
        path: p("/a.txt"),
        offset: 0,
        ascii: false,
    };
    let (ticket, response) = f.ask(retrieve).await;
    assert_eq!(response, Response::Error(FsError::PermissionDenied));
    assert!(f.handler.take(ticket).is_none());
    assert_eq!(
        f.answer(list("/", ListKind::Stat)).await,
        Response::Error(FsError::PermissionDenied)
    );
}

#[tokio::test]
async fn retrieve_reads_the_file_under_the_home() {
    let mut f = Fixture::logged_in("alice", "s3cret", false).await;
    let retrieve = Request::Retrieve {
        path: p("/a.txt"),
        offset: 0,
        ascii: false,
    };
    let (ticket, response) = f.ask(retrieve).await;
    assert_eq!(response, Response::Size(11));
    assert_eq!(f.reader(ticket).await, b"hello world");
    assert!(f.handler.take(ticket).is_none(), "taken once");
}

#[tokio::test]
async fn retrieve_from_an_offset_announces_the_rest() {
    let mut f = Fixture::logged_in("alice", "s3cret", false).await;
    let retrieve = Request::Retrieve {
        path: p("/a.txt"),
        offset: 6,
        ascii: false,
    };
    let (ticket, response) = f.ask(retrieve).await;
    assert_eq!(response, Response::Size(5));
    assert_eq!(f.reader(ticket).await, b"world");

    let ascii = Request::Retrieve {
        path: p("/a.txt"),
        offset: 0,
        ascii: true,
    };
    let (ticket, response) = f.ask(ascii).await;
    assert_eq!(response, Response::Ok, "no byte count in ASCII mode");
    assert_eq!(f.reader(ticket).await, b"hello world");

    let dir = Request::Retrieve {
        path: p("/docs"),
        offset: 0,
        ascii: false,
    };
    assert_eq!(f.answer(dir).await, Response::Error(FsError::IsADirectory));

    let at_end = Request::Retrieve {
        path: p("/a.txt"),
        offset: 11,
        ascii: false,
    };
    let (ticket, response) = f.ask(at_end).await;
    assert_eq!(
        response,
        Response::Size(0),
        "the very end is a valid offset"
    );
    assert_eq!(f.reader(ticket).await, b"");
    let past_end = Request::Retrieve {
        path: p("/a.txt"),
        offset: 12,
        ascii: false,
    };
    assert_eq!(
        f.answer(past_end).await,
        Response::Error(FsError::OffsetPastEnd)
    );
}

#[tokio::test]
async fn resuming_an_upload_past_the_end_is_refused_before_anything_changes() {
    let mut f = Fixture::logged_in("alice", "s3cret", false).await;
    let resume = |path: &str, offset| Request::Store {
        path: p(path),
        offset,
        mode: StoreMode::Replace,
    };
    assert_eq!(
        f.answer(resume("/a.txt", 12)).await,
        Response::Error(FsError::OffsetPastEnd)
    );
    assert_eq!(
        f.answer(resume("/a.txt", u64::MAX)).await,
        Response::Error(FsError::OffsetPastEnd)
    );
    assert_eq!(
        f.answer(resume("/missing.txt", 1)).await,
        Response::Error(FsError::OffsetPastEnd)
    );
    assert_eq!(
        f.storage.read_file("/home/alice/a.txt").as_deref(),
        Some(&b"hello world"[..])
    );
    assert_eq!(f.storage.read_file("/home/alice/missing.txt"), None);

    let (ticket, response) = f.ask(resume("/a.txt", 11)).await;
    assert_eq!(response, Response::Ok, "resuming at the very end appends");
    f.write(ticket, b"!").await;
    assert_eq!(
        f.storage.read_file("/home/alice/a.txt").as_deref(),
        Some(&b"hello world!"[..])
    );
}

#[tokio::test]
async fn store_writes_through_the_taken_writer() {
    let mut f = Fixture::logged_in("alice", "s3cret", false).await;
    let (ticket, response) = f.ask(store("/new.txt", StoreMode::Replace)).await;
    assert_eq!(response, Response::Ok);
    f.write(ticket, b"uploaded").await;
    assert_eq!(
        f.storage.read_file("/home/alice/new.txt").as_deref(),
        Some(&b"uploaded"[..])
    );
    assert!(!f.storage.exists("/new.txt"));
}

#[tokio::test]
async fn append_extends_the_file() {
    let mut f = Fixture::logged_in("alice", "s3cret", false).await;
    let (ticket, response) = f.ask(store("/a.txt", StoreMode::Append)).await;
    assert_eq!(response, Response::Ok);
    f.write(ticket, b"!").await;
    assert_eq!(
        f.storage.read_file("/home/alice/a.txt").as_deref(),
        Some(&b"hello world!"[..])
    );
}

#[tokio::test]
async fn store_unique_answers_a_session_path() {
    let mut f = Fixture::logged_in("alice", "s3cret", false).await;
    let stou = Request::StoreUnique {
        dir: p("/docs"),
        hint: Some(b"b.txt".to_vec()),
    };
    let (ticket, response) = f.ask(stou).await;
    assert_eq!(response, Response::Created(p("/docs/b.txt.1")));
    f.write(ticket, b"unique").await;
    assert_eq!(
        f.storage.read_file("/home/alice/docs/b.txt.1").as_deref(),
        Some(&b"unique"[..])
    );
}

#[tokio::test]
async fn list_keeps_the_directory_for_the_data_side() {
    let mut f = Fixture::logged_in("alice", "s3cret", false).await;
    let (ticket, response) = f.ask(list("/", ListKind::Mlsd)).await;
    assert_eq!(response, Response::Ok);
    let Some(Opened::Dir(mut dir)) = f.handler.take(ticket) else {
        panic!("no directory kept");
    };
    let mut names = Vec::new();
    while let Some(entry) = dir.next_entry().await {
        names.push(entry.unwrap().name);
    }
    assert_eq!(names, [b"a.txt".to_vec(), b"docs".to_vec()]);
}

#[tokio::test]
async fn list_of_a_file_answers_that_entry() {
    let mut f = Fixture::logged_in("alice", "s3cret", false).await;
    let (ticket, response) = f.ask(list("/a.txt", ListKind::List)).await;
    assert_eq!(names(&response), [b"a.txt"]);
    assert!(f.handler.take(ticket).is_none());
    assert_eq!(
        f.answer(list("/a.txt", ListKind::Mlsd)).await,
        Response::Error(FsError::NotADirectory)
    );
}

#[tokio::test]
async fn stat_listing_answers_the_entries() {
    let mut f = Fixture::logged_in("alice", "s3cret", false).await;
    let response = f.answer(list("/", ListKind::Stat)).await;
    assert_eq!(names(&response), [&b"a.txt"[..], b"docs"]);
    assert_eq!(
        f.answer(list("/missing", ListKind::Stat)).await,
        Response::Error(FsError::NotFound)
    );
}

#[tokio::test]
async fn read_only_user_is_refused_changes_and_nothing_changes() {
    let mut f = Fixture::logged_in("bob", "b0b", false).await;
    let time = Timestamp::from_unix(0).unwrap();
    let refused = [
        store("/r.txt", StoreMode::Replace),
        store("/r.txt", StoreMode::Append),
        Request::StoreUnique {
            dir: p("/"),
            hint: None,
        },
        Request::Delete { path: p("/r.txt") },
        Request::RemoveDir { path: p("/sub") },
        Request::MakeDir { path: p("/new") },
        Request::RenameFrom { path: p("/r.txt") },
        Request::Rename {
            from: p("/r.txt"),
            to: p("/s.txt"),
        },
        Request::SetModificationTime {
            path: p("/r.txt"),
            time,
        },
    ];
    let before = f
        .storage
        .metadata(&p("/home/bob/r.txt"))
        .await
        .unwrap()
        .modified;
    for request in refused {
        let (ticket, response) = f.ask(request.clone()).await;
        assert_eq!(
            response,
            Response::Error(FsError::PermissionDenied),
            "{request:?}"
        );
        assert!(f.handler.take(ticket).is_none(), "{request:?}");
    }
    assert_eq!(
        f.storage.read_file("/home/bob/r.txt").as_deref(),
        Some(&b"r"[..])
    );
    assert!(f.storage.exists("/home/bob/sub"));
    assert!(!f.storage.exists("/home/bob/new"));
    assert!(!f.storage.exists("/home/bob/s.txt"));
    let after = f.storage.metadata(&p("/home/bob/r.txt")).await.unwrap();
    assert_eq!(after.modified, before);

    // Reading is allowed.
    assert_eq!(
        f.answer(Request::Size {
            path: p("/r.txt"),
            ascii: false
        })
        .await,
        Response::Size(1)
    );
}

#[tokio::test]
async fn anonymous_may_upload_below_the_upload_dir_only() {
    let mut f = Fixture::logged_in("anonymous", "me@example.org", true).await;
    let (ticket, response) = f.ask(store("/upload/f.bin", StoreMode::Replace)).await;
    assert_eq!(response, Response::Ok);
    f.write(ticket, b"data").await;
    assert_eq!(
        f.storage.read_file("/srv/pub/upload/f.bin").as_deref(),
        Some(&b"data"[..])
    );

    let stou = Request::StoreUnique {
        dir: p("/upload"),
        hint: None,
    };
    let (ticket, response) = f.ask(stou).await;
    let Response::Created(created) = response else {
        panic!("not created: {response:?}");
    };
    assert!(created.starts_with(&p("/upload")) && created != p("/upload"));
    assert!(matches!(f.handler.take(ticket), Some(Opened::Writer(_))));

    assert_eq!(
        f.answer(store("/f.bin", StoreMode::Replace)).await,
        Response::Error(FsError::PermissionDenied)
    );
    assert_eq!(
        f.answer(store("/upload/f.bin", StoreMode::Append)).await,
        Response::Error(FsError::PermissionDenied)
    );
    assert!(!f.storage.exists("/srv/pub/f.bin"));
}

#[tokio::test]
async fn release_drops_what_was_opened() {
    let mut f = Fixture::logged_in("alice", "s3cret", false).await;
    let (ticket, response) = f.ask(store("/new.txt", StoreMode::Replace)).await;
    assert_eq!(response, Response::Ok);
    f.handler.release(ticket);
    assert!(f.handler.take(ticket).is_none());
}

#[tokio::test]
async fn change_dir_needs_a_directory() {
    let mut f = Fixture::logged_in("alice", "s3cret", false).await;
    let cwd = |path: &str| Request::ChangeDir { path: p(path) };
    assert_eq!(f.answer(cwd("/docs")).await, Response::Ok);
    assert_eq!(f.answer(cwd("/")).await, Response::Ok);
    assert_eq!(
        f.answer(cwd("/a.txt")).await,
        Response::Error(FsError::NotADirectory)
    );
    assert_eq!(
        f.answer(cwd("/missing")).await,
        Response::Error(FsError::NotFound)
    );
}

#[tokio::test]
async fn the_home_itself_cannot_be_removed_or_renamed() {
    let mut f = Fixture::logged_in("alice", "s3cret", false).await;
    f.answer(Request::Delete {
        path: p("/docs/b.txt"),
    })
    .await;
    assert_eq!(
        f.answer(Request::RemoveDir { path: p("/") }).await,
        Response::Error(FsError::PermissionDenied)
    );
    assert_eq!(
        f.answer(Request::RenameFrom { path: p("/") }).await,
        Response::Error(FsError::PermissionDenied)
    );
    assert!(f.storage.exists("/home/alice"));
    // An ordinary directory goes.
    assert_eq!(
        f.answer(Request::RemoveDir { path: p("/docs") }).await,
        Response::Ok
    );
    assert!(!f.storage.exists("/home/alice/docs"));
}

#[tokio::test]
async fn metadata_requests_and_unsupported_ones() {
    let mut f = Fixture::logged_in("alice", "s3cret", false).await;
    let Response::Entry(entry) = f.answer(Request::Facts { path: p("/a.txt") }).await else {
        panic!("no entry");
    };
    assert_eq!((entry.name.as_slice(), entry.size), (&b"a.txt"[..], 11));
    assert_eq!(
        f.answer(Request::Size {
            path: p("/docs"),
            ascii: false
        })
        .await,
        Response::Error(FsError::IsADirectory)
    );
    // In TYPE A the size on the wire is not known without reading the file: refused.
    let ascii_size = |path| Request::Size {
        path: p(path),
        ascii: true,
    };
    assert_eq!(
        f.answer(ascii_size("/a.txt")).await,
        Response::Error(FsError::NotSupported)
    );
    assert_eq!(
        f.answer(ascii_size("/missing.txt")).await,
        Response::Error(FsError::NotFound)
    );
    let time = Timestamp::from_unix(1_000_000_000).unwrap();
    let set = Request::SetModificationTime {
        path: p("/a.txt"),
        time,
    };
    // The answer is the time the file has now (what MFMT's reply reports).
    assert_eq!(f.answer(set).await, Response::Time(time));
    assert_eq!(
        f.answer(Request::ModificationTime { path: p("/a.txt") })
            .await,
        Response::Time(time)
    );
    assert_eq!(
        f.answer(Request::Rename {
            from: p("/a.txt"),
            to: p("/docs/c.txt")
        })
        .await,
        Response::Ok
    );
    assert!(f.storage.exists("/home/alice/docs/c.txt"));
    assert_eq!(
        f.answer(Request::Host {
            name: "example.org".into()
        })
        .await,
        Response::Error(FsError::NotSupported)
    );
    assert_eq!(
        f.answer(Request::Available { path: p("/") }).await,
        Response::Error(FsError::NotSupported),
        "no space limit set"
    );
}

#[tokio::test]
async fn replacing_by_rename_takes_delete_and_creating_by_appe_takes_write() {
    let with = |set: fn(&mut Permissions)| {
        let mut perms = Permissions::NONE;
        perms.list = true;
        set(&mut perms);
        perms
    };
    let users = StaticUsers::new([
        UserEntry::new("renamer", "pw", p("/home/alice"), with(|p| p.rename = true)),
        UserEntry::new(
            "appender",
            "pw",
            p("/home/alice"),
            with(|p| p.append = true),
        ),
    ])
    .unwrap();
    let storage = MemoryStorage::new()
        .with_file("/home/alice/a.txt", "keep me")
        .with_file("/home/alice/b.txt", "b");
    let mut f = Fixture {
        handler: RequestHandler::new(Arc::new(storage.clone()), Arc::new(users)),
        storage,
        tickets: Tickets::new(),
    };

    assert_eq!(
        f.answer(login_request("renamer", "pw", false)).await,
        Response::LoggedIn
    );
    let rename = |from: &str, to: &str| Request::Rename {
        from: p(from),
        to: p(to),
    };
    assert_eq!(
        f.answer(rename("/b.txt", "/a.txt")).await,
        Response::Error(FsError::PermissionDenied),
        "RNTO onto an existing file would delete it"
    );
    assert_eq!(
        f.storage.read_file("/home/alice/a.txt").as_deref(),
        Some(&b"keep me"[..])
    );
    assert_eq!(f.answer(rename("/b.txt", "/c.txt")).await, Response::Ok);
    assert_eq!(
        f.storage.read_file("/home/alice/c.txt").as_deref(),
        Some(&b"b"[..])
    );

    assert_eq!(
        f.answer(login_request("appender", "pw", false)).await,
        Response::LoggedIn
    );
    assert_eq!(
        f.answer(store("/new.txt", StoreMode::Append)).await,
        Response::Error(FsError::PermissionDenied),
        "APPE of a new name creates a file"
    );
    assert_eq!(f.storage.read_file("/home/alice/new.txt"), None);
    let (ticket, response) = f.ask(store("/a.txt", StoreMode::Append)).await;
    assert_eq!(response, Response::Ok);
    f.write(ticket, b"!").await;
    assert_eq!(
        f.storage.read_file("/home/alice/a.txt").as_deref(),
        Some(&b"keep me!"[..])
    );
}

// ---------------------------------------------------------------------------------------------
// STAT's cap, over a real session

/// The reply lines a session sends for `line` when this handler answers its requests (alice is
/// logged in first).
async fn session_reply(handler: &mut Handler, line: &str) -> String {
    let now = Instant::now();
    let mut session = Session::new(Config::default().into(), conn(), now);
    session.handle_control(
        now,
        format!("USER alice\r\nPASS s3cret\r\n{line}\r\n").as_bytes(),
    );
    let mut wire = Vec::new();
    while let Some(output) = session.poll_output() {
        match output {
            Output::Transmit(bytes) => wire.extend_from_slice(&bytes),
            Output::Request { ticket, request } => {
                let response = handler.handle(ticket, request).await;
                session.respond(now, ticket, response).unwrap();
            }
            _ => {}
        }
    }
    let wire = String::from_utf8(wire).unwrap();
    let at = wire.find("230 ").expect("logged in");
    wire[at..].split_once("\r\n").unwrap().1.to_owned()
}

#[tokio::test]
async fn stat_of_a_directory_over_the_cap_says_it_was_cut() {
    use ftp_server_tokio::handler::MAX_STAT_ENTRIES;
    let mut storage = MemoryStorage::new().with_dir("/home/alice/whole");
    for n in 0..MAX_STAT_ENTRIES {
        storage = storage
            .with_file(&format!("/home/alice/big/f{n:05}"), "")
            .with_file(&format!("/home/alice/whole/f{n:05}"), "");
    }
    storage = storage.with_file("/home/alice/big/zz-one-too-many", "");
    let mut handler = RequestHandler::new(Arc::new(storage), Arc::new(users()));

    let reply = session_reply(&mut handler, "STAT /big").await;
    let lines: Vec<&str> = reply.lines().collect();
    // "213-Status of /big:", the entries shown, the notice, "213 End of status".
    assert_eq!(lines.len(), MAX_STAT_ENTRIES + 3, "{:?}", &lines[..3]);
    assert_eq!(lines[0], "213-Status of /big:");
    assert!(lines[MAX_STAT_ENTRIES].ends_with(" f09999"));
    assert_eq!(
        lines[MAX_STAT_ENTRIES + 1],
        "Listing cut at 10000 entries; use LIST or MLSD for the full listing"
    );
    assert_eq!(lines[MAX_STAT_ENTRIES + 2], "213 End of status");
    // No continuation line can be taken for the end line.
    assert!(
        lines[1..=MAX_STAT_ENTRIES + 1]
            .iter()
            .all(|l| !l.starts_with("213 "))
    );

    // Exactly the cap: shown whole, no notice.
    let reply = session_reply(&mut handler, "STAT /whole").await;
    let lines: Vec<&str> = reply.lines().collect();
    assert_eq!(lines.len(), MAX_STAT_ENTRIES + 2);
    assert!(!reply.contains("cut at"));
    assert_eq!(lines[MAX_STAT_ENTRIES + 1], "213 End of status");
}

// ---------------------------------------------------------------------------------------------
// Over the filesystem back-end: symlinks and special files

#[cfg(unix)]
mod on_the_filesystem {
    use std::os::unix::fs::symlink;
    use std::os::unix::net::UnixListener;
    use std::path::Path;

    use ftp_server_tokio::storage::fs::FsStorage;

    use super::*;

    struct FsFixture {
        tmp: tempfile::TempDir,
        handler: RequestHandler<FsStorage, StaticUsers>,
        tickets: Tickets,
    }

    impl FsFixture {
        /// alice (everything allowed but `without`) with her home at the root of a tree that
        /// `build` makes.
        async fn new(without: fn(&mut Permissions), build: impl FnOnce(&Path)) -> Self {
            let tmp = tempfile::tempdir().unwrap();
            build(tmp.path());
            let mut perms = Permissions::ALL;
            without(&mut perms);
            let users = StaticUsers::new([UserEntry::new("alice", "pw", p("/"), perms)]).unwrap();
            let storage = FsStorage::open(tmp.path()).unwrap();
            let mut f = Self {
                tmp,
                handler: RequestHandler::new(Arc::new(storage), Arc::new(users)),
                tickets: Tickets::new(),
            };
            assert_eq!(
                f.answer(login_request("alice", "pw", false)).await,
                Response::LoggedIn
            );
            f
        }

        async fn answer(&mut self, request: Request) -> Response {
            let ticket = self.tickets.next();
            self.handler.handle(ticket, request).await
        }

        /// The `perm` fact MLSD gives each entry of `dir`, by name.
        async fn mlsd_perms(&mut self, dir: &str) -> Vec<(String, String)> {
            let ticket = self.tickets.next();
            let response = self.handler.handle(ticket, list(dir, ListKind::Mlsd)).await;
            assert_eq!(response, Response::Ok);
            let Some(Opened::Dir(mut entries)) = self.handler.take(ticket) else {
                panic!("no directory opened");
            };
            let perms = self.handler.perm_facts(&p(dir)).unwrap();
            let mut out = Vec::new();
            while let Some(entry) = entries.next_entry().await {
                let mut entry = entry.unwrap();
                perms.fill(&mut entry);
                out.push((String::from_utf8(entry.name).unwrap(), entry.perm.unwrap()));
            }
            out.sort();
            out
        }

        /// The `perm` fact MLST gives `path`.
        async fn mlst_perm(&mut self, path: &str) -> String {
            match self.answer(Request::Facts { path: p(path) }).await {
                Response::Entry(entry) => entry.perm.unwrap(),
                other => panic!("MLST {path}: {other:?}"),
            }
        }
    }

    fn keep_all(_: &mut Permissions) {}

    /// A file, a directory, a Unix socket (standing for FIFOs and devices too, whose opening
    /// could block), and links to each, one dangling and one that loops.
    fn special_tree(root: &Path) {
        std::fs::write(root.join("file"), b"12345").unwrap();
        std::fs::create_dir(root.join("dir")).unwrap();
        // Kept bound by the listener's socket file; the listener itself may go.
        drop(UnixListener::bind(root.join("sock")).unwrap());
        symlink("file", root.join("to-file")).unwrap();
        symlink("dir", root.join("to-dir")).unwrap();
        symlink("sock", root.join("to-sock")).unwrap();
        symlink("gone", root.join("dangling")).unwrap();
        symlink("loop-b", root.join("loop-a")).unwrap();
        symlink("loop-a", root.join("loop-b")).unwrap();
    }

    #[tokio::test]
    async fn size_is_only_for_regular_files() {
        let mut f = FsFixture::new(keep_all, special_tree).await;
        let size = |path: &str| Request::Size {
            path: p(path),
            ascii: false,
        };
        assert_eq!(f.answer(size("/file")).await, Response::Size(5));
        assert_eq!(f.answer(size("/to-file")).await, Response::Size(5));
        for (path, want) in [
            ("/sock", FsError::PermissionDenied),
            ("/to-sock", FsError::PermissionDenied),
            ("/dir", FsError::IsADirectory),
            ("/to-dir", FsError::IsADirectory),
            ("/dangling", FsError::NotFound),
            ("/loop-a", FsError::NotFound),
        ] {
            assert_eq!(f.answer(size(path)).await, Response::Error(want), "{path}");
        }
    }

    #[tokio::test]
    async fn perm_facts_offer_only_what_works_on_the_object() {
        let mut f = FsFixture::new(keep_all, special_tree).await;
        let want = [
            ("dangling", "df"),
            ("dir", "cdeflmp"),
            ("file", "adfrw"),
            ("loop-a", "df"),
            ("loop-b", "df"),
            ("sock", "df"),
            ("to-dir", "cdeflmp"),
            ("to-file", "adfrw"),
            ("to-sock", "df"),
        ];
        let got = f.mlsd_perms("/").await;
        let got: Vec<(&str, &str)> = got.iter().map(|(n, p)| (&n[..], &p[..])).collect();
        assert_eq!(got, want);
        // MLST follows links (and says the type of what it found): the same facts.
        for (name, perm) in want {
            if !["dangling", "loop-a", "loop-b"].contains(&name) {
                assert_eq!(f.mlst_perm(&format!("/{name}")).await, perm, "MLST {name}");
            }
        }
        // Without the right to delete or rename, a socket offers nothing at all.
        let mut f = FsFixture::new(
            |perms| {
                perms.delete = false;
                perms.rename = false;
            },
            special_tree,
        )
        .await;
        assert_eq!(f.mlst_perm("/sock").await, "");
        assert_eq!(f.mlst_perm("/file").await, "arw");
    }

    #[tokio::test]
    async fn a_dangling_symlink_is_renamed_like_it_is_deleted() {
        let mut f = FsFixture::new(keep_all, special_tree).await;
        let rnfr = |path: &str| Request::RenameFrom { path: p(path) };
        assert_eq!(f.answer(rnfr("/dangling")).await, Response::Ok);
        assert_eq!(f.answer(rnfr("/loop-a")).await, Response::Ok);
        assert_eq!(
            f.answer(rnfr("/missing")).await,
            Response::Error(FsError::NotFound)
        );
        let rename = Request::Rename {
            from: p("/dangling"),
            to: p("/moved"),
        };
        assert_eq!(f.answer(rename).await, Response::Ok);
        let moved = std::fs::symlink_metadata(f.tmp.path().join("moved")).unwrap();
        assert!(moved.file_type().is_symlink());
        assert_eq!(
            std::fs::read_link(f.tmp.path().join("moved")).unwrap(),
            Path::new("gone")
        );
        assert!(!f.tmp.path().join("dangling").exists());
        assert_eq!(
            f.answer(Request::Delete { path: p("/moved") }).await,
            Response::Ok
        );
        assert!(std::fs::symlink_metadata(f.tmp.path().join("moved")).is_err());
    }

    #[tokio::test]
    async fn renaming_onto_a_dangling_symlink_takes_the_right_to_delete() {
        let mut f = FsFixture::new(|perms| perms.delete = false, special_tree).await;
        let rename = Request::Rename {
            from: p("/file"),
            to: p("/dangling"),
        };
        assert_eq!(
            f.answer(rename).await,
            Response::Error(FsError::PermissionDenied)
        );
        assert!(
            std::fs::symlink_metadata(f.tmp.path().join("dangling"))
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert!(f.tmp.path().join("file").is_file());
    }

    #[tokio::test]
    async fn symlink_loops_are_not_found_for_every_request() {
        let mut f = FsFixture::new(keep_all, special_tree).await;
        let loop_path = || p("/loop-a");
        let requests = [
            Request::ChangeDir { path: loop_path() },
            Request::Facts { path: loop_path() },
            Request::ModificationTime { path: loop_path() },
            list("/loop-a", ListKind::List),
            list("/loop-a", ListKind::Mlsd),
            list("/loop-a", ListKind::Stat),
            Request::Retrieve {
                path: loop_path(),
                offset: 0,
                ascii: false,
            },
            store("/loop-a/new", StoreMode::Replace),
            Request::MakeDir {
                path: p("/loop-a/new"),
            },
        ];
        for request in requests {
            assert_eq!(
                f.answer(request.clone()).await,
                Response::Error(FsError::NotFound),
                "{request:?}"
            );
        }
        // The link itself can still go.
        assert_eq!(
            f.answer(Request::Delete { path: loop_path() }).await,
            Response::Ok
        );
    }
}
