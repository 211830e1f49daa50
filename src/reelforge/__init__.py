"""Reelforge: a self-hosted server for the xAI video generation API, and a client for it.

`reelforge.Client` and `reelforge.AsyncClient` are imported on first use, so importing the
server's modules never loads the client (nor the client the server).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reelforge.client import AsyncClient, Client

__all__ = ["AsyncClient", "Client"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        import reelforge.client

        return getattr(reelforge.client, name)
    raise AttributeError(f"module 'reelforge' has no attribute {name!r}")
