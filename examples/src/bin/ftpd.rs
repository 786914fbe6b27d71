//! `ftpd`: an FTP server for a directory, built on `ftp-server-tokio`.
//!
//! With no flags it serves the current directory read-only to anonymous users on
//! 127.0.0.1:2121:
//!
//! ```text
//! cargo run --release --bin ftpd                      # then: curl ftp://127.0.0.1:2121/
//! cargo run --release --bin ftpd -- --root /srv/ftp --user alice:s3cret --user-home alice:/alice
//! ```
//!
//! FTPS (RFC 4217) with a certificate and key in PEM files: explicit (AUTH TLS) on every
//! `--listen` address, implicit on `--implicit-tls-listen` addresses. By default TLS is then
//! required for login and data, and data connections must resume the control connection's TLS
//! session (`--tls-no-session-reuse` lifts that for clients that cannot resume, such as
//! Python's stock `ftplib.FTP_TLS`). SIGHUP re-reads the certificate files.
//!
//! ```text
//! ftpd --user alice:s3cret --tls-cert cert.pem --tls-key key.pem
//!     # then: curl --ssl-reqd -k -u alice:s3cret ftp://127.0.0.1:2121/
//! ftpd --user alice:s3cret --tls-cert cert.pem --tls-key key.pem --implicit-tls-listen 127.0.0.1:9990
//!     # then: curl -k -u alice:s3cret ftps://127.0.0.1:9990/
//! ```
//!
//! Virtual users live in a users file (TOML) or an SQL database (SQLite, MySQL/MariaDB,
//! PostgreSQL) and are managed with `ftpd user`; the password is read from a prompt, or from
//! the first line of standard input, never from the command line:
//!
//! ```text
//! ftpd user add alice --home /alice --perms all --quota 1000000000 --users-file users.toml
//! ftpd user list --users-db 'sqlite:///var/lib/ftpd/users.db?mode=rwc'
//! ftpd --root /srv/ftp --users-file users.toml          # or --users-db URL
//! ```
//!
//! Once bound it prints one `implicit TLS listening on ADDR` line per implicit-TLS listener,
//! then one `listening on ADDR` line per listener on standard output (scripts and tests read
//! the ports from them), logs to standard error, and stops cleanly on Ctrl-C or SIGTERM
//! (running transfers get a few seconds to finish).

use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::process::ExitCode;
use std::str::FromStr;
use std::time::Duration;

use clap::Parser;
use ftp_server_tokio::auth::{
    AnonymousPolicy, FileStore, Permissions, SqlStore, StaticUsers, StoreError, UserEntry,
    UserStore, VirtualUsers,
};
use ftp_server_tokio::ftp_proto::{FtpPath, VirtualPath};
use ftp_server_tokio::server::{
    DEFAULT_LOGIN_FAILURE_WINDOW, DEFAULT_LOGIN_FAILURES_PER_IP, DEFAULT_MAX_SESSIONS,
    DEFAULT_MAX_SESSIONS_PER_IP, Server,
};
use ftp_server_tokio::storage::Storage;
use ftp_server_tokio::storage::fs::FsStorage;
use ftp_server_tokio::storage::quota::QuotaPolicy;
use ftp_server_tokio::tls::TlsConfig;

#[path = "ftpd/users.rs"]
mod users;

use users::Users;

/// Serve a directory over FTP.
#[derive(Debug, Parser)]
#[command(name = "ftpd", version, about, long_about = None, args_conflicts_with_subcommands = true)]
struct Args {
    /// `ftpd user ...` manages virtual users instead of serving.
    #[command(subcommand)]
    command: Option<users::Command>,

    /// Address to listen on (repeatable; IPv6 as `[::1]:2121`; port 0 picks a free port).
    #[arg(long = "listen", value_name = "ADDR", default_value = "127.0.0.1:2121")]
    listen: Vec<SocketAddr>,

    /// Directory to serve (default: the current directory).
    #[arg(long, value_name = "DIR")]
    root: Option<PathBuf>,

    /// Allow anonymous logins (USER anonymous or ftp, any password). On by default when no
    /// --user is given.
    #[arg(long)]
    anonymous: bool,

    /// Let anonymous users upload (STOR, STOU, MKD; no overwrite or delete) below DIR, a path
    /// inside the served tree such as /incoming. Implies --anonymous.
    #[arg(long, value_name = "DIR")]
    anonymous_upload: Option<String>,

    /// A user who logs in with a password (repeatable). Users may read, write, append,
    /// delete, rename and create directories unless --read-only is given.
    #[arg(long = "user", value_name = "NAME:PASSWORD")]
    users: Vec<String>,

    /// A user's home: DIR is a path inside the served tree, e.g. /alice, that becomes the
    /// user's / (default: the whole tree).
    #[arg(long = "user-home", value_name = "NAME:DIR")]
    user_homes: Vec<String>,

    /// Virtual users from a TOML users file (see `ftpd user add`), re-read when it changes.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["users", "user_homes", "users_db", "read_only"])]
    users_file: Option<PathBuf>,

    /// Virtual users from a database: sqlite:///path/users.db (?mode=rwc creates a missing
    /// file), mysql://USER:PASS@HOST/DB or postgres://USER:PASS@HOST/DB. A database that is
    /// down answers logins with 421.
    #[arg(long, value_name = "URL", conflicts_with_all = ["users", "user_homes", "read_only"])]
    users_db: Option<String>,

    /// System users through the PAM service SERVICE (/etc/pam.d/SERVICE must exist; a file
    /// with e.g. `auth required pam_unix.so` and `account required pam_unix.so`). ftpd must
    /// run as root for pam_unix to read /etc/shadow. Each user's home is /NAME in the served
    /// tree (see --pam-home-base); they may change files unless --read-only is given. A
    /// broken PAM stack answers logins with 421. Whether an unknown user takes as long as a
    /// wrong password is up to the stack (pam_unix delays every failure by about 2 s).
    /// Built with the `pam` feature (Linux).
    #[cfg(all(target_os = "linux", feature = "pam"))]
    #[arg(long, value_name = "SERVICE", conflicts_with_all = ["users", "user_homes", "users_file", "users_db"])]
    pam: Option<String>,

    /// With --pam: homes are DIR/NAME instead of /NAME (DIR is a path inside the served tree,
    /// e.g. /home).
    #[cfg(all(target_os = "linux", feature = "pam"))]
    #[arg(long, value_name = "DIR", requires = "pam")]
    pam_home_base: Option<String>,

    /// Nobody may change anything (anonymous uploads stay allowed if configured). For --user
    /// and --pam users; virtual users have their own permissions.
    #[arg(long)]
    read_only: bool,

    /// What happens to an upload stopped by a user's quota (552): "delete" removes the
    /// partial file (an APPE or REST upload is cut back to its size before the transfer);
    /// "keep" leaves the bytes up to the quota. A STOR over an existing file replaced it as
    /// the upload began, so its old content is gone under either policy.
    #[arg(long, value_name = "POLICY", default_value = "delete")]
    quota_partial: QuotaPartial,

    /// Passive data ports, e.g. 50000-50100 (default: any free port).
    #[arg(long, value_name = "A-B")]
    passive_ports: Option<PortRange>,

    /// IPv4 address announced in PASV replies instead of the server's own (behind NAT).
    #[arg(long, value_name = "IP")]
    masquerade: Option<IpAddr>,

    /// Allow active mode (PORT/EPRT to the client's own address only). The default.
    #[arg(long, overrides_with = "no_active")]
    active: bool,

    /// Refuse active mode (PORT/EPRT).
    #[arg(long, overrides_with = "active")]
    no_active: bool,

    /// Seconds without a command before a session is closed.
    #[arg(long, value_name = "SECS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..))]
    idle_timeout: u64,

    /// Most concurrent sessions; more are answered with 421.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_SESSIONS, value_parser = positive)]
    max_sessions: usize,

    /// Most concurrent sessions from one IP address.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_SESSIONS_PER_IP, value_parser = positive)]
    max_sessions_per_ip: usize,

    /// Failed logins from one IP address (over all its connections) after which that address
    /// is refused for the rest of --login-failure-window; 0 turns the limit off.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_LOGIN_FAILURES_PER_IP)]
    max_login_failures_per_ip: u32,

    /// Seconds over which --max-login-failures-per-ip counts, from an address's first failure.
    #[arg(long, value_name = "SECS", default_value_t = DEFAULT_LOGIN_FAILURE_WINDOW.as_secs(), value_parser = clap::value_parser!(u64).range(1..))]
    login_failure_window: u64,

    /// FTPS: the certificate chain (PEM, the server's certificate first). Needs --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,

    /// FTPS: the private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,

    /// With a certificate: "required" (the default) refuses login before AUTH TLS and
    /// unprotected data (PROT C); "optional" allows both in clear text.
    #[arg(long, value_name = "MODE", requires = "tls_cert")]
    tls: Option<TlsMode>,

    /// FTPS: accept protected data connections that do not resume the control connection's
    /// TLS session (needed by clients that cannot resume, e.g. Python's stock ftplib). Off by
    /// default: resumption proves the data connection comes from the same client.
    #[arg(long, requires = "tls_cert")]
    tls_no_session_reuse: bool,

    /// Also listen for implicit FTPS (TLS from the first byte, conventionally port 990) on
    /// ADDR (repeatable). Needs --tls-cert and --tls-key.
    #[arg(
        long = "implicit-tls-listen",
        value_name = "ADDR",
        requires = "tls_cert"
    )]
    implicit_tls_listen: Vec<SocketAddr>,

    /// Log level or filter (error, warn, info, debug, trace, or e.g. ftp_server_tokio=debug).
    #[arg(long, value_name = "LEVEL", default_value = "info")]
    log: String,
}

/// `--tls required|optional`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum TlsMode {
    /// TLS for login and for data.
    Required,
    /// TLS offered, clear text allowed.
    Optional,
}

fn positive(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(err) => Err(err.to_string()),
    }
}

/// A port range `A-B`.
#[derive(Debug, Clone)]
struct PortRange(RangeInclusive<u16>);

impl FromStr for PortRange {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (a, b) = s
            .split_once('-')
            .ok_or_else(|| format!("expected A-B, e.g. 50000-50100, not {s:?}"))?;
        let port = |p: &str| {
            p.trim()
                .parse::<u16>()
                .ok()
                .filter(|&p| p > 0)
                .ok_or_else(|| format!("{p:?} is not a port (1-65535)"))
        };
        let (a, b) = (port(a)?, port(b)?);
        if a > b {
            return Err(format!("the range {a}-{b} is empty"));
        }
        Ok(Self(a..=b))
    }
}

/// A path inside the served tree, e.g. `/alice`.
fn tree_path(text: &str) -> Result<VirtualPath, String> {
    VirtualPath::root()
        .resolve(&FtpPath::from(text))
        .map_err(|err| format!("{text:?} is not a usable path: {err}"))
}

fn fail(message: impl std::fmt::Display) -> ExitCode {
    let _ = writeln!(io::stderr(), "ftpd: {message}");
    ExitCode::FAILURE
}

/// `--quota-partial`: the partial-file policy for uploads stopped by a quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum QuotaPartial {
    /// Remove the partial file (or cut an appended one back).
    Delete,
    /// Keep the bytes up to the quota.
    Keep,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let filter = match tracing_subscriber::EnvFilter::try_new(&args.log) {
        Ok(filter) => filter,
        Err(err) => return fail(format!("--log {:?}: {err}", args.log)),
    };
    // Colours only on a terminal: a log file or journal gets plain text.
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .with_ansi(io::IsTerminal::is_terminal(&io::stderr()))
        .init();
    raise_open_file_limit();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => return fail(format!("cannot start the runtime: {err}")),
    };
    let result = match args.command {
        Some(command) => runtime.block_on(users::run(command)),
        None => runtime.block_on(serve(args)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => fail(message),
    }
}

async fn serve(args: Args) -> Result<(), String> {
    let root = match &args.root {
        Some(root) => root.clone(),
        None => std::env::current_dir().map_err(|err| format!("no current directory: {err}"))?,
    };
    let storage =
        FsStorage::open(&root).map_err(|err| format!("cannot serve {}: {err}", root.display()))?;
    let root = root.canonicalize().unwrap_or(root);

    let permissions = if args.read_only {
        Permissions::READ_ONLY
    } else {
        Permissions::ALL
    };
    let mut homes = Vec::new();
    for spec in &args.user_homes {
        let (name, dir) = spec
            .split_once(':')
            .ok_or_else(|| format!("--user-home {spec:?}: expected NAME:DIR"))?;
        homes.push((
            name.to_owned(),
            tree_path(dir).map_err(|e| format!("--user-home: {e}"))?,
        ));
    }
    let mut entries = Vec::new();
    for spec in &args.users {
        let (name, password) = spec.split_once(':').ok_or_else(|| {
            format!(
                "--user {name:?}: expected NAME:PASSWORD",
                name = spec.split(':').next().unwrap_or("")
            )
        })?;
        if name.is_empty() {
            return Err("--user: the name is empty".into());
        }
        let home = homes
            .iter()
            .find(|(n, _)| n == name)
            .map_or_else(VirtualPath::root, |(_, home)| home.clone());
        entries.push(UserEntry::new(name, password, home, permissions));
    }
    for (name, _) in &homes {
        if !entries.iter().any(|e| e.name() == name) {
            return Err(format!(
                "--user-home {name}: no --user {name}:PASSWORD given"
            ));
        }
    }
    for entry in &entries {
        require_dir(&storage, entry.home(), &format!("home of {}", entry.name())).await?;
    }
    #[cfg(all(target_os = "linux", feature = "pam"))]
    let pam = args.pam.is_some();
    #[cfg(not(all(target_os = "linux", feature = "pam")))]
    let pam = false;
    let virtual_users = args.users_file.is_some() || args.users_db.is_some() || pam;
    let anonymous = args.anonymous
        || args.anonymous_upload.is_some()
        || (args.users.is_empty() && !virtual_users);
    let mut policy = None;
    let mut upload = None;
    if anonymous {
        let mut anonymous_policy = AnonymousPolicy::default();
        if let Some(dir) = &args.anonymous_upload {
            let dir = tree_path(dir).map_err(|e| format!("--anonymous-upload: {e}"))?;
            require_dir(&storage, &dir, "--anonymous-upload directory").await?;
            upload = Some(dir.clone());
            anonymous_policy = anonymous_policy.with_upload_dir(dir);
        }
        policy = Some(anonymous_policy);
    }
    #[cfg(all(target_os = "linux", feature = "pam"))]
    let pam_users = pam_users(&args, &storage, permissions, policy.clone()).await?;
    #[cfg(not(all(target_os = "linux", feature = "pam")))]
    let pam_users: Option<(Users, Option<String>)> = None;
    let (users, user_source) = if let Some(path) = &args.users_file {
        let store = FileStore::open(path)
            .await
            .map_err(|e| format!("--users-file: {e}"))?;
        let source = store.describe();
        if store.others_access() & 0o004 != 0 {
            tracing::warn!(
                store = %source,
                "the users file is readable by others, who can read its password hashes; \
                 chmod o-rwx it (the next `ftpd user` change does)"
            );
        }
        warn_missing_homes(&storage, &store).await;
        let mut users = VirtualUsers::new(store);
        if let Some(policy) = policy {
            users = users.with_anonymous(policy);
        }
        (Users::File(users), Some(source))
    } else if let Some(url) = &args.users_db {
        // A database that is down at start is what it is later: logins get 421 until it
        // answers (the pool retries on each login). A URL that cannot work is an error now.
        let (store, reachable) = match SqlStore::connect(url).await {
            Ok(store) => (store, true),
            Err(StoreError::Io(why)) => {
                let store = SqlStore::connect_lazy(url).map_err(|e| format!("--users-db: {e}"))?;
                tracing::warn!(
                    store = %store.describe(),
                    error = %why,
                    "the users database is unreachable; logins get 421 until it answers"
                );
                (store, false)
            }
            Err(e) => return Err(format!("--users-db: {e}")),
        };
        let source = store.describe();
        if reachable {
            warn_missing_homes(&storage, &store).await;
        }
        let mut users = VirtualUsers::new(store);
        if let Some(policy) = policy {
            users = users.with_anonymous(policy);
        }
        (Users::Sql(users), Some(source))
    } else if let Some(pam) = pam_users {
        pam
    } else {
        let mut users = StaticUsers::new(entries).map_err(|err| format!("--user: {err}"))?;
        if let Some(policy) = policy {
            users = users.with_anonymous(policy);
        }
        (Users::Static(users), None)
    };

    let mut server = Server::new(storage, users)
        .anonymous(anonymous)
        .idle_timeout(Duration::from_secs(args.idle_timeout))
        .active_mode(!args.no_active)
        .max_sessions(args.max_sessions)
        .max_sessions_per_ip(args.max_sessions_per_ip)
        .login_failures_per_ip(
            args.max_login_failures_per_ip,
            Duration::from_secs(args.login_failure_window),
        )
        .quota_policy(match args.quota_partial {
            QuotaPartial::Delete => QuotaPolicy::DeletePartial,
            QuotaPartial::Keep => QuotaPolicy::KeepPartial,
        });
    for addr in &args.listen {
        server = server.listen(*addr);
    }
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => {
            let required = args.tls.unwrap_or(TlsMode::Required) == TlsMode::Required;
            let tls = TlsConfig::from_pem_files(cert, key)
                .require_for_login(required)
                .require_for_data(required)
                .require_session_reuse(!args.tls_no_session_reuse)
                .build()
                .map_err(|err| format!("TLS: {err}"))?;
            server = server.tls(tls.clone());
            Some(tls)
        }
        _ => None,
    };
    for addr in &args.implicit_tls_listen {
        server = server.listen_implicit_tls(*addr);
    }
    if let Some(PortRange(ports)) = args.passive_ports {
        server = server.passive_ports(ports);
    }
    if let Some(ip) = args.masquerade {
        if !ip.is_ipv4() {
            return Err(format!(
                "--masquerade {ip}: PASV can only announce an IPv4 address"
            ));
        }
        server = server.masquerade(ip);
    }
    let server = server.bind().await.map_err(|err| err.to_string())?;

    let addrs = server.local_addrs();
    let implicit = server.implicit_tls_addrs();
    let mut out = io::stdout().lock();
    for addr in &implicit {
        let _ = writeln!(out, "implicit TLS listening on {addr}");
    }
    for addr in &addrs {
        let _ = writeln!(out, "listening on {addr}");
    }
    let access = match (anonymous, args.users.len(), &upload, &user_source) {
        (true, _, _, Some(source)) => format!("anonymous and the users of {source}"),
        (false, _, _, Some(source)) => format!("the users of {source}"),
        (true, 0, None, None) => "anonymous, read-only".to_owned(),
        (true, 0, Some(dir), None) => format!("anonymous, uploads to {dir}"),
        (true, n, _, None) => format!("anonymous and {n} user(s)"),
        (false, n, _, None) => format!("{n} user(s)"),
    };
    let _ = writeln!(out, "ftpd: serving {} ({access})", root.display());
    let login = if anonymous { "" } else { "-u USER:PASSWORD " };
    if let Some(first) = addrs.first() {
        match &tls {
            // -k: only for a self-signed certificate.
            Some(_) => {
                let _ = writeln!(out, "  try: curl --ssl-reqd -k {login}ftp://{first}/");
            }
            None => {
                let _ = writeln!(out, "  try: curl {login}ftp://{first}/");
            }
        }
    }
    if let Some(first) = implicit.first() {
        let _ = writeln!(out, "  try: curl -k {login}ftps://{first}/");
    }
    let _ = writeln!(out, "  stop with Ctrl-C");
    let _ = out.flush();
    drop(out);

    if let Some(tls) = tls {
        reload_on_hangup(tls);
    }
    server.run_until(stop_signal()).await;
    let _ = writeln!(io::stderr(), "ftpd: stopped");
    Ok(())
}

/// Every session holds a descriptor or two; the usual soft limit (1024) would refuse sessions
/// long before `--max-sessions`. The soft limit goes up to the hard limit, as servers do.
fn raise_open_file_limit() {
    #[cfg(unix)]
    {
        use rustix::process::{Resource, getrlimit, setrlimit};
        let mut limit = getrlimit(Resource::Nofile);
        if limit.current < limit.maximum {
            limit.current = limit.maximum;
            if let Err(err) = setrlimit(Resource::Nofile, limit) {
                tracing::warn!(error = %err, "cannot raise the open-file limit");
            }
        }
    }
}

/// `--pam SERVICE`: the PAM authenticator, or `None` without the flag.
#[cfg(all(target_os = "linux", feature = "pam"))]
async fn pam_users(
    args: &Args,
    storage: &FsStorage,
    permissions: Permissions,
    anonymous: Option<AnonymousPolicy>,
) -> Result<Option<(Users, Option<String>)>, String> {
    let Some(service) = &args.pam else {
        return Ok(None);
    };
    if !rustix::process::geteuid().is_root() {
        tracing::warn!(
            "--pam: ftpd is not running as root; pam_unix can then check no password but \
             that of the user ftpd runs as"
        );
    }
    let mut users = ftp_server_tokio::auth::PamUsers::new(service)
        .map_err(|e| format!("--pam: {e}"))?
        .with_permissions(permissions);
    if let Some(base) = &args.pam_home_base {
        let base = tree_path(base).map_err(|e| format!("--pam-home-base: {e}"))?;
        require_dir(storage, &base, "--pam-home-base").await?;
        users = users.with_home_base(base);
    }
    if let Some(policy) = anonymous {
        users = users.with_anonymous(policy);
    }
    let source = format!(
        "PAM service {} ({})",
        users.service(),
        users.service_file().display()
    );
    Ok(Some((Users::Pam(users), Some(source))))
}

/// Fails unless `dir` is a directory of the served tree.
async fn require_dir(storage: &FsStorage, dir: &VirtualPath, what: &str) -> Result<(), String> {
    match storage.metadata(dir).await {
        Ok(entry) if entry.kind.is_dir() => Ok(()),
        Ok(_) => Err(format!("{what} {dir} is not a directory")),
        Err(err) => Err(format!("{what} {dir}: {err}")),
    }
}

/// Logs a warning for each virtual user whose home is not a directory of the served tree
/// (their logins would fail), or for a store without users; users added later are not
/// checked.
async fn warn_missing_homes<U: UserStore>(storage: &FsStorage, store: &U) {
    match store.list().await {
        Ok(users) if users.is_empty() => tracing::warn!(
            store = %store.describe(),
            "no users yet: every password login is refused until `ftpd user add` adds one"
        ),
        Ok(users) => {
            for user in users {
                let what = format!("home of {}", user.name);
                if let Err(problem) = require_dir(storage, &user.home, &what).await {
                    tracing::warn!("{problem}");
                }
            }
        }
        Err(err) => tracing::warn!(error = %err, "cannot list the users"),
    }
}

/// SIGHUP re-reads the certificate and key files; a failed reload keeps the old ones.
fn reload_on_hangup(tls: TlsConfig) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hangup) = signal(SignalKind::hangup()) else {
            tracing::warn!("cannot watch SIGHUP; certificate reload is off");
            return;
        };
        tokio::spawn(async move {
            while hangup.recv().await.is_some() {
                match tls.reload() {
                    Ok(()) => tracing::info!("SIGHUP: TLS certificate reloaded"),
                    Err(err) => {
                        tracing::warn!(error = %err, "SIGHUP: TLS certificate not reloaded; keeping the old one");
                    }
                }
            }
        });
    }
    #[cfg(not(unix))]
    drop(tls);
}

/// Completes on Ctrl-C or SIGTERM.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
