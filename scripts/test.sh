#!/usr/bin/env bash
# The README's test command: installs what the test suite needs, then runs all of it.
#
#   bash scripts/test.sh            # every crate, unit + property + integration + doc tests
#   bash scripts/test.sh -p ftp-proto   # extra arguments go to `cargo test`
#
# The integration tests drive `ftpd` with FTP programs we did not write: curl, lftp, wget,
# Python's ftplib (python3) and tnftp (the classic BSD ftp client). On Debian/Ubuntu the missing ones are installed with apt-get
# (as root, or through sudo), so a fresh machine needs nothing but this command. Elsewhere,
# install them yourself; a test whose tool is missing says SKIPPED loudly (and fails in CI,
# where CI=true is set: nothing may be skipped there).
#
# The client tests (ftp-client-tokio) also run against FTP servers we did not write: vsftpd,
# pure-ftpd and pyftpdlib, which scripts/foreign-servers.sh unpacks from Debian's packages into
# .tools/foreign-servers (and, as root, prepares the test user they log in as). vsftpd and
# pure-ftpd need root; without it their tests say SKIPPED.
#
# The virtual-user tests (ftp-server-tokio) run against real MariaDB and PostgreSQL servers:
# scripts/databases.sh installs them from Debian's packages (as root), starts a private instance
# of each on 127.0.0.1 (they keep running after the tests; `bash scripts/databases.sh stop` stops
# them) and writes .tools/databases/env, which is sourced here so the tests see their URLs
# (FTP_TEST_MYSQL_URL, FTP_TEST_POSTGRES_URL). Unset, those tests say SKIPPED (fail under CI).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null 2>&1; then
    echo "test.sh: cargo not found; install Rust (https://rustup.rs) and retry" >&2
    exit 1
fi

# Debian package that provides each command the tests run.
declare -A packages=([curl]=curl [lftp]=lftp [wget]=wget [python3]=python3 [tnftp]=tnftp)
missing=()
for tool in "${!packages[@]}"; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("${packages[$tool]}")
done
if [ ${#missing[@]} -gt 0 ]; then
    if command -v apt-get >/dev/null 2>&1; then
        sudo=()
        [ "$(id -u)" -eq 0 ] || sudo=(sudo)
        echo "test.sh: installing ${missing[*]} with apt-get" >&2
        export DEBIAN_FRONTEND=noninteractive
        "${sudo[@]}" apt-get update -qq
        "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    else
        echo "test.sh: missing ${missing[*]} and no apt-get; the tests that need them will say SKIPPED" >&2
    fi
fi

# Never fatal here: a server that could not be installed makes its tests say SKIPPED (or fail
# under CI), which names what is missing.
bash scripts/foreign-servers.sh ||
    echo "test.sh: scripts/foreign-servers.sh failed; the tests that need those servers will say SKIPPED" >&2

bash scripts/databases.sh ||
    echo "test.sh: scripts/databases.sh failed; the tests that need MariaDB or PostgreSQL will say SKIPPED" >&2
if [ -f .tools/databases/env ]; then
    # shellcheck source=/dev/null
    source .tools/databases/env
fi

# --locked: the tests run against the dependency versions recorded in Cargo.lock. The PAM
# tests run in it too (the examples crate enables ftp-server-tokio's `pam` feature by
# default); they use the user and PAM service scripts/foreign-servers.sh prepares as root.
exec cargo test --workspace --locked "$@"
