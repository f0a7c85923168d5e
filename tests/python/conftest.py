# SPDX-License-Identifier: MIT
"""Fixtures for the Python tests: real zjobd and zjob-worker processes from
tests/integration/harness.py, workers serving pyfuncs (and the examples)
through `python3 -m zjob.serve`, and a zjob.Executor on that broker. Every
process is started in its own group and killed by PID at teardown."""

import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
EXAMPLES = os.path.join(ROOT, "examples", "python")
sys.path[:0] = [os.path.join(ROOT, "python"), os.path.join(ROOT, "tests", "integration"),
                HERE, EXAMPLES]
# Workers inherit this: their task processes import zjob, pyfuncs and the
# examples from the source tree.
os.environ["PYTHONPATH"] = os.pathsep.join(
    [os.path.join(ROOT, "python"), HERE, EXAMPLES] +
    ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else []))
os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")

import harness  # noqa: E402
import zjob  # noqa: E402

SERVE = f"{sys.executable} -m zjob.serve pyfuncs"


def start_serving(cluster, modules="pyfuncs", procs=2, concurrency=1, extra=()):
    """Start a worker serving `modules`; return its process."""
    return cluster.start_worker("--serve", f"{sys.executable} -m zjob.serve {modules}",
                                "--concurrency", str(concurrency), *extra, procs=procs)


def wait_workers(ex, count, function="pyfuncs:square", timeout=20):
    """Wait until `count` worker processes serve `function`."""
    def ready():
        workers = ex.stats()["workers"]
        return sum(function in w["functions"] for w in workers) >= count
    harness.wait_for(ready, timeout, f"{count} workers serving {function}")


class Cluster(harness.Cluster):
    """harness.Cluster that shows its logs when a test fails, and fails
    when a daemon's log holds a sanitizer report (the ASan pass)."""

    def dump(self):
        for p in self.procs:
            print(f"--- {p.args[0]} (pid {p.pid}) log ---\n{self.log(p)[-4000:]}")

    def close(self):
        reports = super().close()
        if reports:
            raise AssertionError("sanitizer report in a daemon's log:\n" + "\n".join(
                f"--- {argv0} (pid {pid}) ---\n{text}" for argv0, pid, text in reports))
        return reports


@pytest.fixture(scope="module")
def cluster():
    c = Cluster()
    c.start_broker()
    start_serving(c, procs=2)
    yield c
    c.close()


@pytest.fixture
def ex(cluster, request):
    e = zjob.Executor(broker=cluster.clients_ep)
    wait_workers(e, 2)
    yield e
    e.shutdown(wait=False, cancel_futures=True)
    if request.node.rep_call.failed if hasattr(request.node, "rep_call") else False:
        cluster.dump()


@pytest.fixture
def fresh():
    """A cluster of its own, for tests that kill or restart processes."""
    c = Cluster()
    c.start_broker()
    yield c
    c.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)
