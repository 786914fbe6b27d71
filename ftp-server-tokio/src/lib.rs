//! # ftp-server-tokio
//!
//! The tokio adapter for the server role: it will own the listeners, control and data sockets,
//! TLS, and drive `ftp_proto` server sessions.
//!
//! **Status:** the [`storage`] layer (the [`storage::Storage`] trait, in-memory and filesystem
//! back-ends) and the [`auth`] layer (the [`auth::Authenticator`] trait, anonymous and static
//! users) exist; the network server arrives with the "ftp-server-tokio and ftpd" issue. The wire layer
//! and the server session are in [`ftp_proto`], re-exported here.
//!
//! ```
//! use ftp_server_tokio::ftp_proto::{Command, Verb};
//! assert_eq!(Command::parse(b"NOOP").unwrap().verb(), Some(Verb::Noop));
//! ```

pub use ftp_proto;

pub mod auth;
pub mod events;
pub mod handler;
pub mod server;
pub mod storage;
