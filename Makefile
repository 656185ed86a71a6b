# Build, run and test the leaderboard service (GNU make).
#
#   make run     install what is missing, build, start the dev stack (var/dev)
#                (make run NODES=2: two api pools and two ws daemons behind nginx)
#   make test    every test, against a test stack (var/test) it starts and stops
#                (two nodes unless NODES=1)
#   make stop / status / logs    the dev stack
# The stack itself is scripts/stack.sh; its settings are documented there.

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
DESTDIR ?=
SWIFT ?= swift
INSTALL ?= install

RELEASE_BIN := .build/release
EXECUTABLES := leaderboard-api leaderboard-ws leaderboardctl
SWIFT_SOURCES := Sources Tests Package.swift

# Prerequisites run in order (deps before build); SwiftPM parallelises itself.
.NOTPARALLEL:

.PHONY: all deps build build-debug run stop status logs test format lint install uninstall clean

all: build

deps:
	scripts/deps.sh

build:
	$(SWIFT) build -c release

build-debug:
	$(SWIFT) build

run: deps build
	SEED_DEMO=1 BIN_DIR=$(RELEASE_BIN) NODES=$(NODES) scripts/stack.sh start

stop:
	scripts/stack.sh stop

status:
	scripts/stack.sh status || true  # exit status 3 (something stopped) is for scripts, not make

logs:
	scripts/stack.sh logs

test: deps
	SWIFT=$(SWIFT) NODES=$(NODES) scripts/test.sh

format:
	$(SWIFT) format --in-place --recursive $(SWIFT_SOURCES)

lint:
	$(SWIFT) format lint --strict --recursive $(SWIFT_SOURCES)

install: build
	$(INSTALL) -d $(DESTDIR)$(BINDIR)
	$(INSTALL) -m 0755 $(addprefix $(RELEASE_BIN)/,$(EXECUTABLES)) $(DESTDIR)$(BINDIR)/

uninstall:
	rm -f $(addprefix $(DESTDIR)$(BINDIR)/,$(EXECUTABLES))

# Keeps var/dev (the dev database and its demo data); stop it and delete it
# by hand for a fresh dev stack.
clean:
	-STACK_DIR=var/test scripts/stack.sh stop >/dev/null 2>&1
	$(SWIFT) package clean
	rm -rf var/test
