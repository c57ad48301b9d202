# shellcheck shell=bash
# What every benchmark script shares (bench_channels.sh, bench_memory.sh,
# bench_store.sh): the release binaries' folder, and building them with the
# descriptor limit raised. Sourced after `cd` to the repository's root.

# shellcheck source=processes.sh
source "$(dirname "${BASH_SOURCE[0]}")/processes.sh"

BIN="${CARGO_TARGET_DIR:-target}/release"
[[ "$BIN" == /* ]] || BIN="$PWD/$BIN"
SERVER_ARGS="${SERVER_ARGS:-}"
LOADGEN_ARGS="${LOADGEN_ARGS:-}"

# bench_build PACKAGE…: builds the packages' release binaries (unless
# SKIP_BUILD=1), then raises the open-files limit to the hard limit: the
# server and the load generator each hold one descriptor per connection, and
# the load generators check their connection count against it.
bench_build() {
  if [[ "${SKIP_BUILD:-}" != 1 ]]; then
    local packages=()
    for package in "$@"; do packages+=(-p "$package"); done
    cargo build --quiet --release "${packages[@]}" --bins
  fi
  ulimit -n "$(ulimit -Hn)"
}
