# SPDX-License-Identifier: MIT
"""ppe_bench - Python's ProcessPoolExecutor on the work zjbench does, for
bench/compare: submit+result no-op tasks per second (1,000 in flight),
map(chunksize=100) items per second, and one-at-a-time round trips.
Prints one JSON object. Run with /usr/bin/python3."""
import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor


def noop(*args):
    return None


def pct(sorted_us, p):
    if not sorted_us:
        return 0.0
    rank = max(1, -(-p * len(sorted_us) // 100))
    return sorted_us[min(len(sorted_us), int(rank)) - 1]


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--secs", type=float, default=2.0)
    ap.add_argument("--samples", type=int, default=3000)
    args = ap.parse_args()
    out = {}
    with ProcessPoolExecutor(args.workers) as ex:
        list(ex.map(noop, range(1000)))          # start the processes
        # Individual tasks: rounds of 1,000 submits, then every result.
        done, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < args.secs:
            futures = [ex.submit(noop) for _ in range(1000)]
            for f in futures:
                f.result()
            done += len(futures)
        out["submit_rate"] = done / (time.perf_counter() - t0)
        # map with chunksize=100.
        items, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < args.secs:
            n = 200_000
            for _ in ex.map(noop, range(n), chunksize=100):
                pass
            items += n
        out["map100_rate"] = items / (time.perf_counter() - t0)
        # One at a time.
        us, end = [], time.perf_counter() + args.secs * 2
        while len(us) < args.samples and time.perf_counter() < end:
            s = time.perf_counter()
            ex.submit(noop).result()
            us.append((time.perf_counter() - s) * 1e6)
        us.sort()
        out.update(lat_p50_us=pct(us, 50), lat_p99_us=pct(us, 99),
                   lat_p999_us=pct(us, 99.9), lat_samples=len(us))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
