#!/usr/bin/env bash
# Draw a zabd ensemble's timeline as an SVG with scripts/timeline.py.
#
#   scripts/timeline.sh draw [ENSEMBLE] [OPTIONS]      run/ENSEMBLE/zabd*.log -> run/ENSEMBLE/timeline.svg
#   scripts/timeline.sh failover [ENSEMBLE] [OPTIONS]  a failover on a fresh copy of ENSEMBLE, drawn:
#       start, kill -9 the leader, restart it, SIGTERM the new leader (graceful hand-off),
#       restart it; draw the timeline (default ./failover-timeline.svg), stop the ensemble
#
# ENSEMBLE defaults to three. OPTIONS go to timeline.py (-o FILE, --title, --gap-ms, --linear).
# `failover` runs in a new temporary ZABD_RUN_DIR (unless set) so that its logs hold this run
# only; the ensemble's ports must be free. ZABD_BIN and the rest as for scripts/ensemble.sh.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ENSEMBLE_SH="$ROOT/scripts/ensemble.sh"
TIMELINE="$ROOT/scripts/timeline.py"

usage() {
    sed -n '2,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

cmd=${1:-}
[[ -n $cmd ]] || usage
shift
ensemble=three
if [[ $# -gt 0 && $1 != -* ]]; then
    ensemble=$1
    shift
fi

case $cmd in
draw)
    run="${ZABD_RUN_DIR:-$ROOT/run}/$ensemble"
    compgen -G "$run/zabd*.log" >/dev/null || {
        echo "timeline.sh: no logs in $run" >&2
        exit 2
    }
    has_output=false
    for arg in "$@"; do [[ $arg == -o || $arg == --output* ]] && has_output=true; done
    if $has_output; then
        exec python3 "$TIMELINE" "$run"/zabd*.log "$@"
    fi
    exec python3 "$TIMELINE" "$run"/zabd*.log -o "$run/timeline.svg" "$@"
    ;;
failover)
    export ZABD_RUN_DIR=${ZABD_RUN_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/zabd-failover.XXXXXX")}
    run="$ZABD_RUN_DIR/$ensemble"
    e() { "$ENSEMBLE_SH" "$@"; }
    leader() { e status "$ensemble" | sed -n 's/^leader: server \([0-9]*\).*/\1/p'; }
    trap 'e stop "$ensemble" >/dev/null 2>&1 || true' EXIT
    e start "$ensemble"
    sleep 1
    e kill "$ensemble" leader
    e wait "$ensemble"
    sleep 1
    e start "$ensemble"
    sleep 1
    new=$(leader)
    [[ -n $new ]] || {
        echo "timeline.sh: no leader after the restart" >&2
        exit 1
    }
    e stop "$ensemble" "$new"
    e wait "$ensemble"
    sleep 1
    e start "$ensemble"
    sleep 1
    has_output=false
    for arg in "$@"; do [[ $arg == -o || $arg == --output* ]] && has_output=true; done
    out=()
    $has_output || out=(-o failover-timeline.svg)
    python3 "$TIMELINE" "$run"/zabd*.log "${out[@]}" \
        --title "zabd: failover of ensemble $ensemble: kill -9 the leader, restart it, SIGTERM the new leader, restart it" \
        "$@"
    echo "logs: $run/zabd*.log"
    ;;
*) usage ;;
esac
