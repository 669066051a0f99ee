"""Fault injection against the installed package, over real sockets on 127.0.0.1: a daemon
that is down, daemon addresses that are garbage, a receiver that stops reading, a send queue
that overflows, and a centralized-sampling proxy that hangs, fails or answers garbage.

Each test checks that the traced program's results are unchanged, that no exception reaches it,
and that ``xray_recorder.counters()`` accounts for every document (with the receiver's own
kernel drop counter for what a full socket buffer lost). No test bounds wall-clock time: the
hanging proxy is shown to be off the request path structurally (every request completes while
the proxy still holds its connection open). Waits carry generous limits only as hang guards.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import pytest

from conftest import FRAME, SERVER_MODE_ENV, check_document, reset_oxray
from oxray import _core, _runtime, xray_recorder
from oxray.middleware import XRayWSGIMiddleware

#: Hang guard for waits on background activity (never a performance bound).
GUARD_SECONDS = 60.0


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + GUARD_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"hang guard: {what} did not happen within {GUARD_SECONDS} s")
        time.sleep(0.01)


# -- the receiving side ------------------------------------------------------------------------


def kernel_drops(port: int) -> Optional[int]:
    """The kernel's drop counter for the UDP socket bound to 127.0.0.1:port (Linux only)."""
    try:
        lines = Path("/proc/net/udp").read_text().splitlines()[1:]
    except OSError:
        return None
    wanted = "0100007F:%04X" % port
    for line in lines:
        fields = line.split()
        if fields[1] == wanted:
            return int(fields[-1])
    return None


class Receiver:
    """A UDP socket on 127.0.0.1 standing where the daemon stands. ``reading=False`` makes a
    daemon that stopped reading: with a tiny receive buffer it fills after a few datagrams and
    the kernel drops the rest (counted in /proc/net/udp)."""

    def __init__(self, rcvbuf: int = 8 * 1024 * 1024, reading: bool = True) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"
        self.datagrams: List[bytes] = []
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        if reading:
            self.sock.settimeout(0.1)
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.datagrams.append(self.sock.recv(70_000))
            except socket.timeout:
                continue
            except OSError:
                return

    def drain(self) -> None:
        """Reads what the socket buffer holds now (for a receiver that was not reading)."""
        self.sock.setblocking(False)
        while True:
            try:
                self.datagrams.append(self.sock.recv(70_000))
            except BlockingIOError:
                return

    def documents(self) -> List[Dict[str, Any]]:
        docs = []
        for datagram in list(self.datagrams):
            assert datagram.startswith(FRAME), datagram[:60]
            docs.append(check_document(datagram[len(FRAME) :].decode()))
        return docs

    def settle(self, expected: int) -> None:
        """Waits for ``expected`` datagrams (hang guard), then reads the kernel's drops."""
        wait_until(lambda: len(self.datagrams) + (kernel_drops(self.port) or 0) >= expected, "delivery")

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.sock.close()


@pytest.fixture
def server_env(monkeypatch):
    """Outside Lambda, no configuration but what each test sets."""
    for key in SERVER_MODE_ENV:
        monkeypatch.delenv(key, raising=False)
    reset_oxray()
    yield monkeypatch
    _runtime.flush(5.0)
    reset_oxray()


def use_daemon(monkeypatch: pytest.MonkeyPatch, address: str) -> None:
    monkeypatch.setenv("AWS_XRAY_DAEMON_ADDRESS", address)
    _runtime.swap(None)


# -- the traced program ------------------------------------------------------------------------


@xray_recorder.capture("faults-price")
def price(order: int) -> Dict[str, Any]:
    xray_recorder.put_annotation("order", order)
    xray_recorder.put_metadata("order", {"id": order, "lines": [order, order + 1]})
    return {"order": order, "total": order * 3 + 1}


def untraced_price(order: int) -> Dict[str, Any]:
    return {"order": order, "total": order * 3 + 1}


def traced_orders(count: int, first: int = 0) -> List[Dict[str, Any]]:
    """``count`` sampled segments, each with one subsegment: one document each."""
    results = []
    for order in range(first, first + count):
        xray_recorder.begin_segment("faults-orders", sampling=1)
        try:
            results.append(price(order))
        finally:
            xray_recorder.end_segment()
    return results


def sent_or_dropped() -> int:
    c = xray_recorder.counters()
    return c["sent"] + c["dropped"]


# -- the daemon side ---------------------------------------------------------------------------


def test_daemon_down_is_counted_and_never_raised(server_env):
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now: every send earns an ICMP port unreachable
    use_daemon(server_env, f"127.0.0.1:{port}")
    assert traced_orders(500) == [untraced_price(i) for i in range(500)]
    assert xray_recorder.flush(GUARD_SECONDS)
    counters = xray_recorder.counters()
    assert counters["sent"] + counters["dropped"] == 500, counters
    # The kernel reports each refusal on the next send: the counters show the daemon is down.
    assert counters["send_errors"] > 0, counters


GARBAGE_ADDRESSES = [
    "",
    "   ",
    "garbage",
    "127.0.0.1",
    "127.0.0.1:",
    ":2000",
    "127.0.0.1:70000",
    "127.0.0.1:0",
    "127.0.0.1:-1",
    "300.1.1.1:2000",
    "tcp:127.0.0.1:2000",
    "udp:127.0.0.1:2000 udp:127.0.0.1:2001",
    "tcp:127.0.0.1:2000 udp:",
    "[::1",
    "café:2000",
    "127.0.0.1:2000\n127.0.0.1:2001",
    "x" * 10_000 + ":2000",
]


@pytest.mark.parametrize("address", GARBAGE_ADDRESSES, ids=lambda a: repr(a)[:30])
def test_garbage_daemon_address_is_logged_and_tracing_goes_on(server_env, caplog, address):
    use_daemon(server_env, address)
    with caplog.at_level(logging.WARNING, logger="oxray"):
        assert traced_orders(20) == [untraced_price(i) for i in range(20)]
        assert xray_recorder.flush(GUARD_SECONDS)
    assert _runtime.recorder().daemon_address == "127.0.0.1:2000", "the default is kept"
    assert any("AWS_XRAY_DAEMON_ADDRESS" in r.getMessage() for r in caplog.records)
    assert sent_or_dropped() == 20


def test_non_utf8_daemon_address_is_logged(server_env, caplog):
    use_daemon(server_env, "\udcff:2000")  # a lone surrogate: how Python shows a non-UTF-8 environ byte
    with caplog.at_level(logging.WARNING, logger="oxray"):
        assert traced_orders(5) == [untraced_price(i) for i in range(5)]
        assert xray_recorder.flush(GUARD_SECONDS)
    assert _runtime.recorder().daemon_address == "127.0.0.1:2000" and sent_or_dropped() == 5
    assert any("AWS_XRAY_DAEMON_ADDRESS" in r.getMessage() for r in caplog.records)


def test_garbage_address_given_to_configure_is_logged(server_env, caplog):
    with caplog.at_level(logging.WARNING, logger="oxray"):
        xray_recorder.configure(daemon_address="not:an:address")
        assert traced_orders(5) == [untraced_price(i) for i in range(5)]
        assert xray_recorder.flush(GUARD_SECONDS)
    assert any("configur" in r.getMessage() for r in caplog.records), [r.getMessage() for r in caplog.records]
    assert sent_or_dropped() == 5
    # The refused setting is not kept around to spoil the next, valid, configuration.
    xray_recorder.configure(sampling=False)
    sampled = []
    for _ in range(20):
        sampled.append(xray_recorder.begin_segment("faults-probe").sampled)
        xray_recorder.end_segment()
    assert all(sampled), "configure(sampling=False) samples every trace"


@pytest.mark.skipif(kernel_drops(0) is None and not Path("/proc/net/udp").exists(), reason="needs /proc/net/udp")
def test_receiver_that_stopped_reading(server_env):
    """The daemon's socket buffer is full: the kernel drops what does not fit. oxray cannot
    see those drops (UDP); it counts every document it handed to the socket, and the
    receiver's kernel counter accounts for the rest, to the datagram."""
    deaf = Receiver(rcvbuf=1024, reading=False)
    try:
        use_daemon(server_env, deaf.address)
        total = 2000
        assert traced_orders(total) == [untraced_price(i) for i in range(total)]
        assert xray_recorder.flush(GUARD_SECONDS)
        counters = xray_recorder.counters()
        assert counters["sent"] + counters["dropped"] == total, counters
        deaf.drain()
        drops = kernel_drops(deaf.port)
        assert drops is not None and drops > 0, "the buffer never filled: the fault was not injected"
        assert len(deaf.datagrams) + drops == counters["sent"], (len(deaf.datagrams), drops, counters)
        for doc in deaf.documents():
            assert doc["name"] == "faults-orders"
    finally:
        deaf.close()


def test_send_queue_overflow_drops_and_counts(server_env):
    """A one-document queue overflows under four producing threads: the producers never wait,
    and sent + dropped equals what they produced; the receiver got exactly what was sent."""
    receiver = Receiver()
    try:
        use_daemon(server_env, receiver.address)
        _runtime.reconfigure(queue_capacity=1)
        produced = 0
        results: List[List[Dict[str, Any]]] = []
        for _ in range(20):  # bursts until the queue overflowed at least once
            burst: List[List[Dict[str, Any]]] = [[] for _ in range(4)]

            def produce(into: List[List[Dict[str, Any]]], slot: int, first: int) -> None:
                into[slot] = traced_orders(250, first)

            threads = [threading.Thread(target=produce, args=(burst, i, produced + 250 * i)) for i in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            results.extend(burst)
            produced += 1000
            assert xray_recorder.flush(GUARD_SECONDS)
            if xray_recorder.counters()["dropped"] > 0:
                break
        counters = xray_recorder.counters()
        assert counters["dropped"] > 0, "the queue never overflowed: the fault was not injected"
        assert counters["sent"] + counters["dropped"] == produced, counters
        assert sorted(r["order"] for chunk in results for r in chunk) == list(range(produced))
        receiver.settle(counters["sent"])
        drops = kernel_drops(receiver.port) or 0
        assert len(receiver.datagrams) + drops == counters["sent"]
        assert len({d["id"] for d in receiver.documents()}) == len(receiver.datagrams)
    finally:
        receiver.close()


# -- the sampling proxy ------------------------------------------------------------------------


class SamplingProxy:
    """The daemon's TCP sampling proxy, misbehaving one way: ``hang`` (reads the request and
    holds the connection without answering until released), ``500``, ``garbage`` (200 with a
    body that is not JSON), ``close`` (closes without answering), ``noise`` (bytes that are not
    HTTP)."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.1)
        self.port = self.listener.getsockname()[1]
        self.requests: List[str] = []
        self.holding = 0
        self.release = threading.Event()
        self._closed = threading.Event()
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _read_request(self, conn: socket.socket) -> str:
        conn.settimeout(GUARD_SECONDS)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        while len(body) < length:
            chunk = conn.recv(65536)
            if not chunk:
                break
            body += chunk
        return head.split(b"\r\n")[0].decode("latin-1")

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            try:
                line = self._read_request(conn)
            except OSError:
                return
            with self._lock:
                self.requests.append(line)
            if self.mode == "hang":
                with self._lock:
                    self.holding += 1
                self.release.wait()
                with self._lock:
                    self.holding -= 1
                return
            answers = {
                "500": b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 5\r\nConnection: close\r\n\r\nerror",
                "garbage": b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 14\r\n"
                b'Connection: close\r\n\r\n{"Sampling": [',
                "noise": b"\x00\xff\xfe not http at all \r\n\r\n\x01",
            }
            if self.mode in answers:
                try:
                    conn.sendall(answers[self.mode])
                except OSError:
                    pass

    def close(self) -> None:
        self.release.set()
        self._closed.set()
        self.listener.close()


def app(environ: Dict[str, Any], start_response: Any) -> List[bytes]:
    result = price(int(environ["PATH_INFO"].rsplit("/", 1)[-1]))
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(result).encode()]


def serve(middleware: Any, order: int) -> tuple:
    """One request through the middleware as a WSGI server makes it, asking for the decision."""
    environ = {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": f"/orders/{order}",
        "QUERY_STRING": "",
        "SERVER_NAME": "shop.example.org",
        "SERVER_PORT": "80",
        "HTTP_HOST": "shop.example.org",
        "HTTP_X_AMZN_TRACE_ID": "Sampled=?",
        "REMOTE_ADDR": "192.0.2.10",
        "wsgi.url_scheme": "http",
    }
    started: List[Any] = []
    body = middleware(environ, lambda status, headers, exc_info=None: started.append((status, headers)))
    try:
        payload = b"".join(body)
    finally:
        close = getattr(body, "close", None)
        if close is not None:
            close()
    status, headers = started[0]
    trace_header = dict(headers)["X-Amzn-Trace-Id"]
    return status, json.loads(payload), trace_header.endswith(";Sampled=1")


def closed_port() -> int:
    probe = socket.create_server(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


@pytest.mark.parametrize("mode", ["refused", "500", "garbage", "close", "noise", "hang"])
def test_sampling_proxy_faults_stay_off_the_request_path(server_env, mode):
    proxy = None if mode == "refused" else SamplingProxy(mode)
    receiver = Receiver()
    try:
        tcp_port = closed_port() if proxy is None else proxy.port
        server_env.setenv("AWS_XRAY_CENTRALIZED_SAMPLING", "true")
        use_daemon(server_env, f"tcp:127.0.0.1:{tcp_port} udp:{receiver.address}")
        middleware = XRayWSGIMiddleware(app, name="faults-shop")
        _runtime.recorder()  # starts the sampling thread, which asks for the rules at once
        if proxy is not None:
            wait_until(lambda: len(proxy.requests) >= 1, "the first GetSamplingRules call")
            assert proxy.requests[0].startswith("POST /GetSamplingRules ")
        if mode != "hang":
            wait_until(lambda: xray_recorder.counters()["sampling_errors"] >= 1, "a counted sampling error")

        answers = [serve(middleware, order) for order in range(300)]

        assert [(status, body) for status, body, _ in answers] == [
            ("200 OK", untraced_price(order)) for order in range(300)
        ]
        if mode == "hang":
            # Structural bound: all 300 requests were decided while the proxy call was still
            # outstanding, so no request waited for it.
            assert proxy is not None and proxy.holding == 1 and not proxy.release.is_set()
            assert xray_recorder.counters()["sampling_errors"] == 0
            proxy.release.set()  # the proxy closes without answering: an error, counted
            wait_until(lambda: xray_recorder.counters()["sampling_errors"] >= 1, "a counted sampling error")
        sampled = sum(1 for _, _, was_sampled in answers if was_sampled)
        assert 1 <= sampled < 300, "the local default rules decide while the proxy fails"
        assert xray_recorder.flush(GUARD_SECONDS)
        counters = xray_recorder.counters()
        assert counters["sent"] + counters["dropped"] == sampled, counters
        receiver.settle(counters["sent"])
        docs = receiver.documents()
        assert len(docs) + (kernel_drops(receiver.port) or 0) == counters["sent"]
        assert all(d["name"] == "faults-shop" and d["subsegments"][0]["name"] == "faults-price" for d in docs)
    finally:
        receiver.close()
        if proxy is not None:
            proxy.close()


def test_sampling_errors_are_in_the_counters_api():
    names = set(xray_recorder.counters())
    assert names == {"sent", "dropped", "truncated", "streamed", "send_errors", "warnings", "sampling_errors"}
    assert set(_core.Recorder('{"emit_mode": "memory"}').counters()) == names
