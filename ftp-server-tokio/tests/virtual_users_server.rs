//! Virtual users through the whole server, for every back-end (users file, SQLite, MySQL or
//! MariaDB, PostgreSQL): login, wrong password, unknown and disabled users, each permission
//! denied on its own, home confinement, the quota and the per-user session limit, over real
//! control and data connections on loopback. And the database outage: new logins get 421
//! while it is down, a logged-in session keeps transferring, logins work again when it is back.
//!
//! MySQL and PostgreSQL use the servers `scripts/databases.sh` starts (`FTP_TEST_MYSQL_URL`,
//! `FTP_TEST_POSTGRES_URL`); without them those tests say SKIPPED (and fail under CI). The
//! outage test starts its own PostgreSQL (`FTP_TEST_PG_BINDIR`) and stops it by PID.

#![cfg(feature = "users-file")]

mod support_db;
mod support_ftp;

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ftp_server_tokio::auth::{
    FileStore, HashedPassword, PERMISSION_NAMES, Permissions, UserStore, VirtualUser, VirtualUsers,
    parse_home,
};
use ftp_server_tokio::server::Server;
use ftp_server_tokio::storage::memory::MemoryStorage;
use support_ftp::Control;

const PASSWORD: &str = "pw-of-the-test";
const QUOTA: u64 = 1000;

fn user(name: &str, home: &str) -> VirtualUser {
    VirtualUser::new(
        name,
        HashedPassword::hash(PASSWORD.as_bytes()).unwrap(),
        parse_home(home).unwrap(),
    )
    .unwrap()
}

/// Every permission but `missing`.
fn all_but(missing: &str) -> Permissions {
    Permissions::from_names(PERMISSION_NAMES.iter().copied().filter(|p| p != &missing)).unwrap()
}

/// A prefix that keeps the names of this run apart in a shared database.
fn prefix(tag: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{tag}{}x{nanos:x}-", std::process::id())
}

/// The users of the scenario: alice (everything, home /alice, quota, 2 sessions), a disabled
/// user, and for each permission a user in /shared who has every other one.
async fn add_users<S: UserStore>(store: &S, p: &str) {
    let alice = user(&format!("{p}alice"), "/alice")
        .with_permissions(Permissions::ALL)
        .with_quota(Some(QUOTA))
        .with_max_sessions(Some(2));
    store.add(alice).await.unwrap();
    let off = user(&format!("{p}off"), "/shared").with_enabled(false);
    store.add(off).await.unwrap();
    for perm in PERMISSION_NAMES {
        let u = user(&format!("{p}no-{perm}"), "/shared").with_permissions(all_but(perm));
        store.add(u).await.unwrap();
    }
}

/// The storage every scenario serves: alice's home, a shared directory, a file outside both.
fn storage() -> MemoryStorage {
    MemoryStorage::new()
        .with_file("/outside.txt", "not for alice")
        .with_dir("/alice")
        .with_file("/shared/f.txt", "shared file")
        .with_dir("/shared/d")
}

async fn serve<S: UserStore>(store: S, storage: MemoryStorage) -> SocketAddr {
    let bound = Server::new(storage, VirtualUsers::new(store))
        .listen("127.0.0.1:0".parse().unwrap())
        .session_config(|c| c.failed_login_delay = Duration::ZERO)
        .bind()
        .await
        .unwrap();
    let addr = bound.local_addrs()[0];
    tokio::spawn(bound.run());
    addr
}

/// A fresh connection's USER and PASS: the reply code to PASS.
async fn login_code(addr: SocketAddr, user: &str, password: &str) -> u16 {
    Control::connect(addr)
        .await
        .try_login(user, password)
        .await
        .0
}

/// The whole scenario against one store.
async fn scenario<S: UserStore>(store: S, p: &str) {
    add_users(&store, p).await;
    let files = storage();
    let addr = serve(store, files.clone()).await;
    let alice = format!("{p}alice");

    // Who may log in.
    assert_eq!(login_code(addr, &alice, "wrong").await, 530);
    assert_eq!(login_code(addr, &format!("{p}nobody"), PASSWORD).await, 530);
    assert_eq!(login_code(addr, &format!("{p}off"), PASSWORD).await, 530);

    // Alice: everything inside her home, nothing outside it.
    let mut a = Control::login(addr, &alice, PASSWORD).await;
    assert!(a.expect("PWD", 257).await.contains("\"/\""));
    a.expect("CWD ..", 250).await;
    assert!(a.expect("PWD", 257).await.contains("\"/\""));
    assert_eq!(a.download("RETR ../outside.txt").await.0, 550);
    assert_eq!(a.cmd("SIZE /outside.txt").await.0, 550);
    assert_eq!(a.upload("STOR one.bin", &[1; 600]).await, 226);
    assert_eq!(files.read_file("/alice/one.bin"), Some(vec![1; 600]));
    let (code, names) = a.download("NLST").await;
    assert_eq!(
        (code, String::from_utf8_lossy(&names).trim()),
        (226, "one.bin")
    );

    // The quota (1000 bytes): a second 600-byte file does not fit.
    assert_eq!(a.upload("STOR two.bin", &[2; 600]).await, 552);
    assert_eq!(files.read_file("/alice/two.bin"), None);
    assert_eq!(a.upload("STOR two.bin", &[2; 400]).await, 226);

    // At most two sessions for alice: the third is refused with 421.
    let mut a2 = Control::login(addr, &alice, PASSWORD).await;
    let code = login_code(addr, &alice, PASSWORD).await;
    assert_eq!(code, 421, "a third session for alice");
    a2.expect("QUIT", 221).await;

    // Each permission, missing on its own, refuses exactly its operation (550), and the
    // same user can still do the others (here: what another permission allows).
    for perm in PERMISSION_NAMES {
        let name = format!("{p}no-{perm}");
        let mut c = Control::login(addr, &name, PASSWORD).await;
        let denied = match perm {
            "list" => c.download("NLST").await.0,
            "read" => c.download("RETR f.txt").await.0,
            "write" => c.try_upload(&format!("STOR new-{perm}.txt"), b"x").await,
            "append" => c.try_upload("APPE f.txt", b"more").await,
            "delete" => c.cmd("DELE f.txt").await.0,
            "rename" => c.cmd("RNFR f.txt").await.0,
            "mkdir" => c.cmd(&format!("MKD dir-{perm}")).await.0,
            other => panic!("a permission this test does not know: {other}"),
        };
        assert_eq!(denied, 550, "{name}: the operation {perm} allows");
        let other = if perm == "read" {
            c.download("NLST").await.0
        } else {
            c.download("RETR f.txt").await.0
        };
        assert_eq!(other, 226, "{name}: an operation another permission allows");
        c.expect("QUIT", 221).await;
    }
    assert_eq!(
        files.read_file("/shared/f.txt"),
        Some(b"shared file".to_vec())
    );
    assert_eq!(files.read_file("/shared/new-write.txt"), None);
    a.expect("QUIT", 221).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_file_back_end() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::open_or_create(dir.path().join("users.toml"))
        .await
        .unwrap();
    scenario(store, &prefix("file")).await;
}

#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_back_end() {
    use ftp_server_tokio::auth::SqlStore;
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("users.db").display()
    );
    let store = SqlStore::connect(&url).await.unwrap();
    scenario(store, &prefix("lite")).await;
}

#[cfg(feature = "mysql")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_back_end() {
    use ftp_server_tokio::auth::SqlStore;
    let Some(url) = support_db::mysql_url() else {
        return;
    };
    let store = SqlStore::connect(&url).await.unwrap();
    scenario(store, &prefix("my")).await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_back_end() {
    use ftp_server_tokio::auth::SqlStore;
    let Some(url) = support_db::postgres_url() else {
        return;
    };
    let store = SqlStore::connect(&url).await.unwrap();
    scenario(store, &prefix("pg")).await;
}

/// The database goes away while the server runs: new logins get 421 (temporary, not 530),
/// a session that logged in before keeps transferring, and logins work again once the
/// database is back.
#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_outage_gives_421_and_spares_logged_in_sessions() {
    use ftp_server_tokio::auth::SqlStore;
    let Some(mut db) = support_db::PrivatePostgres::start() else {
        return;
    };
    let store = SqlStore::connect(&db.url()).await.unwrap();
    let p = prefix("outage");
    add_users(&store, &p).await;
    let files = storage();
    let addr = serve(store, files.clone()).await;
    let alice = format!("{p}alice");
    let mut before = Control::login(addr, &alice, PASSWORD).await;

    db.stop();
    assert!(!db.is_running(), "the database is down");
    let mut c = Control::connect(addr).await;
    let (code, text) = c.try_login(&alice, PASSWORD).await;
    assert_eq!(code, 421, "a login while the database is down: {text}");
    assert!(c.closed().await, "421 closes the connection");

    // The session from before the outage still works, data connections included.
    assert_eq!(before.upload("STOR during.bin", &[7; 300]).await, 226);
    assert_eq!(files.read_file("/alice/during.bin"), Some(vec![7; 300]));
    let (code, bytes) = before.download("RETR during.bin").await;
    assert_eq!((code, bytes.len()), (226, 300));

    db.start_again();
    // The pool reconnects on demand: the first login after the restart works.
    let mut after = Control::login(addr, &alice, PASSWORD).await;
    after.expect("QUIT", 221).await;
    before.expect("QUIT", 221).await;
}
