"""The server commands: `serve`, `worker` and `migrate`, on the assembly in reelforge.server;
and the operator's `keys` and `usage`, on the database."""

from __future__ import annotations

import argparse
import atexit
import ipaddress
import json
import os
import shutil
import socket
import sys
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from reelforge.config import Settings
from reelforge.core import logs
from reelforge.core.pricing import TICKS_PER_USD

if TYPE_CHECKING:
    from reelforge.jobs.keys import ApiKey, KeyStore
    from reelforge.jobs.store import JobStore


def _is_loopback(host: str) -> bool:
    try:
        infos = socket.getaddrinfo(host, None)
    except socket.gaierror:
        return False
    return all(ipaddress.ip_address(info[4][0].split("%")[0]).is_loopback for info in infos)


def run(command: str, settings: Settings, log_level: str, log_format: str = "text") -> None:
    """Run a server command; a process that cannot start exits saying why."""
    logs.setup(log_level, log_format)
    if command == "migrate":
        return migrate(settings)  # without loading the server: an operator's quick step
    _metrics_dir(settings.data_dir)  # before anything imports prometheus_client
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


def _metrics_dir(data_dir: Path) -> None:
    """A directory where this process and its workers write their metrics (prometheus_client's
    multiprocess mode), removed at exit; those of processes no longer running are removed too."""
    root = (data_dir / "metrics").resolve()
    root.mkdir(parents=True, exist_ok=True)
    for old in root.iterdir():
        if old.name.isdigit() and not Path(f"/proc/{old.name}").exists():
            shutil.rmtree(old, ignore_errors=True)
    mine = root / str(os.getpid())
    shutil.rmtree(mine, ignore_errors=True)
    mine.mkdir()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(mine)
    atexit.register(shutil.rmtree, mine, ignore_errors=True)


def serve(settings: Settings, log_level: str) -> None:
    from reelforge import server
    from reelforge.api.auth import KeyChecker
    from reelforge.jobs.keys import KeyStore

    backend = server.open_backend(settings, renders=settings.workers > 0)
    keys = KeyChecker(settings.api_keys, KeyStore(backend.store.engine))
    if keys.open and not settings.insecure_open and not _is_loopback(settings.host):
        backend.close()
        sys.exit(
            f"refusing to listen on {settings.host} with no API keys: "
            "pass --api-key (or REELFORGE_API_KEYS), create one with `reelforge keys create`, "
            "or --insecure-open"
        )
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


# --- keys and usage: straight from the database ------------------------------------------------


def admin(args: argparse.Namespace, settings: Settings) -> int:
    """`reelforge keys ...` and `reelforge usage`; the exit status."""
    from reelforge.core.errors import ApiError
    from reelforge.jobs.keys import KeyProblem, KeyStore
    from reelforge.jobs.store import JobStore

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = JobStore(settings.db_url)
    try:
        store.create_schema()
        keys = KeyStore(store.engine)
        if args.command == "keys":
            _keys_command(args, keys)
        else:
            _usage_command(args, store, keys, settings)
        return 0
    except (KeyProblem, ApiError) as exc:
        print(f"reelforge {args.command}: {exc}", file=sys.stderr)
        return 1
    finally:
        store.dispose()


def _usd(ticks: int | None) -> str:
    return "-" if ticks is None else f"{Decimal(ticks) / TICKS_PER_USD:f}"


def _keys_command(args: argparse.Namespace, keys: KeyStore) -> None:
    from reelforge.jobs.keys import KeyLimits

    if args.keys_command == "create":
        limits = KeyLimits(args.rpm, args.max_pending, args.budget_ticks, args.budget_period)
        key, secret = keys.create(args.name, limits)
        print(secret)
        print(
            f"created key '{key.name}' ({key.id}); the secret above is shown only once",
            file=sys.stderr,
        )
    elif args.keys_command == "revoke":
        key = keys.revoke(args.name)
        print(f"revoked key '{key.name}' ({key.id})")
    elif args.keys_command == "update":
        # (options not given are absent from args: update only those given)
        fields = ("rpm", "max_pending", "budget_ticks", "budget_period")
        given = {f: getattr(args, f) for f in fields if hasattr(args, f)}
        _show([keys.update(args.name, **given)], as_json=False)
    else:
        _show(keys.list(include_revoked=args.all), as_json=args.json)


def _show(rows: list[ApiKey], *, as_json: bool) -> None:
    described = [
        {
            "name": k.name,
            "id": k.id,
            "rpm": k.limits.rpm,
            "max_pending": k.limits.max_pending,
            "budget_usd": _usd(k.limits.budget_ticks),
            "budget_period": k.limits.budget_period or ("month" if k.limits.budget_ticks else None),
            "created_at": int(k.created_at),
            "revoked_at": int(k.revoked_at) if k.revoked_at else None,
        }
        for k in rows
    ]
    if as_json:
        print(json.dumps(described, indent=2))
        return
    print(f"{'NAME':<20} {'ID':<36} {'RPM':>6} {'PENDING':>8} {'BUDGET USD':>14} PERIOD  STATE")
    for d in described:
        state = "revoked" if d["revoked_at"] else "active"
        print(
            f"{d['name']:<20} {d['id']:<36} {d['rpm'] or '-':>6} {d['max_pending'] or '-':>8} "
            f"{d['budget_usd']:>14} {d['budget_period'] or '-':<7} {state}"
        )


def _usage_command(
    args: argparse.Namespace, store: JobStore, keys: KeyStore, settings: Settings
) -> None:
    from reelforge.core.errors import ApiError
    from reelforge.jobs.usage import usage_report

    owners = None
    if args.key is not None:
        named = keys.named(args.key, include_revoked=True)  # newest first
        if not named:
            raise ApiError(404, f"no key named '{args.key}'")
        active = [k for k in named if k.active]
        owners = [(active or named)[0].id]
    report = usage_report(
        store, owners, args.since, args.until, args.group_by, retention=settings.retention
    )
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(
        f"{'GROUP':<24} {'PENDING':>7} {'DONE':>6} {'FAILED':>6} {'EXPIRED':>7} "
        f"{'SECONDS':>10} {'TICKS':>16} {'USD':>14}"
    )
    for label, t in [
        *((g["group"], g) for g in report.get("data", [])),
        ("total", report["total"]),
    ]:
        j = t["jobs"]
        print(
            f"{label:<24} {j['pending']:>7} {j['done']:>6} {j['failed']:>6} {j['expired']:>7} "
            f"{t['seconds']:>10g} {t['cost_in_usd_ticks']:>16} {_usd(t['cost_in_usd_ticks']):>14}"
        )
