//! tnftp, the classic BSD command-line `ftp` client (Debian's `tnftp`), against the real
//! `ftpd`: a multiple get with a wildcard (NLST `docs/*.txt`, then RETR of each name it
//! returned), a multiple put, and a listing with a wildcard.

mod support;

use std::fs;
use std::process::Command;
use std::time::Duration;

use support::{
    FtpdBuilder, PASS, USER, assert_file, random_bytes, run, tool_available, write_file,
};

#[test]
fn tnftp_mget_and_mput_with_wildcards() {
    if !tool_available("tnftp") {
        return;
    }
    let builder = FtpdBuilder::new().user();
    let root = builder.root().to_path_buf();
    let files = [("a.txt", 1), ("b.txt", 2), ("c.log", 3)];
    for (name, seed) in files {
        write_file(
            &root.join("docs").join(name),
            &random_bytes(10_000 + seed, seed as u64),
        );
    }
    let ftpd = builder.start();
    let work = tempfile::tempdir().unwrap();
    let local = work.path().join("local");
    // tnftp keeps the remote paths NLST returned (`docs/a.txt`) and writes below the local
    // directory of the same name.
    fs::create_dir_all(local.join("docs")).unwrap();
    for (name, seed) in [("up1.bin", 7), ("up2.bin", 8)] {
        write_file(&local.join(name), &random_bytes(5_000, seed));
    }
    let script = work.path().join("script");
    fs::write(
        &script,
        format!(
            "open 127.0.0.1 {port}\nuser {USER} {PASS}\nprompt off\nbinary\n\
             mget docs/*.txt\nmkdir incoming\ncd incoming\nmput *.bin\ncd ..\n\
             ls docs/*.log\nquit\n",
            port = ftpd.port()
        ),
    )
    .unwrap();
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg("exec tnftp -n -v < \"$0\"")
        .arg(&script)
        .current_dir(&local)
        .env("HOME", work.path());
    let run = run(&mut command, Duration::from_secs(60));
    run.assert_success();

    // Exactly the two .txt files came back, byte for byte.
    assert_file(&local.join("docs/a.txt"), &random_bytes(10_001, 1));
    assert_file(&local.join("docs/b.txt"), &random_bytes(10_002, 2));
    assert!(!local.join("docs/c.log").exists(), "{}", run.describe());
    // Both local .bin files went up.
    assert_file(&root.join("incoming/up1.bin"), &random_bytes(5_000, 7));
    assert_file(&root.join("incoming/up2.bin"), &random_bytes(5_000, 8));
    // The wildcard listing shows the .log file only.
    let out = run.stdout_text();
    assert!(out.contains(" c.log"), "{}", run.describe());
    assert!(
        !out.contains(" a.txt\n") && !out.contains(" a.txt\r"),
        "{}",
        run.describe()
    );
}
