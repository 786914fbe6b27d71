//! Our client against our server over FTPS (RFC 4217), both on rustls: explicit (AUTH TLS) and
//! implicit TLS, TLS 1.2 and TLS 1.3, passive and active mode. The server runs with its secure
//! defaults (TLS required for login and data, data connections must resume the control
//! session), so every transfer that succeeds here is also proof that the client resumed; the
//! client's own counters say so too. Effects are checked on disk, byte for byte.

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use ftp_client_tokio::ftp_proto::VirtualPath;
use ftp_client_tokio::ftp_proto::client::SessionError;
use ftp_client_tokio::{Client, Error, TlsConfig, TlsProblem, TlsVersions};
use ftp_server_tokio::auth::{Permissions, StaticUsers, UserEntry};
use ftp_server_tokio::server::Server;
use ftp_server_tokio::storage::fs::FsStorage;
use ftp_server_tokio::tls::TlsConfig as ServerTls;
use support::foreign::TestPki;
use support::random_bytes;
use tokio::io::AsyncReadExt;
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(60);

/// Our server over `root` with alice, TLS with its defaults (optionally one version only), a
/// plain listener and an implicit-TLS listener. Returns (explicit, implicit) addresses.
async fn serve_tls(root: &Path, pki: &TestPki, versions: TlsVersions) -> (SocketAddr, SocketAddr) {
    let users = StaticUsers::new([UserEntry::new(
        "alice",
        "secret",
        VirtualPath::root(),
        Permissions::ALL,
    )])
    .unwrap();
    let storage = FsStorage::open(root).unwrap();
    let tls = ServerTls::from_pem(pki.cert_pem.as_bytes(), pki.key_pem.as_bytes())
        .tls12(versions != TlsVersions::Tls13Only)
        .tls13(versions != TlsVersions::Tls12Only)
        .build()
        .unwrap();
    let bound = Server::new(storage, users)
        .listen("127.0.0.1:0".parse().unwrap())
        .listen_implicit_tls("127.0.0.1:0".parse().unwrap())
        .tls(tls)
        .bind()
        .await
        .unwrap();
    let explicit = bound.local_addrs()[0];
    let implicit = bound.implicit_tls_addrs()[0];
    tokio::spawn(bound.run());
    (explicit, implicit)
}

fn client_tls(pki: &TestPki, versions: TlsVersions) -> TlsConfig {
    TlsConfig::new()
        .add_root_pem(pki.ca_pem.as_bytes())
        .unwrap()
        .versions(versions)
}

/// Login, listing, uploads and downloads (compared on disk and byte for byte), an empty file,
/// and `rounds` extra round trips so that resumption is exercised on many data connections.
async fn exercise(client: &mut Client, root: &Path, tag: &str, rounds: usize) -> u64 {
    client.login("alice", "secret").await.unwrap();
    let bytes = random_bytes(5 * 1024 * 1024 + 123, tag.len() as u64);
    let name = format!("{tag}.bin");
    client.stor(&name, &bytes[..]).await.unwrap();
    assert_eq!(
        std::fs::read(root.join(&name)).unwrap(),
        bytes,
        "{tag}: upload on disk"
    );
    client
        .stor(&format!("{tag}-empty"), &b""[..])
        .await
        .unwrap();
    assert_eq!(
        std::fs::metadata(root.join(format!("{tag}-empty")))
            .unwrap()
            .len(),
        0
    );

    let entries = client.list("/").await.unwrap();
    let entry = entries
        .iter()
        .find(|e| e.name == name.as_bytes())
        .unwrap_or_else(|| panic!("{tag}: {name} not listed in {entries:?}"));
    assert_eq!(entry.size, bytes.len() as u64);

    let mut back = Vec::new();
    client
        .retr(&name)
        .await
        .unwrap()
        .read_to_end(&mut back)
        .await
        .unwrap();
    assert!(back == bytes, "{tag}: download differs");

    for round in 0..rounds {
        let small = random_bytes(10_000 + round, round as u64 + 99);
        let path = format!("{tag}-{round}.bin");
        client.stor(&path, &small[..]).await.unwrap();
        let mut got = Vec::new();
        client
            .retr(&path)
            .await
            .unwrap()
            .read_to_end(&mut got)
            .await
            .unwrap();
        assert!(got == small, "{tag}: round {round} differs");
    }
    // 2 uploads + 1 listing + 1 download + 2 per round.
    4 + 2 * rounds as u64
}

#[tokio::test]
async fn explicit_tls_both_versions_passive_and_active() {
    let pki = TestPki::new(&["127.0.0.1", "localhost"]);
    for versions in [TlsVersions::Tls12Only, TlsVersions::Tls13Only] {
        let dir = tempfile::tempdir().unwrap();
        let (addr, _) = serve_tls(dir.path(), &pki, versions).await;
        for passive in [true, false] {
            let tag = format!("{versions:?}-{}", if passive { "pasv" } else { "port" });
            let mut client = timeout(
                LIMIT,
                Client::builder()
                    .passive(passive)
                    .tls(client_tls(&pki, versions))
                    .connect(addr),
            )
            .await
            .unwrap()
            .unwrap();
            assert!(client.is_tls());
            let transfers = timeout(LIMIT, exercise(&mut client, dir.path(), &tag, 6))
                .await
                .unwrap();
            let info = client.tls_info().unwrap().clone();
            let want = match versions {
                TlsVersions::Tls12Only => "TLSv1_2",
                _ => "TLSv1_3",
            };
            assert_eq!(info.version.as_deref(), Some(want), "{tag}");
            assert_eq!(info.alpn.as_deref(), Some(&b"ftp"[..]), "{tag}: ALPN");
            assert_eq!(info.data_full, 0, "{tag}: every data connection resumed");
            assert_eq!(info.data_resumed, transfers, "{tag}");
            client.quit().await.unwrap();
        }
    }
}

#[tokio::test]
async fn implicit_tls_listener() {
    let pki = TestPki::new(&["127.0.0.1", "localhost"]);
    let dir = tempfile::tempdir().unwrap();
    let (_, implicit) = serve_tls(dir.path(), &pki, TlsVersions::Both).await;
    let mut client = timeout(
        LIMIT,
        Client::builder()
            .implicit_tls(client_tls(&pki, TlsVersions::Both))
            .connect(implicit),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(client.welcome().code().get(), 220);
    let transfers = timeout(LIMIT, exercise(&mut client, dir.path(), "implicit", 2))
        .await
        .unwrap();
    let info = client.tls_info().unwrap();
    assert_eq!(info.version.as_deref(), Some("TLSv1_3"));
    assert_eq!((info.data_resumed, info.data_full), (transfers, 0));
    client.quit().await.unwrap();
}

#[tokio::test]
async fn plain_client_gets_530_from_a_tls_required_server_and_never_logs_in() {
    let pki = TestPki::new(&["127.0.0.1", "localhost"]);
    let dir = tempfile::tempdir().unwrap();
    let (addr, _) = serve_tls(dir.path(), &pki, TlsVersions::Both).await;
    let mut client = Client::connect(addr).await.unwrap();
    let err = client.login("alice", "secret").await.unwrap_err();
    assert_eq!(err.code().map(|c| c.get()), Some(530), "{err}");
    // Upgrading afterwards works, and then the login does.
    client
        .auth_tls(&client_tls(&pki, TlsVersions::Both))
        .await
        .unwrap();
    client.login("alice", "secret").await.unwrap();
    client.quit().await.unwrap();
}

#[tokio::test]
async fn a_certificate_for_another_name_is_refused() {
    let pki = TestPki::new(&["ftp.example.net"]);
    let dir = tempfile::tempdir().unwrap();
    let (addr, _) = serve_tls(dir.path(), &pki, TlsVersions::Both).await;
    let err = Client::builder()
        .tls(client_tls(&pki, TlsVersions::Both))
        .connect(addr)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Tls(_)), "{err:?}");
    // Naming the host the certificate is for makes it acceptable.
    let tls = client_tls(&pki, TlsVersions::Both)
        .server_name("ftp.example.net")
        .unwrap();
    let mut client = Client::builder().tls(tls).connect(addr).await.unwrap();
    client.login("alice", "secret").await.unwrap();
    client.quit().await.unwrap();
}

/// A self-signed server certificate marked as a CA, as `openssl req -x509` makes them: when
/// the client was given that very certificate, it is accepted for the names it holds, on
/// the explicit and the implicit port, for the control and the data connections; it is
/// refused for another name, and when it was not given.
#[tokio::test]
async fn a_self_signed_ca_certificate_given_as_the_root_is_accepted_for_its_names() {
    let pki = TestPki::self_signed_ca(&["127.0.0.1", "localhost"]);
    let dir = tempfile::tempdir().unwrap();
    let (explicit, implicit) = serve_tls(dir.path(), &pki, TlsVersions::Both).await;
    let given = || client_tls(&pki, TlsVersions::Both);
    for (tag, builder, addr) in [
        ("explicit", Client::builder().tls(given()), explicit),
        (
            "explicit-localhost",
            Client::builder().tls(given().server_name("localhost").unwrap()),
            explicit,
        ),
        (
            "implicit",
            Client::builder().implicit_tls(given()),
            implicit,
        ),
    ] {
        let mut client = timeout(LIMIT, builder.connect(addr))
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("{tag}: {e}"));
        client.login("alice", "secret").await.unwrap();
        let bytes = random_bytes(100_000, 7);
        let name = format!("{tag}.bin");
        client.stor(&name, &bytes[..]).await.unwrap();
        assert!(
            client.download_to_vec(&name).await.unwrap() == bytes,
            "{tag}"
        );
        client.quit().await.unwrap();
    }

    // Another name than the certificate's.
    let err = Client::builder()
        .tls(given().server_name("ftp.example.net").unwrap())
        .connect(explicit)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Tls(_)), "{err:?}");
    assert!(
        err.to_string()
            .contains("not valid for name \"ftp.example.net\""),
        "{err}"
    );

    // Not given: another CA instead.
    let other = TestPki::new(&["127.0.0.1"]);
    let err = Client::builder()
        .tls(client_tls(&other, TlsVersions::Both))
        .connect(explicit)
        .await
        .unwrap_err();
    assert_eq!(
        err.tls_problem(),
        Some(TlsProblem::UntrustedCaCertificate),
        "{err:?}"
    );
    assert!(err.to_string().contains("not trusted"), "{err}");
}

/// The two wrong-port mistakes say what they are. Implicit TLS on the explicit port: the
/// server greets in clear, which is not TLS. Explicit TLS (or plain FTP) on the implicit
/// port: the server waits for a handshake and never greets, until the reply timeout or the
/// server's own handshake limit closes the connection.
#[tokio::test]
async fn the_wrong_kind_of_port_says_so() {
    let pki = TestPki::new(&["127.0.0.1", "localhost"]);
    let dir = tempfile::tempdir().unwrap();
    let (explicit, implicit) = serve_tls(dir.path(), &pki, TlsVersions::Both).await;

    let err = timeout(
        LIMIT,
        Client::builder()
            .implicit_tls(client_tls(&pki, TlsVersions::Both))
            .connect(explicit),
    )
    .await
    .unwrap()
    .unwrap_err();
    assert_eq!(err.tls_problem(), Some(TlsProblem::NotTls), "{err:?}");
    assert_eq!(
        err.to_string(),
        "TLS: the server did not answer with TLS (what it sent is not a TLS record)"
    );

    let err = timeout(
        LIMIT,
        Client::builder()
            .reply_timeout(Duration::from_millis(500))
            .tls(client_tls(&pki, TlsVersions::Both))
            .connect(implicit),
    )
    .await
    .unwrap()
    .unwrap_err();
    assert!(
        matches!(
            err,
            Error::NoGreeting {
                error: SessionError::Timeout,
                in_clear: true
            }
        ),
        "{err:?}"
    );
    assert!(err.is_timeout() && err.is_fatal());
    assert_eq!(
        err.to_string(),
        "no greeting from the server within the timeout: is this an implicit-TLS port?"
    );

    // A server that closes before any greeting, as ours does when its handshake limit passes.
    let closing = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = closing.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = closing.accept().await {
            drop(tcp);
        }
    });
    for builder in [
        Client::builder().tls(client_tls(&pki, TlsVersions::Both)),
        Client::builder(),
    ] {
        let err = timeout(LIMIT, builder.connect(addr))
            .await
            .unwrap()
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::NoGreeting {
                    error: SessionError::ConnectionClosed,
                    in_clear: true
                }
            ),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "the server closed the connection before its greeting: is this an implicit-TLS port?"
        );
    }
}

/// Uploads get no TLS 1.3 tickets from our server (a client that does not read them would lose
/// the end of its upload), so twenty uploads in a row live on the control connection's tickets.
#[tokio::test]
async fn twenty_uploads_in_a_row_all_resume_with_tls13() {
    let pki = TestPki::new(&["127.0.0.1", "localhost"]);
    let dir = tempfile::tempdir().unwrap();
    let (addr, _) = serve_tls(dir.path(), &pki, TlsVersions::Tls13Only).await;
    let mut client = Client::builder()
        .tls(client_tls(&pki, TlsVersions::Tls13Only))
        .connect(addr)
        .await
        .unwrap();
    client.login("alice", "secret").await.unwrap();
    for i in 0..20 {
        let bytes = random_bytes(1000 + i, i as u64);
        timeout(LIMIT, client.stor(&format!("up{i}"), &bytes[..]))
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("upload {i}: {e}"));
        assert_eq!(
            std::fs::read(dir.path().join(format!("up{i}"))).unwrap(),
            bytes
        );
    }
    let info = client.tls_info().unwrap();
    assert_eq!(info.data_full, 0, "{info:?}");
    assert!(info.data_resumed >= 20, "{info:?}");
    client.quit().await.unwrap();
}
