"""Webhooks signed by the Standard Webhooks scheme, checked the way receivers check them: with
`openai`'s `client.webhooks.unwrap()` and with the `standardwebhooks` package. OpenAI-surface
jobs send OpenAI's `video.completed` / `video.failed` events; xAI-surface jobs keep their body
and also carry the deprecated Reelforge-* headers."""

from __future__ import annotations

import base64
import json

import openai
import pytest
import standardwebhooks

from tests.helpers import KEY, create, wait_done
from tests.test_webhooks import receiver  # noqa: F401 - the fixture
from tests.webhook_receiver import verify

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

SECRET = "whsec_" + base64.b64encode(b"reelforge-test-webhook-secret-32").decode()
FAST = {"model": "grok-imagine-video", "size": "848x480"}


@pytest.fixture
def hooked(make_server, receiver):  # noqa: F811 - the fixture
    """The operator's webhook URL (a loopback one is allowed: it is the operator's)."""
    return make_server(
        "--workers", "1", "--webhook-url", f"{receiver.url}/ok", "--webhook-secret", SECRET
    )


def unwrap(got) -> dict:
    """Both verifiers accept the delivery; returns its body."""
    event = openai.OpenAI(api_key="unused").webhooks.unwrap(got.body, got.headers, secret=SECRET)
    payload = standardwebhooks.Webhook(SECRET).verify(got.body, got.headers)
    assert payload == json.loads(got.body)
    assert event.to_dict() == payload or "request_id" in payload  # (xAI bodies are no event)
    return payload


def test_openai_jobs_send_openai_events(hooked, receiver):  # noqa: F811
    client = openai.OpenAI(base_url=f"{hooked.base_url}/v1", api_key=KEY)
    done = client.videos.create_and_poll(prompt="a kite", seconds="1", poll_interval_ms=100, **FAST)
    [got] = receiver.wait_for("/ok")
    event = unwrap(got)
    assert event["id"] == got.headers["webhook-id"] and event["id"].startswith("evt_")
    assert event["object"] == "event"
    assert (event["type"], event["data"]) == ("video.completed", {"id": done.id})
    assert abs(event["created_at"] - done.completed_at) <= 1
    assert not any(h.lower().startswith("reelforge-") for h in got.headers)  # no legacy headers

    running = client.videos.create(prompt="a long one", seconds="15", **FAST)
    client.videos.delete(running.id)  # cancelled, then deleted: the event still goes out
    blocked = client.videos.create_and_poll(
        prompt="nsfw", seconds="1", poll_interval_ms=100, **FAST
    )
    got = receiver.wait_for("/ok", 3)
    events = {e["data"]["id"]: e for e in map(unwrap, got)}
    assert events[running.id]["type"] == "video.failed"
    assert events[blocked.id]["type"] == "video.failed"  # withheld by moderation
    assert len({e["id"] for e in events.values()}) == 3


def test_a_tampered_delivery_fails_both_verifiers(hooked, receiver):  # noqa: F811
    client = openai.OpenAI(base_url=f"{hooked.base_url}/v1", api_key=KEY)
    client.videos.create_and_poll(prompt="a kite", seconds="1", poll_interval_ms=100, **FAST)
    [got] = receiver.wait_for("/ok")
    tampered = got.body.replace(b"video.completed", b"video.failed")
    with pytest.raises(openai.InvalidWebhookSignatureError):
        openai.OpenAI(api_key="unused").webhooks.unwrap(tampered, got.headers, secret=SECRET)
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        standardwebhooks.Webhook(SECRET).verify(tampered, got.headers)


def test_xai_jobs_keep_their_body_and_the_deprecated_headers(hooked, receiver):  # noqa: F811
    with hooked.client() as c:
        request_id = create(c, {"prompt": "a kite", "duration": 1})
        assert wait_done(c, request_id)["status"] == "done"
    [got] = receiver.wait_for("/ok")
    body = unwrap(got)  # Standard Webhooks, as for the OpenAI surface
    assert body["request_id"] == request_id and body["status"] == "done"
    verify(SECRET.encode(), got)  # and the Reelforge-* headers of earlier releases
    assert got.headers["Reelforge-Webhook-Id"] == f"{request_id}:done"


def test_a_generated_secret_is_a_standard_one(make_server, receiver):  # noqa: F811
    server = make_server("--workers", "1", "--webhook-url", f"{receiver.url}/ok")
    secret = (server.data_dir / "webhook-secret").read_text()
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) == 32
    client = openai.OpenAI(base_url=f"{server.base_url}/v1", api_key=KEY)
    client.videos.create_and_poll(prompt="a kite", seconds="1", poll_interval_ms=100, **FAST)
    [got] = receiver.wait_for("/ok")
    assert standardwebhooks.Webhook(secret).verify(got.body, got.headers)["type"] == (
        "video.completed"
    )
