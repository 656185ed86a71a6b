"""The errors nginx answers itself: in the API's JSON envelope, not as HTML pages."""

from __future__ import annotations

import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from conftest import Api, EnvelopeAudit, LogWatch, Stack, answered_by_the_api, unique_email, wait_until
from test_metrics import scrape

pytestmark = pytest.mark.usefixtures("envelope_audit")

# client_max_body_size in nginx/dev.conf.template; the api's own limit is far below it.
NGINX_BODY_LIMIT = 1024 * 1024

TOO_LARGE = {"success": False, "statusCode": 413, "message": "request body is too large", "data": None}
RATE_LIMITED = {"success": False, "statusCode": 429, "message": "too many requests, retry later", "data": None}
UNAVAILABLE = {"success": False, "statusCode": 503, "message": "the API is unavailable, retry later", "data": None}


@pytest.mark.parametrize("path", ["/auth/signup", "/games"])
def test_a_body_over_nginxs_limit_is_a_json_413(api: Api, path: str) -> None:
    body = b'{"padding": "' + b"x" * NGINX_BODY_LIMIT + b'"}'

    response = api.post(path, data=body, headers={"Content-Type": "application/json"})

    assert response.status_code == 413
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json() == TOO_LARGE


def test_a_chunked_body_over_nginxs_limit_is_a_json_413(api: Api) -> None:
    chunks = (b"x" * 65536 for _ in range(NGINX_BODY_LIMIT // 65536 + 1))  # no Content-Length: nginx counts as it reads

    response = api.post("/auth/signup", data=chunks, headers={"Content-Type": "application/json"})

    assert response.status_code == 413
    assert response.json() == TOO_LARGE


def refusals_counted(base_url: str, limit: str = "limit_req") -> float:
    """nginx's refusals by `limit` as node 1's api counts them (nginx sends them to it, not to its logs)."""
    key = ("leaderboard_nginx_refused_total", (("limit", limit),))
    return scrape(f"{base_url}/metrics").get(key, 0)


def test_a_burst_over_the_auth_rate_is_a_json_429_with_retry_after(base_url: str) -> None:
    # nginx allows AUTH_RATE (200r/s on the test stack) plus a burst of 20 per
    # client address on /api/v1/auth/. Sixteen clients at full speed from one
    # address go over that within a few hundred requests; stop at the first 429.
    burst = Api(base_url)
    counted_before = refusals_counted(base_url)
    limited: list[requests.Response] = []
    others: list[int] = []
    lock = threading.Lock()
    deadline = time.monotonic() + 20

    def client() -> None:
        session = burst.new_session()
        for _ in range(200):
            if limited or time.monotonic() > deadline:
                return
            response = burst.get("/auth/me", session=session)
            with lock:
                if response.status_code == 429:
                    limited.append(response)
                else:
                    others.append(response.status_code)

    with ThreadPoolExecutor(max_workers=16) as pool:
        for future in [pool.submit(client) for _ in range(16)]:
            future.result()

    assert limited, f"no 429 in {len(others)} requests"
    response = limited[0]
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.headers["Retry-After"] == "1"
    assert response.json() == RATE_LIMITED
    # Until it was limited, every request reached the api (401: no token).
    assert set(others) == {401}
    # The limit is per address and only on /api/v1/auth/.
    assert burst.get("/games").status_code == 200
    assert Api(base_url).get("/auth/me").status_code == 401
    # Every refusal reaches the api's counter (so none is left in flight for the next test's count).
    wait_until(
        lambda: refusals_counted(base_url) - counted_before >= len(limited), timeout=10, message=f"{len(limited)} refusals counted"
    )
    assert refusals_counted(base_url) - counted_before == len(limited)


def test_a_flood_over_the_auth_rate_is_counted_in_metrics_not_logged(base_url: str, stack: Stack) -> None:
    error_log = LogWatch(stack.log_path("nginx-error"))
    access_log = LogWatch(stack.log_path("nginx-access"))
    counted_before = refusals_counted(base_url)
    flood = Api(base_url)
    statuses: list[int] = []
    lock = threading.Lock()

    def client() -> None:
        session = flood.new_session()
        for _ in range(150):
            status = flood.get("/auth/me", session=session).status_code
            with lock:
                statuses.append(status)

    with ThreadPoolExecutor(max_workers=16) as pool:
        for future in [pool.submit(client) for _ in range(16)]:
            future.result()

    refused = statuses.count(429)
    assert refused >= 100, f"only {refused} of {len(statuses)} requests were over AUTH_RATE"
    assert set(statuses) == {401, 429}
    # Each refusal is a datagram the api counts as it comes: wait for the last ones.
    wait_until(lambda: refusals_counted(base_url) - counted_before >= refused, timeout=10, message=f"{refused} refusals counted")
    assert refusals_counted(base_url) - counted_before == refused
    # Not a line per refusal: nothing in the error log, and about one in 256 in the access log.
    assert "limiting requests" not in error_log.new_text()
    assert len(error_log.new_text()) < 1000, error_log.new_text()[:1000]
    logged_refusals = [line for line in access_log.new_text().splitlines() if f'"GET /api/v1/auth/me HTTP/1.1" 429 ' in line]
    assert len(logged_refusals) <= refused // 32


def test_without_the_api_nginx_answers_a_json_503_with_retry_after(
    api: Api, stack: Stack, envelope_audit: EnvelopeAudit
) -> None:
    envelope_audit.allow(503)

    # Every api pool: with two nodes nginx would pass to the other one (test_websocket checks that).
    with stack.stopped(*stack.api_services):
        responses = [
            api.get("/health"),
            api.post("/auth/login", json={"email": unique_email(), "password": "whatever it is"}),
            api.get("/games"),
        ]

    for response in responses:
        assert response.status_code == 503
        assert response.headers["Content-Type"].startswith("application/json")
        assert response.json() == UNAVAILABLE
        assert response.headers["Retry-After"] == "1"
        assert not answered_by_the_api(response)
    back = api.get("/health")
    assert back.status_code == 200
    assert answered_by_the_api(back)


# What nginx refuses before it chooses a location: with no URI to go by, its answer is the envelope too.
REFUSED_PATHS = [
    ("/leaderboards/cod%00", 400, "malformed request"),
    ("/..%2F..%2F..%2F..%2Fetc/passwd", 400, "malformed request"),
    ("/games?padding=" + "x" * 9000, 414, "request URI is too long"),  # over large_client_header_buffers (8k)
]


@pytest.mark.parametrize(("path", "status", "message"), REFUSED_PATHS, ids=["encoded NUL", "above the root", "URI too long"])
def test_a_path_nginx_refuses_is_answered_in_the_envelope(api: Api, path: str, status: int, message: str) -> None:
    response = api.get(path)

    assert response.status_code == status
    assert response.json() == {"success": False, "statusCode": status, "message": message, "data": None}
    assert response.headers.get("X-Request-ID")


def test_headers_over_nginxs_buffers_are_a_json_400(api: Api) -> None:
    response = api.get("/games", headers={"X-Padding": "x" * 9000})

    assert response.status_code == 400
    assert response.json() == {"success": False, "statusCode": 400, "message": "request headers are too large", "data": None}


def test_trace_is_a_json_405(api: Api) -> None:
    response = api.request("TRACE", "/games")

    assert response.status_code == 405
    assert response.json() == {"success": False, "statusCode": 405, "message": "method not allowed", "data": None}


def raw_exchange(base_url: str, request: bytes) -> tuple[str, bytes]:
    """Sends bytes no HTTP library would write; returns the status line and the body nginx answered."""
    host, port = base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(request)
        answer = b""
        while chunk := connection.recv(65536):  # nginx closes after an error answer
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return head.split(b"\r\n")[0].decode(), body


@pytest.mark.parametrize(
    ("request_bytes", "status", "message"),
    [
        (b"GARBAGE\r\n\r\n", 400, "malformed request"),
        (b"GET /api/v1/games HTTP/1.1\r\n\r\n", 400, "malformed request"),  # HTTP/1.1 without Host
        (b"GET /api/v1/games HTTP/3.0\r\nHost: localhost\r\n\r\n", 505, "HTTP version not supported"),
        # nginx reads the body for the api and finds a chunk size that is not hex.
        (
            b"POST /api/v1/scores HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
            400,
            "malformed request",
        ),
        (
            b"POST /api/v1/scores HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: gzip\r\n\r\n",
            501,
            "Transfer-Encoding not implemented",
        ),
    ],
    ids=["no request line", "no Host", "HTTP/3.0 over TCP", "malformed chunked body", "unknown Transfer-Encoding"],
)
def test_a_malformed_request_is_answered_in_the_envelope(base_url: str, request_bytes: bytes, status: int, message: str) -> None:
    status_line, body = raw_exchange(base_url, request_bytes)

    assert status_line.startswith(f"HTTP/1.1 {status} ")
    assert json.loads(body) == {"success": False, "statusCode": status, "message": message, "data": None}
