"""Settings and request building shared by `Client` and `AsyncClient`."""

from __future__ import annotations

import datetime
import mimetypes
from contextlib import ExitStack
from typing import Any

from reelforge.client._flows import (
    DEFAULT_TIMEOUT,
    LONG_POLL_S,
    Call,
    api_key_from,
    base_url_from,
    seconds,
)

USER_AGENT = "reelforge-client/0.1.0"


class BaseClient:
    def __init__(
        self,
        api_key: str | None,
        base_url: str | None,
        timeout: float,
        max_retries: int,
        max_retry_wait: float,
        long_poll: int,
    ):
        self.base_url = base_url_from(base_url)
        self.api_key = api_key_from(api_key)
        self.timeout = timeout
        self.max_retries = max_retries
        self.max_retry_wait = max_retry_wait
        self.long_poll = max(1, min(int(long_poll), 60)) if long_poll else LONG_POLL_S
        # The key goes on API calls only, never on video downloads (signed URLs, maybe elsewhere).
        self._auth = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r})"

    def _request_args(self, call: Call, files: ExitStack) -> dict[str, Any]:
        """httpx.request keyword arguments for `call`; an upload is opened on `files`."""
        args: dict[str, Any] = {
            "params": call.params,
            "json": call.json,
            "headers": {**self._auth, **(call.headers or {})},
        }
        if call.timeout is not None:
            args["timeout"] = call.timeout
        if call.upload is not None:
            mime = mimetypes.guess_type(call.upload.name)[0] or "application/octet-stream"
            handle = files.enter_context(open(call.upload, "rb"))
            args["files"] = {"file": (call.upload.name, handle, mime)}
            args["data"] = call.form
        return args

    def _wait_seconds(self, timeout: float | datetime.timedelta | None) -> float:
        return seconds(timeout, DEFAULT_TIMEOUT)
