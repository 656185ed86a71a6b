"""The Grafana dashboard and the Prometheus alerts under deploy/ ask for metrics the stack really exports
(issue 24).

A query over a metric nobody exports draws an empty panel and an alert that can never fire, and no one
notices until the outage. So each query of deploy/grafana/*.json and each rule of deploy/prometheus/
alerts.yml must be PromQL that promtool parses, and every metric it names, with every label value it
matches exactly, must be in the /metrics of the api pools or the ws daemons, once the stack has done
what the panels show (submissions, a refusal, a WebSocket push).
"""

from __future__ import annotations

import json
import pathlib
import random
import re
import subprocess
from typing import Any

import requests
import yaml
from prometheus_client.parser import text_string_to_metric_families

from conftest import REPO, Api, Sockets, Stack, new_player, receive_until, wait_until

DASHBOARDS = sorted((REPO / "deploy" / "grafana").glob("*.json"))
ALERTS = REPO / "deploy" / "prometheus" / "alerts.yml"
METRIC = re.compile(r"\b(leaderboard_[a-z0-9_]+)")
# name{label="value", ...}: the selectors whose exact matchers must name an exported series.
SELECTOR = re.compile(r"\b(leaderboard_[a-z0-9_]+)\{([^}]*)\}")
EXACT_MATCHER = re.compile(r'(\w+)\s*=\s*"([^"]*)"')

Sample = tuple[str, dict[str, str], float]


def panel_queries(panels: list[dict[str, Any]]) -> list[str]:
    """Every target expression of the panels, those inside rows included."""
    queries = []
    for panel in panels:
        queries += [target["expr"] for target in panel.get("targets", [])]
        queries += panel_queries(panel.get("panels", []))
    return queries


def dashboard_queries() -> dict[str, str]:
    """Each query of each dashboard, keyed by where it is (for the failure message)."""
    assert DASHBOARDS, "no dashboard in deploy/grafana"
    queries = {}
    for path in DASHBOARDS:
        for index, query in enumerate(panel_queries(json.loads(path.read_text())["panels"])):
            queries[f"{path.name} query {index + 1}"] = query
    return queries


def alert_queries() -> dict[str, str]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return {f"alert {rule['alert']}": rule["expr"] for group in groups for rule in group["rules"]}


def scrape(url: str) -> list[Sample]:
    response = requests.get(url, timeout=5)
    assert response.status_code == 200, f"{url}: {response.status_code}"
    return [(sample.name, sample.labels, sample.value) for family in text_string_to_metric_families(response.text) for sample in family.samples]


def api_metrics_urls(base_url: str, stack: Stack) -> list[str]:
    """Every api pool's /metrics through nginx: /metrics, and /metrics/2 on a two-node stack."""
    return [f"{base_url}/metrics"] + ([f"{base_url}/metrics/2"] if "api2" in stack.api_services else [])


def exported(base_url: str, stack: Stack) -> list[Sample]:
    """The samples of every api pool (through nginx) and every ws daemon (on its own port)."""
    urls = api_metrics_urls(base_url, stack)
    urls += [f"http://{host}:{port}/metrics" for host, port in map(stack.ws_address, stack.ws_services)]
    return [sample for url in urls for sample in scrape(url)]


def missing_from(queries: dict[str, str], samples: list[Sample]) -> list[str]:
    """What the queries ask for that no sample has: a metric name, or a selector's exact label values."""
    names = {name for name, _, _ in samples}
    missing = []
    for where, query in queries.items():
        missing += [f"{where}: {name}" for name in METRIC.findall(query) if name not in names]
        for name, matchers in SELECTOR.findall(query):
            wanted = dict(EXACT_MATCHER.findall(matchers))
            if name in names and not any(sample == name and wanted.items() <= labels.items() for sample, labels, _ in samples):
                missing += [f"{where}: {name} with {wanted}"]
    return missing


def test_every_dashboard_query_and_alert_rule_is_promql_over_metrics_the_stack_exports(
    api: Api, sockets: Sockets, stack: Stack, base_url: str, tmp_path: pathlib.Path
) -> None:
    queries = {**dashboard_queries(), **alert_queries()}
    for where, query in queries.items():
        assert METRIC.search(query), f"{where} names no metric of ours: {query}"

    # promtool parses PromQL in rules only: the dashboard's queries become rules, Grafana's
    # $__rate_interval a plain range.
    as_rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:query_{index}", "expr": query.replace("$__rate_interval", "5m")}
        for index, query in enumerate(dashboard_queries().values())
    ]}]}
    rules_file = tmp_path / "dashboard-rules.yml"
    rules_file.write_text(yaml.safe_dump(as_rules))
    checked = subprocess.run(["promtool", "check", "rules", str(rules_file)], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, f"a dashboard query is not PromQL:\n{checked.stdout}{checked.stderr}"

    # What the panels show: submissions over REST and WebSocket, a refused one, a push to a watched board.
    # The board is watched at the player's row, so the second score changes that page whatever the others'.
    player = new_player(api, "Dashboard")
    score = random.randint(1_000, 900_000)
    assert api.post("/scores", json={"game": "pubg", "score": -1}, headers=player.auth).status_code == 422
    submitted = api.post("/scores", json={"game": "pubg", "score": score}, headers=player.auth)
    assert submitted.status_code == 200, submitted.text
    row = submitted.json()["data"]["rank"] - 1
    board = sockets.open("/ws/v1/scores", player.token)
    board.send(json.dumps({"game": "pubg", "start": row, "end": row}))
    receive_until(board, lambda message: "result" in message)
    adder = sockets.open("/ws/v1/add-score", player.token)
    adder.send(json.dumps({"game": "pubg", "score": score + 1}))
    receive_until(adder, lambda message: message.get("ok") is True)
    receive_until(board, lambda message: "result" in message)

    # The reconciler's gauge is set by its next pass, within a second or two.
    last_missing: list[str] = []

    def all_exported() -> bool:
        last_missing[:] = missing_from(queries, exported(base_url, stack))
        return not last_missing

    try:
        wait_until(all_exported, timeout=30, message="every metric of the dashboard and the alerts exported")
    except AssertionError as error:
        raise AssertionError(f"{error}; missing: {last_missing}") from None


def test_a_store_that_is_down_is_counted_with_no_request_coming_in(stack: Stack, base_url: str) -> None:
    # LeaderboardStoreDown and the dashboard's store panels rest on this: every api process's reconciler
    # counts its failed passes, about one a second, so an outage shows even when nobody calls the API.
    def postgres_errors() -> float:
        samples = [sample for url in api_metrics_urls(base_url, stack) for sample in scrape(url)]
        return sum(value for name, labels, value in samples if name == "leaderboard_store_errors_total" and labels == {"store": "postgres"})

    before = postgres_errors()
    with stack.stopped("postgres"):
        wait_until(lambda: postgres_errors() >= before + 3, timeout=20, message="3 PostgreSQL errors counted with no request")
