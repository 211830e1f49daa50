"""What a worker does with a job's scenario (core/scenario.py): fail it, moderate it, pace it,
or hold it until it is cancelled. The scenario travels in the job's spec, so any worker on any
host renders it the same way. `reject`, `flaky-poll` and `expire` are the service's (they
concern requests and reads, not renders).
"""

from __future__ import annotations

import copy
import time
from typing import Any

from reelforge.core.errors import JobError
from reelforge.core.scenario import FAIL, MODERATE, SLOW, STALL, Scenario
from reelforge.core.spec import JobSpec
from reelforge.jobs.render import Progress, Rendered, Renderer
from reelforge.moderation.moderator import Moderator, Verdict

PACE_S = 0.05  # how often a paced job reports progress (the worker writes it 5/s)
PACED_SHARE = 900  # of 1000: a `slow` job's pacing; the real render takes the rest


class Stall(Exception):  # noqa: N818 (an instruction to the worker, not an error)
    """Park this job: pending, held by no worker, until it is cancelled."""


def render(
    renderer: Renderer, spec: JobSpec, out_name: str, progress: Progress, **job: Any
) -> Rendered:
    """`renderer.render`, as the job's scenario (if any) has it go; `job` (checkpoint, job_id)
    is passed on."""
    chosen = Scenario.from_dict(spec.scenario)
    if chosen is None:
        return renderer.render(spec, out_name, progress, **job)
    if chosen.name == FAIL:
        raise JobError(chosen["code"], chosen["message"])
    if chosen.name == STALL:  # parked rather than rendered, so it ties up no worker
        raise Stall()
    if chosen.name == SLOW:
        _pace(chosen["seconds"], progress)
        rest = 1000 - PACED_SHARE
        return renderer.render(
            spec,
            out_name,
            lambda done, total: progress(PACED_SHARE + rest * done // total, 1000),
            **job,
        )
    if chosen.name == MODERATE:
        blocking = copy.copy(renderer)
        blocking.moderator = _Blocking(renderer.moderator, chosen["at"])
        return blocking.render(spec, out_name, progress, **job)
    return renderer.render(spec, out_name, progress, **job)


def _pace(seconds: float, progress: Progress) -> None:
    start = time.monotonic()
    while (elapsed := time.monotonic() - start) < seconds:
        progress(int(PACED_SHARE * elapsed / seconds), 1000)
        time.sleep(min(PACE_S, seconds - elapsed))


class _Blocking:
    """The real moderator, except that it blocks the job at its input or its output stage;
    the renderer then withholds the video exactly as for a real verdict."""

    def __init__(self, real: Moderator, at: str):
        self._real = real
        self._at = at

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def _verdict(self) -> Verdict:
        return Verdict(self._at, "scenario 'moderate'")

    def check_inputs(self, request: Any) -> Verdict | None:
        return self._verdict() if self._at == "input" else self._real.check_inputs(request)

    def verdict(self, clip: Any) -> Verdict | None:
        return self._verdict() if self._at == "output" else self._real.verdict(clip)
