//! futures-io framing (feature `async-std`): works with async-std, smol and the futures crate.

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;
use futures_io::{AsyncRead, AsyncWrite};

use super::Decode;
use crate::{Command, Reply};

/// Bytes read from the socket at a time.
const READ_CHUNK: usize = 8 * 1024;

/// A `Stream` of decoded items read from any `futures_io::AsyncRead`.
///
/// Use [`super::CommandDecoder`] for the server role and [`super::ReplyDecoder`] for the
/// client role. Memory is one read buffer plus what the decoder keeps (bounded by its cap).
/// The stream ends (`None`) at EOF; a partial line at EOF is dropped. Read errors are
/// `Some(Err(..))`; peer mistakes are items.
///
/// ```
/// use ftp_proto::codec::{CommandDecoder, FramedRead};
/// use ftp_proto::Command;
///
/// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     let mut f = std::pin::pin!(f);
/// #     let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
/// #     loop { if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v } }
/// # }
/// // Any AsyncRead: an async-std or smol TcpStream, or here a byte slice.
/// let wire: &[u8] = b"USER ftp\r\nNOOP\r\n";
/// let mut commands = FramedRead::new(wire, CommandDecoder::new());
/// block_on(async {
///     assert!(matches!(commands.next().await, Some(Ok(Ok(Command::User(_))))));
///     assert!(matches!(commands.next().await, Some(Ok(Ok(Command::Noop)))));
///     assert!(commands.next().await.is_none());
/// });
/// ```
#[derive(Debug)]
pub struct FramedRead<R, D> {
    reader: R,
    decoder: D,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    eof: bool,
}

impl<R: AsyncRead + Unpin, D: Decode> FramedRead<R, D> {
    /// Frames `reader` with `decoder`.
    pub fn new(reader: R, decoder: D) -> Self {
        Self {
            reader,
            decoder,
            buf: vec![0; READ_CHUNK].into_boxed_slice(),
            start: 0,
            end: 0,
            eof: false,
        }
    }

    /// The next item, `None` at EOF. The same as `StreamExt::next`, without needing the
    /// futures crate.
    pub async fn next(&mut self) -> Option<io::Result<D::Item>> {
        poll_fn(|cx| self.poll_item(cx)).await
    }

    /// The decoder, e.g. to call [`super::CommandDecoder::clear`].
    pub fn decoder_mut(&mut self) -> &mut D {
        &mut self.decoder
    }

    /// The reader, for writing replies on the same socket (`&TcpStream` is also `AsyncWrite`
    /// in async-std and smol).
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.reader
    }

    /// Bytes read but not yet decoded (after the last item).
    pub fn read_buffer(&self) -> &[u8] {
        self.buf.get(self.start..self.end).unwrap_or_default()
    }

    /// The reader back. Bytes read but not yet decoded are dropped: when switching to TLS after
    /// `AUTH TLS`, that is what must happen to plaintext the peer pipelined.
    pub fn into_inner(self) -> R {
        self.reader
    }

    fn poll_item(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<D::Item>>> {
        loop {
            if self.start < self.end {
                let pending = self.buf.get(self.start..self.end).unwrap_or_default();
                let step = self.decoder.decode(pending);
                self.start += step.consumed.min(pending.len());
                if let Some(item) = step.item {
                    return Poll::Ready(Some(Ok(item)));
                }
                continue;
            }
            if self.eof {
                return Poll::Ready(None);
            }
            match Pin::new(&mut self.reader).poll_read(cx, &mut self.buf) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(0)) => {
                    self.eof = true;
                    return Poll::Ready(None);
                }
                Poll::Ready(Ok(n)) => {
                    self.start = 0;
                    self.end = n.min(self.buf.len());
                }
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Some(Err(e))),
            }
        }
    }
}

impl<R: AsyncRead + Unpin, D: Decode + Unpin> Stream for FramedRead<R, D> {
    type Item = io::Result<D::Item>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_item(cx)
    }
}

/// Writes all of `bytes`, then flushes.
async fn write_all<W: AsyncWrite + Unpin>(writer: &mut W, bytes: &[u8]) -> io::Result<()> {
    let mut rest = bytes;
    while !rest.is_empty() {
        let n = poll_fn(|cx| Pin::new(&mut *writer).poll_write(cx, rest)).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        rest = rest.get(n..).unwrap_or_default();
    }
    poll_fn(|cx| Pin::new(&mut *writer).poll_flush(cx)).await
}

/// Encodes `reply` onto `writer` (server role) and flushes.
///
/// ```
/// use ftp_proto::codec::write_reply;
/// use ftp_proto::{Reply, ReplyCode};
/// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     let mut f = std::pin::pin!(f);
/// #     let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
/// #     loop { if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v } }
/// # }
/// # struct W(Vec<u8>);
/// # impl futures_io::AsyncWrite for W {
/// #     fn poll_write(self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>, b: &[u8]) -> std::task::Poll<std::io::Result<usize>> { self.get_mut().0.extend_from_slice(b); std::task::Poll::Ready(Ok(b.len())) }
/// #     fn poll_flush(self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>) -> std::task::Poll<std::io::Result<()>> { std::task::Poll::Ready(Ok(())) }
/// #     fn poll_close(self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>) -> std::task::Poll<std::io::Result<()>> { std::task::Poll::Ready(Ok(())) }
/// # }
/// // Any AsyncWrite: an async-std or smol TcpStream; here a Vec behind a tiny wrapper.
/// let mut out = W(Vec::new());
/// block_on(write_reply(&mut out, &Reply::new(ReplyCode::SERVICE_READY, "Hello")))?;
/// assert_eq!(out.0, b"220 Hello\r\n");
/// # Ok::<(), std::io::Error>(())
/// ```
pub async fn write_reply<W: AsyncWrite + Unpin>(writer: &mut W, reply: &Reply) -> io::Result<()> {
    write_all(writer, &reply.to_bytes()).await
}

/// Encodes `command` onto `writer` (client role) and flushes. A command that cannot be put on
/// the wire (CR or LF in an argument) fails with [`io::ErrorKind::InvalidInput`] before
/// anything is written.
///
/// ```
/// use ftp_proto::codec::write_command;
/// use ftp_proto::{Command, FtpPath};
/// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     let mut f = std::pin::pin!(f);
/// #     let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
/// #     loop { if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v } }
/// # }
/// # struct W(Vec<u8>);
/// # impl futures_io::AsyncWrite for W {
/// #     fn poll_write(self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>, b: &[u8]) -> std::task::Poll<std::io::Result<usize>> { self.get_mut().0.extend_from_slice(b); std::task::Poll::Ready(Ok(b.len())) }
/// #     fn poll_flush(self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>) -> std::task::Poll<std::io::Result<()>> { std::task::Poll::Ready(Ok(())) }
/// #     fn poll_close(self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>) -> std::task::Poll<std::io::Result<()>> { std::task::Poll::Ready(Ok(())) }
/// # }
/// let mut out = W(Vec::new());
/// block_on(write_command(&mut out, &Command::Size(FtpPath::from("a"))))?;
/// assert_eq!(out.0, b"SIZE a\r\n");
/// let bad = Command::Dele(FtpPath::from("x\r\nRMD /"));
/// assert!(block_on(write_command(&mut out, &bad)).is_err());
/// # Ok::<(), std::io::Error>(())
/// ```
pub async fn write_command<W: AsyncWrite + Unpin>(
    writer: &mut W,
    command: &Command,
) -> io::Result<()> {
    let bytes = command
        .to_bytes()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    write_all(writer, &bytes).await
}
