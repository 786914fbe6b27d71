//! The second runtime: `ftpd-async-std` and `ftp-async-std` drive ftp-proto's sessions on
//! async-std with no tokio code of ours in between.
//!
//! - the async-std server with curl (listing, both passive forms, active mode, checksums,
//!   quoted MKD/RNFR/RNTO/DELE, anonymous write refused) and with the tokio client
//!   (ftp-client-tokio: every common operation, passive and active);
//! - the async-std client against the tokio server (`ftpd`), with effects checked on disk;
//! - the futures-io codec on smol: a control-channel responder built from `FramedRead` and
//!   `write_reply` alone, which the tokio client logs in to.

mod support;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use ftp_client_tokio::Client;
use support::{
    FtpdBuilder, PASS, USER, assert_file, assert_same_bytes, random_bytes, read_file, run,
    tool_available, write_file,
};
use tokio::io::AsyncReadExt;

const TIMEOUT: Duration = Duration::from_secs(60);

/// A running `ftpd-async-std` (in-memory files, user alice), killed by its PID when dropped.
struct AsyncStdServer {
    child: Child,
    addr: SocketAddr,
}

impl AsyncStdServer {
    fn start() -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ftpd-async-std"))
            .args([
                "--listen",
                "127.0.0.1:0",
                "--user",
                &format!("{USER}:{PASS}"),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start ftpd-async-std");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("ftpd-async-std printed no `listening on` line");
        let addr = line
            .strip_prefix("listening on ")
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
        Self { child, addr }
    }

    fn url(&self, path: &str) -> String {
        format!("ftp://{}/{}", self.addr, path.trim_start_matches('/'))
    }
}

impl Drop for AsyncStdServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn curl(args: &[&str]) -> support::Run {
    let mut command = Command::new("curl");
    command
        .args(["-sS", "-v", "--connect-timeout", "5", "--max-time", "50"])
        .args(args);
    run(&mut command, TIMEOUT)
}

fn alice() -> String {
    format!("{USER}:{PASS}")
}

#[test]
fn curl_against_the_async_std_server() {
    if !tool_available("curl") {
        return;
    }
    let server = AsyncStdServer::start();
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("random.bin");
    let bytes = random_bytes(3 * 1024 * 1024 + 17, 7);
    write_file(&local, &bytes);

    // Upload as alice; anonymous users may only read.
    let local_arg = local.to_str().unwrap();
    curl(&["-u", &alice(), "-T", local_arg, &server.url("random.bin")]).assert_success();
    curl(&["-T", local_arg, &server.url("anon.bin")]).assert_code(25);

    // Download three ways: EPSV, PASV (--disable-epsv) and active (PORT/EPRT).
    for mode in [&[][..], &["--disable-epsv"], &["--ftp-port", "127.0.0.1"]] {
        let mut args = mode.to_vec();
        let url = server.url("random.bin");
        args.push(&url);
        let run = curl(&args);
        run.assert_success();
        assert_same_bytes(&run.stdout, &bytes, &format!("download with {mode:?}"));
    }

    // Quoted commands, then the listing shows their effects.
    curl(&[
        "-u",
        &alice(),
        "-Q",
        "MKD dir",
        "-Q",
        "RNFR random.bin",
        "-Q",
        "RNTO dir/moved.bin",
        &server.url("/"),
    ])
    .assert_success();
    let listing = curl(&[&server.url("dir/")]);
    listing.assert_success();
    let text = listing.stdout_text();
    assert!(
        text.contains(&format!(" {} ", bytes.len())) && text.trim_end().ends_with("moved.bin"),
        "{text}"
    );
    let names = curl(&["-l", &server.url("/")]);
    assert_eq!(names.stdout_text().trim_end(), "dir");

    curl(&["-u", &alice(), "-Q", "DELE dir/moved.bin", &server.url("/")]).assert_success();
    let missing = curl(&[&server.url("dir/moved.bin")]);
    missing.assert_code(78); // 550: remote file not found
}

#[tokio::test]
async fn tokio_client_against_the_async_std_server() {
    let server = AsyncStdServer::start();
    let bytes = random_bytes(2 * 1024 * 1024 + 3, 11);
    for passive in [true, false] {
        let mut client = Client::builder()
            .passive(passive)
            .connect(server.addr)
            .await
            .unwrap();
        client.login(USER, PASS).await.unwrap();
        let dir = if passive { "p" } else { "a" };
        client.mkdir(dir).await.unwrap();
        let path = format!("{dir}/file.bin");
        client.stor(&path, &bytes[..]).await.unwrap();

        let entries = client.list(dir).await.unwrap();
        assert_eq!(entries.len(), 1, "{entries:?}");
        assert_eq!(entries[0].name, b"file.bin");
        assert_eq!(entries[0].size, bytes.len() as u64);

        let mut back = Vec::new();
        client
            .retr(&path)
            .await
            .unwrap()
            .read_to_end(&mut back)
            .await
            .unwrap();
        assert_same_bytes(&back, &bytes, "tokio client download");

        client
            .rename(&path, &format!("{dir}/renamed.bin"))
            .await
            .unwrap();
        let err = client.remove(&path).await.unwrap_err();
        assert_eq!(err.code().map(|c| c.get()), Some(550), "{err}");
        client.remove(&format!("{dir}/renamed.bin")).await.unwrap();
        client.rmdir(dir).await.unwrap();
        assert!(client.list("/").await.unwrap().is_empty());
        client.quit().await.unwrap();
    }
}

/// Runs `ftp-async-std` with alice's credentials.
fn async_std_client(addr: SocketAddr, args: &[&str]) -> support::Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ftp-async-std"));
    command
        .args(["--user", USER, "--password", PASS])
        .arg(addr.to_string());
    command.args(args);
    run(&mut command, TIMEOUT)
}

#[test]
fn async_std_client_against_the_tokio_server() {
    let ftpd = FtpdBuilder::new().user().start();
    let bytes = random_bytes(3 * 1024 * 1024 + 5, 23);
    let local = ftpd.base().join("upload.bin");
    write_file(&local, &bytes);
    let addr = ftpd.addr();

    async_std_client(addr, &["mkdir", "sub"]).assert_success();
    assert!(ftpd.root().join("sub").is_dir());
    async_std_client(addr, &["put", local.to_str().unwrap(), "sub/file.bin"]).assert_success();
    assert_file(&ftpd.root().join("sub/file.bin"), &bytes);

    let ls = async_std_client(addr, &["ls", "sub"]);
    ls.assert_success();
    assert_eq!(
        ls.stdout_text(),
        format!("- {:>12} file.bin\n", bytes.len())
    );

    for mode in [&[][..], &["--active"][..]] {
        let back = ftpd.base().join(format!("back{}.bin", mode.len()));
        let back_arg = back.to_str().unwrap().to_owned();
        let mut command = Command::new(env!("CARGO_BIN_EXE_ftp-async-std"));
        command.args(["--user", USER, "--password", PASS]);
        command.args(mode).arg(addr.to_string());
        command.args(["get", "sub/file.bin", &back_arg]);
        run(&mut command, TIMEOUT).assert_success();
        assert_same_bytes(&read_file(&back), &bytes, &format!("download {mode:?}"));
    }

    let refused = async_std_client(addr, &["get", "missing.bin", "/dev/null"]);
    refused.assert_code(1);
    assert!(refused.stderr.contains("550"), "{}", refused.describe());

    async_std_client(addr, &["rm", "sub/file.bin"]).assert_success();
    assert!(!ftpd.root().join("sub/file.bin").exists());
    async_std_client(addr, &["rmdir", "sub"]).assert_success();
    assert!(!ftpd.root().join("sub").exists());
}

/// The futures-io codec on smol: a control-channel responder written only with
/// `FramedRead<CommandDecoder>` and `write_reply`, which ftp-client-tokio logs in to.
#[tokio::test]
async fn smol_codec_responder_serves_the_tokio_client() {
    use ftp_proto::codec::{CommandDecoder, FramedRead, write_reply};
    use ftp_proto::{Command as Ftp, Reply, ReplyCode};

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = thread::spawn(move || {
        smol::block_on(async move {
            let listener = smol::net::TcpListener::try_from(listener).unwrap();
            let (stream, _) = listener.accept().await.unwrap();
            let mut writer = stream.clone();
            let mut commands = FramedRead::new(stream, CommandDecoder::new());
            let hello = Reply::new(ReplyCode::SERVICE_READY, "smol says hello");
            write_reply(&mut writer, &hello).await.unwrap();
            let mut seen = Vec::new();
            while let Some(item) = commands.next().await {
                let reply = match item.unwrap() {
                    Ok(Ftp::User(user)) => {
                        seen.push(format!("USER {user}"));
                        Reply::new(ReplyCode::NEED_PASSWORD, "Password please")
                    }
                    Ok(Ftp::Pass(_)) => {
                        seen.push("PASS".to_owned());
                        Reply::new(ReplyCode::USER_LOGGED_IN, "Welcome")
                    }
                    Ok(Ftp::Noop) => {
                        seen.push("NOOP".to_owned());
                        Reply::new(ReplyCode::COMMAND_OKAY, "OK")
                    }
                    Ok(Ftp::Quit) => {
                        seen.push("QUIT".to_owned());
                        write_reply(&mut writer, &Reply::new(ReplyCode::SERVICE_CLOSING, "Bye"))
                            .await
                            .unwrap();
                        break;
                    }
                    Ok(other) => Reply::new(
                        ReplyCode::COMMAND_NOT_IMPLEMENTED,
                        format!("{other} not here"),
                    ),
                    Err(e) => e.to_reply(),
                };
                write_reply(&mut writer, &reply).await.unwrap();
            }
            seen
        })
    });
    let mut client = Client::connect(addr).await.unwrap();
    client.login("carol", "pw").await.unwrap();
    client.noop().await.unwrap();
    client.quit().await.unwrap();
    let seen = tokio::task::spawn_blocking(move || seen.join().unwrap())
        .await
        .unwrap();
    assert_eq!(seen, ["USER carol", "PASS", "NOOP", "QUIT"]);
}

/// The async-std server caps sessions per IP address (16): the next connection gets 421 and
/// is closed, and a slot frees when a session ends.
#[test]
fn async_std_server_caps_sessions_per_ip() {
    use std::io::{BufRead, BufReader};
    use std::net::TcpStream;
    let server = AsyncStdServer::start();
    let greet = |stream: &TcpStream| {
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut line = String::new();
        BufReader::new(stream).read_line(&mut line).unwrap();
        line
    };
    let mut open = Vec::new();
    for _ in 0..16 {
        let stream = TcpStream::connect(server.addr).unwrap();
        assert!(greet(&stream).starts_with("220"));
        open.push(stream);
    }
    let refused = TcpStream::connect(server.addr).unwrap();
    assert!(greet(&refused).starts_with("421"), "the 17th session");
    drop(open.pop());
    // The freed slot is taken again (the server notices the close asynchronously).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let stream = TcpStream::connect(server.addr).unwrap();
        if greet(&stream).starts_with("220") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the slot was never freed"
        );
        thread::sleep(Duration::from_millis(50));
    }
}
