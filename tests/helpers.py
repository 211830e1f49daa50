"""Test helpers: real Reelforge servers on 127.0.0.1, real HTTP, real MP4s."""

from __future__ import annotations

import base64
import contextlib
import http.server
import io
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import av
import httpx
import numpy as np
from PIL import Image

KEY = "test-key"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    """A `reelforge serve` subprocess; stop() or kill() it, start() it again on the same data."""

    data_dir: Path
    args: list[str] = field(default_factory=list)
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None
    log_path: Path | None = None
    env: dict[str, str] = field(default_factory=dict)  # added to the environment

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def grpc_port(self) -> int:
        """The port given with "--grpc-port" in args; 0 (gRPC off) when none was given."""
        if "--grpc-port" in self.args:
            return int(self.args[self.args.index("--grpc-port") + 1])
        return 0

    def start(self, timeout: float = 30.0) -> Server:
        self.log_path = self.data_dir.parent / f"server-{self.port}-{time.time_ns()}.log"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        cmd = [
            sys.executable,
            "-m",
            "reelforge.cli",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--data-dir",
            str(self.data_dir),
            "--grpc-port",
            str(self.grpc_port),  # off unless asked for: test servers must not share port 50051
            *self.args,
        ]
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            cmd,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **self.env},
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(f"{self.base_url}/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server did not become ready:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def kill(self) -> None:
        """SIGKILL the server process only; its workers must die with it on their own."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def client(self, key: str = KEY) -> httpx.Client:
        return httpx.Client(
            base_url=self.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
        )


@dataclass
class WorkerHost:
    """A `reelforge worker` subprocess: render workers only, as on a machine of their own."""

    data_dir: Path
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen | None = None
    log_path: Path | None = None

    def start(self, timeout: float = 30.0) -> WorkerHost:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.data_dir.parent / f"worker-{time.time_ns()}.log"
        cmd = [sys.executable, "-m", "reelforge.cli", "worker", "--data-dir", str(self.data_dir)]
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [*cmd, *self.args],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env={**os.environ, **self.env},
            )
        workers = (
            int(self.args[self.args.index("--workers") + 1]) if "--workers" in self.args else 1
        )
        deadline = time.monotonic() + timeout
        while len(self.children()) < workers:  # ready once every worker process is up
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited with {self.proc.returncode}:\n{self.log()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"workers did not start:\n{self.log()}")
            time.sleep(0.05)
        return self

    def children(self) -> list[int]:
        """The worker processes (the host's children), by pid."""
        assert self.proc is not None
        try:
            tasks = Path(f"/proc/{self.proc.pid}/task").iterdir()
            return [int(pid) for t in tasks for pid in (t / "children").read_text().split()]
        except FileNotFoundError:
            return []

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def kill(self) -> None:
        """SIGKILL the host and its workers at once, like a machine losing power."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


def wait_done(client: httpx.Client, request_id: str, timeout: float = 120.0) -> dict:
    """Poll like the official clients do until the job leaves `pending`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = client.get(f"/v1/videos/{request_id}")
        if r.status_code == 200:
            return r.json()
        assert r.status_code == 202, r.text
        assert r.json()["status"] == "pending"
        time.sleep(0.1)
    raise AssertionError(f"job {request_id} still pending after {timeout} s")


def create(client: httpx.Client, body: dict, endpoint: str = "generations") -> str:
    r = client.post(f"/v1/videos/{endpoint}", json=body)
    assert r.status_code == 200, r.text
    return r.json()["request_id"]


def generate(client: httpx.Client, body: dict, endpoint: str = "generations") -> dict:
    return wait_done(client, create(client, body, endpoint))


@dataclass
class Decoded:
    frames: list[np.ndarray]
    width: int
    height: int
    fps: float
    audio_channels: int | None
    audio_codec: str | None
    audio: np.ndarray | None  # float32 (samples, channels) at audio_rate
    audio_rate: int | None
    video_codec: str

    @property
    def audio_duration(self) -> float | None:
        return None if self.audio is None else len(self.audio) / self.audio_rate


def decode_mp4(data: bytes) -> Decoded:
    with av.open(io.BytesIO(data)) as container:
        vstream = container.streams.video[0]
        astreams = container.streams.audio
        fps = float(vstream.average_rate)
        ctx = vstream.codec_context
        achannels = astreams[0].codec_context.channels if astreams else None
        acodec = astreams[0].codec_context.name if astreams else None
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(vstream)]
    audio, rate = None, None
    if astreams:
        with av.open(io.BytesIO(data)) as container:
            chunks = []
            for frame in container.decode(audio=0):
                chunks.append(frame.to_ndarray().reshape(frame.layout.nb_channels, -1).T)
                rate = frame.sample_rate
            audio = np.concatenate(chunks).astype(np.float32)
    return Decoded(frames, ctx.width, ctx.height, fps, achannels, acodec, audio, rate, ctx.name)


def download(url: str) -> bytes:
    r = httpx.get(url, timeout=60)
    assert r.status_code == 200, r.text
    return r.content


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def png_bytes(rgb: np.ndarray, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format=fmt)
    return buf.getvalue()


def data_url(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def synthetic_image(width: int, height: int, seed: int = 1) -> np.ndarray:
    """A smooth synthetic picture with structure (gradients and blocks), not noise."""
    y, x = np.mgrid[0:height, 0:width]
    rng = np.random.default_rng(seed)
    img = np.stack(
        [
            (x * 255 // max(1, width - 1)),
            (y * 255 // max(1, height - 1)),
            ((x + y) * 128 // max(1, width + height)) + 64,
        ],
        axis=-1,
    ).astype(np.uint8)
    for _ in range(4):
        x0, y0 = rng.integers(0, width // 2), rng.integers(0, height // 2)
        img[y0 : y0 + height // 4, x0 : x0 + width // 4] = rng.integers(0, 256, 3)
    return img


def mp4_bytes(seconds: float, width: int = 320, height: int = 180, fps: int = 24) -> bytes:
    """A real small H.264 MP4 made here, for edit and extension inputs."""
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(int(round(seconds * fps))):
            img = np.zeros((height, width, 3), np.uint8)
            img[..., 0] = (i * 7) % 256
            img[:, : (i * 5) % width, 1] = 200
            img[..., 2] = 90
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return buf.getvalue()


@contextlib.contextmanager
def serve_files(files: dict[str, tuple[bytes, str]]):
    """A real HTTP server on 127.0.0.1 serving {path: (body, content type)}; others get 404.
    Yields its base URL."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path not in files:
                self.send_error(404)
                return
            body, mime = files[self.path]
            self.send_response(200)
            self.send_header("Content-Type", mime)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
