#!/usr/bin/env bash
# Makes sure Node.js and npm are installed (sourced by demo.sh, test.sh and
# .ci/run): the store page's phoenix client and the JavaScript tests are npm
# packages. As root with apt-get, installs them when missing; otherwise says
# what to install and fails.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [[ "$(id -u)" == 0 ]]; then
    echo "== installing Node.js and npm (apt-get)"
    apt-get update -q && apt-get install -y -q nodejs npm
  else
    echo "Node.js with npm is needed (the store page's phoenix client and the JavaScript tests are npm packages); install it, e.g. sudo apt-get install nodejs npm, and run again" >&2
    exit 1
  fi
fi
