# SPDX-License-Identifier: MIT
"""netns - test hosts as Linux network namespaces: a Net of hosts joined
to one bridge, links that can be cut and restored, and an NsCluster that
runs zjobd, workers and the zjob CLI on those hosts. Every namespace is
created by the test and deleted at teardown (needs root)."""

import importlib.util
import ipaddress
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Cluster, ClusterTest, ZJOB, sanitizer_report  # noqa: E402

IP = shutil.which("ip") or "/usr/sbin/ip"
# 192.0.2.0/24 is TEST-NET-1 (RFC 5737), reserved for documentation: no
# real host has such an address. Its packets never leave the namespaces
# made here anyway (the bridge has no uplink), but an address from this
# range says so to anyone reading a log.
SUBNET = ipaddress.ip_network("192.0.2.0/24")
PREFIX = "zjt"      # namespace names: zjt-PID-N-HOST


def _run(*argv, check=True):
    r = subprocess.run([IP] + [str(a) for a in argv], capture_output=True, text=True,
                       timeout=30)
    if check and r.returncode != 0:
        raise OSError(f"ip {' '.join(map(str, argv))} failed ({r.returncode}): "
                      f"{r.stderr.strip()}")
    return r


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale():
    """Delete namespaces left by a test run whose process is gone (it was
    killed before its teardown), and the daemons it left running in them.
    Only names of this module's form, which carry the test's PID."""
    r = _run("netns", "list", check=False)
    for line in r.stdout.splitlines():
        m = re.match(rf"({PREFIX}-(\d+)-\d+-\S+)", line)
        if m and not _pid_alive(int(m.group(2))):
            for pid in _run("netns", "pids", m.group(1), check=False).stdout.split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            _run("netns", "del", m.group(1), check=False)


class Net:
    """Hosts, each a network namespace with one interface `eth0`, whose
    peer sits in a switch namespace on a bridge. Cutting a link takes the
    switch's end off the bridge, so the host notices nothing (no carrier
    change, routes intact) and its packets simply vanish, as in a network
    partition; unplugging sets that end down, so the host's eth0 loses
    its carrier, as when a cable is pulled."""

    _runs = 0

    def __init__(self, hosts):
        Net._runs += 1
        self.tag = f"{PREFIX}-{os.getpid()}-{Net._runs}"
        self.switch = f"{self.tag}-sw"
        self.hosts = {}         # host name -> (namespace, address)
        self.made = []          # namespaces to delete, in creation order
        try:
            self._add_ns(self.switch)
            _run("-n", self.switch, "link", "add", "br0", "type", "bridge")
            _run("-n", self.switch, "link", "set", "br0", "up")
            for host, addr in zip(hosts, SUBNET.hosts()):
                self._add_host(host, str(addr))
        except BaseException:
            self.close()
            raise

    def _add_ns(self, name):
        _run("netns", "add", name)
        self.made.append(name)
        _run("-n", name, "link", "set", "lo", "up")

    def _add_host(self, host, addr):
        ns = f"{self.tag}-{host}"
        self._add_ns(ns)
        # Both ends are made from inside the switch namespace, so no
        # interface ever appears in the machine's own namespace.
        port = self.port(host)
        _run("-n", self.switch, "link", "add", port, "type", "veth",
             "peer", "name", "eth0", "netns", ns)
        _run("-n", self.switch, "link", "set", port, "master", "br0")
        _run("-n", self.switch, "link", "set", port, "up")
        _run("-n", ns, "addr", "add", f"{addr}/{SUBNET.prefixlen}", "dev", "eth0")
        _run("-n", ns, "link", "set", "eth0", "up")
        self.hosts[host] = (ns, addr)

    @staticmethod
    def port(host):
        return f"p-{host}"[:15]

    def ns(self, host):
        return self.hosts[host][0]

    def addr(self, host):
        return self.hosts[host][1]

    def exec_prefix(self, host):
        """argv prefix that runs a command on `host`. `ip netns exec`
        execs the command in place: the PID Popen sees is the command's."""
        return [IP, "netns", "exec", self.ns(host)]

    def cut(self, host):
        """Partition `host`: its frames reach nobody, nothing tells it."""
        _run("-n", self.switch, "link", "set", self.port(host), "nomaster")

    def unplug(self, host):
        """Take the switch's end down: `host` sees its link lose carrier."""
        _run("-n", self.switch, "link", "set", self.port(host), "down")

    def restore(self, host):
        """Undo cut or unplug."""
        _run("-n", self.switch, "link", "set", self.port(host), "master", "br0")
        _run("-n", self.switch, "link", "set", self.port(host), "up")

    def close(self):
        """Delete every namespace made (veth pairs go with them). Call
        after the processes inside are stopped: a namespace lives as long
        as a process in it."""
        for name in reversed(self.made):
            _run("netns", "del", name, check=False)
        self.made = []


def unavailable():
    """Why network namespace tests cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root to create network namespaces (ip netns add)"
    if not os.path.exists(IP):
        return "the ip command (iproute2) is not installed"
    # RawClient runs this same python.
    missing = [m for m in ("zmq", "msgpack") if importlib.util.find_spec(m) is None]
    if missing:
        return f"{sys.executable} lacks {', '.join(missing)} (python3-zmq, python3-msgpack)"
    remove_stale()
    try:
        Net(["probe"]).close()
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"cannot build a test network (namespaces, veth, bridge): {e}"
    return None


class NsCluster(Cluster):
    """A harness.Cluster whose processes run on the hosts of a Net."""

    def __init__(self, net, broker_args=()):
        super().__init__(broker_args)
        self.net = net
        self.broker_host = None

    def _on(self, host, start, *args, **kw):
        """Call a harness start method with its process on `host`: the
        harness puts self.prefix before the argv of every daemon."""
        self.prefix = self.net.exec_prefix(host)
        try:
            p = start(*args, **kw)
        finally:
            self.prefix = []
        # Failure reports name the program, not `ip`.
        p.args = p.args[len(self.net.exec_prefix(host)):]
        return p

    def start_broker(self, host, extra=(), **kw):
        addr = self.net.addr(host)
        self.broker_host = host
        return self._on(host, super().start_broker, clients=f"tcp://{addr}:*",
                        workers=f"tcp://{addr}:*", extra=extra, **kw)

    def start_worker(self, host, *args, procs=1):
        return self._on(host, super().start_worker, "--name", host, *args, procs=procs)

    def popen(self, host, argv, **kw):
        """Start any command on `host` in its own session; stopped by PID
        at teardown like the daemons."""
        p = subprocess.Popen(self.net.exec_prefix(host) + list(argv),
                             start_new_session=True, **kw)
        p.log_path = os.devnull
        self.procs.append(p)
        return p

    def close(self):
        for p in self.procs:
            if p.stdin:
                p.stdin.close()
        return super().close()

    def zjob(self, *args, stdin=None, timeout=30, broker=None, host=None):
        """The zjob CLI, run on `host` (default: the broker's host)."""
        env = dict(os.environ, ZJOB_BROKER=broker or self.clients_ep)
        argv = self.net.exec_prefix(host or self.broker_host) + [ZJOB]
        r = subprocess.run(argv + [str(a) for a in args], input=stdin, capture_output=True,
                           text=True, timeout=timeout, env=env)
        report = sanitizer_report(r.stderr or "")
        if report:
            raise AssertionError(f"sanitizer report from zjob {args}:\n{report}")
        return r


# A raw ZJP/1 client (docs/protocol.md, 5.1, 5.3, 5.7): it SUBMITs the
# tasks given as JSON in argv[2] (may be empty), FETCHes the tickets in
# argv[3], and prints one JSON line per SUBMITTED reply and per RESULT
# entry as it arrives, until its stdin closes. The test counts entries:
# the zjob CLI would hide a duplicate RESULT, this client shows it.
RAW_CLIENT = r"""
import json, sys, msgpack, zmq
ep, submit, fetch = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
sock = zmq.Context.instance().socket(zmq.DEALER)
sock.setsockopt(zmq.LINGER, 0)
sock.connect(ep)
if submit:
    sock.send(msgpack.packb([1, 1, 1, [[fn, args, {}] for fn, args in submit]]))
if fetch:
    sock.send(msgpack.packb([1, 3, 2, fetch]))
poller = zmq.Poller()
poller.register(sock, zmq.POLLIN)
poller.register(sys.stdin, zmq.POLLIN)
def say(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()
while True:
    ready = dict(poller.poll(1000))
    if sys.stdin.fileno() in ready and not sys.stdin.readline():
        break
    while sock.poll(0):
        m = msgpack.unpackb(sock.recv(), raw=False)
        if m[1] == 2:
            say({"submitted": m[3]})
        elif m[1] == 10:
            for ticket, state, payload in m[3]:
                say({"result": [ticket, state, payload]})
        elif m[1] == 11:
            say({"error": m[3:5]})
"""


class RawClient:
    """RAW_CLIENT on a host of an NsCluster."""

    def __init__(self, cluster, host, submit=(), fetch=()):
        argv = [sys.executable, "-c", RAW_CLIENT, cluster.clients_ep,
                json.dumps(list(submit)), json.dumps(list(fetch))]
        self.path = os.path.join(cluster.tmp, f"raw-{len(cluster.procs)}.out")
        with open(self.path, "w") as out:
            self.p = cluster.popen(host, argv, stdin=subprocess.PIPE, stdout=out,
                                   stderr=subprocess.STDOUT, text=True)
        self.p.log_path = self.path

    def lines(self):
        """What it printed so far, parsed; a line being written is left out."""
        with open(self.path) as f:
            text = f.read()
        done = text[:text.rfind("\n") + 1]
        out = []
        for line in done.splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                raise AssertionError(f"raw client printed {line!r}:\n{text}")
        return out

    def results(self):
        return [x["result"] for x in self.lines() if "result" in x]

    def tickets(self):
        got = [x["submitted"] for x in self.lines() if "submitted" in x]
        return got[0] if got else None

    def stop(self, timeout=10):
        """Close its stdin and wait for it; the lines it printed."""
        self.p.stdin.close()
        self.p.wait(timeout)
        return self.lines()


class NetTest(ClusterTest):
    """A test case with a fresh Net of `hosts` and an NsCluster on it; the
    broker and workers are started by the tests."""

    hosts = ("b", "w1", "w2")

    @classmethod
    def setUpClass(cls):
        why = unavailable()
        if why:
            raise unittest.SkipTest(why)

    def setUp(self):
        self.net = Net(self.hosts)
        # Cleanups run last first: processes stop before their hosts go.
        self.addCleanup(self.net.close)
        self.c = NsCluster(self.net, self.broker_args)
        self.addCleanup(self._teardown)
