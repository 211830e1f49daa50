"""Content moderation without a server: the policy table, the real text classifier on prompts
written here, and the real image detector on pictures synthesised here."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest

from reelforge.core.catalog import Catalog, CatalogError
from reelforge.core.errors import MODERATION_UNAVAILABLE
from reelforge.engines.base import RenderRequest
from reelforge.engines.preview import PreviewEngine
from reelforge.media.encode import encode_clip
from reelforge.moderation.frames import sample_indices
from reelforge.moderation.images import Detector
from reelforge.moderation.moderator import ModerationUnavailable, Moderator
from reelforge.moderation.policy import Policy
from reelforge.moderation.preflight import unavailable
from tests.helpers import synthetic_image

BLOCKING = ("BUTTOCKS_EXPOSED", "FEMALE_BREAST_EXPOSED", "FEMALE_GENITALIA_EXPOSED")


def figure(width: int = 848, height: int = 480) -> np.ndarray:
    """Two shaded, skin-toned spheres side by side over a tall skin-toned ellipse, on green.

    Nothing real, but nudenet's detector scores it 0.75-0.85 BUTTOCKS_EXPOSED (square or 16:9):
    found by a small search over such shapes, so tests can make the model fire without photos.
    """
    skin = np.array([212, 161, 139], np.float32)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    img = np.empty((height, width, 3), np.float32)
    img[:] = (13, 98, 18)
    across = (x - width / 2) / (width * 0.303)
    body = across**2 + ((y - height * 0.369) / (height * 0.761)) ** 2 < 1
    side_light = 0.7 + 0.3 * np.cos(np.clip(across, -1, 1) * 1.4)
    img[body] = skin * side_light[body][:, None]
    r = width * 0.176
    for cx in (width / 2 - 0.121 * width, width / 2 + 0.121 * width):
        dx, dy = (x - cx) / r, (y - height * 0.545) / r
        inside = dx * dx + dy * dy < 1
        nz = np.sqrt(np.clip(1 - dx * dx - dy * dy, 0, 1))
        shade = np.clip(0.55 + 0.45 * (0.6 * nz - 0.5 * dy * 0.338), 0.35, 1.05)
        img[inside] = skin * shade[inside][:, None]
    return img.astype(np.uint8)


@pytest.fixture(scope="module")
def policy() -> Policy:
    return Policy.from_catalog(Catalog.load())


@pytest.fixture(scope="module")
def moderator(policy) -> Moderator:
    return Moderator(policy)


def request(**fields) -> RenderRequest:
    base = {"mode": "text-to-video", "prompt": "", "width": 848, "height": 480}
    return RenderRequest(**{**base, "num_frames": 24, "seed": 1, **fields})


def _write(tmp_path: Path, toml: str) -> Path:
    extra = tmp_path / f"policy-{len(list(tmp_path.glob('policy-*')))}.toml"
    extra.write_text(toml)
    return extra


def custom_policy(tmp_path: Path, toml: str) -> Policy:
    return Policy.from_catalog(Catalog.load(_write(tmp_path, toml)))


# --- the policy ---------------------------------------------------------------------------


def test_the_product_moderates_by_default(policy):
    assert policy.enabled and policy.charge_blocked
    assert policy.stages == {"prompt", "input_images", "input_video", "reference_images", "output"}
    assert 0.9 <= policy.text.threshold < 1.0
    assert policy.images.labels["BUTTOCKS_EXPOSED"] == 0.5
    assert policy.images.output_frames_per_second == 1.0
    assert unavailable(policy) is None  # the [moderation] extra is installed here
    assert not Policy().enabled and not Policy.from_catalog(Catalog([])).enabled  # in code: off


def test_operator_overrides_merge_key_by_key(tmp_path):
    merged = custom_policy(
        tmp_path,
        """
        [moderation]
        charge_blocked = false
        [moderation.stages]
        output = false
        [moderation.images]
        output_frames_per_second = 2
        [moderation.images.labels]
        BUTTOCKS_EXPOSED = false
        FACE_FEMALE = 0.9
        """,
    )
    assert merged.enabled and not merged.charge_blocked
    assert not merged.runs("output") and merged.runs("prompt")
    assert "BUTTOCKS_EXPOSED" not in merged.images.labels
    assert merged.images.labels["FACE_FEMALE"] == 0.9
    assert merged.images.labels["FEMALE_BREAST_EXPOSED"] == 0.5  # kept from the built-in table
    assert merged.images.output_frames_per_second == 2.0
    off = custom_policy(tmp_path, "[moderation]\nenabled = false\n")
    assert not off.runs("prompt") and not off.needs_images
    labels = Policy.from_catalog(Catalog.load()).images.labels
    no_labels = custom_policy(
        tmp_path, "[moderation.images.labels]\n" + "".join(f"{k} = false\n" for k in labels)
    )
    assert no_labels.runs("prompt") and not no_labels.needs_images  # no detector to load


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[moderation]\nenabeld = true\n", "unknown keys ['enabeld']"),
        ("[moderation.stages]\nouptut = true\n", "unknown keys ['ouptut']"),
        ("[moderation.text]\nthreshold = 1.5\n", "between 0.0 and 1.0"),
        ("[moderation.text]\nblocked_patterns = ['(unclosed']\n", "blocked_patterns[0]"),
        ("[moderation.images.labels]\nBUTTOCKS = 0.5\n", "unknown label 'BUTTOCKS'"),
        ("[moderation.images]\noutput_frames_per_second = 0\n", "between 0.01 and 24"),
        ("[moderation]\nenabled = 'yes'\n", "expected true or false"),
    ],
)
def test_a_bad_policy_stops_start_up(tmp_path, toml, message):
    with pytest.raises(CatalogError, match=re.escape(message)):
        custom_policy(tmp_path, toml)


# --- prompts ------------------------------------------------------------------------------

# Must be blocked by the built-in policy: profanity (the classifier), sexual terms (the
# operator's term list) and minors with sexual content (the operator's patterns).
BLOCKED_PROMPTS = [
    "fuck this shit",
    "you stupid motherfucker, walking down the street",
    "a shitty little town full of assholes",
    "go fuck yourself",
    "kill all the bastards",
    "a long calm shot of a lake at dawn. Then the narrator says fuck off to the ducks",
    "a porn scene",
    "two NUDES on a beach",
    "a naked woman in the shower",
    "topless sunbathing on a yacht",
    "a sex   scene in a parked car",
    "a sexy schoolgirl",
    "teen, erotic pose",
    "ｎｕｄｅ portrait",  # full-width letters fold to "nude"
]

# Must pass: ordinary video prompts, including words the classifier finds suspicious on their
# own and words that contain a blocked term.
PASSING_PROMPTS = [
    "a red ball bouncing on a beach",
    "a dog",
    "make it black and white",
    "a quiet lake at dawn",
    "time-lapse of clouds over a city",
    "an old man reading a newspaper",
    "the camera pans across a busy market",
    "kids playing football in the park",
    "a teenager skateboarding at sunset",
    "an essex countryside",  # contains "sex"
    "a classic car in the sunshine",  # contains "ass"
    "a shooting star over the mountains",
    "<IMAGE_1> meets <IMAGE_2> in a garden",
    "",
]


@pytest.mark.parametrize("prompt", BLOCKED_PROMPTS)
def test_prompts_that_must_be_blocked(moderator, prompt):
    verdict = moderator.check_inputs(request(prompt=prompt))
    assert verdict is not None and verdict.stage == "prompt", prompt


@pytest.mark.parametrize("prompt", PASSING_PROMPTS)
def test_prompts_that_must_pass(moderator, prompt):
    assert moderator.check_inputs(request(prompt=prompt)) is None


def test_the_classifier_really_scores(moderator):
    text = moderator.text
    assert text.score("you stupid motherfucker") > 0.99
    assert text.score("a horse galloping through a field") < 0.1
    # one profane sentence in a long prompt is scored on its own, not diluted
    long = "a calm lake with mountains and pine trees under a pale sky. " * 10 + "fuck off."
    assert text.score(long) > 0.99


def test_operator_terms_and_patterns(tmp_path):
    policy = custom_policy(
        tmp_path,
        r"""
        [moderation.text]
        threshold = 1.0
        blocked_terms = ["zorblax", "acme rocket"]
        blocked_patterns = ['\bproject\s+\d{3}\b']
        """,
    )
    m = Moderator(policy)
    assert m.check_inputs(request(prompt="the Zorblaxes are coming")).reason.startswith(
        "blocked term"
    )
    assert m.check_inputs(request(prompt="an ACME   Rocket launch")) is not None
    assert m.check_inputs(request(prompt="inside project 451")).reason == (
        "matches blocked_patterns[0]"
    )
    assert m.check_inputs(request(prompt="an acme of rockets; project 45")) is None
    # threshold 1.0: the classifier is off, so profanity alone passes this policy
    assert m.check_inputs(request(prompt="fuck this shit")) is None


# --- pictures -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def detector(moderator) -> Detector:
    return moderator.detector()


def test_the_detector_fires_on_a_synthesised_figure(detector):
    for width, height in ((848, 480), (480, 480), (1280, 720)):
        found = detector.detections(figure(width, height))
        assert next(iter(found)) == "BUTTOCKS_EXPOSED", found  # its best label
        assert found["BUTTOCKS_EXPOSED"] > 0.7
    # the same figure, cut into pieces, no longer reads as one
    pieces = figure(848, 480).reshape(480, 8, 106, 3).transpose(1, 0, 2, 3).reshape(480, 848, 3)
    assert detector.scores([pieces]).max() < 0.3


def test_the_detector_stays_quiet_on_ordinary_pictures(detector):
    pictures = [
        synthetic_image(848, 480, seed=1),
        np.full((480, 848, 3), (224, 172, 140), np.uint8),  # a plain skin-toned picture
        np.zeros((64, 64, 3), np.uint8),
    ]
    scores = detector.scores(pictures)
    columns = [detector.labels.index(label) for label in BLOCKING]
    assert scores[:, columns].max() < 0.1


def test_policy_thresholds_trip_on_the_detector_scores(tmp_path, moderator):
    image = figure()
    verdict = moderator.check_inputs(request(mode="image-to-video", image=image))
    assert verdict.stage == "input_images"
    assert verdict.reason.startswith("image: BUTTOCKS_EXPOSED 0.")
    # the same picture as a reference image, as a keyframe, as a last frame
    assert moderator.check_inputs(request(reference_images=(image,))).stage == "reference_images"
    assert moderator.check_inputs(request(keyframes=((12, image),))).stage == "input_images"
    assert moderator.check_inputs(request(last_frame=image)).reason.startswith("last_frame:")
    # a stricter threshold than the picture's score, or that label off: it passes
    strict = custom_policy(tmp_path, "[moderation.images.labels]\nBUTTOCKS_EXPOSED = 0.95\n")
    assert Moderator(strict).check_inputs(request(image=image)) is None
    # a label set chosen here: the figure is not a face, whatever the threshold
    labels = Policy.from_catalog(Catalog.load()).images.labels
    faces = custom_policy(
        tmp_path,
        "[moderation.images.labels]\n"
        + "".join(f"{label} = false\n" for label in labels)
        + "FACE_FEMALE = 0.05\nFACE_MALE = 0.05\n",
    )
    assert Moderator(faces).check_inputs(request(image=image)) is None
    # stage off: not looked at
    no_refs = custom_policy(tmp_path, "[moderation.stages]\nreference_images = false\n")
    assert Moderator(no_refs).check_inputs(request(reference_images=(image,))) is None


def test_preview_engine_output_does_not_trip_the_defaults(moderator, detector):
    """Every frame of 2 s clips of assorted prompts (people, skin tones, beaches) scores far
    below the default thresholds."""
    engine = PreviewEngine()
    prompts = [
        "a woman walking in the rain",
        "portrait of a person smiling, zoom in",
        "skin texture close up",
        "a beige desert with sand dunes",
        "a peach and an apple on a table",
        "two people on a beach at sunset",
    ]
    frames = []
    for prompt in prompts:
        clip = engine.render(request(prompt=prompt, num_frames=48))
        frames += list(clip.frames())[::6]
    scores = detector.scores(frames)
    labels = moderator.policy.images.labels
    for label, threshold in labels.items():
        assert scores[:, detector.labels.index(label)].max() < min(0.2, threshold / 2), label


def test_output_frames_are_sampled_and_checked(tmp_path, moderator):
    """The output stage keeps one frame per second as the encoder takes them, and the real
    detector decides on those frames."""
    assert sample_indices(24, 1.0) == [12]
    assert sample_indices(240, 1.0) == [12 + 24 * k for k in range(10)]
    assert sample_indices(48, 0.5) == [24]
    assert sample_indices(30, 1.0) == [12, 27]  # the last part-second too
    assert sample_indices(10, 1.0) == [5]  # a clip under a second still gets one
    assert sample_indices(24, 4.0) == [3, 9, 15, 21]

    image = figure()
    r = request(mode="image-to-video", image=image, prompt="slow zoom in", num_frames=48)
    clip = moderator.watch(PreviewEngine().render(r), r.num_frames)
    encode_clip(clip, r, str(tmp_path / "out.mp4"))
    assert clip.indices == [12, 36]
    verdict = moderator.verdict(clip)
    assert verdict.stage == "output" and "BUTTOCKS_EXPOSED" in verdict.reason

    plain = request(prompt="a red ball bouncing on a beach", num_frames=48)
    clip = moderator.watch(PreviewEngine().render(plain), plain.num_frames)
    encode_clip(clip, plain, str(tmp_path / "plain.mp4"))
    assert clip.indices == [12, 36] and moderator.verdict(clip) is None


def test_input_video_frames_are_checked(tmp_path, moderator):
    r = request(mode="image-to-video", image=figure(), prompt="", num_frames=72)
    path = tmp_path / "input.mp4"
    encode_clip(PreviewEngine().render(r), r, str(path))
    verdict = moderator.check_video("input_video", str(path), 848, 480, 3.0, "video.url")
    assert verdict.stage == "input_video" and verdict.reason.startswith("video.url at 0.0 s")


# --- failing closed -----------------------------------------------------------------------


def test_a_broken_model_fails_the_check_not_open(tmp_path):
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not an onnx model")
    policy = custom_policy(tmp_path, f"[moderation.images]\nmodel = '{broken}'\n")
    assert unavailable(policy) is None  # the file is there; it only fails when loaded
    m = Moderator(policy)
    with pytest.raises(ModerationUnavailable) as caught:
        m.check_inputs(request(prompt="a red ball", image=synthetic_image(64, 64)))
    assert caught.value.code == MODERATION_UNAVAILABLE == "moderation_unavailable"
    assert "could not check the input images" in caught.value.message
    # the prompt stage alone needs no detector
    assert m.check_inputs(request(prompt="a red ball")) is None

    missing = custom_policy(tmp_path, f"[moderation.images]\nmodel = '{tmp_path / 'no.onnx'}'\n")
    problem = unavailable(missing)
    assert problem is not None and "no.onnx does not exist" in problem
    assert unavailable(custom_policy(tmp_path, "[moderation.stages]\noutput = false\n")) is None


def test_the_readme_policy_example_loads(tmp_path):
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    (example,) = [b for b in re.findall(r"```toml\n(.*?)```", readme, flags=re.S) if "[moder" in b]
    policy = custom_policy(tmp_path, example)
    assert policy.enabled and not policy.runs("output") and policy.runs("prompt")
    assert policy.text.blocked_terms == ("zorblax",)
    assert policy.images.labels["FEMALE_BREAST_EXPOSED"] == 0.6
    assert Moderator(policy).check_inputs(request(prompt="inside project 7")) is not None


def test_an_extension_checks_the_original_it_copies(tmp_path):
    """With the input-video stage off, an extension's copied original (never re-encoded, so
    never seen by `watch`) is sampled as output, and the render is withheld: no file left."""
    from reelforge.core.spec import EXTENSION, InputRef, VideoRequest, build_spec
    from reelforge.jobs.render import InputLoader, Renderer
    from reelforge.net.policy import FetchPolicy
    from reelforge.storage.local import LocalStorage

    # 2 s of the figure, then 1 s of something else: the continuation starts from the latter
    neutral = synthetic_image(848, 480, seed=3)
    r = request(mode="image-to-video", image=neutral, num_frames=72)
    frames = [figure()] * 48 + list(PreviewEngine().render(r).frames())[:24]

    class Frames:
        def frames(self):
            return iter(frames)

        def audio(self):
            return None

    source = tmp_path / "source.mp4"
    encode_clip(Frames(), dataclasses.replace(r, generate_audio=False), str(source))
    storage = LocalStorage(tmp_path / "files")
    storage.put_file("inputs/job/0", source)
    catalog = Catalog.load(
        _write(tmp_path, "[moderation]\ncharge_blocked = false\n[moderation.stages]\n"
               "input_video = false\n")
    )  # fmt: skip
    renderer = Renderer(
        catalog,
        {"preview": PreviewEngine()},
        InputLoader(storage, FetchPolicy()),
        tmp_path / "tmp",
        Moderator(Policy.from_catalog(catalog)),
    )
    video = InputRef(blob="inputs/job/0", field="video.url")
    keep_going = VideoRequest(model="grok-imagine-video", prompt="keep going", video=video)
    spec = build_spec(EXTENSION, keep_going, catalog)
    rendered = renderer.render(spec, "out.mp4", lambda done, total: None)
    assert rendered.path is None and rendered.cost_in_usd_ticks == 0
    assert rendered.withheld.stage == "output"
    assert rendered.withheld.reason.startswith("video.url at 0.0 s: BUTTOCKS_EXPOSED")
    assert list((tmp_path / "tmp").iterdir()) == []  # neither the output nor the input copy
