#!/usr/bin/env bash
# Stops every node started by scripts/start_node.sh (the pid files in log/):
# cleanly with `hello_sockets stop` (the app, then the node), with SIGTERM if
# that fails, with SIGKILL if the node is still there 10 s later. The pid
# files of other apps' nodes (scripts/demo.sh's sneakers23 nodes share log/)
# are left alone.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
source "$root/scripts/lib/node_records.sh"
source "$root/scripts/lib/processes.sh"
log_dir="${LOG_DIR:-$root/log}"

bin="${HELLO_SOCKETS_BIN:-${CARGO_TARGET_DIR:-$root/target}/debug/hello_sockets}"
[[ "$bin" == /* ]] || bin="$root/$bin"

shopt -s nullglob
pid_files=("$log_dir"/*.pid)
if [[ ${#pid_files[@]} -eq 0 ]]; then
  echo "no nodes to stop (no pid files in ${log_dir#"$root"/})"
  exit 0
fi

status=0
for pid_file in "${pid_files[@]}"; do
  name="$(basename "$pid_file" .pid)"
  node="$name"
  [[ "$node" == *@* ]] || node="$node@127.0.0.1"
  pid="$(cat "$pid_file")"
  # The environment it was started with (its name directory, cookie
  # settings), from its start record; another app's node is not ours.
  env_args=()
  if node_record_read "$log_dir" "$name" 2>/dev/null; then
    [[ "$(basename "$record_bin")" == hello_sockets ]] || continue
    env_args=("${record_env[@]}")
    node="$record_node"
  fi
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "$node is not running"
    rm -f "$pid_file"
    continue
  fi
  # Only a hello_sockets process (the pid may have been reused).
  if ! tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q hello_sockets; then
    echo "$node is not running (pid $pid is another program now)"
    rm -f "$pid_file"
    continue
  fi
  # The node's own binary (even if rebuilt since) speaks its protocol.
  exe="/proc/$pid/exe"
  [[ -e "$exe" ]] || exe="$bin"
  if env "${env_args[@]}" "$exe" stop "$node" --timeout 15 >/dev/null 2>&1; then
    :
  else
    echo "$node did not stop on request: SIGTERM" >&2
    kill -TERM "$pid" 2>/dev/null || true
  fi
  wait_gone_or_kill "$pid" "$node" || status=1
  rm -f "$pid_file"
  echo "stopped $node"
done
exit "$status"
