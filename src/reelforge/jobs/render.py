"""Turn a job's spec into a finished MP4: fetch inputs, size the output, run the engine, encode.

Everything a worker does to one job, minus the claim bookkeeping (worker.py) and storage.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from reelforge.core.catalog import Catalog, Model
from reelforge.core.enums import Mode
from reelforge.core.errors import INTERNAL_ERROR, INVALID_ARGUMENT, InputError, JobError
from reelforge.core.sizes import frame_size, nearest_aspect_ratio
from reelforge.core.spec import InputRef, JobSpec, check_input_video
from reelforge.engines.base import (
    AUDIO_RATE,
    FPS,
    Checkpoint,
    Clip,
    Engine,
    FinishingEngine,
    JobRequest,
    RenderRequest,
    Timings,
)
from reelforge.jobs.cost import edit_frames, job_cost, output_size
from reelforge.media.decode import audio_samples, last_frame, video_frames
from reelforge.media.encode import NotCopyable, encode_clip
from reelforge.media.fit import image_from_bytes
from reelforge.media.probe import probe_video, sniff_image
from reelforge.moderation.moderator import Moderator, Verdict
from reelforge.moderation.policy import Policy
from reelforge.net.fetch import fetch_bytes
from reelforge.net.policy import FetchPolicy
from reelforge.storage.base import Storage

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Rendered:
    path: Path | None  # None when moderation withheld the video: no file was kept
    duration_s: float
    width: int
    height: int
    cost_in_usd_ticks: int
    withheld: Verdict | None = None
    timings: dict[str, float] = dataclasses.field(default_factory=dict)  # seconds per stage
    details: dict[str, Any] = field(default_factory=dict)  # a finishing engine's, for the job


# A finished video may differ from what was asked or reported by this much (whole seconds on
# the wire, and containers that end a frame early or late).
DURATION_TOLERANCE_S = 1.0


class InputLoader:
    """Fetches a spec's inputs: stored blobs from storage, URLs over the network (safely)."""

    def __init__(self, storage: Storage, policy: FetchPolicy):
        self.storage = storage
        self.policy = policy

    def stored(self, ref: InputRef) -> bytes:
        """A stored input's bytes (an upload or a data URL the API kept for the job)."""
        assert ref.blob, ref
        return self.storage.read_bytes(ref.blob)

    def data(self, ref: InputRef, kind: str) -> bytes:
        if ref.blob:
            return self.storage.read_bytes(ref.blob)
        return fetch_bytes(ref.url or "", ref.field, self.policy, kind)

    def image(self, ref: InputRef) -> np.ndarray:
        data = self.data(ref, "image")
        sniff_image(data, ref.field)
        return image_from_bytes(data)


class Renderer:
    def __init__(
        self,
        catalog: Catalog,
        engines: dict[str, Engine],
        loader: InputLoader,
        tmp_dir: Path,
        moderator: Moderator | None = None,
        *,
        fast: bool = False,
    ):
        self.catalog = catalog
        self.engines = engines
        self.loader = loader
        self.tmp_dir = tmp_dir
        self.moderator = moderator or Moderator(Policy())  # Policy(): moderation off
        self.fast = fast  # the encoder's fastest settings (`--fast`)

    def render(
        self,
        spec: JobSpec,
        out_name: str,
        progress: Progress,
        checkpoint: Checkpoint | None = None,
        job_id: str = "",
    ) -> Rendered:
        """The job's video at tmp_dir/out_name. `checkpoint` keeps an engine's state across
        attempts (finishing engines use it); `job_id` is the job's, the same on every attempt."""
        model = self.catalog.get(spec.model)
        if model is None:
            raise JobError(INVALID_ARGUMENT, f"model '{spec.model}' is no longer in the catalog")
        engine = self.engines.get(model.engine)
        if engine is None:
            raise JobError(
                INVALID_ARGUMENT, f"engine '{model.engine}' of model '{model.id}' is not available"
            )
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        out = self.tmp_dir / out_name
        try:
            if hasattr(engine, "finish"):  # it makes the finished file itself, elsewhere
                state = checkpoint or Checkpoint({}, lambda _state: None)
                request = JobRequest(
                    spec, model, out, self.loader.stored, progress, state, job_id or out.stem
                )
                return self._finished(spec, engine, request)
            phases, timings = _Phases(progress), Timings()
            if spec.mode in (Mode.EDIT, Mode.EXTENSION):
                rendered = self._from_video(spec, model, engine, out, phases, timings)
            else:
                rendered = self._generate(spec, model, engine, out, phases, timings)
            return dataclasses.replace(rendered, timings=timings.as_dict())
        except InputError as exc:
            out.unlink(missing_ok=True)
            raise JobError(INVALID_ARGUMENT, str(exc)) from None
        except BaseException:
            out.unlink(missing_ok=True)
            raise

    def _generate(
        self,
        spec: JobSpec,
        model: Model,
        engine: Engine,
        out: Path,
        progress: _Phases,
        timings: Timings,
    ) -> Rendered:
        def load(ref: InputRef) -> np.ndarray:
            with timings.stage("inputs"):
                return self.loader.image(ref)

        image = load(spec.image) if spec.image else None
        aspect = spec.aspect_ratio
        if aspect is None:  # image-to-video without aspect_ratio: follow the image
            aspect = nearest_aspect_ratio(image.shape[1], image.shape[0], list(model.aspect_ratios))
        width, height = frame_size(aspect, spec.resolution)
        num_frames = int(spec.duration_s * FPS)
        request = RenderRequest(
            mode=spec.mode,
            prompt=spec.prompt,
            negative_prompt=spec.negative_prompt,
            width=width,
            height=height,
            num_frames=num_frames,
            seed=spec.seed,
            generate_audio=spec.generate_audio,
            image=image,
            last_frame=load(spec.last_frame) if spec.last_frame else None,
            keyframes=tuple(
                (keyframe_index(k.timestamp_s, num_frames), load(k.image)) for k in spec.keyframes
            ),
            reference_images=tuple(load(r) for r in spec.reference_images),
            voices=tuple(spec.voices),
            model=model,
            progress=progress.engine,
            timings=timings,
        )
        cost = job_cost(model, spec)
        with timings.stage("moderation"):
            verdict = self.moderator.check_inputs(request)
        if verdict:  # before a render is spent on it
            return self._withheld(verdict, spec.duration_s, width, height, cost)
        clip = self.moderator.watch(engine.render(request), num_frames)
        with timings.stage("mp4_encode"):
            encode_clip(clip, request, str(out), progress, fast=self.fast)
        with timings.stage("moderation"):
            verdict = self.moderator.verdict(clip)
        if verdict:
            out.unlink(missing_ok=True)
            return self._withheld(verdict, spec.duration_s, width, height, cost)
        return Rendered(out, spec.duration_s, width, height, cost)

    def _finished(self, spec: JobSpec, engine: FinishingEngine, request: JobRequest) -> Rendered:
        """A finishing engine's video, held to the same rules as a rendered one: the inputs are
        moderated before anything is spent, the file must decode and last what was reported
        (and asked), and its frames are moderated before it is stored."""
        mod = self.moderator
        if verdict := mod.check_inputs(self._pictures(spec)) or self._input_video_verdict(
            spec, request.out
        ):
            return self._withheld(verdict, spec.duration_s or 0.0, 0, 0, 0)
        finished = engine.finish(request)
        if finished.withheld is not None:
            verdict = Verdict(engine.name, finished.withheld)
            return dataclasses.replace(
                self._withheld(verdict, finished.duration_s, 0, 0, finished.cost_in_usd_ticks),
                details=finished.details,
            )
        field = f"{engine.name} video"
        try:
            info = probe_video(str(request.out), field)
        except InputError as exc:
            raise JobError(INTERNAL_ERROR, str(exc)) from None
        asked = spec.duration_s if spec.mode not in (Mode.EDIT, Mode.EXTENSION) else None
        for expected, what in ((finished.duration_s, "reported"), (asked, "asked for")):
            if expected and abs(info.duration_s - expected) > DURATION_TOLERANCE_S:
                raise JobError(
                    INTERNAL_ERROR,
                    f"{field}: lasts {info.duration_s:.2f} s, but {expected:g} s was {what}",
                )
        cost = finished.cost_in_usd_ticks
        size = (info.width, info.height)
        if verdict := mod.check_video("output", str(request.out), *size, info.duration_s, field):
            request.out.unlink(missing_ok=True)
            withheld = self._withheld(verdict, info.duration_s, *size, cost)
            return dataclasses.replace(withheld, details=finished.details)
        return Rendered(request.out, info.duration_s, *size, cost, details=finished.details)

    def _pictures(self, spec: JobSpec) -> RenderRequest:
        """The prompt and, where the policy checks them, the input pictures, for moderation."""
        runs, load = self.moderator.policy.runs, self.loader.image
        pins, refs = runs("input_images"), runs("reference_images")
        return RenderRequest(
            mode=spec.mode,
            prompt=spec.prompt,
            width=0,
            height=0,
            num_frames=0,
            seed=spec.seed,
            image=load(spec.image) if pins and spec.image else None,
            last_frame=load(spec.last_frame) if pins and spec.last_frame else None,
            keyframes=tuple((0, load(k.image)) for k in spec.keyframes) if pins else (),
            reference_images=tuple(load(r) for r in spec.reference_images) if refs else (),
        )

    def _input_video_verdict(self, spec: JobSpec, out: Path) -> Verdict | None:
        if spec.video is None or not self.moderator.policy.runs("input_video"):
            return None
        source = out.with_name(out.name + ".input")
        source.write_bytes(self.loader.data(spec.video, "video"))
        try:
            info = probe_video(str(source), spec.video.field)
            return self.moderator.check_video(
                "input_video",
                str(source),
                info.width,
                info.height,
                info.duration_s,
                spec.video.field,
            )
        finally:
            source.unlink(missing_ok=True)

    def _withheld(
        self, verdict: Verdict, duration_s: float, width: int, height: int, cost: int
    ) -> Rendered:
        charged = cost if self.moderator.policy.charge_blocked else 0
        return Rendered(None, duration_s, width, height, charged, withheld=verdict)

    def _from_video(
        self,
        spec: JobSpec,
        model: Model,
        engine: Engine,
        out: Path,
        progress: _Phases,
        timings: Timings,
    ) -> Rendered:
        source = self.tmp_dir / (out.name + ".input")
        with timings.stage("inputs"):
            source.write_bytes(self.loader.data(spec.video, "video"))
        try:
            with timings.stage("inputs"):
                info = probe_video(str(source), spec.video.field)
            if problem := check_input_video(model, spec.mode, info.duration_s):
                raise JobError(INVALID_ARGUMENT, f"{spec.video.field}: {problem}")
            width, height = output_size(model, spec, info)
            request = RenderRequest(
                mode=spec.mode,
                prompt=spec.prompt,
                negative_prompt=spec.negative_prompt,
                width=width,
                height=height,
                num_frames=edit_frames(info),
                seed=spec.seed,
                generate_audio=spec.generate_audio,
                source_frames=lambda: video_frames(
                    str(source), width, height, FPS, request.num_frames, field=spec.video.field
                ),
                model=model,
                progress=progress.engine,
                timings=timings,
            )
            edit = spec.mode == Mode.EDIT
            cost = job_cost(model, spec, info)
            field, mod = spec.video.field, self.moderator
            with timings.stage("moderation"):
                verdict = mod.check_inputs(request) or mod.check_video(
                    "input_video", str(source), info.width, info.height, info.duration_s, field
                )
            if verdict:
                planned = request.num_frames + (0 if edit else int(spec.duration_s * FPS))
                return self._withheld(verdict, planned / FPS, width, height, cost)
            if edit:
                clip = mod.watch(engine.render(request), request.num_frames)
                with timings.stage("mp4_encode"):
                    total = encode_clip(clip, request, str(out), progress, fast=self.fast)
            else:
                copyable = info.rotation == 0  # a copied stream would keep its sideways pixels
                total, clip = self._extend(spec, engine, request, source, copyable, out, progress)
            with timings.stage("moderation"):
                verdict = mod.verdict(clip)
                if not verdict and not edit and not mod.policy.runs("input_video"):
                    # The original's frames never passed through `watch`: sample them as output.
                    verdict = mod.check_video(
                        "output", str(source), info.width, info.height, info.duration_s, field
                    )
            if verdict:
                out.unlink(missing_ok=True)
                return self._withheld(verdict, total / FPS, width, height, cost)
        finally:
            source.unlink(missing_ok=True)
        return Rendered(out, total / FPS, width, height, cost)

    def _extend(
        self,
        spec: JobSpec,
        engine: Engine,
        original: RenderRequest,
        source: Path,
        copyable: bool,
        out: Path,
        progress: Progress,
    ) -> tuple[int, Clip]:
        """Original + continuation; the original's stream is copied when it can be. Returns the
        frames written and the continuation as encoded (for the output moderation verdict)."""
        field = spec.video.field
        added = int(spec.duration_s * FPS)
        timings = original.timings or Timings()
        with timings.stage("inputs"):
            image = last_frame(str(source), original.width, original.height, field=field)
        request = dataclasses.replace(original, num_frames=added, image=image)
        continuation = self.moderator.watch(engine.render(request), added)

        def soundtrack(kept: int) -> np.ndarray | None:
            """The input's own audio under its frames, then the continuation's, cross-faded."""
            own = audio_samples(str(source), field=field)
            return join_audio(own, kept, continuation.audio(), added)

        with timings.stage("mp4_encode"):
            if copyable:
                try:
                    after_copy = _Extended(continuation, soundtrack, original.num_frames)
                    total = encode_clip(
                        after_copy, request, str(out), progress, head=source, fast=self.fast
                    )
                    return total, continuation
                except NotCopyable:
                    pass  # a foreign stream: decode it and encode it again with the continuation
            both = _Concatenated(
                original.source_frames, continuation, soundtrack, original.num_frames
            )
            whole = dataclasses.replace(request, num_frames=original.num_frames + added)
            return encode_clip(both, whole, str(out), progress, fast=self.fast), continuation


class _Phases:
    """A job's progress in two phases: the engine's own steps, when it reports any (90%), then
    encoding (the rest; all of it for engines that render as they are encoded)."""

    ENGINE_SHARE = 0.9

    def __init__(self, progress: Progress):
        self._progress = progress
        self._engine_done = 0.0

    def engine(self, done: int, total: int) -> None:
        self._engine_done = self.ENGINE_SHARE * min(1.0, done / max(1, total))
        self._progress(round(1000 * self._engine_done), 1000)

    def __call__(self, done: int, total: int) -> None:
        share = 1.0 - self._engine_done
        self._progress(round(1000 * (self._engine_done + share * done / max(1, total))), 1000)


def keyframe_index(timestamp_s: float, num_frames: int) -> int:
    """The frame a keyframe pins: round(t x fps), kept strictly inside the clip."""
    return min(max(1, round(timestamp_s * FPS)), num_frames - 2)


AUDIO_CROSSFADE_S = 0.25


def join_audio(
    own: np.ndarray | None, kept: int, continuation: np.ndarray | None, added: int
) -> np.ndarray:
    """The input's audio trimmed or padded to its frames, then the continuation's, cross-faded."""
    head_n = round(kept * AUDIO_RATE / FPS)
    tail_n = round(added * AUDIO_RATE / FPS)
    head = np.zeros((head_n, 2), np.float32)
    if own is not None:
        head[: min(head_n, len(own))] = own[:head_n]
    tail = np.zeros((tail_n, 2), np.float32)
    if continuation is not None:
        tail[: min(tail_n, len(continuation))] = continuation[:tail_n]
    fade = min(round(AUDIO_CROSSFADE_S * AUDIO_RATE), head_n, tail_n)
    if fade:
        ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)[:, None]
        tail[:fade] = tail[:fade] * ramp + head[head_n - fade :] * (1 - ramp)
    return np.concatenate([head, tail])


class _Extended:
    """The continuation's frames, with a soundtrack spanning the copied original too."""

    def __init__(self, continuation: Clip, soundtrack: Callable, kept: int):
        self._continuation = continuation
        self._soundtrack = soundtrack
        self.kept = kept

    def frames(self) -> Iterator[np.ndarray]:
        return self._continuation.frames()

    def audio(self) -> np.ndarray | None:
        return self._soundtrack(self.kept)


class _Concatenated(_Extended):
    """The original's decoded frames followed by the continuation's (when copying can't work)."""

    def __init__(self, original: Callable, continuation: Clip, soundtrack: Callable, kept: int):
        super().__init__(continuation, soundtrack, kept)
        self._original = original

    def frames(self) -> Iterator[np.ndarray]:
        return itertools.chain(self._original(), self._continuation.frames())
