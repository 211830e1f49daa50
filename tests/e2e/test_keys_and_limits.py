"""Managed keys and their limits on two real API replicas sharing one PostgreSQL database,
seen through curl-style HTTP, the official xai-sdk (gRPC) and the Vercel AI SDK; and usage
reports whose totals are exactly the jobs' own costs."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import grpc
import httpx
import pytest
import xai_sdk

from tests.conftest import fresh_database
from tests.e2e.test_ai_sdk import NODE_DIR, SCRIPT, node  # noqa: F401 - the node fixture
from tests.helpers import KEY, Server, free_port, wait_done


@dataclass
class Cluster:
    a: Server  # with a render worker
    b: Server  # API only
    database_url: str
    data_dir: Path

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        where = ["--database-url", self.database_url, "--data-dir", str(self.data_dir)]
        return subprocess.run(
            [sys.executable, "-m", "reelforge.cli", *args, *where],
            capture_output=True,
            text=True,
            timeout=60,
        )

    def new_key(self, name: str, *limits: str) -> str:
        made = self.cli("keys", "create", "--name", name, *limits)
        assert made.returncode == 0, made.stderr
        return made.stdout.strip()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    root = tmp_path_factory.mktemp("limits")
    with fresh_database() as url:
        # one shared files directory stands in for a bucket: either replica serves any video
        common = ["--database-url", url, "--api-key", KEY, "--storage", str(root / "files")]
        a = Server(root / "a", args=[*common, "--workers", "1"]).start()
        b = Server(root / "b", args=[*common, "--workers", "0", "--grpc-port", str(free_port())])
        b.start()
        try:
            yield Cluster(a, b, url, root / "cli")
        finally:
            a.stop()
            b.stop()


def post(server: Server, key: str, body: dict | None = None) -> httpx.Response:
    body = body or {"prompt": "a red ball", "duration": 1}
    with server.client(key) as client:
        return client.post("/v1/videos/generations", json=body)


def test_key_lifecycle_and_identity(cluster):
    secret = cluster.new_key("carol")
    assert secret.startswith("rf-")
    twice = cluster.cli("keys", "create", "--name", "carol")
    assert twice.returncode == 1 and "a key named 'carol' exists" in twice.stderr
    listed = cluster.cli("keys", "list", "--json")
    (carol,) = [k for k in json.loads(listed.stdout) if k["name"] == "carol"]
    assert secret not in listed.stdout and carol["id"].startswith("key_")
    job = post(cluster.a, secret).json()["request_id"]
    with cluster.b.client(secret) as client:
        assert client.get(f"/v1/videos/{job}").status_code in (200, 202)
    assert cluster.cli("keys", "revoke", "carol").returncode == 0
    time.sleep(1.1)  # replicas trust a key lookup for up to a second
    refused = post(cluster.b, secret)
    assert refused.status_code == 401 and "revoked" in refused.json()["error"]
    again = cluster.new_key("carol")  # the same name again: a new identity
    with cluster.a.client(again) as client:
        assert client.get(f"/v1/videos/{job}").status_code == 404
        assert client.get("/v1/video-requests").json()["data"] == []
    assert post(cluster.a, "not-a-key").status_code == 401  # managed keys close the open mode
    assert post(cluster.a, KEY).status_code == 200  # --api-key keys keep working, unlimited


def test_rate_limit_across_replicas_over_http(cluster):
    secret = cluster.new_key("burst", "--rpm", "3")
    answers = [post(server, secret) for server in (cluster.a, cluster.b, cluster.a, cluster.b)]
    assert [r.status_code for r in answers] == [200, 200, 200, 429]
    assert [r.headers["x-ratelimit-remaining-requests"] for r in answers] == ["2", "1", "0", "0"]
    assert all(r.headers["x-ratelimit-limit-requests"] == "3" for r in answers)
    refused = answers[-1]
    assert refused.json()["code"] == "resource-exhausted"
    assert "3 requests per minute" in refused.json()["error"]
    assert 1 <= int(refused.headers["retry-after"]) <= 20
    with cluster.b.client(secret) as client:  # the refused request created nothing
        assert len(client.get("/v1/video-requests").json()["data"]) == 3


def test_xai_sdk_sees_resource_exhausted(cluster):
    secret = cluster.new_key("sdk", "--max-pending", "1")
    client = xai_sdk.Client(
        api_key=secret, api_host=f"127.0.0.1:{cluster.b.grpc_port}", use_insecure_channel=True
    )
    with httpx.Client(base_url=cluster.b.base_url) as http:
        first = client.video.start(prompt="a cat", model="grok-imagine-video", duration=1)
        with pytest.raises(grpc.RpcError) as caught:
            client.video.start(prompt="a dog", model="grok-imagine-video", duration=1)
        error = caught.value
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "1 queued or rendering" in error.details()
        assert dict(error.trailing_metadata())["retry-after"] == "5"
        http.headers["Authorization"] = f"Bearer {secret}"
        wait_done(http, first.request_id)
    video = client.video.generate(prompt="a dog", model="grok-imagine-video", duration=1)
    assert video.duration == 1  # room again once the first finished


def run_node(node: str, server: Server, job: dict) -> tuple[int, dict]:  # noqa: F811
    proc = subprocess.run(
        [node, str(SCRIPT), server.base_url, json.dumps({"pollIntervalMs": 100, **job})],
        capture_output=True,
        text=True,
        timeout=90,
        cwd=NODE_DIR,
    )
    return proc.returncode, json.loads(proc.stdout.strip().splitlines()[-1])


def drain(server: Server, key: str) -> None:
    """Spend the key's requests with invalid ones (each counts, none makes a job) until a 429."""
    for _ in range(100):
        if post(server, key, {"prompt": "x", "duration": 99}).status_code == 429:
            return
    raise AssertionError("no 429")


def test_ai_sdk_sees_a_rate_limit_error_and_retries(cluster, node):  # noqa: F811
    secret = cluster.new_key("vercel", "--rpm", "1")
    drain(cluster.a, secret)
    code, result = run_node(node, cluster.b, {"apiKey": secret, "prompt": "a cat", "duration": 1})
    assert code == 2, result
    error = result["error"]
    assert error["name"] == "AI_APICallError" and error["statusCode"] == 429
    assert error["isRetryable"] is True and 30 < int(error["retryAfter"]) <= 60
    assert "resource-exhausted" in error["responseBody"]

    # Its default retries wait as Retry-After says (up to a minute): here a token every 6 s.
    secret = cluster.new_key("vercel-retries", "--rpm", "10")
    drain(cluster.a, secret)
    started = time.monotonic()
    code, result = run_node(
        node, cluster.b, {"apiKey": secret, "prompt": "a cat", "duration": 1, "maxRetries": 2}
    )
    assert code == 0, result
    assert result["providerMetadata"]["xai"]["duration"] == 1
    assert time.monotonic() - started < 30


def test_usage_totals_equal_the_jobs_costs(cluster):
    secret = cluster.new_key("metered")
    bodies = [
        {"prompt": "a cat", "duration": 1},
        {"prompt": "a dog", "duration": 2, "resolution": "720p"},
        {"prompt": "a bird", "duration": 3, "model": "grok-imagine-video-1.5"},
    ]
    done = []
    with cluster.a.client(secret) as client:
        for body in bodies:
            job = client.post("/v1/videos/generations", json=body).json()["request_id"]
            done.append(wait_done(client, job))
        cancelled = client.post("/v1/videos/generations", json={"prompt": "x", "duration": 9})
        client.post(f"/v1/videos/{cancelled.json()['request_id']}/cancel")
    costs = [d["usage"]["cost_in_usd_ticks"] for d in done]
    with cluster.b.client(secret) as client:
        own = client.get("/v1/usage").json()
        by_model = client.get("/v1/usage", params={"group_by": "model"}).json()
        bad = client.get("/v1/usage", params={"from": "yesterday"})
    total = own["total"]
    assert total["cost_in_usd_ticks"] == sum(costs)
    assert total["cost_in_usd"] == pytest.approx(sum(costs) / 1e10)
    assert total["jobs"] == {"pending": 0, "done": 3, "failed": 1, "expired": 0}
    assert total["seconds"] == 6.0
    groups = {g["group"]: g for g in by_model["data"]}
    assert groups["grok-imagine-video-1.5"]["cost_in_usd_ticks"] == costs[2]
    assert groups["grok-imagine-video"]["cost_in_usd_ticks"] == costs[0] + costs[1]
    assert bad.status_code == 400 and bad.json()["error"].startswith("from:")

    report = cluster.cli("usage", "--key", "metered", "--json", "--group-by", "day")
    assert report.returncode == 0, report.stderr
    assert json.loads(report.stdout)["total"] == total
    text = cluster.cli("usage", "--key", "metered")
    assert str(sum(costs)) in text.stdout.splitlines()[-1]


def test_deleting_a_video_keeps_its_cost(cluster):
    """An OpenAI-surface DELETE removes the video from every view, but not from usage or from
    the key's spend: deleting finished videos wins no budget back."""
    secret = cluster.new_key("deleter")
    body = {"prompt": "a cat", "seconds": "4", "size": "848x480", "model": "grok-imagine-video"}
    with cluster.a.client(secret) as client:
        video = client.post("/v1/videos", json=body).json()["id"]
        deadline = time.monotonic() + 120
        while client.get(f"/v1/videos/{video}").json()["status"] != "completed":
            assert time.monotonic() < deadline
            time.sleep(0.1)
        spent = client.get("/v1/usage").json()["total"]
        assert spent["jobs"]["done"] == 1 and spent["cost_in_usd_ticks"] > 0
        assert client.delete(f"/v1/videos/{video}").json()["deleted"] is True
        assert client.get(f"/v1/videos/{video}").status_code == 404
        assert client.get("/v1/videos").json()["data"] == []
        assert client.get("/v1/usage").json()["total"] == spent
    budget = Decimal(spent["cost_in_usd_ticks"]) / 10**10  # exactly what the deleted one cost
    updated = cluster.cli("keys", "update", "deleter", "--budget-usd", str(budget))
    assert updated.returncode == 0, updated.stderr
    time.sleep(1.1)  # replicas trust a key lookup for up to a second
    with cluster.b.client(secret) as client:
        refused = client.post("/v1/videos", json=body)
    assert refused.status_code == 429 and "spend limit" in refused.text
