#!/usr/bin/env bash
# Builds the oxray Node addon, checks the generated loader/.d.ts for drift, lints, packs the
# package, installs the tarball into a scratch project and runs the test suite there (CJS, ESM
# and a TypeScript type check with both decorator modes). Exits non-zero on any failure.
# Needs: Rust (cargo), Node >= 20 with npm; the npm registry reachable.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
shared="${OXRAY_SHARED_DIR:-$(cd "$repo/.." && pwd)/shared}"
cd "$here"

step() { printf '\n== %s\n' "$*"; }

step "install build and test tools (npm install, guided by package-lock.json)"
npm install --no-audit --no-fund

step "build the addon (napi build --release --platform)"
npx napi build --manifest-path ../bindings/node/Cargo.toml --platform --release \
  --js binding.js --dts binding.d.ts --output-dir .

step "generated loader and types: no drift"
if git -C "$repo" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  git -C "$repo" diff --exit-code -- node/binding.js node/binding.d.ts
else
  echo "not a git checkout: drift check skipped"
fi

step "lint: rustfmt, clippy, tsc (checkJs over lib/)"
cargo fmt -p oxray-node --check --manifest-path "$repo/Cargo.toml"
cargo clippy -p oxray-node --all-targets --manifest-path "$repo/Cargo.toml" -- -D warnings
cargo test -p oxray-node --manifest-path "$repo/Cargo.toml" --quiet
npx tsc -p tsconfig.json

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

step "npm pack"
tarball="$(npm pack --silent --pack-destination "$scratch" | tail -n 1)"
echo "packed $tarball"

step "scratch project: install the tarball and the test dependencies"
# Test dependencies at the versions node/package.json pins for development.
deps="$(node -e '
  const d = require("./package.json").devDependencies;
  const wanted = ["@aws-sdk/client-dynamodb", "@aws/lambda-invoke-store", "@middy/core", "@types/node", "ajv", "ajv-draft-04", "express", "express4", "typescript"];
  console.log(wanted.map((n) => `${n}@${d[n]}`).join(" "));
')"
cp -r test "$scratch/test"
cd "$scratch"
npm init -y >/dev/null
# shellcheck disable=SC2086
npm install --no-audit --no-fund "$scratch/$tarball" $deps

step "type check against the installed package (experimentalDecorators and standard decorators)"
npx tsc -p test/types/tsconfig.legacy.json
npx tsc -p test/types/tsconfig.standard.json

step "node --test (CJS and ESM) in the scratch project"
OXRAY_SHARED_DIR="$shared" OXRAY_VECTORS_DIR="$repo/tests/vectors" node --test test/
