"""Reelforge's test controls (`serve --scenarios` only): the request journal."""

from __future__ import annotations

from fastapi import APIRouter

from reelforge.api.journal import Journal
from reelforge.core.errors import invalid
from reelforge.core.units import whole_number
from reelforge.service import VideoService


def journal_router(journal: Journal, service: VideoService) -> APIRouter:
    api = APIRouter(tags=["Reelforge test controls"])

    @api.get("/_reelforge/requests", summary="The API calls received (after id `since`)")
    def list_requests(since: str = "0") -> dict:
        if (after := whole_number(since)) is None:
            raise invalid("since", f"must be an entry id (a whole number); got {since!r}")
        return {"object": "list", "data": journal.since(after)}

    @api.delete(
        "/_reelforge/requests",
        summary="Forget the calls received: the journal and the scenarios' attempt counts",
    )
    def clear_requests() -> dict:
        journal.clear()
        service.forget_scenario_counts()
        return {"deleted": True}

    return api
