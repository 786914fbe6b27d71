//! Files being uploaded to, server-wide, so that two uploads to one file do not interleave.
//!
//! Owns the set of storage paths with an upload (STOR, APPE) approved and not yet ended. A
//! second upload to a path in the set is refused (450, file busy) before anything is opened:
//! opening would already truncate the first upload's file. Claims are released by dropping
//! them (the transfer ended, failed or was never started). Paths are storage paths, the same
//! for every user; two names for one file (links) are not recognised. A download of a path in
//! the set is refused as well (450), rather than sending a file that is still being written.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use ftp_proto::VirtualPath;

/// The paths being uploaded to.
#[derive(Debug, Default)]
pub(crate) struct Uploads(Arc<Mutex<HashSet<VirtualPath>>>);

/// An upload's hold on its path; dropping it lets the next upload in.
#[derive(Debug)]
pub(crate) struct UploadClaim {
    set: Arc<Mutex<HashSet<VirtualPath>>>,
    path: VirtualPath,
}

impl Uploads {
    /// Claims `path` for one upload; `None` while another upload holds it.
    pub(crate) fn claim(&self, path: &VirtualPath) -> Option<UploadClaim> {
        let mut set = self.0.lock().ok()?;
        if !set.insert(path.clone()) {
            return None;
        }
        Some(UploadClaim {
            set: Arc::clone(&self.0),
            path: path.clone(),
        })
    }

    /// Whether any upload is running: most of the time none is, and the paths of a request
    /// need not be worked out.
    pub(crate) fn any(&self) -> bool {
        self.0.lock().is_ok_and(|set| !set.is_empty())
    }

    /// Whether an upload to `path` is running (a download of it would send a partial file).
    pub(crate) fn holds(&self, path: &VirtualPath) -> bool {
        self.0.lock().is_ok_and(|set| set.contains(path))
    }
}

impl Drop for UploadClaim {
    fn drop(&mut self) {
        if let Ok(mut set) = self.set.lock() {
            set.remove(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use ftp_proto::FtpPath;

    use super::*;

    #[test]
    fn one_upload_per_path_until_released() {
        let uploads = Uploads::default();
        let path = |s: &str| VirtualPath::root().resolve(&FtpPath::from(s)).unwrap();
        let first = uploads.claim(&path("/a")).unwrap();
        assert!(uploads.claim(&path("/a")).is_none());
        assert!(uploads.holds(&path("/a")) && !uploads.holds(&path("/b")));
        assert!(uploads.any());
        let other = uploads.claim(&path("/b")).unwrap();
        drop(first);
        let again = uploads.claim(&path("/a")).unwrap();
        drop((again, other));
        assert!(uploads.0.lock().unwrap().is_empty());
        assert!(!uploads.any());
    }
}
