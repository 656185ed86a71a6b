"""README's "Try it from a shell", run as written against the test stack (issue 24).

The commands are read out of README.md, never copied here, so the tour and this test cannot drift
apart: each ```sh block of the section runs in bash as it stands, in an empty folder, with BASE set to
the test stack's address (the one thing the tour asks the reader to change). Its curl commands leave
from a loopback address of their own (a .curlrc in CURL_HOME), as a separate user would, so that the
other tests' signups from 127.0.0.1 do not count against the tour's.
"""

from __future__ import annotations

import json
import os
import pathlib
import queue
import re
import signal
import subprocess
import threading
from typing import Any, Callable, Iterator

import pytest

from conftest import REPO, random_loopback_address

SECTION = "## Try it from a shell"
MAX_SCORE = 10**9
# Long enough for a loaded 2-core CI machine; a push normally arrives well within a second.
WAIT = 20


def tour_blocks() -> list[str]:
    """The section's ```sh blocks: the REST tour, the live board (first shell), the submission (second shell)."""
    readme = (REPO / "README.md").read_text()
    assert SECTION in readme, f"README.md has no section {SECTION!r}"
    section = readme[readme.index(SECTION) + len(SECTION) :]
    section = section[: section.find("\n## ")]
    blocks = re.findall(r"^```sh\n(.*?)^```", section, re.S | re.M)
    assert len(blocks) == 3, f"the tour has {len(blocks)} sh blocks, this test runs 3: update it with the tour"
    return blocks


def json_values(text: str) -> list[Any]:
    """The JSON documents jq printed one after another."""
    decoder, values, position = json.JSONDecoder(), [], 0
    while (position := _skip_space(text, position)) < len(text):
        value, position = decoder.raw_decode(text, position)
        values.append(value)
    return values


def _skip_space(text: str, position: int) -> int:
    while position < len(text) and text[position].isspace():
        position += 1
    return position


@pytest.fixture
def shell_env(base_url: str, tmp_path: pathlib.Path) -> dict[str, str]:
    """The environment of the reader's shells: BASE, and curl leaving from an address of its own."""
    curl_home = tmp_path / "curl-home"
    curl_home.mkdir()
    (curl_home / ".curlrc").write_text(f"interface = {random_loopback_address()}\n")
    return {**os.environ, "BASE": base_url, "CURL_HOME": str(curl_home)}


def run_shell(block: str, folder: pathlib.Path, env: dict[str, str]) -> str:
    """Runs a block in bash, stopping at the first command that fails; returns what it printed."""
    completed = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", block], cwd=folder, env=env, capture_output=True, text=True, timeout=60
    )
    assert completed.returncode == 0, f"the tour failed ({completed.returncode}):\n{completed.stdout}{completed.stderr}"
    assert completed.stderr == "", completed.stderr
    return completed.stdout


class Watcher:
    """The first shell's command, running: its stdin open (as a terminal's would be), its lines read as they come."""

    def __init__(self, block: str, folder: pathlib.Path, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            ["bash", "-euo", "pipefail", "-c", block],
            cwd=folder,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def message_where(self, predicate: Callable[[Any], bool], what: str) -> Any:
        """Waits for a line that is a JSON message satisfying predicate; fails on anything else."""
        while True:
            try:
                line = self.lines.get(timeout=WAIT)
            except queue.Empty:
                raise AssertionError(f"{what}: nothing within {WAIT} s (printed so far: {self.seen})") from None
            if line is None:
                raise AssertionError(f"{what}: the command ended (exit {self.process.wait()}), having printed {self.seen}")
            self.seen.append(line)
            message = json.loads(line)
            assert "error" not in message, f"the socket answered an error: {line}"
            if predicate(message):
                return message

    def stop(self) -> None:
        """Ctrl+C, as the reader would end it; then the whole group, whatever is left."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


@pytest.fixture
def watchers() -> Iterator[list[Watcher]]:
    started: list[Watcher] = []
    yield started
    for watcher in started:
        watcher.stop()


def test_every_command_of_the_readme_tour_works_against_the_stack(
    tmp_path: pathlib.Path, shell_env: dict[str, str], watchers: list[Watcher]
) -> None:
    rest, live_board, second_shell = tour_blocks()
    folder = tmp_path / "tour"
    folder.mkdir()

    # The REST tour: what each command printed, in order.
    signup, me_by_cookie, me_by_token, submitted, board, around, report = json_values(run_shell(rest, folder, shell_env))
    user_id = signup["id"]
    assert isinstance(user_id, int) and signup["email"].endswith("@example.com")
    # /auth/me is the signed-up account and its role.
    assert me_by_cookie == {**signup, "role": "player"} and me_by_token == me_by_cookie
    assert "\tath\t" in (folder / "cookies.txt").read_text(), "login left no ath cookie in cookies.txt"
    assert submitted["game"] == "cod" and submitted["improved"] is True and submitted["best"] == submitted["score"]
    assert board["game"] == "cod" and 1 <= len(board["result"]) <= 5 and board["totalCount"] >= 1
    assert around["rank"] == submitted["rank"] and around["score"] == submitted["score"]
    assert any(row["userId"] == user_id for row in around["around"]), around
    assert isinstance(report, list) and len(report) <= 5

    # The live board in the first shell, a submission from the second, and the push it makes.
    watcher = Watcher(live_board, folder, shell_env)
    watchers.append(watcher)
    first = watcher.message_where(lambda message: "result" in message, "the board's first page")
    assert first["game"] == "cod" and first["start"] == 0 and first["end"] == 9
    assert not any(row["userId"] == user_id and row["score"] == MAX_SCORE for row in first["result"])

    (answer,) = json_values(run_shell(second_shell, folder, shell_env))
    assert answer["score"] == MAX_SCORE and answer["improved"] is True and answer["rank"] == 1, answer
    pushed = watcher.message_where(
        lambda message: any(row["userId"] == user_id and row["score"] == MAX_SCORE for row in message.get("result", [])),
        "the push of the second shell's score",
    )
    assert next(row for row in pushed["result"] if row["userId"] == user_id)["rank"] == 1
