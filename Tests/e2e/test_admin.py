"""Game administration end to end, through nginx: who may use the admin routes (401, 403, an admin; a revoked
admin at once), games created and edited over the API and with `leaderboardctl games`, what `/games` and
`/games/{slug}` show on every api pool, and the audit rows each change leaves in PostgreSQL."""

from __future__ import annotations

import json
import uuid
from typing import Any, Callable, Iterator

import pytest

from conftest import Api, Player, Stack, leaderboardctl, new_player, run_sql

pytestmark = pytest.mark.usefixtures("envelope_audit")

GAME_FIELDS = {"slug", "label", "position", "order", "rule", "minScore", "maxScore", "tieBreak", "inGlobal", "format", "authoritative", "archived"}
# Enough reads that nginx's round robin reaches every api pool (two with NODES=2) more than once.
READS_PER_POOL = 4


@pytest.fixture
def slugs(stack: Stack, stack_env: dict[str, str]) -> Iterator[Callable[[], str]]:
    """Fresh slugs for a test's games; each game created is archived afterwards, so no other test's `/games` sees it."""
    made: list[str] = []

    def fresh() -> str:
        made.append("e2e-" + uuid.uuid4().hex[:12])
        return made[-1]

    yield fresh
    for slug in made:
        run_sql(stack_env, "UPDATE games SET archived = true WHERE slug = :'slug'", slug=slug)


def make_admin(api: Api, stack: Stack, name: str = "Admin") -> Player:
    admin = new_player(api, name)
    output = leaderboardctl(stack.directory, "users", "grant-admin", admin.email.upper()).stdout
    assert "is now an admin" in output, output
    return admin


def listed(api: Api, stack: Stack) -> list[list[dict[str, str]]]:
    """`/games` as several reads see it (every api pool answers some)."""
    return [api.get("/games").json()["data"] for _ in range(READS_PER_POOL * len(stack.api_services))]


def audit_rows(stack_env: dict[str, str], target: str) -> list[tuple[str, str, str, dict[str, Any]]]:
    rows = run_sql(stack_env, "SELECT action, actor, coalesce(reason, ''), details FROM audit_log WHERE target = :'target' ORDER BY id", target=target)
    return [(action, actor, reason, json.loads(details)) for action, actor, reason, details in rows]


@pytest.mark.parametrize("method, path", [("POST", "/admin/games"), ("PATCH", "/admin/games/cod")])
def test_admin_routes_are_401_anonymously_and_403_for_a_player(api: Api, method: str, path: str, stack_env: dict[str, str]) -> None:
    player = new_player(api, "Just Player")
    body = {"slug": "e2e-never", "label": "Never"}

    anonymous = api.request(method, path, json=body, session=api.new_session())
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"] == "Bearer"
    refused = api.request(method, path, json=body, headers=player.auth)
    assert refused.status_code == 403
    assert refused.json()["message"] == "only administrators may do this"
    assert api.get("/auth/me", headers=player.auth).json()["data"]["role"] == "player"
    assert api.get("/games/cod").json()["data"]["label"] == "Call of Duty"
    assert run_sql(stack_env, "SELECT count(*) FROM games WHERE slug = 'e2e-never'") == [["0"]]


def test_an_admin_creates_and_edits_a_game_and_every_pool_shows_it_at_once(
    api: Api, stack: Stack, stack_env: dict[str, str], slugs: Callable[[], str]
) -> None:
    admin = make_admin(api, stack)
    assert api.get("/auth/me", headers=admin.auth).json()["data"]["role"] == "admin"
    slug = slugs()

    created = api.post(
        "/admin/games",
        json={"slug": slug, "label": "Kart Racing", "order": "asc", "format": "time_ms", "minScore": 1, "maxScore": 600000},
        headers=admin.auth,
    )
    assert created.status_code == 201, created.text
    game = created.json()["data"]
    assert set(game) == GAME_FIELDS
    assert game | {"position": 0} == {
        "slug": slug, "label": "Kart Racing", "position": 0, "order": "asc", "rule": "best", "minScore": 1, "maxScore": 600000,
        "tieBreak": "shared", "inGlobal": False, "format": "time_ms", "authoritative": False, "archived": False,
    }
    for games in listed(api, stack):
        assert games[-1] == {"label": "Kart Racing", "value": slug}, "a new game comes after the last"
    assert api.get(f"/games/{slug}").json()["data"] == game

    edited = api.request("PATCH", f"/admin/games/{slug}", json={"label": "Kart", "tieBreak": "earliest", "reason": "shorter"}, headers=admin.auth)
    assert edited.status_code == 200, edited.text
    assert edited.json()["data"] == game | {"label": "Kart", "tieBreak": "earliest"}
    for games in listed(api, stack):
        assert {"label": "Kart", "value": slug} in games
    for _ in range(READS_PER_POOL * len(stack.api_services)):
        assert api.get(f"/games/{slug}").json()["data"]["tieBreak"] == "earliest"

    rows = audit_rows(stack_env, slug)
    assert [(action, actor, reason) for action, actor, reason, _ in rows] == [
        ("game.create", f"user:{admin.id}", ""), ("game.update", f"user:{admin.id}", "shorter"),
    ]
    assert rows[0][3]["order"] == {"before": None, "after": "asc"}
    assert rows[1][3] == {"label": {"before": "Kart Racing", "after": "Kart"}, "tieBreak": {"before": "shared", "after": "earliest"}}


def test_bad_settings_are_422_on_their_fields_and_conflicts_409(api: Api, stack: Stack, stack_env: dict[str, str], slugs: Callable[[], str]) -> None:
    admin = make_admin(api, stack)
    slug = slugs()

    def fields(response: Any) -> list[str]:
        assert response.status_code == 422, response.text
        return [error["field"] for error in response.json()["errors"]]

    assert fields(api.post("/admin/games", json={"slug": "All", "label": ""}, headers=admin.auth)) == ["slug", "label"]
    assert fields(api.post("/admin/games", json={"slug": "all", "label": "x"}, headers=admin.auth)) == ["slug"]
    assert fields(api.post("/admin/games", json={"slug": slug, "label": "x", "order": "asc", "inGlobal": True}, headers=admin.auth)) == ["inGlobal"]
    assert fields(api.post("/admin/games", json={"slug": slug, "label": "x", "minScore": 5, "maxScore": 4}, headers=admin.auth)) == ["minScore"]
    assert fields(api.post("/admin/games", json={"slug": slug, "label": "x", "maxScore": 2**53}, headers=admin.auth)) == ["maxScore"]
    assert fields(api.post("/admin/games", json={"slug": slug, "label": "x", "colour": "red", "inGlobal": "yes"}, headers=admin.auth)) == [
        "colour", "inGlobal",
    ]
    assert run_sql(stack_env, "SELECT count(*) FROM games WHERE slug = :'slug'", slug=slug) == [["0"]]

    assert api.post("/admin/games", json={"slug": "cod", "label": "Again"}, headers=admin.auth).status_code == 409
    assert api.post("/admin/games", json={"slug": slug, "label": "Sums", "rule": "sum"}, headers=admin.auth).status_code == 201
    assert api.request("PATCH", "/admin/games/e2e-nope", json={}, headers=admin.auth).status_code == 404
    assert fields(api.request("PATCH", f"/admin/games/{slug}", json={"slug": "other"}, headers=admin.auth)) == ["slug"]
    # Before any score, the rule may still change.
    changed = api.request("PATCH", f"/admin/games/{slug}", json={"rule": "latest"}, headers=admin.auth)
    assert changed.status_code == 200 and changed.json()["data"]["rule"] == "latest"

    scored = api.post("/scores", json={"game": slug, "score": 5}, headers=admin.auth)
    assert scored.status_code in (200, 202), scored.text
    refused = api.request("PATCH", f"/admin/games/{slug}", json={"rule": "sum", "label": "Still latest"}, headers=admin.auth)
    assert refused.status_code == 409
    assert "can no longer change" in refused.json()["message"]
    assert api.get(f"/games/{slug}").json()["data"]["rule"] == "latest"
    assert api.get(f"/games/{slug}").json()["data"]["label"] == "Sums"


def test_revoking_an_admin_takes_effect_on_the_next_request(api: Api, stack: Stack, slugs: Callable[[], str]) -> None:
    admin = make_admin(api, stack, "Soon Former Admin")
    slug = slugs()
    assert api.post("/admin/games", json={"slug": slug, "label": "Before"}, headers=admin.auth).status_code == 201

    output = leaderboardctl(stack.directory, "users", "revoke-admin", admin.email).stdout
    assert "is now a player" in output

    for _ in range(READS_PER_POOL * len(stack.api_services)):
        response = api.request("PATCH", f"/admin/games/{slug}", json={"label": "After"}, headers=admin.auth)
        assert response.status_code == 403
    assert api.get("/auth/me", headers=admin.auth).json()["data"]["role"] == "player", "the token still works, as a player's"
    assert api.get(f"/games/{slug}").json()["data"]["label"] == "Before"


def test_leaderboardctl_games_round_trip(api: Api, stack: Stack, stack_env: dict[str, str], slugs: Callable[[], str]) -> None:
    slug = slugs()
    directory = stack.directory

    help_text = leaderboardctl(directory, "games", "--help").stdout
    for setting in ("label", "position", "order", "rule", "min/max score", "tie-break", "in-global", "format", "authoritative", "archived"):
        assert setting in help_text, f"games --help does not explain {setting}"
    edit_help = leaderboardctl(directory, "games", "edit", "--help").stdout
    for option in ("--label", "--position", "--order", "--rule", "--min-score", "--max-score", "--tie-break", "--in-global", "--format",
                   "--authoritative", "--archived", "--reason"):
        assert option in edit_help

    leaderboardctl(directory, "games", "add", slug, "--label", "Lap Times", "--order", "asc", "--format", "time_ms", "--min-score=-5")
    games = json.loads(leaderboardctl(directory, "games", "list", "--json").stdout)
    added = next(game for game in games if game["slug"] == slug)
    assert added | {"position": 0} == {
        "slug": slug, "label": "Lap Times", "position": 0, "order": "asc", "rule": "best", "minScore": -5, "maxScore": 1000000000,
        "tieBreak": "shared", "inGlobal": False, "format": "time_ms", "authoritative": False, "archived": False,
    }
    assert slug in leaderboardctl(directory, "games", "list").stdout
    assert api.get(f"/games/{slug}").json()["data"] == added
    for games_listed in listed(api, stack):
        assert {"label": "Lap Times", "value": slug} in games_listed

    leaderboardctl(directory, "games", "edit", slug, "--label", "Laps", "--in-global", "false", "--reason", "shorter")
    assert api.get(f"/games/{slug}").json()["data"]["label"] == "Laps"
    refused = leaderboardctl(directory, "games", "edit", slug, "--in-global", "true", check=False)
    assert refused.returncode != 0
    assert "inGlobal" in refused.stderr

    leaderboardctl(directory, "games", "archive", slug, "--reason", "season over")
    for games_listed in listed(api, stack):
        assert slug not in [game["value"] for game in games_listed]
    assert api.get(f"/games/{slug}").json()["data"]["archived"] is True
    assert api.get(f"/leaderboards/{slug}").status_code == 200, "an archived game's boards stay readable"

    rows = audit_rows(stack_env, slug)
    assert [(action, actor, reason) for action, actor, reason, _ in rows] == [
        ("game.create", "leaderboardctl", ""), ("game.update", "leaderboardctl", "shorter"), ("game.update", "leaderboardctl", "season over"),
    ]
    assert rows[1][3] == {"label": {"before": "Lap Times", "after": "Laps"}}, "an unchanged setting is not recorded"
    assert rows[2][3] == {"archived": {"before": False, "after": True}}


def test_leaderboardctl_users_refuses_an_unknown_email(stack: Stack) -> None:
    refused = leaderboardctl(stack.directory, "users", "grant-admin", f"nobody-{uuid.uuid4().hex}@example.com", check=False)
    assert refused.returncode != 0
    assert "no account has the e-mail" in refused.stderr
