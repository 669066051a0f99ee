#!/usr/bin/env bash
# Installs @aws-lambda-powertools/tracer 2.x (and express) into this folder, builds the oxray
# addon if needed, and runs the side-by-side benchmark; arguments go to bench.mjs.
# `run.sh server [--runs 3] [--rounds 40] [--block 1000]` runs the server-mode benchmark
# (server.mjs) instead.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"
npm install --no-audit --no-fund --silent
if ! ls ../../node/*.node >/dev/null 2>&1; then
  (cd ../../node && npm install --no-audit --no-fund --silent && npm run build)
fi
if [ "${1:-}" = server ]; then
  shift
  exec node server.mjs "$@"
fi
node bench.mjs "$@"
