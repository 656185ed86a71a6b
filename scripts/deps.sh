#!/usr/bin/env bash
# make deps: installs what building, running and testing need on Debian 12.
# As root it installs the missing apt packages; otherwise it prints the
# apt-get line to run with sudo and fails. Then it makes sure python3 has
# pytest, requests and websockets for the end-to-end tests.
set -euo pipefail

# The C libraries the Swift targets link, the stores and tools of the stack.
PACKAGES=(libfcgi-dev libpq-dev libhiredis-dev libssl-dev libcrypt-dev
    redis-server postgresql-15 curl)
PYTHON_MODULES=(pytest requests websockets)
IMPORTS="import $(
    IFS=,
    echo "${PYTHON_MODULES[*]}"
)"

missing=()
for package in "${PACKAGES[@]}"; do
    # "install ok installed": a removed package can leave its status behind.
    if [[ $(dpkg-query -W -f '${Status}' "$package" 2>/dev/null) != "install ok installed" ]]; then
        missing+=("$package")
    fi
done
# Any Debian nginx flavour will do; nginx-light is the smallest.
[[ -x /usr/sbin/nginx ]] || missing+=(nginx-light)
command -v python3 >/dev/null || missing+=(python3)
if ! python3 -c "$IMPORTS" 2>/dev/null && ! python3 -m pip --version >/dev/null 2>&1; then
    missing+=(python3-pip)
fi

if ((${#missing[@]})); then
    if ((EUID != 0)); then
        echo "deps: missing Debian packages; install them with:" >&2
        echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
        exit 1
    fi
    echo "deps: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if ! python3 -c "$IMPORTS" 2>/dev/null; then
    echo "deps: installing the python modules ${PYTHON_MODULES[*]}"
    # Debian's python refuses pip outside a venv (PEP 668); these are test
    # tools only, so allow it. Without root, fall back to the user's site.
    export PIP_BREAK_SYSTEM_PACKAGES=1 PIP_DISABLE_PIP_VERSION_CHECK=1
    python3 -m pip install -q "${PYTHON_MODULES[@]}" ||
        { ((EUID != 0)) && python3 -m pip install -q --user "${PYTHON_MODULES[@]}"; }
    python3 -c "$IMPORTS"
fi
