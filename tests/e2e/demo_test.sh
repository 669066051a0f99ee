#!/usr/bin/env bash
# End to end: runs ./demo.sh (it builds what it needs, starts `oxray collect` on 127.0.0.1, a
# local bank, and the Python and Node payment examples under simulated Lambda invocations),
# then tests/e2e/check_demo.py checks the printed waterfalls, the JSONL file, the bank's log and
# the three entry points of the command line. Exits non-zero on any failure.
# Needs what demo.sh needs, PyPI (jsonschema, into .venv-demo) and ../shared/spec.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

echo "== e2e: ./demo.sh (output in a scratch directory)"
if ! OXRAY_DEMO_DIR="$scratch/demo" NO_COLOR=1 "$repo/demo.sh" >"$scratch/demo.out" 2>&1; then
  cat "$scratch/demo.out"
  echo "e2e: demo.sh failed" >&2
  exit 1
fi

echo "== e2e: checking the waterfalls, the JSONL file and the entry points"
"$repo/.venv-demo/bin/python" -m pip install --quiet jsonschema
if ! "$repo/.venv-demo/bin/python" "$repo/tests/e2e/check_demo.py" "$scratch/demo" "$scratch/demo.out"; then
  echo "--- demo output ---"
  cat "$scratch/demo.out"
  exit 1
fi
