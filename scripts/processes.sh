# shellcheck shell=bash
# Process helpers shared by scripts/stack.sh and scripts/test-deploy.sh (sourced, not run).

# True if PID exists and is not a zombie (PID 1 here may be slow to reap).
alive() {
    local state
    kill -0 "$1" 2>/dev/null || return 1
    state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
    [[ $state != Z ]]
}

gone() { ! alive "$1"; }

# Runs "$@" until it succeeds, for at most TIMEOUT seconds.
wait_for() {
    local timeout=$1
    shift
    local deadline=$((SECONDS + timeout))
    until "$@"; do
        ((SECONDS < deadline)) || return 1
        sleep 0.2
    done
}
