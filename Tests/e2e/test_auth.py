"""The auth and games routes of the REST API, end to end through nginx, as a client sees them.

Every answer a test gets is checked by the `envelope_audit` fixture (conftest):
the JSON envelope, a JSON content type, and never a 5xx. Each test has its own
client address and its own e-mails, so tests do not share rate limits or
accounts.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

import jwt
import pytest
import requests

from conftest import Api, run_sql, unique_email

pytestmark = pytest.mark.usefixtures("envelope_audit")

JSON = {"Content-Type": "application/json"}
PASSWORD = "correct horse battery"

# DESIGN.md's games, in its order; `all` (the global board) comes first.
GAMES = [
    {"label": "All", "value": "all"},
    {"label": "Call of Duty", "value": "cod"},
    {"label": "Valorant", "value": "valrnt"},
    {"label": "Minecraft", "value": "mcft"},
    {"label": "Fortnite", "value": "fnite"},
    {"label": "Apex Legends", "value": "apxleg"},
    {"label": "League of Legends", "value": "lol"},
    {"label": "Overwatch", "value": "ow"},
    {"label": "Counter Strike", "value": "cs"},
    {"label": "Rocket League", "value": "rl"},
    {"label": "PUBG", "value": "pubg"},
]


# --- helpers -------------------------------------------------------------------


def signup(api: Api, email: str | None = None, name: str = "Player One", password: str = PASSWORD) -> dict[str, Any]:
    """Creates an account and returns its data {id, name, email}."""
    response = api.post("/auth/signup", json={"email": email or unique_email(), "name": name, "password": password})
    assert response.status_code == 201, response.text
    return response.json()["data"]


def login(api: Api, email: str, password: str = PASSWORD, **kwargs: Any) -> requests.Response:
    return api.post("/auth/login", json={"email": email, "password": password}, **kwargs)


def token_of(api: Api, user: dict[str, Any], password: str = PASSWORD) -> str:
    response = login(api, user["email"], password, session=api.new_session())
    assert response.status_code == 200, response.text
    return response.json()["data"]["token"]


def me_with(api: Api, token: str, transport: str = "bearer") -> requests.Response:
    """GET /auth/me presenting only this token, as `Authorization: Bearer` or as the `ath` cookie."""
    headers = {"Authorization": f"Bearer {token}"} if transport == "bearer" else {"Cookie": f"ath={token}"}
    return api.get("/auth/me", session=api.new_session(), headers=headers)


def assert_error(response: requests.Response, status: int) -> dict[str, Any]:
    """The error envelope with this status; returns the body."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False
    assert body["statusCode"] == status
    assert body["data"] is None
    return body


def field_errors(response: requests.Response) -> dict[str, str]:
    """A 422's errors by field."""
    body = assert_error(response, 422)
    return {error["field"]: error["message"] for error in body["errors"]}


def parse_set_cookie(header: str) -> tuple[str, str, dict[str, str | bool]]:
    """`ath=v; Path=/; HttpOnly` -> ("ath", "v", {"path": "/", "httponly": True})."""
    first, *attributes = [part.strip() for part in header.split(";")]
    name, _, value = first.partition("=")
    parsed: dict[str, str | bool] = {}
    for attribute in attributes:
        key, equals, attribute_value = attribute.partition("=")
        parsed[key.lower()] = attribute_value if equals else True
    return name, value, parsed


def set_cookie(response: requests.Response, name: str = "ath") -> str:
    """The response's Set-Cookie header for the cookie `name` (login and logout set `ath` and `rth`)."""
    headers = [value for key, value in response.raw.headers.items() if key.lower() == "set-cookie"]
    return next(header for header in headers if header.startswith(name + "="))


def token_lifetime_seconds(stack_env: dict[str, str]) -> int:
    return round(float(stack_env.get("ACCESS_TOKEN_EXPIRE_MINUTES", "60")) * 60)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_made_token(header: dict[str, Any], claims: dict[str, Any], signature: Callable[[str], bytes] | None) -> str:
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
    return f"{signing_input}.{b64url(signature(signing_input)) if signature else ''}"


def predecessor_claims(user: dict[str, Any], expires_in: int = 600) -> dict[str, Any]:
    """What the predecessor put in its tokens (PyJWT, HS256)."""
    return {"id": user["id"], "name": user["name"], "email": user["email"], "exp": int(time.time()) + expires_in}


def insert_user(stack_env: dict[str, str], name: str, email: str, password_hash: str) -> int:
    """Inserts a users row straight into PostgreSQL, as the predecessor's data would be; returns its id."""
    sql = "INSERT INTO users (name, email, password) VALUES (:'name', :'email', :'hash') RETURNING id;"
    return int(run_sql(stack_env, sql, name=name, email=email, hash=password_hash)[0][0])


# --- signup ----------------------------------------------------------------------


def test_signup_creates_an_account(api: Api) -> None:
    email = unique_email("Signup")

    response = api.post("/auth/signup", json={"email": email, "name": "Ada Lovelace", "password": PASSWORD})

    assert response.status_code == 201
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["success"] is True
    assert body["statusCode"] == 201
    assert isinstance(body["message"], str) and body["message"]
    data = body["data"]
    assert set(data) == {"id", "name", "email"}, "the password (or its hash) must never be sent back"
    assert isinstance(data["id"], int) and data["id"] > 0
    assert data["name"] == "Ada Lovelace"
    assert data["email"] == email


def test_signup_trims_the_email_and_the_name(api: Api) -> None:
    email = unique_email("Trimmed")

    user = signup(api, email=f"  {email}\t", name="  Grace Hopper  ")

    assert user["email"] == email
    assert user["name"] == "Grace Hopper"
    assert login(api, email).status_code == 200


@pytest.mark.parametrize(
    "variant",
    [str.upper, str.lower, str.swapcase, lambda email: f"  {email}  ", lambda email: f" \t{email.upper()} "],
    ids=["upper", "lower", "swapped", "spaces", "spaces-and-upper"],
)
def test_an_email_is_taken_in_any_letter_case_and_with_surrounding_spaces(api: Api, variant: Callable[[str], str]) -> None:
    email = unique_email("Taken")
    first = signup(api, email=email, name="First")

    response = api.post("/auth/signup", json={"email": variant(email), "name": "Second", "password": "other password"})

    body = assert_error(response, 409)
    assert "e-mail" in body["message"] or "email" in body["message"]
    # The first account is untouched: its password still works, the second one's does not.
    assert login(api, email, PASSWORD).json()["data"]["user"] == first
    assert login(api, email, "other password").status_code == 401


def test_an_email_is_taken_in_another_letter_case_beyond_ascii(api: Api) -> None:
    email = unique_email("Ünïcode")
    signup(api, email=email)

    response = api.post("/auth/signup", json={"email": email.lower(), "name": "Second", "password": PASSWORD})

    assert_error(response, 409)


# --- login, /auth/me, logout ---------------------------------------------------


def test_login_returns_a_token_and_the_user_and_sets_the_cookie(api: Api, stack_env: dict[str, str]) -> None:
    user = signup(api, name="Linus")
    lifetime = token_lifetime_seconds(stack_env)

    response = api.post("/auth/login", json={"email": user["email"], "password": PASSWORD})

    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True and body["statusCode"] == 200
    assert set(body["data"]) == {"token", "refreshToken", "user"}
    assert body["data"]["user"] == user
    token = body["data"]["token"]

    name, value, attributes = parse_set_cookie(set_cookie(response))
    assert (name, value) == ("ath", token)
    # Exactly these: no Domain, and no Secure, since the stack is served over plain HTTP.
    assert attributes == {"httponly": True, "samesite": "Lax", "path": "/", "max-age": str(lifetime)}

    # A client of the predecessor decodes the token with PyJWT and finds its claims.
    claims = jwt.decode(token, stack_env["SECRET_KEY"], algorithms=["HS256"])
    assert {key: claims[key] for key in ("id", "name", "email")} == user
    assert abs(claims["exp"] - (time.time() + lifetime)) < 60


def test_login_takes_the_email_in_any_letter_case_and_with_spaces(api: Api) -> None:
    email = unique_email("CaseLogin")
    user = signup(api, email=email)

    for variant in (email.upper(), email.lower(), f"  {email.swapcase()} "):
        response = login(api, variant)
        assert response.status_code == 200, variant
        assert response.json()["data"]["user"] == user


def test_a_wrong_password_and_an_unknown_email_get_the_same_401(api: Api) -> None:
    user = signup(api)

    wrong_password = login(api, user["email"], "not the password")
    unknown_email = login(api, unique_email("nobody"), PASSWORD)

    assert_error(wrong_password, 401)
    assert_error(unknown_email, 401)
    assert "Set-Cookie" not in wrong_password.headers
    # Nothing tells whether the account exists.
    assert wrong_password.json() == unknown_email.json()


def test_me_answers_the_user_for_the_cookie_and_for_a_bearer_token(api: Api) -> None:
    user = signup(api, name="Cookie Monster")
    token = login(api, user["email"]).json()["data"]["token"]

    with_cookie = api.get("/auth/me")  # the session's cookie jar sends `ath`, as a browser does
    with_bearer = me_with(api, token, "bearer")
    with_cookie_header = me_with(api, token, "cookie")

    for response in (with_cookie, with_bearer, with_cookie_header):
        assert response.status_code == 200
        assert response.json()["data"] == user | {"role": "player"}


def test_me_without_a_token_is_401(api: Api) -> None:
    response = api.get("/auth/me")

    assert_error(response, 401)
    assert response.headers.get("WWW-Authenticate", "").startswith("Bearer")


@pytest.mark.parametrize("route", ["/auth/logout", "/auth/signout"])
def test_logout_clears_the_cookie_and_revokes_the_token(api: Api, route: str) -> None:
    user = signup(api)
    token = login(api, user["email"]).json()["data"]["token"]
    assert api.session.cookies.get("ath") == token
    assert api.get("/auth/me").status_code == 200

    response = api.post(route)

    assert response.status_code == 200
    assert response.json()["success"] is True
    name, value, attributes = parse_set_cookie(set_cookie(response))
    assert (name, value) == ("ath", "")
    assert attributes["max-age"] == "0"
    assert attributes["path"] == "/"
    assert "ath" not in api.session.cookies, "the browser keeps the cookie"
    assert_error(api.get("/auth/me"), 401)
    # Whoever kept a copy of the token cannot use it any more, by either transport.
    for transport in ("bearer", "cookie"):
        body = assert_error(me_with(api, token, transport), 401)
        assert "revoked" in body["message"]


def test_logout_revokes_only_the_token_it_was_given(api: Api) -> None:
    user = signup(api)
    laptop = token_of(api, user)
    phone = token_of(api, user)

    response = api.post("/auth/logout", session=api.new_session(), headers={"Authorization": f"Bearer {laptop}"})

    assert response.status_code == 200
    assert_error(me_with(api, laptop), 401)
    assert me_with(api, phone).json()["data"] == user | {"role": "player"}


@pytest.mark.parametrize("route", ["/auth/logout", "/auth/signout"])
@pytest.mark.parametrize("token", [None, "not-a-token"], ids=["no-token", "invalid-token"])
def test_logout_without_a_valid_token_still_clears_the_cookie(api: Api, route: str, token: str | None) -> None:
    headers = {"Authorization": f"Bearer {token}"} if token else {}

    response = api.post(route, headers=headers)

    assert response.status_code == 200
    name, value, attributes = parse_set_cookie(set_cookie(response))
    assert (name, value, attributes["max-age"]) == ("ath", "", "0")


# --- tokens from elsewhere -----------------------------------------------------------


def test_a_pyjwt_token_with_the_predecessors_claims_is_accepted_and_can_be_revoked(
    api: Api, stack_env: dict[str, str]
) -> None:
    user = signup(api, name="Predecessor Fan")
    token = jwt.encode(predecessor_claims(user), stack_env["SECRET_KEY"], algorithm="HS256")

    for transport in ("bearer", "cookie"):
        response = me_with(api, token, transport)
        assert response.status_code == 200, response.text
        assert response.json()["data"] == user | {"role": "player"}

    logout = api.post("/auth/logout", session=api.new_session(), headers={"Authorization": f"Bearer {token}"})
    assert logout.status_code == 200
    assert "revoked" in assert_error(me_with(api, token), 401)["message"]


def forged_tokens(secret: str, user: dict[str, Any], other: dict[str, Any]) -> dict[str, str]:
    """Tokens for `user` that must all be refused: each is wrong in one way."""
    claims = predecessor_claims(user)
    valid = jwt.encode(claims, secret, algorithm="HS256")
    header, payload, signature = valid.split(".")
    raw_signature = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
    hs256 = lambda signing_input: hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()  # noqa: E731
    now = int(time.time())
    return {
        "alg none, unsigned": hand_made_token({"alg": "none", "typ": "JWT"}, claims, None),
        "alg None, signed": hand_made_token({"alg": "None", "typ": "JWT"}, claims, hs256),
        "HS512 with the right secret": jwt.encode(claims, secret, algorithm="HS512"),
        "RS256 header, HMAC with the secret": hand_made_token({"alg": "RS256", "typ": "JWT"}, claims, hs256),
        "no alg": hand_made_token({"typ": "JWT"}, claims, hs256),
        "another user's id in the payload": f"{header}.{b64url(json.dumps(predecessor_claims(other)).encode())}.{signature}",
        "a name changed in the payload": f"{header}.{b64url(json.dumps({**claims, 'name': 'Admin'}).encode())}.{signature}",
        "no signature": f"{header}.{payload}.",
        "signature cut short": valid[:-4],
        "signature with one bit flipped": f"{header}.{payload}.{b64url(bytes([raw_signature[0] ^ 1]) + raw_signature[1:])}",
        "signature in standard padded base64": f"{header}.{payload}.{base64.b64encode(raw_signature).decode()}",
        "wrong secret": jwt.encode(claims, "not the secret of this stack, but long enough", algorithm="HS256"),
        "expired": jwt.encode({**claims, "exp": now - 30}, secret, algorithm="HS256"),
        "not valid before an hour from now": jwt.encode({**claims, "nbf": now + 3600}, secret, algorithm="HS256"),
        "no exp": hand_made_token({"alg": "HS256", "typ": "JWT"}, {k: v for k, v in claims.items() if k != "exp"}, hs256),
        "no user id": hand_made_token({"alg": "HS256", "typ": "JWT"}, {"name": user["name"], "exp": now + 600}, hs256),
        "an account that does not exist": jwt.encode({**claims, "id": 9_000_000_000}, secret, algorithm="HS256"),
        "payload not base64url": f"{header}.{payload[:5]}*{payload[6:]}.{signature}",
        "header not JSON": f"{b64url(b'not json')}.{payload}.{signature}",
        "two segments": f"{header}.{payload}",
        "four segments": f"{valid}.{signature}",
        "garbage": "garbage",
        "dots only": "..",
        "a very long token": "a" * 4000,
    }


# Their names; each test makes the tokens anew with the stack's secret and its own users.
FORGERIES = list(forged_tokens("x" * 64, {"id": 1, "name": "n", "email": "e"}, {"id": 2, "name": "n", "email": "e"}))


@pytest.mark.parametrize("transport", ["bearer", "cookie"])
@pytest.mark.parametrize("forgery", FORGERIES)
def test_a_forged_or_broken_token_is_refused(api: Api, stack_env: dict[str, str], forgery: str, transport: str) -> None:
    user = signup(api)
    other = signup(api)
    token = forged_tokens(stack_env["SECRET_KEY"], user, other)[forgery]

    response = me_with(api, token, transport)

    body = assert_error(response, 401)
    assert response.headers.get("WWW-Authenticate", "").startswith("Bearer")
    if forgery == "expired":
        assert "expired" in body["message"]


# --- accounts made by the predecessor (bcrypt by Python) ---------------------------------


@pytest.mark.filterwarnings("ignore:'crypt' is deprecated:DeprecationWarning")  # passlib's import, not ours
@pytest.mark.parametrize("ident, rounds", [("2b", 12), ("2y", 4), ("2a", 4)])
def test_an_account_with_a_passlib_bcrypt_hash_logs_in(api: Api, stack_env: dict[str, str], ident: str, rounds: int) -> None:
    from passlib.hash import bcrypt

    password = "prédécesseur's password"
    password_hash = bcrypt.using(ident=ident, rounds=rounds).hash(password)
    assert password_hash.startswith(f"${ident}${rounds:02d}$")
    email = unique_email("Legacy")
    user_id = insert_user(stack_env, "Legacy Player", email, password_hash)
    user = {"id": user_id, "name": "Legacy Player", "email": email}

    response = login(api, email.lower(), password)

    assert response.status_code == 200, response.text
    assert response.json()["data"]["user"] == user
    assert api.get("/auth/me").json()["data"] == user | {"role": "player"}
    assert_error(login(api, email, password + "!"), 401)


# --- what a request must look like -------------------------------------------------------


@pytest.mark.parametrize("route", ["/auth/signup", "/auth/login"])
@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"email":', id="truncated"),
        pytest.param(b"{'email': 'a@example.com'}", id="single-quotes"),
        pytest.param(b"{email: 1}", id="unquoted-key"),
        pytest.param(b"not json", id="not-json"),
        pytest.param(b'{"email": "a@example.com"} {}', id="two-values"),
        pytest.param(b"\xff\xfe{}", id="not-utf8"),
        pytest.param(b"", id="empty"),
        pytest.param(
            b'{"email": "a@example.com",}',
            id="trailing-comma",
        ),
    ],
)
def test_malformed_json_is_400(api: Api, route: str, body: bytes) -> None:
    assert_error(api.post(route, data=body, headers=JSON), 400)


@pytest.mark.parametrize("route", ["/auth/signup", "/auth/login"])
@pytest.mark.parametrize("body", [b"[]", b'"a string"', b"42", b"null"], ids=["array", "string", "number", "null"])
def test_json_that_is_not_an_object_is_422(api: Api, route: str, body: bytes) -> None:
    assert "body" in field_errors(api.post(route, data=body, headers=JSON))


@pytest.mark.parametrize("route", ["/auth/signup", "/auth/login"])
@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/jsonp"],
)
def test_a_body_that_is_not_declared_json_is_415(api: Api, route: str, content_type: str | None) -> None:
    body = json.dumps({"email": unique_email(), "name": "n", "password": PASSWORD}).encode()
    headers = {"Content-Type": content_type} if content_type else {}

    assert_error(api.post(route, data=body, headers=headers), 415)


def test_a_json_content_type_with_parameters_is_json(api: Api) -> None:
    body = json.dumps({"email": unique_email(), "name": "n", "password": PASSWORD}).encode()

    response = api.post("/auth/signup", data=body, headers={"Content-Type": "Application/JSON; charset=utf-8"})

    assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    "route, body, missing",
    [
        ("/auth/signup", {}, {"email", "name", "password"}),
        ("/auth/signup", {"email": "a@example.com"}, {"name", "password"}),
        ("/auth/signup", {"name": "n", "password": PASSWORD}, {"email"}),
        ("/auth/login", {}, {"email", "password"}),
        ("/auth/login", {"email": "a@example.com"}, {"password"}),
    ],
)
def test_missing_fields_are_422_naming_each(api: Api, route: str, body: dict[str, Any], missing: set[str]) -> None:
    assert set(field_errors(api.post(route, json=body))) == missing


@pytest.mark.parametrize("route", ["/auth/signup", "/auth/login"])
@pytest.mark.parametrize("field", ["email", "password"])
@pytest.mark.parametrize("value", [12345678, 1.5, True, None, ["a@example.com"], {"value": "x"}])
def test_a_field_of_the_wrong_type_is_422_naming_it(api: Api, route: str, field: str, value: Any) -> None:
    body = {"email": unique_email(), "name": "n", "password": PASSWORD, field: value}

    assert set(field_errors(api.post(route, json=body))) == {field}


@pytest.mark.parametrize("value", [42, False, None, ["Ada"], {"first": "Ada"}])
def test_a_name_of_the_wrong_type_is_422(api: Api, value: Any) -> None:
    body = {"email": unique_email(), "name": value, "password": PASSWORD}

    assert set(field_errors(api.post("/auth/signup", json=body))) == {"name"}


@pytest.mark.parametrize(
    "email",
    ["plainaddress", "@example.com", "player@", "player@localhost", "player@.example.com", "player@example.com.",
     "two words@example.com", "player@@example.com", "a@b@example.com", "", "   ", "x" * 250 + "@example.com"],
)
def test_an_invalid_email_is_422(api: Api, email: str) -> None:
    errors = field_errors(api.post("/auth/signup", json={"email": email, "name": "n", "password": PASSWORD}))

    assert set(errors) == {"email"}


@pytest.mark.parametrize("name", ["", "   ", "x" * 101, "tab\there", "new\nline"])
def test_an_invalid_name_is_422(api: Api, name: str) -> None:
    errors = field_errors(api.post("/auth/signup", json={"email": unique_email(), "name": name, "password": PASSWORD}))

    assert set(errors) == {"name"}


def test_every_invalid_field_is_listed_at_once(api: Api) -> None:
    errors = field_errors(api.post("/auth/signup", json={"email": "nope", "name": "", "password": "short"}))

    assert set(errors) == {"email", "name", "password"}


# bcrypt reads at most 72 bytes, so passwords are measured in UTF-8 bytes, not characters.
@pytest.mark.parametrize(
    "password",
    ["1234567", "ééé", "😀", "a" * 73, "é" * 37, "é" * 36 + "a", "😀" * 19, "😀" * 18 + "a"],
    ids=["7-ascii", "3-chars-6-bytes", "1-char-4-bytes", "73-ascii", "37-chars-74-bytes", "37-chars-73-bytes",
         "19-chars-76-bytes", "19-chars-73-bytes"],
)
def test_a_password_under_8_or_over_72_bytes_is_422(api: Api, password: str) -> None:
    errors = field_errors(api.post("/auth/signup", json={"email": unique_email(), "name": "n", "password": password}))

    assert set(errors) == {"password"}


@pytest.mark.parametrize(
    "password, almost",
    [("12345678", "12345679"), ("éééé", "ééé"), ("a" * 72, "a" * 71 + "b"), ("é" * 36, "é" * 35 + "è"),
     ("😀" * 18, "😀" * 17 + "😁")],
    ids=["8-ascii", "4-chars-8-bytes", "72-ascii", "36-chars-72-bytes", "18-chars-72-bytes"],
)
def test_a_password_of_8_to_72_bytes_works_to_its_last_byte(api: Api, password: str, almost: str) -> None:
    user = signup(api, password=password)

    assert login(api, user["email"], password).status_code == 200
    assert_error(login(api, user["email"], almost), 401)


@pytest.mark.parametrize(
    "field, value",
    [("name", "Nul\u0000Player"), ("email", f"nul\u0000{unique_email()}"), ("password", "pass\u0000word-123")],
)
def test_a_nul_character_in_a_signup_field_is_422(api: Api, field: str, value: str) -> None:
    body = {"email": unique_email(), "name": "n", "password": PASSWORD, field: value}

    assert set(field_errors(api.post("/auth/signup", json=body))) == {field}


@pytest.mark.parametrize("field", ["email", "password"])
def test_a_nul_character_in_a_login_field_is_422(api: Api, field: str) -> None:
    user = signup(api)
    body = {"email": user["email"], "password": PASSWORD}
    body[field] += "\u0000anything"

    response = api.post("/auth/login", json=body)

    assert "Set-Cookie" not in response.headers
    assert set(field_errors(response)) == {field}


# --- strings a database or a terminal might choke on ------------------------------------------

ODD_STRINGS = {
    "sql": "'; DROP TABLE users; --",
    "sql-2": "Robert'); DROP TABLE users;-- \"x\" \\ %s $1",
    "emoji": "Gamer 😀🎮👩‍👩‍👧",
    "arabic-rtl": "لاعب مرحبا",
    "rtl-override": "\u202eevil\u202c name",
    "combining": "Zoe\u0308 e\u0301le\u0300ve",
    "cjk": "選手 プレイヤー 선수",
}


@pytest.mark.parametrize("text", list(ODD_STRINGS.values()), ids=list(ODD_STRINGS))
def test_odd_names_and_passwords_are_kept_verbatim(api: Api, text: str) -> None:
    email = unique_email()
    password = text
    assert 8 <= len(password.encode()) <= 72

    user = signup(api, email=email, name=text, password=password)

    assert user["name"] == text, "the name came back changed (normalised, escaped or cut)"
    response = login(api, email, password)
    assert response.status_code == 200
    assert response.json()["data"]["user"] == user
    assert api.get("/auth/me").json()["data"] == user | {"role": "player"}


@pytest.mark.parametrize(
    "local, domain",
    [("o'brien+{tag}", "example.com"), ("{tag}'OR'1'='1", "example.com"), ("{tag}';DROP-TABLE-users;--", "example.com"),
     ("ünïcødé-{tag}", "exämple.com"), ("😀-{tag}", "example.com"), ("لاعب-{tag}", "example.com"),
     ("{tag}", "例え.jp"), ("e\u0301-{tag}", "example.com")],
    ids=["apostrophe", "sql-or", "sql-drop", "accents", "emoji", "rtl", "idn", "combining"],
)
def test_odd_emails_are_kept_verbatim_or_refused_with_422(api: Api, local: str, domain: str) -> None:
    email = f"{local.format(tag=unique_email().split('@')[0])}@{domain}"

    response = api.post("/auth/signup", json={"email": email, "name": "n", "password": PASSWORD})

    if response.status_code == 422:
        assert set(field_errors(response)) == {"email"}
        return
    assert response.status_code == 201, response.text
    user = response.json()["data"]
    assert user["email"] == email
    logged_in = login(api, email)
    assert logged_in.status_code == 200
    assert logged_in.json()["data"]["user"] == user
    # Still one account per e-mail.
    assert_error(api.post("/auth/signup", json={"email": email, "name": "n", "password": PASSWORD}), 409)


def test_sql_in_the_login_fields_matches_nobody(api: Api) -> None:
    signup(api)  # there is at least one account to match

    response = api.post("/auth/login", json={"email": "' OR '1'='1' --", "password": "' OR '1'='1"})

    assert_error(response, 401)


def test_the_apostrophe_email_is_accepted(api: Api) -> None:
    email = f"o'brien+{unique_email()}"

    assert signup(api, email=email)["email"] == email


# --- routes, methods, sizes ------------------------------------------------------------------


@pytest.mark.parametrize(
    "method, path",
    [("GET", "/nope"), ("GET", "/"), ("GET", "/auth/nope"), ("POST", "/auth/nope"), ("GET", "/auth"),
     ("POST", "/auth/login/extra"), ("GET", "/games/cod/extra"), ("GET", "/AUTH/ME")],
)
def test_an_unknown_route_is_404(api: Api, method: str, path: str) -> None:
    assert_error(api.request(method, path), 404)


@pytest.mark.parametrize(
    "method, path, allowed",
    [("GET", "/auth/signup", "POST"), ("GET", "/auth/login", "POST"), ("GET", "/auth/logout", "POST"),
     ("GET", "/auth/signout", "POST"), ("POST", "/auth/me", "GET"), ("DELETE", "/auth/me", "GET"),
     ("PUT", "/auth/login", "POST"), ("POST", "/games", "GET"), ("DELETE", "/games/", "GET")],
)
def test_a_wrong_method_is_405_with_allow(api: Api, method: str, path: str, allowed: str) -> None:
    response = api.request(method, path)

    assert_error(response, 405)
    methods = {part.strip() for part in response.headers["Allow"].split(",")}
    assert allowed in methods
    assert method not in methods


def padded_signup_body(size: int) -> bytes:
    """A valid signup of exactly `size` bytes (an ignored field takes up the room)."""
    body = {"email": unique_email(), "name": "Padded", "password": PASSWORD, "padding": ""}
    room = size - len(json.dumps(body, separators=(",", ":")).encode())
    assert room >= 0
    body["padding"] = "x" * room
    encoded = json.dumps(body, separators=(",", ":")).encode()
    assert len(encoded) == size
    return encoded


def test_a_body_over_the_apis_limit_is_413_and_one_at_it_is_served(api: Api, stack_env: dict[str, str]) -> None:
    limit = int(stack_env.get("MAX_BODY_BYTES", 64 * 1024))

    at_limit = api.post("/auth/signup", data=padded_signup_body(limit), headers=JSON)
    over_limit = api.post("/auth/signup", data=padded_signup_body(limit + 1), headers=JSON)

    assert at_limit.status_code == 201, at_limit.text
    assert_error(over_limit, 413)
    # The pool answers it before any route does, with the request's id all the same (openapi.yaml's PayloadTooLarge).
    assert over_limit.headers.get("X-Request-ID"), dict(over_limit.headers)


def test_a_chunked_json_body_is_read_whole(api: Api) -> None:
    email = unique_email("Chunked")
    body = json.dumps({"email": email, "name": "Streamer", "password": PASSWORD}).encode()

    # A generator makes requests send it with Transfer-Encoding: chunked and no Content-Length.
    response = api.post("/auth/signup", data=(part for part in (body[:10], body[10:])), headers=JSON)

    assert response.status_code == 201, response.text
    assert response.json()["data"]["email"] == email


# --- throttled logins --------------------------------------------------------------------------


def login_limits(stack_env: dict[str, str]) -> tuple[int, int]:
    """(failures allowed per e-mail, their window in seconds), as the api reads them."""
    return int(stack_env.get("LOGIN_MAX_FAILURES", 10)), int(stack_env.get("LOGIN_FAILURE_WINDOW_SECONDS", 900))


def test_repeated_failed_logins_for_one_email_are_429_with_retry_after(api: Api, stack_env: dict[str, str]) -> None:
    limit, window = login_limits(stack_env)
    user = signup(api)

    for attempt in range(limit):
        assert login(api, user["email"], f"guess {attempt}").status_code == 401, f"attempt {attempt + 1}"
    throttled = login(api, user["email"], "one more guess")

    assert_error(throttled, 429)
    assert 1 <= int(throttled.headers["Retry-After"]) <= window
    # While throttled even the right password is refused, so guessing gains nothing.
    assert_error(login(api, user["email"], PASSWORD), 429)
    # Only this e-mail is throttled: another player from the same address logs in.
    other = signup(api)
    assert login(api, other["email"]).status_code == 200


def test_a_successful_login_resets_the_failure_count(api: Api, base_url: str, stack_env: dict[str, str]) -> None:
    limit, _ = login_limits(stack_env)
    user = signup(api)
    for attempt in range(limit - 1):
        assert login(api, user["email"], f"guess {attempt}").status_code == 401
    assert login(api, user["email"]).status_code == 200

    # The player fails as often again (from another device, so nginx's burst limit stays out of it).
    phone = Api(base_url)
    for attempt in range(limit - 1):
        assert login(phone, user["email"], f"guess {attempt}").status_code == 401, f"attempt {attempt + 1} after the reset"
    assert login(phone, user["email"]).status_code == 200


def test_a_throttled_email_stays_throttled_with_a_nul_suffix(api: Api, stack_env: dict[str, str]) -> None:
    limit, _ = login_limits(stack_env)
    user = signup(api)
    for attempt in range(limit):
        assert login(api, user["email"], f"guess {attempt}").status_code == 401
    assert_error(login(api, user["email"]), 429)

    response = login(api, user["email"] + "\u0000another key", PASSWORD)

    assert response.status_code in (422, 429), response.text


# --- concurrent signups -------------------------------------------------------------------------


@pytest.mark.parametrize("clients", [2, 20])
def test_concurrent_signups_with_one_email_create_exactly_one_account(api: Api, base_url: str, clients: int) -> None:
    email = unique_email("Race")
    start = threading.Barrier(clients)

    def attempt(index: int) -> requests.Response:
        session = api.new_session()
        start.wait(timeout=30)
        variant = email if index % 2 == 0 else email.upper()
        body = {"email": variant, "name": f"Racer {index}", "password": f"password of racer {index}"}
        return api.post("/auth/signup", session=session, json=body)

    with ThreadPoolExecutor(max_workers=clients) as pool:
        responses = list(pool.map(attempt, range(clients)))

    statuses = [response.status_code for response in responses]
    assert sorted(statuses) == [201] + [409] * (clients - 1), statuses
    winner = statuses.index(201)
    loser = (winner + 1) % clients
    # The account is the winner's: their password works, a loser's does not.
    other_client = Api(base_url)
    response = login(other_client, email, f"password of racer {winner}")
    assert response.status_code == 200
    assert response.json()["data"]["user"]["name"] == f"Racer {winner}"
    assert_error(login(other_client, email, f"password of racer {loser}"), 401)


# --- games --------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/games", "/games/"])
def test_games_lists_all_then_every_game_in_order_without_a_token(api: Api, path: str) -> None:
    response = api.get(path)

    assert response.status_code == 200
    assert response.json()["data"] == GAMES


def test_games_ignores_an_invalid_token(api: Api) -> None:
    response = api.get("/games", headers={"Authorization": "Bearer garbage"}, cookies={"ath": "garbage"})

    assert response.status_code == 200
    assert response.json()["data"] == GAMES


@pytest.mark.parametrize("excluded", [game["value"] for game in GAMES[1:]])
def test_games_exclude_channel_drops_that_game(api: Api, excluded: str) -> None:
    response = api.get("/games/", params={"excludeChannel": excluded})

    assert response.status_code == 200
    assert response.json()["data"] == [game for game in GAMES if game["value"] != excluded]


def test_games_exclude_channel_of_an_unknown_game_drops_nothing(api: Api) -> None:
    assert api.get("/games", params={"excludeChannel": "nope"}).json()["data"] == GAMES
