"""Reelforge: `reelforge serve` runs the API, its workers and housekeeping in one command;
`reelforge worker` runs workers only, for API replicas elsewhere; the other commands (generate,
edit, extend, status, cancel, list, models) are a client for a server."""

from __future__ import annotations

import argparse
import ipaddress
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from reelforge.config import DAY, Settings


def _is_loopback(host: str) -> bool:
    try:
        infos = socket.getaddrinfo(host, None)
    except socket.gaierror:
        return False
    return all(ipaddress.ip_address(info[4][0].split("%")[0]).is_loopback for info in infos)


def _backend_options() -> argparse.ArgumentParser:
    """Options of every process that touches jobs: `serve` and `worker`."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument(
        "--data-dir",
        type=Path,
        default=Path(".reelforge"),
        help="the SQLite job store, local storage and temporary files",
    )
    p.add_argument("--catalog", type=Path, help="TOML file adding or overriding models")
    p.add_argument("--workers", type=int, default=1, help="render worker processes (0: none)")
    p.add_argument(
        "--database-url",
        default=os.environ.get("REELFORGE_DATABASE_URL"),
        help="SQLAlchemy URL of the job store, e.g. postgresql+psycopg://user@host/db "
        "(also REELFORGE_DATABASE_URL; default: SQLite in --data-dir)",
    )
    p.add_argument(
        "--storage",
        default=os.environ.get("REELFORGE_STORAGE"),
        metavar="s3://BUCKET/PREFIX|DIR",
        help="where inputs, files and videos live (also REELFORGE_STORAGE; "
        "default: DATA_DIR/files)",
    )
    p.add_argument(
        "--s3-endpoint-url",
        default=os.environ.get("REELFORGE_S3_ENDPOINT_URL"),
        metavar="URL",
        help="an S3-compatible service other than AWS (also REELFORGE_S3_ENDPOINT_URL)",
    )
    p.add_argument("--s3-region", default=os.environ.get("AWS_REGION"), metavar="REGION")
    p.add_argument(
        "--lease-ttl",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="how long a silent worker keeps a job before another worker may take it",
    )
    p.add_argument(
        "--max-attempts",
        type=int,
        default=3,
        metavar="N",
        help="workers that may die on one job before it fails",
    )
    p.add_argument(
        "--allow-private-urls",
        action="store_true",
        help="let input URLs reach loopback, private and link-local addresses",
    )
    p.add_argument("--log-level", default="info")
    return p


def _serve_parser(sub: argparse._SubParsersAction, backend: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "serve", parents=[backend], help="run the API server (and, unless --workers 0, workers)"
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument(
        "--grpc-port",
        type=int,
        default=50051,
        help="port of the gRPC API (xai_api.Video, for xai-sdk) on --host; 0: off",
    )
    p.add_argument(
        "--api-key",
        action="append",
        default=[],
        metavar="KEY",
        help="accept this key (repeatable; also REELFORGE_API_KEYS, comma-separated)",
    )
    p.add_argument(
        "--url-ttl", type=float, default=DAY, metavar="SECONDS", help="video URL lifetime"
    )
    p.add_argument(
        "--retention",
        type=float,
        default=DAY,
        metavar="SECONDS",
        help="how long finished jobs and their files are kept before they read 'expired'",
    )
    p.add_argument(
        "--insecure-open",
        action="store_true",
        help="allow binding a non-loopback address with no API keys configured",
    )
    p.add_argument(
        "--public-url", help="base URL for video links (default: the URL the client used)"
    )
    p.add_argument(
        "--webhook-url",
        metavar="URL",
        help="POST job events here for jobs whose request names no webhook_url",
    )
    p.add_argument(
        "--webhook-secret",
        default=os.environ.get("REELFORGE_WEBHOOK_SECRET"),
        metavar="SECRET",
        help="key signing webhook deliveries (also REELFORGE_WEBHOOK_SECRET; "
        "default: one generated once in --data-dir)",
    )


def _worker_parser(sub: argparse._SubParsersAction, backend: argparse.ArgumentParser) -> None:
    sub.add_parser(
        "worker",
        parents=[backend],
        help="run render workers only, for API replicas elsewhere (same --database-url and "
        "--storage)",
    )


def settings_from(args: argparse.Namespace) -> Settings:
    """Settings from `serve` or `worker` arguments; what a command has no option for keeps its
    default."""
    values = {f: getattr(args, f) for f in Settings.__dataclass_fields__ if hasattr(args, f)}
    if "api_key" in args:
        keys = list(args.api_key)
        env_keys = os.environ.get("REELFORGE_API_KEYS", "")
        keys += [k.strip() for k in env_keys.split(",") if k.strip()]
        values["api_keys"] = keys
    if "catalog" in args:
        values["catalog_file"] = args.catalog
    return Settings(**values)


def serve(settings: Settings, log_level: str = "info") -> None:
    import uvicorn

    from reelforge.api.auth import KeyChecker
    from reelforge.api.rest import create_app
    from reelforge.jobs.worker import WorkerPool
    from reelforge.service import VideoService

    keys = KeyChecker(settings.api_keys)
    if keys.open and not settings.insecure_open and not _is_loopback(settings.host):
        sys.exit(
            f"refusing to listen on {settings.host} with no API keys: "
            "pass --api-key (or REELFORGE_API_KEYS), or --insecure-open"
        )
    catalog, store, storage = _open_backend(settings)
    service = VideoService(settings, store, storage, catalog)
    workers = WorkerPool(settings)
    workers.start()
    service.on_new_job = workers.wake
    grpc_server = None
    # uvicorn re-raises the SIGTERM it handled; exit through the `finally` below, not around it
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        if settings.grpc_port:
            from reelforge.api.grpc import start_server

            try:
                grpc_server = start_server(service, keys, settings.host, settings.grpc_port)
            except RuntimeError as exc:
                sys.exit(str(exc))
        uvicorn.run(
            create_app(service, keys),
            host=settings.host,
            port=settings.port,
            log_level=log_level,
            access_log=False,
        )
    finally:
        if grpc_server is not None:
            grpc_server.stop(grace=5).wait()
        workers.stop()
        store.dispose()


def _open_backend(settings: Settings):
    """The catalog, job store (schema in place) and storage, or exit saying what is wrong."""
    from reelforge.core.catalog import Catalog, CatalogError
    from reelforge.jobs.store import JobStore
    from reelforge.moderation.preflight import unavailable
    from reelforge.storage import StorageError, storage_for

    try:
        catalog = Catalog.load(settings.catalog_file)
    except CatalogError as exc:
        sys.exit(f"catalog: {exc}")
    # Fail closed: workers never render unmoderated (an API-only process moderates nothing).
    if settings.workers > 0 and (problem := unavailable(catalog.moderation)):
        sys.exit(problem)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        storage = storage_for(settings)
    except StorageError as exc:
        sys.exit(str(exc))
    store = JobStore(
        settings.db_url, lease_ttl=settings.lease_ttl, max_attempts=settings.max_attempts
    )
    store.create_schema()  # idempotent: every process may be the first to start
    return catalog, store, storage


def work(settings: Settings) -> None:
    """`reelforge worker`: render workers only, until SIGTERM or Ctrl-C."""
    from reelforge.jobs.worker import WorkerPool

    if settings.workers < 1:
        sys.exit("--workers must be at least 1 for `reelforge worker`")
    _, store, _ = _open_backend(settings)
    store.dispose()  # the workers open their own connections
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    workers = WorkerPool(settings)
    workers.start()
    logging.getLogger("reelforge").info(
        "%d worker(s) on %s", settings.workers, _redacted(settings.db_url)
    )
    try:
        stop.wait()
    finally:
        workers.stop()


def _redacted(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


# --- client commands (on reelforge.client) ---------------------------------------------------


def _client_parsers(sub: argparse._SubParsersAction) -> None:
    # --base-url/--api-key are taken before the command or after it
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--base-url", default=argparse.SUPPRESS, metavar="URL", help="as before the command"
    )
    common.add_argument(
        "--api-key",
        dest="client_api_key",
        default=argparse.SUPPRESS,
        metavar="KEY",
        help="as before the command",
    )
    waiting = argparse.ArgumentParser(add_help=False, parents=[common])
    waiting.add_argument(
        "-o", "--output", type=Path, help="where to save the MP4 (default: ID.mp4)"
    )
    waiting.add_argument("--model", help="model id (default: the server's, grok-imagine-video)")
    waiting.add_argument("--seed", type=int)
    waiting.add_argument(
        "--timeout", type=float, default=600.0, metavar="SECONDS", help="give up waiting after"
    )
    waiting.add_argument(
        "--no-wait", action="store_true", help="print the request id and return at once"
    )

    p = sub.add_parser("generate", parents=[waiting], help="generate a video and save it")
    p.add_argument("prompt")
    p.add_argument("--image", metavar="PATH|URL", help="first frame (image-to-video)")
    p.add_argument(
        "--reference",
        action="append",
        metavar="PATH|URL",
        help="reference image (reference-to-video); repeat for several",
    )
    p.add_argument("--duration", type=int, metavar="SECONDS")
    p.add_argument("--aspect-ratio", metavar="W:H")
    p.add_argument("--resolution", metavar="480p|720p|1080p")
    p.add_argument("--no-audio", action="store_true", help="no audio track")

    p = sub.add_parser("edit", parents=[waiting], help="edit a video and save the result")
    p.add_argument("video", metavar="VIDEO", help="input video: a local path or a URL")
    p.add_argument("prompt")

    p = sub.add_parser("extend", parents=[waiting], help="extend a video and save the result")
    p.add_argument("video", metavar="VIDEO", help="input video: a local path or a URL")
    p.add_argument("prompt")
    p.add_argument("--duration", type=int, metavar="SECONDS", help="seconds to add (default 6)")

    p = sub.add_parser("status", parents=[common], help="show a job's status")
    p.add_argument("request_id", metavar="ID")
    p.add_argument("--json", action="store_true", help="print the raw status body")

    p = sub.add_parser("cancel", parents=[common], help="cancel a pending job")
    p.add_argument("request_id", metavar="ID")

    p = sub.add_parser("list", parents=[common], help="list your jobs, newest first")
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--status", choices=["pending", "done", "failed", "expired"])
    p.add_argument("--after", metavar="ID", help="the page after this job")
    p.add_argument("--json", action="store_true", help="print the raw list body")

    p = sub.add_parser("models", parents=[common], help="list the video models")
    p.add_argument("--json", action="store_true", help="print the raw model descriptions")


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="reelforge", description=__doc__)
    parser.add_argument(
        "--base-url",
        dest="global_base_url",
        metavar="URL",
        help="server for client commands (default: REELFORGE_BASE_URL or http://127.0.0.1:8000)",
    )
    parser.add_argument(
        "--api-key",
        dest="global_api_key",
        metavar="KEY",
        help="key for client commands (default: REELFORGE_API_KEY, then XAI_API_KEY)",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    backend = _backend_options()
    _serve_parser(sub, backend)
    _worker_parser(sub, backend)
    _client_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command not in ("serve", "worker"):
        sys.exit(run_client_command(args))
    if args.global_base_url or args.global_api_key:
        parser.error(
            "--base-url/--api-key before a command are for client commands; "
            "to set the server's keys use `reelforge serve --api-key KEY`"
        )
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    if args.command == "worker":
        work(settings_from(args))
    else:
        serve(settings_from(args), args.log_level)


if __name__ == "__main__":
    main()
