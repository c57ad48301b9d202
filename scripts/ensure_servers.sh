# shellcheck shell=bash
# Sourced by .ci/run: the adapter tests start their own servers from Debian's
# packages on free ports (runtime::testkit::RedisServer, PostgresServer):
# redis-server for PubSub through Redis, PostgreSQL for the store on
# PostgreSQL. As root with apt-get, installs them when missing; otherwise
# says what to install. Then marks those tests as required, so that a missing
# server fails them instead of skipping them. (The packages may start system
# services on the default ports; the tests never use those.)
missing=()
command -v redis-server >/dev/null 2>&1 || [[ -x /usr/bin/redis-server ]] || missing+=(redis-server)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
if [[ ${#missing[@]} -gt 0 ]]; then
  if command -v apt-get >/dev/null 2>&1 && [[ "$(id -u)" == 0 ]]; then
    echo "== installing ${missing[*]} (apt-get)"
    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
  else
    echo "the adapter tests need ${missing[*]}; install them, e.g. sudo apt-get install ${missing[*]}, and run again" >&2
    exit 1
  fi
fi
export REDIS_TESTS=required POSTGRES_TESTS=required
