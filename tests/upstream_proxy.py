"""A fault-injecting HTTP proxy on 127.0.0.1, between a front Reelforge and its upstream.

It forwards every request (long polls included), records each one, and answers from a script
instead when told to: a canned response once (`fail_next`) or a rewritten poll answer.
"""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

Canned = tuple[int, dict[str, str], bytes]


@dataclass(frozen=True)
class Seen:
    method: str
    path: str  # with its query
    at: float  # time.monotonic() on arrival
    status: int  # what the front got back


class FaultProxy:
    def __init__(self, target: str):
        self.target = target
        self.seen: list[Seen] = []
        self._script: list[tuple[str, str, Callable[[], Canned]]] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
                at = time.monotonic()
                canned = proxy._take(self.command, self.path)
                if canned is None:
                    headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                    headers["Host"] = self.headers.get("Host", "")  # so URLs point back here
                    r = httpx.request(
                        self.command,
                        proxy.target + self.path,
                        content=body,
                        headers=headers,
                        timeout=120,
                        trust_env=False,
                    )
                    drop = ("transfer-encoding", "content-length", "connection", "content-encoding")
                    kept = {k: v for k, v in r.headers.items() if k.lower() not in drop}
                    canned = (r.status_code, kept, r.content)
                status, headers, payload = canned
                with proxy._lock:
                    proxy.seen.append(Seen(self.command, self.path, at, status))
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_DELETE = _handle

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def _take(self, method: str, path: str) -> Canned | None:
        with self._lock:
            for n, (m, prefix, answer) in enumerate(self._script):
                if m == method and path.startswith(prefix):
                    del self._script[n]
                    return answer()
        return None

    def fail_next(
        self, method: str, prefix: str, status: int, headers: dict[str, str] | None = None
    ) -> None:
        """Answer the next `method` request under `prefix` with `status` (an error body)."""
        body = json.dumps({"code": "unavailable", "error": f"injected HTTP {status}"}).encode()
        answer = (status, {"Content-Type": "application/json", **(headers or {})}, body)
        self._script.append((method, prefix, lambda: answer))

    def answer_next_poll(self, body: dict) -> None:
        """Answer the next poll (`GET /v1/videos/...`) with 200 and `body`."""
        answer = (200, {"Content-Type": "application/json"}, json.dumps(body).encode())
        self._script.append(("GET", "/v1/videos/", lambda: answer))

    def count(self, method: str, prefix: str) -> int:
        with self._lock:
            return sum(1 for s in self.seen if s.method == method and s.path.startswith(prefix))

    def requests_for(self, upstream_id: str) -> list[Seen]:
        with self._lock:
            return [s for s in self.seen if upstream_id in s.path]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
