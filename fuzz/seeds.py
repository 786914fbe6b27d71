#!/usr/bin/env python3
"""Writes the seed corpus in fuzz/corpus/<target>/ (deterministic; run from anywhere).

    python3 fuzz/seeds.py

Files are overwritten, never deleted: inputs added by hand (e.g. minimised crashes kept as
regression seeds) survive a regeneration. Every file stays under 4 KiB.
"""

import pathlib
import random

CORPUS = pathlib.Path(__file__).resolve().parent / "corpus"
MAX_SIZE = 4096


def lines(*ls: bytes) -> bytes:
    return b"".join(line + b"\r\n" for line in ls)


# --- command: control-channel bytes from a client ------------------------------------------

COMMAND = {
    "curl_anonymous_retr": lines(
        b"USER anonymous", b"PASS ftp@example.com", b"PWD", b"CWD pub", b"EPSV", b"TYPE I",
        b"SIZE file.txt", b"RETR file.txt", b"QUIT",
    ),
    "curl_upload_stor": lines(
        b"USER alice", b"PASS s3cret", b"PWD", b"CWD upload", b"EPSV", b"TYPE I",
        b"STOR file.bin", b"QUIT",
    ),
    "curl_list_epsv_fallback_pasv": lines(
        b"USER anonymous", b"PASS ftp@example.com", b"PWD", b"EPSV", b"PASV", b"TYPE A",
        b"LIST", b"QUIT",
    ),
    "curl_resume_rest": lines(
        b"USER anonymous", b"PASS ftp@example.com", b"PWD", b"EPSV", b"TYPE I", b"SIZE big.iso",
        b"REST 1048576", b"RETR big.iso", b"QUIT",
    ),
    "lftp_tls_mlsd": lines(
        b"FEAT", b"AUTH TLS", b"OPTS UTF8 ON", b"USER alice", b"PASS hunter2", b"PWD",
        b"PBSZ 0", b"PROT P", b"OPTS MLST type;size;modify;UNIX.mode;UNIX.owner;UNIX.group;",
        b"EPSV", b"MLSD", b"CWD /pub", b"EPSV", b"MLSD", b"QUIT",
    ),
    "lftp_anonymous_get": lines(
        b"FEAT", b"USER anonymous", b"PASS lftp@", b"PWD", b"CWD /pub/linux", b"TYPE I",
        b"SIZE kernel.tar.xz", b"MDTM kernel.tar.xz", b"EPSV", b"RETR kernel.tar.xz", b"QUIT",
    ),
    "python_ftplib_retrbinary_and_dir": lines(
        b"USER anonymous", b"PASS anonymous@", b"CWD debian", b"TYPE I", b"PASV",
        b"RETR README", b"TYPE A", b"PASV", b"LIST", b"TYPE A", b"PASV", b"NLST", b"QUIT",
    ),
    "python_ftplib_tls_mlsd": lines(
        b"AUTH TLS", b"USER bob", b"PASS pw", b"PBSZ 0", b"PROT P", b"TYPE A", b"PASV",
        b"MLSD", b"TYPE I", b"PASV", b"STOR out.bin", b"RNFR out.bin", b"RNTO final.bin",
        b"DELE old.bin", b"MKD newdir", b"RMD newdir", b"QUIT",
    ),
    "wget_retr_continue": lines(
        b"USER anonymous", b"PASS -wget@", b"SYST", b"PWD", b"TYPE I", b"CWD /pub/gnu",
        b"SIZE wget-1.21.tar.gz", b"PASV", b"REST 4096", b"RETR wget-1.21.tar.gz",
    ),
    "wget_list_for_glob": lines(
        b"USER anonymous", b"PASS -wget@", b"SYST", b"PWD", b"TYPE I", b"CWD /pub", b"PASV",
        b"LIST -a", b"TYPE I", b"PASV", b"RETR index.html",
    ),
    "filezilla_session": lines(
        b"AUTH TLS", b"USER alice", b"PASS hunter2", b"OPTS UTF8 ON", b"PBSZ 0", b"PROT P",
        b"SYST", b"FEAT", b"PWD", b"TYPE I", b"PASV", b"MLSD", b"CWD /www", b"PWD", b"PASV",
        b"MLSD", b"TYPE I", b"PASV", b"STOR index.html", b"MFMT 20240101120000 index.html",
        b"MDTM index.html", b"SIZE index.html", b"NOOP", b"QUIT",
    ),
    "filezilla_eprt_active_ipv6": lines(
        b"USER anonymous", b"PASS anonymous@example.com", b"OPTS UTF8 ON", b"PWD", b"TYPE I",
        b"EPRT |2|2001:db8::10|50123|", b"LIST", b"PORT 192,168,0,10,195,81", b"RETR a.txt",
        b"QUIT",
    ),
    "rfc959_port_and_misc": lines(
        b"USER doe", b"PASS mumble", b"ACCT billing", b"SMNT /mnt", b"CDUP", b"REIN",
        b"PORT 132,235,1,2,24,131", b"TYPE A N", b"TYPE E T", b"TYPE L 8", b"STRU F", b"STRU R",
        b"MODE S", b"MODE B", b"ALLO 100 R 10", b"ALLO 4096", b"REST 100", b"STOU",
        b"APPE log.txt", b"LIST -la dir", b"NLST", b"SITE CHMOD 644 file", b"SYST", b"STAT",
        b"STAT dir", b"HELP", b"HELP RETR", b"NOOP", b"QUIT",
    ),
    "rfc2428_eprt_epsv": lines(
        b"EPRT |1|132.235.1.2|6275|", b"EPRT |2|1080::8:800:200C:417A|5282|", b"EPSV",
        b"EPSV 1", b"EPSV 2", b"EPSV ALL", b"EPSV 3",
    ),
    "rfc3659_mlst_mdtm_size_rest": lines(
        b"MLST tmp", b"MLST", b"MLSD /pub", b"MDTM file", b"SIZE file", b"REST 0",
        b"OPTS MLST size;type;modify;", b"FEAT",
    ),
    "mfmt_and_checksums": lines(
        b"MFMT 20020717210715 original.file", b"MFMT 20020717210715.123 f", b'XCRC "a b" 0 10',
        b"XCRC file", b"XMD5 file", b"XSHA1 file", b"XSHA256 file", b"HASH file",
        b"AVBL /pub", b"CLNT curl/8.5.0", b"HOST ftp.example.com", b"LANG en",
    ),
    "rfc2228_rfc4217_security": lines(
        b"AUTH TLS", b"AUTH SSL", b"AUTH GSSAPI", b"ADAT YIIFbQYJKoZIhvcSAQICAQBuggVc",
        b"PBSZ 0", b"PROT P", b"PROT C", b"PROT S", b"PROT E", b"CCC", b"MIC dGVzdA==",
        b"CONF dGVzdA==", b"ENC dGVzdA==",
    ),
    "x_legacy_verbs": lines(
        b"XPWD", b"XMKD new", b"XRMD new", b"XCWD /tmp", b"XCUP", b"LPRT 4,4,132,235,1,2,2,24,131",
        b"LPSV", b"MAIL", b"FROB something",
    ),
    "telnet_ip_dm_abor": b"\xff\xf4\xff\xf2ABOR\r\n",
    "telnet_ip_dm_abor_mid_transfer": lines(b"TYPE I", b"PASV", b"RETR big.iso")
    + b"\xff\xf4\xff\xf2ABOR\r\n"
    + lines(b"STAT", b"QUIT"),
    "telnet_iac_iac_in_filename": b"RETR a\xff\xffb.txt\r\n\xff\xf4\xff\xf2STAT\r\n",
    "telnet_negotiation_before_user": b"\xff\xfb\x18\xff\xfd\x03USER anonymous\r\nPASS x\r\n",
    "invalid_utf8_latin1_path": lines(b"USER anonymous", b"PASS x", b"CWD caf\xe9", b"RETR na\xefve.txt"),
    "invalid_utf8_mixed": b"STOR \xc3\x28.bin\r\nDELE \xed\xa0\x80\r\nUSER \x80\x81\r\nMKD \xf0\x9f\x98\x80ok\r\n",
    "lowercase_bare_lf_and_spaces": b"user anonymous\npass  two  spaces \nretr file\ncwd\r\nrest -1\r\nrest abc\r\n",
    "nul_and_cr_in_args": b"RETR a\x00b\r\nSTOR a\rb\r\nPWD\r\n",
    "overlong_line_then_noop": b"RETR " + b"x" * 1100 + b"\r\nNOOP\r\n",
    "empty_and_blank_lines": b"\r\n\r\n \r\nNOOP\r\n\n",
}

# --- reply: first byte is the split point, then server bytes ---------------------------------

PURE_FTPD_GREETING = lines(
    b"220---------- Welcome to Pure-FTPd [privsep] [TLS] ----------",
    b"220-You are user number 1 of 50 allowed.",
    b"220-Local time is now 12:00. Server port: 21.",
    b"220-This is a private system - No anonymous login",
    b"220 You will be disconnected after 15 minutes of inactivity.",
)

REPLY = {
    "vsftpd_session": (17, lines(
        b"220 (vsFTPd 3.0.5)", b"331 Please specify the password.", b"230 Login successful.",
        b'257 "/" is the current directory', b"200 Switching to Binary mode.",
        b"227 Entering Passive Mode (192,168,1,2,19,137).", b"150 Opening BINARY mode data connection for file (42 bytes).",
        b"226 Transfer complete.", b"221 Goodbye.",
    )),
    "vsftpd_multiline_banner": (9, lines(
        b"220-Welcome to the example.org archive.", b"220-All transfers are logged.",
        b"220 (vsFTPd 3.0.5)",
    )),
    "proftpd_greeting_and_feat": (40, lines(
        b"220 ProFTPD Server (Debian) [::ffff:192.0.2.1]",
        b"211-Features:", b" AUTH TLS", b" CCC", b" CLNT", b" EPRT", b" EPSV", b" HOST",
        b" LANG en-US*", b" MDTM", b" MFF modify;UNIX.group;UNIX.mode;", b" MFMT",
        b" MLST modify*;perm*;size*;type*;unique*;UNIX.group*;UNIX.mode*;UNIX.owner*;",
        b" PBSZ", b" PROT", b" REST STREAM", b" SITE COPY", b" SIZE", b" TVFS", b" UTF8",
        b"211 End",
    )),
    "pure_ftpd_greeting": (64, PURE_FTPD_GREETING),
    "pure_ftpd_greeting_split_early": (3, PURE_FTPD_GREETING),
    "vsftpd_feat": (0, lines(
        b"211-Features:", b" EPRT", b" EPSV", b" MDTM", b" PASV", b" REST STREAM", b" SIZE",
        b" TVFS", b" UTF8", b"211 End",
    )),
    "pasv_227_variants": (30, lines(
        b"227 Entering Passive Mode (192,168,1,2,19,137).", b"227 Entering Passive Mode 10,0,0,1,0,21",
        b"227 =127,0,0,1,4,1",
    )),
    "epsv_229_variants": (25, lines(
        b"229 Entering Extended Passive Mode (|||6446|)", b"229 Entering Extended Passive Mode (!!!6446!)",
        b"229 Extended Passive Mode OK (|||65535|)",
    )),
    "pwd_257_doubled_quotes": (12, lines(
        b'257 "/a ""quoted"" dir" is current directory.', b'257 "/new dir" created.',
        b'257 "/tmp"',
    )),
    "rfc959_section_4_2_multiline": (20, lines(
        b"123-First line", b"Second line", b"  234 A line beginning with numbers",
        b"123 The last line",
    )),
    "glftpd_multiline_end_code_differs": (33, lines(
        b"200- [Ratio: UL&DL] [Credits: 1024MB]", b"200- Welcome to glftpd",
        b"250 CWD command successful.",
    )),
    "multiline_end_code_differs_then_single": (50, lines(
        b"230-Welcome, archive user!", b"230-", b"226 Done", b"221 Bye",
    )),
    "stat_213_listing": (55, lines(
        b"213-Status of /pub:", b"drwxr-xr-x 2 ftp ftp 4096 Jan 01 12:00 .",
        b"-rw-r--r-- 1 ftp ftp 42 Jan 01 12:00 file", b"213 End of status",
    )),
    "bare_lf_replies": (7, b"220 hi\n331 pw\n230-a\n230 b\n"),
    "tls_and_errors": (11, lines(
        b"234 AUTH TLS successful", b"200 PBSZ 0 successful", b"200 Protection set to Private",
        b"500 Unknown command.", b"530 Please login with USER and PASS.", b"550 No such file.",
        b"421 Timeout.",
    )),
    "invalid_codes_and_garbage": (4, b"999 nine\r\n099 low\r\nabc def\r\n22 short\r\n220\r\n2200 long\r\n\xff\xfe\r\n220 ok\r\n"),
    "unterminated_multiline": (10, b"211-Features:\r\n EPSV\r\n UTF8\r\n"),
    "oversized_multiline": (200, b"211-big\r\n" + b" " + b"y" * 2100 + b"\r\n211 End\r\n"),
}

# --- framing: first byte is the split point, then raw control bytes --------------------------

FRAMING = {
    "crlf_lf_cr_mixed": (9, b"USER a\r\nPASS b\nNOOP\rQUIT\r\n"),
    "cr_nul": (6, b"RETR a\r\x00b\r\nPWD\r\n"),
    "crlf_split_between_cr_and_lf": (7, b"NOOP\r\n\r\nPWD\r\n"),
    "trailing_cr": (3, b"NOOP\r\nQUIT\r"),
    "iac_iac": (7, b"RETR a\xff\xffb\r\nNOOP\r\n"),
    "iac_ip_dm_abor": (2, b"\xff\xf4\xff\xf2ABOR\r\n"),
    "iac_split_after_iac": (5, b"NOOP\xff\xf4\xff\xf2ABOR\r\n"),
    "iac_will_do_wont_dont": (4, b"\xff\xfb\x01\xff\xfd\x03\xff\xfc\x18\xff\xfe\x1fUSER x\r\n"),
    "iac_will_split_before_option": (2, b"\xff\xfb\x01NOOP\r\n"),
    "iac_sb_se": (5, b"\xff\xfa\x18\x01\xff\xf0USER x\r\n"),
    "iac_sb_with_iac_iac_inside": (6, b"\xff\xfa\x18\x00xt\xff\xffrm\xff\xf0NOOP\r\n"),
    "iac_sb_unterminated": (3, b"\xff\xfa\x18\x01NOOP\r\nQUIT\r\n"),
    "iac_at_end": (255, b"NOOP\r\n\xff"),
    "iac_other_commands": (4, b"\xff\xf1\xff\xf3\xff\xf5\xff\xf6\xff\xf7\xff\xf8\xff\xf9NOOP\r\n"),
    "overlong_then_valid": (70, b"STOR " + b"z" * 100 + b"\r\nNOOP\r\n"),
    "overlong_lf_only_then_valid": (64, b"a" * 65 + b"\nPWD\n"),
    "exact_max_line": (64, b"S" * 64 + b"\r\n" + b"T" * 63 + b"\r\r\n"),
    "overlong_with_iac": (30, b"\xff\xff" * 40 + b"\r\nNOOP\r\n"),
    "only_separators": (1, b"\r\n\n\r\r\n\x00\r\x00\n"),
}

# --- addr: the same bytes go to every address parser -----------------------------------------

ADDR = {
    "port_rfc959": b"132,235,1,2,24,131",
    "port_spaces": b" 127, 0, 0, 1, 4, 1 ",
    "port_max": b"255,255,255,255,255,255",
    "port_octet_256": b"127,0,0,256,4,1",
    "port_five_numbers": b"127,0,0,1,4",
    "port_leading_zeros": b"010,000,000,001,004,001",
    "port_huge_number": b"1,2,3,4,5,999999999999999999999999999999",
    "eprt_ipv4_pipe": b"|1|132.235.1.2|6275|",
    "eprt_ipv6_pipe": b"|2|1080::8:800:200C:417A|5282|",
    "eprt_ipv4_bang": b"!1!132.235.1.2!6275!",
    "eprt_ipv6_hash": b"#2#::1#21#",
    "eprt_ipv6_mapped": b"|2|::ffff:10.0.0.1|2121|",
    "eprt_unknown_protocol": b"|3|x|1|",
    "eprt_mismatched_family": b"|1|::1|21|",
    "eprt_port_too_big": b"|1|10.0.0.1|65536|",
    "eprt_missing_trailing_delim": b"|1|10.0.0.1|21",
    "pasv_227_parens": b"Entering Passive Mode (192,168,1,2,19,137).",
    "pasv_227_no_parens": b"Entering Passive Mode 10,0,0,1,0,21",
    "pasv_227_equals": b"=127,0,0,1,4,1",
    "pasv_227_with_code": b"227 Entering Passive Mode (10,0,0,1,255,255)",
    "pasv_227_number_too_big": b"Entering Passive Mode (300,0,0,1,4,1)",
    "epsv_229_pipe": b"Entering Extended Passive Mode (|||6446|)",
    "epsv_229_bang": b"Entering Extended Passive Mode (!!!6446!)",
    "epsv_229_too_big": b"Entering Extended Passive Mode (|||70000|)",
    "epsv_229_with_code": b"229 Extended Passive Mode OK (|||0|)",
    "epsv_229_mixed_delims": b"(|!|6446|)",
}


# --- list_parse: directory listings and client reply texts (first 4 bytes: `now`) ------------

NOW_2024_06_01 = (1717243200).to_bytes(4, "big")


def listing(*ls: bytes) -> bytes:
    return NOW_2024_06_01 + lines(*ls)


LIST_PARSE = {
    "vsftpd_list": listing(
        b"drwxr-xr-x    2 1000     1000         4096 Mar 07 12:05 pub",
        b"-rw-r--r--    1 ftp      ftp         52113 Mar  7  2023 name with  spaces",
        b"lrwxrwxrwx    1 ftp      ftp             7 Jan  1 12:00 link -> target",
    ),
    "proftpd_list_acl_devices": listing(
        b"total 16",
        b"drwxrwxr-x+  3 bob  dev    4096 Apr 30 23:59 shared",
        b"crw-rw-rw-   1 root     root       1,   3 Jan  1  2020 null",
        b"prw-r--r--   1 root     root          0 May  5 05:05 fifo",
        b"-rwsr-sr-t   1 root     root          1 Feb 29 10:00 setuid",
    ),
    "iis_dos_list": listing(
        b"03-07-24  12:05PM       <DIR>          Windows Folder",
        b"03-07-24  12:05AM                52113 report.pdf",
        b"12-31-1999  23:59            1,048,576 big file.bin",
        b"2024-03-07  09:15 PM  12 iso",
    ),
    "eplf_spec": listing(
        b"+i8388621.29609,m824255902,/,\tdev",
        b"+i8388621.44468,m839956783,r,s10376,\tRFCEPLF",
    ),
    "mlsd_pure_ftpd": listing(
        b"type=cdir;sizd=4096;modify=20240101000000;UNIX.mode=0755;UNIX.uid=0;UNIX.gid=0;unique=803g2; .",
        b"type=pdir;sizd=4096;modify=20240101000000;UNIX.mode=0755;UNIX.uid=0;UNIX.gid=0;unique=803g1; ..",
        b"type=file;size=52113;modify=20240307120509.250;UNIX.mode=0644;UNIX.uid=1000;UNIX.gid=100;unique=803g3; my notes.txt",
        b"type=OS.unix=slink:/srv/data;modify=20240307120509; data",
    ),
    "hostile_names": listing(
        b"-rw-r--r-- 1 u g 1 Mar 7 12:05 ../escape",
        b"-rw-r--r-- 1 u g 1 Mar 7 12:05 /etc/passwd",
        b"03-07-24  12:05PM  1 ..",
        b"type=file;size=1; a/b",
        b"+i1,r,\t.",
        b"C:evil",
    ),
    "reply_texts": listing(
        b"Features:",
        b" MLST size*;modify*;type*;",
        b"AUTH TLS;SSL",
        b" REST STREAM",
        b" type=file;size=5; /pub/x",
        b"End",
    ),
    "reply_pathname_and_size": NOW_2024_06_01 + b'"/a ""quoted"" dir" created\r\n',
    "reply_mdtm_y2k": NOW_2024_06_01 + b"191240307120500\r\n",
}


def randoms(base: int) -> dict:
    out = {}
    for n in range(10):
        rng = random.Random(base + n)
        size = rng.randrange(16, 513)
        out[f"random_seed{base + n}_{size}b"] = rng.randbytes(size)
    return out


def write(target: str, files: dict) -> None:
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        if isinstance(data, tuple):
            cut, body = data
            data = bytes([cut]) + body
        assert len(data) <= MAX_SIZE, (target, name, len(data))
        (d / name).write_bytes(data)


def main() -> None:
    write("command", COMMAND)
    write("reply", REPLY)
    write("framing", FRAMING)
    write("addr", ADDR)
    write("command_to_bytes_and_back", randoms(1000))
    write("reply_to_bytes_and_back", randoms(2000))
    write("list_parse", LIST_PARSE)


if __name__ == "__main__":
    main()
