#!/usr/bin/env bash
# Start, stop and inspect a zabd ensemble from conf/<ENSEMBLE> on this machine.
#
#   scripts/ensemble.sh start   [ENSEMBLE] [ID]   build if needed, start (all or one), wait, show status
#   scripts/ensemble.sh stop    [ENSEMBLE|all] [ID]  SIGTERM, then SIGKILL after ZABD_STOP_TIMEOUT
#   scripts/ensemble.sh status  [ENSEMBLE]        table; exit 0 only if all serve with one leader
#   scripts/ensemble.sh wait    [ENSEMBLE]        wait until the running servers serve, one leader
#   scripts/ensemble.sh restart [ENSEMBLE] [ID]   stop then start (all or one)
#   scripts/ensemble.sh kill    [ENSEMBLE] ID|leader   kill -9 one server (for demos)
#   scripts/ensemble.sh list                      the ensembles in conf/
#
# ENSEMBLE is a directory of conf/ (three, five, three-observer, three-toml; default three).
# Each start copies conf/<ENSEMBLE> to run/<ENSEMBLE>/ (configs and data/N/myid; data is kept)
# and runs server N there, so the configs' relative dataDir=data/N lands in run/<ENSEMBLE>/data/N.
# Logs: run/<ENSEMBLE>/zabdN.log, pids: run/<ENSEMBLE>/zabdN.pid.
#
# Environment: RUST_LOG (passed to zabd, default info), ZABD_BIN (use this binary, never build),
# ZABD_RUN_DIR (default <repo>/run), ZABD_START_TIMEOUT (s, default 15), ZABD_STOP_TIMEOUT
# (s, default 10). Needs bash and python3 (scripts/fourlw.py) besides the Rust toolchain.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CONF_ROOT="$ROOT/conf"
RUN_ROOT=${ZABD_RUN_DIR:-$ROOT/run}
BIN=${ZABD_BIN:-$ROOT/target/release/zabd}
FOURLW="$ROOT/scripts/fourlw.py"
START_TIMEOUT=${ZABD_START_TIMEOUT:-15}
STOP_TIMEOUT=${ZABD_STOP_TIMEOUT:-10}

die() {
    echo "ensemble.sh: $*" >&2
    exit 2
}

usage() {
    sed -n '2,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

# ---------------------------------------------------------------------------------------------
# The ensemble's servers, from conf/<ENSEMBLE>: zooN.cfg or zabdN.toml.

ENSEMBLE=""
CONF=""
RUN=""
IDS=()
declare -A CFG=() CLIENT_PORT=() PEER_PORTS=() ROLE=()

load_ensemble() {
    ENSEMBLE=$1
    [[ $ENSEMBLE =~ ^[A-Za-z0-9._-]+$ ]] || die "bad ensemble name: $ENSEMBLE"
    CONF="$CONF_ROOT/$ENSEMBLE"
    RUN="$RUN_ROOT/$ENSEMBLE"
    [[ -d $CONF ]] || die "no ensemble $ENSEMBLE: $CONF does not exist (try: $0 list)"
    local f base id
    for f in "$CONF"/zoo*.cfg "$CONF"/zabd*.toml; do
        [[ -f $f ]] || continue
        base=$(basename "$f")
        [[ $base =~ ^(zoo|zabd)([0-9]+)\.(cfg|toml)$ ]] || continue
        id=$((10#${BASH_REMATCH[2]}))
        [[ -z ${CFG[$id]:-} ]] || die "$CONF has two configurations for server $id"
        CFG[$id]=$base
        CLIENT_PORT[$id]=$(client_port "$f" "$id")
        ROLE[$id]=$(server_role "$f" "$id")
        PEER_PORTS[$id]=$(peer_ports "$f" "$id")
        [[ -n ${CLIENT_PORT[$id]} ]] || die "$f: no clientPort found"
    done
    [[ ${#CFG[@]} -gt 0 ]] || die "$CONF has no zooN.cfg or zabdN.toml files"
    mapfile -t IDS < <(printf '%s\n' "${!CFG[@]}" | sort -n)
}

# The client port of server ID: its server.ID line's `;[host:]port`, else clientPort.
client_port() {
    local file=$1 id=$2
    if [[ $file == *.toml ]]; then
        awk -v id="$id" '
            /^[ \t]*\[/ { table = $0; gsub(/[ \t\[\]"]/, "", table); next }
            /^[ \t]*clientPort[ \t]*=/ {
                v = $0; sub(/^[^=]*=[ \t]*/, "", v); sub(/[ \t#].*$/, "", v)
                if (table == "") top = v; else if (table == "server." id) mine = v
            }
            END { print (mine != "" ? mine : top) }' "$file"
    else
        awk -F= -v id="$id" '
            $1 ~ "^[ \t]*server\\." id "[ \t]*$" && index($0, ";") {
                v = substr($0, index($0, ";") + 1); sub(/^.*:/, "", v); gsub(/[ \t\r]/, "", v); mine = v
            }
            $1 ~ /^[ \t]*clientPort[ \t]*$/ { v = $2; gsub(/[ \t\r]/, "", v); top = v }
            END { print (mine != "" ? mine : top) }' "$file"
    fi
}

# "quorumPort electionPort" of server ID.
peer_ports() {
    local file=$1 id=$2
    if [[ $file == *.toml ]]; then
        awk -v id="$id" '
            /^[ \t]*\[/ { table = $0; gsub(/[ \t\[\]"]/, "", table); next }
            table == "server." id && /^[ \t]*(quorumPort|electionPort)[ \t]*=/ {
                k = $0; sub(/[ \t]*=.*$/, "", k); gsub(/[ \t]/, "", k)
                v = $0; sub(/^[^=]*=[ \t]*/, "", v); sub(/[ \t#].*$/, "", v); p[k] = v
            }
            END { print p["quorumPort"], p["electionPort"] }' "$file"
    else
        awk -F= -v id="$id" '
            $1 ~ "^[ \t]*server\\." id "[ \t]*$" {
                split($2, a, ";"); s = a[1]; gsub(/[ \t\r]/, "", s)
                sub(/:(participant|observer)$/, "", s)   # host:quorumPort:electionPort
                n = split(s, f, ":"); print f[n - 1], f[n]
            }' "$file"
    fi
}

# voter or observer.
server_role() {
    local file=$1 id=$2
    if [[ $file == *.toml ]]; then
        awk -v id="$id" '
            /^[ \t]*\[/ { table = $0; gsub(/[ \t\[\]"]/, "", table); next }
            table == "server." id && /^[ \t]*role[ \t]*=[ \t]*"observer"/ { obs = 1 }
            END { print (obs ? "observer" : "voter") }' "$file"
    else
        awk -F= -v id="$id" '
            $1 ~ "^[ \t]*server\\." id "[ \t]*$" { split($2, a, ";"); if (a[1] ~ /:observer[ \t\r]*$/) obs = 1 }
            END { print (obs ? "observer" : "voter") }' "$file"
    fi
}

check_id() {
    [[ -n ${CFG[$1]:-} ]] || die "ensemble $ENSEMBLE has no server $1 (servers: ${IDS[*]})"
}

# ---------------------------------------------------------------------------------------------
# Processes.

pid_file() { echo "$RUN/zabd$1.pid"; }
log_file() { echo "$RUN/zabd$1.log"; }

# Note what ensemble.sh does to server ID in its log (UTC, ms), for scripts/timeline.py.
mark() {
    echo "===== $(date -u '+%Y-%m-%d %H:%M:%S.%3N') UTC: ensemble.sh $2" >>"$(log_file "$1")"
}

# True if PID is a live zabd process (not a zombie, not a recycled pid).
is_zabd() {
    local pid=$1
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    if [[ -r /proc/$pid/cmdline ]]; then
        local cmd
        cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
        [[ $cmd == *zabd* ]] || return 1 # empty for a zombie
    fi
    return 0
}

# The pid of server ID if it is running, else nothing (a stale pid file is removed).
running_pid() {
    local f pid
    f=$(pid_file "$1")
    [[ -f $f ]] || return 0
    pid=$(<"$f")
    if is_zabd "$pid"; then
        echo "$pid"
    else
        rm -f "$f"
    fi
}

binary_is_stale() {
    [[ -x $BIN ]] || return 0
    local newer
    newer=$(cd "$ROOT" && find src Cargo.toml Cargo.lock build.rs -newer "$BIN" -print 2>/dev/null | head -n 1)
    [[ -n $newer ]]
}

ensure_binary() {
    if [[ -n ${ZABD_BIN:-} ]]; then
        [[ -x $BIN ]] || die "ZABD_BIN=$BIN is not an executable"
        return 0
    fi
    if binary_is_stale; then
        echo "building $BIN (cargo build --release) ..."
        (cd "$ROOT" && cargo build --release --quiet)
        [[ -x $BIN ]] || die "cargo build did not produce $BIN"
    fi
}

prepare_run_dir() {
    mkdir -p "$RUN"
    local id
    for id in "${IDS[@]}"; do
        cp "$CONF/${CFG[$id]}" "$RUN/${CFG[$id]}"
        mkdir -p "$RUN/data/$id"
        if [[ -f $CONF/data/$id/myid ]]; then
            cp "$CONF/data/$id/myid" "$RUN/data/$id/myid"
        fi
    done
}

start_one() {
    local id=$1 pid log
    pid=$(running_pid "$id")
    if [[ -n $pid ]]; then
        echo "server $id already running (pid $pid)"
        return 0
    fi
    log=$(log_file "$id")
    echo >>"$log"
    mark "$id" "starting server $id: $BIN --config ${CFG[$id]}"
    (
        cd "$RUN"
        exec nohup "$BIN" --config "${CFG[$id]}" >>"$log" 2>&1 </dev/null
    ) &
    pid=$!
    echo "$pid" >"$(pid_file "$id")"
    echo "started server $id (pid $pid, client port ${CLIENT_PORT[$id]}, log ${log#"$ROOT/"})"
}

stop_ids() {
    local id pid deadline
    local -A pids=()
    for id in "$@"; do
        pid=$(running_pid "$id")
        if [[ -n $pid ]]; then
            mark "$id" "sending SIGTERM to server $id (pid $pid)"
            kill -TERM "$pid" 2>/dev/null || true
            pids[$id]=$pid
        fi
    done
    deadline=$((SECONDS + STOP_TIMEOUT))
    while :; do
        local left=()
        for id in "$@"; do
            [[ -n ${pids[$id]:-} ]] || continue
            if is_zabd "${pids[$id]}"; then left+=("$id"); else
                echo "stopped server $id (pid ${pids[$id]})"
                unset "pids[$id]"
            fi
        done
        [[ ${#left[@]} -gt 0 ]] || break
        if ((SECONDS >= deadline)); then
            for id in "${left[@]}"; do
                echo "server $id (pid ${pids[$id]}) did not stop within ${STOP_TIMEOUT}s: SIGKILL"
                mark "$id" "killed server $id (pid ${pids[$id]}) with SIGKILL: not stopped within ${STOP_TIMEOUT}s"
                kill -KILL "${pids[$id]}" 2>/dev/null || true
            done
            sleep 0.2
            break
        fi
        sleep 0.1
    done
    for id in "$@"; do rm -f "$(pid_file "$id")"; done
}

# ---------------------------------------------------------------------------------------------
# Status, from the four-letter words.

declare -A STATE=() ZXID=() EPOCH=() PID=()
LEADER=""
NLEADERS=0

probe() {
    local id port state zxid epoch ports=()
    for id in "${IDS[@]}"; do
        ports+=("${CLIENT_PORT[$id]}")
        PID[$id]=$(running_pid "$id")
    done
    local -A by_port=()
    while IFS=$'\t' read -r port state zxid epoch; do
        by_port[$port]="$state $zxid $epoch"
    done < <(python3 "$FOURLW" probe "${ports[@]}")
    LEADER=""
    NLEADERS=0
    for id in "${IDS[@]}"; do
        read -r state zxid epoch <<<"${by_port[${CLIENT_PORT[$id]}]:-unknown - -}"
        STATE[$id]=$state
        ZXID[$id]=$zxid
        EPOCH[$id]=$epoch
        if [[ $state == leader ]]; then
            LEADER=$id
            NLEADERS=$((NLEADERS + 1))
        fi
    done
}

# Checks the last probe. With "all", every server must serve; with "running", only those that
# have a live process. Sets REASON when not healthy.
REASON=""
healthy() {
    local scope=$1 id epoch="" expected=0 leaders=0
    REASON=""
    for id in "${IDS[@]}"; do
        if [[ $scope == running && -z ${PID[$id]} ]]; then continue; fi
        expected=$((expected + 1))
        [[ ${STATE[$id]} != leader ]] || leaders=$((leaders + 1))
        case ${STATE[$id]} in
        leader | follower | observer) ;;
        *)
            REASON="server $id is ${STATE[$id]//-/ }"
            return 1
            ;;
        esac
        if [[ -z $epoch ]]; then epoch=${EPOCH[$id]}; elif [[ ${EPOCH[$id]} != "$epoch" ]]; then
            REASON="servers disagree on the epoch"
            return 1
        fi
    done
    if ((expected == 0)); then
        REASON="no server is running"
        return 1
    fi
    if ((leaders != 1 || NLEADERS != 1)); then
        REASON="$NLEADERS leaders"
        return 1
    fi
    return 0
}

print_table() {
    local id mode
    printf '%-3s %-9s %-12s %-20s %-6s %-8s %s\n' id role mode zxid epoch pid client
    for id in "${IDS[@]}"; do
        mode=${STATE[$id]}
        case $mode in
        not-serving) mode="not serving" ;;
        down) [[ -n ${PID[$id]} ]] && mode="starting" ;;
        esac
        printf '%-3s %-9s %-12s %-20s %-6s %-8s %s\n' "$id" "${ROLE[$id]}" "$mode" "${ZXID[$id]}" \
            "${EPOCH[$id]}" "${PID[$id]:--}" "127.0.0.1:${CLIENT_PORT[$id]}"
    done
}

print_leader() {
    if ((NLEADERS == 1)); then
        echo "leader: server $LEADER (epoch ${EPOCH[$LEADER]})"
    elif ((NLEADERS == 0)); then
        echo "leader: none"
    else
        local id ls=()
        for id in "${IDS[@]}"; do [[ ${STATE[$id]} == leader ]] && ls+=("$id"); done
        echo "leader: $NLEADERS servers claim to lead: ${ls[*]}"
    fi
}

# Waits until the running servers serve with one leader; prints the table either way.
wait_healthy() {
    local deadline=$((SECONDS + START_TIMEOUT)) id
    while :; do
        probe
        for id in "${IDS[@]}"; do
            if [[ -n ${PENDING_START[$id]:-} && -z ${PID[$id]} ]]; then
                print_table
                echo "server $id exited during start-up; the end of $(log_file "$id"):" >&2
                tail -n 15 "$(log_file "$id")" >&2 || true
                return 1
            fi
        done
        if healthy running; then
            print_table
            print_leader
            return 0
        fi
        if ((SECONDS >= deadline)); then
            print_table
            print_leader
            echo "ensemble $ENSEMBLE not ready after ${START_TIMEOUT}s: $REASON" \
                "(a quorum of voters must be running)" >&2
            return 1
        fi
        sleep 0.2
    done
}

# ---------------------------------------------------------------------------------------------
# Commands.

declare -A PENDING_START=()

# Refuses to start servers whose ports something else holds (say, this ensemble started from
# another run directory): their four-letter words would answer for servers we did not start.
check_ports_free() {
    local id ports=() taken
    for id in "$@"; do
        [[ -z $(running_pid "$id") ]] || continue
        # shellcheck disable=SC2206 # PEER_PORTS is "quorumPort electionPort"
        ports+=("${CLIENT_PORT[$id]}" ${PEER_PORTS[$id]})
    done
    [[ ${#ports[@]} -gt 0 ]] || return 0
    if ! taken=$(python3 "$FOURLW" busy "${ports[@]}"); then
        die "port(s) ${taken//$'\n'/ } already in use on 127.0.0.1 by processes this script did not" \
            "start (from $RUN); stop them first"
    fi
}

cmd_start() {
    local ids=("$@") id
    ensure_binary
    check_ports_free "${ids[@]}"
    prepare_run_dir
    for id in "${ids[@]}"; do
        start_one "$id"
        PENDING_START[$id]=1
    done
    wait_healthy
}

cmd_stop() {
    stop_ids "$@"
    if [[ -d $RUN ]] && ! compgen -G "$RUN/zabd*.pid" >/dev/null; then
        echo "ensemble $ENSEMBLE stopped (data and logs kept in ${RUN#"$ROOT/"})"
    fi
}

cmd_status() {
    probe
    print_table
    print_leader
    if healthy all; then
        return 0
    fi
    echo "not healthy: $REASON"
    return 1
}

cmd_kill() {
    local id=$1 pid
    if [[ $id == leader ]]; then
        probe
        ((NLEADERS == 1)) || die "no single leader to kill ($NLEADERS leaders)"
        id=$LEADER
    fi
    check_id "$id"
    pid=$(running_pid "$id")
    [[ -n $pid ]] || die "server $id is not running"
    mark "$id" "killed server $id (pid $pid) with SIGKILL"
    kill -KILL "$pid"
    while is_zabd "$pid"; do sleep 0.05; done
    rm -f "$(pid_file "$id")"
    echo "killed server $id (pid $pid) with SIGKILL"
}

main() {
    [[ $# -ge 1 ]] || usage
    local cmd=$1 ensemble=three id=""
    shift
    case $cmd in
    -h | --help | help) usage ;;
    list)
        local d
        for d in "$CONF_ROOT"/*/; do basename "$d"; done
        return 0
        ;;
    esac
    # [ENSEMBLE] [ID]; a lone number (or "leader") is an ID of the default ensemble.
    if [[ $# -ge 1 && ! $1 =~ ^([0-9]+|leader)$ ]]; then
        ensemble=$1
        shift
    fi
    if [[ $# -ge 1 ]]; then
        id=$1
        shift
    fi
    [[ $# -eq 0 ]] || usage
    if [[ $cmd == stop && $ensemble == all ]]; then
        [[ -z $id ]] || die "stop all takes no ID"
        local d
        for d in "$RUN_ROOT"/*/; do
            compgen -G "$d/zabd*.pid" >/dev/null || continue
            (main stop "$(basename "$d")")
        done
        return 0
    fi
    load_ensemble "$ensemble"
    if [[ -n $id && $id != leader ]]; then
        [[ $id =~ ^[0-9]+$ ]] || die "bad server id: $id"
        id=$((10#$id))
        check_id "$id"
    fi
    [[ $id != leader || $cmd == kill ]] || die "'leader' is only for kill"
    local ids=("${IDS[@]}")
    [[ -z $id || $id == leader ]] || ids=("$id")

    case $cmd in
    start) cmd_start "${ids[@]}" ;;
    stop) cmd_stop "${ids[@]}" ;;
    restart)
        stop_ids "${ids[@]}"
        cmd_start "${ids[@]}"
        ;;
    status)
        [[ -z $id ]] || die "status takes no ID"
        cmd_status
        ;;
    wait)
        [[ -z $id ]] || die "wait takes no ID"
        wait_healthy
        ;;
    kill)
        [[ -n $id ]] || die "kill needs an ID (or leader)"
        cmd_kill "$id"
        ;;
    *) usage ;;
    esac
}

main "$@"
