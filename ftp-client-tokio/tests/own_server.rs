//! The client against the project's own server (ftp-server-tokio over a temporary directory),
//! every method, over loopback. Effects are checked on disk.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ftp_client_tokio::ftp_proto::{Command, Timestamp, TransferType, VirtualPath};
use ftp_client_tokio::{CancellationToken, Client, Error, TransferOptions, fxp_copy};
use ftp_server_tokio::auth::{Permissions, StaticUsers, UserEntry};
use ftp_server_tokio::server::Server;
use ftp_server_tokio::storage::fs::FsStorage;
use tokio::io::AsyncReadExt;
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(30);

fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

async fn serve(root: &Path, fxp_target: bool) -> SocketAddr {
    let users = StaticUsers::new([UserEntry::new(
        "alice",
        "secret",
        VirtualPath::root(),
        Permissions::ALL,
    )])
    .unwrap();
    let storage = FsStorage::open(root).unwrap();
    let bound = Server::new(storage, users)
        .listen("127.0.0.1:0".parse().unwrap())
        .session_config(|c| c.require_data_peer_match = !fxp_target)
        .bind()
        .await
        .unwrap();
    let addr = bound.local_addrs()[0];
    tokio::spawn(bound.run());
    addr
}

async fn client(addr: SocketAddr) -> Client {
    let mut c = Client::builder()
        .reply_timeout(Duration::from_secs(10))
        .data_timeout(Duration::from_secs(10))
        .connect(addr)
        .await
        .unwrap();
    c.login("alice", "secret").await.unwrap();
    c
}

async fn setup() -> (tempfile::TempDir, Client) {
    let dir = tempfile::tempdir().unwrap();
    let addr = serve(dir.path(), false).await;
    (dir, client(addr).await)
}

#[tokio::test]
async fn login_failure_is_530_and_welcome_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let addr = serve(dir.path(), false).await;
    let mut c = Client::connect(addr).await.unwrap();
    assert_eq!(c.welcome().code().get(), 220);
    let err = timeout(LIMIT, c.login("alice", "wrong"))
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(err.code().map(|c| c.get()), Some(530), "{err}");
    assert!(!err.is_fatal());
    c.login("alice", "secret").await.unwrap();
    assert_eq!(c.pwd().await.unwrap(), "/");
}

#[tokio::test]
async fn directories_rename_delete_and_facts() {
    let (dir, mut c) = setup().await;
    let root = dir.path();
    assert_eq!(c.mkdir("a b").await.unwrap(), "/a b");
    assert!(root.join("a b").is_dir());
    c.mkdir_all("x/y/z").await.unwrap();
    c.mkdir_all("/x/y/z").await.unwrap();
    assert!(root.join("x/y/z").is_dir());
    c.cwd("x/y").await.unwrap();
    assert_eq!(c.pwd().await.unwrap(), "/x/y");
    c.cdup().await.unwrap();
    assert_eq!(c.pwd().await.unwrap(), "/x");
    c.cwd("/").await.unwrap();

    std::fs::write(root.join("f.txt"), b"hello").unwrap();
    assert_eq!(c.size("f.txt").await.unwrap(), 5);
    let t = Timestamp::parse(b"20200102030405").unwrap();
    c.set_mtime("f.txt", t).await.unwrap();
    assert_eq!(c.mdtm("f.txt").await.unwrap(), t);
    let facts = c.mlst("f.txt").await.unwrap();
    assert_eq!((facts.size, facts.modified), (5, Some(t)));

    c.rename("f.txt", "g \"quoted\".txt").await.unwrap();
    assert!(root.join("g \"quoted\".txt").is_file() && !root.join("f.txt").exists());
    c.remove("g \"quoted\".txt").await.unwrap();
    assert!(!root.join("g \"quoted\".txt").exists());
    let err = c.remove("nope").await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    c.rmdir("a b").await.unwrap();
    assert!(!root.join("a b").exists());

    std::fs::write(root.join("x/y/z/deep.bin"), b"1").unwrap();
    std::fs::write(root.join("x/top.bin"), b"2").unwrap();
    c.remove_dir_all("x").await.unwrap();
    assert!(!root.join("x").exists());

    assert!(c.feat().await.unwrap().supports_mlsd());
    c.noop().await.unwrap();
    let reply = c.quote(Command::Syst).await.unwrap();
    assert_eq!(reply.code().get(), 215);
    let reply = c.quote_line("HELP").await.unwrap();
    assert_eq!(reply.code().get(), 214);
    let err = c.quote_line("REST -1").await.unwrap_err();
    assert!(matches!(err, Error::InvalidCommand(_)), "{err:?}");
    c.noop().await.unwrap();
    c.quit().await.unwrap();
}

#[tokio::test]
async fn list_nlst_and_sizes_match_the_files() {
    let (dir, mut c) = setup().await;
    let root = dir.path();
    std::fs::write(root.join("empty"), b"").unwrap();
    std::fs::write(root.join("name with spaces.txt"), vec![b'x'; 1234]).unwrap();
    std::fs::write(root.join("ünïcödé.bin"), vec![0; 99]).unwrap();
    std::fs::create_dir(root.join("sub")).unwrap();
    let mut entries = c.list("").await.unwrap();
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    let got: Vec<(String, bool, u64)> = entries
        .iter()
        .map(|e| {
            (
                String::from_utf8_lossy(&e.name).into_owned(),
                e.kind.is_dir(),
                e.size,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("empty".to_string(), false, 0),
            ("name with spaces.txt".to_string(), false, 1234),
            ("sub".to_string(), true, got[2].2),
            ("ünïcödé.bin".to_string(), false, 99),
        ]
    );
    let mut names = c.nlst("").await.unwrap();
    names.sort();
    assert_eq!(
        names,
        ["empty", "name with spaces.txt", "sub", "ünïcödé.bin"]
    );
    let raw = String::from_utf8(c.list_raw("").await.unwrap()).unwrap();
    assert!(
        raw.contains(" 1234 ") && raw.contains("name with spaces.txt"),
        "{raw}"
    );
}

#[tokio::test]
async fn download_and_upload_with_checks_in_both_modes() {
    for passive in [true, false] {
        let (dir, mut c) = setup().await;
        c.set_passive(passive);
        let root = dir.path();
        let data = random_bytes(5 * 1024 * 1024 + 17, 7);
        std::fs::write(root.join("big.bin"), &data).unwrap();
        std::fs::write(root.join("zero"), b"").unwrap();

        let got = timeout(LIMIT, c.download_to_vec("big.bin"))
            .await
            .unwrap()
            .unwrap();
        assert!(got == data, "download differs (passive={passive})");
        assert_eq!(c.download_to_vec("zero").await.unwrap(), b"");

        let local = root.join("local-copy");
        let n = c
            .download_file("big.bin", &local, TransferOptions::new())
            .await
            .unwrap();
        assert_eq!(n, data.len() as u64);
        assert!(std::fs::read(&local).unwrap() == data);

        let up = random_bytes(3 * 1024 * 1024 + 5, 9);
        let n = c.stor("up.bin", &up[..]).await.unwrap();
        assert_eq!(n, up.len() as u64);
        assert!(
            std::fs::read(root.join("up.bin")).unwrap() == up,
            "upload differs (passive={passive})"
        );
        let n = c.append("up.bin", &b"tail"[..]).await.unwrap();
        assert_eq!(n, 4);
        assert!(
            std::fs::read(root.join("up.bin"))
                .unwrap()
                .ends_with(b"tail")
        );
        // The session is still in step.
        assert_eq!(c.pwd().await.unwrap(), "/");
    }
}

#[tokio::test]
async fn missing_file_is_550_and_the_session_goes_on() {
    let (dir, mut c) = setup().await;
    // A refused download leaves an existing local file alone.
    let keep = dir.path().join("keep.txt");
    std::fs::write(&keep, b"precious").unwrap();
    for resume in [false, true] {
        let err = c
            .download_file("missing.txt", &keep, TransferOptions::new().resume(resume))
            .await
            .unwrap_err();
        assert!(err.is_not_found(), "{err}");
        assert_eq!(std::fs::read(&keep).unwrap(), b"precious");
    }
    let fresh = dir.path().join("fresh.txt");
    assert!(
        c.download_file("missing.txt", &fresh, TransferOptions::new())
            .await
            .is_err()
    );
    assert!(!fresh.exists(), "no empty file is left behind");
    let err = c.retr("nope").await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    let err = c.download_to_vec("nope").await.unwrap_err();
    assert_eq!(err.code().map(|c| c.get()), Some(550));
    c.noop().await.unwrap();
}

#[tokio::test]
async fn resume_download_and_upload() {
    let (dir, mut c) = setup().await;
    let root = dir.path();
    let data = random_bytes(2 * 1024 * 1024, 3);
    std::fs::write(root.join("r.bin"), &data).unwrap();
    let local = root.join("partial");
    std::fs::write(&local, &data[..700_000]).unwrap();
    let seen = Arc::new(AtomicU64::new(0));
    let seen2 = seen.clone();
    let n = c
        .download_file(
            "r.bin",
            &local,
            TransferOptions::new()
                .resume(true)
                .progress(move |b| seen2.store(b, Ordering::Relaxed)),
        )
        .await
        .unwrap();
    assert_eq!(n, (data.len() - 700_000) as u64);
    assert_eq!(seen.load(Ordering::Relaxed), n);
    assert!(std::fs::read(&local).unwrap() == data);
    // Already complete: nothing moves.
    let n = c
        .download_file("r.bin", &local, TransferOptions::new().resume(true))
        .await
        .unwrap();
    assert_eq!(n, 0);

    // Upload resume: the server has the first part.
    let src = root.join("src.bin");
    std::fs::write(&src, &data).unwrap();
    std::fs::write(root.join("dst.bin"), &data[..1_000_000]).unwrap();
    let n = c
        .upload_file(&src, "dst.bin", TransferOptions::new().resume(true))
        .await
        .unwrap();
    assert_eq!(n, (data.len() - 1_000_000) as u64);
    assert!(std::fs::read(root.join("dst.bin")).unwrap() == data);

    // retr_from gives the tail.
    let mut tail = Vec::new();
    c.retr_from("r.bin", 2 * 1024 * 1024 - 10)
        .await
        .unwrap()
        .read_to_end(&mut tail)
        .await
        .unwrap();
    assert_eq!(tail, &data[data.len() - 10..]);
}

#[tokio::test]
async fn ascii_type_converts_line_ends() {
    let (dir, mut c) = setup().await;
    let root = dir.path();
    c.set_type(TransferType::Ascii(Default::default()))
        .await
        .unwrap();
    // Sent as CRLF lines (an existing CRLF is not doubled), stored by the server with LF.
    c.stor("t.txt", &b"x\r\ny\n"[..]).await.unwrap();
    assert_eq!(std::fs::read(root.join("t.txt")).unwrap(), b"x\ny\n");
    std::fs::write(root.join("d.txt"), b"a\nb\r\n").unwrap();
    assert_eq!(c.download_to_vec("d.txt").await.unwrap(), b"a\nb\n");
    // Binary again: bytes as they are.
    c.set_type(TransferType::Image).await.unwrap();
    assert_eq!(c.download_to_vec("d.txt").await.unwrap(), b"a\nb\r\n");
    c.stor("t.txt", &b"x\r\ny\n"[..]).await.unwrap();
    assert_eq!(std::fs::read(root.join("t.txt")).unwrap(), b"x\r\ny\n");
}

/// A TYPE A download resumed from any local prefix ends up as the full ASCII download: the
/// REST marker counts the CRLF line ends on the wire (RFC 3659 section 5), not the local LFs.
#[tokio::test]
async fn ascii_resume_counts_the_wire_line_ends() {
    let (dir, mut c) = setup().await;
    let root = dir.path();
    // LF lines, a CRLF line, a bare CR, and a CR before a CRLF (a CR LF in the local file).
    std::fs::write(
        root.join("text.txt"),
        b"line1\nline2\r\nbare\rcr\r\r\n\nlast line\n",
    )
    .unwrap();
    c.set_type(TransferType::Ascii(Default::default()))
        .await
        .unwrap();
    let full = c.download_to_vec("text.txt").await.unwrap();
    assert_eq!(full, b"line1\nline2\nbare\rcr\r\n\nlast line\n");
    let local = root.join("partial.txt");
    for cut in 0..=full.len() {
        std::fs::write(&local, &full[..cut]).unwrap();
        timeout(
            LIMIT,
            c.download_file("text.txt", &local, TransferOptions::new().resume(true)),
        )
        .await
        .unwrap()
        .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&std::fs::read(&local).unwrap()),
            String::from_utf8_lossy(&full),
            "resumed after {cut} local bytes"
        );
    }
    // A download cut between the CR and the LF of a CRLF leaves a CR at the end: it is
    // fetched again, not kept before the LF.
    std::fs::write(&local, b"line1\r").unwrap();
    c.download_file("text.txt", &local, TransferOptions::new().resume(true))
        .await
        .unwrap();
    assert_eq!(std::fs::read(&local).unwrap(), full);
}

#[tokio::test]
async fn dropping_a_download_early_aborts_it_and_the_session_goes_on() {
    let (dir, mut c) = setup().await;
    let data = random_bytes(16 * 1024 * 1024, 5);
    std::fs::write(dir.path().join("big.bin"), &data).unwrap();
    {
        let mut stream = c.retr("big.bin").await.unwrap();
        let mut buf = vec![0u8; 1000];
        stream.read_exact(&mut buf).await.unwrap();
        assert_eq!(buf, &data[..1000]);
    }
    assert_eq!(timeout(LIMIT, c.pwd()).await.unwrap().unwrap(), "/");
    let again = timeout(LIMIT, c.download_to_vec("big.bin"))
        .await
        .unwrap()
        .unwrap();
    assert!(again == data);
}

#[tokio::test]
async fn cancellation_aborts_and_restores_the_session() {
    let (dir, mut c) = setup().await;
    let data = random_bytes(32 * 1024 * 1024, 11);
    std::fs::write(dir.path().join("big.bin"), &data).unwrap();
    let token = CancellationToken::new();
    let trigger = token.clone();
    let result = timeout(
        LIMIT,
        c.download_file(
            "big.bin",
            &dir.path().join("out"),
            TransferOptions::new()
                // At the first progress report: the data is still moving (over loopback a
                // 32 MiB download takes milliseconds, less than the 100 ms between the
                // reports of a spliced download, so a later trigger could miss it).
                .progress(move |_| trigger.cancel())
                .cancel(token),
        ),
    )
    .await
    .unwrap();
    assert!(matches!(result, Err(Error::Cancelled)), "{result:?}");
    c.noop().await.unwrap();
    assert_eq!(c.size("big.bin").await.unwrap(), data.len() as u64);
}

#[tokio::test]
async fn directory_trees_round_trip() {
    let (dir, mut c) = setup().await;
    let src = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(src.path().join("a/b")).unwrap();
    std::fs::write(src.path().join("top.txt"), b"top").unwrap();
    std::fs::write(src.path().join("a/one.bin"), random_bytes(100_000, 1)).unwrap();
    std::fs::write(src.path().join("a/b/two words.txt"), b"").unwrap();
    let n = c.upload_dir(src.path(), "tree").await.unwrap();
    assert_eq!(n, 3);
    assert_eq!(
        std::fs::read(dir.path().join("tree/a/one.bin")).unwrap(),
        random_bytes(100_000, 1)
    );
    // "/" is the root, not the login directory's name with its slash cut off.
    c.cwd("tree/a").await.unwrap();
    let whole = tempfile::tempdir().unwrap();
    let n = c.download_dir("/", whole.path()).await.unwrap();
    assert_eq!(n, 3);
    assert_eq!(
        std::fs::read(whole.path().join("tree/top.txt")).unwrap(),
        b"top"
    );
    c.cwd("/").await.unwrap();
    let back = tempfile::tempdir().unwrap();
    let n = c.download_dir("tree", back.path()).await.unwrap();
    assert_eq!(n, 3);
    for rel in ["top.txt", "a/one.bin", "a/b/two words.txt"] {
        assert_eq!(
            std::fs::read(back.path().join(rel)).unwrap(),
            std::fs::read(src.path().join(rel)).unwrap(),
            "{rel}"
        );
    }
}

#[tokio::test]
async fn fxp_copies_between_two_servers() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let data = random_bytes(1024 * 1024 + 3, 13);
    std::fs::write(a.path().join("src.bin"), &data).unwrap();
    let mut src = client(serve(a.path(), false).await).await;
    let mut dst = client(serve(b.path(), true).await).await;
    timeout(LIMIT, fxp_copy(&mut src, "src.bin", &mut dst, "copy.bin"))
        .await
        .unwrap()
        .unwrap();
    assert!(std::fs::read(b.path().join("copy.bin")).unwrap() == data);
    // Both sessions are still usable.
    src.noop().await.unwrap();
    dst.noop().await.unwrap();
}

/// A read into a full buffer asks for nothing and must not end the download: the rest of the
/// file still arrives (the bytes may already sit in the socket and the 226 may have come).
#[tokio::test]
async fn an_empty_read_does_not_end_a_download() {
    let (dir, mut c) = setup().await;
    let bytes = random_bytes(100_000, 77);
    std::fs::write(dir.path().join("f.bin"), &bytes).unwrap();
    let mut stream = c.retr("f.bin").await.unwrap();
    let mut got = vec![0u8; 10];
    stream.read_exact(&mut got).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(stream.read(&mut []).await.unwrap(), 0);
    timeout(LIMIT, stream.read_to_end(&mut got))
        .await
        .unwrap()
        .unwrap();
    assert!(got == bytes, "{} of {} bytes", got.len(), bytes.len());
    drop(stream);
    c.noop().await.unwrap();
}
