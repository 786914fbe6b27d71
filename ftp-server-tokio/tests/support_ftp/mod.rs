//! A raw FTP control connection for the server's integration tests: exact reply codes,
//! EPSV data connections, uploads and downloads, with a deadline on every wait. Shared by
//! the test files that check what the server answers (server.rs, quota.rs,
//! virtual_users_server.rs, pam.rs); each uses the part it needs.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::timeout;

/// How long any one wait may take.
pub(crate) const LIMIT: Duration = Duration::from_secs(20);

/// A control connection.
pub(crate) struct Control {
    stream: BufReader<TcpStream>,
}

impl Control {
    /// Connects and reads the 220 greeting.
    pub(crate) async fn connect(addr: SocketAddr) -> Self {
        let mut c = Self::open(addr).await;
        let (code, text) = c.reply().await;
        assert_eq!(code, 220, "{text}");
        c
    }

    /// Connects; the greeting (220, or 421 beyond a limit) is left for the caller to read.
    pub(crate) async fn open(addr: SocketAddr) -> Self {
        let stream = timeout(LIMIT, TcpStream::connect(addr))
            .await
            .expect("connect in time")
            .unwrap();
        Self {
            stream: BufReader::new(stream),
        }
    }

    /// As [`Control::open`] to an IPv4 `addr`, from the source address `source` (127.0.0.2
    /// plays another host).
    pub(crate) async fn open_from(addr: SocketAddr, source: &str) -> Self {
        let socket = TcpSocket::new_v4().unwrap();
        socket.bind(format!("{source}:0").parse().unwrap()).unwrap();
        let stream = timeout(LIMIT, socket.connect(addr))
            .await
            .expect("connect in time")
            .unwrap();
        Self {
            stream: BufReader::new(stream),
        }
    }

    /// The socket itself, for what the methods do not cover (urgent data).
    pub(crate) fn socket(&mut self) -> &mut TcpStream {
        self.stream.get_mut()
    }

    /// Connects and logs in (USER, PASS answered 230, TYPE I).
    pub(crate) async fn login(addr: SocketAddr, user: &str, password: &str) -> Self {
        let mut c = Self::connect(addr).await;
        let (code, text) = c.try_login(user, password).await;
        assert_eq!(code, 230, "{user}: {text}");
        c.expect("TYPE I", 200).await;
        c
    }

    /// USER (answered 331) and PASS: the reply to PASS.
    pub(crate) async fn try_login(&mut self, user: &str, password: &str) -> (u16, String) {
        self.expect(&format!("USER {user}"), 331).await;
        self.cmd(&format!("PASS {password}")).await
    }

    /// The next reply: its code and its whole text (every line of a multi-line reply).
    pub(crate) async fn reply(&mut self) -> (u16, String) {
        let mut text = String::new();
        loop {
            let mut line = String::new();
            let n = timeout(LIMIT, self.stream.read_line(&mut line))
                .await
                .expect("a reply in time")
                .unwrap();
            assert!(
                n > 0,
                "connection closed while waiting for a reply; so far: {text}"
            );
            text.push_str(&line);
            let code = text.get(..3).unwrap_or_default();
            if line.starts_with(code) && line.as_bytes().get(3) == Some(&b' ') {
                return (code.parse().expect("a reply code"), text);
            }
        }
    }

    /// Sends one command line.
    pub(crate) async fn send(&mut self, line: &str) {
        self.stream
            .get_mut()
            .write_all(format!("{line}\r\n").as_bytes())
            .await
            .unwrap();
    }

    /// Sends `line` and reads its reply.
    pub(crate) async fn cmd(&mut self, line: &str) -> (u16, String) {
        self.send(line).await;
        self.reply().await
    }

    /// Sends `line` and asserts the reply's code; returns its text.
    pub(crate) async fn expect(&mut self, line: &str, code: u16) -> String {
        let (got, text) = self.cmd(line).await;
        assert_eq!(got, code, "{line}: {text}");
        text
    }

    /// EPSV, then a connection to the announced port.
    pub(crate) async fn epsv(&mut self) -> TcpStream {
        let text = self.expect("EPSV", 229).await;
        let port: u16 = text
            .split("|||")
            .nth(1)
            .and_then(|rest| rest.split('|').next())
            .and_then(|p| p.parse().ok())
            .expect("EPSV port");
        let ip = self.stream.get_ref().peer_addr().unwrap().ip();
        timeout(LIMIT, TcpStream::connect((ip, port)))
            .await
            .expect("data connect in time")
            .unwrap()
    }

    /// Sends `bytes` with `command` (STOR, APPE, STOU ...), which must start a transfer
    /// (125/150); returns the final reply's code.
    pub(crate) async fn upload(&mut self, command: &str, bytes: &[u8]) -> u16 {
        let data = self.epsv().await;
        let (code, text) = self.cmd(command).await;
        assert!(code == 125 || code == 150, "{command}: {text}");
        self.send_data(data, bytes).await
    }

    /// As [`Control::upload`], but a command refused before the transfer starts returns
    /// that reply's code (for permission checks).
    pub(crate) async fn try_upload(&mut self, command: &str, bytes: &[u8]) -> u16 {
        let data = self.epsv().await;
        let (code, _) = self.cmd(command).await;
        if code != 125 && code != 150 {
            return code;
        }
        self.send_data(data, bytes).await
    }

    /// Writes an upload and closes the sending side (the end of the file), then reads the
    /// final reply. The server may stop reading early (a quota): later writes may fail,
    /// which is not an error here.
    async fn send_data(&mut self, mut data: TcpStream, bytes: &[u8]) -> u16 {
        let _ = timeout(LIMIT, data.write_all(bytes)).await;
        let _ = data.shutdown().await;
        let code = self.reply().await.0;
        drop(data);
        code
    }

    /// RETR or a listing: the final reply's code and the bytes received; a command refused
    /// before the transfer starts returns that reply's code and no bytes.
    pub(crate) async fn download(&mut self, command: &str) -> (u16, Vec<u8>) {
        let mut data = self.epsv().await;
        let (code, _) = self.cmd(command).await;
        if code != 125 && code != 150 {
            return (code, Vec::new());
        }
        let mut bytes = Vec::new();
        timeout(LIMIT, data.read_to_end(&mut bytes))
            .await
            .expect("data in time")
            .unwrap();
        (self.reply().await.0, bytes)
    }

    /// The server closed the connection (EOF within the limit).
    pub(crate) async fn closed(&mut self) -> bool {
        let mut rest = Vec::new();
        matches!(
            timeout(LIMIT, self.stream.read_to_end(&mut rest)).await,
            Ok(Ok(_))
        )
    }
}
