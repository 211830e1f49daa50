"""`Client`: the synchronous Reelforge / xAI video client."""

from __future__ import annotations

import datetime
import os
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Unpack

import httpx

from reelforge.client import _flows as flows
from reelforge.client._base import USER_AGENT, BaseClient
from reelforge.client.errors import ApiConnectionError
from reelforge.client.types import (
    EditOptions,
    ExtendOptions,
    GenerateOptions,
    Model,
    Source,
    Video,
    VideoPage,
)

Timeout = float | datetime.timedelta | None
OnProgress = Callable[[Video], Any] | None


class Client(BaseClient):
    """A client for Reelforge's (and xAI's) video REST API.

    `api_key` defaults to `REELFORGE_API_KEY`, then `XAI_API_KEY`; `base_url` to
    `REELFORGE_BASE_URL`, then `http://127.0.0.1:8000`. `timeout` bounds each HTTP request;
    requests answered 429 or 5xx (or not at all) are retried `max_retries` times with backoff,
    honouring `Retry-After` up to `max_retry_wait` seconds.
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        timeout: float = 60.0,
        max_retries: int = 3,
        max_retry_wait: float = 30.0,
        long_poll: int = flows.LONG_POLL_S,
        http_client: httpx.Client | None = None,
    ):
        super().__init__(api_key, base_url, timeout, max_retries, max_retry_wait, long_poll)
        self._http = http_client or httpx.Client(
            base_url=self.base_url, timeout=timeout, headers={"User-Agent": USER_AGENT}
        )
        self.video = Videos(self)
        self.models = Models(self)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # --- running flows ----------------------------------------------------------------------

    def _run(self, flow: flows.Flow, on_progress: OnProgress = None) -> Any:
        result: Any = None
        while True:
            try:
                op = flow.send(result)
            except StopIteration as stop:
                return stop.value
            result = None
            if isinstance(op, flows.Call):
                result = self._send(op)
            elif isinstance(op, flows.Sleep):
                time.sleep(op.seconds)
            elif on_progress is not None:
                on_progress(op.video)

    def _send(self, call: flows.Call) -> httpx.Response:
        attempt = 0
        while True:
            try:
                with ExitStack() as files:
                    response = self._http.request(
                        call.method, call.path, **self._request_args(call, files)
                    )
            except httpx.TransportError as exc:
                if attempt >= self.max_retries:
                    raise ApiConnectionError(f"{call.method} {call.path}: {exc}") from exc
                delay = flows.retry_delay(attempt, None, self.max_retry_wait)
            else:
                if response.status_code not in flows.RETRY_STATUSES or attempt >= self.max_retries:
                    return flows.check(response)
                delay = flows.retry_delay(attempt, response, self.max_retry_wait)
            time.sleep(delay)
            attempt += 1

    def _download(self, video: Video, path: str | os.PathLike[str]) -> Path:
        url = flows.download_url(self.base_url, video)
        target = Path(path)
        part = target.with_name(target.name + ".part")
        attempt = 0
        while True:
            try:
                with self._http.stream("GET", url, timeout=600) as response:
                    retry = response.status_code in flows.RETRY_STATUSES
                    if retry and attempt < self.max_retries:
                        delay = flows.retry_delay(attempt, response, self.max_retry_wait)
                    else:
                        if response.status_code >= 400:
                            response.read()
                            flows.check(response)
                        with open(part, "wb") as out:
                            for chunk in response.iter_bytes(1 << 20):
                                out.write(chunk)
                        part.replace(target)
                        return target
            except httpx.TransportError as exc:
                part.unlink(missing_ok=True)
                if attempt >= self.max_retries:
                    raise ApiConnectionError(f"GET {url}: {exc}") from exc
                delay = flows.retry_delay(attempt, None, self.max_retry_wait)
            time.sleep(delay)
            attempt += 1


class Videos:
    """`client.video`: create, wait for, inspect, cancel and list video jobs."""

    def __init__(self, client: Client):
        self._client = client

    def _pending(self, request_id: str) -> Video:
        return Video(request_id=request_id, status="pending", _client=self._client)

    def start(
        self, prompt: str, model: str | None = None, **options: Unpack[GenerateOptions]
    ) -> Video:
        """Create a job (an edit when `video_url` is given, as in xai-sdk); returns it pending."""
        flow = flows.generate_flow(prompt, model, options, "start")
        return self._pending(self._client._run(flow))

    def edit_start(
        self,
        prompt: str,
        model: str | None = None,
        video_url: Source | None = None,
        **options: Unpack[EditOptions],
    ) -> Video:
        return self._pending(self._client._run(flows.edit_flow(prompt, model, video_url, options)))

    def extend_start(
        self,
        prompt: str,
        model: str | None = None,
        video_url: Source | None = None,
        **options: Unpack[ExtendOptions],
    ) -> Video:
        flow = flows.extend_flow(prompt, model, video_url, options)
        return self._pending(self._client._run(flow))

    def generate(
        self,
        prompt: str,
        model: str | None = None,
        *,
        timeout: Timeout = None,
        on_progress: OnProgress = None,
        **options: Unpack[GenerateOptions],
    ) -> Video:
        """Create a job and wait until its video is ready (see `start` and `wait`)."""
        flow = flows.generate_flow(prompt, model, options, "generate")
        request_id = self._client._run(flow)
        return self.wait(request_id, timeout=timeout, on_progress=on_progress)

    def edit(
        self,
        prompt: str,
        model: str | None = None,
        video_url: Source | None = None,
        *,
        timeout: Timeout = None,
        on_progress: OnProgress = None,
        **options: Unpack[EditOptions],
    ) -> Video:
        """Edit a video (a local path or a URL) and wait for the result."""
        request_id = self._client._run(flows.edit_flow(prompt, model, video_url, options))
        return self.wait(request_id, timeout=timeout, on_progress=on_progress)

    def extend(
        self,
        prompt: str,
        model: str | None = None,
        video_url: Source | None = None,
        *,
        timeout: Timeout = None,
        on_progress: OnProgress = None,
        **options: Unpack[ExtendOptions],
    ) -> Video:
        """Extend a video by `duration` seconds and wait for the result."""
        request_id = self._client._run(flows.extend_flow(prompt, model, video_url, options))
        return self.wait(request_id, timeout=timeout, on_progress=on_progress)

    def get(self, request_id: str) -> Video:
        """The job's status now (never raises for a failed or expired job)."""
        return self._client._run(flows.get_flow(request_id, Video, self._client))

    def wait(
        self, request_id: str | Video, *, timeout: Timeout = None, on_progress: OnProgress = None
    ) -> Video:
        """Wait (long-polling) until the job is done; `on_progress(video)` is called as its
        progress rises. Raises `VideoFailedError`, `VideoExpiredError`, `VideoModeratedError`
        or `VideoTimeoutError` (the job keeps running)."""
        request_id = request_id.request_id if isinstance(request_id, Video) else request_id
        c = self._client
        timeout_s = c._wait_seconds(timeout)
        flow = flows.wait_flow(request_id, timeout_s, on_progress is not None, Video, c)
        return c._run(flow, on_progress)

    def cancel(self, request_id: str) -> Video:
        """Cancel a pending job: it fails with code `cancelled`. 409 `ApiError` if finished."""
        return self._client._run(flows.cancel_flow(request_id, Video, self._client))

    def list(
        self, *, limit: int | None = None, after: str | None = None, status: str | None = None
    ) -> VideoPage:
        """One page of your jobs, newest first; `status` filters, `after` pages on."""
        return self._client._run(flows.list_flow(limit, after, status, Video, self._client))


class Models:
    """`client.models`."""

    def __init__(self, client: Client):
        self._client = client

    def list(self) -> list[Model]:
        return self._client._run(flows.models_flow())
