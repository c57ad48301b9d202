#!/usr/bin/env bash
# Runs the phoenix.js tests (tests/js/*.test.mjs) against a real hello_sockets
# server (the store tests start their own private sneakers23 nodes, the restart
# test its own named hello_sockets node, and rolling_restart.test.mjs a private
# scripts/demo.sh cluster; their helpers are in support/): builds the binaries
# (incremental), installs the npm packages if they are missing, starts the
# server on a free loopback port (it binds port 0 and logs the port it got)
# with a random secret_key_base for this run only, runs `node --test`, stops
# the server, and exits with the tests' status.
# HELLO_SOCKETS_BIN=path uses that binary instead of building one.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"
# shellcheck source=../../scripts/lib/processes.sh
source "$root/scripts/lib/processes.sh"

if [[ -n "${HELLO_SOCKETS_BIN:-}" ]]; then
  bin="$HELLO_SOCKETS_BIN"
else
  cargo build --locked -p hello_sockets --bin hello_sockets
  bin="${CARGO_TARGET_DIR:-$root/target}/debug/hello_sockets"
fi
if [[ "$bin" != /* ]]; then bin="$root/$bin"; fi
# The restart test starts (and stops) its own named hello_sockets node.
export HELLO_SOCKETS_BIN="$bin"
# The store tests start their own sneakers23 nodes with this binary.
if [[ -z "${SNEAKERS23_BIN:-}" ]]; then
  cargo build --locked -p store_app --bin sneakers23
  SNEAKERS23_BIN="${CARGO_TARGET_DIR:-$root/target}/debug/sneakers23"
fi
if [[ "$SNEAKERS23_BIN" != /* ]]; then SNEAKERS23_BIN="$root/$SNEAKERS23_BIN"; fi
export SNEAKERS23_BIN
if [[ ! -f "$root/store_app/assets/node_modules/phoenix/priv/static/phoenix.min.js" ]]; then
  (cd "$root/store_app/assets" && npm ci --no-audit --no-fund)
fi

if [[ ! -f "$here/node_modules/phoenix/package.json" || ! -f "$here/node_modules/ws/package.json" || ! -f "$here/node_modules/xhr2/package.json" || ! -f "$here/node_modules/jsdom/package.json" ]]; then
  (cd "$here" && npm ci --no-audit --no-fund)
fi

log="$(mktemp)"
secret="$("$bin" gen-secret)"
SECRET_KEY_BASE="$secret" NO_COLOR=1 RUST_LOG=info \
  "$bin" --host 127.0.0.1 --port 0 >"$log" 2>&1 &
server=$!
unset secret

stop_server() {
  if kill -0 "$server" 2>/dev/null; then
    kill -INT "$server" 2>/dev/null || true
    wait_gone_or_kill "$server" hello_sockets || true
  fi
  wait "$server" 2>/dev/null || true
  rm -f "$log"
}
trap stop_server EXIT

port="$(wait_for_port "$log" "$server" hello_sockets)"
echo "hello_sockets (pid $server) listening on 127.0.0.1:$port"

# --test-force-exit (Node >= 20.14) ends the run even if a socket were left open.
node_args=(--test --test-reporter=spec)
if node --help 2>/dev/null | grep -q -- '--test-force-exit'; then
  node_args+=(--test-force-exit)
fi

status=0
HELLO_SOCKETS_URL="http://127.0.0.1:$port" \
  timeout 600 node "${node_args[@]}" "$here"/*.test.mjs || status=$?

if [[ $status -ne 0 ]]; then
  echo "--- hello_sockets log (last 80 lines) ---" >&2
  tail -n 80 "$log" >&2
fi
exit "$status"
