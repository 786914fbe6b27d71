#!/usr/bin/env bash
# bench/client.sh: the client benchmark of issue 5.
#
# Downloads and uploads one big file (1 GiB) from and to our `ftpd` with three clients in the
# same run: our `ftp` CLI (ftp-client-tokio), curl and lftp. Server pinned to one core, client
# to another; downloads go to /dev/null and uploads come from a file on the same filesystem as
# the server's root (a tmpfs when run as root), so the disk is not what is measured. Prints the
# median MB/s of each client and the ratios ours/curl and ours/lftp.
#
#   bash bench/client.sh             # 1 GiB, 5 runs each
#   bash bench/client.sh --quick     # 128 MiB, 3 runs each
#
# Environment: SERVER_CPU (default 0), CLIENT_CPU (default 1), PORT (default 2390),
# BENCH_TMP (default /tmp).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
SIZE_MIB=1024
RUNS=5
case ${1:-} in
    --quick) SIZE_MIB=128; RUNS=3 ;;
    "") ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "client.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
esac
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
PORT=${PORT:-2390}
BENCH_TMP=${BENCH_TMP:-/tmp}

for tool in curl lftp taskset; do
    command -v "$tool" >/dev/null || { echo "client.sh: $tool is missing" >&2; exit 1; }
done

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$REPO/target}
cargo build --release --quiet --bin ftpd --bin ftp --manifest-path "$REPO/Cargo.toml"
BIN=$CARGO_TARGET_DIR/release

WORK=$(mktemp -d "$BENCH_TMP/ftp-client-bench.XXXXXX")
MOUNTED=0
if [[ $(id -u) == 0 ]] && mount -t tmpfs -o size=$((SIZE_MIB * 3 + 64))m tmpfs "$WORK" 2>/dev/null; then
    MOUNTED=1
fi
SERVER_PID=""
cleanup() {
    [[ -n $SERVER_PID ]] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
    [[ $MOUNTED == 1 ]] && umount "$WORK"
    rm -rf "$WORK"
}
trap cleanup EXIT

mkdir -p "$WORK/root"
head -c $((SIZE_MIB * 1024 * 1024)) /dev/urandom >"$WORK/root/big.bin"
cp "$WORK/root/big.bin" "$WORK/upload.bin"
BYTES=$((SIZE_MIB * 1024 * 1024))

taskset -c "$SERVER_CPU" "$BIN/ftpd" --root "$WORK/root" --listen "127.0.0.1:$PORT" \
    --user bench:bench --log warn >"$WORK/ftpd.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 50); do
    grep -q "listening on" "$WORK/ftpd.log" 2>/dev/null && break
    sleep 0.1
done
URL="ftp://bench:bench@127.0.0.1:$PORT"

# Runs "$@" pinned to the client core; prints MB/s for BYTES.
timed() {
    local start end
    start=$(date +%s%N)
    taskset -c "$CLIENT_CPU" timeout 300 "$@" >/dev/null 2>"$WORK/last.err" || {
        echo "client.sh: failed: $*" >&2; cat "$WORK/last.err" >&2; exit 1; }
    end=$(date +%s%N)
    awk -v b="$BYTES" -v ns=$((end - start)) 'BEGIN { printf "%.0f\n", b / (ns / 1e9) / 1e6 }'
}

median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

declare -A RES SAMPLES
# One sample of every client per round, so warm-up and drift hit them all alike.
measure() { # direction, then "name|command" cases
    local dir=$1; shift
    local case name
    for case in "$@"; do
        name=${case%%|*}
        rm -f "$WORK/root/up.bin"
        eval "timed ${case#*|}" >/dev/null   # warm-up, not counted
    done
    for _ in $(seq "$RUNS"); do
        for case in "$@"; do
            name=${case%%|*}
            rm -f "$WORK/root/up.bin"
            SAMPLES[$name|$dir]+="$(eval "timed ${case#*|}") "
            if [[ $dir == upload ]] && ! cmp -s "$WORK/root/up.bin" "$WORK/upload.bin"; then
                echo "client.sh: $name upload differs from the source" >&2; exit 1
            fi
        done
    done
    for case in "$@"; do
        name=${case%%|*}
        RES[$name|$dir]=$(printf '%s\n' ${SAMPLES[$name|$dir]} | median)
        printf '%-6s %-8s %6s MB/s  (runs: %s)\n' "$name" "$dir" "${RES[$name|$dir]}" "${SAMPLES[$name|$dir]% }"
    done
}

echo "client benchmark: ${SIZE_MIB} MiB, $RUNS runs each (after one warm-up), ftpd on CPU $SERVER_CPU, clients on CPU $CLIENT_CPU"
measure download \
    "ftp|\"\$BIN/ftp\" --quiet get \"\$URL/big.bin\" -o /dev/null" \
    "curl|curl -sS -o /dev/null \"\$URL/big.bin\"" \
    "lftp|lftp -c \"set net:max-retries 1; set xfer:clobber on; open \$URL; get big.bin -o /dev/null\""
measure upload \
    "ftp|\"\$BIN/ftp\" --quiet put \"\$WORK/upload.bin\" \"\$URL/up.bin\"" \
    "curl|curl -sS -T \"\$WORK/upload.bin\" \"\$URL/up.bin\"" \
    "lftp|lftp -c \"set net:max-retries 1; open \$URL; put \$WORK/upload.bin -o up.bin\""

echo
for dir in download upload; do
    awk -v o="${RES[ftp|$dir]}" -v c="${RES[curl|$dir]}" -v l="${RES[lftp|$dir]}" -v d="$dir" \
        'BEGIN { printf "%-8s ours/curl %.2fx  ours/lftp %.2fx  (target: >= 1.00x curl)\n", d, o / c, o / l }'
done
