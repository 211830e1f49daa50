"""The built-in procedural engine: no GPU, no weights, deterministic."""

from .engine import PreviewClip, PreviewEngine

__all__ = ["PreviewClip", "PreviewEngine"]
