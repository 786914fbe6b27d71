//! `ftp`: a command-line FTP client built on `ftp-client-tokio`.
//!
//! ```text
//! ftp ls ftp://ftp.example.net/pub/                  # one line per entry
//! ftp ls --json ftp://alice:s3cret@host:2121/        # the parsed entries, for scripts
//! ftp ls 'ftp://host/pub/;type=d'                    # names only (NLST)
//! ftp get ftp://host/pub/file.iso                    # into ./file.iso
//! ftp get ftp://host/pub/file.iso -o big.iso --resume
//! ftp get 'ftp://host/notes.txt;type=a' -o -         # ASCII mode, to standard output
//! ftp put report.pdf ftp://alice:s3cret@host/inbox/  # URL ends with /: keeps the name
//! ftp put report.pdf ftp://alice:s3cret@host/inbox/r.pdf
//! ftp put - ftp://alice:s3cret@host/inbox/log.txt    # from standard input
//! ftp mirror ftp://host/pub/docs ./docs              # download a tree
//! ftp mirror --reverse ./site ftp://alice:s3cret@host/www   # upload a tree
//! ftp rm ftp://alice:s3cret@host/old.txt
//! ftp rm -r ftp://alice:s3cret@host/old-dir
//! ftp mkdir ftp://alice:s3cret@host/a/b/c            # parents too, like mkdir -p
//! ```
//!
//! Options for every subcommand: `--active` (active mode: the server connects back for
//! data; passive by default), `--timeout SECS` (the connection, each reply and any pause in
//! a transfer, 1 to 31536000 s, one year; otherwise 30 s to connect, 60 s per reply, 30 s of
//! data silence) and
//! `-q`/`--quiet` (no progress bar, no summary line: errors only).
//!
//! **FTPS** (RFC 4217): `ftps://host/...` is implicit TLS (TLS from the first byte, port 990
//! by default); `--tls` with an `ftp://` URL is explicit TLS (`AUTH TLS` after the greeting),
//! required: if the server refuses it, `ftp` stops before sending the user name or password
//! (exit code 3). Either way the data connections are protected too (`PBSZ 0`, `PROT P`)
//! and resume the control connection's TLS session. The server's certificate is checked
//! against the system's trusted roots, or only against the certificates in the PEM file
//! given with `--ca-file FILE` (a CA's, or a self-signed server's own certificate, even one
//! marked as a CA as `openssl req -x509` makes them: its names and dates are still checked);
//! `-k`/`--insecure` accepts any certificate (self-signed test servers: still encrypted, but
//! not authenticated). A failed handshake says why in plain words and names the flag or URL
//! that helps (an untrusted certificate, `ftps://` on an explicit-TLS port, `--tls` on an
//! implicit-TLS one).
//!
//! **URLs** follow RFC 1738: `ftp://[user[:password]@]host[:port][/path][;type=a|i|d]`, with
//! percent-encoding (`a%20b.txt`). Without a user the login is `anonymous` / `anonymous@`.
//! The path is relative to the login directory; `%2F` at its start (or `//`) makes it
//! absolute. `;type=a` transfers in ASCII mode, `;type=i` in binary (the default) and
//! `;type=d` makes `ls` list names only (CWD into the directory, then NLST, as RFC 1738
//! says). `ftps://` URLs use implicit TLS (see above). The exact rules are in the `url`
//! module. A password in a URL is visible to other local users in the process list: use a
//! throw-away account or anonymous access on shared machines.
//!
//! **Output**: `ls` prints `TYPE SIZE YYYY-MM-DD HH:MM NAME` lines sorted by name (the format
//! is described in the `output` module), `ls --json` a JSON array of
//! `{name, type, size, modified, mode}`. A progress bar appears on standard error during
//! `get` and `put` when standard error is a terminal and `--quiet` is not given.
//!
//! **Errors** go to standard error as one line, `ftp: <what>: <why>`, and the exit code says
//! what kind of failure it was:
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success |
//! | 2 | usage: bad arguments or URL (also clap's code for unknown flags) |
//! | 3 | connection: cannot connect, connection lost, no reply in time |
//! | 4 | login refused (530: wrong user or password) |
//! | 5 | remote: the server refused or failed the operation (550 no such file, 552 ...) |
//! | 6 | local: reading or writing a local file failed |
//!
//! Choices worth knowing: `get` names its output after the URL's last segment only when
//! that is a safe local name (no `/`, `\`, `..`, drive prefix or control character);
//! otherwise give `-o FILE`. A failed `get` removes the output file if it created it and
//! nothing was written. A binary `get` shorter than the size the server announced (SIZE)
//! fails (exit code 5, "partial file", as curl's error 18); one longer is stopped as soon as
//! it is (exit code 5, "the server sent more than the N bytes SIZE announced"); a `--resume`
//! that went wrong (a server that accepted REST but sent from the start) cuts the file back
//! to its length before. A transfer the server calls complete without ever opening the data
//! connection fails too. `mkdir` always creates missing parents and accepts an existing
//! directory (`-p` is accepted and changes nothing). `rm` removes one file; `rm -r` removes a
//! directory tree (or a file or link), and refuses (exit code 2) the login directory, the
//! root and their parents however the path is written (`.`, `%2E`, `a/..`, an absolute path
//! naming the login directory ...). `mirror` enters at most 64 levels of directories (a
//! cycle on the server fails, exit code 5) and refuses to write through a symbolic link
//! inside the local target (exit code 6). A mirrored entry the server refuses to send (a
//! dangling symbolic link, a link to a directory shown as a file: 550), or whose name is
//! unsafe (`..`, `/`, `\`, control characters), is skipped with a warning naming its remote
//! path; the rest is copied, and the run ends with exit code 5 and "N entries could not be
//! copied". Text from the server in error messages has its
//! control characters replaced by `?`.

#[path = "ftp/failure.rs"]
mod failure;
#[path = "ftp/output.rs"]
mod output;
#[path = "ftp/url.rs"]
mod url;

use std::ffi::OsStr;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use ftp_client_tokio::ftp_proto::listing::local_name;
use ftp_client_tokio::ftp_proto::{FormatControl, TransferType};
use ftp_client_tokio::{Client, Error, TlsConfig, TransferOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::failure::{Exit, Failure, exit_for, login_exit};
use crate::output::{
    Progress, json_entry, ls_line, printable, printable_text, sort_entries, write_json_array,
};
use crate::url::{FtpUrl, TypeCode};

const AFTER_HELP: &str = "\
URLs: ftp://[USER[:PASSWORD]@]HOST[:PORT][/PATH][;type=a|i|d] (RFC 1738, percent-encoded).
  No USER: anonymous login. PATH is relative to the login directory; a leading %2F makes it
  absolute. ;type=a: ASCII transfers; ;type=d: `ls` lists names only.
  ftps://...: implicit TLS (port 990 by default). --tls: explicit TLS (AUTH TLS), required.
  Certificates are checked against the system roots, or --ca-file; -k/--insecure skips that.

Exit codes:
  0  success
  2  usage: bad arguments or URL
  3  connection: cannot connect, connection lost, no reply in time
  4  login refused (wrong user or password)
  5  remote: the server refused or failed the operation (e.g. 550 no such file)
  6  local: reading or writing a local file failed

Examples:
  ftp ls ftp://ftp.example.net/pub/
  ftp get ftp://host/pub/file.iso -o big.iso --resume
  ftp put report.pdf ftp://alice:s3cret@host/inbox/
  ftp --tls get ftp://alice:s3cret@host/report.pdf
  ftp --ca-file ca.pem ls ftps://alice:s3cret@host/
  ftp mirror ftp://host/pub/docs ./docs
  ftp mirror --reverse ./site ftp://alice:s3cret@host/www";

/// The longest `--timeout`: the client library's own limit (one year).
const MAX_TIMEOUT_SECS: u64 = ftp_client_tokio::MAX_TIMEOUT.as_secs();

/// A command-line FTP client.
#[derive(Debug, Parser)]
#[command(name = "ftp", version, about, after_help = AFTER_HELP)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,

    /// Active mode: the server connects back to this machine for each transfer (the default
    /// is passive mode, where this machine connects to the server).
    #[arg(long, global = true)]
    active: bool,

    /// Seconds to wait for the connection, for each reply and for data to move, from 1 to
    /// 31536000 (one year) (defaults: 30 to connect, 60 per reply, 30 of data silence).
    #[arg(long, global = true, value_name = "SECS",
          value_parser = clap::value_parser!(u64).range(1..=MAX_TIMEOUT_SECS))]
    timeout: Option<u64>,

    /// No progress bar and no summary lines: only errors are printed.
    #[arg(short, long, global = true)]
    quiet: bool,

    /// Explicit FTPS for ftp:// URLs: AUTH TLS after the greeting, required (a server that
    /// refuses it never sees the password). ftps:// URLs use implicit TLS without this flag.
    #[arg(long, global = true)]
    tls: bool,

    /// Trust only the certificates in this PEM file (instead of the system's roots): a CA's,
    /// or a self-signed server's own certificate.
    #[arg(long, global = true, value_name = "FILE")]
    ca_file: Option<PathBuf>,

    /// Accept any server certificate (self-signed test servers; -k as in curl): still
    /// encrypted, but anyone in the middle could read and change everything, password
    /// included.
    #[arg(short = 'k', long, global = true, conflicts_with = "ca_file")]
    insecure: bool,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// List a directory: one `TYPE SIZE YYYY-MM-DD HH:MM NAME` line per entry, sorted by name
    /// (type d, -, l or ?; exact size in bytes; UTC time or -).
    Ls {
        /// The directory (or file) to list, e.g. ftp://host/pub/. With ;type=d, names only.
        url: String,
        /// Print a JSON array of {name, type, size, modified, mode} objects instead (type:
        /// file, dir, symlink or other; modified: RFC 3339 UTC or null; mode: octal or null).
        #[arg(long)]
        json: bool,
    },
    /// Download a file.
    Get {
        /// The file, e.g. ftp://host/pub/file.iso (;type=a for ASCII mode).
        url: String,
        /// Where to write it (default: the URL's last segment in the current directory, if that
        /// is a safe file name); `-` for standard output.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Continue a partial download: keep the local file's bytes and fetch the rest.
        #[arg(long)]
        resume: bool,
    },
    /// Upload a file.
    Put {
        /// The local file; `-` for standard input.
        file: PathBuf,
        /// Where to store it; a URL ending with / keeps the local file's name.
        url: String,
        /// Continue a partial upload: send only what the server lacks.
        #[arg(long)]
        resume: bool,
    },
    /// Download a directory tree (`mirror URL DIR`) or upload one (`mirror --reverse DIR URL`).
    ///
    /// Files are copied byte for byte; local directories are created as needed, remote ones
    /// too (with parents). Existing files are overwritten; nothing is deleted. Downloads go
    /// at most 64 directories deep and never write through a symbolic link in DIR. An entry
    /// the server refuses to send (a dangling symbolic link, say) or whose name is unsafe is
    /// skipped with a warning naming it; the run goes on and then fails (exit code 5,
    /// "N entries could not be copied").
    Mirror {
        /// Upload: the first argument is the local directory, the second the URL.
        #[arg(long)]
        reverse: bool,
        /// The URL of the remote directory (the local directory with --reverse).
        source: String,
        /// The local directory (the remote directory's URL with --reverse).
        dest: String,
    },
    /// Delete a file (or, with -r, a directory and everything in it).
    Rm {
        /// The file or directory to delete.
        url: String,
        /// Delete a directory tree; a file or a symbolic link is deleted as with plain rm.
        /// The login directory, the root and their parents are refused, however written.
        #[arg(short, long)]
        recursive: bool,
    },
    /// Create a directory and its missing parents; an existing directory is fine.
    Mkdir {
        /// The directory to create, e.g. ftp://host/a/b/c.
        url: String,
        /// Accepted for habit: parents are always created.
        #[arg(short, long)]
        parents: bool,
    },
}

/// The options every subcommand shares.
#[derive(Debug, Clone, Copy)]
struct Settings<'a> {
    active: bool,
    timeout: Option<Duration>,
    quiet: bool,
    /// `--tls`: explicit FTPS.
    tls: bool,
    /// `--ca-file`.
    ca_file: Option<&'a Path>,
    /// `--insecure`.
    insecure: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => return report(&Failure::local("cannot start the runtime", err)),
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => report(&failure),
    }
}

fn report(failure: &Failure) -> ExitCode {
    let _ = writeln!(io::stderr(), "{failure}");
    failure.code()
}

async fn run(cli: Cli) -> Result<(), Failure> {
    let settings = Settings {
        active: cli.active,
        timeout: cli.timeout.map(Duration::from_secs),
        quiet: cli.quiet,
        tls: cli.tls,
        ca_file: cli.ca_file.as_deref(),
        insecure: cli.insecure,
    };
    match cli.command {
        Cmd::Ls { url, json } => ls(settings, &parse_url(&url)?, json).await,
        Cmd::Get {
            url,
            output,
            resume,
        } => get(settings, &parse_url(&url)?, output, resume).await,
        Cmd::Put { file, url, resume } => put(settings, &file, &parse_url(&url)?, resume).await,
        Cmd::Mirror {
            reverse: false,
            source,
            dest,
        } => mirror_down(settings, &parse_url(&source)?, Path::new(&dest)).await,
        Cmd::Mirror {
            reverse: true,
            source,
            dest,
        } => mirror_up(settings, Path::new(&source), &parse_url(&dest)?).await,
        Cmd::Rm { url, recursive } => rm(settings, &parse_url(&url)?, recursive).await,
        Cmd::Mkdir { url, parents: _ } => mkdir(settings, &parse_url(&url)?).await,
    }
}

/// Parses a URL argument; a bad one is a usage error. The text is echoed only when it holds
/// no user information (which may carry a password).
fn parse_url(text: &str) -> Result<FtpUrl, Failure> {
    FtpUrl::parse(text).map_err(|err| {
        if text.contains('@') {
            Failure::usage("bad URL", err)
        } else {
            Failure::usage(format!("bad URL {text:?}"), err)
        }
    })
}

/// The TLS settings for `url`: `None` for plain FTP. `--tls` with an `ftps://` URL, and
/// `--insecure` or `--ca-file` without TLS, are usage errors (they would mean nothing).
fn tls_config(settings: Settings<'_>, url: &FtpUrl) -> Result<Option<TlsConfig>, Failure> {
    if settings.tls && url.implicit_tls {
        return Err(Failure::usage(
            "--tls",
            "ftps:// URLs already use (implicit) TLS; --tls is for ftp:// URLs",
        ));
    }
    if !settings.tls && !url.implicit_tls {
        if settings.insecure || settings.ca_file.is_some() {
            return Err(Failure::usage(
                "--insecure/--ca-file",
                "they need TLS: add --tls or use an ftps:// URL",
            ));
        }
        return Ok(None);
    }
    let config = TlsConfig::new();
    let config = if settings.insecure {
        config.danger_accept_invalid_certs()
    } else if let Some(file) = settings.ca_file {
        config
            .add_root_pem_file(file)
            .map_err(|err| Failure::new(Exit::Local, "--ca-file", err))?
    } else {
        config
            .with_system_roots()
            .map_err(|err| Failure::new(Exit::Local, "system certificates", err))?
    };
    Ok(Some(config))
}

/// Connects (with TLS as the URL and flags say), logs in and applies the URL's `;type=a`.
async fn open(settings: Settings<'_>, url: &FtpUrl) -> Result<Client, Failure> {
    let mut builder = Client::builder().passive(!settings.active);
    if let Some(t) = settings.timeout {
        builder = builder.connect_timeout(t).reply_timeout(t).data_timeout(t);
    }
    match tls_config(settings, url)? {
        Some(config) if url.implicit_tls => builder = builder.implicit_tls(config),
        Some(config) => builder = builder.tls(config),
        None => {}
    }
    let mut client = builder
        .connect((url.host.as_str(), url.port))
        .await
        .map_err(|err| Failure::connect(&url.authority(), &err, url.implicit_tls))?;
    let (user, password) = url.login();
    if let Err(err) = client.login(user, password).await {
        return Err(Failure::new(
            login_exit(&err),
            format!("login as {user} at {}", url.authority()),
            err,
        ));
    }
    if url.typecode == Some(TypeCode::Ascii) {
        client
            .set_type(TransferType::Ascii(FormatControl::NonPrint))
            .await
            .map_err(|err| Failure::client("TYPE A", &err))?;
    }
    Ok(client)
}

/// Ends the session politely, unless the connection is already gone.
async fn finish(client: Client, result: &Result<(), Failure>) {
    if result.as_ref().is_err_and(|f| f.exit() == Exit::Connection) {
        return;
    }
    let _ = tokio::time::timeout(Duration::from_secs(5), client.quit()).await;
}

/// Refuses `;type=d` for a subcommand that moves files.
fn no_listing_type(url: &FtpUrl, what: &str) -> Result<(), Failure> {
    if url.typecode == Some(TypeCode::Dir) {
        return Err(Failure::usage(
            format!("{what} {url}"),
            ";type=d asks for a listing: use `ftp ls`",
        ));
    }
    Ok(())
}

async fn ls(settings: Settings<'_>, url: &FtpUrl, json: bool) -> Result<(), Failure> {
    let mut client = open(settings, url).await?;
    let result = ls_inner(&mut client, url, json).await;
    finish(client, &result).await;
    result
}

async fn ls_inner(client: &mut Client, url: &FtpUrl, json: bool) -> Result<(), Failure> {
    let what = format!("ls {url}");
    let path = url.path();
    if url.typecode == Some(TypeCode::Dir) {
        // RFC 1738: CWD into the directory, then NLST without an argument. `NLST dir` makes
        // many servers (vsftpd, proftpd, ours) print `dir/name` paths instead of names.
        let dir = url.dir_path();
        if !dir.is_empty() {
            client
                .cwd(&dir)
                .await
                .map_err(|err| Failure::client(&what, &err))?;
        }
        let mut names = client
            .nlst("")
            .await
            .map_err(|err| Failure::client(&what, &err))?;
        names.sort();
        stream_stdout(|out| {
            if json {
                write_json_array(out, names.into_iter().map(serde_json::Value::String))?;
                return out.write_all(b"\n");
            }
            names.iter().try_for_each(|name| {
                out.write_all(printable(name.as_bytes()).as_bytes())?;
                out.write_all(b"\n")
            })
        })
    } else {
        let mut entries = client
            .list(&path)
            .await
            .map_err(|err| Failure::client(&what, &err))?;
        sort_entries(&mut entries);
        stream_stdout(|out| {
            if json {
                write_json_array(out, entries.iter().map(json_entry))?;
                return out.write_all(b"\n");
            }
            entries.iter().try_for_each(|entry| {
                out.write_all(ls_line(entry).as_bytes())?;
                out.write_all(b"\n")
            })
        })
    }
}

/// Writes to standard output through a buffer as `write` formats: a listing of millions of
/// entries is never held a second time as text.
fn stream_stdout(
    write: impl FnOnce(&mut io::BufWriter<io::StdoutLock<'static>>) -> io::Result<()>,
) -> Result<(), Failure> {
    let mut out = io::BufWriter::new(io::stdout().lock());
    write(&mut out)
        .and_then(|()| out.flush())
        .map_err(|err| Failure::local("standard output", err))
}

/// Where `get` writes.
#[derive(Debug)]
enum Target {
    Stdout,
    File(PathBuf),
}

async fn get(
    settings: Settings<'_>,
    url: &FtpUrl,
    output: Option<PathBuf>,
    resume: bool,
) -> Result<(), Failure> {
    let what = format!("get {url}");
    no_listing_type(url, "get")?;
    let Some(name) = url.name() else {
        return Err(Failure::usage(
            what,
            "the URL names a directory (it ends with /): use `ftp ls` or `ftp mirror`",
        ));
    };
    let target = match output {
        Some(path) if path.as_os_str() == "-" => Target::Stdout,
        Some(path) => Target::File(path),
        None => match local_name(name.as_bytes()) {
            Ok(safe) => Target::File(PathBuf::from(safe)),
            Err(err) => {
                return Err(Failure::usage(
                    what,
                    format!(
                        "{:?} is not a safe local file name ({err}): choose one with -o FILE",
                        printable(name.as_bytes())
                    ),
                ));
            }
        },
    };
    if resume && matches!(target, Target::Stdout) {
        return Err(Failure::usage(
            what,
            "--resume needs an output file, not -o -",
        ));
    }
    let mut client = open(settings, url).await?;
    let result = get_inner(&mut client, settings, url, name, target, resume).await;
    finish(client, &result).await;
    result
}

async fn get_inner(
    client: &mut Client,
    settings: Settings<'_>,
    url: &FtpUrl,
    name: &str,
    target: Target,
    resume: bool,
) -> Result<(), Failure> {
    let what = format!("get {url}");
    let path = url.path();
    // SIZE first: the bar's length, and a missing file is reported before a local file is
    // created or truncated. A server without SIZE is fine.
    let size = match client.size(&path).await {
        Ok(size) => Some(size),
        Err(err) if err.is_not_found() || exit_for(&err) == Exit::Connection => {
            return Err(Failure::client(what, &err));
        }
        Err(_) => None,
    };
    match target {
        Target::Stdout => {
            let progress = Progress::new(settings.quiet, name, size, 0);
            // As download_file does for a file: in binary mode the length must be SIZE's, and
            // the download stops as soon as it is longer.
            let ascii = url.typecode == Some(TypeCode::Ascii);
            let max = size.filter(|_| !ascii);
            let result = retr_to_stdout(client, &path, &what, progress.updater(0), max).await;
            progress.finish();
            match (result?, size) {
                (got, Some(expected)) if !ascii && got != expected => {
                    Err(Failure::client(what, &Error::PartialFile { expected, got }))
                }
                _ => Ok(()),
            }
        }
        Target::File(local) => {
            let existed = fs::symlink_metadata(&local).is_ok();
            let start = if resume {
                fs::metadata(&local).map_or(0, |m| m.len())
            } else {
                0
            };
            // download_file starts over when the local file is longer than the remote one.
            let base = match size {
                Some(size) if size < start => {
                    notice(
                        settings,
                        &what,
                        &format!(
                            "starting over: the local file ({start} bytes) is longer than the \
                             remote one ({size} bytes), so it is not a partial copy of it"
                        ),
                    );
                    0
                }
                _ => start,
            };
            let progress = Progress::new(settings.quiet, name, size, base);
            let mut options = TransferOptions::new()
                .resume(resume)
                .progress(progress.updater(base));
            if let Some(size) = size {
                options = options.remote_size(size);
            }
            let result = client.download_file(&path, &local, options).await;
            progress.finish();
            result.map(drop).map_err(|err| {
                if !existed && fs::metadata(&local).is_ok_and(|m| m.len() == 0) {
                    let _ = fs::remove_file(&local);
                }
                Failure::client(format!("{what} -> {}", local.display()), &err)
            })
        }
    }
}

/// Copies the download to standard output; returns the bytes written. A download longer
/// than `max` bytes stops there (its first `max` bytes written) with [`Error::TooLong`], and
/// the transfer is aborted.
async fn retr_to_stdout(
    client: &mut Client,
    path: &str,
    what: &str,
    mut progress: impl FnMut(u64),
    max: Option<u64>,
) -> Result<u64, Failure> {
    let mut stream = client
        .retr(path)
        .await
        .map_err(|err| Failure::client(what, &err))?;
    let mut stdout = tokio::io::stdout();
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    loop {
        let n = stream
            .read(&mut buf)
            .await
            .map_err(|err| Failure::client(what, &from_stream(err)))?;
        if n == 0 {
            break;
        }
        let room = max.map_or(n, |max| {
            usize::try_from(max.saturating_sub(total)).map_or(n, |room| room.min(n))
        });
        stdout
            .write_all(buf.get(..room).unwrap_or_default())
            .await
            .map_err(|err| Failure::local("standard output", err))?;
        total += room as u64;
        progress(total);
        if let Some(expected) = max.filter(|_| room < n) {
            let _ = stdout.flush().await;
            return Err(Failure::client(what, &Error::TooLong { expected }));
        }
    }
    stdout
        .flush()
        .await
        .map_err(|err| Failure::local("standard output", err))?;
    Ok(total)
}

/// The client error a download stream's `io::Error` carries (a plain I/O error otherwise).
fn from_stream(err: io::Error) -> Error {
    if !err.get_ref().is_some_and(|inner| inner.is::<Error>()) {
        return Error::Io(err);
    }
    match err.into_inner().map(|inner| inner.downcast::<Error>()) {
        Some(Ok(error)) => *error,
        Some(Err(other)) => Error::Io(io::Error::other(other)),
        None => Error::Io(io::ErrorKind::Other.into()),
    }
}

async fn put(
    settings: Settings<'_>,
    file: &Path,
    url: &FtpUrl,
    resume: bool,
) -> Result<(), Failure> {
    let what = format!("put {} {url}", file.display());
    no_listing_type(url, "put")?;
    let stdin = file.as_os_str() == "-";
    let remote = if url.is_dir() {
        if stdin {
            return Err(Failure::usage(
                what,
                "standard input has no name: end the URL with the remote file name",
            ));
        }
        let Some(name) = file.file_name().and_then(OsStr::to_str) else {
            return Err(Failure::usage(
                what,
                "the local file has no UTF-8 name: end the URL with the remote file name",
            ));
        };
        url.join(name)
    } else {
        url.path()
    };
    let len = if stdin {
        if resume {
            return Err(Failure::usage(what, "--resume needs a local file, not -"));
        }
        None
    } else {
        let meta =
            fs::metadata(file).map_err(|err| Failure::local(file.display().to_string(), err))?;
        if meta.is_dir() {
            return Err(Failure::usage(
                what,
                "is a directory: use `ftp mirror --reverse DIR URL`",
            ));
        }
        Some(meta.len())
    };
    let mut client = open(settings, url).await?;
    let result = if stdin {
        client
            .stor(&remote, tokio::io::stdin())
            .await
            .map(drop)
            .map_err(|err| Failure::client(&what, &err))
    } else {
        // A resumed upload counts only what it sends: a spinner, not a bar that starts at 0.
        let total = if resume { None } else { len };
        let label = file.file_name().map_or_else(
            || file.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        if resume
            && let (Some(len), Ok(have)) = (len, client.size(&remote).await)
            && have > len
        {
            // upload_file starts over then (STOR replaces the remote file).
            notice(
                settings,
                &what,
                &format!(
                    "starting over: the remote file ({have} bytes) is longer than the local \
                     one ({len} bytes), so it is not a partial copy of it"
                ),
            );
        }
        let progress = Progress::new(settings.quiet, &label, total, 0);
        let options = TransferOptions::new()
            .resume(resume)
            .progress(progress.updater(0));
        let result = client.upload_file(file, &remote, options).await;
        progress.finish();
        result.map(drop).map_err(|err| Failure::client(&what, &err))
    };
    finish(client, &result).await;
    result
}

/// The remote directory argument for the tree operations. The client trims trailing `/`,
/// which would turn the root `/` into the login directory, so the root is entered first.
async fn remote_dir(client: &mut Client, url: &FtpUrl, what: &str) -> Result<String, Failure> {
    let dir = url.dir_path();
    if dir == "/" {
        client
            .cwd("/")
            .await
            .map_err(|err| Failure::client(what, &err))?;
        return Ok(String::new());
    }
    Ok(dir)
}

async fn mirror_down(settings: Settings<'_>, url: &FtpUrl, dir: &Path) -> Result<(), Failure> {
    let what = format!("mirror {url} {}", dir.display());
    no_listing_type(url, "mirror")?;
    let mut client = open(settings, url).await?;
    let result = async {
        let remote = remote_dir(&mut client, url, &what).await?;
        // An entry the server refuses (a dangling symbolic link, a link to a directory that
        // LIST shows as a file) or names unsafely is skipped with a warning, as lftp does;
        // the run still fails at the end. Local failures and lost connections stop it.
        let mut skipped = 0u64;
        let files = client
            .download_dir_with(&remote, dir, |path, err| {
                if exit_for(&err) != Exit::Remote {
                    return Err(err);
                }
                skipped += 1;
                let warning = Failure::client(format!("{what}: skipped {path}"), &err);
                let _ = writeln!(io::stderr(), "{warning}");
                Ok(())
            })
            .await
            .map_err(|err| Failure::client(&what, &err))?;
        let done = format!("{files} file(s) downloaded into {}", dir.display());
        if skipped > 0 {
            return Err(Failure::new(
                Exit::Remote,
                &what,
                format!("{skipped} entries could not be copied ({done})"),
            ));
        }
        summary(settings, &done);
        Ok::<(), Failure>(())
    }
    .await;
    finish(client, &result).await;
    result
}

async fn mirror_up(settings: Settings<'_>, dir: &Path, url: &FtpUrl) -> Result<(), Failure> {
    let what = format!("mirror --reverse {} {url}", dir.display());
    no_listing_type(url, "mirror")?;
    let meta = fs::metadata(dir).map_err(|err| Failure::local(dir.display().to_string(), err))?;
    if !meta.is_dir() {
        return Err(Failure::usage(
            what,
            "not a directory: use `ftp put FILE URL` for a file",
        ));
    }
    let mut client = open(settings, url).await?;
    let result = async {
        let remote = remote_dir(&mut client, url, &what).await?;
        let files = client
            .upload_dir(dir, &remote)
            .await
            .map_err(|err| Failure::client(&what, &err))?;
        summary(settings, &format!("{files} file(s) uploaded to {url}"));
        Ok::<(), Failure>(())
    }
    .await;
    finish(client, &result).await;
    result
}

/// `ftp: <what>: <line>` on standard error, unless `--quiet`: something the user should know
/// about a command that goes on (control characters replaced, as in errors).
fn notice(settings: Settings<'_>, what: &str, line: &str) {
    if !settings.quiet {
        let _ = writeln!(
            io::stderr(),
            "ftp: {}",
            printable_text(&format!("{what}: {line}"))
        );
    }
}

/// A success line on standard error, unless `--quiet`.
fn summary(settings: Settings<'_>, line: &str) {
    if !settings.quiet {
        let _ = writeln!(io::stderr(), "{line}");
    }
}

async fn rm(settings: Settings<'_>, url: &FtpUrl, recursive: bool) -> Result<(), Failure> {
    let what = format!("rm {url}");
    // Checked and sent normalised (`.`, `..`, `%2E` resolved), so however the login directory
    // or the root is written, it is what the check sees.
    let path = url.normalized_path();
    if url.holds_login_dir() {
        return Err(refuse_login_dir(what));
    }
    let mut client = open(settings, url).await?;
    let result = async {
        if path.starts_with('/') && holds_cwd(&mut client, &path).await {
            return Err(refuse_login_dir(what.clone()));
        }
        rm_inner(&mut client, &path, recursive, &what).await
    }
    .await;
    finish(client, &result).await;
    result
}

fn refuse_login_dir(what: String) -> Failure {
    Failure::usage(
        what,
        "refusing to remove the login directory, the root, or a directory above the login \
         directory",
    )
}

/// True when the absolute, normalised `path` is the current (login) directory or one of its
/// parents, as PWD says. Unknown (no usable PWD) counts as no.
async fn holds_cwd(client: &mut Client, path: &str) -> bool {
    let Ok(cwd) = client.pwd().await else {
        return false;
    };
    let cwd = cwd.trim_end_matches('/');
    cwd == path
        || cwd
            .strip_prefix(path)
            .is_some_and(|rest| rest.starts_with('/'))
}

async fn rm_inner(
    client: &mut Client,
    path: &str,
    recursive: bool,
    what: &str,
) -> Result<(), Failure> {
    let fail = |err: &Error| Failure::client(what, err);
    if recursive && is_real_dir(client, path).await.map_err(|e| fail(&e))? {
        return client.remove_dir_all(path).await.map_err(|e| fail(&e));
    }
    match client.remove(path).await {
        Ok(()) => Ok(()),
        Err(err) if err.is_not_found() && !recursive => {
            if client.is_dir(path).await.unwrap_or(false) {
                Err(Failure::new(
                    Exit::Remote,
                    what,
                    format!("{err} (a directory: use rm -r)"),
                ))
            } else {
                Err(fail(&err))
            }
        }
        Err(err) => Err(fail(&err)),
    }
}

/// True when `path` is a directory and not a link to one (a link is removed, never the tree
/// it points to): MLST's type when the server has it, a CWD test otherwise.
async fn is_real_dir(client: &mut Client, path: &str) -> Result<bool, Error> {
    match client.mlst(path).await {
        Ok(entry) => Ok(entry.kind.is_dir()),
        Err(err) if exit_for(&err) == Exit::Connection => Err(err),
        Err(_) => client.is_dir(path).await,
    }
}

async fn mkdir(settings: Settings<'_>, url: &FtpUrl) -> Result<(), Failure> {
    let what = format!("mkdir {url}");
    let path = url.dir_path();
    if path.is_empty() {
        return Err(Failure::usage(what, "the URL names no directory"));
    }
    let mut client = open(settings, url).await?;
    let result = client
        .mkdir_all(&path)
        .await
        .map_err(|err| Failure::client(&what, &err));
    finish(client, &result).await;
    result
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn k_is_insecure_anywhere_on_the_line() {
        for args in [
            &["ftp", "-k", "--tls", "ls", "ftp://h/"][..],
            &["ftp", "--tls", "ls", "-k", "ftp://h/"][..],
            &["ftp", "--insecure", "--tls", "ls", "ftp://h/"][..],
        ] {
            let cli = Cli::try_parse_from(args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
            assert!(cli.insecure, "{args:?}");
        }
        let cli = Cli::try_parse_from(["ftp", "--tls", "ls", "ftp://h/"]).unwrap();
        assert!(!cli.insecure);
        // Like --insecure, -k cannot go with --ca-file.
        assert!(
            Cli::try_parse_from(["ftp", "-k", "--ca-file", "ca.pem", "ls", "ftp://h/"]).is_err()
        );
    }

    #[test]
    fn help_lists_exit_codes() {
        let help = Cli::command().render_help().to_string();
        for line in [
            "2  usage",
            "3  connection",
            "4  login",
            "5  remote",
            "6  local",
        ] {
            assert!(help.contains(line), "{line:?} missing from:\n{help}");
        }
    }
}
