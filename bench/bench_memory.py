"""Peak RSS rendering 15 s at 720p against 2 s at 720p, each in a fresh process.

Goal: the 15 s figure < 400 MB and within 1.3x of the 2 s figure (memory must not grow with
duration). Run from the repo root: .venv/bin/python bench/bench_memory.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile

CHILD = """
import resource, sys
from reelforge.engines.base import RenderRequest
from reelforge.engines.preview import PreviewEngine
from reelforge.media.encode import encode_clip
seconds = int(sys.argv[1])
request = RenderRequest(mode="text-to-video", prompt="orbit around a gold tree at sunset",
                        width=1280, height=720, num_frames=seconds * 24, seed=1)
encode_clip(PreviewEngine().render(request), request, sys.argv[2])
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
"""


def peak_mb(seconds: int) -> int:
    with tempfile.NamedTemporaryFile(suffix=".mp4") as out:
        done = subprocess.run(
            [sys.executable, "-c", CHILD, str(seconds), out.name],
            capture_output=True,
            text=True,
            check=True,
        )
    return int(done.stdout.split()[-1])


def main() -> None:
    short, long = peak_mb(2), peak_mb(15)
    print(f"peak RSS, 2 s 720p:  {short} MB")
    print(f"peak RSS, 15 s 720p: {long} MB (goal < 400 MB)")
    print(f"ratio 15 s / 2 s: {long / short:.2f} (goal <= 1.3)")


if __name__ == "__main__":
    main()
