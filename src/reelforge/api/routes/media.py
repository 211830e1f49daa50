"""Signed video URLs of local storage (`/v1/media/...`). Buckets presign their own URLs."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import FileResponse

from reelforge.core.errors import ApiError
from reelforge.storage.base import Storage, StorageError


def router(storage: Storage) -> APIRouter:
    api = APIRouter()

    @api.get("/v1/media/{key:path}", include_in_schema=False)
    def media(key: str, expires: str | None = None, signature: str | None = None) -> FileResponse:
        try:
            path = storage.local_path(key)
        except StorageError:
            raise ApiError(404, "no such file") from None
        if path is None:  # a bucket's presigned URLs point at the bucket, never here
            raise ApiError(404, "no such file")
        if not storage.verify(key, expires, signature):  # local storage signed it
            raise ApiError(403, "this URL is invalid or has expired")
        if not path.is_file():
            raise ApiError(404, "this video is no longer available")
        return FileResponse(path, media_type="video/mp4")

    return api
