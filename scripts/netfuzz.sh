#!/usr/bin/env bash
# The network fuzzer against running nodes, at full size.
#
# Builds release, then for each server — a hello_sockets server, and a
# sneakers23 store node (a named node owning a fresh data directory) — starts
# it on a free port (port 0, read back from its log), runs `netfuzz` against
# it (FRAMES random and mutated frames over WebSocket and long poll on every
# socket it mounts, after a warm-up of as many, while well-behaved clients stay
# connected) and prints netfuzz's one-line JSON summary: frames per kind, the
# server's answers, errors, the good clients' replies and broadcasts expected
# and received, the server's RSS (cold, baseline after the warm-up, peak,
# after), whether it is alive and answers. The server is stopped after its
# run. Exits 1 if a server did not come through (netfuzz's own verdict).
#
#   scripts/netfuzz.sh                     # both servers, 100,000 frames each
#   scripts/netfuzz.sh hello_sockets       # or sneakers23
#   FRAMES=20000 SEED=7 scripts/netfuzz.sh
#   NETFUZZ_ARGS="--replay 4711" SEED=7 scripts/netfuzz.sh hello_sockets
#
# Environment: FRAMES (default 100000), SEED (default 1), SKIP_BUILD=1,
# NETFUZZ_ARGS (appended to netfuzz's flags), KEEP_LOGS=1 (keep the servers'
# logs; their directory is printed at the end). RUST_BACKTRACE is unset for the servers: with it,
# the first panic a client causes (a channel crashing, as designed) makes std
# load the binary's debug info to print a backtrace — memory kept for the
# process's life that is the backtrace printer's, not the server's.
set -euo pipefail
cd "$(dirname "$0")/.."

WHICH="${1:-all}"
FRAMES="${FRAMES:-100000}"
SEED="${SEED:-1}"
NETFUZZ_ARGS="${NETFUZZ_ARGS:-}"
case "$WHICH" in
    all | hello_sockets | sneakers23) ;;
    *) echo "netfuzz: unknown server $WHICH (hello_sockets, sneakers23, all)" >&2; exit 2 ;;
esac

# shellcheck source=lib/bench.sh
source scripts/lib/bench.sh
bench_build hello_sockets store_app
if [[ "${SKIP_BUILD:-}" != 1 ]]; then
    cargo build --quiet --release -p tests --bin netfuzz
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/netfuzz.XXXXXX")"
chmod 700 "$WORK"
SERVER=""
stop_server() {
    if [[ -n "$SERVER" ]]; then
        terminate "$SERVER" "netfuzz: the server" || true
        wait "$SERVER" 2>/dev/null || true
        SERVER=""
    fi
}
cleanup() {
    stop_server
    if [[ "${KEEP_LOGS:-}" == 1 ]]; then
        echo "netfuzz: server logs kept in $WORK" >&2
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

FAILED=0
# run_netfuzz NAME TARGET PORT: fuzzes the server started last; its summary on stdout.
run_netfuzz() {
    local name="$1" target="$2" port="$3" status=0
    echo "netfuzz: $name pid $SERVER on port $PORT; $FRAMES frames, seed $SEED" >&2
    # shellcheck disable=SC2086 # NETFUZZ_ARGS is a list of flags
    "$BIN/netfuzz" --url "http://127.0.0.1:$port" --target "$target" --server-pid "$SERVER" \
        --frames "$FRAMES" --seed "$SEED" $NETFUZZ_ARGS || status=$?
    if [[ "$status" != 0 ]]; then
        echo "netfuzz: $name did not come through (netfuzz exit $status); the end of its log:" >&2
        tail -n 30 "$WORK/$name.log" >&2
        FAILED=1
    fi
    stop_server
}

if [[ "$WHICH" == all || "$WHICH" == hello_sockets ]]; then
    env -u RUST_BACKTRACE RUST_LOG="${RUST_LOG:-warn,hello_sockets=info,channels::endpoint=info}" NO_COLOR=1 \
        "$BIN/hello_sockets" --port 0 --host 127.0.0.1 </dev/null >"$WORK/hello_sockets.log" 2>&1 &
    SERVER=$!
    PORT="$(wait_for_port "$WORK/hello_sockets.log" "$SERVER" "netfuzz: hello_sockets" 100)"
    run_netfuzz hello_sockets hello-sockets "$PORT"
fi

if [[ "$WHICH" == all || "$WHICH" == sneakers23 ]]; then
    # A private cluster of one: its own name directory and cookie, a fresh
    # store, a secret for this run.
    mkdir -m 700 "$WORK/names"
    RELEASE_COOKIE="netfuzz-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
    SECRET_KEY_BASE="$(od -An -N48 -tx1 /dev/urandom | tr -d ' \n')"
    env -u RUST_BACKTRACE -u DATA_DIR -u CATALOGUE -u SECRET_KEY_BASE_FILE \
        NODE_NAME_DIR="$WORK/names" RELEASE_COOKIE="$RELEASE_COOKIE" SECRET_KEY_BASE="$SECRET_KEY_BASE" \
        RUST_LOG="${RUST_LOG:-warn,sneakers23=info,channels::endpoint=info}" NO_COLOR=1 \
        "$BIN/sneakers23" start --name "netfuzz@127.0.0.1" --data-dir "$WORK/data" --host 127.0.0.1 --http-port 0 \
        </dev/null >"$WORK/sneakers23.log" 2>&1 &
    SERVER=$!
    PORT="$(wait_for_port "$WORK/sneakers23.log" "$SERVER" "netfuzz: sneakers23" 300)"
    run_netfuzz sneakers23 sneakers23 "$PORT"
fi

exit "$FAILED"
