//! # ftp-client-tokio: an FTP client on tokio
//!
//! [`Client`] drives the sans-IO [`ftp_proto::client::Session`] over tokio sockets: the
//! protocol decisions (reply matching, EPSV→PASV fallback, ignoring the address in a 227,
//! accepting a 226 before or after the end of the data) live in the core; this crate owns the
//! control socket, the data connections, timeouts and the local files.
//!
//! - Connect, log in, move around: [`Client::connect`], [`Client::login`], [`Client::cwd`],
//!   [`Client::pwd`], [`Client::mkdir_all`], [`Client::rename`], [`Client::remove`] ...
//! - Listings parsed into [`ftp_proto::listing::Entry`]: [`Client::list`] (MLSD first, LIST
//!   in Unix, DOS/IIS or EPLF format otherwise), [`Client::nlst`], [`Client::mlst`].
//! - Streams: [`Client::retr`] gives an [`tokio::io::AsyncRead`] that checks the server's
//!   final reply at its end; [`Client::stor`] and [`Client::append`] take any reader. Nothing
//!   needs "finalizing": dropping a download early aborts it before the next command.
//! - Helpers: [`Client::download_file`] / [`Client::upload_file`] with resume, progress and
//!   cancellation ([`TransferOptions`]); [`Client::download_dir`] / [`Client::upload_dir`];
//!   [`fxp_copy`] between two servers.
//! - FTPS (RFC 4217, rustls): [`ClientBuilder::tls`] (explicit `AUTH TLS`, required: a
//!   refusal fails the connection before any credential is sent),
//!   [`ClientBuilder::implicit_tls`], or [`Client::auth_tls`] on a plain connection; settings
//!   in [`TlsConfig`]. Data connections are protected (`PBSZ 0`, `PROT P`) and resume the
//!   control connection's TLS session (TLS 1.2 session IDs or tickets, TLS 1.3 tickets), as
//!   servers such as vsftpd with `require_ssl_reuse` demand. Uploads end with close_notify.
//!   A download whose data connection closes without close_notify ends normally: the
//!   server's final reply on the protected control connection decides whether it was
//!   complete.
//!
//! ```no_run
//! use ftp_client_tokio::{Client, TransferOptions};
//!
//! # async fn run() -> Result<(), ftp_client_tokio::Error> {
//! let mut client = Client::connect("127.0.0.1:2121").await?;
//! client.login("anonymous", "").await?;
//! for entry in client.list("/").await? {
//!     println!("{:>10} {}", entry.size, String::from_utf8_lossy(&entry.name));
//! }
//! client.download_file("README.md", "README.copy".as_ref(), TransferOptions::new()).await?;
//! client.quit().await?;
//! # Ok(()) }
//! ```

mod client;
mod error;
mod files;
mod ops;
mod tls;
mod transfer;

pub use client::{Client, ClientBuilder, MAX_TIMEOUT, ServerAddress};
pub use error::{Error, TlsProblem};
pub use files::{TransferOptions, fxp_copy};
pub use ftp_proto;
pub use tls::{ALPN_FTP, TlsConfig, TlsInfo, TlsVersions};
pub use tokio_util::sync::CancellationToken;
pub use transfer::RetrStream;
