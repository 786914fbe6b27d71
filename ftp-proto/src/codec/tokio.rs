//! tokio-util `Decoder`/`Encoder` implementations (feature `tokio`).

use std::io;

use bytes::{Buf, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use super::{CommandDecoder, Decode, LineError, ReplyDecoder};
use crate::{Command, Reply, ReplyError};

/// Drains `src` through `decoder` until an item completes or `src` is used up.
///
/// The decoders keep partial lines themselves (bounded by their caps), so `src` is always
/// consumed: a peer that never sends a line end cannot grow the `Framed` read buffer.
fn decode_from<D: Decode>(decoder: &mut D, src: &mut BytesMut) -> Option<D::Item> {
    let step = decoder.decode(src);
    src.advance(step.consumed);
    step.item
}

/// The server role over `tokio_util::codec::Framed`: decodes [`Command`]s (a line that does not
/// parse is an `Err(LineError)` item, not an I/O error) and encodes [`Reply`]s.
///
/// ```
/// use bytes::BytesMut;
/// use ftp_proto::codec::ServerCodec;
/// use ftp_proto::{Command, Reply, ReplyCode};
/// use tokio_util::codec::{Decoder, Encoder};
///
/// let mut codec = ServerCodec::new();
/// let mut buf = BytesMut::from(&b"NOOP\r\nFEAT"[..]);
/// assert_eq!(codec.decode(&mut buf)?, Some(Ok(Command::Noop)));
/// assert_eq!(codec.decode(&mut buf)?, None); // "FEAT" waits for its line end
///
/// let mut out = BytesMut::new();
/// codec.encode(Reply::new(ReplyCode::COMMAND_OKAY, "OK"), &mut out)?;
/// assert_eq!(&out[..], b"200 OK\r\n");
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// With a socket, `Framed::new(stream, ServerCodec::new())` is a `Stream` of commands and a
/// `Sink` of replies (add `futures` for `StreamExt`/`SinkExt`).
#[derive(Debug, Clone, Default)]
pub struct ServerCodec {
    decoder: CommandDecoder,
}

impl ServerCodec {
    /// A codec with the default maximum line length.
    pub fn new() -> Self {
        Self::default()
    }

    /// A codec refusing lines longer than `max_line` bytes (each is one
    /// [`LineError::Overlong`] item).
    pub fn with_max_line(max_line: usize) -> Self {
        Self {
            decoder: CommandDecoder::with_max_line(max_line),
        }
    }

    /// Forgets any partial line (call it when switching to TLS: plaintext pipelined after
    /// `AUTH TLS` must never be executed; also drop what the `Framed` buffer still holds, e.g.
    /// by building a new `Framed` from `Framed::into_inner`).
    pub fn clear(&mut self) {
        self.decoder.clear();
    }
}

impl Decoder for ServerCodec {
    type Item = Result<Command, LineError>;
    type Error = io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> io::Result<Option<Self::Item>> {
        Ok(decode_from(&mut self.decoder, src))
    }
}

impl Encoder<&Reply> for ServerCodec {
    type Error = io::Error;

    fn encode(&mut self, reply: &Reply, dst: &mut BytesMut) -> io::Result<()> {
        dst.extend_from_slice(&reply.to_bytes());
        Ok(())
    }
}

impl Encoder<Reply> for ServerCodec {
    type Error = io::Error;

    fn encode(&mut self, reply: Reply, dst: &mut BytesMut) -> io::Result<()> {
        self.encode(&reply, dst)
    }
}

/// The client role over `tokio_util::codec::Framed`: decodes [`Reply`]s (multi-line included;
/// a malformed or oversized reply is an `Err(ReplyError)` item) and encodes [`Command`]s.
///
/// Encoding a command that cannot be put on the wire (a CR or LF in an argument, which would
/// smuggle a second command) fails with [`io::ErrorKind::InvalidInput`] and writes nothing.
///
/// ```
/// use bytes::BytesMut;
/// use ftp_proto::codec::ClientCodec;
/// use ftp_proto::{Command, FtpPath, ReplyCode};
/// use tokio_util::codec::{Decoder, Encoder};
///
/// let mut codec = ClientCodec::new();
/// let mut out = BytesMut::new();
/// codec.encode(Command::Retr(FtpPath::from("a file")), &mut out)?;
/// assert_eq!(&out[..], b"RETR a file\r\n");
/// assert!(codec.encode(Command::Dele(FtpPath::from("x\r\nRMD /")), &mut out).is_err());
///
/// let mut buf = BytesMut::from(&b"150-Opening\r\n150 data\r\n"[..]);
/// let reply = codec.decode(&mut buf)?.unwrap().unwrap();
/// assert_eq!(reply.code(), ReplyCode::FILE_STATUS_OKAY);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct ClientCodec {
    decoder: ReplyDecoder,
}

impl ClientCodec {
    /// A codec with the default reply size cap.
    pub fn new() -> Self {
        Self::default()
    }

    /// A codec capping one reply at `max_size` bytes (see [`ReplyDecoder`]).
    pub fn with_max_reply(max_size: usize) -> Self {
        Self {
            decoder: ReplyDecoder::with_max_size(max_size),
        }
    }
}

impl Decoder for ClientCodec {
    type Item = Result<Reply, ReplyError>;
    type Error = io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> io::Result<Option<Self::Item>> {
        Ok(decode_from(&mut self.decoder, src))
    }
}

impl Encoder<&Command> for ClientCodec {
    type Error = io::Error;

    fn encode(&mut self, command: &Command, dst: &mut BytesMut) -> io::Result<()> {
        let bytes = command
            .to_bytes()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        dst.extend_from_slice(&bytes);
        Ok(())
    }
}

impl Encoder<Command> for ClientCodec {
    type Error = io::Error;

    fn encode(&mut self, command: Command, dst: &mut BytesMut) -> io::Result<()> {
        self.encode(&command, dst)
    }
}
