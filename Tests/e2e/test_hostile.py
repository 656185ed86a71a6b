"""Hostile input, tried systematically over REST and WebSocket through nginx (issue 9).

Each test is a generator: a list of fields (body fields, query parameters, headers, path segments,
WebSocket message fields) crossed with a list of payloads (SQL- and Lua-looking text, non-UTF-8
bytes, numbers in every wrong shape, unknown games, enormous pages, forged tokens, raw WebSocket
frames that break the protocol). Every input is counted; none may get a 500 or crash a daemon, and
none may be accepted with a bad value: what is accepted is stored verbatim, what is refused stores
nothing. The session's closing lines print how many inputs were tried and how many failed (see
`pytest_terminal_summary` in conftest). The single cases already in test_auth.py, test_scores.py and
test_websocket.py stay there; this suite is the cross product.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import os
import re
import socket
import struct
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Iterable
from urllib.parse import quote

import jwt
import pytest
import requests
from websockets.exceptions import ConnectionClosed

from conftest import (
    PASSWORD, Api, LogWatch, Player, Sockets, Stack, close_code, leaderboardctl, new_player, random_loopback_address, run_sql, unique_email, wait_until,
)
from test_auth import FORGERIES, forged_tokens

pytestmark = pytest.mark.usefixtures("envelope_audit")

JSON = {"Content-Type": "application/json"}
MAX_SCORE = 10**9

# --- the tally -------------------------------------------------------------------------------------

TALLY: dict[str, Any] = {"tried": Counter(), "failed": Counter(), "failures": []}
_tally_lock = threading.Lock()


class Probe:
    """Counts the inputs of one test and collects what went wrong; the test fails if anything did."""

    def __init__(self, group: str) -> None:
        self.group = group
        self.failures: list[str] = []

    def check(self, ok: bool, label: str, detail: Any = "") -> bool:
        with _tally_lock:
            TALLY["tried"][self.group] += 1
            if not ok:
                TALLY["failed"][self.group] += 1
                TALLY["failures"].append(f"{self.group}: {label}: {detail!s:.300}")
                self.failures.append(f"{label}: {detail!s:.300}")
        return ok

    def status(self, response: requests.Response, allowed: Iterable[int], label: str) -> bool:
        allowed = set(allowed)
        return self.check(response.status_code in allowed and response.status_code < 500, label,
                          f"{response.status_code} (expected {sorted(allowed)}): {response.text[:200]}")

    def done(self) -> None:
        assert not self.failures, f"{len(self.failures)} hostile inputs misbehaved:\n" + "\n".join(self.failures[:30])


def summary_lines() -> list[str]:
    """What pytest_terminal_summary prints: inputs tried and failures, in all and by group."""
    tried, failed = TALLY["tried"], TALLY["failed"]
    if not tried:
        return []
    groups = ", ".join(f"{group} {tried[group]}/{failed[group]}" for group in sorted(tried))
    return [
        f"hostile inputs: {sum(tried.values())} tried, {sum(failed.values())} failed (by group, tried/failed: {groups})",
        *TALLY["failures"][:20],
    ]


# --- payloads ----------------------------------------------------------------------------------------

# Text that means something to PostgreSQL, Lua, Redis's protocol, a shell or a template engine, and
# text that is merely odd. Stored verbatim where a field takes free text; refused where it names a game.
HOSTILE_TEXT = [
    "' OR '1'='1",
    "'; DROP TABLE users; --",
    '" OR 1=1 --',
    "1; SELECT pg_sleep(10) --",
    "$1",
    "%s%s%s%n",
    "\\",
    "\\'",
    "') ; DELETE FROM scores WHERE ('1'='1",
    "cod' --",
    "cod\u0000' OR 1=1",
    "all' UNION SELECT slug FROM games --",
    "redis.call('FLUSHALL')",
    "]] .. redis.call('FLUSHALL') .. [[",
    "'); redis.call('flushall'); --",
    "\") return redis.call('KEYS', '*') --",
    "lb:meta:gen",
    "lb:1:b:cod:all",
    "*",
    "\r\nFLUSHALL\r\n",
    "*1\r\n$8\r\nFLUSHALL\r\n",
    "{{7*7}}${7*7}<%= 7*7 %>",
    "<script>alert(1)</script>",
    "../../../../etc/passwd",
    "$(touch /tmp/pwned)",
    "\u202egnp.exe",
    "\U0001f600" * 20,
    "\ud7ff\ue000\uffff",
    "a" * 5000,
    "null",
    "",
    " ",
]

# JSON texts for a whole-number field, with what the server must make of them: the integer it
# stores, or None for a refusal (400 or 422, nothing stored).
NUMBERS: list[tuple[str, int | None]] = [
    ("7", 7), ("0", 0), ("1000000000", MAX_SCORE), ("7.0", 7), ("1E2", 100), ("1e2", 100), ("0.7e1", 7), ("-0", 0),
    ('"7"', None), ('"7.0"', None), ("7.5", None), ("-1", None), ("-0.5", None), ("1000000001", None),
    ("9223372036854775807", None), ("9223372036854775808", None), ("18446744073709551616", None),
    ("-9223372036854775809", None), ("1e400", None), ("-1e400", None), ("1e-400", None), ("true", None), ("false", None),
    ("null", None), ("[]", None), ("[7]", None), ("{}", None), ('{"value": 7}', None), ("NaN", None), ("Infinity", None),
    ("-Infinity", None), ("0x10", None), ("007", None), ("+7", None), (".5", None), ("7.", None), ("1_000", None), ('"\u0037"', None),
]

# Query-string values for whole-number parameters; all of them wrong in shape.
BAD_QUERY_NUMBERS = ["-1", "1.5", "1e3", "0x10", "abc", "99999999999999999999", "-99999999999999999999", "%00", "%FF", "1%200", "NaN",
                     "Infinity", "true", "[1]", "' OR 1=1 --"]


def today() -> str:
    return datetime.datetime.now(datetime.timezone.utc).date().isoformat()


def body_with(base: dict[str, Any], field: str, raw_value: str) -> bytes:
    """`base` as JSON with `field` set to the JSON text `raw_value` (which may be any JSON, or not JSON)."""
    rest = json.dumps({key: value for key, value in base.items() if key != field})
    return (rest[:-1] + (", " if len(rest) > 2 else "") + json.dumps(field) + ": " + raw_value + "}").encode()


# --- the stack must survive everything ------------------------------------------------------------------


@pytest.fixture(scope="module")
def daemons(_stack_session: Stack) -> Iterable[None]:
    """Fails the module if any api or ws process was restarted (a crash) or logged an unexpected error."""
    stack = _stack_session
    names = stack.api_services + stack.ws_services
    pids = {name: stack.pid(name) for name in names}
    logs = {name: LogWatch(stack.log_path(name)) for name in names}
    yield
    probe = Probe("daemons")
    for name in names:
        probe.check(stack.pid(name) == pids[name], f"{name} was restarted during the hostile suite", f"{pids[name]} -> {stack.pid(name)}")
        text = logs[name].new_text()
        for marker in ("exited with status", "unexpected error", "Fatal error", "fatal error"):
            probe.check(marker not in text, f"{name}'s log says '{marker}'", [line for line in text.splitlines() if marker in line][:3])
    probe.done()


@pytest.fixture(scope="module")
def hostile(base_url: str, daemons: None) -> Iterable[tuple[Api, Player]]:
    client = Api(base_url)
    yield client, new_player(client, "Hostile Tester")
    client.session.close()


def nginx_refuses_the_path(path: str) -> bool:
    """A path segment holding an encoded NUL, or climbing above the root: nginx answers 400 (in the envelope)
    before any location."""
    segments = path.split("?")[0]
    return "%00" in segments or "..%2F..%2F..%2F..%2F" in segments


def stored_scores(api: Api, player: Player) -> list[tuple[str, int]]:
    response = api.get("/me/scores", params={"limit": 100}, headers=player.auth)
    assert response.status_code == 200, response.text
    return [(entry["game"], entry["score"]) for entry in response.json()["data"]["result"]]


# --- tokens ------------------------------------------------------------------------------------------

PROTECTED = [
    ("GET", "/auth/me", None),
    ("POST", "/scores", {"game": "cod", "score": 5}),
    ("GET", "/leaderboards/cod", None),
    ("GET", "/leaderboards/all/me", None),
    ("GET", "/me/standing", None),
    ("GET", "/me/scores", None),
    ("GET", "/reports/top?start=2025-01-01", None),
    ("POST", "/admin/games", {"slug": "hostile-never", "label": "Never"}),
    ("PATCH", "/admin/games/cod", {"label": "Never"}),
    ("POST", "/admin/api-keys", {"name": "Never"}),
    ("GET", "/admin/api-keys", None),
    ("DELETE", "/admin/api-keys/1", None),
    ("GET", "/admin/users", None),
    ("POST", "/admin/users/1/ban", {"reason": "never"}),
    ("GET", "/admin/users/1/scores", None),
    ("DELETE", "/admin/scores/1", {"reason": "never"}),
    ("POST", "/admin/scores/1/restore", {"reason": "never"}),
    ("GET", "/admin/audit", None),
]
ACCOUNT_SOCKETS = ["/ws/v1/scores", "/ws/v1/my-score", "/ws/v1/add-score", "/ws/v1/reports"]


def all_forgeries(secret: str, api: Api, base_url: str) -> tuple[Player, dict[str, str]]:
    victim, other = new_player(api, "Forged Victim"), new_player(api, "Forged Other")
    tokens = forged_tokens(secret, {"id": victim.id, "name": victim.name, "email": victim.email},
                           {"id": other.id, "name": other.name, "email": other.email})
    now = int(time.time())
    claims = {"id": victim.id, "name": victim.name, "email": victim.email, "exp": now + 600, "jti": uuid.uuid4().hex}
    tokens["HS512 with our claims and jti"] = jwt.encode(claims, secret, algorithm="HS512")
    tokens["signed with the secret's first half"] = jwt.encode(claims, secret[: len(secret) // 2], algorithm="HS256")
    tokens["exp as a string in the past"] = jwt.encode({**claims, "exp": str(now - 10)}, secret, algorithm="HS256")
    tokens["exp far in the past"] = jwt.encode({**claims, "exp": 1}, secret, algorithm="HS256")
    tokens["negative user id"] = jwt.encode({**claims, "id": -victim.id}, secret, algorithm="HS256")
    tokens["user id as float"] = jwt.encode({**claims, "id": victim.id + 0.5}, secret, algorithm="HS256")
    tokens["header and payload swapped"] = ".".join(reversed(tokens["HS512 with our claims and jti"].split(".")[:2])) + "." + tokens["expired"].split(".")[2]
    tokens["non-UTF-8 bytes"] = "\xff\xfe.\xff.\xff"
    tokens["SQL in the token"] = "' OR '1'='1"
    # A real token of the victim's, revoked by logging out with it.
    revoked = jwt.encode({**claims, "jti": uuid.uuid4().hex}, secret, algorithm="HS256")
    assert api.get("/auth/me", session=api.new_session(), headers={"Authorization": f"Bearer {revoked}"}).status_code == 200
    assert api.post("/auth/logout", session=api.new_session(), headers={"Authorization": f"Bearer {revoked}"}).status_code == 200
    tokens["revoked by logout"] = revoked
    return victim, tokens


def test_forged_expired_and_revoked_tokens_are_refused_by_every_protected_route_and_socket(
    hostile: tuple[Api, Player], stack_env: dict[str, str], sockets: Sockets, base_url: str
) -> None:
    api, _ = hostile
    probe = Probe("tokens")
    victim, tokens = all_forgeries(stack_env["SECRET_KEY"], api, base_url)
    assert len(tokens) >= len(FORGERIES)
    session = api.new_session()
    for name, token in tokens.items():
        for transport in ("bearer", "cookie"):
            headers = {"Authorization": f"Bearer {token}"} if transport == "bearer" else {"Cookie": f"ath={token}"}
            for method, path, body in PROTECTED:
                response = api.request(method, path, session=session, json=body, headers=headers)
                # A token signed with our secret for an account that does not exist (deleted, say) still reads
                # public boards until it expires; what is about the account (me, standing, history, a
                # submission) refuses it.
                about_the_account = ("/auth/me", "/scores", "/me/standing", "/me/scores") + tuple(path for _, path, _ in PROTECTED if path.startswith("/admin/"))
                allowed = [401] if name != "an account that does not exist" or path in about_the_account else [200, 404]
                probe.status(response, allowed, f"{name} ({transport}) on {method} {path}")
        for path in ACCOUNT_SOCKETS:
            # API.md: the upgrade is accepted, then the socket is closed with 1008. A refused upgrade (a 500,
            # say) or a socket left open is a failure, not a refusal.
            try:
                socket_ = sockets.open(path, token)
            except Exception as error:  # noqa: BLE001 - any failed handshake is recorded as such
                probe.check(False, f"{name} on {path}", f"handshake failed: {error!r}")
                continue
            try:
                code: int | str | None = close_code(socket_, timeout=5)
            except AssertionError as error:
                code = str(error)
            probe.check(code == 1008, f"{name} on {path}", f"got {code}, expected an accepted upgrade, then close 1008")
        sockets.close_all()
    probe.check(stored_scores(api, victim) == [], "a forged token stored a score", stored_scores(api, victim))
    probe.done()


# --- refresh tokens -------------------------------------------------------------------------------------


def refresh_forgeries(real: str, spent_elsewhere: str, access_token: str) -> dict[str, str]:
    """Refresh tokens made from a real one (and others that are not one), none of which may refresh anything."""
    flipped = real[:-1] + ("A" if real[-1] != "A" else "B")
    return {
        "last character changed": flipped,
        "one character short": real[:-1],
        "one character more": real + "A",
        "padded with =": real + "=",
        "standard base64 alphabet": real.replace("-", "+").replace("_", "/") if ("-" in real or "_" in real) else "+" + real[1:],
        "upper case": real.upper() if real.upper() != real else real.lower(),
        "with spaces around": f" {real} ",
        "URL-encoded": quote(real, safe="") + "%00",
        "its stored hash": hashlib.sha256(real.encode()).hexdigest(),
        "its hash, base64url": base64.urlsafe_b64encode(hashlib.sha256(real.encode()).digest()).decode().rstrip("="),
        "the access token": access_token,
        "another player's spent token": spent_elsewhere,
        "NUL inside": real[:20] + "\u0000" + real[21:],
        "43 zero bytes' worth": "A" * 43,
        **{f"hostile text {index}": text for index, text in enumerate(HOSTILE_TEXT) if text},
    }


def test_forged_and_replayed_refresh_tokens_refresh_nothing_and_forgeries_revoke_nothing(
    hostile: tuple[Api, Player], sockets: Sockets, base_url: str
) -> None:
    api, _ = hostile
    probe = Probe("refresh tokens")
    victim = new_player(api, "Refresh Victim")
    login = api.post("/auth/login", json={"email": victim.email, "password": PASSWORD}).json()["data"]
    other = new_player(api, "Refresh Other")
    other_first = api.post("/auth/login", json={"email": other.email, "password": PASSWORD}).json()["data"]["refreshToken"]
    assert api.post("/auth/refresh", json={"refreshToken": other_first}).status_code == 200
    # nginx limits /api/v1/auth/ per address: a client of its own for each forgery, as many attackers would be.
    for name, forged in refresh_forgeries(login["refreshToken"], other_first, login["token"]).items():
        client = Api(base_url)
        probe.status(client.post("/auth/refresh", json={"refreshToken": forged}), [401, 422], f"{name} in the body")
        # A cookie's value is read without the spaces around it (RFC 6265), so that one is the real token.
        if forged.isascii() and forged.isprintable() and ";" not in forged and forged.strip() == forged:
            probe.status(client.post("/auth/refresh", headers={"Cookie": f"rth={forged}"}), [401], f"{name} as the cookie")
    for value in [12, 1.5, True, None, [], {}, [login["refreshToken"]], {"token": login["refreshToken"]}]:
        response = Api(base_url).post("/auth/refresh", json={"refreshToken": value})
        probe.status(response, [401, 422], f"refreshToken {value!r}")
    # A refresh token is no access token, by either transport, on REST or a socket.
    for headers in ({"Authorization": f"Bearer {login['refreshToken']}"}, {"Cookie": f"ath={login['refreshToken']}"}):
        response = Api(base_url).get("/auth/me", headers=headers)
        probe.status(response, [401], f"the refresh token as an access token {headers}")
    session = Api(base_url).session
    socket_ = sockets.open("/ws/v1/my-score", login["refreshToken"])
    probe.check(close_code(socket_, timeout=5) == 1008, "the refresh token as a socket's token")
    # None of that was a replay: the victim's session goes on.
    renewed = api.post("/auth/refresh", session=session, json={"refreshToken": login["refreshToken"]})
    probe.status(renewed, [200], "the victim's own refresh after the forgeries")
    newest = renewed.json()["data"]["refreshToken"] if renewed.status_code == 200 else ""

    # The spent token, replayed at once from many clients: all refused, and the family is gone for the holder too.
    with ThreadPoolExecutor(max_workers=8) as pool:
        replays = list(pool.map(lambda _: Api(base_url).post("/auth/refresh", json={"refreshToken": login["refreshToken"]}), range(8)))
    for response in replays:
        probe.status(response, [401], "a replayed spent token")
    probe.status(api.post("/auth/refresh", session=session, json={"refreshToken": newest}), [401], "the holder's newest token after the replay")
    probe.done()


def test_one_refresh_token_raced_from_many_clients_refreshes_once_and_ends_its_session(hostile: tuple[Api, Player]) -> None:
    api, _ = hostile
    probe = Probe("refresh tokens")
    player = new_player(api, "Refresh Race")
    token = api.post("/auth/login", json={"email": player.email, "password": PASSWORD}).json()["data"]["refreshToken"]
    barrier = threading.Barrier(8)

    def race(_: int) -> requests.Response:
        session = api.new_session()
        barrier.wait(timeout=10)
        return api.post("/auth/refresh", session=session, json={"refreshToken": token})

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(race, range(8)))
    statuses = sorted(response.status_code for response in answers)
    probe.check(statuses == [200] + [401] * 7, "one token raced from 8 clients", statuses)
    winner = next((response.json()["data"]["refreshToken"] for response in answers if response.status_code == 200), None)
    if winner:
        # The losers presented a spent token: the family is revoked, the winner's successor with it.
        probe.status(api.post("/auth/refresh", json={"refreshToken": winner}), [401], "the race winner's successor")
    probe.done()


# --- free text in every field ----------------------------------------------------------------------------


def test_sql_and_lua_looking_text_in_every_account_field_is_stored_verbatim_or_refused(hostile: tuple[Api, Player]) -> None:
    api, _ = hostile
    probe = Probe("text: accounts")
    for payload in HOSTILE_TEXT:
        for field in ("email", "name", "password"):
            body = {"email": unique_email("Hostile"), "name": "Hostile Name", "password": "hostile password"}
            body[field] = payload if field != "email" else payload + body["email"]
            client = Api(api.base_url)
            response = client.post("/auth/signup", json=body)
            if not probe.status(response, [201, 422], f"signup with {field}={payload[:40]!r}"):
                continue
            if response.status_code != 201:
                continue
            user = response.json()["data"]
            probe.check(user["name"] == body["name"].strip(), f"the name {payload[:40]!r} came back changed", user["name"])
            login = client.post("/auth/login", json={"email": body["email"], "password": body["password"]})
            probe.check(login.status_code == 200, f"the account with {field}={payload[:40]!r} cannot log in", login.text)
            if login.status_code == 200:
                me = client.get("/auth/me", headers={"Authorization": f"Bearer {login.json()['data']['token']}"}).json()["data"]
                probe.check(me == user | {"role": "player"}, f"/auth/me differs from the signup's answer for {field}={payload[:40]!r}", me)
            client.session.close()
        for field in ("email", "password"):
            client = Api(api.base_url)
            body = {"email": "nobody@example.com", "password": "whatever it is"}
            body[field] = payload
            probe.status(client.post("/auth/login", json=body), [401, 422, 429], f"login with {field}={payload[:40]!r}")
            client.session.close()
    probe.done()


def test_hostile_text_as_a_game_header_or_query_value_is_refused_and_stores_nothing(hostile: tuple[Api, Player]) -> None:
    api, player = hostile
    probe = Probe("text: scores and boards")
    auth = player.auth
    before = stored_scores(api, player)
    games_before = api.get("/games").json()["data"]
    for payload in HOSTILE_TEXT:
        for field in ("game", "gameChannel"):
            response = api.post("/scores", json={field: payload, "score": 3}, headers=auth)
            probe.status(response, [422], f"POST /scores {field}={payload[:40]!r}")
        response = api.post("/scores", json={"game": "cod", "score": 3, payload or "x": payload}, headers=auth)
        probe.status(response, [200], f"POST /scores with an extra field {payload[:40]!r}")
        key = payload.encode("utf-8")[:200].decode("utf-8", "ignore").replace("\r", "").replace("\n", "").replace("\x00", "")
        if key.strip():
            response = api.post("/scores", json={"game": "ow", "score": 4}, headers={**auth, "Idempotency-Key": key.encode().decode("latin-1")})
            probe.status(response, [200, 422], f"Idempotency-Key {payload[:40]!r}")
        encoded = quote(payload, safe="")
        for path, allowed in [
            (f"/leaderboards/{encoded}", [404]),
            (f"/leaderboards/{encoded}/me", [404]),
            (f"/leaderboards/cod?period={encoded}", [422, 200] if payload == "" else [422]),
            (f"/leaderboards/cod?date={encoded}", [422, 200] if payload == "" else [422]),
            (f"/leaderboards/cod?start={encoded}", [422, 200] if payload == "" else [422]),
            (f"/leaderboards/cod/me?around={encoded}", [200, 404] if payload == "" else [422]),
            (f"/me/standing?period={encoded}", [422, 200] if payload == "" else [422]),
            (f"/me/scores?game={encoded}", [404, 200] if payload == "" else [404]),
            (f"/me/scores?before={encoded}", [422, 200] if payload == "" else [422]),
            (f"/reports/top?start={encoded}", [422]),
            (f"/reports/top?start=2025-01-01&game={encoded}", [404, 200] if payload == "" else [404]),
            (f"/games?excludeChannel={encoded}", [200]),
        ]:
            probe.status(api.get(path, headers=auth), [400] if nginx_refuses_the_path(path) else allowed, f"GET {path[:80]}")
        for value in (payload, "Bearer " + payload):
            header = value.encode("utf-8")[:300].decode("latin-1").replace("\r", "").replace("\n", "").replace("\x00", "").strip()
            if not header:
                continue
            probe.status(api.get("/auth/me", session=api.new_session(), headers={"Authorization": header}), [401], f"Authorization {header[:40]!r}")
    after = stored_scores(api, player)
    added = Counter(after) - Counter(before)
    probe.check(set(added) <= {("cod", 3), ("ow", 4)}, "something other than the valid submissions was stored", added)
    games = api.get("/games").json()["data"]
    probe.check(games == games_before, "the games list changed", games)
    probe.done()


# --- game administration ---------------------------------------------------------------------------------

SLUG = re.compile(r"[a-z0-9_-]{1,32}")
LARGEST_BOUND = 2**53 - 1
GAME_SETTINGS = ["label", "position", "order", "rule", "minScore", "maxScore", "tieBreak", "inGlobal", "format", "authoritative", "archived"]


def is_valid_label(text: str) -> bool:
    """1 to 100 code points, not all whitespace, no control characters (the server's rule)."""
    return 1 <= len(text) <= 100 and not text.isspace() and not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in text)


def whole_number(raw: str) -> int | None:
    """The whole number a JSON text is, as the server reads it; None for anything else (or not JSON)."""
    try:
        value = json.loads(raw, parse_constant=lambda constant: float("nan"))
    except ValueError:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float) and not (value == value and abs(value) != float("inf") and value.is_integer()):
        return None
    if value == 0 and any(digit in raw.lower().split("e")[0] for digit in "123456789"):
        return None  # 1e-400: a double would be 0, the server refuses it as out of range
    return int(value)


@pytest.fixture(scope="module")
def hostile_admin(hostile: tuple[Api, Player], _stack_session: Stack, stack_env: dict[str, str]) -> Iterable[tuple[Player, str]]:
    """An admin, and a game of this module's to edit (archived afterwards, with any game the tests created)."""
    api, _ = hostile
    admin = new_player(api, "Hostile Admin")
    leaderboardctl(_stack_session.directory, "users", "grant-admin", admin.email)
    slug = "hostile-" + uuid.uuid4().hex[:12]
    assert api.post("/admin/games", json={"slug": slug, "label": "Hostile"}, headers=admin.auth).status_code == 201
    yield admin, slug
    run_sql(stack_env, "UPDATE games SET archived = true WHERE label LIKE 'hostile %' OR slug LIKE 'hostile-%'")


def test_hostile_text_in_every_game_setting_and_path_is_stored_verbatim_or_refused(
    hostile: tuple[Api, Player], hostile_admin: tuple[Player, str]
) -> None:
    api, _ = hostile
    admin, slug = hostile_admin
    probe = Probe("text: admin")
    auth = admin.auth
    games_before = api.get("/games").json()["data"]
    for payload in HOSTILE_TEXT:
        # A payload that is a valid slug (`null`) gets a prefix: the later tests count on it naming no game.
        valid_slug = SLUG.fullmatch(payload) is not None and payload != "all"
        new_slug = f"hostile-{payload}"[:32] if valid_slug else payload
        creating = api.post("/admin/games", json={"slug": new_slug, "label": "hostile " + payload[:80]}, headers=auth)
        if probe.status(creating, [201] if valid_slug else [422], f"POST /admin/games slug={new_slug[:40]!r}") and creating.status_code == 201:
            probe.check(creating.json()["data"]["slug"] == new_slug, "the slug came back changed", creating.json()["data"])
        labelled = api.request("PATCH", f"/admin/games/{slug}", json={"label": payload}, headers=auth)
        if probe.status(labelled, [200] if is_valid_label(payload) else [422], f"PATCH label={payload[:40]!r}") and labelled.status_code == 200:
            stored = api.get(f"/games/{slug}").json()["data"]["label"]
            probe.check(stored == payload, f"the label {payload[:40]!r} came back changed", stored)
        valid_reason = 1 <= len(payload) <= 500 and "\x00" not in payload
        reasoned = api.request("PATCH", f"/admin/games/{slug}", json={"position": 900, "reason": payload}, headers=auth)
        probe.status(reasoned, [200] if valid_reason else [422], f"PATCH reason={payload[:40]!r}")
        for field in GAME_SETTINGS[2:4] + ["tieBreak", "format", "inGlobal", "authoritative", "archived"]:
            probe.status(api.request("PATCH", f"/admin/games/{slug}", json={field: payload}, headers=auth), [422], f"PATCH {field}={payload[:40]!r}")
        unknown = api.request("PATCH", f"/admin/games/{slug}", json={payload or "x": 1}, headers=auth)
        probe.status(unknown, [422], f"PATCH with an unknown field {payload[:40]!r}")
        encoded = quote(payload, safe="")
        if encoded:
            # `..%2F` segments climb the path: nginx refuses it above the root; at the root, no location takes a PATCH.
            for method, path, allowed in [("GET", f"/games/{encoded}", [404]), ("PATCH", f"/admin/games/{encoded}", [404])]:
                if "..%2F" in encoded:
                    allowed = [400, 404, 405]
                elif nginx_refuses_the_path(path):
                    allowed = [400]
                response = api.request(method, path, json={"label": "hostile " + payload[:80]}, headers=auth)
                probe.status(response, allowed, f"{method} {path[:80]}")
    game = api.get(f"/games/{slug}").json()["data"]
    probe.check(game["order"] == "desc" and game["rule"] == "best" and game["format"] == "integer", "a refused setting was stored", game)
    games_after = {option["value"] for option in api.get("/games").json()["data"]} - {option["value"] for option in games_before}
    probe.check(all(SLUG.fullmatch(value) for value in games_after), "a game with a bad slug is listed", games_after)
    probe.done()


def test_every_shape_of_number_in_a_game_setting_is_stored_exactly_or_refused(
    hostile: tuple[Api, Player], hostile_admin: tuple[Player, str]
) -> None:
    api, _ = hostile
    admin, slug = hostile_admin
    probe = Probe("numbers: admin")
    expected = api.get(f"/games/{slug}").json()["data"]
    extra_numbers = [(str(LARGEST_BOUND), None), (str(-LARGEST_BOUND), None), (str(LARGEST_BOUND + 1), None), (str(-LARGEST_BOUND - 1), None),
                     ("2147483647", None), ("2147483648", None), ("1e15", None), ("-1e15", None)]
    for raw, _ in NUMBERS + extra_numbers:
        value = whole_number(raw)
        for field, others, valid in [
            ("minScore", {"maxScore": LARGEST_BOUND}, value is not None and -LARGEST_BOUND <= value <= LARGEST_BOUND),
            ("maxScore", {"minScore": -LARGEST_BOUND}, value is not None and -LARGEST_BOUND <= value <= LARGEST_BOUND),
            ("position", {}, value is not None and 0 <= value <= 2**31 - 1),
        ]:
            response = api.request("PATCH", f"/admin/games/{slug}", data=body_with(others, field, raw), headers={**admin.auth, **JSON})
            if probe.status(response, [200] if valid else [400, 422], f"PATCH {field}={raw}") and response.status_code == 200:
                expected |= others | {field: value}
                probe.check(response.json()["data"] == expected, f"PATCH {field}={raw} stored as", response.json()["data"])
    probe.check(api.get(f"/games/{slug}").json()["data"] == expected, "the game differs from what was accepted", expected)
    probe.done()


def test_hostile_text_and_numbers_in_every_moderation_field_and_path_are_stored_verbatim_or_refused(
    hostile: tuple[Api, Player], hostile_admin: tuple[Player, str]
) -> None:
    api, _ = hostile
    admin, _ = hostile_admin
    probe = Probe("moderation")
    target = new_player(api, "Hostile Target")
    assert api.post("/scores", json={"game": "fnite", "score": 3}, headers=target.auth).status_code == 200
    score_id = api.get(f"/admin/users/{target.id}/scores", headers=admin.auth).json()["data"]["result"][0]["id"]
    for payload in HOSTILE_TEXT:
        valid_reason = 1 <= len(payload) <= 500 and "\x00" not in payload
        for method, path in [
            ("POST", f"/admin/users/{target.id}/ban"), ("POST", f"/admin/users/{target.id}/unban"),
            ("DELETE", f"/admin/scores/{score_id}"), ("POST", f"/admin/scores/{score_id}/restore"),
        ]:
            response = api.request(method, path, json={"reason": payload}, headers=admin.auth)
            if probe.status(response, [200] if valid_reason else [422], f"{method} {path} reason={payload[:40]!r}") and valid_reason:
                stored = api.get("/admin/audit", params={"limit": 1}, headers=admin.auth).json()["data"]["result"][0]["reason"]
                probe.check(stored == payload, f"the reason {payload[:40]!r} came back changed", stored)
            probe.status(api.request(method, path, json={payload or "x": "why"}, headers=admin.auth), [422], f"{method} {path} unknown field")
        for path in ["/admin/users", f"/admin/users/{target.id}/scores"]:
            field = "query" if path == "/admin/users" else "game"
            response = api.get(path, params={field: payload}, headers=admin.auth)
            probe.status(response, [200, 400, 422], f"GET {path} {field}={payload[:40]!r}")
        encoded = quote(payload, safe="")
        # `..%2F` segments climb out of /api/v1 to the static site (the game paths above cover nginx's handling).
        if encoded and "..%2F" not in encoded:
            for method, path in [("POST", f"/admin/users/{encoded}/ban"), ("DELETE", f"/admin/scores/{encoded}"), ("GET", f"/admin/users/{encoded}/scores")]:
                allowed = [400] if nginx_refuses_the_path(path) else [404]
                probe.status(api.request(method, path, json={"reason": "hostile"}, headers=admin.auth), allowed, f"{method} {path[:80]}")
    for raw, _ in NUMBERS:
        for path in ["/admin/users", "/admin/audit", f"/admin/users/{target.id}/scores"]:
            for field in ("limit", "before"):
                # A query parameter is plain decimal digits (no JSON number forms such as 1e2).
                value = int(raw) if re.fullmatch(r"[0-9]+", raw) else None
                valid = value is not None and (1 <= value <= 100 if field == "limit" else 1 <= value <= 2**63 - 1)
                response = api.get(path, params={field: raw}, headers=admin.auth)
                probe.status(response, [200] if valid else [200, 400, 422], f"GET {path} {field}={raw}")
    # The target ends as it began: not banned, its score counted.
    probe.check(api.get(f"/admin/users/{target.id}/scores", headers=admin.auth).json()["data"]["result"][0]["deletedAt"] is None,
                "the score stayed deleted", score_id)
    probe.done()


def test_forged_keys_and_hostile_key_names_games_ids_and_user_ids_are_refused_or_stored_verbatim(
    hostile: tuple[Api, Player], hostile_admin: tuple[Player, str], sockets: Sockets
) -> None:
    api, _ = hostile
    admin, slug = hostile_admin
    probe = Probe("API keys")
    victim = new_player(api, "Key Victim")
    submission = {"game": slug, "score": 1, "userId": victim.id}
    header_safe = [payload.replace("\r", "").replace("\n", "").replace("\x00", "") for payload in HOSTILE_TEXT]
    forged = ["lbk_", "lbk_" + "A" * 43, "lbk_" + "A" * 4000, "lbk_\xff\xfe" + "A" * 41, "LBK_" + "A" * 43] + ["lbk_" + text for text in header_safe]
    for key in forged:
        # Header values travel as bytes: a key's UTF-8 is sent as is.
        headers = {"Authorization": f"Bearer {key}".encode().decode("latin-1")}
        response = api.post("/scores", json=submission, session=api.new_session(), headers=headers)
        probe.status(response, [401], f"POST /scores with the key {key[:40]!r}")
    socket_ = sockets.open("/ws/v1/add-score", forged[1])
    probe.check(close_code(socket_, timeout=5) == 1008, "a key on /ws/v1/add-score", "not closed with 1008")

    for payload in HOSTILE_TEXT:
        named = api.post("/admin/api-keys", json={"name": payload, "games": [slug]}, headers=admin.auth)
        if probe.status(named, [201] if is_valid_label(payload) else [422], f"POST /admin/api-keys name={payload[:40]!r}") and named.status_code == 201:
            listed = [key["name"] for key in api.get("/admin/api-keys", headers=admin.auth).json()["data"] if key["id"] == named.json()["data"]["id"]]
            probe.check(listed == [payload], f"the key name {payload[:40]!r} came back changed", listed)
        for games in ([payload], [slug, payload], payload):
            response = api.post("/admin/api-keys", json={"name": "hostile games", "games": games}, headers=admin.auth)
            probe.status(response, [422], f"POST /admin/api-keys games={str(games)[:40]!r}")
        encoded = quote(payload, safe="")
        if encoded:
            path = f"/admin/api-keys/{encoded}"
            allowed = [400, 404, 405] if "..%2F" in encoded else [400] if nginx_refuses_the_path(path) else [404]
            probe.status(api.request("DELETE", path, headers=admin.auth), allowed, f"DELETE {path[:80]}")

    key = api.post("/admin/api-keys", json={"name": "hostile numbers", "games": [slug]}, headers=admin.auth).json()["data"]["key"]
    # A score the game takes, whatever bounds the tests before left it with.
    score = api.get(f"/games/{slug}").json()["data"]["maxScore"]
    for raw, _ in NUMBERS:
        value = whole_number(raw)
        response = api.post("/scores", data=body_with({"game": slug, "score": score}, "userId", raw), headers={"Authorization": f"Bearer {key}", **JSON})
        # A whole number names a player, who may exist (then the score is theirs) or not.
        valid = value is not None and -(2**63) <= value < 2**63
        probe.status(response, [200, 404] if valid else [400, 422], f"POST /scores with a key, userId={raw}")
    probe.check(stored_scores(api, victim) == [], "a forged key stored a score", stored_scores(api, victim))
    probe.done()


# --- numbers ---------------------------------------------------------------------------------------------


def test_every_shape_of_number_is_stored_exactly_or_refused_over_rest_and_websocket(
    hostile: tuple[Api, Player], sockets: Sockets, base_url: str
) -> None:
    api, _ = hostile
    # Scores up to the maximum go on rl and fnite, boards no other test needs a free top of
    # (test_websocket, test_scores and test_browser put theirs above the top of cod, mcft, valrnt, cs, apxleg, lol, pubg).
    player = new_player(api, "Numbers")
    probe = Probe("numbers")
    expected: list[tuple[str, int]] = []
    add = sockets.open("/ws/v1/add-score", player.token)
    for raw, value in NUMBERS:
        for game_field in ("game", "gameChannel"):
            response = api.post("/scores", data=body_with({game_field: "rl"}, "score", raw), headers={**player.auth, **JSON})
            if value is None:
                probe.status(response, [400, 422], f"REST score {raw} ({game_field})")
            elif probe.status(response, [200], f"REST score {raw} ({game_field})"):
                probe.check(response.json()["data"]["score"] == value, f"REST score {raw} stored as", response.json()["data"]["score"])
                expected.append(("rl", value))
        add.send(body_with({"game": "fnite"}, "score", raw).decode())
        reply = json.loads(add.recv(timeout=10))
        if value is None:
            probe.check(set(reply) == {"error"}, f"WS score {raw} accepted", reply)
        elif probe.check(reply.get("ok") is True and reply.get("score") == value, f"WS score {raw}", reply):
            expected.append(("fnite", value))
    for name, values, allowed_ok in [
        ("start", BAD_QUERY_NUMBERS, ()), ("end", BAD_QUERY_NUMBERS, ()), ("page", BAD_QUERY_NUMBERS + ["0"], ()),
        ("size", BAD_QUERY_NUMBERS + ["0", "101"], ()),
    ]:
        for text in values:
            probe.status(api.get(f"/leaderboards/cod?{name}={text}", headers=player.auth), [422], f"GET /leaderboards/cod?{name}={text}")
    for path in ["/leaderboards/cod/me?around=", "/me/scores?limit=", "/me/scores?before=", "/reports/top?start=2025-01-01&limit="]:
        for text in BAD_QUERY_NUMBERS + ["0", "101"] if "before" not in path else BAD_QUERY_NUMBERS + ["0"]:
            if path.startswith("/leaderboards/cod/me") and text in ("0",):
                continue
            probe.status(api.get(path + text, headers=player.auth), [422], f"GET {path}{text}")
    stored = sorted(stored_scores(api, player))
    probe.check(stored == sorted(expected), "what was stored is not exactly what was accepted", (stored, sorted(expected)))
    probe.done()


# --- unknown games and enormous pages -----------------------------------------------------------------------


def test_unknown_games_and_enormous_pages_are_refused_or_answered_empty(hostile: tuple[Api, Player], sockets: Sockets) -> None:
    api, player = hostile
    probe = Probe("games and pages")
    for game in ["nope", "COD", "cod ", " cod", "Cod", "all ", "ALL", "cod%00", "cod%2Fx", "%F0%9F%98%80", "%FF", "a" * 200, "0", "-1"]:
        probe.status(api.post("/scores", json={"game": game, "score": 1}, headers=player.auth), [422], f"POST /scores game={game[:30]!r}")
        refused = nginx_refuses_the_path(f"/leaderboards/{game}")
        probe.status(api.get(f"/leaderboards/{game}", headers=player.auth), [400] if refused else [404], f"GET /leaderboards/{game[:30]}")
        probe.status(api.get(f"/me/scores?game={game}", headers=player.auth), [404], f"GET /me/scores?game={game[:30]}")
        probe.status(api.get(f"/reports/top?start=2025-01-01&game={game}", headers=player.auth), [404], f"report game={game[:30]}")
    probe.status(api.get("/me/scores?game=all", headers=player.auth), [404], "history of the global pseudo-game")
    probe.status(api.post("/scores", json={"game": "all", "score": 1}, headers=player.auth), [422], "a score for the global board")
    for query, allowed in [
        ("start=0&end=2147483647", [422]), ("start=0&end=100", [422]), ("start=0&end=99", [200]), ("start=2147483647", [200]),
        ("start=2147483600&end=2147483647", [200]), ("start=2147483648", [422]), ("start=5&end=4", [422]),
        ("page=1000000&size=100", [200]), ("page=1000001", [422]), ("size=101", [422]), ("page=1000000&size=1", [200]),
        ("date=9999-12-31", [200]), ("date=1970-01-01", [200]), ("period=daily&date=1970-01-01", [422]), ("date=0000-01-01", [422]), ("date=2025-02-29", [422]),
        ("date=2024-02-29", [200]), ("date=99999-01-01", [422]), ("period=daily&date=9999-12-31", [200]),
        ("period=weekly&date=9999-12-31", [200]), ("period=monthly&date=9999-12-31", [200]), ("period=weekly&date=1970-01-01", [422]),
    ]:
        response = api.get(f"/leaderboards/cod?{query}", headers=player.auth)
        if probe.status(response, allowed, f"GET /leaderboards/cod?{query}") and response.status_code == 200:
            probe.check(len(response.json()["data"]["result"]) <= 100, f"{query}: more than 100 rows", len(response.json()["data"]["result"]))
    for query, allowed in [
        ("start=1970-01-01&end=9999-12-31", [422]), ("start=9999-12-01&end=9999-12-31", [200]), ("start=2025-01-01&limit=100", [200]),
        ("start=2025-01-01&end=2024-12-31", [422]), ("start=2025-01-01T99:99:99", [200]), ("start=2025-13-01", [422]),
        (f"start={today()}&end={today()}&limit=100&game=all", [200]),
    ]:
        probe.status(api.get(f"/reports/top?{query}", headers=player.auth), allowed, f"GET /reports/top?{query}")
    board = sockets.open("/ws/v1/scores", player.token)
    reports = sockets.open("/ws/v1/reports", player.token)
    for message in [
        {"game": "nope", "start": 0, "end": 9}, {"game": "cod", "start": 0, "end": 10**12}, {"game": "cod", "start": 2**63 - 1, "end": 2**63 - 1},
        {"game": "cod", "start": -(2**63), "end": 0}, {"game": "cod", "start": 0, "end": 9, "date": "9999-99-99"},
        {"game": "cod", "start": 0, "end": 9, "period": "yearly"}, {"channel": "nope", "start": 0, "end": 9},
    ]:
        board.send(json.dumps(message))
        reply = json.loads(board.recv(timeout=10))
        probe.check(set(reply) == {"error"}, f"WS scores {message}", reply)
    for message in [{"start": "1970-01-01", "end": "9999-12-31"}, {"start": today(), "game": "nope"}, {"start": today(), "limit": 10**6},
                    {"start": today(), "limit": 0}, {"start": "yesterday"}]:
        reports.send(json.dumps(message))
        reply = json.loads(reports.recv(timeout=10))
        probe.check(set(reply) == {"error"}, f"WS reports {message}", reply)
    probe.done()


# --- bodies: huge, deep, not UTF-8 --------------------------------------------------------------------------


def test_huge_deep_and_non_utf8_bodies_get_a_clear_4xx(hostile: tuple[Api, Player], stack_env: dict[str, str]) -> None:
    api, player = hostile
    probe = Probe("bodies")
    limit = int(stack_env.get("MAX_BODY_BYTES", 64 * 1024))
    valid = {"email": "someone@example.com", "name": "Some One", "password": "some password", "game": "cod", "score": 1}
    bodies: list[tuple[str, bytes, list[int]]] = [
        ("nested arrays, depth 16", b'{"x": ' + b"[" * 15 + b"]" * 15 + b"}", [201, 401, 200, 409, 422]),
        ("nested arrays, depth 17", b'{"x": ' + b"[" * 16 + b"]" * 16 + b"}", [400]),
        ("nested objects, depth 1000", b'{"a":' * 1000 + b"1" + b"}" * 1000, [400]),
        ("nested arrays, depth 30000", b"[" * 30000 + b"]" * 30000, [400]),
        ("unclosed nesting, depth 60000", b"[" * 60000, [400]),
        ("nesting over nginx's limit", b"[" * (1024 * 1024 + 10), [413]),
        ("over the api's limit", b'{"x": "' + b"a" * limit + b'"}', [413]),
        ("a million-byte string", b'{"email": "' + b"a" * 1_000_000 + b'"}', [413]),
        ("10000 keys", ("{" + ",".join(f'"k{index}": {index}' for index in range(10000)) + "}").encode(), [413, 422, 401, 200]),
        ("5000 duplicate keys", ("{" + ",".join('"score": 1' for _ in range(5000)) + "}").encode(), [422, 401, 200]),
        ("a 60000-element array", b'{"x": [' + b",".join([b"1"] * 30000) + b"]}", [422, 401, 200, 201, 409]),
        ("invalid UTF-8 in a string", b'{"email": "\xff\xfe@example.com", "name": "n", "password": "pppppppp"}', [400]),
        ("overlong UTF-8", b'{"name": "\xc0\xaf", "email": "a@b.c", "password": "pppppppp"}', [400]),
        ("UTF-16 surrogate bytes", b'{"name": "\xed\xa0\x80", "email": "a@b.c", "password": "pppppppp"}', [400]),
        ("truncated UTF-8", b'{"name": "\xe2\x82", "email": "a@b.c", "password": "pppppppp"}', [400]),
        ("a lone surrogate escape", b'{"name": "\\ud800", "email": "x@example.com", "password": "pppppppp", "game": "cod", "score": 1}', [400]),
        ("UTF-16 body", json.dumps(valid).encode("utf-16"), [400]),
        ("UTF-8 BOM", b"\xef\xbb\xbf" + json.dumps(valid).encode(), [400]),
        ("NUL bytes between tokens", b'{"game":\x00"cod", "score": 1}', [400]),
        ("a bare NUL", b"\x00", [400]),
        ("comments", b'{"score": 1 /* c */, "game": "cod"}', [400]),
        ("trailing garbage", json.dumps(valid).encode() + b"garbage", [400]),
        ("control characters in a string", b'{"name": "a\x01b", "email": "a@b.c", "password": "pppppppp"}', [400]),
    ]
    for route in ("/auth/signup", "/auth/login", "/scores"):
        for label, body, allowed in bodies:
            client = Api(api.base_url)
            headers = {**JSON, **(player.auth if route == "/scores" else {})}
            try:
                response = client.post(route, data=body, headers=headers, timeout=30)
            except requests.ConnectionError as error:
                # nginx may stop reading a body over its limit and answer 413 before the client is done.
                probe.check(len(body) > 1024 * 1024, f"{route} {label}: connection error", error)
                continue
            allowed_here = allowed + ([429] if route.startswith("/auth/") else [])
            if route == "/auth/login" and any(status in (200, 201, 409) for status in allowed):
                # A body another route accepts is, to login, an unknown account or one missing its fields.
                allowed_here = [status for status in allowed_here if status not in (200, 201, 409)] + [401, 422]
            probe.status(response, allowed_here, f"{route} {label}")
            client.session.close()
    probe.done()


# --- lone surrogates ------------------------------------------------------------------------------------------

# `\u` escapes of half a UTF-16 surrogate pair, alone, reversed, or followed by something else.
LONE_SURROGATES = ["\\ud800", "\\uDBFF", "\\udc00", "\\uDFFF", "\\udc00\\ud800", "\\ud800x", "\\ud800\\u0041"]
NOT_UNICODE = "not Unicode: a \\u escape is half a UTF-16 surrogate pair"


def with_escape(fields: dict[str, Any], where: str, escape: str) -> str:
    """fields as JSON text, with escape (raw JSON) at the end of the string field `where`, or, when
    fields has no such field, in the name of an extra one."""
    members = []
    for name, value in fields.items():
        text = json.dumps(value)
        members.append(f"{json.dumps(name)}: {text[:-1] + escape + text[-1] if name == where else text}")
    if where not in fields:
        members.append(f'"{where}{escape}": 1')
    return "{" + ", ".join(members) + "}"


def test_a_lone_surrogate_escape_anywhere_is_a_400_saying_so_and_stores_nothing(
    hostile: tuple[Api, Player], sockets: Sockets, stack_env: dict[str, str]
) -> None:
    """RFC 8259 allows such an escape in its grammar and leaves its meaning open (section 8.2); the text
    is no Unicode string, as the same code unit sent as UTF-8 bytes (a 400 above) is not UTF-8. So the
    answer is the same 400, for every field, the names of fields included, on every route and socket."""
    api, player = hostile
    probe = Probe("lone surrogates")
    marker = f"surrogate-{uuid.uuid4().hex}"
    account = {"email": f"{marker}@example.com", "name": "Lone Surrogate", "password": "password of a lone surrogate"}
    submission = {"game": "cod", "score": 7}
    count_scores = "SELECT count(*) FROM scores WHERE user_id = :'user'"
    scores_before = run_sql(stack_env, count_scores, user=str(player.id))
    adding = sockets.open("/ws/v1/add-score", player.token)
    for escape in LONE_SURROGATES:
        for route, fields, auth in [("/auth/signup", account, {}), ("/auth/login", account, {}), ("/scores", submission, player.auth)]:
            for where in [name for name, value in fields.items() if isinstance(value, str)] + ["note"]:
                # Each from an address of its own: the auth routes' limits per address are not what is tested.
                client = Api(api.base_url, address=random_loopback_address())
                response = client.post(route, data=with_escape(fields, where, escape).encode(), headers={**JSON, **auth})
                client.session.close()
                label = f"{route} {escape} in {where}"
                if probe.status(response, [400], label):
                    probe.check(response.json()["message"] == NOT_UNICODE, f"{label}: message", response.json()["message"])
        for where in ("game", "note"):
            adding.send(with_escape(submission, where, escape))
            probe.check(json.loads(adding.recv(timeout=10)) == {"error": NOT_UNICODE}, f"WS add-score {escape} in {where}")
    created = run_sql(stack_env, "SELECT count(*) FROM users WHERE email LIKE :'pattern'", pattern=f"{marker}%")
    probe.check(created == [["0"]], "an account was created", created)
    scores_after = run_sql(stack_env, count_scores, user=str(player.id))
    probe.check(scores_after == scores_before, "a score was stored", (scores_before, scores_after))
    # A whole pair is one character, stored as such.
    pair = with_escape({**account, "email": f"pair-{marker}@example.com", "name": "Pair "}, "name", "\\ud83d\\ude00")
    paired = api.post("/auth/signup", data=pair.encode(), headers=JSON)
    if probe.status(paired, [201], "signup with a surrogate pair"):
        probe.check(paired.json()["data"]["name"] == "Pair \U0001f600", "the pair's name", paired.json()["data"])
    probe.done()


# --- leap days ------------------------------------------------------------------------------------------------

# Every fourth year has a 29 February, but of the centuries only every fourth.
LEAP_DAYS = ["2024-02-29", "2000-02-29", "2400-02-29"]
NOT_LEAP_DAYS = ["2025-02-29", "2023-02-29", "2100-02-29", "2200-02-29"]


def test_a_leap_day_is_a_day_with_its_own_scores_and_the_29th_february_of_another_year_is_refused(
    hostile: tuple[Api, Player], stack_env: dict[str, str]
) -> None:
    api, player = hostile
    probe = Probe("leap days")
    game = "ow"
    # A score from the last second of a leap day long past, as migrated data holds it: its period boards
    # are gone (kept 400 days), so its reports are answered from PostgreSQL; the reconciler applies it
    # to the all-time boards.
    scorer = new_player(api, "Leap Day")
    run_sql(stack_env, "INSERT INTO scores (user_id, game, score, created_at) VALUES (:'user', :'game', 4242, '2024-02-29 23:59:59+00')",
            user=str(scorer.id), game=game)
    wait_until(lambda: api.get(f"/leaderboards/{game}/me", headers=scorer.auth).status_code == 200, timeout=30,
               message="the reconciler applies the leap day's score")
    expected_row = {"userId": scorer.id, "name": scorer.name, "score": 4242, "game": game, "date": "2024-02-29", "games": 1}

    def report(query: str) -> list[dict[str, Any]] | None:
        response = api.get(f"/reports/top?game={game}&limit=100&{query}")
        return response.json()["data"]["result"] if probe.status(response, [200], f"report {query}") else None

    for query in ["start=2024-02-29&end=2024-02-29", "start=2024-02-29T00:00:00&end=2024-02-29T12:00:00", "start=2024-02-28&end=2024-03-01"]:
        rows = report(query)
        if rows is not None:
            mine = [{key: row[key] for key in expected_row} for row in rows if row["userId"] == scorer.id]
            probe.check(mine == [expected_row], f"report {query}: the leap day's row", mine)
            if query.endswith("2024-02-29") or "T" in query:
                probe.check(all(row["date"] == "2024-02-29" for row in rows), f"report {query}: a row of another day", rows[:3])
    for query in ["start=2024-02-28&end=2024-02-28", "start=2024-03-01&end=2024-03-01"]:
        rows = report(query)
        if rows is not None:
            probe.check(all(row["userId"] != scorer.id for row in rows), f"report {query}: the leap day's score on another day", rows[:3])

    all_time = api.get(f"/leaderboards/{game}?size=100").json()["data"]
    for day in LEAP_DAYS:
        response = api.get(f"/leaderboards/{game}?size=100&date={day}")
        if probe.status(response, [200], f"all-time board on {day}"):
            probe.check(response.json()["data"] == all_time, f"all-time board on {day}: not the all-time board", response.json()["data"]["totalCount"])
        for period in ("daily", "weekly", "monthly"):
            response = api.get(f"/leaderboards/{game}?period={period}&date={day}")
            if day > today():
                # A period to come: a board, empty.
                if probe.status(response, [200], f"{period} board of {day}"):
                    data = response.json()["data"]
                    probe.check((data["totalCount"], data["result"], data["period"]) == (0, [], period), f"{period} board of {day}", data)
            elif probe.status(response, [422], f"{period} board of {day}"):
                # A period past keeping: the refusal says so, not that the date is not one.
                errors = response.json()["errors"]
                probe.check(errors[0]["field"] == "date" and "kept" in errors[0]["message"], f"{period} board of {day}: {errors}")
    for day in NOT_LEAP_DAYS:
        for path, field in [(f"/leaderboards/{game}?date={day}", "date"), (f"/leaderboards/{game}?period=daily&date={day}", "date"),
                            (f"/reports/top?start={day}", "start"), (f"/reports/top?start=2020-01-01&end={day}", "end")]:
            response = api.get(path)
            if probe.status(response, [422], path):
                errors = response.json()["errors"]
                probe.check(errors[0]["field"] == field and "must be a date" in errors[0]["message"], f"{path}: {errors}")
    probe.done()


# --- one e-mail, a thousand signups at once -----------------------------------------------------------------


def test_a_thousand_concurrent_signups_of_one_email_create_exactly_one_account(base_url: str, daemons: None) -> None:
    probe = Probe("concurrent signups")
    email = unique_email("Thousand")
    attempts, threads = 1000, 50
    clients = [Api(base_url) for _ in range(threads)]  # 50 addresses: nginx allows 200 requests/s and a burst of 20 each
    start = threading.Barrier(threads)

    def attempt_all(index: int) -> list[tuple[int, int]]:
        client = clients[index]
        session = client.new_session()
        start.wait(timeout=60)
        statuses = []
        for attempt in range(index, attempts, threads):
            variant = email.upper() if attempt % 3 == 0 else (f"  {email} " if attempt % 3 == 1 else email)
            body = {"email": variant, "name": f"Racer {attempt}", "password": f"password of racer {attempt}"}
            try:
                statuses.append((attempt, client.post("/auth/signup", session=session, json=body, timeout=30).status_code))
            except requests.RequestException as error:
                statuses.append((attempt, -1))
                probe.check(False, f"signup {attempt} got no answer", error)
        return statuses

    with ThreadPoolExecutor(max_workers=threads) as pool:
        answers = [answer for share in pool.map(attempt_all, range(threads)) for answer in share]
    statuses = Counter(status for _, status in answers)
    for status, count in statuses.items():
        for _ in range(count):
            probe.check(status in (201, 409), f"signup answered {status}")
    probe.check(statuses[201] == 1, "not exactly one signup won", dict(statuses))
    probe.check(statuses[409] == attempts - 1, "the others were not all 409", dict(statuses))
    # The account is the winner's: their password logs in with any variant of the e-mail, a loser's does not.
    winners = [attempt for attempt, status in answers if status == 201]
    if winners:
        client = Api(base_url)
        ids = {
            client.post("/auth/login", json={"email": variant, "password": f"password of racer {winners[0]}"}).json()["data"]["user"]["id"]
            for variant in (email, email.upper(), f" {email} ")
        }
        probe.check(len(ids) == 1, "the winner's logins give different accounts", ids)
        loser = (winners[0] + 1) % attempts
        login = client.post("/auth/login", json={"email": email, "password": f"password of racer {loser}"})
        probe.check(login.status_code == 401, "a loser's password logs in", login.status_code)
    probe.done()


# --- WebSocket: hostile messages and frames ------------------------------------------------------------------


def test_hostile_websocket_messages_get_an_error_and_the_socket_keeps_working(hostile: tuple[Api, Player], sockets: Sockets) -> None:
    api, player = hostile
    probe = Probe("ws messages")
    board = sockets.open("/ws/v1/scores", player.token)
    add = sockets.open("/ws/v1/add-score", player.token)
    reports = sockets.open("/ws/v1/reports", player.token)
    before = stored_scores(api, player)
    messages: list[tuple[Any, str]] = []
    for payload in HOSTILE_TEXT:
        messages += [
            (board, json.dumps({"game": payload, "start": 0, "end": 9})),
            (board, json.dumps({"game": "cod", "start": 0, "end": 9, "period": payload})),
            (board, json.dumps({"game": "cod", "start": 0, "end": 9, "date": payload})),
            (board, json.dumps({"game": "cod", "start": 0, "end": 9, payload or "x": 1})),
            (add, json.dumps({"game": payload, "score": 1})),
            (add, json.dumps({"gameChannel": payload, "score": 1})),
            (reports, json.dumps({"start": payload})),
            (reports, json.dumps({"start": today(), "game": payload})),
        ]
    for raw in [b"{", b"[]", b"null", b"\"x\"", b"[" * 100 + b"]" * 100, b'{"a":' * 10 + b"1" + b"}" * 10, b"\xff\xfe", b"\x00"]:
        messages += [(socket_, raw.decode("utf-8", "replace")) for socket_ in (board, add, reports)]
    for socket_, text in messages:
        time.sleep(0.02)  # well under each socket's message rate (WS_MESSAGES_PER_SECOND, 20 by default)
        socket_.send(text)
        try:
            reply = json.loads(socket_.recv(timeout=10))
        except (TimeoutError, ConnectionClosed) as error:
            probe.check(False, f"message {text[:60]!r}", error)
            continue
        probe.check(set(reply) == {"error"}, f"message {text[:60]!r}", reply)
    board.send(json.dumps({"game": "cod", "start": 0, "end": 2}))
    probe.check({"result", "totalCount"} <= set(json.loads(board.recv(timeout=10))), "the board socket stopped working", "")
    probe.check(stored_scores(api, player) == before, "a hostile message stored a score", stored_scores(api, player))
    probe.done()


class Frames:
    """A raw WebSocket connection through nginx, to send frames that break the protocol."""

    def __init__(self, base_url: str, path: str, token: str) -> None:
        host, port = base_url.removeprefix("http://").split(":")
        self.socket = socket.create_connection((host, int(port)), timeout=10)
        key = base64.b64encode(os.urandom(16)).decode()
        self.socket.sendall(
            (f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer {token}\r\n\r\n").encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.socket.recv(1)
            assert chunk, head
            head += chunk
        assert head.startswith(b"HTTP/1.1 101"), head
        accept = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
        assert accept.lower() in head.decode().lower()
        self.buffer = b""

    @staticmethod
    def frame(opcode: int, payload: bytes, fin: bool = True, mask: bool = True, rsv: int = 0, length: int | None = None) -> bytes:
        length = len(payload) if length is None else length
        first = (0x80 if fin else 0) | (rsv << 4) | opcode
        if length < 126:
            head = struct.pack("!BB", first, (0x80 if mask else 0) | length)
        elif length < 1 << 16:
            head = struct.pack("!BBH", first, (0x80 if mask else 0) | 126, length)
        else:
            head = struct.pack("!BBQ", first, (0x80 if mask else 0) | 127, length)
        if not mask:
            return head + payload
        key = os.urandom(4)
        return head + key + bytes(byte ^ key[index % 4] for index, byte in enumerate(payload))

    def send(self, data: bytes) -> None:
        try:
            self.socket.sendall(data)
        except OSError:
            pass  # the server may already have closed: what it sent first is read below

    def read_frame(self, deadline: float) -> tuple[int, bytes] | None:
        def need(count: int) -> bool:
            while len(self.buffer) < count:
                self.socket.settimeout(max(0.05, deadline - time.monotonic()))
                try:
                    chunk = self.socket.recv(65536)
                except (TimeoutError, socket.timeout):
                    if time.monotonic() >= deadline:
                        return False
                    continue
                except OSError:
                    return False
                if not chunk:
                    return False
                self.buffer += chunk
            return True

        if not need(2):
            return None
        opcode, length = self.buffer[0] & 0x0F, self.buffer[1] & 0x7F
        offset = 2
        if length == 126:
            if not need(4):
                return None
            length, offset = struct.unpack("!H", self.buffer[2:4])[0], 4
        elif length == 127:
            if not need(10):
                return None
            length, offset = struct.unpack("!Q", self.buffer[2:10])[0], 10
        if not need(offset + length):
            return None
        payload = self.buffer[offset : offset + length]
        self.buffer = self.buffer[offset + length :]
        return opcode, payload

    def outcome(self, timeout: float = 6) -> str:
        """`close <code>`, `error` for an {"error"} text, `pong`, `text`, or `eof` without a close frame."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            frame = self.read_frame(deadline)
            if frame is None:
                return "eof" if time.monotonic() < deadline else "silence"
            opcode, payload = frame
            if opcode == 0x8:
                return f"close {struct.unpack('!H', payload[:2])[0] if len(payload) >= 2 else 'none'}"
            if opcode == 0xA:
                return "pong"
            if opcode == 0x1:
                try:
                    return "error" if "error" in json.loads(payload) else "text"
                except ValueError:
                    return "text"
        return "silence"

    def close(self) -> None:
        self.socket.close()


FRAME_CASES: list[tuple[str, list[bytes], set[str]]] = [
    ("an unmasked text frame", [Frames.frame(0x1, b'{"game": "cod"}', mask=False)], {"close 1002"}),
    ("reserved data opcode 3", [Frames.frame(0x3, b"x")], {"close 1002"}),
    ("reserved control opcode 0xB", [Frames.frame(0xB, b"")], {"close 1002"}),
    ("RSV1 set", [Frames.frame(0x1, b"{}", rsv=4)], {"close 1002"}),
    ("RSV3 set on a ping", [Frames.frame(0x9, b"", rsv=1)], {"close 1002"}),
    ("a ping of 126 bytes", [Frames.frame(0x9, b"p" * 126)], {"close 1002"}),
    ("a fragmented ping", [Frames.frame(0x9, b"p", fin=False)], {"close 1002"}),
    ("a close of 126 bytes", [Frames.frame(0x8, b"\x03\xe8" + b"c" * 124)], {"close 1002"}),
    ("a continuation with nothing to continue", [Frames.frame(0x0, b"x")], {"close 1002"}),
    ("a new text inside a fragmented one", [Frames.frame(0x1, b'{"ga', fin=False), Frames.frame(0x1, b"x")], {"close 1002"}),
    ("a frame declaring 2^63 bytes", [Frames.frame(0x1, b"", length=(1 << 63) - 1)], {"close 1009"}),
    ("a frame declaring 16 KiB + 1", [Frames.frame(0x1, b"a" * (16 * 1024 + 1))], {"close 1009"}),
    ("a binary frame declaring 1 MiB", [Frames.frame(0x2, b"b" * 1024, length=1 << 20)], {"close 1009"}),
    ("65 one-byte fragments", [Frames.frame(0x1 if index == 0 else 0x0, b"x", fin=index == 64) for index in range(65)], {"close 1008"}),
    ("17 fragments of 1 KiB", [Frames.frame(0x1 if index == 0 else 0x0, b"y" * 1024, fin=index == 16) for index in range(17)], {"close 1009"}),
    ("an empty text frame", [Frames.frame(0x1, b"")], {"error"}),
    ("a binary frame", [Frames.frame(0x2, b"\x00\x01\x02")], {"error"}),
    ("a fragmented binary message", [Frames.frame(0x2, b"\x00", fin=False), Frames.frame(0x0, b"\x01")], {"error"}),
    ("invalid UTF-8 in a text frame", [Frames.frame(0x1, b'{"game": "\xff\xfe"}')], {"close 1007"}),
    ("a surrogate in a text frame", [Frames.frame(0x1, '{"game": "'.encode() + b"\xed\xa0\x80" + b'"}')], {"close 1007"}),
    # RFC 6455 §8.1 fail-fast: the bad byte fails the connection in its fragment, the message never ending.
    ("invalid UTF-8 in the second of three fragments",
     [Frames.frame(0x1, '{"game": "κόσμε'.encode(), fin=False), Frames.frame(0x0, b"\xf4\x90\x80\x80", fin=False)], {"close 1007"}),
    ("a text message ending inside a UTF-8 sequence",
     [Frames.frame(0x1, b'{"game": "', fin=False), Frames.frame(0x0, "\u20ac".encode()[:2])], {"close 1007"}),
    ("a text frame split inside a UTF-8 sequence",
     [Frames.frame(0x1, '{"game": "\u00e9'.encode()[:-1], fin=False), Frames.frame(0x0, '\u00e9", "start": 0, "end": 1}'.encode()[1:])],
     {"error"}),
    ("a ping between fragments", [Frames.frame(0x1, b'{"game": "cod", ', fin=False), Frames.frame(0x9, b"hi"),
                                  Frames.frame(0x0, b'"start": 0, "end": 1}')], {"pong"}),
    ("a ping of 125 bytes", [Frames.frame(0x9, b"p" * 125)], {"pong"}),
    ("an unsolicited pong", [Frames.frame(0xA, b"x"), Frames.frame(0x1, b"{}")], {"error"}),
    # RFC 6455 §5.5.1, §7.4: a code no endpoint may send, or a 1-byte body, is a protocol error, never echoed.
    ("a close with a 1-byte body", [Frames.frame(0x8, b"\x03")], {"close 1002"}),
    ("a close with code 999", [Frames.frame(0x8, struct.pack("!H", 999))], {"close 1002"}),
    ("a close with code 1005", [Frames.frame(0x8, struct.pack("!H", 1005))], {"close 1002"}),
    ("a close with code 1006", [Frames.frame(0x8, struct.pack("!H", 1006))], {"close 1002"}),
    ("a close with code 2999", [Frames.frame(0x8, struct.pack("!H", 2999))], {"close 1002"}),
    ("a close with code 5000 and bad UTF-8", [Frames.frame(0x8, struct.pack("!H", 5000) + b"\xff")], {"close 1002"}),
    ("a close with code 1000 and a reason that is not UTF-8", [Frames.frame(0x8, struct.pack("!H", 1000) + b"\xce\xba\xff")], {"close 1007"}),
    ("a close with code 4000", [Frames.frame(0x8, struct.pack("!H", 4000) + "κόσμε".encode())], {"close 4000"}),
    ("an HTTP request instead of a frame", [b"GET / HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"a" * 80 + b"\r\n\r\n"], {"close 1002"}),
]


@pytest.mark.parametrize("path", ["/ws/v1/scores", "/ws/v1/add-score", "/ws/v1/"])
def test_frames_that_break_the_protocol_are_answered_with_a_close_code_and_crash_nothing(
    hostile: tuple[Api, Player], base_url: str, sockets: Sockets, path: str
) -> None:
    _, player = hostile
    probe = Probe("ws frames")
    for label, frames, expected in FRAME_CASES:
        connection = Frames(base_url, path, player.token)
        try:
            if path == "/ws/v1/":
                connection.outcome(timeout=2)  # the welcome text
            for frame in frames:
                connection.send(frame)
            result = connection.outcome()
            if path == "/ws/v1/" and result == "text" and "error" in expected:
                result = "error"  # the echo socket echoes what the others refuse
            probe.check(result in expected, f"{path}: {label}", f"got {result}, expected one of {sorted(expected)}")
        finally:
            connection.close()
    # The daemons are still there and serve.
    socket_ = sockets.open("/ws/v1/scores", player.token)
    socket_.send(json.dumps({"game": "cod", "start": 0, "end": 0}))
    probe.check({"result", "totalCount"} <= set(json.loads(socket_.recv(timeout=10))), "a new socket is not served after the frames", "")
    probe.done()
