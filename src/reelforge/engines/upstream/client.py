"""HTTP to the operator's upstream: creates, polls and downloads, with retries.

The base URL is the operator's own (from the catalog), so it is trusted: no address policy and
private hosts allowed, unlike the URLs users send. Rate limits (429) wait as long as the upstream's
`Retry-After` says; 5xx answers and network errors are retried with backoff, `max_attempts` tries
in a row, then the job fails `service_unavailable`. The key travels only in the Authorization
header; nothing here logs or quotes it.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx

from reelforge.core.errors import INVALID_ARGUMENT, PERMISSION_DENIED, SERVICE_UNAVAILABLE, JobError
from reelforge.core.units import whole_number

T = TypeVar("T")

USER_AGENT = "Reelforge-Upstream/1.0"
BACKOFF_S = 0.5  # first retry after a 5xx or a network error; doubled each time
MAX_BACKOFF_S = 8.0
MAX_RETRY_AFTER_S = 120.0
MAX_RATE_LIMITED = 100  # 429s for one request before it counts as a failed attempt
MAX_VIDEO_BYTES = 1024 * 1024 * 1024

# The contract's error code for an upstream refusal, by HTTP status (the rest: invalid_argument).
REFUSAL_CODES = {401: PERMISSION_DENIED, 403: PERMISSION_DENIED}


def retry_after(response: httpx.Response, default: float) -> float:
    """Seconds the upstream asked us to wait: delta-seconds or an HTTP date; else `default`."""
    value = response.headers.get("retry-after", "").strip()
    if (seconds := whole_number(value)) is not None:
        return min(float(seconds), MAX_RETRY_AFTER_S)
    try:
        when = email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return default
    return min(max(0.0, when - time.time()), MAX_RETRY_AFTER_S)


def error_text(response: httpx.Response) -> str:
    """The upstream's own error message: `{code, error}` or `{error: {message}}` bodies."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:300] or response.reason_phrase
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict):
            err = err.get("message")
        if isinstance(err, str) and err:
            return err[:1000]
    return response.reason_phrase


def http_client(timeout: float = 60.0) -> httpx.Client:
    """The connection pool an engine keeps for its upstreams (the operator's URLs: reached
    directly, redirects followed)."""
    return httpx.Client(
        headers={"User-Agent": USER_AGENT},
        timeout=httpx.Timeout(timeout, connect=10.0),
        trust_env=False,
        follow_redirects=True,
    )


class UpstreamClient:
    """One job's conversation with its upstream."""

    def __init__(
        self,
        http: httpx.Client,
        base_url: str,
        api_key: str,
        *,
        max_attempts: int,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self._http = http  # shared across jobs: its connections stay open between them
        self.base_url = base_url
        self._auth = {"Authorization": f"Bearer {api_key}"}  # only ever sent to base_url
        self.max_attempts = max(1, max_attempts)
        self.sleep = sleep  # the engine's: it notices a cancelled job while waiting
        self.requests = 0  # sent to the upstream, retries included

    def _retrying(self, what: str, attempt: Callable[[], T]) -> T:
        """`attempt()` until it returns: a 429 (`_Again` with a wait) waits as told and does not
        count (unless it keeps coming); 5xx and network errors count, with backoff, up to
        `max_attempts` in a row."""
        failures, limited, backoff = 0, 0, BACKOFF_S
        while True:
            self.requests += 1
            try:
                return attempt()
            except httpx.TransportError as exc:
                problem = type(exc).__name__
            except _Again as again:
                if again.wait is not None and limited < MAX_RATE_LIMITED:
                    limited += 1
                    self.sleep(again.wait)
                    continue
                problem = again.problem
            failures += 1
            if failures >= self.max_attempts:
                raise JobError(
                    SERVICE_UNAVAILABLE,
                    f"{what}: the upstream failed {failures} attempts in a row ({problem})",
                )
            self.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_S)

    def send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request, retried through 429, 5xx and network errors; any other answer returns."""

        headers = {**self._auth, **kwargs.pop("headers", {})}  # (every retry sends them all)
        url = self.base_url + path

        def attempt() -> httpx.Response:
            return _answered(self._http.request(method, url, headers=headers, **kwargs))

        return self._retrying(f"{method} {path}", attempt)

    def create(self, kind: str, body: dict[str, Any], idempotency_key: str) -> str:
        """POST a job; its upstream request id. A 4xx fails the job with the contract's code and
        the upstream's message (the job was accepted here before the upstream saw it)."""
        response = self.send(
            "POST",
            f"/videos/{kind}",
            json=body,
            # A Reelforge upstream answers a repeat with the first job: no second create.
            headers={"Idempotency-Key": idempotency_key},
        )
        if response.status_code != 200:
            code = REFUSAL_CODES.get(response.status_code, INVALID_ARGUMENT)
            raise JobError(
                code,
                f"the upstream refused the request (HTTP {response.status_code}): "
                f"{error_text(response)}",
            )
        request_id = response.json().get("request_id")
        if not isinstance(request_id, str) or not request_id:
            raise JobError(SERVICE_UNAVAILABLE, "the upstream answered without a request_id")
        return request_id

    def poll(self, request_id: str, wait: float | None) -> tuple[int, dict[str, Any]]:
        """(HTTP status, body) of one poll; `wait` asks a long-polling upstream to hold it."""
        params = {"wait": f"{wait:g}"} if wait else None
        response = self.send("GET", f"/videos/{request_id}", params=params)
        if response.status_code not in (200, 202):
            return response.status_code, {"error": error_text(response)}
        try:
            body = response.json() if response.content else {}
        except ValueError:
            body = {}
        return response.status_code, body if isinstance(body, dict) else {}

    def download(self, url: str, out: Path) -> bool:
        """Stream the finished video to `out`; False if the URL no longer serves it (4xx)."""

        def attempt() -> bool:
            # The URL came from the upstream, not a user: it may be on the upstream's own host.
            # It is often another host (a CDN): no key goes with it.
            with self._http.stream("GET", url) as response:
                if 400 <= _answered(response).status_code < 500:
                    return False
                size = 0
                with open(out, "wb") as f:
                    for chunk in response.iter_bytes(1 << 20):
                        size += len(chunk)
                        if size > MAX_VIDEO_BYTES:
                            raise JobError(
                                SERVICE_UNAVAILABLE, "the upstream's video is over 1 GiB"
                            )
                        f.write(chunk)
                return True

        return self._retrying("downloading the video", attempt)


class _Again(Exception):
    """Try again: after `wait` seconds (rate limited), else as a failed attempt."""

    def __init__(self, problem: str, wait: float | None = None):
        super().__init__(problem)
        self.problem = problem
        self.wait = wait


def _answered(response: httpx.Response) -> httpx.Response:
    """`response`, unless it asks for another try (429, 5xx)."""
    if response.status_code == 429:
        raise _Again("HTTP 429", retry_after(response, BACKOFF_S))
    if response.status_code >= 500:
        raise _Again(f"HTTP {response.status_code}")
    return response
