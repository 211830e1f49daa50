"""The diffusers engine: real video models (Wan 2.x, LTX-Video) from local diffusers folders.

Only `options` is imported by the catalog (it is pure Python); `engine` pulls in torch and
diffusers, so it is imported only when a catalog model uses `engine = "diffusers"`.

Start-up hooks for the assembly (serve/worker):
- `validate(model)`: CatalogError naming the key when a model's options are wrong or this
  machine cannot run them (attention kernel not installed, FP8 without FP8 tensor cores ...).
- `DiffusersEngine.warm_up(model)` (engine.py): load it and render once per resolution.
"""

from __future__ import annotations

from typing import Any


def validate(model: Any) -> None:
    """Check a catalog model (`engine = "diffusers"`) against its folder and this machine.
    torch is imported only when an option needs the machine's word (a process serving plain
    entries stays light)."""
    from reelforge.engines.diffusers.options import check_modes, parse

    options = parse(model.id, model.options)
    pins = {"max_keyframes": model.max_keyframes, "last_frame": model.last_frame}
    check_modes(model.id, options, model.modes, pins)
    if options.needs_machine_check:
        from reelforge.engines.diffusers import checks  # torch, diffusers

        checks.check(model.id, options)
