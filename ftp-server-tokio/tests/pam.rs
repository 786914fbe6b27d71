//! System users through PAM (feature `pam`, Linux): the right password, a wrong one, an
//! unknown user, a locked account, names refused before PAM, a service file that is missing
//! or disappears, a stack that cannot load its module, and a login through the whole server.
//!
//! It uses what scripts/foreign-servers.sh prepares as root (scripts/test.sh runs it): the
//! system user `ftprs` with the password `ftprs-test-password` and the PAM service
//! /etc/pam.d/ftp-rs-test (pam_unix `nodelay`, so failures are fast). It creates, as root, a
//! locked user and two throw-away service files of its own and removes them at the end.
//! Without root or without the user and service, it says SKIPPED (and fails when `CI` is set).

#![cfg(all(target_os = "linux", feature = "pam"))]

mod support_ftp;

use std::io::Write as _;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use ftp_proto::{Secret, VirtualPath};
use ftp_server_tokio::auth::{
    AnonymousPolicy, AuthError, Authenticator, Credentials, PamServiceError, PamUsers, Permissions,
    Principal,
};
use ftp_server_tokio::server::Server;
use ftp_server_tokio::storage::memory::MemoryStorage;
use support_ftp::Control;

// Keep in step with scripts/foreign-servers.sh.
const SERVICE: &str = "ftp-rs-test";
const USER: &str = "ftprs";
const PASSWORD: &str = "ftprs-test-password";

fn loud(message: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{message}");
    let _ = err.flush();
}

fn run(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdout(std::process::Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Root, the test user and the service are there; otherwise a loud skip (a failure in CI).
fn ready() -> bool {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.trim_ascii() == b"0");
    let user = run("getent", &["passwd", USER]);
    let service = std::path::Path::new("/etc/pam.d").join(SERVICE).is_file();
    if root && user && service {
        return true;
    }
    let message = format!(
        "SKIPPED: the PAM tests need root (root: {root}), the system user {USER} (there: {user}) \
         and /etc/pam.d/{SERVICE} (there: {service}); run scripts/foreign-servers.sh as root"
    );
    if std::env::var_os("CI").is_some() {
        panic!("{message}, and CI is set");
    }
    loud(&message);
    false
}

fn login<'a>(user: &'a str, password: &'a Secret<Vec<u8>>) -> Credentials<'a> {
    Credentials {
        user,
        password,
        peer: "127.0.0.1:40000".parse().unwrap(),
        tls: false,
        anonymous: false,
    }
}

async fn try_login(users: &PamUsers, user: &str, password: &str) -> Result<Principal, AuthError> {
    let password = Secret::new(password.as_bytes().to_vec());
    users.authenticate(login(user, &password)).await
}

fn path(text: &str) -> VirtualPath {
    ftp_server_tokio::auth::parse_home(text).unwrap()
}

/// A system user created for the test (locked), removed when dropped.
struct LockedUser(&'static str);

impl LockedUser {
    fn create(name: &'static str) -> Self {
        let _ = Command::new("userdel")
            .arg(name)
            .stderr(std::process::Stdio::null())
            .status();
        assert!(run(
            "useradd",
            &[
                "--system",
                "--no-create-home",
                "--home-dir",
                "/",
                "--shell",
                "/usr/sbin/nologin",
                name
            ]
        ));
        let mut chpasswd = Command::new("chpasswd")
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = chpasswd.stdin.take().unwrap();
        writeln!(stdin, "{name}:{PASSWORD}").unwrap();
        drop(stdin);
        assert!(chpasswd.wait().unwrap().success());
        assert!(run("usermod", &["--lock", name]));
        Self(name)
    }
}

impl Drop for LockedUser {
    fn drop(&mut self) {
        let _ = Command::new("userdel").arg(self.0).status();
    }
}

/// A PAM service file written for the test, removed when dropped.
struct ServiceFile(PathBuf);

impl ServiceFile {
    fn create(name: &str, text: &str) -> Self {
        let path = std::path::Path::new("/etc/pam.d").join(name);
        std::fs::write(&path, text).unwrap();
        Self(path)
    }
}

impl Drop for ServiceFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn logins() {
    if !ready() {
        return;
    }
    let locked = LockedUser::create("ftprs-pamlock");
    let users = PamUsers::new(SERVICE).unwrap();
    assert_eq!(users.service(), SERVICE);
    let shared = PamUsers::new(SERVICE)
        .unwrap()
        .with_home_base(path("/home"))
        .with_permissions(Permissions::ALL);

    // The failures run at once: each costs the stack's failure delay.
    let (right, based, wrong, unknown, locked_out, empty) = tokio::join!(
        try_login(&users, USER, PASSWORD),
        try_login(&shared, USER, PASSWORD),
        try_login(&users, USER, "not-the-password"),
        try_login(&users, "ftprs-no-such-user", PASSWORD),
        try_login(&users, locked.0, PASSWORD),
        try_login(&users, USER, ""),
    );
    let right = right.unwrap();
    assert_eq!(right.name, USER);
    assert_eq!(right.home, path("/ftprs"));
    assert_eq!(right.permissions, Permissions::READ_ONLY);
    assert!(!right.anonymous);
    let based = based.unwrap();
    assert_eq!(based.home, path("/home/ftprs"));
    assert_eq!(based.permissions, Permissions::ALL);
    assert_eq!(wrong, Err(AuthError::Rejected));
    assert_eq!(unknown, Err(AuthError::Rejected));
    assert_eq!(locked_out, Err(AuthError::Rejected));
    assert_eq!(empty, Err(AuthError::Rejected));

    // Refused before PAM: names that are no system user's, a password with NUL.
    for name in ["", "..", "a/b", "ftprs\n", "ftprs\0", " ftprs"] {
        assert_eq!(
            try_login(&users, name, PASSWORD).await,
            Err(AuthError::Rejected),
            "{name:?}"
        );
    }
    assert_eq!(
        try_login(&users, USER, "ftprs-test-password\0x").await,
        Err(AuthError::Rejected)
    );

    // Anonymous logins never reach PAM: refused unless a policy is set.
    let password = Secret::new(b"guest@".to_vec());
    let anon = Credentials {
        anonymous: true,
        ..login("anonymous", &password)
    };
    assert_eq!(users.authenticate(anon).await, Err(AuthError::Rejected));
    let with_anon = PamUsers::new(SERVICE)
        .unwrap()
        .with_anonymous(AnonymousPolicy::default());
    assert!(with_anon.authenticate(anon).await.unwrap().anonymous);
    drop(locked);
}

#[tokio::test(flavor = "multi_thread")]
async fn services_missing_or_broken() {
    if !ready() {
        return;
    }
    // No file: refused up front (Linux-PAM would quietly use /etc/pam.d/other).
    assert_eq!(
        PamUsers::new("ftp-rs-no-such-service").unwrap_err(),
        PamServiceError::NotFound("ftp-rs-no-such-service".into())
    );

    // A file that disappears after start: 421, not a login through `other`.
    let text = std::fs::read_to_string(std::path::Path::new("/etc/pam.d").join(SERVICE)).unwrap();
    let gone = ServiceFile::create("ftp-rs-test-gone", &text);
    let users = PamUsers::new("ftp-rs-test-gone").unwrap();
    assert_eq!(users.service_file(), gone.0.as_path());
    drop(gone);
    assert_eq!(
        try_login(&users, USER, PASSWORD).await,
        Err(AuthError::Unavailable)
    );

    // A stack whose module cannot be loaded: 421 (PAM_ABORT/PAM_SYSTEM_ERR class), for the
    // right password as for a wrong one.
    let broken = ServiceFile::create(
        "ftp-rs-test-broken",
        "auth required pam_ftp_rs_no_such_module.so\naccount required pam_permit.so\n",
    );
    let users = PamUsers::new("ftp-rs-test-broken").unwrap();
    assert_eq!(
        try_login(&users, USER, PASSWORD).await,
        Err(AuthError::Unavailable)
    );
    drop(broken);
}

#[tokio::test(flavor = "multi_thread")]
async fn through_the_server() {
    if !ready() {
        return;
    }
    let storage = MemoryStorage::new()
        .with_file("/ftprs/hello.txt", "hello")
        .with_file("/outside.txt", "not for ftprs");
    let bound = Server::new(storage, PamUsers::new(SERVICE).unwrap())
        .listen("127.0.0.1:0".parse().unwrap())
        .session_config(|c| c.failed_login_delay = Duration::ZERO)
        .bind()
        .await
        .unwrap();
    let addr = bound.local_addrs()[0];
    tokio::spawn(bound.run());

    let (mut good, mut bad) = tokio::join!(Control::connect(addr), Control::connect(addr));
    let user = format!("USER {USER}");
    tokio::join!(good.expect(&user, 331), bad.expect(&user, 331));
    let pass = format!("PASS {PASSWORD}");
    tokio::join!(
        good.expect(&pass, 230),
        bad.expect("PASS not-the-password", 530),
    );
    // The home is /ftprs, read-only by default.
    assert!(good.expect("PWD", 257).await.contains("\"/\""));
    good.expect("TYPE I", 200).await;
    good.expect("SIZE hello.txt", 213).await;
    good.expect("SIZE /outside.txt", 550).await;
    good.expect("MKD new", 550).await;
    good.expect("QUIT", 221).await;
}
