"""The preview engine: procedural clips from the prompt, on the CPU, with no model weights.

Per clip, the expensive things happen once: the backdrop (or the fitted input image) is painted
onto a canvas larger than the frame, and sprites are drawn as they are first needed. Per frame
there is one cut from the canvas and a few small pastes, so rendering costs a fraction of what
the H.264 encoder spends on the same frame.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
from PIL import Image

from reelforge.engines.base import RenderRequest
from reelforge.media.audio import procedural_audio
from reelforge.media.fit import fit_image

from .actors import Actor, cast
from .backdrop import Layout, paint_backdrop
from .camera import CameraPath, Viewport, plan_camera
from .cards import Cards
from .edit import apply_look, look_for
from .particles import Particles
from .scene import CameraMove, Scene, read_prompt
from .sprites import SpriteBook, blend, paste

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
# Pillow frees an image's memory on release by default, so each zoomed frame would map fresh
# pages and fault them in: measured 2-3x slower per frame than when Pillow keeps a few blocks.
_PILLOW_BLOCKS = 4
# Image-to-video: subjects and particles fade in after the opening frame.
_FADE_START_S = 0.25
_FADE_S = 1.0


class PreviewEngine:
    """Deterministic procedural video: same request, same frames."""

    name = "preview"

    def render(self, request: RenderRequest) -> PreviewClip:
        if request.width <= 0 or request.height <= 0 or request.width % 2 or request.height % 2:
            raise ValueError(
                f"frame size must be positive and even, got {request.width}x{request.height}"
            )
        if request.num_frames < 0 or request.fps <= 0:
            raise ValueError("num_frames must be >= 0 and fps > 0")
        if request.mode == "edit":
            if request.source_frames is None:
                raise ValueError("an edit needs the source video's frames")
            return EditClip(request)
        return PreviewClip(request)


class EditClip:
    """An edit: the source's own frames with the look the prompt asks for."""

    def __init__(self, request: RenderRequest) -> None:
        self.request = request
        self.look = look_for(request.prompt, request.seed)

    def audio(self) -> np.ndarray | None:
        r = self.request
        return procedural_audio(r.prompt, r.seed, r.duration_s) if r.generate_audio else None

    def frames(self) -> Iterator[np.ndarray]:
        return apply_look(self.request.source_frames(), self.look)


class PreviewClip:
    def __init__(self, request: RenderRequest) -> None:
        self.request = request
        self.scene: Scene = read_prompt(request.prompt, request.seed)

    def audio(self) -> np.ndarray | None:
        r = self.request
        if not r.generate_audio:
            return None
        return procedural_audio(r.prompt, r.seed, r.duration_s)

    def frames(self) -> Iterator[np.ndarray]:
        r = self.request
        if r.num_frames == 0:
            return
        w, h, fps = r.width, r.height, r.fps
        if Image.core.get_blocks_max() < _PILLOW_BLOCKS:
            Image.core.set_blocks_max(_PILLOW_BLOCKS)
        scene = self.scene
        rng = np.random.default_rng(scene.seed)
        from_image = r.image is not None
        move = self._camera_move(from_image)
        path = plan_camera(move, r.num_frames, fps, w, h, scene.seed)
        margin_x, margin_y = path.margins(w, h)
        if from_image:
            viewport, layout = self._image_stage(path, margin_x, margin_y)
        else:
            canvas, layout = paint_backdrop(
                scene.theme, scene.palette, w, h, margin_x, margin_y, rng
            )
            viewport = Viewport(canvas, w, h)
        # Image-to-video adds only what the prompt names; the picture is the scene.
        actors: list[Actor] = []
        if not from_image or scene.named_subjects:
            mid = r.num_frames // 2
            actors = cast(scene, layout, rng, float(path.dx[mid]), r.duration_s)
        # Over a photo, only weather the prompt names; otherwise faint motes keep it alive.
        kind = (scene.weather or "motes") if from_image else scene.particles
        particles = Particles(kind, w, h, scene.palette, rng)
        cards = Cards(r.reference_images, w, h, rng)
        book = SpriteBook()

        for i in range(r.num_frames):
            t = i / fps
            view = path.view(i)
            frame = viewport.render(view)
            fade = 1.0
            if from_image:
                fade = min(max((t - _FADE_START_S) / _FADE_S, 0.0), 1.0)
            if fade > 0:
                size_step = round(math.log(view.scale) / math.log(_SIZE_STEP))
                zoom = _SIZE_STEP**size_step
                for actor in actors:
                    x, y, pose, flip = actor.place(t)
                    sx, sy = viewport.to_screen(view.shifted(actor.parallax), x, y)
                    size = max(4, round(actor.height * zoom))
                    if not (-size * 3 < sx < w + size * 3 and -size < sy < h + size):
                        continue
                    sprite = book.get(actor.kind, actor.colour, size, pose, flip)
                    if fade >= 1.0:
                        paste(frame, sprite, sx, sy)
                    else:
                        blend(frame, sprite, sx, sy, fade)
                particles.draw(frame, t, fade)
            cards.draw(frame, t)
            yield frame

    def _camera_move(self, from_image: bool) -> CameraMove:
        scene = self.scene
        if scene.camera_named:
            return scene.camera
        if from_image:
            return CameraMove(zoom=1, speed=0.55)  # a slow push into the picture
        return _DEFAULT_MOVES[(scene.seed >> 24) % len(_DEFAULT_MOVES)]

    def _image_stage(
        self, path: CameraPath, margin_x: int, margin_y: int
    ) -> tuple[Viewport, Layout]:
        """The input image, fitted to the frame and extended by mirroring for the camera."""
        r = self.request
        assert r.image is not None
        w, h = r.width, r.height
        fitted = fit_image(r.image, w, h)
        # Frame 0 is the identity view, a plain slice of this centre: exactly the fitted image.
        canvas = np.pad(
            fitted, ((margin_y, margin_y), (margin_x, margin_x), (0, 0)), mode="symmetric"
        )
        fine = None
        if np.any(path.scale != 1.0):
            # Zooms sample a 2x canvas so the photo stays smooth as it grows.
            fine = np.array(
                Image.fromarray(canvas).resize(
                    (canvas.shape[1] * 2, canvas.shape[0] * 2), Image.Resampling.BICUBIC
                )
            )
        layout = Layout(
            width=canvas.shape[1],
            height=canvas.shape[0],
            frame_w=w,
            frame_h=h,
            margin_x=margin_x,
            margin_y=margin_y,
            horizon=margin_y + 0.5 * h,
            ground=margin_y + 0.92 * h,
            water=None,
            sun=(margin_x + 0.75 * w, margin_y + 0.2 * h),
        )
        return Viewport(canvas, w, h, fine), layout
