"""Video requests: create (generate, edit, extend), poll, long-poll, events, list, cancel."""

from __future__ import annotations

import json
import math
import time
from collections.abc import AsyncIterator, Callable

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, StreamingResponse

from reelforge.api.routes import Owner
from reelforge.api.schemas import EditIn, ExtendIn, GenerateIn
from reelforge.api.watch import JobWatcher, State
from reelforge.api.wire import fingerprint, list_item, status_body
from reelforge.core.enums import Status
from reelforge.core.errors import invalid
from reelforge.core.scenario import BODY_FIELD, HEADER
from reelforge.core.spec import EDIT, EXTENSION, GENERATION
from reelforge.core.units import whole_number
from reelforge.service import VideoService

MAX_WAIT_S = 60  # longest long poll (`?wait=`)
KEEPALIVE_S = 15  # an event stream sends a comment this often while nothing changes
THUMBNAIL_REDIRECT_TTL_S = 300  # remote storage: a thumbnail redirects to a URL valid this long


def _finished(state: State) -> bool:
    return state is None or state[0] != Status.PENDING


def _sse(event: str, data: dict) -> str:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n"


def _wait_seconds(raw: str) -> float:
    try:
        seconds = float(raw)
    except ValueError:
        seconds = math.nan
    if not 0 < seconds <= MAX_WAIT_S:  # (NaN fails too)
        raise invalid("wait", f"must be seconds, more than 0 and at most {MAX_WAIT_S}; got {raw!r}")
    return seconds


def _limit(raw: str) -> int:
    if (limit := whole_number(raw)) is None:
        raise invalid("limit", f"must be a whole number; got {raw!r}")
    return limit


def router(service: VideoService, owner: Owner, watcher: JobWatcher) -> APIRouter:
    api = APIRouter()

    def create(kind: str, request: Request, body: GenerateIn | EditIn) -> JSONResponse:
        key = request.headers.get("idempotency-key")
        scenario, where = request.headers.get(HEADER), HEADER
        if scenario is None and body.reelforge_scenario is not None:
            scenario, where = body.reelforge_scenario, BODY_FIELD
        job_id = service.create(
            owner(request),
            kind,
            body.to_request(),
            webhook_url=body.webhook_url,
            base_url=str(request.base_url),
            idempotency_key=key,
            fingerprint=fingerprint(kind, body) if key is not None or scenario else "",
            scenario=scenario,
            scenario_field=where,
        )
        return JSONResponse({"request_id": job_id})

    @api.post("/v1/videos/generations", summary="Text-, image- or reference-to-video")
    def generate(request: Request, body: GenerateIn) -> JSONResponse:
        return create(GENERATION, request, body)

    @api.post("/v1/videos/edits", summary="Edit a video")
    def edit(request: Request, body: EditIn) -> JSONResponse:
        return create(EDIT, request, body)

    @api.post("/v1/videos/extensions", summary="Extend a video")
    def extend(request: Request, body: ExtendIn) -> JSONResponse:
        return create(EXTENSION, request, body)

    # Reelforge's own: `.../estimate` beside each create endpoint takes the same body and
    # answers the price that create would charge, creating nothing.
    def estimator(kind: str, schema: type[GenerateIn | EditIn]) -> Callable[..., dict]:
        def estimate(request: Request, body: GenerateIn) -> dict:
            return {"cost_in_usd_ticks": service.estimate(owner(request), kind, body.to_request())}

        estimate.__annotations__["body"] = schema  # what FastAPI reads the body as
        return estimate

    for kind, path, schema in (
        (GENERATION, "generations", GenerateIn),
        (EDIT, "edits", EditIn),
        (EXTENSION, "extensions", ExtendIn),
    ):
        api.add_api_route(
            f"/v1/videos/{path}/estimate",
            estimator(kind, schema),
            methods=["POST"],
            summary=f"Price a request to /v1/videos/{path} (Reelforge's own)",
            operation_id=f"estimate_{path}",
        )

    # The first frame as a WebP, at the signed URL list items carry (`thumbnail_url`): signed and
    # expiring like the video's URL, so an <img> can show it without the API key.
    @api.get("/v1/videos/{request_id}/thumbnail", summary="A video's poster (Reelforge's own)")
    def thumbnail(
        request_id: str, request: Request, expires: str | None = None, signature: str | None = None
    ):
        key = service.signed_thumbnail(request_id, expires, signature)
        path = service.storage.local_path(key)
        if path is not None:
            return FileResponse(path, media_type="image/webp")
        until = int(time.time() + THUMBNAIL_REDIRECT_TTL_S)
        url = service.storage.signed_url(str(request.base_url), key, until)
        return RedirectResponse(url, status_code=302)

    # Reelforge's own list of xAI-surface jobs; `GET /v1/videos` is the OpenAI surface's list.
    @api.get(
        "/v1/video-requests", summary="List your video requests, newest first (Reelforge's own)"
    )
    def list_videos(
        request: Request, limit: str = "20", after: str | None = None, status: str | None = None
    ) -> dict:
        page = service.list(
            owner(request), str(request.base_url), limit=_limit(limit), after=after, status=status
        )
        return {
            "object": "list",
            "data": [list_item(v) for v in page.views],
            "has_more": page.has_more,
        }

    # Polling is the hot path: one primary-key read, done on the event loop. Handing it to the
    # thread pool instead cost a quarter of the throughput (bench/bench_poll_throughput.py).
    # `?wait=SECONDS` (Reelforge's own) holds the answer until the job leaves pending, or the
    # time is up; the wait costs a future on the shared watcher, not a thread.
    @api.get("/v1/videos/{request_id}", summary="Poll a video request (?wait= to long-poll)")
    async def get_video(request_id: str, request: Request, wait: str | None = None) -> JSONResponse:
        who, base_url = owner(request), str(request.base_url)
        seconds = _wait_seconds(wait) if wait is not None else 0.0
        view = service.view(who, request_id, base_url, poll=True)
        if seconds and view.status == Status.PENDING:
            await watcher.wait(request_id, _finished, seconds)
            view = service.view(who, request_id, base_url)
        status, body = status_body(view)
        return JSONResponse(body, status_code=status)

    @api.get(
        "/v1/videos/{request_id}/events",
        summary="Server-sent events: progress, then done, failed or expired (Reelforge's own)",
    )
    async def video_events(request_id: str, request: Request) -> StreamingResponse:
        who, base_url = owner(request), str(request.base_url)
        first = service.view(who, request_id, base_url)  # a 404 comes before the stream starts

        async def events() -> AsyncIterator[str]:
            view, sent = first, None
            while view.status == Status.PENDING:
                if view.progress != sent:
                    sent = view.progress
                    yield _sse("progress", {"progress": view.progress})
                changed = await watcher.wait(
                    request_id,
                    lambda s, seen=view.progress: _finished(s) or s[1] != seen,
                    KEEPALIVE_S,
                )
                if watcher.closed:
                    return  # the server is stopping: end here; the client reconnects
                if changed:
                    view = service.view(who, request_id, base_url)
                else:
                    yield ": keep-alive\n\n"
            yield _sse(view.status, status_body(view)[1])

        return StreamingResponse(
            events(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    def cancel(request_id: str, request: Request) -> JSONResponse:
        view = service.cancel(owner(request), request_id, str(request.base_url))
        return JSONResponse(status_body(view)[1])

    api.add_api_route(
        "/v1/videos/{request_id}",
        cancel,
        methods=["DELETE"],
        summary="Cancel a pending video request (Reelforge's own)",
    )
    api.add_api_route(
        "/v1/videos/{request_id}/cancel",
        cancel,
        methods=["POST"],
        summary="Cancel a pending video request (Reelforge's own)",
        operation_id="cancel_video_post",
    )
    return api
