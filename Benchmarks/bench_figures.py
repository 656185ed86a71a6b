"""make bench's figures: what each one measures, in order, on the started stack."""

import datetime
import threading
import time

from bench_settings import (API_WORKERS, DURATION, FANOUTS, HTTP_PORT, LOGIN_CONNECTIONS, PLAN, QUICK, REPLICAS, WARMUP, WRK_CONNECTIONS,
                            WS_PORT, die, say, wanted)
from bench_stack import BenchFastCGI, Processes, mint_tokens, psql, redis_cli, redis_cli_pipe, restore_dataset, rss_kib
from bench_load import CPUWindow, DebugRequestLog, api_answers, bcrypt_ceiling, bench_ws, measure_rest, redis_benchmark, restart_api, wrk


def describe_dataset(results):
    """Counts the seeded data into `results`; returns the key and the size of the global all-time board."""
    users, scores = psql("SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM scores)")[0]
    # A kept dataset indexed under an earlier layout is rebuilt by the reconciler once the stack starts.
    deadline = time.monotonic() + 900
    while not (generation := redis_cli("GET", "lb:meta:gen:v2")):
        if time.monotonic() > deadline:
            die("the Redis index was not built within 900 s of the stack's start")
        time.sleep(1)
    board = f"lb:{generation}:b:all:all"
    board_size = int(redis_cli("ZCARD", board))
    results["dataset"] = {"plan": PLAN, "users": int(users), "scores": int(scores), "global_board_players": board_size,
                          "redis": redis_memory(generation)}
    say(f"dataset: {int(users):,} players, {int(scores):,} scores, {board_size:,} on the global board")
    return board, board_size


def redis_memory(generation):
    """Redis's memory over the index's board entries (every member of every board, `lb:<gen>:b:*`): what a board
    entry costs in RAM, on the primary and on each replica. Before the run adds its scores."""
    # A rebuild unlinks the generation before it; Redis frees it in the background.
    deadline = time.monotonic() + 120
    while "lazyfree_pending_objects:0" not in redis_cli("INFO", "memory").split() and time.monotonic() < deadline:
        time.sleep(0.5)
    boards = redis_cli("--scan", "--pattern", f"lb:{generation}:b:*").split()
    sizes = redis_cli_pipe([["ZCARD", board] for board in boards])
    entries = sum(int(size) for size in sizes)
    used = int(next(line for line in redis_cli("INFO", "memory").splitlines() if line.startswith("used_memory:")).split(":")[1])
    return {"used_memory": used, "entries": entries, "boards": len(boards), "bytes_per_entry": round(used / max(entries, 1), 1)}


def measure_figures(results, board, board_size, last_id):
    """Measures each figure that BENCH_ONLY wants into results["figures"], on the started stack; `last_id`: the
    snapshot's (`take_snapshot`), to restore the dataset between runs that add scores."""
    figures = results["figures"]
    tokens, emails = mint_tokens(max(FANOUTS[-1][1] + 1, 2000))
    processes = Processes()
    results["rss_idle_kib"] = {"api": rss_kib(processes.api), "ws": rss_kib(processes.ws)}

    # Ceilings.
    if wanted("ceiling.nginx"):
        figures["ceiling.nginx"] = measure_rest("nginx return 200", processes, BENCH_PATH="/bench/nginx", BENCH_TOKENS="-")
    def fastcgi_ceiling(in_c=False, path="/bench/fastcgi", connections=WRK_CONNECTIONS):
        with BenchFastCGI(in_c) as fcgi:
            processes.fcgi = fcgi.process.pid
            responder = "C libfcgi responder" if in_c else "trivial FastCGI response"
            figure = measure_rest(f"{responder} ({path}, c{connections})", processes, connections=connections, BENCH_PATH=path,
                                  BENCH_TOKENS="-")
            processes.fcgi = None
        return figure

    # Ours and libfcgi's threaded C responder (a thread per kept connection), both with API_WORKERS threads behind
    # upstreams that keep connections; then both at 4x more connections than threads; then ours with a
    # connection per request, as the pool was served before nginx kept connections.
    if wanted("ceiling.fastcgi"):
        figures["ceiling.fastcgi"] = fastcgi_ceiling()
    if wanted("ceiling.fastcgi.c"):
        figures["ceiling.fastcgi.c"] = fastcgi_ceiling(in_c=True, path="/bench/fastcgi-c")
    if wanted("ceiling.fastcgi.x4"):
        figures["ceiling.fastcgi.x4"] = fastcgi_ceiling(connections=4 * API_WORKERS)
    if wanted("ceiling.fastcgi.c.x4"):
        figures["ceiling.fastcgi.c.x4"] = fastcgi_ceiling(in_c=True, path="/bench/fastcgi-c", connections=4 * API_WORKERS)
    if wanted("ceiling.fastcgi.per_request"):
        figures["ceiling.fastcgi.per_request"] = fastcgi_ceiling(path="/bench/fastcgi-per-request")
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
        # The same report asked for all along is kept (warm); a different one for each request is made anew.
        if key == "rest.report30" and wanted("rest.report30.cold"):
            figures["rest.report30.cold"] = measure_rest("GET /reports/top 30 days, a report of its own each request", processes,
                                                         script="reports.lua", BENCH_DAYS="30", BENCH_TOKENS=tokens)
        # The ceiling once more, right after top 10: the ratio is to the mean of the runs on either side,
        # as identical runs here differ noticeably (README: "Benchmarks" gives the spread).
        if key == "rest.top10" and "ceiling.fastcgi" in figures:
            figures["ceiling.fastcgi.again"] = fastcgi_ceiling()
    # The same reads with pages, around-me and reports read on the replicas Sentinel names.
    if REPLICAS and any(wanted(key + ".replicas") for key, _, _ in rest):
        say("REDIS_READ_REPLICAS=true: the api pools restart, and the reads again")
        restart_api(processes, "REDIS_READ_REPLICAS", "true")
        for key, label, path in rest:
            if wanted(key + ".replicas"):
                figures[key + ".replicas"] = measure_rest(label + ", read on the replicas", processes, BENCH_PATH=path, BENCH_TOKENS=tokens)
        restart_api(processes, "REDIS_READ_REPLICAS", "false")
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
    # More players submitting at once: a batch holds what queued while the previous one was stored, so batches grow
    # with the submissions in flight, and a submission costs less. Each run of POST /scores on the plan's dataset.
    if wanted("rest.scores.c128"):
        if "rest.scores" in figures:
            restore_dataset(last_id, processes)
        figures["rest.scores.c128"] = measure_rest("POST /scores, 128 connections", processes, script="scores.lua", connections=128,
                                                 BENCH_TOKENS=tokens, answers_to=("POST", "/api/v1/scores"))
    if {"rest.scores", "rest.scores.c128"} & figures.keys() and (wanted("rest.top10.submitting") or wanted("rest.report30.submitting")):
        restore_dataset(last_id, processes)
    # Popular reads while players submit: nearly every batch of submissions changes the global board and a board of
    # today, which top 10 and a 30-day report read, so what a pool keeps seldom holds and their readers miss together.
    def read_while_submitting(label, path):
        half = max(1, WRK_CONNECTIONS // 2)
        answered_before = api_answers("POST", "/api/v1/scores")
        background = WARMUP + DURATION + 2
        submitting = threading.Thread(target=wrk, args=("scores.lua", background), kwargs=dict(connections=half, BENCH_TOKENS=tokens))
        submitting.start()
        figure = measure_rest(f"{label} while POST /scores runs", processes, connections=half, BENCH_PATH=path, BENCH_TOKENS=tokens)
        submitting.join()
        answered = sum(count - answered_before.get(status, 0) for status, count in api_answers("POST", "/api/v1/scores").items())
        figure["submissions_per_second"] = round(answered / background, 1)
        return figure

    if wanted("rest.top10.submitting"):
        figures["rest.top10.submitting"] = read_while_submitting("GET /leaderboards/all top 10", "/api/v1/leaderboards/all?start=0&end=9")
    if wanted("rest.report30.submitting"):
        start = today - datetime.timedelta(days=29)
        figures["rest.report30.submitting"] = read_while_submitting(
            "GET /reports/top 30 days", f"/api/v1/reports/top?start={start}&end={today}")
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
