#!/usr/bin/env bash
# Sets up .venv-bench (oxray from this checkout + Powertools 3.x and aws-xray-sdk from PyPI)
# and runs bench.py. Usage: bench/python/run.sh [--quick] [--json out.json]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
venv="$repo/.venv-bench/python"
if [ ! -x "$venv/bin/python" ]; then
    "${PYTHON:-python3}" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --upgrade pip
    "$venv/bin/python" -m pip install --quiet "maturin>=1.16,<2" "aws-lambda-powertools[tracer]>=3,<4" aws-xray-sdk
fi
(cd "$repo/python" && "$venv/bin/maturin" build --release --quiet --out "$repo/target/bench-dist" --interpreter "$venv/bin/python")
"$venv/bin/python" -m pip install --quiet --force-reinstall --no-deps "$(ls -t "$repo"/target/bench-dist/oxray-*.whl | head -1)"
cd "$here"
exec "$venv/bin/python" bench.py "$@"
