//! The everyday operations: login, directories, listings, file facts, renames, raw commands.

use std::time::SystemTime;

use ftp_proto::client::parse::{Features, parse_mdtm, parse_mlst, parse_pathname, parse_size};
use ftp_proto::listing::{Entry, ListingFormat, ListingParser};
use ftp_proto::{Command, ListArgs, Reply, ReplyCode, Timestamp};

use crate::transfer::unwrap_io;
use crate::{Client, Error};

/// The current UTC time for LIST's year inference.
fn utc_now() -> Timestamp {
    let secs = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    Timestamp::from_unix(secs)
        .or_else(|| Timestamp::new(1970, 1, 1, 0, 0, 0))
        .unwrap_or_else(|| unreachable!("the epoch is a valid time"))
}

fn bad(reply: Reply, reason: impl ToString) -> Error {
    Error::BadReply {
        reply,
        reason: reason.to_string(),
    }
}

/// What follows the last `/` of a path MLST or NLST reported (the whole path when it has
/// none; a trailing `/` is ignored).
fn last_segment(path: &[u8]) -> &[u8] {
    let trimmed = path.strip_suffix(b"/").unwrap_or(path);
    trimmed
        .rsplit(|&b| b == b'/')
        .next()
        .filter(|name| !name.is_empty())
        .unwrap_or(trimmed)
}

fn opt_path(path: &str) -> Option<ftp_proto::FtpPath> {
    (!path.is_empty()).then(|| path.into())
}

impl Client {
    /// Logs in with USER and PASS (PASS only if the server asks for it).
    ///
    /// ```no_run
    /// # async fn run(client: &mut ftp_client_tokio::Client) -> Result<(), ftp_client_tokio::Error> {
    /// client.login("alice", "secret").await?;
    /// # Ok(()) }
    /// ```
    pub async fn login(&mut self, user: &str, password: &str) -> Result<(), Error> {
        self.login_with_account(user, password, None).await
    }

    /// Logs in with USER, PASS and, if the server asks for one (332), ACCT.
    pub async fn login_with_account(
        &mut self,
        user: &str,
        password: &str,
        account: Option<&str>,
    ) -> Result<(), Error> {
        let mut reply = self.quote(Command::User(user.into())).await?;
        if reply.code() == ReplyCode::NEED_PASSWORD {
            reply = self
                .quote(Command::Pass(password.as_bytes().to_vec().into()))
                .await?;
        }
        if reply.code() == ReplyCode::NEED_ACCOUNT
            && let Some(account) = account
        {
            reply = self
                .quote(Command::Acct(account.as_bytes().to_vec().into()))
                .await?;
        }
        if reply.code().is_completion() {
            self.transfer_type = None;
            Ok(())
        } else {
            Err(Error::Reply(reply))
        }
    }

    /// The current directory (PWD), with RFC 959's doubled quotes undone.
    pub async fn pwd(&mut self) -> Result<String, Error> {
        let reply = self.command_ok(Command::Pwd).await?;
        match parse_pathname(&reply) {
            Ok(path) => Ok(String::from_utf8_lossy(&path).into_owned()),
            Err(e) => Err(bad(reply, e)),
        }
    }

    /// Changes the current directory (CWD).
    pub async fn cwd(&mut self, path: &str) -> Result<(), Error> {
        self.command_ok(Command::Cwd(path.into())).await.map(drop)
    }

    /// Changes to the parent directory (CDUP).
    pub async fn cdup(&mut self) -> Result<(), Error> {
        self.command_ok(Command::Cdup).await.map(drop)
    }

    /// Creates a directory (MKD) and returns the path the server reports (or `path`).
    pub async fn mkdir(&mut self, path: &str) -> Result<String, Error> {
        let reply = self.command_ok(Command::Mkd(path.into())).await?;
        Ok(parse_pathname(&reply)
            .map(|p| String::from_utf8_lossy(&p).into_owned())
            .unwrap_or_else(|_| path.to_string()))
    }

    /// Creates a directory and every missing parent, like `mkdir -p`. Directories that
    /// already exist are fine.
    pub async fn mkdir_all(&mut self, path: &str) -> Result<(), Error> {
        let absolute = path.starts_with('/');
        let mut prefix = String::new();
        for part in path.split('/').filter(|p| !p.is_empty()) {
            if absolute || !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(part);
            let reply = self.quote(Command::Mkd(prefix.as_str().into())).await?;
            if !reply.code().is_completion() && !self.is_dir(&prefix).await? {
                return Err(Error::Reply(reply));
            }
        }
        Ok(())
    }

    /// True when `path` is a directory the server lets us enter (tested with CWD, then back).
    pub async fn is_dir(&mut self, path: &str) -> Result<bool, Error> {
        let here = self.pwd().await?;
        let reply = self.quote(Command::Cwd(path.into())).await?;
        if reply.code().is_completion() {
            self.cwd(&here).await?;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    /// Removes an empty directory (RMD).
    pub async fn rmdir(&mut self, path: &str) -> Result<(), Error> {
        self.command_ok(Command::Rmd(path.into())).await.map(drop)
    }

    /// Removes a directory and everything in it.
    pub async fn remove_dir_all(&mut self, path: &str) -> Result<(), Error> {
        let mut dirs = vec![(crate::files::trim_dir(path), false)];
        // Depth first without recursion: a directory is removed after its children.
        while let Some((dir, listed)) = dirs.pop() {
            if listed {
                self.rmdir(&dir).await?;
                continue;
            }
            dirs.push((dir.clone(), true));
            for entry in self.list(&dir).await? {
                let Ok(name) = ftp_proto::listing::local_name(&entry.name) else {
                    continue;
                };
                let child = if dir.ends_with('/') {
                    format!("{dir}{name}")
                } else {
                    format!("{dir}/{name}")
                };
                if entry.kind.is_dir() {
                    dirs.push((child, false));
                } else {
                    self.remove(&child).await?;
                }
            }
        }
        Ok(())
    }

    /// Deletes a file (DELE).
    pub async fn remove(&mut self, path: &str) -> Result<(), Error> {
        self.command_ok(Command::Dele(path.into())).await.map(drop)
    }

    /// Renames `from` to `to` (RNFR, RNTO).
    pub async fn rename(&mut self, from: &str, to: &str) -> Result<(), Error> {
        let reply = self.quote(Command::Rnfr(from.into())).await?;
        if reply.code() != ReplyCode::FILE_ACTION_PENDING {
            return Err(Error::Reply(reply));
        }
        self.command_ok(Command::Rnto(to.into())).await.map(drop)
    }

    /// A file's size in bytes (SIZE, in binary mode so the count is exact).
    pub async fn size(&mut self, path: &str) -> Result<u64, Error> {
        self.ensure_binary().await?;
        let reply = self.command_ok(Command::Size(path.into())).await?;
        parse_size(&reply).map_err(|e| bad(reply, e))
    }

    /// A file's modification time, UTC (MDTM).
    pub async fn mdtm(&mut self, path: &str) -> Result<Timestamp, Error> {
        let reply = self
            .command_ok(Command::Mdtm {
                time: None,
                path: path.into(),
            })
            .await?;
        parse_mdtm(&reply).map_err(|e| bad(reply, e))
    }

    /// Sets a file's modification time (MFMT).
    pub async fn set_mtime(&mut self, path: &str, time: Timestamp) -> Result<(), Error> {
        self.command_ok(Command::Mfmt {
            time,
            path: path.into(),
        })
        .await
        .map(drop)
    }

    /// The server's features (FEAT), asked once per connection and remembered. A server that
    /// does not know FEAT has none.
    pub async fn feat(&mut self) -> Result<&Features, Error> {
        if self.features.is_none() {
            let reply = self.quote(Command::Feat).await?;
            let features = if reply.code().is_completion() {
                Features::parse(&reply)
            } else {
                Features::default()
            };
            self.features = Some(features);
        }
        Ok(self.features.get_or_insert_with(Features::default))
    }

    /// One object's facts (MLST).
    pub async fn mlst(&mut self, path: &str) -> Result<Entry, Error> {
        let reply = self.command_ok(Command::Mlst(opt_path(path))).await?;
        parse_mlst(&reply).map_err(|e| bad(reply, e))
    }

    /// A site-specific command (`SITE args`); the reply whatever its code.
    pub async fn site(&mut self, args: &str) -> Result<Reply, Error> {
        self.quote(Command::Site(args.as_bytes().to_vec())).await
    }

    /// NOOP: keeps the connection alive and checks that the server answers.
    pub async fn noop(&mut self) -> Result<(), Error> {
        self.command_ok(Command::Noop).await.map(drop)
    }

    /// Sets the type of later file transfers: [`ftp_proto::TransferType::Image`] (binary,
    /// the default: bytes as they are) or [`ftp_proto::TransferType::Ascii`] (text: lines
    /// end in CRLF on the wire and in LF locally, converted both ways). Listings always use
    /// ASCII and SIZE binary, whatever is set here.
    pub async fn set_type(&mut self, ty: ftp_proto::TransferType) -> Result<(), Error> {
        self.file_type = ty;
        self.ensure_type(ty).await
    }

    /// Ends the session politely (QUIT) and closes the connection.
    pub async fn quit(mut self) -> Result<(), Error> {
        let _ = self.settle().await;
        let reply = self.quote(Command::Quit).await?;
        if reply.code().is_completion() {
            Ok(())
        } else {
            Err(Error::Reply(reply))
        }
    }

    /// Lists a directory, parsed: MLSD when the server has it (exact sizes and UTC times),
    /// LIST otherwise (Unix, DOS/IIS and EPLF formats are recognised). `.` and `..` and names
    /// that could not be a directory entry (with `/` or NUL) are left out. A file's path
    /// lists that one file, as LIST does (MLSD refuses files: MLST is asked then, and the
    /// entry is named by the path's last segment).
    pub async fn list(&mut self, path: &str) -> Result<Vec<Entry>, Error> {
        let mlsd = self.feat().await?.supports_mlsd();
        if mlsd {
            let mlsd = Command::Mlsd(opt_path(path));
            match self.read_entries(mlsd, Some(ListingFormat::Mlsx)).await {
                Ok(entries) => return Ok(entries),
                Err(e) if matches!(e.code().map(|c| c.get()), Some(500..=502)) => {}
                Err(e) if e.is_not_found() && !path.is_empty() => {
                    return match self.mlst(path).await {
                        Ok(mut entry) if !entry.kind.is_dir() => {
                            entry.name = last_segment(&entry.name).to_vec();
                            Ok(vec![entry])
                        }
                        Err(other) if other.is_fatal() => Err(other),
                        _ => Err(e),
                    };
                }
                Err(e) => return Err(e),
            }
        }
        let args = ListArgs {
            options: Some("-a".into()),
            path: opt_path(path),
        };
        match self.read_entries(Command::List(args), None).await {
            // Some servers take `-a` for a file name.
            Err(e) if e.is_not_found() || e.code().map(|c| c.get()) == Some(501) => {
                let args = ListArgs {
                    options: None,
                    path: opt_path(path),
                };
                self.read_entries(Command::List(args), None).await
            }
            other => other,
        }
    }

    /// The raw LIST output for `path` (one line per entry, in the server's format).
    pub async fn list_raw(&mut self, path: &str) -> Result<Vec<u8>, Error> {
        self.read_listing(Command::List(ListArgs {
            options: None,
            path: opt_path(path),
        }))
        .await
    }

    /// Names in a directory (NLST), as the server gives them: bare names, or paths such as
    /// `dir/a.txt` when `path` names a directory (servers differ). Entries whose last path
    /// component is `.` or `..` (pure-ftpd names `.` and `..`, or `dir/.` and `dir/..`) are
    /// left out, as [`Client::list`] leaves them out; empty lines too.
    pub async fn nlst(&mut self, path: &str) -> Result<Vec<String>, Error> {
        let command = Command::Nlst(ListArgs {
            options: None,
            path: opt_path(path),
        });
        let cap = self.options.max_listing_entries;
        let mut names = Vec::new();
        self.read_listing_lines(command, |line| {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.is_empty() || matches!(last_segment(line), b"." | b"..") {
                return Ok(());
            }
            if names.len() >= cap {
                return Err(Error::TooManyEntries(cap));
            }
            names.push(String::from_utf8_lossy(line).into_owned());
            Ok(())
        })
        .await?;
        Ok(names)
    }

    /// Runs a listing command and parses its lines as they arrive (in `format`, else
    /// auto-detected): no copy of the raw listing is kept, and at most `max_listing_entries`
    /// entries are.
    async fn read_entries(
        &mut self,
        command: Command,
        format: Option<ListingFormat>,
    ) -> Result<Vec<Entry>, Error> {
        let parser = ListingParser::new(utc_now());
        let mut parser = match format {
            Some(format) => parser.with_format(format),
            None => parser,
        };
        let cap = self.options.max_listing_entries;
        let mut entries = Vec::new();
        self.read_listing_lines(command, |line| {
            if let Some(entry) = parser.push_line(line) {
                if entries.len() >= cap {
                    return Err(Error::TooManyEntries(cap));
                }
                entries.push(entry);
            }
            Ok(())
        })
        .await?;
        Ok(entries)
    }

    /// Runs a listing command and collects its data, capped at `max_listing` bytes.
    async fn read_listing(&mut self, command: Command) -> Result<Vec<u8>, Error> {
        let mut out = Vec::new();
        self.read_listing_data(command, |data| {
            out.extend_from_slice(data);
            Ok(())
        })
        .await?;
        Ok(out)
    }

    /// Runs a listing command and hands `on_line` each line of its data as it arrives,
    /// without its LF (a last line without one too). An error from `on_line` stops the
    /// listing (the transfer is aborted before the next command).
    async fn read_listing_lines(
        &mut self,
        command: Command,
        mut on_line: impl FnMut(&[u8]) -> Result<(), Error>,
    ) -> Result<(), Error> {
        // The start of a line whose LF has not arrived yet (bounded by `max_listing`).
        let mut partial = Vec::new();
        self.read_listing_data(command, |mut data| {
            while let Some(at) = data.iter().position(|&b| b == b'\n') {
                let (head, tail) = data.split_at(at);
                if partial.is_empty() {
                    on_line(head)?;
                } else {
                    partial.extend_from_slice(head);
                    on_line(&partial)?;
                    partial.clear();
                }
                data = tail.get(1..).unwrap_or_default();
            }
            partial.extend_from_slice(data);
            Ok(())
        })
        .await?;
        if partial.is_empty() {
            Ok(())
        } else {
            on_line(&partial)
        }
    }

    /// Runs a listing command and hands `on_data` its data as it arrives, capped at
    /// `max_listing` bytes.
    async fn read_listing_data(
        &mut self,
        command: Command,
        mut on_data: impl FnMut(&[u8]) -> Result<(), Error>,
    ) -> Result<(), Error> {
        // Listings are text: ASCII type, as RFC 959 specifies for LIST and NLST.
        self.ensure_type(ftp_proto::TransferType::Ascii(
            ftp_proto::FormatControl::NonPrint,
        ))
        .await?;
        let cap = self.options.max_listing;
        let mut stream = self.receive(command, None).await?;
        let mut total = 0usize;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = tokio::io::AsyncReadExt::read(&mut stream, &mut buf)
                .await
                .map_err(unwrap_io)?;
            if n == 0 {
                return Ok(());
            }
            total += n;
            if total > cap {
                // Dropping the stream aborts the transfer before the next command.
                return Err(Error::ListingTooLarge(cap));
            }
            on_data(buf.get(..n).unwrap_or_default())?;
        }
    }
}
