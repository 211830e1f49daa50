"""Metrics and logs of a real server: /metrics behind its token (and on --metrics-port) with
the worker processes' samples added up, and JSON log lines that tell a job's whole story."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers import KEY, free_port, wait_done
from tests.webhook_receiver import Receiver

TOKEN = "metrics-secret"


@pytest.fixture(scope="module")
def observed(tmp_path_factory):
    from tests.helpers import Server

    port = free_port()
    receiver = Receiver()  # its first answer is a 500: one delivery is retried
    args = ["--workers", "1", "--api-key", KEY, "--default-rpm", "6", "--log-format", "json"]
    args += ["--metrics-token", TOKEN, "--metrics-port", str(port), "--scenarios"]
    args += ["--webhook-url", f"{receiver.url}/flaky"]
    srv = Server(tmp_path_factory.mktemp("observed") / "data", args=args).start()
    srv.metrics_port = port
    srv.receiver = receiver
    yield srv
    srv.stop()
    receiver.close()


def samples(text: str) -> dict[tuple, float]:
    """{(sample name, sorted labels...): value}."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, *sorted(s.labels.items()))] = s.value
    return out


def value(found: dict, name: str, **labels: str) -> float:
    """The sum of `name`'s samples whose labels include `labels`."""
    want = set(labels.items())
    return sum(v for (n, *ls), v in found.items() if n == name and want <= set(ls))


def test_metrics_cover_requests_jobs_workers_and_limits(observed):
    with observed.client() as client:
        done = client.post("/v1/videos/generations", json={"prompt": "a cat", "duration": 1})
        request_id = done.headers["x-request-id"]
        job = done.json()["request_id"]
        assert wait_done(client, job)["status"] == "done"
        other = client.post("/v1/videos/generations", json={"prompt": "a dog", "duration": 9})
        client.delete(f"/v1/videos/{other.json()['request_id']}")
        failing = client.post(
            "/v1/videos/generations",
            json={"prompt": "a fish", "duration": 1},
            headers={"Reelforge-Scenario": "fail; code=internal_error"},
        )
        blocked = client.post("/v1/videos/generations", json={"prompt": "nsfw", "duration": 1})
        for made in (failing, blocked):
            wait_done(client, made.json()["request_id"])
        while client.post("/v1/videos/generations", json={"duration": 99}).status_code != 429:
            pass
        assert client.get("/metrics").status_code == 401  # the API key is not the token

    def scrape() -> dict:
        bearer = {"Authorization": f"Bearer {TOKEN}"}
        got = httpx.get(f"{observed.base_url}/metrics", headers=bearer)
        assert got.status_code == 200 and got.headers["content-type"].startswith("text/plain")
        return samples(got.text)

    deadline = time.monotonic() + 30  # four jobs' webhooks, one of them sent twice
    while value(found := scrape(), "reelforge_webhook_deliveries_total", outcome="sent") < 4:
        assert time.monotonic() < deadline, "webhooks not delivered"
        time.sleep(0.2)
    poll = {"route": "/v1/videos/{request_id}", "method": "GET"}
    assert value(found, "reelforge_http_requests_total", **poll, status="200") >= 1
    assert value(found, "reelforge_http_request_duration_seconds_count", **poll) >= 2
    job_labels = {"model": "grok-imagine-video", "mode": "text-to-video"}
    assert value(found, "reelforge_jobs_created_total", **job_labels) == 4
    assert value(found, "reelforge_jobs_cancelled_total", **job_labels) == 1
    # these come from the worker process: multiprocess aggregation at work
    assert value(found, "reelforge_jobs_finished_total", **job_labels) == 2  # one blocked
    assert value(found, "reelforge_jobs_failed_total", **job_labels, code="internal_error") == 1
    assert value(found, "reelforge_jobs_blocked_total", **job_labels) == 1
    assert value(found, "reelforge_moderation_blocks_total") == 1
    assert value(found, "reelforge_webhook_deliveries_total", outcome="retry") == 1
    assert value(found, "reelforge_webhook_lag_seconds_count") == 4
    assert value(found, "reelforge_queue_wait_seconds_count", **job_labels) >= 1
    # the blocked job rendered too; its video was withheld, not stored
    assert value(found, "reelforge_render_duration_seconds_count", resolution="480p") == 2
    assert value(found, "reelforge_render_fps", resolution="480p") > 0
    assert value(found, "reelforge_render_stage_seconds_count", stage="store") == 1
    assert value(found, "reelforge_moderation_checks_total", stage="prompt") >= 1
    assert value(found, "reelforge_workers_alive") == 1
    assert value(found, "reelforge_limit_refusals_total", kind="rate") == 1
    assert ("reelforge_queue_depth", ("state", "queued")) in found
    on_port = httpx.get(f"http://127.0.0.1:{observed.metrics_port}/metrics")
    assert value(samples(on_port.text), "reelforge_jobs_created_total", **job_labels) == 4

    events = [json.loads(line) for line in observed.log().splitlines() if line.startswith("{")]
    story = [e for e in events if e.get("job_id") == job]
    said = {e["event"] for e in story}
    assert {"job accepted", "job claimed", "job done", "request"} <= said
    assert len({e["pid"] for e in story}) == 2  # the API process and the worker's
    accepted = next(e for e in story if e["event"] == "job accepted")
    assert accepted["request_id"] == request_id and accepted["key"].startswith("static-")
    answered = [e for e in events if e.get("request_id") == request_id and e["event"] == "request"]
    assert answered[0]["route"] == "/v1/videos/generations" and answered[0]["status"] == 200
    assert answered[0]["job_id"] == job
    assert answered[0]["duration_ms"] > 0
    assert KEY not in observed.log()  # the secret never reaches the logs


def test_no_metrics_on_the_api_without_a_token(server):
    assert httpx.get(f"{server.base_url}/metrics").status_code == 404
