//! The gating table against the session, exhaustively: every verb in every login state gets
//! the answer `gating::rule` gives, and every verb sent while a transfer runs either acts at
//! once or waits for the transfer's final reply, as the table's `during_transfer` column says.
mod support;

use std::collections::HashMap;

use ftp_proto::server::gating::{DuringTransfer, Gate, Phase, rule};
use ftp_proto::server::{Config, DataAction, DataId, DataInput, Request, Response, TlsPolicy};
use ftp_proto::{Reply, Verb};
use support::*;

/// How many verbs the crate knows; a new verb must get a sample line here.
const VERBS: usize = 64;

/// A syntactically valid line for `verb`. PORT and EPRT name the harness's peer (192.0.2.10)
/// and an unprivileged port, so the data-address policy lets them through.
fn sample_line(verb: Verb) -> &'static str {
    match verb {
        Verb::User => "USER alice",
        Verb::Pass => "PASS secret",
        Verb::Acct => "ACCT billing",
        Verb::Cwd => "CWD pub",
        Verb::Cdup => "CDUP",
        Verb::Smnt => "SMNT pub",
        Verb::Quit => "QUIT",
        Verb::Rein => "REIN",
        Verb::Port => "PORT 192,0,2,10,195,80",
        Verb::Pasv => "PASV",
        Verb::Eprt => "EPRT |1|192.0.2.10|50000|",
        Verb::Epsv => "EPSV",
        Verb::Type => "TYPE I",
        Verb::Stru => "STRU F",
        Verb::Mode => "MODE S",
        Verb::Retr => "RETR a.txt",
        Verb::Stor => "STOR a.txt",
        Verb::Stou => "STOU",
        Verb::Appe => "APPE a.txt",
        Verb::Allo => "ALLO 1024",
        Verb::Rest => "REST 100",
        Verb::Rnfr => "RNFR a.txt",
        Verb::Rnto => "RNTO b.txt",
        Verb::Abor => "ABOR",
        Verb::Dele => "DELE a.txt",
        Verb::Rmd => "RMD old",
        Verb::Mkd => "MKD new",
        Verb::Pwd => "PWD",
        Verb::List => "LIST",
        Verb::Nlst => "NLST",
        Verb::Site => "SITE HELP",
        Verb::Syst => "SYST",
        Verb::Stat => "STAT",
        Verb::Help => "HELP",
        Verb::Noop => "NOOP",
        Verb::Feat => "FEAT",
        Verb::Opts => "OPTS UTF8 ON",
        Verb::Auth => "AUTH TLS",
        Verb::Adat => "ADAT Zm9v",
        Verb::Pbsz => "PBSZ 0",
        Verb::Prot => "PROT P",
        Verb::Ccc => "CCC",
        Verb::Mic => "MIC Zm9v",
        Verb::Conf => "CONF Zm9v",
        Verb::Enc => "ENC Zm9v",
        Verb::Size => "SIZE a.txt",
        Verb::Mdtm => "MDTM a.txt",
        Verb::Mfmt => "MFMT 20240101000000 a",
        Verb::Mlsd => "MLSD",
        Verb::Mlst => "MLST a.txt",
        Verb::Host => "HOST ftp.example.com",
        Verb::Lang => "LANG EN",
        Verb::Clnt => "CLNT test-client",
        Verb::Hash => "HASH a.txt",
        Verb::Xcrc => "XCRC a",
        Verb::Xmd5 => "XMD5 a",
        Verb::Xsha1 => "XSHA1 a",
        Verb::Xsha256 => "XSHA256 a",
        Verb::Avbl => "AVBL",
        Verb::Xpwd => "XPWD",
        Verb::Xmkd => "XMKD new",
        Verb::Xrmd => "XRMD old",
        Verb::Xcwd => "XCWD pub",
        Verb::Xcup => "XCUP",
        other => panic!("no sample line for {other}: add one"),
    }
}

/// The session states of the table's columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    BeforeUser,
    AfterUser,
    LoggedIn,
    /// The policy requires TLS for login and the control connection is still plain text.
    TlsRequiredNotYetTls,
}

impl State {
    const ALL: [State; 4] = [
        State::BeforeUser,
        State::AfterUser,
        State::LoggedIn,
        State::TlsRequiredNotYetTls,
    ];

    fn phase(self) -> Phase {
        match self {
            State::BeforeUser | State::TlsRequiredNotYetTls => Phase::BeforeUser,
            State::AfterUser => Phase::AfterUser,
            State::LoggedIn => Phase::LoggedIn,
        }
    }

    fn tls_missing(self) -> bool {
        self == State::TlsRequiredNotYetTls
    }

    /// A fresh session in this state.
    fn enter(self) -> Harness {
        let h = match self {
            State::BeforeUser => Harness::new(Config::default()),
            State::AfterUser => {
                let mut h = Harness::new(Config::default());
                assert_eq!(h.cmd("USER alice"), 331);
                h
            }
            State::LoggedIn => Harness::logged_in(),
            State::TlsRequiredNotYetTls => {
                let mut c = Config::default();
                c.tls = TlsPolicy::required();
                let h = Harness::new(c);
                assert!(!h.s.is_tls());
                h
            }
        };
        assert_eq!(h.s.phase(), self.phase(), "{self:?}");
        h
    }
}

/// The reply code each refusal must carry, written out rather than taken from `refusal()`.
fn refusal_code(gate: Gate) -> Option<u16> {
    match gate {
        Gate::Allow => None,
        Gate::NotLoggedIn | Gate::TlsRequired => Some(530),
        Gate::BadSequence => Some(503),
    }
}

/// The exact reply a refusing gate sends.
fn refusal_reply(gate: Gate) -> Option<Reply> {
    gate.refusal().map(|(code, text)| Reply::new(code, text))
}

/// Checks the session's reaction to a line of `verb` (already sent) against `gate`: a refusal
/// is exactly one reply with the gate's code and text; an allowed command reacts somehow
/// (a reply, a request or a data action), and never with any gate's refusal.
fn check_reaction(h: &mut Harness, verb: Verb, gate: Gate, context: &str) {
    match (refusal_code(gate), refusal_reply(gate)) {
        (Some(code), Some(expected)) => {
            let reply = match h.next() {
                Event::Reply(r) => r,
                other => panic!("{context}: {verb} expected refusal {expected:?}, got {other:?}"),
            };
            assert_eq!(reply.code().get(), code, "{context}: {verb}");
            assert_eq!(reply, expected, "{context}: {verb}");
            assert!(
                h.events.is_empty(),
                "{context}: {verb} refused, yet also: {:?}",
                h.events
            );
        }
        (None, None) => {
            assert!(!h.events.is_empty(), "{context}: {verb} got no reaction");
            let refusals: Vec<Reply> = [Gate::NotLoggedIn, Gate::BadSequence, Gate::TlsRequired]
                .into_iter()
                .filter_map(refusal_reply)
                .collect();
            for event in h.events.drain(..) {
                if let Event::Reply(r) = &event {
                    assert!(
                        !refusals.contains(r),
                        "{context}: {verb} is allowed but was refused by the gate: {r:?}"
                    );
                }
            }
        }
        other => panic!("{context}: {verb}: gate {gate:?} inconsistent: {other:?}"),
    }
}

#[test]
fn every_verb_in_every_state_gets_the_gate_of_the_table() {
    assert_eq!(
        Verb::ALL.len(),
        VERBS,
        "Verb::ALL changed: review the table"
    );
    let mut covered = 0;
    let mut seen: HashMap<Gate, usize> = HashMap::new();
    for state in State::ALL {
        for &verb in Verb::ALL {
            let gate = rule(verb).gate(state.phase(), state.tls_missing());
            let mut h = state.enter();
            h.send(sample_line(verb));
            check_reaction(&mut h, verb, gate, &format!("{state:?}"));
            covered += 1;
            *seen.entry(gate).or_default() += 1;
        }
    }
    assert_eq!(covered, VERBS * State::ALL.len());
    assert_eq!(covered, 256);
    // The matrix exercises every kind of decision, so the loop above checks refusals and
    // allowances alike.
    for gate in [
        Gate::Allow,
        Gate::NotLoggedIn,
        Gate::BadSequence,
        Gate::TlsRequired,
    ] {
        assert!(
            seen.get(&gate).copied().unwrap_or(0) > 0,
            "{gate:?} never seen"
        );
    }
}

#[test]
fn sample_lines_name_their_own_verb() {
    for &verb in Verb::ALL {
        let line = sample_line(verb);
        let parsed = ftp_proto::Command::parse(line.as_bytes())
            .unwrap_or_else(|e| panic!("{line:?} does not parse: {e:?}"));
        assert_eq!(parsed.verb(), Some(verb), "{line:?}");
    }
}

#[test]
fn logged_in_commands_are_refused_before_login_with_530() {
    let mut h = Harness::new(Config::default());
    h.send("RETR a.txt");
    let r = h.reply();
    assert_eq!(r.code().get(), 530);
    assert_eq!(r.text(), "Please login with USER and PASS");
    h.assert_quiet();
    assert_eq!(h.cmd("PASS secret"), 503);
    assert_eq!(h.cmd("USER alice"), 331);
    assert_eq!(h.cmd("DELE a.txt"), 530);
}

// ---- during a transfer -------------------------------------------------------------------

/// Logged in, EPSV connected, `RETR a.txt` approved: 125 and the transfer runs on the channel.
fn transfer_running() -> (Harness, DataId) {
    let mut h = Harness::logged_in();
    let id = h.epsv();
    h.input(DataInput::Connected { id });
    h.assert_quiet();
    let (t, r) = h.ask("RETR a.txt");
    assert!(matches!(r, Request::Retrieve { .. }), "{r:?}");
    h.respond(t, Response::Ok);
    assert_eq!(h.reply_code(), 125);
    assert!(
        matches!(h.data(), DataAction::Transfer { id: i, ticket, .. } if i == id && ticket == t)
    );
    h.assert_quiet();
    (h, id)
}

fn finish(h: &mut Harness, id: DataId) {
    h.input(DataInput::Finished { id, result: Ok(10) });
}

#[test]
fn every_verb_during_a_transfer_waits_or_acts_as_the_table_says() {
    let mut immediate = 0;
    let mut queued = 0;
    for &verb in Verb::ALL {
        let (mut h, id) = transfer_running();
        h.send(sample_line(verb));
        match rule(verb).during_transfer {
            DuringTransfer::Immediate => {
                immediate += 1;
                match verb {
                    Verb::Abor => {
                        assert_eq!(h.data(), DataAction::Close { id });
                        assert_eq!(h.reply_code(), 426);
                        assert_eq!(h.reply_code(), 226);
                        h.assert_quiet();
                        // The aborted channel's late report starts nothing.
                        finish(&mut h, id);
                        h.assert_quiet();
                    }
                    Verb::Stat => {
                        assert_eq!(sample_line(verb), "STAT", "STAT without argument");
                        let r = h.reply();
                        assert_eq!(r.code().get(), 213, "{r:?}");
                        h.assert_quiet();
                        // The transfer is still running.
                        finish(&mut h, id);
                        assert_eq!(h.reply_code(), 226);
                        h.assert_quiet();
                    }
                    other => panic!("{other} is immediate during a transfer: add its dialogue"),
                }
            }
            DuringTransfer::Queue => {
                queued += 1;
                assert!(
                    h.events.is_empty(),
                    "{verb} during a transfer must wait, got {:?}",
                    h.events
                );
                finish(&mut h, id);
                let r = h.reply();
                assert_eq!(
                    r.code().get(),
                    226,
                    "{verb}: transfer's reply first, got {r:?}"
                );
                let gate = rule(verb).gate(Phase::LoggedIn, false);
                check_reaction(&mut h, verb, gate, "after the transfer");
            }
        }
    }
    assert_eq!(immediate, 2, "ABOR and STAT");
    assert_eq!(immediate + queued, VERBS);
}

#[test]
fn stat_with_a_path_during_a_transfer_waits() {
    let (mut h, id) = transfer_running();
    h.send("STAT a.txt");
    h.assert_quiet();
    finish(&mut h, id);
    assert_eq!(h.reply_code(), 226);
    let (_, r) = h.request();
    assert!(
        matches!(r, Request::List { ref path, .. } if path.as_bytes() == b"/a.txt"),
        "{r:?}"
    );
    h.assert_quiet();
}

#[test]
fn quit_during_a_transfer_answers_221_after_the_226() {
    let (mut h, id) = transfer_running();
    h.send("QUIT");
    h.assert_quiet();
    assert!(!h.closed);
    finish(&mut h, id);
    assert_eq!(h.reply_code(), 226);
    assert_eq!(h.reply_code(), 221);
    assert_eq!(h.next(), Event::Close);
    h.assert_quiet();
}

#[test]
fn commands_queued_during_a_transfer_run_in_order_after_it() {
    let (mut h, id) = transfer_running();
    h.send_raw(b"NOOP\r\nSYST\r\nPWD\r\n");
    h.assert_quiet();
    finish(&mut h, id);
    assert_eq!(h.reply_code(), 226);
    assert_eq!(h.reply_code(), 200);
    assert_eq!(h.reply_code(), 215);
    assert_eq!(h.reply_code(), 257);
    h.assert_quiet();
}
