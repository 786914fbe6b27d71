//! Our client against servers we did not write: vsftpd, pure-ftpd and pyftpdlib, started by
//! the tests (see `support/foreign.rs`). For each: login, list with sizes that match the
//! files, download and upload with byte comparison, resume both ways, rename, delete,
//! mkdir/rmdir, passive and active mode, and an abandoned download (ABOR) after which the
//! session still works.

mod support;

use std::time::Duration;

use ftp_client_tokio::{Client, TransferOptions};
use support::{ForeignServer, ServerKind, random_bytes};
use tokio::io::AsyncReadExt;
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(60);

async fn connect(server: &ForeignServer, passive: bool) -> Client {
    let mut client = Client::builder()
        .reply_timeout(Duration::from_secs(15))
        .data_timeout(Duration::from_secs(15))
        .passive(passive)
        .connect(server.addr)
        .await
        .unwrap_or_else(|e| panic!("{}: connect: {e}", server.kind));
    client
        .login(&server.user, &server.password)
        .await
        .unwrap_or_else(|e| panic!("{}: login: {e}\n{}", server.kind, server.log()));
    client
}

async fn files_and_directories(kind: ServerKind) {
    let Some(server) = ForeignServer::start(kind) else {
        return;
    };
    let mut c = connect(&server, true).await;
    server.write_file("a.bin", &random_bytes(12_345, 1));
    server.write_file("empty", b"");
    server.create_dir("sub");
    server.write_file("sub/inner.txt", b"inner");

    let mut entries = timeout(LIMIT, c.list("")).await.unwrap().unwrap();
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    let files: Vec<(String, u64)> = entries
        .iter()
        .filter(|e| !e.kind.is_dir())
        .map(|e| (String::from_utf8_lossy(&e.name).into_owned(), e.size))
        .collect();
    assert_eq!(
        files,
        [("a.bin".to_string(), 12_345), ("empty".to_string(), 0)],
        "{kind}"
    );
    assert!(
        entries.iter().any(|e| e.name == b"sub" && e.kind.is_dir()),
        "{kind}: {entries:?}"
    );
    let inner = c.list("sub").await.unwrap();
    assert_eq!(inner.len(), 1, "{kind}: {inner:?}");
    assert_eq!(
        (inner[0].name.as_slice(), inner[0].size),
        (&b"inner.txt"[..], 5)
    );

    assert_eq!(c.size("a.bin").await.unwrap(), 12_345, "{kind}");
    assert!(c.mdtm("a.bin").await.is_ok(), "{kind}");
    assert_eq!(c.pwd().await.unwrap(), "/", "{kind}");

    c.mkdir("made").await.unwrap();
    assert!(server.local("made").is_dir(), "{kind}");
    c.mkdir_all("made/x/y").await.unwrap();
    assert!(server.local("made/x/y").is_dir(), "{kind}");
    c.cwd("made/x").await.unwrap();
    assert_eq!(c.pwd().await.unwrap(), "/made/x", "{kind}");
    c.cdup().await.unwrap();
    c.cwd("/").await.unwrap();
    c.rmdir("made/x/y").await.unwrap();
    assert!(!server.exists("made/x/y"), "{kind}");

    c.rename("a.bin", "b.bin").await.unwrap();
    assert!(server.exists("b.bin") && !server.exists("a.bin"), "{kind}");
    c.remove("b.bin").await.unwrap();
    assert!(!server.exists("b.bin"), "{kind}");
    let err = c.remove("b.bin").await.unwrap_err();
    assert_eq!(err.code().map(|c| c.get()), Some(550), "{kind}: {err}");

    c.remove_dir_all("sub").await.unwrap();
    assert!(!server.exists("sub"), "{kind}");
    c.quit().await.unwrap();
}

async fn transfers(kind: ServerKind, passive: bool) {
    let Some(server) = ForeignServer::start(kind) else {
        return;
    };
    let mut c = connect(&server, passive).await;
    let data = random_bytes(3 * 1024 * 1024 + 7, 2);
    server.write_file("down.bin", &data);
    let got = timeout(LIMIT, c.download_to_vec("down.bin"))
        .await
        .unwrap()
        .unwrap();
    assert!(got == data, "{kind} passive={passive}: download differs");
    server.write_file("zero", b"");
    assert_eq!(c.download_to_vec("zero").await.unwrap(), b"", "{kind}");

    let up = random_bytes(2 * 1024 * 1024 + 3, 3);
    let n = timeout(LIMIT, c.stor("up.bin", &up[..]))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(n, up.len() as u64);
    assert!(
        server.read_file("up.bin") == up,
        "{kind} passive={passive}: upload differs"
    );
    c.append("up.bin", &b"++"[..]).await.unwrap();
    assert!(server.read_file("up.bin").ends_with(b"++"), "{kind}");

    let local = tempfile::tempdir().unwrap();
    let path = local.path().join("copy.bin");
    c.download_file("down.bin", &path, TransferOptions::new())
        .await
        .unwrap();
    assert!(std::fs::read(&path).unwrap() == data, "{kind}");
    c.quit().await.unwrap();
}

async fn resume_both_ways(kind: ServerKind) {
    let Some(server) = ForeignServer::start(kind) else {
        return;
    };
    let mut c = connect(&server, true).await;
    let data = random_bytes(1024 * 1024 + 11, 4);
    server.write_file("r.bin", &data);
    let local = tempfile::tempdir().unwrap();
    let partial = local.path().join("partial");
    std::fs::write(&partial, &data[..300_000]).unwrap();
    let n = c
        .download_file("r.bin", &partial, TransferOptions::new().resume(true))
        .await
        .unwrap();
    assert_eq!(n, (data.len() - 300_000) as u64, "{kind}");
    assert!(
        std::fs::read(&partial).unwrap() == data,
        "{kind}: resumed download differs"
    );

    server.write_file("u.bin", &data[..500_000]);
    let src = local.path().join("src");
    std::fs::write(&src, &data).unwrap();
    let n = c
        .upload_file(&src, "u.bin", TransferOptions::new().resume(true))
        .await
        .unwrap();
    assert_eq!(n, (data.len() - 500_000) as u64, "{kind}");
    assert!(
        server.read_file("u.bin") == data,
        "{kind}: resumed upload differs"
    );
    c.quit().await.unwrap();
}

async fn abandoned_download(kind: ServerKind) {
    let Some(server) = ForeignServer::start(kind) else {
        return;
    };
    let mut c = connect(&server, true).await;
    let data = random_bytes(24 * 1024 * 1024, 5);
    server.write_file("big.bin", &data);
    {
        let mut stream = c.retr("big.bin").await.unwrap();
        let mut head = vec![0u8; 4096];
        stream.read_exact(&mut head).await.unwrap();
        assert_eq!(head, &data[..4096]);
    }
    // The next command first aborts the transfer (ABOR, whichever reply shape the server
    // uses), then runs normally.
    let pwd = timeout(LIMIT, c.pwd()).await.unwrap();
    assert_eq!(
        pwd.unwrap_or_else(|e| panic!("{kind}: {e}\n{}", server.log())),
        "/"
    );
    server.write_file("small", b"still works");
    assert_eq!(
        c.download_to_vec("small").await.unwrap(),
        b"still works",
        "{kind}"
    );
}

macro_rules! per_server {
    ($scenario:ident $(, $arg:expr)*) => {
        mod $scenario {
            use super::*;
            #[tokio::test]
            async fn vsftpd() {
                super::$scenario(ServerKind::Vsftpd $(, $arg)*).await;
            }
            #[tokio::test]
            async fn pure_ftpd() {
                super::$scenario(ServerKind::PureFtpd $(, $arg)*).await;
            }
            #[tokio::test]
            async fn pyftpdlib() {
                super::$scenario(ServerKind::Pyftpdlib $(, $arg)*).await;
            }
        }
    };
}

per_server!(files_and_directories);
per_server!(resume_both_ways);
per_server!(abandoned_download);

async fn passive_transfers(kind: ServerKind) {
    transfers(kind, true).await;
}

async fn active_transfers(kind: ServerKind) {
    transfers(kind, false).await;
}

per_server!(passive_transfers);
per_server!(active_transfers);
