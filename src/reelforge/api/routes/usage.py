"""`GET /v1/usage`: the caller's own usage (Reelforge's own; operators use `reelforge usage`)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request

from reelforge.api.routes import Owner
from reelforge.api.schemas import UsageOut
from reelforge.service import VideoService


def router(service: VideoService, owner: Owner) -> APIRouter:
    api = APIRouter()

    @api.get(
        "/v1/usage",
        summary="Your usage: jobs by status, seconds generated and cost (Reelforge's own)",
        response_model=UsageOut,
        response_model_exclude_none=True,
    )
    def get_usage(
        request: Request,
        from_: Annotated[
            str | None,
            Query(alias="from", description="unix seconds or ISO date/time (default: month start)"),
        ] = None,
        to: Annotated[str | None, Query(description="unix seconds or ISO date/time")] = None,
        group_by: Literal["day", "model", "mode"] | None = None,
    ) -> dict:
        return service.usage([owner(request)], since=from_, until=to, group_by=group_by)

    return api
