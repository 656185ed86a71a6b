"""openapi.yaml is a valid OpenAPI 3.1 document, names every REST route, and the live server matches it.

The match is checked by schemathesis (its CLI, as a user would run it) against the test stack through
nginx: every operation, positive and negative data, all its checks but `positive_data_acceptance`
(a request can fit the schema and still be refused for what the schema cannot say: an unknown game,
a date past the boards' retention, an e-mail already taken). Once without a token (every protected
route must answer 401, never serve), once with a real player's token (admin routes: 403), and once with an
admin's (which creates and edits games: after the other tests, like this whole module). Bounded: a number of
examples per operation (OPENAPI_EXAMPLES, 50 by default) and a timeout; the seed is random unless
OPENAPI_SEED is set, and printed, so a failure can be replayed.
"""

from __future__ import annotations

import os
import pathlib
import random
import re
import subprocess
import sys
import time

import pytest
import yaml
from openapi_spec_validator import validate

from conftest import PASSWORD, REPO, Api, Stack, leaderboardctl, new_player, random_loopback_address, run_sql

SPEC = REPO / "openapi.yaml"
CONFIG = pathlib.Path(__file__).parent / "schemathesis.toml"
ROUTER = REPO / "Sources" / "LeaderboardAPI" / "API" / "APIService.swift"
EXAMPLES = int(os.environ.get("OPENAPI_EXAMPLES", "50"))
RUN_TIMEOUT = 150


def load_spec() -> dict:
    return yaml.safe_load(SPEC.read_text())


def test_the_spec_is_valid_openapi_3_1() -> None:
    spec = load_spec()
    assert spec["openapi"].startswith("3.1")
    validate(spec)


def test_the_spec_has_every_rest_route_of_the_router_and_no_other() -> None:
    routes = set()
    for method, path in re.findall(r'router\.add(?:Later)?\("([A-Z]+)", prefix \+ "([^"]+)"', ROUTER.read_text()):
        routes.add((method.lower(), re.sub(r"/+$", "", path)))
    assert len(routes) >= 13, f"the router's routes were not found in {ROUTER}"
    documented = {
        (method, path.rstrip("/"))
        for path, operations in load_spec()["paths"].items()
        for method in operations
        if method in {"get", "post", "put", "patch", "delete"}
    }
    assert documented == routes, f"only in the spec: {documented - routes}; only in the router: {routes - documented}"


@pytest.fixture(scope="module")
def seeded_player(base_url: str):
    """A player with scores on the boards (so pages have rows to check), and others around them.

    schemathesis submits scores up to the maximum, on the games of openapi.yaml's examples (fnite, rl):
    boards no other test needs a free top of.
    """
    api = Api(base_url)
    player = new_player(api, "Spec Player")
    for index in range(3):
        other = new_player(api, f"Spec Rival {index}")
        assert api.post("/scores", json={"game": "cod", "score": 1000 + index}, headers=other.auth).status_code == 200
    for game, score in [("cod", 1001), ("ow", 50), ("valrnt", 7)]:
        response = api.post("/scores", json={"game": game, "score": score}, headers=player.auth)
        assert response.status_code == 200, response.text
    yield player
    api.session.close()


@pytest.fixture(scope="module")
def seeded_admin(base_url: str, _stack_session: Stack):
    """An admin, and the game `spec-game` (openapi.yaml's example for PATCH /admin/games/{slug}) for them to edit."""
    api = Api(base_url)
    admin = new_player(api, "Spec Admin")
    leaderboardctl(_stack_session.directory, "users", "grant-admin", admin.email)
    created = api.post("/admin/games", json={"slug": "spec-game", "label": "Spec Game"}, headers=admin.auth)
    assert created.status_code in (201, 409), created.text
    yield admin
    api.session.close()


def run_schemathesis(base_url: str, *extra: str, login: tuple[str, str] | None = None) -> tuple[int, str, float]:
    seed = os.environ.get("OPENAPI_SEED") or str(random.randrange(1, 2**31))
    command = [
        sys.executable, "-m", "schemathesis.cli", "--config-file", str(CONFIG), "run", str(SPEC),
        "--url", f"{base_url}/api/v1",
        "--checks", "all", "--exclude-checks", "positive_data_acceptance",
        "--max-examples", str(EXAMPLES), "--seed", seed,
        # One worker: on Python 3.11.7, concurrent ast.parse calls in hypothesis fail (CPython gh-106905).
        "--workers", "1",
        "--no-shrink", "--request-timeout", "10",
        *extra,
    ]
    environment = {
        **os.environ,
        "PYTHONPATH": str(pathlib.Path(__file__).parent),
        "SCHEMATHESIS_HOOKS": "schemathesis_hooks",
        "ST_SOURCE_ADDRESS": random_loopback_address(),
        "NO_COLOR": "1",
        **({"ST_LOGIN_EMAIL": login[0], "ST_LOGIN_PASSWORD": login[1]} if login else {}),
    }
    started = time.monotonic()
    completed = subprocess.run(
        command, env=environment, cwd=REPO, capture_output=True, text=True, timeout=RUN_TIMEOUT
    )
    output = completed.stdout + completed.stderr
    return completed.returncode, f"seed {seed} (OPENAPI_SEED={seed} replays it)\n{output}", time.monotonic() - started


def failures(output: str) -> str:
    """One line naming each failing operation's checks (what CI's one-line summary of the assertion shows)."""
    found: list[str] = []
    for line in output.splitlines():
        if operation := re.fullmatch(r"_{3,} (\S+ \S+) _{3,}", line.strip()):
            found.append(f"{operation[1]}:")
        elif found and (check := re.fullmatch(r"- (ST\d+ .*)", line.strip())):
            found[-1] += f" {check[1]};"
    seed = re.search(r"^seed (\d+)", output)
    return f"seed {seed[1] if seed else '?'}: " + (" ".join(found) or "no failure section (see the output)")


def readable(output: str, longest_line: int = 2000) -> str:
    """The output with each line cut short: a reproduction's curl can carry a body of 100 KB."""
    return "\n".join(line if len(line) <= longest_line else f"{line[:longest_line]}... ({len(line)} characters)"
                     for line in output.splitlines())


def summary(output: str) -> str:
    """The run's closing lines: phases, failures, counts."""
    lines = output.splitlines()
    for index, line in enumerate(lines):
        if "SUMMARY" in line:
            return "\n".join(lines[index:])
    return "\n".join(lines[-40:])


@pytest.mark.parametrize("auth", ["anonymous", "bearer", "admin"])
def test_the_live_server_matches_the_spec(base_url: str, seeded_player, seeded_admin, stack_env: dict[str, str], auth: str) -> None:
    extra: list[str] = []
    if auth == "bearer":
        # Logout would revoke the token for the rest of the run; the anonymous run covers it.
        extra = ["-H", f"Authorization: Bearer {seeded_player.token}", "--exclude-path-regex", "^/auth/(logout|signout)$"]
    elif auth == "admin":
        # Only the admin routes, which the player's run saw refused: given the other operations too, the stateful phase
        # feeds slugs read from them (GET /games/{slug}'s example, cod) to PATCH /admin/games/{slug}, and the seeded
        # games the later tests rely on would be edited at random.
        extra = ["-H", f"Authorization: Bearer {seeded_admin.token}", "--include-path-regex", "^/admin/"]
    games_before = [row[0] for row in run_sql(stack_env, "SELECT slug FROM games")]
    try:
        status, output, seconds = run_schemathesis(base_url, *extra, login=(seeded_player.email, PASSWORD))
    finally:
        # The games the admin run made up (slugs such as "0") would be found by later tests that probe unknown games.
        run_sql(
            stack_env,
            "DELETE FROM games g WHERE g.slug <> ALL(string_to_array(:'before', ','))"
            " AND NOT EXISTS (SELECT 1 FROM scores s WHERE s.game = g.slug)",
            before=",".join(games_before),
        )
    print(f"schemathesis ({auth}, {seconds:.0f} s):\n{summary(output)}")
    assert status == 0, f"{failures(output)}\n{readable(output)[-20000:]}"
    assert re.search(r"\d+ generated, \d+ passed", output), summary(output)
