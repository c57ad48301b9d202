#!/usr/bin/env bash
# Presence across three real nodes (issue 13's benchmark): N presences
# (10,000) tracked in a burst, spread over three hello_sockets nodes — each
# a WebSocket client joining `presence:room<i % 100>` as user u<i> — then:
#
#   convergence  time until every node's `tracker.stats` lists all N, from
#                the start of the burst and from its end (loadgen's last join)
#   delta        each node's last delta size (entries + dots)
#   idle CPU     the nodes' CPU over IDLE_SECS (15) while they hold the N
#                presences, against the same nodes idle before the burst
#                (clients send no heartbeats meanwhile: the nodes' heartbeat
#                timeout is raised, so the figure is the tracker's and the
#                idle sockets')
#
# The script builds release, starts the nodes in a temporary directory
# (private names and cookie), connects them, runs one `loadgen hold` per node
# (N/3 connections each), polls the consoles, prints one JSON line, and
# stops everything. Environment: N (10000), IDLE_SECS (15), SKIP_BUILD=1.
set -euo pipefail
cd "$(dirname "$0")/.."
N="${N:-10000}"
IDLE_SECS="${IDLE_SECS:-15}"
# shellcheck source=lib/bench.sh
source scripts/lib/bench.sh
bench_build hello_sockets loadgen

WORK="$(mktemp -d)"
export NODE_NAME_DIR="$WORK/names" RELEASE_COOKIE="presence-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
export SECRET_KEY_BASE="$(od -An -N48 -tx1 /dev/urandom | tr -d ' \n')"
export RUST_LOG="${RUST_LOG:-warn,hello_sockets=info,channels::endpoint=info}" NO_COLOR=1
NODES=(presa presb presc)
PIDS=()
LOADGENS=()
cleanup() {
    for pid in "${LOADGENS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for node in "${NODES[@]}"; do "$BIN/hello_sockets" stop --timeout 10 "$node@127.0.0.1" >/dev/null 2>&1 || true; done
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

rpc() { "$BIN/hello_sockets" rpc "$@"; }
# CPU seconds (user + system) of the nodes so far.
cpu() {
    local total=0 pid fields
    for pid in "${PIDS[@]}"; do
        fields=($(sed 's/.*) //' "/proc/$pid/stat"))
        total=$((total + fields[11] + fields[12]))
    done
    echo "$total"
}
now_ms() { date +%s%3N; }

PORTS=()
for node in "${NODES[@]}"; do
    "$BIN/hello_sockets" start --name "$node@127.0.0.1" --http-port 0 --heartbeat-timeout-ms 3600000 \
        </dev/null >"$WORK/$node.log" 2>&1 &
    PIDS+=("$!")
    PORTS+=("$(wait_for_port "$WORK/$node.log" "${PIDS[-1]}" "bench_presence: $node" 300)")
done
for node in presb presc; do rpc "$node@127.0.0.1" "node.connect presa@127.0.0.1" >/dev/null; done
# The replicas meet: every node hears the two others.
for node in "${NODES[@]}"; do
    for _ in $(seq 1 200); do
        [[ "$(rpc "$node@127.0.0.1" tracker.stats | grep -c ' up,')" == 2 ]] && break
        sleep 0.1
    done
done

hz="$(getconf CLK_TCK)"
idle_before="$(cpu)"; sleep "$IDLE_SECS"; idle_empty=$(( $(cpu) - idle_before ))

per=$(( (N + 2) / 3 ))
start="$(now_ms)"
for i in 0 1 2; do
    first=$((i * per)); count=$(( i == 2 ? N - 2 * per : per ))
    "$BIN/loadgen" hold --url "ws://127.0.0.1:${PORTS[$i]}/socket/websocket" --connections "$count" \
        --topic-prefix presence:room --topics 100 --first-topic "$first" --join-user \
        --heartbeat-secs 3600 --hold-secs 600 --settle-secs 1 >"$WORK/loadgen$i.json" 2>"$WORK/loadgen$i.log" &
    LOADGENS+=("$!")
done
converged=""
while [[ -z "$converged" ]]; do
    converged="$(now_ms)"
    for node in "${NODES[@]}"; do
        rpc "$node@127.0.0.1" tracker.stats | grep -q "^replica .*: $N entries" || converged=""
    done
    (( $(now_ms) - start < 300000 )) || { echo "bench_presence: no convergence within 5 minutes" >&2; exit 1; }
    [[ -n "$converged" ]] || sleep 0.05
done
# The burst's end: the last join, from loadgen's progress lines.
burst_ms=0
for i in 0 1 2; do
    s="$(grep -o '([0-9.]* s)' "$WORK/loadgen$i.log" | tail -1 | tr -d '() s' || true)"
    [[ -n "$s" ]] && burst_ms="$(awk -v a="$burst_ms" -v b="$s" 'BEGIN { b *= 1000; print (b > a ? b : a) }')"
done
deltas="$(for node in "${NODES[@]}"; do rpc "$node@127.0.0.1" tracker.stats | grep -o 'last delta [0-9]*' | grep -o '[0-9]*$'; done | paste -sd, -)"
idle_before="$(cpu)"; sleep "$IDLE_SECS"; idle_full=$(( $(cpu) - idle_before ))
awk -v n="$N" -v total="$((converged - start))" -v burst="$burst_ms" -v deltas="$deltas" \
    -v full="$idle_full" -v empty="$idle_empty" -v secs="$IDLE_SECS" -v hz="$hz" 'BEGIN {
    printf "{\"workload\":\"presence\",\"presences\":%d,\"nodes\":3,\"converged_after_ms\":%d,\"burst_ms\":%.0f,\"after_burst_ms\":%.0f,\"broadcast_periods_after_burst\":%.2f,\"last_delta_sizes\":[%s],\"idle_cpu_ms_per_s\":%.2f,\"idle_cpu_ms_per_s_empty\":%.2f}\n",
        n, total, burst, total - burst, (total - burst) / 1500, deltas, full * 1000 / hz / secs, empty * 1000 / hz / secs }'
