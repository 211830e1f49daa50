"""The server commands: `serve`, `worker` and `migrate`, on the assembly in reelforge.server."""

from __future__ import annotations

import ipaddress
import logging
import socket
import sys

from reelforge.config import Settings


def _is_loopback(host: str) -> bool:
    try:
        infos = socket.getaddrinfo(host, None)
    except socket.gaierror:
        return False
    return all(ipaddress.ip_address(info[4][0].split("%")[0]).is_loopback for info in infos)


def run(command: str, settings: Settings, log_level: str) -> None:
    """Run a server command; a process that cannot start exits saying why."""
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    if command == "migrate":
        return migrate(settings)  # without loading the server: an operator's quick step
    from reelforge import server

    try:
        if command == "serve":
            serve(settings, log_level)
        elif command == "worker":
            if settings.workers < 1:
                sys.exit("--workers must be at least 1 for `reelforge worker`")
            server.run_worker_host(server.open_backend(settings, renders=True))
    except server.StartupError as exc:
        sys.exit(str(exc))


def serve(settings: Settings, log_level: str) -> None:
    from reelforge import server
    from reelforge.api.auth import KeyChecker

    keys = KeyChecker(settings.api_keys)
    if keys.open and not settings.insecure_open and not _is_loopback(settings.host):
        sys.exit(
            f"refusing to listen on {settings.host} with no API keys: "
            "pass --api-key (or REELFORGE_API_KEYS), or --insecure-open"
        )
    backend = server.open_backend(settings, renders=settings.workers > 0)
    server.run_api(backend, keys, log_level)


def migrate(settings: Settings) -> None:
    """`reelforge migrate`: upgrade the schema now and say from which revision to which."""
    from sqlalchemy.engine import make_url

    from reelforge.jobs.migrations import SchemaNotCurrent, upgrade_to_head
    from reelforge.jobs.store import create_engine

    if settings.database_url is None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    print(f"database: {make_url(settings.db_url).render_as_string(hide_password=True)}")
    engine = create_engine(settings.db_url)
    try:
        done = upgrade_to_head(engine)
    except SchemaNotCurrent as exc:
        sys.exit(f"database: {exc}")
    finally:
        engine.dispose()
    if done.adopted:
        print("found tables from before migrations: stamped at the first revision")
    print(f"before: {done.before or 'none'}")
    print(f"after:  {done.after}")
