"""make bench's stack: scripts/stack.sh under var/bench, its processes, its seeded dataset and its tokens."""

import base64
import hashlib
import hmac
import json
import os
import resource
import secrets
import shutil
import subprocess
import threading
import time

from bench_settings import (API_WORKERS, BCRYPT_COST, BIN_DIR, HTTP_PORT, PG_PORT, PLAN, REDIS_PORT, REPLICAS, SEED_MAX_AGE_DAYS, STACK_DIR,
                WS_PORT, die, run, say)


def stack_env(**extra):
    env = dict(os.environ, STACK_DIR=STACK_DIR, BIN_DIR=BIN_DIR, HTTP_PORT=str(HTTP_PORT), PG_PORT=str(PG_PORT),
               REDIS_PORT=str(REDIS_PORT), WS_PORT=str(WS_PORT), BCRYPT_COST=str(BCRYPT_COST), NODES="1",
               SEED_DEMO="0", NO_APP="0",
               # The login figure measures bcrypt, not nginx's limit on /auth/ (20r/s in dev).
               AUTH_RATE="100000r/s", HA="1" if REPLICAS else "0", REDIS_REPLICAS=str(max(REPLICAS, 1)))
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


def run_queue_wait_seconds(pids):
    """Seconds the threads of these processes spent runnable but waiting for a core (the kernel's schedstat): how
    long a stage's work waited for its turn, which a 2-core machine shared by every stage and the generator adds to
    each request's time."""
    total = 0
    for pid in pids:
        try:
            for task in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{task}/schedstat") as file:
                    total += int(file.read().split()[1])
        except (OSError, IndexError, ValueError):
            pass
    return total / 1e9


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
        # Node 2's daemons and the Redis replicas, on a stack with replicas (BENCH_REPLICAS).
        self.api2 = read_pid("api2.pid")
        self.ws2 = read_pid("ws2.pid")
        self.nginx = read_pid("nginx.pid")
        self.redis = read_pid("redis.pid")
        self.replicas = [pid for pid in (read_pid("redis2.pid"), read_pid("redis3.pid")) if pid]
        self.postgres = None
        try:
            with open(os.path.join(STACK_DIR, "pg", "postmaster.pid")) as file:
                self.postgres = int(file.readline())
        except (OSError, ValueError):
            pass
        self.fcgi = None

    def groups(self):
        return {
            "api": [pid for pid in (self.api, self.api2) if pid],
            "ws": [pid for pid in (self.ws, self.ws2) if pid],
            "nginx": children(self.nginx) if self.nginx else [],
            "postgres": ([self.postgres] + children(self.postgres)) if self.postgres else [],
            "redis": [self.redis] if self.redis else [],
            "redis_replicas": self.replicas,
            "bench_fcgi": [self.fcgi] if self.fcgi else [],
        }

    def cpu(self):
        return {name: cpu_seconds(pids) for name, pids in self.groups().items()}

    def run_queue_waits(self):
        return {name: run_queue_wait_seconds(pids) for name, pids in self.groups().items()}


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


def write_env_file():
    """The stack's settings: production mode (real bcrypt cost, production defaults) with long-lived
    tokens, so reruns can keep theirs, and a per-client WebSocket message limit and a per-player submission
    rate high enough that the submission figures measure the service, not the limiters."""
    path = os.path.join(STACK_DIR, "leaderboard.env")
    if os.path.exists(path):
        return
    os.makedirs(STACK_DIR, exist_ok=True)
    # With replicas, the stores as scripts/stack.sh's HA stack names them: both PostgreSQL servers, the Sentinels.
    stores = f"""PG_SERVER={STACK_DIR}/run/pg,{STACK_DIR}/run/pg2
PG_PORT={PG_PORT},{PG_PORT + 1}
REDIS_URL=redis://127.0.0.1:{REDIS_PORT}/0
REDIS_SENTINELS={",".join(f"127.0.0.1:{REDIS_PORT + n}" for n in (2, 3, 4))}
REDIS_MASTER_NAME=leaderboard
REDIS_READ_REPLICAS=false""" if REPLICAS else f"""PG_SERVER={STACK_DIR}/run/pg
PG_PORT={PG_PORT}
REDIS_URL=unix://{STACK_DIR}/run/redis.sock"""
    text = f"""# Written once by Benchmarks/bench.py for the bench stack; delete it to regenerate.
LEADERBOARD_MODE=production
PG_USER=leaderboard
PG_PW=leaderboard
PG_DB=leaderboard
{stores}
SECRET_KEY={secrets.token_hex(32)}
ALGORITHM=HS256
ACCESS_TOKEN_EXPIRE_MINUTES=1440
API_LISTEN=unix:{STACK_DIR}/run/api.sock
API_WORKERS={API_WORKERS}
WS_LISTEN=127.0.0.1:{WS_PORT}
WS_MESSAGES_PER_SECOND=10000
SCORE_RATE_PER_MINUTE=1000000
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
    """The ceilings, in the bench stack's nginx only (the template includes nginx.d/*.conf in its server and
    nginx.d/upstreams/*.conf beside its upstreams). The trivial FastCGI responders behind upstreams as the api's:
    nginx keeps its connections to them (the same keepalive and times); and ours once more without, a connect
    per request, as the pool was served before."""
    os.makedirs(os.path.join(STACK_DIR, "nginx.d", "upstreams"), exist_ok=True)
    with open(os.path.join(STACK_DIR, "nginx.d", "upstreams", "bench.conf"), "w") as file:
        file.write("# Written by Benchmarks/bench.py: the FastCGI ceilings of make bench.\n")
        for name, socket in (("bench_fcgi", "bench-fcgi.sock"), ("bench_fcgi_c", "bench-fcgi-c.sock")):
            file.write(f"""upstream {name} {{
    server unix:{STACK_DIR}/run/{socket};
    keepalive 64;
    keepalive_timeout 3s;
    keepalive_time 3s;
}}
""")
    with open(os.path.join(STACK_DIR, "nginx.d", "bench.conf"), "w") as file:
        file.write(f"""# Written by Benchmarks/bench.py: the ceilings of make bench.
location = /bench/nginx {{
    default_type application/json;
    return 200 '{{"success":true,"statusCode":200,"message":"done","data":null}}';
}}
location = /bench/fastcgi {{
    fastcgi_pass bench_fcgi;
    fastcgi_keep_conn on;
    include /etc/nginx/fastcgi_params;
    fastcgi_param REQUEST_ID $request_id;
}}
location = /bench/fastcgi-per-request {{
    fastcgi_pass unix:{STACK_DIR}/run/bench-fcgi.sock;
    include /etc/nginx/fastcgi_params;
    fastcgi_param REQUEST_ID $request_id;
}}
location = /bench/fastcgi-c {{
    fastcgi_pass bench_fcgi_c;
    fastcgi_keep_conn on;
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


def redis_cli_pipe(commands, timeout=120):
    """Runs commands (argv lists without spaces) through one redis-cli; one output line per command."""
    script = "".join(" ".join(command) + "\n" for command in commands)
    result = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(REDIS_PORT)], input=script, timeout=timeout, text=True,
                            capture_output=True, check=True)
    return result.stdout.split()


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
    generation = redis_cli("GET", "lb:meta:gen:v2")
    deadline = time.monotonic() + 180
    while int(redis_cli("GET", f"lb:{generation}:watermark") or 0) < last_id:
        if time.monotonic() > deadline:
            say("warning: the reconciler has not caught up after 180 s; the run's scores will be kept")
            return None
        time.sleep(0.5)
    redis_cli("SAVE", timeout=300)
    shutil.copyfile(os.path.join(STACK_DIR, "redis", "dump.rdb"), SNAPSHOT)
    return last_id


def remove_added_scores(last_id):
    """Deletes the scores added since the snapshot from PostgreSQL; False if it could not."""
    result = subprocess.run(
        ["psql", "-X", "-q", "-At", "-h", "127.0.0.1", "-p", str(PG_PORT), "-U", "leaderboard", "-d", "leaderboard",
         "-v", "ON_ERROR_STOP=1", "-c",
         f"WITH gone AS (DELETE FROM scores WHERE id > {int(last_id)} RETURNING 1) SELECT count(*) FROM gone"],
        env=dict(os.environ, PGPASSWORD="leaderboard"), capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        say(f"warning: could not remove this run's scores ({result.stderr.strip()[:200]}); keeping its index too")
        return False
    say(f"removed the {int(result.stdout.strip() or 0):,} scores this run added")
    return True


def restore_dataset(last_id, processes):
    """Mid-run, puts the dataset back to the snapshot: Redis restarted on it (the daemons reconnect by themselves; its
    new pid goes into `processes`), the scores added since taken out of PostgreSQL. A run of POST /scores changes what
    the next one costs (a player who already holds today's entry moves fewer boards), so each is measured on the plan's
    dataset."""
    if last_id is None:
        say("warning: no snapshot to restore; the next figure runs on the dataset as the last run left it")
        return
    if stack("stop-service", "redis").returncode != 0:
        die("could not stop redis to restore the snapshot")
    shutil.copyfile(SNAPSHOT, os.path.join(STACK_DIR, "redis", "dump.rdb"))
    if not remove_added_scores(last_id) or stack("start-service", "redis").returncode != 0:
        die("could not restore the dataset's snapshot")
    processes.redis = read_pid("redis.pid")


def stop_stack(last_id):
    """Stops the stack; with a snapshot, the dataset goes back to what the run found."""
    if last_id is not None and not remove_added_scores(last_id):
        last_id = None
    if last_id is None and read_pid("redis.pid"):
        # No snapshot: keep the index as it is for the next run (Redis here writes nothing on its own).
        subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(REDIS_PORT), "SAVE"], timeout=300,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    stack("stop", timeout=180)
    if last_id is not None:
        shutil.copyfile(SNAPSHOT, os.path.join(STACK_DIR, "redis", "dump.rdb"))


class BenchFastCGI:
    """A trivial FastCGI responder with as many workers as the api: our pool (leaderboard-bench-fcgi), or with
    `in_c` libfcgi's own threaded responder (Benchmarks/fcgi-c-responder), built here."""

    def __init__(self, in_c=False):
        self.in_c = in_c
        self.process = None

    def __enter__(self):
        name = "bench-fcgi-c" if self.in_c else "bench-fcgi"
        socket_path = os.path.join(STACK_DIR, "run", name + ".sock")
        if self.in_c:
            binary = os.path.join(STACK_DIR, "fcgi-c-responder")
            source = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fcgi-c-responder", "responder.c")
            run(["cc", "-O2", "-pthread", "-o", binary, source, "-lfcgi"], 60)
            command = [binary, socket_path, str(API_WORKERS)]
        else:
            command = [os.path.join(BIN_DIR, "leaderboard-bench-fcgi"), "unix:" + socket_path, str(API_WORKERS)]
        log = open(os.path.join(STACK_DIR, "log", name + ".log"), "a")
        self.process = subprocess.Popen(command, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not os.path.exists(socket_path):
            if time.monotonic() > deadline or self.process.poll() is not None:
                die(f"{name} did not start (log: var/bench/.../log/{name}.log)")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc):
        self.process.terminate()
        try:
            # Our pool waits for nginx to close the connections it keeps (keepalive_timeout 3 s).
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


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
