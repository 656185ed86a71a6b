#!/usr/bin/env python3
"""make test-faults: faults injected into a private two-node stack while clients submit scores.

While a few clients submit scores steadily through nginx (bounded in count and time), WebSocket
clients watch a board and a reader polls one, this injects, one after the other:

  redis kill -9     an admin bans a player with scores on the boards, and right after, Redis (no
                    persistence) dies and comes back empty: submissions get 200 or 202, never a 500;
                    the reconciler rebuilds the index from PostgreSQL, where the banned player
                    stays off every board.
  api kill -9       one api pool dies: nginx passes requests to the other, the supervisor restarts it.
  ws kill -9        one WebSocket daemon dies: its clients reconnect (through nginx), the supervisor
                    restarts it.
  postgres stop     submissions get 503 (nothing accepted, nothing to lose), board reads (Redis)
                    keep answering 200; when PostgreSQL returns, submissions succeed again without
                    any restart.

Each phase lasts until the load has met its fault (acknowledged submissions, 202s while Redis is
down, reads after the game-catalog cache expired), within a bound, never for a fixed time.
Afterwards every acknowledged score (200 or 202) must be in PostgreSQL and on its boards, and every
board of the day the run started (all-time, daily, weekly and monthly, per game and global) must
equal its recomputation from PostgreSQL (read as GET /leaderboards pages, ranks included), without
the banned player. It prints
a table (fault, submissions sent, acknowledged, found afterwards, errors by status) and exits
non-zero if an acknowledged score is missing, a board differs, any answer was a 500, or an
expectation above failed. The stack (under FAULTS_STACK_DIR, default var/faults, ports offset by
FAULTS_PORT_OFFSET, default 100) is stopped at the end, whatever happens.

Environment: BIN_DIR (default: the debug build, `swift build` first unless FAULTS_NO_BUILD=1),
FAULTS_CLIENTS (4), FAULTS_MAX_SUBMISSIONS (6000), FAULTS_KEEP_STACK=1 to leave the stack up.
"""

from __future__ import annotations

import collections
import datetime
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from typing import Any, Callable

from private_stack import REPO, PrivateStack

sys.path.insert(0, str(REPO / "Tests" / "e2e"))

import requests  # noqa: E402
from websockets.exceptions import ConnectionClosed, InvalidHandshake  # noqa: E402
from websockets.sync.client import connect  # noqa: E402

from conftest import Api, Player, new_players, ws_url  # noqa: E402

GAMES = ["cod", "valrnt", "mcft", "fnite", "apxleg", "lol", "ow", "cs", "rl", "pubg"]
PERIODS = ["all-time", "daily", "weekly", "monthly"]
WATCHED_GAME = "cod"
PLAYERS = 24
ACKNOWLEDGED = (200, 202)
# The api keeps the game catalog this long: reads during a PostgreSQL outage must outlast it.
CATALOG_CACHE_SECONDS = 10
# Submissions a phase waits for, to show the service working before and after each fault.
PHASE_SUBMISSIONS = 50


def log(message: str) -> None:
    print(f"faults {datetime.datetime.now().strftime('%H:%M:%S')} {message}", flush=True)


class Failures:
    def __init__(self) -> None:
        self.items: list[str] = []

    def check(self, condition: bool, message: str) -> bool:
        if not condition:
            self.items.append(message)
            log(f"FAIL: {message}")
        return condition


# --- the stack ----------------------------------------------------------------------------------


def make_stack() -> PrivateStack:
    return PrivateStack(
        os.environ.get("FAULTS_STACK_DIR", "var/faults"),
        port_offset=int(os.environ.get("FAULTS_PORT_OFFSET", "100")),
        nodes=2,
        settings={"AUTH_RATE": "200r/s"},
        build=os.environ.get("FAULTS_NO_BUILD") != "1",
    )


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = predicate()
        except (requests.RequestException, OSError):
            result = None
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout} s")
        time.sleep(interval)


def expect_within(failures: Failures, predicate: Callable[[], Any], timeout: float, what: str) -> bool:
    """wait_until, recording a failure instead of ending the run when the condition is not met."""
    try:
        wait_until(predicate, timeout, what)
    except TimeoutError as error:
        return failures.check(False, str(error))
    return True


# --- clients --------------------------------------------------------------------------------------


class Record:
    __slots__ = ("phase", "player", "game", "score", "status", "upstream")

    def __init__(self, phase: str, player: int, game: str, score: int, status: int | str, upstream: bool) -> None:
        self.phase, self.player, self.game, self.score, self.status, self.upstream = phase, player, game, score, status, upstream


class Load:
    """Clients submitting scores through nginx, each score unique, until told to stop or out of budget."""

    def __init__(self, base_url: str, players: list[Player], clients: int, budget: int) -> None:
        self.base_url = base_url
        self.players = players
        self.clients = clients
        self.scores = iter(random.sample(range(1, 10**9), budget))
        self.phase = "steady"
        self.records: list[Record] = []
        # (phase, status, time.monotonic() when answered)
        self.reads: list[tuple[str, int | str, float]] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.submitter, daemon=True) for _ in range(clients)]
        self.threads.append(threading.Thread(target=self.reader, daemon=True))

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)

    def next_score(self) -> int | None:
        with self.lock:
            return next(self.scores, None)

    def submitter(self) -> None:
        api = Api(self.base_url)
        while not self.stop.is_set():
            score = self.next_score()
            if score is None:
                return
            player, game, phase = random.choice(self.players), random.choice(GAMES), self.phase
            upstream = False
            try:
                response = api.post("/scores", json={"game": game, "score": score}, headers=player.auth, timeout=15)
                status: int | str = response.status_code
                upstream = "X-Upstream-Unavailable" in response.headers
                if status == 200:
                    data = response.json()["data"]
                    if data["best"] < score or data["score"] != score:
                        status = "bad 200"
            except requests.RequestException as error:
                status = f"no answer ({type(error).__name__})"
            with self.lock:
                self.records.append(Record(phase, player.id, game, score, status, upstream))
            # A client told to retry later (503) waits a little longer.
            time.sleep(0.02 if status in ACKNOWLEDGED else 0.1)

    def reader(self) -> None:
        api = Api(self.base_url)
        player = self.players[0]
        while not self.stop.is_set():
            phase = self.phase
            try:
                status: int | str = api.get(f"/leaderboards/{WATCHED_GAME}", params={"size": 10}, headers=player.auth, timeout=15).status_code
            except requests.RequestException as error:
                status = f"no answer ({type(error).__name__})"
            with self.lock:
                self.reads.append((phase, status, time.monotonic()))
            time.sleep(0.1)

    def last_status(self, phase: str) -> int | str | None:
        with self.lock:
            for record in reversed(self.records):
                if record.phase == phase:
                    return record.status
        return None

    def count(self, phase: str, status: int) -> int:
        with self.lock:
            return sum(1 for record in self.records if record.phase == phase and record.status == status)


class Watcher(threading.Thread):
    """A WebSocket client on /ws/v1/scores through nginx that reconnects whenever it is dropped."""

    def __init__(self, base_url: str, player: Player, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.url = ws_url(base_url, "/ws/v1/scores")
        self.player = player
        self.stop = stop
        self.connections = 0
        self.drops = 0
        self.last_message = 0.0

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
                        if "result" in message:
                            self.last_message = time.monotonic()
            except (ConnectionClosed, InvalidHandshake, OSError, TimeoutError):
                pass
            if not self.stop.is_set():
                self.drops += 1
                time.sleep(0.2)


# --- the boards against PostgreSQL ------------------------------------------------------------------


def period_days(period: str, day: datetime.date) -> tuple[datetime.date, datetime.date] | None:
    """The UTC days [first, after) of the period that contains day (ISO weeks start on Monday); None for all-time."""
    if period == "daily":
        return day, day + datetime.timedelta(days=1)
    if period == "weekly":
        monday = day - datetime.timedelta(days=day.weekday())
        return monday, monday + datetime.timedelta(days=7)
    if period == "monthly":
        first = day.replace(day=1)
        return first, (first + datetime.timedelta(days=32)).replace(day=1)
    return None


def board_from_api(api: Api, player: Player, game: str, period: str, day: datetime.date) -> dict[int, tuple[int, int]]:
    """userId -> (rank, score), every page of the board of the period that contains day."""
    rows: dict[int, tuple[int, int]] = {}
    page = 1
    while True:
        params = {"period": period, "date": day.isoformat(), "page": page, "size": 100}
        response = api.get(f"/leaderboards/{game}", params=params, headers=player.auth, timeout=15)
        response.raise_for_status()
        data = response.json()["data"]
        for row in data["result"]:
            rows[row["userId"]] = (row["rank"], row["score"])
        if page * 100 >= data["totalCount"]:
            return rows
        page += 1


def board_from_sql(stack: PrivateStack, game: str, period: str, day: datetime.date) -> dict[int, tuple[int, int]]:
    """userId -> (rank, score) recomputed from the scores table: per-game bests within the period, or their sums for `all`;
    deleted scores and banned players' left out."""
    days = period_days(period, day)
    where = f"WHERE created_at >= '{days[0]} 00:00:00+00' AND created_at < '{days[1]} 00:00:00+00'" if days else ""
    counted = "deleted_at IS NULL AND user_id NOT IN (SELECT id FROM users WHERE banned_at IS NOT NULL)"
    where = f"{where} AND {counted}" if where else f"WHERE {counted}"
    best = f"SELECT game, user_id, max(score) AS best FROM scores {where} GROUP BY game, user_id"
    if game == "all":
        query = f"SELECT user_id, sum(best) FROM ({best}) b GROUP BY user_id"
    else:
        query = f"SELECT user_id, best FROM ({best}) b WHERE game = '{game}'"
    scores = {int(user): int(score) for user, score in stack.sql(query)}
    ordered = sorted(scores.values(), reverse=True)
    # Standard competition ranks: one more than the number of strictly higher scores.
    return {user: (1 + sum(1 for other in ordered if other > score), score) for user, score in scores.items()}


def boards_differences(stack: PrivateStack, api: Api, player: Player, day: datetime.date) -> list[str]:
    """Every board of every period containing day, per game and global, against PostgreSQL.

    Naming the day (rather than today) keeps the comparison right for a run that crosses midnight.
    """
    differences = []
    for game in ["all", *GAMES]:
        for period in PERIODS:
            served = board_from_api(api, player, game, period, day)
            expected = board_from_sql(stack, game, period, day)
            if served != expected:
                wrong = sorted(set(served.items()) ^ set(expected.items()))[:5]
                differences.append(f"{game} {period}: {len(served)} rows served, {len(expected)} expected; differing (user, (rank, score)): {wrong}")
    return differences


# --- the run -------------------------------------------------------------------------------------------


def inject_faults(stack: PrivateStack, load: Load, watchers: list[Watcher], failures: Failures, ban: Callable[[], None]) -> list[str]:
    phases = []

    def phase(name: str) -> None:
        phases.append(name)
        load.phase = name
        log(f"--- {name}")

    phase("steady")
    wait_until(lambda: load.count("steady", 200) >= PHASE_SUBMISSIONS and all(watcher.last_message for watcher in watchers), 60,
               f"{PHASE_SUBMISSIONS} submissions answered 200 and a page pushed to every WebSocket client")

    # Redis dies with everything in it, and comes back empty once submissions have been answered 202.
    phase("redis kill -9")
    ban()
    stack.run("kill-service", "redis")
    expect_within(failures, lambda: load.count("redis kill -9", 202) >= PHASE_SUBMISSIONS, 30,
                  f"{PHASE_SUBMISSIONS} submissions answered 202 while Redis was down")
    stack.run("start-service", "redis")
    wait_until(lambda: load.last_status("redis kill -9") == 200, 90, "submissions answered 200 again after Redis came back")

    phase("api kill -9")
    old = stack.pid("api")
    stack.run("kill-service", "api")
    wait_until(lambda: stack.pid("api") not in (None, old), 30, "the supervisor restarts the api")
    wait_until(lambda: stack.run("status", check=False).returncode == 0, 30, "every service running again")
    before = load.count("api kill -9", 200)
    expect_within(failures, lambda: load.count("api kill -9", 200) >= before + PHASE_SUBMISSIONS, 30,
                  f"{PHASE_SUBMISSIONS} submissions answered 200 after the api restart")

    phase("ws kill -9")
    old = stack.pid("ws")
    drops_before = sum(watcher.drops for watcher in watchers)
    killed_at = time.monotonic()
    stack.run("kill-service", "ws")
    wait_until(lambda: stack.pid("ws") not in (None, old), 30, "the supervisor restarts the ws daemon")
    try:
        wait_until(lambda: all(watcher.last_message > killed_at + 0.5 for watcher in watchers), 30, "every WebSocket client gets pushes again")
    except TimeoutError as error:
        failures.check(False, str(error))
    failures.check(sum(watcher.drops for watcher in watchers) > drops_before, "no WebSocket client was dropped by the kill (none reconnected)")

    phase("postgres stop")
    api_pids = (stack.pid("api"), stack.pid("api2"))
    stack.run("stop-service", "postgres")
    # The outage lasts until reads made after the api's game-catalog cache expired have been answered:
    # reads must not depend on PostgreSQL.
    cache_expired = time.monotonic() + CATALOG_CACHE_SECONDS + 1

    def reads_after_the_cache() -> list[int | str]:
        return [status for name, status, answered in list(load.reads) if name == "postgres stop" and answered > cache_expired]

    expect_within(failures, lambda: len(reads_after_the_cache()) >= 5 and load.count("postgres stop", 503) > 0, CATALOG_CACHE_SECONDS + 30,
                  "board reads after the game-catalog cache expired, and a submission answered 503, while PostgreSQL was down")
    outage_reads = [status for name, status, _ in list(load.reads) if name == "postgres stop"]
    failures.check(bool(outage_reads) and all(status == 200 for status in outage_reads),
                   f"board reads while PostgreSQL was down: {dict(collections.Counter(outage_reads))}")
    phase("postgres back")
    stack.run("start-service", "postgres")
    wait_until(lambda: load.last_status("postgres back") == 200, 60, "submissions answered 200 again after PostgreSQL came back")
    failures.check((stack.pid("api"), stack.pid("api2")) == api_pids, "an api process was restarted to recover from PostgreSQL")

    phase("steady after")
    expect_within(failures, lambda: load.count("steady after", 200) >= PHASE_SUBMISSIONS, 30,
                  f"{PHASE_SUBMISSIONS} submissions answered 200 after the faults")
    return phases


def main() -> int:
    failures = Failures()
    stack = make_stack()
    keep = os.environ.get("FAULTS_KEEP_STACK") == "1"
    started = time.monotonic()

    def stop_stack() -> None:
        if keep:
            log(f"the stack keeps running: STACK_DIR={stack.directory} scripts/stack.sh stop (with its ports)")
            return
        log("stopping the stack")
        stack.run("stop", check=False)

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        stack.run("stop", check=False)
        subprocess.run(["rm", "-rf", str(stack.directory)], check=True)
        log(f"starting a two-node stack in {stack.directory} on {stack.base_url}")
        stack.run("start", timeout=300)
        return run(stack, failures, started)
    except Exception as error:  # noqa: BLE001 - every failure is reported, and the stack stopped
        failures.check(False, f"{type(error).__name__}: {error}")
        return 1
    finally:
        stop_stack()
        if failures.items:
            print("\ntest-faults FAILED:\n  " + "\n  ".join(failures.items), flush=True)
        print(f"test-faults: {time.monotonic() - started:.0f} s", flush=True)


def run(stack: PrivateStack, failures: Failures, started: float) -> int:
    admin = Api(stack.base_url)
    players = new_players(stack.base_url, PLAYERS, "Fault")
    first_day = datetime.datetime.now(datetime.timezone.utc).date()
    load = Load(stack.base_url, players, int(os.environ.get("FAULTS_CLIENTS", "4")), int(os.environ.get("FAULTS_MAX_SUBMISSIONS", "6000")))
    watchers = [Watcher(stack.base_url, players[index], load.stop) for index in range(4)]
    # A cheater on the top of two boards, banned by an admin right before Redis dies.
    cheater, moderator = new_players(stack.base_url, 2, "Moderated")
    for game in GAMES[:2]:
        admin.post("/scores", json={"game": game, "score": 999_999_999}, headers=cheater.auth, timeout=15).raise_for_status()
    stack.sql(f"UPDATE users SET role = 'admin' WHERE id = {moderator.id}")

    def ban() -> None:
        response = admin.post(f"/admin/users/{cheater.id}/ban", json={"reason": "fault suite"}, headers=moderator.auth, timeout=15)
        failures.check(response.status_code == 200, f"the ban was answered {response.status_code}: {response.text[:200]}")

    for watcher in watchers:
        watcher.start()
    load.start()
    try:
        phases = inject_faults(stack, load, watchers, failures, ban)
    finally:
        load.finish()
    log(f"load stopped: {len(load.records)} submissions; waiting for the boards to equal PostgreSQL")

    # The reconciler applies what was answered 202 (and what a killed process stored but never applied).
    differences: list[str] = []
    deadline = time.monotonic() + 60
    while True:
        differences = boards_differences(stack, admin, players[0], first_day)
        if not differences or time.monotonic() > deadline:
            break
        time.sleep(1)
    for difference in differences:
        failures.check(False, f"board differs from PostgreSQL: {difference}")
    if not differences:
        log(f"{len(GAMES) + 1} boards x {len(PERIODS)} periods of {first_day} equal their recomputation from PostgreSQL")
    for game in ["all", *GAMES]:
        for period in PERIODS:
            failures.check(cheater.id not in board_from_api(admin, players[0], game, period, first_day),
                           f"the banned player is back on {game} {period}")

    stored = {(int(user), game, int(score)) for user, game, score in stack.sql("SELECT user_id, game, score FROM scores")}
    boards = {game: board_from_api(admin, players[0], game, "all-time", first_day) for game in GAMES}
    found: collections.Counter[str] = collections.Counter()
    acknowledged: collections.Counter[str] = collections.Counter()
    for record in load.records:
        if record.status not in ACKNOWLEDGED:
            if record.status == 503 and not record.upstream and (record.player, record.game, record.score) in stored:
                failures.check(False, f"a score answered 503 by the api was stored anyway: {record.game} {record.score}")
            continue
        acknowledged[record.phase] += 1
        on_board = boards[record.game].get(record.player, (0, -1))[1] >= record.score
        if (record.player, record.game, record.score) in stored and on_board:
            found[record.phase] += 1
        else:
            failures.check(False, f"acknowledged score missing: player {record.player} {record.game} {record.score} ({record.phase}, {record.status})")

    print_table(phases, load, acknowledged, found, watchers)
    statuses = collections.Counter(str(record.status) for record in load.records) + collections.Counter(str(status) for _, status, _ in load.reads)
    failures.check("500" not in statuses, f"{statuses['500']} answers were 500")
    unexpected = {status: count for status, count in statuses.items() if status not in ("200", "202", "503")}
    failures.check(not unexpected, f"unexpected answers: {unexpected}")
    return 1 if failures.items else 0


def print_table(phases: list[str], load: Load, acknowledged: collections.Counter, found: collections.Counter, watchers: list[Watcher]) -> None:
    header = f"{'fault':<16} {'sent':>6} {'acked':>6} {'(202)':>6} {'found':>6}  {'errors by status':<34} {'board reads'}"
    print("\n" + header + "\n" + "-" * len(header))
    totals = collections.Counter()
    for phase in phases:
        records = [record for record in load.records if record.phase == phase]
        errors = collections.Counter(
            f"{record.status}{' (nginx)' if record.upstream else ''}" for record in records if record.status not in ACKNOWLEDGED
        )
        reads = collections.Counter(str(status) for name, status, _ in load.reads if name == phase)
        row = {"sent": len(records), "acked": acknowledged[phase], "202": sum(1 for r in records if r.status == 202), "found": found[phase]}
        totals.update(row)
        print(f"{phase:<16} {row['sent']:>6} {row['acked']:>6} {row['202']:>6} {row['found']:>6}  "
              f"{', '.join(f'{k}: {v}' for k, v in sorted(errors.items())) or '-':<34} {', '.join(f'{k}: {v}' for k, v in sorted(reads.items()))}")
    print("-" * len(header))
    print(f"{'total':<16} {totals['sent']:>6} {totals['acked']:>6} {totals['202']:>6} {totals['found']:>6}")
    print(f"WebSocket clients: {len(watchers)}, connections {sum(w.connections for w in watchers)}, drops {sum(w.drops for w in watchers)}\n", flush=True)


if __name__ == "__main__":
    sys.exit(main())
