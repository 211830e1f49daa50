"""The `reelforge` client commands, run as subprocesses against a real server."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys

import numpy as np
import pytest

from reelforge.cli import build_parser, settings_from
from reelforge.media.fit import fit_image
from tests.helpers import KEY, decode_mp4, mp4_bytes, png_bytes, psnr, synthetic_image

LONG = ["--duration", "15", "--resolution", "720p"]  # a job that takes a few seconds


def cli_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REELFORGE_", "XAI_"))}
    return {**env, "PYTHONUNBUFFERED": "1"}


def reelforge(server, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "reelforge.cli", "--base-url", server.base_url]
    return subprocess.run(
        [*cmd, "--api-key", KEY, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=cli_env(),
    )


def ok(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert result.returncode == 0, result.stderr
    return result


def test_generate_saves_the_video_and_prints_its_path(server, tmp_path):
    out = tmp_path / "ball.mp4"
    result = ok(reelforge(server, "generate", "a red ball", "--duration", "2", "-o", str(out)))
    assert result.stdout == f"{out}\n"
    video = decode_mp4(out.read_bytes())
    assert (video.width, video.height, len(video.frames), video.audio_channels) == (848, 480, 48, 2)
    lines = result.stderr.splitlines()
    assert lines[0].startswith("request ") and "\r" not in result.stderr  # piped: plain lines
    progress = [int(line.split()[1].rstrip("%")) for line in lines if line.startswith("progress")]
    assert progress and progress[-1] == 100 and progress == sorted(progress)
    assert lines[-1].startswith("done in ") and "2 s video, $0.10" in lines[-1]


def test_generate_from_a_local_image_and_from_references(server, tmp_path):
    image = synthetic_image(600, 600, seed=4)
    png, red, blue = tmp_path / "first.png", tmp_path / "red.png", tmp_path / "blue.png"
    png.write_bytes(png_bytes(image))
    red.write_bytes(png_bytes(np.full((64, 64, 3), (250, 10, 10), np.uint8)))
    blue.write_bytes(png_bytes(np.full((64, 64, 3), (10, 10, 250), np.uint8)))
    i2v, r2v = tmp_path / "i2v.mp4", tmp_path / "r2v.mp4"
    args = ["--duration", "1", "--aspect-ratio", "1:1", "--no-audio", "--seed", "3"]
    ok(reelforge(server, "generate", "zoom in", "--image", str(png), *args, "-o", str(i2v)))
    ok(
        reelforge(
            server,
            "generate",
            "<IMAGE_1> walks left past <IMAGE_2>",
            *["--reference", str(red), "--reference", str(blue)],
            *["--model", "grok-imagine-video", "--resolution", "480p", "-o", str(r2v)],
        )
    )
    video = decode_mp4(i2v.read_bytes())
    assert (video.width, video.height, len(video.frames), video.audio_channels) == (
        480,
        480,
        24,
        None,
    )
    assert psnr(video.frames[0], fit_image(image, 480, 480)) >= 30
    assert len(decode_mp4(r2v.read_bytes()).frames) == 8 * 24  # the default duration


def test_edit_and_extend_a_local_mp4(server, tmp_path):
    source = tmp_path / "in.mp4"
    source.write_bytes(mp4_bytes(2))
    edited, extended = tmp_path / "edited.mp4", tmp_path / "extended.mp4"
    result = ok(reelforge(server, "edit", str(source), "make it sepia", "-o", str(edited)))
    assert result.stdout == f"{edited}\n"
    ok(
        reelforge(
            server, "extend", str(source), "it goes on", "--duration", "2", "-o", str(extended)
        )
    )
    assert len(decode_mp4(edited.read_bytes()).frames) == 48
    assert len(decode_mp4(extended.read_bytes()).frames) == 96


def test_default_output_is_named_after_the_request(server, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "reelforge.cli", "generate", "a dog", "--duration", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={**cli_env(), "REELFORGE_BASE_URL": server.base_url, "REELFORGE_API_KEY": KEY},
    )
    assert result.returncode == 0, result.stderr
    request_id = result.stderr.splitlines()[0].split()[1]
    assert result.stdout == f"{request_id}.mp4\n" and (tmp_path / f"{request_id}.mp4").is_file()


def test_failures_exit_non_zero_with_a_message(server, tmp_path):
    bad = reelforge(server, "generate", "x", "--duration", "99", "-o", str(tmp_path / "x.mp4"))
    assert bad.returncode == 1 and bad.stdout == ""
    assert "duration" in bad.stderr and "HTTP 400" in bad.stderr
    assert not (tmp_path / "x.mp4").exists()
    missing = reelforge(server, "edit", str(tmp_path / "nope.mp4"), "x")
    assert missing.returncode == 1 and "no such file" in missing.stderr
    unknown = reelforge(server, "status", "no-such-id")
    assert unknown.returncode == 1 and "HTTP 404" in unknown.stderr
    no_key = subprocess.run(
        [sys.executable, "-m", "reelforge.cli", "--base-url", server.base_url, "models"],
        capture_output=True,
        text=True,
        timeout=60,
        env=cli_env(),
    )
    assert no_key.returncode == 1 and "--api-key" in no_key.stderr
    usage = reelforge(server, "generate")  # no prompt
    assert usage.returncode == 2


def test_status_cancel_and_list(server):
    started = ok(reelforge(server, "generate", "a slow dawn", *LONG, "--no-wait"))
    request_id = started.stdout.strip()
    assert len(request_id) == 36 and started.stderr == ""
    pending = ok(reelforge(server, "status", request_id)).stdout
    assert f"request_id:     {request_id}" in pending and "status:         pending" in pending
    cancelled = ok(reelforge(server, "cancel", request_id))
    assert cancelled.stdout == f"cancelled {request_id} (failed: cancelled)\n"
    again = reelforge(server, "cancel", request_id)
    assert again.returncode == 1 and "HTTP 409" in again.stderr
    failed = ok(reelforge(server, "status", request_id)).stdout
    assert "status:         failed" in failed and "error:          cancelled:" in failed
    raw = json.loads(ok(reelforge(server, "status", request_id, "--json")).stdout)
    assert raw["error"]["code"] == "cancelled"

    listing = ok(reelforge(server, "list", "--limit", "5")).stdout.splitlines()
    assert listing[0].split() == ["REQUEST_ID", "STATUS", "PROGRESS", "CREATED", "(UTC)", "MODEL"]
    assert listing[1].split()[:2] == [request_id, "failed"]  # newest first
    only_failed = json.loads(ok(reelforge(server, "list", "--status", "failed", "--json")).stdout)
    assert request_id in [v["request_id"] for v in only_failed["data"]]
    assert all(v["status"] == "failed" for v in only_failed["data"])


def test_models(server):
    out = ok(reelforge(server, "models")).stdout
    assert out.startswith("grok-imagine-video\n") and "grok-imagine-video-1.5" in out
    assert "resolutions:   480p, 720p, 1080p" in out and "text-to-video 1-15 s" in out
    ids = [m["id"] for m in json.loads(ok(reelforge(server, "models", "--json")).stdout)]
    assert "grok-imagine-video" in ids


def test_options_after_the_command(server):
    cmd = [sys.executable, "-m", "reelforge.cli", "models", "--base-url", server.base_url]
    result = subprocess.run(
        [*cmd, "--api-key", KEY], capture_output=True, text=True, timeout=60, env=cli_env()
    )
    assert result.returncode == 0 and "grok-imagine-video" in result.stdout


def test_timeout_exits_non_zero_and_names_the_job(server):
    result = reelforge(server, "generate", "a long take", *LONG, "--timeout", "0.5")
    assert result.returncode == 1 and "still pending" in result.stderr
    request_id = result.stderr.splitlines()[0].split()[1]
    assert f"reelforge status {request_id}" in result.stderr
    ok(reelforge(server, "cancel", request_id))  # free the worker


def test_a_live_progress_bar_on_a_terminal(server, tmp_path):
    out = tmp_path / "bar.mp4"
    master, slave = pty.openpty()
    cmd = [sys.executable, "-m", "reelforge.cli", "--base-url", server.base_url]
    proc = subprocess.Popen(
        [*cmd, "--api-key", KEY, "generate", "a cat", *LONG, "-o", str(out)],
        stdout=subprocess.PIPE,
        stderr=slave,
        env=cli_env(),
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    assert proc.wait(60) == 0
    terminal = b"".join(chunks).decode()
    assert proc.stdout.read().decode() == f"{out}\n"
    bars = [part for part in terminal.split("\r") if part.startswith("[")]
    assert len(bars) >= 3, terminal
    assert "[" + "#" * 30 + "] 100%" in bars[-1]
    assert "progress " not in terminal  # no plain lines on a terminal


def test_serve_takes_webhook_options():
    args = build_parser().parse_args(
        ["serve", "--webhook-url", "https://example.com/hook", "--webhook-secret", "s3cret"]
    )
    settings = settings_from(args)
    assert (settings.webhook_url, settings.webhook_secret) == ("https://example.com/hook", "s3cret")
    defaults = settings_from(build_parser().parse_args(["serve"]))
    assert defaults.webhook_url is None and defaults.port == 8000


def test_client_options_before_serve_are_refused():
    result = subprocess.run(
        [sys.executable, "-m", "reelforge.cli", "--api-key", "k", "serve"],
        capture_output=True,
        text=True,
        timeout=60,
        env=cli_env(),
    )
    assert result.returncode == 2 and "serve --api-key" in result.stderr


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing a command writes lands in the repository
