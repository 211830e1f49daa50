"""The xAI API's wire shapes for jobs, shared by the REST routes and webhook bodies."""

from __future__ import annotations

import hashlib
import json

from fastapi.responses import JSONResponse
from pydantic import BaseModel

from reelforge.core.enums import Status
from reelforge.core.errors import HTTP_CODES
from reelforge.service import JobView


def error_response(status: int, message: str) -> JSONResponse:
    """A refusal in the contract's `{code, error}` shape."""
    return JSONResponse(
        {"code": HTTP_CODES.get(status, "error"), "error": message}, status_code=status
    )


def status_body(view: JobView) -> tuple[int, dict]:
    """The contract's poll response: 202 while pending, 200 once done, failed or expired."""
    if view.status == Status.PENDING:
        body: dict = {"status": view.status, "progress": view.progress}
        if view.queue_position is not None:  # Reelforge's own: queued, not yet rendering
            body["queue_position"] = view.queue_position
        return 202, body
    if view.status == Status.FAILED:
        return 200, {
            "status": view.status,
            "model": view.model,
            "error": {"code": view.error_code, "message": view.error_message},
        }
    if view.status == Status.EXPIRED:
        return 200, {"status": view.status, "model": view.model}
    return 200, {
        "status": Status.DONE,
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
    if view.thumbnail_url:  # Reelforge's own: the poster, for galleries
        item["thumbnail_url"] = view.thumbnail_url
    return item


def fingerprint(kind: str, body: BaseModel) -> str:
    """What makes two create requests "the same" for an Idempotency-Key: endpoint and fields."""
    fields = body.model_dump(mode="json", exclude_unset=True)
    canonical = json.dumps({"endpoint": kind, "body": fields}, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()
