# shellcheck shell=bash
# A private PostgreSQL for scripts (the benchmarks), as the tests' testkit
# starts one: a fresh cluster (initdb, trust authentication for the postgres
# role, fsync on) in a temporary directory, listening on 127.0.0.1 at a free
# port, run as the postgres user when the script runs as root. Needs
# Debian's postgresql package.
#
#   source scripts/lib/postgres.sh
#   pg_start            # sets PG_URL (postgres://postgres@127.0.0.1:PORT/postgres)
#   pg_createdb NAME    # prints NAME's URL
#   pg_stop             # also on exit, if the caller's trap calls it

PG_DIR=""
PG_PORT=""
PG_URL=""

pg_bin() {
    local dir
    dir="$(compgen -G "/usr/lib/postgresql/*/bin" | sort -V | tail -n 1)"
    [[ -n "$dir" && -x "$dir/initdb" ]] || {
        echo "postgres.sh: PostgreSQL is not installed (apt-get install postgresql)" >&2
        return 1
    }
    echo "$dir"
}

pg_as_owner() {
    if [[ "$(id -u)" == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pg_start() {
    local bin
    bin="$(pg_bin)" || return 1
    PG_DIR="$(mktemp -d "${TMPDIR:-/tmp}/pg.XXXXXX")"
    [[ "$(id -u)" == 0 ]] && chown postgres:postgres "$PG_DIR"
    pg_as_owner "$bin/initdb" -D "$PG_DIR/data" -U postgres --auth=trust -E UTF8 --no-locale >"$PG_DIR/initdb.log" 2>&1 \
        || { cat "$PG_DIR/initdb.log" >&2; return 1; }
    PG_PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
    pg_as_owner "$bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/postgres.log" -w -t 30 \
        -o "-p $PG_PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories=$PG_DIR" start >/dev/null \
        || { cat "$PG_DIR/postgres.log" >&2; return 1; }
    PG_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres"
}

pg_createdb() {
    "$(pg_bin)/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres "$1" && echo "postgres://postgres@127.0.0.1:$PG_PORT/$1"
}

pg_stop() {
    [[ -n "$PG_DIR" ]] || return 0
    pg_as_owner "$(pg_bin)/pg_ctl" -D "$PG_DIR/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$PG_DIR"
    PG_DIR=""
}
