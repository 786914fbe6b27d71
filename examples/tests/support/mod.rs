//! Shared harness for the integration tests that drive the real `ftpd` binary.
//!
//! - [`FtpdBuilder`] / [`Ftpd`]: a private temporary root, the server started on a free port
//!   (it prints `listening on ADDR` once bound), killed by PID when dropped; its stderr goes
//!   to a log file that is shown when a test fails.
//! - [`run`]: runs a client program (curl, lftp, wget, python3) with a hard deadline.
//! - [`tool_available`]: the skip rule (fail under `CI`, loud skip otherwise).
//! - [`Control`]: a raw FTP control connection over `std::net::TcpStream` with read timeouts,
//!   for the security tests and for checks no client can make.
//! - data helpers: deterministic random bytes, trees of files, byte-for-byte comparisons.
//!
//! Each test binary uses a subset of this module.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// The user every test that needs one logs in as (`--user alice:secret`).
pub(crate) const USER: &str = "alice";
/// [`USER`]'s password.
pub(crate) const PASS: &str = "secret";

#[path = "../../../test-support/process.rs"]
mod process;
#[allow(unused_imports)] // each test binary uses a subset
pub(crate) use process::{Run, loud, random_bytes, run, skip, tool_available};

/// How long `ftpd` may take to print its `listening on` lines.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// Whether `[::1]` can be bound (same skip rule as [`tool_available`]).
pub(crate) fn ipv6_available() -> bool {
    if TcpListener::bind("[::1]:0").is_ok() {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("IPv6 loopback [::1] is not available and CI is set");
    }
    loud("SKIPPED: IPv6 loopback [::1] not available");
    false
}

// ---------------------------------------------------------------------------------------------
// ftpd
// ---------------------------------------------------------------------------------------------

/// A temporary directory with the served `root/` inside it (so files can be put *beside* the
/// root) and the arguments for `ftpd`.
pub(crate) struct FtpdBuilder {
    dir: tempfile::TempDir,
    root: PathBuf,
    args: Vec<OsString>,
    listens: usize,
}

impl FtpdBuilder {
    /// A fresh temporary directory with an empty `root/`.
    pub(crate) fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("ftpd-test-")
            .tempdir()
            .expect("create temp dir");
        let root = dir.path().join("root");
        fs::create_dir(&root).expect("create root");
        Self {
            dir,
            root,
            args: Vec::new(),
            listens: 0,
        }
    }

    /// The directory `ftpd` will serve (populate it before or after starting).
    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// The temporary directory holding `root/`: files here are outside the served tree.
    pub(crate) fn base(&self) -> &Path {
        self.dir.path()
    }

    /// Adds one argument.
    pub(crate) fn arg(mut self, arg: impl Into<OsString>) -> Self {
        let arg = arg.into();
        if arg == "--listen" {
            self.listens += 1;
        }
        self.args.push(arg);
        self
    }

    /// Adds several arguments.
    pub(crate) fn args<I: IntoIterator<Item = S>, S: Into<OsString>>(mut self, args: I) -> Self {
        for arg in args {
            self = self.arg(arg);
        }
        self
    }

    /// `--user alice:secret` (full permissions, home `/`).
    pub(crate) fn user(self) -> Self {
        self.arg("--user").arg(format!("{USER}:{PASS}"))
    }

    /// Starts `ftpd --root ROOT ARGS` (plus `--listen 127.0.0.1:0` when no `--listen` was
    /// given) and waits for its `listening on` lines.
    pub(crate) fn start(self) -> Ftpd {
        let FtpdBuilder {
            dir,
            root,
            mut args,
            mut listens,
        } = self;
        if listens == 0 {
            args.push("--listen".into());
            args.push("127.0.0.1:0".into());
            listens = 1;
        }
        if let Ok(level) = std::env::var("FTPD_TEST_LOG") {
            args.push("--log".into());
            args.push(level.into());
        }
        let log_path = dir.path().join("ftpd.log");
        let log = fs::File::create(&log_path).expect("create ftpd log");
        let mut command = Command::new(env!("CARGO_BIN_EXE_ftpd"));
        command
            .arg("--root")
            .arg(&root)
            .args(&args)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log);
        let description = format!("{command:?}");
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {description}: {e}"));
        let stdout = child.stdout.take().expect("ftpd stdout");
        let (tx, rx) = mpsc::channel();
        // Reads the listening lines, then keeps draining stdout so ftpd never blocks on it.
        thread::spawn(move || {
            let mut lines = BufReader::new(stdout);
            let mut line = Vec::new();
            loop {
                line.clear();
                match lines.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let text = String::from_utf8_lossy(&line);
                        let _ = tx.send(text.trim_end().to_owned());
                    }
                }
            }
        });
        let mut ftpd = Ftpd {
            child,
            addrs: Vec::new(),
            implicit_tls_addrs: Vec::new(),
            dir,
            root,
            log_path,
            description,
        };
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        let mut seen = Vec::new();
        while ftpd.addrs.len() < listens {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    // Printed before the `listening on` lines.
                    if let Some(addr) = line.strip_prefix("implicit TLS listening on ") {
                        let addr = addr.trim().parse().unwrap_or_else(|e| {
                            panic!("ftpd printed an unparsable address {line:?}: {e}")
                        });
                        ftpd.implicit_tls_addrs.push(addr);
                    }
                    if let Some(addr) = line.strip_prefix("listening on ") {
                        let addr: SocketAddr = addr.trim().parse().unwrap_or_else(|e| {
                            panic!("ftpd printed an unparsable address {line:?}: {e}")
                        });
                        assert_ne!(addr.port(), 0, "ftpd printed port 0: {line:?}");
                        ftpd.addrs.push(addr);
                    }
                    seen.push(line);
                }
                Err(_) => panic!(
                    "ftpd did not print {listens} `listening on ADDR` line(s) within {:?} \
                     (exited: {:?}); stdout so far: {seen:?}\ncommand: {}\nlog:\n{}",
                    STARTUP_TIMEOUT,
                    ftpd.child.try_wait().ok().flatten(),
                    ftpd.description,
                    ftpd.log()
                ),
            }
        }
        ftpd
    }
}

/// A running `ftpd`, killed (by its PID) when dropped.
pub(crate) struct Ftpd {
    child: Child,
    /// The bound addresses, in the order printed.
    pub(crate) addrs: Vec<SocketAddr>,
    /// The implicit-TLS listeners (`--implicit-tls-listen`), in the order printed.
    pub(crate) implicit_tls_addrs: Vec<SocketAddr>,
    dir: tempfile::TempDir,
    root: PathBuf,
    log_path: PathBuf,
    description: String,
}

impl Ftpd {
    /// The first listening address.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addrs[0]
    }

    /// The first listening port.
    pub(crate) fn port(&self) -> u16 {
        self.addr().port()
    }

    /// The served directory.
    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// The temporary directory holding `root/` (outside the served tree).
    pub(crate) fn base(&self) -> &Path {
        self.dir.path()
    }

    /// `ftp://127.0.0.1:PORT/` + `path` (already URL-encoded by the caller).
    pub(crate) fn url(&self, path: &str) -> String {
        let path = path.trim_start_matches('/');
        match self.addr().ip() {
            IpAddr::V4(ip) => format!("ftp://{ip}:{}/{path}", self.port()),
            IpAddr::V6(ip) => format!("ftp://[{ip}]:{}/{path}", self.port()),
        }
    }

    /// Everything ftpd wrote to stderr so far.
    pub(crate) fn log(&self) -> String {
        fs::read(&self.log_path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_else(|e| format!("(no log: {e})"))
    }

    /// Panics unless the server process is still running.
    pub(crate) fn assert_alive(&mut self) {
        match self.child.try_wait() {
            Ok(None) => {}
            Ok(Some(status)) => panic!("ftpd exited ({status}); log:\n{}", self.log()),
            Err(e) => panic!("cannot query ftpd: {e}"),
        }
    }

    /// The server's process id (to send it signals with `kill(1)`).
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits up to `timeout` for the server to exit.
    pub(crate) fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// A raw control connection to the first address, greeting (220) read.
    pub(crate) fn control(&self) -> Control {
        let mut c = Control::connect(self.addr());
        c.expect(220);
        c
    }

    /// A raw control connection logged in as `user`/`pass`.
    pub(crate) fn login(&self, user: &str, pass: &str) -> Control {
        let mut c = self.control();
        c.login(user, pass);
        c
    }
}

impl Drop for Ftpd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if thread::panicking() {
            let log = self.log();
            let tail: String = {
                let lines: Vec<&str> = log.lines().collect();
                let from = lines.len().saturating_sub(200);
                lines[from..].join("\n")
            };
            loud(&format!(
                "---- ftpd ({}) log tail ----\n{tail}\n---- end of ftpd log ----",
                self.description
            ));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Client programs
// ---------------------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------------------
// Data
// ---------------------------------------------------------------------------------------------

/// Writes `bytes` to `path`, creating parent directories.
pub(crate) fn write_file(path: &Path, bytes: &[u8]) {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).expect("create parent dirs");
    }
    fs::write(path, bytes).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// Reads `path`, with the path in the panic message.
pub(crate) fn read_file(path: &Path) -> Vec<u8> {
    fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// Panics unless `actual == expected`, naming the first differing offset instead of dumping
/// megabytes.
pub(crate) fn assert_same_bytes(actual: &[u8], expected: &[u8], what: &str) {
    if actual == expected {
        return;
    }
    let first = actual
        .iter()
        .zip(expected)
        .position(|(a, b)| a != b)
        .unwrap_or(actual.len().min(expected.len()));
    let show = |b: &[u8]| {
        let end = (first + 32).min(b.len());
        let start = first.min(end);
        format!("{:?}", String::from_utf8_lossy(&b[start..end]))
    };
    panic!(
        "{what}: content differs: {} bytes, expected {}; first difference at offset {first}: \
         got {} expected {}",
        actual.len(),
        expected.len(),
        show(actual),
        show(expected)
    );
}

/// Panics unless the file at `path` holds exactly `expected`.
pub(crate) fn assert_file(path: &Path, expected: &[u8]) {
    let actual = read_file(path);
    assert_same_bytes(&actual, expected, &path.display().to_string());
}

/// One entry of a directory tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Node {
    Dir,
    File(u64),
    Symlink,
}

/// Every entry under `dir` by relative path (symlinks not followed).
pub(crate) fn tree(dir: &Path) -> BTreeMap<PathBuf, Node> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Node>) {
        let entries =
            fs::read_dir(dir).unwrap_or_else(|e| panic!("read_dir {}: {e}", dir.display()));
        for entry in entries {
            let entry = entry.expect("dir entry");
            let path = entry.path();
            let meta = fs::symlink_metadata(&path).expect("metadata");
            let rel = path.strip_prefix(base).expect("under base").to_path_buf();
            if meta.is_dir() {
                out.insert(rel, Node::Dir);
                walk(base, &path, out);
            } else if meta.is_file() {
                out.insert(rel, Node::File(meta.len()));
            } else {
                out.insert(rel, Node::Symlink);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// Panics unless the trees under `actual` and `expected` hold the same names, kinds and
/// file bytes.
pub(crate) fn assert_same_tree(actual: &Path, expected: &Path) {
    let a = tree(actual);
    let e = tree(expected);
    let missing: Vec<_> = e.keys().filter(|k| !a.contains_key(*k)).collect();
    let extra: Vec<_> = a.keys().filter(|k| !e.contains_key(*k)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "trees differ: {} vs {}\nmissing: {missing:?}\nextra: {extra:?}",
        actual.display(),
        expected.display()
    );
    for (rel, node) in &e {
        assert_eq!(
            a.get(rel),
            Some(node),
            "{}: kind or size differs",
            rel.display()
        );
        if let Node::File(_) = node {
            assert_file(&actual.join(rel), &read_file(&expected.join(rel)));
        }
    }
}

/// Fills `dir` with a tree of `files` files in nested directories, sizes from 0 B to 2 MiB,
/// names with spaces and UTF-8. With `empty_dir`, also one empty directory. Returns the
/// number of files written.
pub(crate) fn make_tree(dir: &Path, files: usize, empty_dir: bool) -> usize {
    const DIRS: [&str; 7] = [
        "",
        "docs",
        "docs/deep dir",
        "docs/deep dir/niveau trois",
        "données",
        "données/ünïcödé ñ",
        "bin",
    ];
    const SIZES: [usize; 12] = [
        0, 1, 17, 511, 4095, 4096, 4097, 10_000, 65_535, 65_536, 131_073, 300_000,
    ];
    const NAMES: [&str; 6] = [
        "file",
        "my file",
        "résumé",
        "日本語 ファイル",
        "plain",
        "a-b_c.d",
    ];
    let mut total = 0;
    for i in 0..files {
        let sub = DIRS[i % DIRS.len()];
        let size = match i {
            0 => 2 * 1024 * 1024,
            1 => 1024 * 1024 + 3,
            _ => SIZES[i % SIZES.len()],
        };
        let name = format!("{} {i:02}.bin", NAMES[i % NAMES.len()]);
        let path = dir.join(sub).join(name);
        write_file(&path, &random_bytes(size, 1000 + i as u64));
        total += 1;
    }
    if empty_dir {
        fs::create_dir_all(dir.join("empty dir")).expect("mkdir empty dir");
    }
    total
}

// ---------------------------------------------------------------------------------------------
// Raw control connection
// ---------------------------------------------------------------------------------------------

/// How long a raw read waits by default.
pub(crate) const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// One reply: the code and every line (CRLF removed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reply {
    pub(crate) code: u16,
    pub(crate) lines: Vec<String>,
}

impl Reply {
    /// All lines joined with `\n`.
    pub(crate) fn text(&self) -> String {
        self.lines.join("\n")
    }
}

/// What waiting for a reply produced.
#[derive(Debug)]
pub(crate) enum Event {
    Reply(Reply),
    /// The server closed the connection (EOF or reset) before a whole reply.
    Closed,
    /// Nothing complete within the timeout.
    TimedOut,
}

/// Connects to `addr` from `local_ip` (any port): binds the source address before the
/// connect, which std cannot do, so it goes through tokio's `TcpSocket` once.
pub(crate) fn connect_from(local_ip: IpAddr, addr: SocketAddr) -> io::Result<TcpStream> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let socket = match addr {
            SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
            SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
        };
        socket.bind(SocketAddr::new(local_ip, 0))?;
        let stream = tokio::time::timeout(Duration::from_secs(5), socket.connect(addr))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))??;
        let stream = stream.into_std()?;
        stream.set_nonblocking(false)?;
        Ok(stream)
    })
}

/// A raw FTP control connection with read timeouts and a transcript for messages.
pub(crate) struct Control {
    stream: TcpStream,
    reader: BufReader<TcpStream>,
    /// Everything sent (`> `) and received (`< `), for failure messages.
    pub(crate) transcript: Vec<String>,
}

impl Control {
    /// Connects to `addr` (nothing read yet).
    pub(crate) fn connect(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
        Self::from_stream(stream)
    }

    /// Wraps a connected stream (nothing read yet).
    pub(crate) fn from_stream(stream: TcpStream) -> Self {
        stream
            .set_read_timeout(Some(READ_TIMEOUT))
            .expect("timeout");
        stream
            .set_write_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let _ = stream.set_nodelay(true);
        let reader = BufReader::new(stream.try_clone().expect("clone stream"));
        Self {
            stream,
            reader,
            transcript: Vec::new(),
        }
    }

    /// The underlying stream.
    pub(crate) fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// The transcript, one line per item.
    pub(crate) fn dialogue(&self) -> String {
        self.transcript.join("\n")
    }

    /// Sends raw bytes.
    pub(crate) fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.transcript.push(format!(
            "> {:?}",
            String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
        ));
        self.stream.write_all(bytes)
    }

    /// Sends `line` + CRLF.
    pub(crate) fn send(&mut self, line: &str) {
        let mut bytes = line.as_bytes().to_vec();
        bytes.extend_from_slice(b"\r\n");
        if let Err(e) = self.send_raw(&bytes) {
            panic!("sending {line:?}: {e}\n{}", self.dialogue());
        }
    }

    /// Waits up to `timeout` for one whole reply, or the end of the connection.
    pub(crate) fn next_event(&mut self, timeout: Duration) -> Event {
        self.stream
            .set_read_timeout(Some(timeout))
            .expect("set timeout");
        let deadline = Instant::now() + timeout;
        let mut lines = Vec::new();
        let mut code = None;
        loop {
            let mut line = Vec::new();
            let read = loop {
                match self.reader.read_until(b'\n', &mut line) {
                    Ok(n) => break Ok(n),
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                        ) =>
                    {
                        break Err(true);
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(_) => break Err(false),
                }
            };
            match read {
                Ok(0) | Err(false) => {
                    self.transcript.push("< (connection closed)".into());
                    return Event::Closed;
                }
                Err(true) => {
                    self.transcript.push("< (timed out)".into());
                    return Event::TimedOut;
                }
                Ok(_) => {}
            }
            assert!(
                line.ends_with(b"\n"),
                "reply line without LF: {line:?}\n{}",
                self.dialogue()
            );
            let text = String::from_utf8_lossy(&line)
                .trim_end_matches(['\r', '\n'])
                .to_owned();
            self.transcript.push(format!("< {text}"));
            let head = text.as_bytes();
            let this_code = (head.len() >= 3 && head[..3].iter().all(u8::is_ascii_digit))
                .then(|| text[..3].parse::<u16>().expect("digits"));
            lines.push(text.clone());
            match (code, this_code) {
                (None, Some(c)) => {
                    if head.get(3) == Some(&b'-') {
                        code = Some(c);
                    } else {
                        return Event::Reply(Reply { code: c, lines });
                    }
                }
                (None, None) => panic!(
                    "reply does not start with a code: {text:?}\n{}",
                    self.dialogue()
                ),
                (Some(c), Some(t)) if c == t && head.get(3) == Some(&b' ') => {
                    return Event::Reply(Reply { code: c, lines });
                }
                (Some(_), _) => {}
            }
            if Instant::now() >= deadline {
                return Event::TimedOut;
            }
        }
    }

    /// Reads one reply (panics on close or timeout).
    pub(crate) fn reply(&mut self) -> Reply {
        match self.next_event(READ_TIMEOUT) {
            Event::Reply(r) => r,
            other => panic!(
                "expected a reply, got {other:?}\ntranscript:\n{}",
                self.dialogue()
            ),
        }
    }

    /// Reads one reply and panics unless its code is `code`.
    pub(crate) fn expect(&mut self, code: u16) -> Reply {
        let reply = self.reply();
        assert_eq!(
            reply.code,
            code,
            "expected {code}, got {:?}\ntranscript:\n{}",
            reply.lines,
            self.dialogue()
        );
        reply
    }

    /// Sends `line` and reads its reply.
    pub(crate) fn cmd(&mut self, line: &str) -> Reply {
        self.send(line);
        self.reply()
    }

    /// Sends `line` and panics unless the reply code is `code`.
    pub(crate) fn cmd_expect(&mut self, line: &str, code: u16) -> Reply {
        self.send(line);
        self.expect(code)
    }

    /// USER + PASS, expecting 331 then 230, then TYPE I as real clients send it: a session
    /// starts in TYPE A (RFC 959), and these tests compare bytes as they are on disk.
    pub(crate) fn login(&mut self, user: &str, pass: &str) {
        self.cmd_expect(&format!("USER {user}"), 331);
        self.cmd_expect(&format!("PASS {pass}"), 230);
        self.cmd_expect("TYPE I", 200);
    }

    /// PASV: the address from the 227 reply.
    pub(crate) fn pasv(&mut self) -> SocketAddr {
        let reply = self.cmd_expect("PASV", 227);
        let text = reply.text();
        let start = text.find('(').expect("227 has '('") + 1;
        let end = text[start..].find(')').expect("227 has ')'") + start;
        let n: Vec<u16> = text[start..end]
            .split(',')
            .map(|p| p.trim().parse().expect("227 number"))
            .collect();
        assert_eq!(n.len(), 6, "227 reply: {text}");
        let ip = Ipv4Addr::new(n[0] as u8, n[1] as u8, n[2] as u8, n[3] as u8);
        SocketAddr::new(IpAddr::V4(ip), n[4] * 256 + n[5])
    }

    /// EPSV: the control peer's address with the port from the 229 reply.
    pub(crate) fn epsv(&mut self) -> SocketAddr {
        let reply = self.cmd_expect("EPSV", 229);
        let text = reply.text();
        let start = text.find("(|||").expect("229 has (|||") + 4;
        let end = text[start..].find("|)").expect("229 has |)") + start;
        let port: u16 = text[start..end].parse().expect("229 port");
        SocketAddr::new(self.stream.peer_addr().expect("peer").ip(), port)
    }

    /// Opens a passive data connection (EPSV) and connects to it.
    pub(crate) fn data(&mut self) -> TcpStream {
        let addr = self.epsv();
        let data = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("data connect {addr}: {e}\n{}", self.dialogue()));
        data.set_read_timeout(Some(READ_TIMEOUT)).expect("timeout");
        data.set_write_timeout(Some(READ_TIMEOUT)).expect("timeout");
        data
    }

    /// A download-like command (`RETR x`, `LIST`, `NLST`, `MLSD`) over a passive data
    /// connection: `Ok(bytes)` after 150/125 ... 226, `Err(reply)` when refused (the bytes
    /// received on the data connection, if any, are in the error's second field).
    pub(crate) fn download(&mut self, command: &str) -> Result<Vec<u8>, (Reply, Vec<u8>)> {
        let mut data = self.data();
        self.send(command);
        let first = self.reply();
        if first.code != 150 && first.code != 125 {
            let mut leaked = Vec::new();
            let _ = data.set_read_timeout(Some(Duration::from_millis(300)));
            let _ = data.read_to_end(&mut leaked);
            return Err((first, leaked));
        }
        let mut bytes = Vec::new();
        if let Err(e) = data.read_to_end(&mut bytes) {
            panic!(
                "{command}: data read failed after {} bytes: {e}\n{}",
                bytes.len(),
                self.dialogue()
            );
        }
        let last = self.reply();
        if last.code == 226 || last.code == 250 {
            Ok(bytes)
        } else {
            Err((last, bytes))
        }
    }

    /// `STOR`-like command over a passive data connection; returns the final reply.
    pub(crate) fn upload(&mut self, command: &str, bytes: &[u8]) -> Reply {
        let mut data = self.data();
        self.send(command);
        let first = self.reply();
        if first.code != 150 && first.code != 125 {
            return first;
        }
        data.write_all(bytes).expect("data write");
        data.shutdown(Shutdown::Both).expect("data shutdown");
        drop(data);
        self.reply()
    }

    /// Waits for the server to end the connection: all replies seen before the close (or
    /// `None` if it is still open after `timeout`).
    pub(crate) fn until_closed(&mut self, timeout: Duration) -> Option<Vec<Reply>> {
        let deadline = Instant::now() + timeout;
        let mut replies = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            match self.next_event(left) {
                Event::Reply(r) => replies.push(r),
                Event::Closed => return Some(replies),
                Event::TimedOut => return None,
            }
        }
    }
}
