# SPDX-License-Identifier: MIT
"""benchlib - what ppe_bench.py and dask_bench.py share: the no-op task,
nearest-rank percentiles, the common flags and the timed loops, so that
both measure exactly the same way."""
import argparse
import time


def noop(*args):
    return None


def pct(sorted_us, p):
    """p-th percentile (0..100) of sorted samples, nearest rank."""
    if not sorted_us:
        return 0.0
    rank = max(1, -(-p * len(sorted_us) // 100))
    return sorted_us[min(len(sorted_us), int(rank)) - 1]


def parse(doc, samples):
    ap = argparse.ArgumentParser(description=doc)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--secs", type=float, default=2.0)
    ap.add_argument("--samples", type=int, default=samples)
    return ap.parse_args()


def rate(round_fn, secs):
    """Call round_fn() (returns items done) until secs pass; items per second."""
    done, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < secs:
        done += round_fn()
    return done / (time.perf_counter() - t0)


def latency(one_fn, samples, max_secs):
    """Time one_fn() (one round trip) up to samples times; percentiles in us."""
    us, end = [], time.perf_counter() + max_secs
    while len(us) < samples and time.perf_counter() < end:
        s = time.perf_counter()
        one_fn()
        us.append((time.perf_counter() - s) * 1e6)
    us.sort()
    return {"lat_p50_us": pct(us, 50), "lat_p99_us": pct(us, 99),
            "lat_p999_us": pct(us, 99.9), "lat_samples": len(us)}
