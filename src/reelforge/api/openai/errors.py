"""OpenAI's error object, `{"error": {"message", "type", "param", "code"}}`, for every error a
route of this surface raises; the xAI surface keeps its own shape."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from reelforge.core.errors import ApiError

log = logging.getLogger("reelforge.api.openai")

# The `code` of an error that names none itself, by HTTP status.
CODES = {
    400: "invalid_value",
    401: "invalid_api_key",
    403: "permission_denied",
    404: "not_found",
    409: "conflict",
    413: "request_too_large",
    422: "invalid_request_body",
    429: "rate_limit_exceeded",
}


def error_response(status: int, message: str, param: str | None, code: str | None) -> JSONResponse:
    if status == 429:
        kind = "requests"  # what OpenAI sends for request-rate limits
    elif status >= 500:
        kind = "server_error"
    else:
        kind = "invalid_request_error"
    code = code or CODES.get(status, "server_error")
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return JSONResponse(body, status_code=status)


def _response_for(exc: Exception) -> JSONResponse:
    if isinstance(exc, ApiError):
        code = getattr(exc, "openai_code", None)
        if code is None and exc.status == 404 and exc.field == "model":
            code = "model_not_found"
        response = error_response(exc.status, exc.message, exc.field, code)
        response.headers.update(exc.headers)
        if exc.retryable:  # nothing was created: the SDK's retries are safe and wanted
            response.headers["x-should-retry"] = "true"
        return response
    if isinstance(exc, RequestValidationError):
        problems = [
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors()
        ]
        return error_response(422, "; ".join(problems) or "invalid request", None, None)
    if isinstance(exc, HTTPException):
        return error_response(exc.status_code, str(exc.detail), None, None)
    log.error("unexpected error on the OpenAI surface", exc_info=exc)
    return error_response(500, "the server failed to handle this request", None, None)


class OpenAIRoute(APIRoute):
    """A route of this surface: whatever it raises leaves as OpenAI's error object.

    `x-should-retry: false` goes with a 5xx answer to a POST (the SDKs retry 5xx without an
    idempotency key, and the job may already be queued, so a retry could make a second one) and
    with a 409 (a video not ready yet: the SDK's quick retries would only be refused again).
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as exc:
                response = _response_for(exc)
                status = response.status_code
                unsafe = status >= 500 and request.method == "POST"
                if (status == 409 or unsafe) and "x-should-retry" not in response.headers:
                    response.headers["x-should-retry"] = "false"
                return response

        return handle
