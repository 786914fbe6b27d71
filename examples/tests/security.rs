//! Security properties of the real `ftpd`, checked over raw sockets (no FTP client library):
//! no escape from the root through `..` or symlinks, PORT/EPRT only to the client itself,
//! passive data connections only from the control peer, login-failure limit, overlong lines,
//! idle timeout, session limits and permissions.

mod support;

use std::fs;
use std::io::{ErrorKind, Read};
use std::net::{IpAddr, Ipv4Addr, TcpListener, TcpStream};
use std::os::unix::fs::symlink;
use std::thread;
use std::time::{Duration, Instant};

use support::{
    Control, Event, Ftpd, FtpdBuilder, PASS, Reply, USER, assert_file, connect_from, random_bytes,
    write_file,
};

const SECRET: &[u8] = b"TOP-SECRET-outside-the-root";

fn localhost2() -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2))
}

/// Panics if `bytes` contain the secret.
fn assert_no_secret(bytes: &[u8], what: &str, c: &Control) {
    assert!(
        !bytes.windows(SECRET.len()).any(|w| w == SECRET),
        "{what} revealed the secret outside the root\n{}",
        c.dialogue()
    );
}

/// A download that must be refused with 550 and reveal nothing.
fn refused_download(c: &mut Control, command: &str) {
    match c.download(command) {
        Ok(bytes) => {
            assert_no_secret(&bytes, command, c);
            panic!(
                "{command} succeeded ({} bytes) but must be refused with 550\n{}",
                bytes.len(),
                c.dialogue()
            );
        }
        Err((reply, leaked)) => {
            assert_no_secret(&leaked, command, c);
            assert_no_secret(reply.text().as_bytes(), command, c);
            assert_eq!(
                reply.code,
                550,
                "{command}: expected 550, got {:?}\n{}",
                reply.lines,
                c.dialogue()
            );
        }
    }
}

/// A control command that must get `code` and reveal nothing.
fn refused(c: &mut Control, command: &str, code: u16) {
    let reply = c.cmd(command);
    assert_no_secret(reply.text().as_bytes(), command, c);
    assert_eq!(
        reply.code,
        code,
        "{command}: expected {code}, got {:?}\n{}",
        reply.lines,
        c.dialogue()
    );
}

#[test]
fn dotdot_and_symlinks_never_leave_the_root() {
    let builder = FtpdBuilder::new().user();
    let base = builder.base().to_path_buf();
    let root = builder.root().to_path_buf();
    write_file(&base.join("secret.txt"), SECRET);
    write_file(&base.join("outside/inner.txt"), SECRET);
    write_file(&root.join("public.txt"), b"public\n");
    fs::create_dir(root.join("dir")).unwrap();
    symlink(base.join("secret.txt"), root.join("link_file")).unwrap();
    symlink("../secret.txt", root.join("rel_link")).unwrap();
    symlink("../../secret.txt", root.join("dir/up_link")).unwrap();
    symlink(base.join("outside"), root.join("link_dir")).unwrap();
    symlink("..", root.join("parent_link")).unwrap();
    let mut ftpd = builder.start();
    let mut c = ftpd.login(USER, PASS);
    c.cmd_expect("TYPE I", 200);

    // Sanity: the same commands work inside the root (so the refusals below mean something).
    assert_eq!(c.download("RETR public.txt").unwrap(), b"public\n");
    c.cmd_expect("SIZE public.txt", 213);

    // `..` is clamped at the root: these name files that do not exist inside it.
    for path in [
        "../secret.txt",
        "/../secret.txt",
        "dir/../../secret.txt",
        "../../../../../../secret.txt",
        "..\\secret.txt",
    ] {
        refused_download(&mut c, &format!("RETR {path}"));
        refused(&mut c, &format!("SIZE {path}"), 550);
        refused(&mut c, &format!("MDTM {path}"), 550);
    }
    // Symlinks pointing outside: refused whatever the command.
    for path in [
        "link_file",
        "rel_link",
        "dir/up_link",
        "link_dir/inner.txt",
        "parent_link/secret.txt",
    ] {
        refused_download(&mut c, &format!("RETR {path}"));
        refused(&mut c, &format!("SIZE {path}"), 550);
        refused(&mut c, &format!("MDTM {path}"), 550);
        refused(&mut c, &format!("MLST {path}"), 550);
        for verb in ["XCRC", "XMD5", "XSHA1", "XSHA256"] {
            let reply = c.cmd(&format!("{verb} {path}"));
            assert_no_secret(reply.text().as_bytes(), verb, &c);
            assert!(
                reply.code >= 500,
                "{verb} {path} must be refused: {:?}\n{}",
                reply.lines,
                c.dialogue()
            );
        }
    }
    for dir in ["link_dir", "parent_link"] {
        refused(&mut c, &format!("CWD {dir}"), 550);
        for verb in ["LIST", "NLST", "MLSD"] {
            match c.download(&format!("{verb} {dir}")) {
                Ok(listing) => {
                    let text = String::from_utf8_lossy(&listing);
                    panic!(
                        "{verb} {dir} listed a directory outside the root: {text:?}\n{}",
                        c.dialogue()
                    );
                }
                Err((reply, leaked)) => {
                    let leaked = String::from_utf8_lossy(&leaked);
                    assert!(
                        !leaked.contains("inner.txt") && !leaked.contains("secret.txt"),
                        "{verb} {dir} leaked {leaked:?}"
                    );
                    assert_eq!(reply.code, 550, "{verb} {dir}\n{}", c.dialogue());
                }
            }
        }
        let reply = c.cmd(&format!("STAT {dir}"));
        assert!(
            !reply.text().contains("inner.txt") && !reply.text().contains("secret.txt"),
            "STAT {dir} listed outside the root\n{}",
            c.dialogue()
        );
    }
    // CWD .. stays at "/", and listing ".." shows the root, not what is beside it.
    c.cmd_expect("CWD ..", 250);
    c.cmd_expect("CWD ../../..", 250);
    let pwd = c.cmd_expect("PWD", 257);
    assert!(pwd.text().starts_with("257 \"/\""), "{pwd:?}");
    // (Symlink lines may show their targets; the check is that `..` is the root itself.)
    let root_names = [
        "public.txt",
        "dir",
        "link_file",
        "rel_link",
        "link_dir",
        "parent_link",
    ];
    let listing = c.download("NLST ..").expect("NLST of the clamped root");
    let text = String::from_utf8_lossy(&listing).into_owned();
    // NLST names entries the way the argument names their directory (`../x`), as vsftpd does.
    let names: Vec<&str> = text
        .lines()
        .map(|l| l.strip_prefix("../").unwrap_or("(not below ..)"))
        .collect();
    assert!(
        names.contains(&"public.txt") && names.iter().all(|n| root_names.contains(n)),
        "NLST .. must list the root itself: {text:?}"
    );
    for verb in ["LIST ../..", "MLSD .."] {
        let listing = c.download(verb).expect("listing the clamped root");
        let text = String::from_utf8_lossy(&listing);
        assert!(
            text.contains("public.txt") && !text.contains("ftpd.log"),
            "{verb} must list the root itself: {text:?}"
        );
        // The links are listed, but targets outside the root are not shown: they would name
        // the host's directories.
        let outside = base.to_string_lossy();
        assert!(
            text.contains("link_file") && !text.contains(&*outside) && !text.contains("secret"),
            "{verb} shows where a link outside points: {text:?}"
        );
    }
    let stat = c.cmd_expect("STAT dir", 213);
    assert!(!stat.text().contains("secret"), "STAT dir: {stat:?}");

    // Writes through symlinks never touch anything outside.
    let reply = c.upload("STOR link_dir/new.txt", b"planted");
    assert!(reply.code >= 500, "STOR link_dir/new.txt: {reply:?}");
    assert!(
        !base.join("outside/new.txt").exists(),
        "file planted outside"
    );
    let reply = c.upload("APPE link_file", b"appended");
    assert!(
        reply.code != 226
            || fs::symlink_metadata(root.join("link_file"))
                .unwrap()
                .is_file(),
        "APPE through the symlink: {reply:?}"
    );
    let reply = c.upload("STOR rel_link", b"overwritten");
    assert!(
        reply.code != 226
            || fs::symlink_metadata(root.join("rel_link"))
                .unwrap()
                .is_file(),
        "STOR through the symlink: {reply:?}"
    );
    assert_file(&base.join("secret.txt"), SECRET);
    refused(&mut c, "MKD link_dir/newdir", 550);
    assert!(
        !base.join("outside/newdir").exists(),
        "directory made outside"
    );
    refused(&mut c, "DELE link_dir/inner.txt", 550);
    refused(&mut c, "DELE ../secret.txt", 550);
    refused(&mut c, "RMD ../outside", 550);
    assert_file(&base.join("outside/inner.txt"), SECRET);
    c.cmd_expect("RNFR public.txt", 350);
    let reply = c.cmd("RNTO link_dir/escaped.txt");
    assert!(reply.code >= 500, "RNTO into a symlinked dir: {reply:?}");
    assert!(
        !base.join("outside/escaped.txt").exists(),
        "renamed outside"
    );
    // `RNTO ../x` is clamped to "/x": inside the root.
    c.cmd_expect("RNFR public.txt", 350);
    c.cmd_expect("RNTO ../renamed.txt", 250);
    assert_file(&root.join("renamed.txt"), b"public\n");
    assert!(!base.join("renamed.txt").exists());
    // Renaming the symlink itself does not make it readable.
    if c.cmd("RNFR dir/up_link").code == 350 {
        c.cmd("RNTO stolen.txt");
    }
    refused_download(&mut c, "RETR stolen.txt");
    assert_file(&base.join("secret.txt"), SECRET);
    ftpd.assert_alive();
}

#[test]
fn port_and_eprt_only_to_the_client_itself() {
    let builder = FtpdBuilder::new().user();
    write_file(&builder.root().join("f.txt"), b"data\n");
    let mut ftpd = builder.start();
    let mut c = ftpd.login(USER, PASS);

    // A listener on 127.0.0.2: a local address that is not the client's (127.0.0.1).
    let foreign = TcpListener::bind((localhost2(), 0)).expect("bind 127.0.0.2");
    foreign.set_nonblocking(true).unwrap();
    let port = foreign.local_addr().unwrap().port();
    let (p1, p2) = (port / 256, port % 256);
    refused(&mut c, &format!("PORT 127,0,0,2,{p1},{p2}"), 501);
    refused(&mut c, &format!("EPRT |1|127.0.0.2|{port}|"), 501);
    refused(&mut c, "PORT 10,0,0,1,200,10", 501);
    refused(&mut c, "EPRT |1|10.0.0.1|51210|", 501);
    // The client's own address but a privileged port.
    refused(&mut c, "PORT 127,0,0,1,0,21", 501);
    refused(&mut c, "EPRT |1|127.0.0.1|80|", 501);
    // No data channel was accepted, so a transfer has nowhere to go.
    let reply = c.cmd("NLST");
    assert!(
        reply.code >= 400,
        "NLST after refused PORTs must fail: {reply:?}\n{}",
        c.dialogue()
    );
    thread::sleep(Duration::from_millis(500));
    match foreign.accept() {
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        Ok((_, from)) => panic!("the server connected to the foreign address (from {from})"),
        Err(e) => panic!("accept: {e}"),
    }

    // Positive control: PORT to the client's own address connects and transfers.
    let own = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = own.local_addr().unwrap().port();
    c.cmd_expect(
        &format!("PORT 127,0,0,1,{},{}", port / 256, port % 256),
        200,
    );
    c.send("RETR f.txt");
    let first = c.reply();
    assert!(
        first.code == 150 || first.code == 125,
        "{first:?}\n{}",
        c.dialogue()
    );
    own.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut data = loop {
        match own.accept() {
            Ok((s, _)) => break s,
            Err(e) if e.kind() == ErrorKind::WouldBlock && Instant::now() < deadline => {
                thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("the server did not connect for PORT: {e}"),
        }
    };
    data.set_nonblocking(false).unwrap();
    data.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut bytes = Vec::new();
    data.read_to_end(&mut bytes).unwrap();
    assert_eq!(bytes, b"data\n");
    c.expect(226);
    ftpd.assert_alive();
}

#[test]
fn passive_connection_from_another_address_is_refused() {
    let payload = random_bytes(2 * 1024 * 1024, 77);
    let builder = FtpdBuilder::new().user();
    write_file(&builder.root().join("payload.bin"), &payload);
    let mut ftpd = builder.start();
    let mut c = ftpd.login(USER, PASS);
    c.cmd_expect("TYPE I", 200);
    let pasv = c.pasv();
    assert_eq!(
        pasv.ip(),
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        "227 must name the control connection's local address"
    );

    // The thief connects first, from 127.0.0.2.
    let mut thief = connect_from(localhost2(), pasv).expect("thief connect");
    thread::sleep(Duration::from_millis(200));
    let mut owner = TcpStream::connect_timeout(&pasv, Duration::from_secs(5)).expect("owner");
    owner
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    c.send("RETR payload.bin");
    let first = c.reply();
    assert!(
        first.code == 150 || first.code == 125,
        "{first:?}\n{}",
        c.dialogue()
    );
    let mut got = Vec::new();
    owner.read_to_end(&mut got).expect("owner read");
    c.expect(226);
    support::assert_same_bytes(&got, &payload, "owner's download");

    // The thief got nothing and was closed.
    thief
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let mut stolen = Vec::new();
    match thief.read_to_end(&mut stolen) {
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        Err(e) => panic!(
            "the thief's connection was neither closed nor served ({e}); got {} bytes",
            stolen.len()
        ),
    }
    assert!(
        stolen.is_empty(),
        "the thief received {} bytes",
        stolen.len()
    );

    // Same with EPSV, and the thief connecting *after* the command was sent.
    let epsv = c.epsv();
    c.send("RETR payload.bin");
    let mut thief = connect_from(localhost2(), epsv).expect("thief connect");
    thread::sleep(Duration::from_millis(200));
    let mut owner = TcpStream::connect_timeout(&epsv, Duration::from_secs(5)).expect("owner");
    owner
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let first = c.reply();
    assert!(
        first.code == 150 || first.code == 125,
        "{first:?}\n{}",
        c.dialogue()
    );
    let mut got = Vec::new();
    owner.read_to_end(&mut got).expect("owner read");
    c.expect(226);
    support::assert_same_bytes(&got, &payload, "owner's download (EPSV)");
    thief
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let mut stolen = Vec::new();
    match thief.read_to_end(&mut stolen) {
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        Err(e) => panic!("the thief's connection was neither closed nor served ({e})"),
    }
    assert!(
        stolen.is_empty(),
        "the thief received {} bytes",
        stolen.len()
    );
    ftpd.assert_alive();
}

#[test]
fn three_failed_logins_then_421_and_close() {
    let mut ftpd = FtpdBuilder::new().user().start();
    let mut c = ftpd.control();
    for attempt in 1..=2 {
        c.cmd_expect(&format!("USER {USER}"), 331);
        let start = Instant::now();
        c.cmd_expect("PASS wrong", 530);
        assert!(
            start.elapsed() >= Duration::from_millis(900),
            "attempt {attempt}: 530 after {:?}, expected a delay of about 1 s",
            start.elapsed()
        );
    }
    // Unknown users are asked for a password like everyone (no user enumeration).
    c.cmd_expect("USER nobody-here", 331);
    c.send("PASS wrong");
    let replies = c
        .until_closed(Duration::from_secs(6))
        .unwrap_or_else(|| panic!("still open after 3 failures\n{}", c.dialogue()));
    let codes: Vec<u16> = replies.iter().map(|r| r.code).collect();
    assert!(
        codes == [421] || codes == [530, 421],
        "third failure: expected 421 (possibly after 530) then close, got {codes:?}\n{}",
        c.dialogue()
    );
    ftpd.assert_alive();
    // The server still serves, and the right password works on a new connection.
    let mut c = ftpd.login(USER, PASS);
    c.cmd_expect("NOOP", 200);
}

#[test]
fn one_mib_line_without_newline() {
    let mut ftpd = FtpdBuilder::new().user().start();
    let mut c = ftpd.control();
    // The server may close while we write: that is an allowed answer.
    let write_ok =
        c.send_raw(&vec![b'A'; 1024 * 1024]).is_ok() && c.send_raw(b"\r\nNOOP\r\n").is_ok();
    let mut codes = Vec::new();
    let closed = loop {
        match c.next_event(Duration::from_secs(10)) {
            Event::Reply(r) => {
                codes.push(r.code);
                if r.code == 200 || codes.len() > 3 {
                    break false;
                }
            }
            Event::Closed => break true,
            Event::TimedOut => panic!(
                "no answer to a 1 MiB line (write ok: {write_ok}), got {codes:?}\n{}",
                c.dialogue()
            ),
        }
    };
    if closed {
        assert!(
            codes.is_empty() || codes == [500] || codes == [421] || codes == [500, 421],
            "before closing: {codes:?}"
        );
    } else {
        assert_eq!(
            codes,
            [500, 200],
            "the line must be answered 500, then NOOP 200"
        );
    }
    ftpd.assert_alive();
    let mut c = ftpd.login(USER, PASS);
    c.cmd_expect("NOOP", 200);

    // Repeated overlong lines end the session with 421.
    let mut c = ftpd.control();
    let long = format!("{}\r\n", "B".repeat(5000));
    let mut sent = 0;
    for _ in 0..6 {
        if c.send_raw(long.as_bytes()).is_err() {
            break;
        }
        sent += 1;
    }
    let replies = c
        .until_closed(Duration::from_secs(10))
        .unwrap_or_else(|| panic!("still open after {sent} overlong lines\n{}", c.dialogue()));
    let codes: Vec<u16> = replies.iter().map(|r| r.code).collect();
    assert_eq!(
        codes.last(),
        Some(&421),
        "repeated overlong lines: {codes:?}"
    );
    assert!(
        codes[..codes.len() - 1].iter().all(|&c| c == 500) && codes.len() <= 5,
        "expected some 500s then 421: {codes:?}"
    );
    ftpd.assert_alive();
}

#[test]
fn idle_session_gets_421_and_close() {
    let mut ftpd = FtpdBuilder::new()
        .user()
        .args(["--idle-timeout", "2"])
        .start();
    let mut c = ftpd.login(USER, PASS);
    // Activity keeps the session alive past the timeout.
    for _ in 0..2 {
        thread::sleep(Duration::from_millis(1200));
        c.cmd_expect("NOOP", 200);
    }
    let start = Instant::now();
    let replies = c
        .until_closed(Duration::from_secs(8))
        .unwrap_or_else(|| panic!("idle session still open after 8 s\n{}", c.dialogue()));
    let elapsed = start.elapsed();
    let codes: Vec<u16> = replies.iter().map(|r| r.code).collect();
    assert_eq!(codes, [421], "idle timeout: {codes:?}\n{}", c.dialogue());
    assert!(
        elapsed >= Duration::from_millis(1500) && elapsed <= Duration::from_secs(6),
        "closed after {elapsed:?}, expected about 2 s"
    );
    ftpd.assert_alive();
}

/// Guessing over parallel connections is bounded per address: after the limit, new
/// connections from it get 421, and on connections already open even the right password fails
/// (530: the guess is not checked). Other addresses are not affected.
#[test]
fn failed_logins_are_limited_per_address_across_connections() {
    let mut ftpd = FtpdBuilder::new()
        .user()
        .args(["--max-login-failures-per-ip", "4"])
        .start();
    let mut waiting = ftpd.control();
    let guessers: Vec<_> = (0..2)
        .map(|_| {
            let mut c = ftpd.control();
            thread::spawn(move || {
                for _ in 0..2 {
                    c.cmd_expect(&format!("USER {USER}"), 331);
                    c.cmd_expect("PASS wrong", 530);
                }
            })
        })
        .collect();
    for guesser in guessers {
        guesser.join().unwrap();
    }
    assert_refused_with_421(&ftpd, None);
    waiting.cmd_expect(&format!("USER {USER}"), 331);
    waiting.cmd_expect(&format!("PASS {PASS}"), 530);
    // Another address still logs in.
    let (mut other, reply) = greeting(&ftpd, Some(localhost2()));
    assert_eq!(reply.code, 220, "{reply:?}");
    other.login(USER, PASS);
    ftpd.assert_alive();
}

/// Connects (from `from`, if given) and returns the first event: a 220 greeting or a 421.
fn greeting(ftpd: &Ftpd, from: Option<IpAddr>) -> (Control, Reply) {
    let stream = match from {
        Some(ip) => connect_from(ip, ftpd.addr()).expect("connect"),
        None => TcpStream::connect_timeout(&ftpd.addr(), Duration::from_secs(5)).expect("connect"),
    };
    let mut c = Control::from_stream(stream);
    let reply = c.reply();
    (c, reply)
}

/// A connection beyond a limit: 421, then closed.
fn assert_refused_with_421(ftpd: &Ftpd, from: Option<IpAddr>) {
    let (mut c, reply) = greeting(ftpd, from);
    assert_eq!(reply.code, 421, "over the limit: {reply:?}");
    assert!(
        c.until_closed(Duration::from_secs(5)).is_some(),
        "the refused connection stays open\n{}",
        c.dialogue()
    );
}

#[test]
fn global_session_limit_answers_421() {
    let mut ftpd = FtpdBuilder::new()
        .user()
        .args(["--max-sessions", "2"])
        .start();
    let (mut first, reply) = greeting(&ftpd, None);
    assert_eq!(reply.code, 220);
    let (mut second, reply) = greeting(&ftpd, Some(localhost2()));
    assert_eq!(reply.code, 220);
    second.login(USER, PASS);
    assert_refused_with_421(&ftpd, None);
    assert_refused_with_421(&ftpd, Some(localhost2()));
    // The sessions inside the limit still work.
    second.cmd_expect("NOOP", 200);
    // When one ends, a new one is accepted (give the server a moment to notice).
    first.cmd_expect("QUIT", 221);
    drop(first);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (mut c, reply) = greeting(&ftpd, None);
        if reply.code == 220 {
            c.login(USER, PASS);
            c.cmd_expect("NOOP", 200);
            break;
        }
        assert_eq!(reply.code, 421, "{reply:?}");
        assert!(
            Instant::now() < deadline,
            "no session accepted 5 s after one ended"
        );
        thread::sleep(Duration::from_millis(100));
    }
    ftpd.assert_alive();
}

#[test]
fn per_ip_session_limit_answers_421() {
    let mut ftpd = FtpdBuilder::new()
        .user()
        .args(["--max-sessions-per-ip", "2", "--max-sessions", "10"])
        .start();
    let (_a, reply) = greeting(&ftpd, None);
    assert_eq!(reply.code, 220);
    let (mut b, reply) = greeting(&ftpd, None);
    assert_eq!(reply.code, 220);
    assert_refused_with_421(&ftpd, None);
    // Another address is not affected.
    let (mut other, reply) = greeting(&ftpd, Some(localhost2()));
    assert_eq!(
        reply.code, 220,
        "127.0.0.2 must not count against 127.0.0.1"
    );
    other.login(USER, PASS);
    b.login(USER, PASS);
    b.cmd_expect("NOOP", 200);
    ftpd.assert_alive();
}

#[test]
fn anonymous_is_read_only_except_the_upload_directory() {
    let builder = FtpdBuilder::new().args(["--anonymous", "--anonymous-upload", "/incoming"]);
    let root = builder.root().to_path_buf();
    write_file(&root.join("public.txt"), b"public\n");
    fs::create_dir(root.join("incoming")).unwrap();
    let mut ftpd = builder.start();
    let mut c = ftpd.login("anonymous", "guest@example.com");
    assert_eq!(c.download("RETR public.txt").unwrap(), b"public\n");

    let reply = c.upload("STOR new.txt", b"nope");
    assert_eq!(
        reply.code, 550,
        "anonymous STOR outside /incoming: {reply:?}"
    );
    assert!(!root.join("new.txt").exists());
    let reply = c.upload("APPE public.txt", b"nope");
    assert_eq!(reply.code, 550, "anonymous APPE: {reply:?}");
    assert_file(&root.join("public.txt"), b"public\n");
    refused(&mut c, "DELE public.txt", 550);
    refused(&mut c, "MKD made", 550);
    refused(&mut c, "RMD incoming", 550);
    c.cmd_expect("RNFR public.txt", 550);
    assert!(root.join("public.txt").exists() && root.join("incoming").is_dir());
    assert!(!root.join("made").exists());

    // Inside the upload directory: upload and mkdir work.
    let reply = c.upload("STOR incoming/up.txt", b"uploaded\n");
    assert_eq!(reply.code, 226, "{reply:?}\n{}", c.dialogue());
    assert_file(&root.join("incoming/up.txt"), b"uploaded\n");
    c.cmd_expect("MKD incoming/sub", 257);
    assert!(root.join("incoming/sub").is_dir());
    let reply = c.upload("STOR /incoming/sub/deeper.txt", b"deeper\n");
    assert_eq!(reply.code, 226, "{reply:?}");
    assert_file(&root.join("incoming/sub/deeper.txt"), b"deeper\n");
    c.cmd_expect("CWD incoming", 250);
    let reply = c.upload("STOR ../escape.txt", b"x");
    assert_eq!(
        reply.code, 550,
        "STOR ../escape.txt from /incoming: {reply:?}"
    );
    assert!(!root.join("escape.txt").exists());
    ftpd.assert_alive();
}

#[test]
fn anonymous_uploads_never_replace_or_change_a_file() {
    let builder = FtpdBuilder::new().args(["--anonymous", "--anonymous-upload", "/incoming"]);
    let root = builder.root().to_path_buf();
    fs::create_dir(root.join("incoming")).unwrap();
    write_file(&root.join("incoming/theirs.txt"), b"someone else's\n");
    let mut ftpd = builder.start();
    let mut c = ftpd.login("anonymous", "guest@example.com");
    let mtime = || {
        fs::metadata(root.join("incoming/theirs.txt"))
            .unwrap()
            .modified()
            .unwrap()
    };
    let before = mtime();

    let reply = c.upload("STOR incoming/theirs.txt", b"OVERWRITTEN\n");
    assert_eq!(reply.code, 550, "anonymous STOR over a file: {reply:?}");
    c.cmd_expect("REST 3", 350);
    let reply = c.upload("STOR incoming/theirs.txt", b"XX");
    assert_eq!(reply.code, 550, "anonymous REST+STOR: {reply:?}");
    refused(&mut c, "MFMT 20000101000000 incoming/theirs.txt", 550);
    refused(&mut c, "MDTM 20000101000000 incoming/theirs.txt", 550);
    assert_file(&root.join("incoming/theirs.txt"), b"someone else's\n");
    assert_eq!(mtime(), before, "the file's time was changed");
    let facts = c.cmd_expect("MLST incoming/theirs.txt", 250);
    assert!(
        facts.text().contains("perm=r;"),
        "MLST must not offer write: {facts:?}"
    );

    // A new name works, once: the second upload meets the first one's file.
    let reply = c.upload("STOR incoming/mine.txt", b"mine\n");
    assert_eq!(reply.code, 226, "{reply:?}\n{}", c.dialogue());
    let reply = c.upload("STOR incoming/mine.txt", b"again\n");
    assert_eq!(reply.code, 550, "{reply:?}");
    assert_file(&root.join("incoming/mine.txt"), b"mine\n");
    // A dangling symlink at the name is not written through. It looks like a free name until
    // the file is created (when the data connection is ready), so the refusal may follow a
    // 125 and the server may close the data connection before reading it.
    #[cfg(unix)]
    {
        use std::io::Write;
        symlink("../planted.txt", root.join("incoming/link.txt")).unwrap();
        let mut data = c.data();
        c.send("STOR incoming/link.txt");
        let mut reply = c.reply();
        if reply.code == 125 || reply.code == 150 {
            let _ = data.write_all(b"through\n");
            drop(data);
            reply = c.reply();
        }
        assert_eq!(reply.code, 550, "{reply:?}\n{}", c.dialogue());
        assert!(!root.join("planted.txt").exists());
    }
    ftpd.assert_alive();
}

#[test]
fn users_given_means_no_anonymous() {
    let ftpd = FtpdBuilder::new().user().start();
    let mut c = ftpd.control();
    c.cmd_expect("USER anonymous", 331);
    c.cmd_expect("PASS guest@example.com", 530);
    let mut c = ftpd.control();
    c.cmd_expect("USER ftp", 331);
    c.cmd_expect("PASS guest@example.com", 530);
}

#[test]
fn read_only_user_cannot_change_anything() {
    let builder = FtpdBuilder::new().user().arg("--read-only");
    let root = builder.root().to_path_buf();
    write_file(&root.join("f.txt"), b"content\n");
    fs::create_dir(root.join("d")).unwrap();
    let ftpd = builder.start();
    let mut c = ftpd.login(USER, PASS);
    assert_eq!(c.download("RETR f.txt").unwrap(), b"content\n");
    let reply = c.upload("STOR g.txt", b"x");
    assert_eq!(reply.code, 550, "{reply:?}");
    let reply = c.upload("STOR f.txt", b"x");
    assert_eq!(reply.code, 550, "{reply:?}");
    let reply = c.upload("APPE f.txt", b"x");
    assert_eq!(reply.code, 550, "{reply:?}");
    refused(&mut c, "DELE f.txt", 550);
    refused(&mut c, "MKD e", 550);
    refused(&mut c, "RMD d", 550);
    c.cmd_expect("RNFR f.txt", 550);
    assert!(!root.join("g.txt").exists() && !root.join("e").exists());
    assert!(root.join("d").is_dir());
    assert_file(&root.join("f.txt"), b"content\n");
}

#[test]
fn user_home_is_the_users_root() {
    let builder = FtpdBuilder::new()
        .user()
        .args(["--user-home", &format!("{USER}:/alice")])
        .args(["--user", "bob:hunter2"]);
    let root = builder.root().to_path_buf();
    write_file(&root.join("alice/mine.txt"), b"alice's\n");
    write_file(&root.join("admin-only.txt"), SECRET);
    let ftpd = builder.start();

    let mut c = ftpd.login(USER, PASS);
    let pwd = c.cmd_expect("PWD", 257);
    assert!(pwd.text().starts_with("257 \"/\""), "{pwd:?}");
    assert_eq!(c.download("RETR mine.txt").unwrap(), b"alice's\n");
    assert_eq!(c.download("RETR /mine.txt").unwrap(), b"alice's\n");
    refused_download(&mut c, "RETR ../admin-only.txt");
    refused_download(&mut c, "RETR /alice/mine.txt");
    c.cmd_expect("CWD ..", 250);
    let names = c.download("NLST").unwrap();
    assert_eq!(
        String::from_utf8_lossy(&names).trim_end(),
        "mine.txt",
        "alice's / lists her home only"
    );
    let reply = c.upload("STOR new.txt", b"new\n");
    assert_eq!(reply.code, 226, "{reply:?}");
    assert_file(&root.join("alice/new.txt"), b"new\n");

    // bob (no home given) sees the whole tree.
    let mut b = ftpd.login("bob", "hunter2");
    assert_eq!(b.download("RETR alice/mine.txt").unwrap(), b"alice's\n");
    assert_eq!(b.download("RETR admin-only.txt").unwrap(), SECRET);
}

/// Symlinks in a user's home are resolved beneath the home, as in a chroot: one that climbs
/// out of it is refused even when its target lies inside the server's root.
#[cfg(unix)]
#[test]
fn symlinks_never_leave_a_users_home() {
    let builder = FtpdBuilder::new()
        .user()
        .args(["--user-home", &format!("{USER}:/alice")]);
    let root = builder.root().to_path_buf();
    write_file(&root.join("alice/mine.txt"), b"alice's\n");
    write_file(&root.join("admin-only.txt"), SECRET);
    fs::create_dir(root.join("admin-dir")).unwrap();
    write_file(&root.join("admin-dir/inside.txt"), SECRET);
    symlink("../admin-only.txt", root.join("alice/up-file")).unwrap();
    symlink("../admin-dir", root.join("alice/up-dir")).unwrap();
    symlink("/admin-only.txt", root.join("alice/absolute")).unwrap();
    symlink("mine.txt", root.join("alice/near")).unwrap();
    let ftpd = builder.start();
    let mut c = ftpd.login(USER, PASS);

    for command in [
        "RETR up-file",
        "RETR up-dir/inside.txt",
        "RETR absolute",
        "LIST up-dir",
        "NLST up-dir",
        "MLSD up-dir",
    ] {
        refused_download(&mut c, command);
    }
    refused(&mut c, "CWD up-dir", 550);
    refused(&mut c, "SIZE up-file", 550);
    refused(&mut c, "MLST up-file", 550);
    refused(&mut c, "MFMT 20000101000000 up-file", 550);
    let reply = c.upload("APPE up-file", b"appended");
    assert_eq!(
        reply.code, 550,
        "APPE through a link out of the home: {reply:?}"
    );
    let reply = c.upload("STOR up-dir/new.txt", b"planted");
    assert_eq!(
        reply.code, 550,
        "STOR through a link out of the home: {reply:?}"
    );
    assert_file(&root.join("admin-only.txt"), SECRET);
    assert!(!root.join("admin-dir/new.txt").exists());

    // A link that stays in the home works.
    assert_eq!(c.download("RETR near").unwrap(), b"alice's\n");
}

/// A user whose home is gone (ftpd checks it at start) is not let in, and never served the
/// whole root instead.
#[test]
fn a_missing_home_refuses_the_login() {
    let builder = FtpdBuilder::new()
        .user()
        .args(["--user-home", &format!("{USER}:/gone")]);
    let root = builder.root().to_path_buf();
    fs::create_dir(root.join("gone")).unwrap();
    let ftpd = builder.start();
    fs::remove_dir(root.join("gone")).unwrap();
    let mut c = ftpd.control();
    c.cmd_expect(&format!("USER {USER}"), 331);
    c.cmd_expect(&format!("PASS {PASS}"), 421);
}

#[test]
fn site_chmod_sets_permission_bits_inside_the_root_only() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |path: &std::path::Path| fs::metadata(path).unwrap().permissions().mode() & 0o7777;
    let base = tempfile::tempdir().unwrap();
    let outside = base.path().join("outside.txt");
    write_file(&outside, SECRET);
    fs::set_permissions(&outside, fs::Permissions::from_mode(0o644)).unwrap();
    let builder =
        FtpdBuilder::new()
            .user()
            .args(["--anonymous", "--anonymous-upload", "/incoming"]);
    let root = builder.root().to_path_buf();
    write_file(&root.join("f.txt"), b"content\n");
    write_file(&root.join("incoming/up.txt"), b"up\n");
    fs::create_dir(root.join("d")).unwrap();
    symlink(&outside, root.join("link-out")).unwrap();
    let ftpd = builder.start();

    let mut c = ftpd.login(USER, PASS);
    let help = c.cmd("SITE HELP");
    assert_eq!(help.code, 214);
    assert!(help.lines.iter().any(|l| l.trim() == "CHMOD"), "{help:?}");
    c.cmd_expect("SITE CHMOD 640 f.txt", 200);
    assert_eq!(mode(&root.join("f.txt")), 0o640);
    c.cmd_expect("site chmod 0700 /d", 200);
    assert_eq!(mode(&root.join("d")), 0o700);
    // Set-user-ID, set-group-ID and sticky bits, non-octal modes, a missing path: 501.
    for bad in [
        "SITE CHMOD 4755 f.txt",
        "SITE CHMOD 1777 d",
        "SITE CHMOD 999 f.txt",
    ] {
        c.cmd_expect(bad, 501);
    }
    c.cmd_expect("SITE CHMOD 600", 501);
    assert_eq!(mode(&root.join("f.txt")), 0o640);
    c.cmd_expect("SITE CHMOD 600 missing.txt", 550);
    // `..` stops at the root; a symlink out of it is refused and the outside file unchanged.
    c.cmd_expect("SITE CHMOD 600 ../../../outside.txt", 550);
    c.cmd_expect("SITE CHMOD 600 link-out", 550);
    assert_eq!(mode(&outside), 0o644);

    // Anonymous users change nothing, not even their own uploads.
    let mut anon = ftpd.login("anonymous", "guest@example.com");
    anon.cmd_expect("SITE CHMOD 777 incoming/up.txt", 550);
    anon.cmd_expect("SITE CHMOD 777 f.txt", 550);
    assert_eq!(mode(&root.join("f.txt")), 0o640);
    assert_ne!(mode(&root.join("incoming/up.txt")), 0o777);
}

#[test]
fn site_chmod_needs_write_permission() {
    use std::os::unix::fs::PermissionsExt;
    let builder = FtpdBuilder::new().user().arg("--read-only");
    let root = builder.root().to_path_buf();
    write_file(&root.join("f.txt"), b"content\n");
    fs::set_permissions(root.join("f.txt"), fs::Permissions::from_mode(0o644)).unwrap();
    let ftpd = builder.start();
    let mut c = ftpd.login(USER, PASS);
    c.cmd_expect("SITE CHMOD 600 f.txt", 550);
    let mode = fs::metadata(root.join("f.txt"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o644);
}

/// A symlink loop (a -> b -> a) can never be resolved: every command on it is refused with a
/// permanent 550, as vsftpd refuses it, not the transient 451 that clients retry forever.
#[test]
fn symlink_loops_are_refused_for_good() {
    let builder = FtpdBuilder::new().user();
    let root = builder.root().to_path_buf();
    symlink("b", root.join("a")).unwrap();
    symlink("a", root.join("b")).unwrap();
    symlink("self", root.join("self")).unwrap();
    let mut ftpd = builder.start();
    let mut c = ftpd.login(USER, PASS);
    c.cmd_expect("TYPE I", 200);
    for path in ["a", "self", "a/inner"] {
        for verb in ["SIZE", "MDTM", "MLST", "CWD", "STAT"] {
            refused(&mut c, &format!("{verb} {path}"), 550);
        }
        for verb in ["RETR", "LIST", "NLST", "MLSD"] {
            refused_download(&mut c, &format!("{verb} {path}"));
        }
    }
    let reply = c.upload("STOR a/inner", b"x");
    assert_eq!(reply.code, 550, "STOR into a loop: {reply:?}");
    refused(&mut c, "MKD a/new", 550);
    // The link itself is an ordinary name: it is deleted like any other.
    c.cmd_expect("DELE self", 250);
    assert!(fs::symlink_metadata(root.join("self")).is_err());
    ftpd.assert_alive();
}

/// RNFR/RNTO act on a symlink itself, as DELE does: a dangling one can be moved too, and
/// moving one that leads outside the root moves the link (inside the root) and never touches
/// or opens what it leads to.
#[test]
fn symlinks_are_renamed_not_followed() {
    let builder = FtpdBuilder::new().user();
    let (base, root) = (builder.base().to_path_buf(), builder.root().to_path_buf());
    write_file(&base.join("secret.txt"), SECRET);
    fs::create_dir(root.join("dir")).unwrap();
    symlink("gone", root.join("dangling")).unwrap();
    symlink(base.join("secret.txt"), root.join("out")).unwrap();
    let mut ftpd = builder.start();
    let mut c = ftpd.login(USER, PASS);
    c.cmd_expect("TYPE I", 200);

    c.cmd_expect("RNFR dangling", 350);
    c.cmd_expect("RNTO dir/moved", 250);
    assert!(fs::symlink_metadata(root.join("dangling")).is_err());
    assert_eq!(
        fs::read_link(root.join("dir/moved")).unwrap(),
        std::path::Path::new("gone")
    );
    refused(&mut c, "RNFR missing", 550);

    c.cmd_expect("RNFR out", 350);
    c.cmd_expect("RNTO dir/out", 250);
    assert!(
        fs::symlink_metadata(root.join("dir/out"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    refused_download(&mut c, "RETR dir/out");
    refused(&mut c, "SIZE dir/out", 550);
    assert_file(&base.join("secret.txt"), SECRET);
    // A name below a link that leads outside is still refused.
    fs::create_dir(base.join("outside")).unwrap();
    write_file(&base.join("outside/inner.txt"), SECRET);
    symlink(base.join("outside"), root.join("link_dir")).unwrap();
    refused(&mut c, "RNFR link_dir/inner.txt", 550);
    assert_file(&base.join("outside/inner.txt"), SECRET);
    ftpd.assert_alive();
}

/// The `perm=` fact of an MLST reply or MLSD line.
fn perm_fact(line: &str) -> &str {
    line.split(';')
        .find_map(|fact| fact.trim_start().strip_prefix("perm="))
        .unwrap_or_else(|| panic!("no perm fact in {line:?}"))
}

/// A FIFO, a socket and a symlink to a directory are not files: SIZE refuses them as RETR
/// does, and their MLSx `perm` fact offers only what works on them (no `r`, `w` or `a` for
/// the special files; a directory's letters for a link to one, in MLSD as in MLST).
#[test]
fn special_files_have_no_size_and_honest_perm_facts() {
    let builder = FtpdBuilder::new().user();
    let root = builder.root().to_path_buf();
    write_file(&root.join("file"), b"12345");
    fs::create_dir(root.join("dir")).unwrap();
    symlink("dir", root.join("to-dir")).unwrap();
    let _socket = std::os::unix::net::UnixListener::bind(root.join("sock")).unwrap();
    let mut specials = vec!["sock"];
    // Without mkfifo (skipped loudly, or failed under CI) the socket stands in for FIFOs.
    if support::tool_available("mkfifo") {
        let made = std::process::Command::new("mkfifo")
            .arg(root.join("fifo"))
            .status()
            .unwrap();
        assert!(made.success(), "mkfifo: {made}");
        specials.push("fifo");
    }
    let mut ftpd = builder.start();
    let mut c = ftpd.login(USER, PASS);
    c.cmd_expect("TYPE I", 200);

    assert_eq!(c.cmd_expect("SIZE file", 213).text(), "213 5");
    for name in specials.iter().chain(&["dir", "to-dir"]) {
        refused(&mut c, &format!("SIZE {name}"), 550);
    }
    for name in &specials {
        refused_download(&mut c, &format!("RETR {name}"));
    }

    let mlst = |c: &mut Control, name: &str| {
        let reply = c.cmd_expect(&format!("MLST {name}"), 250);
        perm_fact(&reply.lines[1]).to_owned()
    };
    let listing = String::from_utf8(c.download("MLSD").unwrap()).unwrap();
    let mlsd = |name: &str| {
        let line = listing
            .lines()
            .find(|line| line.split_once(' ').is_some_and(|(_, n)| n == name))
            .unwrap_or_else(|| panic!("{name} not in {listing:?}"));
        perm_fact(line).to_owned()
    };
    assert_eq!(mlst(&mut c, "file"), "adfrw");
    assert_eq!(mlsd("file"), "adfrw");
    for name in &specials {
        assert_eq!(mlst(&mut c, name), "df", "MLST {name}");
        assert_eq!(mlsd(name), "df", "MLSD {name}");
    }
    let dir = mlst(&mut c, "dir");
    assert_eq!(dir, "cdeflmp");
    assert_eq!(mlsd("dir"), dir);
    assert_eq!(mlst(&mut c, "to-dir"), dir, "MLST to-dir");
    assert_eq!(mlsd("to-dir"), dir, "MLSD to-dir");

    // What `d` and `f` promise works: the special files are renamed and deleted.
    for name in &specials {
        c.cmd_expect(&format!("RNFR {name}"), 350);
        c.cmd_expect(&format!("RNTO {name}-renamed"), 250);
        c.cmd_expect(&format!("DELE {name}-renamed"), 250);
        assert!(fs::symlink_metadata(root.join(format!("{name}-renamed"))).is_err());
    }
    // And through the link to a directory, what a directory offers.
    c.cmd_expect("CWD to-dir", 250);
    let reply = c.upload("STOR new.txt", b"new");
    assert_eq!(reply.code, 226, "{reply:?}");
    c.cmd_expect("MKD sub", 257);
    assert_file(&root.join("dir/new.txt"), b"new");
    ftpd.assert_alive();
}
