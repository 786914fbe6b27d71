//! The local-filesystem back-end against a real directory: every operation's effects checked
//! with `std::fs`, and the escape attempts a hostile tree can make.

#![cfg(unix)]

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::symlink;

use ftp_server_tokio::ftp_proto::listing::{Entry, EntryKind};
use ftp_server_tokio::ftp_proto::server::FsError;
use ftp_server_tokio::ftp_proto::{FtpPath, Timestamp, VirtualPath};
use ftp_server_tokio::storage::fs::{FsStorage, MAX_UNIQUE_ATTEMPTS};
use ftp_server_tokio::storage::{DirEntries, Storage, WriteMode};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn vp(path: impl AsRef<[u8]>) -> VirtualPath {
    VirtualPath::root()
        .resolve(&FtpPath::from(path.as_ref()))
        .unwrap()
}

fn setup() -> (TempDir, FsStorage) {
    let tmp = tempfile::tempdir().unwrap();
    let storage = FsStorage::open(tmp.path()).unwrap();
    (tmp, storage)
}

const REPLACE: WriteMode = WriteMode::Replace { offset: 0 };

async fn read(storage: &FsStorage, path: &str, offset: u64) -> Result<Vec<u8>, FsError> {
    let mut file = storage.open_read(&vp(path), offset).await?;
    let mut out = Vec::new();
    file.read_to_end(&mut out).await.unwrap();
    Ok(out)
}

async fn write(
    storage: &FsStorage,
    path: &str,
    mode: WriteMode,
    data: &[u8],
) -> Result<(), FsError> {
    let mut file = storage.open_write(&vp(path), mode).await?;
    file.write_all(data).await.unwrap();
    file.shutdown().await.unwrap();
    Ok(())
}

async fn list(storage: &FsStorage, path: &str) -> Result<Vec<Entry>, FsError> {
    let mut dir = storage.read_dir(&vp(path)).await?;
    let mut out = Vec::new();
    while let Some(entry) = dir.next_entry().await {
        out.push(entry?);
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// FNV-1a, 64 bits.
fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

// ---------------------------------------------------------------------------------------------
// Opening and features

#[test]
fn open_refuses_a_missing_root_or_a_file() {
    let tmp = tempfile::tempdir().unwrap();
    let err = FsStorage::open(tmp.path().join("missing")).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    std::fs::write(tmp.path().join("file"), b"").unwrap();
    assert!(FsStorage::open(tmp.path().join("file")).is_err());
}

#[test]
fn features_report_set_modified_only() {
    let (_tmp, storage) = setup();
    let features = storage.features();
    assert!(features.set_modified);
    assert!(features.checksums.is_empty());
    assert!(!features.available_space);
}

#[tokio::test]
async fn available_space_is_not_supported() {
    let (_tmp, storage) = setup();
    assert_eq!(
        storage.available_space(&VirtualPath::root()).await,
        Err(FsError::NotSupported)
    );
}

// ---------------------------------------------------------------------------------------------
// metadata

#[tokio::test]
async fn metadata_describes_files_dirs_and_the_root() {
    let (tmp, storage) = setup();
    std::fs::write(tmp.path().join("a.txt"), b"hello").unwrap();
    std::fs::create_dir(tmp.path().join("sub")).unwrap();

    let root = storage.metadata(&VirtualPath::root()).await.unwrap();
    assert_eq!(
        (root.name.as_slice(), root.kind.is_dir()),
        (&b"/"[..], true)
    );

    let file = storage.metadata(&vp("/a.txt")).await.unwrap();
    assert_eq!(file.name, b"a.txt");
    assert_eq!((file.kind, file.size), (EntryKind::File, 5));
    let mtime = std::fs::metadata(tmp.path().join("a.txt"))
        .unwrap()
        .modified()
        .unwrap()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert_eq!(file.modified.unwrap().to_unix(), mtime as i64);
    assert_eq!(file.unix_mode.unwrap() & 0o170_000, 0o100_000);
    assert_eq!(file.nlink, Some(1));
    assert!(file.owner.is_some() && file.group.is_some() && file.unique.is_some());

    let dir = storage.metadata(&vp("/sub")).await.unwrap();
    assert_eq!(
        (dir.name.as_slice(), dir.kind),
        (&b"sub"[..], EntryKind::Dir)
    );
}

#[tokio::test]
async fn metadata_errors() {
    let (tmp, storage) = setup();
    std::fs::write(tmp.path().join("a.txt"), b"").unwrap();
    assert_eq!(
        storage.metadata(&vp("/missing")).await,
        Err(FsError::NotFound)
    );
    assert_eq!(
        storage.metadata(&vp("/a.txt/x")).await,
        Err(FsError::NotADirectory)
    );
    let long = "x".repeat(300);
    assert_eq!(
        storage.metadata(&vp(&long)).await,
        Err(FsError::NameNotAllowed)
    );
}

// ---------------------------------------------------------------------------------------------
// open_read

#[tokio::test]
async fn open_read_reads_from_an_offset() {
    let (tmp, storage) = setup();
    std::fs::write(tmp.path().join("a.txt"), b"0123456789").unwrap();
    assert_eq!(read(&storage, "/a.txt", 0).await.unwrap(), b"0123456789");
    assert_eq!(read(&storage, "/a.txt", 7).await.unwrap(), b"789");
    assert_eq!(read(&storage, "/a.txt", 10).await.unwrap(), b"");
    assert_eq!(read(&storage, "/a.txt", 1000).await.unwrap(), b"");
}

#[tokio::test]
async fn open_read_errors() {
    let (tmp, storage) = setup();
    std::fs::write(tmp.path().join("a.txt"), b"").unwrap();
    std::fs::create_dir(tmp.path().join("sub")).unwrap();
    assert_eq!(read(&storage, "/missing", 0).await, Err(FsError::NotFound));
    assert_eq!(read(&storage, "/sub", 0).await, Err(FsError::IsADirectory));
    assert_eq!(read(&storage, "/", 0).await, Err(FsError::IsADirectory));
    assert_eq!(
        read(&storage, "/a.txt/x", 0).await,
        Err(FsError::NotADirectory)
    );
}

#[tokio::test]
async fn special_files_are_not_opened() {
    let (tmp, storage) = setup();
    // A Unix socket stands in for any non-regular file (a FIFO's open would block).
    let _listener = std::os::unix::net::UnixListener::bind(tmp.path().join("sock")).unwrap();
    assert_eq!(
        read(&storage, "/sock", 0).await,
        Err(FsError::PermissionDenied)
    );
    assert_eq!(
        write(&storage, "/sock", REPLACE, b"x").await,
        Err(FsError::PermissionDenied)
    );
    // RETR's open-then-check: a socket cannot be opened at all (ENXIO), which is the same
    // refusal, not a local error (451).
    let opened = storage.open_read_entry(&vp("/sock"), 0).await;
    assert_eq!(opened.err(), Some(FsError::PermissionDenied));
    let entries = list(&storage, "/").await.unwrap();
    assert_eq!(entries[0].kind, EntryKind::Other);
    assert_eq!(entries[0].unix_mode.unwrap() & 0o170_000, 0o140_000);
}

// ---------------------------------------------------------------------------------------------
// open_write

#[tokio::test]
async fn replace_creates_truncates_and_honours_rest() {
    let (tmp, storage) = setup();
    let on_disk = || std::fs::read(tmp.path().join("a.txt")).unwrap();

    write(&storage, "/a.txt", REPLACE, b"0123456789")
        .await
        .unwrap();
    assert_eq!(on_disk(), b"0123456789");
    write(&storage, "/a.txt", REPLACE, b"abc").await.unwrap();
    assert_eq!(on_disk(), b"abc");

    std::fs::write(tmp.path().join("a.txt"), b"0123456789").unwrap();
    write(&storage, "/a.txt", WriteMode::Replace { offset: 4 }, b"xy")
        .await
        .unwrap();
    assert_eq!(
        on_disk(),
        b"0123xy",
        "cut at the offset, then written there"
    );

    assert_eq!(
        write(&storage, "/a.txt", WriteMode::Replace { offset: 8 }, b"z").await,
        Err(FsError::OffsetPastEnd)
    );
    assert_eq!(on_disk(), b"0123xy", "no hole of zeros, nothing cut");
    write(&storage, "/a.txt", WriteMode::Replace { offset: 6 }, b"z")
        .await
        .unwrap();
    assert_eq!(on_disk(), b"0123xyz", "resuming at the very end appends");

    assert_eq!(
        write(&storage, "/new.txt", WriteMode::Replace { offset: 1 }, b"z").await,
        Err(FsError::OffsetPastEnd)
    );
    assert!(
        !tmp.path().join("new.txt").exists(),
        "resuming a file that is not there creates nothing"
    );
}

#[tokio::test]
async fn append_creates_then_appends() {
    let (tmp, storage) = setup();
    write(&storage, "/log", WriteMode::Append, b"one\n")
        .await
        .unwrap();
    write(&storage, "/log", WriteMode::Append, b"two\n")
        .await
        .unwrap();
    assert_eq!(
        std::fs::read(tmp.path().join("log")).unwrap(),
        b"one\ntwo\n"
    );
}

#[tokio::test]
async fn open_write_errors() {
    let (tmp, storage) = setup();
    std::fs::write(tmp.path().join("a.txt"), b"keep").unwrap();
    std::fs::create_dir(tmp.path().join("sub")).unwrap();
    assert_eq!(
        write(&storage, "/missing/a", REPLACE, b"").await,
        Err(FsError::NotFound)
    );
    assert_eq!(
        write(&storage, "/sub", REPLACE, b"").await,
        Err(FsError::IsADirectory)
    );
    assert_eq!(
        write(&storage, "/sub", WriteMode::Append, b"").await,
        Err(FsError::IsADirectory)
    );
    assert_eq!(
        write(&storage, "/", REPLACE, b"").await,
        Err(FsError::IsADirectory)
    );
    assert_eq!(
        write(&storage, "/a.txt/b", REPLACE, b"").await,
        Err(FsError::NotADirectory)
    );
    assert_eq!(std::fs::read(tmp.path().join("a.txt")).unwrap(), b"keep");
    assert!(tmp.path().join("sub").is_dir());
}

#[tokio::test]
async fn five_mib_round_trip() {
    let (tmp, storage) = setup();
    let data: Vec<u8> = (0..5 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let mut file = storage.open_write(&vp("/big.bin"), REPLACE).await.unwrap();
    for chunk in data.chunks(64 * 1024 + 7) {
        file.write_all(chunk).await.unwrap();
    }
    file.shutdown().await.unwrap();
    drop(file);

    let on_disk = std::fs::read(tmp.path().join("big.bin")).unwrap();
    assert_eq!((on_disk.len(), fnv1a(&on_disk)), (data.len(), fnv1a(&data)));
    let back = read(&storage, "/big.bin", 0).await.unwrap();
    assert_eq!((back.len(), fnv1a(&back)), (data.len(), fnv1a(&data)));
    let tail = read(&storage, "/big.bin", 3_000_001).await.unwrap();
    assert_eq!(fnv1a(&tail), fnv1a(&data[3_000_001..]));
}

// ---------------------------------------------------------------------------------------------
// create_unique

#[tokio::test]
async fn create_unique_uses_the_hint_then_numbered_suffixes() {
    let (tmp, storage) = setup();
    std::fs::create_dir(tmp.path().join("in")).unwrap();
    std::fs::write(tmp.path().join("in/up.txt"), b"old").unwrap();

    let mut chosen = Vec::new();
    for data in [&b"one"[..], b"two"] {
        let (path, mut file) = storage
            .create_unique(&vp("/in"), Some(b"up.txt"))
            .await
            .unwrap();
        file.write_all(data).await.unwrap();
        file.shutdown().await.unwrap();
        chosen.push(path.to_string());
    }
    assert_eq!(chosen, ["/in/up.txt.1", "/in/up.txt.2"]);
    assert_eq!(std::fs::read(tmp.path().join("in/up.txt")).unwrap(), b"old");
    assert_eq!(
        std::fs::read(tmp.path().join("in/up.txt.1")).unwrap(),
        b"one"
    );
    assert_eq!(
        std::fs::read(tmp.path().join("in/up.txt.2")).unwrap(),
        b"two"
    );
}

#[tokio::test]
async fn create_unique_without_a_usable_hint_names_stou_n() {
    let (tmp, storage) = setup();
    std::fs::write(tmp.path().join("stou-2"), b"taken").unwrap();
    let (a, _) = storage
        .create_unique(&VirtualPath::root(), None)
        .await
        .unwrap();
    let (b, _) = storage
        .create_unique(&VirtualPath::root(), Some(b"a/b"))
        .await
        .unwrap();
    let (c, _) = storage
        .create_unique(&VirtualPath::root(), Some(b".."))
        .await
        .unwrap();
    let (d, _) = storage
        .create_unique(&VirtualPath::root(), Some(b""))
        .await
        .unwrap();
    let names = [a, b, c, d].map(|p| p.to_string());
    assert_eq!(names, ["/stou-1", "/stou-2.1", "/stou-3", "/stou-4"]);
    for name in ["stou-1", "stou-2.1", "stou-3", "stou-4"] {
        assert!(tmp.path().join(name).is_file(), "{name}");
    }
    assert_eq!(std::fs::read(tmp.path().join("stou-2")).unwrap(), b"taken");
}

#[tokio::test]
async fn create_unique_gives_up_after_bounded_attempts() {
    let (tmp, storage) = setup();
    std::fs::write(tmp.path().join("x"), b"").unwrap();
    for i in 1..MAX_UNIQUE_ATTEMPTS {
        std::fs::write(tmp.path().join(format!("x.{i}")), b"").unwrap();
    }
    let result = storage
        .create_unique(&VirtualPath::root(), Some(b"x"))
        .await;
    assert_eq!(result.err(), Some(FsError::AlreadyExists));
    let count = std::fs::read_dir(tmp.path()).unwrap().count();
    assert_eq!(count, MAX_UNIQUE_ATTEMPTS as usize);
}

#[tokio::test]
async fn create_unique_errors() {
    let (tmp, storage) = setup();
    std::fs::write(tmp.path().join("file"), b"").unwrap();
    let missing = storage.create_unique(&vp("/missing"), None).await;
    assert_eq!(missing.err(), Some(FsError::NotFound));
    let in_file = storage.create_unique(&vp("/file"), Some(b"a")).await;
    assert_eq!(in_file.err(), Some(FsError::NotADirectory));
}

// ---------------------------------------------------------------------------------------------
// remove_file, create_dir, remove_dir

#[tokio::test]
async fn remove_file_deletes_files_only() {
    let (tmp, storage) = setup();
    std::fs::write(tmp.path().join("a.txt"), b"").unwrap();
    std::fs::create_dir(tmp.path().join("sub")).unwrap();

    storage.remove_file(&vp("/a.txt")).await.unwrap();
    assert!(!tmp.path().join("a.txt").exists());
    assert_eq!(
        storage.remove_file(&vp("/a.txt")).await,
        Err(FsError::NotFound)
    );
    assert_eq!(
        storage.remove_file(&vp("/sub")).await,
        Err(FsError::IsADirectory)
    );
    assert_eq!(
        storage.remove_file(&VirtualPath::root()).await,
        Err(FsError::IsADirectory)
    );
    assert!(tmp.path().join("sub").is_dir());
}

#[tokio::test]
async fn create_dir_and_its_errors() {
    let (tmp, storage) = setup();
    std::fs::write(tmp.path().join("file"), b"").unwrap();

    storage.create_dir(&vp("/new")).await.unwrap();
    assert!(tmp.path().join("new").is_dir());
    storage.create_dir(&vp("/new/deeper")).await.unwrap();
    assert!(tmp.path().join("new/deeper").is_dir());

    assert_eq!(
        storage.create_dir(&vp("/new")).await,
        Err(FsError::AlreadyExists)
    );
    assert_eq!(
        storage.create_dir(&vp("/file")).await,
        Err(FsError::AlreadyExists)
    );
    assert_eq!(
        storage.create_dir(&VirtualPath::root()).await,
        Err(FsError::AlreadyExists)
    );
    assert_eq!(
        storage.create_dir(&vp("/no/such")).await,
        Err(FsError::NotFound)
    );
    assert_eq!(
        storage.create_dir(&vp("/file/sub")).await,
        Err(FsError::NotADirectory)
    );
}

#[tokio::test]
async fn remove_dir_and_its_errors() {
    let (tmp, storage) = setup();
    std::fs::create_dir_all(tmp.path().join("full/inner")).unwrap();
    std::fs::create_dir(tmp.path().join("empty")).unwrap();
    std::fs::write(tmp.path().join("file"), b"").unwrap();

    storage.remove_dir(&vp("/empty")).await.unwrap();
    assert!(!tmp.path().join("empty").exists());
    assert_eq!(
        storage.remove_dir(&vp("/full")).await,
        Err(FsError::DirectoryNotEmpty)
    );
    assert_eq!(
        storage.remove_dir(&vp("/file")).await,
        Err(FsError::NotADirectory)
    );
    assert_eq!(
        storage.remove_dir(&vp("/empty")).await,
        Err(FsError::NotFound)
    );
    assert_eq!(
        storage.remove_dir(&VirtualPath::root()).await,
        Err(FsError::PermissionDenied)
    );
    assert!(tmp.path().join("full/inner").is_dir() && tmp.path().join("file").is_file());
}

// ---------------------------------------------------------------------------------------------
// rename

#[tokio::test]
async fn rename_moves_files_and_dirs_and_replaces_files() {
    let (tmp, storage) = setup();
    let p = |name: &str| tmp.path().join(name);
    std::fs::write(p("a"), b"A").unwrap();
    std::fs::write(p("b"), b"B").unwrap();
    std::fs::create_dir_all(p("d/inner")).unwrap();

    storage.rename(&vp("/a"), &vp("/d/a2")).await.unwrap();
    assert!(!p("a").exists());
    assert_eq!(std::fs::read(p("d/a2")).unwrap(), b"A");

    storage.rename(&vp("/b"), &vp("/d/a2")).await.unwrap();
    assert!(!p("b").exists());
    assert_eq!(
        std::fs::read(p("d/a2")).unwrap(),
        b"B",
        "an existing file is replaced"
    );

    storage.rename(&vp("/d"), &vp("/e")).await.unwrap();
    assert!(p("e/inner").is_dir() && p("e/a2").is_file() && !p("d").exists());

    storage.rename(&vp("/e/a2"), &vp("/e/a2")).await.unwrap();
    assert!(p("e/a2").is_file());
}

#[tokio::test]
async fn rename_errors() {
    let (tmp, storage) = setup();
    let p = |name: &str| tmp.path().join(name);
    std::fs::write(p("f"), b"F").unwrap();
    std::fs::create_dir_all(p("d/inner")).unwrap();
    std::fs::write(p("d/inner/x"), b"").unwrap();

    assert_eq!(
        storage.rename(&vp("/missing"), &vp("/x")).await,
        Err(FsError::NotFound)
    );
    assert_eq!(
        storage.rename(&vp("/f"), &vp("/no/x")).await,
        Err(FsError::NotFound)
    );
    assert_eq!(
        storage.rename(&vp("/f"), &vp("/d/inner")).await,
        Err(FsError::IsADirectory)
    );
    assert_eq!(
        storage.rename(&vp("/d"), &vp("/f")).await,
        Err(FsError::NotADirectory)
    );
    assert_eq!(
        storage.rename(&vp("/d"), &vp("/d/inner/d")).await,
        Err(FsError::PermissionDenied)
    );
    assert_eq!(
        storage.rename(&VirtualPath::root(), &vp("/r")).await,
        Err(FsError::PermissionDenied)
    );
    assert_eq!(
        storage.rename(&vp("/f"), &VirtualPath::root()).await,
        Err(FsError::PermissionDenied)
    );
    std::fs::create_dir(p("other")).unwrap();
    std::fs::write(p("other/y"), b"").unwrap();
    assert_eq!(
        storage.rename(&vp("/d"), &vp("/other")).await,
        Err(FsError::DirectoryNotEmpty)
    );
    assert_eq!(std::fs::read(p("f")).unwrap(), b"F");
    assert!(p("d/inner/x").is_file() && p("other/y").is_file());
}

// ---------------------------------------------------------------------------------------------
// set_modified

#[tokio::test]
async fn set_modified_sets_the_mtime() {
    let (tmp, storage) = setup();
    std::fs::write(tmp.path().join("a"), b"").unwrap();
    std::fs::create_dir(tmp.path().join("d")).unwrap();
    let when = Timestamp::parse(b"20200102030405.678").unwrap();

    for (path, on_disk) in [("/a", "a"), ("/d", "d")] {
        storage.set_modified(&vp(path), when).await.unwrap();
        let mtime = std::fs::metadata(tmp.path().join(on_disk))
            .unwrap()
            .modified()
            .unwrap()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap();
        assert_eq!(mtime.as_millis(), 1_577_934_245_678, "{path}");
        let entry = storage.metadata(&vp(path)).await.unwrap();
        assert_eq!(entry.modified, Timestamp::parse(b"20200102030405").ok());
    }
    storage
        .set_modified(&VirtualPath::root(), when)
        .await
        .unwrap();
    assert_eq!(
        storage.set_modified(&vp("/missing"), when).await,
        Err(FsError::NotFound)
    );
    // Before 1970: refused (504), not a panic on a blocking thread, and nothing changes.
    for early in [&b"19691231235959"[..], b"00010101000000"] {
        let early = Timestamp::parse(early).unwrap();
        assert_eq!(
            storage.set_modified(&vp("/a"), early).await,
            Err(FsError::NotSupported)
        );
    }
    let entry = storage.metadata(&vp("/a")).await.unwrap();
    assert_eq!(entry.modified, Timestamp::parse(b"20200102030405").ok());
}

// ---------------------------------------------------------------------------------------------
// read_dir and names

#[tokio::test]
async fn read_dir_returns_every_one_of_1000_files() {
    let (tmp, storage) = setup();
    for i in 0..1000 {
        std::fs::write(tmp.path().join(format!("file-{i:04}")), i.to_string()).unwrap();
    }
    let entries = list(&storage, "/").await.unwrap();
    assert_eq!(entries.len(), 1000);
    for (i, entry) in entries.iter().enumerate() {
        assert_eq!(entry.name, format!("file-{i:04}").into_bytes());
        assert_eq!(
            (&entry.kind, entry.size),
            (&EntryKind::File, i.to_string().len() as u64)
        );
        assert!(entry.modified.is_some());
    }
}

#[tokio::test]
async fn read_dir_reports_kinds_without_following_links() {
    let (tmp, storage) = setup();
    std::fs::write(tmp.path().join("f"), b"12345").unwrap();
    std::fs::create_dir(tmp.path().join("d")).unwrap();
    std::fs::write(tmp.path().join("d/inner"), b"").unwrap();
    symlink("f", tmp.path().join("l")).unwrap();
    symlink("gone", tmp.path().join("dangling")).unwrap();

    let entries = list(&storage, "/").await.unwrap();
    let summary: Vec<_> = entries
        .iter()
        .map(|e| (e.name.as_slice(), &e.kind))
        .collect();
    assert_eq!(
        summary,
        [
            (&b"d"[..], &EntryKind::Dir),
            (
                b"dangling",
                &EntryKind::Symlink {
                    target: Some(b"gone".to_vec())
                }
            ),
            (b"f", &EntryKind::File),
            (
                b"l",
                &EntryKind::Symlink {
                    target: Some(b"f".to_vec())
                }
            ),
        ]
    );
    assert_eq!(entries[2].size, 5);
    assert_eq!(list(&storage, "/d").await.unwrap().len(), 1);
    assert_eq!(
        list(&storage, "/d/inner").await.err(),
        Some(FsError::NotADirectory)
    );
    assert_eq!(
        list(&storage, "/f").await.err(),
        Some(FsError::NotADirectory)
    );
    assert_eq!(
        list(&storage, "/missing").await.err(),
        Some(FsError::NotFound)
    );
}

#[tokio::test]
async fn empty_dir_lists_nothing() {
    let (_tmp, storage) = setup();
    let mut dir = storage.read_dir(&VirtualPath::root()).await.unwrap();
    assert!(dir.next_entry().await.is_none());
    assert!(dir.next_entry().await.is_none());
}

#[tokio::test]
async fn non_utf8_and_spaced_names_are_byte_exact() {
    let (tmp, storage) = setup();
    let names: [&[u8]; 4] = [b"caf\xe9.txt", b" lead and trail ", b"a b\tc", b"\xff\xfe"];
    for name in names {
        let path = VirtualPath::root().join(name).unwrap();
        let mut file = storage.open_write(&path, REPLACE).await.unwrap();
        file.write_all(name).await.unwrap();
        file.shutdown().await.unwrap();
        let on_disk = tmp.path().join(OsStr::from_bytes(name));
        assert_eq!(std::fs::read(&on_disk).unwrap(), name);
        assert_eq!(storage.metadata(&path).await.unwrap().name, name);
    }
    let listed: Vec<Vec<u8>> = list(&storage, "/")
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    let mut want: Vec<Vec<u8>> = names.iter().map(|n| n.to_vec()).collect();
    want.sort();
    assert_eq!(listed, want);

    let dir = VirtualPath::root().join(b"d\xe9 r").unwrap();
    storage.create_dir(&dir).await.unwrap();
    let to = dir.join(b"moved \xe9").unwrap();
    storage
        .rename(&VirtualPath::root().join(b"caf\xe9.txt").unwrap(), &to)
        .await
        .unwrap();
    assert!(
        tmp.path()
            .join(OsStr::from_bytes(b"d\xe9 r/moved \xe9"))
            .is_file()
    );
    storage.remove_file(&to).await.unwrap();
    storage.remove_dir(&dir).await.unwrap();
    assert!(!tmp.path().join(OsStr::from_bytes(b"d\xe9 r")).exists());
}

// ---------------------------------------------------------------------------------------------
// Security: symlinks that lead out of the root

/// A base directory holding `root/` (the storage root) and `outside/` (with `secret.txt` and
/// `sub/`), with symlinks in the root that lead out in every way a link can.
struct Escape {
    base: TempDir,
    storage: FsStorage,
}

impl Escape {
    fn new() -> Self {
        let base = tempfile::tempdir().unwrap();
        let (root, outside) = (base.path().join("root"), base.path().join("outside"));
        std::fs::create_dir_all(outside.join("sub")).unwrap();
        std::fs::write(outside.join("secret.txt"), b"secret").unwrap();
        std::fs::create_dir_all(root.join("inside")).unwrap();
        std::fs::write(root.join("inside/ok.txt"), b"ok").unwrap();
        std::fs::write(root.join("a.txt"), b"A").unwrap();
        // Absolute and relative links to a file and a directory outside, a dangling link to
        // a new name outside, a link to /etc, and links that stay inside.
        symlink(outside.join("secret.txt"), root.join("file_abs")).unwrap();
        symlink("../outside/secret.txt", root.join("file_rel")).unwrap();
        symlink(&outside, root.join("dir_abs")).unwrap();
        symlink("../outside", root.join("dir_rel")).unwrap();
        symlink("inside/../../outside", root.join("dir_sneaky")).unwrap();
        symlink(outside.join("created.txt"), root.join("dangling_out")).unwrap();
        symlink("/etc", root.join("etc")).unwrap();
        symlink("inside", root.join("dir_in")).unwrap();
        symlink("inside/ok.txt", root.join("file_in")).unwrap();
        let storage = FsStorage::open(&root).unwrap();
        Self { base, storage }
    }

    fn outside(&self, name: &str) -> std::path::PathBuf {
        self.base.path().join("outside").join(name)
    }

    /// The outside tree is exactly as it was made.
    fn assert_outside_untouched(&self) {
        assert_eq!(
            std::fs::read(self.outside("secret.txt")).unwrap(),
            b"secret"
        );
        assert!(self.outside("sub").is_dir());
        let mut names: Vec<_> = std::fs::read_dir(self.outside(""))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        assert_eq!(names, ["secret.txt", "sub"]);
        assert!(
            std::fs::read_dir(self.outside("sub"))
                .unwrap()
                .next()
                .is_none()
        );
    }
}

const OUT_FILES: [&str; 5] = [
    "/file_abs",
    "/file_rel",
    "/dir_abs/secret.txt",
    "/dir_rel/secret.txt",
    "/dir_sneaky/secret.txt",
];
const OUT_DIRS: [&str; 4] = ["/dir_abs", "/dir_rel", "/dir_sneaky", "/etc"];

#[tokio::test]
async fn escaping_links_cannot_be_read_or_listed() {
    let esc = Escape::new();
    let s = &esc.storage;
    for path in OUT_FILES.iter().chain(&["/etc/passwd", "/etc/hostname"]) {
        assert_eq!(
            read(s, path, 0).await,
            Err(FsError::PermissionDenied),
            "{path}"
        );
        assert_eq!(
            s.metadata(&vp(path)).await,
            Err(FsError::PermissionDenied),
            "{path}"
        );
    }
    for path in OUT_DIRS {
        assert_eq!(
            list(s, path).await.err(),
            Some(FsError::PermissionDenied),
            "{path}"
        );
        assert_eq!(
            s.metadata(&vp(path)).await,
            Err(FsError::PermissionDenied),
            "{path}"
        );
    }
    assert_eq!(
        list(s, "/dir_abs/sub").await.err(),
        Some(FsError::PermissionDenied)
    );
    esc.assert_outside_untouched();
}

#[tokio::test]
async fn escaping_links_cannot_be_written_through() {
    let esc = Escape::new();
    let s = &esc.storage;
    for mode in [REPLACE, WriteMode::Replace { offset: 2 }, WriteMode::Append] {
        for path in OUT_FILES
            .iter()
            .chain(&["/dangling_out", "/dir_abs/new.txt", "/etc/new"])
        {
            assert_eq!(
                write(s, path, mode, b"pwned").await,
                Err(FsError::PermissionDenied),
                "{path} {mode:?}"
            );
        }
    }
    for dir in OUT_DIRS {
        let unique = s.create_unique(&vp(dir), Some(b"x")).await;
        assert_eq!(unique.err(), Some(FsError::PermissionDenied), "{dir}");
        let made = s.create_dir(&vp(format!("{dir}/newdir"))).await;
        assert_eq!(made, Err(FsError::PermissionDenied), "{dir}");
    }
    let when = Timestamp::parse(b"20000101000000").unwrap();
    let before = std::fs::metadata(esc.outside("secret.txt"))
        .unwrap()
        .modified()
        .unwrap();
    for path in OUT_FILES {
        assert_eq!(
            s.set_modified(&vp(path), when).await,
            Err(FsError::PermissionDenied)
        );
    }
    let after = std::fs::metadata(esc.outside("secret.txt"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(before, after);
    esc.assert_outside_untouched();
}

#[tokio::test]
async fn escaping_links_cannot_be_deleted_or_renamed_through() {
    let esc = Escape::new();
    let s = &esc.storage;
    for dir in ["/dir_abs", "/dir_rel", "/dir_sneaky"] {
        let secret = vp(format!("{dir}/secret.txt"));
        assert_eq!(s.remove_file(&secret).await, Err(FsError::PermissionDenied));
        assert_eq!(
            s.remove_dir(&vp(format!("{dir}/sub"))).await,
            Err(FsError::PermissionDenied)
        );
        assert_eq!(
            s.rename(&secret, &vp("/stolen")).await,
            Err(FsError::PermissionDenied)
        );
        assert_eq!(
            s.rename(&vp("/a.txt"), &vp(format!("{dir}/planted"))).await,
            Err(FsError::PermissionDenied)
        );
    }
    assert_eq!(
        s.remove_file(&vp("/etc/hostname")).await,
        Err(FsError::PermissionDenied)
    );
    assert!(esc.base.path().join("root/a.txt").is_file());
    esc.assert_outside_untouched();
}

#[tokio::test]
async fn links_themselves_are_removed_and_replaced_not_followed() {
    let esc = Escape::new();
    let (s, root) = (&esc.storage, esc.base.path().join("root"));

    // DELE of a link removes the link; RNTO onto a link replaces the link.
    s.remove_file(&vp("/file_abs")).await.unwrap();
    assert!(std::fs::symlink_metadata(root.join("file_abs")).is_err());
    s.rename(&vp("/a.txt"), &vp("/file_rel")).await.unwrap();
    let replaced = std::fs::symlink_metadata(root.join("file_rel")).unwrap();
    assert!(replaced.is_file());
    assert_eq!(std::fs::read(root.join("file_rel")).unwrap(), b"A");
    // RMD of a link to a directory is refused (it is not a directory); DELE removes it.
    assert_eq!(
        s.remove_dir(&vp("/dir_abs")).await,
        Err(FsError::NotADirectory)
    );
    s.remove_file(&vp("/dir_abs")).await.unwrap();
    // Renaming a link moves the link.
    s.rename(&vp("/etc"), &vp("/inside/etc")).await.unwrap();
    assert_eq!(
        read(s, "/inside/etc/passwd", 0).await,
        Err(FsError::PermissionDenied)
    );
    esc.assert_outside_untouched();
}

#[tokio::test]
async fn listing_shows_escaping_links_as_links_without_their_targets() {
    let esc = Escape::new();
    // Targets that would name the host's directories are left out; the link is still a link.
    let entries = list(&esc.storage, "/").await.unwrap();
    for name in [&b"etc"[..], b"file_rel"] {
        let link = entries.iter().find(|e| e.name == name).unwrap();
        assert_eq!(link.kind, EntryKind::Symlink { target: None }, "{link:?}");
    }
    // Targets that stay inside are shown, relative to the listed directory.
    let root = esc.base.path().join("root");
    std::fs::create_dir(root.join("d")).unwrap();
    symlink("../a.txt", root.join("d/up-inside")).unwrap();
    symlink("../../up-outside", root.join("d/up-outside")).unwrap();
    symlink("sibling", root.join("d/near")).unwrap();
    let entries = list(&esc.storage, "/d").await.unwrap();
    let kind = |name: &[u8]| {
        entries
            .iter()
            .find(|e| e.name == name)
            .unwrap()
            .kind
            .clone()
    };
    let shown = |t: &[u8]| EntryKind::Symlink {
        target: Some(t.to_vec()),
    };
    assert_eq!(kind(b"up-inside"), shown(b"../a.txt"));
    assert_eq!(kind(b"near"), shown(b"sibling"));
    assert_eq!(kind(b"up-outside"), EntryKind::Symlink { target: None });
}

#[tokio::test]
async fn links_that_stay_inside_are_followed() {
    let esc = Escape::new();
    let s = &esc.storage;
    assert_eq!(read(s, "/file_in", 0).await.unwrap(), b"ok");
    assert_eq!(read(s, "/dir_in/ok.txt", 0).await.unwrap(), b"ok");
    assert_eq!(list(s, "/dir_in").await.unwrap()[0].name, b"ok.txt");
    assert!(s.metadata(&vp("/dir_in")).await.unwrap().kind.is_dir());
    write(s, "/dir_in/new.txt", REPLACE, b"new").await.unwrap();
    write(s, "/file_in", WriteMode::Append, b"!").await.unwrap();
    let inside = esc.base.path().join("root/inside");
    assert_eq!(std::fs::read(inside.join("new.txt")).unwrap(), b"new");
    assert_eq!(std::fs::read(inside.join("ok.txt")).unwrap(), b"ok!");
    s.remove_file(&vp("/dir_in/new.txt")).await.unwrap();
    assert!(!inside.join("new.txt").exists());
}

/// `lstat` semantics: the link at the last segment is described, whatever it leads to.
#[tokio::test]
async fn symlink_metadata_describes_the_link_itself() {
    let esc = Escape::new();
    let (s, root) = (&esc.storage, esc.base.path().join("root"));
    symlink("gone", root.join("dangling")).unwrap();
    for name in ["/dangling", "/dangling_out", "/file_abs", "/etc", "/dir_in"] {
        let entry = s.symlink_metadata(&vp(name)).await.unwrap();
        assert!(
            matches!(entry.kind, EntryKind::Symlink { .. }),
            "{name}: {entry:?}"
        );
        assert_eq!(entry.name, name.trim_start_matches('/').as_bytes());
    }
    assert_eq!(
        s.symlink_metadata(&vp("/a.txt")).await.unwrap().kind,
        EntryKind::File
    );
    assert!(s.symlink_metadata(&vp("/")).await.unwrap().kind.is_dir());
    assert_eq!(
        s.symlink_metadata(&vp("/missing")).await,
        Err(FsError::NotFound)
    );
    // Links before the last segment are followed, and an escape through them is refused.
    for path in ["/dir_abs/secret.txt", "/dir_rel/sub", "/etc/passwd"] {
        assert_eq!(
            s.symlink_metadata(&vp(path)).await,
            Err(FsError::PermissionDenied),
            "{path}"
        );
    }
    // Renaming a dangling link moves the link; renaming one that leads outside moves the link
    // inside the root, and what it leads to is never touched.
    s.rename(&vp("/dangling"), &vp("/inside/moved"))
        .await
        .unwrap();
    assert_eq!(
        std::fs::read_link(root.join("inside/moved")).unwrap(),
        std::path::Path::new("gone")
    );
    s.rename(&vp("/file_abs"), &vp("/inside/abs"))
        .await
        .unwrap();
    assert_eq!(
        read(s, "/inside/abs", 0).await,
        Err(FsError::PermissionDenied)
    );
    esc.assert_outside_untouched();
}

/// A loop (a -> b -> a, or a link to itself) leads nowhere, for good: `NotFound` (550), not the
/// transient `Local` (451) that clients retry forever.
#[tokio::test]
async fn symlink_loops_are_not_found() {
    let (tmp, s) = setup();
    symlink("loop-b", tmp.path().join("loop-a")).unwrap();
    symlink("loop-a", tmp.path().join("loop-b")).unwrap();
    symlink("self", tmp.path().join("self")).unwrap();
    let when = Timestamp::parse(b"20000101000000").unwrap();
    for path in ["/loop-a", "/self", "/loop-a/x"] {
        let at = vp(path);
        assert_eq!(s.metadata(&at).await, Err(FsError::NotFound), "{path}");
        assert_eq!(
            list(&s, path).await.err(),
            Some(FsError::NotFound),
            "{path}"
        );
        assert_eq!(read(&s, path, 0).await, Err(FsError::NotFound), "{path}");
        let opened = s.open_read_entry(&at, 0).await.map(|(_, entry)| entry);
        assert_eq!(opened, Err(FsError::NotFound), "{path}");
        for mode in [REPLACE, WriteMode::Append] {
            let written = write(&s, path, mode, b"x").await;
            assert_eq!(written, Err(FsError::NotFound), "{path} {mode:?}");
        }
        assert_eq!(s.set_modified(&at, when).await, Err(FsError::NotFound));
        assert_eq!(s.set_permissions(&at, 0o644).await, Err(FsError::NotFound));
        assert_eq!(s.confine(&at).await.err(), Some(FsError::NotFound));
    }
    let made = s.create_dir(&vp("/loop-a/new")).await;
    assert_eq!(made, Err(FsError::NotFound));
    // The links themselves are there, and can be renamed and removed.
    assert!(matches!(
        s.symlink_metadata(&vp("/self")).await.unwrap().kind,
        EntryKind::Symlink { .. }
    ));
    s.rename(&vp("/self"), &vp("/renamed")).await.unwrap();
    s.remove_file(&vp("/renamed")).await.unwrap();
    assert!(std::fs::symlink_metadata(tmp.path().join("renamed")).is_err());
}

/// A symlink's entry in a listing carries, in its mode's type bits, the type of what it leads
/// to (followed beneath the root, as `metadata` follows it); its permission bits stay the
/// link's own.
#[tokio::test]
async fn listed_links_carry_the_type_of_what_they_lead_to() {
    const S_IFMT: u32 = 0o170_000;
    let esc = Escape::new();
    let root = esc.base.path().join("root");
    symlink("gone", root.join("dangling")).unwrap();
    symlink("loop", root.join("loop")).unwrap();
    std::fs::create_dir(root.join("d")).unwrap();
    symlink("../inside", root.join("d/up-dir")).unwrap();
    let _socket = std::os::unix::net::UnixListener::bind(root.join("sock")).unwrap();
    symlink("sock", root.join("to-sock")).unwrap();
    let entries = list(&esc.storage, "/").await.unwrap();
    let mode = |name: &str| {
        let entry = entries.iter().find(|e| e.name == name.as_bytes()).unwrap();
        assert!(matches!(entry.kind, EntryKind::Symlink { .. }), "{entry:?}");
        entry.unix_mode.unwrap()
    };
    for (name, file_type) in [
        ("dir_in", 0o040_000),
        ("file_in", 0o100_000),
        ("to-sock", 0o140_000),
        ("dangling", 0o120_000),
        ("loop", 0o120_000),
        ("file_abs", 0o120_000),
        ("etc", 0o120_000),
        ("dir_sneaky", 0o120_000),
    ] {
        assert_eq!(mode(name) & S_IFMT, file_type, "{name}");
        assert_eq!(mode(name) & 0o777, 0o777, "{name}");
    }
    // Followed beneath the root, not beneath the listed directory.
    let entries = list(&esc.storage, "/d").await.unwrap();
    assert_eq!(entries[0].unix_mode.unwrap() & S_IFMT, 0o040_000);
    esc.assert_outside_untouched();
}

#[tokio::test]
async fn create_new_refuses_any_existing_name_links_included() {
    let (tmp, storage) = setup();
    write(&storage, "/new.txt", WriteMode::CreateNew, b"mine")
        .await
        .unwrap();
    assert_eq!(std::fs::read(tmp.path().join("new.txt")).unwrap(), b"mine");
    let err = write(&storage, "/new.txt", WriteMode::CreateNew, b"again").await;
    assert_eq!(err, Err(FsError::AlreadyExists));
    assert_eq!(std::fs::read(tmp.path().join("new.txt")).unwrap(), b"mine");
    // A dangling link (inside the root) is a taken name, not a way to create its target.
    symlink("target.txt", tmp.path().join("link.txt")).unwrap();
    let err = write(&storage, "/link.txt", WriteMode::CreateNew, b"x").await;
    assert_eq!(err, Err(FsError::AlreadyExists));
    assert!(!tmp.path().join("target.txt").exists());
}

#[tokio::test]
async fn a_confined_view_resolves_beneath_the_home() {
    let (tmp, storage) = setup();
    let home = tmp.path().join("home/alice");
    std::fs::create_dir_all(home.join("docs")).unwrap();
    std::fs::write(home.join("docs/a.txt"), b"alice").unwrap();
    std::fs::write(tmp.path().join("other.txt"), b"not alice's").unwrap();
    symlink("../../other.txt", home.join("up")).unwrap();
    symlink("docs/a.txt", home.join("near")).unwrap();
    let alice = storage.confine(&vp("/home/alice")).await.unwrap().unwrap();
    assert!(
        storage
            .confine(&VirtualPath::root())
            .await
            .unwrap()
            .is_none()
    );

    // Same storage paths, resolved beneath the home.
    let mut out = Vec::new();
    let mut file = alice.open_read(&vp("/home/alice/near"), 0).await.unwrap();
    file.read_to_end(&mut out).await.unwrap();
    assert_eq!(out, b"alice");
    let names: Vec<_> = list(&alice, "/home/alice")
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(names, [&b"docs"[..], b"near", b"up"]);
    // Out of the home: through a link, or a path elsewhere in the root.
    for path in ["/home/alice/up", "/other.txt", "/home"] {
        assert_eq!(
            alice.metadata(&vp(path)).await.unwrap_err(),
            FsError::PermissionDenied,
            "{path}"
        );
    }
    let err = alice
        .open_write(&vp("/home/alice/up"), WriteMode::Append)
        .await
        .unwrap_err();
    assert_eq!(err, FsError::PermissionDenied);
    assert_eq!(
        std::fs::read(tmp.path().join("other.txt")).unwrap(),
        b"not alice's"
    );
    // The home is the view's top: not removed or renamed.
    assert_eq!(
        alice.remove_dir(&vp("/home/alice")).await.unwrap_err(),
        FsError::PermissionDenied
    );
    assert_eq!(
        alice
            .rename(&vp("/home/alice"), &vp("/home/alice/docs/x"))
            .await
            .unwrap_err(),
        FsError::PermissionDenied
    );
    // A missing home is an error, not an unconfined view.
    assert_eq!(
        storage.confine(&vp("/home/bob")).await.err(),
        Some(FsError::NotFound)
    );
}

#[tokio::test]
async fn root_is_no_file_target() {
    let (tmp, storage) = setup();
    assert_eq!(read(&storage, "/", 0).await, Err(FsError::IsADirectory));
    assert_eq!(
        write(&storage, "/", WriteMode::Append, b"").await,
        Err(FsError::IsADirectory)
    );
    assert_eq!(
        storage.remove_file(&VirtualPath::root()).await,
        Err(FsError::IsADirectory)
    );
    assert!(tmp.path().is_dir());
}

#[tokio::test]
async fn set_permissions_changes_files_and_directories_only() {
    use std::os::unix::fs::PermissionsExt;
    let (tmp, storage) = setup();
    assert!(storage.features().set_permissions);
    let mode = |name: &str| {
        std::fs::metadata(tmp.path().join(name))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    };
    std::fs::write(tmp.path().join("f"), b"x").unwrap();
    std::fs::create_dir(tmp.path().join("d")).unwrap();
    storage.set_permissions(&vp("/f"), 0o600).await.unwrap();
    storage.set_permissions(&vp("/d"), 0o750).await.unwrap();
    assert_eq!((mode("f"), mode("d")), (0o600, 0o750));
    // Special bits are refused, as is anything but a file or a directory.
    assert_eq!(
        storage.set_permissions(&vp("/f"), 0o4755).await,
        Err(FsError::NotSupported)
    );
    assert_eq!(mode("f"), 0o600);
    rustix::fs::mknodat(
        rustix::fs::CWD,
        tmp.path().join("fifo"),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o644),
        0,
    )
    .unwrap();
    assert_eq!(
        storage.set_permissions(&vp("/fifo"), 0o600).await,
        Err(FsError::PermissionDenied)
    );
    assert_eq!(mode("fifo"), 0o644);
    assert_eq!(
        storage.set_permissions(&vp("/missing"), 0o600).await,
        Err(FsError::NotFound)
    );
}
