"""The one object the renderer talks to: runs each stage the policy turns on, and turns any
failure to moderate into a failed job (fail closed), never into an unchecked video."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from reelforge.core import metrics
from reelforge.core.errors import MODERATION_UNAVAILABLE, InputError, JobError
from reelforge.engines.base import Clip, RenderRequest
from reelforge.moderation.frames import Watched, video_samples
from reelforge.moderation.images import Detector, first_over
from reelforge.moderation.policy import Policy
from reelforge.moderation.text import TextModerator

log = logging.getLogger("reelforge.moderation")

T = TypeVar("T")


@dataclass(frozen=True)
class Verdict:
    """Why a request's video is withheld. Kept with the job for operators; clients only see
    `respect_moderation: false`."""

    stage: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"stage": self.stage, "reason": self.reason}


class ModerationUnavailable(JobError):
    def __init__(self, message: str):
        super().__init__(MODERATION_UNAVAILABLE, message)


class Moderator:
    def __init__(self, policy: Policy):
        self.policy = policy
        self.text = TextModerator(policy.text)
        self._detector: Detector | None = None
        self._lock = threading.Lock()
        # Scores output frames while the encoder works; its thread starts on first use.
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="reelforge-moderation")

    def warm_up(self) -> None:
        """Load the models this policy needs on a background thread, so a new worker's first
        job does not wait ~1 s for them. A failure here is only logged: the job that needs the
        model tries again, and fails closed if it must."""

        def load() -> None:
            try:
                if self.policy.needs_text:
                    self.text.load()
                if self.policy.needs_images:
                    self.detector()
            except Exception:
                log.exception("moderation models could not be loaded")

        if self.policy.enabled:
            threading.Thread(target=load, name="reelforge-moderation-load", daemon=True).start()

    def detector(self) -> Detector:
        with self._lock:
            if self._detector is None:
                images = self.policy.images
                self._detector = Detector(images.model or None, images.threads)
            return self._detector

    def _guarded(self, what: str, work: Callable[[], T]) -> T:
        """Run one check; any failure fails the job with a code of its own."""
        try:
            return work()
        except (JobError, InputError):
            raise  # the request's own fault (a broken input video), not moderation's
        except Exception as exc:
            log.exception("moderation failed while checking %s", what)
            raise ModerationUnavailable(
                f"content moderation could not check the {what} "
                f"({type(exc).__name__}: {exc}); the request was not processed"
            ) from None

    # --- before rendering -----------------------------------------------------------------

    def check_inputs(self, request: RenderRequest) -> Verdict | None:
        """The prompt, then the pictures the request carries (pinned frames, references)."""
        if self.policy.runs("prompt"):
            reason = self._guarded("prompt", lambda: self.text.check(request.prompt))
            _counted("prompt", bool(reason))
            if reason:
                return Verdict("prompt", reason)
        pinned = [("image", request.image), ("last_frame", request.last_frame)]
        pinned += [(f"keyframes[{n}]", img) for n, (_, img) in enumerate(request.keyframes)]
        references = [(f"reference_images[{n}]", r) for n, r in enumerate(request.reference_images)]
        for stage, named in (("input_images", pinned), ("reference_images", references)):
            named = [(name, img) for name, img in named if img is not None]
            if named and self.policy.runs(stage):
                if verdict := self._pictures(stage, [n for n, _ in named], [i for _, i in named]):
                    return verdict
        return None

    def check_video(
        self, stage: str, path: str, width: int, height: int, duration_s: float, field: str
    ) -> Verdict | None:
        """A video's frames at the stage's rate: an input (stage "input_video"), or an
        extension's copied original (stage "output")."""
        if not self.policy.runs(stage):
            return None
        images = self.policy.images
        rate = (
            images.output_frames_per_second
            if stage == "output"
            else images.input_video_frames_per_second
        )

        def scores() -> np.ndarray:  # each sample is scored while the next one decodes
            samples = video_samples(path, width, height, duration_s, rate, field)
            futures = [self._pool.submit(self._score, sample) for sample in samples]
            return np.array([f.result() for f in futures])

        return self._decide(stage, lambda n: f"{field} at {n / rate:.1f} s", scores)

    # --- after rendering ------------------------------------------------------------------

    def watch(self, clip: Clip, num_frames: int) -> Clip:
        """The clip to encode: with the output stage on, its sampled frames are scored while
        it encodes, for `verdict`."""
        if not self.policy.runs("output"):
            return clip
        rate = self.policy.images.output_frames_per_second
        return Watched(clip, num_frames, rate, lambda small: self._pool.submit(self._score, small))

    def _score(self, picture: np.ndarray) -> np.ndarray:
        return self.detector().scores([picture])[0]

    def verdict(self, clip: Clip) -> Verdict | None:
        """The output stage's decision on a clip from `watch`, once it has been encoded."""
        if not isinstance(clip, Watched):
            return None
        return self._decide(
            "output",
            lambda n: f"output frame {clip.indices[n]}",
            lambda: np.array([f.result() for f in clip.pending]),
        )

    def _pictures(
        self, stage: str, names: Sequence[str], pictures: Sequence[np.ndarray]
    ) -> Verdict | None:
        return self._decide(stage, names.__getitem__, lambda: self.detector().scores(pictures))

    def _decide(
        self, stage: str, name: Callable[[int], str], scores: Callable[[], np.ndarray]
    ) -> Verdict | None:
        """`scores()` (pictures x the detector's labels) against the policy's thresholds;
        `name(n)` says which picture the n-th is."""
        thresholds = self.policy.images.labels
        hit = self._guarded(
            stage.replace("_", " "),
            lambda: first_over(self.detector().labels, thresholds, scores()),
        )
        _counted(stage, hit is not None)
        if hit is None:
            return None
        n, label, score = hit
        return Verdict(stage, f"{name(n)}: {label} {score:.2f} >= {thresholds[label]}")


def _counted(stage: str, blocked: bool) -> None:
    metrics.moderation_checks.labels(stage).inc()
    if blocked:
        metrics.moderation_blocks.labels(stage).inc()
