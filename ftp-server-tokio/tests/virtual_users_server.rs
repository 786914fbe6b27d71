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

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ftp_server_tokio::auth::{
    FileStore, HashedPassword, PERMISSION_NAMES, Permissions, UserStore, VirtualUser, VirtualUsers,
    parse_home,
};
use ftp_server_tokio::server::Server;
use ftp_server_tokio::storage::memory::MemoryStorage;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(20);
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

/// A raw control connection.
struct Control {
    stream: BufReader<TcpStream>,
}

impl Control {
    async fn connect(addr: SocketAddr) -> Self {
        let stream = timeout(LIMIT, TcpStream::connect(addr))
            .await
            .unwrap()
            .unwrap();
        let mut c = Self {
            stream: BufReader::new(stream),
        };
        assert_eq!(c.reply().await.0, 220);
        c
    }

    async fn reply(&mut self) -> (u16, String) {
        let mut text = String::new();
        loop {
            let mut line = String::new();
            let n = timeout(LIMIT, self.stream.read_line(&mut line))
                .await
                .expect("a reply in time")
                .unwrap();
            assert!(n > 0, "connection closed; so far: {text}");
            text.push_str(&line);
            let code = &line.get(..3).unwrap_or_default();
            if line.as_bytes().get(3) == Some(&b' ') && text.starts_with(code) {
                return (code.parse().unwrap(), text);
            }
        }
    }

    async fn cmd(&mut self, line: &str) -> (u16, String) {
        let stream = self.stream.get_mut();
        stream
            .write_all(format!("{line}\r\n").as_bytes())
            .await
            .unwrap();
        self.reply().await
    }

    async fn expect(&mut self, line: &str, code: u16) -> String {
        let (got, text) = self.cmd(line).await;
        assert_eq!(got, code, "{line}: {text}");
        text
    }

    /// USER + PASS; the final code.
    async fn login(addr: SocketAddr, name: &str, password: &str) -> (Self, u16) {
        let mut c = Self::connect(addr).await;
        let (code, text) = c.cmd(&format!("USER {name}")).await;
        assert_eq!(code, 331, "{text}");
        let code = c.cmd(&format!("PASS {password}")).await.0;
        (c, code)
    }

    async fn logged_in(addr: SocketAddr, name: &str) -> Self {
        let (mut c, code) = Self::login(addr, name, PASSWORD).await;
        assert_eq!(code, 230, "{name}");
        c.expect("TYPE I", 200).await;
        c
    }

    /// EPSV and a connection to the announced port.
    async fn data(&mut self) -> TcpStream {
        let text = self.expect("EPSV", 229).await;
        let port: u16 = text
            .split("|||")
            .nth(1)
            .and_then(|r| r.split('|').next())
            .and_then(|p| p.parse().ok())
            .expect("EPSV port");
        timeout(LIMIT, TcpStream::connect(("127.0.0.1", port)))
            .await
            .unwrap()
            .unwrap()
    }

    /// STOR (or APPE) of `bytes`; the final reply code.
    async fn upload(&mut self, verb: &str, path: &str, bytes: &[u8]) -> u16 {
        let mut data = self.data().await;
        let (code, text) = self.cmd(&format!("{verb} {path}")).await;
        if code != 150 && code != 125 {
            return code;
        }
        let _ = data.write_all(bytes).await;
        drop(data);
        let (code, _) = self.reply().await;
        let _ = text;
        code
    }

    /// RETR or a listing; (final code, bytes).
    async fn download(&mut self, command: &str) -> (u16, Vec<u8>) {
        let mut data = self.data().await;
        let (code, _) = self.cmd(command).await;
        if code != 150 && code != 125 {
            return (code, Vec::new());
        }
        let mut bytes = Vec::new();
        timeout(LIMIT, data.read_to_end(&mut bytes))
            .await
            .unwrap()
            .unwrap();
        (self.reply().await.0, bytes)
    }
}

/// The whole scenario against one store.
async fn scenario<S: UserStore>(store: S, p: &str) {
    add_users(&store, p).await;
    let files = storage();
    let addr = serve(store, files.clone()).await;
    let alice = format!("{p}alice");

    // Who may log in.
    assert_eq!(Control::login(addr, &alice, "wrong").await.1, 530);
    assert_eq!(
        Control::login(addr, &format!("{p}nobody"), PASSWORD)
            .await
            .1,
        530
    );
    assert_eq!(
        Control::login(addr, &format!("{p}off"), PASSWORD).await.1,
        530
    );

    // Alice: everything inside her home, nothing outside it.
    let mut a = Control::logged_in(addr, &alice).await;
    assert!(a.expect("PWD", 257).await.contains("\"/\""));
    a.expect("CWD ..", 250).await;
    assert!(a.expect("PWD", 257).await.contains("\"/\""));
    assert_eq!(a.download("RETR ../outside.txt").await.0, 550);
    assert_eq!(a.cmd("SIZE /outside.txt").await.0, 550);
    assert_eq!(a.upload("STOR", "one.bin", &[1; 600]).await, 226);
    assert_eq!(files.read_file("/alice/one.bin"), Some(vec![1; 600]));
    let (code, names) = a.download("NLST").await;
    assert_eq!(
        (code, String::from_utf8_lossy(&names).trim()),
        (226, "one.bin")
    );

    // The quota (1000 bytes): a second 600-byte file does not fit.
    assert_eq!(a.upload("STOR", "two.bin", &[2; 600]).await, 552);
    assert_eq!(files.read_file("/alice/two.bin"), None);
    assert_eq!(a.upload("STOR", "two.bin", &[2; 400]).await, 226);

    // At most two sessions for alice: the third is refused with 421.
    let mut a2 = Control::logged_in(addr, &alice).await;
    let (_, code) = Control::login(addr, &alice, PASSWORD).await;
    assert_eq!(code, 421, "a third session for alice");
    a2.expect("QUIT", 221).await;

    // Each permission, missing on its own, refuses exactly its operation (550), and the
    // same user can still do the others (here: what another permission allows).
    for perm in PERMISSION_NAMES {
        let name = format!("{p}no-{perm}");
        let mut c = Control::logged_in(addr, &name).await;
        let denied = match perm {
            "list" => c.download("NLST").await.0,
            "read" => c.download("RETR f.txt").await.0,
            "write" => c.upload("STOR", &format!("new-{perm}.txt"), b"x").await,
            "append" => c.upload("APPE", "f.txt", b"more").await,
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
    let mut before = Control::logged_in(addr, &alice).await;

    db.stop();
    assert!(!db.is_running(), "the database is down");
    let (mut c, code) = Control::login(addr, &alice, PASSWORD).await;
    assert_eq!(code, 421, "a login while the database is down");
    // 421 closes the connection.
    let mut rest = Vec::new();
    let _ = timeout(LIMIT, c.stream.read_to_end(&mut rest)).await;

    // The session from before the outage still works, data connections included.
    assert_eq!(before.upload("STOR", "during.bin", &[7; 300]).await, 226);
    assert_eq!(files.read_file("/alice/during.bin"), Some(vec![7; 300]));
    let (code, bytes) = before.download("RETR during.bin").await;
    assert_eq!((code, bytes.len()), (226, 300));

    db.start_again();
    // The pool reconnects on demand: the first login after the restart works.
    let mut after = Control::logged_in(addr, &alice).await;
    after.expect("QUIT", 221).await;
    before.expect("QUIT", 221).await;
}
