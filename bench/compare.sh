#!/usr/bin/env bash
# bench/compare.sh: the performance comparison of issue 4.
#
# Runs every ftp-load scenario against our `ftpd` and, in the same run, against vsftpd,
# pure-ftpd and proftpd (unpacked from Debian's packages into bench/.tools, run as root in the
# foreground) and libunftp (bench/libunftp-server, built from crates.io), each on its own port of
# 127.0.0.1, the server pinned to one core and the load generator to another. Prints a table of
# every metric per server (for the timed scenarios also the server core's busy time per
# operation, from /proc/stat), then the issue's targets as ratios ours/peer.
#
#   bash bench/compare.sh            # full run (1 GiB files, 10 s timed scenarios; ~12 minutes)
#   bash bench/compare.sh --quick    # smoke run: short durations, small files (under 2 minutes once built)
#   bash bench/compare.sh --only ftpd            # skip the peers
#   bash bench/compare.sh --only ftpd,pure-ftpd  # a subset (ftpd vsftpd pure-ftpd proftpd libunftp)
#
# Environment: SERVER_CPU (default 0), LOAD_CPU (default 1), PORT_BASE (default 2300),
# BENCH_TMP (where the test files go, default /tmp; as root they go on a tmpfs mounted there
# unless BENCH_FS=disk), IDLE_BIG_PEERS=1 (also hold 10,000 sessions
# on the forking C servers: 10,000 to 20,000 processes), KEEP=1 (keep the test files).
# Needs root for the C servers (chroot, user switch, a private mount namespace); without root
# only ftpd and libunftp run. Logs of every run land in bench/.tools/results/<time>/.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
TOOLS=$HERE/.tools
ALL_SERVERS=(ftpd vsftpd pure-ftpd proftpd libunftp)

ARGS="$*"
QUICK=0
ONLY=""
while [[ $# -gt 0 ]]; do
    case $1 in
        --quick) QUICK=1 ;;
        --only) ONLY=${2:?--only needs a list, e.g. ftpd or ftpd,vsftpd}; shift ;;
        --only=*) ONLY=${1#--only=} ;;
        -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
        *) echo "compare.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
    esac
    shift
done

SERVERS=()
if [[ -n $ONLY ]]; then
    IFS=, read -r -a wanted <<<"$ONLY"
    for s in "${wanted[@]}"; do
        case " ${ALL_SERVERS[*]} " in
            *" $s "*) SERVERS+=("$s") ;;
            *) echo "compare.sh: unknown server '$s' (known: ${ALL_SERVERS[*]})" >&2; exit 2 ;;
        esac
    done
else
    SERVERS=("${ALL_SERVERS[@]}")
fi

SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
PORT_BASE=${PORT_BASE:-2300}

if [[ $QUICK == 1 ]]; then
    DURATION=2; BIG_MIB=64; ROUNDS=3; LIST_REPEAT=3
    IDLE_SMALL=1000; IDLE_BIG=10000; IDLE_BIG_SERVERS=" ftpd "
else
    DURATION=10; BIG_MIB=1024; ROUNDS=7; LIST_REPEAT=20
    IDLE_SMALL=1000; IDLE_BIG=10000; IDLE_BIG_SERVERS=" ftpd libunftp "
fi
[[ ${IDLE_BIG_PEERS:-0} == 1 ]] && IDLE_BIG_SERVERS=" ${ALL_SERVERS[*]} "
LIST_ENTRIES=10000

say() { printf '\n=== %s\n' "$*"; }
note() { printf '    %s\n' "$*"; }

# ---------------------------------------------------------------------------------------------
# Processes: everything started here is stopped by PID (and its descendants, checked by start
# time so that a recycled PID is never hit).

SERVER_PID=""
SERVER_TREE=()   # "pid:starttime" of the server and its descendants

starttime() { # PID -> field 22 of /proc/PID/stat, empty if gone
    local line rest
    { read -r line <"/proc/$1/stat"; } 2>/dev/null || return 0
    rest=${line##*) }
    # shellcheck disable=SC2086
    set -- $rest
    echo "${20}"
}

collect_tree() { # PID -> SERVER_TREE
    local root=$1 f line rest pid ppid
    local -A kids=()
    for f in /proc/[0-9]*/stat; do
        { read -r line <"$f"; } 2>/dev/null || continue
        pid=${line%% *}
        rest=${line##*) }
        # shellcheck disable=SC2086
        set -- $rest
        ppid=$2
        kids[$ppid]+=" $pid"
    done
    SERVER_TREE=()
    local queue=("$root") p
    while [[ ${#queue[@]} -gt 0 ]]; do
        p=${queue[0]}
        queue=("${queue[@]:1}")
        SERVER_TREE+=("$p:$(starttime "$p")")
        # shellcheck disable=SC2206
        [[ -n ${kids[$p]:-} ]] && queue+=(${kids[$p]})
    done
    return 0
}

stop_server() {
    [[ -n $SERVER_PID ]] || return 0
    local pid=$SERVER_PID entry p t i
    SERVER_PID=""
    collect_tree "$pid"
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    # Session processes of forking servers outlive their master.
    for entry in "${SERVER_TREE[@]:1}"; do
        p=${entry%%:*}; t=${entry#*:}
        [[ -n $t && $(starttime "$p") == "$t" ]] && kill -TERM "$p" 2>/dev/null || true
    done
    sleep 0.2
    for entry in "${SERVER_TREE[@]:1}"; do
        p=${entry%%:*}; t=${entry#*:}
        [[ -n $t && $(starttime "$p") == "$t" ]] && kill -KILL "$p" 2>/dev/null || true
    done
    SERVER_TREE=()
}

WORK=""
TMPFS=""
cleanup() {
    local rc=$?
    stop_server
    if [[ -n $TMPFS && ${KEEP:-0} != 1 ]]; then
        umount "$TMPFS" 2>/dev/null || umount -l "$TMPFS" 2>/dev/null || true
    fi
    if [[ -n $WORK && -d $WORK && ${KEEP:-0} != 1 ]]; then
        rm -rf "$WORK"
    fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() { # PORT PID
    local i
    for ((i = 0; i < 100; i++)); do
        kill -0 "$2" 2>/dev/null || return 1
        port_open "$1" && return 0
        sleep 0.1
    done
    return 1
}

# ---------------------------------------------------------------------------------------------
# Prerequisites

IS_ROOT=0
[[ $(id -u) == 0 ]] && IS_ROOT=1

need_cmd() { # COMMAND PACKAGE
    command -v "$1" >/dev/null 2>&1 && return 0
    if [[ $IS_ROOT == 1 ]] && command -v apt-get >/dev/null; then
        echo "installing $2 (for $1)"
        apt-get install -y -qq "$2" >/dev/null 2>&1 ||
            { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq "$2" >/dev/null; }
    fi
    command -v "$1" >/dev/null 2>&1 || { echo "compare.sh: $1 is missing (package $2)" >&2; exit 1; }
}

need_cmd taskset util-linux
need_cmd unshare util-linux
command -v cargo >/dev/null || { echo "compare.sh: needs a Rust toolchain (cargo; see rustup)" >&2; exit 1; }

want() { [[ " ${SERVERS[*]} " == *" $1 "* ]]; }
drop_server() {
    local kept=() s
    for s in "${SERVERS[@]}"; do [[ $s == "$1" ]] || kept+=("$s"); done
    SERVERS=("${kept[@]}")
}

if [[ $IS_ROOT != 1 ]]; then
    for s in vsftpd pure-ftpd proftpd; do
        if want "$s"; then
            echo "compare.sh: not root: skipping $s (it needs chroot and a user switch)" >&2
            drop_server "$s"
        fi
    done
fi

ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [[ $(ulimit -n) != unlimited && $(ulimit -n) -lt 10500 ]]; then
    echo "compare.sh: warning: open-file limit $(ulimit -n) is too low to hold $IDLE_BIG sessions" >&2
fi

say "building ftpd, ftp-load and the libunftp server (release)"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$REPO/target}
(cd "$REPO" && cargo build --release --bin ftpd --bin ftp-load)
FTPD=$CARGO_TARGET_DIR/release/ftpd
LOAD=$CARGO_TARGET_DIR/release/ftp-load
if want libunftp; then
    (cd "$HERE/libunftp-server" && cargo build --release)
fi
LIBUNFTP=$CARGO_TARGET_DIR/release/libunftp-bench-server

# The C servers: Debian packages unpacked into bench/.tools/root, plus whatever libraries they
# need that the machine lacks (found from the packages' Depends, recursively).
is_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

APT_UPDATED=0
fetch_deb() { # PACKAGE -> downloads into $TOOLS/debs unless there
    local pkg=$1
    compgen -G "$TOOLS/debs/${pkg}_*.deb" >/dev/null && return 0
    (cd "$TOOLS/debs" && apt-get download -qq "$pkg" >/dev/null 2>&1) && return 0
    if [[ $APT_UPDATED == 0 ]]; then
        APT_UPDATED=1
        apt-get update -qq >/dev/null 2>&1 || true
        (cd "$TOOLS/debs" && apt-get download -qq "$pkg" >/dev/null 2>&1) && return 0
    fi
    return 1
}

unpack_servers() {
    mkdir -p "$TOOLS/debs" "$TOOLS/root"
    local queue=() pkg deb deps d
    local -A seen=()
    want vsftpd && queue+=(vsftpd)
    want pure-ftpd && queue+=(pure-ftpd)
    want proftpd && queue+=(proftpd-core)
    while [[ ${#queue[@]} -gt 0 ]]; do
        pkg=${queue[0]}
        queue=("${queue[@]:1}")
        [[ -n ${seen[$pkg]:-} ]] && continue
        seen[$pkg]=1
        if ! fetch_deb "$pkg"; then
            note "could not download $pkg"
            continue
        fi
        deb=$(compgen -G "$TOOLS/debs/${pkg}_*.deb" | head -n1)
        [[ -e $TOOLS/root/.unpacked-$(basename "$deb") ]] ||
            { dpkg-deb -x "$deb" "$TOOLS/root" && touch "$TOOLS/root/.unpacked-$(basename "$deb")"; }
        deps=$(dpkg-deb -f "$deb" Depends 2>/dev/null | tr ',' '\n' | sed 's/|.*//; s/(.*)//; s/:any//; s/[[:space:]]//g')
        for d in $deps; do
            [[ $d == lib* ]] || continue
            is_installed "$d" || queue+=("$d")
        done
    done
}

LIBPATH=""
server_runs() { # BINARY -> true if all its libraries resolve
    local missing
    missing=$(LD_LIBRARY_PATH=$LIBPATH ldd "$1" 2>/dev/null | grep 'not found' || true)
    [[ -z $missing ]] && return 0
    note "$(basename "$1") cannot run here: missing ${missing//$'\n'/, }"
    return 1
}

if want vsftpd || want pure-ftpd || want proftpd; then
    say "unpacking the C servers from Debian packages into bench/.tools"
    need_cmd dpkg-deb dpkg
    unpack_servers
    LIBPATH=$TOOLS/root/usr/lib/x86_64-linux-gnu:$TOOLS/root/lib/x86_64-linux-gnu:$TOOLS/root/usr/lib:$TOOLS/root/lib
    for s in vsftpd pure-ftpd proftpd; do
        want "$s" || continue
        if [[ ! -x $TOOLS/root/usr/sbin/$s ]] || ! server_runs "$TOOLS/root/usr/sbin/$s"; then
            note "skipping $s"
            drop_server "$s"
        fi
    done
    # vsftpd and pure-ftpd serve anonymous users from the home of the system user "ftp" (created
    # here as Debian's packages would); each runs in a private mount namespace where the test
    # directory is bind-mounted on that home, so nothing outside changes.
    if ! getent passwd ftp >/dev/null; then
        note "creating the system user ftp (home /srv/ftp), as Debian's FTP server packages do"
        useradd --system --home-dir /srv/ftp --no-create-home --shell /usr/sbin/nologin --user-group ftp
    fi
    FTP_HOME=$(getent passwd ftp | cut -d: -f6)
    mkdir -p "$FTP_HOME"
fi

# ---------------------------------------------------------------------------------------------
# Test files

say "creating the test files"
WORK=$(mktemp -d "${BENCH_TMP:-/tmp}/ftp-bench.XXXXXX")
chmod 755 "$WORK"
ROOT=$WORK/root
mkdir -p "$ROOT" "$WORK/empty"
# The served tree lives on a tmpfs of its own when root and memory allow (the big file plus one
# upload), so that STOR measures the servers and not the disk's write-back; BENCH_FS=disk
# keeps it on BENCH_TMP's file system.
need_mib=$((BIG_MIB * 2 + 256))
avail_mib=$(awk '/^MemAvailable:/ { print int($2 / 1024) }' /proc/meminfo)
STORAGE="disk ($(df -P "$ROOT" | awk 'NR == 2 { print $1 }'))"
if [[ ${BENCH_FS:-tmpfs} == tmpfs && $IS_ROOT == 1 && $avail_mib -gt $((need_mib + 4096)) ]]; then
    if mount -t tmpfs -o "size=${need_mib}m,mode=755" ftp-bench "$ROOT"; then
        TMPFS=$ROOT
        STORAGE="tmpfs (${need_mib} MiB)"
    fi
fi
mkdir -p "$ROOT/list" "$ROOT/upload"
chmod 755 "$ROOT" "$ROOT/list"
chmod 1777 "$ROOT/upload"
head -c 4096 /dev/urandom >"$ROOT/small.bin"
head -c $((BIG_MIB << 20)) /dev/urandom >"$ROOT/big.bin"
(cd "$ROOT/list" && seq -f 'entry-%05g.txt' 1 "$LIST_ENTRIES" | xargs touch)
chmod 644 "$ROOT/small.bin" "$ROOT/big.bin"
BIG_BYTES=$((BIG_MIB << 20))
note "$ROOT on $STORAGE: small.bin 4 KiB, big.bin $BIG_MIB MiB, list/ $LIST_ENTRIES entries, upload/"

STAMP=$(date +%Y%m%d-%H%M%S)
LOGS=$TOOLS/results/$STAMP
mkdir -p "$LOGS"

# ---------------------------------------------------------------------------------------------
# Servers: start_NAME starts it (pinned to SERVER_CPU) and sets SERVER_PID and PORT.

port_of() {
    case $1 in
        ftpd) echo $((PORT_BASE + 1)) ;; vsftpd) echo $((PORT_BASE + 2)) ;;
        pure-ftpd) echo $((PORT_BASE + 3)) ;; proftpd) echo $((PORT_BASE + 4)) ;;
        libunftp) echo $((PORT_BASE + 5)) ;;
    esac
}
# Passive ranges below the ephemeral range (32768+), 2,000 ports each.
passive_of() {
    case $1 in
        ftpd) echo 20000 21999 ;; vsftpd) echo 22000 23999 ;; pure-ftpd) echo 24000 25999 ;;
        proftpd) echo 26000 27999 ;; libunftp) echo 28000 29999 ;;
    esac
}

start_ftpd() {
    taskset -c "$SERVER_CPU" "$FTPD" --listen "127.0.0.1:$PORT" --root "$ROOT" \
        --anonymous-upload /upload --passive-ports "$PA-$PB" \
        --max-sessions 20000 --max-sessions-per-ip 20000 --idle-timeout 600 --log warn &
}

start_libunftp() {
    taskset -c "$SERVER_CPU" "$LIBUNFTP" --listen "127.0.0.1:$PORT" --root "$ROOT" \
        --passive-ports "$PA-$PB" --idle-timeout 600 &
}

start_vsftpd() {
    local conf=$WORK/vsftpd.conf
    cat >"$conf" <<EOF
listen=YES
listen_address=127.0.0.1
listen_port=$PORT
background=NO
anonymous_enable=YES
local_enable=NO
ftp_username=ftp
anon_root=$ROOT
no_anon_password=YES
write_enable=YES
anon_upload_enable=YES
anon_mkdir_write_enable=YES
anon_umask=022
allow_writeable_chroot=YES
secure_chroot_dir=$WORK/empty
seccomp_sandbox=NO
isolate=NO
isolate_network=NO
pasv_enable=YES
pasv_min_port=$PA
pasv_max_port=$PB
max_clients=0
max_per_ip=0
idle_session_timeout=600
xferlog_enable=NO
syslog_enable=NO
dirmessage_enable=NO
use_sendfile=YES
EOF
    chmod 600 "$conf"
    # shellcheck disable=SC2016
    LD_LIBRARY_PATH=$LIBPATH taskset -c "$SERVER_CPU" unshare --mount --propagation private \
        sh -c 'mount --bind "$1" "$2" && exec "$3" "$4"' sh \
        "$ROOT" "$FTP_HOME" "$TOOLS/root/usr/sbin/vsftpd" "$conf" &
}

start_pure-ftpd() {
    # -e anonymous only, -H no DNS, -A chroot, -M anonymous may create directories,
    # -c/-C connection limits, -p passive range, -I idle minutes.
    # shellcheck disable=SC2016
    LD_LIBRARY_PATH=$LIBPATH taskset -c "$SERVER_CPU" unshare --mount --propagation private \
        sh -c 'mount --bind "$1" "$2" && shift 2 && exec "$@"' sh "$ROOT" "$FTP_HOME" \
        "$TOOLS/root/usr/sbin/pure-ftpd" -S "127.0.0.1,$PORT" -e -H -A -M -4 \
        -c 20000 -C 20000 -p "$PA:$PB" -I 10 &
}

start_proftpd() {
    local conf=$WORK/proftpd.conf
    cat >"$conf" <<EOF
ServerType standalone
ServerName "bench"
DefaultAddress 127.0.0.1
Port $PORT
UseIPv6 off
User ftp
Group ftp
PidFile $WORK/proftpd.pid
ScoreboardFile $WORK/proftpd.scoreboard
DelayEngine off
WtmpLog off
UseReverseDNS off
MaxInstances none
PassivePorts $PA $PB
TransferLog none
SystemLog none
ServerLog none
AuthPAM off
AuthOrder mod_auth_unix.c
RequireValidShell off
UseSendfile on
LangEngine off
TimeoutIdle 600
<Anonymous $ROOT>
  User ftp
  Group ftp
  UserAlias anonymous ftp
  RequireValidShell off
  MaxClients none
  <Limit WRITE>
    AllowAll
  </Limit>
</Anonymous>
EOF
    LD_LIBRARY_PATH=$LIBPATH taskset -c "$SERVER_CPU" "$TOOLS/root/usr/sbin/proftpd" -n -q -c "$conf" &
}

start_server() { # NAME LOGTAG
    local name=$1
    PORT=$(port_of "$name")
    read -r PA PB < <(passive_of "$name")
    if port_open "$PORT"; then
        echo "compare.sh: port $PORT is already taken; set PORT_BASE" >&2
        return 1
    fi
    "start_$name" >>"$LOGS/$name.server.log" 2>&1
    SERVER_PID=$!
    if ! wait_port "$PORT" "$SERVER_PID"; then
        note "$name did not start (see $LOGS/$name.server.log):"
        tail -n 5 "$LOGS/$name.server.log" | sed 's/^/      /'
        stop_server
        return 1
    fi
}

# ---------------------------------------------------------------------------------------------
# Runs and results

declare -A RES=()    # server|metric -> value
declare -A EXTRA=()  # server|metric -> the whole RESULT line
NOTES=()

# Busy time of the server's core in clock ticks (user, nice, system, irq, softirq, steal):
# the server is the only thing pinned there, and the kernel's network work for what it sends
# runs there too, so this is what one operation costs the server whatever its process model.
core_busy() { # CPU
    awk -v cpu="cpu$1" '$1 == cpu { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat
}
TICK_US=$((1000000 / $(getconf CLK_TCK)))

load() { # SERVER METRIC ARGS... : runs ftp-load, records the RESULT value
    local server=$1 metric=$2 log result value busy0 busy1 load0 load1
    shift 2
    log=$LOGS/$server.$metric.log
    busy0=$(core_busy "$SERVER_CPU")
    load0=$(core_busy "$LOAD_CPU")
    if taskset -c "$LOAD_CPU" "$LOAD" --addr "127.0.0.1:$PORT" --threads 1 "$@" >"$log" 2>&1; then
        :
    fi
    busy1=$(core_busy "$SERVER_CPU")
    load1=$(core_busy "$LOAD_CPU")
    result=$(grep '^RESULT ' "$log" | tail -n1 || true)
    if [[ -z $result ]]; then
        RES[$server|$metric]=FAIL
        NOTES+=("$server $metric failed: $(grep -v '^RESULT' "$log" | tail -n 2 | tr '\n' ' ')")
        note "$metric: FAILED ($(tail -n 1 "$log"))"
        return 0
    fi
    value=$(sed -n 's/.* value=\([^ ]*\).*/\1/p' <<<"$result")
    RES[$server|$metric]=$value
    EXTRA[$server|$metric]=$result
    # Timed scenarios: the server core's busy time over the whole run per operation counted
    # (the count covers the timed window only, so this slightly overstates every server).
    local total
    total=$(sed -n 's/.* total=\([0-9]*\).*/\1/p' <<<"$result")
    if [[ -n $total && $total -gt 0 ]]; then
        RES[$server|$metric.cpu]=$(awk -v b=$((busy1 - busy0)) -v t="$total" -v us="$TICK_US" \
            'BEGIN { printf "%.1f", b * us / t }')
        RES[$server|$metric.loadcpu]=$(awk -v b=$((load1 - load0)) -v t="$total" -v us="$TICK_US" \
            'BEGIN { printf "%.1f", b * us / t }')
    fi
    local errors
    errors=$(sed -n 's/.* errors=\([0-9]*\).*/\1/p' <<<"$result")
    if [[ -n $errors && $errors != 0 ]]; then
        NOTES+=("$server $metric: $errors errors: $(grep 'error x' "$log" | head -n 3 | sed 's/^ *//' | tr '\n' ';')")
    fi
    note "$metric: $value  (${result#RESULT })${RES[$server|$metric.cpu]:+ server-core us/op=${RES[$server|$metric.cpu]} ftp-load-core us/op=${RES[$server|$metric.loadcpu]}}"
}

idle_run() { # SERVER METRIC N CONCURRENCY
    local server=$1 metric=$2 n=$3 conc=$4 result
    start_server "$server" || { RES[$server|$metric]=FAIL; return 0; }
    load "$server" "$metric" idle --sessions "$n" --pid "$SERVER_PID" --concurrency "$conc" --settle 1
    result=${EXTRA[$server|$metric]:-}
    RES[$server|$metric.refused]=$(sed -n 's/.* refused=\([0-9]*\).*/\1/p' <<<"$result")
    RES[$server|$metric.alive]=$(sed -n 's/.* alive=\([0-9]*\).*/\1/p' <<<"$result")
    stop_server
}

median() { # VALUES... -> their median
    printf '%s\n' "$@" | sort -g |
        awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'
}

# RETR and STOR of the big file, in rounds across the servers: in each round every server
# is started, downloads the file once and takes one upload (deleted after), and is stopped;
# the order rotates from round to round, and round 0 is an unmeasured warm-up. Memory the
# machine has not touched for a while can be several times slower to fill (seen on this VM:
# 2.8 GB/s into reused tmpfs pages, 0.4 to 0.8 GB/s into fresh ones), and throughput drifts
# by tens of percent over minutes: measured one server after the other, that decided the
# result by the order of the servers. Interleaved, every server meets the same conditions.
throughput_rounds() {
    local n=${#SERVERS[@]} r i s
    local -A down=() up=()
    for ((r = 0; r <= ROUNDS; r++)); do
        say "throughput round $r of $ROUNDS$([[ $r == 0 ]] && echo " (warm-up, not counted)")"
        for ((i = 0; i < n; i++)); do
            s=${SERVERS[$(((i + r) % n))]}
            start_server "$s" || { NOTES+=("$s could not be started for round $r"); continue; }
            note "$s:"
            load "$s" "download.r$r" download --file /big.bin --repeat 1
            load "$s" "upload.r$r" upload --size "$BIG_BYTES" --file "/upload/$s-up.$r" --repeat 1
            rm -f "$ROOT/upload/$s-up.$r"
            stop_server
            [[ $r == 0 ]] && continue
            [[ ${RES[$s|download.r$r]} != FAIL ]] && down[$s]+=" ${RES[$s|download.r$r]}"
            [[ ${RES[$s|upload.r$r]} != FAIL ]] && up[$s]+=" ${RES[$s|upload.r$r]}"
        done
    done
    for s in "${SERVERS[@]}"; do
        # shellcheck disable=SC2086
        if [[ -n ${down[$s]:-} ]]; then RES[$s|download]=$(median ${down[$s]}); else RES[$s|download]=FAIL; fi
        # shellcheck disable=SC2086
        if [[ -n ${up[$s]:-} ]]; then RES[$s|upload]=$(median ${up[$s]}); else RES[$s|upload]=FAIL; fi
    done
}

run_server() {
    local s=$1 conc
    say "$s (port $(port_of "$s"), server on CPU $SERVER_CPU, ftp-load on CPU $LOAD_CPU)"
    if ! start_server "$s"; then
        NOTES+=("$s could not be started: see $LOGS/$s.server.log")
        return 0
    fi
    load "$s" sessions16 sessions --workers 16 --duration "$DURATION" --file /small.bin
    load "$s" sessions64 sessions --workers 64 --duration "$DURATION" --file /small.bin
    load "$s" transfers1 transfers --workers 1 --duration "$DURATION" --file /small.bin
    load "$s" transfers16 transfers --workers 16 --duration "$DURATION" --file /small.bin
    load "$s" list list --dir /list --repeat "$LIST_REPEAT"
    stop_server
    # Memory: a fresh server for each count, so that memory freed by the earlier scenarios does
    # not hide the growth. The forking servers get 16 logins in flight (vsftpd's listen backlog
    # is 32), the others 200.
    case $s in ftpd|libunftp) conc=200 ;; *) conc=16 ;; esac
    idle_run "$s" idle1k "$IDLE_SMALL" "$conc"
    if [[ $IDLE_BIG_SERVERS == *" $s "* ]]; then
        idle_run "$s" idle10k "$IDLE_BIG" "$conc"
    fi
}

say "run $STAMP: $(nproc) cores, $(uname -r), servers: ${SERVERS[*]}"
[[ $QUICK == 1 ]] && note "--quick: ${DURATION} s timed runs, ${BIG_MIB} MiB transfers"
for s in "${SERVERS[@]}"; do
    run_server "$s"
done
throughput_rounds

# ---------------------------------------------------------------------------------------------
# Report

ACTIVE=("${SERVERS[@]}")

fmt() { # VALUE -> human number
    local v=${1:-}
    case $v in
        ''|FAIL|nan|NaN) echo "${v:--}" ;;
        *) awk -v v="$v" 'BEGIN { if (v >= 100) printf "%.0f", v; else printf "%.1f", v }' ;;
    esac
}

ROWS=(sessions16 sessions64 transfers1 transfers16 download upload list idle1k idle10k)
declare -A LABEL=(
    [sessions16]="full sessions/s, 16 workers"
    [sessions64]="full sessions/s, 64 workers"
    [transfers1]="transfers/s, 1 session"
    [transfers16]="transfers/s, 16 sessions"
    [download]="RETR MB/s, $BIG_MIB MiB"
    [upload]="STOR MB/s, $BIG_MIB MiB"
    [list]="LIST entries/s, $LIST_ENTRIES"
    [idle1k]="bytes/idle session, $IDLE_SMALL"
    [idle10k]="bytes/idle session, $IDLE_BIG"
)

{
    say "results of: bash bench/compare.sh $ARGS ($STAMP; medians; MB = 10^6 bytes)"
    note "$(nproc) cores, $(uname -r); servers on CPU $SERVER_CPU, ftp-load on CPU $LOAD_CPU, 127.0.0.1; files on $STORAGE"
    printf '%-30s' "metric"
    for s in "${ACTIVE[@]}"; do printf '%12s' "$s"; done
    printf '\n'
    for m in "${ROWS[@]}"; do
        printf '%-30s' "${LABEL[$m]}"
        for s in "${ACTIVE[@]}"; do printf '%12s' "$(fmt "${RES[$s|$m]:-}")"; done
        printf '\n'
    done
    for m in sessions16 sessions64 transfers1 transfers16; do
        printf '%-30s' "  server-core CPU us/op"
        for s in "${ACTIVE[@]}"; do printf '%12s' "${RES[$s|$m.cpu]:--}"; done
        printf '  (%s)\n' "$m"
    done
    for m in sessions16 sessions64 transfers1 transfers16; do
        printf '%-30s' "  ftp-load-core CPU us/op"
        for s in "${ACTIVE[@]}"; do printf '%12s' "${RES[$s|$m.loadcpu]:--}"; done
        printf '  (%s)\n' "$m"
    done
    for m in idle1k idle10k; do
        printf '%-30s' "  refused / still alive"
        for s in "${ACTIVE[@]}"; do
            if [[ -n ${RES[$s|$m.refused]:-} ]]; then
                printf '%12s' "${RES[$s|$m.refused]}/${RES[$s|$m.alive]:-?}"
            else
                printf '%12s' "-"
            fi
        done
        printf '  (%s)\n' "$m"
    done

    say "targets (ours / peer, same run)"
    printf '%-44s %10s %10s %-10s %7s %7s  %s\n' "target" "ftpd" "peer" "(which)" "ratio" "goal" "verdict"
    num() { [[ ${1:-} =~ ^[0-9.]+$ ]]; }
    check_ratio() { # LABEL OURS PEER PEERNAME GOAL
        local label=$1 ours=$2 peer=$3 pname=$4 goal=$5 ratio verdict
        if num "$ours" && num "$peer" && [[ $peer != 0 ]]; then
            ratio=$(awk -v a="$ours" -v b="$peer" 'BEGIN { printf "%.2f", a / b }')
            verdict=$(awk -v r="$ratio" -v g="$goal" 'BEGIN { print (r >= g ? "PASS" : "FAIL") }')
        else
            ratio="-"; verdict="n/a"
        fi
        printf '%-44s %10s %10s %-10s %7s %7s  %s\n' "$label" "$(fmt "$ours")" "$(fmt "$peer")" "${pname:--}" "$ratio" ">= $goal" "$verdict"
    }
    best_of() { # METRIC SERVERS... -> "value name" of the best that ran
        local m=$1 best="" bname="" v
        shift
        for s in "$@"; do
            v=${RES[$s|$m]:-}
            num "$v" || continue
            if [[ -z $best ]] || awk -v a="$v" -v b="$best" 'BEGIN { exit !(a > b) }'; then
                best=$v; bname=$s
            fi
        done
        echo "$best $bname"
    }
    read -r pv pn < <(best_of download vsftpd proftpd)
    check_ratio "download >= best of vsftpd, proftpd" "${RES[ftpd|download]:-}" "$pv" "$pn" 1
    check_ratio "upload >= pure-ftpd" "${RES[ftpd|upload]:-}" "${RES[pure-ftpd|upload]:-}" pure-ftpd 1
    check_ratio "sessions/s (16 workers) >= 2x libunftp" "${RES[ftpd|sessions16]:-}" "${RES[libunftp|sessions16]:-}" libunftp 2
    check_ratio "sessions/s (64 workers) >= 2x libunftp" "${RES[ftpd|sessions64]:-}" "${RES[libunftp|sessions64]:-}" libunftp 2
    check_ratio "transfers/s on one login >= 1.5x pure-ftpd" "${RES[ftpd|transfers1]:-}" "${RES[pure-ftpd|transfers1]:-}" pure-ftpd 1.5
    check_ratio "LIST entries/s >= pure-ftpd" "${RES[ftpd|list]:-}" "${RES[pure-ftpd|list]:-}" pure-ftpd 1
    for m in idle1k idle10k; do
        v=${RES[ftpd|$m]:-}
        if num "$v"; then
            verdict=$(awk -v v="$v" 'BEGIN { print (v <= 8192 ? "PASS" : "FAIL") }')
        else
            verdict="n/a"
        fi
        printf '%-44s %10s %10s %-10s %7s %7s  %s\n' "memory per idle session, ${LABEL[$m]##*, } (bytes)" "$(fmt "$v")" "-" "" "-" "<= 8192" "$verdict"
    done
    r=${RES[ftpd|idle10k.refused]:-}; a=${RES[ftpd|idle10k.alive]:-}
    if [[ -n $r ]]; then
        verdict=$([[ $r == 0 && $a == "$IDLE_BIG" ]] && echo PASS || echo FAIL)
    else
        verdict="n/a"
    fi
    printf '%-44s %10s %10s %-10s %7s %7s  %s\n' "$IDLE_BIG sessions held, none refused" "${r:--}" "-" "" "-" "0" "$verdict"

    say "ratios ours/peer, every metric (memory: peer/ours, so > 1 is better for us)"
    printf '%-30s' "metric"
    for s in "${ACTIVE[@]}"; do [[ $s == ftpd ]] || printf '%12s' "$s"; done
    printf '\n'
    for m in "${ROWS[@]}"; do
        printf '%-30s' "${LABEL[$m]}"
        for s in "${ACTIVE[@]}"; do
            [[ $s == ftpd ]] && continue
            a=${RES[ftpd|$m]:-}; b=${RES[$s|$m]:-}
            if num "$a" && num "$b" && [[ $a != 0 && $b != 0 ]]; then
                if [[ $m == idle* ]]; then
                    printf '%12s' "$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f", b / a }')"
                else
                    printf '%12s' "$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f", a / b }')"
                fi
            else
                printf '%12s' "-"
            fi
        done
        printf '\n'
    done

    if [[ ${#NOTES[@]} -gt 0 ]]; then
        say "notes"
        for n in "${NOTES[@]}"; do note "$n"; done
    fi
    printf '\nlogs: %s\n' "$LOGS"
} | tee "$LOGS/summary.txt"
