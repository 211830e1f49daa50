"""Turn a job's spec into a finished MP4: fetch inputs, size the output, run the engine, encode.

Everything a worker does to one job, minus the claim bookkeeping (worker.py) and storage.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from reelforge.core.catalog import Catalog, Model
from reelforge.core.errors import INVALID_ARGUMENT, JobError
from reelforge.core.pricing import cost_ticks
from reelforge.core.sizes import capped_size, frame_size, nearest_aspect_ratio, resolution_of
from reelforge.core.spec import InputRef, JobSpec, check_input_video
from reelforge.engines.base import AUDIO_RATE, FPS, Clip, Engine, RenderRequest
from reelforge.media.decode import audio_samples, last_frame, video_frames
from reelforge.media.encode import NotCopyable, encode_clip
from reelforge.media.fetch import FetchPolicy, InputError, fetch_bytes, probe_video, sniff_image
from reelforge.media.fit import image_from_bytes
from reelforge.storage.local import LocalStorage

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Rendered:
    path: Path
    duration_s: float
    width: int
    height: int
    cost_in_usd_ticks: int


class InputLoader:
    """Fetches a spec's inputs: stored blobs from storage, URLs over the network (safely)."""

    def __init__(self, storage: LocalStorage, policy: FetchPolicy):
        self.storage = storage
        self.policy = policy

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
        self, catalog: Catalog, engines: dict[str, Engine], loader: InputLoader, tmp_dir: Path
    ):
        self.catalog = catalog
        self.engines = engines
        self.loader = loader
        self.tmp_dir = tmp_dir

    def render(self, spec: JobSpec, out_name: str, progress: Progress) -> Rendered:
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
            if spec.mode in ("edit", "extension"):
                return self._from_video(spec, model, engine, out, progress)
            return self._generate(spec, model, engine, out, progress)
        except InputError as exc:
            out.unlink(missing_ok=True)
            raise JobError(INVALID_ARGUMENT, str(exc)) from None
        except BaseException:
            out.unlink(missing_ok=True)
            raise

    def _generate(
        self, spec: JobSpec, model: Model, engine: Engine, out: Path, progress: Progress
    ) -> Rendered:
        load = self.loader.image
        image = load(spec.image) if spec.image else None
        aspect = spec.aspect_ratio
        if aspect is None:  # image-to-video without aspect_ratio: follow the image
            aspect = nearest_aspect_ratio(image.shape[1], image.shape[0], list(model.aspect_ratios))
        width, height = frame_size(aspect, spec.resolution)
        num_frames = int(spec.duration_s * FPS)
        request = RenderRequest(
            mode=spec.mode,
            prompt=spec.prompt,
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
        )
        encode_clip(engine.render(request), request, str(out), progress)
        cost = cost_ticks(model, spec.resolution, spec.duration_s, spec.input_image_count())
        return Rendered(out, spec.duration_s, width, height, cost)

    def _from_video(
        self, spec: JobSpec, model: Model, engine: Engine, out: Path, progress: Progress
    ) -> Rendered:
        source = self.tmp_dir / (out.name + ".input")
        source.write_bytes(self.loader.data(spec.video, "video"))
        try:
            info = probe_video(str(source), spec.video.field)
            if problem := check_input_video(model, spec.mode, info.duration_s):
                raise JobError(INVALID_ARGUMENT, f"{spec.video.field}: {problem}")
            width, height = capped_size(
                info.width, info.height, model.resolutions_for(spec.mode)[-1]
            )
            request = RenderRequest(
                mode=spec.mode,
                prompt=spec.prompt,
                width=width,
                height=height,
                num_frames=max(1, round(info.duration_s * FPS)),
                seed=spec.seed,
                generate_audio=spec.generate_audio,
                source_frames=lambda: video_frames(
                    str(source), width, height, FPS, request.num_frames, field=spec.video.field
                ),
            )
            if spec.mode == "edit":
                encode_clip(engine.render(request), request, str(out), progress)
                output_s = request.num_frames / FPS
                total = request.num_frames
            else:
                copyable = info.rotation == 0  # a copied stream would keep its sideways pixels
                total = self._extend(spec, engine, request, source, copyable, out, progress)
                output_s = spec.duration_s
        finally:
            source.unlink(missing_ok=True)
        cost = cost_ticks(
            model, resolution_of(width, height), output_s, input_video_seconds=info.duration_s
        )
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
    ) -> int:
        """Original + continuation; the original's stream is copied when it can be. Frames out."""
        field = spec.video.field
        added = int(spec.duration_s * FPS)
        request = dataclasses.replace(
            original,
            num_frames=added,
            image=last_frame(str(source), original.width, original.height, field=field),
            source_frames=None,
        )
        continuation = engine.render(request)

        def soundtrack(kept: int) -> np.ndarray | None:
            """The input's own audio under its frames, then the continuation's, cross-faded."""
            own = audio_samples(str(source), field=field)
            return join_audio(own, kept, continuation.audio(), added)

        if copyable:
            try:
                after_copy = _Extended(continuation, soundtrack, original.num_frames)
                return encode_clip(after_copy, request, str(out), progress, head=source)
            except NotCopyable:
                pass  # a foreign stream: decode it and encode it again with the continuation
        both = _Concatenated(original.source_frames, continuation, soundtrack, original.num_frames)
        whole = dataclasses.replace(request, num_frames=original.num_frames + added)
        return encode_clip(both, whole, str(out), progress)


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
