#!/usr/bin/env bash
# Channels throughput and latency, measured.
#
# Builds release, starts hello_sockets on a free port (port 0, read back from
# its log), runs one `loadgen` workload against its `bench:*` channel RUNS
# times (a fresh server for every run), and prints loadgen's one-line JSON
# summary per run. The server is stopped after each run.
#
#   scripts/bench_channels.sh fanout     # 2,000 subscribers, 200 broadcasts back to back, 256 B
#   scripts/bench_channels.sh latency    # 1,000 subscribers, 50 broadcasts every 100 ms
#   scripts/bench_channels.sh echo       # 50 connections x 200 sequential pings
#   scripts/bench_channels.sh connect    # 10,000 connect + join at 4,000/s
#   scripts/bench_channels.sh all        # the four above
#   RUNS=1 LOADGEN_ARGS="--rate 6000" scripts/bench_channels.sh connect
#   SERVER_ARGS="..." THREADS=2 scripts/bench_channels.sh fanout
#
# Environment: RUNS (default 3), THREADS (loadgen worker threads; default 2
# for the fan-out workloads, whose subscribers' reads bound the run, else 1),
# SKIP_BUILD=1, SERVER_ARGS, LOADGEN_ARGS (appended to the workload's flags),
# PERF=1 (record the server with `perf record -g` during the run; the report
# goes to stderr), SERVER_BIN (another hello_sockets binary, e.g. a prototype).
set -euo pipefail
cd "$(dirname "$0")/.."

WORKLOAD="${1:-all}"
RUNS="${RUNS:-3}"
# shellcheck source=lib/bench.sh
source scripts/lib/bench.sh
SERVER_BIN="${SERVER_BIN:-$BIN/hello_sockets}"
bench_build hello_sockets loadgen

flags() {
    case "$1" in
        fanout) echo "fanout --subscribers 2000 --broadcasts 200 --payload-bytes 256" ;;
        latency) echo "fanout --subscribers 1000 --broadcasts 50 --payload-bytes 256 --interval-ms 100" ;;
        echo) echo "echo --connections 50 --pings 200" ;;
        connect) echo "connect --connections 10000 --rate 4000" ;;
        *) echo "bench_channels: unknown workload $1 (fanout, latency, echo, connect, all)" >&2; exit 2 ;;
    esac
}

SERVER=""
LOG=""
stop_server() {
    if [[ -n "$SERVER" ]]; then
        kill -INT "$SERVER" 2>/dev/null || true
        wait "$SERVER" 2>/dev/null || true
        SERVER=""
    fi
    [[ -n "$LOG" ]] && rm -f "$LOG"
    LOG=""
}
trap stop_server EXIT

start_server() {
    LOG="$(mktemp)"
    # Per-connection info logs would cost the server CPU during the run.
    # shellcheck disable=SC2086 # SERVER_ARGS is a list of flags
    RUST_LOG="${RUST_LOG:-warn,hello_sockets=info,channels::endpoint=info}" \
        "$SERVER_BIN" --port 0 --heartbeat-timeout-ms 3600000 $SERVER_ARGS >"$LOG" 2>&1 &
    SERVER=$!
    PORT="$(wait_for_port "$LOG" "$SERVER" "bench_channels: the server" 100)"
}

run_one() {
    local workload="$1" run="$2"
    start_server
    sleep 0.5
    echo "bench_channels: $workload run $run/$RUNS, hello_sockets pid $SERVER on port $PORT" >&2
    local perf_pid=""
    if [[ "${PERF:-}" == 1 ]]; then
        perf record -F 999 -g -e cpu-clock -p "$SERVER" -o "/tmp/bench_channels.$workload.perf.data" 2>/dev/null &
        perf_pid=$!
        sleep 0.3
    fi
    local threads="${THREADS:-}"
    if [[ -z "$threads" ]]; then
        case "$workload" in fanout | latency) threads=2 ;; *) threads=1 ;; esac
    fi
    # The modes that measure a rate also report the server's CPU time.
    local pid_flag=""
    case "$workload" in fanout | latency | echo) pid_flag="--server-pid $SERVER" ;; esac
    # shellcheck disable=SC2046,SC2086 # the workload's flags are a list
    "$BIN/loadgen" --threads "$threads" $(flags "$workload") \
        --url "ws://127.0.0.1:$PORT/socket/websocket" $pid_flag $LOADGEN_ARGS
    if [[ -n "$perf_pid" ]]; then
        kill -INT "$perf_pid" 2>/dev/null || true
        wait "$perf_pid" 2>/dev/null || true
        perf report -i "/tmp/bench_channels.$workload.perf.data" --stdio --no-children \
            --percent-limit 1.5 -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -40 >&2 || true
    fi
    stop_server
    # Let TIME_WAIT and the kernel's socket teardown settle between runs.
    sleep 1
}

if [[ "$WORKLOAD" == all ]]; then
    WORKLOADS=(fanout latency echo connect)
else
    flags "$WORKLOAD" >/dev/null
    WORKLOADS=("$WORKLOAD")
fi
for workload in "${WORKLOADS[@]}"; do
    for run in $(seq 1 "$RUNS"); do
        run_one "$workload" "$run"
    done
done
