"""The client commands: generate, edit, extend, status, cancel, list, models."""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO


class ProgressDisplay:
    """`on_progress` for the CLI: a live bar on a terminal, plain lines when piped."""

    WIDTH = 30

    def __init__(self, stream: TextIO):
        self.stream = stream
        self.live = stream.isatty()
        self.started = time.monotonic()
        self.drawn = False

    def __call__(self, video) -> None:
        elapsed = time.monotonic() - self.started
        queued = f"  queued #{video.queue_position}" if video.queue_position else ""
        if not self.live:
            print(f"progress {video.progress}%{queued}", file=self.stream, flush=True)
            return
        filled = self.WIDTH * video.progress // 100
        bar = "#" * filled + "-" * (self.WIDTH - filled)
        line = f"\r[{bar}] {video.progress:3d}%  {elapsed:5.1f} s{queued}\x1b[K"
        self.stream.write(line)
        self.stream.flush()
        self.drawn = True

    def end(self) -> None:
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()
            self.drawn = False


def _money(ticks: int | None) -> str:
    return "" if ticks is None else f", ${ticks * 1e-10:.2f}"


def _create(client, args: argparse.Namespace):
    """Start the job the command asks for; returns its pending `Video`."""
    common = {"model": args.model, "seed": args.seed}
    if args.command == "generate":
        options = {
            "image_url": args.image,
            "reference_image_urls": args.reference,
            "duration": args.duration,
            "aspect_ratio": args.aspect_ratio,
            "resolution": args.resolution,
            "generate_audio": False if args.no_audio else None,
        }
        options = {k: v for k, v in {**common, **options}.items() if v is not None}
        return client.video.start(args.prompt, **options)
    options = {k: v for k, v in common.items() if v is not None}
    if args.command == "edit":
        return client.video.edit_start(args.prompt, video_url=args.video, **options)
    if args.duration is not None:
        options["duration"] = args.duration
    return client.video.extend_start(args.prompt, video_url=args.video, **options)


def _make(client, args: argparse.Namespace) -> None:
    started = _create(client, args)
    if args.no_wait:
        print(started.request_id)
        return
    print(f"request {started.request_id}", file=sys.stderr, flush=True)
    display = ProgressDisplay(sys.stderr)
    try:
        video = client.video.wait(started, timeout=args.timeout, on_progress=display)
    except KeyboardInterrupt:
        display.end()
        print(
            f"interrupted; job {started.request_id} keeps running "
            f"(reelforge status/cancel {started.request_id})",
            file=sys.stderr,
        )
        raise SystemExit(130) from None
    finally:
        display.end()
    path = video.download(args.output or Path(f"{video.request_id}.mp4"))
    took = time.monotonic() - display.started
    print(
        f"done in {took:.1f} s: {video.duration} s video{_money(video.cost_in_usd_ticks)}",
        file=sys.stderr,
    )
    print(path)


def _status(client, args: argparse.Namespace) -> None:
    video = client.video.get(args.request_id)
    if args.json:
        print(json.dumps(video.raw, indent=2))
        return
    rows = [("request_id", video.request_id), ("status", video.status)]
    if video.status in ("pending", "done"):
        rows.append(("progress", f"{video.progress}%"))
    if video.queue_position is not None:
        rows.append(("queue_position", video.queue_position))
    if video.model:
        rows.append(("model", video.model))
    if video.status == "done":
        rows.append(("duration", f"{video.duration} s"))
        rows.append(("url", video.url or "(withheld by moderation)"))
    if video.cost_in_usd_ticks is not None:
        rows.append(("cost", f"${video.cost_in_usd_ticks * 1e-10:.2f}"))
    if video.status == "failed":
        rows.append(("error", f"{video.error_code}: {video.error_message}"))
    for key, value in rows:
        print(f"{key + ':':<16}{value}")


def _cancel(client, args: argparse.Namespace) -> None:
    video = client.video.cancel(args.request_id)
    print(f"cancelled {video.request_id} ({video.status}: {video.error_code})")


def _when(timestamp: int | None) -> str:
    if timestamp is None:
        return "-"
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _list(client, args: argparse.Namespace) -> None:
    page = client.video.list(limit=args.limit, after=args.after, status=args.status)
    if args.json:
        print(json.dumps({"data": [v.raw for v in page], "has_more": page.has_more}, indent=2))
        return
    print(f"{'REQUEST_ID':<38}{'STATUS':<9}{'PROGRESS':>9}  {'CREATED (UTC)':<21}MODEL")
    for v in page:
        progress, created = f"{v.progress}%", _when(v.created_at)
        print(f"{v.request_id:<38}{v.status:<9}{progress:>9}  {created:<21}{v.model or ''}")
    if page.has_more:
        print(f"more: reelforge list --after {page.next_after}", file=sys.stderr)


def _models(client, args: argparse.Namespace) -> None:
    models = client.models.list()
    if args.json:
        print(json.dumps([m.raw for m in models], indent=2))
        return
    for m in models:
        durations = ", ".join(f"{mode} {lo:g}-{hi:g} s" for mode, (lo, hi) in m.durations.items())
        aliases = f" (aliases: {', '.join(m.aliases)})" if m.aliases else ""
        print(f"{m.id}{aliases}")
        print(f"  resolutions:   {', '.join(m.resolutions)}")
        print(f"  aspect ratios: {', '.join(m.aspect_ratios)}")
        print(f"  durations:     {durations}")


_COMMANDS = {
    "generate": _make,
    "edit": _make,
    "extend": _make,
    "status": _status,
    "cancel": _cancel,
    "list": _list,
    "models": _models,
}


def run_client_command(args: argparse.Namespace) -> int:
    """Run a client command; errors go to stderr as one line and give exit status 1."""
    from reelforge.client import ApiError, Client, ReelforgeError, VideoTimeoutError

    api_key = getattr(args, "client_api_key", None) or args.global_api_key
    base_url = getattr(args, "base_url", None) or args.global_base_url
    client = Client(api_key=api_key, base_url=base_url)
    try:
        with client:
            _COMMANDS[args.command](client, args)
    except VideoTimeoutError as exc:
        print(f"reelforge: {exc}; see `reelforge status {exc.request_id}`", file=sys.stderr)
        return 1
    except ApiError as exc:
        hint = ""
        if exc.status == 401 and not client.api_key:
            hint = " (pass --api-key or set REELFORGE_API_KEY)"
        print(f"reelforge: {exc.message} [HTTP {exc.status}]{hint}", file=sys.stderr)
        return 1
    except (ReelforgeError, OSError, ValueError) as exc:
        print(f"reelforge: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0
