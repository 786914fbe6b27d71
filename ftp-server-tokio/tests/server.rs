//! The network server over loopback, driven by a small raw FTP client: events, graceful
//! shutdown, session limits, passive port range and masquerade, STAT and ABOR during a
//! transfer, bind errors.

mod support_ftp;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ftp_server_tokio::auth::{Authenticator, Permissions, StaticUsers, UserEntry};
use ftp_server_tokio::events::{Event, TransferDirection};
use ftp_server_tokio::ftp_proto::{FtpPath, VirtualPath};
use ftp_server_tokio::server::{Server, ServerError, ShutdownHandle};
use ftp_server_tokio::storage::Storage;
use ftp_server_tokio::storage::fs::FsStorage;
use ftp_server_tokio::storage::memory::MemoryStorage;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio::time::timeout;

use support_ftp::{Control as Client, LIMIT};

fn users() -> StaticUsers {
    let entry = UserEntry::new("alice", "pw", VirtualPath::root(), Permissions::ALL);
    StaticUsers::new([entry]).unwrap()
}

/// A running server, its address, its shutdown handle and the task serving it.
struct Running {
    addr: SocketAddr,
    stop: ShutdownHandle,
    task: JoinHandle<()>,
}

async fn start<S: Storage, A: Authenticator>(server: Server<S, A>) -> Running {
    let bound = server
        .listen("127.0.0.1:0".parse().unwrap())
        .bind()
        .await
        .unwrap();
    let addr = bound.local_addrs()[0];
    let stop = bound.shutdown_handle();
    let task = tokio::spawn(bound.run());
    Running { addr, stop, task }
}

/// USER alice / PASS pw (answered 230), then TYPE I.
async fn login(addr: SocketAddr) -> Client {
    Client::login(addr, "alice", "pw").await
}

/// A transfer started: 125 (data connection already open) or 150 (about to open).
fn starts((code, text): (u16, String)) {
    assert!(code == 125 || code == 150, "{text}");
}

async fn read_all(mut data: TcpStream) -> Vec<u8> {
    let mut bytes = Vec::new();
    timeout(LIMIT, data.read_to_end(&mut bytes))
        .await
        .unwrap()
        .unwrap();
    bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_name_logins_transfers_and_changes() {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&events);
    let storage = MemoryStorage::new();
    let server =
        Server::new(storage, users()).on_event(move |e| sink.lock().unwrap().push(e.clone()));
    let running = start(server).await;

    let mut guess = Client::connect(running.addr).await;
    assert_eq!(guess.try_login("alice", "wrong").await.0, 530);
    assert_eq!(guess.try_login("mallory", "pw").await.0, 530);
    drop(guess);
    let mut c = login(running.addr).await;
    let mut data = c.epsv().await;
    starts(c.cmd("STOR a.txt").await);
    data.write_all(b"hello").await.unwrap();
    drop(data);
    assert_eq!(c.reply().await.0, 226);
    let data = c.epsv().await;
    starts(c.cmd("RETR a.txt").await);
    assert_eq!(read_all(data).await, b"hello");
    assert_eq!(c.reply().await.0, 226);
    assert_eq!(c.cmd("RNFR a.txt").await.0, 350);
    assert_eq!(c.cmd("RNTO b.txt").await.0, 250);
    assert_eq!(c.cmd("MKD d").await.0, 257);
    assert_eq!(c.cmd("RMD d").await.0, 250);
    assert_eq!(c.cmd("DELE b.txt").await.0, 250);
    assert_eq!(c.cmd("QUIT").await.0, 221);
    assert!(c.closed().await);
    // Logout is emitted when the session task ends, right after the close.
    for _ in 0..100 {
        if events.lock().unwrap().len() >= 10 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let path = |p: &str| VirtualPath::root().join(p).unwrap();
    let events = events.lock().unwrap().clone();
    let names: Vec<String> = events
        .iter()
        .map(|e| {
            format!("{e:?}")
                .split([' ', '{'])
                .next()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        names,
        [
            "LoginFailed",
            "LoginFailed",
            "Login",
            "TransferFinished",
            "TransferFinished",
            "Renamed",
            "DirectoryCreated",
            "DirectoryRemoved",
            "FileDeleted",
            "Logout"
        ]
    );
    assert!(
        matches!(&events[1], Event::LoginFailed { user, .. } if user == "mallory"),
        "{:?}",
        events[1]
    );
    let events = &events[2..];
    let Event::TransferFinished {
        path: up,
        direction: TransferDirection::Upload,
        bytes: 5,
        user,
        ..
    } = &events[1]
    else {
        panic!("upload event: {:?}", events[1]);
    };
    assert_eq!((up, user.as_str()), (&path("a.txt"), "alice"));
    assert!(matches!(
        &events[2],
        Event::TransferFinished {
            direction: TransferDirection::Download,
            bytes: 5,
            ..
        }
    ));
    assert!(
        matches!(&events[3], Event::Renamed { from, to, .. } if *from == path("a.txt") && *to == path("b.txt"))
    );
    running.stop.shutdown();
    timeout(LIMIT, running.task).await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_a_running_transfer_finish_and_answers_idle_sessions_with_421() {
    let storage = Arc::new(MemoryStorage::new());
    let server = Server::with_shared(Arc::clone(&storage), Arc::new(users()))
        .shutdown_grace(Duration::from_secs(5));
    let running = start(server).await;

    let mut busy = login(running.addr).await;
    let mut idle = login(running.addr).await;
    let mut data = busy.epsv().await;
    starts(busy.cmd("STOR up.bin").await);
    data.write_all(b"first half ").await.unwrap();

    running.stop.shutdown();
    let (code, _) = idle.reply().await;
    assert_eq!(code, 421, "an idle session is told at once");
    assert!(idle.closed().await);
    // New connections are no longer accepted.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let refused = match TcpStream::connect(running.addr).await {
        Err(_) => true,
        Ok(mut s) => {
            let mut b = [0u8; 1];
            matches!(timeout(LIMIT, s.read(&mut b)).await, Ok(Ok(0) | Err(_)))
        }
    };
    assert!(refused, "no new sessions during shutdown");

    // The running upload completes and is committed, then the session is closed.
    data.write_all(b"second half").await.unwrap();
    drop(data);
    assert_eq!(busy.reply().await.0, 226);
    assert_eq!(busy.reply().await.0, 421);
    assert!(busy.closed().await);
    assert_eq!(
        storage.read_file("/up.bin").as_deref(),
        Some(&b"first half second half"[..])
    );
    timeout(LIMIT, running.task).await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_grace_ends_transfers_that_take_too_long() {
    let server =
        Server::new(MemoryStorage::new(), users()).shutdown_grace(Duration::from_millis(300));
    let running = start(server).await;
    let mut busy = login(running.addr).await;
    let mut data = busy.epsv().await;
    starts(busy.cmd("STOR slow.bin").await);
    data.write_all(b"trickle").await.unwrap();
    running.stop.shutdown();
    // The transfer is cut at the deadline: its final reply, then 421 and close.
    let mut codes = Vec::new();
    loop {
        let (code, _) = busy.reply().await;
        codes.push(code);
        if code == 421 {
            break;
        }
    }
    assert_eq!(codes.last(), Some(&421), "{codes:?}");
    assert!(busy.closed().await);
    timeout(LIMIT, running.task).await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_limits_are_answered_with_421() {
    let server = Server::new(MemoryStorage::new(), users())
        .max_sessions(2)
        .max_sessions_per_ip(1);
    let running = start(server).await;

    let mut first = Client::open_from(running.addr, "127.0.0.1").await;
    assert_eq!(first.reply().await.0, 220);
    // A second session from the same IP is over the per-IP cap.
    let mut same_ip = Client::open_from(running.addr, "127.0.0.1").await;
    assert_eq!(same_ip.reply().await.0, 421);
    assert!(same_ip.closed().await);
    // Another IP may still connect, up to the global cap.
    let mut second = Client::open_from(running.addr, "127.0.0.2").await;
    assert_eq!(second.reply().await.0, 220);
    let mut third = Client::open_from(running.addr, "127.0.0.3").await;
    assert_eq!(third.reply().await.0, 421);
    assert!(third.closed().await);
    // A slot frees when a session ends.
    assert_eq!(first.cmd("QUIT").await.0, 221);
    assert!(first.closed().await);
    let mut again = None;
    for _ in 0..50 {
        let mut c = Client::open_from(running.addr, "127.0.0.1").await;
        if c.reply().await.0 == 220 {
            again = Some(c);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(again.is_some(), "the freed slot was never reusable");
    running.stop.shutdown();
    timeout(LIMIT, running.task).await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passive_ports_come_from_the_range_and_are_not_leaked() {
    let storage = MemoryStorage::new().with_file("/f", "x");
    let server = Server::new(storage, users()).passive_ports(21311..=21312);
    let running = start(server).await;
    let mut c = login(running.addr).await;
    // Twenty transfers through a two-port range: each listener must be given back.
    for round in 0..20 {
        let data = c.epsv().await;
        let port = data.peer_addr().unwrap().port();
        assert!(
            (21311..=21312).contains(&port),
            "round {round}: port {port}"
        );
        starts(c.cmd("RETR f").await);
        assert_eq!(read_all(data).await, b"x");
        assert_eq!(c.reply().await.0, 226);
    }
    // Re-PASV replaces the listener (the freed port may be chosen again): the range is still
    // not exhausted after many replacements, and the last listener serves the transfer.
    for _ in 0..10 {
        assert_eq!(c.cmd("PASV").await.0, 227);
    }
    assert_eq!(c.download("RETR f").await, (226, b"x".to_vec()));
    running.stop.shutdown();
    timeout(LIMIT, running.task).await.unwrap().unwrap();
}

/// Re-PASV with every other port of the range taken: the new listener may only have the
/// port of the listener it replaces, which must be free by the time it binds (before, about
/// one re-PASV in three answered 425 "no passive port" and lost the old listener too).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn re_pasv_gets_the_replaced_listeners_port_when_the_range_is_otherwise_full() {
    let storage = MemoryStorage::new().with_file("/f", "x");
    let server = Server::new(storage, users()).passive_ports(21313..=21314);
    let running = start(server).await;
    let mut other = login(running.addr).await;
    let (code, text) = other.cmd("EPSV").await;
    assert_eq!(code, 229, "{text}");
    let mut c = login(running.addr).await;
    for round in 0..100 {
        let verb = if round % 2 == 0 { "EPSV" } else { "PASV" };
        let (code, text) = c.cmd(verb).await;
        assert!(code == 229 || code == 227, "round {round}: {verb}: {text}");
    }
    // The last listener serves a transfer.
    assert_eq!(c.download("RETR f").await, (226, b"x".to_vec()));
    running.stop.shutdown();
    timeout(LIMIT, running.task).await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pasv_announces_the_masquerade_address() {
    let storage = MemoryStorage::new();
    let server = Server::new(storage, users()).masquerade("203.0.113.9".parse().unwrap());
    let running = start(server).await;
    let mut c = login(running.addr).await;
    let (code, text) = c.cmd("PASV").await;
    assert_eq!(code, 227);
    assert!(text.contains("(203,0,113,9,"), "{text}");
    running.stop.shutdown();
    timeout(LIMIT, running.task).await.unwrap().unwrap();
}

/// A download of the 8 MiB `/big` that the client stops reading after its first chunk: the
/// server's copy stalls with the transfer open. The data connection is returned to keep it
/// open.
async fn stalled_download(running: &Running) -> (Client, TcpStream) {
    let mut c = login(running.addr).await;
    let mut data = c.epsv().await;
    let (code, text) = c.cmd("RETR big").await;
    assert_eq!(code, 125, "the data connection was already open");
    assert!(text.contains("(8388608 bytes)"), "{text}");
    let mut chunk = vec![0u8; 64 * 1024];
    let got = timeout(LIMIT, data.read(&mut chunk))
        .await
        .unwrap()
        .unwrap();
    assert!(got > 0);
    (c, data)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stat_and_abor_work_while_data_flows() {
    let big = vec![7u8; 8 << 20];
    let storage = MemoryStorage::new().with_file("/big", big);
    let running = start(Server::new(storage, users())).await;
    let (mut c, _data) = stalled_download(&running).await;
    // The client reads no more: the server's copy stalls with the transfer open.
    let (code, text) = c.cmd("STAT").await;
    // RFC 959: STAT during a transfer gives the transfer's status (213), with the progress.
    assert_eq!(code, 213, "{text}");
    assert!(text.contains("bytes"), "{text}");
    c.send("ABOR").await;
    assert_eq!(c.reply().await.0, 426);
    assert_eq!(c.reply().await.0, 226);
    assert_eq!(c.cmd("NOOP").await.0, 200);
    assert_eq!(c.cmd("SIZE big").await, (213, "213 8388608\r\n".into()));
    running.stop.shutdown();
    timeout(LIMIT, running.task).await.unwrap().unwrap();
}

/// ABOR the way Python's ftplib sends it: the whole line as urgent data (MSG_OOB), which
/// puts the urgent mark on its last byte. A read stops at the mark, so the line's end comes
/// in a second read of a socket that was never drained: it must still be read and answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abor_sent_as_urgent_data_mid_download_is_answered() {
    let storage = MemoryStorage::new().with_file("/big", vec![7u8; 8 << 20]);
    let running = start(Server::new(storage, users())).await;
    let (mut c, _data) = stalled_download(&running).await;
    let control = c.socket();
    socket2::SockRef::from(&*control)
        .send_out_of_band(b"ABOR\r\n")
        .unwrap();
    assert_eq!(c.reply().await.0, 426);
    assert_eq!(c.reply().await.0, 226);
    assert_eq!(c.cmd("NOOP").await.0, 200);
    running.stop.shutdown();
    timeout(LIMIT, running.task).await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bind_errors_name_the_address() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let err = Server::new(MemoryStorage::new(), users())
        .listen(addr)
        .bind()
        .await
        .unwrap_err();
    assert!(
        matches!(err, ServerError::Bind { addr: a, .. } if a == addr),
        "{err}"
    );
    assert!(err.to_string().contains(&addr.to_string()));
    let err = Server::new(MemoryStorage::new(), users())
        .bind()
        .await
        .unwrap_err();
    assert!(matches!(err, ServerError::NoListenAddress));
    let err = Server::new(MemoryStorage::new(), users())
        .listen("127.0.0.1:0".parse().unwrap())
        .passive_ports(std::ops::RangeInclusive::new(2000, 1000))
        .bind()
        .await
        .unwrap_err();
    assert!(matches!(err, ServerError::PassivePorts { .. }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mlsd_and_mlst_carry_the_users_permissions() {
    use ftp_server_tokio::auth::AnonymousPolicy;
    let storage = MemoryStorage::new()
        .with_file("/f.txt", "x")
        .with_dir("/sub")
        .with_dir("/incoming");
    let anonymous =
        AnonymousPolicy::default().with_upload_dir(VirtualPath::root().join("incoming").unwrap());
    let server = Server::new(storage, users().with_anonymous(anonymous)).anonymous(true);
    let running = start(server).await;

    let mut c = login(running.addr).await;
    let data = c.epsv().await;
    starts(c.cmd("MLSD").await);
    let listing = String::from_utf8(read_all(data).await).unwrap();
    assert_eq!(c.reply().await.0, 226);
    assert!(
        listing.contains("perm=adfrw;") && listing.contains("f.txt"),
        "{listing}"
    );
    assert!(listing.contains("perm=cdeflmp;"), "{listing}");
    let (code, text) = c.cmd("MLST f.txt").await;
    assert_eq!(code, 250);
    assert!(text.contains("perm=adfrw;"), "{text}");

    // Anonymous: read-only, but may create files and directories in the upload directory.
    let mut a = Client::open(running.addr).await;
    assert_eq!(a.reply().await.0, 220);
    assert_eq!(a.cmd("USER anonymous").await.0, 331);
    assert_eq!(a.cmd("PASS guest@").await.0, 230);
    let data = a.epsv().await;
    starts(a.cmd("MLSD").await);
    let listing = String::from_utf8(read_all(data).await).unwrap();
    assert_eq!(a.reply().await.0, 226);
    let line = |name: &str| {
        listing
            .lines()
            .find(|l| l.ends_with(name))
            .unwrap()
            .to_owned()
    };
    assert!(line(" f.txt").contains("perm=r;"), "{listing}");
    assert!(line(" sub").contains("perm=el;"), "{listing}");
    assert!(line(" incoming").contains("perm=celm;"), "{listing}");
    running.stop.shutdown();
    timeout(LIMIT, running.task).await.unwrap().unwrap();
}

/// A download of a file another session is uploading gets 450 (it would send a partial file
/// as if whole), and so do DELE, RNFR and RNTO of it; once the upload ended, the download
/// gets all of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_being_uploaded_is_not_downloaded_until_the_upload_ends() {
    let storage = MemoryStorage::new().with_file("/f", "old");
    let running = start(Server::new(storage, users())).await;
    let mut writer = login(running.addr).await;
    let mut data = writer.epsv().await;
    starts(writer.cmd("STOR f").await);
    data.write_all(b"first half, ").await.unwrap();
    let mut reader = login(running.addr).await;
    assert_eq!(reader.download("RETR f").await.0, 450);
    // Nor may it be deleted or renamed (away, or over) while the upload runs.
    assert_eq!(reader.cmd("DELE f").await.0, 450);
    assert_eq!(reader.cmd("RNFR f").await.0, 450);
    assert_eq!(reader.upload("STOR h", b"h").await, 226);
    reader.expect("RNFR h", 350).await;
    assert_eq!(reader.cmd("RNTO f").await.0, 450);
    // Other files are not held up.
    assert_eq!(reader.upload("STOR g", b"g").await, 226);
    assert_eq!(reader.download("RETR g").await, (226, b"g".to_vec()));
    data.write_all(b"second half").await.unwrap();
    drop(data);
    assert_eq!(writer.reply().await.0, 226);
    assert_eq!(
        reader.download("RETR f").await,
        (226, b"first half, second half".to_vec())
    );
    running.stop.shutdown();
    timeout(LIMIT, running.task).await.unwrap().unwrap();
}

/// A file cut short on disk while it is being downloaded: the download ends with 451, not
/// 226, since the client did not get the file the 150 announced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_of_a_file_cut_while_it_is_sent_ends_with_451() {
    let root = tempfile::tempdir().unwrap();
    let size = 32usize << 20;
    std::fs::write(root.path().join("big"), vec![5u8; size]).unwrap();
    let Running { addr, stop, task } =
        start(Server::new(FsStorage::open(root.path()).unwrap(), users())).await;
    let mut c = login(addr).await;
    let mut data = c.epsv().await;
    let (code, text) = c.cmd("RETR big").await;
    assert_eq!(code, 125, "{text}");
    assert!(text.contains(&format!("({size} bytes)")), "{text}");
    // The socket buffers hold far less than 32 MiB: the server is still sending when the
    // file is cut to 1 MiB.
    let mut chunk = vec![0u8; 64 * 1024];
    let first = timeout(LIMIT, data.read(&mut chunk))
        .await
        .unwrap()
        .unwrap();
    assert!(first > 0);
    std::fs::OpenOptions::new()
        .write(true)
        .open(root.path().join("big"))
        .unwrap()
        .set_len(1 << 20)
        .unwrap();
    let mut rest = Vec::new();
    timeout(LIMIT, data.read_to_end(&mut rest))
        .await
        .unwrap()
        .unwrap();
    let got = first + rest.len();
    assert!(got < size, "got {got} of {size}");
    let (code, text) = c.reply().await;
    assert_eq!(code, 451, "{text}");
    assert!(text.contains("changed"), "{text}");
    // The session goes on; a whole download of the cut file ends with 226.
    assert_eq!(c.download("RETR big").await, (226, vec![5u8; 1 << 20]));
    stop.shutdown();
    timeout(LIMIT, task).await.unwrap().unwrap();
}

/// An anonymous upload that does not complete (ABOR, a reset data connection) leaves no
/// partial file: anonymous users may neither overwrite, resume nor delete it, so it would
/// block its name for good. A complete upload stays, and a file that was there before is
/// never touched by a refused upload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incomplete_anonymous_uploads_leave_no_partial_file() {
    use ftp_server_tokio::auth::AnonymousPolicy;
    let root = tempfile::tempdir().unwrap();
    let incoming = root.path().join("incoming");
    std::fs::create_dir(&incoming).unwrap();
    std::fs::write(incoming.join("old"), b"kept").unwrap();
    let upload_dir = VirtualPath::root()
        .resolve(&FtpPath::from("/incoming"))
        .unwrap();
    let auth = users().with_anonymous(AnonymousPolicy::default().with_upload_dir(upload_dir));
    let Running { addr, stop, task } =
        start(Server::new(FsStorage::open(root.path()).unwrap(), auth).anonymous(true)).await;
    let mut c = Client::login(addr, "anonymous", "guest@example.com").await;
    let chunk = vec![9u8; 256 * 1024];

    // ABOR in the middle of an upload.
    let mut data = c.epsv().await;
    starts(c.cmd("STOR incoming/aborted").await);
    data.write_all(&chunk).await.unwrap();
    let file = incoming.join("aborted");
    let deadline = tokio::time::Instant::now() + LIMIT;
    while std::fs::metadata(&file).map_or(true, |m| m.len() == 0) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no upload bytes on disk"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (code, text) = c.cmd("ABOR").await;
    assert!(code == 426 || code == 226, "{text}");
    if code == 426 {
        assert_eq!(c.reply().await.0, 226);
    }
    drop(data);

    // A data connection reset by the client (RST, not the FIN that ends a file).
    let mut data = c.epsv().await;
    starts(c.cmd("STOR incoming/reset").await);
    data.write_all(&chunk).await.unwrap();
    socket2::SockRef::from(&data)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(data);
    assert_eq!(c.reply().await.0, 426);

    // Both partial files go (on a task of their own), and the names can be used again.
    let deadline = tokio::time::Instant::now() + LIMIT;
    while incoming.join("aborted").exists() || incoming.join("reset").exists() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "partial uploads left behind"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(c.upload("STOR incoming/reset", b"whole").await, 226);
    assert_eq!(std::fs::read(incoming.join("reset")).unwrap(), b"whole");
    // An existing name is refused and its file left alone.
    assert_eq!(c.try_upload("STOR incoming/old", b"new").await, 550);
    assert_eq!(std::fs::read(incoming.join("old")).unwrap(), b"kept");
    stop.shutdown();
    timeout(LIMIT, task).await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filesystem_transfers_on_copy_threads_report_progress_and_abort() {
    let root = tempfile::tempdir().unwrap();
    let big: Vec<u8> = (0..(16u32 << 20)).map(|i| (i % 251) as u8).collect();
    std::fs::write(root.path().join("big"), &big).unwrap();
    let Running { addr, stop, task } =
        start(Server::new(FsStorage::open(root.path()).unwrap(), users())).await;
    let mut c = login(addr).await;

    // A whole download and an upload of the same bytes, checked byte for byte.
    let data = c.epsv().await;
    starts(c.cmd("RETR big").await);
    assert!(read_all(data).await == big, "download differs");
    assert_eq!(c.reply().await.0, 226);
    let mut data = c.epsv().await;
    starts(c.cmd("STOR copy").await);
    data.write_all(&big).await.unwrap();
    drop(data);
    assert_eq!(c.reply().await.0, 226);
    assert!(
        std::fs::read(root.path().join("copy")).unwrap() == big,
        "upload differs"
    );

    // A stalled download: STAT shows progress, ABOR ends it, the session goes on.
    let mut data = c.epsv().await;
    starts(c.cmd("RETR big").await);
    let mut chunk = vec![0u8; 64 * 1024];
    assert!(
        timeout(LIMIT, data.read(&mut chunk))
            .await
            .unwrap()
            .unwrap()
            > 0
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (code, text) = c.cmd("STAT").await;
    assert_eq!(code, 213, "{text}");
    assert!(!text.contains(" 0 bytes"), "progress is reported: {text}");
    c.send("ABOR").await;
    assert_eq!(c.reply().await.0, 426);
    assert_eq!(c.reply().await.0, 226);
    assert_eq!(c.cmd("NOOP").await.0, 200);
    // An upload cut by ABOR, then a complete one over it.
    let mut data = c.epsv().await;
    starts(c.cmd("STOR part").await);
    data.write_all(&big[..1 << 20]).await.unwrap();
    c.send("ABOR").await;
    let (first, _) = c.reply().await;
    assert!(first == 426 || first == 226, "{first}");
    if first == 426 {
        assert_eq!(c.reply().await.0, 226);
    }
    drop(data);
    assert_eq!(c.cmd("SIZE big").await.0, 213);
    stop.shutdown();
    timeout(LIMIT, task).await.unwrap().unwrap();
}

/// STOR opens its file only once the data connection is there: a transfer that never starts
/// (here the client announces nothing after EPSV and the data timeout passes) leaves an
/// existing file as it was, and creates no new one.
#[tokio::test]
async fn a_stor_that_never_gets_its_data_connection_leaves_the_file_intact() {
    let storage = MemoryStorage::new().with_file("/keep.txt", "precious");
    let server = Server::new(storage.clone(), users())
        .session_config(|c| c.data_timeout = Duration::from_millis(300));
    let running = start(server).await;
    let mut client = login(running.addr).await;
    for (command, path) in [("STOR keep.txt", "/keep.txt"), ("STOR new.txt", "/new.txt")] {
        assert_eq!(client.cmd("EPSV").await.0, 229);
        let (mut code, mut text) = client.cmd(command).await;
        if code == 150 {
            (code, text) = client.reply().await;
        }
        assert_eq!(code, 425, "{command}: {text}");
        let want = (path == "/keep.txt").then(|| b"precious".to_vec());
        assert_eq!(storage.read_file(path), want, "{command}");
    }
    // REST then STOR would cut the file to the offset: not before data arrives either.
    assert_eq!(client.cmd("EPSV").await.0, 229);
    assert_eq!(client.cmd("REST 3").await.0, 350);
    let (mut code, _) = client.cmd("STOR keep.txt").await;
    if code == 150 {
        code = client.reply().await.0;
    }
    assert_eq!(code, 425);
    assert_eq!(
        storage.read_file("/keep.txt").as_deref(),
        Some(&b"precious"[..])
    );

    // And a STOR that does get its connection replaces the file as before.
    let data = client.epsv().await;
    client.send("STOR keep.txt").await;
    starts(client.reply().await);
    let mut data = data;
    data.write_all(b"new").await.unwrap();
    drop(data);
    assert_eq!(client.reply().await.0, 226);
    assert_eq!(storage.read_file("/keep.txt").as_deref(), Some(&b"new"[..]));
}

/// RFC 3659 5: in TYPE A a REST marker counts octets of the data stream (CRLF lines), so a
/// client resuming at the length of what it already received gets exactly the rest, from
/// either back-end (the filesystem's binary path is not taken in ASCII).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_in_ascii_mode_counts_the_octets_sent() {
    let text = "line1\nline2\n\nline4\n";
    let wire = text.replace('\n', "\r\n");
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("lf.txt"), text).unwrap();
    let memory = start(Server::new(
        MemoryStorage::new().with_file("/lf.txt", text),
        users(),
    ))
    .await;
    let fs = start(Server::new(FsStorage::open(tmp.path()).unwrap(), users())).await;
    let fs_addr = fs.addr;

    for addr in [memory.addr, fs_addr] {
        let mut client = login(addr).await;
        assert_eq!(client.cmd("TYPE A").await.0, 200);
        // Every split point, including one between the CR and the LF of a line end.
        for at in 0..=wire.len() {
            assert_eq!(client.cmd(&format!("REST {at}")).await.0, 350);
            let (code, bytes) = client.download("RETR lf.txt").await;
            assert_eq!(code, 226, "REST {at}");
            assert_eq!(
                String::from_utf8(bytes).unwrap(),
                wire[at..],
                "REST {at} in TYPE A at {addr}"
            );
        }
        // Binary resumption is by file octets, as before.
        assert_eq!(client.cmd("TYPE I").await.0, 200);
        assert_eq!(client.cmd("REST 6").await.0, 350);
        let (_, bytes) = client.download("RETR lf.txt").await;
        assert_eq!(bytes, &text.as_bytes()[6..]);
        // An upload cannot be resumed in TYPE A: 554, and the file is untouched.
        assert_eq!(client.cmd("TYPE A").await.0, 200);
        assert_eq!(client.cmd("REST 3").await.0, 350);
        let _data = client.epsv().await;
        assert_eq!(client.cmd("STOR lf.txt").await.0, 554);
    }
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("lf.txt")).unwrap(),
        text
    );
}

/// Two uploads to one file do not interleave: while one runs, another STOR or APPE of the
/// same file is refused with 450 before anything is opened, and goes through once the first
/// has ended. Uploads to other files are not held up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_upload_to_a_file_being_uploaded_waits_its_turn() {
    let storage = MemoryStorage::new();
    let running = start(Server::new(storage.clone(), users())).await;
    let mut first = login(running.addr).await;
    let mut second = login(running.addr).await;

    let mut data = first.epsv().await;
    first.send("STOR same.bin").await;
    starts(first.reply().await);
    data.write_all(&[b'A'; 1000]).await.unwrap();

    for command in ["STOR same.bin", "APPE same.bin"] {
        let _unused = second.epsv().await;
        let (code, text) = second.cmd(command).await;
        assert_eq!(code, 450, "{command} during another upload: {text}");
    }
    assert_eq!(second.upload("STOR other.bin", b"other").await, 226);

    data.write_all(&[b'A'; 1000]).await.unwrap();
    drop(data);
    assert_eq!(first.reply().await.0, 226);
    assert_eq!(storage.read_file("/same.bin"), Some(vec![b'A'; 2000]));
    // Now it is free again.
    assert_eq!(second.upload("STOR same.bin", b"B").await, 226);
    assert_eq!(storage.read_file("/same.bin").as_deref(), Some(&b"B"[..]));
    // A STOR the session refuses (no data connection) claims nothing.
    assert_eq!(first.cmd("STOR same.bin").await.0, 425);
    assert_eq!(second.upload("APPE same.bin", b"C").await, 226);
    assert_eq!(storage.read_file("/same.bin").as_deref(), Some(&b"BC"[..]));
}
