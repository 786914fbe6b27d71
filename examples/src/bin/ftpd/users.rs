//! `ftpd user ...`: manage the virtual users of a users file or an SQL database, and the
//! authenticator `ftpd` serves with (`--users-file`, `--users-db`, `--pam`, or `--user`
//! flags).
//!
//! Passwords are read from a prompt without echo when standard input is a terminal, otherwise
//! from the first line of standard input, never from the command line (where `ps` and shell
//! history would show them). Only argon2id hashes are written.

use std::io::{self, BufRead, IsTerminal, Read, Write};
use std::path::PathBuf;

use clap::{Args, Subcommand};
use ftp_server_tokio::auth::{
    AuthError, Authenticator, Credentials, FileStore, HashedPassword, IpNetwork, Permissions,
    Principal, SqlStore, StaticUsers, StoreError, UserStore, VirtualUser, VirtualUsers,
    check_user_name, parse_home,
};

/// Longest password accepted (a PASS line is at most 4096 bytes).
const MAX_PASSWORD: usize = 1024;

/// The `ftpd` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Manage virtual users in a users file (--users-file) or a database (--users-db).
    User {
        #[command(subcommand)]
        action: UserAction,
    },
}

/// `ftpd user ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum UserAction {
    /// Add a user; the password is read from a prompt, or from the first line of stdin.
    Add(AddArgs),
    /// List the users (never their password hashes).
    List(StoreArgs),
    /// Remove a user. Sessions the user already has are not ended: they continue until they
    /// end; only new logins are refused.
    Remove(NameArgs),
    /// Set a user's password (prompt, or the first line of stdin).
    Passwd(NameArgs),
    /// Let a disabled user log in again.
    Enable(NameArgs),
    /// Refuse a user's logins (530) without removing the account. Sessions the user already
    /// has are not ended: they continue until they end.
    Disable(NameArgs),
}

/// Where the users are: exactly one of `--users-file` and `--users-db`.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub(crate) struct StoreArgs {
    /// A TOML users file (created, mode 0600, by the first `user add`; a rewrite keeps its
    /// owner and group and removes any permission for others).
    #[arg(long, value_name = "FILE")]
    users_file: Option<PathBuf>,
    /// A database URL: sqlite:///path/users.db (add ?mode=rwc to create a missing file),
    /// mysql://USER:PASS@HOST/DB or postgres://USER:PASS@HOST/DB (tables created on first
    /// use).
    #[arg(long, value_name = "URL")]
    users_db: Option<String>,
}

/// `NAME` and the store.
#[derive(Debug, Args)]
pub(crate) struct NameArgs {
    /// The user name.
    name: String,
    #[command(flatten)]
    store: StoreArgs,
}

/// `ftpd user add`.
#[derive(Debug, Args)]
pub(crate) struct AddArgs {
    /// The user name (case-sensitive).
    name: String,
    /// The user's home: a directory inside the served tree, e.g. /alice, that becomes the
    /// user's /.
    #[arg(long, value_name = "DIR")]
    home: String,
    /// What the user may do: all, read-only, none, or a comma-separated list of list, read,
    /// write, append, delete, rename, mkdir.
    #[arg(long, value_name = "PERMS", default_value = "all")]
    perms: Permissions,
    /// Most bytes the user's files may take.
    #[arg(long, value_name = "BYTES")]
    quota: Option<u64>,
    /// Most concurrent sessions of this user.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    max_sessions: Option<u32>,
    /// Add the user disabled (logins refused until `ftpd user enable`).
    #[arg(long)]
    disabled: bool,
    /// Allow logins only from this network, e.g. 192.0.2.0/24 or 2001:db8::/32 (repeatable;
    /// default: from anywhere).
    #[arg(long, value_name = "CIDR")]
    allow_from: Vec<IpNetwork>,
    #[command(flatten)]
    store: StoreArgs,
}

/// Runs `ftpd user ...`; the message is the error to print.
pub(crate) async fn run(command: Command) -> Result<(), String> {
    let Command::User { action } = command;
    let store_args = match &action {
        UserAction::Add(a) => &a.store,
        UserAction::List(s) => s,
        UserAction::Remove(n)
        | UserAction::Passwd(n)
        | UserAction::Enable(n)
        | UserAction::Disable(n) => &n.store,
    };
    let create = matches!(action, UserAction::Add(_));
    match (&store_args.users_file, &store_args.users_db) {
        (Some(path), _) => {
            let path = path.clone();
            let store = if create {
                FileStore::open_or_create(&path).await
            } else {
                FileStore::open(&path).await
            };
            let store = store.map_err(|e| format!("--users-file: {e}"))?;
            let exposed = store.others_access();
            act(store.clone(), action).await?;
            if exposed != 0 && store.others_access() == 0 {
                let _ = writeln!(
                    io::stderr(),
                    "ftpd: note: removed the permissions others had on {} ({}): it holds \
                     password hashes",
                    path.display(),
                    rwx(exposed)
                );
            }
            Ok(())
        }
        (None, Some(url)) => {
            let store = SqlStore::connect(url)
                .await
                .map_err(|e| format!("--users-db: {e}"))?;
            act(store, action).await
        }
        (None, None) => Err("give --users-file FILE or --users-db URL".into()),
    }
}

/// Permission bits `0o7` as `rwx`, `r--`, ...
fn rwx(bits: u32) -> String {
    [(0o4, 'r'), (0o2, 'w'), (0o1, 'x')]
        .iter()
        .map(|&(bit, c)| if bits & bit != 0 { c } else { '-' })
        .collect()
}

/// A store's error as a message that names the store once (most store errors name it
/// already).
fn store_failed(where_: &str, err: StoreError) -> String {
    let message = err.to_string();
    if message.starts_with(where_) {
        message
    } else {
        format!("{where_}: {message}")
    }
}

async fn act<S: UserStore>(store: S, action: UserAction) -> Result<(), String> {
    let where_ = store.describe();
    let failed = |e: StoreError| store_failed(&where_, e);
    let mut out = io::stdout().lock();
    match action {
        UserAction::Add(args) => {
            check_user_name(&args.name).map_err(|e| e.to_string())?;
            let home = parse_home(&args.home).map_err(|e| format!("--home: {e}"))?;
            if store.find(&args.name).await.map_err(failed)?.is_some() {
                return Err(format!("user {:?} exists in {where_}", args.name));
            }
            let hash = hash(read_password(&args.name)?).await?;
            let user = VirtualUser::new(args.name.clone(), hash, home)
                .map_err(|e| e.to_string())?
                .with_permissions(args.perms)
                .with_quota(args.quota)
                .with_max_sessions(args.max_sessions)
                .with_enabled(!args.disabled)
                .with_allow_from(args.allow_from);
            store.add(user).await.map_err(failed)?;
            let _ = writeln!(out, "ftpd: added user {} to {where_}", args.name);
        }
        UserAction::List(_) => {
            for user in store.list().await.map_err(failed)? {
                let _ = writeln!(out, "{}", describe(&user));
            }
        }
        UserAction::Remove(NameArgs { name, .. }) => {
            if !store.remove(&name).await.map_err(failed)? {
                return Err(format!("no user {name:?} in {where_}"));
            }
            let _ = writeln!(out, "ftpd: removed user {name} from {where_}");
        }
        UserAction::Passwd(NameArgs { name, .. }) => {
            if store.find(&name).await.map_err(failed)?.is_none() {
                return Err(format!("no user {name:?} in {where_}"));
            }
            let hash = hash(read_password(&name)?).await?;
            if !store.set_password(&name, hash).await.map_err(failed)? {
                return Err(format!("no user {name:?} in {where_}"));
            }
            let _ = writeln!(out, "ftpd: password of {name} changed");
        }
        UserAction::Enable(NameArgs { name, .. }) => set_enabled(&store, &name, true).await?,
        UserAction::Disable(NameArgs { name, .. }) => set_enabled(&store, &name, false).await?,
    }
    Ok(())
}

async fn set_enabled<S: UserStore>(store: &S, name: &str, enabled: bool) -> Result<(), String> {
    let where_ = store.describe();
    let failed = |e: StoreError| store_failed(&where_, e);
    let Some(mut user) = store.find(name).await.map_err(failed)? else {
        return Err(format!("no user {name:?} in {where_}"));
    };
    user.enabled = enabled;
    store.replace(user).await.map_err(failed)?;
    let state = if enabled { "enabled" } else { "disabled" };
    let _ = writeln!(io::stdout(), "ftpd: user {name} {state}");
    Ok(())
}

/// One line of `ftpd user list`.
fn describe(user: &VirtualUser) -> String {
    let or_dash = |v: Option<String>| v.unwrap_or_else(|| "-".into());
    let allow = if user.allow_from.is_empty() {
        "any".to_owned()
    } else {
        user.allow_from
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",")
    };
    format!(
        "{} home={} perms={} quota={} max-sessions={} {} allow-from={allow}",
        user.name,
        user.home,
        user.permissions,
        or_dash(user.quota.map(|q| q.to_string())),
        or_dash(user.max_sessions.map(|m| m.to_string())),
        if user.enabled { "enabled" } else { "disabled" },
    )
}

/// The password: a prompt without echo on a terminal (asked twice), else stdin's first line.
fn read_password(name: &str) -> Result<Vec<u8>, String> {
    let password = if io::stdin().is_terminal() {
        let first = rpassword::prompt_password(format!("Password for {name}: "))
            .map_err(|e| format!("cannot read the password: {e}"))?;
        let again = rpassword::prompt_password("Again: ")
            .map_err(|e| format!("cannot read the password: {e}"))?;
        if first != again {
            return Err("the passwords differ".into());
        }
        first.into_bytes()
    } else {
        let mut line = Vec::new();
        io::stdin()
            .lock()
            .take(MAX_PASSWORD as u64 + 2)
            .read_until(b'\n', &mut line)
            .map_err(|e| format!("cannot read the password from stdin: {e}"))?;
        if line.last() == Some(&b'\n') {
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
        }
        line
    };
    if password.is_empty() {
        return Err("empty password (give it on the first line of stdin, or at the prompt)".into());
    }
    if password.len() > MAX_PASSWORD {
        return Err(format!("password longer than {MAX_PASSWORD} bytes"));
    }
    if password.iter().any(|&b| b == b'\r' || b == b'\n' || b == 0) {
        return Err("the password contains CR, LF or NUL, which FTP cannot send".into());
    }
    Ok(password)
}

async fn hash(password: Vec<u8>) -> Result<HashedPassword, String> {
    tokio::task::spawn_blocking(move || HashedPassword::hash(&password))
        .await
        .map_err(|e| format!("hashing failed: {e}"))?
        .map_err(|e| e.to_string())
}

/// The authenticator `ftpd` serves with.
#[derive(Debug)]
pub(crate) enum Users {
    /// `--user NAME:PASSWORD` flags and/or anonymous access.
    Static(StaticUsers),
    /// `--users-file`.
    File(VirtualUsers<FileStore>),
    /// `--users-db`.
    Sql(VirtualUsers<SqlStore>),
    /// `--pam SERVICE`.
    #[cfg(all(target_os = "linux", feature = "pam"))]
    Pam(ftp_server_tokio::auth::PamUsers),
}

impl Authenticator for Users {
    async fn authenticate(&self, credentials: Credentials<'_>) -> Result<Principal, AuthError> {
        match self {
            Users::Static(users) => users.authenticate(credentials).await,
            Users::File(users) => users.authenticate(credentials).await,
            Users::Sql(users) => users.authenticate(credentials).await,
            #[cfg(all(target_os = "linux", feature = "pam"))]
            Users::Pam(users) => users.authenticate(credentials).await,
        }
    }
}
