#!/usr/bin/env bash
# The README's test command: installs what the test suite needs, then runs all of it.
#
#   bash scripts/test.sh            # every crate, unit + property + integration + doc tests
#   bash scripts/test.sh -p ftp-proto   # extra arguments go to `cargo test`
#
# Today the suite needs only the Rust toolchain (stable). Later issues add the real FTP peers
# (curl, lftp, Python's ftplib, vsftpd, ...) here; on Debian they are installed with apt-get
# when missing, so a fresh machine needs nothing but this command.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null 2>&1; then
    echo "test.sh: cargo not found; install Rust (https://rustup.rs) and retry" >&2
    exit 1
fi

# --locked: the tests run against the dependency versions recorded in Cargo.lock.
exec cargo test --workspace --locked "$@"
