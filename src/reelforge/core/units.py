"""Byte sizes as limits are written and as messages show them; whole numbers as written."""

from __future__ import annotations

MiB = 1024 * 1024


def human_bytes(n: int) -> str:
    return f"{n / MiB:g} MiB" if n >= MiB else f"{n} bytes"


def whole_number(text: str, max_digits: int = 18) -> int | None:
    """`text` (spaces around allowed) as a non-negative int, or None when it is not one.

    Not `str.isdigit()`: that accepts characters `int()` refuses (superscripts such as "²"),
    and `int()` refuses strings over 4300 digits; either would become an unexpected error."""
    text = text.strip()
    if not text.isdecimal() or len(text) > max_digits:
        return None
    return int(text)
