//! The client session state machine: command queue and pipelining, reply matching, data-channel
//! negotiation and the transfer lifecycle.

use std::collections::VecDeque;
use std::net::{SocketAddr, SocketAddrV4};
use std::time::Instant;

use crate::addr::{parse_epsv_reply, parse_pasv_reply};
use crate::{
    Command, EpsvMode, ProtectionLevel, Reply, ReplyCode, ReplyError, ReplyParser, TransferType,
};

use super::types::{
    CommandHandle, Config, CopyError, DataAction, DataError, DataId, DataInput, Direction, Event,
    Family, Output, PasvAddressPolicy, SessionError, TransferDone, TransferError, UsageError,
};

/// What a successful reply to a caller's command changes in the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Effect {
    None,
    Ascii(bool),
    Protected(bool),
    Auth,
    Quit,
    Rein,
}

/// One step of data-channel negotiation or the transfer command itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Epsv,
    Pasv,
    Eprt,
    Port,
    Rest,
    Command,
    Abort,
    /// A NOOP after an aborted transfer's 2yz: some servers (pure-ftpd) answer ABOR and the
    /// transfer with one reply, so the NOOP's 200 tells whether ABOR's own reply is coming.
    Sync,
}

/// Whose reply an in-flight command is waiting for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Greeting,
    Caller(Effect),
    Step(Step),
}

#[derive(Debug)]
struct Pending {
    handle: CommandHandle,
    role: Role,
    /// Later commands wait for this one's final reply before they are sent.
    barrier: bool,
}

#[derive(Debug)]
struct TransferSpec {
    command_bytes: Vec<u8>,
    direction: Direction,
    rest: Option<u64>,
    /// The data connection is not ours (FXP).
    external: bool,
}

#[derive(Debug)]
enum QueuedKind {
    Command {
        bytes: Vec<u8>,
        effect: Effect,
        barrier: bool,
    },
    Transfer(TransferSpec),
}

#[derive(Debug)]
struct Queued {
    handle: CommandHandle,
    kind: QueuedKind,
}

/// Where a transfer's data channel is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DataState {
    /// Nothing asked of the driver yet (EPSV/PASV in flight).
    None,
    /// Connect or Listen asked; no answer yet.
    Opening,
    /// The active listener is bound at this address.
    Listening(SocketAddr),
    /// Connected (passive) or accepted (active).
    Connected,
    /// The driver reported the end of the copy.
    Finished {
        bytes: u64,
        result: Result<(), CopyError>,
    },
    /// The channel could not be opened.
    Failed(DataError),
    /// The session closed it.
    Closed,
}

impl DataState {
    fn settled(self) -> bool {
        matches!(
            self,
            Self::None | Self::Finished { .. } | Self::Failed(_) | Self::Closed
        )
    }

    fn bytes(self) -> u64 {
        match self {
            Self::Finished { bytes, .. } => bytes,
            _ => 0,
        }
    }
}

#[derive(Debug)]
struct Transfer {
    handle: CommandHandle,
    spec: TransferSpec,
    id: DataId,
    data: DataState,
    /// REST has been sent.
    rest_sent: bool,
    /// The transfer command itself has been sent.
    command_sent: bool,
    /// `DataAction::Transfer` has been emitted.
    started: bool,
    preliminary: bool,
    size_hint: Option<u64>,
    final_reply: Option<Reply>,
    /// Replies still owed to this transfer's steps (including ABOR).
    owed: usize,
    /// The outcome, once something has gone wrong.
    failure: Option<TransferError>,
    aborted: bool,
    abort_sent: bool,
}

/// A client-role FTP session: the sans-IO state machine behind an FTP client.
///
/// It queues commands, matches the server's replies to them, negotiates data connections
/// (EPSV first, PASV when the server refuses it, EPRT/PORT for active mode) and runs each
/// transfer to a typed result. It does no I/O and reads no clock: the driver feeds it control
/// bytes, data-channel facts and the time, and drains [`Output`]s, following the contract in
/// the [module documentation](super).
///
/// Commands are pipelined where that is safe: a command whose outcome decides what the next
/// one means (USER, PASS, ACCT, AUTH, RNFR, REIN, QUIT, a transfer, an unknown verb) is a
/// barrier, and nothing is sent after it until its final reply has arrived.
#[derive(Debug)]
pub struct Session {
    config: Config,
    peer: SocketAddr,
    parser: ReplyParser,
    next_handle: u64,
    next_data: u64,
    in_flight: VecDeque<Pending>,
    queued: VecDeque<Queued>,
    out: VecDeque<Output>,
    tx: Vec<u8>,
    transfer: Option<Transfer>,
    /// When the reply deadline started: the last command sent, final (non-1yz) reply
    /// received, data-channel fact or TLS handshake. 1yz replies and fragments of a reply do
    /// not move it (see [`Session::poll_timeout`]).
    last_activity: Instant,
    /// A 1yz reply arrived since `last_activity`: a timeout then says so.
    preliminary_since: bool,
    /// The reply parser holds part of a reply (a line without its end, or an open multi-line
    /// reply): a timeout then says so.
    partial: bool,
    epsv_refused: bool,
    eprt_refused: bool,
    ascii: bool,
    protected: bool,
    tls_pending: bool,
    closed: bool,
}

/// Commands that carry data: only [`Session::transfer`] sends them.
fn transfer_direction(command: &Command) -> Option<Direction> {
    match command {
        Command::Retr(_) | Command::List(_) | Command::Nlst(_) | Command::Mlsd(_) => {
            Some(Direction::Receive)
        }
        Command::Stor(_) | Command::Stou(_) | Command::Appe(_) => Some(Direction::Send),
        _ => None,
    }
}

/// Commands whose outcome decides what the next command means: nothing is pipelined after them.
fn is_barrier(command: &Command) -> bool {
    matches!(
        command,
        Command::User(_)
            | Command::Pass(_)
            | Command::Acct(_)
            | Command::Auth(_)
            | Command::Adat(_)
            | Command::Rnfr(_)
            | Command::Rein
            | Command::Quit
            | Command::Ccc
            | Command::Rest(_)
            | Command::Pasv
            | Command::Epsv(_)
            | Command::Port(_)
            | Command::Eprt(_)
            | Command::Other { .. }
    )
}

fn effect_of(command: &Command) -> Effect {
    match command {
        Command::Type(TransferType::Ascii(_)) => Effect::Ascii(true),
        Command::Type(_) => Effect::Ascii(false),
        Command::Prot(ProtectionLevel::Private) => Effect::Protected(true),
        Command::Prot(_) => Effect::Protected(false),
        Command::Auth(_) => Effect::Auth,
        Command::Quit => Effect::Quit,
        Command::Rein => Effect::Rein,
        _ => Effect::None,
    }
}

/// The size a preliminary reply announces: `150 Opening BINARY mode data connection for f
/// (1234 bytes).`
///
/// ```
/// use ftp_proto::{Reply, ReplyCode};
/// use ftp_proto::client::size_hint;
/// let r = Reply::new(ReplyCode::FILE_STATUS_OKAY, "Opening BINARY mode data connection for a.bin (1048576 bytes).");
/// assert_eq!(size_hint(&r), Some(1_048_576));
/// assert_eq!(size_hint(&Reply::new(ReplyCode::FILE_STATUS_OKAY, "Here it comes")), None);
/// ```
pub fn size_hint(reply: &Reply) -> Option<u64> {
    let text = reply.first_line();
    let end = find(text, b" bytes)")?;
    let head = text.get(..end)?;
    let start = head.iter().rposition(|&b| b == b'(')? + 1;
    let digits = head.get(start..)?;
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    core::str::from_utf8(digits).ok()?.parse().ok()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).rposition(|w| w == needle)
}

/// A server's "I do not know this command" replies, after which EPSV/EPRT fall back.
fn is_unsupported(code: ReplyCode) -> bool {
    matches!(code.get(), 500..=502)
}

impl Session {
    /// A session on a fresh control connection to `peer`, awaiting the server's greeting
    /// (reported as the reply to [`CommandHandle::GREETING`]).
    pub fn new(config: Config, peer: SocketAddr, now: Instant) -> Self {
        let parser = ReplyParser::with_max_size(config.max_reply).lenient(config.lenient_multiline);
        let mut in_flight = VecDeque::new();
        in_flight.push_back(Pending {
            handle: CommandHandle::GREETING,
            role: Role::Greeting,
            barrier: true,
        });
        Self {
            config,
            peer,
            parser,
            next_handle: 1,
            next_data: 1,
            in_flight,
            queued: VecDeque::new(),
            out: VecDeque::new(),
            tx: Vec::new(),
            transfer: None,
            last_activity: now,
            preliminary_since: false,
            partial: false,
            epsv_refused: false,
            eprt_refused: false,
            ascii: false,
            protected: false,
            tls_pending: false,
            closed: false,
        }
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The control connection's peer.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// True once the session has ended ([`Event::Closed`] was queued).
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// True when no command is queued, in flight or transferring: the next command will be sent
    /// at once.
    pub fn is_idle(&self) -> bool {
        self.in_flight.is_empty() && self.queued.is_empty() && self.transfer.is_none()
    }

    /// True while a transfer is running (from its first step to its [`Event::Transfer`]).
    pub fn in_transfer(&self) -> bool {
        self.transfer.is_some()
    }

    /// TYPE A is in force (a `TYPE A` was answered 2yz).
    pub fn is_ascii(&self) -> bool {
        self.ascii
    }

    /// `PROT P` is in force (a `PROT P` was answered 2yz and no later PROT, REIN undid it):
    /// data connections need their TLS handshake. A transfer's copy order says so too, but an
    /// upload's comes only with its 150, and some servers send that only after the handshake.
    pub fn is_protected(&self) -> bool {
        self.protected
    }

    /// Switches between passive and active mode for the next transfers.
    pub fn set_passive(&mut self, passive: bool) {
        self.config.passive = passive;
    }

    /// Queues `command` and returns its handle; the final reply comes back as
    /// [`Event::Reply`] with that handle (or [`Event::Failed`] if the session ends first).
    ///
    /// Transfer commands (RETR, STOR, APPE, STOU, LIST, NLST, MLSD) go through
    /// [`Session::transfer`] (or [`Session::transfer_external`]) and ABOR through
    /// [`Session::abort`]. PASV, EPSV, PORT, EPRT and REST may be sent here for
    /// server-to-server transfers; [`Session::transfer`] issues its own.
    pub fn send(&mut self, now: Instant, command: Command) -> Result<CommandHandle, UsageError> {
        if self.closed {
            return Err(UsageError::Closed);
        }
        if transfer_direction(&command).is_some() {
            return Err(UsageError::WrongMethod(
                "a transfer command",
                "Session::transfer",
            ));
        }
        if command == Command::Abor {
            return Err(UsageError::WrongMethod("ABOR", "Session::abort"));
        }
        let bytes = command.to_bytes()?;
        let handle = self.new_handle();
        self.queued.push_back(Queued {
            handle,
            kind: QueuedKind::Command {
                bytes,
                effect: effect_of(&command),
                barrier: is_barrier(&command),
            },
        });
        self.pump(now);
        Ok(handle)
    }

    /// Queues a transfer: `command` is RETR, STOR, APPE, STOU, LIST, NLST or MLSD, and `rest`
    /// an offset to restart from (sent as REST before the command when not zero).
    ///
    /// The session opens the data channel (EPSV or PASV and [`DataAction::Connect`] in passive
    /// mode, [`DataAction::Listen`] and EPRT or PORT in active mode), sends REST and the
    /// command, asks the driver to copy ([`DataAction::Transfer`]) and reports
    /// [`Event::Transfer`] once both the server's final reply and the end of the data stream
    /// have arrived, in whichever order they come.
    pub fn transfer(
        &mut self,
        now: Instant,
        command: Command,
        rest: Option<u64>,
    ) -> Result<CommandHandle, UsageError> {
        self.queue_transfer(now, command, rest.filter(|&n| n > 0), false)
    }

    /// Queues a transfer whose data connection runs between the server and a third party
    /// (FXP: this server was given PORT or PASV for another server with [`Session::send`]).
    /// The session opens no data channel and sends no REST; the transfer ends with the final
    /// reply, reported as [`Event::Transfer`] with 0 bytes.
    pub fn transfer_external(
        &mut self,
        now: Instant,
        command: Command,
    ) -> Result<CommandHandle, UsageError> {
        self.queue_transfer(now, command, None, true)
    }

    /// Queues a transfer for [`Session::transfer`] and [`Session::transfer_external`].
    fn queue_transfer(
        &mut self,
        now: Instant,
        command: Command,
        rest: Option<u64>,
        external: bool,
    ) -> Result<CommandHandle, UsageError> {
        if self.closed {
            return Err(UsageError::Closed);
        }
        let Some(direction) = transfer_direction(&command) else {
            return Err(UsageError::WrongMethod(
                "a command without data",
                "Session::send",
            ));
        };
        let command_bytes = command.to_bytes()?;
        let handle = self.new_handle();
        self.queued.push_back(Queued {
            handle,
            kind: QueuedKind::Transfer(TransferSpec {
                command_bytes,
                direction,
                rest,
                external,
            }),
        });
        self.pump(now);
        Ok(handle)
    }

    /// True when the running transfer's final reply has arrived (its data may still be
    /// draining).
    pub fn transfer_replied(&self) -> bool {
        self.transfer
            .as_ref()
            .is_some_and(|t| t.final_reply.is_some())
    }

    /// Aborts the running transfer: sends ABOR if the transfer command is out, closes the data
    /// channel, and reports the transfer as [`TransferError::Aborted`] once the server has
    /// answered (426 then 226, or 225/226 alone).
    pub fn abort(&mut self, now: Instant) -> Result<(), UsageError> {
        if self.closed {
            return Err(UsageError::Closed);
        }
        let Some(mut t) = self.transfer.take() else {
            return Err(UsageError::NoTransfer);
        };
        if !t.aborted {
            t.aborted = true;
            if t.command_sent && t.final_reply.is_none() {
                // ABOR jumps the queue: the transfer command is still waiting for its reply.
                self.tx.extend_from_slice(b"ABOR\r\n");
                self.in_flight.push_back(Pending {
                    handle: t.handle,
                    role: Role::Step(Step::Abort),
                    barrier: true,
                });
                t.owed += 1;
                t.abort_sent = true;
                self.touch(now);
            }
            self.close_data(&mut t);
        }
        self.transfer = Some(t);
        self.try_finish(now);
        self.flush();
        Ok(())
    }

    /// Feeds bytes read from the control connection, in any split.
    ///
    /// Only a final (2yz-5yz) reply restarts the reply deadline: when `now` is past it and
    /// the bytes brought no final reply (only 1yz replies, or part of a reply), the session
    /// ends with the timeout, as [`Session::handle_timeout`] would, so a server flooding 1yz
    /// replies cannot keep a driver that reads before it looks at the clock waiting forever.
    pub fn handle_control(&mut self, now: Instant, bytes: &[u8]) {
        let mut rest = bytes;
        while !rest.is_empty() && !self.closed {
            let step = self.parser.push(rest);
            rest = rest.get(step.consumed..).unwrap_or_default();
            if step.consumed == 0 && step.item.is_none() {
                break;
            }
            self.partial = step.item.is_none() || self.parser.in_reply();
            match step.item {
                None => {}
                Some(Ok(reply)) => {
                    if reply.code().is_preliminary() {
                        self.preliminary_since = true;
                    } else {
                        self.touch(now);
                    }
                    let upgrade = self.on_reply(now, reply);
                    if upgrade {
                        // Whatever followed the 234 in plaintext is not trusted: drop it.
                        self.parser = ReplyParser::with_max_size(self.config.max_reply)
                            .lenient(self.config.lenient_multiline);
                        break;
                    }
                }
                Some(Err(ReplyError::TooLarge { limit })) => {
                    self.close(SessionError::ReplyTooLarge { limit });
                }
                Some(Err(_)) => self.close(SessionError::MalformedReply),
            }
        }
        self.check_deadline(now);
        self.flush();
    }

    /// The server closed the control connection (end of stream).
    pub fn handle_eof(&mut self, _now: Instant) {
        if !self.closed {
            self.close(SessionError::ConnectionClosed);
        }
        self.flush();
    }

    /// The TLS handshake that [`Output::UpgradeTls`] asked for is done: resume sending.
    pub fn handle_tls_established(&mut self, now: Instant) {
        self.tls_pending = false;
        self.touch(now);
        self.pump(now);
        self.flush();
    }

    /// Reports a fact about a data channel. Facts about channels the session has closed or no
    /// longer knows are ignored.
    pub fn handle_data(&mut self, now: Instant, input: DataInput) {
        let Some(mut t) = self.transfer.take() else {
            return;
        };
        let id = match &input {
            DataInput::Connected { id }
            | DataInput::Listening { id, .. }
            | DataInput::Failed { id, .. }
            | DataInput::Finished { id, .. } => *id,
        };
        if id != t.id || matches!(t.data, DataState::Closed) {
            self.transfer = Some(t);
            return;
        }
        self.touch(now);
        match input {
            DataInput::Listening { addr, .. } => {
                if t.data == DataState::Opening {
                    t.data = DataState::Listening(addr);
                    if !t.aborted {
                        self.send_port(&mut t, addr);
                    }
                }
            }
            DataInput::Connected { .. } => {
                let passive_ready = t.data == DataState::Opening && !t.command_sent;
                if matches!(t.data, DataState::Opening | DataState::Listening(_)) {
                    t.data = DataState::Connected;
                }
                if passive_ready && !t.aborted && t.failure.is_none() {
                    self.send_rest_or_command(&mut t);
                }
            }
            DataInput::Failed { error, .. } => {
                let done = t
                    .final_reply
                    .as_ref()
                    .is_some_and(|r| r.code().is_completion());
                if done {
                    // The server said the transfer is complete and never connected: there was
                    // nothing to send.
                    t.data = DataState::Closed;
                } else if !t.data.settled() {
                    t.data = DataState::Failed(error);
                    if t.failure.is_none() && !t.aborted {
                        t.failure = Some(TransferError::Data(error));
                    }
                }
            }
            DataInput::Finished { bytes, result, .. } => {
                if !t.data.settled() {
                    t.data = DataState::Finished { bytes, result };
                }
            }
        }
        self.transfer = Some(t);
        self.try_finish(now);
        self.flush();
    }

    /// When the session next needs [`Session::handle_timeout`]: the reply deadline, if a reply
    /// is awaited.
    ///
    /// The deadline is [`Config::reply_timeout`] after the last command sent, final reply
    /// received, data-channel fact or TLS handshake. Preliminary (1yz) replies do not move it:
    /// a command's final reply is due within the reply timeout however many 120s, 150s or
    /// other 1yz replies come first. A transfer that has started (150/125, or its data
    /// connection open) keeps no deadline while its data flows: the driver's data timeout
    /// watches the copy, and the deadline starts again when the copy ends.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.closed || self.in_flight.is_empty() || self.waiting_for_data() {
            return None;
        }
        Some(self.last_activity + self.config.reply_timeout)
    }

    /// Tells the session the time; a reply that is overdue ends it with
    /// [`SessionError::Timeout`]. Early calls do nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.check_deadline(now);
        self.flush();
    }

    /// The next thing to do, or `None` when everything has been drained.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    // ---- internals ----

    /// Restarts the reply deadline: something other than a 1yz reply happened.
    fn touch(&mut self, now: Instant) {
        self.last_activity = now;
        self.preliminary_since = false;
    }

    /// Ends the session if the reply deadline has passed, saying what (if anything) came.
    fn check_deadline(&mut self, now: Instant) {
        if let Some(deadline) = self.poll_timeout()
            && now >= deadline
        {
            // 1yz replies first: a flood of them is usually cut in the middle of one.
            let error = if self.preliminary_since {
                SessionError::NoFinalReply
            } else if self.partial {
                SessionError::IncompleteReply
            } else {
                SessionError::Timeout
            };
            self.close(error);
        }
    }

    fn new_handle(&mut self) -> CommandHandle {
        let handle = CommandHandle(self.next_handle);
        self.next_handle += 1;
        handle
    }

    /// While a transfer's data flows, the final reply is not due: the driver's data timeout
    /// watches the copy instead.
    fn waiting_for_data(&self) -> bool {
        self.transfer.as_ref().is_some_and(|t| {
            t.command_sent
                && t.final_reply.is_none()
                && !t.abort_sent
                && matches!(
                    t.data,
                    DataState::Connected | DataState::Listening(_) | DataState::Opening
                )
                && self.in_flight.len() == 1
        })
    }

    fn flush(&mut self) {
        if !self.tx.is_empty() {
            let bytes = core::mem::take(&mut self.tx);
            self.out.push_back(Output::Transmit(bytes));
        }
    }

    fn event(&mut self, event: Event) {
        self.out.push_back(Output::Event(event));
    }

    /// Sends queued commands as far as the pipelining rules allow.
    fn pump(&mut self, now: Instant) {
        while !self.closed
            && !self.tls_pending
            && self.transfer.is_none()
            && !self.in_flight.iter().any(|p| p.barrier)
        {
            let Some(queued) = self.queued.pop_front() else {
                break;
            };
            self.touch(now);
            match queued.kind {
                QueuedKind::Command {
                    bytes,
                    effect,
                    barrier,
                } => {
                    self.tx.extend_from_slice(&bytes);
                    self.in_flight.push_back(Pending {
                        handle: queued.handle,
                        role: Role::Caller(effect),
                        barrier,
                    });
                }
                QueuedKind::Transfer(spec) => self.start_transfer(queued.handle, spec),
            }
        }
        self.flush();
    }

    fn send_step(&mut self, t: &mut Transfer, step: Step, command: &Command) {
        // The session's own commands always encode: their arguments are numbers and addresses.
        if command.encode(&mut self.tx).is_ok() {
            self.in_flight.push_back(Pending {
                handle: t.handle,
                role: Role::Step(step),
                barrier: true,
            });
            t.owed += 1;
        }
    }

    fn family(&self) -> Family {
        if self.peer.is_ipv4() {
            Family::V4
        } else {
            Family::V6
        }
    }

    fn start_transfer(&mut self, handle: CommandHandle, spec: TransferSpec) {
        let id = DataId(self.next_data);
        self.next_data += 1;
        let mut t = Transfer {
            handle,
            spec,
            id,
            data: DataState::None,
            rest_sent: false,
            command_sent: false,
            started: false,
            preliminary: false,
            size_hint: None,
            final_reply: None,
            owed: 0,
            failure: None,
            aborted: false,
            abort_sent: false,
        };
        if t.spec.external {
            self.send_command(&mut t);
        } else if self.config.passive {
            self.send_passive(&mut t);
        } else {
            t.data = DataState::Opening;
            let family = self.family();
            self.out
                .push_back(Output::Data(DataAction::Listen { id, family }));
        }
        self.transfer = Some(t);
    }

    fn send_passive(&mut self, t: &mut Transfer) {
        let epsv = self.peer.is_ipv6() || (self.config.use_epsv && !self.epsv_refused);
        if epsv {
            self.send_step(t, Step::Epsv, &Command::Epsv(EpsvMode::Any));
        } else {
            self.send_step(t, Step::Pasv, &Command::Pasv);
        }
    }

    fn send_port(&mut self, t: &mut Transfer, addr: SocketAddr) {
        match addr {
            SocketAddr::V4(v4) if !self.config.use_epsv || self.eprt_refused => {
                self.send_step(t, Step::Port, &Command::Port(v4));
            }
            _ => self.send_step(t, Step::Eprt, &Command::Eprt(addr)),
        }
    }

    fn send_rest_or_command(&mut self, t: &mut Transfer) {
        if let Some(offset) = t.spec.rest
            && !t.rest_sent
        {
            t.rest_sent = true;
            self.send_step(t, Step::Rest, &Command::Rest(offset));
            return;
        }
        self.send_command(t);
    }

    fn send_command(&mut self, t: &mut Transfer) {
        self.tx.extend_from_slice(&t.spec.command_bytes);
        self.in_flight.push_back(Pending {
            handle: t.handle,
            role: Role::Step(Step::Command),
            barrier: true,
        });
        t.owed += 1;
        t.command_sent = true;
        if t.spec.direction == Direction::Receive {
            self.start_copy(t);
        }
    }

    fn start_copy(&mut self, t: &mut Transfer) {
        if !t.started && !t.data.settled() && !t.spec.external {
            t.started = true;
            self.out.push_back(Output::Data(DataAction::Transfer {
                id: t.id,
                direction: t.spec.direction,
                ascii: self.ascii,
                protected: self.protected,
            }));
        }
    }

    /// Closes the data channel if the driver holds one open.
    fn close_data(&mut self, t: &mut Transfer) {
        if !t.data.settled() {
            self.out
                .push_back(Output::Data(DataAction::Close { id: t.id }));
            t.data = DataState::Closed;
        }
    }

    fn fail(&mut self, t: &mut Transfer, error: TransferError) {
        if t.failure.is_none() {
            t.failure = Some(error);
        }
        self.close_data(t);
    }

    /// Routes one reply. Returns true when the session must switch to TLS before reading on.
    fn on_reply(&mut self, now: Instant, reply: Reply) -> bool {
        let code = reply.code();
        if code.is_preliminary() {
            match self.in_flight.front() {
                Some(p) => {
                    let (handle, role) = (p.handle, p.role);
                    match role {
                        Role::Step(Step::Command) => self.on_preliminary(reply),
                        Role::Step(_) => {}
                        Role::Greeting | Role::Caller(_) => {
                            self.event(Event::Preliminary { handle, reply });
                        }
                    }
                }
                None => self.event(Event::Unsolicited(reply)),
            }
            return false;
        }
        let Some(pending) = self.in_flight.pop_front() else {
            if code == ReplyCode::SERVICE_NOT_AVAILABLE {
                self.close(SessionError::ServiceClosing(reply));
            } else {
                self.event(Event::Unsolicited(reply));
            }
            return false;
        };
        if pending.role == Role::Step(Step::Abort)
            && code == ReplyCode::COMMAND_OKAY
            && matches!(self.in_flight.front(), Some(p) if p.role == Role::Step(Step::Sync))
        {
            // The server sent no reply of its own for ABOR: this 200 answers the NOOP.
            self.in_flight.pop_front();
            self.on_step_reply(now, Step::Abort, reply.clone());
            self.on_step_reply(now, Step::Sync, reply);
            self.pump(now);
            return false;
        }
        let closing = (code == ReplyCode::SERVICE_NOT_AVAILABLE).then(|| reply.clone());
        let mut upgrade = false;
        match pending.role {
            Role::Greeting => {
                self.event(Event::Reply {
                    handle: pending.handle,
                    reply,
                });
            }
            Role::Caller(effect) => {
                let positive = code.is_completion();
                match effect {
                    Effect::Ascii(ascii) if positive => self.ascii = ascii,
                    Effect::Protected(on) if positive => self.protected = on,
                    Effect::Rein if positive => {
                        self.ascii = false;
                        self.protected = false;
                    }
                    Effect::Auth if code == ReplyCode::SECURITY_EXCHANGE_COMPLETE => {
                        upgrade = true;
                    }
                    _ => {}
                }
                let quit = effect == Effect::Quit;
                self.event(Event::Reply {
                    handle: pending.handle,
                    reply,
                });
                if quit && closing.is_none() {
                    self.close(SessionError::Closed);
                }
            }
            Role::Step(step) => self.on_step_reply(now, step, reply),
        }
        if let Some(reply) = closing {
            self.close(SessionError::ServiceClosing(reply));
            return false;
        }
        if upgrade {
            self.tls_pending = true;
            self.out.push_back(Output::UpgradeTls);
        }
        self.try_finish(now);
        self.pump(now);
        upgrade
    }

    fn on_preliminary(&mut self, reply: Reply) {
        let Some(mut t) = self.transfer.take() else {
            return;
        };
        t.preliminary = true;
        if t.size_hint.is_none() {
            t.size_hint = size_hint(&reply);
        }
        if !t.aborted && t.failure.is_none() {
            self.start_copy(&mut t);
        }
        self.event(Event::Preliminary {
            handle: t.handle,
            reply,
        });
        self.transfer = Some(t);
    }

    fn on_step_reply(&mut self, now: Instant, step: Step, reply: Reply) {
        let Some(mut t) = self.transfer.take() else {
            return;
        };
        t.owed = t.owed.saturating_sub(1);
        let code = reply.code();
        let stopped = t.aborted || t.failure.is_some();
        match step {
            Step::Abort | Step::Sync => {}
            Step::Epsv if stopped => {}
            Step::Epsv => {
                if code == ReplyCode::ENTERING_EXTENDED_PASSIVE_MODE {
                    match parse_epsv_reply(reply.first_line()) {
                        Ok(port) => self.connect(&mut t, SocketAddr::new(self.peer.ip(), port)),
                        Err(_) => self.fail(&mut t, TransferError::UnexpectedReply(reply)),
                    }
                } else if is_unsupported(code) && self.peer.is_ipv4() {
                    self.epsv_refused = true;
                    self.send_step(&mut t, Step::Pasv, &Command::Pasv);
                } else if is_unsupported(code) {
                    self.fail(&mut t, TransferError::NoUsableDataCommand);
                } else {
                    self.fail(&mut t, TransferError::Refused(reply));
                }
            }
            Step::Pasv if stopped => {}
            Step::Pasv => {
                if code == ReplyCode::ENTERING_PASSIVE_MODE {
                    match parse_pasv_reply(reply.first_line()) {
                        Ok(addr) => {
                            let to = self.pasv_target(addr);
                            self.connect(&mut t, to);
                        }
                        Err(_) => self.fail(&mut t, TransferError::UnexpectedReply(reply)),
                    }
                } else {
                    self.fail(&mut t, TransferError::Refused(reply));
                }
            }
            Step::Eprt if stopped => {}
            Step::Eprt => {
                if code.is_completion() {
                    self.send_rest_or_command(&mut t);
                } else if is_unsupported(code)
                    && let DataState::Listening(SocketAddr::V4(v4)) = t.data
                {
                    self.eprt_refused = true;
                    self.send_step(&mut t, Step::Port, &Command::Port(v4));
                } else if is_unsupported(code) {
                    self.fail(&mut t, TransferError::NoUsableDataCommand);
                } else {
                    self.fail(&mut t, TransferError::Refused(reply));
                }
            }
            Step::Port if stopped => {}
            Step::Port => {
                if code.is_completion() {
                    self.send_rest_or_command(&mut t);
                } else {
                    self.fail(&mut t, TransferError::Refused(reply));
                }
            }
            Step::Rest if stopped => {}
            Step::Rest => {
                if code == ReplyCode::FILE_ACTION_PENDING {
                    self.send_command(&mut t);
                } else {
                    self.fail(&mut t, TransferError::Refused(reply));
                }
            }
            Step::Command => {
                let sync = t.abort_sent && code.is_completion();
                self.on_final(&mut t, reply);
                if sync {
                    self.send_step(&mut t, Step::Sync, &Command::Noop);
                }
            }
        }
        self.transfer = Some(t);
        self.try_finish(now);
    }

    fn pasv_target(&self, announced: SocketAddrV4) -> SocketAddr {
        match self.config.pasv_address {
            PasvAddressPolicy::Trust => SocketAddr::V4(announced),
            _ => SocketAddr::new(self.peer.ip(), announced.port()),
        }
    }

    fn connect(&mut self, t: &mut Transfer, to: SocketAddr) {
        t.data = DataState::Opening;
        self.out
            .push_back(Output::Data(DataAction::Connect { id: t.id, to }));
    }

    fn on_final(&mut self, t: &mut Transfer, reply: Reply) {
        let code = reply.code();
        if code.is_completion() {
            // Done. If the copy never started there is nothing to wait for. An active-mode
            // listener stays open: the server may well have connected and sent everything
            // before this reply was read; the driver looks for a waiting connection and
            // reports `Connected`, or `Failed` when there is none (then nothing was sent).
            let listening = matches!(t.data, DataState::Listening(_));
            if !t.started || !listening && matches!(t.data, DataState::Opening | DataState::None) {
                self.close_data(t);
            }
            t.final_reply = Some(reply);
        } else {
            let error = if code.is_intermediate() {
                TransferError::UnexpectedReply(reply.clone())
            } else if t.preliminary || t.data.bytes() > 0 {
                TransferError::Failed {
                    reply: reply.clone(),
                    bytes: t.data.bytes(),
                }
            } else {
                TransferError::Refused(reply.clone())
            };
            t.final_reply = Some(reply);
            self.fail(t, error);
        }
    }

    /// Reports the transfer once its control side and data side have both settled.
    fn try_finish(&mut self, _now: Instant) {
        let Some(t) = self.transfer.as_ref() else {
            return;
        };
        let stopped = t.failure.is_some() || t.aborted;
        let control_done = t.owed == 0
            && if t.command_sent {
                t.final_reply.is_some()
            } else {
                stopped
            };
        if !(control_done && (t.data.settled() || stopped)) {
            return;
        }
        let Some(mut t) = self.transfer.take() else {
            return;
        };
        self.close_data(&mut t);
        let bytes = t.data.bytes();
        let result = if t.aborted {
            Err(TransferError::Aborted { bytes })
        } else if let Some(error) = t.failure.take() {
            Err(error)
        } else {
            match (t.final_reply.take(), t.data) {
                (
                    Some(reply),
                    DataState::Finished {
                        result: Err(error), ..
                    },
                ) => Err(TransferError::Copy {
                    error,
                    bytes,
                    reply: Some(reply),
                }),
                (Some(reply), _) => Ok(TransferDone {
                    reply,
                    bytes,
                    size_hint: t.size_hint,
                }),
                (
                    None,
                    DataState::Finished {
                        result: Err(error), ..
                    },
                ) => Err(TransferError::Copy {
                    error,
                    bytes,
                    reply: None,
                }),
                (None, _) => Err(TransferError::Session(SessionError::ConnectionClosed)),
            }
        };
        self.event(Event::Transfer {
            handle: t.handle,
            result,
        });
    }

    /// Ends the session: every command still waiting gets its failure, then [`Event::Closed`].
    fn close(&mut self, error: SessionError) {
        if self.closed {
            return;
        }
        self.closed = true;
        if let Some(mut t) = self.transfer.take() {
            self.close_data(&mut t);
            self.event(Event::Transfer {
                handle: t.handle,
                result: Err(TransferError::Session(error.clone())),
            });
        }
        for pending in core::mem::take(&mut self.in_flight) {
            if let Role::Caller(_) | Role::Greeting = pending.role {
                self.event(Event::Failed {
                    handle: pending.handle,
                    error: error.clone(),
                });
            }
        }
        for queued in core::mem::take(&mut self.queued) {
            let event = match queued.kind {
                QueuedKind::Command { .. } => Event::Failed {
                    handle: queued.handle,
                    error: error.clone(),
                },
                QueuedKind::Transfer(_) => Event::Transfer {
                    handle: queued.handle,
                    result: Err(TransferError::Session(error.clone())),
                },
            };
            self.event(event);
        }
        self.tx.clear();
        self.event(Event::Closed(error));
    }
}
