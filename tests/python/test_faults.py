# SPDX-License-Identifier: MIT
"""What goes wrong, through zjob.Executor: task timeouts (the task process
is killed and restarted), a worker process killed in the middle of a map
(the broker requeues its work and the map completes), a task process that
crashes, and a broker that dies or comes back without its tasks."""

import concurrent.futures as cf
import os
import signal
import subprocess

import pytest

import pyfuncs
import zjob
from conftest import start_serving, wait_workers
from harness import wait_for


def children(pid):
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def test_task_timeout_kills_and_restarts_the_process(fresh):
    start_serving(fresh, procs=1)
    with zjob.Executor(broker=fresh.clients_ep) as ex:
        wait_workers(ex, 1)
        before = ex.submit(pyfuncs.pid).result(30)
        f = ex.with_options(timeout=0.5).submit(pyfuncs.slow, 60)
        with pytest.raises(TimeoutError) as info:
            f.result(30)
        assert "timeout of 0.5 s" in str(info.value)
        # The old process is gone; a new one serves the next task.
        wait_for(lambda: not os.path.exists(f"/proc/{before}"), 10, "the old process to die")
        after = ex.submit(pyfuncs.pid).result(30)
        assert after != before
        # A map with a timeout per task: the slow element fails, the rest not.
        fs = [ex.with_options(timeout=1).submit(pyfuncs.slow, s) for s in (0.01, 5, 0.02)]
        assert fs[0].result(30) == 0.01 and fs[2].result(30) == 0.02
        assert isinstance(fs[1].exception(30), TimeoutError)


def quick_broker(cluster):
    """Restart the cluster's broker with a 0.2 s heartbeat, so that it
    declares a killed worker lost within a second."""
    cluster.stop(cluster.broker)
    cluster.start_broker(extra=["--heartbeat", "0.2"])


def test_worker_killed_mid_map_the_map_completes(fresh):
    quick_broker(fresh)
    sup = start_serving(fresh, procs=2)
    with zjob.Executor(broker=fresh.clients_ep) as ex:
        wait_workers(ex, 2)
        it = ex.map(pyfuncs.slow_square, range(40), [0.05] * 40)
        got = [next(it) for _ in range(5)]
        victim = children(sup.pid)[0]
        os.kill(victim, signal.SIGKILL)
        got += list(it)
        assert got == [i * i for i in range(40)]
        # The supervisor restarted the killed process.
        wait_workers(ex, 2)


def test_attempts_lost_with_their_workers_raise_worker_lost(fresh):
    quick_broker(fresh)
    worker = start_serving(fresh, procs=1)
    with zjob.Executor(broker=fresh.clients_ep) as ex:
        wait_workers(ex, 1)
        f = ex.with_options(max_retries=0).submit(pyfuncs.slow, 30)
        wait_for(lambda: ex.stats()["tasks"]["running"] == 1, 10, "the task to run")
        fresh.stop(worker, signal.SIGKILL)
        with pytest.raises(zjob.WorkerLost) as info:
            f.result(30)
        assert isinstance(info.value, zjob.RemoteError) and info.value.type == "WorkerLost"


def test_task_process_crash_fails_only_that_task(fresh):
    start_serving(fresh, procs=1)
    with zjob.Executor(broker=fresh.clients_ep) as ex:
        wait_workers(ex, 1)
        with pytest.raises(zjob.RemoteError) as info:
            ex.submit(pyfuncs.crash, 3).result(30)
        assert info.value.type == "ProcessExited"
        assert "exited with status 3" in info.value.message
        assert ex.submit(pyfuncs.square, 4).result(30) == 16


def running_task(cluster, seconds, liveness, value=None):
    """An executor on the cluster and a future of slow(seconds) it holds a
    ticket for."""
    start_serving(cluster, procs=1)
    ex = zjob.Executor(broker=cluster.clients_ep, heartbeat=0.2, liveness=liveness)
    wait_workers(ex, 1)
    f = ex.submit(pyfuncs.slow, seconds, value)
    wait_for(lambda: f.ticket, 10, "the ticket")
    return ex, f


def test_broker_killed_pending_futures_get_broker_lost(fresh):
    ex, f = running_task(fresh, 30, liveness=3)
    fresh.stop(fresh.broker, signal.SIGKILL)
    with pytest.raises(zjob.BrokerLost) as info:
        f.result(30)
    assert isinstance(info.value, cf.BrokenExecutor)
    assert "stopped answering" in str(info.value)
    ex.shutdown()


def test_broker_back_without_state_is_broker_lost(fresh):
    ex, f = running_task(fresh, 3, liveness=25)
    clients, workers = fresh.clients_ep, fresh.workers_ep
    fresh.stop(fresh.broker, signal.SIGKILL)
    # A new broker on the same endpoints, with an empty store.
    fresh.start_broker(clients=clients, workers=workers,
                       state_dir=os.path.join(fresh.tmp, "empty-state"))
    with pytest.raises(zjob.BrokerLost) as info:
        f.result(30)
    assert "no longer knows" in str(info.value)
    # The executor still works with the new broker.
    wait_workers(ex, 1)
    assert ex.submit(pyfuncs.square, 6).result(30) == 36
    ex.shutdown()


def test_broker_restarted_with_its_state_the_future_completes(fresh):
    ex, f = running_task(fresh, 1, liveness=50, value="survived")
    clients, workers = fresh.clients_ep, fresh.workers_ep
    fresh.stop(fresh.broker)
    fresh.start_broker(clients=clients, workers=workers)
    assert f.result(60) == "survived"
    ex.shutdown()


def test_unreachable_broker(fresh):
    ex = zjob.Executor(broker="tcp://127.0.0.1:9", connect_timeout=0.5)
    with pytest.raises(zjob.BrokerLost, match="no answer from the broker"):
        ex.submit("noop").result(30)
    ex.shutdown()
