#!/usr/bin/env bash
# Sets up .venv-bench (oxray from this checkout + Powertools 3.x and aws-xray-sdk from PyPI,
# Flask and Starlette for the middleware rows) and runs the benchmarks.
# Usage: bench/python/run.sh [tracer|middleware|all] [--quick] [--json out.json]
#   tracer      oxray's Tracer vs Powertools' (bench.py)
#   middleware  what oxray.middleware adds to a request, WSGI and ASGI (middleware.py)
#   all         both (the default; --json is then not accepted)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
venv="$repo/.venv-bench/python"
which="all"
case "${1:-}" in
    tracer | middleware | all) which="$1"; shift ;;
esac
if [ ! -x "$venv/bin/python" ]; then
    "${PYTHON:-python3}" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --upgrade pip
    "$venv/bin/python" -m pip install --quiet "maturin>=1.16,<2" "aws-lambda-powertools[tracer]>=3,<4" aws-xray-sdk
fi
if ! "$venv/bin/python" -c "import flask, starlette" 2>/dev/null; then
    "$venv/bin/python" -m pip install --quiet "flask>=3,<4" starlette
fi
(cd "$repo/python" && "$venv/bin/maturin" build --release --quiet --out "$repo/target/bench-dist" --interpreter "$venv/bin/python")
"$venv/bin/python" -m pip install --quiet --force-reinstall --no-deps "$(ls -t "$repo"/target/bench-dist/oxray-*.whl | head -1)"
cd "$here"
case "$which" in
    tracer) exec "$venv/bin/python" bench.py "$@" ;;
    middleware) exec "$venv/bin/python" middleware.py "$@" ;;
    all)
        for arg in "$@"; do
            if [ "$arg" = "--json" ]; then
                echo "--json needs one benchmark: run.sh tracer|middleware --json out.json" >&2
                exit 2
            fi
        done
        "$venv/bin/python" bench.py "$@"
        echo
        exec "$venv/bin/python" middleware.py "$@"
        ;;
esac
