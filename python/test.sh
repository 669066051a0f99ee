#!/usr/bin/env bash
# Builds the oxray wheel, installs it into a fresh venv with the test dependencies, and runs
# the Python test suite and ruff. Usage: python/test.sh (from anywhere). Exits non-zero on
# any failure. Needs: Rust (cargo), Python >= 3.9 with venv + pip, network access to PyPI.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
python="${PYTHON:-python3}"
venv="$repo/.venv-ci/python"
dist="$repo/target/python-dist"

echo "== python: fresh venv at .venv-ci/python"
rm -rf "$venv" "$dist"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet "maturin>=1.16,<2" pytest jsonschema ruff \
    requests httpx aiohttp boto3 botocore

echo "== python: build the abi3 wheel"
(cd "$here" && "$venv/bin/maturin" build --release --out "$dist" --interpreter "$venv/bin/python")
"$venv/bin/python" -m pip install --quiet --force-reinstall --no-deps "$dist"/oxray-*.whl

echo "== python: ruff"
"$venv/bin/ruff" check --config "$here/pyproject.toml" "$here/oxray" "$here/tests" "$repo/bench/python"

echo "== python: pytest (against the installed wheel: python/ is not on sys.path)"
cd "$here/tests"
set +e
"$venv/bin/python" -m pytest -q -p no:cacheprovider "$here/tests"
status=$?
set -e
if [ "$status" -eq 5 ]; then
    echo "pytest collected no tests: failing" >&2
    exit 1
fi
exit "$status"
