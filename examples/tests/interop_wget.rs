//! wget against the real `ftpd`: a recursive download of a directory compared byte for byte,
//! and a single file with credentials in the URL.

mod support;

use std::process::Command;
use std::time::Duration;

use support::{
    FtpdBuilder, PASS, USER, assert_file, assert_same_tree, make_tree, random_bytes, run,
    tool_available, write_file,
};

/// `wget -r` of `dir` on `ftpd` (anonymous) into `dest`, names kept byte for byte, with
/// `home` as `$HOME`; asserts success.
fn wget_recursive(ftpd: &support::Ftpd, dir: &str, dest: &std::path::Path, home: &std::path::Path) {
    let mut command = Command::new("wget");
    command
        .args(["-r", "-nH", "-q", "--tries=1", "--timeout=10"])
        .arg("--restrict-file-names=nocontrol")
        .arg("--no-proxy")
        .arg("-P")
        .arg(dest)
        .arg(ftpd.url(dir))
        .env("HOME", home);
    run(&mut command, Duration::from_secs(120)).assert_success();
}

#[test]
fn wget_recursive_download_of_a_directory() {
    if !tool_available("wget") {
        return;
    }
    let builder = FtpdBuilder::new().arg("--anonymous");
    // wget creates directories only for the files it fetches: no empty directory here.
    make_tree(&builder.root().join("pub"), 40, false);
    write_file(&builder.root().join("outside-pub.txt"), b"not wanted\n");
    let ftpd = builder.start();
    let work = tempfile::tempdir().unwrap();
    let dest = work.path().join("dest");
    wget_recursive(&ftpd, "/pub/", &dest, work.path());
    // wget removes its .listing files; what is left must be exactly the served tree.
    assert_same_tree(&dest.join("pub"), &ftpd.root().join("pub"));
    assert!(
        !dest.join("outside-pub.txt").exists(),
        "wget -r fetched a file outside the directory"
    );
}

#[test]
fn wget_single_file_with_credentials() {
    if !tool_available("wget") {
        return;
    }
    let data = random_bytes(3 * 1024 * 1024 + 1, 9);
    let builder = FtpdBuilder::new().user();
    write_file(&builder.root().join("dir/file ü.bin"), &data);
    let ftpd = builder.start();
    let work = tempfile::tempdir().unwrap();
    let target = work.path().join("out.bin");
    let url = format!(
        "ftp://{USER}:{PASS}@127.0.0.1:{}/dir/file%20%C3%BC.bin",
        ftpd.port()
    );
    let mut command = Command::new("wget");
    command
        .args(["-q", "--tries=1", "--timeout=10", "--no-proxy", "-O"])
        .arg(&target)
        .arg(&url)
        .env("HOME", work.path());
    run(&mut command, Duration::from_secs(60)).assert_success();
    assert_file(&target, &data);

    // A missing file is an error (wget exit code 8: the server issued an error response).
    let mut command = Command::new("wget");
    command
        .args(["-q", "--tries=1", "--timeout=10", "--no-proxy", "-O"])
        .arg(work.path().join("missing.out"))
        .arg(format!(
            "ftp://{USER}:{PASS}@127.0.0.1:{}/dir/missing.bin",
            ftpd.port()
        ))
        .env("HOME", work.path());
    run(&mut command, Duration::from_secs(60)).assert_code(8);
}

#[test]
fn wget_recursive_download_of_names_that_are_not_utf8() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    if !tool_available("wget") {
        return;
    }
    // Latin-1 names, one with a 0xFF byte: wget sends it undoubled (not as Telnet IAC IAC),
    // as curl and ftplib do, and the server must still find the file. (Two 0xFF bytes in a row
    // sent undoubled read as one escaped 0xFF: such a name needs a client that doubles.)
    let names: [&[u8]; 3] = [b"bad\xff.txt", b"caf\xe9 \xff.txt", b"\xffleading"];
    let builder = FtpdBuilder::new().arg("--anonymous");
    for (i, name) in names.iter().enumerate() {
        let data = random_bytes(1000 + i, 40 + i as u64);
        write_file(
            &builder.root().join("pub").join(OsStr::from_bytes(name)),
            &data,
        );
    }
    let ftpd = builder.start();
    let work = tempfile::tempdir().unwrap();
    let dest = work.path().join("dest");
    wget_recursive(&ftpd, "/pub/", &dest, work.path());
    assert_same_tree(&dest.join("pub"), &ftpd.root().join("pub"));
    for (i, name) in names.iter().enumerate() {
        let fetched = dest.join("pub").join(OsStr::from_bytes(name));
        assert_file(&fetched, &random_bytes(1000 + i, 40 + i as u64));
    }
}
