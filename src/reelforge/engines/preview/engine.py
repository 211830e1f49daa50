"""The preview engine: procedural clips from the prompt, on the CPU, with no model weights.

Per clip, the expensive things happen once: the backdrop (or each fitted pinned image) is painted
onto a canvas larger than the frame, and sprites and cards are drawn as they are first needed.
Per frame there is one cut from a canvas (two, cross-faded, between pinned frames) and a few
small pastes, so rendering costs a fraction of what the H.264 encoder spends on the same frame.

What each request becomes:

- Text-to-video: the prompt's scene (scene.py) under a camera move.
- Image-to-video and extensions: `image` is frame 0 exactly; the camera moves off it (a push in
  unless the prompt names a move) and the prompt's named subjects and weather fade in after it.
- Pinned frames (`image`, `last_frame`, keyframes): each is output exactly, with smooth motion
  between them (pins.py).
- Reference-to-video: every reference image shows as a card, directed by the prompt's `<IMAGE_n>`
  placeholders (references.py, cards.py); over pinned footage the cards fade out at the pins.
- Voices (`reference_audios` voice ids) add speech-like voices to the soundtrack (audio.py).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
from PIL import Image

from reelforge.core.enums import Mode
from reelforge.engines.base import RenderRequest
from reelforge.engines.preview.audio import procedural_audio

from .actors import Actor, cast
from .backdrop import Layout, paint_backdrop
from .camera import CameraPath, View, Viewport, plan_camera
from .cards import Cards
from .edit import apply_look, fallback_look, named_look
from .particles import Particles
from .pins import (
    Pin,
    Segment,
    blend_weight,
    bridge_paths,
    card_fade_frames,
    collect_pins,
    crossfade,
    lead_window,
    pin_layout,
    pin_viewport,
    plan_segments,
)
from .references import direct, strip_placeholders
from .scene import CameraMove, Scene, read_prompt
from .sprites import SpriteBook, blend

# Sprite sizes follow the zoom in steps of this ratio, so a clip draws a handful of sizes.
_SIZE_STEP = 1.08
# Moves for prompts that say nothing about the camera (text-to-video): always a little motion.
_DEFAULT_MOVES = (
    CameraMove(zoom=1, speed=0.6),
    CameraMove(pan_x=1, speed=0.6),
    CameraMove(pan_x=-1, speed=0.6),
    CameraMove(zoom=-1, speed=0.6),
    CameraMove(zoom=1, pan_x=1, speed=0.5),
    CameraMove(pan_y=-1, speed=0.5),
)
# Over a photo, a prompt that names no move gets a slow push into the picture.
_PHOTO_MOVE = CameraMove(zoom=1, speed=0.55)
# Pillow frees an image's memory on release by default, so each zoomed frame would map fresh
# pages and fault them in: measured 2-3x slower per frame than when Pillow keeps a few blocks.
_PILLOW_BLOCKS = 4
# Over pinned footage, subjects and particles fade in this long after a pin, over this long (and
# out again before the next pin).
_FADE_START_S = 0.25
_FADE_S = 1.0
_IDENTITY = View(0.0, 0.0, 1.0)


class PreviewEngine:
    """Deterministic procedural video: same request, same frames."""

    name = "preview"

    def render(self, request: RenderRequest) -> PreviewClip | EditClip:
        if request.width <= 0 or request.height <= 0 or request.width % 2 or request.height % 2:
            raise ValueError(
                f"frame size must be positive and even, got {request.width}x{request.height}"
            )
        if request.num_frames < 0 or request.fps <= 0:
            raise ValueError("num_frames must be >= 0 and fps > 0")
        if request.mode == Mode.EDIT:
            if request.source_frames is None:
                raise ValueError("an edit needs the source video's frames")
            return EditClip(request)
        return PreviewClip(request)


class EditClip:
    """An edit: the source's own frames with the look the prompt asks for, plus the subjects and
    weather it names ("add a red bird", "make it snow") drawn over the footage."""

    def __init__(self, request: RenderRequest) -> None:
        self.request = request
        self.scene = read_prompt(request.prompt, request.seed, request.negative_prompt)
        self.look = named_look(request.prompt)
        if self.look is None and not self.scene.named_subjects and self.scene.weather is None:
            self.look = fallback_look(request.prompt, request.seed)

    def audio(self) -> np.ndarray | None:
        r = self.request
        if not r.generate_audio:
            return None
        return procedural_audio(r.prompt, r.seed, r.duration_s, r.voices)

    def _overlays(self) -> _Overlays | None:
        scene, r = self.scene, self.request
        if not scene.named_subjects and scene.weather is None:
            return None
        w, h = r.width, r.height
        # The footage has no known geometry: assume a horizon a little above the middle.
        layout = Layout(
            w, h, w, h, 0, 0, horizon=0.45 * h, ground=0.88 * h, water=None, sun=(0.8 * w, 0.15 * h)
        )
        rng = np.random.default_rng(scene.seed)
        actors = cast(scene, layout, rng, 0.0, r.duration_s) if scene.named_subjects else []
        particles = Particles(scene.weather, w, h, scene.palette, rng) if scene.weather else None
        return _Overlays(actors, particles, layout)

    def frames(self) -> Iterator[np.ndarray]:
        overlays = self._overlays()
        fps = self.request.fps
        frames = self.request.source_frames()
        if self.look is not None:
            frames = apply_look(frames, self.look)
        for i, frame in enumerate(frames):
            if overlays is not None:
                # Draw on a copy: a source frame held for a slower input is yielded repeatedly.
                frame = frame.copy() if self.look is None else frame
                overlays.draw(frame, i / fps, _IDENTITY, 1.0)
            yield frame


class _Overlays:
    """Subjects and particles over a frame; subjects live in `layout`'s canvas coordinates."""

    def __init__(self, actors: list[Actor], particles: Particles | None, layout: Layout) -> None:
        self.actors = actors
        self.particles = particles
        self.centre_x = layout.width / 2
        self.centre_y = layout.height / 2
        self.book = SpriteBook()

    def draw(self, frame: np.ndarray, t: float, view: View, fade: float) -> None:
        if fade <= 0:
            return
        h, w = frame.shape[:2]
        size_step = round(math.log(view.scale) / math.log(_SIZE_STEP))
        zoom = _SIZE_STEP**size_step
        for actor in self.actors:
            x, y, pose, flip = actor.place(t)
            seen = view.shifted(actor.parallax)
            sx = w / 2 + (x - self.centre_x - seen.dx) * seen.scale
            sy = h / 2 + (y - self.centre_y - seen.dy) * seen.scale
            size = max(4, round(actor.height * zoom))
            if not (-size * 3 < sx < w + size * 3 and -size < sy < h + size):
                continue
            sprite = self.book.get(actor.kind, actor.colour, size, pose, flip)
            blend(frame, sprite, sx, sy, fade)  # a plain paste at full opacity
        if self.particles is not None:
            self.particles.draw(frame, t, fade)


class _Procedural:
    """The text-to-video scene over frames 0..num_frames-1: backdrop, subjects, particles."""

    def __init__(
        self,
        scene: Scene,
        move: CameraMove,
        num_frames: int,
        request: RenderRequest,
        rng: np.random.Generator,
    ) -> None:
        w, h = request.width, request.height
        self.path = plan_camera(move, num_frames, request.fps, w, h, scene.seed)
        margin_x, margin_y = self.path.margins(w, h)
        canvas, layout = paint_backdrop(scene.theme, scene.palette, w, h, margin_x, margin_y, rng)
        self.viewport = Viewport(canvas, w, h)
        mid = num_frames // 2
        actors = cast(scene, layout, rng, float(self.path.dx[mid]), request.duration_s)
        self.overlays = _Overlays(
            actors, Particles(scene.particles, w, h, scene.palette, rng), layout
        )

    def frame(self, i: int, t: float) -> np.ndarray:
        view = self.path.view(i)
        frame = self.viewport.render(view)
        self.overlays.draw(frame, t, view, 1.0)
        return frame


class PreviewClip:
    def __init__(self, request: RenderRequest) -> None:
        self.request = request
        references = request.reference_images
        self.roles = direct(request.prompt, len(references))
        self.scene: Scene = read_prompt(
            strip_placeholders(request.prompt), request.seed, request.negative_prompt
        )

    def audio(self) -> np.ndarray | None:
        r = self.request
        if not r.generate_audio:
            return None
        return procedural_audio(r.prompt, r.seed, r.duration_s, r.voices)

    def frames(self) -> Iterator[np.ndarray]:
        r = self.request
        if r.num_frames == 0:
            return
        if Image.core.get_blocks_max() < _PILLOW_BLOCKS:
            Image.core.set_blocks_max(_PILLOW_BLOCKS)
        pins = collect_pins(r)
        if not pins:
            yield from self._text_to_video()
        else:
            yield from self._pinned(pins)

    def _cards(self, turns: bool) -> Cards:
        r = self.request
        return Cards(
            r.reference_images, self.roles, r.width, r.height, r.duration_s, self.scene.seed, turns
        )

    def _text_to_video(self) -> Iterator[np.ndarray]:
        r = self.request
        scene = self.scene
        rng = np.random.default_rng(scene.seed)
        move = scene.camera if scene.camera_named else _default_move(scene)
        procedural = _Procedural(scene, move, r.num_frames, r, rng)
        cards = self._cards(turns=True)
        for i in range(r.num_frames):
            t = i / r.fps
            frame = procedural.frame(i, t)
            cards.draw(frame, t)
            yield frame

    def _pinned(self, pins: list[Pin]) -> Iterator[np.ndarray]:
        """Frames with pins: exact at each pin, leads, bridges and tails between (pins.py)."""
        r = self.request
        n, fps, w, h = r.num_frames, r.fps, r.width, r.height
        scene = self.scene
        rng = np.random.default_rng(scene.seed)
        photo_move = scene.camera if scene.camera_named else _PHOTO_MOVE
        segments = plan_segments(pins, n)
        if not segments:  # a single frame, and it is pinned
            yield pins[0].pixels.copy()
            return

        lead = segments[0] if segments[0].before is None else None
        procedural = None
        if lead is not None:
            move = scene.camera if scene.camera_named else _default_move(scene)
            procedural = _Procedural(scene, move, lead.end + 1, r, rng)
        tail = segments[-1] if segments[-1].after is None else None

        # Camera paths per segment, and how far each pin's canvas must reach to hold them.
        paths: dict[int, tuple[CameraPath, CameraPath | None]] = {}
        reach: dict[int, tuple[int, int, bool]] = {p.index: (2, 2, False) for p in pins}

        def need(pin: Pin, path: CameraPath) -> None:
            mx, my = path.margins(w, h)
            old = reach[pin.index]
            reach[pin.index] = (
                max(old[0], mx),
                max(old[1], my),
                old[2] or bool(np.any(path.scale != 1.0)),
            )

        for k, seg in enumerate(segments):
            if seg.before is None:
                window = lead_window(seg.length, fps)
                _, arrive = bridge_paths(photo_move, window, fps, w, h)
                paths[k] = (arrive, None)
                need(seg.after, arrive)
            elif seg.after is None:
                path = plan_camera(photo_move, seg.length + 1, fps, w, h, scene.seed)
                paths[k] = (path, None)
                need(seg.before, path)
            else:
                leave, arrive = bridge_paths(photo_move, seg.length, fps, w, h)
                paths[k] = (leave, arrive)
                need(seg.before, leave)
                need(seg.after, arrive)

        # Subjects the prompt names and its weather (else faint motes) play over the pictures.
        if tail is not None:
            tail_path = paths[len(segments) - 1][0]
            margin_x, margin_y, _ = reach[tail.before.index]
            layout = pin_layout(w, h, margin_x, margin_y)
            mid_dx = float(tail_path.dx[tail.length // 2])
        else:
            layout, mid_dx = pin_layout(w, h, 0, 0), 0.0
        actors: list[Actor] = []
        if scene.named_subjects:
            actors = cast(scene, layout, rng, mid_dx, r.duration_s)
        overlays = _Overlays(
            actors, Particles(scene.weather or "motes", w, h, scene.palette, rng), layout
        )
        cards = self._cards(turns=not r.keyframes)

        stages: dict[int, Viewport] = {}

        def stage(pin: Pin) -> Viewport:
            if pin.index not in stages:
                mx, my, zooms = reach[pin.index]
                stages[pin.index] = pin_viewport(pin.pixels, mx, my, zooms)
            return stages[pin.index]

        pinned = {p.index: p for p in pins}
        k = 0
        for i in range(n):
            if i in pinned:
                yield pinned[i].pixels.copy()
                continue
            while segments[k].end < i:
                k += 1
                for index in [x for x in stages if x < segments[k].start]:
                    del stages[index]  # a pin behind us: free its canvases
            seg = segments[k]
            t = i / fps
            local = i - seg.start
            first, second = paths[k]
            if seg.before is None:  # a lead: the procedural scene flows into the first pin
                assert procedural is not None and seg.after is not None
                frame = procedural.frame(i, t)
                window = first.dx.shape[0] - 1
                into = window - (seg.end - i)
                if into > 0:
                    arriving = stage(seg.after).render(first.view(into))
                    frame = crossfade(frame, arriving, blend_weight(into / window))
                gap = seg.end - i
            elif seg.after is None:  # a tail: image-to-video from the last pin
                view = first.view(local)
                frame = stage(seg.before).render(view)
                overlays.draw(frame, t, view, _overlay_fade(local / fps))
                gap = local
            else:  # a bridge from one pin to the next
                assert second is not None
                leaving = stage(seg.before).render(first.view(local))
                arriving = stage(seg.after).render(second.view(local))
                frame = crossfade(leaving, arriving, blend_weight(local / seg.length))
                gap = min(local, seg.end - i)
                overlays.draw(frame, t, _IDENTITY, _overlay_fade(gap / fps))
            cards.draw(frame, t, min(1.0, gap / card_fade_frames(_span(seg, n), fps)))
            yield frame


def _span(seg: Segment, num_frames: int) -> int:
    """Frames between the pins around a segment (leads and tails count as long ones)."""
    if seg.before is None or seg.after is None:
        return max(num_frames, 4 * seg.length)
    return seg.length


def _overlay_fade(since_pin_s: float) -> float:
    return min(max((since_pin_s - _FADE_START_S) / _FADE_S, 0.0), 1.0)


def _default_move(scene: Scene) -> CameraMove:
    return _DEFAULT_MOVES[(scene.seed >> 24) % len(_DEFAULT_MOVES)]
