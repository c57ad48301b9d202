#!/usr/bin/env bash
# Runs every test of the workspace: the one test command README.md names and
# .ci/run calls. Unit and integration tests of all crates, the doc tests, then
# the official phoenix.js client against the hello_sockets server (tests/js).
set -euo pipefail
cd "$(dirname "$0")/.."

cargo test --workspace --all-targets --locked
cargo test --workspace --doc --locked
tests/js/run.sh
