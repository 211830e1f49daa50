"""The Files API: upload, list, describe, download and delete a key's files."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.datastructures import UploadFile

from reelforge.api.routes import Owner
from reelforge.core.errors import ApiError, invalid
from reelforge.core.units import whole_number
from reelforge.files import MAX_FILE_BYTES, MAX_LIST, FileStore

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


def router(files: FileStore, owner: Owner, tmp_dir: Path) -> APIRouter:
    api = APIRouter()

    @api.post(
        "/v1/files",
        summary="Upload a file (multipart: file, purpose, expires_after)",
        openapi_extra={"requestBody": _UPLOAD_BODY},
    )
    async def upload_file(request: Request) -> JSONResponse:
        who = owner(request)
        declared = request.headers.get("content-length", "")
        if (whole_number(declared) or 0) > MAX_FILE_BYTES + _MULTIPART_OVERHEAD:
            raise ApiError(413, f"file: is larger than the {MAX_FILE_BYTES // 2**20} MiB limit")
        if not request.headers.get("content-type", "").startswith("multipart/form-data"):
            raise invalid("body", "must be multipart/form-data with a 'file' part")
        # python-multipart spools the file to disk past 1 MiB, so memory stays flat.
        async with request.form(max_files=1, max_fields=8, max_part_size=64 * 1024) as form:
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise invalid("file", "is required: send the file as a multipart part named 'file'")
            fields = {k: v for k, v in form.items() if isinstance(v, str)}
            tmp = tmp_dir / f"upload-{uuid.uuid4()}"
            await asyncio.to_thread(_save_upload, upload, tmp)
        try:
            record = await asyncio.to_thread(
                files.add,
                who,
                tmp,
                filename=upload.filename,
                purpose=fields.get("purpose"),
                expires_after=_expires_after(fields),
            )
        finally:
            tmp.unlink(missing_ok=True)
        return JSONResponse(record.describe())

    @api.get("/v1/files", summary="List your files, newest first")
    def list_files(
        request: Request, purpose: str | None = None, limit: int = Query(MAX_LIST, ge=1)
    ) -> dict:
        records = files.list(owner(request), purpose=purpose, limit=min(limit, MAX_LIST))
        return {"object": "list", "data": [r.describe() for r in records], "has_more": False}

    @api.get("/v1/files/{file_id}", summary="Describe a file")
    def get_file(file_id: str, request: Request) -> dict:
        return files.require(owner(request), file_id).describe()

    @api.get("/v1/files/{file_id}/content", summary="Download a file's contents")
    def file_content(file_id: str, request: Request) -> Response:
        record, content = files.content(owner(request), file_id)
        if isinstance(content, Path):
            return FileResponse(content, media_type="application/octet-stream")
        return StreamingResponse(  # remote storage: pass the object through in chunks
            _chunks(content),
            media_type="application/octet-stream",
            headers={"content-length": str(record.bytes)},
        )

    @api.delete("/v1/files/{file_id}", summary="Delete a file")
    def delete_file(file_id: str, request: Request) -> dict:
        if not files.delete(owner(request), file_id):
            raise ApiError(404, f"file_id: no file with id '{file_id}'")
        return {"id": file_id, "object": "file", "deleted": True}

    return api


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
