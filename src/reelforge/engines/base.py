"""What every engine receives and returns.

An engine turns a resolved request (inputs already fetched and decoded) into frames and, when
asked, an audio track. Engines never touch SQL or storage: the worker feeds their output to the
media encoder.

A *finishing* engine (the `upstream` engine, which forwards jobs to a hosted API) instead takes
the whole job and hands back a finished MP4 file with what making it cost; the renderer still
probes, moderates and stores that file like any other.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from reelforge.core.enums import Mode
from reelforge.media.clip import AUDIO_RATE, FPS, Clip

if TYPE_CHECKING:
    from reelforge.core.catalog import Model
    from reelforge.core.spec import InputRef, JobSpec

__all__ = [
    "AUDIO_RATE",
    "FPS",
    "Checkpoint",
    "Clip",
    "Engine",
    "Finished",
    "FinishingEngine",
    "JobRequest",
    "RenderRequest",
]


class Timings:
    """Seconds spent per stage of one job (inputs, text_encode, denoise, vae_decode, moderation,
    encode...): filled by the renderer and the engine, stored with the job's result."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def add(self, stage: str, seconds: float) -> None:
        self.seconds[stage] = self.seconds.get(stage, 0.0) + seconds

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - start)

    def as_dict(self) -> dict[str, float]:
        return {k: round(v, 4) for k, v in self.seconds.items()}


@dataclass(frozen=True)
class RenderRequest:
    """One clip to render. Frames are RGB uint8 arrays of shape (height, width, 3)."""

    mode: Mode
    prompt: str
    width: int
    height: int
    num_frames: int
    seed: int
    generate_audio: bool = True
    fps: int = FPS
    # Pinned frames, as decoded images not yet fitted to the frame size. The engine must output
    # fit_image(pin) at the pinned index: `image` at frame 0, `last_frame` at the final frame,
    # each keyframe at its index (0 < index < num_frames - 1, ascending), moving smoothly between.
    image: np.ndarray | None = None
    last_frame: np.ndarray | None = None
    keyframes: tuple[tuple[int, np.ndarray], ...] = ()
    # Reference-to-video: each must visibly appear; the prompt names them <IMAGE_n> (0- or 1-based).
    reference_images: tuple[np.ndarray, ...] = field(default_factory=tuple)
    voices: tuple[str, ...] = ()  # reference_audios voice ids, lower case; they shape the track
    negative_prompt: str = ""  # what the clip should not show ("" : nothing said)
    # edit and extension: the input video's frames at this request's size and fps (a fresh
    # iterator per call). An edit returns one changed frame per source frame; an extension
    # renders only the new segment, starting from `image` (the source's last frame); engines
    # that condition on the input's end read it from `source_frames`.
    source_frames: Callable[[], Iterator[np.ndarray]] | None = None
    # The catalog entry being rendered (engines that load weights read their options from it),
    # and a callback for engines with their own unit of work (the diffusers engine: denoising
    # steps), called as progress(done, total). It raises to stop the render (the job was
    # cancelled or is no longer ours): let it propagate.
    model: Model | None = None
    progress: Callable[[int, int], None] | None = None
    # Where an engine records the stages it can tell apart (the diffusers engine: load,
    # text_encode, denoise, vae_decode); None when nobody is measuring.
    timings: Timings | None = None

    @property
    def duration_s(self) -> float:
        return self.num_frames / self.fps


class Engine(Protocol):
    name: str

    def render(self, request: RenderRequest) -> Clip: ...


@dataclass(frozen=True)
class Checkpoint:
    """A job's engine state that survives its worker: `state` is what an earlier attempt saved
    ({} on the first), `save(state)` persists new state before the engine acts on it. `save`
    raises when the job is no longer this worker's (cancelled, taken over): let it propagate."""

    state: dict[str, Any]
    save: Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class JobRequest:
    """A whole job, for an engine that makes the finished video itself."""

    spec: JobSpec
    model: Model
    out: Path  # where the finished MP4 goes
    read_input: Callable[[InputRef], bytes]  # a stored input's bytes (uploads, data URLs)
    progress: Callable[[int, int], None]  # as RenderRequest.progress
    checkpoint: Checkpoint
    job_id: str  # the same on every attempt: a key the far side can deduplicate on


@dataclass(frozen=True)
class Finished:
    """What a finishing engine made: the MP4 at `JobRequest.out` (absent when `withheld`)."""

    duration_s: float  # as the maker reported it; the renderer checks it against the file
    cost_in_usd_ticks: int
    withheld: str | None = None  # the maker's moderation kept the video back: why
    details: dict[str, Any] = field(default_factory=dict)  # kept with the job, for operators


class FinishingEngine(Protocol):
    name: str

    def finish(self, request: JobRequest) -> Finished: ...
