"""Usage reports: jobs by status, seconds generated and cost, per day, model or mode.

Costs are summed as integers of ticks straight from the jobs' recorded costs, so a report's
total is exactly the sum of its jobs' `usage.cost_in_usd_ticks`.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable
from decimal import Decimal

from reelforge.core.enums import Status
from reelforge.core.errors import invalid
from reelforge.core.pricing import TICKS_PER_USD
from reelforge.jobs.store import JobStore, UsageRow

GROUPS = ("day", "model", "mode")
LATEST = 253402300800.0  # 10000-01-01: later instants are not times Python can show


def parse_instant(field: str, raw: str) -> float:
    """Unix seconds from `raw`: a number of seconds, an ISO date (midnight UTC) or ISO time."""
    text = raw.strip()
    try:
        when = float(text) if text.replace(".", "", 1).isdigit() else _iso(text)
    except (ValueError, OverflowError):
        when = -1.0
    if not 0 <= when < LATEST:  # (NaN fails too)
        raise invalid(
            field, f"must be unix seconds, a date (2026-01-31) or an ISO time; got {raw!r}"
        )
    return when


def _iso(text: str) -> float:
    when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.timestamp()


def month_start(now: float) -> float:
    day = dt.datetime.fromtimestamp(now, dt.UTC)
    return dt.datetime(day.year, day.month, 1, tzinfo=dt.UTC).timestamp()


def next_month_start(now: float) -> float:
    day = dt.datetime.fromtimestamp(now, dt.UTC)
    year, month = (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)
    return dt.datetime(year, month, 1, tzinfo=dt.UTC).timestamp()


def _group_of(row: UsageRow, group_by: str) -> str:
    if group_by == "day":
        return dt.datetime.fromtimestamp(row.created_at, dt.UTC).date().isoformat()
    return row.model if group_by == "model" else row.mode


def _empty() -> dict:
    return {
        "jobs": {s.value: 0 for s in Status},
        "seconds": 0.0,
        "cost_in_usd_ticks": 0,
    }


def _add(into: dict, row: UsageRow) -> None:
    into["jobs"][row.status] += 1
    if row.cost_ticks is not None:  # done (then maybe expired): what it cost and made
        into["cost_in_usd_ticks"] += row.cost_ticks
        into["seconds"] += row.output_seconds or 0.0


def _finish(totals: dict) -> dict:
    totals["seconds"] = round(totals["seconds"], 3)
    totals["cost_in_usd"] = float(Decimal(totals["cost_in_usd_ticks"]) / TICKS_PER_USD)
    return totals


def report(rows: Iterable[UsageRow], group_by: str | None, since: float, until: float) -> dict:
    """The usage body: totals, and with `group_by` one entry per group (sorted)."""
    total, groups = _empty(), {}
    for row in rows:
        _add(total, row)
        if group_by is not None:
            _add(groups.setdefault(_group_of(row, group_by), _empty()), row)
    body = {"object": "usage", "from": int(since), "to": int(until), "total": _finish(total)}
    if group_by is not None:
        body["group_by"] = group_by
        body["data"] = [{"group": k, **_finish(v)} for k, v in sorted(groups.items())]
    return body


def usage_report(
    store: JobStore,
    owners: list[str] | None,
    since: str | None,
    until: str | None,
    group_by: str | None,
    *,
    retention: float,
) -> dict:
    """Usage of `owners`' jobs (None: every job) created in [since, until); by default this
    month so far. Times as `parse_instant` reads them; jobs past `retention` count as expired."""
    now = time.time()
    start = parse_instant("from", since) if since is not None else month_start(now)
    end = parse_instant("to", until) if until is not None else now + 1
    if end < start:
        raise invalid("to", "must not be before from")
    if group_by is not None and group_by not in GROUPS:
        raise invalid("group_by", f"must be one of {', '.join(GROUPS)}; got {group_by!r}")
    return report(store.usage_rows(owners, start, end, now - retention), group_by, start, end)
