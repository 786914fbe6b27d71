//! Shared harness for ftp-client-tokio's integration tests.
//!
//! - [`foreign`]: FTP servers we did not write (vsftpd, pure-ftpd, pyftpdlib), each started on
//!   127.0.0.1 over a fresh directory and stopped by PID when dropped.
//! - [`run`]: runs a client program (curl) with a hard deadline, output captured.
//! - [`tool_available`] and [`skip`]: the skip rule (fail under `CI`, loud skip otherwise).
//! - [`random_bytes`]: deterministic test data.
//!
//! Each test binary uses a subset of this module.
#![allow(dead_code)]

pub(crate) mod foreign;

#[allow(unused_imports)] // each test binary uses a subset
pub(crate) use foreign::{ForeignServer, ServerKind, TestPki, TlsSetup};

#[path = "../../../test-support/process.rs"]
mod process;
#[allow(unused_imports)] // each test binary uses a subset
pub(crate) use process::{Run, loud, random_bytes, run, skip, tool_available};
