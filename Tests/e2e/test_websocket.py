"""The WebSocket API (/ws/v1) end to end, as a client sees it (issue 5: real time).

Clients connect through nginx, as a browser would, except where a test is about
one ws daemon in particular (the two-node tests): those connect to a daemon's
own port. Every test has its own players, watches boards whose current top it
reads first and submits scores above it, and waits for what it expects with a
bounded receive, never a sleep. A client that reads nothing is test_ws_limits'.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import re
import signal
import subprocess
import time
import uuid
from typing import Any, Callable

import jwt
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection

from conftest import (
    PASSWORD,
    Api,
    LogWatch,
    Player,
    Sockets,
    Stack,
    close_code,
    new_player,
    receive_json,
    receive_until,
    run_sql,
    wait_until,
)
from test_auth import FORGERIES, forged_tokens
from test_moderation import admin, new_game  # noqa: F401 (fixtures)

MAX_SCORE = 10**9
ACCOUNT_PATHS = ["/ws/v1/scores", "/ws/v1/my-score", "/ws/v1/add-score", "/ws/v1/reports"]
# The routes that serve no one without an account; the boards and reports serve anonymous clients too.
ACCOUNT_ONLY_PATHS = ["/ws/v1/my-score", "/ws/v1/add-score"]
ROW_KEYS = {"rank", "userId", "player", "game", "score", "date"}
SUBMISSION_KEYS = {"ok", "game", "score", "best", "improved", "rank", "globalRank"}
POLICY_VIOLATION, GOING_AWAY, MESSAGE_TOO_BIG = 1008, 1001, 1009


# --- helpers -------------------------------------------------------------------


def today() -> str:
    return datetime.datetime.now(datetime.timezone.utc).date().isoformat()


def board_top(api: Api, player: Player, game: str) -> int:
    """The best score on a game's all-time board (0 when it is empty), read over REST."""
    response = api.get(f"/leaderboards/{game}", params={"start": 0, "end": 0}, headers=player.auth)
    assert response.status_code == 200, response.text
    rows = response.json()["data"]["result"]
    return rows[0]["score"] if rows else 0


def score_above_top(api: Api, player: Player, game: str, room: int = 1) -> int:
    """A score that tops the board, leaving `room` - 1 higher scores below the game's maximum."""
    score = board_top(api, player, game) + 1
    assert score + room - 1 <= MAX_SCORE, f"the {game} board's top is too close to {MAX_SCORE} for this test"
    return score


def submit(api: Api, player: Player, game: str, score: int) -> dict[str, Any]:
    response = api.post("/scores", json={"game": game, "score": score}, headers=player.auth)
    assert response.status_code == 200, response.text
    return response.json()["data"]


def watch(
    sockets: Sockets, player: Player, game: str, start: int = 0, end: int = 9, **options: Any
) -> tuple[ClientConnection, dict]:
    """Opens /ws/v1/scores, asks for a page and returns the socket and the page it got at once."""
    socket_ = sockets.open("/ws/v1/scores", player.token, **options)
    socket_.send(json.dumps({"game": game, "start": start, "end": end}))
    page = receive_json(socket_)
    assert set(page) == {"result", "totalCount", "game", "period", "start", "end"}, page
    assert (page["game"], page["period"], page["start"], page["end"]) == (game, "all-time", start, end), "the push names its view"
    return socket_, page


def tops(player: Player, score: int) -> Callable[[dict], bool]:
    """True for a board page whose first row is `player` with `score`."""

    def check(page: dict) -> bool:
        rows = page.get("result") or []
        return bool(rows) and rows[0]["userId"] == player.id and rows[0]["score"] == score

    return check


def standing_of(player: Player, score: int) -> Callable[[dict], bool]:
    """True for a /my-score push that shows `player` with a global total of `score`."""

    def check(message: dict) -> bool:
        row = message.get("result")
        return row is not None and row["userId"] == player.id and row["score"] == score

    return check


def assert_next(socket_: ClientConnection, expected: Callable[[dict], bool], what: str) -> None:
    """The next message satisfies expected. After a change that must push nothing, make a change that
    must push and check it comes first: the daemon handles events in order, so an unwanted push would
    have arrived before it (an event, where waiting a while for silence would be a guess)."""
    message = receive_json(socket_)
    assert expected(message), f"{what}; first came {message!r:.300}"


def assert_error(message: Any, *fragments: str) -> None:
    """`{"error": "<reason>"}`, the reason mentioning each fragment."""
    assert isinstance(message, dict) and set(message) == {"error"}, message
    assert isinstance(message["error"], str) and message["error"], message
    for fragment in fragments:
        assert fragment in message["error"], message


def token_for(secret: str, player: Player, lifetime: int) -> str:
    """A token made by PyJWT, as the predecessor made them, with a jti so that it can be revoked."""
    now = int(time.time())
    claims = {"id": player.id, "name": player.name, "email": player.email, "iat": now, "exp": now + lifetime}
    return jwt.encode({**claims, "jti": uuid.uuid4().hex}, secret, algorithm="HS256")


# --- no account needed ---------------------------------------------------------


def test_the_welcome_socket_greets_and_echoes_without_a_token(sockets: Sockets) -> None:
    socket_ = sockets.open("/ws/v1/")

    assert socket_.recv(timeout=5) == "Welcome to your websocket server"
    for text in ["hello", '{"not": "parsed here"}', "ünïcödé ✓"]:
        socket_.send(text)
        assert socket_.recv(timeout=5) == text
    # The predecessor's path had no trailing slash either.
    assert sockets.open("/ws/v1").recv(timeout=5) == "Welcome to your websocket server"


# --- auth at the upgrade -------------------------------------------------------


@pytest.mark.parametrize("path", ACCOUNT_ONLY_PATHS)
def test_an_account_socket_without_a_token_is_accepted_then_closed_with_1008(sockets: Sockets, path: str) -> None:
    socket_ = sockets.open(path)
    if path != "/ws/v1/my-score":
        try:
            socket_.send('{"game": "cod", "score": 1}')
        except ConnectionClosed:
            pass  # the server may be quicker
    assert close_code(socket_, timeout=5) == POLICY_VIOLATION


# test_auth's forgeries, except a valid token for an account that does not exist: REST's board
# routes accept it too (only /auth/me looks the account up), and a submission with it is refused.
TOKEN_FAULTS = [name for name in FORGERIES if name != "an account that does not exist"] + ["revoked by logout"]


@pytest.mark.parametrize("transport", ["bearer", "cookie"])
@pytest.mark.parametrize("fault", TOKEN_FAULTS)
def test_a_forged_expired_or_revoked_token_closes_every_account_socket_with_1008(
    api: Api, sockets: Sockets, stack_env: dict[str, str], fault: str, transport: str
) -> None:
    player = new_player(api)
    if fault == "revoked by logout":
        token = player.token
        assert api.post("/auth/logout", session=api.new_session(), headers=player.auth).status_code == 200
    else:
        user = {"id": player.id, "name": player.name, "email": player.email}
        other = new_player(api)
        token = forged_tokens(stack_env["SECRET_KEY"], user, {"id": other.id, "name": other.name, "email": other.email})[fault]

    for path in ACCOUNT_PATHS:
        socket_ = sockets.open(path, token, cookie=transport == "cookie")
        assert close_code(socket_, timeout=5) == POLICY_VIOLATION, path


@pytest.mark.parametrize("transport", ["bearer", "cookie"])
def test_the_token_works_as_the_ath_cookie_or_a_bearer_header_on_every_account_socket(
    api: Api, sockets: Sockets, transport: str
) -> None:
    player = new_player(api, "Cookie Or Bearer")
    cookie = transport == "cookie"

    standing = sockets.open("/ws/v1/my-score", player.token, cookie=cookie)
    assert receive_json(standing) == {"result": None}, "a new player is on no board yet"

    board = sockets.open("/ws/v1/scores", player.token, cookie=cookie)
    # The predecessor's field name for the game.
    board.send(json.dumps({"channel": "cod", "start": 0, "end": 2}))
    page = receive_json(board)
    assert page["game"] == "cod" and page["totalCount"] >= len(page["result"]) and len(page["result"]) <= 3

    add = sockets.open("/ws/v1/add-score", player.token, cookie=cookie)
    # The predecessor's message shape.
    add.send(json.dumps({"score": 1234, "gameChannel": "fnite"}))
    answer = receive_json(add)
    assert set(answer) == SUBMISSION_KEYS, answer
    assert answer["ok"] is True and answer["game"] == "fnite" and answer["score"] == 1234 and answer["best"] == 1234
    assert answer["improved"] is True

    reports = sockets.open("/ws/v1/reports", player.token, cookie=cookie)
    reports.send(json.dumps({"start": today(), "end": today(), "limit": 3}))
    report = receive_json(reports)
    assert set(report) == {"result"} and isinstance(report["result"], list) and len(report["result"]) <= 3

    # The submission moved the player onto the global board.
    assert receive_until(standing, standing_of(player, 1234))


# --- live boards ---------------------------------------------------------------


def test_a_score_sent_over_the_socket_reaches_watchers_of_its_board_and_no_one_else(
    api: Api, sockets: Sockets
) -> None:
    """The acceptance check of issue 5."""
    watcher, submitter, bystander = new_player(api, "Watcher A"), new_player(api, "Submitter B"), new_player(api, "Bystander C")
    score = score_above_top(api, watcher, "cod")
    pubg_score = score_above_top(api, bystander, "pubg")

    a, first = watch(sockets, watcher, "cod", 0, 9)
    assert len(first["result"]) <= 10 and first["totalCount"] >= len(first["result"])
    assert all(set(row) == ROW_KEYS for row in first["result"]), first
    c, _ = watch(sockets, bystander, "pubg", 0, 9)
    b_standing = sockets.open("/ws/v1/my-score", submitter.token)
    assert receive_json(b_standing) == {"result": None}
    b = sockets.open("/ws/v1/add-score", submitter.token)

    b.send(json.dumps({"game": "cod", "score": score}))
    answer = receive_json(b)
    assert set(answer) == SUBMISSION_KEYS, answer
    assert answer["ok"] is True and answer["game"] == "cod" and answer["score"] == score and answer["best"] == score
    assert answer["improved"] is True and answer["rank"] == 1 and answer["globalRank"] >= 1

    # A gets the new page without asking.
    page = receive_until(a, tops(submitter, score), timeout=5)
    assert page["result"][0] == {
        "rank": 1, "userId": submitter.id, "player": "Submitter B", "game": "cod", "score": score, "date": today()
    }
    assert page["totalCount"] == first["totalCount"] + 1
    assert len(page["result"]) == min(10, page["totalCount"])
    assert [row["rank"] for row in page["result"]] == sorted(row["rank"] for row in page["result"])
    # B's standing follows.
    standing = receive_until(b_standing, standing_of(submitter, score), timeout=5)["result"]
    assert set(standing) == ROW_KEYS and standing["rank"] == answer["globalRank"]
    # C watches another game: nothing for it, until its own game changes.
    submit(api, bystander, "pubg", pubg_score)
    assert_next(c, tops(bystander, pubg_score), "C's first push is its own game's change")


def test_a_score_sent_over_rest_reaches_the_board_watchers(api: Api, sockets: Sockets) -> None:
    watcher, submitter = new_player(api, "Watcher"), new_player(api, "Rest Submitter")
    score = score_above_top(api, watcher, "cod")
    a, _ = watch(sockets, watcher, "cod", 0, 4)

    answer = submit(api, submitter, "cod", score)

    assert answer["rank"] == 1
    page = receive_until(a, tops(submitter, score), timeout=5)
    assert page["result"][0]["player"] == "Rest Submitter"


def test_a_page_further_down_is_pushed_when_a_score_enters_it(api: Api, sockets: Sockets) -> None:
    watcher, submitter = new_player(api), new_player(api)
    top = score_above_top(api, watcher, "mcft", room=3)
    submit(api, new_player(api), "mcft", top + 2)  # rank 1
    a, first = watch(sockets, watcher, "mcft", 1, 3)  # ranks 2..4

    submit(api, submitter, "mcft", top + 1)

    page = receive_until(a, tops(submitter, top + 1), timeout=5)
    assert page["result"][0]["rank"] == 2 and page["totalCount"] == first["totalCount"] + 1


def test_my_score_pushes_when_someone_else_passes_the_player(api: Api, sockets: Sockets) -> None:
    player, passer = new_player(api, "Passed"), new_player(api, "Passer")
    total = 5_000 + uuid.uuid4().int % 1_000_000
    submit(api, player, "cs", total)
    standing = sockets.open("/ws/v1/my-score", player.token)
    before = receive_until(standing, standing_of(player, total))["result"]

    submit(api, passer, "lol", total + 1)

    after = receive_until(standing, standing_of(player, total), timeout=5)["result"]
    assert after["rank"] == before["rank"] + 1
    assert after["game"] == before["game"] and after["player"] == "Passed"


def test_my_score_pushes_when_someone_above_falls_below_the_player(api: Api, sockets: Sockets, new_game: Callable[..., str]) -> None:
    # On a `latest` game a player's entry, and so their global total, can go down.
    game = new_game("latest", in_global=True)
    player, faller = new_player(api, "Stays"), new_player(api, "Falls")
    total = 5_000 + uuid.uuid4().int % 1_000_000
    submit(api, player, game, total)
    submit(api, faller, game, total + 1)
    standing = sockets.open("/ws/v1/my-score", player.token)
    before = receive_until(standing, standing_of(player, total))["result"]

    submit(api, faller, game, 1)

    after = receive_until(standing, standing_of(player, total), timeout=5)["result"]
    assert after["rank"] == before["rank"] - 1


def test_my_score_pushes_the_players_own_new_best_from_any_client(api: Api, sockets: Sockets) -> None:
    player = new_player(api)
    standing = sockets.open("/ws/v1/my-score", player.token)
    assert receive_json(standing) == {"result": None}

    submit(api, player, "ow", 70)
    assert receive_until(standing, standing_of(player, 70))
    submit(api, player, "rl", 30)
    assert receive_until(standing, standing_of(player, 100)), "the global board ranks the sum of the per-game bests"
    submit(api, player, "ow", 10)  # not a personal best: nothing changes
    submit(api, player, "ow", 80)
    assert_next(standing, standing_of(player, 110), "the first push after a score that is no best is the next best's")


def test_a_view_asked_for_after_a_scores_200_shows_that_score(api: Api, sockets: Sockets) -> None:
    # Each view is shown already (to a socket of its own), so a stale answer could come from what the daemon keeps,
    # before the score's event arrives. The asker switches to another view each time: its answer is the first message
    # naming that view (pushes of the view it watched before name that one).
    player = new_player(api, "Fresh Reader")
    rounds = 10
    for end in range(1, rounds + 1):
        watch(sockets, player, "valrnt", end=end)
    asker, _ = watch(sockets, player, "valrnt", end=0)
    top = score_above_top(api, player, "valrnt", room=rounds + 1)
    for end in range(1, rounds + 1):
        score = top + end
        submit(api, player, "valrnt", score)
        asker.send(json.dumps({"game": "valrnt", "start": 0, "end": end}))
        answer = receive_until(asker, lambda page: page.get("end") == end)
        assert tops(player, score)(answer), f"the answer for rows 0-{end} shows {answer['result'][:1]}, not {score}"


def test_resending_on_scores_switches_the_view(api: Api, sockets: Sockets) -> None:
    watcher, submitter = new_player(api), new_player(api)
    cod_score = score_above_top(api, watcher, "cod", room=2)
    mcft_score = score_above_top(api, watcher, "mcft", room=2)
    a, _ = watch(sockets, watcher, "cod", 0, 9)

    a.send(json.dumps({"game": "mcft", "start": 0, "end": 9}))
    switched = receive_json(a)
    assert all(row["game"] == "mcft" for row in switched["result"]), switched
    submit(api, submitter, "cod", cod_score)
    submit(api, submitter, "mcft", mcft_score)

    def mcft_update(score: int) -> Callable[[dict], bool]:
        def check(page: dict) -> bool:
            assert all(row["game"] == "mcft" for row in page["result"]), f"an update of the old view: {page}"
            return tops(submitter, score)(page)

        return check

    receive_until(a, mcft_update(mcft_score), timeout=5)
    submit(api, submitter, "cod", cod_score + 1)
    submit(api, submitter, "mcft", mcft_score + 1)
    assert_next(a, mcft_update(mcft_score + 1), "after the switch, a change of the old view pushes nothing")


def test_a_view_of_another_period_or_the_global_board_is_live_too(api: Api, sockets: Sockets) -> None:
    watcher, submitter = new_player(api), new_player(api)
    score = score_above_top(api, watcher, "valrnt")
    daily = sockets.open("/ws/v1/scores", watcher.token)
    daily.send(json.dumps({"game": "valrnt", "start": 0, "end": 0, "period": "daily", "date": today()}))
    receive_json(daily)
    weekly = sockets.open("/ws/v1/scores", watcher.token)
    weekly.send(json.dumps({"game": "all", "start": 0, "end": 0, "period": "weekly"}))
    before = receive_json(weekly)

    submit(api, submitter, "valrnt", score)

    assert receive_until(daily, tops(submitter, score))
    # A new player on the global board changes every page of it: totalCount is part of the page.
    receive_until(weekly, lambda page: page["totalCount"] == before["totalCount"] + 1)


def test_reports_over_the_socket_match_the_rest_report(api: Api, sockets: Sockets) -> None:
    player = new_player(api, "Reported")
    report_top = api.get("/reports/top", params={"start": today(), "limit": 1}, headers=player.auth).json()["data"]["result"]
    score = (report_top[0]["score"] if report_top else 0) + 1
    assert score <= MAX_SCORE
    submit(api, player, "ow", score)
    socket_ = sockets.open("/ws/v1/reports", player.token)

    socket_.send(json.dumps({"start": today(), "end": today(), "limit": 5}))
    report = receive_json(socket_)

    assert set(report) == {"result"} and 1 <= len(report["result"]) <= 5
    first = report["result"][0]
    assert {"rank", "userId", "name", "score", "games", "game", "date"} <= set(first), first
    assert (first["rank"], first["userId"], first["name"], first["score"]) == (1, player.id, "Reported", score)
    assert (first["game"], first["date"], first["games"]) == ("ow", today(), 1)
    rest = api.get("/reports/top", params={"start": today(), "end": today(), "limit": 5}, headers=player.auth)
    assert report["result"] == rest.json()["data"]["result"]

    # One game's report; `end` defaults to today.
    socket_.send(json.dumps({"start": today(), "limit": 1, "game": "ow"}))
    assert receive_json(socket_)["result"] == [first]


# --- bad messages and limits -------------------------------------------------


def test_bad_messages_get_an_error_and_the_socket_keeps_working(api: Api, sockets: Sockets) -> None:
    player = new_player(api)
    board = sockets.open("/ws/v1/scores", player.token)
    valid = json.dumps({"game": "cod", "start": 0, "end": 4})

    for bad, fragments in [
        ("{not json", ()),
        ("", ()),
        ("[1, 2]", ()),
        ('{"game": "cod", "start": 0, "end": 4,}', ()),
        ('{"game": "cod", "start": 0, "end": 4, "bogus": 1}', ("bogus",)),
        ('{"game": "cod", "start": "0", "end": 4}', ()),
        ('{"game": "cod", "start": 5, "end": 1}', ()),
        ('{"game": "cod", "start": 0, "end": 100}', ()),
        ('{"game": "cod", "start": 0, "end": 4, "period": "yearly"}', ()),
        ('{"game": "cod", "start": 0, "end": 4, "date": "2025-02-30"}', ()),
    ]:
        board.send(bad)
        assert_error(receive_json(board), *fragments)
    board.send(b"\x00\x01binary")
    assert_error(receive_json(board))
    board.send(valid)
    assert {"result", "totalCount"} <= set(receive_json(board))

    # A game that does not exist is refused once the board is looked up.
    board.send('{"game": "nope", "start": 0, "end": 4}')
    assert_error(receive_json(board))
    board.send(valid)
    assert {"result", "totalCount"} <= set(receive_json(board))

    add = sockets.open("/ws/v1/add-score", player.token)
    for bad in [
        "{oops",
        '{"game": "cod", "score": -1}',
        f'{{"game": "cod", "score": {MAX_SCORE + 1}}}',
        '{"game": "cod", "score": "7"}',
        '{"game": "cod", "score": 7.5}',
        '{"game": "nope", "score": 7}',
        '{"game": "all", "score": 7}',
        '{"game": "cod", "score": 7, "extra": true}',
    ]:
        add.send(bad)
        assert_error(receive_json(add))
    add.send('{"game": "cod", "score": 7}')
    assert receive_json(add)["ok"] is True
    history = api.get("/me/scores", headers=player.auth).json()["data"]["result"]
    assert [(entry["game"], entry["score"]) for entry in history] == [("cod", 7)], "a refused message stored nothing"

    reports = sockets.open("/ws/v1/reports", player.token)
    for bad in [
        '{"start": "yesterday"}',
        '{"end": "2025-01-01"}',
        f'{{"start": "{today()}", "limit": 0}}',
        '{"start": "2025-02-01", "end": "2025-01-01"}',
    ]:
        reports.send(bad)
        assert_error(receive_json(reports))
    reports.send(json.dumps({"start": today()}))
    assert set(receive_json(reports)) == {"result"}


def test_a_fragmented_message_is_reassembled(api: Api, sockets: Sockets) -> None:
    player = new_player(api)
    board = sockets.open("/ws/v1/scores", player.token)

    board.send(['{"game": ', '"cod", "st', 'art": 0, "end": 2}'])

    page = receive_json(board)
    assert page["game"] == "cod" and page["totalCount"] >= len(page["result"]) and len(page["result"]) <= 3
    echo = sockets.open("/ws/v1/")
    echo.recv(timeout=5)
    echo.send(["frag", "men", "ted"])
    assert echo.recv(timeout=5) == "fragmented"


def test_a_message_of_16_kib_passes_and_a_longer_one_closes_the_socket_with_1009(sockets: Sockets) -> None:
    echo = sockets.open("/ws/v1/")
    echo.recv(timeout=5)
    echo.send("x" * 16 * 1024)
    assert echo.recv(timeout=5) == "x" * 16 * 1024

    echo.send("x" * (16 * 1024 + 1))
    assert close_code(echo, timeout=5) == MESSAGE_TOO_BIG

    fragmented = sockets.open("/ws/v1/")
    fragmented.recv(timeout=5)
    fragmented.send(["y" * 1024] * 17)
    assert close_code(fragmented, timeout=5) == MESSAGE_TOO_BIG


def test_a_client_flooding_messages_is_told_to_slow_down_then_closed(sockets: Sockets) -> None:
    echo = sockets.open("/ws/v1/")
    echo.recv(timeout=5)
    try:
        for index in range(300):
            echo.send(f"message {index}")
    except ConnectionClosed:
        pass  # closed while still sending: what this test expects
    replies = []
    code = None
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            replies.append(echo.recv(timeout=deadline - time.monotonic()))
        except TimeoutError:
            continue
        except ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd else None
            break
    errors = [reply for reply in replies if reply.startswith("{")]
    assert errors and "too many messages" in json.loads(errors[0])["error"], replies[-5:]
    assert replies[0] == "message 0"
    assert code == POLICY_VIOLATION


# --- tokens that stop being valid while connected --------------------------------


def test_a_token_revoked_by_logout_closes_its_open_socket_with_1008(api: Api, sockets: Sockets) -> None:
    player, other = new_player(api), new_player(api)
    standing = sockets.open("/ws/v1/my-score", player.token)
    assert receive_json(standing) == {"result": None}
    unaffected = sockets.open("/ws/v1/my-score", other.token)
    receive_json(unaffected)

    assert api.post("/auth/logout", headers=player.auth).status_code == 200

    # The logout tells the daemons at once (and they check the open sockets' tokens every 15 s anyway).
    assert close_code(standing, timeout=5) == POLICY_VIOLATION
    unaffected.send("refresh")
    assert receive_json(unaffected) == {"result": None}, "another player's socket stays open, and got nothing before this answer"


def test_a_token_revoked_by_logout_adds_no_score_on_a_socket_opened_before(api: Api, sockets: Sockets) -> None:
    player = new_player(api)
    add = sockets.open("/ws/v1/add-score", player.token)
    add.send('{"game": "fnite", "score": 17}')
    assert receive_json(add)["ok"] is True

    assert api.post("/auth/logout", headers=player.auth).status_code == 200
    # The daemon closes the socket once the logout tells it; a score sent before that is refused by the statement
    # that stores scores, which closes the socket too. Either way nothing is stored.
    with contextlib.suppress(ConnectionClosed):
        add.send('{"game": "fnite", "score": 18}')
    assert close_code(add, timeout=5) == POLICY_VIOLATION
    login = api.post("/auth/login", json={"email": player.email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    fresh = {"Authorization": f"Bearer {login.json()['data']['token']}"}
    scores = api.get("/me/scores", headers=fresh).json()["data"]["result"]
    assert [entry["score"] for entry in scores] == [17], "only the score sent before the logout is stored"


def test_a_token_that_expires_while_connected_closes_its_socket_with_1008(
    api: Api, sockets: Sockets, stack_env: dict[str, str]
) -> None:
    player = new_player(api)
    token = token_for(stack_env["SECRET_KEY"], player, lifetime=3)
    board = sockets.open("/ws/v1/scores", token)
    board.send(json.dumps({"game": "cod", "start": 0, "end": 0}))
    # Less than a minute is left from the start: the client is told at once.
    notice = receive_until(board, lambda message: "event" in message)
    assert notice["event"] == "token-expiring" and 0 <= notice["in"] <= 3, notice
    receive_until(board, lambda message: {"result", "totalCount"} <= set(message))

    assert close_code(board, timeout=10) == POLICY_VIOLATION


# --- renewal in place ---------------------------------------------------------------


def pass_the_expiry_of(socket_: ClientConnection, token: str) -> list[Any]:
    """Reads what the socket gets until the token's `exp` has passed by a second; fails if it closes meanwhile."""
    expires_at = jwt.decode(token, options={"verify_signature": False})["exp"]
    messages = []
    while time.time() < expires_at + 1:
        try:
            messages.append(json.loads(socket_.recv(timeout=max(0.1, expires_at + 1 - time.time()))))
        except TimeoutError:
            continue
    return messages


def test_a_socket_renewed_in_place_keeps_its_view_and_pushes_past_the_first_tokens_expiry(
    api: Api, sockets: Sockets, stack_env: dict[str, str]
) -> None:
    player, rival = new_player(api, "Renewing"), new_player(api, "Renewal Rival")
    short = token_for(stack_env["SECRET_KEY"], player, lifetime=4)
    board = sockets.open("/ws/v1/scores", short)
    board.send(json.dumps({"game": "cod", "start": 0, "end": 0}))
    assert receive_until(board, lambda message: "event" in message)["event"] == "token-expiring"

    # A token from the login: the same account, valid for the stack's whole lifetime.
    board.send(json.dumps({"auth": player.token}))
    renewed = receive_until(board, lambda message: message.get("event") == "token-renewed")
    assert renewed["in"] > 60, renewed
    pass_the_expiry_of(board, short)

    score = score_above_top(api, rival, "cod")
    submit(api, rival, "cod", score)
    receive_until(board, tops(rival, score), timeout=10)


def test_a_renewal_with_another_accounts_token_closes_the_socket_with_1008(api: Api, sockets: Sockets) -> None:
    player, other = new_player(api, "Owner"), new_player(api, "Intruder")
    standing = sockets.open("/ws/v1/my-score", player.token)
    assert receive_json(standing) == {"result": None}
    standing.send(json.dumps({"auth": other.token}))
    assert close_code(standing, timeout=5) == POLICY_VIOLATION


def test_a_renewal_with_a_token_that_does_not_hold_is_refused_and_the_socket_keeps_its_own(
    api: Api, sockets: Sockets, stack_env: dict[str, str]
) -> None:
    player = new_player(api, "Kept")
    standing = sockets.open("/ws/v1/my-score", player.token)
    assert receive_json(standing) == {"result": None}
    for bad in [token_for("another secret, long enough to sign", player, 600), token_for(stack_env["SECRET_KEY"], player, -5)]:
        standing.send(json.dumps({"auth": bad}))
        assert_error(receive_json(standing))
    standing.send(json.dumps({"auth": 12}))
    assert_error(receive_json(standing), "auth")
    standing.send("refresh")
    assert receive_json(standing) == {"result": None}


# --- anonymous clients --------------------------------------------------------------


def test_an_anonymous_board_socket_gets_pushes_and_reports_but_cannot_submit(api: Api, sockets: Sockets) -> None:
    player = new_player(api, "Seen Anonymously")
    board = sockets.open("/ws/v1/scores")
    board.send(json.dumps({"game": "cod", "start": 0, "end": 0}))
    assert {"result", "totalCount"} <= set(receive_json(board))
    score = score_above_top(api, player, "cod")
    submit(api, player, "cod", score)
    receive_until(board, tops(player, score), timeout=10)

    reports = sockets.open("/ws/v1/reports")
    reports.send(json.dumps({"start": today(), "end": today(), "limit": 5}))
    assert "result" in receive_json(reports)

    submitter = sockets.open("/ws/v1/add-score")
    with contextlib.suppress(ConnectionClosed):
        submitter.send(json.dumps({"game": "cod", "score": 1}))
    assert close_code(submitter, timeout=5) == POLICY_VIOLATION
    assert board_top(api, player, "cod") == score, "nothing was submitted"


# --- a daemon going away -----------------------------------------------------------


def test_sigterm_closes_the_clients_with_1001_and_the_supervisor_restarts_the_daemon(
    api: Api, sockets: Sockets, stack: Stack
) -> None:
    """Every ws node gets SIGTERM, so every client (through nginx, or on a node directly) is affected."""
    player = new_player(api)
    clients = [sockets.open("/ws/v1/my-score", player.token) for _ in range(2)]
    clients += [sockets.open("/ws/v1/my-score", player.token, address=stack.ws_address(node)) for node in stack.ws_services]
    for client in clients:
        receive_json(client)
    old = {node: stack.pid(node) for node in stack.ws_services}
    logs = {node: LogWatch(stack.log_path(node)) for node in stack.ws_services}

    for node, pid in old.items():
        assert pid is not None, f"{node} is not running"
        os.kill(pid, signal.SIGTERM)

    for client in clients:
        assert close_code(client, timeout=10) == GOING_AWAY
    for node, pid in old.items():
        exit_line = re.compile(rf"supervisor: leaderboard-ws exited with status (\d+) \(pid {pid}\)")
        match = wait_until(lambda: exit_line.search(logs[node].new_text()), timeout=15, message=f"{node} to exit")
        assert match.group(1) == "0", f"{node} exited with status {match.group(1)} on SIGTERM"
        wait_until(lambda: stack.pid(node) not in (None, pid), timeout=15, message=f"the supervisor to restart {node}")

    def welcomed(address: tuple[str, int] | None = None) -> bool:
        return sockets.open("/ws/v1/", address=address).recv(timeout=5) == "Welcome to your websocket server"

    for node in stack.ws_services:
        wait_until(lambda: welcomed(stack.ws_address(node)), timeout=15, ignoring=(OSError,), message=f"{node} serving again")
    assert welcomed()


def test_sigterm_lets_a_store_job_in_flight_answer_before_1001_and_the_daemon_exits_0(
    api: Api, sockets: Sockets, stack: Stack, stack_env: dict[str, str]
) -> None:
    """A submission held in PostgreSQL by a lock when SIGTERM arrives still answers, then every client gets 1001."""
    player, watcher = new_player(api, "Stopping B"), new_player(api, "Stopping W")
    score = score_above_top(api, player, "rl")
    address = stack.ws_address("ws")
    standing = sockets.open("/ws/v1/my-score", watcher.token, address=address)
    assert receive_json(standing) == {"result": None}
    submitter = sockets.open("/ws/v1/add-score", player.token, address=address)
    pid = stack.pid("ws")
    assert pid is not None, "ws is not running"
    log = LogWatch(stack.log_path("ws"))

    # Reads go on; inserts into scores wait until the locker ends its transaction.
    locker = subprocess.Popen(
        ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", stack_env["PG_SERVER"], "-p", stack_env["PG_PORT"],
         "-U", stack_env["PG_USER"], "-d", stack_env["PG_DB"]],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env={**os.environ, "PGPASSWORD": stack_env["PG_PW"]},
    )
    try:
        assert locker.stdin is not None
        locker.stdin.write("BEGIN; LOCK TABLE scores IN EXCLUSIVE MODE; SELECT 'locked';\n")
        locker.stdin.flush()
        lock_held = (
            "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation"
            " WHERE c.relname = 'scores' AND l.mode = 'ExclusiveLock' AND l.granted"
        )
        wait_until(lambda: int(run_sql(stack_env, lock_held)[0][0]) >= 1, timeout=10, message="the lock on scores")
        submitter.send(json.dumps({"game": "rl", "score": score}))
        # The statement that stores scores begins so (pg_stat_activity keeps only its first 1 KiB).
        waiting_insert = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'WITH input AS (%'"
        wait_until(lambda: int(run_sql(stack_env, waiting_insert)[0][0]) >= 1, timeout=10, message="the submission to wait for the lock")

        os.kill(pid, signal.SIGTERM)
        wait_until(lambda: "shutting down" in log.new_text(), timeout=10, message="ws to start shutting down")
        locker.stdin.write("COMMIT;\n")
        locker.stdin.close()
        assert locker.wait(timeout=10) == 0
    finally:
        if locker.poll() is None:
            locker.kill()
            locker.wait()

    answer = receive_json(submitter, timeout=10)
    assert answer["ok"] is True and answer["score"] == score, answer
    assert close_code(submitter, timeout=10) == GOING_AWAY
    assert close_code(standing, timeout=10) == GOING_AWAY
    exit_line = re.compile(rf"supervisor: leaderboard-ws exited with status (\d+) \(pid {pid}\)")
    match = wait_until(lambda: exit_line.search(log.new_text()), timeout=15, message="ws to exit")
    assert match.group(1) == "0", f"ws exited with status {match.group(1)} on SIGTERM"
    assert board_top(api, player, "rl") == score, "the score was applied to the board, not only stored"
    wait_until(lambda: stack.pid("ws") not in (None, pid), timeout=15, message="the supervisor to restart ws")
    wait_until(
        lambda: sockets.open("/ws/v1/", address=address).recv(timeout=5) == "Welcome to your websocket server",
        timeout=15, ignoring=(OSError,), message="ws serving again",
    )


# --- two nodes -------------------------------------------------------------------


def needs_two_nodes(stack: Stack) -> None:
    if stack.nodes < 2:
        pytest.skip("needs the two-node stack (NODES=2, the default of make test)")


def test_a_score_reaches_the_clients_of_both_ws_nodes(api: Api, sockets: Sockets, stack: Stack) -> None:
    needs_two_nodes(stack)
    watcher, submitter = new_player(api), new_player(api)
    score = score_above_top(api, watcher, "cod", room=3)
    one, _ = watch(sockets, watcher, "cod", 0, 9, address=stack.ws_address("ws"))
    two, _ = watch(sockets, watcher, "cod", 0, 9, address=stack.ws_address("ws2"))

    # Through nginx, to either api pool.
    submit(api, submitter, "cod", score)
    for client in (one, two):
        receive_until(client, tops(submitter, score), timeout=5)

    # Over a socket of one node, to the clients of the other (and its own).
    for node, score in [("ws2", score + 1), ("ws", score + 2)]:
        adder = sockets.open("/ws/v1/add-score", submitter.token, address=stack.ws_address(node))
        adder.send(json.dumps({"game": "cod", "score": score}))
        assert receive_json(adder)["rank"] == 1
        for client in (one, two):
            receive_until(client, tops(submitter, score), timeout=5)


def test_after_kill_9_of_a_ws_node_clients_reconnect_through_nginx_and_the_node_comes_back(
    api: Api, sockets: Sockets, stack: Stack
) -> None:
    needs_two_nodes(stack)
    player = new_player(api)
    on_node_one, _ = watch(sockets, player, "cod", 0, 0, address=stack.ws_address("ws"))
    old_pid = stack.pid("ws")
    log = LogWatch(stack.log_path("ws"))

    stack.kill_service("ws")

    assert close_code(on_node_one, timeout=5) in (None, 1006), "killed: no close frame"
    # Reconnecting through nginx works whether node 1 is back yet or not.
    for _ in range(6):
        watch(sockets, player, "cod", 0, 0)
    wait_until(lambda: stack.pid("ws") not in (None, old_pid), timeout=15, message="the supervisor to restart ws")
    assert "killed by signal KILL" in log.new_text()
    wait_until(
        lambda: watch(sockets, player, "cod", 0, 0, address=stack.ws_address("ws")), timeout=15, ignoring=(OSError,),
        message="ws serving again",
    )


def test_nginx_routes_around_a_stopped_node(api: Api, sockets: Sockets, stack: Stack) -> None:
    needs_two_nodes(stack)
    watcher, submitter = new_player(api), new_player(api)
    score = score_above_top(api, watcher, "cs")

    with stack.stopped("ws", "api"):
        # Every new socket and request lands on node 2.
        clients = [watch(sockets, watcher, "cs", 0, 0)[0] for _ in range(4)]
        for _ in range(4):
            assert api.get("/health").status_code == 200
        submit(api, submitter, "cs", score)
        for client in clients:
            receive_until(client, tops(submitter, score), timeout=5)


# --- a Redis restart -----------------------------------------------------------------
#
# After Redis restarts, each pooled Redis connection of the api pools fails the first request that
# uses it (503 "retry later", or 202 for a submission; RedisConnection notices a dead connection only
# by failing a command on it), so this test asks REST again until it answers; the stack fixture
# restarts the daemons after it, for the tests that follow.


def test_connected_clients_keep_getting_updates_across_a_redis_restart(api: Api, sockets: Sockets, stack: Stack) -> None:
    # valrnt: a board whose top stays below the maximum (rl's and fnite's reach it; see test_hostile).
    watcher, submitter = new_player(api), new_player(api)
    board, _ = watch(sockets, watcher, "valrnt", 0, 9)
    standing = sockets.open("/ws/v1/my-score", submitter.token)
    receive_json(standing)

    with stack.stopped("redis"):
        pass

    def score_above_the_rebuilt_top() -> int | None:
        # Redis came back empty: 503 until the api has rebuilt the index from PostgreSQL.
        response = api.get("/leaderboards/valrnt", params={"start": 0, "end": 0}, headers=watcher.auth)
        if response.status_code != 200:
            return None
        rows = response.json()["data"]["result"]
        return (rows[0]["score"] if rows else 0) + 1

    score = wait_until(score_above_the_rebuilt_top, timeout=30, message="the valrnt board readable again")
    assert score <= MAX_SCORE
    response = api.post("/scores", json={"game": "valrnt", "score": score}, headers=submitter.auth)
    # 202: stored, and applied (and announced) by the reconciler within a second or so.
    assert response.status_code in (200, 202), response.text

    # The same sockets, no reconnect: the daemon resubscribed on its own.
    receive_until(board, tops(submitter, score), timeout=15)
    receive_until(standing, standing_of(submitter, score), timeout=15)


def test_a_daemon_that_cannot_listen_where_ws_listen_says_stops_with_a_line_naming_it(stack: Stack) -> None:
    """An address that is not this machine's is a setting to correct: the daemon stops with exit status 78 (EX_CONFIG,
    which its unit does not restart) and says so in a line naming WS_LISTEN, as for any bad setting."""
    env = {**os.environ, "LEADERBOARD_ENV_FILE": str(stack.directory / "leaderboard.env"), "WS_LISTEN": "192.0.2.1:9000"}
    refused = subprocess.run([os.path.join(os.environ["BIN_DIR"], "leaderboard-ws")], env=env, capture_output=True, text=True,
                             timeout=60)
    assert refused.returncode == 78, refused.stderr
    last = refused.stderr.strip().splitlines()[-1]
    assert last.startswith("leaderboard-ws: WS_LISTEN: cannot listen on 192.0.2.1:9000: "), refused.stderr
