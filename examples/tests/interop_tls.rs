//! FTPS against the real `ftpd` with clients the project did not write: curl (OpenSSL) with
//! explicit and implicit TLS, TLS 1.3 and forced TLS 1.2; lftp (GnuTLS) mirroring a tree up
//! and back; Python's `ftplib.FTP_TLS`, with a data connection that resumes the control
//! session (accepted) and stock (no resumption: refused with 522, nothing moved); the TLS
//! flags' errors; certificate reload on SIGHUP.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use support::{
    Ftpd, FtpdBuilder, PASS, Run, USER, assert_file, assert_same_tree, make_tree, random_bytes,
    read_file, run, tool_available, write_file,
};

const TIMEOUT: Duration = Duration::from_secs(60);

/// A self-signed certificate for localhost, as PEM files in `dir`.
fn write_cert(dir: &Path) -> (PathBuf, PathBuf, String) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
    (cert_path, key_path, cert.cert.pem())
}

/// `ftpd` with alice, a fresh certificate, `--tls required` (the default) and `extra`.
fn tls_server(fill: impl FnOnce(&Path), extra: &[&str]) -> Ftpd {
    let builder = FtpdBuilder::new().user();
    fill(builder.root());
    let (cert, key, _) = write_cert(builder.base());
    builder
        .arg("--tls-cert")
        .arg(cert)
        .arg("--tls-key")
        .arg(key)
        .args(extra.iter().copied())
        .start()
}

/// `curl -sS -v --ssl-reqd -k` with alice's credentials, then `args`.
fn curl(args: &[&str]) -> Run {
    let mut command = Command::new("curl");
    command
        .args(["-sS", "-v", "--connect-timeout", "5", "--max-time", "50"])
        .args(["--ssl-reqd", "-k"])
        .args(["-u", &format!("{USER}:{PASS}")])
        .args(args);
    run(&mut command, TIMEOUT)
}

fn assert_dialogue(run: &Run, needle: &str) {
    assert!(
        run.stderr.contains(needle),
        "curl dialogue lacks {needle:?}\n{}",
        run.describe()
    );
}

#[test]
fn curl_explicit_ftps_list_get_put_with_tls13_and_tls12() {
    if !tool_available("curl") {
        return;
    }
    let body = random_bytes(700_000, 61);
    let ftpd = tls_server(|root| write_file(&root.join("data.bin"), &body), &[]);
    let work = tempfile::tempdir().unwrap();
    for (version, flags) in [
        ("TLSv1.3", &["--tlsv1.3"][..]),
        ("TLSv1.2", &["--tls-max", "1.2"]),
    ] {
        let list = curl(&[flags, &[&ftpd.url("/")]].concat());
        list.assert_success();
        assert_dialogue(&list, "< 234");
        assert_dialogue(&list, &format!("SSL connection using {version}"));
        assert_dialogue(&list, "> PROT P");
        assert!(
            list.stdout_text().contains(" data.bin"),
            "{}",
            list.describe()
        );

        let get = curl(&[flags, &[&ftpd.url("/data.bin")]].concat());
        get.assert_success();
        assert_eq!(get.stdout.len(), body.len(), "{version}");
        assert!(get.stdout == body, "{version}: downloaded bytes differ");

        let upload = work.path().join("up.bin");
        let sent = random_bytes(333_333, 62);
        write_file(&upload, &sent);
        let name = format!("up-{version}.bin");
        let put = curl(&[flags, &["-T", upload.to_str().unwrap(), &ftpd.url(&name)]].concat());
        put.assert_success();
        assert_file(&ftpd.root().join(&name), &sent);
    }
}

#[test]
fn curl_implicit_ftps_get() {
    if !tool_available("curl") {
        return;
    }
    let body = random_bytes(100_000, 63);
    let ftpd = tls_server(
        |root| write_file(&root.join("f.bin"), &body),
        &["--implicit-tls-listen", "127.0.0.1:0"],
    );
    let addr = ftpd.implicit_tls_addrs[0];
    let get = curl(&[&format!("ftps://{addr}/f.bin")]);
    get.assert_success();
    assert!(!get.stderr.contains("AUTH TLS"), "implicit: no AUTH TLS");
    assert!(get.stdout == body, "downloaded bytes differ");
}

#[test]
fn curl_without_tls_cannot_log_in_under_required() {
    if !tool_available("curl") {
        return;
    }
    let ftpd = tls_server(|root| write_file(&root.join("f"), b"secret"), &[]);
    let mut command = Command::new("curl");
    command.args(["-sS", "-v", "--max-time", "20"]).args([
        "-u",
        &format!("{USER}:{PASS}"),
        &ftpd.url("/f"),
    ]);
    let plain = run(&mut command, TIMEOUT);
    assert_ne!(plain.code, Some(0), "{}", plain.describe());
    assert_dialogue(&plain, "< 530");
    assert!(plain.stdout.is_empty());
    assert!(!plain.stderr.contains("< 230"), "{}", plain.describe());
}

#[test]
fn lftp_mirror_up_and_back_over_tls() {
    if !tool_available("lftp") {
        return;
    }
    let ftpd = tls_server(|_| {}, &[]);
    let work = tempfile::tempdir().unwrap();
    let source = work.path().join("source");
    let files = make_tree(&source, 24, true);
    let back = work.path().join("back");
    let settings = "set ftp:ssl-force true; set ftp:ssl-protect-data true; \
        set ssl:verify-certificate no; set net:max-retries 1; set net:timeout 10; \
        set net:persist-retries 0; set cmd:fail-exit yes; set cmd:interactive no";
    let script = format!(
        "{settings}; open -u {USER},{PASS} -p {} {}; mirror -R \"{}\" /tree; mirror /tree \"{}\"",
        ftpd.port(),
        ftpd.addr().ip(),
        source.display(),
        back.display()
    );
    let mut command = Command::new("lftp");
    command
        .arg("-c")
        .arg(&script)
        .env("HOME", work.path())
        .env("LFTP_HOME", work.path().join(".lftp"));
    let lftp = run(&mut command, Duration::from_secs(120));
    lftp.assert_success();
    assert!(files >= 20);
    assert_same_tree(&ftpd.root().join("tree"), &source);
    assert_same_tree(&back, &source);
    // Every data connection resumed the control session (the default requires it).
    assert!(
        !ftpd.log().contains("did not resume"),
        "refused data connections:\n{}",
        ftpd.log()
    );
}

/// Python: one `ftplib.FTP_TLS` session per line of output.
const PYTHON: &str = r#"
import ftplib, io, ssl, sys

port, version, mode, out = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]

class Resuming(ftplib.FTP_TLS):
    """Data connections resume the control connection's TLS session."""
    def ntransfercmd(self, cmd, rest=None):
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        if self._prot_p:
            conn = self.context.wrap_socket(
                conn, server_hostname=self.host, session=self.sock.session)
        return conn, size

def session():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    v = ssl.TLSVersion.TLSv1_3 if version == "1.3" else ssl.TLSVersion.TLSv1_2
    ctx.minimum_version = ctx.maximum_version = v
    cls = Resuming if mode == "resuming" else ftplib.FTP_TLS
    f = cls(context=ctx, timeout=10)
    f.connect("127.0.0.1", port)
    f.login("alice", "secret")
    f.prot_p()
    return f

def outcome(f, action):
    try:
        action()
        return f.lastresp
    except ftplib.all_errors as e:
        # After a failed data connection the final reply may still be pending.
        text = str(e)
        if not text[:3].isdigit():
            try:
                text = f.getresp()
            except ftplib.all_errors as e2:
                text = str(e2)
        return text[:3]

f = session()
got = io.BytesIO()
code = outcome(f, lambda: f.retrbinary("RETR data.bin", got.write))
open(out, "wb").write(got.getvalue())
print("RETR", code, len(got.getvalue()))
f.close()

f = session()
code = outcome(f, lambda: f.storbinary("STOR py-up.bin", io.BytesIO(b"u" * 100000)))
print("STOR", code)
f.close()
"#;

/// Runs [`PYTHON`]: its output lines and the downloaded bytes.
fn python(ftpd: &Ftpd, version: &str, mode: &str) -> (Vec<String>, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("download");
    let mut command = Command::new("python3");
    command
        .arg("-c")
        .arg(PYTHON)
        .arg(ftpd.port().to_string())
        .arg(version)
        .arg(mode)
        .arg(&out);
    let run = run(&mut command, TIMEOUT);
    run.assert_success();
    let lines = run.stdout_text().lines().map(str::to_owned).collect();
    (lines, read_file(&out))
}

#[test]
fn python_ftplib_tls_resuming_data_connections_work_and_stock_ones_are_refused() {
    if !tool_available("python3") {
        return;
    }
    let body = random_bytes(250_000, 64);
    let ftpd = tls_server(|root| write_file(&root.join("data.bin"), &body), &[]);
    for version in ["1.3", "1.2"] {
        // A data connection that resumes the control session: the transfers work.
        let (lines, got) = python(&ftpd, version, "resuming");
        assert_eq!(
            lines[0],
            format!("RETR 226 {}", body.len()),
            "TLS {version}"
        );
        assert!(got == body, "TLS {version}: downloaded bytes differ");
        assert!(lines[1].starts_with("STOR 226"), "TLS {version}: {lines:?}");
        assert_file(&ftpd.root().join("py-up.bin"), &[b'u'; 100_000]);
        std::fs::remove_file(ftpd.root().join("py-up.bin")).unwrap();

        // The attack test "a data connection that does not resume the control session is
        // refused": stock FTP_TLS does a full handshake on each data connection.
        let (lines, got) = python(&ftpd, version, "stock");
        assert_eq!(lines[0], "RETR 522 0", "TLS {version}: {lines:?}");
        assert!(
            got.is_empty(),
            "TLS {version}: file bytes reached a refused connection"
        );
        assert_eq!(lines[1], "STOR 522", "TLS {version}: {lines:?}");
        let written = std::fs::read(ftpd.root().join("py-up.bin")).unwrap_or_default();
        assert!(
            written.is_empty(),
            "TLS {version}: a refused upload wrote {} bytes",
            written.len()
        );
    }
    assert!(
        ftpd.log()
            .contains("did not resume the control connection's TLS session")
    );

    // With --tls-no-session-reuse, stock FTP_TLS works.
    let ftpd = tls_server(
        |root| write_file(&root.join("data.bin"), &body),
        &["--tls-no-session-reuse"],
    );
    let (lines, got) = python(&ftpd, "1.3", "stock");
    assert_eq!(lines[0], format!("RETR 226 {}", body.len()));
    assert!(got == body, "downloaded bytes differ");
    assert!(lines[1].starts_with("STOR 226"), "{lines:?}");
}

#[test]
fn ftpd_tls_flag_errors_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, _) = write_cert(dir.path());
    let garbage = dir.path().join("garbage.pem");
    write_file(
        &garbage,
        b"-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
    );
    let ftpd = |args: &[&std::ffi::OsStr]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_ftpd"));
        command
            .args(["--listen", "127.0.0.1:0", "--root"])
            .arg(dir.path());
        command.args(args);
        let run = run(&mut command, Duration::from_secs(20));
        assert_ne!(run.code, Some(0), "{}", run.describe());
        run.stderr
    };
    let os = |s: &'static str| std::ffi::OsStr::new(s);
    let err = ftpd(&[os("--tls-cert"), cert.as_os_str()]);
    assert!(err.contains("--tls-key"), "{err}");
    let err = ftpd(&[os("--implicit-tls-listen"), os("127.0.0.1:0")]);
    assert!(err.contains("--tls-cert"), "{err}");
    let err = ftpd(&[os("--tls"), os("optional")]);
    assert!(err.contains("--tls-cert"), "{err}");
    let missing = dir.path().join("missing.pem");
    let err = ftpd(&[
        os("--tls-cert"),
        missing.as_os_str(),
        os("--tls-key"),
        key.as_os_str(),
    ]);
    assert!(
        err.contains("cannot read") && err.contains("missing.pem"),
        "{err}"
    );
    let err = ftpd(&[
        os("--tls-cert"),
        garbage.as_os_str(),
        os("--tls-key"),
        key.as_os_str(),
    ]);
    assert!(err.contains("garbage.pem"), "{err}");
    let err = ftpd(&[
        os("--tls-cert"),
        key.as_os_str(),
        os("--tls-key"),
        key.as_os_str(),
    ]);
    assert!(err.contains("no certificate"), "{err}");
    let err = ftpd(&[
        os("--tls-cert"),
        cert.as_os_str(),
        os("--tls-key"),
        cert.as_os_str(),
    ]);
    assert!(err.contains("no private key"), "{err}");
}

/// The PEM certificate served on `addr` (implicit TLS), fetched by Python's ssl module.
fn served_certificate(addr: std::net::SocketAddr) -> String {
    let mut command = Command::new("python3");
    command.arg("-c").arg(format!(
        "import ssl; print(ssl.get_server_certificate(('{}', {})), end='')",
        addr.ip(),
        addr.port()
    ));
    let run = run(&mut command, TIMEOUT);
    run.assert_success();
    run.stdout_text()
}

fn normalized(pem: &str) -> String {
    pem.split_whitespace().collect()
}

#[cfg(unix)]
#[test]
fn sighup_reloads_the_certificate() {
    if !tool_available("python3") {
        return;
    }
    let ftpd = tls_server(|_| {}, &["--implicit-tls-listen", "127.0.0.1:0"]);
    let addr = ftpd.implicit_tls_addrs[0];
    let before = served_certificate(addr);
    let (_, _, new_pem) = write_cert(ftpd.base());
    assert_ne!(normalized(&before), normalized(&new_pem));
    let kill = Command::new("kill")
        .args(["-HUP", &ftpd.pid().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ftpd.log().contains("certificate reloaded") {
        assert!(
            Instant::now() < deadline,
            "no reload logged:\n{}",
            ftpd.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(normalized(&served_certificate(addr)), normalized(&new_pem));

    // A broken key: the reload fails, is logged, and the certificate stays.
    write_file(&ftpd.base().join("key.pem"), b"garbage");
    Command::new("kill")
        .args(["-HUP", &ftpd.pid().to_string()])
        .status()
        .unwrap();
    while !ftpd.log().contains("not reloaded") {
        assert!(
            Instant::now() < deadline,
            "no failed reload logged:\n{}",
            ftpd.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(normalized(&served_certificate(addr)), normalized(&new_pem));
}
