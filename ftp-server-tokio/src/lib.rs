//! # ftp-server-tokio
//!
//! The tokio adapter for the server role: it will own the listeners, control and data sockets,
//! TLS, storage and authentication back-ends, and drive `ftp_proto` server sessions.
//!
//! **Status:** not implemented yet. This crate exists so the workspace has its final shape; the
//! server arrives with the "ftp-server-tokio and ftpd" issue. Today the usable part of the
//! project is the wire layer in [`ftp_proto`], re-exported here for convenience.
//!
//! ```
//! use ftp_server_tokio::ftp_proto::{Command, Verb};
//! assert_eq!(Command::parse(b"NOOP").unwrap().verb(), Some(Verb::Noop));
//! ```

pub use ftp_proto;
