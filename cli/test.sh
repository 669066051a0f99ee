#!/usr/bin/env bash
# Tests of the oxray collector and viewer (crate cli/, binary `oxray`): formatting, lints, unit
# tests, and integration tests over real UDP on 127.0.0.1 (they read the JSON schema from
# ../shared/spec beside the repository). Needs only the Rust toolchain.
#   cli/test.sh          fmt + clippy + tests
#   cli/test.sh --bench  also the throughput bench (release build; prints datagrams/s)
set -euo pipefail
cd "$(dirname "$0")/.."

cargo fmt -p oxray-cli -- --check
cargo clippy -p oxray-cli --no-deps --all-targets -- -D warnings
cargo test -p oxray-cli
if [ "${1:-}" = "--bench" ]; then
  cargo bench -p oxray-cli --bench throughput
fi
