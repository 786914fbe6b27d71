//! FTPS (RFC 4217): the TLS settings of a server and the per-connection TLS state.
//!
//! Owns [`TlsConfig`] (certificate and key, protocol versions, ALPN, SNI, the FTPS policy),
//! certificate reload, and the session stores that bind every data connection to the TLS
//! session of its own control connection. It does no I/O on sockets: the control and data
//! tasks run the handshakes with what this module hands them. The protocol decisions (when to
//! upgrade, PBSZ/PROT/CCC) stay in [`ftp_proto::server::Session`].
//!
//! Secure defaults: TLS 1.2 and 1.3 only (rustls offers nothing older), ALPN `ftp` (a client
//! that offers only other protocols is refused during the handshake: the ALPACA mitigation),
//! TLS required for login and for data, CCC refused, and data connections must resume the
//! TLS session of their control connection (like vsftpd's `require_ssl_reuse`).
//!
//! ```
//! use ftp_server_tokio::tls::TlsConfig;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])?;
//! # let (cert_pem, key_pem) = (cert.cert.pem(), cert.signing_key.serialize_pem());
//! let tls = TlsConfig::from_pem(cert_pem.as_bytes(), key_pem.as_bytes()).build()?;
//! let policy = tls.policy();
//! assert!(policy.require_for_login && policy.require_for_data && !policy.allow_ccc);
//! assert!(tls.requires_session_reuse());
//! # Ok(())
//! # }
//! ```

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use ftp_proto::server::TlsPolicy;
use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert, StoresServerSessions};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// The ALPN protocol id of FTP (IANA registry), the only one the server accepts.
pub const ALPN_FTP: &[u8] = b"ftp";
/// Default limit for a TLS handshake (control and data connections).
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// PEM files larger than this are refused (a certificate chain is a few kilobytes).
const MAX_PEM_BYTES: u64 = 1 << 20;
/// TLS sessions one control connection keeps from its own handshakes, and from its data
/// connections' handshakes (each kind separately: data connections never evict the control
/// connection's sessions, which most clients offer on every data connection).
const SESSIONS_PER_CONNECTION: usize = 16;
/// Sessions a data connection's handshake may add (TLS 1.3 sends two tickets).
const SESSIONS_PER_DATA_CONNECTION: usize = 4;
/// TLS 1.3 tickets sent on a control connection. Clients that use each ticket once (rustls
/// keeps up to 8 per server) can then open this many data connections that get no ticket of
/// their own (uploads, see [`ConnectionTls::data`]).
const CONTROL_TICKETS: usize = 8;

/// Why a TLS configuration could not be built or reloaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A PEM file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// A PEM file is larger than a certificate chain or key can be.
    #[error("{path} is too large for a PEM file")]
    TooLarge {
        /// The file.
        path: PathBuf,
    },
    /// The certificate PEM holds no usable certificate.
    #[error("no certificate found in {what}")]
    NoCertificate {
        /// The file, or "the certificate PEM".
        what: String,
    },
    /// The key PEM holds no usable private key.
    #[error("no private key found in {what}")]
    NoPrivateKey {
        /// The file, or "the key PEM".
        what: String,
    },
    /// A PEM section could not be decoded.
    #[error("invalid PEM in {what}: {reason}")]
    Pem {
        /// The file, or which in-memory PEM.
        what: String,
        /// What was wrong.
        reason: String,
    },
    /// rustls refused the certificate, the key, or their combination (e.g. a key that does
    /// not belong to the certificate, an unsupported key type).
    #[error("unusable certificate or key: {0}")]
    Rustls(#[from] rustls::Error),
    /// Neither TLS 1.2 nor TLS 1.3 is enabled.
    #[error("no TLS protocol version enabled")]
    NoVersion,
    /// [`TlsConfig::reload`] on a configuration that was not built from files.
    #[error("the certificate was not loaded from files; nothing to reload")]
    NotFromFiles,
}

/// Where the certificate chain and key come from.
#[derive(Clone)]
enum Source {
    Files { cert: PathBuf, key: PathBuf },
    Pem { cert: Vec<u8>, key: Vec<u8> },
    Der(Vec<CertificateDer<'static>>, Arc<PrivateKeyDer<'static>>),
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print key material.
        match self {
            Self::Files { cert, key } => f
                .debug_struct("Files")
                .field("cert", cert)
                .field("key", key)
                .finish(),
            Self::Pem { .. } => f.write_str("Pem(..)"),
            Self::Der(chain, _) => write!(f, "Der({} certificate(s), ..)", chain.len()),
        }
    }
}

/// Builds a [`TlsConfig`]; every setting starts at its secure default.
///
/// ```
/// use std::time::Duration;
/// use ftp_server_tokio::tls::TlsConfig;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let cert = rcgen::generate_simple_self_signed(vec!["ftp.example.com".to_owned()])?;
/// # std::fs::write(dir.path().join("cert.pem"), cert.cert.pem())?;
/// # std::fs::write(dir.path().join("key.pem"), cert.signing_key.serialize_pem())?;
/// # let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
/// let tls = TlsConfig::from_pem_files(&cert_path, &key_path)
///     .tls12(false) // TLS 1.3 only
///     .strict_sni(["ftp.example.com"])
///     .require_for_login(true)
///     .require_for_data(true)
///     .handshake_timeout(Duration::from_secs(5))
///     .build()?;
/// assert!(tls.policy().require_for_data);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct TlsConfigBuilder {
    source: Source,
    tls12: bool,
    tls13: bool,
    sni: Vec<String>,
    require_for_login: bool,
    require_for_data: bool,
    allow_ccc: bool,
    session_reuse: bool,
    handshake_timeout: Duration,
}

impl TlsConfigBuilder {
    fn new(source: Source) -> Self {
        Self {
            source,
            tls12: true,
            tls13: true,
            sni: Vec::new(),
            require_for_login: true,
            require_for_data: true,
            allow_ccc: false,
            session_reuse: true,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
        }
    }

    /// Offer TLS 1.2. Default: on.
    pub fn tls12(mut self, on: bool) -> Self {
        self.tls12 = on;
        self
    }

    /// Offer TLS 1.3. Default: on.
    pub fn tls13(mut self, on: bool) -> Self {
        self.tls13 = on;
        self
    }

    /// Strict SNI: refuse every handshake whose server name indication is absent or not one
    /// of `names` (compared without regard to case). Default: off (any name, or none).
    pub fn strict_sni<I, N>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = N>,
        N: Into<String>,
    {
        self.sni = names
            .into_iter()
            .map(|n| n.into().to_ascii_lowercase())
            .collect();
        self
    }

    /// USER and PASS are refused (530) until AUTH TLS. Default: on.
    pub fn require_for_login(mut self, on: bool) -> Self {
        self.require_for_login = on;
        self
    }

    /// Transfers are refused unless PROT P is in force (PROT C gets 534, refused by policy,
    /// and so does a transfer under it). Default: on.
    pub fn require_for_data(mut self, on: bool) -> Self {
        self.require_for_data = on;
        self
    }

    /// Allow CCC (back to clear text on the control connection) after login. Default: off.
    pub fn allow_ccc(mut self, on: bool) -> Self {
        self.allow_ccc = on;
        self
    }

    /// A protected data connection must resume the TLS session of its own control
    /// connection, which proves it comes from the same client; one that does not is refused
    /// (522) before any file byte moves. Default: on. Turn it off only for clients that
    /// cannot resume sessions (e.g. Python's stock `ftplib.FTP_TLS`).
    pub fn require_session_reuse(mut self, on: bool) -> Self {
        self.session_reuse = on;
        self
    }

    /// Longest a TLS handshake (control or data) may take. Default
    /// [`DEFAULT_HANDSHAKE_TIMEOUT`].
    pub fn handshake_timeout(mut self, limit: Duration) -> Self {
        self.handshake_timeout = limit;
        self
    }

    /// Loads the certificate and key and checks that they belong together.
    ///
    /// # Errors
    ///
    /// [`TlsError`]: an unreadable or invalid PEM file, no certificate or no key, a key that
    /// does not match the certificate, or no protocol version enabled.
    pub fn build(self) -> Result<TlsConfig, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut versions: Vec<&'static rustls::SupportedProtocolVersion> = Vec::new();
        if self.tls13 {
            versions.push(&rustls::version::TLS13);
        }
        if self.tls12 {
            versions.push(&rustls::version::TLS12);
        }
        if versions.is_empty() {
            return Err(TlsError::NoVersion);
        }
        let key = load(&self.source, &provider)?;
        let resolver = Arc::new(CertResolver {
            current: RwLock::new(Arc::new(key)),
            sni: self.sni,
        });
        let mut config = ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_protocol_versions(&versions)?
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(&resolver) as Arc<dyn ResolvesServerCert>);
        config.alpn_protocols = vec![ALPN_FTP.to_vec()];
        config.send_tls13_tickets = CONTROL_TICKETS;
        // Stateful resumption only (no ticketer): every session lives in a store, and each
        // control connection gets a store of its own (see `ConnectionTls`).
        config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
        let mut policy = TlsPolicy::required();
        policy.require_for_login = self.require_for_login;
        policy.require_for_data = self.require_for_data;
        policy.allow_ccc = self.allow_ccc;
        Ok(TlsConfig {
            inner: Arc::new(Inner {
                base: Arc::new(config),
                resolver,
                source: self.source,
                provider,
                policy,
                session_reuse: self.session_reuse,
                handshake_timeout: self.handshake_timeout,
            }),
        })
    }
}

/// A server's TLS settings: certificate, versions, ALPN, SNI and the FTPS policy. Cheap to
/// clone (clones share the certificate, so [`TlsConfig::reload`] on one is seen by all).
///
/// Give it to [`crate::server::Server::tls`]; see the [module docs](self) for the defaults.
///
/// ```
/// use ftp_server_tokio::tls::TlsConfig;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])?;
/// # let (chain, key) = (vec![cert.cert.der().clone()], cert.signing_key.serialize_der());
/// // For embedders holding DER already (e.g. from a secret store):
/// let tls = TlsConfig::from_der(chain, key.try_into()?)
///     .require_session_reuse(false)
///     .build()?;
/// assert!(!tls.requires_session_reuse());
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct TlsConfig {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// The shared rustls configuration; connections clone it with a store of their own.
    base: Arc<ServerConfig>,
    resolver: Arc<CertResolver>,
    source: Source,
    provider: Arc<CryptoProvider>,
    policy: TlsPolicy,
    session_reuse: bool,
    handshake_timeout: Duration,
}

impl TlsConfig {
    /// A builder for a certificate chain and private key read from PEM files (the chain: the
    /// server's certificate first, then intermediates; the key: PKCS#8, PKCS#1 or SEC1).
    /// [`TlsConfig::reload`] reads the same files again.
    pub fn from_pem_files(cert: impl AsRef<Path>, key: impl AsRef<Path>) -> TlsConfigBuilder {
        TlsConfigBuilder::new(Source::Files {
            cert: cert.as_ref().to_owned(),
            key: key.as_ref().to_owned(),
        })
    }

    /// A builder for a certificate chain and key given as PEM text in memory.
    pub fn from_pem(cert: &[u8], key: &[u8]) -> TlsConfigBuilder {
        TlsConfigBuilder::new(Source::Pem {
            cert: cert.to_vec(),
            key: key.to_vec(),
        })
    }

    /// A builder for a certificate chain and key in DER form.
    pub fn from_der(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> TlsConfigBuilder {
        TlsConfigBuilder::new(Source::Der(chain, Arc::new(key)))
    }

    /// Reads the PEM files again and serves the new certificate to every handshake from now
    /// on (running connections keep theirs). On error the old certificate stays in use.
    ///
    /// ```
    /// use ftp_server_tokio::tls::TlsConfig;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    /// # let write = |name: &str| -> Result<(), Box<dyn std::error::Error>> {
    /// #     let c = rcgen::generate_simple_self_signed(vec![name.to_owned()])?;
    /// #     std::fs::write(&cert_path, c.cert.pem())?;
    /// #     std::fs::write(&key_path, c.signing_key.serialize_pem())?;
    /// #     Ok(())
    /// # };
    /// # write("old.example")?;
    /// let tls = TlsConfig::from_pem_files(&cert_path, &key_path).build()?;
    /// let before = tls.certificate_chain();
    /// // ... the files are renewed (e.g. by an ACME client) ...
    /// # write("new.example")?;
    /// tls.reload()?;
    /// assert_ne!(tls.certificate_chain(), before);
    /// // A broken file is refused and the current certificate stays.
    /// std::fs::write(&key_path, "garbage")?;
    /// assert!(tls.reload().is_err());
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`TlsError::NotFromFiles`] when built from memory (use [`TlsConfig::set_certificate`]),
    /// else what [`TlsConfigBuilder::build`] reports for bad files.
    pub fn reload(&self) -> Result<(), TlsError> {
        if !matches!(self.inner.source, Source::Files { .. }) {
            return Err(TlsError::NotFromFiles);
        }
        let key = load(&self.inner.source, &self.inner.provider)?;
        self.inner.resolver.replace(key);
        Ok(())
    }

    /// Serves `chain` and `key` to every handshake from now on (for embedders that renew
    /// certificates themselves). On error the old certificate stays in use.
    ///
    /// ```
    /// use ftp_server_tokio::tls::TlsConfig;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let pair = |name: &str| -> Result<_, Box<dyn std::error::Error>> {
    /// #     let c = rcgen::generate_simple_self_signed(vec![name.to_owned()])?;
    /// #     Ok((vec![c.cert.der().clone()], c.signing_key.serialize_der().try_into()?))
    /// # };
    /// let (chain, key) = pair("old.example")?;
    /// let tls = TlsConfig::from_der(chain, key).build()?;
    /// let (renewed, renewed_key) = pair("new.example")?;
    /// tls.set_certificate(renewed.clone(), renewed_key)?;
    /// assert_eq!(tls.certificate_chain(), renewed);
    /// // An empty chain is refused; the renewed certificate stays.
    /// let (_, other_key) = pair("x.example")?;
    /// assert!(tls.set_certificate(Vec::new(), other_key).is_err());
    /// assert_eq!(tls.certificate_chain(), renewed);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`TlsError`]: an empty chain, an unusable key or a key that does not match.
    pub fn set_certificate(
        &self,
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Result<(), TlsError> {
        let key = certified(chain, key, "the certificate chain", &self.inner.provider)?;
        self.inner.resolver.replace(key);
        Ok(())
    }

    /// The certificate chain served now (the server's certificate first).
    pub fn certificate_chain(&self) -> Vec<CertificateDer<'static>> {
        self.inner.resolver.current().cert.clone()
    }

    /// The FTPS policy for the session core ([`ftp_proto::server::Config::tls`]).
    pub fn policy(&self) -> TlsPolicy {
        self.inner.policy.clone()
    }

    /// Whether data connections must resume their control connection's TLS session.
    pub fn requires_session_reuse(&self) -> bool {
        self.inner.session_reuse
    }

    /// The handshake time limit.
    pub fn handshake_timeout(&self) -> Duration {
        self.inner.handshake_timeout
    }

    /// TLS state for one new control connection: a rustls configuration with a session
    /// store of its own.
    pub(crate) fn connection(&self) -> ConnectionTls {
        let store = Arc::new(SessionStore::default());
        let mut config = ServerConfig::clone(&self.inner.base);
        config.session_storage = Arc::clone(&store) as Arc<dyn StoresServerSessions>;
        ConnectionTls {
            control: Arc::new(config),
            store,
            require_reuse: self.inner.session_reuse,
            handshake_timeout: self.inner.handshake_timeout,
        }
    }
}

/// Reads and checks the certificate and key of `source`.
fn load(source: &Source, provider: &CryptoProvider) -> Result<CertifiedKey, TlsError> {
    match source {
        Source::Files { cert, key } => {
            let cert_pem = read_pem(cert)?;
            let key_pem = read_pem(key)?;
            let what = |p: &Path| p.display().to_string();
            let chain = parse_chain(&cert_pem, &what(cert))?;
            let key_der = parse_key(&key_pem, &what(key))?;
            certified(chain, key_der, &what(cert), provider)
        }
        Source::Pem { cert, key } => {
            let chain = parse_chain(cert, "the certificate PEM")?;
            let key_der = parse_key(key, "the key PEM")?;
            certified(chain, key_der, "the certificate PEM", provider)
        }
        Source::Der(chain, key) => certified(
            chain.clone(),
            key.clone_key(),
            "the certificate chain",
            provider,
        ),
    }
}

fn read_pem(path: &Path) -> Result<Vec<u8>, TlsError> {
    use std::io::Read;
    let read = |source| TlsError::Read {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read)?;
    let mut bytes = Vec::new();
    file.take(MAX_PEM_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read)?;
    if bytes.len() as u64 > MAX_PEM_BYTES {
        return Err(TlsError::TooLarge {
            path: path.to_owned(),
        });
    }
    Ok(bytes)
}

fn parse_chain(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let chain = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| TlsError::Pem {
            what: what.to_owned(),
            reason: err.to_string(),
        })?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            what: what.to_owned(),
        });
    }
    Ok(chain)
}

fn parse_key(pem: &[u8], what: &str) -> Result<PrivateKeyDer<'static>, TlsError> {
    use rustls_pki_types::pem::Error as PemError;
    PrivateKeyDer::from_pem_slice(pem).map_err(|err| match err {
        PemError::NoItemsFound => TlsError::NoPrivateKey {
            what: what.to_owned(),
        },
        other => TlsError::Pem {
            what: what.to_owned(),
            reason: other.to_string(),
        },
    })
}

fn certified(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    what: &str,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, TlsError> {
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            what: what.to_owned(),
        });
    }
    Ok(CertifiedKey::from_der(chain, key, provider)?)
}

/// Serves the current certificate; with strict SNI only to handshakes naming the server.
#[derive(Debug)]
struct CertResolver {
    current: RwLock<Arc<CertifiedKey>>,
    /// Lower-case names for strict SNI; empty: SNI is not checked.
    sni: Vec<String>,
}

impl CertResolver {
    fn current(&self) -> Arc<CertifiedKey> {
        match self.current.read() {
            Ok(current) => Arc::clone(&current),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    fn replace(&self, key: CertifiedKey) {
        let key = Arc::new(key);
        match self.current.write() {
            Ok(mut current) => *current = key,
            Err(poisoned) => *poisoned.into_inner() = key,
        }
    }
}

impl ResolvesServerCert for CertResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        if !self.sni.is_empty() {
            let name = hello.server_name()?.to_ascii_lowercase();
            if !self.sni.contains(&name) {
                tracing::debug!(sni = %name, "TLS handshake refused: unknown server name");
                return None;
            }
        }
        Some(self.current())
    }
}

/// The TLS state of one control connection: its rustls configuration (with its own session
/// store) and what data connections need.
#[derive(Debug, Clone)]
pub(crate) struct ConnectionTls {
    pub(crate) control: Arc<ServerConfig>,
    store: Arc<SessionStore>,
    pub(crate) require_reuse: bool,
    pub(crate) handshake_timeout: Duration,
}

impl ConnectionTls {
    /// A rustls configuration for one data connection: it resumes sessions of this control
    /// connection only, and keeps the sessions it creates aside until
    /// [`DataSessions::commit`].
    ///
    /// An upload's connection gets no TLS 1.3 tickets: the client never reads from it, and
    /// closing a socket with unread tickets makes the kernel reset the connection, which
    /// destroys the end of the upload still in flight (seen with lftp/GnuTLS; libunftp's
    /// TLS 1.3 trouble with lftp uploads, libunftp #285, looks the same).
    ///
    /// Known cost: a client that uses each TLS 1.3 session once and resumes only from the
    /// newest ticket (curl 7.88 with OpenSSL 3) has nothing to offer after an upload, so its
    /// next protected data connection is refused with 522. Tickets on uploads do not cure
    /// it: curl reads them only while closing, and rustls sends them after the client's
    /// Finished, so a quick upload closes before they arrive (no session again) or just
    /// after (reset, cut upload, 426). Measured with 1 or 2 tickets: curl still lost 5 to 11
    /// of 20 uploads, and cut uploads appeared under curl and lftp. Such clients work with
    /// TLS 1.2 (reusable session ids) or with session reuse not required.
    pub(crate) fn data(&self, upload: bool) -> (Arc<ServerConfig>, DataSessions) {
        let sessions = Arc::new(DataStore {
            control: Arc::clone(&self.store),
            pending: Mutex::new(Vec::new()),
        });
        let mut config = ServerConfig::clone(&self.control);
        config.session_storage = Arc::clone(&sessions) as Arc<dyn StoresServerSessions>;
        config.send_tls13_tickets = if upload { 0 } else { 2 };
        (Arc::new(config), DataSessions(sessions))
    }
}

/// The sessions one data connection's handshake created, not yet resumable.
#[derive(Debug)]
pub(crate) struct DataSessions(Arc<DataStore>);

impl DataSessions {
    /// The data connection passed the checks: its sessions become resumable by later data
    /// connections of the same control connection.
    pub(crate) fn commit(self) {
        let pending = match self.0.pending.lock() {
            Ok(mut pending) => std::mem::take(&mut *pending),
            Err(_) => return,
        };
        for (key, value) in pending {
            self.0.control.insert(Born::Data, key, value);
        }
    }
}

/// Where a session was created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Born {
    Control,
    Data,
}

/// The sessions of one control connection, oldest first, at most
/// [`SESSIONS_PER_CONNECTION`] of each [`Born`] kind.
#[derive(Debug, Default)]
struct SessionStore {
    entries: Mutex<VecDeque<Stored>>,
}

/// A stored session: where it was born, its key (session id or ticket), its value.
type Stored = (Born, Vec<u8>, Vec<u8>);

impl SessionStore {
    fn insert(&self, born: Born, key: Vec<u8>, value: Vec<u8>) -> bool {
        let Ok(mut entries) = self.entries.lock() else {
            return false;
        };
        entries.retain(|(_, k, _)| *k != key);
        if entries.iter().filter(|(b, _, _)| *b == born).count() >= SESSIONS_PER_CONNECTION
            && let Some(oldest) = entries.iter().position(|(b, _, _)| *b == born)
        {
            entries.remove(oldest);
        }
        entries.push_back((born, key, value));
        true
    }
}

impl StoresServerSessions for SessionStore {
    /// Only the control connection's own handshakes store here directly; data connections
    /// go through [`DataStore`].
    fn put(&self, key: Vec<u8>, value: Vec<u8>) -> bool {
        self.insert(Born::Control, key, value)
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        let entries = self.entries.lock().ok()?;
        entries
            .iter()
            .find(|(_, k, _)| k == key)
            .map(|(_, _, v)| v.clone())
    }

    /// rustls takes TLS 1.3 tickets (single use); FTP clients resume every data connection
    /// with the ticket of the control connection, so the ticket stays for the connection's
    /// lifetime (it is useless to anyone else: only this control connection's data
    /// connections consult this store).
    fn take(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.get(key)
    }

    fn can_cache(&self) -> bool {
        true
    }
}

/// The store a data connection's handshake sees: it resumes from the control connection's
/// store and keeps new sessions aside.
#[derive(Debug)]
struct DataStore {
    control: Arc<SessionStore>,
    pending: Mutex<Vec<(Vec<u8>, Vec<u8>)>>,
}

impl StoresServerSessions for DataStore {
    fn put(&self, key: Vec<u8>, value: Vec<u8>) -> bool {
        let Ok(mut pending) = self.pending.lock() else {
            return false;
        };
        if pending.len() >= SESSIONS_PER_DATA_CONNECTION {
            return false;
        }
        pending.push((key, value));
        true
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.control.get(key)
    }

    fn take(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.control.take(key)
    }

    fn can_cache(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_is_bounded_and_take_keeps_the_entry() {
        let store = SessionStore::default();
        for i in 0..40u8 {
            assert!(store.put(vec![i], vec![i]));
        }
        assert_eq!(store.entries.lock().unwrap().len(), SESSIONS_PER_CONNECTION);
        assert_eq!(store.get(&[0]), None, "the oldest were evicted");
        assert_eq!(store.take(&[39]), Some(vec![39]));
        assert_eq!(store.take(&[39]), Some(vec![39]), "take does not remove");
    }

    #[test]
    fn data_sessions_never_evict_the_control_connections_sessions() {
        let store = SessionStore::default();
        assert!(store.put(b"control".to_vec(), b"c".to_vec()));
        for i in 0..100u8 {
            assert!(store.insert(Born::Data, vec![i], vec![i]));
        }
        assert_eq!(store.get(b"control"), Some(b"c".to_vec()));
        assert_eq!(store.get(&[99]), Some(vec![99]));
        assert_eq!(store.get(&[0]), None);
        assert_eq!(
            store.entries.lock().unwrap().len(),
            SESSIONS_PER_CONNECTION + 1
        );
    }

    #[test]
    fn data_sessions_become_resumable_only_when_committed() {
        let store = Arc::new(SessionStore::default());
        store.put(b"control".to_vec(), b"c".to_vec());
        let data = Arc::new(DataStore {
            control: Arc::clone(&store),
            pending: Mutex::new(Vec::new()),
        });
        assert_eq!(data.take(b"control"), Some(b"c".to_vec()));
        assert!(data.put(b"refused".to_vec(), b"r".to_vec()));
        assert_eq!(store.get(b"refused"), None);
        drop(data);

        let data = Arc::new(DataStore {
            control: Arc::clone(&store),
            pending: Mutex::new(Vec::new()),
        });
        assert!(data.put(b"accepted".to_vec(), b"a".to_vec()));
        DataSessions(data).commit();
        assert_eq!(store.get(b"accepted"), Some(b"a".to_vec()));
    }
}
