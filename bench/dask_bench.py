# SPDX-License-Identifier: MIT
"""dask_bench - Dask distributed (LocalCluster, 2 worker processes, one
thread each) on the work zjbench does, for bench/compare: submit+gather
no-op tasks per second (rounds of 1,000), client.map items per second
(Dask has no chunksize), and one-at-a-time round trips. Prints one JSON
object. bench/compare bounds its run time."""
import itertools
import json
import logging

from benchlib import latency, noop, parse, rate


def main():
    args = parse(__doc__, 500)
    logging.disable(logging.WARNING)
    from dask.distributed import Client, LocalCluster
    with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        client.gather(client.map(noop, range(100), pure=False))     # warm up

        def submit_round():
            client.gather([client.submit(noop, i, pure=False) for i in range(1000)])
            return 1000

        def map_round():
            client.gather(client.map(noop, range(5000), pure=False))
            return 5000

        out = {"submit_rate": rate(submit_round, args.secs),
               "map_rate": rate(map_round, args.secs)}
        n = itertools.count()
        out.update(latency(lambda: client.submit(noop, next(n), pure=False).result(),
                           args.samples, args.secs * 2))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
