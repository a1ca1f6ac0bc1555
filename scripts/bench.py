#!/usr/bin/env python3
"""One benchmark run: zabd and ZooKeeper 3.8 side by side on this machine, then the table, the
generated section of BENCHMARKS.md and the figures.

    scripts/bench.sh [--quick] [options]      (builds, installs ZooKeeper if missing, runs this)

In one run, the two systems alternating trial by trial, with the same zoo.cfg (tickTime=2000,
initLimit=10, syncLimit=5, 127.0.0.1, data in one temporary directory on one disk):

  1. per ensemble shape (3, 5, 7 voters; 3 voters + 1 observer): cold start to a stable leader;
     idle RSS; leader SIGKILL -> every survivor serving under one new leader (the observer's
     own time for 3+1), with the survivors' CPU seconds and the election messages; the killed
     server restarted -> following, and whether the leader changed; leader SIGSTOP -> every
     survivor serving (the same syncLimit x tickTime for both), then SIGCONT -> following.
     "Serving" is scripts/bench_failover.py's SERVING_RULE, the same for both systems;
  2. 3 voters each, driven by target/release/zkbench (native, ZooKeeper protocol, reports its
     own CPU): create/set/get throughput and p50/p99 latency with fsync on at 1/16/128
     sessions, the servers' RSS under that load; the write gap a client sees around a leader
     SIGKILL and around a planned restart (SIGTERM);
  3. zabd alone in simulation (examples/sim_scale.rs, turmoil): election time and messages as
     the ensemble grows to 51 voters and to 200 observers.

Prints a table (median, min, max per system, zabd/ZooKeeper ratio, goal, verdict); writes
bench-results/bench.json (every sample), bench-results/bench-*.svg and the section of
BENCHMARKS.md between the generated-section markers (bench_report.BEGIN_MARK). Standard library
only. Every process is killed at exit, also when this script is killed.
"""

from __future__ import annotations

import argparse
import calendar
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_clients as bc  # noqa: E402
import bench_election as be  # noqa: E402
import bench_failover as bf  # noqa: E402
import bench_report as br  # noqa: E402
from bench_report import Figure, Goal  # noqa: E402

REPO = be.REPO
KINDS = ("zabd", "zookeeper")

# The goals, as zabd / ZooKeeper ratios measured in one run.
GOAL_FAILOVER = Goal(0.25)
GOAL_OBSERVER = Goal(0.2)
GOAL_COLD = Goal(0.2)
GOAL_RSS = Goal(0.125)
GOAL_WRITES = Goal(2.0, at_least=True)
WRITE_WORKLOADS = ("create", "set")


def log(msg: str):
    print(msg, flush=True)


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help="3 voters and 3+1 only, few trials, short load runs, small simulation "
                         "(under 5 minutes)")
    ap.add_argument("--zabd", default=os.path.join(REPO, "target", "release", "zabd"))
    ap.add_argument("--zkbench", default=os.path.join(REPO, "target", "release", "zkbench"))
    ap.add_argument("--sim-scale", default=os.path.join(REPO, "target", "release", "examples",
                                                        "sim_scale"))
    ap.add_argument("--java", default=shutil.which("java") or "/usr/bin/java")
    ap.add_argument("--zk-heap", default="1000m", help="ZooKeeper's -Xmx (zkServer.sh: 1000m)")
    ap.add_argument("--shapes", help="ensembles, e.g. 3,5,7,3+1 (quick: 3,3+1)")
    ap.add_argument("--cold-runs", type=int, help="cold starts per shape and system (5; quick 2)")
    ap.add_argument("--kills", type=int, help="leader SIGKILLs per shape and system (6; quick 3)")
    ap.add_argument("--stops", type=int, help="leader SIGSTOPs per shape and system (2; quick 1)")
    ap.add_argument("--stop-shapes", help="shapes with SIGSTOP trials (3,7,3+1; quick 3)")
    ap.add_argument("--workloads", help="zkbench workloads (create,set,get; quick create,get)")
    ap.add_argument("--sessions", help="sessions per load run (1,16,128)")
    ap.add_argument("--duration", type=float, help="measured seconds per load run (6; quick 2)")
    ap.add_argument("--warmup", type=float, help="warmup seconds per load run (2; quick 1)")
    ap.add_argument("--repeat", type=int, help="load runs per figure and system (3; quick 1)")
    ap.add_argument("--prewarm", type=float, help="discarded load per system first (8; quick 2)")
    ap.add_argument("--gap-kills", type=int,
                    help="write-gap trials per system and stop kind (4; quick 1)")
    ap.add_argument("--writers", type=int, default=3, help="write-gap: writing sessions")
    ap.add_argument("--gap-duration", type=float, help="write-gap: measured seconds (6; quick 4)")
    ap.add_argument("--gap-pre", type=float, default=2.0)
    ap.add_argument("--threads", type=int, default=1, help="zkbench runtime threads")
    ap.add_argument("--sim-voters", help="simulated voter counts (3,5,7,11,21,31,51; quick "
                                         "3,5,7,21,51)")
    ap.add_argument("--sim-observers", help="simulated observer counts with 3 voters "
                                            "(10,50,100,200; quick 10,50)")
    ap.add_argument("--sim-budget", type=int, help="wall seconds for the simulation (900; "
                                                   "quick 60)")
    ap.add_argument("--skip", default="", help="comma list of phases to skip: election,load,sim")
    ap.add_argument("--poll-interval", type=float, default=0.002,
                    help="seconds between srvr polls of one server (at 1 ms, answering the "
                         "polls costs ZooKeeper's survivors ~0.8 CPU of this 2-core machine)")
    ap.add_argument("--settle", type=float, default=0.5)
    ap.add_argument("--idle-wait", type=float, default=3.0,
                    help="seconds after the last cold start before idle RSS is read")
    ap.add_argument("--counter-wait", type=float, default=0.3)
    ap.add_argument("--cpu-kills", type=int,
                    help="unpolled leader SIGKILLs per shape and system for CPU per election "
                         "(3; quick 1)")
    ap.add_argument("--cpu-window", type=float, default=3.0,
                    help="seconds of CPU counted after an unpolled kill (and idle before)")
    ap.add_argument("--timeout", type=float, default=30.0)
    ap.add_argument("--dir", default=tempfile.gettempdir(), help="where data directories go")
    ap.add_argument("--from-json", metavar="FILE",
                    help="measure nothing: report the run saved in FILE (a bench.json)")
    ap.add_argument("--keep-logs", metavar="DIR",
                    help="copy the election ensembles' server logs here")
    ap.add_argument("--out", default=os.path.join(REPO, "bench-results"),
                    help="directory for bench.json and the SVG figures")
    ap.add_argument("--benchmarks", default=os.path.join(REPO, "BENCHMARKS.md"),
                    help="file whose generated section is replaced ('' to leave it alone)")
    args = ap.parse_args(argv)
    q = args.quick

    def pick(v, full, quick):
        return v if v is not None else (quick if q else full)

    args.shapes = pick(args.shapes, "3,5,7,3+1", "3,3+1")
    args.cold_runs = pick(args.cold_runs, 5, 2)
    args.kills = pick(args.kills, 6, 3)
    args.stops = pick(args.stops, 2, 1)
    args.cpu_kills = pick(args.cpu_kills, 3, 1)
    args.stop_shapes = set(pick(args.stop_shapes, "3,7,3+1", "3").split(","))
    args.workloads = [w for w in pick(args.workloads, "create,set,get", "create,get").split(",")
                      if w]
    args.sessions = [int(n) for n in pick(args.sessions, "1,16,128", "1,16,128").split(",") if n]
    args.duration = pick(args.duration, 6.0, 2.0)
    args.warmup = pick(args.warmup, 2.0, 1.0)
    args.repeat = pick(args.repeat, 3, 1)
    args.prewarm = pick(args.prewarm, 8.0, 2.0)
    args.gap_kills = pick(args.gap_kills, 4, 1)
    args.gap_duration = pick(args.gap_duration, 6.0, 4.0)
    args.gap_pre = min(args.gap_pre, args.gap_duration / 2)
    args.sim_voters = pick(args.sim_voters, "3,5,7,11,21,31,51", "3,5,7,21,51")
    args.sim_observers = pick(args.sim_observers, "10,50,100,200", "10,50")
    args.sim_budget = pick(args.sim_budget, 900, 60)
    args.skip = {s for s in args.skip.split(",") if s}
    args.shape_list = []
    for s in args.shapes.split(","):
        v, _, o = s.partition("+")
        args.shape_list.append((int(v), int(o or 0)))
    return args


# ---------------------------------------------------------------------------------------------
# Phase 2: load and write gaps


class RssSampler(threading.Thread):
    """The largest VmRSS of any server of one ensemble, sampled every 0.25 s while it runs."""

    def __init__(self, ens: bc.Ensemble):
        super().__init__(daemon=True)
        self.ens = ens
        self.peak = 0.0
        self.stop_ev = threading.Event()

    def run(self):
        while not self.stop_ev.is_set():
            self.peak = max([self.peak] + self.ens.rss())
            self.stop_ev.wait(0.25)

    def stop(self) -> float:
        self.stop_ev.set()
        self.join()
        return max([self.peak] + self.ens.rss())


def load_phase(args, base: str, kinds, incidents: list) -> tuple[list, list, dict]:
    ensembles = {k: bf.new_ensemble(args, k, 3, 0, base) for k in kinds}
    loads, gaps = [], []
    rss_load: dict[str, list] = {k: [] for k in kinds}
    try:
        for e in ensembles.values():
            e.start()
        for k, e in ensembles.items():
            e.wait_stable(120)
            why = bc.probe(args, e)
            if why is not None:
                raise RuntimeError(f"{k}: a zkbench session fails: {why}")
        for k in kinds:
            if args.prewarm > 0:
                log(f"prewarm {k}: {args.prewarm:g} s of set x16 (discarded)")
                bc.run_load(args, ensembles, k, "set", 16, args.prewarm, 0)
        i = 0
        for wl in args.workloads:
            for n in args.sessions:
                for _ in range(args.repeat):
                    order = list(kinds) if i % 2 == 0 else list(reversed(kinds))
                    i += 1
                    for k in order:
                        for note in ensembles[k].revive():
                            incidents.append(note)
                        sampler = RssSampler(ensembles[k])
                        sampler.start()
                        r = bc.run_load(args, ensembles, k, wl, n, args.duration, args.warmup)
                        peak = sampler.stop()
                        r["rss_peak_mib"] = peak
                        rss_load[k].append(peak)
                        loads.append(r)
                        log(("  " + r["human"] + f"; servers' peak RSS {peak:.0f} MiB")
                            if r.get("ok") else f"  [{k}] {wl} x{n}: FAILED: {r.get('error')}")
        for j in range(args.gap_kills):
            for sig in (signal.SIGKILL, signal.SIGTERM):
                order = list(kinds) if j % 2 == 0 else list(reversed(kinds))
                for k in order:
                    for note in ensembles[k].revive():
                        incidents.append(note)
                    g = bc.run_gap(args, ensembles, k, sig)
                    g["signal"] = signal.Signals(sig).name
                    gaps.append(g)
                    log((f"  [{k}] {g['signal']}: " + g.get("human", "")) if g.get("ok") else
                        f"  [{k}] gap {g['signal']}: FAILED: {g.get('error')}")
    finally:
        for e in ensembles.values():
            e.stop()
    return loads, gaps, rss_load


# ---------------------------------------------------------------------------------------------
# Phase 3: simulation


def sim_phase(args) -> list[dict]:
    cmd = [args.sim_scale, "--voters", args.sim_voters, "--observers", args.sim_observers,
           "--budget", str(args.sim_budget)]
    log("simulation: " + " ".join(shlex.quote(c) for c in cmd))
    out = []
    try:
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    except OSError as err:
        return [{"failed": f"cannot run {args.sim_scale}: {err}"}]
    be._CHILDREN.append(p)
    for line in p.stdout:
        line = line.strip()
        if line.startswith("{"):
            d = json.loads(line)
            out.append(d)
            log("  " + ", ".join(f"{k}={v}" for k, v in d.items()))
    p.wait()
    be._forget(p)
    return out


# ---------------------------------------------------------------------------------------------
# Report


def figures(trials: dict, loads: list, gaps: list, rss_load: dict,
            writers: int) -> list[Figure]:
    figs: list[Figure] = []

    def both(attr, shape):
        return (getattr(trials[shape]["zabd"], attr) if "zabd" in trials[shape] else [],
                getattr(trials[shape]["zookeeper"], attr) if "zookeeper" in trials[shape]
                else [])

    for shape in trials:
        def add(name, attr, unit, goal=None, note="", scale=1.0):
            a, b = both(attr, shape)
            figs.append(Figure(f"{shape}: {name}", unit, [x * scale for x in a],
                               [x * scale for x in b], goal, note))

        add("cold start to a stable leader", "cold_ms", "ms", GOAL_COLD)
        add("leader SIGKILL -> all survivors serving", "kill_ms", "ms", GOAL_FAILOVER)
        if any(both("kill_observer_ms", shape)):
            add("leader SIGKILL -> observer serving", "kill_observer_ms", "ms", GOAL_OBSERVER)
            add("leader SIGKILL -> voting survivors serving", "kill_voters_ms", "ms")
        if any(both("stop_ms", shape)):
            add("leader SIGSTOP -> all survivors serving", "stop_ms", "ms",
                note="syncLimit x tickTime = 10 s")
            add("SIGSTOPped leader SIGCONTed -> following", "stop_back_ms", "ms")
        add("election alone after SIGKILL (LOOKING -> decided, max over survivors)",
            "election_ms", "ms", note="from the logs: zabd took=, ZooKeeper 'LEADER ELECTION "
            "TOOK'")
        add("ZAB sync after SIGKILL (decided -> serving, max over survivors)", "sync_ms", "ms",
            note="zabd's since_election=")
        add("killed leader restarted -> following", "rejoin_ms", "ms")
        a, b = both("leader_changed", shape)
        figs.append(Figure(f"{shape}: leader changed when the killed one came back", "",
                           [sum(a)] if a else [], [sum(b)] if b else [],
                           note=f"restarts: zabd {len(a)}, ZooKeeper {len(b)}; must be 0"))
        add("survivors' CPU per election (unpolled SIGKILL)", "cpu_s", "ms CPU", scale=1000.0)
        add("notifications sent per election (survivors)", "notif_sent", "")
        add("notifications received per election (survivors)", "notif_recv", "",
            note="ZooKeeper: its 'Notification:' log lines from other servers")
        add("notification bytes sent per election (survivors)", "bytes_sent", "B")
        add("election rounds (max over survivors)", "rounds", "")
        add("RSS per server, idle", "rss_idle_mib", "MiB", GOAL_RSS)
    for wl in dict.fromkeys(r["workload"] for r in loads):
        for n in sorted({r["n"] for r in loads if r["workload"] == wl}):
            runs = {k: [r for r in loads if r["workload"] == wl and r["n"] == n
                        and r["kind"] == k and r.get("ok")] for k in KINDS}
            goal = GOAL_WRITES if wl in WRITE_WORKLOADS else None
            figs.append(Figure(f"{wl} x{n}: throughput", "ops/s",
                               [r["ops_per_s"] for r in runs["zabd"]],
                               [r["ops_per_s"] for r in runs["zookeeper"]], goal))
            for key, name in (("p50_ms", "p50 latency"), ("p99_ms", "p99 latency")):
                figs.append(Figure(f"{wl} x{n}: {name}", "ms", [r.get(key) for r in runs["zabd"]],
                                   [r.get(key) for r in runs["zookeeper"]]))
            figs.append(Figure(f"{wl} x{n}: zkbench's own CPU", "% core",
                               [r.get("cpu_pct") for r in runs["zabd"]],
                               [r.get("cpu_pct") for r in runs["zookeeper"]]))
    if loads:
        figs.append(Figure("RSS per server under load (peak of the largest, per run)", "MiB",
                           rss_load.get("zabd", []), rss_load.get("zookeeper", []), GOAL_RSS))
    for sig, name in (("SIGKILL", "leader SIGKILL"), ("SIGTERM", "planned restart (SIGTERM)")):
        xs = {k: [(g.get("event_gap_ms") or [None])[0] for g in gaps
                  if g["kind"] == k and g.get("signal") == sig and g.get("ok")] for k in KINDS}
        if any(xs.values()):
            figs.append(Figure(f"write gap around a {name}, worst of {writers} writers", "ms",
                               xs["zabd"], xs["zookeeper"]))
    return figs


PALETTE = {"zabd": "#1f77b4", "zookeeper": "#d62728"}


def draw(trials: dict, loads: list, sim: list, out: str, label: str) -> list[str]:
    paths = []
    shapes = list(trials)
    xl = {i + 1: s for i, s in enumerate(shapes)}
    series = []
    for k, title in (("zabd", "zabd"), ("zookeeper", "ZooKeeper 3.8")):
        kill = {i + 1: trials[s][k].kill_ms for i, s in enumerate(shapes) if k in trials[s]}
        cold = {i + 1: trials[s][k].cold_ms for i, s in enumerate(shapes) if k in trials[s]}
        series.append(br.series_of(f"{title}: SIGKILL failover", PALETTE[k], kill))
        series.append(br.series_of(f"{title}: cold start", PALETTE[k], cold, dashed=True))
    if shapes:
        svg = br.line_chart("Failover and cold start by ensemble size", "ensemble (voters+observers)",
                            "ms (log scale; median, whiskers min-max)", series, log_y=True,
                            x_labels=xl, subtitle=label)
        paths.append(_write(out, "bench-failover.svg", svg))
    if loads:
        series = []
        for k, title in (("zabd", "zabd"), ("zookeeper", "ZK")):
            for wl, dash in (("create", False), ("set", False), ("get", True)):
                by = {}
                for r in loads:
                    if r["kind"] == k and r["workload"] == wl and r.get("ok"):
                        by.setdefault(r["n"], []).append(r["ops_per_s"])
                if by:
                    color = PALETTE[k] if wl != "set" else ("#6baed6" if k == "zabd"
                                                            else "#fc9272")
                    series.append(br.series_of(f"{title} {wl}", color, by, dashed=dash))
        xs = sorted({p[0] for s in series for p in s.points})
        svg = br.line_chart("Throughput against concurrency (fsync on, 3 voters)",
                            "concurrent sessions (log scale)",
                            "ops/s (log scale; median, whiskers min-max)", series,
                            log_x=True, log_y=True, x_labels={x: str(x) for x in xs},
                            subtitle=label)
        paths.append(_write(out, "bench-throughput.svg", svg))
    ok = [d for d in sim if "failover_ms" in d]
    if ok:
        series = []
        vot = [d for d in ok if d["observers"] == 0]
        obs = [d for d in ok if d["observers"] > 0]
        for data, xkey, name, color in ((vot, "voters", "voters", "#1f77b4"),
                                        (obs, "observers", "observers", "#2ca02c")):
            if data:
                series.append(br.Series(
                    f"notifications: {name}",
                    [(d[xkey],) + (float(d["failover_notifications"]),) * 3 for d in data
                     if d["failover_notifications"] > 0], color))
                series.append(br.Series(
                    f"sim. ms: {name}",
                    [(d[xkey],) + (float(d["failover_ms"]),) * 3 for d in data
                     if d["failover_ms"] > 0], color, dashed=True))
        xs = sorted({p[0] for s in series for p in s.points})
        svg = br.line_chart("Simulated leader crash: election cost by ensemble size (zabd)",
                            "voters (blue, no observers) or observers (green, with 3 voters)",
                            "notifications (solid) / simulated ms (dashed)", series, log_x=True,
                            log_y=True, x_labels={x: str(x) for x in xs},
                            subtitle="turmoil, virtual time, one seed; " + label)
        paths.append(_write(out, "bench-sim-scale.svg", svg))
    return paths


def _write(out: str, name: str, text: str) -> str:
    path = os.path.join(out, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def versions(args) -> dict[str, str]:
    v = {}
    try:
        v["zabd"] = subprocess.run([args.zabd, "--version"], capture_output=True, text=True,
                                   timeout=10).stdout.strip()
    except (OSError, subprocess.TimeoutExpired) as err:
        v["zabd"] = f"unknown ({err})"
    try:
        v["zookeeper"] = "Debian package zookeeper " + subprocess.run(
            ["dpkg-query", "-W", "-f", "${Version}", "zookeeper"], capture_output=True,
            text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        v["zookeeper"] = bc.ZK_JAR
    try:
        p = subprocess.run([args.java, "-version"], capture_output=True, text=True, timeout=20)
        v["java"] = (p.stderr.strip().splitlines() or ["?"])[0]
    except (OSError, subprocess.TimeoutExpired):
        v["java"] = "?"
    try:
        v["git"] = subprocess.run(["git", "-C", REPO, "describe", "--always", "--dirty"],
                                  capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        v["git"] = "?"
    return v


def sim_table(sim: list[dict]) -> str:
    body = []
    for d in sim:
        if "failover_ms" in d:
            body.append((d["voters"], d["observers"], br.fmt(d["cold_ms"]),
                         d["cold_notifications"], br.fmt(d["cold_bytes"] / 1024.0),
                         br.fmt(d["failover_ms"]), d["failover_notifications"],
                         br.fmt(d["failover_bytes"] / 1024.0), br.fmt(d["wall_s"])))
        else:
            body.append((d.get("voters", "?"), d.get("observers", "?"),
                         d.get("failed") or d.get("skipped") or "?", "", "", "", "", "", ""))
    return br.md_table(("voters", "observers", "cold start (sim. ms)", "notifications",
                        "KiB", "leader crash -> stable (sim. ms)", "notifications", "KiB",
                        "wall s"), [tuple(str(c) for c in r) for r in body])


def section(args, meta: dict, figs: list, sim: list, svgs: list, incidents: list,
            failures: list) -> str:
    mode = "**--quick run**" if args.quick else "full run"
    md = [f"## Generated: zabd and ZooKeeper 3.8 side by side ({'quick' if args.quick else 'full'})",
          "",
          f"Written by `scripts/bench.sh`; do not edit by hand, run it again. This is a {mode}.",
          "",
          f"- command: `{meta['command']}`",
          f"- started {meta['started']}, took {meta['took_s'] / 60:.1f} min",
          f"- machine: nproc={meta['machine']['nproc']}, CPU {meta['machine']['cpu']}, memory "
          f"{meta['machine']['memory']}, kernel {meta['machine']['kernel']}",
          f"- **shared machine**: load average {meta['load_start']} at start, {meta['load_end']} "
          f"at end; busy processes at start: {meta['busy_start'] or 'none'}. Other agents' "
          "builds share the 2 cores, so every figure carries that noise; the systems alternate "
          "trial by trial so that both see it alike. Both ran at the same niceness, "
          f"{meta['nice']} (the servers inherit the script's).",
          f"- disk ({args.dir}): {meta['disk']}",
          f"- zabd: `{meta['versions']['zabd']}` (tree {meta['versions']['git']}); ZooKeeper: "
          f"{meta['versions']['zookeeper']} (`{bc.ZK_JAR}`, -Xmx{args.zk_heap}, log4j INFO to a "
          f"file), {meta['versions']['java']}; zkbench: target/release/zkbench, "
          f"{args.threads} thread(s)",
          "- settings, both systems: tickTime=2000, initLimit=10, syncLimit=5, "
          "maxClientCnxns=0, 4lw.commands.whitelist=*, fsync on, every port on 127.0.0.1, data "
          f"under {args.dir}; zabd at RUST_LOG=info; srvr polled every "
          f"{1000 * args.poll_interval:g} ms per server",
          f"- trials per system: shapes {args.shapes}; {args.cold_runs} cold start(s), "
          f"{args.kills} leader SIGKILL(s) (each followed by a restart of the killed server), "
          f"{args.stops} SIGSTOP(s) on shapes {','.join(sorted(args.stop_shapes))}; load "
          f"{','.join(args.workloads)} x {','.join(map(str, args.sessions))} sessions, "
          f"{args.repeat} run(s) of {args.duration:g} s after {args.warmup:g} s warmup; "
          f"{args.gap_kills} write-gap trial(s) per stop kind ({args.writers} writers, setData)",
          "",
          *(["**A quick run is a smoke test, not a measurement**: 2 s load runs after 1 s "
              "warmup and a 2 s prewarm leave ZooKeeper's JVM cold (its throughput ratios "
              "flatter zabd), and medians of 1-3 trials are not a distribution. Use the full "
              "run's figures.", ""] if args.quick else []),
          "**Serving.** " + bf.SERVING_RULE,
          "",
          "**Other definitions.** Survivors' CPU per election: in separate leader kills with "
          "no poller running (answering srvr every few ms costs the servers more CPU than the "
          f"election does), the survivors' utime+stime over the {args.cpu_window:g} s after the "
          f"kill, less their idle rate over the {args.cpu_window:g} s before; it covers the "
          "election and the sync to the new leader; ZooKeeper's includes its JVMs' background "
          "threads (GC, JIT) in that window. Notifications/bytes: zabd's `mntr` counters "
          "(`zk_notifications_*`, `zk_notification_bytes_sent`: each notification frame with "
          "its 4-byte prefix), summed over the survivors, read 0.3 s after the failover; "
          "ZooKeeper has no such counters, its received count is its 'Notification:' log "
          "lines from other servers (it also logs those it queues to itself). Election alone: "
          "zabd's `took=` and ZooKeeper's 'LEADER ELECTION TOOK' log lines, LOOKING to decided, "
          "max over the survivors; ZAB sync: zabd's `since_election=`. Rounds: `rounds=` of zabd's 'election decided' lines. Write gap: zkbench `gap`: "
          "for each writer, the interval between two successful writes that holds its first "
          "failed write after the mark just before the signal; the worst writer. RSS: VmRSS "
          "from /proc.",
          "",
          "### Goals (zabd / ZooKeeper, medians of this run)",
          ""]
    md += br.goal_summary(figs) or ["- no goal figure measured"]
    md += ["", "### Every figure", "", br.md_table(br.HEADERS, br.rows(figs)), ""]
    if sim:
        md += ["### Simulation: cost of an election as the ensemble grows (zabd only)", "",
               "`examples/sim_scale.rs`: the real node code on turmoil's simulated network "
               "(tickTime 100 ms, 0.1-3 ms message latency, one seed), virtual time. For each "
               "ensemble: cold start to a stable leader, then the leader crashes and the "
               "survivors elect a new one; notifications and bytes are summed over all servers "
               "(cold start) or the survivors (crash), counted until stable plus 0.5 s. Observers "
               "are added to 3 voters. ZooKeeper cannot be run in this simulation.", "",
               sim_table(sim), ""]
    if svgs:
        md += ["### Figures", ""]
        md += [f"![{os.path.basename(p)}]({os.path.relpath(p, os.path.dirname(os.path.abspath(args.benchmarks or p)))})"
               for p in svgs]
        md.append("")
    if failures or incidents:
        md += ["### Slow trials, failures and incidents", ""] + [f"- {x}" for x in failures + incidents] + [""]
    md.append(f"Every sample: `{os.path.relpath(meta['json'], REPO)}`.")
    return "\n".join(md) + "\n"


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.from_json:
        return report_from_json(args.from_json, args.benchmarks, args.out)
    for path in (args.zabd, args.zkbench):
        if not os.access(path, os.X_OK):
            log(f"missing {path}: build it with `cargo build --release` (scripts/bench.sh does)")
            return 2
    if not os.path.exists(bc.ZK_JAR):
        log(f"missing {bc.ZK_JAR}: install the Debian package zookeeper (scripts/bench.sh does)")
        return 2
    signal.signal(signal.SIGTERM, be._on_signal)
    signal.signal(signal.SIGINT, be._on_signal)
    base = tempfile.mkdtemp(prefix="bench-all-", dir=args.dir)
    be._TEMPDIRS.append(base)
    be._start_watchdog(base)
    started = time.time()
    meta = {"command": " ".join(shlex.quote(a) for a in
                                [os.environ.get("BENCH_COMMAND", "scripts/bench.py")]
                                + (argv if argv is not None else sys.argv[1:])),
            "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(started)),
            "machine": be.machine_info(), "load_start": be.loadavg(),
            "busy_start": ", ".join(f"{c} {p:.0f}%" for c, p in be.busy_processes(1.0)),
            "disk": be.fsync_probe(base), "versions": versions(args), "nice": os.nice(0)}
    log(f"machine: {meta['machine']}; load average {meta['load_start']}; "
        f"busy: {meta['busy_start'] or 'none'}")
    log(f"versions: {meta['versions']}")
    os.makedirs(args.out, exist_ok=True)
    meta["json"] = os.path.join(args.out, "bench.json" if not args.quick else "bench-quick.json")
    trials: dict = {}
    loads, gaps, rss_load, sim, incidents, failures = [], [], {}, [], [], []

    def save():
        with open(meta["json"], "w") as f:
            json.dump({"meta": meta, "args": {k: (sorted(v) if isinstance(v, set) else v)
                                              for k, v in vars(args).items()},
                       "trials": {s: {k: asdict(t) for k, t in ts.items()}
                                  for s, ts in trials.items()},
                       "loads": loads, "gaps": gaps, "rss_load": rss_load, "sim": sim,
                       "incidents": incidents}, f, indent=1, default=str)

    try:
        if "election" not in args.skip:
            for v, o in args.shape_list:
                shape = bf.shape_name(v, o)
                log(f"\n== {shape}: cold starts, leader kills and stops")
                trials[shape] = bf.run_shape(args, v, o, base, KINDS, log)
                for t in trials[shape].values():
                    failures.extend(t.failures)
                save()
        if "load" not in args.skip:
            log("\n== load (3 voters each, zkbench)")
            loads, gaps, rss_load = load_phase(args, base, KINDS, incidents)
            save()
        if "sim" not in args.skip:
            log("\n== simulation")
            sim = sim_phase(args)
    except RuntimeError as err:
        log(f"stopped early: {err}")
        incidents.append(f"stopped early: {err}")
    meta["took_s"] = time.time() - started
    meta["load_end"] = be.loadavg()
    save()
    return report(args, meta, trials, loads, gaps, rss_load, sim, incidents, failures)


def report(args, meta, trials, loads, gaps, rss_load, sim, incidents, failures) -> int:
    """The table, the figures, bench.md and BENCHMARKS.md's generated section."""
    figs = figures(trials, loads, gaps, rss_load, args.writers)
    log("\n" + br.text_table(figs))
    for line in br.goal_summary(figs):
        log(line)
    label = (f"{'quick' if args.quick else 'full'} run {meta['started']}, zabd "
             f"{meta['versions']['git']}, load avg {meta['load_start']} -> {meta['load_end']}")
    svgs = draw(trials, loads, sim, args.out, label)
    text = section(args, meta, figs, sim, svgs, incidents, failures)
    with open(os.path.join(args.out, "bench-quick.md" if args.quick else "bench.md"), "w") as f:
        f.write(text)
    if args.benchmarks:
        with open(args.benchmarks) as f:
            doc = f.read()
        with open(args.benchmarks, "w") as f:
            f.write(br.splice(doc, text))
        log(f"wrote the generated section of {args.benchmarks}")
    log("figures: " + ", ".join(svgs))
    log(f"took {meta['took_s'] / 60:.1f} min")
    return 0


def report_from_json(path: str, benchmarks: str | None, out: str | None) -> int:
    """Report a run from its bench.json, e.g. one that was stopped before the end (the file is
    saved after every phase); such a run is labelled as interrupted, with what it lacks."""
    with open(path) as f:
        data = json.load(f)
    args = argparse.Namespace(**data["args"])
    args.stop_shapes = set(args.stop_shapes)
    if benchmarks is not None:
        args.benchmarks = benchmarks
    if out is not None:
        args.out = out
    meta = data["meta"]
    trials = {s: {k: bf.Trials(**t) for k, t in ts.items()}
              for s, ts in data["trials"].items()}
    incidents = list(data["incidents"])
    if "took_s" not in meta:
        started = calendar.timegm(time.strptime(meta["started"], "%Y-%m-%d %H:%M:%S UTC"))
        meta["took_s"] = os.path.getmtime(path) - started
        meta["load_end"] = "not recorded"
        missing = [f"election shape {bf.shape_name(v, o)}" for v, o in
                   (tuple(x) for x in args.shape_list)
                   if bf.shape_name(v, o) not in trials and "election" not in args.skip]
        missing += [p for p, have in (("load", data["loads"]), ("sim", data["sim"]))
                    if not have and p not in args.skip]
        incidents.append("INTERRUPTED: this run was stopped before it finished; reported from "
                         f"{os.path.basename(path)} as saved after its last completed phase. "
                         "Not measured: " + (", ".join(missing) or "nothing"))
    failures = [x for ts in trials.values() for t in ts.values() for x in t.failures]
    return report(args, meta, trials, data["loads"], data["gaps"], data["rss_load"],
                  data["sim"], incidents, failures)


if __name__ == "__main__":
    sys.exit(main())
