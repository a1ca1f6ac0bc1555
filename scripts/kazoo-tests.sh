#!/usr/bin/env bash
# Run the kazoo acceptance suite (tests/kazoo) against a fresh 3-voter ensemble on 127.0.0.1.
#
#   scripts/kazoo-tests.sh [--zookeeper|--zabd] [PYTEST ARGS...]
#
#   --zookeeper   run against Apache ZooKeeper 3.8 (/usr/share/java/zookeeper.jar): ZK_IMPL=zookeeper
#   --zabd        run against zabd (the default): ZK_IMPL=zabd
#   anything else goes to pytest, e.g. -k watch, -x, -v, --durations=10, tests/kazoo/test_acl.py
#
# With ZK_IMPL=zabd and ZABD_BIN unset, builds zabd first (cargo build --release) and uses
# target/release/zabd. ZABD_BIN=/path/to/zabd skips the build. KAZOO_KEEP_DIR=1 keeps the
# ensemble's temp dir (zooN.cfg, dataN/, serverN.log). PYTHON=/path/to/python picks the
# interpreter (default: scripts/pydeps.sh's, which installs kazoo and pytest when missing).
# --zookeeper also needs java and Debian's zookeeper package.
#
# Examples:
#   scripts/kazoo-tests.sh --zookeeper              # prove the suite against ZooKeeper
#   scripts/kazoo-tests.sh -x -k 'crud or multi'    # zabd, stop at the first failure
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

args=()
for arg in "$@"; do
    case $arg in
        --zookeeper) export ZK_IMPL=zookeeper ;;
        --zabd) export ZK_IMPL=zabd ;;
        -h|--help)
            sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        *) args+=("$arg") ;;
    esac
done
export ZK_IMPL=${ZK_IMPL:-zabd}

case $ZK_IMPL in
    zabd)
        if [[ -z ${ZABD_BIN:-} ]]; then
            echo "kazoo-tests.sh: building zabd (cargo build --release)" >&2
            (cd "$ROOT" && cargo build --release --quiet)
            export ZABD_BIN="$ROOT/target/release/zabd"
        fi
        [[ -x $ZABD_BIN ]] || { echo "kazoo-tests.sh: ZABD_BIN=$ZABD_BIN is not executable" >&2; exit 2; }
        ;;
    zookeeper) ;;
    *)
        echo "kazoo-tests.sh: ZK_IMPL must be zabd or zookeeper, not '$ZK_IMPL'" >&2
        exit 2
        ;;
esac

PY=${PYTHON:-$("$ROOT/scripts/pydeps.sh")}
"$PY" -c 'import kazoo, pytest' 2>/dev/null || {
    echo "kazoo-tests.sh: needs kazoo and pytest: pip install kazoo pytest" >&2
    exit 2
}

cd "$ROOT"
export PYTHONDONTWRITEBYTECODE=1
# If no test path is given, run the whole suite.
have_path=0
for arg in ${args[@]+"${args[@]}"}; do
    [[ $arg == tests/* || $arg == */tests/kazoo* ]] && have_path=1
done
if [[ $have_path == 0 ]]; then
    args+=(tests/kazoo)
fi
exec "$PY" -m pytest -q -p no:cacheprovider "${args[@]}"
