"""Capture what a block of code traced, for your own unit tests.

    from oxray.testing import capture_traces

    def test_charge():
        with capture_traces() as traces:
            handler({"id": 1}, FakeContext())
        node = traces.find("## app.charge")
        assert node.annotations["PaymentId"] == 1

or with the pytest fixture ``oxray_traces`` (registered automatically when oxray is
installed): everything the test traced, reassembled into trees, no daemon and no Lambda
environment needed. Tracing is forced on inside the block, under a sampled stand-in for the
Lambda function segment.
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from typing import Any, Dict, Iterator, List, Optional, Union

from . import _capture, _core, _runtime
from .context import _current


class Node:
    """One segment or subsegment of a reassembled trace."""

    def __init__(self, doc: Dict[str, Any], parent_id: Optional[str]) -> None:
        self.doc = doc
        self.parent_id = parent_id
        self.children: List[Node] = []

    name = property(lambda self: self.doc.get("name"))
    id = property(lambda self: self.doc.get("id"))
    trace_id = property(lambda self: self.doc.get("trace_id"))
    annotations = property(lambda self: self.doc.get("annotations", {}))
    metadata = property(lambda self: self.doc.get("metadata", {}))
    fault = property(lambda self: bool(self.doc.get("fault")))
    error = property(lambda self: bool(self.doc.get("error")))
    throttle = property(lambda self: bool(self.doc.get("throttle")))
    cause = property(lambda self: self.doc.get("cause"))
    http = property(lambda self: self.doc.get("http", {}))
    aws = property(lambda self: self.doc.get("aws", {}))
    sql = property(lambda self: self.doc.get("sql", {}))
    namespace = property(lambda self: self.doc.get("namespace"))

    def walk(self) -> Iterator[Node]:
        yield self
        for child in self.children:
            yield from child.walk()

    def find(self, name: str) -> Optional[Node]:
        return next((n for n in self.walk() if n.name == name), None)

    def child_names(self) -> List[str]:
        return [c.name for c in self.children]

    def __repr__(self) -> str:
        return f"<Node {self.name!r} id={self.id} children={self.child_names()}>"


def assemble(documents: List[Union[str, Dict[str, Any]]]) -> List[Node]:
    """Trees from documents as sent: embedded subsegments and standalone ones (``parent_id``)
    are put back under their parents. Returns the roots (nodes whose parent was not sent,
    e.g. children of the Lambda function segment), in the order they were sent."""
    nodes: Dict[str, Node] = {}
    order: List[Node] = []

    def add(doc: Dict[str, Any], parent_id: Optional[str]) -> None:
        node = Node(doc, parent_id)
        nodes[doc.get("id", "")] = node
        order.append(node)
        for child in doc.get("subsegments", []) or []:
            add(child, doc.get("id"))

    for raw in documents:
        doc = json.loads(raw) if isinstance(raw, str) else raw
        add(doc, doc.get("parent_id"))
    roots = []
    for node in order:
        parent = nodes.get(node.parent_id or "")
        if parent is not None and parent is not node:
            parent.children.append(node)
        else:
            roots.append(node)
    for node in order:
        node.children.sort(key=lambda n: n.doc.get("start_time", 0))
    return roots


class TraceCapture:
    """Documents captured by :func:`capture_traces`, and the trees they form. Reading any
    attribute picks up what was sent so far, so it can be used inside the block too."""

    def __init__(self, recorder: Optional[_core.Recorder] = None) -> None:
        self._recorder = recorder
        self._documents: List[Dict[str, Any]] = []
        self.counters: Dict[str, int] = {}

    def _pull(self) -> None:
        if self._recorder is not None:
            self._documents.extend(json.loads(t) for t in self._recorder.take_documents())
            self.counters = dict(self._recorder.counters())

    @property
    def documents(self) -> List[Dict[str, Any]]:
        self._pull()
        return list(self._documents)

    @property
    def roots(self) -> List[Node]:
        return assemble(self.documents)

    def nodes(self) -> List[Node]:
        return [n for root in self.roots for n in root.walk()]

    def find(self, name: str) -> Optional[Node]:
        return next((n for n in self.nodes() if n.name == name), None)

    def find_all(self, name: str) -> List[Node]:
        return [n for n in self.nodes() if n.name == name]

    def names(self) -> List[str]:
        return [n.name for n in self.nodes()]


@contextmanager
def capture_traces(trace_header: Optional[str] = None) -> Iterator[TraceCapture]:
    """Records everything traced inside the block in memory; on exit the
    :class:`TraceCapture` holds the documents and trees. ``trace_header`` sets the stand-in
    function segment (default: a new sampled trace)."""
    rec = _core.Recorder(json.dumps({"emit_mode": "memory", "enabled": True}))
    capture = TraceCapture(rec)
    previous = _runtime.swap(rec)
    was_enabled = _capture.enabled()
    was_forced = _capture.force(True)
    header = trace_header or (
        f"Root=1-{os.urandom(4).hex()}-{os.urandom(12).hex()};Parent={os.urandom(8).hex()};Sampled=1"
    )
    token = _current.set(rec.lambda_facade(header))
    try:
        yield capture
    finally:
        _current.reset(token)
        rec.flush(1.0)
        capture._pull()
        capture._recorder = None
        _runtime.swap(previous)
        _capture.force(was_forced)
        _capture.set_enabled(was_enabled)


try:  # the pytest fixture, when pytest is there
    import pytest

    @pytest.fixture
    def oxray_traces() -> Iterator[TraceCapture]:
        """Everything the test traces, reassembled (see :func:`capture_traces`)."""
        with capture_traces() as traces:
            yield traces

except ImportError:  # pragma: no cover
    pass
