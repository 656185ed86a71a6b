"""Refresh tokens end to end, through nginx with the real stores: login hands out a refresh token (body and an
HttpOnly, SameSite=Strict cookie scoped to the refresh route), each refresh rotates it, a spent one presented again
revokes its whole session, logout and a ban revoke sessions, an expired one is refused, only its hash is stored, and
no refresh token ever reaches a log."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
import requests

from conftest import PASSWORD, Api, Player, Stack, leaderboardctl, new_player, run_sql

pytestmark = pytest.mark.usefixtures("envelope_audit")

# Every refresh token this module saw, for the log check at its end.
SEEN: list[str] = []


def refresh(api: Api, token: str | None = None, **kwargs: Any) -> requests.Response:
    """POST /auth/refresh with the token in the body (a game client), or with the session's cookie when None."""
    if token is None:
        response = api.post("/auth/refresh", **kwargs)
    else:
        response = api.post("/auth/refresh", json={"refreshToken": token}, **kwargs)
    if response.status_code == 200:
        SEEN.append(response.json()["data"]["refreshToken"])
    return response


def login(api: Api, player: Player) -> dict[str, Any]:
    response = api.post("/auth/login", json={"email": player.email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    SEEN.append(data["refreshToken"])
    return data


def me(api: Api, token: str) -> int:
    return api.get("/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code


def refused(response: requests.Response, message: str) -> bool:
    return response.status_code == 401 and message in response.json()["message"]


@pytest.fixture
def admin(api: Api, stack: Stack) -> Player:
    player = new_player(api, "Session Admin")
    leaderboardctl(stack.directory, "users", "grant-admin", player.email)
    return player


def test_login_sets_the_refresh_cookie_only_for_the_refresh_route(api: Api) -> None:
    player = new_player(api, "Cookie")
    response = api.post("/auth/login", json={"email": player.email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    SEEN.append(response.json()["data"]["refreshToken"])
    cookies = [value for name, value in response.raw.headers.items() if name.lower() == "set-cookie"]
    refresh_cookie = next(cookie for cookie in cookies if cookie.startswith("rth="))
    attributes = [part.strip() for part in refresh_cookie.split(";")]
    assert attributes[0] == "rth=" + response.json()["data"]["refreshToken"]
    assert "Path=/api/v1/auth/refresh" in attributes and "HttpOnly" in attributes and "SameSite=Strict" in attributes
    # The test stack runs in development mode over plain HTTP; production adds Secure, as it does to `ath`.
    assert "Secure" not in attributes
    # A browser sends it to the refresh route alone: the session refreshes with no body at all.
    renewed = refresh(api)
    assert renewed.status_code == 200, renewed.text
    assert set(renewed.json()["data"]) == {"token", "refreshToken"}
    assert me(api, renewed.json()["data"]["token"]) == 200


def test_a_refresh_rotates_the_token_and_the_spent_one_is_refused(api: Api) -> None:
    player = new_player(api, "Rotate")
    session = login(api, player)
    first = refresh(api, session["refreshToken"])
    assert first.status_code == 200, first.text
    renewed = first.json()["data"]
    assert renewed["refreshToken"] != session["refreshToken"] and renewed["token"] != session["token"]
    assert me(api, renewed["token"]) == 200
    # The access token issued before keeps working until it expires.
    assert me(api, session["token"]) == 200
    assert refused(refresh(api, session["refreshToken"]), "already used")


def test_reusing_a_spent_token_revokes_the_session_for_its_legitimate_holder_too(api: Api) -> None:
    player = new_player(api, "Theft")
    stolen = login(api, player)["refreshToken"]
    holder = refresh(api, stolen).json()["data"]["refreshToken"]
    # The thief replays the copy it took: the whole family goes.
    assert refused(refresh(api, stolen), "already used")
    assert refused(refresh(api, holder), "session revoked")
    # Another session of the same player is untouched.
    assert refresh(api, login(api, player)["refreshToken"]).status_code == 200


def test_logout_revokes_the_session_and_clears_both_cookies(api: Api) -> None:
    player = new_player(api, "Leaving")
    other = login(api, player)
    session = login(api, player)
    renewed = refresh(api, session["refreshToken"]).json()["data"]
    response = api.post("/auth/logout", headers={"Authorization": f"Bearer {renewed['token']}"})
    assert response.status_code == 200, response.text
    cleared = [value for name, value in response.raw.headers.items() if name.lower() == "set-cookie"]
    assert any(cookie.startswith("rth=;") and "Max-Age=0" in cookie for cookie in cleared), cleared
    assert refused(refresh(api, renewed["refreshToken"]), "session revoked")
    assert me(api, renewed["token"]) == 401
    # The player's session on another device goes on.
    assert refresh(api, other["refreshToken"]).status_code == 200


def test_a_ban_revokes_every_session_and_an_unban_brings_none_back(api: Api, admin: Player) -> None:
    player = new_player(api, "Banned")
    phone, laptop = login(api, player), login(api, player)
    response = api.post(f"/admin/users/{player.id}/ban", json={"reason": "e2e"}, headers=admin.auth)
    assert response.status_code == 200, response.text
    assert refused(refresh(api, phone["refreshToken"]), "session revoked")
    assert refused(refresh(api, laptop["refreshToken"]), "session revoked")
    response = api.post(f"/admin/users/{player.id}/unban", json={"reason": "e2e"}, headers=admin.auth)
    assert response.status_code == 200, response.text
    assert refused(refresh(api, laptop["refreshToken"]), "session revoked")


def test_leaderboardctl_signs_a_player_out_everywhere_without_a_ban(api: Api, stack: Stack, stack_env: dict[str, str]) -> None:
    player = new_player(api, "Signed Out")
    phone, laptop = login(api, player), login(api, player)
    leaderboardctl(stack.directory, "users", "sign-out", player.email, "--reason", "lost phone")
    for session in (phone, laptop):
        assert refused(refresh(api, session["refreshToken"]), "session revoked")
        assert me(api, session["token"]) == 401
    # Again: nothing is left to revoke, so nothing is written.
    leaderboardctl(stack.directory, "users", "sign-out", player.email, "--reason", "lost phone")
    audit = run_sql(stack_env, "SELECT action, reason FROM audit_log WHERE target = :'target' ORDER BY id", target=f"user:{player.id}")
    assert audit == [["user.sign-out", "lost phone"]]
    # Not a ban: the player logs in again.
    assert refresh(api, login(api, player)["refreshToken"]).status_code == 200


def test_an_expired_refresh_token_is_refused(api: Api, stack_env: dict[str, str]) -> None:
    player = new_player(api, "Expired")
    token = login(api, player)["refreshToken"]
    digest = hashlib.sha256(token.encode()).hexdigest()
    run_sql(stack_env, "UPDATE refresh_tokens SET expires_at = now() - interval '1 second' WHERE hash = :'hash'", hash=digest)
    assert refused(refresh(api, token), "refresh token expired")


def test_only_the_hash_is_stored(api: Api, stack_env: dict[str, str]) -> None:
    player = new_player(api, "Hashed")
    token = login(api, player)["refreshToken"]
    rows = run_sql(
        stack_env,
        "SELECT t.hash FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id WHERE f.user_id = :'id'",
        id=str(player.id),
    )
    # new_player's login and this one: two sessions, each with its first token.
    assert len(rows) == 2 and [hashlib.sha256(token.encode()).hexdigest()] in rows
    assert run_sql(stack_env, "SELECT count(*) FROM refresh_tokens WHERE hash = :'token'", token=token) == [["0"]]


@pytest.mark.parametrize(
    "body",
    [{}, {"refreshToken": ""}, {"refreshToken": "x" * 43}, {"refreshToken": "A" * 43}, {"refreshToken": 12}, {"refreshToken": "a" * 5000}],
    ids=["no token", "empty", "not base64url", "never issued", "a number", "very long"],
)
def test_a_refresh_without_a_token_we_issued_is_refused(api: Api, body: dict[str, Any]) -> None:
    response = api.post("/auth/refresh", json=body)
    assert response.status_code in (401, 422), response.text


def test_no_refresh_token_reaches_a_log(stack: Stack) -> None:
    """Runs last in this module: every refresh token issued above, in any of the stack's logs."""
    assert len(SEEN) > 10
    logs = {path.name: path.read_text(errors="replace") for path in (stack.directory / "log").glob("*.log")}
    assert {"api.log", "nginx-access.log", "postgres.log"} <= set(logs)
    leaked = [(name, token[:8]) for token in SEEN for name, text in logs.items() if token in text]
    assert leaked == []
