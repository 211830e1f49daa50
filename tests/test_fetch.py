"""Tests for reelforge.net and media.probe: URL safety, capped fetching, image and video sniffing.

A real HTTP server runs on 127.0.0.1 (ephemeral port) in a thread. Since loopback is exactly what
the SSRF guard refuses, fetch tests either set allow_private=True or monkeypatch the resolver /
address check to simulate public hosts.
"""

from __future__ import annotations

import base64
import io
import ipaddress
import os
import struct
import tempfile
import threading
import time
import urllib.parse
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import av
import httpx
import numpy as np
import pytest
from PIL import Image

from reelforge.core.errors import InputError
from reelforge.media.probe import probe_video, sniff_image
from reelforge.net import fetch, policy
from reelforge.net.data_url import parse_data_url
from reelforge.net.fetch import fetch_bytes
from reelforge.net.policy import FetchPolicy, check_url, is_public_address

FIELD = "image.url"
PRIVATE = FetchPolicy(allow_private=True)
STRICT = FetchPolicy()


# --------------------------------------------------------------------------- media makers


def make_image(fmt: str, size: tuple[int, int] = (32, 24)) -> bytes:
    buf = io.BytesIO()
    img = Image.new("RGB", size, (200, 40, 90))
    img.save(buf, format=fmt)
    return buf.getvalue()


def png_with_header(width: int, height: int) -> bytes:
    """A PNG that declares `width`x`height` but carries almost no pixel data."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 16))
        + chunk(b"IEND", b"")
    )


def make_mp4(
    seconds: float = 1.0,
    fps: int = 24,
    size: tuple[int, int] = (64, 64),
    audio: bool = False,
    faststart: bool = False,
) -> bytes:
    # +faststart rewrites the file at close, which needs a real (readable) file.
    fd, path = tempfile.mkstemp(suffix=".mp4")
    os.close(fd)
    options = {"movflags": "+faststart"} if faststart else {}
    with av.open(path, "w", format="mp4", options=options) as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height = size
        video.pix_fmt = "yuv420p"
        astream = out.add_stream("aac", rate=48000) if audio else None
        frames = int(seconds * fps)
        for i in range(frames):
            arr = np.full((size[1], size[0], 3), (i * 9) % 256, np.uint8)
            frame = av.VideoFrame.from_ndarray(arr, format="rgb24")
            for packet in video.encode(frame):
                out.mux(packet)
        for packet in video.encode():
            out.mux(packet)
        if astream is not None:
            samples = int(seconds * 48000)
            pcm = np.zeros((1, samples), np.float32)
            aframe = av.AudioFrame.from_ndarray(pcm, format="flt", layout="mono")
            aframe.sample_rate = 48000
            for packet in astream.encode(aframe):
                out.mux(packet)
            for packet in astream.encode():
                out.mux(packet)
    try:
        with open(path, "rb") as f:
            return f.read()
    finally:
        os.unlink(path)


@pytest.fixture(scope="module")
def mp4() -> bytes:
    return make_mp4()


# --------------------------------------------------------------------------- test HTTP server

PNG = make_image("PNG")


class Handler(BaseHTTPRequestHandler):
    server: LocalServer

    def log_message(self, format: str, *args: object) -> None:  # keep pytest output clean
        pass

    def do_GET(self) -> None:
        path, _, query = self.path.partition("?")
        params = dict(urllib.parse.parse_qsl(query))
        self.server.requests.append((path, dict(self.headers)))
        try:
            getattr(self, "route_" + path.strip("/").split("/")[0].replace("-", "_"))(params)
        except AttributeError:
            self.send_error(404)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up, as it should

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def route_png(self, params: dict[str, str]) -> None:
        self._send(200, PNG, {"Content-Type": "image/png"})

    def route_big_cl(self, params: dict[str, str]) -> None:
        # Declares 200 MiB; a correct client refuses after the headers.
        self.send_response(200)
        self.send_header("Content-Length", str(200 * 1024 * 1024))
        self.end_headers()
        self._stream_until_stopped(with_chunking=False)

    def route_big_chunked(self, params: dict[str, str]) -> None:
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self._stream_until_stopped(with_chunking=True)

    def _stream_until_stopped(self, with_chunking: bool) -> None:
        block = b"x" * 65536
        deadline = time.monotonic() + 20
        sent = 0
        while not self.server.stopping.is_set() and time.monotonic() < deadline:
            payload = b"%x\r\n%s\r\n" % (len(block), block) if with_chunking else block
            self.wfile.write(payload)
            sent += len(block)
            self.server.sent_bytes = sent

    def route_slow_headers(self, params: dict[str, str]) -> None:
        self.server.stopping.wait(10)

    def route_drip(self, params: dict[str, str]) -> None:
        # Headers at once, then one byte every 0.2 s: each read is fast, the whole is not.
        self.send_response(200)
        self.send_header("Content-Length", "1000")
        self.end_headers()
        for _ in range(1000):
            if self.server.stopping.wait(0.2):
                return
            self.wfile.write(b"x")
            self.wfile.flush()

    def route_redirect(self, params: dict[str, str]) -> None:
        self._send(int(params.get("status", "302")), b"", {"Location": params["to"]})

    def route_redirect_empty(self, params: dict[str, str]) -> None:
        self._send(302, b"")

    def route_loop(self, params: dict[str, str]) -> None:
        n = int(params.get("n", "0"))
        self._send(302, b"", {"Location": f"/loop?n={n + 1}"})

    def route_hops(self, params: dict[str, str]) -> None:
        left = int(params["left"])
        if left == 0:
            self.route_png(params)
        else:
            self._send(307, b"", {"Location": f"/hops?left={left - 1}"})

    def route_status(self, params: dict[str, str]) -> None:
        self._send(int(params["code"]), b"nope")


class LocalServer(ThreadingHTTPServer):
    daemon_threads = True
    requests: list[tuple[str, dict[str, str]]]
    stopping: threading.Event
    sent_bytes: int


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    srv = LocalServer(("127.0.0.1", 0), Handler)
    srv.requests, srv.stopping, srv.sent_bytes = [], threading.Event(), 0
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.stopping.set()
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def base(server: LocalServer) -> str:
    server.requests.clear()
    return f"http://127.0.0.1:{server.server_address[1]}"


def fake_dns(monkeypatch: pytest.MonkeyPatch, table: dict[str, list[str]]) -> list[str]:
    """Replace name resolution; returns the list of looked-up hosts."""
    seen: list[str] = []

    def resolve(host: str, port: int) -> list[policy.IPAddress]:
        seen.append(host)
        if host not in table:
            raise OSError("no such host")
        return [ipaddress.ip_address(a) for a in table[host]]

    monkeypatch.setattr(policy, "_resolve", resolve)
    return seen


def only_loopback_1_is_public(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pretend 127.0.0.1 is a public address so the test server plays 'the internet'."""
    real = policy.is_public_address
    monkeypatch.setattr(
        policy,
        "is_public_address",
        lambda addr: addr == ipaddress.ip_address("127.0.0.1") or real(addr),
    )


# --------------------------------------------------------------------------- InputError


def test_input_error_names_field() -> None:
    err = InputError("reference_images[2].url", "is not a valid URL")
    assert err.field == "reference_images[2].url"
    assert err.message == "is not a valid URL"
    assert "reference_images[2].url" in str(err) and "not a valid URL" in str(err)


# --------------------------------------------------------------------------- data URLs


def test_data_url_base64_roundtrip() -> None:
    url = "data:image/png;base64," + base64.b64encode(PNG).decode()
    assert parse_data_url(url, FIELD) == PNG
    assert fetch_bytes(url, FIELD, STRICT, "image") == PNG
    check_url(url, FIELD, STRICT)


def test_data_url_lenient_forms() -> None:
    raw = bytes(range(256))
    b64 = base64.b64encode(raw).decode()
    wrapped = "\n".join(b64[i : i + 60] for i in range(0, len(b64), 60))
    assert parse_data_url("DATA:;BASE64," + wrapped, FIELD) == raw
    assert parse_data_url("data:;base64," + urllib.parse.quote(b64, safe=""), FIELD) == raw
    assert parse_data_url("data:;base64," + b64.rstrip("="), FIELD) == raw  # missing padding
    urlsafe = base64.urlsafe_b64encode(raw).decode()
    assert parse_data_url("data:application/octet-stream;base64," + urlsafe, FIELD) == raw


def test_data_url_percent_encoded() -> None:
    assert parse_data_url("data:text/plain,hello%20world%00", FIELD) == b"hello world\x00"
    assert parse_data_url("data:,A", FIELD) == b"A"


@pytest.mark.parametrize(
    "url",
    [
        "data:image/png;base64,!!!notbase64!!!",
        "data:image/png;base64,QUJD$",
        "data:image/png;base64",  # no comma
        "data:image/png;base64,",  # empty
        "data:,",
        "data:image/png;base64,A",  # impossible length
    ],
)
def test_bad_data_urls(url: str) -> None:
    with pytest.raises(InputError) as info:
        parse_data_url(url, "reference_images[1].url")
    assert info.value.field == "reference_images[1].url"
    with pytest.raises(InputError):
        check_url(url, FIELD, STRICT)


def test_data_url_mime_is_ignored_sniffing_decides() -> None:
    url = "data:image/jpeg;base64," + base64.b64encode(PNG).decode()
    assert sniff_image(fetch_bytes(url, FIELD, STRICT, "image"), FIELD) == "png"
    gif = "data:image/png;base64," + base64.b64encode(make_image("GIF")).decode()
    with pytest.raises(InputError, match="PNG, JPEG or WebP"):
        sniff_image(fetch_bytes(gif, FIELD, STRICT, "image"), FIELD)


def test_data_url_size_cap() -> None:
    url = "data:;base64," + base64.b64encode(b"\0" * 2048).decode()
    policy = FetchPolicy(max_image_bytes=1024)
    with pytest.raises(InputError, match="larger than"):
        fetch_bytes(url, FIELD, policy, "image")
    with pytest.raises(InputError, match="larger than"):
        check_url(url, FIELD, policy, kind="image")
    assert fetch_bytes(url, FIELD, FetchPolicy(max_video_bytes=4096), "video") == b"\0" * 2048


# --------------------------------------------------------------------------- address checks

PRIVATE_URLS = [
    "http://127.0.0.1/",
    "http://127.1.2.3:8080/x.png",
    "http://localhost/",
    "http://LOCALHOST/",
    "http://10.0.0.1/",
    "http://10.255.255.255/",
    "http://172.16.0.1/",
    "http://172.31.255.254/",
    "http://192.168.1.1/",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::1]/",
    "http://[fc00::1]/",
    "http://[fd12:3456::1]/",
    "http://[fe80::1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:10.0.0.1]/",
    "http://0.0.0.0/",
    "http://[::]/",
    "http://100.64.0.1/",
    "http://224.0.0.1/",
    "http://[ff02::1]/",
    "http://240.0.0.1/",
    "http://255.255.255.255/",
    "http://2130706433/",  # 127.0.0.1 as a decimal integer
    "http://0x7f.1/",  # and in hex shorthand
    "https://127.0.0.1:443/",
]


@pytest.mark.parametrize("url", PRIVATE_URLS)
def test_private_addresses_refused(url: str) -> None:
    with pytest.raises(InputError, match="non-public") as info:
        check_url(url, "image.url", STRICT)
    assert info.value.field == "image.url"
    # The fetch path applies the same check itself, before connecting.
    with pytest.raises(InputError, match="non-public"):
        fetch_bytes(url, "image.url", STRICT, "image")


@pytest.mark.parametrize(
    "addr",
    ["64:ff9b::a00:1", "2002:7f00:1::", "2001:db8::1", "198.18.0.1", "192.0.0.1", "192.0.2.1"],
)
def test_embedded_and_special_addresses_not_public(addr: str) -> None:
    assert not is_public_address(ipaddress.ip_address(addr))


@pytest.mark.parametrize("addr", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_allowed(addr: str) -> None:
    assert is_public_address(ipaddress.ip_address(addr))


def test_any_private_resolution_refuses(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_dns(monkeypatch, {"mixed.example": ["93.184.216.34", "10.0.0.7"]})
    with pytest.raises(InputError, match="non-public"):
        check_url("https://mixed.example/a.png", FIELD, STRICT)
    fake_dns(monkeypatch, {"public.example": ["93.184.216.34", "2606:2800:220:1::1"]})
    check_url("https://public.example/a.png", FIELD, STRICT)


def test_allow_private_skips_address_check() -> None:
    check_url("http://127.0.0.1:9/", FIELD, PRIVATE)
    check_url("http://localhost/", FIELD, PRIVATE)


def test_unresolvable_host() -> None:
    with pytest.raises(InputError, match="could not be resolved"):
        check_url("http://no-such-host.invalid/x.png", FIELD, STRICT)


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://example.com/x.png",
        "gopher://example.com/",
        "javascript:alert(1)",
        "ws://example.com/",
        "/relative/path.png",
        "example.com/x.png",
    ],
)
def test_non_http_schemes_refused(url: str) -> None:
    with pytest.raises(InputError, match="scheme"):
        check_url(url, FIELD, PRIVATE)
    with pytest.raises(InputError, match="scheme"):
        fetch_bytes(url, FIELD, PRIVATE, "image")


@pytest.mark.parametrize("url", ["", "http://", "http:///x", "http://exa mple.com/"])
def test_malformed_urls_refused(url: str) -> None:
    with pytest.raises(InputError):
        check_url(url, FIELD, PRIVATE)


# --------------------------------------------------------------------------- fetching over HTTP


def test_fetch_png_with_allow_private(server: LocalServer, base: str) -> None:
    data = fetch_bytes(base + "/png", FIELD, PRIVATE, "image")
    assert data == PNG and sniff_image(data, FIELD) == "png"
    path, headers = server.requests[-1]
    assert path == "/png"
    assert headers["User-Agent"] == "Reelforge-Fetch/1.0"


def test_fetch_png_refused_without_allow_private(server: LocalServer, base: str) -> None:
    with pytest.raises(InputError, match="non-public"):
        fetch_bytes(base + "/png", FIELD, STRICT, "image")
    assert server.requests == []  # refused before connecting


def test_connection_is_pinned_to_checked_address(
    monkeypatch: pytest.MonkeyPatch, server: LocalServer, base: str
) -> None:
    # "cdn.example" does not exist in real DNS: success proves httpx connected to the IP we
    # resolved and checked, while the server still saw the user's host name.
    port = server.server_address[1]
    seen = fake_dns(monkeypatch, {"cdn.example": ["127.0.0.1"]})
    only_loopback_1_is_public(monkeypatch)
    data = fetch_bytes(f"http://cdn.example:{port}/png", FIELD, STRICT, "image")
    assert data == PNG
    assert seen == ["cdn.example"]
    assert server.requests[-1][1]["Host"] == f"cdn.example:{port}"


def test_dns_rebinding_after_check_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    # check_url saw a public address; by fetch time the name points at a private one.
    answers = iter([["93.184.216.34"], ["127.0.0.1"]])
    monkeypatch.setattr(
        policy, "_resolve", lambda host, port: [ipaddress.ip_address(a) for a in next(answers)]
    )
    check_url("http://rebind.example/x.png", FIELD, STRICT)
    with pytest.raises(InputError, match="non-public"):
        fetch_bytes("http://rebind.example/x.png", FIELD, STRICT, "image")


def test_https_uses_sni_of_hostname(
    monkeypatch: pytest.MonkeyPatch, server: LocalServer, base: str
) -> None:
    port = server.server_address[1]
    fake_dns(monkeypatch, {"img.example": ["127.0.0.1"]})
    sent: list[httpx.Request] = []
    real_send = httpx.AsyncClient.send

    async def spy(self: httpx.AsyncClient, request: httpx.Request, **kw: object) -> httpx.Response:
        sent.append(request)
        return await real_send(self, request, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(httpx.AsyncClient, "send", spy)
    # The test server speaks plain HTTP, so the TLS handshake fails: a clean InputError.
    with pytest.raises(InputError, match="connect"):
        fetch_bytes(f"https://img.example:{port}/png", FIELD, PRIVATE, "image")
    (request,) = sent
    assert request.url.host == "127.0.0.1"
    assert request.extensions["sni_hostname"] == "img.example"
    assert request.headers["Host"] == f"img.example:{port}"


def test_oversized_with_content_length_refused_up_front(server: LocalServer, base: str) -> None:
    start = time.monotonic()
    with pytest.raises(InputError, match="larger than the 1 MiB limit"):
        fetch_bytes(
            base + "/big-cl",
            FIELD,
            FetchPolicy(allow_private=True, max_image_bytes=1 << 20),
            "image",
        )
    assert time.monotonic() - start < 2


def test_oversized_chunked_stream_aborts_quickly(server: LocalServer, base: str) -> None:
    policy = FetchPolicy(allow_private=True, max_video_bytes=1 << 20, video_timeout_s=10)
    start = time.monotonic()
    with pytest.raises(InputError, match="larger than"):
        fetch_bytes(base + "/big-chunked", "video.url", policy, "video")
    assert time.monotonic() - start < 2
    time.sleep(0.2)
    # The server kept streaming only until the client hung up (socket buffers aside).
    assert server.sent_bytes < 64 << 20


def test_slow_headers_timeout(server: LocalServer, base: str) -> None:
    policy = FetchPolicy(allow_private=True, timeout_s=1.0)
    start = time.monotonic()
    with pytest.raises(InputError, match="timed out after 1 s"):
        fetch_bytes(base + "/slow-headers", FIELD, policy, "image")
    assert 0.9 < time.monotonic() - start < 2.0


def test_dripping_body_hits_overall_deadline(server: LocalServer, base: str) -> None:
    # Each byte arrives well within any per-read timeout; only a total deadline stops this.
    policy = FetchPolicy(allow_private=True, timeout_s=5, video_timeout_s=1.0)
    start = time.monotonic()
    with pytest.raises(InputError, match="timed out"):
        fetch_bytes(base + "/drip", "video.url", policy, "video")
    assert 0.9 < time.monotonic() - start < 2.0


@pytest.mark.parametrize("code", [404, 403, 500, 204])
def test_non_2xx_refused(server: LocalServer, base: str, code: int) -> None:
    if code == 204:  # 2xx with an empty body is a success at this layer
        assert fetch_bytes(f"{base}/status?code=204", FIELD, PRIVATE, "image") == b""
        return
    with pytest.raises(InputError, match=f"HTTP {code}"):
        fetch_bytes(f"{base}/status?code={code}", FIELD, PRIVATE, "image")


def test_connection_refused() -> None:
    sock_port = _free_port()
    with pytest.raises(InputError, match="could not connect"):
        fetch_bytes(f"http://127.0.0.1:{sock_port}/x", FIELD, PRIVATE, "image")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_redirects_followed_within_limit(server: LocalServer, base: str) -> None:
    assert fetch_bytes(base + "/hops?left=3", FIELD, PRIVATE, "image") == PNG
    assert [p for p, _ in server.requests] == ["/hops"] * 4
    to = urllib.parse.quote(base + "/png")
    assert fetch_bytes(f"{base}/redirect?status=301&to={to}", FIELD, PRIVATE, "image") == PNG


def test_too_many_redirects(server: LocalServer, base: str) -> None:
    with pytest.raises(InputError, match="too many redirects"):
        fetch_bytes(base + "/hops?left=4", FIELD, PRIVATE, "image")
    with pytest.raises(InputError, match="too many redirects"):
        fetch_bytes(base + "/loop", FIELD, PRIVATE, "image")
    assert len(server.requests) <= 4 + 4
    with pytest.raises(InputError, match="too many redirects"):
        fetch_bytes(
            base + "/hops?left=1", FIELD, FetchPolicy(allow_private=True, max_redirects=0), "image"
        )


@pytest.mark.parametrize(
    "location", ["file:///etc/passwd", "gopher://127.0.0.1:70/", "data:,hello", "ftp://x/"]
)
def test_redirect_to_other_scheme_refused(server: LocalServer, base: str, location: str) -> None:
    to = urllib.parse.quote(location, safe="")
    with pytest.raises(InputError, match="scheme|invalid URL"):
        fetch_bytes(f"{base}/redirect?to={to}", FIELD, PRIVATE, "image")


def test_redirect_without_location(server: LocalServer, base: str) -> None:
    with pytest.raises(InputError, match="Location"):
        fetch_bytes(base + "/redirect-empty", FIELD, PRIVATE, "image")


@pytest.mark.parametrize(
    "target",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/",
        "http://[::1]:1/",
        "http://127.0.0.2:1/",
    ],
)
def test_redirect_to_private_address_refused(
    monkeypatch: pytest.MonkeyPatch, server: LocalServer, base: str, target: str
) -> None:
    # The test server stands in for a public host; its redirect into private space must fail
    # the re-check of the second hop.
    only_loopback_1_is_public(monkeypatch)
    to = urllib.parse.quote(target, safe="")
    assert fetch_bytes(base + "/png", FIELD, STRICT, "image") == PNG  # first hop is allowed
    with pytest.raises(InputError, match="non-public"):
        fetch_bytes(f"{base}/redirect?to={to}", FIELD, STRICT, "image")


def test_fetch_from_running_loop_is_an_error() -> None:
    import asyncio

    async def inside() -> None:
        with pytest.raises(RuntimeError, match="afetch_bytes"):
            fetch_bytes("data:,x", FIELD, STRICT, "image")
        assert await fetch.afetch_bytes("data:,x", FIELD, STRICT, "image") == b"x"

    asyncio.run(inside())


# --------------------------------------------------------------------------- image sniffing


@pytest.mark.parametrize(("fmt", "kind"), [("PNG", "png"), ("JPEG", "jpeg"), ("WEBP", "webp")])
def test_sniff_supported_formats(fmt: str, kind: str) -> None:
    assert sniff_image(make_image(fmt), FIELD) == kind


@pytest.mark.parametrize("fmt", ["GIF", "BMP", "TIFF"])
def test_sniff_other_formats_refused(fmt: str) -> None:
    with pytest.raises(InputError, match="PNG, JPEG or WebP"):
        sniff_image(make_image(fmt), FIELD)


@pytest.mark.parametrize("data", [b"", b"hello", os.urandom(4096), b"RIFF\0\0\0\0WAVE"])
def test_sniff_garbage_refused(data: bytes) -> None:
    with pytest.raises(InputError):
        sniff_image(data, FIELD)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_sniff_truncated_refused(fmt: str) -> None:
    # Noise does not compress, so cutting the file really loses pixel data.
    img = Image.fromarray(np.random.default_rng(1).integers(0, 255, (64, 64, 3), np.uint8))
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    data = buf.getvalue()
    with pytest.raises(InputError, match="truncated|corrupt|not a valid"):
        sniff_image(data[: len(data) // 2], FIELD)


def test_sniff_magic_but_corrupt() -> None:
    with pytest.raises(InputError):
        sniff_image(b"\x89PNG\r\n\x1a\n" + os.urandom(200), FIELD)
    with pytest.raises(InputError):
        sniff_image(b"\xff\xd8\xff" + os.urandom(200), FIELD)


@pytest.mark.parametrize(
    "size",
    [(100_000, 100_000), (20_000, 10), (10, 20_000), (10_000, 10_000), (2**31 - 1, 2**31 - 1)],
)
def test_sniff_huge_dimensions_refused_without_decoding(size: tuple[int, int]) -> None:
    data = png_with_header(*size)
    start = time.monotonic()
    with pytest.raises(InputError, match="too large|limit"):
        sniff_image(data, FIELD)
    assert time.monotonic() - start < 0.5  # nothing of that size was allocated


def test_sniff_accepts_large_but_sane() -> None:
    assert sniff_image(make_image("PNG", (4000, 3000)), FIELD) == "png"


# --------------------------------------------------------------------------- video probing


def test_probe_real_mp4(mp4: bytes, tmp_path: os.PathLike[str]) -> None:
    info = probe_video(mp4, "video.url")
    assert info.duration_s == pytest.approx(1.0, abs=0.05)
    assert (info.width, info.height) == (64, 64)
    assert info.fps == pytest.approx(24.0)
    assert info.codec == "h264"
    assert info.has_audio is False
    assert info.rotation == 0
    path = os.path.join(os.fspath(tmp_path), "in.mp4")
    with open(path, "wb") as f:
        f.write(mp4)
    assert probe_video(path, "video.url") == info


def test_probe_mp4_with_audio() -> None:
    info = probe_video(make_mp4(seconds=0.5, fps=24, size=(48, 32), audio=True), "video.url")
    assert info.has_audio is True
    assert (info.width, info.height) == (48, 32)
    assert info.duration_s == pytest.approx(0.5, abs=0.05)


def test_probe_refuses_huge_declared_dimensions() -> None:
    data = make_mp4(seconds=3 / 24, size=(8208, 16))
    with pytest.raises(InputError, match="8192"):
        probe_video(data, "video.url")


def _garbage_corpus(mp4: bytes, faststart: bytes) -> list[tuple[str, bytes]]:
    rng = np.random.default_rng(7)
    corpus = [(f"random{i}", rng.bytes(n)) for i, n in enumerate([1, 17, 1000, 65536, 300_000])]
    corpus += [
        ("empty", b""),
        ("text", b"this is not a video\n" * 100),
        ("png", PNG),
        ("truncated", mp4[: len(mp4) // 2]),
        ("truncated-faststart", faststart[: len(faststart) * 2 // 3]),
        ("header-only", mp4[:64]),
        ("header+junk", mp4[:32] + rng.bytes(50_000)),
        ("ftyp+junk", b"\0\0\0\x18ftypisom\0\0\x02\0isomiso2" + rng.bytes(10_000)),
        ("moov-first-junk-mdat", faststart[: len(faststart) // 3] + rng.bytes(len(faststart))),
    ]
    return corpus


def test_probe_garbage_corpus_refused_quickly(mp4: bytes, tmp_path: os.PathLike[str]) -> None:
    faststart = make_mp4(seconds=1.0, faststart=True)
    assert probe_video(faststart, "video.url").duration_s == pytest.approx(1.0, abs=0.05)
    for name, data in _garbage_corpus(mp4, faststart):
        start = time.monotonic()
        with pytest.raises(InputError) as info:
            probe_video(data, "video.url")
        assert info.value.field == "video.url", name
        assert time.monotonic() - start < 2, name
    empty = os.path.join(os.fspath(tmp_path), "empty.mp4")
    open(empty, "wb").close()
    with pytest.raises(InputError, match="empty"):
        probe_video(empty, "video.url")


def test_probe_audio_only_mp4_refused(tmp_path: os.PathLike[str]) -> None:
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        stream = out.add_stream("aac", rate=48000)
        frame = av.AudioFrame.from_ndarray(
            np.zeros((1, 48000), np.float32), format="flt", layout="mono"
        )
        frame.sample_rate = 48000
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    with pytest.raises(InputError, match="no video stream"):
        probe_video(buf.getvalue(), "video.url")


@pytest.mark.parametrize("keep", [0.99, 0.9])
def test_probe_detects_cut_off_download(keep: float) -> None:
    # With the index first (+faststart), a cut-off file still opens; the sample count betrays it.
    data = make_mp4(seconds=2.0, faststart=True)
    with pytest.raises(InputError, match="truncated"):
        probe_video(data[: int(len(data) * keep)], "video.url")
