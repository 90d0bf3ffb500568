#!/usr/bin/env python3
"""Runs the FrameworkBenchmarks toolset's own verifiers (toolset/test_types, with its
Postgres query counting) against a running server, outside Docker.

    python3 tfb_verify.py --toolset DIR [--config benchmark_config.json] [--url http://127.0.0.1:8080]
                          [--database-host 127.0.0.1] [--tests json,db,...]

DIR is an extracted copy of the toolset's repository (it holds toolset/); see
tfb-verify.sh, which extracts it from a git directory. Needs python3 with requests,
colorama and psycopg2, and siege (the toolset counts statements around a siege run).
Exits 1 if any test type has a failure ('warn' results are printed, not failures)."""

import argparse
import glob
import json
import os
import sys
import types


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--toolset", required=True, help="directory holding toolset/")
    p.add_argument("--config", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "submission", "benchmark_config.json"))
    p.add_argument("--url", default="http://127.0.0.1:8080")
    p.add_argument("--database-host", default="127.0.0.1")
    p.add_argument("--tests", default="")
    args = p.parse_args()
    root = os.path.abspath(args.toolset)
    if not os.path.isdir(os.path.join(root, "toolset", "test_types")):
        sys.exit(f"{root} holds no toolset/test_types")

    # The toolset finds its test types and databases under /FrameworkBenchmarks (its Docker
    # layout); point those globs at the copy, and load the Postgres database only.
    real_glob = glob.glob

    def local_glob(pattern, *a, **kw):
        if pattern.startswith("/FrameworkBenchmarks/"):
            pattern = root + pattern[len("/FrameworkBenchmarks"):]
            found = real_glob(pattern, *a, **kw)
            if "/toolset/databases/" in pattern:
                found = [f for f in found if f.rstrip("/").endswith("postgres")]
            return found
        return real_glob(pattern, *a, **kw)

    glob.glob = local_glob
    sys.path.insert(0, root)
    from toolset.test_types import test_types  # noqa: E402 (after the glob is redirected)

    with open(args.config) as f:
        config_json = json.load(f)
    keys = config_json["tests"][0]["default"]
    # The toolset's benchmark settings (utils/benchmark_config.py defaults); not a CI run, so
    # no margin on statement counts and failed requests count.
    config = types.SimpleNamespace(
        concurrency_levels=[16, 32, 64, 128, 256, 512],
        pipeline_concurrency_levels=[256, 1024, 4096, 16384],
        query_levels=[1, 5, 10, 15, 20],
        cached_query_levels=[1, 10, 20, 50, 100],
        database_host=args.database_host,
        db_root=os.path.join(root, "toolset", "databases"),
        is_ci=False,
        duration=15,
        server_host="127.0.0.1",
    )
    wanted = [t for t in args.tests.split(",") if t]
    order = ["json", "plaintext", "db", "query", "fortune", "update", "cached-query"]
    failed = []
    ran = 0
    for name in order:
        if wanted and name not in wanted:
            continue
        try:
            test = test_types[name](config).copy().parse(keys)
        except AttributeError:
            print(f"SKIP {name}: not in {args.config}")
            continue
        ran += 1
        results = test.verify(args.url.rstrip("/"))
        verdicts = {r[0] for r in results}
        verdict = "FAIL" if "fail" in verdicts else "WARN" if "warn" in verdicts else "PASS"
        print(f"{verdict} {name}")
        for result, reason, url in results:
            if result != "pass":
                print(f"    {result}: {reason} ({url})")
        if verdict == "FAIL":
            failed.append(name)
    print(f"{ran - len(failed)} passed, {len(failed)} failed")
    sys.exit(1 if failed or ran == 0 else 0)


if __name__ == "__main__":
    main()
