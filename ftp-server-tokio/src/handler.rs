//! The application half of one FTP session: answers the session's [`Request`]s from a
//! [`Storage`] and an [`Authenticator`].
//!
//! Owns the logged-in [`Principal`], the mapping of session paths (relative to the user's `/`)
//! onto storage paths under the principal's home, the permission checks, and what was opened
//! for transfers and streamed listings until the data side [takes](RequestHandler::take) or
//! [releases](RequestHandler::release) it. It must not touch sockets, sequence commands or
//! format replies (the [`ftp_proto::server::Session`] does), and it does no path
//! normalisation of its own: session paths arrive already resolved.
//!
//! # Rules
//!
//! - Every request but `Login` (and `Host`, which is not supported) is refused with
//!   [`FsError::PermissionDenied`] until a login succeeded; the session gates too, this is the
//!   second line.
//! - Permissions are checked with [`Principal::allows`] on the session path *before* storage
//!   is touched, so a refused request changes nothing.
//! - The session's `/` is the principal's home: it cannot be removed or renamed
//!   ([`FsError::PermissionDenied`]), whatever the permissions.
//! - Storage errors pass through unchanged as [`Response::Error`].
//! - When the server gave the session a quota counter, DELE gives the file's size back and
//!   RNTO over an existing file gives that file's size back; uploads are charged by the data
//!   side as bytes are written. A handler used on its own has no counter and enforces no
//!   quota (the [`Server`](crate::server::Server) does).

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use ftp_proto::listing::{Entry, EntryKind};
use ftp_proto::server::{FsError, ListKind, Request, Response, StoreMode, Ticket};
use ftp_proto::{Segments, VirtualPath};

use crate::auth::{AuthError, Authenticator, Credentials, Operation, Principal};
use crate::storage::quota::Usage;
use crate::storage::{DirEntries, Storage, WriteMode};

/// At most this many entries answer a STAT listing: it travels over the control connection
/// and is built in memory, so a huge directory must not grow it without bound. The handler
/// reads one entry more, so that the session knows the listing was cut and says so in the
/// reply's last line; LIST, NLST and MLSD stream over the data connection and have no cap.
/// It is the session's cap, [`ftp_proto::server::MAX_STAT_ENTRIES`].
pub const MAX_STAT_ENTRIES: usize = ftp_proto::server::MAX_STAT_ENTRIES;

/// What a [`RequestHandler`] opened for a request, waiting for the data side.
///
/// `Debug` names the variant only: the storage's types need not be `Debug`.
pub enum Opened<S: Storage> {
    /// A file opened for RETR: copy it to the data connection. In binary mode it is opened at
    /// the REST offset. In TYPE A it is opened at its start, because the offset counts octets
    /// of the converted (CRLF) stream (RFC 3659 5): convert, then leave out that many octets.
    Reader(S::Reader),
    /// A file created for STOU: copy the data connection into it, then shut it down to commit.
    Writer(S::Writer),
    /// STOR or APPE, approved (permission, the target and its directory checked) but not
    /// opened yet: open it with [`Storage::open_write`] (`path` is a storage path) only when
    /// the data connection is ready, and for FTPS verified, then copy and shut it down. A
    /// transfer that never starts (no data connection, a refused TLS handshake, ABOR) thus
    /// leaves an existing file exactly as it was instead of truncated.
    Write {
        /// The file, as a storage path.
        path: VirtualPath,
        /// Replace (from an offset) or append.
        mode: WriteMode,
    },
    /// A directory opened for a streamed LIST, NLST or MLSD.
    Dir(S::Dir),
}

impl<S: Storage> fmt::Debug for Opened<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Reader(_) => "Reader",
            Self::Writer(_) => "Writer",
            Self::Write { .. } => "Write",
            Self::Dir(_) => "Dir",
        })
    }
}

/// Answers one session's [`Request`]s with [`Response`]s using a storage and an
/// authenticator, enforcing the logged-in principal's permissions and home directory.
///
/// Feed it every [`Output::Request`](ftp_proto::server::Output::Request) and pass its answer
/// to [`Session::respond`](ftp_proto::server::Session::respond). For `Retrieve`, `Store`,
/// `StoreUnique` and a streamed `List` it keeps what it opened under the ticket; the data side
/// gets it with [`RequestHandler::take`] (on `DataAction::Transfer` or `StreamListing`) or drops
/// it with [`RequestHandler::release`] (on `DataAction::Release`).
///
/// ```
/// use std::sync::Arc;
/// use std::time::Instant;
/// use ftp_server_tokio::auth::{Permissions, StaticUsers, UserEntry};
/// use ftp_server_tokio::ftp_proto::server::{
///     Config, ConnectionInfo, DataAction, DataInput, Output, Request, Response, Session,
/// };
/// use ftp_server_tokio::ftp_proto::{FtpPath, VirtualPath};
/// use ftp_server_tokio::handler::{Opened, RequestHandler};
/// use ftp_server_tokio::storage::memory::MemoryStorage;
/// use tokio::io::AsyncReadExt;
///
/// let storage = MemoryStorage::new().with_file("/home/alice/a.txt", "hello\n");
/// let home = VirtualPath::root().resolve(&FtpPath::from("/home/alice"))?;
/// let users = StaticUsers::new([UserEntry::new("alice", "s3cret", home, Permissions::ALL)])?;
/// let mut handler = RequestHandler::new(Arc::new(storage), Arc::new(users));
///
/// let conn = ConnectionInfo {
///     peer: "192.0.2.7:50123".parse()?,
///     local: "192.0.2.1:21".parse()?,
///     tls: false,
/// };
/// let now = Instant::now();
/// let mut session = Session::new(Config::default().into(), conn, now);
/// session.handle_control(now, b"USER alice\r\nPASS s3cret\r\nTYPE I\r\nPASV\r\nRETR a.txt\r\n");
///
/// let runtime = tokio::runtime::Builder::new_current_thread().build()?;
/// let mut answers = Vec::new();
/// let mut transfer = None;
/// while let Some(output) = session.poll_output() {
///     match output {
///         Output::Request { ticket, request } => {
///             let response = runtime.block_on(handler.handle(ticket, request));
///             answers.push(response.clone());
///             session.respond(now, ticket, response)?;
///         }
///         Output::Data(DataAction::Listen { id, .. }) => {
///             let addr = "192.0.2.1:50000".parse()?;
///             session.handle_data(now, DataInput::Listening { id, addr });
///             session.handle_data(now, DataInput::Connected { id });
///         }
///         Output::Data(DataAction::Transfer { ticket, .. }) => transfer = Some(ticket),
///         _ => {}
///     }
/// }
/// assert_eq!(answers, [Response::LoggedIn, Response::Size(6)]);
///
/// // The data side takes the file the handler opened for RETR.
/// let Some(Opened::Reader(mut reader)) = transfer.and_then(|t| handler.take(t)) else {
///     panic!("no reader for the transfer");
/// };
/// let mut bytes = Vec::new();
/// runtime.block_on(reader.read_to_end(&mut bytes))?;
/// assert_eq!(bytes, b"hello\n");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct RequestHandler<S: Storage, A: Authenticator> {
    /// The storage as given, for every session.
    shared: Arc<S>,
    /// What this session uses: `shared`, or after login the view confined to the user's home
    /// ([`Storage::confine`]).
    storage: Arc<S>,
    auth: Arc<A>,
    principal: Option<Principal>,
    opened: HashMap<Ticket, Opened<S>>,
    /// The logged-in user's quota counter, shared with the user's other sessions.
    usage: Option<Arc<Usage>>,
}

impl<S: Storage, A: Authenticator> fmt::Debug for RequestHandler<S, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestHandler")
            .field("principal", &self.principal)
            .field("opened", &self.opened)
            .finish_non_exhaustive()
    }
}

impl<S: Storage, A: Authenticator> RequestHandler<S, A> {
    /// A handler for one session, not logged in, serving `storage` and checking logins with
    /// `auth`.
    pub fn new(storage: Arc<S>, auth: Arc<A>) -> Self {
        Self {
            shared: Arc::clone(&storage),
            storage,
            auth,
            principal: None,
            opened: HashMap::new(),
            usage: None,
        }
    }

    /// Uses `usage` as the logged-in user's quota counter (the server sets it after login).
    pub(crate) fn set_usage(&mut self, usage: Option<Arc<Usage>>) {
        self.usage = usage;
    }

    /// The logged-in user's quota counter, if the user has a quota.
    pub(crate) fn usage(&self) -> Option<&Arc<Usage>> {
        self.usage.as_ref()
    }

    /// Ends the logged-in identity (a login the server refused after authentication).
    pub(crate) fn logout(&mut self) {
        self.principal = None;
        self.usage = None;
        self.storage = Arc::clone(&self.shared);
    }

    /// The storage this session uses: after login, the view confined to the user's home.
    pub(crate) fn storage(&self) -> &Arc<S> {
        &self.storage
    }

    /// Who is logged in, if anyone.
    pub fn principal(&self) -> Option<&Principal> {
        self.principal.as_ref()
    }

    /// Answers `request`. What it opens for a transfer or a streamed listing is kept under
    /// `ticket` (replacing anything kept there) until [`RequestHandler::take`] or
    /// [`RequestHandler::release`].
    pub async fn handle(&mut self, ticket: Ticket, request: Request) -> Response {
        let request = match request {
            Request::Login {
                user,
                password,
                peer,
                tls,
                anonymous,
            } => {
                // A new attempt ends the old identity first, so a failed one leaves no one in.
                self.logout();
                let credentials = Credentials {
                    user: &user,
                    password: &password,
                    peer,
                    tls,
                    anonymous,
                };
                return match self.auth.authenticate(credentials).await {
                    Ok(principal) => match self.shared.confine(&principal.home).await {
                        Ok(view) => {
                            if let Some(view) = view {
                                self.storage = Arc::new(view);
                            }
                            self.principal = Some(principal);
                            Response::LoggedIn
                        }
                        Err(err) => {
                            // Never served unconfined: the login fails instead.
                            tracing::warn!(
                                user = %principal.name,
                                home = %principal.home,
                                error = %err,
                                "login refused: the user's home cannot be opened"
                            );
                            Response::LoginUnavailable
                        }
                    },
                    Err(AuthError::Unavailable) => Response::LoginUnavailable,
                    Err(_) => Response::LoginRejected,
                };
            }
            // HOST comes before login by design (RFC 7151), so it is refused as unsupported
            // rather than as not yet allowed.
            Request::Host { .. } => return Response::Error(FsError::NotSupported),
            request => request,
        };
        let Some(principal) = &self.principal else {
            return Response::Error(FsError::PermissionDenied);
        };
        let usage = self.usage.as_deref();
        match serve(self.storage.as_ref(), principal, usage, request).await {
            Ok((response, opened)) => {
                if let Some(opened) = opened {
                    self.opened.insert(ticket, opened);
                }
                response
            }
            Err(err) => Response::Error(err),
        }
    }

    /// The storage path a session path stands for under the logged-in principal's home
    /// (`None` before login): what events and logs name.
    pub fn storage_path(&self, path: &VirtualPath) -> Option<VirtualPath> {
        let principal = self.principal.as_ref()?;
        storage_path(&principal.home, path).ok()
    }

    /// The MLSx `perm` facts for the entries of directory `dir` (a session path), for the
    /// logged-in principal (`None` before login).
    pub fn perm_facts(&self, dir: &VirtualPath) -> Option<PermFacts> {
        let principal = self.principal.clone()?;
        // Without a grant the rights are the same everywhere: compute them once.
        let uniform = match (&principal.grant, dir.join("entry")) {
            (None, Ok(child)) => {
                Some(PermClass::ALL.map(|class| perm_fact(&principal, &child, class)))
            }
            _ => None,
        };
        Some(PermFacts {
            principal,
            dir: dir.clone(),
            uniform,
        })
    }

    /// Hands over what was opened for `ticket` (the reader, writer or directory), once.
    pub fn take(&mut self, ticket: Ticket) -> Option<Opened<S>> {
        self.opened.remove(&ticket)
    }

    /// Drops what was opened for `ticket`, if anything: the transfer will not happen.
    pub fn release(&mut self, ticket: Ticket) {
        self.opened.remove(&ticket);
    }
}

/// A response, and what was opened for the data side.
type Served<S> = (Response, Option<Opened<S>>);

/// Answers a request of a logged-in principal (anything but `Login` and `Host`).
async fn serve<S: Storage>(
    storage: &S,
    principal: &Principal,
    usage: Option<&Usage>,
    request: Request,
) -> Result<Served<S>, FsError> {
    let home = &principal.home;
    let answer = |response| Ok((response, None));
    match request {
        Request::ChangeDir { path } => {
            require(principal, Operation::List, &path)?;
            let entry = storage.metadata(&storage_path(home, &path)?).await?;
            if !entry.kind.is_dir() {
                return Err(FsError::NotADirectory);
            }
            answer(Response::Ok)
        }
        Request::Retrieve {
            path,
            offset,
            ascii,
        } => {
            require(principal, Operation::Read, &path)?;
            let target = storage_path(home, &path)?;
            // In TYPE A the offset is in the converted stream (see `Opened::Reader`).
            let at = if ascii { 0 } else { offset };
            let (reader, entry) = storage.open_read_entry(&target, at).await?;
            if !ascii && offset > entry.size {
                return Err(FsError::OffsetPastEnd);
            }
            // In ASCII mode the bytes sent differ from the file's (LF becomes CRLF), so no
            // count is announced rather than a wrong one.
            let response = if ascii {
                Response::Ok
            } else {
                Response::Size(entry.size.saturating_sub(offset))
            };
            Ok((response, Some(Opened::Reader(reader))))
        }
        Request::Store { path, offset, mode } => {
            let (op, mode) = match mode {
                // Anonymous uploads only add files: no overwriting, no REST into a file.
                StoreMode::Replace if principal.anonymous && offset > 0 => {
                    return Err(FsError::PermissionDenied);
                }
                StoreMode::Replace if principal.anonymous => {
                    (Operation::Write, WriteMode::CreateNew)
                }
                StoreMode::Replace => (Operation::Write, WriteMode::Replace { offset }),
                StoreMode::Append => (Operation::Append, WriteMode::Append),
            };
            require(principal, op, &path)?;
            let target = storage_path(home, &path)?;
            let exists = writable_target(storage, &target, mode).await?;
            if !exists && op == Operation::Append {
                // APPE of a new name creates a file: the right to append to files is not the
                // right to add them.
                require(principal, Operation::Write, &path)?;
            }
            Ok((Response::Ok, Some(Opened::Write { path: target, mode })))
        }
        Request::StoreUnique { dir, hint } => {
            require(principal, Operation::Write, &any_child(&dir)?)?;
            let (created, writer) = storage
                .create_unique(&storage_path(home, &dir)?, hint.as_deref())
                .await?;
            let created = session_path(home, &created)?;
            Ok((Response::Created(created), Some(Opened::Writer(writer))))
        }
        Request::List {
            path,
            kind,
            options,
        } => {
            require(principal, Operation::List, &path)?;
            let target = storage_path(home, &path)?;
            // `ls -d`: the directory itself, not its contents (LIST, NLST and STAT).
            if kind != ListKind::Mlsd && options.as_deref().is_some_and(lists_itself) {
                let entry = storage.metadata(&target).await?;
                return answer(entries_now(vec![entry]));
            }
            list(storage, &target, kind).await
        }
        Request::Facts { path } => {
            require(principal, Operation::List, &path)?;
            let mut entry = storage.metadata(&storage_path(home, &path)?).await?;
            entry.perm = Some(perm_fact(principal, &path, PermClass::of(&entry)));
            answer(Response::Entry(entry))
        }
        Request::Size { path, ascii } => {
            require(principal, Operation::List, &path)?;
            let entry = storage.metadata(&storage_path(home, &path)?).await?;
            if entry.kind.is_dir() {
                return Err(FsError::IsADirectory);
            }
            // A FIFO, socket or device has no size to download (RETR refuses it the same way);
            // `213 0` would announce a file.
            if entry.kind != EntryKind::File {
                return Err(FsError::PermissionDenied);
            }
            // In TYPE A the size on the wire (LF sent as CRLF) is only known by reading the
            // whole file, so it is refused (550, as proftpd and pyftpdlib do) rather than
            // answered with a size the download will not match (RFC 3659 section 4).
            if ascii {
                return Err(FsError::NotSupported);
            }
            answer(Response::Size(entry.size))
        }
        Request::ModificationTime { path } => {
            require(principal, Operation::List, &path)?;
            let entry = storage.metadata(&storage_path(home, &path)?).await?;
            answer(
                entry
                    .modified
                    .map_or(Response::Error(FsError::NotSupported), Response::Time),
            )
        }
        Request::SetModificationTime { path, time } => {
            require(principal, Operation::Write, &path)?;
            // Changing an existing file is not adding one.
            if principal.anonymous {
                return Err(FsError::PermissionDenied);
            }
            let target = storage_path(home, &path)?;
            storage.set_modified(&target, time).await?;
            // MFMT reports the time the file got: the file system may have clamped it.
            match storage.metadata(&target).await.map(|entry| entry.modified) {
                Ok(Some(set)) => answer(Response::Time(set)),
                _ => answer(Response::Ok),
            }
        }
        Request::Delete { path } => {
            require(principal, Operation::Delete, &path)?;
            let target = storage_path(home, &path)?;
            let _changes = match usage {
                Some(usage) => Some(usage.changes().await),
                None => None,
            };
            let freed = file_size(storage, usage, &target).await;
            storage.remove_file(&target).await?;
            if let Some(usage) = usage {
                usage.release(freed);
            }
            answer(Response::Ok)
        }
        Request::RemoveDir { path } => {
            require(principal, Operation::Delete, &path)?;
            not_home(&path)?;
            storage.remove_dir(&storage_path(home, &path)?).await?;
            answer(Response::Ok)
        }
        Request::MakeDir { path } => {
            require(principal, Operation::MakeDir, &path)?;
            storage.create_dir(&storage_path(home, &path)?).await?;
            answer(Response::Ok)
        }
        Request::RenameFrom { path } => {
            require(principal, Operation::Rename, &path)?;
            not_home(&path)?;
            // The name itself, as DELE and the rename act on it: a symlink is renamed, not
            // followed, so one whose target is gone can still be moved.
            storage
                .symlink_metadata(&storage_path(home, &path)?)
                .await?;
            answer(Response::Ok)
        }
        Request::Rename { from, to } => {
            require(principal, Operation::Rename, &from)?;
            require(principal, Operation::Rename, &to)?;
            not_home(&from)?;
            not_home(&to)?;
            let session_to = to;
            let (from, to) = (storage_path(home, &from)?, storage_path(home, &session_to)?);
            if from != to && storage.symlink_metadata(&to).await.is_ok() {
                // Renaming onto an existing name destroys what was there (a symlink too,
                // dangling or not): that takes the right to delete it as well.
                require(principal, Operation::Delete, &session_to)?;
            }
            let _changes = match usage {
                Some(usage) => Some(usage.changes().await),
                None => None,
            };
            // Within the home a rename moves bytes without adding any; a file it replaces
            // is gone.
            let replaced = if from == to {
                0
            } else {
                file_size(storage, usage, &to).await
            };
            storage.rename(&from, &to).await?;
            if let Some(usage) = usage {
                usage.release(replaced);
            }
            answer(Response::Ok)
        }
        Request::Checksum {
            path,
            algorithm,
            range,
        } => {
            require(principal, Operation::Read, &path)?;
            let (hex, size) = storage
                .checksum(&storage_path(home, &path)?, algorithm, range)
                .await?;
            answer(Response::Checksum { hex, size })
        }
        Request::Available { path } => {
            require(principal, Operation::List, &path)?;
            let free = storage.available_space(&storage_path(home, &path)?).await?;
            answer(Response::Size(free))
        }
        Request::SetPermissions { path, mode } => {
            require(principal, Operation::Write, &path)?;
            // Changing an existing file is not adding one.
            if principal.anonymous {
                return Err(FsError::PermissionDenied);
            }
            storage
                .set_permissions(&storage_path(home, &path)?, mode)
                .await?;
            answer(Response::Ok)
        }
        // SITE commands, and requests added to the vocabulary later, are not served here.
        _ => Err(FsError::NotSupported),
    }
}

/// Whether `ls` options (`-ld`, `-l -d`) ask for a directory's own entry.
fn lists_itself(options: &str) -> bool {
    options
        .split(' ')
        .any(|word| word.starts_with('-') && !word.starts_with("--") && word.contains('d'))
}

/// The SITE commands [`RequestHandler`] serves when the storage can (`SITE HELP` lists them).
pub(crate) fn site_commands(features: &crate::storage::StorageFeatures) -> Vec<String> {
    let mut commands = Vec::new();
    if features.set_permissions {
        commands.push("CHMOD".to_owned());
    }
    commands
}

/// A listing: streamed (the directory kept for the data side) for LIST, NLST and MLSD,
/// collected for STAT (at most [`MAX_STAT_ENTRIES`] and one more, which tells the session that
/// there were more than it shows). LIST, NLST and STAT of a file list that file alone, as `ls`
/// does; MLSD of a file fails with `NotADirectory` (RFC 3659: MLSD lists directories only).
async fn list<S: Storage>(
    storage: &S,
    target: &VirtualPath,
    kind: ListKind,
) -> Result<Served<S>, FsError> {
    let mut dir = match storage.read_dir(target).await {
        Ok(dir) => dir,
        Err(FsError::NotADirectory) if kind != ListKind::Mlsd => {
            let entry = storage.metadata(target).await?;
            return Ok((entries_now(vec![entry]), None));
        }
        Err(err) => return Err(err),
    };
    if kind != ListKind::Stat {
        return Ok((Response::Ok, Some(Opened::Dir(dir))));
    }
    let mut entries = Vec::new();
    while entries.len() <= MAX_STAT_ENTRIES {
        match dir.next_entry().await {
            Some(entry) => entries.push(entry?),
            None => break,
        }
    }
    Ok((entries_now(entries), None))
}

/// Fills the MLSx `perm` fact of the entries of one listed directory (RFC 3659 section
/// 7.5.5) from the principal's permissions. Made by [`RequestHandler::perm_facts`].
#[derive(Debug, Clone)]
pub struct PermFacts {
    principal: Principal,
    dir: VirtualPath,
    /// The facts of each [`PermClass`] (in [`PermClass::ALL`] order) when they do not depend
    /// on the entry's path.
    uniform: Option<[String; 3]>,
}

impl PermFacts {
    /// Sets `entry.perm` for an entry of the listed directory.
    pub fn fill(&self, entry: &mut Entry) {
        let class = PermClass::of(entry);
        entry.perm = match &self.uniform {
            Some(facts) => Some(facts[class as usize].clone()),
            None => std::str::from_utf8(&entry.name)
                .ok()
                .and_then(|name| self.dir.join(name).ok())
                .map(|path| perm_fact(&self.principal, &path, class)),
        };
    }
}

/// What an object's `perm` fact can offer at most: the operations that work on it at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PermClass {
    /// A regular file, or a symlink to one: read, write, append, delete, rename.
    File = 0,
    /// A directory, or a symlink to one: enter, list, create and remove entries in it; delete
    /// and rename it.
    Dir = 1,
    /// Anything else: a FIFO, socket or device, or a symlink that leads to one of those, to
    /// nothing (dangling, a loop, outside the root) or to something the storage did not say.
    /// RETR, STOR, APPE and SIZE refuse these; DELE and RNFR/RNTO act on the name itself.
    Other = 2,
}

impl PermClass {
    const ALL: [PermClass; 3] = [PermClass::File, PermClass::Dir, PermClass::Other];

    /// The class of `entry`: its kind, and for a symlink what it leads to, from the type bits
    /// the storage put in its `unix_mode` (see [`Storage::read_dir`]).
    fn of(entry: &Entry) -> Self {
        if entry.leads_to_dir() {
            Self::Dir
        } else if entry.leads_to_file() {
            Self::File
        } else {
            Self::Other
        }
    }
}

/// The `perm` fact of the object at session path `path`, of class `class`: `a` append, `c`
/// create files in, `d` delete, `e` enter, `f` rename, `l` list, `m` make directories in, `p`
/// purge (delete entries of), `r` read, `w` write. Only letters whose commands work on such
/// an object are offered (RFC 3659 section 7.5.5), and of those only what the principal may do.
fn perm_fact(principal: &Principal, path: &VirtualPath, class: PermClass) -> String {
    let here = |op| principal.allows(op, path);
    let child = path.join("entry").ok();
    let inside = |op| child.as_ref().is_some_and(|c| principal.allows(op, c));
    let movable = !path.is_root();
    let letters: &[(char, bool)] = match class {
        PermClass::Dir => &[
            ('c', inside(Operation::Write)),
            ('d', movable && here(Operation::Delete)),
            ('e', here(Operation::List)),
            ('f', movable && here(Operation::Rename)),
            ('l', here(Operation::List)),
            ('m', inside(Operation::MakeDir)),
            ('p', inside(Operation::Delete)),
        ],
        PermClass::File => &[
            ('a', here(Operation::Append)),
            ('d', here(Operation::Delete)),
            ('f', here(Operation::Rename)),
            ('r', here(Operation::Read)),
            // Anonymous uploads create files but never write to existing ones.
            ('w', !principal.anonymous && here(Operation::Write)),
        ],
        PermClass::Other => &[
            ('d', movable && here(Operation::Delete)),
            ('f', movable && here(Operation::Rename)),
        ],
    };
    letters
        .iter()
        .filter(|(_, on)| *on)
        .map(|(c, _)| *c)
        .collect()
}

/// `Entries` stamped with the current time.
fn entries_now(entries: Vec<Entry>) -> Response {
    Response::Entries {
        entries,
        now: crate::storage::system_now(),
    }
}

/// Refuses `op` on `path` (a session path) unless the principal may do it there.
fn require(principal: &Principal, op: Operation, path: &VirtualPath) -> Result<(), FsError> {
    if principal.allows(op, path) {
        Ok(())
    } else {
        Err(FsError::PermissionDenied)
    }
}

/// Checks what STOR/APPE will open before the 150: the target is not a directory (nor, for
/// [`WriteMode::CreateNew`], anything at all), a REST offset is within the file (no resuming
/// past its end, which would leave a hole of zeros, nor into a file that is not there), and
/// when it does not exist its directory does (the errors a client should get as the reply to
/// STOR, not after the data connection opened). Escapes are refused by the storage itself.
/// True when the target exists.
async fn writable_target<S: Storage>(
    storage: &S,
    target: &VirtualPath,
    mode: WriteMode,
) -> Result<bool, FsError> {
    match storage.metadata(target).await {
        Ok(entry) if entry.kind.is_dir() => Err(FsError::IsADirectory),
        Ok(_) if mode == WriteMode::CreateNew => Err(FsError::AlreadyExists),
        Ok(entry) => match mode {
            WriteMode::Replace { offset } if offset > entry.size => Err(FsError::OffsetPastEnd),
            _ => Ok(true),
        },
        Err(FsError::NotFound) if matches!(mode, WriteMode::Replace { offset } if offset > 0) => {
            Err(FsError::OffsetPastEnd)
        }
        Err(FsError::NotFound) => match storage.metadata(&target.parent()).await {
            Ok(dir) if dir.kind.is_dir() => Ok(false),
            Ok(_) => Err(FsError::NotADirectory),
            Err(err) => Err(err),
        },
        Err(err) => Err(err),
    }
}

/// The size of the regular file at `target` when a quota is counted (`usage`), else 0 (and
/// no storage call); 0 for anything that is not a regular file, a symlink included: removing
/// or replacing a link frees the link, not its target (nor did measuring the home count it).
async fn file_size<S: Storage>(storage: &S, usage: Option<&Usage>, target: &VirtualPath) -> u64 {
    if usage.is_none() {
        return 0;
    }
    match storage.symlink_metadata(target).await {
        Ok(entry) if entry.kind == EntryKind::File => entry.size,
        _ => 0,
    }
}

/// Refuses the session's `/`: it is the user's home, which the user may not remove or rename.
fn not_home(path: &VirtualPath) -> Result<(), FsError> {
    if path.is_root() {
        Err(FsError::PermissionDenied)
    } else {
        Ok(())
    }
}

/// A path directly in `dir`, to check a permission for a file not named yet (STOU):
/// [`Principal::allows`] depends only on where a path is, not on its last name.
fn any_child(dir: &VirtualPath) -> Result<VirtualPath, FsError> {
    dir.join("stou").map_err(|_| FsError::NameNotAllowed)
}

/// The storage path of session path `path`: `home` followed by `path`'s segments.
fn storage_path(home: &VirtualPath, path: &VirtualPath) -> Result<VirtualPath, FsError> {
    // Segments of a VirtualPath are valid names, so `join` fails only on a broken invariant.
    rebase(home, path.segments()).ok_or(FsError::NameNotAllowed)
}

/// The session path of storage path `path`, which must lie under `home`.
fn session_path(home: &VirtualPath, path: &VirtualPath) -> Result<VirtualPath, FsError> {
    // A back-end that answers with a path outside the home has failed, not the client.
    let below = path.strip_prefix(home).ok_or(FsError::Local)?;
    rebase(&VirtualPath::root(), below).ok_or(FsError::Local)
}

/// `base` followed by `segments`.
fn rebase(base: &VirtualPath, mut segments: Segments<'_>) -> Option<VirtualPath> {
    segments.try_fold(base.clone(), |acc, name| acc.join(name).ok())
}
