#!/usr/bin/env python3
"""Python's ftplib against the real ftpd: one scenario per invocation.

    python3 ftplib_client.py SCENARIO --port PORT --root ROOT [--host H --user U --password P]

ROOT is the server's root directory on disk: the scenarios read it to know the expected
bytes and to check the effect of their commands. Exit code 0 and a last line `OK SCENARIO`
on success; any failure raises (traceback on stderr, exit code 1). The Rust test in
examples/tests/interop_ftplib.rs prepares the files each scenario expects.
"""

import argparse
import ftplib
import hashlib
import io
import os
import sys
import threading
import time

TIMEOUT = 10


def log(*args):
    print(*args, flush=True)


def check(cond, message):
    if not cond:
        raise AssertionError(message)


def connect(args):
    ftp = ftplib.FTP()
    ftp.encoding = "utf-8"
    greeting = ftp.connect(args.host, args.port, timeout=TIMEOUT)
    check(greeting.startswith("220"), f"greeting {greeting!r}")
    resp = ftp.login(args.user, args.password)
    check(resp.startswith("230"), f"login answered {resp!r}")
    return ftp


def retr(ftp, cmd, rest=None):
    chunks = []
    resp = ftp.retrbinary(cmd, chunks.append, rest=rest)
    check(resp.startswith("226"), f"{cmd} ended with {resp!r}")
    return b"".join(chunks)


def on_disk(args, name):
    with open(os.path.join(args.root, name), "rb") as f:
        return f.read()


def expect_error(code, func, *a):
    try:
        resp = func(*a)
    except ftplib.error_perm as e:
        check(str(e).startswith(code), f"expected {code}, got {e!s}")
        return str(e)
    raise AssertionError(f"expected error {code}, got success {resp!r}")


def scenario_mlsd(args):
    """data.bin (12345 bytes, mtime 2020-01-02 03:04:05 UTC), sub/, 'ü name.txt' (3 bytes)."""
    ftp = connect(args)
    entries = dict(ftp.mlsd("/", facts=["type", "size", "modify", "perm"]))
    log("MLSD:", entries)
    names = {n for n, f in entries.items() if f.get("type") not in ("cdir", "pdir")}
    check(names == {"data.bin", "sub", "ü name.txt"}, f"MLSD names {names}")
    data = entries["data.bin"]
    check(data["type"] == "file", f"data.bin type {data}")
    check(data["size"] == "12345", f"data.bin size {data}")
    check(data["modify"].split(".")[0] == "20200102030405", f"data.bin modify {data}")
    # perm is optional (RFC 3659 7.5.5); when sent, a readable file must show "r".
    if "perm" in data:
        check("r" in data["perm"], f"data.bin perm lacks r: {data}")
    check(entries["sub"]["type"] == "dir", f"sub type {entries['sub']}")
    check(entries["ü name.txt"]["size"] == "3", f"ü size {entries['ü name.txt']}")
    for name, facts in entries.items():
        for key in facts:
            check(key == key.lower(), f"ftplib lower-cases fact names: {key} in {name}")

    # MLST on one file: a 250 multi-line reply whose middle line holds the facts.
    resp = ftp.sendcmd("MLST data.bin")
    log("MLST:", repr(resp))
    lines = resp.splitlines()
    check(lines[0].startswith("250-") and lines[-1].startswith("250"), f"MLST {resp!r}")
    facts = lines[1].strip()
    check("size=12345;" in facts.lower(), f"MLST facts {facts!r}")
    check(facts.endswith(" data.bin") or facts.endswith("/data.bin"), f"MLST name {facts!r}")

    # SIZE and MDTM.
    ftp.voidcmd("TYPE I")
    check(ftp.size("data.bin") == 12345, "SIZE data.bin")
    check(ftp.size("ü name.txt") == 3, "SIZE of a UTF-8 name")
    resp = ftp.sendcmd("MDTM data.bin")
    check(resp == "213 20200102030405", f"MDTM answered {resp!r}")
    expect_error("550", ftp.size, "missing.bin")
    expect_error("550", ftp.sendcmd, "MDTM missing.bin")
    ftp.quit()


def scenario_rest(args):
    """data.bin: any content of at least 100000 bytes."""
    ftp = connect(args)
    expected = on_disk(args, "data.bin")
    check(len(expected) >= 100000, "data.bin too small")
    whole = retr(ftp, "RETR data.bin")
    check(whole == expected, "full download differs")
    for offset in (1, 5000, 65536, len(expected) - 1, len(expected)):
        part = retr(ftp, "RETR data.bin", rest=offset)
        check(part == expected[offset:], f"REST {offset}: got {len(part)} bytes, "
              f"expected {len(expected) - offset}")
    ftp.quit()


def scenario_storlines(args):
    """An empty root; writes text.txt."""
    ftp = connect(args)
    resp = ftp.storlines("STOR text.txt", io.BytesIO(b"one\ntwo\r\nthree\n"))
    check(resp.startswith("226"), f"storlines ended with {resp!r}")
    stored = on_disk(args, "text.txt")
    check(stored == b"one\ntwo\nthree\n", f"stored in TYPE A as {stored!r}")
    lines = []
    ftp.retrlines("RETR text.txt", lines.append)
    check(lines == ["one", "two", "three"], f"retrlines gave {lines!r}")
    # The wire form of TYPE A is CRLF.
    ftp.voidcmd("TYPE A")
    conn = ftp.transfercmd("RETR text.txt")
    wire = b""
    while True:
        chunk = conn.recv(8192)
        if not chunk:
            break
        wire += chunk
    conn.close()
    resp = ftp.voidresp()
    check(wire == b"one\r\ntwo\r\nthree\r\n", f"TYPE A wire bytes {wire!r}")
    # TYPE I gives the bytes as stored.
    binary = retr(ftp, "RETR text.txt")
    check(binary == b"one\ntwo\nthree\n", f"TYPE I download {binary!r}")
    # A binary upload keeps CRs.
    resp = ftp.storbinary("STOR bin.txt", io.BytesIO(b"a\r\nb\r\n"))
    check(on_disk(args, "bin.txt") == b"a\r\nb\r\n", "binary upload changed bytes")
    ftp.quit()


def scenario_rename_delete(args):
    """'old name.txt' (content 'rename me\\n')."""
    ftp = connect(args)
    resp = ftp.rename("old name.txt", "new name ü.txt")
    check(resp.startswith("250"), f"RNTO answered {resp!r}")
    check(not os.path.exists(os.path.join(args.root, "old name.txt")), "old name still there")
    check(on_disk(args, "new name ü.txt") == b"rename me\n", "renamed content")
    expect_error("550", ftp.rename, "no such file", "x")
    resp = ftp.delete("new name ü.txt")
    check(resp.startswith("250"), f"DELE answered {resp!r}")
    check(not os.path.exists(os.path.join(args.root, "new name ü.txt")), "DELE left the file")
    expect_error("550", ftp.delete, "new name ü.txt")
    path = ftp.mkd("made dir")
    check(path == "/made dir", f"MKD returned {path!r}")
    check(os.path.isdir(os.path.join(args.root, "made dir")), "MKD made nothing")
    ftp.cwd("made dir")
    check(ftp.pwd() == "/made dir", f"PWD {ftp.pwd()!r}")
    ftp.cwd("..")
    resp = ftp.rmd("made dir")
    check(resp.startswith("250"), f"RMD answered {resp!r}")
    check(not os.path.exists(os.path.join(args.root, "made dir")), "RMD left the dir")
    ftp.quit()


def scenario_abort(args):
    """big.bin (at least 32 MiB) and small.txt."""
    ftp = connect(args)
    ftp.voidcmd("TYPE I")
    conn = ftp.transfercmd("RETR big.bin")
    conn.settimeout(TIMEOUT)
    got = 0
    while got < 65536:
        chunk = conn.recv(65536)
        check(chunk, "data connection ended early")
        got += len(chunk)
    # ABOR (ftplib sends it as urgent data); the transfer's 426 comes first, then ABOR's 226.
    t0 = time.monotonic()
    first = ftp.abort()
    log("abort() read", repr(first))
    check(first.startswith("426"), f"first reply after ABOR mid-transfer: {first!r}")
    second = ftp.getmultiline()
    log("then", repr(second))
    check(second.startswith("226") or second.startswith("225"), f"ABOR reply {second!r}")
    check(time.monotonic() - t0 < 5, "ABOR took too long")
    # The data connection is closed by the server.
    conn.settimeout(5)
    total = 0
    try:
        while True:
            chunk = conn.recv(1 << 20)
            if not chunk:
                break
            total += len(chunk)
            check(total < 64 << 20, "data keeps flowing after ABOR")
    except (ConnectionResetError, TimeoutError) as e:
        check(isinstance(e, ConnectionResetError), "data connection left open after ABOR")
    conn.close()
    # The session still works.
    check(ftp.voidcmd("NOOP").startswith("200"), "NOOP after ABOR")
    check(ftp.pwd() == "/", "PWD after ABOR")
    small = retr(ftp, "RETR small.txt")
    check(small == on_disk(args, "small.txt"), f"download after ABOR gave {small!r}")
    ftp.quit()


def scenario_concurrent(args):
    """20 sessions at once, each uploading and downloading its own 1 MiB file."""
    count = 20
    barrier = threading.Barrier(count, timeout=30)
    errors = []

    def worker(i):
        try:
            ftp = connect(args)
            ftp.voidcmd("TYPE I")
            barrier.wait()
            data = os.urandom(1 << 20)
            digest = hashlib.sha256(data).hexdigest()
            name = f"worker {i:02}.bin"
            resp = ftp.storbinary(f"STOR {name}", io.BytesIO(data))
            check(resp.startswith("226"), f"{name}: STOR ended with {resp!r}")
            disk = hashlib.sha256(on_disk(args, name)).hexdigest()
            check(disk == digest, f"{name}: on disk {disk} != uploaded {digest}")
            back = hashlib.sha256(retr(ftp, f"RETR {name}")).hexdigest()
            check(back == digest, f"{name}: downloaded {back} != uploaded {digest}")
            check(ftp.size(name) == 1 << 20, f"{name}: SIZE")
            ftp.quit()
        except BaseException as e:  # noqa: BLE001 (collected and reported below)
            errors.append(f"worker {i}: {type(e).__name__}: {e}")
            barrier.abort()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
        check(not t.is_alive(), "a worker did not finish within 60 s")
    for e in errors:
        log(e)
    check(not errors, f"{len(errors)} of {count} workers failed")


def scenario_mget(args):
    """docs/a.txt, docs/b.txt, docs/c.log, docs/.hidden.txt, top.txt: what a multiple get
    (`mget docs/*.txt` in the classic ftp clients) asks NLST for, then fetches each name."""
    ftp = connect(args)
    names = sorted(ftp.nlst("docs/*.txt"))
    check(names == ["docs/a.txt", "docs/b.txt"], f"NLST docs/*.txt: {names!r}")
    for name in names:
        data = retr(ftp, "RETR " + name)
        check(data == on_disk(args, name), f"RETR {name}")
    # NLST of a directory names its entries below it; without an argument, bare names.
    names = sorted(ftp.nlst("docs"))
    check(names == ["docs/.hidden.txt", "docs/a.txt", "docs/b.txt", "docs/c.log"],
          f"NLST docs: {names!r}")
    check(sorted(ftp.nlst("*.txt")) == ["top.txt"], "NLST *.txt in the cwd")
    check(ftp.nlst("docs/a.txt") == ["docs/a.txt"], "NLST of a file names it as given")
    # `ls -d`: the directory itself, not its contents.
    lines = []
    ftp.retrlines("LIST -ld docs", lines.append)
    check(len(lines) == 1 and lines[0].startswith("d") and lines[0].endswith(" docs"),
          f"LIST -ld docs: {lines!r}")
    check(ftp.nlst("-d", "docs") == ["docs"], "NLST -d docs")
    # A wildcard pattern with -d lists the matching entries themselves.
    lines = []
    ftp.retrlines("LIST -ld do*", lines.append)
    check(len(lines) == 1 and lines[0].endswith(" docs"), f"LIST -ld do*: {lines!r}")
    # A directory whose name has wildcard characters lists its contents.
    check(ftp.nlst("q?dir") == ["q?dir/in.txt"], "NLST q?dir")
    lines = []
    ftp.retrlines("LIST q?dir", lines.append)
    check(len(lines) == 1 and lines[0].endswith(" in.txt"), f"LIST q?dir: {lines!r}")
    ftp.cwd("docs")
    check(sorted(ftp.nlst()) == [".hidden.txt", "a.txt", "b.txt", "c.log"], "bare NLST")
    check(ftp.nlst("?.log") == ["c.log"], "NLST ?.log")
    check(ftp.nlst("*.none") == [], "a pattern matching nothing lists nothing")
    lines = []
    ftp.retrlines("LIST [ab].txt", lines.append)
    check(len(lines) == 2 and all(l.endswith((" a.txt", " b.txt")) for l in lines),
          f"LIST [ab].txt: {lines!r}")
    ftp.quit()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("scenario")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--root", required=True)
    parser.add_argument("--user", default="alice")
    parser.add_argument("--password", default="secret")
    args = parser.parse_args()
    func = globals().get("scenario_" + args.scenario)
    if func is None:
        sys.exit(f"unknown scenario {args.scenario}")
    func(args)
    log("OK", args.scenario)


if __name__ == "__main__":
    main()
