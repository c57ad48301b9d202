#!/usr/bin/env bash
# Soak and scale, measured: connections held with heartbeats for a long run
# on one or several web nodes of a cluster while its back node broadcasts.
#
# Builds release, starts WEB_NODES hello_sockets web nodes and one back node
# (no web server) as a cluster on loopback, then one `loadgen soak` process
# per web node, each opening PER_NODE connections from its own four loopback
# source addresses, all joined to one topic. Once every load generator is
# ready, the back node broadcasts BROADCASTS times, one every INTERVAL_MS
# (`bench.broadcast`, payloads of PAYLOAD_BYTES with their send time and
# index), through the cluster to every connection. Each load generator
# counts and times every delivery and samples its web node's memory; at the
# end `loadgen soak-merge` reports the run as a whole: drops, losses, gaps,
# unanswered heartbeats, completion percentiles across every connection of
# every node (a broadcast completes when the last connection anywhere has it),
# and server memory per connection and over time. Per-process lines and the
# nodes' logs stay in OUT_DIR.
#
#   scripts/soak.sh                                   # 1 node x 15,000, 600 broadcasts at 1/s: 10 min
#   WEB_NODES=4 PER_NODE=19000 scripts/soak.sh        # the cluster: 76,000 connections, 10 min
#   PER_NODE=2000 BROADCASTS=30 scripts/soak.sh       # a quick try
#
# Environment: WEB_NODES (1), PER_NODE (15000; each process, server and load
# generator alike, must stay under the open-files limit), BROADCASTS (600),
# INTERVAL_MS (1000), PAYLOAD_BYTES (256), RATE (connections/s per load
# generator, default 2000), OUT_DIR (default a new temporary folder),
# SKIP_BUILD=1, SERVER_ARGS (extra flags for every node).
set -euo pipefail
cd "$(dirname "$0")/.."

WEB_NODES="${WEB_NODES:-1}"
PER_NODE="${PER_NODE:-15000}"
BROADCASTS="${BROADCASTS:-600}"
INTERVAL_MS="${INTERVAL_MS:-1000}"
PAYLOAD_BYTES="${PAYLOAD_BYTES:-256}"
RATE="${RATE:-2000}"
TOPIC="bench:soak"
# shellcheck source=lib/bench.sh
source scripts/lib/bench.sh
bench_build hello_sockets loadgen

OUT_DIR="${OUT_DIR:-$(mktemp -d -t soak.XXXXXX)}"
mkdir -p "$OUT_DIR/names"
# The cluster's own cookie and name directory: nothing shared with other
# nodes of this user.
RELEASE_COOKIE="soak-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export RELEASE_COOKIE NODE_NAME_DIR="$OUT_DIR/names" NO_COLOR=1
export RUST_LOG="${RUST_LOG:-warn,hello_sockets=info,channels::endpoint=info,runtime::node=info}"

NODES=()
PIDS=()
LOADGENS=()
cleanup() {
  for pid in "${LOADGENS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do terminate "$pid" "node $pid" || true; done
}
trap cleanup EXIT

# start_node SHORT [http]: starts SHORT-$$@127.0.0.1 in the background.
start_node() {
  local short="$1" node="$1-$$@127.0.0.1" http=(--no-http)
  [[ "${2:-}" == http ]] && http=(--http-port 0)
  # shellcheck disable=SC2086 # SERVER_ARGS is a list of flags
  "$BIN/hello_sockets" start --name "$node" "${http[@]}" $SERVER_ARGS \
    >"$OUT_DIR/$short.log" 2>&1 &
  PIDS+=("$!")
  NODES+=("$node")
}
rpc() { "$BIN/hello_sockets" rpc "$@"; }

start_node back
for n in $(seq 1 "$WEB_NODES"); do start_node "web$n" http; done
PORTS=()
for n in $(seq 1 "$WEB_NODES"); do
  PORTS+=("$(wait_for_port "$OUT_DIR/web$n.log" "${PIDS[$n]}" "soak: web$n")")
done
back="${NODES[0]}"
for _ in $(seq 1 100); do rpc "$back" node.self >/dev/null 2>&1 && break; sleep 0.1; done
for n in $(seq 1 "$WEB_NODES"); do rpc "$back" "node.connect ${NODES[$n]}" >/dev/null; done
for _ in $(seq 1 100); do
  [[ "$(rpc "$back" node.list | grep -c @)" == "$WEB_NODES" ]] && break
  sleep 0.1
done
echo "soak: back node $back sees: $(rpc "$back" node.list | tr '\n' ' ')" >&2

hold_secs=$(( BROADCASTS * INTERVAL_MS / 1000 + 120 ))
for n in $(seq 1 "$WEB_NODES"); do
  # Load generator n binds 127.0.n.2-5: its own source addresses, clear of
  # the ports the others hold.
  sources="127.0.$n.2,127.0.$n.3,127.0.$n.4,127.0.$n.5"
  # shellcheck disable=SC2086 # LOADGEN_ARGS is a list of flags
  "$BIN/loadgen" --threads 1 soak \
    --url "ws://127.0.0.1:${PORTS[$((n - 1))]}/socket/websocket" \
    --connections "$PER_NODE" --topic "$TOPIC" --broadcasts "$BROADCASTS" \
    --hold-secs "$hold_secs" --rate "$RATE" --sources "$sources" \
    --server-pid "${PIDS[$n]}" --ready-file "$OUT_DIR/ready.$n" $LOADGEN_ARGS \
    >"$OUT_DIR/loadgen.$n.json" 2>"$OUT_DIR/loadgen.$n.log" &
  LOADGENS+=("$!")
done

# Broadcast once every load generator has joined its connections.
for _ in $(seq 1 3000); do
  ready=$(find "$OUT_DIR" -maxdepth 1 -name 'ready.*' | wc -l)
  [[ "$ready" == "$WEB_NODES" ]] && break
  for pid in "${LOADGENS[@]}"; do
    if ! kill -0 "$pid" 2>/dev/null && ! wait "$pid"; then
      cat "$OUT_DIR"/loadgen.*.log >&2
      echo "soak: a load generator failed before it was ready" >&2
      exit 1
    fi
  done
  sleep 0.2
done
echo "soak: $(cat "$OUT_DIR"/ready.* | awk '{s += $2} END {print s}') connections joined on $WEB_NODES web node(s)" >&2
rpc "$back" "bench.broadcast $TOPIC $BROADCASTS $INTERVAL_MS $PAYLOAD_BYTES" >&2

status=0
for pid in "${LOADGENS[@]}"; do wait "$pid" || status=1; done
LOADGENS=()
if [[ "$status" != 0 ]]; then
  cat "$OUT_DIR"/loadgen.*.log >&2
  echo "soak: a load generator failed (its log above; all output in $OUT_DIR)" >&2
  exit 1
fi
for n in $(seq 1 "$WEB_NODES"); do
  kill -0 "${PIDS[$n]}" 2>/dev/null || { echo "soak: web$n is gone" >&2; status=1; }
done
"$BIN/loadgen" soak-merge "$OUT_DIR"/loadgen.*.json
echo "soak: per-process summaries and node logs in $OUT_DIR" >&2
exit "$status"
