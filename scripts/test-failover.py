#!/usr/bin/env python3
"""make test-failover: the stores' primaries killed under load on a private HA stack (stack.sh HA=1).

While clients submit scores steadily through nginx, a reader polls a board and WebSocket clients watch
one, this, one after the other:

  redis failover     kill -9 the Redis primary: the Sentinels promote the replica, and every process
                     follows by itself (submissions meanwhile are answered 202 and applied later, or
                     503, never 500).
  postgres failover  kill -9 the PostgreSQL primary, and once submissions have been refused (503),
                     promote the synchronous standby (pg_ctl promote, as Patroni would): every process
                     reconnects to it by itself.

For each it prints how long submissions were not answered 200 (from the kill to the last such answer)
and the statuses seen. Then, still under load, the backup: pg_dump of the (new) primary, restored into a
fresh one-node stack (FAILOVER_PORT_OFFSET + 5) where `leaderboardctl rebuild` fills Redis: every board
served there must equal the source's recomputation in the dump's own snapshot. After each move a new top score is submitted on the watched board: every
WebSocket client must be shown it. At the end, every acknowledged score (200 or 202) must be in
PostgreSQL and on its boards, and every board of the day the run started must equal its recomputation
from PostgreSQL (as make test-faults checks it: the reconciler re-applies what the new Redis primary
lacks); no answer may be a 500. The stack (FAILOVER_STACK_DIR, default var/failover, ports offset by
FAILOVER_PORT_OFFSET, default 400; the standby, replica and Sentinels take PG_PORT+1 and
REDIS_PORT+1..+4) is stopped at the end, whatever happens.

Environment: BIN_DIR (default: the debug build, `swift build` first unless FAILOVER_NO_BUILD=1),
FAILOVER_CLIENTS (4), FAILOVER_MAX_SUBMISSIONS (6000), FAILOVER_KEEP_STACK=1 to leave the stack up.
"""

from __future__ import annotations

import collections
import datetime
import importlib.util
import json
import os
import pathlib
import signal
import subprocess
import sys
import threading
import time
import types

from private_stack import REPO, PrivateStack

# make test-faults' load, boards and checks, shared rather than copied.
_spec = importlib.util.spec_from_file_location("test_faults", REPO / "scripts" / "test-faults.py")
faults = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(faults)

import requests  # noqa: E402
from conftest import Api, Player, new_players, ws_url  # noqa: E402  (test-faults put Tests/e2e on the path)
from websockets.exceptions import ConnectionClosed, InvalidHandshake  # noqa: E402
from websockets.sync.client import connect  # noqa: E402

Failures, Load, wait_until, expect_within = faults.Failures, faults.Load, faults.wait_until, faults.expect_within
ACKNOWLEDGED, GAMES, PERIODS, WATCHED_GAME = faults.ACKNOWLEDGED, faults.GAMES, faults.PERIODS, faults.WATCHED_GAME
PHASE_SUBMISSIONS = faults.PHASE_SUBMISSIONS
PLAYERS = 24
WATCHERS = 4
# Markers go just under the watched game's highest allowed score, above what the load sends (below 10**9).
MARKERS_BELOW_MAX = 10


def log(message: str) -> None:
    print(f"failover {datetime.datetime.now().strftime('%H:%M:%S')} {message}", flush=True)


faults.log = log


class StampedRecords(list):
    """Load.records, with the time each answer came (Load appends under its lock, so the two stay in step)."""

    def __init__(self) -> None:
        super().__init__()
        self.times: list[float] = []

    def append(self, record) -> None:  # noqa: ANN001 - test-faults' Record
        self.times.append(time.monotonic())
        super().append(record)


class Watcher(threading.Thread):
    """A WebSocket client on /ws/v1/scores through nginx, reconnecting whenever dropped, that keeps every
    (userId, score) its pushes showed."""

    def __init__(self, base_url: str, player: Player, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.url = ws_url(base_url, "/ws/v1/scores")
        self.player = player
        self.stop = stop
        self.seen: set[tuple[int, int]] = set()
        self.connections = 0
        self.drops = 0
        self.lock = threading.Lock()

    def has_seen(self, user: int, score: int) -> bool:
        with self.lock:
            return (user, score) in self.seen

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                with connect(self.url, additional_headers=self.player.auth, proxy=None, open_timeout=5, close_timeout=2) as socket_:
                    self.connections += 1
                    socket_.send(json.dumps({"game": WATCHED_GAME, "start": 0, "end": 9}))
                    while not self.stop.is_set():
                        try:
                            message = json.loads(socket_.recv(timeout=0.5))
                        except TimeoutError:
                            continue
                        with self.lock:
                            self.seen.update((row["userId"], row["score"]) for row in message.get("result") or [])
            except (ConnectionClosed, InvalidHandshake, OSError, TimeoutError):
                pass
            if not self.stop.is_set():
                self.drops += 1
                time.sleep(0.2)


class SnapshotSession:
    """A psql session on a stack's PostgreSQL holding one REPEATABLE READ transaction open, whose snapshot
    pg_dump can share (--snapshot): queries here see exactly what the dump holds. `sql` as PrivateStack's."""

    END = "__end_of_result__"

    def __init__(self, stack: PrivateStack) -> None:
        settings = stack.settings()
        self.process = subprocess.Popen(
            ["psql", "-X", "-q", "-t", "-A", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-h", settings["PG_SERVER"], "-p", settings["PG_PORT"],
             "-U", settings["PG_USER"], "-d", settings["PG_DB"]],
            env={**os.environ, "PGPASSWORD": settings["PG_PW"], "PGTZ": "UTC", "PGTARGETSESSIONATTRS": "read-write"},
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1,
        )
        self.snapshot = self.sql("BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT pg_export_snapshot()")[0][0]

    def sql(self, query: str) -> list[list[str]]:
        self.process.stdin.write(f"{query};\n\\echo {self.END}\n")
        self.process.stdin.flush()
        rows = []
        for line in self.process.stdout:
            line = line.rstrip("\n")
            if line == self.END:
                return rows
            if line:
                rows.append(line.split("\t"))
        raise RuntimeError("psql ended before answering")

    def close(self) -> None:
        self.process.stdin.write("COMMIT;\n")
        self.process.stdin.close()
        self.process.wait(timeout=30)


def make_stack() -> PrivateStack:
    return PrivateStack(
        os.environ.get("FAILOVER_STACK_DIR", "var/failover"),
        port_offset=int(os.environ.get("FAILOVER_PORT_OFFSET", "400")),
        nodes=2,
        # Board pages from the replica too, while it holds what the primary does: the failover takes it away.
        settings={"AUTH_RATE": "200r/s", "HA": "1", "READ_REPLICAS": "1"},
        build=os.environ.get("FAILOVER_NO_BUILD") != "1",
    )


class Run:
    def __init__(self, stack: PrivateStack, failures: Failures) -> None:
        self.stack = stack
        self.failures = failures
        self.players = new_players(stack.base_url, PLAYERS, "Failover")
        self.marker = new_players(stack.base_url, 1, "Marker")[0]
        self.markers = 0
        self.max_score = int(stack.sql(f"SELECT max_score FROM games WHERE slug = '{WATCHED_GAME}'")[0][0])
        self.load = Load(stack.base_url, self.players, int(os.environ.get("FAILOVER_CLIENTS", "4")),
                         int(os.environ.get("FAILOVER_MAX_SUBMISSIONS", "6000")))
        self.load.records = StampedRecords()
        self.watchers = [Watcher(stack.base_url, self.players[index], self.load.stop) for index in range(WATCHERS)]
        self.phases: list[str] = []
        self.gaps: list[str] = []

    def phase(self, name: str) -> None:
        self.phases.append(name)
        self.load.phase = name
        log(f"--- {name}")

    def role_line(self, service: str) -> str:
        lines = self.stack.run("status", check=False).stdout.splitlines()
        return next((line for line in lines if line.split()[:1] == [service]), f"{service}: no status line")

    def shown_to_every_watcher(self, what: str) -> None:
        """A new top score on the watched board: every WebSocket client must be shown it."""
        self.markers += 1
        score = self.max_score - MARKERS_BELOW_MAX + self.markers
        response = Api(self.stack.base_url).post("/scores", json={"game": WATCHED_GAME, "score": score}, headers=self.marker.auth, timeout=15)
        if not self.failures.check(response.status_code == 200, f"{what}: the marker score was answered {response.status_code}"):
            return
        expect_within(self.failures, lambda: all(watcher.has_seen(self.marker.id, score) for watcher in self.watchers), 20,
                      f"{what}: every WebSocket client shown the new top score {score}")

    def report_gap(self, name: str, killed_at: float, promoted_at: float | None = None) -> None:
        """How long submissions were not answered 200 after the kill (and after the promotion, for a failover
        that waits for one), and what they were answered."""
        records = self.load.records
        with self.load.lock:
            answers = [(answered, record.status) for record, answered in zip(records, records.times) if record.phase == name]
        statuses = collections.Counter(str(status) for _, status in answers)
        not_ok = [answered for answered, status in answers if status != 200]
        last = max(not_ok) if not_ok else killed_at
        after_promotion = f", {max(0.0, last - promoted_at):.1f} s after the promotion" if promoted_at is not None else ""
        line = (f"{name}: submissions not answered 200 for {last - killed_at:.1f} s after the kill{after_promotion}; "
                f"statuses {dict(sorted(statuses.items()))}")
        self.gaps.append(line)
        log(line)

    def redis_failover(self) -> None:
        name = "redis failover"
        self.phase(name)
        log(self.role_line("redis"))
        killed_at = time.monotonic()
        self.stack.run("kill-service", "redis")
        wait_until(lambda: "(primary)" in self.role_line("redis2"), 30, "the Sentinels promote redis2")
        log(f"redis2 promoted {time.monotonic() - killed_at:.1f} s after the kill")
        before = self.load.count(name, 200)
        expect_within(self.failures, lambda: self.load.count(name, 200) >= before + PHASE_SUBMISSIONS and self.load.last_status(name) == 200, 60,
                      f"{PHASE_SUBMISSIONS} submissions answered 200 on the new Redis primary")
        self.report_gap(name, killed_at)
        self.shown_to_every_watcher(name)

    def postgres_failover(self) -> None:
        name = "postgres failover"
        self.phase(name)
        log(self.role_line("postgres"))
        killed_at = time.monotonic()
        self.stack.run("kill-service", "postgres")
        # Patroni promotes once it has given up on the primary; here, once clients have been told to retry.
        expect_within(self.failures, lambda: self.load.count(name, 503) >= 5, 30, "submissions answered 503 while no PostgreSQL took writes")
        self.stack.run("promote-standby")
        promoted_at = time.monotonic()
        log(f"postgres2 promoted {promoted_at - killed_at:.1f} s after the kill")
        before = self.load.count(name, 200)
        expect_within(self.failures, lambda: self.load.count(name, 200) >= before + PHASE_SUBMISSIONS and self.load.last_status(name) == 200, 60,
                      f"{PHASE_SUBMISSIONS} submissions answered 200 on the promoted PostgreSQL")
        self.report_gap(name, killed_at, promoted_at)
        self.shown_to_every_watcher(name)

    def execute(self) -> int:
        first_day = datetime.datetime.now(datetime.timezone.utc).date()
        for watcher in self.watchers:
            watcher.start()
        self.load.start()
        try:
            self.phase("steady")
            wait_until(lambda: self.load.count("steady", 200) >= PHASE_SUBMISSIONS, 60, f"{PHASE_SUBMISSIONS} submissions answered 200")
            self.shown_to_every_watcher("steady")
            self.redis_failover()
            self.postgres_failover()
            self.phase("steady after")
            expect_within(self.failures, lambda: self.load.count("steady after", 200) >= PHASE_SUBMISSIONS, 30,
                          f"{PHASE_SUBMISSIONS} submissions answered 200 after the failovers")
            self.phase("backup")
            dump, expected = self.dump_under_load(first_day)
        finally:
            self.load.finish()
        log(f"load stopped: {len(self.load.records)} submissions; waiting for the boards to equal PostgreSQL")
        log(f"board pages read by the page script (both nodes): {self.page_reads()}")
        self.check_stores(first_day)
        self.check_restore(dump, expected, first_day)
        return 1 if self.failures.items else 0

    def page_reads(self) -> dict[str, int]:
        """leaderboard_page_reads_total by where the page came from (REDIS_READ_REPLICAS), summed over the two api nodes."""
        counts: collections.Counter[str] = collections.Counter()
        for path in ("/metrics", "/metrics/2"):
            # From 127.0.0.1, the one address nginx serves metrics to.
            for line in requests.get(self.stack.base_url + path, timeout=15).text.splitlines():
                if line.startswith("leaderboard_page_reads_total{"):
                    labels, value = line.rsplit(" ", 1)
                    counts[labels.split('"')[1]] += int(float(value))
        return dict(counts)

    def dump_under_load(self, day: datetime.date) -> tuple[pathlib.Path, dict]:
        """pg_dump of the primary while submissions go on, and the boards recomputed in the dump's snapshot."""
        dump = self.stack.directory / "backup.dump"
        settings = self.stack.settings()
        session = SnapshotSession(self.stack)
        try:
            before = self.load.count("backup", 200)
            subprocess.run(
                ["pg_dump", "-Fc", f"--snapshot={session.snapshot}", "-f", str(dump), "-h", settings["PG_SERVER"], "-p", settings["PG_PORT"],
                 "-U", settings["PG_USER"], settings["PG_DB"]],
                env={**os.environ, "PGPASSWORD": settings["PG_PW"], "PGTARGETSESSIONATTRS": "read-write"}, check=True, timeout=120,
            )
            # Submissions committed after the snapshot are not in the dump, and must not be in its boards.
            expect_within(self.failures, lambda: self.load.count("backup", 200) >= before + PHASE_SUBMISSIONS, 30,
                          f"{PHASE_SUBMISSIONS} submissions answered 200 after the dump's snapshot")
            expected = {(game, period): faults.board_from_sql(session, game, period, day) for game in ["all", *GAMES] for period in PERIODS}
        finally:
            session.close()
        log(f"pg_dump: {dump.stat().st_size} bytes, {sum(len(rows) for rows in expected.values())} board rows in its snapshot")
        return dump, expected

    def check_restore(self, dump: pathlib.Path, expected: dict, day: datetime.date) -> None:
        """The documented restore: a fresh stack, pg_restore, leaderboardctl rebuild; then its boards against the snapshot's."""
        offset = int(os.environ.get("FAILOVER_PORT_OFFSET", "400")) + 5
        # Otherwise the comparison below could not tell the dump's snapshot from the final state.
        self.failures.check(any(faults.board_from_sql(self.stack, game, period, day) != rows for (game, period), rows in expected.items()),
                            "no submission was stored after the dump's snapshot")
        restored = PrivateStack(self.stack.directory.parent / (self.stack.directory.name + "-restore"), port_offset=offset, nodes=1,
                                settings={"NO_APP": "1"}, build=False)
        restored.env["BIN_DIR"] = self.stack.env["BIN_DIR"]
        try:
            restored.run("stop", check=False)
            subprocess.run(["rm", "-rf", str(restored.directory)], check=True)
            restored.run("start", timeout=300)
            settings = restored.settings()
            subprocess.run(
                ["pg_restore", "--no-owner", "--no-privileges", "--exit-on-error", "-h", settings["PG_SERVER"], "-p", settings["PG_PORT"],
                 "-U", settings["PG_USER"], "-d", settings["PG_DB"], str(dump)],
                env={**os.environ, "PGPASSWORD": settings["PG_PW"]}, check=True, timeout=300, capture_output=True, text=True,
            )
            subprocess.run([str(pathlib.Path(restored.env["BIN_DIR"]) / "leaderboardctl"), "rebuild"],
                           env={**os.environ, "LEADERBOARD_ENV_FILE": str(restored.directory / "leaderboard.env")},
                           check=True, timeout=300, capture_output=True, text=True)
            restored.env["NO_APP"] = "0"
            restored.run("start", timeout=300)
            anonymous = types.SimpleNamespace(auth={})
            api = Api(restored.base_url)
            differing = [f"{game} {period}" for (game, period), rows in expected.items() if faults.board_from_api(api, anonymous, game, period, day) != rows]
            if self.failures.check(not differing, f"restored boards differ from the dump's snapshot: {differing}"):
                log(f"restored from the dump and rebuilt: {len(expected)} boards equal the source's in the dump's snapshot")
        except subprocess.CalledProcessError as error:
            self.failures.check(False, f"restore: {' '.join(map(str, error.cmd[:2]))} failed: {error.stderr}")
        finally:
            restored.run("stop", check=False)

    def check_stores(self, first_day: datetime.date) -> None:
        admin = Api(self.stack.base_url)
        reader = self.players[0]
        # The reconciler re-applies what the new Redis primary lacks (replication is asynchronous).
        deadline = time.monotonic() + 60
        while True:
            differences = faults.boards_differences(self.stack, admin, reader, first_day)
            if not differences or time.monotonic() > deadline:
                break
            time.sleep(1)
        for difference in differences:
            self.failures.check(False, f"board differs from PostgreSQL: {difference}")
        if not differences:
            log(f"{len(GAMES) + 1} boards x {len(PERIODS)} periods of {first_day} equal their recomputation from PostgreSQL")

        stored = {(int(user), game, int(score)) for user, game, score in self.stack.sql("SELECT user_id, game, score FROM scores")}
        boards = {game: faults.board_from_api(admin, reader, game, "all-time", first_day) for game in GAMES}
        acknowledged: collections.Counter[str] = collections.Counter()
        found: collections.Counter[str] = collections.Counter()
        for record in self.load.records:
            if record.status not in ACKNOWLEDGED:
                continue
            acknowledged[record.phase] += 1
            on_board = boards[record.game].get(record.player, (0, -1))[1] >= record.score
            if (record.player, record.game, record.score) in stored and on_board:
                found[record.phase] += 1
            else:
                self.failures.check(False, f"acknowledged score missing: player {record.player} {record.game} {record.score} ({record.phase}, {record.status})")

        faults.print_table(self.phases, self.load, acknowledged, found, self.watchers)
        for line in self.gaps:
            print(line, flush=True)
        statuses = collections.Counter(str(record.status) for record in self.load.records)
        statuses += collections.Counter(str(status) for _, status, _ in self.load.reads)
        self.failures.check("500" not in statuses, f"{statuses['500']} answers were 500")
        unexpected = {status: count for status, count in statuses.items() if status not in ("200", "202", "503")}
        self.failures.check(not unexpected, f"unexpected answers: {unexpected}")


def main() -> int:
    failures = Failures()
    stack = make_stack()
    keep = os.environ.get("FAILOVER_KEEP_STACK") == "1"
    started = time.monotonic()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        stack.run("stop", check=False)
        subprocess.run(["rm", "-rf", str(stack.directory)], check=True)
        log(f"starting an HA stack in {stack.directory} on {stack.base_url}")
        stack.run("start", timeout=300)
        return Run(stack, failures).execute()
    except Exception as error:  # noqa: BLE001 - every failure is reported, and the stack stopped
        failures.check(False, f"{type(error).__name__}: {error}")
        return 1
    finally:
        if keep:
            log(f"the stack keeps running: STACK_DIR={stack.directory} HA=1 scripts/stack.sh stop (with its ports)")
        else:
            log("stopping the stack")
            stack.run("stop", check=False)
        if failures.items:
            print("\ntest-failover FAILED:\n  " + "\n  ".join(failures.items), flush=True)
        print(f"test-failover: {time.monotonic() - started:.0f} s", flush=True)


if __name__ == "__main__":
    sys.exit(main())
