//! FTPS (RFC 4217) on rustls: the TLS settings a caller gives ([`TlsConfig`]), the per-client
//! state built from them (one `rustls::ClientConfig` with its own session store, so that data
//! connections resume the control connection's session), and the stream type that is either
//! plain TCP or TLS over TCP.
//!
//! This module owns no protocol decisions: the sans-IO session says when to upgrade (after a
//! 234 to AUTH TLS) and whether a data connection is protected (PROT P in force).

use std::fmt;
use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use ftp_proto::Timestamp;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{
    ClientSessionMemoryCache, ClientSessionStore, Resumption, Tls12ClientSessionValue,
    Tls13ClientSessionValue, WebPkiServerVerifier, verify_server_name,
};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, DistinguishedName, InvalidMessage,
    NamedGroup, RootCertStore, SignatureScheme,
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::Error;
use crate::error::TlsProblem;

/// The ALPN protocol id the client offers on every TLS connection (IANA's registry: "ftp"),
/// which lets a server refuse cross-protocol connections (ALPACA). A server that ignores
/// ALPN is still accepted; one that selects another protocol is refused by rustls.
///
/// ```
/// assert_eq!(ftp_client_tokio::ALPN_FTP, b"ftp");
/// ```
pub const ALPN_FTP: &[u8] = b"ftp";

/// How many TLS sessions (per server name: up to 8 TLS 1.3 tickets and one TLS 1.2 session)
/// one client keeps for resumption.
const SESSION_CACHE: usize = 8;

/// Where Unix systems keep the bundle of trusted root certificates (Debian/Ubuntu,
/// Fedora/RHEL, openSUSE, Alpine, macOS with OpenSSL from Homebrew).
const SYSTEM_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
    "/usr/local/etc/openssl/cert.pem",
];

/// Which TLS versions the client accepts.
///
/// ```
/// use ftp_client_tokio::{TlsConfig, TlsVersions};
/// assert_eq!(TlsVersions::default(), TlsVersions::Both);
/// let only_12 = TlsConfig::new().versions(TlsVersions::Tls12Only);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TlsVersions {
    /// TLS 1.2 and TLS 1.3 (the default; the server picks, normally 1.3).
    #[default]
    Both,
    /// TLS 1.2 only.
    Tls12Only,
    /// TLS 1.3 only.
    Tls13Only,
}

/// TLS settings for FTPS: which servers to trust, the name to verify, the protocol versions.
///
/// Secure by default: the server's certificate must chain to one of the roots added here
/// (none are added implicitly: call [`TlsConfig::with_system_roots`] or add your own with
/// [`TlsConfig::add_root_pem`] / [`TlsConfig::add_root_pem_file`] /
/// [`TlsConfig::add_root_der`]) and name the host given to `connect` (or
/// [`TlsConfig::server_name`]). The client offers ALPN `ftp` and sends SNI for host names.
/// Data connections are protected (PBSZ 0, PROT P) unless [`TlsConfig::protect_data`] turns
/// it off.
///
/// A certificate added with `add_root_*` is also accepted as the server's own certificate when
/// the server presents exactly it, byte for byte, even if it is marked as a CA certificate
/// (as the self-signed certificates `openssl req -x509` makes are): giving a self-signed
/// server's certificate is how to trust that server. Its names and validity period are still
/// checked. The system's roots ([`TlsConfig::with_system_roots`]) only ever act as issuers.
///
/// Give it to [`crate::ClientBuilder::tls`] (explicit FTPS: `AUTH TLS` right after the
/// greeting, required), [`crate::ClientBuilder::implicit_tls`] (TLS from the first byte,
/// usually port 990) or [`crate::Client::auth_tls`].
///
/// ```
/// use ftp_client_tokio::{TlsConfig, TlsVersions};
/// // A test certificate, made on the spot; in real use, read your CA's PEM file.
/// let ca = rcgen::generate_simple_self_signed(vec!["ftp.example.net".into()]).unwrap();
/// let config = TlsConfig::new()
///     .add_root_pem(ca.cert.pem().as_bytes())
///     .unwrap()
///     .versions(TlsVersions::Tls13Only);
/// assert_eq!(config.root_count(), 1);
/// ```
#[derive(Clone)]
pub struct TlsConfig {
    roots: RootCertStore,
    /// The certificates the caller added itself (not the system's), which a server may also
    /// present as its own.
    given: Vec<CertificateDer<'static>>,
    insecure: bool,
    server_name: Option<ServerName<'static>>,
    versions: TlsVersions,
    protect_data: bool,
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field("roots", &self.roots.len())
            .field("given", &self.given.len())
            .field("insecure", &self.insecure)
            .field("server_name", &self.server_name)
            .field("versions", &self.versions)
            .field("protect_data", &self.protect_data)
            .finish()
    }
}

impl Default for TlsConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl TlsConfig {
    /// Verifying settings with no trusted roots yet (add some, or every server is refused).
    pub fn new() -> Self {
        Self {
            roots: RootCertStore::empty(),
            given: Vec::new(),
            insecure: false,
            server_name: None,
            versions: TlsVersions::Both,
            protect_data: true,
        }
    }

    /// Adds the system's trusted roots: the PEM bundle named by `SSL_CERT_FILE`, or else the
    /// first of the usual bundle files that exists (`/etc/ssl/certs/ca-certificates.crt` and
    /// others). Fails when there is none.
    ///
    /// ```no_run
    /// # fn run() -> Result<(), ftp_client_tokio::Error> {
    /// let config = ftp_client_tokio::TlsConfig::new().with_system_roots()?;
    /// # Ok(()) }
    /// ```
    pub fn with_system_roots(self) -> Result<Self, Error> {
        let from_env = std::env::var_os("SSL_CERT_FILE").map(std::path::PathBuf::from);
        let path = match from_env {
            Some(path) => path,
            None => SYSTEM_BUNDLES
                .iter()
                .map(Path::new)
                .find(|p| p.is_file())
                .map(Path::to_path_buf)
                .ok_or_else(|| {
                    Error::TlsConfig(
                        "no system certificate bundle found (set SSL_CERT_FILE)".into(),
                    )
                })?,
        };
        self.add_issuer_bundle(&path)
    }

    /// Trusts the certificates in the PEM bundle at `path` as issuers only (never as a
    /// server's own certificate): what [`TlsConfig::with_system_roots`] reads.
    fn add_issuer_bundle(mut self, path: &Path) -> Result<Self, Error> {
        // A bundle may hold certificates webpki does not accept (old or unusual ones): those
        // are skipped, as other TLS stacks do, rather than failing the whole bundle.
        let pem = std::fs::read(path).map_err(|e| Error::Local {
            path: path.display().to_string(),
            source: e,
        })?;
        let certs = CertificateDer::pem_slice_iter(&pem).filter_map(Result::ok);
        let (added, _skipped) = self.roots.add_parsable_certificates(certs);
        if added == 0 {
            return Err(Error::TlsConfig(format!(
                "{}: no usable certificate",
                path.display()
            )));
        }
        Ok(self)
    }

    /// Trusts every certificate in the PEM text `pem` (as issuers, and each as a server's own
    /// certificate); fails when it holds none or one does not parse.
    pub fn add_root_pem(mut self, pem: &[u8]) -> Result<Self, Error> {
        let mut added = 0;
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| Error::TlsConfig(format!("PEM certificate: {e}")))?;
            self = self.add_given(cert)?;
            added += 1;
        }
        if added == 0 {
            return Err(Error::TlsConfig("no certificate in the PEM text".into()));
        }
        Ok(self)
    }

    /// Trusts every certificate in the PEM file at `path`.
    pub fn add_root_pem_file(self, path: &Path) -> Result<Self, Error> {
        let pem = std::fs::read(path).map_err(|e| Error::Local {
            path: path.display().to_string(),
            source: e,
        })?;
        self.add_root_pem(&pem).map_err(|e| match e {
            Error::TlsConfig(why) => Error::TlsConfig(format!("{}: {why}", path.display())),
            other => other,
        })
    }

    /// Trusts one DER-encoded certificate (as an issuer, and as a server's own certificate).
    pub fn add_root_der(self, der: &[u8]) -> Result<Self, Error> {
        self.add_given(CertificateDer::from(der.to_vec()))
    }

    /// Trusts `cert`, which the caller gave: as a root, and as a server's own certificate.
    fn add_given(mut self, cert: CertificateDer<'static>) -> Result<Self, Error> {
        self.roots
            .add(cert.clone())
            .map_err(|e| Error::TlsConfig(format!("root certificate: {e}")))?;
        self.given.push(cert);
        Ok(self)
    }

    /// How many trusted roots were added.
    pub fn root_count(&self) -> usize {
        self.roots.len()
    }

    /// **Dangerous**: accepts any certificate for any name (self-signed test servers). The
    /// connection is still encrypted, but anyone in the middle can read and change it. Its
    /// signatures are still checked, so the handshake itself stays well-formed.
    pub fn danger_accept_invalid_certs(mut self) -> Self {
        self.insecure = true;
        self
    }

    /// The name to send as SNI and to verify the certificate against, instead of the host
    /// given to `connect` (for example when connecting by IP address to a server whose
    /// certificate names a host). A name that is an IP address is verified against the
    /// certificate's IP addresses and sent without SNI.
    pub fn server_name(mut self, name: &str) -> Result<Self, Error> {
        let name = ServerName::try_from(name.to_owned())
            .map_err(|e| Error::TlsConfig(format!("server name {name:?}: {e}")))?;
        self.server_name = Some(name);
        Ok(self)
    }

    /// Which TLS versions to accept (both 1.2 and 1.3 by default).
    pub fn versions(mut self, versions: TlsVersions) -> Self {
        self.versions = versions;
        self
    }

    /// Whether to protect data connections too (`PBSZ 0`, `PROT P`; the default). When
    /// false, only the control connection is encrypted: file contents and listings travel in
    /// clear.
    pub fn protect_data(mut self, protect: bool) -> Self {
        self.protect_data = protect;
        self
    }

    /// Builds the per-client TLS state: a fresh `ClientConfig` with its own session store
    /// (so every data connection can resume this client's control session, and no other
    /// client's), and the name to verify.
    pub(crate) fn start(&self, host: Option<&str>, peer: std::net::IpAddr) -> Result<Tls, Error> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let versions: &[&'static rustls::SupportedProtocolVersion] = match self.versions {
            TlsVersions::Both => &[&rustls::version::TLS13, &rustls::version::TLS12],
            TlsVersions::Tls12Only => &[&rustls::version::TLS12],
            TlsVersions::Tls13Only => &[&rustls::version::TLS13],
        };
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(versions)
            .map_err(|e| Error::TlsConfig(e.to_string()))?;
        let mut config = match self.verifier(&provider)? {
            Some(verifier) => builder
                .dangerous()
                .with_custom_certificate_verifier(verifier)
                .with_no_client_auth(),
            // No roots at all: rustls's own webpki verifier, which refuses every server.
            None => builder
                .with_root_certificates(self.roots.clone())
                .with_no_client_auth(),
        };
        config.alpn_protocols = vec![ALPN_FTP.to_vec()];
        let store = Arc::new(CountingStore::new());
        config.resumption = Resumption::store(store.clone());
        let name = match (&self.server_name, host) {
            (Some(name), _) => name.clone(),
            (None, Some(host)) => ServerName::try_from(host.to_owned())
                .map_err(|e| Error::TlsConfig(format!("server name {host:?}: {e}")))?,
            (None, None) => ServerName::IpAddress(peer.into()),
        };
        Ok(Tls {
            connector: TlsConnector::from(Arc::new(config)),
            name,
            protect_data: self.protect_data,
            stats: TlsInfo::default(),
            store,
        })
    }

    /// The certificate verifier these settings call for: anything when insecure, webpki over
    /// the roots, and [`GivenCertVerifier`] around it when the caller gave certificates of its
    /// own. `None` when there are no roots (webpki's builder refuses an empty store).
    fn verifier(
        &self,
        provider: &Arc<CryptoProvider>,
    ) -> Result<Option<Arc<dyn ServerCertVerifier>>, Error> {
        if self.insecure {
            return Ok(Some(Arc::new(AcceptAnyCert(provider.clone()))));
        }
        if self.roots.is_empty() {
            return Ok(None);
        }
        let webpki = WebPkiServerVerifier::builder_with_provider(
            Arc::new(self.roots.clone()),
            provider.clone(),
        )
        .build()
        .map_err(|e| Error::TlsConfig(e.to_string()))?;
        if self.given.is_empty() {
            return Ok(Some(webpki));
        }
        Ok(Some(Arc::new(GivenCertVerifier {
            webpki,
            given: self.given.clone(),
        })))
    }
}

/// A connected client's TLS state: the connector every connection of this client uses (one
/// session store) and the name they all verify and resume under.
#[derive(Clone)]
pub(crate) struct Tls {
    pub(crate) connector: TlsConnector,
    pub(crate) name: ServerName<'static>,
    pub(crate) protect_data: bool,
    pub(crate) stats: TlsInfo,
    pub(crate) store: Arc<CountingStore>,
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tls")
            .field("name", &self.name)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Tls {
    /// The control connection runs TLS 1.3 and at most one ticket is left to resume with:
    /// the next protected data connection should be one the server sends fresh tickets on
    /// (a listing or a download), or the one after it cannot resume. See [`CountingStore`].
    pub(crate) fn needs_tickets(&self) -> bool {
        self.is_tls13() && self.store.tls13_tickets() <= 1
    }

    /// The control connection runs TLS 1.3.
    pub(crate) fn is_tls13(&self) -> bool {
        self.stats.version.as_deref() == Some("TLSv1_3")
    }

    /// Runs the client handshake on `tcp`.
    pub(crate) async fn handshake(&self, tcp: TcpStream) -> io::Result<Stream> {
        let stream = self.connector.connect(self.name.clone(), tcp).await?;
        Ok(Stream::Tls(Box::new(stream)))
    }
}

/// What the client knows about its TLS connections ([`crate::Client::tls_info`]).
///
/// ```no_run
/// # async fn run(client: &mut ftp_client_tokio::Client) -> Result<(), ftp_client_tokio::Error> {
/// if let Some(info) = client.tls_info() {
///     println!(
///         "{:?}, ALPN {:?}: {} data connections resumed, {} full handshakes",
///         info.version, info.alpn, info.data_resumed, info.data_full
///     );
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsInfo {
    /// The control connection's TLS version (`"TLSv1_3"`, `"TLSv1_2"`).
    pub version: Option<String>,
    /// The ALPN protocol the server selected (`Some(b"ftp")`, or `None` when it ignored
    /// ALPN).
    pub alpn: Option<Vec<u8>>,
    /// Data connections whose handshake resumed an earlier session.
    pub data_resumed: u64,
    /// Data connections that needed a full handshake.
    pub data_full: u64,
}

impl TlsInfo {
    pub(crate) fn record_control(&mut self, stream: &Stream) {
        if let Stream::Tls(tls) = stream {
            let conn = tls.get_ref().1;
            self.version = conn.protocol_version().map(|v| format!("{v:?}"));
            self.alpn = conn.alpn_protocol().map(<[u8]>::to_vec);
        }
    }

    pub(crate) fn record_data(&mut self, stream: &Stream) {
        if let Stream::Tls(tls) = stream {
            match tls.get_ref().1.handshake_kind() {
                Some(rustls::HandshakeKind::Resumed) => self.data_resumed += 1,
                _ => self.data_full += 1,
            }
        }
    }
}

/// The verifier of [`TlsConfig::danger_accept_invalid_certs`]: any certificate, any name;
/// the handshake signatures are still verified with the provider's algorithms.
#[derive(Debug)]
struct AcceptAnyCert(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The verifier of a [`TlsConfig`] with certificates the caller added itself: webpki's, and
/// where webpki refuses a server certificate only because it is marked as a CA certificate
/// (basicConstraints cA=TRUE, what `openssl req -x509` puts in self-signed certificates), it
/// is accepted all the same when it is byte for byte one of those given certificates, and
/// names the server. Giving a self-signed certificate is how a user says "this server";
/// curl's `--cacert` and lftp's `ssl:ca-file` accept it so too. A certificate that only
/// chains to a system root never gets this: those are not in `given`.
///
/// The validity period is checked too: webpki checks the end entity's validity before its
/// basic constraints, so when the refusal is for the CA mark, the dates were fine (the tests
/// with an expired certificate hold webpki to that order). Handshake signatures are webpki's
/// own business, as for every other certificate.
#[derive(Debug)]
struct GivenCertVerifier {
    webpki: Arc<WebPkiServerVerifier>,
    given: Vec<CertificateDer<'static>>,
}

impl ServerCertVerifier for GivenCertVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let refusal = match self.webpki.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Ok(verified) => return Ok(verified),
            Err(refusal) => refusal,
        };
        let given = self.given.iter().any(|c| c.as_ref() == end_entity.as_ref());
        if !given || !is_ca_used_as_end_entity(&refusal) {
            return Err(refusal);
        }
        verify_server_name(&ParsedCertificate::try_from(end_entity)?, server_name)?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }

    fn root_hint_subjects(&self) -> Option<&[DistinguishedName]> {
        self.webpki.root_hint_subjects()
    }
}

/// webpki refused a CA certificate (basicConstraints cA=TRUE) as the server's own. rustls
/// passes this refusal on untyped (`CertificateError::Other` around webpki's error, whose
/// text is its variant's name) and webpki is not a direct dependency, so it is recognised by
/// that name. Should the text ever change, this fails closed: such certificates are refused
/// again, as before, and the tests say so.
fn is_ca_used_as_end_entity(error: &rustls::Error) -> bool {
    matches!(
        error,
        rustls::Error::InvalidCertificate(CertificateError::Other(other))
            if other.to_string() == "CaUsedAsEndEntity"
    )
}

/// The common cause of a failed handshake, read from the rustls error inside `error` (how
/// tokio-rustls reports them); `None` for any other error.
pub(crate) fn problem(error: &io::Error) -> Option<TlsProblem> {
    let error = error.get_ref()?.downcast_ref::<rustls::Error>()?;
    let at = |time: &UnixTime| {
        i64::try_from(time.as_secs())
            .ok()
            .and_then(Timestamp::from_unix)
    };
    match error {
        rustls::Error::InvalidCertificate(cert) => match cert {
            // Not `BadSignature`: rustls reports a bad handshake signature (a server without
            // the certificate's key) in the same words as a bad signature on the certificate.
            CertificateError::UnknownIssuer => Some(TlsProblem::UntrustedCertificate),
            CertificateError::Expired => Some(TlsProblem::Expired { not_after: None }),
            CertificateError::ExpiredContext { not_after, .. } => Some(TlsProblem::Expired {
                not_after: at(not_after),
            }),
            CertificateError::NotValidYet => Some(TlsProblem::NotYetValid { not_before: None }),
            CertificateError::NotValidYetContext { not_before, .. } => {
                Some(TlsProblem::NotYetValid {
                    not_before: at(not_before),
                })
            }
            _ if is_ca_used_as_end_entity(error) => Some(TlsProblem::UntrustedCaCertificate),
            _ => None,
        },
        rustls::Error::InvalidMessage(InvalidMessage::InvalidContentType) => {
            Some(TlsProblem::NotTls)
        }
        _ => None,
    }
}

/// A control or data connection: plain TCP, or TLS over TCP.
#[derive(Debug)]
pub(crate) enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
    /// Between taking the TCP stream out for a handshake and putting the TLS stream back;
    /// any I/O on it fails.
    Upgrading,
}

impl Stream {
    pub(crate) fn is_tls(&self) -> bool {
        matches!(self, Self::Tls(_))
    }

    fn upgrading() -> io::Error {
        io::Error::new(
            io::ErrorKind::NotConnected,
            "TLS handshake did not complete",
        )
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Self::Tls(s) => match Pin::new(s).poll_read(cx, buf) {
                // The peer closed TCP without close_notify. FTP marks the end of a download
                // by closing the data connection, and many servers skip close_notify there;
                // the server's final reply on the (protected) control connection decides
                // whether the transfer was complete. So this reads as an ordinary end.
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    Poll::Ready(Ok(()))
                }
                other => other,
            },
            Self::Upgrading => Poll::Ready(Err(Self::upgrading())),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Self::Tls(s) => Pin::new(s).poll_write(cx, buf),
            Self::Upgrading => Poll::Ready(Err(Self::upgrading())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_flush(cx),
            Self::Tls(s) => Pin::new(s).poll_flush(cx),
            Self::Upgrading => Poll::Ready(Err(Self::upgrading())),
        }
    }

    /// For TLS: sends close_notify, then shuts TCP's sending side.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Self::Tls(s) => Pin::new(s).poll_shutdown(cx),
            Self::Upgrading => Poll::Ready(Err(Self::upgrading())),
        }
    }
}

/// TLS 1.3 tickets rustls keeps per server at most (its `ClientSessionMemoryCache`).
const MAX_TLS13_TICKETS: usize = 8;

/// The client's session store: rustls's in-memory cache, counting the TLS 1.3 tickets it holds.
///
/// A rustls client uses each TLS 1.3 ticket once (RFC 8446 section C.4), and a server that
/// requires data connections to resume the control session refuses one that cannot. Servers
/// send fresh tickets on every data connection, except on uploads where some do not (ours:
/// a client that never reads its upload connection, like lftp, would otherwise lose the end of
/// the upload to a reset). Knowing how many tickets are left lets the client refill the store
/// with a one-line listing before it runs dry ([`Tls::needs_tickets`]).
#[derive(Debug)]
pub(crate) struct CountingStore {
    inner: ClientSessionMemoryCache,
    tls13: AtomicUsize,
}

impl CountingStore {
    fn new() -> Self {
        Self {
            inner: ClientSessionMemoryCache::new(SESSION_CACHE),
            tls13: AtomicUsize::new(0),
        }
    }

    /// TLS 1.3 tickets held (one client talks to one server name, so this is per server).
    pub(crate) fn tls13_tickets(&self) -> usize {
        self.tls13.load(Ordering::Relaxed)
    }
}

impl ClientSessionStore for CountingStore {
    fn set_kx_hint(&self, server_name: ServerName<'static>, group: NamedGroup) {
        self.inner.set_kx_hint(server_name, group);
    }

    fn kx_hint(&self, server_name: &ServerName<'_>) -> Option<NamedGroup> {
        self.inner.kx_hint(server_name)
    }

    fn set_tls12_session(&self, server_name: ServerName<'static>, value: Tls12ClientSessionValue) {
        self.inner.set_tls12_session(server_name, value);
    }

    fn tls12_session(&self, server_name: &ServerName<'_>) -> Option<Tls12ClientSessionValue> {
        self.inner.tls12_session(server_name)
    }

    fn remove_tls12_session(&self, server_name: &ServerName<'static>) {
        self.inner.remove_tls12_session(server_name);
    }

    fn insert_tls13_ticket(
        &self,
        server_name: ServerName<'static>,
        value: Tls13ClientSessionValue,
    ) {
        self.inner.insert_tls13_ticket(server_name, value);
        let _ = self
            .tls13
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                Some((n + 1).min(MAX_TLS13_TICKETS))
            });
    }

    fn take_tls13_ticket(
        &self,
        server_name: &ServerName<'static>,
    ) -> Option<Tls13ClientSessionValue> {
        let ticket = self.inner.take_tls13_ticket(server_name);
        if ticket.is_some() {
            let _ = self
                .tls13
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                    Some(n.saturating_sub(1))
                });
        }
        ticket
    }
}

#[cfg(test)]
mod tests {
    //! The verifier's decisions without a handshake: which certificates a server may present
    //! as its own, for which names and dates, and what a refusal says.

    use super::*;

    /// A self-signed certificate for `127.0.0.1` and `localhost` marked as a CA, as
    /// `openssl req -x509` makes them, valid from 1 January `from` to 1 January `until`.
    fn self_signed_ca(from: i32, until: i32) -> rcgen::Certificate {
        let names = vec!["127.0.0.1".to_owned(), "localhost".to_owned()];
        let mut params = rcgen::CertificateParams::new(names).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "localhost");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.not_before = rcgen::date_time_ymd(from, 1, 1);
        params.not_after = rcgen::date_time_ymd(until, 1, 1);
        params
            .self_signed(&rcgen::KeyPair::generate().unwrap())
            .unwrap()
    }

    /// What `config`'s verifier says of a server presenting `cert` alone, reached as `name`.
    fn verify(
        config: &TlsConfig,
        cert: &rcgen::Certificate,
        name: &str,
    ) -> Result<(), rustls::Error> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = config.verifier(&provider).unwrap().expect("some roots");
        let name = ServerName::try_from(name.to_owned()).unwrap();
        verifier
            .verify_server_cert(cert.der(), &[], &name, &[], UnixTime::now())
            .map(|_| ())
    }

    /// The client error a refusal becomes (tokio-rustls wraps it in an `io::Error`).
    fn as_client_error(refusal: rustls::Error) -> Error {
        Error::Tls(io::Error::new(io::ErrorKind::InvalidData, refusal))
    }

    fn given(cert: &rcgen::Certificate) -> TlsConfig {
        TlsConfig::new()
            .add_root_pem(cert.pem().as_bytes())
            .unwrap()
    }

    #[test]
    fn a_given_self_signed_ca_certificate_is_the_servers_own_for_its_names() {
        let cert = self_signed_ca(2020, 2100);
        let der = TlsConfig::new().add_root_der(cert.der()).unwrap();
        for config in [given(&cert), der] {
            verify(&config, &cert, "localhost").unwrap();
            verify(&config, &cert, "127.0.0.1").unwrap();
            let refusal = verify(&config, &cert, "ftp.example.net").unwrap_err();
            assert!(
                matches!(
                    refusal,
                    rustls::Error::InvalidCertificate(
                        CertificateError::NotValidForNameContext { .. }
                    )
                ),
                "{refusal:?}"
            );
            assert!(
                as_client_error(refusal)
                    .to_string()
                    .contains("not valid for name \"ftp.example.net\"")
            );
        }
    }

    #[test]
    fn a_ca_certificate_not_given_itself_is_refused() {
        let cert = self_signed_ca(2020, 2100);
        // Another certificate of the same kind given, and the same one trusted only as an
        // issuer from a bundle, as the system's roots are.
        let bundle = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(bundle.path(), cert.pem()).unwrap();
        let issuer_only = TlsConfig::new().add_issuer_bundle(bundle.path()).unwrap();
        for config in [given(&self_signed_ca(2020, 2100)), issuer_only] {
            let refusal = verify(&config, &cert, "localhost").unwrap_err();
            assert!(is_ca_used_as_end_entity(&refusal), "{refusal:?}");
            let err = as_client_error(refusal);
            assert_eq!(err.tls_problem(), Some(TlsProblem::UntrustedCaCertificate));
            assert_eq!(
                err.to_string(),
                "TLS: the server's certificate is not trusted (it is marked as a CA certificate, \
                 as self-signed ones often are): add that certificate itself to the trusted roots"
            );
        }
    }

    #[test]
    fn a_given_certificate_out_of_its_dates_is_refused() {
        let expired = self_signed_ca(2000, 2001);
        let refusal = verify(&given(&expired), &expired, "localhost").unwrap_err();
        let err = as_client_error(refusal);
        let not_after = Timestamp::from_unix(978_307_200);
        assert_eq!(err.tls_problem(), Some(TlsProblem::Expired { not_after }));
        assert_eq!(
            err.to_string(),
            "TLS: the server's certificate has expired (valid until 2001-01-01 00:00:00 UTC)"
        );

        let early = self_signed_ca(2090, 2100);
        let refusal = verify(&given(&early), &early, "localhost").unwrap_err();
        let err = as_client_error(refusal);
        assert!(
            matches!(
                err.tls_problem(),
                Some(TlsProblem::NotYetValid { not_before: Some(t) }) if t.year() == 2090
            ),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "TLS: the server's certificate is not valid yet (valid from 2090-01-01 00:00:00 UTC)"
        );
    }

    #[test]
    fn an_unknown_issuer_reads_as_untrusted() {
        // A self-signed certificate that is not a CA (and has another name than the given
        // one: under the same name, webpki would check its signature against the given key).
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let config = given(&self_signed_ca(2020, 2100));
        let refusal = verify(&config, &cert.cert, "localhost").unwrap_err();
        assert_eq!(
            refusal,
            rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)
        );
        let err = as_client_error(refusal);
        assert_eq!(err.tls_problem(), Some(TlsProblem::UntrustedCertificate));
        assert_eq!(
            err.to_string(),
            "TLS: the server's certificate is not trusted (self-signed or unknown issuer): add \
             its CA certificate to the trusted roots"
        );
    }

    #[test]
    fn insecure_still_accepts_anything() {
        let cert = self_signed_ca(2000, 2001);
        let config = given(&self_signed_ca(2020, 2100)).danger_accept_invalid_certs();
        verify(&config, &cert, "ftp.example.net").unwrap();
    }

    #[test]
    fn plain_text_where_tls_was_due_reads_as_not_tls() {
        let err = as_client_error(rustls::Error::InvalidMessage(
            InvalidMessage::InvalidContentType,
        ));
        assert_eq!(err.tls_problem(), Some(TlsProblem::NotTls));
        assert_eq!(
            err.to_string(),
            "TLS: the server did not answer with TLS (what it sent is not a TLS record)"
        );
        // Other failures keep rustls's words.
        let other = io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out");
        assert_eq!(
            Error::Tls(other).to_string(),
            "TLS: TLS handshake timed out"
        );
    }
}
