//! First end-to-end dialogue through the server session.
mod support;

use ftp_proto::server::{DataAction, DataInput, Request, Response};
use support::*;

#[test]
fn pasv_retr_lifecycle() {
    let mut h = Harness::logged_in();
    let id = h.epsv();
    h.input(DataInput::Connected { id });
    h.assert_quiet();
    let (t, r) = h.ask("RETR a.txt");
    assert!(
        matches!(r, Request::Retrieve { ref path, offset: 0, .. } if path.as_bytes() == b"/a.txt"),
        "{r:?}"
    );
    h.respond(t, Response::Ok);
    assert_eq!(h.reply_code(), 125);
    assert!(matches!(h.data(), DataAction::Transfer { id: i, .. } if i == id));
    h.input(DataInput::Finished { id, result: Ok(10) });
    assert_eq!(h.reply_code(), 226);
    h.assert_quiet();
    h.send("QUIT");
    assert_eq!(h.reply_code(), 221);
    assert_eq!(h.next(), Event::Close);
}

#[test]
fn list_over_active_connection() {
    let mut h = Harness::logged_in();
    assert_eq!(h.cmd("PORT 192,0,2,10,195,80"), 200);
    let (t, r) = h.ask("LIST -la");
    assert!(matches!(r, Request::List { .. }), "{r:?}");
    h.respond(
        t,
        Response::Entries {
            entries: entries(),
            now: clock(),
        },
    );
    let DataAction::Connect { id, to } = h.data() else {
        panic!()
    };
    assert_eq!(to.to_string(), "192.0.2.10:50000");
    h.assert_quiet();
    h.input(DataInput::Connected { id });
    assert_eq!(h.reply_code(), 150);
    let DataAction::SendListing { bytes, .. } = h.data() else {
        panic!()
    };
    let text = String::from_utf8(bytes).unwrap();
    assert!(
        text.contains(" a.txt\r\n") && text.contains(" sub\r\n"),
        "{text}"
    );
    h.input(DataInput::Finished {
        id,
        result: Ok(100),
    });
    assert_eq!(h.reply_code(), 226);
}

/// The login dialogue of the `server` module's documentation, run with a real clock reading:
/// exact wire bytes, and the idle timer as the next deadline.
#[test]
#[allow(clippy::disallowed_methods)] // A driver's clock reading; the library reads none.
fn documented_login_dialogue() {
    use std::time::{Duration, Instant};

    use ftp_proto::server::{Config, ConnectionInfo, Output, Session};

    let conn = ConnectionInfo {
        peer: "127.0.0.1:50000".parse().unwrap(),
        local: "127.0.0.1:21".parse().unwrap(),
        tls: false,
    };
    let now = Instant::now();
    let mut s = Session::new(Config::default().into(), conn, now);
    let mut wire = Vec::new();
    let drain = |s: &mut Session, wire: &mut Vec<u8>| {
        let mut requests = Vec::new();
        while let Some(out) = s.poll_output() {
            match out {
                Output::Transmit(bytes) => wire.extend(bytes),
                Output::Request { ticket, request } => requests.push((ticket, request)),
                _ => {}
            }
        }
        requests
    };
    drain(&mut s, &mut wire);
    s.handle_control(now, b"USER alice\r\nPASS secret\r\n");
    let requests = drain(&mut s, &mut wire);
    let (ticket, Request::Login { user, .. }) = &requests[0] else {
        panic!("{requests:?}")
    };
    assert_eq!(user, "alice");
    s.respond(now, *ticket, Response::LoggedIn).unwrap();
    drain(&mut s, &mut wire);
    assert_eq!(
        wire,
        b"220 Service ready\r\n331 Please specify the password\r\n230 Login successful\r\n"
    );
    assert_eq!(s.poll_timeout(), Some(now + Duration::from_secs(300)));
}
