"""Fetch a user's input (a data URL or an http(s) URL) within the policy's size and time caps."""

from __future__ import annotations

import asyncio

import httpx

from reelforge.core.errors import InputError
from reelforge.net.client import get_following_redirects
from reelforge.net.data_url import is_data_url, parse_data_url
from reelforge.net.policy import FetchPolicy, Kind


async def afetch_bytes(url: str, field: str, policy: FetchPolicy, kind: Kind) -> bytes:
    """Fetch an input's bytes (data or http(s) URL) within the policy's size and time caps."""
    max_bytes = policy.max_bytes(kind)
    if not isinstance(url, str) or not url:
        raise InputError(field, "URL is empty")
    if is_data_url(url):
        return parse_data_url(url, field, max_bytes)
    limit = policy.timeout(kind)
    try:
        # One deadline for the whole fetch: DNS, connects, redirects and a slow-dripping body.
        async with asyncio.timeout(limit):
            return await get_following_redirects(url, field, policy, max_bytes, limit)
    except (TimeoutError, httpx.TimeoutException):
        raise InputError(field, f"fetching the URL timed out after {limit:g} s") from None
    except httpx.ConnectError:
        raise InputError(field, "could not connect to the server (or its TLS is invalid)") from None
    except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError, OSError, ValueError) as exc:
        raise InputError(field, f"fetching the URL failed ({type(exc).__name__})") from None


def fetch_bytes(url: str, field: str, policy: FetchPolicy, kind: Kind) -> bytes:
    """Blocking `afetch_bytes`, for workers and threads. Inside an event loop, await that one."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(afetch_bytes(url, field, policy, kind))
    raise RuntimeError("fetch_bytes() called from a running event loop; await afetch_bytes()")
