//! The in-memory storage back-end through the `Storage` trait: every operation's success, each
//! error with its exact `FsError`, and the documented choices (snapshot reads, write-through
//! writers, REST offsets, STOU names, rename rules, sorted snapshot listings, times).

use std::io::ErrorKind;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use ftp_server_tokio::ftp_proto::listing::{Entry, EntryKind};
use ftp_server_tokio::ftp_proto::server::FsError;
use ftp_server_tokio::ftp_proto::{FtpPath, Timestamp, VirtualPath};
use ftp_server_tokio::storage::memory::MemoryStorage;
use ftp_server_tokio::storage::{DirEntries, Storage, WriteMode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const T0: i64 = 1_700_000_000;

fn p(s: &str) -> VirtualPath {
    VirtualPath::root().resolve(&FtpPath::from(s)).unwrap()
}

fn t(secs: i64) -> Timestamp {
    Timestamp::from_unix(secs).unwrap()
}

/// A storage whose clock stands at `T0`.
fn fixed() -> MemoryStorage {
    MemoryStorage::with_clock(|| t(T0))
}

/// A storage whose clock the test moves.
fn movable() -> (MemoryStorage, Arc<AtomicI64>) {
    let clock = Arc::new(AtomicI64::new(T0));
    let source = Arc::clone(&clock);
    let storage = MemoryStorage::with_clock(move || t(source.load(Ordering::SeqCst)));
    (storage, clock)
}

async fn read_all(s: &MemoryStorage, path: &str, offset: u64) -> Vec<u8> {
    let mut reader = s.open_read(&p(path), offset).await.unwrap();
    let mut out = Vec::new();
    reader.read_to_end(&mut out).await.unwrap();
    out
}

async fn store(s: &MemoryStorage, path: &str, mode: WriteMode, bytes: &[u8]) {
    let mut writer = s.open_write(&p(path), mode).await.unwrap();
    writer.write_all(bytes).await.unwrap();
    writer.shutdown().await.unwrap();
}

async fn names(s: &MemoryStorage, path: &str) -> Vec<String> {
    let mut dir = s.read_dir(&p(path)).await.unwrap();
    let mut out = Vec::new();
    while let Some(entry) = dir.next_entry().await {
        out.push(String::from_utf8(entry.unwrap().name).unwrap());
    }
    out
}

async fn err_of<T>(f: impl Future<Output = Result<T, FsError>>) -> FsError {
    match f.await {
        Ok(_) => panic!("expected an error"),
        Err(err) => err,
    }
}

const STOR: WriteMode = WriteMode::Replace { offset: 0 };

// --- metadata -------------------------------------------------------------------------------

#[tokio::test]
async fn metadata_of_root() {
    let s = fixed();
    let root = s.metadata(&VirtualPath::root()).await.unwrap();
    assert_eq!(
        root,
        Entry {
            modified: Some(t(T0)),
            unix_mode: Some(0o755),
            ..Entry::dir("/")
        }
    );
}

#[tokio::test]
async fn metadata_of_file_and_dir() {
    let s = fixed()
        .with_file("/pub/a.txt", "hello")
        .with_dir("/pub/sub");
    let file = s.metadata(&p("/pub/a.txt")).await.unwrap();
    assert_eq!(
        file,
        Entry {
            modified: Some(t(T0)),
            unix_mode: Some(0o644),
            ..Entry::file("a.txt", 5)
        }
    );
    let dir = s.metadata(&p("/pub/sub")).await.unwrap();
    assert_eq!(
        (dir.name, dir.kind, dir.unix_mode),
        (b"sub".to_vec(), EntryKind::Dir, Some(0o755))
    );
}

#[tokio::test]
async fn metadata_errors() {
    let s = fixed().with_file("/f", "x");
    assert_eq!(err_of(s.metadata(&p("/missing"))).await, FsError::NotFound);
    assert_eq!(
        err_of(s.metadata(&p("/missing/x"))).await,
        FsError::NotFound
    );
    assert_eq!(err_of(s.metadata(&p("/f/x"))).await, FsError::NotADirectory);
}

/// Without symlinks, the object at a name is the object a name leads to: RNFR and DELE see
/// what SIZE and MLST see.
#[tokio::test]
async fn symlink_metadata_is_metadata() {
    let s = fixed().with_file("/pub/f", "abc").with_dir("/pub/sub");
    for path in ["/", "/pub", "/pub/f", "/pub/sub"] {
        assert_eq!(
            s.symlink_metadata(&p(path)).await,
            s.metadata(&p(path)).await,
            "{path}"
        );
    }
    assert_eq!(
        err_of(s.symlink_metadata(&p("/missing"))).await,
        FsError::NotFound
    );
}

// --- reading and writing --------------------------------------------------------------------

#[tokio::test]
async fn write_then_read_back() {
    let s = fixed().with_dir("/up");
    store(&s, "/up/f.bin", STOR, b"\x00\x01binary\r\n\xff").await;
    assert_eq!(
        read_all(&s, "/up/f.bin", 0).await,
        b"\x00\x01binary\r\n\xff"
    );
    assert_eq!(s.metadata(&p("/up/f.bin")).await.unwrap().size, 11);
    assert_eq!(s.read_file("/up/f.bin").unwrap(), b"\x00\x01binary\r\n\xff");
}

#[tokio::test]
async fn read_from_offsets_and_past_the_end() {
    let s = fixed().with_file("/f", "0123456789");
    assert_eq!(read_all(&s, "/f", 3).await, b"3456789");
    assert_eq!(read_all(&s, "/f", 9).await, b"9");
    assert_eq!(read_all(&s, "/f", 10).await, b"");
    // REST past the end: RETR sends nothing, as vsftpd does.
    assert_eq!(read_all(&s, "/f", 11).await, b"");
    assert_eq!(read_all(&s, "/f", u64::MAX).await, b"");
}

#[tokio::test]
async fn five_mib_in_odd_chunks_with_rest_offsets() {
    let s = fixed();
    let data: Vec<u8> = (0..5 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let mut writer = s.open_write(&p("/big"), STOR).await.unwrap();
    for chunk in data.chunks(7919) {
        writer.write_all(chunk).await.unwrap();
    }
    writer.shutdown().await.unwrap();
    assert_eq!(s.metadata(&p("/big")).await.unwrap().size, 5 * 1024 * 1024);
    assert!(read_all(&s, "/big", 0).await == data);
    for offset in [1, 4093, 1024 * 1024, data.len() - 1] {
        let got = read_all(&s, "/big", offset as u64).await;
        assert_eq!(got.len(), data.len() - offset);
        assert!(got == data[offset..], "offset {offset}");
    }
    // Reading in small odd buffers yields the same bytes.
    let mut reader = s.open_read(&p("/big"), 12_345).await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1021];
    loop {
        let n = reader.read(&mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    assert!(got == data[12_345..]);
}

#[tokio::test]
async fn open_read_errors() {
    let s = fixed().with_dir("/d").with_file("/f", "x");
    assert_eq!(
        err_of(s.open_read(&p("/d"), 0)).await,
        FsError::IsADirectory
    );
    assert_eq!(
        err_of(s.open_read(&VirtualPath::root(), 0)).await,
        FsError::IsADirectory
    );
    assert_eq!(err_of(s.open_read(&p("/nope"), 0)).await, FsError::NotFound);
    assert_eq!(
        err_of(s.open_read(&p("/f/x"), 0)).await,
        FsError::NotADirectory
    );
}

#[tokio::test]
async fn reader_sees_a_snapshot() {
    let s = fixed().with_file("/f", "old contents");
    let mut reader = s.open_read(&p("/f"), 4).await.unwrap();
    store(&s, "/f", STOR, b"new").await;
    s.remove_file(&p("/f")).await.unwrap();
    let mut got = Vec::new();
    reader.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"contents");
}

#[tokio::test]
async fn replace_truncates_existing_file() {
    let s = fixed().with_file("/f", "a long old text");
    store(&s, "/f", STOR, b"short").await;
    assert_eq!(s.read_file("/f").unwrap(), b"short");
}

#[tokio::test]
async fn replace_with_offset_cuts_there_then_writes() {
    let s = fixed().with_file("/f", "hello world!");
    store(&s, "/f", WriteMode::Replace { offset: 6 }, b"there").await;
    assert_eq!(s.read_file("/f").unwrap(), b"hello there");

    // The cut happens at open, before any data arrives.
    let writer = s
        .open_write(&p("/f"), WriteMode::Replace { offset: 3 })
        .await
        .unwrap();
    assert_eq!(s.read_file("/f").unwrap(), b"hel");
    drop(writer);
}

#[tokio::test]
async fn replace_with_an_offset_past_the_end_is_refused() {
    let s = fixed().with_file("/f", "abc");
    for offset in [4, u64::MAX] {
        let err = err_of(s.open_write(&p("/f"), WriteMode::Replace { offset })).await;
        assert_eq!(err, FsError::OffsetPastEnd, "offset {offset}");
    }
    assert_eq!(s.read_file("/f").unwrap(), b"abc", "no hole, nothing cut");
    let err = err_of(s.open_write(&p("/new"), WriteMode::Replace { offset: 2 })).await;
    assert_eq!(err, FsError::OffsetPastEnd);
    assert_eq!(s.read_file("/new"), None, "nothing created");
    store(&s, "/f", WriteMode::Replace { offset: 3 }, b"XY").await;
    assert_eq!(
        s.read_file("/f").unwrap(),
        b"abcXY",
        "the very end is a valid offset"
    );
}

#[tokio::test]
async fn append_to_existing_and_new_files() {
    let s = fixed().with_file("/log", "one\n");
    store(&s, "/log", WriteMode::Append, b"two\n").await;
    store(&s, "/log", WriteMode::Append, b"three\n").await;
    assert_eq!(s.read_file("/log").unwrap(), b"one\ntwo\nthree\n");
    store(&s, "/fresh", WriteMode::Append, b"first").await;
    assert_eq!(s.read_file("/fresh").unwrap(), b"first");
}

#[tokio::test]
async fn create_new_only_creates() {
    let s = fixed().with_file("/taken", "theirs").with_dir("/d");
    store(&s, "/fresh", WriteMode::CreateNew, b"mine").await;
    assert_eq!(s.read_file("/fresh").unwrap(), b"mine");
    let err = err_of(s.open_write(&p("/taken"), WriteMode::CreateNew)).await;
    assert_eq!(err, FsError::AlreadyExists);
    assert_eq!(s.read_file("/taken").unwrap(), b"theirs");
    let err = err_of(s.open_write(&p("/d"), WriteMode::CreateNew)).await;
    assert_eq!(err, FsError::IsADirectory);
}

#[tokio::test]
async fn append_writes_at_the_end_the_file_has_at_each_write() {
    let s = fixed().with_file("/log", "a");
    let mut appender = s.open_write(&p("/log"), WriteMode::Append).await.unwrap();
    appender.write_all(b"b").await.unwrap();
    store(&s, "/log", WriteMode::Append, b"XYZ").await;
    appender.write_all(b"c").await.unwrap();
    appender.shutdown().await.unwrap();
    assert_eq!(s.read_file("/log").unwrap(), b"abXYZc");
}

#[tokio::test]
async fn writes_are_visible_at_once_and_partial_uploads_stay() {
    let s = fixed();
    let mut writer = s.open_write(&p("/up"), STOR).await.unwrap();
    assert_eq!(s.read_file("/up").unwrap(), b"");
    writer.write_all(b"part").await.unwrap();
    assert_eq!(s.read_file("/up").unwrap(), b"part");
    assert_eq!(s.metadata(&p("/up")).await.unwrap().size, 4);
    writer.write_all(b"ial").await.unwrap();
    drop(writer); // connection lost: no shutdown
    assert_eq!(s.read_file("/up").unwrap(), b"partial");
}

#[tokio::test]
async fn write_after_shutdown_fails() {
    let s = fixed();
    let mut writer = s.open_write(&p("/f"), STOR).await.unwrap();
    writer.write_all(b"done").await.unwrap();
    writer.shutdown().await.unwrap();
    assert!(writer.write_all(b"more").await.is_err());
    assert_eq!(s.read_file("/f").unwrap(), b"done");
}

#[tokio::test]
async fn writer_follows_renames_and_writes_to_a_removed_file_vanish() {
    let s = fixed().with_dir("/d");
    let mut writer = s.open_write(&p("/d/a"), STOR).await.unwrap();
    writer.write_all(b"1").await.unwrap();
    s.rename(&p("/d/a"), &p("/b")).await.unwrap();
    writer.write_all(b"2").await.unwrap();
    assert_eq!(s.read_file("/b").unwrap(), b"12");
    assert!(!s.exists("/d/a"));

    s.remove_file(&p("/b")).await.unwrap();
    writer.write_all(b"3").await.unwrap();
    writer.shutdown().await.unwrap();
    assert!(!s.exists("/b"));
    assert_eq!(names(&s, "/").await, ["d"]);
}

#[tokio::test]
async fn open_write_errors() {
    let s = fixed().with_dir("/d").with_file("/f", "x");
    assert_eq!(
        err_of(s.open_write(&p("/d"), STOR)).await,
        FsError::IsADirectory
    );
    assert_eq!(
        err_of(s.open_write(&p("/d"), WriteMode::Append)).await,
        FsError::IsADirectory
    );
    assert_eq!(
        err_of(s.open_write(&VirtualPath::root(), STOR)).await,
        FsError::IsADirectory
    );
    assert_eq!(
        err_of(s.open_write(&p("/nope/f"), STOR)).await,
        FsError::NotFound
    );
    assert_eq!(
        err_of(s.open_write(&p("/f/g"), STOR)).await,
        FsError::NotADirectory
    );
    assert!(!s.exists("/nope"));
}

// --- STOU -----------------------------------------------------------------------------------

#[tokio::test]
async fn create_unique_uses_the_hint_then_numbered_suffixes() {
    let s = fixed().with_dir("/in");
    let mut chosen = Vec::new();
    for body in [&b"first"[..], b"second", b"third"] {
        let (path, mut writer) = s
            .create_unique(&p("/in"), Some(b"report.txt"))
            .await
            .unwrap();
        writer.write_all(body).await.unwrap();
        writer.shutdown().await.unwrap();
        chosen.push(path.to_string());
    }
    assert_eq!(
        chosen,
        ["/in/report.txt", "/in/report.txt.1", "/in/report.txt.2"]
    );
    assert_eq!(s.read_file("/in/report.txt").unwrap(), b"first");
    assert_eq!(s.read_file("/in/report.txt.2").unwrap(), b"third");
}

#[tokio::test]
async fn create_unique_without_a_usable_hint_picks_stou_n() {
    let s = fixed().with_file("/stou-1", "taken");
    let (a, _) = s.create_unique(&VirtualPath::root(), None).await.unwrap();
    let (b, _) = s
        .create_unique(&VirtualPath::root(), Some(b"../x"))
        .await
        .unwrap();
    let (c, _) = s
        .create_unique(&VirtualPath::root(), Some(b"a/b"))
        .await
        .unwrap();
    let (d, _) = s
        .create_unique(&VirtualPath::root(), Some(b""))
        .await
        .unwrap();
    let (e, _) = s
        .create_unique(&VirtualPath::root(), Some(b".."))
        .await
        .unwrap();
    let got: Vec<_> = [a, b, c, d, e].iter().map(ToString::to_string).collect();
    assert_eq!(got, ["/stou-2", "/stou-3", "/stou-4", "/stou-5", "/stou-6"]);
    // The names are reserved at once, as empty files.
    assert_eq!(s.read_file("/stou-2").unwrap(), b"");
    assert_eq!(s.read_file("/stou-1").unwrap(), b"taken");
}

#[tokio::test]
async fn create_unique_skips_names_taken_by_directories() {
    let s = fixed().with_dir("/x").with_dir("/x.1");
    let (path, _) = s
        .create_unique(&VirtualPath::root(), Some(b"x"))
        .await
        .unwrap();
    assert_eq!(path, p("/x.2"));
}

#[tokio::test]
async fn create_unique_errors() {
    let s = fixed().with_file("/f", "x");
    assert_eq!(
        err_of(s.create_unique(&p("/nope"), None)).await,
        FsError::NotFound
    );
    assert_eq!(
        err_of(s.create_unique(&p("/f"), None)).await,
        FsError::NotADirectory
    );
}

// --- remove_file, create_dir, remove_dir ----------------------------------------------------

#[tokio::test]
async fn remove_file_then_it_is_gone() {
    let s = fixed().with_file("/d/f", "x");
    s.remove_file(&p("/d/f")).await.unwrap();
    assert!(!s.exists("/d/f"));
    assert_eq!(err_of(s.metadata(&p("/d/f"))).await, FsError::NotFound);
    assert_eq!(err_of(s.remove_file(&p("/d/f"))).await, FsError::NotFound);
}

#[tokio::test]
async fn remove_file_errors() {
    let s = fixed().with_dir("/d").with_file("/f", "x");
    assert_eq!(err_of(s.remove_file(&p("/d"))).await, FsError::IsADirectory);
    assert_eq!(
        err_of(s.remove_file(&VirtualPath::root())).await,
        FsError::IsADirectory
    );
    assert_eq!(
        err_of(s.remove_file(&p("/nope/f"))).await,
        FsError::NotFound
    );
    assert_eq!(
        err_of(s.remove_file(&p("/f/g"))).await,
        FsError::NotADirectory
    );
    assert!(s.exists("/d"));
}

#[tokio::test]
async fn create_dir_then_it_lists_empty() {
    let s = fixed();
    s.create_dir(&p("/new")).await.unwrap();
    s.create_dir(&p("/new/sub")).await.unwrap();
    assert_eq!(
        s.metadata(&p("/new/sub")).await.unwrap().kind,
        EntryKind::Dir
    );
    assert_eq!(names(&s, "/new").await, ["sub"]);
    assert!(names(&s, "/new/sub").await.is_empty());
}

#[tokio::test]
async fn create_dir_errors() {
    let s = fixed().with_dir("/d").with_file("/f", "x");
    assert_eq!(err_of(s.create_dir(&p("/d"))).await, FsError::AlreadyExists);
    assert_eq!(err_of(s.create_dir(&p("/f"))).await, FsError::AlreadyExists);
    assert_eq!(
        err_of(s.create_dir(&VirtualPath::root())).await,
        FsError::AlreadyExists
    );
    assert_eq!(err_of(s.create_dir(&p("/nope/d"))).await, FsError::NotFound);
    assert_eq!(
        err_of(s.create_dir(&p("/f/d"))).await,
        FsError::NotADirectory
    );
    assert_eq!(s.read_file("/f").unwrap(), b"x");
}

#[tokio::test]
async fn remove_dir_then_it_is_gone() {
    let s = fixed().with_dir("/a/b");
    s.remove_dir(&p("/a/b")).await.unwrap();
    assert!(!s.exists("/a/b"));
    assert_eq!(err_of(s.remove_dir(&p("/a/b"))).await, FsError::NotFound);
    s.remove_dir(&p("/a")).await.unwrap();
    assert!(names(&s, "/").await.is_empty());
}

#[tokio::test]
async fn remove_dir_errors() {
    let s = fixed().with_file("/full/f", "x");
    assert_eq!(
        err_of(s.remove_dir(&p("/full"))).await,
        FsError::DirectoryNotEmpty
    );
    assert_eq!(
        err_of(s.remove_dir(&VirtualPath::root())).await,
        FsError::PermissionDenied
    );
    assert_eq!(
        err_of(s.remove_dir(&p("/full/f"))).await,
        FsError::NotADirectory
    );
    assert_eq!(err_of(s.remove_dir(&p("/nope"))).await, FsError::NotFound);
    assert_eq!(
        err_of(s.remove_dir(&p("/full/f/x"))).await,
        FsError::NotADirectory
    );
    assert_eq!(s.read_file("/full/f").unwrap(), b"x");
}

// --- rename ---------------------------------------------------------------------------------

#[tokio::test]
async fn rename_file_across_directories() {
    let s = fixed().with_file("/a/f", "data").with_dir("/b");
    s.rename(&p("/a/f"), &p("/b/g")).await.unwrap();
    assert_eq!(s.read_file("/b/g").unwrap(), b"data");
    assert_eq!(err_of(s.metadata(&p("/a/f"))).await, FsError::NotFound);
    assert_eq!(err_of(s.open_read(&p("/a/f"), 0)).await, FsError::NotFound);
}

#[tokio::test]
async fn rename_directory_moves_its_subtree() {
    let s = fixed().with_file("/old/sub/f", "deep").with_dir("/other");
    s.rename(&p("/old"), &p("/other/new")).await.unwrap();
    assert_eq!(s.read_file("/other/new/sub/f").unwrap(), b"deep");
    assert_eq!(err_of(s.metadata(&p("/old"))).await, FsError::NotFound);
    assert_eq!(err_of(s.read_dir(&p("/old"))).await, FsError::NotFound);
    assert_eq!(names(&s, "/").await, ["other"]);
}

#[tokio::test]
async fn rename_onto_an_existing_file_replaces_it() {
    let s = fixed()
        .with_file("/src", "new")
        .with_file("/dst", "old and longer")
        .with_space_limit(100);
    s.rename(&p("/src"), &p("/dst")).await.unwrap();
    assert_eq!(s.read_file("/dst").unwrap(), b"new");
    assert!(!s.exists("/src"));
    assert_eq!(names(&s, "/").await, ["dst"]);
    // The replaced file's bytes are freed.
    assert_eq!(s.available_space(&VirtualPath::root()).await.unwrap(), 97);
}

#[tokio::test]
async fn rename_to_itself_changes_nothing() {
    let s = fixed().with_file("/f", "x");
    s.rename(&p("/f"), &p("/f")).await.unwrap();
    assert_eq!(s.read_file("/f").unwrap(), b"x");
}

#[tokio::test]
async fn rename_errors() {
    let s = fixed()
        .with_file("/f", "x")
        .with_file("/g", "y")
        .with_file("/d/inner", "z")
        .with_dir("/e");
    let cases = [
        ("/f", "/e", FsError::AlreadyExists),
        ("/d", "/e", FsError::AlreadyExists),
        ("/d", "/f", FsError::NotADirectory),
        ("/d", "/d/sub", FsError::PermissionDenied),
        ("/d", "/d/inner/x", FsError::PermissionDenied),
        ("/", "/x", FsError::PermissionDenied),
        ("/f", "/", FsError::PermissionDenied),
        ("/nope", "/x", FsError::NotFound),
        ("/nope/a", "/x", FsError::NotFound),
        ("/f", "/nope/x", FsError::NotFound),
        ("/f", "/g/x", FsError::NotADirectory),
    ];
    for (from, to, expected) in cases {
        let got = err_of(s.rename(&p(from), &p(to))).await;
        assert_eq!(got, expected, "{from} -> {to}");
    }
    // Nothing moved.
    assert_eq!(names(&s, "/").await, ["d", "e", "f", "g"]);
    assert_eq!(s.read_file("/d/inner").unwrap(), b"z");
}

#[tokio::test]
async fn rename_to_a_sibling_with_a_shared_prefix_is_not_a_subtree() {
    let s = fixed().with_file("/a/f", "x");
    s.rename(&p("/a"), &p("/ab")).await.unwrap();
    assert_eq!(s.read_file("/ab/f").unwrap(), b"x");
}

// --- read_dir -------------------------------------------------------------------------------

#[tokio::test]
async fn read_dir_is_sorted_by_name() {
    let s = fixed()
        .with_file("/d/zeta", "1")
        .with_dir("/d/alpha")
        .with_file("/d/Beta", "22")
        .with_file("/d/a b", "333");
    assert_eq!(names(&s, "/d").await, ["Beta", "a b", "alpha", "zeta"]);

    let mut dir = s.read_dir(&p("/d")).await.unwrap();
    let first = dir.next_entry().await.unwrap().unwrap();
    assert_eq!(
        (first.kind, first.size, first.unix_mode),
        (EntryKind::File, 2, Some(0o644))
    );
    dir.next_entry().await.unwrap().unwrap();
    let alpha = dir.next_entry().await.unwrap().unwrap();
    assert_eq!(
        (alpha.name, alpha.kind),
        (b"alpha".to_vec(), EntryKind::Dir)
    );
}

#[tokio::test]
async fn read_dir_is_a_snapshot() {
    let s = fixed().with_file("/d/b", "x");
    let mut dir = s.read_dir(&p("/d")).await.unwrap();
    s.create_dir(&p("/d/a")).await.unwrap();
    store(&s, "/d/c", STOR, b"c").await;
    s.remove_file(&p("/d/b")).await.unwrap();
    let entry = dir.next_entry().await.unwrap().unwrap();
    assert_eq!((entry.name, entry.size), (b"b".to_vec(), 1));
    assert!(dir.next_entry().await.is_none());
    assert_eq!(names(&s, "/d").await, ["a", "c"]);
}

#[tokio::test]
async fn read_dir_errors() {
    let s = fixed().with_file("/f", "x");
    assert_eq!(err_of(s.read_dir(&p("/f"))).await, FsError::NotADirectory);
    assert_eq!(err_of(s.read_dir(&p("/nope"))).await, FsError::NotFound);
    assert_eq!(err_of(s.read_dir(&p("/f/x"))).await, FsError::NotADirectory);
}

// --- times ----------------------------------------------------------------------------------

#[tokio::test]
async fn set_modified_on_files_directories_and_root() {
    let s = fixed().with_file("/d/f", "x");
    assert!(s.features().set_modified);
    s.set_modified(&p("/d/f"), t(1_000)).await.unwrap();
    s.set_modified(&p("/d"), t(2_000)).await.unwrap();
    s.set_modified(&VirtualPath::root(), t(3_000))
        .await
        .unwrap();
    assert_eq!(
        s.metadata(&p("/d/f")).await.unwrap().modified,
        Some(t(1_000))
    );
    assert_eq!(s.metadata(&p("/d")).await.unwrap().modified, Some(t(2_000)));
    assert_eq!(
        s.metadata(&VirtualPath::root()).await.unwrap().modified,
        Some(t(3_000))
    );
    assert_eq!(
        err_of(s.set_modified(&p("/nope"), t(1))).await,
        FsError::NotFound
    );
}

#[tokio::test]
async fn changes_take_their_time_from_the_clock() {
    let (s, clock) = movable();
    let s = s.with_file("/d/f", "x");
    let modified = |path: &'static str| {
        let s = s.clone();
        async move { s.metadata(&p(path)).await.unwrap().modified.unwrap() }
    };
    assert_eq!(modified("/d/f").await, t(T0));

    clock.store(T0 + 10, Ordering::SeqCst);
    let mut writer = s.open_write(&p("/d/f"), WriteMode::Append).await.unwrap();
    assert_eq!(
        modified("/d/f").await,
        t(T0),
        "opening for append changes nothing"
    );
    clock.store(T0 + 20, Ordering::SeqCst);
    writer.write_all(b"y").await.unwrap();
    assert_eq!(modified("/d/f").await, t(T0 + 20));
    assert_eq!(
        modified("/d").await,
        t(T0),
        "writing a file leaves its directory alone"
    );

    clock.store(T0 + 30, Ordering::SeqCst);
    s.create_dir(&p("/d/sub")).await.unwrap();
    assert_eq!(modified("/d").await, t(T0 + 30));
    assert_eq!(modified("/d/sub").await, t(T0 + 30));

    clock.store(T0 + 40, Ordering::SeqCst);
    s.rename(&p("/d/f"), &p("/g")).await.unwrap();
    assert_eq!(
        modified("/g").await,
        t(T0 + 20),
        "renaming keeps the object's time"
    );
    assert_eq!(modified("/d").await, t(T0 + 40));
    assert_eq!(modified("/").await, t(T0 + 40));
}

#[tokio::test]
async fn default_clock_is_the_system_clock() {
    let s = MemoryStorage::new().with_file("/f", "x");
    let modified = s.metadata(&p("/f")).await.unwrap().modified.unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((now - modified.to_unix()).abs() <= 5, "{modified} vs {now}");
}

// --- features and space ---------------------------------------------------------------------

#[tokio::test]
async fn features_without_a_space_limit() {
    let s = fixed();
    let features = s.features();
    assert!(features.set_modified);
    assert!(features.checksums.is_empty());
    assert!(!features.available_space);
    assert_eq!(
        err_of(s.available_space(&VirtualPath::root())).await,
        FsError::NotSupported
    );
}

#[tokio::test]
async fn space_limit_caps_writes_and_reports_what_is_left() {
    let s = fixed().with_file("/f", "12345").with_space_limit(10);
    assert!(s.features().available_space);
    assert_eq!(s.available_space(&VirtualPath::root()).await.unwrap(), 5);
    assert_eq!(
        err_of(s.available_space(&p("/nope"))).await,
        FsError::NotFound
    );

    let mut writer = s.open_write(&p("/g"), STOR).await.unwrap();
    writer.write_all(b"abcd").await.unwrap();
    let err = writer.write_all(b"xy").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::StorageFull);
    let inner = err.get_ref().and_then(|e| e.downcast_ref::<FsError>());
    assert_eq!(inner, Some(&FsError::InsufficientStorage));
    assert_eq!(s.read_file("/g").unwrap(), b"abcd");
    assert_eq!(s.available_space(&p("/g")).await.unwrap(), 1);

    // REST far past the end is refused up front.
    let err = err_of(s.open_write(&p("/f"), WriteMode::Replace { offset: 1 << 40 })).await;
    assert_eq!(err, FsError::OffsetPastEnd);
    assert_eq!(s.read_file("/f").unwrap(), b"12345");

    // Cutting (REST 1 + STOR: "12345" -> "19") and removing free space.
    store(&s, "/f", WriteMode::Replace { offset: 1 }, b"9").await;
    assert_eq!(s.read_file("/f").unwrap(), b"19");
    assert_eq!(s.available_space(&VirtualPath::root()).await.unwrap(), 4);
    s.remove_file(&p("/g")).await.unwrap();
    assert_eq!(s.available_space(&VirtualPath::root()).await.unwrap(), 8);
    // An exact fit is allowed.
    store(&s, "/h", STOR, b"12345678").await;
    assert_eq!(s.available_space(&VirtualPath::root()).await.unwrap(), 0);
}

// --- builders and sharing -------------------------------------------------------------------

#[tokio::test]
async fn builders_and_inspection_helpers() {
    let s = fixed().with_file("a/b/c.txt", "abc").with_dir("/x/y");
    assert!(s.exists("/a/b") && s.exists("/a/b/c.txt") && s.exists("/x/y") && s.exists("/"));
    assert!(!s.exists("/a/c.txt"));
    assert!(!s.exists("/bad\r\nname"));
    assert_eq!(s.read_file("/a/b/c.txt").unwrap(), b"abc");
    assert_eq!(s.read_file("/a/b"), None);
    assert_eq!(s.read_file("/missing"), None);
    let s = s.with_file("/a/b/c.txt", "replaced");
    assert_eq!(s.read_file("/a/b/c.txt").unwrap(), b"replaced");
}

#[test]
#[should_panic(expected = "not a directory")]
fn with_file_under_a_file_panics() {
    let _ = fixed().with_file("/f", "x").with_file("/f/g", "y");
}

#[tokio::test]
async fn clones_share_one_tree() {
    let s = fixed();
    let server_side = s.clone();
    store(&server_side, "/uploaded", STOR, b"via clone").await;
    assert_eq!(s.read_file("/uploaded").unwrap(), b"via clone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_uploads_land_whole() {
    let s = fixed();
    let tasks: Vec<_> = (0..16u8)
        .map(|i| {
            let s = s.clone();
            tokio::spawn(async move {
                let (path, mut writer) = s
                    .create_unique(&VirtualPath::root(), Some(b"up"))
                    .await
                    .unwrap();
                for _ in 0..100 {
                    writer.write_all(&[i; 97]).await.unwrap();
                }
                writer.shutdown().await.unwrap();
                (path, i)
            })
        })
        .collect();
    let mut paths = Vec::new();
    for task in tasks {
        let (path, i) = task.await.unwrap();
        assert_eq!(s.read_file(&path.to_string()).unwrap(), vec![i; 9_700]);
        paths.push(path);
    }
    paths.sort();
    paths.dedup();
    assert_eq!(paths.len(), 16);
}
