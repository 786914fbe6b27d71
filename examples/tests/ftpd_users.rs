//! `ftpd user ...` and `ftpd --users-file/--users-db`: users added through the command line
//! (password on stdin) log in with curl; a wrong password gets 530; `passwd` and `remove` take
//! effect on the running server; read-only users cannot upload while full users can; the
//! password never appears in the store; parallel changes are all kept; a rewrite keeps the
//! file's owner and hides it from others; a missing SQLite file is not created silently.

mod support;

use std::fs;
use std::io::Write;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use support::{FtpdBuilder, Run, run, tool_available, write_file};

const TIMEOUT: Duration = Duration::from_secs(60);

/// curl's exit code when the server refuses the login (530).
const CURLE_LOGIN_DENIED: i32 = 67;

/// `ftpd ARGS` with `stdin` written to its standard input, killed after [`TIMEOUT`].
fn ftpd_with_stdin(args: &[&str], stdin: &str) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ftpd"));
    command
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let description = format!("{command:?}");
    let mut child = command.spawn().expect("start ftpd");
    let mut input = child.stdin.take().expect("stdin");
    let _ = input.write_all(stdin.as_bytes());
    drop(input);
    let deadline = Instant::now() + TIMEOUT;
    while child.try_wait().ok().flatten().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().expect("ftpd output");
    Run {
        command: description,
        code: output.status.code(),
        stdout: output.stdout,
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// `ftpd user ...` with no standard input.
fn ftpd_user(args: &[&str]) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ftpd"));
    command.args(args);
    run(&mut command, TIMEOUT)
}

fn curl(login: &str, args: &[&str]) -> Run {
    let mut command = Command::new("curl");
    command
        .args([
            "-sS",
            "--connect-timeout",
            "5",
            "--max-time",
            "50",
            "-u",
            login,
        ])
        .args(args);
    run(&mut command, TIMEOUT)
}

/// The whole life of two users in one store, `store` being `--users-file F` or
/// `--users-db URL`.
fn users_end_to_end(builder: FtpdBuilder, store: &[&str], stored_at: &std::path::Path) {
    let call = |args: &[&str], stdin: &str| {
        let all: Vec<&str> = args.iter().chain(store).copied().collect();
        ftpd_with_stdin(&all, stdin)
    };

    // Full user with a home, read-only user at the top; passwords on stdin.
    call(
        &[
            "user", "add", "alice", "--home", "/alice", "--perms", "all", "--quota", "1000000",
        ],
        "alice-pw1\n",
    )
    .assert_success();
    call(
        &[
            "user",
            "add",
            "reader",
            "--home",
            "/",
            "--perms",
            "read-only",
        ],
        "reader-pw\n",
    )
    .assert_success();
    // The password is not on the command line, and only its hash is stored.
    let stored = fs::read(stored_at).expect("store written");
    let stored = String::from_utf8_lossy(&stored);
    assert!(!stored.contains("alice-pw1") && !stored.contains("reader-pw"));
    // A second add of the same name fails; an empty password is refused.
    let again = call(&["user", "add", "alice", "--home", "/alice"], "x\n");
    assert_ne!(again.code, Some(0), "{}", again.describe());
    let empty = call(&["user", "add", "nopw", "--home", "/"], "");
    assert_ne!(empty.code, Some(0), "{}", empty.describe());
    assert!(
        empty.stderr.contains("empty password"),
        "{}",
        empty.describe()
    );

    let list = call(&["user", "list"], "");
    list.assert_success();
    let text = list.stdout_text();
    assert!(
        text.contains("alice home=/alice perms=list,read,write,append,delete,rename,mkdir quota=1000000 max-sessions=- enabled allow-from=any"),
        "{text}"
    );
    assert!(text.contains("reader home=/ perms=list,read "), "{text}");
    assert!(!text.contains("nopw") && !text.contains("argon2"), "{text}");

    fs::create_dir_all(builder.root().join("alice")).unwrap();
    write_file(&builder.root().join("alice/mine.txt"), b"alice's\n");
    write_file(&builder.root().join("top.txt"), b"top\n");
    let upload = builder.base().join("upload.txt");
    write_file(&upload, b"uploaded\n");
    let mut args = vec!["--listen", "127.0.0.1:0"];
    args.extend_from_slice(store);
    let ftpd = builder.args(args).start();
    let upload = upload.to_str().unwrap();

    // Wrong password and unknown user: 530. No anonymous access unless --anonymous.
    curl("alice:wrong", &[&ftpd.url("/")]).assert_code(CURLE_LOGIN_DENIED);
    curl("mallory:alice-pw1", &[&ftpd.url("/")]).assert_code(CURLE_LOGIN_DENIED);
    curl("anonymous:guest@", &[&ftpd.url("/")]).assert_code(CURLE_LOGIN_DENIED);

    // alice sees her home as /, and may upload.
    let listing = curl("alice:alice-pw1", &[&ftpd.url("/")]);
    listing.assert_success();
    let names = listing.stdout_text();
    assert!(
        names.contains("mine.txt") && !names.contains("top.txt"),
        "{names}"
    );
    curl("alice:alice-pw1", &["-T", upload, &ftpd.url("/new.txt")]).assert_success();
    assert_eq!(
        fs::read(ftpd.root().join("alice/new.txt")).unwrap(),
        b"uploaded\n"
    );

    // reader sees the whole tree, may download, may not upload.
    let listing = curl("reader:reader-pw", &[&ftpd.url("/")]);
    listing.assert_success();
    assert!(
        listing.stdout_text().contains("top.txt"),
        "{}",
        listing.describe()
    );
    let got = curl("reader:reader-pw", &[&ftpd.url("/top.txt")]);
    got.assert_success();
    assert_eq!(got.stdout, b"top\n");
    let denied = curl("reader:reader-pw", &["-T", upload, &ftpd.url("/evil.txt")]);
    assert_ne!(denied.code, Some(0), "{}", denied.describe());
    assert!(!ftpd.root().join("evil.txt").exists());

    // passwd, disable, enable and remove act on the running server.
    call(&["user", "passwd", "alice"], "alice-pw2\n").assert_success();
    curl("alice:alice-pw1", &[&ftpd.url("/")]).assert_code(CURLE_LOGIN_DENIED);
    curl("alice:alice-pw2", &[&ftpd.url("/")]).assert_success();
    call(&["user", "disable", "alice"], "").assert_success();
    curl("alice:alice-pw2", &[&ftpd.url("/")]).assert_code(CURLE_LOGIN_DENIED);
    call(&["user", "enable", "alice"], "").assert_success();
    curl("alice:alice-pw2", &[&ftpd.url("/")]).assert_success();
    call(&["user", "remove", "reader"], "").assert_success();
    curl("reader:reader-pw", &[&ftpd.url("/")]).assert_code(CURLE_LOGIN_DENIED);
    let gone = call(&["user", "remove", "reader"], "");
    assert_ne!(gone.code, Some(0), "{}", gone.describe());
}

#[test]
fn users_file_end_to_end() {
    if !tool_available("curl") {
        return;
    }
    let builder = FtpdBuilder::new();
    let file = builder.base().join("users.toml");
    let file_arg = file.to_str().unwrap().to_owned();
    users_end_to_end(builder, &["--users-file", &file_arg], &file);
}

#[test]
fn sqlite_end_to_end() {
    if !tool_available("curl") {
        return;
    }
    let builder = FtpdBuilder::new();
    let db = builder.base().join("users.db");
    let url = format!("sqlite://{}?mode=rwc", db.display());
    users_end_to_end(builder, &["--users-db", &url], &db);
}

#[test]
fn users_flags_are_checked_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap();
    let missing = dir.path().join("missing.toml");
    let missing = missing.to_str().unwrap();
    let missing_db = format!("sqlite://{}", dir.path().join("missing.db").display());
    let cases: [(&[&str], &str); 5] = [
        (&["--users-file", missing], "missing.toml"),
        // Not a new empty database that refuses every login.
        (&["--users-db", &missing_db], "no such database file"),
        (
            &["--users-file", missing, "--users-db", "sqlite://x.db"],
            "cannot be used with",
        ),
        (
            &["--users-file", missing, "--user", "a:b"],
            "cannot be used with",
        ),
        (&["--users-db", "oracle://db/x"], "unsupported database"),
    ];
    for (args, expected) in cases {
        let mut command = Command::new(env!("CARGO_BIN_EXE_ftpd"));
        command
            .args(["--root", root, "--listen", "127.0.0.1:0"])
            .args(args);
        let run = run(&mut command, TIMEOUT);
        assert_ne!(run.code, Some(0), "{}", run.describe());
        assert!(
            run.stderr.contains(expected),
            "expected {expected:?}\n{}",
            run.describe()
        );
        assert!(
            !run.stdout_text().contains("listening on"),
            "{}",
            run.describe()
        );
    }
    // The user subcommands need exactly one store.
    let run = ftpd_user(&["user", "list"]);
    assert_ne!(run.code, Some(0), "{}", run.describe());
    assert!(run.stderr.contains("--users-file"), "{}", run.describe());
    // Listing a users file or SQLite file that does not exist is an error, not an empty
    // list, and creates nothing.
    let run = ftpd_user(&["user", "list", "--users-file", missing]);
    assert_ne!(run.code, Some(0), "{}", run.describe());
    for args in [
        &["user", "list", "--users-db", &missing_db][..],
        &["user", "remove", "alice", "--users-db", &missing_db],
    ] {
        let run = ftpd_user(args);
        assert_ne!(run.code, Some(0), "{}", run.describe());
        assert!(
            run.stderr.contains("no such database file"),
            "{}",
            run.describe()
        );
    }
    assert!(!dir.path().join("missing.db").exists());
    assert!(!dir.path().join("missing.toml").exists());
}

/// `ftpd user add` run several times at once on one users file (as a provisioning script
/// might): every one succeeds and every user is in the file afterwards.
#[test]
fn parallel_adds_to_one_users_file_are_all_kept() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("users.toml");
    let file_arg = file.to_str().unwrap().to_owned();
    let names: Vec<String> = (0..8).map(|i| format!("user{i}")).collect();
    let adds: Vec<_> = names
        .iter()
        .map(|name| {
            let (name, file_arg) = (name.clone(), file_arg.clone());
            thread::spawn(move || {
                let args = [
                    "user",
                    "add",
                    &name,
                    "--home",
                    "/",
                    "--users-file",
                    &file_arg,
                ];
                ftpd_with_stdin(&args, "pw\n")
            })
        })
        .collect();
    for add in adds {
        add.join().unwrap().assert_success();
    }
    let list = ftpd_user(&["user", "list", "--users-file", &file_arg]);
    list.assert_success();
    let text = list.stdout_text();
    let listed: Vec<&str> = text.lines().filter_map(|l| l.split(' ').next()).collect();
    assert_eq!(listed, names, "{text}");
    let entries: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(entries, ["users.toml"], "stray files");
}

/// A rewrite by `ftpd user` keeps the users file's owner and group (run as root, it must not
/// take the file away from the account the server runs as) and removes any permission for
/// others, saying so; the server warns at start about a file others can read.
#[cfg(unix)]
#[test]
fn a_rewrite_keeps_the_owner_and_hides_the_hashes() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    // Beside the server's directory, which goes when the server does.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("users.toml");
    let file_arg = file.to_str().unwrap().to_owned();
    let add = |name: &str| {
        let args = [
            "user",
            "add",
            name,
            "--home",
            "/",
            "--users-file",
            &file_arg,
        ];
        ftpd_with_stdin(&args, "pw\n")
    };
    add("alice").assert_success();
    assert_eq!(fs::metadata(&file).unwrap().mode() & 0o777, 0o600);
    let as_root = fs::metadata(&file).unwrap().uid() == 0;
    if as_root {
        std::os::unix::fs::chown(&file, Some(65534), Some(65534)).unwrap();
    }
    fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();

    let ftpd = FtpdBuilder::new().args(["--users-file", &file_arg]).start();
    assert!(
        ftpd.log().contains("readable by others"),
        "no warning\n{}",
        ftpd.log()
    );
    drop(ftpd);

    let run = add("bob");
    run.assert_success();
    assert!(
        run.stderr.contains("removed the permissions others had on"),
        "{}",
        run.describe()
    );
    let meta = fs::metadata(&file).unwrap();
    assert_eq!(meta.mode() & 0o777, 0o640);
    if as_root {
        assert_eq!((meta.uid(), meta.gid()), (65534, 65534), "owner changed");
    }
    // Nothing more to remove: no note.
    let run = add("carol");
    run.assert_success();
    assert!(!run.stderr.contains("removed"), "{}", run.describe());
}

/// A store's error names the store once, not once per layer.
#[test]
fn store_errors_name_the_store_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("users.db");
    let rwc = format!("sqlite://{}?mode=rwc", db.display());
    ftpd_with_stdin(
        &["user", "add", "alice", "--home", "/", "--users-db", &rwc],
        "pw\n",
    )
    .assert_success();
    let ro = format!("sqlite://{}?mode=ro", db.display());
    let run = ftpd_with_stdin(
        &["user", "add", "bob", "--home", "/", "--users-db", &ro],
        "pw\n",
    );
    assert_ne!(run.code, Some(0), "{}", run.describe());
    assert_eq!(
        run.stderr.matches("sqlite://").count(),
        1,
        "{}",
        run.describe()
    );
}

/// The help of `user remove` and `user disable` says that sessions already logged in go on.
#[test]
fn remove_and_disable_say_that_sessions_go_on() {
    for action in ["remove", "disable"] {
        let run = ftpd_user(&["user", action, "--help"]);
        run.assert_success();
        assert!(
            run.stdout_text().contains("continue until they end"),
            "{}",
            run.describe()
        );
    }
}

/// A virtual user's quota through ftpd and curl: an upload past it fails (552) and, per
/// `--quota-partial`, leaves nothing or exactly the bytes up to the quota.
#[test]
fn quota_and_the_partial_file_policy() {
    if !tool_available("curl") {
        return;
    }
    for (policy, kept) in [("delete", None), ("keep", Some(1000))] {
        let builder = FtpdBuilder::new();
        let file = builder.base().join("users.toml");
        let file_arg = file.to_str().unwrap().to_owned();
        fs::create_dir(builder.root().join("bob")).unwrap();
        let add = ftpd_with_stdin(
            &[
                "user",
                "add",
                "bob",
                "--home",
                "/bob",
                "--quota",
                "1000",
                "--users-file",
                &file_arg,
            ],
            "bob-pw\n",
        );
        add.assert_success();
        let local = builder.base().join("big.bin");
        write_file(&local, &[9; 1500]);
        let small = builder.base().join("small.bin");
        write_file(&small, &[5; 600]);
        let ftpd = builder
            .args(["--users-file", &file_arg, "--quota-partial", policy])
            .start();
        let local_arg = local.to_str().unwrap();
        curl(
            "bob:bob-pw",
            &["-T", small.to_str().unwrap(), &ftpd.url("small.bin")],
        )
        .assert_success();
        // 600 used: 1500 more does not fit. curl reports the failed upload (exit 25).
        let over = curl("bob:bob-pw", &["-T", local_arg, &ftpd.url("big.bin")]);
        assert_ne!(over.code, Some(0), "{}", over.describe());
        let stored = fs::read(ftpd.root().join("bob/big.bin"))
            .ok()
            .map(|b| b.len());
        assert_eq!(
            stored,
            kept.map(|q: usize| q - 600),
            "--quota-partial {policy}"
        );
        assert_eq!(
            fs::read(ftpd.root().join("bob/small.bin")).unwrap(),
            vec![5; 600]
        );
    }
}

/// A users database that is down when ftpd starts is treated as it is later: ftpd serves,
/// logs why, and answers logins with 421 (try later), not 530.
#[test]
fn a_database_down_at_start_gives_421_not_530() {
    if !tool_available("curl") {
        return;
    }
    let ftpd = FtpdBuilder::new()
        .args(["--users-db", "postgres://ftp:pw@127.0.0.1:1/ftp"])
        .start();
    let login = curl("alice:secret", &["-v", &ftpd.url("/")]);
    assert_ne!(login.code, Some(0), "{}", login.describe());
    assert!(login.stderr.contains("< 421"), "{}", login.describe());
    assert_ne!(
        login.code,
        Some(CURLE_LOGIN_DENIED),
        "530 instead of 421\n{}",
        login.describe()
    );
    assert!(ftpd.log().contains("unreachable"), "{}", ftpd.log());
    assert!(
        !ftpd.log().contains("ftp:pw@"),
        "the password reached the log"
    );
}

/// Resident memory of process `pid` in KiB (Linux `/proc`).
fn rss_kib(pid: u32) -> u64 {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .expect("VmRSS")
}

#[test]
fn failed_logins_give_their_argon2_memory_back() {
    // Each check of a wrong password needs argon2's 19 MiB work area. A burst of them, spread
    // over the blocking threads, used to leave that memory in malloc's per-thread arenas: about
    // 900 MB after 72 wrong passwords 12 at a time, never returned.
    let builder = FtpdBuilder::new();
    let file = builder.base().join("users.toml");
    let file_arg = file.to_str().unwrap().to_owned();
    ftpd_with_stdin(
        &[
            "user",
            "add",
            "carol",
            "--home",
            "/",
            "--users-file",
            &file_arg,
        ],
        "carol-pw\n",
    )
    .assert_success();
    let ftpd = builder
        .arg("--users-file")
        .arg(&file_arg)
        .arg("--max-login-failures-per-ip")
        .arg("0")
        .start();
    let before = rss_kib(ftpd.pid());
    thread::scope(|scope| {
        for worker in 0..12 {
            let ftpd = &ftpd;
            scope.spawn(move || {
                for attempt in 0..6 {
                    let mut c = ftpd.control();
                    c.cmd("USER carol");
                    let reply = c.cmd(&format!("PASS wrong-{worker}-{attempt}"));
                    assert_eq!(reply.code, 530, "{}", c.dialogue());
                }
            });
        }
    });
    let mut c = ftpd.control();
    c.cmd("USER carol");
    assert_eq!(c.cmd("PASS carol-pw").code, 230, "{}", c.dialogue());
    let after = rss_kib(ftpd.pid());
    // At most 8 checks run at once (8 x 19 MiB while they run); afterwards little is left.
    assert!(
        after < before + 64 * 1024,
        "resident memory grew from {before} KiB to {after} KiB after 72 failed logins"
    );
}
