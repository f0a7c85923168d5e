# SPDX-License-Identifier: MIT
"""ppe_bench - Python's ProcessPoolExecutor on the work zjbench does, for
bench/compare: submit+result no-op tasks per second (rounds of 1,000),
map(chunksize=100) items per second, and one-at-a-time round trips.
Prints one JSON object. Run with /usr/bin/python3."""
import json
from concurrent.futures import ProcessPoolExecutor

from benchlib import latency, noop, parse, rate


def main():
    args = parse(__doc__, 3000)
    with ProcessPoolExecutor(args.workers) as ex:
        list(ex.map(noop, range(1000)))          # start the processes

        def submit_round():
            futures = [ex.submit(noop) for _ in range(1000)]
            for f in futures:
                f.result()
            return len(futures)

        def map_round():
            for _ in ex.map(noop, range(200_000), chunksize=100):
                pass
            return 200_000

        out = {"submit_rate": rate(submit_round, args.secs),
               "map100_rate": rate(map_round, args.secs)}
        out.update(latency(lambda: ex.submit(noop).result(), args.samples, args.secs * 2))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
