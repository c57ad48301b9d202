# shellcheck shell=bash
# Sourced by .ci/run: the real-browser tests (store_app/tests/browser_test.rs)
# need Debian's chromium and chromium-driver. As root with apt-get, installs
# them when missing; otherwise says what to install. Then marks the browser
# tests as required, so that a missing browser fails them instead of
# skipping them.
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [[ "$(id -u)" == 0 ]]; then
    echo "== installing chromium and chromium-driver (apt-get)"
    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver
  else
    echo "chromium and chromium-driver are needed for the browser tests; install them, e.g. sudo apt-get install chromium chromium-driver, and run again" >&2
    exit 1
  fi
fi
export BROWSER_TESTS=required
