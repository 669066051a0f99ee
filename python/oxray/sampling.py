"""Sampling rules from Python.

:func:`load_rules` makes a local rule file (X-Ray SDK format, version 1 or 2) the rules this
process samples new traces by (the same as ``AWS_XRAY_SAMPLING_RULES``);
:func:`rule_for` and :func:`rule_order` tell which rule a request falls under, without
sampling anything (for your own tests of a rule file, and for the shared test vectors).

Rules are given as a dict, JSON text, or the path of a JSON file.
"""

from __future__ import annotations

import os

from . import _core, _runtime

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing is never imported at run time: it costs milliseconds
    from typing import Any, List, Optional


def _source(rules: Any) -> str:
    """The rules as the core takes them: JSON text or a file path."""
    if isinstance(rules, dict):
        import json

        return json.dumps(rules)
    if isinstance(rules, os.PathLike):
        return os.fspath(rules)
    if isinstance(rules, str):
        return rules
    raise ValueError(f"sampling rules must be a dict, JSON text or a file path, not {type(rules).__name__}")


def _json_text(rules: Any) -> str:
    source = _source(rules)
    if source.lstrip().startswith("{"):
        return source
    try:
        with open(source, encoding="utf-8") as f:
            return f.read()
    except OSError as problem:
        raise ValueError(f"sampling rules: cannot read {source!r} ({problem.strerror or problem})") from None


def load_rules(rules: Any) -> None:
    """Samples new traces of this process by ``rules`` (a local rule file: dict, JSON text or
    file path). Invalid rules raise ``ValueError`` naming the field and the reason, and the
    rules in force stay. An upstream decision (``Sampled=1``/``0`` in the incoming header)
    still wins; in Lambda the invocation's header decides."""
    source = _source(rules)
    _core.check_sampling_rules(source)
    _runtime.reconfigure(sampling_rules=source, sample_rate=None)


def rule_for(
    rules: Any,
    host: Optional[str] = None,
    method: Optional[str] = None,
    url_path: Optional[str] = None,
    service_name: Optional[str] = None,
    service_type: Optional[str] = None,
) -> Optional[str]:
    """The rule a request falls under: for a local rule file, the rule's ``description``
    (``rules[i]`` without one) or ``"default"``; for a ``GetSamplingRules`` answer, the
    ``RuleName``, or None when no usable rule matches. Absent attributes match any rule."""
    return _core.sampling_rule_for(_json_text(rules), host, method, url_path, service_name, service_type)


def rule_order(rules: Any) -> List[str]:
    """The rules in the order they are tried, named as :func:`rule_for` names them."""
    return _core.sampling_rule_order(_json_text(rules))
