"""Limits held by the database: two service instances on one PostgreSQL database stand for two
API replicas; concurrent creates through both must never get past a limit together."""

from __future__ import annotations

import re
import threading
import time

import pytest

from reelforge.config import Settings
from reelforge.core.errors import ApiError
from reelforge.core.pricing import cost_ticks, max_cost_ticks
from reelforge.core.spec import EDIT, EXTENSION, GENERATION, InputRef, VideoRequest, build_spec
from reelforge.jobs.keys import KeyLimits, KeyStore
from reelforge.jobs.store import QUEUED
from reelforge.server import open_backend
from reelforge.service import rate_states
from tests.conftest import fresh_database

TWO_SECONDS_480P = 1_000_000_000  # ticks: 2 s at 0.05 USD/s on grok-imagine-video


@pytest.fixture
def replicas(tmp_path):
    """Two backends (API replicas) on one fresh PostgreSQL database."""
    with fresh_database() as url:
        made = []

        def make(**settings) -> list:
            for n in range(2):
                s = Settings(data_dir=tmp_path / f"r{n}", database_url=url, workers=0, **settings)
                made.append(open_backend(s, renders=False))
            return [b.service() for b in made[-2:]]

        yield make
        for b in made:
            b.close()


def request(duration: int = 2) -> VideoRequest:
    return VideoRequest(model="grok-imagine-video", prompt="a red ball", duration=duration)


def create_all(services, owner: str, n: int) -> tuple[list[str], list[ApiError]]:
    """`n` creates at once, alternating replicas; the ids made and the refusals."""
    made, refused, lock = [], [], threading.Lock()
    start = threading.Barrier(n)

    def one(i: int) -> None:
        start.wait()
        try:
            job = services[i % 2].create(owner, GENERATION, request())
            with lock:
                made.append(job)
        except ApiError as exc:
            with lock:
                refused.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return made, refused


def managed(service, name: str, **limits) -> str:
    key, _secret = KeyStore(service.store.engine).create(name, KeyLimits(**limits))
    return key.id


def test_requests_per_minute_hold_across_replicas(replicas):
    services = replicas()
    owner = managed(services[0], "burst", rpm=5)
    made, refused = create_all(services, owner, 12)
    assert len(made) == 5 and len(refused) == 7
    for exc in refused:
        assert exc.status == 429 and exc.code == "resource-exhausted"
        assert "5 requests per minute" in exc.message
        assert 1 <= int(exc.headers["Retry-After"]) <= 12  # one token comes back every 12 s
        assert exc.headers["x-ratelimit-remaining-requests"] == "0"
        assert exc.headers["x-ratelimit-limit-requests"] == "5"
    assert services[0].store.counts() == {QUEUED: 5}  # a refused request created nothing


def test_the_bucket_refills_and_reports_what_is_left(replicas):
    services = replicas()
    owner = managed(services[0], "steady", rpm=3)  # one every 20 s
    states: list = []
    token = rate_states.set(states)
    try:
        for i in range(3):
            services[i % 2].create(owner, GENERATION, request())
    finally:
        rate_states.reset(token)
    assert [s.remaining for s in states] == [2, 1, 0]
    assert states[-1].limit == 3 and 59 < states[-1].reset_s <= 60
    assert re.fullmatch(r"(59\.\d|60)s", states[-1].headers()["x-ratelimit-reset-requests"])


def test_pending_jobs_per_key_hold_across_replicas(replicas):
    services = replicas()
    owner = managed(services[0], "queue-hog", max_pending=3)
    made, refused = create_all(services, owner, 10)
    assert len(made) == 3 and len(refused) == 7
    assert all(e.status == 429 and "3 queued or rendering" in e.message for e in refused)
    services[1].cancel(owner, made[0], "http://x/")  # one finished: room for one more
    services[0].create(owner, GENERATION, request())
    with pytest.raises(ApiError):
        services[1].create(owner, GENERATION, request())


def test_spend_is_reserved_at_accept_and_released_on_failure(replicas):
    services = replicas()
    owner = managed(services[0], "budget", budget_ticks=2 * TWO_SECONDS_480P + 1)
    made, refused = create_all(services, owner, 6)
    assert len(made) == 2 and len(refused) == 4
    exc = refused[0]
    assert exc.status == 429 and "spend limit" in exc.message
    month_left = int(exc.headers["Retry-After"])
    assert 0 < month_left <= 31 * 86400
    services[0].cancel(owner, made[0], "http://x/")  # a cancelled job costs nothing
    services[1].create(owner, GENERATION, request())
    with pytest.raises(ApiError, match="spend limit"):
        services[0].create(owner, GENERATION, request())


def test_a_finished_job_counts_at_its_actual_cost(replicas):
    """An edit reserves its most (the longest input at the best resolution); once done it
    counts what it cost, which frees the rest of the reservation."""
    services = replicas()
    store = services[0].store
    owner = managed(services[0], "actual", budget_ticks=3 * TWO_SECONDS_480P)
    first = services[0].create(owner, GENERATION, request())
    claim = store.claim()
    assert claim is not None and claim.job.id == first
    assert store.complete(claim, {"duration": 2, "duration_s": 2.0, "cost_in_usd_ticks": 7})
    made, _ = create_all(services, owner, 4)
    assert len(made) == 2  # 7 ticks + two reservations of 2 s fit; a third does not
    blocked = store.claim()  # a blocked job under charge_blocked = false records 0
    assert store.complete(blocked, {"duration": 2, "duration_s": 2.0, "cost_in_usd_ticks": 0})
    services[1].create(owner, GENERATION, request())


def test_a_deleted_job_still_counts(replicas):
    """Deleting a finished job hides it from every view, not from spend or usage."""
    services = replicas()
    store = services[0].store
    owner = managed(services[0], "deleter", budget_ticks=TWO_SECONDS_480P)
    first = services[0].create(owner, GENERATION, request())
    claim = store.claim()
    assert store.complete(claim, {"duration_s": 2.0, "cost_in_usd_ticks": TWO_SECONDS_480P})
    services[1].delete(owner, first)
    assert store.get(first) is None and store.list(owner, limit=10) == []
    with pytest.raises(ApiError):  # deleted twice: it is gone
        services[0].delete(owner, first)
    with pytest.raises(ApiError, match="spend limit"):
        services[0].create(owner, GENERATION, request())
    rows = store.usage_rows([owner], 0.0, time.time() + 1, expired_before=0.0)
    assert [(r.status, r.cost_ticks, r.output_seconds) for r in rows] == [
        ("done", TWO_SECONDS_480P, 2.0)
    ]
    assert store.expire_finished(older_than=time.time() + 1) == []  # no files left to remove
    (row,) = store.usage_rows([owner], 0.0, time.time() + 1, expired_before=0.0)
    assert (row.status, row.cost_ticks) == ("expired", TWO_SECONDS_480P)


def test_the_global_queue_cap_counts_every_key(replicas):
    services = replicas(max_queued=4)
    made_a, _ = create_all(services, "owner-a", 3)
    made_b, refused = create_all(services, "owner-b", 3)
    assert len(made_a) == 3 and len(made_b) == 1 and len(refused) == 2
    assert "queue is full (4 jobs waiting)" in refused[0].message


def test_defaults_apply_to_command_line_keys_and_keys_without_their_own(replicas):
    services = replicas(default_rpm=2, default_max_pending=1)
    static = "a" * 64  # a --api-key key is owned by its hash
    services[0].create(static, GENERATION, request())
    with pytest.raises(ApiError, match="1 queued or rendering"):
        services[1].create(static, GENERATION, request())
    with pytest.raises(ApiError, match="2 requests per minute"):
        services[0].create(static, GENERATION, request())
    own = managed(services[0], "generous", max_pending=5)  # its own pending limit, default rpm
    assert services[0].limits_for(own) == KeyLimits(2, 5, None, "month")


def test_limits_changed_by_keys_update_apply_at_once(replicas):
    services = replicas()
    keys = KeyStore(services[0].store.engine)
    owner = managed(services[0], "changing", max_pending=1)
    services[0].create(owner, GENERATION, request())
    with pytest.raises(ApiError):
        services[1].create(owner, GENERATION, request())
    keys.update("changing", max_pending=None)  # back to the default: none
    services[1].create(owner, GENERATION, request())


def test_reservations_of_edits_are_upper_bounds(replicas):
    (service, _) = replicas()
    model = service.catalog.get("grok-imagine-video")
    video = InputRef(url="https://example.com/v.mp4", field="video.url")
    edit = build_spec(EDIT, VideoRequest(model=model.id, prompt="x", video=video), service.catalog)
    extend = build_spec(
        EXTENSION,
        VideoRequest(model=model.id, prompt="x", video=video, duration=4),
        service.catalog,
    )
    best = model.resolutions_for(EDIT)[-1]
    assert max_cost_ticks(model, edit) >= cost_ticks(model, best, 8.71, input_video_seconds=8.71)
    best = model.resolutions_for(EXTENSION)[-1]
    assert max_cost_ticks(model, extend) >= cost_ticks(model, best, 19.0, input_video_seconds=15)


def test_sqlite_replicas_hold_the_limits_too(tmp_path):
    """Two processes' worth of backends on one SQLite file (a single machine's setup)."""
    backends = [open_backend(Settings(data_dir=tmp_path, workers=0), renders=False) for _ in "ab"]
    try:
        services = [b.service() for b in backends]
        owner = managed(services[0], "local", rpm=4, max_pending=3)
        made, refused = create_all(services, owner, 8)
        assert len(made) == 3 and len(refused) == 5
        kinds = sorted("per minute" in e.message for e in refused)
        assert kinds == [False] + [True] * 4  # 4 tokens: 3 jobs, 1 pending refusal; 4 rate
    finally:
        for b in backends:
            b.close()
