//! The values inside server replies a client reads: FEAT (211), the 257 pathname, SIZE and MDTM
//! (213) and MLST (250).
//!
//! Owns the syntax of those reply texts and the tolerance for servers that bend it (FEAT lines
//! without their leading space, unquoted 257 pathnames, the old `19100` MDTM year). Each parser
//! checks the reply code first: a reply with another code is not an answer to look inside
//! ([`ValueError::UnexpectedCode`]). It must not decide what a client does with a refusal;
//! that belongs to the client session.

use crate::listing::{Entry, parse_facts_line};
use crate::{Reply, ReplyCode, Timestamp};

/// Why a reply did not hold the value asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValueError {
    /// The reply has a code other than the one that carries the value (such as a 550 to SIZE).
    #[error("unexpected reply code {code}")]
    UnexpectedCode {
        /// The code the reply has.
        code: ReplyCode,
    },
    /// The reply text is not the value's syntax.
    #[error("malformed {what} in reply")]
    Syntax {
        /// What was expected, such as `"size"`.
        what: &'static str,
    },
    /// A number in the reply does not fit the value's type.
    #[error("number out of range in reply")]
    OutOfRange,
}

fn expect(reply: &Reply, code: ReplyCode) -> Result<(), ValueError> {
    if reply.code() == code {
        Ok(())
    } else {
        Err(ValueError::UnexpectedCode { code: reply.code() })
    }
}

/// The features a server lists in its reply to FEAT (RFC 2389).
///
/// Each feature line is a name and optional parameters, such as `REST STREAM` or
/// `MLST size*;modify*;type*;`. Names are kept upper-cased and looked up case-insensitively;
/// parameters are kept as sent, without the blanks around them. Lines keep their order and a
/// name may come more than once (some servers send one `AUTH` line per mechanism).
///
/// ```
/// use ftp_proto::{Reply, ReplyCode};
/// use ftp_proto::client::parse::Features;
///
/// let reply = Reply::multiline(ReplyCode::SYSTEM_STATUS, [
///     "Extensions supported:", " EPSV", " MDTM", " MLST size*;type*;modify*;UNIX.mode;",
///     " REST STREAM", " SIZE", " UTF8", " AUTH TLS;SSL", "End",
/// ]);
/// let feat = Features::parse(&reply);
/// assert!(feat.contains("mdtm") && feat.supports_rest_stream() && feat.supports_mlsd());
/// assert_eq!(feat.get("Mlst"), Some("size*;type*;modify*;UNIX.mode;"));
/// assert_eq!(feat.get("EPSV"), Some(""));
/// assert_eq!(feat.get("MFMT"), None);
/// assert_eq!(feat.auth_mechanisms(), ["TLS", "SSL"]);
/// assert_eq!(feat.iter().count(), 7);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Features {
    /// Upper-cased name and parameters, in the order the server sent them.
    lines: Vec<(String, String)>,
}

impl Features {
    /// The features in a reply to FEAT.
    ///
    /// A `211` reply lists one feature per line between its first and last line (RFC 2389
    /// section 3.2). Feature lines should start with a space; lines without one are accepted
    /// too (suppaftp#108), and so are lines that repeat the `211-` prefix. Any other reply
    /// (`500`/`502`: FEAT not understood) gives no features: the server supports only RFC 959.
    ///
    /// ```
    /// use ftp_proto::{Reply, ReplyCode};
    /// use ftp_proto::client::parse::Features;
    ///
    /// let bare = Reply::multiline(ReplyCode::SYSTEM_STATUS, ["Features:", "MDTM", "SIZE", "End"]);
    /// assert!(Features::parse(&bare).supports_size());
    /// let refused = Reply::new(ReplyCode::SYNTAX_ERROR, "FEAT not understood");
    /// assert!(Features::parse(&refused).is_empty());
    /// ```
    pub fn parse(reply: &Reply) -> Features {
        let mut lines = Vec::new();
        let all = reply.lines();
        if reply.code() == ReplyCode::SYSTEM_STATUS && all.len() > 2 {
            let prefix = {
                let mut p = reply.code().digits().to_vec();
                p.push(b'-');
                p
            };
            for line in all.get(1..all.len() - 1).unwrap_or_default() {
                let line = line.strip_prefix(prefix.as_slice()).unwrap_or(line);
                let text = String::from_utf8_lossy(line);
                let text = text.trim();
                if text.is_empty() {
                    continue;
                }
                let (name, params) = text.split_once([' ', '\t']).unwrap_or((text, ""));
                lines.push((name.to_ascii_uppercase(), params.trim().to_owned()));
            }
        }
        Features { lines }
    }

    /// True when the server listed no features.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// True when the server listed the feature `name` (any case).
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// The parameters of the first line naming `name` (any case): `Some("")` for a feature
    /// listed without parameters, `None` for one not listed.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.lines
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, p)| p.as_str())
    }

    /// Every feature line as (upper-cased name, parameters), in the server's order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.lines.iter().map(|(n, p)| (n.as_str(), p.as_str()))
    }

    /// The MLST facts the server offers, such as `["size", "modify", "type"]` for
    /// `MLST size*;modify*;type*;`, or `None` without MLST (RFC 3659 section 7.8). The `*`
    /// that marks the facts selected now is removed; see [`Features::mlst_selected_facts`].
    ///
    /// ```
    /// use ftp_proto::{Reply, ReplyCode};
    /// use ftp_proto::client::parse::Features;
    ///
    /// let reply = Reply::multiline(ReplyCode::SYSTEM_STATUS, ["Features:", " MLST size*;Perm;type*;", "End"]);
    /// let feat = Features::parse(&reply);
    /// assert_eq!(feat.mlst_facts().unwrap(), ["size", "Perm", "type"]);
    /// assert_eq!(feat.mlst_selected_facts().unwrap(), ["size", "type"]);
    /// ```
    pub fn mlst_facts(&self) -> Option<Vec<String>> {
        self.mlst_fact_list()
            .map(|facts| facts.map(|(f, _)| f.to_owned()).collect())
    }

    /// The MLST facts the server sends now (those marked `*`), or `None` without MLST.
    pub fn mlst_selected_facts(&self) -> Option<Vec<String>> {
        self.mlst_fact_list().map(|facts| {
            facts
                .filter(|&(_, selected)| selected)
                .map(|(f, _)| f.to_owned())
                .collect()
        })
    }

    fn mlst_fact_list(&self) -> Option<impl Iterator<Item = (&str, bool)>> {
        let params = self.get("MLST")?;
        Some(params.split(';').map(str::trim).filter_map(|f| {
            let (name, selected) = match f.strip_suffix('*') {
                Some(name) => (name, true),
                None => (f, false),
            };
            (!name.is_empty()).then_some((name, selected))
        }))
    }

    /// True when `REST STREAM` is listed (RFC 3659 section 5): REST before RETR and STOR
    /// resumes a transfer.
    pub fn supports_rest_stream(&self) -> bool {
        self.lines.iter().any(|(n, p)| {
            n == "REST"
                && p.split_whitespace()
                    .any(|t| t.eq_ignore_ascii_case("STREAM"))
        })
    }

    /// True when `UTF8` is listed (RFC 2640): pathnames are UTF-8 (after `OPTS UTF8 ON` on
    /// some servers).
    pub fn supports_utf8(&self) -> bool {
        self.contains("UTF8")
    }

    /// True when `EPSV` is listed (RFC 2428). Many servers support EPSV without listing it, so
    /// `false` is no reason not to try it.
    pub fn supports_epsv(&self) -> bool {
        self.contains("EPSV")
    }

    /// True when `MLST` is listed, which announces MLSD as well (RFC 3659 section 7.8), or
    /// when a server lists `MLSD` on its own line.
    pub fn supports_mlsd(&self) -> bool {
        self.contains("MLST") || self.contains("MLSD")
    }

    /// True when `MFMT` is listed (draft-somers-ftp-mfxx): the modification time can be set.
    pub fn supports_mfmt(&self) -> bool {
        self.contains("MFMT")
    }

    /// True when `SIZE` is listed (RFC 3659 section 4).
    pub fn supports_size(&self) -> bool {
        self.contains("SIZE")
    }

    /// True when `MDTM` is listed (RFC 3659 section 3).
    pub fn supports_mdtm(&self) -> bool {
        self.contains("MDTM")
    }

    /// True when `TVFS` is listed (RFC 3659 section 6): pathnames are `/`-separated.
    pub fn supports_tvfs(&self) -> bool {
        self.contains("TVFS")
    }

    /// The AUTH mechanisms listed, upper-cased and without repeats, from `AUTH TLS;SSL`,
    /// `AUTH TLS SSL` or one `AUTH` line per mechanism (RFC 4217 section 6).
    pub fn auth_mechanisms(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for (_, params) in self.lines.iter().filter(|(n, _)| n == "AUTH") {
            for m in params
                .split([';', ',', ' ', '\t'])
                .filter(|m| !m.is_empty())
            {
                let m = m.to_ascii_uppercase();
                if !out.contains(&m) {
                    out.push(m);
                }
            }
        }
        out
    }
}

/// The pathname in a `257` reply (to PWD or MKD), byte-exact.
///
/// RFC 959 appendix II: the pathname is quoted, a `"` inside it is doubled, and text after the
/// closing quote is commentary. Some servers (old IIS versions and small embedded ones) send
/// the path unquoted, as in `257 /pub is current directory`: without any `"`, the first word
/// that starts with `/` (or a drive letter and `:`) is taken instead.
///
/// # Errors
///
/// [`ValueError::UnexpectedCode`] for a reply other than `257`; [`ValueError::Syntax`] when the
/// quote is never closed, the pathname is empty, or an unquoted reply has no path-like word.
///
/// ```
/// use ftp_proto::{Reply, ReplyCode};
/// use ftp_proto::client::parse::parse_pathname;
///
/// let r = Reply::new(ReplyCode::PATHNAME_CREATED, r#""/a ""quoted"" dir" created"#);
/// assert_eq!(parse_pathname(&r).unwrap(), br#"/a "quoted" dir"#);
/// let iis = Reply::new(ReplyCode::PATHNAME_CREATED, "/pub is current directory.");
/// assert_eq!(parse_pathname(&iis).unwrap(), b"/pub");
/// assert!(parse_pathname(&Reply::new(ReplyCode::FILE_UNAVAILABLE, "no")).is_err());
/// ```
pub fn parse_pathname(reply: &Reply) -> Result<Vec<u8>, ValueError> {
    expect(reply, ReplyCode::PATHNAME_CREATED)?;
    let syntax = ValueError::Syntax { what: "pathname" };
    let text = reply.first_line();
    let Some(open) = text.iter().position(|&b| b == b'"') else {
        return text
            .split(|&b| b == b' ' || b == b'\t')
            .find(|w| looks_like_path(w))
            .map(<[u8]>::to_vec)
            .ok_or(syntax);
    };
    let mut path = Vec::new();
    let mut rest = text.get(open + 1..).unwrap_or_default().iter();
    loop {
        match rest.next() {
            None => return Err(syntax),
            Some(b'"') => {
                if rest.as_slice().first() == Some(&b'"') {
                    rest.next();
                    path.push(b'"');
                } else {
                    break;
                }
            }
            Some(&b) => path.push(b),
        }
    }
    if path.is_empty() {
        Err(syntax)
    } else {
        Ok(path)
    }
}

fn looks_like_path(word: &[u8]) -> bool {
    match word {
        [b'/', ..] => true,
        [letter, b':', ..] => letter.is_ascii_alphabetic(),
        _ => false,
    }
}

/// The first word of a single-value reply's text.
fn first_word(reply: &Reply) -> &[u8] {
    reply
        .first_line()
        .split(|&b| b == b' ' || b == b'\t')
        .find(|w| !w.is_empty())
        .unwrap_or_default()
}

/// The size in a `213` reply to SIZE (RFC 3659 section 4): `213 52113`. Blanks around the
/// number and text after it are tolerated.
///
/// # Errors
///
/// [`ValueError::UnexpectedCode`] for a reply other than `213` (a `550` for a missing file or
/// a directory); [`ValueError::Syntax`] when the first word is not a decimal number;
/// [`ValueError::OutOfRange`] when it does not fit a `u64`.
///
/// ```
/// use ftp_proto::{Reply, ReplyCode};
/// use ftp_proto::client::parse::{ValueError, parse_size};
///
/// assert_eq!(parse_size(&Reply::new(ReplyCode::FILE_STATUS, " 52113 ")), Ok(52113));
/// assert_eq!(
///     parse_size(&Reply::new(ReplyCode::FILE_STATUS, "99999999999999999999")),
///     Err(ValueError::OutOfRange)
/// );
/// ```
pub fn parse_size(reply: &Reply) -> Result<u64, ValueError> {
    expect(reply, ReplyCode::FILE_STATUS)?;
    let word = first_word(reply);
    if word.is_empty() || !word.iter().all(u8::is_ascii_digit) {
        return Err(ValueError::Syntax { what: "size" });
    }
    word.iter()
        .try_fold(0u64, |acc, &d| {
            acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        })
        .ok_or(ValueError::OutOfRange)
}

/// The modification time in a `213` reply to MDTM (RFC 3659 section 3):
/// `213 YYYYMMDDHHMMSS[.sss]`, UTC.
///
/// Also read: the `19100` year that servers with a Y2K bug sent for 2000 and later (the year
/// printed as `19` followed by years since 1900, such as `191000307120500` for 2000-03-07).
///
/// # Errors
///
/// [`ValueError::UnexpectedCode`] for a reply other than `213`; [`ValueError::Syntax`] when
/// the first word is not a valid time.
///
/// ```
/// use ftp_proto::{Reply, ReplyCode, Timestamp};
/// use ftp_proto::client::parse::parse_mdtm;
///
/// let t = parse_mdtm(&Reply::new(ReplyCode::FILE_STATUS, "20240307120500")).unwrap();
/// assert_eq!(t, Timestamp::new(2024, 3, 7, 12, 5, 0).unwrap());
/// let y2k = parse_mdtm(&Reply::new(ReplyCode::FILE_STATUS, "191240307120500")).unwrap();
/// assert_eq!(y2k.year(), 2024);
/// ```
pub fn parse_mdtm(reply: &Reply) -> Result<Timestamp, ValueError> {
    expect(reply, ReplyCode::FILE_STATUS)?;
    let syntax = ValueError::Syntax { what: "time" };
    let word = first_word(reply);
    if let Ok(t) = Timestamp::parse(word) {
        return Ok(t);
    }
    // `19` + (year - 1900) in three digits + MMDDHHMMSS[.sss].
    let digits = word.split(|&b| b == b'.').next().unwrap_or_default();
    match (digits.len(), word.strip_prefix(b"19")) {
        (15, Some(rest)) => {
            let (years, rest) = (rest.get(..3).ok_or(syntax)?, rest.get(3..).ok_or(syntax)?);
            if !years.iter().all(u8::is_ascii_digit) {
                return Err(syntax);
            }
            let years = years
                .iter()
                .fold(0u16, |acc, &d| acc * 10 + u16::from(d - b'0'));
            let mut fixed = format!("{:04}", 1900 + years).into_bytes();
            fixed.extend_from_slice(rest);
            Timestamp::parse(&fixed).map_err(|_| syntax)
        }
        _ => Err(syntax),
    }
}

/// The entry in a `250` reply to MLST (RFC 3659 section 7.2):
///
/// ```text
/// 250-Listing /pub/notes.txt
///  type=file;size=52113;modify=20240307120500; /pub/notes.txt
/// 250 End
/// ```
///
/// The fact line is the inner line that starts with a space (or, failing one, the first inner
/// line). Its facts are read as by [`parse_mlsx_line`](crate::listing::parse_mlsx_line), but
/// nothing is dropped: [`Entry::name`] is the *pathname* the server sent, which may hold `/`
/// and be `type=cdir`; take its last component (and check it with
/// [`local_name`](crate::listing::local_name)) before using it as a local file name.
///
/// # Errors
///
/// [`ValueError::UnexpectedCode`] for a reply other than `250`; [`ValueError::Syntax`] when
/// no inner line is a fact line.
///
/// ```
/// use ftp_proto::{Reply, ReplyCode};
/// use ftp_proto::client::parse::parse_mlst;
/// use ftp_proto::listing::EntryKind;
///
/// let reply = Reply::multiline(ReplyCode::FILE_ACTION_OKAY, [
///     "Listing /pub", " type=cdir;perm=el;UNIX.mode=0755; /pub", "End",
/// ]);
/// let entry = parse_mlst(&reply).unwrap();
/// assert_eq!((entry.name.as_slice(), entry.kind, entry.unix_mode), (&b"/pub"[..], EntryKind::CurrentDir, Some(0o755)));
/// ```
pub fn parse_mlst(reply: &Reply) -> Result<Entry, ValueError> {
    expect(reply, ReplyCode::FILE_ACTION_OKAY)?;
    let syntax = ValueError::Syntax { what: "MLST facts" };
    let lines = reply.lines();
    let inner = lines
        .get(1..lines.len().saturating_sub(1))
        .unwrap_or_default();
    let line = inner
        .iter()
        .find(|l| l.first() == Some(&b' '))
        .or_else(|| inner.first())
        .ok_or(syntax)?;
    if line.len() > crate::listing::MAX_LIST_LINE {
        return Err(syntax);
    }
    parse_facts_line(line).ok_or(syntax)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feat(lines: &[&str]) -> Features {
        Features::parse(&Reply::multiline(ReplyCode::SYSTEM_STATUS, lines))
    }

    #[test]
    fn feat_real_servers() {
        // vsftpd 3.0
        let vsftpd = feat(&[
            "Features:",
            " EPRT",
            " EPSV",
            " MDTM",
            " PASV",
            " REST STREAM",
            " SIZE",
            " TVFS",
            " UTF8",
            "End",
        ]);
        assert!(vsftpd.supports_epsv() && vsftpd.supports_tvfs() && vsftpd.supports_utf8());
        assert!(vsftpd.supports_rest_stream() && vsftpd.supports_size() && vsftpd.supports_mdtm());
        assert!(!vsftpd.supports_mlsd() && !vsftpd.supports_mfmt());
        assert_eq!(vsftpd.mlst_facts(), None);
        assert!(vsftpd.auth_mechanisms().is_empty());

        // proftpd 1.3 with mod_tls
        let proftpd = feat(&[
            "Features:",
            " AUTH TLS",
            " CCC",
            " CLNT",
            " EPRT",
            " EPSV",
            " HOST",
            " LANG en-US*",
            " MDTM",
            " MFF modify;UNIX.group;UNIX.mode;",
            " MFMT",
            " MLST modify*;perm*;size*;type*;unique*;UNIX.group*;UNIX.groupname*;UNIX.mode*;UNIX.owner*;UNIX.ownername*;",
            " PBSZ",
            " PROT",
            " REST STREAM",
            " SIZE",
            " SSCN",
            " TVFS",
            "End",
        ]);
        assert!(proftpd.supports_mlsd() && proftpd.supports_mfmt());
        assert_eq!(proftpd.auth_mechanisms(), ["TLS"]);
        assert_eq!(proftpd.mlst_facts().map(|f| f.len()), Some(10));
        assert_eq!(proftpd.get("lang"), Some("en-US*"));

        // pure-ftpd
        let pure = feat(&[
            "Extensions supported:",
            " UTF8",
            " EPRT",
            " IDLE",
            " MDTM",
            " SIZE",
            " MFMT",
            " REST STREAM",
            " MLST type*;size*;sizd*;modify*;UNIX.mode*;UNIX.uid*;UNIX.gid*;unique*;",
            " MLSD",
            " AUTH TLS",
            " PBSZ",
            " PROT",
            " TVFS",
            " ESTA",
            " PASV",
            " EPSV",
            " SPSV",
            " ESTP",
            "End.",
        ]);
        assert_eq!(
            pure.mlst_selected_facts().unwrap(),
            [
                "type",
                "size",
                "sizd",
                "modify",
                "UNIX.mode",
                "UNIX.uid",
                "UNIX.gid",
                "unique"
            ]
        );

        // FileZilla Server: several AUTH lines and lower-case noise.
        let fz = feat(&[
            "Features:",
            " MDTM",
            " REST STREAM",
            " SIZE",
            " MLST type*;size*;modify*;",
            " MLSD",
            " AUTH SSL",
            " AUTH TLS",
            " PROT",
            " PBSZ",
            " UTF8",
            " CLNT",
            " MFMT",
            " EPSV",
            " EPRT",
            "End",
        ]);
        assert_eq!(fz.auth_mechanisms(), ["SSL", "TLS"]);

        // IIS: no leading spaces, `AUTH TLS;TLS-C;SSL;TLS-P;`.
        let iis = feat(&[
            "Extensions supported:",
            "AUTH TLS;TLS-C;SSL;TLS-P;",
            "PBSZ",
            "PROT C;P;",
            "HOST",
            "SIZE",
            "MDTM",
            "REST STREAM",
            "UTF8",
            "EPSV",
            "End",
        ]);
        assert_eq!(iis.auth_mechanisms(), ["TLS", "TLS-C", "SSL", "TLS-P"]);
        assert!(iis.supports_rest_stream() && iis.supports_utf8());
    }

    #[test]
    fn feat_edge_cases() {
        // Single-line 211 and other codes: nothing listed.
        assert!(Features::parse(&Reply::new(ReplyCode::SYSTEM_STATUS, "no features")).is_empty());
        assert!(
            Features::parse(&Reply::new(ReplyCode::COMMAND_NOT_IMPLEMENTED, "FEAT")).is_empty()
        );
        // Hyphenated inner lines, blank lines, tabs, lower-case names.
        let f = feat(&["Features:", "211-MDTM", "", "   ", " rest\tSTREAM ", "End"]);
        assert_eq!(
            f.iter().collect::<Vec<_>>(),
            [("MDTM", ""), ("REST", "STREAM")]
        );
        assert!(f.supports_rest_stream());
        // REST without STREAM is not stream restarts.
        assert!(!feat(&["F", " REST", "E"]).supports_rest_stream());
        // MLST without facts.
        assert_eq!(feat(&["F", " MLST", "E"]).mlst_facts(), Some(vec![]));
    }

    fn r(code: u16, text: &str) -> Reply {
        Reply::new(ReplyCode::new(code).unwrap(), text)
    }

    #[test]
    fn pathnames() {
        for (text, path) in [
            (r#""/" is current directory."#, &b"/"[..]),
            (r#""/home/alice" is the current directory"#, b"/home/alice"),
            (r#""/a ""b"" c" created"#, br#"/a "b" c"#),
            (r#""/trailing""""#, br#"/trailing""#),
            (r#"MKD command successful: "/x y""#, b"/x y"),
            (r#""C:\Users\ftp""#, br"C:\Users\ftp"),
            (r#""/no/comment""#, b"/no/comment"),
            ("/pub is current directory.", b"/pub"),
            ("Current directory is /home", b"/home"),
            ("C:/data is current", b"C:/data"),
        ] {
            assert_eq!(parse_pathname(&r(257, text)).as_deref(), Ok(path), "{text}");
        }
        let bytes = Reply::new(ReplyCode::PATHNAME_CREATED, &b"\"/caf\xe9\xff\" ok"[..]);
        assert_eq!(parse_pathname(&bytes).unwrap(), b"/caf\xe9\xff");
        for bad in [
            r#""/unterminated"#,
            r#""""#,
            r#""" created"#,
            "no path here",
            "",
        ] {
            assert_eq!(
                parse_pathname(&r(257, bad)),
                Err(ValueError::Syntax { what: "pathname" }),
                "{bad}"
            );
        }
        assert_eq!(
            parse_pathname(&r(550, r#""/x""#)),
            Err(ValueError::UnexpectedCode {
                code: ReplyCode::FILE_UNAVAILABLE
            })
        );
    }

    #[test]
    fn sizes() {
        for (text, size) in [
            ("0", 0),
            ("52113", 52113),
            ("  7  ", 7),
            ("18446744073709551615", u64::MAX),
            ("00012", 12),
            ("12 bytes", 12),
        ] {
            assert_eq!(parse_size(&r(213, text)), Ok(size), "{text}");
        }
        for bad in ["", "-1", "1e3", "0x10", "12,345", "size: 5"] {
            assert_eq!(
                parse_size(&r(213, bad)),
                Err(ValueError::Syntax { what: "size" }),
                "{bad}"
            );
        }
        assert_eq!(
            parse_size(&r(213, "18446744073709551616")),
            Err(ValueError::OutOfRange)
        );
        assert_eq!(
            parse_size(&r(213, &"9".repeat(10_000))),
            Err(ValueError::OutOfRange)
        );
        assert!(matches!(
            parse_size(&r(550, "not a plain file")),
            Err(ValueError::UnexpectedCode { .. })
        ));
    }

    #[test]
    fn mdtm_times() {
        let t = |s: &str| parse_mdtm(&r(213, s));
        assert_eq!(t("20240307120509").unwrap().to_string(), "20240307120509");
        assert_eq!(
            t(" 20240307120509.5 ").unwrap().to_string(),
            "20240307120509.500"
        );
        assert_eq!(t("19991231235959").unwrap().year(), 1999);
        assert_eq!(t("191000101000000").unwrap().to_string(), "20000101000000");
        assert_eq!(
            t("191230101000000.25").unwrap().to_string(),
            "20230101000000.250"
        );
        for bad in [
            "",
            "2024",
            "20241307120509",
            "19x000101000000",
            "abcdefghijklmn",
            "201000101000000",
        ] {
            assert_eq!(t(bad), Err(ValueError::Syntax { what: "time" }), "{bad}");
        }
        assert!(matches!(
            parse_mdtm(&r(550, "20240307120509")),
            Err(ValueError::UnexpectedCode { .. })
        ));
    }

    #[test]
    fn mlst_replies() {
        use crate::listing::EntryKind;
        let reply = Reply::parse(
            b"250-Listing /pub/my file.txt\r\n type=file;size=52113;modify=20240307120500;UNIX.mode=0644; /pub/my file.txt\r\n250 End\r\n",
        )
        .unwrap();
        let e = parse_mlst(&reply).unwrap();
        assert_eq!(e.name, b"/pub/my file.txt");
        assert_eq!(
            (e.kind, e.size, e.unix_mode),
            (EntryKind::File, 52113, Some(0o644))
        );
        // The pathname is not screened: MLST names a path, and may name `/` or `..`.
        let root = Reply::multiline(
            ReplyCode::FILE_ACTION_OKAY,
            ["MLST /", " type=cdir; /", "End"],
        );
        assert_eq!(parse_mlst(&root).unwrap().kind, EntryKind::CurrentDir);
        // A fact line without its leading space is taken when it is the only inner line.
        let bare = Reply::multiline(ReplyCode::FILE_ACTION_OKAY, ["x", "type=dir; /d", "End"]);
        assert_eq!(parse_mlst(&bare).unwrap().kind, EntryKind::Dir);
        for bad in [
            Reply::new(ReplyCode::FILE_ACTION_OKAY, "type=file; /x"),
            Reply::multiline(ReplyCode::FILE_ACTION_OKAY, ["x", "nospace", "End"]),
            Reply::multiline(ReplyCode::FILE_ACTION_OKAY, ["x", " type=file;", "End"]),
        ] {
            assert!(
                matches!(parse_mlst(&bad), Err(ValueError::Syntax { .. })),
                "{bad:?}"
            );
        }
        assert!(matches!(
            parse_mlst(&r(550, "no")),
            Err(ValueError::UnexpectedCode { .. })
        ));
    }
}
