#!/usr/bin/env python3
"""Client-protocol benchmark: zabd and Apache ZooKeeper 3.8 side by side, driven by zkbench.

Starts a 3-voter ZooKeeper ensemble and a 3-voter zabd ensemble on 127.0.0.1 with the same
zoo.cfg settings (tickTime=2000, initLimit=10, syncLimit=5, fsync on, data in temporary
directories on the same disk), then, alternating between the two systems run by run:

  * create / set / get x 1 / 16 / 128 sessions (target/release/zkbench: one TCP connection and
    session per simulated client, one request outstanding at a time, spread round-robin over the
    three servers; ~100-byte data): throughput, p50/p99/max latency, the servers' CPU;
  * leader kill: writers (one starting on each server) write continuously; the leader (found
    with `srvr`, `Mode: leader`) is SIGKILLed; zkbench reports the longest pause between two
    successful writes around the kill, and the failed / retried writes. The killed server is
    restarted and the ensemble allowed to settle before the next kill.

Prints a table (figure, zabd, ZooKeeper, ratio) and writes a markdown block (--markdown) with the
command line, the machine and the per-run figures, ready for BENCHMARKS.md, and every run's
zkbench JSON next to it (same name, .json). `--workloads ''` runs the leader kills alone (on
fresh ensembles, i.e. a small tree; after the load runs the tree holds ~10^5-10^6 znodes).

ZooKeeper runs as its packaged jar does: `java -Xmx1000m -cp zookeeper.jar(+log4j binding)
org.apache.zookeeper.server.quorum.QuorumPeerMain zoo.cfg` (1000 MB heap as zkServer.sh's
default), logging INFO to a file like zabd (RUST_LOG=info). If zabd does not serve the client
protocol (a probe session fails), only ZooKeeper is measured and the table says so.

Standard library only; process bookkeeping, four-letter words and machine facts come from
bench_election.py. Usage: scripts/bench_clients.py [--quick] [--markdown FILE] ... (--help).
Every server listens on 127.0.0.1 only; every run is bounded in time and stops by itself.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_election as be  # noqa: E402  (helpers: children, watchdog, 4lw, machine facts)

REPO = be.REPO
ZK_JAR = "/usr/share/java/zookeeper.jar"
# The Debian jar's manifest names its dependencies; slf4j-api has no binding among them, so we
# add log4j 1.2 to get ZooKeeper's usual INFO log (zabd logs at info too).
ZK_LOG_JARS = ["/usr/share/java/slf4j-log4j12.jar", "/usr/share/java/log4j-1.2.jar"]
ZK_MAIN = "org.apache.zookeeper.server.quorum.QuorumPeerMain"
LOG4J_PROPS = """log4j.rootLogger=INFO, CONSOLE
log4j.appender.CONSOLE=org.apache.log4j.ConsoleAppender
log4j.appender.CONSOLE.layout=org.apache.log4j.PatternLayout
log4j.appender.CONSOLE.layout.ConversionPattern=%d{ISO8601} - %-5p [%t:%C{1}@%L] - %m%n
"""
KINDS = ("zabd", "zookeeper")
TITLE = {"zabd": "zabd", "zookeeper": "ZooKeeper"}


def log(msg: str):
    print(msg, flush=True)


# ---------------------------------------------------------------------------------------------
# Ensembles


def proc_cpu_s(pid: int) -> float:
    """utime + stime of a live process (0 if gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            st = f.read()
    except OSError:
        return 0.0
    fields = st[st.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / be._TICK


def proc_rss_mib(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


@dataclass
class Srv:
    sid: int
    client_port: int
    quorum_port: int
    election_port: int
    data_dir: str
    cfg_path: str
    proc: subprocess.Popen | None = None
    logs: list[str] = field(default_factory=list)


class Ensemble:
    """`voters` voters and `observers` observers (3 + 0 here; scripts/bench.py uses other
    shapes) of one kind on loopback, with the shared zoo.cfg settings."""

    def __init__(self, kind: str, zabd_bin: str, java: str, base_dir: str, heap: str,
                 voters: int = 3, observers: int = 0):
        self.kind = kind
        self.zabd_bin = zabd_bin
        self.java = java
        self.heap = heap
        n = voters + observers
        self.dir = tempfile.mkdtemp(prefix=f"clients-{kind}-", dir=base_dir)
        ports = be.free_ports(3 * n)
        self.servers: dict[int, Srv] = {}
        self.observers = set(range(voters + 1, n + 1))
        for i in range(n):
            sid = i + 1
            ddir = os.path.join(self.dir, f"data{sid}")
            os.makedirs(ddir)
            with open(os.path.join(ddir, "myid"), "w") as f:
                f.write(f"{sid}\n")
            self.servers[sid] = Srv(sid, ports[3 * i], ports[3 * i + 1], ports[3 * i + 2], ddir,
                                    os.path.join(self.dir, f"zoo{sid}.cfg"))
        lines = [f"server.{s.sid}=127.0.0.1:{s.quorum_port}:{s.election_port}"
                 + (":observer" if s.sid in self.observers else "")
                 for s in self.servers.values()]
        for s in self.servers.values():
            with open(s.cfg_path, "w") as f:
                f.write(zoo_cfg(s.data_dir, s.client_port)
                        + ("peerType=observer\n" if s.sid in self.observers else "")
                        + "\n".join(lines) + "\n")
        if kind == "zookeeper":
            with open(os.path.join(self.dir, "log4j.properties"), "w") as f:
                f.write(LOG4J_PROPS)

    def servers_arg(self) -> str:
        return ",".join(f"127.0.0.1:{s.client_port}" for s in self.servers.values())

    def command(self, s: Srv) -> list[str]:
        if self.kind == "zabd":
            return [self.zabd_bin, "--config", s.cfg_path]
        cp = ":".join([ZK_JAR] + [j for j in ZK_LOG_JARS if os.path.exists(j)])
        return [self.java, f"-Xmx{self.heap}", "-cp", cp,
                f"-Dlog4j.configuration=file:{os.path.join(self.dir, 'log4j.properties')}",
                f"-Dzookeeper.log.dir={self.dir}", ZK_MAIN, s.cfg_path]

    def spawn(self, sid: int):
        s = self.servers[sid]
        path = os.path.join(self.dir, f"{self.kind}{sid}.{len(s.logs) + 1}.log")
        s.logs.append(path)
        env = dict(os.environ)
        env["RUST_LOG"] = "info"
        env.pop("RUST_BACKTRACE", None)
        with open(path, "wb") as out:
            s.proc = subprocess.Popen(self.command(s), stdin=subprocess.DEVNULL, stdout=out,
                                      stderr=subprocess.STDOUT, close_fds=True, env=env)
        be._CHILDREN.append(s.proc)
        be._watch_pid(s.proc.pid, True)

    def start(self):
        for sid in self.servers:
            self.spawn(sid)

    def states(self) -> dict[int, tuple[str, int | None]]:
        return {sid: be.parse_srvr(be.four_letter(s.client_port, "srvr"))
                for sid, s in self.servers.items()}

    def wait_stable(self, timeout: float, settle: float = 0.5) -> int:
        """Until every server serves, one of them as leader (for `settle` s); the leader's
        sid."""
        deadline = time.monotonic() + timeout
        since = None
        while time.monotonic() < deadline:
            dead = [sid for sid, s in self.servers.items() if s.proc.poll() is not None]
            if dead:
                raise RuntimeError(f"{self.kind} server(s) {dead} exited; logs in {self.dir}")
            st = self.states()
            modes = [m for m, _ in st.values()]
            # No epoch comparison: a ZooKeeper follower's srvr Zxid stays in the old epoch
            # until the first write of the new one.
            ok = (all(m in be.SERVING_MODES for m in modes)
                  and modes.count("leader") == 1)
            if ok:
                since = since or time.monotonic()
                if time.monotonic() - since >= settle:
                    return next(sid for sid, (m, _) in st.items() if m == "leader")
            else:
                since = None
            time.sleep(0.05)
        raise RuntimeError(f"{self.kind}: no stable ensemble within {timeout:.0f} s: "
                           f"{self.states()}; logs in {self.dir}")

    def leader(self) -> int | None:
        for sid, (mode, _) in self.states().items():
            if mode == "leader":
                return sid
        return None

    def cpu_s(self) -> float:
        return sum(proc_cpu_s(s.proc.pid) for s in self.servers.values()
                   if s.proc is not None and s.proc.poll() is None)

    def rss(self) -> list[float]:
        return [r for s in self.servers.values() if s.proc is not None
                for r in [proc_rss_mib(s.proc.pid)] if r is not None]

    def revive(self) -> list[str]:
        """Restart servers that died without us killing them (e.g. a stray kill from another
        user of the machine); each is reported, and the ensemble is stable again after."""
        notes = []
        for sid, s in self.servers.items():
            if s.proc is not None and s.proc.poll() is not None:
                code = s.proc.returncode
                why = f"signal {-code}" if code < 0 else f"exit code {code}"
                notes.append(f"{self.kind} server {sid} died on its own ({why}); restarted")
                be._forget(s.proc)
                self.spawn(sid)
        if notes:
            self.wait_stable(120)
        return notes

    def kill(self, sid: int, sig: int = signal.SIGKILL):
        """Stop one server with `sig` and reap it (SIGKILL after 10 s if it lingers)."""
        p = self.servers[sid].proc
        os.kill(p.pid, sig)
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        be._forget(p)

    def stop(self):
        procs = [s.proc for s in self.servers.values() if s.proc is not None]
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            be._forget(p)


def zoo_cfg(data_dir: str, client_port: int) -> str:
    """The settings both systems get (zabd ignores admin.enableServer with a warning)."""
    return ("tickTime=2000\ninitLimit=10\nsyncLimit=5\n"
            f"dataDir={data_dir}\nclientPort={client_port}\nclientPortAddress=127.0.0.1\n"
            "maxClientCnxns=0\n4lw.commands.whitelist=*\nadmin.enableServer=false\n")


def our_pids(ensembles: dict[str, Ensemble]) -> set[int]:
    pids = {os.getpid()}
    if be._watchdog is not None:
        pids.add(be._watchdog.pid)
    for e in ensembles.values():
        pids |= {s.proc.pid for s in e.servers.values() if s.proc is not None}
    return pids


def wait_idle(max_wait: float, ensembles: dict[str, Ensemble]) -> bool:
    """Wait (at most max_wait s) until processes other than ours (this script, its servers)
    use < 10% of a CPU for 3 s in a row. (bench_election's wait_idle would count our own
    servers, which are still busy for a moment after a run.)"""
    if max_wait <= 0:
        return True
    end = time.monotonic() + max_wait
    quiet = 0
    announced = False
    while time.monotonic() < end:
        mine = our_pids(ensembles)
        busy = [(c, p) for c, p in be.busy_processes(1.0)
                if int(c[c.rindex("[") + 1:-1]) not in mine]
        if sum(p for _, p in busy) < 10.0:
            quiet += 1
            if quiet >= 3:
                return True
        else:
            quiet = 0
            if not announced:
                log("  waiting for an idle machine; busy: "
                    + ", ".join(f"{c} {p:.0f}%" for c, p in busy))
                announced = True
    log(f"  machine still busy after {max_wait:.0f} s; going on")
    return False


def settle_disk() -> None:
    """Write back every dirty page before a run. A run that follows one with big snapshots
    (of either system: both ensembles share the disk) otherwise pays for that writeback in its
    own fsyncs: with ext4's ordered journal an fdatasync can wait for other files' data, and
    runs after large-tree creates showed 300 ms stalls in both systems."""
    started = time.monotonic()
    os.sync()
    took = time.monotonic() - started
    if took > 0.5:
        log(f"  wrote back dirty pages before the run: {took:.1f} s")


# ---------------------------------------------------------------------------------------------
# Running zkbench


class Bench:
    """One zkbench process; samples the ensembles' CPU when it marks its measured window."""

    def __init__(self, cmd: list[str], ensembles: dict[str, Ensemble], timeout: float):
        self.cmd = cmd
        self.ensembles = ensembles
        self.timeout = timeout
        self.lines: queue.Queue[str] = queue.Queue()
        self.stderr: list[str] = []
        self.samples: dict[str, tuple[float, float, dict[str, float]]] = {}
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        be._CHILDREN.append(self.proc)
        be._watch_pid(self.proc.pid, True)
        self.stdout: list[str] = []
        self.readers = [threading.Thread(target=self._read_stderr, daemon=True),
                        threading.Thread(target=self._read_stdout, daemon=True)]
        for t in self.readers:
            t.start()

    def _read_stdout(self):
        for line in self.proc.stdout:
            self.stdout.append(line.rstrip("\n"))

    def _sample(self):
        return (time.monotonic(), be.machine_busy_s(),
                {k: e.cpu_s() for k, e in self.ensembles.items()})

    def _read_stderr(self):
        for line in self.proc.stderr:
            line = line.rstrip("\n")
            if line == "zkbench: measuring":
                self.samples["start"] = self._sample()
            elif line == "zkbench: window end":
                self.samples["end"] = self._sample()
            self.stderr.append(line)
            self.lines.put(line)

    def wait_line(self, text: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            try:
                if self.lines.get(timeout=left) == text:
                    return True
            except queue.Empty:
                return False

    def finish(self) -> dict:
        try:
            self.proc.wait(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for t in self.readers:
            t.join(timeout=5)
        be._forget(self.proc)
        res: dict = {"ok": False, "human": "", "cmd": self.cmd}
        for line in self.stdout:
            if line.startswith("{"):
                try:
                    res.update(json.loads(line))
                    res["ok"] = self.proc.returncode == 0
                except json.JSONDecodeError:
                    pass
            elif line.strip():
                res["human"] = line.strip()
        if not res["ok"]:
            res["error"] = "; ".join(self.stderr[-3:]) or f"exit {self.proc.returncode}"
        a, b = self.samples.get("start"), self.samples.get("end")
        if a and b and b[0] > a[0]:
            wall = b[0] - a[0]
            srv = {k: b[2][k] - a[2].get(k, 0.0) for k in b[2]}
            res["window_wall_s"] = wall
            res["server_cpu"] = {k: v / wall for k, v in srv.items()}  # CPUs (1.0 = one core)
            ours = sum(srv.values()) + (res.get("cpu_s") or 0.0)
            res["foreign_cpus"] = max(0.0, ((b[1] - a[1]) - ours) / wall)
        return res


def zkbench_cmd(args, ens: Ensemble, mode: str, extra: list[str]) -> list[str]:
    return [args.zkbench, mode, "--servers", ens.servers_arg(), "--json", "--label", ens.kind,
            "--threads", str(args.threads)] + extra


def run_load(args, ensembles, kind, mode, sessions, duration, warmup) -> dict:
    ens = ensembles[kind]
    # The tree a run starts on matters (a create, a snapshot cost more in a bigger one), and the
    # faster system's runs start on a bigger tree: it created more in the runs before. (Starting
    # every run on a restarted, empty ensemble instead was tried: a restarted ZooKeeper's JIT is
    # cold, and its create x128 fell from 13-14k to 10k ops/s, so that is not fairer.)
    znodes = be.mntr_int(be.mntr(ens.servers[1].client_port), "zk_znode_count")
    cmd = zkbench_cmd(args, ens, mode, ["--sessions", str(sessions), "--duration",
                                        str(duration), "--warmup", str(warmup)])
    res = Bench(cmd, ensembles, timeout=duration + warmup + 120).finish()
    res.update(kind=kind, workload=mode, n=sessions, znodes=znodes)
    return res


def run_gap(args, ensembles, kind, sig: int = signal.SIGKILL) -> dict:
    """One leader stop (`sig`: SIGKILL, or SIGTERM for a planned restart) under continuous
    writes; restarts the stopped server afterwards."""
    ens = ensembles[kind]
    ens.wait_stable(60)
    cmd = zkbench_cmd(args, ens, "gap", ["--writers", str(args.writers), "--duration",
                                         str(args.gap_duration), "--warmup", "1",
                                         "--event-window", str(args.gap_duration)])
    b = Bench(cmd, ensembles, timeout=args.gap_duration + 120)
    res: dict = {"kind": kind}
    if not b.wait_line("zkbench: measuring", 60):
        res.update(b.finish())
        res["ok"] = False
        return res
    time.sleep(args.gap_pre)
    leader = ens.leader()
    if leader is None:
        b.finish()
        return {"kind": kind, "ok": False, "error": "no leader found before the kill"}
    # The size of the tree matters: a new leader's followers sync (DIFF or SNAP) before serving.
    znodes = be.mntr_int(be.mntr(ens.servers[leader].client_port), "zk_znode_count")
    os.kill(b.proc.pid, signal.SIGUSR1)
    marked = b.wait_line("zkbench: event 1", 5)
    ens.kill(leader, sig)
    res.update(b.finish())
    res.update(kind=kind, leader=leader, marked=marked, znodes=znodes)
    ens.spawn(leader)
    ens.wait_stable(120)
    return res


def probe(args, ens: Ensemble) -> str | None:
    """None if a session can be created and a node written; else why not."""
    cmd = zkbench_cmd(args, ens, "create", ["--sessions", "1", "--duration", "0.3",
                                            "--warmup", "0", "--setup-timeout", "10"])
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        return "probe timed out"
    if p.returncode != 0:
        return (p.stderr.strip().splitlines() or [f"exit {p.returncode}"])[-1]
    for line in p.stdout.splitlines():
        if line.startswith("{"):
            d = json.loads(line)
            if d.get("ops", 0) > 0:
                return None
            return f"no create succeeded: {d.get('error_counts')}"
    return "no JSON output"


# ---------------------------------------------------------------------------------------------
# Report


def fmt_int(v: int | None) -> str:
    return "n/a" if v is None else f"{v:,}"


def fmt(v: float | None, unit: str = "") -> str:
    if v is None or v != v:
        return "n/a"
    if unit == "ops/s":
        return f"{v:,.0f}"
    if abs(v) >= 100:
        s = f"{v:.0f}"
    elif abs(v) >= 10:
        s = f"{v:.1f}"
    else:
        s = f"{v:.2f}"
    return s


def med(xs):
    xs = [x for x in xs if x is not None and x == x]
    return statistics.median(xs) if xs else None


def ratio(a, b) -> str:
    if a is None or b is None or b == 0 or a != a or b != b:
        return "n/a"
    return f"{a / b:.2f}x"


def summary_rows(results: list[dict], gaps: list[dict], args) -> list[tuple[str, str, str, str]]:
    rows = []
    for wl in args.workloads:
        for n in args.sessions:
            runs = {k: [r for r in results if r["workload"] == wl and r["n"] == n
                        and r["kind"] == k and r.get("ok")] for k in KINDS}
            for key, label, unit in (("ops_per_s", "ops/s (higher is better)", "ops/s"),
                                     ("p50_ms", "p50 ms", ""), ("p99_ms", "p99 ms", "")):
                v = {k: med([r.get(key) for r in runs[k]]) for k in KINDS}
                rows.append((f"{wl} x{n}: {label}", fmt(v["zabd"], unit),
                             fmt(v["zookeeper"], unit), ratio(v["zabd"], v["zookeeper"])))
    for key, label in (("gap", "leader kill: write pause (worst writer), median ms"),
                       ("gap_max", "leader kill: write pause (worst writer), max ms"),
                       ("recovery", "leader kill: kill mark -> writes resume, median ms")):
        v = {}
        for k in KINDS:
            xs = [g["event_gap_ms"][0] if key != "recovery" else g["event_recovery_ms"][0]
                  for g in gaps if g["kind"] == k and g.get("ok") and g.get("event_gap_ms")]
            xs = [x for x in xs if x is not None]
            v[k] = (max(xs) if xs else None) if key == "gap_max" else med(xs)
        rows.append((label, fmt(v["zabd"]), fmt(v["zookeeper"]),
                     ratio(v["zabd"], v["zookeeper"])))
    for key, label in (("failed_writes", "leader kill: failed writes (error replies), total"),
                       ("retried_writes", "leader kill: writes retried after connection loss, "
                                          "total"),
                       ("session_expirations", "leader kill: sessions expired, total")):
        v = {k: sum(g.get(key, 0) for g in gaps if g["kind"] == k and g.get("ok")) for k in KINDS}
        cnt = {k: sum(1 for g in gaps if g["kind"] == k and g.get("ok")) for k in KINDS}
        rows.append((label, str(v["zabd"]) if cnt["zabd"] else "n/a",
                     str(v["zookeeper"]) if cnt["zookeeper"] else "n/a", ""))
    return rows


def text_table(rows) -> str:
    head = ("figure", "zabd", "ZooKeeper", "zabd/ZK")
    w = [max(len(str(r[i])) for r in rows + [head]) for i in range(4)]
    out = ["  ".join(str(x).ljust(w[i]) for i, x in enumerate(head))]
    for r in rows:
        out.append("  ".join(str(x).ljust(w[i]) for i, x in enumerate(r)))
    return "\n".join(out)


def md_table(head, rows) -> str:
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(str(x) for x in r) + " |" for r in rows]
    return "\n".join(out)


def detail_rows(results: list[dict]):
    rows = []
    for r in results:
        if not r.get("ok"):
            rows.append((r["workload"], r["n"], TITLE[r["kind"]], fmt_int(r.get("znodes")),
                         "FAILED: " + r.get("error", ""), "", "", "", "", "", "", ""))
            continue
        scpu = r.get("server_cpu", {}).get(r["kind"])
        other = [v for k, v in r.get("server_cpu", {}).items() if k != r["kind"]]
        per_k = (scpu * r["window_wall_s"] / r["ops"] * 1000 * 1000
                 if scpu is not None and r.get("ops") else None)
        errs = r.get("errors", 0)
        rows.append((r["workload"], r["n"], TITLE[r["kind"]], fmt_int(r.get("znodes")),
                     fmt(r["ops_per_s"], "ops/s"),
                     fmt(r["p50_ms"]), fmt(r["p99_ms"]), fmt(r["max_ms"]),
                     f"{errs}" + (f" {r.get('error_counts')}" if errs else ""),
                     f"{scpu * 100:.0f}% ({per_k:.0f} us/op)" if per_k is not None else "n/a",
                     f"{r.get('cpu_pct', 0):.0f}%",
                     f"{r.get('foreign_cpus', float('nan')):.2f}"
                     + (f" (+{other[0]:.2f} idle ens.)" if other else "")))
    return rows


def gap_rows(gaps: list[dict]):
    rows = []
    for i, g in enumerate(gaps):
        if not g.get("ok"):
            rows.append((TITLE[g["kind"]], g.get("leader", "?"), g.get("znodes", "?"),
                         "FAILED: " + str(g.get("error", "")), "", "", "", "", "", ""))
            continue
        rows.append((TITLE[g["kind"]], g.get("leader"), g.get("znodes", "?"),
                     fmt((g.get("event_gap_ms") or [None])[0]),
                     fmt((g.get("event_recovery_ms") or [None])[0]), fmt(g.get("max_gap_ms")),
                     g.get("failed_writes"), g.get("retried_writes"),
                     f"{g.get('reconnects')} / {g.get('failed_connect_attempts')}",
                     g.get("session_expirations")))
    return rows


# ---------------------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--zabd", default=os.path.join(REPO, "target", "release", "zabd"))
    ap.add_argument("--zkbench", default=os.path.join(REPO, "target", "release", "zkbench"))
    ap.add_argument("--java", default=shutil.which("java") or "/usr/bin/java")
    ap.add_argument("--zk-heap", default="1000m", help="ZooKeeper's -Xmx (zkServer.sh: 1000m)")
    ap.add_argument("--quick", action="store_true",
                    help="short runs: 2 s measured after 1 s warmup, 1 repeat, 2 kills")
    ap.add_argument("--duration", type=float, help="measured seconds per run (default 10)")
    ap.add_argument("--warmup", type=float, help="warmup seconds per run (default 3)")
    ap.add_argument("--repeat", type=int, help="runs per figure and system (default 3)")
    ap.add_argument("--prewarm", type=float,
                    help="seconds of discarded load on each system first (default 10)")
    ap.add_argument("--workloads", default="create,set,get")
    ap.add_argument("--sessions", default="1,16,128")
    ap.add_argument("--kills", type=int, help="leader kills per system (default 5)")
    ap.add_argument("--writers", type=int, default=3, help="gap: writing sessions")
    ap.add_argument("--gap-duration", type=float, help="gap: measured seconds (default 8)")
    ap.add_argument("--gap-pre", type=float, default=2.0,
                    help="gap: seconds of writes before the kill")
    ap.add_argument("--threads", type=int, default=1, help="zkbench runtime threads")
    ap.add_argument("--only", choices=KINDS, help="measure one system only")
    ap.add_argument("--wait-idle", type=float, default=0.0,
                    help="before each pair of runs, wait up to this many seconds for other "
                         "processes to use < 10%% of a CPU (the figures need a quiet machine)")
    ap.add_argument("--dir", default=tempfile.gettempdir(), help="where data directories go")
    ap.add_argument("--markdown", default=os.path.join(REPO, "bench-results", "clients.md"))
    ap.add_argument("--keep-logs", help="copy the servers' logs here at the end")
    args = ap.parse_args()
    q = args.quick
    args.duration = args.duration or (2.0 if q else 10.0)
    args.warmup = args.warmup if args.warmup is not None else (1.0 if q else 3.0)
    args.repeat = args.repeat or (1 if q else 3)
    args.prewarm = args.prewarm if args.prewarm is not None else (3.0 if q else 10.0)
    args.kills = args.kills if args.kills is not None else (2 if q else 5)
    args.gap_duration = args.gap_duration or (5.0 if q else 8.0)
    args.gap_pre = min(args.gap_pre, args.gap_duration / 2)
    args.workloads = [w for w in args.workloads.split(",") if w]
    args.sessions = [int(n) for n in args.sessions.split(",") if n]
    for path in (args.zkbench,) + (() if args.only == "zookeeper" else (args.zabd,)):
        if not os.access(path, os.X_OK):
            log(f"missing {path}: build it with `cargo build --release`")
            return 2
    if args.only != "zabd" and not os.path.exists(ZK_JAR):
        log(f"missing {ZK_JAR} (Debian package zookeeper)")
        return 2

    signal.signal(signal.SIGTERM, be._on_signal)
    signal.signal(signal.SIGINT, be._on_signal)
    base = tempfile.mkdtemp(prefix="bench-clients-", dir=args.dir)
    be._TEMPDIRS.append(base)
    be._start_watchdog(base)
    started = time.time()
    info = be.machine_info()
    load_start = be.loadavg()
    busy_start = be.busy_processes(1.0)
    disk = be.fsync_probe(base)
    command = " ".join(shlex.quote(a) for a in sys.argv)
    log(f"machine: nproc={info['nproc']}, {info['cpu']}, {info['memory']}, kernel "
        f"{info['kernel']}; load average {load_start}")

    kinds = [k for k in KINDS if args.only in (None, k)]
    ensembles = {k: Ensemble(k, args.zabd, args.java, base, args.zk_heap) for k in kinds}
    for e in ensembles.values():
        e.start()
    for k, e in ensembles.items():
        e.wait_stable(120)
        log(f"{TITLE[k]} ensemble serving: {e.servers_arg()}")
    skipped: dict[str, str] = {}
    for k, e in list(ensembles.items()):
        why = probe(args, e)
        if why is not None:
            log(f"{TITLE[k]}: cannot run the client benchmark: {why}")
            skipped[k] = why
    active = [k for k in kinds if k not in skipped]
    if not active:
        log("nothing to measure")
        return 1
    if args.prewarm > 0:
        for k in active:
            log(f"prewarm {TITLE[k]}: {args.prewarm:.0f} s of set x16 (discarded)")
            run_load(args, ensembles, k, "set", 16, args.prewarm, 0)

    results: list[dict] = []
    gaps: list[dict] = []
    incidents: list[str] = []
    raw = os.path.splitext(args.markdown)[0] + ".json"
    os.makedirs(os.path.dirname(os.path.abspath(raw)), exist_ok=True)

    def save_raw(rss=None):
        # After every run, so a crash or a stray kill loses nothing measured so far.
        with open(raw, "w") as f:
            json.dump({"command": command, "machine": info, "skipped": skipped,
                       "incidents": incidents, "loads": results, "kills": gaps,
                       "rss_mib": rss}, f, indent=1)

    def revive_all():
        for e in ensembles.values():
            for note in e.revive():
                log("  " + note)
                incidents.append(note)

    try:
        i = 0
        for wl in args.workloads:
            for n in args.sessions:
                for rep in range(args.repeat):
                    order = active if i % 2 == 0 else list(reversed(active))
                    i += 1
                    wait_idle(args.wait_idle, ensembles)
                    for k in order:
                        revive_all()
                        settle_disk()
                        r = run_load(args, ensembles, k, wl, n, args.duration, args.warmup)
                        results.append(r)
                        save_raw()
                        log(("  " + r["human"]) if r.get("ok") else
                            f"  [{k}] {wl} x{n}: FAILED: {r.get('error')}")
        for j in range(args.kills):
            order = active if j % 2 == 0 else list(reversed(active))
            wait_idle(args.wait_idle, ensembles)
            for k in order:
                revive_all()
                g = run_gap(args, ensembles, k)
                gaps.append(g)
                save_raw()
                log(("  " + g.get("human", "")) if g.get("ok") else
                    f"  [{k}] gap: FAILED: {g.get('error')}")
    except RuntimeError as err:
        # Report what was measured; the error goes into the markdown too.
        log(f"stopped early: {err}")
        incidents.append(f"stopped early: {err}")
    rss = {k: e.rss() for k, e in ensembles.items()}
    for e in ensembles.values():
        e.stop()
    if args.keep_logs:
        os.makedirs(args.keep_logs, exist_ok=True)
        for e in ensembles.values():
            for s in e.servers.values():
                for p in s.logs:
                    shutil.copy(p, args.keep_logs)

    rows = summary_rows(results, gaps, args)
    top = {k: max(rss[k]) if rss.get(k) else None for k in KINDS}
    rows.append(("VmRSS per server after the runs, largest MiB", fmt(top["zabd"]),
                 fmt(top["zookeeper"]), ratio(top["zabd"], top["zookeeper"])))
    for k, why in skipped.items():
        rows = [(f, "n/a" if k == "zabd" else a, b if k == "zabd" else "n/a", "n/a")
                for f, a, b, _ in rows]
    log("")
    log(text_table(rows))
    for k, why in skipped.items():
        log(f"{TITLE[k]} not measured: {why}")
    took = time.time() - started
    foreign = [r["foreign_cpus"] for r in results if r.get("foreign_cpus") is not None]

    md = [f"### Client protocol: zabd vs ZooKeeper 3.8 through zkbench",
          "",
          f"- command: `{command}`",
          f"- started: {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(started))}, took "
          f"{took:.0f} s",
          f"- machine: nproc={info['nproc']}, CPU {info['cpu']}, memory {info['memory']}, kernel "
          f"{info['kernel']}",
          f"- load: load average {load_start} at start, {be.loadavg()} at end; busy processes "
          f"at start: " + (", ".join(f"{c} {p:.0f}%" for c, p in busy_start) or "none")
          + (f"; other processes' CPU during measured windows: median "
             f"{statistics.median(foreign):.2f}, max {max(foreign):.2f} CPUs" if foreign else ""),
          f"- disk ({args.dir}): {disk}",
          f"- zabd: " + (be.binary_info(args.zabd) if "zabd" in kinds else "not run"),
          f"- ZooKeeper: {ZK_JAR} (3.8), `{args.java} -Xmx{args.zk_heap}`, log4j INFO to a file",
          f"- settings: tickTime=2000, initLimit=10, syncLimit=5, maxClientCnxns=0, fsync on "
          f"(both defaults), 3 voters per system on 127.0.0.1, data under {args.dir}; both "
          f"ensembles up during every run; {args.duration:g} s measured after {args.warmup:g} s "
          f"warmup, {args.repeat} run(s) per figure and system (medians), systems alternated; "
          f"{args.prewarm:g} s discarded prewarm each; zkbench with {args.threads} thread(s)",
          f"- leader kill: {args.writers} writers (setData, writer i starts on server i), kill "
          f"after {args.gap_pre:g} s, {args.gap_duration:g} s measured; {args.kills} kill(s) per "
          f"system; the killed server is restarted and the ensemble stable before the next",
          ""]
    for k, why in skipped.items():
        md.append(f"**{TITLE[k]} not measured**: {why}\n")
    for note in incidents:
        md.append(f"**Incident**: {note}\n")
    md += [md_table(("figure", "zabd", "ZooKeeper 3.8", "zabd/ZK"), rows), ""]
    if results:
        md += ["Per run (servers' CPU: sum over the 3 servers of the measured system during the "
               "measured window, as a share of one core, and per successful op; other CPU: every "
               "other process on the machine, in CPUs, then the idle ensemble; znodes: server "
               "1's `zk_znode_count` as the run started):", "",
               md_table(("workload", "sessions", "system", "znodes", "ops/s", "p50 ms", "p99 ms",
                         "max ms", "errors", "servers' CPU", "zkbench CPU", "other CPU"),
                        detail_rows(results)), ""]
    if gaps:
        md += ["Leader kills (pause: for each writer, the interval between two successful "
               "writes that holds its first failed write after the kill mark, worst writer; "
               "recovery: from the mark, just before SIGKILL, to the end of that pause; longest "
               "pause in run: any interval, kill or not; znodes: the leader's `mntr` count "
               "before the kill; reconnects / failed connection attempts summed over writers):",
               "",
               md_table(("system", "killed sid", "znodes", "pause ms", "recovery ms",
                         "longest pause in run ms", "failed", "retried",
                         "reconnects / failed attempts", "expired"), gap_rows(gaps)), ""]
    os.makedirs(os.path.dirname(os.path.abspath(args.markdown)), exist_ok=True)
    with open(args.markdown, "w") as f:
        f.write("\n".join(md) + "\n")
    log(f"markdown written to {args.markdown}")
    save_raw(rss)
    log(f"every run's zkbench JSON written to {raw}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
