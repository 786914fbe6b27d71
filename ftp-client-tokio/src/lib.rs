//! # ftp-client-tokio
//!
//! The tokio adapter for the client role: it will own the control and data sockets and TLS,
//! and drive `ftp_proto` client sessions behind a `Client` API.
//!
//! **Status:** not implemented yet. This crate exists so the workspace has its final shape; the
//! client arrives with the "client Session, ftp-client-tokio and the ftp CLI" issue. Today the
//! usable part of the project is the wire layer in [`ftp_proto`], re-exported here.
//!
//! ```
//! use ftp_client_tokio::ftp_proto::{Reply, ReplyCode};
//! let reply = Reply::parse(b"230 Logged in\r\n").unwrap();
//! assert_eq!(reply.code(), ReplyCode::USER_LOGGED_IN);
//! ```

pub use ftp_proto;
