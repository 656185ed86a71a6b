# shellcheck shell=bash
# HA=1: what the stack adds to run as production does on several machines, all on loopback:
#   postgres2            a streaming standby of postgres (PG_PORT+1, $STACK_DIR/pg2), synchronous
#                        (the primary's synchronous_standby_names), made once by pg_basebackup
#   redis2               a replica of redis (REDIS_PORT+1)
#   redis3               with REDIS_REPLICAS=2, a second replica (REDIS_PORT+5), as make bench's replica reads use
#   sentinel1..3         Redis Sentinels (REDIS_PORT+2..+4) watching the master named "leaderboard"
# The daemons find the primaries themselves: PG_SERVER and PG_PORT list both PostgreSQL servers
# (libpq keeps the one that takes writes), REDIS_SENTINELS names the Sentinels. Nothing here fails
# over PostgreSQL: promoting the standby is the failover manager's job (Patroni in production,
# `stack.sh promote-standby` here). A stack directory made with HA=1 stays one ($STACK_DIR/ha).
# Sourced by scripts/stack.sh (not run), with its settings and helpers in scope.

PG2_DATA="$STACK_DIR/pg2"
PG2_SOCKET_DIR="$RUN/pg2"
REDIS_MASTER_NAME=leaderboard
SENTINELS=(sentinel1 sentinel2 sentinel3)
REPLICAS=(redis2) # and redis3, once ha_settings has seen REDIS_REPLICAS=2 or a stack made with it
HA_SERVICES=()
PG2_PORT='' # PG_PORT + 1, once check_settings has seen numbers

ha_in_use() { ((HA == 1)) || [[ -e $STACK_DIR/ha ]]; }

ha_settings() {
    PG2_PORT=$((PG_PORT + 1))
    [[ $REDIS_REPLICAS == [12] ]] || die "REDIS_REPLICAS must be 1 or 2, got '$REDIS_REPLICAS'"
    # A stack made with two replicas stays so.
    if ((REDIS_REPLICAS == 2)) || [[ -e $STACK_DIR/redis3.conf ]]; then REPLICAS=(redis2 redis3); fi
    HA_SERVICES=(postgres2 "${REPLICAS[@]}" "${SENTINELS[@]}")
}

# redis2 -> REDIS_PORT+1, redis3 -> REDIS_PORT+5 (the Sentinels hold the ports between).
replica_port() { if [[ $1 == redis2 ]]; then printf '%s\n' $((REDIS_PORT + 1)); else printf '%s\n' $((REDIS_PORT + 5)); fi; }

# sentinel1 -> REDIS_PORT+2, ...
sentinel_port() { printf '%s\n' $((REDIS_PORT + 1 + ${1#sentinel})); }

sentinel_addresses() {
    local name addresses=()
    for name in "${SENTINELS[@]}"; do addresses+=("127.0.0.1:$(sentinel_port "$name")"); done
    (
        IFS=,
        printf '%s\n' "${addresses[*]}"
    )
}

# --- PostgreSQL ------------------------------------------------------------

postgres2_pid() { live_pid "$PG2_DATA/postmaster.pid" postgres; }

# pg_is_in_recovery of the server on PORT in SOCKET_DIR: primary, standby, or nothing if it does not answer.
pg_role() {
    local recovery
    recovery=$("$PG_BIN/psql" -X -q -At -h "$2" -p "$1" -U postgres -d postgres -c 'SELECT pg_is_in_recovery()' 2>/dev/null) || return 1
    if [[ $recovery == f ]]; then printf 'primary\n'; else printf 'standby\n'; fi
}

# The primary's walsender for the standby, streaming and synchronous.
standby_streaming() {
    [[ $("$PG_BIN/psql" -X -q -At -h "$PG_SOCKET_DIR" -p "$PG_PORT" -U postgres -d postgres \
        -c "SELECT state || ' ' || sync_state FROM pg_stat_replication WHERE application_name = 'standby'" 2>/dev/null) == 'streaming sync' ]]
}

# The standby may replicate (pg_basebackup, streaming) over the primary's socket, which only the cluster's OS user reaches.
pg_allow_replication() {
    grep -q '^local replication' "$PG_DATA/pg_hba.conf" && return 0
    printf 'local replication all               trust\n' >>"$PG_DATA/pg_hba.conf"
    as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -s reload
}

postgres2_start() {
    pg_bin
    if postgres2_pid >/dev/null; then
        say "postgres2 is already running"
        return 0
    fi
    mkdir -p "$PG2_SOCKET_DIR"
    touch "$LOG/postgres2.log"
    ((EUID == 0)) && chown postgres: "$PG2_SOCKET_DIR" "$LOG/postgres2.log"
    chmod 0700 "$PG2_SOCKET_DIR"
    if [[ ! -f $PG2_DATA/PG_VERSION ]]; then
        say "making postgres2, a standby, from a base backup of postgres"
        pg_allow_replication
        mkdir -p "$PG2_DATA"
        ((EUID == 0)) && chown postgres: "$PG2_DATA"
        chmod 0700 "$PG2_DATA"
        if ! as_pg "$PG_BIN/pg_basebackup" -D "$PG2_DATA" -h "$PG_SOCKET_DIR" -p "$PG_PORT" -U postgres -X stream -c fast \
            >"$LOG/basebackup.log" 2>&1; then
            tail -n 20 "$LOG/basebackup.log" >&2
            die "pg_basebackup failed (log: $LOG/basebackup.log)"
        fi
        as_pg touch "$PG2_DATA/standby.signal"
        # Once promoted it waits for no standby of its own (Patroni turns synchronous mode off the same way).
        printf "primary_conninfo = 'host=%s port=%s user=postgres application_name=standby'\nsynchronous_standby_names = ''\n" \
            "$PG_SOCKET_DIR" "$PG_PORT" | as_pg tee -a "$PG2_DATA/postgresql.auto.conf" >/dev/null
    fi
    local lock pid
    for lock in "$PG2_DATA/postmaster.pid" "$PG2_SOCKET_DIR/.s.PGSQL.$PG2_PORT.lock"; do
        [[ -f $lock ]] && read -r pid <"$lock" && [[ $pid =~ ^[0-9]+$ ]] && ! alive "$pid" && rm -f "$lock"
    done
    say "starting postgres2 on 127.0.0.1:$PG2_PORT"
    if ! as_pg "$PG_BIN/pg_ctl" -D "$PG2_DATA" -l "$LOG/postgres2.log" -s -w -t "$READY_TIMEOUT" \
        -o "-c listen_addresses=127.0.0.1 -p $PG2_PORT -k $PG2_SOCKET_DIR" start; then
        tail -n 20 "$LOG/postgres2.log" >&2
        die "postgres2 did not start (log: $LOG/postgres2.log)"
    fi
}

# Commits wait for the standby from here on: the primary names it synchronous.
pg_require_synchronous_standby() {
    "$PG_BIN/psql" -X -q -h "$PG_SOCKET_DIR" -p "$PG_PORT" -U postgres -d postgres \
        -c "ALTER SYSTEM SET synchronous_standby_names = 'standby'" -c 'SELECT pg_reload_conf()' >/dev/null
    wait_for "$READY_TIMEOUT" standby_streaming || die "postgres2 does not stream synchronously from postgres (log: $LOG/postgres2.log)"
}

postgres2_stop() {
    if ! postgres2_pid >/dev/null; then
        say "postgres2 is not running"
        return 0
    fi
    pg_bin
    say "stopping postgres2"
    as_pg "$PG_BIN/pg_ctl" -D "$PG2_DATA" -s -m fast -w -t 60 stop || warn "pg_ctl stop failed"
}

# What Patroni does when the primary is gone: the standby becomes the primary.
promote_standby() {
    pg_bin
    postgres2_pid >/dev/null || die "postgres2 is not running"
    say "promoting postgres2"
    as_pg "$PG_BIN/pg_ctl" -D "$PG2_DATA" -s -w -t "$READY_TIMEOUT" promote || die "pg_ctl promote failed (log: $LOG/postgres2.log)"
}

# --- Redis -------------------------------------------------------------------

replica_pid() { live_pid "$RUN/$1.pid" redis-server; }

sentinel_pid() { live_pid "$RUN/$1.pid" redis-sentinel; }

# master or slave (Redis's words), of the server on PORT.
redis_role() { redis-cli -h 127.0.0.1 -p "$1" role 2>/dev/null | head -n 1; }

replica_start() {
    local name=$1 port
    port=$(replica_port "$name")
    if replica_pid "$name" >/dev/null; then
        say "$name is already running"
        return 0
    fi
    mkdir -p "$STACK_DIR/$name"
    # A replica of redis to begin with; after a failover the Sentinels make each server what it must be.
    cat >"$STACK_DIR/$name.conf" <<EOF
# Generated by scripts/stack.sh on every start; edits are lost.
bind 127.0.0.1
port $port
protected-mode yes
daemonize yes
pidfile $RUN/$name.pid
logfile $LOG/$name.log
dir $STACK_DIR/$name
save ""
appendonly no
replicaof 127.0.0.1 $REDIS_PORT
$REDIS_ENCODING_SETTINGS
EOF
    say "starting $name (replica) on 127.0.0.1:$port"
    redis-server "$STACK_DIR/$name.conf" || die "redis-server failed (log: $LOG/$name.log)"
    wait_for "$READY_TIMEOUT" redis_port_ready "$port" || die "$name does not answer PING (log: $LOG/$name.log)"
}

redis_port_ready() { [[ $(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null) == PONG ]]; }

sentinel_start() {
    local name=$1 port conf
    port=$(sentinel_port "$name")
    conf="$STACK_DIR/$name/sentinel.conf"
    if sentinel_pid "$name" >/dev/null; then
        say "$name is already running"
        return 0
    fi
    mkdir -p "$STACK_DIR/$name"
    # Written once: a Sentinel records in it who is primary now, which must outlive its restart.
    if [[ ! -e $conf ]]; then
        cat >"$conf" <<EOF
# Written once by scripts/stack.sh; Sentinel rewrites it with what it learns.
bind 127.0.0.1
port $port
daemonize yes
pidfile $RUN/$name.pid
logfile $LOG/$name.log
dir $STACK_DIR/$name
sentinel monitor $REDIS_MASTER_NAME 127.0.0.1 $REDIS_PORT 2
sentinel down-after-milliseconds $REDIS_MASTER_NAME 1000
sentinel failover-timeout $REDIS_MASTER_NAME 6000
sentinel parallel-syncs $REDIS_MASTER_NAME 1
EOF
    fi
    say "starting $name on 127.0.0.1:$port"
    redis-sentinel "$conf" || die "redis-sentinel failed (log: $LOG/$name.log)"
    wait_for "$READY_TIMEOUT" redis_port_ready "$port" || die "$name does not answer PING (log: $LOG/$name.log)"
}

# PID of a daemonized Redis or Sentinel: asks it to stop, waits, kills it if it must.
redis_family_stop() {
    local name=$1 pid=$2 port=$3
    say "stopping $name"
    redis-cli -h 127.0.0.1 -p "$port" shutdown nosave >/dev/null 2>&1 || kill -TERM "$pid" 2>/dev/null || true
    wait_gone "$pid" 30 || kill -KILL "$pid" 2>/dev/null || true
}

# --- the HA stack as a whole ---------------------------------------------------

ha_start_stores() {
    touch "$STACK_DIR/ha"
    postgres2_start
    pg_require_synchronous_standby
    local name
    for name in "${REPLICAS[@]}"; do replica_start "$name"; done
    for name in "${SENTINELS[@]}"; do sentinel_start "$name"; done
    wait_for "$READY_TIMEOUT" sentinels_agree || die "the Sentinels do not all see redis and its replica (logs: $LOG/sentinel*.log)"
}

# Every Sentinel names a primary and knows every replica and the two other Sentinels: a failover can happen.
sentinels_agree() {
    local name port
    for name in "${SENTINELS[@]}"; do
        port=$(sentinel_port "$name")
        [[ $(redis-cli -h 127.0.0.1 -p "$port" sentinel replicas "$REDIS_MASTER_NAME" 2>/dev/null | grep -c '^name$') -ge ${#REPLICAS[@]} ]] || return 1
        [[ $(redis-cli -h 127.0.0.1 -p "$port" sentinel sentinels "$REDIS_MASTER_NAME" 2>/dev/null | grep -c '^name$') -ge 2 ]] || return 1
    done
}

ha_service_start() {
    case $1 in
    postgres2) postgres2_start ;;
    redis[23]) replica_start "$1" ;;
    sentinel*) sentinel_start "$1" ;;
    esac
}

ha_service_stop() {
    local pid
    case $1 in
    postgres2) postgres2_stop ;;
    redis[23]) if pid=$(replica_pid "$1"); then redis_family_stop "$1" "$pid" "$(replica_port "$1")"; else say "$1 is not running"; fi ;;
    sentinel*) if pid=$(sentinel_pid "$1"); then redis_family_stop "$1" "$pid" "$(sentinel_port "$1")"; else say "$1 is not running"; fi ;;
    esac
}

ha_service_pid() {
    case $1 in
    postgres2) postgres2_pid ;;
    redis[23]) replica_pid "$1" ;;
    sentinel*) sentinel_pid "$1" ;;
    esac
}

# The role shown by status: who is primary now.
service_role() {
    local role
    case $1 in
    postgres) pg_bin && role=$(pg_role "$PG_PORT" "$PG_SOCKET_DIR") && printf ' (%s)' "$role" ;;
    postgres2) pg_bin && role=$(pg_role "$PG2_PORT" "$PG2_SOCKET_DIR") && printf ' (%s)' "$role" ;;
    redis | redis[23])
        role=$(redis_role "$([[ $1 == redis ]] && echo "$REDIS_PORT" || replica_port "$1")")
        [[ $role == master ]] && printf ' (primary)'
        [[ $role == slave ]] && printf ' (replica)'
        ;;
    sentinel*)
        role=$(redis-cli -h 127.0.0.1 -p "$(sentinel_port "$1")" sentinel get-master-addr-by-name "$REDIS_MASTER_NAME" 2>/dev/null | paste -sd:)
        [[ -n $role ]] && printf ' (primary: %s)' "$role"
        ;;
    esac
    return 0
}
