#!/usr/bin/env python3
"""Two builds of oc-techempower side by side on one test: alternating runs (A B, B A, ...),
medians of requests/s, server CPU per request (and its user-space and kernel parts) and the
threads' context switches per request.
A binary given as `may-minihttp:PATH` is started as the anchor is by the runner (its own
worker count; the same paths for /json, /plaintext, /db and /fortunes).

    benches/techempower/scripts/ab.py --a A_BIN --b B_BIN [--path /db] [--mode all|pinned]
                                      [--conns 256] [--depth N] [--secs 5] [--pairs 6]
                                      [--a-env K=V ...] [--b-env K=V ...]
                                      [--a-arg ARG ...] [--b-arg ARG ...]

One 5 s run moves by 10-20% on a shared 2-CPU machine, so only the medians of several pairs,
taken in both orders, say anything. "pinned" runs the server on CPU 0 with one worker and wrk
on CPU 1; "all" runs both on every CPU. `--a-arg`/`--b-arg` pass one more argument each to
that side's server (after the port, and after `--workers 1` when pinned): `--b-arg=--workers
--b-arg=1` runs B with one worker on both CPUs. Needs wrk and the database of `oc-techempower setup-db`
for the database paths. `--depth N` pipelines N requests per connection and round trip, as
TechEmpower's plaintext test does (16, with `--conns 1024`).
"""

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import runner  # noqa: E402


def switches(pid):
    """Voluntary and involuntary context switches of every thread of a process."""
    vol = invol = 0
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0, 0
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                for line in f:
                    if line.startswith("voluntary_ctxt_switches:"):
                        vol += int(line.split()[1])
                    elif line.startswith("nonvoluntary_ctxt_switches:"):
                        invol += int(line.split()[1])
        except OSError:
            pass
    return vol, invol


# A side given as ANCHOR + PATH is the anchor's binary at PATH.
ANCHOR = "may-minihttp:"


def one_run(binary, env, extra, args):
    if binary.startswith(ANCHOR):
        proc = runner.start("may", args.mode, argparse.Namespace(anchor_bin=binary[len(ANCHOR):]), env, extra)
    else:
        proc = runner.start("oc", args.mode, argparse.Namespace(oc_bin=binary), env, extra)
    try:
        url = f"http://127.0.0.1:{runner.PORT}{args.path}"
        accept = runner.ACCEPT_PLAIN if args.path.startswith("/plaintext") else runner.ACCEPT_JSON
        nproc = os.cpu_count() or 1
        cpus = "1" if args.mode == "pinned" and nproc > 1 else None
        threads = 1 if cpus else nproc
        lua = runner.PIPELINE_LUA if args.depth else None
        runner.wrk(url, accept, args.conns, threads, 1, lua, args.depth, cpus)  # warm-up
        cpu0, sw0, pg0 = runner.cpu_split(proc.pid), switches(proc.pid), runner.postgres_cpu()
        out, _ = runner.wrk(url, accept, args.conns, threads, args.secs, lua, args.depth, cpus)
        cpu1, sw1, pg1 = runner.cpu_split(proc.pid), switches(proc.pid), runner.postgres_cpu()
    finally:
        runner.stop(proc)
    res = runner.parse_wrk(out)
    n = max(res.get("requests", 0), 1)
    if res.get("non_2xx") or res.get("socket_errors"):
        print(f"  warning: {res.get('non_2xx')} non-2xx, {res.get('socket_errors')} socket errors", file=sys.stderr)
    return {
        "rps": res["rps"],
        "cpu_us": (sum(cpu1) - sum(cpu0)) * 1e6 / n,
        "user_us": (cpu1[0] - cpu0[0]) * 1e6 / n,
        "sys_us": (cpu1[1] - cpu0[1]) * 1e6 / n,
        "pg_us": (pg1 - pg0) * 1e6 / n,
        "vol": (sw1[0] - sw0[0]) / n,
        "invol": (sw1[1] - sw0[1]) / n,
    }


def parse_env(items):
    env = {}
    for item in items or []:
        key, _, value = item.partition("=")
        env[key] = value
    return env


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--a", required=True, help="binary A")
    p.add_argument("--b", required=True, help="binary B")
    p.add_argument("--a-env", action="append", help="KEY=VALUE for A's environment")
    p.add_argument("--b-env", action="append", help="KEY=VALUE for B's environment")
    p.add_argument("--a-arg", action="append", default=[], help="one more argument for A's server")
    p.add_argument("--b-arg", action="append", default=[], help="one more argument for B's server")
    p.add_argument("--path", default="/db")
    p.add_argument("--mode", choices=["all", "pinned"], default="all")
    p.add_argument("--conns", type=int, default=256)
    p.add_argument("--depth", type=int, default=None, help="requests pipelined per connection (wrk script)")
    p.add_argument("--secs", type=int, default=5)
    p.add_argument("--pairs", type=int, default=6)
    args = p.parse_args()
    sides = {"A": (args.a, parse_env(args.a_env), args.a_arg), "B": (args.b, parse_env(args.b_env), args.b_arg)}
    runs = {"A": [], "B": []}
    better = 0
    for i in range(args.pairs):
        order = ["A", "B"] if i % 2 == 0 else ["B", "A"]
        pair = {}
        for side in order:
            binary, env, extra = sides[side]
            pair[side] = one_run(binary, env, extra, args)
            runs[side].append(pair[side])
            time.sleep(0.5)
        if pair["B"]["cpu_us"] < pair["A"]["cpu_us"]:
            better += 1
        print(f"pair {i + 1} ({''.join(order)}): " + "  ".join(
            f"{s} {pair[s]['rps']:,.0f} req/s {pair[s]['cpu_us']:.2f} µs vol {pair[s]['vol']:.3f}" for s in "AB"),
            flush=True)
    depth = f" depth {args.depth}" if args.depth else ""
    print(f"\n{args.path} {args.mode} c={args.conns}{depth} {args.secs}s x {args.pairs} pairs, medians:")
    for side in "AB":
        r = runs[side]

        def med(key):
            return statistics.median(x[key] for x in r)

        print(f"  {side}: {med('rps'):,.0f} req/s, server {med('cpu_us'):.2f} µs/req (user {med('user_us'):.2f}, "
              f"kernel {med('sys_us'):.2f}), PostgreSQL {med('pg_us'):.2f} µs/req, "
              f"switches/req voluntary {med('vol'):.3f} involuntary {med('invol'):.3f}")
    ma = statistics.median(x["cpu_us"] for x in runs["A"])
    mb = statistics.median(x["cpu_us"] for x in runs["B"])
    ra = statistics.median(x["rps"] for x in runs["A"])
    rb = statistics.median(x["rps"] for x in runs["B"])
    print(f"  B/A: req/s {rb / ra:.3f}, server CPU {mb / ma:.3f}; B used less CPU in {better} of {args.pairs} pairs")


if __name__ == "__main__":
    main()
