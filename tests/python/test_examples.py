# SPDX-License-Identifier: MIT
"""The examples in examples/python run against a real broker and workers
serving them with `python3 -m zjob.serve`, and print what the same script
prints with ProcessPoolExecutor: each is run twice, once as it is and once
with its one zjob line (the constructor) put back to ProcessPoolExecutor()."""

import os
import subprocess
import sys
import time

import pytest

from conftest import EXAMPLES, ROOT, Cluster, start_serving, wait_workers
import zjob

CONSTRUCTOR = 'zjob.Executor(broker=os.environ.get("ZJOB_BROKER"))'
MODULES = "primes squares_as_completed log_errors progress bootstrap math"


@pytest.fixture(scope="module")
def served():
    c = Cluster()
    c.start_broker()
    start_serving(c, MODULES, procs=2)
    ex = zjob.Executor(broker=c.clients_ep)
    wait_workers(ex, 2, "primes:is_prime")
    ex.shutdown()
    yield c
    c.close()


def run(path, broker, cwd):
    env = dict(os.environ, ZJOB_BROKER=broker or "",
               PYTHONPATH=os.pathsep.join([os.path.join(ROOT, "python"), EXAMPLES]))
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, path], capture_output=True, text=True, timeout=300,
                       env=env, cwd=cwd)
    assert r.returncode == 0, f"{path} failed:\n{r.stdout}\n{r.stderr}"
    return r, time.monotonic() - t0


def both(name, served, tmp_path):
    """Outputs (and times) of the example through zjob and through
    ProcessPoolExecutor."""
    path = os.path.join(EXAMPLES, name + ".py")
    source = open(path).read()
    # Besides the import, the constructor is the only line that names zjob.
    code = [line.strip() for line in source.splitlines()
            if "zjob" in line and not line.lstrip().startswith("#")]
    assert code == ["import zjob", f"with {CONSTRUCTOR} as executor:"], (name, code)
    local = tmp_path / (name + "_local.py")
    local.write_text(source.replace(CONSTRUCTOR, "concurrent.futures.ProcessPoolExecutor()"))
    ours, t_ours = run(path, served.clients_ep, EXAMPLES)
    theirs, t_theirs = run(str(local), None, str(tmp_path))
    return ours, theirs, t_ours, t_theirs


def test_primes_map_in_input_order(served, tmp_path, capsys):
    ours, theirs, t_ours, t_theirs = both("primes", served, tmp_path)
    assert ours.stdout == theirs.stdout
    lines = ours.stdout.splitlines()
    assert lines[0] == "112272535095293 is prime: True"
    assert lines[-1] == "1099726899285419 is prime: False"
    with capsys.disabled():
        print(f"\n    primes: zjob {t_ours:.2f} s, ProcessPoolExecutor {t_theirs:.2f} s")


def test_submit_as_completed_with_a_dict(served, tmp_path):
    ours, theirs, _, _ = both("squares_as_completed", served, tmp_path)
    assert sorted(ours.stdout.splitlines()) == sorted(theirs.stdout.splitlines())
    assert "92 generated an exception: 92 is too large" in ours.stdout
    assert "89 squared is 7921" in ours.stdout


def test_errors_collected_per_future(served, tmp_path):
    ours, theirs, _, _ = both("log_errors", served, tmp_path)
    assert ours.stdout == theirs.stdout
    assert "failed: ValueError: math domain error" in ours.stdout
    assert ours.stdout.rstrip().endswith("errors")


def test_tqdm_bar_over_as_completed(served, tmp_path):
    ours, theirs, _, _ = both("progress", served, tmp_path)
    assert ours.stdout == theirs.stdout == "total: %d\n" % sum(i % 7 for i in range(200))
    assert "200/200" in ours.stderr


def test_bootstrap_aggregated_on_the_client(served, tmp_path):
    ours, theirs, _, _ = both("bootstrap", served, tmp_path)
    assert ours.stdout == theirs.stdout
    assert "resamples: 400" in ours.stdout
