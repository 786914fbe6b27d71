//! Per-user limits over loopback with a raw FTP client: session limits (421 beyond the limit,
//! the slot freed by QUIT and by a dropped connection) and storage quotas (552 while bytes are
//! written, the partial file removed, cut back or kept by policy, DELE and overwrites counted,
//! concurrent sessions of one user sharing one quota, usage measured from existing files), on
//! the in-memory and the filesystem back-ends.

mod support_ftp;

use std::future::{Future, ready};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ftp_server_tokio::auth::{
    AuthError, Authenticator, Credentials, Permissions, Principal, StaticUsers, UserEntry,
};
use ftp_server_tokio::events::Event;
use ftp_server_tokio::ftp_proto::server::{FsError, TransferError};
use ftp_server_tokio::ftp_proto::{FtpPath, VirtualPath};
use ftp_server_tokio::server::Server;
use ftp_server_tokio::storage::Storage;
use ftp_server_tokio::storage::fs::FsStorage;
use ftp_server_tokio::storage::memory::MemoryStorage;
use ftp_server_tokio::storage::quota::QuotaPolicy;
use support_ftp::Control;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

fn home() -> VirtualPath {
    VirtualPath::root()
        .resolve(&FtpPath::from("/home/bob"))
        .unwrap()
}

/// `bob` (password `pw`, home `/home/bob`) with a quota of `quota` bytes.
fn bob(quota: u64) -> StaticUsers {
    let entry = UserEntry::new("bob", "pw", home(), Permissions::ALL).with_quota(quota);
    StaticUsers::new([entry]).unwrap()
}

/// Which back-end a test runs on.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Memory,
    Fs,
}

const KINDS: [Kind; 2] = [Kind::Memory, Kind::Fs];

/// A running server and a way to look at its files (storage paths).
struct Backend {
    addr: SocketAddr,
    memory: Option<Arc<MemoryStorage>>,
    dir: Option<tempfile::TempDir>,
}

/// Server settings the tests vary.
#[derive(Clone, Default)]
struct Settings {
    policy: QuotaPolicy,
    events: Option<Arc<Mutex<Vec<Event>>>>,
}

async fn run<S: Storage, A: Authenticator>(
    storage: Arc<S>,
    auth: A,
    settings: &Settings,
) -> SocketAddr {
    let mut server = Server::with_shared(storage, Arc::new(auth)).quota_policy(settings.policy);
    if let Some(events) = settings.events.clone() {
        server = server.on_event(move |e| events.lock().unwrap().push(e.clone()));
    }
    let bound = server
        .listen("127.0.0.1:0".parse().unwrap())
        .bind()
        .await
        .unwrap();
    let addr = bound.local_addrs()[0];
    tokio::spawn(bound.run());
    addr
}

impl Backend {
    /// A server on `kind` whose storage holds `/home/bob` and `files`.
    async fn start_with(
        kind: Kind,
        files: &[(&str, &[u8])],
        users: StaticUsers,
        settings: &Settings,
    ) -> Self {
        match kind {
            Kind::Memory => {
                let mut storage = MemoryStorage::new().with_dir("/home/bob");
                for (path, bytes) in files {
                    storage = storage.with_file(path, bytes.to_vec());
                }
                let storage = Arc::new(storage);
                let addr = run(Arc::clone(&storage), users, settings).await;
                Self {
                    addr,
                    memory: Some(storage),
                    dir: None,
                }
            }
            Kind::Fs => {
                let dir = tempfile::tempdir().unwrap();
                std::fs::create_dir_all(dir.path().join("home/bob")).unwrap();
                for (path, bytes) in files {
                    let local = dir.path().join(path.trim_start_matches('/'));
                    std::fs::create_dir_all(local.parent().unwrap()).unwrap();
                    std::fs::write(local, bytes).unwrap();
                }
                let storage = Arc::new(FsStorage::open(dir.path()).unwrap());
                let addr = run(storage, users, settings).await;
                Self {
                    addr,
                    memory: None,
                    dir: Some(dir),
                }
            }
        }
    }

    /// The contents of the file at storage path `path`, `None` if there is none.
    fn read(&self, path: &str) -> Option<Vec<u8>> {
        match (&self.memory, &self.dir) {
            (Some(memory), _) => memory.read_file(path),
            (_, Some(dir)) => std::fs::read(dir.path().join(path.trim_start_matches('/'))).ok(),
            _ => None,
        }
    }

    /// Bytes of the files directly in bob's home named `names`.
    fn total(&self, names: &[&str]) -> usize {
        names
            .iter()
            .filter_map(|n| self.read(&format!("/home/bob/{n}")))
            .map(|bytes| bytes.len())
            .sum()
    }
}

fn bytes(n: usize, fill: u8) -> Vec<u8> {
    vec![fill; n]
}

/// Any name logs in with password `pw` as a user of that name with at most two sessions: an
/// authenticator of the embedding application's own, not `StaticUsers`.
struct TwoSessionsEach;

impl Authenticator for TwoSessionsEach {
    fn authenticate(
        &self,
        credentials: Credentials<'_>,
    ) -> impl Future<Output = Result<Principal, AuthError>> + Send {
        let ok = credentials.password.expose_secret() == b"pw";
        let principal = Principal::new(credentials.user, VirtualPath::root(), Permissions::ALL)
            .with_max_sessions(2);
        ready(if ok {
            Ok(principal)
        } else {
            Err(AuthError::Rejected)
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_beyond_the_users_session_limit_gets_421_and_slots_free_on_quit_and_drop() {
    let addr = run(
        Arc::new(MemoryStorage::new()),
        TwoSessionsEach,
        &Settings::default(),
    )
    .await;
    let mut first = Control::login(addr, "carol", "pw").await;
    let second = Control::login(addr, "carol", "pw").await;
    // Another user is not affected.
    let _dave = Control::login(addr, "dave", "pw").await;

    let mut third = Control::connect(addr).await;
    let (code, text) = third.try_login("carol", "pw").await;
    assert_eq!(code, 421, "{text}");
    assert!(text.contains("Too many sessions for this user"), "{text}");
    assert!(third.closed().await);

    // QUIT frees a slot.
    assert_eq!(first.cmd("QUIT").await.0, 221);
    assert!(first.closed().await);
    let _fourth = Control::login(addr, "carol", "pw").await;
    let mut full = Control::connect(addr).await;
    assert_eq!(full.try_login("carol", "pw").await.0, 421);

    // A connection dropped without QUIT frees its slot too.
    drop(second);
    let mut freed = false;
    for _ in 0..50 {
        let mut next = Control::connect(addr).await;
        match next.try_login("carol", "pw").await.0 {
            230 => {
                freed = true;
                break;
            }
            421 => tokio::time::sleep(Duration::from_millis(20)).await,
            other => panic!("unexpected reply {other}"),
        }
    }
    assert!(freed, "the dropped connection's slot was never freed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_users_max_sessions_is_enforced() {
    let entry = UserEntry::new("bob", "pw", home(), Permissions::ALL).with_max_sessions(1);
    let users = StaticUsers::new([entry]).unwrap();
    let backend = Backend::start_with(Kind::Memory, &[], users, &Settings::default()).await;
    let mut first = Control::login(backend.addr, "bob", "pw").await;
    let mut second = Control::connect(backend.addr).await;
    assert_eq!(second.try_login("bob", "pw").await.0, 421);
    let mut second = Control::connect(backend.addr).await;
    // REIN ends bob's login on `first` at once: the slot is free for another connection,
    // and then `first` is the one beyond the limit.
    assert_eq!(first.cmd("REIN").await.0, 220);
    assert_eq!(second.try_login("bob", "pw").await.0, 230);
    assert_eq!(first.try_login("bob", "pw").await.0, 421);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_under_the_quota_are_stored_and_one_crossing_it_gets_552_and_is_removed() {
    for kind in KINDS {
        let events = Arc::new(Mutex::new(Vec::new()));
        let settings = Settings {
            events: Some(Arc::clone(&events)),
            ..Settings::default()
        };
        let backend = Backend::start_with(kind, &[], bob(1000), &settings).await;
        let mut c = Control::login(backend.addr, "bob", "pw").await;
        let a = bytes(600, b'a');
        assert_eq!(c.upload("STOR a.bin", &a).await, 226, "{kind:?}");
        assert_eq!(backend.read("/home/bob/a.bin"), Some(a.clone()), "{kind:?}");

        // 600 + 600 > 1000: stopped, 552, and the partial file removed.
        assert_eq!(
            c.upload("STOR b.bin", &bytes(600, b'b')).await,
            552,
            "{kind:?}"
        );
        assert_eq!(backend.read("/home/bob/b.bin"), None, "{kind:?}");
        // APPE past the quota: the file is cut back to what it was.
        assert_eq!(
            c.upload("APPE a.bin", &bytes(500, b'x')).await,
            552,
            "{kind:?}"
        );
        assert_eq!(backend.read("/home/bob/a.bin"), Some(a.clone()), "{kind:?}");
        // STOU past the quota: removed (else the next upload would not fit).
        assert_eq!(c.upload("STOU", &bytes(2000, b'u')).await, 552, "{kind:?}");
        // Exactly the rest fits; one more byte does not.
        assert_eq!(
            c.upload("STOR c.bin", &bytes(400, b'c')).await,
            226,
            "{kind:?}"
        );
        assert_eq!(c.upload("STOR d.bin", b"d").await, 552, "{kind:?}");
        assert_eq!(backend.read("/home/bob/d.bin"), None, "{kind:?}");
        assert_eq!(backend.total(&["a.bin", "b.bin", "c.bin", "d.bin"]), 1000);

        // REST + STOR past the quota: cut back to the offset.
        assert_eq!(c.cmd("REST 300").await.0, 350);
        assert_eq!(
            c.upload("STOR a.bin", &bytes(800, b'r')).await,
            552,
            "{kind:?}"
        );
        assert_eq!(backend.read("/home/bob/a.bin"), Some(bytes(300, b'a')));
        // The 300 bytes REST cut off are free again.
        assert_eq!(
            c.upload("STOR e.bin", &bytes(300, b'e')).await,
            226,
            "{kind:?}"
        );

        let stopped = events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| {
                matches!(
                    e,
                    Event::TransferIncomplete {
                        error: Some(TransferError::Storage(FsError::QuotaExceeded)),
                        ..
                    }
                )
            })
            .count();
        assert_eq!(
            stopped, 5,
            "{kind:?}: one TransferIncomplete per quota stop"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_partial_keeps_exactly_the_bytes_up_to_the_quota() {
    for kind in KINDS {
        let settings = Settings {
            policy: QuotaPolicy::KeepPartial,
            ..Settings::default()
        };
        let backend = Backend::start_with(kind, &[], bob(1000), &settings).await;
        let mut c = Control::login(backend.addr, "bob", "pw").await;
        let sent: Vec<u8> = (0..1500u32).map(|i| i as u8).collect();
        assert_eq!(c.upload("STOR big.bin", &sent).await, 552, "{kind:?}");
        assert_eq!(
            backend.read("/home/bob/big.bin").as_deref(),
            Some(&sent[..1000]),
            "{kind:?}"
        );
        assert_eq!(c.upload("STOR more.bin", b"m").await, 552, "{kind:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dele_frees_space_and_an_overwrite_is_charged_by_the_difference() {
    for kind in KINDS {
        let backend = Backend::start_with(kind, &[], bob(1000), &Settings::default()).await;
        let mut c = Control::login(backend.addr, "bob", "pw").await;
        assert_eq!(c.upload("STOR a.bin", &bytes(800, b'a')).await, 226);
        assert_eq!(c.upload("STOR b.bin", &bytes(300, b'b')).await, 552);
        assert_eq!(c.cmd("DELE a.bin").await.0, 250);
        assert_eq!(
            c.upload("STOR b.bin", &bytes(300, b'b')).await,
            226,
            "{kind:?}"
        );

        // 300 used: replacing b.bin (300) with 900 bytes costs 600 more, which fits.
        assert_eq!(
            c.upload("STOR b.bin", &bytes(900, b'B')).await,
            226,
            "{kind:?}"
        );
        assert_eq!(backend.read("/home/bob/b.bin"), Some(bytes(900, b'B')));
        assert_eq!(
            c.upload("STOR c.bin", &bytes(100, b'c')).await,
            226,
            "{kind:?}"
        );
        assert_eq!(c.upload("STOR d.bin", b"d").await, 552, "{kind:?}");

        // A rename within the home adds nothing; one that replaces a file frees its bytes.
        assert_eq!(c.cmd("RNFR c.bin").await.0, 350);
        assert_eq!(c.cmd("RNTO e.bin").await.0, 250);
        assert_eq!(c.upload("STOR d.bin", b"d").await, 552, "{kind:?}");
        assert_eq!(c.cmd("RNFR e.bin").await.0, 350);
        assert_eq!(c.cmd("RNTO b.bin").await.0, 250);
        assert_eq!(
            c.upload("STOR d.bin", &bytes(900, b'd')).await,
            226,
            "{kind:?}"
        );
        assert_eq!(backend.total(&["b.bin", "d.bin", "e.bin"]), 1000);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_sessions_of_one_user_never_store_more_than_the_quota() {
    const QUOTA: u64 = 1_000_000;
    for policy in [QuotaPolicy::KeepPartial, QuotaPolicy::DeletePartial] {
        for kind in KINDS {
            let settings = Settings {
                policy,
                ..Settings::default()
            };
            let backend = Backend::start_with(kind, &[], bob(QUOTA), &settings).await;
            let mut one = Control::login(backend.addr, "bob", "pw").await;
            let mut two = Control::login(backend.addr, "bob", "pw").await;
            // Each sends more than half of the quota, in small pieces, at the same time.
            let send = |mut data: TcpStream, fill: u8| async move {
                let chunk = vec![fill; 16 * 1024];
                for _ in 0..40 {
                    if data.write_all(&chunk).await.is_err() {
                        break;
                    }
                }
                let _ = data.shutdown().await;
                data
            };
            let (data_one, data_two) = (one.epsv().await, two.epsv().await);
            let (started_one, started_two) =
                tokio::join!(one.cmd("STOR one.bin"), two.cmd("STOR two.bin"));
            for (code, text) in [started_one, started_two] {
                assert!(code == 125 || code == 150, "{text}");
            }
            let (_d1, _d2) = tokio::join!(send(data_one, b'1'), send(data_two, b'2'));
            let (end_one, end_two) = tokio::join!(one.reply(), two.reply());
            let codes = [end_one.0, end_two.0];
            assert!(codes.contains(&552), "{kind:?} {policy:?}: {codes:?}");
            let stored = backend.total(&["one.bin", "two.bin"]) as u64;
            assert!(
                stored <= QUOTA,
                "{kind:?} {policy:?}: {stored} bytes stored"
            );
            if policy == QuotaPolicy::KeepPartial {
                // 2 x 655,360 bytes were offered: the quota is filled exactly.
                assert_eq!(stored, QUOTA, "{kind:?}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_starts_from_the_files_already_under_the_home() {
    for kind in KINDS {
        let files: &[(&str, &[u8])] = &[
            ("/home/bob/old.bin", &[7; 900]),
            ("/home/bob/sub/deeper/x.bin", &[7; 50]),
            // Outside bob's home: not his.
            ("/home/other.bin", &[7; 5000]),
        ];
        let backend = Backend::start_with(kind, files, bob(1000), &Settings::default()).await;
        let mut c = Control::login(backend.addr, "bob", "pw").await;
        assert_eq!(
            c.upload("STOR new.bin", &bytes(60, b'n')).await,
            552,
            "{kind:?}"
        );
        assert_eq!(backend.read("/home/bob/new.bin"), None);
        assert_eq!(
            c.upload("STOR new.bin", &bytes(50, b'n')).await,
            226,
            "{kind:?}"
        );
        // A second session of bob shares the count.
        let mut again = Control::login(backend.addr, "bob", "pw").await;
        assert_eq!(again.upload("STOR more.bin", b"m").await, 552, "{kind:?}");
    }
}
