//! Virtual users on every store: the users file and SQLite always, MySQL/MariaDB and
//! PostgreSQL when `FTP_TEST_MYSQL_URL` / `FTP_TEST_POSTGRES_URL` are set (unset: a loud
//! SKIPPED, and a failure when `CI` is set).
//!
//! Each store goes through the same scenario ([`exercise`]): logins (right, wrong, unknown,
//! disabled, outside the allowed networks), the principal's home, permissions, quota and
//! session limit, the store round trip (add, list, passwd, replace, remove) and the argon2
//! work per attempt, counted rather than timed: an unknown user must cost exactly one
//! verification, like a wrong password.
#![cfg(feature = "users-file")]

use std::io::Write;
use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use ftp_server_tokio::auth::{
    AnonymousPolicy, AuthError, Authenticator, Credentials, FileStore, HashedPassword, Permissions,
    Principal, StoreError, UserStore, VirtualUser, VirtualUsers, parse_home,
};
use ftp_server_tokio::ftp_proto::Secret;

/// Writes to the real stderr, past the test harness's capture, so a skip is always visible.
// Used by the MySQL and PostgreSQL tests (inside the sqlite-gated module).
#[cfg_attr(
    not(all(feature = "sqlite", any(feature = "mysql", feature = "postgres"))),
    allow(dead_code)
)]
fn loud(message: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{message}");
    let _ = err.flush();
}

/// The URL in `var`, or a loud skip (a failure under `CI`).
// Used by the MySQL and PostgreSQL tests (inside the sqlite-gated module).
#[cfg_attr(
    not(all(feature = "sqlite", any(feature = "mysql", feature = "postgres"))),
    allow(dead_code)
)]
fn database_url(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            if std::env::var_os("CI").is_some() {
                panic!("{var} is not set and CI is set: CI must provide the database");
            }
            loud(&format!(
                "SKIPPED: {var} not set (scripts/databases.sh starts the database and sets it; \
                 this test fails instead when CI is set)"
            ));
            None
        }
    }
}

/// A prefix that keeps this run's users apart from other runs in a shared database.
// Used by the MySQL and PostgreSQL tests (inside the sqlite-gated module).
#[cfg_attr(
    not(all(feature = "sqlite", any(feature = "mysql", feature = "postgres"))),
    allow(dead_code)
)]
fn unique_prefix() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("t{}x{nanos}_", std::process::id())
}

const HERE: &str = "192.0.2.7:50123";

async fn login<S: UserStore>(
    users: &VirtualUsers<S>,
    user: &str,
    password: &str,
    peer: &str,
) -> Result<Principal, AuthError> {
    let password = Secret::new(password.as_bytes().to_vec());
    let peer: SocketAddr = peer.parse().unwrap();
    users
        .authenticate(Credentials {
            user,
            password: &password,
            peer,
            tls: false,
            anonymous: false,
        })
        .await
}

/// `login`, asserting it ran exactly one argon2 verification.
async fn login_once<S: UserStore>(
    users: &VirtualUsers<S>,
    user: &str,
    password: &str,
    peer: &str,
) -> Result<Principal, AuthError> {
    let before = users.verifications();
    let result = login(users, user, password, peer).await;
    assert_eq!(
        users.verifications() - before,
        1,
        "login as {user:?} ({result:?}) must cost exactly one argon2 verification"
    );
    result
}

async fn anonymous_login<S: UserStore>(users: &VirtualUsers<S>) -> Result<Principal, AuthError> {
    let password = Secret::new(b"guest@".to_vec());
    users
        .authenticate(Credentials {
            user: "anonymous",
            password: &password,
            peer: HERE.parse().unwrap(),
            tls: false,
            anonymous: true,
        })
        .await
}

fn user(name: &str, password: &str, home: &str) -> VirtualUser {
    VirtualUser::new(
        name,
        HashedPassword::hash(password.as_bytes()).unwrap(),
        parse_home(home).unwrap(),
    )
    .unwrap()
}

/// The whole scenario against one store. `p` prefixes every user name.
async fn exercise<S: UserStore + Clone>(store: S, p: &str) {
    let alice = format!("{p}alice");
    let bob = format!("{p}bob");
    let carol = format!("{p}carol");
    let dave = format!("{p}dave");
    store
        .add(
            user(&alice, "alice-pw", "/homes/alice")
                .with_quota(Some(1_000_000))
                .with_max_sessions(Some(2)),
        )
        .await
        .unwrap();
    store
        .add(user(&bob, "bob-pw", "/bob").with_enabled(false))
        .await
        .unwrap();
    store
        .add(user(&carol, "carol-pw", "/carol").with_allow_from(vec![
            "10.0.0.0/8".parse().unwrap(),
            "2001:db8::/32".parse().unwrap(),
        ]))
        .await
        .unwrap();
    store
        .add(user(&dave, "dave-pw", "/").with_permissions(Permissions::READ_ONLY))
        .await
        .unwrap();

    // A second add of the same name is refused and changes nothing.
    match store.add(user(&alice, "other", "/elsewhere")).await {
        Err(StoreError::Exists(name)) => assert_eq!(name, alice),
        other => panic!("duplicate add: {other:?}"),
    }

    let users = VirtualUsers::new(store.clone());

    // Right password: the principal carries the record.
    let principal = login_once(&users, &alice, "alice-pw", HERE).await.unwrap();
    assert_eq!(principal.name, alice);
    assert_eq!(principal.home.to_string(), "/homes/alice");
    assert_eq!(principal.permissions, Permissions::ALL);
    assert_eq!(principal.quota, Some(1_000_000));
    assert_eq!(principal.max_sessions, Some(2));
    assert!(!principal.anonymous);
    let dave_principal = login_once(&users, &dave, "dave-pw", HERE).await.unwrap();
    assert_eq!(dave_principal.permissions, Permissions::READ_ONLY);
    assert_eq!(
        (dave_principal.quota, dave_principal.max_sessions),
        (None, None)
    );

    // Wrong password, unknown user, a name differing only in case, a name no store holds:
    // all 530, each after exactly one verification.
    assert_eq!(
        login_once(&users, &alice, "alice-PW", HERE).await,
        Err(AuthError::Rejected)
    );
    assert_eq!(
        login_once(&users, &alice, "", HERE).await,
        Err(AuthError::Rejected)
    );
    assert_eq!(
        login_once(&users, &format!("{p}nobody"), "alice-pw", HERE).await,
        Err(AuthError::Rejected)
    );
    assert_eq!(
        login_once(&users, &alice.to_uppercase(), "alice-pw", HERE).await,
        Err(AuthError::Rejected)
    );
    assert_eq!(
        login_once(&users, &"x".repeat(5000), "alice-pw", HERE).await,
        Err(AuthError::Rejected)
    );
    assert_eq!(
        login_once(&users, "", "", HERE).await,
        Err(AuthError::Rejected)
    );

    // Disabled: the right password does not help.
    assert_eq!(
        login_once(&users, &bob, "bob-pw", HERE).await,
        Err(AuthError::Rejected)
    );

    // Allowed networks, IPv4, IPv6 and IPv4-mapped IPv6.
    assert_eq!(
        login_once(&users, &carol, "carol-pw", HERE).await,
        Err(AuthError::Rejected)
    );
    assert!(
        login_once(&users, &carol, "carol-pw", "10.1.2.3:4000")
            .await
            .is_ok()
    );
    assert!(
        login_once(&users, &carol, "carol-pw", "[::ffff:10.1.2.3]:4000")
            .await
            .is_ok()
    );
    assert!(
        login_once(&users, &carol, "carol-pw", "[2001:db8::5]:4000")
            .await
            .is_ok()
    );
    assert_eq!(
        login_once(&users, &carol, "carol-pw", "[2001:db9::5]:4000").await,
        Err(AuthError::Rejected)
    );
    assert_eq!(
        login_once(&users, &carol, "wrong", "10.1.2.3:4000").await,
        Err(AuthError::Rejected)
    );

    // Anonymous: off unless a policy is set, and then no verification at all.
    let before = users.verifications();
    assert_eq!(anonymous_login(&users).await, Err(AuthError::Rejected));
    let with_anonymous =
        VirtualUsers::new(store.clone()).with_anonymous(AnonymousPolicy::default());
    assert!(anonymous_login(&with_anonymous).await.unwrap().anonymous);
    assert_eq!(users.verifications(), before);
    assert_eq!(with_anonymous.verifications(), 0);

    // Round trip: list, passwd, replace, remove.
    let names: Vec<String> = store
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.name)
        .filter(|n| n.starts_with(p))
        .collect();
    assert_eq!(
        names,
        [alice.clone(), bob.clone(), carol.clone(), dave.clone()]
    );
    let listed = store.find(&carol).await.unwrap().unwrap();
    assert_eq!(listed.allow_from.len(), 2);
    assert_eq!(listed.home.to_string(), "/carol");

    assert!(
        store
            .set_password(&alice, HashedPassword::hash(b"new-pw").unwrap())
            .await
            .unwrap()
    );
    assert_eq!(
        login(&users, &alice, "alice-pw", HERE).await,
        Err(AuthError::Rejected)
    );
    assert!(login(&users, &alice, "new-pw", HERE).await.is_ok());
    assert!(
        !store
            .set_password(&format!("{p}nobody"), HashedPassword::hash(b"x").unwrap())
            .await
            .unwrap()
    );

    let mut enabled_bob = store.find(&bob).await.unwrap().unwrap();
    enabled_bob.enabled = true;
    enabled_bob.quota = Some(5);
    assert!(store.replace(enabled_bob).await.unwrap());
    let bob_principal = login(&users, &bob, "bob-pw", HERE).await.unwrap();
    assert_eq!(bob_principal.quota, Some(5));
    assert!(
        !store
            .replace(user(&format!("{p}nobody"), "x", "/"))
            .await
            .unwrap()
    );

    assert!(store.remove(&alice).await.unwrap());
    assert!(!store.remove(&alice).await.unwrap());
    assert_eq!(
        login_once(&users, &alice, "new-pw", HERE).await,
        Err(AuthError::Rejected)
    );
    for name in [&bob, &carol, &dave] {
        assert!(store.remove(name).await.unwrap());
    }
    assert!(store.find(&dave).await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("users.toml");
    let store = FileStore::open_or_create(&path).await.unwrap();
    exercise(store, "").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_file_is_private_atomic_and_reloaded_when_edited() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("users.toml");
    assert!(
        FileStore::open(&path).await.is_err(),
        "open (for serving) needs an existing file"
    );
    let store = FileStore::open_or_create(&path).await.unwrap();
    assert!(!path.exists(), "nothing written before the first change");
    store.add(user("erin", "erin-pw", "/erin")).await.unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "a new users file is private");
        // A rewrite keeps a mode the administrator chose.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        store
            .add(user("frank", "frank-pw", "/frank"))
            .await
            .unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
    }
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n != "users.toml")
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");

    let users = VirtualUsers::new(FileStore::open(&path).await.unwrap());
    assert!(login(&users, "erin", "erin-pw", HERE).await.is_ok());

    // An edit by hand (here: erin disabled) is seen by the next login, no restart.
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains("erin-pw"), "only the hash is stored");
    let edited = text.replacen("enabled = true", "enabled = false", 1);
    assert_ne!(edited, text);
    std::fs::write(&path, &edited).unwrap();
    assert_eq!(
        login(&users, "erin", "erin-pw", HERE).await,
        Err(AuthError::Rejected)
    );

    // A malformed edit: logins answer 421 (not 530) until it is fixed, and opening names the
    // line.
    let broken = format!("{edited}\n[[user]]\nname = \"gina\"\npasword = \"x\"\n");
    std::fs::write(&path, &broken).unwrap();
    assert_eq!(
        login(&users, "frank", "frank-pw", HERE).await,
        Err(AuthError::Unavailable)
    );
    let error = FileStore::open(&path).await.unwrap_err().to_string();
    let last_table = 1 + broken
        .lines()
        .enumerate()
        .filter(|(_, l)| *l == "[[user]]")
        .last()
        .unwrap()
        .0;
    assert!(error.contains("users.toml"), "{error}");
    assert!(
        error.contains(&format!("line {last_table}"))
            || error.contains(&format!("line {}", last_table + 2)),
        "the error should name the line: {error}"
    );
    std::fs::write(&path, &text).unwrap();
    assert!(login(&users, "frank", "frank-pw", HERE).await.is_ok());

    // Every kind of bad value names its line.
    for (bad, line) in [
        (
            "[[user]]\nname = \"a\"\npassword = \"plain\"\nhome = \"/\"\npermissions = []\n",
            1,
        ),
        (
            "\n[[user]]\nname = \"a\"\npassword = \"$HASH\"\nhome = \"rel\"\npermissions = []\n",
            2,
        ),
        (
            "[[user]]\nname = \"a\"\npassword = \"$HASH\"\nhome = \"/\"\npermissions = [\"rm\"]\n",
            1,
        ),
        (
            "[[user]]\nname = \"a\"\npassword = \"$HASH\"\nhome = \"/\"\npermissions = []\nallow_from = [\"10.0.0.1/8\"]\n",
            1,
        ),
        (
            "[[user]]\nname = \"a\"\npassword = \"$HASH\"\nhome = \"/\"\npermissions = []\n\n[[user]]\nname = \"a\"\npassword = \"$HASH\"\nhome = \"/\"\npermissions = []\n",
            7,
        ),
        (
            "[[user]]\nname = \"a\"\n\npassword = \"$HASH\"\nhome = \"/\"\npermissions = []\nquota = -1\n",
            7,
        ),
        ("[[user]\n", 1),
    ] {
        let hash = HashedPassword::hash(b"x").unwrap();
        let bad = bad.replace("$HASH", hash.as_str());
        std::fs::write(&path, &bad).unwrap();
        let error = FileStore::open(&path).await.unwrap_err().to_string();
        assert!(error.contains(&format!("line {line}")), "{bad}\n=> {error}");
    }
}

/// A users file that disappears while the server runs is a store failure (421 for everyone),
/// not an empty user list (530 for everyone, counted as failed logins); back in place, logins
/// work again.
#[tokio::test]
async fn a_users_file_removed_while_serving_gives_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("users.toml");
    let setup = FileStore::open_or_create(&path).await.unwrap();
    setup.add(user("gina", "gina-pw", "/gina")).await.unwrap();
    let users = VirtualUsers::new(FileStore::open(&path).await.unwrap());
    assert!(
        login(&users, "gina", "gina-pw", "127.0.0.1:1")
            .await
            .is_ok()
    );
    let moved = dir.path().join("users.toml.bak");
    std::fs::rename(&path, &moved).unwrap();
    assert_eq!(
        login(&users, "gina", "gina-pw", "127.0.0.1:1")
            .await
            .unwrap_err(),
        AuthError::Unavailable
    );
    std::fs::rename(&moved, &path).unwrap();
    assert!(
        login(&users, "gina", "gina-pw", "127.0.0.1:1")
            .await
            .is_ok()
    );
}

#[cfg(feature = "sqlite")]
mod sql {
    use super::*;
    use ftp_server_tokio::auth::SqlStore;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("users.db");
        let url = format!("sqlite://{}?mode=rwc", db.display());
        let store = SqlStore::connect(&url).await.unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&db).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "the database holds password hashes");
        }
        exercise(store, "").await;
        // Migrations are idempotent: opening again finds the schema and the data.
        let again = SqlStore::connect(&url).await.unwrap();
        again.add(user("zed", "pw", "/")).await.unwrap();
        let third = SqlStore::connect(&url).await.unwrap();
        assert!(third.find("zed").await.unwrap().is_some());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_schema_from_the_future_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("u.db").display());
        drop(SqlStore::connect(&url).await.unwrap());
        let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
        sqlx::query("INSERT INTO ftp_schema_version (version) VALUES (99)")
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
        let error = SqlStore::connect(&url).await.unwrap_err().to_string();
        assert!(error.contains("99"), "{error}");
    }

    /// A database that is not there yet answers 421 (not 530), and the store does not keep
    /// that failure: once the database is reachable, the next login works.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn unreachable_then_back() {
        let dir = tempfile::tempdir().unwrap();
        let missing_dir = dir.path().join("not-yet");
        let url = format!(
            "sqlite://{}?mode=rwc",
            missing_dir.join("users.db").display()
        );
        let store = SqlStore::connect_lazy(&url).unwrap();
        let users = VirtualUsers::new(store.clone());
        let before = users.verifications();
        assert_eq!(
            login(&users, "henry", "pw", HERE).await,
            Err(AuthError::Unavailable)
        );
        assert_eq!(
            users.verifications(),
            before,
            "no hash work when the store failed"
        );
        assert!(
            SqlStore::connect(&url).await.is_err(),
            "connect reports it at once"
        );

        std::fs::create_dir(&missing_dir).unwrap();
        let writer = SqlStore::connect(&url).await.unwrap();
        writer.add(user("henry", "pw", "/henry")).await.unwrap();
        let principal = login(&users, "henry", "pw", HERE).await.unwrap();
        assert_eq!(principal.home.to_string(), "/henry");
    }

    #[cfg(feature = "postgres")]
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn dead_database_answers_unavailable_quickly() {
        use ftp_server_tokio::auth::SQL_ACQUIRE_TIMEOUT;
        use std::time::{Duration, Instant};
        // Port 1: nothing listens, the connection is refused.
        let started = Instant::now();
        assert!(
            SqlStore::connect("postgres://ftp:pw@127.0.0.1:1/x")
                .await
                .is_err()
        );
        let store = SqlStore::connect_lazy("postgres://ftp:secret-pw@127.0.0.1:1/x").unwrap();
        assert!(
            !store.describe().contains("secret-pw"),
            "{}",
            store.describe()
        );
        let users = VirtualUsers::new(store);
        assert_eq!(
            login(&users, "ivy", "pw", HERE).await,
            Err(AuthError::Unavailable)
        );
        assert!(
            started.elapsed() < 2 * SQL_ACQUIRE_TIMEOUT + Duration::from_secs(2),
            "took {:?}",
            started.elapsed()
        );
    }

    #[cfg(feature = "mysql")]
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn mysql() {
        let Some(url) = database_url("FTP_TEST_MYSQL_URL") else {
            return;
        };
        let store = SqlStore::connect(&url).await.unwrap();
        let again = SqlStore::connect(&url).await.unwrap();
        exercise(again, &unique_prefix()).await;
        drop(store);
    }

    #[cfg(feature = "postgres")]
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        let Some(url) = database_url("FTP_TEST_POSTGRES_URL") else {
            return;
        };
        let store = SqlStore::connect(&url).await.unwrap();
        let again = SqlStore::connect(&url).await.unwrap();
        exercise(again, &unique_prefix()).await;
        drop(store);
    }

    #[tokio::test]
    async fn unknown_scheme_is_a_clear_error() {
        let error = SqlStore::connect("oracle://db/x")
            .await
            .unwrap_err()
            .to_string();
        assert!(error.contains("unsupported database"), "{error}");
    }
}

#[cfg(not(feature = "sqlite"))]
#[test]
fn sqlite_feature_off() {
    loud("SKIPPED: the sqlite feature is off, so the SQL store tests did not run");
}
