# shellcheck shell=bash
# Start records: how each node the scripts started can be started again.
# Sourced by start_node.sh, cluster.sh, demo.sh and rolling_restart.sh.
#
# For a node NAME (its log is $dir/NAME.log), the scripts keep in $dir:
#
#   NAME.pid   the pid of the running node
#   NAME.cmd   the exact command that started it: the arguments of env(1),
#              NUL-separated, so `env "${record[@]}"` starts it again:
#                --chdir=DIR  -u VAR …  VAR=value …  BINARY  ARG …
#
# The environment part pins every variable the node binaries read
# (NODE_SETTINGS below): set at start, it is recorded with its value; unset,
# it is recorded as `-u VAR`, so that whoever restarts the node cannot change
# its settings by accident (e.g. a DATA_DIR in their shell would make a web
# node try to own the database). Secrets (NODE_SECRETS) are never written
# down: one that was set at start must be set again, to the same value, for
# the restart (a cookie in RELEASE_COOKIE; a SECRET_KEY_BASE), and the
# scripts prefer files for them (the cookie file, SECRET_KEY_BASE_FILE).

# What hello_sockets and sneakers23 read from the environment.
NODE_SETTINGS=(
  HOME USER XDG_RUNTIME_DIR NODE_NAME_DIR NODE_COOKIE_DIR SECRET_KEY_BASE_FILE
  PORT HOST DATA_DIR CATALOGUE STORE_ASSETS_DIR HEARTBEAT_TIMEOUT_MS
  CHECK_ORIGIN READ_BUFFER_BYTES STATSD_ADDR RUST_LOG NO_COLOR
  DRAIN_BATCH_SIZE DRAIN_BATCH_INTERVAL_MS DRAIN_DEADLINE_MS
  HTTP_HEADER_TIMEOUT_MS HTTP_KEEP_ALIVE_TIMEOUT_MS MAX_HANDSHAKES
  LONGPOLL_MAX_BODY_BYTES ADMIN_USER ADMIN_PASSWORD_FILE
  TRACKER_BROADCAST_PERIOD_MS TRACKER_DOWN_PERIOD_MS TRACKER_PERMDOWN_PERIOD_MS
  TRACKER_POOL_SIZE
)
NODE_SECRETS=(RELEASE_COOKIE NODE_COOKIE SECRET_KEY_BASE ADMIN_PASSWORD)

# node_record_write DIR NAME BINARY ARG...: writes DIR/NAME.cmd for a node
# started now, from here, with this environment.
node_record_write() {
  local dir="$1" name="$2"
  shift 2
  # env(1) takes its options (--chdir, -u) before the first assignment.
  local unset=() assigned=() var
  for var in "${NODE_SETTINGS[@]}"; do
    if [[ -n "${!var+set}" ]]; then
      assigned+=("$var=${!var}")
    else
      unset+=(-u "$var")
    fi
  done
  for var in "${NODE_SECRETS[@]}"; do
    [[ -n "${!var+set}" ]] || unset+=(-u "$var")
  done
  local entries=("--chdir=$PWD" "${unset[@]}" "${assigned[@]}" "$@")
  local tmp="$dir/.$name.cmd.$$"
  printf '%s\0' "${entries[@]}" >"$tmp"
  mv -f "$tmp" "$dir/$name.cmd"
}

# node_record_read DIR NAME: reads DIR/NAME.cmd into
#   record       every entry (what `env` is given)
#   record_env   the environment part (--chdir, -u VAR, VAR=value)
#   record_bin   the binary
#   record_args  its arguments
#   record_node  the node's name (the value of --name)
# Fails (status 1, with a message) if the record is missing or unreadable.
node_record_read() {
  local file="$1/$2.cmd"
  record=() record_env=() record_bin="" record_args=() record_node=""
  if [[ ! -f "$file" ]]; then
    echo "no start record $file" >&2
    return 1
  fi
  mapfile -d '' -t record <"$file"
  local i=0 n=${#record[@]}
  while ((i < n)); do
    case "${record[i]}" in
      --chdir=*) record_env+=("${record[i]}") ;;
      -u)
        record_env+=(-u "${record[i + 1]:-}")
        i=$((i + 1))
        ;;
      *)
        if [[ "${record[i]}" =~ ^[A-Za-z_][A-Za-z0-9_]*= ]]; then
          record_env+=("${record[i]}")
        else
          break
        fi
        ;;
    esac
    i=$((i + 1))
  done
  if ((i >= n)); then
    echo "start record $file names no binary" >&2
    return 1
  fi
  record_bin="${record[i]}"
  record_args=("${record[@]:i+1}")
  local j
  for ((j = 0; j < ${#record_args[@]}; j++)); do
    if [[ "${record_args[j]}" == --name ]]; then
      record_node="${record_args[j + 1]:-}"
    elif [[ "${record_args[j]}" == --name=* ]]; then
      record_node="${record_args[j]#--name=}"
    fi
  done
  if [[ -z "$record_node" ]]; then
    echo "start record $file has no --name" >&2
    return 1
  fi
}

# node_record_has FLAG: whether the record read last passes FLAG.
node_record_has() {
  local arg
  for arg in "${record_args[@]}"; do
    [[ "$arg" == "$1" || "$arg" == "$1="* ]] && return 0
  done
  return 1
}

# node_record_value FLAG: the value the record read last gives FLAG, if any.
node_record_value() {
  local j
  for ((j = 0; j < ${#record_args[@]}; j++)); do
    if [[ "${record_args[j]}" == "$1" ]]; then
      printf '%s\n' "${record_args[j + 1]:-}"
      return 0
    elif [[ "${record_args[j]}" == "$1="* ]]; then
      printf '%s\n' "${record_args[j]#"$1"=}"
      return 0
    fi
  done
  return 1
}

# node_record_launch DIR NAME: starts the node of DIR/NAME.cmd (read with
# node_record_read first) in the background, detached from this terminal
# (nohup; its own session, so a Ctrl-C here does not reach it), its output
# appended to DIR/NAME.log; writes DIR/NAME.pid and sets launched_pid.
node_record_launch() {
  local dir="$1" name="$2"
  local log="$dir/$name.log"
  local detach=()
  command -v setsid >/dev/null 2>&1 && detach=(setsid)
  echo "--- $(date -u +%FT%TZ) start $record_node ${record_args[*]}" >>"$log"
  "${detach[@]}" nohup env "${record[@]}" </dev/null >>"$log" 2>&1 &
  launched_pid=$!
  echo "$launched_pid" >"$dir/$name.pid"
}

# node_record_is_running PID: whether PID is the process the record read last
# started (its command line is the recorded binary and arguments; a pid the
# system reused for something else is not).
node_record_is_running() {
  local pid="$1"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  cmp -s <(printf '%s\0' "$record_bin" "${record_args[@]}") "/proc/$pid/cmdline"
}

# node_record_run COMMAND ARG...: runs the recorded binary with the recorded
# environment (the same name directory and cookie as the node), e.g.
# `node_record_run rpc app@127.0.0.1 node.self`.
node_record_run() {
  env "${record_env[@]}" "$record_bin" "$@"
}

# ensure_secret_key_base_file DIR GENERATOR...: unless SECRET_KEY_BASE is set,
# makes every node started from here on use DIR/secret_key_base
# (SECRET_KEY_BASE_FILE), creating it (mode 0600) with GENERATOR's output the
# first time: nodes started, or restarted, later sign and verify the same
# tokens.
ensure_secret_key_base_file() {
  local dir="$1"
  shift
  [[ -z "${SECRET_KEY_BASE:-}" ]] || return 0
  local file="$dir/secret_key_base"
  if [[ ! -s "$file" ]]; then
    local secret
    secret="$("$@")"
    if ((${#secret} < 64)); then
      echo "the secret_key_base generator ($*) gave ${#secret} characters; 64 or more are needed" >&2
      return 1
    fi
    (umask 077 && printf '%s\n' "$secret" >"$file.$$" && mv -f "$file.$$" "$file")
    echo "created $file (the nodes' shared secret_key_base, mode 0600)"
  fi
  SECRET_KEY_BASE_FILE="$(cd "$(dirname "$file")" && pwd)/$(basename "$file")"
  export SECRET_KEY_BASE_FILE
}

# random_secret: 64 URL-safe characters from /dev/urandom (what
# `hello_sockets gen-secret` prints; sneakers23 has no such subcommand).
random_secret() {
  head -c 48 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n'
}
