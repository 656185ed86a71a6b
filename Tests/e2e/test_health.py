"""GET /api/v1/health through nginx, store outages, and a graceful restart of the api."""

from __future__ import annotations

import os
import re
import signal
import threading
import time

import pytest
import requests

from conftest import LogWatch, Stack, answered_by_the_api, wait_until

HEALTHY = {"success": True, "statusCode": 200, "message": "done", "data": {"postgres": "ok", "redis": "ok"}}


def get_health(base_url: str) -> requests.Response:
    return requests.get(f"{base_url}/api/v1/health", timeout=5)


def is_healthy(base_url: str) -> bool:
    return get_health(base_url).status_code == 200


def test_health_reports_both_stores_ok(base_url: str) -> None:
    response = get_health(base_url)

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json() == HEALTHY


def test_an_unknown_route_gets_a_json_404(base_url: str) -> None:
    response = requests.get(f"{base_url}/api/v1/nope", timeout=5)

    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["success"] is False
    assert body["statusCode"] == 404
    assert body["data"] is None
    assert isinstance(body["message"], str) and body["message"]


@pytest.mark.parametrize("store", ["redis", "postgres"])
def test_health_reports_a_store_that_is_down_and_recovers_without_an_api_restart(
    base_url: str, stack: Stack, store: str
) -> None:
    other = "postgres" if store == "redis" else "redis"
    api_pid = stack.pid("api")
    assert api_pid is not None

    with stack.stopped(store):
        # stop-service returns once the server is gone, so the very first
        # answer must already say so (the 5 s request timeout is the bound).
        response = get_health(base_url)
        assert response.status_code == 503
        assert answered_by_the_api(response), "nginx, not the api, answered"
        body = response.json()
        assert body["success"] is False
        assert body["statusCode"] == 503
        assert body["data"][store] == "down"
        assert body["data"][other] == "ok"

    wait_until(lambda: is_healthy(base_url), timeout=30, message=f"health 200 after {store} came back")
    assert get_health(base_url).json() == HEALTHY
    assert stack.pid("api") == api_pid, "the api process was restarted instead of reconnecting"


# nginx error-log lines that mean the api dropped a request it had accepted.
CUT_REQUEST = re.compile(r"prematurely closed|reset by peer|Broken pipe|upstream timed out|recv\(\) failed")


def test_sigterm_lets_the_api_finish_its_requests_and_exit_cleanly(base_url: str, stack: Stack) -> None:
    old_pid = stack.pid("api")
    assert old_pid is not None
    api_log = LogWatch(stack.log_path("api"))
    nginx_log = LogWatch(stack.log_path("nginx-error"))

    outcomes: list[str] = []  # "ok", "unavailable" (nginx's own 503), or what went wrong
    lock = threading.Lock()
    done = threading.Event()

    def record(outcome: str) -> None:
        with lock:
            outcomes.append(outcome)

    def count(outcome: str) -> int:
        with lock:
            return outcomes.count(outcome)

    def client() -> None:
        session = requests.Session()
        while not done.is_set():
            try:
                response = session.get(f"{base_url}/api/v1/health", timeout=10)
                if response.status_code == 200 and response.json() == HEALTHY:
                    record("ok")
                elif response.status_code == 503 and not answered_by_the_api(response):
                    # nginx found no api to talk to (the error log says why) and
                    # answered so itself; a 503 from the api would be a problem.
                    record("unavailable")
                    time.sleep(0.01)
                else:
                    record(f"HTTP {response.status_code}: {response.text[:200]!r}")
            except (requests.RequestException, ValueError) as error:
                record(f"{type(error).__name__}: {error}")

    clients = [threading.Thread(target=client, daemon=True) for _ in range(16)]
    for thread in clients:
        thread.start()
    try:
        wait_until(lambda: count("ok") >= 100, timeout=30, message="100 answers under load")
        os.kill(old_pid, signal.SIGTERM)

        exit_line = re.compile(rf"supervisor: leaderboard-api exited with status (\d+) \(pid {old_pid}\)")
        match = wait_until(lambda: exit_line.search(api_log.new_text()), timeout=30, message="the api to exit")
        assert match.group(1) == "0", f"leaderboard-api exited with status {match.group(1)} on SIGTERM"

        def restarted() -> bool:
            pid = stack.pid("api")
            return pid is not None and pid != old_pid and is_healthy(base_url)

        wait_until(restarted, timeout=30, message="the supervisor to restart the api")
        served_before = count("ok")
        wait_until(lambda: count("ok") >= served_before + 100, timeout=30, message="100 answers after the restart")
    finally:
        done.set()
        for thread in clients:
            thread.join(timeout=15)

    problems = [outcome for outcome in outcomes if outcome not in ("ok", "unavailable")]
    assert problems == [], f"{len(problems)} of {len(outcomes)} requests went wrong, e.g. {problems[:5]}"
    cut = [line for line in nginx_log.new_text().splitlines() if CUT_REQUEST.search(line)]
    assert cut == [], f"the api dropped {len(cut)} accepted requests, e.g. {cut[:3]}"


@pytest.mark.parametrize("store", ["redis", "postgres"])
def test_after_a_store_restarts_no_request_fails_on_an_old_connection(base_url: str, stack: Stack, store: str) -> None:
    # Every api worker holds a connection from before the restart; each must notice it is stale.
    for _ in range(20):
        assert is_healthy(base_url)
    stack.stop_service(store)
    stack.start_service(store)
    wait_until(lambda: is_healthy(base_url), timeout=30, message=f"health 200 after {store} restarted")
    statuses = [get_health(base_url).status_code for _ in range(40)]
    assert statuses == [200] * 40, f"requests after the restart: {statuses}"
