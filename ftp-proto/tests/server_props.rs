//! Property tests for the server session: random driver step sequences through the same model
//! the `server_session` fuzz target checks (`ftp_proto::fuzzing::server_session`).
//!
//! The input format is the fuzz target's: two configuration bytes, then steps, each a kind byte
//! and arguments of a length its bytes give. Kinds 0..=4 send realistic command lines (count,
//! then line index and flags per line), 5 raw bytes (length, bytes), 6..=8 answer the pending
//! request (choice, ticket choice, length and answer bytes), 9 answers with a wrong ticket,
//! 10..=11 report a data fact (six bytes), 12..=13 let time pass (one byte), 14 completes a TLS
//! handshake, 15 shuts down (second byte below 8).

// Test code reads the clock as a driver does; the crate's sans-IO lints guard the library.
#![allow(clippy::disallowed_methods)]

use std::time::Instant;

use proptest::prelude::*;

/// One step of the target's input format.
#[derive(Debug, Clone)]
enum Step {
    /// Raw control bytes (at most 239).
    Control(Vec<u8>),
    /// Answer the pending request (0..=3: the fitting success, 4: an error, 7: login rejected,
    /// others any variant), with the bytes the answer is built from.
    Respond(u8, Vec<u8>),
    /// A data fact: channel choice (0: the newest live channel, 7: a bogus id), which of the
    /// facts its lifecycle allows (0: Listening, Connected or Progress; 1: Failed or Finished;
    /// 2: Failed after the transfer started), argument (listener address, error, result), byte
    /// count.
    Data(u8, u8, u8, u16),
    /// Time passes (0..=249: up to 400 s; 250..=252: to the next deadline; 253..: just before).
    Timeout(u8),
    TlsEstablished,
}

impl Step {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Step::Control(bytes) => {
                let bytes = &bytes[..bytes.len().min(239)];
                out.extend([5, bytes.len() as u8]);
                out.extend(bytes);
            }
            Step::Respond(choice, args) => {
                out.extend([6, *choice, 0, args.len() as u8]);
                out.extend(args);
            }
            Step::Data(id, fact, arg, n) => {
                let [lo, hi] = n.to_le_bytes();
                out.extend([10, *id, *fact, *arg, lo, hi, *arg]);
            }
            Step::Timeout(t) => out.extend([12, *t]),
            Step::TlsEstablished => out.push(14),
        }
    }
}

/// Command lines a client sends, valid and not, for every kind of command.
const LINES: &[&str] = &[
    "NOOP",
    "PWD",
    "SYST",
    "FEAT",
    "HELP",
    "STAT",
    "STAT /",
    "TYPE A",
    "TYPE I",
    "REST 100",
    "CWD pub",
    "CDUP",
    "MKD new",
    "DELE a.txt",
    "RNFR a.txt",
    "RNTO b.txt",
    "SIZE a.txt",
    "MDTM a.txt",
    "MFMT 20240101120000 a.txt",
    "MLST a.txt",
    "HASH a.txt",
    "XCRC a.txt",
    "AVBL",
    "SITE CHMOD 644 a.txt",
    "HOST ftp.example.com",
    "OPTS MLST type;size;",
    "PBSZ 0",
    "PROT P",
    "CCC",
    "REIN",
    "ABOR",
    "EPSV ALL",
    "USER alice",
    "PASS secret",
    "FROB",
    "",
    "REST -1",
];

/// Commands that move data once a channel is prepared.
const TRANSFERS: &[&str] = &[
    "RETR a.txt",
    "STOR b.txt",
    "APPE c.txt",
    "STOU",
    "LIST -la",
    "NLST",
    "MLSD",
];

/// Commands that prepare a data channel (valid for an IPv4 or an IPv6 connection).
const CHANNELS: &[&str] = &[
    "EPSV",
    "PASV",
    "EPSV 2",
    "PORT 192,0,2,10,195,80",
    "EPRT |2|::1|50000|",
];

fn pick(list: &'static [&'static str]) -> impl Strategy<Value = &'static str> {
    prop::sample::select(list)
}

fn control(lines: &[&str]) -> Step {
    Step::Control(
        lines
            .iter()
            .flat_map(|l| [l.as_bytes(), b"\r\n"].concat())
            .collect(),
    )
}

fn answer() -> impl Strategy<Value = Step> {
    let choice = prop_oneof![6 => 0u8..4, 1 => Just(4u8), 1 => Just(7u8), 1 => 0u8..16];
    (choice, prop::collection::vec(any::<u8>(), 0..24)).prop_map(|(c, a)| Step::Respond(c, a))
}

/// A short dialogue fragment: login, a data channel, a transfer with what may happen during it,
/// pipelined commands, odd facts and answers, time, TLS.
fn block() -> impl Strategy<Value = Vec<Step>> {
    prop_oneof![
        3 => answer().prop_map(|a| vec![control(&["USER alice", "PASS secret"]), a]),
        3 => (pick(CHANNELS), any::<u8>())
            .prop_map(|(c, addr)| vec![control(&[c]), Step::Data(0, 0, addr, 0)]),
        4 => (
            pick(TRANSFERS),
            answer(),
            any::<bool>(),
            prop::option::of(pick(&["STAT", "ABOR", "NOOP", "QUIT"])),
            prop::option::weighted(0.8, (0u8..3, any::<u8>(), any::<u16>())),
        )
            .prop_map(|(t, a, connect, during, end)| {
                let mut steps = vec![control(&[t]), a];
                if connect {
                    steps.push(Step::Data(0, 0, 0, 0));
                }
                if let Some(line) = during {
                    steps.push(control(&[line]));
                }
                if let Some((fact, arg, n)) = end {
                    steps.push(Step::Data(0, fact, arg, n));
                }
                steps
            }),
        4 => prop::collection::vec(pick(LINES), 1..4).prop_map(|ls| vec![control(&ls)]),
        2 => answer().prop_map(|a| vec![a]),
        2 => (0u8..8, any::<u8>(), any::<u8>(), any::<u16>())
            .prop_map(|(i, f, a, n)| vec![Step::Data(i, f, a, n)]),
        1 => prop::collection::vec(any::<u8>(), 0..64).prop_map(|b| vec![Step::Control(b)]),
        2 => any::<u8>().prop_map(|t| vec![Step::Timeout(t)]),
        1 => Just(vec![control(&["AUTH TLS", "NOOP"]), Step::TlsEstablished]),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Arbitrary bytes: mostly raw control input, odd answers and facts.
    #[test]
    fn random_bytes_keep_the_session_in_order(data in prop::collection::vec(any::<u8>(), 0..2048)) {
        ftp_proto::fuzzing::server_session(&data, Instant::now());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// Dialogue fragments in any order under any configuration: reaches logins, transfers,
    /// ABOR and STAT during them, AUTH, timeouts and the limits.
    #[test]
    fn dialogues_keep_the_session_in_order(
        config in any::<(u8, u8)>(),
        blocks in prop::collection::vec(block(), 0..40),
    ) {
        let mut data = vec![config.0, config.1];
        for step in blocks.iter().flatten() {
            step.encode(&mut data);
        }
        ftp_proto::fuzzing::server_session(&data, Instant::now());
    }
}
