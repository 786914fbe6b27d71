//! Storage quotas: how many bytes one user's files take, counted while bytes are written.
//!
//! Owns [`QuotaPolicy`] (what happens to an upload stopped at the quota), the per-user
//! `Usage` counter that all sessions of one user share, the `QuotaWriter` that charges
//! every byte before it reaches a writer, and the walk that measures a home directory once.
//! It does not decide who has a quota (the authenticator does, through
//! [`Principal::quota`](crate::auth::Principal::quota)) or which sessions share a counter
//! (the server does, per user name and home).
//!
//! # Counting
//!
//! Bytes are *reserved* from the quota before they are written, atomically, so any number of
//! concurrent uploads of one user can never together write past the limit; what a writer did
//! not take is given back. The counter is the sum of the sizes of the regular files under the
//! home, measured when the first session of the user logs in and kept current by the server
//! (uploads, truncation by STOR and REST, DELE, RNTO over a file). Changes made by other means
//! (another account whose home overlaps, local processes) are seen at the user's next first
//! login.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use ftp_proto::VirtualPath;
use ftp_proto::listing::EntryKind;
use ftp_proto::server::FsError;
use tokio::io::AsyncWrite;

use super::{DirEntries, Storage};

/// At most this many directory entries are read to measure a home directory at a user's
/// first login (one `read_dir` per directory, no file is opened). A home holding more is
/// treated as full: uploads get 552 until the user's last session ends (logged as a warning).
pub const MAX_SCAN_ENTRIES: usize = 100_000;

/// What happens to an upload stopped at the quota (552).
///
/// ```
/// use ftp_server_tokio::storage::quota::QuotaPolicy;
/// assert_eq!(QuotaPolicy::default(), QuotaPolicy::DeletePartial);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum QuotaPolicy {
    /// Undo the upload (the default): a STOR or STOU file is removed (for a STOR over an
    /// existing file its old content was replaced when the transfer started, so the file is
    /// gone), an APPE or REST+STOR file is cut back to the size it had when the transfer
    /// started. The usage goes back to what it was before the transfer (less anything the STOR
    /// truncated).
    #[default]
    DeletePartial,
    /// Keep what was written: the file holds the bytes up to the quota.
    KeepPartial,
}

/// Bytes one user's files take, against the user's quota; shared by all the user's sessions.
#[derive(Debug)]
pub(crate) struct Usage {
    limit: AtomicU64,
    used: AtomicU64,
    /// Held across every "measure a file, change it, give its bytes back" step (DELE, RNTO
    /// over a file, opening an upload that truncates, undoing a partial upload), so that two
    /// sessions of the user cannot both give back the same file's bytes.
    changes: tokio::sync::Mutex<()>,
}

impl Usage {
    pub(crate) fn new(limit: u64, used: u64) -> Self {
        Self {
            limit: AtomicU64::new(limit),
            used: AtomicU64::new(used),
            changes: tokio::sync::Mutex::new(()),
        }
    }

    /// Serialises the user's size-changing file operations (see the field).
    pub(crate) async fn changes(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.changes.lock().await
    }

    /// The latest login's quota applies from now on.
    pub(crate) fn set_limit(&self, limit: u64) {
        self.limit.store(limit, Ordering::Release);
    }

    /// Bytes counted now.
    pub(crate) fn used(&self) -> u64 {
        self.used.load(Ordering::Acquire)
    }

    /// Reserves up to `want` bytes; returns how many were granted (0 at the limit).
    pub(crate) fn grant(&self, want: u64) -> u64 {
        let limit = self.limit.load(Ordering::Acquire);
        let mut granted = 0;
        let _ = self
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                granted = want.min(limit.saturating_sub(used));
                (granted > 0).then_some(used + granted)
            });
        granted
    }

    /// Reserves exactly `bytes`, or nothing when they do not fit.
    pub(crate) fn charge(&self, bytes: u64) -> bool {
        if bytes == 0 {
            return true;
        }
        let limit = self.limit.load(Ordering::Acquire);
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(bytes).filter(|total| *total <= limit)
            })
            .is_ok()
    }

    /// Gives `bytes` back (files removed or cut, reservations not used).
    pub(crate) fn release(&self, bytes: u64) {
        if bytes == 0 {
            return;
        }
        let _ = self
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                Some(used.saturating_sub(bytes))
            });
    }
}

/// The I/O error a write stopped at the quota fails with; [`super::fs_error_of`] turns it
/// into [`FsError::QuotaExceeded`] (552).
pub(crate) fn quota_exceeded() -> io::Error {
    io::Error::other(FsError::QuotaExceeded)
}

/// A writer that reserves every byte from a [`Usage`] before passing it on, and fails with
/// [`FsError::QuotaExceeded`] once nothing is left: the file ends exactly at the limit.
pub(crate) struct QuotaWriter<W> {
    inner: W,
    usage: Arc<Usage>,
    /// Granted and not yet written (kept across `Pending`).
    reserved: u64,
}

impl<W> QuotaWriter<W> {
    pub(crate) fn new(inner: W, usage: Arc<Usage>) -> Self {
        Self {
            inner,
            usage,
            reserved: 0,
        }
    }
}

impl<W> Drop for QuotaWriter<W> {
    fn drop(&mut self) {
        self.usage.release(self.reserved);
    }
}

impl<W: AsyncWrite + Unpin> AsyncWrite for QuotaWriter<W> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if buf.is_empty() {
            return Pin::new(&mut this.inner).poll_write(cx, buf);
        }
        if this.reserved == 0 {
            this.reserved = this.usage.grant(buf.len() as u64);
            if this.reserved == 0 {
                return Poll::Ready(Err(quota_exceeded()));
            }
        }
        let n = usize::try_from(this.reserved).map_or(buf.len(), |r| r.min(buf.len()));
        let result = Pin::new(&mut this.inner).poll_write(cx, &buf[..n]);
        if let Poll::Ready(Ok(written)) = &result {
            this.reserved = this.reserved.saturating_sub(*written as u64);
        }
        result
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// What measuring a home directory found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Measured {
    /// Sum of the sizes of the regular files seen.
    pub(crate) bytes: u64,
    /// Every entry was seen (false: more than [`MAX_SCAN_ENTRIES`]).
    pub(crate) complete: bool,
}

/// Sums the sizes of the regular files under `home` (a storage path), reading at most
/// [`MAX_SCAN_ENTRIES`] entries. Symbolic links are not followed and count nothing;
/// directories that cannot be read are skipped. A missing home measures 0.
pub(crate) async fn measure<S: Storage>(storage: &S, home: &VirtualPath) -> Measured {
    let mut pending = vec![home.clone()];
    let mut bytes = 0u64;
    let mut seen = 0usize;
    while let Some(dir) = pending.pop() {
        let mut entries = match storage.read_dir(&dir).await {
            Ok(entries) => entries,
            Err(err) => {
                if &dir != home || err != FsError::NotFound {
                    tracing::debug!(%dir, error = %err, "quota: directory skipped");
                }
                continue;
            }
        };
        while let Some(entry) = entries.next_entry().await {
            seen += 1;
            if seen > MAX_SCAN_ENTRIES {
                return Measured {
                    bytes,
                    complete: false,
                };
            }
            let Ok(entry) = entry else { continue };
            match entry.kind {
                EntryKind::File => bytes = bytes.saturating_add(entry.size),
                EntryKind::Dir => {
                    if let Ok(child) = dir.join(&entry.name) {
                        pending.push(child);
                    }
                }
                _ => {}
            }
        }
    }
    Measured {
        bytes,
        complete: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_stop_at_the_limit() {
        let usage = Usage::new(10, 4);
        assert_eq!(usage.grant(4), 4);
        assert_eq!(usage.grant(4), 2);
        assert_eq!(usage.grant(4), 0);
        assert_eq!(usage.used(), 10);
        usage.release(3);
        assert!(!usage.charge(4));
        assert!(usage.charge(3));
        usage.release(100);
        assert_eq!(usage.used(), 0);
    }

    #[test]
    fn concurrent_grants_never_exceed_the_limit() {
        let usage = Arc::new(Usage::new(100_000, 0));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let usage = Arc::clone(&usage);
                std::thread::spawn(move || (0..10_000).map(|_| usage.grant(7)).sum::<u64>())
            })
            .collect();
        let total: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(total, 100_000);
        assert_eq!(usage.used(), 100_000);
    }

    #[tokio::test]
    async fn writer_ends_exactly_at_the_limit() {
        use tokio::io::AsyncWriteExt;
        let usage = Arc::new(Usage::new(10, 3));
        let mut out = Vec::new();
        let mut writer = QuotaWriter::new(&mut out, Arc::clone(&usage));
        let err = writer.write_all(b"0123456789").await.unwrap_err();
        assert_eq!(super::super::fs_error_of(&err), FsError::QuotaExceeded);
        drop(writer);
        assert_eq!(out, b"0123456");
        assert_eq!(usage.used(), 10);
    }
}
