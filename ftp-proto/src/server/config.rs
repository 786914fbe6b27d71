//! Server session configuration: every policy knob with its secure default.
//!
//! Owns the values a [`super::Session`] consults; it holds no state and performs no I/O.

use core::time::Duration;

/// A checksum algorithm the application can compute for HASH and the X-commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HashAlgorithm {
    /// CRC-32 (XCRC).
    Crc32,
    /// MD5 (XMD5, HASH MD5).
    Md5,
    /// SHA-1 (XSHA1, HASH SHA-1).
    Sha1,
    /// SHA-256 (XSHA256, HASH SHA-256).
    Sha256,
    /// SHA-512 (HASH SHA-512).
    Sha512,
}

impl HashAlgorithm {
    /// The name used by HASH and FEAT (draft-bryan-ftpext-hash), e.g. `SHA-256`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Crc32 => "CRC32",
            Self::Md5 => "MD5",
            Self::Sha1 => "SHA-1",
            Self::Sha256 => "SHA-256",
            Self::Sha512 => "SHA-512",
        }
    }

    /// Looks an algorithm up by its HASH name, ignoring case.
    pub fn from_name(name: &str) -> Option<Self> {
        [
            Self::Crc32,
            Self::Md5,
            Self::Sha1,
            Self::Sha256,
            Self::Sha512,
        ]
        .into_iter()
        .find(|a| a.name().eq_ignore_ascii_case(name))
    }
}

/// FTPS policy (RFC 4217). The FTPS issue wires the TLS objects; the states live here.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsPolicy {
    /// The adapter can do TLS: AUTH TLS/SSL is accepted (234) and FEAT lists it.
    pub available: bool,
    /// USER/PASS are refused (530) until the control connection is protected.
    pub require_for_login: bool,
    /// Data transfers are refused (534) unless PROT P is in force, and PROT C is refused (536).
    pub require_for_data: bool,
    /// CCC (clear command channel) is allowed after login; refused (534) otherwise.
    pub allow_ccc: bool,
}

impl Default for TlsPolicy {
    /// No TLS configured. When TLS is configured the secure choice is to require it for login
    /// and data: see [`TlsPolicy::required`].
    fn default() -> Self {
        Self {
            available: false,
            require_for_login: false,
            require_for_data: false,
            allow_ccc: false,
        }
    }
}

impl TlsPolicy {
    /// TLS available and required for login and for data; CCC refused.
    pub fn required() -> Self {
        Self {
            available: true,
            require_for_login: true,
            require_for_data: true,
            allow_ccc: false,
        }
    }

    /// TLS available but optional.
    pub fn optional() -> Self {
        Self {
            available: true,
            ..Self::default()
        }
    }
}

/// What the application can do beyond the core file operations; drives FEAT and decides
/// whether optional commands are answered or refused with 502.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Capabilities {
    /// Checksums the application computes (HASH, XCRC, XMD5, XSHA1, XSHA256). Empty: 502.
    pub checksums: Vec<HashAlgorithm>,
    /// HOST (RFC 7151) is answered by the application.
    pub host: bool,
    /// AVBL is answered by the application.
    pub avbl: bool,
    /// MFMT and the MDTM set form are answered by the application.
    pub set_mtime: bool,
    /// SITE sub-commands the application handles (listed by `SITE HELP`). Empty: SITE is 502.
    pub site_commands: Vec<String>,
}

impl Default for Capabilities {
    fn default() -> Self {
        Self {
            checksums: Vec::new(),
            host: false,
            avbl: false,
            set_mtime: true,
            site_commands: Vec::new(),
        }
    }
}

/// Server session configuration. `Config::default()` is the secure default set.
///
/// ```
/// use ftp_proto::server::Config;
/// let mut config = Config::default();
/// config.anonymous = true;
/// assert_eq!(config.max_login_failures, 3);
/// assert!(config.require_data_peer_match && !config.allow_privileged_data_ports);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// Text of the 220 greeting.
    pub greeting: String,
    /// Accept `USER anonymous` / `USER ftp` (the Login request says `anonymous: true`).
    pub anonymous: bool,
    /// Delay before a failed login is answered with 530.
    pub failed_login_delay: Duration,
    /// Failed logins after which the session answers 421 and closes.
    pub max_login_failures: u32,
    /// Time from the greeting to a successful login before 421 and close.
    pub login_timeout: Duration,
    /// Time without a command (and no transfer) before 421 and close.
    pub idle_timeout: Duration,
    /// Time for a data connection to be accepted or connected before 425.
    pub data_timeout: Duration,
    /// PASV/EPSV are allowed.
    pub passive_mode: bool,
    /// PORT/EPRT are allowed.
    pub active_mode: bool,
    /// PORT/EPRT must name the control connection's peer IP (FTP bounce protection).
    pub require_data_peer_match: bool,
    /// PORT/EPRT may name ports below 1024.
    pub allow_privileged_data_ports: bool,
    /// Maximum control line length in bytes.
    pub max_line: usize,
    /// Overlong lines after which the session answers 421 and closes.
    pub max_overlong_lines: u32,
    /// Commands that may wait (pipelined behind a running command) before 421 and close.
    pub max_queued_commands: usize,
    /// The transfer type a session starts with, and returns to after REIN: TYPE A (ASCII
    /// non-print: line ends converted to CRLF on the wire), RFC 959's default (true), or
    /// binary (false), as pure-ftpd does. Real clients send TYPE before transferring; this
    /// matters to those that do not (and to SIZE, refused in TYPE A).
    pub ascii_by_default: bool,
    /// FTPS policy.
    pub tls: TlsPolicy,
    /// Optional features the application supports.
    pub capabilities: Capabilities,
}

/// A [`Config`] that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The TLS policy requires TLS, but TLS is not available.
    #[error("TLS is required but not available")]
    TlsRequiredButUnavailable,
    /// Both passive and active mode are off: no transfer could ever happen.
    #[error("both passive and active mode are disabled")]
    NoDataMode,
    /// `max_login_failures` is 0.
    #[error("max_login_failures must be at least 1")]
    NoLoginAttempts,
    /// `max_queued_commands` is 0: not even one pipelined command could wait.
    #[error("max_queued_commands must be at least 1")]
    NoQueue,
}

impl Config {
    /// Checks that the settings can work together; adapters call it before serving.
    ///
    /// ```
    /// use ftp_proto::server::{Config, ConfigError, TlsPolicy};
    /// let mut c = Config::default();
    /// assert_eq!(c.validate(), Ok(()));
    /// c.tls.require_for_login = true;
    /// assert_eq!(c.validate(), Err(ConfigError::TlsRequiredButUnavailable));
    /// c.tls = TlsPolicy::required();
    /// assert_eq!(c.validate(), Ok(()));
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        if (self.tls.require_for_login || self.tls.require_for_data) && !self.tls.available {
            return Err(ConfigError::TlsRequiredButUnavailable);
        }
        if !self.passive_mode && !self.active_mode {
            return Err(ConfigError::NoDataMode);
        }
        if self.max_login_failures == 0 {
            return Err(ConfigError::NoLoginAttempts);
        }
        if self.max_queued_commands == 0 {
            return Err(ConfigError::NoQueue);
        }
        Ok(())
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            greeting: "Service ready".to_owned(),
            anonymous: false,
            failed_login_delay: Duration::from_secs(1),
            max_login_failures: 3,
            login_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(300),
            data_timeout: Duration::from_secs(30),
            passive_mode: true,
            active_mode: true,
            require_data_peer_match: true,
            allow_privileged_data_ports: false,
            max_line: crate::DEFAULT_MAX_LINE,
            max_overlong_lines: 3,
            max_queued_commands: 64,
            ascii_by_default: true,
            tls: TlsPolicy::default(),
            capabilities: Capabilities::default(),
        }
    }
}
