# SPDX-License-Identifier: MIT
"""zjob - concurrent.futures on a zjob broker.

    import zjob
    with zjob.Executor(broker="tcp://127.0.0.1:5555") as ex:
        for n, prime in zip(PRIMES, ex.map(is_prime, PRIMES)):
            print(n, prime)

Workers serve Python functions with
`zjob-worker --serve "python3 -m zjob.serve MODULE"`. The futures are
concurrent.futures.Future objects; as_completed, wait and callbacks work
unchanged. See python/README.md and docs/protocol.md."""

from ._errors import (BrokerError, BrokerLost, Expired, RemoteError, RemoteTraceback,
                      UnknownTicket, WorkerLost)
from ._executor import DEFAULT_BROKER, Executor, Future, function_name

__version__ = "0.1.0"

__all__ = ["Executor", "Future", "RemoteError", "RemoteTraceback", "WorkerLost",
           "BrokerLost", "BrokerError", "UnknownTicket", "Expired", "function_name",
           "DEFAULT_BROKER"]
