//! Python's ftplib against the real `ftpd`. The scenarios live in
//! `examples/tests/python/ftplib_client.py`; each test prepares the root, runs one scenario
//! (exit code 0 and `OK name` expected) and checks the disk where it matters.

mod support;

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime};

use support::{Ftpd, FtpdBuilder, PASS, Run, USER, random_bytes, run, tool_available, write_file};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/ftplib_client.py");

/// Runs one scenario of the script against `ftpd` as alice.
fn scenario(ftpd: &Ftpd, name: &str) -> Run {
    let mut command = Command::new("python3");
    command
        .arg(SCRIPT)
        .arg(name)
        .args(["--host", &ftpd.addr().ip().to_string()])
        .args(["--port", &ftpd.port().to_string()])
        .arg("--root")
        .arg(ftpd.root())
        .args(["--user", USER, "--password", PASS])
        .env("PYTHONIOENCODING", "utf-8")
        .env("PYTHONDONTWRITEBYTECODE", "1");
    let run = run(&mut command, Duration::from_secs(120));
    run.assert_success();
    assert!(
        run.stdout_text().lines().last() == Some(&format!("OK {name}")),
        "scenario {name} did not finish\n{}",
        run.describe()
    );
    run
}

/// A server with alice on a root filled by `fill`.
fn server(fill: impl FnOnce(&Path)) -> Ftpd {
    let builder = FtpdBuilder::new().user();
    fill(builder.root());
    builder.start()
}

#[test]
fn ftplib_mlsd_size_mdtm() {
    if !tool_available("python3") {
        return;
    }
    let ftpd = server(|root| {
        let path = root.join("data.bin");
        write_file(&path, &random_bytes(12_345, 1));
        // 2020-01-02 03:04:05 UTC
        let mtime = SystemTime::UNIX_EPOCH + Duration::from_secs(1_577_934_245);
        fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(mtime)
            .unwrap();
        fs::create_dir(root.join("sub")).unwrap();
        write_file(&root.join("ü name.txt"), b"abc");
    });
    scenario(&ftpd, "mlsd");
}

#[test]
fn ftplib_rest_resumed_download() {
    if !tool_available("python3") {
        return;
    }
    let ftpd = server(|root| write_file(&root.join("data.bin"), &random_bytes(300_001, 2)));
    scenario(&ftpd, "rest");
}

#[test]
fn ftplib_storlines_ascii() {
    if !tool_available("python3") {
        return;
    }
    let ftpd = server(|_| {});
    scenario(&ftpd, "storlines");
    support::assert_file(&ftpd.root().join("text.txt"), b"one\ntwo\nthree\n");
}

#[test]
fn ftplib_rename_delete_mkd_rmd() {
    if !tool_available("python3") {
        return;
    }
    let ftpd = server(|root| write_file(&root.join("old name.txt"), b"rename me\n"));
    scenario(&ftpd, "rename_delete");
    assert_eq!(
        support::tree(ftpd.root()).len(),
        0,
        "root should be empty at the end"
    );
}

#[test]
fn ftplib_abort_mid_download_then_session_works() {
    if !tool_available("python3") {
        return;
    }
    let ftpd = server(|root| {
        // 64 MiB, sparse: far more than the socket buffers can hold.
        let big = fs::File::create(root.join("big.bin")).unwrap();
        big.set_len(64 * 1024 * 1024).unwrap();
        write_file(&root.join("small.txt"), b"still serving\n");
    });
    scenario(&ftpd, "abort");
}

#[test]
fn ftplib_twenty_concurrent_sessions() {
    if !tool_available("python3") {
        return;
    }
    let ftpd = server(|_| {});
    scenario(&ftpd, "concurrent");
    let files = support::tree(ftpd.root());
    assert_eq!(files.len(), 20, "{files:?}");
    for node in files.values() {
        assert_eq!(*node, support::Node::File(1024 * 1024));
    }
}

#[test]
fn ftplib_nlst_wildcards_for_a_multiple_get() {
    if !tool_available("python3") {
        return;
    }
    let ftpd = server(|root| {
        for name in ["a.txt", "b.txt", "c.log", ".hidden.txt"] {
            write_file(&root.join("docs").join(name), name.as_bytes());
        }
        write_file(&root.join("top.txt"), b"top\n");
        write_file(&root.join("q?dir/in.txt"), b"in\n");
    });
    scenario(&ftpd, "mget");
}
