#!/usr/bin/env python3
"""Compare etwnet builds on one command, runs interleaved in the same minute.

    tests/bench/compare.py RUNS "ARGS" BIN [BIN...]
    e.g. tests/bench/compare.py 30 "detect -q ../shared/samples-real/etl_binary/dookisan_stmcast_PktMon.etl" \
             /tmp/old/etwnet target/release/etwnet

The host is noisy (the same binary's median moves by a third within an
hour), so builds are compared run for run rather than against figures taken
at another time. Prints the median and best wall time, the median CPU time
(user + sys of the process, from wait4) and the peak RSS of each build.
"""
import os
import statistics
import subprocess
import sys
import time


def main() -> int:
    if len(sys.argv) < 4:
        print(__doc__)
        return 2
    runs = int(sys.argv[1])
    args = sys.argv[2].split()
    bins = sys.argv[3:]
    results = {b: [] for b in bins}
    for _ in range(runs):
        for b in bins:
            start = time.perf_counter()
            proc = subprocess.Popen([b] + args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            _, status, usage = os.wait4(proc.pid, 0)
            wall = time.perf_counter() - start
            if status != 0:
                print(f"{b}: exit status {status}", file=sys.stderr)
                return 1
            results[b].append((wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss))
    for b in bins:
        walls = [r[0] for r in results[b]]
        cpus = [r[1] for r in results[b]]
        rss = max(r[2] for r in results[b])
        print(
            f"{b:40s} wall median {statistics.median(walls) * 1000:8.1f} ms"
            f"  best {min(walls) * 1000:8.1f} ms"
            f"  CPU median {statistics.median(cpus) * 1000:8.1f} ms"
            f"  peak RSS {rss / 1024:.0f} MiB"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
