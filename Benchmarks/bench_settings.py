"""make bench's settings, from the environment (see bench.py), and the helpers every part uses."""

import os
import subprocess
import sys


REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH_DIR = os.path.join(REPO, "Benchmarks")
QUICK = os.environ.get("QUICK", "0") not in ("", "0")
# BENCH_REPLICAS=2: the stack as several machines run it (scripts/stack.sh HA=1 REDIS_REPLICAS=2: a Redis primary
# with two replicas under three Sentinels, a PostgreSQL standby, two nodes), and only the board reads
# (REPLICA_READS), each measured twice: pages read on the primary, then on the replicas (REDIS_READ_REPLICAS=true).
REPLICAS = int(os.environ.get("BENCH_REPLICAS", "0") or 0)
REPLICA_READS = ("rest.top10", "rest.deep", "rest.me", "rest.report30", "rest.report365")
OUT_DIR = os.path.join(REPO, "var", "bench")
STACK_DIR = os.path.join(OUT_DIR, ("quick" if QUICK else "stack") + ("-replicas" if REPLICAS else ""))
BIN_DIR = os.path.abspath(os.path.join(REPO, os.environ.get("BIN_DIR", ".build/release")))

# Below 32768 (the ephemeral range) and apart from the dev (8080, 15432, 16379, 18081) and test
# (28080 and up) stacks'. BENCH_PORT_OFFSET moves them all, for two bench stacks on one machine.
PORT_OFFSET = int(os.environ.get("BENCH_PORT_OFFSET", "0"))
HTTP_PORT, PG_PORT, REDIS_PORT, WS_PORT = (port + PORT_OFFSET for port in (27080, 27432, 27379, 27081))
# The api's default; login is measured with fewer connections (bcrypt takes a good part of a second).
API_WORKERS = 32
LOGIN_CONNECTIONS = 8
BCRYPT_COST = 12
GAMES = ["cod", "valrnt", "mcft", "fnite", "apxleg", "lol", "ow", "cs", "rl", "pubg"]

if QUICK:
    PLAN = dict(users=3000, scores=30000, days=180)
    WARMUP, DURATION = 1.0, 3.0
    # (subscribers, submissions, one every ms)
    FANOUTS = (("ws.fanout_small", 200, 12, 250), ("ws.fanout_large", 1000, 12, 500))
else:
    PLAN = dict(users=100_000, scores=1_000_000, days=180)
    WARMUP, DURATION = 3.0, 10.0
    # (subscribers, submissions, one every ms). A push to 10,000 sockets keeps the daemon and the client
    # busy on both cores for a good part of the interval: one every 500 ms, so each is timed alone, not
    # queued behind the previous one. 100 of them, so that the p99 of the last receipt is not simply the slowest push.
    FANOUTS = (("ws.fanout_small", 1000, 40, 250), ("ws.fanout_large", 10_000, 100, 500))
WARMUP = float(os.environ.get("BENCH_WARMUP", WARMUP))
DURATION = float(os.environ.get("BENCH_DURATION", DURATION))
# BENCH_ONLY=rest.top10,ceiling.fastcgi measures only those figures (and any whose key starts with one of
# them and a dot), for a quick before/after; such a run writes results-only.json, not results.json.
ONLY = [key for key in os.environ.get("BENCH_ONLY", "").split(",") if key]
ONLY_REPLICA_READS = REPLICAS and not ONLY
if ONLY_REPLICA_READS:
    ONLY = [*REPLICA_READS, *(key + ".replicas" for key in REPLICA_READS)]


def wanted(key):
    # BENCH_REPLICAS's reads are exactly those figures, not the ones under them (rest.report30.server).
    if ONLY_REPLICA_READS:
        return key in ONLY
    return not ONLY or any(key == only or key.startswith(only + ".") for only in ONLY)

# wrk: the same threads and connections for every REST figure and its ceilings.
WRK_THREADS, WRK_CONNECTIONS = 2, 32
# A seeded stack is reused while it is younger than this; older, its days no longer end today.
SEED_MAX_AGE_DAYS = 7

# Issue 8's goals, printed next to the figures; never a reason to fail.
GOALS = {
    "ceiling.fastcgi": ">= 90% of the C responder",
    "ceiling.fastcgi.x4": "p99 without a cliff",
    "rest.top10": ">= 70% of the trivial FastCGI response",
    "rest.scores": ">= 5,000/s",
    "rest.scores.c128": ">= 5,000/s",
    "ws.fanout_large.last": "p99 <= 100 ms",
    "ws.idle_memory": "<= 16 KiB per connection",
    "rest.report365.server": "p50 <= 5 ms",
    "rest.report30": ">= 8,000/s",
    "redis.bytes_per_entry": "<= 100 B",
}


def check_replicas():
    if REPLICAS not in (0, 2):
        die(f"BENCH_REPLICAS must be 0 or 2, got {REPLICAS}")


def say(message):
    print(f"bench: {message}", file=sys.stderr, flush=True)


def die(message):
    print(f"bench: error: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


def run(args, timeout, env=None, check=True, capture=True):
    result = subprocess.run(
        args, env=env, timeout=timeout, text=True, stdout=subprocess.PIPE if capture else None,
        stderr=subprocess.PIPE if capture else None, cwd=REPO)
    if check and result.returncode != 0:
        die(f"{' '.join(args[:3])}... exited {result.returncode}:\n{(result.stdout or '')[-2000:]}{(result.stderr or '')[-2000:]}")
    return result
