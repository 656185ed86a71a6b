"""Schemathesis hooks for test_openapi.py (loaded through SCHEMATHESIS_HOOKS=schemathesis_hooks).

- Every connection is made from ST_SOURCE_ADDRESS, a loopback address of the run's own, as the
  conftest Api client does: nginx rate-limits /api/v1/auth/ per address and the api throttles failed
  logins per address, so the run neither trips over other tests' allowance nor uses up theirs.
- TRACE is left out: nginx refuses it itself, before any location is chosen, with a 405 in the
  envelope but no Allow (it cannot know the route's methods); openapi.yaml says so. Every other
  undeclared method reaches the api, which answers 405 with Allow.
- So is a request line over 8 KiB (a generated query string can make one): nginx answers it 414
  itself, before any route, as openapi.yaml's description says for every route.
- POST /auth/refresh's example token (openapi.yaml) is replaced by a fresh one from a login of
  ST_LOGIN_EMAIL, so the run sees a refresh succeed, not only the 401s of the tokens it makes up.
- A ban, unban, deletion or restore goes only to openapi.yaml's example id (no such user or score), never to an
  id that is a number of its own: one that happened to name a player or score of the stack would change what the
  tests after this run see.
"""

from __future__ import annotations

import json
import os
import re
import urllib.request
from typing import Any
from urllib.parse import urlencode

import schemathesis
import urllib3.util.connection as connection

_create_connection = connection.create_connection


def _from_own_address(address: Any, *args: Any, **kwargs: Any) -> Any:
    if kwargs.get("source_address") is None and len(args) < 2:
        kwargs["source_address"] = (os.environ["ST_SOURCE_ADDRESS"], 0)
    return _create_connection(address, *args, **kwargs)


if os.environ.get("ST_SOURCE_ADDRESS"):
    connection.create_connection = _from_own_address


# nginx's large_client_header_buffers hold 8 KiB; the rest of the request line is a few dozen bytes.
LONGEST_TARGET = 8 * 1024 - 100
MODERATION = re.compile(r"^/admin/(users/\{id\}/(ban|unban)|scores/\{id\}(/restore)?)$")
EXAMPLE_ID = "999999999"


@schemathesis.hook
def filter_case(context: Any, case: Any) -> bool:
    target = len(str(case.formatted_path).encode()) + len(urlencode(case.query or {}, doseq=True).encode()) + len("/api/v1?")
    if case.method.upper() == "TRACE" or target >= LONGEST_TARGET:
        return False
    if MODERATION.match(case.operation.path) and case.method.upper() in {"POST", "DELETE"}:
        moderated = str((case.path_parameters or {}).get("id", ""))
        return not moderated.strip().isdigit() or moderated == EXAMPLE_ID
    return True


REFRESH_EXAMPLE = "<refresh token from POST /auth/login>"


def _fresh_refresh_token(base_url: str) -> str:
    request = urllib.request.Request(
        base_url.rstrip("/") + "/auth/login",
        data=json.dumps({"email": os.environ["ST_LOGIN_EMAIL"], "password": os.environ["ST_LOGIN_PASSWORD"]}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)["data"]["refreshToken"]


@schemathesis.hook
def before_call(context: Any, case: Any, **kwargs: Any) -> None:
    body = case.body
    if case.operation.path == "/auth/refresh" and isinstance(body, dict) and body.get("refreshToken") == REFRESH_EXAMPLE:
        case.body = {**body, "refreshToken": _fresh_refresh_token(case.operation.base_url or "")}
