#!/usr/bin/env bash
# make deps: installs what building, running and testing need on Debian 12.
# As root it installs the missing apt packages; otherwise it prints the
# apt-get line to run with sudo and fails. Then it makes sure python3 has
# what the end-to-end tests import, from PyPI if need be.
set -euo pipefail

# The C libraries the Swift targets link, the stores and tools of the stack;
# chromium and chromium-driver for the browser test of the web UI
# (Tests/e2e/test_browser.py, through /usr/bin/chromedriver); and what
# scripts/test-deploy.sh checks the production files with (systemd for
# systemd-analyze, openssl, python3-seccomp for the units' syscall filter);
# jq for README's shell tour (Tests/e2e/test_tour.py runs it); prometheus for
# promtool, which checks deploy/prometheus's alert rules (the server it also
# brings is never started); redis-sentinel for the HA stack's Sentinels
# (scripts/stack/ha.sh).
PACKAGES=(libfcgi-dev libpq-dev libhiredis-dev libssl-dev libcrypt-dev libjemalloc-dev
    redis-server redis-sentinel postgresql-15 curl chromium chromium-driver systemd openssl python3-seccomp logrotate
    jq prometheus)
# The end-to-end tests' python packages, as pip names them. passlib 1.7.4
# (the last release) breaks with bcrypt 4.1 and later, hence the pin.
# selenium drives the system's chromedriver (never one it downloads itself).
# schemathesis and openapi-spec-validator check openapi.yaml against the
# server (Tests/e2e/test_openapi.py); jsonschema checks single answers against
# it (test_game_settings). websocket-client brings wsdump, the
# WebSocket client of README's shell tour.
PYTHON_PACKAGES=(pytest requests websockets pyjwt passlib bcrypt==4.0.1 prometheus_client selenium
    schemathesis openapi-spec-validator jsonschema pyyaml websocket-client)
# Succeeds when they are all there and work together.
PYTHON_CHECK='
import shutil
import pytest, requests, websockets, jwt, bcrypt, prometheus_client, selenium
import schemathesis, openapi_spec_validator, jsonschema, yaml, websocket
from selenium.webdriver.chrome.service import Service
from passlib.hash import bcrypt as passlib_bcrypt
assert hasattr(jwt, "PyJWT"), "the jwt module is not PyJWT"
assert bcrypt.__version__ == "4.0.1", "bcrypt is " + bcrypt.__version__ + ", not 4.0.1"
assert shutil.which("wsdump"), "no wsdump (websocket-client) on PATH"
assert passlib_bcrypt.verify("password", passlib_bcrypt.using(rounds=4).hash("password"))
'
python_ready() { python3 -W ignore -c "$PYTHON_CHECK" >/dev/null 2>&1; }

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
if ! python_ready && ! python3 -m pip --version >/dev/null 2>&1; then
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

if ! python_ready; then
    echo "deps: installing the python packages ${PYTHON_PACKAGES[*]}"
    # Debian's python refuses pip outside a venv (PEP 668); these are test
    # tools only, so allow it. Without root, fall back to the user's site.
    export PIP_BREAK_SYSTEM_PACKAGES=1 PIP_DISABLE_PIP_VERSION_CHECK=1
    python3 -m pip install -q "${PYTHON_PACKAGES[@]}" ||
        { ((EUID != 0)) && python3 -m pip install -q --user "${PYTHON_PACKAGES[@]}"; }
    # Again, showing why if it still fails.
    python3 -W ignore -c "$PYTHON_CHECK"
fi

# sslyze, which scripts/test-deploy.sh scans the installed site's TLS with, in a venv of its own
# (var/tools/sslyze): it pins cryptography and pydantic, which the test packages need not share.
SSLYZE_VERSION=6.3.1
SSLYZE_VENV="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/var/tools/sslyze"
if [[ $("$SSLYZE_VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("sslyze"))' 2>/dev/null) != "$SSLYZE_VERSION" ]]; then
    echo "deps: installing sslyze $SSLYZE_VERSION in $SSLYZE_VENV"
    rm -rf "$SSLYZE_VENV"
    python3 -m venv "$SSLYZE_VENV"
    PIP_DISABLE_PIP_VERSION_CHECK=1 "$SSLYZE_VENV/bin/pip" install -q "sslyze==$SSLYZE_VERSION"
fi

# Swagger UI's files for the API docs page (/docs), pinned, into var/tools/swagger-ui.
"$(dirname "${BASH_SOURCE[0]}")/swagger-ui.sh"
