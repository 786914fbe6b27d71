//! A minimal libunftp server for `bench/compare.sh`: anonymous logins (libunftp's
//! `AnonymousAuthenticator` accepts any user name and password), a directory served through
//! `unftp-sbe-fs` (reads and writes), a passive port range.
//!
//! ```text
//! libunftp-bench-server --listen 127.0.0.1:2204 --root DIR --passive-ports 44000-44999 [--no-nodelay]
//! ```
//!
//! libunftp 0.24 has no builder option for TCP_NODELAY, and its own accept loop
//! (`Server::listen`) leaves Nagle's algorithm on for control connections. By default this
//! program therefore accepts connections itself, sets TCP_NODELAY on each control connection and
//! hands it to `Server::service` (which consumes a `Server`, so one is built per connection,
//! cheaply: it is a handful of `Arc`s). `--no-nodelay` uses `Server::listen` instead.
//! Prints `listening on ADDR` once bound.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use libunftp::ServerBuilder;
use unftp_sbe_fs::Filesystem;

struct Args {
    listen: SocketAddr,
    root: PathBuf,
    passive: (u16, u16),
    nodelay: bool,
    idle_timeout: u64,
}

fn parse_args() -> Result<Args, String> {
    let mut listen: SocketAddr = "127.0.0.1:2121".parse().unwrap();
    let mut root = PathBuf::from(".");
    let mut passive = (49152, 65535);
    let mut nodelay = true;
    let mut idle_timeout = 600;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--listen" => listen = value()?.parse().map_err(|e| format!("--listen: {e}"))?,
            "--root" => root = PathBuf::from(value()?),
            "--passive-ports" => {
                let v = value()?;
                let (lo, hi) = v.split_once('-').ok_or("--passive-ports A-B")?;
                passive = (
                    lo.parse().map_err(|e| format!("--passive-ports: {e}"))?,
                    hi.parse().map_err(|e| format!("--passive-ports: {e}"))?,
                );
            }
            "--idle-timeout" => {
                idle_timeout = value()?
                    .parse()
                    .map_err(|e| format!("--idle-timeout: {e}"))?
            }
            "--no-nodelay" => nodelay = false,
            _ => {
                return Err(format!(
                    "unknown argument {a}\nusage: libunftp-bench-server --listen ADDR --root DIR \
                     --passive-ports A-B [--idle-timeout SECS] [--no-nodelay]"
                ))
            }
        }
    }
    Ok(Args {
        listen,
        root,
        passive,
        nodelay,
        idle_timeout,
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "libunftp-bench-server: {e}");
            return ExitCode::from(2);
        }
    };
    if !args.root.is_dir() {
        let _ = writeln!(
            std::io::stderr(),
            "libunftp-bench-server: {} is not a directory",
            args.root.display()
        );
        return ExitCode::FAILURE;
    }
    let root = Arc::new(args.root.clone());
    let (passive, idle_timeout) = (args.passive, args.idle_timeout);
    // A closure, so that the user type (from unftp-core) need not be named.
    let build = move || {
        let root = root.clone();
        // As in libunftp's own examples: one `Filesystem` (holding a directory handle, so one
        // more file descriptor) per session; it can only fail when out of descriptors.
        ServerBuilder::new(Box::new(move || {
            Filesystem::new(root.as_path()).expect("opening the root directory")
        }))
        .greeting("libunftp bench server")
        .passive_ports(passive.0..=passive.1)
        .idle_session_timeout(idle_timeout)
        .build()
        .expect("valid server configuration")
    };
    if !args.nodelay {
        let server = build();
        let _ = writeln!(std::io::stdout(), "listening on {} (Nagle on)", args.listen);
        let _ = std::io::stdout().flush();
        return match server.listen(args.listen.to_string()).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                let _ = writeln!(std::io::stderr(), "libunftp-bench-server: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let listener = match tokio::net::TcpListener::bind(args.listen).await {
        Ok(l) => l,
        Err(e) => {
            let _ = writeln!(
                std::io::stderr(),
                "libunftp-bench-server: bind {}: {e}",
                args.listen
            );
            return ExitCode::FAILURE;
        }
    };
    let _ = writeln!(
        std::io::stdout(),
        "listening on {} (TCP_NODELAY)",
        listener.local_addr().unwrap_or(args.listen)
    );
    let _ = std::io::stdout().flush();
    let mut accept_errors = 0u64;
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                // EMFILE and the like: back off a little instead of spinning, and say so now
                // and then.
                if accept_errors % 1000 == 0 {
                    let _ = writeln!(
                        std::io::stderr(),
                        "libunftp-bench-server: accept: {e} ({} errors so far)",
                        accept_errors + 1
                    );
                }
                accept_errors += 1;
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let server = build();
        tokio::spawn(async move {
            let _ = server.service(stream).await;
        });
    }
}
