#!/usr/bin/env bash
# The demo: a traced "payment" Lambda function in Python and in Node, run under simulated
# invocations against a local HTTP "bank", its X-Ray documents sent over real UDP to the local
# collector (`oxray collect`), which prints every trace as a waterfall. Everything runs on this
# machine: no AWS account, no X-Ray daemon.
#
# It builds what it needs on the first run (minutes): the `oxray` command (cargo, release), the
# Python package into the venv .venv-demo/ (pip install ./python), the Node addon (npm install +
# napi build in node/) linked into examples/node/. Later runs rebuild only what changed.
#
# Usage: ./demo.sh
# Environment: OXRAY_DEMO_DIR  where the traces and logs go (default target/demo)
#              PYTHON          the Python to make the venv with (default python3)
#              CARGO_TARGET_DIR is honoured.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$repo"
target_dir="${CARGO_TARGET_DIR:-target}"
case "$target_dir" in /*) ;; *) target_dir="$repo/$target_dir" ;; esac
oxray="$target_dir/release/oxray"
out_dir="${OXRAY_DEMO_DIR:-$repo/target/demo}"
venv="$repo/.venv-demo"
python="${PYTHON:-python3}"

if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then
  bold=$'\e[1m' dim=$'\e[2m' reset=$'\e[0m' color=always
else
  bold='' dim='' reset='' color=never
fi
step() { printf '%s==> %s%s\n' "$bold" "$*" "$reset"; }
note() { printf '%s    %s%s\n' "$dim" "$*" "$reset"; }
die() { printf 'demo.sh: %s\n' "$*" >&2; exit 1; }

# A path relative to the repository when it is inside it (shorter commands to copy).
show_path() { case "$1" in "$repo"/*) printf '%s' "${1#"$repo"/}" ;; *) printf '%s' "$1" ;; esac; }

# True when the stamp is missing or any file under the given paths is newer than it.
stale() {
  local stamp="$1"
  shift
  [ ! -e "$stamp" ] && return 0
  [ -n "$(find "$@" -type f -newer "$stamp" -not -path '*/node_modules/*' \
    -not -path '*/__pycache__/*' -not -name '*.so' -not -name '*.node' -print -quit 2>/dev/null)" ]
}

for tool in cargo "$python" node npm; do
  command -v "$tool" >/dev/null 2>&1 || die "needs $tool on PATH (Rust, Python >= 3.9, Node >= 20 with npm)"
done
node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' ||
  die "needs Node >= 20 (found $(node --version))"

mkdir -p "$out_dir"
rust_sources=(Cargo.toml Cargo.lock core/Cargo.toml core/src cli/Cargo.toml cli/src)

# ---- build ----------------------------------------------------------------------------------

step "building the oxray command (cargo build --release -p oxray-cli)"
[ -x "$oxray" ] || note "first build: a minute or two"
cargo build --release -p oxray-cli

if [ ! -x "$venv/bin/python" ]; then
  step "creating the Python venv $(show_path "$venv")"
  rm -rf "$venv"
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --upgrade pip
fi
# When each part was last built (kept in the venv: deleting .venv-demo/ rebuilds everything).
stamps="$venv/demo-stamps"
mkdir -p "$stamps"
if stale "$stamps/python" python/oxray python/pyproject.toml bindings/python "${rust_sources[@]}"; then
  step "installing the Python package into $(show_path "$venv") (pip install ./python: builds the native module)"
  note "first build: a few minutes (pip fetches maturin, cargo builds in release mode)"
  "$venv/bin/python" -m pip install --quiet --force-reinstall ./python
  touch "$stamps/python"
fi

if [ ! -x node/node_modules/.bin/napi ] || stale "$stamps/node-modules" node/package.json node/package-lock.json; then
  step "installing the Node build tools (npm install in node/)"
  (cd node && npm install --no-audit --no-fund --loglevel=error)
  touch "$stamps/node-modules"
fi
if ! ls node/oxray.*.node >/dev/null 2>&1 || stale "$stamps/node" bindings/node "${rust_sources[@]}"; then
  step "building the Node addon (npm run build in node/: napi build --release)"
  note "first build: a minute or two"
  (cd node && npm run --silent build >/dev/null)
  touch "$stamps/node"
fi
if [ ! -e examples/node/node_modules/oxray ]; then
  step "linking the Node package into examples/node (npm install ../../node)"
  (cd examples/node && npm install --no-audit --no-fund --no-package-lock --loglevel=error)
fi

# ---- run ------------------------------------------------------------------------------------

traces="$out_dir/traces.jsonl"
collected="$out_dir/collect.out"
rm -f "$traces" "$collected" "$out_dir/collect.err" "$out_dir/bank.out" "$out_dir/bank.log" \
  "$out_dir/invocations-python.out" "$out_dir/invocations-node.out"

bank_pid='' collector_pid=''
cleanup() {
  for pid in $collector_pid $bank_pid; do
    kill "$pid" 2>/dev/null || true
  done
  wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Waits up to $3 seconds for the line matching $2 in file $1 and prints it.
await_line() {
  local file="$1" pattern="$2" tries=$(($3 * 20)) line=''
  while [ "$tries" -gt 0 ]; do
    line="$(grep -m1 -E "$pattern" "$file" 2>/dev/null || true)"
    [ -n "$line" ] && { printf '%s\n' "$line"; return 0; }
    sleep 0.05
    tries=$((tries - 1))
  done
  return 1
}

step "starting the local bank (examples/bank.py) and the collector (oxray collect)"
"$venv/bin/python" examples/bank.py --log "$out_dir/bank.log" >"$out_dir/bank.out" 2>&1 &
bank_pid=$!
bank_url="$(await_line "$out_dir/bank.out" '^bank listening on ' 20 | sed 's/^bank listening on //')" ||
  die "the bank did not start: $(cat "$out_dir/bank.out")"

"$oxray" collect --listen 127.0.0.1:0 --out "$traces" --idle 0.5 --color "$color" \
  >"$collected" 2>"$out_dir/collect.err" &
collector_pid=$!
listening="$(await_line "$out_dir/collect.err" 'listening on udp ' 20)" ||
  die "the collector did not start: $(cat "$out_dir/collect.err")"
daemon="$(printf '%s\n' "$listening" | sed -E 's/.*listening on udp ([0-9.]+:[0-9]+).*/\1/')"
note "bank: $bank_url   collector: udp $daemon (AWS_XRAY_DAEMON_ADDRESS), writing $(show_path "$traces")"

# Number of lines of $2 (a file) containing $1 (grep -c fails on none).
count() { grep -c -e "$1" "$2" || true; }
# Number of waterfalls the collector printed so far (colours stripped).
count_traces() { sed 's/\x1b\[[0-9;]*m//g' "$collected" | grep -c '^trace 1-' || true; }

printed=0
# Runs one driver, then prints the waterfalls the collector printed for its traces.
run_function() {
  local label="$1" log="$out_dir/invocations-$2.out" expected
  shift 2
  step "$label"
  AWS_XRAY_DAEMON_ADDRESS="$daemon" BANK_URL="$bank_url" "$@" | tee "$log"
  expected=$((printed + $(count ' (trace 1-' "$log")))
  local tries=200
  while [ "$(count_traces)" -lt "$expected" ] && [ "$tries" -gt 0 ]; do
    sleep 0.05
    tries=$((tries - 1))
  done
  [ "$tries" -gt 0 ] || note "(not every trace arrived within 10 s: the collector's output so far)"
  echo
  tail -n +"$((printed_lines + 1))" "$collected"
  printed_lines="$(wc -l <"$collected")"
  printed="$expected"
}
printed_lines=0
run_function "Python: 3 invocations of payment-py (examples/python/payment.py)" python \
  "$venv/bin/python" examples/python/invoke.py
run_function "Node: 3 invocations of payment-node (examples/node/payment.mjs)" node \
  node examples/node/invoke.mjs

step "stopping the collector"
kill -TERM "$collector_pid"
wait "$collector_pid" || true
collector_pid=''
tail -n +"$((printed_lines + 1))" "$collected"
grep -v -e '^oxray collect: listening' -e '^  show them again' "$out_dir/collect.err" || true

step "the service graph (oxray map)"
"$oxray" map "$traces"

# Paths as the shell reads them (quoted only when they need it).
shown="$(printf '%q' "$(show_path "$traces")")"
bin="$(printf '%q' "$(show_path "$oxray")")"
py="$(printf '%q' "$(show_path "$venv/bin/python")")"
case "$shown" in /*) from_node="$shown" ;; *) from_node="../../$shown" ;; esac
failed_trace="$(sed -n 's/.*(trace \(1-[0-9a-f-]*\)): error.*/\1/p' "$out_dir/invocations-python.out" | head -n 1)"
echo
step "the traces are in $(show_path "$traces") (one JSON record per datagram). Try:"
cat <<EOF
  $bin show $shown
  $bin show $shown --trace $failed_trace
  $bin show $shown --filter 'fault'
  $bin show $shown --filter 'service("payment-node") AND annotation.ColdStart = true'
  $bin show $shown --filter 'http.status = 402 OR duration > 0.1'
  $bin map $shown
  $bin collect --listen 127.0.0.1:2000      # point AWS_XRAY_DAEMON_ADDRESS at it
The same command from the packages:
  $py -m oxray show $shown
  (cd examples/node && npx oxray show $from_node)
EOF
