"""Schemathesis hooks for test_openapi.py (loaded through SCHEMATHESIS_HOOKS=schemathesis_hooks).

- Every connection is made from ST_SOURCE_ADDRESS, a loopback address of the run's own, as the
  conftest Api client does: nginx rate-limits /api/v1/auth/ per address and the api throttles failed
  logins per address, so the run neither trips over other tests' allowance nor uses up theirs.
- TRACE is left out: nginx refuses it itself, before any location is chosen, with a 405 in the
  envelope but no Allow (it cannot know the route's methods); openapi.yaml says so. Every other
  undeclared method reaches the api, which answers 405 with Allow.
- So is a request line over 8 KiB (a generated query string can make one): nginx answers it 414
  itself, before any route, as openapi.yaml's description says for every route.
"""

from __future__ import annotations

import os
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


@schemathesis.hook
def filter_case(context: Any, case: Any) -> bool:
    target = len(str(case.formatted_path).encode()) + len(urlencode(case.query or {}, doseq=True).encode()) + len("/api/v1?")
    return case.method.upper() != "TRACE" and target < LONGEST_TARGET
