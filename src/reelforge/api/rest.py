"""The xAI video REST API: translate HTTP to the service and back. No business rules here."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import math
import signal
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from types import FrameType

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from pydantic import BaseModel
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from reelforge.api.auth import KeyChecker
from reelforge.api.schemas import EditIn, ExtendIn, GenerateIn
from reelforge.api.watch import JobWatcher, State
from reelforge.core.errors import HTTP_CODES, ApiError, invalid
from reelforge.core.spec import EDIT, EXTENSION, GENERATION
from reelforge.files import MAX_FILE_BYTES, MAX_LIST
from reelforge.jobs import janitor
from reelforge.jobs.webhooks import Delivery, DeliveryQueue, WebhookDispatcher
from reelforge.service import JobView, VideoService
from reelforge.storage.base import StorageError

log = logging.getLogger("reelforge.api")

MAX_WAIT_S = 60  # longest long poll (`?wait=`)
KEEPALIVE_S = 15  # an event stream sends a comment this often while nothing changes


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse(
        {"code": HTTP_CODES.get(status, "error"), "error": message}, status_code=status
    )


class BodyLimit:
    """Refuse request bodies over a cap before they are read into memory (413)."""

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD"):
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            return await _error(413, f"request body is larger than {self.max_bytes} bytes")(
                scope, receive, send
            )
        seen = 0

        async def counted() -> dict:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                raise ApiError(413, f"request body is larger than {self.max_bytes} bytes")
            return message

        await self.app(scope, counted, send)


def status_body(view: JobView) -> tuple[int, dict]:
    """The contract's poll response: 202 while pending, 200 once done, failed or expired."""
    if view.status == "pending":
        body: dict = {"status": "pending", "progress": view.progress}
        if view.queue_position is not None:  # Reelforge's own: queued, not yet rendering
            body["queue_position"] = view.queue_position
        return 202, body
    if view.status == "failed":
        return 200, {
            "status": "failed",
            "model": view.model,
            "error": {"code": view.error_code, "message": view.error_message},
        }
    if view.status == "expired":
        return 200, {"status": "expired", "model": view.model}
    return 200, {
        "status": "done",
        "progress": 100,
        "model": view.model,
        "video": {
            "url": view.video_url,
            "duration": view.duration,
            "respect_moderation": view.respect_moderation,
        },
        "usage": {"cost_in_usd_ticks": view.cost_in_usd_ticks},
    }


def list_item(view: JobView) -> dict:
    """One job in `GET /v1/videos`: its id, status and time, plus what its poll body carries."""
    _, body = status_body(view)
    item = {
        "request_id": view.request_id,
        "status": view.status,
        "model": view.model,
        "created_at": int(view.created_at),
        "progress": view.progress,
    }
    item.update((k, body[k]) for k in ("video", "usage", "error") if k in body)
    return item


def _finished(state: State) -> bool:
    return state is None or state[0] != "pending"


def _sse(event: str, data: dict) -> str:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n"


def _fingerprint(kind: str, body: BaseModel) -> str:
    """What makes two create requests "the same" for an Idempotency-Key: endpoint and fields."""
    fields = body.model_dump(mode="json", exclude_unset=True)
    canonical = json.dumps({"endpoint": kind, "body": fields}, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _wait_seconds(raw: str) -> float:
    try:
        seconds = float(raw)
    except ValueError:
        seconds = math.nan
    if not 0 < seconds <= MAX_WAIT_S:  # (NaN fails too)
        raise invalid("wait", f"must be seconds, more than 0 and at most {MAX_WAIT_S}; got {raw!r}")
    return seconds


def _limit(raw: str) -> int:
    if not raw.strip().isdigit():
        raise invalid("limit", f"must be a whole number; got {raw!r}")
    return int(raw)


def _on_stop_signal(callback: Callable[[], None]) -> None:
    """Call `callback` on the event loop when SIGTERM or SIGINT arrives, then let the handler
    already installed (uvicorn's graceful shutdown) go on. Uvicorn waits for open responses
    before anything else stops, so long polls and event streams must hear of it this way."""
    if threading.current_thread() is not threading.main_thread():
        return
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(sig)
        if not callable(previous):  # not under uvicorn's handlers: nothing to chain onto
            continue

        def handler(signum: int, frame: FrameType | None, previous=previous) -> None:
            loop.call_soon_threadsafe(callback)
            previous(signum, frame)

        signal.signal(sig, handler)


def webhook_dispatcher(service: VideoService) -> WebhookDispatcher:
    settings = service.settings

    def body_for(delivery: Delivery) -> dict | None:
        view = service.webhook_view(delivery.job_id, delivery.event, delivery.base_url)
        return None if view is None else {"request_id": delivery.job_id, **status_body(view)[1]}

    return WebhookDispatcher(
        DeliveryQueue(service.store.engine),
        body_for,
        service.webhook_secret,
        allow_private=settings.allow_private_urls,
        attempts=settings.webhook_attempts,
        backoff=settings.webhook_backoff,
        timeout=settings.webhook_timeout,
        concurrency=settings.webhook_concurrency,
    )


def create_app(service: VideoService, keys: KeyChecker) -> FastAPI:
    settings = service.settings
    watcher = JobWatcher(service.store)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        _on_stop_signal(watcher.close)
        tasks = [
            asyncio.create_task(_janitor_loop(service)),
            asyncio.create_task(webhook_dispatcher(service).run()),
        ]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()

    app = FastAPI(
        title="Reelforge",
        version="0.1.0",
        lifespan=lifespan,
        description="A self-hosted server for xAI's video generation API.",
    )
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
            problems.append(f"{where or 'body'}: {err.get('msg')}")
        return _error(422, "; ".join(problems) or "invalid request body")

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(exc.status_code, str(exc.detail))

    def owner(request: Request) -> str:
        return keys.owner(request.headers.get("authorization"))

    @app.get("/health", include_in_schema=False)
    async def health() -> dict:
        return {"status": "ok"}

    def create(kind: str, request: Request, body: GenerateIn | EditIn) -> JSONResponse:
        key = request.headers.get("idempotency-key")
        job_id = service.create(
            owner(request),
            kind,
            body.to_request(),
            webhook_url=body.webhook_url,
            base_url=str(request.base_url),
            idempotency_key=key,
            fingerprint=_fingerprint(kind, body) if key is not None else "",
        )
        return JSONResponse({"request_id": job_id})

    @app.post("/v1/videos/generations", summary="Text-, image- or reference-to-video")
    def generate(request: Request, body: GenerateIn) -> JSONResponse:
        return create(GENERATION, request, body)

    @app.post("/v1/videos/edits", summary="Edit a video")
    def edit(request: Request, body: EditIn) -> JSONResponse:
        return create(EDIT, request, body)

    @app.post("/v1/videos/extensions", summary="Extend a video")
    def extend(request: Request, body: ExtendIn) -> JSONResponse:
        return create(EXTENSION, request, body)

    @app.get("/v1/videos", summary="List your video requests, newest first (Reelforge's own)")
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
    @app.get("/v1/videos/{request_id}", summary="Poll a video request (?wait= to long-poll)")
    async def get_video(request_id: str, request: Request, wait: str | None = None) -> JSONResponse:
        who, base_url = owner(request), str(request.base_url)
        seconds = _wait_seconds(wait) if wait is not None else 0.0
        view = service.view(who, request_id, base_url)
        if seconds and view.status == "pending":
            await watcher.wait(request_id, _finished, seconds)
            view = service.view(who, request_id, base_url)
        status, body = status_body(view)
        return JSONResponse(body, status_code=status)

    @app.get(
        "/v1/videos/{request_id}/events",
        summary="Server-sent events: progress, then done, failed or expired (Reelforge's own)",
    )
    async def video_events(request_id: str, request: Request) -> StreamingResponse:
        who, base_url = owner(request), str(request.base_url)
        first = service.view(who, request_id, base_url)  # a 404 comes before the stream starts

        async def events() -> AsyncIterator[str]:
            view, sent = first, None
            while view.status == "pending":
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

    app.add_api_route(
        "/v1/videos/{request_id}",
        cancel,
        methods=["DELETE"],
        summary="Cancel a pending video request (Reelforge's own)",
    )
    app.add_api_route(
        "/v1/videos/{request_id}/cancel",
        cancel,
        methods=["POST"],
        summary="Cancel a pending video request (Reelforge's own)",
        operation_id="cancel_video_post",
    )

    @app.get("/v1/video-generation-models", summary="List video models")
    def list_models(request: Request) -> dict:
        owner(request)
        return {"models": [m.describe() for m in service.catalog.models.values()]}

    @app.get("/v1/video-generation-models/{model_id}", summary="Describe a video model")
    def get_model(model_id: str, request: Request) -> dict:
        owner(request)
        model = service.catalog.get(model_id)
        if model is None:
            raise ApiError(
                404, f"model '{model_id}' not found; available: {service.catalog.names()}"
            )
        return model.describe()

    # --- Files API ----------------------------------------------------------------------

    @app.post(
        "/v1/files",
        summary="Upload a file (multipart: file, purpose, expires_after)",
        openapi_extra={"requestBody": _UPLOAD_BODY},
    )
    async def upload_file(request: Request) -> JSONResponse:
        who = owner(request)
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_FILE_BYTES + _MULTIPART_OVERHEAD:
            raise ApiError(413, f"file: is larger than the {MAX_FILE_BYTES // 2**20} MiB limit")
        if not request.headers.get("content-type", "").startswith("multipart/form-data"):
            raise invalid("body", "must be multipart/form-data with a 'file' part")
        # python-multipart spools the file to disk past 1 MiB, so memory stays flat.
        async with request.form(max_files=1, max_fields=8, max_part_size=64 * 1024) as form:
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise invalid("file", "is required: send the file as a multipart part named 'file'")
            fields = {k: v for k, v in form.items() if isinstance(v, str)}
            tmp = settings.tmp_dir / f"upload-{uuid.uuid4()}"
            await asyncio.to_thread(_save_upload, upload, tmp)
        try:
            record = await asyncio.to_thread(
                service.files.add,
                who,
                tmp,
                filename=upload.filename,
                purpose=fields.get("purpose"),
                expires_after=_expires_after(fields),
            )
        finally:
            tmp.unlink(missing_ok=True)
        return JSONResponse(record.describe())

    @app.get("/v1/files", summary="List your files, newest first")
    def list_files(
        request: Request, purpose: str | None = None, limit: int = Query(MAX_LIST, ge=1)
    ) -> dict:
        records = service.files.list(owner(request), purpose=purpose, limit=min(limit, MAX_LIST))
        return {"object": "list", "data": [r.describe() for r in records], "has_more": False}

    @app.get("/v1/files/{file_id}", summary="Describe a file")
    def get_file(file_id: str, request: Request) -> dict:
        return service.files.require(owner(request), file_id).describe()

    @app.get("/v1/files/{file_id}/content", summary="Download a file's contents")
    def file_content(file_id: str, request: Request) -> FileResponse:
        record = service.files.require(owner(request), file_id)
        path = service.storage.local_path(record.key)
        if path is not None:
            if not path.is_file():
                raise ApiError(404, f"file_id: no file with id '{file_id}'")
            return FileResponse(path, media_type="application/octet-stream")
        try:  # remote storage: pass the object through in chunks
            body = service.storage.open(record.key)
        except FileNotFoundError:
            raise ApiError(404, f"file_id: no file with id '{file_id}'") from None
        return StreamingResponse(
            _chunks(body),
            media_type="application/octet-stream",
            headers={"content-length": str(record.bytes)},
        )

    @app.delete("/v1/files/{file_id}", summary="Delete a file")
    def delete_file(file_id: str, request: Request) -> dict:
        if not service.files.delete(owner(request), file_id):
            raise ApiError(404, f"file_id: no file with id '{file_id}'")
        return {"id": file_id, "object": "file", "deleted": True}

    @app.get("/v1/media/{key:path}", include_in_schema=False)
    def media(key: str, expires: str | None = None, signature: str | None = None) -> FileResponse:
        try:
            path = service.storage.local_path(key)
        except StorageError:
            raise ApiError(404, "no such file") from None
        if path is None:  # a bucket's presigned URLs point at the bucket, never here
            raise ApiError(404, "no such file")
        if not service.storage.verify(key, expires, signature):  # local storage signed it
            raise ApiError(403, "this URL is invalid or has expired")
        if not path.is_file():
            raise ApiError(404, "this video is no longer available")
        return FileResponse(path, media_type="video/mp4")

    return app


_MULTIPART_OVERHEAD = 1024 * 1024  # room for boundaries, part headers and the text fields
_UPLOAD_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {
                    "file": {"type": "string", "format": "binary"},
                    "purpose": {"type": "string"},
                    "expires_after": {"type": "integer", "minimum": 3600, "maximum": 2592000},
                },
            }
        }
    },
}


def _save_upload(upload: UploadFile, target: Path) -> None:
    """Copy a spooled upload to `target`, refusing it (413) as soon as it passes the cap."""
    target.parent.mkdir(parents=True, exist_ok=True)
    upload.file.seek(0)
    written = 0
    with open(target, "wb") as out:
        while chunk := upload.file.read(1024 * 1024):
            written += len(chunk)
            if written > MAX_FILE_BYTES:
                out.close()
                target.unlink(missing_ok=True)
                raise ApiError(413, f"file: is larger than the {MAX_FILE_BYTES // 2**20} MiB limit")
            out.write(chunk)


def _chunks(body, size: int = 1024 * 1024) -> Iterator[bytes]:
    try:
        while chunk := body.read(size):
            yield chunk
    finally:
        body.close()


def _expires_after(fields: dict[str, str]) -> str | None:
    """`expires_after=N`, or OpenAI's `expires_after[anchor]=created_at` + `[seconds]=N`."""
    if "expires_after" in fields:
        return fields["expires_after"]
    anchor = fields.get("expires_after[anchor]", "created_at")
    if anchor != "created_at":
        raise ApiError(400, "expires_after: the only anchor is 'created_at'", field="expires_after")
    return fields.get("expires_after[seconds]")


async def _janitor_loop(service: VideoService) -> None:
    settings = service.settings
    interval = janitor.interval_for(settings.retention)
    while True:
        try:
            await asyncio.to_thread(
                janitor.sweep,
                service.store,
                service.storage,
                settings.retention,
                idempotency_ttl=settings.idempotency_ttl,
            )
        except Exception:  # keep sweeping; a transient DB error must not end housekeeping
            log.exception("janitor sweep failed")
        await asyncio.sleep(interval)
