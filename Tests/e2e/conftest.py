"""Fixtures for the end-to-end tests.

They run against the test stack that `make test` (scripts/test.sh) starts:
nginx on E2E_BASE_URL in front of the real leaderboard-api and leaderboard-ws,
with their own PostgreSQL and Redis. scripts/test.sh exports the stack's
settings (STACK_DIR, ports, BIN_DIR, NODES), so the tests can stop and start
its services through scripts/stack.sh. With NODES=2 (the test stack's
default) there are two api pools (api, api2) and two ws daemons (ws, ws2)
behind nginx. To run them by hand:

    TEST_KEEP_STACK=1 make test     # leaves the stack running
    E2E_BASE_URL=http://127.0.0.1:28080 STACK_DIR=var/test ... python3 -m pytest -q Tests/e2e
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import pathlib
import random
import re
import subprocess
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Iterator, TypeVar

import pytest
import requests
from requests.adapters import HTTPAdapter
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

REPO = pathlib.Path(__file__).resolve().parents[2]
STACK_SCRIPT = REPO / "scripts" / "stack.sh"
SERVICES = ("postgres", "redis", "api", "api2", "ws", "ws2", "nginx")

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
        # scripts/test.sh passes NODES; by hand, say NODES=2 for a two-node stack.
        self.nodes = int(os.environ.get("NODES", "1"))
        # Set when a test stops or kills PostgreSQL or Redis (see the stack fixture).
        self.stores_restarted = False

    @property
    def api_services(self) -> list[str]:
        """The api pools: ["api"], or ["api", "api2"] with two nodes."""
        return ["api", "api2"][: self.nodes]

    @property
    def ws_services(self) -> list[str]:
        """The ws daemons: ["ws"], or ["ws", "ws2"] with two nodes."""
        return ["ws", "ws2"][: self.nodes]

    def ws_address(self, service: str = "ws") -> tuple[str, int]:
        """Where a ws daemon listens (ws2 on the port after ws's, as scripts/stack.sh starts it)."""
        host, port = self.env()["WS_LISTEN"].rsplit(":", 1)
        return host, int(port) + self.ws_services.index(service)

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
        self.stores_restarted |= name in ("postgres", "redis")
        self.run("stop-service", name)

    def kill_service(self, name: str) -> None:
        self.stores_restarted |= name in ("postgres", "redis")
        self.run("kill-service", name)

    def restart_app_daemons(self) -> None:
        """Stops and starts every api pool and ws daemon (the supervisor included)."""
        for name in self.api_services + self.ws_services:
            self.stop_service(name)
            self.start_service(name)

    def ensure_running(self) -> None:
        """Brings every service back (idempotent) and waits until health is 200."""
        self.run("start")

    @contextlib.contextmanager
    def stopped(self, *names: str) -> Iterator[None]:
        """Stops services for the duration of a with-block, and starts them again (in reverse order)."""
        stopped: list[str] = []
        try:
            for name in names:
                self.stop_service(name)
                stopped.append(name)
            yield
        finally:
            for name in reversed(stopped):
                self.start_service(name)

    def pid(self, name: str) -> int | None:
        """The pid of the real process of a service (for api/ws the child, not the supervisor)."""
        files = {
            "postgres": self.directory / "pg" / "postmaster.pid",
            "redis": self.directory / "run" / "redis.pid",
            "api": self.directory / "run" / "api.pid",
            "api2": self.directory / "run" / "api2.pid",
            "ws": self.directory / "run" / "ws.pid",
            "ws2": self.directory / "run" / "ws2.pid",
            "nginx": self.directory / "run" / "nginx.pid",
        }
        try:
            first_line = files[name].read_text().splitlines()[0]
        except (FileNotFoundError, IndexError):
            return None
        return int(first_line) if first_line.strip().isdigit() else None

    def log_path(self, name: str) -> pathlib.Path:
        """A log under $STACK_DIR/log: postgres, redis, api, api2, ws, ws2, nginx-error, nginx-access."""
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


def answered_by_the_api(response: requests.Response) -> bool:
    """False for nginx's own 503 when no api is behind it (see nginx/dev.conf.template)."""
    return "X-Upstream-Unavailable" not in response.headers


@pytest.fixture(scope="session")
def base_url() -> str:
    """nginx of the test stack; fails the session at once if the api does not answer there."""
    url = os.environ.get("E2E_BASE_URL", "http://127.0.0.1:28080").rstrip("/")

    def api_answers() -> bool:
        response = requests.get(f"{url}/api/v1/health", timeout=5)
        return response.status_code in (200, 503) and answered_by_the_api(response)

    try:
        wait_until(api_answers, timeout=15, message=f"the stack's health at {url}")
    except AssertionError as error:
        pytest.exit(f"no test stack answers at {url} (run the tests with make test): {error}", returncode=1)
    return url


@pytest.fixture(scope="session")
def _stack_session() -> Stack:
    directory = pathlib.Path(os.environ.get("STACK_DIR", "var/test"))
    if not directory.is_absolute():
        directory = REPO / directory
    return Stack(directory)


@pytest.fixture(scope="session")
def stack_env(_stack_session: Stack) -> dict[str, str]:
    """The settings in the stack's leaderboard.env (SECRET_KEY, PG_*, ...), for tests that only read them."""
    return _stack_session.env()


@pytest.fixture
def stack(_stack_session: Stack, base_url: str) -> Iterator[Stack]:
    """The test stack; whatever a test stops or kills is running again after it."""
    yield _stack_session
    _stack_session.ensure_running()
    if _stack_session.stores_restarted:
        # After PostgreSQL or Redis restarts, each pooled connection of the daemons fails the first
        # request that uses it (503, or 202 for a submission): RedisConnection and PostgresConnection
        # notice a dead connection only by failing a command on it. Until they retry, fresh daemons
        # keep those answers from the tests that follow, at random.
        _stack_session.stores_restarted = False
        _stack_session.restart_app_daemons()


def run_sql(stack_env: dict[str, str], sql: str, **variables: str) -> list[list[str]]:
    """Runs sql on the stack's PostgreSQL with psql, values passed as variables (`:'name'` in sql, never
    formatted into it); the rows it prints, as lists of fields."""
    completed = subprocess.run(
        ["psql", "-X", "-q", "-t", "-A", "-F", "\t", "-v", "ON_ERROR_STOP=1",
         "-h", stack_env["PG_SERVER"], "-p", stack_env["PG_PORT"], "-U", stack_env["PG_USER"], "-d", stack_env["PG_DB"],
         *(argument for name, value in variables.items() for argument in ("-v", f"{name}={value}"))],
        input=sql + "\n",
        env={**os.environ, "PGPASSWORD": stack_env["PG_PW"], "PGTZ": "UTC"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert completed.returncode == 0, completed.stderr
    return [line.split("\t") for line in completed.stdout.splitlines() if line]


# --- clients of the REST API ---------------------------------------------------


def unique_email(label: str = "player") -> str:
    """An e-mail no other test (or earlier run against a kept stack) uses."""
    return f"{label}-{uuid.uuid4().hex}@example.com"


def random_loopback_address() -> str:
    """One of 127.0.0.0/8 other than 127.0.0.1; Linux routes them all to lo."""
    while True:
        address = f"127.{random.randint(1, 254)}.{random.randint(1, 254)}.{random.randint(1, 254)}"
        if address != "127.0.0.1":
            return address


class _SourceAddressAdapter(HTTPAdapter):
    def __init__(self, address: str) -> None:
        self._address = address
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = (self._address, 0)
        super().init_poolmanager(*args, **kwargs)


class Api:
    """A client of the REST API through nginx, connecting from its own loopback address.

    nginx rate-limits /api/v1/auth/ per client address, and the api throttles
    failed logins per address too; a client per test, each from another
    address, keeps tests from using up each other's allowance, as separate
    players would. Its session keeps cookies, as a browser does.
    """

    def __init__(self, base_url: str, address: str | None = None) -> None:
        self.base_url = base_url
        self.address = address or random_loopback_address()
        self.session = self.new_session()

    def new_session(self) -> requests.Session:
        """Another cookie jar and connection pool from the same address (one per thread)."""
        session = requests.Session()
        session.trust_env = False  # no proxy from the environment between us and 127.0.0.1
        session.mount("http://", _SourceAddressAdapter(self.address))
        return session

    def url(self, path: str) -> str:
        """`/auth/login` -> the full URL under /api/v1."""
        return f"{self.base_url}/api/v1{path}"

    def request(self, method: str, path: str, session: requests.Session | None = None, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 10)
        return (session or self.session).request(method, self.url(path), **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, **kwargs)


@pytest.fixture
def api(base_url: str) -> Iterator[Api]:
    """A fresh client (own address, empty cookie jar) for one test."""
    client = Api(base_url)
    yield client
    client.session.close()


class EnvelopeAudit:
    """Checks every answer under /api/v1/ against the contract every client relies on.

    The JSON envelope {success, statusCode, message, data} (+ errors on a 422),
    with a JSON content type, the HTTP status in statusCode, and never a 5xx
    unless the test expects one (`allow`).
    """

    ENVELOPE_KEYS = {"success", "statusCode", "message", "data"}

    def __init__(self, base_url: str) -> None:
        self.prefix = f"{base_url}/api/v1/"
        self.allowed_server_errors: set[int] = set()
        self.problems: list[str] = []
        self.checked = 0
        self._lock = threading.Lock()

    def allow(self, *statuses: int) -> None:
        """Lets this test see these 5xx statuses (they are still checked for the envelope)."""
        self.allowed_server_errors.update(statuses)

    def check(self, response: requests.Response) -> None:
        request = response.request
        if not str(request.url).startswith(self.prefix):
            return
        problems = self.problems_of(response)
        with self._lock:
            self.checked += 1
            self.problems += [f"{request.method} {request.url} -> {response.status_code}: {problem}" for problem in problems]

    def problems_of(self, response: requests.Response) -> list[str]:
        status = response.status_code
        problems = []
        if status >= 500 and status not in self.allowed_server_errors:
            problems.append(f"server error {response.text[:300]!r}")
        # HEAD and 204 (CORS preflight) have no body by definition.
        if response.request.method == "HEAD" or status == 204:
            return problems
        content_type = response.headers.get("Content-Type", "")
        if not content_type.startswith("application/json"):
            return problems + [f"Content-Type {content_type!r}, body {response.text[:300]!r}"]
        try:
            body = response.json()
        except ValueError:
            return problems + [f"not JSON: {response.text[:300]!r}"]
        if not isinstance(body, dict):
            return problems + [f"not a JSON object: {response.text[:300]!r}"]
        keys = set(body)
        expected = self.ENVELOPE_KEYS | ({"errors"} if status == 422 else set())
        if keys != expected:
            problems.append(f"envelope keys {sorted(keys)}, expected {sorted(expected)}")
        if body.get("success") is not (status < 400):
            problems.append(f"success is {body.get('success')!r}")
        if body.get("statusCode") != status:
            problems.append(f"statusCode is {body.get('statusCode')!r}")
        if not isinstance(body.get("message"), str) or not body.get("message"):
            problems.append(f"message is {body.get('message')!r}")
        if status >= 400 and body.get("data", "missing") is not None:
            problems.append(f"data of an error is {body.get('data')!r}, not null")
        if status == 422:
            errors = body.get("errors")
            if (
                not isinstance(errors, list)
                or not errors
                or not all(
                    isinstance(error, dict)
                    and set(error) == {"field", "message"}
                    and all(isinstance(value, str) and value for value in error.values())
                    for error in errors
                )
            ):
                problems.append(f"errors is {json.dumps(errors)[:300]}, not a list of {{field, message}}")
        return problems


@pytest.fixture
def envelope_audit(base_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[EnvelopeAudit]:
    """Audits every response the test gets through requests (any session, any thread)."""
    audit = EnvelopeAudit(base_url)
    send = requests.Session.send

    def audited_send(session: requests.Session, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        response = send(session, request, **kwargs)
        audit.check(response)
        return response

    monkeypatch.setattr(requests.Session, "send", audited_send)
    yield audit
    assert audit.problems == [], (
        f"{len(audit.problems)} problems in {audit.checked} answers under /api/v1/:\n" + "\n".join(audit.problems[:20])
    )


# --- players and WebSocket clients ---------------------------------------------


@dataclasses.dataclass(frozen=True)
class Player:
    """A signed-up, logged-in player."""

    id: int
    name: str
    email: str
    token: str

    @property
    def auth(self) -> dict[str, str]:
        """The Authorization header for REST calls."""
        return {"Authorization": f"Bearer {self.token}"}


PASSWORD = "s3cret-pass"


def new_player(api: Api, name: str = "Player") -> Player:
    """Signs up and logs in a fresh player (a unique e-mail) through the api."""
    email = unique_email(re.sub(r"[^a-z0-9]+", "-", name.lower())[:20].strip("-") or "player")
    signup = api.post("/auth/signup", json={"email": email, "name": name, "password": PASSWORD})
    assert signup.status_code == 201, signup.text
    login = api.post("/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    data = login.json()["data"]
    assert data["user"]["id"] == signup.json()["data"]["id"]
    return Player(id=data["user"]["id"], name=data["user"]["name"], email=email, token=data["token"])


def new_players(base_url: str, count: int, name: str) -> list[Player]:
    """Many players at once, from several client addresses (nginx limits auth requests per address, and the
    api signups, SIGNUP_MAX_PER_ADDRESS)."""

    def some(share: int) -> list[Player]:
        client = Api(base_url)
        try:
            return [new_player(client, name) for _ in range(share)]
        finally:
            client.session.close()

    threads = 8
    with ThreadPoolExecutor(max_workers=threads) as pool:
        shares = pool.map(some, [count // threads + (1 if index < count % threads else 0) for index in range(threads)])
        return [player for share in shares for player in share]


def ws_url(base_url: str, path: str) -> str:
    """`http://host:port` + `/ws/v1/scores` -> `ws://host:port/ws/v1/scores`."""
    assert base_url.startswith("http://"), base_url
    return "ws://" + base_url[len("http://") :] + path


class Sockets:
    """Opens WebSocket clients (through nginx unless told otherwise) and closes them all after the test."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self._open = contextlib.ExitStack()

    def open(
        self,
        path: str,
        token: str | None = None,
        *,
        cookie: bool = False,
        address: tuple[str, int] | None = None,
        headers: dict[str, str] | None = None,
        **options: Any,
    ) -> ClientConnection:
        """Connects to `path` (e.g. /ws/v1/scores), with the token as Bearer header or as the `ath` cookie.

        `address` connects straight to one ws daemon, bypassing nginx. The handshake must succeed;
        a refused token shows as a close (1008) right after it, as the contract says.
        """
        all_headers = dict(headers or {})
        if token is not None:
            if cookie:
                all_headers["Cookie"] = f"ath={token}"
            else:
                all_headers["Authorization"] = f"Bearer {token}"
        url = f"ws://{address[0]}:{address[1]}{path}" if address else ws_url(self.base_url, path)
        options.setdefault("open_timeout", 10)
        options.setdefault("close_timeout", 5)
        # No proxy from the environment between us and 127.0.0.1.
        client = connect(url, additional_headers=all_headers, proxy=None, **options)
        return self._open.enter_context(client)

    def close_all(self) -> None:
        self._open.close()


@pytest.fixture
def sockets(base_url: str) -> Iterator[Sockets]:
    """WebSocket clients for one test, closed after it."""
    opened = Sockets(base_url)
    yield opened
    opened.close_all()


def receive_json(socket: ClientConnection, timeout: float = 5) -> Any:
    """The next message, parsed; fails if none comes within `timeout` seconds."""
    try:
        message = socket.recv(timeout=timeout)
    except TimeoutError:
        raise AssertionError(f"no message within {timeout} s") from None
    assert isinstance(message, str), f"expected a text message, got {message!r:.200}"
    return json.loads(message)


def receive_until(socket: ClientConnection, predicate: Callable[[Any], bool], timeout: float = 5) -> Any:
    """Reads messages until one satisfies `predicate` and returns it; fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    seen = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no matching message within {timeout} s; got {len(seen)}: {json.dumps(seen)[:600]}")
        try:
            message = json.loads(socket.recv(timeout=left))
        except TimeoutError:
            continue
        if predicate(message):
            return message
        seen.append(message)


def close_code(socket: ClientConnection, timeout: float) -> int | None:
    """Reads (and drops) messages until the server closes the socket; its close code, or None without one.

    Fails if the socket is still open after `timeout` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"the socket is still open after {timeout} s")
        try:
            socket.recv(timeout=left)
        except TimeoutError:
            continue
        except ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else None


# These put scores up to the game's maximum on the boards (the bound must be accepted): they run after
# every other test, since test_scores, test_websocket and test_browser each place a score above a board's
# or today's report's top and need room for it below the maximum. The stack of make test is new on every
# run; against a kept stack, run those first (or on a fresh stack). test_tour (README's tour) submits the
# maximum to cod and watches it reach the top 10, so it goes before the two that fill boards with it.
RUN_LAST = ("test_tour.py", "test_openapi.py", "test_hostile.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Moves the modules of RUN_LAST to the end, each kept whole and in its order."""
    items.sort(key=lambda item: RUN_LAST.index(item.path.name) + 1 if item.path.name in RUN_LAST else 0)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """After the tests: how many hostile inputs test_hostile.py tried, and how many misbehaved."""
    import sys

    hostile = sys.modules.get("test_hostile")
    if hostile is not None:
        for line in hostile.summary_lines():
            terminalreporter.write_line(line)
