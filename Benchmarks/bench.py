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
figure keys, such as ceiling.fastcgi,rest.top10: only those).
README.md, "Benchmarks", explains each figure.
"""

import base64
import datetime
import hashlib
import hmac
import json
import os
import re
import resource
import secrets
import shutil
import subprocess
import sys
import threading
import time
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH_DIR = os.path.join(REPO, "Benchmarks")
QUICK = os.environ.get("QUICK", "0") not in ("", "0")
OUT_DIR = os.path.join(REPO, "var", "bench")
STACK_DIR = os.path.join(OUT_DIR, "quick" if QUICK else "stack")
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


def wanted(key):
    return not ONLY or any(key == only or key.startswith(only + ".") for only in ONLY)

# wrk: the same threads and connections for every REST figure and its ceilings.
WRK_THREADS, WRK_CONNECTIONS = 2, 32
# A seeded stack is reused while it is younger than this; older, its days no longer end today.
SEED_MAX_AGE_DAYS = 7

# Issue 8's goals, printed next to the figures; never a reason to fail.
GOALS = {
    "rest.top10": ">= 70% of the trivial FastCGI response",
    "rest.scores": ">= 5,000/s",
    "ws.fanout_large.last": "p99 <= 100 ms",
    "ws.idle_memory": "<= 16 KiB per connection",
    "rest.report365.server": "p50 <= 5 ms",
}


def say(message):
    print(f"bench: {message}", file=sys.stderr, flush=True)


def die(message):
    print(f"bench: error: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


# --- processes ------------------------------------------------------------------------------------


def run(args, timeout, env=None, check=True, capture=True):
    result = subprocess.run(
        args, env=env, timeout=timeout, text=True, stdout=subprocess.PIPE if capture else None,
        stderr=subprocess.PIPE if capture else None, cwd=REPO)
    if check and result.returncode != 0:
        die(f"{' '.join(args[:3])}... exited {result.returncode}:\n{(result.stdout or '')[-2000:]}{(result.stderr or '')[-2000:]}")
    return result


def stack_env(**extra):
    env = dict(os.environ, STACK_DIR=STACK_DIR, BIN_DIR=BIN_DIR, HTTP_PORT=str(HTTP_PORT), PG_PORT=str(PG_PORT),
               REDIS_PORT=str(REDIS_PORT), WS_PORT=str(WS_PORT), BCRYPT_COST=str(BCRYPT_COST), NODES="1",
               SEED_DEMO="0", NO_APP="0",
               # The login figure measures bcrypt, not nginx's limit on /auth/ (20r/s in dev).
               AUTH_RATE="100000r/s")
    env.update(extra)
    return env


def stack(*args, timeout=300):
    return run(["scripts/stack.sh", *args], timeout, env=stack_env(), check=False, capture=False)


def app_env():
    return {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/"), "LANG": "C.UTF-8",
            "LEADERBOARD_ENV_FILE": os.path.join(STACK_DIR, "leaderboard.env")}


def ctl(*args, timeout=900):
    return run([os.path.join(BIN_DIR, "leaderboardctl"), *args], timeout, env=app_env(), capture=False)


def read_pid(name):
    try:
        with open(os.path.join(STACK_DIR, "run", name)) as file:
            return int(file.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as file:
            return [int(p) for p in file.read().split()]
    except OSError:
        return []


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as file:
            for line in file:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (OSError, TypeError):
        pass
    return None


def cpu_seconds(pids):
    total = 0.0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as file:
                fields = file.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            pass
    return total


def busy_cpu_seconds():
    """CPU time the whole machine spent busy (every process, the kernel's work for them included)."""
    with open("/proc/stat") as file:
        fields = [int(value) for value in file.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal ...
    busy = fields[0] + fields[1] + fields[2] + fields[5] + fields[6] + (fields[7] if len(fields) > 7 else 0)
    return busy / os.sysconf("SC_CLK_TCK")


def loadavg():
    with open("/proc/loadavg") as file:
        return [float(value) for value in file.read().split()[:3]]


class Processes:
    """The stack's processes by role, for CPU accounting per figure."""

    def __init__(self):
        self.api = read_pid("api.pid")
        self.ws = read_pid("ws.pid")
        self.nginx = read_pid("nginx.pid")
        self.redis = read_pid("redis.pid")
        self.postgres = None
        try:
            with open(os.path.join(STACK_DIR, "pg", "postmaster.pid")) as file:
                self.postgres = int(file.readline())
        except (OSError, ValueError):
            pass
        self.fcgi = None

    def groups(self):
        return {
            "api": [self.api] if self.api else [],
            "ws": [self.ws] if self.ws else [],
            "nginx": children(self.nginx) if self.nginx else [],
            "postgres": ([self.postgres] + children(self.postgres)) if self.postgres else [],
            "redis": [self.redis] if self.redis else [],
            "bench_fcgi": [self.fcgi] if self.fcgi else [],
        }

    def cpu(self):
        return {name: cpu_seconds(pids) for name, pids in self.groups().items()}


class Sampler:
    """Samples the resident memory of some processes every 100 ms while a figure runs; keeps the peak."""

    def __init__(self, pids):
        self.pids = {name: pid for name, pid in pids.items() if pid}
        self.peak = {name: 0 for name in self.pids}
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.loop, daemon=True)

    def loop(self):
        while not self.stopping.wait(0.1):
            for name, pid in self.pids.items():
                self.peak[name] = max(self.peak[name], rss_kib(pid) or 0)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        self.thread.join()


# --- the stack --------------------------------------------------------------------------------------


def write_env_file():
    """The stack's settings: production mode (real bcrypt cost, production defaults) with long-lived
    tokens, so reruns can keep theirs, and a per-client WebSocket message limit high enough that the
    submission figure measures the daemon, not the limiter."""
    path = os.path.join(STACK_DIR, "leaderboard.env")
    if os.path.exists(path):
        return
    os.makedirs(STACK_DIR, exist_ok=True)
    text = f"""# Written once by Benchmarks/bench.py for the bench stack; delete it to regenerate.
LEADERBOARD_MODE=production
PG_USER=leaderboard
PG_PW=leaderboard
PG_SERVER={STACK_DIR}/run/pg
PG_PORT={PG_PORT}
PG_DB=leaderboard
REDIS_URL=unix://{STACK_DIR}/run/redis.sock
SECRET_KEY={secrets.token_hex(32)}
ALGORITHM=HS256
ACCESS_TOKEN_EXPIRE_MINUTES=1440
API_LISTEN=unix:{STACK_DIR}/run/api.sock
API_WORKERS={API_WORKERS}
WS_LISTEN=127.0.0.1:{WS_PORT}
WS_MESSAGES_PER_SECOND=10000
BCRYPT_COST={BCRYPT_COST}
COOKIE_SECURE=false
LOG_LEVEL=info
"""
    with open(path + ".tmp", "w") as file:
        file.write(text)
    os.chmod(path + ".tmp", 0o600)
    os.replace(path + ".tmp", path)


def env_value(name):
    with open(os.path.join(STACK_DIR, "leaderboard.env")) as file:
        for line in file:
            if line.startswith(name + "="):
                return line.strip().split("=", 1)[1]
    die(f"{name} missing from the bench env file")


def write_nginx_locations():
    """The two ceilings, in the bench stack's nginx only (the template includes nginx.d/*.conf)."""
    os.makedirs(os.path.join(STACK_DIR, "nginx.d"), exist_ok=True)
    with open(os.path.join(STACK_DIR, "nginx.d", "bench.conf"), "w") as file:
        file.write(f"""# Written by Benchmarks/bench.py: the ceilings of make bench.
location = /bench/nginx {{
    default_type application/json;
    return 200 '{{"success":true,"statusCode":200,"message":"done","data":null}}';
}}
location = /bench/fastcgi {{
    fastcgi_pass unix:{STACK_DIR}/run/bench-fcgi.sock;
    include /etc/nginx/fastcgi_params;
    fastcgi_param REQUEST_ID $request_id;
}}
""")


def psql(sql, timeout=60):
    env = dict(os.environ, PGPASSWORD="leaderboard")
    result = run(["psql", "-X", "-q", "-At", "-F", "\t", "-h", "127.0.0.1", "-p", str(PG_PORT), "-U", "leaderboard",
                  "-d", "leaderboard", "-v", "ON_ERROR_STOP=1", "-c", sql], timeout, env=env)
    return [line.split("\t") for line in result.stdout.splitlines() if line]


def redis_cli(*args, timeout=60):
    return run(["redis-cli", "-h", "127.0.0.1", "-p", str(REDIS_PORT), *args], timeout).stdout.strip()


def start_stack():
    marker = os.path.join(STACK_DIR, ".bench-seeded")
    seeded = None
    if os.path.exists(marker):
        with open(marker) as file:
            seeded = json.load(file)
    stack("stop", timeout=180)
    if seeded and (seeded.get("plan") != PLAN or time.time() - seeded.get("at", 0) > SEED_MAX_AGE_DAYS * 86400):
        say(f"the seeded data in {STACK_DIR} is of another plan or older than {SEED_MAX_AGE_DAYS} days: starting afresh")
        shutil.rmtree(STACK_DIR)
        seeded = None
    write_env_file()
    write_nginx_locations()
    # Every daemon the stack starts inherits this: 10,000 WebSocket clients need the fds.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    started = time.monotonic()
    if stack("start", timeout=900).returncode != 0:
        die(f"the bench stack did not start (logs: {STACK_DIR}/log)")
    # Each run takes out the scores it added; a run that could not (stopped half way, or the reconciler
    # too slow for the snapshot) left them, and they change what a submission costs: a player who already
    # holds today's best on a board moves nothing. Figures are only comparable on the plan's dataset.
    if seeded and int(psql("SELECT count(*) FROM scores")[0][0]) != PLAN["scores"]:
        say(f"the seeded data in {STACK_DIR} no longer holds the plan's {PLAN['scores']:,} scores: starting afresh")
        stack("stop", timeout=180)
        shutil.rmtree(STACK_DIR)
        return start_stack()
    seed_seconds = None
    if not seeded:
        say(f"seeding {PLAN['users']:,} players and {PLAN['scores']:,} scores over {PLAN['days']} days (once; kept for later runs)")
        seed_started = time.monotonic()
        ctl("seed", "--users", str(PLAN["users"]), "--scores", str(PLAN["scores"]), "--days", str(PLAN["days"]), timeout=1800)
        seed_seconds = time.monotonic() - seed_started
        with open(marker, "w") as file:
            json.dump({"plan": PLAN, "at": time.time(), "seconds": round(seed_seconds, 1)}, file)
        seeded = {"plan": PLAN, "at": time.time(), "seconds": seed_seconds}
    return seeded, seed_seconds, time.monotonic() - started


SNAPSHOT = os.path.join(STACK_DIR, "redis", "bench-start.rdb")


def take_snapshot():
    """Remembers the dataset as the run finds it: the last score id in PostgreSQL and a copy of the
    Redis index that matches it, once the reconciler has caught up. The run adds tens of thousands of
    scores (POST /scores, the WebSocket figures); `stop_stack` takes them out again, so every
    run measures the same data (a report's cost, say, depends on whose scores are on top)."""
    last_id = int(psql("SELECT coalesce(max(id), 0) FROM scores")[0][0])
    generation = redis_cli("GET", "lb:meta:gen")
    deadline = time.monotonic() + 180
    while int(redis_cli("GET", f"lb:{generation}:watermark") or 0) < last_id:
        if time.monotonic() > deadline:
            say("warning: the reconciler has not caught up after 180 s; the run's scores will be kept")
            return None
        time.sleep(0.5)
    redis_cli("SAVE", timeout=300)
    shutil.copyfile(os.path.join(STACK_DIR, "redis", "dump.rdb"), SNAPSHOT)
    return last_id


def stop_stack(last_id):
    """Stops the stack; with a snapshot, the dataset goes back to what the run found."""
    if last_id is not None:
        result = subprocess.run(
            ["psql", "-X", "-q", "-At", "-h", "127.0.0.1", "-p", str(PG_PORT), "-U", "leaderboard", "-d", "leaderboard",
             "-v", "ON_ERROR_STOP=1", "-c",
             f"WITH gone AS (DELETE FROM scores WHERE id > {int(last_id)} RETURNING 1) SELECT count(*) FROM gone"],
            env=dict(os.environ, PGPASSWORD="leaderboard"), capture_output=True, text=True, timeout=300)
        if result.returncode == 0:
            say(f"removed the {int(result.stdout.strip() or 0):,} scores this run added")
        else:
            say(f"warning: could not remove this run's scores ({result.stderr.strip()[:200]}); keeping its index too")
            last_id = None
    if last_id is None and read_pid("redis.pid"):
        # No snapshot: keep the index as it is for the next run (Redis here writes nothing on its own).
        subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(REDIS_PORT), "SAVE"], timeout=300,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    stack("stop", timeout=180)
    if last_id is not None:
        shutil.copyfile(SNAPSHOT, os.path.join(STACK_DIR, "redis", "dump.rdb"))


class BenchFastCGI:
    """The trivial FastCGI responder on our pool code, with as many workers as the api."""

    def __init__(self):
        self.process = None

    def __enter__(self):
        socket_path = os.path.join(STACK_DIR, "run", "bench-fcgi.sock")
        log = open(os.path.join(STACK_DIR, "log", "bench-fcgi.log"), "a")
        self.process = subprocess.Popen([os.path.join(BIN_DIR, "leaderboard-bench-fcgi"), "unix:" + socket_path,
                                         str(API_WORKERS)], stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not os.path.exists(socket_path):
            if time.monotonic() > deadline or self.process.poll() is not None:
                die("leaderboard-bench-fcgi did not start (log: var/bench/.../log/bench-fcgi.log)")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc):
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# --- tokens ---------------------------------------------------------------------------------------


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mint_tokens(count):
    """Access tokens for `count` seeded players who have scores, as the api issues them (HS256 over
    the same claims, a jti each), signed with the stack's secret: logging in 10,000 players at bcrypt
    cost 12 would take minutes. The server checks them exactly as it checks its own."""
    key = env_value("SECRET_KEY").encode()
    rows = psql("SELECT u.id, u.name, u.email FROM users u WHERE EXISTS (SELECT 1 FROM scores s WHERE s.user_id = u.id) "
                f"ORDER BY u.id LIMIT {int(count)}")
    if len(rows) < count:
        die(f"only {len(rows)} players with scores; the bench needs {count}")
    now = int(time.time())
    header = b64url(b'{"alg":"HS256","typ":"JWT"}')
    tokens = []
    for user_id, name, email in rows:
        claims = {"email": email, "exp": now + 6 * 3600, "iat": now, "id": int(user_id), "jti": secrets.token_hex(16),
                  "name": name, "sub": str(user_id)}
        body = b64url(json.dumps(claims, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode())
        signing_input = f"{header}.{body}"
        signature = b64url(hmac.new(key, signing_input.encode(), hashlib.sha256).digest())
        tokens.append(f"{signing_input}.{signature}")
    path = os.path.join(STACK_DIR, "tokens.txt")
    with open(path, "w") as file:
        file.write("\n".join(tokens) + "\n")
    emails = os.path.join(STACK_DIR, "emails.txt")
    with open(emails, "w") as file:
        file.write("\n".join(row[2] for row in rows[:5000]) + "\n")
    return path, emails


# --- load generators -------------------------------------------------------------------------------


def wrk(script, duration, connections=WRK_CONNECTIONS, threads=WRK_THREADS, **env):
    threads = min(threads, connections)
    args = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{max(1, round(duration))}s", "--timeout", "10s",
            "-s", os.path.join(BENCH_DIR, "wrk", script), f"http://127.0.0.1:{HTTP_PORT}"]
    environment = dict(os.environ, BENCH_LUA_DIR=os.path.join(BENCH_DIR, "wrk"), **env)
    result = run(args, duration + 60, env=environment)
    for line in result.stdout.splitlines():
        if line.startswith("BENCH-JSON "):
            return json.loads(line[len("BENCH-JSON "):])
    die(f"wrk printed no summary:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")


class DebugRequestLog:
    """The api restarted at LOG_LEVEL=debug, which logs each request with the api's own time (`ms=`), for the
    figures timed at the server; at info (the bench's level, as in production) it logs none. Restarted at
    info again on the way out."""

    def __init__(self, processes):
        self.processes = processes

    def restart_api(self, level):
        path = os.path.join(STACK_DIR, "leaderboard.env")
        with open(path) as file:
            text = re.sub(r"(?m)^LOG_LEVEL=.*$", f"LOG_LEVEL={level}", file.read())
        with open(path, "w") as file:
            file.write(text)
        if stack("stop-service", "api").returncode != 0 or stack("start-service", "api").returncode != 0:
            die("could not restart the api (log: var/bench/.../log/api.log)")
        self.processes.api = read_pid("api.pid")

    def __enter__(self):
        self.restart_api("debug")
        return self

    def __exit__(self, *exc):
        self.restart_api("info")


def api_log_offset():
    try:
        return os.path.getsize(os.path.join(STACK_DIR, "log", "api.log"))
    except OSError:
        return 0


def server_times(offset, path):
    """Milliseconds the api spent on each request to `path` logged since `offset` (its own timing)."""
    times = []
    pattern = re.compile(r"\bms=([0-9.]+)")
    with open(os.path.join(STACK_DIR, "log", "api.log"), "rb") as file:
        file.seek(offset)
        for raw in file:
            line = raw.decode("utf-8", "replace")
            if f"path={path} " in line or line.rstrip().endswith(f"path={path}"):
                match = pattern.search(line)
                if match:
                    times.append(float(match.group(1)))
    return times


def percentile(values, quantile):
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, int(-(-quantile * len(ordered) // 1)) - 1))
    return ordered[rank]


def redis_command_costs():
    """Redis's own count of the commands it ran since its last `CONFIG RESETSTAT`, and the microseconds
    each took, commands a script runs included (the script's own figure holds theirs too), leaving out
    the bench's own INFO and CONFIG."""
    costs = {}
    for name, calls, usec in re.findall(r"^cmdstat_([^:]+):calls=(\d+),usec=(\d+),", redis_cli("INFO", "commandstats"), re.MULTILINE):
        if name != "info" and not name.startswith("config"):
            costs[name] = {"calls": int(calls), "usec": int(usec)}
    return costs


class CPUWindow:
    """CPU seconds per stack component over a figure's measured window, and what the rest of the machine
    (other people's builds and tests, which share these cores) took meanwhile; and Redis's time per
    command over it, to tell which of a figure's Redis commands cost what."""

    def __init__(self, processes):
        self.processes = processes

    def __enter__(self):
        redis_cli("CONFIG", "RESETSTAT")
        self.before = self.processes.cpu()
        self.children = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.own = resource.getrusage(resource.RUSAGE_SELF)
        self.busy = busy_cpu_seconds()
        self.started = time.monotonic()
        return self

    def __exit__(self, *exc):
        after = self.processes.cpu()
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        own = resource.getrusage(resource.RUSAGE_SELF)
        self.seconds = time.monotonic() - self.started
        self.cpu = {k: round(after[k] - self.before[k], 2) for k in after}
        self.generator = round((children.ru_utime + children.ru_stime) - (self.children.ru_utime + self.children.ru_stime)
                               + (own.ru_utime + own.ru_stime) - (self.own.ru_utime + self.own.ru_stime), 2)
        busy = busy_cpu_seconds() - self.busy
        self.other = round(max(0.0, busy - sum(self.cpu.values()) - self.generator), 2)
        self.redis_commands = redis_command_costs()

    def record(self, figure):
        figure["cpu_seconds"] = self.cpu
        figure["generator_cpu_seconds"] = self.generator
        figure["other_cpu_seconds"] = self.other
        figure["window_seconds"] = round(self.seconds, 2)
        figure["redis_commands"] = self.redis_commands


def api_answers(method, route):
    """How many answers the api has given to `method route`, by status: its own count, from /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{HTTP_PORT}/metrics", timeout=10) as response:
        text = response.read().decode()
    answers = {}
    for labels, value in re.findall(r'^leaderboard_http_requests_total\{([^}]*)\} (\S+)$', text, re.MULTILINE):
        label = dict(re.findall(r'(\w+)="([^"]*)"', labels))
        if label.get("method") == method and label.get("route") == route:
            answers[label["status"]] = answers.get(label["status"], 0) + int(float(value))
    return answers


def measure_rest(name, processes, script="get.lua", duration=None, connections=WRK_CONNECTIONS, server_path=None,
                 warmup=True, answers_to=None, **env):
    """A warm-up, then the measured run, with CPU per component and the pool's peak memory. With
    `answers_to` (method, route), the statuses are the api's count of its answers to that route during
    the run, so wrk need not look at each answer (a Lua callback per answer costs it a good part of its
    CPU)."""
    duration = duration or DURATION
    say(f"{name}: " + (f"warm-up {WARMUP:g} s, then " if warmup else "") +
        f"{duration:g} s (wrk -t{min(WRK_THREADS, connections)} -c{connections})")
    if warmup:
        wrk(script, WARMUP, connections=connections, **env)
    offset = api_log_offset() if server_path else None
    answered_before = api_answers(*answers_to) if answers_to else None
    load_before = loadavg()
    with Sampler({"api": processes.api, "ws": processes.ws}) as sampler, CPUWindow(processes) as window:
        result = wrk(script, duration, connections=connections, **env)
    if answers_to:
        answered = api_answers(*answers_to)
        result["statuses"] = {status: count - answered_before.get(status, 0) for status, count in answered.items()
                              if count > answered_before.get(status, 0)}
    seconds = result["duration_us"] / 1e6
    ok = result["requests"] - result["errors"]["status"]
    figure = {
        "requests": result["requests"], "seconds": round(seconds, 2), "per_second": round(ok / seconds, 1),
        "errors": result["errors"], "statuses": result["statuses"],
        "latency_ms": {k: round(v / 1000, 3) for k, v in result["latency_us"].items()},
        "rss_peak_kib": sampler.peak, "loadavg_before": load_before,
    }
    window.record(figure)
    if server_path:
        times = server_times(offset, server_path)
        figure["server_ms"] = {"count": len(times), "p50": percentile(times, 0.5), "p99": percentile(times, 0.99)}
    return figure


def bench_ws(*args, timeout):
    result = run([os.path.join(BIN_DIR, "leaderboard-bench-ws"), *args], timeout)
    try:
        return json.loads(result.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        die(f"leaderboard-bench-ws printed no result:\n{result.stderr[-2000:]}")


def redis_benchmark(name, command, requests):
    say(f"{name}: redis-benchmark, {requests:,} requests, 50 clients")
    result = run(["redis-benchmark", "-h", "127.0.0.1", "-p", str(REDIS_PORT), "-c", "50", "-n", str(requests),
                  "-r", "100000", "--csv", *command], 300)
    # "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
    rows = [line.replace('"', "").split(",") for line in result.stdout.splitlines() if line.strip()]
    header, values = rows[0], rows[-1]
    data = dict(zip(header, values))
    return {"per_second": float(data["rps"]), "latency_ms": {"p50": float(data["p50_latency_ms"]),
                                                             "p99": float(data["p99_latency_ms"])}}


def bcrypt_ceiling():
    """bcrypt at the same cost in C (Python's bcrypt package, from make deps), on one core."""
    try:
        import bcrypt
    except ImportError:
        return None
    hashed = bcrypt.hashpw(b"123456", bcrypt.gensalt(BCRYPT_COST))
    count, started = 0, time.monotonic()
    while time.monotonic() - started < min(DURATION, 5):
        bcrypt.checkpw(b"123456", hashed)
        count += 1
    return count / (time.monotonic() - started)


# --- the run ------------------------------------------------------------------------------------------


def main():
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
               "bcrypt_cost": BCRYPT_COST, "loadavg_start": loadavg(), "figures": {}}
    figures = results["figures"]
    last_id = None
    if results["loadavg_start"][0] > 1.0:
        say(f"warning: the load average is {results['loadavg_start'][0]:.1f} before the bench starts: other work shares "
            "these cores, and the figures will show it (column 'others')")
    try:
        seeded, seed_seconds, start_seconds = start_stack()
        results["stack_start_seconds"] = round(start_seconds, 1)
        results["seed_seconds_this_run"] = seed_seconds and round(seed_seconds, 1)
        results["seeded_at"] = datetime.datetime.fromtimestamp(seeded["at"], datetime.timezone.utc).isoformat(timespec="seconds")
        users, scores = psql("SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM scores)")[0]
        generation = redis_cli("GET", "lb:meta:gen")
        board = f"lb:{generation}:b:all:all"
        board_size = int(redis_cli("ZCARD", board))
        results["dataset"] = {"plan": PLAN, "users": int(users), "scores": int(scores), "global_board_players": board_size}
        say(f"dataset: {int(users):,} players, {int(scores):,} scores, {board_size:,} on the global board")
        last_id = take_snapshot()

        tokens, emails = mint_tokens(max(FANOUTS[-1][1] + 1, 2000))
        processes = Processes()
        results["rss_idle_kib"] = {"api": rss_kib(processes.api), "ws": rss_kib(processes.ws)}

        # Ceilings.
        if wanted("ceiling.nginx"):
            figures["ceiling.nginx"] = measure_rest("nginx return 200", processes, BENCH_PATH="/bench/nginx", BENCH_TOKENS="-")
        def fastcgi_ceiling():
            with BenchFastCGI() as fcgi:
                processes.fcgi = fcgi.process.pid
                figure = measure_rest("trivial FastCGI response", processes, BENCH_PATH="/bench/fastcgi", BENCH_TOKENS="-")
                processes.fcgi = None
            return figure

        if wanted("ceiling.fastcgi"):
            figures["ceiling.fastcgi"] = fastcgi_ceiling()
        redis_requests = 100_000 if QUICK else 400_000
        if wanted("ceiling.redis_zadd"):
            figures["ceiling.redis_zadd"] = redis_benchmark(
                "redis ZADD", ["ZADD", "bench:zadd", "__rand_int__", "__rand_int__"], redis_requests)
            redis_cli("DEL", "bench:zadd")
        if wanted("ceiling.redis_zrevrange"):
            figures["ceiling.redis_zrevrange"] = redis_benchmark(
                "redis ZREVRANGE 0 9", ["ZREVRANGE", board, "0", "9", "WITHSCORES"], redis_requests)

        # REST.
        deep = 50_000 if board_size > 50_010 else board_size // 2
        results["deep_page_rows"] = [deep, deep + 9]
        rest = [
            ("rest.top10", "GET /leaderboards/all top 10", "/api/v1/leaderboards/all?start=0&end=9"),
            ("rest.deep", f"GET /leaderboards/all rows {deep:,}-{deep + 9:,}", f"/api/v1/leaderboards/all?start={deep}&end={deep + 9}"),
            ("rest.me", "GET /leaderboards/all/me?around=5", "/api/v1/leaderboards/all/me?around=5"),
        ]
        today = datetime.datetime.now(datetime.timezone.utc).date()
        for days in (30, 365):
            start = today - datetime.timedelta(days=days - 1)
            rest.append((f"rest.report{days}", f"GET /reports/top {days} days", f"/api/v1/reports/top?start={start}&end={today}"))
        for key, label, path in rest:
            if not wanted(key):
                continue
            figures[key] = measure_rest(label, processes, BENCH_PATH=path, BENCH_TOKENS=tokens)
            # The ceiling once more, right after top 10: the ratio is to the mean of the runs on either side,
            # as identical runs here differ noticeably (README: "Benchmarks" gives the spread).
            if key == "rest.top10" and "ceiling.fastcgi" in figures:
                figures["ceiling.fastcgi.again"] = fastcgi_ceiling()
        # The reports' time at the server with no other request in flight.
        if any(wanted(f"rest.report{days}.server") for days in (30, 365)):
            with DebugRequestLog(processes):
                for days in (30, 365):
                    key = f"rest.report{days}"
                    if not wanted(key + ".server"):
                        continue
                    start = today - datetime.timedelta(days=days - 1)
                    figures[key + ".server"] = measure_rest(
                        f"GET /reports/top {days} days, one connection", processes, connections=1,
                        duration=max(2.0, DURATION / 2), BENCH_PATH=f"/api/v1/reports/top?start={start}&end={today}",
                        BENCH_TOKENS=tokens, server_path="/api/v1/reports/top")
        if wanted("rest.scores"):
            figures["rest.scores"] = measure_rest("POST /scores", processes, script="scores.lua", BENCH_TOKENS=tokens,
                                                answers_to=("POST", "/api/v1/scores"))
        # bcrypt-bound: 8 connections keep both cores busy. No warm-up (bcrypt has nothing to warm, and a
        # warm-up's logins would still be hashing when the measured run starts); a longer run, as a login
        # takes a good part of a second.
        if wanted("rest.login"):
            figures["rest.login"] = measure_rest("POST /auth/login", processes, script="login.lua", connections=LOGIN_CONNECTIONS,
                                                 duration=max(8.0, DURATION * 1.5), warmup=False, BENCH_EMAILS=emails)
            login = figures["rest.login"]
            login["per_cpu_second"] = round(login["per_second"] * login["seconds"] / max(login["cpu_seconds"]["api"], 0.01), 2)
            # Let the logins still in flight finish before the next figure.
            time.sleep(3)
            say("bcrypt ceiling: Python's bcrypt (C), one core")
            ceiling = bcrypt_ceiling()
            figures["ceiling.bcrypt"] = {"per_second": ceiling and round(ceiling, 2)}

        # Reads while logins and signups run at their cap: bcrypt is bounded per process (BCRYPT_CONCURRENCY)
        # and signups per address, so the top 10 must stay near its own figure.
        if wanted("rest.top10.auth_load"):
            background = WARMUP + DURATION + 2
            answered_before = {route: api_answers("POST", f"/api/v1/auth/{route}") for route in ("login", "signup")}
            threads = [
                threading.Thread(target=wrk, args=("login.lua", background),
                                 kwargs=dict(connections=LOGIN_CONNECTIONS, BENCH_EMAILS=emails)),
                threading.Thread(target=wrk, args=("signup.lua", background), kwargs=dict(connections=4)),
            ]
            for thread in threads:
                thread.start()
            figure = measure_rest("GET /leaderboards/all top 10 under logins and signups", processes,
                                  BENCH_PATH="/api/v1/leaderboards/all?start=0&end=9", BENCH_TOKENS=tokens)
            for thread in threads:
                thread.join()
            figure["auth_answers"] = {route: {status: count - answered_before[route].get(status, 0)
                                              for status, count in api_answers("POST", f"/api/v1/auth/{route}").items()
                                              if count > answered_before[route].get(status, 0)} for route in ("login", "signup")}
            figures["rest.top10.auth_load"] = figure
            # Let the logins still in flight finish before the next figure.
            time.sleep(3)

        # WebSocket.
        if wanted("ws.submit"):
            say(f"WebSocket submissions: 64 connections through nginx, warm-up {WARMUP:g} s, then {DURATION:g} s")
            with CPUWindow(processes) as window:
                submit = bench_ws("submit", "--port", str(HTTP_PORT), "--tokens", tokens, "--connections", "64",
                                  "--warmup", str(WARMUP), "--duration", str(DURATION), "--daemon-pid", str(processes.ws or 0),
                                  timeout=DURATION + WARMUP + 120)
            window.record(submit)
            figures["ws.submit"] = submit
        for key, subscribers, submissions, interval in FANOUTS:
            if not wanted(key) and not (key == "ws.fanout_large" and wanted("ws.idle_memory")):
                continue
            say(f"fan-out to {subscribers:,} subscribers (straight to leaderboard-ws on :{WS_PORT}, not through nginx), "
                f"{submissions} submissions, one every {interval} ms")
            with CPUWindow(processes) as window:
                figure = bench_ws("fanout", "--port", str(WS_PORT), "--tokens", tokens, "--subscribers", str(subscribers),
                                  "--submissions", str(submissions), "--warmup-submissions", "3",
                                  "--interval-ms", str(interval), "--daemon-pid", str(processes.ws or 0), "--settle", "3" if not QUICK else "1",
                                  "--time-limit", "240", timeout=300)
            window.record(figure)
            figures[key] = figure
            # Let the daemon see every close before the next figure.
            time.sleep(2)
        results["rss_after_kib"] = {"api": rss_kib(processes.api), "ws": rss_kib(processes.ws)}
    finally:
        if os.environ.get("BENCH_KEEP_STACK") == "1":
            say(f"the bench stack keeps running (BENCH_KEEP_STACK=1); stop it with: STACK_DIR={STACK_DIR} "
                f"HTTP_PORT={HTTP_PORT} PG_PORT={PG_PORT} REDIS_PORT={REDIS_PORT} WS_PORT={WS_PORT} scripts/stack.sh stop")
        else:
            stop_stack(last_id)
    results["loadavg_end"] = loadavg()
    results["total_seconds"] = round(time.monotonic() - run_started, 1)

    table = make_table(results)
    results["table"] = table
    name = ("results-only.json" if ONLY else "results-quick.json" if QUICK else "results.json")
    os.makedirs(os.path.join(OUT_DIR, "runs"), exist_ok=True)
    for path in (os.path.join(OUT_DIR, name),
                 os.path.join(OUT_DIR, "runs", results["started"].replace(":", "") + ("-quick" if QUICK else "") + ("-only" if ONLY else "") + ".json")):
        with open(path, "w") as file:
            json.dump(results, file, indent=2, sort_keys=True)
            file.write("\n")
    print_table(results, table)
    say(f"results: {os.path.join(OUT_DIR, name)}; {results['total_seconds']:.0f} s in all")


# --- the table ----------------------------------------------------------------------------------------


def make_table(results):
    f = results["figures"]
    rows = []

    def add(key, figure, value, unit, ceiling=None, note="", source=None):
        ratio = None
        if ceiling and value is not None and ceiling.get("per_second"):
            ratio = value / ceiling["per_second"]
        others = None
        if source and source.get("window_seconds"):
            others = round(source.get("other_cpu_seconds", 0) / source["window_seconds"], 2)
        rows.append({"key": key, "figure": figure, "value": value, "unit": unit,
                     "ratio": None if ratio is None else round(ratio, 3), "goal": GOALS.get(key, ""), "note": note,
                     "other_cores": others})

    def ms(figure, field="p50"):
        return figure["latency_ms"][field] if figure else None

    nginx, fcgi = f.get("ceiling.nginx"), f.get("ceiling.fastcgi")
    if nginx:
        add("ceiling.nginx", "ceiling: nginx return 200", nginx["per_second"], "req/s", source=nginx)
    if fcgi:
        runs = [fcgi["per_second"]] + ([f["ceiling.fastcgi.again"]["per_second"]] if "ceiling.fastcgi.again" in f else [])
        fcgi = dict(fcgi, per_second=round(sum(runs) / len(runs), 1))
        add("ceiling.fastcgi", "ceiling: trivial FastCGI response (our pool)", fcgi["per_second"], "req/s", nginx,
            "ratio: to nginx return 200" + (f"; mean of runs before and after top 10: {runs[0]:,.0f}, {runs[1]:,.0f}"
                                            if len(runs) > 1 else ""), source=fcgi)
    for key, label in (("ceiling.redis_zadd", "ceiling: redis ZADD"), ("ceiling.redis_zrevrange", "ceiling: redis ZREVRANGE 10 rows")):
        if key in f:
            add(key, label, f[key]["per_second"], "ops/s")
    deep = results.get("deep_page_rows", [0, 0])
    for key, label in (("rest.top10", "GET /leaderboards/all top 10"),
                       ("rest.deep", f"GET /leaderboards/all rows {deep[0]:,}-{deep[1]:,}"),
                       ("rest.me", "GET /leaderboards/all/me?around=5"),
                       ("rest.report30", "GET /reports/top 30 days"),
                       ("rest.report365", "GET /reports/top 365 days"),
                       ("rest.scores", "POST /scores")):
        figure = f.get(key)
        if figure:
            add(key, label, figure["per_second"], "req/s", fcgi,
                f"p50 {ms(figure)} ms, p99 {ms(figure, 'p99')} ms at c{results['wrk']['connections']}"
                + (f"; errors {figure['errors']['status']}" if figure["errors"]["status"] else ""), source=figure)
        server = f.get(key + ".server")
        if server:
            add(key + ".server", label + ": p50 at the server", server["server_ms"]["p50"], "ms", None,
                f"one connection; p99 {server['server_ms']['p99']} ms; client p50 {ms(server)} ms", source=server)
    loaded = f.get("rest.top10.auth_load")
    if loaded:
        answers = loaded["auth_answers"]
        add("rest.top10.auth_load", "GET /leaderboards/all top 10 under logins and signups: p99", loaded["latency_ms"]["p99"], "ms", None,
            f"p50 {ms(loaded)} ms, {loaded['per_second']} req/s at c{results['wrk']['connections']}, alongside c{LOGIN_CONNECTIONS} "
            f"logins (answers {answers['login']}) and c4 signups (answers {answers['signup']})", source=loaded)
    login = f.get("rest.login")
    if login:
        bcrypt = f.get("ceiling.bcrypt", {}).get("per_second")
        add("rest.login", "POST /auth/login", login["per_second"], "req/s", None,
            f"bcrypt cost {results['bcrypt_cost']}; c{results.get('login_connections', results['api_workers'])}; p50 {ms(login)} ms",
            source=login)
        add("rest.login.per_core", "POST /auth/login per core (logins per CPU-second of the pool)", login.get("per_cpu_second"),
            "hashes/s/core", {"per_second": bcrypt} if bcrypt else None,
            f"ratio: to C bcrypt on one core ({bcrypt:.2f}/s)" if bcrypt else "", source=login)
    submit = f.get("ws.submit", {})
    if submit:
        add("ws.submit", "WebSocket /ws/v1/add-score submissions", round(submit["perSecond"], 1), "msg/s", None,
            f"{submit['connections']} connections through nginx; p50 {submit['latencyMs']['p50']:.2f} ms" if submit.get("latencyMs") else "",
            source=submit)
    for key in ("ws.fanout_small", "ws.fanout_large"):
        figure = f.get(key)
        if not figure:
            continue
        n = figure["subscribers"]
        latency, last = figure.get("latencyMs"), figure.get("lastReceiptMs")
        complete = (f"{figure['receipts']:,} of {figure['expectedReceipts']:,} receipts; one submission every "
                    f"{figure['intervalMs']} ms")
        for field in ("p50", "p99", "max"):
            add(f"{key}.{field}", f"fan-out to {n:,}: submission -> receipt {field}", latency and round(latency[field], 2), "ms",
                None, complete if field == "p50" else "", source=figure)
        first = figure.get("firstReceiptMs")
        add(f"{key}.first", f"fan-out to {n:,}: submission -> first receipt", first and round(first["p50"], 2), "ms (p50)",
            None, "the submission and the render; the rest is the fan-out itself", source=figure)
        add(f"{key}.last", f"fan-out to {n:,}: submission -> last receipt", last and round(last["p99"], 2), "ms (p99)",
            None, (f"p50 {last['p50']:.1f}, max {last['max']:.1f} ms over {last['count']} submissions" if last else "none complete"),
            source=figure)
    large = f.get("ws.fanout_large", {})
    if large:
        add("ws.idle_memory", f"leaderboard-ws resident memory per idle connection ({large['subscribers']:,})",
            large.get("rssPerConnectionKiB") and round(large["rssPerConnectionKiB"], 2), "KiB",
            None, f"{large.get('daemonRSSBeforeKiB')} -> {large.get('daemonRSSConnectedKiB')} KiB")
    idle = results.get("rss_idle_kib", {})
    api_peak = max((f[k]["rss_peak_kib"].get("api", 0) for k in f if k.startswith("rest.") and "rss_peak_kib" in f[k]), default=None)
    ws_peak = max([large.get("daemonRSSUnderLoadKiB") or 0, f.get("ws.fanout_small", {}).get("daemonRSSUnderLoadKiB") or 0,
                   submit.get("daemonRSSKiB") or 0])
    add("rss.api.idle", "leaderboard-api resident memory, idle", idle.get("api") and round(idle["api"] / 1024, 1), "MiB")
    add("rss.api.load", "leaderboard-api resident memory, under load (peak)", api_peak and round(api_peak / 1024, 1), "MiB")
    add("rss.ws.idle", "leaderboard-ws resident memory, idle", idle.get("ws") and round(idle["ws"] / 1024, 1), "MiB")
    if large:
        add("rss.ws.load", f"leaderboard-ws resident memory, under load (peak, {large['subscribers']:,} clients)",
            ws_peak and round(ws_peak / 1024, 1), "MiB")
    return rows


def print_table(results, rows):
    def fmt(value):
        if value is None:
            return "-"
        if isinstance(value, float) and value >= 100:
            return f"{value:,.0f}"
        if isinstance(value, (int, float)):
            return f"{value:,.2f}" if isinstance(value, float) else f"{value:,}"
        return str(value)

    dataset = results.get("dataset", {})
    print()
    print(f"make bench{' QUICK=1' if results['quick'] else ''}: commit {results['commit']}, {results['cores']} cores, "
          f"{dataset.get('users', 0):,} players, {dataset.get('scores', 0):,} scores; warm-up {results['warmup_seconds']:g} s, "
          f"{results['duration_seconds']:g} s a figure; load average {results['loadavg_start'][0]:.2f} at start, "
          f"{results['loadavg_end'][0]:.2f} at end")
    headers = ("figure", "value", "unit", "ratio", "goal", "others", "note")
    table = [(r["figure"], fmt(r["value"]), r["unit"], "-" if r["ratio"] is None else f"{r['ratio'] * 100:.1f}%", r["goal"],
              "-" if r.get("other_cores") is None else f"{r['other_cores']:.2f}", r["note"]) for r in rows]
    widths = [max(len(headers[i]), *(len(row[i]) for row in table)) for i in range(len(headers))]
    line = "  ".join(h.ljust(widths[i]) if i != 1 else h.rjust(widths[i]) for i, h in enumerate(headers))
    print(line)
    print("-" * len(line))
    for row in table:
        print("  ".join(c.ljust(widths[i]) if i != 1 else c.rjust(widths[i]) for i, c in enumerate(row)).rstrip())
    print("ratio: to the trivial FastCGI response for REST (unless the note says otherwise). others: cores that processes "
          "outside the bench (other builds and tests) kept busy during that figure, of the machine's "
          f"{results['cores']}. Fan-out clients connect to leaderboard-ws directly (nginx's dev worker_connections is 1024); "
          "submissions go through nginx.")
    print_costs(results)


def print_costs(results):
    """Per request of each REST figure: each component's CPU and Redis's costliest commands, in µs."""
    figures = [(key, figure) for key, figure in results["figures"].items()
               if key.startswith(("rest.", "ceiling.fastcgi")) and figure.get("requests") and figure.get("cpu_seconds")]
    if not figures:
        return
    components = [name for name in ("api", "bench_fcgi", "nginx", "redis", "postgres", "ws")
                  if any(figure["cpu_seconds"].get(name, 0) >= 0.05 for _, figure in figures)]
    headers = ("µs per request", *components, "generator", "Redis's costliest commands: µs (calls) per request; evalsha's time includes its script's commands")
    table = []
    for key, figure in figures:
        requests = figure["requests"]
        commands = sorted(((name, cost) for name, cost in figure.get("redis_commands", {}).items() if cost["usec"] / requests >= 0.05),
                          key=lambda item: -item[1]["usec"])[:4]
        table.append((key, *(f"{figure['cpu_seconds'].get(name, 0) / requests * 1e6:.1f}" for name in components),
                      f"{figure['generator_cpu_seconds'] / requests * 1e6:.1f}",
                      ", ".join(f"{name} {cost['usec'] / requests:.1f} ({cost['calls'] / requests:.2g}×)" for name, cost in commands)))
    widths = [max(len(headers[i]), *(len(row[i]) for row in table)) for i in range(len(headers))]
    print()
    print("  ".join(h.ljust(widths[i]) if i in (0, len(headers) - 1) else h.rjust(widths[i]) for i, h in enumerate(headers)).rstrip())
    for row in table:
        print("  ".join(c.ljust(widths[i]) if i in (0, len(headers) - 1) else c.rjust(widths[i]) for i, c in enumerate(row)).rstrip())


if __name__ == "__main__":
    main()
