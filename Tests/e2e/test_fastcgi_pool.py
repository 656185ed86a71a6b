"""The api's FastCGI pool behind nginx, which keeps its connections to it (fastcgi_keep_conn, upstream keepalive):
nginx reuses them, far more of them than the pool has workers never stall it, and a pool that stops under load
fails no submission."""

from __future__ import annotations

import os
import pathlib
import re
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from conftest import Api, LogWatch, Stack, answered_by_the_api, leaderboardctl, new_players, run_sql, wait_until
from test_health import CUT_REQUEST, is_healthy
from test_metrics import api_metrics, scrape

ACCEPTED = ("leaderboard_fastcgi_connections_accepted_total", ())
OPEN = ("leaderboard_fastcgi_connections", ())


def accepted_connections(base_url: str) -> float:
    return sum(scrape(url).get(ACCEPTED, 0) for url in api_metrics(base_url))


def test_nginx_reuses_its_connections_to_the_pool(api: Api, base_url: str) -> None:
    before = accepted_connections(base_url)
    for _ in range(300):
        assert api.get("/games").status_code == 200
    accepted = accepted_connections(base_url) - before
    # One connect per pool and nginx worker, again after keepalive_time (3 s), and one per /metrics scrape
    # (not a kept location): a handful. With a connection per request it was over 300.
    assert accepted <= 30, f"the pools accepted {accepted:.0f} connections for 300 requests"


class KeptFastCGIConnection:
    """A FastCGI client that asks the pool to keep its connection (FCGI_KEEP_CONN), as nginx does, so the test can
    hold kept connections open for certain instead of hoping nginx opens enough of them."""

    RESPONDER, KEEP_CONN = 1, 1
    BEGIN_REQUEST, END_REQUEST, PARAMS, STDIN, STDOUT = 1, 3, 4, 5, 6

    def __init__(self, path: pathlib.Path | tuple[str, int], source: str | None = None) -> None:
        """On a unix socket's path, or a TCP (host, port) from the loopback address `source`."""
        if isinstance(path, tuple):
            self.socket = socket.create_connection(path, timeout=30, source_address=(source, 0) if source else None)
        else:
            self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.socket.settimeout(30)
            self.socket.connect(str(path))

    def get(self, uri: str) -> bytes:
        """The response's head and body (CGI style, `Status:` first) of a GET on this connection."""
        self.begin("GET", uri)
        self.socket.sendall(self.record(self.STDIN, b""))
        return self.answer()

    def post(self, uri: str, body: bytes, authorization: str) -> None:
        """Sends a whole POST; its answer is `answer()`'s to read."""
        self.begin("POST", uri, content_length=len(body), authorization=authorization)
        self.socket.sendall(self.record(self.STDIN, body) + self.record(self.STDIN, b""))

    def begin(self, method: str, uri: str, content_length: int = 0, authorization: str | None = None) -> None:
        """Sends a request's head; its body (`STDIN` records, then an empty one) is the caller's to send."""
        params = b"".join(self.pair(name, value) for name, value in (
            ("REQUEST_METHOD", method), ("REQUEST_URI", uri), ("DOCUMENT_URI", uri), ("QUERY_STRING", ""),
            ("REMOTE_ADDR", "127.0.0.1"), ("CONTENT_TYPE", "application/json"), ("CONTENT_LENGTH", str(content_length)),
            *((("HTTP_AUTHORIZATION", authorization),) if authorization else ())))
        begin = struct.pack(">HB5x", self.RESPONDER, self.KEEP_CONN)
        self.socket.sendall(self.record(self.BEGIN_REQUEST, begin) + self.record(self.PARAMS, params) + self.record(self.PARAMS, b""))

    def answer(self) -> bytes:
        """The response's head and body of the request sent last."""
        output = b""
        while True:
            kind, content = self.read_record()
            if kind == self.STDOUT:
                output += content
            elif kind == self.END_REQUEST:
                return output

    def close(self) -> None:
        self.socket.close()

    @staticmethod
    def pair(name: str, value: str) -> bytes:
        def length(text: str) -> bytes:
            # One byte below 128, else four with the high bit set (FastCGI's name-value pairs).
            return bytes([len(text)]) if len(text) < 128 else struct.pack(">I", len(text) | 0x80000000)

        return length(name) + length(value) + name.encode() + value.encode()

    @staticmethod
    def record(kind: int, content: bytes) -> bytes:
        return struct.pack(">BBHHBx", 1, kind, 1, len(content), 0) + content

    def read_record(self) -> tuple[int, bytes]:
        _, kind, _, length, padding = struct.unpack(">BBHHBx", self.read_exactly(8))
        content = self.read_exactly(length + padding)
        return kind, content[:length]

    def read_exactly(self, count: int) -> bytes:
        data = b""
        while len(data) < count:
            chunk = self.socket.recv(count - len(data))
            assert chunk, "the pool closed a connection it was asked to keep"
            data += chunk
        return data


def test_four_times_more_kept_connections_than_workers_do_not_stall_the_pool(base_url: str, stack: Stack, stack_env: dict[str, str]) -> None:
    workers = int(stack_env["API_WORKERS"])
    clients = 4 * workers
    requests_each = 40
    # Node 1's pool (/metrics goes there) holds 4x its workers in idle kept connections, each answered once: with a
    # thread per kept connection (PITFALLS.md) nothing else would be served now.
    held = [KeptFastCGIConnection(stack.directory / "run" / "api.sock") for _ in range(clients)]
    try:
        for connection in held:
            assert connection.get("/api/v1/games").startswith(b"Status: 200"), "a kept connection was not answered"
        open_connections = scrape(f"{base_url}/metrics").get(OPEN, 0)
        assert open_connections >= clients, f"the pool counts {open_connections:.0f} open connections, {clients} are held"

        def client(_: int) -> list[tuple[int, float]]:
            session = requests.Session()
            outcomes = []
            for _ in range(requests_each):
                started = time.monotonic()
                response = session.get(f"{base_url}/api/v1/games", timeout=30)
                outcomes.append((response.status_code, time.monotonic() - started))
            session.close()
            return outcomes

        with ThreadPoolExecutor(max_workers=clients) as pool:
            outcomes = [outcome for share in pool.map(client, range(clients)) for outcome in share]
        # The idle connections were not given up on while the load went past them.
        for connection in held:
            assert connection.get("/api/v1/games").startswith(b"Status: 200"), "a kept connection was not answered again"
    finally:
        for connection in held:
            connection.close()

    statuses = [status for status, _ in outcomes]
    assert statuses == [200] * len(outcomes), f"not every request was answered 200: {sorted(set(statuses))}"
    latencies = sorted(seconds for _, seconds in outcomes)
    p99 = latencies[int(len(latencies) * 0.99)]
    # Kept connections tied to threads stall for seconds here (PITFALLS.md: p99 1.4 s at 4x, or nothing at all).
    assert p99 < 1.0, f"p99 {p99 * 1000:.0f} ms with {clients} clients and {clients} idle kept connections on {workers} workers per pool"


def test_a_pool_stopped_under_load_fails_no_submission(base_url: str, stack: Stack) -> None:
    players = new_players(base_url, 8, "Stopper")
    # Sent with a game server's API key: a player's own submissions are limited to SCORE_RATE_PER_MINUTE a game, which
    # this load passes within the minute; a key's are not limited.
    key = leaderboardctl(stack.directory, "api-keys", "create", "Stopper load", "--game", "cod").stdout.splitlines()[1]
    old_pid = stack.pid("api")
    assert old_pid is not None
    api_log = LogWatch(stack.log_path("api"))
    nginx_log = LogWatch(stack.log_path("nginx-error"))
    outcomes: list[str] = []  # "ok", "unavailable" (nginx's own 503: no pool to connect to), or what went wrong
    lock = threading.Lock()
    done = threading.Event()

    def count(outcome: str) -> int:
        with lock:
            return outcomes.count(outcome)

    def submitter(index: int) -> None:
        player = players[index]
        session = requests.Session()
        score = 0
        while not done.is_set():
            score += 1
            try:
                response = session.post(
                    f"{base_url}/api/v1/scores", json={"game": "cod", "score": score, "userId": player.id},
                    headers={"Authorization": f"Bearer {key}"}, timeout=10)
                if response.status_code == 200:
                    outcome = "ok"
                elif response.status_code == 503 and not answered_by_the_api(response):
                    outcome = "unavailable"
                else:
                    outcome = f"HTTP {response.status_code}: {response.text[:200]!r}"
            except requests.RequestException as error:
                outcome = f"{type(error).__name__}: {error}"
            with lock:
                outcomes.append(outcome)
            if outcome == "unavailable":
                time.sleep(0.01)  # nginx answers at once: do not spin

    threads = [threading.Thread(target=submitter, args=(index,), daemon=True) for index in range(len(players))]
    for thread in threads:
        thread.start()
    try:
        wait_until(lambda: count("ok") >= 200, timeout=30, message="200 submissions under load")
        os.kill(old_pid, signal.SIGTERM)
        exit_line = re.compile(rf"supervisor: leaderboard-api exited with status (\d+) \(pid {old_pid}\)")
        match = wait_until(lambda: exit_line.search(api_log.new_text()), timeout=30, message="the api to exit")
        assert match.group(1) == "0", f"leaderboard-api exited with status {match.group(1)} on SIGTERM"
        wait_until(lambda: stack.pid("api") not in (None, old_pid) and is_healthy(base_url), timeout=30, message="the api's restart")
        served_before = count("ok")
        wait_until(lambda: count("ok") >= served_before + 200, timeout=30, message="200 submissions after the restart")
    finally:
        done.set()
        for thread in threads:
            thread.join(timeout=15)

    problems = [outcome for outcome in outcomes if outcome not in ("ok", "unavailable")]
    assert problems == [], f"{len(problems)} of {len(outcomes)} submissions failed, e.g. {problems[:5]}"
    cut = [line for line in nginx_log.new_text().splitlines() if CUT_REQUEST.search(line)]
    assert cut == [], f"a pool dropped {len(cut)} requests nginx had sent, e.g. {cut[:3]}"


def test_a_pool_on_tcp_answers_only_the_addresses_fcgi_web_server_addrs_names(stack: Stack) -> None:
    """libfcgi's FCGI_WEB_SERVER_ADDRS, which its own accept loop honoured and the pool's does too: on a TCP socket,
    a connection from an address the list does not name is closed unanswered (else anyone reaching the port could
    send requests past nginx, with a REMOTE_ADDR of their choosing), and one from a named address is served."""
    port = free_port()
    env = {
        **os.environ, "LEADERBOARD_ENV_FILE": str(stack.directory / "leaderboard.env"), "API_LISTEN": f"127.0.0.1:{port}",
        "API_WORKERS": "2", "FCGI_WEB_SERVER_ADDRS": "127.0.0.2,127.0.0.3",
    }
    pool = subprocess.Popen([str(pathlib.Path(os.environ["BIN_DIR"]) / "leaderboard-api")], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        served = wait_until(lambda: KeptFastCGIConnection(("127.0.0.1", port), source="127.0.0.2"), timeout=30,
                            ignoring=(ConnectionRefusedError,), message="the pool never listened")
        assert served.get("/api/v1/games").startswith(b"Status: 200"), "a named address is served"
        assert served.get("/api/v1/games").startswith(b"Status: 200"), "and its connection kept"
        served.close()
        for source in ("127.0.0.1", "127.0.0.4"):
            refused = KeptFastCGIConnection(("127.0.0.1", port), source=source)
            answer = None
            try:
                answer = refused.get("/api/v1/games")
            except (AssertionError, ConnectionResetError, BrokenPipeError):
                pass  # closed unanswered ("the pool closed a connection it was asked to keep")
            finally:
                refused.close()
            assert answer is None, f"a connection from {source} was answered: {answer[:40]!r}"
    finally:
        pool.send_signal(signal.SIGTERM)
        _, errors = pool.communicate(timeout=30)
    assert pool.returncode == 0, errors


def test_a_second_pool_on_the_socket_a_running_one_serves_refuses_to_start(base_url: str, stack: Stack) -> None:
    """Started by hand on the stack's own socket, a pool must not unlink it (the running pool would then be unreachable,
    and stopping the new one would unlink the path again): it exits, saying so, and nginx still reaches the old one."""
    socket_path = stack.directory / "run" / "api.sock"
    env = {
        **os.environ, "LEADERBOARD_ENV_FILE": str(stack.directory / "leaderboard.env"), "API_LISTEN": f"unix:{socket_path}",
        "API_WORKERS": "2",
    }
    second = subprocess.run([str(pathlib.Path(os.environ["BIN_DIR"]) / "leaderboard-api")], env=env, capture_output=True,
                            text=True, timeout=60)
    assert second.returncode != 0
    assert "is served by another process already" in second.stderr + second.stdout
    assert socket_path.is_socket()
    assert requests.get(f"{base_url}/api/v1/health", timeout=10).status_code == 200


@pytest.mark.parametrize("listen", ["unix:/no/such/directory/api.sock", "192.0.2.1:9000"])
def test_a_pool_that_cannot_listen_where_api_listen_says_stops_with_one_line_naming_it(stack: Stack, listen: str) -> None:
    """A missing directory, or an address that is not this machine's, is a setting to correct: the pool stops with
    exit status 78 (EX_CONFIG, which the unit does not restart) and one line naming API_LISTEN, as for any bad
    setting (libfcgi's FCGX_OpenSocket used to call exit itself, with 1 or errno and its own words)."""
    env = {**os.environ, "LEADERBOARD_ENV_FILE": str(stack.directory / "leaderboard.env"), "API_LISTEN": listen, "API_WORKERS": "1"}
    refused = subprocess.run([str(pathlib.Path(os.environ["BIN_DIR"]) / "leaderboard-api")], env=env, capture_output=True,
                             text=True, timeout=60)
    assert refused.returncode == 78, refused.stderr
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("leaderboard-api: API_LISTEN: ") and listen in lines[0], refused.stderr


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_submissions_waiting_for_their_statement_hold_no_worker(base_url: str, stack: Stack, stack_env: dict[str, str]) -> None:
    """A submission waits for its batch's statement and index update, but not on a worker: a pool of one worker takes
    three submissions whose statement cannot run yet (their player's row is locked), then answers a read at once, and
    the three once the statement has run. (When a waiting submission held its worker, the read waited behind them.)"""
    player = new_players(base_url, 1, "Waiter")[0]
    port = free_port()
    env = {**os.environ, "LEADERBOARD_ENV_FILE": str(stack.directory / "leaderboard.env"), "API_LISTEN": f"127.0.0.1:{port}",
           "API_WORKERS": "1"}
    pool = subprocess.Popen([str(pathlib.Path(os.environ["BIN_DIR"]) / "leaderboard-api")], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    # The statement locks its players' rows (FOR KEY SHARE) first: a transaction holding this one's row holds the batch.
    holder = subprocess.Popen(
        ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", stack_env["PG_SERVER"], "-p", stack_env["PG_PORT"],
         "-U", stack_env["PG_USER"], "-d", stack_env["PG_DB"]],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PGPASSWORD": stack_env["PG_PW"]})
    connections: list[KeptFastCGIConnection] = []
    try:
        assert holder.stdin is not None and holder.stdout is not None
        holder.stdin.write(f"BEGIN;\nSELECT FROM users WHERE id = {int(player.id)} FOR UPDATE \\g /dev/null\n\\echo locked\n")
        holder.stdin.flush()
        assert holder.stdout.readline().strip() == "locked", holder.stderr.read() if holder.stderr else ""
        connections = [wait_until(lambda: KeptFastCGIConnection(("127.0.0.1", port)), timeout=30,
                                  ignoring=(ConnectionRefusedError,), message="the pool to listen") for _ in range(4)]
        for score, connection in enumerate(connections[:3], start=1):
            connection.post("/api/v1/scores", f'{{"game": "cod", "score": {score}}}'.encode(), f"Bearer {player.token}")
        wait_until(lambda: run_sql(stack_env, "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                              "AND query LIKE '%FOR KEY SHARE%'")[0][0] != "0",
                   timeout=30, message="the batch's statement to wait for the row")
        assert connections[3].get("/api/v1/games").startswith(b"Status: 200"), "the read was not answered"
        holder.stdin.write("ROLLBACK;\n")
        holder.stdin.flush()
        answers = [connection.answer() for connection in connections[:3]]
        assert all(answer.startswith(b"Status: 200") for answer in answers), answers
        stored = run_sql(stack_env, "SELECT score FROM scores WHERE user_id = :'id' ORDER BY score", id=str(player.id))
        assert stored == [["1"], ["2"], ["3"]]
    finally:
        for connection in connections:
            connection.close()
        holder.communicate(input="", timeout=30)
        pool.send_signal(signal.SIGTERM)
        _, errors = pool.communicate(timeout=30)
    assert pool.returncode == 0, errors


def test_a_pool_whose_every_worker_is_stuck_stops_pinging_the_systemd_watchdog(stack: Stack) -> None:
    """systemd restarts the api when its watchdog pings stop (WatchdogSec=). They stop once every worker has been on
    one request for the whole watchdog timeout (1 s here, the unit's 30 s): the pool answers nobody then. The pool's
    one worker is held by a request whose body stops half way (nginx sends whole bodies, so in production it would be
    a call that hangs); once that request ends, the pings come again."""
    port = free_port()
    with tempfile.TemporaryDirectory() as directory, socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notifications:
        notify_path = os.path.join(directory, "notify")
        notifications.bind(notify_path)

        def next_message(timeout: float) -> str | None:
            notifications.settimeout(timeout)
            try:
                return notifications.recv(4096).decode()
            except TimeoutError:
                return None

        def ping_within(timeout: float) -> bool:
            deadline = time.monotonic() + timeout
            while (left := deadline - time.monotonic()) > 0:
                if next_message(left) == "WATCHDOG=1":
                    return True
            return False

        env = {
            **os.environ, "LEADERBOARD_ENV_FILE": str(stack.directory / "leaderboard.env"), "API_LISTEN": f"127.0.0.1:{port}",
            "API_WORKERS": "1", "NOTIFY_SOCKET": notify_path, "WATCHDOG_USEC": "1000000",
        }
        env.pop("WATCHDOG_PID", None)
        pool = subprocess.Popen([str(pathlib.Path(os.environ["BIN_DIR"]) / "leaderboard-api")], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        held: KeptFastCGIConnection | None = None
        try:
            assert ping_within(30), "the pool never pinged the watchdog"
            held = wait_until(lambda: KeptFastCGIConnection(("127.0.0.1", port)), timeout=30,
                              ignoring=(ConnectionRefusedError,), message="the pool never listened")
            body = b'{"game": "cod", "score": 1}'
            held.begin("POST", "/api/v1/scores", content_length=len(body))
            held.socket.sendall(held.record(held.STDIN, body[:5]))
            # A healthy pool pings every 0.5 s; a silence of 3 s within 15 s means the pings stopped.
            deadline = time.monotonic() + 15
            while ping_within(3):
                assert time.monotonic() < deadline, "the pool kept pinging the watchdog with its only worker stuck"
            held.socket.sendall(held.record(held.STDIN, body[5:]) + held.record(held.STDIN, b""))
            assert held.answer().startswith(b"Status: 401"), "the held request is answered once its body ends"
            assert ping_within(5), "the pings did not come again once the worker was free"
        finally:
            if held:
                held.close()  # a stopping pool waits for the request in flight on it
            pool.send_signal(signal.SIGTERM)
            _, errors = pool.communicate(timeout=30)
        assert pool.returncode == 0, errors
