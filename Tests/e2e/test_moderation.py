"""Bans and score deletions end to end, through nginx with the real stores: a ban under live load (a watcher sees the
player vanish, their socket closes with 1008, their REST calls 401 and their login 403; a token the ban could not
revoke submits nothing), unban restoring the exact prior standing, deletions under each game's rule on every period
board and the global one, restore, a rebuild that keeps all of it, the audit log over the API and leaderboardctl."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any, Callable, Iterator

import jwt
import pytest

from conftest import (
    PASSWORD,
    Api,
    Player,
    Sockets,
    Stack,
    close_code,
    leaderboardctl,
    new_player,
    receive_json,
    receive_until,
    run_sql,
)

pytestmark = pytest.mark.usefixtures("envelope_audit")

PERIODS = ["all-time", "daily", "weekly", "monthly"]
POLICY_VIOLATION = 1008


@pytest.fixture
def admin(api: Api, stack: Stack) -> Player:
    player = new_player(api, "Moderator")
    leaderboardctl(stack.directory, "users", "grant-admin", player.email)
    return player


@pytest.fixture
def new_game(api: Api, admin: Player, stack_env: dict[str, str]) -> Iterator[Callable[..., str]]:
    """Games of the test's own (not in the global board unless asked), archived afterwards."""
    made: list[str] = []

    def create(rule: str = "best", in_global: bool = False) -> str:
        slug = "mod-" + uuid.uuid4().hex[:12]
        response = api.post("/admin/games", json={"slug": slug, "label": slug, "rule": rule, "inGlobal": in_global}, headers=admin.auth)
        assert response.status_code == 201, response.text
        made.append(slug)
        return slug

    yield create
    for slug in made:
        run_sql(stack_env, "UPDATE games SET archived = true WHERE slug = :'slug'", slug=slug)


def submit(api: Api, player: Player, game: str, score: int) -> None:
    response = api.post("/scores", json={"game": game, "score": score}, headers=player.auth)
    assert response.status_code == 200, response.text


def boards(api: Api, game: str) -> dict[str, list[tuple[int, int, int]]]:
    """The game's board for each period: (rank, userId, score) rows."""
    pages = {}
    for period in PERIODS:
        response = api.get(f"/leaderboards/{game}", params={"period": period, "size": 50})
        assert response.status_code == 200, response.text
        pages[period] = [(row["rank"], row["userId"], row["score"]) for row in response.json()["data"]["result"]]
    return pages


def entry(api: Api, game: str, period: str, user_id: int) -> int | None:
    response = api.get(f"/leaderboards/{game}", params={"period": period, "size": 100})
    assert response.status_code == 200, response.text
    rows = response.json()["data"]["result"]
    return next((row["score"] for row in rows if row["userId"] == user_id), None)


def moderate(api: Api, admin: Player, method: str, path: str, reason: str = "e2e") -> dict[str, Any]:
    response = api.request(method, path, json={"reason": reason}, headers=admin.auth)
    assert response.status_code == 200, response.text
    return response.json()["data"]


def test_a_ban_under_live_load_removes_the_player_everywhere_and_unban_restores_their_exact_standing(
    api: Api, admin: Player, new_game: Callable[..., str], sockets: Sockets, base_url: str
) -> None:
    game = new_game(in_global=True)
    cheater, honest, busy = new_player(api, "Cheater"), new_player(api, "Honest"), new_player(api, "Busy")
    submit(api, cheater, game, 999_999)
    submit(api, honest, game, 500)
    submit(api, busy, game, 400)
    before = boards(api, game)
    global_before = api.get("/leaderboards/all", params={"size": 100}).json()["data"]["result"]
    assert before["all-time"] == [(1, cheater.id, 999_999), (2, honest.id, 500), (3, busy.id, 400)]

    watcher = sockets.open("/ws/v1/scores", honest.token)
    watcher.send('{"game": "%s", "start": 0, "end": 9}' % game)
    assert [row["userId"] for row in receive_json(watcher)["result"]] == [cheater.id, honest.id, busy.id]
    cheaters_socket = sockets.open("/ws/v1/my-score", cheater.token)
    receive_json(cheaters_socket)

    # Live load: another player submits all along (below their best, so the boards stay as they were).
    stop = threading.Event()
    statuses: list[int] = []

    def load() -> None:
        client = Api(base_url)
        while not stop.is_set():
            statuses.append(client.post("/scores", json={"game": game, "score": 1}, headers=busy.auth).status_code)
        client.session.close()

    loader = threading.Thread(target=load)
    loader.start()
    try:
        banned = moderate(api, admin, "POST", f"/admin/users/{cheater.id}/ban", "aimbot")
        assert banned["banned"] is True and banned["bannedReason"] == "aimbot" and banned["id"] == cheater.id
        page = receive_until(watcher, lambda page: cheater.id not in [row["userId"] for row in page.get("result", [])], timeout=5)
        assert [(row["rank"], row["userId"]) for row in page["result"]] == [(1, honest.id), (2, busy.id)]
    finally:
        stop.set()
        loader.join()
    assert statuses and set(statuses) == {200}

    # At once (the ban's event makes the daemon check its sockets' tokens), not at its next 15 s sweep.
    assert close_code(cheaters_socket, timeout=5) == POLICY_VIOLATION
    assert api.get("/auth/me", headers=cheater.auth).status_code == 401
    assert api.post("/scores", json={"game": game, "score": 5}, headers=cheater.auth).status_code == 401
    login = api.post("/auth/login", json={"email": cheater.email, "password": PASSWORD})
    assert login.status_code == 403 and login.json()["message"] == "this account is banned"
    wrong = api.post("/auth/login", json={"email": cheater.email, "password": "not-the-password"})
    assert wrong.status_code == 401, "only the right password learns of the ban"
    for period, rows in boards(api, game).items():
        assert cheater.id not in [user for _, user, _ in rows], period
    for period in PERIODS:
        rows = api.get("/leaderboards/all", params={"period": period, "size": 100}).json()["data"]["result"]
        assert cheater.id not in [row["userId"] for row in rows], period
    today = time.strftime("%Y-%m-%d", time.gmtime())
    report = api.get("/reports/top", params={"game": game, "start": today, "end": today, "limit": 10}).json()["data"]["result"]
    assert [row["userId"] for row in report][:1] == [honest.id]
    assert cheater.id not in [row["userId"] for row in report]

    unbanned = moderate(api, admin, "POST", f"/admin/users/{cheater.id}/unban", "appeal upheld")
    assert unbanned["banned"] is False and unbanned["bannedAt"] is None
    assert boards(api, game) == before
    assert api.get("/leaderboards/all", params={"size": 100}).json()["data"]["result"] == global_before
    assert api.get("/auth/me", headers=cheater.auth).status_code == 401, "the tokens the ban revoked stay revoked"
    assert api.post("/auth/login", json={"email": cheater.email, "password": PASSWORD}).status_code == 200


def test_a_banned_players_token_the_ban_could_not_revoke_submits_nothing(
    api: Api, admin: Player, new_game: Callable[..., str], stack_env: dict[str, str]
) -> None:
    # The predecessor's tokens (PyJWT, no `jti`) were not issued here, so a ban cannot revoke them; they stay valid
    # until they expire (an hour, as the predecessor made them). A submission with one must not bring the player back.
    game = new_game(in_global=True)
    cheater = new_player(api, "Cheater")
    claims = {"id": cheater.id, "name": cheater.name, "email": cheater.email, "exp": int(time.time()) + 600}
    predecessors = {"Authorization": "Bearer " + jwt.encode(claims, stack_env["SECRET_KEY"], algorithm="HS256")}
    assert api.post("/scores", json={"game": game, "score": 50}, headers=predecessors).status_code == 200
    api.session.cookies.clear()  # the boards are read as a visitor: signing up left the cheater's cookie here

    moderate(api, admin, "POST", f"/admin/users/{cheater.id}/ban", "aimbot")
    refused = api.post("/scores", json={"game": game, "score": 999_999}, headers=predecessors)
    assert refused.status_code == 401 and refused.json()["message"] == "this account is banned", refused.text
    assert boards(api, game) == {period: [] for period in PERIODS}
    everyone = api.get("/leaderboards/all", params={"size": 100}).json()["data"]["result"]
    assert cheater.id not in [row["userId"] for row in everyone]
    stored = run_sql(stack_env, "SELECT count(*) FROM scores WHERE user_id = :'id'", id=str(cheater.id))
    assert stored == [["1"]], "only the score from before the ban"


def test_deleting_a_score_recomputes_every_period_board_by_the_games_rule_and_restore_reverses_it(
    api: Api, admin: Player, new_game: Callable[..., str], stack: Stack
) -> None:
    best, latest, total = new_game("best", in_global=True), new_game("latest", in_global=True), new_game("sum", in_global=True)
    player = new_player(api, "Deleted Scores")
    for game, values in [(best, [100, 300, 200]), (latest, [10, 30, 20]), (total, [5, 7, 11])]:
        for value in values:
            submit(api, player, game, value)
    scores = api.get(f"/admin/users/{player.id}/scores", params={"limit": 100}, headers=admin.auth).json()["data"]
    assert scores["next"] is None and len(scores["result"]) == 9
    ids = {(row["game"], row["score"]): row["id"] for row in scores["result"]}

    # The best of three on a best game, the last on a latest game, one on a sum game.
    for game, value in [(best, 300), (latest, 20), (total, 7)]:
        deleted = moderate(api, admin, "DELETE", f"/admin/scores/{ids[(game, value)]}", "impossible")
        assert deleted["deletedAt"] and deleted["deletedReason"] == "impossible" and deleted["deletedBy"] == f"user:{admin.id}"
    expected = {best: 200, latest: 30, total: 16}

    def check(expected: dict[str, int]) -> None:
        """Every score was made today, so each period board holds the same entry; the global one sums them."""
        for game, value in expected.items():
            for period in PERIODS:
                assert entry(api, game, period, player.id) == value, (game, period)
        for period in PERIODS:
            assert entry(api, "all", period, player.id) == sum(expected.values()), period

    check(expected)
    history = api.get(f"/admin/users/{player.id}/scores", params={"game": best}, headers=admin.auth).json()["data"]["result"]
    assert [(row["score"], row["deletedReason"]) for row in history] == [(200, None), (300, "impossible"), (100, None)]
    assert [row["score"] for row in api.get("/me/scores", params={"game": best}, headers=player.auth).json()["data"]["result"]] == [200, 300, 100]

    leaderboardctl(stack.directory, "rebuild")
    check(expected)

    for game, value in [(best, 300), (latest, 20), (total, 7)]:
        restored = moderate(api, admin, "POST", f"/admin/scores/{ids[(game, value)]}/restore", "appeal")
        assert restored["deletedAt"] is None
    check({best: 300, latest: 20, total: 23})
    leaderboardctl(stack.directory, "rebuild")
    check({best: 300, latest: 20, total: 23})


def test_moderation_routes_need_an_admin_a_reason_and_a_known_target(api: Api, admin: Player) -> None:
    player = new_player(api, "Bystander")
    routes = [
        ("POST", f"/admin/users/{player.id}/ban"),
        ("POST", f"/admin/users/{player.id}/unban"),
        ("DELETE", "/admin/scores/1"),
        ("POST", "/admin/scores/1/restore"),
        ("GET", "/admin/users"),
        ("GET", f"/admin/users/{player.id}/scores"),
        ("GET", "/admin/audit"),
    ]
    for method, path in routes:
        assert api.request(method, path, json={"reason": "x"}, session=api.new_session()).status_code == 401, path
        assert api.request(method, path, json={"reason": "x"}, headers=player.auth).status_code == 403, path
    # A NUL cannot be stored (PostgreSQL's text): refused as the body is read, not cut short at it.
    refusals = [({}, "reason"), ({"reason": ""}, "reason"), ({"reason": "x" * 501}, "reason"), ({"reason": "\u0000"}, "reason"),
                ({"reason": "cheated\u0000, says the report"}, "reason"), ({"reason": "x", "why": 1}, "why")]
    for body, field in refusals:
        response = api.post(f"/admin/users/{player.id}/ban", json=body, headers=admin.auth)
        assert response.status_code == 422 and [error["field"] for error in response.json()["errors"]] == [field], response.text
    for path in ["/admin/users/999999999999/ban", "/admin/users/abc/ban", "/admin/scores/999999999999/restore"]:
        assert api.post(path, json={"reason": "x"}, headers=admin.auth).status_code == 404, path
    refused = api.post(f"/admin/users/{admin.id}/ban", json={"reason": "x"}, headers=admin.auth)
    assert refused.status_code == 409
    assert api.get("/auth/me", headers=player.auth).status_code == 200, "nothing was banned"


def test_admin_listings_say_there_is_no_next_page_on_their_last_even_when_it_is_full(
    api: Api, admin: Player, new_game: Callable[..., str], stack_env: dict[str, str]
) -> None:
    tag = uuid.uuid4().hex[:10]
    first, second = new_player(api, f"Lister {tag}"), new_player(api, f"Lister {tag}")
    game = new_game()
    for value in [1, 2, 3]:
        submit(api, first, game, value)
    moderate(api, admin, "POST", f"/admin/users/{second.id}/ban", "listed")
    moderate(api, admin, "POST", f"/admin/users/{second.id}/unban", "listed")

    def pages(path: str, limit: int, **params: Any) -> list[tuple[list[int], int | None]]:
        """Each page's ids and `next`, following `next` until it is null."""
        seen: list[tuple[list[int], int | None]] = []
        while True:
            data = api.get(path, params={**params, "limit": limit}, headers=admin.auth).json()["data"]
            seen.append(([row["id"] for row in data["result"]], data["next"]))
            if data["next"] is None:
                return seen
            params["before"] = data["next"]

    history = f"/admin/users/{first.id}/scores"
    scores = [row["id"] for row in api.get(history, params={"limit": 100}, headers=admin.auth).json()["data"]["result"]]
    assert len(scores) == 3
    assert pages(history, 3) == [(scores, None)], "three scores on a page of three: no page after it"
    assert pages(history, 2) == [(scores[:2], scores[1]), (scores[2:], None)]
    assert pages("/admin/users", 2, query=f"lister {tag}") == [([second.id, first.id], None)]
    assert pages("/admin/users", 1, query=f"LISTER {tag}") == [([second.id], second.id), ([first.id], None)]
    oldest = [int(row[0]) for row in run_sql(stack_env, "SELECT id FROM audit_log ORDER BY id LIMIT 3")]
    assert pages("/admin/audit", 2, before=oldest[2]) == [([oldest[1], oldest[0]], None)]


def test_the_player_search_ignores_letter_case_beyond_ascii(api: Api, admin: Player) -> None:
    tag = uuid.uuid4().hex[:8]
    player = new_player(api, f"Élodie Ørsted {tag}")
    for query in [f"élodie ørsted {tag}", f"ÉLODIE ØRSTED {tag}"]:
        found = api.get("/admin/users", params={"query": query}, headers=admin.auth).json()["data"]["result"]
        assert [row["id"] for row in found] == [player.id], query


def test_the_audit_log_and_the_player_search_over_the_api_and_leaderboardctl(api: Api, admin: Player, stack: Stack) -> None:
    player = new_player(api, "Audited Player")
    leaderboardctl(stack.directory, "users", "ban", player.email, "--reason", "from the shell")
    found = api.get("/admin/users", params={"query": player.email.upper()}, headers=admin.auth).json()["data"]
    assert [(row["id"], row["banned"]) for row in found["result"]] == [(player.id, True)]
    moderate(api, admin, "POST", f"/admin/users/{player.id}/unban", "over the api")

    page = api.get("/admin/audit", params={"limit": 50}, headers=admin.auth).json()["data"]
    mine = [row for row in page["result"] if row["target"] == f"user:{player.id}"]
    assert [(row["action"], row["actor"], row["reason"]) for row in mine] == [
        ("user.unban", f"user:{admin.id}", "over the api"),
        ("user.ban", "leaderboardctl", "from the shell"),
    ]
    assert mine[0]["details"] == {"banned": {"before": True, "after": False}}
    older = api.get("/admin/audit", params={"limit": 1, "before": mine[0]["id"]}, headers=admin.auth).json()["data"]
    assert older["result"][0]["id"] < mine[0]["id"] and older["next"] == older["result"][0]["id"]
    printed = leaderboardctl(stack.directory, "audit", "--limit", "100").stdout
    assert f"user.unban  user:{player.id}  over the api" in printed
