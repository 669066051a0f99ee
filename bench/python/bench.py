"""oxray vs Powertools for AWS Lambda (Python) Tracer, side by side, in one run.

Every measurement runs in fresh child processes under a simulated Lambda environment
(LAMBDA_TASK_ROOT, per-invocation _X_AMZN_TRACE_ID, a fake context) sending to a local UDP
sink that counts datagrams. Prints a table of medians with ratios.

Per-call figures are wall-clock time added to the caller (traced and untraced calls alternate
in blocks of 100 inside each invocation; median over the blocks), with the calling thread's CPU time
beside it (a busy machine disturbs it less; the difference is time the caller waited for the
CPU, e.g. while oxray's sender thread or the sink ran). Cold starts of bare Python, oxray and
Powertools are run interleaved, one of each in turn, so that a change in the machine's load
hits all three alike; each is timed as wall-clock and as the child's CPU time (user + system).

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
from typing import Any, Dict, List, Tuple

TRACERS = {"oxray": "oxray", "powertools": "aws_lambda_powertools"}
HEADER = "Root=1-6740c2a1-{:024x};Parent=53995c3f42cd8ad8;Sampled={}"
#: Calls per block in the per-call measurements.
BLOCK = 100


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
        # One reusable buffer: the sink should cost as little CPU per datagram as it can,
        # since it shares the machine with the process being measured.
        buffer = bytearray(70_000)
        receive = self.sock.recv_into
        while not self._stop:
            try:
                receive(buffer)
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
# The calls alternate in blocks (traced, then as many untraced); the figure of an invocation is
# the median over its blocks of the difference, so a block in which the process was preempted
# (the machine is shared) does not decide it.
PER_CALL = """
import json, os, statistics, sys, time
from {module} import Tracer
tracer = Tracer()

@tracer.capture_method
def traced():
    return None

def plain():
    return None

@tracer.capture_lambda_handler
def lambda_handler(event, context):
    n, block = event["n"], event["block"]
    walls, cpus = [], []
    for _ in range(n // block):
        t0, c0 = time.perf_counter(), time.thread_time()
        for _ in range(block):
            traced()
        t1, c1 = time.perf_counter(), time.thread_time()
        for _ in range(block):
            plain()
        t2, c2 = time.perf_counter(), time.thread_time()
        walls.append(((t1 - t0) - (t2 - t1)) / block * 1e6)
        cpus.append(((c1 - c0) - (c2 - c1)) / block * 1e6)
    return [statistics.median(walls), statistics.median(cpus)]

class Context:
    aws_request_id = "req"
    def get_remaining_time_in_millis(self):
        return 30000

results = []
for i in range({invocations}):
    os.environ["_X_AMZN_TRACE_ID"] = {header!r}.format(i, {sampled!r})
    results.append(lambda_handler({{"n": {n}, "block": {block}}}, Context()))
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

# Child program: a whole cold start of a Lambda function, up to its first traced invocation.
FIRST_INVOCATION = """
import os
os.environ["_X_AMZN_TRACE_ID"] = {header!r}.format(0, "1")
from {module} import Tracer
tracer = Tracer()

@tracer.capture_method
def charge(order_id):
    tracer.put_annotation("OrderId", order_id)
    return {{"charged": order_id}}

@tracer.capture_lambda_handler
def lambda_handler(event, context):
    return charge(event["order_id"])

lambda_handler({{"order_id": "o-1"}}, None)
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


def per_call(
    module: str, sink: Sink, sampled: str, runs: int, n: int, invocations: int, **env: str
) -> Tuple[float, float]:
    """Median added wall-clock and caller-CPU microseconds per call."""
    walls, cpus = [], []
    for _ in range(runs):
        code = PER_CALL.format(
            module=module, header=HEADER, sampled=sampled, n=n, block=min(n, BLOCK), invocations=invocations
        )
        values = run_child(code, lambda_env(sink, **env))
        values = values[1:] or values  # first: warm-up
        walls.append(statistics.median(v[0] for v in values))
        cpus.append(statistics.median(v[1] for v in values))
    return statistics.median(walls), statistics.median(cpus)


def nested(module: str, sink: Sink, runs: int, invocations: int) -> float:
    medians = []
    for _ in range(runs):
        values = run_child(NESTED.format(module=module, header=HEADER, invocations=invocations), lambda_env(sink))
        medians.append(statistics.median(values[1:]))
    return statistics.median(medians)


def timed_child(code: str, env: Dict[str, str]) -> Tuple[float, float]:
    """Wall-clock and CPU (user + system) milliseconds of one ``python -c code``."""
    t0 = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-c", code], env=env)
    _, status, usage = os.wait4(child.pid, 0)
    wall = (time.perf_counter() - t0) * 1e3
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise RuntimeError(f"cold-start child failed ({child.returncode}): {code}")
    return wall, (usage.ru_utime + usage.ru_stime) * 1e3


def cold_starts(programs: Dict[str, str], sink: Sink, runs: int) -> Dict[str, Tuple[float, float]]:
    """Median wall-clock and CPU milliseconds of each program, run interleaved: one of each
    in turn, ``runs`` times, so that load changes on the machine hit every program alike."""
    env = lambda_env(sink)
    walls: Dict[str, List[float]] = {name: [] for name in programs}
    cpus: Dict[str, List[float]] = {name: [] for name in programs}
    for _ in range(runs):
        for name, code in programs.items():
            wall, cpu = timed_child(code, env)
            walls[name].append(wall)
            cpus[name].append(cpu)
    return {name: (statistics.median(walls[name]), statistics.median(cpus[name])) for name in programs}


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
    runs, n, invocations, nested_inv, cold_runs = (3, 2000, 4, 100, 7) if args.quick else (5, 5000, 7, 500, 41)

    sink = Sink()
    results: Dict[str, Dict[str, float]] = {}
    for label, module in TRACERS.items():
        r = results[label] = {}
        r["sampled_us"], r["sampled_cpu_us"] = per_call(module, sink, "1", runs, n, invocations)
        r["sampled_few_us"], r["sampled_few_cpu_us"] = per_call(module, sink, "1", runs, 50, max(invocations, 30))
        r["unsampled_us"], r["unsampled_cpu_us"] = per_call(module, sink, "0", runs, n, invocations)
        r["disabled_us"], r["disabled_cpu_us"] = per_call(
            module, sink, "1", runs, n, invocations, POWERTOOLS_TRACE_DISABLED="true"
        )
        r["nested10_us"] = nested(module, sink, runs, nested_inv)
        r["rss_mib"] = rss_added(module, sink, max(3, runs))
    programs = {"bare": "pass"}
    for label, module in TRACERS.items():
        programs[f"{label}:cold"] = f"from {module} import Tracer; Tracer()"
        programs[f"{label}:first"] = FIRST_INVOCATION.format(module=module, header=HEADER)
    cold = cold_starts(programs, sink, cold_runs)
    bare_ms, bare_cpu_ms = cold["bare"]
    for label in TRACERS:
        r = results[label]
        for case in ("cold", "first"):
            r[f"{case}_ms"], r[f"{case}_cpu_ms"] = cold[f"{label}:{case}"]
            r[f"{case}_ratio"] = r[f"{case}_ms"] / bare_ms
            r[f"{case}_cpu_ratio"] = r[f"{case}_cpu_ms"] / bare_cpu_ms
    received = sink.settle()
    sink.close()

    o, p = results["oxray"], results["powertools"]
    rows: List[List[str]] = []

    def cell(r: Dict[str, float], key: str, unit: str, cpu_key: str = "") -> str:
        return f"{r[key]:.2f} / {r[cpu_key]:.2f} {unit}" if cpu_key else f"{r[key]:.2f} {unit}"

    def ratio(key: str) -> str:
        return f"x{p[key] / o[key]:.1f}" if o[key] > 0 else "x∞"

    def row(name: str, key: str, unit: str, target: str, ok: bool, cpu_key: str = "") -> None:
        ratios = f"{ratio(key)} / {ratio(cpu_key)}" if cpu_key else ratio(key)
        rows.append(
            [
                name,
                cell(o, key, unit, cpu_key),
                cell(p, key, unit, cpu_key),
                ratios,
                target,
                "yes" if ok else "NO",
            ]
        )

    per_call_rows = [
        (f"sampled capture_method, added per call ({n} calls per invocation)", "sampled", 2.0),
        ("  … with 50 calls per invocation (all embedded in the handler document)", "sampled_few", 2.0),
        ("unsampled (Sampled=0), added per call", "unsampled", 0.5),
        ("tracing disabled, added per call", "disabled", 0.2),
    ]
    for name, key, bound in per_call_rows:
        row(name, f"{key}_us", "µs", f"≤ {bound:g} µs", o[f"{key}_us"] <= bound, f"{key}_cpu_us")
    row(
        "invocation: handler + 10 nested (annotation + metadata each)",
        "nested10_us",
        "µs",
        "≥ 15x faster",
        p["nested10_us"] / o["nested10_us"] >= 15,
    )
    cold_rows = [
        (f"cold start `from X import Tracer; Tracer()` (bare python {bare_ms:.1f} / {bare_cpu_ms:.1f} ms)", "cold"),
        ("cold start up to the first traced invocation (decorate, invoke, exit)", "first"),
    ]
    for name, case in cold_rows:
        row(name, f"{case}_ms", "ms", "≤ 1.3x bare", o[f"{case}_ratio"] <= 1.3, f"{case}_cpu_ms")
        rows.append(
            [
                "  … as a multiple of bare `python -c pass`",
                f"x{o[f'{case}_ratio']:.2f} / x{o[f'{case}_cpu_ratio']:.2f}",
                f"x{p[f'{case}_ratio']:.2f} / x{p[f'{case}_cpu_ratio']:.2f}",
                "",
                "",
                "",
            ]
        )
    row("RSS added by import + Tracer()", "rss_mib", "MiB", "≤ 3 MiB", o["rss_mib"] <= 3)

    header = ["metric (median; wall / CPU where two)", "oxray", "Powertools", "Powertools/oxray", "target", "met"]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(header, widths)) + " |"
    print(line)
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print("| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths)) + " |")
    print(
        "\nwall-clock time / the calling thread's (per call) or the child process's (cold start) CPU time;"
        " targets are judged on wall-clock time."
    )
    print(
        f"datagrams received by the UDP sink: {received}; python {sys.version.split()[0]};"
        f" {cold_runs} interleaved cold starts of each"
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {"bare_ms": bare_ms, "bare_cpu_ms": bare_cpu_ms, "results": results, "datagrams": received}, f, indent=2
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
