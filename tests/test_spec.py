"""Validation and pricing rules, checked without a server (the e2e tests check the wire)."""

from __future__ import annotations

import pytest

from reelforge.core.catalog import Catalog, CatalogError
from reelforge.core.errors import ApiError
from reelforge.core.pricing import cost_ticks
from reelforge.core.sizes import capped_size, frame_size, nearest_aspect_ratio, resolution_of
from reelforge.core.spec import (
    EDIT,
    EXTENSION,
    GENERATION,
    InputRef,
    JobSpec,
    Keyframe,
    VideoRequest,
    build_spec,
    check_input_video,
)

CATALOG = Catalog.load()
IMG = InputRef(url="https://example.com/a.png", field="image.url")
VID = InputRef(url="https://example.com/a.mp4", field="video.url")


def spec(kind=GENERATION, **kw) -> JobSpec:
    kw.setdefault("model", "grok-imagine-video")
    kw.setdefault("prompt", "a cat")
    return build_spec(kind, VideoRequest(**kw), CATALOG)


def refused(kind=GENERATION, **kw) -> ApiError:
    with pytest.raises(ApiError) as info:
        spec(kind, **kw)
    return info.value


def test_defaults_follow_the_contract():
    s = spec()
    assert (s.mode, s.duration_s, s.aspect_ratio, s.resolution, s.generate_audio, s.seed) == (
        "text-to-video",
        8,
        "16:9",
        "480p",
        True,
        0,
    )
    assert spec(EXTENSION, video=VID).duration_s == 6
    assert spec(image=IMG).aspect_ratio is None  # follows the image
    assert spec(image=IMG, prompt="").mode == "image-to-video"  # prompt optional with an image


@pytest.mark.parametrize("raw,expected", [(1, 1), (15, 15), ("8", 8), (" 3 ", 3), (5.0, 5)])
def test_duration_forms(raw, expected):
    assert spec(duration=raw).duration_s == expected


@pytest.mark.parametrize("raw", [0, 16, "abc", 2.5, True, -1])
def test_duration_refused_names_field_and_range(raw):
    err = refused(duration=raw)
    assert err.status == 400 and err.field == "duration"


def test_mode_limits_come_from_the_catalog():
    assert "between 1 and 10" in refused(duration=11, reference_images=[IMG]).message
    assert "between 2 and 10" in refused(EXTENSION, video=VID, duration=1).message
    assert refused(EXTENSION, video=VID, duration=11).field == "duration"


def test_unknown_model_is_404_listing_models():
    err = refused(model="nope")
    assert err.status == 404 and "grok-imagine-video" in err.message


def test_aliases_resolve_to_the_canonical_id():
    assert spec(model="grok-imagine-video-1.5-preview").model == "grok-imagine-video-1.5"


@pytest.mark.parametrize(
    "field,value,allowed",
    [
        ("aspect_ratio", "5:4", "16:9"),
        ("resolution", "1080p", "720p"),
        ("resolution", "4k", "480p"),
    ],
)
def test_choices_list_allowed_values(field, value, allowed):
    err = refused(**{field: value})
    assert err.field == field and allowed in err.message


def test_1080p_only_on_15_and_not_for_reference_to_video():
    assert spec(model="grok-imagine-video-1.5", resolution="1080p").resolution == "1080p"
    assert (
        refused(model="grok-imagine-video-1.5", resolution="1080p", reference_images=[IMG]).field
        == "resolution"
    )


def test_prompt_rules():
    assert refused(prompt="").field == "prompt"
    assert refused(prompt="   ", reference_images=[IMG]).field == "prompt"
    assert refused(EDIT, prompt="", video=VID).field == "prompt"
    assert refused(prompt="x" * 9000).field == "prompt"


def test_reference_images():
    assert spec(reference_images=[IMG] * 7).mode == "reference-to-video"
    assert "at most 7" in refused(reference_images=[IMG] * 8).message
    assert refused(reference_images=[IMG], image=IMG).field == "image"  # base model: no pinning
    pinned = spec(model="grok-imagine-video-1.5", reference_images=[IMG], image=IMG)
    assert pinned.mode == "reference-to-video" and pinned.image == IMG


def test_edit_and_extension_refuse_output_shape_fields():
    for name, value in (("duration", 5), ("aspect_ratio", "1:1"), ("resolution", "720p")):
        assert refused(EDIT, video=VID, **{name: value}).field == name
    for name, value in (("aspect_ratio", "1:1"), ("resolution", "720p")):
        assert refused(EXTENSION, video=VID, **{name: value}).field == name
    assert refused(EDIT).field == "video"


def test_frame_pinning_only_where_the_catalog_allows():
    assert refused(last_frame=IMG).field == "last_frame"
    assert refused(keyframes=[Keyframe(IMG, 1.0)]).field == "keyframes"
    s = spec(
        model="grok-imagine-video-1.5",
        image=IMG,
        last_frame=IMG,
        duration=4,
        keyframes=[Keyframe(IMG, 2.0), Keyframe(IMG, 1.0)],
    )
    assert [k.timestamp_s for k in s.keyframes] == [1.0, 2.0]


@pytest.mark.parametrize("times", [[0.0], [4.0], [5.0], [1.0, 1.2], [0.5] * 2, [1, 1.5, 2, 2.5, 3]])
def test_keyframe_rules(times):
    with pytest.raises(ApiError):
        spec(
            model="grok-imagine-video-1.5", duration=4, keyframes=[Keyframe(IMG, t) for t in times]
        )


def test_voices():
    s = spec(model="grok-imagine-video-1.5", voices=["Ara"])
    assert s.voices == ["ara"] and s.mode == "reference-to-video"
    err = refused(model="grok-imagine-video-1.5", voices=["zed"])
    assert "eve" in err.message and err.field == "reference_audios[0].voice_id"
    assert refused(voices=["ara"]).field == "reference_audios"


def test_seed_range():
    assert spec(seed=42).seed == 42
    assert refused(seed=-1).field == "seed"


def test_spec_round_trips_through_json_dict():
    s = spec(
        model="grok-imagine-video-1.5",
        image=IMG,
        last_frame=IMG,
        duration=4,
        reference_images=[IMG],
        keyframes=[Keyframe(IMG, 1.0)],
    )
    assert JobSpec.from_dict(s.to_dict()) == s


def test_input_video_limits():
    model = CATALOG.get("grok-imagine-video")
    assert check_input_video(model, "edit", 8.7) is None
    assert "0-8.7 s" in check_input_video(model, "edit", 9.0)
    assert check_input_video(model, "extension", 1.5) is not None
    assert check_input_video(model, "extension", 15.0) is None


def test_pricing_in_ticks():
    base = CATALOG.get("grok-imagine-video")
    v15 = CATALOG.get("grok-imagine-video-1.5")
    assert cost_ticks(base, "720p", 10) == 7_000_000_000  # 10 s x $0.07
    assert cost_ticks(base, "480p", 1) == 500_000_000  # $0.05, as observed from xAI
    assert cost_ticks(base, "480p", 6, input_video_seconds=6) == 3_600_000_000  # $0.36 edit
    assert cost_ticks(base, "480p", 6, input_images=1) == 3_020_000_000  # $0.302 I2V
    assert cost_ticks(v15, "720p", 10, input_images=1) == 14_100_000_000  # $1.41


def test_sizes():
    assert frame_size("16:9", "480p") == (848, 480)
    assert frame_size("3:2", "720p") == (1080, 720)
    assert nearest_aspect_ratio(1000, 1000) == "1:1"
    assert nearest_aspect_ratio(1920, 1280) == "3:2"
    assert nearest_aspect_ratio(400, 700) == "9:16"
    assert capped_size(1920, 1080, "720p") == (1280, 720)
    assert capped_size(320, 180, "720p") == (320, 180)
    assert capped_size(1080, 1920, "720p") == (720, 1280)
    assert resolution_of(1280, 720) == "720p" and resolution_of(320, 180) == "480p"


def test_catalog_override_merges_and_validates(tmp_path):
    extra = tmp_path / "c.toml"
    extra.write_text(
        '[models."grok-imagine-video".prices.per_second]\n"480p" = 0.5\n'
        '[models."mine"]\nengine = "preview"\nmodes = ["text-to-video"]\n'
        'aliases = ["m"]\n[models."mine".durations]\ntext-to-video = [1, 3]\n'
        '[models."mine".prices]\nper_second = {"480p" = 0.01}\n'
    )
    catalog = Catalog.load(extra)
    assert cost_ticks(catalog.get("grok-imagine-video"), "480p", 1) == 5_000_000_000
    assert catalog.get("grok-imagine-video").max_reference_images == 7  # untouched keys survive
    assert catalog.get("m").id == "mine"
    bad = tmp_path / "bad.toml"
    bad.write_text('[models."x"]\nengine = "preview"\nmodes = ["dance"]\n[models."x".prices]\n')
    with pytest.raises(CatalogError, match="dance"):
        Catalog.load(bad)
