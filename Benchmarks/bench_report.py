"""make bench's report: the results files and the printed table."""

import json
import os

from bench_settings import GOALS, LOGIN_CONNECTIONS, ONLY, ONLY_REPLICA_READS, OUT_DIR, QUICK, REPLICAS, REPLICA_READS, say


def report(results):
    """Writes the results (var/bench/results*.json and var/bench/runs/) and prints the table."""
    table = make_table(results)
    results["table"] = table
    only = ONLY and not ONLY_REPLICA_READS
    name = "results" + ("-only" if only else "") + ("-quick" if QUICK and not only else "") + ("-replicas" if REPLICAS else "") + ".json"
    os.makedirs(os.path.join(OUT_DIR, "runs"), exist_ok=True)
    for path in (os.path.join(OUT_DIR, name),
                 os.path.join(OUT_DIR, "runs", results["started"].replace(":", "") + ("-quick" if QUICK else "") + ("-only" if only else "")
                              + ("-replicas" if REPLICAS else "") + ".json")):
        with open(path, "w") as file:
            json.dump(results, file, indent=2, sort_keys=True)
            file.write("\n")
    print_table(results, table)
    say(f"results: {os.path.join(OUT_DIR, name)}; {results['total_seconds']:.0f} s in all")


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
        in_c = f.get("ceiling.fastcgi.c")
        add("ceiling.fastcgi", "ceiling: trivial FastCGI response (our pool, kept connections)", fcgi["per_second"], "req/s", nginx,
            "ratio: to nginx return 200" + (f"; {fcgi['per_second'] / in_c['per_second']:.0%} of the C responder" if in_c else "")
            + f"; p99 {ms(fcgi, 'p99')} ms at c{results['wrk']['connections']}"
            + (f"; mean of runs before and after top 10: {runs[0]:,.0f}, {runs[1]:,.0f}" if len(runs) > 1 else ""), source=fcgi)
    for key, label in (("ceiling.fastcgi.c", "ceiling: C libfcgi responder, a thread per kept connection"),
                       ("ceiling.fastcgi.x4", "ceiling: our pool at 4x more connections than workers"),
                       ("ceiling.fastcgi.c.x4", "ceiling: C libfcgi responder at 4x more connections than threads"),
                       ("ceiling.fastcgi.per_request", "ceiling: our pool, a connection per request (as before)")):
        figure = f.get(key)
        if figure:
            add(key, label, figure["per_second"], "req/s", nginx,
                f"ratio: to nginx return 200; p50 {ms(figure)} ms, p99 {ms(figure, 'p99')} ms, max {ms(figure, 'max')} ms "
                f"at c{figure.get('connections', results['wrk']['connections'])}"
                + (f"; errors {figure['errors']}" if any(figure["errors"].values()) else ""), source=figure)
    for key, label in (("ceiling.redis_zadd", "ceiling: redis ZADD"), ("ceiling.redis_zrevrange", "ceiling: redis ZREVRANGE 10 rows")):
        if key in f:
            add(key, label, f[key]["per_second"], "ops/s")
    deep = results.get("deep_page_rows", [0, 0])
    for key, label in (("rest.top10", "GET /leaderboards/all top 10"),
                       ("rest.deep", f"GET /leaderboards/all rows {deep[0]:,}-{deep[1]:,}"),
                       ("rest.me", "GET /leaderboards/all/me?around=5"),
                       ("rest.report30", "GET /reports/top 30 days (one report: kept, a warm cache)"),
                       ("rest.report30.cold", "GET /reports/top 30 days (a report of its own each request: made anew)"),
                       ("rest.report365", "GET /reports/top 365 days"),
                       ("rest.scores", "POST /scores"),
                       ("rest.scores.c128", "POST /scores, 128 connections")):
        figure = f.get(key)
        if figure:
            add(key, label, figure["per_second"], "req/s", fcgi,
                f"p50 {ms(figure)} ms, p99 {ms(figure, 'p99')} ms at c{figure.get('connections', results['wrk']['connections'])}"
                + (f"; errors {figure['errors']['status']}" if figure["errors"]["status"] else "")
                + (f"; batches of {batches['size']}: PostgreSQL {batches['store_ms']} ms (running"
                   f" {batches['store_busy_percent']}% of the run), index {batches['apply_ms']} ms;"
                   f" the machine busy {figure['busy_cores']} of {results['cores']} cores"
                   if (batches := figure.get("batches")) else ""), source=figure)
        server = f.get(key + ".server")
        if server:
            add(key + ".server", label + ": p50 at the server", server["server_ms"]["p50"], "ms", None,
                f"one connection; p99 {server['server_ms']['p99']} ms; client p50 {ms(server)} ms", source=server)
    for key, label in (("rest.top10.submitting", "GET /leaderboards/all top 10 while POST /scores runs"),
                       ("rest.report30.submitting", "GET /reports/top 30 days while POST /scores runs")):
        figure = f.get(key)
        if figure:
            add(key, label, figure["per_second"], "req/s", fcgi,
                f"p50 {ms(figure)} ms, p99 {ms(figure, 'p99')} ms at c{figure['connections']}, alongside c{figure['connections']} "
                f"POST /scores ({figure['submissions_per_second']:,.0f}/s)", source=figure)
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
    redis = results.get("dataset", {}).get("redis")
    if redis:
        add("redis.bytes_per_entry", "Redis memory per board entry, after seeding (INFO memory used_memory / entries)",
            redis["bytes_per_entry"], "B", None,
            f"{redis['used_memory'] / 2**20:,.0f} MiB over {redis['entries']:,} entries of {redis['boards']:,} boards")
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
    print(f"make bench{' QUICK=1' if results['quick'] else ''}{' BENCH_REPLICAS=2' if REPLICAS else ''}: commit {results['commit']}, {results['cores']} cores, "
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
    print_replica_reads(results)


def print_replica_reads(results):
    """BENCH_REPLICAS: each read with pages on the primary and on the replicas, side by side."""
    f = results["figures"]
    pairs = [(key, f[key], f[key + ".replicas"]) for key in REPLICA_READS if key in f and key + ".replicas" in f]
    if not pairs:
        return

    def per_request(figure, component):
        return f"{figure['cpu_seconds'].get(component, 0) / figure['requests'] * 1e6:.1f}"

    headers = ("read (two nodes)", "req/s off", "req/s on", "change", "primary µs off", "primary µs on", "replicas µs off", "replicas µs on")
    table = [(key, f"{primary['per_second']:,.0f}", f"{replicas['per_second']:,.0f}",
              f"{replicas['per_second'] / primary['per_second'] - 1:+.0%}",
              per_request(primary, "redis"), per_request(replicas, "redis"),
              per_request(primary, "redis_replicas"), per_request(replicas, "redis_replicas")) for key, primary, replicas in pairs]
    print()
    print("Replica reads: each read with REDIS_READ_REPLICAS off, then on (two replicas); req/s, and the CPU per request of the Redis "
          "primary and of the two replicas together (µs)")
    print_aligned(headers, table)


def print_costs(results):
    """Per request of each REST figure: each component's CPU and Redis's costliest commands, in µs, then how long each
    component's threads waited for a core. Not for the figures measured alongside other load (logins, submissions),
    whose CPU is mostly that load's."""
    alongside = ("rest.top10.auth_load", "rest.top10.submitting", "rest.report30.submitting")
    figures = [(key, figure) for key, figure in results["figures"].items()
               if key.startswith(("rest.", "ceiling.fastcgi")) and key not in alongside and figure.get("requests") and figure.get("cpu_seconds")]
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
    print()
    print_aligned(headers, table, last_is_text=True)
    # A thread woken (a request, a reply, a batch's outcome) waits here while both cores run other work: on 2 cores
    # shared by every stage and the generator, part of a request's time that no component's CPU shows.
    waited = [(key, figure) for key, figure in figures if figure.get("run_queue_wait_seconds")]
    if waited:
        print()
        print_aligned(("µs per request waiting for a core", *components),
                      [(key, *(f"{figure['run_queue_wait_seconds'].get(name, 0) / figure['requests'] * 1e6:.1f}" for name in components))
                       for key, figure in waited])


def print_aligned(headers, table, last_is_text=False):
    """A table with its first column (and its last, when that is text) left-aligned, numbers right-aligned."""
    widths = [max(len(headers[i]), *(len(row[i]) for row in table)) for i in range(len(headers))]
    text_columns = (0, len(headers) - 1) if last_is_text else (0,)
    print("  ".join(h.ljust(widths[i]) if i in text_columns else h.rjust(widths[i]) for i, h in enumerate(headers)).rstrip())
    for row in table:
        print("  ".join(c.ljust(widths[i]) if i in text_columns else c.rjust(widths[i]) for i, c in enumerate(row)).rstrip())