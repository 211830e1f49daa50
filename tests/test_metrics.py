"""GPU memory is reported only by a process that already uses CUDA through torch; these stand a
fake torch in for the real one (the suite has no GPU)."""

from __future__ import annotations

import sys
from types import SimpleNamespace

from prometheus_client import REGISTRY

from reelforge.core import metrics


def fake_torch(initialized: bool) -> SimpleNamespace:
    cuda = SimpleNamespace(
        is_available=lambda: True,
        is_initialized=lambda: initialized,
        device_count=lambda: 2,
        memory_allocated=lambda n: (n + 1) * 1024**3,
    )
    return SimpleNamespace(cuda=cuda)


def allocated(device: str) -> float | None:
    return REGISTRY.get_sample_value("reelforge_gpu_memory_allocated_bytes", {"device": device})


def test_gpu_memory_of_each_device_once_cuda_is_in_use(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", fake_torch(initialized=True))
    metrics.record_gpu_memory()
    assert (allocated("0"), allocated("1")) == (1024**3, 2 * 1024**3)


def test_no_gpu_memory_before_cuda_is_initialized(monkeypatch):
    metrics.gpu_memory.clear()
    monkeypatch.setitem(sys.modules, "torch", fake_torch(initialized=False))
    metrics.record_gpu_memory()
    monkeypatch.delitem(sys.modules, "torch")  # nor is torch imported for it
    metrics.record_gpu_memory()
    assert "torch" not in sys.modules and allocated("0") is None
