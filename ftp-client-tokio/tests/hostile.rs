//! The client against a scripted hostile server over loopback: a 227 naming another host, a
//! reply that never ends, a 10 MB listing line, listings naming `../x` and `/etc/x`, a server
//! that closes mid-reply. Every case ends with a typed result within a bounded time.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ftp_client_tokio::ftp_proto::client::SessionError;
use ftp_client_tokio::{CancellationToken, Client, Error, TransferOptions, ftp_proto};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(20);

/// What the scripted server does for one command line.
#[derive(Clone)]
enum Script {
    /// Send these bytes on the control connection.
    Reply(Vec<u8>),
    /// Open a passive listener and announce it in a 227 naming this IP.
    Pasv([u8; 4]),
    /// 150, send the bytes over the data connection, close it, 226.
    Data(Vec<u8>),
    /// Send these bytes, then close the control connection.
    ReplyAndClose(Vec<u8>),
    /// 150, send the bytes over the data connection, then hold it open without a final
    /// reply until ABOR (which closes it and gets 426 + 226).
    Stall(Vec<u8>),
    /// Nothing at all: no reply, and the passive listener is kept but never accepts (the
    /// client's connection completes in the kernel's queue) until ABOR (426 + 226).
    Silent,
    /// No 150: accept, send the bytes, close the data connection, then 226.
    DataWithoutPreliminary(Vec<u8>),
    /// Close the passive listener (resetting the client's queued connection), wait a moment,
    /// then send these bytes.
    RefuseAfterReset(Vec<u8>),
    /// 150, then data without end until the client closes the data connection, then 426.
    Endless,
    /// `120 wait` forever, one every so often (as fast as the client reads when zero), never
    /// a final reply.
    Preliminaries(Duration),
}

/// Scripted server settings: replies by verb (and by `VERB arg` for data commands).
#[derive(Clone)]
struct Hostile {
    scripts: HashMap<String, Script>,
}

impl Hostile {
    fn new() -> Self {
        let mut scripts = HashMap::new();
        for (verb, reply) in [
            ("USER", "331 Password\r\n"),
            ("PASS", "230 Hello\r\n"),
            ("TYPE", "200 Type set\r\n"),
            ("FEAT", "211-Features:\r\n SIZE\r\n211 End\r\n"),
            ("PWD", "257 \"/\" is the cwd\r\n"),
            ("NOOP", "200 OK\r\n"),
            ("EPSV", "500 EPSV not understood\r\n"),
            ("QUIT", "221 Bye\r\n"),
            ("SIZE", "550 No SIZE here\r\n"),
            ("ABOR", "226 ABOR done\r\n"),
        ] {
            scripts.insert(verb.into(), Script::Reply(reply.into()));
        }
        scripts.insert("PASV".into(), Script::Pasv([127, 0, 0, 1]));
        Self { scripts }
    }

    fn on(mut self, key: &str, script: Script) -> Self {
        self.scripts.insert(key.into(), script);
        self
    }

    /// Starts the server; it serves one control connection at a time, until the test ends.
    async fn start(self) -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let log2 = log.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let script = self.clone();
                let log = log2.clone();
                tokio::spawn(async move {
                    let _ = script.serve(stream, log).await;
                });
            }
        });
        (addr, log)
    }

    async fn serve(self, stream: TcpStream, log: Arc<Mutex<Vec<String>>>) -> std::io::Result<()> {
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read).lines();
        write.write_all(b"220 Hostile server\r\n").await?;
        let mut passive: Option<TcpListener> = None;
        let mut held: Option<TcpStream> = None;
        let mut silent: Option<TcpListener> = None;
        while let Some(line) = lines.next_line().await? {
            log.lock().unwrap().push(line.clone());
            let verb = line.split(' ').next().unwrap_or("").to_ascii_uppercase();
            let script = self
                .scripts
                .get(&line)
                .or_else(|| self.scripts.get(&verb))
                .cloned()
                .unwrap_or(Script::Reply(b"502 Not scripted\r\n".to_vec()));
            if verb == "ABOR" && (held.take().is_some() || silent.take().is_some()) {
                write.write_all(b"426 Aborted\r\n").await?;
            }
            match script {
                Script::Reply(bytes) => write.write_all(&bytes).await?,
                Script::Stall(bytes) => {
                    let Some(l) = passive.take() else {
                        write.write_all(b"425 No data connection\r\n").await?;
                        continue;
                    };
                    let (mut data, _) = l.accept().await?;
                    write.write_all(b"150 Here it comes\r\n").await?;
                    data.write_all(&bytes).await?;
                    held = Some(data);
                }
                Script::Silent => silent = passive.take(),
                Script::DataWithoutPreliminary(bytes) => {
                    let Some(l) = passive.take() else {
                        write.write_all(b"425 No data connection\r\n").await?;
                        continue;
                    };
                    let (mut data, _) = l.accept().await?;
                    data.write_all(&bytes).await?;
                    data.shutdown().await?;
                    drop(data);
                    // After the data, as servers that skip 150 do.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    write.write_all(b"226 Done\r\n").await?;
                }
                Script::RefuseAfterReset(bytes) => {
                    drop(passive.take());
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    write.write_all(&bytes).await?;
                }
                Script::Endless => {
                    let Some(l) = passive.take() else {
                        write.write_all(b"425 No data connection\r\n").await?;
                        continue;
                    };
                    let (mut data, _) = l.accept().await?;
                    write.write_all(b"150 Here it comes\r\n").await?;
                    let chunk = vec![b'x'; 64 * 1024];
                    while data.write_all(&chunk).await.is_ok() {}
                    write.write_all(b"426 Data connection lost\r\n").await?;
                }
                Script::Preliminaries(every) => loop {
                    if every.is_zero() {
                        write.write_all(&b"120 wait\r\n".repeat(1000)).await?;
                    } else {
                        write.write_all(b"120 wait a bit\r\n").await?;
                        tokio::time::sleep(every).await;
                    }
                },
                Script::ReplyAndClose(bytes) => {
                    write.write_all(&bytes).await?;
                    return Ok(());
                }
                Script::Pasv(ip) => {
                    let l = TcpListener::bind("127.0.0.1:0").await?;
                    let port = l.local_addr()?.port();
                    passive = Some(l);
                    let reply = format!(
                        "227 Entering Passive Mode ({},{},{},{},{},{})\r\n",
                        ip[0],
                        ip[1],
                        ip[2],
                        ip[3],
                        port >> 8,
                        port & 0xff
                    );
                    write.write_all(reply.as_bytes()).await?;
                }
                Script::Data(bytes) => {
                    let Some(l) = passive.take() else {
                        write.write_all(b"425 No data connection\r\n").await?;
                        continue;
                    };
                    let (mut data, _) = l.accept().await?;
                    write.write_all(b"150 Here it comes\r\n").await?;
                    let sent = data.write_all(&bytes).await;
                    let _ = data.shutdown().await;
                    drop(data);
                    if sent.is_ok() {
                        write.write_all(b"226 Done\r\n").await?;
                    } else {
                        write.write_all(b"426 Data connection lost\r\n").await?;
                    }
                }
            }
        }
        Ok(())
    }
}

async fn login(addr: SocketAddr) -> Client {
    login_with(addr, Duration::from_secs(5), Duration::from_secs(5)).await
}

async fn login_with(addr: SocketAddr, reply: Duration, data: Duration) -> Client {
    let mut c = Client::builder()
        .reply_timeout(reply)
        .data_timeout(data)
        .max_listing(2 * 1024 * 1024)
        .connect(addr)
        .await
        .unwrap();
    c.login("u", "p").await.unwrap();
    c
}

#[tokio::test]
async fn pasv_naming_another_host_is_ignored() {
    // 10.255.255.1 would swallow the connection attempt; the client must use the control peer.
    let (addr, log) = Hostile::new()
        .on("PASV", Script::Pasv([10, 255, 255, 1]))
        .on("RETR f", Script::Data(b"the real data".to_vec()))
        .start()
        .await;
    let mut c = login(addr).await;
    let got = timeout(LIMIT, c.download_to_vec("f"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, b"the real data");
    let log = log.lock().unwrap().clone();
    assert!(
        log.contains(&"EPSV".to_string()) && log.contains(&"PASV".to_string()),
        "{log:?}"
    );
}

#[tokio::test]
async fn a_reply_that_never_ends_is_capped() {
    let mut endless = b"211-Features:\r\n".to_vec();
    for i in 0..20_000 {
        endless.extend_from_slice(format!(" FEATURE{i}\r\n").as_bytes());
    }
    let (addr, _) = Hostile::new()
        .on("FEAT", Script::Reply(endless))
        .start()
        .await;
    let mut c = login(addr).await;
    let err = timeout(LIMIT, c.feat()).await.unwrap().unwrap_err();
    assert!(
        matches!(
            err,
            Error::Session(SessionError::ReplyTooLarge { limit: 65536 })
        ),
        "{err:?}"
    );
    assert!(err.is_fatal());
}

/// Tiny listing lines make entries many times their size: the entry cap bounds a listing's
/// memory, for LIST and NLST, with a typed error, and the session goes on.
#[tokio::test]
async fn a_listing_with_too_many_entries_is_capped() {
    let lines = |n: usize| -> Vec<u8> {
        (0..n)
            .flat_map(|i| format!("-rw-r--r-- 1 u g 1 Mar  7 12:05 f{i}\r\n").into_bytes())
            .collect()
    };
    let names = |n: usize| -> Vec<u8> {
        (0..n)
            .flat_map(|i| format!("f{i}\r\n").into_bytes())
            .collect()
    };
    let (addr, _) = Hostile::new()
        .on("LIST -a", Script::Data(lines(1001)))
        .on("LIST -a small", Script::Data(lines(1000)))
        .on("NLST", Script::Data(names(1001)))
        .on("NLST small", Script::Data(names(1000)))
        .start()
        .await;
    let mut c = Client::builder()
        .max_listing_entries(1000)
        .connect(addr)
        .await
        .unwrap();
    c.login("u", "p").await.unwrap();
    let err = timeout(LIMIT, c.list("")).await.unwrap().unwrap_err();
    assert!(matches!(err, Error::TooManyEntries(1000)), "{err:?}");
    assert_eq!(err.to_string(), "listing has more than 1000 entries");
    assert!(!err.is_fatal());
    let entries = timeout(LIMIT, c.list("small")).await.unwrap().unwrap();
    assert_eq!(entries.len(), 1000);
    assert_eq!(
        entries.last().map(|e| e.name.as_slice()),
        Some(&b"f999"[..])
    );
    let err = timeout(LIMIT, c.nlst("")).await.unwrap().unwrap_err();
    assert!(matches!(err, Error::TooManyEntries(1000)), "{err:?}");
    let names = timeout(LIMIT, c.nlst("small")).await.unwrap().unwrap();
    assert_eq!(names.len(), 1000);
    timeout(LIMIT, c.noop()).await.unwrap().unwrap();
}

#[tokio::test]
async fn a_10_mb_listing_line_is_capped() {
    let mut listing = b"-rw-r--r-- 1 u g 5 Mar  7 12:05 ok.txt\r\n".to_vec();
    listing.extend(std::iter::repeat_n(b'A', 10 * 1024 * 1024));
    listing.extend_from_slice(b"\r\n");
    let (addr, _) = Hostile::new()
        .on("LIST -a", Script::Data(listing.clone()))
        .start()
        .await;
    // With a 2 MiB listing cap the download stops with a typed error and the session goes on.
    let mut c = login(addr).await;
    let err = timeout(LIMIT, c.list("")).await.unwrap().unwrap_err();
    assert!(matches!(err, Error::ListingTooLarge(_)), "{err:?}");
    timeout(LIMIT, c.noop()).await.unwrap().unwrap();

    // With room for it, the giant line is skipped by the parser and the good entry kept.
    let mut c = Client::builder()
        .max_listing(64 * 1024 * 1024)
        .connect(addr)
        .await
        .unwrap();
    c.login("u", "p").await.unwrap();
    let entries = timeout(LIMIT, c.list("")).await.unwrap().unwrap();
    let names: Vec<_> = entries.iter().map(|e| e.name.clone()).collect();
    assert_eq!(names, [b"ok.txt".to_vec()]);
}

#[tokio::test]
async fn download_dir_never_writes_outside_the_target() {
    let listing = b"-rw-r--r-- 1 u g 4 Mar  7 12:05 ../x\r\n\
-rw-r--r-- 1 u g 4 Mar  7 12:05 /etc/x\r\n\
-rw-r--r-- 1 u g 4 Mar  7 12:05 a/../../x\r\n\
drwxr-xr-x 1 u g 0 Mar  7 12:05 ..\r\n\
-rw-r--r-- 1 u g 4 Mar  7 12:05 ok.txt\r\n"
        .to_vec();
    let (addr, log) = Hostile::new()
        .on("LIST -a dir", Script::Data(listing))
        .on("RETR dir/ok.txt", Script::Data(b"good".to_vec()))
        .on("RETR dir/../x", Script::Data(b"evil".to_vec()))
        .on("RETR /etc/x", Script::Data(b"evil".to_vec()))
        .start()
        .await;
    let mut c = login(addr).await;
    let outer = tempfile::tempdir().unwrap();
    let target = outer.path().join("target");
    let n = timeout(LIMIT, c.download_dir("dir", &target))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(n, 1);
    assert_eq!(std::fs::read(target.join("ok.txt")).unwrap(), b"good");
    let mut outside: Vec<_> = std::fs::read_dir(outer.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    outside.sort();
    assert_eq!(outside, ["target"]);
    assert_eq!(std::fs::read_dir(&target).unwrap().count(), 1);
    let log = log.lock().unwrap().clone();
    let retrieved: Vec<_> = log.iter().filter(|l| l.starts_with("RETR")).collect();
    assert_eq!(retrieved, ["RETR dir/ok.txt"]);
}

#[tokio::test]
async fn server_closing_mid_reply_is_a_typed_error() {
    let (addr, _) = Hostile::new()
        .on(
            "PWD",
            Script::ReplyAndClose(b"257-Multi-line reply that is cut\r\n and then".to_vec()),
        )
        .start()
        .await;
    let mut c = login(addr).await;
    let err = timeout(LIMIT, c.pwd()).await.unwrap().unwrap_err();
    assert!(
        matches!(err, Error::Session(SessionError::ConnectionClosed)),
        "{err:?}"
    );
    let again = timeout(LIMIT, c.noop()).await.unwrap().unwrap_err();
    assert!(again.is_fatal(), "{again:?}");
}

#[tokio::test]
async fn server_that_stops_answering_times_out() {
    let (addr, _) = Hostile::new()
        .on("NOOP", Script::Reply(Vec::new()))
        .start()
        .await;
    let mut c = Client::builder()
        .reply_timeout(Duration::from_millis(300))
        .connect(addr)
        .await
        .unwrap();
    c.login("u", "p").await.unwrap();
    let err = timeout(LIMIT, c.noop()).await.unwrap().unwrap_err();
    assert!(
        matches!(err, Error::Session(SessionError::Timeout)),
        "{err:?}"
    );
}

/// 1yz replies do not extend the reply timeout: a server answering PASS with `120 wait` every
/// 200 ms, or a flood of them, fails the login once the reply timeout has passed.
#[tokio::test]
async fn endless_preliminary_replies_end_with_the_reply_timeout() {
    for every in [Duration::from_millis(200), Duration::ZERO] {
        let (addr, _) = Hostile::new()
            .on("PASS", Script::Preliminaries(every))
            .start()
            .await;
        let mut c = Client::builder()
            .reply_timeout(Duration::from_secs(1))
            .connect(addr)
            .await
            .unwrap();
        let started = std::time::Instant::now();
        let err = timeout(LIMIT, c.login("u", "p"))
            .await
            .expect("the login must not hang")
            .unwrap_err();
        assert!(
            matches!(err, Error::Session(SessionError::NoFinalReply)),
            "{every:?}: {err:?}"
        );
        assert!(err.is_timeout() && err.is_fatal(), "{err:?}");
        assert!(started.elapsed() < Duration::from_secs(5), "{every:?}");
    }
}

/// A download whose data stops without ending: the data timeout ends it with an error, and
/// what arrived is in the file (plain binary downloads go through splice(2) on Linux, on a
/// thread whose socket carries the timeout).
#[tokio::test]
async fn a_stalled_download_times_out() {
    let (addr, _) = Hostile::new()
        .on("RETR stall.bin", Script::Stall(vec![7u8; 100_000]))
        .start()
        .await;
    let mut c = login_with(addr, Duration::from_secs(2), Duration::from_millis(500)).await;
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("stall.bin");
    let started = std::time::Instant::now();
    let result = timeout(
        LIMIT,
        c.download_file("stall.bin", &local, TransferOptions::new()),
    )
    .await
    .unwrap();
    assert!(result.is_err(), "{result:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(std::fs::read(&local).unwrap(), vec![7u8; 100_000]);
}

/// Cancelling a download whose data has stalled returns at once, aborts it (ABOR), and the
/// session goes on.
#[tokio::test]
async fn cancelling_a_stalled_download_aborts_it() {
    let (addr, log) = Hostile::new()
        .on("RETR stall.bin", Script::Stall(vec![7u8; 100_000]))
        .start()
        .await;
    let mut c = login(addr).await;
    let dir = tempfile::tempdir().unwrap();
    let token = CancellationToken::new();
    let trigger = token.clone();
    let started = std::time::Instant::now();
    let result = timeout(
        LIMIT,
        c.download_file(
            "stall.bin",
            &dir.path().join("stall.bin"),
            TransferOptions::new()
                .progress(move |bytes| {
                    if bytes >= 100_000 {
                        trigger.cancel();
                    }
                })
                .cancel(token),
        ),
    )
    .await
    .unwrap();
    assert!(matches!(result, Err(Error::Cancelled)), "{result:?}");
    // Well before the 5 s data timeout: the cancellation, not the timeout, ended it.
    assert!(started.elapsed() < Duration::from_secs(4));
    timeout(LIMIT, c.noop()).await.unwrap().unwrap();
    assert!(log.lock().unwrap().iter().any(|line| line == "ABOR"));
}

/// An upload the server stops reading: the data timeout ends it with an error (plain binary
/// uploads go through sendfile(2) on Linux, on a thread whose socket carries the timeout).
#[tokio::test]
async fn an_upload_the_server_stops_reading_times_out() {
    let (addr, _) = Hostile::new()
        .on("STOR stall.bin", Script::Stall(Vec::new()))
        .start()
        .await;
    let mut c = login_with(addr, Duration::from_secs(2), Duration::from_millis(500)).await;
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("big.bin");
    // Far more than the socket buffers of both ends hold.
    std::fs::write(&local, vec![1u8; 64 << 20]).unwrap();
    let started = std::time::Instant::now();
    let result = timeout(
        LIMIT,
        c.upload_file(&local, "stall.bin", TransferOptions::new()),
    )
    .await
    .unwrap();
    assert!(result.is_err(), "{result:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

/// `download_file` that must fail (within [`LIMIT`]): the error.
async fn download_err(
    c: &mut Client,
    remote: &str,
    local: &std::path::Path,
    options: TransferOptions,
) -> Error {
    timeout(LIMIT, c.download_file(remote, local, options))
        .await
        .unwrap()
        .unwrap_err()
}

/// `(bytes, seed)`: deterministic test data.
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// A server that answers 350 to REST but sends the file from byte 0: the resumed download
/// fails with `RestIgnored` and the local file is cut back to its length before the resume,
/// instead of ending up as the prefix followed by the whole file.
#[tokio::test]
async fn a_resume_the_server_sends_from_the_start_is_refused_and_cut_back() {
    let remote = pattern(300_000, 1);
    let (addr, log) = Hostile::new()
        .on("SIZE f.bin", Script::Reply(b"213 300000\r\n".to_vec()))
        .on("REST", Script::Reply(b"350 Restarting\r\n".to_vec()))
        .on("RETR f.bin", Script::Data(remote.clone()))
        .start()
        .await;
    let mut c = login(addr).await;
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("f.bin");
    let mut partial = remote[..100_000].to_vec();
    partial[0] ^= 0xFF;
    std::fs::write(&local, &partial).unwrap();
    let err = download_err(&mut c, "f.bin", &local, TransferOptions::new().resume(true)).await;
    assert!(
        matches!(err, Error::RestIgnored { offset: 100_000 }),
        "{err:?}"
    );
    assert!(err.to_string().contains("ignored REST"), "{err}");
    assert_eq!(std::fs::read(&local).unwrap(), partial);
    assert!(log.lock().unwrap().iter().any(|l| l == "REST 100000"));
    // The session goes on.
    timeout(LIMIT, c.noop()).await.unwrap().unwrap();
}

/// A binary download whose length differs from what SIZE announced is a `PartialFile`
/// error (curl: "partial file"), whether it came up short or long; a resumed one is cut back
/// to its length before the resume. ASCII downloads, whose sizes differ by design, are not
/// checked.
#[tokio::test]
async fn a_download_shorter_than_size_is_a_partial_file_and_longer_is_too_long() {
    let (addr, _) = Hostile::new()
        .on("SIZE short.bin", Script::Reply(b"213 1000\r\n".to_vec()))
        .on("RETR short.bin", Script::Data(pattern(600, 2)))
        .on("SIZE long.bin", Script::Reply(b"213 1000\r\n".to_vec()))
        .on("RETR long.bin", Script::Data(pattern(1500, 3)))
        .on("REST", Script::Reply(b"350 Restarting\r\n".to_vec()))
        .on("SIZE text.txt", Script::Reply(b"213 6\r\n".to_vec()))
        .on("RETR text.txt", Script::Data(b"a\r\nb\r\n".to_vec()))
        .start()
        .await;
    let mut c = login(addr).await;
    let dir = tempfile::tempdir().unwrap();

    let short = dir.path().join("short.bin");
    let err = download_err(&mut c, "short.bin", &short, TransferOptions::new()).await;
    assert!(
        matches!(
            err,
            Error::PartialFile {
                expected: 1000,
                got: 600
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "partial file: expected 1000 bytes, got 600"
    );

    let long = dir.path().join("long.bin");
    let err = download_err(
        &mut c,
        "long.bin",
        &long,
        TransferOptions::new().remote_size(1000),
    )
    .await;
    assert!(matches!(err, Error::TooLong { expected: 1000 }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "the server sent more than the 1000 bytes SIZE announced"
    );
    assert!(std::fs::metadata(&long).unwrap().len() <= 1001);

    // Resumed from 200 bytes, the server sends 600 more: 800, not 1000; cut back to 200.
    let resumed = dir.path().join("resumed.bin");
    std::fs::write(&resumed, pattern(200, 9)).unwrap();
    let err = download_err(
        &mut c,
        "short.bin",
        &resumed,
        TransferOptions::new().resume(true),
    )
    .await;
    assert!(
        matches!(
            err,
            Error::PartialFile {
                expected: 1000,
                got: 800
            }
        ),
        "{err:?}"
    );
    assert_eq!(std::fs::read(&resumed).unwrap(), pattern(200, 9));

    // ASCII: 6 bytes on the wire, 4 on disk, and that is fine.
    c.set_type(ftp_proto::TransferType::Ascii(
        ftp_proto::FormatControl::NonPrint,
    ))
    .await
    .unwrap();
    let text = dir.path().join("text.txt");
    timeout(
        LIMIT,
        c.download_file("text.txt", &text, TransferOptions::new()),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(std::fs::read(&text).unwrap(), b"a\nb\n");
}

/// A server sending endless data for a file SIZE said is 1000 bytes: the download stops at
/// once (no disk filled), with an error naming the size, and the session goes on. To a file
/// (plain binary: through splice(2) on Linux) and from a stream alike.
#[tokio::test]
async fn a_download_longer_than_size_is_stopped_at_once() {
    let (addr, _) = Hostile::new()
        .on("SIZE endless.bin", Script::Reply(b"213 1000\r\n".to_vec()))
        .on("RETR endless.bin", Script::Endless)
        .start()
        .await;
    let mut c = login(addr).await;
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("endless.bin");
    for resume in [false, true] {
        let options = TransferOptions::new().resume(resume);
        let err = download_err(&mut c, "endless.bin", &local, options).await;
        assert!(matches!(err, Error::TooLong { expected: 1000 }), "{err:?}");
        let len = std::fs::metadata(&local).unwrap().len();
        assert!(len <= 1001, "{len} bytes written");
        timeout(LIMIT, c.noop()).await.unwrap().unwrap();
        std::fs::remove_file(&local).unwrap();
    }
}

/// Active mode: the server answers 150 and 226 but never connects back. That is not an
/// empty file but a failed download, and no local file is created.
#[tokio::test]
async fn an_active_download_without_a_data_connection_fails() {
    let (addr, _) = Hostile::new()
        .on("EPRT", Script::Reply(b"200 OK\r\n".to_vec()))
        .on("PORT", Script::Reply(b"200 OK\r\n".to_vec()))
        .on(
            "RETR f.bin",
            Script::Reply(b"150 Opening\r\n226 Done\r\n".to_vec()),
        )
        .start()
        .await;
    let mut c = Client::builder()
        .passive(false)
        .reply_timeout(Duration::from_secs(5))
        .data_timeout(Duration::from_secs(5))
        .connect(addr)
        .await
        .unwrap();
    c.login("u", "p").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("f.bin");
    let err = download_err(&mut c, "f.bin", &local, TransferOptions::new()).await;
    assert!(matches!(err, Error::NoDataConnection(_)), "{err:?}");
    assert!(!local.exists());
    let err = timeout(LIMIT, c.download_to_vec("f.bin"))
        .await
        .unwrap()
        .unwrap_err();
    assert!(matches!(err, Error::NoDataConnection(_)), "{err:?}");
    timeout(LIMIT, c.noop()).await.unwrap().unwrap();
}

/// Timeouts too long for the clock (`Duration::MAX`) are cut to one year: connecting,
/// logging in and downloading do not panic on a deadline overflow.
#[tokio::test]
async fn huge_timeouts_do_not_overflow() {
    let (addr, _) = Hostile::new()
        .on("RETR f", Script::Data(b"data".to_vec()))
        .start()
        .await;
    let mut c = Client::builder()
        .connect_timeout(Duration::MAX)
        .reply_timeout(Duration::MAX)
        .data_timeout(Duration::MAX)
        .connect(addr)
        .await
        .unwrap();
    c.login("u", "p").await.unwrap();
    let got = timeout(LIMIT, c.download_to_vec("f"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, b"data");
}

/// Every directory holds a directory `d` (a cycle of links on the server): the tree
/// download stops at 64 levels with `TooDeep` instead of running forever.
#[tokio::test]
async fn download_dir_stops_on_a_directory_cycle() {
    let (addr, log) = Hostile::new()
        .on(
            "LIST",
            Script::Data(b"drwxr-xr-x 1 u g 0 Mar  7 12:05 d\r\n".to_vec()),
        )
        .start()
        .await;
    let mut c = login(addr).await;
    let dir = tempfile::tempdir().unwrap();
    let err = timeout(LIMIT, c.download_dir("top", &dir.path().join("t")))
        .await
        .unwrap()
        .unwrap_err();
    assert!(matches!(err, Error::TooDeep(64)), "{err:?}");
    let lists = log
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.starts_with("LIST"))
        .count();
    assert_eq!(lists, 65);
}

/// Symbolic links already in the local target (a file and a directory, pointing outside
/// it) are not followed by a tree download: it fails with a local error and nothing outside
/// the target is written.
#[cfg(unix)]
#[tokio::test]
async fn download_dir_does_not_follow_local_symlinks() {
    let (addr, log) = Hostile::new()
        .on(
            "LIST -a a",
            Script::Data(b"-rw-r--r-- 1 u g 4 Mar  7 12:05 f.txt\r\n".to_vec()),
        )
        .on(
            "LIST -a b",
            Script::Data(b"drwxr-xr-x 1 u g 0 Mar  7 12:05 sub\r\n".to_vec()),
        )
        .on(
            "LIST -a b/sub",
            Script::Data(b"-rw-r--r-- 1 u g 4 Mar  7 12:05 g.txt\r\n".to_vec()),
        )
        .on("RETR a/f.txt", Script::Data(b"evil".to_vec()))
        .on("RETR b/sub/g.txt", Script::Data(b"evil".to_vec()))
        .start()
        .await;
    let mut c = login(addr).await;
    let outer = tempfile::tempdir().unwrap();
    let outside = outer.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("victim"), b"precious").unwrap();

    // A link where a file is to be written.
    let target = outer.path().join("ta");
    std::fs::create_dir(&target).unwrap();
    std::os::unix::fs::symlink(outside.join("victim"), target.join("f.txt")).unwrap();
    let err = timeout(LIMIT, c.download_dir("a", &target))
        .await
        .unwrap()
        .unwrap_err();
    assert!(matches!(err, Error::Local { .. }), "{err:?}");
    assert!(err.to_string().contains("symbolic link"), "{err}");
    assert_eq!(std::fs::read(outside.join("victim")).unwrap(), b"precious");

    // A link where a directory is to be created.
    let target = outer.path().join("tb");
    std::fs::create_dir(&target).unwrap();
    std::os::unix::fs::symlink(&outside, target.join("sub")).unwrap();
    let err = timeout(LIMIT, c.download_dir("b", &target))
        .await
        .unwrap()
        .unwrap_err();
    assert!(matches!(err, Error::Local { .. }), "{err:?}");
    assert!(!outside.join("g.txt").exists());
    let mut names: Vec<_> = std::fs::read_dir(&outside)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert_eq!(names, ["victim"]);
    let log = log.lock().unwrap().clone();
    assert!(!log.iter().any(|l| l.starts_with("RETR")), "{log:?}");
}

/// MLSD refuses a file's path (550); `list` then asks MLST and lists that one file, as LIST
/// would.
#[tokio::test]
async fn listing_a_file_on_an_mlsd_server_uses_mlst() {
    let (addr, _) = Hostile::new()
        .on(
            "FEAT",
            Script::Reply(b"211-Features:\r\n MLST type*;size*;modify*;\r\n SIZE\r\n211 End\r\n".to_vec()),
        )
        .on("MLSD dir/f.txt", Script::Reply(b"550 Not a directory\r\n".to_vec()))
        .on(
            "MLST dir/f.txt",
            Script::Reply(
                b"250-Listing\r\n type=file;size=3;modify=20240101000000; /home/u/dir/f.txt\r\n250 End\r\n"
                    .to_vec(),
            ),
        )
        .on("MLSD nope", Script::Reply(b"550 No such file\r\n".to_vec()))
        .on("MLST nope", Script::Reply(b"550 No such file\r\n".to_vec()))
        .start()
        .await;
    let mut c = login(addr).await;
    let entries = timeout(LIMIT, c.list("dir/f.txt")).await.unwrap().unwrap();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0].name, b"f.txt");
    assert_eq!(entries[0].size, 3);
    assert!(!entries[0].kind.is_dir());
    let err = timeout(LIMIT, c.list("nope")).await.unwrap().unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
}

/// A server that answers PASV but then neither replies to the transfer command (no 150, no
/// final reply) nor accepts the data connection (the client's connection completes in the
/// kernel's queue all the same): `retr`, `list` and `stor` fail themselves, with a timeout,
/// within the reply timeout (not after a fixed wait, with a stream that fails later, or
/// never); the transfer is aborted and the session goes on.
#[tokio::test]
async fn a_transfer_the_server_never_starts_fails_within_the_reply_timeout() {
    let (addr, log) = Hostile::new()
        .on("RETR f", Script::Silent)
        .on("LIST -a", Script::Silent)
        .on("LIST", Script::Silent)
        .on("STOR up", Script::Silent)
        .start()
        .await;
    let reply = Duration::from_millis(800);
    // The data timeout is longer: the reply timeout alone bounds the wait.
    let mut c = login_with(addr, reply, Duration::from_secs(3)).await;
    // Each operation may take the reply timeout for its control steps (TYPE, PASV), then the
    // reply timeout for the transfer to start.
    let bound = reply * 3 + Duration::from_millis(700);

    let started = std::time::Instant::now();
    let err = timeout(LIMIT, c.retr("f"))
        .await
        .unwrap()
        .map(|_| ())
        .unwrap_err();
    let took = started.elapsed();
    assert!(matches!(err, Error::Timeout(_)), "{err:?}");
    assert!(err.is_timeout() && !err.is_fatal(), "{err:?}");
    assert!(err.to_string().contains("transfer to start"), "{err}");
    assert!(took >= reply && took < bound, "{took:?}");
    assert_eq!(
        std::io::Error::from(err).kind(),
        std::io::ErrorKind::TimedOut
    );
    // ABOR before the next command; the server answers it and the session goes on.
    timeout(LIMIT, c.noop()).await.unwrap().unwrap();
    assert!(log.lock().unwrap().iter().any(|l| l == "ABOR"));

    let started = std::time::Instant::now();
    let err = timeout(LIMIT, c.list("")).await.unwrap().unwrap_err();
    assert!(matches!(err, Error::Timeout(_)), "{err:?}");
    assert!(started.elapsed() < bound, "{:?}", started.elapsed());
    timeout(LIMIT, c.noop()).await.unwrap().unwrap();

    let started = std::time::Instant::now();
    let err = timeout(LIMIT, c.stor("up", &b"data"[..]))
        .await
        .unwrap()
        .unwrap_err();
    assert!(matches!(err, Error::Timeout(_)), "{err:?}");
    assert!(started.elapsed() < bound, "{:?}", started.elapsed());
    timeout(LIMIT, c.noop()).await.unwrap().unwrap();
}

/// A server that sends no 150 but the data (then 226): the data shows the transfer started,
/// so the download goes ahead at once, with no fixed wait for the missing reply. The file is
/// larger than the sockets' buffers, so the server's 226 waits for the client to read. An
/// empty file the same way.
#[tokio::test]
async fn data_without_a_preliminary_reply_starts_the_download_at_once() {
    let (addr, _) = Hostile::new()
        .on(
            "RETR f",
            Script::DataWithoutPreliminary(pattern(16 << 20, 5)),
        )
        .on("RETR empty", Script::DataWithoutPreliminary(Vec::new()))
        .start()
        .await;
    let mut c = login(addr).await;
    let started = std::time::Instant::now();
    let got = timeout(LIMIT, c.download_to_vec("f"))
        .await
        .unwrap()
        .unwrap();
    assert!(got == pattern(16 << 20, 5), "{} bytes", got.len());
    let empty = timeout(LIMIT, c.download_to_vec("empty"))
        .await
        .unwrap()
        .unwrap();
    assert!(empty.is_empty());
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

/// A refusal whose data connection is reset before the 550 arrives is still a refusal of
/// `retr` itself (a missing file), not a stream that fails when read.
#[tokio::test]
async fn a_refusal_after_the_data_connection_is_reset_fails_retr() {
    let (addr, _) = Hostile::new()
        .on(
            "RETR nope",
            Script::RefuseAfterReset(b"550 No such file\r\n".to_vec()),
        )
        .start()
        .await;
    let mut c = login(addr).await;
    let err = timeout(LIMIT, c.retr("nope"))
        .await
        .unwrap()
        .map(|_| ())
        .unwrap_err();
    assert!(err.is_not_found() && err.is_permanent(), "{err:?}");
    timeout(LIMIT, c.noop()).await.unwrap().unwrap();
}

/// A download whose data stalls (150, some bytes, then nothing, and no final reply): read as
/// an `AsyncRead`, it fails with `io::ErrorKind::TimedOut`, and the error names the data
/// connection, not the control reply. The same for an upload the server stops reading.
#[tokio::test]
async fn a_stalled_transfer_is_a_timed_out_io_error_naming_the_data_connection() {
    use tokio::io::AsyncReadExt;

    let (addr, _) = Hostile::new()
        .on("RETR stall.bin", Script::Stall(vec![7u8; 1000]))
        .on("STOR stall.bin", Script::Stall(Vec::new()))
        .start()
        .await;
    let short = Duration::from_millis(400);
    let mut c = login_with(addr, short, short).await;
    let mut stream = timeout(LIMIT, c.retr("stall.bin")).await.unwrap().unwrap();
    let mut got = Vec::new();
    let err = timeout(LIMIT, stream.read_to_end(&mut got))
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(got.len(), 1000);
    assert_eq!(err.kind(), std::io::ErrorKind::TimedOut, "{err:?}");
    assert!(
        err.to_string().contains("data connection timed out"),
        "{err}"
    );
    let inner = err
        .get_ref()
        .and_then(|e| e.downcast_ref::<Error>())
        .expect("the client error inside");
    assert!(
        matches!(inner, Error::DataTimeout { bytes: 1000 }),
        "{inner:?}"
    );
    assert!(inner.is_timeout() && inner.is_fatal());
    drop(stream);

    let mut c = login_with(addr, short, short).await;
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("big.bin");
    std::fs::write(&local, vec![1u8; 64 << 20]).unwrap();
    let err = timeout(
        LIMIT,
        c.upload_file(&local, "stall.bin", TransferOptions::new()),
    )
    .await
    .unwrap()
    .unwrap_err();
    assert!(matches!(err, Error::DataTimeout { .. }), "{err:?}");
    assert!(
        err.to_string().contains("data connection timed out"),
        "{err}"
    );
}

/// NLST's `.` and `..` entries, bare or as the last component of a path (pure-ftpd answers
/// `NLST dir` with `dir/.` and `dir/..`), are left out, as `list` leaves them out; names that
/// only start with dots are kept.
#[tokio::test]
async fn nlst_leaves_out_dot_and_dot_dot() {
    let (addr, _) = Hostile::new()
        .on(
            "NLST dir",
            Script::Data(b"dir/.\r\ndir/..\r\ndir/a.txt\r\ndir/.hidden\r\ndir/..b\r\n".to_vec()),
        )
        .on(
            "NLST",
            Script::Data(b".\r\n..\r\n./\r\nx\r\n...\r\n".to_vec()),
        )
        .start()
        .await;
    let mut c = login(addr).await;
    let names = timeout(LIMIT, c.nlst("dir")).await.unwrap().unwrap();
    assert_eq!(names, ["dir/a.txt", "dir/.hidden", "dir/..b"]);
    let names = timeout(LIMIT, c.nlst("")).await.unwrap().unwrap();
    assert_eq!(names, ["x", "..."]);
}
