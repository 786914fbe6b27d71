//! `ftp-wire`: decode an FTP control-connection capture with the `ftp-proto` wire layer.
//!
//! Reads raw control-channel bytes from standard input and prints what `ftp-proto` makes of
//! them, one item per line: commands (client to server, the default) or replies (`--replies`,
//! server to client). Passwords are redacted. Handy to see how a client's or server's traffic is
//! understood, e.g.:
//!
//! ```text
//! printf 'USER anonymous\r\nPASS x\r\nTYPE I\r\nEPSV\r\nRETR a b.txt\r\n' | cargo run --bin ftp-wire
//! printf '220-hi\r\n220 ready\r\n227 Entering Passive Mode (127,0,0,1,4,1).\r\n' | cargo run --bin ftp-wire -- --replies
//! ```

use std::io::{self, Read, Write};
use std::process::ExitCode;

use ftp_proto::{Command, Frame, LineFramer, ReplyCode, ReplyParser, addr};

fn usage() -> ExitCode {
    let _ = writeln!(
        io::stderr(),
        "usage: ftp-wire [--replies]   (reads FTP control bytes from stdin)"
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let mut replies = false;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--replies" => replies = true,
            _ => return usage(),
        }
    }
    let mut input = Vec::new();
    if let Err(e) = io::stdin().read_to_end(&mut input) {
        let _ = writeln!(io::stderr(), "ftp-wire: reading stdin: {e}");
        return ExitCode::FAILURE;
    }
    let mut out = io::stdout().lock();
    let result = if replies {
        decode_replies(&input, &mut out)
    } else {
        decode_commands(&input, &mut out)
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(io::stderr(), "ftp-wire: {e}");
            ExitCode::FAILURE
        }
    }
}

fn decode_commands(input: &[u8], out: &mut impl Write) -> io::Result<()> {
    let mut framer = LineFramer::new();
    for frame in framer.frames(input) {
        match frame {
            Frame::Line(line) => match Command::parse(&line) {
                Ok(cmd) => writeln!(out, "command  {cmd}   {:?}", cmd.verb())?,
                Err(e) => writeln!(
                    out,
                    "error    {} {e}   <- {}",
                    e.reply_code(),
                    line.escape_ascii()
                )?,
            },
            Frame::Overlong { limit } => {
                writeln!(out, "error    500 line longer than {limit} bytes")?
            }
            other => writeln!(out, "frame    {other:?}")?,
        }
    }
    Ok(())
}

fn decode_replies(input: &[u8], out: &mut impl Write) -> io::Result<()> {
    let mut parser = ReplyParser::new();
    for reply in parser.replies(input) {
        match reply {
            Ok(r) => {
                write!(out, "reply    {} {:?}", r.code(), r.code().class())?;
                if r.code() == ReplyCode::ENTERING_PASSIVE_MODE {
                    write!(
                        out,
                        "  address {:?}",
                        addr::parse_pasv_reply(r.first_line())
                    )?;
                }
                if r.code() == ReplyCode::ENTERING_EXTENDED_PASSIVE_MODE {
                    write!(out, "  port {:?}", addr::parse_epsv_reply(r.first_line()))?;
                }
                writeln!(out)?;
                for line in r.lines() {
                    writeln!(out, "         | {}", String::from_utf8_lossy(line))?;
                }
            }
            Err(e) => writeln!(out, "error    {e}")?,
        }
    }
    if parser.in_reply() {
        writeln!(out, "error    input ends inside a multi-line reply")?;
    }
    Ok(())
}
