"""Storage in an S3-compatible bucket (AWS S3, MinIO, Ceph, R2, moto...), for API replicas and
workers on several machines. Videos are handed out as presigned GET URLs, so the bytes go
straight from the bucket to the client and no Reelforge process serves them.

Credentials and region come from boto3's usual chain (environment, config files, instance role).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlparse

from reelforge.storage.base import StorageError, check_key

# SigV4 presigned URLs cannot live longer than a week.
MAX_PRESIGN_S = 7 * 24 * 3600
_DELETE_BATCH = 1000  # the most keys one DeleteObjects call takes
_MISSING = {"NoSuchKey", "404", "NotFound"}


def parse_s3_url(url: str) -> tuple[str, str]:
    """`s3://BUCKET/PREFIX` -> (bucket, prefix without slashes at either end)."""
    parts = urlparse(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise StorageError(f"storage: expected s3://BUCKET/PREFIX, got {url!r}")
    return parts.netloc, parts.path.strip("/")


class S3Storage:
    def __init__(
        self, url: str, *, endpoint_url: str | None = None, region: str | None = None
    ) -> None:
        try:
            import boto3
            from botocore.config import Config
        except ImportError:
            raise StorageError("S3 storage needs boto3: pip install 'reelforge[s3]'") from None
        self.bucket, self.prefix = parse_s3_url(url)
        # Services other than AWS rarely have per-bucket host names: address them by path.
        style = "path" if endpoint_url else "auto"
        self.client = boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            config=Config(
                signature_version="s3v4",
                s3={"addressing_style": style},
                retries={"max_attempts": 5, "mode": "standard"},
            ),
        )

    def _name(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def check(self) -> None:
        """Fail at start-up, with the reason, when the bucket cannot be reached."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.head_bucket(Bucket=self.bucket)
        except (BotoCoreError, ClientError) as exc:
            raise StorageError(f"storage: cannot use bucket '{self.bucket}': {exc}") from None

    def put_bytes(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self._name(key), Body=data)

    def put_file(self, key: str, source: str | Path) -> None:
        content_type = "video/mp4" if key.endswith(".mp4") else "application/octet-stream"
        # upload_file switches to a multipart upload for big files; an object appears whole.
        self.client.upload_file(
            str(source), self.bucket, self._name(key), ExtraArgs={"ContentType": content_type}
        )
        Path(source).unlink(missing_ok=True)

    def copy(self, source: str, target: str) -> None:
        try:
            # A server-side copy: no bytes pass through this process.
            self.client.copy_object(
                Bucket=self.bucket,
                Key=self._name(target),
                CopySource={"Bucket": self.bucket, "Key": self._name(source)},
            )
        except self.client.exceptions.ClientError as exc:
            raise self._missing(exc, source) from None

    def read_bytes(self, key: str) -> bytes:
        with self.open(key) as body:
            return body.read()

    def open(self, key: str) -> BinaryIO:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._name(key))["Body"]
        except self.client.exceptions.ClientError as exc:
            raise self._missing(exc, key) from None

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._name(key))
        except self.client.exceptions.ClientError as exc:
            if _code(exc) in _MISSING:
                return False
            raise
        return True

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._name(key))

    def delete_prefix(self, prefix: str) -> None:
        folder = self._name(prefix) + "/"
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=folder
        )
        names = [obj["Key"] for page in pages for obj in page.get("Contents", ())]
        for start in range(0, len(names), _DELETE_BATCH):
            batch = names[start : start + _DELETE_BATCH]
            self.client.delete_objects(
                Bucket=self.bucket,
                Delete={"Objects": [{"Key": n} for n in batch], "Quiet": True},
            )

    def signed_url(self, base_url: str, key: str, expires: int) -> str:
        # Presigning counts from now; the URL still lapses at `expires` (at least 1 s ahead,
        # at most the week SigV4 allows).
        lifetime = max(1, min(MAX_PRESIGN_S, int(expires - time.time())))
        return self.client.generate_presigned_url(
            "get_object",
            Params={"Bucket": self.bucket, "Key": self._name(key)},
            ExpiresIn=lifetime,
        )

    def local_path(self, key: str) -> Path | None:
        return None

    def _missing(self, exc: Exception, key: str) -> Exception:
        if _code(exc) in _MISSING:
            return FileNotFoundError(key)
        return exc


def _code(exc: Exception) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))
