# SPDX-License-Identifier: MIT
"""zjob.Executor against the standard library: every Executor method and
the concurrent.futures functions run on the same inputs through
ProcessPoolExecutor and through zjob (a real broker, workers serving
pyfuncs with `python3 -m zjob.serve`), and must agree."""

import concurrent.futures as cf
import io
import re
import time

import pytest

import pyfuncs
import zjob
from conftest import wait_workers


@pytest.fixture(scope="module")
def ppe():
    with cf.ProcessPoolExecutor(2) as p:
        yield p


def outcome(f, timeout=30):
    """("ok", value) or (exception type name, str) of a settled future."""
    try:
        return ("ok", f.result(timeout))
    except Exception as e:  # noqa: BLE001
        return (type(e).__name__, str(e))


def test_submit_returns_a_real_future_with_a_ticket(ex, ppe):
    f = ex.submit(pyfuncs.square, 7)
    assert isinstance(f, cf.Future) and isinstance(f, zjob.Future)
    assert f.result(30) == ppe.submit(pyfuncs.square, 7).result() == 49
    assert f.done() and not f.running() and not f.cancelled()
    assert f.exception() is None
    assert re.fullmatch(r"[a-z0-9-]+", f.ticket)
    assert f.ticket in repr(f)


@pytest.mark.parametrize("fn,iterables,chunksize", [
    (pyfuncs.square, [range(20)], 1),
    (pyfuncs.square, [range(20)], 3),
    (pyfuncs.square, [range(20)], 50),
    (pyfuncs.add, [range(10), range(100, 107)], 1),      # zip stops at the shortest
    (pyfuncs.add, [range(10), range(100, 110), range(5)], 4),
    (pyfuncs.square, [[]], 1),
    (pyfuncs.kwargs_echo, [["a", "b"], [{"k": [1, 2.5, None]}, b"\x00bytes"]], 1),
])
def test_map_matches_process_pool(ex, ppe, fn, iterables, chunksize):
    want = list(ppe.map(fn, *iterables, chunksize=chunksize))
    got = list(ex.map(fn, *iterables, chunksize=chunksize))
    assert got == want


def test_map_is_a_lazy_iterator_with_a_timeout(ex, ppe):
    for executor in (ppe, ex):
        it = executor.map(pyfuncs.slow, [0.01, 2, 0.01], timeout=1)
        assert iter(it) is it
        assert next(it) == 0.01
        with pytest.raises(cf.TimeoutError):
            next(it)
    with pytest.raises(ValueError, match="chunksize"):
        ex.map(pyfuncs.square, [1], chunksize=0)


@pytest.mark.parametrize("chunksize", [1, 2])
def test_map_raises_at_the_first_failure_in_order(ex, ppe, chunksize):
    def collect(executor):
        seen = []
        with pytest.raises(ValueError) as info:
            for value in executor.map(pyfuncs.fail_if_two, range(6), chunksize=chunksize):
                seen.append(value)
        return seen, str(info.value)
    assert collect(ex) == collect(ppe) == ([0, 1], "x==2")


@pytest.mark.parametrize("fn,arg", [
    (pyfuncs.fail_if_two, 2),
    (pyfuncs.raise_key, "missing"),
    (pyfuncs.square, "text"),                # TypeError raised inside the task
])
def test_builtin_exceptions_come_back_as_themselves(ex, ppe, fn, arg):
    theirs = ppe.submit(fn, arg).exception()
    ours = ex.submit(fn, arg).exception(30)
    assert type(ours) is type(theirs)
    assert str(ours) == str(theirs)
    assert ours.args == theirs.args
    # The remote traceback is the cause, as with ProcessPoolExecutor.
    assert isinstance(ours.__cause__, zjob.RemoteTraceback)
    assert fn.__name__ in str(ours.__cause__) and fn.__name__ in str(theirs.__cause__)
    assert "Traceback (most recent call last)" in ours.__cause__.tb


def test_other_exceptions_are_remote_errors_with_the_type_name(ex, ppe):
    theirs = ppe.submit(pyfuncs.raise_invalid, "bad input").exception()
    ours = ex.submit(pyfuncs.raise_invalid, "bad input").exception(30)
    assert isinstance(theirs, pyfuncs.Invalid)
    assert isinstance(ours, zjob.RemoteError)
    assert ours.type == "pyfuncs.Invalid" and ours.message == "bad input"
    assert str(ours) == "pyfuncs.Invalid: bad input"
    assert "raise Invalid(text)" in ours.traceback
    assert "raise_invalid" in str(ours.__cause__)


def test_keyword_arguments(ex, ppe):
    assert ex.submit(pyfuncs.add, 1, 2, c=3).result(30) == ppe.submit(pyfuncs.add, 1, 2, c=3).result()
    assert ex.submit(pyfuncs.add, a=1, b=2).result(30) == 3
    got = ex.submit(pyfuncs.kwargs_echo, 1, [2], x={"a": None}, y=b"b").result(30)
    assert got == ppe.submit(pyfuncs.kwargs_echo, 1, [2], x={"a": None}, y=b"b").result()
    with pytest.raises(TypeError, match="unexpected keyword"):
        ex.submit(pyfuncs.square, 2, z=1).result(30)


def test_as_completed_with_a_dict_of_futures(ex, ppe):
    for executor in (ppe, ex):
        futures = {executor.submit(pyfuncs.slow_square, i, 0.02 * (6 - i)): i for i in range(6)}
        seen = {}
        for f in cf.as_completed(futures, timeout=30):
            seen[futures[f]] = f.result()
        assert seen == {i: i * i for i in range(6)}


def test_wait_modes(ex, ppe):
    for executor in (ppe, ex):
        fs = [executor.submit(pyfuncs.slow, s) for s in (0.05, 3)]
        done, not_done = cf.wait(fs, timeout=30, return_when=cf.FIRST_COMPLETED)
        assert fs[0] in done and fs[1] in not_done
        fs2 = [executor.submit(pyfuncs.fail_if_two, 2), executor.submit(pyfuncs.slow, 3)]
        done, not_done = cf.wait(fs2, timeout=30, return_when=cf.FIRST_EXCEPTION)
        assert fs2[0] in done and fs2[1] in not_done
        done, not_done = cf.wait(fs + fs2, timeout=30)
        assert len(done) == 4 and not not_done


def test_done_callbacks_run_once(ex):
    calls = []
    f = ex.submit(pyfuncs.square, 3)
    f.add_done_callback(lambda g: calls.append(("first", g.result())))
    f.result(30)
    f.add_done_callback(lambda g: calls.append(("late", g.result())))   # runs at once
    time.sleep(0.05)
    assert calls == [("first", 9), ("late", 9)]


def test_tqdm_over_as_completed(ex):
    from tqdm import tqdm
    fs = [ex.submit(pyfuncs.square, i) for i in range(50)]
    out = io.StringIO()
    results = [f.result() for f in tqdm(cf.as_completed(fs), total=len(fs), file=out)]
    assert sorted(results) == [i * i for i in range(50)]
    assert "50/50" in out.getvalue()


def test_cancel_queued_succeeds_and_running_fails(ex, ppe):
    for executor in (ppe, ex):
        # Two workers busy, then a backlog: the last of it is still queued.
        if executor is ex:
            wait_idle(ex)
        busy = [executor.submit(pyfuncs.slow, 1.5) for _ in range(2)]
        backlog = [executor.submit(pyfuncs.slow, 0.01) for _ in range(6)]
        if executor is ex:
            harness_wait(lambda: ex.stats()["tasks"]["running"] == 2)
        else:
            time.sleep(0.5)
        assert backlog[-1].cancel() is True
        assert backlog[-1].cancelled() and backlog[-1].done()
        with pytest.raises(cf.CancelledError):
            backlog[-1].result()
        assert busy[0].cancel() is False
        assert busy[0].result(30) == 1.5
        assert [f.result(30) for f in backlog[:-1]] == [0.01] * 5
        # A cancelled future is "completed" for as_completed and wait.
        assert backlog[-1] in set(cf.as_completed(backlog, timeout=30))


def wait_idle(ex):
    """Wait until earlier tests' tasks have left the shared cluster."""
    harness_wait(lambda: ex.stats()["tasks"]["running"] == 0 == ex.stats()["tasks"]["queued"])


def harness_wait(cond, timeout=10):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_shutdown_semantics(cluster, ppe):
    e = zjob.Executor(broker=cluster.clients_ep)
    wait_workers(e, 2)
    fs = [e.submit(pyfuncs.slow, 0.2, i) for i in range(4)]
    e.shutdown(wait=True)
    assert all(f.done() for f in fs) and [f.result() for f in fs] == [0, 1, 2, 3]
    for executor in (e, cf.ProcessPoolExecutor(1)):
        executor.shutdown()
        with pytest.raises(RuntimeError, match="after shutdown"):
            executor.submit(pyfuncs.square, 1)
        with pytest.raises(RuntimeError, match="after shutdown"):
            executor.map(pyfuncs.square, [1])


def test_shutdown_cancel_futures(cluster):
    e = zjob.Executor(broker=cluster.clients_ep)
    wait_workers(e, 2)
    wait_idle(e)
    busy = [e.submit(pyfuncs.slow, 1) for _ in range(2)]
    harness_wait(lambda: e.stats()["tasks"]["running"] == 2)
    queued = [e.submit(pyfuncs.slow, 1) for _ in range(4)]
    e.shutdown(wait=True, cancel_futures=True)
    assert all(f.done() for f in busy + queued)
    assert [f.result() for f in busy] == [1, 1]
    assert all(f.cancelled() for f in queued)


def test_context_manager_waits(cluster):
    with zjob.Executor(broker=cluster.clients_ep) as e:
        fs = [e.submit(pyfuncs.slow, 0.1, i) for i in range(3)]
    assert [f.result(0) for f in fs] == [0, 1, 2]


def test_string_names_reach_any_zjob_function(ex):
    assert ex.submit("echo", 1, "a").result(30) == [1, "a"]
    assert ex.submit("noop").result(30) is None
    assert ex.submit("pyfuncs:square", 5).result(30) == 25
    with pytest.raises(KeyError) as info:
        ex.submit("fail", "KeyError", "nope").result(30)
    assert info.value.args == ("nope",)
    with pytest.raises(zjob.RemoteError) as info:
        ex.submit("fail", "DiskFull", "no room").result(30)
    assert info.value.type == "DiskFull" and info.value.message == "no room"
    assert list(ex.map("echo", range(5), chunksize=2)) == list(range(5))


def test_result_of_a_ticket(cluster, ex):
    t = ex.submit(pyfuncs.slow, 0.3, "late").ticket
    other = zjob.Executor(broker=cluster.clients_ep)
    try:
        g = other.result_of(t)
        assert g.ticket == t
        assert g.result(30) == "late"
        assert other.result_of(t).result(30) == "late"     # already final
        with pytest.raises(zjob.UnknownTicket):
            other.result_of("nosuch-ticket").result(30)
    finally:
        other.shutdown()


def test_retry_runs_a_failed_task_again(ex, tmp_path):
    path = str(tmp_path / "flag")
    f = ex.submit(pyfuncs.need_file, path)
    with pytest.raises(FileNotFoundError):
        f.result(30)
    open(path, "w").close()
    g = ex.retry(f.ticket)
    assert g.ticket == f.ticket and g is not f
    assert g.result(30) == "found"
    with pytest.raises(FileNotFoundError):          # a settled future stays settled
        f.result(0)
    with pytest.raises(ValueError, match="it is done, not failed"):
        ex.retry(f.ticket)
    with pytest.raises(zjob.UnknownTicket):
        ex.retry("zzzzzzzz-00000009")


def test_what_cannot_be_sent(ex):
    with pytest.raises(TypeError, match="lambda"):
        ex.submit(lambda: 1)
    with pytest.raises(TypeError, match="cannot send the arguments"):
        ex.submit(pyfuncs.square, object())
    with pytest.raises(TypeError, match="zjob cannot send"):
        ex.submit(pyfuncs.unsendable).result(30)
    # Over a broker's frame limit: refused here, before it could cost the
    # connection.
    with pytest.raises(zjob.BrokerError) as info:
        ex.submit("echo", b"x" * (64 << 20)).result(30)
    assert info.value.code == "TooLarge"
    assert ex.submit("echo", 1).result(30) == 1


def test_print_in_a_task_goes_to_the_worker_log(cluster, ex):
    assert ex.submit(pyfuncs.shout, "hello").result(30) == "HELLO"
    worker = [p for p in cluster.procs if "zjob-worker" in p.args[0]][0]
    from harness import wait_for
    wait_for(lambda: "printed by a task: hello" in cluster.log(worker), 10, "the print in the log")


def test_functions_are_named_module_colon_qualname():
    assert zjob.function_name(pyfuncs.square) == "pyfuncs:square"
    assert zjob.function_name("echo") == "echo"
    import math
    assert zjob.function_name(math.log) == "math:log"
    with pytest.raises(TypeError, match="nested"):
        def inner():
            pass
        zjob.function_name(inner)
