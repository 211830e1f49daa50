"""`AsyncClient`: the asyncio twin of `Client`, running the same flows."""

from __future__ import annotations

import asyncio
import inspect
import os
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Unpack

import httpx

from reelforge.client import _flows as flows
from reelforge.client._base import USER_AGENT, BaseClient
from reelforge.client._sync import OnProgress, Timeout
from reelforge.client.errors import ApiConnectionError
from reelforge.client.types import (
    AsyncVideo,
    EditOptions,
    ExtendOptions,
    GenerateOptions,
    Model,
    Source,
    Video,
    VideoPage,
)


class AsyncClient(BaseClient):
    """`Client` for asyncio: the same arguments, methods and errors, each method awaited.
    `on_progress` may be a plain function or a coroutine function."""

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        timeout: float = 60.0,
        max_retries: int = 3,
        max_retry_wait: float = 30.0,
        long_poll: int = flows.LONG_POLL_S,
        http_client: httpx.AsyncClient | None = None,
    ):
        super().__init__(api_key, base_url, timeout, max_retries, max_retry_wait, long_poll)
        self._http = http_client or httpx.AsyncClient(
            base_url=self.base_url, timeout=timeout, headers={"User-Agent": USER_AGENT}
        )
        self.video = AsyncVideos(self)
        self.models = AsyncModels(self)

    async def close(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    # --- running flows ----------------------------------------------------------------------

    async def _run(self, flow: flows.Flow, on_progress: OnProgress = None) -> Any:
        result: Any = None
        while True:
            try:
                op = flow.send(result)
            except StopIteration as stop:
                return stop.value
            result = None
            if isinstance(op, flows.Call):
                result = await self._send(op)
            elif isinstance(op, flows.Sleep):
                await asyncio.sleep(op.seconds)
            elif on_progress is not None:
                reported = on_progress(op.video)
                if inspect.isawaitable(reported):
                    await reported

    async def _send(self, call: flows.Call) -> httpx.Response:
        attempt = 0
        while True:
            try:
                with ExitStack() as files:
                    response = await self._http.request(
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
            await asyncio.sleep(delay)
            attempt += 1

    async def _download(self, video: Video, path: str | os.PathLike[str]) -> Path:
        url = flows.download_url(self.base_url, video)
        target = Path(path)
        part = target.with_name(target.name + ".part")
        attempt = 0
        while True:
            try:
                async with self._http.stream("GET", url, timeout=600) as response:
                    retry = response.status_code in flows.RETRY_STATUSES
                    if retry and attempt < self.max_retries:
                        delay = flows.retry_delay(attempt, response, self.max_retry_wait)
                    else:
                        if response.status_code >= 400:
                            await response.aread()
                            flows.check(response)
                        with open(part, "wb") as out:
                            async for chunk in response.aiter_bytes(1 << 20):
                                out.write(chunk)
                        part.replace(target)
                        return target
            except httpx.TransportError as exc:
                part.unlink(missing_ok=True)
                if attempt >= self.max_retries:
                    raise ApiConnectionError(f"GET {url}: {exc}") from exc
                delay = flows.retry_delay(attempt, None, self.max_retry_wait)
            await asyncio.sleep(delay)
            attempt += 1


class AsyncVideos:
    """`client.video` of `AsyncClient`; see `reelforge.client.Videos` for each method."""

    def __init__(self, client: AsyncClient):
        self._client = client

    def _pending(self, request_id: str) -> AsyncVideo:
        return AsyncVideo(request_id=request_id, status="pending", _client=self._client)

    async def start(
        self, prompt: str, model: str | None = None, **options: Unpack[GenerateOptions]
    ) -> AsyncVideo:
        flow = flows.generate_flow(prompt, model, options, "start")
        return self._pending(await self._client._run(flow))

    async def edit_start(
        self,
        prompt: str,
        model: str | None = None,
        video_url: Source | None = None,
        **options: Unpack[EditOptions],
    ) -> AsyncVideo:
        flow = flows.edit_flow(prompt, model, video_url, options)
        return self._pending(await self._client._run(flow))

    async def extend_start(
        self,
        prompt: str,
        model: str | None = None,
        video_url: Source | None = None,
        **options: Unpack[ExtendOptions],
    ) -> AsyncVideo:
        flow = flows.extend_flow(prompt, model, video_url, options)
        return self._pending(await self._client._run(flow))

    async def generate(
        self,
        prompt: str,
        model: str | None = None,
        *,
        timeout: Timeout = None,
        on_progress: OnProgress = None,
        **options: Unpack[GenerateOptions],
    ) -> AsyncVideo:
        request_id = await self._client._run(
            flows.generate_flow(prompt, model, options, "generate")
        )
        return await self.wait(request_id, timeout=timeout, on_progress=on_progress)

    async def edit(
        self,
        prompt: str,
        model: str | None = None,
        video_url: Source | None = None,
        *,
        timeout: Timeout = None,
        on_progress: OnProgress = None,
        **options: Unpack[EditOptions],
    ) -> AsyncVideo:
        request_id = await self._client._run(flows.edit_flow(prompt, model, video_url, options))
        return await self.wait(request_id, timeout=timeout, on_progress=on_progress)

    async def extend(
        self,
        prompt: str,
        model: str | None = None,
        video_url: Source | None = None,
        *,
        timeout: Timeout = None,
        on_progress: OnProgress = None,
        **options: Unpack[ExtendOptions],
    ) -> AsyncVideo:
        request_id = await self._client._run(flows.extend_flow(prompt, model, video_url, options))
        return await self.wait(request_id, timeout=timeout, on_progress=on_progress)

    async def get(self, request_id: str) -> AsyncVideo:
        return await self._client._run(flows.get_flow(request_id, AsyncVideo, self._client))

    async def wait(
        self, request_id: str | Video, *, timeout: Timeout = None, on_progress: OnProgress = None
    ) -> AsyncVideo:
        request_id = request_id.request_id if isinstance(request_id, Video) else request_id
        c = self._client
        timeout_s = c._wait_seconds(timeout)
        flow = flows.wait_flow(request_id, timeout_s, on_progress is not None, AsyncVideo, c)
        return await c._run(flow, on_progress)

    async def cancel(self, request_id: str) -> AsyncVideo:
        return await self._client._run(flows.cancel_flow(request_id, AsyncVideo, self._client))

    async def list(
        self, *, limit: int | None = None, after: str | None = None, status: str | None = None
    ) -> VideoPage:
        flow = flows.list_flow(limit, after, status, AsyncVideo, self._client)
        return await self._client._run(flow)


class AsyncModels:
    def __init__(self, client: AsyncClient):
        self._client = client

    async def list(self) -> list[Model]:
        return await self._client._run(flows.models_flow())
