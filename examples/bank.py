"""The demo's "bank": a local HTTP service the payment handlers call.

``GET /charge?amount=…&card=…`` answers 200 ``{"status": "approved", "authorization": …}``, or
402 ``{"status": "declined", "reason": "insufficient funds"}`` for amounts over 1000. It
listens on 127.0.0.1 (port 0 = any free port), prints ``bank listening on http://…`` once it
accepts connections, and appends one JSON line per request (path and the ``X-Amzn-Trace-Id``
header the traced client sent) to the ``--log`` file, so a test can check propagation.

Usage: python3 examples/bank.py [--port N] [--log FILE]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

DECLINE_ABOVE = 1000.0


class Bank(BaseHTTPRequestHandler):
    log_file: str | None = None

    def do_GET(self) -> None:  # noqa: N802 (the http.server naming)
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        self._log(url.path)
        if url.path != "/charge":
            self._answer(404, {"status": "error", "reason": "no such endpoint"})
            return
        try:
            amount = float(query["amount"][0])
            card = query["card"][0]
        except (KeyError, ValueError):
            self._answer(400, {"status": "error", "reason": "amount and card are required"})
            return
        if amount > DECLINE_ABOVE:
            self._answer(402, {"status": "declined", "reason": "insufficient funds"})
            return
        authorization = hashlib.sha256(f"{card}:{amount}".encode()).hexdigest()[:12]
        self._answer(200, {"status": "approved", "authorization": authorization})

    def _answer(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _log(self, path: str) -> None:
        if self.log_file:
            line = json.dumps({"path": path, "trace_header": self.headers.get("X-Amzn-Trace-Id")})
            with open(self.log_file, "a", encoding="utf-8") as f:
                f.write(line + "\n")

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass  # quiet: the traces show every call


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--log", default=None)
    options = parser.parse_args()
    Bank.log_file = options.log
    server = ThreadingHTTPServer(("127.0.0.1", options.port), Bank)
    print(f"bank listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    sys.exit(0)


if __name__ == "__main__":
    main()
