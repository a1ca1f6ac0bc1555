#!/usr/bin/env bash
# Chaos test: a 5-voter zabd ensemble on 127.0.0.1 under random faults (kill -9, SIGSTOP,
# SIGTERM, partitions through a loopback TCP proxy) with writers on every server, then checks
# that no acknowledged write was lost, that the replicas' digests agree and that no epoch had
# two leaders. The logic is scripts/chaos.py (see its docstring for every check).
#
#   scripts/chaos.sh [--duration S] [--seed N]           random faults for S seconds (default 60)
#   scripts/chaos.sh --leader-kill-storm N [--seed N]    kill -9 the leader N times in a row
#   scripts/chaos.sh --self-test                         prove each check can fail
#   more: --tick MS (default 100), --fault-gap S, --op-timeout S, --heal-timeout S,
#         --max-stall S, --keep-dir; scripts/chaos.sh --help lists them all
#
# With ZABD_BIN unset, builds zabd first (cargo build --release) and uses target/release/zabd.
# PYTHON=/path/to/python picks the interpreter (default: python3 if it has kazoo, else
# scripts/pydeps.sh's). Exit 0: every check passed; 1: a violation (the temp dir with configs,
# data and server logs is kept and printed); 2: setup error. The machine is shared: run it under
# nice, e.g. `nice -n 19 scripts/chaos.sh --duration 120`.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

need_bin=1
for arg in "$@"; do
    case $arg in
        --self-test|-h|--help) need_bin=0 ;;
    esac
done

if [[ $need_bin == 1 ]]; then
    if [[ -z ${ZABD_BIN:-} ]]; then
        echo "chaos.sh: building zabd (cargo build --release)" >&2
        (cd "$ROOT" && cargo build --release --quiet)
        export ZABD_BIN="$ROOT/target/release/zabd"
    fi
    [[ -x $ZABD_BIN ]] || { echo "chaos.sh: ZABD_BIN=$ZABD_BIN is not executable" >&2; exit 2; }
fi

if [[ -n ${PYTHON:-} ]]; then
    PY=$PYTHON
elif python3 -c 'import kazoo' 2>/dev/null; then
    PY=python3
else
    PY=$("$ROOT/scripts/pydeps.sh")
fi
"$PY" -c 'import kazoo' 2>/dev/null || { echo "chaos.sh: needs kazoo: pip install kazoo" >&2; exit 2; }

export PYTHONDONTWRITEBYTECODE=1
exec "$PY" "$ROOT/scripts/chaos.py" "$@"
