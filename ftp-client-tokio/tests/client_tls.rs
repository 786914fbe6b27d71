//! FTPS (RFC 4217): our client against servers we did not write, and against scripted
//! attackers.
//!
//! Foreign servers (see `support/foreign.rs`; each requires TLS for logins and data):
//! - vsftpd with `require_ssl_reuse=YES`: explicit and implicit TLS, TLS 1.2 only and TLS 1.3
//!   only (chosen from the client's side: vsftpd 3.0.3 has no version switch), passive and
//!   active mode, and 12 consecutive data connections in a row, every one of which must resume
//!   the control connection's session (vsftpd refuses the others with 522);
//! - pure-ftpd with `-Y 3` and pyftpdlib's `TLS_FTPHandler`: login, listing, download and
//!   upload compared byte for byte, passive and active mode.
//!
//! Attacks: AUTH TLS refused (500, 502) or answered 234 followed by plaintext, or by silence:
//! the client fails closed and the server never receives USER or PASS; a certificate from an
//! unknown CA is refused unless `danger_accept_invalid_certs` is set.
//!
//! A scripted FTPS server for protected transfers that start late or never: one that sends
//! its 150 only after the data connection's TLS handshake (downloads and uploads), and one
//! that never answers RETR or STOR nor accepts the data connection.

mod support;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ftp_client_tokio::{Client, Error, TlsConfig, TlsVersions};
use support::{ForeignServer, ServerKind, TestPki, TlsSetup, random_bytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(60);

/// Trusts the server's test CA, with `versions`.
fn trust(server: &ForeignServer, versions: TlsVersions) -> TlsConfig {
    let pki = server.pki.as_ref().expect("a TLS server");
    TlsConfig::new()
        .add_root_pem(pki.ca_pem.as_bytes())
        .expect("CA PEM")
        .versions(versions)
}

async fn connect_tls(server: &ForeignServer, versions: TlsVersions, passive: bool) -> Client {
    let builder = Client::builder()
        .reply_timeout(Duration::from_secs(15))
        .data_timeout(Duration::from_secs(15))
        .passive(passive);
    let tls = trust(server, versions);
    let builder = match server.tls {
        TlsSetup::Implicit => builder.implicit_tls(tls),
        _ => builder.tls(tls),
    };
    let mut client = builder
        .connect(server.addr)
        .await
        .unwrap_or_else(|e| panic!("{}: connect: {e}\n{}", server.kind, server.log()));
    assert!(client.is_tls());
    client
        .login(&server.user, &server.password)
        .await
        .unwrap_or_else(|e| panic!("{}: login: {e}\n{}", server.kind, server.log()));
    client
}

/// Login over TLS, a listing, a download and an upload (compared byte for byte), all with
/// PROT P data connections; returns the client for more.
async fn list_get_put(server: &ForeignServer, versions: TlsVersions, passive: bool) -> Client {
    let kind = server.kind;
    let mut c = connect_tls(server, versions, passive).await;
    let info = c.tls_info().expect("TLS").clone();
    match versions {
        TlsVersions::Tls12Only => assert_eq!(info.version.as_deref(), Some("TLSv1_2"), "{kind}"),
        TlsVersions::Tls13Only => assert_eq!(info.version.as_deref(), Some("TLSv1_3"), "{kind}"),
        _ => assert!(info.version.is_some()),
    }
    let data = random_bytes(1024 * 1024 + 5, 21);
    server.write_file("down.bin", &data);
    server.write_file("small.txt", b"hello over TLS\n");

    let mut entries = timeout(LIMIT, c.list(""))
        .await
        .unwrap()
        .unwrap_or_else(|e| {
            panic!(
                "{kind} {versions:?} passive={passive}: list: {e}\n{}",
                server.log()
            )
        });
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    let files: Vec<(String, u64)> = entries
        .iter()
        .map(|e| (String::from_utf8_lossy(&e.name).into_owned(), e.size))
        .filter(|(n, _)| n != "." && n != "..")
        .collect();
    assert_eq!(
        files,
        [
            ("down.bin".to_owned(), data.len() as u64),
            ("small.txt".to_owned(), 15)
        ],
        "{kind}"
    );

    let got = timeout(LIMIT, c.download_to_vec("down.bin"))
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("{kind}: download: {e}\n{}", server.log()));
    assert!(
        got == data,
        "{kind} {versions:?} passive={passive}: download differs"
    );

    let up = random_bytes(700_001, 22);
    let n = timeout(LIMIT, c.stor("up.bin", &up[..]))
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("{kind}: upload: {e}\n{}", server.log()));
    assert_eq!(n, up.len() as u64);
    assert!(
        server.read_file("up.bin") == up,
        "{kind} {versions:?} passive={passive}: upload differs"
    );
    // An empty upload still ends with close_notify and a 226.
    assert_eq!(c.stor("empty.bin", &b""[..]).await.unwrap(), 0, "{kind}");
    assert_eq!(server.read_file("empty.bin"), b"", "{kind}");
    c
}

async fn explicit(kind: ServerKind, versions: TlsVersions, passive: bool) {
    let Some(server) = ForeignServer::start_tls(kind, TlsSetup::Explicit) else {
        return;
    };
    let c = list_get_put(&server, versions, passive).await;
    let info = c.tls_info().unwrap().clone();
    assert_eq!(info.data_resumed + info.data_full, 4, "{kind}: {info:?}");
    if kind == ServerKind::Vsftpd {
        // require_ssl_reuse: the transfers above only worked because each resumed.
        assert_eq!(info.data_full, 0, "{kind}: {info:?}");
    }
    c.quit().await.unwrap();
}

macro_rules! tls_cases {
    ($($name:ident: $kind:expr, $versions:expr, $passive:expr;)*) => {$(
        #[tokio::test]
        async fn $name() {
            explicit($kind, $versions, $passive).await;
        }
    )*};
}

tls_cases! {
    vsftpd_tls13_passive: ServerKind::Vsftpd, TlsVersions::Tls13Only, true;
    vsftpd_tls12_passive: ServerKind::Vsftpd, TlsVersions::Tls12Only, true;
    vsftpd_tls13_active: ServerKind::Vsftpd, TlsVersions::Tls13Only, false;
    vsftpd_tls12_active: ServerKind::Vsftpd, TlsVersions::Tls12Only, false;
    pure_ftpd_tls_passive: ServerKind::PureFtpd, TlsVersions::Both, true;
    pure_ftpd_tls_active: ServerKind::PureFtpd, TlsVersions::Both, false;
    pure_ftpd_tls12_passive: ServerKind::PureFtpd, TlsVersions::Tls12Only, true;
    pyftpdlib_tls_passive: ServerKind::Pyftpdlib, TlsVersions::Both, true;
    pyftpdlib_tls_active: ServerKind::Pyftpdlib, TlsVersions::Both, false;
    pyftpdlib_tls12_passive: ServerKind::Pyftpdlib, TlsVersions::Tls12Only, true;
}

/// vsftpd with require_ssl_reuse: many data connections in a row (downloads, uploads,
/// listings, an empty file) each resume the control session. With TLS 1.3 every ticket is
/// used once, so this only holds if each data connection's fresh tickets are taken in (an
/// upload's too: the client reads until the server's close after its close_notify).
async fn vsftpd_many_transfers(versions: TlsVersions) {
    let Some(server) = ForeignServer::start_tls(ServerKind::Vsftpd, TlsSetup::Explicit) else {
        return;
    };
    let mut c = connect_tls(&server, versions, true).await;
    server.write_file("zero", b"");
    let mut transfers = 0;
    for round in 0..6u64 {
        let data = random_bytes(50_000 + round as usize, 30 + round);
        let name = format!("f{round}.bin");
        c.stor(&name, &data[..])
            .await
            .unwrap_or_else(|e| panic!("{versions:?} upload {round}: {e}\n{}", server.log()));
        assert!(server.read_file(&name) == data, "round {round}");
        let back = c
            .download_to_vec(&name)
            .await
            .unwrap_or_else(|e| panic!("{versions:?} download {round}: {e}\n{}", server.log()));
        assert!(back == data, "round {round}: download differs");
        transfers += 2;
    }
    // Two uploads in a row, then a listing and an empty download.
    c.stor("a", &b"aaaa"[..]).await.unwrap();
    c.stor("b", &b"bbbb"[..]).await.unwrap();
    assert_eq!(c.nlst("").await.unwrap().len(), 9);
    assert_eq!(c.download_to_vec("zero").await.unwrap(), b"");
    transfers += 4;
    let info = c.tls_info().unwrap().clone();
    assert_eq!(info.data_resumed, transfers, "{versions:?}: {info:?}");
    assert_eq!(info.data_full, 0, "{versions:?}: {info:?}");
    c.quit().await.unwrap();
}

#[tokio::test]
async fn vsftpd_tls13_sixteen_transfers_all_resume() {
    vsftpd_many_transfers(TlsVersions::Tls13Only).await;
}

#[tokio::test]
async fn vsftpd_tls12_sixteen_transfers_all_resume() {
    vsftpd_many_transfers(TlsVersions::Tls12Only).await;
}

#[tokio::test]
async fn vsftpd_implicit_tls() {
    let Some(server) = ForeignServer::start_tls(ServerKind::Vsftpd, TlsSetup::Implicit) else {
        return;
    };
    let c = list_get_put(&server, TlsVersions::Both, true).await;
    assert_eq!(c.tls_info().unwrap().data_full, 0);
    c.quit().await.unwrap();
}

/// A client with `config` against a TLS pyftpdlib: connect and log in.
async fn try_login(server: &ForeignServer, config: TlsConfig) -> Result<Client, Error> {
    let mut c = Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .reply_timeout(Duration::from_secs(10))
        .tls(config)
        .connect(server.addr)
        .await?;
    c.login(&server.user, &server.password).await?;
    Ok(c)
}

#[tokio::test]
async fn an_untrusted_certificate_is_refused_unless_insecure_is_asked_for() {
    let Some(server) = ForeignServer::start_tls(ServerKind::Pyftpdlib, TlsSetup::Explicit) else {
        return;
    };
    // No roots at all, and another CA's root: the handshake fails, nothing is logged in.
    let other = TestPki::new(&["127.0.0.1"]);
    for config in [
        TlsConfig::new(),
        TlsConfig::new()
            .add_root_pem(other.ca_pem.as_bytes())
            .unwrap(),
    ] {
        let err = try_login(&server, config).await.expect_err("refused");
        assert!(matches!(err, Error::Tls(_)), "{err:?}");
        assert!(err.is_fatal());
        assert!(err.to_string().contains("certificate"), "{err}");
    }
    // The right CA but the wrong name.
    let err = try_login(
        &server,
        trust(&server, TlsVersions::Both)
            .server_name("ftp.example.net")
            .unwrap(),
    )
    .await
    .expect_err("wrong name refused");
    assert!(matches!(err, Error::Tls(_)), "{err:?}");
    assert!(
        !server.log().contains("USER ftprs"),
        "USER was sent:\n{}",
        server.log()
    );

    // Insecure, explicitly: the same server works (and data is still protected).
    let mut c = try_login(&server, TlsConfig::new().danger_accept_invalid_certs())
        .await
        .unwrap();
    server.write_file("x", b"insecure but encrypted");
    assert_eq!(
        c.download_to_vec("x").await.unwrap(),
        b"insecure but encrypted"
    );
    // And the right CA with the certificate's other name.
    let mut c = try_login(
        &server,
        trust(&server, TlsVersions::Both)
            .server_name("localhost")
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(
        c.download_to_vec("x").await.unwrap(),
        b"insecure but encrypted"
    );
}

/// A scripted server for the stripping attacks: greets, answers AUTH with `auth_reply`
/// (then, after `later.0`, sends `later.1` in clear), USER with 331 and PASS with 230, and
/// anything else with 200, except after a 234, when it only records.
/// Returns its address and every byte it received.
async fn stripping_server(
    auth_reply: &'static [u8],
    later: Option<(Duration, &'static [u8])>,
) -> (SocketAddr, Arc<Mutex<Vec<u8>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let received = Arc::new(Mutex::new(Vec::new()));
    let log = received.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let log = log.clone();
            tokio::spawn(async move {
                stream.write_all(b"220 MITM ready\r\n").await?;
                let mut buf = vec![0u8; 4096];
                let mut line = Vec::new();
                // After a 234 the server answers nothing more (what follows is a TLS
                // ClientHello it cannot read); it only records.
                let mut upgraded = false;
                loop {
                    let n = stream.read(&mut buf).await?;
                    if n == 0 {
                        return Ok::<(), std::io::Error>(());
                    }
                    log.lock().unwrap().extend_from_slice(&buf[..n]);
                    if upgraded {
                        continue;
                    }
                    line.extend_from_slice(&buf[..n]);
                    while let Some(end) = line.iter().position(|&b| b == b'\n') {
                        let cmd: Vec<u8> = line.drain(..=end).collect();
                        let reply: &[u8] = if cmd.starts_with(b"AUTH") {
                            auth_reply
                        } else if cmd.starts_with(b"USER") {
                            b"331 Password please\r\n"
                        } else if cmd.starts_with(b"PASS") {
                            b"230 Logged in\r\n"
                        } else {
                            b"200 OK\r\n"
                        };
                        stream.write_all(reply).await?;
                        upgraded |= cmd.starts_with(b"AUTH") && reply.starts_with(b"234");
                        if cmd.starts_with(b"AUTH")
                            && let Some((delay, bytes)) = later
                        {
                            tokio::time::sleep(delay).await;
                            stream.write_all(bytes).await?;
                        }
                    }
                }
            });
        }
    });
    (addr, received)
}

async fn assert_fails_closed(
    auth_reply: &'static [u8],
    later: Option<(Duration, &'static [u8])>,
) -> Error {
    let (addr, received) = stripping_server(auth_reply, later).await;
    let started = Instant::now();
    let result = timeout(
        LIMIT,
        Client::builder()
            .connect_timeout(Duration::from_secs(3))
            .reply_timeout(Duration::from_secs(3))
            .tls(TlsConfig::new().danger_accept_invalid_certs())
            .connect(addr),
    )
    .await
    .expect("bounded");
    let err = match result {
        Ok(_) => panic!("connected without TLS"),
        Err(e) => e,
    };
    assert!(started.elapsed() < Duration::from_secs(10));
    // Give a misbehaving client the time to send more, then look at what the server got.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let received = received.lock().unwrap().clone();
    assert!(
        received.starts_with(b"AUTH TLS\r\n"),
        "{:?}",
        String::from_utf8_lossy(&received)
    );
    for secret in [&b"USER"[..], b"PASS", b"PBSZ", b"PROT"] {
        assert!(
            !received.windows(secret.len()).any(|w| w == secret),
            "{} went out: {:?}",
            String::from_utf8_lossy(secret),
            String::from_utf8_lossy(&received)
        );
    }
    err
}

#[tokio::test]
async fn the_client_fails_closed_when_auth_tls_is_stripped() {
    for (reply, code) in [
        (&b"500 AUTH not understood\r\n"[..], 500),
        (b"502 Command not implemented\r\n", 502),
        (b"530 Please login with USER and PASS\r\n", 530),
    ] {
        let err = assert_fails_closed(reply, None).await;
        assert!(matches!(err, Error::TlsRefused(_)), "{err:?}");
        assert_eq!(err.code().map(|c| c.get()), Some(code), "{err}");
    }
}

#[tokio::test]
async fn the_client_fails_closed_on_plaintext_after_234() {
    // In the same segment as the 234 (the STARTTLS-injection shape), and a moment later.
    let err = assert_fails_closed(b"234 Proceed\r\n331 Password please\r\n", None).await;
    assert!(matches!(err, Error::Tls(_)), "{err:?}");
    let err = assert_fails_closed(
        b"234 Proceed\r\n",
        Some((Duration::from_millis(100), b"230 Logged in, no TLS\r\n")),
    )
    .await;
    assert!(matches!(err, Error::Tls(_)), "{err:?}");
}

#[tokio::test]
async fn a_server_silent_after_234_times_out() {
    let err = assert_fails_closed(b"234 Proceed\r\n", None).await;
    assert!(
        matches!(&err, Error::Tls(e) if e.kind() == std::io::ErrorKind::TimedOut),
        "{err:?}"
    );
}

#[tokio::test]
async fn auth_tls_refused_on_demand_leaves_a_plain_usable_connection() {
    let (addr, received) = stripping_server(b"504 No TLS here\r\n", None).await;
    let mut c = Client::connect(addr).await.unwrap();
    let err = c
        .auth_tls(&TlsConfig::new().danger_accept_invalid_certs())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TlsRefused(_)), "{err:?}");
    assert!(!err.is_fatal());
    assert!(!c.is_tls() && c.tls_info().is_none());
    // The caller chose explicit AUTH (not required TLS): going on in clear is its decision.
    assert_eq!(c.quote_line("NOOP").await.unwrap().code().get(), 200);
    assert!(received.lock().unwrap().ends_with(b"AUTH TLS\r\nNOOP\r\n"));
}

/// What the scripted FTPS server does with its transfer commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TlsScript {
    /// RETR: accept the data connection, finish its TLS handshake, and only then send 150;
    /// the data, close_notify, 226.
    RetrPreliminaryAfterHandshake(&'static [u8]),
    /// STOR and APPE: accept the data connection, finish its TLS handshake, and only then
    /// send 150; read the upload up to its close_notify, then 226 if it was exactly these
    /// bytes (451 otherwise).
    StorPreliminaryAfterHandshake(&'static [u8]),
    /// RETR, STOR and APPE: nothing: no reply, and the passive listener never accepts (the
    /// client's connection completes in the kernel's queue) until ABOR, which gets 426 + 226.
    Silent,
}

/// A scripted FTPS server (explicit TLS, `PROT P` data) answering transfer commands as
/// `script` says; returns its address and the command lines it received (and, for uploads,
/// a line `data: ...` with what came over the data connection).
async fn scripted_tls_server(
    pki: &TestPki,
    script: TlsScript,
) -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    use tokio::io::{AsyncBufReadExt, BufReader};

    let certs = vec![CertificateDer::from_pem_slice(pki.cert_pem.as_bytes()).unwrap()];
    let key = PrivateKeyDer::from_pem_slice(pki.key_pem.as_bytes()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let log2 = log.clone();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let (acceptor, log) = (acceptor.clone(), log2.clone());
            tokio::spawn(async move {
                tcp.write_all(b"220 Scripted FTPS\r\n").await?;
                let mut plain = BufReader::new(tcp);
                let mut line = String::new();
                plain.read_line(&mut line).await?;
                plain.get_mut().write_all(b"234 Go ahead\r\n").await?;
                // The client says nothing more in clear: the buffer holds nothing.
                let tls = acceptor.accept(plain.into_inner()).await?;
                let (read, mut write) = tokio::io::split(tls);
                let mut lines = BufReader::new(read).lines();
                let mut passive: Option<TcpListener> = None;
                let mut silent: Option<TcpListener> = None;
                while let Some(line) = lines.next_line().await? {
                    log.lock().unwrap().push(line.clone());
                    let verb = line.split(' ').next().unwrap_or("").to_ascii_uppercase();
                    let reply: &[u8] = match verb.as_str() {
                        "USER" => b"331 Password\r\n",
                        "PASS" => b"230 Hello\r\n",
                        "FEAT" => b"211-Features:\r\n EPSV\r\n211 End\r\n",
                        "QUIT" => b"221 Bye\r\n",
                        "ABOR" if silent.take().is_some() => b"426 Aborted\r\n226 ABOR done\r\n",
                        "ABOR" => b"226 ABOR done\r\n",
                        "EPSV" => {
                            let l = TcpListener::bind("127.0.0.1:0").await?;
                            let port = l.local_addr()?.port();
                            passive = Some(l);
                            let reply = format!("229 Extended Passive Mode (|||{port}|)\r\n");
                            write.write_all(reply.as_bytes()).await?;
                            continue;
                        }
                        "RETR" => {
                            match script {
                                TlsScript::Silent => silent = passive.take(),
                                TlsScript::RetrPreliminaryAfterHandshake(bytes) => {
                                    let Some(l) = passive.take() else {
                                        write.write_all(b"425 No data connection\r\n").await?;
                                        continue;
                                    };
                                    let (data, _) = l.accept().await?;
                                    let mut data = acceptor.accept(data).await?;
                                    write.write_all(b"150 Here it comes\r\n").await?;
                                    data.write_all(bytes).await?;
                                    data.shutdown().await?;
                                    drop(data);
                                    write.write_all(b"226 Done\r\n").await?;
                                }
                                TlsScript::StorPreliminaryAfterHandshake(_) => {
                                    write.write_all(b"550 No such file\r\n").await?;
                                }
                            }
                            continue;
                        }
                        "STOR" | "APPE" => {
                            let expected = match script {
                                TlsScript::StorPreliminaryAfterHandshake(expected) => expected,
                                TlsScript::Silent => {
                                    silent = passive.take();
                                    continue;
                                }
                                TlsScript::RetrPreliminaryAfterHandshake(_) => {
                                    write.write_all(b"553 Not here\r\n").await?;
                                    continue;
                                }
                            };
                            let Some(l) = passive.take() else {
                                write.write_all(b"425 No data connection\r\n").await?;
                                continue;
                            };
                            let (data, _) = l.accept().await?;
                            let mut data = acceptor.accept(data).await?;
                            write.write_all(b"150 Send it\r\n").await?;
                            // Ok only up to a close_notify: a cut connection is an error.
                            let mut got = Vec::new();
                            let read = data.read_to_end(&mut got).await;
                            log.lock()
                                .unwrap()
                                .push(format!("data: {}", String::from_utf8_lossy(&got)));
                            let _ = data.shutdown().await;
                            drop(data);
                            let reply: &[u8] = if read.is_ok() && got == expected {
                                b"226 Stored\r\n"
                            } else {
                                b"451 Not what was expected\r\n"
                            };
                            write.write_all(reply).await?;
                            continue;
                        }
                        _ => b"200 OK\r\n",
                    };
                    write.write_all(reply).await?;
                }
                Ok::<(), std::io::Error>(())
            });
        }
    });
    (addr, log)
}

/// A client of the scripted FTPS server, logged in, with these timeouts.
async fn scripted_tls_client(
    addr: SocketAddr,
    pki: &TestPki,
    reply: Duration,
    data: Duration,
) -> Client {
    let tls = TlsConfig::new()
        .add_root_pem(pki.ca_pem.as_bytes())
        .unwrap();
    let mut c = Client::builder()
        .reply_timeout(reply)
        .data_timeout(data)
        .tls(tls)
        .connect(addr)
        .await
        .unwrap();
    c.login("u", "p").await.unwrap();
    c
}

/// A server that sends its 150 only once the data connection's TLS handshake is done: the
/// client starts the handshake without the 150 after a short wait (at most half the reply
/// timeout) and the download succeeds.
#[tokio::test]
async fn a_protected_download_whose_150_follows_the_handshake_succeeds() {
    let pki = TestPki::new(&["127.0.0.1"]);
    let (addr, _) = scripted_tls_server(
        &pki,
        TlsScript::RetrPreliminaryAfterHandshake(b"late but fine"),
    )
    .await;
    let mut c =
        scripted_tls_client(addr, &pki, Duration::from_secs(2), Duration::from_secs(5)).await;
    let started = Instant::now();
    let got = timeout(LIMIT, c.download_to_vec("f"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, b"late but fine");
    // The wait for the 150 is half the 2 s reply timeout here, not a fixed 5 s.
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    timeout(LIMIT, c.noop()).await.unwrap().unwrap();
}

/// The same server for uploads: the client's copy may only begin with the 150, which this
/// server sends once the data connection's TLS handshake is done; the client starts the
/// handshake without it (as for a download) and STOR and APPE succeed.
#[tokio::test]
async fn a_protected_upload_whose_150_follows_the_handshake_succeeds() {
    let pki = TestPki::new(&["127.0.0.1"]);
    let (addr, log) = scripted_tls_server(
        &pki,
        TlsScript::StorPreliminaryAfterHandshake(b"late upload"),
    )
    .await;
    let mut c =
        scripted_tls_client(addr, &pki, Duration::from_secs(2), Duration::from_secs(5)).await;
    let started = Instant::now();
    let sent = timeout(LIMIT, c.stor("up.bin", &b"late upload"[..]))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(sent, 11);
    // Half the 2 s reply timeout for the 150, then the handshake, then the copy.
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let started = Instant::now();
    let sent = timeout(LIMIT, c.append("up.bin", &b"late upload"[..]))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(sent, 11);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    timeout(LIMIT, c.noop()).await.unwrap().unwrap();
    let log = log.lock().unwrap().clone();
    let transfers: Vec<&str> = log
        .iter()
        .map(String::as_str)
        .filter(|l| l.starts_with("STOR") || l.starts_with("APPE") || l.starts_with("data"))
        .collect();
    assert_eq!(
        transfers,
        [
            "STOR up.bin",
            "data: late upload",
            "APPE up.bin",
            "data: late upload"
        ],
        "{log:?}"
    );
    assert!(!log.iter().any(|l| l == "ABOR"), "{log:?}");
}

/// A server that never answers RETR nor accepts the (protected) data connection: `retr`
/// fails itself within the reply timeout, with a timeout error, and the session goes on
/// after the abort.
#[tokio::test]
async fn a_protected_download_the_server_never_starts_fails_within_the_reply_timeout() {
    let pki = TestPki::new(&["127.0.0.1"]);
    let (addr, log) = scripted_tls_server(&pki, TlsScript::Silent).await;
    let reply = Duration::from_millis(1000);
    let mut c = scripted_tls_client(addr, &pki, reply, Duration::from_secs(4)).await;
    let started = Instant::now();
    let err = timeout(LIMIT, c.retr("f"))
        .await
        .unwrap()
        .map(|_| ())
        .unwrap_err();
    let took = started.elapsed();
    assert!(matches!(err, Error::Timeout(_)), "{err:?}");
    assert!(err.is_timeout() && !err.is_fatal(), "{err:?}");
    // TYPE and EPSV, then the reply timeout for the start.
    assert!(took >= reply && took < reply * 3, "{took:?}");
    timeout(LIMIT, c.noop()).await.unwrap().unwrap();
    assert!(log.lock().unwrap().iter().any(|l| l == "ABOR"));
}

/// The same for an upload: with PROT P the client starts the data connection's TLS handshake
/// without the 150 (see above), which this server never completes; `stor` still fails itself
/// within the reply timeout, with a timeout error, and the session goes on after the abort.
#[tokio::test]
async fn a_protected_upload_the_server_never_starts_fails_within_the_reply_timeout() {
    let pki = TestPki::new(&["127.0.0.1"]);
    let (addr, log) = scripted_tls_server(&pki, TlsScript::Silent).await;
    let reply = Duration::from_millis(1000);
    let mut c = scripted_tls_client(addr, &pki, reply, Duration::from_secs(4)).await;
    let started = Instant::now();
    let err = timeout(LIMIT, c.stor("f", &b"never sent"[..]))
        .await
        .unwrap()
        .unwrap_err();
    let took = started.elapsed();
    assert!(matches!(err, Error::Timeout(_)), "{err:?}");
    assert!(err.is_timeout() && !err.is_fatal(), "{err:?}");
    // TYPE and EPSV, then the reply timeout for the start.
    assert!(took >= reply && took < reply * 3, "{took:?}");
    timeout(LIMIT, c.noop()).await.unwrap().unwrap();
    assert!(log.lock().unwrap().iter().any(|l| l == "ABOR"));
}
