"""Errors in the contract's two shapes.

`ApiError` is a synchronous refusal, sent as HTTP status + `{"code", "error"}`.
`JobError` is an asynchronous failure, stored on the job and shown as
`status: "failed"` + `error{code, message}` with one of the contract's `VideoError` codes.
"""

from __future__ import annotations

# VideoError codes from the contract (OAS `VideoErrorCode`).
INVALID_ARGUMENT = "invalid_argument"
PERMISSION_DENIED = "permission_denied"
FAILED_PRECONDITION = "failed_precondition"
SERVICE_UNAVAILABLE = "service_unavailable"
INTERNAL_ERROR = "internal_error"
# Reelforge's own: the client cancelled the job (DELETE /v1/videos/{id}).
CANCELLED = "cancelled"
# Reelforge's own: content moderation is on but could not run (a model missing or crashing), so
# the job fails rather than release an unchecked video. Sent as is over REST and gRPC.
MODERATION_UNAVAILABLE = "moderation_unavailable"

# Reelforge's own: an `upstream` engine's result expired (upstream `expired`, or its video URL
# stopped serving the file) before it could be stored here.
UPSTREAM_EXPIRED = "upstream_expired"

# Synchronous error codes, by HTTP status.
HTTP_CODES = {
    400: "invalid-argument",
    401: "unauthenticated",
    403: "permission-denied",
    404: "not-found",
    409: "conflict",
    413: "payload-too-large",
    422: "invalid-argument",
    429: "resource-exhausted",
    500: "internal",
    503: "unavailable",
}


class ApiError(Exception):
    """A request refused before it became a job."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        field: str | None = None,
        headers: dict[str, str] | None = None,
        retryable: bool = False,
    ):
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field
        self.headers = headers or {}  # sent with the answer (e.g. Retry-After)
        self.retryable = retryable  # nothing happened: the same request may simply be sent again

    @property
    def code(self) -> str:
        return HTTP_CODES.get(self.status, "invalid-argument")

    def body(self) -> dict[str, str]:
        return {"code": self.code, "error": self.message}


def invalid(field: str, message: str) -> ApiError:
    """A 400 that names the offending field."""
    return ApiError(400, f"{field}: {message}", field=field)


class JobError(Exception):
    """A job that was accepted but cannot finish; becomes `status: failed`."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


class InputError(Exception):
    """A user-supplied input is unusable; `field` names it the way the request body does.

    Raised where inputs are fetched, sniffed and probed; callers make it a 400 at request time or
    an `invalid_argument` job failure at render time."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(field, message)
        self.field = field
        self.message = message

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"
