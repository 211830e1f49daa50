"""Where inputs, uploaded files and videos live: see `base.Storage`."""

from __future__ import annotations

from reelforge.storage.base import Storage, StorageError


def storage_for(settings) -> Storage:
    """The storage a server or worker process was configured with."""
    return open_storage(
        settings.storage_location, endpoint_url=settings.s3_endpoint_url, region=settings.s3_region
    )


def open_storage(location: str, *, endpoint_url: str | None = None, region: str | None = None):
    """`s3://BUCKET/PREFIX` for a bucket, anything else a local directory."""
    if location.startswith("s3://"):
        from reelforge.storage.s3 import S3Storage

        storage = S3Storage(location, endpoint_url=endpoint_url, region=region)
        storage.check()
        return storage
    from reelforge.storage.local import LocalStorage

    return LocalStorage(location)


__all__ = ["Storage", "StorageError", "open_storage", "storage_for"]
