"""The REST application: error shapes, body limits, health, and the routes by resource.

`create_app` gets only what its routes serve; it starts nothing in the background (the janitor
and webhook deliveries are the server's housekeeping, not the API's).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import signal
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from types import FrameType

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from reelforge.api import openapi
from reelforge.api.auth import KeyChecker
from reelforge.api.journal import Journal, JournalMiddleware
from reelforge.api.middleware import Observed, RateHeaders
from reelforge.api.openai.routes import openai_router
from reelforge.api.routes import files, media, models, usage, videos
from reelforge.api.routes.journal import journal_router
from reelforge.api.watch import JobWatcher
from reelforge.api.wire import error_response
from reelforge.core import metrics
from reelforge.core.catalog import Catalog
from reelforge.core.errors import ApiError
from reelforge.files import FileStore
from reelforge.openai_videos import OpenAIVideos
from reelforge.service import VideoService
from reelforge.storage.base import Storage

PLAYGROUND_DIR = Path(__file__).parent / "playground"  # HTML, CSS and JS; no build step


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
            return await error_response(413, f"request body is larger than {self.max_bytes} bytes")(
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


def create_app(
    service: VideoService,
    files_store: FileStore,
    catalog: Catalog,
    storage: Storage,
    keys: KeyChecker,
    *,
    tmp_dir: Path,
    max_body_bytes: int,
    ready: Callable[[], str | None] = lambda: None,
    journal: Journal | None = None,
    playground: bool = False,
    metrics_token: str | None = None,
) -> FastAPI:
    """The REST API over `service` (jobs), `files_store`, `catalog` and local `storage`'s media.

    `ready()` answers `/health/ready`: None when this process can serve, else what is missing.
    With a `journal` (`serve --scenarios`), every call is recorded in it and
    `/_reelforge/requests` reads and clears it.
    `playground`: serve the web playground (static files of this package) at `/playground`, and
    redirect `/` there.
    `metrics_token`: serve `/metrics` to `Authorization: Bearer <token>` (else no /metrics)."""
    watcher = JobWatcher(service.job_states)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        _on_stop_signal(watcher.close)
        yield

    app = FastAPI(
        title="Reelforge",
        version="0.1.0",
        lifespan=lifespan,
        description="A self-hosted server for xAI's video generation API and OpenAI's Videos API.",
    )
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    if journal is not None:  # outside BodyLimit, so that refused bodies are recorded too
        app.add_middleware(JournalMiddleware, journal=journal)
        app.include_router(journal_router(journal, service))
    app.add_middleware(RateHeaders)
    app.add_middleware(Observed)  # outermost: sees every answer

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
            problems.append(f"{where or 'body'}: {err.get('msg')}")
        return error_response(422, "; ".join(problems) or "invalid request body")

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(exc.status_code, str(exc.detail))

    @app.get("/health", include_in_schema=False)
    async def health() -> dict:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @app.get("/health/ready", include_in_schema=False)
    async def health_ready() -> JSONResponse:
        """Readiness: 503 until the database and storage answer."""
        problem = await asyncio.to_thread(ready)
        if problem is not None:
            return JSONResponse({"status": "unavailable", "reason": problem}, status_code=503)
        return JSONResponse({"status": "ready"})

    if metrics_token:
        registry = service.metrics_registry()

        @app.get("/metrics", include_in_schema=False)
        async def prometheus(request: Request) -> Response:
            """Prometheus' text format, for the holder of the metrics token only."""
            given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
            if not hmac.compare_digest(given.encode(), metrics_token.encode()):
                return error_response(401, "metrics: send 'Authorization: Bearer <metrics token>'")
            body, content_type = await asyncio.to_thread(metrics.exposition, registry)
            return Response(body, media_type=content_type)

    def owner(request: Request) -> str:
        return keys.owner(request.headers.get("authorization"))

    # First, so that it sees each request before the xAI routes (see api/openai/routes.py).
    openai_api = openai_router(OpenAIVideos(service), owner)
    app.include_router(openai_api)
    app.include_router(videos.router(service, owner, watcher))
    app.include_router(models.router(catalog, owner))
    app.include_router(files.router(files_store, owner, tmp_dir))
    app.include_router(usage.router(service, owner))
    app.include_router(media.router(storage))
    if playground:
        app.mount("/playground", StaticFiles(directory=PLAYGROUND_DIR, html=True), "playground")

        @app.get("/", include_in_schema=False)
        async def root() -> RedirectResponse:
            return RedirectResponse("/playground/")

    openapi.install(app, openai_api)
    return app
