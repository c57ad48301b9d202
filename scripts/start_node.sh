#!/usr/bin/env bash
# Starts a hello_sockets node in the background and waits until it answers.
#
#   scripts/start_node.sh NAME [HTTP_PORT]
#
# NAME is `web` (meaning web@127.0.0.1) or a full name@host. With HTTP_PORT the
# node serves the app on that port; without, it runs no web server (the book's
# back node). In LOG_DIR (default log/): the log goes to NAME.log, the pid to
# NAME.pid, and the exact command that started it to NAME.cmd (the start
# record scripts/rolling_restart.sh restarts it from; see
# scripts/lib/node_records.sh).
#
# The cookie is the one every node and `hello_sockets rpc` of this user shares:
# RELEASE_COOKIE if set, else ~/.node.cookie (created, mode 0600, by the first
# node). The secret_key_base: SECRET_KEY_BASE or SECRET_KEY_BASE_FILE if set
# (scripts/cluster.sh sets the file), else a random one for this run.
# HELLO_SOCKETS_BIN=path uses that binary instead of building one.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
source "$root/scripts/lib/node_records.sh"

if [[ $# -lt 1 || $# -gt 2 || "$1" == -* ]]; then
  echo "usage: $0 NAME [HTTP_PORT]   (NAME: web or web@127.0.0.1)" >&2
  exit 2
fi
name="$1"
http_port="${2:-}"
if [[ ! "$name" =~ ^[A-Za-z0-9_-]+(@[A-Za-z0-9._-]+)?$ ]]; then
  echo "$0: $name is not a node name (letters, digits, _ and -, then optionally @host)" >&2
  exit 2
fi
if [[ -n "$http_port" && ! "$http_port" =~ ^[0-9]+$ ]]; then
  echo "$0: HTTP_PORT must be a number, got $http_port" >&2
  exit 2
fi
node="$name"
[[ "$node" == *@* ]] || node="$node@127.0.0.1"

if [[ -n "${HELLO_SOCKETS_BIN:-}" ]]; then
  bin="$HELLO_SOCKETS_BIN"
else
  (cd "$root" && cargo build --quiet -p hello_sockets --bin hello_sockets)
  bin="${CARGO_TARGET_DIR:-$root/target}/debug/hello_sockets"
  [[ "$bin" == /* ]] || bin="$root/$bin"
fi

[[ "$bin" == /* ]] || bin="$PWD/$bin"

log_dir="${LOG_DIR:-$root/log}"
mkdir -p "$log_dir"
log_dir="$(cd "$log_dir" && pwd)"
log="$log_dir/$name.log"
pid_file="$log_dir/$name.pid"

if [[ -f "$pid_file" ]] && kill -0 "$(cat "$pid_file")" 2>/dev/null; then
  echo "$node is already running (pid $(cat "$pid_file"), log $log)" >&2
  exit 1
fi

if [[ -n "$http_port" ]]; then
  http_args=(--http-port "$http_port")
else
  http_args=(--no-http)
fi

export NO_COLOR=1
node_record_write "$log_dir" "$name" "$bin" start --name "$node" "${http_args[@]}"
node_record_read "$log_dir" "$name"
node_record_launch "$log_dir" "$name"
pid="$launched_pid"

# Wait until the node answers on its control socket (bounded: 30 s).
for _ in $(seq 1 300); do
  if "$bin" rpc "$node" node.self >/dev/null 2>&1; then
    where="no web server"
    [[ -n "$http_port" ]] && where="http://127.0.0.1:$http_port"
    echo "started $node (pid $pid, $where, log ${log#"$root"/})"
    exit 0
  fi
  if ! kill -0 "$pid" 2>/dev/null; then
    rm -f "$pid_file"
    echo "$node did not start; the end of $log:" >&2
    tail -n 20 "$log" >&2
    exit 1
  fi
  sleep 0.1
done
echo "$node did not answer within 30 s (pid $pid); see $log" >&2
exit 1
