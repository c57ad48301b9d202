#!/usr/bin/env bash
# Runs the fuzz targets of fuzz/ (libFuzzer through cargo-fuzz, nightly Rust,
# address sanitizer, debug assertions on): the wire decoders, the long-poll
# body, tokens, the console and what other nodes send.
#
#   scripts/fuzz.sh                 every target for 20 s (what .ci/run runs)
#   scripts/fuzz.sh --seconds N     every target for N seconds
#   scripts/fuzz.sh --runs N        every target for N executions (README: 1000000)
#   scripts/fuzz.sh --write-seeds   rewrite fuzz/seeds/ from the real encoders
#   TARGETS="v2_json tokens" scripts/fuzz.sh ...   only those targets
#
# Each target starts from its committed seeds (fuzz/seeds/TARGET, read only)
# and its own growing corpus (fuzz/corpus/TARGET, not committed). A crash,
# hang (10 s per input) or out-of-memory (2 GB) stops the run and fails the
# script; libFuzzer saves the input under fuzz/artifacts/TARGET/.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root/fuzz"

mode=seconds
amount=20
case "${1:-}" in
  "") ;;
  --seconds) mode=seconds; amount="${2:?--seconds N}" ;;
  --runs) mode=runs; amount="${2:?--runs N}" ;;
  --write-seeds) mode=seeds ;;
  *) echo "usage: scripts/fuzz.sh [--seconds N | --runs N | --write-seeds]" >&2; exit 2 ;;
esac

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  echo "fuzz: nightly Rust is needed (rustup toolchain install nightly)" >&2
  exit 1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi

if [[ "$mode" == seeds ]]; then
  # Regression inputs (seeds/*/regression-*) are kept.
  rm -f seeds/*/seed-*
  RUSTFLAGS="--cfg fuzzing" cargo +nightly run --locked --release --example write_seeds
  exit 0
fi

targets="${TARGETS:-$(cargo fuzz list)}"
cargo +nightly fuzz build --release --debug-assertions
status=0
summary=""
for target in $targets; do
  mkdir -p "corpus/$target"
  if [[ "$mode" == runs ]]; then
    limit=(-runs="$amount")
  else
    limit=(-max_total_time="$amount")
  fi
  log="$(mktemp)"
  if cargo +nightly fuzz run --release --debug-assertions "$target" \
      "corpus/$target" "seeds/$target" -- \
      "${limit[@]}" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1; then
    done_line="$(grep -E '^Done [0-9]+ runs' "$log" | tail -1)"
    summary+="$target: ${done_line:-finished}"$'\n'
  else
    status=1
    summary+="$target: FAILED"$'\n'
    echo "--- fuzz target $target failed; its output: ---" >&2
    tail -n 60 "$log" >&2
  fi
  rm -f "$log"
done
printf '%s' "$summary"
exit "$status"
