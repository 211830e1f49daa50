"""Reelforge's command line: `serve` runs the API, its workers and housekeeping in one command;
`worker` runs workers only, for API replicas elsewhere; `migrate` upgrades the database; `keys` and
`usage` manage API keys and report usage straight from the database; the other commands
(generate, edit, extend, status, cancel, list, models) are a client for a server.

This module only parses arguments: the server commands are in `server_commands`, the client's in
`client_commands`.
"""

from __future__ import annotations

import argparse
import os
import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path

from reelforge.config import BUDGET_PERIODS as PERIODS
from reelforge.config import DAY, Settings

SERVER_COMMANDS = ("serve", "worker", "migrate", "keys", "usage")


def _device_list(text: str) -> list[str]:
    devices = [d.strip() for d in text.split(",") if d.strip()]
    if not devices or not all(d.isdigit() for d in devices):
        raise argparse.ArgumentTypeError(f"expected GPU indices such as 0,1,2; got {text!r}")
    return devices


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
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="render worker processes (0: none; default 1, or one per --devices GPU)",
    )
    p.add_argument(
        "--devices",
        type=_device_list,
        default=[],
        metavar="0,1,...",
        help="GPUs for the workers: each worker process is pinned to one (CUDA_VISIBLE_DEVICES)",
    )
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
        help="workers that may die on one job before it fails; also how many times in a row "
        "an upstream request that fails (5xx, network) is tried",
    )
    p.add_argument(
        "--check-upstream",
        action="store_true",
        help="at start-up, check that each `upstream` model's server answers with its key",
    )
    p.add_argument(
        "--allow-private-urls",
        action="store_true",
        help="let input URLs reach loopback, private and link-local addresses",
    )
    p.add_argument(
        "--drain-timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="on SIGTERM, how long running jobs and open requests may take to finish",
    )
    p.add_argument(
        "--no-migrate",
        dest="migrate",
        action="store_false",
        help="do not upgrade the database schema at start; refuse to start if it is behind",
    )
    # Housekeeping (janitor, webhooks) runs in serve and worker processes alike: these must
    # be the same on every process of a deployment.
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
    p.add_argument(
        "--fast",
        action="store_true",
        help="encode with the fastest settings (for test suites): same sizes, frame counts and "
        "audio, larger files",
    )
    p.add_argument("--log-level", default="info")
    p.add_argument(
        "--log-format",
        choices=("text", "json"),
        default=os.environ.get("REELFORGE_LOG_FORMAT", "text"),
        help="json: one event per line with request_id, job_id, key name, route, status, "
        "duration (also REELFORGE_LOG_FORMAT)",
    )
    p.add_argument(
        "--metrics-port",
        type=int,
        default=0,
        metavar="N",
        help="serve Prometheus metrics of this process and its workers on this port (0: off)",
    )
    p.add_argument(
        "--metrics-host",
        default="127.0.0.1",
        metavar="HOST",
        help="address of --metrics-port (default 127.0.0.1)",
    )
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
        "--insecure-open",
        action="store_true",
        help="allow binding a non-loopback address with no API keys configured",
    )
    p.add_argument(
        "--no-playground",
        dest="playground",
        action="store_false",
        help="do not serve the web playground at /playground",
    )
    p.add_argument(
        "--scenarios",
        action="store_true",
        help="for test suites: honour the Reelforge-Scenario header (failures on demand) and "
        "keep a journal of requests at /_reelforge/requests",
    )
    p.add_argument(
        "--metrics-token",
        default=os.environ.get("REELFORGE_METRICS_TOKEN"),
        metavar="TOKEN",
        help="serve /metrics on the API port to 'Authorization: Bearer TOKEN' "
        "(also REELFORGE_METRICS_TOKEN; default: no /metrics there)",
    )
    limits = p.add_argument_group(
        "limits",
        "defaults for keys that set none of their own (all --api-key keys); none by default",
    )
    limits.add_argument(
        "--default-rpm", type=_positive, metavar="N", help="create requests per minute per key"
    )
    limits.add_argument(
        "--default-max-pending",
        "--max-pending-per-key",  # its name before managed keys; the same limit
        type=_count_or_unlimited,
        metavar="N",
        help="queued or rendering jobs per key (0: no limit)",
    )
    limits.add_argument(
        "--default-budget-usd",
        type=_usd,
        metavar="X",
        dest="default_budget_ticks",
        help="spend per key per period",
    )
    limits.add_argument("--default-budget-period", choices=PERIODS, default="month")
    limits.add_argument(
        "--max-queued",
        type=_positive,
        metavar="N",
        help="jobs waiting for a worker, whole deployment",
    )


def _worker_parser(sub: argparse._SubParsersAction, backend: argparse.ArgumentParser) -> None:
    sub.add_parser(
        "worker",
        parents=[backend],
        help="run render workers only, for API replicas elsewhere (same --database-url and "
        "--storage)",
    )


def _migrate_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("migrate", help="upgrade the database schema to this version's, and exit")
    p.add_argument("--data-dir", type=Path, default=Path(".reelforge"))
    p.add_argument(
        "--database-url",
        default=os.environ.get("REELFORGE_DATABASE_URL"),
        help="as for serve (default: SQLite in --data-dir)",
    )
    p.add_argument("--log-level", default="info")


def _positive(raw: str) -> int:
    if not raw.isdigit() or int(raw) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, got {raw!r}")
    return int(raw)


def _count_or_unlimited(raw: str) -> int | None:
    return None if raw == "0" else _positive(raw)


def _usd(raw: str) -> int:
    """USD as ticks (1e-10 USD), exactly."""
    try:
        usd = Decimal(raw)
    except InvalidOperation:
        usd = Decimal(-1)
    if not usd.is_finite() or usd < 0:
        raise argparse.ArgumentTypeError(f"must be an amount in USD, got {raw!r}")
    return int(usd * 10_000_000_000)


def _database_options() -> argparse.ArgumentParser:
    """Where the database is, for commands that only use it (migrate, keys, usage)."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--data-dir", type=Path, default=Path(".reelforge"))
    p.add_argument(
        "--database-url",
        default=os.environ.get("REELFORGE_DATABASE_URL"),
        help="as for serve (default: SQLite in --data-dir)",
    )
    p.add_argument("--log-level", default="warning")
    return p


def _keys_parser(sub: argparse._SubParsersAction, database: argparse.ArgumentParser) -> None:
    p = sub.add_parser("keys", help="manage API keys with their own limits")
    keys = p.add_subparsers(dest="keys_command", required=True)

    def limit_options(q: argparse.ArgumentParser, clearable: bool) -> None:
        kind = _positive_or_none if clearable else _positive
        extra = " ('none': the server's default)" if clearable else ""
        # update: an option not given stays out of args, so only the options given change
        unset = argparse.SUPPRESS if clearable else None
        q.add_argument(
            "--rpm",
            type=kind,
            default=unset,
            metavar="N",
            help="create requests per minute" + extra,
        )
        q.add_argument(
            "--max-pending",
            type=kind,
            default=unset,
            metavar="N",
            help="queued or rendering jobs" + extra,
        )
        q.add_argument(
            "--budget-usd",
            type=_usd_or_none if clearable else _usd,
            default=unset,
            metavar="X",
            dest="budget_ticks",
            help="spend per period" + extra,
        )
        q.add_argument(
            "--budget-period", choices=PERIODS, default=unset, help="month (default) or total"
        )

    q = keys.add_parser("create", parents=[database], help="create a key; prints its secret once")
    q.add_argument("--name", required=True)
    limit_options(q, clearable=False)
    q = keys.add_parser("list", parents=[database], help="list keys")
    q.add_argument("--all", action="store_true", help="revoked keys too")
    q.add_argument("--json", action="store_true")
    q = keys.add_parser("revoke", parents=[database], help="revoke a key: it stops working")
    q.add_argument("name")
    q = keys.add_parser("update", parents=[database], help="change a key's limits")
    q.add_argument("name")
    limit_options(q, clearable=True)


def _usage_parser(sub: argparse._SubParsersAction, database: argparse.ArgumentParser) -> None:
    p = sub.add_parser("usage", parents=[database], help="usage of one key or of everyone")
    p.add_argument("--key", metavar="NAME", help="this key's usage (default: every key's)")
    p.add_argument("--from", dest="since", metavar="TIME", help="unix seconds or ISO date/time")
    p.add_argument("--to", dest="until", metavar="TIME")
    p.add_argument("--group-by", choices=["day", "model", "mode"])
    p.add_argument("--retention", type=float, default=DAY, metavar="SECONDS", help="as for serve")
    p.add_argument("--json", action="store_true", help="print the report as JSON")


def _positive_or_none(raw: str) -> int | None:
    return None if raw == "none" else _positive(raw)


def _usd_or_none(raw: str) -> int | None:
    return None if raw == "none" else _usd(raw)


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
    if "workers" in values and values["workers"] is None:
        values["workers"] = len(values.get("devices") or ()) or 1  # one worker per GPU
    return Settings(**values)


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
    _migrate_parser(sub)
    database = _database_options()
    _keys_parser(sub, database)
    _usage_parser(sub, database)
    _client_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command not in SERVER_COMMANDS:
        from reelforge.cli.client_commands import run_client_command

        sys.exit(run_client_command(args))
    if args.global_base_url or args.global_api_key:
        parser.error(
            "--base-url/--api-key before a command are for client commands; "
            "to set the server's keys use `reelforge serve --api-key KEY`"
        )
    from reelforge.cli import server_commands

    if args.command in ("keys", "usage"):
        sys.exit(server_commands.admin(args, settings_from(args)))
    log_format = getattr(args, "log_format", "text")  # (migrate has no such option)
    server_commands.run(args.command, settings_from(args), args.log_level, log_format)
