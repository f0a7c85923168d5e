#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""recovery - how long zjobd takes to come back with a big store: fill it
with 1,000,000 queued tasks (raw pyzmq SUBMIT batches, no workers), kill -9
the broker, start it again on the same state directory and time it until
it serves (and the recovery line's own figure). Nothing is asserted.

    bench/recovery.py [--tasks 1000000] [--batch 1000] [--durability normal]
"""
import argparse
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import storebench as sb  # noqa: E402


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tasks", type=int, default=1000000)
    ap.add_argument("--batch", type=int, default=1000, help="tasks per SUBMIT")
    ap.add_argument("--window", type=int, default=50, help="SUBMITs in flight")
    ap.add_argument("--durability", default="normal", choices=("normal", "full"))
    args = ap.parse_args()

    broker = sb.Broker(args.durability)
    try:
        broker.start()
        client = sb.Client(broker.clients, batch=args.batch)
        t0 = time.monotonic()
        sent = 0
        while client.submitted < args.tasks:
            while sent < args.tasks and sent - client.submitted < args.window * args.batch:
                sent += client.submit(min(args.batch, args.tasks - sent))
            client.pump(100)
            if client.errors:
                raise SystemExit("broker refused: " + client.errors[0])
        fill = time.monotonic() - t0
        client.close()
        rss_before = rss_mib(broker.proc.pid)
        broker.kill()
        sizes = {name: os.path.getsize(os.path.join(broker.state, name))
                 for name in os.listdir(broker.state) if name.startswith("zjob.db")}

        took = broker.start()
        found = list(re.finditer(r"recovered .*queued=(\d+) requeued=(\d+).* seconds=([0-9.]+)",
                                 broker.log()))
        m = found[-1] if found else None
        queued, seconds = (int(m.group(1)) + int(m.group(2)), float(m.group(3))) if m else (0, 0.0)
        rss_after = rss_mib(broker.proc.pid)
        print(f"\nrecovery of a store with {args.tasks:,} queued tasks "
              f"(durability {args.durability}, {os.cpu_count()} CPUs)")
        print(f"  filled in             {fill:8.2f} s  ({args.tasks / fill:,.0f} tasks/s, "
              f"batches of {args.batch})")
        print("  store on disk         " + ", ".join(f"{k} {v / 2**20:.1f} MiB"
                                                  for k, v in sorted(sizes.items())))
        print(f"  restart until serving {took:8.2f} s")
        print(f"  recovery (its log)    {seconds:8.2f} s  ({queued:,} tasks queued again, "
              f"{queued / seconds if seconds else 0:,.0f} tasks/s)")
        print(f"  zjobd RSS             {rss_before:8.0f} MiB before the kill, "
              f"{rss_after:.0f} MiB after recovery")
        if queued != args.tasks:
            print(f"  WARNING: {args.tasks - queued} tasks missing after recovery", file=sys.stderr)
            return 1
        return 0
    finally:
        broker.close()


if __name__ == "__main__":
    sys.exit(main())
