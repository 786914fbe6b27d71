//! The `ftp` CLI against the project's `ftpd` over loopback: every subcommand's effect checked
//! on disk or on standard output, byte for byte, and every exit code.
//!
//! Each test starts its own `ftpd` (`--user alice:secret`, a writable temporary root) and runs
//! `ftp` with a hard deadline and `--timeout`, so nothing can hang.

mod support;

use std::ffi::OsString;
use std::fs;
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use support::{
    Ftpd, FtpdBuilder, PASS, Run, USER, assert_file, assert_same_bytes, assert_same_tree,
    make_tree, random_bytes, run, write_file,
};

/// Deadline for one `ftp` run.
const LIMIT: Duration = Duration::from_secs(90);

/// `ftp://alice:secret@127.0.0.1:PORT/` + `path` (already percent-encoded).
fn url(ftpd: &Ftpd, path: &str) -> String {
    format!("ftp://{USER}:{PASS}@{}/{path}", ftpd.addr())
}

/// Runs `ftp --timeout 20 ARGS` in `cwd`.
fn ftp<I, S>(cwd: &Path, args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: Into<OsString>,
{
    let mut command = Command::new(env!("CARGO_BIN_EXE_ftp"));
    command
        .current_dir(cwd)
        .args(["--timeout", "20"])
        .args(args.into_iter().map(Into::into));
    run(&mut command, LIMIT)
}

/// A server with `--user alice:secret` and a scratch directory beside its root.
fn server() -> (Ftpd, tempfile::TempDir) {
    let ftpd = FtpdBuilder::new().user().start();
    let local = tempfile::tempdir().expect("local temp dir");
    (ftpd, local)
}

#[test]
fn ls_prints_one_line_per_entry_and_json() {
    let (ftpd, local) = server();
    write_file(&ftpd.root().join("a b.txt"), &random_bytes(1234, 1));
    write_file(&ftpd.root().join("empty"), b"");
    write_file(&ftpd.root().join("résumé.pdf"), &random_bytes(3_000_001, 2));
    fs::create_dir(ftpd.root().join("sub")).unwrap();

    let run = ftp(local.path(), ["ls", &url(&ftpd, "")]);
    run.assert_success();
    let text = run.stdout_text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{}", run.describe());
    // Sorted by name; type, size right-aligned in 10 columns, UTC minute, name.
    let expected = [
        ("-", 1234, "a b.txt"),
        ("-", 0, "empty"),
        ("-", 3_000_001, "résumé.pdf"),
        ("d", 0, "sub"),
    ];
    for (line, (kind, size, name)) in lines.iter().zip(expected) {
        let head = format!("{kind} {size:>10} ");
        assert!(
            line.starts_with(&head),
            "{line:?} should start with {head:?}"
        );
        let rest = &line[head.len()..];
        let (time, shown) = rest.split_at(16);
        assert_eq!(shown, format!(" {name}"), "{line:?}");
        let digits: String = time.chars().filter(char::is_ascii_digit).collect();
        assert_eq!(digits.len(), 12, "time {time:?} in {line:?}");
        assert_eq!(&time[4..5], "-", "{line:?}");
        assert_eq!(&time[10..11], " ", "{line:?}");
        assert_eq!(&time[13..14], ":", "{line:?}");
    }

    let run = ftp(local.path(), ["ls", "--json", &url(&ftpd, "")]);
    run.assert_success();
    let json: serde_json::Value = serde_json::from_slice(&run.stdout)
        .unwrap_or_else(|e| panic!("not JSON: {e}\n{}", run.describe()));
    let entries = json.as_array().expect("a JSON array");
    assert_eq!(entries.len(), 4, "{json:#}");
    for (entry, (kind, size, name)) in entries.iter().zip(expected) {
        assert_eq!(entry["name"], name, "{entry}");
        assert_eq!(entry["size"], size, "{entry}");
        let kind = if kind == "d" { "dir" } else { "file" };
        assert_eq!(entry["type"], kind, "{entry}");
        let modified = entry["modified"].as_str().expect("modified is known");
        assert!(
            modified.len() >= 20 && modified.ends_with('Z') && &modified[10..11] == "T",
            "{entry}"
        );
        assert!(
            entry["mode"].is_null() || entry["mode"].is_string(),
            "{entry}"
        );
    }

    // A subdirectory, a URL without the trailing slash, and names only with ;type=d.
    write_file(&ftpd.root().join("sub/inner.bin"), b"12345");
    let run = ftp(local.path(), ["ls", &url(&ftpd, "sub")]);
    run.assert_success();
    assert_eq!(
        run.stdout_text().lines().collect::<Vec<_>>().len(),
        1,
        "{}",
        run.describe()
    );
    assert!(
        run.stdout_text().starts_with("-          5 "),
        "{}",
        run.describe()
    );
    let run = ftp(local.path(), ["ls", &url(&ftpd, ";type=d")]);
    run.assert_success();
    assert_eq!(
        run.stdout_text(),
        "a b.txt\nempty\nrésumé.pdf\nsub\n",
        "{}",
        run.describe()
    );
    // A subdirectory lists bare names (CWD, then NLST), with or without the trailing slash;
    // the root written as an absolute path lists the same names as the login directory.
    write_file(&ftpd.root().join("sub/x.log"), b"x");
    for path in ["sub/;type=d", "sub;type=d"] {
        let run = ftp(local.path(), ["ls", &url(&ftpd, path)]);
        run.assert_success();
        assert_eq!(
            run.stdout_text(),
            "inner.bin\nx.log\n",
            "{path}: {}",
            run.describe()
        );
    }
    let run = ftp(local.path(), ["ls", "--json", &url(&ftpd, "sub/;type=d")]);
    run.assert_success();
    let json: serde_json::Value = serde_json::from_slice(&run.stdout)
        .unwrap_or_else(|e| panic!("not JSON: {e}\n{}", run.describe()));
    assert_eq!(json, serde_json::json!(["inner.bin", "x.log"]));
    let run = ftp(local.path(), ["ls", &url(&ftpd, "%2F;type=d")]);
    run.assert_success();
    assert_eq!(
        run.stdout_text(),
        "a b.txt\nempty\nrésumé.pdf\nsub\n",
        "{}",
        run.describe()
    );
}

#[test]
fn get_downloads_exact_bytes_by_default_name() {
    let (ftpd, local) = server();
    let big = random_bytes(3 * 1024 * 1024, 3);
    write_file(&ftpd.root().join("big.bin"), &big);
    write_file(&ftpd.root().join("zero.bin"), b"");

    let run = ftp(local.path(), ["get", &url(&ftpd, "big.bin")]);
    run.assert_success();
    assert!(
        run.stderr.is_empty(),
        "no progress bar when stderr is not a terminal\n{}",
        run.describe()
    );
    assert_file(&local.path().join("big.bin"), &big);

    ftp(local.path(), ["get", &url(&ftpd, "zero.bin")]).assert_success();
    assert_file(&local.path().join("zero.bin"), b"");

    // -o FILE, in active mode too.
    let out = local.path().join("copy of big");
    let run = ftp(
        local.path(),
        [
            OsString::from("--active"),
            "get".into(),
            url(&ftpd, "big.bin").into(),
            "-o".into(),
            out.clone().into(),
        ],
    );
    run.assert_success();
    assert_file(&out, &big);
}

#[test]
fn get_resume_keeps_the_partial_file_and_fetches_the_rest() {
    let (ftpd, local) = server();
    let remote = random_bytes(1024 * 1024 + 17, 4);
    write_file(&ftpd.root().join("data.bin"), &remote);
    // The partial copy's first byte is changed: a resumed download keeps it, a full one
    // would not.
    let mut partial = remote[..300_000].to_vec();
    partial[0] ^= 0xFF;
    let out = local.path().join("data.bin");
    write_file(&out, &partial);

    let run = ftp(local.path(), ["get", "--resume", &url(&ftpd, "data.bin")]);
    run.assert_success();
    let mut expected = remote.clone();
    expected[0] ^= 0xFF;
    assert_file(&out, &expected);

    // Already complete: nothing to do, still success.
    ftp(local.path(), ["get", "--resume", &url(&ftpd, "data.bin")]).assert_success();
    assert_file(&out, &expected);
}

/// `--resume` with a target longer than the source starts over, and says so (unless -q).
#[test]
fn resume_onto_a_longer_target_starts_over_with_a_notice() {
    let (ftpd, local) = server();
    let remote = random_bytes(1000, 6);
    write_file(&ftpd.root().join("data.bin"), &remote);
    let out = local.path().join("data.bin");
    write_file(&out, &random_bytes(5000, 7));
    let run = ftp(local.path(), ["get", "--resume", &url(&ftpd, "data.bin")]);
    run.assert_success();
    assert_file(&out, &remote);
    assert!(
        run.stderr.contains(
            "starting over: the local file (5000 bytes) is longer than the remote one (1000 bytes)"
        ),
        "{}",
        run.describe()
    );

    let longer = random_bytes(3000, 8);
    write_file(&ftpd.root().join("up.bin"), &longer);
    let run = ftp(
        local.path(),
        ["put", "--resume", "data.bin", &url(&ftpd, "up.bin")],
    );
    run.assert_success();
    assert_file(&ftpd.root().join("up.bin"), &remote);
    assert!(
        run.stderr.contains(
            "starting over: the remote file (3000 bytes) is longer than the local one (1000 bytes)"
        ),
        "{}",
        run.describe()
    );

    write_file(&ftpd.root().join("up.bin"), &longer);
    let run = ftp(
        local.path(),
        ["-q", "put", "--resume", "data.bin", &url(&ftpd, "up.bin")],
    );
    run.assert_success();
    assert!(run.stderr.is_empty(), "-q: {}", run.describe());
}

#[test]
fn get_to_stdout() {
    let (ftpd, local) = server();
    let bytes = random_bytes(700_001, 5);
    write_file(&ftpd.root().join("f.bin"), &bytes);
    let run = ftp(local.path(), ["get", &url(&ftpd, "f.bin"), "-o", "-"]);
    run.assert_success();
    assert_same_bytes(&run.stdout, &bytes, "stdout");
    assert!(
        fs::read_dir(local.path()).unwrap().next().is_none(),
        "-o - must not create a file"
    );
    // --resume has no file to continue.
    ftp(
        local.path(),
        ["get", "--resume", &url(&ftpd, "f.bin"), "-o", "-"],
    )
    .assert_code(2);
}

#[test]
fn put_stores_exact_bytes() {
    let (ftpd, local) = server();
    let bytes = random_bytes(2 * 1024 * 1024 + 5, 6);
    let file = local.path().join("upload me.bin");
    write_file(&file, &bytes);
    fs::create_dir(ftpd.root().join("inbox")).unwrap();

    let run = ftp(
        local.path(),
        [
            OsString::from("put"),
            file.clone().into(),
            url(&ftpd, "inbox/renamed.bin").into(),
        ],
    );
    run.assert_success();
    assert_file(&ftpd.root().join("inbox/renamed.bin"), &bytes);

    // A URL ending with / keeps the local name.
    let run = ftp(
        local.path(),
        [
            OsString::from("put"),
            file.clone().into(),
            url(&ftpd, "inbox/").into(),
        ],
    );
    run.assert_success();
    assert_file(&ftpd.root().join("inbox/upload me.bin"), &bytes);

    // The login directory itself, active mode.
    let run = ftp(
        local.path(),
        [
            OsString::from("--active"),
            "put".into(),
            file.into(),
            url(&ftpd, "").into(),
        ],
    );
    run.assert_success();
    assert_file(&ftpd.root().join("upload me.bin"), &bytes);

    // Standard input (empty here): an empty remote file.
    ftp(local.path(), ["put", "-", &url(&ftpd, "from-stdin.txt")]).assert_success();
    assert_file(&ftpd.root().join("from-stdin.txt"), b"");
}

#[test]
fn mirror_both_ways_byte_for_byte() {
    let (ftpd, local) = server();
    let files = make_tree(&ftpd.root().join("tree"), 9, true);
    let into = local.path().join("downloaded");
    let run = ftp(
        local.path(),
        [
            OsString::from("mirror"),
            url(&ftpd, "tree").into(),
            into.clone().into(),
        ],
    );
    run.assert_success();
    assert!(
        run.stderr.contains(&format!("{files} file(s) downloaded")),
        "{}",
        run.describe()
    );
    assert_same_tree(&into, &ftpd.root().join("tree"));

    let source = local.path().join("to upload");
    make_tree(&source, 8, true);
    let run = ftp(
        local.path(),
        [
            OsString::from("-q"),
            "mirror".into(),
            "--reverse".into(),
            source.clone().into(),
            url(&ftpd, "up/there%20it%20goes/").into(),
        ],
    );
    run.assert_success();
    assert!(run.stderr.is_empty(), "-q: {}", run.describe());
    assert_same_tree(&ftpd.root().join("up/there it goes"), &source);
}

/// `mirror` skips what it cannot copy (a dangling symbolic link, a link to a directory, names
/// refused as unsafe) with a warning naming each, copies the rest, and fails at the end
/// (exit 5, "N entries could not be copied").
#[cfg(unix)]
#[test]
fn mirror_skips_entries_it_cannot_copy_and_says_so() {
    let (ftpd, local) = server();
    let tree = ftpd.root().join("pub3");
    fs::create_dir_all(tree.join("real")).unwrap();
    write_file(&tree.join("good.txt"), b"good");
    write_file(&tree.join("real/a.txt"), b"a");
    write_file(&tree.join("zzz_after.txt"), b"after");
    write_file(&tree.join("..\\bs.txt"), b"backslash");
    write_file(&tree.join("esc\u{1b}[31m"), b"escape");
    std::os::unix::fs::symlink("/nonexistent", tree.join("zz_dangling")).unwrap();
    std::os::unix::fs::symlink("real", tree.join("dirlink")).unwrap();
    let into = local.path().join("mm");
    let run = ftp(
        local.path(),
        [
            OsString::from("mirror"),
            url(&ftpd, "pub3").into(),
            into.clone().into(),
        ],
    );
    run.assert_code(5);
    for named in ["zz_dangling", "..\\bs.txt", "esc?[31m"] {
        assert!(
            run.stderr
                .lines()
                .any(|l| l.contains("skipped") && l.contains(named)),
            "{named}: {}",
            run.describe()
        );
    }
    assert!(
        run.stderr.contains("entries could not be copied"),
        "{}",
        run.describe()
    );
    assert!(
        !run.stderr
            .trim_end()
            .chars()
            .any(|c| c.is_control() && c != '\n'),
        "{:?}",
        run.stderr
    );
    assert_file(&into.join("good.txt"), b"good");
    assert_file(&into.join("zzz_after.txt"), b"after");
    assert_file(&into.join("real/a.txt"), b"a");
    assert!(!local.path().join("bs.txt").exists());
    assert!(!into.join("zz_dangling").exists());
}

#[test]
fn rm_and_rm_r() {
    let (ftpd, local) = server();
    write_file(&ftpd.root().join("gone.txt"), b"x");
    make_tree(&ftpd.root().join("old dir"), 8, true);

    ftp(local.path(), ["rm", &url(&ftpd, "gone.txt")]).assert_success();
    assert!(!ftpd.root().join("gone.txt").exists());

    // A directory without -r: refused by the server (remote failure) with a hint.
    let run = ftp(local.path(), ["rm", &url(&ftpd, "old%20dir")]);
    run.assert_code(5);
    assert!(run.stderr.contains("rm -r"), "{}", run.describe());
    assert!(ftpd.root().join("old dir").is_dir());

    ftp(local.path(), ["rm", "-r", &url(&ftpd, "old%20dir/")]).assert_success();
    assert!(!ftpd.root().join("old dir").exists());

    // -r on a file removes the file.
    write_file(&ftpd.root().join("plain"), b"y");
    ftp(local.path(), ["rm", "-r", &url(&ftpd, "plain")]).assert_success();
    assert!(!ftpd.root().join("plain").exists());

    // The login directory and the root are refused before connecting.
    for path in ["", "%2F", "/"] {
        ftp(local.path(), ["rm", "-r", &url(&ftpd, path)]).assert_code(2);
    }
    ftp(local.path(), ["rm", &url(&ftpd, "missing")]).assert_code(5);
}

/// `rm -r` of the login directory, the root or a parent of the login directory is refused
/// (exit 2) however the path is written: `.`, `./`, `%2E`, `a/..`, `a/%2E%2E`, `%2F.` ...;
/// nothing is deleted. (`ftpd` shows each user its home as `/`.)
#[test]
fn rm_r_refuses_the_login_dir_however_written() {
    let builder = FtpdBuilder::new()
        .user()
        .args(["--user-home", &format!("{USER}:/home")]);
    let home = builder.root().join("home");
    make_tree(&home.join("a"), 3, false);
    write_file(&home.join("keep.txt"), b"keep\n");
    let ftpd = builder.start();
    let local = tempfile::tempdir().unwrap();
    for path in [
        ".",
        "./",
        "%2E",
        "%2e/",
        "a/..",
        "a/%2E%2E",
        "a/%2E%2E/",
        "a%2F..",
        "./a/../.",
        "..",
        "a/../..",
        "%2F.",
        "%2F..",
        "//.",
        "//a/..",
    ] {
        let run = ftp(local.path(), ["rm", "-r", &url(&ftpd, path)]);
        run.assert_code(2);
        assert!(
            run.stderr.contains("refusing"),
            "{path}: {}",
            run.describe()
        );
        assert_file(&home.join("keep.txt"), b"keep\n");
        assert!(home.join("a").is_dir(), "{path}: {}", run.describe());
    }
    // A path with `.` and `..` that names something else still works.
    ftp(local.path(), ["rm", "-r", &url(&ftpd, "a/./../a/")]).assert_success();
    assert!(!home.join("a").exists());
    assert_file(&home.join("keep.txt"), b"keep\n");
}

#[test]
fn mkdir_creates_parents() {
    let (ftpd, local) = server();
    ftp(local.path(), ["mkdir", &url(&ftpd, "a/b%20c/d")]).assert_success();
    assert!(ftpd.root().join("a/b c/d").is_dir());
    // Existing: fine; -p accepted.
    ftp(local.path(), ["mkdir", "-p", &url(&ftpd, "a/b%20c/")]).assert_success();
    // A file in the way: the server refuses.
    write_file(&ftpd.root().join("file"), b"");
    ftp(local.path(), ["mkdir", &url(&ftpd, "file/sub")]).assert_code(5);
}

#[test]
fn percent_encoded_and_utf8_names() {
    let (ftpd, local) = server();
    write_file(&ftpd.root().join("a b.txt"), b"spaced\n");
    write_file(&ftpd.root().join("d ir/résumé.txt"), b"accent\n");

    ftp(local.path(), ["get", &url(&ftpd, "a%20b.txt")]).assert_success();
    assert_file(&local.path().join("a b.txt"), b"spaced\n");
    ftp(
        local.path(),
        ["get", &url(&ftpd, "d%20ir/r%C3%A9sum%C3%A9.txt")],
    )
    .assert_success();
    assert_file(&local.path().join("résumé.txt"), b"accent\n");

    let file = local.path().join("x");
    write_file(&file, b"up\n");
    let run = ftp(
        local.path(),
        [
            OsString::from("put"),
            file.into(),
            url(&ftpd, "d%20ir/new%20%E2%9C%93.txt").into(),
        ],
    );
    run.assert_success();
    assert_file(&ftpd.root().join("d ir/new ✓.txt"), b"up\n");

    // A name whose last segment is not a safe local name needs -o.
    let run = ftp(local.path(), ["get", &url(&ftpd, "a%2F..")]);
    run.assert_code(2);
    assert!(run.stderr.contains("-o FILE"), "{}", run.describe());
}

#[test]
fn type_a_converts_line_ends() {
    let (ftpd, local) = server();
    write_file(&ftpd.root().join("text.txt"), b"one\r\ntwo\n");

    // Binary (the default): bytes as they are.
    let run = ftp(local.path(), ["get", &url(&ftpd, "text.txt"), "-o", "-"]);
    run.assert_success();
    assert_eq!(run.stdout, b"one\r\ntwo\n");
    // ASCII: CRLF on the wire, LF locally.
    let run = ftp(
        local.path(),
        ["get", &url(&ftpd, "text.txt;type=a"), "-o", "-"],
    );
    run.assert_success();
    assert_eq!(run.stdout, b"one\ntwo\n", "{}", run.describe());

    // An ASCII download resumes at the wire offset: each local LF was CRLF on the wire.
    write_file(&ftpd.root().join("lines.txt"), b"line1\nline2\nline3\n");
    let part = local.path().join("lines.txt");
    write_file(&part, b"line1\n");
    let run = ftp(
        local.path(),
        [
            OsString::from("get"),
            "-q".into(),
            url(&ftpd, "lines.txt;type=a").into(),
            "-o".into(),
            part.clone().into(),
            "--resume".into(),
        ],
    );
    run.assert_success();
    assert_file(&part, b"line1\nline2\nline3\n");
    // A partial copy that ends between the CR and the LF of a CRLF drops that CR.
    write_file(&part, b"one\r");
    let run = ftp(
        local.path(),
        [
            OsString::from("get"),
            url(&ftpd, "text.txt;type=a").into(),
            "-o".into(),
            part.clone().into(),
            "--resume".into(),
        ],
    );
    run.assert_success();
    assert_file(&part, b"one\ntwo\n");

    let file = local.path().join("up.txt");
    write_file(&file, b"x\r\ny\n");
    let run = ftp(
        local.path(),
        [
            OsString::from("put"),
            file.into(),
            url(&ftpd, "up.txt;type=A").into(),
        ],
    );
    run.assert_success();
    assert_file(&ftpd.root().join("up.txt"), b"x\ny\n");

    // ;type=d is for listings only.
    ftp(local.path(), ["get", &url(&ftpd, "text.txt;type=d")]).assert_code(2);
}

#[test]
fn anonymous_login_when_the_url_has_no_user() {
    let ftpd = FtpdBuilder::new().arg("--anonymous").start();
    write_file(&ftpd.root().join("pub.txt"), b"public\n");
    let local = tempfile::tempdir().unwrap();
    let run = ftp(local.path(), ["get", &ftpd.url("pub.txt"), "-o", "-"]);
    run.assert_success();
    assert_eq!(run.stdout, b"public\n");
}

#[test]
fn ipv6_url() {
    if !support::ipv6_available() {
        return;
    }
    let ftpd = FtpdBuilder::new()
        .user()
        .args(["--listen", "[::1]:0"])
        .start();
    write_file(&ftpd.root().join("six.txt"), b"v6\n");
    let local = tempfile::tempdir().unwrap();
    let target = format!("ftp://{USER}:{PASS}@[::1]:{}/six.txt", ftpd.port());
    let run = ftp(local.path(), ["get", &target, "-o", "-"]);
    run.assert_success();
    assert_eq!(run.stdout, b"v6\n");
}

#[test]
fn exit_codes() {
    let (ftpd, local) = server();
    write_file(&ftpd.root().join("f.txt"), b"f\n");

    // 2: usage.
    for bad in [
        "not a url",
        "http://127.0.0.1/x",
        "ftp://127.0.0.1:99999/x",
        "ftp://127.0.0.1/a%zz",
        "ftp://127.0.0.1/a%0D%0ADELE%20f.txt",
    ] {
        let run = ftp(local.path(), ["get", bad]);
        run.assert_code(2);
        assert!(run.stderr.starts_with("ftp: bad URL"), "{}", run.describe());
        assert_eq!(run.stderr.lines().count(), 1, "{}", run.describe());
    }
    // TLS flags that would mean nothing are refused before connecting.
    for args in [
        &["--insecure", "ls", "ftp://127.0.0.1/"][..],
        &["--ca-file", "ca.pem", "ls", "ftp://127.0.0.1/"],
        &["--tls", "ls", "ftps://127.0.0.1/"],
    ] {
        let run = ftp(local.path(), args.iter().copied());
        run.assert_code(2);
        assert!(run.stderr.contains("TLS"), "{}", run.describe());
    }
    ftp(
        local.path(),
        ["get", "--no-such-flag", &url(&ftpd, "f.txt")],
    )
    .assert_code(2);
    ftp(local.path(), ["frobnicate"]).assert_code(2);
    assert!(ftpd.root().join("f.txt").exists(), "no DELE was injected");

    // 3: nothing listens on the port.
    let closed = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let run = ftp(local.path(), ["ls", &format!("ftp://127.0.0.1:{closed}/")]);
    run.assert_code(3);
    assert!(
        run.stderr.starts_with("ftp: cannot connect to 127.0.0.1:"),
        "{}",
        run.describe()
    );

    // 4: wrong password; the password is not echoed.
    let wrong = format!("ftp://{USER}:not-the-password@{}/f.txt", ftpd.addr());
    let run = ftp(local.path(), ["get", &wrong]);
    run.assert_code(4);
    assert!(run.stderr.contains("530"), "{}", run.describe());
    assert!(
        !run.stderr.contains("not-the-password"),
        "{}",
        run.describe()
    );

    // 5: missing remote file; no empty local file is left behind.
    let run = ftp(local.path(), ["get", &url(&ftpd, "missing.txt")]);
    run.assert_code(5);
    assert!(run.stderr.contains("550"), "{}", run.describe());
    assert!(!local.path().join("missing.txt").exists());
    // ... and an existing local file is not truncated.
    write_file(&local.path().join("keep.txt"), b"precious");
    ftp(
        local.path(),
        ["get", &url(&ftpd, "missing.txt"), "-o", "keep.txt"],
    )
    .assert_code(5);
    assert_file(&local.path().join("keep.txt"), b"precious");
    ftp(local.path(), ["ls", &url(&ftpd, "no/such/dir/")]).assert_code(5);

    // 6: local output cannot be written (its parent is a file), local input missing.
    write_file(&local.path().join("a-file"), b"");
    let run = ftp(
        local.path(),
        ["get", &url(&ftpd, "f.txt"), "-o", "a-file/out.txt"],
    );
    run.assert_code(6);
    assert!(run.stderr.contains("a-file/out.txt"), "{}", run.describe());
    ftp(local.path(), ["put", "no-such-file", &url(&ftpd, "x")]).assert_code(6);
    assert!(!ftpd.root().join("x").exists());
    ftp(
        local.path(),
        ["mirror", "--reverse", "no-such-dir", &url(&ftpd, "x/")],
    )
    .assert_code(6);
}

// ---------------------------------------------------------------------------------------------
// FTPS against servers we did not write (the client crate's foreign-server harness: vsftpd and
// pyftpdlib with TLS required, certificates made at run time). Our own server's TLS is tested
// with this CLI elsewhere.
// ---------------------------------------------------------------------------------------------

/// The client crate's foreign-server harness (its `foreign.rs`, from its directory), with
/// the skip rule it expects.
#[path = "../../ftp-client-tokio/tests/support"]
mod tls_support {
    pub(crate) use crate::support::{loud, skip};

    #[allow(dead_code)]
    pub(crate) mod foreign;
}

use tls_support::foreign::{ForeignServer, ServerKind, TestPki, TlsSetup};

/// `ftp://ftprs:PASSWORD@127.0.0.1:PORT/` + `path` for a foreign server, with `scheme`.
fn foreign_url(server: &ForeignServer, scheme: &str, path: &str) -> String {
    format!(
        "{scheme}://{}:{}@{}/{path}",
        server.user, server.password, server.addr
    )
}

/// Writes the server's CA certificate beside the test's files; returns its path.
fn ca_file(server: &ForeignServer, dir: &Path) -> String {
    let path = dir.join("ca.pem");
    fs::write(&path, &server.pki.as_ref().expect("TLS server").ca_pem).unwrap();
    path.display().to_string()
}

#[test]
fn tls_flag_lists_gets_and_puts_over_explicit_tls() {
    let Some(server) = ForeignServer::start_tls(ServerKind::Pyftpdlib, TlsSetup::Explicit) else {
        return;
    };
    let local = tempfile::tempdir().unwrap();
    let ca = ca_file(&server, local.path());
    let data = random_bytes(300_007, 41);
    server.write_file("f.bin", &data);

    let run = ftp(
        local.path(),
        [
            "--tls",
            "--ca-file",
            &ca,
            "ls",
            &foreign_url(&server, "ftp", ""),
        ],
    );
    run.assert_success();
    assert!(
        run.stdout_text()
            .lines()
            .any(|l| l.starts_with("-     300007 ") && l.ends_with(" f.bin")),
        "{}",
        run.describe()
    );

    let run = ftp(
        local.path(),
        [
            "--tls",
            "--ca-file",
            &ca,
            "get",
            &foreign_url(&server, "ftp", "f.bin"),
            "-o",
            "got.bin",
        ],
    );
    run.assert_success();
    assert_same_bytes(
        &fs::read(local.path().join("got.bin")).unwrap(),
        &data,
        "got.bin",
    );

    let up = random_bytes(123_457, 42);
    write_file(&local.path().join("up.bin"), &up);
    let run = ftp(
        local.path(),
        [
            "--tls",
            "--ca-file",
            &ca,
            "put",
            "up.bin",
            &foreign_url(&server, "ftp", ""),
        ],
    );
    run.assert_success();
    assert_same_bytes(&server.read_file("up.bin"), &up, "up.bin");

    // Without --tls the server (TLS required) refuses the clear login (pyftpdlib: 550), exit 4.
    let run = ftp(local.path(), ["ls", &foreign_url(&server, "ftp", "")]);
    run.assert_code(4);
    assert!(run.stderr.contains("550"), "{}", run.describe());
}

#[test]
fn tls_certificate_checks_and_insecure() {
    let Some(server) = ForeignServer::start_tls(ServerKind::Pyftpdlib, TlsSetup::Explicit) else {
        return;
    };
    let local = tempfile::tempdir().unwrap();
    server.write_file("x.txt", b"checked\n");
    // Another CA than the server's: refused during the handshake, exit code 3, no login.
    let other = local.path().join("other.pem");
    fs::write(
        &other,
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()])
            .unwrap()
            .cert
            .pem(),
    )
    .unwrap();
    let url = foreign_url(&server, "ftp", "x.txt");
    let run = ftp(
        local.path(),
        [
            "--tls",
            "--ca-file",
            other.to_str().unwrap(),
            "get",
            &url,
            "-o",
            "-",
        ],
    );
    run.assert_code(3);
    assert!(run.stderr.contains("certificate"), "{}", run.describe());
    assert!(!server.log().contains("USER ftprs"), "{}", server.log());
    // --insecure: accepted (still encrypted).
    let run = ftp(
        local.path(),
        ["--tls", "--insecure", "get", &url, "-o", "-"],
    );
    run.assert_success();
    assert_eq!(run.stdout, b"checked\n");
    // -k, curl's short form, anywhere on the line.
    for args in [
        ["-k", "--tls", "get", &url, "-o", "-"],
        ["--tls", "get", "-k", &url, "-o", "-"],
    ] {
        let run = ftp(local.path(), args);
        run.assert_success();
        assert_eq!(run.stdout, b"checked\n");
    }
}

#[test]
fn ftps_url_is_implicit_tls() {
    let Some(server) = ForeignServer::start_tls(ServerKind::Vsftpd, TlsSetup::Implicit) else {
        return;
    };
    let local = tempfile::tempdir().unwrap();
    let ca = ca_file(&server, local.path());
    let data = random_bytes(200_003, 43);
    server.write_file("d.bin", &data);
    let run = ftp(
        local.path(),
        [
            "--ca-file",
            &ca,
            "get",
            &foreign_url(&server, "ftps", "d.bin"),
            "-o",
            "d.bin",
        ],
    );
    run.assert_success();
    assert_same_bytes(
        &fs::read(local.path().join("d.bin")).unwrap(),
        &data,
        "d.bin",
    );
    // vsftpd requires every data connection to resume the control session: an upload and a
    // listing after it prove the CLI's data connections do.
    write_file(&local.path().join("u.bin"), &data[..1000]);
    ftp(
        local.path(),
        [
            "--ca-file",
            &ca,
            "put",
            "u.bin",
            &foreign_url(&server, "ftps", ""),
        ],
    )
    .assert_success();
    assert_same_bytes(&server.read_file("u.bin"), &data[..1000], "u.bin");
}

// ---------------------------------------------------------------------------------------------
// FTPS with our own ftpd: self-signed certificates as people make them, and what the common
// mistakes say.
// ---------------------------------------------------------------------------------------------

/// `ftpd` with alice, `f.txt` in its root, and TLS with `pki`'s certificate on the explicit
/// port and on an implicit-TLS one (`implicit_tls_addrs[0]`).
fn own_tls_server(pki: &TestPki) -> Ftpd {
    let builder = FtpdBuilder::new().user();
    write_file(&builder.root().join("f.txt"), b"over TLS\n");
    let (cert, key) = (
        builder.base().join("cert.pem"),
        builder.base().join("key.pem"),
    );
    fs::write(&cert, &pki.cert_pem).unwrap();
    fs::write(&key, &pki.key_pem).unwrap();
    builder
        .arg("--tls-cert")
        .arg(cert)
        .arg("--tls-key")
        .arg(key)
        .args(["--implicit-tls-listen", "127.0.0.1:0"])
        .start()
}

/// Runs `ftp --timeout SECS ARGS` in `cwd` with `SSL_CERT_FILE=roots`: the "system" roots
/// that `--tls` trusts without `--ca-file`, so no test depends on the machine's.
fn ftp_with_roots(cwd: &Path, roots: &Path, secs: u32, args: &[&str]) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ftp"));
    command
        .current_dir(cwd)
        .env("SSL_CERT_FILE", roots)
        .args(["--timeout", &secs.to_string()])
        .args(args);
    run(&mut command, LIMIT)
}

/// A self-signed certificate marked as a CA (OpenSSL's default for `req -x509`) is trusted
/// when `--ca-file` gives that very certificate, explicit and implicit; the same certificate
/// among the system roots does not make it the server's own (refused, with the way out).
#[test]
fn ca_file_trusts_a_self_signed_ca_certificate() {
    let pki = TestPki::self_signed_ca(&["127.0.0.1", "localhost"]);
    let ftpd = own_tls_server(&pki);
    let local = tempfile::tempdir().unwrap();
    let cert = local.path().join("server.pem");
    fs::write(&cert, &pki.cert_pem).unwrap();
    let cert = cert.to_str().unwrap();
    let implicit = format!("ftps://{USER}:{PASS}@{}/f.txt", ftpd.implicit_tls_addrs[0]);
    for args in [
        &[
            "--tls",
            "--ca-file",
            cert,
            "get",
            &url(&ftpd, "f.txt"),
            "-o",
            "-",
        ][..],
        &["--ca-file", cert, "get", &implicit, "-o", "-"],
    ] {
        let run = ftp(local.path(), args);
        run.assert_success();
        assert_eq!(run.stdout, b"over TLS\n", "{}", run.describe());
    }

    let run = ftp_with_roots(
        local.path(),
        Path::new(cert),
        20,
        &["--tls", "ls", &url(&ftpd, "")],
    );
    run.assert_code(3);
    assert!(
        run.stderr.contains(
            "TLS: the server's certificate is not trusted (it is marked as a CA certificate, as \
             self-signed ones often are): give that certificate with --ca-file, or --insecure \
             for a test server"
        ),
        "{}",
        run.describe()
    );
    assert!(!ftpd.log().contains("USER alice"), "{}", ftpd.log());
}

/// The common TLS mistakes say what happened and what to do, in one line each.
#[test]
fn tls_mistakes_say_what_to_do() {
    let pki = TestPki::self_signed_ca(&["127.0.0.1", "localhost"]);
    let ftpd = own_tls_server(&pki);
    let local = tempfile::tempdir().unwrap();
    let roots = local.path().join("roots.pem");
    fs::write(&roots, &pki.cert_pem).unwrap();
    let expect = |run: &Run, message: &str| {
        run.assert_code(3);
        assert_eq!(run.stderr.trim_end(), message, "{}", run.describe());
    };

    // A self-signed certificate that is not a CA, given nowhere: an unknown issuer.
    let plain = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let other = own_tls_server(&TestPki {
        ca_pem: plain.cert.pem(),
        cert_pem: plain.cert.pem(),
        key_pem: plain.signing_key.serialize_pem(),
    });
    expect(
        &ftp_with_roots(local.path(), &roots, 20, &["--tls", "ls", &url(&other, "")]),
        &format!(
            "ftp: cannot connect to {}: TLS: the server's certificate is not trusted (self-signed \
             or unknown issuer): give its CA with --ca-file, or --insecure for a test server",
            other.addr()
        ),
    );

    // Implicit TLS (ftps://) on the explicit port: the server greets in clear.
    let explicit_port = format!("ftps://{USER}:{PASS}@{}/", ftpd.addr());
    expect(
        &ftp_with_roots(
            local.path(),
            &roots,
            20,
            &["--insecure", "ls", &explicit_port],
        ),
        &format!(
            "ftp: cannot connect to {}: TLS: the server did not answer with TLS: is this an \
             explicit-TLS (AUTH TLS) port? use ftp:// with --tls",
            ftpd.addr()
        ),
    );

    // Explicit TLS on the implicit port: the server waits for a handshake, and never greets.
    let implicit = ftpd.implicit_tls_addrs[0];
    let implicit_port = format!("ftp://{USER}:{PASS}@{implicit}/");
    expect(
        &ftp_with_roots(local.path(), &roots, 1, &["--tls", "ls", &implicit_port]),
        &format!(
            "ftp: cannot connect to {implicit}: no greeting from the server within the timeout: \
             is this an implicit-TLS port? use ftps://"
        ),
    );
    // The same where the server closes first (ftpd does after its 10 s handshake limit).
    let closing = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = closing.local_addr().unwrap();
    std::thread::spawn(move || {
        for tcp in closing.incoming() {
            drop(tcp);
        }
    });
    expect(
        &ftp_with_roots(
            local.path(),
            &roots,
            20,
            &["--tls", "ls", &format!("ftp://{addr}/")],
        ),
        &format!(
            "ftp: cannot connect to {addr}: the server closed the connection before its \
             greeting: is this an implicit-TLS port? use ftps://"
        ),
    );
}

/// `--timeout` takes 1 to 31536000 seconds (one year): a larger value is a usage error, not
/// a panic on a deadline overflow, and `--help` says the range.
#[test]
fn timeout_range() {
    let local = tempfile::tempdir().unwrap();
    let closed = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let target = format!("ftp://127.0.0.1:{closed}/");
    for huge in ["18446744073709551615", "31536001"] {
        let mut command = Command::new(env!("CARGO_BIN_EXE_ftp"));
        command
            .current_dir(local.path())
            .args(["--timeout", huge, "ls", &target]);
        let run = run(&mut command, LIMIT);
        run.assert_code(2);
        assert!(run.stderr.contains("31536000"), "{}", run.describe());
    }
    // The largest value is accepted (and fails only to connect).
    let mut command = Command::new(env!("CARGO_BIN_EXE_ftp"));
    command
        .current_dir(local.path())
        .args(["--timeout", "31536000", "ls", &target]);
    run(&mut command, LIMIT).assert_code(3);
    let mut command = Command::new(env!("CARGO_BIN_EXE_ftp"));
    command.arg("--help");
    let help = run(&mut command, LIMIT);
    help.assert_success();
    assert!(
        help.stdout_text().contains("31536000"),
        "{}",
        help.describe()
    );
}

// ---------------------------------------------------------------------------------------------
// Against a scripted fake server: what our own server never does.
// ---------------------------------------------------------------------------------------------

/// A fake FTP server on 127.0.0.1 for as many sessions as come: `PWD` answers `cwd`, `SIZE`
/// answers `size`, and `RETR` replies `150`, sends `data` over the passive data connection
/// (`None`: opens none) and replies `226`. Everything else gets a plausible positive reply.
/// Returns the address and the commands received.
fn fake_server(
    cwd: &'static str,
    size: &'static str,
    data: Option<Vec<u8>>,
) -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::Mutex<Vec<String>>>,
) {
    use std::io::{BufRead, BufReader, Write};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = log.clone();
    std::thread::spawn(move || {
        for control in listener.incoming() {
            let Ok(control) = control else { return };
            let (log, data) = (seen.clone(), data.clone());
            std::thread::spawn(move || {
                let mut out = control.try_clone().unwrap();
                let mut passive: Option<TcpListener> = None;
                let _ = out.write_all(b"220 fake\r\n");
                for line in BufReader::new(control).lines() {
                    let Ok(line) = line else { return };
                    log.lock().unwrap().push(line.clone());
                    let verb = line.split(' ').next().unwrap_or("").to_ascii_uppercase();
                    let reply = match verb.as_str() {
                        "USER" => "331 pw".to_owned(),
                        "PWD" => format!("257 \"{cwd}\""),
                        "SIZE" => size.to_owned(),
                        "EPSV" | "MLST" | "FEAT" => "500 no".to_owned(),
                        "QUIT" => "221 bye".to_owned(),
                        "PASV" => {
                            let l = TcpListener::bind("127.0.0.1:0").unwrap();
                            let port = l.local_addr().unwrap().port();
                            passive = Some(l);
                            format!("227 ok (127,0,0,1,{},{})", port >> 8, port & 0xff)
                        }
                        "RETR" => {
                            let _ = out.write_all(b"150 here\r\n");
                            if let (Some(bytes), Some(l)) = (&data, passive.take()) {
                                let (mut d, _) = l.accept().unwrap();
                                let _ = d.write_all(bytes);
                            }
                            "226 done".to_owned()
                        }
                        _ => "250 ok".to_owned(),
                    };
                    let _ = out.write_all(format!("{reply}\r\n").as_bytes());
                }
            });
        }
    });
    (addr, log)
}

/// On a server that shows the real file system (no chroot), the login directory written
/// as an absolute path, or one of its parents, is refused too (after PWD), before anything
/// is listed or deleted.
#[test]
fn rm_r_refuses_the_login_dir_as_an_absolute_path() {
    let (addr, log) = fake_server("/home/carol", "550 no", None);
    let local = tempfile::tempdir().unwrap();
    for path in [
        "%2Fhome/carol",
        "%2Fhome/carol/",
        "%2Fhome",
        "//home/./carol/x/..",
    ] {
        let run = ftp(
            local.path(),
            ["rm", "-r", &format!("ftp://carol:pw@{addr}/{path}")],
        );
        run.assert_code(2);
        assert!(run.stderr.contains("refusing"), "{}", run.describe());
    }
    let log = log.lock().unwrap().clone();
    assert!(
        !log.iter().any(|l| ["LIST", "MLSD", "DELE", "RMD"]
            .iter()
            .any(|v| l.starts_with(v))),
        "{log:?}"
    );
}

/// A binary download shorter than SIZE said is a failure (exit 5, "partial file"), to a
/// file or to standard output.
#[test]
fn get_shorter_than_size_fails() {
    let (addr, _) = fake_server("/", "213 1000", Some(vec![7; 600]));
    let local = tempfile::tempdir().unwrap();
    let url = format!("ftp://{addr}/f.bin");
    let run = ftp(local.path(), ["get", &url]);
    run.assert_code(5);
    assert!(
        run.stderr
            .contains("partial file: expected 1000 bytes, got 600"),
        "{}",
        run.describe()
    );
    let run = ftp(local.path(), ["get", &url, "-o", "-"]);
    run.assert_code(5);
    assert!(run.stderr.contains("partial file"), "{}", run.describe());
}

/// A binary download longer than SIZE said stops there (exit 5, "more than the N bytes"),
/// not "partial file"; to standard output only the announced bytes are written.
#[test]
fn get_longer_than_size_stops_at_the_size() {
    let (addr, _) = fake_server("/", "213 100", Some(vec![7; 8 * 1024 * 1024]));
    let local = tempfile::tempdir().unwrap();
    let url = format!("ftp://{addr}/f.bin");
    let run = ftp(local.path(), ["get", &url]);
    run.assert_code(5);
    assert!(
        run.stderr
            .contains("the server sent more than the 100 bytes SIZE announced"),
        "{}",
        run.describe()
    );
    assert!(!run.stderr.contains("partial"), "{}", run.describe());
    assert!(fs::metadata(local.path().join("f.bin")).unwrap().len() <= 101);
    let run = ftp(local.path(), ["get", &url, "-o", "-"]);
    run.assert_code(5);
    assert!(
        run.stderr.contains("more than the 100 bytes"),
        "{}",
        run.describe()
    );
    assert_eq!(run.stdout.len(), 100, "{}", run.describe());
}

/// `--active`: a server that replies 150 and 226 but never connects back has not sent the
/// file (exit 5), and no empty output file is left.
#[test]
fn active_get_without_a_data_connection_fails() {
    let (addr, _) = fake_server("/", "213 10", None);
    let local = tempfile::tempdir().unwrap();
    let run = ftp(
        local.path(),
        ["--active", "get", &format!("ftp://{addr}/f.bin")],
    );
    run.assert_code(5);
    assert!(
        run.stderr.contains("no data connection"),
        "{}",
        run.describe()
    );
    assert!(!local.path().join("f.bin").exists());
}

/// Server text in an error message cannot drive the terminal: control characters are
/// replaced.
#[test]
fn server_text_in_errors_is_escaped() {
    let (addr, _) = fake_server(
        "/",
        "550 \u{1b}]0;PWNED\u{7}\u{1b}[2J\u{1b}[31mRED\u{8} gone",
        None,
    );
    let local = tempfile::tempdir().unwrap();
    let run = ftp(local.path(), ["get", &format!("ftp://{addr}/f.bin")]);
    run.assert_code(5);
    assert!(run.stderr.contains("?[31mRED? gone"), "{}", run.describe());
    assert!(
        !run.stderr.trim_end().chars().any(char::is_control),
        "{:?}",
        run.stderr
    );
}
