"""The OpenAI Videos API's routes, under the same `/v1` as the xAI surface.

How one server tells the two apart (README, "OpenAI Videos API"):
- `GET`/`DELETE /v1/videos/{id}`: ids starting `video_` are OpenAI's; any other id goes on to
  the xAI routes (xAI request ids are UUIDs).
- `POST /v1/videos/edits` and `/extensions`: a form body (multipart, as the SDKs send), or a JSON
  body whose `video` has an `id`, is OpenAI's; any other body goes on to the xAI route.
- `POST /v1/videos`, `GET /v1/videos`, `/v1/videos/{id}/content` and `/v1/videos/{id}/remix`
  exist only here.
This router must be included before the xAI routes: it is the first to look at each request.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse
from starlette.routing import Match
from starlette.types import Message, Receive, Scope, Send

from reelforge.api.openai.bodies import FORMS, order_from, read_body, remix_order
from reelforge.api.openai.errors import OpenAIRoute
from reelforge.core.errors import invalid
from reelforge.core.scenario import HEADER
from reelforge.core.units import whole_number
from reelforge.jobs.store import DONE, EXPIRED
from reelforge.jobs.webhooks import NOTHING, Delivery, message_id
from reelforge.jobs.webhooks import Message as WebhookMessage
from reelforge.openai_videos import (
    DEFAULT_LIST_LIMIT,
    POLL_AFTER_MS,
    OpenAIVideos,
    Order,
    Video,
)
from reelforge.service import OPENAI_ID_PREFIX


def video_body(video: Video) -> dict[str, Any]:
    body = dataclasses.asdict(video)
    if body["usage"] is None:  # Reelforge's addition, only once there is a cost to show
        del body["usage"]
    return body


def webhook_message(videos: OpenAIVideos, delivery: Delivery) -> WebhookMessage:
    """`{id: "evt_...", object: "event", created_at, type, data: {id}}`: `video.completed` when a
    job finished with a video, `video.failed` otherwise; OpenAI has no expiry event."""
    if delivery.event == EXPIRED:
        return NOTHING
    video = videos.find(delivery.job_id)  # None once deleted: the event still goes out
    completed = delivery.event == DONE and (video is None or video.status == "completed")
    msg_id = message_id(delivery)
    body = {
        "id": msg_id,
        "object": "event",
        "created_at": int(delivery.created_at),
        "type": "video.completed" if completed else "video.failed",
        "data": {"id": delivery.job_id},
    }
    return WebhookMessage(body, msg_id)


class _OpenAIId(OpenAIRoute):
    """`/v1/videos/{video_id}` for `video_` ids only; other ids fall through to xAI's route."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child = super().matches(scope)
        video_id = child.get("path_params", {}).get("video_id", "")
        if match is not Match.NONE and not video_id.startswith(OPENAI_ID_PREFIX):
            return Match.NONE, {}
        return match, child


class _SharedBody(OpenAIRoute):
    """A path both surfaces serve: OpenAI-shaped bodies are handled here; any other is routed
    again with this route stepping aside, so the xAI route registered after it takes it."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope.get(_NOT_OPENAI):
            return Match.NONE, {}
        return super().matches(scope)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        content_type = dict(scope["headers"]).get(b"content-type", b"").decode("latin-1").lower()
        if content_type.startswith(FORMS):  # xAI's bodies are JSON only
            return await super().handle(scope, receive, send)
        body = b""
        while True:  # JSON: read it all (the xAI route would too), then replay it
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        replay = _replaying(body, receive)
        if _is_openai_json(body):
            return await super().handle(scope, replay, send)
        await scope["app"].router({**scope, _NOT_OPENAI: True}, replay, send)


_NOT_OPENAI = "reelforge.not_openai"  # scope key: this request's body is not OpenAI's


def _is_openai_json(body: bytes) -> bool:
    try:
        parsed = json.loads(body)
    except ValueError:
        return False
    return (
        isinstance(parsed, dict)
        and isinstance(parsed.get("video"), dict)
        and ("id" in parsed["video"])
    )


def _replaying(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _limit(raw: str) -> int:
    if (limit := whole_number(raw)) is None:
        raise invalid("limit", f"must be a whole number; got {raw!r}")
    return limit


def openai_router(videos: OpenAIVideos, owner: Callable[[Request], str]) -> APIRouter:
    router = APIRouter(route_class=OpenAIRoute, tags=["OpenAI Videos API"])

    def base(request: Request) -> str:
        return str(request.base_url)

    def with_header(order: Order, request: Request) -> Order:
        if (scenario := request.headers.get(HEADER)) is not None:
            order.scenario, order.scenario_field = scenario, HEADER
        return order

    def from_body(action: Callable[[str, Order, str], Video]):
        """A route that reads an Order from the body and answers the Video `action` makes."""

        async def handle(request: Request) -> dict:
            who = owner(request)
            order = with_header(order_from(*await read_body(request)), request)
            return video_body(await asyncio.to_thread(action, who, order, base(request)))

        return handle

    router.add_api_route(
        "/v1/videos", from_body(videos.create), methods=["POST"], summary="Create a video (OpenAI)"
    )

    @router.get("/v1/videos", summary="List your videos (OpenAI)")
    def list_videos(
        request: Request,
        after: str | None = None,
        limit: str = str(DEFAULT_LIST_LIMIT),
        order: str = "desc",
    ) -> dict:
        page = videos.list(owner(request), after=after, limit=_limit(limit), order=order)
        data = [video_body(v) for v in page.videos]
        return {
            "object": "list",
            "data": data,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
            "has_more": page.has_more,
        }

    shared = (
        ("edit", "/v1/videos/edits", videos.edit),
        ("extend", "/v1/videos/extensions", videos.extend),
    )
    for name, path, action in shared:
        router.add_api_route(
            path,
            from_body(action),
            methods=["POST"],
            summary=f"{name.title()} a video (OpenAI: a form, or JSON with video.id)",
            route_class_override=_SharedBody,
            operation_id=f"openai_{name}_video",
        )

    @router.post("/v1/videos/{video_id}/remix", summary="Remix a completed video (OpenAI)")
    async def remix(video_id: str, request: Request) -> dict:
        who = owner(request)
        fields, _files = await read_body(request)
        order = with_header(remix_order(fields), request)
        video = await asyncio.to_thread(videos.remix, who, video_id, order, base(request))
        return video_body(video)

    @router.get(
        "/v1/videos/{video_id}/content",
        summary="Download a video, its thumbnail or its spritesheet (OpenAI)",
    )
    def content(video_id: str, request: Request, variant: str = "video"):
        found = videos.content(owner(request), video_id, variant)
        if found.path is not None:  # FileResponse answers Range requests
            return FileResponse(found.path, media_type=found.media_type)
        return RedirectResponse(found.url or "", status_code=302)

    def retrieve(video_id: str, request: Request) -> JSONResponse:
        video = videos.get(owner(request), video_id)
        headers = {"openai-poll-after-ms": str(POLL_AFTER_MS)} if video.pending else None
        return JSONResponse(video_body(video), headers=headers)

    def delete(video_id: str, request: Request) -> dict:
        videos.delete(owner(request), video_id)
        return {"id": video_id, "object": "video.deleted", "deleted": True}

    router.add_api_route(
        "/v1/videos/{video_id}",
        retrieve,
        methods=["GET"],
        summary="Retrieve a video (OpenAI; ids starting video_)",
        route_class_override=_OpenAIId,
        operation_id="openai_retrieve_video",
    )
    router.add_api_route(
        "/v1/videos/{video_id}",
        delete,
        methods=["DELETE"],
        summary="Delete a video and its files (OpenAI; ids starting video_)",
        route_class_override=_OpenAIId,
        operation_id="openai_delete_video",
    )
    return router
