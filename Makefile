# Build, run and test the leaderboard service (GNU make).
#
#   make run     install what is missing, build, start the dev stack (var/dev)
#                (make run NODES=2: two api pools and two ws daemons behind nginx;
#                make run HA=1: also a PostgreSQL standby, a Redis replica and three Sentinels)
#   make test    every test, against a test stack (var/test) it starts and stops
#                (two nodes unless NODES=1)
#   make test-faults    kill -9 Redis, an api pool, a ws daemon and stop PostgreSQL
#                under load, on a stack of its own (var/faults); nothing acknowledged is lost
#   make test-failover  kill -9 the Redis primary (Sentinel promotes the replica), then the PostgreSQL
#                primary (the standby is promoted) under load, on an HA stack of its own (var/failover)
#   make test-conformance  Autobahn|Testsuite's every case against leaderboard-ws, direct and through
#                nginx, on a stack of its own (var/conformance); fails on a FAILED case that is not by design
#   make test-sanitize  the Swift tests under ASan and TSan, and the daemons under TSan
#                during end-to-end tests (var/sanitize)
#   make fuzz    libFuzzer on the JSON and JWT parsers, 60 s each (FUZZ_SECONDS)
#   make stop / status / logs    the dev stack
#   make install / uninstall     the production files (README: "Deploy on a server")
#   make bench   measures the service against its ceilings (README: "Benchmarks"); QUICK=1: a small run
#                BENCH_REPLICAS=2: the board reads with and without Redis replica reads, side by side
# The stack itself is scripts/stack.sh; its settings are documented there.

# Where make install puts things. The units and the nginx site name the
# installed paths, so set these on the command line of make install, not by
# editing the installed files.
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
# The web UI: nginx's root.
HTMLDIR ?= $(PREFIX)/share/leaderboard/html
# The API docs page (/docs): Swagger UI, its page and openapi.yaml.
DOCSDIR ?= $(PREFIX)/share/leaderboard/docs
# systemd searches /usr/local/lib/systemd/system for local units and
# /lib/systemd/system for packaged ones; with another PREFIX, set
# UNITDIR=/etc/systemd/system.
UNITDIR ?= $(PREFIX)/lib/systemd/system
SYSCONFDIR ?= /etc
# Debian's nginx includes every file in sites-enabled; the site is installed
# to sites-available and enabled by hand (a symlink) once its certificate exists.
NGINX_SITES_AVAILABLE ?= $(SYSCONFDIR)/nginx/sites-available
NGINX_SITES_ENABLED ?= $(SYSCONFDIR)/nginx/sites-enabled
# The site's host name(s), and its certificate and key. "_" (no name) serves
# any host once the site is the only one on ports 80 and 443.
SERVER_NAME ?= _
TLS_CERT ?= $(SYSCONFDIR)/leaderboard/tls/fullchain.pem
TLS_KEY ?= $(SYSCONFDIR)/leaderboard/tls/privkey.pem
# The group that may connect to the api socket: nginx's (www-data on Debian).
SOCKET_GROUP ?= www-data
DESTDIR ?=
SWIFT ?= swift
INSTALL ?= install

RELEASE_BIN := .build/release
EXECUTABLES := leaderboard-api leaderboard-ws leaderboardctl
UNITS := leaderboard.target leaderboard-api.socket leaderboard-api.service leaderboard-ws@.service leaderboard-migrate.service
CONFDIR := $(SYSCONFDIR)/leaderboard
ENV_FILE := $(CONFDIR)/leaderboard.env
SITE := leaderboard.conf
# The site's logs, where the site names them, and their rotation (nginx/leaderboard.logrotate), which
# a drop-in makes hourly.
NGINX_LOG_DIR := /var/log/nginx/leaderboard
LOGROTATE_CONF := $(SYSCONFDIR)/logrotate.d/leaderboard-nginx
LOGROTATE_TIMER_DROPIN := logrotate.timer.d/leaderboard-hourly.conf
SWIFT_SOURCES := Sources Tests Benchmarks Fuzz Package.swift

# Fills in the placeholders (@NAME@) of the units and of the nginx site.
RENDER = sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
	-e 's|@SOCKET_GROUP@|$(SOCKET_GROUP)|g' -e 's|@SERVER_NAME@|$(SERVER_NAME)|g' \
	-e 's|@HTML_ROOT@|$(HTMLDIR)|g' -e 's|@DOCS_ROOT@|$(DOCSDIR)|g' -e 's|@TLS_CERT@|$(TLS_CERT)|g' -e 's|@TLS_KEY@|$(TLS_KEY)|g'

# Prerequisites run in order (deps before build); SwiftPM parallelises itself.
.NOTPARALLEL:

.PHONY: all deps build build-debug run stop status logs test test-faults test-failover test-conformance test-sanitize fuzz format lint install uninstall clean bench bench-deps

all: build

deps:
	scripts/deps.sh

# Release binaries with the Swift runtime linked in, so a server needs no
# Swift toolchain; the dev stack runs these same binaries.
build:
	$(SWIFT) build -c release --static-swift-stdlib

build-debug:
	$(SWIFT) build

run: deps build
	SEED_DEMO=1 BIN_DIR=$(RELEASE_BIN) NODES=$(NODES) HA=$(HA) READ_REPLICAS=$(READ_REPLICAS) scripts/stack.sh start

stop:
	scripts/stack.sh stop

status:
	scripts/stack.sh status || true  # exit status 3 (something stopped) is for scripts, not make

logs:
	scripts/stack.sh logs

test: deps
	SWIFT=$(SWIFT) NODES=$(NODES) HA=$(HA) scripts/test.sh

# Benchmarks never run in make test and never fail on a threshold. The bench stack lives in
# var/bench (its own ports) and keeps its seeded data for the next run.
QUICK ?= 0
# 2: the board reads on a stack with two Redis replicas under Sentinel, pages on the primary, then on the replicas.
BENCH_REPLICAS ?= 0

bench: bench-deps build
	QUICK=$(QUICK) BENCH_REPLICAS=$(BENCH_REPLICAS) BIN_DIR=$(RELEASE_BIN) python3 Benchmarks/bench.py

# What the benchmarks add to make deps: wrk (redis-benchmark comes with redis-server's redis-tools).
bench-deps: deps
	@if ! command -v wrk >/dev/null; then \
		if [ "$$(id -u)" != 0 ]; then echo "bench-deps: run: sudo apt-get install -y --no-install-recommends wrk" >&2; exit 1; fi; \
		echo "bench-deps: installing wrk"; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends wrk || \
			{ apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends wrk; }; \
	fi
# Its own stack (FAULTS_STACK_DIR, FAULTS_PORT_OFFSET): see scripts/test-faults.py.
test-faults: deps
	SWIFT=$(SWIFT) scripts/test-faults.py

# Its own HA stack (FAILOVER_STACK_DIR, FAILOVER_PORT_OFFSET): see scripts/test-failover.py.
test-failover: deps
	SWIFT=$(SWIFT) scripts/test-failover.py

# Its own stack too (CONFORMANCE_STACK_DIR, CONFORMANCE_PORT_OFFSET), and Autobahn|Testsuite installed
# once into var/autobahn (AUTOBAHN_DIR) with Python 2.7 (AUTOBAHN_PYTHON): see scripts/test-conformance.py.
test-conformance: deps
	SWIFT=$(SWIFT) scripts/test-conformance.py

# Its own stack too (SANITIZE_STACK_DIR, SANITIZE_PORT_OFFSET) and scratch paths .build-asan, .build-tsan.
test-sanitize: deps
	SWIFT=$(SWIFT) scripts/test-sanitize.sh

# Release build with -sanitize=fuzzer,address in .build-fuzz; crashes go to Tests/fuzz/crashes.
fuzz: deps
	SWIFT=$(SWIFT) scripts/fuzz.sh

format:
	$(SWIFT) format --in-place --recursive $(SWIFT_SOURCES)

lint:
	$(SWIFT) format lint --strict --recursive $(SWIFT_SOURCES)

# Installs the binaries, the systemd units, the nginx site (not enabled), the
# rotation of its logs, the web UI, the API docs page, and a sample env file unless one exists (it holds the secrets:
# never overwritten, mode 0640). Runs no systemctl: see the README.
install: build
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(NGINX_SITES_AVAILABLE) $(DESTDIR)$(HTMLDIR)
	$(INSTALL) -m 0755 $(addprefix $(RELEASE_BIN)/,$(EXECUTABLES)) $(DESTDIR)$(BINDIR)/
	set -e; for unit in $(UNITS); do \
		$(RENDER) systemd/$$unit >$(DESTDIR)$(UNITDIR)/$$unit.new; \
		$(INSTALL) -m 0644 $(DESTDIR)$(UNITDIR)/$$unit.new $(DESTDIR)$(UNITDIR)/$$unit; \
		rm -f $(DESTDIR)$(UNITDIR)/$$unit.new; \
	done
	$(RENDER) nginx/$(SITE) >$(DESTDIR)$(NGINX_SITES_AVAILABLE)/$(SITE).new
	$(INSTALL) -m 0644 $(DESTDIR)$(NGINX_SITES_AVAILABLE)/$(SITE).new $(DESTDIR)$(NGINX_SITES_AVAILABLE)/$(SITE)
	rm -f $(DESTDIR)$(NGINX_SITES_AVAILABLE)/$(SITE).new
	$(INSTALL) -d $(DESTDIR)$(NGINX_LOG_DIR) $(DESTDIR)$(dir $(LOGROTATE_CONF)) $(DESTDIR)$(UNITDIR)/$(dir $(LOGROTATE_TIMER_DROPIN))
	$(INSTALL) -m 0644 nginx/leaderboard.logrotate $(DESTDIR)$(LOGROTATE_CONF)
	$(INSTALL) -m 0644 systemd/$(LOGROTATE_TIMER_DROPIN) $(DESTDIR)$(UNITDIR)/$(LOGROTATE_TIMER_DROPIN)
	@if grep -n '^[^#]*@[A-Z_]*@' $(addprefix $(DESTDIR)$(UNITDIR)/,$(UNITS)) $(DESTDIR)$(NGINX_SITES_AVAILABLE)/$(SITE); then \
		echo "install: placeholders left (above)" >&2; exit 1; fi
	@# Exactly the checkout's web UI: no stale files of an older version.
	rm -rf $(DESTDIR)$(HTMLDIR)
	$(INSTALL) -d $(DESTDIR)$(HTMLDIR)
	cp -R nginx/html/. $(DESTDIR)$(HTMLDIR)/
	chmod -R u=rwX,go=rX $(DESTDIR)$(HTMLDIR)
	@# The docs page, the spec and the pinned Swagger UI (fetched into var/tools unless it is there).
	scripts/swagger-ui.sh
	rm -rf $(DESTDIR)$(DOCSDIR)
	$(INSTALL) -d $(DESTDIR)$(DOCSDIR)/swagger-ui
	$(INSTALL) -m 0644 nginx/docs/* openapi.yaml $(DESTDIR)$(DOCSDIR)/
	$(INSTALL) -m 0644 var/tools/swagger-ui/* $(DESTDIR)$(DOCSDIR)/swagger-ui/
	$(INSTALL) -d -m 0750 $(DESTDIR)$(CONFDIR)
	@if [ -e $(DESTDIR)$(ENV_FILE) ]; then \
		echo "install: keeping $(DESTDIR)$(ENV_FILE)"; \
	else \
		echo "$(INSTALL) -m 0640 .env.example $(DESTDIR)$(ENV_FILE)"; \
		$(INSTALL) -m 0640 .env.example $(DESTDIR)$(ENV_FILE); \
	fi

# Removes what make install put there, except the env file (secrets) and the
# TLS files in $(CONFDIR): delete those by hand. Stop the service first.
uninstall:
	rm -f $(addprefix $(DESTDIR)$(BINDIR)/,$(EXECUTABLES))
	rm -f $(addprefix $(DESTDIR)$(UNITDIR)/,$(UNITS))
	@# A dangling symlink in sites-enabled would stop nginx from loading.
	if [ -L $(DESTDIR)$(NGINX_SITES_ENABLED)/$(SITE) ]; then rm -f $(DESTDIR)$(NGINX_SITES_ENABLED)/$(SITE); fi
	rm -f $(DESTDIR)$(NGINX_SITES_AVAILABLE)/$(SITE)
	rm -f $(DESTDIR)$(LOGROTATE_CONF) $(DESTDIR)$(UNITDIR)/$(LOGROTATE_TIMER_DROPIN)
	rmdir $(DESTDIR)$(UNITDIR)/$(dir $(LOGROTATE_TIMER_DROPIN)) 2>/dev/null || true
	rm -rf $(DESTDIR)$(HTMLDIR) $(DESTDIR)$(DOCSDIR)
	rmdir $(DESTDIR)$(dir $(HTMLDIR)) 2>/dev/null || true
	@echo "uninstall: kept $(DESTDIR)$(CONFDIR) (the env file holds secrets) and the logs in $(DESTDIR)$(NGINX_LOG_DIR); remove them by hand"

# Keeps var/dev (the dev database and its demo data); stop it and delete it
# by hand for a fresh dev stack.
clean:
	-STACK_DIR=var/test scripts/stack.sh stop >/dev/null 2>&1
	-STACK_DIR=var/faults scripts/stack.sh stop >/dev/null 2>&1
	-STACK_DIR=var/sanitize scripts/stack.sh stop >/dev/null 2>&1
	-STACK_DIR=var/conformance scripts/stack.sh stop >/dev/null 2>&1
	-STACK_DIR=var/failover scripts/stack.sh stop >/dev/null 2>&1
	-STACK_DIR=var/failover-restore scripts/stack.sh stop >/dev/null 2>&1
	$(SWIFT) package clean
	rm -rf var/test var/faults var/failover var/failover-restore var/sanitize var/conformance var/autobahn var/fuzz .build-asan .build-tsan .build-fuzz
