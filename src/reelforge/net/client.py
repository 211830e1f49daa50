"""A pinned HTTP client: GET and POST connect to the address the policy checked, never another.

trust_env is off everywhere: an environment proxy would connect on our behalf and defeat pinning.
"""

from __future__ import annotations

import asyncio

import httpx

from reelforge.core.errors import InputError
from reelforge.core.units import human_bytes as _human
from reelforge.core.units import whole_number
from reelforge.net.policy import (
    FetchPolicy,
    Target,
    parse_http_url,
    resolve_checked,
)

USER_AGENT = "Reelforge-Fetch/1.0"
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


async def _get_once(
    client: httpx.AsyncClient, target: Target, field: str, max_bytes: int
) -> tuple[int, str | None, bytes]:
    """One GET pinned to `target.address`: (status, Location header, body if 2xx)."""
    pinned = target.url.copy_with(host=str(target.address))
    headers = {
        "Host": target.url.netloc.decode("ascii"),  # virtual host as the user wrote it
        "User-Agent": USER_AGENT,
        "Accept": "*/*",
        "Accept-Encoding": "identity",
    }
    # SNI and certificate verification use the real hostname, not the pinned IP.
    extensions = {"sni_hostname": target.host} if target.url.scheme == "https" else {}
    request = client.build_request("GET", pinned, headers=headers, extensions=extensions)
    try:
        response = await client.send(request, stream=True)
    except httpx.InvalidURL:
        # httpx pre-builds the next request from a Location header even when not following it.
        raise InputError(field, "server redirected to an invalid URL") from None
    try:
        status = response.status_code
        if status in _REDIRECT_STATUSES:
            return status, response.headers.get("location"), b""
        if not 200 <= status < 300:
            return status, None, b""
        declared = response.headers.get("content-length")
        if declared is not None and (whole_number(declared) or 0) > max_bytes:
            raise InputError(field, f"file is larger than the {_human(max_bytes)} limit")
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > max_bytes:  # stop reading the moment the cap is passed
                raise InputError(field, f"file is larger than the {_human(max_bytes)} limit")
        return status, None, bytes(body)
    finally:
        await response.aclose()


async def get_following_redirects(
    url: str, field: str, policy: FetchPolicy, max_bytes: int, limit: float
) -> bytes:
    parsed = parse_http_url(url, field)
    timeout = httpx.Timeout(limit)  # per operation; the overall deadline is enforced above us
    # trust_env=False: an environment proxy would connect on our behalf and defeat the pinning.
    async with httpx.AsyncClient(follow_redirects=False, trust_env=False, timeout=timeout) as c:
        for hop in range(policy.max_redirects + 1):
            target = await resolve_checked(parsed, field, policy)
            status, location, body = await _get_once(c, target, field, max_bytes)
            if status in _REDIRECT_STATUSES:
                if not location:
                    raise InputError(field, f"server answered HTTP {status} without a Location")
                if hop == policy.max_redirects:
                    raise InputError(field, f"too many redirects (more than {hop})")
                try:
                    next_url = parsed.join(location)
                except (httpx.InvalidURL, ValueError):
                    raise InputError(field, "server redirected to an invalid URL") from None
                parsed = parse_http_url(next_url, field)  # a hop to data:/file: is refused
                continue
            if not 200 <= status < 300:
                raise InputError(field, f"could not fetch the URL: server answered HTTP {status}")
            return body
    raise AssertionError("unreachable")


async def apost(
    url: str, body: bytes, headers: dict[str, str], policy: FetchPolicy, timeout: float, field: str
) -> int:
    """POST `body` to an http(s) URL under the same address rules as fetches, pinned to the
    checked address, redirects not followed; the response status. The response body is not read.

    Raises InputError (refused URL), TimeoutError (past `timeout`, everything included) or an
    httpx/OS error (connection failures).
    """
    parsed = parse_http_url(url, field)
    async with asyncio.timeout(timeout):
        limits = httpx.Timeout(timeout)
        async with httpx.AsyncClient(follow_redirects=False, trust_env=False, timeout=limits) as c:
            target = await resolve_checked(parsed, field, policy)
            pinned = target.url.copy_with(host=str(target.address))
            extensions = {"sni_hostname": target.host} if target.url.scheme == "https" else {}
            request = c.build_request(
                "POST",
                pinned,
                content=body,
                headers={"Host": target.url.netloc.decode("ascii"), **headers},
                extensions=extensions,
            )
            response = await c.send(request, stream=True)
            await response.aclose()
            return response.status_code
