#!/usr/bin/env bash
# Installs @aws-lambda-powertools/tracer 2.x into this folder, builds the oxray addon if
# needed, and runs the side-by-side benchmark. Arguments go to bench.mjs.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"
npm install --no-audit --no-fund --silent
if ! ls ../../node/*.node >/dev/null 2>&1; then
  (cd ../../node && npm install --no-audit --no-fund --silent && npm run build)
fi
node bench.mjs "$@"
