# shellcheck shell=bash
# The stack's PostgreSQL: its cluster under $PG_DATA, the leaderboard role and database.
# Sourced by scripts/stack.sh (not run), with its settings and helpers in scope.

# PostgreSQL refuses to run as root: as root, run its tools as the 'postgres'
# system user that Debian's package creates. From / so that an unreadable
# working directory does not trouble them.
if ((EUID == 0)); then
    PG_OS_USER=postgres
    as_pg() { (cd / && runuser -u postgres -- "$@"); }
else
    PG_OS_USER=$(id -un)
    as_pg() { "$@"; }
fi

PG_BIN=
pg_bin() {
    [[ -n $PG_BIN ]] && return 0
    if [[ -x /usr/lib/postgresql/15/bin/pg_ctl ]]; then
        PG_BIN=/usr/lib/postgresql/15/bin
    elif command -v pg_ctl >/dev/null && command -v initdb >/dev/null; then
        PG_BIN=$(dirname "$(command -v pg_ctl)")
    else
        die "PostgreSQL 15 (initdb, pg_ctl) not found: run make deps"
    fi
}

pg_pid() { live_pid "$PG_DATA/postmaster.pid" postgres; }

pg_ready() { "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT"; }

# As root the cluster runs as 'postgres', which must reach the stack directory.
# A checkout under a private directory (/root, a mktemp -d) is not reachable:
# grant search permission (not listing) on each directory above it that needs
# it, and say so.
pg_grant_search() {
    local dir=$1 ancestors=()
    while [[ $dir != / ]]; do
        ancestors=("$dir" "${ancestors[@]}")
        dir=$(dirname "$dir")
    done
    for dir in "${ancestors[@]}"; do
        if ! as_pg test -x "$dir"; then
            say "chmod o+x $dir (for the postgres user)"
            chmod o+x "$dir"
        fi
    done
    as_pg test -x "$1" || die "user postgres cannot reach $1, even after chmod o+x on the directories above it"
}

pg_prepare() {
    if ((EUID == 0)); then
        getent passwd postgres >/dev/null ||
            die "as root, PostgreSQL runs as the 'postgres' system user, which does not exist: install postgresql-15 (make deps)"
        mkdir -p "$STACK_DIR"
        pg_grant_search "$STACK_DIR"
    fi
    mkdir -p "$PG_DATA" "$PG_SOCKET_DIR" "$LOG"
    touch "$LOG/postgres.log"
    if ((EUID == 0)); then
        chown postgres: "$PG_DATA" "$PG_SOCKET_DIR" "$LOG/postgres.log"
    fi
    chmod 0700 "$PG_DATA" "$PG_SOCKET_DIR"
    local owner
    owner=$(stat -c %U "$PG_DATA")
    [[ $owner == "$PG_OS_USER" ]] ||
        die "$PG_DATA belongs to $owner, but PostgreSQL would run as $PG_OS_USER: run as that user, or remove $STACK_DIR"
}

pg_init() {
    [[ -f $PG_DATA/PG_VERSION ]] && return 0
    say "creating a PostgreSQL cluster in $PG_DATA"
    if ! as_pg "$PG_BIN/initdb" -D "$PG_DATA" -U postgres -E UTF8 --locale=C --auth=trust >"$LOG/initdb.log" 2>&1; then
        tail -n 20 "$LOG/initdb.log" >&2
        die "initdb failed (log: $LOG/initdb.log)"
    fi
    # Truncating keeps the file's owner (postgres).
    cat >"$PG_DATA/pg_hba.conf" <<'EOF'
# Written by scripts/stack.sh.
# The socket directory is 0700 and belongs to the cluster's OS user, so only
# that user (and root) reach it: the script administers the cluster there.
local all all               trust
# The services connect over TCP with a password.
host  all all 127.0.0.1/32 scram-sha-256
EOF
}

pg_ensure_database() {
    "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_SOCKET_DIR" -p "$PG_PORT" -U postgres -d postgres >/dev/null <<'EOF'
SELECT 'CREATE ROLE leaderboard LOGIN PASSWORD ''leaderboard'''
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'leaderboard') \gexec
SELECT 'CREATE DATABASE leaderboard OWNER leaderboard'
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'leaderboard') \gexec
EOF
}

# After a SIGKILL the postmaster can linger as a zombie (PID 1 in some
# containers never reaps), and PostgreSQL then takes its lock files (data
# directory, socket) for a live server's. A lock whose process is gone or a
# zombie is stale.
pg_clear_stale_locks() {
    local lock pid
    for lock in "$PG_DATA/postmaster.pid" "$PG_SOCKET_DIR/.s.PGSQL.$PG_PORT.lock"; do
        [[ -f $lock ]] || continue
        read -r pid <"$lock" || continue
        if [[ $pid =~ ^[0-9]+$ ]] && ! alive "$pid"; then
            say "removing the stale lock ${lock##*/} of postgres pid $pid"
            rm -f "$lock"
        fi
    done
}

pg_start() {
    pg_bin
    if pg_pid >/dev/null; then
        say "postgres is already running"
    else
        pg_prepare
        pg_init
        pg_clear_stale_locks
        say "starting postgres on 127.0.0.1:$PG_PORT"
        # Settings that follow the environment go on the command line, so a
        # changed port needs no edit of postgresql.conf.
        if ! as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$LOG/postgres.log" -s -w -t "$READY_TIMEOUT" \
            -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PG_SOCKET_DIR" start; then
            tail -n 20 "$LOG/postgres.log" >&2
            die "postgres did not start (log: $LOG/postgres.log)"
        fi
    fi
    wait_for "$READY_TIMEOUT" pg_ready || die "postgres is not accepting connections on 127.0.0.1:$PG_PORT"
    pg_ensure_database
}

pg_stop() {
    if ! pg_pid >/dev/null; then
        say "postgres is not running"
        return 0
    fi
    pg_bin
    say "stopping postgres"
    as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -s -m fast -w -t 60 stop || warn "pg_ctl stop failed"
}
