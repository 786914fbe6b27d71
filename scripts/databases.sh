#!/usr/bin/env bash
# Starts the database servers that the virtual-user tests (issue 7) run against: one private
# MariaDB and one private PostgreSQL, both from Debian's packages, each with its data directory
# under .tools/databases (gitignored), listening on 127.0.0.1 only, with a test database and a
# test user. No systemd or service command is used: the servers are started directly and keep
# running after the tests (like a service for the test session); their PIDs are recorded.
#
#   bash scripts/databases.sh          # install (as root, with apt-get), start, write the env file
#   bash scripts/databases.sh stop     # stop both servers, by the PIDs recorded
#   source .tools/databases/env        # what the tests read (scripts/test.sh does this)
#
# The env file exports, for each server that accepts the test user's login:
#   FTP_TEST_MYSQL_URL=mysql://ftprs_test:PASSWORD@127.0.0.1:PORT/ftprs_test
#   FTP_TEST_POSTGRES_URL=postgres://ftprs_test:PASSWORD@127.0.0.1:PORT/ftprs_test
# and, for tests that start private servers of their own (ftp-server-tokio/tests/support_db):
#   FTP_TEST_PG_BINDIR            the directory holding initdb, postgres, pg_ctl, pg_isready, psql
#   FTP_TEST_MARIADB_BIN          mariadbd (or mysqld)
#   FTP_TEST_MARIADB_INSTALL_DB   mariadb-install-db (or mysql_install_db)
# The test user may also create databases of its own (PostgreSQL: CREATEDB; MariaDB: every
# database named ftprs_test_*), so that tests can each work in a fresh one.
#
# Idempotent: servers that run and accept the test login are kept; a stale PID file is removed
# and its server started again. The default ports are 23306 (MariaDB) and 25432 (PostgreSQL);
# when one is taken by something else the next free one is used (the env file says which).
#
# As root, the packages are installed with apt-get (quietly, starting no system service), and
# the servers run as the unprivileged users the packages create (mysql, postgres). Not root:
# packages already installed are used and the servers run as the current user; what is missing
# is said, and the tests that need it say SKIPPED (under CI=true they fail instead).
#
# Environment: FTP_TEST_DATABASES_DIR overrides the folder; FTP_TEST_MYSQL_PORT and
# FTP_TEST_POSTGRES_PORT the first port tried.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DIR=${FTP_TEST_DATABASES_DIR:-$REPO/.tools/databases}
# Keep in step with ftp-server-tokio/tests/support_db/mod.rs.
DB_NAME=ftprs_test
DB_USER=ftprs_test
DB_PASSWORD=ftprs-test-db-password
# Below the kernel's ephemeral range (32768-60999), so that no outgoing connection holds them.
MY_PORT_DEFAULT=${FTP_TEST_MYSQL_PORT:-23306}
PG_PORT_DEFAULT=${FTP_TEST_POSTGRES_PORT:-25432}
WAIT_SECONDS=60

say() { echo "databases.sh: $*" >&2; }

IS_ROOT=0
[[ $(id -u) == 0 ]] && IS_ROOT=1

# ---------------------------------------------------------------------------------------------
# Helpers.

is_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

# PID alive and its command name one of the given (guards against a recycled PID).
pid_is() { # PID NAME...
    local pid=$1 comm
    shift
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
    # A zombie (dead, not yet reaped by its parent) is not running.
    [[ $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) != Z ]] || return 1
    local name
    for name in "$@"; do [[ $comm == "$name" ]] && return 0; done
    return 1
}

# Any TCP socket (IPv4 or IPv6, any state) bound to the port. Read from /proc rather than probed
# with a connection: a probe to a port in the ephemeral range can connect to itself and hold it.
port_in_use() {
    local hex
    hex=$(printf ':%04X ' "$1")
    cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | awk '{print $2" "}' | grep -q -- "$hex"
}

free_port_from() { # FIRST -> the first port from FIRST (20 tried) nobody listens on
    local p
    for ((p = $1; p < $1 + 20; p++)); do
        port_in_use "$p" || { echo "$p"; return 0; }
    done
    return 1
}

stop_pid() { # PID SIGNAL LABEL: signal, then wait (bounded) for the process to go; SIGKILL last
    local pid=$1 sig=$2 label=$3 i
    [[ -d /proc/$pid ]] || return 0
    say "stopping $label (PID $pid, SIG$sig)"
    kill -"$sig" "$pid" 2>/dev/null || return 0
    for ((i = 0; i < WAIT_SECONDS * 10; i++)); do
        [[ -d /proc/$pid && $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) != Z ]] || return 0
        sleep 0.1
    done
    say "$label (PID $pid) still running after ${WAIT_SECONDS}s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
}

# Runs a command as USER when root (the servers refuse to run as root), as is otherwise.
as_user() { # USER COMMAND...
    local user=$1
    shift
    if [[ $IS_ROOT == 1 ]]; then
        runuser -u "$user" -- "$@"
    else
        "$@"
    fi
}

# Makes DIR (and its parents) and, as root, gives DIR to USER.
own_dir() { # DIR USER
    mkdir -p "$1"
    chmod 700 "$1"
    if [[ $IS_ROOT == 1 ]]; then
        chown "$2:" "$1"
        # The server user must be able to reach it: every parent needs o+x.
        if ! runuser -u "$2" -- test -x "$1"; then
            say "$2 cannot reach $1 (a parent directory is not searchable by others)"
            return 1
        fi
    fi
}

# ---------------------------------------------------------------------------------------------
# Binaries.

find_pg_bindir() {
    local d
    # The newest installed major version first.
    for d in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -t/ -k5 -V -r); do
        [[ -x $d/initdb && -x $d/postgres && -x $d/pg_ctl ]] && { echo "$d"; return 0; }
    done
    if d=$(command -v initdb 2>/dev/null); then
        d=$(dirname "$(readlink -f "$d")")
        [[ -x $d/postgres && -x $d/pg_ctl ]] && { echo "$d"; return 0; }
    fi
    return 1
}

find_first() { # CANDIDATES... -> the first that exists as an executable (PATH or absolute)
    local c p
    for c in "$@"; do
        if [[ $c == /* ]]; then
            [[ -x $c ]] && { echo "$c"; return 0; }
        elif p=$(command -v "$c" 2>/dev/null); then
            echo "$p"
            return 0
        fi
    done
    return 1
}

find_mariadbd() { find_first mariadbd mysqld /usr/sbin/mariadbd /usr/sbin/mysqld; }
find_install_db() { find_first mariadb-install-db mysql_install_db /usr/bin/mariadb-install-db /usr/bin/mysql_install_db; }
find_my_client() { find_first mariadb mysql; }

# ---------------------------------------------------------------------------------------------
# Install (root with apt-get only).

install_packages() {
    local missing=() pkg
    for pkg in mariadb-server mariadb-client postgresql postgresql-client; do
        is_installed "$pkg" || missing+=("$pkg")
    done
    [[ ${#missing[@]} -eq 0 ]] && return 0
    if [[ $IS_ROOT == 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
        say "missing packages ${missing[*]} (installing needs root and apt-get); using what is there"
        return 0
    fi
    say "installing ${missing[*]} with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    # The packages' scripts would start the system services (MariaDB on port 3306, the
    # PostgreSQL 'main' cluster on 5432): a policy-rc.d that denies it, unless one is there.
    local policy=/usr/sbin/policy-rc.d added_policy=0
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\n# scripts/databases.sh: no service starts while it installs\nexit 101\n' >"$policy"
        chmod 755 "$policy"
        added_policy=1
    fi
    local ok=1
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 || {
        apt-get update -qq >/dev/null 2>&1 || true
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 || ok=0
    }
    [[ $added_policy == 1 ]] && rm -f "$policy"
    [[ $ok == 1 ]] || say "apt-get could not install ${missing[*]}"
}

# ---------------------------------------------------------------------------------------------
# PostgreSQL.

PG_DIR=$DIR/postgres
PG_DATA=$PG_DIR/data
PG_ADMIN_PASSWORD=ftprs-test-admin-password

pg_pid() { head -n1 "$PG_DATA/postmaster.pid" 2>/dev/null || true; }
pg_port() { cat "$PG_DIR/port" 2>/dev/null || true; }

pg_query() { # PORT USER PASSWORD DB SQL
    PGPASSWORD=$3 PGCONNECT_TIMEOUT=5 "$PG_BINDIR/psql" -X -q -A -t -v ON_ERROR_STOP=1 \
        -h 127.0.0.1 -p "$1" -U "$2" -d "$4" -c "$5"
}

pg_test_login() { # PORT
    [[ $(pg_query "$1" "$DB_USER" "$DB_PASSWORD" "$DB_NAME" 'SELECT 1' 2>/dev/null) == 1 ]]
}

pg_stop() {
    local pid
    pid=$(pg_pid)
    # SIGINT is PostgreSQL's fast shutdown (SIGTERM would wait for every client to leave).
    if [[ -n $pid ]] && pid_is "$pid" postgres; then stop_pid "$pid" INT PostgreSQL; fi
    rm -f "$PG_DATA/postmaster.pid"
}

pg_start() {
    PG_BINDIR=$(find_pg_bindir) || { say "PostgreSQL's server binaries (initdb, postgres) not found"; return 1; }
    local user=postgres port pid i
    [[ $IS_ROOT == 1 ]] || user=$(id -un)
    if [[ $IS_ROOT == 1 ]] && ! getent passwd postgres >/dev/null; then
        say "no system user postgres (the postgresql package creates it)"
        return 1
    fi

    port=$(pg_port)
    pid=$(pg_pid)
    if [[ -n $pid ]] && pid_is "$pid" postgres; then
        if [[ -n $port ]] && pg_test_login "$port"; then
            say "PostgreSQL already running (PID $pid, port $port)"
            PG_PORT=$port
            return 0
        fi
        say "PostgreSQL (PID $pid) does not accept the test login: restarting it"
        pg_stop
    elif [[ -e $PG_DATA/postmaster.pid ]]; then
        say "removing PostgreSQL's stale PID file"
        rm -f "$PG_DATA/postmaster.pid"
    fi

    mkdir -p "$DIR"
    chmod 755 "$DIR"
    own_dir "$PG_DIR" "$user" || return 1
    if [[ ! -s $PG_DATA/PG_VERSION ]]; then
        say "initdb $PG_DATA"
        rm -rf "$PG_DATA"
        local pwfile=$PG_DIR/admin-password
        echo "$PG_ADMIN_PASSWORD" >"$pwfile"
        [[ $IS_ROOT == 1 ]] && chown "$user:" "$pwfile"
        as_user "$user" "$PG_BINDIR/initdb" -D "$PG_DATA" -U postgres --pwfile="$pwfile" \
            --auth=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$PG_DIR/initdb.log" 2>&1 ||
            { say "initdb failed: see $PG_DIR/initdb.log"; return 1; }
        rm -f "$pwfile"
    fi

    # The port chosen last time if it is free again, else the first free one from the default.
    if [[ -z $port ]] || port_in_use "$port"; then
        port=$(free_port_from "$PG_PORT_DEFAULT") || { say "no free port from $PG_PORT_DEFAULT"; return 1; }
    fi
    echo "$port" >"$PG_DIR/port"

    # TCP on 127.0.0.1 only, no Unix socket (its path could exceed the 107-byte limit).
    say "starting PostgreSQL on 127.0.0.1:$port"
    as_user "$user" "$PG_BINDIR/pg_ctl" -D "$PG_DATA" -l "$PG_DIR/server.log" -w -t "$WAIT_SECONDS" \
        -o "-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories= -c fsync=off" \
        start >/dev/null ||
        { say "PostgreSQL did not start: see $PG_DIR/server.log"; return 1; }
    for ((i = 0; i < WAIT_SECONDS * 10; i++)); do
        "$PG_BINDIR/pg_isready" -q -h 127.0.0.1 -p "$port" && break
        sleep 0.1
    done

    # The test role and database (again each time: cheap, and repairs a changed password).
    pg_query "$port" postgres "$PG_ADMIN_PASSWORD" postgres "DO \$\$ BEGIN
          IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$DB_USER') THEN
            CREATE ROLE $DB_USER LOGIN;
          END IF;
        END \$\$;
        ALTER ROLE $DB_USER LOGIN CREATEDB PASSWORD '$DB_PASSWORD';" >/dev/null ||
        { say "could not create PostgreSQL's test role"; return 1; }
    if [[ $(pg_query "$port" postgres "$PG_ADMIN_PASSWORD" postgres \
        "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'") != 1 ]]; then
        pg_query "$port" postgres "$PG_ADMIN_PASSWORD" postgres \
            "CREATE DATABASE $DB_NAME OWNER $DB_USER" >/dev/null ||
            { say "could not create PostgreSQL's test database"; return 1; }
    fi
    pg_test_login "$port" || { say "PostgreSQL refuses the test login"; return 1; }
    PG_PORT=$port
    say "PostgreSQL running (PID $(pg_pid), port $port)"
}

# ---------------------------------------------------------------------------------------------
# MariaDB.

MY_DIR=$DIR/mariadb
MY_DATA=$MY_DIR/data
MY_PIDFILE=$MY_DIR/mariadbd.pid

my_socket() {
    # A Unix socket path is limited to 107 bytes: a short one in /tmp when the folder is deep.
    local s=$MY_DIR/mariadbd.sock
    if [[ ${#s} -gt 100 ]]; then s=/tmp/ftprs-test-mariadb-$(echo "$MY_DIR" | cksum | cut -d' ' -f1).sock; fi
    echo "$s"
}
my_pid() { cat "$MY_PIDFILE" 2>/dev/null || true; }
my_port() { cat "$MY_DIR/port" 2>/dev/null || true; }

my_test_login() { # PORT
    [[ $(MYSQL_PWD=$DB_PASSWORD "$MY_CLIENT" --no-defaults --connect-timeout=5 -N -B \
        --protocol=TCP -h 127.0.0.1 -P "$1" -u "$DB_USER" "$DB_NAME" -e 'SELECT 1' 2>/dev/null) == 1 ]]
}

my_stop() {
    local pid
    pid=$(my_pid)
    if [[ -n $pid ]] && pid_is "$pid" mariadbd mysqld; then stop_pid "$pid" TERM MariaDB; fi
    rm -f "$MY_PIDFILE"
}

my_start() {
    local mariadbd install_db user=mysql port pid i sock
    mariadbd=$(find_mariadbd) || { say "mariadbd (mysqld) not found"; return 1; }
    install_db=$(find_install_db) || { say "mariadb-install-db not found"; return 1; }
    MY_CLIENT=$(find_my_client) || { say "the mariadb (mysql) client not found"; return 1; }
    [[ $IS_ROOT == 1 ]] || user=$(id -un)
    if [[ $IS_ROOT == 1 ]] && ! getent passwd mysql >/dev/null; then
        say "no system user mysql (the mariadb-server package creates it)"
        return 1
    fi
    sock=$(my_socket)

    port=$(my_port)
    pid=$(my_pid)
    if [[ -n $pid ]] && pid_is "$pid" mariadbd mysqld; then
        if [[ -n $port ]] && my_test_login "$port"; then
            say "MariaDB already running (PID $pid, port $port)"
            MY_PORT=$port
            return 0
        fi
        say "MariaDB (PID $pid) does not accept the test login: restarting it"
        my_stop
    elif [[ -e $MY_PIDFILE ]]; then
        say "removing MariaDB's stale PID file"
        rm -f "$MY_PIDFILE"
    fi

    mkdir -p "$DIR"
    chmod 755 "$DIR"
    own_dir "$MY_DIR" "$user" || return 1
    if [[ ! -d $MY_DATA/mysql ]]; then
        say "mariadb-install-db $MY_DATA"
        rm -rf "$MY_DATA"
        # The admin account is root (or, not root, the current user) through the Unix socket.
        as_user "$user" "$install_db" --no-defaults --user="$user" --datadir="$MY_DATA" \
            --auth-root-authentication-method=socket --skip-test-db >"$MY_DIR/install-db.log" 2>&1 ||
            { say "mariadb-install-db failed: see $MY_DIR/install-db.log"; return 1; }
    fi

    if [[ -z $port ]] || port_in_use "$port"; then
        port=$(free_port_from "$MY_PORT_DEFAULT") || { say "no free port from $MY_PORT_DEFAULT"; return 1; }
    fi
    echo "$port" >"$MY_DIR/port"

    say "starting MariaDB on 127.0.0.1:$port"
    rm -f "$sock"
    local user_arg=()
    [[ $IS_ROOT == 1 ]] && user_arg=(--user=mysql)
    # setsid + nohup: the server outlives this script and the terminal; $! is mariadbd itself.
    setsid nohup "$mariadbd" --no-defaults "${user_arg[@]}" --datadir="$MY_DATA" \
        --port="$port" --bind-address=127.0.0.1 --socket="$sock" --pid-file="$MY_PIDFILE" \
        --log-error="$MY_DIR/error.log" --skip-name-resolve --innodb-buffer-pool-size=64M \
        --innodb-flush-log-at-trx-commit=0 --max-connections=500 \
        </dev/null >>"$MY_DIR/stdout.log" 2>&1 &
    pid=$!
    local admin=(root)
    [[ $IS_ROOT == 1 ]] || admin=("$(id -un)")
    for ((i = 0; i < WAIT_SECONDS * 10; i++)); do
        if ! [[ -d /proc/$pid ]]; then
            say "MariaDB exited at start: see $MY_DIR/error.log"
            return 1
        fi
        "$MY_CLIENT" --no-defaults --connect-timeout=2 -u "${admin[0]}" --socket="$sock" \
            -N -B -e 'SELECT 1' >/dev/null 2>&1 && break
        sleep 0.1
    done
    # mariadbd writes its PID file itself; record ours if it has not yet.
    [[ -s $MY_PIDFILE ]] || echo "$pid" >"$MY_PIDFILE"

    "$MY_CLIENT" --no-defaults --connect-timeout=5 -u "${admin[0]}" --socket="$sock" -e "
        CREATE DATABASE IF NOT EXISTS $DB_NAME;
        CREATE USER IF NOT EXISTS '$DB_USER'@'%' IDENTIFIED BY '$DB_PASSWORD';
        ALTER USER '$DB_USER'@'%' IDENTIFIED BY '$DB_PASSWORD';
        GRANT ALL PRIVILEGES ON \`$DB_NAME\`.* TO '$DB_USER'@'%';
        GRANT ALL PRIVILEGES ON \`${DB_NAME//_/\\_}\\_%\`.* TO '$DB_USER'@'%';" ||
        { say "could not create MariaDB's test user and database"; return 1; }
    my_test_login "$port" || { say "MariaDB refuses the test login"; return 1; }
    MY_PORT=$port
    say "MariaDB running (PID $(my_pid), port $port)"
}

# ---------------------------------------------------------------------------------------------

write_env() {
    local env=$DIR/env tmp
    mkdir -p "$DIR"
    tmp=$(mktemp "$DIR/env.XXXXXX")
    {
        echo "# Written by scripts/databases.sh; sourced by scripts/test.sh."
        [[ -n ${MY_PORT:-} ]] &&
            echo "export FTP_TEST_MYSQL_URL=mysql://$DB_USER:$DB_PASSWORD@127.0.0.1:$MY_PORT/$DB_NAME"
        [[ -n ${PG_PORT:-} ]] &&
            echo "export FTP_TEST_POSTGRES_URL=postgres://$DB_USER:$DB_PASSWORD@127.0.0.1:$PG_PORT/$DB_NAME"
        local b
        b=$(find_pg_bindir) && echo "export FTP_TEST_PG_BINDIR=$b"
        b=$(find_mariadbd) && echo "export FTP_TEST_MARIADB_BIN=$b"
        b=$(find_install_db) && echo "export FTP_TEST_MARIADB_INSTALL_DB=$b"
        true
    } >"$tmp"
    chmod 644 "$tmp"
    mv "$tmp" "$env"
    echo "env file:     $env"
    sed -n 's/^export /              /p' "$env"
}

case ${1:-start} in
stop)
    pg_stop
    my_stop
    rm -f "$DIR/env"
    say "stopped"
    ;;
start)
    if ! command -v dpkg-query >/dev/null 2>&1; then
        say "not Debian/Ubuntu: install MariaDB and PostgreSQL yourself; using what is on PATH"
        is_installed() { return 0; }
    fi
    install_packages
    MY_PORT='' PG_PORT=''
    pg_start || say "PostgreSQL is not available: its tests will say SKIPPED (fail under CI=true)"
    my_start || say "MariaDB is not available: its tests will say SKIPPED (fail under CI=true)"
    write_env
    ;;
*)
    echo "usage: bash scripts/databases.sh [start|stop]" >&2
    exit 2
    ;;
esac
