"""Local servers for the patch tests: a plain HTTP server and an AWS stand-in.

The AWS stand-in is a tiny HTTP server answering DynamoDB-, SQS- and S3-shaped responses
(enough for botocore to parse); it is not AWS, only a local endpoint URL for botocore."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Dict, List


class Recorded:
    def __init__(self) -> None:
        self.requests: List[Dict[str, str]] = []


class _Handler(BaseHTTPRequestHandler):
    server: LocalServer

    def log_message(self, *args) -> None:  # quiet
        pass

    def _record(self) -> bytes:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.recorded.requests.append(
            {
                "method": self.command,
                "path": self.path,
                **{k.lower(): v for k, v in self.headers.items()},
            }
        )
        return body

    def _send(self, status: int, body: bytes, headers: Dict[str, str]) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        body = self._record()
        if self.server.aws:
            self._aws(body)
            return
        status = {"/fail": 500, "/missing": 404, "/throttle": 429}.get(self.path.split("?")[0], 200)
        self._send(status, b'{"ok": true}', {"content-type": "application/json"})

    def _aws(self, body: bytes) -> None:
        target = self.headers.get("x-amz-target", "")
        rid = {"x-amzn-requestid": "req-0001", "x-amz-request-id": "req-0001"}
        if target.startswith("DynamoDB_20120810."):
            params = json.loads(body or b"{}")
            if params.get("TableName") == "missing":
                err = {
                    "__type": "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException",
                    "message": "no table",
                }
                self._send(
                    400,
                    json.dumps(err).encode(),
                    {"content-type": "application/x-amz-json-1.0", **rid},
                )
                return
            answer = {"Item": {"id": {"S": "1"}}} if target.endswith("GetItem") else {}
            self._send(
                200,
                json.dumps(answer).encode(),
                {"content-type": "application/x-amz-json-1.0", **rid},
            )
        elif target.startswith("AmazonSQS."):
            if target.endswith("ReceiveMessage"):
                answer = {
                    "Messages": [
                        {
                            "MessageId": "m1",
                            "ReceiptHandle": "r",
                            "Body": "hi",
                            "MD5OfBody": "49f68a5c8493ec2c0bf489821c21fc3b",
                        }
                    ]
                }
            else:
                answer = {"MessageId": "m1", "MD5OfMessageBody": "49f68a5c8493ec2c0bf489821c21fc3b"}
            self._send(
                200,
                json.dumps(answer).encode(),
                {"content-type": "application/x-amz-json-1.0", **rid},
            )
        else:  # S3 GetObject / PutObject
            self._send(
                200,
                b"stream-body-bytes",
                {"content-type": "application/octet-stream", "etag": '"e"', **rid},
            )


class LocalServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, aws: bool = False) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.aws = aws
        self.recorded = Recorded()
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return "http://127.0.0.1:%d" % self.server_address[1]

    def close(self) -> None:
        self.shutdown()
        self.server_close()
