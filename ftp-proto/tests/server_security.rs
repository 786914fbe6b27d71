//! Security properties of the server session, one named attack or policy per test: FTP
//! bounce (PORT/EPRT policy), path traversal, forbidden bytes in names, brute force and user
//! enumeration, resource exhaustion on the control connection, STARTTLS command injection,
//! timeouts and data-channel takeover.
mod support;

use std::net::SocketAddr;
use std::time::Duration;

use ftp_proto::VirtualPath;
use ftp_proto::server::{
    Config, DataAction, DataError, DataInput, FsError, HashAlgorithm, Request, Response, TlsPolicy,
};
use support::*;

// ---- FTP bounce: PORT/EPRT must name the client itself, on an unprivileged port --------------

/// `line` is refused with 501 (RFC 959's reply to PORT arguments it cannot use), and the
/// transfer commands that follow get 425 "Use PORT or PASV first": no data channel was
/// prepared, so no `Connect` is ever emitted.
fn refused_without_connect(h: &mut Harness, line: &str) {
    refused_with(h, line, 501);
}

/// As [`refused_without_connect`], with the reply `code`.
fn refused_with(h: &mut Harness, line: &str, code: u16) {
    h.send(line);
    let r = h.reply();
    assert_eq!(r.code().get(), code, "{line}: {r:?}");
    h.assert_quiet();
    for transfer in ["RETR a.txt", "STOR a.txt", "LIST"] {
        h.send(transfer);
        let r = h.reply();
        assert_eq!(r.code().get(), 425, "{line} then {transfer}: {r:?}");
        assert_eq!(r.text(), "Use PORT or PASV first");
        h.assert_quiet();
    }
}

/// LIST over the prepared active channel; returns where the session connects. The connection
/// then fails (425), so the session is ready for the next command.
fn list_connects_to(h: &mut Harness) -> SocketAddr {
    let (t, r) = h.ask("LIST");
    assert!(matches!(r, Request::List { .. }), "{r:?}");
    h.respond(
        t,
        Response::Entries {
            entries: entries(),
            now: clock(),
        },
    );
    let DataAction::Connect { id, to } = h.data() else {
        panic!("expected Connect")
    };
    h.assert_quiet();
    h.input(DataInput::Failed {
        id,
        error: DataError::Connect,
    });
    assert_eq!(h.reply_code(), 425);
    h.assert_quiet();
    to
}

#[test]
fn port_to_foreign_ip_is_refused() {
    let mut h = Harness::logged_in();
    refused_without_connect(&mut h, "PORT 198,51,100,7,195,80");
}

#[test]
fn eprt_to_foreign_ip_is_refused() {
    let mut h = Harness::logged_in();
    refused_without_connect(&mut h, "EPRT |1|198.51.100.7|50000|");
    // The other address family cannot be the client's own: RFC 2428's 522 names (1).
    refused_with(&mut h, "EPRT |2|2001:db8::7|50000|", 522);
}

#[test]
fn port_to_unspecified_address_is_refused() {
    let mut h = Harness::logged_in();
    refused_without_connect(&mut h, "PORT 0,0,0,0,195,80");
    refused_without_connect(&mut h, "EPRT |1|0.0.0.0|50000|");
    refused_with(&mut h, "EPRT |2|::|50000|", 522);
}

#[test]
fn port_to_privileged_port_is_refused() {
    let mut h = Harness::logged_in();
    refused_without_connect(&mut h, "PORT 192,0,2,10,0,21");
    refused_without_connect(&mut h, "PORT 192,0,2,10,3,255"); // 1023
    refused_without_connect(&mut h, "EPRT |1|192.0.2.10|21|");
    assert_eq!(h.cmd("PORT 192,0,2,10,4,0"), 200); // 1024
    assert_eq!(list_connects_to(&mut h).to_string(), "192.0.2.10:1024");
}

#[test]
fn eprt_to_ipv4_mapped_ipv6_of_another_host_is_refused() {
    let mut h = Harness::logged_in();
    refused_without_connect(&mut h, "EPRT |2|::ffff:198.51.100.7|50000|");
}

#[test]
fn eprt_ipv4_mapped_form_of_the_peer_is_accepted() {
    let mut h = Harness::logged_in();
    assert_eq!(h.cmd("EPRT |2|::ffff:192.0.2.10|50000|"), 200);
    let to = list_connects_to(&mut h);
    assert_eq!(to.port(), 50000);
    assert_eq!(
        to.ip().to_canonical().to_string(),
        "192.0.2.10",
        "connects to the peer itself: {to}"
    );
}

#[test]
fn data_address_policy_switches_work() {
    // Bounce protection off: any host, but still no privileged port.
    let mut c = Config::default();
    c.require_data_peer_match = false;
    let mut h = Harness::new(c);
    h.login();
    assert_eq!(h.cmd("PORT 198,51,100,7,195,80"), 200);
    assert_eq!(list_connects_to(&mut h).to_string(), "198.51.100.7:50000");
    assert_eq!(h.cmd("PORT 198,51,100,7,0,21"), 501);

    // Both switches on: foreign hosts and privileged ports are accepted.
    let mut c = Config::default();
    c.require_data_peer_match = false;
    c.allow_privileged_data_ports = true;
    let mut h = Harness::new(c);
    h.login();
    assert_eq!(h.cmd("PORT 198,51,100,7,0,21"), 200);
    assert_eq!(list_connects_to(&mut h).to_string(), "198.51.100.7:21");
    assert_eq!(h.cmd("EPRT |2|::ffff:198.51.100.7|1023|"), 200);
    assert_eq!(h.cmd("EPRT |1|192.0.2.10|20|"), 200);
    // The unspecified address never is.
    assert_eq!(h.cmd("PORT 0,0,0,0,0,21"), 501);
}

// ---- path traversal ------------------------------------------------------------------------

const HOSTILE: &[&str] = &[
    "..",
    "../..",
    "../../etc/passwd",
    "/../../etc/shadow",
    "..\\..\\windows",
    "a/../../../b",
    "%2e%2e/x",
    "./././../x",
    "////..//..//x",
    "/./../.././../",
    "x/../../../../../../../../../../../../../../../../../../etc",
    "...",
    ". ./x",
];

/// Every path in a request, so none escapes the check.
fn paths_in(request: &Request) -> Vec<&VirtualPath> {
    match request {
        Request::ChangeDir { path }
        | Request::Retrieve { path, .. }
        | Request::Store { path, .. }
        | Request::List { path, .. }
        | Request::Facts { path }
        | Request::Size { path, .. }
        | Request::ModificationTime { path }
        | Request::SetModificationTime { path, .. }
        | Request::Delete { path }
        | Request::RemoveDir { path }
        | Request::MakeDir { path }
        | Request::RenameFrom { path }
        | Request::Checksum { path, .. }
        | Request::Available { path }
        | Request::SetPermissions { path, .. } => vec![path],
        Request::StoreUnique { dir, .. } => vec![dir],
        Request::Rename { from, to } => vec![from, to],
        Request::Site { cwd, .. } => vec![cwd],
        Request::Login { .. } | Request::Host { .. } => vec![],
        other => panic!("request not classified for the traversal check: {other:?}"),
    }
}

fn assert_confined(path: &VirtualPath, context: &str) {
    assert!(path.as_bytes().starts_with(b"/"), "{context}: {path:?}");
    for segment in path.segments() {
        assert!(
            !matches!(segment, b"" | b"." | b".."),
            "{context}: {path:?} has segment {:?}",
            segment.escape_ascii().to_string()
        );
    }
}

/// Sends `line`, which must produce a request; checks its paths and refuses it with 550.
fn ask_confined(h: &mut Harness, line: &str) -> Request {
    let (t, r) = h.ask(line);
    for path in paths_in(&r) {
        assert_confined(path, line);
    }
    h.respond(t, Response::Error(FsError::NotFound));
    assert_eq!(h.reply_code(), 550, "{line}");
    h.assert_quiet();
    r
}

fn traversal_config() -> Config {
    let mut c = Config::default();
    c.capabilities.checksums = vec![HashAlgorithm::Crc32, HashAlgorithm::Sha256];
    c.capabilities.avbl = true;
    c.capabilities.site_commands = vec!["CHMOD".to_owned()];
    c
}

/// Every path-taking command with every hostile argument, from the current directory.
fn every_command_stays_confined(h: &mut Harness) {
    let plain = [
        "CWD", "XCWD", "SIZE", "MDTM", "DELE", "RMD", "XRMD", "MKD", "XMKD", "RNFR", "MLST",
        "STAT", "HASH", "XCRC", "XSHA256", "AVBL",
    ];
    let data = ["RETR", "STOR", "APPE", "LIST", "NLST", "MLSD"];
    for arg in HOSTILE {
        for verb in plain {
            ask_confined(h, &format!("{verb} {arg}"));
        }
        ask_confined(h, &format!("MFMT 20240101000000 {arg}"));
        assert_eq!(h.cmd("PORT 192,0,2,10,195,80"), 200);
        ask_confined(h, &format!("LIST -la {arg}"));
        for verb in data {
            assert_eq!(h.cmd("PORT 192,0,2,10,195,80"), 200);
            ask_confined(h, &format!("{verb} {arg}"));
        }
        // RNTO: both ends of the rename.
        let (t, _) = h.ask(&format!("RNFR {arg}"));
        h.respond(t, Response::Ok);
        assert_eq!(h.reply_code(), 350);
        ask_confined(h, &format!("RNTO {arg}"));
    }
    ask_confined(h, "SITE CHMOD 644 ../../etc/passwd");
}

#[test]
fn path_traversal_never_leaves_root() {
    let mut h = Harness::new(traversal_config());
    h.login();

    // Where each hostile argument lands, from the root.
    for (arg, resolved) in [
        ("../../etc/passwd", "/etc/passwd"),
        ("/../../etc/shadow", "/etc/shadow"),
        ("..\\..\\windows", "/..\\..\\windows"),
        ("a/../../../b", "/b"),
        ("%2e%2e/x", "/%2e%2e/x"),
        ("./././../x", "/x"),
        ("////..//..//x", "/x"),
    ] {
        let r = ask_confined(&mut h, &format!("DELE {arg}"));
        assert!(
            matches!(&r, Request::Delete { path } if path.as_bytes() == resolved.as_bytes()),
            "DELE {arg}: {r:?}"
        );
    }

    every_command_stays_confined(&mut h);

    // From a subdirectory too.
    let (t, r) = h.ask("CWD /pub/incoming");
    assert!(matches!(&r, Request::ChangeDir { path } if path.as_bytes() == b"/pub/incoming"));
    h.respond(t, Response::Ok);
    assert_eq!(h.reply_code(), 250);
    every_command_stays_confined(&mut h);
    let r = ask_confined(&mut h, "DELE ../../../../x");
    assert!(
        matches!(&r, Request::Delete { path } if path.as_bytes() == b"/x"),
        "{r:?}"
    );
}

#[test]
fn cdup_and_cwd_dotdot_stop_at_the_root() {
    let mut h = Harness::logged_in();
    let (t, _) = h.ask("CWD /pub");
    h.respond(t, Response::Ok);
    assert_eq!(h.reply_code(), 250);
    for line in [
        "CDUP",
        "CDUP",
        "XCUP",
        "CDUP",
        "CWD ..",
        "CWD ../..",
        "XCWD ..",
    ] {
        let (t, r) = h.ask(line);
        assert!(
            matches!(&r, Request::ChangeDir { path } if path.as_bytes() == b"/"),
            "{line}: {r:?}"
        );
        h.respond(t, Response::Ok);
        assert_eq!(h.reply_code(), 250, "{line}");
        h.send("PWD");
        let pwd = h.reply();
        assert_eq!(pwd.code().get(), 257);
        assert_eq!(pwd.text(), "\"/\" is the current directory", "{line}");
        h.assert_quiet();
    }
}

// ---- forbidden bytes in names --------------------------------------------------------------

#[test]
fn names_with_cr_lf_nul_are_refused_with_553() {
    let mut h = Harness::logged_in();
    // A data channel is ready, so RETR/STOR get as far as the path.
    assert_eq!(h.cmd("PORT 192,0,2,10,195,80"), 200);
    for line in [
        &b"RETR a\0b\r\n"[..],
        b"STOR x\ry\r\n", // a bare CR inside a line stays in the path
        b"MKD bad\0name\r\n",
        b"DELE a\rb\r\n",
        b"CWD \0\r\n",
        b"RNFR evil\r\0name\r\n", // CR NUL is a literal CR
        b"SIZE \rDELE x\r\n",
        b"APPE log\0\r\n",
    ] {
        // A refused transfer command drops the prepared channel: prepare one each time.
        assert_eq!(h.cmd("PORT 192,0,2,10,195,80"), 200);
        h.send_raw(line);
        let r = h.reply();
        assert_eq!(
            r.code().get(),
            553,
            "{:?}: {r:?}",
            line.escape_ascii().to_string()
        );
        h.assert_quiet();
    }
    // The session goes on: a refused APPE dropped the channel, a new PORT prepares one.
    assert_eq!(h.cmd("RETR good.txt"), 425);
    assert_eq!(h.cmd("PORT 192,0,2,10,195,80"), 200);
    let (t, r) = h.ask("RETR good.txt");
    assert!(
        matches!(&r, Request::Retrieve { path, .. } if path.as_bytes() == b"/good.txt"),
        "{r:?}"
    );
    h.respond(t, Response::Ok);
    assert!(matches!(h.data(), DataAction::Connect { .. }));
}

#[test]
fn new_names_with_control_characters_are_refused_with_553() {
    let mut h = Harness::logged_in();
    // What could carry a terminal escape sequence into 257 replies, listings and logs.
    for (line, transfer) in [
        (&b"MKD esc\x1b]0;title\x07\r\n"[..], false),
        (b"XMKD dir/\x1b[2J\r\n", false),
        (b"STOR bell\x07.txt\r\n", true),
        (b"APPE tab\there\r\n", true),
        (b"STOU del\x7f\r\n", true),
    ] {
        if transfer {
            assert_eq!(h.cmd("PORT 192,0,2,10,195,80"), 200);
        }
        h.send_raw(line);
        let r = h.reply();
        assert_eq!(
            (r.code().get(), r.first_line()),
            (553, &b"File name not allowed (control characters)"[..]),
            "{}",
            line.escape_ascii()
        );
        h.assert_quiet();
        if transfer {
            // The refused transfer dropped its channel.
            assert_eq!(h.cmd("RETR x"), 425);
        }
    }
    let (t, _) = h.ask("RNFR plain");
    h.respond(t, Response::Ok);
    assert_eq!(h.reply_code(), 350);
    h.send_raw(b"RNTO \x1b[31mred\r\n");
    assert_eq!(h.reply_code(), 553);
    // Existing names are served as they are.
    assert_eq!(h.cmd("PORT 192,0,2,10,195,80"), 200);
    h.send_raw(b"RETR old\x1b.txt\r\n");
    let (_, r) = h.request();
    assert!(matches!(r, Request::Retrieve { .. }), "{r:?}");
}

// ---- brute force and user enumeration ------------------------------------------------------

/// PASS with a wrong password, rejected by the application: no answer yet.
fn reject_password(h: &mut Harness) {
    let (t, r) = h.ask("PASS wrong");
    assert!(matches!(r, Request::Login { .. }), "{r:?}");
    h.assert_quiet();
    h.respond(t, Response::LoginRejected);
    h.assert_quiet();
}

#[test]
fn login_failure_limit_closes_the_session() {
    let config = Config::default();
    let delay = config.failed_login_delay;
    assert_eq!(delay, Duration::from_secs(1));
    assert_eq!(config.max_login_failures, 3);
    let mut h = Harness::new(config);

    // 1st failure; commands sent during the delay are answered after the 530, in order.
    assert_eq!(h.cmd("USER alice"), 331);
    reject_password(&mut h);
    assert_eq!(h.s.poll_timeout(), Some(h.now + delay));
    h.send_raw(b"USER alice\r\nSYST\r\n");
    h.assert_quiet();
    h.advance(Duration::from_millis(999));
    h.assert_quiet();
    h.advance(Duration::from_millis(1));
    let r = h.reply();
    assert_eq!(r.code().get(), 530, "{r:?}");
    assert_eq!(h.reply_code(), 331);
    assert_eq!(h.reply_code(), 215);
    h.assert_quiet();

    // 2nd failure.
    reject_password(&mut h);
    assert_eq!(h.s.poll_timeout(), Some(h.now + delay));
    h.advance(Duration::from_millis(999));
    h.assert_quiet();
    h.advance(Duration::from_millis(1));
    assert_eq!(h.reply_code(), 530);
    h.assert_quiet();

    // 3rd failure: 530, then 421 and close; what was sent during the delay is dropped.
    assert_eq!(h.cmd("USER alice"), 331);
    reject_password(&mut h);
    assert_eq!(h.s.poll_timeout(), Some(h.now + delay));
    h.send("NOOP");
    h.advance(Duration::from_millis(999));
    h.assert_quiet();
    h.advance(Duration::from_millis(1));
    assert_eq!(h.reply_code(), 530);
    assert_eq!(h.reply_code(), 421);
    assert_eq!(h.next(), Event::Close);
    h.assert_quiet();
    assert!(h.s.is_closed());
    assert_eq!(h.s.poll_timeout(), None);
    h.send("USER alice");
    h.assert_quiet();
}

/// The reply to `USER name` on a fresh session.
fn user_reply(config: &Config, name: &str) -> ftp_proto::Reply {
    let mut h = Harness::new(config.clone());
    h.send(&format!("USER {name}"));
    let r = h.reply();
    h.assert_quiet();
    r
}

#[test]
fn user_always_answers_331() {
    let closed = Config::default();
    let mut open = Config::default();
    open.anonymous = true;
    let reference = user_reply(&closed, "alice");
    assert_eq!(reference.code().get(), 331);
    for name in ["alice", "root", "nosuchuser", "Administrator", "x"] {
        assert_eq!(
            user_reply(&closed, name),
            reference,
            "{name}, anonymous off"
        );
        assert_eq!(user_reply(&open, name), reference, "{name}, anonymous on");
    }
    // With anonymous login off, the anonymous names are nothing special either.
    for name in ["anonymous", "ftp"] {
        assert_eq!(
            user_reply(&closed, name),
            reference,
            "{name}, anonymous off"
        );
        assert_eq!(
            user_reply(&open, name).code().get(),
            331,
            "{name}, anonymous on"
        );
    }
}

// ---- resource exhaustion on the control connection ----------------------------------------

#[test]
fn overlong_lines_get_500_then_close() {
    let config = Config::default();
    let max = config.max_overlong_lines;
    assert_eq!(max, 3);
    let mut h = Harness::logged_in();
    let long = format!("NOOP {}", "a".repeat(4995));
    assert_eq!(long.len(), 5000);
    for _ in 1..max {
        h.send(&long);
        let r = h.reply();
        assert_eq!(r.code().get(), 500, "{r:?}");
        h.assert_quiet();
        assert_eq!(h.cmd("NOOP"), 200);
    }
    h.send(&long);
    assert_eq!(h.reply_code(), 421);
    assert_eq!(h.next(), Event::Close);
    h.assert_quiet();
    h.send("NOOP");
    h.assert_quiet();
}

#[test]
fn a_1_mib_line_without_newline_gets_one_500() {
    let mut h = Harness::logged_in();
    let chunk = vec![b'a'; 4096];
    h.send_raw(b"RETR ");
    for _ in 0..256 {
        h.send_raw(&chunk);
        assert!(h.events.len() <= 1, "{:?}", h.events);
    }
    h.send_raw(b"\r\n");
    let r = h.reply();
    assert_eq!(r.code().get(), 500, "{r:?}");
    h.assert_quiet();
    assert_eq!(h.cmd("NOOP"), 200);
}

#[test]
fn burst_of_1000_unknown_commands() {
    let mut h = Harness::logged_in();
    let burst: String = (0..1000).map(|i| format!("XYZZY{i}\r\n")).collect();
    h.send_raw(burst.as_bytes());
    for i in 0..1000 {
        let r = h.reply();
        assert_eq!(r.code().get(), 500, "{r:?}");
        assert_eq!(r.text(), format!("XYZZY{i} not understood"));
    }
    h.assert_quiet();
    assert_eq!(h.cmd("NOOP"), 200);
}

#[test]
fn commands_pipelined_behind_a_pending_request_are_bounded() {
    let max = Config::default().max_queued_commands;
    assert_eq!(max, 64);
    let mut h = Harness::logged_in();

    // Up to the limit they wait, and are answered in order after the pending command.
    let (t, _) = h.ask("DELE x");
    h.send_raw("XYZZY\r\n".repeat(max).as_bytes());
    h.assert_quiet();
    h.respond(t, Response::Ok);
    assert_eq!(h.reply_code(), 250);
    for _ in 0..max {
        assert_eq!(h.reply_code(), 500);
    }
    h.assert_quiet();

    // 1000 more: 421 and close as soon as the queue is full.
    let (t, _) = h.ask("DELE y");
    h.send_raw("XYZZY\r\n".repeat(1000).as_bytes());
    let r = h.reply();
    assert_eq!(r.code().get(), 421, "{r:?}");
    assert_eq!(h.next(), Event::Close);
    h.assert_quiet();
    assert!(h.s.is_closed());
    // The late answer to the DELE produces nothing.
    let _ = h.s.respond(h.now, t, Response::Ok);
    h.drain();
    h.assert_quiet();
}

// ---- STARTTLS command injection --------------------------------------------------------------

#[test]
fn plaintext_pipelined_after_auth_tls_is_not_executed() {
    let mut c = Config::default();
    c.tls = TlsPolicy::optional();
    let mut h = Harness::new(c);
    h.send_raw(b"AUTH TLS\r\nUSER evil\r\nDELE x\r\n");
    assert_eq!(h.reply_code(), 234);
    assert_eq!(h.next(), Event::UpgradeTls);
    h.assert_quiet();
    // More clear text before the handshake completes is not read either.
    h.send_raw(b"USER evil2\r\nDELE y\r\n");
    h.assert_quiet();

    h.s.handle_tls_established(h.now);
    h.drain();
    h.assert_quiet();
    assert!(h.s.is_tls());
    assert_eq!(h.s.phase(), ftp_proto::server::gating::Phase::BeforeUser);

    assert_eq!(h.cmd("USER alice"), 331);
    let (_, r) = h.ask("PASS secret");
    assert!(
        matches!(&r, Request::Login { user, tls: true, .. } if user == "alice"),
        "{r:?}"
    );
}

// ---- timeouts ------------------------------------------------------------------------------

#[test]
fn login_timeout_and_idle_timeout() {
    let config = Config::default();
    assert_eq!(config.login_timeout, Duration::from_secs(60));
    assert_eq!(config.idle_timeout, Duration::from_secs(300));

    // No login within 60 s: 421 and close, even though the client keeps talking.
    let mut h = Harness::new(Config::default());
    assert_eq!(h.s.poll_timeout(), Some(h.now + Duration::from_secs(60)));
    h.advance(Duration::from_secs(30));
    assert_eq!(h.cmd("NOOP"), 200);
    assert_eq!(h.cmd("USER alice"), 331);
    h.advance(Duration::from_secs(29));
    h.assert_quiet();
    h.advance(Duration::from_secs(1));
    assert_eq!(h.reply_code(), 421);
    assert_eq!(h.next(), Event::Close);
    h.assert_quiet();

    // Logged in and idle: 421 after 300 s, not before.
    let mut h = Harness::logged_in();
    assert_eq!(h.s.poll_timeout(), Some(h.now + Duration::from_secs(300)));
    h.advance(Duration::from_secs(299));
    h.assert_quiet();
    h.advance(Duration::from_secs(1));
    assert_eq!(h.reply_code(), 421);
    assert_eq!(h.next(), Event::Close);
    h.assert_quiet();

    // Activity resets the idle timer.
    let mut h = Harness::logged_in();
    h.advance(Duration::from_secs(200));
    assert_eq!(h.cmd("NOOP"), 200);
    h.advance(Duration::from_secs(299));
    h.assert_quiet();
    assert_eq!(h.s.poll_timeout(), Some(h.now + Duration::from_secs(1)));
    h.advance(Duration::from_secs(1));
    assert_eq!(h.reply_code(), 421);
    assert_eq!(h.next(), Event::Close);

    // A running transfer is not idle, however long it takes.
    let mut h = Harness::logged_in();
    let id = h.epsv();
    h.input(DataInput::Connected { id });
    let (t, _) = h.ask("RETR big.iso");
    h.respond(t, Response::Ok);
    assert_eq!(h.reply_code(), 125);
    assert!(matches!(h.data(), DataAction::Transfer { .. }));
    for _ in 0..20 {
        h.advance(Duration::from_secs(30));
        h.assert_quiet();
    }
    h.input(DataInput::Finished {
        id,
        result: Ok(1 << 30),
    });
    assert_eq!(h.reply_code(), 226);
    // Idle counts from the end of the transfer.
    h.advance(Duration::from_secs(299));
    h.assert_quiet();
    h.advance(Duration::from_secs(1));
    assert_eq!(h.reply_code(), 421);
    assert_eq!(h.next(), Event::Close);
}

// ---- data-channel rules ----------------------------------------------------------------------

#[test]
fn epsv_all_refuses_port_pasv_eprt() {
    let mut h = Harness::logged_in();
    assert_eq!(h.cmd("EPSV ALL"), 200);
    assert_eq!(h.cmd("PORT 192,0,2,10,195,80"), 503);
    assert_eq!(h.cmd("PASV"), 503);
    assert_eq!(h.cmd("EPRT |1|192.0.2.10|50000|"), 503);
    let id = h.epsv();
    h.input(DataInput::Connected { id });
    let (t, _) = h.ask("RETR a.txt");
    h.respond(t, Response::Ok);
    assert_eq!(h.reply_code(), 125);
    assert!(matches!(h.data(), DataAction::Transfer { id: i, .. } if i == id));
    h.input(DataInput::Finished { id, result: Ok(0) });
    assert_eq!(h.reply_code(), 226);
    // It binds the whole connection: REIN and a new login do not lift it.
    assert_eq!(h.cmd("REIN"), 220);
    h.login();
    assert_eq!(h.cmd("PASV"), 503);
    assert_eq!(h.cmd("PORT 192,0,2,10,195,80"), 503);
}

#[test]
fn second_pasv_replaces_the_first_listener() {
    let mut h = Harness::logged_in();
    h.send("PASV");
    let DataAction::Listen { id: first, .. } = h.data() else {
        panic!("expected Listen")
    };
    h.input(DataInput::Listening {
        id: first,
        addr: "192.0.2.1:50000".parse().unwrap(),
    });
    assert_eq!(h.reply_code(), 227);
    h.assert_quiet();

    h.send("PASV");
    assert_eq!(h.data(), DataAction::Close { id: first });
    let DataAction::Listen { id: second, .. } = h.data() else {
        panic!("expected Listen")
    };
    assert_ne!(first, second);
    h.input(DataInput::Listening {
        id: second,
        addr: "192.0.2.1:50001".parse().unwrap(),
    });
    let r = h.reply();
    assert_eq!(r.code().get(), 227);
    assert_eq!(r.text(), "Entering Passive Mode (192,0,2,1,195,81).");
    h.assert_quiet();

    // A late connection to the old listener is closed and starts nothing.
    h.input(DataInput::Connected { id: first });
    assert_eq!(h.data(), DataAction::Close { id: first });
    h.assert_quiet();
    let (t, _) = h.ask("RETR a.txt");
    h.respond(t, Response::Ok);
    h.assert_quiet(); // waits for the second listener's connection
    h.input(DataInput::Connected { id: first });
    assert_eq!(h.data(), DataAction::Close { id: first });
    h.assert_quiet();
    h.input(DataInput::Connected { id: second });
    assert_eq!(h.reply_code(), 150);
    assert!(matches!(h.data(), DataAction::Transfer { id, .. } if id == second));
    h.assert_quiet();
}
