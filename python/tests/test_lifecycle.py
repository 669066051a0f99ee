"""Process lifecycle, each case in a fresh interpreter sending to a UDP receiver on 127.0.0.1:
fork while other threads trace, multiprocessing with the fork start method, exit with
documents still queued, shutdown started from another thread, atexit ordering, a daemon thread
still tracing at exit, and a sampling proxy that hangs at exit.

The child prints one ``RESULT <json>`` line from an atexit handler registered before oxray is
imported (so it runs after oxray's exit flush) with the counters and what it completed; the
test checks the receiver got every document the counters say were sent (with the kernel's own
drop counter for anything the socket buffer lost). The subprocess timeout is a hang guard,
not a performance bound (test_process.py covers the simple fork and exit-flush cases).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from typing import Any, Dict, List, Tuple

import pytest
from test_faults import GUARD_SECONDS, Receiver, SamplingProxy, kernel_drops, wait_until

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX process lifecycle")

#: Prepended to every child: reports counters after oxray's own exit flush.
PRELUDE = """
import atexit, json, sys
REPORT = {}

def _report():
    import time
    from oxray import xray_recorder
    REPORT["counters"] = xray_recorder.counters()
    if "main_done" in REPORT:
        REPORT["exit_seconds"] = time.monotonic() - REPORT["main_done"]
    print("RESULT " + json.dumps(REPORT), flush=True)

atexit.register(_report)  # registered first: runs last
"""


def run_child(code: str, receiver: Receiver, **env: str) -> Tuple[subprocess.CompletedProcess, Dict[str, Any]]:
    full_env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "AWS_XRAY_DAEMON_ADDRESS": receiver.address,
        **env,
    }
    proc = subprocess.run(
        [sys.executable, "-c", PRELUDE + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=GUARD_SECONDS * 2,
    )
    assert "panicked" not in proc.stderr and "Fatal Python error" not in proc.stderr, proc.stderr
    results = [line[len("RESULT ") :] for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert len(results) == 1, (proc.stdout, proc.stderr)
    return proc, json.loads(results[0])


def delivered(receiver: Receiver, sent: int) -> List[Dict[str, Any]]:
    """Every datagram counted as sent arrived or was dropped by the receiving kernel."""
    receiver.settle(sent)
    docs = receiver.documents()
    assert len(docs) + (kernel_drops(receiver.port) or 0) == sent, (len(docs), sent)
    return docs


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def test_fork_while_other_threads_trace(receiver):
    proc, report = run_child(
        """
        import os, threading
        from oxray import xray_recorder

        @xray_recorder.capture("life-step")
        def step(i):
            xray_recorder.put_annotation("i", i)
            return i

        def trace(name, count):
            for i in range(count):
                xray_recorder.begin_segment(name, sampling=1)
                step(i)
                xray_recorder.end_segment()

        workers = [threading.Thread(target=trace, args=(f"life-parent-{t}", 1500)) for t in range(2)]
        for w in workers:
            w.start()
        children = []
        for k in range(4):  # forks while both workers are in the middle of tracing
            pid = os.fork()
            if pid == 0:
                trace(f"life-child-{k}", 25)
                os._exit(0 if xray_recorder.flush(30.0) else 3)
            children.append(pid)
        codes = [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in children]
        for w in workers:
            w.join()
        trace("life-parent-after", 10)
        REPORT["codes"] = codes
        """,
        receiver,
    )
    assert proc.returncode == 0, proc.stderr
    assert report["codes"] == [0, 0, 0, 0]
    parent = report["counters"]
    assert parent["dropped"] == 0 and parent["sent"] == 2 * 1500 + 10, parent
    # Children send with the counters they inherited; the receiver sees everybody's.
    docs = delivered(receiver, 2 * 1500 + 10 + 4 * 25)
    by_name: Dict[str, int] = {}
    for doc in docs:
        by_name[doc["name"]] = by_name.get(doc["name"], 0) + 1
        assert doc["subsegments"][0]["name"] == "life-step"
    if kernel_drops(receiver.port) == 0:
        assert all(by_name[f"life-child-{k}"] == 25 for k in range(4)), by_name
    assert len({d["id"] for d in docs}) == len(docs), "fresh ids in every child"
    assert len({d["trace_id"] for d in docs}) == len(docs)


def test_fork_while_another_thread_flushes_and_another_traces(receiver):
    """A thread that flushes waits without the GIL, holding oxray's locks for moments; a
    thread that traces leaves open entities that CPython frees in the child before any
    after-fork hook. Neither may leave a lock the child then waits on forever."""
    proc, report = run_child(
        """
        import os, threading, time
        from oxray import xray_recorder

        stop = threading.Event()

        def flusher():
            while not stop.is_set():
                xray_recorder.flush(0.01)

        def tracer():
            while not stop.is_set():
                with xray_recorder.in_segment("life-busy", sampling=1):
                    with xray_recorder.in_subsegment("life-busy-step"):
                        time.sleep(0.0002)  # open entities at most forks, at a modest volume

        threads = [threading.Thread(target=flusher), threading.Thread(target=tracer)]
        for t in threads:
            t.start()
        codes = []
        for k in range(100):
            pid = os.fork()
            if pid == 0:
                xray_recorder.begin_segment("life-forked", sampling=1)
                xray_recorder.end_segment()
                os._exit(0 if xray_recorder.flush(10.0) else 3)
            # A hung child hangs this wait: the subprocess timeout is the hang guard.
            codes.append(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
        stop.set()
        for t in threads:
            t.join()
        REPORT["codes"] = codes
        """,
        receiver,
    )
    assert proc.returncode == 0, proc.stderr
    assert report["codes"] == [0] * 100, report["codes"]
    receiver.settle(report["counters"]["sent"] + 100)
    docs = receiver.documents()
    forked = sum(d["name"] == "life-forked" for d in docs)
    assert forked + (kernel_drops(receiver.port) or 0) >= 100
    assert not any(d.get("in_progress") for d in docs), "the child sent none of the parent's open entities"


@pytest.mark.parametrize("attempt", range(3))
def test_daemon_thread_flushing_at_exit_does_not_abort(receiver, attempt):
    """A daemon thread waiting in flush() when the interpreter finalizes (CPython < 3.14 ends
    it with pthread_exit when it takes the GIL back: an abort if that unwinds through Rust)."""
    proc, report = run_child(
        """
        import threading, time
        from oxray import xray_recorder

        rounds = [0]

        def periodic_flusher():
            while True:
                xray_recorder.begin_segment("life-daemon-flush", sampling=1)
                xray_recorder.end_segment()
                xray_recorder.flush(0.05)
                rounds[0] += 1

        threading.Thread(target=periodic_flusher, daemon=True).start()
        while rounds[0] < 100:
            time.sleep(0.005)
        """,
        receiver,
    )
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-500:])


def test_multiprocessing_fork_pool_workers_send_everything(receiver):
    proc, report = run_child(
        """
        import multiprocessing
        from oxray import xray_recorder

        @xray_recorder.capture("life-mp-step")
        def step(i):
            return i * i

        def job(i):
            xray_recorder.begin_segment("life-mp-job", sampling=1)
            try:
                return step(i)
            finally:
                xray_recorder.end_segment()

        xray_recorder.begin_segment("life-mp-parent", sampling=1)
        xray_recorder.end_segment()
        if __name__ == "__main__":
            with multiprocessing.get_context("fork").Pool(3) as pool:
                REPORT["results"] = pool.map(job, range(60), chunksize=5)
                pool.close()
                pool.join()  # workers end normally: no atexit there, only multiprocessing's
        """,
        receiver,
    )
    assert proc.returncode == 0, proc.stderr
    assert report["results"] == [i * i for i in range(60)]
    docs = delivered(receiver, 61)
    assert sorted(d["name"] for d in docs) == ["life-mp-job"] * 60 + ["life-mp-parent"]
    assert len({d["id"] for d in docs}) == 61


@pytest.mark.parametrize("started_in", ["parent", "child"])
def test_multiprocessing_process_that_returns_at_once_sends_everything(receiver, started_in):
    """A multiprocessing child ends with os._exit, not through atexit: what it queued last
    must still go out (multiprocessing's own exit finalizers flush it)."""
    proc, report = run_child(
        f"""
        import multiprocessing
        from oxray import xray_recorder

        def burst():
            for i in range(2000):
                xray_recorder.begin_segment("life-mp-burst", sampling=1)
                xray_recorder.end_segment()

        if "{started_in}" == "parent":
            xray_recorder.begin_segment("life-mp-parent", sampling=1)
            xray_recorder.end_segment()
            xray_recorder.flush()
        if __name__ == "__main__":
            ctx = multiprocessing.get_context("fork")
            child = ctx.Process(target=burst)
            child.start()
            child.join()
            REPORT["exitcode"] = child.exitcode
        """,
        receiver,
    )
    assert proc.returncode == 0 and report["exitcode"] == 0, proc.stderr
    expected = 2000 + (1 if started_in == "parent" else 0)
    docs = delivered(receiver, expected)
    assert sum(d["name"] == "life-mp-burst" for d in docs) + (kernel_drops(receiver.port) or 0) >= 2000


def test_fork_inside_an_open_segment_sends_its_children_once(receiver):
    """Children already closed inside a segment still open at the fork belong to the parent:
    the child's flush must not stream them too."""
    proc, report = run_child(
        """
        import os
        from oxray import xray_recorder

        xray_recorder.begin_segment("life-open-at-fork", sampling=1)
        with xray_recorder.in_subsegment("life-closed-before-fork"):
            pass
        pid = os.fork()
        if pid == 0:
            os._exit(0 if xray_recorder.flush(30.0) else 3)
        REPORT["child"] = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
        xray_recorder.end_segment()
        """,
        receiver,
    )
    assert proc.returncode == 0 and report["child"] == 0, proc.stderr
    docs = delivered(receiver, 1)
    time.sleep(0.5)  # anything the child sent by mistake has arrived by now
    docs = receiver.documents()
    assert [d["name"] for d in docs] == ["life-open-at-fork"], [d["name"] for d in docs]
    assert [s["name"] for s in docs[0]["subsegments"]] == ["life-closed-before-fork"]


def test_exit_with_documents_still_queued(receiver):
    """4 threads produce 10,000 documents and the program ends without flushing."""
    started = time.monotonic()
    proc, report = run_child(
        """
        import threading
        from oxray import xray_recorder

        @xray_recorder.capture("life-queued-step")
        def step(i):
            xray_recorder.put_metadata("payload", {"i": i, "text": "x" * 200})
            return i

        def burst():
            for i in range(2500):
                xray_recorder.begin_segment("life-queued", sampling=1)
                step(i)
                xray_recorder.end_segment()

        threads = [threading.Thread(target=burst) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        import time
        REPORT["main_done"] = time.monotonic()
        REPORT["queued_at_exit"] = xray_recorder.counters()
        # no flush: the interpreter exits with documents still in the sender's queue
        """,
        receiver,
    )
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr
    counters = report["counters"]
    assert counters["sent"] + counters["dropped"] == 10_000, counters
    docs = delivered(receiver, counters["sent"])
    assert all(d["name"] == "life-queued" for d in docs)
    left = 10_000 - report["queued_at_exit"]["sent"] - report["queued_at_exit"]["dropped"]
    print(f"exit: {left} documents still queued when the main thread ended; exit flush and report took ", end="")
    print(f"{report['exit_seconds']:.3f} s; child ran {elapsed:.2f} s; counters {counters}")


def test_atexit_handlers_registered_after_import_are_flushed(receiver):
    proc, report = run_child(
        """
        import atexit
        from oxray import xray_recorder

        def cleanup():  # registered after `import oxray`, before any tracing
            for i in range(3000):
                xray_recorder.begin_segment("life-atexit", sampling=1)
                xray_recorder.end_segment()

        atexit.register(cleanup)
        xray_recorder.begin_segment("life-main", sampling=1)
        xray_recorder.end_segment()
        """,
        receiver,
    )
    assert proc.returncode == 0, proc.stderr
    counters = report["counters"]
    assert counters["sent"] == 3001 and counters["dropped"] == 0, counters
    docs = delivered(receiver, 3001)
    assert sum(d["name"] == "life-atexit" for d in docs) + (kernel_drops(receiver.port) or 0) >= 3000


def test_shutdown_started_from_another_thread(receiver):
    proc, report = run_child(
        """
        import os, signal, threading
        from oxray import xray_recorder

        def worker():
            for i in range(2000):
                with xray_recorder.in_segment("life-worker", sampling=1):
                    with xray_recorder.in_subsegment("life-worker-step"):
                        pass
            os.kill(os.getpid(), signal.SIGINT)  # the worker decides the process is done

        try:  # before the worker starts: it may finish and signal before wait() is reached
            threading.Thread(target=worker).start()
            threading.Event().wait()
        except KeyboardInterrupt:
            REPORT["interrupted"] = True
        """,
        receiver,
    )
    assert proc.returncode == 0, proc.stderr
    assert report["interrupted"] is True
    assert report["counters"]["sent"] == 2000, report["counters"]
    docs = delivered(receiver, 2000)
    assert all(d["subsegments"][0]["name"] == "life-worker-step" for d in docs)


def test_main_returns_while_a_non_daemon_thread_still_traces(receiver):
    proc, report = run_child(
        """
        import threading
        from oxray import xray_recorder

        def worker():
            for i in range(3000):
                xray_recorder.begin_segment("life-late-worker", sampling=1)
                xray_recorder.end_segment()

        threading.Thread(target=worker).start()
        # the main thread ends here; the interpreter waits for the worker, then exits
        """,
        receiver,
    )
    assert proc.returncode == 0, proc.stderr
    assert report["counters"]["sent"] == 3000, report["counters"]
    delivered(receiver, 3000)


def test_daemon_thread_still_tracing_at_exit(receiver):
    proc, report = run_child(
        """
        import threading, time
        from oxray import xray_recorder

        completed = [0]

        def forever():
            while True:
                with xray_recorder.in_segment("life-daemon", sampling=1):
                    with xray_recorder.in_subsegment("life-daemon-step") as sub:
                        sub.put_metadata("n", completed[0])
                completed[0] += 1

        threading.Thread(target=forever, daemon=True).start()
        while completed[0] < 2000:
            time.sleep(0.01)
        REPORT["completed_before_exit"] = completed[0]
        """,
        receiver,
    )
    assert proc.returncode == 0, proc.stderr
    counters = report["counters"]
    before = report["completed_before_exit"]
    # Everything completed before the exit began went out through the exit flush (or was
    # dropped and counted); the daemon thread may have completed more meanwhile.
    assert counters["sent"] + counters["dropped"] >= before, (counters, before)
    receiver.settle(before - counters["dropped"])
    docs = receiver.documents()
    assert len(docs) + (kernel_drops(receiver.port) or 0) + counters["dropped"] >= before
    # Segments; or, when the exit flush caught the daemon thread between ending its step and
    # ending its segment, that step streamed on its own (its segment still open, never ended).
    for d in docs:
        if d["name"] == "life-daemon-step":
            assert d.get("type") == "subsegment" and "parent_id" in d, d
        else:
            assert d["name"] == "life-daemon", d


def test_hanging_sampling_proxy_does_not_hold_the_exit(receiver):
    proxy = SamplingProxy("hang")
    try:
        child = subprocess.Popen(
            [
                sys.executable,
                "-c",
                PRELUDE
                + textwrap.dedent(
                    """
                    from oxray import _runtime, xray_recorder
                    _runtime.recorder()  # starts the sampling thread: it calls the proxy at once
                    sys.stdin.readline()  # until the test saw the call arrive
                    for i in range(100):
                        xray_recorder.begin_segment("life-proxy", sampling=1)
                        xray_recorder.end_segment()
                    """
                ),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "AWS_XRAY_DAEMON_ADDRESS": f"tcp:127.0.0.1:{proxy.port} udp:{receiver.address}",
                "AWS_XRAY_CENTRALIZED_SAMPLING": "true",
            },
        )
        wait_until(lambda: proxy.holding == 1, "the sampling call reached the proxy")
        out, err = child.communicate("go\n", timeout=GUARD_SECONDS * 2)
        # Structural: the child has exited while the proxy still held its call unanswered.
        assert proxy.holding == 1 and not proxy.release.is_set()
        assert child.returncode == 0, err
        (line,) = [line for line in out.splitlines() if line.startswith("RESULT ")]
        counters = json.loads(line[len("RESULT ") :])["counters"]
        assert counters["sent"] == 100 and counters["sampling_errors"] == 0, counters
        delivered(receiver, 100)
    finally:
        proxy.close()
