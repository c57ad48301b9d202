#!/usr/bin/env bash
# Runs every test of the workspace: the one test command README.md names and
# .ci/run calls. Unit and integration tests of all crates, the doc tests, the
# official phoenix.js client against the hello_sockets server (tests/js), then
# the fuzz targets for a few seconds each (scripts/fuzz.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/ensure_npm.sh
# The store page serves the official phoenix client from its npm package
# (store_app/tests/web_test.rs checks it): install it if missing.
if [[ ! -f store_app/assets/node_modules/phoenix/priv/static/phoenix.min.js ]]; then
  (cd store_app/assets && npm ci --no-audit --no-fund)
fi

# --no-fail-fast: one run reports every failing test binary, not the first.
cargo test --workspace --all-targets --locked --no-fail-fast
cargo test --workspace --doc --locked
tests/js/run.sh

# The fuzz targets, each for a short bounded time: a decoder that regressed
# crashes on its committed seeds or soon after (nightly Rust and cargo-fuzz;
# without nightly they are skipped loudly, unless FUZZ=required, as in CI).
if rustup run nightly rustc --version >/dev/null 2>&1; then
  scripts/fuzz.sh --seconds "${FUZZ_SECONDS:-15}"
elif [[ "${FUZZ:-}" == required ]]; then
  echo "FUZZ=required, but nightly Rust is not installed" >&2
  exit 1
else
  echo "*** fuzz targets SKIPPED: nightly Rust is not installed (rustup toolchain install nightly) ***"
fi
