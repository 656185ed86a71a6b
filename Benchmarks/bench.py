#!/usr/bin/env python3
"""make bench: measures the service against its ceilings, in one run, on this machine.

Starts a private stack (scripts/stack.sh) under var/bench/stack (QUICK=1: var/bench/quick) on its own
ports, seeds the standard dataset once (kept for the next run, the Redis index too), then measures
each figure after a warm-up for a fixed time, with the load from another process on loopback (wrk
for REST, leaderboard-bench-ws for WebSocket), and prints one table. The results also go to
var/bench/results.json (QUICK=1: results-quick.json) and var/bench/runs/. Nothing here fails on a
threshold: the goals of issue 8 are printed next to the figures. Everything it starts it stops,
and every step has a time limit.

Environment: QUICK=1 (small dataset, short runs), BENCH_DURATION / BENCH_WARMUP (seconds, override),
BENCH_KEEP_STACK=1 (leave the stack running afterwards), BIN_DIR (.build/release), BENCH_PORT_OFFSET
(added to every port, for a second bench stack on the machine), BENCH_ONLY (a comma-separated list of
figure keys, such as ceiling.fastcgi,rest.top10: only those), BENCH_REPLICAS=2 (on a stack with two Redis
replicas under Sentinel, var/bench/stack-replicas: the board reads with pages on the primary, then on the
replicas, side by side; results-replicas.json).
README.md, "Benchmarks", explains each figure.

This file runs the parts in order: bench_settings (the settings above), bench_stack (the stack, its
processes, dataset and tokens), bench_load (the load generators), bench_figures (each figure), bench_report
(the results files and the table).
"""

import datetime
import os
import shutil
import time

from bench_settings import (API_WORKERS, BCRYPT_COST, BIN_DIR, DURATION, HTTP_PORT, LOGIN_CONNECTIONS, OUT_DIR, PG_PORT, QUICK, REDIS_PORT,
                REPLICAS, STACK_DIR, WARMUP, WRK_CONNECTIONS, WRK_THREADS, WS_PORT, check_replicas, die, run, say)
from bench_stack import loadavg, start_stack, stop_stack, take_snapshot
from bench_figures import describe_dataset, measure_figures
from bench_report import report


def main():
    check_replicas()
    for tool in ("wrk", "redis-benchmark", "psql", "redis-cli"):
        if not shutil.which(tool):
            die(f"{tool} not found: run make bench-deps")
    for binary in ("leaderboardctl", "leaderboard-api", "leaderboard-ws", "leaderboard-bench-fcgi", "leaderboard-bench-ws"):
        if not os.access(os.path.join(BIN_DIR, binary), os.X_OK):
            die(f"{BIN_DIR}/{binary} not found: make build first")
    os.makedirs(OUT_DIR, exist_ok=True)
    run_started = time.monotonic()
    results = {"quick": QUICK, "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
               "commit": run(["git", "rev-parse", "--short", "HEAD"], 10, check=False).stdout.strip(),
               "cores": os.cpu_count(), "warmup_seconds": WARMUP, "duration_seconds": DURATION,
               "wrk": {"threads": WRK_THREADS, "connections": WRK_CONNECTIONS}, "api_workers": API_WORKERS, "login_connections": LOGIN_CONNECTIONS,
               "bcrypt_cost": BCRYPT_COST, "loadavg_start": loadavg(), "redis_replicas": REPLICAS, "figures": {}}
    last_id = None
    if results["loadavg_start"][0] > 1.0:
        say(f"warning: the load average is {results['loadavg_start'][0]:.1f} before the bench starts: other work shares "
            "these cores, and the figures will show it (column 'others')")
    try:
        seeded, seed_seconds, start_seconds = start_stack()
        results["stack_start_seconds"] = round(start_seconds, 1)
        results["seed_seconds_this_run"] = seed_seconds and round(seed_seconds, 1)
        results["seeded_at"] = datetime.datetime.fromtimestamp(seeded["at"], datetime.timezone.utc).isoformat(timespec="seconds")
        board, board_size = describe_dataset(results)
        last_id = take_snapshot()
        measure_figures(results, board, board_size, last_id)
    finally:
        if os.environ.get("BENCH_KEEP_STACK") == "1":
            say(f"the bench stack keeps running (BENCH_KEEP_STACK=1); stop it with: STACK_DIR={STACK_DIR} "
                f"HTTP_PORT={HTTP_PORT} PG_PORT={PG_PORT} REDIS_PORT={REDIS_PORT} WS_PORT={WS_PORT} scripts/stack.sh stop")
        else:
            stop_stack(last_id)
    results["loadavg_end"] = loadavg()
    results["total_seconds"] = round(time.monotonic() - run_started, 1)

    report(results)


if __name__ == "__main__":
    main()
