"""Per-request plumbing around every route: the caller's rate-limit headers.

The service appends the request bucket of whichever key created a job to a list this middleware
puts in a context variable (`service.rate_states`); the headers go on the response, so every
create route, present or future, sends them without code of its own.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reelforge.service import rate_states


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
