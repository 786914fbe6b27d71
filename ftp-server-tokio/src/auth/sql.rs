//! Virtual users in an SQL database through sqlx: SQLite (embedded), MySQL/MariaDB, PostgreSQL.
//!
//! Owns [`SqlStore`]: choosing the driver from the URL, the connection pool (bounded acquire
//! timeout, reconnection after an outage, reopening a replaced SQLite file), the schema and
//! its migration runner, and the queries. It does not verify passwords (see
//! [`VirtualUsers`](super::VirtualUsers)). SQL strings are built at run time (no sqlx macros,
//! no database at build time); values are always bound, never spliced into the text.

use std::borrow::Cow;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::Row;
#[cfg(feature = "mysql")]
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};
#[cfg(feature = "postgres")]
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
#[cfg(feature = "sqlite")]
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use tokio::sync::{Mutex, OnceCell};

use super::virtual_users::{StoreError, UserStore, VirtualUser, check_user_name, parse_home};
use super::{HashedPassword, IpNetwork, Permissions};

/// How long getting a database connection may take before a lookup fails (and the login
/// answers 421): a database that is down answers quickly.
pub const SQL_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// Most connections a store keeps open.
pub const SQL_MAX_CONNECTIONS: u32 = 8;

/// The schema version this code creates and expects.
pub const SQL_SCHEMA_VERSION: i32 = 1;

/// Virtual users in an SQL database; the URL picks the driver.
///
/// | URL | database | cargo feature |
/// |---|---|---|
/// | `sqlite://PATH`, `sqlite:PATH` | SQLite file; created if missing (mode 0600) only with `?mode=rwc` | `sqlite` |
/// | `mysql://USER:PASSWORD@HOST:PORT/DB` | MySQL or MariaDB | `mysql` |
/// | `postgres://USER:PASSWORD@HOST:PORT/DB` (or `postgresql://`) | PostgreSQL | `postgres` |
///
/// # Schema
///
/// The same on all three databases, created by the store itself on first use (or by
/// [`SqlStore::connect`]): table `ftp_users`, one row per user.
///
/// | column | type | meaning |
/// |---|---|---|
/// | `name` | `VARCHAR(128)` primary key (MySQL: `utf8mb4_bin`, so case-sensitive) | login name |
/// | `password_hash` | `VARCHAR(255)` not null | argon2 PHC string (`$argon2id$v=19$...`) |
/// | `home` | `TEXT` not null | the user's `/`, a directory in the served tree, e.g. `/alice` |
/// | `permissions` | `VARCHAR(64)` not null | comma-separated: `list,read,write,append,delete,rename,mkdir` (empty: none) |
/// | `quota_bytes` | `BIGINT` null | most bytes under `home`; null: no quota |
/// | `max_sessions` | `INTEGER` null | most concurrent sessions; null: server limits only |
/// | `enabled` | `SMALLINT` not null | 1: may log in; 0: disabled |
/// | `allow_from` | `TEXT` not null | space-separated networks (`192.0.2.0/24 2001:db8::/32`); empty: anywhere |
///
/// Table `ftp_schema_version` (`version INTEGER` primary key) holds one row per migration
/// applied. On first use the store creates it, reads the highest version, and applies each
/// newer migration (the SQL for its dialect, then the version row) in one transaction
/// (MySQL commits DDL implicitly, which is why each migration is written to be repeatable).
/// A database with a newer schema than this code knows is refused. A row that does not parse
/// (bad hash, home, permission or network) fails its lookup: the login answers 421 and the log
/// names the user and the column.
///
/// # Outages
///
/// Connections come from a pool with a [`SQL_ACQUIRE_TIMEOUT`] acquire timeout; each is checked
/// before use, so after the database restarts the next lookup opens a fresh connection. A
/// failed connection or migration is never remembered: the next call tries again.
///
/// An SQLite file is checked (one `stat`) before every call: a missing file is
/// [`StoreError::NotFound`] unless the URL says `mode=rwc`; once opened, a file that is gone
/// fails the call ([`StoreError::Io`]: logins answer 421), and a file that was replaced (a
/// backup moved into place) is reopened, because open connections keep reading the old one.
///
/// ```
/// use ftp_server_tokio::auth::{HashedPassword, SqlStore, UserStore, VirtualUser, parse_home};
/// # let dir = tempfile::tempdir()?;
/// # let url = format!("sqlite://{}?mode=rwc", dir.path().join("users.db").display());
/// let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
/// runtime.block_on(async {
///     let store = SqlStore::connect(&url).await?; // e.g. "sqlite:///var/lib/ftpd/users.db?mode=rwc"
///     let carol = VirtualUser::new("carol", HashedPassword::hash(b"pw")?, parse_home("/carol")?)?
///         .with_max_sessions(Some(2));
///     store.add(carol).await?;
///     let found = store.find("carol").await?.expect("carol");
///     assert_eq!(found.max_sessions, Some(2));
///     assert!(store.find("Carol").await?.is_none());
///     Ok::<(), Box<dyn std::error::Error>>(())
/// })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct SqlStore {
    describe: String,
    /// The pool in use; replaced when the SQLite file is.
    current: Arc<Mutex<Current>>,
    /// For an SQLite file: where it is and how to open it again.
    #[cfg(feature = "sqlite")]
    sqlite_file: Option<Arc<SqliteFile>>,
}

#[derive(Debug)]
struct Current {
    pool: SqlPool,
    /// Whether this pool's database has been migrated (a replacement SQLite file is checked
    /// again).
    schema: Arc<OnceCell<()>>,
    /// The SQLite file the pool was first used with.
    #[cfg(feature = "sqlite")]
    opened: Option<FileId>,
}

/// An SQLite database file.
#[cfg(feature = "sqlite")]
#[derive(Debug)]
struct SqliteFile {
    path: std::path::PathBuf,
    /// The URL says `mode=rwc`: a missing file is created at the first call.
    creates: bool,
    options: SqliteConnectOptions,
}

/// Which file a path names: device and inode.
#[cfg(feature = "sqlite")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileId {
    dev: u64,
    ino: u64,
}

#[cfg(feature = "sqlite")]
impl FileId {
    /// The file `path` names now; `None` if there is none.
    fn of(path: &std::path::Path) -> std::io::Result<Option<Self>> {
        match std::fs::metadata(path) {
            #[cfg(unix)]
            Ok(meta) => Ok(Some(Self {
                dev: std::os::unix::fs::MetadataExt::dev(&meta),
                ino: std::os::unix::fs::MetadataExt::ino(&meta),
            })),
            #[cfg(not(unix))]
            Ok(_) => Ok(Some(Self { dev: 0, ino: 0 })),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(err),
        }
    }
}

#[derive(Debug, Clone)]
enum SqlPool {
    #[cfg(feature = "sqlite")]
    Sqlite(SqlitePool),
    #[cfg(feature = "mysql")]
    MySql(MySqlPool),
    #[cfg(feature = "postgres")]
    Postgres(PgPool),
}

/// Runs `$body` with `$p` bound to whichever pool this is (each arm is compiled for its own
/// driver, so the same query code serves all three).
macro_rules! on_pool {
    ($pool:expr, $p:ident => $body:expr) => {
        match $pool {
            #[cfg(feature = "sqlite")]
            SqlPool::Sqlite($p) => $body,
            #[cfg(feature = "mysql")]
            SqlPool::MySql($p) => $body,
            #[cfg(feature = "postgres")]
            SqlPool::Postgres($p) => $body,
        }
    };
}

/// One migration: its version and its statements per dialect.
// A build without one of the drivers never reads that driver's statements.
#[cfg_attr(
    not(all(feature = "sqlite", feature = "mysql", feature = "postgres")),
    allow(dead_code)
)]
struct Migration {
    version: i32,
    sqlite: &'static [&'static str],
    mysql: &'static [&'static str],
    postgres: &'static [&'static str],
}

const SCHEMA_VERSION_TABLE: &str =
    "CREATE TABLE IF NOT EXISTS ftp_schema_version (version INTEGER NOT NULL PRIMARY KEY)";

/// The columns of `ftp_users` after `name`, the same on every database.
macro_rules! user_columns {
    () => {
        "password_hash VARCHAR(255) NOT NULL,
        home TEXT NOT NULL,
        permissions VARCHAR(64) NOT NULL,
        quota_bytes BIGINT NULL,
        max_sessions INTEGER NULL,
        enabled SMALLINT NOT NULL,
        allow_from TEXT NOT NULL"
    };
}

/// `ftp_users` on SQLite and PostgreSQL.
const USERS_TABLE: &str = concat!(
    "CREATE TABLE IF NOT EXISTS ftp_users (
        name VARCHAR(128) NOT NULL PRIMARY KEY,
        ",
    user_columns!(),
    ")"
);

/// `ftp_users` on MySQL/MariaDB: names compare byte for byte (`utf8mb4_bin`).
const USERS_TABLE_MYSQL: &str = concat!(
    "CREATE TABLE IF NOT EXISTS ftp_users (
        name VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL PRIMARY KEY,
        ",
    user_columns!(),
    ") DEFAULT CHARACTER SET utf8mb4"
);

const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    sqlite: &[USERS_TABLE],
    mysql: &[USERS_TABLE_MYSQL],
    postgres: &[USERS_TABLE],
}];

const COLUMNS: &str =
    "name, password_hash, home, permissions, quota_bytes, max_sessions, enabled, allow_from";

/// A row as stored, before validation.
struct RawUser {
    name: String,
    password_hash: String,
    home: String,
    permissions: String,
    quota_bytes: Option<i64>,
    max_sessions: Option<i32>,
    enabled: i16,
    allow_from: String,
}

/// Reads a [`RawUser`] from a row of any driver.
macro_rules! raw_user {
    ($row:expr) => {
        RawUser {
            name: $row.try_get("name")?,
            password_hash: $row.try_get("password_hash")?,
            home: $row.try_get("home")?,
            permissions: $row.try_get("permissions")?,
            quota_bytes: $row.try_get("quota_bytes")?,
            max_sessions: $row.try_get("max_sessions")?,
            enabled: $row.try_get("enabled")?,
            allow_from: $row.try_get("allow_from")?,
        }
    };
}

impl RawUser {
    /// The values in [`COLUMNS`] order.
    fn binds(self) -> Vec<Bound> {
        vec![
            Bound::Text(self.name),
            Bound::Text(self.password_hash),
            Bound::Text(self.home),
            Bound::Text(self.permissions),
            Bound::OptI64(self.quota_bytes),
            Bound::OptI32(self.max_sessions),
            Bound::I16(self.enabled),
            Bound::Text(self.allow_from),
        ]
    }

    fn from_user(user: &VirtualUser) -> Result<Self, StoreError> {
        let quota_bytes = user
            .quota
            .map(i64::try_from)
            .transpose()
            .map_err(|_| StoreError::Invalid(format!("quota above {} bytes", i64::MAX)))?;
        let max_sessions = user
            .max_sessions
            .map(i32::try_from)
            .transpose()
            .map_err(|_| StoreError::Invalid(format!("max sessions above {}", i32::MAX)))?;
        Ok(Self {
            name: user.name.clone(),
            password_hash: user.password.as_str().to_owned(),
            home: user.home.to_string(),
            permissions: user.permissions.names().join(","),
            quota_bytes,
            max_sessions,
            enabled: i16::from(user.enabled),
            allow_from: user
                .allow_from
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" "),
        })
    }

    fn into_user(self) -> Result<VirtualUser, StoreError> {
        let bad = |column: &str, problem: String| {
            StoreError::Malformed(format!(
                "ftp_users row {:?}, column {column}: {problem}",
                self.name
            ))
        };
        check_user_name(&self.name).map_err(|e| bad("name", e.to_string()))?;
        let password: HashedPassword = self
            .password_hash
            .parse()
            .map_err(|e: super::PasswordError| bad("password_hash", e.to_string()))?;
        let home = parse_home(&self.home).map_err(|e| bad("home", e))?;
        let permissions = if self.permissions.trim().is_empty() {
            Permissions::NONE
        } else {
            Permissions::from_names(self.permissions.split(','))
                .map_err(|e| bad("permissions", e.to_string()))?
        };
        let quota = self
            .quota_bytes
            .map(u64::try_from)
            .transpose()
            .map_err(|_| bad("quota_bytes", "negative".into()))?;
        let max_sessions = self
            .max_sessions
            .map(u32::try_from)
            .transpose()
            .map_err(|_| bad("max_sessions", "negative".into()))?;
        let allow_from = self
            .allow_from
            .split_whitespace()
            .map(IpNetwork::from_str)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad("allow_from", e.to_string()))?;
        let user = VirtualUser::new(self.name.clone(), password, home)
            .map_err(|e| bad("name", e.to_string()))?
            .with_permissions(permissions)
            .with_quota(quota)
            .with_max_sessions(max_sessions)
            .with_enabled(self.enabled != 0)
            .with_allow_from(allow_from);
        Ok(user)
    }
}

/// `url` with the password (if any) replaced by `***`, for messages: in the user info
/// (`user:pw@host`) and in a `password=` query parameter, which sqlx also accepts.
fn redact(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let mut out = redact_userinfo(base);
    if let Some(query) = query {
        let params: Vec<String> = query
            .split('&')
            .map(|param| match param.split_once('=') {
                Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
                _ => param.to_owned(),
            })
            .collect();
        out.push('?');
        out.push_str(&params.join("&"));
    }
    out
}

fn redact_userinfo(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or("");
            if userinfo.contains(':') {
                format!("{scheme}://{user}:***@{host}{tail}")
            } else {
                format!("{scheme}://{userinfo}@{host}{tail}")
            }
        }
        None => url.to_owned(),
    }
}

/// The `mode=` of an SQLite URL, if it has one.
#[cfg(feature = "sqlite")]
fn sqlite_mode(url: &str) -> Option<&str> {
    let (_, query) = url.split_once('?')?;
    query
        .split('&')
        .find_map(|param| param.strip_prefix("mode="))
}

#[cfg(feature = "sqlite")]
fn sqlite_pool(options: SqliteConnectOptions) -> SqlPool {
    SqlPool::Sqlite(
        SqlitePoolOptions::new()
            .max_connections(SQL_MAX_CONNECTIONS)
            .acquire_timeout(SQL_ACQUIRE_TIMEOUT)
            .connect_lazy_with(options),
    )
}

impl SqlPool {
    /// `text` in this driver's placeholder style: `?` as written, `$1, $2, ...` for
    /// PostgreSQL.
    fn sql<'a>(&self, text: &'a str) -> Cow<'a, str> {
        match self {
            #[cfg(feature = "postgres")]
            SqlPool::Postgres(_) => {
                let mut out = String::with_capacity(text.len() + 8);
                let mut n = 0;
                for c in text.chars() {
                    if c == '?' {
                        n += 1;
                        out.push('$');
                        out.push_str(&n.to_string());
                    } else {
                        out.push(c);
                    }
                }
                Cow::Owned(out)
            }
            #[allow(unreachable_patterns)]
            _ => Cow::Borrowed(text),
        }
    }
}

impl SqlStore {
    /// Connects to the database at `url`, creating the schema (and, for SQLite with
    /// `mode=rwc`, the file) if needed: a database that cannot be reached or migrated is an
    /// error now, not at the first login.
    ///
    /// # Errors
    ///
    /// [`StoreError::Invalid`] for a URL this build cannot use (unknown scheme, or a driver
    /// whose cargo feature is off), [`StoreError::NotFound`] for a missing SQLite file without
    /// `mode=rwc`, [`StoreError::Io`] if the database cannot be reached or its schema cannot
    /// be created, [`StoreError::Malformed`] for a schema newer than this code.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let store = Self::connect_lazy(url)?;
        store.ready().await?;
        Ok(store)
    }

    /// Like [`SqlStore::connect`] but without touching the database: it is reached, and the
    /// schema created, at the first call (and retried at every call until that works).
    ///
    /// # Errors
    ///
    /// [`StoreError::Invalid`] for a URL this build cannot use.
    pub fn connect_lazy(url: &str) -> Result<Self, StoreError> {
        let describe = redact(url);
        let invalid = |err: sqlx::Error| StoreError::Invalid(format!("{describe}: {err}"));
        let scheme = url.split(':').next().unwrap_or("").to_ascii_lowercase();
        #[cfg(feature = "sqlite")]
        let mut sqlite_file = None;
        let pool = match scheme.as_str() {
            #[cfg(feature = "sqlite")]
            "sqlite" => {
                // sqlx creates the file only for `mode=rwc`: a mistyped path is an error, not
                // a new empty database that refuses every login.
                let options = SqliteConnectOptions::from_str(url).map_err(invalid)?;
                let mode = sqlite_mode(url);
                let creates = mode == Some("rwc");
                let path = options.get_filename().to_path_buf();
                if !url.contains(":memory:") && mode != Some("memory") {
                    if creates {
                        precreate_private(&path);
                    }
                    sqlite_file = Some(Arc::new(SqliteFile {
                        path,
                        creates,
                        options: options.clone(),
                    }));
                }
                sqlite_pool(options)
            }
            #[cfg(feature = "mysql")]
            "mysql" | "mariadb" => {
                let url = url.replacen("mariadb:", "mysql:", 1);
                let options = MySqlConnectOptions::from_str(&url).map_err(invalid)?;
                SqlPool::MySql(
                    MySqlPoolOptions::new()
                        .max_connections(SQL_MAX_CONNECTIONS)
                        .acquire_timeout(SQL_ACQUIRE_TIMEOUT)
                        .connect_lazy_with(options),
                )
            }
            #[cfg(feature = "postgres")]
            "postgres" | "postgresql" => {
                let options = PgConnectOptions::from_str(url).map_err(invalid)?;
                SqlPool::Postgres(
                    PgPoolOptions::new()
                        .max_connections(SQL_MAX_CONNECTIONS)
                        .acquire_timeout(SQL_ACQUIRE_TIMEOUT)
                        .connect_lazy_with(options),
                )
            }
            other => {
                let built: Vec<&str> = [
                    cfg!(feature = "sqlite").then_some("sqlite"),
                    cfg!(feature = "mysql").then_some("mysql"),
                    cfg!(feature = "postgres").then_some("postgres"),
                ]
                .into_iter()
                .flatten()
                .collect();
                return Err(StoreError::Invalid(format!(
                    "{describe}: unsupported database {other:?} (this build supports: {})",
                    built.join(", ")
                )));
            }
        };
        Ok(Self {
            describe,
            current: Arc::new(Mutex::new(Current {
                pool,
                schema: Arc::new(OnceCell::new()),
                #[cfg(feature = "sqlite")]
                opened: None,
            })),
            #[cfg(feature = "sqlite")]
            sqlite_file,
        })
    }

    fn error(&self, err: sqlx::Error) -> StoreError {
        StoreError::Io(format!("{}: {err}", self.describe))
    }

    /// The pool to use, its schema created or upgraded (once per pool; a failure is not
    /// remembered).
    async fn ready(&self) -> Result<SqlPool, StoreError> {
        let (pool, schema) = {
            #[cfg_attr(not(feature = "sqlite"), allow(unused_mut))]
            let mut current = self.current.lock().await;
            #[cfg(feature = "sqlite")]
            if let Some(file) = &self.sqlite_file {
                self.check_file(file, &mut current).await?;
            }
            (current.pool.clone(), Arc::clone(&current.schema))
        };
        schema.get_or_try_init(|| self.migrate(&pool)).await?;
        Ok(pool)
    }

    /// Checks that the SQLite file's path still names the file the pool uses (see the type's
    /// documentation), reopening a replaced one.
    #[cfg(feature = "sqlite")]
    async fn check_file(&self, file: &SqliteFile, current: &mut Current) -> Result<(), StoreError> {
        let now = FileId::of(&file.path)
            .map_err(|err| StoreError::Io(format!("{}: {err}", self.describe)))?;
        match (current.opened, now) {
            (None, Some(id)) => current.opened = Some(id),
            (None, None) if file.creates => {}
            (None, None) => {
                return Err(StoreError::NotFound(format!(
                    "{}: no such database file (add ?mode=rwc to the URL to create it)",
                    self.describe
                )));
            }
            (Some(_), None) => {
                return Err(StoreError::Io(format!(
                    "{}: the database file is gone",
                    self.describe
                )));
            }
            (Some(was), Some(id)) if was == id => {}
            (Some(_), Some(id)) => {
                tracing::warn!(
                    store = %self.describe,
                    "the database file was replaced; reopening it"
                );
                let old = std::mem::replace(&mut current.pool, sqlite_pool(file.options.clone()));
                // The old connections close first, so none of them still writes (or leaves a
                // journal) by the path once the new file is opened.
                on_pool!(&old, pool => pool.close().await);
                current.schema = Arc::new(OnceCell::new());
                current.opened = Some(id);
            }
        }
        Ok(())
    }

    /// The migration runner: see the type's documentation.
    async fn migrate(&self, pool: &SqlPool) -> Result<(), StoreError> {
        let (statements_of, dialect): (fn(&Migration) -> &'static [&'static str], _) = match pool {
            #[cfg(feature = "sqlite")]
            SqlPool::Sqlite(_) => (|m| m.sqlite, "sqlite"),
            #[cfg(feature = "mysql")]
            SqlPool::MySql(_) => (|m| m.mysql, "mysql"),
            #[cfg(feature = "postgres")]
            SqlPool::Postgres(_) => (|m| m.postgres, "postgres"),
        };
        let insert_version = pool.sql("INSERT INTO ftp_schema_version (version) VALUES (?)");
        on_pool!(pool, pool => {
            sqlx::query(SCHEMA_VERSION_TABLE)
                .execute(pool)
                .await
                .map_err(|e| self.error(e))?;
            let rows = sqlx::query("SELECT version FROM ftp_schema_version")
                .fetch_all(pool)
                .await
                .map_err(|e| self.error(e))?;
            let mut current = 0;
            for row in &rows {
                let version: i32 = row.try_get("version").map_err(|e| self.error(e))?;
                current = current.max(version);
            }
            if current > SQL_SCHEMA_VERSION {
                return Err(StoreError::Malformed(format!(
                    "{}: schema version {current} is newer than this ftpd knows ({SQL_SCHEMA_VERSION})",
                    self.describe
                )));
            }
            for migration in MIGRATIONS.iter().filter(|m| m.version > current) {
                let mut tx = pool.begin().await.map_err(|e| self.error(e))?;
                for statement in statements_of(migration) {
                    sqlx::query(statement)
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| self.error(e))?;
                }
                sqlx::query(&insert_version)
                    .bind(migration.version)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| self.error(e))?;
                tx.commit().await.map_err(|e| self.error(e))?;
                tracing::info!(
                    store = %self.describe,
                    dialect,
                    version = migration.version,
                    "user database schema migrated"
                );
            }
            Ok(())
        })
    }

    async fn fetch(&self, name: Option<&str>) -> Result<Vec<VirtualUser>, StoreError> {
        let pool = self.ready().await?;
        // MySQL reports the case-sensitive (binary-collated) name column as VARBINARY, which
        // does not decode as text: read it through a cast.
        let columns = match &pool {
            #[cfg(feature = "mysql")]
            SqlPool::MySql(_) => COLUMNS.replacen(
                "name",
                "CAST(name AS CHAR CHARACTER SET utf8mb4) AS name",
                1,
            ),
            #[allow(unreachable_patterns)]
            _ => COLUMNS.to_owned(),
        };
        let text = match name {
            Some(_) => format!("SELECT {columns} FROM ftp_users WHERE name = ?"),
            None => format!("SELECT {columns} FROM ftp_users"),
        };
        let text = pool.sql(&text);
        let raws: Vec<RawUser> = on_pool!(&pool, pool => {
            let mut query = sqlx::query(&text);
            if let Some(name) = name {
                query = query.bind(name.to_owned());
            }
            let rows = query.fetch_all(pool).await.map_err(|e| self.error(e))?;
            let mut raws = Vec::with_capacity(rows.len());
            for row in &rows {
                let decoded: Result<RawUser, sqlx::Error> = (|| Ok(raw_user!(row)))();
                raws.push(decoded.map_err(|e| self.error(e))?);
            }
            raws
        });
        let mut users = raws
            .into_iter()
            .map(RawUser::into_user)
            .collect::<Result<Vec<_>, _>>()?;
        users.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(users)
    }

    async fn execute(&self, text: &str, binds: Vec<Bound>) -> Result<u64, StoreError> {
        let pool = self.ready().await?;
        let text = pool.sql(text);
        on_pool!(&pool, pool => {
            let mut query = sqlx::query(&text);
            for value in binds {
                query = match value {
                    Bound::Text(v) => query.bind(v),
                    Bound::OptI64(v) => query.bind(v),
                    Bound::OptI32(v) => query.bind(v),
                    Bound::I16(v) => query.bind(v),
                };
            }
            match query.execute(pool).await {
                Ok(done) => Ok(done.rows_affected()),
                Err(err) => {
                    let unique = err
                        .as_database_error()
                        .is_some_and(|db| db.is_unique_violation());
                    if unique {
                        Err(StoreError::Exists(String::new()))
                    } else {
                        Err(self.error(err))
                    }
                }
            }
        })
    }
}

/// A value bound to a statement.
enum Bound {
    Text(String),
    OptI64(Option<i64>),
    OptI32(Option<i32>),
    I16(i16),
}

/// Creates a missing SQLite file with mode 0600 before SQLite does (it would use 0644 less
/// the umask): the file holds password hashes.
#[cfg(feature = "sqlite")]
fn precreate_private(path: &std::path::Path) {
    if path.as_os_str().is_empty() || path.exists() {
        return;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    // Failure is fine here: SQLite reports it (or creates the file itself) at connect time.
    let _ = options.open(path);
}

impl UserStore for SqlStore {
    fn describe(&self) -> String {
        self.describe.clone()
    }

    async fn find(&self, name: &str) -> Result<Option<VirtualUser>, StoreError> {
        Ok(self.fetch(Some(name)).await?.into_iter().next())
    }

    async fn list(&self) -> Result<Vec<VirtualUser>, StoreError> {
        self.fetch(None).await
    }

    async fn add(&self, user: VirtualUser) -> Result<(), StoreError> {
        let raw = RawUser::from_user(&user)?;
        let text = format!("INSERT INTO ftp_users ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
        match self.execute(&text, raw.binds()).await {
            Err(StoreError::Exists(_)) => Err(StoreError::Exists(user.name)),
            other => other.map(|_| ()),
        }
    }

    async fn replace(&self, user: VirtualUser) -> Result<bool, StoreError> {
        // MySQL counts only rows it changed: ask whether the user exists first.
        if self.find(&user.name).await?.is_none() {
            return Ok(false);
        }
        let mut binds = RawUser::from_user(&user)?.binds();
        // The name moves from the first value to the WHERE clause at the end.
        binds.rotate_left(1);
        let text = "UPDATE ftp_users SET password_hash = ?, home = ?, permissions = ?, \
                    quota_bytes = ?, max_sessions = ?, enabled = ?, allow_from = ? WHERE name = ?";
        self.execute(text, binds).await?;
        Ok(true)
    }

    async fn remove(&self, name: &str) -> Result<bool, StoreError> {
        let n = self
            .execute(
                "DELETE FROM ftp_users WHERE name = ?",
                vec![Bound::Text(name.to_owned())],
            )
            .await?;
        Ok(n > 0)
    }

    async fn set_password(&self, name: &str, password: HashedPassword) -> Result<bool, StoreError> {
        if self.find(name).await?.is_none() {
            return Ok(false);
        }
        self.execute(
            "UPDATE ftp_users SET password_hash = ? WHERE name = ?",
            vec![
                Bound::Text(password.as_str().to_owned()),
                Bound::Text(name.to_owned()),
            ],
        )
        .await?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            redact("postgres://ftp:s3cret@db:5432/ftp"),
            "postgres://ftp:***@db:5432/ftp"
        );
        assert_eq!(
            redact("postgres://db/ftp?user=ftp&password=s3cret&sslmode=require"),
            "postgres://db/ftp?user=ftp&password=***&sslmode=require"
        );
        assert_eq!(
            redact("mysql://ftp:pw@db/ftp?PASSWORD=x"),
            "mysql://ftp:***@db/ftp?PASSWORD=***"
        );
        assert_eq!(
            redact("sqlite:///var/lib/ftpd/users.db?mode=rwc"),
            "sqlite:///var/lib/ftpd/users.db?mode=rwc"
        );
    }
}

#[cfg(all(test, feature = "sqlite"))]
mod sqlite_tests {
    use super::*;

    fn url(path: &std::path::Path, query: &str) -> String {
        format!("sqlite://{}{query}", path.display())
    }

    async fn add(store: &SqlStore, name: &str) {
        let password = HashedPassword::hash(b"pw").expect("hash");
        let home = parse_home("/home").expect("home");
        let user = VirtualUser::new(name, password, home).expect("user");
        store.add(user).await.expect("add");
    }

    /// Without `mode=rwc` a missing SQLite file is an error, and none is created: a mistyped
    /// path must not become an empty database that refuses every login.
    #[tokio::test]
    async fn a_missing_sqlite_file_is_created_only_with_mode_rwc() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("users.db");
        for query in ["", "?mode=rw"] {
            let err = SqlStore::connect(&url(&path, query))
                .await
                .expect_err("missing file");
            assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
            let message = err.to_string();
            assert_eq!(message.matches("sqlite://").count(), 1, "{message}");
            assert!(!path.exists(), "{query}: created");
        }
        let store = SqlStore::connect(&url(&path, "?mode=rwc"))
            .await
            .expect("rwc");
        assert!(path.exists());
        assert!(store.list().await.expect("list").is_empty());
    }

    /// A store notices its SQLite file being replaced (it reads the new one) or deleted (its
    /// lookups fail, which logins answer with 421), though its pool holds the old file open.
    #[tokio::test]
    async fn a_replaced_or_deleted_sqlite_file_is_noticed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("users.db");
        let store = SqlStore::connect(&url(&path, "?mode=rwc"))
            .await
            .expect("store");
        add(&store, "alice").await;
        assert!(store.find("alice").await.expect("find").is_some());

        // A backup with other users moved into place.
        let backup = dir.path().join("backup.db");
        let other = SqlStore::connect(&url(&backup, "?mode=rwc"))
            .await
            .expect("other");
        add(&other, "bob").await;
        drop(other);
        std::fs::rename(&backup, &path).expect("rename");
        assert!(store.find("bob").await.expect("find bob").is_some());
        assert!(store.find("alice").await.expect("find alice").is_none());

        // The file deleted: the store is unavailable, not empty.
        std::fs::remove_file(&path).expect("remove");
        let err = store.find("bob").await.expect_err("gone");
        assert!(matches!(err, StoreError::Io(_)), "{err:?}");
        assert!(!path.exists(), "recreated");
    }
}
