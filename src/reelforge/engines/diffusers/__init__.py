"""The diffusers engine: real video models (Wan 2.x, LTX-Video) from local diffusers folders.

Only `options` is imported by the catalog checks (it is pure Python); `engine` pulls in torch
and diffusers, so it is imported only when a catalog model uses `engine = "diffusers"`.

Start-up hooks for the assembly:
- `options.validate(model)`: the entry's keys (every process; pure Python).
- `check_machine(model, devices)`: what only a rendering machine can tell (attention kernel
  installed, FP8 tensor cores, the device and `--devices` GPUs, the compile backend);
  CatalogError naming the key.
- `DiffusersEngine.warm_up(model)` (engine.py): load it and render once per resolution.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def check_machine(model: Any, devices: Sequence[str] = ()) -> None:
    """CatalogError naming the key when this machine cannot run `model`'s options, or has no
    GPU of `devices` (`--devices`) for it. torch is imported only when an option or `devices`
    needs the machine's word (plain entries stay light)."""
    from reelforge.engines.diffusers.options import parse

    options = parse(model.id, model.options)
    if options.needs_machine_check or (devices and options.device != "cpu"):
        from reelforge.engines.diffusers import checks  # torch, diffusers

        checks.check(model.id, options, devices)
