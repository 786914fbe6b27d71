//! Server session dialogues: every verb's success and failure paths, as lines in and replies,
//! requests and data actions out.
mod support;

use std::time::Duration;

use ftp_proto::listing::Entry;
use ftp_proto::server::{
    Config, DataAction, DataError, DataInput, Direction, FsError, HashAlgorithm, ListKind, Request,
    Response, StoreMode, TlsPolicy, TransferError, UsageError,
};
use ftp_proto::{Reply, ReplyCode, Timestamp, VirtualPath};
use support::*;

fn vp(s: &str) -> VirtualPath {
    VirtualPath::root().resolve(&s.into()).unwrap()
}

fn text(r: &Reply) -> String {
    r.text()
}

fn with(f: impl FnOnce(&mut Config)) -> Harness {
    let mut c = Config::default();
    f(&mut c);
    let mut h = Harness::new(c);
    h.login();
    h
}

/// Sends `line`, expects one request, answers it, returns the reply.
fn ask_reply(h: &mut Harness, line: &str, response: Response) -> Reply {
    let (t, _) = h.ask(line);
    h.respond(t, response);
    let r = h.reply();
    h.assert_quiet();
    r
}

// ---- login ----------------------------------------------------------------------------------

#[test]
fn login_success_and_already_logged_in() {
    let mut h = Harness::new(Config::default());
    assert_eq!(h.cmd("USER alice"), 331);
    let (t, r) = h.ask("PASS secret");
    let Request::Login {
        user,
        password,
        peer,
        tls,
        anonymous,
    } = r
    else {
        panic!("{r:?}")
    };
    assert_eq!(
        (
            user.as_str(),
            password.expose_secret().as_slice(),
            tls,
            anonymous
        ),
        ("alice", &b"secret"[..], false, false)
    );
    assert_eq!(peer.to_string(), PEER);
    h.respond(t, Response::LoggedIn);
    assert_eq!(h.reply_code(), 230);
    assert_eq!(h.s.user(), Some("alice"));
    assert_eq!(h.cmd("PASS again"), 503);
    assert_eq!(h.cmd("USER bob"), 503);
    assert_eq!(h.cmd("ACCT x"), 202);
}

#[test]
fn pass_before_user_and_acct_before_login() {
    let mut h = Harness::new(Config::default());
    assert_eq!(h.cmd("PASS x"), 503);
    assert_eq!(h.cmd("ACCT x"), 503);
    assert_eq!(h.cmd("USER a"), 331);
    assert_eq!(h.cmd("ACCT x"), 503);
}

#[test]
fn failed_login_is_answered_after_the_delay() {
    let mut h = Harness::new(Config::default());
    h.cmd("USER alice");
    let (t, _) = h.ask("PASS wrong");
    h.respond(t, Response::LoginRejected);
    h.assert_quiet();
    assert_eq!(h.s.poll_timeout(), Some(h.now + Duration::from_secs(1)));
    h.send("NOOP");
    h.assert_quiet();
    h.advance(Duration::from_millis(999));
    h.assert_quiet();
    h.advance(Duration::from_millis(1));
    assert_eq!(h.reply_code(), 530);
    assert_eq!(h.reply_code(), 200); // the NOOP waited its turn
    assert_eq!(h.cmd("RETR x"), 530);
}

#[test]
fn anonymous_login_when_enabled() {
    let mut c = Config::default();
    c.anonymous = true;
    let mut h = Harness::new(c);
    h.send("USER anonymous");
    let r = h.reply();
    assert_eq!(r.code().get(), 331);
    assert!(text(&r).contains("Anonymous"), "{r:?}");
    let (_, r) = h.ask("PASS guest@example.com");
    assert!(
        matches!(
            r,
            Request::Login {
                anonymous: true,
                ..
            }
        ),
        "{r:?}"
    );

    let mut h = Harness::new(Config::default());
    h.cmd("USER ftp");
    let (_, r) = h.ask("PASS x");
    assert!(
        matches!(
            r,
            Request::Login {
                anonymous: false,
                ..
            }
        ),
        "{r:?}"
    );
}

#[test]
fn login_unavailable_gives_421_and_close() {
    let mut h = Harness::new(Config::default());
    h.cmd("USER a");
    let (t, _) = h.ask("PASS b");
    h.respond(t, Response::LoginUnavailable);
    assert_eq!(h.reply_code(), 421);
    assert_eq!(h.next(), Event::Close);
    h.send("USER again");
    h.assert_quiet();
}

#[test]
fn too_many_sessions_gives_421_and_close() {
    let mut h = Harness::new(Config::default());
    h.cmd("USER a");
    let (t, _) = h.ask("PASS b");
    h.respond(t, Response::TooManySessions);
    assert_eq!(h.reply_code(), 421);
    assert_eq!(h.next(), Event::Close);
    h.send("USER again");
    h.assert_quiet();
}

#[test]
fn rein_resets_login_but_keeps_tls() {
    let mut c = conn(PEER, LOCAL);
    c.tls = true;
    let mut h = Harness::with_conn(Config::default(), c);
    h.login();
    assert_eq!(h.cmd("TYPE I"), 200);
    assert_eq!(h.cmd("REIN"), 220);
    assert!(h.s.is_tls());
    assert_eq!(h.cmd("RETR x"), 530);
    h.login();
    let id = h.epsv();
    h.input(DataInput::Connected { id });
    let (t, _) = h.ask("RETR x");
    h.respond(t, Response::Ok);
    h.reply();
    // TYPE went back to the default, ASCII (RFC 959 5.1).
    assert!(matches!(h.data(), DataAction::Transfer { ascii: true, .. }));
}

#[test]
fn the_default_type_is_ascii_unless_configured_binary() {
    // RFC 959 3.1.1.1: ASCII until a TYPE command says otherwise.
    let mut h = Harness::logged_in();
    let id = h.epsv();
    h.input(DataInput::Connected { id });
    let (t, r) = h.ask("RETR notes.txt");
    assert!(matches!(r, Request::Retrieve { ascii: true, .. }), "{r:?}");
    h.respond(t, Response::Ok);
    h.reply();
    assert!(matches!(h.data(), DataAction::Transfer { ascii: true, .. }));
    // SIZE asks for the size as transferred in TYPE A (RFC 3659 4).
    let mut h = Harness::logged_in();
    let (_, r) = h.ask("SIZE notes.txt");
    assert!(matches!(r, Request::Size { ascii: true, .. }), "{r:?}");

    // Configured like pure-ftpd: binary from the start, and again after REIN.
    let mut config = Config::default();
    config.ascii_by_default = false;
    let mut h = Harness::new(config);
    h.login();
    let (t, r) = h.ask("SIZE notes.txt");
    assert!(matches!(r, Request::Size { ascii: false, .. }), "{r:?}");
    h.respond(t, Response::Size(6));
    assert_eq!(h.reply_code(), 213);
    assert_eq!(h.cmd("TYPE A"), 200);
    assert_eq!(h.cmd("REIN"), 220);
    h.login();
    let (_, r) = h.ask("SIZE notes.txt");
    assert!(matches!(r, Request::Size { ascii: false, .. }), "{r:?}");
}

// ---- navigation -----------------------------------------------------------------------------

#[test]
fn cwd_pwd_cdup() {
    let mut h = Harness::logged_in();
    let (t, r) = h.ask("CWD pub/dir");
    assert_eq!(
        r,
        Request::ChangeDir {
            path: vp("/pub/dir")
        }
    );
    h.respond(t, Response::Ok);
    assert_eq!(h.reply_code(), 250);
    h.send("PWD");
    let r = h.reply();
    assert_eq!(
        (r.code().get(), r.first_line()),
        (257, &b"\"/pub/dir\" is the current directory"[..])
    );
    let (t, r) = h.ask("CDUP");
    assert_eq!(r, Request::ChangeDir { path: vp("/pub") });
    h.respond(t, Response::Ok);
    assert_eq!(h.reply_code(), 250);
    let (t, r) = h.ask("XCUP");
    assert_eq!(r, Request::ChangeDir { path: vp("/") });
    h.respond(t, Response::Ok);
    h.reply();
    let (t, r) = h.ask("XCWD ../../..");
    assert_eq!(r, Request::ChangeDir { path: vp("/") });
    h.respond(t, Response::Error(FsError::NotFound));
    assert_eq!(h.reply_code(), 550);
    h.send("XPWD");
    assert_eq!(h.reply().first_line(), b"\"/\" is the current directory");
}

#[test]
fn pwd_doubles_quotes() {
    let mut h = Harness::logged_in();
    let (t, _) = h.ask("CWD a\"b");
    h.respond(t, Response::Ok);
    h.reply();
    h.send("PWD");
    assert_eq!(
        h.reply().first_line(),
        b"\"/a\"\"b\" is the current directory"
    );
}

#[test]
fn smnt_is_not_implemented() {
    let mut h = Harness::logged_in();
    assert_eq!(h.cmd("SMNT /mnt"), 502);
}

// ---- representation -------------------------------------------------------------------------

#[test]
fn type_stru_mode() {
    let mut h = Harness::logged_in();
    for (line, code) in [
        ("TYPE A", 200),
        ("TYPE A N", 200),
        ("TYPE I", 200),
        ("TYPE L 8", 200),
        ("TYPE L8", 200),
        ("TYPE A T", 504),
        ("TYPE E", 504),
        ("TYPE L 7", 504),
        ("TYPE X", 504),
        ("TYPE", 501),
        ("STRU F", 200),
        ("STRU R", 504),
        ("STRU P", 504),
        ("MODE S", 200),
        ("MODE B", 504),
        ("MODE C", 504),
        ("ALLO 100", 202),
    ] {
        assert_eq!(h.cmd(line), code, "{line}");
    }
}

#[test]
fn type_a_marks_transfers_ascii() {
    let mut h = Harness::logged_in();
    h.cmd("TYPE A");
    let id = h.epsv();
    let (t, _) = h.ask("RETR x");
    h.respond(t, Response::Ok);
    h.input(DataInput::Connected { id });
    assert_eq!(h.reply_code(), 150);
    assert_eq!(
        h.data(),
        DataAction::Transfer {
            id,
            ticket: t,
            direction: Direction::Send,
            ascii: true,
            protected: false
        }
    );
}

// ---- data connections -----------------------------------------------------------------------

#[test]
fn pasv_announces_the_listener() {
    let mut h = Harness::logged_in();
    h.send("PASV");
    let DataAction::Listen { id, .. } = h.data() else {
        panic!()
    };
    h.assert_quiet();
    h.input(DataInput::Listening {
        id,
        addr: "192.0.2.1:50001".parse().unwrap(),
    });
    let r = h.reply();
    assert_eq!(r.code().get(), 227);
    assert_eq!(
        ftp_proto::addr::parse_pasv_reply(r.first_line())
            .unwrap()
            .to_string(),
        "192.0.2.1:50001"
    );
}

#[test]
fn passive_listener_failure_is_425() {
    let mut h = Harness::logged_in();
    h.send("EPSV");
    let DataAction::Listen { id, .. } = h.data() else {
        panic!()
    };
    h.input(DataInput::Failed {
        id,
        error: DataError::Listen,
    });
    assert_eq!(h.reply_code(), 425);
    assert_eq!(h.cmd("RETR x"), 425);
}

#[test]
fn epsv_family_and_ipv6() {
    let mut h = Harness::logged_in();
    h.send("EPSV 2");
    assert_eq!(
        h.reply().first_line(),
        b"Network protocol not supported, use (1)"
    );
    // RFC 2428: a 522 lists the protocols to use, also when the parser refused the number.
    h.send("EPSV 3");
    assert_eq!(
        h.reply().first_line(),
        b"EPSV: network protocol not supported, use (1)"
    );
    h.send("EPRT |3|x|1|");
    assert_eq!(
        h.reply().first_line(),
        b"EPRT: network protocol not supported, use (1)"
    );
    let mut h6 = Harness::with_conn(
        Config::default(),
        conn("[2001:db8::10]:40000", "[2001:db8::1]:21"),
    );
    h6.login();
    // Permanent: PASV cannot describe an IPv6 address.
    assert_eq!(h6.cmd("PASV"), 522);
    assert_eq!(h6.cmd("EPSV 1"), 522);
    h6.send("EPSV 2");
    let DataAction::Listen { id, family } = h6.data() else {
        panic!()
    };
    assert_eq!(family, ftp_proto::server::Family::Ipv6);
    h6.input(DataInput::Listening {
        id,
        addr: "[2001:db8::1]:50000".parse().unwrap(),
    });
    assert_eq!(
        h6.reply().first_line(),
        b"Entering Extended Passive Mode (|||50000|)"
    );
    // Switching to active mode closes the prepared listener.
    h6.send("EPRT |2|2001:db8::10|50001|");
    assert_eq!(h6.data(), DataAction::Close { id });
    assert_eq!(h6.reply_code(), 200);
}

#[test]
fn modes_can_be_disabled() {
    let mut h = with(|c| {
        c.passive_mode = false;
        c.active_mode = false;
    });
    assert_eq!(h.cmd("PASV"), 502);
    assert_eq!(h.cmd("EPSV"), 502);
    assert_eq!(h.cmd("PORT 192,0,2,10,195,80"), 502);
    assert_eq!(h.cmd("EPRT |1|192.0.2.10|50000|"), 502);
}

#[test]
fn transfer_without_data_channel_is_425() {
    let mut h = Harness::logged_in();
    for line in ["RETR a", "STOR a", "APPE a", "STOU", "LIST", "NLST", "MLSD"] {
        assert_eq!(h.cmd(line), 425, "{line}");
    }
}

#[test]
fn data_connection_timeout_is_425() {
    let mut h = Harness::logged_in();
    let id = h.epsv();
    let (t, _) = h.ask("RETR a");
    h.respond(t, Response::Ok);
    h.assert_quiet();
    h.advance(Duration::from_secs(29));
    h.assert_quiet();
    h.advance(Duration::from_secs(1));
    assert_eq!(h.data(), DataAction::Close { id });
    // The file the application opened for RETR is released.
    assert_eq!(h.data(), DataAction::Release { ticket: t });
    assert_eq!(h.reply_code(), 425);
    h.input(DataInput::Connected { id });
    assert_eq!(h.data(), DataAction::Close { id });
    h.assert_quiet();
}

#[test]
fn active_connect_failure_is_425() {
    let mut h = Harness::logged_in();
    h.cmd("PORT 192,0,2,10,195,80");
    let (t, _) = h.ask("STOR up.bin");
    h.respond(t, Response::Ok);
    let DataAction::Connect { id, .. } = h.data() else {
        panic!()
    };
    h.input(DataInput::Failed {
        id,
        error: DataError::Connect,
    });
    assert_eq!(h.data(), DataAction::Release { ticket: t });
    assert_eq!(h.reply_code(), 425);
    h.assert_quiet();
}

// ---- transfers ------------------------------------------------------------------------------

/// Logged in, EPSV, connected early; sends `line` and approves it: returns (id, ticket).
fn approved(
    h: &mut Harness,
    line: &str,
    response: Response,
) -> (ftp_proto::server::DataId, ftp_proto::server::Ticket) {
    let id = h.epsv();
    h.input(DataInput::Connected { id });
    let (t, _) = h.ask(line);
    h.respond(t, response);
    (id, t)
}

#[test]
fn retr_with_rest_and_errors() {
    let mut h = Harness::logged_in();
    assert_eq!(h.cmd("TYPE I"), 200);
    assert_eq!(h.cmd("REST 100"), 350);
    h.epsv();
    let (t, r) = h.ask("RETR big.iso");
    assert_eq!(
        r,
        Request::Retrieve {
            path: vp("/big.iso"),
            offset: 100,
            ascii: false,
        }
    );
    h.respond(t, Response::Error(FsError::NotFound));
    assert_eq!(h.code_after_close(), 550);
    // REST applied to that transfer only.
    h.epsv();
    let (_, r) = h.ask("RETR big.iso");
    assert_eq!(
        r,
        Request::Retrieve {
            path: vp("/big.iso"),
            offset: 0,
            ascii: false,
        }
    );
}

#[test]
fn transfer_outcomes_map_to_replies() {
    for (result, code) in [
        (Ok(5), 226),
        (Err(TransferError::ConnectionLost), 426),
        (Err(TransferError::Storage(FsError::Local)), 451),
        (Err(TransferError::Storage(FsError::QuotaExceeded)), 552),
        (
            Err(TransferError::Storage(FsError::InsufficientStorage)),
            452,
        ),
        (Err(TransferError::Storage(FsError::NameNotAllowed)), 553),
    ] {
        let mut h = Harness::logged_in();
        let (id, _) = approved(&mut h, "STOR f", Response::Ok);
        assert_eq!(h.reply_code(), 125);
        assert!(matches!(
            h.data(),
            DataAction::Transfer {
                direction: Direction::Receive,
                ..
            }
        ));
        h.input(DataInput::Progress { id, bytes: 3 });
        h.input(DataInput::Finished { id, result });
        assert_eq!(h.reply_code(), code);
        h.assert_quiet();
    }
}

#[test]
fn stor_appe_stou_requests() {
    let mut h = Harness::logged_in();
    h.epsv();
    let (t, r) = h.ask("APPE log.txt");
    assert_eq!(
        r,
        Request::Store {
            path: vp("/log.txt"),
            offset: 0,
            mode: StoreMode::Append
        }
    );
    h.respond(t, Response::Error(FsError::PermissionDenied));
    assert_eq!(h.code_after_close(), 550);
    h.epsv();
    let (t, r) = h.ask("STOU hint.txt");
    assert_eq!(
        r,
        Request::StoreUnique {
            dir: vp("/"),
            hint: Some(b"hint.txt".to_vec())
        }
    );
    h.respond(t, Response::Created(vp("/hint.txt.1")));
    // Nothing until the client connects; the data deadline is armed.
    h.assert_quiet();
    assert_eq!(h.s.poll_timeout(), Some(h.now + Duration::from_secs(30)));
}

#[test]
fn stou_argument_names_the_directory_and_the_wanted_name() {
    let mut h = Harness::logged_in();
    let (t, _) = h.ask("CWD /home");
    h.respond(t, Response::Ok);
    assert_eq!(h.reply_code(), 250);
    for (arg, dir, hint) in [
        ("/pub/a.txt", "/pub", "a.txt"),
        ("sub/b.txt", "/home/sub", "b.txt"),
        ("../c.txt", "/", "c.txt"),
    ] {
        h.epsv();
        let (t, r) = h.ask(&format!("STOU {arg}"));
        assert_eq!(
            r,
            Request::StoreUnique {
                dir: vp(dir),
                hint: Some(hint.as_bytes().to_vec())
            },
            "STOU {arg}"
        );
        h.respond(t, Response::Error(FsError::PermissionDenied));
        assert_eq!(h.code_after_close(), 550);
    }
}

#[test]
fn stou_reply_names_the_file() {
    let mut h = Harness::logged_in();
    let (id, _) = approved(&mut h, "STOU", Response::Created(vp("/upload.0001")));
    let r = h.reply();
    assert_eq!(
        (r.code().get(), r.first_line()),
        (125, &b"FILE: /upload.0001"[..])
    );
    h.data();
    h.input(DataInput::Finished { id, result: Ok(1) });
    assert_eq!(h.reply_code(), 226);
}

#[test]
fn abor_during_and_outside_a_transfer() {
    let mut h = Harness::logged_in();
    assert_eq!(h.cmd("ABOR"), 225);
    let (id, _) = approved(&mut h, "RETR big", Response::Ok);
    h.reply();
    h.data();
    h.send_raw(b"\xff\xf4\xff\xf2ABOR\r\n");
    assert_eq!(h.data(), DataAction::Close { id });
    assert_eq!(h.reply_code(), 426);
    assert_eq!(h.reply_code(), 226);
    // A late Finished for the aborted channel is ignored.
    h.input(DataInput::Finished { id, result: Ok(7) });
    h.assert_quiet();
    assert_eq!(h.cmd("NOOP"), 200);
}

#[test]
fn stat_during_transfer_reports_progress_and_quit_waits() {
    let mut h = Harness::logged_in();
    let (id, _) = approved(&mut h, "RETR big", Response::Ok);
    h.reply();
    h.data();
    h.input(DataInput::Progress { id, bytes: 4096 });
    h.send("STAT");
    let r = h.reply();
    assert_eq!(r.code().get(), 213);
    assert!(text(&r).contains("4096"), "{r:?}");
    h.send("QUIT");
    h.assert_quiet();
    h.input(DataInput::Finished {
        id,
        result: Ok(8192),
    });
    assert_eq!(h.reply_code(), 226);
    assert_eq!(h.reply_code(), 221);
    assert_eq!(h.next(), Event::Close);
}

#[test]
fn list_nlst_mlsd_listings() {
    for (line, kind, expect) in [
        ("LIST", ListKind::List, &b"-rw-r--r--"[..]),
        ("NLST", ListKind::Nlst, b"a.txt\r\nsub\r\n"),
        (
            "MLSD",
            ListKind::Mlsd,
            b"type=file;size=10;modify=20240501100000;",
        ),
    ] {
        let mut h = Harness::logged_in();
        let id = h.epsv();
        let (t, r) = h.ask(line);
        assert_eq!(
            r,
            Request::List {
                path: vp("/"),
                options: None,
                kind
            }
        );
        let mut all = entries();
        all.push(Entry::file(b"evil\r\n226 fake".to_vec(), 1));
        h.respond(
            t,
            Response::Entries {
                entries: all,
                now: clock(),
            },
        );
        h.input(DataInput::Connected { id });
        assert_eq!(h.reply_code(), 150);
        let DataAction::SendListing { bytes, .. } = h.data() else {
            panic!()
        };
        assert!(
            bytes.windows(expect.len()).any(|w| w == expect),
            "{line}: {}",
            bytes.escape_ascii()
        );
        assert!(
            !bytes.windows(4).any(|w| w == b"evil"),
            "unrepresentable name left out"
        );
        h.input(DataInput::Finished {
            id,
            result: Ok(bytes.len() as u64),
        });
        assert_eq!(h.reply_code(), 226);
    }
}

#[test]
fn listing_errors_and_options() {
    let mut h = Harness::logged_in();
    h.epsv();
    let (t, r) = h.ask("LIST -la /pub");
    assert_eq!(
        r,
        Request::List {
            path: vp("/pub"),
            options: Some("-la".into()),
            kind: ListKind::List
        }
    );
    h.respond(t, Response::Error(FsError::NotFound));
    assert_eq!(h.code_after_close(), 550);
}

#[test]
fn stat_with_path_lists_over_control() {
    let mut h = Harness::logged_in();
    let (t, r) = h.ask("STAT -l /pub");
    assert_eq!(
        r,
        Request::List {
            path: vp("/pub"),
            options: Some("-l".into()),
            kind: ListKind::Stat
        }
    );
    h.respond(
        t,
        Response::Entries {
            entries: entries(),
            now: clock(),
        },
    );
    let r = h.reply();
    assert_eq!(r.code().get(), 213);
    assert_eq!(r.lines().len(), 4, "{r:?}");
    assert!(r.lines()[1].ends_with(b" a.txt"));
    h.assert_quiet();
}

#[test]
fn stat_without_path_is_server_status() {
    let mut h = Harness::logged_in();
    h.send("STAT");
    let r = h.reply();
    assert_eq!(r.code().get(), 211);
    assert!(text(&r).contains("alice"));
}

// ---- files and directories ------------------------------------------------------------------

#[test]
fn size_mdtm_mfmt() {
    let mut h = Harness::logged_in();
    let r = ask_reply(&mut h, "SIZE f", Response::Size(1234));
    assert_eq!((r.code().get(), text(&r)), (213, "1234".into()));
    let r = ask_reply(&mut h, "SIZE f", Response::Error(FsError::NotFound));
    assert_eq!(r.code().get(), 550);
    let t = Timestamp::parse(b"20240102030405").unwrap();
    let r = ask_reply(&mut h, "MDTM f", Response::Time(t));
    assert_eq!((r.code().get(), text(&r)), (213, "20240102030405".into()));
    let (tk, r) = h.ask("MFMT 20240102030405 f");
    assert_eq!(
        r,
        Request::SetModificationTime {
            path: vp("/f"),
            time: t
        }
    );
    h.respond(tk, Response::Ok);
    let r = h.reply();
    assert_eq!(
        (r.code().get(), text(&r)),
        (213, "Modify=20240102030405; /f".into())
    );
    let r = ask_reply(&mut h, "MDTM 20240102030405 f", Response::Ok);
    assert_eq!(r.code().get(), 213);
    // A file system that clamps the time: MFMT reports the time the file got.
    let clamped = Timestamp::parse(b"24460510223855").unwrap();
    let r = ask_reply(&mut h, "MFMT 99991231235959 f", Response::Time(clamped));
    assert_eq!(
        (r.code().get(), text(&r)),
        (213, "Modify=24460510223855; /f".into())
    );
    let mut h = with(|c| c.capabilities.set_mtime = false);
    assert_eq!(h.cmd("MFMT 20240102030405 f"), 502);
    assert_eq!(h.cmd("MDTM 20240102030405 f"), 502);
}

#[test]
fn dele_rmd_mkd() {
    let mut h = Harness::logged_in();
    let (t, r) = h.ask("DELE old.txt");
    assert_eq!(
        r,
        Request::Delete {
            path: vp("/old.txt")
        }
    );
    h.respond(t, Response::Ok);
    assert_eq!(h.reply_code(), 250);
    assert_eq!(
        ask_reply(&mut h, "DELE gone", Response::Error(FsError::NotFound))
            .code()
            .get(),
        550
    );
    assert_eq!(ask_reply(&mut h, "RMD d", Response::Ok).code().get(), 250);
    assert_eq!(
        ask_reply(
            &mut h,
            "XRMD d",
            Response::Error(FsError::DirectoryNotEmpty)
        )
        .code()
        .get(),
        550
    );
    let r = ask_reply(&mut h, "MKD new dir", Response::Ok);
    assert_eq!(
        (r.code().get(), r.first_line()),
        (257, &b"\"/new dir\" created"[..])
    );
    assert_eq!(
        ask_reply(&mut h, "XMKD x", Response::Error(FsError::AlreadyExists))
            .code()
            .get(),
        550
    );
}

#[test]
fn rename_sequence() {
    let mut h = Harness::logged_in();
    assert_eq!(h.cmd("RNTO b"), 503);
    assert_eq!(ask_reply(&mut h, "RNFR a", Response::Ok).code().get(), 350);
    let (t, r) = h.ask("RNTO b");
    assert_eq!(
        r,
        Request::Rename {
            from: vp("/a"),
            to: vp("/b")
        }
    );
    h.respond(t, Response::Ok);
    assert_eq!(h.reply_code(), 250);
    // Anything between RNFR and RNTO cancels the rename.
    assert_eq!(ask_reply(&mut h, "RNFR a", Response::Ok).code().get(), 350);
    assert_eq!(h.cmd("NOOP"), 200);
    assert_eq!(h.cmd("RNTO b"), 503);
    assert_eq!(
        ask_reply(&mut h, "RNFR missing", Response::Error(FsError::NotFound))
            .code()
            .get(),
        550
    );
    assert_eq!(h.cmd("RNTO b"), 503);
}

#[test]
fn mlst_over_control() {
    let mut h = Harness::logged_in();
    let (t, r) = h.ask("MLST a.txt");
    assert_eq!(r, Request::Facts { path: vp("/a.txt") });
    h.respond(t, Response::Entry(Entry::file(b"a.txt".to_vec(), 10)));
    let r = h.reply();
    assert_eq!(r.code().get(), 250);
    assert_eq!(r.lines().len(), 3);
    assert!(r.lines()[1].starts_with(b" type=file;size=10;"), "{r:?}");
    assert!(r.lines()[1].ends_with(b" /a.txt"), "{r:?}");
    // A name that is not UTF-8 is the same bytes on both lines.
    h.send_raw(b"MLST caf\xe9\r\n");
    let (t, _) = h.request();
    h.respond(t, Response::Entry(Entry::file(b"caf\xe9".to_vec(), 1)));
    let r = h.reply();
    assert_eq!(r.lines()[0], b"Listing /caf\xe9");
    assert!(r.lines()[1].ends_with(b" /caf\xe9"), "{r:?}");
    assert_eq!(
        ask_reply(&mut h, "MLST nope", Response::Error(FsError::NotFound))
            .code()
            .get(),
        550
    );
}

// ---- everything else ------------------------------------------------------------------------

#[test]
fn syst_noop_help_clnt_lang() {
    let mut h = Harness::new(Config::default());
    h.send("SYST");
    assert_eq!(h.reply().first_line(), b"UNIX Type: L8");
    for (line, code) in [
        ("NOOP", 200),
        ("CLNT curl/8", 200),
        ("LANG", 200),
        ("LANG en-US", 200),
        ("LANG fr", 504),
        ("HELP RETR", 214),
        ("HELP FROB", 502),
        // Recognised, but nothing this configuration does.
        ("HELP HOST", 502),
        ("HELP XSHA256", 502),
        ("HELP AUTH", 502),
    ] {
        assert_eq!(h.cmd(line), code, "{line}");
    }
    h.send("HELP");
    let r = h.reply();
    assert_eq!(r.code().get(), 214);
    let t = text(&r);
    assert!(
        t.contains("RETR") && t.contains("EPRT") && t.contains("MLSD"),
        "{t}"
    );
    for verb in ["XSHA256", "HOST", "AUTH", "SMNT", "ADAT", "AVBL", "SITE"] {
        assert!(!t.contains(verb), "HELP offers {verb}: {t}");
    }

    let mut h = with(|c| {
        c.capabilities.checksums = vec![HashAlgorithm::Sha256];
        c.active_mode = false;
    });
    h.send("HELP");
    let t = text(&h.reply());
    assert!(t.contains("XSHA256") && t.contains("HASH"), "{t}");
    assert!(!t.contains("EPRT") && !t.contains("PORT"), "{t}");
    assert_eq!(h.cmd("HELP XSHA256"), 214);
}

#[test]
fn feat_lists_what_is_configured() {
    let mut h = Harness::new(Config::default());
    h.send("FEAT");
    let r = h.reply();
    assert_eq!(r.code().get(), 211);
    let t = text(&r);
    for f in [
        " EPSV",
        " EPRT",
        " PASV",
        " MDTM",
        " MFMT",
        " SIZE",
        " REST STREAM",
        " UTF8",
        " TVFS",
        " MLST type*;size*;modify*;",
        " LANG EN*",
        " CLNT",
    ] {
        assert!(t.contains(f), "{f} missing in {t}");
    }
    for f in ["AUTH TLS", "HASH", "XCRC", "HOST", "AVBL"] {
        assert!(!t.contains(f), "{f} listed in {t}");
    }
    let mut c = Config::default();
    c.tls = TlsPolicy::optional();
    c.capabilities.checksums = vec![HashAlgorithm::Sha256, HashAlgorithm::Crc32];
    c.capabilities.host = true;
    c.capabilities.avbl = true;
    let mut h = Harness::new(c);
    h.send("FEAT");
    let t = text(&h.reply());
    for f in [
        " AUTH TLS",
        " PBSZ",
        " PROT",
        " HASH SHA-256*;CRC32",
        " XCRC",
        " HOST",
        " AVBL",
    ] {
        assert!(t.contains(f), "{f} missing in {t}");
    }
    assert!(!t.contains("XMD5"));

    // Only the data-connection modes that are on.
    let mut h = with(|c| c.active_mode = false);
    h.send("FEAT");
    let t = text(&h.reply());
    assert!(
        t.contains(" EPSV") && t.contains(" PASV") && !t.contains("EPRT"),
        "{t}"
    );
    let mut h = with(|c| c.passive_mode = false);
    h.send("FEAT");
    let t = text(&h.reply());
    assert!(
        t.contains(" EPRT") && !t.contains("EPSV") && !t.contains("PASV"),
        "{t}"
    );
}

#[test]
fn opts() {
    let mut h =
        with(|c| c.capabilities.checksums = vec![HashAlgorithm::Sha256, HashAlgorithm::Sha1]);
    for (line, code) in [
        ("OPTS UTF8 ON", 200),
        ("OPTS UTF8", 200),
        ("OPTS UTF8 OFF", 504),
        ("OPTS HASH SHA-1", 200),
        ("OPTS HASH MD5", 501),
        ("OPTS FROB 1", 501),
    ] {
        assert_eq!(h.cmd(line), code, "{line}");
    }
    h.send("OPTS MLST type;size;bogus;");
    assert_eq!(h.reply().first_line(), b"MLST OPTS type;size;");
    h.send("FEAT");
    assert!(text(&h.reply()).contains(" MLST type*;size*;modify;"));
    // OPTS HASH selected SHA-1 for HASH.
    let (_, r) = h.ask("HASH f");
    assert!(
        matches!(
            r,
            Request::Checksum {
                algorithm: HashAlgorithm::Sha1,
                ..
            }
        ),
        "{r:?}"
    );
}

#[test]
fn checksums() {
    let mut h = Harness::logged_in();
    for line in ["HASH f", "XCRC f", "XMD5 f", "XSHA1 f", "XSHA256 f"] {
        assert_eq!(h.cmd(line), 502, "{line}");
    }
    let mut h =
        with(|c| c.capabilities.checksums = vec![HashAlgorithm::Sha256, HashAlgorithm::Crc32]);
    let (t, r) = h.ask("HASH a.txt");
    assert_eq!(
        r,
        Request::Checksum {
            path: vp("/a.txt"),
            algorithm: HashAlgorithm::Sha256,
            range: None
        }
    );
    h.respond(
        t,
        Response::Checksum {
            hex: "abcd".into(),
            size: 10,
        },
    );
    assert_eq!(h.reply().first_line(), b"SHA-256 0-10 abcd /a.txt");
    let (t, r) = h.ask("XCRC \"a.txt\" 2 8");
    assert_eq!(
        r,
        Request::Checksum {
            path: vp("/a.txt"),
            algorithm: HashAlgorithm::Crc32,
            range: Some((2, 8))
        }
    );
    h.respond(
        t,
        Response::Checksum {
            hex: "1234abcd".into(),
            size: 10,
        },
    );
    let r = h.reply();
    assert_eq!((r.code().get(), r.first_line()), (250, &b"1234abcd"[..]));
    assert_eq!(h.cmd("XMD5 a.txt"), 502);
}

#[test]
fn avbl_host_site() {
    let mut h = Harness::logged_in();
    assert_eq!(h.cmd("AVBL"), 502);
    assert_eq!(h.cmd("SITE CHMOD 644 f"), 504);
    h.send("SITE HELP");
    assert_eq!(h.reply_code(), 214);
    let mut c = Config::default();
    c.capabilities.avbl = true;
    c.capabilities.host = true;
    c.capabilities.site_commands = vec!["CHMOD".into(), "UMASK".into()];
    let mut h = Harness::new(c);
    let (t, r) = h.ask("HOST ftp.example.com");
    assert_eq!(
        r,
        Request::Host {
            name: "ftp.example.com".into()
        }
    );
    h.respond(t, Response::Ok);
    assert_eq!(h.reply_code(), 220);
    let (t, _) = h.ask("HOST nope.example");
    h.respond(t, Response::Error(FsError::NotFound));
    assert_eq!(h.reply_code(), 504);
    assert_eq!(h.cmd("USER alice"), 331);
    assert_eq!(h.cmd("HOST late.example"), 503);
    h.login();
    assert_eq!(h.cmd("HOST late.example"), 503);
    // A server without HOST answers 502 in every phase (RFC 7151 3.1), never 503.
    let mut plain = Harness::new(Config::default());
    assert_eq!(plain.cmd("HOST ftp.example.com"), 502);
    assert_eq!(plain.cmd("USER alice"), 331);
    assert_eq!(plain.cmd("HOST ftp.example.com"), 502);
    let mut plain = Harness::logged_in();
    assert_eq!(plain.cmd("HOST ftp.example.com"), 502);
    let r = ask_reply(&mut h, "AVBL", Response::Size(1 << 30));
    assert_eq!((r.code().get(), text(&r)), (213, (1u64 << 30).to_string()));
    // SITE CHMOD is parsed by the session into a typed request.
    let (t, _) = h.ask("CWD /pub");
    h.respond(t, Response::Ok);
    assert_eq!(h.reply_code(), 250);
    let (t, r) = h.ask("SITE chmod 0644 my file");
    assert_eq!(
        r,
        Request::SetPermissions {
            path: vp("/pub/my file"),
            mode: 0o644
        }
    );
    h.respond(t, Response::Ok);
    let r = h.reply();
    assert_eq!(
        (r.code().get(), r.first_line()),
        (200, &b"SITE CHMOD command successful"[..])
    );
    let (t, _) = h.ask("SITE CHMOD 600 missing");
    h.respond(t, Response::Error(FsError::NotFound));
    assert_eq!(h.reply_code(), 550);
    // Its syntax is checked there: octal permission bits only, and a path.
    for line in [
        "SITE CHMOD 4755 f",
        "SITE CHMOD 1777 d",
        "SITE CHMOD 999 f",
        "SITE CHMOD 77777 f",
        "SITE CHMOD 600",
        "SITE CHMOD",
        "SITE CHMOD rw f",
    ] {
        assert_eq!(h.cmd(line), 501, "{line}");
    }
    h.send_raw(b"SITE CHMOD 600 a\0b\r\n");
    assert_eq!(h.reply_code(), 553);
    // Other SITE commands go to the application as they are.
    let (t, r) = h.ask("SITE umask 022");
    assert_eq!(
        r,
        Request::Site {
            command: "UMASK".into(),
            args: b"022".to_vec(),
            cwd: vp("/pub")
        }
    );
    h.respond(
        t,
        Response::Reply(Reply::new(ReplyCode::COMMAND_OKAY, "UMASK set to 022")),
    );
    assert_eq!(h.reply_code(), 200);
    h.send("SITE HELP");
    assert!(text(&h.reply()).contains("CHMOD"));
    assert_eq!(h.cmd("SITE EXEC x"), 504);
}

#[test]
fn auth_pbsz_prot_ccc_without_tls_config() {
    let mut h = Harness::logged_in();
    for (line, code) in [
        // Not implemented without TLS: never a 503 pointing at an AUTH that is refused too.
        ("AUTH TLS", 502),
        ("PBSZ 0", 502),
        ("PROT P", 502),
        ("CCC", 502),
        ("ADAT eA==", 502),
        ("MIC eA==", 502),
        ("CONF eA==", 502),
        ("ENC eA==", 502),
    ] {
        assert_eq!(h.cmd(line), code, "{line}");
    }
}

#[test]
fn auth_tls_then_pbsz_prot() {
    let mut c = Config::default();
    c.tls = TlsPolicy::required();
    let mut h = Harness::new(c);
    assert_eq!(h.cmd("USER alice"), 530);
    assert_eq!(h.cmd("AUTH GSSAPI"), 504);
    h.send("AUTH TLS");
    assert_eq!(h.reply_code(), 234);
    assert_eq!(h.next(), Event::UpgradeTls);
    h.s.handle_tls_established(h.now);
    h.drain();
    assert_eq!(h.cmd("AUTH TLS"), 503);
    assert_eq!(h.cmd("PROT P"), 503);
    assert_eq!(h.cmd("PBSZ 0"), 200);
    assert_eq!(
        h.cmd("PROT C"),
        534,
        "refused by policy (RFC 4217: 534), not unsupported"
    );
    assert_eq!(h.cmd("PROT S"), 536);
    h.login();
    h.epsv();
    h.send("RETR x");
    assert_eq!(h.code_after_close(), 534);
    assert_eq!(h.cmd("PROT P"), 200);
    let (id, _) = approved(&mut h, "RETR x", Response::Ok);
    h.reply();
    assert!(matches!(h.data(), DataAction::Transfer { protected: true, id: i, .. } if i == id));
    h.input(DataInput::Finished { id, result: Ok(0) });
    h.reply();
    assert_eq!(h.cmd("CCC"), 534);
}

#[test]
fn unknown_not_implemented_and_bad_arguments() {
    let mut h = Harness::logged_in();
    for (line, code) in [
        ("FROB", 500),
        ("LPSV", 502),
        ("REST -1", 501),
        ("TYPE Q", 504),
        ("RETR", 501),
        ("EPRT |3|x|1|", 522),
        ("", 500),
    ] {
        assert_eq!(h.cmd(line), code, "{line:?}");
    }
    // Before login, a known verb with a bad argument is still a login problem.
    let mut h = Harness::new(Config::default());
    assert_eq!(h.cmd("RETR"), 530);
    assert_eq!(h.cmd("FROB"), 500);
}

#[test]
fn responses_must_match_requests() {
    let mut h = Harness::logged_in();
    let (t, _) = h.ask("DELE x");
    assert_eq!(
        h.s.respond(h.now, t, Response::Size(1)),
        Err(UsageError::MismatchedResponse)
    );
    h.drain();
    assert_eq!(h.reply_code(), 451);
    assert_eq!(
        h.s.respond(h.now, t, Response::Ok),
        Err(UsageError::UnknownTicket)
    );
    h.drain();
    h.assert_quiet();
    assert_eq!(h.cmd("NOOP"), 200);
}

#[test]
fn shutdown_says_421_and_closes() {
    let mut h = Harness::logged_in();
    let id = h.epsv();
    h.s.shutdown();
    h.drain();
    assert_eq!(h.data(), DataAction::Close { id });
    assert_eq!(h.reply_code(), 421);
    assert_eq!(h.next(), Event::Close);
    assert!(h.s.is_closed());
    assert_eq!(h.s.poll_timeout(), None);
}

#[test]
fn pipelined_commands_are_answered_in_order() {
    let mut h = Harness::logged_in();
    h.send_raw(b"TYPE I\r\nSIZE a\r\nNOOP\r\nSIZE b\r\nSYST\r\n");
    assert_eq!(h.reply_code(), 200);
    let (t, _) = h.request();
    h.assert_quiet();
    h.respond(t, Response::Size(1));
    assert_eq!(h.reply_code(), 213);
    assert_eq!(h.reply_code(), 200);
    let (t, _) = h.request();
    h.respond(t, Response::Error(FsError::NotFound));
    assert_eq!(h.reply_code(), 550);
    assert_eq!(h.reply_code(), 215);
    h.assert_quiet();
}

// ---- regressions from review ----------------------------------------------------------------

#[test]
fn data_tls_failure_after_150_still_gets_a_final_reply() {
    for (error, code, text) in [
        (DataError::Tls, 522, "Data connection TLS handshake failed"),
        (
            DataError::TlsNotResumed,
            522,
            "Data connection TLS must resume the control connection's TLS session",
        ),
        (DataError::Connect, 426, "Can't open data connection"),
    ] {
        let mut h = Harness::logged_in();
        let (id, _) = approved(&mut h, "RETR f", Response::Ok);
        assert_eq!(h.reply_code(), 125);
        // After the Transfer action the driver owns the ticket: nothing to release.
        assert!(matches!(h.data(), DataAction::Transfer { .. }));
        h.input(DataInput::Failed { id, error });
        let reply = h.reply();
        assert_eq!(reply.code().get(), code);
        assert_eq!(reply.first_line(), text.as_bytes(), "{error:?}");
        h.assert_quiet();
        assert_eq!(h.cmd("NOOP"), 200);
    }
}

#[test]
fn abor_while_the_application_decides_answers_at_once_and_releases_later() {
    let mut h = Harness::logged_in();
    let id = h.epsv();
    let (t, _) = h.ask("RETR big");
    h.send("ABOR");
    assert_eq!(h.data(), DataAction::Close { id });
    assert_eq!(h.reply_code(), 426);
    assert_eq!(h.reply_code(), 226);
    h.assert_quiet();
    // The late answer produces no reply, only the release of what was opened.
    h.respond(t, Response::Ok);
    assert_eq!(h.data(), DataAction::Release { ticket: t });
    h.assert_quiet();
    assert_eq!(h.cmd("NOOP"), 200);
}

#[test]
fn abor_before_the_connection_releases_the_file() {
    let mut h = Harness::logged_in();
    h.cmd("PORT 192,0,2,10,195,80");
    let (t, _) = h.ask("STOR up");
    h.respond(t, Response::Ok);
    let DataAction::Connect { id, .. } = h.data() else {
        panic!()
    };
    h.send("ABOR");
    assert_eq!(h.data(), DataAction::Close { id });
    assert_eq!(h.data(), DataAction::Release { ticket: t });
    assert_eq!(h.reply_code(), 426);
    assert_eq!(h.reply_code(), 226);
}

#[test]
fn abor_reply_waits_behind_queued_commands() {
    let mut h = Harness::logged_in();
    let (id, _) = approved(&mut h, "RETR f", Response::Ok);
    h.reply();
    h.data();
    h.send_raw(b"NOOP\r\nABOR\r\n");
    // 426 belongs to RETR (before NOOP); ABOR's 226 comes after NOOP's 200.
    assert_eq!(h.data(), DataAction::Close { id });
    assert_eq!(h.reply_code(), 426);
    assert_eq!(h.reply_code(), 200);
    assert_eq!(h.reply_code(), 226);
    h.assert_quiet();
}

#[test]
fn stat_does_not_overtake_queued_commands() {
    let mut h = Harness::logged_in();
    let (id, _) = approved(&mut h, "RETR f", Response::Ok);
    h.reply();
    h.data();
    h.send_raw(b"NOOP\r\nSTAT\r\n");
    h.assert_quiet();
    h.input(DataInput::Finished { id, result: Ok(1) });
    assert_eq!(h.reply_code(), 226);
    assert_eq!(h.reply_code(), 200);
    assert_eq!(h.reply_code(), 211);
}

#[test]
fn unused_passive_listener_is_closed_after_the_idle_time() {
    let mut h = Harness::logged_in();
    let id = h.epsv();
    for _ in 0..4 {
        h.advance(Duration::from_secs(70));
        assert_eq!(h.cmd("NOOP"), 200);
    }
    h.advance(Duration::from_secs(20));
    assert_eq!(h.data(), DataAction::Close { id });
    h.assert_quiet();
    assert_eq!(h.cmd("RETR x"), 425);
}

#[test]
fn rest_then_stor_in_ascii_mode_is_refused_with_554() {
    let mut h = Harness::logged_in();
    assert_eq!(h.cmd("TYPE A"), 200);
    assert_eq!(h.cmd("REST 10"), 350);
    let id = h.epsv();
    h.send("STOR f");
    assert_eq!(h.data(), DataAction::Close { id });
    assert_eq!(h.reply_code(), 554);
    // The marker is spent; a plain STOR and a binary resume work.
    h.epsv();
    let (_, r) = h.ask("STOR f");
    assert!(matches!(r, Request::Store { offset: 0, .. }), "{r:?}");
    let mut h = Harness::logged_in();
    h.cmd("TYPE I");
    h.cmd("REST 10");
    h.epsv();
    let (_, r) = h.ask("STOR f");
    assert!(matches!(r, Request::Store { offset: 10, .. }), "{r:?}");
    // RETR in TYPE A keeps the marker for the application, which counts it in the data
    // stream's octets.
    let mut h = Harness::logged_in();
    h.cmd("TYPE A");
    h.cmd("REST 10");
    h.epsv();
    let (_, r) = h.ask("RETR f");
    assert!(
        matches!(
            r,
            Request::Retrieve {
                offset: 10,
                ascii: true,
                ..
            }
        ),
        "{r:?}"
    );
}

#[test]
fn rest_applies_only_to_the_next_transfer_command() {
    let mut h = Harness::logged_in();
    assert_eq!(h.cmd("REST 100"), 350);
    let id = h.epsv();
    let (t, _) = h.ask("LIST");
    h.respond(
        t,
        Response::Entries {
            entries: vec![],
            now: clock(),
        },
    );
    h.input(DataInput::Connected { id });
    assert_eq!(h.reply_code(), 150);
    h.data();
    h.input(DataInput::Finished { id, result: Ok(0) });
    assert_eq!(h.reply_code(), 226);
    h.epsv();
    let (_, r) = h.ask("RETR f");
    assert!(matches!(r, Request::Retrieve { offset: 0, .. }), "{r:?}");
    // Data-channel setup and TYPE between REST and RETR keep it.
    let mut h = Harness::logged_in();
    h.cmd("REST 7");
    h.cmd("TYPE I");
    h.epsv();
    let (_, r) = h.ask("STOR f");
    assert!(
        matches!(
            r,
            Request::Store {
                offset: 7,
                mode: StoreMode::Replace,
                ..
            }
        ),
        "{r:?}"
    );
    // APPE never takes an offset.
    let mut h = Harness::logged_in();
    h.epsv();
    h.cmd("REST 7");
    let (_, r) = h.ask("APPE f");
    assert!(
        matches!(
            r,
            Request::Store {
                offset: 0,
                mode: StoreMode::Append,
                ..
            }
        ),
        "{r:?}"
    );
}

#[test]
fn rnfr_is_forgotten_after_any_other_line() {
    for between in ["FROB x", "RNTO", "", "TYPE Q"] {
        let mut h = Harness::logged_in();
        assert_eq!(ask_reply(&mut h, "RNFR a", Response::Ok).code().get(), 350);
        h.send(between);
        h.reply();
        assert_eq!(h.cmd("RNTO b"), 503, "after {between:?}");
    }
}

#[test]
fn failed_logins_are_not_forgiven_by_a_success_or_rein() {
    let mut h = Harness::new(Config::default());
    for round in 0..2 {
        h.cmd("USER victim");
        let (t, _) = h.ask("PASS guess");
        h.respond(t, Response::LoginRejected);
        h.advance(Duration::from_secs(1));
        assert_eq!(h.reply_code(), 530, "round {round}");
        if round == 0 {
            h.login();
            assert_eq!(h.cmd("REIN"), 220);
        }
    }
    h.cmd("USER victim");
    let (t, _) = h.ask("PASS guess");
    h.respond(t, Response::LoginRejected);
    h.advance(Duration::from_secs(1));
    assert_eq!(h.reply_code(), 530);
    assert_eq!(h.reply_code(), 421);
    assert_eq!(h.next(), Event::Close);
}

#[test]
fn login_delay_counts_from_pass_not_from_the_answer() {
    let mut h = Harness::new(Config::default());
    h.cmd("USER a");
    let (t, _) = h.ask("PASS b");
    // A slow back-end: 700 ms to say no. The 530 still comes 1 s after PASS.
    h.advance(Duration::from_millis(700));
    h.respond(t, Response::LoginRejected);
    h.advance(Duration::from_millis(299));
    h.assert_quiet();
    h.advance(Duration::from_millis(1));
    assert_eq!(h.reply_code(), 530);
    // A back-end slower than the delay answers right away.
    h.cmd("USER a");
    let (t, _) = h.ask("PASS b");
    h.advance(Duration::from_secs(3));
    h.respond(t, Response::LoginRejected);
    h.advance(Duration::ZERO);
    assert_eq!(h.reply_code(), 530);
}

#[test]
fn retr_size_appears_in_the_150_reply() {
    let mut h = Harness::logged_in();
    let id = h.epsv();
    let (t, _) = h.ask("RETR f");
    h.respond(t, Response::Size(5_242_880));
    h.input(DataInput::Connected { id });
    let r = h.reply();
    assert_eq!(r.code().get(), 150);
    assert!(text(&r).ends_with("(5242880 bytes)"), "{r:?}");
}

#[test]
fn size_request_says_whether_type_a_is_in_force() {
    let mut h = Harness::logged_in();
    h.cmd("TYPE A");
    let (t, r) = h.ask("SIZE f");
    assert_eq!(
        r,
        Request::Size {
            path: vp("/f"),
            ascii: true
        }
    );
    // An application that cannot count the CRLF size refuses it, and the client is told why.
    h.respond(t, Response::Error(FsError::NotSupported));
    let r = h.reply();
    assert_eq!(
        (r.code().get(), r.first_line()),
        (
            550,
            &b"SIZE not available in ASCII mode (send TYPE I first)"[..]
        )
    );
    // In TYPE I the same error is the generic 504.
    h.cmd("TYPE I");
    let (t, _) = h.ask("SIZE f");
    h.respond(t, Response::Error(FsError::NotSupported));
    assert_eq!(h.reply_code(), 504);
}

#[test]
fn streamed_listing_when_the_application_answers_ok() {
    let mut h = Harness::logged_in();
    h.send("OPTS MLST type;size;");
    h.reply();
    let id = h.epsv();
    let (t, _) = h.ask("MLSD");
    h.respond(t, Response::Ok);
    h.input(DataInput::Connected { id });
    assert_eq!(h.reply_code(), 150);
    let DataAction::StreamListing {
        id: i,
        ticket,
        format,
        protected,
    } = h.data()
    else {
        panic!()
    };
    assert_eq!(
        (i, ticket, format.kind, protected),
        (id, t, ListKind::Mlsd, false)
    );
    let mut line = Vec::new();
    format
        .write(&Entry::file(b"x".to_vec(), 3), clock(), &mut line)
        .unwrap();
    assert_eq!(line, b"type=file;size=3; x\r\n");
    h.input(DataInput::Finished { id, result: Ok(21) });
    assert_eq!(h.reply_code(), 226);
}

/// The lines a streamed listing's format writes for `names` (files).
fn listed(format: &ftp_proto::server::ListFormat, names: &[&str]) -> String {
    let mut out = Vec::new();
    for name in names {
        let _ = format.write(&Entry::file(name.as_bytes().to_vec(), 1), clock(), &mut out);
    }
    String::from_utf8(out).unwrap()
}

#[test]
fn wildcards_list_the_directory_only_when_nothing_has_the_name() {
    // `NLST docs/*.txt`: first the path as written; nothing there, so its directory, with the
    // options left out and the pattern in force; NLST names entries as the argument does.
    let mut h = Harness::logged_in();
    let id = h.epsv();
    let (t, r) = h.ask("NLST -d docs/*.txt");
    assert_eq!(
        r,
        Request::List {
            path: vp("/docs/*.txt"),
            options: Some("-d".into()),
            kind: ListKind::Nlst
        }
    );
    h.respond(t, Response::Error(FsError::NotFound));
    let (t, r) = h.request();
    assert_eq!(
        r,
        Request::List {
            path: vp("/docs"),
            options: None,
            kind: ListKind::Nlst
        }
    );
    h.respond(t, Response::Ok);
    h.input(DataInput::Connected { id });
    assert_eq!(h.reply_code(), 150);
    let DataAction::StreamListing { format, .. } = h.data() else {
        panic!()
    };
    assert_eq!(
        listed(&format, &["a.txt", "b.log", ".h.txt", "c.txt"]),
        "docs/a.txt\r\ndocs/c.txt\r\n"
    );
    h.input(DataInput::Finished { id, result: Ok(1) });
    assert_eq!(h.reply_code(), 226);

    // A directory whose name has wildcards lists its contents, unfiltered.
    let id = h.epsv();
    let (t, r) = h.ask("NLST q?dir");
    assert!(
        matches!(r, Request::List { ref path, .. } if *path == vp("/q?dir")),
        "{r:?}"
    );
    h.respond(t, Response::Ok);
    h.input(DataInput::Connected { id });
    h.reply();
    let DataAction::StreamListing { format, .. } = h.data() else {
        panic!()
    };
    assert_eq!(listed(&format, &["in.txt"]), "q?dir/in.txt\r\n");
    h.input(DataInput::Finished { id, result: Ok(1) });
    h.reply();

    // Anything but "not found" is the answer: no second request.
    h.epsv();
    let (t, _) = h.ask("LIST secret/*");
    h.respond(t, Response::Error(FsError::PermissionDenied));
    assert_eq!(h.code_after_close(), 550);
    // MLSD never expands wildcards.
    h.epsv();
    let (t, _) = h.ask("MLSD d*");
    h.respond(t, Response::Error(FsError::NotFound));
    assert_eq!(h.code_after_close(), 550);
}

#[test]
fn huge_timeouts_mean_never_and_do_not_panic() {
    let mut c = Config::default();
    c.idle_timeout = Duration::MAX;
    c.login_timeout = Duration::MAX;
    c.data_timeout = Duration::MAX;
    c.failed_login_delay = Duration::MAX;
    let mut h = Harness::new(c);
    assert_eq!(h.s.poll_timeout(), None);
    h.cmd("USER a");
    let (t, _) = h.ask("PASS b");
    h.respond(t, Response::LoginRejected);
    h.advance(Duration::from_secs(1));
    assert_eq!(h.reply_code(), 530);
}

#[test]
fn a_late_listener_report_restarts_the_idle_timer() {
    let mut h = Harness::logged_in();
    h.send("EPSV");
    let DataAction::Listen { id, .. } = h.data() else {
        panic!()
    };
    h.advance(Duration::from_secs(302));
    h.assert_quiet();
    h.input(DataInput::Listening {
        id,
        addr: "192.0.2.1:50000".parse().unwrap(),
    });
    assert_eq!(h.reply_code(), 229);
    assert_eq!(h.s.poll_timeout(), Some(h.now + Duration::from_secs(300)));
    h.advance(Duration::from_secs(1));
    h.assert_quiet();
}

#[test]
fn greeting_is_configurable() {
    let mut c = Config::default();
    c.greeting = "Welcome to the archive".into();
    // Borrow the harness's simulated clock rather than reading one.
    let now = Harness::new(Config::default()).now;
    let mut s = ftp_proto::server::Session::new(c.into(), conn(PEER, LOCAL), now);
    let Some(ftp_proto::server::Output::Transmit(bytes)) = s.poll_output() else {
        panic!()
    };
    assert_eq!(bytes, b"220 Welcome to the archive\r\n");
}

#[test]
fn auth_ssl_is_an_alias_of_auth_tls() {
    let mut c = Config::default();
    c.tls = TlsPolicy::optional();
    let mut h = Harness::new(c);
    h.send("AUTH SSL");
    assert_eq!(h.reply_code(), 234);
    assert_eq!(h.next(), Event::UpgradeTls);
    h.s.handle_tls_established(h.now);
    h.drain();
    // Unlike AUTH TLS (PROT C until PROT P), AUTH SSL protects data without PBSZ and PROT, as
    // its pre-RFC 4217 clients expect (and vsftpd and proftpd do).
    h.login();
    h.epsv();
    let (id, _) = approved(&mut h, "RETR x", Response::Ok);
    h.reply();
    assert!(matches!(h.data(), DataAction::Transfer { protected: true, id: i, .. } if i == id));
    h.input(DataInput::Finished { id, result: Ok(0) });
    h.reply();
    // PROT C still turns it off.
    assert_eq!(h.cmd("PROT C"), 200);
    h.epsv();
    let (id, _) = approved(&mut h, "RETR x", Response::Ok);
    h.reply();
    assert!(matches!(h.data(), DataAction::Transfer { protected: false, id: i, .. } if i == id));
}
