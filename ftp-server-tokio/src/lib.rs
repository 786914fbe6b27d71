//! # ftp-server-tokio
//!
//! The tokio adapter for the server role: it owns the listeners, control and data sockets and
//! drives `ftp_proto` server sessions, one task per control connection.
//!
//! - [`server`]: the [`server::Server`] builder, [`server::BoundServer`] and graceful shutdown.
//! - [`storage`]: the [`storage::Storage`] trait, in-memory and filesystem back-ends.
//! - [`auth`]: the [`auth::Authenticator`] trait, anonymous and static users.
//! - [`handler`]: answers the session's requests from a storage and an authenticator.
//! - [`events`]: what the embedding application hears about (logins, transfers, changes).
//! - [`tls`]: FTPS (RFC 4217) on rustls: [`tls::TlsConfig`] for [`server::Server::tls`].
//!
//! The wire layer and the server session are in [`ftp_proto`], re-exported here.
//!
//! ```
//! use ftp_server_tokio::ftp_proto::{Command, Verb};
//! assert_eq!(Command::parse(b"NOOP").unwrap().verb(), Some(Verb::Noop));
//! ```

pub use ftp_proto;

/// The README's Rust examples (wire layer and embedding), compiled and run as doctests so the
/// front page stays true. They live here because this crate sees both `ftp_proto` and itself.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

pub mod auth;
pub mod events;
pub mod handler;
pub mod server;
pub mod storage;
pub mod tls;
