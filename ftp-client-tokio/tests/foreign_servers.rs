//! The foreign-server harness proved with curl: for each of vsftpd, pure-ftpd and pyftpdlib,
//! a login user can list (sizes match the files), download, upload, resume a download
//! (REST), resume an upload and append (APPE), rename, delete, make and remove directories,
//! in passive (EPSV, PASV) and active (EPRT, PORT) mode. Every result is checked against the
//! bytes on disk. The client tests of this crate run against the same servers.
//!
//! curl runs with `-v`, so its stderr holds the control dialogue (`> CMD`, `< REPLY`) that
//! every failure message shows; a failing test also prints the server's log.

mod support;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use support::{ForeignServer, Run, ServerKind, random_bytes, run, tool_available};

/// Hard deadline of one curl run (curl's own `--max-time` is shorter).
const TIMEOUT: Duration = Duration::from_secs(40);

/// `curl -sS -v` with short timeouts and the server's credentials, then `args`.
fn curl(server: &ForeignServer, args: &[&str]) -> Run {
    let mut command = Command::new("curl");
    command
        .args(["-sS", "-v", "--connect-timeout", "5", "--max-time", "30"])
        .args(["-u", &server.credentials()])
        .args(args);
    run(&mut command, TIMEOUT)
}

/// The server (and curl), or `None` when either is missing (the skip has been reported).
fn start(kind: ServerKind) -> Option<ForeignServer> {
    if !tool_available("curl") {
        return None;
    }
    ForeignServer::start(kind)
}

/// Panics unless curl's `-v` dialogue has a line starting with `prefix`.
fn assert_dialogue(run: &Run, prefix: &str) {
    assert!(
        run.stderr.lines().any(|l| l.starts_with(prefix)),
        "curl dialogue has no line starting with {prefix:?}\n{}",
        run.describe()
    );
}

/// Panics unless `actual` is `expected`, without printing megabytes.
fn assert_same_bytes(actual: &[u8], expected: &[u8], what: &str) {
    if actual != expected {
        let first = actual.iter().zip(expected).position(|(a, b)| a != b);
        panic!(
            "{what}: {} bytes, expected {} (first difference at {first:?}; fnv1a {:016x} vs {:016x})",
            actual.len(),
            expected.len(),
            fnv1a(actual),
            fnv1a(expected)
        );
    }
}

/// FNV-1a 64, the checksum in failure messages.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// NLST's names, sorted. pure-ftpd's NLST also names `.` and `..` (its LIST does not); the
/// other servers name neither. Both facts are checked, then the dots dropped.
fn nlst_names(kind: ServerKind, text: &str) -> Vec<String> {
    let mut names: Vec<String> = text
        .lines()
        .map(|l| l.trim_end_matches('\r').to_owned())
        .collect();
    names.sort_unstable();
    let dots = names.iter().filter(|n| *n == "." || *n == "..").count();
    let expected = if kind == ServerKind::PureFtpd { 2 } else { 0 };
    assert_eq!(dots, expected, "{kind}: `.` and `..` in NLST: {text:?}");
    names.retain(|n| n != "." && n != "..");
    names
}

/// A scratch directory for curl's local files.
fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("ftp-foreign-curl-")
        .tempdir()
        .expect("create temp dir")
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("UTF-8 temp path")
}

/// LIST of `/` gives one line per entry, with the exact size of each file; NLST the names.
fn list_sizes_match(kind: ServerKind) {
    let Some(server) = start(kind) else { return };
    server.write_file("hello.txt", b"hello\n");
    server.write_file("big.bin", &random_bytes(123_457, 1));
    server.write_file("sub/inner.txt", b"x");

    let run = curl(&server, &[&server.url("/")]);
    run.assert_success();
    assert_dialogue(&run, "> LIST");
    let text = run.stdout_text();
    let mut entries: Vec<(String, char, String)> = text
        .lines()
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(
                fields.len(),
                9,
                "ls -l line of 9 columns: {line:?} in {text:?}"
            );
            let kind = fields[0].chars().next().expect("type column");
            (fields[8].to_owned(), kind, fields[4].to_owned())
        })
        .collect();
    entries.sort();
    let names: Vec<(&str, char)> = entries.iter().map(|(n, k, _)| (n.as_str(), *k)).collect();
    assert_eq!(
        names,
        [("big.bin", '-'), ("hello.txt", '-'), ("sub", 'd')],
        "LIST: {text:?}"
    );
    assert_eq!(entries[0].2, "123457", "size of big.bin: {text:?}");
    assert_eq!(entries[1].2, "6", "size of hello.txt: {text:?}");

    let run = curl(&server, &[&server.url("/sub/")]);
    run.assert_success();
    let text = run.stdout_text();
    assert_eq!(text.lines().count(), 1, "LIST /sub/: {text:?}");
    assert!(
        text.trim_end().ends_with(" inner.txt"),
        "LIST /sub/: {text:?}"
    );

    let run = curl(&server, &["-l", &server.url("/")]);
    run.assert_success();
    assert_dialogue(&run, "> NLST");
    let text = run.stdout_text();
    let names = nlst_names(kind, &text);
    assert_eq!(names, ["big.bin", "hello.txt", "sub"], "NLST: {text:?}");
}

/// RETR of 1 MiB + 1 random bytes in binary mode arrives byte for byte.
fn download_checksum(kind: ServerKind) {
    let Some(server) = start(kind) else { return };
    let data = random_bytes((1 << 20) + 1, 2);
    server.write_file("dir/random.bin", &data);
    let out = scratch();
    let target = out.path().join("random.bin");
    let run = curl(
        &server,
        &["-o", path_str(&target), &server.url("/dir/random.bin")],
    );
    run.assert_success();
    assert_dialogue(&run, "> TYPE I");
    assert_dialogue(&run, "> RETR random.bin");
    assert_same_bytes(&fs::read(&target).unwrap(), &data, "downloaded file");
}

/// STOR puts the exact bytes on disk, owned by the server's user; `--ftp-create-dirs`
/// makes the missing directories (MKD) first.
fn upload(kind: ServerKind) {
    let Some(server) = start(kind) else { return };
    let data = random_bytes(700_001, 3);
    let out = scratch();
    let local = out.path().join("up.bin");
    fs::write(&local, &data).unwrap();

    let run = curl(&server, &["-T", path_str(&local), &server.url("/up.bin")]);
    run.assert_success();
    assert_dialogue(&run, "> STOR up.bin");
    assert_same_bytes(&server.read_file("up.bin"), &data, "uploaded file");
    if let Some((uid, _)) = server.owner {
        let meta = fs::metadata(server.local("up.bin")).unwrap();
        assert_eq!(meta.uid(), uid, "uploaded file's owner");
    }

    let run = curl(
        &server,
        &[
            "--ftp-create-dirs",
            "-T",
            path_str(&local),
            &server.url("/new/deeper/up2.bin"),
        ],
    );
    run.assert_success();
    assert_dialogue(&run, "> MKD new");
    assert!(server.local("new/deeper").is_dir());
    assert_same_bytes(
        &server.read_file("new/deeper/up2.bin"),
        &data,
        "uploaded file in new directories",
    );
}

/// `-C -`: curl asks for the rest of a file it has 100,000 bytes of (REST 100000, RETR).
fn resume_download(kind: ServerKind) {
    let Some(server) = start(kind) else { return };
    let data = random_bytes(300_000, 4);
    server.write_file("resume.bin", &data);
    let out = scratch();
    let partial = out.path().join("resume.bin");
    fs::write(&partial, &data[..100_000]).unwrap();
    let run = curl(
        &server,
        &[
            "-C",
            "-",
            "-o",
            path_str(&partial),
            &server.url("/resume.bin"),
        ],
    );
    run.assert_success();
    assert_dialogue(&run, "> REST 100000");
    assert_dialogue(&run, "< 350");
    assert_same_bytes(&fs::read(&partial).unwrap(), &data, "resumed download");
}

/// `-C -` on upload: curl learns the remote size (SIZE) and sends the rest with APPE.
fn resume_upload(kind: ServerKind) {
    let Some(server) = start(kind) else { return };
    let data = random_bytes(300_000, 5);
    server.write_file("partial.bin", &data[..100_000]);
    let out = scratch();
    let local = out.path().join("partial.bin");
    fs::write(&local, &data).unwrap();
    let run = curl(
        &server,
        &[
            "-C",
            "-",
            "-T",
            path_str(&local),
            &server.url("/partial.bin"),
        ],
    );
    run.assert_success();
    assert_dialogue(&run, "> SIZE partial.bin");
    assert_dialogue(&run, "< 213 100000");
    assert_dialogue(&run, "> APPE partial.bin");
    assert_same_bytes(&server.read_file("partial.bin"), &data, "resumed upload");
}

/// `--append`: APPE adds to the end of an existing file.
fn append(kind: ServerKind) {
    let Some(server) = start(kind) else { return };
    server.write_file("log.txt", b"first line\n");
    let out = scratch();
    let local = out.path().join("more.txt");
    fs::write(&local, b"second line\n").unwrap();
    let run = curl(
        &server,
        &["--append", "-T", path_str(&local), &server.url("/log.txt")],
    );
    run.assert_success();
    assert_dialogue(&run, "> APPE log.txt");
    assert_eq!(
        String::from_utf8_lossy(&server.read_file("log.txt")),
        "first line\nsecond line\n"
    );
}

/// `-Q`: MKD, RNFR/RNTO, DELE and RMD change the disk as asked; a failing one (RMD of a
/// missing directory) makes curl fail with its quote error (21).
fn quote_commands(kind: ServerKind) {
    let Some(server) = start(kind) else { return };
    server.write_file("a.txt", b"the a file");
    server.write_file("c.txt", b"the c file");
    server.create_dir("emptydir");
    let run = curl(
        &server,
        &[
            "-Q",
            "MKD made",
            "-Q",
            "RNFR a.txt",
            "-Q",
            "RNTO b.txt",
            "-Q",
            "DELE c.txt",
            "-Q",
            "RMD emptydir",
            "-l",
            &server.url("/"),
        ],
    );
    run.assert_success();
    assert_dialogue(&run, "< 257");
    assert_dialogue(&run, "< 350");
    let listed = nlst_names(kind, &run.stdout_text());
    assert_eq!(listed, ["b.txt", "made"], "NLST after the commands");
    assert_eq!(server.names("/"), ["b.txt", "made"], "on disk");
    assert!(server.local("made").is_dir());
    assert_eq!(server.read_file("b.txt"), b"the a file");

    let run = curl(&server, &["-Q", "RMD missing", &server.url("/")]);
    assert_eq!(
        run.code,
        Some(21),
        "failed quote command\n{}",
        run.describe()
    );
    assert_dialogue(&run, "< 550");
}

/// A listing, a download and an upload over data connections opened with `verb` (curl
/// `extra` arguments choose it); `reply` is the start of the server's answer to it.
fn transfers_in_mode(kind: ServerKind, extra: &[&str], verb: &str, reply: &str) {
    let Some(server) = start(kind) else { return };
    let data = random_bytes(250_000, 6);
    server.write_file("down.bin", &data);
    let out = scratch();
    let with = |args: &[&str]| -> Run {
        let mut all = extra.to_vec();
        all.extend_from_slice(args);
        let run = curl(&server, &all);
        run.assert_success();
        assert_dialogue(&run, &format!("> {verb}"));
        assert_dialogue(&run, reply);
        run
    };

    let run = with(&["-l", &server.url("/")]);
    assert_eq!(nlst_names(kind, &run.stdout_text()), ["down.bin"], "NLST");

    let target = out.path().join("down.bin");
    with(&["-o", path_str(&target), &server.url("/down.bin")]);
    assert_same_bytes(&fs::read(&target).unwrap(), &data, "download");

    let local = out.path().join("up.bin");
    let up = random_bytes(250_001, 7);
    fs::write(&local, &up).unwrap();
    with(&["-T", path_str(&local), &server.url("/up.bin")]);
    assert_same_bytes(&server.read_file("up.bin"), &up, "upload");
}

fn passive_epsv(kind: ServerKind) {
    transfers_in_mode(kind, &[], "EPSV", "< 229");
}

fn passive_pasv(kind: ServerKind) {
    transfers_in_mode(kind, &["--disable-epsv"], "PASV", "< 227");
}

fn active_eprt(kind: ServerKind) {
    transfers_in_mode(
        kind,
        &["--ftp-port", "127.0.0.1"],
        "EPRT |1|127.0.0.1|",
        "< 200",
    );
}

fn active_port(kind: ServerKind) {
    transfers_in_mode(
        kind,
        &["--ftp-port", "127.0.0.1", "--disable-eprt"],
        "PORT 127,0,0,1,",
        "< 200",
    );
}

/// One `#[test]` per scenario in a module per server: `vsftpd::upload`, `pure_ftpd::upload`...
macro_rules! server_tests {
    ($($scenario:ident),* $(,)?) => {
        server_tests!(@kind vsftpd, Vsftpd; $($scenario),*);
        server_tests!(@kind pure_ftpd, PureFtpd; $($scenario),*);
        server_tests!(@kind pyftpdlib, Pyftpdlib; $($scenario),*);
    };
    (@kind $module:ident, $kind:ident; $($scenario:ident),*) => {
        mod $module {
            $(
                #[test]
                fn $scenario() {
                    super::$scenario(super::ServerKind::$kind);
                }
            )*
        }
    };
}

server_tests!(
    list_sizes_match,
    download_checksum,
    upload,
    resume_download,
    resume_upload,
    append,
    quote_commands,
    passive_epsv,
    passive_pasv,
    active_eprt,
    active_port,
);
