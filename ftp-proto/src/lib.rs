//! # ftp-proto: a sans-IO FTP protocol core
//!
//! This crate turns bytes into FTP protocol values and back, and (in later modules) runs the
//! server and client session state machines. It performs no I/O, reads no clock and spawns
//! nothing: the caller feeds it bytes and time, and drains what it produces. Adapters such as
//! `ftp-server-tokio` and `ftp-client-tokio` own the sockets.
//!
//! ## The wire layer
//!
//! - [`LineFramer`]: control-channel bytes in any split become lines (CRLF or bare LF, Telnet
//!   IAC handling, a maximum line length with resynchronisation).
//! - [`Command`]: every FTP verb as a typed value; [`Command::parse`] and [`Command::encode`].
//! - [`Reply`] and [`ReplyCode`]: replies, single- and multi-line; [`ReplyParser`] for the client
//!   role.
//! - [`addr`]: PORT/EPRT arguments and 227/229 replies.
//! - [`listing`]: directory listings, formatted for the server role and parsed for the client
//!   role; [`client::parse`]: the values in FEAT, PWD, SIZE, MDTM and MLST replies.
//! - [`codec`]: the control channel as a stream of commands or replies, runtime-neutral, with
//!   tokio-util `Decoder`/`Encoder` impls (feature `tokio`) and futures-io framing for
//!   async-std and smol (feature `async-std`). Neither feature adds sockets, spawning or timers.
//!
//! A server's read loop, without any I/O:
//!
//! ```
//! use ftp_proto::{Command, Frame, LineFramer, Reply, ReplyCode};
//!
//! let mut framer = LineFramer::new();
//! let mut out = Vec::new();
//! // Bytes as they came off a socket, split anywhere.
//! for chunk in [&b"USER anonym"[..], b"ous\r\nPASS \r\nFROB\r\nREST -1\r\n"] {
//!     for frame in framer.frames(chunk) {
//!         let reply = match frame {
//!             Frame::Line(line) => match Command::parse(&line) {
//!                 Ok(Command::User(_)) => Reply::new(ReplyCode::NEED_PASSWORD, "Password required"),
//!                 Ok(Command::Other { verb, .. }) => Reply::new(ReplyCode::SYNTAX_ERROR, format!("{verb} not understood")),
//!                 Ok(cmd) => Reply::new(ReplyCode::COMMAND_OKAY, format!("{cmd}")),
//!                 Err(e) => Reply::new(e.reply_code(), e.to_string()),
//!             },
//!             Frame::Overlong { .. } => Reply::new(ReplyCode::SYNTAX_ERROR, "Line too long"),
//!             _ => continue,
//!         };
//!         reply.encode(&mut out);
//!     }
//! }
//! assert_eq!(
//!     String::from_utf8(out).unwrap(),
//!     "331 Password required\r\n200 PASS ****\r\n500 FROB not understood\r\n501 REST: negative number\r\n"
//! );
//! ```
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod addr;
pub mod ascii;
pub mod client;
pub mod codec;
mod command;
mod error;
mod framing;
pub mod listing;
mod path;
mod reply;
mod secret;
pub mod server;
mod timestamp;

#[cfg(feature = "arbitrary")]
pub mod fuzzing;

pub use command::{
    AuthMechanism, ByteRange, ChecksumArgs, Command, EpsvMode, FileStructure, FormatControl,
    ListArgs, MAX_VERB_LEN, NOT_IMPLEMENTED_VERBS, ProtectionLevel, TransferMode, TransferType,
    Verb,
};
pub use error::{AddrError, ArgError, EncodeError, ParseError};
pub use framing::{DEFAULT_MAX_LINE, Decoded, Frame, Frames, LineFramer};
pub use path::{FtpPath, PathError, Segments, VirtualPath};
pub use reply::Replies;
pub use reply::{
    DEFAULT_MAX_REPLY, InvalidReplyCode, Reply, ReplyCategory, ReplyClass, ReplyCode, ReplyError,
    ReplyParser,
};
pub use secret::Secret;
pub use timestamp::{InvalidTimestamp, Timestamp};
