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
# seeds the store on its first start, and prints what to type. Running it
# again while they run only prints the instructions; a node that is already
# running is never started twice (and sled locks the database to one
# process), so nothing can be corrupted.
#
# The nodes run in the background, each with its pid and start record in
# LOG_DIR (NAME.pid, NAME.cmd: see scripts/lib/node_records.sh), so that
# scripts/rolling_restart.sh can restart them one at a time while the demo
# runs. A node that exits does not end the demo: it runs until Ctrl-C (or
# SIGTERM), then stops the nodes by name, whatever pid each has by then.
# They share one secret_key_base: SECRET_KEY_BASE if set, else the file
# LOG_DIR/secret_key_base (made once, mode 0600). The admin dashboard
# (/admin) opens to ADMIN_USER (default admin) with ADMIN_PASSWORD, else the
# password in LOG_DIR/admin_password (made once, mode 0600); the
# instructions print both.
#
# Environment: DATA_DIR (default data/sneakers23), PORT (4000), PORT2 (4001),
# LOG_DIR (log/); NODE_NAME_DIR, NODE_COOKIE_DIR and RELEASE_COOKIE are passed
# to the nodes (a private cluster: its own name directory and cookie);
# SNEAKERS23_BIN=path uses that binary instead of building one.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
source "$root/scripts/lib/node_records.sh"
source "$root/scripts/lib/processes.sh"

data_dir="${DATA_DIR:-$root/data/sneakers23}"
port="${PORT:-4000}"
port2="${PORT2:-4001}"
log_dir="${LOG_DIR:-$root/log}"
# The script's settings, not the nodes': the binary would read DATA_DIR and
# PORT as its own, and every node would try to own the database.
unset DATA_DIR PORT PORT2
export NO_COLOR=1

# ---- the page's JavaScript client: node + npm, then `npm ci` ----
source "$root/scripts/ensure_npm.sh"
assets="$root/store_app/assets"
if [[ ! -f "$assets/node_modules/phoenix/priv/static/phoenix.min.js" \
   || "$assets/package-lock.json" -nt "$assets/node_modules/.package-lock.json" ]]; then
  echo "== npm ci (store_app/assets)"
  (cd "$assets" && npm ci --no-audit --no-fund --loglevel=error)
fi

if [[ -n "${SNEAKERS23_BIN:-}" ]]; then
  bin="$SNEAKERS23_BIN"
else
  echo "== cargo build (sneakers23)"
  cargo build --quiet -p store_app --bin sneakers23
  bin="${CARGO_TARGET_DIR:-$root/target}/debug/sneakers23"
fi
[[ "$bin" == /* ]] || bin="$root/$bin"

instructions() {
  cat <<MSG

The store is open:   http://127.0.0.1:${port}   and   http://127.0.0.1:${port2}   (open both)

Shop: pick sizes to fill your cart (every tab of the browser shares it, live),
then Checkout. Watch the sale from the console:
  ${bin#"$root"/} rpc app@127.0.0.1 'checkout.stats'

Release a product and start the mock shoppers from the back node:
  ${bin#"$root"/} rpc back@127.0.0.1 'inventory.release 2'
  ${bin#"$root"/} rpc back@127.0.0.1 'mock.sell_random_until_gone 500'

Or attach a console to it (help lists every command; Tab completes):
  ${bin#"$root"/} remote back@127.0.0.1
  back> inventory.products
  back> inventory.sell 13
  back> store.status

The admin dashboard (live carts on every node):
  http://127.0.0.1:${port}/admin   user: ${admin_user}   password: ${admin_password:-(see ${log_dir#"$root"/}/admin_password)}

Restart the nodes one at a time, as a deploy would (the pages stay live):
  scripts/rolling_restart.sh

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

# The admin's credentials: the environment's, else the password file's
# (the nodes read it through ADMIN_PASSWORD_FILE, so a restart keeps it).
admin_user="${ADMIN_USER:-admin}"
admin_password="${ADMIN_PASSWORD:-}"
if [[ -z "$admin_password" && -s "$log_dir/admin_password" ]]; then
  admin_password="$(cat "$log_dir/admin_password")"
fi

if running app@127.0.0.1; then
  echo "The demo's nodes are already running (nothing was started)."
  instructions
  exit 0
fi

mkdir -p "$log_dir" "$(dirname "$data_dir")"
log_dir="$(cd "$log_dir" && pwd)"
data_dir="$(cd "$(dirname "$data_dir")" && pwd)/$(basename "$data_dir")"
ensure_secret_key_base_file "$log_dir" random_secret
export ADMIN_USER="$admin_user"
if [[ -z "${ADMIN_PASSWORD:-}" ]]; then
  if [[ ! -s "$log_dir/admin_password" ]]; then
    admin_password="$(head -c 12 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
    (umask 077 && printf '%s\n' "$admin_password" >"$log_dir/admin_password")
    echo "created $log_dir/admin_password (the admin dashboard's password, mode 0600)"
  fi
  export ADMIN_PASSWORD_FILE="$log_dir/admin_password"
fi

# The demo's nodes, by short name (their log, pid and start record names),
# in the order they are stopped: the store's owner last.
nodes=(back app2 app)

# stop_node SHORT: `sneakers23 stop` by name (whatever pid the node has now:
# rolling_restart.sh replaces them), else SIGTERM then SIGKILL to the pid in
# its pid file. (It runs in a signal trap, where a bare `return` would return
# the interrupted `wait`'s status: every return here says its status.)
stop_node() {
  local short="$1" node="$1@127.0.0.1" pid=""
  [[ -f "$log_dir/$short.pid" ]] && pid="$(cat "$log_dir/$short.pid")"
  if node_record_read "$log_dir" "$short" 2>/dev/null; then
    node="$record_node"
    if node_record_run stop "$node" --timeout 30 >/dev/null 2>&1; then
      rm -f "$log_dir/$short.pid"
      echo "stopped $node"
      return 0
    fi
    node_record_is_running "$pid" || pid=""
  elif [[ -n "$pid" ]] && ! tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q sneakers23; then
    pid=""
  fi
  if [[ -z "$pid" ]] || ! kill -0 "$pid" 2>/dev/null; then
    rm -f "$log_dir/$short.pid"
    return 0
  fi
  echo "$node did not stop on request: SIGTERM to pid $pid" >&2
  terminate "$pid" "$node" || true
  rm -f "$log_dir/$short.pid"
  echo "stopped $node"
}

stop_nodes() {
  trap - INT TERM EXIT
  echo
  echo "== stopping the nodes"
  for short in "${nodes[@]}"; do
    stop_node "$short"
  done
}
# Until the nodes are up, any exit (a node that did not start) stops them.
trap stop_nodes INT TERM EXIT

# start SHORT ARGS...: starts SHORT@127.0.0.1 in the background (its start
# record and pid file in LOG_DIR) and waits until its console answers
# (bounded: 30 s).
start() {
  local short="$1" node="$1@127.0.0.1" log="$log_dir/$1.log"
  shift
  if running "$node"; then
    echo "$node is already running"
    return 0
  fi
  node_record_write "$log_dir" "$short" "$bin" start --name "$node" "$@"
  node_record_read "$log_dir" "$short"
  node_record_launch "$log_dir" "$short"
  local pid="$launched_pid"
  for _ in $(seq 1 300); do
    if running "$node"; then
      echo "started $node (pid $pid)"
      return 0
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
start app --data-dir "$data_dir" --http-port "$port"
start app2 --http-port "$port2"
start back --no-http
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

# Wait for Ctrl-C or SIGTERM, not for the nodes: one may exit and come back
# (rolling_restart.sh) without ending the demo.
sleeper=""
on_stop() {
  [[ -z "$sleeper" ]] || kill "$sleeper" 2>/dev/null || true
  stop_nodes
  exit 0
}
trap on_stop INT TERM
trap - EXIT
while :; do
  sleep 3600 &
  sleeper=$!
  wait "$sleeper" || true
done
