#!/usr/bin/env bash
# Connects two running nodes: FROM runs node.connect TO (Node.connect/1).
#
#   scripts/connect.sh FROM TO      e.g. scripts/connect.sh back web
#
# Names are `web` (meaning web@127.0.0.1) or full name@host. Connections are
# transitive: connecting to one node of a cluster connects to all of them.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

if [[ $# -ne 2 ]]; then
  echo "usage: $0 FROM TO   (names: web or web@127.0.0.1)" >&2
  exit 2
fi
from="$1"
to="$2"
[[ "$from" == *@* ]] || from="$from@127.0.0.1"
[[ "$to" == *@* ]] || to="$to@127.0.0.1"

bin="${HELLO_SOCKETS_BIN:-${CARGO_TARGET_DIR:-$root/target}/debug/hello_sockets}"
[[ "$bin" == /* ]] || bin="$root/$bin"
if [[ ! -x "$bin" ]]; then
  (cd "$root" && cargo build --quiet -p hello_sockets --bin hello_sockets)
fi

exec "$bin" rpc "$from" "node.connect $to"
