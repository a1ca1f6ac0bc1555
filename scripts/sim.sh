#!/usr/bin/env bash
# Deterministic simulation of seeded faults (crash/restart with unsynced bytes lost, partitions,
# a write workload) against real zabd nodes on turmoil; see src/sim.rs.
#   scripts/sim.sh --seeds N [--start S] [--trace]
# Runs seeds S .. S+N-1 and ends with "simulated N seeds, F failed"; exits non-zero if F > 0.
# Everything it prints (stdout and stderr) is the same for the same arguments.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo build --quiet --release --features sim --example sim 2>&1
exec target/release/examples/sim "$@"
