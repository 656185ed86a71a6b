"""Games as configuration end to end (issue 20, "Tests"): a race game (lowest time wins, ties to whoever set the
time first) and an XP game (scores add up, counted on the global board), played over REST and WebSocket through
nginx, their boards, around-me, a live push and reports checked against values worked out by hand, and bounds and
archiving refused as the contract says.

Each run makes games of its own (fresh slugs), so nothing else is on their boards.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import uuid
from typing import Any, Iterator

import jsonschema
import pytest

from conftest import Api, EnvelopeAudit, Player, Sockets, Stack, leaderboardctl, new_player, new_players, receive_json, receive_until
from test_openapi import load_spec

ROW_KEYS = {"rank", "userId", "player", "game", "score", "date"}


def today() -> str:
    return datetime.datetime.now(datetime.timezone.utc).date().isoformat()


@dataclasses.dataclass(frozen=True)
class Games:
    """The module's games by role, and the admin who made them."""

    slugs: dict[str, str]
    admin: Player

    def __getitem__(self, role: str) -> str:
        return self.slugs[role]


def archive(api: Api, admin: Player, slug: str) -> None:
    response = api.request("PATCH", f"/admin/games/{slug}", json={"archived": True, "reason": "e2e test done"}, headers=admin.auth)
    assert response.status_code == 200, response.text
    assert response.json()["data"]["archived"] is True


@pytest.fixture(scope="module")
def games(base_url: str, _stack_session: Stack) -> Iterator[Games]:
    """The module's games, made over the admin API at once (a service re-reads its game list for unknown slugs at
    most once a second): `race` (lowest time wins, ties to whoever set the time first, not global), `xp` (scores
    add up, global) and `bounded` (a race game of its own, to be archived). Archived afterwards, so `/games` lists
    the seeded games again (test_hostile counts them)."""
    client = Api(base_url)
    admin = new_player(client, "Game Admin")
    granted = leaderboardctl(_stack_session.directory, "users", "grant-admin", admin.email).stdout
    assert "is now an admin" in granted, granted
    suffix = uuid.uuid4().hex[:8]
    race = {"order": "asc", "rule": "best", "tieBreak": "earliest", "inGlobal": False, "format": "time_ms", "minScore": 1000, "maxScore": 600000}
    settings = {
        f"race-{suffix}": race,
        f"xp-{suffix}": {"order": "desc", "rule": "sum", "tieBreak": "shared", "inGlobal": True, "minScore": 0, "maxScore": 1000},
        f"bounded-{suffix}": race,
    }
    for slug, chosen in settings.items():
        created = client.post("/admin/games", json={"slug": slug, "label": f"Test {slug}", **chosen}, headers=admin.auth)
        assert created.status_code == 201, created.text
        game = created.json()["data"]
        assert {key: game[key] for key in chosen} == chosen, game
    yield Games(slugs={slug.split("-")[0]: slug for slug in settings}, admin=admin)
    for slug in settings:
        archive(client, admin, slug)
    client.session.close()


def submit_rest(api: Api, player: Player, game: str, score: int) -> dict[str, Any]:
    response = api.post("/scores", json={"game": game, "score": score}, headers=player.auth)
    assert response.status_code == 200, response.text
    return response.json()["data"]


def submit_ws(sockets: Sockets, player: Player, game: str, score: int) -> dict[str, Any]:
    socket_ = sockets.open("/ws/v1/add-score", player.token)
    socket_.send(json.dumps({"game": game, "score": score}))
    answer = receive_json(socket_)
    assert answer.get("ok") is True, answer
    return answer


def history(api: Api, player: Player, game: str) -> list[int]:
    """The scores the player's own history holds for the game, in order."""
    response = api.get("/me/scores", params={"game": game}, headers=player.auth)
    assert response.status_code == 200, response.text
    return sorted(entry["score"] for entry in response.json()["data"]["result"])


def board(api: Api, game: str, **params: Any) -> dict[str, Any]:
    response = api.get(f"/leaderboards/{game}", params={"start": 0, "end": 9, **params})
    assert response.status_code == 200, response.text
    return response.json()["data"]


def ranked(rows: list[dict[str, Any]]) -> list[tuple[int, int, int]]:
    """(rank, userId, score) of each row, in the order given."""
    return [(row["rank"], row["userId"], row["score"]) for row in rows]


def around_me(api: Api, player: Player, game: str, around: int, period: str = "all-time") -> dict[str, Any]:
    response = api.get(f"/leaderboards/{game}/me", params={"around": around, "period": period}, headers=player.auth)
    assert response.status_code == 200, response.text
    return response.json()["data"]


def test_a_race_game_and_an_xp_game_rank_report_and_push_by_their_settings(
    api: Api, sockets: Sockets, games: Games, envelope_audit: EnvelopeAudit
) -> None:
    race, xp = games["race"], games["xp"]
    ann, bob, cy, dee = new_players(api.base_url, 4, "Racer")

    # Race: lowest time first; Bob set 61.500 s before Cy did, so Bob ranks above Cy.
    assert submit_rest(api, ann, race, 65_000)["best"] == 65_000
    assert submit_ws(sockets, bob, race, 61_500)["rank"] == 1
    cy_answer = submit_rest(api, cy, race, 61_500)
    assert (cy_answer["best"], cy_answer["rank"]) == (61_500, 2)
    slower = submit_rest(api, ann, race, 70_000)
    assert (slower["best"], slower["improved"], slower["rank"]) == (65_000, False, 3), "a slower time changes nothing"
    submit_ws(sockets, dee, race, 90_000)
    expected_race = [(1, bob.id, 61_500), (2, cy.id, 61_500), (3, ann.id, 65_000), (4, dee.id, 90_000)]
    for period in ("all-time", "daily", "weekly", "monthly"):
        page = board(api, race, period=period)
        assert ranked(page["result"]) == expected_race, period
        assert page["totalCount"] == 4 and page["game"] == race
        assert all(set(row) == ROW_KEYS and row["date"] == today() and row["game"] == race for row in page["result"])
    second_page = api.get(f"/leaderboards/{race}", params={"page": 2, "size": 2}).json()["data"]
    assert ranked(second_page["result"]) == expected_race[2:]

    me = around_me(api, ann, race, around=1)
    assert (me["rank"], me["score"], me["date"]) == (3, 65_000, today())
    assert ranked(me["around"]) == expected_race[1:4]

    # XP: every score adds up; Ann and Bob tie on 350 and share rank 1.
    submit_rest(api, ann, xp, 100)
    assert submit_ws(sockets, ann, xp, 250)["rank"] == 1
    submit_rest(api, bob, xp, 350)
    submit_rest(api, cy, xp, 40)
    page = board(api, xp, period="daily")
    assert sorted(ranked(page["result"])) == sorted([(1, ann.id, 350), (1, bob.id, 350), (3, cy.id, 40)])
    assert page["totalCount"] == 3
    me = around_me(api, cy, xp, around=1)
    assert (me["rank"], me["score"]) == (3, 40)
    assert me["around"] == page["result"][1:3], "around-me is the board's own slice"

    # The global board counts the XP total and not the race time (not in the global board).
    standing = api.get("/me/standing", params={"period": "all-time"}, headers=ann.auth).json()["data"]
    boards = {entry["game"]: (entry["rank"], entry["score"]) for entry in standing["boards"]}
    assert boards[xp] == (1, 350) and boards[race] == (3, 65_000)
    assert boards["all"][1] == 350 and set(boards) == {"all", xp, race}
    assert api.get("/leaderboards/all/me", headers=dee.auth).status_code == 404, "a race time alone puts no one on the global board"

    # A watcher of the race board gets the new page when Dee beats everyone.
    watcher = sockets.open("/ws/v1/scores", ann.token)
    watcher.send(json.dumps({"game": race, "start": 0, "end": 9}))
    first = receive_json(watcher)
    assert "result" in first, first
    assert ranked(first["result"]) == expected_race
    submit_ws(sockets, dee, race, 55_000)
    pushed = receive_until(watcher, lambda page: bool(page.get("result")) and page["result"][0]["userId"] == dee.id)
    assert ranked(pushed["result"]) == [(1, dee.id, 55_000), (2, bob.id, 61_500), (3, cy.id, 61_500), (4, ann.id, 65_000)]

    # Reports: best single score in the game's order (Ann's best single XP score is 250, not her 350 total).
    submit_rest(api, bob, race, 60_000)
    report = api.get("/reports/top", params={"start": today(), "end": today(), "game": race, "limit": 3}).json()["data"]["result"]
    assert [(row["rank"], row["userId"], row["score"], row["game"], row["date"]) for row in report] == [
        (1, dee.id, 55_000, race, today()), (2, bob.id, 60_000, race, today()), (3, cy.id, 61_500, race, today())
    ]
    assert [row["games"] for row in report] == [1, 2, 2]
    report = api.get("/reports/top", params={"start": today(), "end": today(), "game": xp}).json()["data"]["result"]
    assert [(row["rank"], row["userId"], row["score"]) for row in report] == [(1, bob.id, 350), (2, ann.id, 250), (3, cy.id, 40)]


def test_scores_outside_a_games_bounds_get_422_and_an_archived_game_409_while_its_board_stays_readable(
    api: Api, sockets: Sockets, games: Games, envelope_audit: EnvelopeAudit
) -> None:
    slug = games["bounded"]
    (player,) = new_players(api.base_url, 1, "Bounded")
    adder = sockets.open("/ws/v1/add-score", player.token)
    for score in (999, 600_001, -1):
        response = api.post("/scores", json={"game": slug, "score": score}, headers=player.auth)
        assert response.status_code == 422, response.text
        assert [error["field"] for error in response.json()["errors"]] == ["score"]
        adder.send(json.dumps({"game": slug, "score": score}))
        answer = receive_json(adder)
        assert set(answer) == {"error"} and "1000" in answer["error"], answer
    for score in (1000, 600_000):
        submit_rest(api, player, slug, score)
    assert history(api, player, slug) == [1000, 600_000], "nothing out of bounds was stored"
    assert ranked(board(api, slug)["result"]) == [(1, player.id, 1000)]

    archive(api, games.admin, slug)
    response = api.post("/scores", json={"game": slug, "score": 900}, headers=player.auth)
    assert response.status_code == 409, response.text
    adder.send(json.dumps({"game": slug, "score": 900}))
    answer = receive_json(adder)
    assert set(answer) == {"error"}, answer
    assert ranked(board(api, slug)["result"]) == [(1, player.id, 1000)], "an archived game's board stays readable"
    assert history(api, player, slug) == [1000, 600_000], "nothing stored for the archived game"


def fits_the_spec(spec: dict[str, Any], path: str, method: str, answer: dict[str, Any]) -> list[str]:
    """Where a 200 answer breaks its schema in openapi.yaml (`spec`): an empty list when it fits."""
    schema = spec["paths"][path][method]["responses"]["200"]["content"]["application/json"]["schema"]
    # The components ride along in the root document, so the schema's "#/components/..." references resolve.
    validator = jsonschema.Draft202012Validator({**schema, "components": spec["components"]})
    return [f"{'/'.join(map(str, error.absolute_path))}: {error.message}" for error in validator.iter_errors(answer)]


def test_a_game_with_negative_and_very_large_scores_is_answered_as_openapi_yaml_describes(api: Api, games: Games) -> None:
    """Bounds are the admin's (up to ±(2^53 - 1)); every answer about such a game's scores fits the published schemas."""
    slug = f"golf-{uuid.uuid4().hex[:8]}"
    bound = 2**53 - 1
    created = api.post(
        "/admin/games", json={"slug": slug, "label": "Test golf", "minScore": -bound, "maxScore": bound, "inGlobal": False},
        headers=games.admin.auth)
    assert created.status_code == 201, created.text
    try:
        low, high = new_players(api.base_url, 2, "Golfer")
        answers = []
        for player, score in ((low, -5), (high, 10**12)):
            response = api.post("/scores", json={"game": slug, "score": score}, headers=player.auth)
            assert response.status_code == 200, response.text
            assert response.json()["data"]["best"] == score
            answers.append(("/scores", "post", response.json()))
        reads = [
            ("/leaderboards/{game}", f"/leaderboards/{slug}", {"start": 0, "end": 9}, None),
            ("/leaderboards/{game}/me", f"/leaderboards/{slug}/me", {"around": 1}, low),
            ("/me/scores", "/me/scores", {"game": slug}, low),
            ("/reports/top", "/reports/top", {"start": today(), "end": today(), "game": slug}, None),
        ]
        for path, url, params, player in reads:
            response = api.get(url, params=params, headers=player.auth if player else None)
            assert response.status_code == 200, response.text
            answers.append((path, "get", response.json()))
        board_scores = [row["score"] for row in answers[2][2]["data"]["result"]]
        assert board_scores == [10**12, -5]
        spec = load_spec()
        problems = [(path, problem) for path, method, answer in answers for problem in fits_the_spec(spec, path, method, answer)]
        assert problems == [], problems
    finally:
        archive(api, games.admin, slug)
