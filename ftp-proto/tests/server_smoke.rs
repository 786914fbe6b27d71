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
