"""Parentage follows contextvars: concurrent coroutines are siblings whatever order they
finish in; threads with a copied context attach where they were started."""

from __future__ import annotations

import asyncio
import contextvars
import sys
import threading

import pytest

from oxray import Tracer
from oxray.context import ContextThreadPoolExecutor, bind


@pytest.fixture
def tracer():
    return Tracer(service="payment")


def _handler_tree(traces):
    (root,) = traces.roots
    return root


@pytest.mark.parametrize("first_finishes_first", [True, False])
def test_gather_gives_siblings_in_any_completion_order(traces, tracer, first_finishes_first):
    @tracer.capture_method
    async def task(name, delay):
        await asyncio.sleep(delay)
        tracer.put_annotation("task", name)
        return name

    @tracer.capture_lambda_handler
    async def lambda_handler(event, context):
        a, b = (0.0, 0.02) if first_finishes_first else (0.02, 0.0)
        return await asyncio.gather(task("a", a), task("b", b))

    assert asyncio.run(lambda_handler({}, None)) == ["a", "b"]
    root = _handler_tree(traces)
    assert root.name == "## lambda_handler"
    assert sorted(c.annotations["task"] for c in root.children) == ["a", "b"]
    assert all(c.children == [] for c in root.children)


@pytest.mark.skipif(sys.version_info < (3, 11), reason="TaskGroup is 3.11+")
def test_taskgroup_siblings(traces, tracer):
    @tracer.capture_method
    async def job(i):
        await asyncio.sleep(0.001 * (5 - i))
        return i

    @tracer.capture_method
    async def parent():
        async with asyncio.TaskGroup() as tg:
            for i in range(5):
                tg.create_task(job(i))

    asyncio.run(parent())
    (root,) = traces.roots
    assert len(root.children) == 5 and all(not c.children for c in root.children)


def test_in_subsegment_async_with_awaits_gives_siblings(traces):
    from oxray import xray_recorder

    async def work(name):
        async with xray_recorder.in_subsegment_async(name):
            await asyncio.sleep(0.01 if name == "one" else 0)

    async def main():
        async with xray_recorder.in_subsegment_async("parent"):
            await asyncio.gather(work("one"), work("two"))

    asyncio.run(main())
    (root,) = traces.roots
    assert sorted(root.child_names()) == ["one", "two"]


def test_thread_with_copied_context_and_to_thread(traces, tracer):
    @tracer.capture_method
    def in_thread(x):
        return x

    @tracer.capture_method
    def parent():
        ctx = contextvars.copy_context()
        t = threading.Thread(target=ctx.run, args=(in_thread, 1))
        t.start()
        t.join()
        t2 = threading.Thread(target=bind(in_thread), args=(2,))
        t2.start()
        t2.join()

    @tracer.capture_method
    async def async_parent():
        return await asyncio.to_thread(in_thread, 3)

    parent()
    asyncio.run(async_parent())
    p = next(r for r in traces.roots if r.name.endswith("parent") and not r.name.endswith("async_parent"))
    ap = next(r for r in traces.roots if r.name.endswith("async_parent"))
    assert len(p.children) == 2 and len(ap.children) == 1


def test_thread_pool_executor_helper(traces, tracer):
    @tracer.capture_method
    def job(i):
        return i * i

    @tracer.capture_method
    def fan_out():
        with ContextThreadPoolExecutor(max_workers=4) as pool:
            return list(pool.map(job, range(8)))

    assert fan_out() == [i * i for i in range(8)]
    (root,) = traces.roots
    assert len(root.children) == 8


def test_many_threads_each_with_their_own_parent(traces, tracer):
    @tracer.capture_method
    def leaf(i):
        return i

    @tracer.capture_method
    def branch(i):
        for _ in range(20):
            leaf(i)

    threads = [threading.Thread(target=contextvars.copy_context().run, args=(branch, i)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    branches = [r for r in traces.roots if r.name.endswith("branch")]
    assert len(branches) == 8 and all(len(b.children) == 20 for b in branches)
