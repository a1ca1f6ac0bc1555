#!/usr/bin/env bash
# Drive ZooKeeper's own Java CLI (zkCli.sh) against a server and check what it prints:
# create / get / set / ls / stat / delete, their error messages and exit codes, sequential and
# ephemeral nodes, and a multi-command session fed on stdin.
#
#   scripts/zkcli-check.sh --server HOST:PORT      check a running server (zabd or ZooKeeper)
#   scripts/zkcli-check.sh                         start a 3-voter zabd ensemble on 127.0.0.1
#                                                  (free ports, temp dir), check it, stop it
#   scripts/zkcli-check.sh --zookeeper             the same with Apache ZooKeeper (to validate
#                                                  this script)
#
# Prints one line per check (ok / FAIL) and exits 1 if any check failed, 2 on usage or setup
# errors. Environment: ZKCLI (default /usr/share/zookeeper/bin/zkCli.sh); ZABD_BIN (zabd binary;
# when unset and a zabd ensemble is started, target/release/zabd is built if missing);
# ZKCLI_VERBOSE=1 prints every zkCli output.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ZKCLI=${ZKCLI:-/usr/share/zookeeper/bin/zkCli.sh}
SERVER=""
IMPL=zabd

usage() {
    sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

while [[ $# -gt 0 ]]; do
    case $1 in
        --server) [[ $# -ge 2 ]] || usage; SERVER=$2; shift 2 ;;
        --server=*) SERVER=${1#--server=}; shift ;;
        --zookeeper) IMPL=zookeeper; shift ;;
        --zabd) IMPL=zabd; shift ;;
        -h|--help) usage ;;
        *) echo "zkcli-check.sh: unknown argument: $1" >&2; usage ;;
    esac
done

[[ -x $ZKCLI ]] || { echo "zkcli-check.sh: $ZKCLI not found (set ZKCLI)" >&2; exit 2; }

# ---------------------------------------------------------------------------------------------
# Our own ensemble when no --server is given (tests/kazoo/zk_ensemble.py run).

ENS_PID=""
cleanup() {
    if [[ -n $ENS_PID ]]; then
        kill -TERM "$ENS_PID" 2>/dev/null
        wait "$ENS_PID" 2>/dev/null
    fi
}
trap cleanup EXIT

if [[ -z $SERVER ]]; then
    if [[ $IMPL == zabd ]]; then
        if [[ -z ${ZABD_BIN:-} ]]; then
            export ZABD_BIN="$ROOT/target/release/zabd"
            if [[ ! -x $ZABD_BIN ]]; then
                echo "zkcli-check.sh: building zabd (cargo build --release)" >&2
                (cd "$ROOT" && cargo build --release --quiet) || exit 2
            fi
        fi
    fi
    coproc ENS { exec python3 "$ROOT/tests/kazoo/zk_ensemble.py" run --impl "$IMPL" 2>&1; }
    ENS_PID=$ENS_PID
    hosts=""
    while IFS= read -r -t 90 line <&"${ENS[0]}"; do
        case $line in
            HOSTS\ *) hosts=${line#HOSTS }; break ;;
            *) echo "ensemble: $line" >&2 ;;
        esac
    done
    [[ -n $hosts ]] || { echo "zkcli-check.sh: the $IMPL ensemble did not start" >&2; exit 2; }
    SERVER=${hosts%%,*}
    echo "started a $IMPL ensemble: $hosts; checking $SERVER"
fi

# ---------------------------------------------------------------------------------------------
# zkCli runs and checks

FAILED=0
OUT=""
RC=0
# Keep the JVM lean; zkCli's own noise (SLF4J, WATCHER lines) is filtered from OUT.
export CLIENT_JVMFLAGS="${CLIENT_JVMFLAGS:-} -XX:TieredStopAtLevel=1 -Xss512k"

filter() {
    grep -v -e '^SLF4J:' -e '^$' -e '^WATCHER::' -e '^WatchedEvent ' -e '^Connecting to ' \
        -e '^Welcome to ZooKeeper' -e '^JLine support' || true
}

# cli ARGS... : one zkCli command as arguments; sets OUT and RC
cli() {
    local raw
    raw=$(timeout 60 "$ZKCLI" -server "$SERVER" "$@" 2>&1)
    RC=$?
    OUT=$(printf '%s\n' "$raw" | filter)
    if [[ ${ZKCLI_VERBOSE:-0} == 1 ]]; then
        printf '$ zkCli %s  (rc=%s)\n%s\n' "$*" "$RC" "$OUT"
    fi
}

# cli_stdin TEXT : commands on stdin (one JVM, one session); sets OUT and RC
cli_stdin() {
    local raw
    raw=$(printf '%s\n' "$1" | timeout 60 "$ZKCLI" -server "$SERVER" 2>&1)
    RC=$?
    OUT=$(printf '%s\n' "$raw" | filter)
    if [[ ${ZKCLI_VERBOSE:-0} == 1 ]]; then
        printf '$ zkCli < commands  (rc=%s)\n%s\n' "$RC" "$OUT"
    fi
}

ok() { printf 'ok    %s\n' "$1"; }
fail() {
    printf 'FAIL  %s\n' "$1"
    printf '%s\n' "$OUT" | sed 's/^/      | /'
    FAILED=1
}

# expect NAME RC REGEX... : the last command exited RC and every REGEX matches a whole line
expect() {
    local name=$1 rc=$2 re
    shift 2
    if [[ $RC != "$rc" ]]; then
        fail "$name (exit $RC, expected $rc)"
        return
    fi
    for re in "$@"; do
        if ! printf '%s\n' "$OUT" | grep -Eq -- "^${re}\$"; then
            fail "$name (no line matching /^${re}\$/)"
            return
        fi
    done
    ok "$name"
}

# reject NAME REGEX : no line of the last output matches REGEX
reject() {
    if printf '%s\n' "$OUT" | grep -Eq -- "^${2}\$"; then
        fail "$1 (unexpected line matching /^${2}\$/)"
    else
        ok "$1"
    fi
}

N="/zkcli-check-$$-$RANDOM"
echo "zkCli: $ZKCLI, server $SERVER, node $N"

cli create "$N" "hello world"
expect "create $N" 0 "Created $N"

cli get "$N"
expect "get returns the data" 0 "hello world"

cli create "$N" "again"
expect "create existing -> Node already exists" 1 "Node already exists: $N"

cli set "$N" "second value"
expect "set" 0

cli get -s "$N"
expect "get -s shows data and stat" 0 "second value" "dataVersion = 1" "dataLength = 12" \
    "numChildren = 0" "ephemeralOwner = 0x0" "cZxid = 0x[0-9a-f]+" "mZxid = 0x[0-9a-f]+" \
    "ctime = .+" "aclVersion = 0"

cli set -v 0 "$N" "stale"
expect "set with a stale version -> version No is not valid" 1 "version No is not valid : $N"

cli get "$N"
expect "the stale set changed nothing" 0 "second value"

cli create "$N/child" "c"
expect "create child" 0 "Created $N/child"

cli create -s "$N/seq-" "s"
expect "create -s (sequential: 10 digits from the parent's counter)" 0 "Created $N/seq-0000000001"

cli ls "$N"
expect "ls lists the children" 0 "\[child, seq-0000000001\]|\[seq-0000000001, child\]"

cli ls -s "$N"
expect "ls -s adds the parent's stat" 0 "numChildren = 2" "cversion = 2" "dataVersion = 1"

cli stat "$N"
expect "stat" 0 "dataVersion = 1" "numChildren = 2" "dataLength = 12" "pZxid = 0x[0-9a-f]+"
reject "stat prints no data" "second value"

cli delete "$N"
expect "delete non-empty -> Node not empty" 1 "Node not empty: $N"

cli get "$N/missing"
expect "get missing -> Node does not exist" 1 "Node does not exist: $N/missing"

cli create "$N/nochild/deeper" "x"
expect "create under missing parent -> Node does not exist" 1 "Node does not exist: $N/nochild/deeper"

cli delete -v 5 "$N/child"
expect "delete with a wrong version -> version No is not valid" 1 "version No is not valid : $N/child"

# one session, several commands on stdin (an ephemeral lives as long as that session)
cli_stdin "create -e $N/eph ephemeral-data
get -s $N/eph
create $N/eph/sub x
ls $N
getAcl $N
set $N/child changed
get $N/child
sync $N
quit"
expect "stdin session: create -e / get -s / ls / getAcl / set / get" 0 \
    "Created $N/eph" "ephemeral-data" "ephemeralOwner = 0x[0-9a-f]*[1-9a-f][0-9a-f]*" \
    "Ephemerals cannot have children: $N/eph/sub" \
    "\[(child|seq-0000000001|eph)(, (child|seq-0000000001|eph)){2}\]" \
    "'world,'anyone" ": cdrwa" "changed"

cli delete "$N/child"
expect "delete child" 0
cli delete "$N/seq-0000000001"
expect "delete sequential child" 0
# zkCli exits without closing its session, so the ephemeral outlives it until the session
# expires; deleteall removes it and the parent in any case.
cli deleteall "$N"
expect "deleteall" 0

cli stat "$N"
expect "stat after delete -> Node does not exist" 1 "Node does not exist: $N"

cli ls /
expect "ls / still works" 0 "\[.*zookeeper.*\]"
reject "ls / no longer lists the node" "\[.*${N#/}.*\]"

if [[ $FAILED == 0 ]]; then
    echo "zkcli-check: all checks passed against $SERVER"
    exit 0
fi
echo "zkcli-check: some checks FAILED against $SERVER"
exit 1
