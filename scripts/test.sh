#!/usr/bin/env bash
# The whole test suite, as CI (.ci/run) runs it:
#   1. cargo test: unit and property tests of the pure cores, and the process tests in tests/
#      that start the real zabd binary (kill -9, SIGSTOP, restarts, four-letter words, the
#      client protocol);
#   2. the kazoo acceptance suite (tests/kazoo, scripts/kazoo-tests.sh): a real ZooKeeper client
#      library against a 3-voter ensemble of the zabd just built. kazoo and pytest are installed
#      into target/pyenv when python3 lacks them (scripts/pydeps.sh);
#   3. the deterministic simulation (tests/sim.rs), which needs the `sim` feature: the node's
#      sockets come from turmoil instead of tokio. SIM_SEEDS=N / SIM_SEED=S tune or replay it;
#   4. the planted bugs (`planted` feature, src/planted.rs): each checker (simulation, model
#      checker, the cores' unit tests) catches the bug it guards against;
#   5. scripts/timeline.py's unit tests (tests/timeline: real logs parse, the SVG is valid) and
#      scripts/bench_report.py's (tests/bench: ratios, goals, tables, the generated section,
#      the SVG figures).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

cargo test
# Build the plain binary right before the suite: a `--features sim` test build overwrites
# target/debug/zabd with a simulated-network one.
cargo build --bin zabd
PYTHON=$(scripts/pydeps.sh) ZABD_BIN="$PWD/target/debug/zabd" scripts/kazoo-tests.sh
cargo test --features sim --test sim
cargo test --features sim,planted --test planted
cargo test --features sim,planted --lib planted
python3 -m unittest discover -s tests/timeline
python3 -m unittest discover -s tests/bench
