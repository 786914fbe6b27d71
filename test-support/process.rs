//! Test helpers every crate's integration tests share, included with `#[path]` (plain std,
//! no dependency): the skip rule, running a program with a deadline, deterministic data.
//!
//! - [`loud`], [`skip`], [`tool_available`]: a test whose tool or server is missing says
//!   `SKIPPED` past the harness's capture, or fails when `CI` is set (CI installs everything;
//!   nothing may be skipped there).
//! - [`run`] / [`Run`]: a program run with stdin closed, output captured, killed (and the
//!   test failed) at its deadline.
//! - [`random_bytes`]: the same pseudo-random bytes for the same seed.

#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// Writes to the real stderr, past the test harness's capture, so a skip is always visible.
pub(crate) fn loud(message: &str) {
    let mut err = io::stderr().lock();
    let _ = writeln!(err, "{message}");
    let _ = err.flush();
}

/// A test cannot run because `what` is missing: under `CI` it fails (CI installs everything,
/// nothing may be skipped there), otherwise it says `SKIPPED` loudly.
pub(crate) fn skip(what: &str) {
    if std::env::var_os("CI").is_some() {
        panic!(
            "{what}; CI is set, so this fails instead of skipping: nothing may be skipped in CI"
        );
    }
    loud(&format!(
        "SKIPPED: {what} (this test fails instead when CI is set)"
    ));
}

/// Whether the program `name` is on `PATH` (if not, [`skip`] has been called).
pub(crate) fn tool_available(name: &str) -> bool {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {name}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        skip(&format!("{name} is not installed"));
    }
    found
}

/// What a program did.
#[derive(Debug)]
pub(crate) struct Run {
    /// The command line, for messages.
    pub(crate) command: String,
    /// Exit code (`None`: killed by a signal).
    pub(crate) code: Option<i32>,
    /// Standard output.
    pub(crate) stdout: Vec<u8>,
    /// Standard error.
    pub(crate) stderr: String,
}

impl Run {
    /// Panics (with the output) unless the program exited with 0.
    pub(crate) fn assert_success(&self) -> &Self {
        assert_eq!(
            self.code,
            Some(0),
            "{} failed\n{}",
            self.command,
            self.describe()
        );
        self
    }

    /// Panics unless the program exited with `code`.
    pub(crate) fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code,
            Some(code),
            "{}: expected exit code {code}\n{}",
            self.command,
            self.describe()
        );
        self
    }

    /// Stdout as text.
    pub(crate) fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Exit code, stdout (shortened) and stderr, for failure messages.
    pub(crate) fn describe(&self) -> String {
        let out = String::from_utf8_lossy(&self.stdout);
        let out: String = out.chars().take(4000).collect();
        format!(
            "command: {}\nexit code: {:?}\n--- stdout ---\n{out}\n--- stderr ---\n{}",
            self.command, self.code, self.stderr
        )
    }
}

/// Runs `command` (stdin closed, stdout and stderr captured), killing it after `timeout`
/// (which fails the test).
pub(crate) fn run(command: &mut Command, timeout: Duration) -> Run {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let description = format!("{command:?}");
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {description}: {e}"));
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let out = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let err = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + timeout;
    let (status, timed_out) = loop {
        match child.try_wait() {
            Ok(Some(status)) => break (status, false),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                break (child.wait().expect("wait for killed child"), true);
            }
            Ok(None) => thread::sleep(Duration::from_millis(10)),
            Err(e) => panic!("waiting for {description}: {e}"),
        }
    };
    let run = Run {
        command: description,
        code: status.code(),
        stdout: out.join().unwrap_or_default(),
        stderr: String::from_utf8_lossy(&err.join().unwrap_or_default()).into_owned(),
    };
    assert!(
        !timed_out,
        "timed out after {timeout:?} and killed\n{}",
        run.describe()
    );
    run
}

/// `len` pseudo-random bytes, the same for the same `seed` (xorshift64*; no dependency).
pub(crate) fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        out.extend_from_slice(&state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}
