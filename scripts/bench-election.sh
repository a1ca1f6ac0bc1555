#!/usr/bin/env bash
# Build the release binary (quietly) and run the leader-election benchmark.
# Usage: scripts/bench-election.sh [--quick] [--runs N] [--markdown FILE] [--bin PATH] ...
# (all arguments go to scripts/bench_election.py; see its --help)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
cargo build --release --quiet
exec python3 "$root/scripts/bench_election.py" "$@"
