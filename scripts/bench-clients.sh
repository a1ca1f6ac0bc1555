#!/usr/bin/env bash
# Client-protocol benchmark: zabd and Apache ZooKeeper 3.8 (3 voters each, loopback, same
# zoo.cfg) under the same load generator, target/release/zkbench: create/set/get x 1/16/128
# sessions, and the write pause when the leader is killed. Builds the release binaries quietly,
# then runs scripts/bench_clients.py (see its --help), which prints a table and writes
# bench-results/clients.md (override with --markdown FILE).
# Usage: scripts/bench-clients.sh [--quick] [--repeat N] [--kills N] [--only zookeeper] ...
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
cargo build --release --quiet --bin zabd --bin zkbench
exec python3 "$root/scripts/bench_clients.py" "$@"
