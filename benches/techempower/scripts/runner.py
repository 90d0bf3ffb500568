#!/usr/bin/env python3
"""The TechEmpower load runner (called by ../run.sh): wrk in the benchmark's shapes against
oc-techempower and the anchor, requests/s and server CPU per request for each test and level,
written as JSON and as a markdown table."""

import argparse
import json
import os
import platform
import re
import shutil
import signal
import statistics
import socket
import subprocess
import sys
import time

# wrk's script that pipelines `depth` requests per connection (TechEmpower's plaintext shape).
PIPELINE_LUA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "wrk", "pipeline.lua")

ACCEPT_JSON = "application/json,text/html;q=0.9,application/xhtml+xml;q=0.9,application/xml;q=0.8,*/*;q=0.7"
ACCEPT_PLAIN = "text/plain,text/html;q=0.9,application/xhtml+xml;q=0.9,application/xml;q=0.8,*/*;q=0.7"

# test -> (oc path, anchor path or None, accept, levels, kind) where kind says what the level is.
TESTS = {
    "json": ("/json", "/json", ACCEPT_JSON, [16, 32, 64, 128, 256, 512], "concurrency"),
    "plaintext": ("/plaintext", "/plaintext", ACCEPT_PLAIN, [256, 1024, 4096, 16384], "concurrency"),
    "db": ("/db", "/db", ACCEPT_JSON, [16, 32, 64, 128, 256, 512], "concurrency"),
    "query": ("/queries?queries=", "/queries?q=", ACCEPT_JSON, [1, 5, 10, 15, 20], "queries"),
    "fortune": ("/fortunes", "/fortunes", ACCEPT_JSON, [16, 32, 64, 128, 256, 512], "concurrency"),
    "update": ("/updates?queries=", "/updates?q=", ACCEPT_JSON, [1, 5, 10, 15, 20], "queries"),
    "cached-query": ("/cached-queries?count=", None, ACCEPT_JSON, [1, 10, 20, 50, 100], "queries"),
}
# --quick: one level per test.
QUICK_LEVELS = {"json": [256], "plaintext": [1024], "db": [256], "query": [20], "fortune": [256], "update": [20], "cached-query": [100]}
PORT = 8080
CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_split(pid):
    """(utime, stime) of a process (all its threads), in seconds: its CPU in user space and
    in the kernel (which includes the softirq work of loopback TCP it was interrupted for)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return 0.0, 0.0


def cpu_seconds(pid):
    """utime + stime of a process (all its threads), in seconds."""
    return sum(cpu_split(pid))


def postgres_cpu():
    """CPU seconds of every running postgres process."""
    total = 0.0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/comm") as f:
                if not f.read().startswith("postgres"):
                    continue
        except OSError:
            continue
        total += cpu_seconds(pid)
    return total


def wait_port(port, proc, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port} after {timeout} s")


def parse_wrk(out):
    res = {}
    m = re.search(r"(\d+) requests in ([\d.]+)(\w+)", out)
    if m:
        res["requests"] = int(m.group(1))
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    res["rps"] = float(m.group(1)) if m else 0.0
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    res["non_2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    res["socket_errors"] = sum(int(g) for g in m.groups()) if m else 0
    for pct in ("50", "99"):
        m = re.search(rf"^\s+{pct}(?:\.000)?%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if m:
            scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
            res[f"p{pct}_ms"] = round(float(m.group(1)) * scale, 3)
    return res


def wrk(url, accept, conns, threads, duration, lua=None, depth=None, cpus=None):
    cmd = []
    if cpus:
        cmd += ["taskset", "-c", cpus]
    cmd += ["wrk", "-H", "Host: localhost", "-H", f"Accept: {accept}", "-H", "Connection: keep-alive",
            "--latency", "-d", str(duration), "-c", str(conns), "--timeout", "8", "-t", str(threads)]
    if lua:
        cmd += ["-s", lua]
    cmd.append(url)
    if depth:
        cmd += ["--", str(depth)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60).stdout
    return out, " ".join(cmd)


def build_cross_core(out):
    """Compiles `cross_core.c` (beside this file) into `out`; its path, or None without gcc
    or a second CPU (it pins its threads to CPUs 0 and 1)."""
    gcc = shutil.which("gcc")
    if (os.cpu_count() or 1) < 2 or gcc is None:
        return None
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cross_core.c")
    binary = os.path.join(out, "cross_core")
    built = subprocess.run([gcc, "-O2", "-pthread", src, "-o", binary], capture_output=True, text=True)
    if built.returncode != 0:
        print(f"cross_core.c not built, round trips not measured: {built.stderr.strip()}", file=sys.stderr)
        return None
    return binary


def cross_core_ns(binary):
    """The round trip of a cache line between CPU 0 and CPU 1 now, in ns (one measurement of
    `cross_core`); None if it could not be taken. On a VM it moves with where the host puts
    the two CPUs, and with it every figure of two workers that share data."""
    try:
        out = subprocess.run([binary, "1"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r"round trip between CPU 0 and CPU 1: ([0-9.]+) ns", out)
    return float(m.group(1)) if m else None


def start(server, mode, args, extra_env=None, extra_args=None):
    env = dict(os.environ)
    env.update(extra_env or {})
    if server == "oc":
        cmd = [args.oc_bin, "--port", str(PORT)]
        if mode == "pinned":
            cmd += ["--workers", "1"]
    else:
        cmd = [args.anchor_bin]
    cmd += extra_args or []
    if mode == "pinned":
        cmd = ["taskset", "-c", "0"] + cmd
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    wait_port(PORT, proc)
    return proc


def stop(proc):
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    # The port is free again before the next server starts.
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", PORT), timeout=0.2).close()
            time.sleep(0.1)
        except OSError:
            return


def server_pid(proc):
    """The server's own pid (taskset execs it, so it is the child's pid)."""
    return proc.pid


def run_test(server, mode, test, args, results):
    oc_path, anchor_path, accept, levels, kind = TESTS[test]
    path = oc_path if server == "oc" else anchor_path
    if path is None:
        return
    if args.quick:
        levels = QUICK_LEVELS[test]
    nproc = os.cpu_count() or 1
    wrk_cpus = "1" if mode == "pinned" and nproc > 1 else None
    threads_max = 1 if wrk_cpus else nproc
    proc = start(server, mode, args)
    try:
        pid = server_pid(proc)
        base = f"http://127.0.0.1:{PORT}"
        lua, depth = (args.lua, 16) if test == "plaintext" else (None, None)
        first_url = base + path + ("20" if kind == "queries" and test != "cached-query" else "100" if kind == "queries" else "")
        # Primer and warm-up, as the benchmark: 8 connections, then the largest level.
        wrk(first_url, accept, 8, min(8, threads_max * 4), args.primer, lua, depth, wrk_cpus)
        warm_conns = 512 if kind == "queries" else max(levels)
        wrk(first_url, accept, warm_conns, threads_max, args.warmup, lua, depth, wrk_cpus)
        for level in levels:
            conns = 512 if kind == "queries" else level
            url = base + path + (str(level) if kind == "queries" else "")
            threads = min(conns, threads_max)
            cpu0, pg0, t0 = cpu_seconds(pid), postgres_cpu(), time.time()
            out, cmd = wrk(url, accept, conns, threads, args.duration, lua, depth, wrk_cpus)
            cpu1, pg1, t1 = cpu_seconds(pid), postgres_cpu(), time.time()
            res = parse_wrk(out)
            reqs = res.get("requests", 0)
            res.update({
                "server": server, "mode": mode, "test": test, "level": level, "level_kind": kind,
                "connections": conns, "wall_s": round(t1 - t0, 2), "command": cmd,
                "server_cpu_s": round(cpu1 - cpu0, 3),
                "server_cpu_us_per_req": round((cpu1 - cpu0) * 1e6 / reqs, 2) if reqs else None,
                "postgres_cpu_us_per_req": round((pg1 - pg0) * 1e6 / reqs, 2) if reqs and test not in ("json", "plaintext", "cached-query") else None,
            })
            if proc.poll() is not None:
                res["error"] = f"server exited with {proc.returncode}"
            results.append(res)
            print(f"{server:13} {mode:6} {test:12} {kind[:5]}={level:<5} {res['rps']:>12.0f} req/s  "
                  f"cpu {res['server_cpu_us_per_req']} us/req  errors {res['non_2xx'] + res['socket_errors']}", flush=True)
    finally:
        stop(proc)


def workers_label(mode, meta):
    """The table's "workers" cell of a worker mode."""
    return "1 (pinned)" if mode == "pinned" else f"all ({meta['cpus']})"


def tests_and_modes(results):
    """The (test, mode) pairs of `results`, each once, in the order they first ran."""
    keys = []
    for r in results:
        if (r["test"], r["mode"]) not in keys:
            keys.append((r["test"], r["mode"]))
    return keys


def summary(results, meta):
    """One row per test and worker mode: each server's best level (as the benchmark ranks),
    and its median CPU per request over all levels. With several rounds, each figure is the
    median of the rounds' figures, and the ratios' range over the rounds follows in brackets
    (each round ran both servers one after the other)."""
    lines = ["| test | workers | oc best req/s | may-minihttp best req/s | oc/may | oc CPU µs/req (median) | may CPU µs/req (median) | CPU oc/may |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    keys = tests_and_modes(results)
    rounds = sorted({r.get("round", 0) for r in results})
    for test, mode in keys:
        def stats(server, rnd):
            rs = [r for r in results if (r["test"], r["mode"], r["server"], r.get("round", 0)) == (test, mode, server, rnd)
                  and r.get("requests")]
            if not rs:
                return None, None, None
            best = max(rs, key=lambda r: r["rps"])
            cpus = [r["server_cpu_us_per_req"] for r in rs if r.get("server_cpu_us_per_req") is not None]
            return best["rps"], (statistics.median(cpus) if cpus else None), best["level"]

        def over_rounds(server):
            per = [stats(server, rnd) for rnd in rounds]
            rps = [p[0] for p in per if p[0] is not None]
            cpu = [p[1] for p in per if p[1] is not None]
            levels = [p[2] for p in per if p[2] is not None]
            med = lambda v: statistics.median(v) if v else None
            return med(rps), med(cpu), (statistics.mode(levels) if levels else None), per
        o_rps, o_cpu, o_lvl, o_per = over_rounds("oc")
        m_rps, m_cpu, m_lvl, m_per = over_rounds("may-minihttp")
        workers = workers_label(mode, meta)
        fmt = lambda v, f="{:,.0f}": f.format(v) if v is not None else "—"
        lvl = lambda l: f" ({'c' if TESTS[test][4] == 'concurrency' else 'n'}={l})" if l is not None else ""

        def ratio(o, m, i):
            if not (o and m):
                return "—"
            text = f"{o / m:.2f}"
            each = [a[i] / b[i] for a, b in zip(o_per, m_per) if a[i] and b[i]]
            if len(each) > 1:
                text += f" ({min(each):.2f}–{max(each):.2f})"
            return text
        lines.append(f"| {test} | {workers} | {fmt(o_rps)}{lvl(o_lvl)} | {fmt(m_rps)}{lvl(m_lvl)} | {ratio(o_rps, m_rps, 0)} | "
                     f"{fmt(o_cpu, '{:.1f}')} | {fmt(m_cpu, '{:.1f}')} | {ratio(o_cpu, m_cpu, 1)} |")
    return "\n".join(lines) + "\n"


def markdown(results, meta):
    lines = [f"Processor: {meta['cpu']} ({meta['cpus']} CPUs); kernel {meta['kernel']}; "
             f"{meta['duration']} s per level; {meta.get('rounds', 1)} round(s); {meta['date']}.", ""]
    trips = [r["cross_core_ns"] for r in results if r.get("cross_core_ns") is not None]
    if trips:
            lines += [f"A cache line's round trip between CPU 0 and CPU 1, measured before each server's test "
                  f"(`scripts/cross_core.c`, last column): {min(trips):.0f} to {max(trips):.0f} ns, median "
                  f"{statistics.median(trips):.0f}.", ""]
    lines += ["| test | level | workers | oc req/s | may-minihttp req/s | oc/may | oc CPU µs/req | may CPU µs/req | oc errors | may errors | CPU 0–1 round trip ns (oc, may) |",
              "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    keys = []
    for r in results:
        k = (r["test"], r["level"], r["mode"], r.get("round", 0))
        if k not in keys:
            keys.append(k)
    several = len({k[3] for k in keys}) > 1
    for test, level, mode, rnd in keys:
        row = {r["server"]: r for r in results if (r["test"], r["level"], r["mode"], r.get("round", 0)) == (test, level, mode, rnd)}
        oc, may = row.get("oc"), row.get("may-minihttp")
        lvl = f"c={level}" if TESTS[test][4] == "concurrency" else f"n={level}"
        if several:
            lvl += f", round {rnd + 1}"
        workers = workers_label(mode, meta)

        def f(r, key, fmt="{:,.0f}"):
            return fmt.format(r[key]) if r and r.get(key) is not None else "—"
        ratio = f"{oc['rps'] / may['rps']:.2f}" if oc and may and may["rps"] else "—"
        err = lambda r: str(r["non_2xx"] + r["socket_errors"]) if r else "—"
        lines.append(f"| {test} | {lvl} | {workers} | {f(oc, 'rps')} | {f(may, 'rps')} | {ratio} | "
                     f"{f(oc, 'server_cpu_us_per_req', '{:.1f}')} | {f(may, 'server_cpu_us_per_req', '{:.1f}')} | {err(oc)} | {err(may)} | "
                     f"{f(oc, 'cross_core_ns')}, {f(may, 'cross_core_ns')} |")
    text = ("\n".join(lines) + "\n\nSummary (best level per test; CPU per request: the median over the levels):\n\n"
            + summary(results, meta))
    db = database_summary(results, meta)
    if db:
        text += ("\nThe database's side (PostgreSQL's CPU per request, all its processes, and the server's plus "
                 "PostgreSQL's; medians over the levels and rounds):\n\n" + db)
    return text


def database_summary(results, meta):
    """One row per database test and worker mode: PostgreSQL's CPU per request under each
    server, and the server's and PostgreSQL's together (the machine shares its CPUs between
    them, so a server that spares the database leaves more for itself). Empty without any
    database test."""
    rows = []
    for test, mode in tests_and_modes([r for r in results if r.get("postgres_cpu_us_per_req") is not None]):
        def medians(server):
            rs = [r for r in results if (r["test"], r["mode"], r["server"]) == (test, mode, server)
                  and r.get("requests") and r.get("postgres_cpu_us_per_req") is not None
                  and r.get("server_cpu_us_per_req") is not None]
            if not rs:
                return None, None
            return (statistics.median(r["postgres_cpu_us_per_req"] for r in rs),
                    statistics.median(r["postgres_cpu_us_per_req"] + r["server_cpu_us_per_req"] for r in rs))
        o_pg, o_all = medians("oc")
        m_pg, m_all = medians("may-minihttp")
        workers = workers_label(mode, meta)
        fmt = lambda v: f"{v:.1f}" if v is not None else "—"
        ratio = lambda o, m: f"{o / m:.2f}" if o and m else "—"
        rows.append(f"| {test} | {workers} | {fmt(o_pg)} | {fmt(m_pg)} | {ratio(o_pg, m_pg)} | {fmt(o_all)} | {fmt(m_all)} | "
                    f"{ratio(o_all, m_all)} |")
    if not rows:
        return ""
    return "\n".join(["| test | workers | PostgreSQL µs/req under oc | under may | oc/may | oc + PostgreSQL µs/req | "
                      "may + PostgreSQL µs/req | oc/may |", "|---|---|---:|---:|---:|---:|---:|---:|"] + rows) + "\n"


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--quick", action="store_true", help="one level per test, 1 s primer, 2 s warm-up, 5 s per level")
    p.add_argument("--tests", default=",".join(TESTS))
    p.add_argument("--servers", default="oc,may-minihttp")
    p.add_argument("--modes", default="pinned,all")
    p.add_argument("--rounds", type=int, default=1,
                   help="run everything this many times (servers alternating test by test, the first one "
                        "round by round); "
                        "the summary gives the medians over the rounds")
    p.add_argument("--out", default=None)
    p.add_argument("--lua", default=PIPELINE_LUA, help="wrk script for plaintext's pipelining")
    p.add_argument("--from-json", help="only render results.json (of an earlier run) as markdown again")
    args = p.parse_args()
    if args.from_json:
        with open(args.from_json) as f:
            data = json.load(f)
        print(markdown([r for r in data["results"] if r.get("level")], data["meta"]))
        return
    args.oc_bin = os.environ["OC_TE_BIN"]
    args.anchor_bin = os.environ.get("OC_TE_ANCHOR", "")
    args.primer = int(os.environ.get("TE_PRIMER", 1 if args.quick else 5))
    args.warmup = int(os.environ.get("TE_WARMUP", 2 if args.quick else 15))
    args.duration = int(os.environ.get("TE_DURATION", 5 if args.quick else 15))
    tests = [t for t in args.tests.split(",") if t]
    for t in tests:
        if t not in TESTS:
            sys.exit(f"unknown test {t!r} (one of {', '.join(TESTS)})")
    servers = [s for s in args.servers.split(",") if s]
    if "may-minihttp" in servers and not os.access(args.anchor_bin, os.X_OK):
        print(f"anchor not built ({args.anchor_bin}): run scripts/build-anchor.sh; running oc only", file=sys.stderr)
        servers.remove("may-minihttp")
    modes = [m for m in args.modes.split(",") if m]
    out = args.out or os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "..",
                                   "target", "techempower", time.strftime("%Y%m%d-%H%M%S"))
    os.makedirs(out, exist_ok=True)
    args.cross_core = build_cross_core(out)
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    meta = {"cpu": cpu, "cpus": os.cpu_count(), "kernel": platform.release(), "duration": args.duration,
            "warmup": args.warmup, "primer": args.primer, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "command": " ".join(sys.argv)}
    results = []
    if args.rounds < 1:
        sys.exit("--rounds must be at least 1")
    meta["rounds"] = args.rounds
    # Servers alternate test by test, so that a change in the machine's load hits both alike,
    # and every other round starts with the other server, so that going first (say, right
    # after the other server's connections were torn down) favours neither.
    for rnd in range(args.rounds):
        for mode in modes:
            for test in tests:
                for server in (servers if rnd % 2 == 0 else servers[::-1]):
                    run_round(server, mode, test, args, results, rnd)
    finish(results, meta, out)


def run_round(server, mode, test, args, results, rnd):
    """One test of one server in one mode, its results tagged with the round."""
    first = len(results)
    trip = cross_core_ns(args.cross_core) if args.cross_core else None
    try:
        run_test(server, mode, test, args, results)
    except Exception as e:  # noqa: BLE001 - a failed run is recorded, the others go on
        print(f"{server} {mode} {test}: {e}", file=sys.stderr)
        results.append({"server": server, "mode": mode, "test": test, "level": 0, "rps": 0.0,
                        "non_2xx": 0, "socket_errors": 0, "error": str(e)})
    for r in results[first:]:
        r["round"] = rnd
        r["cross_core_ns"] = trip


def finish(results, meta, out):
    """Writes results.json and results.md, and prints the table."""
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump({"meta": meta, "results": results}, f, indent=1)
    table = markdown([r for r in results if r.get("level")], meta)
    with open(os.path.join(out, "results.md"), "w") as f:
        f.write(table)
    print(table)
    print(f"written: {out}/results.json, {out}/results.md")


if __name__ == "__main__":
    main()
