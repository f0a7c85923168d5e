# SPDX-License-Identifier: MIT
"""Python task processes and C clients: the zjob CLI calls functions that
`python3 -m zjob.serve` serves, tickets travel both ways between the CLI
and zjob.Executor, and zjob.serve's own command line."""

import json
import os
import subprocess
import sys

import pytest

import zjob
from conftest import HERE, start_serving, wait_workers
from harness import EXIT_FAILED, EXIT_OK


@pytest.fixture(scope="module")
def served():
    from conftest import Cluster
    c = Cluster()
    c.start_broker()
    start_serving(c, "pyfuncs math", procs=1, concurrency=2)
    ex = zjob.Executor(broker=c.clients_ep)
    wait_workers(ex, 1)
    yield c, ex
    ex.shutdown()
    c.close()


def test_cli_runs_python_functions(served):
    c, _ = served
    r = c.zjob("run", "pyfuncs:square", "7")
    assert r.returncode == EXIT_OK, r.stderr
    assert json.loads(r.stdout) == 49
    r = c.zjob("run", "pyfuncs:add", "1", "2")
    assert json.loads(r.stdout) == 3
    r = c.zjob("run", "math:sqrt", "2.25")
    assert json.loads(r.stdout) == 1.5


def test_cli_sees_python_errors_with_their_traceback(served):
    c, _ = served
    r = c.zjob("run", "pyfuncs:fail_if_two", "2")
    assert r.returncode == EXIT_FAILED
    lines = r.stderr.splitlines()
    assert lines[0] == "ValueError: x==2"
    assert any("raise ValueError" in line for line in lines)
    r = c.zjob("run", "pyfuncs:raise_invalid", '"bad"')
    assert r.stderr.splitlines()[0] == "pyfuncs.Invalid: bad"


def test_cli_map_over_a_python_function(served):
    c, _ = served
    r = c.zjob("map", "pyfuncs:square", "--chunksize", "3", stdin="".join(f"{i}\n" for i in range(10)))
    assert r.returncode == EXIT_OK, r.stderr
    assert [json.loads(line) for line in r.stdout.split()] == [i * i for i in range(10)]


def test_tickets_travel_between_the_cli_and_python(served):
    c, ex = served
    f = ex.submit("pyfuncs:slow", 0.2, "from python")
    r = c.zjob("result", f.ticket, "--timeout", "30")
    assert r.returncode == EXIT_OK, r.stderr
    assert json.loads(r.stdout) == "from python"
    r = c.zjob("submit", "pyfuncs:add", "20", "22")
    assert r.returncode == EXIT_OK, r.stderr
    assert ex.result_of(r.stdout.strip()).result(30) == 42


def test_serve_command_line(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.environ["PYTHONPATH"], HERE]))
    r = subprocess.run([sys.executable, "-m", "zjob.serve", "--list", "pyfuncs"],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 0
    names = r.stdout.split()
    assert "pyfuncs:square" in names and "pyfuncs:Invalid" not in names
    assert not any(":_" in n for n in names)
    r = subprocess.run([sys.executable, "-m", "zjob.serve", "no_such_module"],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 1
    assert "cannot import module 'no_such_module'" in r.stderr
    r = subprocess.run([sys.executable, "-m", "zjob.serve"], capture_output=True, text=True,
                       env=env)
    assert r.returncode == 2 and "Usage" in r.stderr


def test_serve_speaks_the_pipe_protocol(tmp_path):
    """Drive zjob.serve by hand, byte for byte as docs/protocol.md says."""
    import msgpack
    import struct
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.environ["PYTHONPATH"], HERE]))
    p = subprocess.Popen([sys.executable, "-m", "zjob.serve", "pyfuncs"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)

    def read():
        n = struct.unpack(">I", p.stdout.read(4))[0]
        return msgpack.unpackb(p.stdout.read(n), raw=False)

    def send(obj):
        body = msgpack.packb(obj, use_bin_type=True)
        p.stdin.write(struct.pack(">I", len(body)) + body)
        p.stdin.flush()

    hello = read()
    assert hello[0] == "hello" and hello[1] == 1 and "pyfuncs:square" in hello[2]
    send(["task", 1, "pyfuncs:square", [12]])
    assert read() == ["ok", 1, 144]
    kw = msgpack.ExtType(75, msgpack.packb({"c": 100}))
    send(["task", 2, "pyfuncs:add", [1, 2, kw]])
    assert read() == ["ok", 2, 103]
    send(["task", 3, "pyfuncs:shout", ["x"]])       # its print must not reach stdout
    assert read() == ["ok", 3, "X"]
    send(["task", 4, "pyfuncs:fail_if_two", [2]])
    kind, tid, type_name, message, tb = read()
    assert (kind, tid, type_name, message) == ("error", 4, "ValueError", "x==2")
    assert "fail_if_two" in tb
    assert hello[3] == {"chunk": True}
    send(["chunk", 5, "pyfuncs:fail_if_two", [[1], [2], "bad", [3]]])
    kind, tid, entries = read()
    assert (kind, tid) == ("ok", 5)
    assert entries[0] == [True, 1] and entries[3] == [True, 3]
    assert entries[1][0] is False and entries[1][1][:2] == ["ValueError", "x==2"]
    assert entries[2][0] is False and entries[2][1][0] == "BadArguments"
    send(["later-kind", 5])                          # unknown kinds are skipped
    send(["task", 6, "pyfuncs:square", [3], "extra"])
    assert read() == ["ok", 6, 9]
    p.stdin.close()
    assert p.wait(10) == 0
    assert b"printed by a task: x" in p.stderr.read()


def test_curve_executor_talks_to_a_curve_broker():
    """A broker that requires CURVE: an Executor with a listed key runs
    tasks; one with an unlisted key, or none, gets BrokerLost; half a key
    pair is a ValueError at once."""
    from conftest import Cluster
    from harness import ZJOB
    c = Cluster()
    try:
        keys = os.path.join(c.tmp, "keys")
        for d in ("clients", "workers"):
            os.makedirs(os.path.join(keys, d))
        for name in ("broker", "alice", "w1", "eve"):
            r = subprocess.run([ZJOB, "keygen", name], cwd=keys, capture_output=True,
                               text=True, timeout=10)
            assert r.returncode == 0, r.stderr
        os.rename(os.path.join(keys, "alice.key"), os.path.join(keys, "clients", "alice.key"))
        os.rename(os.path.join(keys, "w1.key"), os.path.join(keys, "workers", "w1.key"))
        c.start_broker(extra=["--curve-secret", os.path.join(keys, "broker.key_secret"),
                              "--client-keys", os.path.join(keys, "clients"),
                              "--worker-keys", os.path.join(keys, "workers")])
        broker_key = os.path.join(keys, "broker.key")
        c.start_worker("--curve-secret", os.path.join(keys, "w1.key_secret"),
                       "--broker-key", broker_key)
        with zjob.Executor(broker=c.clients_ep, broker_key=broker_key,
                           curve_secret=os.path.join(keys, "alice.key_secret")) as ex:
            assert ex.submit("echo", 5).result(30) == 5
        for secret in (os.path.join(keys, "eve.key_secret"), None):
            ex = zjob.Executor(broker=c.clients_ep, connect_timeout=1,
                               curve_secret=secret, broker_key=broker_key if secret else None)
            try:
                with pytest.raises(zjob.BrokerLost):
                    ex.submit("echo", 1).result(20)
            finally:
                ex.shutdown(wait=False)
        with pytest.raises(ValueError, match="both"):
            zjob.Executor(broker=c.clients_ep, broker_key=broker_key)
        with pytest.raises(ValueError, match="no secret key"):
            zjob.Executor(broker=c.clients_ep, broker_key=broker_key, curve_secret=broker_key)
    finally:
        c.close()
