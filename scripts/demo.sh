#!/usr/bin/env bash
# The demo: builds and starts the book's hello_sockets server on embedded
# defaults (port 4000 unless PORT is set, a random secret for this run) and
# shows how to talk to it. Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."

PORT="${PORT:-4000}"
cargo build --quiet -p channels --bin hello_sockets

cat <<MSG
hello_sockets is starting on http://127.0.0.1:${PORT}

  Talk to it like the book does (npm install -g wscat):
    wscat -c 'ws://127.0.0.1:${PORT}/socket/websocket?vsn=2.0.0'
    > ["1","1","ping","phx_join",{}]
    > ["1","2","ping","ping",{}]
    > ["1","3","ping","ping_hello",{}]
    > [null,"4","phoenix","heartbeat",{}]

  An authenticated socket:
    wscat -c "ws://127.0.0.1:${PORT}/auth_socket/websocket?vsn=2.0.0&token=\$(curl -s '127.0.0.1:${PORT}/token?user_id=123')"
    > ["1","1","user:123","phx_join",{}]

  The live supervision tree, channel processes included:
    curl 127.0.0.1:${PORT}/processes

MSG
exec env PORT="$PORT" target/debug/hello_sockets
