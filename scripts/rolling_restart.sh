#!/usr/bin/env bash
# Restarts the nodes of a local cluster one at a time, as a deploy would, so
# the cluster as a whole stays up: scripts/cluster.sh's hello_sockets nodes or
# scripts/demo.sh's Sneakers23 nodes.
#
#   scripts/rolling_restart.sh [--help]
#
# The nodes are the ones the scripts started and recorded in LOG_DIR (default
# log/): NAME.pid and NAME.cmd, the exact command each was started with (see
# scripts/lib/node_records.sh). Only running nodes are restarted, in this
# order: the web nodes (an HTTP port, no database), then the nodes started
# with --no-http, then the store's owner (--data-dir) — the nodes holding
# pages go first, the database last, so it is away for the shortest time.
#
# For each node:
#   1. `BIN stop NAME`: a clean stop (the node drains its sockets, so pages
#      reconnect elsewhere or later); SIGTERM if that fails, SIGKILL if the
#      node is still there after a bound;
#   2. the recorded command starts it again (same log, appended; new pid file);
#   3. wait until its console answers, and its web port if it has one;
#   4. `node.connect` to another running node of the cluster (the mesh is
#      transitive), then wait until `node.list` on it shows every other node;
#   5. for a Sneakers23 cluster, wait until every node's `store.status`
#      reports the store reachable and its memory loaded.
# Every wait is bounded; a node that does not come back stops the script with
# a non-zero status and the end of its log. Meanwhile writes fail with "no
# store is reachable" while the store's owner is down, and pages reconnect to
# their node when it is back (the reply to their rejoin brings them up to date).
#
# Environment: LOG_DIR (log/), STOP_TIMEOUT (seconds for the clean stop, 30),
# START_TIMEOUT (seconds until the console answers, 30), READY_TIMEOUT
# (seconds for the cluster to be whole again, 60). The nodes' cookie comes
# from the same place as when they were started (the cookie file, or
# RELEASE_COOKIE, which must then be set here to the same value).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
source "$root/scripts/lib/node_records.sh"

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
}
case "${1:-}" in
  -h | --help)
    usage
    exit 0
    ;;
  "") ;;
  *)
    echo "usage: $0 [--help]   (settings through the environment: LOG_DIR, STOP_TIMEOUT, START_TIMEOUT, READY_TIMEOUT)" >&2
    exit 2
    ;;
esac

log_dir="${LOG_DIR:-$root/log}"
stop_timeout="${STOP_TIMEOUT:-30}"
start_timeout="${START_TIMEOUT:-30}"
ready_timeout="${READY_TIMEOUT:-60}"
# After a failed clean stop: how long SIGTERM gets before SIGKILL.
term_timeout=10

die() {
  echo "$0: $*" >&2
  exit 1
}

[[ -d "$log_dir" ]] || die "no $log_dir: start a cluster with scripts/cluster.sh or scripts/demo.sh first (or set LOG_DIR)"

# ---- the recorded, running nodes ----
shopt -s nullglob
declare -A node_of=() kind_of=()
web=() back=() owners=() apps=()
for pid_file in "$log_dir"/*.pid; do
  name="$(basename "$pid_file" .pid)"
  if ! node_record_read "$log_dir" "$name" 2>/dev/null; then
    echo "skipping $name: no start record $log_dir/$name.cmd (started by an older script? restart it by hand)"
    continue
  fi
  if ! node_record_is_running "$(cat "$pid_file")"; then
    echo "skipping $name ($record_node): not running (stale pid file)"
    continue
  fi
  node_of[$name]="$record_node"
  [[ " ${apps[*]} " == *" $(basename "$record_bin") "* ]] || apps+=("$(basename "$record_bin")")
  if node_record_has --data-dir || printf '%s\n' "${record_env[@]}" | grep -q '^DATA_DIR=.'; then
    kind_of[$name]="store owner"
    owners+=("$name")
  elif node_record_has --no-http; then
    kind_of[$name]="no web server"
    back+=("$name")
  else
    kind_of[$name]="web"
    web+=("$name")
  fi
done
order=("${web[@]}" "${back[@]}" "${owners[@]}")
((${#order[@]} > 0)) || die "no running node recorded in $log_dir (NAME.pid with NAME.cmd): nothing to restart"
((${#apps[@]} == 1)) || die "$log_dir holds running nodes of several apps (${apps[*]}); give each cluster its own LOG_DIR"

# rpc NAME COMMAND...: runs a console command on the recorded node NAME, with
# its recorded binary and environment (bounded by rpc's own --timeout). A
# subshell, so that reading NAME's record leaves the caller's alone.
rpc() (
  name="$1"
  shift
  node_record_read "$log_dir" "$name" && node_record_run rpc "${node_of[$name]}" --timeout 10 "$@"
)

store_cluster=false
if rpc "${order[0]}" help store.status >/dev/null 2>&1; then
  store_cluster=true
fi

# cluster_problem: why the cluster is not whole yet (empty when it is):
# every node sees every other, and in a store cluster every node reaches the
# store and has its catalogue in memory.
cluster_problem() {
  local name other peers status
  for name in "${order[@]}"; do
    if ! peers="$(rpc "$name" node.list 2>&1)"; then
      echo "${node_of[$name]} does not answer: $peers"
      return 0
    fi
    for other in "${order[@]}"; do
      [[ "$other" == "$name" ]] && continue
      if ! grep -qxF "${node_of[$other]}" <<<"$peers"; then
        echo "${node_of[$name]} does not see ${node_of[$other]} (node.list: $(tr '\n' ' ' <<<"$peers"))"
        return 0
      fi
    done
    if $store_cluster; then
      status="$(rpc "$name" store.status 2>&1 || true)"
      if ! grep -q '^store on ' <<<"$status" || grep -q '^memory: 0 products' <<<"$status"; then
        echo "${node_of[$name]} has no store or no catalogue yet: $(tr '\n' ' ' <<<"$status")"
        return 0
      fi
    fi
  done
}

# wait_cluster SECONDS WHAT: waits until cluster_problem is empty.
wait_cluster() {
  local deadline=$((SECONDS + $1)) problem
  while :; do
    problem="$(cluster_problem)"
    [[ -z "$problem" ]] && return 0
    if ((SECONDS >= deadline)); then
      echo "$2 within $1 s: $problem" >&2
      return 1
    fi
    sleep 0.2
  done
}

# wait_gone PID SECONDS: whether PID exited within SECONDS.
wait_gone() {
  local deadline=$((SECONDS + $2))
  while kill -0 "$1" 2>/dev/null; do
    ((SECONDS < deadline)) || return 1
    sleep 0.1
  done
}

# web_port: the HTTP port of the record read last, if it has a fixed one.
web_port() {
  local port
  node_record_has --no-http && return 1
  port="$(node_record_value --http-port)" || return 1
  [[ "$port" =~ ^[0-9]+$ && "$port" != 0 ]] || return 1
  echo "$port"
}

# restart NAME: steps 1–4 above for one node.
restart() {
  local name="$1" node="${node_of[$1]}" pid err port deadline other connected=""
  node_record_read "$log_dir" "$name"
  pid="$(cat "$log_dir/$name.pid")"
  local log="$log_dir/$name.log"

  echo "== $node (${kind_of[$name]}): stopping (pid $pid)"
  if err="$(node_record_run stop "$node" --timeout "$stop_timeout" 2>&1)"; then
    echo "   stopped cleanly"
  else
    echo "   the clean stop failed ($err): SIGTERM"
    kill -TERM "$pid" 2>/dev/null || true
  fi
  if ! wait_gone "$pid" "$term_timeout"; then
    echo "   still running $term_timeout s later: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    wait_gone "$pid" 5 || die "$node (pid $pid) survived SIGKILL"
  fi

  echo "== $node: starting again: $(printf '%q ' "$record_bin" "${record_args[@]}")"
  node_record_launch "$log_dir" "$name"
  pid="$launched_pid"
  deadline=$((SECONDS + start_timeout))
  until node_record_run rpc "$node" --timeout 5 node.self >/dev/null 2>&1; do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "$node did not start again; the end of $log:" >&2
      tail -n 20 "$log" >&2
      die "$node did not come back"
    fi
    ((SECONDS < deadline)) || die "$node (pid $pid) did not answer within $start_timeout s; see $log"
    sleep 0.1
  done
  if port="$(web_port)"; then
    until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
      ((SECONDS < deadline)) || die "$node (pid $pid) does not serve on port $port after $start_timeout s; see $log"
      sleep 0.1
    done
    echo "   answering (pid $pid), serving on port $port"
  else
    echo "   answering (pid $pid)"
  fi

  # Back into the cluster: connecting to one node connects to all of them.
  deadline=$((SECONDS + ready_timeout))
  while [[ -z "$connected" ]]; do
    for other in "${order[@]}"; do
      [[ "$other" == "$name" ]] && continue
      if rpc "$name" "node.connect ${node_of[$other]}" >/dev/null 2>&1; then
        connected="${node_of[$other]}"
        break
      fi
    done
    if [[ -z "$connected" ]]; then
      ((${#order[@]} > 1)) || break
      ((SECONDS < deadline)) || die "$node could not connect to any other node within $ready_timeout s"
      sleep 0.5
    fi
  done
  [[ -n "$connected" ]] && echo "   connected to $connected"
  if $store_cluster; then
    wait_cluster "$ready_timeout" "$node is back but the cluster is not whole (every node connected, the store reachable and loaded everywhere)" ||
      die "$node did not come back into the cluster"
    echo "   the cluster is whole again: every node sees the others, reaches the store and has the catalogue"
  else
    wait_cluster "$ready_timeout" "$node is back but the cluster is not whole (every node connected)" ||
      die "$node did not come back into the cluster"
    echo "   the cluster is whole again: every node sees the others"
  fi
}

echo "Rolling restart of ${#order[@]} ${apps[0]} node(s), in this order:"
for name in "${order[@]}"; do
  echo "  ${node_of[$name]}  (${kind_of[$name]}; log ${log_dir#"$root"/}/$name.log)"
done
if [[ -z "${SECRET_KEY_BASE:-}" ]]; then
  for name in "${order[@]}"; do
    node_record_read "$log_dir" "$name"
    if ! printf '%s\n' "${record_env[@]}" | grep -q '^SECRET_KEY_BASE_FILE=.'; then
      echo "warning: ${node_of[$name]} was started without SECRET_KEY_BASE_FILE: unless SECRET_KEY_BASE is set here as it was then, it gets a new random secret (tokens it signed before stop verifying)" >&2
    fi
  done
fi
# A cluster that is not whole now would make every wait below fail for a
# reason that is not the restart's: check first, restart nothing if so.
wait_cluster 10 "the cluster is not whole before the restart" ||
  die "nothing was restarted; fix the cluster first (or stop the node that is not part of it)"

for name in "${order[@]}"; do
  restart "$name"
done
echo "Rolling restart done: ${#order[@]} node(s) restarted, the cluster is whole."
