"""Fixtures for the end-to-end tests.

They run against the test stack that `make test` (scripts/test.sh) starts:
nginx on E2E_BASE_URL in front of the real leaderboard-api and leaderboard-ws,
with their own PostgreSQL and Redis. scripts/test.sh exports the stack's
settings (STACK_DIR, ports, BIN_DIR), so the tests can stop and start its
services through scripts/stack.sh. To run them by hand:

    TEST_KEEP_STACK=1 make test     # leaves the stack running
    E2E_BASE_URL=http://127.0.0.1:28080 STACK_DIR=var/test ... python3 -m pytest -q Tests/e2e
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import subprocess
import time
from typing import Callable, Iterator, TypeVar

import pytest
import requests

REPO = pathlib.Path(__file__).resolve().parents[2]
STACK_SCRIPT = REPO / "scripts" / "stack.sh"
SERVICES = ("postgres", "redis", "api", "ws", "nginx")

T = TypeVar("T")


def wait_until(
    predicate: Callable[[], T],
    timeout: float,
    interval: float = 0.1,
    ignoring: tuple[type[BaseException], ...] = (requests.RequestException,),
    message: str | None = None,
) -> T:
    """Calls predicate until it returns something truthy, and returns that.

    Fails after `timeout` seconds. Exceptions of the `ignoring` types count as
    "not yet" (a server that is coming back refuses connections for a while).
    """
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            result = predicate()
            if result:
                return result
            last = result
        except ignoring as error:
            last = error
        if time.monotonic() >= deadline:
            raise AssertionError(f"{message or 'condition not met'} within {timeout} s (last: {last!r})")
        time.sleep(interval)


class Stack:
    """The running test stack: its files, and scripts/stack.sh to drive it."""

    def __init__(self, directory: pathlib.Path) -> None:
        self.directory = directory

    def run(self, *args: str, timeout: float = 120) -> str:
        """Runs scripts/stack.sh with the test stack's settings; fails the test if it fails."""
        completed = subprocess.run(
            [str(STACK_SCRIPT), *args],
            cwd=REPO,
            env={**os.environ, "STACK_DIR": str(self.directory)},
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if completed.returncode != 0:
            raise AssertionError(
                f"scripts/stack.sh {' '.join(args)} exited with {completed.returncode}\n"
                f"{completed.stdout}{completed.stderr}"
            )
        return completed.stdout

    def start_service(self, name: str) -> None:
        self.run("start-service", name)

    def stop_service(self, name: str) -> None:
        self.run("stop-service", name)

    def kill_service(self, name: str) -> None:
        self.run("kill-service", name)

    def ensure_running(self) -> None:
        """Brings every service back (idempotent) and waits until health is 200."""
        self.run("start")

    @contextlib.contextmanager
    def stopped(self, name: str) -> Iterator[None]:
        """Stops a service for the duration of a with-block, and starts it again."""
        self.stop_service(name)
        try:
            yield
        finally:
            self.start_service(name)

    def pid(self, name: str) -> int | None:
        """The pid of the real process of a service (for api/ws the child, not the supervisor)."""
        files = {
            "postgres": self.directory / "pg" / "postmaster.pid",
            "redis": self.directory / "run" / "redis.pid",
            "api": self.directory / "run" / "api.pid",
            "ws": self.directory / "run" / "ws.pid",
            "nginx": self.directory / "run" / "nginx.pid",
        }
        try:
            first_line = files[name].read_text().splitlines()[0]
        except (FileNotFoundError, IndexError):
            return None
        return int(first_line) if first_line.strip().isdigit() else None

    def log_path(self, name: str) -> pathlib.Path:
        """A log under $STACK_DIR/log: postgres, redis, api, ws, nginx-error, nginx-access."""
        return self.directory / "log" / f"{name}.log"

    def env(self) -> dict[str, str]:
        """The stack's leaderboard.env (SECRET_KEY, ports, ...)."""
        values = {}
        for line in (self.directory / "leaderboard.env").read_text().splitlines():
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                key, value = line.split("=", 1)
                values[key.strip()] = value.strip()
        return values


class LogWatch:
    """What a log gains from now on, so a test only looks at its own lines."""

    def __init__(self, path: pathlib.Path) -> None:
        self.path = path
        self.offset = path.stat().st_size if path.exists() else 0

    def new_text(self) -> str:
        if not self.path.exists():
            return ""
        with self.path.open("rb") as file:
            file.seek(self.offset)
            return file.read().decode("utf-8", errors="replace")


@pytest.fixture(scope="session")
def base_url() -> str:
    """nginx of the test stack; fails the session at once if nothing answers there."""
    url = os.environ.get("E2E_BASE_URL", "http://127.0.0.1:28080").rstrip("/")
    try:
        wait_until(
            lambda: requests.get(f"{url}/api/v1/health", timeout=5).status_code in (200, 503),
            timeout=15,
            message=f"the stack's health at {url}",
        )
    except AssertionError as error:
        pytest.exit(f"no test stack answers at {url} (run the tests with make test): {error}", returncode=1)
    return url


@pytest.fixture(scope="session")
def _stack_session() -> Stack:
    directory = pathlib.Path(os.environ.get("STACK_DIR", "var/test"))
    if not directory.is_absolute():
        directory = REPO / directory
    return Stack(directory)


@pytest.fixture
def stack(_stack_session: Stack, base_url: str) -> Iterator[Stack]:
    """The test stack; whatever a test stops or kills is running again after it."""
    yield _stack_session
    _stack_session.ensure_running()
