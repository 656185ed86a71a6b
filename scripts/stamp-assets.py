#!/usr/bin/env python3
"""Writes the content versions of the web UI's assets into nginx/html/index.html.

    scripts/stamp-assets.py          # after editing a .js or .css file
    scripts/stamp-assets.py --check  # exits 1 if index.html names stale versions

nginx lets browsers keep /js/*.js and /css/*.css for a year when they are asked
for with ?v= (see nginx/dev.conf.template), so the version must change whenever
the file does: it is the first 12 hex digits of the SHA-256 of the file. The
stylesheet and the entry module are named in index.html with it; the modules'
imports of each other get it through the import map there, which must list
every module but the entry one. There is no build step: the files are served
as they are, and this only edits the query strings in index.html.

The import map is an inline script, which the production site's
Content-Security-Policy (nginx/leaderboard.conf) allows by its hash only; the
hash follows the map, so this keeps it in step there too.
"""

from __future__ import annotations

import base64
import hashlib
import json
import pathlib
import re
import sys

HTML = pathlib.Path(__file__).resolve().parents[1] / "nginx" / "html"
INDEX = HTML / "index.html"
ENTRY = "/js/app.js"
ASSET = re.compile(r"(?P<path>/(?:js|css)/[A-Za-z0-9_.-]+\.(?:js|css))\?v=(?P<version>[0-9a-z]+)")
IMPORT_MAP = re.compile(r'<script type="importmap">(?P<json>.*?)</script>', re.S)
SITE = HTML.parent / "leaderboard.conf"
SCRIPT_SRC = re.compile(r"script-src 'self'(?: 'sha256-[A-Za-z0-9+/=]+')?")


def script_src(index_text: str) -> str:
    """The CSP source list that allows exactly the import map's text (what the browser hashes)."""
    found = IMPORT_MAP.search(index_text)
    if not found:
        return "script-src 'self'"
    digest = base64.b64encode(hashlib.sha256(found["json"].encode("utf-8")).digest()).decode()
    return f"script-src 'self' 'sha256-{digest}'"


def stamped_site(index_text: str) -> str:
    return SCRIPT_SRC.sub(script_src(index_text), SITE.read_text(encoding="utf-8"))


def version(path: str) -> str:
    return hashlib.sha256((HTML / path.lstrip("/")).read_bytes()).hexdigest()[:12]


def problems_and_text() -> tuple[list[str], str]:
    text = INDEX.read_text(encoding="utf-8")
    problems: list[str] = []

    def replace(match: re.Match[str]) -> str:
        path = match["path"]
        if not (HTML / path.lstrip("/")).is_file():
            problems.append(f"index.html names {path}, which does not exist")
            return match[0]
        current = version(path)
        if match["version"] != current:
            problems.append(f"{path}: index.html says v={match['version']}, the file is v={current}")
        return f"{path}?v={current}"

    stamped = ASSET.sub(replace, text)
    if stamped_site(stamped) != SITE.read_text(encoding="utf-8"):
        problems.append("nginx/leaderboard.conf's script-src does not allow the import map's hash")

    # Every asset is named with a version, and every module is in the import map.
    named = {match["path"] for match in ASSET.finditer(text)}
    found = IMPORT_MAP.search(text)
    mapped = set(json.loads(found["json"])["imports"]) if found else set()
    for asset in sorted(HTML.glob("js/*.js")) + sorted(HTML.glob("css/*.css")):
        path = "/" + asset.relative_to(HTML).as_posix()
        if path not in named:
            problems.append(f"index.html does not name {path} with a version")
        if path.endswith(".js") and path != ENTRY and path not in mapped:
            problems.append(f"the import map in index.html lacks {path}")
    return problems, stamped


def main() -> int:
    check = sys.argv[1:] == ["--check"]
    if sys.argv[1:] not in ([], ["--check"]):
        print(__doc__, file=sys.stderr)
        return 2
    problems, stamped = problems_and_text()
    if check:
        for problem in problems:
            print(f"stamp-assets: {problem}", file=sys.stderr)
        if problems:
            print("stamp-assets: run scripts/stamp-assets.py", file=sys.stderr)
        return 1 if problems else 0
    if stamped != INDEX.read_text(encoding="utf-8"):
        INDEX.write_text(stamped, encoding="utf-8")
        print("stamp-assets: index.html updated")
    site = stamped_site(stamped)
    if site != SITE.read_text(encoding="utf-8"):
        SITE.write_text(site, encoding="utf-8")
        print("stamp-assets: the CSP hash of the import map in nginx/leaderboard.conf updated")
    remaining, _ = problems_and_text()
    for problem in remaining:
        print(f"stamp-assets: {problem}", file=sys.stderr)
    return 1 if remaining else 0


if __name__ == "__main__":
    sys.exit(main())
