#!/usr/bin/env bash
# The demo: a traced "payment" Lambda handler under simulated invocations, its datagrams sent
# over real UDP to a local daemon-compatible listener, printed as a waterfall. Everything local.
set -euo pipefail
cd "$(dirname "$0")"
cargo run -q --release -p oxray-core --example demo
