#!/usr/bin/env bash
# The C ABI's one script: installs what it needs (gcc, the pinned cbindgen), lints and tests the
# crate, checks that include/oxray.h matches what cbindgen generates, builds the C tests with
# AddressSanitizer (+ LeakSanitizer) and UndefinedBehaviorSanitizer, runs them, validates every
# document they saw against the segment-document schema, runs the seeded random call harness
# (tests/c/random_calls.c) under the same sanitizers, and builds and runs examples/c/hello.c.
# Exits non-zero on any failure. Run from anywhere: bash bindings/c/test.sh
set -euo pipefail

CBINDGEN_VERSION=0.29.4
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo"
export PATH="$HOME/.cargo/bin:$PATH"

step() { printf '\n== %s\n' "$*"; }

step "toolchain"
if ! command -v gcc >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq gcc libc6-dev >/dev/null
fi
if ! cbindgen --version 2>/dev/null | grep -qx "cbindgen $CBINDGEN_VERSION"; then
    cargo install cbindgen --version "$CBINDGEN_VERSION" --locked
fi
schema="$repo/../shared/spec/xray-segmentdocument-schema-v1.0.0.json"
if [ ! -f "$schema" ]; then
    echo "missing $schema (shared/ must sit beside the repository)" >&2
    exit 1
fi
gcc --version | head -1
cbindgen --version

step "rust: fmt, clippy, unit tests"
cargo fmt -p oxray-c -- --check
cargo clippy -p oxray-c --all-targets -- -D warnings
cargo test -p oxray-c --all-targets

step "header drift: include/oxray.h against cbindgen $CBINDGEN_VERSION"
build="$repo/tests/c/build"
mkdir -p "$build"
(cd bindings/c && cbindgen --quiet --config cbindgen.toml --output "$build/oxray.h")
if ! diff -u include/oxray.h "$build/oxray.h"; then
    echo "include/oxray.h is out of date: regenerate it with" >&2
    echo "  (cd bindings/c && cbindgen --config cbindgen.toml --output ../../include/oxray.h)" >&2
    exit 1
fi
echo "include/oxray.h is up to date"

step "build the static library"
cargo build -p oxray-c
target_dir=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
lib="$target_dir/debug/liboxray.a"
test -f "$lib"

step "ABI surface: header = exported symbols, and every function is exercised by tests/c"
declared=$(sed -n 's/^[a-z].*[ *]\(oxray_[a-z0-9_]*\)(.*/\1/p' include/oxray.h | sort -u)
exported=$(nm -D --defined-only "$target_dir/debug/liboxray.so" | awk '{print $3}' | sort -u)
if ! diff -u <(echo "$declared") <(echo "$exported"); then
    echo "the shared library's exported symbols differ from the header's functions" >&2
    exit 1
fi
for f in $declared; do
    if ! grep -q "\b$f(" tests/c/test_*.c; then
        echo "not exercised by tests/c: $f" >&2
        exit 1
    fi
done
echo "$(echo "$declared" | wc -l) functions: all exported, all exercised"

step "C tests (C11, -fsanitize=address,undefined)"
cflags=(-std=c11 -D_DEFAULT_SOURCE -Wall -Wextra -Werror -pedantic -g -O1
        -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -Iinclude)
libs=("$lib" -lpthread -ldl -lm)
gcc "${cflags[@]}" tests/c/main.c tests/c/harness.c tests/c/json_reader.c tests/c/test_*.c "${libs[@]}" \
    -o "$build/oxray_c_tests"
gcc "${cflags[@]}" examples/c/hello.c "${libs[@]}" -o "$build/hello"
# detect_stack_use_after_return: a pointer into a returned frame (how the random harness once
# handed oxray a buffer that was no longer there) is reported, not left to corrupt the stack.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
"$build/oxray_c_tests" tests/vectors "$build/documents.jsonl"

step "every document the C tests saw: schema + receiver rules"
cargo run -q -p oxray-c --example validate_documents -- "$schema" "$build/documents.jsonl" 50

step "random call sequences (tests/c/random_calls.c, -fsanitize=address,undefined)"
# Seeded; defaults 4 seeds x 20,000 calls per phase, 8 threads in the concurrent phase. Raise
# them with OXRAY_RANDOM_SEEDS, OXRAY_RANDOM_CALLS, OXRAY_RANDOM_THREADS, OXRAY_RANDOM_FIRST_SEED.
gcc "${cflags[@]}" tests/c/random_calls.c tests/c/random/*.c tests/c/json_reader.c "${libs[@]}" \
    -o "$build/random_calls"
"$build/random_calls" --documents "$build/random_documents.jsonl"
cargo run -q -p oxray-c --example validate_documents -- "$schema" "$build/random_documents.jsonl" 100

step "examples/c/hello.c"
# The daemon address is a closed local port: the example must still run and exit cleanly.
AWS_XRAY_DAEMON_ADDRESS=127.0.0.1:9 "$build/hello" "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1"

echo
echo "bindings/c: all checks passed"
