"""Checks one run of ./demo.sh: its output directory (OXRAY_DEMO_DIR) and what it printed.

What the collector printed (the waterfalls: names, nesting, annotations, the failing
invocation's fault marks and exception message, the HTTP subsegment), what the JSONL file holds
(every document valid against the X-Ray schema and the stricter rules, every entity of every
invocation present), what the bank received (the trace header of the HTTP subsegment), and the
three entry points of the command line (the ``oxray`` binary, ``python -m oxray``, ``npx oxray``):
same output and exit status, and ``collect`` stopped by SIGINT in each.

Usage: python tests/e2e/check_demo.py DEMO_DIR DEMO_OUTPUT
       (after OXRAY_DEMO_DIR=DEMO_DIR ./demo.sh > DEMO_OUTPUT)
Needs jsonschema; finds the schema in ../shared/spec beside the repository (or OXRAY_SHARED).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

from jsonschema import Draft4Validator

REPO = Path(__file__).resolve().parents[2]
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", "target"))
OXRAY = (TARGET if TARGET.is_absolute() else REPO / TARGET) / "release" / "oxray"
VENV_PYTHON = REPO / ".venv-demo" / "bin" / "python"
NODE_BIN = REPO / "node" / "bin" / "oxray.js"
EXAMPLES_NODE = REPO / "examples" / "node"

FUNCTIONS = {
    "payment-py": ["## lambda_handler", "## payment.validate_order", "## payment.charge_card"],
    "payment-node": ["## payment.handler", "### validateOrder", "### chargeCard"],
}
EVENTS = json.loads((REPO / "examples" / "events.json").read_text())
DECLINED = "PaymentDeclined: card ending 0002 declined: insufficient funds"
HTTP_CALL = re.compile(r"remote +(ERROR +)?GET http://127\.0\.0\.1(:\d+)?/charge → (\d{3})$")

failures: List[str] = []


def check(condition: bool, message: str) -> bool:
    if not condition:
        failures.append(message)
    return condition


# ---- the validator (schema + PROTOCOL.md §6.5) ----------------------------------------------


def shared_dir() -> Path:
    for candidate in (os.environ.get("OXRAY_SHARED"), os.environ.get("OXRAY_SHARED_DIR"), REPO.parent / "shared"):
        if candidate and (Path(candidate) / "spec").is_dir():
            return Path(candidate)
    raise SystemExit("shared/spec not found beside the repository (set OXRAY_SHARED)")


VALIDATOR = Draft4Validator(json.loads((shared_dir() / "spec" / "xray-segmentdocument-schema-v1.0.0.json").read_text()))
HEX16 = re.compile(r"^[0-9a-f]{16}$")
TRACE_ID = re.compile(r"^1-[0-9a-f]{8}-[0-9a-f]{24}$")
SQL_URL = re.compile(r"^(.+//.+)/([^?]+)\??.*$")


def strict_problems(doc: Dict[str, Any], top: bool) -> List[str]:
    problems = []
    if not HEX16.match(str(doc.get("id"))):
        problems.append(f"id {doc.get('id')!r}")
    if "parent_id" in doc and not HEX16.match(str(doc["parent_id"])):
        problems.append(f"parent_id {doc['parent_id']!r}")
    if "trace_id" in doc and not TRACE_ID.match(str(doc["trace_id"])):
        problems.append(f"trace_id {doc['trace_id']!r}")
    if top:
        problems += [f"missing {k}" for k in ("name", "id", "start_time", "trace_id") if k not in doc]
        if doc.get("type") == "subsegment" and "parent_id" not in doc:
            problems.append("standalone subsegment without parent_id")
    if ("end_time" in doc) == (doc.get("in_progress") is True):
        problems.append("not exactly one of end_time / in_progress")
    if doc.get("namespace", "aws") not in ("aws", "remote"):
        problems.append(f"namespace {doc['namespace']!r}")
    cause = doc.get("cause")
    if isinstance(cause, str) and not HEX16.match(cause):
        problems.append(f"cause {cause!r}")
    if isinstance(cause, dict):
        problems += [
            f"exception id {e.get('id')!r}" for e in cause.get("exceptions", []) if not HEX16.match(str(e.get("id")))
        ]
    if "url" in doc.get("sql", {}) and not SQL_URL.match(doc["sql"]["url"]):
        problems.append(f"sql.url {doc['sql']['url']!r}")
    for child in doc.get("subsegments", []):
        problems += strict_problems(child, top=False)
    return problems


def validate(doc: Dict[str, Any]) -> None:
    text = json.dumps(doc)
    where = f"{doc.get('name')} {doc.get('id')}"
    check(len(text.encode()) <= 64_000, f"{where}: document over 64,000 bytes")
    for error in VALIDATOR.iter_errors(doc):
        failures.append(f"{where}: schema: {error.message}")
    for problem in strict_problems(doc, top=True):
        failures.append(f"{where}: {problem}")


# ---- what the demo and the collector printed --------------------------------------------------


def invocations(demo_out: str) -> Dict[str, List[Tuple[str, str, str]]]:
    """function → [(order id, trace id, outcome)] from the drivers' lines."""
    found: Dict[str, List[Tuple[str, str, str]]] = {name: [] for name in FUNCTIONS}
    for m in re.finditer(r"^  (payment-\w+) (o-\d+) \(trace (1-[0-9a-f-]+)\): (.*)$", demo_out, re.M):
        found[m.group(1)].append((m.group(2), m.group(3), m.group(4)))
    return found


class Line:
    def __init__(self, depth: int, name: str, rest: str) -> None:
        self.depth, self.name, self.rest = depth, name, rest
        self.exceptions: List[str] = []


def waterfalls(text: str) -> Dict[str, Tuple[str, List[Line]]]:
    """trace id → (header line, entity lines) from the collector's output (no colours)."""
    traces: Dict[str, Tuple[str, List[Line]]] = {}
    current: Optional[List[Line]] = None
    for raw in text.splitlines():
        header = re.match(r"^trace (1-[0-9a-f]{8}-[0-9a-f]{24})  (.*)$", raw)
        if header:
            current = []
            traces[header.group(1)] = (header.group(2), current)
            continue
        if not raw.strip():
            current = None
            continue
        if current is None:
            continue
        entity = re.match(r"^( +)(\S.*?) +\|[^|]*\| +(.*)$", raw)
        exception = re.match(r"^ +✗ (.*)$", raw)
        if entity:
            current.append(Line(len(entity.group(1)) // 2 - 1, entity.group(2), entity.group(3)))
        elif exception and current:
            current[-1].exceptions.append(exception.group(1))
        else:
            failures.append(f"unexpected waterfall line: {raw!r}")
    return traces


def check_tree(function: str, index: int, trace_id: str, header: str, lines: List[Line]) -> None:
    handler, validate_name, charge = FUNCTIONS[function]
    event = EVENTS[index]
    declined = event["amount"] > 1000
    where = f"{function} {event['order_id']} ({trace_id})"
    shape = [(line.depth, line.name) for line in lines]
    expected = [(0, function), (1, handler), (2, validate_name), (2, charge), (3, "127.0.0.1")]
    if not check(shape == expected, f"{where}: tree {shape}, expected {expected}"):
        return
    root, handler_line, validate_line, charge_line, http_line = lines
    check(f'OrderId="{event["order_id"]}"' in handler_line.rest, f"{where}: OrderId annotation: {handler_line.rest}")
    check('Service="payment"' in handler_line.rest, f"{where}: Service annotation: {handler_line.rest}")
    cold = "ColdStart=true" if index == 0 else "ColdStart=false"
    check(cold in handler_line.rest, f"{where}: {cold} expected: {handler_line.rest}")
    check(
        re.search(rf"Amount={event['amount']:g}\b", handler_line.rest) is not None,
        f"{where}: Amount: {handler_line.rest}",
    )
    check('Currency="EUR"' in validate_line.rest, f"{where}: Currency annotation: {validate_line.rest}")
    call = HTTP_CALL.search(http_line.rest)
    if check(call is not None, f"{where}: HTTP subsegment line: {http_line.rest}"):
        assert call is not None
        check(call.group(3) == ("402" if declined else "200"), f"{where}: HTTP status {call.group(3)}")
        check(bool(call.group(1)) == declined, f"{where}: ERROR mark on the HTTP call: {http_line.rest}")
    faulted = [line.name for line in lines if re.search(r"(^|\s)FAULT(\s|$)", line.rest)]
    if declined:
        check("FAULT" in header, f"{where}: trace header without FAULT: {header}")
        check(faulted == [function, handler, charge], f"{where}: FAULT on {faulted}")
        check(charge_line.exceptions == [DECLINED], f"{where}: exception lines {charge_line.exceptions}")
    else:
        check(faulted == [] and "FAULT" not in header, f"{where}: unexpected FAULT on {faulted} / {header}")
    others = [e for line in lines if line is not charge_line for e in line.exceptions]
    check(others == [] and (declined or charge_line.exceptions == []), f"{where}: unexpected exception lines")


# ---- the JSONL file and the bank's log -----------------------------------------------------------


def entities(doc: Dict[str, Any], parent: Optional[str] = None):
    yield doc, parent
    for child in doc.get("subsegments", []):
        yield from entities(child, doc["id"])


def check_file(path: Path, expected: Dict[str, Tuple[str, int]], bank_log: Path, summary: str) -> None:
    """expected: trace id → (function, event index)."""
    records = [json.loads(line) for line in path.read_text().splitlines()]
    notes = [r for r in records if "note" in r]
    docs = [r for r in records if "note" not in r]
    check([n["note"] for n in notes] == ["started", "stopped"], f"notes {[n['note'] for n in notes]}")
    check(all(r["status"] == "ok" for r in docs), f"statuses {sorted({r['status'] for r in docs})}")
    accepted = re.search(r"(\d+) datagram\(s\): (\d+) accepted .*?(\d+) invalid", summary)
    if check(accepted is not None, f"collector summary: {summary!r}"):
        assert accepted is not None
        check(int(accepted.group(1)) == int(accepted.group(2)) == len(docs), f"{summary} vs {len(docs)} records")
        check(accepted.group(3) == "0", f"invalid datagrams: {summary}")
    by_trace: Dict[str, Dict[str, Tuple[Dict[str, Any], Optional[str]]]] = {}
    for record in docs:
        doc = record["document"]
        validate(doc)
        check(record["trace_id"] == doc["trace_id"] and record["id"] == doc["id"], f"record keys of {doc['id']}")
        for entity, embedded_in in entities(doc):
            parent = embedded_in or entity.get("parent_id")
            names = by_trace.setdefault(doc["trace_id"], {})
            check(entity["name"] not in names, f"{doc['trace_id']}: {entity['name']} twice")
            names[entity["name"]] = (entity, parent)
    check(set(by_trace) == set(expected), f"traces in the file {sorted(by_trace)} vs invoked {sorted(expected)}")
    headers = [json.loads(line)["trace_header"] for line in bank_log.read_text().splitlines()]
    for trace_id, (function, index) in expected.items():
        found = by_trace.get(trace_id, {})
        handler, validate_name, charge = FUNCTIONS[function]
        names = sorted(found)
        want = sorted([function, handler, validate_name, charge, "127.0.0.1"])
        if not check(names == want, f"{trace_id}: entities {names}, expected {want}"):
            continue
        segment, _ = found[function]
        check(segment.get("origin") == "AWS::Lambda::Function", f"{trace_id}: function segment origin")
        parents = {name: parent for name, (_, parent) in found.items()}
        ids = {name: e["id"] for name, (e, _) in found.items()}
        check(parents[handler] == ids[function], f"{trace_id}: handler's parent is the function segment (facade id)")
        check(parents[validate_name] == parents[charge] == ids[handler], f"{trace_id}: methods under the handler")
        check(parents["127.0.0.1"] == ids[charge], f"{trace_id}: HTTP call under charge")
        http, _ = found["127.0.0.1"]
        check(http.get("namespace") == "remote", f"{trace_id}: HTTP namespace {http.get('namespace')}")
        check(http.get("http", {}).get("request", {}).get("method") == "GET", f"{trace_id}: HTTP method")
        sent = f"Root={trace_id};Parent={ids['127.0.0.1']};Sampled=1"
        check(sent in headers, f"{trace_id}: the bank did not receive {sent}")
        declined = EVENTS[index]["amount"] > 1000
        status = http.get("http", {}).get("response", {}).get("status")
        check(status == (402 if declined else 200), f"{trace_id}: HTTP status {status}")
        if declined:
            charge_doc, _ = found[charge]
            exceptions = charge_doc.get("cause", {}).get("exceptions", [])
            check(
                [(e.get("type"), e.get("message")) for e in exceptions] == [tuple(DECLINED.split(": ", 1))],
                f"{trace_id}: exceptions on {charge}: {exceptions}",
            )
            check(
                charge_doc.get("fault") is True and found[handler][0].get("fault") is True, f"{trace_id}: fault flags"
            )
    check(len(headers) == len(expected), f"bank requests {len(headers)}, invocations {len(expected)}")


# ---- the three entry points -------------------------------------------------------------------------------


def entry_points() -> Dict[str, List[str]]:
    return {
        "oxray binary": [str(OXRAY)],
        "python -m oxray": [str(VENV_PYTHON), "-m", "oxray"],
        "oxray console script (venv)": [str(VENV_PYTHON.parent / "oxray")],
        "node node/bin/oxray.js": ["node", str(NODE_BIN)],
        "npx oxray (examples/node)": ["npx", "--no-install", "oxray"],
    }


def run(command: List[str], cwd: Path = REPO, **kwargs: Any) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_COLOR": "1"}
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, **kwargs)


def check_entry_points(traces: Path, failing_trace: str) -> None:
    cases: List[Tuple[List[str], int, Callable[[subprocess.CompletedProcess], bool]]] = [
        (["show", str(traces)], 0, lambda p: len(re.findall(r"^trace 1-", p.stdout, re.M)) == 6),
        (["show", str(traces), "--filter", "fault"], 0, lambda p: p.stdout.count("PaymentDeclined") == 2),
        (["show", str(traces), "--trace", failing_trace], 0, lambda p: failing_trace in p.stdout),
        (["map", str(traces)], 0, lambda p: "payment-py" in p.stdout and "payment-node" in p.stdout),
        (["map", str(traces), "--json"], 0, lambda p: isinstance(json.loads(p.stdout), dict)),
        (["show", str(traces), "--filter", "fault AND ("], 2, lambda p: "invalid filter at column 12" in p.stderr),
        (["show", str(traces.parent / "missing.jsonl")], 1, lambda p: "cannot read" in p.stderr),
        (["frobnicate"], 2, lambda p: p.stderr.strip() != ""),
        (["--version"], 0, lambda p: p.stdout.startswith("oxray ")),
    ]
    for args, status, judge in cases:
        outputs = {}
        for label, command in entry_points().items():
            cwd = EXAMPLES_NODE if label.startswith("npx") else REPO
            p = run(command + args, cwd=cwd)
            # npm may add its own warnings (about the user's npm config) to standard error.
            stderr = "".join(line for line in p.stderr.splitlines(True) if not line.startswith("npm warn"))
            outputs[label] = (p.returncode, p.stdout, stderr)
            check(p.returncode == status, f"{label} {args}: exit {p.returncode}, expected {status}: {p.stderr[-500:]}")
            check(judge(p), f"{label} {args}: unexpected output: {p.stdout[:300]!r} {p.stderr[:300]!r}")
        check(len(set(outputs.values())) == 1, f"{args}: the entry points differ: {list(outputs.values())[:2]}")
    # A command-line argument that is not UTF-8 gets the command's error, not a traceback.
    bad = subprocess.run(
        [str(VENV_PYTHON), "-m", "oxray", "show", b"\xff.jsonl"], capture_output=True, text=True, timeout=60
    )
    check(
        bad.returncode == 1 and "Traceback" not in bad.stderr,
        f"python -m oxray, non-UTF-8 argument: {bad.returncode} {bad.stderr[-300:]}",
    )


def check_collect(label: str, command: List[str], cwd: Path, scratch: Path) -> None:
    """`collect` through one entry point: a datagram in, SIGINT, a clean stop with the file written."""
    out = scratch / f"collect-{label.split()[0]}.jsonl"
    process = subprocess.Popen(
        command + ["collect", "--listen", "127.0.0.1:0", "--out", str(out), "--idle", "0.2"],
        cwd=cwd,
        env={**os.environ, "NO_COLOR": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, to send Ctrl-C's SIGINT to all of it (npx and node)
    )
    try:
        assert process.stderr is not None
        banner = process.stderr.readline()
        while banner.startswith("npm warn"):  # npm's own warnings about the user's npm config
            banner = process.stderr.readline()
        port = re.search(r"listening on udp 127\.0\.0\.1:(\d+)", banner)
        if not check(port is not None, f"{label} collect: banner {banner!r}"):
            return
        assert port is not None
        trace_id = f"1-{int(time.time()):08x}-{os.urandom(12).hex()}"
        segment = {
            "name": "probe",
            "id": os.urandom(8).hex(),
            "trace_id": trace_id,
            "start_time": time.time() - 0.01,
            "end_time": time.time(),
        }
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.sendto(
                b'{"format":"json","version":1}\n' + json.dumps(segment).encode(), ("127.0.0.1", int(port.group(1)))
            )
        # Wait (guarded) for the record to reach the file, then stop the collector as Ctrl-C would.
        for _ in range(400):
            if out.exists() and trace_id in out.read_text():
                break
            time.sleep(0.05)
        os.killpg(process.pid, signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    # npm itself ends by the signal it received (the collector under it stopped cleanly: the
    # summary and the file are checked below).
    allowed = (0, -signal.SIGINT) if label.startswith("npx") else (0,)
    check(process.returncode in allowed, f"{label} collect: exit {process.returncode} after SIGINT: {stderr[-300:]}")
    check(f"trace {trace_id}" in stdout and "probe" in stdout, f"{label} collect: waterfall missing: {stdout!r}")
    check("1 datagram(s): 1 accepted" in stderr, f"{label} collect: summary: {stderr!r}")
    check(trace_id in out.read_text(), f"{label} collect: the record is not in the file")


def main() -> int:
    out_dir = Path(sys.argv[1]).resolve()
    demo_out = Path(sys.argv[2]).read_text()
    collected = (out_dir / "collect.out").read_text()
    summary = (out_dir / "collect.err").read_text()
    invoked = invocations(demo_out)
    printed = waterfalls(collected)
    expected: Dict[str, Tuple[str, int]] = {}
    failing = ""
    for function, runs in invoked.items():
        check(len(runs) == len(EVENTS), f"{function}: {len(runs)} invocations printed, expected {len(EVENTS)}")
        for index, (order_id, trace_id, outcome) in enumerate(runs):
            expected[trace_id] = (function, index)
            declined = EVENTS[index]["amount"] > 1000
            check(order_id == EVENTS[index]["order_id"], f"{function}: order {order_id} at {index}")
            check(outcome == (f"error {DECLINED}" if declined else "ok 200"), f"{function} {order_id}: {outcome}")
            if declined:
                failing = trace_id
            if check(trace_id in printed, f"{function} {order_id}: trace {trace_id} not printed by the collector"):
                header, lines = printed[trace_id]
                check_tree(function, index, trace_id, header, lines)
                check(f"trace {trace_id}" in demo_out, f"{trace_id}: the demo did not show the collector's waterfall")
    check(set(printed) == set(expected), f"printed traces {sorted(printed)} vs invoked {sorted(expected)}")
    check_file(out_dir / "traces.jsonl", expected, out_dir / "bank.log", summary)
    # The commands the demo suggests work as printed (each of its filters matches a trace).
    tail = demo_out.split("Try:\n", 1)[-1]
    suggested = [m for m in re.findall(r"^  (.*\boxray (?:show|map) .*)$", tail, re.M)]
    check(len(suggested) >= 6, f"suggested commands: {suggested}")
    for line in suggested:
        p = run(["bash", "-c", line])
        check(
            p.returncode == 0 and "trace" in p.stdout + p.stderr and p.stdout.strip() != "",
            f"suggested command failed: {line}: {p.stdout[-200:]} {p.stderr[-300:]}",
        )
    check_entry_points(out_dir / "traces.jsonl", failing)
    for label, command in entry_points().items():
        check_collect(label, command, EXAMPLES_NODE if label.startswith("npx") else REPO, out_dir)
    for failure in failures:
        print(f"FAIL: {failure}")
    checked = sum(len(v) for v in invoked.values())
    print(f"e2e demo: {checked} invocations, {len(printed)} waterfalls checked; {len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
