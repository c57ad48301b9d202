#!/usr/bin/env bash
# Runs every test of the workspace: the one test command README.md names and
# .ci/run calls. Unit and integration tests of all crates, the doc tests, then
# the official phoenix.js client against the hello_sockets server (tests/js).
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/ensure_npm.sh
# The store page serves the official phoenix client from its npm package
# (store_app/tests/web_test.rs checks it): install it if missing.
if [[ ! -f store_app/assets/node_modules/phoenix/priv/static/phoenix.min.js ]]; then
  (cd store_app/assets && npm ci --no-audit --no-fund)
fi

cargo test --workspace --all-targets --locked
cargo test --workspace --doc --locked
tests/js/run.sh
