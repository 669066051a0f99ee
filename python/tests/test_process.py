"""Process-level behaviour, each in a fresh interpreter: flush at exit, fork safety."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest


def run(code: str, daemon, **env):
    full_env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "AWS_XRAY_DAEMON_ADDRESS": daemon.address,
        **env,
    }
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=60,
    )


def test_documents_queued_at_exit_are_flushed(daemon):
    result = run(
        """
        from oxray import xray_recorder
        for i in range(50):
            xray_recorder.begin_segment(f"job-{i}", sampling=1)
            xray_recorder.end_segment()
        """,
        daemon,
    )
    assert result.returncode == 0, result.stderr
    docs = daemon.documents(50)
    assert sorted(d["name"] for d in docs) == sorted(f"job-{i}" for i in range(50))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_fork_child_gets_a_working_sender_and_fresh_ids(daemon):
    result = run(
        """
        import os
        from oxray import xray_recorder
        xray_recorder.begin_segment("parent-before-fork", sampling=1)
        xray_recorder.end_segment()
        xray_recorder.flush()
        pid = os.fork()
        if pid == 0:
            seg = xray_recorder.begin_segment("child", sampling=1)
            xray_recorder.end_segment()
            ok = xray_recorder.flush(5.0)
            os._exit(0 if ok else 3)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, status
        xray_recorder.begin_segment("parent-after-fork", sampling=1)
        xray_recorder.end_segment()
        """,
        daemon,
    )
    assert result.returncode == 0, result.stderr
    docs = daemon.documents(3)
    names = sorted(d["name"] for d in docs)
    assert names == ["child", "parent-after-fork", "parent-before-fork"]
    assert len({d["id"] for d in docs}) == 3 and len({d["trace_id"] for d in docs}) == 3


def test_lambda_handler_flushes_before_returning(daemon):
    # The process is "frozen" (SIGSTOP) right after the handler returns, as Lambda does:
    # the datagram must already be out.
    result = run(
        """
        import os, signal, sys
        from oxray import Tracer
        tracer = Tracer()

        @tracer.capture_method
        def work():
            return 1

        @tracer.capture_lambda_handler
        def handler(event, context):
            return work()

        os.environ["_X_AMZN_TRACE_ID"] = "Root=1-6740c2a1-5f1e2d3c4b5a69788796a5b4;Parent=53995c3f42cd8ad8;Sampled=1"
        handler({}, None)
        del os.environ["_X_AMZN_TRACE_ID"]
        print("returned", flush=True)
        os._exit(0)  # no atexit: only what the handler flushed gets out
        """,
        daemon,
        LAMBDA_TASK_ROOT="/var/task",
        POWERTOOLS_SERVICE_NAME="payment",
    )
    assert result.returncode == 0, result.stderr
    (doc,) = daemon.documents(1)
    assert doc["name"] == "## handler" and len(doc["subsegments"]) == 1
