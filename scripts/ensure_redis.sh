# shellcheck shell=bash
# Sourced by .ci/run: the Redis PubSub tests (channels/tests/redis_pubsub_test.rs,
# hello_sockets/tests/redis_nodes_test.rs) start their own redis-server from
# Debian's package on a free port. As root with apt-get, installs it when
# missing; otherwise says what to install. Then marks those tests as required,
# so that a missing server fails them instead of skipping them.
if ! command -v redis-server >/dev/null 2>&1 && [[ ! -x /usr/bin/redis-server ]]; then
  if command -v apt-get >/dev/null 2>&1 && [[ "$(id -u)" == 0 ]]; then
    echo "== installing redis-server (apt-get)"
    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q redis-server
  else
    echo "redis-server is needed for the Redis PubSub tests; install it, e.g. sudo apt-get install redis-server, and run again" >&2
    exit 1
  fi
fi
# The package may start a system service on 6379; the tests never use it.
export REDIS_TESTS=required
