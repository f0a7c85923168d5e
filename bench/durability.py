#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""durability - what each store mode costs: submit+complete throughput of
no-op tasks through zjobd in --durability memory, normal and full, in one
run, printed as a table with ratios to memory.

A raw pyzmq client keeps a window of tasks in flight, submitting batches;
a raw pyzmq worker (another process) answers every TASKS batch with DONE
at once. Modes alternate round by round so that a noisy machine hurts
them alike; the median round counts. Nothing is asserted.

    bench/durability.py [--secs 5] [--rounds 3] [--batch 500] [--window 20000]
"""
import argparse
import multiprocessing
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import storebench as sb  # noqa: E402

MODES = ("memory", "normal", "full")


def one_round(mode, args):
    """Throughput (tasks/s) and zjobd CPU per task (us) for one mode."""
    broker = sb.Broker(mode)
    worker = None
    client = None
    try:
        broker.start()
        worker = multiprocessing.Process(target=sb.worker_loop,
                                         args=(broker.workers, args.credit), daemon=True)
        worker.start()
        client = sb.Client(broker.clients, batch=args.batch)
        inflight = lambda: client.submitted + args.batch * pending[0] - client.outcomes  # noqa
        pending = [0]           # batches sent and not yet acknowledged

        def drive(until):
            while time.monotonic() < until:
                acked = client.submitted
                while client.submitted + pending[0] * args.batch - client.outcomes < args.window:
                    client.submit()
                    pending[0] += 1
                client.pump(50)
                pending[0] -= (client.submitted - acked) // args.batch
                if client.errors:
                    raise RuntimeError("broker refused: " + client.errors[0])

        drive(time.monotonic() + args.warmup)
        done0, cpu0, t0 = client.outcomes, broker.cpu(), time.monotonic()
        drive(t0 + args.secs)
        done, cpu, secs = client.outcomes - done0, broker.cpu() - cpu0, time.monotonic() - t0
        return done / secs, cpu / done * 1e6
    finally:
        if client:
            client.close()
        if worker:
            worker.terminate()
            worker.join()
        broker.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--secs", type=float, default=5.0, help="seconds measured per round")
    ap.add_argument("--warmup", type=float, default=1.0, help="seconds before measuring")
    ap.add_argument("--rounds", type=int, default=3, help="rounds per mode (median counts)")
    ap.add_argument("--batch", type=int, default=500, help="tasks per SUBMIT")
    ap.add_argument("--window", type=int, default=20000, help="tasks in flight")
    ap.add_argument("--credit", type=int, default=5000, help="the worker's credit")
    ap.add_argument("--modes", default=",".join(MODES), help="comma-separated modes")
    args = ap.parse_args()
    modes = args.modes.split(",")
    runs = {m: [] for m in modes}
    for r in range(args.rounds):
        for m in modes:
            rate, cpu = one_round(m, args)
            runs[m].append((rate, cpu))
            print(f"  round {r + 1} {m:<7} {rate:>10,.0f} tasks/s  zjobd {cpu:5.2f} us/task",
                  file=sys.stderr)
    med = {m: (statistics.median(r for r, _ in runs[m]), statistics.median(c for _, c in runs[m]))
           for m in modes}
    base = med.get("memory", (None,))[0]
    print(f"\nsubmit+complete, no-op tasks, batch {args.batch}, window {args.window}, "
          f"{os.cpu_count()} CPUs, median of {args.rounds} rounds of {args.secs:g} s")
    print(f"{'durability':<12}{'tasks/s':>12}{'vs memory':>11}{'zjobd us/task':>15}")
    for m in modes:
        rate, cpu = med[m]
        ratio = f"{rate / base:.0%}" if base else "-"
        print(f"{m:<12}{rate:>12,.0f}{ratio:>11}{cpu:>15.2f}")


if __name__ == "__main__":
    main()
