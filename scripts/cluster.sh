#!/usr/bin/env bash
# Starts the book's local cluster and connects it:
#
#   web@127.0.0.1    the app on http://127.0.0.1:4000   (WEB_PORT)
#   back@127.0.0.1   no web server: the book's back node
#   web2@127.0.0.1   the app on http://127.0.0.1:4001   (WEB2_PORT)
#
# then back → web and web2 → back (transitive connections make the mesh), and
# shows what each node sees. The nodes share one secret_key_base, so a token
# signed by one is valid on the others and after a restart: SECRET_KEY_BASE if
# set, else the file LOG_DIR/secret_key_base (made once, mode 0600, with
# `hello_sockets gen-secret`). Each node's pid and start record are kept in
# LOG_DIR (default log/): scripts/rolling_restart.sh restarts the nodes one at
# a time, scripts/stop_all.sh stops them.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
# shellcheck source=scripts/lib/node_records.sh
source "$here/lib/node_records.sh"

if [[ -z "${HELLO_SOCKETS_BIN:-}" ]]; then
  (cd "$root" && cargo build --quiet -p hello_sockets --bin hello_sockets)
  bin="${CARGO_TARGET_DIR:-$root/target}/debug/hello_sockets"
  [[ "$bin" == /* ]] || bin="$root/$bin"
  export HELLO_SOCKETS_BIN="$bin"
fi
bin="$HELLO_SOCKETS_BIN"

log_dir="${LOG_DIR:-$root/log}"
mkdir -p "$log_dir"
ensure_secret_key_base_file "$log_dir" "$bin" gen-secret

web_port="${WEB_PORT:-4000}"
web2_port="${WEB2_PORT:-4001}"

"$here/start_node.sh" web "$web_port"
"$here/start_node.sh" back
"$here/start_node.sh" web2 "$web2_port"

"$here/connect.sh" back web
"$here/connect.sh" web2 back

# Transitive connections take a moment: wait (bounded) for the full mesh.
for _ in $(seq 1 100); do
  if [[ "$("$bin" rpc web@127.0.0.1 node.list | grep -c @)" == 2 ]]; then
    break
  fi
  sleep 0.1
done
for node in web back web2; do
  echo "$node@127.0.0.1 sees: $("$bin" rpc "$node@127.0.0.1" node.list | tr '\n' ' ')"
done

cat <<MSG

The cluster is up. Join the ping channel on either web node, e.g.
  wscat -c 'ws://127.0.0.1:${web_port}/socket/websocket?vsn=2.0.0'
  > ["1","1","ping","phx_join",{}]
then broadcast from any node (the book's Endpoint.broadcast):
  $bin rpc back@127.0.0.1 'broadcast ping request_ping {}'
and every client on every node gets send_ping with its node's name:
  ["1",null,"ping","send_ping",{"from_node":"web@127.0.0.1"}]

A console on a running node (help lists the commands, Tab completes):
  $bin remote web@127.0.0.1
The supervision tree of a node:
  $bin rpc web2@127.0.0.1 processes
Restart the nodes one at a time (a deploy), the cluster staying up:
  scripts/rolling_restart.sh
Stop every node started by these scripts:
  scripts/stop_all.sh
MSG
