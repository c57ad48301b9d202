# shellcheck shell=bash
# Waiting for a server started in the background, and making sure a process
# is gone. Sourced by the benchmark scripts, demo.sh, stop_all.sh and
# tests/js/run.sh, which all start servers on port 0 and stop nodes.

# wait_for_port LOG PID WHAT [TENTHS]: prints the port of the first
# "Running …Endpoint at http://HOST:PORT" line in LOG, once PID has written it. Fails (status
# 1, LOG on stderr) if PID exits first or TENTHS tenths of a second (default
# 300) pass.
wait_for_port() {
  local log="$1" pid="$2" what="$3" tenths="${4:-300}" port=""
  for _ in $(seq 1 "$tenths"); do
    port="$(sed -n 's/.*Endpoint at http:\/\/[^ ]*:\([0-9][0-9]*\).*/\1/p' "$log" | head -n 1)"
    if [[ -n "$port" ]]; then
      echo "$port"
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      cat "$log" >&2
      echo "$what exited before listening" >&2
      return 1
    fi
    sleep 0.1
  done
  cat "$log" >&2
  echo "$what did not report a listening port within $((tenths / 10)) s" >&2
  return 1
}

# wait_gone_or_kill PID WHAT: waits up to 10 s for PID to exit, then SIGKILLs it.
# Status 1 if it had to be killed.
wait_gone_or_kill() {
  local pid="$1" what="$2"
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  echo "$what still runs after 10 s: SIGKILL" >&2
  kill -KILL "$pid" 2>/dev/null || true
  return 1
}

# terminate PID WHAT: SIGTERM (a node's clean stop), then wait_gone_or_kill.
terminate() {
  local pid="$1" what="$2"
  kill -TERM "$pid" 2>/dev/null || true
  wait_gone_or_kill "$pid" "$what"
}
