//! FTPS (RFC 4217) against a scripted rustls client over loopback: the named attacks of the
//! FTPS issue (plaintext injection after AUTH TLS, data connections that do not resume the
//! control session, ALPN cross-protocol, USER before AUTH TLS, strict SNI), certificate
//! reload, implicit TLS, CCC, and transfers over TLS 1.2 and 1.3.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ftp_server_tokio::auth::{Permissions, StaticUsers, UserEntry};
use ftp_server_tokio::ftp_proto::VirtualPath;
use ftp_server_tokio::server::Server;
use ftp_server_tokio::storage::memory::MemoryStorage;
use ftp_server_tokio::tls::{TlsConfig, TlsConfigBuilder};
use rustls::client::Resumption;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

const LIMIT: Duration = Duration::from_secs(10);
const FILE: &[u8] = b"the file's contents, which must only ever travel under TLS\n";

/// A self-signed certificate for `localhost` and `ftp.test`, PEM.
struct Cert {
    cert_pem: String,
    key_pem: String,
    der: CertificateDer<'static>,
}

fn cert() -> Cert {
    let names = vec!["localhost".to_owned(), "ftp.test".to_owned()];
    let c = rcgen::generate_simple_self_signed(names).unwrap();
    Cert {
        cert_pem: c.cert.pem(),
        key_pem: c.signing_key.serialize_pem(),
        der: c.cert.der().clone(),
    }
}

fn users() -> StaticUsers {
    let entry = UserEntry::new("alice", "pw", VirtualPath::root(), Permissions::ALL);
    StaticUsers::new([entry]).unwrap()
}

struct Running {
    addr: SocketAddr,
    implicit: SocketAddr,
    storage: Arc<MemoryStorage>,
}

async fn start(tls: TlsConfig) -> Running {
    let storage = Arc::new(MemoryStorage::new().with_file("/x", FILE));
    let server = Server::with_shared(Arc::clone(&storage), Arc::new(users()))
        .tls(tls)
        .listen("127.0.0.1:0".parse().unwrap())
        .listen_implicit_tls("127.0.0.1:0".parse().unwrap())
        .bind()
        .await
        .unwrap();
    let addr = server.local_addrs()[0];
    let implicit = server.implicit_tls_addrs()[0];
    tokio::spawn(server.run());
    Running {
        addr,
        implicit,
        storage,
    }
}

fn builder(cert: &Cert) -> TlsConfigBuilder {
    TlsConfig::from_pem(cert.cert_pem.as_bytes(), cert.key_pem.as_bytes())
}

/// A client configuration trusting `cert`, ALPN `ftp`, the given versions.
fn client_config(
    cert: &Cert,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> ClientConfig {
    let mut roots = RootCertStore::empty();
    roots.add(cert.der.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"ftp".to_vec()];
    config
}

fn both() -> Vec<&'static rustls::SupportedProtocolVersion> {
    vec![&rustls::version::TLS13, &rustls::version::TLS12]
}

/// A line-oriented FTP control connection over any stream.
struct Control<T> {
    stream: BufReader<T>,
}

impl<T: AsyncRead + AsyncWrite + Unpin> Control<T> {
    fn new(stream: T) -> Self {
        Self {
            stream: BufReader::new(stream),
        }
    }

    async fn reply(&mut self) -> (u16, String) {
        let mut text = String::new();
        loop {
            let mut line = String::new();
            let n = timeout(LIMIT, self.stream.read_line(&mut line))
                .await
                .expect("reply in time")
                .expect("read reply");
            assert!(
                n > 0,
                "connection closed while waiting for a reply; so far {text:?}"
            );
            text.push_str(&line);
            let bytes = line.as_bytes();
            if bytes.len() >= 4 && bytes[3] == b' ' && bytes[..3].iter().all(u8::is_ascii_digit) {
                return (line[..3].parse().unwrap(), text);
            }
        }
    }

    async fn send(&mut self, line: &str) {
        let stream = self.stream.get_mut();
        stream
            .write_all(format!("{line}\r\n").as_bytes())
            .await
            .unwrap();
        stream.flush().await.unwrap();
    }

    async fn cmd(&mut self, line: &str) -> (u16, String) {
        self.send(line).await;
        self.reply().await
    }

    async fn expect(&mut self, line: &str, code: u16) -> String {
        let (got, text) = self.cmd(line).await;
        assert_eq!(got, code, "{line} -> {text}");
        text
    }

    /// The port of an EPSV reply.
    async fn epsv(&mut self) -> u16 {
        let text = self.expect("EPSV", 229).await;
        text.split("|||")
            .nth(1)
            .and_then(|rest| rest.split('|').next())
            .and_then(|p| p.parse().ok())
            .expect("EPSV port")
    }
}

type TlsControl = Control<TlsStream<TcpStream>>;

async fn tls_connect(
    config: Arc<ClientConfig>,
    name: &str,
    tcp: TcpStream,
) -> std::io::Result<TlsStream<TcpStream>> {
    let name = ServerName::try_from(name.to_owned()).unwrap();
    timeout(LIMIT, TlsConnector::from(config).connect(name, tcp))
        .await
        .expect("handshake in time")
}

/// Connects, AUTH TLS, handshake, logs in, PBSZ 0 and PROT P.
async fn explicit_login(addr: SocketAddr, config: &Arc<ClientConfig>) -> TlsControl {
    let mut plain = Control::new(TcpStream::connect(addr).await.unwrap());
    assert_eq!(plain.reply().await.0, 220);
    plain.expect("AUTH TLS", 234).await;
    let tcp = plain.stream.into_inner();
    let tls = tls_connect(Arc::clone(config), "localhost", tcp)
        .await
        .unwrap();
    let mut control = Control::new(tls);
    control.expect("USER alice", 331).await;
    control.expect("PASS pw", 230).await;
    control.expect("PBSZ 0", 200).await;
    control.expect("PROT P", 200).await;
    control.expect("TYPE I", 200).await;
    control
}

/// A protected data connection for `command` (after EPSV), with `data_config` for its
/// handshake: the data bytes, or the handshake error, and the final reply.
async fn transfer(
    control: &mut TlsControl,
    data_config: &Arc<ClientConfig>,
    command: &str,
    upload: Option<&[u8]>,
) -> (Result<Vec<u8>, std::io::Error>, (u16, String)) {
    let port = control.epsv().await;
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let (code, text) = control.cmd(command).await;
    assert!(code == 150 || code == 125, "{command} -> {text}");
    let moved = match tls_connect(Arc::clone(data_config), "localhost", tcp).await {
        Ok(mut data) => {
            let mut bytes = Vec::new();
            let io = async {
                match upload {
                    Some(upload) => {
                        data.write_all(upload).await?;
                        data.shutdown().await?;
                    }
                    None => {
                        data.read_to_end(&mut bytes).await?;
                    }
                }
                std::io::Result::Ok(())
            };
            timeout(LIMIT, io)
                .await
                .expect("data in time")
                .map(|()| bytes)
        }
        Err(err) => Err(err),
    };
    (moved, control.reply().await)
}

#[tokio::test]
async fn plaintext_pipelined_after_auth_tls_is_not_executed() {
    let cert = cert();
    // Login in clear is allowed here, so that an injected command could act if it ran.
    let server = start(builder(&cert).require_for_login(false).build().unwrap()).await;
    let mut plain = Control::new(TcpStream::connect(server.addr).await.unwrap());
    assert_eq!(plain.reply().await.0, 220);
    plain.expect("USER alice", 331).await;
    plain.expect("PASS pw", 230).await;
    // The attack: a command in the same segment as AUTH TLS, in clear text.
    plain
        .stream
        .get_mut()
        .write_all(b"AUTH TLS\r\nDELE x\r\n")
        .await
        .unwrap();
    assert_eq!(plain.reply().await.0, 234);
    let tcp = plain.stream.into_inner();
    let config = Arc::new(client_config(&cert, &both()));
    let tls = tls_connect(config, "localhost", tcp).await.unwrap();
    let mut control = Control::new(tls);
    // The first reply under TLS answers NOOP: nothing answered (or executed) DELE.
    let (code, text) = control.cmd("NOOP").await;
    assert_eq!(code, 200, "{text}");
    assert_eq!(server.storage.read_file("/x").as_deref(), Some(FILE));
    control.expect("QUIT", 221).await;
}

#[tokio::test]
async fn user_before_auth_tls_under_required_is_refused() {
    let cert = cert();
    let server = start(builder(&cert).build().unwrap()).await;
    let mut plain = Control::new(TcpStream::connect(server.addr).await.unwrap());
    assert_eq!(plain.reply().await.0, 220);
    let (code, text) = plain.cmd("USER alice").await;
    assert_eq!(code, 530, "{text}");
    let (code, text) = plain.cmd("PASS pw").await;
    assert_ne!(code, 230, "PASS accepted in clear text: {text}");
    assert!(code >= 500, "{text}");
    let (code, _) = plain.cmd("RETR x").await;
    assert_eq!(code, 530);
    // FEAT announces the way in.
    let feat = plain.expect("FEAT", 211).await;
    for line in ["AUTH TLS", "PBSZ", "PROT"] {
        assert!(feat.contains(line), "{feat}");
    }
}

#[tokio::test]
async fn handshake_offering_only_http_alpn_is_refused() {
    let cert = cert();
    let server = start(builder(&cert).build().unwrap()).await;
    let mut http = client_config(&cert, &both());
    http.alpn_protocols = vec![b"http/1.1".to_vec()];
    let http = Arc::new(http);
    // Explicit: after AUTH TLS.
    let mut plain = Control::new(TcpStream::connect(server.addr).await.unwrap());
    assert_eq!(plain.reply().await.0, 220);
    plain.expect("AUTH TLS", 234).await;
    let err = tls_connect(Arc::clone(&http), "localhost", plain.stream.into_inner())
        .await
        .expect_err("an http/1.1-only handshake must fail");
    assert!(
        err.to_string().contains("NoApplicationProtocol"),
        "refused with no_application_protocol, not: {err}"
    );
    // Implicit: the same.
    let tcp = TcpStream::connect(server.implicit).await.unwrap();
    let err = tls_connect(http, "localhost", tcp)
        .await
        .expect_err("an http/1.1-only handshake must fail");
    assert!(err.to_string().contains("NoApplicationProtocol"), "{err}");
    // ALPN "ftp" is acknowledged.
    let config = Arc::new(client_config(&cert, &both()));
    let tcp = TcpStream::connect(server.implicit).await.unwrap();
    let tls = tls_connect(config, "localhost", tcp).await.unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"ftp"[..]));
}

#[tokio::test]
async fn data_connection_that_does_not_resume_the_control_session_is_refused() {
    for versions in [vec![&rustls::version::TLS13], vec![&rustls::version::TLS12]] {
        let cert = cert();
        let server = start(builder(&cert).build().unwrap()).await;
        let config = Arc::new(client_config(&cert, &versions));
        let mut fresh = client_config(&cert, &versions);
        fresh.resumption = Resumption::disabled();
        let fresh = Arc::new(fresh);
        let mut control = explicit_login(server.addr, &config).await;

        // Download over a data connection with a full handshake: refused, no byte moved.
        let (moved, (code, text)) = transfer(&mut control, &fresh, "RETR x", None).await;
        assert_eq!(code, 522, "{versions:?}: {text}");
        // The reply names the cause (the handshake itself succeeded).
        assert!(text.contains("must resume"), "{versions:?}: {text}");
        if let Ok(bytes) = &moved {
            assert!(
                bytes.is_empty(),
                "{versions:?}: file bytes reached a refused connection"
            );
        }
        // Upload likewise: the target is never written. A new name is not even created, and
        // an existing file is not truncated: STOR opens its file only after the data
        // connection passed the checks.
        let (_, (code, text)) = transfer(&mut control, &fresh, "STOR up", Some(FILE)).await;
        assert_eq!(code, 522, "{versions:?}: {text}");
        assert_eq!(
            server.storage.read_file("/up"),
            None,
            "{versions:?}: a refused upload created its target"
        );
        let (_, (code, text)) = transfer(&mut control, &fresh, "STOR x", Some(b"other")).await;
        assert_eq!(code, 522, "{versions:?}: {text}");
        assert_eq!(
            server.storage.read_file("/x").as_deref(),
            Some(FILE),
            "{versions:?}: a refused upload changed the existing file"
        );

        // The same session over a resuming data connection works, twice (the ticket or
        // session id of the control connection stays usable).
        for _ in 0..2 {
            let (moved, (code, text)) = transfer(&mut control, &config, "RETR x", None).await;
            assert_eq!(code, 226, "{versions:?}: {text}");
            assert_eq!(moved.unwrap(), FILE, "{versions:?}");
        }
        let body = FILE.repeat(1000);
        let (_, (code, text)) = transfer(&mut control, &config, "STOR up", Some(&body)).await;
        assert_eq!(code, 226, "{versions:?}: {text}");
        assert_eq!(
            server.storage.read_file("/up").unwrap(),
            body,
            "{versions:?}"
        );
        control.expect("QUIT", 221).await;
    }
}

#[tokio::test]
async fn another_control_connections_session_is_not_accepted_for_data() {
    for versions in [vec![&rustls::version::TLS13], vec![&rustls::version::TLS12]] {
        let cert = cert();
        let server = start(builder(&cert).build().unwrap()).await;
        // Two control connections with separate session caches; the first one's data
        // connection is made with the second one's cache, so it offers the second control
        // connection's session (a ticket or a session id) - which the counter proves.
        let own = Arc::new(client_config(&cert, &versions));
        let offered = Arc::new(OfferCounter::default());
        let mut other = client_config(&cert, &versions);
        other.resumption = Resumption::store(offered.clone());
        let other = Arc::new(other);
        let mut first = explicit_login(server.addr, &own).await;
        let mut second = explicit_login(server.addr, &other).await;
        second.expect("NOOP", 200).await;
        let before = offered.offers();
        let port = first.epsv().await;
        let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        assert_eq!(first.cmd("RETR x").await.0 / 100, 1);
        let moved = match tls_connect(Arc::clone(&other), "localhost", tcp).await {
            Ok(mut data) => {
                let mut bytes = Vec::new();
                let _ = timeout(LIMIT, data.read_to_end(&mut bytes)).await;
                bytes
            }
            Err(_) => Vec::new(),
        };
        assert_eq!(
            offered.offers(),
            before + 1,
            "{versions:?}: the data handshake offered the other control connection's session"
        );
        let (code, text) = first.reply().await;
        assert!(moved.is_empty(), "{versions:?}: file bytes moved");
        assert_eq!(code, 522, "{versions:?}: {text}");
    }
}

/// A client session cache that counts the sessions it hands out for resumption.
#[derive(Debug, Default)]
struct OfferCounter {
    inner: OfferInner,
    offers: std::sync::atomic::AtomicUsize,
}

#[derive(Debug)]
struct OfferInner(rustls::client::ClientSessionMemoryCache);

impl Default for OfferInner {
    fn default() -> Self {
        Self(rustls::client::ClientSessionMemoryCache::new(64))
    }
}

impl OfferCounter {
    fn offers(&self) -> usize {
        self.offers.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn count<T>(&self, found: Option<T>) -> Option<T> {
        if found.is_some() {
            self.offers
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        found
    }
}

impl rustls::client::ClientSessionStore for OfferCounter {
    fn set_kx_hint(&self, name: ServerName<'static>, group: rustls::NamedGroup) {
        self.inner.0.set_kx_hint(name, group);
    }
    fn kx_hint(&self, name: &ServerName<'_>) -> Option<rustls::NamedGroup> {
        self.inner.0.kx_hint(name)
    }
    fn set_tls12_session(
        &self,
        name: ServerName<'static>,
        value: rustls::client::Tls12ClientSessionValue,
    ) {
        self.inner.0.set_tls12_session(name, value);
    }
    fn tls12_session(
        &self,
        name: &ServerName<'_>,
    ) -> Option<rustls::client::Tls12ClientSessionValue> {
        self.count(self.inner.0.tls12_session(name))
    }
    fn remove_tls12_session(&self, name: &ServerName<'static>) {
        self.inner.0.remove_tls12_session(name);
    }
    fn insert_tls13_ticket(
        &self,
        name: ServerName<'static>,
        value: rustls::client::Tls13ClientSessionValue,
    ) {
        self.inner.0.insert_tls13_ticket(name, value);
    }
    fn take_tls13_ticket(
        &self,
        name: &ServerName<'static>,
    ) -> Option<rustls::client::Tls13ClientSessionValue> {
        self.count(self.inner.0.take_tls13_ticket(name))
    }
}

#[tokio::test]
async fn strict_sni_refuses_other_names_and_no_name() {
    let cert = cert();
    let server = start(builder(&cert).strict_sni(["ftp.test"]).build().unwrap()).await;
    let config = Arc::new(client_config(&cert, &both()));
    let tcp = TcpStream::connect(server.implicit).await.unwrap();
    assert!(
        tls_connect(Arc::clone(&config), "localhost", tcp)
            .await
            .is_err()
    );
    let mut no_sni = client_config(&cert, &both());
    no_sni.enable_sni = false;
    let tcp = TcpStream::connect(server.implicit).await.unwrap();
    assert!(
        tls_connect(Arc::new(no_sni), "ftp.test", tcp)
            .await
            .is_err()
    );
    let tcp = TcpStream::connect(server.implicit).await.unwrap();
    let tls = tls_connect(config, "FTP.test", tcp).await.unwrap();
    let mut control = Control::new(tls);
    assert_eq!(control.reply().await.0, 220);
}

#[tokio::test]
async fn reloaded_certificate_is_served_to_new_connections() {
    let dir = tempfile::tempdir().unwrap();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let first = cert();
    std::fs::write(&cert_path, &first.cert_pem).unwrap();
    std::fs::write(&key_path, &first.key_pem).unwrap();
    let tls = TlsConfig::from_pem_files(&cert_path, &key_path)
        .build()
        .unwrap();
    let server = start(tls.clone()).await;
    let served = |config: ClientConfig| async move {
        let tcp = TcpStream::connect(server.implicit).await.unwrap();
        let tls = tls_connect(Arc::new(config), "localhost", tcp).await?;
        let chain = tls.get_ref().1.peer_certificates().unwrap_or_default();
        std::io::Result::Ok(chain.first().cloned())
    };
    assert_eq!(
        served(client_config(&first, &both())).await.unwrap(),
        Some(first.der.clone())
    );

    let second = cert();
    std::fs::write(&cert_path, &second.cert_pem).unwrap();
    std::fs::write(&key_path, &second.key_pem).unwrap();
    tls.reload().unwrap();
    assert_eq!(
        served(client_config(&second, &both())).await.unwrap(),
        Some(second.der.clone())
    );
    // The old certificate is no longer served: a client trusting only it fails.
    assert!(served(client_config(&first, &both())).await.is_err());

    // A broken key file: reload fails and the current certificate stays.
    std::fs::write(&key_path, "not a key").unwrap();
    assert!(tls.reload().is_err());
    assert_eq!(
        served(client_config(&second, &both())).await.unwrap(),
        Some(second.der)
    );
}

#[tokio::test]
async fn implicit_tls_greets_over_tls_and_lists() {
    let cert = cert();
    let server = start(builder(&cert).build().unwrap()).await;
    let config = Arc::new(client_config(&cert, &both()));
    let tcp = TcpStream::connect(server.implicit).await.unwrap();
    let tls = tls_connect(Arc::clone(&config), "localhost", tcp)
        .await
        .unwrap();
    let mut control = Control::new(tls);
    assert_eq!(control.reply().await.0, 220);
    let (code, _) = control.cmd("AUTH TLS").await;
    assert_eq!(code, 503, "already TLS");
    control.expect("USER alice", 331).await;
    control.expect("PASS pw", 230).await;
    control.expect("PBSZ 0", 200).await;
    // Data must be protected: PROT C is refused.
    assert_eq!(control.cmd("PROT C").await.0, 534);
    control.expect("PROT P", 200).await;
    let (listing, (code, text)) = transfer(&mut control, &config, "NLST", None).await;
    assert_eq!(code, 226, "{text}");
    assert_eq!(listing.unwrap(), b"x\r\n");
}

#[tokio::test]
async fn ccc_is_refused_by_default_and_returns_to_clear_text_when_allowed() {
    let cert = cert();
    let config = Arc::new(client_config(&cert, &both()));
    let server = start(builder(&cert).build().unwrap()).await;
    let mut control = explicit_login(server.addr, &config).await;
    assert_eq!(control.cmd("CCC").await.0, 534);
    control.expect("NOOP", 200).await;

    let server = start(builder(&cert).allow_ccc(true).build().unwrap()).await;
    let mut control = explicit_login(server.addr, &config).await;
    control.expect("CCC", 200).await;
    // The client's half of the TLS close, then clear text on the same socket.
    let mut tls = control.stream.into_inner();
    tls.get_mut().1.send_close_notify();
    tls.flush().await.unwrap();
    let mut rest = Vec::new();
    timeout(LIMIT, tls.read_to_end(&mut rest))
        .await
        .unwrap()
        .unwrap();
    assert!(rest.is_empty(), "no data after CCC's reply: {rest:?}");
    let (tcp, _) = tls.into_inner();
    let mut plain = Control::new(tcp);
    plain.expect("NOOP", 200).await;
    // Data stays protected (PROT P is still in force).
    let text = plain.expect("STAT", 211).await;
    assert!(text.contains("plain text"), "{text}");
}

/// A server with the default TLS policy, a logged-in protected session, and the protected
/// data connection of `STOR name` (answered 1yz).
async fn protected_upload(name: &str) -> (Running, TlsControl, TlsStream<TcpStream>) {
    let cert = cert();
    let server = start(builder(&cert).build().unwrap()).await;
    let config = Arc::new(client_config(&cert, &both()));
    let mut control = explicit_login(server.addr, &config).await;
    let port = control.epsv().await;
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    assert_eq!(control.cmd(&format!("STOR {name}")).await.0 / 100, 1);
    let data = tls_connect(config, "localhost", tcp).await.unwrap();
    (server, control, data)
}

#[tokio::test]
async fn upload_ending_with_a_bare_tcp_close_is_accepted() {
    let (server, mut control, mut data) = protected_upload("bare").await;
    let body = FILE.repeat(500);
    data.write_all(&body).await.unwrap();
    data.flush().await.unwrap();
    // No close_notify: the TCP connection just ends (what many clients do).
    let (mut tcp, _) = data.into_inner();
    tcp.shutdown().await.unwrap();
    let (code, text) = control.reply().await;
    assert_eq!(code, 226, "{text}");
    assert_eq!(server.storage.read_file("/bare").unwrap(), body);
}

#[tokio::test]
async fn upload_cut_inside_a_tls_record_is_426_not_226() {
    let (server, mut control, data) = protected_upload("cut").await;
    // The body encrypted by hand (three full records and a short one), sent but for the
    // last 100 octets, then a FIN: what an attacker on the path, or a crash, leaves.
    let (mut tcp, mut tls) = data.into_inner();
    let body = FILE.repeat(1000);
    assert!(body.len() > 3 * 16384, "{}", body.len());
    tls.set_buffer_limit(None);
    std::io::Write::write_all(&mut tls.writer(), &body).unwrap();
    let mut wire = Vec::new();
    while tls.wants_write() {
        tls.write_tls(&mut wire).unwrap();
    }
    tcp.write_all(&wire[..wire.len() - 100]).await.unwrap();
    tcp.shutdown().await.unwrap();
    let (code, text) = control.reply().await;
    assert_eq!(code, 426, "{text}");
    // A named user keeps what arrived, for REST; it is short of the body.
    let kept = server.storage.read_file("/cut").unwrap_or_default();
    assert!(kept.len() < body.len(), "{} of {}", kept.len(), body.len());
    // The session goes on.
    control.expect("NOOP", 200).await;
}

#[tokio::test]
async fn silent_handshakes_are_timed_out() {
    let cert = cert();
    let tls = builder(&cert)
        .handshake_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let server = start(tls).await;
    // Implicit: a connection that never sends a ClientHello is closed.
    let mut silent = TcpStream::connect(server.implicit).await.unwrap();
    let mut rest = Vec::new();
    let read = timeout(Duration::from_secs(5), silent.read_to_end(&mut rest)).await;
    assert!(read.is_ok(), "not closed after the handshake timeout");
    assert!(rest.is_empty(), "nothing is sent in clear: {rest:?}");
    // Explicit: AUTH TLS, then silence.
    let mut plain = Control::new(TcpStream::connect(server.addr).await.unwrap());
    assert_eq!(plain.reply().await.0, 220);
    plain.expect("AUTH TLS", 234).await;
    let mut rest = Vec::new();
    let read = timeout(Duration::from_secs(5), plain.stream.read_to_end(&mut rest)).await;
    assert!(read.is_ok(), "not closed after the handshake timeout");
}
