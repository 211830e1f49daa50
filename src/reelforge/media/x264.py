"""Make x264 reproducible: the same frames must always encode to the same bytes.

Measured here (x264 in PyAV's FFmpeg 8.1 wheels, on an AVX-512 CPU): encoding identical frames
repeatedly gave different streams, whatever the thread count, while with AVX-512 kernels
disabled every run was byte-identical. x264 takes an explicit CPU-feature list (`asm=`); naming
a feature the CPU lacks would crash, so the list is built from the features this CPU reports,
minus AVX-512. The cost is small: AVX2 kernels do the heavy lifting at our preset.
"""

from __future__ import annotations

import functools
import platform
from pathlib import Path

# x264's feature names for the /proc/cpuinfo flags they need, in x264's order.
_X264_FEATURES = (
    ("MMX2", "mmxext"),
    ("SSE", "sse"),
    ("SSE2", "sse2"),
    ("SSE3", "pni"),
    ("SSSE3", "ssse3"),
    ("SSE4.1", "sse4_1"),
    ("SSE4.2", "sse4_2"),
    ("AVX", "avx"),
    ("XOP", "xop"),
    ("FMA4", "fma4"),
    ("FMA3", "fma"),
    ("BMI1", "bmi1"),
    ("BMI2", "bmi2"),
    ("LZCNT", "abm"),
    ("AVX2", "avx2"),
)


@functools.cache
def x264_determinism() -> dict[str, str]:
    """Encoder options that keep x264 off its AVX-512 kernels; empty where that is moot."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return {}
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        return {}
    flags_line = next((line for line in cpuinfo.splitlines() if line.startswith("flags")), "")
    flags = set(flags_line.partition(":")[2].split())
    if "avx512f" not in flags:
        return {}
    # mmxext is reported as "mmxext" on AMD and implied by SSE on Intel.
    if "sse" in flags:
        flags.add("mmxext")
    features = [name for name, flag in _X264_FEATURES if flag in flags]
    return {"x264-params": "asm=" + ",".join(features)}
