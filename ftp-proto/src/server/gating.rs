//! The gating table: which verb is allowed in which session state.
//!
//! Owns every "may this command run now?" rule that depends only on the login phase, TLS and
//! whether a transfer is running, as data ([`rule`]), so it can be read in one place and tested
//! exhaustively. Sequencing that depends on the previous command (RNFR before RNTO, PBSZ before
//! PROT, REST before a transfer) lives with those commands in the session.

use crate::command::Verb;
use crate::reply::ReplyCode;

/// The login phase of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    /// Before USER (just after the greeting or REIN).
    BeforeUser,
    /// USER given, PASS not yet accepted.
    AfterUser,
    /// Logged in.
    LoggedIn,
}

impl Phase {
    /// Every phase, for exhaustive tests.
    pub const ALL: [Phase; 3] = [Phase::BeforeUser, Phase::AfterUser, Phase::LoggedIn];
}

/// The gate's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Gate {
    /// The command runs (it may still fail on its own terms).
    Allow,
    /// 530: log in first.
    NotLoggedIn,
    /// 503: not in this order.
    BadSequence,
    /// 530: the TLS policy requires AUTH TLS before this command.
    TlsRequired,
}

impl Gate {
    /// The refusal's reply code and text, `None` for [`Gate::Allow`].
    pub fn refusal(self) -> Option<(ReplyCode, &'static str)> {
        match self {
            Gate::Allow => None,
            Gate::NotLoggedIn => {
                Some((ReplyCode::NOT_LOGGED_IN, "Please login with USER and PASS"))
            }
            Gate::BadSequence => Some((ReplyCode::BAD_SEQUENCE, "Bad sequence of commands")),
            Gate::TlsRequired => Some((
                ReplyCode::NOT_LOGGED_IN,
                "Policy requires TLS: use AUTH TLS first",
            )),
        }
    }
}

/// What happens to a command that arrives while a transfer runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DuringTransfer {
    /// Handled at once (ABOR, and STAT without argument: RFC 959 section 4.1.3).
    Immediate,
    /// Queued and run, in order, after the transfer's final reply (so QUIT answers 221 after
    /// the transfer ends).
    Queue,
}

/// One row of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rule {
    /// The verb.
    pub verb: Verb,
    /// Before USER.
    pub before_user: Gate,
    /// After USER, before a successful PASS.
    pub after_user: Gate,
    /// Logged in.
    pub logged_in: Gate,
    /// While a transfer runs.
    pub during_transfer: DuringTransfer,
    /// Refused with [`Gate::TlsRequired`] when the policy requires TLS for login and the
    /// control connection is not yet protected.
    pub needs_tls_when_required: bool,
}

impl Rule {
    /// The decision for a phase, given whether TLS is required and not yet in force.
    pub fn gate(&self, phase: Phase, tls_missing: bool) -> Gate {
        if tls_missing && self.needs_tls_when_required {
            return Gate::TlsRequired;
        }
        match phase {
            Phase::BeforeUser => self.before_user,
            Phase::AfterUser => self.after_user,
            Phase::LoggedIn => self.logged_in,
        }
    }
}

const fn row(verb: Verb, before_user: Gate, after_user: Gate, logged_in: Gate) -> Rule {
    Rule {
        verb,
        before_user,
        after_user,
        logged_in,
        during_transfer: DuringTransfer::Queue,
        needs_tls_when_required: false,
    }
}

/// Allowed in every phase: connection management, negotiation and security setup.
const fn open(verb: Verb) -> Rule {
    row(verb, Gate::Allow, Gate::Allow, Gate::Allow)
}

/// Needs a logged-in user.
const fn login(verb: Verb) -> Rule {
    row(verb, Gate::NotLoggedIn, Gate::NotLoggedIn, Gate::Allow)
}

/// The rule for `verb`.
///
/// ```
/// use ftp_proto::Verb;
/// use ftp_proto::server::gating::{rule, Gate, Phase};
/// assert_eq!(rule(Verb::Retr).gate(Phase::BeforeUser, false), Gate::NotLoggedIn);
/// assert_eq!(rule(Verb::Pass).gate(Phase::BeforeUser, false), Gate::BadSequence);
/// assert_eq!(rule(Verb::User).gate(Phase::BeforeUser, true), Gate::TlsRequired);
/// assert_eq!(rule(Verb::Feat).gate(Phase::BeforeUser, true), Gate::Allow);
/// ```
pub fn rule(verb: Verb) -> Rule {
    use Gate::{Allow, BadSequence};
    match verb {
        Verb::User => Rule {
            needs_tls_when_required: true,
            ..row(verb, Allow, Allow, BadSequence)
        },
        Verb::Pass => Rule {
            needs_tls_when_required: true,
            ..row(verb, BadSequence, Allow, BadSequence)
        },
        Verb::Acct => Rule {
            needs_tls_when_required: true,
            ..row(verb, BadSequence, BadSequence, Allow)
        },
        // RFC 7151: HOST comes before USER, so later it is 503, but only from a server that
        // implements it (3.1: one that does not answers 502 in every phase); the session
        // knows which, the gate does not.
        Verb::Host => open(verb),
        Verb::Abor => Rule {
            during_transfer: DuringTransfer::Immediate,
            ..login(verb)
        },
        Verb::Stat => Rule {
            during_transfer: DuringTransfer::Immediate,
            ..login(verb)
        },
        Verb::Quit
        | Verb::Rein
        | Verb::Noop
        | Verb::Feat
        | Verb::Syst
        | Verb::Help
        | Verb::Opts
        | Verb::Lang
        | Verb::Clnt
        | Verb::Auth
        | Verb::Adat
        | Verb::Pbsz
        | Verb::Prot
        | Verb::Ccc
        | Verb::Mic
        | Verb::Conf
        | Verb::Enc => open(verb),
        _ => login(verb),
    }
}

/// The whole table, one row per known verb.
pub fn table() -> impl Iterator<Item = Rule> {
    Verb::ALL.iter().map(|&v| rule(v))
}
