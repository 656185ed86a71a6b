"""A stack of scripts/stack.sh's own for a script that injects faults or runs a suite against it (make
test-faults, make test-conformance): a directory of its own and the test stack's ports moved by an
offset, so that it runs beside make test's stack and the dev stack.
"""

from __future__ import annotations

import os
import pathlib
import subprocess

REPO = pathlib.Path(__file__).resolve().parents[1]


def debug_bin_dir(build: bool) -> str:
    """The debug build's binaries, built first unless `build` is false."""
    swift = os.environ.get("SWIFT", "swift")
    if build:
        subprocess.run([swift, "build"], cwd=REPO, check=True)
    return subprocess.run([swift, "build", "--show-bin-path"], cwd=REPO, check=True, capture_output=True, text=True).stdout.strip()


class PrivateStack:
    """The stack in `directory` (relative to the repository unless absolute), on make test's ports plus
    `port_offset`, with `nodes` api pools and ws daemons; `settings` add to or override stack.sh's
    environment. BIN_DIR, if set, names the binaries; otherwise they are the debug build's."""

    def __init__(self, directory: str, port_offset: int, nodes: int, settings: dict[str, str] | None = None, build: bool = True) -> None:
        path = pathlib.Path(directory)
        self.directory = path if path.is_absolute() else REPO / path
        self.http_port = 28080 + port_offset
        self.ws_port = 28081 + port_offset
        self.base_url = f"http://127.0.0.1:{self.http_port}"
        self.env = {
            **os.environ,
            "STACK_DIR": str(self.directory),
            "BIN_DIR": os.environ.get("BIN_DIR") or debug_bin_dir(build),
            "HTTP_PORT": str(self.http_port),
            "PG_PORT": str(25432 + port_offset),
            "REDIS_PORT": str(26379 + port_offset),
            "WS_PORT": str(self.ws_port),
            "BCRYPT_COST": "4",
            "SEED_DEMO": "0",
            "NO_APP": "0",
            "NODES": str(nodes),
            **(settings or {}),
        }

    def run(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        """scripts/stack.sh with this stack's environment; raises if it fails, unless `check` is false."""
        completed = subprocess.run(
            [str(REPO / "scripts" / "stack.sh"), *args], cwd=REPO, env=self.env, capture_output=True, text=True, timeout=timeout
        )
        if check and completed.returncode != 0:
            raise RuntimeError(f"stack.sh {' '.join(args)} failed ({completed.returncode}):\n{completed.stdout}{completed.stderr}")
        return completed

    def pid(self, name: str) -> int | None:
        """The pid of a running service (postgres, redis, api, ws, ...); None if it is not running."""
        path = self.directory / ("pg/postmaster.pid" if name == "postgres" else f"run/{name}.pid")
        try:
            text = path.read_text().split()
        except FileNotFoundError:
            return None
        if not text or not text[0].isdigit():
            return None
        pid = int(text[0])
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        return pid

    def settings(self) -> dict[str, str]:
        """The daemons' settings, as the stack's leaderboard.env holds them."""
        values = {}
        for line in (self.directory / "leaderboard.env").read_text().splitlines():
            if "=" in line and not line.lstrip().startswith("#"):
                key, value = line.split("=", 1)
                values[key.strip()] = value.strip()
        return values

    def sql(self, query: str) -> list[list[str]]:
        """The rows of a query on the stack's PostgreSQL, as text."""
        settings = self.settings()
        completed = subprocess.run(
            ["psql", "-X", "-q", "-t", "-A", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-h", settings["PG_SERVER"], "-p", settings["PG_PORT"],
             "-U", settings["PG_USER"], "-d", settings["PG_DB"], "-c", query],
            # An HA stack lists the primary and the standby: the query goes to whichever takes writes now.
            env={**os.environ, "PGPASSWORD": settings["PG_PW"], "PGTZ": "UTC", "PGTARGETSESSIONATTRS": "read-write"}, capture_output=True, text=True, timeout=60, check=True,
        )
        return [line.split("\t") for line in completed.stdout.splitlines() if line]
