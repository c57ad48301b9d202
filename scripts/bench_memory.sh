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
#
# N must stay below `ulimit -n` minus a few dozen for the server and for the
# load generator alike (each holds one descriptor per connection).
set -euo pipefail
cd "$(dirname "$0")/.."

N="${N:-10000}"
SERVER_ARGS="${SERVER_ARGS:-}"
LOADGEN_ARGS="${LOADGEN_ARGS:-}"
BIN="${CARGO_TARGET_DIR:-target}/release"

if [[ "${SKIP_BUILD:-}" != 1 ]]; then
    cargo build --quiet --release -p hello_sockets -p loadgen --bins
fi

# As many descriptors as allowed (the hard limit); loadgen checks N against it.
ulimit -n "$(ulimit -Hn)"

LOG="$(mktemp)"
# Only the server's own lines: per-connection info logs cost CPU, not memory.
RUST_LOG="${RUST_LOG:-warn,hello_sockets=info,channels::endpoint=info}" \
    "$BIN/hello_sockets" --port 0 --heartbeat-timeout-ms 3600000 $SERVER_ARGS >"$LOG" 2>&1 &
SERVER=$!
trap 'kill -INT "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; rm -f "$LOG"' EXIT

PORT=""
for _ in $(seq 1 100); do
    PORT="$(sed -n 's/.*Running HelloSocketsWeb.Endpoint at http:\/\/[^ ]*:\([0-9][0-9]*\).*/\1/p' "$LOG" | head -n 1)"
    [[ -n "$PORT" ]] && break
    if ! kill -0 "$SERVER" 2>/dev/null; then
        cat "$LOG" >&2
        echo "bench_memory: the server did not start" >&2
        exit 1
    fi
    sleep 0.1
done
if [[ -z "$PORT" ]]; then
    cat "$LOG" >&2
    echo "bench_memory: the server did not report its port" >&2
    exit 1
fi
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
