# shellcheck shell=bash
# The stack's nginx: its config rendered from nginx/, in front of the api pools and ws daemons.
# Sourced by scripts/stack.sh (not run), with its settings and helpers in scope.

nginx_pid() { live_pid "$RUN/nginx.pid" nginx; }

sed_escape() { printf '%s' "$1" | sed -e 's/[\\|&]/\\&/g'; }

# The server lines of an upstream block, one per node, escaped for sed's
# replacement (GNU sed makes \n a newline); the template says why
# max_fails=0. Usage: upstream_servers api|ws
upstream_servers() {
    local addresses address out=''
    if [[ $1 == api ]]; then
        addresses=("unix:$API_SOCKET" "unix:$API2_SOCKET")
    else
        addresses=("127.0.0.1:$WS_PORT" "127.0.0.1:$WS2_PORT")
    fi
    for address in "${addresses[@]:0:NODES}"; do
        [[ -z $out ]] || out+='\n        '
        out+="server $(sed_escape "$address") max_fails=0;"
    done
    printf '%s' "$out"
}

nginx_render() {
    local template="$REPO_ROOT/nginx/dev.conf.template" out=$1 user_directive=''
    [[ -r $template ]] || die "$template is missing"
    # As root, nginx would run its workers as nobody, who cannot reach the
    # api socket; the stack is private, so keep the invoking user.
    ((EUID == 0)) && user_directive="user $(id -un) $(id -gn);"
    sed -e "s|@STACK_DIR@|$(sed_escape "$STACK_DIR")|g" \
        -e "s|@HTML_ROOT@|$(sed_escape "$REPO_ROOT/nginx/html")|g" \
        -e "s|@REPO_ROOT@|$(sed_escape "$REPO_ROOT")|g" \
        -e "s|@HTTP_PORT@|$HTTP_PORT|g" \
        -e "s|@API_SERVERS@|$(upstream_servers api)|g" \
        -e "s|@WS_SERVERS@|$(upstream_servers ws)|g" \
        -e "s|@AUTH_RATE@|$(sed_escape "$AUTH_RATE")|g" \
        -e "s|@REFUSALS_PORT@|$REFUSALS_PORT|g" \
        -e "s|@USER_DIRECTIVE@|$(sed_escape "$user_directive")|g" \
        "$template" >"$out"
    if grep -nE '^[^#]*@[A-Z_]+@' "$out" >&2; then
        die "unknown placeholders left in $out (see above)"
    fi
}

# nginx CONFIG [ARGS...]: nginx -c needs an absolute path; -e keeps the
# startup errors out of the system's log.
nginx_cmd() { "$NGINX" -p "$STACK_DIR/nginx/" -e "$LOG/nginx-error.log" -c "$@"; }

nginx_listening() { [[ $(http_code /) != 000 ]]; }

nginx_start() {
    [[ -x $NGINX ]] || die "$NGINX not found: run make deps"
    mkdir -p "$STACK_DIR"/nginx/{client_body,proxy,fastcgi,uwsgi,scgi} "$RUN" "$LOG"
    local conf="$STACK_DIR/nginx.conf" pid
    nginx_render "$conf.new"
    if ! nginx_cmd "$conf.new" -q -t; then
        die "the generated nginx config is invalid: $conf.new"
    fi
    if pid=$(nginx_pid); then
        if cmp -s "$conf.new" "$conf"; then
            rm -f "$conf.new"
            say "nginx is already running"
        else
            mv "$conf.new" "$conf"
            say "nginx config changed: reloading"
            kill -HUP "$pid"
        fi
        return 0
    fi
    mv "$conf.new" "$conf"
    say "starting nginx on 127.0.0.1:$HTTP_PORT"
    nginx_cmd "$conf" || die "nginx did not start (log: $LOG/nginx-error.log)"
    wait_for "$READY_TIMEOUT" nginx_listening || die "nginx does not answer on 127.0.0.1:$HTTP_PORT"
}

nginx_stop() {
    local pid
    if ! pid=$(nginx_pid); then
        say "nginx is not running"
        return 0
    fi
    say "stopping nginx"
    # QUIT is the graceful stop; worker_shutdown_timeout bounds it.
    kill -QUIT "$pid" 2>/dev/null || true
    wait_gone "$pid" 15 || {
        warn "nginx did not stop in 15 s; killing it"
        kill -KILL -- "-$pid" 2>/dev/null || true
    }
}
