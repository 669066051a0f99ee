#!/usr/bin/env bash
# Builds the oxray wheel, installs it into a fresh venv with the test dependencies, and runs
# the Python test suite and ruff. Usage: python/test.sh (from anywhere). Exits non-zero on
# any failure. Needs: Rust (cargo), Python >= 3.9 with venv + pip, network access to PyPI.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
python="${PYTHON:-python3}"
venv="$repo/.venv-ci/python"

echo "== python: fresh venv at .venv-ci/python"
rm -rf "$venv"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet pytest jsonschema ruff \
    requests httpx aiohttp boto3 botocore \
    "flask>=3,<4" "django>=4.2,<6" "fastapi>=0.110" "uvicorn>=0.29"

echo "== python: pip install ./python (maturin build backend, abi3 wheel)"
"$venv/bin/python" -m pip install --quiet "$here"
"$venv/bin/python" -c "import oxray, oxray._core; print('installed oxray', oxray.__version__)"

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
