#!/usr/bin/env bash
# Installs @aws-lambda-powertools/tracer 2.x (and express) into this folder, builds the oxray
# addon from this checkout, and runs the side-by-side benchmark; arguments go to bench.mjs.
# `run.sh server [--runs 3] [--rounds 40] [--block 1000]` runs the server-mode benchmark
# (server.mjs) instead.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"
npm install --no-audit --no-fund --silent
# Always (re)built: an addon left from an older checkout would be measured in its place, and
# cargo only recompiles what changed.
if [ ! -d ../../node/node_modules ]; then
  (cd ../../node && npm install --no-audit --no-fund --silent)
fi
(cd ../../node && npm run build --silent >/dev/null)
if [ "${1:-}" = server ]; then
  shift
  exec node server.mjs "$@"
fi
node bench.mjs "$@"
