"""The shared test vectors (tests/vectors) run through the Python API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List

import pytest

from conftest import check_document
from oxray import _core

VECTORS = Path(__file__).resolve().parents[2] / "tests" / "vectors"


def load(name: str) -> List[Dict[str, Any]]:
    return json.loads((VECTORS / name).read_text())


@pytest.mark.parametrize("case", load("trace_headers.json"), ids=lambda c: repr(c["input"])[:40])
def test_trace_headers(case):
    if case["valid"]:
        h = _core.parse_trace_header(case["input"])
        for key in ("root", "parent", "sampled", "lineage"):
            assert h[key] == case.get(key), key
        assert [list(e) for e in h["extras"]] == case["extras"]
        assert h["formatted"] == case["formatted"]
    else:
        with pytest.raises(ValueError) as raised:
            _core.parse_trace_header(case["input"])
        assert raised.value.args[0] == case["error"]


@pytest.mark.parametrize("case", load("daemon_addresses.json"), ids=lambda c: repr(c["input"])[:40])
def test_daemon_addresses(case):
    if case["valid"]:
        assert _core.parse_daemon_address(case["input"]) == (case["udp"], case["tcp"])
        rec = _core.Recorder(json.dumps({"daemon_address": case["input"], "emit_mode": "memory"}))
        assert rec.daemon_address == case["udp"]
    else:
        with pytest.raises(ValueError):
            _core.parse_daemon_address(case["input"])
        with pytest.raises(ValueError):
            _core.Recorder(json.dumps({"daemon_address": case["input"], "emit_mode": "memory"}))


HEADER = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"


def _one_document(action) -> Dict[str, Any]:
    rec = _core.Recorder('{"emit_mode": "memory"}')
    sub = rec.lambda_facade(HEADER).begin_subsegment("probe")
    action(sub)
    sub.end()
    (doc,) = rec.take_documents()
    return check_document(doc)


@pytest.mark.parametrize("case", load("names.json"), ids=lambda c: repr(c["input"])[:30])
def test_names_through_subsegments(case):
    rec = _core.Recorder('{"emit_mode": "memory"}')
    rec.lambda_facade(HEADER).begin_subsegment(case["input"]).end()
    (doc,) = rec.take_documents()
    assert check_document(doc)["name"] == case["output"]


@pytest.mark.parametrize("case", load("annotation_keys.json"), ids=lambda c: repr(c["input"])[:30])
def test_annotation_keys_through_put_annotation(case):
    doc = _one_document(lambda sub: sub.put_annotation(case["input"], 1))
    if case["output"] is None:
        assert "annotations" not in doc
    else:
        assert doc["annotations"] == {case["output"]: 1}


# -- entity scripts ---------------------------------------------------------------------------


def _raise_with_stack(type_name: str, message: str, stack: List[Dict[str, Any]]) -> BaseException:
    """A real exception whose traceback has exactly ``stack`` (innermost first): each frame
    is a function compiled with the frame's path, line and label."""
    exc_type = type(type_name, (Exception,), {})
    error = exc_type(message)
    call = None
    for frame in stack:  # innermost first: each one calls the previous
        line = int(frame.get("line") or 1)
        body = "raise _error" if call is None else "return _next()"
        if line > 1:
            source = "def f():\n" + "\n" * (line - 2) + "    " + body + "\n"
        else:
            source = f"def f(): {body}\n"
        scope: Dict[str, Any] = {"_error": error, "_next": call}
        exec(compile(source, frame.get("path", "x.py"), "exec"), scope)
        fn = scope["f"]
        label = frame.get("label", "f")
        fn.__code__ = fn.__code__.replace(co_name=label)
        call = fn
    try:
        if call is None:
            raise error
        call()
    except Exception as caught:  # noqa: BLE001
        tb = caught.__traceback__
        return caught.with_traceback(tb.tb_next if call is not None else tb)
    raise AssertionError("unreachable")


def _run_script(script: Dict[str, Any]):
    rec = _core.Recorder('{"emit_mode": "memory"}')
    entities: Dict[str, Any] = {}
    exceptions: Dict[str, str] = {}
    for op in script["ops"]:
        kind = op["op"]
        target = entities.get(op.get("entity", ""))
        if kind == "begin_segment":
            entities[op["as"]] = rec.begin_segment(op.get("name"), op.get("header"))
        elif kind == "lambda_facade":
            entities[op["as"]] = rec.lambda_facade(op.get("header"))
        elif kind == "begin_subsegment":
            entities[op["as"]] = entities[op["parent"]].begin_subsegment(op["name"])
        elif kind == "annotation":
            target.put_annotation(op["key"], op["value"])
        elif kind == "metadata":
            target.put_metadata(op["key"], op["value"], op.get("namespace"))
        elif kind == "namespace":
            target.set_namespace(op["value"])
        elif kind == "http_request":
            fields = {k: op[k] for k in ("method", "url", "user_agent", "client_ip", "traced") if k in op}
            target.set_http_request(**fields)
        elif kind == "http_response":
            target.set_http_response(op.get("status"), op.get("content_length"))
        elif kind == "aws":
            target.set_aws(op["key"], op["value"])
        elif kind == "sql":
            target.set_sql(**{k: v for k, v in op.items() if k not in ("op", "entity")})
        elif kind == "exception":
            exc = _raise_with_stack(op["type"], op["message"], op.get("stack", []))
            exception_id = target.add_exception(exc, remote=bool(op.get("remote", False)))
            if "as" in op:
                exceptions[op["as"]] = exception_id
        elif kind == "cause_ref":
            target.add_exception_ref(exceptions[op["exception"]])
        elif kind in ("error", "fault", "throttle"):
            getattr(target, f"set_{kind}")(True)
        elif kind == "end":
            target.end()
        elif kind == "flush":
            rec.flush(1.0)
        else:
            raise AssertionError(f"unknown op {kind}")
    return rec.take_documents(), entities, exceptions


def _matches(expected: Any, actual: Any, entities, exceptions, where: str) -> None:
    if isinstance(expected, str) and expected.startswith("$"):
        kind, _, name = expected[1:].partition(":")
        if kind == "id":
            expected = entities[name].id
        elif kind == "trace":
            expected = entities[name].trace_id
        elif kind == "exception":
            expected = exceptions[name]
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{where}: expected an object, got {actual!r}"
        for key, value in expected.items():
            if value == "$absent":
                assert key not in actual, f"{where}.{key} should be absent"
            else:
                assert key in actual, f"{where}.{key} missing in {actual}"
                _matches(value, actual[key], entities, exceptions, f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), f"{where}: {actual!r}"
        for i, (e, a) in enumerate(zip(expected, actual)):
            _matches(e, a, entities, exceptions, f"{where}[{i}]")
    else:
        assert actual == expected, f"{where}: {actual!r} != {expected!r}"


SCRIPTS = load("entity_scripts.json") if (VECTORS / "entity_scripts.json").exists() else []


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda s: s["name"][:50])
def test_entity_scripts(script):
    documents, entities, exceptions = _run_script(script)
    parsed = [check_document(d) for d in documents]
    assert len(parsed) == len(script["expect"]), [d.get("name") for d in parsed]
    for i, (expected, actual) in enumerate(zip(script["expect"], parsed)):
        _matches(expected, actual, entities, exceptions, f"document[{i}]")


def test_there_are_vectors():
    assert len(load("trace_headers.json")) > 5 and SCRIPTS


# -- sampling rules ---------------------------------------------------------------------------

SAMPLING = load("sampling_rules.json") if (VECTORS / "sampling_rules.json").exists() else {}


def _only(rules: Dict[str, Any], chosen: str) -> Dict[str, Any]:
    """The rule file with every rule (and the default) never sampling, except ``chosen``,
    which always samples: whether a request is sampled then says which rule matched it."""
    copy = json.loads(json.dumps(rules))
    for rule in copy.get("rules", []):
        rule["fixed_target"], rule["rate"] = 0, (1 if rule.get("description") == chosen else 0)
    copy["default"] = {"fixed_target": 0, "rate": 1 if chosen == "default" else 0}
    return copy


LOCAL_CASES = [(s["name"], s["rules"], case) for s in SAMPLING.get("local", []) for case in s["cases"]]


@pytest.mark.parametrize("name,rules,case", LOCAL_CASES, ids=lambda v: v[:40] if isinstance(v, str) else "")
def test_local_sampling_rules_through_begin_segment(name, rules, case):
    request = case["request"]
    rec = _core.Recorder(json.dumps({"emit_mode": "memory", "sampling_rules": _only(rules, case["rule"])}))
    segment = rec.begin_segment("svc", None, None, request.get("host"), request.get("method"), request.get("url_path"))
    assert segment.sampled, f"{request} should fall under {case['rule']!r}"


@pytest.mark.parametrize("case", SAMPLING.get("invalid_local", []), ids=lambda c: c["name"][:40])
def test_invalid_local_sampling_rules_are_refused(case, tmp_path):
    path = tmp_path / "rules.json"  # given as a rule file, as users do
    path.write_text(json.dumps(case["rules"]))
    with pytest.raises(ValueError) as raised:
        _core.Recorder(json.dumps({"emit_mode": "memory", "sampling_rules": str(path)}))
    assert f"{case['field']}: " in str(raised.value)
