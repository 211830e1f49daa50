"""Per-request plumbing around every route: rate-limit headers, request ids, metrics, logs.

For the rate-limit headers, the service appends the request bucket of the key that created a job
to a list this middleware puts in a context variable (`service.rate_states`); the headers go on
the response, so every create route, present or future, sends them without code of its own.
"""

from __future__ import annotations

import logging
import time
import uuid

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reelforge.core import metrics
from reelforge.core.logs import event, request_fields
from reelforge.service import rate_states

log = logging.getLogger("reelforge.http")


class RateHeaders:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        states: list = []
        token = rate_states.set(states)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start" and states:
                headers = MutableHeaders(scope=message)
                for name, value in states[-1].headers().items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            rate_states.reset(token)


class Observed:
    """Every HTTP request: an `x-request-id` (the client's, if it sent a sane one), the request
    counter and latency histogram by route template, and one log event when it is answered.

    The request's log fields start with its id; authentication adds the key's name (never the
    secret) and the service the job it created, and every log event during the request has them."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        headers = Headers(scope=scope)
        request_id = headers.get("x-request-id", "")
        if not (0 < len(request_id) <= 128 and request_id.isprintable()):
            request_id = uuid.uuid4().hex
        token = request_fields.set({"request_id": request_id})
        status = 500  # unless a response starts

        async def send_observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)["x-request-id"] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_observed)
        finally:
            elapsed = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            method = scope["method"]
            metrics.http_requests.labels(route, method, str(status)).inc()
            metrics.http_latency.labels(route, method).observe(elapsed)
            job_id = scope.get("path_params", {}).get("request_id")
            event(
                log,
                "request",
                **({"job_id": job_id} if job_id else {}),
                method=method,
                route=route,
                path=scope["path"],
                status=status,
                duration_ms=round(elapsed * 1000, 1),
            )
            request_fields.reset(token)
