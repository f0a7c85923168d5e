# SPDX-License-Identifier: MIT
"""dask_bench - Dask distributed (LocalCluster, 2 worker processes, one
thread each) on the work zjbench does, for bench/compare: submit+gather
no-op tasks per second, map items per second, and one-at-a-time round
trips. Prints one JSON object. bench/compare bounds its run time."""
import argparse
import json
import logging
import time


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
    ap.add_argument("--samples", type=int, default=500)
    args = ap.parse_args()
    logging.disable(logging.WARNING)
    from dask.distributed import Client, LocalCluster
    out = {}
    with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        client.gather(client.map(noop, range(100), pure=False))     # warm up
        # Individual tasks: rounds of 1,000 submits, then every result.
        done, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < args.secs:
            futures = [client.submit(noop, i, pure=False) for i in range(1000)]
            client.gather(futures)
            done += len(futures)
        out["submit_rate"] = done / (time.perf_counter() - t0)
        # client.map: one task per item (Dask has no chunksize).
        items, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < args.secs:
            client.gather(client.map(noop, range(5000), pure=False))
            items += 5000
        out["map_rate"] = items / (time.perf_counter() - t0)
        us, end = [], time.perf_counter() + args.secs * 2
        i = 0
        while len(us) < args.samples and time.perf_counter() < end:
            s = time.perf_counter()
            client.submit(noop, i, pure=False).result()
            us.append((time.perf_counter() - s) * 1e6)
            i += 1
        us.sort()
        out.update(lat_p50_us=pct(us, 50), lat_p99_us=pct(us, 99),
                   lat_p999_us=pct(us, 99.9), lat_samples=len(us))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
