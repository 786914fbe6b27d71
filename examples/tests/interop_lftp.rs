//! lftp against the real `ftpd`: `mirror -R` and `mirror` of a tree (byte-for-byte), `pget`
//! with four connections, `rm -r` and `mv`.

mod support;

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use support::{
    Ftpd, FtpdBuilder, PASS, Run, USER, assert_file, assert_same_tree, make_tree, random_bytes,
    run, tool_available, write_file,
};

/// Settings so a failure is quick and reported, never retried for long.
const SETTINGS: &str = "set ftp:ssl-allow no; set net:max-retries 1; set net:timeout 10; \
     set net:reconnect-interval-base 1; set net:persist-retries 0; set cmd:fail-exit yes; \
     set xfer:clobber yes; set ftp:passive-mode yes; set cmd:interactive no";

/// Runs `lftp -c "SETTINGS; open ...; SCRIPT"` against `ftpd` as alice, with `home` as `$HOME`
/// so no user configuration or history is read or written.
fn lftp(ftpd: &Ftpd, home: &Path, script: &str) -> Run {
    let full = format!(
        "{SETTINGS}; open -u {USER},{PASS} -p {} {}; {script}",
        ftpd.port(),
        ftpd.addr().ip()
    );
    let mut command = Command::new("lftp");
    command
        .arg("-c")
        .arg(&full)
        .env("HOME", home)
        .env("LFTP_HOME", home.join(".lftp"))
        .env_remove("http_proxy")
        .env_remove("ftp_proxy");
    run(&mut command, Duration::from_secs(120))
}

/// lftp double-quoted argument.
fn quoted(path: &Path) -> String {
    let s = path.to_str().expect("UTF-8 temp path");
    assert!(!s.contains('"'), "path with a quote: {s}");
    format!("\"{s}\"")
}

#[test]
fn lftp_mirror_up_and_back() {
    if !tool_available("lftp") {
        return;
    }
    let ftpd = FtpdBuilder::new().user().start();
    let work = tempfile::tempdir().unwrap();
    let source = work.path().join("source");
    let files = make_tree(&source, 60, true);
    assert_eq!(files, 60);

    // Upload the tree.
    let run = lftp(
        &ftpd,
        work.path(),
        &format!("mirror -R {} tree", quoted(&source)),
    );
    run.assert_success();
    assert_same_tree(&ftpd.root().join("tree"), &source);

    // Download it into a fresh directory.
    let back = work.path().join("back");
    let run = lftp(
        &ftpd,
        work.path(),
        &format!("mirror tree {}", quoted(&back)),
    );
    run.assert_success();
    assert_same_tree(&back, &source);

    // A second mirror -R finds nothing to do and changes nothing.
    let run = lftp(
        &ftpd,
        work.path(),
        &format!("mirror -R {} tree", quoted(&source)),
    );
    run.assert_success();
    assert_same_tree(&ftpd.root().join("tree"), &source);
}

#[test]
fn lftp_pget_with_four_connections() {
    if !tool_available("lftp") {
        return;
    }
    let data = random_bytes(20 * 1024 * 1024, 20);
    let builder = FtpdBuilder::new().user();
    write_file(&builder.root().join("big file.bin"), &data);
    let ftpd = builder.start();
    let work = tempfile::tempdir().unwrap();
    let target = work.path().join("big.bin");
    // The per-connection rate limit keeps the first connection from fetching the whole file
    // before the other three start (a zero-copy server sends 20 MiB in milliseconds); `debug 5`
    // puts the dialogue on stderr for the checks below.
    let run = lftp(
        &ftpd,
        work.path(),
        &format!(
            "debug 5; set net:limit-rate 4194304; pget -n 4 \"big file.bin\" -o {}",
            quoted(&target)
        ),
    );
    run.assert_success();
    assert_file(&target, &data);
    // Four segments: three extra connections resumed at 5, 10 and 15 MiB (lftp's debug
    // output on stderr shows the dialogue).
    for offset in [5_242_880, 10_485_760, 15_728_640] {
        assert!(
            run.stderr.contains(&format!("---> REST {offset}")) && run.stderr.contains("<--- 350"),
            "pget did not fetch a segment at {offset}\n{}",
            run.describe()
        );
    }
    assert_eq!(
        run.stderr.matches("---> PASS ").count(),
        4,
        "pget -n 4 should log in four times\n{}",
        run.describe()
    );
}

#[test]
fn lftp_rm_recursive_and_mv() {
    if !tool_available("lftp") {
        return;
    }
    let builder = FtpdBuilder::new().user();
    let root = builder.root().to_path_buf();
    make_tree(&root.join("doomed"), 15, true);
    write_file(&root.join("keep.txt"), b"keep me\n");
    write_file(&root.join("move me.txt"), b"moving\n");
    fs::create_dir(root.join("target dir")).unwrap();
    let ftpd = builder.start();
    let work = tempfile::tempdir().unwrap();

    let run = lftp(&ftpd, work.path(), "rm -r doomed");
    run.assert_success();
    assert!(
        !root.join("doomed").exists(),
        "rm -r left {:?}\n{}",
        support::tree(&root.join("doomed")),
        run.describe()
    );
    assert_file(&root.join("keep.txt"), b"keep me\n");

    let run = lftp(
        &ftpd,
        work.path(),
        "mv \"move me.txt\" \"target dir/moved é.txt\"; mv keep.txt kept.txt",
    );
    run.assert_success();
    assert!(!root.join("move me.txt").exists());
    assert_file(&root.join("target dir/moved é.txt"), b"moving\n");
    assert!(!root.join("keep.txt").exists());
    assert_file(&root.join("kept.txt"), b"keep me\n");

    // Failing commands are reported as failures (exit code), not silently accepted.
    let run = lftp(&ftpd, work.path(), "rm no-such-file.txt");
    assert_ne!(run.code, Some(0), "{}", run.describe());
    let run = lftp(&ftpd, work.path(), "mv no-such-file.txt other.txt");
    assert_ne!(run.code, Some(0), "{}", run.describe());
    assert!(!root.join("other.txt").exists());
}

#[test]
fn lftp_chmod_and_mirror_keep_permissions() {
    use std::os::unix::fs::PermissionsExt;
    if !tool_available("lftp") {
        return;
    }
    let mode = |path: &Path| fs::metadata(path).unwrap().permissions().mode() & 0o777;
    let ftpd = FtpdBuilder::new().user().start();
    let work = tempfile::tempdir().unwrap();
    let source = work.path().join("perms");
    write_file(&source.join("script.sh"), b"#!/bin/sh\necho hi\n");
    write_file(&source.join("private.txt"), b"mine\n");
    fs::set_permissions(source.join("script.sh"), fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(
        source.join("private.txt"),
        fs::Permissions::from_mode(0o600),
    )
    .unwrap();

    // mirror -R sends SITE CHMOD for each file it uploads (cmd:fail-exit stops on an error).
    let run = lftp(
        &ftpd,
        work.path(),
        &format!("mirror -R {} perms", quoted(&source)),
    );
    run.assert_success();
    let remote = ftpd.root().join("perms");
    assert_eq!(mode(&remote.join("script.sh")), 0o755);
    assert_eq!(mode(&remote.join("private.txt")), 0o600);

    let run = lftp(&ftpd, work.path(), "chmod 640 perms/script.sh");
    run.assert_success();
    assert_eq!(mode(&remote.join("script.sh")), 0o640);
}
