"""Kept reports end to end, through nginx with the real stores and every api pool of the stack: each pool keeps the
reports it has made (ReportCache), and none shows one a moment stale. After a score's 200, a ban or unban, a score's
deletion or restore, the very next read on every pool shows the change; a token logged out gets its 401 on a kept
report while anonymous readers are still served."""

from __future__ import annotations

import datetime
import uuid
from typing import Any, Iterator

import pytest

from conftest import Api, Player, Stack, leaderboardctl, new_player, run_sql

pytestmark = pytest.mark.usefixtures("envelope_audit")

# Enough reads that nginx passes some to every pool of a two-node stack, whichever way it spreads them.
READS = 8


@pytest.fixture
def admin(api: Api, stack: Stack) -> Player:
    player = new_player(api, "Report Admin")
    leaderboardctl(stack.directory, "users", "grant-admin", player.email)
    return player


@pytest.fixture
def game(api: Api, admin: Player, stack_env: dict[str, str]) -> Iterator[str]:
    """A game of the test's own, outside the global board; archived afterwards."""
    slug = "rep-" + uuid.uuid4().hex[:12]
    response = api.post("/admin/games", json={"slug": slug, "label": slug, "inGlobal": False}, headers=admin.auth)
    assert response.status_code == 201, response.text
    yield slug
    run_sql(stack_env, "UPDATE games SET archived = true WHERE slug = :'slug'", slug=slug)


def report(api: Api, game: str, headers: dict[str, str] | None = None) -> list[tuple[int, int, int]]:
    """The last 30 days' report of the game, read READS times (without the cookies of the logins before): every read must
    give the same (userId, score, games) rows."""
    today = datetime.datetime.now(datetime.timezone.utc).date()
    params = {"start": str(today - datetime.timedelta(days=29)), "end": str(today), "game": game}
    answers = set()
    reader = api.new_session()
    for _ in range(READS):
        response = api.get("/reports/top", session=reader, params=params, headers=headers or {})
        assert response.status_code == 200, response.text
        answers.add(tuple((row["userId"], row["score"], row["games"]) for row in response.json()["data"]["result"]))
    assert len(answers) == 1, f"the pools answered differently: {answers}"
    return list(answers.pop())


def change(api: Api, player: Player, method: str, path: str, **body: Any) -> None:
    response = api.request(method, path, json=body, headers=player.auth)
    assert response.status_code == 200, response.text


def test_a_kept_report_shows_every_change_on_the_next_read_of_every_pool(api: Api, admin: Player, game: str) -> None:
    ann, bo = new_player(api, "Ann"), new_player(api, "Bo")
    change(api, ann, "POST", "/scores", game=game, score=300)
    assert report(api, game) == [(ann.id, 300, 1)]

    change(api, bo, "POST", "/scores", game=game, score=500)
    assert report(api, game) == [(bo.id, 500, 1), (ann.id, 300, 1)]
    # Bo's first score in another game: his games played.
    change(api, bo, "POST", "/scores", game="cod", score=1)
    assert report(api, game) == [(bo.id, 500, 2), (ann.id, 300, 1)]

    change(api, admin, "POST", f"/admin/users/{bo.id}/ban", reason="aimbot")
    assert report(api, game) == [(ann.id, 300, 1)]
    change(api, admin, "POST", f"/admin/users/{bo.id}/unban", reason="appeal")
    assert report(api, game) == [(bo.id, 500, 2), (ann.id, 300, 1)]

    scores = api.get(f"/admin/users/{bo.id}/scores", params={"game": game}, headers=admin.auth).json()["data"]["result"]
    change(api, admin, "DELETE", f"/admin/scores/{scores[0]['id']}", reason="impossible")
    assert report(api, game) == [(ann.id, 300, 1)]
    change(api, admin, "POST", f"/admin/scores/{scores[0]['id']}/restore", reason="verified")
    assert report(api, game) == [(bo.id, 500, 2), (ann.id, 300, 1)]


def test_a_token_logged_out_gets_401_on_a_kept_report(api: Api, game: str) -> None:
    player = new_player(api, "Leaving")
    change(api, player, "POST", "/scores", game=game, score=10)
    assert report(api, game, player.auth) == [(player.id, 10, 1)]
    change(api, player, "POST", "/auth/logout")
    today = datetime.datetime.now(datetime.timezone.utc).date()
    reader = api.new_session()
    for _ in range(READS):
        response = api.get("/reports/top", session=reader, params={"start": str(today - datetime.timedelta(days=29)), "game": game},
                           headers=player.auth)
        assert response.status_code == 401, response.text
    assert report(api, game) == [(player.id, 10, 1)]
