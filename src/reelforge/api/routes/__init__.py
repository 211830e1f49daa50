"""The REST routes, one module per resource; each builds an APIRouter over what it serves."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Request

Owner = Callable[[Request], str]  # the caller's owner id from its API key, or a 401
