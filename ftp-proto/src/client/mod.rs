//! The client role: a sans-IO session that sends commands, matches replies and runs transfers.
//!
//! [`Session`] is driven exactly like the server session: tell it facts, drain its output.
//!
//! ```text
//! let mut s = client::Session::new(config, peer, now);     // awaits the 220 greeting
//! let h = s.send(now, Command::User("alice".into()))?;     // queued; bytes come out as Transmit
//! let t = s.transfer(now, Command::Retr("f".into()), None)?; // EPSV/PASV, REST, RETR, copy
//! s.handle_control(now, &bytes);                            // replies, in any split
//! s.handle_data(now, DataInput::Connected { id });          // data-channel facts
//! s.handle_eof(now);                                        // the server closed the connection
//! s.handle_timeout(now);                                    // early calls are harmless
//! while let Some(out) = s.poll_output() { /* Transmit | Data(DataAction) | Event | UpgradeTls */ }
//! let next_wake = s.poll_timeout();
//! ```
//!
//! Rules the session keeps:
//! - Every handle gets exactly one final event: [`Event::Reply`], [`Event::Transfer`] or
//!   [`Event::Failed`]; each 1yz reply before it comes as [`Event::Preliminary`].
//! - Commands are pipelined unless one in flight is a barrier (login, AUTH, RNFR, REIN, QUIT,
//!   CCC, unknown verbs, transfers).
//! - Passive mode tries EPSV first and falls back to PASV (remembered for the session) when the
//!   server answers 500, 501 or 502. The address in a 227 reply is ignored by default: the
//!   session connects to the control connection's peer ([`PasvAddressPolicy`]).
//! - A transfer ends when both the final reply and the end of the data stream have arrived,
//!   in either order, with or without a 150/125 first. A 2yz reply with no data connection
//!   opened (nothing to send) ends it at once.
//! - Malformed or oversized replies, a 421, the end of the control stream and an overdue reply
//!   end the session with a [`SessionError`]; nothing a server sends panics or grows memory
//!   beyond [`Config::max_reply`].
//! - A reply is overdue [`Config::reply_timeout`] after the command (or the last final reply,
//!   data-channel fact or TLS handshake): 1yz replies and fragments of a reply do not extend
//!   it, so a server sending `120 wait` forever cannot hold a command (see
//!   [`Session::poll_timeout`]).
//!
//! A whole retrieval, with the driver's work written out by hand (`now` is the driver's clock
//! reading; `tests/client_pair.rs::documented_retrieval` runs the same steps):
//!
//! ```
//! use std::time::Instant;
//! use ftp_proto::Command;
//! use ftp_proto::client::{Config, DataAction, DataInput, Event, Output, Session};
//!
//! fn retrieve(now: Instant) {
//! let mut s = Session::new(Config::default(), "192.0.2.7:21".parse().unwrap(), now);
//! let mut drain = |s: &mut Session| std::iter::from_fn(|| s.poll_output()).collect::<Vec<_>>();
//! s.handle_control(now, b"220 Welcome\r\n");
//! let t = s.transfer(now, Command::Retr("a.txt".into()), None).unwrap();
//! assert!(matches!(&drain(&mut s)[..], [Output::Event(Event::Reply { .. }), Output::Transmit(b)] if b == b"EPSV\r\n"));
//!
//! // The port comes from the reply; the address is always the control peer's.
//! s.handle_control(now, b"229 Entering Extended Passive Mode (|||40001|)\r\n");
//! let Some(Output::Data(DataAction::Connect { id, to })) = s.poll_output() else { panic!() };
//! assert_eq!(to.to_string(), "192.0.2.7:40001");
//!
//! s.handle_data(now, DataInput::Connected { id });
//! let out = drain(&mut s);
//! assert!(out.contains(&Output::Transmit(b"RETR a.txt\r\n".to_vec())));
//! assert!(out.iter().any(|o| matches!(o, Output::Data(DataAction::Transfer { .. }))));
//!
//! // The 226 may come before the end of the data: the transfer waits for both.
//! s.handle_control(now, b"150 Opening (5 bytes)\r\n226 Done\r\n");
//! s.handle_data(now, DataInput::Finished { id, bytes: 5, result: Ok(()) });
//! let done = drain(&mut s).into_iter().find_map(|o| match o {
//!     Output::Event(Event::Transfer { handle, result }) if handle == t => result.ok(),
//!     _ => None,
//! });
//! assert_eq!(done.map(|d| (d.bytes, d.size_hint)), Some((5, Some(5))));
//! }
//! ```

pub mod parse;
mod session;
mod types;

pub use session::{Session, size_hint};
pub use types::{
    CommandHandle, Config, CopyError, DataAction, DataError, DataId, DataInput, Direction, Event,
    Family, Output, PasvAddressPolicy, SessionError, TransferDone, TransferError, UsageError,
};
