"""The `upstream` engine: forward a job to a server speaking xAI's video API and bring back the
finished video.

Crash safety: the upstream's request id is checkpointed on the job before the first poll, and a
resumed job (its worker died, or drained) polls that id again instead of creating another job
upstream. Creates carry `Idempotency-Key: <job id>`, so even a worker that dies between the
upstream's answer and the checkpoint creates nothing twice on an upstream that honours the header
(a Reelforge upstream does; xAI's hosted API documents no such header).

Polling: every poll asks `?wait=` (Reelforge's long poll: the answer comes the moment the job
finishes). An upstream that answers a pending job at once does not long-poll, so from then on
this job polls adaptively: often while the upstream's progress says the end is near, rarely
while it is far.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from reelforge.core.errors import (
    INTERNAL_ERROR,
    SERVICE_UNAVAILABLE,
    UPSTREAM_EXPIRED,
    JobError,
)
from reelforge.engines.base import Finished, JobRequest
from reelforge.engines.upstream.client import UpstreamClient, http_client
from reelforge.engines.upstream.options import UpstreamOptions, parse
from reelforge.engines.upstream.wire import request_body

LONG_POLL_S = 2.0  # each long poll also reports progress, so not much longer
MIN_POLL_S = 0.2
MAX_POLL_S = 2.0
CANCEL_CHECK_S = 0.25  # while waiting, how often a cancelled job is noticed


def marked_up(ticks: int, options: UpstreamOptions) -> int:
    total = Decimal(ticks) * (100 + options.markup_percent) / 100
    return int(total.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def next_interval(progress: int, elapsed: float, plain_polls: int) -> float:
    """How long to wait before the next plain poll: half the time the upstream's progress rate
    says is left, or, with no progress yet, a gently growing interval."""
    if progress > 0:
        remaining = elapsed * (100 - progress) / progress
        return min(MAX_POLL_S, max(MIN_POLL_S, remaining / 2))
    return min(MAX_POLL_S, MIN_POLL_S * 1.5**plain_polls)


class UpstreamEngine:
    name = "upstream"

    def __init__(self, max_attempts: int = 3):
        self.max_attempts = max_attempts
        self._http = http_client()  # kept open: the next job skips connecting and TLS set-up

    def finish(self, request: JobRequest) -> Finished:
        options = parse(request.model)
        progress = [0]

        def wait(seconds: float) -> None:
            """Sleep, reporting progress now and then: a cancelled job stops here."""
            end = time.monotonic() + seconds
            while (left := end - time.monotonic()) > 0:
                time.sleep(min(CANCEL_CHECK_S, left))
                request.progress(progress[0], 100)

        client = UpstreamClient(
            self._http,
            options.base_url,
            options.api_key(),
            max_attempts=self.max_attempts,
            sleep=wait,
        )
        state = dict(request.checkpoint.state)
        if "request_id" not in state:
            endpoint, body = request_body(
                request.spec, options.upstream_model, request.read_input, options.max_request_bytes
            )
            request_id = client.create(endpoint, body, request.job_id)
            state = {"request_id": request_id, "submitted_at": time.time()}
            request.checkpoint.save(state)  # before any poll: a successor resumes this id
        answer = self._poll(client, state, options, progress, request, wait)
        return self._collect(client, answer, options, request, state)

    def _poll(
        self,
        client: UpstreamClient,
        state: dict[str, Any],
        options: UpstreamOptions,
        progress: list[int],
        request: JobRequest,
        wait: Callable[[float], None],
    ) -> dict[str, Any]:
        """Poll until the upstream job leaves pending; its final body (done), else JobError."""
        request_id = state["request_id"]
        deadline = time.monotonic() + options.timeout_s
        long_poll, plain_polls = True, 0
        while time.monotonic() < deadline:
            asked = time.monotonic()
            code, body = client.poll(request_id, LONG_POLL_S if long_poll else None)
            if code in (400, 422) and long_poll:  # an upstream that refuses `?wait=`
                long_poll = False
                continue
            if code not in (200, 202):
                raise JobError(
                    SERVICE_UNAVAILABLE,
                    f"polling the upstream's request {request_id} failed (HTTP {code}): "
                    f"{body.get('error', '')}",
                )
            status = body.get("status") or ("pending" if code == 202 else "")
            if status == "done":
                return body
            if status == "failed":
                error = body.get("error") if isinstance(body.get("error"), dict) else {}
                raise JobError(
                    str(error.get("code") or INTERNAL_ERROR),
                    str(error.get("message") or "the upstream failed the request"),
                )
            if status == "expired":
                raise JobError(
                    UPSTREAM_EXPIRED, "the upstream's result expired before it could be stored"
                )
            # pending (or a status this version does not know: keep polling, as xai-sdk does)
            if isinstance(body.get("progress"), int):
                progress[0] = max(0, min(99, body["progress"]))
            request.progress(progress[0], 100)
            if long_poll and time.monotonic() - asked < LONG_POLL_S / 2:
                long_poll = False  # answered at once: this upstream only answers plain polls
            if not long_poll:
                elapsed = time.time() - state.get("submitted_at", time.time())
                wait(next_interval(progress[0], elapsed, plain_polls))
                plain_polls += 1
        raise JobError(
            SERVICE_UNAVAILABLE,
            f"the upstream did not finish request {request_id} within {options.timeout_s:g} s",
        )

    def _collect(
        self,
        client: UpstreamClient,
        body: dict[str, Any],
        options: UpstreamOptions,
        request: JobRequest,
        state: dict[str, Any],
    ) -> Finished:
        """Download a done job's video at once (its URL is temporary)."""
        video = body.get("video") if isinstance(body.get("video"), dict) else {}
        usage = body.get("usage") if isinstance(body.get("usage"), dict) else {}
        cost = marked_up(int(usage.get("cost_in_usd_ticks") or 0), options)
        duration = float(video.get("duration") or 0)
        details = {**state, "upstream_requests": client.requests}
        if video.get("respect_moderation") is False:
            reason = "the upstream's moderation withheld the video"
            return Finished(duration, cost, withheld=reason, details=details)
        url = video.get("url")
        if not isinstance(url, str) or not url:
            raise JobError(SERVICE_UNAVAILABLE, "the upstream reported done without a video URL")
        if not client.download(url, request.out):
            raise JobError(
                UPSTREAM_EXPIRED,
                "the upstream's video URL stopped serving the video before it could be stored",
            )
        details["upstream_requests"] = client.requests
        return Finished(duration, cost, details=details)
