#!/usr/bin/env python3
"""Leader-election benchmark for zabd, with ZooKeeper's settings and next to its figures.

Runs real zabd processes on 127.0.0.1 (zoo.cfg with tickTime=2000, initLimit=10, syncLimit=5,
data in a temporary directory) for ensembles of 3, 5 and 7 voters and of 3 voters + 1 observer,
and measures:

  * cold start: from spawning every process (back to back) to a stable ensemble (every server
    serving, exactly one leader, one epoch);
  * failover: from just before SIGKILL of the leader to the moment the last survivor is first
    observed serving under the new leader (see SERVING_DEFINITION); for 3+1 also the observer's
    own recovery and the voters' alone;
  * election alone: `took=` of the survivors' `election decided` log lines (max over survivors);
  * notifications sent/received per election (delta of the survivors' mntr counters, summed) and
    `rounds=` of the log lines;
  * restart rejoin: restart the killed server, time until it serves as follower, whether the
    leader changed (must not) and whether its log says `joined_established=true`;
  * VmRSS of idle servers.

Standard library only. Usage: scripts/bench_election.py [--bin PATH] [--runs N] [--quick]
[--markdown FILE] [--keep-logs DIR]. See --help.
"""

from __future__ import annotations

import argparse
import atexit
import os
import platform
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SERVING_DEFINITION = (
    "A survivor counts as serving when its `srvr` four-letter word (a new TCP connection per "
    "query) answers `Mode: leader`, `Mode: follower` or `Mode: observer` with an epoch "
    "(`Zxid` >> 32) greater than the killed leader's epoch. Failover time runs from just before "
    "`os.kill(leader, SIGKILL)` to the reply in which the last survivor is first seen serving, "
    "provided that at that moment all survivors serve in the same epoch with exactly one of them "
    "leader (the time of each survivor is the first reply of its final mode and epoch). Every "
    "survivor is polled by its own thread, about 1 ms between polls, so the figures include up "
    "to ~1.5 ms of polling resolution."
)

# ZooKeeper 3.8.0 on this machine kind (reference section 8).
ZK_REF = {
    "3": {"cold": "1.5 s", "failover": "390 ms", "election": "218 ms", "rss": "79-80 MiB",
          "rejoin": "0.6-0.8 s"},
    "5": {"cold": "2.5 s", "failover": "426 ms", "election": "247 ms", "rss": "79-80 MiB",
          "rejoin": "0.6-0.8 s"},
    "7": {"cold": "3.9 s", "failover": "527 ms", "election": "294 ms", "rss": "79-80 MiB",
          "rejoin": "0.6-0.8 s"},
    "3+1": {"cold": "2.2 s", "failover": "846 ms (observer last)", "observer": "846 ms",
            "election": "221 ms", "rss": "79-80 MiB", "rejoin": "0.6-0.8 s"},
}

# Targets from our issue: (statistic compared, limit, unit). Missing entry = no target.
TARGETS = {
    ("3", "failover"): ("median", 100.0),
    ("5", "failover"): ("median", 150.0),
    ("7", "failover"): ("median", 150.0),
    ("3+1", "observer"): ("median", 150.0),
    ("3", "cold"): ("median", 300.0),
    ("3", "rss"): ("max", 10.0),
    ("5", "rss"): ("max", 10.0),
    ("7", "rss"): ("max", 10.0),
    ("3+1", "rss"): ("max", 10.0),
}

STALL_MS = 1000.0  # a failover or rejoin at least this long is reported as an anomaly
SLOW_ELECTION_MS = 100.0  # an election (took=) at least this long is reported as an anomaly
SLOW_SYNC_MS = 100.0  # election decided -> serving at least this long: reported too

NOT_SERVING = "This ZooKeeper instance is not currently serving requests"

# ---------------------------------------------------------------------------------------------
# Child process bookkeeping: every child is killed at exit, whatever happens.

_CHILDREN: list[subprocess.Popen] = []
_TEMPDIRS: list[str] = []
# If this script dies without cleaning up (even by SIGKILL), a watchdog process kills the
# children: it reads "+pid"/"-pid" lines on a pipe from us and, at end of file, SIGKILLs every pid
# still listed whose command line names our temporary directory. (Cheaper than a preexec_fn,
# which makes every spawn a full fork and slows cold starts down measurably.)
_WATCHDOG_SRC = r"""
import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.signal(signal.SIGHUP, signal.SIG_IGN)
mark = sys.argv[1].encode()
pids = set()
for line in sys.stdin:
    line = line.strip()
    if line[:1] == "+":
        pids.add(int(line[1:]))
    elif line[:1] == "-":
        pids.discard(int(line[1:]))
for pid in pids:
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            if mark in f.read():
                os.kill(pid, signal.SIGKILL)
    except OSError:
        pass
"""
_watchdog: subprocess.Popen | None = None


def _start_watchdog(mark: str):
    global _watchdog
    _watchdog = subprocess.Popen([sys.executable, "-c", _WATCHDOG_SRC, mark],
                                 stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                 start_new_session=True, text=True)


def _watch_pid(pid: int, add: bool):
    if _watchdog is not None and _watchdog.stdin is not None:
        try:
            _watchdog.stdin.write(("+" if add else "-") + f"{pid}\n")
            _watchdog.stdin.flush()
        except OSError:
            pass


def _kill_all_children():
    for p in _CHILDREN:
        if p.poll() is None:
            try:
                p.kill()
            except OSError:
                pass
    for p in _CHILDREN:
        try:
            p.wait(timeout=5)
        except Exception:
            pass
    _CHILDREN.clear()


def _forget(p: subprocess.Popen):
    """A reaped child: no longer ours to kill."""
    if p in _CHILDREN:
        _CHILDREN.remove(p)
    _watch_pid(p.pid, False)


def _cleanup():
    global _watchdog
    _kill_all_children()
    if _watchdog is not None:
        try:
            _watchdog.stdin.close()
            _watchdog.wait(timeout=5)
        except Exception:
            pass
        _watchdog = None
    for d in _TEMPDIRS:
        shutil.rmtree(d, ignore_errors=True)
    _TEMPDIRS.clear()


def _on_signal(signum, _frame):
    raise SystemExit(128 + signum)


atexit.register(_cleanup)

# ---------------------------------------------------------------------------------------------
# Four-letter words


def four_letter(port: int, word: str, timeout: float = 0.5) -> str | None:
    """Send a four-letter word on a new connection; the whole answer, or None if unreachable."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(word.encode())
            chunks = []
            while True:
                b = s.recv(65536)
                if not b:
                    break
                chunks.append(b)
            return b"".join(chunks).decode("utf-8", "replace")
    except OSError:
        return None


_MODE_RE = re.compile(r"^Mode: (\S+)", re.M)
_ZXID_RE = re.compile(r"^Zxid: 0x([0-9a-fA-F]+)", re.M)


def parse_srvr(text: str | None) -> tuple[str, int | None]:
    """(mode, epoch): mode is leader/follower/observer/standalone, 'not-serving' or 'down'."""
    if text is None:
        return ("down", None)
    if NOT_SERVING in text:
        return ("not-serving", None)
    m = _MODE_RE.search(text)
    z = _ZXID_RE.search(text)
    if not m:
        return ("unknown", None)
    epoch = (int(z.group(1), 16) >> 32) if z else None
    return (m.group(1), epoch)


def mntr(port: int) -> dict[str, str]:
    text = four_letter(port, "mntr", timeout=2.0) or ""
    out = {}
    for line in text.splitlines():
        if "\t" in line:
            k, v = line.split("\t", 1)
            out[k] = v
    return out


def mntr_int(d: dict[str, str], key: str) -> int | None:
    try:
        return int(d[key])
    except (KeyError, ValueError):
        return None


def append_counter_deltas(before, after, servers, pairs):
    """For each (mntr key, list) in `pairs`, append the key's growth from `before` to `after`
    summed over `servers` (skipped when any server lacks the key)."""
    for key, lst in pairs:
        vals = [(mntr_int(after[s], key), mntr_int(before[s], key)) for s in servers]
        if all(a is not None and b is not None for a, b in vals):
            lst.append(sum(a - b for a, b in vals))


SERVING_MODES = ("leader", "follower", "observer")


def stop_pollers(pollers: dict) -> None:
    """Stop every poller thread, then wait for all of them (stopping all first lets them
    finish their last request in parallel)."""
    for p in pollers.values():
        p.stop()
    for p in pollers.values():
        p.join()


class Poller(threading.Thread):
    """Polls one server's srvr in a loop; records when its (mode, epoch) last changed."""

    def __init__(self, sid: int, port: int, interval: float):
        super().__init__(daemon=True, name=f"poll-{sid}")
        self.sid = sid
        self.port = port
        self.interval = interval
        self.stop_ev = threading.Event()
        self.lock = threading.Lock()
        self.state: tuple[str, int | None] = ("unpolled", None)
        self.since: float | None = None  # monotonic time of the first reply with self.state
        self.polls = 0

    def run(self):
        while not self.stop_ev.is_set():
            st = parse_srvr(four_letter(self.port, "srvr"))
            t = time.monotonic()
            with self.lock:
                self.polls += 1
                self.observe(st)
                if st != self.state:
                    self.state = st
                    self.since = t
            time.sleep(self.interval)

    def observe(self, st):
        """Called with each reply's (mode, epoch), under the lock; for subclasses."""

    def snapshot(self):
        with self.lock:
            return self.state, self.since

    def stop(self):
        self.stop_ev.set()


# ---------------------------------------------------------------------------------------------
# Ensemble


def free_ports(n: int) -> list[int]:
    """n distinct ports chosen by the OS on 127.0.0.1 (all bound at once, then released)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


@dataclass
class Server:
    sid: int
    observer: bool
    client_port: int
    quorum_port: int
    election_port: int
    data_dir: str
    cfg_path: str
    proc: subprocess.Popen | None = None
    log_path: str | None = None
    incarnation: int = 0
    logs: list[str] = field(default_factory=list)


class Ensemble:
    def __init__(self, binary: str, voters: int, observers: int, base_dir: str):
        self.binary = binary
        self.dir = tempfile.mkdtemp(prefix=f"ens{voters}+{observers}-", dir=base_dir)
        n = voters + observers
        ports = free_ports(3 * n)
        self.servers: dict[int, Server] = {}
        for i in range(n):
            sid = i + 1
            ddir = os.path.join(self.dir, f"data{sid}")
            os.makedirs(ddir)
            with open(os.path.join(ddir, "myid"), "w") as f:
                f.write(f"{sid}\n")
            self.servers[sid] = Server(
                sid=sid, observer=(i >= voters), client_port=ports[3 * i],
                quorum_port=ports[3 * i + 1], election_port=ports[3 * i + 2],
                data_dir=ddir, cfg_path=os.path.join(self.dir, f"zoo{sid}.cfg"))
        server_lines = []
        for s in self.servers.values():
            line = f"server.{s.sid}=127.0.0.1:{s.quorum_port}:{s.election_port}"
            if s.observer:
                line += ":observer"
            server_lines.append(line)
        for s in self.servers.values():
            with open(s.cfg_path, "w") as f:
                f.write("tickTime=2000\ninitLimit=10\nsyncLimit=5\n")
                f.write(f"dataDir={s.data_dir}\n")
                f.write(f"clientPort={s.client_port}\nclientPortAddress=127.0.0.1\n")
                f.write("4lw.commands.whitelist=*\n")
                if s.observer:
                    f.write("peerType=observer\n")
                f.write("\n".join(server_lines) + "\n")

    def spawn(self, sid: int):
        s = self.servers[sid]
        s.incarnation += 1
        s.log_path = os.path.join(self.dir, f"zabd{sid}.{s.incarnation}.log")
        s.logs.append(s.log_path)
        env = dict(os.environ)
        env["RUST_LOG"] = "info"
        env.pop("RUST_BACKTRACE", None)
        with open(s.log_path, "wb") as log:
            s.proc = subprocess.Popen(
                [self.binary, "--config", s.cfg_path], stdin=subprocess.DEVNULL,
                stdout=log, stderr=subprocess.STDOUT, close_fds=True)
        _CHILDREN.append(s.proc)
        _watch_pid(s.proc.pid, True)

    def stop_all(self):
        procs = [s.proc for s in self.servers.values() if s.proc is not None]
        for p in procs:
            if p.poll() is None:
                p.terminate()
        deadline = time.monotonic() + 3
        for p in procs:
            try:
                p.wait(timeout=max(0.05, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for p in procs:
            _forget(p)

    def dead(self) -> list[int]:
        return [s.sid for s in self.servers.values()
                if s.proc is not None and s.proc.poll() is not None]

    def log_size(self, sid: int) -> int:
        try:
            return os.path.getsize(self.servers[sid].log_path)
        except OSError:
            return 0

    def log_since(self, sid: int, offset: int) -> list[str]:
        try:
            with open(self.servers[sid].log_path, "rb") as f:
                f.seek(offset)
                return f.read().decode("utf-8", "replace").splitlines()
        except OSError:
            return []

    def rss_mib(self, sid: int) -> float | None:
        p = self.servers[sid].proc
        try:
            with open(f"/proc/{p.pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) / 1024.0
        except (OSError, AttributeError):
            return None
        return None


def watch(ens: Ensemble, sids, cond, timeout: float, interval: float):
    """Poll the given servers concurrently until cond(states) returns a time, or timeout.

    states: {sid: ((mode, epoch), since)}. Returns (result_of_cond or None, final states)."""
    pollers = {sid: Poller(sid, ens.servers[sid].client_port, interval) for sid in sids}
    for p in pollers.values():
        p.start()
    deadline = time.monotonic() + timeout
    result = None
    states = {}
    try:
        while True:
            states = {sid: p.snapshot() for sid, p in pollers.items()}
            result = cond(states)
            if result is not None or time.monotonic() > deadline:
                break
            dead = [sid for sid in sids if ens.servers[sid].proc.poll() is not None]
            if dead:
                raise RuntimeError(f"server(s) {dead} exited; see logs")
            time.sleep(0.002)
    finally:
        stop_pollers(pollers)
    return result, states


def stable_cond(min_epoch_exclusive: int | None = None, exclude_time: bool = False):
    """All given servers serving, one epoch, exactly one leader -> max 'since' over them."""

    def cond(states):
        modes = [st[0] for st, _ in states.values()]
        epochs = {st[1] for st, _ in states.values()}
        if any(m not in SERVING_MODES for m in modes):
            return None
        if len(epochs) != 1 or modes.count("leader") != 1:
            return None
        (epoch,) = epochs
        if epoch is None or (min_epoch_exclusive is not None and epoch <= min_epoch_exclusive):
            return None
        return max(since for _, since in states.values())

    return cond


def current_view(ens: Ensemble, sids) -> dict[int, tuple[str, int | None]]:
    return {sid: parse_srvr(four_letter(ens.servers[sid].client_port, "srvr")) for sid in sids}


# ---------------------------------------------------------------------------------------------
# Log parsing

_DECIDED_RE = re.compile(r"election decided (.*)$")
_FIELD_RE = re.compile(r'(\w+)=("[^"]*"|\S+)')


def parse_duration_ms(s: str) -> float | None:
    """Rust Debug of Duration: 12ns, 446.894µs, 1.5ms, 2.3s."""
    m = re.fullmatch(r"([0-9.]+)(ns|µs|us|ms|s)", s)
    if not m:
        return None
    v = float(m.group(1))
    return v * {"ns": 1e-6, "µs": 1e-3, "us": 1e-3, "ms": 1.0, "s": 1000.0}[m.group(2)]


_SYNC_RE = re.compile(r"serving .*since_election=(\S+)")


def sync_ms(lines: list[str]) -> list[float]:
    """since_election= of 'serving' / 'LEADING: serving' lines: election decided -> serving."""
    out = []
    for line in lines:
        m = _SYNC_RE.search(line)
        if m:
            v = parse_duration_ms(m.group(1))
            if v is not None:
                out.append(v)
    return out


def decided_lines(lines: list[str]) -> list[dict[str, str]]:
    out = []
    for line in lines:
        m = _DECIDED_RE.search(line)
        if m:
            d = {k: v.strip('"') for k, v in _FIELD_RE.findall(m.group(1))}
            d["_line"] = line
            out.append(d)
    return out


# ---------------------------------------------------------------------------------------------
# Other load on the machine (the figures are only meaningful on an otherwise idle machine)

_TICK = os.sysconf("SC_CLK_TCK")


def machine_busy_s() -> float:
    """CPU seconds spent in user, nice and system mode by the whole machine since boot."""
    with open("/proc/stat") as f:
        v = f.readline().split()[1:]
    return (int(v[0]) + int(v[1]) + int(v[2])) / _TICK


def own_cpu_s() -> float:
    """CPU seconds of this script and of its children that have been reaped."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _proc_ticks() -> dict[int, tuple[str, int]]:
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                st = f.read()
        except OSError:
            continue
        comm = st[st.index("(") + 1:st.rindex(")")]
        fields = st[st.rindex(")") + 2:].split()
        out[int(d)] = (comm, int(fields[11]) + int(fields[12]))
    return out


def busy_processes(seconds: float = 1.0) -> list[tuple[str, float]]:
    """Processes other than this one using at least 5% of a CPU over `seconds`."""
    a = _proc_ticks()
    time.sleep(seconds)
    b = _proc_ticks()
    me = os.getpid()
    out = []
    for pid, (comm, ticks) in b.items():
        if pid == me or pid not in a:
            continue
        pct = (ticks - a[pid][1]) / _TICK / seconds * 100.0
        if pct >= 5.0:
            out.append((f"{comm}[{pid}]", pct))
    return sorted(out, key=lambda x: -x[1])


def wait_idle(max_wait: float) -> bool:
    """Wait (at most max_wait s) until other processes use < 10% of a CPU for 5 s in a row."""
    if max_wait <= 0:
        return True
    end = time.monotonic() + max_wait
    quiet = 0
    announced = False
    while time.monotonic() < end:
        busy = busy_processes(1.0)
        if sum(p for _, p in busy) < 10.0:
            quiet += 1
            if quiet >= 5:
                return True
        else:
            quiet = 0
            if not announced:
                log("  waiting for an idle machine; busy: "
                    + ", ".join(f"{c} {p:.0f}%" for c, p in busy))
                announced = True
    log(f"  machine still busy after {max_wait:.0f} s; going on")
    return False


def fsync_probe(base: str, seconds: float = 1.5) -> str:
    """Latency of what zabd does to persist an epoch: write a small file, fsync, rename, fsync
    the directory. Reported because ZAB's epoch establishment waits on such fsyncs."""
    d = tempfile.mkdtemp(prefix="fsync-", dir=base)
    lat = []
    try:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            t = time.monotonic()
            tmp = os.path.join(d, "epoch.tmp")
            with open(tmp, "w") as f:
                f.write("7\n")
                f.flush()
                os.fsync(f.fileno())
            os.rename(tmp, os.path.join(d, "epoch"))
            fd = os.open(d, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            lat.append((time.monotonic() - t) * 1000.0)
            time.sleep(0.01)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    lat.sort()
    return (f"write+fsync+rename+dir fsync of a small file: median {statistics.median(lat):.2f} "
            f"ms, p99 {lat[int(0.99 * (len(lat) - 1))]:.2f} ms, max {lat[-1]:.2f} ms "
            f"({len(lat)} samples)")


def loadavg() -> str:
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


# ---------------------------------------------------------------------------------------------
# Experiments


@dataclass
class Results:
    name: str
    voters: int
    observers: int
    cold_ms: list[float] = field(default_factory=list)
    spawn_ms: list[float] = field(default_factory=list)  # first to last Popen returning
    rss_idle_mib: list[float] = field(default_factory=list)  # one per server
    rss_after_mib: list[float] = field(default_factory=list)
    failover_ms: list[float] = field(default_factory=list)  # all survivors
    voters_ms: list[float] = field(default_factory=list)  # voting survivors only (3+1)
    observer_ms: list[float] = field(default_factory=list)
    election_ms: list[float] = field(default_factory=list)  # max took= over survivors
    sync_ms: list[float] = field(default_factory=list)  # max since_election= over survivors
    rejoin_sync_ms: list[float] = field(default_factory=list)  # restarted server's
    rounds: list[float] = field(default_factory=list)  # max rounds= over survivors
    notif_sent: list[float] = field(default_factory=list)
    notif_recv: list[float] = field(default_factory=list)
    elections_started: list[float] = field(default_factory=list)
    rejoin_ms: list[float] = field(default_factory=list)
    rejoin_leader_changed: int = 0
    rejoin_joined_established: int = 0
    rejoins: int = 0
    failures: int = 0
    foreign_cpus: float | None = None  # average CPUs used by other processes meanwhile
    attempts: int = 1
    anomalies: list[str] = field(default_factory=list)


def log(msg: str):
    print(msg, flush=True)


def cold_start(ens: Ensemble, timeout: float, interval: float) -> float:
    sids = list(ens.servers)
    # Spawn back to back, then start the pollers (they see 'down' until the servers listen;
    # started before, their threads would slow the spawning down).
    t0 = time.monotonic()
    for sid in sids:
        ens.spawn(sid)
    ens.spawn_ms = (time.monotonic() - t0) * 1000.0
    pollers = {sid: Poller(sid, ens.servers[sid].client_port, interval) for sid in sids}
    for p in pollers.values():
        p.start()
    cond = stable_cond()
    deadline = t0 + timeout
    try:
        while True:
            states = {sid: p.snapshot() for sid, p in pollers.items()}
            t = cond(states)
            if t is not None:
                return (t - t0) * 1000.0
            if time.monotonic() > deadline:
                raise RuntimeError(f"no stable ensemble {timeout}s after cold start: {states}")
            if ens.dead():
                raise RuntimeError(f"server(s) {ens.dead()} exited during cold start")
            time.sleep(0.002)
    finally:
        stop_pollers(pollers)


def wait_stable(ens: Ensemble, timeout: float, interval: float, settle: float):
    """Wait until all servers serve in one epoch with one leader, stay so for `settle` s."""
    sids = list(ens.servers)
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        t, _ = watch(ens, sids, stable_cond(), end - time.monotonic(), interval)
        if t is None:
            break
        time.sleep(settle)
        view = current_view(ens, sids)
        epochs = {e for _, e in view.values()}
        modes = [m for m, _ in view.values()]
        if (all(m in SERVING_MODES for m in modes) and len(epochs) == 1
                and modes.count("leader") == 1):
            return view
    raise RuntimeError("ensemble did not become stable")


def tail(lines: list[str], n: int = 25) -> list[str]:
    return lines[-n:] if len(lines) > n else lines


def failover_once(ens: Ensemble, res: Results, run: int, args) -> bool:
    sids = list(ens.servers)
    view = wait_stable(ens, args.timeout, args.poll_interval, args.settle)
    leader = next(sid for sid, (m, _) in view.items() if m == "leader")
    old_epoch = view[leader][1]
    survivors = [s for s in sids if s != leader]
    before = {sid: mntr(ens.servers[sid].client_port) for sid in survivors}
    offsets = {sid: ens.log_size(sid) for sid in survivors}

    # Pollers running before the kill; they see the old epoch until the survivors serve again.
    pollers = {sid: Poller(sid, ens.servers[sid].client_port, args.poll_interval)
               for sid in survivors}
    for p in pollers.values():
        p.start()
    time.sleep(0.02)
    pid = ens.servers[leader].proc.pid
    t_kill = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    cond = stable_cond(min_epoch_exclusive=old_epoch)
    states = {}
    t_done = None
    try:
        while True:
            states = {sid: p.snapshot() for sid, p in pollers.items()}
            t_done = cond(states)
            if t_done is not None or time.monotonic() - t_kill > args.timeout:
                break
            time.sleep(0.002)
    finally:
        stop_pollers(pollers)
    ens.servers[leader].proc.wait()
    _forget(ens.servers[leader].proc)

    if t_done is None:
        res.failures += 1
        msg = (f"{res.name} run {run}: killed leader {leader} (epoch {old_epoch}); survivors not "
               f"all serving under one new leader after {args.timeout:.0f}s: "
               f"{ {s: st for s, (st, _) in states.items()} }")
        res.anomalies.append(msg + "\n" + "\n".join(
            f"  [{s}] {l}" for s in survivors for l in tail(ens.log_since(s, offsets[s]))))
        log("  " + msg)
        return False

    failover = (t_done - t_kill) * 1000.0
    new_leader = next(s for s, ((m, _), _) in states.items() if m == "leader")
    new_epoch = states[new_leader][0][1]
    res.failover_ms.append(failover)
    voter_surv = [s for s in survivors if not ens.servers[s].observer]
    obs_surv = [s for s in survivors if ens.servers[s].observer]
    if obs_surv:
        res.voters_ms.append((max(states[s][1] for s in voter_surv) - t_kill) * 1000.0)
        res.observer_ms.append((max(states[s][1] for s in obs_surv) - t_kill) * 1000.0)

    time.sleep(args.counter_wait)  # let trailing notifications land before reading counters
    after = {sid: mntr(ens.servers[sid].client_port) for sid in survivors}
    append_counter_deltas(before, after, survivors,
                          (("zk_notifications_sent", res.notif_sent),
                           ("zk_notifications_received", res.notif_recv),
                           ("zk_elections_started", res.elections_started)))

    logs = {s: ens.log_since(s, offsets[s]) for s in survivors}
    decided = {s: decided_lines(logs[s]) for s in survivors}
    tooks, rounds = [], []
    for s in survivors:
        for d in decided[s]:
            ms = parse_duration_ms(d.get("took", ""))
            if ms is not None:
                tooks.append(ms)
            if d.get("rounds", "").isdigit():
                rounds.append(int(d["rounds"]))
    if tooks:
        res.election_ms.append(max(tooks))
    syncs = [v for s in survivors for v in sync_ms(logs[s])]
    if syncs:
        res.sync_ms.append(max(syncs))
    if rounds:
        res.rounds.append(max(rounds))

    notes = []
    multi = {s: len(decided[s]) for s in survivors if len(decided[s]) != 1}
    if multi:
        notes.append(f"'election decided' lines per survivor != 1: {multi}")
    if tooks and max(tooks) >= SLOW_ELECTION_MS:
        notes.append(f"slow election: took={max(tooks):.1f} ms (>= {SLOW_ELECTION_MS:.0f} ms; "
                     f"the first notification timeout is 200 ms)")
    if syncs and max(syncs) >= SLOW_SYNC_MS:
        notes.append(f"slow ZAB sync: election decided -> serving took {max(syncs):.1f} ms "
                     f"(>= {SLOW_SYNC_MS:.0f} ms)")
    if failover >= STALL_MS:
        notes.append(f"failover took {failover:.0f} ms (>= {STALL_MS:.0f} ms)")
    if new_epoch != old_epoch + 1:
        notes.append(f"epoch went {old_epoch} -> {new_epoch}")
    extra = (f" voters {res.voters_ms[-1]:.1f} ms, observer {res.observer_ms[-1]:.1f} ms"
             if obs_surv else "")
    log(f"  run {run}: killed leader {leader} (epoch {old_epoch}) -> leader {new_leader} "
        f"epoch {new_epoch}: all survivors serving {failover:.1f} ms{extra}; election "
        f"{res.election_ms[-1] if tooks else float('nan'):.2f} ms, sync "
        f"{res.sync_ms[-1] if syncs else float('nan'):.2f} ms; "
        f"notifications sent {res.notif_sent[-1] if res.notif_sent else '?'}")
    if notes:
        msg = f"{res.name} run {run}: " + "; ".join(notes)
        res.anomalies.append(msg + "\n" + "\n".join(
            f"  [{s}] {l}" for s in survivors for l in tail(logs[s])))
        log("  ANOMALY " + msg)

    # ---- restart the killed server: it must rejoin as follower without changing the leader.
    offsets2 = {s: ens.log_size(s) for s in survivors}
    t_restart = time.monotonic()
    ens.spawn(leader)
    want_mode = "observer" if ens.servers[leader].observer else "follower"

    def rejoined(states):
        (m, e), since = states[leader]
        if m == want_mode and e is not None and e >= new_epoch:
            return since
        return None

    t_rejoin, st2 = watch(ens, [leader], rejoined, args.timeout, args.poll_interval)
    res.rejoins += 1
    if t_rejoin is None:
        res.failures += 1
        msg = (f"{res.name} run {run}: restarted server {leader} not serving as {want_mode} "
               f"after {args.timeout:.0f}s: {st2}")
        res.anomalies.append(msg + "\n" + "\n".join(
            f"  [{leader}] {l}" for l in tail(ens.log_since(leader, 0))))
        log("  " + msg)
        return False
    rejoin = (t_rejoin - t_restart) * 1000.0
    res.rejoin_ms.append(rejoin)
    time.sleep(args.counter_wait)
    view2 = current_view(ens, sids)
    leaders2 = [s for s, (m, _) in view2.items() if m == "leader"]
    epochs2 = {e for _, e in view2.values()}
    changed = leaders2 != [new_leader] or epochs2 != {new_epoch}
    own_lines = ens.log_since(leader, 0)
    own = decided_lines(own_lines)
    own_sync = sync_ms(own_lines)
    if own_sync:
        res.rejoin_sync_ms.append(own_sync[0])
    joined = any(d.get("joined_established") == "true" for d in own)
    surv_logs2 = {s: ens.log_since(s, offsets2[s]) for s in survivors}
    disturbed = {s: [l for l in surv_logs2[s] if " LOOKING" in l or "election decided" in l]
                 for s in survivors}
    disturbed = {s: ls for s, ls in disturbed.items() if ls}
    if changed:
        res.rejoin_leader_changed += 1
    if joined:
        res.rejoin_joined_established += 1
    log(f"         restarted {leader}: serving as {want_mode} after {rejoin:.1f} ms; leader "
        f"{'CHANGED' if changed else 'unchanged'}; joined_established={str(joined).lower()}")
    notes = []
    if changed:
        notes.append(f"leader/epoch changed after restart: {view2}")
    if disturbed:
        notes.append(f"survivors went LOOKING / decided again after the restart: "
                     f"{sorted(disturbed)}")
    if not joined:
        notes.append("restarted server's log has no joined_established=true")
    if rejoin >= STALL_MS:
        notes.append(f"rejoin took {rejoin:.0f} ms")
    if own_sync and own_sync[0] >= SLOW_SYNC_MS:
        notes.append(f"slow ZAB sync of the restarted server: election decided -> serving took "
                     f"{own_sync[0]:.1f} ms")
    if notes:
        msg = f"{res.name} run {run} (restart of {leader}): " + "; ".join(notes)
        lines = [f"  [{leader}] {l}" for l in tail(ens.log_since(leader, 0))]
        lines += [f"  [{s}] {l}" for s in survivors for l in tail(surv_logs2[s])]
        res.anomalies.append(msg + "\n" + "\n".join(lines))
        log("  ANOMALY " + msg)
    return True


def bench_ensemble(binary: str, voters: int, observers: int, args, base_dir: str) -> Results:
    name = f"{voters}" if observers == 0 else f"{voters}+{observers}"
    res = Results(name=name, voters=voters, observers=observers)
    label = f"{voters} voters" + (f" + {observers} observer" if observers else "")
    log(f"\n== {label}")
    wall0, busy0, own0 = time.monotonic(), machine_busy_s(), own_cpu_s()
    ens = None
    for i in range(args.cold_runs):
        ens = Ensemble(binary, voters, observers, base_dir)
        try:
            ms = cold_start(ens, args.timeout, args.poll_interval)
        except Exception:
            ens.stop_all()
            raise
        res.cold_ms.append(ms)
        res.spawn_ms.append(ens.spawn_ms)
        log(f"  cold start {i + 1}/{args.cold_runs}: {ms:.1f} ms (spawning the {len(ens.servers)} "
            f"processes took {ens.spawn_ms:.1f} ms of it)")
        if i + 1 < args.cold_runs:
            ens.stop_all()
            keep_logs(ens, args, f"{name}-cold{i + 1}")
            shutil.rmtree(ens.dir, ignore_errors=True)
    try:
        time.sleep(args.idle_wait)
        wait_stable(ens, args.timeout, args.poll_interval, 0)
        res.rss_idle_mib = [r for r in (ens.rss_mib(s) for s in ens.servers) if r is not None]
        log(f"  idle VmRSS {args.idle_wait:.0f}s after stable: "
            + ", ".join(f"{r:.1f}" for r in res.rss_idle_mib) + " MiB")
        for run in range(1, args.runs + 1):
            if not failover_once(ens, res, run, args):
                # Try to get back to a full, stable ensemble before going on.
                for sid in ens.dead():
                    ens.spawn(sid)
                wait_stable(ens, args.timeout, args.poll_interval, args.settle)
        res.rss_after_mib = [r for r in (ens.rss_mib(s) for s in ens.servers) if r is not None]
    finally:
        ens.stop_all()
        keep_logs(ens, args, name)
        shutil.rmtree(ens.dir, ignore_errors=True)
    # Every child of this ensemble is reaped now, so own_cpu_s() includes them.
    wall = time.monotonic() - wall0
    foreign = (machine_busy_s() - busy0) - (own_cpu_s() - own0)
    res.foreign_cpus = max(0.0, foreign / wall)
    log(f"  other processes used {res.foreign_cpus:.2f} CPUs on average during these "
        f"{wall:.0f} s (of {os.cpu_count()})")
    if res.foreign_cpus > 0.1:
        log("  WARNING: the machine was not idle; these figures are disturbed")
    return res


def keep_logs(ens: Ensemble, args, name: str):
    if not args.keep_logs:
        return
    dest = os.path.join(args.keep_logs, name)
    os.makedirs(dest, exist_ok=True)
    for s in ens.servers.values():
        for p in s.logs:
            shutil.copy(p, dest)
        shutil.copy(s.cfg_path, dest)


# ---------------------------------------------------------------------------------------------
# Report


def stats(xs):
    if not xs:
        return None
    return statistics.median(xs), min(xs), max(xs)


def fmt_ms(v: float) -> str:
    if v >= 1000:
        return f"{v / 1000:.2f} s"
    if v >= 100:
        return f"{v:.0f} ms"
    if v >= 10:
        return f"{v:.1f} ms"
    return f"{v:.2f} ms"


def fmt_num(v: float) -> str:
    return f"{v:g}" if v == int(v) else f"{v:.1f}"


def fmt_mib(v: float) -> str:
    return f"{v:.1f} MiB"


def verdict(name: str, key: str, st) -> tuple[str, str]:
    t = TARGETS.get((name, key))
    if t is None or st is None:
        return ("—", "")
    which, limit = t
    unit = "MiB" if key == "rss" else "ms"
    value = st[0] if which == "median" else st[2]
    ok = value <= limit
    return (f"{which} <= {limit:g} {unit}", "meets" if ok else "MISSES")


def build_rows(all_res: list[Results]):
    rows = []  # (ensemble, figure, median, min, max, zk, target, verdict)
    for r in all_res:
        zk = ZK_REF.get(r.name, {})

        def add(figure, key, xs, fmt, zkv=""):
            st = stats(xs)
            tgt, ok = verdict(r.name, key, st)
            if st is None:
                rows.append((r.name, figure, "n/a", "", "", zkv, tgt, ok))
            else:
                rows.append((r.name, figure, fmt(st[0]), fmt(st[1]), fmt(st[2]), zkv, tgt, ok))

        add("cold start to stable leader", "cold", r.cold_ms, fmt_ms, zk.get("cold", ""))
        if r.observers:
            add("leader SIGKILL -> all survivors serving (observer incl.)", "failover",
                r.failover_ms, fmt_ms, zk.get("failover", ""))
            add("leader SIGKILL -> voting survivors serving", "voters", r.voters_ms, fmt_ms)
            add("leader SIGKILL -> observer serving", "observer", r.observer_ms, fmt_ms,
                zk.get("observer", ""))
        else:
            add("leader SIGKILL -> all survivors serving", "failover", r.failover_ms, fmt_ms,
                zk.get("failover", ""))
        add("election alone (max took= over survivors)", "election", r.election_ms, fmt_ms,
            zk.get("election", ""))
        add("ZAB sync: election decided -> serving (max since_election=)", "sync", r.sync_ms,
            fmt_ms, "~190 ms")
        add("election rounds (max rounds=)", "rounds", r.rounds, fmt_num)
        add("notifications sent per failover (sum of survivors)", "notif", r.notif_sent, fmt_num)
        add("notifications received per failover (sum)", "notifr", r.notif_recv, fmt_num)
        add("elections started per failover (sum)", "el", r.elections_started, fmt_num)
        add("restart of killed leader -> serving as follower", "rejoin", r.rejoin_ms, fmt_ms,
            zk.get("rejoin", ""))
        add("  of which ZAB sync (its since_election=)", "rsync", r.rejoin_sync_ms, fmt_ms)
        rows.append((r.name, "leader changed on restart", f"{r.rejoin_leader_changed}/{r.rejoins}",
                     "", "", "0/21", "0", "meets" if r.rejoin_leader_changed == 0 else "MISSES"))
        rows.append((r.name, "restart log says joined_established=true",
                     f"{r.rejoin_joined_established}/{r.rejoins}", "", "", "", "", ""))
        add("VmRSS per server, idle (over servers)", "rss", r.rss_idle_mib, fmt_mib,
            zk.get("rss", ""))
        add("VmRSS per server after the runs", "rssafter", r.rss_after_mib, fmt_mib,
            "112-120 MiB after a minute")
        if r.foreign_cpus is not None:
            figure = "other processes' CPU use meanwhile (CPUs)"
            if r.attempts > 1:
                figure += f" (attempt {r.attempts}; earlier ones disturbed)"
            rows.append((r.name, figure, f"{r.foreign_cpus:.2f}", "", "", "",
                         "< 0.1 (idle machine)", "ok" if r.foreign_cpus < 0.1 else "DISTURBED"))
        if r.failures:
            rows.append((r.name, "failed experiments (timeouts)", str(r.failures), "", "", "",
                         "0", "MISSES"))
    return rows


HEADERS = ("ensemble", "figure", "median", "min", "max", "ZooKeeper 3.8", "target", "")


def text_table(rows) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(HEADERS, *rows)]
    out = []
    for i, row in enumerate([HEADERS] + rows):
        out.append("  ".join(str(x).ljust(w) for x, w in zip(row, widths)).rstrip())
        if i == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def md_table(rows) -> str:
    out = ["| " + " | ".join(HEADERS[:-1]) + " | verdict |",
           "|" + "---|" * len(HEADERS)]
    for r in rows:
        out.append("| " + " | ".join(str(x) for x in r) + " |")
    return "\n".join(out)


def machine_info() -> dict[str, str]:
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            kb = int(f.readline().split()[1])
            mem = f"{kb / 1024 / 1024:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return {"nproc": str(os.cpu_count()), "kernel": platform.release(), "cpu": cpu,
            "memory": mem, "python": platform.python_version()}


def binary_info(binary: str) -> str:
    try:
        rev = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=5).stdout.strip()
        dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "--", "src",
                                "Cargo.toml", "Cargo.lock"], capture_output=True, text=True,
                               timeout=5).stdout.strip()
    except Exception:
        rev, dirty = "", ""
    st = os.stat(binary)
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(st.st_mtime))
    s = f"{binary} ({st.st_size} bytes, built {when})"
    if rev:
        s += (f"; repository HEAD {rev}"
              + (" (working tree has uncommitted changes in src/)" if dirty else ""))
    return s


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=os.path.join(REPO, "target", "release", "zabd"),
                    help="zabd binary (default: target/release/zabd, built if missing)")
    ap.add_argument("--runs", type=int, default=None,
                    help="leader kills per ensemble (default 10; 3 with --quick)")
    ap.add_argument("--cold-runs", type=int, default=None,
                    help="cold starts per ensemble (default 5; 2 with --quick)")
    ap.add_argument("--quick", action="store_true",
                    help="fewer repetitions, only 3 voters and 3 voters + 1 observer")
    ap.add_argument("--ensembles", default=None,
                    help="comma list among 3,5,7,3+1 (default all; 3,3+1 with --quick)")
    ap.add_argument("--markdown", metavar="FILE", help="also write the results as markdown")
    ap.add_argument("--keep-logs", metavar="DIR", help="copy the servers' logs and configs here")
    ap.add_argument("--poll-interval", type=float, default=0.001,
                    help="seconds between srvr polls of one server (default 0.001)")
    ap.add_argument("--settle", type=float, default=0.5,
                    help="seconds an ensemble must stay stable before a kill (default 0.5)")
    ap.add_argument("--idle-wait", type=float, default=3.0,
                    help="seconds after a stable cold start before reading VmRSS (default 3)")
    ap.add_argument("--counter-wait", type=float, default=0.3,
                    help="seconds after recovery before reading mntr counters (default 0.3)")
    ap.add_argument("--tmpdir", default=None, metavar="DIR",
                    help="where the servers' data directories go (default: the system's "
                         "temporary directory)")
    ap.add_argument("--wait-idle", type=float, default=0.0, metavar="SECONDS",
                    help="before each ensemble, wait up to SECONDS for other processes to use "
                         "< 10%% of a CPU (default 0: do not wait)")
    ap.add_argument("--retry-disturbed", type=int, default=0, metavar="N",
                    help="run an ensemble again (up to N times) when other processes used "
                         ">= 0.1 CPU during it (default 0)")
    ap.add_argument("--timeout", type=float, default=30.0,
                    help="seconds before a cold start / failover / rejoin counts as failed")
    args = ap.parse_args()
    if args.runs is None:
        args.runs = 3 if args.quick else 10
    if args.cold_runs is None:
        args.cold_runs = 2 if args.quick else 5
    if args.ensembles is None:
        args.ensembles = "3,3+1" if args.quick else "3,5,7,3+1"
    ensembles = []
    for e in args.ensembles.split(","):
        e = e.strip()
        v, _, o = e.partition("+")
        ensembles.append((int(v), int(o or 0)))

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)

    binary = os.path.abspath(args.bin)
    if not os.path.exists(binary):
        default = os.path.join(REPO, "target", "release", "zabd")
        if binary != default:
            print(f"bench_election: {binary} does not exist", file=sys.stderr)
            return 2
        log("building target/release/zabd (cargo build --release --quiet)")
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=REPO, check=True)

    cmdline = " ".join(shlex.quote(a) for a in [os.path.relpath(sys.argv[0], REPO)
                                                if sys.argv[0].startswith(REPO) else sys.argv[0]]
                       + sys.argv[1:])
    mi = machine_info()
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    settings = (f"tickTime=2000, initLimit=10, syncLimit=5, 4lw.commands.whitelist=*, all "
                f"ports on 127.0.0.1 (chosen by the OS), data in a temporary directory on the "
                f"same disk ({args.tmpdir or tempfile.gettempdir()}), RUST_LOG=info, stderr to a file; "
                f"{args.runs} leader kills and {args.cold_runs} cold starts per ensemble; "
                f"srvr polled every {args.poll_interval * 1000:g} ms; {args.settle:g} s of "
                f"stability before each kill; VmRSS read {args.idle_wait:g} s after a stable "
                f"cold start")
    log(f"command: {cmdline}")
    log(f"started: {started}")
    log(f"machine: nproc={mi['nproc']}, kernel {mi['kernel']}, CPU {mi['cpu']}, "
        f"memory {mi['memory']}, python {mi['python']}")
    busy = busy_processes()
    load_line = (f"load average {loadavg()} at start; busy processes at start: "
                 + (", ".join(f"{c} {p:.0f}%" for c, p in busy) if busy else "none"))
    log(f"load:    {load_line}")
    log(f"binary:  {binary_info(binary)}")
    log(f"settings: {settings}")
    log(f"serving: {SERVING_DEFINITION}")

    base_dir = tempfile.mkdtemp(prefix="zabd-bench-", dir=args.tmpdir)
    _TEMPDIRS.append(base_dir)
    _start_watchdog(base_dir)
    disk_start = fsync_probe(base_dir)
    log(f"disk:    {disk_start} (at start)")
    all_res = []
    discarded = []  # disturbed attempts that were run again
    t_start = time.monotonic()
    try:
        for v, o in ensembles:
            for attempt in range(1, args.retry_disturbed + 2):
                wait_idle(args.wait_idle)
                r = bench_ensemble(binary, v, o, args, base_dir)
                r.attempts = attempt
                if r.foreign_cpus is None or r.foreign_cpus < 0.1:
                    break
                if attempt <= args.retry_disturbed:
                    log("  disturbed by other processes: running this ensemble again")
                    discarded.append(r)
            all_res.append(r)
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    finally:
        _kill_all_children()
    elapsed = time.monotonic() - t_start
    disk_end = fsync_probe(base_dir)
    log(f"disk:    {disk_end} (at end)")

    rows = build_rows(all_res)
    log("\n" + text_table(rows))
    anomalies = [a for r in all_res for a in r.anomalies]
    log(f"\nfinished in {elapsed:.0f} s")
    if anomalies:
        log(f"\n{len(anomalies)} anomalies:")
        for a in anomalies:
            log("- " + a)
    else:
        log("no anomalies (no failover or rejoin >= 1 s, no election >= 100 ms, no leader "
            "change on restart, one election per survivor per failover, epoch +1 each time)")

    disturbed_notes = [f"attempt {r.attempts} of {r.name}, other processes using "
                       f"{r.foreign_cpus:.2f} CPUs: {a}" for r in discarded for a in r.anomalies]
    if discarded:
        log(f"\n{len(discarded)} disturbed attempt(s) discarded and run again; their anomalies "
            f"({len(disturbed_notes)}):")
        for a in disturbed_notes:
            log("- " + a)

    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write("## Leader election benchmark\n\n")
            f.write(f"- command: `{cmdline}`\n- started: {started}, took {elapsed:.0f} s\n")
            f.write(f"- machine: nproc={mi['nproc']}, kernel {mi['kernel']}, CPU {mi['cpu']}, "
                    f"memory {mi['memory']}\n")
            f.write(f"- load: {load_line}\n")
            f.write(f"- disk ({args.tmpdir or tempfile.gettempdir()}): at start {disk_start}; "
                    f"at end {disk_end}\n")
            f.write(f"- binary: {binary_info(binary)}\n- settings: {settings}\n\n")
            f.write(f"**Serving** — {SERVING_DEFINITION}\n\n")
            f.write(md_table(rows) + "\n\n")
            f.write("Targets compare the median, except RSS (the largest server). "
                    "ZooKeeper figures: reference section 8 (ZooKeeper 3.8.0, same machine "
                    "kind, same settings).\n\n")
            if anomalies:
                f.write(f"### Anomalies ({len(anomalies)})\n\n")
                for a in anomalies:
                    f.write("```\n" + a + "\n```\n\n")
            else:
                f.write("No anomalies: no failover or rejoin of 1 s or more, no election of "
                        "100 ms or more, no leader change on restart, one election per "
                        "survivor per failover.\n")
            if discarded:
                f.write(f"\n### Discarded attempts\n\n{len(discarded)} attempt(s) ran while "
                        f"other processes used >= 0.1 CPU and were run again: "
                        + ", ".join(f"{r.name} (attempt {r.attempts}, {r.foreign_cpus:.2f} "
                                    f"CPUs)" for r in discarded)
                        + f". Anomalies seen in them: {len(disturbed_notes)}.\n\n")
                for a in disturbed_notes:
                    f.write("```\n" + a + "\n```\n\n")
        log(f"markdown written to {args.markdown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
