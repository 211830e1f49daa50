"""Engines turn a resolved request into frames and a soundtrack.

This module knows which engines exist: it checks each catalog model's engine keys at start-up (so
a typo stops `serve`/`worker`, not a job) and, where jobs render, what the machine must support;
and it builds the engines a worker needs. The diffusers engine pulls in torch, so it is imported
only when a catalog model uses it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from reelforge.core.catalog import Catalog, CatalogError

if TYPE_CHECKING:
    from reelforge.engines.base import Engine

ENGINES = ("preview", "diffusers")


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


def check_machine(catalog: Catalog) -> None:
    """CatalogError, naming the model and key, for an engine option this machine cannot run
    (e.g. an attention kernel that is not installed, FP8 without FP8 tensor cores). Only
    processes that render call it: an API-only machine needs no GPU."""
    for model in catalog.models.values():
        if model.engine == "diffusers":
            from reelforge.engines.diffusers import check_machine as check_diffusers

            check_diffusers(model)


def available_engines(catalog: Catalog | None = None) -> dict[str, Engine]:
    """The engines a worker can run. The diffusers engine is built only when the catalog has a
    model that uses it; it loads each model's pipeline on its first job."""
    from reelforge.engines.preview import PreviewEngine

    engines: dict[str, Engine] = {"preview": PreviewEngine()}
    if catalog is not None and any(m.engine == "diffusers" for m in catalog.models.values()):
        from reelforge.engines.diffusers.engine import DiffusersEngine

        engines["diffusers"] = DiffusersEngine()
    return engines
