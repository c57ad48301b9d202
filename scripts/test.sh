#!/usr/bin/env bash
# Runs every test of the workspace: the one test command README.md names and
# .ci/run calls. Unit and integration tests of all crates, then the doc tests.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo test --workspace --all-targets --locked
cargo test --workspace --doc --locked
