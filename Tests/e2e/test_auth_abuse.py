"""Accounts under abuse, end to end through nginx: lockouts a third party could cause, signups and logins
as a CPU weapon, a Redis that refuses writes, and what tokens and answers may carry.

Every answer is checked by the `envelope_audit` fixture (conftest); tests that expect a 503 allow it.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Iterator

import bcrypt
import pytest
import requests

from conftest import Api, EnvelopeAudit, Sockets, close_code, new_player, unique_email, wait_until
from test_auth import PASSWORD, assert_error, hand_made_token, insert_user, login, me_with, parse_set_cookie, set_cookie, signup

pytestmark = pytest.mark.usefixtures("envelope_audit")


def psql(stack_env: dict[str, str], sql: str) -> str:
    """Runs SQL on the stack's PostgreSQL; fails the test if it fails."""
    completed = subprocess.run(
        ["psql", "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1",
         "-h", stack_env["PG_SERVER"], "-p", stack_env["PG_PORT"], "-U", stack_env["PG_USER"], "-d", stack_env["PG_DB"]],
        input=sql, env={**os.environ, "PGPASSWORD": stack_env["PG_PW"]}, capture_output=True, text=True, timeout=30,
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout.strip()


def redis_cli(stack_env: dict[str, str], *args: str) -> str:
    """A command to the stack's Redis: on its unix socket, or (an HA stack) its primary's redis:// URL."""
    url = stack_env["REDIS_URL"]
    where = ["-s", url.removeprefix("unix://")] if url.startswith("unix://") else ["-u", url]
    completed = subprocess.run(["redis-cli", *where, *args], capture_output=True, text=True, timeout=30)
    assert completed.returncode == 0, completed.stderr
    return completed.stdout.strip()


@contextlib.contextmanager
def redis_refusing_writes(stack_env: dict[str, str]) -> Iterator[None]:
    """The stack's Redis answers, but refuses every write (out of memory, nothing to evict) in the block."""
    saved = {name: redis_cli(stack_env, "CONFIG", "GET", name).splitlines()[1] for name in ("maxmemory", "maxmemory-policy")}
    redis_cli(stack_env, "CONFIG", "SET", "maxmemory-policy", "noeviction")
    redis_cli(stack_env, "CONFIG", "SET", "maxmemory", "1")
    try:
        yield
    finally:
        for name, value in saved.items():
            redis_cli(stack_env, "CONFIG", "SET", name, value)


def get_health(base_url: str) -> tuple[int, dict[str, Any]]:
    """GET /health past the envelope audit: its 503 carries the stores' states in `data`, as API.md says."""
    try:
        with urllib.request.urlopen(f"{base_url}/api/v1/health", timeout=5) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def login_limit(stack_env: dict[str, str]) -> int:
    return int(stack_env.get("LOGIN_MAX_FAILURES", 10))


# --- lockouts (item 7) ---------------------------------------------------------------------------------


def test_failed_logins_from_another_address_do_not_lock_out_the_owner(base_url: str, stack_env: dict[str, str]) -> None:
    owner, guesser = Api(base_url), Api(base_url)
    user = signup(owner)
    for attempt in range(login_limit(stack_env)):
        assert_error(login(guesser, user["email"], f"guess {attempt}"), 401)

    assert_error(login(guesser, user["email"], PASSWORD), 429)
    response = login(owner, user["email"])

    assert response.status_code == 200, response.text
    assert response.json()["data"]["user"] == user


def test_guesses_spread_over_addresses_slow_each_address_but_never_the_owner(base_url: str, stack_env: dict[str, str]) -> None:
    owner = Api(base_url)
    user = signup(owner)
    guessers = [Api(base_url) for _ in range(login_limit(stack_env))]
    for index, guesser in enumerate(guessers):
        assert_error(login(guesser, user["email"], f"guess {index}"), 401)

    # The e-mail has failed its limit: an address that failed for it gets no second guess in the window,
    # a new one gets one, and the owner, who has not failed, logs in.
    throttled = assert_error(login(guessers[0], user["email"], "another guess"), 429)
    newcomer = Api(base_url)
    assert_error(login(newcomer, user["email"], "one guess"), 401)
    assert_error(login(newcomer, user["email"], "a second guess"), 429)
    assert "retry" in throttled["message"]
    assert login(owner, user["email"]).status_code == 200


# --- signups and hashing as a CPU weapon (item 8) --------------------------------------------------------------


def test_signups_from_one_address_are_limited_with_429_and_retry_after(api: Api, base_url: str, stack_env: dict[str, str]) -> None:
    limit = int(stack_env.get("SIGNUP_MAX_PER_ADDRESS", 20))
    window = int(stack_env.get("SIGNUP_WINDOW_SECONDS", 3600))
    for _ in range(limit):
        signup(api)

    refused = api.post("/auth/signup", json={"email": unique_email(), "name": "One Too Many", "password": PASSWORD})

    assert_error(refused, 429)
    assert 1 <= int(refused.headers["Retry-After"]) <= window
    assert signup(Api(base_url))["name"] == "Player One", "another address still signs up"


def test_concurrent_logins_past_the_hashing_bound_get_503_while_reads_are_served(
    base_url: str, stack_env: dict[str, str], envelope_audit: EnvelopeAudit
) -> None:
    envelope_audit.allow(503)
    email = unique_email("Expensive")
    # A stored hash at a cost far above the stack's: each login takes hundreds of milliseconds of bcrypt.
    insert_user(stack_env, "Expensive", email, bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(13)).decode())
    # Warm-up: each api process learns how long such a hash takes (nginx takes turns between them).
    for _ in range(4):
        assert login(Api(base_url), email).status_code == 200
    clients = [Api(base_url) for _ in range(16)]  # more than both pools' workers, each from its own address
    start = threading.Barrier(len(clients) + 1)
    finished: list[float] = []

    def attempt(client: Api) -> requests.Response:
        start.wait(timeout=30)
        response = login(client, email, timeout=30)
        finished.append(time.monotonic())
        return response

    with ThreadPoolExecutor(max_workers=len(clients)) as pool:
        futures = [pool.submit(attempt, client) for client in clients]
        start.wait(timeout=30)
        games = Api(base_url).get("/games", timeout=30)
        games_answered = time.monotonic()
        responses = [future.result() for future in futures]

    statuses = sorted(response.status_code for response in responses)
    assert set(statuses) <= {200, 503}, statuses
    assert 200 in statuses and 503 in statuses, statuses
    for refused in (response for response in responses if response.status_code == 503):
        assert int(refused.headers["Retry-After"]) >= 1
        assert "logins" in refused.json()["message"]
    # The logins never held every worker: a read sent with them was answered before they were all done.
    assert games.status_code == 200
    assert games_answered < max(finished)


# --- a Redis that refuses writes (items 9 and 10) ------------------------------------------------------------


def test_logout_while_redis_refuses_writes_revokes_the_token_everywhere(
    api: Api, base_url: str, stack_env: dict[str, str], sockets: Sockets
) -> None:
    player = new_player(api, "Refused Logout")
    assert me_with(api, player.token).status_code == 200

    with redis_refusing_writes(stack_env):
        response = api.post("/auth/logout", session=api.new_session(), headers=player.auth)
        assert response.status_code == 200, response.text
        name, value, attributes = parse_set_cookie(set_cookie(response))
        assert (name, value, attributes["max-age"]) == ("ath", "", "0")
        assert_error(me_with(api, player.token), 401)

    # Redis takes writes again; its cache never heard of the revocation, and must not vouch for the token.
    assert "revoked" in assert_error(me_with(api, player.token), 401)["message"]
    assert_error(api.get("/leaderboards/all", session=api.new_session(), headers=player.auth), 401)
    assert_error(api.get("/me/standing", session=api.new_session(), headers=player.auth), 401)
    assert close_code(sockets.open("/ws/v1/scores", player.token), timeout=10) == 1008
    # Once the reconciler has reloaded the cache, the token is still refused.
    wait_until(lambda: redis_cli(stack_env, "EXISTS", "lb:meta:revocations-cached") == "1", timeout=15, message="the cache reloaded")
    assert_error(me_with(api, player.token), 401)
    assert close_code(sockets.open("/ws/v1/my-score", player.token), timeout=10) == 1008


def test_a_redis_refusing_writes_is_503_on_a_failed_login_and_read_only_in_health(
    api: Api, base_url: str, stack_env: dict[str, str], envelope_audit: EnvelopeAudit
) -> None:
    envelope_audit.allow(503)
    user = signup(api)

    with redis_refusing_writes(stack_env):
        failed = login(api, user["email"], "not the password")
        health_status, health = get_health(base_url)
        succeeded = login(api, user["email"])

    assert_error(failed, 503)
    assert int(failed.headers["Retry-After"]) >= 1
    assert health_status == 503
    assert health["data"] == {"postgres": "ok", "redis": "read-only"}
    assert succeeded.status_code == 200, "counting failures needs writes, a correct password does not"
    wait_until(lambda: get_health(base_url)[0] == 200, timeout=15, message="health 200")


# --- passwords, tokens and what answers carry (items 12, 13, 14, 17) ---------------------------------------


def test_a_login_compares_the_whole_password_beyond_bcrypts_72_bytes(api: Api) -> None:
    password = "p" * 72
    user = signup(api, password=password)

    with_tail = login(api, user["email"], password + "and a tail")
    wrong = login(api, user["email"], "q" * 72)

    assert_error(with_tail, 401)
    assert with_tail.json() == wrong.json()
    assert login(api, user["email"], password).status_code == 200


def signed(secret: str, claims: dict[str, Any]) -> str:
    """A token with our header and signature over exactly these claims."""
    return hand_made_token(
        {"alg": "HS256", "typ": "JWT"}, claims, lambda signing_input: hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    )


# Each turns valid predecessor claims (id, name, email, exp as numbers) into claims RFC 7519 does not allow.
BAD_CLAIMS = {
    "exp-string": lambda claims, now: {**claims, "exp": str(claims["exp"])},
    "exp-boolean": lambda claims, now: {**claims, "exp": True},
    "nbf-string": lambda claims, now: {**claims, "nbf": str(now - 60)},
    "iat-string": lambda claims, now: {**claims, "iat": str(now)},
    "id-string": lambda claims, now: {**claims, "id": str(claims["id"])},
    "iat-five-years-ahead": lambda claims, now: {**claims, "iat": now + 5 * 365 * 86400},
}


@pytest.mark.parametrize("spoil", BAD_CLAIMS.values(), ids=BAD_CLAIMS.keys())
def test_a_signed_token_with_badly_typed_claims_is_refused(api: Api, stack_env: dict[str, str], spoil: Any) -> None:
    user = signup(api)
    now = int(time.time())
    claims = {**user, "exp": now + 600}
    assert me_with(api, signed(stack_env["SECRET_KEY"], claims)).status_code == 200, "the unspoilt claims are accepted"

    response = me_with(api, signed(stack_env["SECRET_KEY"], spoil(claims, now)))

    assert assert_error(response, 401)["message"] == "invalid token"


def test_answers_with_a_token_or_an_account_are_not_stored_by_caches(api: Api) -> None:
    email = unique_email("NoStore")
    created = api.post("/auth/signup", json={"email": email, "name": "No Store", "password": PASSWORD})
    logged_in = login(api, email)
    me = api.get("/auth/me")

    for response in (created, logged_in, me):
        assert response.status_code in (200, 201), response.text
        assert response.headers.get("Cache-Control") == "no-store", response.request.url


@pytest.mark.parametrize("path", ["/auth/me", "/me/standing", "/me/scores"])
def test_a_deleted_accounts_token_is_401_on_every_route_about_the_caller(api: Api, stack_env: dict[str, str], path: str) -> None:
    player = new_player(api, "Deleted")
    psql(stack_env, f"DELETE FROM users WHERE id = {int(player.id)};")

    body = assert_error(api.get(path, session=api.new_session(), headers=player.auth), 401)

    assert body["message"] == "account no longer exists"


# --- idempotency keys (item 11) ------------------------------------------------------------------------------------------


def test_an_idempotency_key_reused_with_another_body_is_422_naming_the_key(api: Api) -> None:
    player = new_player(api, "Idempotent")
    key = f"retry-{uuid.uuid4().hex}"
    headers = {**player.auth, "Idempotency-Key": key}
    first = api.post("/scores", json={"game": "cod", "score": 5}, headers=headers)
    assert first.status_code == 200, first.text

    for body in ({"game": "cod", "score": 6}, {"game": "valrnt", "score": 5}):
        refused = api.post("/scores", json=body, headers=headers)
        errors = {error["field"]: error["message"] for error in assert_error(refused, 422)["errors"]}
        assert key in errors["Idempotency-Key"]

    replay = api.post("/scores", json={"game": "cod", "score": 5}, headers=headers)
    assert replay.status_code == 200
    assert replay.json()["data"] == first.json()["data"]
    history = api.get("/me/scores", headers=player.auth).json()["data"]["result"]
    assert [(entry["game"], entry["score"]) for entry in history] == [("cod", 5)]
