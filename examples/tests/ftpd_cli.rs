//! The `ftpd` command line: clear errors for bad input, several listeners, passive port range,
//! masquerade address, clean stop on SIGTERM and SIGINT.

mod support;

use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::process::Command;
use std::time::Duration;

use support::{FtpdBuilder, PASS, USER, run, write_file};

#[test]
fn bad_flag_is_a_usage_error() {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ftpd"));
    command.args(["--no-such-flag", "--listen", "127.0.0.1:0"]);
    let run = run(&mut command, Duration::from_secs(20));
    assert_ne!(run.code, Some(0), "{}", run.describe());
    assert!(
        run.stderr.contains("--no-such-flag"),
        "the error should name the flag\n{}",
        run.describe()
    );
}

#[test]
fn missing_root_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("does-not-exist");
    let mut command = Command::new(env!("CARGO_BIN_EXE_ftpd"));
    command
        .arg("--root")
        .arg(&missing)
        .args(["--listen", "127.0.0.1:0"]);
    let run = run(&mut command, Duration::from_secs(20));
    assert_ne!(run.code, Some(0), "{}", run.describe());
    assert!(
        run.stderr.contains("does-not-exist"),
        "the error should name the root\n{}",
        run.describe()
    );
    assert!(
        !run.stdout_text().contains("listening on"),
        "{}",
        run.describe()
    );
}

#[test]
fn port_in_use_is_an_error() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_ftpd"));
    command
        .arg("--root")
        .arg(dir.path())
        .args(["--listen", &addr.to_string()]);
    let run = run(&mut command, Duration::from_secs(20));
    assert_ne!(run.code, Some(0), "{}", run.describe());
    assert!(
        run.stderr.contains(&addr.port().to_string()),
        "the error should name the address\n{}",
        run.describe()
    );
    drop(taken);
}

#[test]
fn several_listeners_ipv4_and_ipv6() {
    if !support::ipv6_available() {
        return;
    }
    let builder =
        FtpdBuilder::new()
            .user()
            .args(["--listen", "127.0.0.1:0", "--listen", "[::1]:0"]);
    write_file(&builder.root().join("f.txt"), b"both\n");
    let ftpd = builder.start();
    assert_eq!(ftpd.addrs.len(), 2, "{:?}", ftpd.addrs);
    assert!(ftpd.addrs.iter().any(|a| a.is_ipv4()));
    assert!(ftpd.addrs.iter().any(|a| a.is_ipv6()));
    for addr in &ftpd.addrs {
        let mut c = support::Control::connect(*addr);
        c.expect(220);
        c.login(USER, PASS);
        assert_eq!(c.download("RETR f.txt").unwrap(), b"both\n", "via {addr}");
        if addr.is_ipv6() {
            // PASV cannot name an IPv6 address: refused (RFC 2428 leaves the code open).
            let reply = c.cmd("PASV");
            assert!(reply.code >= 400, "PASV over IPv6: {reply:?}");
        }
    }
}

#[test]
fn passive_port_range_and_masquerade() {
    // A range that is free right now: 20 consecutive ports probed by binding them, below the
    // ephemeral range (32768 and up) so client sockets of other tests do not take them.
    let (low, high) = (1..200)
        .map(|i| 20_000 + i * 50)
        .find(|&low: &u16| (low..low + 20).all(|p| TcpListener::bind(("127.0.0.1", p)).is_ok()))
        .map(|low| (low, low + 19))
        .expect("a free port range");
    let builder = FtpdBuilder::new().user().args([
        "--passive-ports",
        &format!("{low}-{high}"),
        "--masquerade",
        "192.0.2.7",
    ]);
    write_file(&builder.root().join("f.txt"), b"range\n");
    let ftpd = builder.start();
    let mut c = ftpd.login(USER, PASS);
    let mut seen = Vec::new();
    for _ in 0..5 {
        let pasv = c.pasv();
        assert_eq!(
            pasv.ip(),
            IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7)),
            "PASV must announce the masquerade address"
        );
        assert!(
            (low..=high).contains(&pasv.port()),
            "PASV port {} outside {low}-{high}",
            pasv.port()
        );
        seen.push(pasv.port());
    }
    // EPSV carries only the port; the data connection goes to the control address.
    let epsv = c.epsv();
    assert!(
        (low..=high).contains(&epsv.port()),
        "EPSV port {}",
        epsv.port()
    );
    assert_eq!(c.download("RETR f.txt").unwrap(), b"range\n");
}

#[test]
fn sigterm_and_sigint_stop_the_server() {
    for signal in ["TERM", "INT"] {
        let mut ftpd = FtpdBuilder::new().user().start();
        let mut c = ftpd.login(USER, PASS);
        c.cmd_expect("NOOP", 200);
        let _ = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(ftpd.pid().to_string())
            .status();
        let status = ftpd
            .wait_exit(Duration::from_secs(15))
            .unwrap_or_else(|| panic!("ftpd still running 15 s after SIG{signal}"));
        assert!(
            status.success(),
            "SIG{signal} should stop ftpd cleanly (exit 0), got {status}\nlog:\n{}",
            ftpd.log()
        );
        // The idle session was ended (421 or just closed), not left hanging.
        let replies = c
            .until_closed(Duration::from_secs(5))
            .unwrap_or_else(|| panic!("session open after SIG{signal}\n{}", c.dialogue()));
        assert!(
            replies.iter().all(|r| r.code == 421),
            "after SIG{signal}: {replies:?}"
        );
    }
}
