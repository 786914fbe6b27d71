//! Client session tests for the reply deadline: what moves it and what does not (1yz replies,
//! fragments of a reply), and the error a timeout reports. Whole scenarios live in
//! `tests/client_pair.rs`.
#![allow(clippy::disallowed_methods)]

use std::time::{Duration, Instant};

use ftp_proto::Command;

use ftp_proto::client::{Config, DataAction, DataInput, Event, Output, Session, SessionError};

const TIMEOUT: Duration = Duration::from_secs(10);

fn session(now: Instant) -> Session {
    let config = Config {
        reply_timeout: TIMEOUT,
        ..Config::default()
    };
    Session::new(config, "192.0.2.7:21".parse().unwrap(), now)
}

fn events(s: &mut Session) -> Vec<Event> {
    std::iter::from_fn(|| s.poll_output())
        .filter_map(|o| match o {
            Output::Event(e) => Some(e),
            _ => None,
        })
        .collect()
}

fn logged_in_until_pass(now: Instant) -> (Session, ftp_proto::client::CommandHandle) {
    let mut s = session(now);
    s.handle_control(now, b"220 Welcome\r\n");
    let pass = s.send(now, Command::Pass(b"p".to_vec().into())).unwrap();
    events(&mut s);
    (s, pass)
}

/// A server answering PASS with `120 wait` every 2 s: the final reply is still due within
/// the reply timeout of the command, and the timeout says only 1yz replies came.
#[test]
fn preliminary_replies_do_not_move_the_reply_deadline() {
    let t0 = Instant::now();
    let (mut s, pass) = logged_in_until_pass(t0);
    let mut now = t0;
    for _ in 0..4 {
        now += Duration::from_secs(2);
        s.handle_control(now, b"120 wait a bit\r\n");
        assert_eq!(s.poll_timeout(), Some(t0 + TIMEOUT));
        s.handle_timeout(now);
        assert!(!s.is_closed());
    }
    s.handle_timeout(t0 + TIMEOUT);
    assert!(s.is_closed());
    let events = events(&mut s);
    assert!(events.contains(&Event::Failed {
        handle: pass,
        error: SessionError::NoFinalReply
    }));
    assert_eq!(
        events.last(),
        Some(&Event::Closed(SessionError::NoFinalReply))
    );
}

/// A flood of 1yz replies ends the session on its own once the deadline has passed, even if
/// the driver never gets round to `handle_timeout` (its reads are always ready).
#[test]
fn a_flood_of_preliminary_replies_past_the_deadline_ends_the_session() {
    let t0 = Instant::now();
    let (mut s, _) = logged_in_until_pass(t0);
    s.handle_control(t0 + TIMEOUT / 2, b"120 a\r\n121 b\r\n");
    assert!(!s.is_closed());
    s.handle_control(t0 + TIMEOUT, b"120 a\r\n");
    assert!(s.is_closed());
    assert_eq!(
        events(&mut s).last(),
        Some(&Event::Closed(SessionError::NoFinalReply))
    );
}

/// Many 1yz replies followed by the final reply, all within the timeout, still work.
#[test]
fn many_fast_preliminary_replies_then_the_final_reply_work() {
    let t0 = Instant::now();
    let (mut s, pass) = logged_in_until_pass(t0);
    let flood = b"120 wait\r\n".repeat(100_000);
    s.handle_control(t0 + Duration::from_secs(1), &flood);
    events(&mut s);
    s.handle_control(t0 + Duration::from_secs(2), b"230 Logged in\r\n");
    assert!(!s.is_closed());
    assert!(matches!(
        events(&mut s).last(),
        Some(Event::Reply { handle, reply }) if *handle == pass && reply.code().get() == 230
    ));
    assert_eq!(s.poll_timeout(), None);
}

/// `120` then `220` is a greeting, as RFC 959 has it.
#[test]
fn a_120_greeting_then_220_works() {
    let t0 = Instant::now();
    let mut s = session(t0);
    s.handle_control(t0 + Duration::from_secs(3), b"120 Ready in 1 minute\r\n");
    assert_eq!(s.poll_timeout(), Some(t0 + TIMEOUT));
    s.handle_control(t0 + Duration::from_secs(6), b"220 Ready\r\n");
    let events = events(&mut s);
    assert!(
        matches!(&events[..], [Event::Preliminary { .. }, Event::Reply { reply, .. }] if reply.code().get() == 220)
    );
    assert!(s.is_idle());
}

/// A 150 starts the transfer: no reply deadline while the data flows (the driver's data
/// timeout watches it), and the final reply is due within the reply timeout of its end.
#[test]
fn a_150_hands_the_wait_to_the_data_timeout() {
    let t0 = Instant::now();
    let mut s = session(t0);
    s.handle_control(t0, b"220 Welcome\r\n");
    let t = s.transfer(t0, Command::Retr("f".into()), None).unwrap();
    s.handle_control(t0, b"229 Entering Extended Passive Mode (|||40001|)\r\n");
    let id = std::iter::from_fn(|| s.poll_output())
        .find_map(|o| match o {
            Output::Data(DataAction::Connect { id, .. }) => Some(id),
            _ => None,
        })
        .unwrap();
    s.handle_data(t0, DataInput::Connected { id });
    s.handle_control(t0 + Duration::from_secs(1), b"150 Here it comes\r\n");
    assert_eq!(s.poll_timeout(), None);
    let end = t0 + 100 * TIMEOUT;
    s.handle_control(end, b"120 still going\r\n");
    assert!(!s.is_closed());
    s.handle_data(
        end,
        DataInput::Finished {
            id,
            bytes: 5,
            result: Ok(()),
        },
    );
    assert_eq!(s.poll_timeout(), Some(end + TIMEOUT));
    s.handle_control(end + Duration::from_secs(1), b"226 Done\r\n");
    assert!(events(&mut s).iter().any(
        |e| matches!(e, Event::Transfer { handle, result: Ok(done) } if *handle == t && done.bytes == 5)
    ));
}

/// Part of a reply and then silence: the timeout says the reply was incomplete (a greeting
/// without its line end is no sign of a TLS port).
#[test]
fn an_incomplete_reply_times_out_as_such() {
    let t0 = Instant::now();
    let mut s = session(t0);
    s.handle_control(t0 + Duration::from_secs(1), b"220 hello there");
    assert_eq!(s.poll_timeout(), Some(t0 + TIMEOUT));
    s.handle_timeout(t0 + TIMEOUT);
    assert_eq!(
        events(&mut s).last(),
        Some(&Event::Closed(SessionError::IncompleteReply))
    );
    // A multi-line reply trickling in does not extend the deadline either.
    let mut s = session(t0);
    s.handle_control(t0 + Duration::from_secs(9), b"220-start\r\n more\r\n");
    s.handle_control(t0 + TIMEOUT, b" and more\r\n");
    assert_eq!(
        events(&mut s).last(),
        Some(&Event::Closed(SessionError::IncompleteReply))
    );
    // Silence is still a plain timeout.
    let mut s = session(t0);
    s.handle_timeout(t0 + TIMEOUT);
    assert_eq!(
        events(&mut s).last(),
        Some(&Event::Closed(SessionError::Timeout))
    );
}
