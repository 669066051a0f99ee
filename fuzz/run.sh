#!/usr/bin/env bash
# Fuzzes every target in fuzz_targets/ for a bounded time each, with libFuzzer through
# cargo-fuzz on the stable toolchain, and fails if any target crashes, panics, hangs or breaks
# a property. Prints each target's executions and coverage.
#
#   fuzz/run.sh              15 s per target (what CI runs)
#   fuzz/run.sh 600          10 minutes per target, by hand
#   OXRAY_FUZZ_SANITIZER=address fuzz/run.sh 300   with AddressSanitizer (see below)
#
# Stable Rust: cargo-fuzz's default sanitizer (address) needs the unstable -Zsanitizer flag,
# so this script builds with `--sanitizer none` (coverage instrumentation and libFuzzer are
# stable-compatible). AddressSanitizer works on the stable compiler with RUSTC_BOOTSTRAP=1,
# which this script sets only when OXRAY_FUZZ_SANITIZER=address is asked for.
#
# Corpora: fuzz/seeds/<target>/ (small, committed), the shared spec's sample documents
# (OXRAY_SHARED_DIR, default ../shared beside the repository), and whatever earlier runs left
# in fuzz/corpus/<target>/ (not committed). A crashing input is saved in fuzz/artifacts/.
set -euo pipefail
# The shared spec, resolved before leaving the caller's directory (a relative
# OXRAY_SHARED_DIR is relative to it); by default ../shared beside the repository.
shared="$(cd "${OXRAY_SHARED_DIR:-$(dirname "$0")/../../shared}" 2>/dev/null && pwd || true)"
if [ -z "$shared" ]; then
  echo "fuzz: the shared spec is not there; running without its sample documents"
fi
cd "$(dirname "$0")"

seconds="${1:-15}"
sanitizer="${OXRAY_FUZZ_SANITIZER:-none}"
# Debug assertions on: overflow checks and debug_assert! catch more.
flags=(--sanitizer "$sanitizer" --release --debug-assertions)
if [ "$sanitizer" != none ]; then
  export RUSTC_BOOTSTRAP=1
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz"
  start=$(date +%s)
  cargo install cargo-fuzz --locked
  echo "fuzz: cargo-fuzz installed in $(($(date +%s) - start)) s"
fi

# The fuzz crate is outside the workspace, so the root's `cargo fmt --all` does not see it.
cargo fmt --check

start=$(date +%s)
cargo fuzz build "${flags[@]}"
echo "fuzz: targets built in $(($(date +%s) - start)) s"

# The shared spec's sample documents: as documents, and framed as datagrams.
seed_samples() {
  local target=$1 framed=$2 sample
  for sample in "$shared"/spec/samples/*.txt; do
    [ -f "$sample" ] || continue
    if [ "$framed" = yes ]; then
      { printf '{"format":"json","version":1}\n'; cat "$sample"; } >"corpus/$target/sample-$(basename "$sample")"
    else
      cp "$sample" "corpus/$target/sample-$(basename "$sample")"
    fi
  done
}

failed=()
printf '%-26s %12s %10s %8s %7s\n' target executions exec/s cov corpus
for target in $(cargo fuzz list); do
  mkdir -p "corpus/$target" artifacts
  if [ -d "seeds/$target" ]; then
    cp seeds/"$target"/* "corpus/$target/"
  fi
  case "$target" in
    document_parser) seed_samples "$target" no ;;
    collector_datagram) seed_samples "$target" yes ;;
  esac
  log="artifacts/$target.log"
  # -timeout: one input running 30 s is a hang; -rss_limit_mb: a leak or blow-up is a failure.
  if ! cargo fuzz run "${flags[@]}" "$target" "corpus/$target" -- \
    -max_total_time="$seconds" -timeout=30 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="artifacts/$target-" >"$log" 2>&1; then
    failed+=("$target")
  fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  units=$(find "corpus/$target" -type f | wc -l)
  printf '%-26s %12s %10s %8s %7s\n' "$target" "${execs:-?}" "${rate:-?}" "${cov:-?}" "$units"
done

if [ "${#failed[@]}" -gt 0 ]; then
  for target in "${failed[@]}"; do
    echo "fuzz: $target FAILED; its log (fuzz/artifacts/$target.log) ends with:"
    tail -40 "artifacts/$target.log"
  done
  exit 1
fi
echo "fuzz: every target ran ${seconds} s without a failure"
