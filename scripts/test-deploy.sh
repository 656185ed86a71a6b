#!/usr/bin/env bash
# The production files, tested as installed. scripts/test.sh runs it after the
# other suites, while the test stack is up:
#   1. make install DESTDIR=<a temporary root> (builds the static release binaries)
#   2. systemd-analyze verify prints nothing for any installed unit, and
#      systemd-analyze security --offline=true rates every service OK or better
#   3. nginx -t passes on the installed site, with a throwaway certificate; logrotate -d
#      rotates its logs by day and by size, and logrotate runs hourly
#   4. the installed binaries run as their units would run them (the env file,
#      socket activation, NOTIFY_SOCKET and the watchdog, no new privileges,
#      no writable and executable memory) against the test stack's PostgreSQL
#      and Redis, behind the installed site on test ports: health, headers,
#      TLS (sslyze against Mozilla's intermediate profile), error envelopes,
#      the JSON access log, nginx keeping its connections to the pool, a
#      graceful stop
#   5. make uninstall removes all of it but the env file
# Settings: STACK_DIR (the running test stack), TEST_PORT_OFFSET, SWIFT, SSLYZE;
# TEST_KEEP_DEPLOY=1 keeps the temporary directory to look at.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

STACK_DIR=${STACK_DIR:?STACK_DIR (the running test stack) is required}
TEST_PORT_OFFSET=${TEST_PORT_OFFSET:-0}
SWIFT=${SWIFT:-swift}
NGINX=${NGINX:-/usr/sbin/nginx}
# make deps installs it (scripts/deps.sh).
SSLYZE=${SSLYZE:-var/tools/sslyze/bin/sslyze}
# Below 32768 (the ephemeral range) and clear of the test stack's ports.
HTTP_PORT=$((28090 + TEST_PORT_OFFSET))
WS_PORT=$((28091 + TEST_PORT_OFFSET))
HTTPS_PORT=$((28443 + TEST_PORT_OFFSET))
# UDP: where nginx sends its refusals for the api to count (8089 in production).
REFUSALS_PORT=$((28089 + TEST_PORT_OFFSET))
READY_TIMEOUT=30

# make install's defaults: the paths the installed files name.
BINDIR=/usr/local/bin
UNITDIR=/usr/local/lib/systemd/system
HTMLDIR=/usr/local/share/leaderboard/html
DOCSDIR=/usr/local/share/leaderboard/docs
ENV_FILE=/etc/leaderboard/leaderboard.env
SITE=/etc/nginx/sites-available/leaderboard.conf
UNITS=(leaderboard.target leaderboard-api.socket leaderboard-api.service leaderboard-ws@.service leaderboard-migrate.service)
SERVICES=(leaderboard-api.service leaderboard-ws@.service leaderboard-migrate.service)

# Short: the api socket's path must fit in sun_path (107 bytes).
WORK=$(mktemp -d /tmp/lb-deploy.XXXXXX)
ROOT=$WORK/root
failures=0
pids=()

say() { printf 'deploy: %s\n' "$*"; }
pass() { printf 'deploy: ok: %s\n' "$*"; }
fail() {
    printf 'deploy: FAIL: %s\n' "$*" >&2
    failures=$((failures + 1))
}
die() {
    printf 'deploy: FAIL: %s\n' "$*" >&2
    exit 1
}

# alive, gone, wait_for
# shellcheck source=scripts/processes.sh
source scripts/processes.sh

# shellcheck disable=SC2317 # called by the trap
cleanup() {
    local status=$? pid
    if [[ -f $WORK/run/nginx.pid ]] && read -r pid <"$WORK/run/nginx.pid" && kill -QUIT "$pid" 2>/dev/null; then
        wait_for 10 gone "$pid" || kill -KILL -- "-$pid" 2>/dev/null || true
    fi
    for pid in "${pids[@]}"; do
        if alive "$pid"; then
            kill -TERM "$pid" 2>/dev/null || true
            wait_for 10 gone "$pid" || kill -KILL "$pid" 2>/dev/null || true
        fi
    done
    if [[ ${TEST_KEEP_DEPLOY:-0} == 1 ]]; then
        say "kept $WORK"
    else
        rm -rf "$WORK"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- 1. make install -----------------------------------------------------------

say "make install DESTDIR=$ROOT (static release build)"
make --no-print-directory -s install DESTDIR="$ROOT" SWIFT="$SWIFT" >"$WORK/install.log" 2>&1 ||
    { tail -n 30 "$WORK/install.log" >&2; die "make install failed (log above)"; }

for bin in leaderboard-api leaderboard-ws leaderboardctl; do
    [[ -x $ROOT$BINDIR/$bin ]] || die "$BINDIR/$bin was not installed"
    # The Swift runtime is linked in: a server needs no toolchain.
    if ldd "$ROOT$BINDIR/$bin" | grep -q 'libswift\|libFoundation'; then
        fail "$bin links the Swift runtime dynamically: $(ldd "$ROOT$BINDIR/$bin" | grep -o 'libswift[^ ]*' | head -1)"
    fi
done
for unit in "${UNITS[@]}"; do
    [[ -f $ROOT$UNITDIR/$unit ]] || die "$UNITDIR/$unit was not installed"
done
[[ -f $ROOT$SITE ]] || die "$SITE was not installed"
[[ -f $ROOT$HTMLDIR/index.html ]] || die "$HTMLDIR/index.html was not installed"
for file in index.html openapi.yaml swagger-ui/swagger-ui-bundle.js swagger-ui/swagger-ui.css; do
    [[ -f $ROOT$DOCSDIR/$file ]] || die "$DOCSDIR/$file (the API docs page) was not installed"
done
[[ $(stat -c %a "$ROOT$ENV_FILE") == 640 ]] || fail "$ENV_FILE has mode $(stat -c %a "$ROOT$ENV_FILE"), not 0640"
cmp -s .env.example "$ROOT$ENV_FILE" || fail "$ENV_FILE is not .env.example"
pass "make install put the binaries (static Swift runtime), units, site, web UI and env file in place"

# A second install keeps the env file: it holds the secrets.
echo "# edited by the admin" >>"$ROOT$ENV_FILE"
make --no-print-directory -s install DESTDIR="$ROOT" SWIFT="$SWIFT" >"$WORK/install.log" 2>&1 ||
    { tail -n 30 "$WORK/install.log" >&2; die "make install (again) failed"; }
if grep -qx '# edited by the admin' "$ROOT$ENV_FILE"; then
    pass "make install again keeps the edited env file"
else
    fail "make install overwrote the edited env file"
fi

# --- 2. systemd-analyze ---------------------------------------------------------

# --root makes systemd-analyze find the units, and the programs they start,
# where make install put them. It needs systemd's own units there too, and the
# env that leaderboard-ws@.service starts the daemon with.
mkdir -p "$ROOT/lib/systemd" "$ROOT/usr/bin"
cp -R /lib/systemd/system "$ROOT/lib/systemd/"
cp /usr/bin/env "$ROOT/usr/bin/env"

# systemd-analyze exits 0 on warnings: any output fails. The target pulls in
# the ws template's instance leaderboard-ws@8081.service.
for unit in "${UNITS[@]}"; do
    if output=$(systemd-analyze verify --man=no --root="$ROOT" "$UNITDIR/$unit" 2>&1) && [[ -z $output ]]; then
        pass "systemd-analyze verify $unit: nothing to say"
    else
        fail "systemd-analyze verify $unit:"$'\n'"$output"
    fi
done
# systemd-analyze verify checks only the program ExecStart names (env, for the
# ws daemon): every absolute path on the line must be there.
for unit in "${SERVICES[@]}"; do
    while read -r path; do
        [[ -x $ROOT$path ]] || fail "$unit: ExecStart names $path, which make install did not install"
    done < <(sed -n 's/^ExecStart=//p' "$ROOT$UNITDIR/$unit" | tr ' ' '\n' | grep '^/')
done

# "→ Overall exposure level for leaderboard-api.service: 0.9 SAFE 😀"; OK is
# below 5.0, SAFE below 1.0.
for unit in "${SERVICES[@]}"; do
    output=$(systemd-analyze security --offline=true --no-pager --root="$ROOT" "$UNITDIR/$unit" 2>&1) || true
    line=$(grep 'Overall exposure level' <<<"$output" || true)
    if [[ $line =~ :\ ([0-9.]+)\ (PERFECT|SAFE|OK) ]]; then
        pass "systemd-analyze security $unit: ${BASH_REMATCH[1]} ${BASH_REMATCH[2]}"
    else
        fail "systemd-analyze security $unit: not OK or better:"$'\n'"${line:-$output}"
    fi
done

# --- 3. nginx -t ----------------------------------------------------------------

mkdir -p "$WORK"/{tls,log/leaderboard,run} "$WORK"/nginx/{client_body,proxy,fastcgi,uwsgi,scgi}
# A throwaway CA and a server certificate it signed, shaped as a public CA's are (sslyze's path
# validation refuses a self-signed server certificate, and a CA without keyUsage).
{
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj "/CN=leaderboard test CA" \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign \
        -keyout "$WORK/tls/ca.key" -out "$WORK/tls/ca.pem" &&
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=localhost \
            -keyout "$WORK/tls/privkey.pem" -out "$WORK/tls/server.csr" &&
        printf '%s\n' basicConstraints=critical,CA:FALSE keyUsage=critical,digitalSignature extendedKeyUsage=serverAuth \
            subjectAltName=DNS:localhost,IP:127.0.0.1 authorityKeyIdentifier=keyid subjectKeyIdentifier=hash >"$WORK/tls/server.ext" &&
        openssl x509 -req -in "$WORK/tls/server.csr" -CA "$WORK/tls/ca.pem" -CAkey "$WORK/tls/ca.key" -CAcreateserial -days 2 \
            -extfile "$WORK/tls/server.ext" -out "$WORK/tls/fullchain.pem"
} >"$WORK/openssl.log" 2>&1 || { cat "$WORK/openssl.log" >&2; die "openssl could not make a test certificate"; }

# The installed site, with the certificate, logs and web root of this test.
sed -e "s|/etc/leaderboard/tls/|$WORK/tls/|g" -e "s|/var/log/nginx/|$WORK/log/|g" \
    -e "s|$HTMLDIR|$ROOT$HTMLDIR|g" -e "s|$DOCSDIR|$ROOT$DOCSDIR|g" "$ROOT$SITE" >"$WORK/site-check.conf"
# The site runs on this machine: on test ports, 127.0.0.1 only, with the
# api socket and the ws port of this test.
sed -e "s|^\( *listen\) 80;|\1 127.0.0.1:$HTTP_PORT;|" -e "s|^\( *listen\) 443 |\1 127.0.0.1:$HTTPS_PORT |" \
    -e '/^ *listen \[::\]/d' -e "s|unix:/run/leaderboard/api.sock|unix:$WORK/run/api.sock|" \
    -e "s|server 127.0.0.1:8081;|server 127.0.0.1:$WS_PORT;|" -e "s|server=127.0.0.1:8089,|server=127.0.0.1:$REFUSALS_PORT,|" \
    "$WORK/site-check.conf" >"$WORK/site-run.conf"
if grep -nE '^[^#]*(/run/leaderboard|/var/log|/etc/leaderboard|127\.0\.0\.1:(8081|8089)|listen (80|443)\b|\[::\])' "$WORK/site-run.conf" >&2; then
    die "the site for this test still names production paths or ports (above): update the sed lines here"
fi

# What README's deployment step sets in /etc/nginx/nginx.conf (Debian's
# worker_connections 768 would let WebSockets starve REST): the same numbers
# as the site's own comment, enough for its WebSocket cap twice (a socket
# takes a worker's connection to the client and one to leaderboard-ws) with
# 4,096 left for REST, and a descriptor for each.
readme_number() { sed -n "s/.*\b$1 \([0-9]\+\);.*/\1/p" README.md | sort -u; }
site_number() { sed -n "s/^ *$1 \([0-9]\+\);.*/\1/p" "$ROOT$SITE" | sort -u; }
worker_connections=$(readme_number worker_connections)
worker_rlimit_nofile=$(readme_number worker_rlimit_nofile)
ws_total=$(site_number 'limit_conn leaderboard_ws_total')
if [[ $worker_connections =~ ^[0-9]+$ && $worker_rlimit_nofile =~ ^[0-9]+$ && $ws_total =~ ^[0-9]+$ ]] &&
    grep -q "worker_rlimit_nofile $worker_rlimit_nofile; (main context) and" "$ROOT$SITE" &&
    grep -q "worker_connections $worker_connections; (events)" "$ROOT$SITE" &&
    ((worker_connections >= 2 * ws_total + 4096 && worker_rlimit_nofile >= worker_connections)); then
    pass "nginx.conf as README sets it (worker_connections $worker_connections, worker_rlimit_nofile $worker_rlimit_nofile) covers the site's $ws_total WebSockets and REST"
else
    fail "README's worker_connections '$worker_connections' and worker_rlimit_nofile '$worker_rlimit_nofile' (one of each, as the site's comment says) do not cover the site's WebSocket cap '$ws_total' twice plus 4096"
fi

# Debian 12's /etc/nginx/nginx.conf around the site, as sites-enabled/ has it,
# with README's sizing: its http-level directives are here, so a clash with
# them would show.
nginx_conf() {
    local site=$1 user=''
    # As root nginx would run its workers as nobody, who cannot reach the api socket.
    ((EUID == 0)) && user="user $(id -un) $(id -gn);"
    cat <<EOF
$user
pid $WORK/run/nginx.pid;
error_log $WORK/log/error.log warn;
worker_processes 1;
worker_shutdown_timeout 5s;
worker_rlimit_nofile ${worker_rlimit_nofile:-1024};
events {
    worker_connections ${worker_connections:-768};
}
http {
    sendfile on;
    tcp_nopush on;
    types_hash_max_size 2048;
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    ssl_protocols TLSv1 TLSv1.1 TLSv1.2 TLSv1.3;
    ssl_prefer_server_ciphers on;
    access_log $WORK/log/access.log;
    gzip on;
    client_body_temp_path $WORK/nginx/client_body;
    proxy_temp_path $WORK/nginx/proxy;
    fastcgi_temp_path $WORK/nginx/fastcgi;
    uwsgi_temp_path $WORK/nginx/uwsgi;
    scgi_temp_path $WORK/nginx/scgi;
    include $site;
}
EOF
}
nginx_cmd() { "$NGINX" -p "$WORK/nginx/" -e "$WORK/log/error.log" -c "$@"; }

# nginx -t does not bind, so the production ports can stay in this one.
nginx_conf "$WORK/site-check.conf" >"$WORK/nginx-check.conf"
if output=$(nginx_cmd "$WORK/nginx-check.conf" -t 2>&1) && ! grep -q '\[\(warn\|emerg\|alert\|crit\)\]' <<<"$output"; then
    pass "nginx -t on the installed site (ports 80/443, test certificate)"
else
    fail "nginx -t on the installed site:"$'\n'"$output"
fi

# The rotation of the site's logs, by day and by size, as logrotate -d (nothing done) sees it: of two
# logs rotated less than a day ago, the one over maxsize needs rotating, the small one does not.
LOGROTATE_CONF=/etc/logrotate.d/leaderboard-nginx
TIMER_DROPIN=$UNITDIR/logrotate.timer.d/leaderboard-hourly.conf
mkdir -p "$WORK/logrotate/leaderboard"
sed "s|/var/log/nginx/|$WORK/logrotate/|g" "$ROOT$LOGROTATE_CONF" >"$WORK/logrotate/conf"
truncate -s 101M "$WORK/logrotate/leaderboard/access.log"
echo '{}' >"$WORK/logrotate/leaderboard/error.log"
output=$(logrotate -d -s "$WORK/logrotate/state" "$WORK/logrotate/conf" 2>&1) || true
# "considering log PATH", then its verdict ("  log needs rotating", ...) a few lines on.
verdicts=$(awk '/^considering log/ { name = $3 } /^  log / && name { print name ":" $0; name = "" }' <<<"$output")
if [[ $verdicts == *"leaderboard/access.log:  log needs rotating"* && $verdicts == *"leaderboard/error.log:  log does not need rotating"* ]] &&
    ! grep -q '^error:' <<<"$output"; then
    pass "logrotate -d: the site's logs rotate daily and, over 100 MB, at logrotate's next run"
else
    fail "logrotate -d on $LOGROTATE_CONF:"$'\n'"$output"
fi
# logrotate runs hourly, so that next run is within the hour (Debian's timer is daily).
if grep -qx 'OnCalendar=hourly' "$ROOT$TIMER_DROPIN" &&
    output=$(systemd-analyze verify --man=no --root="$ROOT" logrotate.timer 2>&1) && [[ -z $output ]]; then
    pass "the logrotate.timer drop-in makes logrotate run hourly"
else
    fail "the logrotate.timer drop-in $TIMER_DROPIN: ${output:-no OnCalendar=hourly}"
fi

# --- 4. the installed binaries behind the installed site ------------------------

# The installed env file, pointed at the test stack's stores as an admin would.
stack_value() { sed -n "s/^$1=//p" "$STACK_DIR/leaderboard.env" | tail -n 1; }
set_value() {
    grep -q "^$1=" "$ROOT$ENV_FILE" || die "$ENV_FILE has no $1 line"
    local escaped
    escaped=$(printf '%s' "$2" | sed -e 's/[\\|&]/\\&/g')
    sed -i "s|^$1=.*|$1=$escaped|" "$ROOT$ENV_FILE"
}
for name in PG_USER PG_PW PG_SERVER PG_PORT PG_DB REDIS_URL SECRET_KEY; do
    value=$(stack_value "$name")
    [[ -n $value ]] || die "$STACK_DIR/leaderboard.env has no $name: is the test stack running?"
    set_value "$name" "$value"
done
# Not the socket nginx uses: the api must serve on the one it is handed.
set_value API_LISTEN "unix:$WORK/run/not-activated.sock"
set_value API_WORKERS 4

# What systemd does for the units, done by hand: a clean environment from the
# env file (EnvironmentFile=), the api's socket on fd 3 and its UDP socket on
# fd 4 (LISTEN_FDS, LISTEN_PID),
# NOTIFY_SOCKET and WATCHDOG_USEC, NoNewPrivileges=, MemoryDenyWriteExecute=
# (prctl PR_SET_MDWE, Linux 6.3 and later) and the units' SystemCallFilter=
# (libseccomp, from Debian's python3-seccomp); then exec, so the pid systemd
# would watch is the daemon's.
cat >"$WORK/launch.py" <<'EOF'
import ctypes, os, socket, subprocess, sys

import seccomp

env_file, listen, notify_socket, watchdog_usec, *command = sys.argv[1:]
listen_path, _, udp_port = listen.partition(",")
environment = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
for line in open(env_file, encoding="utf-8"):
    line = line.strip()
    if line and not line.startswith("#"):
        key, _, value = line.partition("=")
        environment[key.strip()] = value.strip()
if listen_path != "-":
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(listen_path)
    os.chmod(listen_path, 0o660)
    listener.listen(1024)
    if listener.fileno() != 3:
        os.dup2(listener.fileno(), 3)
    os.set_inheritable(3, True)
    environment.update(LISTEN_FDS="1", LISTEN_PID=str(os.getpid()))
if udp_port:
    datagrams = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    datagrams.bind(("127.0.0.1", int(udp_port)))
    os.dup2(datagrams.fileno(), 4)
    os.set_inheritable(4, True)
    environment.update(LISTEN_FDS="2")
if notify_socket != "-":
    environment.update(NOTIFY_SOCKET=notify_socket, WATCHDOG_USEC=watchdog_usec, WATCHDOG_PID=str(os.getpid()))

libc = ctypes.CDLL(None, use_errno=True)
PR_SET_NO_NEW_PRIVS, PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN = 38, 65, 1
if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
    sys.exit("launch: PR_SET_NO_NEW_PRIVS failed")
if libc.prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0:
    print("launch: this kernel has no PR_SET_MDWE; running without it", file=sys.stderr)

# SystemCallFilter=@system-service, SystemCallFilter=~@privileged @resources,
# SystemCallErrorNumber=EPERM, with the groups as this systemd defines them.
listing = subprocess.run(["systemd-analyze", "syscall-filter"], capture_output=True, text=True, check=True).stdout
groups, group = {}, None
for line in listing.splitlines():
    entry = line.strip()
    if line.startswith("@"):
        group = groups.setdefault(entry, [])
    elif group is not None and entry and not entry.startswith("#"):
        group.append(entry)


def calls(name):
    return set().union(*[calls(entry) if entry.startswith("@") else {entry} for entry in groups[name]])


syscalls = seccomp.SyscallFilter(defaction=seccomp.ERRNO(1))
for name in sorted(calls("@system-service") - calls("@privileged") - calls("@resources")):
    try:
        syscalls.add_rule(seccomp.ALLOW, name)
    except (RuntimeError, ValueError, OSError):
        pass  # not a system call on this architecture
syscalls.load()
os.execve(command[0], command, environment)
EOF

# systemd's end of NOTIFY_SOCKET: one line per datagram (newlines as |).
cat >"$WORK/notify.py" <<'EOF'
import socket, sys

receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
receiver.bind(sys.argv[1])
with open(sys.argv[2], "a", encoding="utf-8") as log:
    while True:
        log.write(receiver.recv(4096).decode("utf-8", "replace").replace("\n", "|") + "\n")
        log.flush()
EOF

# Debian's python3, which python3-seccomp (make deps) is installed for.
SYSTEM_PYTHON=/usr/bin/python3
"$SYSTEM_PYTHON" -c 'import seccomp' 2>/dev/null || die "$SYSTEM_PYTHON cannot import seccomp: run make deps (python3-seccomp)"

unit_setting() { sed -n "s/^$2=//p" "$ROOT$UNITDIR/$1" | tail -n 1; }

# Starts daemon NAME as UNIT would (the rest of the arguments are launch.py's
# socket argument and the command). A Type=notify unit gets a NOTIFY_SOCKET
# with systemd's end in $WORK/log/NAME-notify.log, and with WatchdogSec= a
# watchdog of 1 s, so the daemon must ping twice a second.
start_daemon() {
    local name=$1 unit=$2 listen=$3 notify=- watchdog=0
    shift 3
    if [[ $(unit_setting "$unit" Type) == notify ]]; then
        notify=$WORK/run/$name-notify.sock
        : >"$WORK/log/$name-notify.log"
        python3 "$WORK/notify.py" "$notify" "$WORK/log/$name-notify.log" &
        pids+=($!)
        wait_for 5 test -S "$notify" || die "the notify listener for $name did not start"
        [[ -z $(unit_setting "$unit" WatchdogSec) ]] || watchdog=1000000
    fi
    "$SYSTEM_PYTHON" "$WORK/launch.py" "$ROOT$ENV_FILE" "$listen" "$notify" "$watchdog" "$@" >"$WORK/log/$name.log" 2>&1 &
    pids+=($!)
    daemon_pid=$!
}

notified() { grep -qx "$2" "$WORK/log/$1-notify.log" 2>/dev/null; }
pinged_thrice() { (($(grep -c '^WATCHDOG=1$' "$WORK/log/$1-notify.log") >= 3)); }

# The confinement of daemon NAME, and the readiness protocol of UNIT if it has one.
running_daemon() { [[ $(readlink "/proc/$1/exe") == */leaderboard-* ]]; }
check_started() {
    local name=$1 unit=$2 pid=$3
    # launch.py confines itself, then execs (the ws unit's env execs once more).
    wait_for 10 running_daemon "$pid" || die "$name did not start (log: $(tail -n 3 "$WORK/log/$name.log" | tr '\n' ' '))"
    if grep -q '^NoNewPrivs:[[:space:]]*1' "/proc/$pid/status" && grep -q '^Seccomp:[[:space:]]*2' "/proc/$pid/status"; then
        pass "$name runs with no new privileges and the units' system call filter"
    else
        fail "$name is not confined as its unit would be: $(grep -E '^(NoNewPrivs|Seccomp):' "/proc/$pid/status" | tr '\n' ' ')"
    fi
    [[ $(unit_setting "$unit" Type) == notify ]] || return 0
    if wait_for "$READY_TIMEOUT" grep -q '^READY=1' "$WORK/log/$name-notify.log"; then
        pass "$name told systemd READY=1 ($(grep -m1 '^READY=1' "$WORK/log/$name-notify.log"))"
    else
        tail -n 20 "$WORK/log/$name.log" >&2
        die "$name sent no READY=1 in $READY_TIMEOUT s, and $unit has Type=notify"
    fi
    if [[ -n $(unit_setting "$unit" WatchdogSec) ]]; then
        if wait_for 5 pinged_thrice "$name"; then
            pass "$name pings the watchdog (WATCHDOG=1 at half of WATCHDOG_USEC)"
        else
            fail "$name sent $(grep -c '^WATCHDOG=1$' "$WORK/log/$name-notify.log") WATCHDOG=1 in 5 s with WATCHDOG_USEC=1000000"
        fi
    fi
}

# A graceful stop, as systemctl stop does it: exit 0 and, under Type=notify, STOPPING=1 first.
check_stop() {
    local name=$1 unit=$2 pid=$3 status
    kill -TERM "$pid"
    wait "$pid" && status=0 || status=$?
    if ((status != 0)); then
        fail "on SIGTERM $name exited $status (log: $(tail -n 3 "$WORK/log/$name.log" | tr '\n' ' '))"
    elif [[ $(unit_setting "$unit" Type) == notify ]] && ! grep -q '^STOPPING=1' "$WORK/log/$name-notify.log"; then
        fail "on SIGTERM $name exited 0 without STOPPING=1 (notifications: $(tail -n 3 "$WORK/log/$name-notify.log" | tr '\n' ' '))"
    else
        pass "on SIGTERM $name exited 0$([[ $(unit_setting "$unit" Type) == notify ]] && echo ", after STOPPING=1")"
    fi
    if grep -q 'cannot notify' "$WORK/log/$name.log"; then
        fail "$name logged notification failures: $(grep -m1 'cannot notify' "$WORK/log/$name.log")"
    fi
}

say "starting the installed leaderboard-api, leaderboard-ws and the installed nginx site"
[[ $(unit_setting leaderboard-api.service Type) == notify ]] || fail "leaderboard-api.service is not Type=notify"
# The socket unit's two sockets: the FastCGI one, and the UDP port nginx sends its refusals to.
[[ $(sed -n 's/^ListenDatagram=//p' "$ROOT$UNITDIR/leaderboard-api.socket") == 127.0.0.1:8089 ]] &&
    grep -q '^ *access_log syslog:server=127.0.0.1:8089,' "$ROOT$SITE" ||
    fail "leaderboard-api.socket does not hold UDP 127.0.0.1:8089, or the site sends its refusals elsewhere"
start_daemon api leaderboard-api.service "$WORK/run/api.sock,$REFUSALS_PORT" "$ROOT$BINDIR/leaderboard-api"
api_pid=$daemon_pid
# As leaderboard-ws@PORT.service starts it.
start_daemon ws leaderboard-ws@.service - /usr/bin/env "WS_LISTEN=127.0.0.1:$WS_PORT" "$ROOT$BINDIR/leaderboard-ws"
ws_pid=$daemon_pid
nginx_conf "$WORK/site-run.conf" >"$WORK/nginx-run.conf"
nginx_cmd "$WORK/nginx-run.conf" || die "nginx did not start (log: $WORK/log/error.log)"

check_started api leaderboard-api.service "$api_pid"
ws_listening() { (: <"/dev/tcp/127.0.0.1/$WS_PORT") 2>/dev/null; }
wait_for "$READY_TIMEOUT" ws_listening || {
    tail -n 20 "$WORK/log/ws.log" >&2
    die "leaderboard-ws is not listening on 127.0.0.1:$WS_PORT"
}
check_started ws leaderboard-ws@.service "$ws_pid"

BASE=https://127.0.0.1:$HTTPS_PORT
CURL=(curl -sS --max-time 5 --cacert "$WORK/tls/ca.pem")
# Prints the status, headers and body of one request, for the checks below.
fetch() { "${CURL[@]}" -D - -o "$WORK/body" "$@" >"$WORK/head" || echo "HTTP/0 000" >"$WORK/head"; }
status() { sed -n '1s/^HTTP\/[0-9.]* \([0-9]*\).*/\1/p' "$WORK/head"; }
header() { sed -n "s/^$1: *//Ip" "$WORK/head" | tr -d '\r' | head -n 1; }

health_ok() {
    fetch "$BASE/api/v1/health"
    [[ $(status) == 200 ]]
}
if wait_for "$READY_TIMEOUT" health_ok; then
    if python3 -c 'import json,sys; d=json.load(open(sys.argv[1]))["data"]; sys.exit(d != {"postgres": "ok", "redis": "ok"})' "$WORK/body"; then
        pass "GET /api/v1/health over TLS through the installed site: 200, postgres ok, redis ok"
    else
        fail "GET /api/v1/health: 200 but $(cat "$WORK/body")"
    fi
else
    tail -n 20 "$WORK/log/api.log" "$WORK/log/error.log" >&2
    die "GET /api/v1/health through the installed site is $(status), not 200: $(cat "$WORK/body" 2>/dev/null)"
fi
request_id=$(header X-Request-ID)

# The security headers, on the api's answers too.
for expected in "Strict-Transport-Security:max-age=63072000" "X-Content-Type-Options:nosniff" \
    "Referrer-Policy:same-origin" "X-Frame-Options:DENY"; do
    [[ $(header "${expected%%:*}") == "${expected#*:}" ]] || fail "health answer: ${expected%%:*} is '$(header "${expected%%:*}")'"
done
[[ $(header Content-Security-Policy) == *"connect-src 'self' wss://127.0.0.1"* ]] ||
    fail "health answer: Content-Security-Policy is '$(header Content-Security-Policy)'"
# The api's own X-Request-ID, which nginx passed it as REQUEST_ID and logged.
if [[ $request_id =~ ^[0-9a-f]{32}$ ]] &&
    python3 - "$WORK/log/leaderboard/access.log" "$request_id" <<'EOF'; then
import json, sys
entries = [json.loads(line) for line in open(sys.argv[1], encoding="utf-8")]
sys.exit(not any(e["request_id"] == sys.argv[2] and e["uri"] == "/api/v1/health" and e["status"] == 200 for e in entries))
EOF
    pass "the access log is JSON, one line per request, with the request id the api answered ($request_id)"
else
    fail "no JSON access log line for the health request with X-Request-ID '$request_id'"
fi

# The web UI: the page always revalidated, assets versioned for a year.
fetch "$BASE/"
if [[ $(status) == 200 && $(header Cache-Control) == no-cache ]] && cmp -s "$WORK/body" nginx/html/index.html; then
    pass "GET / serves the installed web UI, Cache-Control: no-cache"
else
    fail "GET /: $(status), Cache-Control '$(header Cache-Control)'"
fi
cp nginx/html/index.html "$ROOT$HTMLDIR/asset.css"
fetch "$BASE/asset.css?v=1"
[[ $(header Cache-Control) == max-age=31536000 ]] || fail "a versioned asset: Cache-Control '$(header Cache-Control)'"
fetch "$BASE/asset.css"
[[ $(header Cache-Control) == max-age=3600 ]] || fail "an unversioned asset: Cache-Control '$(header Cache-Control)'"

# The API docs: the page, Swagger UI's files and the spec, under the server's headers.
fetch "$BASE/docs"
[[ $(status) == 301 && $(header Location) == "$BASE/docs/" ]] || fail "GET /docs: $(status), Location '$(header Location)'"
fetch "$BASE/docs/"
if [[ $(status) == 200 ]] && cmp -s "$WORK/body" nginx/docs/index.html &&
    [[ $(header Content-Security-Policy) == *"script-src 'self'"* && $(header X-Frame-Options) == DENY ]]; then
    pass "GET /docs/ serves the installed API docs page, with the site's security headers"
else
    fail "GET /docs/: $(status), Content-Security-Policy '$(header Content-Security-Policy)'"
fi
fetch "$BASE/docs/openapi.yaml"
[[ $(status) == 200 && $(header Content-Type) == application/yaml ]] && cmp -s "$WORK/body" openapi.yaml ||
    fail "GET /docs/openapi.yaml: $(status), Content-Type '$(header Content-Type)', or not the checkout's openapi.yaml"
for asset in swagger-ui-bundle.js swagger-ui.css; do
    fetch "$BASE/docs/swagger-ui/$asset"
    [[ $(status) == 200 ]] && cmp -s "$WORK/body" "var/tools/swagger-ui/$asset" || fail "GET /docs/swagger-ui/$asset: $(status)"
done

# gzip for JSON.
fetch -H 'Accept-Encoding: gzip' "$BASE/api/v1/games"
if [[ $(status) == 200 && $(header Content-Encoding) == gzip ]]; then
    pass "JSON answers are gzipped"
else
    fail "GET /api/v1/games with Accept-Encoding gzip: $(status), Content-Encoding '$(header Content-Encoding)'"
fi

# HTTP only redirects.
fetch "http://127.0.0.1:$HTTP_PORT/leaderboards?x=1"
if [[ $(status) == 301 && $(header Location) == "https://127.0.0.1/leaderboards?x=1" ]]; then
    pass "plain HTTP redirects to HTTPS"
else
    fail "plain HTTP: $(status), Location '$(header Location)'"
fi

# The TLS the site offers, as sslyze scans it against Mozilla's "intermediate" profile (protocols, cipher
# suites, curves, certificate): any deviation fails. It takes 1 to 7 s here (2 cores, busy or not).
[[ -x $SSLYZE ]] || die "$SSLYZE is missing: run make deps"
scan_started=$SECONDS
if "$SSLYZE" --mozilla_config=intermediate --certinfo_ca_file "$WORK/tls/ca.pem" "127.0.0.1:$HTTPS_PORT" >"$WORK/sslyze.log" 2>&1; then
    pass "sslyze: the site's TLS is compliant with Mozilla's intermediate profile (scanned in $((SECONDS - scan_started)) s)"
else
    fail "sslyze against Mozilla's intermediate profile (whole scan: $WORK/sslyze.log):"$'\n'"$(sed -n '/COMPLIANCE AGAINST/,$p' "$WORK/sslyze.log" | tail -n 20)"
fi

# /metrics is for this machine: reachable from 127.0.0.1 (the api answers it).
fetch "$BASE/metrics"
if [[ $(status) != 403 && $(status) != 5* ]]; then
    pass "GET /metrics from 127.0.0.1 passes to the api ($(status))"
else
    fail "GET /metrics from 127.0.0.1: $(status)"
fi

# nginx's own errors in the API's envelope, with the security headers kept.
envelope_is() {
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(not (d["success"] is False and d["statusCode"] == int(sys.argv[2])))' "$WORK/body" "$1"
}
head -c 2000000 /dev/zero >"$WORK/big"
fetch -X POST -H 'Content-Type: application/json' --data-binary @"$WORK/big" "$BASE/api/v1/scores"
if [[ $(status) == 413 ]] && envelope_is 413 && [[ $(header X-Content-Type-Options) == nosniff && -n $(header X-Request-ID) ]]; then
    pass "a 2 MB body gets nginx's 413 in the envelope, with X-Request-ID and the security headers"
else
    fail "a 2 MB body: $(status), $(head -c 200 "$WORK/body")"
fi
# What nginx refuses before any location: an encoded NUL in the path, TRACE.
fetch "$BASE/api/v1/leaderboards/cod%00"
nul_status=$(status)
envelope_is 400 && nul_enveloped=1 || nul_enveloped=0
fetch -X TRACE "$BASE/api/v1/games"
if [[ $nul_status == 400 && $nul_enveloped == 1 && $(status) == 405 ]] && envelope_is 405 && [[ -n $(header X-Request-ID) ]]; then
    pass "a path with an encoded NUL (400) and TRACE (405) get nginx's answer in the envelope"
else
    fail "encoded NUL: $nul_status (envelope: $nul_enveloped); TRACE: $(status), $(head -c 200 "$WORK/body")"
fi
# Bodies no HTTP client would send, over TLS: the status line and the body nginx answered.
raw_exchange() {
    python3 - "$HTTPS_PORT" "$WORK/tls/ca.pem" "$1" >"$WORK/head" 2>&1 <<'EOF' && sed '1,/^\r$/d' "$WORK/head" >"$WORK/body"
import socket, ssl, sys
port, ca, request = int(sys.argv[1]), sys.argv[2], sys.argv[3].encode().decode("unicode_escape").encode("latin-1")
context = ssl.create_default_context(cafile=ca)
with socket.create_connection(("127.0.0.1", port), timeout=5) as plain, context.wrap_socket(plain, server_hostname="127.0.0.1") as tls:
    tls.sendall(request)
    answer = b""
    while chunk := tls.recv(65536):  # nginx closes after an error answer
        answer += chunk
sys.stdout.write(answer.decode("latin-1"))
EOF
}
raw_exchange 'POST /api/v1/scores HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n'
chunked_status=$(status)
envelope_is 400 && chunked_enveloped=1 || chunked_enveloped=0
raw_exchange 'POST /api/v1/scores HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: gzip\r\n\r\n'
if [[ $chunked_status == 400 && $chunked_enveloped == 1 && $(status) == 501 ]] && envelope_is 501; then
    pass "a malformed chunked body (400) and an unknown Transfer-Encoding (501) get nginx's answer in the envelope"
else
    fail "malformed chunked body: $chunked_status (envelope: $chunked_enveloped); unknown Transfer-Encoding: $(status), $(head -c 200 "$WORK/body")"
fi
# The 30 go at once, and the 429 checked is one of theirs: a request sent after them could come when
# the limit has let up again (5 r/s), on a slow machine.
urls=()
for index in $(seq 30); do urls+=(-o "$WORK/limited.$index" "$BASE/api/v1/auth/me"); done
"${CURL[@]}" --no-progress-meter --parallel --parallel-max 30 -w '%{http_code} %header{retry-after} %{filename_effective}\n' "${urls[@]}" >"$WORK/limited" || true
codes=$(cut -d' ' -f1 "$WORK/limited" | sort | uniq -c | tr -s ' \n' ' ')
read -r _ retry_after limited_body < <(grep '^429 ' "$WORK/limited" | head -n 1) || true
if [[ -n ${limited_body:-} ]]; then
    cp "$limited_body" "$WORK/body"
    if envelope_is 429 && [[ $retry_after == 1 ]]; then
        pass "auth routes are rate-limited with a 429 in the envelope and Retry-After (30 at once:$codes)"
    else
        fail "rate-limited auth route: Retry-After '$retry_after', $(head -c 200 "$WORK/body")"
    fi
else
    fail "30 requests at once to /api/v1/auth/me were never limited:$codes"
fi
# Those refusals were counted by the api (nginx sends each over UDP), and not logged line by line.
refused=$(grep -c '^429 ' "$WORK/limited" || true)
refusals_counted() {
    "${CURL[@]}" "$BASE/metrics" | sed -n 's/^leaderboard_nginx_refused_total{limit="limit_req"} \([0-9.]*\)$/\1/p'
}
all_refusals_counted() { [[ $(refusals_counted) == "$refused" ]]; }
if ((refused > 0)) && wait_for 10 all_refusals_counted && ! grep -q 'limiting requests' "$WORK/log/leaderboard/error.log"; then
    pass "the $refused refusals are counted in the api's /metrics, not written to the error log"
else
    fail "$refused refusals, leaderboard_nginx_refused_total{limit=\"limit_req\"} '$(refusals_counted)', $(grep -c 'limiting requests' "$WORK/log/leaderboard/error.log") 'limiting requests' lines in the error log"
fi

# The site keeps its connections to the socket-activated pool: 50 requests, a handful of connects (one per
# nginx worker, again after keepalive_time, one per /metrics scrape), not one each.
accepted_connections() {
    "${CURL[@]}" "$BASE/metrics" | sed -n 's/^leaderboard_fastcgi_connections_accepted_total \([0-9.]*\)$/\1/p'
}
accepted_before=$(accepted_connections)
reused=0
for _ in $(seq 50); do
    fetch "$BASE/api/v1/health"
    [[ $(status) == 200 ]] && reused=$((reused + 1))
done
accepted=$(python3 -c 'import sys; print(int(float(sys.argv[2]) - float(sys.argv[1])))' "${accepted_before:-0}" "$(accepted_connections)")
if ((reused == 50 && accepted <= 10)); then
    pass "nginx keeps its connections to the socket-activated pool: 50 requests, $accepted connections accepted"
else
    fail "nginx's connections to the pool: $reused of 50 requests answered 200, $accepted connections accepted (before: '$accepted_before')"
fi

# /ws/v1 reaches leaderboard-ws (whatever it answers, it is not nginx's 502).
fetch "$BASE/ws/v1/health"
if [[ $(status) != 502 && $(status) != 504 && $(status) != 000 ]]; then
    pass "/ws/v1 reaches leaderboard-ws ($(status))"
else
    fail "GET /ws/v1/health: $(status): nginx cannot reach leaderboard-ws"
fi

check_stop api leaderboard-api.service "$api_pid"
fetch "$BASE/api/v1/health"
if [[ $(status) == 503 && $(header X-Upstream-Unavailable) == 1 && $(header Retry-After) == 1 ]] && envelope_is 503 &&
    [[ -n $(header Strict-Transport-Security) ]]; then
    pass "with no api behind it, nginx answers 503 in the envelope with X-Upstream-Unavailable and Retry-After"
else
    fail "no api: $(status), X-Upstream-Unavailable '$(header X-Upstream-Unavailable)', $(head -c 200 "$WORK/body")"
fi
[[ ! -e $WORK/run/not-activated.sock ]] || fail "leaderboard-api opened API_LISTEN instead of taking the socket on fd 3"
check_stop ws leaderboard-ws@.service "$ws_pid"

# --- 5. make uninstall ------------------------------------------------------------

make --no-print-directory -s uninstall DESTDIR="$ROOT" >"$WORK/uninstall.log" 2>&1 ||
    { cat "$WORK/uninstall.log" >&2; die "make uninstall failed"; }
left=$(find "$ROOT$BINDIR" "$ROOT$UNITDIR" "$ROOT/etc/nginx" "$ROOT$HTMLDIR" "$ROOT$LOGROTATE_CONF" -type f 2>/dev/null || true)
if [[ -z $left && -f $ROOT$ENV_FILE ]]; then
    pass "make uninstall removed everything but the env file"
else
    fail "make uninstall left: $left; env file present: $([[ -f $ROOT$ENV_FILE ]] && echo yes || echo no)"
fi

if ((failures)); then
    say "$failures check(s) failed; logs: $WORK/log (TEST_KEEP_DEPLOY=1 keeps them)"
    exit 1
fi
say "all checks passed"
