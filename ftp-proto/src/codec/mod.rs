//! Control-channel codecs: the wire layer packaged for async runtimes.
//!
//! The sessions in [`crate::server`] and [`crate::client`] take raw bytes and need no codec.
//! This module is for programs that want the control channel as a stream of typed values
//! instead: a proxy, a monitor, a minimal server or client of their own.
//!
//! - [`CommandDecoder`] (server role): bytes in any split become `Result<Command, LineError>`.
//!   A line that does not parse, or one that is too long, is an item (`Err(LineError)`) with
//!   the reply code a server answers it with, never an I/O error: the stream goes on.
//! - [`ReplyDecoder`] (client role): bytes become `Result<Reply, ReplyError>`, multi-line
//!   replies included, with a size cap.
//! - [`Decode`]: the one method both share, which the runtime adapters build on.
//!
//! Runtime adapters, each behind a feature that adds trait impls only (no sockets, no
//! spawning, no timers):
//!
//! - feature `tokio`: `ServerCodec` and `ClientCodec` implement tokio-util's `Decoder` and
//!   `Encoder`, for `tokio_util::codec::Framed`.
//! - feature `async-std`: `FramedRead` turns any `futures_io::AsyncRead` (async-std, smol,
//!   futures) into a `futures_core::Stream` of decoded items, and `write_reply` /
//!   `write_command` encode onto any `futures_io::AsyncWrite`.
//!
//! (Those items exist only with their feature, so they are named here without links.)
//!
//! ```
//! use ftp_proto::codec::{CommandDecoder, Decode, LineError};
//! use ftp_proto::{Command, ReplyCode};
//!
//! let mut decoder = CommandDecoder::new();
//! let mut input: &[u8] = b"NOOP\r\nREST -1\r\nQU";
//! let mut items = Vec::new();
//! while !input.is_empty() {
//!     let step = decoder.decode(input);
//!     input = &input[step.consumed..];
//!     items.extend(step.item);
//! }
//! assert_eq!(items[0], Ok(Command::Noop));
//! assert!(matches!(&items[1], Err(e) if e.reply_code() == ReplyCode::SYNTAX_ERROR_IN_ARGUMENTS));
//! assert_eq!(items.len(), 2, "QU is not a line yet");
//! ```

use crate::{Command, Decoded, Frame, LineFramer, ParseError, Reply, ReplyCode, ReplyError};
use crate::{DEFAULT_MAX_LINE, ReplyParser};

#[cfg(feature = "async-std")]
mod futures_io;
#[cfg(feature = "tokio")]
mod tokio;

#[cfg(feature = "async-std")]
pub use self::futures_io::{FramedRead, write_command, write_reply};
#[cfg(feature = "tokio")]
pub use self::tokio::{ClientCodec, ServerCodec};

/// A streaming decoder: consumes bytes up to the next complete item.
///
/// Implementations keep whatever partial item they need internally, bounded by their size cap,
/// so the caller never has to buffer more than one read.
pub trait Decode {
    /// What a complete frame decodes to.
    type Item;

    /// Consumes input up to and including the byte that completes the next item. Returns how
    /// much was consumed and the item, or `None` once all input is used.
    fn decode(&mut self, input: &[u8]) -> Decoded<Self::Item>;
}

/// Why a control line did not give a command. Both are answered with a reply and the stream
/// goes on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LineError {
    /// The line does not parse: unknown syntax, a bad argument, a verb not implemented.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// The line grew past the maximum length; the rest of it is discarded.
    #[error("line longer than {limit} bytes")]
    Overlong {
        /// The limit that was exceeded.
        limit: usize,
    },
}

impl LineError {
    /// The reply code a server answers this line with (500 for an overlong line).
    ///
    /// ```
    /// use ftp_proto::codec::LineError;
    /// use ftp_proto::ReplyCode;
    /// assert_eq!(LineError::Overlong { limit: 4096 }.reply_code(), ReplyCode::SYNTAX_ERROR);
    /// ```
    pub fn reply_code(&self) -> ReplyCode {
        match self {
            Self::Parse(e) => e.reply_code(),
            Self::Overlong { .. } => ReplyCode::SYNTAX_ERROR,
        }
    }

    /// The reply a server sends for this line.
    ///
    /// ```
    /// use ftp_proto::codec::LineError;
    /// use ftp_proto::Command;
    /// let err = LineError::from(Command::parse(b"TYPE X").unwrap_err());
    /// assert_eq!(err.to_reply().to_bytes(), b"504 TYPE: unknown parameter\r\n");
    /// ```
    pub fn to_reply(&self) -> Reply {
        Reply::new(self.reply_code(), self.to_string())
    }
}

/// Server role: control bytes become commands. See the [module docs](self).
#[derive(Debug, Clone, Default)]
pub struct CommandDecoder {
    framer: LineFramer,
}

impl CommandDecoder {
    /// A decoder with the default maximum line length ([`DEFAULT_MAX_LINE`]).
    pub fn new() -> Self {
        Self::with_max_line(DEFAULT_MAX_LINE)
    }

    /// A decoder refusing lines longer than `max_line` bytes.
    ///
    /// ```
    /// use ftp_proto::codec::{CommandDecoder, Decode, LineError};
    /// let mut d = CommandDecoder::with_max_line(8);
    /// let step = d.decode(b"STOR a-long-name\r\nNOOP\r\n");
    /// assert_eq!(step.item, Some(Err(LineError::Overlong { limit: 8 })));
    /// ```
    pub fn with_max_line(max_line: usize) -> Self {
        Self {
            framer: LineFramer::with_max_line(max_line),
        }
    }

    /// Forgets any partial line, e.g. when the connection switches to TLS (plaintext received
    /// before the switch must never be interpreted).
    pub fn clear(&mut self) {
        self.framer.clear();
    }
}

impl Decode for CommandDecoder {
    type Item = Result<Command, LineError>;

    fn decode(&mut self, input: &[u8]) -> Decoded<Self::Item> {
        let step = self.framer.push(input);
        let item = step.item.map(|frame| match frame {
            Frame::Line(line) => Command::parse(&line).map_err(LineError::from),
            Frame::Overlong { limit } => Err(LineError::Overlong { limit }),
        });
        Decoded {
            consumed: step.consumed,
            item,
        }
    }
}

/// Client role: control bytes become replies (multi-line included, size-capped). A thin name
/// for [`ReplyParser`], which does the work.
pub type ReplyDecoder = ReplyParser;

impl Decode for ReplyParser {
    type Item = Result<Reply, ReplyError>;

    fn decode(&mut self, input: &[u8]) -> Decoded<Self::Item> {
        self.push(input)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all<D: Decode>(decoder: &mut D, chunks: &[&[u8]]) -> Vec<D::Item> {
        let mut items = Vec::new();
        for chunk in chunks {
            let mut input = *chunk;
            while !input.is_empty() {
                let step = decoder.decode(input);
                assert!(step.consumed <= input.len());
                assert!(step.consumed > 0 || step.item.is_some());
                input = &input[step.consumed..];
                items.extend(step.item);
            }
        }
        items
    }

    #[test]
    fn commands_in_one_chunk_and_byte_by_byte_agree() {
        let wire = b"USER anonymous\r\nPASS x\r\nFROB\r\nRETR a b\nTYPE X\r\n";
        let whole = decode_all(&mut CommandDecoder::new(), &[wire]);
        let bytes: Vec<&[u8]> = wire.chunks(1).collect();
        let split = decode_all(&mut CommandDecoder::new(), &bytes);
        assert_eq!(whole, split);
        assert_eq!(whole.len(), 5);
        assert!(matches!(whole[2], Ok(Command::Other { .. })));
        assert_eq!(
            whole[4].as_ref().unwrap_err().reply_code(),
            ReplyCode::PARAMETER_NOT_IMPLEMENTED
        );
    }

    #[test]
    fn overlong_line_is_one_item_and_the_stream_resynchronises() {
        let mut long = vec![b'A'; 10_000];
        long.extend_from_slice(b"\r\nNOOP\r\n");
        let items = decode_all(&mut CommandDecoder::new(), &[&long]);
        assert_eq!(
            items,
            [
                Err(LineError::Overlong {
                    limit: DEFAULT_MAX_LINE
                }),
                Ok(Command::Noop)
            ]
        );
    }

    #[test]
    fn clear_drops_a_partial_line() {
        let mut d = CommandDecoder::new();
        assert_eq!(d.decode(b"DELE secret").item, None);
        d.clear();
        assert_eq!(decode_all(&mut d, &[b"NOOP\r\n"]), [Ok(Command::Noop)]);
    }

    #[test]
    fn replies_decode_through_the_trait() {
        let items = decode_all(
            &mut ReplyDecoder::new(),
            &[b"211-Features:\r\n SIZE\r\n211 End\r\n", b"xyz\r\n"],
        );
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].as_ref().unwrap().lines().len(), 3);
        assert!(matches!(items[1], Err(ReplyError::Malformed { .. })));
    }
}
