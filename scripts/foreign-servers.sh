#!/usr/bin/env bash
# Installs the FTP servers we did not write that ftp-client-tokio's tests run against:
# vsftpd, pure-ftpd and pyftpdlib, unpacked from Debian's packages (they conflict as packages,
# so none is installed) into .tools/foreign-servers (gitignored), with the shared libraries
# this machine lacks. Idempotent: what is already there is kept. Prints the paths.
#
# For the FTPS tests pyftpdlib's TLS handler needs pyOpenSSL: as root, Debian's
# python3-openssl is installed with apt-get (it has compiled dependencies, so it is not
# unpacked like the rest). The certificates are made by the tests at run time.
#
#   bash scripts/foreign-servers.sh
#
# As root it also prepares the system, once:
# - the system user `ftprs` (no home, no shell) with the password the tests use: vsftpd logs it
#   in through PAM, and pure-ftpd's virtual user runs as its uid, so that both servers, which
#   drop root's privileges, own the files the tests seed and upload;
# - the PAM service /etc/pam.d/ftp-rs-test that vsftpd authenticates `ftprs` with (pam_unix;
#   nothing else, so no /etc/ftpusers, shell or session modules get in the way); ftp-server-tokio's
#   PAM tests (tests/pam.rs, feature `pam`) log `ftprs` in through it too.
#
# Not root, or without apt-get: what can be done is done (pyftpdlib runs as any user), and the
# tests that need the rest say SKIPPED loudly (under CI=true they fail instead).
#
# Environment: FTP_FOREIGN_SERVERS_DIR overrides the tool folder (the tests read it too).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOLS=${FTP_FOREIGN_SERVERS_DIR:-$REPO/.tools/foreign-servers}
# Keep these two in step with ftp-client-tokio/tests/support/foreign.rs.
TEST_USER=ftprs
TEST_PASSWORD=ftprs-test-password
PAM_SERVICE=ftp-rs-test

say() { echo "foreign-servers.sh: $*" >&2; }

IS_ROOT=0
[[ $(id -u) == 0 ]] && IS_ROOT=1

# ---------------------------------------------------------------------------------------------
# Packages: each .deb downloaded once into $TOOLS/debs and unpacked once into $TOOLS/root,
# then the libraries among its Depends that dpkg says are not installed, recursively (the way
# bench/compare.sh does it).

is_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

APT_UPDATED=0
fetch_deb() { # PACKAGE -> the .deb in $TOOLS/debs, downloaded unless there
    local pkg=$1
    compgen -G "$TOOLS/debs/${pkg}_*.deb" >/dev/null && return 0
    command -v apt-get >/dev/null 2>&1 || return 1
    (cd "$TOOLS/debs" && apt-get download -qq "$pkg" >/dev/null 2>&1) && return 0
    if [[ $APT_UPDATED == 0 && $IS_ROOT == 1 ]]; then
        APT_UPDATED=1
        apt-get update -qq >/dev/null 2>&1 || true
        (cd "$TOOLS/debs" && apt-get download -qq "$pkg" >/dev/null 2>&1) && return 0
    fi
    return 1
}

unpack() { # PACKAGES...
    local queue=("$@") pkg deb deps d
    local -A seen=()
    while [[ ${#queue[@]} -gt 0 ]]; do
        pkg=${queue[0]}
        queue=("${queue[@]:1}")
        [[ -n ${seen[$pkg]:-} ]] && continue
        seen[$pkg]=1
        if ! fetch_deb "$pkg"; then
            say "could not download $pkg (no apt-get, or no package lists: run apt-get update as root)"
            continue
        fi
        deb=$(compgen -G "$TOOLS/debs/${pkg}_*.deb" | head -n1)
        if [[ ! -e $TOOLS/root/.unpacked-$(basename "$deb") ]]; then
            dpkg-deb -x "$deb" "$TOOLS/root"
            touch "$TOOLS/root/.unpacked-$(basename "$deb")"
        fi
        deps=$(dpkg-deb -f "$deb" Depends 2>/dev/null | tr ',' '\n' |
            sed 's/|.*//; s/(.*)//; s/:any//; s/[[:space:]]//g')
        for d in $deps; do
            [[ $d == lib* ]] || continue
            is_installed "$d" || queue+=("$d")
        done
    done
}

if ! command -v dpkg-deb >/dev/null 2>&1; then
    say "dpkg-deb not found (not Debian/Ubuntu?): install vsftpd, pure-ftpd and pyftpdlib into $TOOLS/root yourself; the tests that need them will say SKIPPED"
    exit 0
fi
mkdir -p "$TOOLS/debs" "$TOOLS/root"
# pure-ftpd's package also holds pure-pw (virtual users); pyftpdlib is pure Python.
unpack vsftpd pure-ftpd python3-pyftpdlib

LIBPATH=$TOOLS/root/usr/lib/x86_64-linux-gnu:$TOOLS/root/lib/x86_64-linux-gnu:$TOOLS/root/usr/lib:$TOOLS/root/lib
for bin in usr/sbin/vsftpd usr/sbin/pure-ftpd usr/bin/pure-pw; do
    if [[ ! -x $TOOLS/root/$bin ]]; then
        say "missing $TOOLS/root/$bin"
    elif missing=$(LD_LIBRARY_PATH=$LIBPATH ldd "$TOOLS/root/$bin" 2>/dev/null | grep 'not found'); then
        say "$bin cannot run here: ${missing//$'\n'/, }"
    fi
done

# ---------------------------------------------------------------------------------------------
# System setup (root only).

if [[ $IS_ROOT == 1 ]]; then
    if ! getent passwd "$TEST_USER" >/dev/null; then
        say "creating the system user $TEST_USER (no home, no shell) for vsftpd and pure-ftpd"
        useradd --system --user-group --home-dir / --no-create-home \
            --shell /usr/sbin/nologin "$TEST_USER"
    fi
    # Set every time: cheap, and it repairs a password changed by hand.
    echo "$TEST_USER:$TEST_PASSWORD" | chpasswd
    pam_file=/etc/pam.d/$PAM_SERVICE
    pam_text="# ftp-rs tests (scripts/foreign-servers.sh): vsftpd checks the test user's password.
auth     required pam_unix.so nodelay
account  required pam_permit.so
session  required pam_permit.so
password required pam_deny.so"
    if [[ ! -f $pam_file || $(cat "$pam_file") != "$pam_text" ]]; then
        say "writing the PAM service $pam_file"
        printf '%s\n' "$pam_text" >"$pam_file"
    fi
    if ! is_installed python3-openssl && command -v apt-get >/dev/null 2>&1; then
        say "installing python3-openssl (pyftpdlib's TLS handler) with apt-get"
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y -qq --no-install-recommends python3-openssl >/dev/null 2>&1 || {
            apt-get update -qq >/dev/null 2>&1 || true
            apt-get install -y -qq --no-install-recommends python3-openssl >/dev/null 2>&1 ||
                say "could not install python3-openssl: the pyftpdlib FTPS tests will say SKIPPED"
        }
    fi
else
    say "not root: vsftpd and pure-ftpd need root (chroot, user switch) and the system user $TEST_USER; their tests will say SKIPPED"
fi

echo "tools:        $TOOLS"
echo "vsftpd:       $TOOLS/root/usr/sbin/vsftpd"
echo "pure-ftpd:    $TOOLS/root/usr/sbin/pure-ftpd (users: $TOOLS/root/usr/bin/pure-pw)"
echo "pyftpdlib:    $TOOLS/root/usr/lib/python3/dist-packages (PYTHONPATH)"
echo "libraries:    $LIBPATH (LD_LIBRARY_PATH)"
echo "test user:    $TEST_USER (PAM service $PAM_SERVICE)"
echo "pyOpenSSL:    $(is_installed python3-openssl && echo "python3-openssl installed" || echo "missing (pyftpdlib FTPS tests will say SKIPPED)")"
