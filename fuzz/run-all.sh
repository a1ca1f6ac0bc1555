#!/usr/bin/env bash
# Runs every fuzz target for SECONDS (default 60) each, one after another, at the lowest CPU
# priority. New inputs go to fuzz/corpus/<target> (git-ignored); the committed seeds and crash
# reproducers in tests/fuzz_corpus/<target> are read as well. Crashes land in
# fuzz/artifacts/<target>/. Needs cargo-fuzz (`cargo install cargo-fuzz`); on a stable
# toolchain RUSTC_BOOTSTRAP=1 lets it pass its -Z flags.
set -u
cd "$(dirname "$0")/.."
secs=${SECONDS_PER_TARGET:-60}
targets=${*:-$(sed -n 's/^name = "\([a-z_0-9]*\)"$/\1/p' fuzz/Cargo.toml | grep -v zabd-fuzz)}
mkdir -p fuzz/logs
for t in $targets; do
    mkdir -p "fuzz/corpus/$t"
    RUSTC_BOOTSTRAP=1 nice -n 19 cargo fuzz run -O "$t" "fuzz/corpus/$t" "tests/fuzz_corpus/$t" -- \
        -max_total_time="$secs" -malloc_limit_mb=256 -rss_limit_mb=2048 -timeout=10 \
        -print_final_stats=1 > "fuzz/logs/$t.log" 2>&1
    echo "$t: exit $? $(grep -E '^stat::number_of_executed_units' "fuzz/logs/$t.log") $(grep -c '^==[0-9]*== ERROR\|panicked at' "fuzz/logs/$t.log") failures"
done
