#!/usr/bin/env bash
# Runs every test of the project: Rust (fmt, clippy, unit + integration), the C ABI under
# sanitizers, the Python package, the Node package and the demo end to end. Each part installs
# what it needs.
set -euo pipefail
cd "$(dirname "$0")"

section() { printf '\n=== %s ===\n' "$1"; }

section "rust: fmt and clippy"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings

section "rust: core tests"
cargo test -p oxray-core

for part in bindings/c cli python node; do
  if [ -x "$part/test.sh" ]; then
    section "$part"
    "$part/test.sh"
  fi
done

section "fuzz: every fuzz target for a bounded time (fuzz/run.sh; OXRAY_FUZZ_SECONDS per target)"
fuzz/run.sh "${OXRAY_FUZZ_SECONDS:-15}"

section "tests/e2e: ./demo.sh end to end (Python and Node examples against oxray collect)"; tests/e2e/demo_test.sh

section "tests/soak: Python, Node and C tracing at once to one listener for ${OXRAY_SOAK_SECONDS:-60} s (tests/soak/run.sh)"
tests/soak/run.sh
