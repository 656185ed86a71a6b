"""The errors nginx answers itself under /api/v1/: in the API's JSON envelope, not as HTML pages."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from conftest import Api, EnvelopeAudit, Stack, answered_by_the_api, unique_email

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


def test_a_burst_over_the_auth_rate_is_a_json_429_with_retry_after(base_url: str) -> None:
    # nginx allows AUTH_RATE (200r/s on the test stack) plus a burst of 20 per
    # client address on /api/v1/auth/. Sixteen clients at full speed from one
    # address go over that within a few hundred requests; stop at the first 429.
    burst = Api(base_url)
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
