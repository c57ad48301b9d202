#!/usr/bin/env bash
# The store's performance figures, measured (the issue's "Performance, measured"):
#
#   page         GET / (the store page, rendered from the inventory server's
#                memory) against GET /health (a trivial route) on the same
#                node: requests/s, latency, and the ratio page/trivial; once
#                with the demo catalogue (4 products) and once with flash
#                (100 products, a bigger page)
#   replication  a sale issued on back (control socket, in-process) to the
#                stock_change frame at a WebSocket client on app: p50/p99/max
#                over 1,000 sequential sales (flash catalogue)
#   checkout     durable purchases per second and their latency: SHOPPERS
#                (64) shoppers POST /checkout with signed carts of 1–3 sizes,
#                spread over two web nodes (app owns the store, app2 reaches it
#                over the cluster); stocked catalogue. SYNC_EACH_WRITE=1 runs
#                the store as before group commit (one fdatasync per write).
#                STORES="sled postgres" runs each run on both stores in turn
#                (interleaved, so the ratio postgres/sled is of the same
#                minutes): on postgres both nodes write to a private
#                PostgreSQL (scripts/lib/postgres.sh; a fresh database per
#                run) and neither owns the data.
#   all          page and replication
#
# Every run starts fresh nodes in a temporary directory — a private name
# directory (NODE_NAME_DIR), a random cookie (RELEASE_COOKIE), a new data
# directory — app (owns the data; web server on a free port, read back from
# its log) and back (--no-http), connects them, waits until back reports
# "store on", runs store_bench, and stops both (also on Ctrl-C or failure).
# Each run prints store_bench's JSON lines; at the end, the median of the runs.
#
#   scripts/bench_store.sh all
#   RUNS=1 SECONDS_PER_PATH=5 scripts/bench_store.sh page
#   CONNECTIONS=64 THREADS=2 scripts/bench_store.sh page
#   SALES=500 scripts/bench_store.sh replication
#   SYNC_EACH_WRITE=1 scripts/bench_store.sh checkout
#   STORES="sled postgres" scripts/bench_store.sh checkout
#   PERF=1 RUNS=1 scripts/bench_store.sh replication   # perf record app and back (app2 for checkout)
#
# Environment: RUNS (3), CONNECTIONS (32), SECONDS_PER_PATH (10), PATHS
# (/,/health), CATALOGUES (the page runs'; "demo flash"), SALES (1000), SHOPPERS (64),
# SYNC_EACH_WRITE=1 (checkout: the store syncs every write on its own),
# STORES (checkout: sled, postgres or both; "sled"),
# THREADS (store_bench worker threads; 1), SKIP_BUILD=1,
# BENCH_ARGS (appended to store_bench's flags), DATA_ROOT (where the data
# directory goes; default $TMPDIR or /tmp — its filesystem's fsync cost is
# part of the replication figure), PERF=1 (perf record -g of both nodes during
# the run; reports to stderr), NODE_BIN (another sneakers23 binary, e.g. the
# previous commit's, to compare two builds with the same client).
set -euo pipefail
cd "$(dirname "$0")/.."

WORKLOAD="${1:-all}"
RUNS="${RUNS:-3}"
CONNECTIONS="${CONNECTIONS:-32}"
SECONDS_PER_PATH="${SECONDS_PER_PATH:-10}"
PATHS="${PATHS:-/,/health}"
CATALOGUES="${CATALOGUES:-demo flash}"
SALES="${SALES:-1000}"
SHOPPERS="${SHOPPERS:-64}"
THREADS="${THREADS:-1}"
STORES="${STORES:-sled}"
# The store of the run being made (checkout): sled or postgres.
STORE_KIND=sled
BENCH_ARGS="${BENCH_ARGS:-}"
# shellcheck source=lib/bench.sh
source scripts/lib/bench.sh
# shellcheck source=lib/postgres.sh
source scripts/lib/postgres.sh
NODE_BIN="${NODE_BIN:-$BIN/sneakers23}"
BENCH_BIN="$BIN/store_bench"

case "$WORKLOAD" in
    page | replication | checkout | all) ;;
    *) echo "bench_store: unknown workload $WORKLOAD (page, replication, checkout, all)" >&2; exit 2 ;;
esac
command -v jq >/dev/null 2>&1 || { echo "bench_store: jq is needed for the summaries" >&2; exit 1; }

bench_build store_app store_bench

APP=app@127.0.0.1
APP2=app2@127.0.0.1
BACK=back@127.0.0.1
# Every node of a run shares one secret (a cart signed on one opens on the
# other); store_bench checkout signs its carts with it.
SECRET_KEY_BASE="$(od -An -N48 -tx1 /dev/urandom | tr -d ' \n')"
export SECRET_KEY_BASE
if [[ "${SYNC_EACH_WRITE:-}" == 1 ]]; then export STORE_SYNC_EACH_WRITE=1; fi
WORK=""
PIDS=()
PORT2=""
RESULTS="$(mktemp)"

stop_nodes() {
    if [[ -n "$WORK" ]]; then
        for node in "$BACK" "$APP2" "$APP"; do
            "$NODE_BIN" stop --timeout 10 "$node" >/dev/null 2>&1 || true
        done
        for pid in "${PIDS[@]}"; do
            kill "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        done
        rm -rf "$WORK"
    fi
    WORK=""
    PIDS=()
}
cleanup() {
    stop_nodes
    pg_stop
    rm -f "$RESULTS"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

rpc() { "$NODE_BIN" rpc "$@"; }

fail() {
    echo "bench_store: $1" >&2
    for log in "$WORK"/*.log; do
        [[ -f "$log" ]] || continue
        echo "--- the end of $(basename "$log"):" >&2
        tail -n 15 "$log" >&2
    done
    exit 1
}

# start_node NAME LOG ARGS...: starts a node and waits until its console answers.
start_node() {
    local node="$1" log="$WORK/$2.log"
    shift 2
    # Info for the endpoint's address line; warn elsewhere (the control socket
    # logs every command at info, which would be 1,000 lines per run).
    RUST_LOG="${RUST_LOG:-warn,sneakers23=info,channels::endpoint=info}" NO_COLOR=1 \
        "$NODE_BIN" start --name "$node" "$@" </dev/null >"$log" 2>&1 &
    PIDS+=("$!")
    local pid=$!
    for _ in $(seq 1 300); do
        rpc "$node" node.self >/dev/null 2>&1 && return 0
        kill -0 "$pid" 2>/dev/null || fail "$node did not start"
        sleep 0.1
    done
    fail "$node did not answer within 30 s"
}

# start_nodes CATALOGUE [web]: fresh app (owns the data, serves the web) and
# a second node connected to it: back (--no-http), or with "web" app2 serving
# the web too; waits until the second node reaches the store. Sets PORT (and
# PORT2 for app2) and SECOND (the second node's name).
start_nodes() {
    local catalogue="$1" web="${2:-}"
    WORK="$(mktemp -d "${DATA_ROOT:-${TMPDIR:-/tmp}}/bench_store.XXXXXX")"
    chmod 700 "$WORK"
    mkdir -m 700 "$WORK/names"
    export NODE_NAME_DIR="$WORK/names"
    RELEASE_COOKIE="bench-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
    export RELEASE_COOKIE
    # On sled app owns the data; on PostgreSQL both nodes write to a fresh
    # database and neither owns it.
    local store=(--data-dir "$WORK/data") second_store=()
    if [[ "$STORE_KIND" == postgres ]]; then
        local url
        url="$(pg_createdb "bench_$(basename "$WORK" | tr -dc 'a-zA-Z0-9')")" || fail "cannot create the benchmark's database"
        store=(--store "$url")
        second_store=(--store "$url")
    fi
    start_node "$APP" app "${store[@]}" --catalogue "$catalogue" --http-port 0
    PORT="$(wait_for_port "$WORK/app.log" "${PIDS[-1]}" "bench_store: app" 100)" || fail "app did not report its port"
    if [[ "$web" == web ]]; then
        SECOND="$APP2"
        start_node "$APP2" app2 "${second_store[@]}" --catalogue "$catalogue" --http-port 0
        PORT2="$(wait_for_port "$WORK/app2.log" "${PIDS[-1]}" "bench_store: app2" 100)" || fail "app2 did not report its port"
    else
        SECOND="$BACK"
        start_node "$BACK" back --no-http
    fi
    rpc "$SECOND" node.connect "$APP" >/dev/null || fail "$SECOND could not connect to app"
    # The store service reaches the second node a moment after the
    # connection; then it loads the catalogue into its memory.
    local status=""
    for _ in $(seq 1 150); do
        status="$(rpc "$SECOND" store.status 2>/dev/null || true)"
        if grep -q '^store on' <<<"$status" && ! grep -q '^memory: 0 products' <<<"$status"; then
            echo "bench_store: app on port $PORT${PORT2:+, app2 on port $PORT2}; $SECOND: ${status//$'\n'/; }" >&2
            return 0
        fi
        sleep 0.1
    done
    fail "$SECOND never saw the store (last store.status: $status)"
}

PERF_PIDS=()
perf_start() {
    [[ "${PERF:-}" == 1 ]] || return 0
    # PIDS holds app's then the second node's process (start order).
    local names=(app "${SECOND%%@*}") i
    for i in 0 1; do
        perf record -F 999 -g -e cpu-clock -p "${PIDS[$i]}" \
            -o "/tmp/bench_store.${names[$i]}.perf.data" 2>/dev/null &
        PERF_PIDS+=("$!")
    done
    sleep 0.3
}
perf_stop() {
    [[ "${PERF:-}" == 1 ]] || return 0
    for pid in "${PERF_PIDS[@]}"; do
        kill -INT "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    PERF_PIDS=()
    for name in app "${SECOND%%@*}"; do
        [[ -f "/tmp/bench_store.$name.perf.data" ]] || continue
        echo "--- perf: $name" >&2
        perf report -i "/tmp/bench_store.$name.perf.data" --stdio --no-children \
            --percent-limit 1.5 -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -30 >&2 || true
    done
}

run_page() {
    local catalogue="$1" run="$2"
    start_nodes "$catalogue"
    echo "bench_store: page ($catalogue catalogue) run $run/$RUNS; load average: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
    perf_start
    local out
    # shellcheck disable=SC2086 # BENCH_ARGS is a list of flags
    out="$("$BENCH_BIN" --threads "$THREADS" page --url "http://127.0.0.1:$PORT" \
        --paths "$PATHS" --connections "$CONNECTIONS" --seconds "$SECONDS_PER_PATH" $BENCH_ARGS)" \
        || fail "store_bench page failed"
    perf_stop
    echo "$out"
    local ratio
    ratio="$(jq -s --arg c "$catalogue" '{workload: "page_ratio", catalogue: $c,
        page_per_s: (map(select(.path == "/"))[0].requests_per_s),
        trivial_per_s: (map(select(.path == "/health"))[0].requests_per_s)}
        | if .page_per_s and .trivial_per_s
          then .ratio = ((.page_per_s / .trivial_per_s * 1000 | round) / 1000) else . end' <<<"$out")"
    echo "$ratio" | jq -c .
    {
        jq -c --arg c "$catalogue" '. + {catalogue: $c}' <<<"$out"
        echo "$ratio" | jq -c .
    } >>"$RESULTS"
    stop_nodes
    sleep 1
}

run_replication() {
    local run="$1"
    start_nodes flash
    echo "bench_store: replication run $run/$RUNS; load average: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
    perf_start
    local out
    # shellcheck disable=SC2086 # BENCH_ARGS is a list of flags
    out="$("$BENCH_BIN" --threads "$THREADS" replication --back "$BACK" \
        --app-ws "ws://127.0.0.1:$PORT/product_socket/websocket" --sales "$SALES" $BENCH_ARGS)" \
        || fail "store_bench replication failed"
    perf_stop
    echo "$out"
    echo "$out" >>"$RESULTS"
    stop_nodes
    sleep 1
}

run_checkout() {
    local run="$1"
    start_nodes stocked web
    echo "bench_store: checkout run $run/$RUNS on $STORE_KIND${STORE_SYNC_EACH_WRITE:+ (one sync per write)}; load average: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
    perf_start
    local out
    # shellcheck disable=SC2086 # BENCH_ARGS is a list of flags
    out="$("$BENCH_BIN" --threads "$THREADS" checkout \
        --urls "http://127.0.0.1:$PORT,http://127.0.0.1:$PORT2" --shoppers "$SHOPPERS" \
        --seconds "$SECONDS_PER_PATH" $BENCH_ARGS)" || fail "store_bench checkout failed"
    perf_stop
    echo "$out"
    jq -c --arg m "${STORE_SYNC_EACH_WRITE:+sync_each_write}" --arg s "$STORE_KIND" \
        '. + {mode: (if $s == "postgres" then "postgres" elif $m == "" then "group_commit" else $m end), run: '"$run"'}' <<<"$out" >>"$RESULTS"
    # What the store's own figures say: every acknowledged unit is gone from it.
    echo "bench_store: $(rpc "$APP" checkout.stats) on app; $(rpc "$APP2" checkout.stats) on app2" >&2
    stop_nodes
    sleep 1
}

if [[ "$WORKLOAD" == checkout ]]; then
    for kind in $STORES; do
        case "$kind" in
            sled) ;;
            postgres) [[ -n "$PG_URL" ]] || pg_start || fail "cannot start PostgreSQL" ;;
            *) echo "bench_store: unknown store $kind (sled, postgres)" >&2; exit 2 ;;
        esac
    done
    for run in $(seq 1 "$RUNS"); do
        for kind in $STORES; do
            STORE_KIND="$kind"
            run_checkout "$run"
        done
    done
fi
if [[ "$WORKLOAD" == page || "$WORKLOAD" == all ]]; then
    for catalogue in $CATALOGUES; do
        for run in $(seq 1 "$RUNS"); do
            run_page "$catalogue" "$run"
        done
    done
fi
if [[ "$WORKLOAD" == replication || "$WORKLOAD" == all ]]; then
    for run in $(seq 1 "$RUNS"); do
        run_replication "$run"
    done
fi

# Medians over the runs (the lower middle for an even count), with min and max.
echo "bench_store: medians of $RUNS runs (load average now: $(cut -d' ' -f1-3 /proc/loadavg))" >&2
jq -s -c '
  def med: sort | .[(length - 1) / 2 | floor];
  def summary: {median: med, min: min, max: max};
  (map(select(.workload == "page")) | group_by([.catalogue, .path])[] |
     {catalogue: .[0].catalogue, path: .[0].path,
      requests_per_s: (map(.requests_per_s) | summary),
      p50_ms: (map(.latency.p50_ms) | summary),
      p99_ms: (map(.latency.p99_ms) | summary),
      errors: (map(.errors) | add), non_2xx: (map(.non_2xx) | add),
      body_bytes: .[0].body_bytes_per_response}),
  (map(select(.workload == "page_ratio" and .ratio)) | group_by(.catalogue)[] |
     {catalogue: .[0].catalogue, ratio: (map(.ratio) | summary)}),
  (map(select(.workload == "replication")) | select(length > 0) |
     {replication: {sales: .[0].sales,
      sale_to_frame_p50_ms: (map(.sale_to_frame.p50_ms) | summary),
      sale_to_frame_p99_ms: (map(.sale_to_frame.p99_ms) | summary),
      sale_to_frame_max_ms: (map(.sale_to_frame.max_ms) | summary),
      rpc_reply_p50_ms: (map(.rpc_reply.p50_ms) | summary),
      rpc_reply_p99_ms: (map(.rpc_reply.p99_ms) | summary),
      control_noop_p50_ms: (map(.control_noop.p50_ms) | summary)}}),
  (map(select(.workload == "checkout")) | group_by(.mode)[] |
     {checkout: {mode: .[0].mode, shoppers: .[0].shoppers,
      purchases_per_s: (map(.purchases_per_s) | summary),
      units_per_s: (map(.units_per_s) | summary),
      p50_ms: (map(.latency.p50_ms) | summary),
      p99_ms: (map(.latency.p99_ms) | summary),
      non_200: (map(.non_200) | add), errors: (map(.errors) | add)}}),
  (map(select(.workload == "checkout")) | group_by(.run) |
     map(select(length == 2 and (map(.mode) | index("postgres")))) | select(length > 0) |
     {checkout_postgres_vs_sled: {
      purchases_per_s_ratio: (map((map(select(.mode == "postgres"))[0].purchases_per_s)
          / (map(select(.mode != "postgres"))[0].purchases_per_s)) | summary),
      p99_ratio: (map((map(select(.mode == "postgres"))[0].latency.p99_ms)
          / (map(select(.mode != "postgres"))[0].latency.p99_ms)) | summary)}})
' "$RESULTS"
