"""The REST routes and the service in-process (httpx's ASGI transport): no subprocess, no port.

The real-server end-to-end tests prove the wire; these cover route and service logic quickly.
"""

from __future__ import annotations

import asyncio
import dataclasses

import httpx
import pytest

from reelforge.api.app import create_app
from reelforge.api.auth import KeyChecker
from reelforge.config import Settings
from reelforge.jobs.worker import Worker
from reelforge.media import previews
from reelforge.server import Backend, open_backend

AUTH = {"Authorization": "Bearer in-process"}


@pytest.fixture
def backend(tmp_path) -> Backend:
    settings = Settings(data_dir=tmp_path / "data", workers=0)
    backend = open_backend(settings, renders=False)
    yield backend
    backend.close()


def app_for(backend: Backend, keys: list[str] | None = None):
    return create_app(
        backend.service(),
        backend.files,
        backend.catalog,
        backend.storage,
        KeyChecker(keys or []),
        tmp_dir=backend.settings.tmp_dir,
        max_body_bytes=backend.settings.max_body_bytes,
        ready=backend.ready,
    )


def call(backend: Backend, *requests, keys: list[str] | None = None) -> list[httpx.Response]:
    """Send (method, path, kwargs) requests in order to a fresh app; the responses."""

    async def run() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app_for(backend, keys))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return [await client.request(m, p, **{"headers": AUTH, **kw}) for m, p, kw in requests]

    return asyncio.run(run())


def test_health_and_readiness(backend):
    live, ready = call(backend, ("GET", "/health", {}), ("GET", "/health/ready", {}))
    assert live.json() == {"status": "ok"} and ready.json() == {"status": "ready"}


def test_readiness_names_what_does_not_answer(backend):
    backend.store.engine.dispose()
    broken = dataclasses.replace(backend, store=type(backend.store)("sqlite:////nonexistent/x.db"))
    (ready,) = call(broken, ("GET", "/health/ready", {}))
    assert ready.status_code == 503 and ready.json()["reason"].startswith("database")


def test_keys_and_error_shapes(backend):
    no_key, wrong_key = call(
        backend,
        ("GET", "/v1/video-generation-models", {"headers": {}}),
        ("GET", "/v1/video-generation-models", {"headers": {"Authorization": "Bearer nope"}}),
        keys=["in-process"],
    )
    assert no_key.status_code == 401 and no_key.json()["code"] == "unauthenticated"
    assert wrong_key.status_code == 401 and "incorrect API key" in wrong_key.json()["error"]
    bad, malformed, unknown = call(
        backend,
        ("POST", "/v1/videos/generations", {"json": {"prompt": "a cat", "duration": 99}}),
        ("POST", "/v1/videos/generations", {"content": b"{", "headers": AUTH}),
        ("GET", "/v1/videos/no-such-id", {}),
    )
    assert bad.status_code == 400 and bad.json()["error"].startswith("duration")
    assert malformed.status_code == 422 and malformed.json()["code"] == "invalid-argument"
    assert unknown.status_code == 404 and unknown.json()["code"] == "not-found"


def test_models_come_from_the_catalog(backend):
    listed, one, missing = call(
        backend,
        ("GET", "/v1/video-generation-models", {}),
        ("GET", "/v1/video-generation-models/grok-imagine-video", {}),
        ("GET", "/v1/video-generation-models/nope", {}),
    )
    ids = {m["id"] for m in listed.json()["models"]}
    assert ids == set(backend.catalog.models) and one.json()["id"] == "grok-imagine-video"
    assert missing.status_code == 404 and "grok-imagine-video" in missing.json()["error"]


def test_a_job_from_create_to_done_through_an_in_process_worker(backend):
    body = {"prompt": "a cat", "duration": 1, "generate_audio": False}
    headers = {**AUTH, "Idempotency-Key": "k1"}
    created, again, clash = call(
        backend,
        ("POST", "/v1/videos/generations", {"json": body, "headers": headers}),
        ("POST", "/v1/videos/generations", {"json": body, "headers": headers}),
        ("POST", "/v1/videos/generations", {"json": {**body, "seed": 3}, "headers": headers}),
    )
    job = created.json()["request_id"]
    assert again.json() == {"request_id": job} and clash.status_code == 409
    (pending,) = call(backend, ("GET", f"/v1/videos/{job}", {}))
    assert pending.status_code == 202 and pending.json()["queue_position"] == 1
    worker = Worker(
        backend.settings, backend.store, backend.storage, backend.catalog, backend.policy
    )
    assert worker.run_once()
    # the poster was written with the video, before anyone asked for it
    assert backend.storage.exists(previews.key(job, previews.THUMBNAIL))
    done, listed, cancel = call(
        backend,
        ("GET", f"/v1/videos/{job}", {}),
        ("GET", "/v1/video-requests", {}),
        ("DELETE", f"/v1/videos/{job}", {}),
    )
    assert done.json()["status"] == "done" and done.json()["usage"]["cost_in_usd_ticks"] > 0
    assert [item["request_id"] for item in listed.json()["data"]] == [job]
    assert cancel.status_code == 409  # finished jobs cannot be cancelled
    url = httpx.URL(done.json()["video"]["url"])
    forged = url.copy_merge_params({"signature": "0" * 64})
    video, refused = call(
        backend, ("GET", url.raw_path.decode(), {}), ("GET", forged.raw_path.decode(), {})
    )
    assert video.headers["content-type"] == "video/mp4" and video.content[4:8] == b"ftyp"
    assert refused.status_code == 403


def test_files_round_trip_and_stay_with_their_key(backend):
    files = {"file": ("note.txt", b"hello", "text/plain")}
    (uploaded,) = call(backend, ("POST", "/v1/files", {"files": files}))
    file_id = uploaded.json()["id"]
    other = {"headers": {"Authorization": "Bearer someone-else"}}
    content, listed, foreign, deleted, gone = call(
        backend,
        ("GET", f"/v1/files/{file_id}/content", {}),
        ("GET", "/v1/files", {}),
        ("GET", f"/v1/files/{file_id}", other),
        ("DELETE", f"/v1/files/{file_id}", {}),
        ("GET", f"/v1/files/{file_id}/content", {}),
    )
    assert content.content == b"hello"
    assert [f["id"] for f in listed.json()["data"]] == [file_id]
    assert foreign.status_code == 404 and deleted.json()["deleted"] is True
    assert gone.status_code == 404
