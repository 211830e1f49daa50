"""The `upstream` engine: jobs forwarded to a server speaking xAI's video API (REST)."""

from __future__ import annotations

import httpx

from reelforge.core.catalog import CatalogError, Model
from reelforge.engines.upstream.client import http_client
from reelforge.engines.upstream.options import parse


def check_reachable(model: Model, timeout: float = 10.0) -> None:
    """CatalogError unless the model's upstream answers for its model with its key (start-up,
    under `--check-upstream`: an offline start must stay possible)."""
    options = parse(model)
    url = f"{options.base_url}/video-generation-models/{options.upstream_model}"
    where = f"models.{model.id}"
    try:
        with http_client(timeout) as http:
            response = http.get(url, headers={"Authorization": f"Bearer {options.api_key()}"})
    except httpx.HTTPError as exc:
        raise CatalogError(
            f"{where}.base_url: cannot reach {options.base_url} ({type(exc).__name__})"
        ) from None
    if response.status_code in (401, 403):
        raise CatalogError(
            f"{where}.api_key_env: the upstream refused the key in {options.api_key_env} "
            f"(HTTP {response.status_code})"
        )
    if response.status_code == 404:
        raise CatalogError(
            f"{where}.upstream_model: the upstream has no model '{options.upstream_model}'"
        )
    if response.status_code != 200:
        raise CatalogError(
            f"{where}.base_url: {options.base_url} answered HTTP {response.status_code}"
        )
