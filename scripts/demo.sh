#!/usr/bin/env bash
# The demo: the book's Sneakers23 store (chapter 7) on three nodes.
#
#   app@127.0.0.1   web page on http://127.0.0.1:4000, owns the database (data/sneakers23)
#   app2@127.0.0.1  a second web node on http://127.0.0.1:4001 (the book's PORT=4001)
#   back@127.0.0.1  no web server: release products and run the mock shoppers from here
#
# It installs the page's JavaScript client (the official `phoenix` npm package,
# pinned in store_app/assets/package-lock.json), builds the node binary, starts
# the nodes, connects them (back and app2 to app; the mesh is transitive),
# seeds the store on its first start, and prints what to type. Ctrl-C stops
# the nodes. Running it again while they run only prints the instructions;
# a node that is already running is never started twice (and sled locks the
# database to one process), so nothing can be corrupted.
#
# Environment: DATA_DIR (default data/sneakers23), PORT (4000), PORT2 (4001),
# LOG_DIR (log/).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

data_dir="${DATA_DIR:-$root/data/sneakers23}"
port="${PORT:-4000}"
port2="${PORT2:-4001}"
log_dir="${LOG_DIR:-$root/log}"
bin="${CARGO_TARGET_DIR:-$root/target}/debug/sneakers23"
[[ "$bin" == /* ]] || bin="$root/$bin"

# ---- the page's JavaScript client: node + npm, then `npm ci` ----
source "$root/scripts/ensure_npm.sh"
assets="$root/store_app/assets"
if [[ ! -f "$assets/node_modules/phoenix/priv/static/phoenix.min.js" \
   || "$assets/package-lock.json" -nt "$assets/node_modules/.package-lock.json" ]]; then
  echo "== npm ci (store_app/assets)"
  (cd "$assets" && npm ci --no-audit --no-fund --loglevel=error)
fi

echo "== cargo build (sneakers23)"
cargo build --quiet -p store_app --bin sneakers23

instructions() {
  cat <<MSG

The store is open:   http://127.0.0.1:${port}   and   http://127.0.0.1:${port2}   (open both)

Release a product and start the mock shoppers from the back node:
  ${bin#"$root"/} rpc back@127.0.0.1 'inventory.release 2'
  ${bin#"$root"/} rpc back@127.0.0.1 'mock.sell_random_until_gone 500'

Or attach a console to it (help lists every command; Tab completes):
  ${bin#"$root"/} remote back@127.0.0.1
  back> inventory.products
  back> inventory.sell 13
  back> store.status

Logs: ${log_dir#"$root"/}/{app,app2,back}.log
MSG
}

running() { "$bin" rpc "$1" node.self >/dev/null 2>&1; }
# A node of another app (e.g. scripts/cluster.sh's hello_sockets back@) may
# hold one of the demo's names: refuse instead of driving it.
check_ours() {
  if running "$1" && ! "$bin" rpc "$1" help store.status >/dev/null 2>&1; then
    echo "$0: $1 is running but is not a Sneakers23 node; stop it first (scripts/stop_all.sh stops the hello_sockets cluster)" >&2
    exit 1
  fi
}
for node in app@127.0.0.1 app2@127.0.0.1 back@127.0.0.1; do
  check_ours "$node"
done

if running app@127.0.0.1; then
  echo "The demo's nodes are already running (nothing was started)."
  instructions
  exit 0
fi

mkdir -p "$log_dir" "$(dirname "$data_dir")"
pids=()
stop_nodes() {
  trap - INT TERM EXIT
  echo
  echo "== stopping the nodes"
  for node in back@127.0.0.1 app2@127.0.0.1 app@127.0.0.1; do
    "$bin" stop "$node" >/dev/null 2>&1 || true
  done
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  wait 2>/dev/null || true
}
trap stop_nodes INT TERM EXIT

# start NAME LOG ARGS...: starts a node in the background and waits until its
# console answers (bounded: 30 s).
start() {
  local node="$1" log="$log_dir/$2.log"
  shift 2
  if running "$node"; then
    echo "$node is already running"
    return
  fi
  echo "--- $(date -u +%FT%TZ) start $node $*" >>"$log"
  NO_COLOR=1 "$bin" start --name "$node" "$@" </dev/null >>"$log" 2>&1 &
  local pid=$!
  pids+=("$pid")
  for _ in $(seq 1 300); do
    if running "$node"; then
      echo "started $node"
      return
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "$node did not start; the end of $log:" >&2
      tail -n 15 "$log" >&2
      exit 1
    fi
    sleep 0.1
  done
  echo "$node did not answer within 30 s; see $log" >&2
  exit 1
}

echo "== starting the nodes"
start app@127.0.0.1 app --data-dir "$data_dir" --http-port "$port"
start app2@127.0.0.1 app2 --http-port "$port2"
start back@127.0.0.1 back --no-http
"$bin" rpc back@127.0.0.1 node.connect app@127.0.0.1
"$bin" rpc app2@127.0.0.1 node.connect app@127.0.0.1
# The store service reaches the other nodes a moment after they connect;
# then they load the catalogue.
for _ in $(seq 1 100); do
  status="$("$bin" rpc back@127.0.0.1 store.status 2>/dev/null || true)"
  if grep -q '^store on' <<<"$status" && ! grep -q '^memory: 0 products' <<<"$status"; then
    break
  fi
  sleep 0.1
done
"$bin" rpc back@127.0.0.1 store.status

instructions
echo
echo "Ctrl-C stops the three nodes."
wait "${pids[@]}" || true
