#!/usr/bin/env python3
"""Chaos test for zabd: a 5-voter ensemble on 127.0.0.1 under random faults, with writers on
every server, a leader sampler, and end-of-run safety checks. Entry point: scripts/chaos.sh.

    chaos.py [--duration S] [--seed N] [--leader-kill-storm N] [--tick MS] [--keep-dir] ...
    chaos.py --self-test

The ensemble is tests/kazoo/zk_ensemble.py's launcher (zooN.cfg, dataN/myid, serverN.log in a
temporary directory, free ports), with one change: every server-to-server connection goes
through scripts/chaos_proxy.py. Server a's zoo.cfg names, for each other server b, proxy ports
of the route (a -> b), which forward to b's real quorum and election ports; each server binds its
own real ports. The proxy can cut any pair of servers (close their connections, or blackhole
them: hold every byte until healed), which makes network partitions without leaving loopback.

Writers: one kazoo client per server, connected to that server only, each creating unique
persistent nodes /chaos/w<N>/n<seq> one at a time. A create counts as acknowledged only when its
reply says it succeeded. A create whose outcome is unknown (connection loss, session expiry,
no reply in --op-timeout) is not counted and the writer moves on to a new name.

Faults (--duration S seconds, seeded RNG, seed printed): kill -9 then restart; SIGSTOP then
SIGCONT; SIGTERM (graceful stop) then restart; a partition isolating 1 or 2 servers from the
rest; one cut link between two servers. Each lasts 0.3-4 s. At most 2 of the 5 servers are
impaired at once (down, stopped, on the minority side of a partition, or an end of a cut link),
so the other 3 always form a connected, running quorum. About 40% of faults aim at the current
leader. --majority-crashes (opt-in, off by default) adds a power-cut fault when nothing else is
active: kill -9 3 or all 5 servers in the same instant and start them again at once. kill -9
cannot lose data the kernel already has, but zabd buffers log appends in user space until its
group-commit fsync, so this is the fault that surfaces an ACK sent before the fsync (with at most
2 servers down, a copy always survives in some live server's memory).

The seed fixes the RNG, but what a fault hits also depends on timing (40% of faults aim at
whichever server leads at that moment), so a seed does not replay a run exactly.

--leader-kill-storm N (after the random faults, if any): N times, kill -9 the current leader,
start it again at once, and wait until all 5 serve in a newer epoch with exactly one leader;
prints each heal time and the median/max.

Observations: every server's `srvr` every ~50 ms (Mode, Zxid >> 32 = epoch), recording which
servers claimed to lead each epoch; and every `LEADING: serving` line in the servers' logs
(sid, epoch, which start of the process).

End checks, after healing everything and waiting until all 5 serve with one leader:
  lost-write     an acknowledged create is missing from a server (getChildren after sync, each
                 server through its own client)
  phantom-write  a server holds a node no writer ever tried to create
  failed-present a node whose create got an error reply exists anyway
  diverged       servers at the same zxid hold different children
  digest         servers at the same zxid disagree on `mntr` zk_digest, or never reach one zxid
  two-leaders    two servers claimed (srvr) or logged (LEADING) leadership of one epoch
  epoch-reused   one server led the same epoch in two different process starts
  not-healed     the healed ensemble did not serve with one leader in --heal-timeout
  storm-stuck    a storm kill did not heal in --heal-timeout
  crash          a server exited without being told to
  stall          no write was acknowledged for longer than --max-stall while a quorum was up
  writer-error   a create failed with an error that cannot happen (NodeExists, NoNode, ...)
  term-hang      a SIGTERMed server did not exit within 10 s
Any violation: exit 1 (the temporary directory with configs, data and logs is kept). Setup
errors: exit 2. --self-test feeds the checker fabricated bad observations (a lost write, two
leaders in an epoch, differing digests, ...) and verifies it reports each one.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests", "kazoo"))

import zk_ensemble  # noqa: E402
from zk_ensemble import HOST, NOT_SERVING, Ensemble, EnsembleError, four_letter, free_ports  # noqa: E402

SIZE = 5
MAX_IMPAIRED = 2  # a minority of 5
ROOT = "/chaos"
SAMPLE_INTERVAL = 0.05
FAULT_KINDS = ["kill9", "sigstop", "sigterm", "partition", "link"]
FAULT_WEIGHTS = [3, 2, 2, 2, 2]
TERM_TIMEOUT = 10.0


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ----------------------------------------------------------------------------- parsing


def parse_srvr(text):
    """(mode, zxid) from a `srvr` answer; mode None when not serving or unparsable."""
    if not text or NOT_SERVING in text:
        return None, None
    mode = zxid = None
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key, value = key.strip(), value.strip()
        if key == "Mode":
            mode = value or None
        elif key == "Zxid":
            try:
                zxid = int(value, 0)
            except ValueError:
                pass
    return mode, zxid


def parse_mntr(text):
    out = {}
    for line in (text or "").splitlines():
        key, sep, value = line.partition("\t")
        if sep:
            out[key.strip()] = value.strip()
    return out


START_MARKER = re.compile(r"^===== start server (\d+) ")
LEADING = re.compile(r"LEADING: serving\b.*?\bsid=(\d+)\b.*?\bepoch=(\d+)\b")


def parse_leading_log(text):
    """[(sid, epoch, start)] for every `LEADING: serving` line of one server's log; start counts
    the launcher's `===== start server` markers (1 = the first start of the process)."""
    found = []
    start = 0
    for line in text.splitlines():
        if START_MARKER.match(line):
            start += 1
            continue
        m = LEADING.search(line)
        if m:
            found.append((int(m.group(1)), int(m.group(2)), start))
    return found


# ----------------------------------------------------------------------------- the checker


@dataclass
class Observations:
    """Everything the end checks look at; built by a real run or fabricated by --self-test."""

    attempted: set = field(default_factory=set)  # every path a writer tried to create
    acked: set = field(default_factory=set)  # creates whose reply said OK
    failed: dict = field(default_factory=dict)  # path -> error of a definite error reply
    writer_errors: list = field(default_factory=list)  # impossible errors (NodeExists, ...)
    children: dict = field(default_factory=dict)  # sid -> set of paths, or an error string
    final: dict = field(default_factory=dict)  # sid -> (zxid, digest) once converged
    converged: bool = True  # all servers reached one zxid (stable) during the digest check
    leaders_sampled: dict = field(default_factory=dict)  # epoch -> set of sids (srvr)
    leading_logged: dict = field(default_factory=dict)  # sid -> [(sid, epoch, start)]
    healed: bool = True
    heal_detail: str = ""
    storm_stuck: list = field(default_factory=list)  # descriptions
    crashes: list = field(default_factory=list)  # (sid, exit code)
    term_hangs: list = field(default_factory=list)  # sids
    max_stall: float = 0.0
    stall_limit: float = 30.0


@dataclass
class Violation:
    kind: str
    detail: str

    def __str__(self):
        return f"VIOLATION {self.kind}: {self.detail}"


def _few(items, n=5):
    items = sorted(items)
    more = f" (+{len(items) - n} more)" if len(items) > n else ""
    return ", ".join(map(str, items[:n])) + more


def check(obs: Observations):
    """Every safety and liveness violation in obs, as a list of Violation."""
    v = []
    if not obs.healed:
        v.append(Violation("not-healed", obs.heal_detail or "the ensemble did not heal"))
    for what in obs.storm_stuck:
        v.append(Violation("storm-stuck", what))
    for sid, code in obs.crashes:
        v.append(Violation("crash", f"server {sid} exited on its own with code {code}"))
    for sid in obs.term_hangs:
        v.append(Violation("term-hang", f"server {sid} did not exit within {TERM_TIMEOUT:.0f} s of SIGTERM"))
    for err in obs.writer_errors:
        v.append(Violation("writer-error", err))
    if obs.max_stall > obs.stall_limit:
        v.append(Violation("stall", f"no write acknowledged for {obs.max_stall:.1f} s (limit {obs.stall_limit:.0f} s)"))

    # acknowledged writes, on every server
    lost = set()
    sets = {}
    for sid, kids in sorted(obs.children.items()):
        if isinstance(kids, str):
            v.append(Violation("lost-write", f"server {sid}: could not read the tree: {kids}"))
            continue
        sets[sid] = kids
        missing = obs.acked - kids
        if missing:
            lost |= missing
            v.append(Violation("lost-write", f"server {sid} lacks {len(missing)} acknowledged writes: {_few(missing)}"))
        phantom = kids - obs.attempted
        if phantom:
            v.append(Violation("phantom-write", f"server {sid} holds {len(phantom)} nodes never created: {_few(phantom)}"))
        zombie = kids & set(obs.failed)
        if zombie:
            v.append(Violation("failed-present", f"server {sid} holds {len(zombie)} nodes whose create failed: "
                               + _few(f"{p} ({obs.failed[p]})" for p in zombie)))
    if obs.healed and not obs.children:
        v.append(Violation("lost-write", "no server's tree was read"))

    # replicas agree
    if not obs.converged:
        v.append(Violation("digest", "servers never reached one stable zxid: "
                           + ", ".join(f"server {s} zxid {z:#x} digest {d}" for s, (z, d) in sorted(obs.final.items()))))
    by_zxid = defaultdict(dict)
    for sid, (zxid, digest) in obs.final.items():
        by_zxid[zxid][sid] = digest
    for zxid, digests in by_zxid.items():
        if len(set(digests.values())) > 1:
            v.append(Violation("digest", f"at zxid {zxid:#x} zk_digest differs: "
                               + ", ".join(f"server {s}={d}" for s, d in sorted(digests.items()))))
    if obs.converged and len({z for z, _ in obs.final.values()}) == 1 and len(sets) > 1:
        first = next(iter(sets.values()))
        for sid, kids in sets.items():
            if kids != first:
                v.append(Violation("diverged", f"server {sid}'s children differ from server {next(iter(sets))}'s "
                                   f"({len(kids ^ first)} paths) at the same zxid"))
                break

    # one leader per epoch
    for epoch, sids in sorted(obs.leaders_sampled.items()):
        if len(sids) > 1:
            v.append(Violation("two-leaders", f"epoch {epoch}: srvr showed leaders {sorted(sids)}"))
    logged = defaultdict(set)
    for entries in obs.leading_logged.values():
        for sid, epoch, start in entries:
            logged[epoch].add((sid, start))
    for epoch, who in sorted(logged.items()):
        sids = {s for s, _ in who}
        if len(sids) > 1:
            v.append(Violation("two-leaders", f"epoch {epoch}: servers {sorted(sids)} each logged LEADING: serving"))
        for sid in sids:
            starts = sorted(st for s, st in who if s == sid)
            if len(starts) > 1:
                v.append(Violation("epoch-reused", f"server {sid} led epoch {epoch} in process starts {starts}"))
    return v, lost


# ----------------------------------------------------------------------------- self-test


def self_test():
    """Feed check() fabricated observations, good and bad; each bad one must be reported."""
    srvr_leader = "Zookeeper version: x\nLatency min/avg/max: 0/0/0\nZxid: 0x500000003\nMode: leader\nNode count: 9\n"
    srvr_follow = "Zookeeper version: x\nZxid: 0x500000001\nMode: follower\n"
    assert parse_srvr(srvr_leader) == ("leader", 0x500000003), parse_srvr(srvr_leader)
    assert parse_srvr(srvr_follow) == ("follower", 0x500000001)
    assert parse_srvr(NOT_SERVING + "\n") == (None, None)
    assert parse_srvr(None) == (None, None)
    assert parse_mntr("zk_digest\t123\nzk_server_state\tleader\n")["zk_digest"] == "123"
    log_text = (
        "\n===== start server 3 at 10:00:00 =====\n"
        "2026-01-01T00:00:00.1Z  INFO peer{sid=3}: LEADING: serving sid=3 epoch=4 since_election=1ms\n"
        "\n===== start server 3 at 10:00:05 =====\n"
        "2026-01-01T00:00:05.1Z  INFO LEADING: serving sid=3 epoch=7 since_election=2ms\n"
    )
    assert parse_leading_log(log_text) == [(3, 4, 1), (3, 7, 2)], parse_leading_log(log_text)

    def srvr_text(mode, zxid):
        return f"Zookeeper version: x\nZxid: {zxid:#x}\nMode: {mode}\nNode count: 9\n"

    def sampled(extra=()):
        book = LeaderBook()
        for sid, mode, zxid in [(3, "leader", 0x400000001), (1, "follower", 0x400000001),
                                (1, "leader", 0x500000000), (3, "follower", 0x500000002),
                                (2, None, 0), (3, "leader", 0x700000010), *extra]:
            book.record(sid, srvr_text(mode, zxid) if mode else NOT_SERVING)
        return {e: set(s) for e, s in book.leaders.items()}

    assert sampled() == {4: {3}, 5: {1}, 7: {3}}, sampled()
    paths = {f"{ROOT}/w1/n{i:07d}" for i in range(10)}

    def good():
        return Observations(
            attempted=set(paths) | {f"{ROOT}/w1/unknown"},
            acked=set(paths),
            children={s: set(paths) | {f"{ROOT}/w1/unknown"} for s in range(1, 6)},
            final={s: (0x700000010, 42) for s in range(1, 6)},
            leaders_sampled=sampled(),
            leading_logged={3: parse_leading_log(log_text), 1: [(1, 5, 1)]},
        )

    cases = []

    def case(name, expect, mutate):
        cases.append((name, expect, mutate))

    one = sorted(paths)[3]
    case("baseline (nothing wrong)", None, lambda o: None)
    case("an acknowledged write lost on one server", "lost-write", lambda o: o.children[2].discard(one))
    case("an acknowledged write lost everywhere", "lost-write",
         lambda o: [o.children[s].discard(one) for s in o.children])
    case("a server's tree unreadable", "lost-write", lambda o: o.children.__setitem__(4, "ConnectionLoss"))
    case("no tree read at all", "lost-write", lambda o: o.children.clear())
    case("a node nobody created", "phantom-write", lambda o: o.children[5].add(f"{ROOT}/w2/n9999999"))
    case("a failed create present", "failed-present", lambda o: o.failed.__setitem__(f"{ROOT}/w1/unknown", "BadVersion"))
    case("two leaders in one epoch (srvr)", "two-leaders",
         lambda o: setattr(o, "leaders_sampled", sampled([(2, "leader", 0x500000007)])))
    case("two leaders in one epoch (logs)", "two-leaders", lambda o: o.leading_logged.__setitem__(2, [(2, 7, 1)]))
    case("one server leads an epoch in two starts", "epoch-reused",
         lambda o: o.leading_logged[1].append((1, 5, 2)))
    case("digests differ at one zxid", "digest", lambda o: o.final.__setitem__(4, (0x700000010, 43)))
    case("zxids never converge", "digest",
         lambda o: (o.final.__setitem__(2, (0x700000009, 41)), setattr(o, "converged", False)))
    case("children differ at one zxid", "diverged", lambda o: o.children[1].add(f"{ROOT}/w1/unknown2")
         or o.attempted.add(f"{ROOT}/w1/unknown2"))
    case("ensemble never healed", "not-healed", lambda o: setattr(o, "healed", False))
    case("storm kill never healed", "storm-stuck", lambda o: o.storm_stuck.append("kill 3: not healed"))
    case("a server crashed", "crash", lambda o: o.crashes.append((2, 101)))
    case("SIGTERM hung", "term-hang", lambda o: o.term_hangs.append(1))
    case("impossible writer error", "writer-error", lambda o: o.writer_errors.append("NodeExistsError on /x"))
    case("writes stalled", "stall", lambda o: setattr(o, "max_stall", 45.0))

    failures = 0
    for name, expect, mutate in cases:
        obs = good()
        mutate(obs)
        found, _ = check(obs)
        kinds = {x.kind for x in found}
        if expect is None:
            ok = not found
        else:
            ok = expect in kinds
        failures += not ok
        shown = "; ".join(str(x) for x in found) or "no violations"
        print(f"{'ok  ' if ok else 'FAIL'} {name}: expected {expect or 'none'}; got {shown}")
    # the lost count in the summary comes from check() too
    obs = good()
    obs.children[2].discard(one)
    _, lost = check(obs)
    if lost != {one}:
        failures += 1
        print(f"FAIL lost-write count: {lost}")
    else:
        print("ok   lost writes are counted: 1")
    print(f"self-test: {len(cases) + 1 - failures}/{len(cases) + 1} passed")
    return 0 if failures == 0 else 1


# ----------------------------------------------------------------------------- ensemble + proxy


class ChaosEnsemble(Ensemble):
    """zk_ensemble's launcher with server-to-server traffic routed through the proxy."""

    def __init__(self, tick_ms, base_dir):
        self._proxy_ports = None
        super().__init__(impl="zabd", size=SIZE, base_dir=base_dir, tick_ms=tick_ms)

    def _alloc_proxy_ports(self):
        taken = set(self.client_port.values()) | set(self.quorum_port.values()) | set(self.election_port.values())
        pairs = [(a, b) for a in self.ids for b in self.ids if a != b]
        while True:
            ports = free_ports(2 * len(pairs))
            if not taken & set(ports):
                break
        self._proxy_ports = {p: (ports[2 * k], ports[2 * k + 1]) for k, p in enumerate(pairs)}

    def peer_ports(self, i, j):
        if i == j:
            return self.quorum_port[j], self.election_port[j]
        if self._proxy_ports is None:
            self._alloc_proxy_ports()
        return self._proxy_ports[(i, j)]

    def routes(self):
        out = []
        for (a, b), (q, e) in sorted(self._proxy_ports.items()):
            out.append({"listen": q, "target": self.quorum_port[b], "pair": [a, b], "name": f"{a}->{b} quorum"})
            out.append({"listen": e, "target": self.election_port[b], "pair": [a, b], "name": f"{a}->{b} election"})
        return out


class ProxyControl:
    def __init__(self, ens: ChaosEnsemble):
        spec = os.path.join(ens.dir, "proxy.json")
        with open(spec, "w") as f:
            json.dump({"routes": ens.routes()}, f, indent=1)
        self.errlog = open(os.path.join(ens.dir, "proxy.log"), "ab")
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(REPO, "scripts", "chaos_proxy.py"), spec],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.errlog,
            text=True,
            preexec_fn=zk_ensemble._die_with_parent,
        )
        self.lock = threading.Lock()
        line = self.proc.stdout.readline()
        if line.strip() != "READY":
            raise EnsembleError(f"proxy did not start (said {line!r}); see {ens.dir}/proxy.log")

    def command(self, **cmd):
        with self.lock:
            self.proc.stdin.write(json.dumps(cmd) + "\n")
            self.proc.stdin.flush()
            answer = json.loads(self.proc.stdout.readline())
        if not answer.get("ok"):
            raise EnsembleError(f"proxy refused {cmd}: {answer}")
        return answer

    def close(self):
        try:
            self.proc.stdin.close()
            self.proc.wait(5)
        except Exception:
            self.proc.kill()
        self.errlog.close()


# ----------------------------------------------------------------------------- sampler


class LeaderBook:
    """What the srvr samples say: epoch -> servers that answered `Mode: leader` with a Zxid of
    that epoch, every epoch seen, and each server's latest answer."""

    def __init__(self):
        self.lock = threading.Lock()
        self.leaders = defaultdict(set)
        self.epochs = set()
        self.latest = {}  # sid -> (mode, epoch, monotonic time)
        self.samples = 0

    def record(self, sid, text, now=None):
        mode, zxid = parse_srvr(text)
        now = time.monotonic() if now is None else now
        with self.lock:
            self.samples += 1
            if mode and zxid is not None:
                epoch = zxid >> 32
                self.epochs.add(epoch)
                if mode == "leader":
                    self.leaders[epoch].add(sid)
                self.latest[sid] = (mode, epoch, now)
            else:
                self.latest[sid] = (None, None, now)


class Sampler(LeaderBook):
    """One thread per server polls `srvr` every SAMPLE_INTERVAL into the LeaderBook."""

    def __init__(self, ens):
        super().__init__()
        self.ens = ens
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in ens.ids]

    def start(self):
        for t in self.threads:
            t.start()

    def _run(self, sid):
        port = self.ens.client_port[sid]
        while not self.stop.is_set():
            t0 = time.monotonic()
            self.record(sid, four_letter("srvr", port, timeout=0.5))
            self.stop.wait(max(0.0, SAMPLE_INTERVAL - (time.monotonic() - t0)))

    def current_leader(self):
        """The sid that most recently claimed leadership of the newest epoch, if any."""
        with self.lock:
            best = None
            for sid, (mode, epoch, _) in self.latest.items():
                if mode == "leader" and (best is None or epoch > best[0]):
                    best = (epoch, sid)
            return best[1] if best else None

    def close(self):
        self.stop.set()
        for t in self.threads:
            t.join(2)


# ----------------------------------------------------------------------------- writers

UNKNOWN_ERRORS = (
    "ConnectionLoss",
    "ConnectionLossException",
    "SessionExpiredError",
    "ConnectionClosedError",
    "KazooTimeoutError",
    "OperationTimeoutError",
    "SessionMovedError",
    "ConnectionDropped",
)


class Writer:
    def __init__(self, ens, sid, op_timeout, session_timeout, kazoo_log):
        from kazoo.client import KazooClient

        self.sid = sid
        self.base = f"{ROOT}/w{sid}"
        self.op_timeout = op_timeout
        self.client = KazooClient(
            hosts=ens.address(sid),
            timeout=session_timeout,
            connection_retry={"max_tries": -1, "delay": 0.05, "backoff": 1.5, "max_delay": 0.5, "max_jitter": 0.1},
            logger=kazoo_log,
        )
        self.seq = 0
        self.start_time = 0.0
        self.attempted = set()
        self.acked = []
        self.failed = {}
        self.unknown = Counter()  # error name -> count
        self.impossible = []
        self.last_ack = time.monotonic()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self.client.start(timeout=30)
        self.client.ensure_path(self.base)
        self.last_ack = time.monotonic()
        self.thread.start()

    def _run(self):
        from kazoo.exceptions import NoNodeError, NodeExistsError

        while not self.stop.is_set():
            path = f"{self.base}/n{self.seq:07d}"
            self.seq += 1
            self.attempted.add(path)
            try:
                self.client.create_async(path, f"{self.sid}:{self.seq}".encode()).get(timeout=self.op_timeout)
            except (NodeExistsError, NoNodeError) as err:
                self.impossible.append(f"writer {self.sid}: create {path}: {type(err).__name__}")
                self.failed[path] = type(err).__name__
                self.stop.wait(0.05)
                continue
            except Exception as err:  # noqa: BLE001 - sorted below
                name = type(err).__name__
                if name == "KazooTimeoutError":
                    log(f"note: writer {self.sid}: create {path} got no reply in {self.op_timeout:.0f} s "
                        f"(client state {self.client.state}); counted as unknown")
                if name in UNKNOWN_ERRORS:
                    self.unknown[name] += 1
                else:  # an error reply: the create did not happen, say the server
                    self.failed[path] = name
                self.stop.wait(0.05)
                continue
            self.acked.append(path)
            self.last_ack = time.monotonic()

    def finish(self):
        self.stop.set()
        self.thread.join(self.op_timeout + 5)
        try:
            self.client.stop()
            self.client.close()
        except Exception:
            pass


# ----------------------------------------------------------------------------- the run


@dataclass
class Fault:
    kind: str
    servers: frozenset  # what it impairs (counts against MAX_IMPAIRED)
    heal_at: float
    target: int = 0
    pairs: list = field(default_factory=list)
    mode: str = ""
    term_sent: float = 0.0
    exited_at: float = 0.0  # when a SIGTERMed server was first seen gone


class Chaos:
    def __init__(self, args):
        self.args = args
        self.rng = random.Random(args.seed)
        self.dir = tempfile.mkdtemp(prefix="chaos-zabd-")
        self.ens = ChaosEnsemble(args.tick, self.dir)
        self.proxy = None
        self.sampler = None
        self.writers = []
        self.faults = []  # active
        self.injected = Counter()
        self.obs = Observations(stall_limit=args.max_stall)
        self.storm_heal = []
        self.storm_elect = []
        self.storm_same = 0
        self.term_times = []
        self.term_codes = Counter()
        kazoo_log = logging.getLogger("chaos.kazoo")
        kazoo_log.propagate = False
        kazoo_log.addHandler(logging.FileHandler(os.path.join(self.dir, "kazoo.log")))
        kazoo_log.setLevel(logging.INFO)
        self.kazoo_log = kazoo_log

    # -- setup / teardown

    def setup(self):
        log(f"dir {self.dir}; binary {zk_ensemble.zabd_binary()}; tickTime {self.args.tick} ms")
        self.proxy = ProxyControl(self.ens)
        self.ens.start_all(timeout=30)
        self.sampler = Sampler(self.ens)
        self.sampler.start()
        from kazoo.client import KazooClient

        boot = KazooClient(hosts=self.ens.hosts(), timeout=5, logger=self.kazoo_log)
        boot.start(timeout=30)
        boot.ensure_path(ROOT)
        boot.stop()
        boot.close()
        session_timeout = max(2.0, 20 * self.args.tick / 1000)
        for sid in self.ens.ids:
            w = Writer(self.ens, sid, self.args.op_timeout, session_timeout, self.kazoo_log)
            w.start()
            self.writers.append(w)
        log(f"5 voters serving (modes {self.ens.modes()}); {len(self.writers)} writers started")

    def teardown(self, keep):
        for w in self.writers:
            if not w.stop.is_set():
                w.finish()
        if self.sampler:
            self.sampler.close()
        try:
            self.ens.stop_all()
        except Exception:
            pass
        if self.proxy:
            self.proxy.close()
        if keep:
            log(f"kept {self.dir} (zooN.cfg, dataN/, serverN.log, proxy.json, kazoo.log)")
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    # -- liveness bookkeeping

    def watch(self):
        for f in self.faults:
            if f.kind == "sigterm" and not f.exited_at and self.ens.procs[f.target].poll() is not None:
                f.exited_at = time.monotonic()
        for sid, code in self.ens.unexpected_exits():
            log(f"!! server {sid} exited on its own with code {code}")
            self.obs.crashes.append((sid, code))
            self.ens.kill(sid)  # reap
            if not any(f.target == sid and f.kind in ("kill9", "sigterm") for f in self.faults):
                self.ens.start(sid)  # keep the run going; the crash is already a violation
        newest = max(w.last_ack for w in self.writers)
        self.obs.max_stall = max(self.obs.max_stall, time.monotonic() - newest)

    # -- faults

    def impaired(self):
        out = set()
        for f in self.faults:
            out |= f.servers
        return out

    def process_busy(self):
        return {f.target for f in self.faults if f.kind in ("kill9", "sigstop", "sigterm")}

    def crash_majority(self):
        """Opt-in (--majority-crashes): kill -9 3 or all 5 servers in the same instant, then
        start them all again at once: a power cut. Acknowledged writes were fsynced by a quorum,
        so they must survive; a server that ACKs before its log is on disk loses them."""
        victims = sorted(self.rng.sample(self.ens.ids, self.rng.choice([3, 5])))
        for i in victims:
            self.ens.procs[i]._zk_expected_exit = True
            os.kill(self.ens.pid(i), signal.SIGKILL)
        for i in victims:
            self.ens.kill(i)
        for i in victims:
            self.ens.start(i)
        self.injected["crash-majority"] += 1
        log(f"fault {sum(self.injected.values())}: kill -9 servers {victims} at once, restarted at once")

    def inject(self):
        if self.args.majority_crashes and not self.faults and self.rng.random() < 0.15:
            return self.crash_majority()
        impaired = self.impaired()
        room = MAX_IMPAIRED - len(impaired)
        kind = self.rng.choices(FAULT_KINDS, FAULT_WEIGHTS)[0]
        duration = self.rng.uniform(0.3, 4.0)
        now = time.monotonic()
        leader = self.sampler.current_leader()

        def pick(candidates):
            candidates = sorted(candidates)
            if not candidates:
                return None
            if leader in candidates and self.rng.random() < 0.4:
                return leader
            return self.rng.choice(candidates)

        if kind in ("kill9", "sigstop", "sigterm"):
            free = set(self.ens.ids) - self.process_busy()
            if room < 1:
                free &= impaired  # may only stack on an already impaired server
            target = pick(free)
            if target is None:
                return
            f = Fault(kind, frozenset([target]), now + duration, target=target)
            if kind == "kill9":
                self.ens.kill(target)
            elif kind == "sigstop":
                self.ens.sigstop(target)
            else:
                p = self.ens.procs[target]
                p._zk_expected_exit = True
                p.send_signal(signal.SIGTERM)
                f.term_sent = now
            desc = f"{kind} server {target}{' (leader)' if target == leader else ''}"
        elif kind == "partition":
            size = self.rng.choice([1, 2])
            # the minority side: must fit the budget together with what is impaired already
            options = [c for c in itertools.combinations(self.ens.ids, size) if len(impaired | set(c)) <= MAX_IMPAIRED]
            if not options:
                return
            if leader and self.rng.random() < 0.4:
                with_leader = [o for o in options if leader in o]
                options = with_leader or options
            side = set(self.rng.choice(options))
            pairs = [[a, b] for a in sorted(side) for b in self.ens.ids if b not in side]
            mode = self.rng.choice(["reset", "blackhole"])
            self.proxy.command(cmd="cut", pairs=pairs, mode=mode)
            f = Fault(kind, frozenset(side), now + duration, pairs=pairs, mode=mode)
            desc = f"partition {sorted(side)} | {sorted(set(self.ens.ids) - side)} ({mode})"
        else:  # link
            a, b = sorted(self.rng.sample(self.ens.ids, 2))
            if a in impaired:
                cost = {a}
            elif b in impaired:
                cost = {b}
            else:
                cost = {self.rng.choice([a, b])}
            if len(impaired | cost) > MAX_IMPAIRED:
                return
            mode = self.rng.choice(["reset", "blackhole"])
            self.proxy.command(cmd="cut", pairs=[[a, b]], mode=mode)
            f = Fault(kind, frozenset(cost), now + duration, pairs=[[a, b]], mode=mode)
            desc = f"cut link {a}-{b} ({mode})"
        self.faults.append(f)
        self.injected[kind] += 1
        log(f"fault {sum(self.injected.values())}: {desc} for {duration:.1f} s; impaired now {sorted(self.impaired())}")

    def heal_fault(self, f, force=False):
        """Try to end fault f; returns True when it is over."""
        if f.kind == "kill9":
            self.ens.start(f.target)
        elif f.kind == "sigstop":
            self.ens.sigcont(f.target)
        elif f.kind == "sigterm":
            p = self.ens.procs[f.target]
            if p.poll() is None:
                left = TERM_TIMEOUT - (time.monotonic() - f.term_sent)
                if left > 0 and not force:
                    return False  # still stopping gracefully: wait
                try:
                    p.wait(max(0.0, left))
                except subprocess.TimeoutExpired:
                    pass
                if p.poll() is None:
                    log(f"!! server {f.target} still running {TERM_TIMEOUT:.0f} s after SIGTERM")
                    self.obs.term_hangs.append(f.target)
            if p.poll() is not None:
                took = (f.exited_at or time.monotonic()) - f.term_sent
                self.term_times.append(took)
                self.term_codes[p.returncode] += 1
                log(f"server {f.target} exited {1000 * took:.0f} ms after SIGTERM, code {p.returncode}")
            self.ens.kill(f.target)
            self.ens.start(f.target)
        else:
            self.proxy.command(cmd="heal", pairs=f.pairs)
        return True

    def heal_due(self, force=False):
        now = time.monotonic()
        for f in list(self.faults):
            if (force or now >= f.heal_at) and self.heal_fault(f, force=force):
                self.faults.remove(f)

    def run_faults(self):
        log(f"random faults for {self.args.duration:.0f} s (seed {self.args.seed})")
        end = time.monotonic() + self.args.duration
        next_fault = time.monotonic() + self.rng.uniform(0.2, 1.0)
        while time.monotonic() < end:
            self.heal_due()
            self.watch()
            if time.monotonic() >= next_fault:
                self.inject()
                next_fault = time.monotonic() + self.rng.uniform(0.2, self.args.fault_gap)
            time.sleep(0.02)
        self.heal_due(force=True)  # heal the rest (waits out graceful stops in progress)
        self.watch()

    # -- storm

    def srvr_all(self):
        out = {}
        for i in self.ens.ids:
            out[i] = parse_srvr(four_letter("srvr", self.ens.client_port[i], timeout=1.0))
        return out

    def wait_healthy_after(self, old_epoch, deadline):
        """Wait until all serve in one epoch > old_epoch with one leader: (leader, epoch, t)."""
        elected_at = None
        while time.monotonic() < deadline:
            states = self.srvr_all()
            now = time.monotonic()
            epochs = {z >> 32 for m, z in states.values() if m and z is not None}
            leaders = [i for i, (m, z) in states.items() if m == "leader" and z is not None and z >> 32 > old_epoch]
            if leaders and elected_at is None:
                elected_at = now
            if (
                all(m for m, _ in states.values())
                and len(epochs) == 1
                and next(iter(epochs)) > old_epoch
                and [m for m, _ in states.values()].count("leader") == 1
            ):
                return leaders[0], next(iter(epochs)), now, elected_at or now
            self.watch()
            time.sleep(0.005)
        return None

    def run_storm(self):
        n = self.args.leader_kill_storm
        log(f"leader-kill storm: {n} kills")
        for k in range(1, n + 1):
            ready = self.wait_healthy_after(-1, time.monotonic() + self.args.heal_timeout)
            if ready is None:
                self.obs.storm_stuck.append(f"before kill {k}: ensemble not healthy: {self.srvr_all()}")
                log(f"!! storm: not healthy before kill {k}")
                return
            leader, epoch, _, _ = ready
            time.sleep(self.args.storm_pause)  # let writes flow on the healthy ensemble
            t0 = time.monotonic()
            self.ens.kill(leader)
            self.ens.start(leader)
            done = self.wait_healthy_after(epoch, t0 + self.args.heal_timeout)
            self.injected["storm-kill9"] += 1
            if done is None:
                what = f"kill {k} of leader {leader} (epoch {epoch}): not healed in {self.args.heal_timeout:.0f} s: {self.srvr_all()}"
                self.obs.storm_stuck.append(what)
                log(f"!! storm: {what}")
                return
            new_leader, new_epoch, t1, te = done
            self.storm_heal.append(t1 - t0)
            self.storm_elect.append(te - t0)
            self.storm_same += new_leader == leader
            log(f"storm kill {k}/{n}: leader {leader} epoch {epoch} -> leader {new_leader} epoch {new_epoch}; "
                f"new leader serving after {1000 * (te - t0):.0f} ms, all 5 healthy after {1000 * (t1 - t0):.0f} ms")

    # -- end

    def finish(self):
        log("healing everything")
        self.heal_due(force=True)
        self.proxy.command(cmd="heal_all")
        try:
            self.ens.heal(timeout=self.args.heal_timeout)
        except EnsembleError as err:
            self.obs.healed = False
            self.obs.heal_detail = str(err).splitlines()[0]
            log(f"!! not healed: {err}")
        self.watch()
        time.sleep(1.0)  # a few writes on the healed ensemble
        for w in self.writers:
            w.stop.set()
        for w in self.writers:
            w.finish()
        self.watch()
        for w in self.writers:
            self.obs.attempted |= w.attempted
            self.obs.acked |= set(w.acked)
            self.obs.failed.update(w.failed)
            self.obs.writer_errors += w.impossible
        if self.obs.healed:
            self.read_trees()
            self.compare_digests()
        self.sampler.close()
        with self.sampler.lock:
            self.obs.leaders_sampled = {e: set(s) for e, s in self.sampler.leaders.items()}
        for i in self.ens.ids:
            try:
                with open(self.ens.log_path(i), encoding="utf-8", errors="replace") as f:
                    self.obs.leading_logged[i] = parse_leading_log(f.read())
            except OSError:
                self.obs.leading_logged[i] = []
        self.obs.crashes = list(dict.fromkeys(self.obs.crashes))

    def read_trees(self):
        from kazoo.client import KazooClient

        for i in self.ens.ids:
            client = KazooClient(hosts=self.ens.address(i), timeout=10, logger=self.kazoo_log)
            try:
                client.start(timeout=30)
                client.sync(ROOT)
                kids = set()
                for w in client.get_children(ROOT):
                    base = f"{ROOT}/{w}"
                    kids |= {f"{base}/{c}" for c in client.get_children(base)}
                self.obs.children[i] = kids
            except Exception as err:  # noqa: BLE001
                self.obs.children[i] = f"{type(err).__name__}: {err}"
            finally:
                try:
                    client.stop()
                    client.close()
                except Exception:
                    pass

    def compare_digests(self):
        """Wait until every server reports one zxid twice in a row (srvr, mntr, srvr) and take
        each server's zk_digest at that zxid."""
        deadline = time.monotonic() + 30
        while True:
            final = {}
            stable = True
            for i in self.ens.ids:
                port = self.ens.client_port[i]
                _, z1 = parse_srvr(four_letter("srvr", port))
                m = parse_mntr(four_letter("mntr", port))
                _, z2 = parse_srvr(four_letter("srvr", port))
                if z1 is None or z1 != z2 or "zk_digest" not in m:
                    stable = False
                    final[i] = (z2 if z2 is not None else -1, m.get("zk_digest"))
                else:
                    final[i] = (z1, m["zk_digest"])
            zxids = {z for z, _ in final.values()}
            if stable and len(zxids) == 1:
                self.obs.final = final
                self.obs.converged = True
                return
            if time.monotonic() > deadline:
                self.obs.final = {i: (z, d) for i, (z, d) in final.items() if d is not None}
                self.obs.converged = False
                return
            time.sleep(0.2)

    def report(self):
        violations, lost = check(self.obs)
        unknown = Counter()
        for w in self.writers:
            unknown.update(w.unknown)
        first = next((k for k in self.obs.children.values() if not isinstance(k, str)), set())
        unknown_paths = self.obs.attempted - self.obs.acked - set(self.obs.failed)
        print()
        print(f"seed: {self.args.seed}")
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(self.injected.items())) or "none"
        print(f"faults injected: {sum(self.injected.values())} ({kinds})")
        if self.term_times:
            print(f"graceful stops: {len(self.term_times)}, exit after SIGTERM median "
                  f"{1000 * statistics.median(self.term_times):.0f} ms, max {1000 * max(self.term_times):.0f} ms; "
                  f"exit codes {dict(self.term_codes)}")
        print(f"writes acknowledged: {len(self.obs.acked)} (per server: "
              + ", ".join(f"{w.sid}: {len(w.acked)}" for w in self.writers) + ")")
        print(f"writes with unknown outcome: {len(unknown_paths)} ({', '.join(f'{k} {v}' for k, v in sorted(unknown.items())) or 'none'}); "
              f"present afterwards: {len(unknown_paths & first)}")
        if self.obs.failed:
            print(f"writes refused with an error: {len(self.obs.failed)} ({dict(Counter(self.obs.failed.values()))})")
        print(f"writes lost: {len(lost)}")
        print(f"longest time without an acknowledged write: {self.obs.max_stall:.2f} s")
        logged_epochs = {e for entries in self.obs.leading_logged.values() for _, e, _ in entries}
        with self.sampler.lock:
            sampled = set(self.sampler.epochs)
            samples = self.sampler.samples
        print(f"epochs seen: {len(sampled | logged_epochs)} (srvr samples {samples}: epochs "
              f"{min(sampled, default=0)}..{max(sampled, default=0)}, {len(sampled)} distinct; "
              f"leaders logged for {len(logged_epochs)} epochs)")
        if self.storm_heal:
            h = self.storm_heal
            e = self.storm_elect
            print(f"leader-kill storm: {len(h)} kills; time to heal (kill -> all 5 serving, one leader, new epoch) "
                  f"median {1000 * statistics.median(h):.0f} ms, max {1000 * max(h):.0f} ms; "
                  f"new leader serving median {1000 * statistics.median(e):.0f} ms, max {1000 * max(e):.0f} ms; "
                  f"killed leader re-elected {self.storm_same}/{len(h)}")
        try:
            st = self.proxy.command(cmd="stats")
            print(f"proxy: {st['connections']} server-to-server connections, {st['bytes']} bytes forwarded, "
                  f"{st['refused']} connections refused while cut")
        except Exception:
            pass
        if self.obs.final:
            z = {zx for zx, _ in self.obs.final.values()}
            d = {dg for _, dg in self.obs.final.values()}
            print(f"final zxid {', '.join(hex(x) for x in sorted(z))}; digests {sorted(d)}")
        for v in violations:
            print(v)
        print("RESULT:", "PASS" if not violations else f"FAIL ({len(violations)} violations)")
        return violations


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=None,
                        help="seconds of random faults (default 60, or 0 with --leader-kill-storm)")
    parser.add_argument("--seed", type=int, default=None, help="RNG seed (default: random, printed)")
    parser.add_argument("--leader-kill-storm", type=int, default=0, metavar="N",
                        help="then kill -9 the leader N times in a row, healing in between")
    parser.add_argument("--tick", type=int, default=100, help="tickTime in ms (default 100)")
    parser.add_argument("--fault-gap", type=float, default=1.5,
                        help="max seconds between fault injections (uniform from 0.2)")
    parser.add_argument("--op-timeout", type=float, default=10.0,
                        help="a create with no reply after this many seconds counts as unknown")
    parser.add_argument("--heal-timeout", type=float, default=60.0,
                        help="seconds the ensemble gets to serve with one leader after healing")
    parser.add_argument("--max-stall", type=float, default=30.0,
                        help="violation if no write is acknowledged for this long")
    parser.add_argument("--majority-crashes", action="store_true",
                        help="also (opt-in) kill -9 3 or 5 servers at the same instant, restarting them at once")
    parser.add_argument("--storm-pause", type=float, default=0.5,
                        help="seconds of writes on the healthy ensemble between storm kills")
    parser.add_argument("--keep-dir", action="store_true", help="keep the temporary directory on success too")
    parser.add_argument("--self-test", action="store_true", help="check the checker on fabricated observations")
    args = parser.parse_args(argv)
    if args.self_test:
        return self_test()
    if args.duration is None:
        args.duration = 0.0 if args.leader_kill_storm else 60.0
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(1, 2**31)
    log(f"chaos: seed {args.seed}, duration {args.duration:.0f} s, leader-kill storm {args.leader_kill_storm}")

    chaos = Chaos(args)
    violations = None
    try:
        chaos.setup()
        if args.duration > 0:
            chaos.run_faults()
        if args.leader_kill_storm:
            chaos.heal_due(force=True)
            chaos.run_storm()
        chaos.finish()
        violations = chaos.report()
    except EnsembleError as err:
        log(f"setup error: {err}")
        chaos.teardown(keep=True)
        return 2
    except KeyboardInterrupt:
        chaos.teardown(keep=True)
        return 130
    if violations:
        print("\n--- server log tails ---")
        print(chaos.ens.log_tails(15))
    chaos.teardown(keep=bool(violations) or args.keep_dir)
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
