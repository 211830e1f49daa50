"""Scenarios' parsing (core/scenario.py), the database counter behind `reject` and `flaky-poll`
on SQLite and PostgreSQL under concurrency, parked jobs, and the request journal's helpers."""

from __future__ import annotations

import threading

import pytest

from reelforge.api.journal import Journal, body_of, job_id_of, key_hint
from reelforge.core.errors import ApiError
from reelforge.core.scenario import Scenario, parse
from reelforge.jobs.store import RUNNING, JobStore
from tests.test_store import make_store, spec, store_url  # noqa: F401 (the fixture)


def test_parse_fills_defaults_and_converts():
    assert parse("fail") == Scenario(
        "fail", {"code": "internal_error", "message": "the render failed (scenario 'fail')"}
    )
    assert parse(" Reject ; status=503 ;times=4; retry_after=0.5").params == {
        "status": 503,
        "times": 4,
        "retry_after": 0.5,
    }
    assert parse('fail; message="out of GPUs"')["message"] == "out of GPUs"
    chosen = parse("expire; after=3")
    assert Scenario.from_dict(chosen.to_dict()) == chosen and chosen["after"] == 3.0


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("boom", "unknown scenario 'boom'"),
        ("slow; speed=2", "slow: unknown parameter 'speed=2'; parameters: seconds"),
        ("stall; x=1", "parameters: none"),
        ("slow; seconds=fast", "slow: seconds must be a number, got 'fast'"),
        ("slow; seconds=-1", "between 0 and 3600 seconds"),
        ("reject; status=404", "status must be one of [429, 500, 503]"),
        ("reject; times=0", "times must be between 1 and 1000"),
        ("flaky-poll; every=1.5", "every must be a whole number"),
        ("moderate; at=middle", "at must be one of ['input', 'output']"),
        ("fail; code=", "code must not be empty"),
        ("slow; seconds", "unknown parameter 'seconds'"),
    ],
)
def test_parse_refuses_naming_the_field(value, problem):
    with pytest.raises(ApiError) as caught:
        parse(value, "reelforge_scenario")
    assert caught.value.status == 400 and caught.value.field == "reelforge_scenario"
    assert caught.value.message.startswith("reelforge_scenario: ")
    assert problem in caught.value.message


def test_counts_are_atomic_across_connections(store_url):  # noqa: F811
    make_store(store_url).purge_counts(older_than=float("inf"))
    results: list[int] = []
    lock = threading.Lock()

    def counter():
        own = JobStore(store_url)
        for _ in range(10):
            n = own.count("owner", "reject:abc")
            with lock:
                results.append(n)
        own.dispose()

    threads = [threading.Thread(target=counter) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == list(range(1, 41))  # every attempt counted once
    store = JobStore(store_url)
    assert store.count("other-owner", "reject:abc") == 1
    assert store.purge_counts(older_than=float("inf")) == 2
    assert store.count("owner", "reject:abc") == 1


def test_a_parked_job_stays_running_untaken_until_cancelled(store_url):  # noqa: F811
    store = make_store(store_url, lease_ttl=0.01)
    store.add("stalled", "owner", spec())
    assert store.park(store.claim())
    assert store.get("stalled").status == RUNNING
    assert store.claim() is None  # its lease never lapses
    assert store.cancel("stalled", "owner", "cancelled")


def test_journal_helpers():
    journal = Journal(limit=2)
    for n in range(3):
        journal.add({"n": n})
    assert [e["n"] for e in journal.since()] == [1, 2] and [e["id"] for e in journal.since(2)] == [
        3
    ]
    journal.clear()
    assert journal.since() == []
    assert key_hint("Bearer sk-secret-1234") == "...1234" and key_hint(None) is None
    url = "data:image/png;base64," + "A" * 100
    assert body_of(b'{"a": [{"u": "%s"}]}' % url.encode(), "application/json") == {
        "a": [{"u": url[:48] + "...(122 chars)"}]
    }
    form = (
        b'--XY\r\nContent-Disposition: form-data; name="prompt"\r\n\r\na cat\r\n'
        b'--XY\r\nContent-Disposition: form-data; name="input_reference"; filename="c.png"\r\n'
        b"Content-Type: image/png\r\n\r\n\x89PNG\r\n--XY--\r\n"
    )
    assert body_of(form, "multipart/form-data; boundary=XY") == {
        "prompt": "a cat",
        "input_reference": {"filename": "c.png", "bytes": 4},
    }
    assert body_of(b"x" * 5000, "text/plain").endswith("...(5000 bytes)")
    assert job_id_of("/v1/videos/generations", b'{"request_id": "r1"}', "application/json") == "r1"
    assert job_id_of("/v1/videos", b'{"id": "video_1"}', "application/json") == "video_1"
    assert job_id_of("/v1/videos/abc/events", b"", "text/event-stream") == "abc"
    assert job_id_of("/v1/files", b'{"id": "file_1"}', "application/json") is None
