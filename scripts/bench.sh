#!/usr/bin/env bash
# One benchmark command: zabd and ZooKeeper 3.8 side by side on this machine, in one run, the
# two alternating, with the same zoo.cfg; then the table, BENCHMARKS.md's generated section and
# the figures (bench-results/bench-*.svg). See scripts/bench.py for what is measured.
#   scripts/bench.sh [--quick] [any scripts/bench.py option]
# --quick finishes in under 5 minutes; the full run takes about 30-40 minutes.
# Installs Debian's zookeeper package when its jar is missing (apt-get, with sudo if not root),
# builds the release binaries (zabd, zkbench) and the simulation example, then runs.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
if [[ ! -f /usr/share/java/zookeeper.jar ]]; then
    echo "bench.sh: ZooKeeper missing; installing Debian's zookeeper package" >&2
    sudo=()
    if [[ $(id -u) -ne 0 ]]; then
        command -v sudo >/dev/null || { echo "bench.sh: need root or sudo to install zookeeper" >&2; exit 2; }
        sudo=(sudo)
    fi
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq zookeeper default-jre-headless
fi
# The simulation example needs the `sim` feature; the server binary must not have it, so it is
# built last (a `--features sim` build may replace target/release/zabd).
cargo build --release --quiet --features sim --example sim_scale
cargo build --release --quiet --bin zabd --bin zkbench
export BENCH_COMMAND="scripts/bench.sh"
exec python3 "$root/scripts/bench.py" "$@"
