"""The api's FastCGI pool behind nginx, which keeps its connections to it (fastcgi_keep_conn, upstream keepalive):
nginx reuses them, far more of them than the pool has workers never stall it, and a pool that stops under load
fails no submission."""

from __future__ import annotations

import os
import re
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import requests

from conftest import Api, LogWatch, Stack, answered_by_the_api, leaderboardctl, new_players, wait_until
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


def test_four_times_more_kept_connections_than_workers_do_not_stall_the_pool(base_url: str, stack_env: dict[str, str]) -> None:
    workers = int(stack_env["API_WORKERS"])
    clients = 4 * workers
    requests_each = 40
    most_open = 0.0
    loading = threading.Event()
    loading.set()

    def watch_connections() -> None:
        nonlocal most_open
        while loading.is_set():
            most_open = max(most_open, *(scrape(url).get(OPEN, 0) for url in api_metrics(base_url)))

    def client(_: int) -> list[tuple[int, float]]:
        session = requests.Session()
        outcomes = []
        for _ in range(requests_each):
            started = time.monotonic()
            response = session.get(f"{base_url}/api/v1/games", timeout=30)
            outcomes.append((response.status_code, time.monotonic() - started))
        session.close()
        return outcomes

    watcher = threading.Thread(target=watch_connections, daemon=True)
    watcher.start()
    try:
        with ThreadPoolExecutor(max_workers=clients) as pool:
            outcomes = [outcome for share in pool.map(client, range(clients)) for outcome in share]
    finally:
        loading.clear()
        watcher.join(timeout=10)

    statuses = [status for status, _ in outcomes]
    assert statuses == [200] * len(outcomes), f"not every request was answered 200: {sorted(set(statuses))}"
    latencies = sorted(seconds for _, seconds in outcomes)
    p99 = latencies[int(len(latencies) * 0.99)]
    # Kept connections tied to threads stall for seconds here (PITFALLS.md: p99 1.4 s at 4x, or nothing at all).
    assert p99 < 1.0, f"p99 {p99 * 1000:.0f} ms with {clients} clients on {workers} workers per pool"
    assert most_open > workers, f"a pool held at most {most_open:.0f} connections with {workers} workers: nothing was tested"


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
