"""Summarises run.sh RESULT lines: medians per server, and oc / may_minihttp round by round.

Columns: RESULT,name,mode,pt_rps,pt_p99,json_rps,json_p99,vmhwm_kb,pt_srv_cpu%,json_srv_cpu%,...
CPU per request = server CPU% / 100 / requests per second.
"""

import csv
import statistics
import sys


def main(path):
    runs = {}
    for row in csv.reader(open(path)):
        pt, js = float(row[3]), float(row[5])
        pt_cpu, js_cpu = float(row[8]) / 100 / pt * 1e6, float(row[9]) / 100 / js * 1e6
        runs.setdefault(row[1], []).append((pt, pt_cpu, js, js_cpu))
    for name, v in runs.items():
        med = [statistics.median(x[i] for x in v) for i in range(4)]
        print(f"{name:14} plaintext {med[0]:>11,.0f} req/s {med[1]:.3f} us/req | "
              f"json {med[2]:>9,.0f} req/s {med[3]:.3f} us/req  ({len(v)} rounds)")
    oc, may = runs.get("oc", []), runs.get("may_minihttp", [])
    pairs = list(zip(oc, may))
    if not pairs:
        return
    for label, i in (("plaintext", 1), ("json", 3)):
        cpu = [a[i] / b[i] for a, b in pairs]
        rps = [a[i - 1] / b[i - 1] for a, b in pairs]
        print(f"oc / may_minihttp {label}: CPU per request by round "
              + " ".join(f"{r:.2f}" for r in cpu)
              + f", median {statistics.median(cpu):.2f}x; req/s median {statistics.median(rps):.2f}x")


if __name__ == "__main__":
    main(sys.argv[1])
