#!/usr/bin/env bash
# A throw-away PostgreSQL 15 on 127.0.0.1 for tests and demos (superuser postgres, no password: trust).
#
#   deploy/local/postgres.sh up | down [--purge] | status
#
# Uses Debian's postgresql-15 (installed with apt-get when missing). Port TOUCHSTREAM_POSTGRES_PORT (15432).
# Run dir (data/, server.log, socket): ${TOUCHSTREAM_CACHE:-$HOME/.cache/touchstream}/run/postgres, kept by
# `down`, removed by --purge. initdb and postgres refuse to run as root, so under root they run as the
# `postgres` user; when that user cannot reach the cache (a private $HOME) the run dir moves to
# /var/tmp/touchstream-postgres. TOUCHSTREAM_POSTGRES_DIR overrides the run dir.
# `status` exits 0 when the server answers, 3 when stopped, 1 when running but not answering.
set -euo pipefail

CACHE=${TOUCHSTREAM_CACHE:-$HOME/.cache/touchstream}
PG_BIN=${TOUCHSTREAM_PG_BIN:-/usr/lib/postgresql/15/bin}
HOST=127.0.0.1
PORT=${TOUCHSTREAM_POSTGRES_PORT:-15432}
START_TIMEOUT=${TOUCHSTREAM_POSTGRES_START_TIMEOUT:-60}
OS_USER=postgres # who runs the server when we are root

say() { echo "postgres: $*"; }
die() {
    echo "postgres: $*" >&2
    exit 1
}

# Run a command as the server's owner: the postgres user under root, ourselves otherwise. From the run
# dir, because initdb and pg_ctl fail on a working directory they cannot read (root's home).
as_owner() {
    if [[ $EUID -eq 0 ]]; then
        (cd "$RUN" && runuser -u "$OS_USER" -- "$@")
    else
        (cd "$RUN" && "$@")
    fi
}

# Can the server's owner reach (traverse) every folder down to $1? A private (0700) home says no.
owner_can_reach() {
    [[ $EUID -ne 0 ]] && return 0
    local dir=$1
    while [[ ! -d $dir ]]; do dir=$(dirname "$dir"); done
    runuser -u "$OS_USER" -- test -x "$dir"
}

pick_run_dir() {
    if [[ -n ${TOUCHSTREAM_POSTGRES_DIR:-} ]]; then
        RUN=$TOUCHSTREAM_POSTGRES_DIR
    elif owner_can_reach "$CACHE"; then
        RUN=$CACHE/run/postgres
    else
        RUN=/var/tmp/touchstream-postgres
    fi
    DATA=$RUN/data
    LOG=$RUN/server.log
}

log_tail() {
    [[ -f $LOG ]] || return 0
    echo "--- last lines of $LOG ---" >&2
    tail -n 25 "$LOG" >&2
}

ensure_binaries() {
    [[ -x $PG_BIN/initdb ]] && return 0
    local sudo=()
    if [[ $EUID -ne 0 ]]; then
        if ! { command -v sudo >/dev/null && sudo -n true 2>/dev/null; }; then
            die "PostgreSQL 15 is missing ($PG_BIN/initdb) and apt-get needs root: apt-get install postgresql-15"
        fi
        sudo=(sudo -n)
    fi
    command -v apt-get >/dev/null ||
        die "PostgreSQL 15 is missing ($PG_BIN/initdb) and there is no apt-get: install PostgreSQL 15, set TOUCHSTREAM_PG_BIN"
    say "installing postgresql-15 with apt-get"
    # Wait for the dpkg lock: another service's install may be running at the same moment.
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=300 install -y -q postgresql-15 ||
        die "apt-get install postgresql-15 failed"
    [[ -x $PG_BIN/initdb ]] || die "postgresql-15 installed but $PG_BIN/initdb is still missing"
}

# The run dir belongs to the server's owner; the data dir must be 0700 or postgres refuses to start.
prepare_dirs() {
    mkdir -p "$RUN"
    [[ $EUID -eq 0 ]] && chown "$OS_USER": "$RUN"
    chmod 0700 "$RUN"
}

init_cluster() {
    [[ -f $DATA/PG_VERSION ]] && return 0
    say "initdb $DATA"
    if ! as_owner "$PG_BIN/initdb" -D "$DATA" -U postgres --auth=trust -E UTF8 --no-locale \
        >"$RUN/initdb.log" 2>&1; then
        tail -n 25 "$RUN/initdb.log" >&2
        die "initdb failed (full output: $RUN/initdb.log)"
    fi
    # Our settings live in their own file, rewritten on every start (so a changed port takes effect).
    echo "include_if_exists = 'touchstream.conf'" | as_owner tee -a "$DATA/postgresql.conf" >/dev/null
}

write_config() {
    as_owner tee "$DATA/touchstream.conf" >/dev/null <<EOF
# Written by deploy/local/postgres.sh on every start: edit the script, not this file.
listen_addresses = '$HOST'
port = $PORT
unix_socket_directories = '$RUN'
# A local test server: speed over durability.
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 100
EOF
    as_owner tee "$DATA/pg_hba.conf" >/dev/null <<EOF
# Written by deploy/local/postgres.sh: trust on the socket and on loopback IPv4 only.
local all         all               trust
host  all         all  $HOST/32  trust
host  replication all  $HOST/32  trust
EOF
}

server_running() { as_owner "$PG_BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; }
answering() { "$PG_BIN/pg_isready" -q -h "$HOST" -p "$PORT" -U postgres -d postgres -t 3; }
port_open() { timeout 2 bash -c "exec 3<>/dev/tcp/$HOST/$PORT" 2>/dev/null; }

wait_ready() {
    local deadline=$((SECONDS + START_TIMEOUT))
    until answering; do
        if ! server_running; then
            log_tail
            die "the server exited during start-up"
        fi
        if ((SECONDS >= deadline)); then
            log_tail
            die "no answer on $HOST:$PORT after ${START_TIMEOUT}s"
        fi
        sleep 0.5
    done
}

up() {
    local t0=$SECONDS
    ensure_binaries
    prepare_dirs
    if [[ -f $DATA/PG_VERSION ]] && server_running; then
        wait_ready
        say "already running on $HOST:$PORT (data $DATA)"
        return 0
    fi
    port_open && die "port $PORT on $HOST is taken by another process; set TOUCHSTREAM_POSTGRES_PORT"
    init_cluster
    write_config
    # pg_ctl detaches the server (own session, stdio to the log), so it outlives whoever started it.
    if ! as_owner "$PG_BIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t "$START_TIMEOUT" start >/dev/null; then
        log_tail
        die "pg_ctl start failed"
    fi
    wait_ready
    say "up on $HOST:$PORT ($((SECONDS - t0))s; data $DATA, log $LOG)"
}

down() {
    if [[ -f $DATA/PG_VERSION ]] && server_running; then
        # fast: roll back open sessions and stop now; the data stays.
        as_owner "$PG_BIN/pg_ctl" -D "$DATA" -m fast -w -t 60 stop >/dev/null ||
            die "pg_ctl stop failed"
        say "stopped"
    else
        say "not running"
    fi
    if [[ ${1:-} == --purge ]]; then
        rm -rf "$RUN"
        say "removed $RUN"
    fi
}

status() {
    if [[ ! -f $DATA/PG_VERSION ]] || ! server_running; then
        say "stopped"
        return 3
    fi
    if answering; then
        say "running on $HOST:$PORT (data $DATA)"
        return 0
    fi
    say "running but not answering on $HOST:$PORT"
    return 1
}

usage() { sed -n '2,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

case ${1:-} in
    up | down | status) pick_run_dir ;;
esac
case ${1:-} in
    up) up ;;
    down) down "${2:-}" ;;
    status) status ;;
    -h | --help | help) usage ;;
    *)
        usage >&2
        exit 2
        ;;
esac
