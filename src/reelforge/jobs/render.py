"""Turn a job's spec into a finished MP4: fetch inputs, size the output, run the engine, encode.

Everything a worker does to one job, minus the claim bookkeeping (worker.py) and storage.
"""

from __future__ import annotations

import collections
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
from reelforge.engines.base import FPS, Clip, Engine, RenderRequest
from reelforge.media.decode import video_frames
from reelforge.media.encode import encode_clip
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
        image = self.loader.image(spec.image) if spec.image else None
        references = tuple(self.loader.image(r) for r in spec.reference_images)
        aspect = spec.aspect_ratio
        if aspect is None:  # image-to-video without aspect_ratio: follow the image
            aspect = nearest_aspect_ratio(image.shape[1], image.shape[0], list(model.aspect_ratios))
        width, height = frame_size(aspect, spec.resolution)
        request = RenderRequest(
            mode=spec.mode,
            prompt=spec.prompt,
            width=width,
            height=height,
            num_frames=int(spec.duration_s * FPS),
            seed=spec.seed,
            generate_audio=spec.generate_audio,
            image=image,
            reference_images=references,
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
            kept = max(1, round(info.duration_s * FPS))
            added = int(spec.duration_s * FPS) if spec.mode == "extension" else 0

            def original() -> Iterator[np.ndarray]:
                return video_frames(str(source), width, height, FPS, kept)

            last = _last(original()) if added else None
            request = RenderRequest(
                mode=spec.mode,
                prompt=spec.prompt,
                width=width,
                height=height,
                num_frames=kept if spec.mode == "edit" else added,
                seed=spec.seed,
                generate_audio=spec.generate_audio,
                image=last,
                source_frames=original,
            )
            clip = engine.render(request)
            if spec.mode == "extension":
                # The track must span original + continuation, so render it for the whole length.
                request = dataclasses.replace(request, num_frames=kept + added)
                clip = _Concatenated(original, clip, engine.render(request).audio())
            encode_clip(clip, request, str(out), progress)
        finally:
            source.unlink(missing_ok=True)
        resolution = resolution_of(width, height)
        output_s = (added if spec.mode == "extension" else kept) / FPS
        cost = cost_ticks(model, resolution, output_s, input_video_seconds=info.duration_s)
        return Rendered(out, request.num_frames / FPS, width, height, cost)


def _last(frames: Iterator[np.ndarray]) -> np.ndarray:
    """The final frame, decoding (not keeping) the ones before it."""
    return collections.deque(frames, maxlen=1)[0]


class _Concatenated:
    """The original clip followed by the engine's continuation (extension)."""

    def __init__(
        self,
        original: Callable[[], Iterator[np.ndarray]],
        continuation: Clip,
        audio: np.ndarray | None,
    ):
        self._original = original
        self._continuation = continuation
        self._audio = audio

    def frames(self) -> Iterator[np.ndarray]:
        return itertools.chain(self._original(), self._continuation.frames())

    def audio(self) -> np.ndarray | None:
        return self._audio
