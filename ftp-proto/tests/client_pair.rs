//! Client session scenarios: through the `Pair` harness (client Session <-> server Session, no
//! sockets, simulated clock) and against scripted server bytes for what our server never sends.
#![allow(clippy::disallowed_methods)]

mod pair;

use std::time::Duration;

use ftp_proto::client::{
    CommandHandle, Config, CopyError, DataAction, DataError, DataInput, Event, Output,
    PasvAddressPolicy, SessionError, TransferError, UsageError,
};
use ftp_proto::{Command, ListArgs, TransferType};
use pair::{Order, Pair, Scripted};

fn passive() -> Config {
    Config::default()
}

fn active() -> Config {
    Config {
        passive: false,
        ..Config::default()
    }
}

fn list() -> Command {
    Command::List(ListArgs::default())
}

/// The retrieval in the `client` module documentation, step by step with exact bytes.
#[test]
fn documented_retrieval() {
    let now = std::time::Instant::now();
    let mut s =
        ftp_proto::client::Session::new(Config::default(), "192.0.2.7:21".parse().unwrap(), now);
    let drain = |s: &mut ftp_proto::client::Session| {
        std::iter::from_fn(|| s.poll_output()).collect::<Vec<_>>()
    };
    s.handle_control(now, b"220 Welcome\r\n");
    let t = s
        .transfer(now, Command::Retr("a.txt".into()), None)
        .unwrap();
    assert!(
        matches!(&drain(&mut s)[..], [Output::Event(Event::Reply { .. }), Output::Transmit(b)] if b == b"EPSV\r\n")
    );
    s.handle_control(now, b"229 Entering Extended Passive Mode (|||40001|)\r\n");
    let Some(Output::Data(DataAction::Connect { id, to })) = s.poll_output() else {
        panic!("expected Connect")
    };
    assert_eq!(to.to_string(), "192.0.2.7:40001");
    s.handle_data(now, DataInput::Connected { id });
    let out = drain(&mut s);
    assert!(out.contains(&Output::Transmit(b"RETR a.txt\r\n".to_vec())));
    assert!(
        out.iter()
            .any(|o| matches!(o, Output::Data(DataAction::Transfer { .. })))
    );
    s.handle_control(now, b"150 Opening (5 bytes)\r\n226 Done\r\n");
    s.handle_data(
        now,
        DataInput::Finished {
            id,
            bytes: 5,
            result: Ok(()),
        },
    );
    let done = drain(&mut s).into_iter().find_map(|o| match o {
        Output::Event(Event::Transfer { handle, result }) if handle == t => result.ok(),
        _ => None,
    });
    assert_eq!(done.map(|d| (d.bytes, d.size_hint)), Some((5, Some(5))));
}

#[test]
fn greeting_is_the_reply_to_the_greeting_handle() {
    let pair = Pair::new(passive());
    assert_eq!(pair.code_of(CommandHandle::GREETING), 220);
    assert!(pair.client.is_idle());
}

#[test]
fn login_waits_for_331_before_sending_pass() {
    let mut s = Scripted::new(passive());
    let user = s.send(Command::User("alice".into()));
    let pass = s.send(Command::Pass(b"secret".to_vec().into()));
    // USER is a barrier: PASS stays queued until USER is answered.
    assert_eq!(s.transmitted(), "USER alice\r\n");
    s.server(b"331 Password please\r\n");
    assert_eq!(s.transmitted(), "PASS secret\r\n");
    s.server(b"230 Welcome\r\n");
    let events = s.events();
    assert!(matches!(&events[..], [
        Event::Reply { handle: h1, reply: r1 },
        Event::Reply { handle: h2, reply: r2 },
    ] if *h1 == user && *h2 == pass && r1.code().get() == 331 && r2.code().get() == 230));
}

#[test]
fn simple_commands_are_pipelined_and_matched_in_order() {
    let mut s = Scripted::new(passive());
    let a = s.send(Command::Type(TransferType::Image));
    let b = s.send(Command::Pwd);
    let c = s.send(Command::Noop);
    assert_eq!(s.transmitted(), "TYPE I\r\nPWD\r\nNOOP\r\n");
    s.server(b"200 Binary\r\n257 \"/\" is cwd\r\n200 NOOP ok\r\n");
    let codes: Vec<_> = s
        .events()
        .into_iter()
        .map(|e| match e {
            Event::Reply { handle, reply } => (handle, reply.code().get()),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(codes, [(a, 200), (b, 257), (c, 200)]);
}

#[test]
fn login_through_the_pair_and_wrong_password() {
    let mut pair = Pair::new(passive());
    let user = pair.send(Command::User("alice".into()));
    let pass = pair.send(Command::Pass(b"wrong".to_vec().into()));
    // The server delays a failed login's reply.
    assert_eq!(
        pair.client.poll_timeout(),
        Some(pair.now + Duration::from_secs(60))
    );
    pair.advance(Duration::from_secs(5));
    assert_eq!(pair.code_of(user), 331);
    assert_eq!(pair.code_of(pass), 530);
    assert_eq!(pair.sent, ["USER alice", "PASS wrong"]);
}

#[test]
fn retr_whole_file_in_both_end_orders() {
    for order in [Order::EofFirst, Order::ReplyFirst] {
        let mut pair = Pair::logged_in(passive());
        pair.order = order;
        let data: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
        pair.files.insert("/a.bin".into(), data.clone());
        let h = pair.transfer(Command::Retr("a.bin".into()), None);
        let done = pair.transfer_result(h).expect("finished").expect("ok");
        assert_eq!(done.bytes, 5000, "{order:?}");
        assert_eq!(done.size_hint, Some(5000));
        assert_eq!(done.reply.code().get(), 226);
        assert_eq!(pair.received, data);
        assert_eq!(pair.sent, ["EPSV", "RETR a.bin"]);
        assert!(pair.client.is_idle());
    }
}

#[test]
fn retr_with_rest_resumes_at_the_offset() {
    let mut pair = Pair::logged_in(passive());
    let data: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
    pair.files.insert("/a.bin".into(), data.clone());
    let h = pair.transfer(Command::Retr("a.bin".into()), Some(400));
    let done = pair.transfer_result(h).unwrap().unwrap();
    assert_eq!(done.bytes, 600);
    assert_eq!(pair.received, &data[400..]);
    assert_eq!(pair.sent, ["EPSV", "REST 400", "RETR a.bin"]);
    // REST 0 is not sent.
    pair.sent.clear();
    pair.received.clear();
    let h = pair.transfer(Command::Retr("a.bin".into()), Some(0));
    assert_eq!(pair.transfer_result(h).unwrap().unwrap().bytes, 1000);
    assert_eq!(pair.sent, ["EPSV", "RETR a.bin"]);
}

#[test]
fn stor_rest_stor_and_appe_change_the_file() {
    let mut pair = Pair::logged_in(passive());
    pair.upload = b"hello world".to_vec();
    let h = pair.transfer(Command::Stor("up.txt".into()), None);
    assert_eq!(pair.transfer_result(h).unwrap().unwrap().bytes, 11);
    assert_eq!(pair.files["/up.txt"], b"hello world");

    pair.upload = b"WORLD!".to_vec();
    let h = pair.transfer(Command::Stor("up.txt".into()), Some(6));
    assert!(pair.transfer_result(h).unwrap().is_ok());
    assert_eq!(pair.files["/up.txt"], b"hello WORLD!");

    pair.upload = b"++".to_vec();
    let h = pair.transfer(Command::Appe("up.txt".into()), None);
    assert!(pair.transfer_result(h).unwrap().is_ok());
    assert_eq!(pair.files["/up.txt"], b"hello WORLD!++");
}

#[test]
fn list_through_the_pair() {
    let mut pair = Pair::logged_in(passive());
    pair.files.insert("/a.txt".into(), b"0123456789".to_vec());
    pair.dirs.insert("/sub".into());
    let h = pair.transfer(list(), None);
    let done = pair.transfer_result(h).unwrap().unwrap();
    let text = String::from_utf8(pair.received.clone()).unwrap();
    assert_eq!(done.bytes, text.len() as u64);
    assert!(text.contains(" 10 May  1 10:00 a.txt\r\n"), "{text}");
    assert!(text.starts_with('-') && text.contains("\r\nd"), "{text}");
}

#[test]
fn active_mode_uses_eprt_and_the_server_connects() {
    let mut pair = Pair::logged_in(active());
    pair.files.insert("/a.bin".into(), vec![7; 3000]);
    let h = pair.transfer(Command::Retr("a.bin".into()), None);
    assert_eq!(pair.transfer_result(h).unwrap().unwrap().bytes, 3000);
    assert_eq!(pair.received, vec![7; 3000]);
    assert!(
        pair.sent[0].starts_with("EPRT |1|192.0.2.10|"),
        "{:?}",
        pair.sent
    );
    assert_eq!(pair.sent[1], "RETR a.bin");

    pair.upload = b"up".to_vec();
    let h = pair.transfer(Command::Stor("b".into()), None);
    assert!(pair.transfer_result(h).unwrap().is_ok());
    assert_eq!(pair.files["/b"], b"up");
}

#[test]
fn missing_file_is_refused_and_the_session_goes_on() {
    let mut pair = Pair::logged_in(passive());
    let h = pair.transfer(Command::Retr("nope".into()), None);
    match pair.transfer_result(h).unwrap() {
        Err(TransferError::Refused(reply)) => assert_eq!(reply.code().get(), 550),
        other => panic!("{other:?}"),
    }
    let n = pair.send(Command::Noop);
    assert_eq!(pair.code_of(n), 200);
}

#[test]
fn abort_mid_download_gets_426_then_226_and_the_session_is_usable() {
    let mut pair = Pair::logged_in(passive());
    pair.files.insert("/big".into(), vec![1; 100_000]);
    pair.data_flows = false;
    let h = pair.transfer(Command::Retr("big".into()), None);
    assert!(pair.transfer_result(h).is_none());
    assert!(pair.client.in_transfer());
    pair.abort();
    match pair.transfer_result(h).expect("finished after ABOR") {
        Err(TransferError::Aborted { .. }) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(pair.sent.last().map(String::as_str), Some("ABOR"));
    assert!(pair.client.is_idle());
    pair.data_flows = true;
    let n = pair.send(Command::Noop);
    assert_eq!(pair.code_of(n), 200);
    assert_eq!(pair.client.abort(pair.now), Err(UsageError::NoTransfer));
}

/// The id of the one data action queued, which must be a `Connect`.
fn connect_id(s: &mut Scripted) -> ftp_proto::client::DataId {
    match &s.actions()[..] {
        [DataAction::Connect { id, .. }] => *id,
        other => panic!("expected one Connect, got {other:?}"),
    }
}

/// Starts a passive RETR against scripted bytes and returns its handle once data flows.
fn running_retr(s: &mut Scripted) -> (CommandHandle, ftp_proto::client::DataId) {
    let t = s.transfer(Command::Retr("f".into()), None);
    s.server(b"229 (|||4000|)\r\n");
    let id = connect_id(s);
    s.data(DataInput::Connected { id });
    s.server(b"150 Sending\r\n");
    s.transmitted();
    s.events();
    s.actions();
    (t, id)
}

#[test]
fn abort_replies_of_every_known_server_shape() {
    // (server bytes after ABOR, whether a sync NOOP goes out)
    let shapes: [(&[&[u8]], bool); 4] = [
        // Our server, pyftpdlib: 426 for the transfer, 226 for ABOR.
        (&[b"426 Aborted\r\n226 ABOR ok\r\n"], false),
        // vsftpd: 426, then 225.
        (
            &[b"426 Failure writing network stream.\r\n225 No transfer to ABOR.\r\n"],
            false,
        ),
        // pure-ftpd: a stray 150 with statistics, then one 226 for both.
        (
            &[
                b"150 0.01 seconds (measured here)\r\n226 Transfer aborted\r\n",
                b"200 NOOP ok\r\n",
            ],
            true,
        ),
        // The transfer had just finished: 226 for it, 225 for ABOR.
        (
            &[b"226 Done\r\n", b"225 Nothing to abort\r\n200 NOOP ok\r\n"],
            true,
        ),
    ];
    for (replies, sync) in shapes {
        let mut s = Scripted::new(passive());
        let (t, id) = running_retr(&mut s);
        s.s.abort(s.now).unwrap();
        while let Some(o) = s.s.poll_output() {
            s.out.push_back(o);
        }
        assert_eq!(s.transmitted(), "ABOR\r\n");
        assert!(s.actions().contains(&DataAction::Close { id }));
        for bytes in replies {
            s.server(bytes);
        }
        assert_eq!(s.transmitted(), if sync { "NOOP\r\n" } else { "" });
        let events = s.events();
        assert!(
            events.iter().any(|e| matches!(e, Event::Transfer { handle, result: Err(TransferError::Aborted { .. }) } if *handle == t)),
            "{replies:?}: {events:?}"
        );
        assert!(s.s.is_idle(), "{replies:?}");
        let n = s.send(Command::Pwd);
        s.server(b"257 \"/\"\r\n");
        assert!(
            matches!(&s.events()[..], [Event::Reply { handle, reply }] if *handle == n && reply.code().get() == 257)
        );
    }
}

#[test]
fn commands_queued_during_a_transfer_wait_for_it() {
    let mut pair = Pair::logged_in(passive());
    pair.files.insert("/f".into(), vec![0; 10]);
    pair.data_flows = false;
    let t = pair.transfer(Command::Retr("f".into()), None);
    let n = pair.send(Command::Noop);
    assert_eq!(
        pair.sent,
        ["EPSV", "RETR f"],
        "NOOP must wait for the transfer"
    );
    pair.data_flows = true;
    pair.run();
    assert!(pair.transfer_result(t).unwrap().is_ok());
    assert_eq!(pair.code_of(n), 200);
    assert_eq!(pair.sent, ["EPSV", "RETR f", "NOOP"]);
}

#[test]
fn reply_timeout_fails_every_waiting_command_and_closes() {
    let mut s = Scripted::new(Config {
        reply_timeout: Duration::from_secs(10),
        ..passive()
    });
    let a = s.send(Command::Noop);
    let b = s.send(Command::Pwd);
    s.transmitted();
    let deadline = s.s.poll_timeout().expect("a reply is due");
    assert_eq!(deadline, s.now + Duration::from_secs(10));
    s.now += Duration::from_secs(9);
    s.s.handle_timeout(s.now);
    assert!(!s.s.is_closed(), "early timeouts do nothing");
    s.now += Duration::from_secs(1);
    s.s.handle_timeout(s.now);
    while let Some(o) = s.s.poll_output() {
        s.out.push_back(o);
    }
    let events = s.events();
    assert_eq!(
        events,
        [
            Event::Failed {
                handle: a,
                error: SessionError::Timeout
            },
            Event::Failed {
                handle: b,
                error: SessionError::Timeout
            },
            Event::Closed(SessionError::Timeout),
        ]
    );
    assert_eq!(s.s.send(s.now, Command::Noop), Err(UsageError::Closed));
}

#[test]
fn no_reply_timeout_while_data_flows() {
    let mut pair = Pair::logged_in(Config {
        reply_timeout: Duration::from_secs(5),
        ..passive()
    });
    pair.files.insert("/f".into(), vec![0; 10]);
    pair.data_flows = false;
    let t = pair.transfer(Command::Retr("f".into()), None);
    assert_eq!(pair.client.poll_timeout(), None);
    pair.advance(Duration::from_secs(60));
    assert!(pair.closed().is_none());
    pair.data_flows = true;
    pair.run();
    assert!(pair.transfer_result(t).unwrap().is_ok());
}

#[test]
fn epsv_refused_falls_back_to_pasv_and_remembers() {
    let mut s = Scripted::new(passive());
    let t1 = s.transfer(Command::Retr("f".into()), None);
    assert_eq!(s.transmitted(), "EPSV\r\n");
    s.server(b"502 EPSV not implemented\r\n");
    assert_eq!(s.transmitted(), "PASV\r\n");
    // The address in the 227 is ignored: the data connection goes to the control peer.
    s.server(b"227 Entering Passive Mode (10,9,8,7,4,1)\r\n");
    let actions = s.actions();
    let [DataAction::Connect { id, to }] = &actions[..] else {
        panic!("{actions:?}")
    };
    assert_eq!(to.to_string(), "192.0.2.1:1025");
    s.data(DataInput::Connected { id: *id });
    assert_eq!(s.transmitted(), "RETR f\r\n");
    s.data(DataInput::Finished {
        id: *id,
        bytes: 0,
        result: Ok(()),
    });
    s.server(b"226 Done\r\n");
    assert!(
        s.events()
            .iter()
            .any(|e| matches!(e, Event::Transfer { handle, result: Ok(_) } if *handle == t1))
    );

    s.transfer(Command::Retr("g".into()), None);
    assert_eq!(s.transmitted(), "PASV\r\n", "the fallback is remembered");
}

#[test]
fn trusted_pasv_address_is_used_when_asked() {
    let mut s = Scripted::new(Config {
        use_epsv: false,
        pasv_address: PasvAddressPolicy::Trust,
        ..passive()
    });
    s.transfer(Command::Retr("f".into()), None);
    assert_eq!(s.transmitted(), "PASV\r\n");
    s.server(b"227 Entering Passive Mode (10,9,8,7,4,1)\r\n");
    assert!(
        matches!(&s.actions()[..], [DataAction::Connect { to, .. }] if to.to_string() == "10.9.8.7:1025")
    );
}

#[test]
fn ipv6_never_falls_back_to_pasv() {
    let mut s = Scripted::with_peer(passive(), "[2001:db8::1]:21");
    let t = s.transfer(Command::Retr("f".into()), None);
    assert_eq!(s.transmitted(), "EPSV\r\n");
    s.server(b"500 What?\r\n");
    assert_eq!(s.transmitted(), "");
    assert!(s.events().contains(&Event::Transfer {
        handle: t,
        result: Err(TransferError::NoUsableDataCommand)
    }));
    // The data port of an IPv6 EPSV reply goes with the peer's IPv6 address.
    s.transfer(Command::Retr("f".into()), None);
    s.transmitted();
    s.server(b"229 Entering Extended Passive Mode (|||5000|)\r\n");
    assert!(
        matches!(&s.actions()[..], [DataAction::Connect { to, .. }] if to.to_string() == "[2001:db8::1]:5000")
    );
}

#[test]
fn eprt_refused_falls_back_to_port() {
    let mut s = Scripted::new(active());
    s.transfer(Command::Retr("f".into()), None);
    let actions = s.actions();
    let [DataAction::Listen { id, .. }] = &actions[..] else {
        panic!("{actions:?}")
    };
    s.data(DataInput::Listening {
        id: *id,
        addr: "192.0.2.10:5001".parse().unwrap(),
    });
    assert_eq!(s.transmitted(), "EPRT |1|192.0.2.10|5001|\r\n");
    s.server(b"500 EPRT?\r\n");
    assert_eq!(s.transmitted(), "PORT 192,0,2,10,19,137\r\n");
    s.server(b"200 PORT ok\r\n");
    assert_eq!(s.transmitted(), "RETR f\r\n");
}

#[test]
fn completion_without_preliminary_or_data_connection() {
    // Active mode: the server says 226 at once for an empty file and never connects.
    let mut s = Scripted::new(active());
    let t = s.transfer(Command::Retr("empty".into()), None);
    let id = match &s.actions()[..] {
        [DataAction::Listen { id, .. }] => *id,
        other => panic!("{other:?}"),
    };
    s.data(DataInput::Listening {
        id,
        addr: "192.0.2.10:5001".parse().unwrap(),
    });
    s.server(b"200 EPRT ok\r\n");
    s.transmitted();
    assert!(matches!(&s.actions()[..], [DataAction::Transfer { .. }]));
    s.server(b"226 Nothing to send\r\n");
    // The listener stays open: the connection may be waiting in its queue.
    assert!(s.actions().is_empty());
    assert!(
        s.events().is_empty(),
        "the driver must look for a waiting connection first"
    );
    s.data(DataInput::Failed {
        id,
        error: DataError::Accept,
    });
    let events = s.events();
    assert!(
        matches!(&events[..], [Event::Transfer { handle, result: Ok(done) }] if *handle == t && done.bytes == 0),
        "{events:?}"
    );
}

#[test]
fn active_226_read_before_the_accept_still_gets_the_data() {
    let mut s = Scripted::new(active());
    let t = s.transfer(Command::Retr("f".into()), None);
    let id = match &s.actions()[..] {
        [DataAction::Listen { id, .. }] => *id,
        other => panic!("{other:?}"),
    };
    s.data(DataInput::Listening {
        id,
        addr: "192.0.2.10:5001".parse().unwrap(),
    });
    s.server(b"200 EPRT ok\r\n");
    // The server connected, sent everything and replied before the driver accepted.
    s.server(b"150 Sending\r\n226 Done\r\n");
    s.data(DataInput::Connected { id });
    s.data(DataInput::Finished {
        id,
        bytes: 9,
        result: Ok(()),
    });
    assert!(s.events().iter().any(
        |e| matches!(e, Event::Transfer { handle, result: Ok(d) } if *handle == t && d.bytes == 9)
    ));
}

#[test]
fn upload_waits_for_the_preliminary_reply_before_sending() {
    let mut s = Scripted::new(passive());
    let t = s.transfer(Command::Stor("f".into()), None);
    s.server(b"229 (|||4000|)\r\n");
    let id = connect_id(&mut s);
    s.data(DataInput::Connected { id });
    assert_eq!(s.transmitted(), "EPSV\r\nSTOR f\r\n");
    assert!(s.actions().is_empty(), "no copy before 150");
    s.server(b"125 Go ahead\r\n");
    assert!(matches!(
        &s.actions()[..],
        [DataAction::Transfer {
            direction: ftp_proto::client::Direction::Send,
            ..
        }]
    ));
    s.server(b"226 Stored\r\n");
    assert!(
        s.events()
            .iter()
            .all(|e| !matches!(e, Event::Transfer { .. })),
        "waits for the copy to end"
    );
    s.data(DataInput::Finished {
        id,
        bytes: 42,
        result: Ok(()),
    });
    assert!(s.events().iter().any(
        |e| matches!(e, Event::Transfer { handle, result: Ok(d) } if *handle == t && d.bytes == 42)
    ));
}

#[test]
fn failure_after_start_and_broken_copy_are_typed() {
    let mut s = Scripted::new(passive());
    let t = s.transfer(Command::Retr("f".into()), None);
    s.server(b"229 (|||4000|)\r\n");
    let id = connect_id(&mut s);
    s.data(DataInput::Connected { id });
    s.server(b"150 Here\r\n451 Disk error\r\n");
    let events = s.events();
    assert!(
        matches!(events.last(), Some(Event::Transfer { handle, result: Err(TransferError::Failed { reply, .. }) }) if *handle == t && reply.code().get() == 451),
        "{events:?}"
    );
    assert!(s.actions().contains(&DataAction::Close { id }));

    // The copy broke but the server claims success: still an error.
    let t = s.transfer(Command::Retr("f".into()), None);
    s.server(b"229 (|||4001|)\r\n");
    let id = connect_id(&mut s);
    s.data(DataInput::Connected { id });
    s.data(DataInput::Finished {
        id,
        bytes: 7,
        result: Err(CopyError::ConnectionLost),
    });
    s.server(b"150 Here\r\n226 Done\r\n");
    let events = s.events();
    assert!(
        matches!(events.last(), Some(Event::Transfer { handle, result: Err(TransferError::Copy { error: CopyError::ConnectionLost, bytes: 7, .. }) }) if *handle == t),
        "{events:?}"
    );
}

#[test]
fn data_connect_failure_sends_no_transfer_command() {
    let mut s = Scripted::new(passive());
    let t = s.transfer(Command::Retr("f".into()), None);
    s.server(b"229 (|||4000|)\r\n");
    let id = connect_id(&mut s);
    s.transmitted();
    s.data(DataInput::Failed {
        id,
        error: DataError::Connect,
    });
    assert_eq!(s.transmitted(), "");
    assert_eq!(
        s.events(),
        [Event::Transfer {
            handle: t,
            result: Err(TransferError::Data(DataError::Connect))
        }]
    );
    assert!(s.s.is_idle());
}

#[test]
fn unsolicited_421_ends_the_session() {
    let mut s = Scripted::new(passive());
    s.server(b"421 Timeout, bye\r\n");
    let events = s.events();
    assert!(
        matches!(&events[..], [Event::Closed(SessionError::ServiceClosing(r))] if r.code().get() == 421)
    );
    assert!(s.s.is_closed());
}

#[test]
fn server_closing_mid_reply_is_a_typed_error() {
    let mut s = Scripted::new(passive());
    let h = s.send(Command::Feat);
    s.server(b"211-Features:\r\n MDTM\r\n");
    s.s.handle_eof(s.now);
    while let Some(o) = s.s.poll_output() {
        s.out.push_back(o);
    }
    assert_eq!(
        s.events(),
        [
            Event::Failed {
                handle: h,
                error: SessionError::ConnectionClosed
            },
            Event::Closed(SessionError::ConnectionClosed)
        ]
    );
}

#[test]
fn endless_multiline_reply_is_capped() {
    let mut s = Scripted::new(Config {
        max_reply: 4096,
        ..passive()
    });
    let h = s.send(Command::Feat);
    s.server(b"211-Features:\r\n");
    for _ in 0..1000 {
        s.server(b" SOMETHING\r\n");
        if s.s.is_closed() {
            break;
        }
    }
    assert!(s.s.is_closed());
    assert_eq!(
        s.events(),
        [
            Event::Failed {
                handle: h,
                error: SessionError::ReplyTooLarge { limit: 4096 }
            },
            Event::Closed(SessionError::ReplyTooLarge { limit: 4096 })
        ]
    );
}

#[test]
fn malformed_reply_ends_the_session() {
    let mut s = Scripted::new(passive());
    s.send(Command::Noop);
    s.server(b"HTTP/1.1 400 Bad Request\r\n");
    assert!(
        s.events()
            .contains(&Event::Closed(SessionError::MalformedReply))
    );
}

#[test]
fn plaintext_after_234_is_discarded_and_sending_pauses() {
    let mut s = Scripted::new(passive());
    let auth = s.send(Command::Auth(ftp_proto::AuthMechanism::Tls));
    let user = s.send(Command::User("alice".into()));
    assert_eq!(s.transmitted(), "AUTH TLS\r\n");
    // A man in the middle appends a forged reply to the 234 in the same segment.
    s.server(b"234 Go ahead\r\n331 injected\r\n");
    assert!(s.out.contains(&Output::UpgradeTls));
    assert_eq!(s.transmitted(), "", "nothing is sent before the handshake");
    let events = s.events();
    assert_eq!(
        events.len(),
        1,
        "the injected reply is not seen: {events:?}"
    );
    s.s.handle_tls_established(s.now);
    while let Some(o) = s.s.poll_output() {
        s.out.push_back(o);
    }
    assert_eq!(s.transmitted(), "USER alice\r\n");
    s.server(b"331 Password\r\n");
    assert!(matches!(&s.events()[..], [Event::Reply { handle, .. }] if *handle == user));
    let _ = auth;
}

#[test]
fn injection_and_misuse_are_refused() {
    let mut s = Scripted::new(passive());
    assert!(matches!(
        s.s.send(s.now, Command::Dele("a\r\nDELE b".into())),
        Err(UsageError::Encode(_))
    ));
    assert!(matches!(
        s.s.send(s.now, Command::Retr("a".into())),
        Err(UsageError::WrongMethod(..))
    ));
    assert!(matches!(
        s.s.send(s.now, Command::Abor),
        Err(UsageError::WrongMethod(..))
    ));
    assert!(matches!(
        s.s.transfer(s.now, Command::Noop, None),
        Err(UsageError::WrongMethod(..))
    ));
    assert!(matches!(
        s.s.transfer(s.now, Command::Retr("a\nb".into()), None),
        Err(UsageError::Encode(_))
    ));
    assert_eq!(s.transmitted(), "");
}

#[test]
fn external_transfer_opens_no_data_channel() {
    let mut s = Scripted::new(passive());
    let port = s.send(Command::Port("192.0.2.99:2000".parse().unwrap()));
    let t =
        s.s.transfer_external(s.now, Command::Stor("copy".into()))
            .unwrap();
    s.server(b"200 PORT ok\r\n");
    assert_eq!(s.transmitted(), "PORT 192,0,2,99,7,208\r\nSTOR copy\r\n");
    s.server(b"150 Opening\r\n226 Done\r\n");
    assert!(s.actions().is_empty());
    let events = s.events();
    assert!(matches!(&events[0], Event::Reply { handle, .. } if *handle == port));
    assert!(
        matches!(&events[2], Event::Transfer { handle, result: Ok(d) } if *handle == t && d.bytes == 0),
        "{events:?}"
    );
}

#[test]
fn quit_closes_cleanly() {
    let mut pair = Pair::logged_in(passive());
    let q = pair.send(Command::Quit);
    assert_eq!(pair.code_of(q), 221);
    assert_eq!(pair.closed(), Some(SessionError::Closed));
}

#[test]
fn replies_split_anywhere_give_the_same_events() {
    let script: &[u8] =
        b"331 Password\r\n230-Welcome\r\n to the\r\n230 server\r\n257 \"/\" is cwd\r\n";
    let mut expected = None;
    for split in 0..=script.len() {
        let mut s = Scripted::new(passive());
        s.send(Command::User("u".into()));
        s.send(Command::Pass(b"p".to_vec().into()));
        s.send(Command::Pwd);
        let (a, b) = script.split_at(split);
        s.server(a);
        s.server(b);
        let events = s.events();
        assert_eq!(events.len(), 3, "split {split}: {events:?}");
        match &expected {
            None => expected = Some(events),
            Some(e) => assert_eq!(&events, e, "split {split}"),
        }
    }
}
