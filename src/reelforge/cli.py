"""`reelforge serve`: the API, its workers and housekeeping in one command."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import signal
import socket
import sys
from pathlib import Path

from reelforge.config import DAY, Settings


def _is_loopback(host: str) -> bool:
    try:
        infos = socket.getaddrinfo(host, None)
    except socket.gaierror:
        return False
    return all(ipaddress.ip_address(info[4][0].split("%")[0]).is_loopback for info in infos)


def _serve_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="run the API server with its workers")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument(
        "--grpc-port",
        type=int,
        default=50051,
        help="port of the gRPC API (xai_api.Video, for xai-sdk) on --host; 0: off",
    )
    p.add_argument(
        "--data-dir", type=Path, default=Path(".reelforge"), help="jobs database and files"
    )
    p.add_argument(
        "--api-key",
        action="append",
        default=[],
        metavar="KEY",
        help="accept this key (repeatable; also REELFORGE_API_KEYS, comma-separated)",
    )
    p.add_argument("--catalog", type=Path, help="TOML file adding or overriding models")
    p.add_argument("--workers", type=int, default=1, help="render worker processes (0: API only)")
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
        "--allow-private-urls",
        action="store_true",
        help="let input URLs reach loopback, private and link-local addresses",
    )
    p.add_argument(
        "--insecure-open",
        action="store_true",
        help="allow binding a non-loopback address with no API keys configured",
    )
    p.add_argument(
        "--database-url", help="SQLAlchemy URL of the job store (default: SQLite in --data-dir)"
    )
    p.add_argument(
        "--public-url", help="base URL for video links (default: the URL the client used)"
    )
    p.add_argument(
        "--lease-ttl",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="how long a silent worker keeps a job before another worker may take it",
    )
    p.add_argument("--log-level", default="info")


def settings_from(args: argparse.Namespace) -> Settings:
    keys = list(args.api_key)
    keys += [k.strip() for k in os.environ.get("REELFORGE_API_KEYS", "").split(",") if k.strip()]
    return Settings(
        host=args.host,
        port=args.port,
        grpc_port=args.grpc_port,
        data_dir=args.data_dir,
        api_keys=keys,
        catalog_file=args.catalog,
        workers=args.workers,
        url_ttl=args.url_ttl,
        retention=args.retention,
        allow_private_urls=args.allow_private_urls,
        insecure_open=args.insecure_open,
        database_url=args.database_url,
        public_url=args.public_url,
        lease_ttl=args.lease_ttl,
    )


def serve(settings: Settings, log_level: str = "info") -> None:
    import uvicorn

    from reelforge.api.auth import KeyChecker
    from reelforge.api.rest import create_app
    from reelforge.core.catalog import Catalog, CatalogError
    from reelforge.jobs.store import JobStore
    from reelforge.jobs.worker import WorkerPool
    from reelforge.service import VideoService
    from reelforge.storage.local import LocalStorage

    keys = KeyChecker(settings.api_keys)
    if keys.open and not settings.insecure_open and not _is_loopback(settings.host):
        sys.exit(
            f"refusing to listen on {settings.host} with no API keys: "
            "pass --api-key (or REELFORGE_API_KEYS), or --insecure-open"
        )
    try:
        catalog = Catalog.load(settings.catalog_file)
    except CatalogError as exc:
        sys.exit(f"catalog: {exc}")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = JobStore(
        settings.db_url, lease_ttl=settings.lease_ttl, max_attempts=settings.max_attempts
    )
    store.create_schema()
    service = VideoService(settings, store, LocalStorage(settings.files_dir), catalog)
    workers = WorkerPool(settings)
    workers.start()
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="reelforge", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    _serve_parser(sub)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    if args.command == "serve":
        serve(settings_from(args), args.log_level)


if __name__ == "__main__":
    main()
