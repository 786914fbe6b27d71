//! Known-answer and property tests for the listing formatters.

use proptest::prelude::*;

use super::*;
use crate::Timestamp;

/// The `now` of most LIST tests: 2024-06-01 12:00:00 UTC.
fn now() -> Timestamp {
    ts(2024, 6, 1, 12, 0, 0)
}

fn ts(y: u16, mo: u8, d: u8, h: u8, mi: u8, s: u8) -> Timestamp {
    Timestamp::new(y, mo, d, h, mi, s).expect("valid test time")
}

fn list(entry: &Entry) -> String {
    let mut out = Vec::new();
    list_line(entry, now(), &mut out).expect("representable");
    String::from_utf8(out).expect("test names are UTF-8")
}

fn mlsd(entry: &Entry, facts: Facts) -> String {
    let mut out = Vec::new();
    mlsx_line(entry, facts, &mut out).expect("representable");
    String::from_utf8(out).expect("test names are UTF-8")
}

fn recent(entry: Entry) -> Entry {
    Entry {
        modified: Some(ts(2024, 3, 7, 14, 5, 0)),
        ..entry
    }
}

#[test]
fn list_files_dirs_and_links() {
    assert_eq!(
        list(&recent(Entry::file("notes.txt", 4096))),
        "-rw-r--r--    1 ftp      ftp          4096 Mar  7 14:05 notes.txt\r\n"
    );
    assert_eq!(
        list(&recent(Entry {
            nlink: Some(3),
            owner: Some("www-data".into()),
            group: Some("staff".into()),
            size: 4096,
            ..Entry::dir("public_html")
        })),
        "drwxr-xr-x    3 www-data staff        4096 Mar  7 14:05 public_html\r\n"
    );
    assert_eq!(
        list(&recent(Entry {
            size: 6,
            ..Entry::symlink("latest", Some(b"v1.2.3".to_vec()))
        })),
        "lrwxrwxrwx    1 ftp      ftp             6 Mar  7 14:05 latest -> v1.2.3\r\n"
    );
    // Unknown target: the name alone.
    assert_eq!(
        list(&recent(Entry::symlink("dangling", None))),
        "lrwxrwxrwx    1 ftp      ftp             0 Mar  7 14:05 dangling\r\n"
    );
    // cdir and pdir are plain directories in LIST.
    for kind in [EntryKind::CurrentDir, EntryKind::ParentDir] {
        let line = list(&recent(Entry {
            kind,
            ..Entry::dir("..")
        }));
        assert!(line.starts_with("drwxr-xr-x "), "{line}");
    }
    // Long owner, group and size push the line right but keep single-space separators.
    assert_eq!(
        list(&recent(Entry {
            owner: Some("a-very-long-owner".into()),
            group: Some("g".into()),
            nlink: Some(12345),
            ..Entry::file("f", 123_456_789_012)
        })),
        "-rw-r--r-- 12345 a-very-long-owner g        123456789012 Mar  7 14:05 f\r\n"
    );
}

#[test]
fn list_other_kinds_use_the_type_bits() {
    for (mode, letter) in [
        (0o010_644, 'p'),
        (0o020_620, 'c'),
        (0o060_660, 'b'),
        (0o140_755, 's'),
        (0o644, '-'),
        // A type the listing does not know: still a letter every parser accepts.
        (0o170_644, '-'),
    ] {
        let entry = recent(Entry {
            kind: EntryKind::Other,
            unix_mode: Some(mode),
            ..Entry::file("x", 0)
        });
        let line = list(&entry);
        assert_eq!(line.chars().next(), Some(letter), "{mode:o}: {line}");
        assert!(line.starts_with(&format!("{letter}rw")), "{line}");
    }
    // For files the kind decides, whatever type bits the mode carries.
    let line = list(&recent(Entry {
        unix_mode: Some(0o040_755),
        ..Entry::file("f", 0)
    }));
    assert!(line.starts_with("-rwxr-xr-x "), "{line}");
}

#[test]
fn list_permission_bits() {
    for (mode, shown) in [
        (0o000, "----------"),
        (0o777, "-rwxrwxrwx"),
        (0o640, "-rw-r-----"),
        (0o4755, "-rwsr-xr-x"),
        (0o4644, "-rwSr--r--"),
        (0o2755, "-rwxr-sr-x"),
        (0o2644, "-rw-r-Sr--"),
        (0o1777, "-rwxrwxrwt"),
        (0o1776, "-rwxrwxrwT"),
        (0o7777, "-rwsrwsrwt"),
        (0o7000, "---S--S--T"),
    ] {
        let line = list(&recent(Entry {
            unix_mode: Some(mode),
            ..Entry::file("f", 0)
        }));
        assert_eq!(line.get(..10), Some(shown), "{mode:o}");
    }
    let line = list(&recent(Entry {
        unix_mode: Some(0o1777),
        ..Entry::dir("tmp")
    }));
    assert!(line.starts_with("drwxrwxrwt "), "{line}");
}

#[test]
fn list_dates_recent_old_and_future() {
    let date_of = |modified: Option<Timestamp>| {
        let line = list(&Entry {
            modified,
            ..Entry::file("f", 0)
        });
        line.get(43..55).expect("date column").to_owned()
    };
    let n = now().to_unix();
    let at = |secs: i64| Timestamp::from_unix(secs);
    // Exactly 182 days old is still recent; one second more is old (vsftpd's boundary).
    assert_eq!(date_of(at(n - 182 * 86_400)), "Dec  2 12:00");
    assert_eq!(date_of(at(n - 182 * 86_400 - 1)), "Dec  2  2023");
    assert_eq!(date_of(at(n)), "Jun  1 12:00");
    // Up to an hour in the future counts as now (clock skew); more shows the year.
    assert_eq!(date_of(at(n + 3600)), "Jun  1 13:00");
    assert_eq!(date_of(at(n + 3601)), "Jun  1  2024");
    assert_eq!(date_of(Some(ts(2031, 1, 31, 0, 0, 0))), "Jan 31  2031");
    // Two-digit days, every month name, and the year right-aligned in five columns.
    assert_eq!(date_of(Some(ts(2024, 5, 31, 9, 7, 59))), "May 31 09:07");
    assert_eq!(date_of(Some(ts(1999, 10, 10, 1, 2, 3))), "Oct 10  1999");
    assert_eq!(date_of(Some(ts(999, 2, 3, 0, 0, 0))), "Feb  3   999");
    let months: Vec<String> = (1..=12)
        .map(|m| {
            date_of(Some(ts(2000, m, 1, 0, 0, 0)))
                .get(..3)
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert_eq!(
        months.join(" "),
        "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec"
    );
    // No time at all: the epoch, a fixed old date.
    assert_eq!(date_of(None), "Jan  1  1970");
}

#[test]
fn list_sizes() {
    assert_eq!(
        list(&recent(Entry::file("empty", 0))),
        "-rw-r--r--    1 ftp      ftp             0 Mar  7 14:05 empty\r\n"
    );
    assert_eq!(
        list(&recent(Entry::file("huge", u64::MAX))),
        "-rw-r--r--    1 ftp      ftp      18446744073709551615 Mar  7 14:05 huge\r\n"
    );
}

#[test]
fn list_names_are_sent_byte_exact() {
    let prefix = "-rw-r--r--    1 ftp      ftp             1 Mar  7 14:05 ";
    for name in [
        &b"two  spaces and trailing "[..],
        b"  leading spaces",
        b"caf\xe9 latin-1",
        b"\xff\xfe raw 0xFF",
        "\u{65e5}\u{672c}\u{8a9e}.txt".as_bytes(),
        b"tab\there",
        b"not -> a link",
    ] {
        let mut out = Vec::new();
        list_line(&recent(Entry::file(name, 1)), now(), &mut out).expect("representable");
        let mut expected = prefix.as_bytes().to_vec();
        expected.extend_from_slice(name);
        expected.extend_from_slice(b"\r\n");
        assert_eq!(out, expected, "{}", name.escape_ascii());
    }
}

#[test]
fn owner_and_group_cannot_break_the_columns() {
    let line = list(&recent(Entry {
        owner: Some("evil\r\n-rw-r--r-- 1 x".into()),
        group: Some("domain users".into()),
        ..Entry::file("f", 1)
    }));
    assert_eq!(
        line,
        "-rw-r--r--    1 evil__-rw-r--r--_1_x domain_users        1 Mar  7 14:05 f\r\n"
    );
    let line = list(&recent(Entry {
        owner: Some("".into()),
        ..Entry::file("f", 1)
    }));
    assert!(line.starts_with("-rw-r--r--    1 ftp      ftp "), "{line}");
}

/// Names and pathnames that cannot be sent are refused by every formatter, with nothing
/// written, so no name can add a line to a listing.
#[test]
fn unrepresentable_names_are_refused() {
    for name in [
        &b""[..],
        b"a\nb",
        b"a\rb",
        b"a\r\nb",
        b"trailing\r",
        b"\n",
        b"nul\0byte",
        b"evil\r\n-rw-r--r--    1 ftp ftp 0 Jan  1  1970 forged",
    ] {
        let entry = Entry::file(name, 1);
        assert!(!entry.has_representable_name());
        let mut out = b"kept".to_vec();
        assert_eq!(list_line(&entry, now(), &mut out), Err(UnrepresentableName));
        assert_eq!(nlst_line(&entry, &mut out), Err(UnrepresentableName));
        assert_eq!(
            mlsx_line(&entry, Facts::ALL, &mut out),
            Err(UnrepresentableName)
        );
        assert_eq!(
            mlst_line(&Entry::file("ok", 1), name, Facts::ALL, &mut out),
            Err(UnrepresentableName)
        );
        assert_eq!(out, b"kept", "{}", name.escape_ascii());
    }
    assert!(Entry::file(" ", 1).has_representable_name());
}

#[test]
fn link_targets_that_cannot_be_sent_are_left_out() {
    let entry = recent(Entry::symlink(
        "link",
        Some(b"x\r\n-rw-r--r-- forged".to_vec()),
    ));
    assert_eq!(
        list(&entry),
        "lrwxrwxrwx    1 ftp      ftp             0 Mar  7 14:05 link\r\n"
    );
    assert_eq!(
        mlsd(&entry, Facts::NONE.with(Fact::Type)),
        "type=OS.unix=symlink; link\r\n"
    );
}

#[test]
fn nlst_lines() {
    let mut out = Vec::new();
    for entry in [
        Entry::file("a.txt", 1),
        Entry::dir("  spaced dir "),
        Entry::file(&b"\xe9t\xe9"[..], 1),
        Entry::symlink("l", Some(b"t".to_vec())),
    ] {
        nlst_line(&entry, &mut out).expect("representable");
    }
    assert_eq!(out, b"a.txt\r\n  spaced dir \r\n\xe9t\xe9\r\nl\r\n");
}

#[test]
fn mlsx_type_values() {
    let only_type = Facts::NONE.with(Fact::Type);
    let cases = [
        (Entry::file("f", 1), "type=file; f\r\n"),
        (Entry::dir("d"), "type=dir; d\r\n"),
        (
            Entry {
                kind: EntryKind::CurrentDir,
                ..Entry::dir(".")
            },
            "type=cdir; .\r\n",
        ),
        (
            Entry {
                kind: EntryKind::ParentDir,
                ..Entry::dir("..")
            },
            "type=pdir; ..\r\n",
        ),
        (
            Entry::symlink("l", Some(b"/srv/www".to_vec())),
            "type=OS.unix=slink:/srv/www; l\r\n",
        ),
        (Entry::symlink("l", None), "type=OS.unix=symlink; l\r\n"),
        // A target with `;` or a space would end the fact or the fact list.
        (
            Entry::symlink("l", Some(b"a;size=1".to_vec())),
            "type=OS.unix=symlink; l\r\n",
        ),
        (
            Entry::symlink("l", Some(b"my docs".to_vec())),
            "type=OS.unix=symlink; l\r\n",
        ),
        (
            Entry::symlink("l", Some(Vec::new())),
            "type=OS.unix=symlink; l\r\n",
        ),
    ];
    for (entry, line) in cases {
        assert_eq!(mlsd(&entry, only_type), line);
    }
    for (mode, value) in [
        (Some(0o010_644), "OS.unix=fifo"),
        (Some(0o020_644), "OS.unix=chr"),
        (Some(0o060_644), "OS.unix=blk"),
        (Some(0o140_644), "OS.unix=socket"),
        (Some(0o644), "OS.unix=other"),
        (None, "OS.unix=other"),
    ] {
        let entry = Entry {
            kind: EntryKind::Other,
            unix_mode: mode,
            ..Entry::file("o", 0)
        };
        assert_eq!(mlsd(&entry, only_type), format!("type={value}; o\r\n"));
    }
}

#[test]
fn mlsx_facts_known_answers() {
    let full = Entry {
        modified: Some(ts(2024, 3, 7, 14, 5, 9)),
        unix_mode: Some(0o100_644),
        perm: Some("adfrw".into()),
        unique: Some("803g1a2b".into()),
        ..Entry::file("report final.pdf", 52_113)
    };
    assert_eq!(
        mlsd(&full, Facts::ALL),
        "type=file;size=52113;modify=20240307140509;perm=adfrw;unique=803g1a2b;UNIX.mode=0644; \
         report final.pdf\r\n"
    );
    assert_eq!(
        mlsd(&full, Facts::default()),
        "type=file;size=52113;modify=20240307140509;perm=adfrw;unique=803g1a2b; \
         report final.pdf\r\n"
    );
    // No facts: a space, then the name (RFC 3659: entry = [ facts ] SP pathname).
    assert_eq!(mlsd(&full, Facts::NONE), " report final.pdf\r\n");
    // Milliseconds only when present; UNIX.mode keeps the special bits.
    let entry = Entry {
        modified: ts(2024, 3, 7, 14, 5, 9).with_millis(50),
        unix_mode: Some(0o4755),
        ..Entry::file("f", 0)
    };
    assert_eq!(
        mlsd(&entry, Facts::ALL),
        "type=file;size=0;modify=20240307140509.050;UNIX.mode=04755; f\r\n"
    );
    assert_eq!(
        mlsd(
            &Entry {
                unix_mode: Some(0),
                ..Entry::file("f", u64::MAX)
            },
            Facts::ALL
        ),
        "type=file;size=18446744073709551615;UNIX.mode=0000; f\r\n"
    );
    // Directories have no size fact; facts without values are left out.
    assert_eq!(
        mlsd(
            &Entry {
                size: 4096,
                unix_mode: Some(0o755),
                ..Entry::dir("d")
            },
            Facts::ALL
        ),
        "type=dir;UNIX.mode=0755; d\r\n"
    );
}

#[test]
fn mlsx_perm_and_unique_cannot_forge_facts() {
    let entry = Entry {
        perm: Some("r; evil".into()),
        unique: Some("x;size=0".into()),
        ..Entry::file("f", 1)
    };
    assert_eq!(mlsd(&entry, Facts::ALL), "type=file;size=1;perm=rel; f\r\n");
    let entry = Entry {
        perm: Some(String::new()),
        unique: Some("has space".into()),
        ..Entry::file("f", 1)
    };
    assert_eq!(mlsd(&entry, Facts::ALL), "type=file;size=1;perm=; f\r\n");
    let entry = Entry {
        perm: Some("ELR".into()),
        unique: Some("\u{e9}\r".into()),
        ..Entry::dir("d")
    };
    assert_eq!(mlsd(&entry, Facts::ALL), "type=dir;perm=ELR; d\r\n");
}

#[test]
fn mlsx_names_byte_exact() {
    for name in [&b" leading"[..], b"a; type=dir", b"caf\xe9", b"\xff"] {
        let mut out = Vec::new();
        mlsx_line(
            &Entry::file(name, 1),
            Facts::NONE.with(Fact::Size),
            &mut out,
        )
        .expect("representable");
        let mut expected = b"size=1; ".to_vec();
        expected.extend_from_slice(name);
        expected.extend_from_slice(b"\r\n");
        assert_eq!(out, expected);
    }
}

#[test]
fn mlst_line_is_for_the_control_connection() {
    let entry = Entry {
        modified: Some(ts(2024, 3, 7, 14, 5, 9)),
        perm: Some("flcdmpe".into()),
        ..Entry::dir("ignored")
    };
    let mut line = Vec::new();
    mlst_line(&entry, b"/pub/my dir", Facts::default(), &mut line).expect("representable");
    assert_eq!(
        line,
        b" type=dir;modify=20240307140509;perm=flcdmpe; /pub/my dir"
    );
    let mut line = Vec::new();
    mlst_line(&entry, b"/pub", Facts::NONE, &mut line).expect("representable");
    assert_eq!(line, b"  /pub");
    // In a 250 reply, as the session sends it; 0xFF is doubled by the reply encoder.
    let mut line = Vec::new();
    mlst_line(
        &Entry::file("x", 3),
        b"/\xff",
        Facts::NONE.with(Fact::Size),
        &mut line,
    )
    .expect("representable");
    let reply = crate::Reply::multiline(
        crate::ReplyCode::FILE_ACTION_OKAY,
        [&b"Listing /\xff"[..], &line, b"End"],
    );
    assert_eq!(
        reply.to_bytes(),
        b"250-Listing /\xff\xff\r\n size=3; /\xff\xff\r\n250 End\r\n"
    );
}

#[test]
fn opts_mlst_parsing() {
    let ts_only = Facts::NONE.with(Fact::Type).with(Fact::Size);
    for (arg, facts) in [
        ("type;size;", ts_only),
        ("TYPE;Size;", ts_only),
        ("size;type", ts_only),
        (" type ; size ;", ts_only),
        ("type;size;type;", ts_only),
        ("type;size;media-type;charset;lang;", ts_only),
        ("type;;size;", ts_only),
        ("", Facts::NONE),
        (";", Facts::NONE),
        ("create;", Facts::NONE),
        ("unix.mode;UNIX.MODE;", Facts::NONE.with(Fact::UnixMode)),
        (
            "modify;perm;unique;",
            Facts::default().without(Fact::Type).without(Fact::Size),
        ),
        ("type*;size;", Facts::NONE.with(Fact::Size)),
        ("\u{e9};\0;\r\n;type", Facts::NONE.with(Fact::Type)),
    ] {
        assert_eq!(Facts::parse_opts(arg), facts, "{arg:?}");
    }
}

#[test]
fn feat_and_opts_replies() {
    assert_eq!(
        Facts::default().feat_line(),
        "MLST type*;size*;modify*;perm*;unique*;UNIX.mode;"
    );
    assert_eq!(
        Facts::ALL.feat_line(),
        "MLST type*;size*;modify*;perm*;unique*;UNIX.mode*;"
    );
    assert_eq!(
        Facts::NONE.feat_line(),
        "MLST type;size;modify;perm;unique;UNIX.mode;"
    );
    assert_eq!(
        Facts::parse_opts("size;type;").opts_reply_text(),
        "MLST OPTS type;size;"
    );
    assert_eq!(Facts::NONE.opts_reply_text(), "MLST OPTS");
    assert_eq!(
        Facts::default().to_string(),
        "type;size;modify;perm;unique;"
    );
    assert_eq!(format!("{:?}", Facts::NONE.with(Fact::Modify)), "{Modify}");
    assert!(Facts::NONE.is_empty() && !Facts::default().contains(Fact::UnixMode));
    assert_eq!(Facts::ALL.iter().collect::<Vec<_>>(), Fact::ALL);
    for fact in Fact::ALL {
        assert_eq!(
            Fact::from_name(&fact.name().to_ascii_uppercase()),
            Some(fact)
        );
    }
}

fn any_entry() -> impl Strategy<Value = Entry> {
    let kind = prop_oneof![
        Just(EntryKind::File),
        Just(EntryKind::Dir),
        Just(EntryKind::CurrentDir),
        Just(EntryKind::ParentDir),
        Just(EntryKind::Other),
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..12))
            .prop_map(|target| EntryKind::Symlink { target }),
    ];
    let text = || proptest::option::of(any::<String>());
    (
        proptest::collection::vec(any::<u8>(), 0..12),
        kind,
        any::<u64>(),
        proptest::option::of(-62_167_219_200i64..253_402_300_799)
            .prop_map(|secs| secs.and_then(Timestamp::from_unix)),
        proptest::option::of(any::<u32>()),
        (text(), text(), proptest::option::of(any::<u64>())),
        (text(), text()),
    )
        .prop_map(
            |(name, kind, size, modified, unix_mode, (owner, group, nlink), (perm, unique))| {
                Entry {
                    name,
                    kind,
                    size,
                    modified,
                    unix_mode,
                    owner: owner.map(Into::into),
                    group: group.map(Into::into),
                    nlink,
                    perm,
                    unique,
                }
            },
        )
}

/// A formatted line is either refused with nothing written, or exactly one line whose only
/// CR and LF are its final CRLF, and which holds no NUL.
fn assert_one_line(result: Result<(), UnrepresentableName>, out: &[u8], entry: &Entry) {
    match result {
        Err(UnrepresentableName) => {
            assert!(out.is_empty());
            assert!(!entry.has_representable_name());
        }
        Ok(()) => {
            let body = out.strip_suffix(b"\r\n").expect("ends in CRLF");
            assert!(!body.iter().any(|b| matches!(b, b'\r' | b'\n' | 0)));
        }
    }
}

proptest! {
    #[test]
    fn no_entry_adds_a_line(entry in any_entry(), facts in any::<u16>(), now_secs in 0i64..4_102_444_800) {
        let now = Timestamp::from_unix(now_secs).expect("in range");
        let facts: Facts = Fact::ALL.into_iter().filter(|f| facts & (1 << *f as u16) != 0).collect();
        let mut out = Vec::new();
        assert_one_line(list_line(&entry, now, &mut out), &out, &entry);
        let mut out = Vec::new();
        assert_one_line(nlst_line(&entry, &mut out), &out, &entry);
        let mut out = Vec::new();
        assert_one_line(mlsx_line(&entry, facts, &mut out), &out, &entry);
        let mut line = Vec::new();
        let result = mlst_line(&entry, &entry.name, facts, &mut line);
        prop_assert_eq!(result.is_ok(), entry.has_representable_name());
        prop_assert!(!line.iter().any(|b| matches!(b, b'\r' | b'\n' | 0)));
        // The facts part of an MLSD line ends at its first space, right before the name.
        if !out.is_empty() {
            let space = out.iter().position(|&b| b == b' ').expect("separator");
            prop_assert_eq!(&out[space + 1..out.len() - 2], entry.name.as_slice());
            for fact in out[..space].split(|&b| b == b';').filter(|f| !f.is_empty()) {
                let name = fact.split(|&b| b == b'=').next().unwrap_or_default();
                prop_assert!(Fact::ALL.iter().any(|f| f.name().as_bytes() == name), "{}", fact.escape_ascii());
            }
        }
    }

    #[test]
    fn opts_reply_round_trips(bits in any::<u16>()) {
        let facts: Facts = Fact::ALL.into_iter().filter(|f| bits & (1 << *f as u16) != 0).collect();
        prop_assert_eq!(Facts::parse_opts(&facts.to_string()), facts);
        let listed = facts.opts_reply_text();
        prop_assert_eq!(Facts::parse_opts(listed.trim_start_matches("MLST OPTS")), facts);
    }

    #[test]
    fn opts_parser_is_total(arg in any::<String>()) {
        // Any text gives a set, and only facts the text names are in it.
        let lower = arg.to_ascii_lowercase();
        for fact in Facts::parse_opts(&arg).iter() {
            prop_assert!(lower.contains(&fact.name().to_ascii_lowercase()));
        }
    }
}
