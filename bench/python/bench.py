"""oxray vs Powertools for AWS Lambda (Python) Tracer, side by side, in one run.

Every measurement runs in fresh child processes under a simulated Lambda environment
(LAMBDA_TASK_ROOT, per-invocation _X_AMZN_TRACE_ID, a fake context) sending to a local UDP
sink that counts datagrams. Prints a table of medians with ratios.

    python bench.py [--quick] [--json out.json]

Both packages must be importable by this interpreter: ``oxray`` and ``aws_lambda_powertools``
(3.x, with aws-xray-sdk); run.sh sets that up.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import textwrap
import threading
import time
from typing import Any, Dict, List

TRACERS = {"oxray": "oxray", "powertools": "aws_lambda_powertools"}
HEADER = "Root=1-6740c2a1-{:024x};Parent=53995c3f42cd8ad8;Sampled={}"


class Sink:
    """Counts datagrams on 127.0.0.1 (stands where the X-Ray daemon stands)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 * 1024 * 1024)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.address = "%s:%d" % self.sock.getsockname()
        self.count = 0
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop:
            try:
                self.sock.recvfrom(70_000)
                self.count += 1
            except socket.timeout:
                continue

    def settle(self) -> int:
        last = -1
        while last != self.count:
            last = self.count
            time.sleep(0.3)
        return self.count

    def close(self) -> None:
        self._stop = True
        self._thread.join()


def lambda_env(sink: Sink, **extra: str) -> Dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LAMBDA_TASK_ROOT": "/var/task",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.11",
        "AWS_LAMBDA_FUNCTION_NAME": "bench-fn",
        "_HANDLER": "app.lambda_handler",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        "POWERTOOLS_SERVICE_NAME": "payment",
        "AWS_XRAY_DAEMON_ADDRESS": sink.address,
    }
    env.update(extra)
    return env


# Child program: per-call cost inside one handler invocation, `n` calls, several invocations.
PER_CALL = """
import json, os, sys, time
from {module} import Tracer
tracer = Tracer()

@tracer.capture_method
def traced():
    return None

def plain():
    return None

@tracer.capture_lambda_handler
def lambda_handler(event, context):
    n = event["n"]
    t0 = time.perf_counter()
    for _ in range(n):
        traced()
    t1 = time.perf_counter()
    for _ in range(n):
        plain()
    t2 = time.perf_counter()
    return ((t1 - t0) - (t2 - t1)) / n * 1e6

class Context:
    aws_request_id = "req"
    def get_remaining_time_in_millis(self):
        return 30000

results = []
for i in range({invocations}):
    os.environ["_X_AMZN_TRACE_ID"] = {header!r}.format(i, {sampled!r})
    results.append(lambda_handler({{"n": {n}}}, Context()))
    del os.environ["_X_AMZN_TRACE_ID"]
print(json.dumps(results))
"""

NESTED = """
import json, os, sys, time
from {module} import Tracer
tracer = Tracer()

@tracer.capture_method
def level(i):
    tracer.put_annotation("Level", i)
    tracer.put_metadata("level", {{"i": i, "ok": True}})
    return level(i - 1) if i > 1 else "done"

@tracer.capture_lambda_handler
def lambda_handler(event, context):
    return level(10)

class Context:
    aws_request_id = "req"
    def get_remaining_time_in_millis(self):
        return 30000

times = []
for i in range({invocations}):
    os.environ["_X_AMZN_TRACE_ID"] = {header!r}.format(i, "1")
    t0 = time.perf_counter()
    lambda_handler({{}}, Context())
    times.append((time.perf_counter() - t0) * 1e6)
    del os.environ["_X_AMZN_TRACE_ID"]
print(json.dumps(times))
"""

RSS = """
import json, os
def rss():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
before = rss()
{body}
after = rss()
print(json.dumps([before, after]))
"""


def run_child(code: str, env: Dict[str, str]) -> Any:
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-2000:])
    return json.loads(result.stdout.strip().splitlines()[-1])


def per_call(module: str, sink: Sink, sampled: str, runs: int, n: int, invocations: int, **env: str) -> float:
    medians = []
    for _ in range(runs):
        code = PER_CALL.format(module=module, header=HEADER, sampled=sampled, n=n, invocations=invocations)
        values = run_child(code, lambda_env(sink, **env))
        medians.append(statistics.median(values[1:] or values))  # first: warm-up
    return statistics.median(medians)


def nested(module: str, sink: Sink, runs: int, invocations: int) -> float:
    medians = []
    for _ in range(runs):
        values = run_child(NESTED.format(module=module, header=HEADER, invocations=invocations), lambda_env(sink))
        medians.append(statistics.median(values[1:]))
    return statistics.median(medians)


def cold_start(code: str, sink: Sink, runs: int) -> float:
    env = lambda_env(sink)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], env=env, check=True)
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def rss_added(module: str, sink: Sink, runs: int) -> float:
    body = f"from {module} import Tracer\nTracer()"
    deltas = []
    for _ in range(runs):
        before, after = run_child(RSS.format(body=body), lambda_env(sink))
        deltas.append((after - before) / 1024)
    return statistics.median(deltas)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer runs (a smoke run, noisy)")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    runs, n, invocations, nested_inv, cold_runs = (3, 2000, 4, 100, 7) if args.quick else (5, 5000, 7, 500, 21)

    sink = Sink()
    results: Dict[str, Dict[str, float]] = {}
    bare = cold_start("pass", sink, cold_runs)
    for label, module in TRACERS.items():
        r = results[label] = {}
        r["sampled_us"] = per_call(module, sink, "1", runs, n, invocations)
        r["sampled_few_us"] = per_call(module, sink, "1", runs, 50, max(invocations, 30))
        r["unsampled_us"] = per_call(module, sink, "0", runs, n, invocations)
        r["disabled_us"] = per_call(module, sink, "1", runs, n, invocations, POWERTOOLS_TRACE_DISABLED="true")
        r["nested10_us"] = nested(module, sink, runs, nested_inv)
        r["cold_ms"] = cold_start(f"from {module} import Tracer; Tracer()", sink, cold_runs)
        r["cold_ratio"] = r["cold_ms"] / bare
        r["rss_mib"] = rss_added(module, sink, max(3, runs))
    received = sink.settle()
    sink.close()

    o, p = results["oxray"], results["powertools"]
    rows: List[List[str]] = []

    def row(name: str, key: str, unit: str, target: str, ok: bool) -> None:
        ratio = p[key] / o[key] if o[key] > 0 else float("inf")
        rows.append(
            [name, f"{o[key]:.2f} {unit}", f"{p[key]:.2f} {unit}", f"x{ratio:.1f}", target, "yes" if ok else "NO"]
        )

    row(
        f"sampled capture_method, added per call ({n} calls per invocation)",
        "sampled_us",
        "µs",
        "≤ 2 µs",
        o["sampled_us"] <= 2,
    )
    row(
        "  … with 50 calls per invocation (all embedded in the handler document)",
        "sampled_few_us",
        "µs",
        "≤ 2 µs",
        o["sampled_few_us"] <= 2,
    )
    row("unsampled (Sampled=0), added per call", "unsampled_us", "µs", "≤ 0.5 µs", o["unsampled_us"] <= 0.5)
    row("tracing disabled, added per call", "disabled_us", "µs", "≤ 0.2 µs", o["disabled_us"] <= 0.2)
    row(
        "invocation: handler + 10 nested (annotation + metadata each)",
        "nested10_us",
        "µs",
        "≥ 15x faster",
        p["nested10_us"] / o["nested10_us"] >= 15,
    )
    row(
        f"cold start `from X import Tracer; Tracer()` (bare python {bare:.1f} ms)",
        "cold_ms",
        "ms",
        "≤ 1.3x bare",
        o["cold_ratio"] <= 1.3,
    )
    rows.append(
        [
            "  … as a multiple of bare `python -c pass`",
            f"x{o['cold_ratio']:.2f}",
            f"x{p['cold_ratio']:.2f}",
            "",
            "",
            "",
        ]
    )
    row("RSS added by import + Tracer()", "rss_mib", "MiB", "≤ 3 MiB", o["rss_mib"] <= 3)

    header = ["metric (median)", "oxray", "Powertools", "Powertools/oxray", "target", "met"]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(header, widths)) + " |"
    print(line)
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print("| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths)) + " |")
    print(f"\ndatagrams received by the UDP sink: {received}; python {sys.version.split()[0]}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"bare_ms": bare, "results": results, "datagrams": received}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
