//! Database servers for the virtual-user tests (issue 7): the shared ones that
//! `scripts/databases.sh` starts, and private ones that a test starts, stops and starts again.
//!
//! Use it from a test file with `mod support_db;`.
//!
//! - [`mysql_url`] / [`postgres_url`]: the shared servers' URLs, from `FTP_TEST_MYSQL_URL` and
//!   `FTP_TEST_POSTGRES_URL` (written to `.tools/databases/env` by `scripts/databases.sh`,
//!   which `scripts/test.sh` sources). Unset: `SKIPPED` loudly and `None`; under `CI` a panic.
//! - [`fresh_database`]: a new, empty database on such a server (named `ftprs_test_TAG`, dropped
//!   first if it exists), so that tests running in parallel do not share tables.
//! - [`psql`] / [`mariadb`]: run SQL through the command-line clients, with a deadline.
//! - [`PrivatePostgres`] and [`PrivateMariaDb`]: a server of the test's own, in a temporary
//!   directory, on a free port of 127.0.0.1, a child process of the test (stopped by its PID,
//!   at the latest when dropped). For the tests that stop the database while the FTP server
//!   runs. Their binaries come from `FTP_TEST_PG_BINDIR`, `FTP_TEST_MARIADB_BIN` and
//!   `FTP_TEST_MARIADB_INSTALL_DB` (same env file).
//!
//! As root, the servers run as the users Debian's packages create (`postgres`, `mysql`): the
//! temporary directory is given to that user. Every wait is bounded.
#![allow(dead_code)]

use std::fs::{self, File};
use std::io::Read;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Keep in step with `scripts/databases.sh`.
pub(crate) const DB_NAME: &str = "ftprs_test";
/// The test user's name on every server (shared and private).
pub(crate) const DB_USER: &str = "ftprs_test";
/// The test user's password on every server (shared and private).
pub(crate) const DB_PASSWORD: &str = "ftprs-test-db-password";

/// How long a server may take to start or stop, and a client to answer.
const SERVER_WAIT: Duration = Duration::from_secs(60);
const CLIENT_WAIT: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------------------------
// The skip rule.

#[path = "../../../test-support/process.rs"]
mod process;
pub(crate) use process::{loud, skip};

fn env_or_skip(name: &str, what: &str) -> Option<String> {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => Some(v),
        _ => {
            skip(&format!(
                "{name} is not set ({what}; run `bash scripts/databases.sh` and \
                 `source .tools/databases/env`)"
            ));
            None
        }
    }
}

/// The shared MariaDB's URL (`mysql://ftprs_test:PASSWORD@127.0.0.1:PORT/ftprs_test`).
pub(crate) fn mysql_url() -> Option<String> {
    env_or_skip("FTP_TEST_MYSQL_URL", "no MariaDB server to test against")
}

/// The shared PostgreSQL's URL (`postgres://ftprs_test:PASSWORD@127.0.0.1:PORT/ftprs_test`).
pub(crate) fn postgres_url() -> Option<String> {
    env_or_skip(
        "FTP_TEST_POSTGRES_URL",
        "no PostgreSQL server to test against",
    )
}

// ---------------------------------------------------------------------------------------------
// Clients.

/// What a program printed, or why it failed (its output included).
pub(crate) type Outcome = Result<String, String>;

/// Runs `cmd` with a deadline (killed by PID past it); `Ok(stdout)` when it exited with 0.
pub(crate) fn run(mut cmd: Command, deadline: Duration) -> Outcome {
    let shown = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{shown}: cannot start: {e}"))?;
    let drain = |mut r: Box<dyn Read + Send>| {
        thread::spawn(move || {
            let mut s = String::new();
            let _ = r.read_to_string(&mut s);
            s
        })
    };
    let out = drain(Box::new(child.stdout.take().expect("piped")));
    let err = drain(Box::new(child.stderr.take().expect("piped")));
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if start.elapsed() < deadline => thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    let out = out.join().unwrap_or_default();
    let err = err.join().unwrap_or_default();
    match status {
        Some(s) if s.success() => Ok(out),
        Some(s) => Err(format!("{shown}: {s}\nstdout: {out}\nstderr: {err}")),
        None => Err(format!(
            "{shown}: still running after {deadline:?}, killed\nstderr: {err}"
        )),
    }
}

fn pg_tool(name: &str) -> PathBuf {
    match std::env::var_os("FTP_TEST_PG_BINDIR") {
        Some(dir) if Path::new(&dir).join(name).exists() => Path::new(&dir).join(name),
        _ => PathBuf::from(name),
    }
}

/// Runs `sql` through `psql` against a `postgres://` URL; `Ok` holds the rows, unaligned,
/// tuples only (`SELECT 1` gives `"1\n"`).
pub(crate) fn psql(url: &str, sql: &str) -> Outcome {
    let mut cmd = Command::new(pg_tool("psql"));
    cmd.env("PGCONNECT_TIMEOUT", "5").args([
        "-X",
        "-q",
        "-A",
        "-t",
        "-v",
        "ON_ERROR_STOP=1",
        "-d",
        url,
        "-c",
        sql,
    ]);
    run(cmd, CLIENT_WAIT)
}

/// The parts of a `mysql://USER:PASSWORD@HOST:PORT/DB` URL (no percent-escapes expected).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MysqlUrl {
    pub(crate) user: String,
    pub(crate) password: String,
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) database: String,
}

impl MysqlUrl {
    pub(crate) fn parse(url: &str) -> Option<Self> {
        let rest = url
            .strip_prefix("mysql://")
            .or_else(|| url.strip_prefix("mariadb://"))?;
        let (auth, rest) = rest.split_once('@')?;
        let (user, password) = auth.split_once(':').unwrap_or((auth, ""));
        let (hostport, database) = rest.split_once('/').unwrap_or((rest, ""));
        let database = database.split('?').next().unwrap_or("");
        let (host, port) = hostport.rsplit_once(':').unwrap_or((hostport, "3306"));
        Some(Self {
            user: user.to_owned(),
            password: password.to_owned(),
            host: host.to_owned(),
            port: port.parse().ok()?,
            database: database.to_owned(),
        })
    }
}

fn mariadb_client() -> PathBuf {
    for name in ["mariadb", "mysql"] {
        for dir in ["/usr/bin", "/usr/local/bin", "/bin"] {
            let p = Path::new(dir).join(name);
            if p.exists() {
                return p;
            }
        }
    }
    PathBuf::from("mariadb")
}

/// Runs `sql` through the `mariadb` client against a `mysql://` URL, over TCP; `Ok` holds the
/// rows, tab-separated, without column names.
pub(crate) fn mariadb(url: &str, sql: &str) -> Outcome {
    let u = MysqlUrl::parse(url).ok_or_else(|| format!("not a mysql:// URL: {url}"))?;
    let mut cmd = Command::new(mariadb_client());
    cmd.env("MYSQL_PWD", &u.password).args([
        "--no-defaults",
        "--connect-timeout=5",
        "--protocol=TCP",
        "-N",
        "-B",
        "-h",
        &u.host,
        "-P",
        &u.port.to_string(),
        "-u",
        &u.user,
        "-e",
        sql,
    ]);
    if !u.database.is_empty() {
        cmd.arg(&u.database);
    }
    run(cmd, CLIENT_WAIT)
}

/// A fresh, empty database `ftprs_test_TAG` on the server of `url` (`mysql://` or
/// `postgres://`), dropped first if an earlier run left it; returns its URL. `tag`: lower-case
/// letters, digits and `_`, unique among the tests.
pub(crate) fn fresh_database(url: &str, tag: &str) -> String {
    assert!(
        tag.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
        "database tag {tag:?}: lower-case letters, digits and _ only"
    );
    let name = format!("{DB_NAME}_{tag}");
    let (base, _) = url.rsplit_once('/').expect("URL with a database");
    let new_url = format!("{base}/{name}");
    if url.starts_with("postgres") {
        psql(url, &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).unwrap();
        psql(url, &format!("CREATE DATABASE {name}")).unwrap();
    } else {
        mariadb(
            url,
            &format!("DROP DATABASE IF EXISTS {name}; CREATE DATABASE {name}"),
        )
        .unwrap();
    }
    new_url
}

// ---------------------------------------------------------------------------------------------
// Processes and users.

fn is_root() -> bool {
    fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|l| l.split_whitespace().nth(1)) // effective uid
            == Some("0")
    })
}

/// uid and gid of a system user, from /etc/passwd.
fn system_user(name: &str) -> Option<(u32, u32)> {
    let passwd = fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        (f.len() > 3 && f[0] == name).then(|| Some((f[2].parse().ok()?, f[3].parse().ok()?)))?
    })
}

/// The user the server runs as: `Some((uid, gid))` of `name` when root (servers refuse root),
/// `None` (the test's own user) otherwise. `Err` when root and the user does not exist.
fn server_user(name: &str) -> Result<Option<(u32, u32)>, String> {
    if !is_root() {
        return Ok(None);
    }
    system_user(name).map(Some).ok_or_else(|| {
        format!("no system user {name} (its package creates it: run `bash scripts/databases.sh`)")
    })
}

fn as_user(cmd: &mut Command, user: Option<(u32, u32)>) -> &mut Command {
    if let Some((uid, gid)) = user {
        // std sets the gid, drops supplementary groups and sets the uid before exec.
        cmd.uid(uid).gid(gid);
    }
    cmd
}

/// A temporary directory that the server user owns (mode 0700, as PostgreSQL demands).
fn server_dir(user: Option<(u32, u32)>) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("ftprs-db-")
        .tempdir()
        .expect("tempdir");
    if let Some((uid, gid)) = user {
        std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).expect("chown tempdir");
    }
    dir
}

/// A port of 127.0.0.1 nobody listens on, below the ephemeral range (32768-60999) so that an
/// outgoing connection does not take it while a server is stopped and started again.
fn free_port() -> u16 {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos())
        ^ std::process::id().wrapping_mul(2_654_435_761)
        ^ COUNTER.fetch_add(1, Ordering::Relaxed).wrapping_mul(40_503);
    for i in 0..500u32 {
        let port = 20_000 + (seed.wrapping_add(i.wrapping_mul(7_919)) % 12_000) as u16;
        // The shared servers' default ports are left alone.
        if port == 23_306 || port == 25_432 {
            continue;
        }
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn log_tail(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

fn pid_running(pid: u32) -> bool {
    // Gone, or a zombie nobody reaped yet.
    fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z'))
    })
}

/// A server process that is a child of the test: stopped by its PID with `signal`, waited for
/// (bounded), SIGKILL past the deadline.
#[derive(Debug)]
struct ServerChild {
    label: &'static str,
    child: Option<Child>,
}

impl ServerChild {
    fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the child has exited (reaped if so).
    fn exited(&mut self) -> bool {
        match &mut self.child {
            Some(c) => !matches!(c.try_wait(), Ok(None)),
            None => true,
        }
    }

    fn stop(&mut self, signal: &str) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let pid = child.id();
        if matches!(child.try_wait(), Ok(None)) {
            let _ = Command::new("kill")
                .args([&format!("-{signal}"), &pid.to_string()])
                .stderr(Stdio::null())
                .status();
            let start = Instant::now();
            while matches!(child.try_wait(), Ok(None)) {
                if start.elapsed() > SERVER_WAIT {
                    loud(&format!(
                        "{} (PID {pid}) still running after {SERVER_WAIT:?}: SIGKILL",
                        self.label
                    ));
                    let _ = child.kill();
                    break;
                }
                thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = child.wait();
    }
}

/// Polls `ready` every 50 ms until it holds, the server exits, or [`SERVER_WAIT`] passes.
fn wait_ready(server: &mut ServerChild, log: &Path, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    loop {
        if ready() {
            return;
        }
        if server.exited() {
            panic!(
                "{} exited while starting; its log:\n{}",
                server.label,
                log_tail(log)
            );
        }
        if start.elapsed() > SERVER_WAIT {
            server.stop("KILL");
            panic!(
                "{} did not accept connections within {SERVER_WAIT:?}; its log:\n{}",
                server.label,
                log_tail(log)
            );
        }
        thread::sleep(Duration::from_millis(50));
    }
}

fn missing_binary(var: &str, paths: &[&Path]) -> Option<String> {
    paths
        .iter()
        .find(|p| !p.exists())
        .map(|p| format!("{} not found (from {var})", p.display()))
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL.

/// A PostgreSQL server of the test's own: `initdb` into a temporary directory, `postgres` on a
/// free port of 127.0.0.1 (Unix socket in the same directory, for the setup), with the role
/// [`DB_USER`] / [`DB_PASSWORD`] (CREATEDB) owning the database [`DB_NAME`].
///
/// ```ignore
/// let Some(mut pg) = PrivatePostgres::start() else { return }; // SKIPPED (panics under CI)
/// let url = pg.url();        // postgres://ftprs_test:...@127.0.0.1:PORT/ftprs_test
/// pg.stop();                 // fast shutdown (SIGINT) by PID: connections are cut
/// pg.start_again();          // same data, same port
/// drop(pg);                  // stopped by PID, directory removed
/// ```
#[derive(Debug)]
pub(crate) struct PrivatePostgres {
    server: ServerChild,
    bindir: PathBuf,
    user: Option<(u32, u32)>,
    port: u16,
    log: PathBuf,
    // Last: removed after the server has stopped (Drop stops it first).
    dir: tempfile::TempDir,
}

impl PrivatePostgres {
    /// Starts one; `None` (after a loud `SKIPPED`) when `FTP_TEST_PG_BINDIR` is unset or its
    /// binaries are missing; panics under `CI` then, and whenever the server fails to start.
    pub(crate) fn start() -> Option<Self> {
        let bindir = PathBuf::from(env_or_skip(
            "FTP_TEST_PG_BINDIR",
            "cannot start a private PostgreSQL",
        )?);
        let tools: Vec<PathBuf> = ["initdb", "postgres", "pg_isready", "psql"]
            .iter()
            .map(|t| bindir.join(t))
            .collect();
        let refs: Vec<&Path> = tools.iter().map(PathBuf::as_path).collect();
        if let Some(what) = missing_binary("FTP_TEST_PG_BINDIR", &refs) {
            skip(&what);
            return None;
        }
        let user = match server_user("postgres") {
            Ok(u) => u,
            Err(what) => {
                skip(&what);
                return None;
            }
        };
        let dir = server_dir(user);
        let data = dir.path().join("data");
        let log = dir.path().join("server.log");
        let initdb_out = {
            let mut cmd = Command::new(bindir.join("initdb"));
            cmd.current_dir(dir.path()).args(["-D"]).arg(&data).args([
                "-U",
                "postgres",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            ]);
            as_user(&mut cmd, user);
            run(cmd, SERVER_WAIT)
        };
        if let Err(e) = initdb_out {
            panic!("initdb failed: {e}");
        }
        let mut pg = Self {
            server: ServerChild {
                label: "private PostgreSQL",
                child: None,
            },
            bindir,
            user,
            port: free_port(),
            log,
            dir,
        };
        pg.spawn();
        let admin = pg.admin_url();
        psql(
            &admin,
            &format!("CREATE ROLE {DB_USER} LOGIN CREATEDB PASSWORD '{DB_PASSWORD}'"),
        )
        .unwrap();
        psql(
            &admin,
            &format!("CREATE DATABASE {DB_NAME} OWNER {DB_USER}"),
        )
        .unwrap();
        Some(pg)
    }

    /// Runs `postgres` and waits until it accepts connections on 127.0.0.1.
    fn spawn(&mut self) {
        assert!(self.server.child.is_none(), "already running");
        let log = File::options()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("log file");
        let mut cmd = Command::new(self.bindir.join("postgres"));
        cmd.current_dir(self.dir.path())
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-p", &self.port.to_string(), "-k"])
            .arg(self.dir.path())
            .args([
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
                "-c",
                "max_connections=200",
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log);
        as_user(&mut cmd, self.user);
        self.server.child = Some(cmd.spawn().expect("spawn postgres"));
        let (isready, port) = (self.bindir.join("pg_isready"), self.port.to_string());
        wait_ready(&mut self.server, &self.log, || {
            Command::new(&isready)
                .args(["-q", "-h", "127.0.0.1", "-p", &port, "-t", "2"])
                .status()
                .is_ok_and(|s| s.success())
        });
    }

    /// `postgres://ftprs_test:PASSWORD@127.0.0.1:PORT/ftprs_test`.
    pub(crate) fn url(&self) -> String {
        format!(
            "postgres://{DB_USER}:{DB_PASSWORD}@127.0.0.1:{}/{DB_NAME}",
            self.port
        )
    }

    /// The superuser `postgres` through the Unix socket (trusted), for setup.
    pub(crate) fn admin_url(&self) -> String {
        format!(
            "postgresql://postgres@/postgres?host={}&port={}",
            self.dir.path().display(),
            self.port
        )
    }

    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// The postmaster's PID while it runs.
    pub(crate) fn pid(&self) -> Option<u32> {
        self.server.pid()
    }

    pub(crate) fn is_running(&mut self) -> bool {
        !self.server.exited()
    }

    /// Fast shutdown (SIGINT by PID: open connections are cut, transactions rolled back), waits
    /// until the process is gone (bounded; SIGKILL past it). No-op when stopped.
    pub(crate) fn stop(&mut self) {
        self.server.stop("INT");
    }

    /// Starts the stopped server again: same data directory, same port.
    pub(crate) fn start_again(&mut self) {
        self.spawn();
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        self.server.stop("INT");
    }
}

// ---------------------------------------------------------------------------------------------
// MariaDB.

/// A MariaDB server of the test's own, like [`PrivatePostgres`]: `mariadb-install-db` into a
/// temporary directory, `mariadbd` on a free port of 127.0.0.1 (Unix socket in the directory,
/// through which root sets up) with the user [`DB_USER`] / [`DB_PASSWORD`] owning
/// [`DB_NAME`] and every `ftprs_test_*` database.
#[derive(Debug)]
pub(crate) struct PrivateMariaDb {
    server: ServerChild,
    bin: PathBuf,
    /// `Some("mysql")` as root (mariadbd switches to it itself), else the test's own user.
    os_user: String,
    port: u16,
    log: PathBuf,
    dir: tempfile::TempDir,
}

impl PrivateMariaDb {
    /// Starts one; `None` (after a loud `SKIPPED`) when `FTP_TEST_MARIADB_BIN` or
    /// `FTP_TEST_MARIADB_INSTALL_DB` is unset or missing; panics under `CI` then, and whenever
    /// the server fails to start.
    pub(crate) fn start() -> Option<Self> {
        let bin = PathBuf::from(env_or_skip(
            "FTP_TEST_MARIADB_BIN",
            "cannot start a private MariaDB",
        )?);
        let install_db = PathBuf::from(env_or_skip(
            "FTP_TEST_MARIADB_INSTALL_DB",
            "cannot start a private MariaDB",
        )?);
        if let Some(what) = missing_binary("FTP_TEST_MARIADB_*", &[&bin, &install_db]) {
            skip(&what);
            return None;
        }
        let user = match server_user("mysql") {
            Ok(u) => u,
            Err(what) => {
                skip(&what);
                return None;
            }
        };
        let os_user = if user.is_some() {
            "mysql".to_owned()
        } else {
            let mut id = Command::new("id");
            id.arg("-un");
            run(id, CLIENT_WAIT)
                .map(|s| s.trim().to_owned())
                .expect("id -un")
        };
        let dir = server_dir(user);
        let data = dir.path().join("data");
        let mut cmd = Command::new(&install_db);
        cmd.current_dir(dir.path())
            .args(["--no-defaults", &format!("--user={os_user}")])
            .arg(format!("--datadir={}", data.display()))
            .args(["--auth-root-authentication-method=socket", "--skip-test-db"]);
        if let Err(e) = run(cmd, SERVER_WAIT) {
            panic!("mariadb-install-db failed: {e}");
        }
        let mut db = Self {
            server: ServerChild {
                label: "private MariaDB",
                child: None,
            },
            bin,
            os_user,
            port: free_port(),
            log: dir.path().join("error.log"),
            dir,
        };
        db.spawn();
        db.admin(&format!(
            "CREATE DATABASE {DB_NAME}; \
             CREATE USER '{DB_USER}'@'%' IDENTIFIED BY '{DB_PASSWORD}'; \
             GRANT ALL PRIVILEGES ON `{DB_NAME}`.* TO '{DB_USER}'@'%'; \
             GRANT ALL PRIVILEGES ON `ftprs\\_test\\_%`.* TO '{DB_USER}'@'%';"
        ))
        .unwrap();
        Some(db)
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("mariadbd.sock")
    }

    /// Runs SQL as the administrator (root, or the test's user) through the Unix socket.
    pub(crate) fn admin(&self, sql: &str) -> Outcome {
        let admin = if is_root() {
            "root"
        } else {
            self.os_user.as_str()
        };
        let mut cmd = Command::new(mariadb_client());
        cmd.args([
            "--no-defaults",
            "--connect-timeout=5",
            "-N",
            "-B",
            "-u",
            admin,
        ])
        .arg(format!("--socket={}", self.socket().display()))
        .args(["-e", sql]);
        run(cmd, CLIENT_WAIT)
    }

    fn spawn(&mut self) {
        assert!(self.server.child.is_none(), "already running");
        let out = File::options()
            .create(true)
            .append(true)
            .open(self.dir.path().join("stdout.log"))
            .expect("log file");
        let mut cmd = Command::new(&self.bin);
        cmd.current_dir(self.dir.path())
            .args(["--no-defaults", &format!("--user={}", self.os_user)])
            .arg(format!(
                "--datadir={}",
                self.dir.path().join("data").display()
            ))
            .arg(format!("--port={}", self.port))
            .arg("--bind-address=127.0.0.1")
            .arg(format!("--socket={}", self.socket().display()))
            .arg(format!(
                "--pid-file={}",
                self.dir.path().join("mariadbd.pid").display()
            ))
            .arg(format!("--log-error={}", self.log.display()))
            .args([
                "--skip-name-resolve",
                "--innodb-buffer-pool-size=32M",
                "--innodb-flush-log-at-trx-commit=0",
                "--max-connections=200",
            ])
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log file"))
            .stderr(out);
        // As root, mariadbd drops to --user itself (after binding), so it is started as root.
        self.server.child = Some(cmd.spawn().expect("spawn mariadbd"));
        // The administrator through the socket: the test user does not exist before the setup.
        let (socket, os_user) = (self.socket(), self.os_user.clone());
        wait_ready(&mut self.server, &self.log, || {
            self_admin_ping(&socket, &os_user)
        });
    }

    /// `mysql://ftprs_test:PASSWORD@127.0.0.1:PORT/ftprs_test`.
    pub(crate) fn url(&self) -> String {
        format!(
            "mysql://{DB_USER}:{DB_PASSWORD}@127.0.0.1:{}/{DB_NAME}",
            self.port
        )
    }

    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// mariadbd's PID while it runs.
    pub(crate) fn pid(&self) -> Option<u32> {
        self.server.pid()
    }

    pub(crate) fn is_running(&mut self) -> bool {
        !self.server.exited()
    }

    /// Normal shutdown (SIGTERM by PID: connections are closed), waits until the process is
    /// gone (bounded; SIGKILL past it). No-op when stopped.
    pub(crate) fn stop(&mut self) {
        self.server.stop("TERM");
    }

    /// Starts the stopped server again: same data directory, same port.
    pub(crate) fn start_again(&mut self) {
        self.spawn();
    }
}

fn self_admin_ping(socket: &Path, os_user: &str) -> bool {
    let admin = if is_root() { "root" } else { os_user };
    let mut cmd = Command::new(mariadb_client());
    cmd.args([
        "--no-defaults",
        "--connect-timeout=2",
        "-N",
        "-B",
        "-u",
        admin,
    ])
    .arg(format!("--socket={}", socket.display()))
    .args(["-e", "SELECT 1"]);
    run(cmd, Duration::from_secs(5)).is_ok()
}

impl Drop for PrivateMariaDb {
    fn drop(&mut self) {
        self.server.stop("TERM");
    }
}

/// Whether a process with this PID exists and is not a zombie.
pub(crate) fn process_alive(pid: u32) -> bool {
    pid_running(pid)
}
