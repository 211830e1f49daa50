"""Engines turn a resolved request into frames and a soundtrack.

This module knows which engines exist: it checks each catalog model's engine keys at start-up (so
a typo stops `serve`/`worker`, not a job) and, where jobs render, what the machine must support;
and it builds the engines a worker needs. The diffusers engine pulls in torch, so it is imported
only when a catalog model uses it; the upstream engine forwards jobs to a hosted API (its key is
read from the environment, checked here too).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from reelforge.core.catalog import Catalog, CatalogError

if TYPE_CHECKING:
    from reelforge.engines.base import Engine, FinishingEngine

ENGINES = ("preview", "diffusers", "upstream")


def check_catalog(catalog: Catalog) -> None:
    """CatalogError, naming the model and key, for an unknown engine or a bad engine option."""
    for model in catalog.models.values():
        if model.engine not in ENGINES:
            raise CatalogError(
                f"models.{model.id}.engine: unknown engine '{model.engine}'; known: {list(ENGINES)}"
            )
        if model.engine == "diffusers":
            from reelforge.engines.diffusers.options import validate  # pure Python: no torch

            validate(model)
        if model.engine == "upstream":
            from reelforge.engines.upstream.options import parse

            parse(model)


def check_machine(catalog: Catalog, devices: Sequence[str] = ()) -> None:
    """CatalogError, naming the model and key, for an engine option this machine cannot run
    (e.g. an attention kernel that is not installed, FP8 without FP8 tensor cores, a GPU of
    `devices` (`--devices`) that is not there). Only processes that render call it: an
    API-only machine needs no GPU."""
    for model in catalog.models.values():
        if model.engine == "diffusers":
            from reelforge.engines.diffusers import check_machine as check_diffusers

            check_diffusers(model, devices)


def check_upstreams(catalog: Catalog) -> None:
    """CatalogError unless every upstream model's server answers with its key (a network call)."""
    from reelforge.engines.upstream import check_reachable

    for model in catalog.models.values():
        if model.engine == "upstream":
            check_reachable(model)


def available_engines(
    catalog: Catalog | None = None, *, max_attempts: int = 3
) -> dict[str, Engine | FinishingEngine]:
    """The engines a worker can run. The diffusers engine is built only when the catalog has a
    model that uses it (it loads each model's pipeline on its first job), and so is the upstream
    engine; `max_attempts` is how many times in a row it tries a request that fails (5xx,
    network errors)."""
    from reelforge.engines.preview import PreviewEngine

    engines: dict[str, Engine | FinishingEngine] = {"preview": PreviewEngine()}
    used = {m.engine for m in catalog.models.values()} if catalog is not None else set()
    if "diffusers" in used:
        from reelforge.engines.diffusers.engine import DiffusersEngine

        engines["diffusers"] = DiffusersEngine()
    if "upstream" in used:
        from reelforge.engines.upstream.engine import UpstreamEngine

        engines["upstream"] = UpstreamEngine(max_attempts)
    return engines
