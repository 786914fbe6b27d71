//! Known-answer, hostile-input and round-trip tests for the listing parsers.

use proptest::prelude::*;

use super::*;
use crate::listing::{Facts, S_IFBLK, S_IFCHR, S_IFIFO, S_IFSOCK, list_line, mlsx_line};

/// The `now` of most tests: 2024-06-01 12:00:00 UTC.
fn now() -> Timestamp {
    ts(2024, 6, 1, 12, 0, 0)
}

fn ts(y: u16, mo: u8, d: u8, h: u8, mi: u8, s: u8) -> Timestamp {
    Timestamp::new(y, mo, d, h, mi, s).expect("valid test time")
}

fn unix(line: &str) -> Entry {
    parse_list_line(line.as_bytes(), ListingFormat::Unix, now())
        .unwrap_or_else(|| panic!("no entry: {line}"))
}

/// What a known-answer row checks: name, kind, size, mode, time.
type Want<'a> = (&'a [u8], EntryKind, u64, Option<u32>, Option<Timestamp>);

fn check(entry: &Entry, want: &Want<'_>, line: &str) {
    let (name, kind, size, mode, modified) = want;
    assert_eq!(entry.name, *name, "{line}");
    assert_eq!(entry.kind, *kind, "{line}");
    assert_eq!(entry.size, *size, "{line}");
    assert_eq!(entry.unix_mode, *mode, "{line}");
    assert_eq!(entry.modified, *modified, "{line}");
}

#[test]
fn unix_real_servers() {
    let rows: &[(&str, Want<'_>)] = &[
        // vsftpd (zero-padded day)
        (
            "drwxr-xr-x    2 1000     1000         4096 Mar 07 12:05 pub",
            (
                b"pub",
                EntryKind::Dir,
                4096,
                Some(0o755),
                Some(ts(2024, 3, 7, 12, 5, 0)),
            ),
        ),
        (
            "-rw-r--r--    1 ftp      ftp         52113 Mar  7  2023 name with  spaces",
            (
                b"name with  spaces",
                EntryKind::File,
                52113,
                Some(0o644),
                Some(ts(2023, 3, 7, 0, 0, 0)),
            ),
        ),
        // proftpd
        (
            "-rw-r--r--   1 alice    staff       1048576 Jan 15 09:30 big.bin",
            (
                b"big.bin",
                EntryKind::File,
                1_048_576,
                Some(0o644),
                Some(ts(2024, 1, 15, 9, 30, 0)),
            ),
        ),
        (
            "lrwxrwxrwx   1 root     root            11 Feb  2 10:00 latest -> release-1.2",
            (
                b"latest",
                EntryKind::Symlink {
                    target: Some(b"release-1.2".to_vec()),
                },
                11,
                Some(0o777),
                Some(ts(2024, 2, 2, 10, 0, 0)),
            ),
        ),
        // pure-ftpd
        (
            "drwxr-xr-x    4 1001       1001             4096 May 20 08:15 incoming",
            (
                b"incoming",
                EntryKind::Dir,
                4096,
                Some(0o755),
                Some(ts(2024, 5, 20, 8, 15, 0)),
            ),
        ),
        // busybox ftpd / ls
        (
            "-rwxr-xr-x    1 0        0           925 Jan  1  1970 init",
            (
                b"init",
                EntryKind::File,
                925,
                Some(0o755),
                Some(ts(1970, 1, 1, 0, 0, 0)),
            ),
        ),
        // GNU ls with ACL and SELinux marks
        (
            "drwxrwxr-x+  3 bob  dev    4096 Apr 30 23:59 shared",
            (
                b"shared",
                EntryKind::Dir,
                4096,
                Some(0o775),
                Some(ts(2024, 4, 30, 23, 59, 0)),
            ),
        ),
        (
            "-rw-r--r--.  1 bob  dev      12 Dec 31  1999 y2k",
            (
                b"y2k",
                EntryKind::File,
                12,
                Some(0o644),
                Some(ts(1999, 12, 31, 0, 0, 0)),
            ),
        ),
        // macOS extended attributes
        (
            "-rw-r--r--@  1 carol  staff  6148 Jun  1 12:30 .DS_Store",
            (
                b".DS_Store",
                EntryKind::File,
                6148,
                Some(0o644),
                Some(ts(2024, 6, 1, 12, 30, 0)),
            ),
        ),
        // No group column (some Windows servers emulating ls)
        (
            "-rw-r--r-- 1 owner 1234 Mar 7 12:05 nogroup.txt",
            (
                b"nogroup.txt",
                EntryKind::File,
                1234,
                Some(0o644),
                Some(ts(2024, 3, 7, 12, 5, 0)),
            ),
        ),
        // FileZilla Server
        (
            "-rw-r--r-- 1 ftp ftp          52113 Mar 07 12:05 report.pdf",
            (
                b"report.pdf",
                EntryKind::File,
                52113,
                Some(0o644),
                Some(ts(2024, 3, 7, 12, 5, 0)),
            ),
        ),
        // Device files: `major, minor` instead of a size
        (
            "crw-rw-rw-   1 root     root       1,   3 Jan  1  2020 null",
            (
                b"null",
                EntryKind::Other,
                0,
                Some(0o020_666),
                Some(ts(2020, 1, 1, 0, 0, 0)),
            ),
        ),
        (
            "brw-rw----   1 root     disk       8,0 Jan  1  2020 sda",
            (
                b"sda",
                EntryKind::Other,
                0,
                Some(0o060_660),
                Some(ts(2020, 1, 1, 0, 0, 0)),
            ),
        ),
        (
            "prw-r--r--   1 root     root          0 May  5 05:05 fifo",
            (
                b"fifo",
                EntryKind::Other,
                0,
                Some(0o010_644),
                Some(ts(2024, 5, 5, 5, 5, 0)),
            ),
        ),
        (
            "srwxrwxrwx   1 root     root          0 May  5 05:05 sock",
            (
                b"sock",
                EntryKind::Other,
                0,
                Some(0o140_777),
                Some(ts(2024, 5, 5, 5, 5, 0)),
            ),
        ),
        // setuid, setgid, sticky
        (
            "-rwsr-sr-t 1 root root 1 Jan 1 2000 all",
            (
                b"all",
                EntryKind::File,
                1,
                Some(0o7755),
                Some(ts(2000, 1, 1, 0, 0, 0)),
            ),
        ),
        (
            "drwxrwxrwT 1 root root 1 Jan 1 2000 tmp",
            (
                b"tmp",
                EntryKind::Dir,
                1,
                Some(0o1776),
                Some(ts(2000, 1, 1, 0, 0, 0)),
            ),
        ),
        (
            "-rwSr-Sr-- 1 root root 1 Jan 1 2000 noexec",
            (
                b"noexec",
                EntryKind::File,
                1,
                Some(0o6644),
                Some(ts(2000, 1, 1, 0, 0, 0)),
            ),
        ),
        // Leading blanks of a name are kept; `ls --time-style=long-iso`
        (
            "-rw-r--r-- 1 u g 1 2024-03-07 12:05   three leading",
            (
                b"  three leading",
                EntryKind::File,
                1,
                Some(0o644),
                Some(ts(2024, 3, 7, 12, 5, 0)),
            ),
        ),
        // Owner and group named like months, a name holding a date
        (
            "-rw-r--r-- 1 jan mar 5 Mar 7 12:05 Mar 7 12:05 x",
            (
                b"Mar 7 12:05 x",
                EntryKind::File,
                5,
                Some(0o644),
                Some(ts(2024, 3, 7, 12, 5, 0)),
            ),
        ),
        // Tabs as column separators; a symlink without target
        (
            "lrwxrwxrwx\t1\tu\tg\t4\tMar\t7\t12:05\tdangling",
            (
                b"dangling",
                EntryKind::Symlink { target: None },
                4,
                Some(0o777),
                Some(ts(2024, 3, 7, 12, 5, 0)),
            ),
        ),
        // Invalid calendar date: the entry stays, without a time
        (
            "-rw-r--r-- 1 u g 1 Feb 30 2023 odd",
            (b"odd", EntryKind::File, 1, Some(0o644), None),
        ),
    ];
    for (line, want) in rows {
        check(&unix(line), want, line);
    }
}

#[test]
fn unix_owner_columns() {
    let e = unix("drwxr-xr-x    2 alice    staff        4096 Mar  7 12:05 d");
    assert_eq!(
        (e.nlink, e.owner.as_deref(), e.group.as_deref()),
        (Some(2), Some("alice"), Some("staff"))
    );
    let e = unix("-rw-r--r-- 1 1000 100 5 Mar 7 12:05 numeric");
    assert_eq!(
        (e.nlink, e.owner.as_deref(), e.group.as_deref()),
        (Some(1), Some("1000"), Some("100"))
    );
    let e = unix("-rw-r--r-- 1 owner 1234 Mar 7 12:05 nogroup");
    assert_eq!(
        (e.nlink, e.owner.as_deref(), e.group),
        (Some(1), Some("owner"), None)
    );
    let e = unix("-rw-r--r-- owner group 1234 Mar 7 12:05 nolinks");
    assert_eq!(
        (e.nlink, e.owner.as_deref(), e.group.as_deref()),
        (None, Some("owner"), Some("group"))
    );
    let e = unix("-rw-r--r-- 3 owner Domain Users 1 Mar 7 12:05 spaced group");
    assert_eq!(
        (e.nlink, e.owner.as_deref(), e.group.as_deref()),
        (Some(3), Some("owner"), Some("Domain Users"))
    );
    let e = unix("-rw-r--r-- 1 Mar 7 12:05 bare");
    assert_eq!((e.nlink, e.owner, e.group, e.size), (None, None, None, 1));
}

#[test]
fn unix_year_inference() {
    let at = |line: &str, now: Timestamp| {
        parse_list_line(line.as_bytes(), ListingFormat::Unix, now)
            .and_then(|e| e.modified)
            .map(|t| t.to_string())
    };
    let line = |date: &str| format!("-rw-r--r-- 1 u g 1 {date} f");
    let jan15 = ts(2024, 1, 15, 12, 0, 0);
    assert_eq!(
        at(&line("Jan 15 12:00"), jan15).as_deref(),
        Some("20240115120000")
    );
    // Within the day of slack: still this year.
    assert_eq!(
        at(&line("Jan 16 11:59"), jan15).as_deref(),
        Some("20240116115900")
    );
    assert_eq!(
        at(&line("Jan 16 12:00"), jan15).as_deref(),
        Some("20240116120000")
    );
    // More than a day ahead: last year.
    assert_eq!(
        at(&line("Jan 16 12:01"), jan15).as_deref(),
        Some("20230116120100")
    );
    assert_eq!(
        at(&line("Dec 31 23:59"), jan15).as_deref(),
        Some("20231231235900")
    );
    // New Year's Eve: tomorrow's date is next year's.
    let nye = ts(2023, 12, 31, 20, 0, 0);
    assert_eq!(
        at(&line("Jan  1 09:00"), nye).as_deref(),
        Some("20240101090000")
    );
    // Feb 29 goes back to the last leap year.
    let spring = ts(2025, 3, 1, 0, 0, 0);
    assert_eq!(
        at(&line("Feb 29 10:00"), spring).as_deref(),
        Some("20240229100000")
    );
    let spring_2029 = ts(2029, 3, 1, 0, 0, 0);
    assert_eq!(
        at(&line("Feb 29 10:00"), spring_2029).as_deref(),
        Some("20280229100000")
    );
    // Month names in any case.
    assert_eq!(
        at(&line("MAR 7 12:05"), jan15).as_deref(),
        Some("20230307120500")
    );
}

#[test]
fn unix_lines_that_are_not_entries() {
    for line in [
        "",
        "total 12",
        "-rw-r--r-- 1 u g 1 Mar 7 12:05",     // no name
        "-rw-r--r-- 1 u g 1 Mar 7 12:05 ",    // the separator only
        "-rw-r--r-- 1 u g x Mar 7 12:05 f",   // size not a number
        "-rw-r--r-- 1 u g 1 Mar 32 12:05 f",  // day out of range
        "-rw-r--r-- 1 u g 1 Mar 7 24:00 f",   // hour out of range
        "-rw-r--r-- 1 u g 1 Foo 7 12:05 f",   // not a month
        "-rw-r--r-- 1 u g 1 Mar 7 12345 f",   // not a year
        "xrw-r--r-- 1 u g 1 Mar 7 12:05 f",   // unknown type
        "-rw-r--r-x- 1 u g 1 Mar 7 12:05 f",  // 11 permission characters
        "-rwxr-xr-t 1 u g 1 Mar 7 12:05 f",   // t in the owner's place? no: in other's, valid
        "-rw-r--r 1 u g 1 Mar 7 12:05 f",     // 8 permission characters
        "-rw-r--r--+@ 1 u g 1 Mar 7 12:05 f", // two marks
        "-rt-r--r-- 1 u g 1 Mar 7 12:05 f",   // t in a write place
        "-rw-r--r-- 1 u g 99999999999999999999999 Mar 7 12:05 f", // size overflows
        "crw-rw-rw- 1 root root 1, x Jan 1 2020 null",
        "03-07-24  12:05PM  52113 report.pdf",
    ] {
        let parsed = parse_list_line(line.as_bytes(), ListingFormat::Unix, now());
        if line.starts_with("-rwxr-xr-t") {
            assert!(parsed.is_some(), "{line}");
        } else {
            assert_eq!(parsed, None, "{line}");
        }
    }
}

#[test]
fn dos_real_servers() {
    let rows: &[(&str, Want<'_>)] = &[
        // IIS
        (
            "03-07-24  12:05PM       <DIR>          Windows Folder",
            (
                b"Windows Folder",
                EntryKind::Dir,
                0,
                None,
                Some(ts(2024, 3, 7, 12, 5, 0)),
            ),
        ),
        (
            "03-07-24  12:05AM                52113 report.pdf",
            (
                b"report.pdf",
                EntryKind::File,
                52113,
                None,
                Some(ts(2024, 3, 7, 0, 5, 0)),
            ),
        ),
        (
            "11-30-98  01:30PM                 1024 old.txt",
            (
                b"old.txt",
                EntryKind::File,
                1024,
                None,
                Some(ts(1998, 11, 30, 13, 30, 0)),
            ),
        ),
        // Windows Server with four-digit years and 24-hour times
        (
            "03-07-2024  13:05       <DIR>          2024 Reports",
            (
                b"2024 Reports",
                EntryKind::Dir,
                0,
                None,
                Some(ts(2024, 3, 7, 13, 5, 0)),
            ),
        ),
        (
            "12-31-1999  23:59            1,048,576 big file.bin",
            (
                b"big file.bin",
                EntryKind::File,
                1_048_576,
                None,
                Some(ts(1999, 12, 31, 23, 59, 0)),
            ),
        ),
        // A blank before AM/PM (suppaftp#144), ISO dates, slashes
        (
            "03-07-24  09:15 PM  12 spaced meridiem",
            (
                b"spaced meridiem",
                EntryKind::File,
                12,
                None,
                Some(ts(2024, 3, 7, 21, 15, 0)),
            ),
        ),
        (
            "2024-03-07  12:05  <dir>  iso",
            (
                b"iso",
                EntryKind::Dir,
                0,
                None,
                Some(ts(2024, 3, 7, 12, 5, 0)),
            ),
        ),
        (
            "03/07/2024  12:05PM  7 slashes.txt",
            (
                b"slashes.txt",
                EntryKind::File,
                7,
                None,
                Some(ts(2024, 3, 7, 12, 5, 0)),
            ),
        ),
        // Two-digit years: 70..99 are 19xx, 00..69 are 20xx
        (
            "01-01-70  12:00AM  0 epoch",
            (
                b"epoch",
                EntryKind::File,
                0,
                None,
                Some(ts(1970, 1, 1, 0, 0, 0)),
            ),
        ),
        (
            "01-01-69  12:00AM  0 late",
            (
                b"late",
                EntryKind::File,
                0,
                None,
                Some(ts(2069, 1, 1, 0, 0, 0)),
            ),
        ),
        // Feb 30: the entry stays, without a time
        (
            "02-30-24  12:00AM  0 odd",
            (b"odd", EntryKind::File, 0, None, None),
        ),
    ];
    for (line, want) in rows {
        let e = parse_list_line(line.as_bytes(), ListingFormat::Dos, now())
            .unwrap_or_else(|| panic!("no entry: {line}"));
        check(&e, want, line);
    }
    for line in [
        "03-07-24  12:05PM       <DIR>",
        "03-07-24  12:05PM       <DIR>   ",
        "03-07-24  13:05PM  1 thirteen pm",
        "03-07-24  00:05AM  1 zero am",
        "13-07-24  12:05PM  1 month 13",
        "03-07-2024x  12:05PM  1 f",
        "03-07  12:05PM  1 f",
        "03-07-24  12:05PM  -1 negative",
        "03-07-24  12:05PM  ,1 comma first",
        "-rw-r--r-- 1 u g 1 Mar 7 12:05 f",
    ] {
        assert_eq!(
            parse_list_line(line.as_bytes(), ListingFormat::Dos, now()),
            None,
            "{line}"
        );
    }
}

#[test]
fn eplf_from_the_spec() {
    let rows: &[(&[u8], Want<'_>)] = &[
        (
            b"+i8388621.29609,m824255902,/,\tdev",
            (
                b"dev",
                EntryKind::Dir,
                0,
                None,
                Timestamp::from_unix(824_255_902),
            ),
        ),
        (
            b"+i8388621.44468,m839956783,r,s10376,\tRFCEPLF",
            (
                b"RFCEPLF",
                EntryKind::File,
                10376,
                None,
                Timestamp::from_unix(839_956_783),
            ),
        ),
        (
            b"+i8388621.48593,m824255907,r,s612,up644,\tpublicfile spaced",
            (
                b"publicfile spaced",
                EntryKind::File,
                612,
                Some(0o644),
                Timestamp::from_unix(824_255_907),
            ),
        ),
        // Unknown facts ignored, no facts at all
        (b"+xyz,\tplain", (b"plain", EntryKind::File, 0, None, None)),
        (
            b"+\t tab then space",
            (b" tab then space", EntryKind::File, 0, None, None),
        ),
    ];
    for (line, want) in rows {
        let e = parse_list_line(line, ListingFormat::Eplf, now()).expect("entry");
        check(&e, want, &line.escape_ascii().to_string());
    }
    let e = parse_list_line(rows[0].0, ListingFormat::Eplf, now()).expect("entry");
    assert_eq!(e.unique.as_deref(), Some("8388621.29609"));
    for line in [&b"+i1,m1,r,"[..], b"i1,m1\tname", b"+i1\t", b""] {
        assert_eq!(parse_list_line(line, ListingFormat::Eplf, now()), None);
    }
}

#[test]
fn mlsx_real_servers() {
    // proftpd
    let e = parse_mlsx_line(
        b"modify=20240307120509;perm=adfr;size=52113;type=file;unique=FD00U1234;UNIX.group=100;UNIX.groupname=users;UNIX.mode=0644;UNIX.owner=1000;UNIX.ownername=alice; report.pdf",
    )
    .expect("entry");
    assert_eq!(e.name, b"report.pdf");
    assert_eq!(
        (e.kind.clone(), e.size, e.unix_mode),
        (EntryKind::File, 52113, Some(0o644))
    );
    assert_eq!(e.modified, Some(ts(2024, 3, 7, 12, 5, 9)));
    assert_eq!(
        (e.owner.as_deref(), e.group.as_deref()),
        (Some("alice"), Some("users"))
    );
    assert_eq!(
        (e.perm.as_deref(), e.unique.as_deref()),
        (Some("adfr"), Some("FD00U1234"))
    );
    // pure-ftpd: sizd for directories, numeric ids
    let e = parse_mlsx_line(b"type=dir;sizd=4096;modify=20240101000000;UNIX.mode=0755;UNIX.uid=1000;UNIX.gid=100;unique=803g1a2b; incoming")
        .expect("entry");
    assert_eq!((e.kind, e.size), (EntryKind::Dir, 4096));
    assert_eq!(
        (e.owner.as_deref(), e.group.as_deref()),
        (Some("1000"), Some("100"))
    );
    // FileZilla Server, case-insensitive facts, symlinks of both spellings
    let e = parse_mlsx_line(b"Type=OS.unix=slink:/srv/Target;Modify=20240307120509.123; link")
        .expect("entry");
    assert_eq!(
        e.kind,
        EntryKind::Symlink {
            target: Some(b"/srv/Target".to_vec())
        }
    );
    assert_eq!(e.modified.and_then(|t| t.millis()), Some(123));
    let e = parse_mlsx_line(b"type=OS.unix=symlink;size=4; link").expect("entry");
    assert_eq!(e.kind, EntryKind::Symlink { target: None });
    // Special files carry their type bits, with or without a mode
    let e = parse_mlsx_line(b"type=OS.unix=chr;UNIX.mode=0666; null").expect("entry");
    assert_eq!((e.kind, e.unix_mode), (EntryKind::Other, Some(0o020_666)));
    let e = parse_mlsx_line(b"type=OS.unix=fifo; pipe").expect("entry");
    assert_eq!(e.unix_mode, Some(0o010_000));
    let e = parse_mlsx_line(b"type=OS.Windows=junction; j").expect("entry");
    assert_eq!((e.kind, e.unix_mode), (EntryKind::Other, None));
    // Names keep every byte after the first space; an MLST line's extra space is accepted
    let e = parse_mlsx_line(b"type=file;size=1;  two leading; a=b").expect("entry");
    assert_eq!(e.name, b" two leading; a=b");
    let e = parse_mlsx_line(b" type=file;size=1; mlst form").expect("entry");
    assert_eq!(e.name, b"mlst form");
    let e = parse_mlsx_line(b" no facts at all").expect("entry");
    assert_eq!(
        (e.name.as_slice(), e.kind),
        (&b"no facts at all"[..], EntryKind::File)
    );
    // Facts that do not parse are left out
    let e = parse_mlsx_line(b"type=file;size=lots;modify=yesterday;UNIX.mode=rwx;perm=; f")
        .expect("entry");
    assert_eq!(
        (e.size, e.modified, e.unix_mode, e.perm.as_deref()),
        (0, None, None, Some(""))
    );
    for line in [
        &b"type=cdir;perm=el; ."[..],
        b"type=pdir;perm=el; ..",
        b"type=CDIR; /pub",
        b"type=file;size=1;",
        b"type=file;size=1; ",
        b"type=file;size=1;no-equals; f",
        b"-rw-r--r-- 1 u g 1 Mar 7 12:05 f",
        b"",
    ] {
        assert_eq!(parse_mlsx_line(line), None, "{}", line.escape_ascii());
    }
}

#[test]
fn auto_detection_and_skips() {
    let listing = b"total 24\r\n\
        drwxr-xr-x    2 ftp      ftp          4096 Mar  7 12:05 pub\r\n\
        \r\n\
        -rw-r--r--    1 ftp      ftp            12 Mar  7 12:05 ../escape\r\n\
        -rw-r--r--    1 ftp      ftp            12 Mar  7 12:05 .\r\n\
        some banner the server mixed in\r\n\
        03-07-24  12:05PM                52113 report.pdf\r\n\
        lrwxrwxrwx    1 ftp      ftp             3 Mar  7 12:05 up -> ..\n\
        type=file;size=3; mlsd line\r\n\
        +i1,r,s3,\teplf";
    let parsed = parse_listing(listing, None, now());
    let names: Vec<&[u8]> = parsed.entries.iter().map(|e| e.name.as_slice()).collect();
    assert_eq!(
        names,
        [&b"pub"[..], b"report.pdf", b"up", b"mlsd line", b"eplf"]
    );
    assert_eq!(parsed.format, Some(ListingFormat::Unix));
    assert_eq!(parsed.skipped, 5);

    // Forcing a format reads only that format.
    let forced = parse_listing(listing, Some(ListingFormat::Dos), now());
    assert_eq!(forced.entries.len(), 1);
    assert_eq!(
        (forced.format, forced.skipped),
        (Some(ListingFormat::Dos), 9)
    );

    // The majority decides the reported format.
    let iis =
        b"03-07-24  12:05PM  1 a\r\n03-07-24  12:05PM  1 b\r\n-rw-r--r-- 1 u g 1 Mar 7 12:05 c\r\n";
    let parsed = parse_listing(iis, None, now());
    assert_eq!(
        (parsed.format, parsed.entries.len()),
        (Some(ListingFormat::Dos), 3)
    );

    // MLSD in auto mode needs a `type` fact; forced, it does not.
    let mlsd = b"size=1; a\r\ntype=cdir; .\r\n";
    assert_eq!(parse_listing(mlsd, None, now()).entries.len(), 0);
    let forced = parse_listing(mlsd, Some(ListingFormat::Mlsx), now());
    assert_eq!((forced.entries.len(), forced.skipped), (1, 1));

    // Empty input and a lone line end.
    assert_eq!(parse_listing(b"", None, now()), Listing::default());
    assert_eq!(parse_listing(b"\n", None, now()).skipped, 1);
}

#[test]
fn streaming_parser_matches_whole_listing() {
    let data = b"-rw-r--r-- 1 u g 1 Mar 7 12:05 a\r\ntotal 3\n03-07-24  12:05PM  1 b\r\n";
    let mut parser = ListingParser::new(now());
    let streamed: Vec<Entry> = data
        .split(|&b| b == b'\n')
        .filter_map(|l| parser.push_line(l))
        .collect();
    let whole = parse_listing(data, None, now());
    assert_eq!(streamed, whole.entries);
    // The final empty piece after the last LF counts as a blank line in the stream.
    assert_eq!(parser.skipped(), whole.skipped + 1);
}

#[test]
fn hostile_names_never_come_out() {
    let lines: Vec<Vec<u8>> = ["../x", "/etc/x", "a/b", "..", ".", "x/", "/", "a\0b"]
        .iter()
        .flat_map(|name| {
            [
                format!("-rw-r--r-- 1 u g 1 Mar 7 12:05 {name}"),
                format!("lrwxrwxrwx 1 u g 1 Mar 7 12:05 {name} -> /etc/passwd"),
                format!("03-07-24  12:05PM  1 {name}"),
                format!("+i1,r,\t{name}"),
                format!("type=file;size=1; {name}"),
                format!(" type=file;size=1; {name}"),
            ]
        })
        .map(String::into_bytes)
        .collect();
    let mut all = Vec::new();
    for line in &lines {
        for format in ListingFormat::ALL {
            assert_eq!(
                parse_list_line(line, format, now()),
                None,
                "{}",
                line.escape_ascii()
            );
        }
        assert_eq!(parse_mlsx_line(line), None);
        all.extend_from_slice(line);
        all.extend_from_slice(b"\r\n");
    }
    let parsed = parse_listing(&all, None, now());
    assert!(parsed.entries.is_empty(), "{:?}", parsed.entries);
    assert_eq!(parsed.skipped, lines.len());
    // A symlink whose *target* leaves the directory is fine: it is not a name.
    let e = unix("lrwxrwxrwx 1 u g 1 Mar 7 12:05 ok -> ../../etc/passwd");
    assert_eq!(e.name, b"ok");
}

#[test]
fn every_byte_value_and_huge_inputs() {
    for b in 0..=255u8 {
        let mut line = b"-rw-r--r-- 1 u g 1 Mar 7 12:05 x".to_vec();
        line.push(b);
        let e = parse_list_line(&line, ListingFormat::Unix, now());
        if b == b'/' || b == 0 {
            assert_eq!(e, None);
        } else {
            assert_eq!(e.map(|e| e.name), Some(vec![b'x', b]));
        }
        for format in ListingFormat::ALL {
            let _ = parse_list_line(&[b], format, now());
            let _ = parse_list_line(&[b; 3], format, now());
        }
        let _ = parse_mlsx_line(&[b, b' ', b]);
    }
    // Numbers far beyond u64 and Timestamp range.
    assert_eq!(
        parse_list_line(b"+m99999999999999999999999,\tx", ListingFormat::Eplf, now())
            .map(|e| e.modified),
        Some(None)
    );
    assert_eq!(
        parse_list_line(b"+m9223372036854775807,\tx", ListingFormat::Eplf, now())
            .map(|e| e.modified),
        Some(None)
    );
    assert_eq!(
        parse_mlsx_line(b"type=file;size=99999999999999999999999;UNIX.mode=77777777777; x")
            .map(|e| (e.size, e.unix_mode)),
        Some((0, None))
    );

    // A line just over the bound is skipped unread; one at the bound is parsed.
    let prefix = b"-rw-r--r-- 1 u g 1 Mar 7 12:05 ";
    let mut at_limit = prefix.to_vec();
    at_limit.resize(MAX_LIST_LINE, b'a');
    assert!(parse_list_line(&at_limit, ListingFormat::Unix, now()).is_some());
    let mut over = at_limit.clone();
    over.push(b'a');
    assert_eq!(parse_list_line(&over, ListingFormat::Unix, now()), None);
    let mut mlsd = b"type=file; ".to_vec();
    mlsd.resize(MAX_LIST_LINE + 1, b'a');
    assert_eq!(parse_mlsx_line(&mlsd), None);

    // 1 MB lines of one byte, of blanks, of separators, of digits: no entry, no panic, and
    // (the test suite's running time says) no quadratic work.
    for fill in [b'a', b' ', b'\t', b'1', b';', b'=', b'-', b'+', b'/'] {
        let big = vec![fill; 1 << 20];
        let parsed = parse_listing(&big, None, now());
        assert!(parsed.entries.is_empty());
        assert_eq!(parsed.skipped, 1);
    }
    // Many short tokens within the bound: parsed in linear time.
    let mut many = b"-rw-r--r--".to_vec();
    while many.len() < MAX_LIST_LINE - 4 {
        many.extend_from_slice(b" 1 ");
    }
    assert_eq!(parse_list_line(&many, ListingFormat::Unix, now()), None);
}

#[test]
fn local_names() {
    for ok in [
        "a",
        "report 2024.pdf",
        " lead",
        "trail ",
        ".hidden",
        "...",
        "-rf",
        "日本語.txt",
        "ab:c",
        "CON",
    ] {
        assert_eq!(local_name(ok.as_bytes()), Ok(ok));
    }
    for (bad, why) in [
        (&b""[..], UnsafeName::Empty),
        (b".", UnsafeName::Dots),
        (b"..", UnsafeName::Dots),
        (b"../x", UnsafeName::Separator),
        (b"/etc/x", UnsafeName::Separator),
        (b"a/b", UnsafeName::Separator),
        (b"a\\b", UnsafeName::Separator),
        (b"c:x", UnsafeName::DrivePrefix),
        (b"Z:", UnsafeName::DrivePrefix),
        (b"a\0b", UnsafeName::ControlChar),
        (b"a\rb", UnsafeName::ControlChar),
        (b"\x1b[2J", UnsafeName::ControlChar),
        (b"del\x7f", UnsafeName::ControlChar),
        ("c1\u{85}".as_bytes(), UnsafeName::ControlChar),
        (b"\xff", UnsafeName::NotUtf8),
        (b"caf\xe9", UnsafeName::NotUtf8),
    ] {
        assert_eq!(local_name(bad), Err(why), "{}", bad.escape_ascii());
    }
}

fn list_round_trip(entry: &Entry, now: Timestamp) -> Option<Entry> {
    let mut out = Vec::new();
    list_line(entry, now, &mut out).ok()?;
    let line = out.strip_suffix(b"\r\n")?;
    parse_list_line(line, ListingFormat::Unix, now)
}

fn mlsx_round_trip(entry: &Entry) -> Option<Entry> {
    let mut out = Vec::new();
    mlsx_line(entry, Facts::ALL, &mut out).ok()?;
    parse_mlsx_line(out.strip_suffix(b"\r\n")?)
}

/// Names the formatters can send and the parsers hand out, with blanks, `->`-free.
fn any_name() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 1..24).prop_filter("listable, sendable", |n| {
        is_listable_name(n) && !n.iter().any(|&b| b == b'\r' || b == b'\n')
    })
}

fn any_kind() -> impl Strategy<Value = (EntryKind, u32)> {
    prop_oneof![
        Just((EntryKind::File, 0)),
        Just((EntryKind::Dir, 0)),
        "[a-zA-Z0-9._/-]{1,12}".prop_map(|t| (
            EntryKind::Symlink {
                target: Some(t.into_bytes())
            },
            0
        )),
        Just((EntryKind::Symlink { target: None }, 0)),
        prop_oneof![Just(S_IFIFO), Just(S_IFCHR), Just(S_IFBLK), Just(S_IFSOCK)]
            .prop_map(|bits| (EntryKind::Other, bits)),
    ]
}

proptest! {
    /// LIST lines from the server formatter parse back: name, kind, size (0 for devices),
    /// mode, owner, group, link count; the time to the minute when `list_line` shows one,
    /// else to the day.
    #[test]
    fn list_lines_round_trip(
        name in any_name(),
        (kind, type_bits) in any_kind(),
        size: u64,
        perms in 0u32..0o10000,
        nlink: u64,
        owner in "[a-z][a-z0-9_-]{0,10}",
        secs in 0i64..4_102_444_800,
        age in -3_600i64..(2 * 365 * 86_400),
    ) {
        let now = Timestamp::from_unix(secs).expect("in range");
        let modified = Timestamp::from_unix(secs - age);
        let entry = Entry {
            name: name.clone(),
            kind: kind.clone(),
            size,
            modified,
            unix_mode: Some(perms | type_bits),
            owner: Some(owner.as_str().into()),
            group: Some(owner.as_str().into()),
            nlink: Some(nlink),
            ..Entry::default()
        };
        // A symlink name holding ` -> ` (or ending so that one forms) cannot be told from its
        // target.
        let arrow_at = [name.as_slice(), b" -> "].concat().windows(4).position(|w| w == b" -> ");
        prop_assume!(!matches!(kind, EntryKind::Symlink { .. }) || arrow_at == Some(name.len()));
        let back = list_round_trip(&entry, now).expect("parses back");
        prop_assert_eq!(&back.name, &name);
        prop_assert_eq!(&back.kind, &kind);
        let device = type_bits == S_IFCHR || type_bits == S_IFBLK;
        prop_assert_eq!(back.size, if device { back.size } else { size });
        prop_assert_eq!(back.unix_mode, Some(perms | type_bits));
        prop_assert_eq!((back.nlink, back.owner.as_deref(), back.group.as_deref()), (Some(nlink), Some(owner.as_str()), Some(owner.as_str())));
        let (sent, got) = (modified.expect("in range"), back.modified.expect("a time"));
        prop_assert_eq!((got.year(), got.month(), got.day()), (sent.year(), sent.month(), sent.day()));
        if got.hour() != 0 || got.minute() != 0 {
            prop_assert_eq!((got.hour(), got.minute()), (sent.hour(), sent.minute()));
        }
    }

    /// MLSD lines from the server formatter parse back with every fact they carry.
    #[test]
    fn mlsx_lines_round_trip(
        name in any_name(),
        (kind, type_bits) in any_kind(),
        size: u64,
        perms in 0u32..0o10000,
        modified in proptest::option::of(0i64..253_402_300_799),
        millis in proptest::option::of(0u16..1000),
        perm in proptest::option::of("[acdeflmprw]{0,10}"),
        unique in proptest::option::of("[a-zA-Z0-9.]{1,12}"),
    ) {
        let modified = modified
            .and_then(Timestamp::from_unix)
            .map(|t| millis.and_then(|ms| t.with_millis(ms)).unwrap_or(t));
        let entry = Entry {
            name,
            kind,
            size: if type_bits == 0 { size } else { 0 },
            modified,
            unix_mode: Some(perms | type_bits),
            perm,
            unique,
            ..Entry::default()
        };
        let back = mlsx_round_trip(&entry).expect("parses back");
        let want = Entry { size: if entry.kind.is_dir() { 0 } else { entry.size }, ..entry };
        prop_assert_eq!(back, want);
    }

    /// Whatever the bytes, no parser panics and no entry has a name a listing must not yield.
    #[test]
    fn any_bytes_give_only_listable_names(data in proptest::collection::vec(any::<u8>(), 0..400), secs in 0i64..4_102_444_800) {
        let now = Timestamp::from_unix(secs).expect("in range");
        for format in [None, Some(ListingFormat::Unix), Some(ListingFormat::Dos), Some(ListingFormat::Eplf), Some(ListingFormat::Mlsx)] {
            let parsed = parse_listing(&data, format, now);
            for e in &parsed.entries {
                prop_assert!(is_listable_name(&e.name));
            }
            let lines = data.split(|&b| b == b'\n').count();
            prop_assert!(parsed.entries.len() + parsed.skipped <= lines);
        }
        if let Ok(name) = local_name(&data) {
            prop_assert!(!name.is_empty() && name != "." && name != "..");
            prop_assert!(!name.contains(['/', '\\']) && !name.chars().any(char::is_control));
        }
    }

    /// Unix lines built from parts parse to those parts, whatever the spacing.
    #[test]
    fn unix_columns_any_spacing(
        gaps in proptest::collection::vec(1usize..4, 7),
        size: u64,
        day in 1u8..=28,
        month in 1u8..=12,
        year in 1970u16..2024,
        name in "[ -.0-~]{0,19}[a-z]",
    ) {
        prop_assume!(is_listable_name(name.as_bytes()));
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
        let cols = ["-rw-r--r--", "1", "user", "group", &size.to_string(), months[usize::from(month - 1)], &day.to_string(), &year.to_string()];
        let mut line = String::new();
        for (col, gap) in cols.iter().zip(&gaps) {
            line.push_str(col);
            line.push_str(&" ".repeat(*gap));
        }
        line.push_str(cols[7]);
        line.push(' ');
        line.push_str(&name);
        let e = parse_list_line(line.as_bytes(), ListingFormat::Unix, now()).expect("parses");
        prop_assert_eq!(e.name, name.into_bytes());
        prop_assert_eq!(e.size, size);
        prop_assert_eq!(e.modified, Timestamp::new(year, month, day, 0, 0, 0));
    }
}

/// Real lines of every format, for the fuzz-logic property below to splice and corrupt.
#[cfg(feature = "arbitrary")]
const SAMPLES: &[&[u8]] = &[
    b"drwxr-xr-x    2 1000     1000         4096 Mar 07 12:05 pub",
    b"lrwxrwxrwx    1 ftp      ftp             7 Jan  1 12:00 link -> target",
    b"crw-rw-rw-   1 root     root       1,   3 Jan  1  2020 null",
    b"03-07-24  12:05PM       <DIR>          Windows Folder",
    b"03-07-24  12:05AM                52113 report.pdf",
    b"+i8388621.44468,m839956783,r,s10376,\tRFCEPLF",
    b"type=file;size=52113;modify=20240307120509.250;UNIX.mode=0644; my notes.txt",
    b" type=OS.unix=slink:/srv/data;modify=20240307120509; data",
    b"\"/a \"\"quoted\"\" dir\" created",
    b"191240307120500",
    b" MLST size*;modify*;type*;",
    b"total 16",
];

#[cfg(feature = "arbitrary")]
proptest! {
    /// The `list_parse` fuzz target's checks hold for spliced and corrupted real lines.
    #[test]
    fn fuzz_logic_on_corrupted_samples(
        picks in proptest::collection::vec((proptest::sample::select(SAMPLES), any::<usize>(), any::<u8>()), 0..12),
        now in any::<[u8; 4]>(),
    ) {
        let mut data = now.to_vec();
        for (line, at, byte) in picks {
            let mut line = line.to_vec();
            let at = at % (line.len() + 1);
            if let Some(b) = line.get_mut(at) {
                *b = byte;
            }
            data.extend_from_slice(&line);
            data.extend_from_slice(b"\r\n");
        }
        crate::fuzzing::list_parse(&data);
    }
}
