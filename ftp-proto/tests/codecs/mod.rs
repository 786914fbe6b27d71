//! Drives the same bytes through every control-channel codec: the runtime-neutral
//! [`Decode`] trait, tokio-util's `Decoder` (feature `tokio`) and futures-io's `FramedRead`
//! (feature `async-std`), each fed in the given chunks. The property tests in commands.rs and
//! replies.rs assert that all three agree with the core's own parsers.

#![allow(dead_code)]

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use bytes::BytesMut;
use ftp_proto::codec::{
    ClientCodec, CommandDecoder, Decode, FramedRead, ReplyDecoder, ServerCodec,
};
use tokio_util::codec::Decoder;

/// Items from the neutral decoder, fed chunk by chunk.
pub(crate) fn neutral<D: Decode>(mut decoder: D, chunks: &[&[u8]]) -> Vec<D::Item> {
    let mut items = Vec::new();
    for chunk in chunks {
        let mut rest = *chunk;
        while !rest.is_empty() {
            let step = decoder.decode(rest);
            assert!(step.consumed <= rest.len());
            assert!(step.consumed > 0 || step.item.is_some(), "no progress");
            rest = &rest[step.consumed..];
            items.extend(step.item);
        }
    }
    items
}

/// Items from a tokio-util decoder, the way `Framed` calls it: append each read, decode until
/// `None`, and check the read buffer never keeps bytes (the decoders buffer partial lines
/// themselves, bounded by their caps).
pub(crate) fn tokio<C: Decoder<Error = io::Error>>(mut codec: C, chunks: &[&[u8]]) -> Vec<C::Item> {
    let mut buf = BytesMut::new();
    let mut items = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        while let Some(item) = codec
            .decode(&mut buf)
            .expect("decoding never fails with io errors")
        {
            items.push(item);
        }
        assert!(
            buf.is_empty(),
            "{} bytes left in the Framed buffer",
            buf.len()
        );
    }
    items
}

/// An `AsyncRead` that returns the chunks one per read, and `Pending` once between reads.
struct Chunked<'a> {
    chunks: Vec<&'a [u8]>,
    next: usize,
    pending: bool,
}

impl futures_io::AsyncRead for Chunked<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        if self.pending {
            self.pending = false;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        self.pending = true;
        let Some(chunk) = self.chunks.get(self.next).copied() else {
            return Poll::Ready(Ok(0));
        };
        let n = chunk.len().min(buf.len());
        buf[..n].copy_from_slice(&chunk[..n]);
        let next = self.next;
        if n == chunk.len() {
            self.next += 1;
        } else {
            self.chunks[next] = &chunk[n..];
        }
        Poll::Ready(Ok(n))
    }
}

/// Items from futures-io's `FramedRead` over a reader yielding the chunks (empty chunks are
/// skipped: a zero-byte read is EOF).
pub(crate) fn futures<D: Decode + Unpin>(decoder: D, chunks: &[&[u8]]) -> Vec<D::Item> {
    let reader = Chunked {
        chunks: chunks.iter().copied().filter(|c| !c.is_empty()).collect(),
        next: 0,
        pending: false,
    };
    let mut framed = FramedRead::new(reader, decoder);
    let mut items = Vec::new();
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..1_000_000 {
        let mut next = std::pin::pin!(framed.next());
        match next.as_mut().poll(&mut cx) {
            Poll::Pending => continue,
            Poll::Ready(None) => return items,
            Poll::Ready(Some(item)) => items.push(item.expect("no read errors")),
        }
    }
    panic!("FramedRead did not reach EOF");
}

/// The server role's decoders, in the order neutral, tokio, futures.
pub(crate) fn commands(chunks: &[&[u8]]) -> [Vec<<CommandDecoder as Decode>::Item>; 3] {
    [
        neutral(CommandDecoder::new(), chunks),
        tokio(ServerCodec::new(), chunks),
        futures(CommandDecoder::new(), chunks),
    ]
}

/// The client role's decoders, in the order neutral, tokio, futures.
pub(crate) fn replies(chunks: &[&[u8]]) -> [Vec<<ReplyDecoder as Decode>::Item>; 3] {
    [
        neutral(ReplyDecoder::new(), chunks),
        tokio(ClientCodec::new(), chunks),
        futures(ReplyDecoder::new(), chunks),
    ]
}
