"""User objects that fight back, through every door tracing opens: ``capture_method``
responses, ``put_metadata``, ``put_annotation`` and recorded exceptions.

For each: the user's code gets its own result or its own exception (the same object), never
one from tracing; the object is not mutated, not consumed, and none of its own attributes is
touched when tracing cannot know what they do; every document stays valid JSON within the size
bound (the ``traces`` fixture validates each one). test_robustness.py covers the friendlier
cases (bad keys, conversions of ordinary values, cycles in plain dicts).
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
from typing import Any, Dict, List

import pytest

from oxray import Tracer, _core, xray_recorder


@pytest.fixture
def tracer():
    return Tracer(service="fights")


class Raising:
    """Every way to print it raises."""

    def __repr__(self) -> str:
        raise RuntimeError("no repr")

    def __str__(self) -> str:
        raise RuntimeError("no str")

    def __format__(self, spec: str) -> str:
        raise RuntimeError("no format")


class RaisingBase(Raising):
    """Printing raises BaseException, which ``except Exception`` would let through."""

    def __repr__(self) -> str:
        raise KeyboardInterrupt("from repr")

    __str__ = __repr__


class Spy:
    """``__getattr__`` with side effects: every lookup of a missing attribute is logged and
    creates the attribute (a lazy loader, a mock)."""

    def __init__(self) -> None:
        self.value = 1
        self.__dict__["_lookups"] = []

    def __getattr__(self, name: str) -> Any:
        self.__dict__["_lookups"].append(name)
        if name.startswith("__"):
            raise AttributeError(name)
        created = lambda *a, **k: f"made {name}"  # noqa: E731 - callable, like a mock's
        self.__dict__[name] = created
        return created


class Watched:
    """``__getattribute__`` that logs every attribute lookup."""

    log: List[str] = []

    def __init__(self) -> None:
        self.visible = "v"

    def __getattribute__(self, name: str) -> Any:
        Watched.log.append(name)
        return object.__getattribute__(self, name)


class Properties:
    """Properties that raise or count: tracing must not evaluate them."""

    evaluated = 0

    def __init__(self) -> None:
        self.plain = 2

    @property
    def boom(self) -> Any:
        raise RuntimeError("property read")

    @property
    def counted(self) -> int:
        Properties.evaluated += 1
        return Properties.evaluated


class Countdown:
    """An iterator whose items are the state: reading it would consume it."""

    def __init__(self) -> None:
        self.left = 3

    def __iter__(self) -> Countdown:
        return self

    def __next__(self) -> int:
        if self.left == 0:
            raise StopIteration
        self.left -= 1
        return self.left


class Mutator:
    """Converting it changes the container it sits in (``model_dump`` with side effects)."""

    def __init__(self, target: Any) -> None:
        self.target = target

    def model_dump(self, mode: str = "python") -> Dict[str, Any]:
        if isinstance(self.target, dict):
            self.target[f"added-{len(self.target)}"] = 1
        elif isinstance(self.target, set):
            self.target.add(len(self.target) + 1000)
        return {"dumped": True}


class DictCycle:
    def __init__(self) -> None:
        self.me = self
        self.peer = Peer(self)


class Peer:
    def __init__(self, owner: Any) -> None:
        self.owner = owner


@dataclasses.dataclass
class Node:
    name: str
    children: List[Any] = dataclasses.field(default_factory=list)
    parent: Any = None


class Endless:
    """A converter result that is a new object of the same kind, forever."""

    def __init__(self, depth: int = 0) -> None:
        self.depth = depth

    def model_dump(self, mode: str = "python") -> Dict[str, Any]:
        return {"next": Endless(self.depth + 1)}


class HostileError(Exception):
    """An exception whose message, repr and args all fight back."""

    def __init__(self) -> None:
        super().__init__(Raising(), [1, 2])
        self.args[1].append(self.args[1])  # a recursive list among its args

    def __str__(self) -> str:
        raise RuntimeError("no message")

    def __repr__(self) -> str:
        raise RuntimeError("no repr")


def recursive_list() -> List[Any]:
    items: List[Any] = [1]
    items.append(items)
    return items


def recursive_dict() -> Dict[str, Any]:
    d: Dict[str, Any] = {"k": 1}
    d["again"] = {"back": d}
    return d


def nested(depth: int) -> List[Any]:
    value: List[Any] = ["bottom"]
    for _ in range(depth):
        value = [value]
    return value


def node_tree() -> Node:
    root = Node("root")
    root.children.append(Node("leaf", parent=root))
    return root


def traced_twice(tracer: Tracer, value: Any) -> Any:
    """Returns ``value`` from a captured method that also puts it as metadata."""

    @tracer.capture_method
    def respond():
        tracer.put_metadata("value", value)
        return value

    return respond()


HOSTILE_VALUES = {
    "raising": Raising,
    "raising-base": RaisingBase,
    "recursive-list": recursive_list,
    "recursive-dict": recursive_dict,
    "dict-cycle": DictCycle,
    "dataclass-cycle": node_tree,
    "endless-conversion": Endless,
    "huge-int": lambda: 10**5000,  # str() of it raises ValueError (int max str digits)
    "negative-huge-int": lambda: -(2**20000),
    "bytes": lambda: bytes(range(256)) * 20,
    "nan-inf": lambda: [math.nan, math.inf, -math.inf, {"x": math.nan}],
    "deep": lambda: nested(200),
    "raising-keys": lambda: {Raising(): 1, (Raising(),): 2},
    "surrogates": lambda: {"\udcff": "\ud800 lone"},
}


@pytest.mark.parametrize("name", sorted(HOSTILE_VALUES))
def test_hostile_values_pass_through_untouched(traces, tracer, name):
    value = HOSTILE_VALUES[name]()
    before = _snapshot(value)
    assert traced_twice(tracer, value) is value
    assert _snapshot(value) == before, "not mutated"
    (node,) = traces.nodes()
    json.dumps(node.doc)  # already validated by the fixture; it is JSON, whatever the input
    assert "value" in node.metadata["fights"]


def _snapshot(value: Any) -> Any:
    """A structural picture of ``value`` taken without calling its own methods."""
    seen: Dict[int, int] = {}

    def walk(v: Any, depth: int) -> Any:
        if depth > 50 or id(v) in seen:
            return ("seen", seen.get(id(v)))
        if isinstance(v, (int, float, str, bytes, type(None))):
            return (type(v).__name__, v if not isinstance(v, float) or v == v else "nan")
        seen[id(v)] = len(seen)
        if isinstance(v, dict):
            return ("dict", [(id(k), walk(x, depth + 1)) for k, x in v.items()])
        if isinstance(v, (list, tuple)):
            return (type(v).__name__, [walk(x, depth + 1) for x in v])
        attrs = object.__getattribute__(v, "__dict__") if hasattr(type(v), "__init__") else {}
        return (type(v).__name__, sorted((k, walk(x, depth + 1)) for k, x in dict(attrs).items()))

    return walk(value, 0)


def test_getattr_side_effects_are_never_triggered(traces, tracer):
    spy = Spy()
    assert traced_twice(tracer, spy) is spy
    xray_recorder_value = {"nested": spy}
    assert traced_twice(tracer, xray_recorder_value) is xray_recorder_value
    assert spy.__dict__["_lookups"] == [], "tracing asked the object for attributes it does not have"
    assert set(vars(spy)) == {"value", "_lookups"}, "no attribute was created"
    for node in traces.nodes():
        assert node.metadata["fights"]["value"] in ({"value": 1}, {"nested": {"value": 1}})


def test_only_the_instance_dict_is_read(traces, tracer):
    watched = Watched()
    Watched.log.clear()
    traced_twice(tracer, watched)
    touched = {name for name in Watched.log if not (name.startswith("__") and name.endswith("__"))}
    assert touched == set(), f"tracing read the object's own attributes: {touched}"
    (node,) = traces.nodes()
    assert node.metadata["fights"]["value"] == {"visible": "v"}


def test_properties_are_not_evaluated(traces, tracer):
    props = Properties()
    Properties.evaluated = 0
    assert traced_twice(tracer, props) is props
    assert Properties.evaluated == 0
    (node,) = traces.nodes()
    assert node.metadata["fights"]["value"] == {"plain": 2}


@pytest.mark.parametrize(
    "make",
    [Countdown, lambda: iter([3, 2, 1]), lambda: (i for i in (3, 2, 1)), lambda: reversed([1, 2, 3])],
    ids=["iterator-class", "list-iterator", "generator", "reversed"],
)
def test_iterators_returned_or_put_are_not_consumed(traces, tracer, make):
    it = make()
    assert traced_twice(tracer, it) is it
    assert len(list(it)) == 3, "tracing consumed the iterator"
    (node,) = traces.nodes()
    assert "not recorded" in node.metadata["fights"]["value"]


@pytest.mark.parametrize("container", ["dict", "set"])
def test_containers_changed_by_their_own_conversion(traces, tracer, container, caplog):
    """A value whose conversion adds to the very container being recorded (pyo3's own dict
    and set iterators panic there: a PanicException, a BaseException, into user code)."""
    target: Any = {} if container == "dict" else set()
    mutator = Mutator(target)
    if container == "dict":
        target["m"] = mutator
        target["after"] = 2
    else:
        target.add(mutator)
    assert traced_twice(tracer, target) is target
    (node,) = traces.nodes()
    assert node.metadata["fights"]["value"] is not None
    assert traces.counters["warnings"] >= 1


def test_to_json_of_a_container_that_changes_never_panics():
    target: Dict[str, Any] = {}
    target["m"] = Mutator(target)
    text = _core.to_json(target)
    assert json.loads(text)["m"] == {"dumped": True}


def test_hostile_annotations_are_dropped_not_raised(traces, tracer):
    class StrSub(str):
        def __str__(self) -> str:
            raise RuntimeError("no")

    class IntSub(int):
        def __index__(self) -> int:
            raise RuntimeError("no")

        def __int__(self) -> int:
            raise RuntimeError("no")

    @tracer.capture_method
    def annotate():
        tracer.put_annotation("huge", 10**5000)
        tracer.put_annotation("raising", Raising())
        tracer.put_annotation("strsub", StrSub("kept"))
        tracer.put_annotation("intsub", IntSub(7))
        tracer.put_annotation("nan", math.nan)
        tracer.put_annotation("inf", -math.inf)
        tracer.put_annotation(Raising(), "raising key")
        xray_recorder.put_annotation("recorder", Raising())
        return "done"

    assert annotate() == "done"
    (node,) = traces.nodes()
    ann = node.annotations
    assert ann["strsub"] == "kept" and ann["intsub"] == 7
    assert "huge" not in ann and "raising" not in ann and "recorder" not in ann
    assert ann["nan"] == "NaN" and ann["inf"] in ("-inf", "-Infinity")
    assert traces.counters["warnings"] >= 4


def test_hostile_exceptions_pass_through_and_are_recorded(traces, tracer):
    err = HostileError()
    args_before = err.args

    @tracer.capture_method
    def fail():
        raise err

    with pytest.raises(HostileError) as raised:
        fail()
    assert raised.value is err and err.args is args_before and vars(err) == {}
    (node,) = traces.nodes()
    assert node.fault
    (exception,) = node.doc["cause"]["exceptions"]
    assert exception["type"] == "HostileError" and "message" not in exception
    assert "fail error" in " ".join(node.metadata["fights"])


def test_exceptions_with_cyclic_causes(traces, tracer):
    first = ValueError("first")
    second = KeyError("second")
    first.__cause__ = second
    second.__cause__ = first
    first.__context__ = first

    @tracer.capture_method
    def fail():
        raise first

    with pytest.raises(ValueError) as raised:
        fail()
    assert raised.value is first and first.__cause__ is second
    (node,) = traces.nodes()
    assert node.doc["cause"]["exceptions"][0]["type"] == "ValueError"


def test_exception_raising_base_exception_from_str(traces, tracer):
    class Nasty(Exception):
        def __str__(self) -> str:
            raise SystemExit("from __str__")

    @tracer.capture_method
    def fail():
        raise Nasty()

    with pytest.raises(Nasty):
        fail()
    (node,) = traces.nodes()
    assert node.doc["cause"]["exceptions"][0]["type"] == "Nasty"


def test_huge_and_wide_values_stay_within_the_document_bound(traces, tracer):
    wide = {f"k{i}": "v" * 100 for i in range(5000)}
    long_bytes = b"\xff" * 300_000
    assert traced_twice(tracer, [wide, long_bytes]) == [wide, long_bytes]
    (node,) = traces.nodes()
    assert len(json.dumps(node.doc)) <= 64_000


def test_hostile_values_through_the_recorder_api(traces):
    from oxray import xray_recorder as recorder

    values = [Raising(), recursive_list(), DictCycle(), Spy(), Countdown(), 10**5000]
    with recorder.in_subsegment("fights-recorder") as sub:
        for i, value in enumerate(values):
            recorder.put_metadata(f"v{i}", value, "ns")
            sub.put_metadata(f"w{i}", value)
    (node,) = traces.nodes()
    assert set(node.metadata["ns"]) == {f"v{i}" for i in range(len(values))}
    assert values[4].left == 3 and values[3].__dict__["_lookups"] == []


@pytest.mark.skipif(sys.version_info < (3, 11), reason="int max str digits is 3.11+")
def test_huge_int_metadata_is_described(traces, tracer):
    traced_twice(tracer, 10**5000)
    (node,) = traces.nodes()
    assert node.metadata["fights"]["value"] == "<int>"
