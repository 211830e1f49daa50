"""Per-model options of the `upstream` engine, parsed from the catalog at start-up.

Keys: `base_url` (the upstream's REST base, e.g. https://api.x.ai/v1), `api_key_env` (the name of
the environment variable holding its key: the secret never sits in the catalog),
`upstream_model` (default: the model's own id), `markup_percent` (added to the upstream's
reported cost), `max_request_mib` (stored inputs are sent inline as data URLs up to this request
size), `timeout_s` (how long one job may take upstream).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from reelforge.core.catalog import CatalogError, Model

KEYS = (
    "base_url",
    "api_key_env",
    "upstream_model",
    "markup_percent",
    "max_request_mib",
    "timeout_s",
)


@dataclass(frozen=True)
class UpstreamOptions:
    base_url: str
    api_key_env: str
    upstream_model: str
    markup_percent: Decimal = Decimal(0)
    max_request_bytes: int = 20 * 1024 * 1024  # xai-sdk's message limit; the hosted API's own
    timeout_s: float = 3600.0

    def api_key(self) -> str:
        """The key, read from the environment when needed (never stored with the options)."""
        key = os.environ.get(self.api_key_env, "").strip()
        if not key:
            raise CatalogError(f"environment variable {self.api_key_env} is empty or not set")
        return key


def _number(model: Model, key: str, raw: Any, low: float) -> Decimal:
    if isinstance(raw, bool) or not isinstance(raw, int | float) or raw < low:
        raise CatalogError(f"models.{model.id}.{key}: expected a number >= {low:g}, got {raw!r}")
    return Decimal(str(raw))


def parse(model: Model) -> UpstreamOptions:
    """The model's options, or CatalogError naming the model and key."""
    raw = model.options
    where = f"models.{model.id}"
    if unknown := sorted(set(raw) - set(KEYS)):
        raise CatalogError(f"{where}: unknown key(s) {unknown} for engine 'upstream'")
    base_url = raw.get("base_url")
    if not isinstance(base_url, str) or urlsplit(base_url).scheme not in ("http", "https"):
        raise CatalogError(f"{where}.base_url: expected an http(s) URL, got {base_url!r}")
    if not urlsplit(base_url).hostname:
        raise CatalogError(f"{where}.base_url: URL has no host")
    env = raw.get("api_key_env")
    if not isinstance(env, str) or not env:
        raise CatalogError(
            f"{where}.api_key_env: required, the name of the environment variable with the key"
        )
    upstream_model = raw.get("upstream_model", model.id)
    if not isinstance(upstream_model, str) or not upstream_model:
        raise CatalogError(f"{where}.upstream_model: expected a model id, got {upstream_model!r}")
    options = UpstreamOptions(
        base_url=base_url.rstrip("/"),
        api_key_env=env,
        upstream_model=upstream_model,
        markup_percent=_number(model, "markup_percent", raw.get("markup_percent", 0), 0),
        max_request_bytes=int(
            _number(model, "max_request_mib", raw.get("max_request_mib", 20), 1) * 1024 * 1024
        ),
        timeout_s=float(_number(model, "timeout_s", raw.get("timeout_s", 3600), 1)),
    )
    try:
        options.api_key()
    except CatalogError as exc:
        raise CatalogError(f"{where}.api_key_env: {exc}") from None
    return options
