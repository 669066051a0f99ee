"""oxray.sampling: the shared sampling vectors through rule_for / rule_order, and load_rules
(accepted forms, refused rules, the rules in force kept), plus AWS_XRAY_SAMPLING_RULES seen by
the middleware over real UDP."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict

import pytest

from conftest import REPO, reset_oxray
from oxray import _core, _runtime, sampling
from oxray.middleware import XRayWSGIMiddleware

VECTORS = json.loads((REPO / "tests" / "vectors" / "sampling_rules.json").read_text())

LOCAL = [(s["name"], s["rules"], c) for s in VECTORS["local"] for c in s["cases"]]
CENTRALIZED = [(s["name"], s["rules"], c) for s in VECTORS["centralized"] for c in s["cases"]]


def _ask(rules: Any, request: Dict[str, str]) -> Any:
    return sampling.rule_for(
        rules,
        host=request.get("host"),
        method=request.get("method"),
        url_path=request.get("url_path"),
        service_name=request.get("service_name"),
        service_type=request.get("service_type"),
    )


@pytest.mark.parametrize("name,rules,case", LOCAL, ids=lambda v: v[:40] if isinstance(v, str) else "")
def test_local_vectors(name, rules, case):
    assert _ask(rules, case["request"]) == case["rule"], (name, case)


@pytest.mark.parametrize("name,rules,case", CENTRALIZED, ids=lambda v: v[:40] if isinstance(v, str) else "")
def test_centralized_vectors(name, rules, case):
    assert _ask(json.dumps(rules), case["request"]) == case["rule"], (name, case)


@pytest.mark.parametrize("ruleset", VECTORS["centralized"], ids=lambda s: s["name"][:40])
def test_centralized_rule_order(ruleset):
    assert sampling.rule_order(ruleset["rules"]) == ruleset["usable"]


@pytest.mark.parametrize("ruleset", VECTORS["local"], ids=lambda s: s["name"][:40])
def test_local_rule_order_ends_with_the_default(ruleset):
    order = sampling.rule_order(ruleset["rules"])
    assert order[-1] == "default" and len(order) == len(ruleset["rules"].get("rules", [])) + 1


@pytest.mark.parametrize("case", VECTORS["invalid_local"], ids=lambda c: c["name"][:40])
def test_invalid_vectors_are_refused_by_load_rules_naming_the_field(case, tmp_path):
    path = tmp_path / "rules.json"
    path.write_text(json.dumps(case["rules"]))
    with pytest.raises(ValueError) as raised:
        sampling.load_rules(path)
    assert str(raised.value).startswith(f"{case['field']}: "), str(raised.value)


# -- load_rules ------------------------------------------------------------------------------------

NEVER = {"version": 2, "rules": [], "default": {"fixed_target": 0, "rate": 0}}
ALWAYS = {"version": 2, "rules": [], "default": {"fixed_target": 0, "rate": 1}}


@pytest.fixture
def clean(monkeypatch):
    monkeypatch.delenv("LAMBDA_TASK_ROOT", raising=False)
    monkeypatch.delenv("AWS_XRAY_SAMPLING_RULES", raising=False)
    reset_oxray()
    _runtime.reconfigure(emit_mode="memory")
    yield
    reset_oxray()


def sampled_now() -> bool:
    return _runtime.recorder().begin_segment("probe", None, None, "h", "GET", "/").sampled


@pytest.mark.parametrize("form", ["dict", "json", "path", "str path"])
def test_load_rules_forms(clean, tmp_path, form):
    path = tmp_path / "never.json"
    path.write_text(json.dumps(NEVER))
    given = {"dict": NEVER, "json": json.dumps(NEVER), "path": path, "str path": str(path)}[form]
    sampling.load_rules(given)
    assert not any(sampled_now() for _ in range(50))
    assert sampling.rule_for(given, url_path="/x") == "default"


@pytest.mark.parametrize(
    "bad,message",
    [
        ({"version": 3, "default": {"fixed_target": 1, "rate": 0.1}}, "version"),
        ('{"version": 2', "not valid JSON"),
        ("/no/such/rules.json", "/no/such/rules.json"),
        (42, "must be a dict, JSON text or a file path"),
    ],
)
def test_refused_rules_keep_the_rules_in_force(clean, bad, message):
    sampling.load_rules(ALWAYS)
    with pytest.raises(ValueError, match=message):
        sampling.load_rules(bad)
    assert all(sampled_now() for _ in range(20))


def test_rule_for_reads_a_file_and_reports_unreadable_ones(tmp_path):
    path: Path = tmp_path / "rules.json"
    path.write_text(json.dumps(VECTORS["local"][0]["rules"]))
    case = VECTORS["local"][0]["cases"][0]
    assert _ask(path, case["request"]) == case["rule"]
    with pytest.raises(ValueError, match="cannot read"):
        sampling.rule_for(tmp_path / "missing.json")


def test_the_environment_rules_decide_for_the_middleware(monkeypatch, daemon, tmp_path):
    rules = tmp_path / "rules.json"
    rules.write_text(
        json.dumps(
            {
                "version": 1,
                "rules": [
                    {"service_name": "*", "http_method": "*", "url_path": "/health", "fixed_target": 0, "rate": 0}
                ],
                "default": {"fixed_target": 0, "rate": 1},
            }
        )
    )
    monkeypatch.delenv("LAMBDA_TASK_ROOT", raising=False)
    monkeypatch.setenv("AWS_XRAY_SAMPLING_RULES", str(rules))
    monkeypatch.setenv("AWS_XRAY_DAEMON_ADDRESS", daemon.address)
    reset_oxray()
    try:

        def app(environ, start_response):
            start_response("200 OK", [])
            return [b"ok"]

        from webapps import werkzeug_server

        with werkzeug_server(XRayWSGIMiddleware(app)) as client:
            assert client.get("/health", {"X-Amzn-Trace-Id": "Sampled=?"}).trace_header.endswith(";Sampled=0")
            assert client.get("/orders", {"X-Amzn-Trace-Id": "Sampled=?"}).trace_header.endswith(";Sampled=1")
        [seg] = daemon.documents(1)
        assert seg["http"]["request"]["url"].endswith("/orders")
    finally:
        reset_oxray()


def test_check_sampling_rules_is_exposed():
    _core.check_sampling_rules(json.dumps(ALWAYS))
    with pytest.raises(ValueError, match="default"):
        _core.check_sampling_rules('{"version": 2, "rules": []}')
