//! curl against the real `ftpd`: listings, downloads, uploads, resume, append, quoted
//! commands, active and passive modes, IPv6, ASCII, awkward names and error codes.
//!
//! curl runs with `-v`, so its stderr holds the whole control dialogue (`> CMD`, `< REPLY`)
//! and every failure message shows it.

mod support;

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use support::{
    Ftpd, FtpdBuilder, PASS, Run, USER, assert_file, assert_same_bytes, random_bytes, read_file,
    run, tool_available, write_file,
};

const TIMEOUT: Duration = Duration::from_secs(60);

/// `curl -sS -v` with short timeouts and alice's credentials, then `args`.
fn curl(args: &[&str]) -> Run {
    let mut command = Command::new("curl");
    command
        .args(["-sS", "-v", "--connect-timeout", "5", "--max-time", "50"])
        .args(["-u", &format!("{USER}:{PASS}")])
        .args(args);
    run(&mut command, TIMEOUT)
}

/// A server with alice (full permissions) on a fresh root filled by `fill`.
fn server(fill: impl FnOnce(&Path)) -> Ftpd {
    let builder = FtpdBuilder::new().user();
    fill(builder.root());
    builder.start()
}

/// Panics unless curl's `-v` dialogue holds `needle`.
fn assert_dialogue(run: &Run, needle: &str) {
    assert!(
        run.stderr.contains(needle),
        "curl dialogue lacks {needle:?}\n{}",
        run.describe()
    );
}

#[test]
fn curl_list_shows_files_and_directories() {
    if !tool_available("curl") {
        return;
    }
    let ftpd = server(|root| {
        write_file(&root.join("hello.txt"), b"hello\n");
        write_file(&root.join("big.bin"), &random_bytes(12_345, 1));
        fs::create_dir(root.join("subdir")).unwrap();
        write_file(&root.join("subdir/inner.txt"), b"x");
    });
    let run = curl(&[&ftpd.url("/")]);
    run.assert_success();
    let text = run.stdout_text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "three entries expected: {text:?}");
    let find = |name: &str| {
        lines
            .iter()
            .find(|l| l.trim_end().ends_with(&format!(" {name}")))
            .unwrap_or_else(|| panic!("no LIST line for {name}: {text:?}"))
            .split_whitespace()
            .collect::<Vec<_>>()
    };
    let hello = find("hello.txt");
    assert!(hello[0].starts_with('-'), "file line: {hello:?}");
    assert_eq!(hello.len(), 9, "ls -l has 9 columns: {hello:?}");
    assert_eq!(hello[4], "6", "size column of hello.txt: {hello:?}");
    let big = find("big.bin");
    assert_eq!(big[4], "12345", "size column of big.bin: {big:?}");
    let dir = find("subdir");
    assert!(dir[0].starts_with('d'), "directory line: {dir:?}");

    // A subdirectory URL (trailing slash) lists that directory.
    let run = curl(&[&ftpd.url("/subdir/")]);
    run.assert_success();
    let text = run.stdout_text();
    assert_eq!(text.lines().count(), 1, "{text:?}");
    assert!(text.trim_end().ends_with(" inner.txt"), "{text:?}");
}

#[test]
fn curl_nlst_lists_names_only() {
    if !tool_available("curl") {
        return;
    }
    let ftpd = server(|root| {
        write_file(&root.join("a.txt"), b"a");
        write_file(&root.join("b c.txt"), b"bc");
        fs::create_dir(root.join("dir")).unwrap();
    });
    let run = curl(&["-l", &ftpd.url("/")]);
    run.assert_success();
    assert_dialogue(&run, "> NLST");
    let text = run.stdout_text();
    let mut names: Vec<&str> = text.lines().map(|l| l.trim_end_matches('\r')).collect();
    names.sort_unstable();
    assert_eq!(names, ["a.txt", "b c.txt", "dir"], "NLST output: {text:?}");
}

#[test]
fn curl_downloads_random_5mib_and_empty_file() {
    if !tool_available("curl") {
        return;
    }
    let data = random_bytes(5 * 1024 * 1024, 42);
    let ftpd = server(|root| {
        write_file(&root.join("random.bin"), &data);
        write_file(&root.join("empty.bin"), b"");
    });
    let out = tempfile::tempdir().unwrap();

    let target = out.path().join("random.bin");
    curl(&["-o", target.to_str().unwrap(), &ftpd.url("/random.bin")]).assert_success();
    assert_file(&target, &data);

    let target = out.path().join("empty.bin");
    let run = curl(&["-o", target.to_str().unwrap(), &ftpd.url("/empty.bin")]);
    run.assert_success();
    assert_dialogue(&run, "< 213 0");
    // curl may skip creating the file for a 0-byte body; if it exists it must be empty.
    if target.exists() {
        assert_file(&target, b"");
    }
    // To stdout: nothing at all, exit 0.
    let run = curl(&[&ftpd.url("/empty.bin")]);
    run.assert_success();
    assert!(run.stdout.is_empty(), "{}", run.describe());
}

#[test]
fn curl_uploads_a_file() {
    if !tool_available("curl") {
        return;
    }
    let ftpd = server(|_| {});
    let local = tempfile::tempdir().unwrap();
    let data = random_bytes(1024 * 1024 + 7, 7);
    let source = local.path().join("up.bin");
    write_file(&source, &data);
    let run = curl(&["-T", source.to_str().unwrap(), &ftpd.url("/uploaded.bin")]);
    run.assert_success();
    assert_dialogue(&run, "> STOR uploaded.bin");
    assert_file(&ftpd.root().join("uploaded.bin"), &data);

    // Uploading again replaces the file (not appends).
    let smaller = b"short now\n";
    write_file(&source, smaller);
    curl(&["-T", source.to_str().unwrap(), &ftpd.url("/uploaded.bin")]).assert_success();
    assert_file(&ftpd.root().join("uploaded.bin"), smaller);
}

#[test]
fn curl_upload_creates_missing_directories() {
    if !tool_available("curl") {
        return;
    }
    let ftpd = server(|_| {});
    let local = tempfile::tempdir().unwrap();
    let source = local.path().join("f.txt");
    write_file(&source, b"deep content\n");

    // Without --ftp-create-dirs the upload into a missing directory fails.
    let run = curl(&["-T", source.to_str().unwrap(), &ftpd.url("/nope/f.txt")]);
    assert_ne!(run.code, Some(0), "{}", run.describe());
    assert!(!ftpd.root().join("nope").exists());

    let run = curl(&[
        "--ftp-create-dirs",
        "-T",
        source.to_str().unwrap(),
        &ftpd.url("/new/deeper/f.txt"),
    ]);
    run.assert_success();
    assert_dialogue(&run, "> MKD new");
    assert!(ftpd.root().join("new/deeper").is_dir());
    assert_file(&ftpd.root().join("new/deeper/f.txt"), b"deep content\n");
}

#[test]
fn curl_resumes_a_download() {
    if !tool_available("curl") {
        return;
    }
    let data = random_bytes(1_000_000, 3);
    let ftpd = server(|root| write_file(&root.join("resume.bin"), &data));
    let local = tempfile::tempdir().unwrap();
    let target = local.path().join("resume.bin");
    write_file(&target, &data[..300_000]);
    let run = curl(&[
        "-C",
        "-",
        "-o",
        target.to_str().unwrap(),
        &ftpd.url("/resume.bin"),
    ]);
    run.assert_success();
    assert_dialogue(&run, "> REST 300000");
    assert_dialogue(&run, "< 350");
    assert_file(&target, &data);
}

#[test]
fn curl_append_adds_to_the_remote_file() {
    if !tool_available("curl") {
        return;
    }
    let ftpd = server(|root| write_file(&root.join("log.txt"), b"first line\n"));
    let local = tempfile::tempdir().unwrap();
    let source = local.path().join("more.txt");
    write_file(&source, b"second line\n");
    let run = curl(&[
        "--append",
        "-T",
        source.to_str().unwrap(),
        &ftpd.url("/log.txt"),
    ]);
    run.assert_success();
    assert_dialogue(&run, "> APPE log.txt");
    assert_file(&ftpd.root().join("log.txt"), b"first line\nsecond line\n");

    // APPE to a file that does not exist creates it.
    curl(&[
        "--append",
        "-T",
        source.to_str().unwrap(),
        &ftpd.url("/fresh.txt"),
    ])
    .assert_success();
    assert_file(&ftpd.root().join("fresh.txt"), b"second line\n");
}

#[test]
fn curl_quote_commands_change_the_disk() {
    if !tool_available("curl") {
        return;
    }
    let ftpd = server(|root| {
        write_file(&root.join("old.txt"), b"moving content\n");
        write_file(&root.join("gone.txt"), b"delete me\n");
        fs::create_dir(root.join("emptydir")).unwrap();
    });
    let run = curl(&[
        "-Q",
        "MKD newdir",
        "-Q",
        "RNFR old.txt",
        "-Q",
        "RNTO newdir/moved.txt",
        "-Q",
        "DELE gone.txt",
        "-Q",
        "RMD emptydir",
        "-l",
        &ftpd.url("/"),
    ]);
    run.assert_success();
    assert_dialogue(&run, "< 257");
    assert_dialogue(&run, "< 350");
    let root = ftpd.root();
    assert!(root.join("newdir").is_dir(), "MKD newdir");
    assert!(!root.join("old.txt").exists(), "RNFR/RNTO left old.txt");
    assert_file(&root.join("newdir/moved.txt"), b"moving content\n");
    assert!(!root.join("gone.txt").exists(), "DELE gone.txt");
    assert!(!root.join("emptydir").exists(), "RMD emptydir");
    // The listing after the quoted commands shows the new state.
    let mut names: Vec<String> = run.stdout_text().lines().map(str::to_owned).collect();
    names.sort();
    assert_eq!(names, ["newdir"], "{}", run.describe());

    // A quoted command that fails stops curl with exit 21 (quote error) and the 550.
    let run = curl(&["-Q", "DELE missing.txt", "-l", &ftpd.url("/")]);
    run.assert_code(21);
    assert_dialogue(&run, "< 550");
    // RMD of a directory that is not empty fails and leaves it.
    let run = curl(&["-Q", "RMD newdir", "-l", &ftpd.url("/")]);
    run.assert_code(21);
    assert_dialogue(&run, "< 550");
    assert!(root.join("newdir/moved.txt").is_file());
}

#[test]
fn curl_active_mode_eprt_and_port() {
    if !tool_available("curl") {
        return;
    }
    let data = random_bytes(2 * 1024 * 1024, 11);
    let ftpd = server(|root| write_file(&root.join("active.bin"), &data));
    let local = tempfile::tempdir().unwrap();

    // Default active: EPRT.
    let target = local.path().join("eprt.bin");
    let run = curl(&[
        "--ftp-port",
        "127.0.0.1",
        "-o",
        target.to_str().unwrap(),
        &ftpd.url("/active.bin"),
    ]);
    run.assert_success();
    assert_dialogue(&run, "> EPRT |1|127.0.0.1|");
    assert_dialogue(&run, "< 200");
    assert_file(&target, &data);

    // PORT (EPRT disabled), download and upload.
    let target = local.path().join("port.bin");
    let run = curl(&[
        "--ftp-port",
        "127.0.0.1",
        "--disable-eprt",
        "-o",
        target.to_str().unwrap(),
        &ftpd.url("/active.bin"),
    ]);
    run.assert_success();
    assert_dialogue(&run, "> PORT 127,0,0,1,");
    assert!(!run.stderr.contains("> EPRT"), "{}", run.describe());
    assert_file(&target, &data);

    let run = curl(&[
        "--ftp-port",
        "127.0.0.1",
        "--disable-eprt",
        "-T",
        target.to_str().unwrap(),
        &ftpd.url("/active-up.bin"),
    ]);
    run.assert_success();
    assert_file(&ftpd.root().join("active-up.bin"), &data);

    // Active listing.
    let run = curl(&["--ftp-port", "127.0.0.1", "-l", &ftpd.url("/")]);
    run.assert_success();
    let mut names: Vec<String> = run.stdout_text().lines().map(str::to_owned).collect();
    names.sort();
    assert_eq!(names, ["active-up.bin", "active.bin"]);
}

#[test]
fn curl_passive_epsv_and_pasv() {
    if !tool_available("curl") {
        return;
    }
    let data = random_bytes(300_000, 5);
    let ftpd = server(|root| write_file(&root.join("p.bin"), &data));

    let run = curl(&[&ftpd.url("/p.bin")]);
    run.assert_success();
    assert_dialogue(&run, "> EPSV");
    assert_dialogue(&run, "< 229");
    assert_same_bytes(&run.stdout, &data, "EPSV download");

    let run = curl(&["--disable-epsv", &ftpd.url("/p.bin")]);
    run.assert_success();
    assert_dialogue(&run, "> PASV");
    assert_dialogue(&run, "< 227");
    assert!(!run.stderr.contains("> EPSV"), "{}", run.describe());
    assert_same_bytes(&run.stdout, &data, "PASV download");

    // The 227 reply names the address the client connected to.
    assert!(
        run.stderr.contains("(127,0,0,1,"),
        "227 should carry 127,0,0,1\n{}",
        run.describe()
    );
}

#[test]
fn curl_over_ipv6() {
    if !tool_available("curl") || !support::ipv6_available() {
        return;
    }
    let data = random_bytes(700_000, 6);
    let builder = FtpdBuilder::new().user().args(["--listen", "[::1]:0"]);
    write_file(&builder.root().join("six.bin"), &data);
    let ftpd = builder.start();
    assert!(ftpd.addr().is_ipv6(), "listening on {}", ftpd.addr());
    let url = format!("ftp://[::1]:{}/", ftpd.port());

    let run = curl(&["-g", &format!("{url}six.bin")]);
    run.assert_success();
    assert_dialogue(&run, "> EPSV");
    assert_same_bytes(&run.stdout, &data, "IPv6 download");

    let local = tempfile::tempdir().unwrap();
    let source = local.path().join("up.bin");
    write_file(&source, &data[..1000]);
    curl(&[
        "-g",
        "-T",
        source.to_str().unwrap(),
        &format!("{url}up6.bin"),
    ])
    .assert_success();
    assert_file(&ftpd.root().join("up6.bin"), &data[..1000]);

    // Active mode over IPv6 (EPRT |2|::1|port|).
    let run = curl(&["-g", "--ftp-port", "::1", &format!("{url}six.bin")]);
    run.assert_success();
    assert_dialogue(&run, "> EPRT |2|::1|");
    assert_same_bytes(&run.stdout, &data, "IPv6 active download");

    let run = curl(&["-g", "-l", &url]);
    run.assert_success();
    let mut names: Vec<String> = run.stdout_text().lines().map(str::to_owned).collect();
    names.sort();
    assert_eq!(names, ["six.bin", "up6.bin"]);
}

#[test]
fn curl_ascii_type() {
    if !tool_available("curl") {
        return;
    }
    let ftpd = server(|root| write_file(&root.join("text.txt"), b"line one\nline two\n"));

    // Download in TYPE A: curl (on Unix) turns the wire's CRLF back into LF.
    let run = curl(&[&ftpd.url("/text.txt;type=a")]);
    run.assert_success();
    assert_dialogue(&run, "> TYPE A");
    assert_dialogue(&run, "< 200");
    assert_same_bytes(&run.stdout, b"line one\nline two\n", "ASCII download");

    // Upload in TYPE A with --crlf (LF -> CRLF on the wire): the server stores native LF.
    let local = tempfile::tempdir().unwrap();
    let source = local.path().join("up.txt");
    write_file(&source, b"alpha\nbeta\ngamma\n");
    let run = curl(&[
        "--crlf",
        "-T",
        source.to_str().unwrap(),
        &ftpd.url("/up.txt;type=a"),
    ]);
    run.assert_success();
    assert_dialogue(&run, "> TYPE A");
    assert_file(&ftpd.root().join("up.txt"), b"alpha\nbeta\ngamma\n");

    // The same upload in binary keeps the CRs.
    let run = curl(&[
        "--crlf",
        "-T",
        source.to_str().unwrap(),
        &ftpd.url("/up-binary.txt"),
    ]);
    run.assert_success();
    assert_file(
        &ftpd.root().join("up-binary.txt"),
        b"alpha\r\nbeta\r\ngamma\r\n",
    );
}

#[test]
fn curl_names_with_spaces_and_utf8() {
    if !tool_available("curl") {
        return;
    }
    let name = "my file ü 日本.txt";
    let encoded = "my%20file%20%C3%BC%20%E6%97%A5%E6%9C%AC.txt";
    let ftpd = server(|root| {
        write_file(&root.join(name), b"unicode content\n");
        fs::create_dir(root.join("dir with space")).unwrap();
        write_file(&root.join("dir with space/inner é.txt"), b"inner\n");
    });

    let run = curl(&[&ftpd.url(encoded)]);
    run.assert_success();
    assert_same_bytes(&run.stdout, b"unicode content\n", "UTF-8 name download");

    let run = curl(&[&ftpd.url("dir%20with%20space/inner%20%C3%A9.txt")]);
    run.assert_success();
    assert_same_bytes(&run.stdout, b"inner\n", "download inside a spaced dir");

    let run = curl(&["-l", &ftpd.url("/")]);
    run.assert_success();
    let mut names: Vec<String> = run.stdout_text().lines().map(str::to_owned).collect();
    names.sort();
    assert_eq!(names, ["dir with space", name]);

    let local = tempfile::tempdir().unwrap();
    let source = local.path().join("src.txt");
    write_file(&source, b"uploaded\n");
    curl(&[
        "-T",
        source.to_str().unwrap(),
        &ftpd.url("up%20%C3%A9t%C3%A9%20%E2%82%AC.txt"),
    ])
    .assert_success();
    assert_file(&ftpd.root().join("up été €.txt"), b"uploaded\n");
}

#[test]
fn curl_missing_file_is_550() {
    if !tool_available("curl") {
        return;
    }
    let ftpd = server(|root| write_file(&root.join("present.txt"), b"x"));
    let local = tempfile::tempdir().unwrap();
    let target = local.path().join("out");
    let run = curl(&["-o", target.to_str().unwrap(), &ftpd.url("/missing.txt")]);
    run.assert_code(78);
    assert_dialogue(&run, "< 550");
    // Nothing downloaded: no file, or an empty one.
    if target.exists() {
        assert_eq!(read_file(&target), b"");
    }
    // A missing directory in the path.
    let run = curl(&[&ftpd.url("/nodir/missing.txt")]);
    assert_ne!(run.code, Some(0), "{}", run.describe());
    assert_dialogue(&run, "< 550");
}

#[test]
fn curl_login_failure_is_530() {
    if !tool_available("curl") {
        return;
    }
    let ftpd = server(|root| write_file(&root.join("f.txt"), b"x"));
    let mut command = Command::new("curl");
    command
        .args(["-sS", "-v", "--connect-timeout", "5", "--max-time", "20"])
        .args(["-u", &format!("{USER}:wrong-password")])
        .arg(ftpd.url("/f.txt"));
    let wrong = run(&mut command, TIMEOUT);
    wrong.assert_code(67);
    assert_dialogue(&wrong, "< 530");
    assert!(wrong.stdout.is_empty(), "{}", wrong.describe());

    // Unknown users get the same answer.
    let mut command = Command::new("curl");
    command
        .args(["-sS", "-v", "--connect-timeout", "5", "--max-time", "20"])
        .args(["-u", "nobody:whatever"])
        .arg(ftpd.url("/f.txt"));
    let unknown = run(&mut command, TIMEOUT);
    unknown.assert_code(67);
    assert_dialogue(&unknown, "< 530");
}
