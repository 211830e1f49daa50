"""An S3-compatible server on loopback for the scale-out tests: s3rver (Node, pinned in
tests/node), which checks SigV4 signatures and the expiry of presigned URLs like S3 does."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import boto3
import httpx
from botocore.config import Config

from tests.helpers import free_port

S3RVER = Path(__file__).parent / "node" / "node_modules" / ".bin" / "s3rver"
REGION = "us-east-1"
# s3rver's fixed credentials; every process that talks to it gets them through the environment
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "S3RVER",
    "AWS_SECRET_ACCESS_KEY": "S3RVER",
    "AWS_REGION": REGION,
    "AWS_DEFAULT_REGION": REGION,
}


class S3Server:
    def __init__(self, directory: Path, buckets: tuple[str, ...] = ("reelforge",)):
        self.directory = directory
        self.buckets = buckets
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> S3Server:
        self.directory.mkdir(parents=True, exist_ok=True)
        cmd = [str(S3RVER), "--address", "127.0.0.1", "--port", str(self.port)]
        cmd += ["--directory", str(self.directory), "--silent"]
        for bucket in self.buckets:
            cmd += ["--configure-bucket", bucket]
        self.log_path = self.directory.parent / f"s3rver-{self.port}.log"
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"s3rver exited: {self.log_path.read_text()}")
            try:
                httpx.get(self.endpoint_url, timeout=1)
                return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("s3rver did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(10)

    def client(self):
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=REGION,
            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            config=Config(s3={"addressing_style": "path"}),
        )

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        pages = (
            self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        )
        return [obj["Key"] for page in pages for obj in page.get("Contents", ())]
