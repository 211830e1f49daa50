"""Which URLs the server may fetch or post to: schemes, and hosts whose every address is public.

Every failure is `InputError(field, message)`: the caller makes it a 400 (at request time) or a
failed job (at render time).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import httpx

from reelforge.core.errors import InputError
from reelforge.core.units import MiB
from reelforge.net.data_url import is_data_url, parse_data_url

Kind = Literal["image", "video", "audio"]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass
@dataclass
class FetchPolicy:
    max_image_bytes: int = 10 * MiB
    max_video_bytes: int = 50 * MiB
    max_audio_bytes: int = 20 * MiB
    timeout_s: float = 5.0  # whole fetch of an image, redirects and DNS included
    video_timeout_s: float = 30.0  # whole fetch of a video or audio clip
    allow_private: bool = False  # only for trusted deployments and tests
    max_redirects: int = 3

    def max_bytes(self, kind: Kind) -> int:
        return {
            "image": self.max_image_bytes,
            "video": self.max_video_bytes,
            "audio": self.max_audio_bytes,
        }[kind]

    def timeout(self, kind: Kind) -> float:
        return self.timeout_s if kind == "image" else self.video_timeout_s


# --------------------------------------------------------------------------- address checks

_EXTRA_BLOCKED: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = (
    ipaddress.ip_network("100.64.0.0/10"),  # carrier-grade NAT (shared address space)
    ipaddress.ip_network("192.0.0.0/24"),  # IETF protocol assignments
    ipaddress.ip_network("198.18.0.0/15"),  # benchmarking
    ipaddress.ip_network("64:ff9b:1::/48"),  # local-use NAT64
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def is_public_address(addr: IPAddress) -> bool:
    """True only for globally routable unicast addresses; conservative on purpose."""
    if isinstance(addr, ipaddress.IPv6Address):
        # Addresses that embed an IPv4 address can reach it (mapped, NAT64, 6to4, Teredo).
        embedded: ipaddress.IPv4Address | None = addr.ipv4_mapped or addr.sixtofour
        if embedded is None and addr.teredo is not None:
            embedded = addr.teredo[1]
        if embedded is None and addr in _NAT64:
            embedded = ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
        if embedded is not None and not is_public_address(embedded):
            return False
        if embedded is not None and (addr.ipv4_mapped is not None or addr in _NAT64):
            return True  # judged by its IPv4 address alone (DNS64 synthesises these)
    if (
        addr.is_private
        or addr.is_loopback
        or addr.is_link_local
        or addr.is_multicast
        or addr.is_reserved
        or addr.is_unspecified
        or not addr.is_global
    ):
        return False
    return not any(addr in net for net in _EXTRA_BLOCKED if net.version == addr.version)


def _resolve(host: str, port: int) -> list[IPAddress]:
    """All addresses `host` resolves to (a literal IP resolves to itself)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addrs: list[IPAddress] = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        # Drop an IPv6 zone ("fe80::1%eth0"); the address alone decides.
        addr = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if addr not in addrs:
            addrs.append(addr)
    return addrs


@dataclass(frozen=True)
class Target:
    url: httpx.URL
    host: str
    port: int
    address: IPAddress  # the checked address the connection is pinned to


def parse_http_url(url: str | httpx.URL, field: str) -> httpx.URL:
    try:
        parsed = url if isinstance(url, httpx.URL) else httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        raise InputError(field, "is not a valid URL") from None
    if parsed.scheme not in ("http", "https"):
        shown = parsed.scheme or "(none)"
        raise InputError(field, f"URL scheme '{shown}' is not allowed; use https, http or data")
    if not parsed.host:
        raise InputError(field, "URL has no host")
    return parsed


def check_addresses(
    host: str, addrs: Sequence[IPAddress], field: str, policy: FetchPolicy
) -> IPAddress:
    if not addrs:
        raise InputError(field, f"host '{host}' could not be resolved")
    if not policy.allow_private:
        for addr in addrs:
            if not is_public_address(addr):
                raise InputError(
                    field, f"host '{host}' resolves to a non-public address; refusing to fetch it"
                )
    return addrs[0]


def host_port(parsed: httpx.URL) -> tuple[str, int]:
    return parsed.host, parsed.port or (443 if parsed.scheme == "https" else 80)


def check_url(url: str, field: str, policy: FetchPolicy, kind: Kind | None = None) -> None:
    """Request-time validation: scheme allowed, data URL decodable, host resolves to public IPs.

    The fetch repeats the address check (and pins it), so this is a fast early answer, not the
    only line of defence. With `kind`, a data URL is also held to that kind's size cap.
    """
    if not isinstance(url, str) or not url:
        raise InputError(field, "URL is empty")
    if is_data_url(url):
        parse_data_url(url, field, policy.max_bytes(kind) if kind else None)
        return
    parsed = parse_http_url(url, field)
    host, port = host_port(parsed)
    try:
        addrs = _resolve(host, port)
    except (OSError, UnicodeError, ValueError):
        raise InputError(field, f"host '{host}' could not be resolved") from None
    check_addresses(host, addrs, field, policy)


# DNS runs on our own threads: asyncio.run() waits for its default executor at shutdown, which
# would let a hung resolver outlive the fetch deadline.
_DNS_POOL = concurrent.futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="rf-dns")


async def resolve_checked(parsed: httpx.URL, field: str, policy: FetchPolicy) -> Target:
    host, port = host_port(parsed)
    loop = asyncio.get_running_loop()
    try:
        addrs = await loop.run_in_executor(_DNS_POOL, _resolve, host, port)
    except (OSError, UnicodeError, ValueError):
        raise InputError(field, f"host '{host}' could not be resolved") from None
    address = check_addresses(host, addrs, field, policy)
    return Target(parsed, host, port, address)
