"""make bench's load: wrk, leaderboard-bench-ws and redis-benchmark runs, and what each cost the stack."""

import json
import os
import re
import resource
import time
import urllib.request

from bench_settings import (BCRYPT_COST, BENCH_DIR, BIN_DIR, DURATION, HTTP_PORT, REDIS_PORT, STACK_DIR, WARMUP, WRK_CONNECTIONS,
                WRK_THREADS, die, run, say)
from bench_stack import Sampler, busy_cpu_seconds, loadavg, read_pid, redis_cli, stack


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

    def __enter__(self):
        restart_api(self.processes, "LOG_LEVEL", "debug")
        return self

    def __exit__(self, *exc):
        restart_api(self.processes, "LOG_LEVEL", "info")


def restart_api(processes, setting, value):
    """Sets `setting` in the env file and restarts the api pools (both nodes' on a stack with replicas)."""
    path = os.path.join(STACK_DIR, "leaderboard.env")
    with open(path) as file:
        text = re.sub(rf"(?m)^{setting}=.*$", f"{setting}={value}", file.read())
    with open(path, "w") as file:
        file.write(text)
    for name in ("api", "api2") if processes.api2 else ("api",):
        if stack("stop-service", name).returncode != 0 or stack("start-service", name).returncode != 0:
            die(f"could not restart {name} (log: var/bench/.../log/{name}.log)")
    processes.api, processes.api2 = read_pid("api.pid"), read_pid("api2.pid")


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
        self.waits_before = self.processes.run_queue_waits()
        self.children = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.own = resource.getrusage(resource.RUSAGE_SELF)
        self.busy = busy_cpu_seconds()
        self.started = time.monotonic()
        return self

    def __exit__(self, *exc):
        after = self.processes.cpu()
        waits = self.processes.run_queue_waits()
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        own = resource.getrusage(resource.RUSAGE_SELF)
        self.seconds = time.monotonic() - self.started
        self.cpu = {k: round(after[k] - self.before[k], 2) for k in after}
        self.run_queue_waits = {k: round(waits[k] - self.waits_before[k], 3) for k in waits}
        self.generator = round((children.ru_utime + children.ru_stime) - (self.children.ru_utime + self.children.ru_stime)
                               + (own.ru_utime + own.ru_stime) - (self.own.ru_utime + self.own.ru_stime), 2)
        busy = busy_cpu_seconds() - self.busy
        self.other = round(max(0.0, busy - sum(self.cpu.values()) - self.generator), 2)
        self.busy_cores = round(busy / self.seconds, 2)
        self.redis_commands = redis_command_costs()

    def record(self, figure):
        figure["cpu_seconds"] = self.cpu
        figure["run_queue_wait_seconds"] = self.run_queue_waits
        figure["generator_cpu_seconds"] = self.generator
        figure["other_cpu_seconds"] = self.other
        figure["busy_cores"] = self.busy_cores
        figure["window_seconds"] = round(self.seconds, 2)
        figure["redis_commands"] = self.redis_commands


def api_metrics():
    with urllib.request.urlopen(f"http://127.0.0.1:{HTTP_PORT}/metrics", timeout=10) as response:
        return response.read().decode()


def api_answers(method, route):
    """How many answers the api has given to `method route`, by status: its own count, from /metrics."""
    text = api_metrics()
    answers = {}
    for labels, value in re.findall(r'^leaderboard_http_requests_total\{([^}]*)\} (\S+)$', text, re.MULTILINE):
        label = dict(re.findall(r'(\w+)="([^"]*)"', labels))
        if label.get("method") == method and label.get("route") == route:
            answers[label["status"]] = answers.get(label["status"], 0) + int(float(value))
    return answers


def submission_batches():
    """The api's submission batches so far (its group commit): how many, the submissions they held, and per stage
    (store: PostgreSQL's statement with its commit; apply: the index's round trip) the seconds they took."""
    text = api_metrics()

    def sample(name, labels=""):
        found = re.search(rf'^{name}{re.escape(labels)} (\S+)$', text, re.MULTILINE)
        return float(found.group(1)) if found else 0.0

    batches = {"count": sample("leaderboard_submission_batch_size_count"), "size": sample("leaderboard_submission_batch_size_sum")}
    for stage in ("store", "apply"):
        batches[stage] = sample("leaderboard_submission_batch_seconds_sum", f'{{stage="{stage}"}}')
    return batches


def batches_between(before, after, seconds):
    """The mean batch of a run of `seconds` (from two `submission_batches`): its size, each stage's milliseconds, and
    the share of the run that statements were running (a process runs one at a time, so near 100% the store stage
    bounds the run; summed over the api's processes)."""
    count = after["count"] - before["count"]
    if count <= 0:
        return None
    return {"count": int(count), "size": round((after["size"] - before["size"]) / count, 1),
            **{f"{stage}_ms": round((after[stage] - before[stage]) * 1000 / count, 2) for stage in ("store", "apply")},
            "store_busy_percent": round((after["store"] - before["store"]) * 100 / seconds)}


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
    batches_before = submission_batches() if answers_to == ("POST", "/api/v1/scores") else None
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
        "requests": result["requests"], "seconds": round(seconds, 2), "per_second": round(ok / seconds, 1), "connections": connections,
        "errors": result["errors"], "statuses": result["statuses"],
        "latency_ms": {k: round(v / 1000, 3) for k, v in result["latency_us"].items()},
        "rss_peak_kib": sampler.peak, "loadavg_before": load_before,
    }
    window.record(figure)
    if batches_before:
        figure["batches"] = batches_between(batches_before, submission_batches(), seconds)
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
