"""The model catalog: what each model can do and what it costs."""

from __future__ import annotations

from fastapi import APIRouter, Request

from reelforge.api.routes import Owner
from reelforge.core.catalog import Catalog
from reelforge.core.errors import ApiError


def router(catalog: Catalog, owner: Owner) -> APIRouter:
    api = APIRouter()

    @api.get("/v1/video-generation-models", summary="List video models")
    def list_models(request: Request) -> dict:
        owner(request)
        return {"models": [m.describe() for m in catalog.models.values()]}

    @api.get("/v1/video-generation-models/{model_id}", summary="Describe a video model")
    def get_model(model_id: str, request: Request) -> dict:
        owner(request)
        model = catalog.get(model_id)
        if model is None:
            raise ApiError(404, f"model '{model_id}' not found; available: {catalog.names()}")
        return model.describe()

    return api
