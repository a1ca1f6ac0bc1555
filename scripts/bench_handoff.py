#!/usr/bin/env python3
"""The write gap a client sees when the leader is stopped on purpose (SIGTERM: zabd hands off
the leadership) versus killed (SIGKILL), on a 3-voter zabd ensemble on 127.0.0.1.

    scripts/bench_handoff.py [--rounds N] [--tick-ms T] [--zkbench PATH]

zkbench (`cargo build --release --bin zkbench`) runs its `gap` mode: 3 writers (writer i starts
on server i) repeat setData; before each stop the script marks the moment (SIGUSR1 to zkbench),
and zkbench reports, per mark, how long the writers it broke could not write. The stopped server
is restarted and the ensemble waited on before the next round. Prints each round and the
median / max per method. ZABD_BIN picks the server binary (default target/release/zabd).
"""
import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "kazoo"))
from zk_ensemble import Ensemble  # noqa: E402


def run_round(ens, zkbench, method, seconds=4.0):
    hosts = ",".join(f"127.0.0.1:{ens.client_port[i]}" for i in ens.ids)
    bench = subprocess.Popen(
        [zkbench, "gap", "--servers", hosts, "--writers", "3", "--duration", str(seconds),
         "--warmup", "1", "--event-window", "3"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(2.0)  # warmup plus a second of steady writes
    leader = ens.leader()
    bench.send_signal(signal.SIGUSR1)
    time.sleep(0.05)  # let zkbench record the mark first
    if method == "sigterm":
        ens.terminate(leader)
    else:
        ens.kill(leader)
    out, err = bench.communicate(timeout=60)
    ens.start(leader)
    ens.wait_serving(timeout=30)
    m = re.search(r"pause caused by events \[([0-9.]*)\] ms", out)
    if not m or not m.group(1):
        raise SystemExit(f"no event figure in zkbench output:\n{out}\n{err}")
    return float(m.group(1))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--tick-ms", type=int, default=2000)
    ap.add_argument("--zkbench", default=os.path.join(ROOT, "target", "release", "zkbench"))
    args = ap.parse_args()
    ens = Ensemble(impl="zabd", size=3, tick_ms=args.tick_ms)
    try:
        ens.start_all()
        ens.wait_serving(timeout=30)
        results = {"sigterm": [], "sigkill": []}
        for r in range(args.rounds):
            for method in ("sigterm", "sigkill"):
                gap = run_round(ens, args.zkbench, method)
                results[method].append(gap)
                print(f"round {r + 1} {method}: writes paused {gap:.1f} ms", flush=True)
        for method, gaps in results.items():
            print(f"{method}: median {statistics.median(gaps):.1f} ms, "
                  f"min {min(gaps):.1f} ms, max {max(gaps):.1f} ms over {len(gaps)} stops")
    finally:
        ens.stop_all()
        ens.cleanup()


if __name__ == "__main__":
    main()
