"""Safe fetching and sniffing of user-supplied input media (image, video, audio URLs).

Every failure surfaces as `InputError(field, message)`: the caller turns it into a 400 (at request
time) or a failed job (at render time). Nothing here leaks stack traces to users.

Server-side request forgery is the main threat: a request body names a URL and the server fetches
it. So http(s) hosts are resolved, *every* resolved address must be globally routable, and the
connection is pinned to the address that was checked (DNS cannot rebind between check and
connect). Redirects are followed by hand so that each hop is checked the same way.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import concurrent.futures
import io
import ipaddress
import math
import os
import socket
import time
import urllib.parse
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

import av
import httpx
from PIL import Image

Kind = Literal["image", "video", "audio"]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

USER_AGENT = "Reelforge-Fetch/1.0"
MiB = 1024 * 1024

MAX_IMAGE_SIDE = 16384
MAX_IMAGE_PIXELS = 64_000_000
MAX_VIDEO_SIDE = 8192

_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


class InputError(Exception):
    """A user-supplied input is unusable; `field` names it the way the request body does."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(field, message)
        self.field = field
        self.message = message

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


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


# --------------------------------------------------------------------------- data: URLs


def _is_data_url(url: str) -> bool:
    return url[:5].lower() == "data:"


def parse_data_url(url: str, field: str, max_bytes: int | None = None) -> bytes:
    """Decode an RFC 2397 `data:` URL. The declared media type is ignored: sniffing decides."""
    if not _is_data_url(url):
        raise InputError(field, "is not a data URL")
    header, sep, payload = url[5:].partition(",")
    if not sep:
        raise InputError(field, "is a malformed data URL (no ',' before the data)")
    params = [p.strip().lower() for p in header.split(";")]
    if "base64" in params[1:]:
        # Clients sometimes percent-encode '+', '/', '=' or wrap lines; both are harmless.
        text = urllib.parse.unquote(payload) if "%" in payload else payload
        text = "".join(text.split())
        if max_bytes is not None and len(text) * 3 // 4 > max_bytes + 3:
            raise InputError(field, f"data URL is larger than the {_human(max_bytes)} limit")
        if "-" in text or "_" in text:
            text = text.replace("-", "+").replace("_", "/")  # URL-safe alphabet
        text += "=" * (-len(text) % 4)
        try:
            data = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise InputError(field, "data URL has invalid base64 data") from None
    else:
        data = urllib.parse.unquote_to_bytes(payload)
    if not data:
        raise InputError(field, "data URL contains no data")
    if max_bytes is not None and len(data) > max_bytes:
        raise InputError(field, f"data URL is larger than the {_human(max_bytes)} limit")
    return data


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
class _Target:
    url: httpx.URL
    host: str
    port: int
    address: IPAddress  # the checked address the connection is pinned to


def _parse_http_url(url: str | httpx.URL, field: str) -> httpx.URL:
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


def _check_addresses(
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


def _host_port(parsed: httpx.URL) -> tuple[str, int]:
    return parsed.host, parsed.port or (443 if parsed.scheme == "https" else 80)


def check_url(url: str, field: str, policy: FetchPolicy, kind: Kind | None = None) -> None:
    """Request-time validation: scheme allowed, data URL decodable, host resolves to public IPs.

    The fetch repeats the address check (and pins it), so this is a fast early answer, not the
    only line of defence. With `kind`, a data URL is also held to that kind's size cap.
    """
    if not isinstance(url, str) or not url:
        raise InputError(field, "URL is empty")
    if _is_data_url(url):
        parse_data_url(url, field, policy.max_bytes(kind) if kind else None)
        return
    parsed = _parse_http_url(url, field)
    host, port = _host_port(parsed)
    try:
        addrs = _resolve(host, port)
    except (OSError, UnicodeError, ValueError):
        raise InputError(field, f"host '{host}' could not be resolved") from None
    _check_addresses(host, addrs, field, policy)


# --------------------------------------------------------------------------- fetching

# DNS runs on our own threads: asyncio.run() waits for its default executor at shutdown, which
# would let a hung resolver outlive the fetch deadline.
_DNS_POOL = concurrent.futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="rf-dns")


async def _resolve_checked(parsed: httpx.URL, field: str, policy: FetchPolicy) -> _Target:
    host, port = _host_port(parsed)
    loop = asyncio.get_running_loop()
    try:
        addrs = await loop.run_in_executor(_DNS_POOL, _resolve, host, port)
    except (OSError, UnicodeError, ValueError):
        raise InputError(field, f"host '{host}' could not be resolved") from None
    address = _check_addresses(host, addrs, field, policy)
    return _Target(parsed, host, port, address)


async def _get_once(
    client: httpx.AsyncClient, target: _Target, field: str, max_bytes: int
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
        if declared is not None and declared.strip().isdigit() and int(declared) > max_bytes:
            raise InputError(field, f"file is larger than the {_human(max_bytes)} limit")
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > max_bytes:  # stop reading the moment the cap is passed
                raise InputError(field, f"file is larger than the {_human(max_bytes)} limit")
        return status, None, bytes(body)
    finally:
        await response.aclose()


async def _fetch_http(
    url: str, field: str, policy: FetchPolicy, max_bytes: int, limit: float
) -> bytes:
    parsed = _parse_http_url(url, field)
    timeout = httpx.Timeout(limit)  # per operation; the overall deadline is enforced above us
    # trust_env=False: an environment proxy would connect on our behalf and defeat the pinning.
    async with httpx.AsyncClient(follow_redirects=False, trust_env=False, timeout=timeout) as c:
        for hop in range(policy.max_redirects + 1):
            target = await _resolve_checked(parsed, field, policy)
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
                parsed = _parse_http_url(next_url, field)  # a hop to data:/file: is refused
                continue
            if not 200 <= status < 300:
                raise InputError(field, f"could not fetch the URL: server answered HTTP {status}")
            return body
    raise AssertionError("unreachable")


async def afetch_bytes(url: str, field: str, policy: FetchPolicy, kind: Kind) -> bytes:
    """Fetch an input's bytes (data or http(s) URL) within the policy's size and time caps."""
    max_bytes = policy.max_bytes(kind)
    if not isinstance(url, str) or not url:
        raise InputError(field, "URL is empty")
    if _is_data_url(url):
        return parse_data_url(url, field, max_bytes)
    limit = policy.timeout(kind)
    try:
        # One deadline for the whole fetch: DNS, connects, redirects and a slow-dripping body.
        async with asyncio.timeout(limit):
            return await _fetch_http(url, field, policy, max_bytes, limit)
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


async def apost(
    url: str, body: bytes, headers: dict[str, str], policy: FetchPolicy, timeout: float, field: str
) -> int:
    """POST `body` to an http(s) URL under the same address rules as fetches, pinned to the
    checked address, redirects not followed; the response status. The response body is not read.

    Raises InputError (refused URL), TimeoutError (past `timeout`, everything included) or an
    httpx/OS error (connection failures).
    """
    parsed = _parse_http_url(url, field)
    async with asyncio.timeout(timeout):
        limits = httpx.Timeout(timeout)
        async with httpx.AsyncClient(follow_redirects=False, trust_env=False, timeout=limits) as c:
            target = await _resolve_checked(parsed, field, policy)
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


# --------------------------------------------------------------------------- images

_IMAGE_MAGIC: tuple[tuple[str, bytes], ...] = (
    ("png", b"\x89PNG\r\n\x1a\n"),
    ("jpeg", b"\xff\xd8\xff"),
)
_PIL_FORMAT = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}


def sniff_image(data: bytes, field: str) -> str:
    """Return "png", "jpeg" or "webp" for a decodable image of sane size, else InputError."""
    kind = next((name for name, magic in _IMAGE_MAGIC if data.startswith(magic)), None)
    if kind is None and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        kind = "webp"
    if kind is None:
        raise InputError(field, "must be a PNG, JPEG or WebP image")
    try:
        with warnings.catch_warnings():
            # Our own limits below are stricter than Pillow's bomb warning.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data), formats=[_PIL_FORMAT[kind]])
    except Image.DecompressionBombError:
        raise InputError(field, "image dimensions are too large") from None
    except Exception:
        raise InputError(field, f"is not a valid {kind.upper()} image") from None
    with img:
        # Image.open only parsed the header: refuse huge sizes before pixels are allocated.
        width, height = img.size
        if width <= 0 or height <= 0:
            raise InputError(field, "image has no pixels")
        if width > MAX_IMAGE_SIDE or height > MAX_IMAGE_SIDE or width * height > MAX_IMAGE_PIXELS:
            raise InputError(
                field,
                f"image is {width}x{height}; the limit is {MAX_IMAGE_SIDE} px a side "
                f"and {MAX_IMAGE_PIXELS // 1_000_000} Mpx",
            )
        try:
            img.load()  # a full decode catches truncated and corrupt files
        except Exception:
            raise InputError(field, f"{kind.upper()} image is truncated or corrupt") from None
    return kind


# --------------------------------------------------------------------------- videos

# Codecs an input video may use, by FFmpeg's codec name, with the name users know them by.
VIDEO_CODECS = {"h264": "H.264", "hevc": "H.265", "vp9": "VP9", "av1": "AV1"}
MAX_VIDEO_PACKETS = 20_000  # ~15 s at over 1000 fps: far beyond any real input
PROBE_BUDGET_S = 10.0  # wall-clock cap on one probe (a 50 MiB file demuxes in well under 1 s)
_IO_TIMEOUT_S = 5.0  # FFmpeg's own interrupt check, per open and per packet read
_EBML_MAGIC = b"\x1a\x45\xdf\xa3"  # Matroska and WebM
# Top-level atoms an MP4 or QuickTime file can start with.
_MOV_ATOMS = frozenset({b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot", b"uuid"})


@dataclass(frozen=True)
class VideoInfo:
    duration_s: float
    width: int  # display size: after rotation and non-square pixels
    height: int
    fps: float
    has_audio: bool
    codec: str  # "h264", "hevc", "vp9" or "av1"
    rotation: int = 0  # degrees clockwise to turn decoded pictures upright: 0, 90, 180 or 270


def sniff_video_container(head: bytes) -> str | None:
    """FFmpeg demuxer for a file starting with `head`: "mov" (MP4, MOV), "matroska" (WebM, MKV).

    Forcing the demuxer means garbage is never probed as some exotic raw format.
    """
    if head.startswith(_EBML_MAGIC):
        return "matroska"
    if len(head) >= 8 and head[4:8] in _MOV_ATOMS:
        return "mov"
    return None


def open_video(
    source: io.BytesIO | str, field: str, head: bytes | None = None
) -> av.container.InputContainer:
    """Open an input video with the demuxer its magic bytes call for, or raise InputError."""
    if head is None:
        if isinstance(source, str):
            with open(source, "rb") as f:
                head = f.read(16)
        else:
            with source.getbuffer() as view:  # (no copy of the whole file)
                head = bytes(view[:16])
    fmt = sniff_video_container(head)
    if fmt is None:
        raise InputError(field, "is not an MP4, MOV or WebM video")
    try:
        return av.open(source, mode="r", format=fmt, timeout=(_IO_TIMEOUT_S, _IO_TIMEOUT_S))
    except Exception:
        kind = "WebM/Matroska" if fmt == "matroska" else "MP4/MOV"
        raise InputError(field, f"is not a valid {kind} video (corrupt or truncated)") from None


def limit_decoder(stream: av.video.stream.VideoStream) -> None:
    """Make the decoder refuse frames larger than any input may be, even mid-stream."""
    ctx = stream.codec_context
    if not ctx.is_open:
        ctx.options = {**ctx.options, "max_pixels": str(MAX_VIDEO_SIDE * MAX_VIDEO_SIDE)}
        ctx.thread_type = "AUTO"


def video_stream(container: av.container.InputContainer, field: str) -> av.video.stream.VideoStream:
    """The container's first video stream, if it has one in a supported codec."""
    if not container.streams.video:
        raise InputError(field, "file has no video stream")
    stream = container.streams.video[0]
    try:
        codec = str(stream.codec_context.codec.canonical_name)
    except Exception:
        codec = "unknown"
    if codec not in VIDEO_CODECS:
        raise InputError(
            field, f"video codec '{codec}' is not supported; use H.264, H.265, VP9 or AV1"
        )
    return stream


def frame_rotation(frame: av.VideoFrame) -> int:
    """Degrees clockwise (0, 90, 180, 270) to turn `frame` upright, from its display matrix.

    Arbitrary angles snap to the nearest quarter turn; mirroring in the matrix is ignored.
    """
    try:
        ccw = frame.rotation  # counter-clockwise, in [-180, 180]
    except Exception:
        return 0
    if not ccw or not math.isfinite(ccw):
        return 0
    return (-round(ccw / 90) * 90) % 360


def probe_video(data_or_path: bytes | str | os.PathLike[str], field: str) -> VideoInfo:
    """Describe an MP4, MOV, WebM or Matroska input, or raise InputError if it is unusable.

    Video must be H.264, H.265, VP9 or AV1. Demuxes every packet (cheap, no decoding) to catch
    truncation, and decodes the first frame to prove the stream is really decodable and to read
    its rotation. Work is bounded: packets are capped and the probe has a wall-clock budget.
    """
    if isinstance(data_or_path, (bytes, bytearray, memoryview)):
        if len(data_or_path) == 0:
            raise InputError(field, "video file is empty")
        source: io.BytesIO | str = io.BytesIO(bytes(data_or_path))
    else:
        source = os.fspath(data_or_path)
        if not os.path.isfile(source) or os.path.getsize(source) == 0:
            raise InputError(field, "video file is empty or missing")
    deadline = time.monotonic() + PROBE_BUDGET_S
    container = open_video(source, field)
    try:
        return _inspect(container, field, deadline)
    except InputError:
        raise
    except Exception:
        raise InputError(field, "video is corrupt or truncated") from None
    finally:
        container.close()


def _check_side(width: int, height: int, field: str) -> None:
    if width <= 0 or height <= 0:
        raise InputError(
            field, f"video frame size is missing, invalid or over {MAX_VIDEO_SIDE} px a side"
        )
    if width > MAX_VIDEO_SIDE or height > MAX_VIDEO_SIDE:
        raise InputError(
            field, f"video is {width}x{height}; the limit is {MAX_VIDEO_SIDE} px a side"
        )


def _inspect(container: av.container.InputContainer, field: str, deadline: float) -> VideoInfo:
    stream = video_stream(container, field)
    ctx = stream.codec_context
    _check_side(int(ctx.width or 0), int(ctx.height or 0), field)
    limit_decoder(stream)

    time_base = stream.time_base or Fraction(1, 90000)
    declared = int(stream.frames or 0)  # MP4's sample count; 0 where unknown (WebM)
    packets = 0
    first_pts: int | None = None
    last_pts: int | None = None
    last_duration = 0
    end_s = 0.0  # where the last packet of any stream ends
    frame: av.VideoFrame | None = None
    try:
        for packet in container.demux():
            if time.monotonic() > deadline:
                raise InputError(field, f"video took longer than {PROBE_BUDGET_S:g} s to read")
            if packet.size == 0 or packet.pts is None:
                continue
            if packet.time_base:
                end_s = max(end_s, float((packet.pts + (packet.duration or 0)) * packet.time_base))
            if packet.stream_index != stream.index:
                continue
            packets += 1
            if packets > MAX_VIDEO_PACKETS:
                raise InputError(field, f"video has more than {MAX_VIDEO_PACKETS} frames")
            if not packet.is_discard:  # (packets outside an MP4 edit list are not shown)
                if first_pts is None or packet.pts < first_pts:
                    first_pts = packet.pts
                if last_pts is None or packet.pts >= last_pts:
                    last_pts, last_duration = packet.pts, packet.duration or 0
            if frame is None:
                try:
                    frame = next(iter(packet.decode()), None)
                except av.FFmpegError:
                    pass  # a bad packet is not yet a bad file; a later one may decode
    except av.FFmpegError:
        raise InputError(field, "video file is truncated or corrupt") from None
    if frame is None and packets:
        try:  # frames may be held back by the decoder until it is flushed
            frame = next(iter(stream.codec_context.decode(None)), None)
        except av.FFmpegError:
            frame = None
    if packets == 0 or frame is None:
        raise InputError(field, "video stream has no decodable frames")
    if declared and packets < declared:
        raise InputError(field, "video file is truncated")

    # The decoded picture is the truth (the container may disagree with the bitstream).
    width, height = int(frame.width), int(frame.height)
    _check_side(width, height, field)
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    fps = float(rate) if rate and 0 < float(rate) <= 1000 else 0.0

    # The span of the shown frames, first to last plus its duration. Declared durations are only
    # a fallback: WebM has none per stream, and MP4's is counted in decode order (too short when
    # a variable frame rate meets B-frames).
    duration = 0.0
    if first_pts is not None and last_pts is not None:
        tail = float(last_duration * time_base) if last_duration else (1 / fps if fps else 0.0)
        duration = float((last_pts - first_pts) * time_base) + tail
        for declared_s in (
            float(stream.duration * time_base) if stream.duration else 0.0,
            (container.duration or 0) / av.time_base,
        ):
            if declared_s > 0 and abs(declared_s - duration) < 0.5 / (fps or 24):
                duration = declared_s  # where it agrees, the declared figure is unrounded
                break
    if not duration > 0 and stream.duration:
        duration = float(stream.duration * time_base)
    if not duration > 0 and container.duration:
        duration = container.duration / av.time_base
    if not (duration > 0 and math.isfinite(duration)):
        raise InputError(field, "video has no duration")
    if not declared and container.duration and container.duration > 0:
        # No sample count to compare (WebM): the packets must reach the declared end.
        start = (container.start_time or 0) / av.time_base
        declared_end = start + container.duration / av.time_base
        if end_s < declared_end - max(0.5, 0.1 * (declared_end - start)):
            raise InputError(field, "video file is truncated")
    if not fps:
        fps = packets / duration

    sar = stream.sample_aspect_ratio or ctx.sample_aspect_ratio
    if sar and sar != 1 and Fraction(1, 4) <= sar <= 4:  # non-square pixels (anamorphic)
        width = max(2, round(width * sar))
    rotation = frame_rotation(frame)
    if rotation in (90, 270):
        width, height = height, width
    _check_side(width, height, field)
    return VideoInfo(
        duration_s=duration,
        width=width,
        height=height,
        fps=fps,
        has_audio=bool(container.streams.audio),
        codec=ctx.codec.canonical_name,
        rotation=rotation,
    )


def _human(n: int) -> str:
    return f"{n / MiB:g} MiB" if n >= MiB else f"{n} bytes"


__all__ = [
    "FetchPolicy",
    "InputError",
    "Kind",
    "VideoInfo",
    "afetch_bytes",
    "apost",
    "check_url",
    "fetch_bytes",
    "frame_rotation",
    "is_public_address",
    "limit_decoder",
    "open_video",
    "parse_data_url",
    "probe_video",
    "sniff_image",
    "sniff_video_container",
    "video_stream",
]
