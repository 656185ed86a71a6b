"""/metrics of the api pool (through nginx, loopback only) and of the ws daemon, in Prometheus text."""

from __future__ import annotations

import requests
from prometheus_client.parser import text_string_to_metric_families

from conftest import Api, _SourceAddressAdapter, new_player


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


def summed(base_url: str, name: str, labels: tuple[tuple[str, str], ...] = ()) -> float:
    """A sample's value summed over every api pool."""
    return sum(scrape(url).get((name, labels), 0) for url in api_metrics(base_url))


def requests_counted(base_url: str, route: str, status: str) -> float:
    return summed(base_url, "leaderboard_http_requests_total", (("method", "GET"), ("route", route), ("status", status)))


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


def test_each_submission_batch_is_counted_with_its_size_and_the_time_of_each_stage(api: Api, base_url: str) -> None:
    # Other suites submit on this stack meanwhile: their batches can only add to the counts.
    stages = {stage: (("stage", stage),) for stage in ("store", "apply")}
    batches_before = summed(base_url, "leaderboard_submission_batch_size_count")
    sizes_before = summed(base_url, "leaderboard_submission_batch_size_sum")
    stages_before = {stage: summed(base_url, "leaderboard_submission_batch_seconds_count", labels) for stage, labels in stages.items()}
    player = new_player(api, "Batched Player")
    for score in (10, 20, 30):
        submitted = api.post("/scores", json={"game": "cod", "score": score}, headers=player.auth)
        assert submitted.status_code == 200, submitted.text
    assert summed(base_url, "leaderboard_submission_batch_size_count") - batches_before >= 1
    assert summed(base_url, "leaderboard_submission_batch_size_sum") - sizes_before >= 3
    for stage, labels in stages.items():
        assert summed(base_url, "leaderboard_submission_batch_seconds_count", labels) - stages_before[stage] >= 1, stage
    # The size's buckets go up to the largest batch a process makes (SharedRoundTrip.maximumBatch).
    sizes = scrape(api_metrics(base_url)[0])
    assert ("leaderboard_submission_batch_size_bucket", (("le", "64.0"),)) in sizes, sorted(k for k in sizes if "batch" in k[0])


def test_metrics_are_served_to_loopback_only(base_url: str) -> None:
    # nginx's allow/deny works on the client address: 127.0.0.1 is allowed, other loopback addresses are not.
    session = requests.Session()
    session.mount("http://", _SourceAddressAdapter("127.0.0.2"))
    assert session.get(f"{base_url}/metrics", timeout=5).status_code == 403


def test_the_ws_daemon_serves_its_metrics_on_its_port(stack_env: dict[str, str]) -> None:
    host_port = stack_env["WS_LISTEN"]
    samples = scrape(f"http://{host_port}/metrics")
    assert any(name.startswith("leaderboard_ws_connections") for name, _ in samples), sorted(samples)[:10]
