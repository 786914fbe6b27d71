//! FTP servers we did not write, for the client tests: vsftpd, pure-ftpd and pyftpdlib.
//!
//! [`ForeignServer::start`] runs one on 127.0.0.1 (a free control port; passive ports from a
//! random window below 32768, the ephemeral range) over a fresh temporary directory, waits for
//! its 220 greeting, and kills it and every process it forked, by PID, when dropped. The user
//! logs in with a password (no anonymous login) and may list, download, upload, resume
//! (REST before RETR; REST before STOR, or APPE), rename, delete and create or remove
//! directories, in passive (EPSV, PASV) and active (EPRT, PORT to 127.0.0.1) mode. Its login
//! directory is `/`, which is [`ForeignServer::root`] on disk and is writable.
//!
//! The servers come from `bash scripts/foreign-servers.sh` (Debian packages unpacked into
//! `.tools/foreign-servers`, or `$FTP_FOREIGN_SERVERS_DIR`). When one cannot run, `start`
//! says `SKIPPED` and returns `None`; under `CI` it panics instead.
//!
//! How each server is set up:
//! - **vsftpd** (needs root): a local login of the system user `ftprs`, checked by PAM
//!   (service `ftp-rs-test`, pam_unix), chrooted to `local_root` = the root, which
//!   `allow_writeable_chroot` lets be writable. vsftpd drops to `ftprs` after login.
//! - **pure-ftpd** (needs root): a virtual user `ftprs` from a puredb file, mapped to the
//!   system user `ftprs`'s uid and gid, chrooted to the root; `-E` no anonymous login.
//! - **pyftpdlib** (any user): `DummyAuthorizer` user `ftprs` with perms `elradfmwMT` and home
//!   the root; it runs as the test's own user.
//!
//! Files: the servers that drop privileges act as `ftprs`, so the root and everything
//! [`ForeignServer::write_file`] / [`ForeignServer::create_dir`] make are chowned to `ftprs`
//! (the tests run as root for those servers), and the temporary directory above the root is
//! mode 755 so `ftprs` can reach it. Files the server creates are read back as root.
//!
//! What the servers do differently (seen with these versions; client tests must allow it):
//! - greeting: vsftpd `220 (vsFTPd 3.0.3)`; pure-ftpd a five-line `220-` reply; pyftpdlib
//!   `220 pyftpdlib 1.5.7 ready.`
//! - MLSD/MLST: vsftpd has neither (`500 Unknown command.`); pure-ftpd and pyftpdlib have both
//!   (pure-ftpd's MLSD includes `type=cdir` `.` and `type=pdir` `..`). All have SIZE, MDTM,
//!   EPSV, EPRT, `REST STREAM`; FEAT lists them. SYST before login: vsftpd 530.
//! - LIST: `ls -l` lines with CRLF, no `total` line; owner columns are numeric uid/gid
//!   (vsftpd), uid and group name (pure-ftpd), names of the test's user (pyftpdlib). `LIST -a`
//!   adds `.` and `..` on vsftpd and pure-ftpd, pyftpdlib ignores `-a`. Dot files: LIST hides
//!   them on vsftpd and pure-ftpd (without `-a`), pyftpdlib shows them.
//! - NLST: pure-ftpd names `.`, `..` and dot files; vsftpd hides dot files; pyftpdlib shows
//!   dot files but not `.` or `..`.
//! - REST + STOR: all accept it (350, then 150/226), but pure-ftpd truncates the file after
//!   the bytes written (REST 5, STOR "XYZ" over "0123456789" leaves "01234XYZ"), while vsftpd
//!   and pyftpdlib overwrite in place ("01234XYZ89"). APPE works on all.
//! - ABOR: without a transfer vsftpd and pyftpdlib answer 225, pure-ftpd 226. During a RETR,
//!   vsftpd and pure-ftpd do not read the control channel while the data connection is
//!   blocked: the client must close the data connection (with or without Telnet IP/Synch),
//!   then vsftpd answers `426 Failure writing network stream.` + `225`, pure-ftpd a stray
//!   `150 <seconds> ...` statistics line + `226`; pyftpdlib answers `426` + `226` at once.
//! - EPSV 2: 522 on all (IPv4 only). `EPSV ALL`: vsftpd 200, pure-ftpd and pyftpdlib 220
//!   (pure-ftpd's text: "Active mode is disabled"); then PORT/EPRT get 501 on pure-ftpd and
//!   pyftpdlib.
//! - `OPTS UTF8 ON`: vsftpd 200, pure-ftpd 504, pyftpdlib 501. Unknown verbs: 500. Missing
//!   files, non-empty RMD, existing MKD: 550 on all.
//! - pure-ftpd logs only to syslog, so [`ForeignServer::log`] is empty for it; vsftpd's
//!   protocol log and pyftpdlib's debug log are there.
//!
//! FTPS ([`ForeignServer::start_tls`]): a CA and a server certificate for `127.0.0.1` and
//! `localhost` are made at run time ([`TestPki`]; no key is committed), and each server
//! requires TLS for logins and data:
//! - **vsftpd**: `ssl_enable`, `force_local_logins_ssl`, `force_local_data_ssl`,
//!   `require_ssl_reuse` (every data connection must resume the control connection's TLS
//!   session, else `522 SSL connection failed: session reuse required`), `ssl_ciphers=HIGH`
//!   (3.0.3's default is 3DES, which neither OpenSSL 3 nor rustls offers); `implicit_ssl` for
//!   [`TlsSetup::Implicit`]. This version has no option to pick TLS 1.2 or 1.3 (only
//!   `ssl_tlsv1`, `ssl_sslv2`, `ssl_sslv3`): it offers both, and the tests choose from the
//!   client's side.
//! - **pure-ftpd**: `-Y 3` (TLS for control and data connections) with `-2 cert,key`.
//! - **pyftpdlib**: `TLS_FTPHandler` (pyOpenSSL: Debian's `python3-openssl`) with
//!   `tls_control_required` and `tls_data_required`; no implicit TLS.

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::fmt;
use std::fs;
use std::hash::{BuildHasher, Hasher};
use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::{loud, skip};

/// Whether (and how) a foreign server speaks TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TlsSetup {
    /// Plain FTP.
    None,
    /// Explicit FTPS (AUTH TLS), required for logins and data.
    Explicit,
    /// Implicit FTPS: TLS from the first byte (vsftpd only).
    Implicit,
}

/// A CA and a server certificate it signed, for `127.0.0.1` and `localhost`, made at run
/// time.
#[derive(Debug, Clone)]
pub(crate) struct TestPki {
    /// The CA certificate (what clients trust), PEM.
    pub(crate) ca_pem: String,
    /// The server's certificate, PEM.
    pub(crate) cert_pem: String,
    /// The server's private key, PEM.
    pub(crate) key_pem: String,
}

impl TestPki {
    /// A fresh CA and a certificate for `names` signed by it.
    pub(crate) fn new(names: &[&str]) -> TestPki {
        use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "ftp-rs test CA");
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("CA key"))
            .expect("CA certificate");
        let key = KeyPair::generate().expect("server key");
        let params = server_params(names);
        let cert = params.signed_by(&key, &ca).expect("server certificate");
        TestPki {
            ca_pem: ca.pem(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    /// A self-signed server certificate for `names`, marked as a CA (basicConstraints
    /// cA=TRUE, critical), as `openssl req -x509` makes them by default; what clients trust is
    /// the certificate itself.
    pub(crate) fn self_signed_ca(names: &[&str]) -> TestPki {
        use rcgen::{BasicConstraints, IsCa, KeyPair};
        let key = KeyPair::generate().expect("server key");
        let mut params = server_params(names);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let cert = params.self_signed(&key).expect("self-signed certificate");
        TestPki {
            ca_pem: cert.pem(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }
}

/// The parameters of a server certificate for `names` (its subjectAltNames), with the first
/// name as its CN.
fn server_params(names: &[&str]) -> rcgen::CertificateParams {
    let mut params =
        rcgen::CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
            .expect("server params");
    params.distinguished_name.push(
        rcgen::DnType::CommonName,
        names.first().copied().unwrap_or("test"),
    );
    params
}

/// The user every foreign server knows; vsftpd and pure-ftpd run its sessions as the system
/// user of that name (made by `scripts/foreign-servers.sh`, which uses the same constants).
pub(crate) const TEST_USER: &str = "ftprs";
/// [`TEST_USER`]'s password (the system user's too: vsftpd checks it through PAM).
pub(crate) const TEST_PASSWORD: &str = "ftprs-test-password";
/// The PAM service vsftpd authenticates with (`/etc/pam.d/ftp-rs-test`).
const PAM_SERVICE: &str = "ftp-rs-test";
/// SHA-512 crypt of [`TEST_PASSWORD`] for pure-ftpd's puredb: `pure-pw` would write an
/// argon2id hash, which costs about 4 s per login here.
const TEST_PASSWORD_CRYPT: &str = "$6$ftprstestsalt$L3ca5IhwEpzFtWig3dFlvq1v.WGSvGbtjpJEqhnmy7y/Dt0pRMUR.OUZFUAHmnERWH6nGUOD44z6cizkRO9d5.";

/// How long a server may take to answer with its 220 greeting.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(15);
/// Ports per passive window; each server gets its own random window below 32768.
const PASSIVE_PORTS: u16 = 200;

/// Which foreign server to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ServerKind {
    /// vsftpd 3.0.3 (Debian bookworm), local user through PAM.
    Vsftpd,
    /// pure-ftpd 1.0.50 (Debian bookworm), puredb virtual user.
    PureFtpd,
    /// pyftpdlib 1.5.7 (Debian bookworm), `DummyAuthorizer` user.
    Pyftpdlib,
}

impl ServerKind {
    /// Every kind, for tests that loop over them.
    pub(crate) const ALL: [ServerKind; 3] = [Self::Vsftpd, Self::PureFtpd, Self::Pyftpdlib];

    /// The program's name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Vsftpd => "vsftpd",
            Self::PureFtpd => "pure-ftpd",
            Self::Pyftpdlib => "pyftpdlib",
        }
    }
}

impl fmt::Display for ServerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A running foreign server over a temporary directory; dropping it kills the server (and
/// its session processes) and removes the directory.
pub(crate) struct ForeignServer {
    /// Which server this is.
    pub(crate) kind: ServerKind,
    /// The control address (127.0.0.1 and a free port).
    pub(crate) addr: SocketAddr,
    /// The user name to log in with.
    pub(crate) user: String,
    /// Its password.
    pub(crate) password: String,
    /// On disk, the directory the user sees as `/` (its login directory, writable).
    pub(crate) root: PathBuf,
    /// The passive port range the server was given (inclusive).
    pub(crate) passive_ports: (u16, u16),
    /// The uid and gid the server's sessions run as, when it switches users (the owner given
    /// to seeded files); `None`: they run as the test process.
    pub(crate) owner: Option<(u32, u32)>,
    /// How it speaks TLS.
    pub(crate) tls: TlsSetup,
    /// Its certificates when it speaks TLS.
    pub(crate) pki: Option<TestPki>,
    child: Child,
    dir: tempfile::TempDir,
    log_path: PathBuf,
    description: String,
}

impl fmt::Debug for ForeignServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ForeignServer")
            .field("kind", &self.kind)
            .field("addr", &self.addr)
            .field("root", &self.root)
            .field("pid", &self.child.id())
            .finish_non_exhaustive()
    }
}

/// Where `scripts/foreign-servers.sh` put the servers.
fn tools_dir() -> PathBuf {
    match std::env::var_os("FTP_FOREIGN_SERVERS_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../.tools/foreign-servers"),
    }
}

/// `LD_LIBRARY_PATH` for the unpacked binaries: the libraries the machine lacked.
fn library_path(tools: &Path) -> String {
    [
        "usr/lib/x86_64-linux-gnu",
        "lib/x86_64-linux-gnu",
        "usr/lib",
        "lib",
    ]
    .iter()
    .map(|d| tools.join("root").join(d).display().to_string())
    .collect::<Vec<_>>()
    .join(":")
}

/// The effective uid of this process (the owner of `/proc/self`).
fn euid() -> Option<u32> {
    fs::metadata("/proc/self").ok().map(|m| m.uid())
}

/// uid and gid of the system user `name`, from `/etc/passwd`.
fn system_user(name: &str) -> Option<(u32, u32)> {
    let passwd = fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        if fields.len() >= 4 && fields[0] == name {
            Some((fields[2].parse().ok()?, fields[3].parse().ok()?))
        } else {
            None
        }
    })
}

/// A random number (std's per-process random hash keys, plus the clock and a counter).
fn random_u64() -> u64 {
    let mut h = RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    h.write_u32(std::process::id());
    h.finish()
}

/// A port that was free a moment ago on 127.0.0.1 (from the ephemeral range).
fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

/// A passive port window of [`PASSIVE_PORTS`] ports within 10000..32000.
fn passive_window() -> (u16, u16) {
    let slots = (32_000 - 10_000) / PASSIVE_PORTS;
    let low = 10_000 + (random_u64() % u64::from(slots)) as u16 * PASSIVE_PORTS;
    (low, low + PASSIVE_PORTS - 1)
}

/// What a server needs that is not there, or the Python interpreter that can import
/// pyftpdlib.
fn check_requirements(
    kind: ServerKind,
    tools: &Path,
    tls: TlsSetup,
) -> Result<Option<String>, String> {
    if tls == TlsSetup::Implicit && kind != ServerKind::Vsftpd {
        panic!("{kind} has no implicit TLS here; only vsftpd does");
    }
    let exists = |rel: &str| {
        let path = tools.join("root").join(rel);
        if path.exists() {
            Ok(())
        } else {
            Err(format!(
                "{} is missing: run `bash scripts/foreign-servers.sh`",
                path.display()
            ))
        }
    };
    let needs_root = || {
        if euid() == Some(0) {
            Ok(())
        } else {
            Err(format!("{kind} needs root (it chroots and switches users)"))
        }
    };
    let needs_unshare = || {
        let found = Command::new("unshare")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if found {
            Ok(())
        } else {
            Err("unshare (util-linux) is missing".to_owned())
        }
    };
    let needs_user = || {
        system_user(TEST_USER).map(|_| ()).ok_or_else(|| {
            format!(
                "system user {TEST_USER} is missing: run `bash scripts/foreign-servers.sh` as root"
            )
        })
    };
    match kind {
        ServerKind::Vsftpd => {
            exists("usr/sbin/vsftpd")?;
            needs_root()?;
            needs_unshare()?;
            needs_user()?;
            let pam = Path::new("/etc/pam.d").join(PAM_SERVICE);
            if !pam.exists() {
                return Err(format!(
                    "{} is missing: run `bash scripts/foreign-servers.sh` as root",
                    pam.display()
                ));
            }
            Ok(None)
        }
        ServerKind::PureFtpd => {
            exists("usr/sbin/pure-ftpd")?;
            exists("usr/bin/pure-pw")?;
            needs_root()?;
            needs_unshare()?;
            needs_user()?;
            Ok(None)
        }
        ServerKind::Pyftpdlib => {
            // Debian's package is for Debian's python3; any python3 up to 3.11 (asyncore) will do.
            let mut tried = Vec::new();
            let import = if tls == TlsSetup::None {
                "import pyftpdlib.servers"
            } else {
                "import pyftpdlib.servers, OpenSSL"
            };
            for python in ["/usr/bin/python3", "python3"] {
                let out = Command::new(python)
                    .args(["-c", import])
                    .env("PYTHONPATH", pythonpath(tools))
                    .stdin(Stdio::null())
                    .output();
                match out {
                    Ok(out) if out.status.success() => return Ok(Some(python.to_owned())),
                    Ok(out) => tried.push(format!(
                        "{python}: {}",
                        String::from_utf8_lossy(&out.stderr).trim()
                    )),
                    Err(e) => tried.push(format!("{python}: {e}")),
                }
            }
            Err(format!(
                "no python3 can import pyftpdlib{} (run `bash scripts/foreign-servers.sh`, as root for python3-openssl): {}",
                if tls == TlsSetup::None {
                    ""
                } else {
                    " and pyOpenSSL"
                },
                tried.join("; ")
            ))
        }
    }
}

/// `PYTHONPATH` with the unpacked pyftpdlib first.
fn pythonpath(tools: &Path) -> String {
    let ours = tools.join("root/usr/lib/python3/dist-packages");
    match std::env::var("PYTHONPATH") {
        Ok(old) if !old.is_empty() => format!("{}:{old}", ours.display()),
        _ => ours.display().to_string(),
    }
}

/// pyftpdlib's server: binds port 0 and writes the port to a file once listening.
const PYFTPDLIB_SERVER: &str = r#"
import logging, os, sys
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.log import config_logging
from pyftpdlib.servers import FTPServer

root, user, password, low, high, port_file = sys.argv[1:7]
certfile = sys.argv[7] if len(sys.argv) > 8 else None
config_logging(level=logging.DEBUG)
authorizer = DummyAuthorizer()
authorizer.add_user(user, password, root, perm="elradfmwMT")

if certfile:
    from pyftpdlib.handlers import TLS_FTPHandler

    class Handler(TLS_FTPHandler):
        pass

    Handler.certfile = certfile
    Handler.keyfile = sys.argv[8]
    Handler.tls_control_required = True
    Handler.tls_data_required = True
else:
    class Handler(FTPHandler):
        pass

Handler.authorizer = authorizer
Handler.passive_ports = range(int(low), int(high) + 1)
server = FTPServer(("127.0.0.1", 0), Handler)
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.address[1]))
os.rename(port_file + ".tmp", port_file)
server.serve_forever()
"#;

impl ForeignServer {
    /// Starts `kind` over a fresh empty directory and waits for its 220 greeting. `None` when
    /// the server cannot run here (it said `SKIPPED`); panics instead under `CI`, and when a
    /// server that can run does not start.
    pub(crate) fn start(kind: ServerKind) -> Option<ForeignServer> {
        Self::start_tls(kind, TlsSetup::None)
    }

    /// Like [`Self::start`], speaking TLS as `tls` says, with a fresh [`TestPki`] (in
    /// [`ForeignServer::pki`]).
    pub(crate) fn start_tls(kind: ServerKind, tls: TlsSetup) -> Option<ForeignServer> {
        let tools = tools_dir();
        let python = match check_requirements(kind, &tools, tls) {
            Ok(python) => python,
            Err(why) => {
                skip(&format!("{kind}: {why}"));
                return None;
            }
        };
        let mut errors = Vec::new();
        // A control port picked free can be taken before the server binds it: try again
        // with other ports.
        for _attempt in 0..3 {
            match Self::try_start(kind, &tools, python.as_deref(), tls) {
                Ok(server) => return Some(server),
                Err(e) => {
                    loud(&format!("{kind} did not start: {e}"));
                    errors.push(e);
                }
            }
        }
        panic!("{kind} did not start in 3 tries:\n{}", errors.join("\n"));
    }

    /// One try of [`Self::start`]: a fresh directory, fresh ports.
    fn try_start(
        kind: ServerKind,
        tools: &Path,
        python: Option<&str>,
        tls: TlsSetup,
    ) -> Result<Self, String> {
        let owner = match kind {
            ServerKind::Vsftpd | ServerKind::PureFtpd => system_user(TEST_USER),
            ServerKind::Pyftpdlib => None,
        };
        let dir = tempfile::Builder::new()
            .prefix(&format!("ftp-foreign-{}-", kind.name()))
            .tempdir()
            .expect("create temp dir");
        // The sessions of vsftpd and pure-ftpd run as TEST_USER and must reach the root.
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).expect("chmod");
        let root = dir.path().join("root");
        fs::create_dir(&root).expect("create root");
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(&root, Some(uid), Some(gid)).expect("chown root");
        }
        let log_path = dir.path().join("server.out");
        let passive_ports = passive_window();
        let pki = (tls != TlsSetup::None).then(|| TestPki::new(&["127.0.0.1", "localhost"]));
        if let Some(pki) = &pki {
            // Outside the root: the server reads them as root (vsftpd, pure-ftpd) or as us.
            for (name, text) in [("cert.pem", &pki.cert_pem), ("key.pem", &pki.key_pem)] {
                let path = dir.path().join(name);
                fs::write(&path, text).expect("write TLS file");
                fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).expect("chmod");
            }
        }
        let (mut command, port) =
            Self::command(kind, tools, dir.path(), &root, passive_ports, python, tls);
        let log = fs::File::create(&log_path).expect("create server log");
        let log_err = log.try_clone().expect("clone log");
        command
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            // Its own process group, so that nothing it forks can outlive Drop.
            .process_group(0);
        let description = format!("{command:?}");
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {description}: {e}"));
        let mut server = ForeignServer {
            kind,
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port.unwrap_or(0))),
            user: TEST_USER.to_owned(),
            password: TEST_PASSWORD.to_owned(),
            root,
            passive_ports,
            owner,
            tls,
            pki,
            child,
            dir,
            log_path,
            description,
        };
        // On error, dropping `server` kills it and removes its directory.
        server.wait_for_greeting().map_err(|e| {
            format!(
                "{e}\ncommand: {}\nlog:\n{}",
                server.description,
                server.log()
            )
        })?;
        Ok(server)
    }

    /// The command line for `kind`, and the control port when chosen here (pyftpdlib picks
    /// its own and writes it to a file).
    fn command(
        kind: ServerKind,
        tools: &Path,
        dir: &Path,
        root: &Path,
        (low, high): (u16, u16),
        python: Option<&str>,
        tls: TlsSetup,
    ) -> (Command, Option<u16>) {
        let bin = |rel: &str| tools.join("root").join(rel);
        let cert = dir.join("cert.pem");
        let key = dir.join("key.pem");
        match kind {
            ServerKind::Vsftpd => {
                let port = free_port();
                let empty = dir.join("empty");
                fs::create_dir_all(&empty).expect("create secure_chroot_dir");
                let conf = dir.join("vsftpd.conf");
                let text = format!(
                    "# ftp-client-tokio tests: one local user, chrooted to a writable root\n\
                     listen=YES\n\
                     listen_ipv6=NO\n\
                     listen_address=127.0.0.1\n\
                     listen_port={port}\n\
                     background=NO\n\
                     anonymous_enable=NO\n\
                     local_enable=YES\n\
                     pam_service_name={PAM_SERVICE}\n\
                     write_enable=YES\n\
                     local_umask=022\n\
                     chroot_local_user=YES\n\
                     local_root={root}\n\
                     allow_writeable_chroot=YES\n\
                     secure_chroot_dir={empty}\n\
                     seccomp_sandbox=NO\n\
                     isolate=NO\n\
                     isolate_network=NO\n\
                     pasv_enable=YES\n\
                     pasv_min_port={low}\n\
                     pasv_max_port={high}\n\
                     port_enable=YES\n\
                     connect_from_port_20=NO\n\
                     dirmessage_enable=NO\n\
                     syslog_enable=NO\n\
                     xferlog_enable=YES\n\
                     xferlog_std_format=NO\n\
                     log_ftp_protocol=YES\n\
                     vsftpd_log_file={log}\n",
                    root = root.display(),
                    empty = empty.display(),
                    log = dir.join("vsftpd.log").display(),
                );
                let text = if tls == TlsSetup::None {
                    text
                } else {
                    format!(
                        "{text}\
                         ssl_enable=YES\n\
                         allow_anon_ssl=NO\n\
                         force_local_logins_ssl=YES\n\
                         force_local_data_ssl=YES\n\
                         require_ssl_reuse=YES\n\
                         ssl_ciphers=HIGH\n\
                         debug_ssl=YES\n\
                         implicit_ssl={implicit}\n\
                         rsa_cert_file={cert}\n\
                         rsa_private_key_file={key}\n",
                        implicit = if tls == TlsSetup::Implicit {
                            "YES"
                        } else {
                            "NO"
                        },
                        cert = cert.display(),
                        key = key.display(),
                    )
                };
                fs::write(&conf, text).expect("write vsftpd.conf");
                fs::set_permissions(&conf, fs::Permissions::from_mode(0o600)).expect("chmod");
                let mut command = in_pid_namespace(&bin("usr/sbin/vsftpd"));
                command
                    .arg(&conf)
                    .env("LD_LIBRARY_PATH", library_path(tools));
                (command, Some(port))
            }
            ServerKind::PureFtpd => {
                let port = free_port();
                let (uid, gid) = system_user(TEST_USER).expect("checked before");
                let passwd = dir.join("pureftpd.passwd");
                let pdb = dir.join("pureftpd.pdb");
                // `/./` in the home: chroot there.
                let line = format!(
                    "{TEST_USER}:{TEST_PASSWORD_CRYPT}:{uid}:{gid}::{}/./::::::::::::\n",
                    root.display()
                );
                fs::write(&passwd, line).expect("write pureftpd.passwd");
                let out = Command::new(bin("usr/bin/pure-pw"))
                    .arg("mkdb")
                    .arg(&pdb)
                    .arg("-f")
                    .arg(&passwd)
                    .env("LD_LIBRARY_PATH", library_path(tools))
                    .stdin(Stdio::null())
                    .output()
                    .expect("run pure-pw mkdb");
                assert!(
                    out.status.success(),
                    "pure-pw mkdb failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                let mut command = in_pid_namespace(&bin("usr/sbin/pure-ftpd"));
                command
                    .arg("--bind")
                    .arg(format!("127.0.0.1,{port}"))
                    .arg("--login")
                    .arg(format!("puredb:{}", pdb.display()))
                    // -E no anonymous, -A chroot everyone, -H no DNS, -4 IPv4, -f none no
                    // syslog, -c/-C connection limits.
                    .args(["-E", "-A", "-H", "-4", "-f", "none", "-c", "50", "-C", "50"])
                    .arg("-p")
                    .arg(format!("{low}:{high}"))
                    .env("LD_LIBRARY_PATH", library_path(tools));
                if tls != TlsSetup::None {
                    // -Y 3: TLS required for the control and the data connections.
                    command.args(["-Y", "3", "-2"]).arg(format!(
                        "{},{}",
                        cert.display(),
                        key.display()
                    ));
                }
                (command, Some(port))
            }
            ServerKind::Pyftpdlib => {
                let mut command = Command::new(python.expect("checked before"));
                command
                    .args(["-c", PYFTPDLIB_SERVER])
                    .arg(root)
                    .args([TEST_USER, TEST_PASSWORD])
                    .arg(low.to_string())
                    .arg(high.to_string())
                    .arg(dir.join("port"))
                    .env("PYTHONPATH", pythonpath(tools));
                if tls != TlsSetup::None {
                    command.arg(&cert).arg(&key);
                }
                (command, None)
            }
        }
    }

    /// Waits until the control port answers with a 220 greeting (learning pyftpdlib's port
    /// first).
    fn wait_for_greeting(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("{} exited at startup ({status})", self.kind));
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "{} gave no 220 greeting within {STARTUP_TIMEOUT:?}",
                    self.kind
                ));
            }
            if self.addr.port() == 0 {
                if let Some(port) = fs::read_to_string(self.dir.path().join("port"))
                    .ok()
                    .and_then(|p| p.trim().parse::<u16>().ok())
                {
                    self.addr.set_port(port);
                } else {
                    thread::sleep(Duration::from_millis(20));
                    continue;
                }
            }
            if self.tls == TlsSetup::Implicit {
                // The greeting comes inside TLS: an accepted connection is enough.
                match TcpStream::connect_timeout(&self.addr, Duration::from_millis(500)) {
                    Ok(_) => return Ok(()),
                    Err(_) => {
                        thread::sleep(Duration::from_millis(20));
                        continue;
                    }
                }
            }
            match greeting(self.addr) {
                Ok(()) => return Ok(()),
                Err(_) => thread::sleep(Duration::from_millis(20)),
            }
        }
    }

    /// `ftp://127.0.0.1:PORT/` + `path` (URL-encoded by the caller), without credentials.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("ftp://{}/{}", self.addr, path.trim_start_matches('/'))
    }

    /// `USER:PASSWORD`, as curl's `-u` takes it.
    pub(crate) fn credentials(&self) -> String {
        format!("{}:{}", self.user, self.password)
    }

    /// On disk, the path the user sees as `/` + `rel`.
    pub(crate) fn local(&self, rel: &str) -> PathBuf {
        self.root.join(rel.trim_start_matches('/'))
    }

    /// Gives `path` to the user the server's sessions run as.
    fn give(&self, path: &Path) {
        if let Some((uid, gid)) = self.owner {
            std::os::unix::fs::chown(path, Some(uid), Some(gid))
                .unwrap_or_else(|e| panic!("chown {}: {e}", path.display()));
        }
    }

    /// Seeds the file `rel` (below the root) with `bytes`, readable, writable and deletable by
    /// the server's user. Missing parent directories are created (owned likewise).
    pub(crate) fn write_file(&self, rel: &str, bytes: &[u8]) {
        let path = self.local(rel);
        if let Some(parent) = path.parent() {
            self.create_dir_path(parent);
        }
        fs::write(&path, bytes).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        self.give(&path);
    }

    /// Creates the directory `rel` (and its missing parents) below the root, owned by the
    /// server's user.
    pub(crate) fn create_dir(&self, rel: &str) {
        self.create_dir_path(&self.local(rel));
    }

    fn create_dir_path(&self, path: &Path) {
        if path.is_dir() {
            return;
        }
        if let Some(parent) = path.parent() {
            self.create_dir_path(parent);
        }
        fs::create_dir(path).unwrap_or_else(|e| panic!("mkdir {}: {e}", path.display()));
        self.give(path);
    }

    /// The bytes of the file `rel` below the root (panics if it cannot be read).
    pub(crate) fn read_file(&self, rel: &str) -> Vec<u8> {
        let path = self.local(rel);
        fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
    }

    /// Whether `rel` exists below the root (file or directory).
    pub(crate) fn exists(&self, rel: &str) -> bool {
        self.local(rel).symlink_metadata().is_ok()
    }

    /// The names in the directory `rel` below the root, sorted.
    pub(crate) fn names(&self, rel: &str) -> Vec<String> {
        let path = self.local(rel);
        let mut names: Vec<String> = fs::read_dir(&path)
            .unwrap_or_else(|e| panic!("read dir {}: {e}", path.display()))
            .map(|e| {
                e.expect("dir entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        names.sort();
        names
    }

    /// The process id of what was started: the server itself (pyftpdlib), or the `unshare`
    /// whose child it is (vsftpd, pure-ftpd).
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the server wrote to stdout and stderr (pyftpdlib: its debug log), then vsftpd's
    /// protocol log (pure-ftpd logs nothing here: it only knows syslog).
    pub(crate) fn log(&self) -> String {
        let mut text = String::new();
        for path in [self.log_path.clone(), self.dir.path().join("vsftpd.log")] {
            if let Ok(bytes) = fs::read(&path) {
                text.push_str(&String::from_utf8_lossy(&bytes));
            }
        }
        text
    }

    /// Kills the server and everything it forked, and waits until they are gone: session
    /// processes first, leaves first, so that their parents reap them; then the server; then
    /// its process group. A session process can still be a zombie of its killed parent for a
    /// moment (init reaps it); that is waited for too, so nothing is left behind.
    fn stop(&mut self) {
        let pid = self.child.id();
        let tree = descendants(pid);
        for p in tree.iter().rev() {
            signal_kill(&p.to_string());
        }
        wait_gone(&tree, alive, Duration::from_secs(2));
        let _ = self.child.kill();
        let _ = self.child.wait();
        signal_kill(&format!("-{pid}"));
        wait_gone(
            &tree,
            |p| Path::new(&format!("/proc/{p}")).exists(),
            Duration::from_secs(2),
        );
    }
}

/// `kill -KILL -- TARGET` (a PID, or minus a process group id); errors ignored: it may be gone.
fn signal_kill(target: &str) {
    let _ = Command::new("kill")
        .args(["-KILL", "--", target])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Waits up to `limit` until `present` is false for every process of `pids`.
fn wait_gone(pids: &[u32], present: impl Fn(u32) -> bool, limit: Duration) {
    let deadline = Instant::now() + limit;
    while pids.iter().any(|&p| present(p)) && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
}

/// `unshare --pid --fork --kill-child -- sh -c '"$0" "$@" & wait' PROGRAM ...`: the forking C
/// servers run in a PID namespace of their own under a shell as its init, which reaps the
/// session processes that their session parents leave behind (vsftpd's would otherwise linger
/// as zombies of the machine's init); when the shell is killed the kernel kills everything
/// left in the namespace. (The server itself as the namespace's init does not work: vsftpd
/// then stops listening after its first session.)
fn in_pid_namespace(program: &Path) -> Command {
    let mut command = Command::new("unshare");
    command
        .args(["--pid", "--fork", "--kill-child", "--"])
        .args(["sh", "-c", r#""$0" "$@" & wait"#])
        .arg(program);
    command
}

/// Reads a greeting from `addr`: Ok once a `220 ` line arrives.
fn greeting(addr: SocketAddr) -> Result<(), String> {
    let stream =
        TcpStream::connect_timeout(&addr, Duration::from_millis(500)).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    loop {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) => return Err("closed before 220".into()),
            Ok(_) if line.starts_with("220 ") => return Ok(()),
            Ok(_)
                if line.starts_with("220-") || !line.starts_with(|c: char| c.is_ascii_digit()) => {}
            Ok(_) => return Err(format!("greeting {line:?}")),
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// Whether process `pid` exists and is not a zombie.
fn alive(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !matches!(
            stat.rsplit_once(") ")
                .and_then(|(_, rest)| rest.chars().next()),
            Some('Z') | Some('X')
        ),
        Err(_) => false,
    }
}

/// Every descendant of `root`, parents before children.
fn descendants(root: u32) -> Vec<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    if let Ok(entries) = fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            let Ok(stat) = fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            // Fields after the parenthesised command name: state, ppid, ...
            let ppid = stat
                .rsplit_once(") ")
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|p| p.parse::<u32>().ok());
            if let Some(ppid) = ppid {
                children.entry(ppid).or_default().push(pid);
            }
        }
    }
    let mut out = Vec::new();
    let mut queue = vec![root];
    while let Some(p) = queue.pop() {
        for &c in children.get(&p).map(Vec::as_slice).unwrap_or_default() {
            out.push(c);
            queue.push(c);
        }
    }
    out
}

impl Drop for ForeignServer {
    fn drop(&mut self) {
        if thread::panicking() {
            let log = self.log();
            let lines: Vec<&str> = log.lines().collect();
            let tail = lines[lines.len().saturating_sub(100)..].join("\n");
            loud(&format!(
                "---- {} ({}) log tail ----\n{tail}\n---- end of {} log ----",
                self.kind, self.description, self.kind
            ));
        }
        self.stop();
    }
}
