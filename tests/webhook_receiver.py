"""A real HTTP webhook receiver on 127.0.0.1 for tests."""

from __future__ import annotations

import hashlib
import hmac
import http.server
import threading
import time
import urllib.parse
from dataclasses import dataclass


@dataclass(frozen=True)
class Received:
    path: str  # with its query
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic() on arrival


class Receiver:
    """POSTs to `/ok` get 204, `/fail` 500, `/flaky` 500 the first time then 204, and `/hang` an
    answer only once released (close() releases it). Any query string is kept but ignored."""

    def __init__(self):
        self.received: list[Received] = []
        self.release = threading.Event()
        self._flaky_seen = 0
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.received.append(
                    Received(self.path, dict(self.headers), body, time.monotonic())
                )
                route = urllib.parse.urlsplit(self.path).path
                status = 204
                if route == "/fail":
                    status = 500
                elif route == "/flaky":
                    receiver._flaky_seen += 1
                    status = 500 if receiver._flaky_seen == 1 else 204
                elif route == "/hang":
                    receiver.release.wait(60)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def to(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]

    def wait_for(self, path: str, count: int = 1, timeout: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(got := self.to(path)) < count:
            assert time.monotonic() < deadline, f"{path}: {len(got)} of {count} requests arrived"
            time.sleep(0.02)
        return got


def verify(secret: bytes, received: Received) -> None:
    """Check a delivery's signature the way a receiver would."""
    timestamp = received.headers["Reelforge-Webhook-Timestamp"]
    assert abs(int(timestamp) - time.time()) < 60
    mac = hmac.new(secret, timestamp.encode() + b"." + received.body, hashlib.sha256)
    assert hmac.compare_digest(
        received.headers["Reelforge-Webhook-Signature"], f"v1={mac.hexdigest()}"
    )
