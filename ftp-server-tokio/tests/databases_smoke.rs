//! The database test infrastructure works, without the SQL user store: the shared servers of
//! `scripts/databases.sh` answer through their URLs, and a private server can be stopped,
//! started again and dropped (its process gone). See `support_db`.
//!
//! Without the servers (variables unset) each test says SKIPPED; under `CI` it fails.

mod support_db;

use std::time::Instant;

use support_db::{
    MysqlUrl, PrivateMariaDb, PrivatePostgres, fresh_database, loud, mariadb, process_alive, psql,
};

#[test]
fn shared_postgres_answers() {
    let Some(url) = support_db::postgres_url() else {
        return;
    };
    assert!(
        url.starts_with("postgres://") && url.contains("@127.0.0.1:"),
        "{url}"
    );
    assert_eq!(psql(&url, "SELECT 1").unwrap().trim(), "1");
    // The test user may make databases of its own.
    let fresh = fresh_database(&url, "smoke");
    assert!(fresh.ends_with("/ftprs_test_smoke"), "{fresh}");
    psql(&fresh, "CREATE TABLE t (x int); INSERT INTO t VALUES (7)").unwrap();
    assert_eq!(psql(&fresh, "SELECT x FROM t").unwrap().trim(), "7");
    // Dropped and made again: empty.
    let fresh = fresh_database(&url, "smoke");
    assert!(psql(&fresh, "SELECT x FROM t").is_err());
}

#[test]
fn shared_mariadb_answers() {
    let Some(url) = support_db::mysql_url() else {
        return;
    };
    assert!(
        url.starts_with("mysql://") && url.contains("@127.0.0.1:"),
        "{url}"
    );
    assert_eq!(mariadb(&url, "SELECT 1").unwrap().trim(), "1");
    let fresh = fresh_database(&url, "smoke");
    assert!(fresh.ends_with("/ftprs_test_smoke"), "{fresh}");
    mariadb(&fresh, "CREATE TABLE t (x int); INSERT INTO t VALUES (7)").unwrap();
    assert_eq!(mariadb(&fresh, "SELECT x FROM t").unwrap().trim(), "7");
    let fresh = fresh_database(&url, "smoke");
    assert!(mariadb(&fresh, "SELECT x FROM t").is_err());
}

#[test]
fn mysql_url_parts() {
    let u = MysqlUrl::parse("mysql://u:p-w@127.0.0.1:23306/db?ssl-mode=disabled").unwrap();
    assert_eq!(
        (
            u.user.as_str(),
            u.password.as_str(),
            u.host.as_str(),
            u.port,
            u.database.as_str()
        ),
        ("u", "p-w", "127.0.0.1", 23306, "db")
    );
    assert!(MysqlUrl::parse("postgres://u:p@h:1/d").is_none());
}

#[test]
fn private_postgres_stops_starts_again_and_drops() {
    let t = Instant::now();
    let Some(mut pg) = PrivatePostgres::start() else {
        return;
    };
    let started = t.elapsed();
    let url = pg.url();
    assert!(
        url.starts_with("postgres://ftprs_test:") && url.contains("@127.0.0.1:"),
        "{url}"
    );
    assert_eq!(psql(&url, "SELECT 1").unwrap().trim(), "1");
    psql(
        &url,
        "CREATE TABLE kept (x int); INSERT INTO kept VALUES (42)",
    )
    .unwrap();
    let first_pid = pg.pid().unwrap();
    assert!(process_alive(first_pid));

    let t = Instant::now();
    pg.stop();
    let stopped = t.elapsed();
    assert!(
        !process_alive(first_pid),
        "postgres {first_pid} still there after stop"
    );
    assert!(pg.pid().is_none());
    assert!(
        psql(&url, "SELECT 1").is_err(),
        "connection works while stopped"
    );
    pg.stop(); // a second stop is a no-op

    let t = Instant::now();
    pg.start_again();
    let restarted = t.elapsed();
    assert_eq!(pg.url(), url, "same port after start_again");
    assert_eq!(
        psql(&url, "SELECT x FROM kept").unwrap().trim(),
        "42",
        "data kept"
    );
    let pid = pg.pid().unwrap();
    assert!(pg.is_running());

    drop(pg);
    assert!(!process_alive(pid), "postgres {pid} still there after drop");
    assert!(psql(&url, "SELECT 1").is_err());
    loud(&format!(
        "private PostgreSQL: initdb+start+setup {started:?}, stop {stopped:?}, start again {restarted:?}"
    ));
}

#[test]
fn private_mariadb_stops_starts_again_and_drops() {
    let t = Instant::now();
    let Some(mut db) = PrivateMariaDb::start() else {
        return;
    };
    let started = t.elapsed();
    let url = db.url();
    assert!(
        url.starts_with("mysql://ftprs_test:") && url.contains("@127.0.0.1:"),
        "{url}"
    );
    assert_eq!(mariadb(&url, "SELECT 1").unwrap().trim(), "1");
    mariadb(
        &url,
        "CREATE TABLE kept (x int); INSERT INTO kept VALUES (42)",
    )
    .unwrap();
    let first_pid = db.pid().unwrap();

    let t = Instant::now();
    db.stop();
    let stopped = t.elapsed();
    assert!(
        !process_alive(first_pid),
        "mariadbd {first_pid} still there after stop"
    );
    assert!(
        mariadb(&url, "SELECT 1").is_err(),
        "connection works while stopped"
    );

    let t = Instant::now();
    db.start_again();
    let restarted = t.elapsed();
    assert_eq!(
        mariadb(&url, "SELECT x FROM kept").unwrap().trim(),
        "42",
        "data kept"
    );
    let pid = db.pid().unwrap();

    drop(db);
    assert!(!process_alive(pid), "mariadbd {pid} still there after drop");
    assert!(mariadb(&url, "SELECT 1").is_err());
    loud(&format!(
        "private MariaDB: install-db+start+setup {started:?}, stop {stopped:?}, start again {restarted:?}"
    ));
}
