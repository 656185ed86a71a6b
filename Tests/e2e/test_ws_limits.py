"""Limits on WebSocket clients (issue 18): open sockets per address and in all (nginx), per account
(leaderboard-ws), clients that read nothing, messages over the rate, and cookies from other sites' pages.

Each waits for what it expects with a bound, never a sleep. The caps are those of nginx/dev.conf.template
and the daemon's defaults (README, "Connection capacity").
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import os
import socket
import struct
import threading
import time

import pytest
from websockets.exceptions import ConnectionClosed

from conftest import (
    Api,
    LogWatch,
    Sockets,
    Stack,
    close_code,
    new_player,
    new_players,
    random_loopback_address,
    receive_json,
    receive_until,
    wait_until,
)
from test_nginx import refusals_counted
from test_websocket import POLICY_VIOLATION, score_above_top, submit, tops

WS_PER_ADDRESS, WS_TOTAL = 100, 1000  # limit_conn in nginx/dev.conf.template
WELCOME = b"Welcome to your websocket server"


def nginx_address(base_url: str) -> tuple[str, int]:
    host, port = base_url[len("http://") :].rsplit(":", 1)
    return host, int(port)


class Upgrade:
    """A WebSocket handshake on /ws/v1/ through nginx from a given source address, on a plain socket."""

    def __init__(self, base_url: str, source: str) -> None:
        self.socket = socket.create_connection(nginx_address(base_url), timeout=10, source_address=(source, 0))
        key = base64.b64encode(os.urandom(16)).decode()
        self.socket.sendall(
            (
                "GET /ws/v1/ HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        self.received = b""
        while b"\r\n\r\n" not in self.received:
            chunk = self.socket.recv(4096)
            assert chunk, f"closed during the handshake: {self.received!r}"
            self.received += chunk
        head, _, self.rest = self.received.partition(b"\r\n\r\n")
        self.head = head.decode("latin-1")
        self.status = int(self.head.split(" ", 2)[1])

    def read_until(self, wanted: bytes, timeout: float = 5) -> bytes:
        """What came after the head, read until it holds `wanted`."""
        deadline = time.monotonic() + timeout
        while wanted not in self.rest:
            assert time.monotonic() < deadline, f"no {wanted!r} within {timeout} s: {self.rest!r:.300}"
            chunk = self.socket.recv(4096)
            assert chunk, f"closed before {wanted!r}: {self.rest!r:.300}"
            self.rest += chunk
        return self.rest


def test_websockets_are_capped_per_address_and_in_all_and_rest_keeps_answering(base_url: str, stack: Stack) -> None:
    held: list[Upgrade] = []
    error_log = LogWatch(stack.log_path("nginx-error"))
    counted_before = refusals_counted(base_url, "limit_conn")

    def open_from(address: str, count: int) -> list[Upgrade]:
        attempts = [Upgrade(base_url, address) for _ in range(count)]
        held.extend(attempts)
        return attempts

    def rest_answers(address: str) -> bool:
        client = Api(base_url, address)
        try:
            return client.get("/games").status_code == 200
        finally:
            client.session.close()

    try:
        address = random_loopback_address()
        attempts = open_from(address, WS_PER_ADDRESS + 10)
        assert [attempt.status for attempt in attempts] == [101] * WS_PER_ADDRESS + [429] * 10
        refused = attempts[-1]
        assert "retry-after: 10" in refused.head.lower(), refused.head
        body = json.loads(refused.read_until(b"}"))
        assert body == {"success": False, "statusCode": 429, "message": "too many open WebSockets, retry later", "data": None}
        assert rest_answers(address) and rest_answers(random_loopback_address()), "REST answers while the sockets are held"
        another = open_from(random_loopback_address(), 1)[0]
        assert another.status == 101 and WELCOME in another.read_until(WELCOME), "another address still connects"

        # Up to the total: every address within its own cap, until nginx has WS_TOTAL open (other tests'
        # sockets still closing count too, so the refusals may start a little early).
        crowd = [open_from(random_loopback_address(), WS_PER_ADDRESS) for _ in range(WS_TOTAL // WS_PER_ADDRESS)]
        crowd_statuses = [attempt.status for attempts in crowd for attempt in attempts]
        open_sockets = sum(attempt.status == 101 for attempt in held)
        assert WS_TOTAL - 20 <= open_sockets <= WS_TOTAL, f"{open_sockets} open"
        assert set(crowd_statuses) == {101, 429} and crowd_statuses[-1] == 429
        assert open_from(random_loopback_address(), 1)[0].status == 429, "a new address is refused at the total"
        assert rest_answers(random_loopback_address()), "REST answers with every WebSocket nginx allows open"
        # Each refusal is counted in the api's metrics (a datagram from nginx), not logged line by line.
        refused = sum(attempt.status == 429 for attempt in held)
        wait_until(
            lambda: refusals_counted(base_url, "limit_conn") - counted_before >= refused, timeout=10, message=f"{refused} refusals counted"
        )
        assert refusals_counted(base_url, "limit_conn") - counted_before == refused
        assert "limiting connections" not in error_log.new_text()
    finally:
        for attempt in held:
            attempt.socket.close()


def test_an_account_holds_at_most_its_cap_of_sockets_on_a_daemon_and_one_more_is_closed_with_1008(
    api: Api, sockets: Sockets, stack: Stack, stack_env: dict[str, str]
) -> None:
    cap = int(stack_env.get("WS_MAX_SOCKETS_PER_ACCOUNT", "20"))
    player = new_player(api)
    # Straight to one daemon: the cap is each daemon's, and nginx spreads sockets over both nodes.
    address = stack.ws_address("ws")
    opened = [sockets.open("/ws/v1/my-score", player.token, address=address) for _ in range(cap)]
    for socket_ in opened:
        assert receive_json(socket_) == {"result": None}

    one_more = sockets.open("/ws/v1/my-score", player.token, address=address)
    with pytest.raises(ConnectionClosed) as closed:
        one_more.recv(timeout=5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == POLICY_VIOLATION
    assert f"too many sockets for this account; at most {cap}" == closed.value.rcvd.reason
    other = sockets.open("/ws/v1/my-score", new_player(api).token, address=address)
    assert receive_json(other) == {"result": None}, "another account is not held up"

    opened[0].close()

    def admitted() -> bool:
        socket_ = sockets.open("/ws/v1/my-score", player.token, address=address)
        try:
            return receive_json(socket_) == {"result": None}
        except ConnectionClosed:
            return False

    wait_until(admitted, timeout=10, message="a socket admitted once one of the account's closed")


class RawClient:
    """A WebSocket client on a plain socket with a small receive buffer, which can stop reading."""

    GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

    def __init__(self, address: tuple[str, int], path: str, token: str) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: a small window
        self.socket.settimeout(10)
        self.socket.connect(address)
        key = base64.b64encode(os.urandom(16)).decode()
        self.socket.sendall(
            (
                f"GET {path} HTTP/1.1\r\nHost: {address[0]}:{address[1]}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                f"Authorization: Bearer {token}\r\n\r\n"
            ).encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.socket.recv(1)  # byte by byte: nothing after the head is read
            assert chunk, f"closed during the handshake: {head!r}"
            head += chunk
        assert head.startswith(b"HTTP/1.1 101"), head
        accept = base64.b64encode(hashlib.sha1((key + self.GUID).encode()).digest()).decode()
        assert f"sec-websocket-accept: {accept}".lower() in head.decode().lower(), head

    @property
    def port(self) -> int:
        return self.socket.getsockname()[1]

    def send_text(self, text: str) -> None:
        payload = text.encode()
        assert len(payload) < 126
        mask = os.urandom(4)
        masked = bytes(byte ^ mask[index % 4] for index, byte in enumerate(payload))
        self.socket.sendall(struct.pack("!BB", 0x81, 0x80 | len(payload)) + mask + masked)

    def drain(self, timeout: float) -> int:
        """Reads everything until the server's end of the stream; the number of bytes read."""
        total = 0
        deadline = time.monotonic() + timeout
        while True:
            assert time.monotonic() < deadline, f"no end of stream after {total} bytes in {timeout} s"
            try:
                chunk = self.socket.recv(1 << 16)
            except TimeoutError:
                continue
            except ConnectionResetError:
                return total
            if not chunk:
                return total
            total += len(chunk)

    def close(self) -> None:
        self.socket.close()


TCP_STATES = {1: "ESTABLISHED", 4: "FIN_WAIT1", 5: "FIN_WAIT2", 6: "TIME_WAIT", 7: "CLOSE", 8: "CLOSE_WAIT", 11: "CLOSING"}


def tcp_state(local_port: int, remote_port: int) -> str | None:
    """The state of the loopback TCP socket local_port -> remote_port, as the kernel lists it; None if gone.

    The server's side of a connection to a client that reads nothing shows whether the server
    closed it: its FIN waits behind the data the client has not read, so the client cannot tell yet.
    """
    wanted = (f"0100007F:{local_port:04X}", f"0100007F:{remote_port:04X}")
    with open("/proc/net/tcp") as table:
        for line in table.readlines()[1:]:
            fields = line.split()
            if (fields[1], fields[2]) == wanted:
                return TCP_STATES.get(int(fields[3], 16), fields[3])
    return None



@pytest.mark.parametrize("route", ["leaderboard-ws", "nginx"])
def test_a_client_that_never_reads_is_dropped_holding_little_and_never_holds_up_a_reader_of_its_board(
    base_url: str, api: Api, sockets: Sockets, stack: Stack, route: str
) -> None:
    """A client watches a 100-row page and reads nothing while scores keep changing the page, straight
    to one daemon (its decision alone) or through nginx; another client watches the page through nginx.

    What the server held for it (its socket buffers, nginx's, the pushes queued) is what the client
    finally reads: bounded, where Linux alone grows a socket's buffer to 4 MB (3.8 MB held per client
    straight to the daemon, 7.7 MB through nginx, before the bounds).
    """
    # Boards that the tests before these leave far below the maximum score (test_scores and test_browser put
    # others near it; test_hostile, which runs last, fnite and rl).
    game = {"leaderboard-ws": "mcft", "nginx": "apxleg"}[route]
    # Long names make each page about 20 kB, so the socket's buffers fill after a few seconds of pushes.
    crowd = new_players(base_url, 100, "Never Reads " + "y" * 88)
    base = score_above_top(api, crowd[0], game, room=1_000_000)
    for index, player in enumerate(crowd):
        submit(api, player, game, base + index)
    address = stack.ws_address("ws") if route == "leaderboard-ws" else nginx_address(base_url)
    slow = RawClient(address, "/ws/v1/scores", crowd[0].token)
    view = json.dumps({"game": game, "start": 0, "end": 99})
    slow.send_text(view)
    reader = sockets.open("/ws/v1/scores", crowd[1].token)
    reader.send(view)
    assert len(receive_json(reader)["result"]) == 100

    # Every submission improves a best on the page, so every pass of the hub has a new page to push.
    stop = threading.Event()
    scores = itertools.count(base + 1_000)
    submitted: set[int] = set()
    failures: list[str] = []

    def flood(client: Api) -> None:
        for index in itertools.count():
            if stop.is_set():
                return
            score = next(scores)
            response = client.post("/scores", json={"game": game, "score": score}, headers=crowd[index % 100].auth)
            if response.status_code != 200:
                failures.append(f"{response.status_code} {response.text[:200]}")
                return
            submitted.add(score)

    clients = [Api(base_url) for _ in range(4)]
    threads = [threading.Thread(target=flood, args=(client,), daemon=True) for client in clients]
    for thread in threads:
        thread.start()
    fresh_pages = 0
    try:
        deadline = time.monotonic() + 30
        while tcp_state(address[1], slow.port) == "ESTABLISHED":
            assert time.monotonic() < deadline, f"the client that reads nothing is still connected to {route} after 30 s"
            assert not failures, failures[:3]
            # The reader keeps getting fresh pages all along (how soon after each submission is make bench's
            # figure, "fan-out: submission -> receipt", not this test's).
            page = receive_json(reader, timeout=3)
            if page["result"][0]["score"] in submitted:
                fresh_pages += 1
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=15)
        for client in clients:
            client.session.close()
    assert not failures, failures[:3]
    assert fresh_pages >= 10, f"the reader saw only {fresh_pages} fresh pages while the other client read nothing"

    # What the client that reads nothing finally reads ends with the end of the stream: the server closed it.
    held = slow.drain(timeout=10)
    slow.close()
    assert 0 < held <= 2 << 20, f"{held} bytes were held for a client that reads nothing"
    # And the reader is still served promptly.
    marker = next(scores) + 1
    submit(api, crowd[2], game, marker)
    receive_until(reader, tops(crowd[2], marker), timeout=5)


def test_every_message_over_the_rate_is_answered_with_when_to_retry_and_the_socket_stays_open(sockets: Sockets) -> None:
    echo = sockets.open("/ws/v1/")
    assert echo.recv(timeout=5) == WELCOME.decode()
    # 60 at once: more than the burst of WS_MESSAGES_PER_SECOND (20) allows, far less than a flood's 5 s worth.
    for index in range(60):
        echo.send(f"message {index}")
    refusals = []
    for index in range(60):
        answer = echo.recv(timeout=5)
        if answer != f"message {index}":
            refusal = json.loads(answer)
            assert set(refusal) == {"error", "retryAfter"} and "too many messages" in refusal["error"], refusal
            assert isinstance(refusal["retryAfter"], int) and refusal["retryAfter"] >= 1, refusal
            refusals.append(refusal)
    assert refusals, "60 messages at once are over the limit"

    def echoed_again() -> bool:
        echo.send("again")
        return echo.recv(timeout=5) == "again"

    # A client that waits as it is told is served again (each try here is answered too).
    wait_until(echoed_again, timeout=10, interval=max(refusal["retryAfter"] for refusal in refusals))


def test_a_cookie_upgrade_from_another_sites_page_is_anonymous_while_the_sites_pages_and_bearer_tokens_are_admitted(
    api: Api, sockets: Sockets, base_url: str
) -> None:
    player = new_player(api)
    foreign = "https://evil.example"
    # The cookie counts as no token: a socket that needs an account is closed as without one.
    hijacked = sockets.open("/ws/v1/my-score", player.token, cookie=True, origin=foreign)
    assert close_code(hijacked, timeout=5) == POLICY_VIOLATION
    for admitted in (
        sockets.open("/ws/v1/my-score", player.token, cookie=True, origin=base_url),
        sockets.open("/ws/v1/my-score", player.token, cookie=True),
        sockets.open("/ws/v1/my-score", player.token, origin=foreign),
    ):
        assert receive_json(admitted) == {"result": None}
