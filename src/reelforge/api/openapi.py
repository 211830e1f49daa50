"""A complete `/openapi.json`: every operation's success bodies, and the refusals it can answer
in the contract's `{code, error}` shape.

Routes answer with JSONResponse (the contract's 200/202 split needs it), so FastAPI cannot see
their bodies; the table below says what each returns. Refusals are added by rule, so a route
added later is described correctly without an entry of its own: every operation may answer 400,
401, 404 and 422 (a GET also 403: signed URLs); a POST or DELETE also 409 and 413; a POST under
/v1/videos (a create) also 429 with Retry-After, and its 200 carries the x-ratelimit-* headers.
The OpenAI surface's routes refuse in OpenAI's `{"error": {...}}` shape (or the xAI one, for the
xAI-shaped requests they pass on).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import TypeAdapter

from reelforge.api import schemas as s

JSON = "application/json"
REF = "#/components/schemas/{model}"

# (method, path) -> {status: model, or (media type, schema)}
SUCCESS: dict[tuple[str, str], dict[str, Any]] = {
    ("post", "/v1/videos/generations"): {"200": s.CreatedOut},
    ("post", "/v1/videos/edits"): {"200": s.CreatedOut},
    ("post", "/v1/videos/extensions"): {"200": s.CreatedOut},
    ("get", "/v1/video-requests"): {"200": s.VideoListOut},
    ("get", "/v1/videos/{request_id}"): {"200": s.FinishedOut, "202": s.PendingOut},
    ("get", "/v1/videos/{request_id}/events"): {"200": ("text/event-stream", {"type": "string"})},
    ("delete", "/v1/videos/{request_id}"): {"200": s.FinishedOut},
    ("post", "/v1/videos/{request_id}/cancel"): {"200": s.FinishedOut},
    ("get", "/v1/video-generation-models"): {"200": s.ModelListOut},
    ("get", "/v1/video-generation-models/{model_id}"): {"200": s.ModelOut},
    ("post", "/v1/files"): {"200": s.FileOut},
    ("get", "/v1/files"): {"200": s.FileListOut},
    ("get", "/v1/files/{file_id}"): {"200": s.FileOut},
    ("get", "/v1/files/{file_id}/content"): {
        "200": ("application/octet-stream", {"type": "string", "format": "binary"})
    },
    ("delete", "/v1/files/{file_id}"): {"200": s.FileDeletedOut},
}

ERRORS = {
    "400": "Invalid value (the message names the field)",
    "401": "Missing, wrong or revoked API key",
    "403": "A signed URL that is invalid or has expired",
    "404": "Unknown id or model, or another key's",
    "409": "Conflict: an Idempotency-Key reused, or the job already finished",
    "413": "Request body or input over its size limit",
    "422": "Malformed JSON or wrong types",
    "429": "Over a limit: requests per minute, pending jobs, spend or the queue",
}

RATE_HEADERS = {
    name: {"description": text, "schema": {"type": "string"}}
    for name, text in (
        ("x-ratelimit-limit-requests", "the key's create requests per minute"),
        ("x-ratelimit-remaining-requests", "create requests left now"),
        ("x-ratelimit-reset-requests", "until the bucket is full again, e.g. 12s"),
    )
}


def install(app: FastAPI, openai_api: APIRouter | None = None) -> None:
    """Make `app.openapi()` (and so /openapi.json) the complete document, built once.

    `openai_api`'s routes refuse in OpenAI's error shape, not the xAI contract's."""
    openai = {
        (method.lower(), route.path)
        for route in (openai_api.routes if openai_api is not None else [])
        for method in getattr(route, "methods", ())
    }

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = complete(
                get_openapi(
                    title=app.title,
                    version=app.version,
                    description=app.description,
                    routes=app.routes,
                ),
                openai,
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def complete(
    doc: dict[str, Any],
    openai: set[tuple[str, str]] = frozenset(),  # type: ignore[assignment]
) -> dict[str, Any]:
    doc.setdefault("components", {})["securitySchemes"] = {
        "apiKey": {"type": "http", "scheme": "bearer", "description": "Bearer <API key>"}
    }
    doc["security"] = [{"apiKey": []}]
    components = doc["components"].setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):  # our 422 is an ErrorOut
        components.pop(name, None)
    xai_error = _schema(s.ErrorOut, components)
    # The OpenAI routes hand requests shaped for the xAI API (JSON bodies, xAI ids) on to the
    # xAI handlers, so either shape may come back from them.
    openai_error = {"anyOf": [_schema(s.OpenAIErrorOut, components), xai_error]}
    for path, operations in doc.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            for status, body in SUCCESS.get((method, path), {}).items():
                responses[status] = _success(status, body, components, responses.get(status))
            creates = method == "post" and path.startswith("/v1/videos")
            error = openai_error if (method, path) in openai else xai_error
            for status in _refusals(method, creates):
                responses[status] = {
                    "description": ERRORS[status],
                    "content": {JSON: {"schema": error}},
                }
            if creates:
                responses["429"]["headers"] = {
                    "Retry-After": {
                        "description": "seconds to wait before retrying",
                        "required": True,
                        "schema": {"type": "string"},
                    },
                    **RATE_HEADERS,
                }
                responses.get("200", {}).setdefault("headers", {}).update(RATE_HEADERS)
    return doc


def _refusals(method: str, creates: bool) -> list[str]:
    codes = ["400", "401", "404", "422"] + (["403"] if method == "get" else [])
    if method in ("post", "delete"):
        codes += ["409", "413"]
    return codes + (["429"] if creates else [])


def _success(
    status: str, body: Any, components: dict[str, Any], current: dict[str, Any] | None
) -> dict[str, Any]:
    description = (current or {}).get("description") or (
        "Pending: queued or rendering" if status == "202" else "OK"
    )
    if isinstance(body, tuple):
        media_type, schema = body
    else:
        media_type, schema = JSON, _schema(body, components)
    return {"description": description, "content": {media_type: {"schema": schema}}}


def _schema(model: Any, components: dict[str, Any]) -> dict[str, Any]:
    """`model`'s JSON schema with its named parts moved into components."""
    schema = TypeAdapter(model).json_schema(ref_template=REF, mode="serialization")
    components.update(schema.pop("$defs", {}))
    title = getattr(model, "__name__", None)
    if title is None:  # a union: inline it
        return schema
    components[title] = schema
    return {"$ref": REF.format(model=title)}
