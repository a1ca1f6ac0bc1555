#!/usr/bin/env bash
# The whole test suite, as CI (.ci/run) runs it:
#   1. cargo test: unit and property tests of the pure cores, and the process tests in tests/
#      that start the real zabd binary (kill -9, SIGSTOP, restarts, four-letter words);
#   2. the deterministic simulation (tests/sim.rs), which needs the `sim` feature: the node's
#      sockets come from turmoil instead of tokio. SIM_SEEDS=N / SIM_SEED=S tune or replay it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

cargo test
cargo test --features sim --test sim
