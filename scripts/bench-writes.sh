#!/usr/bin/env bash
# Write throughput and commit latency of a 3-voter ensemble with fsync on (issue 3's figures):
# three in-process nodes on loopback, 1 / 16 / 128 concurrent writers through the library API.
# Usage: scripts/bench-writes.sh [--seconds S] [--dir DIR]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo build --release --quiet --example bench_writes
exec target/release/examples/bench_writes "$@"
