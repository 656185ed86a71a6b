"""API keys, authoritative games, the per-player submission rate and the rejection metrics, end to end through nginx
with real stores: a key's round trip (created, shown once, listed, used for a player, limited to its games, revoked and
refused from the next request on every api pool), an authoritative game that refuses players over REST and WebSocket
and takes a key's scores, one rate shared by both nodes, and every refusal counted by reason on /metrics."""

from __future__ import annotations

import json
import uuid
from typing import Callable, Iterator

import requests

import pytest

from conftest import Api, Player, Sockets, Stack, close_code, leaderboardctl, new_player, receive_json, run_sql, wait_until
from test_metrics import api_metrics, scrape

pytestmark = pytest.mark.usefixtures("envelope_audit")


# The games of this module's tests, by role: created together before any request names them, so that every api worker
# learns them all at its first miss (a worker re-reads its catalog for an unknown game at most once a second).
GAMES = {
    "round trip": {}, "round trip other": {}, "authoritative": {"authoritative": True}, "bounded": {"maxScore": 100},
    "authoritative refusals": {"authoritative": True}, "archived": {}, "shell": {},
}


@pytest.fixture(scope="module")
def module_admin(base_url: str, _stack_session: Stack) -> Player:
    api = Api(base_url)
    admin = new_player(api, "Key Admin")
    output = leaderboardctl(_stack_session.directory, "users", "grant-admin", admin.email).stdout
    assert "is now an admin" in output, output
    return admin


@pytest.fixture(scope="module")
def games(base_url: str, stack_env: dict[str, str], module_admin: Player) -> Iterator[dict[str, str]]:
    """Fresh games for the tests, by role (GAMES); archived afterwards, so no other test's `/games` sees them."""
    api = Api(base_url)
    made = {role: "e2e-" + uuid.uuid4().hex[:12] for role in GAMES}
    for role, slug in made.items():
        created = api.post("/admin/games", json={"slug": slug, "label": "Key Game", **GAMES[role]}, headers=module_admin.auth)
        assert created.status_code == 201, created.text
    yield made
    for slug in made.values():
        run_sql(stack_env, "UPDATE games SET archived = true WHERE slug = :'slug'", slug=slug)


@pytest.fixture
def admin(module_admin: Player) -> Player:
    return module_admin


def create_key(api: Api, admin: Player, **body: object) -> dict:
    created = api.post("/admin/api-keys", json={"name": "Match servers", **body}, headers=admin.auth)
    assert created.status_code == 201, created.text
    assert created.headers["Cache-Control"] == "no-store"
    return created.json()["data"]


def key_auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def submissions_by_pool(base_url: str, status: int) -> list[float]:
    """Per api pool, how many POST /scores it answered with `status`."""
    key = ("leaderboard_http_requests_total", (("method", "POST"), ("route", "/api/v1/scores"), ("status", str(status))))
    return [scrape(url).get(key, 0) for url in api_metrics(base_url)]


def rejected(base_url: str) -> dict[str, float]:
    """leaderboard_submissions_rejected_total by reason, summed over the api pools."""
    totals: dict[str, float] = {}
    for url in api_metrics(base_url):
        for (name, labels), value in scrape(url).items():
            if name == "leaderboard_submissions_rejected_total":
                reason = dict(labels)["reason"]
                totals[reason] = totals.get(reason, 0) + value
    return totals


def is_unknown_game(response: requests.Response) -> bool:
    """An api worker re-reads its game catalog on a miss at most once a second, so a game created a moment ago can be
    unknown to a worker that missed another just before: 422 naming `game`, or 404 for a board; nothing is stored."""
    if response.status_code == 404:
        return "unknown game" in response.json()["message"]
    return response.status_code == 422 and any(error["field"] == "game" for error in response.json()["errors"])


def once_known(send: Callable[[], requests.Response]) -> requests.Response:
    """The answer to `send` once the worker that answers knows the game (see is_unknown_game), within a bound."""
    # In a list: a Response of status 400 and above is falsy, and wait_until waits for something truthy.
    answered = wait_until(lambda: (lambda response: None if is_unknown_game(response) else [response])(send()), timeout=5,
                          message="an answer from a worker that knows the game")
    return answered[0]


def board_entry(api: Api, game: str, user_id: int) -> dict | None:
    board = once_known(lambda: api.get(f"/leaderboards/{game}", params={"size": 100}))
    assert board.status_code == 200, board.text
    return next((row for row in board.json()["data"]["result"] if row["userId"] == user_id), None)


def newest_scores(api: Api, player: Player, game: str) -> list[int]:
    """The player's latest scores on the game, newest first, from PostgreSQL."""
    history = api.get("/me/scores", params={"game": game, "limit": 3}, headers=player.auth)
    assert history.status_code == 200, history.text
    return [entry["score"] for entry in history.json()["data"]["result"]]


def test_a_key_round_trip_from_creation_to_revocation_on_every_pool(
    api: Api, base_url: str, stack: Stack, stack_env: dict[str, str], admin: Player, games: dict[str, str]
) -> None:
    game, other_game = games["round trip"], games["round trip other"]
    player = new_player(api, "Served Player")
    created = create_key(api, admin, games=[game])
    key = created["key"]
    assert key.startswith("lbk_") and len(key) == 47 and created["prefix"] == key[:12] and created["games"] == [game]
    assert created["createdBy"] == f"user:{admin.id}" and created["revoked"] is False

    # Listed without the key; PostgreSQL holds only its hash.
    listed = next(item for item in api.get("/admin/api-keys", headers=admin.auth).json()["data"] if item["id"] == created["id"])
    assert "key" not in listed and listed["prefix"] == created["prefix"]
    assert run_sql(stack_env, "SELECT count(*) FROM api_keys WHERE hash = encode(sha256(convert_to(:'key', 'UTF8')), 'hex')", key=key) == [["1"]]
    assert run_sql(stack_env, "SELECT count(*) FROM api_keys WHERE strpos(hash || prefix || name, :'key') > 0", key=key) == [["0"]]

    # The key submits for the player: the score is theirs, on the board under their name.
    submitted = once_known(lambda: api.post("/scores", json={"game": game, "score": 700, "userId": player.id}, headers=key_auth(key)))
    assert submitted.status_code == 200, submitted.text
    assert submitted.json()["data"]["best"] == 700
    assert board_entry(api, game, player.id)["player"] == player.name
    assert api.get("/me/scores", headers=player.auth).json()["data"]["result"][0]["score"] == 700
    listed = next(item for item in api.get("/admin/api-keys", headers=admin.auth).json()["data"] if item["id"] == created["id"])
    assert listed["lastUsedAt"] is not None

    # Only its games, only real players; a key is no access token anywhere else, nor a socket's.
    wrong_game = api.post("/scores", json={"game": other_game, "score": 1, "userId": player.id}, headers=key_auth(key))
    assert wrong_game.status_code == 403 and wrong_game.json()["message"] == f"this API key may not submit scores to '{other_game}'"
    assert api.post("/scores", json={"game": game, "score": 1, "userId": 2**40}, headers=key_auth(key)).status_code == 404
    assert api.post("/scores", json={"game": game, "score": 1}, headers=key_auth(key)).status_code == 422
    assert api.get("/auth/me", headers=key_auth(key)).status_code == 401
    assert api.get("/admin/api-keys", headers=key_auth(key)).status_code == 401
    in_cookie = api.new_session()
    in_cookie.cookies.set("ath", key)
    assert api.post("/scores", json={"game": game, "score": 1, "userId": player.id}, session=in_cookie).status_code == 401

    # Revoked: the next request is refused, on every pool.
    revoked = api.request("DELETE", f"/admin/api-keys/{created['id']}", headers=admin.auth)
    assert revoked.status_code == 200 and revoked.json()["data"]["revoked"] is True
    refused_before = submissions_by_pool(base_url, 401)
    for score in range(2 * len(stack.api_services) + 2):
        refused = api.post("/scores", json={"game": game, "score": 800 + score, "userId": player.id}, headers=key_auth(key))
        assert refused.status_code == 401 and refused.json()["message"] == "API key revoked"
        assert refused.headers["WWW-Authenticate"] == "Bearer"
    refused_after = submissions_by_pool(base_url, 401)
    assert all(after > before for before, after in zip(refused_before, refused_after)), (refused_before, refused_after)
    assert board_entry(api, game, player.id)["score"] == 700

    audit = run_sql(stack_env, "SELECT action, actor FROM audit_log WHERE target = :'target' ORDER BY id", target=f"api_key:{created['id']}")
    assert audit == [["api_key.create", f"user:{admin.id}"], ["api_key.revoke", f"user:{admin.id}"]]


def test_key_administration_is_for_admins_and_bad_requests_get_4xx(api: Api, admin: Player, stack_env: dict[str, str]) -> None:
    player = new_player(api, "Not Admin")
    for method, path in [("POST", "/admin/api-keys"), ("GET", "/admin/api-keys"), ("DELETE", "/admin/api-keys/1")]:
        assert api.request(method, path, json={"name": "x"}, session=api.new_session()).status_code == 401
        assert api.request(method, path, json={"name": "x"}, headers=player.auth).status_code == 403
    for body, field in [
        ({"name": "x", "games": ["no-such-game"]}, "games"),
        ({"name": "x", "games": []}, "games"),
        ({"name": "x", "games": "cod"}, "games"),
        ({"name": " "}, "name"),
        ({}, "name"),
        ({"name": "x", "scope": "all"}, "scope"),
    ]:
        answer = api.post("/admin/api-keys", json=body, headers=admin.auth)
        assert answer.status_code == 422, (body, answer.text)
        assert field in [error["field"] for error in answer.json()["errors"]]
    assert api.request("DELETE", "/admin/api-keys/not-a-number", headers=admin.auth).status_code == 404
    assert api.request("DELETE", f"/admin/api-keys/{2**40}", headers=admin.auth).status_code == 404
    assert run_sql(stack_env, "SELECT count(*) FROM api_keys WHERE name = ' '") == [["0"]]


def test_an_authoritative_game_refuses_players_over_rest_and_websocket_and_takes_a_keys_scores(
    api: Api, admin: Player, games: dict[str, str], sockets: Sockets
) -> None:
    game = games["authoritative"]
    player = new_player(api, "Honest Player")
    refused = once_known(lambda: api.post("/scores", json={"game": game, "score": 50}, headers=player.auth))
    assert refused.status_code == 403
    assert refused.json()["message"] == "this game takes scores only from its game servers (API keys), not from players"
    add = sockets.open("/ws/v1/add-score", player.token)

    def answer_from_a_store_worker_that_knows_the_game() -> dict | None:
        add.send(json.dumps({"game": game, "score": 60}))
        answer = receive_json(add)
        return None if answer.get("error", "").startswith("unknown game") else answer

    answer = wait_until(answer_from_a_store_worker_that_knows_the_game, timeout=5)
    assert answer == {"error": "this game takes scores only from its game servers (API keys), not from players"}
    assert board_entry(api, game, player.id) is None
    assert [entry for entry in api.get("/me/scores", headers=player.auth).json()["data"]["result"] if entry["game"] == game] == []

    key = create_key(api, admin)["key"]
    accepted = once_known(lambda: api.post("/scores", json={"game": game, "score": 70, "userId": player.id}, headers=key_auth(key)))
    assert accepted.status_code == 200, accepted.text
    assert board_entry(api, game, player.id)["score"] == 70

    # A key over WebSocket is no token: the socket is closed as unauthenticated.
    assert close_code(sockets.open("/ws/v1/add-score", key), timeout=5) == 1008


def test_a_players_rate_per_game_is_one_limit_over_both_nodes_and_keys_are_not_limited(
    api: Api, base_url: str, stack: Stack, stack_env: dict[str, str], admin: Player, sockets: Sockets
) -> None:
    limit = int(stack_env.get("SCORE_RATE_PER_MINUTE", 120))
    # Seeded games: low scores of a fresh player, far below any board's top.
    game, other_game = "cod", "valrnt"
    player = new_player(api, "Eager Player")
    accepted_before = submissions_by_pool(base_url, 200)
    for score in range(1, limit + 1):
        answer = api.post("/scores", json={"game": game, "score": score}, headers=player.auth)
        assert answer.status_code == 200, (score, answer.text)
    accepted_after = submissions_by_pool(base_url, 200)
    assert all(after > before for before, after in zip(accepted_before, accepted_after)), "every pool took some"

    for _ in range(2 * len(stack.api_services)):
        limited = api.post("/scores", json={"game": game, "score": limit + 1}, headers=player.auth)
        assert limited.status_code == 429, limited.text
        assert 1 <= int(limited.headers["Retry-After"]) <= 60
    for service in stack.ws_services:
        add = sockets.open("/ws/v1/add-score", player.token, address=stack.ws_address(service))
        add.send(json.dumps({"game": game, "score": limit + 2}))
        assert receive_json(add) == {"error": "too many requests, retry later"}, service
    assert newest_scores(api, player, game) == list(range(limit, limit - 3, -1)), "nothing refused was stored"

    # Another game has its own count, and a game server's key has none.
    assert api.post("/scores", json={"game": other_game, "score": 1}, headers=player.auth).status_code == 200
    key = create_key(api, admin, games=[game])["key"]
    served = api.post("/scores", json={"game": game, "score": limit + 3, "userId": player.id}, headers=key_auth(key))
    assert served.status_code == 200, served.text
    assert newest_scores(api, player, game)[0] == limit + 3


def test_every_refused_submission_is_counted_by_its_reason(
    api: Api, base_url: str, stack_env: dict[str, str], admin: Player, games: dict[str, str]
) -> None:
    bounded, authoritative, archived = games["bounded"], games["authoritative refusals"], games["archived"]
    assert api.request("PATCH", f"/admin/games/{archived}", json={"archived": True}, headers=admin.auth).status_code == 200
    player = new_player(api, "Refused Player")
    key = create_key(api, admin, games=[bounded])["key"]
    before = rejected(base_url)
    assert set(before) >= {"bounds", "rate", "banned", "forbidden", "archived"}, "every reason is exported from the start"

    assert once_known(lambda: api.post("/scores", json={"game": bounded, "score": 101}, headers=player.auth)).status_code == 422
    assert once_known(lambda: api.post("/scores", json={"game": bounded, "score": 102}, headers=player.auth)).status_code == 422
    assert once_known(lambda: api.post("/scores", json={"game": authoritative, "score": 1}, headers=player.auth)).status_code == 403
    by_key = once_known(lambda: api.post("/scores", json={"game": authoritative, "score": 1, "userId": player.id}, headers=key_auth(key)))
    assert by_key.status_code == 403
    assert once_known(lambda: api.post("/scores", json={"game": archived, "score": 1}, headers=player.auth)).status_code == 409
    expected = {"bounds": 2, "forbidden": 2, "archived": 1, "rate": 0, "banned": 0}

    has_bans = run_sql(stack_env, "SELECT count(*) FROM information_schema.columns WHERE table_name = 'users' AND column_name = 'banned_at'")
    if has_bans == [["1"]]:
        banned = new_player(api, "Banned Player")
        run_sql(stack_env, "UPDATE users SET banned_at = now() WHERE id = :'id'", id=str(banned.id))
        answer = once_known(lambda: api.post("/scores", json={"game": bounded, "score": 1, "userId": banned.id}, headers=key_auth(key)))
        assert answer.status_code == 403 and answer.json()["message"] == f"user {banned.id} is banned"
        expected["banned"] = 1

    after = rejected(base_url)
    assert {reason: after[reason] - before[reason] for reason in expected} == expected


def test_leaderboardctl_creates_lists_and_revokes_keys(api: Api, stack: Stack, stack_env: dict[str, str], games: dict[str, str]) -> None:
    game = games["shell"]
    player = new_player(api, "Shell Served")
    created = leaderboardctl(stack.directory, "api-keys", "create", "Shell servers", "--game", game).stdout.splitlines()
    key_id = created[0].split()[3]
    assert created[0] == f"created API key {key_id} (Shell servers) for games {game}"
    key = created[1]
    assert once_known(lambda: api.post("/scores", json={"game": game, "score": 9, "userId": player.id}, headers=key_auth(key))).status_code == 200
    listed = [line for line in leaderboardctl(stack.directory, "api-keys", "list").stdout.splitlines() if line.startswith(key_id + "  ")]
    assert len(listed) == 1 and key[:12] in listed[0] and key not in listed[0] and listed[0].endswith("active")

    assert "is revoked" in leaderboardctl(stack.directory, "api-keys", "revoke", key_id).stdout
    assert api.post("/scores", json={"game": game, "score": 10, "userId": player.id}, headers=key_auth(key)).status_code == 401
    refused = leaderboardctl(stack.directory, "api-keys", "create", "Nowhere", "--game", "no-such-game", check=False)
    assert refused.returncode != 0 and "unknown games: 'no-such-game'" in refused.stderr
    audit = run_sql(stack_env, "SELECT action, actor FROM audit_log WHERE target = :'target' ORDER BY id", target=f"api_key:{key_id}")
    assert audit == [["api_key.create", "leaderboardctl"], ["api_key.revoke", "leaderboardctl"]]
