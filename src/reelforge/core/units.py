"""Byte sizes as limits are written and as messages show them."""

from __future__ import annotations

MiB = 1024 * 1024


def human_bytes(n: int) -> str:
    return f"{n / MiB:g} MiB" if n >= MiB else f"{n} bytes"
