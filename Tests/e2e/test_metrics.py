"""/metrics of the api pool (through nginx, loopback only) and of the ws daemon, in Prometheus text."""

from __future__ import annotations

import requests
from prometheus_client.parser import text_string_to_metric_families

from conftest import Api, _SourceAddressAdapter


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = requests.get(url, timeout=5)
    assert response.status_code == 200, response.text[:200]
    assert response.headers["Content-Type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def api_metrics(base_url: str) -> list[str]:
    """Every api pool's /metrics behind this nginx: /metrics, and /metrics/2 on a two-node stack."""
    urls = [f"{base_url}/metrics"]
    second = f"{base_url}/metrics/2"
    if requests.get(second, timeout=5).status_code == 200:
        urls.append(second)
    return urls


def requests_counted(base_url: str, route: str, status: str) -> float:
    key = ("leaderboard_http_requests_total", (("method", "GET"), ("route", route), ("status", status)))
    return sum(scrape(url).get(key, 0) for url in api_metrics(base_url))


def test_the_api_counts_the_requests_just_made_by_route_and_status(api: Api, base_url: str) -> None:
    games_before = requests_counted(base_url, "/api/v1/games", "200")
    unknown_before = requests_counted(base_url, "unmatched", "404")
    for _ in range(7):
        assert api.get("/games").status_code == 200
    for _ in range(3):
        assert api.get("/no-such-route").status_code == 404
    assert requests_counted(base_url, "/api/v1/games", "200") - games_before == 7
    assert requests_counted(base_url, "unmatched", "404") - unknown_before == 3
    latency = scrape(api_metrics(base_url)[0])
    assert ("leaderboard_http_request_duration_seconds_count", (("route", "/api/v1/games"),)) in latency


def test_metrics_are_served_to_loopback_only(base_url: str) -> None:
    # nginx's allow/deny works on the client address: 127.0.0.1 is allowed, other loopback addresses are not.
    session = requests.Session()
    session.mount("http://", _SourceAddressAdapter("127.0.0.2"))
    assert session.get(f"{base_url}/metrics", timeout=5).status_code == 403


def test_the_ws_daemon_serves_its_metrics_on_its_port(stack_env: dict[str, str]) -> None:
    host_port = stack_env["WS_LISTEN"]
    samples = scrape(f"http://{host_port}/metrics")
    assert any(name.startswith("leaderboard_ws_connections") for name, _ in samples), sorted(samples)[:10]
