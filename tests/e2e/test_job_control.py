"""Job control over real HTTP: long polls, event streams, cancellation, listing, idempotent
creates, webhooks and queue positions (Reelforge's additions to the xAI API)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid

import httpx
import pytest

from tests.helpers import Server, create, wait_done
from tests.webhook_receiver import Receiver, verify

LONG = {"prompt": "a slow orbit around a lighthouse", "duration": 10, "resolution": "720p"}
SHORT = {"prompt": "a red ball", "duration": 1}


@pytest.fixture(scope="module")
def busy(tmp_path_factory):
    """One worker, so jobs queue behind each other; loopback webhooks allowed."""
    srv = Server(
        tmp_path_factory.mktemp("busy") / "data", args=["--workers", "1", "--allow-private-urls"]
    ).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def idle(tmp_path_factory):
    """No workers: every job stays queued. Default address rules."""
    srv = Server(tmp_path_factory.mktemp("idle") / "data", args=["--workers", "0"]).start()
    yield srv
    srv.stop()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def fresh_key() -> str:
    return f"key-{uuid.uuid4().hex[:12]}"


def assert_error(r: httpx.Response, status: int, *words: str) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"code", "error"}, body
    for word in words:
        assert word in body["error"], body


def wait_running(c: httpx.Client, request_id: str, timeout: float = 30.0) -> dict:
    """Poll until the job is rendering (progress above 0)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = c.get(f"/v1/videos/{request_id}").json()
        assert body["status"] == "pending", body
        if body["progress"] > 0:
            return body
        time.sleep(0.03)
    raise AssertionError(f"{request_id} never started")


def events(c: httpx.Client, request_id: str) -> list[tuple[str, dict]]:
    """Read a job's event stream to its end (the loop ends only when the server ends it)."""
    out: list[tuple[str, dict]] = []
    with c.stream("GET", f"/v1/videos/{request_id}/events", timeout=60) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        name = None
        for line in r.iter_lines():
            if line.startswith("event: "):
                name = line.removeprefix("event: ")
            elif line.startswith("data: "):
                out.append((name, json.loads(line.removeprefix("data: "))))
    return out


# --- long polling --------------------------------------------------------------------------------


def test_long_poll_returns_as_soon_as_the_job_finishes(busy):
    with busy.client(fresh_key()) as c:
        blocker = create(c, LONG)
        wait_running(c, blocker)
        short = create(c, SHORT)  # queued behind the long render
        threading.Timer(0.5, lambda: c.delete(f"/v1/videos/{blocker}")).start()
        start = time.monotonic()
        r = c.get(f"/v1/videos/{short}", params={"wait": 30})
        elapsed = time.monotonic() - start
    assert r.status_code == 200 and r.json()["status"] == "done", r.text
    assert 0.4 < elapsed < 5, elapsed  # it waited for the job, and not for the 30 s


def test_long_poll_times_out_with_the_current_state(idle):
    with idle.client(fresh_key()) as c:
        request_id = create(c, SHORT)
        start = time.monotonic()
        r = c.get(f"/v1/videos/{request_id}?wait=1.5")
        elapsed = time.monotonic() - start
        assert r.status_code == 202 and r.json()["status"] == "pending", r.text
        assert "queue_position" in r.json()
        assert 1.4 < elapsed < 3.5, elapsed
        for bad in ("0", "-1", "61", "soon", "nan"):
            assert_error(c.get(f"/v1/videos/{request_id}", params={"wait": bad}), 400, "wait")
        assert_error(c.get(f"/v1/videos/{uuid.uuid4()}", params={"wait": 1}), 404)


def test_long_polls_hold_no_threads(idle):
    """80 long polls at once (more than the server's 40 threads) all end on time, and a create
    (which runs on a thread) is answered at once meanwhile."""
    key = fresh_key()
    with idle.client(key) as c:
        request_id = create(c, SHORT)

    async def run() -> tuple[list[float], float]:
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(base_url=idle.base_url, headers=headers, timeout=30) as ac:

            async def poll() -> float:
                start = time.monotonic()
                r = await ac.get(f"/v1/videos/{request_id}?wait=2")
                assert r.status_code == 202
                return time.monotonic() - start

            polls = [asyncio.create_task(poll()) for _ in range(80)]
            await asyncio.sleep(0.5)
            start = time.monotonic()
            r = await ac.post("/v1/videos/generations", json=SHORT)
            assert r.status_code == 200
            create_s = time.monotonic() - start
            return list(await asyncio.gather(*polls)), create_s

    waits, create_s = asyncio.run(run())
    assert create_s < 1.0, create_s
    assert all(1.9 < w < 4.0 for w in waits), sorted(waits)[-5:]


# --- server-sent events --------------------------------------------------------------------------


def test_event_stream_reports_progress_then_done(busy):
    with busy.client(fresh_key()) as c:
        request_id = create(c, {**SHORT, "duration": 4, "resolution": "720p"})
        got = events(c, request_id)
        poll = c.get(f"/v1/videos/{request_id}").json()
    names = [name for name, _ in got]
    assert names[-1] == "done" and set(names[:-1]) == {"progress"}, names
    progress = [data["progress"] for name, data in got if name == "progress"]
    assert len(progress) >= 3 and progress == sorted(progress), progress
    assert len(set(progress)) == len(progress)  # only changes are sent
    assert got[-1][1] == poll  # the terminal event carries the poll body


def test_event_stream_of_a_finished_job_and_isolation(busy):
    with busy.client(fresh_key()) as c, busy.client(fresh_key()) as other:
        request_id = create(c, SHORT)
        done = wait_done(c, request_id)
        assert events(c, request_id) == [("done", done)]
        assert_error(other.get(f"/v1/videos/{request_id}/events"), 404)


def test_waiting_clients_do_not_hold_up_a_shutdown(make_server):
    srv = make_server("--workers", "0")
    ended: dict[str, float] = {}
    with srv.client(fresh_key()) as c:
        request_id = create(c, SHORT)

        def stream():  # (a failed assert here leaves `ended` short, which fails the test)
            assert events(c, request_id) == [("progress", {"progress": 0})]
            ended["events"] = time.monotonic()

        def long_poll():
            r = c.get(f"/v1/videos/{request_id}", params={"wait": 60})
            assert r.status_code == 202
            ended["poll"] = time.monotonic()

        threads = [threading.Thread(target=stream), threading.Thread(target=long_poll)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        start = time.monotonic()
        srv.stop()
        for t in threads:
            t.join(10)
    assert time.monotonic() - start < 5
    assert set(ended) == {"events", "poll"}
    assert max(ended.values()) - start < 3


# --- cancellation --------------------------------------------------------------------------------


def test_cancel_stops_a_running_render(busy, receiver):
    hook = f"{receiver.url}/ok?cancelled"
    with busy.client(fresh_key()) as c:
        long_id = create(c, {**LONG, "webhook_url": hook})
        next_id = create(c, SHORT)
        wait_running(c, long_id)
        start = time.monotonic()
        r = c.delete(f"/v1/videos/{long_id}")
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["status"] == "failed" and body["error"]["code"] == "cancelled", body
        done = wait_done(c, next_id)  # the worker dropped the render and took the next job
        took = time.monotonic() - start
        assert done["status"] == "done"
        assert took < 2.5, took
        assert f"job {long_id} is no longer ours" in busy.log()
        assert c.get(f"/v1/videos/{long_id}").json() == body
        assert_error(c.delete(f"/v1/videos/{long_id}"), 409, "already finished")
    # Nothing of the render is kept.
    leftovers = [p.name for p in busy.data_dir.rglob(f"{long_id}*")]
    assert leftovers == [], leftovers
    [got] = receiver.wait_for("/ok?cancelled")
    assert json.loads(got.body) == {**body, "request_id": long_id}


def test_cancel_pending_and_finished_jobs(idle, busy):
    with idle.client(fresh_key()) as c, idle.client(fresh_key()) as other:
        request_id = create(c, SHORT)
        assert_error(other.post(f"/v1/videos/{request_id}/cancel"), 404)
        r = c.post(f"/v1/videos/{request_id}/cancel")
        assert r.status_code == 200, r.text
        assert r.json() == {
            "status": "failed",
            "model": "grok-imagine-video",
            "error": {"code": "cancelled", "message": r.json()["error"]["message"]},
        }
        assert c.get(f"/v1/videos/{request_id}").json() == r.json()
        assert_error(c.post(f"/v1/videos/{request_id}/cancel"), 409)
        assert_error(c.delete(f"/v1/videos/{uuid.uuid4()}"), 404)
    with busy.client(fresh_key()) as c:
        request_id = create(c, SHORT)
        wait_done(c, request_id)
        assert_error(c.delete(f"/v1/videos/{request_id}"), 409, "done")
        assert c.get(f"/v1/videos/{request_id}").json()["status"] == "done"
        listed = c.get("/v1/video-requests", params={"status": "done"}).json()["data"]
        assert [item["request_id"] for item in listed] == [request_id]
        assert listed[0]["video"]["url"] and listed[0]["usage"]["cost_in_usd_ticks"] > 0


# --- listing -------------------------------------------------------------------------------------


def test_list_paginates_filters_and_isolates(idle):
    with idle.client(fresh_key()) as c, idle.client(fresh_key()) as other:
        ids = [create(c, {**SHORT, "prompt": f"job {n}"}) for n in range(5)]
        other_id = create(other, SHORT)
        seen, after, pages = [], None, 0
        while True:
            params = {"limit": 2, **({"after": after} if after else {})}
            page = c.get("/v1/video-requests", params=params).json()
            assert page["object"] == "list" and len(page["data"]) <= 2
            pages += 1
            seen += [item["request_id"] for item in page["data"]]
            if pages == 1:
                create(c, SHORT)  # a job added meanwhile does not shift the later pages
            if not page["has_more"]:
                break
            after = seen[-1]
        assert pages == 3 and seen == ids[::-1]
        first = c.get("/v1/video-requests", params={"limit": 1}).json()["data"][0]
        assert set(first) == {"request_id", "status", "model", "created_at", "progress"}
        assert first["status"] == "pending" and isinstance(first["created_at"], int)

        c.delete(f"/v1/videos/{ids[2]}")
        failed = c.get("/v1/video-requests", params={"status": "failed"}).json()["data"]
        assert [f["request_id"] for f in failed] == [ids[2]]
        assert failed[0]["error"]["code"] == "cancelled"
        pending = c.get("/v1/video-requests", params={"status": "pending"}).json()["data"]
        assert ids[2] not in {p["request_id"] for p in pending} and len(pending) == 5
        assert c.get("/v1/video-requests", params={"status": "done"}).json()["data"] == []
        assert [i["request_id"] for i in other.get("/v1/video-requests").json()["data"]] == [
            other_id
        ]

        for params, word in (
            ({"limit": 0}, "limit"),
            ({"limit": 101}, "limit"),
            ({"limit": "ten"}, "limit"),
            ({"status": "running"}, "status"),
            ({"after": other_id}, "after"),  # another key's job is no cursor of yours
        ):
            assert_error(c.get("/v1/video-requests", params=params), 400, word)
    assert_error(httpx.get(f"{idle.base_url}/v1/video-requests"), 401)


# --- idempotency ---------------------------------------------------------------------------------


def test_idempotent_creates(idle):
    key_a, key_b = fresh_key(), fresh_key()
    with idle.client(key_a) as a, idle.client(key_b) as b:
        retry = {"Idempotency-Key": "order-42"}
        first = a.post("/v1/videos/generations", json=SHORT, headers=retry)
        again = a.post("/v1/videos/generations", json=SHORT, headers=retry)
        assert first.status_code == again.status_code == 200
        assert first.json() == again.json()
        changed = a.post("/v1/videos/generations", json={**SHORT, "seed": 7}, headers=retry)
        assert_error(changed, 409, "Idempotency-Key")
        theirs = b.post("/v1/videos/generations", json=SHORT, headers=retry)
        assert theirs.status_code == 200
        assert theirs.json()["request_id"] != first.json()["request_id"]
        plain = [create(a, SHORT) for _ in range(2)]  # no key: every request is a new job
        assert len(set(plain)) == 2
        assert_error(
            a.post("/v1/videos/generations", json=SHORT, headers={"Idempotency-Key": "x" * 256}),
            400,
            "Idempotency-Key",
        )

        # Racing retries with one key make one job.
        ids: list[str] = []

        def send():
            with idle.client(key_a) as c:
                r = c.post("/v1/videos/generations", json=SHORT, headers={"Idempotency-Key": "r"})
                assert r.status_code == 200, r.text
                ids.append(r.json()["request_id"])

        threads = [threading.Thread(target=send) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(ids) == 8 and len(set(ids)) == 1
        listed = a.get("/v1/video-requests", params={"limit": 100}).json()["data"]
        assert len(listed) == 4  # first, two plain, one raced


# --- webhooks ------------------------------------------------------------------------------------


def test_webhooks_are_signed_retried_and_never_hold_anything_up(busy, receiver):
    secret = (busy.data_dir / "webhook-secret").read_bytes()
    with busy.client(fresh_key()) as c:
        ok_id = create(c, {**SHORT, "webhook_url": f"{receiver.url}/ok?first"})
        flaky_id = create(c, {**SHORT, "webhook_url": f"{receiver.url}/flaky"})
        done = wait_done(c, ok_id)
        [got] = receiver.wait_for("/ok?first")
        verify(secret, got)
        assert json.loads(got.body) == {**done, "request_id": ok_id}
        assert got.headers["Reelforge-Webhook-Id"] == f"{ok_id}:done"

        # A 500 is retried after the backoff (1 s), with the same body.
        wait_done(c, flaky_id)
        first, second = receiver.wait_for("/flaky", 2)
        assert second.at - first.at >= 0.9
        assert first.body == second.body
        verify(secret, second)

        # A receiver that never answers holds up neither the next job nor its webhook.
        hang_id = create(c, {**SHORT, "webhook_url": f"{receiver.url}/hang"})
        next_id = create(c, {**SHORT, "webhook_url": f"{receiver.url}/ok?next"})
        start = time.monotonic()
        assert wait_done(c, hang_id)["status"] == "done"
        receiver.wait_for("/hang")
        assert wait_done(c, next_id)["status"] == "done"
        [after_hang] = receiver.wait_for("/ok?next", timeout=5)
        assert after_hang.at - start < 4
        assert not receiver.release.is_set()  # the hanging delivery was still open all along


def test_server_wide_webhook_default(make_server, receiver):
    """`--webhook-url` is the operator's own: it may be a loopback address even where clients'
    URLs may not, and `--webhook-secret` signs the deliveries."""
    srv = make_server(
        "--workers", "1", "--webhook-url", f"{receiver.url}/ok?default", "--webhook-secret", "s3"
    )
    with srv.client(fresh_key()) as c:
        request_id = create(c, SHORT)
        done = wait_done(c, request_id)
        own = c.post("/v1/videos/generations", json={**SHORT, "webhook_url": receiver.url})
        assert_error(own, 400, "webhook_url", "non-public")  # clients' URLs still obey the rules
    [got] = receiver.wait_for("/ok?default")
    verify(b"s3", got)
    assert json.loads(got.body) == {**done, "request_id": request_id}


def test_webhook_urls_obey_the_address_rules(idle):
    with idle.client(fresh_key()) as c:
        for url, word in (
            ("http://127.0.0.1:9/hook", "non-public"),
            ("http://10.1.2.3/hook", "non-public"),
            ("ftp://example.com/hook", "http"),
            ("data:text/plain,hi", "http"),
        ):
            r = c.post("/v1/videos/generations", json={**SHORT, "webhook_url": url})
            assert_error(r, 400, "webhook_url", word)
        assert c.get("/v1/video-requests").json()["data"] == []


# --- queue position ------------------------------------------------------------------------------


def test_queue_position_of_queued_jobs(busy):
    with busy.client(fresh_key()) as c:
        running = create(c, LONG)
        wait_running(c, running)
        queued = [create(c, LONG) for _ in range(2)]
        assert "queue_position" not in c.get(f"/v1/videos/{running}").json()
        positions = [c.get(f"/v1/videos/{q}").json()["queue_position"] for q in queued]
        assert positions == [1, 2]
        c.delete(f"/v1/videos/{running}")
        wait_running(c, queued[0])
        assert "queue_position" not in c.get(f"/v1/videos/{queued[0]}").json()
        assert c.get(f"/v1/videos/{queued[1]}").json()["queue_position"] == 1
        for q in queued:
            assert c.delete(f"/v1/videos/{q}").status_code == 200
