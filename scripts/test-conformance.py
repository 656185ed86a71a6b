#!/usr/bin/env python3
"""make test-conformance: Autobahn|Testsuite's fuzzingclient (every case) against leaderboard-ws.

It runs the suite twice over `/ws/v1/`, the echo route: straight at the daemon and through the stack's
nginx (the dev site), on a one-node stack of its own (CONFORMANCE_STACK_DIR, default var/conformance,
ports offset by CONFORMANCE_PORT_OFFSET, default 900) that it starts and stops. The route greets every
client with "Welcome to your websocket server" (the predecessor's contract) before it echoes; Autobahn
expects an echo server that says nothing first, so each run goes through a relay here that drops that
one greeting frame and passes every other byte as it comes, both ways, closing each side when the
other does.

Autobahn|Testsuite (AUTOBAHN_VERSION, 25.10.1) is Python 2 code: it is installed from PyPI with the
Python 2.7 of AUTOBAHN_PYTHON (default pyenv's 2.7.18) into AUTOBAHN_DIR (default var/autobahn) the
first time, and run from there. The stack's daemon allows WS_MESSAGES_PER_SECOND=10000: the 9.7 and 9.8
cases send 1,000 messages at once, and the rate limit is tested elsewhere.

Fails on any case Autobahn calls FAILED, or whose closing handshake it calls anything but OK (UNCLEAN,
WRONG CODE, ...), except these, which are the daemon's design (README, "WebSocket conformance"):
  - a message over 16 KiB (1.1.6-1.1.8, 9.1-9.6, 10.1.1) is refused: close 1009, or 1008 when it comes
    in more than 64 fragments;
  - binary messages are refused (1.2.x, 9.8 and the like): the daemon answers them with an {"error"}
    text, as every route does;
  - compression (permessage-deflate) is not offered: 12.x and 13.x are UNIMPLEMENTED, which passes.
Each exception is checked against what the case shows, not taken on its number alone. The reports
(HTML and JSON) stay in the stack directory's autobahn/ folder.
"""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
import shutil
import subprocess
import sys
import threading
import time

from private_stack import REPO, PrivateStack

AUTOBAHN_VERSION = os.environ.get("AUTOBAHN_VERSION", "25.10.1")
WELCOME = b"Welcome to your websocket server"
MESSAGE_LIMIT = 16 * 1024
PASSING = {"OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED"}


def log(message: str) -> None:
    print(f"conformance: {message}", flush=True)


# --- the stack -----------------------------------------------------------------------------------


class ConformanceStack(PrivateStack):
    def __init__(self) -> None:
        offset = int(os.environ.get("CONFORMANCE_PORT_OFFSET", "900"))
        super().__init__(os.environ.get("CONFORMANCE_STACK_DIR", "var/conformance"), port_offset=offset, nodes=1)
        # The relays: below the ephemeral range (PITFALLS.md), clear of the stack's own ports.
        self.relay_ports = {"direct": 28090 + offset, "nginx": 28091 + offset}

    def start(self) -> None:
        self.run("start", timeout=300)
        # The env file is the stack's own, written by the first start: the rate limit goes into it once.
        env_file = self.directory / "leaderboard.env"
        lines = env_file.read_text().splitlines()
        if "WS_MESSAGES_PER_SECOND=10000" not in lines:
            env_file.write_text("\n".join([line for line in lines if not line.startswith("WS_MESSAGES_PER_SECOND=")] + ["WS_MESSAGES_PER_SECOND=10000", ""]))
            self.run("stop-service", "ws")
            self.run("start-service", "ws")

    def stop(self) -> None:
        self.run("stop")


# --- the relay that drops the greeting -----------------------------------------------------------


async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while chunk := await reader.read(65536):
        writer.write(chunk)
        await writer.drain()


async def pass_server_bytes(server: asyncio.StreamReader, client: asyncio.StreamWriter) -> None:
    """The upgrade's answer as is, then the first frame unless it is the greeting, then everything."""
    head = await server.readuntil(b"\r\n\r\n")
    client.write(head)
    if head.startswith(b"HTTP/1.1 101"):
        # A server's frames are unmasked; the greeting is one text frame of 32 bytes (a 7-bit length).
        start = await server.readexactly(2)
        length = start[1] & 0x7F
        payload = await server.readexactly(length) if length < 126 else b""
        if not (start[0] == 0x81 and payload == WELCOME):
            client.write(start + payload)
    await pump(server, client)


async def relay_connection(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter, port: int) -> None:
    try:
        server_reader, server_writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        client_writer.close()
        return
    # Either side ending the connection ends it for the other at once: Autobahn times the closing handshake.
    tasks = [asyncio.ensure_future(pump(client_reader, server_writer)), asyncio.ensure_future(pass_server_bytes(server_reader, client_writer))]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for writer in (client_writer, server_writer):
            writer.close()


class Relays:
    """One relay per target, on a thread of its own while Autobahn runs."""

    def __init__(self, routes: dict[int, int]) -> None:
        self.routes = routes
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)

    def serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        for listen, target in self.routes.items():
            handler = lambda reader, writer, target=target: relay_connection(reader, writer, target)  # noqa: E731
            self.loop.run_until_complete(asyncio.start_server(handler, "127.0.0.1", listen, reuse_address=True))
        self.ready.set()
        self.loop.run_forever()

    def __enter__(self) -> Relays:
        self.thread.start()
        if not self.ready.wait(timeout=10):
            raise RuntimeError("the relays did not start")
        return self

    def __exit__(self, *_: object) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)


# --- Autobahn ------------------------------------------------------------------------------------


def python2() -> str:
    configured = os.environ.get("AUTOBAHN_PYTHON")
    candidates = [configured] if configured else [str(pathlib.Path.home() / ".pyenv/versions/2.7.18/bin/python"), "python2.7", "python2"]
    for candidate in candidates:
        path = shutil.which(candidate)
        if path:
            return path
    raise RuntimeError(f"no Python 2.7 for Autobahn|Testsuite (tried {', '.join(candidates)}); set AUTOBAHN_PYTHON")


def install_autobahn(python: str) -> pathlib.Path:
    """Autobahn|Testsuite and its pinned dependencies in a folder of their own, once per version."""
    directory = pathlib.Path(os.environ.get("AUTOBAHN_DIR", "var/autobahn"))
    directory = directory if directory.is_absolute() else REPO / directory
    stamp = directory / f"installed-{AUTOBAHN_VERSION}"
    if stamp.exists():
        return directory
    log(f"installing autobahntestsuite=={AUTOBAHN_VERSION} into {directory} (a few minutes, once)")
    shutil.rmtree(directory, ignore_errors=True)
    subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-warn-script-location",
         "--target", str(directory), f"autobahntestsuite=={AUTOBAHN_VERSION}"],
        check=True,
    )
    stamp.touch()
    return directory


def run_autobahn(python: str, site: pathlib.Path, spec: dict, directory: pathlib.Path) -> None:
    spec_file = directory / "fuzzingclient.json"
    spec_file.write_text(json.dumps(spec, indent=2))
    # A --target install keeps zope's namespace package in a .pth file, which only a site directory reads.
    program = "import site, sys; site.addsitedir(sys.argv[1]); from autobahntestsuite import wstest; sys.argv = sys.argv[1:]; wstest.run()"
    subprocess.run([python, "-c", program, str(site), "-m", "fuzzingclient", "-s", str(spec_file)], cwd=directory, check=True)


# --- verdicts ------------------------------------------------------------------------------------


def by_design(report: dict) -> str | None:
    """Why a failed case is the daemon's design, if it is, from what the case recorded: the daemon's close
    code and reason, what the client sent (octets and frames by opcode) and what it got back."""
    code, reason = report.get("remoteCloseCode"), report.get("remoteCloseReason") or ""
    octets_sent = sum(int(size) * count for size, count in report.get("txOctetStats", {}).items())
    frames_sent = report.get("txFrameStats", {})
    if code == 1009 and reason == "message too large" and octets_sent > MESSAGE_LIMIT:
        return "a message over 16 KiB is refused with 1009"
    if code == 1008 and reason == "too many fragments" and frames_sent.get("0", 0) >= 64:
        return "a message in more than 64 fragments is refused with 1008"
    # Only binary messages sent, only text back: the performance cases (9.x) record no messages, the others do.
    answers = [message for kind, message, *_ in report.get("received", []) if kind == "message"]
    frames_received = report.get("rxFrameStats", {})
    if (
        frames_sent.get("2")
        and not frames_sent.get("1")
        and frames_received.get("1")
        and not frames_received.get("2")
        and all("binary frames are not supported" in answer for answer in answers)
    ):
        return "binary messages are refused with an {error} text"
    return None


def verdicts(directory: pathlib.Path, agents: list[str]) -> tuple[list[str], dict[str, int], int]:
    index = json.loads((directory / "reports" / "index.json").read_text())
    failures: list[str] = []
    excused: dict[str, int] = {}
    total = 0
    for agent in agents:
        for case_id, summary in sorted(index[agent].items(), key=lambda item: [int(part) for part in item[0].split(".")]):
            total += 1
            if summary["behavior"] in PASSING and summary["behaviorClose"] in ("OK", "INFORMATIONAL"):
                continue
            report = json.loads((directory / "reports" / summary["reportfile"]).read_text())
            reason = by_design(report)
            if reason:
                excused[reason] = excused.get(reason, 0) + 1
                continue
            failures.append(
                f"{agent} {case_id}: {summary['behavior']} / close {summary['behaviorClose']} (code {summary['remoteCloseCode']}): "
                f"{report.get('description', '').strip().splitlines()[0]} | {report.get('result', '')} {report.get('resultClose', '')}"
            )
    return failures, excused, total


def main() -> int:
    started = time.monotonic()
    python = python2()
    site = install_autobahn(python)
    stack = ConformanceStack()
    directory = stack.directory / "autobahn"
    # Each agent is Autobahn's name for one target: the relay in front of the daemon, or of nginx.
    agents = {"leaderboard-ws direct": stack.relay_ports["direct"], "leaderboard-ws via nginx": stack.relay_ports["nginx"]}
    try:
        log(f"starting a stack in {stack.directory} (nginx :{stack.http_port}, leaderboard-ws :{stack.ws_port})")
        stack.start()
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        relays = {stack.relay_ports["direct"]: stack.ws_port, stack.relay_ports["nginx"]: stack.http_port}
        with Relays(relays):
            spec = {
                "outdir": str(directory / "reports"),
                "servers": [{"agent": agent, "url": f"ws://127.0.0.1:{port}/ws/v1/"} for agent, port in agents.items()],
                "cases": ["*"],
                "exclude-cases": [],
                "exclude-agent-cases": {},
            }
            log(f"running every Autobahn case against {', '.join(agents)}")
            run_autobahn(python, site, spec, directory)
    finally:
        stack.stop()
    failures, excused, total = verdicts(directory, list(agents))
    for reason, count in sorted(excused.items()):
        log(f"by design ({count} cases): {reason}")
    for failure in failures:
        log(f"FAILED {failure}")
    log(f"reports: {directory / 'reports' / 'index.html'}; {time.monotonic() - started:.0f} s in all")
    print(f"{total - len(failures)} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
