"""Election and failover experiments run identically on zabd and on ZooKeeper 3.8, for
scripts/bench.py: cold start, leader SIGKILL, leader SIGSTOP, the observer's recovery, the
restarted server's return, CPU seconds and messages per election, idle RSS.

The ensembles are scripts/bench_clients.py's (same zoo.cfg for both systems); the four-letter
word helpers, the srvr poller and the process bookkeeping are scripts/bench_election.py's.
SERVING_RULE below is the one definition of "serving" used for both systems.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import time
from dataclasses import dataclass, field

import bench_clients as bc
import bench_election as be

SERVING_RULE = (
    "Each survivor is polled with `srvr` (a new TCP connection per query) by its own thread, "
    "every few milliseconds (the interval is in the settings). After the leader is stopped, a survivor counts as *serving again* "
    "from the first reply that says `Mode: leader`, `follower` or `observer` and that either "
    "(a) shows an epoch (`Zxid` >> 32) newer than the stopped leader's, or (b) follows at least "
    "one reply since the stop that was not serving (ZooKeeper's 'not currently serving "
    "requests', or no answer). Rule (b) is needed because a ZooKeeper follower's `srvr` keeps "
    "the old epoch until the first write of the new one; rule (a) because a zabd server may "
    "pass through LOOKING between two polls. The failover time runs from just before the "
    "signal to the first moment at which every survivor serves again and exactly one of them "
    "says `leader`; each survivor's time is the first reply of its final state. The same rule, "
    "the same poller and the same zoo.cfg apply to both systems. Cold start: from just before "
    "spawning every process to the first moment every server serves and exactly one is leader.")


# A SIGKILL failover at least this long is listed under failures and incidents (and counted).
STALL_MS = 1000.0


class Poller(be.Poller):
    """bench_election's srvr poller, which also remembers whether a non-serving reply was
    seen since it started (rule (b) of SERVING_RULE)."""

    def __init__(self, sid: int, port: int, interval: float):
        super().__init__(sid, port, interval)
        self.saw_break = False

    def observe(self, st):
        if st[0] not in be.SERVING_MODES:
            self.saw_break = True

    def view(self):
        with self.lock:
            return self.state, self.since, self.saw_break


def serving_again(view, old_epoch: int | None) -> bool:
    """Rule (a) or (b) of SERVING_RULE for one poller view (state, since, saw_break)."""
    (mode, epoch), _, saw_break = view
    if mode not in be.SERVING_MODES:
        return False
    newer = epoch is not None and old_epoch is not None and epoch > old_epoch
    return newer or saw_break


def all_serving_again(views: dict, old_epoch: int | None) -> float | None:
    """The moment every survivor serves again under exactly one leader (max of their 'since'),
    or None."""
    if not views or not all(serving_again(v, old_epoch) for v in views.values()):
        return None
    if [v[0][0] for v in views.values()].count("leader") != 1:
        return None
    return max(v[1] for v in views.values())


@dataclass
class Trials:
    """Every sample of one (system, ensemble shape); lists hold one value per trial."""
    kind: str
    shape: str
    cold_ms: list = field(default_factory=list)
    rss_idle_mib: list = field(default_factory=list)  # one per server
    kill_ms: list = field(default_factory=list)  # leader SIGKILL -> all survivors serving
    kill_voters_ms: list = field(default_factory=list)
    kill_observer_ms: list = field(default_factory=list)
    stop_ms: list = field(default_factory=list)  # leader SIGSTOP -> all survivors serving
    stop_back_ms: list = field(default_factory=list)  # SIGCONT -> old leader following
    rejoin_ms: list = field(default_factory=list)  # restarted killed leader -> follower
    leader_changed: list = field(default_factory=list)  # 1/0 per restart
    # Survivors' CPU seconds in a window after an unpolled SIGKILL, above their idle rate.
    cpu_s: list = field(default_factory=list)
    notif_sent: list = field(default_factory=list)
    notif_recv: list = field(default_factory=list)
    bytes_sent: list = field(default_factory=list)
    rounds: list = field(default_factory=list)
    election_ms: list = field(default_factory=list)  # LOOKING -> decided, max over survivors
    sync_ms: list = field(default_factory=list)  # zabd: decided -> serving, max over survivors
    failures: list = field(default_factory=list)  # what went wrong, in words


def shape_name(voters: int, observers: int) -> str:
    return f"{voters}" if observers == 0 else f"{voters}+{observers}"


def new_ensemble(args, kind: str, voters: int, observers: int, base: str) -> bc.Ensemble:
    return bc.Ensemble(kind, args.zabd, args.java, base, args.zk_heap, voters, observers)


def cold_start(ens: bc.Ensemble, timeout: float, interval: float) -> float:
    """Spawn every server back to back; ms until all serve with exactly one leader."""
    t0 = time.monotonic()
    ens.start()
    pollers = {sid: Poller(sid, s.client_port, interval) for sid, s in ens.servers.items()}
    for p in pollers.values():
        p.start()
    try:
        while True:
            views = {sid: p.view() for sid, p in pollers.items()}
            modes = [v[0][0] for v in views.values()]
            if all(m in be.SERVING_MODES for m in modes) and modes.count("leader") == 1:
                return (max(v[1] for v in views.values()) - t0) * 1000.0
            if time.monotonic() - t0 > timeout:
                raise RuntimeError(f"{ens.kind}: no stable ensemble {timeout:.0f} s after a "
                                   f"cold start: {modes}; logs in {ens.dir}")
            dead = [sid for sid, s in ens.servers.items() if s.proc.poll() is not None]
            if dead:
                raise RuntimeError(f"{ens.kind}: server(s) {dead} exited during cold start; "
                                   f"logs in {ens.dir}")
            time.sleep(0.002)
    finally:
        be.stop_pollers(pollers)


def _log_size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def _log_since(path: str, offset: int) -> list[str]:
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return []


_ROUNDS_RE = re.compile(r"election decided .*\brounds=(\d+)")


def _epoch_of(ens: bc.Ensemble, sid: int) -> int | None:
    return be.parse_srvr(be.four_letter(ens.servers[sid].client_port, "srvr"))[1]


def leader_stop(ens: bc.Ensemble, tr: Trials, sig: int, args) -> str | None:
    """Stop the leader with `sig` (SIGKILL or SIGSTOP) and time the survivors' return to
    service (SERVING_RULE). After a SIGKILL the killed server is restarted and timed back to
    following (the leader must not change); after a SIGSTOP it gets SIGCONT and is timed back
    to following. Returns a line for the log."""
    leader = ens.wait_stable(args.timeout, settle=args.settle)
    old_epoch = _epoch_of(ens, leader)
    survivors = [s for s in ens.servers if s != leader]
    ports = {s: ens.servers[s].client_port for s in survivors}
    before = {s: be.mntr(ports[s]) for s in survivors}
    offsets = {s: _log_size(ens.servers[s].logs[-1]) for s in survivors}
    pollers = {s: Poller(s, ports[s], args.poll_interval) for s in survivors}
    for p in pollers.values():
        p.start()
    proc = ens.servers[leader].proc
    time.sleep(0.05)
    for p in pollers.values():  # a slow reply before the stop is not a break
        with p.lock:
            p.saw_break = False
    t_stop = time.monotonic()
    os.kill(proc.pid, sig)
    done = None
    views = {}
    try:
        while time.monotonic() - t_stop < args.timeout + (10 if sig == signal.SIGSTOP else 0):
            views = {s: p.view() for s, p in pollers.items()}
            done = all_serving_again(views, old_epoch)
            if done is not None:
                break
            time.sleep(0.002)
    finally:
        be.stop_pollers(pollers)
    what = "SIGKILL" if sig == signal.SIGKILL else "SIGSTOP"
    if done is None:
        if sig == signal.SIGSTOP:
            os.kill(proc.pid, signal.SIGCONT)
        else:
            proc.wait()
            be._forget(proc)
            ens.spawn(leader)
        msg = (f"{ens.kind} {tr.shape}: {what} of leader {leader}: survivors not serving under "
               f"one new leader within the timeout: { {s: v[0] for s, v in views.items()} }")
        tr.failures.append(msg)
        ens.wait_stable(120)
        return msg
    ms = (done - t_stop) * 1000.0
    new_leader = next(s for s, v in views.items() if v[0][0] == "leader")
    if sig == signal.SIGKILL and ms >= STALL_MS:
        tr.failures.append(f"{ens.kind} {tr.shape}: a SIGKILL failover took {ms:.0f} ms "
                           f"(>= {STALL_MS:.0f} ms; counted in the figures)")
    obs = [s for s in survivors if s in ens.observers]
    voters = [s for s in survivors if s not in ens.observers]
    line = f"{ens.kind:9} {tr.shape:4} {what}: leader {leader} -> {new_leader}: {ms:7.1f} ms"
    if sig == signal.SIGSTOP:
        tr.stop_ms.append(ms)
        t_cont = time.monotonic()
        os.kill(proc.pid, signal.SIGCONT)
        back = _wait_mode(ens, leader, "follower", args.timeout + 30, args.poll_interval)
        if back is None:
            tr.failures.append(f"{ens.kind} {tr.shape}: SIGCONT'd leader {leader} not following "
                               f"within {args.timeout + 30:.0f} s")
        else:
            tr.stop_back_ms.append((back - t_cont) * 1000.0)
            line += f"; SIGCONT -> following {tr.stop_back_ms[-1]:.0f} ms"
        ens.wait_stable(120)
        return line
    tr.kill_ms.append(ms)
    if obs:
        tr.kill_voters_ms.append((max(views[s][1] for s in voters) - t_stop) * 1000.0)
        tr.kill_observer_ms.append((max(views[s][1] for s in obs) - t_stop) * 1000.0)
        line += f" (voters {tr.kill_voters_ms[-1]:.1f}, observer {tr.kill_observer_ms[-1]:.1f})"
    time.sleep(args.counter_wait)
    _count_messages(ens, tr, survivors, before, offsets)
    proc.wait()
    be._forget(proc)
    # The killed server comes back: time to following, and the leader must stay.
    t_spawn = time.monotonic()
    ens.spawn(leader)
    want = "observer" if leader in ens.observers else "follower"
    back = _wait_mode(ens, leader, want, args.timeout, args.poll_interval)
    if back is None:
        tr.failures.append(f"{ens.kind} {tr.shape}: restarted server {leader} not serving as "
                           f"{want} within {args.timeout:.0f} s")
        ens.wait_stable(120)
        return line + "; restart FAILED"
    tr.rejoin_ms.append((back - t_spawn) * 1000.0)
    time.sleep(args.counter_wait)
    now = ens.states()
    leaders = [s for s, (m, _) in now.items() if m == "leader"]
    tr.leader_changed.append(0 if leaders == [new_leader] else 1)
    line += (f"; restart -> {want} {tr.rejoin_ms[-1]:.0f} ms, leader "
             f"{'unchanged' if leaders == [new_leader] else f'CHANGED to {leaders}'}")
    return line


def proc_cpu_fine_s(pid: int) -> float:
    """CPU time of a live process in seconds at nanosecond resolution: the sum over its threads
    of /proc/<pid>/task/<tid>/schedstat's run time (utime+stime in /proc/<pid>/stat counts in
    10 ms ticks, coarser than a zabd election). Threads that already exited are not counted."""
    total = 0
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0.0
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total / 1e9


def quiet_kill(ens: bc.Ensemble, tr: Trials, args) -> str:
    """CPU per election, measured without pollers (answering a srvr every few ms costs the
    servers, ZooKeeper's JVMs especially, more CPU than the election): the survivors' CPU over
    `args.cpu_window` s after a leader SIGKILL, less their idle rate over the same time just
    before. Then the killed server is restarted and the ensemble waited on."""
    leader = ens.wait_stable(args.timeout, settle=args.settle)
    survivors = [s for s in ens.servers if s != leader]

    def cpu():
        return sum(proc_cpu_fine_s(ens.servers[s].proc.pid) for s in survivors)

    time.sleep(1.0)  # the stability check's srvr polls are over
    c0, t0 = cpu(), time.monotonic()
    time.sleep(args.cpu_window)
    c1, t1 = cpu(), time.monotonic()
    proc = ens.servers[leader].proc
    os.kill(proc.pid, signal.SIGKILL)
    time.sleep(args.cpu_window)
    c2, t2 = cpu(), time.monotonic()
    idle_rate = (c1 - c0) / (t1 - t0)
    used = max(0.0, (c2 - c1) - idle_rate * (t2 - t1))
    proc.wait()
    be._forget(proc)
    states = ens.states()
    leaders = [s for s, (m, _) in states.items() if m == "leader" and s != leader]
    serving = all(states[s][0] in be.SERVING_MODES for s in survivors)
    if len(leaders) != 1 or not serving:
        # The window was too short for this election: the figure would undercount.
        tr.failures.append(f"{ens.kind} {tr.shape}: CPU trial: survivors not all serving under "
                           f"one leader {args.cpu_window:g} s after the kill: {states}")
        line = f"{ens.kind:9} {tr.shape:4} CPU trial: not settled within the window; discarded"
    else:
        tr.cpu_s.append(used)
        line = (f"{ens.kind:9} {tr.shape:4} CPU trial: survivors used {1000 * used:.0f} ms CPU "
                f"in the {args.cpu_window:g} s after the kill (idle rate "
                f"{1000 * idle_rate:.0f} ms/s subtracted)")
    ens.spawn(leader)
    ens.wait_stable(120)
    return line


def _wait_mode(ens: bc.Ensemble, sid: int, mode: str, timeout: float,
               interval: float) -> float | None:
    """Poll one server until it says `Mode: mode`; the monotonic time of that reply."""
    end = time.monotonic() + timeout
    port = ens.servers[sid].client_port
    while time.monotonic() < end:
        m, _ = be.parse_srvr(be.four_letter(port, "srvr"))
        if m == mode:
            return time.monotonic()
        if ens.servers[sid].proc.poll() is not None:
            return None
        time.sleep(interval)
    return None


_TOOK_RE = re.compile(r"election decided .*\btook=(\S+)")
_SINCE_RE = re.compile(r"serving .*\bsince_election=(\S+)")
_ZK_TOOK_RE = re.compile(r"LEADER ELECTION TOOK - (\d+) MS")
_ZK_NOTIF_RE = re.compile(r"WorkerReceiver\[myid=(\d+)\].*Notification: my state:\S+ n\.sid:(\d+),")


def zk_notifications_from_others(lines: list[str]) -> int:
    """ZooKeeper's 'Notification:' log lines that came from another server: its receiver also
    logs the notifications a server queues to itself, which zabd's counter does not count."""
    n = 0
    for line in lines:
        m = _ZK_NOTIF_RE.search(line)
        if m and m.group(1) != m.group(2):
            n += 1
    return n


def _count_messages(ens, tr: Trials, survivors, before, offsets):
    """Election messages and the election's own duration over one failover, from the
    survivors. zabd: the mntr counters (notifications and their bytes), and its log lines'
    rounds=, took= (LOOKING -> decided) and since_election= (decided -> serving, the ZAB sync).
    ZooKeeper has no such counters: its log has one INFO line per notification received
    ('Notification: ...') and 'LEADER ELECTION TOOK - N MS' (LOOKING -> decided)."""
    logs = {s: _log_since(ens.servers[s].logs[-1], offsets[s]) for s in survivors}
    if ens.kind == "zabd":
        after = {s: be.mntr(ens.servers[s].client_port) for s in survivors}
        be.append_counter_deltas(before, after, survivors,
                                 (("zk_notifications_sent", tr.notif_sent),
                                  ("zk_notifications_received", tr.notif_recv),
                                  ("zk_notification_bytes_sent", tr.bytes_sent)))
        found = {"rounds": [], "took": [], "since": []}
        for s in survivors:
            for line in logs[s]:
                for key, rx in (("rounds", _ROUNDS_RE), ("took", _TOOK_RE),
                                ("since", _SINCE_RE)):
                    m = rx.search(line)
                    if m:
                        v = (int(m.group(1)) if key == "rounds"
                             else be.parse_duration_ms(m.group(1)))
                        if v is not None:
                            found[key].append(v)
        for key, lst in (("rounds", tr.rounds), ("took", tr.election_ms),
                         ("since", tr.sync_ms)):
            if found[key]:
                lst.append(max(found[key]))
    else:
        tr.notif_recv.append(sum(zk_notifications_from_others(logs[s]) for s in survivors))
        took = [int(m.group(1)) for s in survivors for line in logs[s]
                for m in [_ZK_TOOK_RE.search(line)] if m]
        if took:
            tr.election_ms.append(float(max(took)))


def run_shape(args, voters: int, observers: int, base: str, kinds, log) -> dict[str, Trials]:
    """Every experiment for one ensemble shape, the systems alternating trial by trial."""
    shape = shape_name(voters, observers)
    trials = {k: Trials(k, shape) for k in kinds}
    ens: dict[str, bc.Ensemble] = {}

    def order(i):
        return list(kinds) if i % 2 == 0 else list(reversed(kinds))

    try:
        for i in range(args.cold_runs):
            for k in order(i):
                if k in ens:
                    ens[k].stop()
                ens[k] = new_ensemble(args, k, voters, observers, base)
                ms = cold_start(ens[k], args.timeout + 60, args.poll_interval)
                trials[k].cold_ms.append(ms)
                log(f"{k:9} {shape:4} cold start {i + 1}: {ms:.0f} ms")
                if i + 1 < args.cold_runs:
                    ens[k].stop()
                    del ens[k]
        time.sleep(args.idle_wait)
        for k in kinds:
            ens[k].wait_stable(120)
            trials[k].rss_idle_mib = ens[k].rss()
            log(f"{k:9} {shape:4} idle VmRSS {args.idle_wait:.0f} s after start: "
                + ", ".join(f"{r:.1f}" for r in trials[k].rss_idle_mib) + " MiB")
        for i in range(args.kills):
            for k in order(i):
                log(leader_stop(ens[k], trials[k], signal.SIGKILL, args))
        for i in range(args.cpu_kills):
            for k in order(i):
                log(quiet_kill(ens[k], trials[k], args))
        for i in range(args.stops if shape in args.stop_shapes else 0):
            for k in order(i):
                log(leader_stop(ens[k], trials[k], signal.SIGSTOP, args))
    finally:
        for k, e in ens.items():
            _resume_all(e)
            e.stop()
            if args.keep_logs:
                dest = os.path.join(args.keep_logs, f"{shape}-{k}")
                os.makedirs(dest, exist_ok=True)
                for s in e.servers.values():
                    for path in s.logs:
                        shutil.copy(path, dest)
    return trials


def _resume_all(ens: bc.Ensemble):
    """SIGCONT every server (a failure may leave one stopped), so that stop() can end it."""
    for s in ens.servers.values():
        if s.proc is not None and s.proc.poll() is None:
            try:
                os.kill(s.proc.pid, signal.SIGCONT)
            except OSError:
                pass
