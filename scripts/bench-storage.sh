#!/usr/bin/env bash
# Storage figures (issue 3): catch-up time of a follower far behind (DIFF/SNAP), recovery time
# from a large transaction log, memory per million znodes. Builds and runs
# examples/bench_storage.rs in release mode; each part runs in its own child process.
# Usage: scripts/bench-storage.sh [--quick] [--dir DIR] [--parts catchup,recovery,memory]
#          [--behind N] [--log-mb M] [--znodes N] [--repeat N] [--tick-ms T] [--wait-idle S]
# Full sizes (100k behind, 1 GiB log, 1M znodes) need ~3 GiB of disk in DIR and ~2 GiB of RAM.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo build --release --quiet --example bench_storage
exec target/release/examples/bench_storage "$@"
