#!/usr/bin/env bash
# Memory per connection, measured.
#
# Builds release, starts hello_sockets on a free port (port 0, read back from
# its log) with a long heartbeat timeout, opens N WebSocket connections with
# `loadgen hold`, each joined to its own `bench:<i>` topic, and prints
# loadgen's one-line JSON summary: the server's RSS before and after, and
# `rss_per_connection_kb`, its growth per joined connection in KiB (1024 bytes).
# The server is stopped at the end.
#
#   scripts/bench_memory.sh                      # 10,000 connections
#   N=2000 scripts/bench_memory.sh
#   SERVER_ARGS="--read-buffer-bytes 1024" scripts/bench_memory.sh
#   LOADGEN_ARGS="--hold-secs 40" scripts/bench_memory.sh
#   SERVER_BIN=/tmp/hello_sockets.prev scripts/bench_memory.sh   # another build, e.g. the previous commit's
#
# N must stay below `ulimit -n` minus a few dozen for the server and for the
# load generator alike (each holds one descriptor per connection).
set -euo pipefail
cd "$(dirname "$0")/.."

N="${N:-10000}"
# shellcheck source=lib/bench.sh
source scripts/lib/bench.sh
SERVER_BIN="${SERVER_BIN:-$BIN/hello_sockets}"
bench_build hello_sockets loadgen

LOG="$(mktemp)"
# Only the server's own lines: per-connection info logs cost CPU, not memory.
RUST_LOG="${RUST_LOG:-warn,hello_sockets=info,channels::endpoint=info}" \
    "$SERVER_BIN" --port 0 --heartbeat-timeout-ms 3600000 $SERVER_ARGS >"$LOG" 2>&1 &
SERVER=$!
trap 'kill -INT "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; rm -f "$LOG"' EXIT

PORT="$(wait_for_port "$LOG" "$SERVER" "bench_memory: the server" 100)"
# Let the freshly started server settle before the baseline reading.
sleep 1

echo "bench_memory: hello_sockets pid $SERVER on port $PORT ${SERVER_ARGS:+($SERVER_ARGS) }; $N connections" >&2
# shellcheck disable=SC2086 # LOADGEN_ARGS is a list of flags
"$BIN/loadgen" hold \
    --url "ws://127.0.0.1:$PORT/socket/websocket" \
    --connections "$N" \
    --topic-prefix bench: \
    --server-pid "$SERVER" \
    $LOADGEN_ARGS
