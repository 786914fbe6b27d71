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
