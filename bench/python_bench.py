# SPDX-License-Identifier: MIT
"""python_bench - zjob.Executor against ProcessPoolExecutor and Dask on one
machine, same workloads, one run: the per-task overhead of a Python
function (no-op tasks, by submit and by map) and the wall time of slow
tasks. Prints one table with each executor's time per task and its ratio
to ProcessPoolExecutor.

    /usr/bin/python3 bench/python_bench.py [--build DIR] [--workers N] [--tasks N]

zjob runs a real zjobd and `zjob-worker --procs N --serve "python3 -m
zjob.serve python_bench"` (this file is the served module). Dask runs a
distributed LocalCluster of N single-threaded worker processes
(Debian's python3-distributed; installed with apt-get when missing and
this runs as root, else skipped with a message). Nothing here asserts a
speed; the numbers are for reading."""

import argparse
import concurrent.futures as cf
import importlib.util
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


# -- the tasks (served by zjob.serve, pickled by the others) -------------
def noop(x=None):
    return x


def sleepy(seconds):
    time.sleep(seconds)
    return seconds


# -- harness -------------------------------------------------------------
def start_zjob(build, workers, prefetch):
    sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
    os.environ["ZJOB_BUILD_DIR"] = build
    os.environ["PYTHONPATH"] = os.pathsep.join([os.path.join(ROOT, "python"), HERE])
    import harness
    c = harness.Cluster()
    c.start_broker(extra=["--log-level", "warn"], durability="memory")
    c.start_worker("--serve", f"{sys.executable} -m zjob.serve python_bench",
                   "--prefetch", str(prefetch), "--log-level", "warn", procs=workers)
    return c


def wait_ready(ex, workers):
    deadline = time.monotonic() + 30
    while True:
        ws = ex.stats()["workers"]
        if sum("python_bench:noop" in w["functions"] for w in ws) >= workers:
            return
        if time.monotonic() > deadline:
            raise SystemExit("python_bench: zjob workers did not register in 30 s")
        time.sleep(0.05)


def dask_available():
    if importlib.util.find_spec("distributed"):
        return True, ""
    if os.geteuid() == 0 and shutil.which("apt-get"):
        r = subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends",
                            "python3-distributed"], capture_output=True, text=True,
                           env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
        importlib.invalidate_caches()
        if r.returncode == 0 and importlib.util.find_spec("distributed"):
            return True, ""
        return False, "apt-get install python3-distributed failed: " + r.stderr.strip()[-200:]
    return False, "python3-distributed is not installed (apt-get install python3-distributed)"


# -- workloads -----------------------------------------------------------
def w_submit_noop(ex, n):
    fs = [ex.submit(noop, i) for i in range(n)]
    cf.wait(fs)
    assert all(f.result() == i for i, f in enumerate(fs))


def w_map_noop(ex, n):
    assert list(ex.map(noop, range(n))) == list(range(n))


def w_map_noop_chunked(ex, n):
    assert list(ex.map(noop, range(n), chunksize=100)) == list(range(n))


def w_slow(ex, n, seconds=0.02):
    assert list(ex.map(sleepy, [seconds] * n)) == [seconds] * n


WORKLOADS = [
    # name, function, tasks multiplier (of --tasks), what the time means
    ("no-op, submit + wait", w_submit_noop, 1),
    ("no-op, map", w_map_noop, 1),
    ("no-op, map chunksize=100", w_map_noop_chunked, 5),
    ("sleep 20 ms, map", w_slow, 0.04),
]


def measure(ex, fn, n, repeat):
    fn(ex, max(1, n // 20))                 # warm up: processes, imports, caches
    best = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn(ex, n)
        dt = time.perf_counter() - t0
        best = dt if best is None else min(best, dt)
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build",
                    default=os.environ.get("ZJOB_BUILD_DIR", os.path.join(ROOT, "build")),
                    help="meson build directory with zjobd and zjob-worker (default ./build)")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2,
                    help="worker processes for every executor (default: CPUs)")
    ap.add_argument("--tasks", type=int, default=10000, help="no-op tasks per run (default 10000)")
    ap.add_argument("--repeat", type=int, default=3,
                    help="runs per cell; the best counts (default 3)")
    ap.add_argument("--prefetch", type=int, default=1, help="zjob-worker --prefetch (default 1)")
    ap.add_argument("--no-dask", action="store_true", help="skip Dask")
    args = ap.parse_args()
    sys.path.insert(0, os.path.join(ROOT, "python"))
    sys.path.insert(0, HERE)
    import zjob

    executors = []
    ppe = cf.ProcessPoolExecutor(args.workers)
    executors.append(("ProcessPool", ppe, None))
    cluster = start_zjob(args.build, args.workers, args.prefetch)
    zex = zjob.Executor(broker=cluster.clients_ep)
    wait_ready(zex, args.workers)
    executors.append(("zjob", zex, None))
    dask_note = "skipped (--no-dask)"
    if not args.no_dask:
        ok, why = dask_available()
        if ok:
            import logging
            logging.getLogger("distributed").setLevel(logging.ERROR)
            from distributed import Client, LocalCluster
            lc = LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                              dashboard_address=None, silence_logs=logging.ERROR)
            dc = Client(lc)
            executors.append(("Dask", dc.get_executor(pure=False), (dc, lc)))
            import distributed
            dask_note = f"distributed {distributed.__version__}, LocalCluster"
        else:
            dask_note = "skipped: " + why
    try:
        rows = []
        for name, fn, mult in WORKLOADS:
            n = max(1, int(args.tasks * mult))
            times = {}
            for ename, ex, _ in executors:
                times[ename] = measure(ex, fn, n, args.repeat)
            rows.append((name, n, times))
    finally:
        zex.shutdown(wait=False, cancel_futures=True)
        ppe.shutdown(cancel_futures=True)
        for _, _, extra in executors:
            if extra:
                extra[0].close()
                extra[1].close()
        cluster.close()

    names = [e[0] for e in executors]
    print(f"\npython_bench: {args.workers} worker processes each, best of {args.repeat}; "
          f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs; Dask: {dask_note}")
    print("time per task (wall time / tasks); ratio = executor / ProcessPool (lower is better)\n")
    head = f"{'workload':<26} {'tasks':>6} " + " ".join(f"{n:>13}" for n in names) + \
        "".join(f" {n + '/PPE':>10}" for n in names[1:])
    print(head)
    print("-" * len(head))
    for name, n, times in rows:
        cells = " ".join(f"{times[e] / n * 1e6:>10.1f} us" for e in names)
        ratios = "".join(f" {times[e] / times['ProcessPool']:>9.2f}x" for e in names[1:])
        print(f"{name:<26} {n:>6} {cells}{ratios}")
    print()


if __name__ == "__main__":
    main()
