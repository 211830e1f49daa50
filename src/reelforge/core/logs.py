"""Log setup for every process: plain text, or one JSON object per line (`--log-format json`).

Events carry fields (`job_id`, `key`, `route`, `status`, `duration_ms`, ...) passed as
`extra={"fields": {...}}`, or with `event(...)`; the request being served adds its `request_id`
and key name through a context variable, so a job's lines from the API and from its worker share
`job_id`, and one grep tells its story. Secrets never go into fields.
"""

from __future__ import annotations

import json
import logging
import os
import time
from contextvars import ContextVar
from typing import Any

FORMAT_ENV = "REELFORGE_LOG_FORMAT"  # how worker processes learn the server's format
TEXT_FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"

# The request being served: {"request_id": ..., "key": ...}; set by the API's middleware.
request_fields: ContextVar[dict[str, Any] | None] = ContextVar("request_fields", default=None)


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    return {**(request_fields.get() or {}), **getattr(record, "fields", {})}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
            "pid": record.process,
            **_fields(record),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


class TextFormatter(logging.Formatter):
    """The classic line, with the event's fields appended as key=value; a value with spaces or
    control characters (a client's path, say) is quoted, so it cannot forge a line of its own."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        return line + "".join(f" {k}={_shown(v)}" for k, v in _fields(record).items())


def _shown(value: Any) -> str:
    text = str(value)
    if text and text.isprintable() and " " not in text and '"' not in text:
        return text
    return json.dumps(text)


def setup(level: str = "info", fmt: str | None = None) -> None:
    """Configure the root logger; `fmt` (text | json) defaults to the one the server chose."""
    fmt = fmt or os.environ.get(FORMAT_ENV, "text")
    os.environ[FORMAT_ENV] = fmt  # spawned worker processes inherit it
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())


def event(logger: logging.Logger, message: str, level: int = logging.INFO, **fields: Any) -> None:
    logger.log(level, message, extra={"fields": fields})


def tag(**fields: Any) -> None:
    """Add fields to the request being served (e.g. the job it created), for its later lines."""
    if (current := request_fields.get()) is not None:
        current.update(fields)
